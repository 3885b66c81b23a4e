/* statedir.h: the one place that knows the state folder's layout.
 *
 *   <spec folder>/.datumrun/<pipeline>/      the default state folder
 *     manifest.h5, manifest.h5.tmp           the manifest and its rewrite
 *     journal, lock                          appended records, the run lock
 *     logs/<job>/job.log                     the job's summary
 *     logs/<job>/<datum>.out, <datum>.err    each datum's command output
 *     sandbox/<rank>/sb                      a worker's reused sandbox
 *     sandbox/<rank>.stdin, .err_stdin       transform.stdin, err_stdin
 *     inflight/<rank>/<datum>                outputs being moved (crash log)
 *     slurm/                                 sbatch output files
 *
 * Every function returns a malloc'd path that the caller frees with free(),
 * or NULL with errno set (ENOMEM).  Paths are never cut to a fixed length:
 * whether the kernel accepts one is for the caller to learn from it.
 * Included by jobs/jobs.h.
 */
#ifndef DATUMRUN_JOBS_STATEDIR_H
#define DATUMRUN_JOBS_STATEDIR_H

/* Named files and folders directly under the state folder. */
typedef enum jobs_sd_entry {
    JOBS_SD_MANIFEST = 0,   /* manifest.h5 */
    JOBS_SD_MANIFEST_TMP,   /* manifest.h5.tmp */
    JOBS_SD_JOURNAL,        /* journal */
    JOBS_SD_LOCK,           /* lock */
    JOBS_SD_LOGS,           /* logs/ */
    JOBS_SD_SANDBOX,        /* sandbox/ */
    JOBS_SD_INFLIGHT,       /* inflight/ */
    JOBS_SD_SLURM,          /* slurm/ */
    JOBS_SD_STATUS,         /* status.json: a running job's live view */
    JOBS_SD_STATUS_TMP,     /* status.json.tmp: the next one, renamed over */
} jobs_sd_entry_t;

/* printf into a new string: the building block of the functions below. */
char *jobs_pathf (const char *fmt, ...) __attribute__ ((format (printf, 1, 2)));

/* "<spec_dir>/.datumrun/<pipeline>" */
char *jobs_sd_default (const char *spec_dir, const char *pipeline);

/* "<sd>/<entry>" */
char *jobs_sd_path (const char *sd, jobs_sd_entry_t entry);

/* "<sd>/logs/<job>" and "<sd>/logs/<job>/job.log" */
char *jobs_sd_job_logdir (const char *sd, const char *job_id);
char *jobs_sd_job_log (const char *sd, const char *job_id);

/* "<sd>/logs/<job>/<datum>.<stream>", stream "out" or "err". */
char *jobs_sd_datum_log (const char *sd, const char *job_id,
                         const char *datum_hex, const char *stream);

/* A worker rank's folders: "<sd>/sandbox/<rank>", "<sd>/inflight/<rank>". */
char *jobs_sd_rank_dir (const char *sd, jobs_sd_entry_t entry, int rank);

/* The sandbox a rank's datums run in: "<sd>/sandbox/<rank>/sb". */
char *jobs_sd_sandbox (const char *sd, int rank);

/* A rank's copy of transform.stdin (what "stdin") or err_stdin
 * ("err_stdin"): "<sd>/sandbox/<rank>.<what>". */
char *jobs_sd_stdin_file (const char *sd, int rank, const char *what);

/* "<sd>/inflight/<rank>/<datum>" */
char *jobs_sd_inflight_file (const char *sd, int rank, const char *datum_hex);

#endif /* DATUMRUN_JOBS_STATEDIR_H */
