#!/usr/bin/env bats
# Pipelines across the three nodes of the local Slurm cluster
# (slurm/cluster.sh up --nodes 3: every node a slurmd in its own network,
# UTS and mount namespaces on a bridge), started with sbatch and
# `srun --mpi=pmix`: workers on every node, node counts for coefficient
# parallelism, hwloc binding per node, the MPI transports between and within
# nodes, and a campaign whose jobs span the nodes.

load helpers
# Work folders must be visible on every node (each node's /tmp is its own).
export DATUMRUN_TEST_TMPDIR=/var/tmp

setup_file() {
    CLUSTER="$DATUMRUN_SRC/slurm/cluster.sh"
    # Leave the cluster as it was found: the suite runs on 3 nodes already
    # (setup.sh test), a developer's machine may have 1.
    if timeout 30 "$CLUSTER" status >/dev/null 2>&1; then
        export NODES_BEFORE=$("$CLUSTER" nodes | wc -l)
    else
        export NODES_BEFORE=0
    fi
    if [ "$NODES_BEFORE" -ne 3 ]; then
        timeout 180 "$CLUSTER" up --nodes 3 >&3 2>&1
    fi
    if [ "$(id -u)" -eq 0 ]; then
        export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
    fi
    node_visible_datumrun
}

teardown_file() {
    node_visible_cleanup
    CLUSTER="$DATUMRUN_SRC/slurm/cluster.sh"
    if [ "${NODES_BEFORE:-3}" -eq 0 ]; then
        timeout 120 "$CLUSTER" down >/dev/null 2>&1
    elif [ "${NODES_BEFORE:-3}" -ne 3 ]; then
        timeout 180 "$CLUSTER" up --nodes "$NODES_BEFORE" >/dev/null 2>&1
    fi
}

setup() { common_setup; }
teardown() {
    for id in ${JOBS:-}; do scancel "$id" 2>/dev/null || true; done
    # A crashed node comes back for the tests after this one.
    if [ -n "${CRASHED:-}" ]; then
        timeout 180 "$DATUMRUN_SRC/slurm/cluster.sh" up >/dev/null 2>&1 || true
    fi
    common_teardown
}

# A datum's command that records where it ran: "host rank cpus".
WHERE='sleep 0.3; echo "$(hostname) ${SLURM_PROCID:-?} $(taskset -cp $$ | sed "s/.*: //")" > "$DATUMRUN_OUT/$(basename "$in").where"'

# A batch script: srun --mpi=pmix datumrun run SPEC, rank 0 noting its host.
run_script() { # FILE SPEC [RUN_ARGS...]
    local file=$1 spec=$2
    shift 2
    {
        echo '#!/bin/bash'
        echo 'set -euo pipefail'
        printf 'exec srun --mpi=pmix sh -c %q sh %q run %q --json' \
            'if [ "$SLURM_PROCID" = 0 ]; then hostname > rank0.host; fi; exec "$@"' \
            "$DATUMRUN" "$spec"
        [ $# -eq 0 ] || printf ' %q' "$@"
        echo
    } > "$file"
}

@test "workers land on all three nodes; rank 0 on the first" {
    make_repo 9
    spec s.json where "$WHERE" "$(pfs in repo '/*')" '{"parallelism_spec": {"constant": 3}}'
    run_script job.sh s.json
    id=$(submit -N 3 -n 4 --overcommit -o job.out job.sh)
    state=$(wait_job "$id" 180)
    cat job.out
    [ "$state" = COMPLETED ]
    j=$(grep '^{' job.out | tail -n 1)
    [ "$(jget "$j" workers)" -eq 3 ]
    [ "$(jget "$j" nodes)" -eq 3 ]
    [ "$(jget "$j" processed)" -eq 9 ]
    [ "$(ls where/*.where | wc -l)" -eq 9 ]
    cat where/*.where
    hosts=$(cut -d' ' -f1 where/*.where | sort -u)
    echo "# worker hosts: $(echo $hosts)" >&3
    [ "$(echo "$hosts" | wc -l)" -ge 2 ]
    for h in $hosts; do [[ $h =~ ^drnode[1-3]$ ]]; done
    # Block distribution puts task 0 on the allocation's first node.
    first=$(scontrol show hostnames "$(scontrol show job "$id" | sed -n 's/^ *NodeList=//p')" | head -n 1)
    [ "$(cat rank0.host)" = "$first" ]
    # Rank 0 hands out datums only: no datum ran as rank 0.
    ! cut -d' ' -f2 where/*.where | grep -qx 0
}

@test "coefficient 1.0 on 3 nodes gives 3 workers, 0.5 gives 1 (datumrun sbatch)" {
    make_repo 4
    spec c1.json coef1 'cp "$in" "$DATUMRUN_OUT/"' "$(pfs in repo '/*')" \
        '{"parallelism_spec": {"coefficient": 1.0}}'
    spec c05.json coef05 'cp "$in" "$DATUMRUN_OUT/"' "$(pfs in repo '/*')" \
        '{"parallelism_spec": {"coefficient": 0.5}}'
    run dr sbatch c1.json --nodes 3 --overcommit --time 5 --submit
    [ "$status" -eq 0 ]
    a=$(printf '%s\n' "$output" | grep -E '^[0-9]+$')
    run dr sbatch c05.json --nodes 3 --overcommit --time 5 --submit
    [ "$status" -eq 0 ]
    b=$(printf '%s\n' "$output" | grep -E '^[0-9]+$')
    [[ "$output" =~ "1 worker on --nodes 3: asking for 1 node" ]]
    JOBS="$a $b"
    [ "$(wait_job "$a" 180)" = COMPLETED ]
    [ "$(wait_job "$b" 180)" = COMPLETED ]
    cat .datumrun/coef1/slurm/*-"$a".out
    run dr list-job c1.json --json
    [ "$(pyget "$output" 'j[0]["workers"]')" -eq 3 ]
    [ "$(pyget "$output" 'j[0]["state"]')" = success ]
    run dr list-job c05.json --json
    [ "$(pyget "$output" 'j[0]["workers"]')" -eq 1 ]
    [ "$(pyget "$output" 'j[0]["state"]')" = success ]
}

@test "hwloc binding is per node: two workers per node get cores 0 and 1" {
    make_repo 12
    spec s.json bind "$WHERE" "$(pfs in repo '/*')" '{"parallelism_spec": {"constant": 6}}'
    run_script job.sh s.json
    # 7 tasks, block distribution: 3 (rank 0 + 2 workers), 2, 2.
    id=$(submit -N 3 -n 7 --overcommit -o job.out job.sh)
    state=$(wait_job "$id" 180)
    cat job.out
    [ "$state" = COMPLETED ]
    cat bind/*.where
    [ "$(ls bind/*.where | wc -l)" -eq 12 ]
    # Each worker rank is bound to one core, always the same one.
    [ "$(sort -u bind/*.where | cut -d' ' -f2 | sort | uniq -d | wc -l)" -eq 0 ]
    # On each node the workers hold distinct cores among 0 and 1.
    for h in $(cut -d' ' -f1 bind/*.where | sort -u); do
        cpus=$(awk -v h="$h" '$1 == h {print $2, $3}' bind/*.where | sort -u | cut -d' ' -f2)
        [ "$(echo "$cpus" | sort | uniq -d | wc -l)" -eq 0 ]
        for c in $cpus; do [[ $c =~ ^[01]$ ]]; done
    done
}

@test "Open MPI uses TCP between nodes and shared memory within one" {
    cat > ring.c <<'EOF'
#include <mpi.h>
#include <stdio.h>
int main (int argc, char **argv)
{
    int rank, size, token = 0;
    MPI_Init (&argc, &argv);
    MPI_Comm_rank (MPI_COMM_WORLD, &rank);
    MPI_Comm_size (MPI_COMM_WORLD, &size);
    /* Everyone talks to everyone, so every pair picks a transport. */
    for (int peer = 0; peer < size; peer++) {
        if (peer == rank)
            continue;
        MPI_Sendrecv (&rank, 1, MPI_INT, peer, 0, &token, 1, MPI_INT, peer,
                      0, MPI_COMM_WORLD, MPI_STATUS_IGNORE);
    }
    printf ("rank %d of %d done\n", rank, size);
    MPI_Finalize ();
    return 0;
}
EOF
    timeout 60 mpicc -o ring ring.c
    printf '#!/bin/bash\nexport OMPI_MCA_btl_base_verbose=100\nsrun --mpi=pmix ./ring\n' > job.sh
    id=$(submit -N 3 --ntasks-per-node=2 --overcommit -o job.out job.sh)
    [ "$(wait_job "$id" 180)" = COMPLETED ]
    [ "$(grep -c '^rank [0-5] of 6 done$' job.out)" -eq 6 ]
    # "[drnode1:123] mca: bml: Using tcp btl for send to [[j,s],2] on node drnode2"
    grep 'mca: bml: Using' job.out | grep -v 'self btl' \
        | sed -E 's/^\[([a-z0-9]+):[0-9]+\] mca: bml: Using ([a-z]+) btl .* on node ([a-z0-9]+)$/\1 \2 \3/' \
        | sort -u > transports
    echo "# transports (from, btl, to):" $(tr '\n' ';' < transports) >&3
    [ -s transports ]
    while read -r from btl to; do
        if [ "$from" = "$to" ]; then [ "$btl" = vader ]; else [ "$btl" = tcp ]; fi
    done < transports
    grep -q ' tcp ' transports
    grep -q ' vader ' transports
    # The TCP BTL connects node addresses on the bridge only (the cluster's
    # TaskProlog sets btl_tcp_if_include): "path from A to B: IPV4 ...".
    addrs=$(scontrol show node -o | grep -o 'NodeAddr=[^ ]*' | cut -d= -f2)
    grep 'btl:tcp: path from' job.out | sort -u > paths
    [ -s paths ]
    while read -r _ _ _ a _ b rest; do
        b=${b%:}
        grep -qx "$a" <<<"$addrs"
        grep -qx "$b" <<<"$addrs"
        [[ $rest == IPV4* ]]
    done < <(sed 's/^\[[^]]*\] //' paths)
}

@test "rank 0 takes no worker's CPUs: 3 two-CPU workers on 3 two-CPU nodes" {
    make_repo 6
    spec s.json whole "$WHERE" "$(pfs in repo '/*')" \
        '{"parallelism_spec": {"coefficient": 1.0}, "resource_requests": {"cpu": 2, "memory": "64Mi"}}'
    # No --overcommit: the allocation is exactly the workers' CPUs.
    run dr sbatch s.json --nodes 3 --time 5 --dry-run
    [ "$status" -eq 0 ]
    [[ "$output" =~ "#SBATCH --ntasks-per-node=1" ]]
    [[ "$output" =~ "#SBATCH --cpus-per-task=2" ]]
    [[ "$output" =~ "#SBATCH --mem=64M" ]]
    [[ "$output" =~ "#SBATCH --open-mode=append" ]]
    [[ "$output" =~ "fits partition" ]]
    [[ "$output" =~ "#SBATCH --signal=B:USR1@120" ]]
    run dr sbatch s.json --nodes 3 --grace 0
    [[ ! "$output" =~ "--signal" ]]
    run dr sbatch s.json --nodes 3 --time 5 --grace 0 --submit
    [ "$status" -eq 0 ]
    id=$(printf '%s\n' "$output" | grep -E '^[0-9]+$')
    JOBS="$id"
    # --submit names the log too; --grace 0 means no warning signal.
    log=".datumrun/whole/slurm/datumrun-whole-$id.out"
    [[ "$output" =~ "submitted job $id; log $T/$log" ]]
    [ "$(wait_job "$id" 180)" = COMPLETED ]
    cat "$log"
    run dr list-job s.json --json
    [ "$(pyget "$output" 'j[0]["workers"]')" -eq 3 ]
    [ "$(cut -d' ' -f1 whole/*.where | sort -u | wc -l)" -eq 3 ]
    # Each worker has its node's two cores.
    for c in $(cut -d' ' -f3 whole/*.where | sort -u); do [ "$c" = 0-1 ] || [ "$c" = 0,1 ]; done
}

@test "sbatch refuses a job that can never start and says what would fit" {
    make_repo 3
    spec s.json never 'true' "$(pfs in repo '/*')" '{"parallelism_spec": {"constant": 3}}'
    # 3 one-CPU workers on one 2-CPU node: Slurm would queue it for ever.
    run dr sbatch s.json --nodes 1 --time 5 --submit
    [ "$status" -eq 2 ]
    [[ "$output" =~ "can never start on partition debug" ]]
    [[ "$output" =~ "3 workers x 1 CPU need 3 CPUs on a node, the largest has 2" ]]
    [[ "$output" =~ "would fit: --nodes 2 (at most 2 workers per node), or --overcommit" ]]
    [ -z "$(squeue -h -n datumrun-never)" ]
    run dr sbatch s.json --nodes 1 --time 5 --dry-run
    [ "$status" -eq 2 ]
    [[ "$output" =~ "can never start" ]]
    [[ "$output" =~ "#SBATCH --ntasks=3" ]]
    # What it suggests fits.
    run dr sbatch s.json --nodes 2 --time 5 --dry-run
    [ "$status" -eq 0 ]
    [[ "$output" =~ "fits partition debug (3 nodes); Slurm: Job" ]]
    # GPUs: 4 per node; 3 GPUs per worker on 2 workers per node cannot be.
    spec g.json gpus 'true' "$(pfs in repo '/*')" \
        '{"parallelism_spec": {"constant": 4}, "resource_requests": {"gpu": 3}}'
    run dr sbatch g.json --nodes 2 --overcommit --dry-run
    [ "$status" -eq 2 ]
    [[ "$output" =~ "2 workers x 3 GPUs need 6 GPUs on a node, the most any node has is 4" ]]
    [[ "$output" =~ "would fit: at most 3 workers on this partition" ]]
}

# What a datum's command sees of its GPUs: "host rank CUDA_VISIBLE_DEVICES order".
GPUS='sleep 0.3; echo "$(hostname) ${SLURM_PROCID:-?} ${CUDA_VISIBLE_DEVICES:-none} ${CUDA_DEVICE_ORDER:-none}" > "$DATUMRUN_OUT/$(basename "$in").gpu"'

@test "GPUs per datum: two workers on a 4-GPU node with gpu: 2 see disjoint pairs" {
    make_repo 8
    spec s.json gpus "$GPUS" "$(pfs in repo '/*')" \
        '{"parallelism_spec": {"constant": 2}, "resource_requests": {"gpu": {"type": "nvidia", "number": 2}}}'
    run dr sbatch s.json --nodes 1 --time 5 --submit
    [ "$status" -eq 0 ]
    [[ "$output" =~ "fits partition" ]]
    id=$(printf '%s\n' "$output" | grep -E '^[0-9]+$')
    JOBS="$id"
    [ "$(wait_job "$id" 180)" = COMPLETED ]
    cat .datumrun/gpus/slurm/*-"$id".out
    cat gpus/*.gpu
    [ "$(ls gpus/*.gpu | wc -l)" -eq 8 ]
    [ "$(cut -d' ' -f1 gpus/*.gpu | sort -u | wc -l)" -eq 1 ]     # one node
    [ "$(cut -d' ' -f4 gpus/*.gpu | sort -u)" = PCI_BUS_ID ]
    # Each worker always has the same pair; the two pairs are disjoint.
    pairs=$(cut -d' ' -f2,3 gpus/*.gpu | sort -u)
    echo "# rank and GPUs: $(echo $pairs)" >&3
    [ "$(echo "$pairs" | wc -l)" -eq 2 ]
    [ "$(echo "$pairs" | cut -d' ' -f1 | sort -u | wc -l)" -eq 2 ]
    all=$(echo "$pairs" | cut -d' ' -f2 | tr ',' '\n' | sort)
    [ "$(echo "$all" | wc -l)" -eq 4 ]
    [ "$(echo "$all" | sort -u | wc -l)" -eq 4 ]
    for gpu in $all; do [[ $gpu =~ ^[0-3]$ ]]; done
    for p in $(echo "$pairs" | cut -d' ' -f2); do [[ $p =~ ^[0-3],[0-3]$ ]]; done
}

@test "GPUs cap the workers per node, and info lists them with their source" {
    make_repo 6
    spec s.json cap "$GPUS" "$(pfs in repo '/*')" \
        '{"parallelism_spec": {"constant": 3}, "resource_requests": {"gpu": 2}}'
    # 4 ranks on one node with 4 GPUs: the third worker has no pair.  (Slurm
    # 22.05 refuses -n 4 --overcommit --gres=gpu:4 on a 2-CPU node but takes
    # -n 3; the step overcommits once more.)
    {
        printf '#!/bin/bash\nsrun --mpi=pmix -n 1 %q info\n' "$DATUMRUN"
        printf 'srun --mpi=pmix -n 4 --overcommit %q run s.json --json\n' "$DATUMRUN"
    } > job.sh
    id=$(submit -N 1 -n 3 --overcommit --gres=gpu:4 -o job.out job.sh)
    [ "$(wait_job "$id" 180)" = COMPLETED ]
    cat job.out
    grep -Eq '^gpus: +4 \(from slurm \(SLURM_STEP_GPUS\)\): 0, 1, 2, 3$' job.out
    grep -q "1 worker rank without 2 GPUs of their own stay idle" job.out
    j=$(grep '^{' job.out | tail -n 1)
    [ "$(jget "$j" workers)" -eq 2 ]
    [ "$(jget "$j" processed)" -eq 6 ]
    [ "$(cut -d' ' -f2,3 cap/*.gpu | sort -u | wc -l)" -eq 2 ]
}

@test "node-local scratch: sandboxes in the node's /tmp, outputs moved to the shared folder" {
    make_repo 9
    # The command says where it ran and on which file system, and writes
    # a file big enough to need a real copy across file systems.
    spec s.json scr 'b=$(basename "$in"); echo "$(hostname) $PWD $(stat -f -c %T .)" > "$DATUMRUN_OUT/$b.where"; head -c 300000 /dev/zero > "$DATUMRUN_OUT/$b.big"; mkdir -p "$DATUMRUN_OUT/d/$b"; echo "$b" > "$DATUMRUN_OUT/d/$b/x"' \
        "$(pfs in repo '/*')" '{"parallelism_spec": {"constant": 3}}'
    run_script job.sh s.json
    id=$(submit -N 3 -n 4 --overcommit -o job.out job.sh)
    state=$(wait_job "$id" 180)
    cat job.out
    [ "$state" = COMPLETED ]
    cat scr/*.where
    [ "$(ls scr/*.where | wc -l)" -eq 9 ]
    # Slurm's TMPDIR (the node's own tmpfs /tmp) held every sandbox.
    ! grep -v " /tmp/datumrun-[0-9a-f]*/[0-9]*/sb tmpfs$" scr/*.where
    [ "$(cut -d' ' -f1 scr/*.where | sort -u | wc -l)" -ge 2 ]
    for f in scr/*.big; do [ "$(stat -c %s "$f")" -eq 300000 ]; done
    [ "$(cat scr/d/f7/x)" = f7 ]
    # No temporary copies in the output, no sandboxes left on the nodes.
    [ -z "$(find scr -name '.datumrun-tmp*')" ]
    # Nothing of this job or of this pipeline is left on any node.
    jid=$(jget "$(grep '^{' job.out | tail -n 1)" job_id)
    for n in drnode1 drnode2 drnode3; do
        [ -z "$("$DATUMRUN_SRC/slurm/cluster.sh" exec "$n" sh -c "ls -d /tmp/datumrun-$jid* 2>/dev/null")" ]
        [ -z "$("$DATUMRUN_SRC/slurm/cluster.sh" exec "$n" sh -c "grep -lx '$T/.datumrun/scr' /tmp/datumrun-*/.datumrun-state 2>/dev/null")" ]
    done
    # The manifest agrees with what landed; a rerun skips everything.
    run dr list-job s.json --json
    [ "$(pyget "$output" 'j[0]["processed"]')" -eq 9 ]
}

@test "scratch across file systems keeps collision checks (--scratch and spec)" {
    make_repo 2
    mkdir -p /dev/shm/dr-scratch-test
    # Both datums write the same path: the second is refused, from scratch too.
    spec s.json coll 'echo "$in" > "$DATUMRUN_OUT/same"' "$(pfs in repo '/*')" \
        '{"parallelism_spec": {"constant": 1}, "scratch": "/dev/shm/dr-scratch-test/spec"}'
    run dr run s.json -q
    [ "$status" -eq 1 ]
    [[ "$output" =~ "same" ]]
    [ "$(ls coll)" = same ]
    [ -z "$(ls -A /dev/shm/dr-scratch-test/spec 2>/dev/null)" ]
    # --scratch wins over the spec's.
    spec t.json ok 'pwd > "$DATUMRUN_OUT/$(basename "$in")"' "$(pfs in repo '/*')" \
        '{"scratch": "/nonexistent/never"}'
    run dr run t.json -q --scratch /dev/shm/dr-scratch-test/opt
    [ "$status" -eq 0 ]
    grep -q '^/dev/shm/dr-scratch-test/opt/datumrun-' ok/f1
    [ -z "$(ls -A /dev/shm/dr-scratch-test/opt)" ]
    # What killed workers of an earlier job of this pipeline left (their
    # sandboxes and the job folder's marker naming the state folder) goes
    # when a later job's worker starts on the node; another pipeline's
    # folder and a folder without a marker stay.
    o=/dev/shm/dr-scratch-test/opt
    mkdir -p "$o/datumrun-0123abcd/1/sb/pfs/out" "$o/datumrun-0123abcd/2/sb" \
        "$o/datumrun-4567cdef/1/sb" "$o/datumrun-89abcdef/1/sb"
    echo x > "$o/datumrun-0123abcd/1/sb/pfs/out/partial"
    printf '%s' "$T/.datumrun/ok" > "$o/datumrun-0123abcd/.datumrun-state"
    printf '%s' "$T/.datumrun/other" > "$o/datumrun-4567cdef/.datumrun-state"
    echo 3 > repo/f3
    run dr run t.json -q --scratch "$o"
    [ "$status" -eq 0 ]
    [ "$(ls -A "$o" | sort | tr '\n' ' ')" = "datumrun-4567cdef datumrun-89abcdef " ]
    rm -rf /dev/shm/dr-scratch-test
}

# A node crash: every process of one worker node (its slurmd, slurmstepd,
# the worker rank and its command; found by the node's network namespace)
# SIGKILLed mid-job.  Rank 0 loses that worker after worker_timeout, hands
# its datums to the workers on the other two nodes and writes its status;
# the script datumrun sbatch wrote takes that status as the job's (srun
# would wait for Slurm to declare the node down), and --no-kill keeps Slurm
# from ending the job for the lost node.
@test "a node crashes mid-job and the job completes on the other two" {
    make_repo 24
    spec s.json crash "cp \"\$in\" \"\$DATUMRUN_OUT/\"; ${WHERE/sleep 0.3/sleep 1}" "$(pfs in repo '/*')" \
        '{"parallelism_spec": {"constant": 3}, "worker_timeout": "8s"}'
    run dr sbatch s.json --nodes 3 --overcommit --time 10 --submit
    [ "$status" -eq 0 ]
    id=$(printf '%s\n' "$output" | grep -E '^[0-9]+$')
    JOBS="$id"
    log=".datumrun/crash/slurm/datumrun-crash-$id.out"
    # The node to crash: one holding a worker, not the first (rank 0 and
    # the batch script run there).
    first=
    victim=
    for t in $(seq 1 240); do
        [ -n "$first" ] || first=$(scontrol show hostnames "$(squeue -h -j "$id" -t R -o %N)" 2>/dev/null | head -n 1)
        victim=$(cut -d' ' -f1 crash/*.where 2>/dev/null | sort -u | grep -vx "${first:-none}" | tail -n 1)
        [ -n "$first" ] && [ -n "$victim" ] && break
        # A job that ended (or never started) has no node to crash: say why.
        jstate=$(squeue -h -j "$id" -o %T 2>/dev/null)
        case "$jstate" in PENDING|CONFIGURING|RUNNING) ;; *) break ;; esac
        sleep 0.5
    done
    if ! [[ $victim =~ ^drnode[1-3]$ ]]; then
        echo "# no victim after ${t}s/2: job state '${jstate:-}', first '$first'" >&3
        squeue -j "$id" >&3 2>&1 || true
        sinfo -N -o '%N %T %E' >&3 2>&1 || true
        cat crash/*.where "$log" >&3 2>&1 || true
        false
    fi
    CRASHED=$victim
    timeout 60 "$DATUMRUN_SRC/slurm/cluster.sh" crash "$victim"
    # Nothing of the node is left to finish a datum.
    [ -z "$("$DATUMRUN_SRC/slurm/cluster.sh" pids "$victim")" ]
    on_victim=$(cut -d' ' -f1 crash/*.where | grep -cx "$victim")
    done_before=$(ls crash/*.where | wc -l)
    [ "$done_before" -lt 24 ]
    state=$(wait_job "$id" 240)
    cat "$log"
    echo "# crashed $victim after $done_before of 24 datums; job $state" >&3
    [ "$state" = COMPLETED ]
    grep -q "1 worker lost (rank [0-9]* on $victim" "$log"
    grep -q "success: .* / 24 total, 0 failed" "$log"
    ! grep -q "running it again" "$log"
    # Every output is there, as a clean run makes them (the copies; the
    # .where files name hosts and ranks).
    [ "$(ls crash/*.where | wc -l)" -eq 24 ]
    [ "$(tree crash | grep -v '\.where$')" = "$(tree repo)" ]
    # What ran after the crash ran on the other two nodes.
    [ "$(cut -d' ' -f1 crash/*.where | grep -cx "$victim")" -eq "$on_victim" ]
    [ "$(cut -d' ' -f1 crash/*.where | grep -vx "$victim" | sort -u | wc -l)" -eq 2 ]
    run dr list-job s.json --json
    [ "$(pyget "$output" 'j[0]["state"]')" = success ]
    [ "$(pyget "$output" 'j[0]["processed"]')" -eq 24 ]
    # The manifest holds one success per datum.  (The lost worker is in
    # the job's summary above; lost-worker records in the manifest are
    # issue 9's.)
    A=$(h5 .datumrun/crash --attempts)
    [ "$(pyget "$A" "len(set(a['datum'] for a in j if a['outcome'] == 'success'))")" -eq 24 ]
}

# Two chained pipelines, the first spread over the nodes.
write_campaign() {
    make_repo 6
    mkdir -p specs
    $PY - <<'SPECS'
import json
cmd_double = ('b=$(basename "$in"); echo $(($(cat "$in") * 2)) > "$DATUMRUN_OUT/$b.n"; '
              'hostname > "$DATUMRUN_OUT/$b.host"; sleep 0.3')
cmd_sum = "cat pfs/d/*.n | awk '{s+=$1} END {print s}' > \"$DATUMRUN_OUT/total\""
json.dump({"pipeline": {"name": "double"},
           "transform": {"cmd": ["sh", "-c", cmd_double]},
           "input": {"pfs": {"name": "in", "repo": "../repo", "glob": "/*"}},
           "output": "../out/double", "parallelism_spec": {"coefficient": 1}},
          open("specs/b_double.json", "w"))
json.dump({"pipeline": {"name": "sum"},
           "transform": {"cmd": ["sh", "-c", cmd_sum]},
           "input": {"pfs": {"name": "d", "repo": "../out/double", "glob": "/"}},
           "output": "../out/sum", "parallelism_spec": {"constant": 1}},
          open("specs/a_sum.json", "w"))
SPECS
}

@test "a campaign runs across the nodes with afterok dependencies" {
    write_campaign
    run dr campaign sbatch specs --nodes 3 --overcommit --time 5 --submit
    [ "$status" -eq 0 ]
    a=$(printf '%s\n' "$output" | awk '$1 == "double" {print $2}')
    b=$(printf '%s\n' "$output" | awk '$1 == "sum" {print $2}')
    JOBS="$a $b"
    [[ "$a" =~ ^[0-9]+$ ]] && [[ "$b" =~ ^[0-9]+$ ]]
    [ "$(wait_job "$a" 180)" = COMPLETED ]
    [ "$(wait_job "$b" 180)" = COMPLETED ]
    [ "$(cat out/sum/total)" -eq 42 ]     # 2 * (1 + ... + 6)
    [ "$(sort -u out/double/*.host | wc -l)" -ge 2 ]
    run dr list-job specs/b_double.json --json
    [ "$(pyget "$output" 'j[0]["workers"]')" -eq 3 ]
}
