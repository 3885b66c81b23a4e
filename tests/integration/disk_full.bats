#!/usr/bin/env bats
# A full disk under the output and state folders: the job stops with a
# message naming what could not be written, nothing recorded is lost, and
# once there is room the rerun does only the rest.  Needs root (mount).

load helpers

setup() {
    common_setup
    MNT="$T/tiny"
    mkdir -p "$MNT"
    mount -t tmpfs -o size=300k tmpfs "$MNT"
}

teardown() {
    umount "$MNT" 2>/dev/null || true
    common_teardown
}

@test "a full disk stops the job clearly; the rerun keeps what was recorded" {
    mkdir -p repo
    for i in $(seq 1 40); do echo "$i" > "repo/f$i"; done
    spec s.json full 'head -c 20000 /dev/zero > "$DATUMRUN_OUT/$(basename "$in")"' \
        "$(pfs in repo '/*')" "{\"output\": \"$MNT/out\", \"parallelism_spec\": {\"constant\": 2}}"
    run dr run s.json --state "$MNT/state" --json
    [ "$status" -eq 1 ]
    [[ "$output" =~ "No space left on device" ]]
    first=$(jget "$(last_json)" processed)
    [ "$first" -ge 1 ] && [ "$first" -lt 40 ]
    mount -o remount,size=4M "$MNT"
    run dr run s.json --state "$MNT/state" --json
    [ "$status" -eq 0 ]
    [ "$(jget "$(last_json)" skipped)" -eq "$first" ]
    [ "$(jget "$(last_json)" processed)" -eq $((40 - first)) ]
    [ "$(ls "$MNT/out" | wc -l)" -eq 40 ]
}

@test "the job's final checkpoint hits a full disk: said clearly, nothing lost" {
    mkdir -p repo
    for i in $(seq -w 1 20); do echo "$i" > "repo/f$i"; done
    # One worker takes the datums in order; the last one fills the state
    # folder's disk but for 12 KiB: its journal record still fits, the
    # final checkpoint's new manifest does not.
    spec s.json ck 'touch "$DATUMRUN_OUT/$(basename "$in")"
        if [ "$(basename "$in")" = f20 ]; then
            a=$(df --output=avail -B1 "$STATE" | tail -n 1)
            fallocate -l $((a - 12288)) "$STATE/filler"
        fi' "$(pfs in repo '/*')" \
        "{\"output\": \"$MNT/out\", \"parallelism_spec\": {\"constant\": 1}, \"transform\": {\"env\": {\"STATE\": \"$MNT/state\"}}}"
    run dr run s.json --state "$MNT/state" --json
    echo "$output"
    [ -e "$MNT/state/filler" ]
    [[ "$output" == *"manifest.h5.tmp"*"No space left on device"* ]]
    [[ "$output" == *"the journal keeps every result"* ]]
    [ "$(jget "$(last_json)" processed)" -eq 20 ]
    # manifest.h5 is the one from before the job; the journal has it all
    [ -s "$MNT/state/manifest.h5" ] && [ -s "$MNT/state/journal" ]
    [ ! -e "$MNT/state/manifest.h5.tmp" ]
    run h5 "$MNT/state" --summary
    [ "$status" -eq 0 ]
    rm "$MNT/state/filler"
    run dr run s.json --state "$MNT/state" --json
    [ "$status" -eq 0 ]
    [ "$(counts "$(last_json)")" = "0 + 20 / 20" ]
    [ "$(ls "$MNT/out" | wc -l)" -eq 20 ]
}
