#!/usr/bin/env bats
# The input model end to end: real jobs over cross, union, join, group and
# nested inputs.  Every datum's command records what it sees (the files
# under pfs/, links followed; its input variables; the join and group keys)
# as one line in $DATUMRUN_OUT/<datum ID>, so `seen NAME` lists the datums
# of pipeline NAME, sorted.  Reruns after adding or changing one file check
# that only the new or changed combinations run.

load helpers

setup() {
    common_setup
    R=$(pwd -P)
    # rec.sh VAR...: "files|VAR=value ...|join=KEY group=KEY", values
    # relative to the test folder, "unset" for what is not set.
    printf 'ROOT=%s\n' "$R" > rec.sh
    cat >> rec.sh <<'EOF'
export LC_ALL=C
cd pfs || exit 1
files=$(find -L . -path ./out -prune -o -type f -print | sed 's|^\./||' | sort | tr '\n' ' ')
vars=
for v in "$@"; do
    eval "val=\${$v-unset}"
    vars="$vars $v=${val#"$ROOT"/}"
done
echo "${files% }|${vars# }|join=${DATUMRUN_JOIN_ON-unset} group=${DATUMRUN_GROUP_BY-unset}" \
    > "$DATUMRUN_OUT/$DATUMRUN_DATUM_ID"
EOF
    files A/a1 A/a2 A/a3 B/b1 B/b2 C/c1 C/c2
    files J1/1.a J1/2.a J1/3.a J2/2.b J2/3.b J2/3.c J2/4.b
    files G1/a-1.txt G1/a-2.txt G1/b-1.txt G2/a-x.csv G2/c-y.csv
}
teardown() { common_teardown; }

# files PATH...: create each file (and its folders) holding its own path.
files() {
    local f
    for f in "$@"; do mkdir -p "$(dirname "$f")" && echo "$f" > "$f"; done
}

# combo FILE NAME INPUT_JSON VAR...: a spec whose command is rec.sh VAR...
combo() {
    local file=$1 name=$2 input=$3
    shift 3
    local vars
    vars=$(printf ', "%s"' "$@")
    cat > "$file" <<EOF
{"pipeline": {"name": "$name"},
 "transform": {"cmd": ["sh", "$R/rec.sh"$vars]},
 "input": $input,
 "parallelism_spec": {"constant": 2}}
EOF
}

# seen NAME: what each datum of pipeline NAME saw, one sorted line each.
seen() {
    cat "$1"/* | LC_ALL=C sort
}

# job SPEC: run it; "processed + skipped / total" on stdout.
job() {
    run dr run "$1" --json
    [ "$status" -eq 0 ] || { echo "$output" >&2; return 1; }
    counts "$(last_json)"
}

p() { # p NAME REPO GLOB [EXTRA]: a pfs input
    printf '{"pfs": {"name": "%s", "repo": "%s", "glob": "%s"%s}}' "$1" "$2" "$3" "${4:+, $4}"
}

@test "cross: every combination; a new file on one side runs only its combinations" {
    combo s.json cr "{\"cross\": [$(p a A '/*'), $(p b B '/*')]}" a b
    [ "$(job s.json)" = "6 + 0 / 6" ]
    [ "$(seen cr)" = "a/a1 b/b1|a=A/a1 b=B/b1|join=unset group=unset
a/a1 b/b2|a=A/a1 b=B/b2|join=unset group=unset
a/a2 b/b1|a=A/a2 b=B/b1|join=unset group=unset
a/a2 b/b2|a=A/a2 b=B/b2|join=unset group=unset
a/a3 b/b1|a=A/a3 b=B/b1|join=unset group=unset
a/a3 b/b2|a=A/a3 b=B/b2|join=unset group=unset" ]
    [ "$(job s.json)" = "0 + 6 / 6" ]
    files B/b3
    [ "$(job s.json)" = "3 + 6 / 9" ]
    [ "$(ls cr | wc -l)" -eq 9 ]
    seen cr | grep -qx 'a/a2 b/b3|a=A/a2 b=B/b3|join=unset group=unset'
    # a changed file reruns the datums holding it, and only those
    echo changed > A/a1
    [ "$(job s.json)" = "3 + 6 / 9" ]
    # a removed file takes its combinations' outputs with it
    rm B/b1
    [ "$(job s.json)" = "0 + 6 / 6" ]
    [ "$(ls cr | wc -l)" -eq 6 ]
    ! seen cr | grep -q b1
    # the same as a run from scratch
    [ "$(tree cr)" = "$(scratch_tree s.json)" ]
}

@test "cross of directory datums: each brings its whole subtree" {
    files D/sub/f1 D/sub/deep/f2 D/top.txt
    combo s.json cd "{\"cross\": [$(p d D '/*'), $(p b B '/b1')]}" d b
    [ "$(job s.json)" = "2 + 0 / 2" ]
    [ "$(seen cd)" = "b/b1 d/sub/deep/f2 d/sub/f1|d=D/sub b=B/b1|join=unset group=unset
b/b1 d/top.txt|d=D/top.txt b=B/b1|join=unset group=unset" ]
    files D/sub/deep/f3
    [ "$(job s.json)" = "1 + 1 / 2" ]
    seen cd | grep -q '^b/b1 d/sub/deep/f2 d/sub/deep/f3 d/sub/f1|'
}

@test "union: each input's datums in turn, with shared or distinct names" {
    combo s.json us "{\"union\": [$(p in A '/*'), $(p in B '/*')]}" in
    [ "$(job s.json)" = "5 + 0 / 5" ]
    [ "$(seen us)" = "in/a1|in=A/a1|join=unset group=unset
in/a2|in=A/a2|join=unset group=unset
in/a3|in=A/a3|join=unset group=unset
in/b1|in=B/b1|join=unset group=unset
in/b2|in=B/b2|join=unset group=unset" ]
    files A/a4
    [ "$(job s.json)" = "1 + 5 / 6" ]

    combo d.json ud "{\"union\": [$(p a A '/a[12]'), $(p b B '/b1')]}" a b
    [ "$(job d.json)" = "3 + 0 / 3" ]
    [ "$(seen ud)" = "a/a1|a=A/a1 b=unset|join=unset group=unset
a/a2|a=A/a2 b=unset|join=unset group=unset
b/b1|a=unset b=B/b1|join=unset group=unset" ]

    # one name, one path, two repos: two datums
    files U1/x U2/x
    combo x.json ux "{\"union\": [$(p in U1 '/*'), $(p in U2 '/*')]}" in
    [ "$(job x.json)" = "2 + 0 / 2" ]
    [ "$(seen ux)" = "in/x|in=U1/x|join=unset group=unset
in/x|in=U2/x|join=unset group=unset" ]
    # an input united with itself: the same datum once
    combo y.json uy "{\"union\": [$(p in A '/*'), $(p in A '/a1')]}" in
    [ "$(job y.json)" = "4 + 0 / 4" ]
}

@test "join: inner, outer, several matches per key, and a new match" {
    l=$(p l J1 '/(*).a' '"join_on": "$1"')
    r=$(p r J2 '/(*).*' '"join_on": "$1"')
    combo s.json ji "{\"join\": [$l, $r]}" l r
    [ "$(job s.json)" = "3 + 0 / 3" ]
    [ "$(seen ji)" = "l/2.a r/2.b|l=J1/2.a r=J2/2.b|join=2 group=unset
l/3.a r/3.b|l=J1/3.a r=J2/3.b|join=3 group=unset
l/3.a r/3.c|l=J1/3.a r=J2/3.c|join=3 group=unset" ]
    files J2/1.b
    [ "$(job s.json)" = "1 + 3 / 4" ]
    seen ji | grep -qx 'l/1.a r/1.b|l=J1/1.a r=J2/1.b|join=1 group=unset'
    rm J2/1.b
    [ "$(job s.json)" = "0 + 3 / 3" ]
    [ "$(tree ji)" = "$(scratch_tree s.json)" ]

    lo=$(p l J1 '/(*).a' '"join_on": "$1", "outer_join": true')
    combo o.json jo "{\"join\": [$lo, $r]}" l r
    [ "$(job o.json)" = "4 + 0 / 4" ]
    seen jo | grep -qx 'l/1.a|l=J1/1.a r=unset|join=1 group=unset'

    ro=$(p r J2 '/(*).*' '"join_on": "$1", "outer_join": true')
    combo b.json jb "{\"join\": [$lo, $ro]}" l r
    [ "$(job b.json)" = "5 + 0 / 5" ]
    [ "$(seen jb | cut -d'|' -f1)" = "l/1.a
l/2.a r/2.b
l/3.a r/3.b
l/3.a r/3.c
r/4.b" ]
}

@test "group: one datum per key with every matching file of every input" {
    g1=$(p g1 G1 '/(*)-*' '"group_by": "$1"')
    g2=$(p g2 G2 '/(*)-*' '"group_by": "$1"')
    combo s.json gr "{\"group\": [$g1, $g2]}" g1 g2
    [ "$(job s.json)" = "3 + 0 / 3" ]
    [ "$(seen gr)" = "g1/a-1.txt g1/a-2.txt g2/a-x.csv|g1=G1/a-1.txt g2=G2/a-x.csv|join=unset group=a
g1/b-1.txt|g1=G1/b-1.txt g2=unset|join=unset group=b
g2/c-y.csv|g1=unset g2=G2/c-y.csv|join=unset group=c" ]
    # a new member makes its group a new datum; the old one's output goes
    files G1/c-0.txt
    [ "$(job s.json)" = "1 + 2 / 3" ]
    [ "$(ls gr | wc -l)" -eq 3 ]
    seen gr | grep -qx 'g1/c-0.txt g2/c-y.csv|g1=G1/c-0.txt g2=G2/c-y.csv|join=unset group=c'
    echo changed > G2/a-x.csv
    [ "$(job s.json)" = "1 + 2 / 3" ]
    [ "$(tree gr)" = "$(scratch_tree s.json)" ]
}

@test "nested: cross of a union and a pfs, join in a cross, group in a union" {
    combo s.json cu "{\"cross\": [{\"union\": [$(p u A '/*'), $(p u B '/*')]}, $(p c C '/*')]}" u c
    [ "$(job s.json)" = "10 + 0 / 10" ]
    seen cu | grep -qx 'c/c2 u/b1|u=B/b1 c=C/c2|join=unset group=unset'
    files C/c3
    [ "$(job s.json)" = "5 + 10 / 15" ]
    [ "$(tree cu)" = "$(scratch_tree s.json)" ]

    l=$(p l J1 '/(*).a' '"join_on": "$1"')
    r=$(p r J2 '/(*).*' '"join_on": "$1"')
    combo j.json jc "{\"cross\": [{\"join\": [$l, $r]}, $(p b B '/*')]}" l r b
    [ "$(job j.json)" = "6 + 0 / 6" ]
    seen jc | grep -qx 'b/b2 l/3.a r/3.c|l=J1/3.a r=J2/3.c b=B/b2|join=3 group=unset'
    files B/b3
    [ "$(job j.json)" = "3 + 6 / 9" ]

    g1=$(p g1 G1 '/(*)-*' '"group_by": "$1"')
    g2=$(p g2 G2 '/(*)-*' '"group_by": "$1"')
    combo g.json gu "{\"union\": [{\"group\": [$g1, $g2]}, $(p a A '/*')]}" g1 g2 a
    [ "$(job g.json)" = "6 + 0 / 6" ]
    seen gu | grep -qx 'g1/b-1.txt|g1=G1/b-1.txt g2=unset a=unset|join=unset group=b'
    seen gu | grep -qx 'a/a2|g1=unset g2=unset a=A/a2|join=unset group=unset'

    # a cross inside a join joins on its first input's key
    lb=$(p b B '/(*)' '"join_on": "$1"')
    combo k.json cj "{\"join\": [{\"cross\": [$l, $lb]}, $r]}" l b r
    [ "$(job k.json)" = "9 + 0 / 9" ]
    seen cj | grep -qx 'b/b3 l/2.a r/2.b|l=J1/2.a b=B/b3 r=J2/2.b|join=2 group=unset'
}

@test "plan --json lists each datum's inputs, key and action" {
    l=$(p l J1 '/(*).a' '"join_on": "$1"')
    r=$(p r J2 '/(*).*' '"join_on": "$1"')
    combo s.json pj "{\"join\": [$l, $r]}" l r
    run dr plan s.json --json
    [ "$status" -eq 0 ]
    echo "$output" > plan.json
    [ "$($PY -c 'import json; j = json.load(open("plan.json"))
print(j["total"], j["process"], j["skip"], j["gone"])
for d in j["datums"]:
    print(d["key"], d["action"], " ".join("%s:%s" % (e["input"], e["path"]) for e in d["inputs"]), len(d["id"]))')" = "3 3 0 0
2 process l:2.a r:2.b 32
3 process l:3.a r:3.b 32
3 process l:3.a r:3.c 32" ]
    [ "$(job s.json)" = "3 + 0 / 3" ]
    # the plan's IDs are the run's
    for id in $($PY -c 'import json; [print(d["id"]) for d in json.load(open("plan.json"))["datums"]]'); do
        [ -f "pj/$id" ]
    done
    rm J2/3.c
    run dr plan s.json --json
    [ "$status" -eq 0 ]
    [ "$($PY -c 'import json,sys; j = json.loads(sys.argv[1]); print(j["total"], j["process"], j["skip"], j["gone"])' "$output")" = "2 0 2 1" ]
    # text form: one line per datum, the key, the totals
    run dr plan s.json
    [ "$status" -eq 0 ]
    [[ "$output" =~ "l:/2.a, r:/2.b  [key 2]" ]]
    [[ "${lines[-1]}" = "2 datums: 0 to process, 2 to skip; 1 gone from the input (outputs to remove)" ]]
}

@test "a broken glob is a spec error naming the pattern; nothing runs" {
    combo s.json bad "{\"cross\": [$(p a A '/*'), $(p b B '/[abc')]}" a b
    run dr plan s.json
    [ "$status" -eq 2 ]
    [[ "$output" =~ "input 'b': glob '/[abc': unclosed '[' at column 2" ]]
    run dr run s.json --json
    [ "$status" -eq 2 ]
    [[ "$output" =~ "input 'b': glob '/[abc': unclosed '[' at column 2" ]]
    [ ! -e bad ] && [ ! -e .datumrun ]
    # matching nothing is not an error
    combo n.json none "{\"cross\": [$(p a A '/*'), $(p b B '/nothing/*')]}" a b
    [ "$(job n.json)" = "0 + 0 / 0" ]
}
