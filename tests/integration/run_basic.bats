#!/usr/bin/env bats
# The foundation: real mpirun jobs with 1, 2 and 4 workers, outputs, counts,
# exit codes, failing and retried datums, collisions, dynamic balancing.

load helpers

setup() { common_setup; }
teardown() { common_teardown; }

make_repo() { # make_repo N: files f1..fN holding their number
    mkdir -p repo
    for i in $(seq 1 "$1"); do echo "$i" > "repo/f$i"; done
}

square='n=$(cat "$in"); echo $((n * n)) > "$DATUMRUN_OUT/$(basename "$in").sq"'

@test "1, 2 and 4 workers produce the same outputs and counts" {
    make_repo 12
    for w in 1 2 4; do
        spec s$w.json sq$w "$square" "$(pfs in repo '/*')" "{\"parallelism_spec\": {\"constant\": $w}}"
        run dr run s$w.json --json
        [ "$status" -eq 0 ]
        j=$(last_json)
        [ "$(counts "$j")" = "12 + 0 / 12" ]
        [ "$(jget "$j" workers)" -eq "$w" ]
        [ "$(jget "$j" state)" = success ]
        [ "$(cat sq$w/f7.sq)" = 49 ]
        [ "$(ls sq$w | wc -l)" -eq 12 ]
    done
    [ "$(tree sq1)" = "$(tree sq4)" ]
}

@test "-n overrides parallelism_spec and the summary line is Pachyderm's" {
    make_repo 3
    spec s.json sq "$square" "$(pfs in repo '/*')" '{"parallelism_spec": {"constant": 1}}'
    run dr run s.json -n 2
    [ "$status" -eq 0 ]
    [[ "$output" =~ job\ [0-9a-f]{8}\ success:\ 3\ processed\ \+\ 0\ skipped\ /\ 3\ total,\ 0\ failed,\ DL\ [0-9.]+[KMG]?i?B,\ UL\ [0-9.]+[KMG]?i?B, ]]
    run dr run s.json -n 2 --json
    [ "$(jget "$(last_json)" workers)" -eq 2 ]
}

@test "the command sees the pfs sandbox and the documented environment" {
    mkdir -p repo/dirA && echo x > repo/dirA/inner && echo y > repo/top
    cmd='{ pwd; ls pfs/in/dirA; echo "in=$in"; echo "out=$DATUMRUN_OUT"; echo "id=$DATUMRUN_DATUM_ID"; echo "job=$DATUMRUN_JOB_ID"; echo "pipe=$DATUMRUN_PIPELINE"; echo "k=$K"; cat; env | grep -c "^OMPI_" || true; } > "$DATUMRUN_OUT/$(basename "$in").env"'
    spec s.json envp "$cmd" "$(pfs in repo '/*')" '{"transform": {"env": {"K": "V"}, "stdin": ["line one", "line two"]}}'
    run dr run s.json --json
    [ "$status" -eq 0 ]
    f=envp/dirA.env
    grep -qx "in=$T/repo/dirA" $f
    grep -q "^out=.*/pfs/out$" $f
    grep -qE "^id=[0-9a-f]{32}$" $f
    grep -qx "job=$(jget "$(last_json)" job_id)" $f
    grep -qx "pipe=envp" $f
    grep -qx "k=V" $f
    grep -qx "line one" $f && grep -qx "line two" $f
    grep -qx "inner" $f            # pfs/in/dirA/inner is visible
    [ "$(tail -n 1 $f)" = 0 ]      # no OMPI_ variables leak into the command
    # the sandbox is gone afterwards
    [ ! -d .datumrun/envp/sandbox/1 ] || [ -z "$(ls .datumrun/envp/sandbox/1)" ]
}

@test "a failing datum fails the job with exit 1 after datum_tries attempts" {
    make_repo 4
    cmd='echo attempt >> "'$T'/attempts.$(basename "$in")"; [ "$(basename "$in")" != f3 ] || { echo boom >&2; exit 3; }; cp "$in" "$DATUMRUN_OUT/"'
    spec s.json failing "$cmd" "$(pfs in repo '/*')" '{"datum_tries": 2}'
    run dr run s.json --json
    [ "$status" -eq 1 ]
    j=$(last_json)
    [ "$(jget "$j" state)" = failure ]
    [ "$(jget "$j" failed)" -eq 1 ]
    [ "$(jget "$j" processed)" -eq 3 ]
    [ "$(wc -l < attempts.f3)" -eq 2 ]
    [ "$(wc -l < attempts.f1)" -eq 1 ]
    [[ "$output" =~ "failed after 2 attempts" ]]
    [[ "$output" =~ "in:/f3" ]]
    # its stderr is in the datum's log file
    grep -rq boom .datumrun/failing/logs/
    # a rerun retries only the failed datum
    run dr run s.json --json
    [ "$(counts "$(last_json)")" = "0 + 3 / 4" ]
}

@test "a flaky datum succeeds on retry and a crash by signal never kills the rank" {
    make_repo 3
    cmd='b=$(basename "$in"); if [ "$b" = f2 ] && [ ! -e "'$T'/flaked" ]; then touch "'$T'/flaked"; kill -SEGV $$; fi; cp "$in" "$DATUMRUN_OUT/"'
    spec s.json flaky "$cmd" "$(pfs in repo '/*')"
    run dr run s.json --json
    [ "$status" -eq 0 ]
    [ "$(counts "$(last_json)")" = "3 + 0 / 3" ]
    [ -e flaked ]
    [ -f flaky/f2 ]
    [[ "$output" =~ "attempt 1/3 failed" ]]
}

@test "err_cmd recovers a datum that keeps failing" {
    make_repo 2
    spec s.json rec 'test "$(basename "$in")" = f1' "$(pfs in repo '/*')" \
        '{"datum_tries": 1, "transform": {"err_cmd": ["true"]}}'
    run dr run s.json --json
    [ "$status" -eq 0 ]
    [ "$(jget "$(last_json)" recovered)" -eq 1 ]
    [ "$(jget "$(last_json)" state)" = success ]
}

@test "datum_timeout is per datum: six 1 s datums on one worker under a 5 s timeout all succeed" {
    make_repo 6
    spec s.json per 'sleep 1; cp "$in" "$DATUMRUN_OUT/"' "$(pfs in repo '/*')" \
        '{"parallelism_spec": {"constant": 1}, "datum_timeout": "5s", "datum_tries": 1}'
    run dr run s.json --json
    echo "$output" >&2
    [ "$status" -eq 0 ]
    [ "$(counts "$(last_json)")" = "6 + 0 / 6" ]
}

@test "datum_timeout kills a hung command and fails the datum" {
    make_repo 2
    spec s.json slow '[ "$(basename "$in")" = f1 ] && sleep 60; true' "$(pfs in repo '/*')" \
        '{"datum_timeout": "1s", "datum_tries": 1}'
    run dr run s.json --json
    [ "$status" -eq 1 ]
    # not waited for: killed, so `true` never ran and the datum failed
    [ "$(jget "$(last_json)" failed)" -eq 1 ]
    grep -rq "datum timed out: killed" .datumrun/slow/logs
}

@test "two datums writing one path fail the job, naming both and the path" {
    make_repo 3
    spec s.json coll 'echo "$in" > "$DATUMRUN_OUT/same.txt"; cp "$in" "$DATUMRUN_OUT/"' "$(pfs in repo '/*')"
    run dr run s.json
    [ "$status" -eq 1 ]
    [[ "$output" =~ "output collision" ]]
    [[ "$output" =~ "same.txt" ]]
    [ "$(printf '%s\n' "$output" | grep collision | grep -o 'in:/f[0-9]' | sort -u | wc -l)" -ge 2 ]
    # the first writer's file is intact and whole
    grep -q "^$T/repo/f[0-9]$" coll/same.txt
    # the losing datums' other outputs are not left behind
    [ "$(ls coll | grep -c '^f')" -eq 1 ]
}

@test "uneven datums spread across workers dynamically" {
    mkdir -p repo
    echo 3 > repo/a_long
    for i in $(seq 1 12); do echo 0.1 > repo/b$i; done
    spec s.json uneven 'sleep "$(cat "$in")"; echo $PPID > "$DATUMRUN_OUT/$(basename "$in")"' \
        "$(pfs in repo '/*')" '{"parallelism_spec": {"constant": 2}}'
    run dr run s.json --json
    [ "$status" -eq 0 ]
    long_worker=$(cat uneven/a_long)
    n_long=$(cat uneven/* | grep -cx "$long_worker")
    # the worker stuck on the long datum ran it and at most its reserve
    [ "$n_long" -le 2 ]
    [ "$(cat uneven/* | sort -u | wc -l)" -eq 2 ]
}

@test "a bad spec exits 2 and writes nothing" {
    make_repo 1
    echo '{"pipeline": {"name": "x"}, "transform": {"cmd": ["true"]},' > bad.json
    echo '  "input": {"pfs": {"repo": "repo", "glob": "/*"}}, }' >> bad.json
    run dr run bad.json
    [ "$status" -eq 2 ]
    [[ "$output" =~ bad.json:2:[0-9]+: ]]
    spec s.json x true "$(pfs in missing '/*')"
    run dr run s.json
    [ "$status" -eq 2 ]
    [[ "$output" =~ "missing" ]]
    spec s2.json x true "$(pfs in repo '/*')" '{"paralellism_spec": {"constant": 1}}'
    run dr run s2.json
    [ "$status" -eq 2 ]
    [[ "$output" =~ "paralellism_spec" ]]
    spec s3.json x true "$(pfs in repo '/*')" '{"parallelism_spec": {"constant": 1, "coefficient": 1}}'
    run dr run s3.json
    [ "$status" -eq 2 ]
    [ ! -e .datumrun ] && [ ! -e x ]
    run dr run
    [ "$status" -eq 2 ]
    run dr frobnicate
    [ "$status" -eq 2 ]
}

@test "a glob that matches nothing gives a job with zero datums" {
    make_repo 2
    spec s.json none true "$(pfs in repo '/nothing/*')"
    run dr run s.json --json
    [ "$status" -eq 0 ]
    [ "$(counts "$(last_json)")" = "0 + 0 / 0" ]
}

@test "inside mpirun it uses the ranks it was given; extra ranks idle" {
    make_repo 4
    spec s.json inw "$square" "$(pfs in repo '/*')" '{"parallelism_spec": {"constant": 2}}'
    run timeout 120 env OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1 \
        mpirun -n 4 --oversubscribe "$DATUMRUN" run s.json --json
    [ "$status" -eq 0 ]
    [ "$(jget "$(last_json)" workers)" -eq 2 ]
    [[ "$output" =~ "stay idle" ]]
}

@test "each datum starts in a fresh sandbox, whatever the last one left" {
    mkdir -p repo
    for i in 1 2 3 4; do echo "$i" > "repo/f$i"; done
    cmd='b=$(basename "$in"); seen=$(echo "root: $(ls -A . | tr "\n" " ")"; echo "pfs: $(ls -A pfs | tr "\n" " ")"; echo "in: $(ls -A pfs/in | tr "\n" " ")"; echo "out: $(ls -A pfs/out | tr "\n" " ")"); echo "$seen" > "$DATUMRUN_OUT/$b.seen"; touch junk pfs/junk pfs/in/junk; mkdir -p deep/er; echo x > deep/er/file'
    spec s.json fresh "$cmd" "$(pfs in repo '/*')" '{"parallelism_spec": {"constant": 1}}'
    run dr run s.json --json
    [ "$status" -eq 0 ]
    for i in 1 2 3 4; do
        grep -qx "root: pfs " fresh/f$i.seen
        grep -qx "pfs: in out " fresh/f$i.seen
        grep -qx "in: f$i " fresh/f$i.seen
        grep -qx "out: " fresh/f$i.seen
    done
    # the job leaves no sandbox behind
    [ -z "$(find .datumrun/fresh/sandbox -mindepth 1 2>/dev/null)" ]
}
