#!/usr/bin/env bats
# Batched datums (transform.datum_batching, docs/batching.md): one command
# per worker fed datum after datum through `datumrun next`, the Python
# module or the fd protocol, with the same outputs, logs, retries, timeouts
# and manifest as fork-per-datum mode, and the failure semantics of the
# docs' table.  Real mpirun, real commands; nothing depends on timing.

load helpers

setup() {
    common_setup
    export PATH="$(dirname "$DATUMRUN"):$PATH"
    export PYTHONPATH="$DATUMRUN_SRC/python"
}
teardown() { common_teardown; }

# batch_spec FILE NAME INPUT [EXTRA_JSON] < SCRIPT: a batched pipeline
# whose command is `sh` reading SCRIPT on stdin (transform.stdin).
batch_spec() {
    local file=$1 name=$2 input=$3 extra=${4:-} script
    script=$(cat)
    $PY - "$file" "$name" "$input" "$extra" "$script" <<'PYEOF'
import json, sys
file, name, inp, extra, script = sys.argv[1:6]
script = script.splitlines()
s = {"pipeline": {"name": name},
     "transform": {"cmd": ["sh"], "stdin": script, "datum_batching": True},
     "input": json.loads(inp)}
if extra:
    e = json.loads(extra)
    s["transform"].update(e.pop("transform", {}))
    s.update(e)
json.dump(s, open(file, "w"), indent=2)
PYEOF
}

# Hostile names: quotes, $, backquotes, a newline, a leading dash.
hostile_repo() {
    mkdir -p repo/sub
    for i in 1 2 3 4 5 6; do echo "w$i a b" > "repo/f$i"; done
    echo "quote" > "repo/it's \$HOME \`x\`"
    printf 'nl\n' > "repo/new
line"
    echo dash > "repo/-dash"
    echo nested > repo/sub/inner
}

# The per-datum work, as one shell fragment with $in set.
work='b=$(basename "$in"); { wc -w < "$in"; ls pfs/in; } > "$DATUMRUN_OUT/$b.n"; echo "log of $b"; echo "err of $b" >&2'

@test "batched and fork-per-datum modes give the same output folder from scratch" {
    hostile_repo
    spec fork.json fk "$work" "$(pfs in repo '/*')" '{"parallelism_spec": {"constant": 2}}'
    batch_spec batch.json bt "$(pfs in repo '/*')" '{"parallelism_spec": {"constant": 2}}' <<EOF
while vars=\$(datumrun next); do
  eval "\$vars"
  $work
done
EOF
    run dr run fork.json --json
    [ "$status" -eq 0 ]
    [ "$(counts "$(last_json)")" = "10 + 0 / 10" ]
    run dr run batch.json --json
    [ "$status" -eq 0 ]
    [ "$(counts "$(last_json)")" = "10 + 0 / 10" ]
    [ -n "$(tree bt)" ]
    [ "$(tree fk)" = "$(tree bt)" ]
    # Logs split at datum boundaries: each datum's logs hold its own lines.
    jid=$(jget "$(last_json)" job_id)
    for f in .datumrun/bt/logs/$jid/*.out; do
        [ "$(grep -c '^log of ' "$f")" -eq 1 ]
    done
    [ "$(cat .datumrun/bt/logs/$jid/*.err | grep -c '^err of ')" -eq 10 ]
    # Incremental as ever: a rerun skips all; switching modes reprocesses
    # nothing (datum_batching is not part of the pipeline hash).
    run dr run batch.json --json
    [ "$(counts "$(last_json)")" = "0 + 10 / 10" ]
    echo "w7 c" > repo/f7
    run dr run batch.json --json
    [ "$(counts "$(last_json)")" = "1 + 10 / 11" ]
    $PY -c 'import json,sys; s=json.load(open(sys.argv[1])); s["transform"]["datum_batching"]=False; s["transform"]["cmd"]=["sh","-c",sys.argv[2]]; del s["transform"]["stdin"]; json.dump(s,open(sys.argv[1],"w"))' batch.json "$work"
    run dr run batch.json --json
    [ "$(counts "$(last_json)")" = "0 + 11 / 11" ]
    [ "$(tree bt)" = "$(scratch_tree batch.json)" ]
}

@test "the command sees each datum's variables, a fresh sandbox, and starts once per worker" {
    mkdir -p L R
    for k in a b c; do echo "l$k" > "L/$k.x"; echo "r$k" > "R/$k.y"; done
    join='{"join": [{"pfs": {"name": "l", "repo": "L", "glob": "/(*).x", "join_on": "$1"}}, {"pfs": {"name": "r", "repo": "R", "glob": "/(*).y", "join_on": "$1"}}]}'
    batch_spec s.json vars "$join" '{"parallelism_spec": {"constant": 1}}' <<'EOF'
echo started >> "$STARTS"
while vars=$(datumrun next); do
  eval "$vars"
  k=$DATUMRUN_JOIN_ON
  { echo "l=$l"; echo "r=$r"; echo "id=$DATUMRUN_DATUM_ID"; echo "job=$DATUMRUN_JOB_ID"; ls pfs/l pfs/r; ls -A pfs/out; ls -A; } > "$DATUMRUN_OUT/$k.txt"
  touch leftover "pfs/out/../stray"
done
EOF
    STARTS=$T/starts run dr run s.json --json
    [ "$status" -eq 0 ]
    [ "$(counts "$(last_json)")" = "3 + 0 / 3" ]
    [ "$(wc -l < starts)" -eq 1 ]
    grep -qx "l=$T/L/b.x" vars/b.txt
    grep -qx "r=$T/R/b.y" vars/b.txt
    grep -qE '^id=[0-9a-f]{32}$' vars/b.txt
    grep -qx "job=$(jget "$(last_json)" job_id)" vars/b.txt
    # Each datum sees only its own links, an empty pfs/out, and nothing an
    # earlier datum left in the sandbox.
    [ "$(grep -c '\.x$' vars/c.txt)" -eq 1 ] && grep -qx c.x vars/c.txt
    ! grep -q leftover vars/b.txt
    ! grep -q leftover vars/c.txt
    ! grep -q stray vars/c.txt
}

@test "a command that replaces pfs/out or pfs keeps the outputs it wrote there, and the next datum finds the layout whole" {
    mkdir repo && for i in 1 2 3 4 5 6; do echo "$i" > "repo/f$i"; done
    batch_spec s.json edge "$(pfs in repo '/*')" '{"parallelism_spec": {"constant": 1}}' <<'EOF'
while vars=$(datumrun next); do
  eval "$vars"; b=$(basename "$in")
  case $b in
  f3) rm -rf pfs 2>/dev/null; mkdir -p pfs/out; ln -s /etc pfs/in2 ;;
  f4) mv pfs/out pfs/o2; mkdir pfs/out; touch x ;;
  esac
  { ls -A; ls -A pfs; ls -A pfs/in; } > "pfs/out/$b.seen"
done
EOF
    run dr run s.json --json
    [ "$status" -eq 0 ]
    [ "$(counts "$(last_json)")" = "6 + 0 / 6" ]
    # what it wrote into the new pfs/out is its output
    grep -qx in2 edge/f3.seen && grep -qx o2 edge/f4.seen
    # and the other datums see only pfs, pfs/in, pfs/out and their entry
    for b in f1 f2 f5 f6; do
        [ "$(tr '\n' ' ' < "edge/$b.seen")" = "pfs in out $b " ]
    done
}

@test "failures: done fail, a crash, exit 0 mid-datum, a timeout, bad protocol; the command restarts and the job goes on" {
    mkdir repo
    for n in ok1 failmsg crash exit0 slow garbage ok2 ok3; do echo $n > repo/$n; done
    batch_spec s.json fl "$(pfs in repo '/*')" '{"parallelism_spec": {"constant": 1}, "datum_tries": 1, "datum_timeout": "2s"}' <<'EOF'
echo start >> "$STARTS"
while vars=$(datumrun next); do
  eval "$vars"
  b=$(basename "$in")
  case $b in
    failmsg) vars=$(datumrun next --fail "no good: $b") || exit 0; eval "$vars"; b=$(basename "$in") ;;
  esac
  case $b in
    crash) kill -9 $$ ;;
    exit0) exit 0 ;;
    slow) sleep 600 ;;
    garbage) echo "hello worker" >&$DATUMRUN_BATCH_FD; sleep 600 ;;
  esac
  cp "$in" "$DATUMRUN_OUT/$b"
done
EOF
    STARTS=$T/starts run dr run s.json --json
    [ "$status" -eq 1 ]
    j=$(last_json)
    [ "$(jget "$j" processed)" -eq 3 ]
    [ "$(jget "$j" failed)" -eq 5 ]
    [ "$(ls fl | sort | tr '\n' ' ')" = "ok1 ok2 ok3 " ]
    [[ "$output" == *"(in:/failmsg) failed after 1 attempts: no good: failmsg"* ]]
    [[ "$output" == *"(in:/crash) failed after 1 attempts: killed by signal 9"* ]]
    [[ "$output" == *"(in:/exit0) failed after 1 attempts"* ]]
    [[ "$output" == *"(in:/slow) failed after 1 attempts: timed out: killed by signal"* ]]
    grep -q "datum timed out: killed" .datumrun/fl/logs/*/*.err
    [[ "$output" == *"(in:/garbage) failed after 1 attempts"* ]]
    grep -q "exited while it held this datum" .datumrun/fl/logs/*/*.err
    grep -q "broke the batching protocol (sent 'hello worker')" .datumrun/fl/logs/*/*.err
    # One start, one restart after each of crash, exit0, slow and garbage
    # (the ones that did not come last).
    [ "$(wc -l < starts)" -ge 4 ]
    [ "$(wc -l < starts)" -le 5 ]
    # A rerun retries only the failed ones, and they fail the same way.
    STARTS=$T/starts run dr run s.json --json
    [ "$(counts "$(last_json)")" = "0 + 3 / 8" ]
}

@test "retries per datum_tries, a clean exit between datums restarts, a command that cannot start fails its datums" {
    mkdir repo
    for i in 1 2 3 4; do echo $i > repo/f$i; done
    # f2 fails on its first attempt only; the command finishes one datum
    # per start with --done and exits cleanly.
    batch_spec s.json rt "$(pfs in repo '/*')" '{"parallelism_spec": {"constant": 2}, "datum_tries": 2}' <<'EOF'
vars=$(datumrun next) || exit 0
eval "$vars"
b=$(basename "$in")
if [ "$b" = f2 ] && mkdir "$MARK" 2>/dev/null; then datumrun next --done --fail "first try"; exit 0; fi
cp "$in" "$DATUMRUN_OUT/$b"
datumrun next --done
EOF
    MARK=$T/mark run dr run s.json --json
    [ "$status" -eq 0 ]
    [ "$(counts "$(last_json)")" = "4 + 0 / 4" ]
    [[ "$output" == *"(in:/f2) attempt 1/2 failed (first try)"* ]]
    [ "$(tree rt)" = "$(tree repo)" ]
    # A command that does not exist: every datum fails, the job ends.
    spec bad.json bad true "$(pfs in repo '/*')" '{"transform": {"cmd": ["/nonexistent/prog"], "datum_batching": true}, "datum_tries": 2}'
    run dr run bad.json --json
    [ "$status" -eq 1 ]
    [ "$(jget "$(last_json)" failed)" -eq 4 ]
    # A command that exits at once without asking: its datums fail too.
    spec quit.json quit true "$(pfs in repo '/*')" '{"transform": {"cmd": ["true"], "datum_batching": true}}'
    run dr run quit.json --json
    [ "$status" -eq 1 ]
    [ "$(jget "$(last_json)" failed)" -eq 4 ]
    grep -q "exited before it asked for a datum" .datumrun/quit/logs/*/*.err
}

@test "the Python module: datums(), an exception fails that datum and the loop goes on, fail(), run()" {
    mkdir repo
    for n in a b bad c skip; do echo "$n $n" > repo/$n; done
    cat > consumer.py <<'EOF'
import sys, datumrun
print("imported once", file=sys.stderr)
for datum in datumrun.datums():
    name = datum.inputs["in"].rsplit("/", 1)[1]
    print("processing", name)
    if name == "bad":
        raise ValueError("bad datum " + name)
    if name == "skip":
        datum.fail("skipped on purpose")
        continue
    with open(datum.inputs["in"]) as f:
        words = len(f.read().split())
    (datum.out / (name + ".n")).write_text("%d %s\n" % (words, datum.id))
EOF
    $PY - <<'EOF'
import json
for name, script in (("py", "consumer.py"),):
    s = {"pipeline": {"name": name},
         "transform": {"cmd": ["python3", script], "datum_batching": True},
         "input": {"pfs": {"name": "in", "repo": "repo", "glob": "/*"}},
         "parallelism_spec": {"constant": 2}, "datum_tries": 1}
    json.dump(s, open(name + ".json", "w"))
EOF
    sed -i "s|\"consumer.py\"|\"$T/consumer.py\"|" py.json
    run dr run py.json --json
    [ "$status" -eq 1 ]
    j=$(last_json)
    [ "$(jget "$j" processed)" -eq 3 ]
    [ "$(jget "$j" failed)" -eq 2 ]
    [ "$(ls py | tr '\n' ' ')" = "a.n b.n c.n " ]
    [[ "$output" == *"(in:/bad) failed after 1 attempts: ValueError: bad datum bad"* ]]
    [[ "$output" == *"(in:/skip) failed after 1 attempts: skipped on purpose"* ]]
    grep -q "Traceback" .datumrun/py/logs/*/*.err
    for f in .datumrun/py/logs/*/*.out; do [ "$(grep -c '^processing' "$f")" -eq 1 ]; done
    # run(fn): the loop goes on in the same process.
    cat > runner.py <<'EOF'
import os, datumrun
starts = open(os.environ["STARTS"], "a"); starts.write("x\n"); starts.close()
def each(d):
    name = d.inputs["in"].rsplit("/", 1)[1]
    if name in ("bad", "skip"):
        raise RuntimeError("no " + name)
    (d.out / (name + ".n")).write_text(name + "\n")
datumrun.run(each)
EOF
    $PY -c 'import json,sys; s=json.load(open("py.json")); s["pipeline"]["name"]="pr"; s["transform"]["cmd"]=["python3", sys.argv[1]]; s["parallelism_spec"]={"constant": 1}; json.dump(s,open("pr.json","w"))' "$T/runner.py"
    STARTS=$T/starts run dr run pr.json --json
    [ "$status" -eq 1 ]
    [ "$(jget "$(last_json)" failed)" -eq 2 ]
    [ "$(wc -l < starts)" -eq 1 ]
    [[ "$output" == *"failed after 1 attempts: RuntimeError: no bad"* ]]
}

@test "the C consumer example and the protocol's refusals" {
    run "$DATUMRUN" next
    [ "$status" -eq 2 ]
    [[ "$output" == *"datum_batching"* ]]
    DATUMRUN_BATCH_FD=99 run "$DATUMRUN" next
    [ "$status" -eq 2 ]
    cc -O2 -o consumer "$DATUMRUN_SRC/examples/batched/consumer.c"
    mkdir repo && for i in 1 2 3; do echo "x$i" > repo/f$i; done
    spec c.json cc true "$(pfs in repo '/*')" "{\"transform\": {\"cmd\": [\"$T/consumer\", \"copy\"], \"datum_batching\": true}}"
    run dr run c.json --json
    [ "$status" -eq 0 ]
    [ "$(counts "$(last_json)")" = "3 + 0 / 3" ]
    [ "$(tree cc)" = "$(tree repo)" ]
    # "next paths": the same outputs, read by the record's paths
    spec c.json ccp true "$(pfs in repo '/*')" "{\"transform\": {\"cmd\": [\"$T/consumer\", \"copy\", \"paths\"], \"datum_batching\": true}}"
    run dr run c.json --json
    [ "$status" -eq 0 ]
    [ "$(counts "$(last_json)")" = "3 + 0 / 3" ]
    [ "$(tree ccp)" = "$(tree repo)" ]
    # a window of 8: the same outputs again
    spec c.json ccw true "$(pfs in repo '/*')" "{\"transform\": {\"cmd\": [\"$T/consumer\", \"copy\", \"paths\", \"window=8\"], \"datum_batching\": true}}"
    run dr run c.json --json
    [ "$status" -eq 0 ]
    [ "$(counts "$(last_json)")" = "3 + 0 / 3" ]
    [ "$(tree ccw)" = "$(tree repo)" ]
}

@test "next paths: no pfs/<input> links for the datums asked for that way, links for the others, same outputs" {
    mkdir -p repo/sub
    for i in 1 2 3 4; do echo "x$i" > "repo/f$i"; done
    echo deep > repo/sub/inner
    # Odd datums by path, even ones with links (the Python module's
    # paths=True): each reports what it saw in pfs/in.
    cat > p.py <<'PY'
import os, datumrun
conn = datumrun._connection()
n = 0
while True:
    d = conn.next(paths=(n % 2 == 0))
    if d is None:
        break
    src = d.inputs["in"]
    seen = sorted(os.listdir("pfs/in")) if os.path.isdir("pfs/in") else []
    name = os.path.basename(src)
    with open(src) as f, open(str(d.out / name), "w") as o:
        o.write(f.read())
    (d.out / (name + ".seen")).write_text("%s %s\n" % (n % 2 == 0, seen))
    n += 1
PY
    spec s.json pp true "$(pfs in repo '/f*')" "{\"transform\": {\"cmd\": [\"python3\", \"$T/p.py\"], \"datum_batching\": true}, \"parallelism_spec\": {\"constant\": 1}}"
    $PY - <<'PY'
import json
s = json.load(open("s.json"))
s["input"] = {"union": [{"pfs": {"name": "in", "repo": "repo", "glob": "/f*"}},
                        {"pfs": {"name": "in", "repo": "repo", "glob": "/sub/*"}}]}
json.dump(s, open("s.json", "w"))
PY
    run dr run s.json --json
    echo "$output"
    [ "$status" -eq 0 ]
    [ "$(counts "$(last_json)")" = "5 + 0 / 5" ]
    for f in f1 f2 f3 f4 inner; do [ "$(cat pp/$f)" = "$(cat repo/$f 2>/dev/null || cat repo/sub/$f)" ]; done
    # by path: pfs/in empty; with links: exactly the datum's own entry
    for f in pp/*.seen; do
        b=$(basename "$f" .seen)
        case $(cat "$f") in
        "True []") ;;
        "False ['$b']") ;;
        "False ['sub']") [ "$b" = inner ] ;;
        *) echo "unexpected $f: $(cat "$f")"; false ;;
        esac
    done
    [ "$(grep -c True pp/*.seen | awk -F: '{s += $2} END {print s}')" -eq 3 ]
}

# Output a command writes just before its "done" belongs to that datum,
# however the worker's wake-up falls: here the command stops its worker
# (its parent) while it prints and reports, so that the worker finds both
# the output and the "done" waiting at once, every datum.  (The worker
# reads the socket, then drains the pipes, then acts on the requests; act
# first, drain after, and each line would land in the next datum's log.)
@test "output written just before done is in that datum's log, even when the worker finds both at once" {
    mkdir repo
    for i in 1 2 3 4 5 6; do echo "$i" > repo/f$i; done
    cat > stopper.py <<'EOF'
import os, signal, sys, datumrun
worker = os.getppid()
with open("/proc/%d/comm" % worker) as f:
    assert f.read().strip() == "datumrun", "the parent is not the worker"
for datum in datumrun.datums(paths=True):
    name = datum.inputs["in"].rsplit("/", 1)[1]
    os.kill(worker, signal.SIGSTOP)
    try:
        print("out of", name, flush=True)
        print("err of", name, file=sys.stderr, flush=True)
        datum.succeed()
    finally:
        os.kill(worker, signal.SIGCONT)
EOF
    $PY - "$T" <<'EOF'
import json, sys
s = {"pipeline": {"name": "st"},
     "transform": {"cmd": ["python3", sys.argv[1] + "/stopper.py"],
                   "datum_batching": True},
     "input": {"pfs": {"name": "in", "repo": "repo", "glob": "/*"}},
     "parallelism_spec": {"constant": 1}, "datum_tries": 1}
json.dump(s, open("st.json", "w"))
EOF
    run dr run st.json --json
    echo "$output"
    [ "$status" -eq 0 ]
    [ "$(counts "$(last_json)")" = "6 + 0 / 6" ]
    jid=$(jget "$(last_json)" job_id)
    # Each datum's logs hold exactly its own lines: one out line and one
    # err line naming the same input, six different inputs.
    n=0
    for f in .datumrun/st/logs/$jid/*.out; do
        line=$(cat "$f")
        [[ $line =~ ^out\ of\ f[1-6]$ ]]
        [ "$(grep -c ' of ' "${f%.out}.err")" -eq 1 ]
        grep -qx "err of ${line#out of }" "${f%.out}.err"
        echo "${line#out of }" >> seen
        n=$((n + 1))
    done
    [ "$n" -eq 6 ]
    [ "$(sort -u seen | wc -l)" -eq 6 ]
}

# wl.py: a raw client's side of windows, for the tests' commands:
# window(results, n) sends the reports in hand and "next paths window=n",
# and returns the records that come (dicts of name -> value), [] at stop.
window_lib() {
    cat > wl.py <<'PY'
import os
fd = int(os.environ["DATUMRUN_BATCH_FD"])
r = os.fdopen(os.dup(fd), "rb")
def window(results, n):
    os.write(fd, results + b"next paths window=%d\n" % n)
    head = r.readline()
    if head == b"stop\n":
        return []
    recs = []
    for _ in range(int(head.split()[1])):
        assert r.readline() == b"datum\n"
        rec = {}
        while True:
            h = r.readline()
            if h == b"end\n":
                break
            kind, name, n = h.split()
            rec.setdefault(name.decode(), r.read(int(n)).decode())
            r.read(1)
        recs.append(rec)
    return recs
PY
}

# A raw client that asks for windows of 4: it checks that each window's
# records have distinct output folders, copies each input into its
# datum's folder, fails "bad", and exits in the middle of its window at
# the first "crash" (the marker makes the retry succeed); it logs each
# window's size to $T/sizes.
window_client() {
    window_lib
    cat > w.py <<'PY'
import os, sys
from wl import window, fd
marker, sizes = sys.argv[1], sys.argv[2]
results = b""
while True:
    recs = window(results, 4)
    results = b""
    if not recs:
        break
    k = len(recs)
    outs = [rec["DATUMRUN_OUT"] for rec in recs]
    assert len(set(outs)) == k, outs
    open(sizes, "a").write("%d\n" % k)
    for rec in recs:
        src, out = rec["in"], rec["DATUMRUN_OUT"]
        b = os.path.basename(src)
        assert os.listdir(out) == [], (out, os.listdir(out))
        open("junk-" + b, "w").write("left in the sandbox\n")
        if b == "crash" and not os.path.exists(marker):
            open(marker, "w").close()
            os.write(fd, results)
            os._exit(3)
        if b == "bad":
            results += b"done fail bad datum\n"
            continue
        with open(src) as f, open(os.path.join(out, b), "w") as o:
            o.write(f.read())
        results += b"done ok\n"
PY
}

@test "windows (next paths window=N): several datums at once, each with its own output folder; a failure or a crash in a window costs only its datum" {
    mkdir repo
    for i in $(seq -w 1 40); do echo "x$i" > "repo/f$i"; done
    echo bad > repo/bad
    echo crash > repo/crash
    window_client
    spec s.json wn true "$(pfs in repo '/*')" "{\"transform\": {\"cmd\": [\"python3\", \"$T/w.py\", \"$T/marker\", \"$T/sizes\"], \"datum_batching\": true}, \"parallelism_spec\": {\"constant\": 1}}"
    run dr run s.json --json
    echo "$output"
    [ "$status" -eq 1 ]
    j=$(last_json)
    [ "$(counts "$j")" = "41 + 0 / 42" ]
    [ "$(jget "$j" failed)" -eq 1 ]
    [[ "$output" == *"failed after 3 attempts: bad datum"* ]]
    # windows of more than one datum were handed, none over 4
    [ "$(sort -n "$T/sizes" | tail -n 1)" -gt 1 ]
    [ "$(sort -n "$T/sizes" | tail -n 1)" -le 4 ]
    # the crash cost its datum one attempt; the others of its window ran
    run dr list-datum s.json --json
    crash=$(pyget "$output" '[x["id"] for x in j if x["inputs"] == "in:/crash"][0]')
    run $PY "$DATUMRUN_SRC/tests/integration/read_manifest.py" .datumrun/wn --attempts
    [ "$(pyget "$output" 'sorted((x["attempt"], x["outcome"]) for x in j if x["datum"] == "'"$crash"'")')" = "[(1, 'failed'), (2, 'success')]" ]
    rm repo/bad
    expected=$(cd repo && for f in *; do echo "$f"; done)
    [ "$(ls wn)" = "$expected" ]
    for f in wn/*; do [ "$(cat "$f")" = "$(cat "repo/$(basename "$f")")" ]; done
    # each output belongs to its own datum: a removed input takes exactly
    # its output with it
    rm repo/f07
    run dr run s.json --json
    [ "$status" -eq 0 ]
    [ ! -e wn/f07 ]
    [ "$(tree wn)" = "$(scratch_tree s.json)" ]
    # what the command left in the sandbox did not reach the output
    [ -z "$(ls wn | grep junk)" ]
}

@test "windows under a datum_timeout: the timed-out datum fails, the rest of its window runs again" {
    mkdir repo
    for i in $(seq -w 1 12); do echo "x$i" > "repo/f$i"; done
    window_lib
    cat > slow.py <<'PY'
import os, time
from wl import window, fd
while True:
    recs = window(b"", 3)
    if not recs:
        break
    for rec in recs:
        src = rec["in"]
        if os.path.basename(src) == "f05":
            time.sleep(60)
        open(os.path.join(rec["DATUMRUN_OUT"], os.path.basename(src)), "w").write(open(src).read())
        # Each datum reported when it ends: its time is its own.
        os.write(fd, b"done ok\n")
PY
    spec s.json to true "$(pfs in repo '/*')" "{\"transform\": {\"cmd\": [\"python3\", \"$T/slow.py\"], \"datum_batching\": true}, \"parallelism_spec\": {\"constant\": 1}, \"datum_timeout\": \"1s\", \"datum_tries\": 1}"
    run dr run s.json --json
    echo "$output"
    [ "$status" -eq 1 ]
    j=$(last_json)
    [ "$(counts "$j")" = "11 + 0 / 12" ]
    [ "$(jget "$j" failed)" -eq 1 ]
    [[ "$output" == *"(in:/f05) failed after 1 attempts: timed out: killed by signal"* ]]
    [ "$(ls to | wc -l)" -eq 11 ]
    [ ! -e to/f05 ]
    for f in to/*; do [ "$(cat "$f")" = "$(cat "repo/$(basename "$f")")" ]; done
}

@test "the Python module's run(fn, paths=True, window=N): windows of datums, an exception fails only its datum" {
    mkdir repo
    for i in $(seq -w 1 30); do echo "x$i" > "repo/f$i"; done
    cat > pw.py <<'PY'
import os, datumrun
def fn(d):
    src = d.inputs["in"]
    name = os.path.basename(src)
    if name == "f13":
        raise ValueError("no f13")
    assert not os.listdir(str(d.out)), d.out
    with open(src) as f, open(str(d.out / name), "w") as o:
        o.write(f.read())
    with open(os.environ["OUTS"], "a") as o:
        o.write("%s\n" % d.out)
datumrun.run(fn, paths=True, window=6)
PY
    spec s.json pw true "$(pfs in repo '/*')" "{\"transform\": {\"cmd\": [\"python3\", \"$T/pw.py\"], \"datum_batching\": true, \"env\": {\"OUTS\": \"$T/outs\"}}, \"parallelism_spec\": {\"constant\": 1}, \"datum_tries\": 1}"
    run dr run s.json --json
    echo "$output"
    [ "$status" -eq 1 ]
    [ "$(counts "$(last_json)")" = "29 + 0 / 30" ]
    [[ "$output" == *"(in:/f13) failed after 1 attempts: ValueError: no f13"* ]]
    # the datums went through more than one output folder: windows
    [ "$(sort -u "$T/outs" | wc -l)" -gt 1 ]
    rm repo/f13
    [ "$(tree pw)" = "$(tree repo)" ]
}
