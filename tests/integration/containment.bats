#!/usr/bin/env bats
# Containment (issue 8): outputs are regular files and folders only, always
# inside the output folder; nothing from a list or the manifest is deleted
# or written outside it; inputs are read-only to the command.

load helpers

setup() { common_setup; mkdir -p repo; echo hello > repo/a.txt; }
teardown() { common_teardown; }

one='{"output": "out", "datum_tries": 1}'

@test "a symlink the command writes becomes a copy of its target (cp -r pfs/in/* pfs/out/)" {
    spec s.json cp 'cp -r pfs/in/* "$DATUMRUN_OUT/"' "$(pfs in repo '/*')" "$one"
    run dr run s.json
    [ "$status" -eq 0 ]
    [ -f out/a.txt ] && [ ! -L out/a.txt ]
    [ "$(cat out/a.txt)" = hello ]
    [ "$(find out -type l | wc -l)" -eq 0 ]
}

@test "a symlink to a folder outside is stored as a copy; later runs never write or delete there" {
    mkdir outside
    echo keep > outside/k
    spec s.json lk 'ln -s '"$T"'/outside "$DATUMRUN_OUT/dir"; echo "$(basename "$in")" > "$DATUMRUN_OUT/name"' \
        "$(pfs in repo '/*')" "$one"
    run dr run s.json
    [ "$status" -eq 0 ]
    [ -d out/dir ] && [ ! -L out/dir ]
    [ "$(cat out/dir/k)" = keep ]
    # the datum changes: its old outputs go, from out only
    echo changed > repo/a.txt
    run dr run s.json
    [ "$status" -eq 0 ]
    [ "$(cat outside/k)" = keep ]
    [ "$(ls outside)" = k ]
    # the datum leaves the input: the same
    rm repo/a.txt; echo x > repo/b.txt
    run dr run s.json
    [ "$status" -eq 0 ]
    [ "$(cat outside/k)" = keep ]
}

@test "a dangling link, a link loop and a FIFO fail the datum, naming the path" {
    spec s.json dg 'ln -s /nonexistent/target "$DATUMRUN_OUT/dangling"' "$(pfs in repo '/*')" "$one"
    run dr run s.json
    [ "$status" -eq 1 ]
    [[ "$output" =~ "dangling: a dangling symbolic link" ]]
    [ ! -e out/dangling ] && [ ! -L out/dangling ]
    spec s.json lp 'mkdir "$DATUMRUN_OUT/d"; ln -s .. "$DATUMRUN_OUT/d/up"' "$(pfs in repo '/*')" '{"output": "out2", "datum_tries": 1}'
    run dr run s.json
    [ "$status" -eq 1 ]
    [[ "$output" =~ "d/up: a symbolic link loop" ]]
    spec s.json ff 'mkfifo "$DATUMRUN_OUT/pipe"' "$(pfs in repo '/*')" '{"output": "out3", "datum_tries": 1}'
    run dr run s.json
    [ "$status" -eq 1 ]
    [[ "$output" =~ "pipe is a FIFO: only regular files and folders can be outputs" ]]
    [ ! -e out3/pipe ]
}

@test "a symlink planted in the output folder is never followed" {
    mkdir elsewhere
    spec s.json pl 'mkdir -p "$DATUMRUN_OUT/sub"; echo x > "$DATUMRUN_OUT/sub/file"' "$(pfs in repo '/*')" "$one"
    mkdir out
    run dr run s.json --adopt
    [ "$status" -eq 0 ]
    rm -r out/sub
    ln -s "$T/elsewhere" out/sub
    run dr run s.json
    [ "$status" -eq 1 ]
    [[ "$output" =~ "symbolic link" ]]
    [ -z "$(ls elsewhere)" ]
}

@test "a forged inflight list naming ../victim/file deletes nothing outside the output folder" {
    mkdir victim
    echo precious > victim/file
    spec s.json fg 'echo x > "$DATUMRUN_OUT/$(basename "$in")"' "$(pfs in repo '/*')" "$one"
    run dr run s.json
    [ "$status" -eq 0 ]
    mkdir -p .datumrun/fg/inflight/1
    # with the forged names, a clean one a crashed run would have moved
    # but never recorded (removed), and a recorded datum's output (kept)
    echo leftover > out/stray
    owned=$(ls out | grep -v '^\.' | grep -v '^stray$' | head -n 1)
    [ -n "$owned" ]
    printf '../victim/file\0/etc/hostname-not\0sub/../../victim/file\0stray\0%s\0' "$owned" \
        > .datumrun/fg/inflight/1/00000000000000000000000000000000
    run dr run s.json
    [ "$status" -eq 0 ]
    [[ "$output" =~ "names '../victim/file', which is not a path inside the output folder: ignored" ]]
    [[ "$output" =~ "names 'sub/../../victim/file'" ]]
    [ "$(cat victim/file)" = precious ]
    [ ! -e out/stray ]
    [ "$(cat "out/$owned")" = x ]
}

@test "write and delete through pfs/ fail and leave the repo intact (read-only inputs)" {
    [ "$(id -u)" -eq 0 ] || skip "read-only inputs need root (CI runs as root)"
    mkdir -p repo/sub; echo deep > repo/sub/d.txt
    run dr info --json
    [ "$(pyget "$output" 'j["inputs"]["mode"]')" = read-only ]
    probe='rm pfs/in/a.txt 2>/dev/null; echo "rm=$?" > "$DATUMRUN_OUT/r"
           echo bad 2>/dev/null >> pfs/in/a.txt; echo "append=$?" >> "$DATUMRUN_OUT/r"
           echo bad 2>/dev/null > "$in/../sub/d.txt"; echo "through=$?" >> "$DATUMRUN_OUT/r"
           rm -r pfs/in/sub 2>/dev/null; echo "rmdir=$?" >> "$DATUMRUN_OUT/r"'
    # the whole repo as one datum (pfs/in is a link to it) and one file per datum
    spec s.json ro "$probe" "$(pfs in repo '/')" "$one"
    run dr run s.json
    [ "$status" -eq 0 ]
    grep -q 'rm=[1-9]' out/r && grep -q 'append=[1-9]' out/r
    grep -q 'through=[1-9]' out/r && grep -q 'rmdir=[1-9]' out/r
    spec s.json ro2 "$probe" "$(pfs in repo '/a.txt')" '{"output": "out2", "datum_tries": 1}'
    run dr run s.json
    [ "$status" -eq 0 ]
    grep -q 'rm=[1-9]' out2/r && grep -q 'append=[1-9]' out2/r
    [ "$(cat repo/a.txt)" = hello ]
    [ "$(cat repo/sub/d.txt)" = deep ]
    # the worker's namespace is its own: the machine's mounts are unchanged
    ! grep -q " $T/repo " /proc/self/mountinfo
}
