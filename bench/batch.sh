#!/usr/bin/env bash
# batch.sh: batched datums (transform.datum_batching) against fork-per-datum
# mode and `xargs -P 2 -n 1 true` over the same N names, side by side, on 2
# workers; rank 0's CPU time per datum in both modes; and the makespan of M
# heavy-tailed datums against the lower bound max(sum/workers, longest).
#   bench/batch.sh [BUILD_DIR] [N] [M]
# STATE=DIR puts the state folders (and so the workers' sandboxes) in DIR,
# e.g. a tmpfs (/dev/shm), as node-local scratch would be.
# Modes: cbatch (the C consumer, pfs links), cpaths ("next paths"),
# cwindow ("next paths window=32"), pybatch (the Python module's
# datums()), pywindow (its run(fn, paths=True, window=32)), fork
# (`true` per datum, fork-per-datum mode).
# Two rates per mode: the whole `datumrun run` (planning, mpirun's start
# and end included), and the datum phase, from the manifest's attempt
# records: first attempt's start to last attempt's end.
set -euo pipefail
BUILD=${1:-build}
N=${2:-20000}
M=${3:-2000}
SRC=$(cd "$(dirname "$0")/.." && pwd)
DR=$(cd "$BUILD" && pwd)/datumrun
W=$(mktemp -d /tmp/datumrun-bench.XXXXXX)
STATE=${STATE:-}
trap 'rm -rf "$W"; [ -n "$STATE" ] && rm -rf "$STATE"/bb-*' EXIT
export PATH="$(dirname "$DR"):$PATH" PYTHONPATH="$SRC/python"
cc -O2 -o "$W/consumer" "$SRC/examples/batched/consumer.c"
mkdir -p "$W/repo"
seq -f "d%07g" 1 "$N" | (cd "$W/repo" && xargs touch)
now() { date +%s.%N; }
# spec NAME TRANSFORM_JSON [INPUT_REPO]
spec() {
    cat > "$W/$1.json" <<JSON
{"pipeline": {"name": "$1"}, "transform": $2,
 "input": {"pfs": {"name": "in", "repo": "${3:-repo}", "glob": "/*"}},
 "parallelism_spec": {"constant": 2}}
JSON
}
spec cbatch '{"cmd": ["'"$W"'/consumer", "noop"], "datum_batching": true}'
spec cpaths '{"cmd": ["'"$W"'/consumer", "noop", "paths"], "datum_batching": true}'
spec cwindow '{"cmd": ["'"$W"'/consumer", "noop", "paths", "window=32"], "datum_batching": true}'
spec pybatch '{"cmd": ["python3", "-c", "import datumrun\nfor d in datumrun.datums(): pass"], "datum_batching": true}'
spec pywindow '{"cmd": ["python3", "-c", "import datumrun\ndatumrun.run(lambda d: None, paths=True, window=32)"], "datum_batching": true}'
spec shbatch '{"cmd": ["sh"], "stdin": ["while vars=$(datumrun next); do :; done"], "datum_batching": true}'
spec fork '{"cmd": ["true"]}'
# span STATE_DIR: seconds from the first attempt's start to the last one's
# end, from the manifest (h5py).
span() {
    /usr/bin/python3 "$SRC/tests/integration/read_manifest.py" "$1" --attempts | /usr/bin/python3 -c '
import json, sys
a = json.load(sys.stdin)
s = min(x["start_ns"] / 1e9 for x in a)
e = max(x["start_ns"] / 1e9 + x["duration_s"] for x in a)
print("%.6f %.6f" % (e - s, sum(x["duration_s"] for x in a)))'
}
# run NAME: wall seconds of a from-scratch run; rank 0's CPU from job.log;
# the datum phase.
run() {
    local sd=()
    [ -n "$STATE" ] && sd=(--state-dir "$STATE/bb-$1")
    rm -rf "$W/.datumrun/$1" "$W/$1" "${STATE:-/nonexistent}/bb-$1"
    local t0 t1
    t0=$(now)
    "$DR" run "$W/$1.json" -q "${sd[@]}" > /dev/null
    t1=$(now)
    local log sdir="$W/.datumrun/$1"
    [ -n "$STATE" ] && sdir="$STATE/bb-$1"
    log=$(ls "$sdir"/logs/*/job.log)
    cpu=$(grep -o 'rank0_cpu_s=[0-9.]*' "$log" | cut -d= -f2)
    wall=$(echo "$t1 - $t0" | bc)
    read -r phase _ < <(span "$sdir")
}
echo "N=$N datums, 2 workers, state: ${STATE:-the disk of the spec folder}; $(uptime)"
printf '%-28s %10s %12s %10s %12s %14s\n' mode wall_s datums_per_s phase_s phase_per_s rank0_us_per_datum
for m in ${MODES:-cbatch cpaths cwindow pybatch pywindow fork}; do
    run $m
    eval "wall_$m=$wall"
    printf '%-28s %10.3f %12.0f %10.3f %12.0f %14.1f\n' "$m" "$wall" "$(echo "$N / $wall" | bc -l)" "$phase" "$(echo "$N / $phase" | bc -l)" "$(echo "$cpu * 1000000 / $N" | bc -l)"
done
t0=$(now); (cd "$W/repo" && ls | xargs -P 2 -n 1 true); t1=$(now)
wall_xargs=$(echo "$t1 - $t0" | bc)
printf '%-28s %10.3f %12.0f\n' "xargs -P 2 -n 1 true" "$wall_xargs" "$(echo "$N / $wall_xargs" | bc -l)"
echo "ratios (whole runs): fork/cbatch $(echo "scale=1; $wall_fork / $wall_cbatch" | bc)x," \
     "xargs/cbatch $(echo "scale=1; $wall_xargs / $wall_cbatch" | bc)x," \
     "fork/cpaths $(echo "scale=1; $wall_fork / $wall_cpaths" | bc)x," \
     "xargs/cpaths $(echo "scale=1; $wall_xargs / $wall_cpaths" | bc)x," \
     "fork/pybatch $(echo "scale=1; $wall_fork / $wall_pybatch" | bc)x"
echo "ratios (whole runs, window=32): fork/cwindow $(echo "scale=1; $wall_fork / $wall_cwindow" | bc)x," \
     "xargs/cwindow $(echo "scale=1; $wall_xargs / $wall_cwindow" | bc)x"
# The shell loop, for the record, over a tenth of the names.
mkdir -p "$W/repo10"
seq -f "d%07g" 1 $((N / 10)) | (cd "$W/repo10" && xargs touch)
spec shbatch '{"cmd": ["sh"], "stdin": ["while vars=$(datumrun next); do :; done"], "datum_batching": true}' repo10
run shbatch
n10=$((N / 10))
rate=$(echo "$n10 / $wall" | bc -l)
per=$(echo "$cpu * 1000000 / $n10" | bc -l)
printf '%-28s %10.3f %12.0f %10.3f %12.0f %14.1f\n' "shbatch N/10 next loop" "$wall" "$rate" "$phase" "$(echo "$n10 / $phase" | bc -l)" "$per"

# Heavy-tailed: M datums, lognormal durations (median 5 ms, sigma 1), five
# of them 50x the median; each file holds its duration, a batched Python
# command (datums(paths=True)) waits it.  The makespan is the datum phase
# (first attempt's start to last attempt's end, from the manifest); the
# whole job's wall time is printed beside it.
mkdir -p "$W/hrepo"
/usr/bin/python3 - "$W/hrepo" "$M" <<'PY'
import math, os, random, sys
d, m = sys.argv[1], int(sys.argv[2])
rng = random.Random(42)
ds = [0.005 * math.exp(rng.gauss(0, 1)) for _ in range(m)]
for i in rng.sample(range(m), 5):
    ds[i] = 0.25
for i, x in enumerate(ds):
    open(os.path.join(d, "h%05d" % i), "w").write("%.6f\n" % x)
print("sum %.3f longest %.3f" % (sum(ds), max(ds)))
PY
# Each datum waits its duration exactly: time.sleep alone overshoots by
# ~160 us here (a fixed cost of the machine's timer, not of the dispatch),
# so it sleeps to 0.5 ms before the end and spins the rest.
spec heavy '{"cmd": ["python3", "-c", "import time, datumrun\ndef wait(s):\n    end = time.perf_counter() + s\n    if s > 0.0005: time.sleep(s - 0.0005)\n    while time.perf_counter() < end: pass\nfor d in datumrun.datums(paths=True): wait(float(open(d.inputs[\"in\"]).read()))"], "datum_batching": true}' hrepo
read -r _ sum _ longest < <(/usr/bin/python3 -c 'import os,sys; d=sys.argv[1]; v=[float(open(os.path.join(d,f)).read()) for f in os.listdir(d)]; print("sum", sum(v), "longest", max(v))' "$W/hrepo")
sd=(); [ -n "$STATE" ] && sd=(--state-dir "$STATE/bb-heavy")
t0=$(now)
"$DR" run "$W/heavy.json" -q "${sd[@]}" > /dev/null
t1=$(now)
hsd="$W/.datumrun/heavy"; [ -n "$STATE" ] && hsd="$STATE/bb-heavy"
read -r ms busy < <(span "$hsd")
lb=$(echo "if ($sum / 2 > $longest) $sum / 2 else $longest" | bc -l)
printf 'heavy-tailed M=%d: makespan %.3fs (first start to last end), lower bound %.3fs, ratio %.3f; measured attempt durations sum %.3fs (ratio to half of it %.3f); whole job %.3fs\n' \
    "$M" "$ms" "$lb" "$(echo "$ms / $lb" | bc -l)" "$busy" "$(echo "$ms * 2 / $busy" | bc -l)" "$(echo "$t1 - $t0" | bc)"
