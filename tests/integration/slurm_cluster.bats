#!/usr/bin/env bats
# slurm_cluster.bats: smoke test of the local single-node Slurm cluster
# (slurm/cluster.sh) that the other integration tests submit to.  It brings
# the cluster up, runs an overcommitted batch job and an Open MPI program
# under `srun --mpi=pmix`, and takes the cluster down again only if it was
# not already up, so no daemons are left behind that the suite did not find.

setup_file () {
    SRC=${DATUMRUN_SRC:-$(cd "$BATS_TEST_DIRNAME/../.." && pwd)}
    export CLUSTER="$SRC/slurm/cluster.sh"
    if [[ $(id -u) -ne 0 ]] && ! timeout 30 "$CLUSTER" status >/dev/null 2>&1; then
        skip "the local Slurm cluster is down and only root can start it"
    fi
    if timeout 30 "$CLUSTER" status >/dev/null 2>&1; then
        export WAS_UP=1
    else
        export WAS_UP=0
    fi
    # Jobs run on the cluster's nodes, whose /tmp is their own: work in a
    # folder every node shares.
    export WORK=$(mktemp -d /var/tmp/datumrun-cluster-test.XXXXXX)
    # Open MPI refuses to run as root without these.
    if [[ $(id -u) -eq 0 ]]; then
        export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
    fi
}

teardown_file () {
    [[ -n ${WORK:-} ]] && rm -rf "$WORK"
    if [[ ${WAS_UP:-1} -eq 0 ]]; then
        timeout 60 "$CLUSTER" down
    fi
}

@test "cluster up is idempotent and every node is idle" {
    run timeout 120 "$CLUSTER" up
    [ "$status" -eq 0 ] || { echo "$output"; false; }
    # The second call takes the fast path: no daemon is restarted.
    before=$(pgrep -x 'slurmctld|slurmd|munged' | sort | tr '\n' ' ')
    run timeout 30 "$CLUSTER" up
    [ "$status" -eq 0 ]
    [ "$(pgrep -x 'slurmctld|slurmd|munged' | sort | tr '\n' ' ')" = "$before" ]
    run timeout 30 "$CLUSTER" status
    [ "$status" -eq 0 ]
    local n
    for n in $("$CLUSTER" nodes); do
        [[ $output == *"node $n: idle"* ]]
    done
}

@test "up adopts daemons whose pid files are stale or gone instead of starting second ones" {
    [[ $(id -u) -eq 0 ]] || skip "only root may run cluster.sh up"
    local dir=${DATUMRUN_SLURM_DIR:-/var/lib/datumrun-slurm} n pf ctld slurmd
    n=$("$CLUSTER" nodes | head -n 1)
    if [ "$("$CLUSTER" nodes | wc -l)" -eq 1 ]; then pf=$dir/run/slurmd.pid
    else pf=$dir/run/slurmd-$n.pid; fi
    ctld=$(cat "$dir/run/slurmctld.pid")
    slurmd=$(cat "$pf")
    # What an `up` killed half-way leaves: a wrong pid, a missing file.
    echo 1 > "$dir/run/slurmctld.pid"
    rm -f "$pf"
    run timeout 60 "$CLUSTER" up
    echo "$output"
    [ "$status" -eq 0 ]
    [[ $output == *"found slurmctld (pid $ctld) listening on port"*"adopting it"* ]]
    [[ $output == *"found slurmd of $n (pid $slurmd) without its pid file; adopting it"* ]]
    [ "$(cat "$dir/run/slurmctld.pid")" = "$ctld" ]
    [ "$(cat "$pf")" = "$slurmd" ]
    kill -0 "$ctld"
    kill -0 "$slurmd"
    run timeout 30 "$CLUSTER" status
    [ "$status" -eq 0 ]
}

@test "sbatch --wait runs 3 overcommitted tasks" {
    cat >"$WORK/job.sh" <<'EOF'
#!/bin/bash
#SBATCH --job-name=dr-smoke
#SBATCH --ntasks=3
#SBATCH --overcommit
set -euo pipefail
echo "tasks=$SLURM_NTASKS"
srun bash -c 'echo "task $SLURM_PROCID of $SLURM_NTASKS"'
EOF
    run timeout 120 sbatch --wait --parsable --chdir="$WORK" \
        --output="$WORK/job-%j.out" "$WORK/job.sh"
    [ "$status" -eq 0 ] || { echo "$output"; false; }
    id=${output%%;*}
    out="$WORK/job-$id.out"
    [ -f "$out" ]
    cat "$out"
    grep -qx "tasks=3" "$out"
    [ "$(grep -c '^task [0-2] of 3$' "$out")" -eq 3 ]
}

@test "srun --mpi=pmix runs an Open MPI program on 5 ranks of 2 cores" {
    command -v mpicc >/dev/null || skip "mpicc not installed"
    cat >"$WORK/hello.c" <<'EOF'
#include <mpi.h>
#include <stdio.h>
int main (int argc, char **argv)
{
    int rank, size, sum = 0;
    MPI_Init (&argc, &argv);
    MPI_Comm_rank (MPI_COMM_WORLD, &rank);
    MPI_Comm_size (MPI_COMM_WORLD, &size);
    MPI_Allreduce (&rank, &sum, 1, MPI_INT, MPI_SUM, MPI_COMM_WORLD);
    printf ("rank %d of %d sum %d\n", rank, size, sum);
    MPI_Finalize ();
    return 0;
}
EOF
    run timeout 60 mpicc -o "$WORK/hello" "$WORK/hello.c"
    [ "$status" -eq 0 ] || { echo "$output"; false; }
    run timeout 120 srun --mpi=pmix -n 5 --overcommit "$WORK/hello"
    [ "$status" -eq 0 ] || { echo "$output"; false; }
    [ "$(grep -c '^rank [0-4] of 5 sum 10$' <<<"$output")" -eq 5 ]
}
