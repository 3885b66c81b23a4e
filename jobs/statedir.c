/* statedir.c: the state folder's layout (statedir.h has the map).  Every
 * other file asks here for a path instead of building one, so that the
 * layout can change in one place and no path is cut to a fixed buffer.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>

#include "jobs/jobs.h"

static const char *const entry_names[] = {
    [JOBS_SD_MANIFEST] = "manifest.h5",
    [JOBS_SD_MANIFEST_TMP] = "manifest.h5.tmp",
    [JOBS_SD_JOURNAL] = "journal",
    [JOBS_SD_LOCK] = "lock",
    [JOBS_SD_LOGS] = "logs",
    [JOBS_SD_SANDBOX] = "sandbox",
    [JOBS_SD_INFLIGHT] = "inflight",
    [JOBS_SD_SLURM] = "slurm",
    [JOBS_SD_STATUS] = "status.json",
    [JOBS_SD_STATUS_TMP] = "status.json.tmp",
};

char *jobs_pathf (const char *fmt, ...)
{
    char *s = NULL;
    va_list ap;
    va_start (ap, fmt);
    int n = vasprintf (&s, fmt, ap);
    va_end (ap);
    if (n < 0) {
        errno = ENOMEM;
        return NULL;
    }
    return s;
}

char *jobs_sd_default (const char *spec_dir, const char *pipeline)
{
    return jobs_pathf ("%s/.datumrun/%s", spec_dir, pipeline);
}

char *jobs_sd_path (const char *sd, jobs_sd_entry_t entry)
{
    if ((unsigned)entry >= sizeof (entry_names) / sizeof (entry_names[0])) {
        errno = EINVAL;
        return NULL;
    }
    return jobs_pathf ("%s/%s", sd, entry_names[entry]);
}

char *jobs_sd_job_logdir (const char *sd, const char *job_id)
{
    return jobs_pathf ("%s/logs/%s", sd, job_id);
}

char *jobs_sd_job_log (const char *sd, const char *job_id)
{
    return jobs_pathf ("%s/logs/%s/job.log", sd, job_id);
}

char *jobs_sd_datum_log (const char *sd, const char *job_id,
                         const char *datum_hex, const char *stream)
{
    return jobs_pathf ("%s/logs/%s/%s.%s", sd, job_id, datum_hex, stream);
}

char *jobs_sd_rank_dir (const char *sd, jobs_sd_entry_t entry, int rank)
{
    if (entry != JOBS_SD_SANDBOX && entry != JOBS_SD_INFLIGHT) {
        errno = EINVAL;
        return NULL;
    }
    return jobs_pathf ("%s/%s/%d", sd, entry_names[entry], rank);
}

char *jobs_sd_sandbox (const char *sd, int rank)
{
    return jobs_pathf ("%s/sandbox/%d/sb", sd, rank);
}

char *jobs_sd_stdin_file (const char *sd, int rank, const char *what)
{
    return jobs_pathf ("%s/sandbox/%d.%s", sd, rank, what);
}

char *jobs_sd_inflight_file (const char *sd, int rank, const char *datum_hex)
{
    return jobs_pathf ("%s/inflight/%d/%s", sd, rank, datum_hex);
}
