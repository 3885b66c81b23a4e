#!/usr/bin/env bats
# Pachyderm compatibility (issue 8): a command written for Pachyderm reads
# Pachyderm's variables and runs unchanged; the spec fields that mean
# something on a file system (lazy, empty_files, datum_set_spec) work, and
# the ones that do not are refused with the reason; UTF-8 names in globs.

load helpers

setup() { common_setup; }
teardown() { common_teardown; }

@test "PACH_* variables: job, output commit, datum, pipeline, spec commit, per-input join_on and group_by" {
    mkdir -p L R
    for k in 1 2; do echo "l$k" > L/$k.l; echo "r$k" > R/r-$k.csv; done
    # Written for Pachyderm: it uses only Pachyderm's names.
    cat > pach.sh <<'EOF'
out="$DATUMRUN_OUT/$PACH_DATUM_ID"
{
    echo "job=$PACH_JOB_ID"
    echo "commit=$PACH_OUTPUT_COMMIT_ID"
    echo "pipeline=$PPS_PIPELINE_NAME"
    echo "spec=$PPS_SPEC_COMMIT"
    echo "datum=$PACH_DATUM_ID"
    echo "left_join=${PACH_DATUM_left_JOIN_ON-unset}"
    echo "right_join=${PACH_DATUM_right_JOIN_ON-unset}"
    echo "left_group=${PACH_DATUM_left_GROUP_BY-unset}"
    echo "right_group=${PACH_DATUM_right_GROUP_BY-unset}"
    echo "ours=$DATUMRUN_JOB_ID $DATUMRUN_DATUM_ID $DATUMRUN_PIPELINE"
} > "$out"
EOF
    cat > s.json <<EOF
{"pipeline": {"name": "pj"},
 "transform": {"cmd": ["sh", "$T/pach.sh"]},
 "input": {"join": [
   {"pfs": {"name": "left", "repo": "L", "glob": "/(*).l", "join_on": "\$1",
            "group_by": "g\$1"}},
   {"pfs": {"name": "right", "repo": "R", "glob": "/(*)-(*).csv",
            "join_on": "\$2", "group_by": "\$0"}}]},
 "parallelism_spec": {"constant": 2}}
EOF
    # Variables of the same names in our own environment do not leak in.
    PACH_DATUM_left_JOIN_ON=stale run dr run s.json --json
    [ "$status" -eq 0 ]
    j=$(last_json)
    job=$(jget "$j" job_id)
    spec_commit=$(pyget "$(h5 .datumrun/pj --jobs)" 'j[-1]["pipeline_hash"]')
    [ "$(ls pj | wc -l)" -eq 2 ]
    for f in pj/*; do
        id=$(basename "$f")
        grep -qx "job=$job" "$f"
        grep -qx "commit=$job" "$f"
        grep -qx "pipeline=pj" "$f"
        grep -qx "spec=$spec_commit" "$f"
        grep -qx "datum=$id" "$f"
        grep -qx "ours=$job $id pj" "$f"
    done
    # Each input's own keys: join_on $1 / $2, group_by g$1 / $0 (the whole
    # path with its leading slash).
    k1=$(grep -l 'left_join=1$' pj/*)
    grep -qx 'right_join=1' "$k1"
    grep -qx 'left_group=g1' "$k1"
    grep -qx 'right_group=/r-1.csv' "$k1"
    k2=$(grep -l 'left_join=2$' pj/*)
    grep -qx 'right_group=/r-2.csv' "$k2"
}

@test "PACH_DATUM_<input>_GROUP_BY in a group; unset for an input without keys" {
    mkdir G P
    echo a > G/x-1; echo b > G/x-2; echo c > G/y-1; echo p > P/p
    cat > s.json <<'EOF'
{"pipeline": {"name": "pg"},
 "transform": {"cmd": ["sh", "-c", "echo \"$PACH_DATUM_g_GROUP_BY ${PACH_DATUM_g_JOIN_ON-nojoin} ${PACH_DATUM_p_GROUP_BY-unset}\" > \"$DATUMRUN_OUT/$PACH_DATUM_ID\""]},
 "input": {"cross": [
   {"group": [{"pfs": {"name": "g", "repo": "G", "glob": "/(*)-(*)", "group_by": "$1"}}]},
   {"pfs": {"name": "p", "repo": "P", "glob": "/*"}}]}}
EOF
    run dr run s.json -n 1
    [ "$status" -eq 0 ]
    [ "$(cat pg/* | LC_ALL=C sort | tr '\n' ' ')" = "x nojoin unset y nojoin unset " ]
}

@test "empty_files: the command sees empty files of the same names; lazy changes nothing" {
    mkdir -p repo/d/sub
    echo hello > repo/a.txt
    echo world > repo/d/sub/b.txt
    echo x > repo/d/c.txt
    ln -s a.txt repo/link.txt
    cmd='n=$(basename "$in"); { find "pfs/in" \( -type f -o -type l \) -printf "%P %s %y\n" | LC_ALL=C sort; echo "var $(wc -c < "$in")"; } > "$DATUMRUN_OUT/$n.seen"'
    spec s.json ef "$cmd" '{"pfs": {"name": "in", "repo": "repo", "glob": "/*", "empty_files": true}}'
    run dr run s.json -n 2 --json
    [ "$status" -eq 0 ]
    [ "$(counts "$(last_json)")" = "3 + 0 / 3" ]
    [ "$(cat ef/a.txt.seen)" = "$(printf 'a.txt 0 f\nvar 0')" ]
    # a directory entry: the same tree, every file empty
    [ "$(head -2 ef/d.seen)" = "$(printf 'd/c.txt 0 f\nd/sub/b.txt 0 f')" ]
    [ "$(cat ef/link.txt.seen)" = "$(printf 'link.txt 0 f\nvar 0')" ]
    # the repo is untouched
    [ "$(cat repo/a.txt)" = hello ] && [ "$(cat repo/d/sub/b.txt)" = world ]
    [ -L repo/link.txt ]
    # the root glob: the whole repo as empty files
    spec r.json er "$cmd" '{"pfs": {"name": "in", "repo": "repo", "glob": "/", "empty_files": true}}'
    run dr run r.json -n 1
    [ "$status" -eq 0 ]
    grep -qx 'd/sub/b.txt 0 f' er/in.seen
    grep -qx 'a.txt 0 f' er/in.seen
    # empty_files is what the command sees: a new pipeline version
    spec s.json ef "$cmd" '{"pfs": {"name": "in", "repo": "repo", "glob": "/*"}}'
    run dr plan s.json
    [[ "$output" == *"3 of the skipped datums were made by an earlier version"* ]]
    # lazy: accepted, inputs are links already; not a new version
    spec l.json lz 'cat "pfs/in/$(basename "$in")" > "$DATUMRUN_OUT/$(basename "$in")"' \
        '{"pfs": {"name": "in", "repo": "repo", "glob": "/a.txt", "lazy": true}}'
    run dr run l.json -n 1
    [ "$status" -eq 0 ]
    [ "$(cat lz/a.txt)" = hello ]
    spec l.json lz 'cat "pfs/in/$(basename "$in")" > "$DATUMRUN_OUT/$(basename "$in")"' \
        '{"pfs": {"name": "in", "repo": "repo", "glob": "/a.txt"}}'
    run dr plan l.json
    [[ "$output" == *"1 to skip"* ]]
    [[ "$output" != *"earlier version"* ]]
}

@test "datum_set_spec.number sets the chunk size; Pachyderm fields with no meaning here are refused, saying why" {
    mkdir repo
    for i in 0 1 2 3 4 5 6 7 8 9; do echo $i > repo/f$i; done
    spec s.json ds 'cp "$in" "$DATUMRUN_OUT/"' "$(pfs in repo '/*')" '{"datum_set_spec": {"number": 5}}'
    run dr run s.json -n 2 --json
    [ "$status" -eq 0 ]
    [ "$(counts "$(last_json)")" = "10 + 0 / 10" ]
    spec b.json ds 'cp "$in" "$DATUMRUN_OUT/"' "$(pfs in repo '/*')" '{"datum_set_spec": {"size_bytes": 100}}'
    run dr run b.json
    [ "$status" -eq 2 ]
    [[ "$output" == *"datum_set_spec.size_bytes is not supported"* ]]
    spec p.json sp 'true' "$(pfs in repo '/*')" '{"spout": {"overwrite": true}}'
    run dr run p.json
    [ "$status" -eq 2 ]
    [[ "$output" == *"'spout' in the top level is a Pachyderm field with no meaning here: a spout runs forever"* ]]
    [ ! -e sp ] && [ ! -e .datumrun/sp ]
    spec q.json sq 'true' '{"pfs": {"name": "in", "repo": "repo", "glob": "/*", "s3": true}}'
    run dr run q.json
    [ "$status" -eq 2 ]
    [[ "$output" == *"'s3' in 'input.pfs' is a Pachyderm field with no meaning here"* ]]
    spec t.json st 'true' '{"pfs": {"name": "in", "repo": "repo", "glob": "/*", "trigger": {"size": "1M"}}}'
    run dr run t.json
    [ "$status" -eq 2 ]
    [[ "$output" == *"'trigger' in 'input.pfs' is a Pachyderm field with no meaning here"* ]]
    spec v.json sv 'true' "$(pfs in repo '/*')" '{"service": {"internal_port": 80}}'
    run dr run v.json
    [ "$status" -eq 2 ]
    [[ "$output" == *"'service' in the top level is a Pachyderm field with no meaning here"* ]]
}

@test "UTF-8 names: ? and classes match characters; a name that is not UTF-8 still matches" {
    mkdir repo
    echo 1 > "repo/$(printf '\xc3\xa5')"          # å
    echo 2 > "repo/$(printf '\xc3\xa9').txt"       # é.txt
    echo 3 > "repo/ab"
    echo 4 > "repo/$(printf '\xff')"               # not UTF-8
    spec q.json q1 'cp "$in" "$DATUMRUN_OUT/"' "$(pfs in repo '/?')"
    run dr plan q.json
    [ "$status" -eq 0 ]
    [[ "$output" == *"2 datums: 2 to process"* ]]         # å and \xff
    run dr run q.json -n 1
    [ "$status" -eq 0 ]
    [ -f "q1/$(printf '\xc3\xa5')" ] && [ -f "q1/$(printf '\xff')" ] && [ ! -e q1/ab ]
    spec t.json q2 'cp "$in" "$DATUMRUN_OUT/"' "$(pfs in repo '/?.txt')"
    run dr run t.json -n 1 --json
    [ "$(counts "$(last_json)")" = "1 + 0 / 1" ]
    [ -f "q2/$(printf '\xc3\xa9').txt" ]
    spec c.json q3 'cp "$in" "$DATUMRUN_OUT/"' "$(pfs in repo "/[$(printf '\xc3\xa5')a]")"
    run dr run c.json -n 1 --json
    [ "$(counts "$(last_json)")" = "1 + 0 / 1" ]
    [ -f "q3/$(printf '\xc3\xa5')" ]
    spec n.json q4 'cp "$in" "$DATUMRUN_OUT/"' "$(pfs in repo '/[[:^alpha:]]')"
    run dr run n.json -n 1 --json
    [ "$(counts "$(last_json)")" = "2 + 0 / 2" ]
}

@test "Pachyderm's combinators end to end: a three-way join with one outer input, a group over a join" {
    mkdir -p A B C
    for k in k1 k2; do echo "a$k" > A/$k; echo "b$k" > B/$k; done
    echo ck1 > C/k1
    # what the command saw: input:file for each input it has
    cat > rec.sh <<'EOF'
for v in a b c; do
    eval "p=\${$v-}"
    if [ -n "$p" ]; then printf '%s:%s ' "$v" "$(basename "$p")"; fi
done > "$DATUMRUN_OUT/$DATUMRUN_DATUM_ID"
EOF
    cat > j.json <<EOF
{"pipeline": {"name": "j3"},
 "transform": {"cmd": ["sh", "$T/rec.sh"]},
 "input": {"join": [
   {"pfs": {"name": "a", "repo": "A", "glob": "/(*)", "join_on": "\$1", "outer_join": true}},
   {"pfs": {"name": "b", "repo": "B", "glob": "/(*)", "join_on": "\$1"}},
   {"pfs": {"name": "c", "repo": "C", "glob": "/(*)", "join_on": "\$1"}}]}}
EOF
    run dr run j.json -n 2 --json
    [ "$status" -eq 0 ]
    [ "$(counts "$(last_json)")" = "2 + 0 / 2" ]
    [ "$(for f in j3/*; do cat "$f"; echo; done | sed 's/ $//' | LC_ALL=C sort | tr '\n' '|')" = "a:k1 b:k1 c:k1|a:k2|" ]
    # A group over a join: each file goes to its own input's group_by key.
    mkdir -p L R
    echo 1 > L/2.a; echo 1 > L/3.a; echo 1 > R/2.b; echo 1 > R/3.b; echo 1 > R/3.c
    cat > ls.sh <<'EOF'
find pfs -mindepth 2 -type l -printf '%P\n' | LC_ALL=C sort | tr '\n' ' ' > "$DATUMRUN_OUT/$DATUMRUN_GROUP_BY"
EOF
    cat > g.json <<EOF
{"pipeline": {"name": "gj"},
 "transform": {"cmd": ["sh", "$T/ls.sh"]},
 "input": {"group": [{"join": [
   {"pfs": {"name": "r", "repo": "R", "glob": "/(*).(*)", "join_on": "\$1", "group_by": "\$2"}},
   {"pfs": {"name": "l", "repo": "L", "glob": "/(*).a", "join_on": "\$1", "group_by": "\$1"}}]}]}}
EOF
    run dr run g.json -n 2 --json
    [ "$status" -eq 0 ]
    [ "$(counts "$(last_json)")" = "4 + 0 / 4" ]
    [ "$(ls gj | tr '\n' ' ')" = "2 3 b c " ]
    [ "$(cat gj/2)" = "l/2.a " ]
    [ "$(cat gj/3)" = "l/3.a " ]
    [ "$(cat gj/b)" = "r/2.b r/3.b " ]
    [ "$(cat gj/c)" = "r/3.c " ]
}
