#!/usr/bin/env bats
# Provenance: `datumrun why PATH` names the datum, job, pipeline version and
# input entries (with their recorded hashes, current or stale) that made an
# output, follows inputs that are another pipeline's outputs down to raw
# files, and `why --stale SPEC` lists what a rerun would redo.

load helpers

setup() {
    common_setup
    mkdir -p raw
    printf 'alpha\n' > raw/x.txt
    printf 'beta beta\n' > raw/y.txt
    # upper: raw -> upper/ ; count: upper/ -> count/
    spec upper.json upper 'tr a-z A-Z < "$raw" > "$DATUMRUN_OUT/$(basename "$raw")"' \
        "$(pfs raw raw '/*')" '{"parallelism_spec": {"constant": 2}}'
    spec count.json count 'wc -w < "$up" > "$DATUMRUN_OUT/$(basename "$up").n"' \
        "$(pfs up upper '/*')" '{"parallelism_spec": {"constant": 2}}'
    run dr run upper.json -q
    [ "$status" -eq 0 ]
    run dr run count.json -q
    [ "$status" -eq 0 ]
}

teardown() { common_teardown; }

@test "why names the datum, its job and version, and the raw inputs upstream" {
    run dr why count/x.txt.n
    echo "$output"
    [ "$status" -eq 0 ]
    [[ "$output" == *"count/x.txt.n is an output of pipeline count"* ]]
    [[ "$output" == *"upper/x.txt is an output of pipeline upper"* ]]
    [[ "$output" == *"up:/x.txt"*"current"* ]]
    [[ "$output" == *"raw:/x.txt"*"current"* ]]
    [[ "$output" != *"y.txt"* ]]

    run dr why count/x.txt.n --json
    [ "$status" -eq 0 ]
    doc=$output
    # downstream datum, as list-datum knows it
    d=$(pyget "$doc" 'j["datums"][0]["datum"]')
    run dr list-datum count.json --json
    [[ "$output" == *"$d"* ]]
    [ "$(pyget "$doc" 'j["pipeline"]')" = count ]
    [ "$(pyget "$doc" 'j["datums"][0]["outputs"]')" = "['x.txt.n']" ]
    job=$(pyget "$doc" 'j["datums"][0]["job"]')
    run dr list-job count.json --json
    [[ "$output" == *"$job"* ]]
    [ "$(pyget "$doc" 'j["datums"][0]["pipeline_hash"] is not None')" = True ]
    # the entry, its upstream datum, and the raw file with its hash
    e=$(pyget "$doc" 'json.dumps(j["datums"][0]["inputs"][0])')
    [ "$(pyget "$e" 'j["input"]')" = up ]
    [ "$(pyget "$e" 'j["path"]')" = /x.txt ]
    [ "$(pyget "$e" 'j["abs_path"]')" = "$T/upper/x.txt" ]
    [ "$(pyget "$e" 'j["status"]')" = current ]
    [ "$(pyget "$e" 'j["hash"] == j["current_hash"]')" = True ]
    [ "$(pyget "$e" 'j["upstream"]["pipeline"]')" = upper ]
    raw=$(pyget "$e" 'json.dumps(j["upstream"]["datums"][0]["inputs"][0])')
    [ "$(pyget "$raw" 'j["abs_path"]')" = "$T/raw/x.txt" ]
    [ "$(pyget "$raw" 'j["status"]')" = current ]
    [ "$(pyget "$raw" '"upstream" in j')" = False ]
    [ "$(pyget "$raw" 'j["hash"] == j["current_hash"]')" = True ]
    # the recorded lineage is in the manifest, read by h5py
    run /usr/bin/python3 -c 'import h5py,sys; f=h5py.File(sys.argv[1],"r"); print(f["lineage_entries"].shape[0], f["lineage_hashes"].shape[0])' .datumrun/upper/manifest.h5
    [ "$output" = "2 32" ]
    # the same content as the text form: every hash shown there
    run dr why count/x.txt.n
    [[ "$output" == *"$(pyget "$raw" 'j["hash"][:12]')"* ]]
    [[ "$output" == *"${d:0:12}"* ]]
}

@test "a changed raw file is stale in why, and why --stale lists what a rerun redoes" {
    printf 'gamma\n' > raw/x.txt
    run dr why count/x.txt.n --json
    [ "$status" -eq 0 ]
    raw=$(pyget "$output" 'json.dumps(j["datums"][0]["inputs"][0]["upstream"]["datums"][0]["inputs"][0])')
    [ "$(pyget "$raw" 'j["status"]')" = stale ]
    [ "$(pyget "$raw" 'j["hash"] != j["current_hash"]')" = True ]
    run dr why count/x.txt.n
    [[ "$output" == *"raw:/x.txt"*"STALE"* ]]

    # upper would redo exactly x; count is up to date until upper reruns
    run dr why --stale upper.json
    echo "$output"
    [ "$status" -eq 1 ]
    [[ "$output" == *"$T/upper/x.txt"* ]]
    [[ "$output" == *"changed: raw:/x.txt"* ]]
    [[ "$output" != *"y.txt"* ]]
    run dr why --stale upper.json --json
    [ "$status" -eq 1 ]
    [ "$(pyget "$output" '[o for s in j["stale"] for o in s["outputs"]]')" = "['x.txt']" ]
    [ "$(pyget "$output" 'j["rerun_redoes"]')" -eq 1 ]
    run dr why --stale count.json
    [ "$status" -eq 0 ]
    [[ "$output" == *"up to date"* ]]

    # the reruns do exactly that
    run dr run upper.json --json
    [ "$(counts "$(last_json)")" = "1 + 1 / 2" ]
    run dr why --stale count.json --json
    [ "$status" -eq 1 ]
    [ "$(pyget "$output" '[o for s in j["stale"] for o in s["outputs"]]')" = "['x.txt.n']" ]
    run dr run count.json --json
    [ "$(counts "$(last_json)")" = "1 + 1 / 2" ]
    run dr why --stale count.json
    [ "$status" -eq 0 ]
    run dr why count/x.txt.n --json
    raw=$(pyget "$output" 'json.dumps(j["datums"][0]["inputs"][0]["upstream"]["datums"][0]["inputs"][0])')
    [ "$(pyget "$raw" 'j["status"]')" = current ]
}

@test "a path no datum made, or outside every output folder, exits 1 saying so" {
    run dr why raw/x.txt
    [ "$status" -eq 1 ]
    [[ "$output" == *"not inside any pipeline's output folder"* ]]
    echo stray > count/stray.txt
    run dr why count/stray.txt
    [ "$status" -eq 1 ]
    [[ "$output" == *"no datum of the pipeline made it"* ]]
    run dr why "$T/nowhere/at/all"
    [ "$status" -eq 1 ]
    # explicit --spec: the path must lie in that spec's output folder
    run dr why --spec upper.json count/x.txt.n
    [ "$status" -eq 1 ]
    [[ "$output" == *"is not inside"* ]]
    run dr why --spec count.json count/x.txt.n --json
    [ "$status" -eq 0 ]
    [ "$(pyget "$output" 'j["pipeline"]')" = count ]
}

@test "a folder names every datum under it; --depth stops following; a lost upstream manifest is reported" {
    run dr why count --json
    [ "$status" -eq 0 ]
    [ "$(pyget "$output" 'sorted(o for d in j["datums"] for o in d["outputs"])')" = "['x.txt.n', 'y.txt.n']" ]
    run dr why count/y.txt.n --depth 0 --json
    [ "$status" -eq 0 ]
    [ "$(pyget "$output" 'j["datums"][0]["inputs"][0]["upstream"]["truncated"]')" = True ]
    run dr why count/y.txt.n --depth 0
    [[ "$output" == *"--depth reached"* ]]
    rm -rf .datumrun/upper
    run dr why count/y.txt.n --json
    [ "$status" -eq 0 ]
    [ "$(pyget "$output" '"error" in j["datums"][0]["inputs"][0]["upstream"]')" = True ]
}
