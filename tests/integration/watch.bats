#!/usr/bin/env bats
# Seeing a job (issue 11): every attempt in the manifest (read back with
# h5py), inspect-datum's attempts, `datumrun logs`, `list-datum --status`.

load helpers

setup() { common_setup; }
teardown() {
    [ -n "${BG:-}" ] && kill "$BG" 2>/dev/null; wait 2>/dev/null
    common_teardown
}

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

# ---------------------------------------------------------------- live view

# slow_spec FILE NAME N SECONDS [EXTRA]: N datums that each sleep SECONDS;
# f2 fails (once, datum_tries 1) when FAIL2 is set in the spec's env.
slow_spec() {
    local file=$1 name=$2 n=$3 secs=$4 extra=${5:-}
    mkdir -p "R$name"
    for i in $(seq 1 "$n"); do echo "$i" > "R$name/f$i"; done
    spec "$file" "$name" "sleep $secs; case \$(basename \"\$in\") in f2) [ -n \"\$FAIL2\" ] && { echo bad >&2; exit 3; };; esac; cp \"\$in\" \"\$DATUMRUN_OUT/\"" \
        "$(pfs in "R$name" '/*')" "${extra:-{\"datum_tries\": 1\}}"
}

# render FILE: what a terminal shows after FILE's bytes (\r returns to the
# line's start, ESC[K erases to its end, other escapes are dropped).
render() {
    $PY - "$1" <<'PYEOF'
import re, sys
data = open(sys.argv[1], "rb").read().decode("utf-8", "replace")
lines, cur, col = [], [], 0
for tok in re.findall(r"\x1b\[K|\x1b\[[0-9;?]*[A-Za-z]|\r|\n|[^\r\n\x1b]+|\x1b", data):
    if tok == "\n":
        lines.append("".join(cur)); cur, col = [], 0
    elif tok == "\r":
        col = 0
    elif tok == "\x1b[K":
        del cur[col:]
    elif tok.startswith("\x1b"):
        pass
    else:
        for ch in tok:
            if col < len(cur): cur[col] = ch
            else: cur.append(ch)
            col += 1
if cur: lines.append("".join(cur))
print("\n".join(lines))
PYEOF
}

# tty_run LOG ARGS...: datumrun ARGS on a real terminal (script), its
# terminal output in LOG.
tty_run() {
    local log=$1; shift
    local cmd="stty cols 200 2>/dev/null; exec $DATUMRUN"
    for a in "$@"; do cmd="$cmd $(printf '%q' "$a")"; done
    timeout -k 10 300 script -qfec "$cmd" "$log" > /dev/null
}

@test "on a terminal run redraws one status line in place and the summary stays whole" {
    slow_spec s.json tt 6 0.8 '{"datum_tries": 1, "transform": {"env": {"FAIL2": "1"}}}'
    run tty_run "$T/tty.log" run s.json -n 2
    [ "$status" -eq 1 ]
    # the line was drawn (and redrawn) with \r ... ESC[K, counting datums
    grep -aq $'\r[0-9]*/6 [0-9.]*% | [0-9]* processed, 0 skipped, [01] failed | .*/s | .*, ETA .* | [0-9]* running, 0 lost\e\[K' tty.log
    [ "$(grep -ao $'\e\[K' tty.log | wc -l)" -ge 2 ]
    # what the terminal shows: the messages and the summary, whole; no
    # status line left behind
    render tty.log > shown.txt
    cat shown.txt
    grep -Eq '^job [0-9a-f]{8} failure: 5 processed \+ 0 skipped / 6 total, 1 failed, DL [^ ]+, UL [^ ]+, [0-9.]+m?s$' shown.txt
    grep -Eq "^datumrun\[rank 0\]: error: datum [0-9a-f]{12} \(in:/f2\) failed after 1 attempts: exit 3; log $T/.datumrun/tt/logs/[0-9a-f]{32}/[0-9a-f]{32}.err" shown.txt
    ! grep -q ' running, .* lost' shown.txt
    grep -A1 -E '^job [0-9a-f]{8} failure' shown.txt | tail -n 1 | grep -qx "outputs: $T/tt"
}

@test "on a terminal -q hides the line, and --json stays one intact JSON line" {
    slow_spec s.json tq 4 0.5
    run tty_run "$T/q.log" run s.json -n 2 -q
    [ "$status" -eq 0 ]
    ! grep -aq $'\e\[K' q.log
    render q.log | grep -Eq '^job [0-9a-f]{8} success: 4 processed'
    run tty_run "$T/j.log" run s.json -n 2 --reprocess --json
    [ "$status" -eq 0 ]
    render j.log > shown.txt
    [ "$(grep -c '^{' shown.txt)" -eq 1 ]
    $PY -c 'import json,sys; j=json.loads([l for l in open(sys.argv[1]) if l.startswith("{")][0]); assert j["processed"] == 4, j' shown.txt
}

@test "not on a terminal: a progress line every --progress-interval, a line per failed attempt with its log" {
    slow_spec s.json pl 5 0.8 '{"datum_tries": 2, "transform": {"env": {"FAIL2": "1"}}}'
    run dr run s.json -n 1 --progress-interval 1
    [ "$status" -eq 1 ]
    echo "$output"
    [ "$(grep -Ec '^datumrun\[rank 0\]: info: progress: [0-9]+/5 [0-9.]+% \| [0-9]+ processed, 0 skipped, [0-9]+ failed \| [0-9.]+/s \| .*, ETA .* \| [01] running, 0 lost$' <<< "$output")" -ge 2 ]
    ! grep -q $'\e' <<< "$output"
    # each failed attempt, with the log that holds its output
    grep -Eq "attempt 1/2 failed \(non-zero exit\); retrying; log $T/.datumrun/pl/logs/[0-9a-f]{32}/[0-9a-f]{32}.err" <<< "$output"
    grep -Eq "failed after 2 attempts: exit 3; log $T/.datumrun/pl/logs/" <<< "$output"
    # the default interval (60 s) prints none in a short job; 0 none at all
    run dr run s.json -n 1 --reprocess
    ! grep -q 'progress:' <<< "$output"
    # -q: none either
    run dr run s.json -n 1 --reprocess -q --progress-interval 1
    ! grep -q 'progress:' <<< "$output"
}

@test "status --json from another shell while a job runs; list-job and inspect-job show live counts" {
    slow_spec s.json st 6 1.5
    ( dr run s.json -n 1 > run.out 2>&1 ) &
    BG=$!
    # poll until the job is running and one datum is done (never a fixed sleep)
    live=""
    for i in $(seq 1 240); do
        out=$(dr status s.json --json) || true
        if [ "$(pyget "$out" 'j.get("live") and j.get("done", 0) >= 1')" = True ]; then live=$out; break; fi
        sleep 0.25
    done
    [ -n "$live" ]
    [ "$(pyget "$live" 'j["state"], j["total"], j["workers_in_use"], j["workers_lost"]')" = "('running', 6, 1, 0)" ]
    [ "$(pyget "$live" 'j["running"] == 1 and j["workers"][0]["state"] == "busy" and j["workers"][0]["inputs"].startswith("in:/f")')" = True ]
    [ "$(pyget "$live" 'j["eta_s"] is not None and j["eta_s"] > 0 and j["rate"] > 0')" = True ]
    [ "$(pyget "$live" 'len(j["slowest_running"]) == 1 and j["slowest_running"][0]["running_s"] >= 0')" = True ]
    run dr status s.json
    [ "$status" -eq 0 ]
    [[ "$output" =~ "pipeline st: job ${live:11:8} running" ]] || [[ "$output" =~ "pipeline st: job" ]]
    [[ "$output" =~ RANK\ +HOST\ +STATE ]]
    # list-job and inspect-job count what is done so far, not 0
    run dr list-job s.json --json
    [ "$(pyget "$output" 'j[0]["state"] == "running" and j[0]["processed"] >= 1')" = True ]
    J=$(pyget "$output" 'j[0]["job_id"]')
    run dr inspect-job s.json "${J:0:8}"
    [[ "$output" =~ "State: running" ]]
    ! [[ "$output" =~ "Datums: 0 processed" ]]
    wait "$BG"; BG=""
    grep -q "success: 6 processed" run.out
    # afterwards: not running, the last job's final state
    run dr status s.json --json
    [ "$(pyget "$output" 'j["live"], j["state"], j["done"]')" = "(False, 'success', 6)" ]
    run dr status s.json
    [[ "$output" =~ "no job running; the last one" ]] && [[ "$output" =~ ": success" ]]
    # --watch returns once the job is not running
    run timeout 60 "$DATUMRUN" status s.json --watch
    [ "$status" -eq 0 ]
}
