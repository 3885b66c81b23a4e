# helpers.bash: shared by the integration tests.  Every command runs under
# a timeout; every test works in its own temporary folder and removes it.

: "${DATUMRUN:?set DATUMRUN to the datumrun executable (ctest does)}"
: "${DATUMRUN_SRC:=$(cd "$BATS_TEST_DIRNAME/../.." && pwd)}"
PY=/usr/bin/python3            # Debian's python, which has h5py
READ_MANIFEST="$DATUMRUN_SRC/tests/integration/read_manifest.py"

# Tests whose jobs run on Slurm nodes set DATUMRUN_TEST_TMPDIR to a folder
# every node shares (a node's /tmp is its own, see slurm/cluster.sh).
common_setup() {
    T=$(mktemp -d "${DATUMRUN_TEST_TMPDIR:-/tmp}/datumrun-test.XXXXXX")
    cd "$T"
}

common_teardown() {
    cd /
    [ -n "${T:-}" ] && rm -rf "$T"
}

# dr ARGS...: datumrun with a bound; output in $output, status in $status.
dr() {
    timeout -k 10 300 "$DATUMRUN" "$@"
}

# spec FILE NAME CMD INPUT [EXTRA_JSON]: write a one-input pipeline spec.
# CMD is a shell command run with sh -c.
spec() {
    local file=$1 name=$2 cmd=$3 input=$4 extra=${5:-}
    $PY - "$file" "$name" "$cmd" "$input" "$extra" <<'PYEOF'
import json, sys
file, name, cmd, inp, extra = sys.argv[1:6]
s = {"pipeline": {"name": name},
     "transform": {"cmd": ["sh", "-c", cmd]},
     "input": json.loads(inp)}
if extra:
    e = json.loads(extra)
    s["transform"].update(e.pop("transform", {}))  # merged, not replaced
    s.update(e)
json.dump(s, open(file, "w"), indent=2)
PYEOF
}

# pfs NAME REPO GLOB: a pfs input as JSON.
pfs() {
    printf '{"pfs": {"name": "%s", "repo": "%s", "glob": "%s"}}' "$1" "$2" "$3"
}

# jget JSON KEY: a top-level field of a JSON object.
jget() {
    $PY -c 'import json,sys; print(json.loads(sys.argv[1])[sys.argv[2]])' "$1" "$2"
}

# counts JSON: "processed + skipped / total"
counts() {
    $PY -c 'import json,sys; j=json.loads(sys.argv[1]); print("%d + %d / %d" % (j["processed"], j["skipped"], j["total"]))' "$1"
}

# last_json: the last line of $output that is a JSON object.
last_json() {
    printf '%s\n' "$output" | grep '^{' | tail -n 1
}

# tree DIR: a listing of every file with its content hash, for comparing.
tree() {
    (cd "$1" && find . -type f ! -path ./.datumrun-owner.json -print0 | sort -z | xargs -0 -r sha1sum)
}

# scratch_tree SPEC [RUN_ARGS]: run SPEC from scratch (its own output and
# state folders under $T; the spec copy sits beside SPEC so that its repos
# and so its datum IDs are the same) and print `tree` of its output: what
# any sequence of incremental runs must end up equal to.
scratch_tree() {
    local d copy
    d=$(mktemp -d "$T/scratch.XXXXXX")
    copy="$(dirname "$1")/.scratch-$(basename "$d").json"
    $PY - "$1" "$copy" "$d/out" <<'PYEOF'
import json, sys
src, dst, out = sys.argv[1:4]
s = json.load(open(src))
s["output"] = out
json.dump(s, open(dst, "w"))
PYEOF
    dr run "$copy" -q --state "$d/state" "${@:2}" >/dev/null 2>&1 || true
    mkdir -p "$d/out"
    tree "$d/out"
    rm -rf "$d" "$copy"
}

# h5 STATE_DIR [MODE]: the manifest as read by h5py (read_manifest.py).
h5() {
    timeout -k 5 60 $PY "$READ_MANIFEST" "$@"
}

# pyget JSON EXPR: evaluate a Python expression over the parsed JSON `j`.
pyget() {
    $PY -c 'import json,sys; j=json.loads(sys.argv[1]); print(eval(sys.argv[2]))' "$1" "$2"
}

# node_visible_datumrun: for tests whose jobs run on the local cluster's
# nodes (each has a /tmp of its own), in setup_file: a build under /tmp
# (a clone may live anywhere) is invisible there, so run a copy of the
# executable from /var/tmp.  node_visible_cleanup removes it.
node_visible_datumrun() {
    case "$DATUMRUN" in
    /tmp/*)
        export DATUMRUN_BIN_COPY=$(mktemp -d /var/tmp/datumrun-bin.XXXXXX)
        cp "$DATUMRUN" "$DATUMRUN_BIN_COPY/datumrun"
        export DATUMRUN="$DATUMRUN_BIN_COPY/datumrun"
        ;;
    esac
}

node_visible_cleanup() {
    [ -z "${DATUMRUN_BIN_COPY:-}" ] || rm -rf "$DATUMRUN_BIN_COPY"
}

# ---- Slurm tests (slurm_*.bats): jobs on the local cluster (slurm/cluster.sh)

# wait_job ID SECONDS: until Slurm no longer lists it; prints its state.
wait_job() {
    local id=$1 limit=$2 t=0
    while [ -n "$(squeue -h -j "$id" 2>/dev/null)" ]; do
        sleep 1
        t=$((t + 1))
        [ $t -lt "$limit" ] || { echo "job $id still queued after ${limit}s" >&2; return 1; }
    done
    scontrol show job "$id" 2>/dev/null | grep -o 'JobState=[A-Z_]*' | cut -d= -f2
}

# submit SCRIPT [SBATCH_ARGS...]: sbatch in $T; the id is printed and
# added to $JOBS, which the test's teardown scancels.
submit() {
    local id
    id=$(timeout 60 sbatch --parsable --chdir="$T" "$@")
    id=${id%%;*}
    JOBS="${JOBS:-} $id"
    echo "$id"
}

# make_repo N: repo/f1 .. repo/fN, file i holding i.
make_repo() { mkdir -p repo; for i in $(seq 1 "$1"); do echo "$i" > "repo/f$i"; done; }
