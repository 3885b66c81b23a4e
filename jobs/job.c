/* job.c: job records as people and programs read them: state names, the
 * Pachyderm-style one-line summary that ends a run, the one JSON object of
 * `run --json`, and the human units (bytes, durations) both use.  Nothing
 * here allocates except jobs_record_json(), so the summary can be printed
 * from a path that must not fail.
 */
#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <string.h>

#include <jansson.h>

#include "jobs/jobs.h"

const char *jobs_state_name (jobs_state_t s)
{
    switch (s) {
        case JOBS_STATE_RUNNING: return "running";
        case JOBS_STATE_SUCCESS: return "success";
        case JOBS_STATE_FAILURE: return "failure";
        case JOBS_STATE_KILLED: return "killed";
    }
    return "unknown";
}

const char *jobs_datum_state_name (jobs_datum_state_t s)
{
    switch (s) {
        case JOBS_DATUM_PENDING: return "pending";
        case JOBS_DATUM_SUCCESS: return "success";
        case JOBS_DATUM_FAILED: return "failed";
        case JOBS_DATUM_RECOVERED: return "recovered";
        case JOBS_DATUM_SKIPPED: return "skipped";
        case JOBS_DATUM_INTERRUPTED: return "interrupted";
    }
    return "unknown";
}

int jobs_datum_state_parse (const char *s)
{
    for (int i = JOBS_DATUM_PENDING; i <= JOBS_DATUM_SKIPPED; i++)
        if (!strcmp (s, jobs_datum_state_name ((jobs_datum_state_t)i)))
            return i;
    return -1;
}

const char *jobs_attempt_outcome_name (jobs_attempt_outcome_t o)
{
    switch (o) {
        case JOBS_ATTEMPT_SUCCESS: return "success";
        case JOBS_ATTEMPT_FAILED: return "failed";
        case JOBS_ATTEMPT_INTERRUPTED: return "interrupted";
        case JOBS_ATTEMPT_LOST: return "lost";
        case JOBS_ATTEMPT_RECOVERED: return "recovered";
    }
    return "unknown";
}

void jobs_fmt_bytes (uint64_t bytes, char *buf, size_t len)
{
    static const char *const units[] = { "KiB", "MiB", "GiB", "TiB" };
    const size_t nunits = sizeof (units) / sizeof (units[0]);
    double v = (double)bytes;
    size_t i = 0;

    if (!buf || len == 0)
        return;
    if (bytes < 1024) {
        snprintf (buf, len, "%" PRIu64 "B", bytes);
        return;
    }
    v /= 1024.0;
    /* Move up while the value would print as 1024.0 or more, so that
     * 1048575 bytes reads "1.0MiB", not "1024.0KiB".
     */
    while (i + 1 < nunits && round (v * 10.0) >= 1024.0 * 10.0) {
        v /= 1024.0;
        i++;
    }
    snprintf (buf, len, "%.1f%s", v, units[i]);
}

void jobs_fmt_duration (double seconds, char *buf, size_t len)
{
    long long ms, tenths, secs, mins;

    if (!buf || len == 0)
        return;
    if (!isfinite (seconds) || seconds < 0)
        seconds = 0;
    /* Each branch rounds first and compares the rounded value, so that
     * 59.97s prints "1m0s" rather than "60.0s".
     */
    ms = llround (seconds * 1000.0);
    if (ms < 1000) {
        snprintf (buf, len, "%lldms", ms);
        return;
    }
    tenths = llround (seconds * 10.0);
    if (tenths < 600) {
        snprintf (buf, len, "%lld.%llds", tenths / 10, tenths % 10);
        return;
    }
    secs = llround (seconds);
    if (secs < 3600) {
        snprintf (buf, len, "%lldm%llds", secs / 60, secs % 60);
        return;
    }
    mins = llround (seconds / 60.0);
    snprintf (buf, len, "%lldh%lldm", mins / 60, mins % 60);
}

void jobs_summary_line (const jobs_record_t *job, char *buf, size_t len)
{
    char dl[32], ul[32], dur[32], rec[48] = "";

    if (!buf || len == 0)
        return;
    if (!job) {
        buf[0] = '\0';
        return;
    }
    jobs_fmt_bytes (job->bytes_downloaded, dl, sizeof (dl));
    jobs_fmt_bytes (job->bytes_uploaded, ul, sizeof (ul));
    jobs_fmt_duration (job->duration_s, dur, sizeof (dur));
    if (job->recovered > 0)
        snprintf (rec, sizeof (rec), ", %" PRIu64 " recovered",
                  job->recovered);
    snprintf (buf, len,
              "job %.8s %s: %" PRIu64 " processed + %" PRIu64 " skipped / %"
              PRIu64 " total, %" PRIu64 " failed%s, DL %s, UL %s, %s",
              job->id, jobs_state_name (job->state), job->processed,
              job->skipped, job->total, job->failed, rec, dl, ul, dur);
}

char *jobs_record_json (const jobs_record_t *job)
{
    json_t *o = NULL;
    json_error_t jerr;
    char *s;
    double d;

    if (!job) {
        errno = EINVAL;
        return NULL;
    }
    d = job->duration_s;
    if (!isfinite (d) || d < 0)
        d = 0;              /* jansson refuses NaN and infinities */
    d = round (d * 1000.0) / 1000.0;
    /* "s%" with a bound: the fixed arrays need not be NUL-terminated. */
    o = json_pack_ex (&jerr, 0,
                      "{s:s%, s:s%, s:s, s:i, s:i, s:I, s:I, s:I, s:I, s:I,"
                      " s:I, s:I, s:f}",
                      "job_id", job->id, strnlen (job->id, sizeof (job->id)),
                      "pipeline", job->pipeline,
                      strnlen (job->pipeline, sizeof (job->pipeline)),
                      "state", jobs_state_name (job->state),
                      "workers", job->workers,
                      "nodes", job->nodes,
                      "processed", (json_int_t)job->processed,
                      "skipped", (json_int_t)job->skipped,
                      "failed", (json_int_t)job->failed,
                      "recovered", (json_int_t)job->recovered,
                      "total", (json_int_t)job->total,
                      "bytes_downloaded", (json_int_t)job->bytes_downloaded,
                      "bytes_uploaded", (json_int_t)job->bytes_uploaded,
                      "duration_s", d);
    if (!o) {
        errno = EINVAL;     /* e.g. an id that is not UTF-8 */
        return NULL;
    }
    s = json_dumps (o, JSON_COMPACT | JSON_PRESERVE_ORDER
                           | JSON_REAL_PRECISION (6));
    json_decref (o);
    if (!s)
        errno = ENOMEM;
    return s;
}
