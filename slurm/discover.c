/* discover.c: how many nodes the job spans, which sizes coefficient
 * parallelism.  The PMIx job data is the authority when a PMIx server
 * launched us (mpirun, or srun --mpi=pmix): it counts the nodes this MPI
 * job really runs on.  Slurm's environment comes next (a batch script or
 * an srun without PMIx), and a lone process on a workstation is 1 node.
 */
#include <errno.h>
#include <limits.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <pmix.h>

#include "slurm/slurm.h"

/* Positive int from an environment variable: 1 found, 0 unset or empty,
 * -1 malformed. */
static int env_count (const char *name, int *out)
{
    const char *s = getenv (name);
    if (!s || *s == '\0')
        return 0;
    char *end;
    errno = 0;
    long v = strtol (s, &end, 10);
    if (errno || *end != '\0' || v < 1 || v > INT_MAX)
        return -1;
    *out = (int)v;
    return 1;
}

static int value_count (const pmix_value_t *v, int *out)
{
    uint64_t n;
    switch (v->type) {
    case PMIX_UINT32: n = v->data.uint32; break;
    case PMIX_UINT16: n = v->data.uint16; break;
    case PMIX_UINT64: n = v->data.uint64; break;
    case PMIX_UINT: n = v->data.uint; break;
    case PMIX_SIZE: n = v->data.size; break;
    case PMIX_INT:
        if (v->data.integer < 0)
            return -1;
        n = (uint64_t)v->data.integer;
        break;
    case PMIX_INT32:
        if (v->data.int32 < 0)
            return -1;
        n = (uint64_t)v->data.int32;
        break;
    default:
        return -1;
    }
    if (n < 1 || n > INT_MAX)
        return -1;
    *out = (int)n;
    return 0;
}

/* The PMIx connection we opened, and what it said.  PMIx 4.2 cannot be
 * initialised again once fully finalised: a PMIx_Finalize that drops the
 * last reference before MPI_Init makes Open MPI's own PMIx_Init fail
 * ("getting local rank failed").  So the reference is held until exit,
 * where MPI_Finalize has already dropped Open MPI's, and the answer is
 * cached: one query per process. */
static struct {
    int state;                          /* 0 untried, 1 up, -1 failed */
    char nspace[PMIX_MAX_NSLEN + 1];
    int nodes;                          /* 0 when PMIx did not say */
} pmix_conn;

static void pmix_release (void)
{
    if (pmix_conn.state == 1) {
        pmix_conn.state = -1;
        PMIx_Finalize (NULL, 0);
    }
}

static void pmix_query (void)
{
    pmix_proc_t me, job;
    pmix_value_t *val = NULL;
    pmix_info_t info[2];
    bool optional = true;
    uint32_t timeout = 5;   /* seconds; job data is local, this is a cap */

    /* PMIx_Init is reference counted: in an MPI process that already holds
     * a connection this just takes another reference. */
    if (PMIx_Init (&me, NULL, 0) != PMIX_SUCCESS) {
        pmix_conn.state = -1;
        return;
    }
    pmix_conn.state = 1;
    snprintf (pmix_conn.nspace, sizeof (pmix_conn.nspace), "%s", me.nspace);
    atexit (pmix_release);

    PMIX_LOAD_PROCID (&job, me.nspace, PMIX_RANK_WILDCARD);
    PMIX_INFO_LOAD (&info[0], PMIX_OPTIONAL, &optional, PMIX_BOOL);
    PMIX_INFO_LOAD (&info[1], PMIX_TIMEOUT, &timeout, PMIX_UINT32);
    int n;
    if (PMIx_Get (&job, PMIX_NUM_NODES, info, 2, &val) == PMIX_SUCCESS
        && val && value_count (val, &n) == 0)
        pmix_conn.nodes = n;
    if (val)
        PMIX_VALUE_RELEASE (val);
    PMIX_INFO_DESTRUCT (&info[0]);
    PMIX_INFO_DESTRUCT (&info[1]);
}

/* 0 with *nodes set, -1 when PMIx cannot tell (not an error: the caller
 * falls back to the next source).  A namespace other than the one we
 * connected to (the environment changed) cannot be asked. */
static int pmix_nodes (const char *nspace, int *nodes)
{
    if (pmix_conn.state == 0)
        pmix_query ();
    if (pmix_conn.state != 1 || pmix_conn.nodes < 1
        || strcmp (nspace, pmix_conn.nspace) != 0)
        return -1;
    *nodes = pmix_conn.nodes;
    return 0;
}

int slurm_discover_nodes (int *nodes, const char **source)
{
    static const char *const slurm_vars[] = {
        "SLURM_JOB_NUM_NODES", "SLURM_NNODES",
    };
    int n;

    if (!nodes) {
        errno = EINVAL;
        return -1;
    }
    const char *nspace = getenv ("PMIX_NAMESPACE");
    if (nspace && getenv ("PMIX_RANK") && pmix_nodes (nspace, &n) == 0) {
        *nodes = n;
        if (source)
            *source = "pmix";
        return 0;
    }
    for (size_t i = 0; i < sizeof (slurm_vars) / sizeof (slurm_vars[0]); i++) {
        int found = env_count (slurm_vars[i], &n);
        if (found < 0) {
            errno = EINVAL;
            return -1;
        }
        if (found) {
            *nodes = n;
            if (source)
                *source = "slurm";
            return 0;
        }
    }
    *nodes = 1;
    if (source)
        *source = "default";
    return 0;
}
