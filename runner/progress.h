/* progress.h: what rank 0 tells the world about a running job: every
 * attempt into the manifest's history, and (progress.c) the live view.
 * coord.c calls one function per event; the rest lives in progress.c.
 * Private to runner/.
 */
#ifndef DATUMRUN_RUNNER_PROGRESS_H
#define DATUMRUN_RUNNER_PROGRESS_H

#include "runner/proto.h"
#include "runner/runner.h"

typedef struct progress progress_t;

typedef struct progress_cfg {
    io_manifest_t *m;
    const jobs_spec_t *spec;
    const run_opts_t *o;
    const sched_plan_t *p;
    const jobs_record_t *job;   /* the coordinator's, read at each event */
    char **hosts;               /* per rank */
    int size;                   /* MPI world size */
} progress_cfg_t;

/* Caller destroys with progress_destroy(); NULL only when out of memory. */
progress_t *progress_create (const progress_cfg_t *cfg);
void progress_destroy (progress_t *pg);

/* A worker reported one attempt at a datum. */
void progress_result (progress_t *pg, int rank, const wresult_t *r);
/* Rank 0 handed didx to a worker (it runs its datums in that order). */
void progress_assigned (progress_t *pg, int rank, uint32_t didx,
                        uint32_t attempt);
/* The worker was lost: the datum it was running is a lost attempt. */
void progress_lost (progress_t *pg, int rank, const char *reason);
/* Called on every turn of rank 0's loop: rewrites the status file at most
 * once a second and prints the periodic progress line when due. */
void progress_tick (progress_t *pg);
/* The job ended (its state is set): the final status file. */
void progress_end (progress_t *pg);

/* The status file as JSON (caller json_decref()s), NULL if none or
 * unreadable. */
struct json_t;
struct json_t *progress_read_status (const char *state_dir);
/* One line from a status document: "478/2000 (23.9%) 470 processed, ..." */
void progress_format_line (struct json_t *st, char *buf, size_t len);

/* "log PATH and PATH" naming the datum's log files in this job that
 * exist, or "the command wrote no output". */
void progress_log_hint (const progress_t *pg, uint32_t didx, char *buf,
                        size_t len);

/* The datum's log files in a job that exist: *out and *err get their
 * paths (caller frees) or NULL. */
void runner_log_files (const char *state_dir, const char *job_id,
                       const io_hash_t *datum, char **out, char **err);
/* "log ERR and OUT", "log OUT" or "the command wrote no output". */
void runner_log_hint (const char *out, const char *err, char *buf,
                      size_t len);

#endif /* DATUMRUN_RUNNER_PROGRESS_H */
