#!/usr/bin/env bash
# scratch.sh: per-datum cost with the workers' sandboxes in the state
# folder (the default) against node-local scratch (--scratch on a tmpfs, so
# every output is copied across file systems, fsync'ed and linked into
# place).  N datums on 2 workers, each writing one 1 KiB output, run side
# by side, alternating, REPS times each.
#   bench/scratch.sh [BUILD_DIR] [N] [REPS] [SCRATCH]
set -euo pipefail
BUILD=${1:-build}; N=${2:-2000}; REPS=${3:-3}; SCRATCH=${4:-/dev/shm}
DR=$(cd "$BUILD" && pwd)/datumrun
W=$(mktemp -d /var/tmp/datumrun-bench-scratch.XXXXXX)
S=$(mktemp -d "$SCRATCH/datumrun-bench-scratch.XXXXXX")
trap 'rm -rf "$W" "$S"' EXIT
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
mkdir -p "$W/repo"
(cd "$W/repo" && seq -f "d%05g" 1 "$N" | xargs touch)
cat > "$W/w.json" <<JSON
{"pipeline": {"name": "w"},
 "transform": {"cmd": ["sh", "-c", "head -c 1024 /dev/zero > \"\$DATUMRUN_OUT/\${in##*/}\""]},
 "input": {"pfs": {"name": "in", "repo": "repo", "glob": "/*"}},
 "parallelism_spec": {"constant": 2}}
JSON
median() { sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }
now() { date +%s.%N; }
: > "$W/state.t"; : > "$W/scratch.t"
for r in $(seq 1 "$REPS"); do
    for how in state scratch; do
        rm -rf "$W/.datumrun" "$W/w"
        args=()
        [ "$how" = scratch ] && args=(--scratch "$S")
        t0=$(now)
        "$DR" run "$W/w.json" -q --reprocess "${args[@]}"
        t1=$(now)
        echo "$t1 - $t0" | bc >> "$W/$how.t"
        [ "$(ls "$W/w" | wc -l)" -eq "$N" ]
    done
done
st=$(median < "$W/state.t"); sc=$(median < "$W/scratch.t")
echo "datums=$N workers=2 reps=$REPS state=$(df --output=fstype "$W" | tail -1) scratch=$(df --output=fstype "$S" | tail -1)"
echo "state folder wall s: $(tr '\n' ' ' < "$W/state.t")(median $st, $(echo "scale=3; $st * 1000000 / $N" | bc) us/datum)"
echo "scratch      wall s: $(tr '\n' ' ' < "$W/scratch.t")(median $sc, $(echo "scale=3; $sc * 1000000 / $N" | bc) us/datum)"
echo "ratio scratch/state: $(echo "scale=3; $sc / $st" | bc)"
