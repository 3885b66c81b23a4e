/* bind.c: a worker binds itself to its cores before it runs anything, so
 * that every command it starts inherits the binding.  The worker's index
 * among the workers on its node picks the cores (slurm_topo_cpuset_for:
 * resource_requests.cpu cores each, spread over NUMA nodes). */
#include <mpi.h>
#include <stdlib.h>

#include "runner/runner.h"
#include "slurm/slurm.h"

int runner_local_worker_index (int rank)
{
    /* Ranks sharing this node, in rank order; rank 0 is no worker. */
    MPI_Comm local;
    int lrank = 0, lsize = 1;
    MPI_Comm_split_type (MPI_COMM_WORLD, MPI_COMM_TYPE_SHARED, rank,
                         MPI_INFO_NULL, &local);
    MPI_Comm_rank (local, &lrank);
    MPI_Comm_size (local, &lsize);
    int *ranks = calloc ((size_t)lsize, sizeof (int));
    if (!ranks)
        abort ();
    MPI_Allgather (&rank, 1, MPI_INT, ranks, 1, MPI_INT, local);
    int idx = 0;
    for (int i = 0; i < lrank; i++)
        if (ranks[i] != 0)
            idx++;
    free (ranks);
    MPI_Comm_free (&local);
    return idx;
}

void runner_bind_worker (const jobs_spec_t *spec, int local_index)
{
    dr_error_t err = { { 0 } };
    slurm_topo_t *t = slurm_topo_load (&err);
    if (!t || slurm_topo_bind_self (t, local_index, spec->cpu, &err) < 0)
        dr_log (LOG_WARN, "cannot bind to cores (running unbound): %s",
                err.text);
    else if (dr_log_level >= LOG_DEBUG) {
        char list[256];
        slurm_topo_cpuset_for (t, local_index, spec->cpu, list,
                               sizeof (list));
        dr_log (LOG_DEBUG, "worker %d bound to CPUs %s", local_index, list);
    }
    slurm_topo_destroy (t);
}
