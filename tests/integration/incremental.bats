#!/usr/bin/env bats
# Incrementality (issue 3): what a rerun skips, processes and removes, and
# that the output after any sequence of runs equals a from-scratch run over
# the same input.  h5py (read_manifest.py) reads the manifest back as an
# independent reader and must agree with each job's JSON.

load helpers

setup() { common_setup; }
teardown() { common_teardown; }

# A transform whose outputs depend on the datum's content, with nested
# output folders: <dir>_<base>.d/len and <dir>_<base>.<cksum> (so that a change of
# content changes the output *name*, and the old one must go).
shape='b=$(basename "$(dirname "$in")")_$(basename "$in"); c=$(cksum < "$in" | cut -d" " -f1); mkdir -p "$DATUMRUN_OUT/$b.d"; wc -c < "$in" > "$DATUMRUN_OUT/$b.d/len"; cp "$in" "$DATUMRUN_OUT/$b.$c"'

# runj SPEC [ARGS]: run with --json; fails the test on an unexpected status.
# Sets $j to the job JSON.
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

# check_h5 STATE: manifest.h5 opens in h5py, nothing is left in the
# journal (but the job of a run with nothing to do, which the launcher's
# fast path records in the journal alone), and its latest job and datum
# states agree with $j.
check_h5() {
    local s
    s=$(h5 "$1" --summary --journal)
    [ "$(pyget "$s" 'j["journal_bytes"]')" -eq 0 ] || [ "$(jget "$j" processed)" -eq 0 ]
    [ "$(pyget "$s" 'j["datums"]')" -eq "$(jget "$j" total)" ]
    local ok=$(( $(jget "$j" processed) + $(jget "$j" skipped) ))
    [ "$(pyget "$s" 'j["states"].get("success", 0)')" -eq "$ok" ]
    [ "$(pyget "$s" 'j["states"].get("failed", 0)')" -eq "$(jget "$j" failed)" ]
    local jobs
    jobs=$(h5 "$1" --jobs --journal)
    [ "$(pyget "$jobs" 'j[-1]["id"]')" = "$(jget "$j" job_id)" ]
    [ "$(pyget "$jobs" 'j[-1]["state"]')" = "$(jget "$j" state)" ]
    [ "$(pyget "$jobs" '"%d + %d / %d" % (j[-1]["processed"], j[-1]["skipped"], j[-1]["total"])')" = "$(counts "$j")" ]
    [ "$(pyget "$s" 'j["pipeline_hash"]')" = "$(pyget "$jobs" 'j[-1]["pipeline_hash"]')" ]
}

@test "seed: repo R, glob /*: add F1, add F2, change F1" {
    mkdir R
    spec s.json seed "$shape" "$(pfs in R '/*')"
    echo one > R/F1
    runj s.json;  [ "$(counts "$j")" = "1 + 0 / 1" ]; check_h5 .datumrun/seed
    echo two > R/F2
    runj s.json;  [ "$(counts "$j")" = "1 + 1 / 2" ]; check_h5 .datumrun/seed
    echo ONE > R/F1
    runj s.json;  [ "$(counts "$j")" = "1 + 1 / 2" ]; check_h5 .datumrun/seed
    [ "$(tree seed)" = "$(scratch_tree s.json)" ]
    # and nothing changed: everything skipped
    runj s.json;  [ "$(counts "$j")" = "0 + 2 / 2" ]; check_h5 .datumrun/seed
}

@test "seed: the states layout with /, /* and /*/* after adding Sacramento" {
    cp -r "$DATUMRUN_SRC/examples/states/data" data
    copy='cp -r "$in" "$DATUMRUN_OUT/"'
    for g in / '/*' '/*/*'; do
        n=$(printf %s "$g" | tr -dc '*' | wc -c)
        spec s$n.json g$n "$copy" "$(pfs in data "$g")" '{"parallelism_spec": {"constant": 2}}'
    done
    runj s0.json; [ "$(counts "$j")" = "1 + 0 / 1" ]
    runj s1.json; [ "$(counts "$j")" = "3 + 0 / 3" ]
    runj s2.json; [ "$(counts "$j")" = "9 + 0 / 9" ]
    echo '{"name": "Sacramento", "population": 524943}' > data/California/Sacramento.json
    runj s0.json; [ "$(counts "$j")" = "1 + 0 / 1" ]; check_h5 .datumrun/g0
    runj s1.json; [ "$(counts "$j")" = "1 + 2 / 3" ]; check_h5 .datumrun/g1
    runj s2.json; [ "$(counts "$j")" = "1 + 9 / 10" ]; check_h5 .datumrun/g2
    for n in 0 1 2; do
        [ "$(tree g$n)" = "$(scratch_tree s$n.json)" ]
    done
    [ -f g2/Sacramento.json ] && [ -f g1/California/Sacramento.json ]
    [ -f g0/data/California/Sacramento.json ]
}

@test "after add, change, remove and rename the output equals a from-scratch run" {
    mkdir -p repo/a repo/b
    echo 1 > repo/a/x; echo 2 > repo/a/y; echo 3 > repo/b/x
    spec s.json seq "$shape"'; mkdir -p "$DATUMRUN_OUT/by-dir/$(basename "$(dirname "$in")")"; cp "$in" "$DATUMRUN_OUT/by-dir/$(basename "$(dirname "$in")")/$b"' \
        "$(pfs in repo '/*/*')"
    step() { # step EXPECTED_COUNTS
        runj s.json
        [ "$(counts "$j")" = "$1" ]
        check_h5 .datumrun/seq
        [ "$(tree seq)" = "$(scratch_tree s.json)" ]
    }
    step "3 + 0 / 3"
    echo 4 > repo/b/y;            step "1 + 3 / 4"     # add
    echo 11 > repo/a/x;           step "1 + 3 / 4"     # change
    rm repo/a/y;                  step "0 + 3 / 3"     # remove
    [ ! -e seq/a_y.d ]
    mv repo/a/x repo/a/z;         step "1 + 2 / 3"     # rename = remove + add
    [ ! -e seq/by-dir/a/a_x ] && [ -f seq/by-dir/a/a_z ]
    rm -r repo/b;                 step "0 + 1 / 1"     # a whole folder leaves
    [ ! -e seq/by-dir/b ]          # emptied output folders are pruned
    mkdir repo/b; echo 3 > repo/b/x
    echo 5 > repo/a/new;          step "2 + 1 / 3"     # add two at once
    echo 12 > repo/a/z; rm repo/a/new; echo 6 > repo/b/w
    step "2 + 1 / 3"                                   # all three at once
    step "0 + 3 / 3"
    rm seq/by-dir/a/a_z;          step "1 + 2 / 3"     # an output deleted
    rm -r seq/b_w.d;              step "1 + 2 / 3"     # an output folder deleted
    rm -r seq/by-dir;             step "3 + 0 / 3"     # outputs of all three
    # a same-size rewrite that keeps the old mtime (touch -r, cp -p): the
    # file must be in the stat cache first (older than its 2 s guard)
    touch -d '1 hour ago' repo/b/x; sleep 2.2
    step "0 + 3 / 3"
    was=$(stat -c %y:%s repo/b/x)
    touch -r repo/b/x ref; echo 9 > repo/b/x; touch -r ref repo/b/x
    [ "$(stat -c %y:%s repo/b/x)" = "$was" ]
    step "1 + 2 / 3"
    [ "$(cat seq/by-dir/b/b_x)" = 9 ]
    step "0 + 3 / 3"
}

@test "a datum whose file leaves the input loses its outputs and its record" {
    mkdir repo
    for i in 1 2 3; do echo $i > repo/f$i; done
    spec s.json gone "$shape" "$(pfs in repo '/*')"
    runj s.json
    [ -f gone/repo_f2.d/len ] && ls gone/repo_f2.* >/dev/null
    [ "$(pyget "$(h5 .datumrun/gone --datums)" 'sum("in:/f2" in d["inputs"] for d in j)')" -eq 1 ]
    rm repo/f2
    runj s.json
    [ "$(counts "$j")" = "0 + 2 / 2" ]
    [ ! -e gone/repo_f2.d ]
    ! ls gone/repo_f2.* 2>/dev/null
    [ "$(ls gone | wc -l)" -eq 4 ]
    [ "$(pyget "$(h5 .datumrun/gone --datums)" 'sum("in:/f2" in d["inputs"] for d in j)')" -eq 0 ]
    check_h5 .datumrun/gone
    # the dry run of the next job has nothing gone any more
    run dr plan s.json --json
    [ "$(jget "$output" gone)" -eq 0 ]
}

@test "a changed datum's old outputs are removed before it runs again" {
    mkdir repo
    echo a > repo/f; echo keep > repo/g
    # f's output is named after its content: out/a.txt, then out/b.txt
    spec s.json chg 'mkdir -p "$DATUMRUN_OUT/out"; cp "$in" "$DATUMRUN_OUT/out/$(cat "$in").txt"' "$(pfs in repo '/*')"
    runj s.json
    [ -f chg/out/a.txt ] && [ -f chg/out/keep.txt ]
    echo b > repo/f
    runj s.json
    [ "$(counts "$j")" = "1 + 1 / 2" ]
    [ -f chg/out/b.txt ] && [ -f chg/out/keep.txt ]
    [ ! -e chg/out/a.txt ]
    # the manifest lists the new output only
    outs=$(h5 .datumrun/chg --datums)
    [ "$(pyget "$outs" 'sorted(o for d in j for o in d["outputs"])')" = "['out/b.txt', 'out/keep.txt']" ]
    # a datum that now writes the *same* path again (back to a) works too
    echo a > repo/f
    runj s.json
    [ "$(ls chg/out)" = "$(printf 'a.txt\nkeep.txt')" ]
    [ "$(tree chg)" = "$(scratch_tree s.json)" ]
}

@test "a failed datum is processed again; a changed datum that now fails keeps no old output" {
    mkdir repo
    for i in 1 2 3; do echo $i > repo/f$i; done
    touch broken
    cmd='echo run >> "'$T'/runs.$(basename "$in")"; if [ "$(basename "$in")" = f2 ] && [ -e "'$T'/broken" ]; then exit 3; fi; grep -q bad "$in" && exit 4; cp "$in" "$DATUMRUN_OUT/"'
    spec s.json fl "$cmd" "$(pfs in repo '/*')" '{"datum_tries": 1}'
    runj --status 1 s.json
    [ "$(counts "$j")" = "2 + 0 / 3" ] && [ "$(jget "$j" failed)" -eq 1 ]
    check_h5 .datumrun/fl
    [ "$(pyget "$(h5 .datumrun/fl --datums)" '[d["exit_status"] for d in j if d["state"] == "failed"]')" = "[3]" ]
    # unchanged and still broken: it runs again (and only it)
    runj --status 1 s.json
    [ "$(counts "$j")" = "0 + 2 / 3" ] && [ "$(jget "$j" failed)" -eq 1 ]
    [ "$(wc -l < runs.f2)" -eq 2 ] && [ "$(wc -l < runs.f1)" -eq 1 ]
    # unchanged input, the cause went away: it runs again and succeeds
    rm broken
    runj s.json
    [ "$(counts "$j")" = "1 + 2 / 3" ]
    [ "$(wc -l < runs.f2)" -eq 3 ] && [ "$(wc -l < runs.f1)" -eq 1 ]
    check_h5 .datumrun/fl
    # a succeeded datum changes and now fails: its old output must go
    echo bad > repo/f3
    runj --status 1 s.json
    [ "$(counts "$j")" = "0 + 2 / 3" ] && [ "$(jget "$j" failed)" -eq 1 ]
    [ ! -e fl/f3 ]
    [ "$(tree fl)" = "$(scratch_tree s.json)" ]
    check_h5 .datumrun/fl
}

# nearlier OUTPUT: how many "made by an earlier version" warnings a run
# printed (it must print at most one), and the count it gave.
warned() {
    local n
    n=$(printf '%s\n' "$1" | grep -c 'made by an earlier version of the pipeline' || true)
    [ "$n" -le 1 ] || { echo "warned $n times" >&2; return 1; }
    if [ "$n" -eq 1 ]; then
        printf '%s\n' "$1" | grep 'made by an earlier version' | grep -q -- '--reprocess'
        printf '%s\n' "$1" | grep 'made by an earlier version' | sed 's/.*] *//; s/^[^0-9]*\([0-9]*\) datums.*/\1/'
    else
        echo 0
    fi
}

@test "changed code or glob keeps datums whose inputs are unchanged, warns once; --reprocess redoes them" {
    mkdir repo
    for i in 1 2 3; do echo $i > repo/f$i; done
    spec s.json code "$shape" "$(pfs in repo '/*')"
    runj s.json; [ "$(counts "$j")" = "3 + 0 / 3" ]
    [ "$(warned "$output")" -eq 0 ]
    h1=$(pyget "$(h5 .datumrun/code --summary)" 'j["pipeline_hash"]')
    # parallelism and datum_tries are not code
    spec s.json code "$shape" "$(pfs in repo '/*')" '{"parallelism_spec": {"constant": 2}, "datum_tries": 2}'
    runj s.json; [ "$(counts "$j")" = "0 + 3 / 3" ]
    [ "$(warned "$output")" -eq 0 ]
    # the command changes: Pachyderm never processes the same datum twice
    spec s.json code "$shape"' # v2' "$(pfs in repo '/*')"
    run dr plan s.json
    [ "$status" -eq 0 ]
    [[ "$output" == *"3 to skip"* ]]
    [[ "$output" == *"3 of the skipped datums were made by an earlier version of the pipeline"*"--reprocess"* ]]
    [ "$(printf '%s\n' "$output" | grep -c '  skip\*  ')" -eq 3 ]
    run dr plan s.json --json
    [ "$(pyget "$output" 'j["skip_earlier_version"]')" -eq 3 ]
    [ "$(pyget "$output" 'sum(1 for d in j["datums"] if d.get("earlier_version"))')" -eq 3 ]
    runj s.json; [ "$(counts "$j")" = "0 + 3 / 3" ]
    [ "$(warned "$output")" -eq 3 ]
    h2=$(pyget "$(h5 .datumrun/code --summary)" 'j["pipeline_hash"]')
    [ "$h1" != "$h2" ]
    # the manifest still says which version made each datum (h5py)
    [ "$(pyget "$(h5 .datumrun/code --datums)" 'sorted(set(d["pipeline"] for d in j))')" = "['$h1']" ]
    # a new file is made by the new version; the rest stay the earlier one's
    echo 4 > repo/f4
    runj s.json; [ "$(counts "$j")" = "1 + 3 / 4" ]
    [ "$(warned "$output")" -eq 3 ]
    d=$(h5 .datumrun/code --datums)
    [ "$(pyget "$d" '[x["pipeline"] for x in j if x["inputs"] == ["in:/f4"]][0]')" = "$h2" ]
    [ "$(pyget "$d" 'sum(1 for x in j if x["pipeline"] == "'"$h1"'")')" -eq 3 ]
    # list-datum and inspect-datum show the version, as a table and JSON
    run dr list-datum s.json
    [ "$status" -eq 0 ]
    [[ "${lines[0]}" == *VERSION* ]]
    [ "$(printf '%s\n' "$output" | grep -c '  v1  ')" -eq 3 ]
    [ "$(printf '%s\n' "$output" | grep '  v2  ' | grep -c 'in:/f4')" -eq 1 ]
    run dr list-datum s.json --json
    [ "$(pyget "$output" 'sorted(d["pipeline_version"] for d in j)')" = "[1, 1, 1, 2]" ]
    [ "$(pyget "$output" '[d["pipeline_hash"] for d in j if d["inputs"] == "in:/f4"][0]')" = "$h2" ]
    id1=$(pyget "$d" '[x["id"] for x in j if x["inputs"] == ["in:/f1"]][0]')
    job=$(jget "$j" job_id)
    run dr inspect-datum s.json "$job" "${id1:0:12}"
    [ "$status" -eq 0 ]
    [[ "$output" == *"Pipeline version: v1 (pipeline hash ${h1:0:12}, an earlier version than the spec's)"* ]]
    run dr inspect-datum s.json "$job" "${id1:0:12}" --json
    [ "$(pyget "$output" 'j["pipeline_version"]')" -eq 1 ]
    [ "$(pyget "$output" 'j["pipeline_hash"]')" = "$h1" ]
    # a changed input is processed by the current version
    echo ONE > repo/f1
    runj s.json; [ "$(counts "$j")" = "1 + 3 / 4" ]
    [ "$(warned "$output")" -eq 2 ]
    # the environment is code too, and the glob: the same files are the
    # same datums, files the new glob leaves out are gone
    spec s.json code "$shape"' # v2' "$(pfs in repo '/f*')" '{"transform": {"env": {"V": "3"}}}'
    runj s.json; [ "$(counts "$j")" = "0 + 4 / 4" ]
    [ "$(warned "$output")" -eq 4 ]
    spec s.json code "$shape"' # v2' "$(pfs in repo '/f[123]')" '{"transform": {"env": {"V": "3"}}}'
    runj s.json; [ "$(counts "$j")" = "0 + 3 / 3" ]
    [ ! -e code/repo_f4.d ]
    [ "$(tree code)" = "$(scratch_tree s.json)" ]
    check_h5 .datumrun/code
    # --reprocess redoes them with the current version; then no warning
    runj s.json --reprocess; [ "$(counts "$j")" = "3 + 0 / 3" ]
    check_h5 .datumrun/code
    runj s.json; [ "$(counts "$j")" = "0 + 3 / 3" ]
    [ "$(warned "$output")" -eq 0 ]
    run dr list-datum s.json --json
    [ "$(pyget "$output" 'sorted(set(d["pipeline_version"] for d in j))')" = "[4]" ]
    [ "$(tree code)" = "$(scratch_tree s.json)" ]
}

@test "a transform whose outputs change with the code keeps the earlier outputs until --reprocess" {
    mkdir repo
    echo a > repo/f1
    spec s.json ver 'echo v1 > "$DATUMRUN_OUT/$(basename "$in")"' "$(pfs in repo '/*')"
    runj s.json; [ "$(cat ver/f1)" = v1 ]
    spec s.json ver 'echo v2 > "$DATUMRUN_OUT/$(basename "$in")"' "$(pfs in repo '/*')"
    runj s.json; [ "$(counts "$j")" = "0 + 1 / 1" ]
    [ "$(cat ver/f1)" = v1 ]
    [ "$(warned "$output")" -eq 1 ]
    runj s.json --reprocess; [ "$(counts "$j")" = "1 + 0 / 1" ]
    [ "$(cat ver/f1)" = v2 ]
    [ "$(tree ver)" = "$(scratch_tree s.json)" ]
}

@test "run --reprocess and reprocess_spec every_job process every datum" {
    mkdir repo
    for i in 1 2 3; do echo $i > repo/f$i; done
    spec s.json rp "$shape" "$(pfs in repo '/*')"
    runj s.json; [ "$(counts "$j")" = "3 + 0 / 3" ]
    runj s.json --reprocess; [ "$(counts "$j")" = "3 + 0 / 3" ]
    [ "$(tree rp)" = "$(scratch_tree s.json)" ]
    check_h5 .datumrun/rp
    runj s.json; [ "$(counts "$j")" = "0 + 3 / 3" ]
    spec s.json rp "$shape" "$(pfs in repo '/*')" '{"reprocess_spec": "every_job"}'
    runj s.json; [ "$(counts "$j")" = "3 + 0 / 3" ]
    runj s.json; [ "$(counts "$j")" = "3 + 0 / 3" ]
    echo 4 > repo/f4; rm repo/f1
    runj s.json; [ "$(counts "$j")" = "3 + 0 / 3" ]
    [ "$(tree rp)" = "$(scratch_tree s.json)" ]
    check_h5 .datumrun/rp
    # the default (until_success) skips again
    spec s.json rp "$shape" "$(pfs in repo '/*')" '{"reprocess_spec": "until_success"}'
    runj s.json; [ "$(counts "$j")" = "0 + 3 / 3" ]
}

@test "the stat cache skips reading unchanged files; --rehash reads them" {
    mkdir repo
    printf aaaa > repo/f1; printf bbbb > repo/f2; printf cccc > repo/f3
    # files modified in the last 2 s are never cached (racy): age them;
    # touch sets the ctime to now, and the guard looks at it too
    touch -d '1 hour ago' repo/f1 repo/f2 repo/f3
    sleep 2.2
    spec s.json sc 'cp "$in" "$DATUMRUN_OUT/"' "$(pfs in repo '/*')"
    runj s.json
    # the stat cache holds each file's size, mtime, inode and device
    sc=$(h5 .datumrun/sc --statcache)
    [ "$(pyget "$sc" 'len(j)')" -eq 3 ]
    [ "$(pyget "$sc" '[e for e in j if e["path"].endswith("/repo/f2")][0]["size"]')" -eq 4 ]
    [ "$(pyget "$sc" '[e for e in j if e["path"].endswith("/repo/f2")][0]["ino"]')" -eq "$(stat -c %i repo/f2)" ]
    [ "$(pyget "$sc" '[e for e in j if e["path"].endswith("/repo/f2")][0]["mtime_ns"]')" -eq \
      "$($PY -c 'import os,sys; print(os.stat(sys.argv[1]).st_mtime_ns)' repo/f2)" ]
    [ "$(pyget "$sc" '[e for e in j if e["path"].endswith("/repo/f2")][0]["ctime_ns"]')" -eq \
      "$($PY -c 'import os,sys; print(os.stat(sys.argv[1]).st_ctime_ns)' repo/f2)" ]
    # change f2 behind the cache's back: same size, same inode, old mtime
    # (what cp -p, rsync -t and touch -r leave); the ctime gives it away
    m=$(stat -c %y repo/f2)
    printf BBBB > repo/f2
    touch -d "$m" repo/f2
    [ "$(stat -c %y repo/f2)" = "$m" ]
    runj s.json
    [ "$(counts "$j")" = "1 + 2 / 3" ]      # re-hashed: not trusted
    [ "$(cat sc/f2)" = BBBB ]
    runj s.json --rehash
    [ "$(counts "$j")" = "0 + 3 / 3" ]
    [ "$(tree sc)" = "$(scratch_tree s.json)" ]
    # the cache now has the new hash: a plain run skips everything
    runj s.json
    [ "$(counts "$j")" = "0 + 3 / 3" ]
    check_h5 .datumrun/sc
    # f2's rewrite changed its ctime just now: once that is over 2 s old,
    # the next run caches it again (below)
    sleep 2.2
    # a touch alone (new mtime, same content) rereads but does not reprocess
    touch repo/f1
    runj s.json
    [ "$(counts "$j")" = "0 + 3 / 3" ]
    # a file written just now is read but not cached: it could still change
    # within the same timestamp tick at the same size
    sc=$(h5 .datumrun/sc --statcache)
    now_m=$($PY -c 'import os,sys; print(os.stat(sys.argv[1]).st_mtime_ns)' repo/f1)
    [ "$(pyget "$sc" 'len([e for e in j if e["path"].endswith("/repo/f1") and e["mtime_ns"] == '"$now_m"'])')" -eq 0 ]
    [ "$(pyget "$sc" 'len([e for e in j if e["path"].endswith("/repo/f2")])')" -eq 1 ]
}

@test "a directory datum's hash covers its sorted children, names and contents" {
    mkdir -p repo/d1/sub repo/d2
    echo x > repo/d1/sub/a; echo y > repo/d1/b; echo z > repo/d2/c
    spec s.json dir 'cp -r "$in" "$DATUMRUN_OUT/"' "$(pfs in repo '/*')"
    runj s.json; [ "$(counts "$j")" = "2 + 0 / 2" ]
    echo X > repo/d1/sub/a                       # deep content change
    runj s.json; [ "$(counts "$j")" = "1 + 1 / 2" ]
    mv repo/d1/sub/a repo/d1/sub/a2              # a rename inside
    runj s.json; [ "$(counts "$j")" = "1 + 1 / 2" ]
    mkdir repo/d2/empty                          # an empty folder appears
    runj s.json; [ "$(counts "$j")" = "1 + 1 / 2" ]
    [ "$(tree dir)" = "$(scratch_tree s.json)" ]
    runj s.json; [ "$(counts "$j")" = "0 + 2 / 2" ]
}

@test "h5py reads the same datums, jobs and outputs that the JSON reports" {
    mkdir repo
    for i in 1 2 3 4; do echo $i > repo/f$i; done
    spec s.json hx 'cp "$in" "$DATUMRUN_OUT/"' "$(pfs in repo '/*')" '{"parallelism_spec": {"constant": 2}}'
    runj s.json; j1=$j
    echo 5 > repo/f5
    runj s.json; j2=$j
    check_h5 .datumrun/hx
    jobs=$(h5 .datumrun/hx --jobs)
    [ "$(pyget "$jobs" 'len(j)')" -eq 2 ]
    [ "$(pyget "$jobs" 'j[0]["id"]')" = "$(jget "$j1" job_id)" ]
    [ "$(pyget "$jobs" 'j[1]["workers"]')" -eq 2 ]
    [ "$(pyget "$jobs" 'j[1]["bytes_downloaded"]')" -eq "$(jget "$j2" bytes_downloaded)" ]
    ds=$(h5 .datumrun/hx --datums)
    # f5 was processed by job 2, the others by job 1 and seen by job 2
    [ "$(pyget "$ds" '[d["proc_job"] for d in j if d["inputs"] == ["in:/f5"]][0]')" = "$(jget "$j2" job_id)" ]
    [ "$(pyget "$ds" '[d["proc_job"] for d in j if d["inputs"] == ["in:/f1"]][0]')" = "$(jget "$j1" job_id)" ]
    [ "$(pyget "$ds" 'sorted(o for d in j for o in d["outputs"])')" = "['f1', 'f2', 'f3', 'f4', 'f5']" ]
    [ "$(pyget "$ds" 'all(d["rank"] in (1, 2) and d["attempts"] == 1 and d["bytes_in"] == 2 for d in j)')" = True ]
    # datumrun's own reader agrees
    run dr list-datum s.json --json
    [ "$status" -eq 0 ]
    [ "$(pyget "$output" 'sorted(d["id"] for d in j)')" = "$(pyget "$ds" 'sorted(d["id"] for d in j)')" ]
}

@test "moving the project (spec, repo and state together) keeps every datum" {
    mkdir -p proj/repo
    for i in 1 2 3; do echo "$i" > "proj/repo/f$i"; done
    (cd proj && spec s.json moved 'cp "$in" "$DATUMRUN_OUT/"' "$(pfs in repo '/*')")
    run dr run proj/s.json --json
    [ "$(counts "$(last_json)")" = "3 + 0 / 3" ]
    mv proj moved-elsewhere
    run dr run moved-elsewhere/s.json --json
    [ "$status" -eq 0 ]
    [ "$(counts "$(last_json)")" = "0 + 3 / 3" ]
    [ "$(ls moved-elsewhere/moved | wc -l)" -eq 3 ]
}

@test "a format-1 manifest is read: its datums are skipped, under the old code and a changed one" {
    v1="$DATUMRUN_SRC/tests/integration/data/manifest-v1"
    cp -r "$v1" same
    cp -r "$v1" changed
    # the same code: skipped, no warning
    runj same/s.json; [ "$(counts "$j")" = "0 + 2 / 2" ]
    [ "$(warned "$output")" -eq 0 ]
    [ "$(cat same/old/a)" = alpha ]
    # the next checkpoint writes format 2, each old datum with the version
    # of the job that made it
    echo gamma > same/repo/c
    runj same/s.json; [ "$(counts "$j")" = "1 + 2 / 3" ]
    [ "$(pyget "$(h5 same/.datumrun/old --summary)" 'j["version"]')" -eq 2 ]
    ph=$(pyget "$(h5 same/.datumrun/old --jobs)" 'j[0]["pipeline_hash"]')
    [ "$(pyget "$(h5 same/.datumrun/old --datums)" 'sorted(set(d["pipeline"] for d in j))')" = "['$ph']" ]
    # changed code: the version that made each datum comes from its job
    $PY - changed/s.json <<'PYEOF'
import json, sys
s = json.load(open(sys.argv[1]))
s["transform"]["cmd"][2] += " # v2"
json.dump(s, open(sys.argv[1], "w"))
PYEOF
    runj changed/s.json; [ "$(counts "$j")" = "0 + 2 / 2" ]
    [ "$(warned "$output")" -eq 2 ]
    run dr list-datum changed/s.json --json
    [ "$(pyget "$output" 'sorted(d["pipeline_version"] for d in j)')" = "[1, 1]" ]
    # and a changed input still runs
    echo ALPHA > changed/repo/a
    runj changed/s.json; [ "$(counts "$j")" = "1 + 1 / 2" ]
    [ "$(cat changed/old/a)" = ALPHA ]
}
