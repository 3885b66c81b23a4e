#!/usr/bin/env bash
# rerun.sh: a rerun after changing 1% of N datums processes exactly those
# datums, in a small fraction of the first run's wall time.  Each datum
# costs what a small real step does: `sh -c` running `sleep 0.01` and then
# `sha256sum` of its input file (1 KiB) into an output file, about 15 ms of
# wall time per datum with its process start-ups.  The first run processes
# all N on 2 workers; then every 100th file gets new content (same size,
# new mtime) and the rerun must report processed = N/100 (from its --json
# line) and leave outputs equal to a from-scratch run's.
# Goal: the rerun's wall time under 5% of the first run's.
#   bench/rerun.sh [BUILD_DIR] [N]
set -euo pipefail
BUILD=${1:-build}
N=${2:-10000}
DR=$(cd "$BUILD" && pwd)/datumrun
W=$(mktemp -d /tmp/datumrun-bench.XXXXXX)
trap 'rm -rf "$W"' EXIT
mkdir -p "$W/repo"
# 1 KiB files: "NNNNNN " and filler.
seq -f "%06g" 1 "$N" | (cd "$W/repo" && awk '
    BEGIN { pad = sprintf("%1016s", ""); gsub(/ /, "x", pad) }
    { f = "d" $1; printf "%s %s\n", $1, pad > f; close(f) }')
cat > "$W/rerun.json" <<'JSON'
{"pipeline": {"name": "rerun"},
 "transform": {"cmd": ["sh", "-c", "sleep 0.01; sha256sum < \"$in\" > \"$DATUMRUN_OUT/$(basename \"$in\").sha\""]},
 "input": {"pfs": {"name": "in", "repo": "repo", "glob": "/*"}},
 "parallelism_spec": {"constant": 2}}
JSON
now() { date +%s.%N; }
field() { grep -o "\"$1\":[0-9]*" | cut -d: -f2; }

t0=$(now)
first_json=$("$DR" run "$W/rerun.json" --json | tail -n 1)
t1=$(now)
first=$(echo "$t1 - $t0" | bc)
[ "$(field processed <<< "$first_json")" = "$N" ]

# Change every 100th file: 1% of the datums.
changed=$(( N / 100 ))
for i in $(seq 100 100 "$N"); do
    f=$(printf "%s/repo/d%06d" "$W" "$i")
    sed -i '1s/x/y/' "$f"
done
t0=$(now)
re_json=$("$DR" run "$W/rerun.json" --json | tail -n 1)
t1=$(now)
re=$(echo "$t1 - $t0" | bc)
processed=$(field processed <<< "$re_json")
skipped=$(field skipped <<< "$re_json")

# The outputs equal a from-scratch run's (checked on the changed ones and
# a count of the rest, which is what a rerun could get wrong).
for i in $(seq 100 100 "$N"); do
    f=$(printf "d%06d" "$i")
    [ "$(cat "$W/rerun/$f.sha")" = "$(sha256sum < "$W/repo/$f")" ] \
        || { echo "rerun.sh: $f.sha is stale" >&2; exit 1; }
done
[ "$(ls "$W/rerun" | wc -l)" -eq "$N" ]

echo "datums=$N changed=$changed workers=2 datum='sleep 0.01; sha256sum of 1 KiB'"
echo "first run: ${first}s ($(field processed <<< "$first_json") processed)"
echo "rerun:     ${re}s (processed $processed, skipped $skipped)"
echo "rerun / first: $(echo "scale=2; 100 * $re / $first" | bc)%"
if [ "$processed" != "$changed" ]; then
    echo "rerun.sh: the rerun processed $processed datums, not $changed" >&2
    exit 1
fi
