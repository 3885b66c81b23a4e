#!/usr/bin/env bats
# A rerun with nothing to do finishes in the launcher, without mpirun: the
# same summary and JSON, the job recorded in the manifest (h5py reads it
# with the journal), and every case that needs the MPI job still gets it.

load helpers

setup() { common_setup; }
teardown() { common_teardown; }

cp_cmd='cp "$in" "$DATUMRUN_OUT/$(basename "$in")"'

# A PATH without mpirun: a run that needs it fails to start.
nompi_path() {
    mkdir -p "$T/bin"
    for t in sh cp cat mkdir rm ls basename dirname env; do
        ln -sf "$(command -v $t)" "$T/bin/$t"
    done
    echo "$T/bin"
}

@test "a skip-all rerun needs no mpirun and prints the usual summary and JSON" {
    mkdir repo && for i in 1 2 3; do echo $i > repo/f$i; done
    spec s.json fp "$cp_cmd" "$(pfs in repo '/*')" '{"parallelism_spec": {"constant": 2}}'
    run dr run s.json --json
    [ "$status" -eq 0 ]
    [ "$(counts "$(last_json)")" = "3 + 0 / 3" ]
    p=$(nompi_path)
    run env PATH="$p" "$DATUMRUN" run s.json --json
    [ "$status" -eq 0 ]
    j=$(last_json)
    [ "$(counts "$j")" = "0 + 3 / 3" ]
    [ "$(jget "$j" state)" = success ]
    [ "$(jget "$j" workers)" -eq 2 ]
    jid=$(jget "$j" job_id)
    run env PATH="$p" "$DATUMRUN" run s.json
    [ "$status" -eq 0 ]
    [[ "$output" =~ job\ [0-9a-f]{8}\ success:\ 0\ processed\ \+\ 3\ skipped\ /\ 3\ total,\ 0\ failed ]]
    [[ "$output" == *"outputs: $T/fp"* ]]
    # Recorded like any job: list-job, inspect-job, and h5py with the journal.
    run dr list-job s.json --json
    [ "$status" -eq 0 ]
    [[ "$output" == *"$jid"* ]]
    run dr inspect-job s.json "$jid" --json
    [ "$status" -eq 0 ]
    [ "$(jget "$output" skipped)" -eq 3 ]
    run $PY "$READ_MANIFEST" .datumrun/fp --jobs --journal
    [ "$status" -eq 0 ]
    [[ "$output" == *"$jid"* ]]
    [ -f .datumrun/fp/logs/$jid/job.log ]
    [ "$(tree fp)" = "$(tree repo)" ]
}

@test "work, vanished datums, a crash's leftovers and --reprocess still start the MPI job" {
    mkdir repo && for i in 1 2 3; do echo $i > repo/f$i; done
    spec s.json fp "$cp_cmd" "$(pfs in repo '/*')" '{"parallelism_spec": {"constant": 2}}'
    run dr run s.json
    [ "$status" -eq 0 ]
    p=$(nompi_path)
    # A new file: there is work, and without mpirun the launcher says so.
    echo 4 > repo/f4
    run env PATH="$p" "$DATUMRUN" run s.json
    [ "$status" -eq 2 ]
    [[ "$output" == *"mpirun not found"* ]]
    run dr run s.json --json
    [ "$(counts "$(last_json)")" = "1 + 3 / 4" ]
    # A vanished datum: its output must go.
    rm repo/f1
    run env PATH="$p" "$DATUMRUN" run s.json
    [ "$status" -eq 2 ]
    run dr run s.json --json
    [ "$status" -eq 0 ]
    [ ! -e fp/f1 ]
    # Inflight outputs of a crashed run: rank 0 cleans them.
    mkdir -p .datumrun/fp/inflight/1
    run env PATH="$p" "$DATUMRUN" run s.json
    [ "$status" -eq 2 ]
    run dr run s.json --json
    [ "$status" -eq 0 ]
    [ "$(counts "$(last_json)")" = "0 + 3 / 3" ]
    [ ! -e .datumrun/fp/inflight ]
    # --reprocess always runs.
    run env PATH="$p" "$DATUMRUN" run s.json --reprocess
    [ "$status" -eq 2 ]
    # And with nothing left to do, no mpirun again.
    run env PATH="$p" "$DATUMRUN" run s.json --json
    [ "$status" -eq 0 ]
    [ "$(counts "$(last_json)")" = "0 + 3 / 3" ]
    [ "$(tree fp)" = "$(tree repo)" ]
}

@test "a touched input file is rehashed and still skipped without mpirun" {
    mkdir repo && echo a > repo/f1
    spec s.json fp "$cp_cmd" "$(pfs in repo '/*')"
    run dr run s.json
    [ "$status" -eq 0 ]
    touch -d '2020-01-01' repo/f1
    # the stat cache keeps no file changed (mtime or ctime) in the last 2 s
    sleep 2.2
    p=$(nompi_path)
    run env PATH="$p" "$DATUMRUN" run s.json --json
    [ "$status" -eq 0 ]
    [ "$(counts "$(last_json)")" = "0 + 1 / 1" ]
    # The new stat was folded into the HDF5 file: no journal left.
    run $PY "$READ_MANIFEST" .datumrun/fp --summary
    [[ "$output" == *'"journal_bytes": 0'* ]]
}

@test "a job a kill -9 left running still starts the MPI job (which closes it as killed), with nothing left to do" {
    mkdir repo && echo 1 > repo/f1
    spec s.json fp '[ "$(basename "$in")" = f2 ] && { touch "'"$T"'/started"; sleep 60; }; cp "$in" "$DATUMRUN_OUT/"' \
        "$(pfs in repo '/*')" '{"parallelism_spec": {"constant": 1}}'
    run dr run s.json
    [ "$status" -eq 0 ]
    # f2 runs until the whole job is killed; nothing was moved into place
    echo 2 > repo/f2
    setsid sh -c 'echo $$ > "$0/sid"; exec "$@"' "$T" \
        timeout -k 10 300 "$DATUMRUN" run s.json >"$T/killed.out" 2>&1 &
    local i sid
    for i in $(seq 600); do [ -e "$T/started" ] && break; sleep 0.1; done
    [ -e "$T/started" ]
    sid=$(cat "$T/sid")
    pkill -9 -s "$sid"
    for i in $(seq 600); do pgrep -s "$sid" >/dev/null || break; sleep 0.1; done
    ! pgrep -s "$sid" >/dev/null
    # f2 leaves the input: every datum is skipped, but the job the kill
    # left running is rank 0's to close.  No in-flight list was written
    # (a kill before any output moved leaves none, or an empty folder).
    rm repo/f2
    [ -z "$(find .datumrun/fp/inflight -type f 2>/dev/null)" ]
    rm -rf .datumrun/fp/inflight
    p=$(nompi_path)
    run env PATH="$p" "$DATUMRUN" run s.json
    [ "$status" -eq 2 ]
    [[ "$output" == *"mpirun not found"* ]]
    run dr run s.json --json
    [ "$status" -eq 0 ]
    [ "$(counts "$(last_json)")" = "0 + 1 / 1" ]
    run dr list-job s.json --json
    [ "$(pyget "$output" '",".join(x["state"] for x in j)')" = "success,killed,success" ]
}
