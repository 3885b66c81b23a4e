#!/usr/bin/env bats
# Crash safety (issue 3): kill -9 of the whole job at any instant leaves a
# manifest that opens (read back by h5py, journal included), an output
# folder consistent with it, and a rerun that redoes exactly the datums the
# killed job had not recorded.  A damaged manifest stops the run with the
# documented recovery, and following it works.

load helpers

setup() { common_setup; mkdir -p "$T/tmp"; }
teardown() {
    [ -n "${SID:-}" ] && pkill -9 -s "$SID" 2>/dev/null || true
    common_teardown
}

N=60
# Each datum sleeps a little and writes two files, one in a folder of its
# own, so that kills land inside commands, moves and journal writes.
slow='sleep 0.05; d="$DATUMRUN_OUT/$(basename "$in")"; mkdir -p "$d/sub"; cp "$in" "$d/sub/x"; echo "$(cat "$in") done" > "$d/y"'

alive() { ps -o stat= -s "$1" | grep -qv '^Z'; }

# kill_job DELAY ARGS...: start `datumrun run ARGS` in a session of its own
# (the launcher, mpirun, every rank and every command: Open MPI gives each
# rank a process group of its own, but they all stay in the session), and
# kill -9 the whole session after DELAY seconds, or, when DELAY is `when`,
# as soon as the command in $KILL_WHEN succeeds (polled, at most 120 s):
# tests that need the job to have got somewhere wait for it, never for a
# fixed time.  Checkpoints are frequent (every $CKPT seconds, default 0.2)
# so that kills also land in them.  Sets $SID.
kill_job() {
    local delay=$1; shift
    rm -f "$T/sid"
    TMPDIR="$T/tmp" DATUMRUN_CHECKPOINT_INTERVAL=${CKPT:-0.2} \
        setsid sh -c 'echo $$ > "$0/sid"; exec "$@"' "$T" "$DATUMRUN" run "$@" \
        >"$T/killed.out" 2>&1 &
    local i
    for i in $(seq 100); do [ -s "$T/sid" ] && break; sleep 0.01; done
    SID=$(cat "$T/sid")
    if [ "$delay" = when ]; then
        for i in $(seq 1200); do eval "$KILL_WHEN" && break; sleep 0.1; done
        eval "$KILL_WHEN" || { echo "never true: $KILL_WHEN" >&2; return 1; }
    else
        sleep "$delay"
    fi
    # The launcher's status file is under /tmp whatever TMPDIR says: note
    # its name from the environment of a process it started.
    local sf p
    sf=$(for p in $(pgrep -s "$SID"); do
             tr '\0' '\n' < "/proc/$p/environ" 2>/dev/null
         done | sed -n 's/^DATUMRUN_STATUS_FILE=//p' | sort -u)
    pkill -9 -s "$SID" || true
    # Gone, or zombies (which hold no files) until init reaps them.
    for i in $(seq 100); do alive "$SID" || break; sleep 0.02; done
    ! alive "$SID"
    SID=
    [ -z "$sf" ] || rm -f $sf
}

# last_job SPEC: the id of the newest job, or "-".
last_job() {
    run dr list-job "$1" --json
    [ "$status" -eq 0 ]
    pyget "$output" 'j[0]["job_id"] if j else "-"'
}

# after_kill STATE OUT CHANGED PREV: check the killed job's state with h5py
# and print the number of current datums it had recorded as done (a
# success the rerun must skip).  CHANGED lists input paths ("in:/f07")
# whose content changed since the last complete run, whose job was PREV:
# their earlier success does not count, only one by the killed job.
after_kill() {
    $PY - "$1" "$2" "$READ_MANIFEST" "$T/repo" "$3" "${4:--}" <<'PYEOF'
import json, os, subprocess, sys
state, out, reader, repo, changed, prev = sys.argv[1:7]
changed = set(changed.split())
current = {"in:/" + f for f in os.listdir(repo)}
if not os.path.exists(os.path.join(state, "manifest.h5")):
    # Killed before the first open had written it: nothing may be in out.
    left = [] if not os.path.exists(out) else [
        e.name for e in os.scandir(out) if e.name != ".datumrun-owner.json"]
    assert not left, "outputs without a manifest: %s (state folder: %s)" % (
        left, os.listdir(state) if os.path.isdir(state) else None)
    print(0)
    sys.exit(0)
def read(mode):
    r = subprocess.run([sys.executable, reader, state, mode, "--journal"],
                       capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, "h5py cannot read the manifest: " + r.stderr
    return json.loads(r.stdout)
datums, jobs = read("--datums"), read("--jobs")
running = [j["id"] for j in jobs if j["state"] == "running"]
assert len(running) <= 1, running
# The killed job (it may have ended just before the kill).
killed = jobs[-1]["id"] if jobs and jobs[-1]["id"] != prev else None
assert not running or running[0] == killed, (running, killed)
# The output folder is consistent with the manifest: every recorded
# success's files are there, and every file there is named by a record
# (a success, or an invalidated datum whose files are about to go) or by
# an inflight list (moved by a worker, not yet recorded).
named = set()
for d in datums:
    named.update(d["outputs"])
    if d["state"] == "success":
        for o in d["outputs"]:
            assert os.path.isfile(os.path.join(out, o)), "recorded output missing: " + o
inflight = os.path.join(state, "inflight")
if os.path.isdir(inflight):
    for rank in os.listdir(inflight):
        for f in os.listdir(os.path.join(inflight, rank)):
            data = open(os.path.join(inflight, rank, f), "rb").read()
            named.update(p.decode() for p in data.split(b"\0") if p)
if os.path.isdir(out):
    for root, dirs, files in os.walk(out):
        for f in files:
            rel = os.path.relpath(os.path.join(root, f), out)
            if rel == ".datumrun-owner.json":
                continue    # the owner marker
            assert rel in named, "output no record or inflight list names: " + rel
done = 0
for d in datums:
    inp = d["inputs"][0] if d["inputs"] else ""
    if d["state"] != "success" or inp not in current:
        continue
    if inp in changed and d["proc_job"] != killed:
        continue
    done += 1
print(done)
PYEOF
}

make_repo() { # make_repo VERSION: files f01..f60 holding "NN.VERSION"
    rm -rf repo; mkdir repo
    for i in $(seq -w 1 $N); do echo "$i.$1" > repo/f$i; done
}

@test "kill -9 of the whole job at random moments: the rerun redoes only what was not recorded" {
    make_repo 0
    spec s.json cr "$slow" "$(pfs in repo '/*')" '{"parallelism_spec": {"constant": 2}}'
    want=$(scratch_tree s.json -n 6)
    RANDOM=$$
    for it in $(seq 1 10); do
        changed=""
        case $((it % 3)) in
        1)  # the first run of a pipeline
            rm -rf cr .datumrun; args="" ;;
        2)  # a run that reprocesses everything (invalidates, removes)
            args="--reprocess" ;;
        0)  # a run after changes, additions and removals
            args=""
            for i in $(seq -w $((it % 6 + 1)) 6 $N); do
                echo "$i.$it" > repo/f$i; changed="$changed in:/f$i"
            done
            rm -f repo/f0$((it % 5 + 2))
            echo "new $it" > repo/g$it; changed="$changed in:/g$it"
            want=$(scratch_tree s.json -n 6) ;;
        esac
        delay=$(awk -v r=$RANDOM 'BEGIN { printf "%.2f", 0.2 + 1.3 * r / 32767 }')
        echo "iteration $it: kill after ${delay}s (args: ${args:-none})"
        prev=$(last_job s.json)
        kill_job "$delay" s.json $args
        done_=$(after_kill .datumrun/cr cr "$changed" "$prev")
        total=$(ls repo | wc -l)
        run dr run s.json --json
        echo "$output" | tail -n 3
        [ "$status" -eq 0 ]
        j=$(last_json)
        echo "recorded before the kill: $done_ of $total; rerun: $(counts "$j")"
        [ "$(jget "$j" processed)" -le $((total - done_)) ]
        # the independent reader and datumrun agree on what was recorded
        [ "$(jget "$j" processed)" -eq $((total - done_)) ]
        [ "$(jget "$j" total)" -eq "$total" ]
        [ "$(jget "$j" failed)" -eq 0 ]
        [ "$(tree cr)" = "$want" ]
        # all of it is in the checkpoint now (but the job of a rerun with
        # nothing to do, which the launcher's fast path keeps in the
        # journal alone), and no job is left "running"
        s=$(h5 .datumrun/cr --summary --journal)
        [ "$(pyget "$s" 'j["states"]')" = "{'success': $total}" ]
        [ "$(pyget "$s" 'j["journal_bytes"]')" -eq 0 ] || [ "$(jget "$j" processed)" -eq 0 ]
        run dr list-job s.json --json
        [ "$(pyget "$output" 'sum(x["state"] == "running" for x in j)')" -eq 0 ]
        [ -z "$(find .datumrun/cr/inflight -type f 2>/dev/null)" ]
    done
}

# recorded STATE_DIR: the successes on record, the journal included.
recorded() {
    local s
    s=$(h5 "$1" --summary --journal 2>/dev/null) || { echo 0; return; }
    pyget "$s" 'j["states"].get("success", 0)'
}

@test "a killed job is listed as killed, with what its datums show" {
    make_repo 0
    # f01..f10 finish; the others wait for $T/go, which comes after the
    # kill: the job is killed while running, with exactly 10 recorded.
    spec s.json kj 'case "$(basename "$in")" in f0?|f10) ;; *) while [ ! -e "'"$T"'/go" ]; do sleep 0.05; done;; esac; '"$slow" \
        "$(pfs in repo '/*')" '{"parallelism_spec": {"constant": 2}}'
    KILL_WHEN='[ "$(recorded .datumrun/kj)" -ge 10 ]' kill_job when s.json
    run dr list-job s.json --json
    [ "$status" -eq 0 ]
    [ "$(pyget "$output" 'j[0]["state"]')" = running ]
    done_=$(after_kill .datumrun/kj kj "")
    [ "$done_" -eq 10 ]
    touch "$T/go"
    run dr run s.json --json
    [ "$status" -eq 0 ]
    [ "$(counts "$(last_json)")" = "$((N - done_)) + $done_ / $N" ]
    run dr list-job s.json --json
    [ "$(pyget "$output" 'j[1]["state"]')" = killed ]
    [ "$(pyget "$output" 'j[1]["processed"]')" -eq "$done_" ]
    [ "$(pyget "$output" 'j[0]["state"]')" = success ]
}

@test "a truncated manifest stops the run with the recovery; following it rebuilds the outputs" {
    make_repo 0
    spec s.json tr 'cp "$in" "$DATUMRUN_OUT/"' "$(pfs in repo '/*')"
    run dr run s.json -q
    [ "$status" -eq 0 ]
    m=$T/.datumrun/tr/manifest.h5
    size=$(stat -c %s "$m")
    truncate -s $((size / 2)) "$m"
    before=$(tree tr)
    run dr run s.json
    [ "$status" -eq 2 ]
    [[ "$output" =~ "$m: not a readable datumrun manifest (truncated or corrupt)" ]]
    [[ "$output" =~ "To recover: move it aside (mv $m $m.bad) and rerun" ]]
    [ "$(tree tr)" = "$before" ]                 # nothing was touched
    [ "$(stat -c %s "$m")" -eq $((size / 2)) ]   # not replaced either
    # the read-only commands say the same and exit 2
    run dr list-job s.json
    [ "$status" -eq 2 ]
    [[ "$output" =~ "mv $m $m.bad" ]]
    # h5py agrees that it is damaged
    run h5 .datumrun/tr
    [ "$status" -eq 2 ]
    # follow the recovery: the folder is this pipeline's (its marker says
    # so), so the files the new manifest does not know are rebuilt in
    # place, never moved aside
    mv "$m" "$m.bad"
    run dr run s.json --json
    [ "$status" -eq 0 ]
    [[ "$output" =~ "output folder $T/tr holds files that the manifest in $T/.datumrun/tr does not record" ]]
    [ "$(counts "$(last_json)")" = "$N + 0 / $N" ]
    [ "$(tree tr)" = "$(scratch_tree s.json)" ]
    [ "$(ls -d tr.old-* 2>/dev/null | wc -l)" -eq 0 ]   # nothing moved aside
    run dr run s.json --json
    [ "$(counts "$(last_json)")" = "0 + $N / $N" ]
}

@test "garbage over the manifest's data or a corrupt journal is an error, never an empty manifest" {
    make_repo 0
    spec s.json gb "$slow" "$(pfs in repo '/*')" '{"parallelism_spec": {"constant": 2}}'
    run dr run s.json -q
    [ "$status" -eq 0 ]
    m=.datumrun/gb/manifest.h5
    cp "$m" good.h5
    # overwrite the middle of the file (raw data, which HDF5 does not checksum)
    size=$(stat -c %s "$m")
    dd if=/dev/urandom of="$m" bs=1 seek=$((size / 2)) count=64 conv=notrunc status=none
    run dr run s.json
    [ "$status" -eq 2 ]
    [[ "$output" =~ "manifest.h5" ]] && [[ "$output" =~ "To recover" ]]
    cp good.h5 "$m"
    # a journal whose first record is damaged but good ones follow is not a
    # torn tail (an interrupted write) but corruption: an error, naming it
    jn=.datumrun/gb/journal
    CKPT=0 KILL_WHEN='[ "$(stat -c %s '$jn' 2>/dev/null || echo 0)" -gt 500 ]' \
        kill_job when s.json --reprocess
    [ "$(stat -c %s $jn)" -gt 500 ]
    cp $jn journal.good
    printf 'X' | dd of=$jn bs=1 seek=20 conv=notrunc status=none
    run dr run s.json
    [ "$status" -eq 2 ]
    [[ "$output" =~ "$T/.datumrun/gb/journal: corrupt record at byte 0 with good records after it" ]]
    run h5 .datumrun/gb --journal
    [ "$status" -eq 2 ]
    # a torn tail, on the other hand, is what a kill leaves: ignored
    cp journal.good $jn
    printf 'DRJ1\002\0\0\0\377\0\0\0abc' >> $jn
    done_=$(after_kill .datumrun/gb gb "")
    run dr run s.json --json
    [ "$status" -eq 0 ]
    [ "$(counts "$(last_json)")" = "$((N - done_)) + $done_ / $N" ]
    [ "$(tree gb)" = "$(scratch_tree s.json)" ]
}
