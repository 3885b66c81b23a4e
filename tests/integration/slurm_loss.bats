#!/usr/bin/env bats
# A lost worker under srun --mpi=pmix (issue 9) on the real local Slurm:
# the death of any task cancels the whole step (Slurm 22.05's PMIx plugin),
# so the generated batch script runs the step again in the same
# allocation, and the job completes with only the lost datums redone.

load helpers
export DATUMRUN_TEST_TMPDIR=/var/tmp

setup_file() {
    node_visible_datumrun
    timeout 120 "$DATUMRUN_SRC/slurm/cluster.sh" up >/dev/null
}

setup() { common_setup; }
teardown() {
    for id in ${JOBS:-}; do scancel "$id" 2>/dev/null || true; done
    common_teardown
}

# rank_pid JOB R: the pid of MPI rank R of Slurm job JOB (not its keeper).
rank_pid() {
    local p
    for p in $(pgrep -f "run $T/s.json"); do
        tr '\0' '\n' < "/proc/$p/cmdline" 2>/dev/null | sed -n 2p \
            | grep -qx run || continue
        local env
        env=$(tr '\0' '\n' < "/proc/$p/environ" 2>/dev/null)
        grep -qx "SLURM_JOB_ID=$1" <<< "$env" || continue
        grep -qx "PMIX_RANK=$2" <<< "$env" && { echo "$p"; return 0; }
    done
    return 1
}

@test "kill -9 of one worker under srun: the step runs again in the allocation and the job completes" {
    mkdir -p repo
    for i in $(seq -w 1 12); do echo "$i" > "repo/f$i"; done
    spec s.json sl 'sleep 1; cp "$in" "$DATUMRUN_OUT/"' "$(pfs in repo '/*')" \
        '{"parallelism_spec": {"constant": 2}}'
    id=$(dr sbatch s.json --overcommit --time 5 --submit | tail -n 1)
    JOBS="$id"
    [[ "$id" =~ ^[0-9]+$ ]]
    for t in $(seq 1 240); do
        [ "$(ls sl 2>/dev/null | wc -l)" -ge 2 ] && rank_pid "$id" 2 >/dev/null && break
        sleep 0.5
    done
    w=$(rank_pid "$id" 2)
    kill -9 "$w"
    state=$(wait_job "$id" 240)
    log=$(ls .datumrun/sl/slurm/*-"$id".out)
    cat "$log"
    [ "$state" = COMPLETED ]
    grep -q "running it again in this allocation (1 of 3)" "$log"
    grep -q "success: .* / 12 total, 0 failed" "$log"
    [ "$(ls sl | wc -l)" -eq 12 ]
    [ "$(tree sl)" = "$(scratch_tree s.json)" ]
    run dr list-job s.json --json
    [ "$(pyget "$output" 'j[0]["state"]')" = success ]
    [ "$(pyget "$output" 'j[1]["state"]')" = killed ]
}

# node_of PID: the Slurm node a process runs on.
node_of() {
    tr '\0' '\n' < "/proc/$1/environ" 2>/dev/null | sed -n 's/^SLURMD_NODENAME=//p'
}

@test "a stopped worker on another node than rank 0 is killed by its keeper; the job completes" {
    mkdir -p repo
    # Enough work that rank 0 is still busy when the keeper acts (rank 0
    # ending first would end the step, and Slurm would kill the worker).
    for i in $(seq -w 1 24); do echo "$i" > "repo/f$i"; done
    spec s.json st 'sleep 1; cp "$in" "$DATUMRUN_OUT/"' "$(pfs in repo '/*')" \
        '{"parallelism_spec": {"constant": 2}, "worker_timeout": "3s"}'
    # 3 tasks on 3 nodes (block distribution): rank 2 is not on rank 0's
    # node, which rank 0 cannot reach to kill; its keeper must.
    id=$(dr sbatch s.json --nodes 3 --overcommit --time 5 --submit | tail -n 1)
    JOBS="$id"
    [[ "$id" =~ ^[0-9]+$ ]]
    for t in $(seq 1 240); do
        [ "$(ls st 2>/dev/null | wc -l)" -ge 2 ] && rank_pid "$id" 2 >/dev/null \
            && rank_pid "$id" 0 >/dev/null && break
        sleep 0.5
    done
    w=$(rank_pid "$id" 2)
    n0=$(node_of "$(rank_pid "$id" 0)")
    n2=$(node_of "$w")
    echo "rank 0 on $n0, rank 2 (pid $w) on $n2"
    [ -n "$n2" ] && [ "$n0" != "$n2" ]
    kill -STOP "$w"
    state=$(wait_job "$id" 240)
    log=$(ls .datumrun/st/slurm/*-"$id".out)
    cat "$log"
    [ "$state" = COMPLETED ]
    grep -q "worker rank 2 on $n2 lost (no heartbeat for [0-9]*s)" "$log"
    grep -q "datumrun\\[keeper\\]: worker pid $w silent for [0-9]*s (stopped or hung): killed" "$log"
    ! kill -0 "$w" 2>/dev/null
    grep -q "success: .* / 24 total, 0 failed" "$log"
    [ "$(tree st)" = "$(scratch_tree s.json)" ]
}

@test "the time-limit warning (B:USR1 to the script) gives running datums the grace: none fails, the rerun does the rest" {
    mkdir -p repo
    for i in $(seq -w 1 24); do echo "$i" > "repo/f$i"; done
    spec s.json gr 'sleep 2; cp "$in" "$DATUMRUN_OUT/"' "$(pfs in repo '/*')" \
        '{"parallelism_spec": {"constant": 2}}'
    id=$(dr sbatch s.json --overcommit --time 5 --submit | tail -n 1)
    JOBS="$id"
    for t in $(seq 1 240); do
        [ "$(ls gr 2>/dev/null | wc -l)" -ge 2 ] && break
        sleep 0.5
    done
    # What Slurm does at the --signal time, by hand.
    scancel --batch --signal=USR1 "$id"
    wait_job "$id" 240
    log=$(ls .datumrun/gr/slurm/*-"$id".out)
    cat "$log"
    run dr list-job s.json --json
    [ "$(pyget "$output" 'j[0]["state"]')" = killed ]
    [ "$(pyget "$output" 'j[0]["failed"]')" -eq 0 ]
    done_first=$(pyget "$output" 'j[0]["processed"]')
    [ "$done_first" -ge 2 ]
    [ "$done_first" -lt 24 ]
    # The running commands were not killed: their outputs are all there.
    [ "$(ls gr | wc -l)" -eq "$done_first" ]
    ! grep -q "running it again" "$log"
    run dr run s.json --json
    [ "$status" -eq 0 ]
    j=$(last_json)
    [ "$(counts "$j")" = "$((24 - done_first)) + $done_first / 24" ]
}

@test "scancel --signal=TERM: finished datums recorded, cut ones interrupted (not failed), the rerun does only those" {
    # Slurm signals every process of the step, the commands too: they die
    # at once (no grace with this signal), and count as interrupted.
    mkdir -p repo
    for i in 01 02 03 04 05 06 07 08; do echo "$i" > "repo/f$i"; done
    touch "$T/slow"
    # f01..f04 are quick; the others run until the stop cuts them.
    # `|| exit $?`: Slurm signals the step's processes one by one, and a
    # shell whose sleep dies first could otherwise run cp and exit 0
    # before its own TERM comes (that datum is then rightly processed:
    # a CI run saw 5).
    spec s.json ct 'case "$(basename "$in")" in f0[1-4]) ;; *) if [ -e "'"$T"'/slow" ]; then sleep 119 || exit $?; fi;; esac; cp "$in" "$DATUMRUN_OUT/"' \
        "$(pfs in repo '/*')" '{"parallelism_spec": {"constant": 2}}'
    id=$(dr sbatch s.json --overcommit --time 5 --grace 2 --submit | tail -n 1)
    JOBS="$id"
    [[ "$id" =~ ^[0-9]+$ ]]
    # both workers busy with slow datums (the quick ones are done)
    for t in $(seq 1 240); do
        [ "$(ls ct 2>/dev/null | wc -l)" -ge 4 ] \
            && [ "$(pgrep -f "^sleep 119$" | wc -l)" -ge 2 ] && break
        sleep 0.5
    done
    scancel --signal=TERM "$id"
    state=$(wait_job "$id" 240)
    log=$(ls .datumrun/ct/slurm/*-"$id".out)
    cat "$log"
    run dr list-job s.json --json
    [ "$(pyget "$output" '(j[0]["state"], j[0]["processed"], j[0]["failed"])')" = "('killed', 4, 0)" ]
    run dr list-datum s.json --json
    [ "$status" -eq 0 ]
    [ "$(pyget "$output" 'sum(x["state"] == "interrupted" for x in j)')" -ge 2 ]
    [ "$(pyget "$output" 'sum(x["state"] == "failed" for x in j)')" -eq 0 ]
    rm "$T/slow"
    run dr run s.json --json
    [ "$status" -eq 0 ]
    [ "$(counts "$(last_json)")" = "4 + 4 / 8" ]
    [ "$(tree ct)" = "$(scratch_tree s.json)" ]
}

teardown_file() {
    node_visible_cleanup
}
