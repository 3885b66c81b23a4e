#!/usr/bin/env bats
# Inspection (issue 3): list-job, inspect-job, list-datum, inspect-datum
# and plan (the dry run), with unique-prefix IDs and --json, checked against
# the jobs' own JSON and against h5py's reading of the manifest.

load helpers

setup() { common_setup; }
teardown() {
    [ -n "${BG:-}" ] && kill "$BG" 2>/dev/null; wait 2>/dev/null
    common_teardown
}

# seed: repo R, glob /*: add F1, add F2, change F1 (three jobs).  F2's
# command writes to stdout and stderr; sets J1 J2 J3 (job IDs).
seed() {
    mkdir R
    spec s.json ip 'echo "hello $(basename "$in")"; echo "warn $(basename "$in")" >&2; mkdir -p "$DATUMRUN_OUT/o"; cp "$in" "$DATUMRUN_OUT/o/"' \
        "$(pfs in R '/*')"
    echo one > R/F1
    run dr run s.json --json; [ "$status" -eq 0 ]; J1=$(jget "$(last_json)" job_id)
    echo two > R/F2
    run dr run s.json --json; [ "$status" -eq 0 ]; J2=$(jget "$(last_json)" job_id)
    echo ONE! > R/F1
    run dr run s.json --json; [ "$status" -eq 0 ]; J3=$(jget "$(last_json)" job_id)
}

# datum_id INPUT_PATH: the ID of the datum of that input (h5py).
datum_id() {
    pyget "$(h5 .datumrun/ip --datums)" "[d['id'] for d in j if d['inputs'] == ['in:$1']][0]"
}

@test "list-job: newest first, columns ID STARTED DURATION PROGRESS DL UL STATE" {
    seed
    run dr list-job s.json
    [ "$status" -eq 0 ]
    lines_=("${lines[@]}")
    [[ "${lines_[0]}" =~ ^ID\ +STARTED\ +DURATION\ +PROGRESS\ +DL\ +UL\ +STATE$ ]]
    [ "${#lines_[@]}" -eq 4 ]
    [[ "${lines_[1]}" =~ ^$J3\ +[0-9]+\ seconds\ ago\ +[0-9.]+m?s\ +1\ \+\ 1\ /\ 2\ +5B\ +5B\ +success$ ]]
    [[ "${lines_[2]}" =~ ^$J2\ .*\ 1\ \+\ 1\ /\ 2\ .*\ success$ ]]
    [[ "${lines_[3]}" =~ ^$J1\ .*\ 1\ \+\ 0\ /\ 1\ .*\ success$ ]]
    # the columns line up: PROGRESS starts at the same column everywhere
    col=$(printf '%s\n' "${lines_[0]}" | awk '{print index($0, "PROGRESS")}')
    for l in 1 2 3; do
        [ "$(printf '%s\n' "${lines_[$l]}" | cut -c"$col")" = 1 ]
    done
    run dr list-job s.json --json
    [ "$status" -eq 0 ]
    [ "$(pyget "$output" '[x["job_id"] for x in j]')" = "['$J3', '$J2', '$J1']" ]
    [ "$(pyget "$output" '["%d + %d / %d" % (x["processed"], x["skipped"], x["total"]) for x in j]')" = \
      "['1 + 1 / 2', '1 + 1 / 2', '1 + 0 / 1']" ]
    # the same as h5py reads
    [ "$(pyget "$(h5 .datumrun/ip --jobs)" '[x["id"] for x in j[::-1]]')" = "['$J3', '$J2', '$J1']" ]
}

@test "inspect-job: by unique prefix, with --json; unknown and ambiguous prefixes exit 2" {
    seed
    run dr inspect-job s.json "${J2:0:6}"
    [ "$status" -eq 0 ]
    [[ "$output" =~ "ID: $J2" ]]
    [[ "$output" =~ "State: success" ]]
    [[ "$output" =~ "Datums: 1 processed + 1 skipped / 2 total, 0 failed, 0 recovered" ]]
    [[ "$output" =~ "Logs: $T/.datumrun/ip/logs/$J2/" ]]
    [ -d ".datumrun/ip/logs/$J2" ]
    run dr inspect-job s.json "${J2:0:6}" --json
    [ "$status" -eq 0 ]
    [ "$(pyget "$output" '(j["job_id"], j["processed"], j["skipped"], j["total"], j["state"])')" = \
      "('$J2', 1, 1, 2, 'success')" ]
    [ "$(pyget "$output" 'j["pipeline_hash"]')" = "$(pyget "$(h5 .datumrun/ip --jobs)" 'j[1]["pipeline_hash"]')" ]
    run dr inspect-job s.json "$J2"                # the full ID works too
    [ "$status" -eq 0 ]
    run dr inspect-job s.json ffffffffffffffffffff
    [ "$status" -eq 2 ]
    [[ "$output" =~ "no job 'ffffffffffffffffffff'" ]]
    run dr inspect-job s.json ""                   # matches all three
    [ "$status" -eq 2 ]
    [[ "$output" =~ "ambiguous job" ]]
    # usage errors exit 2 with the usage (and never crash)
    run dr inspect-job s.json
    [ "$status" -eq 2 ]
    [[ "$output" =~ "usage: datumrun inspect-job SPEC JOB" ]]
    run dr inspect-datum s.json "${J2:0:6}"
    [ "$status" -eq 2 ]
    [[ "$output" =~ "usage: datumrun inspect-datum SPEC JOB DATUM" ]]
    run dr list-job s.json --bogus
    [ "$status" -eq 2 ]
    [[ "$output" =~ "unknown option '--bogus'" ]]
    run dr plan s.json extra
    [ "$status" -eq 2 ]
}

@test "list-datum: the latest job by default, an older one by prefix, --json" {
    seed
    f1=$(datum_id /F1); f2=$(datum_id /F2)
    run dr list-datum s.json
    [ "$status" -eq 0 ]
    [[ "${lines[0]}" =~ ^ID\ +STATE\ +TIME\ +VERSION\ +INPUTS$ ]]
    [ "${#lines[@]}" -eq 3 ]
    printf '%s\n' "$output" | grep -Eq "^$f1  success +[0-9.]+m?s +v1 +in:/F1$"
    printf '%s\n' "$output" | grep -Eq "^$f2  skipped +- +v1 +in:/F2$"
    run dr list-datum s.json --json
    [ "$(pyget "$output" 'sorted((x["inputs"], x["state"]) for x in j)')" = \
      "[('in:/F1', 'success'), ('in:/F2', 'skipped')]" ]
    # job 2 processed F2; F1 was processed again by job 3 since
    run dr list-datum s.json "${J2:0:5}"
    [ "$status" -eq 0 ]
    printf '%s\n' "$output" | grep -Eq "^$f2  success .* in:/F2$"
    ! printf '%s\n' "$output" | grep -q "in:/F1"
    [[ "$output" =~ "1 more datums were processed by later jobs" ]]
    run dr list-datum s.json "${J2:0:5}" --json
    [ "$(pyget "$output" '[(x["id"], x["state"]) for x in j]')" = "[('$f2', 'success')]" ]
    # job 1's only datum was processed again later
    run dr list-datum s.json "${J1:0:5}" --json
    [ "$output" = "[]" ]
    run dr list-datum s.json nope
    [ "$status" -eq 2 ]
}

@test "inspect-datum: state, attempts, hashes, worker, timings, bytes, logs and outputs" {
    seed
    f1=$(datum_id /F1); f2=$(datum_id /F2)
    run dr inspect-datum s.json "${J3:0:4}" "${f2:0:6}"
    [ "$status" -eq 0 ]
    [[ "$output" =~ "ID: $f2" ]]
    [[ "$output" =~ "State: skipped" ]]            # in job 3
    [[ "$output" =~ "Processed by job: $J2" ]]
    run dr inspect-datum s.json "${J2:0:4}" "${f2:0:6}" --json
    [ "$status" -eq 0 ]
    d=$output
    h5d=$(pyget "$(h5 .datumrun/ip --datums)" "[x for x in j if x['id'] == '$f2'][0]")
    [ "$(pyget "$d" 'j["state"]')" = success ]
    [ "$(pyget "$d" 'j["attempts"]')" -eq 1 ]
    [ "$(pyget "$d" 'j["hash"]')" = "$($PY -c "print($h5d['hash'])")" ]
    [ "$(pyget "$d" 'j["rank"]')" -eq 1 ]
    [ "$(pyget "$d" 'j["host"]')" = "$(hostname)" ]
    [ "$(pyget "$d" 'j["bytes_in"]')" -eq 4 ] && [ "$(pyget "$d" 'j["bytes_out"]')" -eq 4 ]
    [ "$(pyget "$d" 'j["duration_s"] > 0 and j["start_ns"] > 0')" = True ]
    [ "$(pyget "$d" 'j["outputs"]')" = "['o/F2']" ]
    [ "$(pyget "$d" 'j["exit_status"]')" -eq 0 ]
    # the log paths are real files holding the command's output
    grep -qx "hello F2" "$(pyget "$d" 'j["stdout_log"]')"
    grep -qx "warn F2" "$(pyget "$d" 'j["stderr_log"]')"
    # the text form shows the same, with absolute output paths
    run dr inspect-datum s.json "${J2:0:4}" "${f2:0:6}"
    [[ "$output" =~ "Attempts: 1" ]]
    [[ "$output" =~ "Worker: rank 1 on $(hostname)" ]]
    [[ "$output" =~ "Data in: 4B" ]] && [[ "$output" =~ "Data out: 4B" ]]
    [[ "$output" =~ "Exit status: 0" ]]
    [[ "$output" =~ "  in:/F2" ]]
    [[ "$output" =~ "  $T/.datumrun/ip/logs/$J2/$f2.err" ]]
    [[ "$output" =~ "  $T/ip/o/F2" ]] && [ -f "$T/ip/o/F2" ]
    [[ "$output" =~ Started:\ [0-9]{4}-[0-9]{2}-[0-9]{2}\ [0-9:]{8} ]]
    [[ "$output" =~ Duration:\ [0-9.]+m?s ]]
    # F1 was processed again by job 3: job 1 no longer knows it
    run dr inspect-datum s.json "${J1:0:4}" "${f1:0:6}"
    [ "$status" -eq 2 ]
    [[ "$output" =~ "processed by a later job, ${J3:0:8}" ]]
    run dr inspect-datum s.json "${J3:0:4}" ""
    [ "$status" -eq 2 ]
    [[ "$output" =~ "ambiguous datum" ]]
    run dr inspect-datum s.json "${J3:0:4}" 0000zz
    [ "$status" -eq 2 ]
    [[ "$output" =~ "no datum '0000zz'" ]]
}

@test "inspect-datum of a failed, retried datum: attempts, exit status and its stderr log" {
    mkdir R; echo x > R/ok; echo x > R/bad
    spec s.json fl '[ "$(basename "$in")" = bad ] && { echo "it broke" >&2; exit 7; }; cp "$in" "$DATUMRUN_OUT/"' \
        "$(pfs in R '/*')" '{"datum_tries": 2}'
    run dr run s.json --json
    [ "$status" -eq 1 ]
    J=$(jget "$(last_json)" job_id)
    bad=$(pyget "$(h5 .datumrun/fl --datums)" "[d['id'] for d in j if d['inputs'] == ['in:/bad']][0]")
    run dr inspect-datum s.json "${J:0:5}" "${bad:0:5}" --json
    [ "$status" -eq 0 ]
    [ "$(pyget "$output" '(j["state"], j["attempts"], j["exit_status"], j["signal"], j["outputs"])')" = \
      "('failed', 2, 7, 0, [])" ]
    [ "$(grep -c "it broke" "$(pyget "$output" 'j["stderr_log"]')")" -eq 2 ]
    run dr list-datum s.json --json
    [ "$(pyget "$output" 'sorted((x["inputs"], x["state"]) for x in j)')" = \
      "[('in:/bad', 'failed'), ('in:/ok', 'success')]" ]
    run dr list-job s.json
    [[ "${lines[1]}" =~ \ 1\ \+\ 0\ /\ 2\ .*failure$ ]]
}

@test "plan is a dry run: nothing is run or written" {
    mkdir R; echo 1 > R/a; echo 2 > R/b; echo 3 > R/c
    spec s.json pl 'echo ran >> "'$T'/ran"; cp "$in" "$DATUMRUN_OUT/"' "$(pfs in R '/*')"
    # before any run: no state folder, no output folder appear
    run dr plan s.json --json
    [ "$status" -eq 0 ]
    [ "$(pyget "$output" '(j["total"], j["process"], j["skip"], j["gone"])')" = "(3, 3, 0, 0)" ]
    [ ! -e .datumrun ] && [ ! -e pl ] && [ ! -e ran ]
    run dr run s.json -q
    [ "$status" -eq 0 ]
    [ "$(wc -l < ran)" -eq 3 ]
    snapshot() { find .datumrun pl ran -printf '%p %y %s %T@ %i\n' | sort; }
    before=$(snapshot)
    sleep 0.05                                      # so that a write shows
    echo 22 > R/b; rm R/c; echo 4 > R/d
    run dr plan s.json
    [ "$status" -eq 0 ]
    [[ "${lines[0]}" =~ ^DATUM\ +ACTION\ +INPUTS$ ]]
    printf '%s\n' "$output" | grep -Eq '^[0-9a-f]{12}  skip +in:/a$'
    printf '%s\n' "$output" | grep -Eq '^[0-9a-f]{12}  process +in:/b$'
    printf '%s\n' "$output" | grep -Eq '^[0-9a-f]{12}  process +in:/d$'
    [ "${lines[-1]}" = "3 datums: 2 to process, 1 to skip; 1 gone from the input (outputs to remove)" ]
    run dr plan s.json --json
    [ "$(pyget "$output" '[(x["inputs"][0]["path"], x["action"]) for x in j["datums"]]')" = \
      "[('a', 'skip'), ('b', 'process'), ('d', 'process')]" ]
    [ "$(pyget "$output" 'len(j["datums"][0]["id"])')" -eq 32 ]
    run dr plan s.json --reprocess --json
    [ "$(pyget "$output" '(j["process"], j["skip"], j["gone"])')" = "(3, 0, 1)" ]
    # nothing under the state folder or the output folder changed, not even
    # the stat cache (plan read the new files but writes nothing), and the
    # command never ran
    [ "$(snapshot)" = "$before" ]
    [ "$(wc -l < ran)" -eq 3 ]
    # the run that follows does what the plan said
    run dr run s.json --json
    [ "$(counts "$(last_json)")" = "2 + 1 / 3" ]
}

@test "the read-only commands work while a job runs, which list-job shows running" {
    mkdir R; for i in 1 2 3 4; do echo $i > R/f$i; done
    # The datums wait for the test to say go: no race with the checks.
    # (At most 60 s, so that a failed test leaves nothing running.)
    spec s.json busy "for i in \$(seq 1200); do [ -e \"$T/go\" ] && break; sleep 0.05; done; cp \"\$in\" \"\$DATUMRUN_OUT/\"" "$(pfs in R '/*')"
    dr run s.json -q > bg.out 2>&1 &
    BG=$!
    for i in $(seq 100); do
        [ -n "$(find .datumrun/busy/journal -size +0 2>/dev/null)" ] && break
        sleep 0.05
    done
    run dr list-job s.json
    [ "$status" -eq 0 ]
    # a running job's counts so far (from its datums' records)
    [[ "${lines[1]}" =~ \ -\ +[0-4]\ \+\ 0\ /\ 4\ .*running$ ]]
    run dr plan s.json --json
    [ "$status" -eq 0 ]
    [ "$(pyget "$output" 'j["total"]')" -eq 4 ]
    run dr list-datum s.json --json
    [ "$status" -eq 0 ]
    # a second writer is refused while the first holds the lock
    run dr run s.json
    [ "$status" -ne 0 ]
    [[ "$output" =~ "is in use by another datumrun" ]]
    touch "$T/go"
    wait "$BG"; BG=
    run dr list-job s.json --json
    [ "$(pyget "$output" '(j[0]["state"], j[0]["processed"])')" = "('success', 4)" ]
}

@test "every inspection command prints one JSON document with --json" {
    seed
    f2=$(datum_id /F2)
    for args in "plan s.json" "plan s.json --reprocess" "list-job s.json" \
                "inspect-job s.json ${J1:0:7}" "list-datum s.json" \
                "list-datum s.json ${J2:0:7}" "inspect-datum s.json ${J2:0:7} ${f2:0:7}"; do
        run dr $args --json
        [ "$status" -eq 0 ]
        $PY -c 'import json,sys; json.loads(sys.stdin.read())' <<< "$output"
        [ "$(printf '%s\n' "$output" | wc -l)" -eq 1 ]
    done
}

@test "a format-2 manifest from before the lost-worker records (8-bit attempts) is read" {
    # (It records its output folder's absolute path, so it is read where
    # it is, not run again: a run in another folder rebuilds.)
    p="$DATUMRUN_SRC/tests/integration/data/manifest-v2-narrow"
    [ "$(pyget "$(h5 "$p/.datumrun/old" --summary)" '(j["version"], j["lost_workers"])')" = "(2, 0)" ]
    run dr list-job "$p/s.json" --json
    [ "$status" -eq 0 ]
    [ "$(pyget "$output" '[(x["state"], x["lost_workers"], x["lost"]) for x in j]')" = "[('success', 0, [])]" ]
    run dr inspect-job "$p/s.json" "$(pyget "$output" 'j[0]["job_id"]')"
    [ "$status" -eq 0 ]
    [[ "$output" == *"State: success"* ]]
    [[ "$output" != *"Lost workers"* ]]
    run dr list-datum "$p/s.json" --json
    [ "$status" -eq 0 ]
    [ "$(pyget "$output" 'sorted(x["state"] for x in j)')" = "['success', 'success']" ]
    # what this version writes: 32-bit attempts
    mkdir R; echo one > R/F1
    spec s.json ip 'cp "$in" "$DATUMRUN_OUT/"' "$(pfs in R '/*')"
    run dr run s.json; [ "$status" -eq 0 ]
    [ "$(h5dump -H -d datums .datumrun/ip/manifest.h5 | grep -c 'H5T_STD_U32LE "attempts"')" -eq 1 ]
    [ "$(h5 .datumrun/ip --lost-workers)" = "[]" ]
}
