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
