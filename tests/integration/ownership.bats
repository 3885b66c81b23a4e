#!/usr/bin/env bats
# Ownership (issue 8): an output folder belongs to one pipeline and one
# state folder, recorded in its marker and in the manifest; everything else
# is refused before anything runs, nothing is moved aside; a skip needs its
# outputs to be where and as they were made.

load helpers

setup() { common_setup; }
teardown() { common_teardown; }

# Each output holds its input's content and its name: a.txt -> a.txt.out
copy='cp "$in" "$DATUMRUN_OUT/$(basename "$in").out"'

make_repo() {
    mkdir -p repo
    for f in a b c; do echo "content $f" > repo/$f.txt; done
}

runj() {
    local want=0
    if [ "$1" = "--status" ]; then want=$2; shift 2; fi
    run dr run "$@" --json
    if [ "$status" -ne "$want" ]; then
        printf 'exit %s (wanted %s):\n%s\n' "$status" "$want" "$output" >&2
        return 1
    fi
    j=$(last_json)
}

@test "the marker names the pipeline, spec, state folder and manifest; the manifest records the folder and each output's size and mtime" {
    make_repo
    spec s.json own "$copy" "$(pfs in repo '/*')" '{"output": "out"}'
    runj s.json
    [ "$(counts "$j")" = "3 + 0 / 3" ]
    m=$(cat out/.datumrun-owner.json)
    [ "$(pyget "$m" 'j["datumrun_owner"]')" = 1 ]
    [ "$(pyget "$m" 'j["pipeline"]')" = own ]
    [ "$(pyget "$m" 'j["spec"]')" = "$T/s.json" ]
    [ "$(pyget "$m" 'j["state_dir"]')" = "$T/.datumrun/own" ]
    [ "$(pyget "$m" 'j["state_dir_from_output"]')" = "../.datumrun/own" ]
    [ "$(pyget "$m" 'j["manifest"]')" = "$T/.datumrun/own/manifest.h5" ]
    s=$(h5 .datumrun/own --summary)
    [ "$(pyget "$s" 'j["version"]')" = 2 ]
    [ "$(pyget "$s" 'j["output_folder"]')" = "$T/out" ]
    d=$(h5 .datumrun/own --datums)
    for f in a b c; do
        size=$(stat -c %s out/$f.txt.out)
        mt=$($PY -c 'import os,sys; print(os.stat(sys.argv[1]).st_mtime_ns)' out/$f.txt.out)
        [ "$(pyget "$d" '[x["output_stats"][0] for x in j if x["outputs"] == ["'$f'.txt.out"]][0]["size"]')" = "$size" ]
        [ "$(pyget "$d" '[x["output_stats"][0] for x in j if x["outputs"] == ["'$f'.txt.out"]][0]["mtime_ns"]')" = "$mt" ]
    done
}

@test "a second pipeline naming the same output is refused; the first keeps its outputs" {
    make_repo
    spec one.json one "$copy" "$(pfs in repo '/*')" '{"output": "shared"}'
    spec two.json two 'echo two > "$DATUMRUN_OUT/x"' "$(pfs in repo '/*')" '{"output": "shared"}'
    runj one.json
    before=$(tree shared)
    run dr run two.json
    [ "$status" -eq 2 ]
    [[ "$output" =~ "output folder $T/shared belongs to pipeline 'one' (spec $T/one.json" ]]
    [[ "$output" =~ "pipeline 'two' (spec $T/two.json" ]]
    [ ! -d .datumrun/two ]                  # nothing was written for it
    [ "$(tree shared)" = "$before" ]
    # --adopt takes over a user's folder, never another pipeline's
    run dr run two.json --adopt
    [ "$status" -eq 2 ]
    [[ "$output" =~ "output folder $T/shared belongs to pipeline 'one'" ]]
    [[ "$output" =~ "pipeline 'two' (spec $T/two.json" ]]
    [[ "$output" =~ "give one of them another output folder" ]]
    [ ! -d .datumrun/two ]
    [ "$(tree shared)" = "$before" ]
    ls -d shared.old-* && false
    runj one.json
    [ "$(counts "$j")" = "0 + 3 / 3" ]
    [ "$(tree shared)" = "$before" ]
    [ "$(tree shared)" = "$(scratch_tree one.json)" ]
}

@test "one spec run with two state folders is refused" {
    make_repo
    spec s.json st "$copy" "$(pfs in repo '/*')" '{"output": "out"}'
    runj s.json
    before=$(tree out)
    run dr run s.json --state other
    [ "$status" -eq 2 ]
    [[ "$output" =~ "output folder $T/out belongs to pipeline 'st'" ]]
    [[ "$output" =~ "state folder $T/other" ]]
    [ ! -e other/manifest.h5 ]
    [ "$(tree out)" = "$before" ]
    runj s.json
    [ "$(counts "$j")" = "0 + 3 / 3" ]
}

@test "an output inside another pipeline's output, or around it, is refused; so is a campaign pairing them" {
    make_repo
    spec outer.json outer "$copy" "$(pfs in repo '/*')" '{"output": "o"}'
    spec inner.json inner "$copy" "$(pfs in repo '/*')" '{"output": "o/sub"}'
    runj outer.json
    run dr run inner.json
    [ "$status" -eq 2 ]
    [[ "$output" =~ "output folder $T/o/sub is inside $T/o, the output folder of pipeline 'outer'" ]]
    # the other way round: the inner one first
    rm -rf o .datumrun
    runj inner.json
    run dr run outer.json
    [ "$status" -eq 2 ]
    [[ "$output" =~ "output folder $T/o contains $T/o/sub, the output folder of pipeline 'inner'" ]]
    # deeper down too
    rm -rf o .datumrun
    spec deep.json deep "$copy" "$(pfs in repo '/*')" '{"output": "o/a/b/c"}'
    runj deep.json
    run dr run outer.json
    [ "$status" -eq 2 ]
    [[ "$output" =~ "output folder $T/o contains $T/o/a/b/c, the output folder of pipeline 'deep'" ]]
    # a campaign checks every pair of its specs before running any
    rm -rf o .datumrun
    mkdir camp
    spec camp/a.json a "$copy" "$(pfs in ../repo '/*')" '{"output": "../same"}'
    spec camp/b.json b "$copy" "$(pfs in ../repo '/*')" '{"output": "../same"}'
    run timeout -k 10 300 "$DATUMRUN" campaign run camp
    [ "$status" -eq 2 ]
    [[ "$output" =~ "pipelines 'a' (camp/a.json) and 'b' (camp/b.json) both write output folder $T/same" ]]
    [ ! -e same/.datumrun-owner.json ]
}

@test "a user's folder with files is refused unless --adopt; adopted files a datum writes are replaced, the others stay" {
    make_repo
    mkdir out
    echo mine > out/notes.txt
    echo stale > out/a.txt.out
    spec s.json ad "$copy" "$(pfs in repo '/*')" '{"output": "out"}'
    run dr run s.json
    [ "$status" -eq 2 ]
    [[ "$output" =~ "output folder $T/out holds files and no datumrun owner marker" ]]
    [[ "$output" =~ "--adopt" ]]
    [ ! -e out/.datumrun-owner.json ]
    [ "$(cat out/a.txt.out)" = stale ]
    runj s.json --adopt
    [ "$(counts "$j")" = "3 + 0 / 3" ]
    [ "$(cat out/a.txt.out)" = "content a" ]
    [ "$(cat out/notes.txt)" = mine ]
    [ -e out/.datumrun-owner.json ]
    runj s.json
    [ "$(counts "$j")" = "0 + 3 / 3" ]
}

@test "a file no datum owns, put into an owned output folder, stays: the datum writing its path collides" {
    make_repo
    spec s.json uf "$copy" "$(pfs in repo '/*')" '{"output": "out", "datum_tries": 1}'
    runj s.json
    echo mine > out/d.txt.out
    echo "content d" > repo/d.txt
    runj --status 1 s.json
    [[ "$output" =~ "output collision" ]]
    [[ "$output" =~ "d.txt.out" ]]
    [ "$(cat out/d.txt.out)" = mine ]
    [ "$(jget "$j" failed)" -eq 1 ]
}

@test "a folder an earlier datumrun made (no marker, the manifest has records) is taken over silently" {
    make_repo
    spec s.json old "$copy" "$(pfs in repo '/*')" '{"output": "out"}'
    runj s.json
    rm out/.datumrun-owner.json              # as an earlier version left it
    runj s.json
    [ "$(counts "$j")" = "0 + 3 / 3" ]
    [ -e out/.datumrun-owner.json ]
    [[ ! "$output" =~ "adopt" ]]
}

@test "a deleted or changed output makes its datum run again, and the run says why" {
    make_repo
    spec s.json rb "$copy" "$(pfs in repo '/*')" '{"output": "out"}'
    runj s.json
    rm out/b.txt.out
    runj s.json
    [ "$(counts "$j")" = "1 + 2 / 3" ]
    [[ "$output" =~ "1 datums rebuilt: 1 with outputs missing, 0 with outputs changed" ]]
    [ "$(cat out/b.txt.out)" = "content b" ]
    # changed in place: another size
    echo tampered >> out/c.txt.out
    runj s.json
    [ "$(counts "$j")" = "1 + 2 / 3" ]
    [[ "$output" =~ "0 with outputs missing, 1 with outputs changed" ]]
    [ "$(cat out/c.txt.out)" = "content c" ]
    # the same size with another mtime
    touch -d '2 days ago' out/a.txt.out
    runj s.json
    [ "$(counts "$j")" = "1 + 2 / 3" ]
    [ "$(tree out)" = "$(scratch_tree s.json)" ]
    runj s.json
    [ "$(counts "$j")" = "0 + 3 / 3" ]
}

@test "changing output rebuilds every datum into the new folder; the old one keeps its files" {
    make_repo
    spec s.json mv "$copy" "$(pfs in repo '/*')" '{"output": "first"}'
    runj s.json
    old=$(tree first)
    spec s.json mv "$copy" "$(pfs in repo '/*')" '{"output": "second"}'
    runj s.json
    [ "$(counts "$j")" = "3 + 0 / 3" ]
    [[ "$output" =~ "output folder changed from $T/first to $T/second" ]]
    [ "$(tree second)" = "$(scratch_tree s.json)" ]
    [ "$(tree first)" = "$old" ]                 # nothing lost
    [ ! -e first/.datumrun-owner.json ]          # no longer this pipeline's
    [ -e second/.datumrun-owner.json ]
    runj s.json
    [ "$(counts "$j")" = "0 + 3 / 3" ]
}
