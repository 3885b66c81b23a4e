#!/usr/bin/env bash
# verify.sh: what verify-before-skip costs (issue 8).  N datums each make
# one output file; then, side by side and alternating REPS times:
#   - `datumrun run SPEC -q`, a rerun that skips everything (the
#     launcher's fast path: plan, one lstat per recorded output, record
#     the job);
#   - `find OUT -type f -printf '%s %T@\n'`: one stat per output file, the
#     floor of any check that the outputs are still as made;
#   - `find REPO ...` likewise over the inputs (what planning stats anyway).
# The verification adds about one `find OUT` to a skip-all rerun.
#   bench/verify.sh [BUILD_DIR] [N] [REPS]
set -euo pipefail
BUILD=${1:-build}
N=${2:-10000}
REPS=${3:-5}
DR=$(cd "$BUILD" && pwd)/datumrun
W=$(mktemp -d /tmp/datumrun-bench.XXXXXX)
trap 'rm -rf "$W"' EXIT
mkdir -p "$W/repo"
seq -f "%06g" 1 "$N" | (cd "$W/repo" && awk '{ f = "d" $1; print $1 > f; close(f) }')
cat > "$W/verify.json" <<JSON
{"pipeline": {"name": "verify"},
 "transform": {"cmd": ["sh", "-c", "cp \"\$in\" \"\$DATUMRUN_OUT/\""]},
 "input": {"pfs": {"name": "in", "repo": "repo", "glob": "/*"}},
 "output": "out", "parallelism_spec": {"constant": 2}}
JSON
median() { sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }
now() { date +%s.%N; }
"$DR" run "$W/verify.json" -q > /dev/null
sleep 2.1   # past the stat cache's 2 s guard, so that reruns trust it
"$DR" run "$W/verify.json" -q > /dev/null
: > "$W/run.t"; : > "$W/fout.t"; : > "$W/fin.t"
for r in $(seq 1 "$REPS"); do
    t0=$(now); "$DR" run "$W/verify.json" -q > /dev/null; t1=$(now)
    echo "$t1 - $t0" | bc >> "$W/run.t"
    t0=$(now); find "$W/out" -type f -printf '%s %T@\n' > /dev/null; t1=$(now)
    echo "$t1 - $t0" | bc >> "$W/fout.t"
    t0=$(now); find "$W/repo" -type f -printf '%s %T@\n' > /dev/null; t1=$(now)
    echo "$t1 - $t0" | bc >> "$W/fin.t"
done
run=$(median < "$W/run.t"); fout=$(median < "$W/fout.t"); fin=$(median < "$W/fin.t")
echo "N=$N outputs, median of $REPS"
echo "skip-all rerun (plan + verify + record): ${run}s"
echo "find over the outputs (one stat each):   ${fout}s"
echo "find over the inputs:                     ${fin}s"
echo "rerun / find-outputs: $(echo "scale=1; $run / $fout" | bc)x"
