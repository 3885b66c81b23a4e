/* coord.h: rank 0's private helpers (owners.c, prepare.c). */
#ifndef DATUMRUN_RUNNER_COORD_H
#define DATUMRUN_RUNNER_COORD_H

#include "io/io.h"
#include "jobs/jobs.h"
#include "sched/sched.h"

/* Which datum owns each output path, built from the manifest's records
 * when a collision or a crashed run needs it.  The map borrows the
 * manifest's strings: do not change the manifest while it lives. */
typedef struct coord_owners coord_owners_t;

coord_owners_t *coord_owners_build (const io_manifest_t *m);
const io_hash_t *coord_owners_get (const coord_owners_t *o, const char *path);
void coord_owners_destroy (coord_owners_t *o);

/* What the preparation steps work on (prepare.c). */
typedef struct coord_ctx {
    jobs_spec_t *spec;
    io_manifest_t *m;
    sched_plan_t *p;        /* NULL before planning */
    bool output_moved;      /* the spec's output is not the recorded one */
} coord_ctx_t;

/* A job still "running" in a manifest whose lock we hold was killed
 * before it could say so: record it killed, with its datums' counts. */
int coord_close_dead_jobs (coord_ctx_t *c, dr_error_t *err);
/* Remove outputs a crashed run moved into place but never recorded. */
int coord_clean_inflight (coord_ctx_t *c);
/* Changed datums lose their old outputs, vanished ones their outputs and
 * records (invalidated in the journal first). */
int coord_prepare_outputs (coord_ctx_t *c, dr_error_t *err);
void coord_new_job_id (char out[33]);

#endif
