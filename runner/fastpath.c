/* fastpath.c: a rerun with nothing to do, finished by the launcher without
 * starting mpirun.  The launcher plans against the manifest first; when
 * every datum is skipped and the output needs no cleaning (no datum left
 * the input, no crashed run's inflight outputs, no job left "running"),
 * it records the job in the manifest as rank 0 records a skip-all job
 * (in the journal alone when nothing else changed), prints the same
 * summary or JSON and exits.  Otherwise it lets go of
 * the manifest and the MPI job does everything as before (planning again:
 * the price of the check on a run that has work, a stat per input file).
 */
#define _GNU_SOURCE
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

#include "runner/runner.h"

/* A skip-all rerun folds the journal into the HDF5 file once it holds
 * more than this (some hundred such reruns' job records). */
#define FOLD_BYTES (256 * 1024)

static double cpu_seconds (void)
{
    struct rusage ru;
    getrusage (RUSAGE_SELF, &ru);
    return (double)ru.ru_utime.tv_sec + (double)ru.ru_utime.tv_usec * 1e-6
           + (double)ru.ru_stime.tv_sec + (double)ru.ru_stime.tv_usec * 1e-6;
}

static void new_job_id (char out[33])
{
    io_hash_t h;
    if (getrandom (h.b, sizeof (h.b), 0) != (ssize_t)sizeof (h.b)) {
        int64_t t = dr_realtime_ns ();
        pid_t pid = getpid ();
        memcpy (h.b, &t, 8);
        memcpy (h.b + 8, &pid, sizeof (pid));
    }
    io_hash_hex (&h, out);
}

static bool path_exists (const char *path)
{
    struct stat st;
    return path && lstat (path, &st) == 0;
}

/* Whether the MPI job has something to do besides skipping. */
static bool needs_mpi (const io_manifest_t *m, sched_plan_t *p,
                       const jobs_spec_t *spec)
{
    /* A skip needs its outputs as they were made (own.c); the owner
     * marker and a changed output folder are rank 0's to settle. */
    size_t nmissing, nchanged;
    runner_verify_skips (p, m, spec->output, &nmissing, &nchanged);
    if (p->nprocess > 0)
        return true;
    char *marker = jobs_pathf ("%s/%s", spec->output, IO_OWNER_FILE);
    bool marked = marker && path_exists (marker);
    free (marker);
    const char *recorded = io_manifest_output (m);
    if (!marked || (recorded && strcmp (recorded, spec->output)))
        return true;
    /* A first run (the output folder may need moving aside) or a job a
     * crash left running (rank 0 closes it with its counts). */
    if (io_manifest_njobs (m) == 0 && io_manifest_ndatums (m) == 0)
        return true;
    for (size_t i = 0; i < io_manifest_njobs (m); i++)
        if (io_manifest_job (m, i)->state == JOBS_STATE_RUNNING)
            return true;
    /* Datums that left the input lose their outputs and records: each
     * plan datum found one record of its own, so none left if they found
     * them all. */
    if (p->nrecorded != io_manifest_ndatums (m))
        return true;
    /* Outputs a crashed run moved but never recorded. */
    char *inflight = jobs_sd_path (spec->state_dir, JOBS_SD_INFLIGHT);
    bool crashed = !inflight || path_exists (inflight);
    free (inflight);
    return crashed;
}

static void write_job_log (const jobs_spec_t *spec, const jobs_record_t *job,
                           double wall, double cpu)
{
    char *dir = jobs_sd_job_logdir (spec->state_dir, job->id);
    char *path = jobs_sd_job_log (spec->state_dir, job->id);
    FILE *f = dir && path && io_mkdirs (dir, 0755) == 0 ? fopen (path, "a")
                                                         : NULL;
    free (dir);
    free (path);
    if (!f)
        return;
    char line[512];
    struct rusage ru;
    getrusage (RUSAGE_SELF, &ru);
    jobs_summary_line (job, line, sizeof (line));
    fprintf (f, "%s\nworkers=%d nodes=%d wall_s=%.3f rank0_cpu_s=%.3f "
             "rank0_cpu_pct=%.2f rank0_maxrss_kib=%ld launcher_only=1\n",
             line, job->workers, job->nodes, wall, cpu,
             wall > 0 ? 100.0 * cpu / wall : 0.0, ru.ru_maxrss);
    fclose (f);
}

int runner_fast_path (run_opts_t *o, const jobs_spec_t *spec, int workers,
                      int nodes, int *rc)
{
    double t0 = dr_now (), cpu0 = cpu_seconds ();
    dr_error_t err = { { 0 } };
    io_manifest_t *m = NULL;
    sched_plan_t *p = NULL;
    int handled = 0;

    if (o->reprocess || spec->reprocess_every_job
        || getenv ("DATUMRUN_NO_FAST_PATH"))
        return 0;
    /* No manifest yet: a first run, there is work (or a folder to check). */
    char *mpath = jobs_sd_path (spec->state_dir, JOBS_SD_MANIFEST);
    bool have = path_exists (mpath);
    free (mpath);
    if (!have)
        return 0;
    /* Any trouble here is rank 0's to report, with its usual messages. */
    if (!(m = io_manifest_open (spec->state_dir, &err)))
        return 0;
    sched_plan_opts_t popts = { .rehash = o->rehash };
    if (!(p = sched_plan_build (spec, io_manifest_statcache (m), m, &popts,
                                &err))
        || needs_mpi (m, p, spec))
        goto done;
    if (io_mkdirs (spec->output, 0755) < 0)
        goto done;
    runner_warn_empty_inputs (spec, p);
    runner_warn_earlier (p);
    uint64_t journal0 = io_manifest_journal_bytes (m);

    jobs_record_t job = { 0 };
    new_job_id (job.id);
    snprintf (job.pipeline, sizeof (job.pipeline), "%s", spec->name);
    job.state = JOBS_STATE_RUNNING;
    job.workers = workers;
    job.nodes = nodes;
    job.total = p->ndatums;
    job.skipped = p->nskip;
    job.start_ns = dr_realtime_ns ();
    memcpy (job.pipeline_hash, p->pipeline_hash.b, 16);
    if (spec->image_id)
        snprintf (job.image_id, sizeof (job.image_id), "%s", spec->image_id);
    if (io_manifest_job_begin (m, &job, &err) < 0)
        goto failed;
    job.state = JOBS_STATE_SUCCESS;
    job.duration_s = dr_now () - t0;
    if (io_manifest_job_end (m, &job, &err) < 0)
        goto failed;
    /* Nothing but the job's two records changed: they stay in the journal
     * (fsync'ed), which the next open replays, rather than rewriting the
     * whole HDF5 file for them.  The file is rewritten when something it
     * stores did change (a rehashed file's new stat, a new pipeline hash)
     * or the journal has grown past FOLD_BYTES (many such reruns). */
    io_hash_t stored = io_manifest_pipeline_hash (m);
    bool fold = io_statcache_nput (io_manifest_statcache (m)) > 0
                || !io_hash_eq (&stored, &p->pipeline_hash)
                || journal0 > FOLD_BYTES;
    if (!fold) {
        if (io_manifest_sync (m, &err) < 0)
            goto failed;
    }
    else if (io_manifest_checkpoint (m, &p->pipeline_hash, &err) < 0)
        dr_log (LOG_WARN, "%s (the journal keeps the job; the next run "
                "replays it)", err.text);
    write_job_log (spec, &job, job.duration_s, cpu_seconds () - cpu0);
    if (o->json) {
        char *j = jobs_record_json (&job);
        printf ("%s\n", j);
        free (j);
    }
    else {
        /* -q hides progress and information, never the summary. */
        char line[512];
        jobs_summary_line (&job, line, sizeof (line));
        printf ("%s\noutputs: %s\n", line, spec->output);
    }
    fflush (stdout);
    *rc = EXIT_OK;
    handled = 1;
    goto done;
failed:
    dr_log (LOG_ERR, "%s", err.text);
    *rc = EXIT_FAILED;
    handled = 1;
done:
    sched_plan_destroy (p);
    io_manifest_close (m);
    return handled;
}
