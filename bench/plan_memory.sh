#!/usr/bin/env bash
# plan_memory.sh: rank 0's peak memory when planning N datums (N empty
# files in one folder, glob /*).  `datumrun plan` runs the same planning
# code as rank 0 (manifest open, glob walk, content hashing through the
# stat cache, datum IDs and skip decisions), so its peak RSS
# (`/usr/bin/time -f %M`) is rank 0's planning peak.  Measured twice:
#   cold: no manifest yet (every file is opened and hashed);
#   warm: after a run recorded every datum (the manifest's N records and N
#         stat cache entries are in memory too: what a rerun's rank 0 holds).
# Then a rerun that skips every datum reports its peak RSS in its job.log
# (rank0_maxrss_kib): the launcher's fast path (planning, the skip checks,
# the job's records), which finishes it without mpirun.
# The warm case needs one run over all N datums, which takes a while at
# N = 1,000,000: each is `true` in fork-per-datum mode (chunks of 200), or
# with FILL=batch one batched C consumer per worker takes them all
# (transform.datum_batching, examples/batched/consumer.c: minutes instead
# of ten).  Pass WARM=0 to skip it.
# CROSS=1 plans N datums from few files: the cross of two inputs of
# A = ceil(sqrt(N)) and N / A files (cold only: 10,000,000 datums cannot be
# run here), for the 10-million-datum figure.
# Per datum it prints (peak RSS - the RSS of planning one datum) / N, and
# the bytes of paths per datum it holds (the stat cache's absolute path,
# the plan's relative path and the record's "in:/path" entry).
# Goal: at most 300 bytes a datum plus paths.  The tree is deleted
# afterwards.
#   bench/plan_memory.sh [BUILD_DIR] [N]
set -euo pipefail
BUILD=${1:-build}
N=${2:-1000000}
WARM=${WARM:-1}
FILL=${FILL:-fork}
CROSS=${CROSS:-0}
SRC=$(cd "$(dirname "$0")/.." && pwd)
DR=$(cd "$BUILD" && pwd)/datumrun
W=$(mktemp -d /tmp/datumrun-bench.XXXXXX)
trap 'rm -rf "$W"' EXIT
mkdir -p "$W/repo" "$W/onerepo"
touch "$W/onerepo/d0000001"
t0=$(date +%s.%N)
if [ "$CROSS" = 1 ]; then
    A=$(echo "sqrt($N - 1) + 1" | bc)
    B=$((N / A))
    N=$((A * B))
    mkdir -p "$W/repo2"
    seq -f "d%07g" 1 "$A" | (cd "$W/repo" && xargs touch)
    seq -f "e%07g" 1 "$B" | (cd "$W/repo2" && xargs touch)
    echo "created $A + $B empty files in $(echo "$(date +%s.%N) - $t0" | bc)s"
    WARM=0
    INPUT='{"cross": [{"pfs": {"name": "a", "repo": "repo", "glob": "/*"}},
                      {"pfs": {"name": "b", "repo": "repo2", "glob": "/*"}}]}'
else
    seq -f "d%07g" 1 "$N" | (cd "$W/repo" && xargs touch)
    echo "created $N empty files in $(echo "$(date +%s.%N) - $t0" | bc)s"
    INPUT='{"pfs": {"name": "in", "repo": "repo", "glob": "/*"}}'
fi
if [ "$FILL" = batch ]; then
    cc -O2 -o "$W/consumer" "$SRC/examples/batched/consumer.c"
    TRANSFORM='{"cmd": ["'"$W"'/consumer", "noop"], "datum_batching": true}'
else
    TRANSFORM='{"cmd": ["true"]}'
fi
cat > "$W/mem.json" <<JSON
{"pipeline": {"name": "mem"}, "transform": $TRANSFORM,
 "input": $INPUT,
 "parallelism_spec": {"constant": 2}, "chunk_spec": {"number": 200}}
JSON
sed 's/"repo": "repo"/"repo": "onerepo"/; s/"name": "mem"/"name": "one"/' \
    "$W/mem.json" > "$W/one.json"
[ "$CROSS" = 1 ] && sed -i 's/"repo": "repo2"/"repo": "onerepo"/' "$W/one.json"
/usr/bin/time -f "%M" -o "$W/base.out" "$DR" plan "$W/one.json" > /dev/null
BASE=$(cat "$W/base.out")
# Path bytes a datum holds, cold (plan only) and warm (plus the stat
# cache's absolute path and the record's entry).
rel=9
abs=$(( ${#W} + 6 + rel ))
echo "planning one datum: peak RSS $BASE KiB (subtracted below)"
measure() { # measure LABEL PATHBYTES: plan once, print peak RSS and wall time
    /usr/bin/time -f "%M %e" -o "$W/time.out" "$DR" plan "$W/mem.json" > "$W/plan.out"
    read -r kib secs < "$W/time.out"
    echo "$1: datumrun plan of $N datums: peak RSS $((kib / 1024)) MiB" \
         "($kib KiB), ${secs}s; $(tail -n 1 "$W/plan.out")"
    echo "$1: $(( (kib - BASE) * 1024 / N )) bytes per datum, of which" \
         "$2 of paths: $(( (kib - BASE) * 1024 / N - $2 )) bytes plus paths"
}
if [ "$CROSS" = 1 ]; then
    # a cross holds A + B paths, not N: none per datum
    measure cold 0
else
    measure cold $(( rel + abs ))
fi
if [ "$WARM" = 1 ]; then
    t0=$(date +%s.%N)
    "$DR" run "$W/mem.json" -q
    echo "run over all $N datums: $(echo "$(date +%s.%N) - $t0" | bc)s"
    measure warm $(( rel + abs + 5 + rel ))
    "$DR" run "$W/mem.json" -q
    log=$(ls -t "$W"/.datumrun/mem/logs/*/job.log | head -n 1)
    kib=$(grep -o 'rank0_maxrss_kib=[0-9]*' "$log" | cut -d= -f2)
    echo "skip-all rerun: rank 0 peak RSS $((kib / 1024)) MiB ($kib KiB)," \
         "$(grep -o 'wall_s=[0-9.]*' "$log")," \
         "$(( (kib - BASE) * 1024 / N - (rel + abs + 5 + rel) )) bytes a" \
         "datum plus paths$(grep -q launcher_only=1 "$log" \
                             && echo ' (the launcher fast path)')"
fi
