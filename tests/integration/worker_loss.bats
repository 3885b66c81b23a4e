#!/usr/bin/env bats
# Lost workers (issue 9) under a real mpirun: a worker killed, stopped or
# signalled costs only its in-flight datums, the job goes on with the
# others, and nothing it ran outlives it.  Every wait polls for a
# condition under a generous bound; no test asserts a duration.

load helpers

setup() {
    common_setup
    mkdir -p "$T/starts" "$T/pids"
}
teardown() {
    [ -n "${SID:-}" ] && pkill -9 -s "$SID" 2>/dev/null || true
    # Commands a test started outside the session (setsid) are its own.
    for f in "$T"/pids/*; do
        [ -f "$f" ] && kill -9 "$(cat "$f")" 2>/dev/null || true
    done
    common_teardown
}

# start_job SPEC ARGS...: `datumrun run` in a session of its own, in the
# background; sets SID and JOB (the launcher's pid).
start_job() {
    rm -f "$T/sid"
    setsid sh -c 'echo $$ > "$0/sid"; exec "$@"' "$T" \
        timeout -k 10 300 "$DATUMRUN" run "$@" >"$T/job.out" 2>"$T/job.err" &
    JOB=$!
    local i
    for i in $(seq 200); do [ -s "$T/sid" ] && break; sleep 0.05; done
    SID=$(cat "$T/sid")
}

# wait_job: wait for the job; its exit status in $rc, its JSON in $j.
wait_job() {
    rc=0
    wait "$JOB" || rc=$?
    j=$(grep '^{' "$T/job.out" | tail -n 1 || true)
    SID=
}

# rank_pid R: the pid of MPI rank R of the job (not its keeper).
rank_pid() {
    local p
    for p in $(pgrep -s "$SID"); do
        tr '\0' '\n' < "/proc/$p/cmdline" 2>/dev/null | sed -n 2p \
            | grep -qx run || continue
        tr '\0' '\n' < "/proc/$p/environ" 2>/dev/null \
            | grep -qx "OMPI_COMM_WORLD_RANK=$1" && { echo "$p"; return 0; }
    done
    return 1
}

# wait_for CMD...: poll until CMD succeeds (at most about 60 s).
wait_for() {
    local i
    for i in $(seq 600); do "$@" && return 0; sleep 0.1; done
    echo "timed out waiting for: $*" >&2
    return 1
}

# busy PID: the process has a child (a datum's command) running.
busy() { [ -n "$(pgrep -P "$1" -f 'sh -c')" ]; }
gone() { ! kill -0 "$1" 2>/dev/null; }
all_gone() { local p; for p in "$@"; do gone "$p" || return 1; done; }

# A datum notes each start, runs a little while, copies its input.
N=24
work() { echo 'echo x >> "'"$T"'/starts/$(basename "$in")"; sleep 0.4; cp "$in" "$DATUMRUN_OUT/"'; }

make_repo() {
    mkdir -p repo
    local i
    for i in $(seq -w 1 "$N"); do echo "datum $i" > "repo/f$i"; done
}

# at_most_twice: no datum started more than twice (once more at most).
at_most_twice() {
    local f
    for f in "$T"/starts/*; do
        [ "$(wc -l < "$f")" -le 2 ] || { echo "$f started $(wc -l < "$f") times"; return 1; }
    done
    [ "$(ls "$T/starts" | wc -l)" -eq "$N" ]
}

@test "kill -9 of one of 3 workers: the job goes on and exits 0, its command dies with it" {
    make_repo
    spec s.json wl "$(work)" "$(pfs in repo '/*')" '{"parallelism_spec": {"constant": 3}}'
    start_job s.json --json
    wait_for rank_pid 2
    w=$(rank_pid 2)
    wait_for busy "$w"
    kids=$(pgrep -P "$w" -f 'sh -c' | tr '\n' ' ')
    kill -9 "$w"
    # Its command goes with it (its keeper kills the command's group).
    wait_for all_gone $kids
    wait_job
    cat "$T/job.err" >&2
    [ "$rc" -eq 0 ]
    [ "$(jget "$j" state)" = success ]
    [ "$(counts "$j")" = "$N + 0 / $N" ]
    [ "$(jget "$j" lost_workers)" -eq 1 ]
    $PY -c 'import json,sys; l=json.loads(sys.argv[1])["lost"]; assert l[0]["rank"] == 2, l; assert "died" in l[0]["reason"], l' "$j"
    at_most_twice
    [ "$(tree wl)" = "$(scratch_tree s.json)" ]
    grep -q "worker rank 2 on .* lost (its process died)" "$T/job.err"
    # On record in the manifest: inspect-job (text and JSON), list-job
    # --json, and the lost_workers table as h5py reads it.
    id=$(jget "$j" job_id)
    run dr inspect-job s.json "$id"
    [ "$status" -eq 0 ]
    [[ "$output" == *"Lost workers: 1"* ]]
    [[ "$output" == *"rank 2 on "*": its process died (at "* ]]
    run dr inspect-job s.json "$id" --json
    [ "$status" -eq 0 ]
    [ "$(pyget "$output" 'j["lost_workers"]')" -eq 1 ]
    [ "$(pyget "$output" '(j["lost"][0]["rank"], j["lost"][0]["reason"])')" = "(2, 'its process died')" ]
    run dr list-job s.json --json
    [ "$(pyget "$output" '[(x["lost_workers"], [l["rank"] for l in x["lost"]]) for x in j]')" = "[(1, [2])]" ]
    l=$(h5 .datumrun/wl --lost-workers)
    [ "$(pyget "$l" '[(x["job"], x["rank"], x["reason"]) for x in j]')" = "[('$id', 2, 'its process died')]" ]
    [ "$(pyget "$l" 'j[0]["host"] == "'"$(hostname)"'"')" = True ]
    start_job s.json --reprocess
    wait_job
    [ "$rc" -eq 0 ]
}

@test "a stopped worker (SIGSTOP) is lost within worker_timeout and killed; the job completes" {
    make_repo
    spec s.json wl "$(work)" "$(pfs in repo '/*')" \
        '{"parallelism_spec": {"constant": 3}, "worker_timeout": "5s"}'
    start_job s.json
    wait_for rank_pid 1
    w=$(rank_pid 1)
    wait_for busy "$w"
    kill -STOP "$w"
    wait_job
    cat "$T/job.err" >&2
    [ "$rc" -eq 0 ]
    grep -q "1 worker lost (rank 1 on .*: no heartbeat for [0-9]*s)" "$T/job.out"
    grep -q "killed rank 1" "$T/job.err"
    gone "$w"
    at_most_twice
    [ "$(tree wl)" = "$(scratch_tree s.json)" ]
}

@test "a stopped worker rank 0 cannot kill (as on another node) is killed by its keeper, and its command" {
    make_repo
    spec s.json wl "$(work)" "$(pfs in repo '/*')" \
        '{"parallelism_spec": {"constant": 3}, "worker_timeout": "3s"}'
    # Rank 0 treats every worker as remote: no pid checks, no kill.
    DATUMRUN_TEST_REMOTE_WORKERS=1 start_job s.json
    wait_for rank_pid 1
    w=$(rank_pid 1)
    wait_for busy "$w"
    kids=$(pgrep -P "$w" -f 'sh -c' | tr '\n' ' ')
    kill -STOP "$w"
    wait_job
    cat "$T/job.err" >&2
    [ "$rc" -eq 0 ]
    grep -q "1 worker lost (rank 1 on .*: no heartbeat for [0-9]*s)" "$T/job.out"
    ! grep -q "killed rank 1" "$T/job.err"
    grep -q "datumrun\[keeper\]: worker pid $w silent for [0-9]*s (stopped or hung): killed" "$T/job.err"
    wait_for gone "$w"
    wait_for all_gone $kids
    at_most_twice
    [ "$(tree wl)" = "$(scratch_tree s.json)" ]
}

@test "a worker whose MPI communication fails (a message over the protocol limit) is lost, with the reason; the job goes on" {
    make_repo
    spec s.json wl "$(work)" "$(pfs in repo '/*')" '{"parallelism_spec": {"constant": 3}}'
    # Test hook: rank 2 sends, after its first result, a message over the
    # wire protocol's size limit; rank 0's checked receive refuses it.
    DATUMRUN_TEST_MPI_FAULT=2 start_job s.json --json
    wait_job
    cat "$T/job.err" >&2
    [ "$rc" -eq 0 ]
    [ "$(jget "$j" state)" = success ]
    [ "$(counts "$j")" = "$N + 0 / $N" ]
    [ "$(jget "$j" lost_workers)" -eq 1 ]
    $PY -c 'import json,sys; l=json.loads(sys.argv[1])["lost"]; assert l[0]["rank"] == 2, l; assert l[0]["reason"].startswith("MPI_Mrecv from rank 2: a 1048577-byte message"), l' "$j"
    grep -q "worker rank 2 on .* lost (MPI_Mrecv from rank 2: a 1048577-byte message (tag 4), over the wire protocol's 1048576-byte limit)" "$T/job.err"
    at_most_twice
    [ "$(tree wl)" = "$(scratch_tree s.json)" ]
    [ "$(pyget "$(h5 .datumrun/wl --lost-workers --journal)" '[x["rank"] for x in j]')" = "[2]" ]
}

@test "SIGTERM of one worker: it leaves, the others finish the job (no livelock)" {
    make_repo
    spec s.json wl "$(work)" "$(pfs in repo '/*')" '{"parallelism_spec": {"constant": 3}}'
    start_job s.json --json
    wait_for rank_pid 3
    w=$(rank_pid 3)
    wait_for busy "$w"
    kill -TERM "$w"
    wait_job
    cat "$T/job.err" >&2
    [ "$rc" -eq 0 ]
    [ "$(jget "$j" state)" = success ]
    [ "$(counts "$j")" = "$N + 0 / $N" ]
    [ "$(jget "$j" failed)" -eq 0 ]
    grep -q "worker rank 3 on .* was told to stop" "$T/job.err"
    at_most_twice
    [ "$(tree wl)" = "$(scratch_tree s.json)" ]
}

@test "SIGTERM of the worker running a long datum: cut short after --grace, interrupted, not an attempt; another worker does it" {
    make_repo
    # f01's first start runs long and tells which worker runs it.
    spec s.json wl 'b=$(basename "$in"); if [ $b = f01 ] && mkdir "'"$T"'/once" 2>/dev/null; then echo $PPID > "'"$T"'/slow.tmp"; mv "'"$T"'/slow.tmp" "'"$T"'/slow"; sleep 60; fi; cp "$in" "$DATUMRUN_OUT/"' \
        "$(pfs in repo '/*')" '{"parallelism_spec": {"constant": 2}, "datum_tries": 1}'
    start_job s.json --json --grace 1
    wait_for test -s "$T/slow"
    w=$(cat "$T/slow")
    kill -TERM "$w"
    wait_job
    cat "$T/job.err" >&2
    [ "$rc" -eq 0 ]
    [ "$(counts "$j")" = "$N + 0 / $N" ]
    [ "$(jget "$j" failed)" -eq 0 ]
    grep -q "interrupted" "$T/job.out" "$T/job.err"
    [ "$(tree wl)" = "$(scratch_tree s.json)" ]
}

@test "every worker killed: the job is killed (exit 1) and the next run does the rest" {
    make_repo
    spec s.json wl "$(work)" "$(pfs in repo '/*')" '{"parallelism_spec": {"constant": 2}}'
    start_job s.json --json
    wait_for rank_pid 1
    wait_for rank_pid 2
    w1=$(rank_pid 1); w2=$(rank_pid 2)
    wait_for busy "$w1"
    kill -9 "$w1" "$w2"
    wait_job
    cat "$T/job.err" >&2
    [ "$rc" -eq 1 ]
    [ "$(jget "$j" state)" = killed ]
    [ "$(jget "$j" lost_workers)" -eq 2 ]
    done_before=$(jget "$j" processed)
    [ "$done_before" -lt "$N" ]
    run dr run s.json --json
    [ "$status" -eq 0 ]
    j=$(last_json)
    [ "$(counts "$j")" = "$((N - done_before)) + $done_before / $N" ]
    [ "$(tree wl)" = "$(scratch_tree s.json)" ]
}

@test "a datum whose command kills its worker fails at datum_crash_limit; the rest succeeds" {
    make_repo
    spec s.json wl 'if [ "$(basename "$in")" = f05 ]; then kill -9 $PPID; sleep 5; fi; cp "$in" "$DATUMRUN_OUT/"' \
        "$(pfs in repo '/*')" '{"parallelism_spec": {"constant": 3}, "datum_crash_limit": 2}'
    run dr run s.json --json
    echo "$output" >&2
    [ "$status" -eq 1 ]
    j=$(last_json)
    [ "$(jget "$j" state)" = failure ]
    [ "$(jget "$j" failed)" -eq 1 ]
    [ "$(jget "$j" processed)" -eq $((N - 1)) ]
    [ "$(jget "$j" lost_workers)" -eq 2 ]
    [[ "$output" == *"the worker running it was lost 2 times (datum_crash_limit 2)"* ]]
    [ ! -e wl/f05 ]
    # the datum given up is on record as failed (list-datum, the next run)
    run dr list-datum s.json --json
    [ "$status" -eq 0 ]
    [ "$(pyget "$output" '[x["entries"][0]["path"] for x in j if x["state"] == "failed"]')" = "['/f05']" ]
}

@test "datum_tries beyond 255: a datum that always fails stops after exactly that many attempts" {
    mkdir repo; echo a > repo/a; echo b > repo/b
    spec s.json wl 'echo x >> "'"$T"'/starts/$(basename "$in")"; [ "$(basename "$in")" = b ] || exit 3; cp "$in" "$DATUMRUN_OUT/"' \
        "$(pfs in repo '/*')" '{"parallelism_spec": {"constant": 1}, "datum_tries": 300}'
    run dr run s.json --json -q
    [ "$status" -eq 1 ]
    j=$(last_json)
    [ "$(jget "$j" failed)" -eq 1 ]
    [ "$(jget "$j" processed)" -eq 1 ]
    [ "$(wc -l < "$T/starts/a")" -eq 300 ]
    d=$(h5 .datumrun/wl --datums)
    [ "$(pyget "$d" 'sorted((x["inputs"][0], x["state"], x["attempts"]) for x in j)')" = "[('in:/a', 'failed', 300), ('in:/b', 'success', 1)]" ]
    a=$(h5 .datumrun/wl --attempts)
    [ "$(pyget "$a" 'sorted(x["attempt"] for x in j if x["outcome"] == "failed")[-1]')" -eq 300 ]
}

@test "children a command detaches (setsid, nohup) are killed when its datum ends" {
    mkdir repo; echo a > repo/a; echo b > repo/b
    spec s.json wl 'setsid sleep 300 & echo $! > "'"$T"'/pids/$(basename "$in").setsid"; nohup sleep 300 >/dev/null 2>&1 & echo $! > "'"$T"'/pids/$(basename "$in").nohup"; cp "$in" "$DATUMRUN_OUT/"' \
        "$(pfs in repo '/*')" '{"parallelism_spec": {"constant": 1}}'
    run dr run s.json --json
    [ "$status" -eq 0 ]
    [ "$(ls "$T/pids" | wc -l)" -eq 4 ]
    for f in "$T"/pids/*; do wait_for gone "$(cat "$f")"; done
}

@test "a datum longer than worker_timeout keeps its worker: a busy worker sends heartbeats" {
    mkdir repo; echo a > repo/a
    spec s.json hb 'sleep 8; cp "$in" "$DATUMRUN_OUT/"' "$(pfs in repo '/*')" \
        '{"parallelism_spec": {"constant": 1}, "worker_timeout": "4s", "worker_heartbeat": "0.5s"}'
    run dr run s.json --json
    echo "$output" >&2
    [ "$status" -eq 0 ]
    j=$(last_json)
    [ "$(jget "$j" lost_workers)" -eq 0 ]
    [ "$(counts "$j")" = "1 + 0 / 1" ]
    [ "$(tree hb)" = "$(scratch_tree s.json)" ]
}

@test "a timed-out command that traps TERM and exits 0 still fails" {
    mkdir repo; echo a > repo/a
    spec s.json wl "trap 'exit 0' TERM; sleep 30 & wait" "$(pfs in repo '/*')" \
        '{"datum_timeout": "1s", "datum_tries": 1}'
    run dr run s.json --json
    echo "$output" >&2
    [ "$status" -eq 1 ]
    j=$(last_json)
    [ "$(jget "$j" failed)" -eq 1 ]
    [ "$(jget "$j" processed)" -eq 0 ]
    # the sleep it left behind is gone too
    ! pgrep -f "^sleep 30$" -P 1 >/dev/null || true
}

@test "a stop cuts a running datum short: interrupted, not failed; the next run does only what is left" {
    mkdir repo
    for i in 1 2 3 4 5 6; do echo "$i" > "repo/f$i"; done
    touch "$T/slow"
    # f1 and f2 are quick; the others run until the job_timeout stop.
    spec s.json wl 'case "$(basename "$in")" in f1|f2) ;; *) [ -e "'"$T"'/slow" ] && sleep 60;; esac; cp "$in" "$DATUMRUN_OUT/"' \
        "$(pfs in repo '/*')" '{"parallelism_spec": {"constant": 2}, "job_timeout": "4s"}'
    run dr run s.json --json --grace 1
    echo "$output" >&2
    [ "$status" -eq 1 ]
    j=$(last_json)
    [ "$(jget "$j" state)" = killed ]
    [ "$(jget "$j" failed)" -eq 0 ]
    [ "$(jget "$j" processed)" -eq 2 ]
    [[ "$output" == *"interrupted by the stop"* ]]
    run dr list-datum s.json --json
    [ "$status" -eq 0 ]
    n=$($PY -c 'import json,sys; d=json.loads(sys.argv[1]); d=d.get("datums", d) if isinstance(d, dict) else d; print(sum(1 for x in d if x["state"] == "interrupted"))' "$output")
    [ "$n" -ge 1 ]
    rm "$T/slow"
    run dr run s.json --json
    [ "$status" -eq 0 ]
    j=$(last_json)
    [ "$(counts "$j")" = "4 + 2 / 6" ]
    [ "$(tree wl)" = "$(scratch_tree s.json)" ]
}

@test "kill -9 of rank 0: the workers leave within worker_timeout, their commands die, the next run does the rest" {
    make_repo
    spec s.json wl 'echo x >> "'"$T"'/starts/$(basename "$in")"; sleep 1; cp "$in" "$DATUMRUN_OUT/"' \
        "$(pfs in repo '/*')" \
        '{"parallelism_spec": {"constant": 2}, "worker_timeout": "4s", "worker_heartbeat": "1s"}'
    start_job s.json --json
    wait_for rank_pid 0
    r0=$(rank_pid 0)
    wait_for rank_pid 1
    w=$(rank_pid 1)
    wait_for busy "$w"
    kids=$(pgrep -P "$w" -f 'sh -c' | tr '\n' ' ')
    kill -9 "$r0"
    # Nothing tells the workers (Open MPI 4.1 without ULFM): rank 0's
    # silence does; they leave, and their commands go with them.
    wait_for all_gone $kids
    wait_for gone "$w"
    wait_job
    cat "$T/job.err" >&2
    [ "$rc" -eq 1 ]
    grep -q "rank 0 sent nothing for [0-9]*s (worker_timeout): it is lost" "$T/job.err"
    # the launcher records the job killed (not left "running")
    run dr list-job s.json --json
    [ "$status" -eq 0 ]
    [ "$(pyget "$output" '[x["state"] for x in j]')" = "['killed']" ]
    # what was recorded stays; the next run does only the rest
    n=$(ls wl | wc -l)
    [ "$n" -lt "$N" ]
    start_job s.json --json
    wait_job
    [ "$rc" -eq 0 ]
    [ "$(jget "$j" state)" = success ]
    [ "$(( $(jget "$j" processed) + $(jget "$j" skipped) ))" -eq "$N" ]
    [ "$(tree wl)" = "$(scratch_tree s.json)" ]
}

@test "the whole job suspended past worker_timeout and resumed: nobody is lost, the job completes" {
    make_repo
    spec s.json wl "$(work)" "$(pfs in repo '/*')" \
        '{"parallelism_spec": {"constant": 2}, "worker_timeout": "3s", "worker_heartbeat": "1s"}'
    start_job s.json --json
    wait_for rank_pid 2
    wait_for busy "$(rank_pid 2)"
    # what scontrol suspend does: every process of the job stopped at once
    pids=$(pgrep -s "$SID" | tr '\n' ' ')
    kill -STOP $pids
    sleep 6
    kill -CONT $pids
    wait_job
    cat "$T/job.err" >&2
    [ "$rc" -eq 0 ]
    [ "$(jget "$j" state)" = success ]
    [ "$(counts "$j")" = "$N + 0 / $N" ]
    [ "$(jget "$j" lost_workers)" -eq 0 ]
    ! grep -q "it is lost" "$T/job.err"
    [ "$(tree wl)" = "$(scratch_tree s.json)" ]
}

@test "campaign run on Ctrl-C stops its pipeline gracefully and prints its table" {
    mkdir -p repo specs out/double
    for i in 1 2 3 4 5 6; do echo "$i" > "repo/f$i"; done
    $PY - "$T" <<'SPECS'
import json, sys
t = sys.argv[1]
cmd_double = 'echo x >> %s/started; sleep 2; echo $(($(cat "$in") * 2)) > "$DATUMRUN_OUT/$(basename "$in")"' % t
cmd_sum = "cat pfs/d/* | awk '{s+=$1} END {print s}' > \"$DATUMRUN_OUT/total\""
json.dump({"pipeline": {"name": "double"},
           "transform": {"cmd": ["sh", "-c", cmd_double]},
           "input": {"pfs": {"name": "in", "repo": "../repo", "glob": "/*"}},
           "output": "../out/double", "parallelism_spec": {"constant": 2}},
          open("specs/b_double.json", "w"))
json.dump({"pipeline": {"name": "sum"},
           "transform": {"cmd": ["sh", "-c", cmd_sum]},
           "input": {"pfs": {"name": "d", "repo": "../out/double", "glob": "/"}},
           "output": "../out/sum", "parallelism_spec": {"constant": 1}},
          open("specs/a_sum.json", "w"))
SPECS
    rm -f "$T/sid"
    # timeout --foreground: without it timeout relays the SIGINT to its
    # whole group, so the launcher would get two (a Ctrl-C pressed twice:
    # stop at once), or one when they merge: a flaky test.
    setsid sh -c 'echo $$ > "$0/sid"; exec "$@"' "$T" \
        timeout --foreground -k 10 300 "$DATUMRUN" campaign run specs >"$T/c.out" 2>"$T/c.err" &
    JOB=$!
    wait_for test -s "$T/sid"
    SID=$(cat "$T/sid")
    wait_for test -s "$T/started"
    # Ctrl-C: SIGINT to the terminal's foreground process group.
    kill -INT -- "-$SID"
    rc=0; wait "$JOB" || rc=$?
    SID=
    cat "$T/c.err" >&2
    [ "$rc" -eq 1 ]
    grep -q "^double .*failure" "$T/c.out"
    grep -q "^sum .*not run (stopped)" "$T/c.out"
    grep -q "stopped (signal) after 'double'" "$T/c.err"
    run dr list-job specs/b_double.json --json
    [ "$status" -eq 0 ]
    [ "$(pyget "$output" 'j[0]["state"]')" = killed ]
    # what it finished is recorded: the next campaign run completes
    run dr campaign run specs
    [ "$status" -eq 0 ]
    [ "$(cat out/sum/total)" -eq 42 ]
}
