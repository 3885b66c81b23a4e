#!/usr/bin/env bash
# batch_million.sh: a million batched no-op datums on 2 workers, whole run
# and datum phase, to show the rates once mpirun's start and the final
# checkpoint no longer dominate (bench/batch.sh runs 20,000-50,000 names,
# where they do).  The datums are the cross of two inputs of A and B files
# (A x B datums from A + B files: no million files to create); the command
# is the C consumer asking with "next paths window=32".
#   bench/batch_million.sh [BUILD_DIR] [A] [B] [RUNS]
# STATE=DIR puts the state folder in DIR (default /dev/shm).
set -euo pipefail
BUILD=${1:-build}
A=${2:-1000}
B=${3:-1000}
RUNS=${4:-3}
SRC=$(cd "$(dirname "$0")/.." && pwd)
DR=$(cd "$BUILD" && pwd)/datumrun
W=$(mktemp -d /tmp/datumrun-bench.XXXXXX)
STATE=${STATE:-/dev/shm}
SD="$STATE/bm-$$"
trap 'rm -rf "$W" "$SD"' EXIT
cc -O2 -o "$W/consumer" "$SRC/examples/batched/consumer.c"
mkdir -p "$W/a" "$W/b"
(cd "$W/a" && seq -f "a%07g" 1 "$A" | xargs touch)
(cd "$W/b" && seq -f "b%07g" 1 "$B" | xargs touch)
cat > "$W/m.json" <<JSON
{"pipeline": {"name": "m"},
 "transform": {"cmd": ["$W/consumer", "noop", "paths", "window=32"], "datum_batching": true},
 "input": {"cross": [{"pfs": {"name": "a", "repo": "a", "glob": "/*"}},
                     {"pfs": {"name": "b", "repo": "b", "glob": "/*"}}]},
 "parallelism_spec": {"constant": 2}}
JSON
N=$((A * B))
echo "N=$N datums (cross of $A x $B files), 2 workers, window=32, state: $STATE; $(uptime)"
printf '%-6s %10s %12s %10s %12s %12s %12s %14s\n' run wall_s datums_per_s phase_s phase_per_s before_s after_s rank0_us_per_datum
for r in $(seq 1 "$RUNS"); do
    rm -rf "$SD" "$W/m"
    t0=$(date +%s.%N)
    "$DR" run "$W/m.json" -q --state-dir "$SD" > /dev/null
    t1=$(date +%s.%N)
    cpu=$(grep -o 'rank0_cpu_s=[0-9.]*' "$SD"/logs/*/job.log | cut -d= -f2)
    /usr/bin/python3 - "$SD/manifest.h5" "$t0" "$t1" "$N" "$cpu" "$r" <<'PY'
import sys
import h5py, numpy as np
path, t0, t1, n, cpu, r = sys.argv[1], float(sys.argv[2]), float(sys.argv[3]), int(sys.argv[4]), float(sys.argv[5]), sys.argv[6]
f = h5py.File(path, "r")
a = f["attempts"]
s = a["start_ns"][:] / 1e9
e = s + a["duration_s"][:]
assert len(s) == n, (len(s), n)
phase = e.max() - s.min()
wall = t1 - t0
# before: launch to the first datum's start (mpirun, planning); after: the
# last datum's end to exit (the final checkpoint, MPI's end).
print("%-6s %10.3f %12.0f %10.3f %12.0f %12.3f %12.3f %14.2f" % (
    r, wall, n / wall, phase, n / phase, s.min() - t0, t1 - e.max(),
    cpu * 1e6 / n))
PY
done
