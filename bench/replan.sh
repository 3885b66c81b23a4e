#!/usr/bin/env bash
# replan.sh: re-planning N unchanged single-file datums with a warm stat
# cache, against `find REPO -type f -printf '%s %T@ %i\n'` over the same
# tree (the floor: one stat per file), side by side, alternating, REPS
# times each.  A first run processes every datum (`true`) and fills the
# manifest and its stat cache; then it times
#   - `datumrun plan SPEC > /dev/null`: rank 0's planning alone (open the
#     manifest, walk the glob, stat every file, look each up in the stat
#     cache, hash the datum IDs, decide skip) plus printing the plan;
#   - `datumrun run SPEC -q`: a whole run that skips everything (the
#     launcher's fast path: no mpirun; its job records go to the journal);
#   - find.
# Goals: plan within 3x of find, the skip-all run within 1.5x.
#   bench/replan.sh [BUILD_DIR] [N] [REPS]
set -euo pipefail
BUILD=${1:-build}
N=${2:-100000}
REPS=${3:-5}
DR=$(cd "$BUILD" && pwd)/datumrun
W=$(mktemp -d /tmp/datumrun-bench.XXXXXX)
trap 'rm -rf "$W"' EXIT
mkdir -p "$W/repo"
# Files of a few bytes each, d000001 .. dN.
seq -f "%06g" 1 "$N" | (cd "$W/repo" && awk '{ f = "d" $1; print $1 > f; close(f) }')
cat > "$W/replan.json" <<JSON
{"pipeline": {"name": "replan"}, "transform": {"cmd": ["true"]},
 "input": {"pfs": {"name": "in", "repo": "repo", "glob": "/*"}},
 "parallelism_spec": {"constant": 2}}
JSON
median() { sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }
now() { date +%s.%N; }
t0=$(now)
"$DR" run "$W/replan.json" -q
t1=$(now)
first=$(echo "$t1 - $t0" | bc)
# The manifest now knows every datum; warm the page cache like a rerun.
find "$W/repo" -type f -printf '%s %T@ %i\n' > /dev/null
: > "$W/plan.t"; : > "$W/run.t"; : > "$W/find.t"
: > "$W/plan.c"; : > "$W/run.c"; : > "$W/find.c"
# cpu LABEL CMD...: its CPU seconds (user + system) appended to $W/LABEL.c;
# on a shared machine they vary less than wall times.
cpu() {
    local l=$1; shift
    /usr/bin/time -f "%U %S" -o "$W/cpu.out" "$@"
    awk '{ print $1 + $2 }' "$W/cpu.out" >> "$W/$l.c"
}
for r in $(seq 1 "$REPS"); do
    t0=$(now); cpu plan "$DR" plan "$W/replan.json" > /dev/null; t1=$(now)
    echo "$t1 - $t0" | bc >> "$W/plan.t"
    t0=$(now); cpu find find "$W/repo" -type f -printf '%s %T@ %i\n' > /dev/null; t1=$(now)
    echo "$t1 - $t0" | bc >> "$W/find.t"
    t0=$(now); cpu run "$DR" run "$W/replan.json" -q; t1=$(now)
    echo "$t1 - $t0" | bc >> "$W/run.t"
done
# The skip-all runs must really have skipped all.
"$DR" run "$W/replan.json" --json | tail -n 1 \
    | grep -q "\"processed\":0,\"skipped\":$N," \
    || { echo "replan.sh: the rerun did not skip all $N datums" >&2; exit 1; }
plan=$(median < "$W/plan.t"); run=$(median < "$W/run.t"); fnd=$(median < "$W/find.t")
echo "datums=$N reps=$REPS (first run, processing all: ${first}s)"
echo "datumrun plan   wall s: $(tr '\n' ' ' < "$W/plan.t")(median $plan)"
echo "datumrun run    wall s: $(tr '\n' ' ' < "$W/run.t")(median $run)"
echo "find -printf    wall s: $(tr '\n' ' ' < "$W/find.t")(median $fnd)"
echo "ratio plan/find: $(echo "scale=2; $plan / $fnd" | bc)"
echo "ratio run/find:  $(echo "scale=2; $run / $fnd" | bc)"
pc=$(median < "$W/plan.c"); rc=$(median < "$W/run.c"); fc=$(median < "$W/find.c")
echo "CPU s (user + system), medians: plan $pc, run $rc, find $fc;" \
     "plan/find $(echo "scale=2; $pc / $fc" | bc), run/find $(echo "scale=2; $rc / $fc" | bc)"
