#!/usr/bin/env bash
# cross.sh: how long `datumrun plan` takes, and its peak RSS, to expand
#   - a cross of N x N small files (default 1,000 x 1,000 = 1,000,000 datums),
#     as text to /dev/null and as --json to a file;
#   - a join and a group of M entries per side (default 100,000), and of
#     M/4 and M/2, to show they grow linearly (keys are hashed).
# Baselines, run side by side: for the cross, the same N x N pairs written
# by GNU join on an empty field (`join -j 2 <(ls A) <(ls B)`, a cartesian
# product); for the join, GNU join of the two sorted key lists; for the
# group, `sort | uniq -c` of both sides' keys.  Each figure is the median of
# REPS runs (wall seconds from /usr/bin/time -f '%e %M', peak RSS in MiB).
#   bench/cross.sh [BUILD_DIR] [N] [M] [REPS]
set -euo pipefail
BUILD=${1:-build}
N=${2:-1000}
M=${3:-100000}
REPS=${4:-3}
DR=$(cd "$BUILD" && pwd)/datumrun
W=$(mktemp -d /tmp/datumrun-cross.XXXXXX)
trap 'rm -rf "$W"' EXIT
cd "$W"

mkdir A B
(cd A && seq -f "a%06g" 1 "$N" | xargs touch)
(cd B && seq -f "b%06g" 1 "$N" | xargs touch)
cat > cross.json <<'JSON'
{"pipeline": {"name": "cross"}, "transform": {"cmd": ["true"]},
 "input": {"cross": [{"pfs": {"name": "a", "repo": "A", "glob": "/*"}},
                     {"pfs": {"name": "b", "repo": "B", "glob": "/*"}}]}}
JSON

# keyed SIZE: repos L$SIZE and R$SIZE (keys k000001 ..., one file per key
# and side) and join/group specs over them.
keyed() {
    local s=$1
    mkdir "L$s" "R$s"
    (cd "L$s" && seq -f "k%07g.l" 1 "$s" | xargs touch)
    (cd "R$s" && seq -f "k%07g.r" 1 "$s" | xargs touch)
    for kind in join group; do
        local key=join_on
        [ $kind = group ] && key=group_by
        cat > "$kind$s.json" <<JSON
{"pipeline": {"name": "$kind$s"}, "transform": {"cmd": ["true"]},
 "input": {"$kind": [
   {"pfs": {"name": "l", "repo": "L$s", "glob": "/(*).l", "$key": "\$1"}},
   {"pfs": {"name": "r", "repo": "R$s", "glob": "/(*).r", "$key": "\$1"}}]}}
JSON
    done
}
SIZES="$((M / 4)) $((M / 2)) $M"
for s in $SIZES; do keyed "$s"; done

median() { sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }

# measure LABEL CMD...: REPS runs; prints "LABEL wall_s rss_mib".
measure() {
    local label=$1
    shift
    : > t.txt
    : > m.txt
    for _ in $(seq 1 "$REPS"); do
        /usr/bin/time -o tm.txt -f '%e %M' "$@"
        read -r t m < tm.txt
        echo "$t" >> t.txt
        echo "$m" >> m.txt
    done
    printf '%-44s %8s %8s\n' "$label" "$(median < t.txt)" \
        "$(( $(median < m.txt) / 1024 ))"
}

echo "N=$N M=$M reps=$REPS ($(nproc) cores, $(uname -r))"
printf '%-44s %8s %8s\n' "what" "wall_s" "rss_MiB"
measure "datumrun plan cross ${N}x${N} > /dev/null" \
    sh -c "'$DR' plan cross.json > /dev/null"
measure "datumrun plan cross ${N}x${N} --json > file" \
    sh -c "'$DR' plan cross.json --json > out.json"
measure "baseline: join -j 2 <(ls A) <(ls B)" \
    bash -c 'join -j 2 <(ls A) <(ls B) > /dev/null'
lines=$("$DR" plan cross.json | wc -l)
pairs=$(join -j 2 <(ls A) <(ls B) | wc -l)
echo "datums: $((lines - 2)) (plan lines less header and totals); pairs: $pairs"
for s in $SIZES; do
    measure "datumrun plan join ${s} x ${s}" \
        sh -c "'$DR' plan join$s.json > /dev/null"
    measure "datumrun plan group ${s} + ${s}" \
        sh -c "'$DR' plan group$s.json > /dev/null"
done
measure "baseline: GNU join of the keys, $M x $M" \
    bash -c "join <(ls L$M | sed 's/\\.l\$//') <(ls R$M | sed 's/\\.r\$//') > /dev/null"
measure "baseline: sort | uniq -c of the keys, $M + $M" \
    bash -c "ls L$M R$M | sed -n 's/\\.[lr]\$//p' | sort | uniq -c > /dev/null"
echo "join datums: $("$DR" plan "join$M.json" | tail -n 1)"
echo "group datums: $("$DR" plan "group$M.json" | tail -n 1)"
