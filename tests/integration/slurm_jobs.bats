#!/usr/bin/env bats
# Pipelines on the real local Slurm cluster (slurm/cluster.sh, started by
# the test command): generated sbatch scripts submitted and waited for,
# srun with PMIx inside them, a SIGTERM'd job whose rerun processes only
# the unfinished datums, and a two-pipeline campaign of dependent jobs.

load helpers
# The work folders must be visible on every node (each node's /tmp is its own).
export DATUMRUN_TEST_TMPDIR=/var/tmp

setup_file() {
    node_visible_datumrun
    timeout 120 "$DATUMRUN_SRC/slurm/cluster.sh" up >/dev/null
}

setup() { common_setup; }
teardown() {
    # Nothing of ours may stay queued.
    for id in ${JOBS:-}; do scancel "$id" 2>/dev/null || true; done
    common_teardown
}

@test "in an allocation, workers beyond 4 per allocated core are refused before anything is written" {
    make_repo 2
    spec s.json cap 'cp "$in" "$DATUMRUN_OUT/"' "$(pfs in repo '/*')"
    # One core allocated: 4 workers fit, a fifth does not.
    run timeout 300 srun -N1 -n1 -c1 --mpi=none "$DATUMRUN" run s.json -n 5
    [ "$status" -eq 2 ]
    [[ "$output" =~ "5 workers is more than the Slurm allocation can hold: 1 cores x 4 workers per core = 4" ]]
    [ ! -e .datumrun ] && [ ! -e cap ]
    run timeout 300 srun -N1 -n1 -c1 --mpi=none "$DATUMRUN" run s.json -n 4 --json
    [ "$status" -eq 0 ]
    [ "$(jget "$(last_json)" workers)" -eq 4 ]
    [ "$(jget "$(last_json)" processed)" -eq 2 ]
}

@test "sbatch writes a script sized from the spec and --dry-run validates" {
    make_repo 2
    spec s.json sized true "$(pfs in repo '/*')" \
        '{"parallelism_spec": {"coefficient": 1.5}, "resource_requests": {"cpu": 2}}'
    run dr sbatch s.json --nodes 4 --time 10:00 --partition debug -- --qos=normal
    [ "$status" -eq 0 ]
    [[ "$output" =~ "#SBATCH --ntasks=6" ]]          # floor(1.5 x 4) workers
    [[ "$output" =~ "--ntasks=7" ]]                  # + rank 0 in the step
    [[ "$output" =~ "#SBATCH --nodes=4" ]]
    [[ "$output" =~ "#SBATCH --ntasks-per-node=2" ]]
    [[ "$output" =~ "#SBATCH --cpus-per-task=2" ]]
    [[ "$output" =~ "#SBATCH --time=10:00" ]]
    [[ "$output" =~ "#SBATCH --partition=debug" ]]
    [[ "$output" =~ "#SBATCH --qos=normal" ]]
    [[ "$output" =~ "#SBATCH --signal=B:USR1@" ]]
    [[ "$output" =~ "srun --mpi=pmix" ]]
    run dr sbatch s.json --dry-run
    [ "$status" -eq 0 ]
    [[ "$output" =~ "is valid" ]]
    spec bad.json bad true "$(pfs in repo '/[x')"
    run dr sbatch bad.json --dry-run
    [ "$status" -eq 2 ]
    [[ "$output" =~ "/[x" ]]
}

@test "a submitted pipeline runs under srun with PMIx and rerun skips" {
    make_repo 6
    spec s.json onslurm 'cp "$in" "$DATUMRUN_OUT/"; taskset -cp $$ > "$DATUMRUN_OUT/$(basename "$in").cpus"' \
        "$(pfs in repo '/*')" '{"parallelism_spec": {"constant": 2}}'
    run dr sbatch s.json --overcommit --time 5 --submit
    [ "$status" -eq 0 ]
    id=$(printf '%s\n' "$output" | grep -E '^[0-9]+$')
    JOBS="$id"
    [[ "$id" =~ ^[0-9]+$ ]]
    state=$(wait_job "$id" 120)
    log=$(ls .datumrun/onslurm/slurm/*-"$id".out)
    cat "$log"
    [ "$state" = COMPLETED ]
    grep -q "6 processed + 0 skipped / 6 total" "$log"
    [ "$(ls onslurm | grep -c '^f[0-9]*$')" -eq 6 ]
    run dr list-job s.json --json
    [ "$(printf '%s' "$output" | $PY -c 'import json,sys; j=json.load(sys.stdin)[0]; print(j["state"], j["workers"])')" = "success 2" ]
    id=$(dr sbatch s.json --overcommit --time 5 --submit | tail -n 1)
    JOBS="$JOBS $id"
    [ "$(wait_job "$id" 120)" = COMPLETED ]
    grep -q "0 processed + 6 skipped / 6 total" .datumrun/onslurm/slurm/*-"$id".out
}

@test "datumrun info inside srun reads the node count from PMIx" {
    printf '#!/bin/bash\nsrun --mpi=pmix -n 1 "%s" info\n' "$DATUMRUN" > info.sh
    id=$(sbatch --parsable -n 1 -o info.out info.sh)
    JOBS="$id"
    [ "$(wait_job "$id" 60)" = COMPLETED ]
    cat info.out
    grep -Eq "nodes: +1 \(from (pmix|slurm)\)" info.out
}

@test "SIGTERM (scancel) stops a job gracefully; the rerun does only the rest" {
    make_repo 24
    spec s.json cancel 'sleep 1; cp "$in" "$DATUMRUN_OUT/"' "$(pfs in repo '/*')" \
        '{"parallelism_spec": {"constant": 2}}'
    id=$(dr sbatch s.json --overcommit --time 5 --grace 20 --submit | tail -n 1)
    JOBS="$id"
    # wait until some datums are done, then cancel with SIGTERM
    for t in $(seq 1 60); do
        [ "$(ls cancel 2>/dev/null | wc -l)" -ge 4 ] && break
        sleep 0.5
    done
    scancel --signal=TERM "$id"
    wait_job "$id" 90
    log=$(ls .datumrun/cancel/slurm/*-"$id".out)
    cat "$log"
    grep -q "killed" "$log"
    run dr list-job s.json --json
    done_first=$(printf '%s' "$output" | $PY -c 'import json,sys; j=json.load(sys.stdin)[0]; print(j["processed"])')
    state_first=$(printf '%s' "$output" | $PY -c 'import json,sys; print(json.load(sys.stdin)[0]["state"])')
    [ "$state_first" = killed ]
    [ "$done_first" -ge 4 ]
    [ "$done_first" -lt 24 ]
    [ "$(ls cancel | wc -l)" -eq "$done_first" ]
    run dr run s.json --json
    [ "$status" -eq 0 ]
    j=$(last_json)
    [ "$(jget "$j" processed)" -eq $((24 - done_first)) ]
    [ "$(jget "$j" skipped)" -eq "$done_first" ]
    [ "$(ls cancel | wc -l)" -eq 24 ]
}

# Two chained pipelines: "double" reads repo/, "sum" reads double's output.
# The file names sort sum first, so only the repos give the order.
write_campaign() {
    make_repo 4
    mkdir -p specs
    $PY - <<'SPECS'
import json
cmd_double = 'echo $(($(cat "$in") * 2)) > "$DATUMRUN_OUT/$(basename "$in")"'
cmd_sum = "cat pfs/d/* | awk '{s+=$1} END {print s}' > \"$DATUMRUN_OUT/total\""
json.dump({"pipeline": {"name": "double"},
           "transform": {"cmd": ["sh", "-c", cmd_double]},
           "input": {"pfs": {"name": "in", "repo": "../repo", "glob": "/*"}},
           "output": "../out/double", "parallelism_spec": {"constant": 2}},
          open("specs/b_double.json", "w"))
json.dump({"pipeline": {"name": "sum"},
           "transform": {"cmd": ["sh", "-c", cmd_sum]},
           "input": {"pfs": {"name": "d", "repo": "../out/double", "glob": "/"}},
           "output": "../out/sum", "parallelism_spec": {"constant": 1}},
          open("specs/a_sum.json", "w"))
SPECS
}

@test "campaign run orders chained pipelines by their repos" {
    write_campaign
    run dr campaign run specs
    [ "$status" -eq 0 ]
    [ "$(cat out/sum/total)" -eq 20 ]      # 2 * (1 + 2 + 3 + 4)
    [[ "$output" =~ double.*success ]]
    echo 5 > repo/f5
    run dr campaign run specs
    [ "$status" -eq 0 ]
    [ "$(cat out/sum/total)" -eq 30 ]
    # a failing upstream stops everything downstream of it
    echo "1 +" > repo/f6       # an arithmetic syntax error fails the datum
    run dr campaign run specs
    [ "$status" -eq 1 ]
    [[ "$output" =~ "skipping 'sum'" ]]
    [ "$(cat out/sum/total)" -eq 30 ]
}

@test "campaign sbatch submits dependent jobs with afterok" {
    write_campaign
    run dr campaign sbatch specs --overcommit --time 5 --submit
    [ "$status" -eq 0 ]
    a=$(printf '%s\n' "$output" | awk '$1 == "double" {print $2}')
    b=$(printf '%s\n' "$output" | awk '$1 == "sum" {print $2}')
    JOBS="$a $b"
    [[ "$a" =~ ^[0-9]+$ ]] && [[ "$b" =~ ^[0-9]+$ ]]
    scontrol show job "$b" | grep -q "Dependency=afterok:$a"
    [ "$(wait_job "$a" 120)" = COMPLETED ]
    [ "$(wait_job "$b" 120)" = COMPLETED ]
    [ "$(cat out/sum/total)" -eq 20 ]
}

teardown_file() {
    node_visible_cleanup
}
