#!/usr/bin/env bats
# Seeing a job (issue 11): every attempt in the manifest (read back with
# h5py), inspect-datum's attempts, `datumrun logs`, `list-datum --status`.

load helpers

setup() { common_setup; }
teardown() { common_teardown; }

# h5 STATE_DIR MODE: the independent h5py reader.
h5() { $PY "$READ_MANIFEST" "$@"; }

# pyget JSON EXPR: evaluate EXPR with j = the parsed JSON.
pyget() { $PY -c 'import json,sys; j=json.loads(sys.argv[1]); print(eval(sys.argv[2]))' "$1" "$2"; }

# Four datums: f1 f2 succeed, f3 fails on its first try only (a flag file
# marks the retry), f4 fails every time (datum_tries 3); f2 writes nothing.
seed() {
    mkdir R
    for i in 1 2 3 4; do echo "$i" > "R/f$i"; done
    spec s.json wa 'b=$(basename "$in"); case $b in
        f1) echo "hello $b"; echo "note $b" >&2;;
        f2) ;;
        f3) fl="$(dirname "$in")/../flag"; if [ -e "$fl" ]; then echo "second $b"; else touch "$fl"; echo "first $b"; echo "oops $b" >&2; exit 4; fi;;
        f4) echo "try $b"; echo "bad $b" >&2; exit 7;;
        esac; cp "$in" "$DATUMRUN_OUT/"' "$(pfs in R '/*')" '{"datum_tries": 3}'
    run dr run s.json -n 2 --json
    [ "$status" -eq 1 ]
    J=$(jget "$(last_json)" job_id)
    DATUMS=$(h5 .datumrun/wa --datums)
}

# did NAME: the datum id of input file NAME
did() { pyget "$DATUMS" "[d['id'] for d in j if d['inputs'] == ['in:/$1']][0]"; }

@test "every attempt is in the manifest: h5py reads datum, attempt, rank, host, start, duration, exit, outcome" {
    seed
    A=$(h5 .datumrun/wa --attempts)
    [ "$(pyget "$A" 'len(j)')" -eq 7 ]          # 1 + 1 + 2 + 3
    [ "$(h5 .datumrun/wa --summary | $PY -c 'import json,sys; print(json.load(sys.stdin)["version"])')" -eq 2 ]
    f3=$(did f3) f4=$(did f4)
    [ "$(pyget "$A" "[(a['attempt'], a['outcome'], a['exit_status']) for a in j if a['datum'] == '$f3']")" = "[(1, 'failed', 4), (2, 'success', 0)]" ]
    [ "$(pyget "$A" "[a['outcome'] for a in j if a['datum'] == '$f4']")" = "['failed', 'failed', 'failed']" ]
    [ "$(pyget "$A" "sorted(set(a['job'] for a in j))")" = "['$J']" ]
    [ "$(pyget "$A" "all(a['rank'] in (1, 2) and a['host'] == '$(hostname)' and a['start_ns'] > 0 and a['duration_s'] > 0 and a['term_signal'] == 0 for a in j)")" = True ]
    # a rerun adds the attempts of what it processes; the old ones stay
    run dr run s.json -n 2 --json
    A2=$(h5 .datumrun/wa --attempts)
    [ "$(pyget "$A2" 'len(j)')" -eq 10 ]       # f4 three times more
}

@test "inspect-datum lists the attempts and names only log files that exist" {
    seed
    f2=$(did f2) f3=$(did f3)
    run dr inspect-datum s.json "${J:0:6}" "${f3:0:8}"
    [ "$status" -eq 0 ]
    [[ "$output" =~ "Attempts (all jobs, oldest first):" ]]
    [[ "$output" =~ ${J:0:8}\ +1\ +failed\ .*\ 4\ +rank\ [12]\ on ]]
    [[ "$output" =~ ${J:0:8}\ +2\ +success\ .*\ 0\ +rank\ [12]\ on ]]
    [[ "$output" =~ "$T/.datumrun/wa/logs/$J/$f3.err" ]]
    run dr inspect-datum s.json "${J:0:6}" "$f3" --json
    [ "$(pyget "$output" "[(h['attempt'], h['outcome']) for h in j['history']]")" = "[(1, 'failed'), (2, 'success')]" ]
    # f2 wrote nothing: no log files are named
    run dr inspect-datum s.json "$J" "$f2"
    [[ "$output" =~ "Logs: none (the command wrote no output)" ]]
    ! [[ "$output" =~ "$f2.err" ]]
    run dr inspect-datum s.json "$J" "$f2" --json
    [ "$(pyget "$output" 'j["stderr_log"], j["stdout_log"]')" = "(None, None)" ]
}

@test "the final error line names the failed datum's existing logs" {
    seed
    f4=$(did f4)
    [[ "$output" =~ "failed after 3 attempts: exit 7; log $T/.datumrun/wa/logs/$J/$f4.err and $T/.datumrun/wa/logs/$J/$f4.out" ]]
    # a datum that fails without a word: no log is named
    mkdir Q && echo x > Q/a
    spec q.json quiet 'exit 5' "$(pfs in Q '/*')" '{"datum_tries": 1}'
    run dr run q.json
    [ "$status" -eq 1 ]
    [[ "$output" =~ "failed after 1 attempts: exit 5; the command wrote no output" ]]
}

@test "logs prints a datum's stdout and stderr, one attempt with --attempt, another job with --job" {
    seed
    f1=$(did f1) f2=$(did f2) f3=$(did f3)
    run dr logs s.json "${f1:0:8}"
    [ "$status" -eq 0 ]
    [[ "$output" =~ "==> $T/.datumrun/wa/logs/$J/$f1.out (stdout) <==" ]]
    [[ "$output" =~ "hello f1" ]] && [[ "$output" =~ "note f1" ]]
    run dr logs s.json "$f3" --attempt 1
    [ "$status" -eq 0 ]
    [[ "$output" =~ "first f3" ]] && [[ "$output" =~ "oops f3" ]]
    ! [[ "$output" =~ "second f3" ]]
    run dr logs s.json "$f3" --attempt 2
    [[ "$output" =~ "second f3" ]]
    ! [[ "$output" =~ "first f3" ]] && ! [[ "$output" =~ "oops" ]]
    run dr logs s.json "$f3" --attempt 3 --job "${J:0:5}"
    [ "$status" -eq 2 ] && [[ "$output" =~ "has 2 attempts in job ${J:0:8}, not 3" ]]
    run dr logs s.json "$f2"
    [ "$status" -eq 0 ] && [[ "$output" =~ "the command wrote no output (no log files)" ]]
    # an older job by --job: f4 runs again in job 2, job 1's logs stay
    run dr run s.json -n 2 --json
    J2=$(jget "$(last_json)" job_id)
    f4=$(did f4)
    run dr logs s.json "$f4" --job "$J"
    [[ "$output" =~ "logs/$J/$f4.err" ]]
    run dr logs s.json "$f4"
    [[ "$output" =~ "logs/$J2/$f4.err" ]]
    run dr logs s.json zzzz
    [ "$status" -eq 2 ] && [[ "$output" =~ "no datum 'zzzz'" ]]
    run dr logs s.json "$f4" --attempt 0
    [ "$status" -eq 2 ]
}

@test "list-datum --status filters by state, one or several" {
    seed
    run dr list-datum s.json --status failed
    [ "$status" -eq 0 ]
    [ "${#lines[@]}" -eq 2 ] && [[ "${lines[1]}" =~ failed\ .*in:/f4 ]]
    run dr list-datum s.json "${J:0:6}" --status success --json
    [ "$(pyget "$output" 'sorted(d["inputs"] for d in j)')" = "['in:/f1', 'in:/f2', 'in:/f3']" ]
    run dr list-datum s.json --status success,failed --json
    [ "$(pyget "$output" 'len(j)')" -eq 4 ]
    run dr run s.json -n 2 --json          # f4 fails again, the rest skip
    run dr list-datum s.json --status skipped --json
    [ "$(pyget "$output" 'len(j)')" -eq 3 ]
    run dr list-datum s.json --status nosuch
    [ "$status" -eq 2 ] && [[ "$output" =~ "--status: 'nosuch' is not one of pending, success, failed, recovered, skipped" ]]
}
