/* slurm: what datumrun needs to know about the cluster it runs on, without
 * MPI.  How many nodes the job spans (from PMIx, then Slurm's environment),
 * the node's hardware topology (hwloc) and which cores each worker binds to,
 * the sbatch script that runs a pipeline on Slurm and its submission.  The
 * local test cluster (one node, or N nodes in namespaces) lives next to this
 * code in cluster.sh.
 */
#ifndef DATUMRUN_SLURM_H
#define DATUMRUN_SLURM_H

#include <stdbool.h>
#include <stddef.h>

#include "jobs/jobs.h"

/* --------------------------------------------------------------- nodes */

/* How many nodes this job spans.  Tries, in order:
 *   "pmix"    PMIx job data (PMIX_NUM_NODES), only when PMIX_NAMESPACE and
 *             PMIX_RANK are in the environment (launched by mpirun or
 *             `srun --mpi=pmix`).  Safe before or after MPI_Init: the
 *             first call opens a PMIx connection (reference counted with
 *             Open MPI's) and keeps it until exit, because PMIx cannot be
 *             initialised again once finalised; the answer is cached.
 *   "slurm"   SLURM_JOB_NUM_NODES, then SLURM_NNODES.
 *   "default" 1.
 * On success sets *nodes (>= 1) and *source (a static string; source may be
 * NULL) and returns 0.  Returns -1 with errno EINVAL when nodes is NULL or
 * a Slurm variable holds something other than a positive integer.
 * Call it from one thread at a time.
 */
int slurm_discover_nodes (int *nodes, const char **source);

/* ------------------------------------------------------------ topology */

typedef struct slurm_topo slurm_topo_t;

/* This machine's topology, restricted to the CPUs this process may use
 * (its cgroup).  Returns NULL with err naming the hwloc call that failed.
 * Caller frees with slurm_topo_destroy().
 */
slurm_topo_t *slurm_topo_load (dr_error_t *err);

/* A made-up topology from an hwloc synthetic description such as
 * "pack:2 numa:2 core:4 pu:1", for tests and for planning.  It cannot be
 * used to bind (slurm_topo_bind_self fails with EXDEV).
 */
slurm_topo_t *slurm_topo_load_synthetic (const char *desc, dr_error_t *err);

/* Accepts NULL; keeps errno. */
void slurm_topo_destroy (slurm_topo_t *t);

/* Object counts; each is at least 1 (a machine without Core objects counts
 * its PUs as cores). */
int slurm_topo_packages (const slurm_topo_t *t);
int slurm_topo_numa_nodes (const slurm_topo_t *t);
int slurm_topo_cores (const slurm_topo_t *t);
int slurm_topo_pus (const slurm_topo_t *t);

/* "2 packages, 4 NUMA nodes, 16 cores, 32 PUs" into buf (truncated to
 * len).  Returns the length snprintf would have written. */
int slurm_topo_describe (const slurm_topo_t *t, char *buf, size_t len);

/* The CPUs that worker number local_index (0-based among the workers on
 * this node) binds to when each worker gets ncpus cores.  Workers are
 * spread round-robin over the NUMA nodes, alternating packages, and take
 * ncpus neighbouring cores within one NUMA node; when a NUMA node has
 * fewer than ncpus cores, cores are taken in order across NUMA nodes.
 * Past the last free slot, assignment wraps around (oversubscription).
 * ncpus larger than the core count means all cores.  Writes the OS
 * numbers of the chosen cores' PUs as a list ("0-3,8") into list_out,
 * the format of taskset -c and /proc/PID/status Cpus_allowed_list.
 * Returns 0, or -1 with errno EINVAL (local_index < 0, ncpus < 1) or
 * ERANGE (list_out too short).
 */
int slurm_topo_cpuset_for (const slurm_topo_t *t, int local_index, int ncpus,
                           char *list_out, size_t len);

/* Bind the calling process (all its threads; children inherit it) to the
 * CPUs slurm_topo_cpuset_for chooses.  Returns 0, or -1 with err naming
 * the CPUs that could not be bound to.
 */
int slurm_topo_bind_self (const slurm_topo_t *t, int local_index, int ncpus,
                          dr_error_t *err);

/* ---------------------------------------------------------------- GPUs */

typedef struct slurm_gpu {
    char id[64];            /* as CUDA_VISIBLE_DEVICES takes it: "0", or a
                               UUID when the step was given UUIDs */
    char cpus[256];         /* CPUs near it ("0-7"), "" when unknown */
} slurm_gpu_t;

typedef struct slurm_gpus {
    int n;
    slurm_gpu_t *v;
    const char *source;     /* static: "slurm (SLURM_STEP_GPUS)",
                               "CUDA_VISIBLE_DEVICES", "hwloc", ...,
                               "none" */
    char backend[8];        /* "rsmi" for AMD GPUs, else "" or "cuda" */
} slurm_gpus_t;

/* The GPUs this process may use on its node, in the order CUDA numbers
 * them (PCI bus id): SLURM_STEP_GPUS, CUDA_VISIBLE_DEVICES,
 * ROCR_VISIBLE_DEVICES, SLURM_JOB_GPUS (the first set wins), else hwloc's
 * GPU OS devices, else /proc/driver/nvidia/gpus.  None found is not an
 * error (n = 0, source "none").  Returns 0, or -1 with errno (ENOMEM).
 * Free with slurm_gpus_clear(). */
int slurm_gpus_discover (slurm_gpus_t *g);

/* g from a list such as "0,1,2,3" (Slurm's "NoDevFiles" counts none). */
int slurm_gpus_from_list (const char *list, const char *source,
                          slurm_gpus_t *g);

/* Accepts NULL; keeps errno. */
void slurm_gpus_clear (slurm_gpus_t *g);

/* The GPUs worker local_index of a node gets when each takes per_worker:
 * ids "2,3" (for CUDA_VISIBLE_DEVICES) and, when every one of them has its
 * CPUs known, those CPUs into cpus (else ""; cpus may be NULL).  Returns 0,
 * or -1 with errno ENODEV when this worker is past the node's last full
 * set of GPUs (it must not work), EINVAL, ERANGE (a buffer too short). */
int slurm_gpus_for_worker (const slurm_gpus_t *g, int local_index,
                           int per_worker, char *ids, size_t ids_len,
                           char *cpus, size_t cpus_len);

/* Bind the calling process to the CPUs of list ("0-7,16") that it may
 * use: a worker next to its GPUs.  Returns 0, or -1 with err. */
int slurm_topo_bind_list (const slurm_topo_t *t, const char *list,
                          dr_error_t *err);

/* -------------------------------------------------------------- sbatch */

#define SLURM_DEFAULT_GRACE 120  /* seconds of SIGTERM before the limit */
#define SLURM_STATUS_GRACE 20   /* seconds srun may outlive datumrun's status */

typedef struct slurm_sbatch_opts {
    int nodes;              /* --nodes; 0 = unset (1 for a coefficient) */
    int workers;            /* -n override; 0 = from parallelism_spec */
    const char *time;       /* --time as Slurm takes it ("2:00:00"), or NULL */
    const char *partition;  /* or NULL */
    const char *account;    /* or NULL */
    const char *const *extra; /* extra sbatch arguments, one per element, */
    size_t nextra;          /*   written verbatim as "#SBATCH <arg>"; each
                               must be an option with its value joined,
                               "--mem=4G" (a lone "4G" is refused, since
                               sbatch would ignore it) */
    const char *datumrun;   /* absolute path of the datumrun executable */
    const char *spec_path;  /* spec to run; NULL = spec->path */
    const char *log_dir;    /* job output folder; NULL = <state_dir>/slurm.
                               It must exist when the job starts (Slurm fails
                               a job whose output file it cannot open). */
    int grace;              /* seconds of SIGTERM warning before the time
                               limit; 0 = SLURM_DEFAULT_GRACE unless
                               grace_given, <= 0 given = none */
    bool grace_given;       /* --grace was on the command line */
    bool overcommit;        /* --overcommit: more ranks than CPUs */
} slurm_sbatch_opts_t;

/* The job size slurm_sbatch_script requests for spec and o.  The
 * allocation holds the workers' resources only; rank 0 runs in the same
 * step, sharing the first node's CPUs (`srun --overcommit`), and takes no
 * GPUs (they are requested per node and divided among the node's workers
 * by datumrun).  See docs/cluster.md for what was measured. */
typedef struct slurm_sbatch_size {
    int workers;            /* worker ranks: the allocation's --ntasks */
    int ntasks;             /* workers + 1: the step's ranks (rank 0) */
    int nodes;              /* 0 = left to Slurm */
    int nodes_asked;        /* --nodes as given; more than nodes when there
                               are fewer workers than that (one node per
                               worker is asked for instead) */
    int tasks_per_node;     /* ceil(workers / nodes) when nodes > 0, else 0 */
    int cpus_per_task;      /* resource_requests.cpu */
    int gpus_per_task;      /* resource_requests.gpu, 0 = none */
    int gpus_per_node;      /* tasks_per_node * gpus_per_task (--gres) */
    long long mem_mib;      /* resource_requests.memory per worker, 0 = unset */
    long long mem_per_node_mib; /* --mem: tasks_per_node * mem_mib, when the
                               node count is known; else 0 */
    long long mem_per_cpu_mib;  /* --mem-per-cpu: ceil(mem / cpus), when it
                               is not; else 0 */
} slurm_sbatch_size_t;

/* Sizing: o->workers if > 0; else parallelism constant N gives N workers;
 * else coefficient c (unset means 1) gives max(1, floor(c * nodes))
 * workers on nodes nodes (o->nodes, or 1).  GPUs need the node count, so
 * with resource_requests.gpu and no --nodes the job asks for 1 node.
 * Fewer workers than nodes asks for one node per worker (nodes_asked
 * keeps the request).  Returns 0, or -1 with err naming the bad value. */
int slurm_sbatch_size (const jobs_spec_t *spec, const slurm_sbatch_opts_t *o,
                       slurm_sbatch_size_t *size, dr_error_t *err);

/* ----------------------------------------------------------------- fit */

/* One compute node of a partition, as sinfo reports it. */
typedef struct slurm_node_info {
    char name[64];
    int cpus;
    long long mem_mib;      /* RealMemory */
    int gpus;               /* gpu GRES count, 0 = none */
} slurm_node_info_t;

/* Whether a job of size sz can ever start on a partition made of nodes[]
 * (its configuration, not its current load).  Returns 1 when it fits, 0
 * when it never can, with why naming the limit hit and what would fit
 * (more nodes, fewer workers per node, --overcommit), or -1 with errno
 * EINVAL on bad arguments.  Pure: no Slurm needed (the unit test calls it
 * with made-up partitions).
 */
int slurm_fit_check (const slurm_sbatch_size_t *sz, bool overcommit,
                     const slurm_node_info_t *nodes, size_t nnodes,
                     char *why, size_t len);

/* The nodes of partition (NULL: the default one) from `sinfo`.  Returns a
 * malloc'd array (caller frees) and sets *n and *name (the partition's
 * name, into name_out), or NULL with err saying why (no sinfo, no such
 * partition, no controller).
 */
slurm_node_info_t *slurm_partition_nodes (const char *partition,
                                          size_t *n, char *name_out,
                                          size_t name_len, dr_error_t *err);

/* `sbatch --test-only` on script: Slurm's own verdict.  Returns 1 when
 * Slurm would accept it (verdict holds its estimate, "Job 12 to start at
 * ... using 4 processors on nodes n[1-2] in partition debug"), 0 when it
 * refuses (verdict holds why), -1 when sbatch could not be run (err).
 */
int slurm_test_only (const char *script, char *verdict, size_t len,
                     dr_error_t *err);

/* A complete, commented batch script that runs spec with
 * `srun --mpi=pmix DATUMRUN run SPEC`.  Returns a malloc'd string (caller
 * frees), or NULL with err naming the option that cannot be written
 * (a newline in a value, a missing datumrun path, ...).
 */
char *slurm_sbatch_script (const jobs_spec_t *spec,
                           const slurm_sbatch_opts_t *o, dr_error_t *err);

/* Submit script with `sbatch --parsable` (found on PATH), writing the job
 * id into jobid_out.  Returns 0, or -1 with err holding sbatch's error
 * output or naming what failed (sbatch missing, timed out after 120 s, id
 * longer than len).
 */
int slurm_submit (const char *script, char *jobid_out, size_t len,
                  dr_error_t *err);

/* --------------------------------------------------------------- quoting */

/* s as one word for a POSIX shell: unchanged when it holds only
 * [A-Za-z0-9_@+:,./-] (and is not empty), otherwise in single quotes with
 * each ' written as '\''.  Returns a malloc'd string (caller frees), or NULL
 * with errno EINVAL (s is NULL) or ENOMEM. */
char *slurm_shell_quote (const char *s);

#endif /* DATUMRUN_SLURM_H */
