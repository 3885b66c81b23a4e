/* progress.c: rank 0's account of a running job.  Each attempt a worker
 * reports becomes an attempt record in the manifest (the history that
 * inspect-datum, logs and report read).
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "jobs/statedir.h"
#include "runner/progress.h"

struct progress {
    progress_cfg_t cfg;
    io_hash_t job_id;
    bool warned;
};

progress_t *progress_create (const progress_cfg_t *cfg)
{
    progress_t *pg = calloc (1, sizeof (*pg));
    if (!pg)
        return NULL;
    pg->cfg = *cfg;
    io_hash_from_hex (cfg->job->id, &pg->job_id);
    return pg;
}

void progress_destroy (progress_t *pg)
{
    int saved = errno;
    free (pg);
    errno = saved;
}

static jobs_attempt_outcome_t outcome_of (const wresult_t *r)
{
    switch (r->outcome) {
    case OUT_SUCCESS:
        return JOBS_ATTEMPT_SUCCESS;
    case OUT_RECOVERED:
        return JOBS_ATTEMPT_RECOVERED;
    case OUT_RETURNED:
    case OUT_INTERRUPTED:
    case OUT_NOSPACE:       /* not the datum's failure: the job stops */
        return JOBS_ATTEMPT_INTERRUPTED;
    case OUT_FAILED:
    case OUT_COLLISION:
    case OUT_ERROR:
        break;
    }
    return JOBS_ATTEMPT_FAILED;
}

static void record_attempt (progress_t *pg, int rank, const wresult_t *r)
{
    const progress_cfg_t *c = &pg->cfg;
    /* A datum given back before it started was no attempt. */
    if (r->outcome == OUT_RETURNED && r->start_ns == 0)
        return;
    io_attempt_t a = { 0 };
    dr_error_t err = { { 0 } };
    a.datum = c->p->datums[r->didx].id;
    a.job = pg->job_id;
    a.attempt = r->attempt;
    a.rank = rank;
    if (rank >= 0 && rank < c->size && c->hosts[rank])
        snprintf (a.host, sizeof (a.host), "%s", c->hosts[rank]);
    a.start_ns = r->start_ns;
    a.duration_s = r->duration_s;
    a.exit_status = r->exit_status;
    a.term_signal = r->term_signal;
    a.outcome = (uint8_t)outcome_of (r);
    if (io_manifest_attempt (c->m, &a, &err) < 0 && !pg->warned) {
        pg->warned = true;
        dr_log (LOG_WARN, "%s (attempt history incomplete)", err.text);
    }
}

void progress_result (progress_t *pg, int rank, const wresult_t *r)
{
    if (!pg)
        return;
    record_attempt (pg, rank, r);
}

void runner_log_files (const char *state_dir, const char *job_id,
                       const io_hash_t *datum, char **out, char **err)
{
    char hex[33];
    struct stat st;
    io_hash_hex (datum, hex);
    *out = jobs_sd_datum_log (state_dir, job_id, hex, "out");
    *err = jobs_sd_datum_log (state_dir, job_id, hex, "err");
    if (*out && stat (*out, &st) < 0) {
        free (*out);
        *out = NULL;
    }
    if (*err && stat (*err, &st) < 0) {
        free (*err);
        *err = NULL;
    }
}

void runner_log_hint (const char *out, const char *err, char *buf,
                      size_t len)
{
    if (out && err)
        snprintf (buf, len, "log %s and %s", err, out);
    else if (out || err)
        snprintf (buf, len, "log %s", out ? out : err);
    else
        snprintf (buf, len, "the command wrote no output");
}

void progress_log_hint (const progress_t *pg, uint32_t didx, char *buf,
                        size_t len)
{
    char *out, *err;
    if (!pg) {
        snprintf (buf, len, "no log");
        return;
    }
    runner_log_files (pg->cfg.spec->state_dir, pg->cfg.job->id,
                      &pg->cfg.p->datums[didx].id, &out, &err);
    runner_log_hint (out, err, buf, len);
    free (out);
    free (err);
}
