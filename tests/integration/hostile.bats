#!/usr/bin/env bats
# Hostile input gets a clear refusal, never a wrong answer (issue 13):
# bounds on spec values and worker counts, folders checked before anything
# is written, names whatever their bytes, long paths, runaway logs, a
# journal pulled away mid-job, a full state folder.

load helpers

setup() {
    common_setup
    mkdir -p data
    echo a > data/a
    echo b > data/b
}

teardown() {
    [ -n "${MNT:-}" ] && umount "$MNT" 2>/dev/null
    common_teardown
}

copy_cmd='cp "$in" "$DATUMRUN_OUT/$(basename "$in")"'

# no_state: nothing was created for the pipeline named $1.
no_state() {
    [ ! -e ".datumrun/$1" ] && [ ! -e .datumrun ]
}

@test "huge parallelism specs and -n are refused with their own message, nothing written" {
    for v in 100000 2147483647 2147483648 1e300; do
        spec s.json big "$copy_cmd" "$(pfs in data '/*')" \
            "{\"parallelism_spec\": {\"constant\": $v}}"
        run dr run s.json
        [ "$status" -eq 2 ]
        [[ "$output" =~ "parallelism_spec.constant is " ]]
        [[ "$output" =~ "beyond the limit of 65536" ]]
        no_state big
    done
    spec s.json big "$copy_cmd" "$(pfs in data '/*')" \
        '{"parallelism_spec": {"coefficient": 1e300}}'
    run dr run s.json
    [ "$status" -eq 2 ]
    [[ "$output" =~ "parallelism_spec.coefficient is" ]]
    [[ "$output" =~ "beyond the limit of 1024 workers per node" ]]
    for v in '"datum_tries": 2147483647' '"datum_timeout": "10000h"' \
             '"job_timeout": 1e300' '"resource_requests": {"cpu": 99999}'; do
        spec s.json big "$copy_cmd" "$(pfs in data '/*')" "{$v}"
        run dr run s.json
        [ "$status" -eq 2 ]
        [[ "$output" =~ "beyond the limit" ]]
        no_state big
    done
    spec s.json big "$copy_cmd" "$(pfs in data '/*')"
    for n in 999999 2147483648 99999999999999999999999; do
        run dr run s.json -n "$n"
        [ "$status" -eq 2 ]
        [[ "$output" =~ "out of range (1 to 65536)" ]]
        no_state big
    done
    # Within the sane bound but beyond what this machine holds.
    cores=$(nproc)
    run dr run s.json -n $((4 * cores + 1))
    [ "$status" -eq 2 ]
    [[ "$output" =~ "workers is more than this machine can hold" ]]
    [[ "$output" =~ "--oversubscribe" ]]
    no_state big
}

@test "--oversubscribe starts more workers than the per-core cap" {
    spec s.json over "$copy_cmd" "$(pfs in data '/*')"
    cores=$(nproc)
    run dr run s.json -n $((4 * cores + 1)) --oversubscribe --json
    [ "$status" -eq 0 ]
    [ "$(jget "$(last_json)" workers)" -eq $((4 * cores + 1)) ]
    [ "$(jget "$(last_json)" processed)" -eq 2 ]
}

@test "an output that is a regular file or under /proc exits 2 and leaves no file" {
    touch outfile
    spec s.json reg "$copy_cmd" "$(pfs in data '/*')" '{"output": "outfile"}'
    run dr run s.json
    [ "$status" -eq 2 ]
    [[ "$output" =~ "is not a directory (it is a regular file)" ]]
    no_state reg
    spec s.json prc "$copy_cmd" "$(pfs in data '/*')" '{"output": "/proc/datumrun/out"}'
    run dr run s.json
    [ "$status" -eq 2 ]
    [[ "$output" =~ "kernel pseudo file system" ]]
    no_state prc
    spec s.json st "$copy_cmd" "$(pfs in data '/*')"
    run dr run s.json --state /proc/datumrun-state
    [ "$status" -eq 2 ]
    [[ "$output" =~ "state folder '/proc/datumrun-state'" ]]
    [ ! -e st ] && no_state st
    # Under an MPI world already (mpirun), the same checks hold.
    spec s.json reg "$copy_cmd" "$(pfs in data '/*')" '{"output": "outfile"}'
    run timeout -k 10 120 env OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1 \
        mpirun -n 2 --oversubscribe "$DATUMRUN" run s.json
    [ "$status" -ne 0 ]
    [[ "$output" =~ "is not a directory (it is a regular file)" ]]
    no_state reg
}

@test "a journal deleted mid-job stops the job with a message; the rerun redoes what was lost" {
    for i in 1 2 3 4; do echo "$i" > "data/f$i"; done
    # The first datum to run deletes the journal (no timing involved).
    spec s.json jd "[ -e \"$T/once\" ] || { touch \"$T/once\"; rm -f \"$T/st/journal\"; }; $copy_cmd" \
        "$(pfs in data '/*')" '{"parallelism_spec": {"constant": 1}}'
    run dr run s.json --state "$T/st" --json
    [ "$status" -eq 1 ]
    [[ "$output" =~ "the journal was deleted during the job" ]]
    [[ "$output" =~ "stopping the job" ]]
    run dr run s.json --state "$T/st" --json
    [ "$status" -eq 0 ]
    [ "$(jget "$(last_json)" failed)" -eq 0 ]
    [ "$(tree jd)" = "$(scratch_tree s.json)" ]
    [ "$(ls jd | wc -l)" -eq 6 ]
}

@test "a journal replaced mid-job is noticed too" {
    spec s.json jr "[ -e \"$T/once\" ] || { touch \"$T/once\"; mv \"$T/st/journal\" \"$T/st/j.old\"; cp \"$T/st/j.old\" \"$T/st/journal\"; }; $copy_cmd" \
        "$(pfs in data '/*')" '{"parallelism_spec": {"constant": 1}}'
    run dr run s.json --state "$T/st"
    [ "$status" -eq 1 ]
    [[ "$output" =~ "the journal was replaced during the job" ]]
}

@test "a non-UTF-8 name goes through plan, list-datum and inspect-datum JSON, exactly" {
    mkdir -p repo
    printf 'x' > "repo/$(printf 'caf\xe9')"
    echo y > repo/plain
    spec s.json nu "$copy_cmd" "$(pfs in repo '/*')"
    run dr plan s.json --json
    [ "$status" -eq 0 ]
    # Valid JSON, and the bytes come back with surrogateescape.
    [ "$(pyget "$output" 'sorted(e["path"].encode("utf-8", "surrogateescape").hex() for d in j["datums"] for e in d["inputs"])')" = \
      "['636166e9', '706c61696e']" ]
    run dr run s.json --json
    [ "$status" -eq 0 ]
    [ "$(jget "$(last_json)" processed)" -eq 2 ]
    run dr list-datum s.json --json
    [ "$status" -eq 0 ]
    [ "$(pyget "$output" 'len(j)')" -eq 2 ]
    [ "$(pyget "$output" 'sorted(x["entries"][0]["path"].encode("utf-8", "surrogateescape").hex() for x in j)')" = \
      "['2f636166e9', '2f706c61696e']" ]
    id=$(pyget "$output" '[x["id"] for x in j if x["entries"][0]["path"] != "/plain"][0]')
    job=$(dr list-job s.json --json | $PY -c 'import json,sys; print(json.load(sys.stdin)[0]["job_id"])')
    run dr inspect-datum s.json "$job" "$id" --json
    [ "$status" -eq 0 ]
    [ "$(pyget "$output" 'j["entries"][0]["path"].encode("utf-8", "surrogateescape")')" = "b'/caf\\xe9'" ]
    [ "$(pyget "$output" 'j["outputs"][0].encode("utf-8", "surrogateescape")')" = "b'caf\\xe9'" ]
    # The output file has the same bytes as the input's name.
    [ -e "nu/$(printf 'caf\xe9')" ]
    # Tables escape it.
    run dr list-datum s.json
    [[ "$output" =~ 'in:/caf\xe9' ]]
}

@test "a name with a newline is one entry in the manifest (h5py) and in tables" {
    mkdir -p repo
    printf 'x' > "repo/$(printf 'two\nlines')"
    printf '\033[2J' > "repo/$(printf 'esc\033[2J')"
    spec s.json nl "$copy_cmd" "$(pfs in repo '/*')"
    run dr run s.json --json
    [ "$status" -eq 0 ]
    [ "$(jget "$(last_json)" processed)" -eq 2 ]
    run h5 .datumrun/nl --datums
    [ "$status" -eq 0 ]
    [ "$(pyget "$output" 'sorted(d["inputs"] for d in j)')" = \
      "[['in:/esc\\x1b[2J'], ['in:/two\\nlines']]" ]
    [ "$(h5 .datumrun/nl --summary | $PY -c 'import json,sys; print(json.load(sys.stdin)["version"])')" -ge 2 ]
    run dr list-datum s.json
    [ "$status" -eq 0 ]
    [[ "$output" =~ 'in:/two\nlines' ]]
    [[ "$output" =~ 'in:/esc\x1b[2J' ]]
    # No raw control character reaches the terminal.
    ! printf '%s' "$output" | grep -q "$(printf '\033')"
    [ "$(printf '%s\n' "$output" | wc -l)" -eq 3 ]
    run dr list-datum s.json --json
    [ "$(pyget "$output" 'sorted(x["entries"][0]["path"] for x in j)')" = \
      "['/esc\\x1b[2J', '/two\\nlines']" ]
}

@test "a 200 MiB stdout against a 10 MiB --log-limit: the log is capped with a note, the outcome unchanged" {
    spec s.json big "head -c 209715200 /dev/zero; echo tail >&2; case \"\$in\" in */b) exit 3;; esac; $copy_cmd" \
        "$(pfs in data '/*')" '{"datum_tries": 1}'
    run dr run s.json --log-limit 10M --json
    [ "$status" -eq 1 ]
    [ "$(jget "$(last_json)" processed)" -eq 1 ]
    [ "$(jget "$(last_json)" failed)" -eq 1 ]
    [[ "$output" =~ "exit 3" ]]
    for f in .datumrun/big/logs/*/*.out; do
        size=$(stat -c %s "$f")
        [ "$size" -ge $((10 * 1024 * 1024)) ] && [ "$size" -lt $((10 * 1024 * 1024 + 4096)) ]
        tail -c 300 "$f" | grep -q "stdout reached the log limit of 10.0MiB"
        tail -c 300 "$f" | grep -q "190.0MiB of stdout discarded"
    done
    [ "$(ls .datumrun/big/logs/*/*.out | wc -l)" -eq 2 ]
    # stderr, under the limit, is whole.
    for f in .datumrun/big/logs/*/*.err; do grep -qx tail "$f"; done
    [ "$(cat big/a)" = a ]
    # The default is 100 MiB per stream; 0 means no limit.
    run dr run s.json --log-limit 1X
    [ "$status" -eq 2 ]
    [[ "$output" =~ "--log-limit: bad size '1X'" ]]
}

@test "a full tmpfs as the state folder: the datum is not failed, the worker reports ENOSPC with the path, the job stops" {
    # Thirty folders deep: setting up this datum's sandbox takes 31 inodes.
    $PY -c "
import os
p = 'repo/' + '/'.join(['x'] * 30)
os.makedirs(p)
open(p + '/leaf1', 'w').write('1\n')"
    glob="/$(printf 'x/%.0s' $(seq 30))*"
    spec s.json df "$copy_cmd" "$(pfs in repo "$glob")"
    MNT="$T/mnt"
    mkdir -p "$MNT"
    mount -t tmpfs -o size=4m,nr_inodes=400 tmpfs "$MNT"
    run dr run s.json --state "$MNT/st" --json
    [ "$status" -eq 0 ]
    [ "$(jget "$(last_json)" processed)" -eq 1 ]
    # A new datum; then the state folder's inodes run out, all but 20.
    echo 2 > "repo/$(printf 'x/%.0s' $(seq 30))leaf2"
    $PY -c "
import os
free = os.statvfs('$MNT').f_ffree
for i in range(free - 20):
    open('$MNT/fill%d' % i, 'w').close()"
    run dr run s.json --state "$MNT/st" --json
    [ "$status" -eq 1 ]
    [[ "$output" =~ "No space left on device: cannot create $MNT/st/sandbox/" ]]
    [[ "$output" =~ "stopping the job: no new datums start" ]]
    [[ "$output" =~ "is not failed" ]]
    [ "$(jget "$(last_json)" failed)" -eq 0 ]
    [ "$(jget "$(last_json)" state)" = killed ]
    # Room again: the rerun does the datum, and keeps the first one's.
    rm -f "$MNT"/fill*
    run dr run s.json --state "$MNT/st" --json
    [ "$status" -eq 0 ]
    [ "$(counts "$(last_json)")" = "1 + 1 / 2" ]
    [ "$(cat df/leaf1)" = 1 ] && [ "$(cat df/leaf2)" = 2 ]
}

@test "a 5,000-byte path fails its datum with the reason first and the path shortened; the job goes on" {
    $PY -c "
import os
os.makedirs('repo')
open('repo/a.txt', 'w').write('a\n')
os.chdir('repo')
os.mkdir('deep'); os.chdir('deep')
for i in range(25):
    os.mkdir('x' * 199); os.chdir('x' * 199)
open('leaf.txt', 'w').write('leaf\n')"
    spec s.json lp "$copy_cmd" "$(pfs in repo '/**.txt')" '{"datum_tries": 1}'
    run dr plan s.json --json
    [ "$status" -eq 0 ]
    [ "$(pyget "$output" 'max(len(d["inputs"][0]["path"]) for d in j["datums"])')" -gt 5000 ]
    run dr run s.json --json
    [ "$status" -eq 1 ]
    [ "$(jget "$(last_json)" processed)" -eq 1 ]
    [ "$(jget "$(last_json)" failed)" -eq 1 ]
    [ "$(cat lp/a.txt)" = a ]
    [[ "$output" =~ "failed after 1 attempts: File name too long: cannot link /" ]]
    [[ "$output" =~ "xxx...xxx" ]]
    # The message is whole: the exit status follows the shortened path.
    line=$(printf '%s\n' "$output" | grep 'File name too long')
    [[ "$line" =~ "/leaf.txt, exit 127;" ]]
    [ "${#line}" -lt 2000 ]
}

@test "a full scratch folder at the job's start: the worker reports ENOSPC with the path, no datum failed, no worker lost" {
    MNT="$T/mnt"
    mkdir -p "$MNT"
    mount -t tmpfs -o size=1m,nr_inodes=64 tmpfs "$MNT"
    mkdir "$MNT/scr"
    spec s.json sf "$copy_cmd" "$(pfs in data '/*')" '{"parallelism_spec": {"constant": 1}}'
    # Not one inode left: the worker's first folder cannot be made.
    $PY -c "
import os
i = 0
while True:
    try:
        open('$MNT/fill%d' % i, 'w').close()
    except OSError:
        break
    i += 1"
    run dr run s.json --scratch "$MNT/scr" --json
    [ "$status" -eq 1 ]
    [[ "$output" =~ "No space left on device: cannot create $MNT/scr/datumrun-" ]]
    [[ "$output" =~ "stopping the job: no new datums start" ]]
    [ "$(jget "$(last_json)" lost_workers)" -eq 0 ]
    [ "$(jget "$(last_json)" failed)" -eq 0 ]
    [ "$(jget "$(last_json)" state)" = killed ]
    rm -f "$MNT"/fill*
    run dr run s.json --scratch "$MNT/scr" --json
    [ "$status" -eq 0 ]
    [ "$(jget "$(last_json)" processed)" -eq 2 ]
    [ "$(cat sf/a)" = a ] && [ "$(cat sf/b)" = b ]
}

@test "a scratch folder that can hold no files is refused before anything is written" {
    spec s.json sc "$copy_cmd" "$(pfs in data '/*')"
    run dr run s.json --scratch /proc/datumrun-scratch
    [ "$status" -eq 2 ]
    [[ "$output" =~ "scratch folder '/proc/datumrun-scratch' is on a kernel pseudo file system" ]]
    [[ "$output" =~ "(from --scratch)" ]]
    no_state sc
    touch afile
    spec s.json sc "$copy_cmd" "$(pfs in data '/*')" "{\"scratch\": \"$T/afile\"}"
    run dr run s.json
    [ "$status" -eq 2 ]
    [[ "$output" =~ "scratch folder '$T/afile' is not a directory (it is a regular file) (from spec)" ]]
    no_state sc
}

@test "an output path over 5,000 bytes fails its datum with the reason first; the other datums go on" {
    # The command for a builds its output 25 folders of 199 bytes deep.
    cat > deep.py <<'PY'
import os
os.chdir(os.environ["DATUMRUN_OUT"])
if os.environ["in"].endswith("/a"):
    for i in range(25):
        os.mkdir("x" * 199)
        os.chdir("x" * 199)
    open("leaf", "w").write("x")
else:
    open(os.path.basename(os.environ["in"]), "w").write("ok")
PY
    spec s.json lo "$PY $T/deep.py" "$(pfs in data '/*')" \
        '{"datum_tries": 1, "parallelism_spec": {"constant": 1}}'
    run dr run s.json --json
    [ "$status" -eq 1 ]
    [ "$(jget "$(last_json)" processed)" -eq 1 ]
    [ "$(jget "$(last_json)" failed)" -eq 1 ]
    [ "$(cat lo/b)" = ok ]
    line=$(printf '%s\n' "$output" | grep 'File name too long')
    [[ "$line" =~ "failed after 1 attempts: File name too long: cannot read output /" ]]
    [[ "$line" =~ "xxx...xxx" ]]
    [ "${#line}" -lt 2000 ]
    # Nothing of the failed datum reached the output folder.
    [ -z "$(find lo -name leaf)" ] && [ "$(ls lo)" = b ]
}
