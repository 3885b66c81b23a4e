#!/usr/bin/env bats
# On a workstation: core binding visible to the command, SIGTERM to a
# running job, node-count parallelism and `datumrun info`.

load helpers

setup() { common_setup; }
teardown() { common_teardown; }

make_repo() { mkdir -p repo; for i in $(seq 1 "$1"); do echo "$i" > "repo/f$i"; done; }

# cpus_of FILE: the list taskset printed ("pid N's current affinity list: 0")
cpus_of() { sed 's/.*list: //' "$1"; }

@test "workers bind their commands to distinct cores; --bind none does not" {
    [ "$(nproc)" -ge 2 ] || skip "needs 2 cores"
    make_repo 8
    spec s.json bind 'sleep 0.2; taskset -cp $$ > "$DATUMRUN_OUT/$(basename "$in")"' \
        "$(pfs in repo '/*')" '{"parallelism_spec": {"constant": 2}}'
    run dr run s.json --json
    [ "$status" -eq 0 ]
    lists=$(for f in bind/*; do cpus_of "$f"; done | sort -u)
    # each command saw exactly one core, and the two workers different ones
    [ "$(printf '%s\n' "$lists" | wc -l)" -eq 2 ]
    for l in $lists; do [[ "$l" =~ ^[0-9]+$ ]]; done
    rm -rf bind .datumrun
    run dr run s.json --json --bind none
    [ "$status" -eq 0 ]
    all=$(taskset -cp $$ | sed 's/.*list: //')
    for f in bind/*; do [ "$(cpus_of "$f")" = "$all" ]; done
}

@test "SIGTERM stops dispatch, records what finished, marks the job killed" {
    make_repo 30
    spec s.json term 'sleep 0.4; cp "$in" "$DATUMRUN_OUT/"' "$(pfs in repo '/*')" \
        '{"parallelism_spec": {"constant": 2}}'
    timeout 120 "$DATUMRUN" run s.json --json > first.json 2> first.err &
    pid=$!
    for t in $(seq 1 100); do
        [ "$(ls term 2>/dev/null | wc -l)" -ge 4 ] && break
        sleep 0.1
    done
    kill -TERM $pid
    wait $pid && rc=0 || rc=$?
    cat first.err
    [ "$rc" -eq 1 ]
    j=$(grep '^{' first.json)
    [ "$(jget "$j" state)" = killed ]
    n=$(jget "$j" processed)
    [ "$n" -ge 4 ] && [ "$n" -lt 30 ]
    [ "$(ls term | wc -l)" -eq "$n" ]
    run dr run s.json --json
    [ "$status" -eq 0 ]
    [ "$(counts "$(last_json)")" = "$((30 - n)) + $n / 30" ]
}

# start_slow_job NAME: 30 datums of 0.4 s on 2 workers started in the
# background (pid in $pid, JSON in first.json, stderr in first.err),
# returning once two outputs are in NAME/.
start_slow_job() {
    make_repo 30
    spec s.json "$1" 'sleep 0.4; cp "$in" "$DATUMRUN_OUT/"' "$(pfs in repo '/*')" \
        '{"parallelism_spec": {"constant": 2}}'
    "$DATUMRUN" run s.json --json > first.json 2> first.err &
    pid=$!
    for t in $(seq 1 100); do
        [ "$(ls "$1" 2>/dev/null | wc -l)" -ge 2 ] && break
        sleep 0.1
    done
}

@test "a signal passed on twice at once (as timeout(1) does) is one graceful stop" {
    start_slow_job dup
    # the copy comes after the first was handled, well within a second
    /usr/bin/python3 -c 'import os, sys, time, signal
p = int(sys.argv[1]); os.kill(p, signal.SIGTERM); time.sleep(0.1); os.kill(p, signal.SIGTERM)' "$pid"
    wait $pid && rc=0 || rc=$?
    cat first.err
    [ "$rc" -eq 1 ]
    ! grep -q "ended abnormally" first.err
    j=$(grep '^{' first.json)
    [ "$(jget "$j" state)" = killed ]
    n=$(jget "$j" processed)
    [ "$n" -ge 2 ]
    [ "$(ls dup | wc -l)" -eq "$n" ]
}

@test "kill -9 of the launcher alone: the MPI job stops gracefully, records what finished, the rerun does the rest" {
    start_slow_job orph
    mp=$(pgrep -P "$pid" mpirun)
    [ -n "$mp" ]
    kill -9 "$pid"
    wait "$pid" || true
    # mpirun and its ranks end on their own (within the grace period)
    for t in $(seq 1 600); do kill -0 "$mp" 2>/dev/null || break; sleep 0.1; done
    ! kill -0 "$mp" 2>/dev/null
    run dr list-job s.json --json
    [ "$status" -eq 0 ]
    [ "$(pyget "$output" 'j[0]["state"]')" = killed ]
    n=$(pyget "$output" 'j[0]["processed"]')
    [ "$n" -ge 2 ] && [ "$n" -lt 30 ]
    run dr run s.json --json
    [ "$status" -eq 0 ]
    [ "$(counts "$(last_json)")" = "$((30 - n)) + $n / 30" ]
}

@test "job_timeout stops the job like a signal" {
    make_repo 20
    spec s.json jt 'sleep 0.5; cp "$in" "$DATUMRUN_OUT/"' "$(pfs in repo '/*')" \
        '{"parallelism_spec": {"constant": 2}, "job_timeout": "2s"}'
    run dr run s.json --json --grace 5
    [ "$status" -eq 1 ]
    [ "$(jget "$(last_json)" state)" = killed ]
    [ "$(jget "$(last_json)" processed)" -lt 20 ]
}

@test "coefficient parallelism scales with --nodes" {
    make_repo 4
    spec s.json coef true "$(pfs in repo '/*')" '{"parallelism_spec": {"coefficient": 1.5}}'
    run dr run s.json --json --nodes 2
    [ "$status" -eq 0 ]
    [ "$(jget "$(last_json)" workers)" -eq 3 ]
    [ "$(jget "$(last_json)" nodes)" -eq 2 ]
    spec s2.json coef2 true "$(pfs in repo '/*')" '{"parallelism_spec": {"coefficient": 0.5}}'
    run dr run s2.json --json
    [ "$(jget "$(last_json)" workers)" -eq 1 ]
    SLURM_JOB_NUM_NODES=4 run dr run s.json --json --reprocess
    [ "$(jget "$(last_json)" workers)" -eq 6 ]
}

@test "datumrun info shows the topology and where the node count came from" {
    run dr info
    [ "$status" -eq 0 ]
    [[ "$output" =~ "nodes:     1 (from default)" ]]
    [[ "$output" =~ [0-9]+\ packages?,\ [0-9]+\ NUMA ]]
    run dr info --json
    [ "$(jget "$output" cores)" -eq "$(lscpu -p=core | grep -v '^#' | sort -u | wc -l)" ]
    SLURM_JOB_NUM_NODES=3 run dr info --json
    [ "$(jget "$output" nodes)" -eq 3 ]
    [ "$(jget "$output" nodes_source)" = slurm ]
}
