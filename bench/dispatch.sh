#!/usr/bin/env bash
# dispatch.sh: 10,000 no-op datums (`true`) on 2 workers against
# `xargs -P 2 -n 1 true` over the same 10,000 names, run side by side,
# alternating, REPS times each.  Prints wall times, the ratio of medians
# and rank 0's CPU share (from the job log).
#   bench/dispatch.sh [BUILD_DIR] [N] [REPS] [LAUNCH]
# LAUNCH is "mpirun" (default: datumrun starts mpirun itself) or "srun"
# (inside an sbatch allocation: srun --mpi=pmix datumrun run ...).
set -euo pipefail
BUILD=${1:-build}
N=${2:-10000}
REPS=${3:-3}
LAUNCH=${4:-mpirun}
DR=$(cd "$BUILD" && pwd)/datumrun
W=$(mktemp -d /tmp/datumrun-bench.XXXXXX)
trap 'rm -rf "$W"' EXIT
mkdir -p "$W/repo"
(cd "$W/repo" && seq -f "d%05g" 1 "$N" | xargs touch)
cat > "$W/noop.json" <<JSON
{"pipeline": {"name": "noop"}, "transform": {"cmd": ["true"]},
 "input": {"pfs": {"name": "in", "repo": "repo", "glob": "/*"}},
 "parallelism_spec": {"constant": 2}}
JSON
median() { sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }
now() { date +%s.%N; }
: > "$W/dr.t"; : > "$W/xa.t"; : > "$W/cpu.t"
for r in $(seq 1 "$REPS"); do
    rm -rf "$W/.datumrun" "$W/noop"
    t0=$(now)
    if [ "$LAUNCH" = srun ]; then
        srun --mpi=pmix -n 3 --overcommit "$DR" run "$W/noop.json" -q --reprocess
    else
        "$DR" run "$W/noop.json" -q --reprocess
    fi
    t1=$(now)
    echo "$t1 - $t0" | bc >> "$W/dr.t"
    grep -ho 'rank0_cpu_pct=[0-9.]*' "$W"/.datumrun/noop/logs/*/job.log | cut -d= -f2 >> "$W/cpu.t"
    t0=$(now)
    (cd "$W/repo" && ls | xargs -P 2 -n 1 true)
    t1=$(now)
    echo "$t1 - $t0" | bc >> "$W/xa.t"
done
dr=$(median < "$W/dr.t"); xa=$(median < "$W/xa.t"); cpu=$(median < "$W/cpu.t")
echo "datums=$N workers=2 launch=$LAUNCH reps=$REPS"
echo "datumrun wall s: $(tr '\n' ' ' < "$W/dr.t")(median $dr)"
echo "xargs    wall s: $(tr '\n' ' ' < "$W/xa.t")(median $xa)"
echo "ratio datumrun/xargs: $(echo "scale=3; $dr / $xa" | bc)"
echo "rank 0 CPU % of wall: $(tr '\n' ' ' < "$W/cpu.t")(median $cpu)"
