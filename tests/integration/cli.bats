#!/usr/bin/env bats
# The command line: every command's help from its option table, typos,
# the man page, the bash completion, cmake --install, versions, and the
# CLI claims of the docs (-q, the status file, globs matching nothing,
# errors naming the spec as given).

load helpers

setup() { common_setup; }
teardown() { common_teardown; }

: "${DATUMRUN_BUILD:?set DATUMRUN_BUILD to the build folder (ctest does)}"

# Every command as the table lists it: "run", "campaign run", ...
commands() {
    dr help --list-commands
}

@test "--help on every command exits 0 and names every option the command accepts" {
    run dr --help
    [ "$status" -eq 0 ]
    [[ "$output" =~ "usage: datumrun COMMAND" ]]
    local n=0
    while read -r cmd; do
        n=$((n + 1))
        # shellcheck disable=SC2086
        run dr $cmd --help
        [ "$status" -eq 0 ] || { echo "$cmd --help: $status"; false; }
        help=$output
        [[ "$help" =~ "usage: datumrun $cmd" ]]
        # `help CMD` prints the same.
        # shellcheck disable=SC2086
        run dr help $cmd
        [ "$status" -eq 0 ]
        [ "$output" = "$help" ]
        # shellcheck disable=SC2086
        opts=$(dr help --list-options $cmd)
        [ -n "$opts" ]
        # No two rows of a table share a name, alias or short letter.
        dup=$(printf '%s\n' $opts | sort | uniq -d)
        [ -z "$dup" ] || { echo "$cmd: $dup twice in its table"; false; }
        for o in $opts; do
            # Named in the help as an option of its own ...
            if ! printf '%s\n' "$help" | grep -qE -- "(^|[ ,(])$o([=, )]|$)"; then
                echo "$cmd --help does not mention $o"; false
            fi
            # ... and accepted by the parser (no real work: arguments are
            # missing, or the command only prints).
            [ "$o" = --help ] || [ "$o" = -h ] && continue
            # shellcheck disable=SC2086
            run dr $cmd $o
            if [[ "$output" =~ "unknown option" ]]; then
                echo "$cmd: $o is listed but not parsed: $output"; false
            fi
        done
    done < <(commands)
    [ "$n" -ge 12 ]
    # Groups list their commands.
    run dr campaign --help
    [ "$status" -eq 0 ]
    [[ "$output" =~ "run " ]] && [[ "$output" =~ "sbatch " ]]
}

@test "help sbatch names -n and --log-dir; run names --state-dir and its old spelling" {
    run dr help sbatch
    [ "$status" -eq 0 ]
    [[ "$output" =~ "-n, --workers=N" ]]
    [[ "$output" =~ "--log-dir=DIR" ]]
    [[ "$output" =~ "-- SBATCH_ARGS" ]]
    run dr run --help
    [[ "$output" =~ "--state-dir=DIR" ]]
    [[ "$output" =~ "(also --state)" ]]
}

@test "typos get a did-you-mean; sbatch's own options get a hint at --" {
    run dr rn x.json
    [ "$status" -eq 2 ]
    [[ "$output" =~ "unknown command 'rn'; did you mean 'run'?" ]]
    run dr list-jobs x.json
    [[ "$output" =~ "did you mean 'list-job'?" ]]
    run dr run x.json --reproces
    [ "$status" -eq 2 ]
    [[ "$output" =~ "unknown option '--reproces'; did you mean '--reprocess'?" ]]
    [[ "$output" =~ "usage: datumrun run SPEC" ]]
    run dr run x.json -state-dir d
    [ "$status" -eq 2 ]
    [[ "$output" =~ "unknown option '-state-dir'; did you mean '--state-dir'?" ]]
    run dr plan x.json --jsno
    [[ "$output" =~ "did you mean '--json'?" ]]
    run dr run x.json --bind cores
    [ "$status" -eq 2 ]
    [[ "$output" =~ "did you mean 'core'?" ]]
    run dr campaign rnu x
    [ "$status" -eq 2 ]
    [[ "$output" =~ "did you mean 'run'?" ]]
    run dr sbatch x.json --mem=4G
    [ "$status" -eq 2 ]
    [[ "$output" =~ "sbatch's own options go after '--'" ]]
    [[ "$output" =~ "datumrun sbatch SPEC -- --mem=4G" ]]
    run dr campaign sbatch d --gres gpu:1
    [ "$status" -eq 2 ]
    [[ "$output" =~ "sbatch's own options go after '--'" ]]
    run dr sbatch x.json -J name
    [[ "$output" =~ "go after '--'" ]]
    # run is not sbatch: no hint there.
    run dr run x.json --mem=4G
    [ "$status" -eq 2 ]
    ! [[ "$output" =~ "go after" ]]
    run dr run x.json -n 0
    [ "$status" -eq 2 ]
    [[ "$output" =~ "-n: 0 is out of range" ]]
    run dr run x.json --workers
    [[ "$output" =~ "option '--workers' needs an argument" ]]
    run dr list-datum a b c
    [[ "$output" =~ "unexpected argument 'c'" ]]
}

@test "run --state-dir and the old --state name one state folder" {
    mkdir repo && echo 1 > repo/a && echo 2 > repo/b
    spec s.json st 'cp "$in" "$DATUMRUN_OUT/"' "$(pfs in repo '/*')"
    run dr run s.json --state-dir "$T/sd" --json
    [ "$status" -eq 0 ]
    [ "$(counts "$(last_json)")" = "2 + 0 / 2" ]
    [ -f "$T/sd/manifest.h5" ] && [ ! -e .datumrun ]
    run dr run s.json --state "$T/sd" --json
    [ "$(counts "$(last_json)")" = "0 + 2 / 2" ]
    run dr list-job s.json --state="$T/sd"
    [ "$status" -eq 0 ]
    [ "${#lines[@]}" -eq 3 ]
}

@test "-q prints the summary; the command never sees DATUMRUN_STATUS_FILE" {
    mkdir repo && echo 1 > repo/a
    spec s.json q 'env > "$DATUMRUN_OUT/env"' "$(pfs in repo '/*')"
    run dr run s.json -q
    [ "$status" -eq 0 ]
    [[ "$output" =~ job\ [0-9a-f]{8}\ success:\ 1\ processed\ \+\ 0\ skipped\ /\ 1\ total ]]
    # Also when the launcher records a rerun with nothing to do itself.
    run dr run s.json -q
    [ "$status" -eq 0 ]
    [[ "$output" =~ job\ [0-9a-f]{8}\ success:\ 0\ processed\ \+\ 1\ skipped\ /\ 1\ total ]]
    grep -q '^DATUMRUN_JOB_ID=' q/env
    ! grep -q DATUMRUN_STATUS_FILE q/env
}

@test "a glob matching nothing warns, naming the spec, input and glob" {
    mkdir -p sub repo && echo 1 > repo/a
    spec sub/s.json none 'true' '{"pfs": {"name": "words", "repo": "../repo", "glob": "/*.txt"}}'
    run dr run sub/s.json
    [ "$status" -eq 0 ]
    [[ "$output" =~ "sub/s.json: warning: input 'words': glob '/*.txt' matches nothing in $T/repo" ]]
    [[ "$output" =~ "0 processed + 0 skipped / 0 total" ]]
    # A rerun (recorded without mpirun: nothing to do) warns too.
    run dr run sub/s.json -q
    [ "$status" -eq 0 ]
    [[ "$output" =~ "sub/s.json: warning: input 'words': glob '/*.txt' matches nothing" ]]
    [[ "$output" =~ "0 processed + 0 skipped / 0 total" ]]
    run dr plan sub/s.json
    [ "$status" -eq 0 ]
    [[ "$output" =~ "warning: input 'words': glob '/*.txt' matches nothing" ]]
    # A glob that matches does not warn.
    spec sub/t.json some 'true' '{"pfs": {"name": "words", "repo": "../repo", "glob": "/*"}}'
    run dr run sub/t.json
    [ "$status" -eq 0 ]
    ! [[ "$output" =~ "warning" ]]
}

@test "errors about a spec start with its path as given" {
    mkdir -p sub repo && echo 1 > repo/a
    spec sub/g.json g 'true' '{"pfs": {"name": "in", "repo": "../repo", "glob": "/[a"}}'
    spec sub/r.json r 'true' '{"pfs": {"name": "in", "repo": "../nope", "glob": "/*"}}'
    printf '{"pipeline": {"name": "x"},\n "transfrom": {}}\n' > sub/k.json
    printf '{"pipeline": ' > sub/j.json
    for s in g r k j; do
        for cmd in run plan sbatch; do
            run dr $cmd sub/$s.json
            [ "$status" -eq 2 ]
            if [[ "${lines[0]}" != "sub/$s.json:"* ]]; then
                echo "$cmd sub/$s.json: ${lines[0]}"; false
            fi
        done
    done
    for s in g r k j missing; do
        for cmd in "campaign run" "campaign sbatch"; do
            # shellcheck disable=SC2086
            run dr $cmd sub/$s.json
            [ "$status" -eq 2 ]
            if [[ "${lines[0]}" != "sub/$s.json:"* ]]; then
                echo "$cmd sub/$s.json: ${lines[0]}"; false
            fi
        done
    done
    run dr run sub/missing.json
    [ "$status" -eq 2 ]
    [ "${lines[0]}" = "sub/missing.json: cannot read: No such file or directory" ]
}

@test "--version and info print the versions of datumrun, Open MPI, HDF5, hwloc and PMIx" {
    run dr --version
    [ "$status" -eq 0 ]
    [[ "${lines[0]}" =~ ^datumrun\ [0-9]+\.[0-9]+ ]]
    [[ "$output" =~ MPI:\ +Open\ MPI\ v[0-9] ]]
    [[ "$output" =~ HDF5:\ +1\.[0-9]+\.[0-9]+ ]]
    [[ "$output" =~ hwloc:\ +2\.[0-9]+\.[0-9]+ ]]
    [[ "$output" =~ PMIx:\ +.*[0-9]+\.[0-9]+ ]]
    # The versions are the libraries' own, at run time.
    [[ "$output" =~ "HDF5:  $($PY -c 'import h5py; print(h5py.version.hdf5_version)')" ]]
    [[ "$output" =~ "hwloc: $(hwloc-info --version | grep -o '[0-9.]*$')" ]]
    run dr version
    [ "$status" -eq 0 ]
    run dr info --json
    [ "$status" -eq 0 ]
    [ "$(pyget "$output" 'sorted(j["versions"])')" = "['datumrun', 'hdf5', 'hwloc', 'mpi', 'pmix']" ]
    run dr info
    [[ "$output" =~ versions:\ +datumrun ]]
}

@test "man -l renders the generated man page with every command and option" {
    local page=$DATUMRUN_BUILD/datumrun.1
    [ -f "$page" ]
    run env MANWIDTH=100 man -l "$page"
    [ "$status" -eq 0 ]
    for s in NAME SYNOPSIS DESCRIPTION "PIPELINE SPEC" COMMANDS ENVIRONMENT FILES "EXIT STATUS" EXAMPLES; do
        printf '%s\n' "$output" | grep -qx "$s" || { echo "no section $s"; false; }
    done
    text=$output
    while read -r cmd; do
        printf '%s\n' "$text" | grep -qE "^   $cmd( |$)" || { echo "no command $cmd"; false; }
        # shellcheck disable=SC2086
        for o in $(dr help --list-options $cmd); do
            printf '%s\n' "$text" | grep -qE -- "(^| )$o([=, .)]|$)" \
                || { echo "man page lacks $cmd $o"; false; }
        done
    done < <(commands)
    # groff has nothing to complain about.
    run groff -man -Tutf8 -ww -z "$page"
    [ "$status" -eq 0 ]
    [ -z "$output" ]
}

@test "the bash completion completes commands, options, values and spec files" {
    local script=$DATUMRUN_BUILD/datumrun.bash
    [ -f "$script" ]
    mkdir -p sub && touch a.json b.txt sub/c.json
    complete_words() { # complete_words WORD...: COMPREPLY for the last word
        bash -c 'source "$1"; shift; COMP_WORDS=("$@"); COMP_CWORD=$(($# - 1));
                 COMPREPLY=(); _datumrun; printf "%s\n" "${COMPREPLY[@]}"' \
            _ "$script" "$@"
    }
    run bash -c "source '$script' && complete -p datumrun"
    [ "$status" -eq 0 ]
    [[ "$output" =~ "complete -F _datumrun datumrun" ]]
    [ "$(complete_words datumrun ru)" = run ]
    [ "$(complete_words datumrun inspect-d)" = inspect-datum ]
    [ "$(complete_words datumrun run --state-)" = --state-dir ]
    [ "$(complete_words datumrun sbatch x.json --log)" = --log-dir ]
    [ "$(complete_words datumrun campaign s)" = sbatch ]
    [ "$(complete_words datumrun campaign run --reh)" = --rehash ]
    [ "$(complete_words datumrun run x.json --bind "" | tr '\n' ' ')" = "core none " ]
    [ "$(complete_words datumrun help insp | tr '\n' ' ')" = "inspect-job inspect-datum " ]
    [ "$(complete_words datumrun help campaign s)" = sbatch ]
    [ -z "$(complete_words datumrun help run "")" ]
    # Specs: *.json and folders, not other files.
    [ "$(complete_words datumrun run "" | sort | tr '\n' ' ')" = "a.json sub " ]
    [ "$(complete_words datumrun plan sub/ | tr '\n' ' ')" = "sub/c.json " ]
    # After "--" the words are sbatch's.
    [ -z "$(complete_words datumrun sbatch a.json -- --)" ]
    [ -z "$(complete_words datumrun sbatch a.json -- --mem=4G "")" ]
    # Job and datum IDs come from the pipeline's manifest, in the state
    # folder the line names.
    mkdir repo && echo 1 > repo/f1 && echo 2 > repo/f2
    spec s.json ids 'cp "$in" "$DATUMRUN_OUT/"' "$(pfs in repo '/*')"
    run dr run s.json --state-dir "$T/sd" --json
    [ "$status" -eq 0 ]
    job=$(jget "$(last_json)" job_id)
    PATH=$(dirname "$DATUMRUN"):$PATH
    [ "$(complete_words datumrun inspect-job s.json --state-dir "$T/sd" "")" = "$job" ]
    [ "$(complete_words datumrun inspect-job --state="$T/sd" s.json "${job:0:4}")" = "$job" ]
    [ "$(complete_words datumrun inspect-job --state = "$T/sd" s.json "${job:0:4}")" = "$job" ]
    [ -z "$(complete_words datumrun inspect-job s.json "")" ]   # no manifest there
    run dr list-datum s.json --state-dir "$T/sd" --json
    want=$(pyget "$output" '" ".join(sorted(d["id"] for d in j))')
    [ "$(complete_words datumrun inspect-datum s.json "${job:0:8}" --state-dir "$T/sd" "" | sort | tr '\n' ' ')" = "$want " ]
    # logs SPEC DATUM: the latest job's datums.
    [ "$(complete_words datumrun logs s.json --state-dir "$T/sd" "" | sort | tr '\n' ' ')" = "$want " ]
    # Values of options that take one are not positional arguments.
    [ "$(complete_words datumrun list-datum --state-dir "$T/sd" s.json "" )" = "$job" ]
}

@test "cmake --install puts the binary, man page, completion, Python module and docs in the prefix; the installed binary runs the example" {
    local p=$T/prefix
    run timeout 300 cmake --install "$DATUMRUN_BUILD" --prefix "$p"
    [ "$status" -eq 0 ]
    [ -x "$p/bin/datumrun" ]
    [ -f "$p/share/man/man1/datumrun.1" ]
    [ -f "$p/share/bash-completion/completions/datumrun" ]
    [ -f "$p/share/doc/datumrun/README.md" ] && [ -f "$p/share/doc/datumrun/cli.md" ]
    if [ -d "$DATUMRUN_SRC/python/datumrun" ]; then
        mod=$(find "$p/lib" -path '*/site-packages/datumrun/__init__.py')
        [ -n "$mod" ]
        run env PYTHONPATH="$(dirname "$(dirname "$mod")")" $PY -c 'import datumrun; print(datumrun.__file__)'
        [ "$status" -eq 0 ]
        [[ "$output" == "$p/"* ]]
    fi
    MANPATH=$p/share/man man -w datumrun | grep -q "$p/share/man/man1/datumrun.1"
    cp -r "$DATUMRUN_SRC/examples/states" ex
    run timeout -k 10 300 "$p/bin/datumrun" run ex/per_city.json
    [ "$status" -eq 0 ]
    [[ "$output" =~ "9 processed + 0 skipped / 9 total" ]]
    run timeout -k 10 300 "$p/bin/datumrun" run ex/per_city.json
    [[ "$output" =~ "0 processed + 9 skipped / 9 total" ]]
    [ "$(ls ex/per_city | wc -l)" -gt 0 ]
}

@test "-DBUILD_TESTING=OFF configures without looking for cmocka or bats" {
    run timeout 300 cmake -S "$DATUMRUN_SRC" -B "$T/b" -DBUILD_TESTING=OFF
    [ "$status" -eq 0 ]
    ! grep -q '^[^/#]*CMOCKA' "$T/b/CMakeCache.txt"
    ! grep -q '^BATS:' "$T/b/CMakeCache.txt"
    [ ! -e "$T/b/tests" ]
}
