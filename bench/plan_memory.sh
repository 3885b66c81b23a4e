#!/usr/bin/env bash
# plan_memory.sh: rank 0's peak memory when planning N datums (N empty
# files in one folder, glob /*).  `datumrun plan` runs the same planning
# code as rank 0 (manifest open, glob walk, content hashing through the
# stat cache, datum IDs and skip decisions), so its peak RSS
# (`/usr/bin/time -f %M`) is rank 0's planning peak.  Measured twice:
#   cold: no manifest yet (every file is opened and hashed);
#   warm: after a run recorded every datum (the manifest's N records and N
#         stat cache entries are in memory too: what a rerun's rank 0 holds).
# Then a rerun that skips every datum reports rank 0's own peak RSS in its
# job.log (rank0_maxrss_kib): planning plus dispatch plus the checkpoint
# that rewrites the manifest's N records.
# The warm case needs one run over all N datums (`true` each, in chunks of
# 200 to keep dispatch cheap), which takes a while at N = 1,000,000; pass
# WARM=0 to skip it.  Goal: < 1 GiB.  The tree is deleted afterwards.
#   bench/plan_memory.sh [BUILD_DIR] [N]
set -euo pipefail
BUILD=${1:-build}
N=${2:-1000000}
WARM=${WARM:-1}
DR=$(cd "$BUILD" && pwd)/datumrun
W=$(mktemp -d /tmp/datumrun-bench.XXXXXX)
trap 'rm -rf "$W"' EXIT
mkdir -p "$W/repo"
t0=$(date +%s.%N)
seq -f "d%07g" 1 "$N" | (cd "$W/repo" && xargs touch)
echo "created $N empty files in $(echo "$(date +%s.%N) - $t0" | bc)s"
cat > "$W/mem.json" <<JSON
{"pipeline": {"name": "mem"}, "transform": {"cmd": ["true"]},
 "input": {"pfs": {"name": "in", "repo": "repo", "glob": "/*"}},
 "parallelism_spec": {"constant": 2}, "chunk_spec": {"number": 200}}
JSON
measure() { # measure LABEL: plan once, print peak RSS and wall time
    /usr/bin/time -f "%M %e" -o "$W/time.out" "$DR" plan "$W/mem.json" > "$W/plan.out"
    read -r kib secs < "$W/time.out"
    echo "$1: datumrun plan of $N datums: peak RSS $((kib / 1024)) MiB" \
         "($kib KiB), ${secs}s; $(tail -n 1 "$W/plan.out")"
}
measure cold
if [ "$WARM" = 1 ]; then
    t0=$(date +%s.%N)
    "$DR" run "$W/mem.json" -q
    echo "run over all $N datums: $(echo "$(date +%s.%N) - $t0" | bc)s"
    measure warm
    "$DR" run "$W/mem.json" -q
    log=$(ls -t "$W"/.datumrun/mem/logs/*/job.log | head -n 1)
    kib=$(grep -o 'rank0_maxrss_kib=[0-9]*' "$log" | cut -d= -f2)
    echo "skip-all rerun: rank 0 peak RSS $((kib / 1024)) MiB ($kib KiB)," \
         "$(grep -o 'wall_s=[0-9.]*' "$log")"
fi
