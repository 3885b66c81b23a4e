/* limits.h: the sane bounds on spec and command-line values (docs/spec.md,
 * "Bounds").  A value beyond one is refused with a message naming the key
 * and the bound, never clamped and never left to overflow.  Included by
 * jobs/jobs.h.
 */
#ifndef DATUMRUN_JOBS_LIMITS_H
#define DATUMRUN_JOBS_LIMITS_H

#define JOBS_MAX_WORKERS 65536         /* parallelism_spec.constant, -n */
#define JOBS_MAX_COEFFICIENT 1024.0    /* parallelism_spec.coefficient */
#define JOBS_MAX_NODES 65536           /* --nodes */
#define JOBS_MAX_TRIES 1000            /* datum_tries */
#define JOBS_MAX_TIMEOUT_S (366.0 * 86400)  /* datum_timeout, job_timeout */
#define JOBS_MAX_CPU 4096              /* resource_requests.cpu */
#define JOBS_MAX_CHUNK 1000000         /* chunk_spec.number */

/* On a workstation (no allocation) the launcher starts at most this many
 * workers per core unless told --oversubscribe; in a Slurm allocation the
 * cores are the allocation's. */
#define JOBS_WORKERS_PER_CORE 4

#endif /* DATUMRUN_JOBS_LIMITS_H */
