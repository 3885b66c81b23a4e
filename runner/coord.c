/* coord.c: rank 0.  Plans the job against the manifest, cleans up after
 * earlier runs (outputs of changed or vanished datums, half-moved outputs
 * of a crash), then hands datums out dynamically: each worker holds the
 * datum it runs and one in reserve, and gets the next one as soon as it
 * reports.  Every result goes to the manifest's journal at once, so a
 * kill -9 loses at most the datums in flight.  Rank 0 never blocks in MPI:
 * it polls with MPI_Improbe and sleeps with a growing timeout when idle.
 */
#define _GNU_SOURCE
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <mpi.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

#include "runner/coord.h"
#include "runner/runner.h"

typedef struct wslot {
    int rank;
    char host[64];
    bool active;            /* takes part in this job */
    bool stop_sent;
    uint32_t *held;         /* datums assigned and not yet reported */
    size_t nheld, cap;
} wslot_t;

typedef struct collision {
    char *path;
    uint32_t didx;
} collision_t;

typedef struct coord {
    run_opts_t *o;
    jobs_spec_t *spec;
    int size;
    io_manifest_t *m;
    sched_plan_t *p;
    sched_queue_t *q;
    uint8_t *attempts;      /* per datum: attempts made */
    wslot_t *ws;            /* index = rank */
    int nworkers;
    size_t chunk;
    double avg_duration;    /* moving average of attempts' durations */
    jobs_record_t job;
    size_t remaining;       /* datums to process not yet finished */
    bool stopping;
    const char *stop_reason;
    collision_t *coll;
    size_t ncoll;
    char **hosts;           /* per rank, from the gather */
    int exit_code;
} coord_t;

static void send_stop (coord_t *c, int r);

/* ------------------------------------------------------------ dispatch */

static void pack_datum (coord_t *c, buf_t *b, uint32_t didx)
{
    const sched_plan_t *p = c->p;
    const sched_datum_t *d = &p->datums[didx];
    buf_put_u32 (b, didx);
    buf_put_u32 (b, (uint32_t)c->attempts[didx] + 1);
    buf_put (b, d->id.b, 16);
    buf_put_u32 (b, d->nentries);
    for (uint32_t j = 0; j < d->nentries; j++) {
        const sched_entry_t *e = &p->entries[p->ents[d->first + j]];
        buf_put_u32 (b, e->input);
        buf_put_str (b, sched_str (p, e->path));
    }
    buf_put_str (b, d->join_key != UINT64_MAX ? sched_str (p, d->join_key)
                                              : "");
    buf_put_str (b, d->group_key != UINT64_MAX ? sched_str (p, d->group_key)
                                               : "");
}

/* How many datums a worker holds: the one it runs and one in reserve; for
 * datums so short that rank 0's reply could arrive after the reserve is
 * done, two in reserve.  Long datums keep one, so that a worker stuck on a
 * slow datum holds back as little as possible. */
static size_t per_worker (const coord_t *c)
{
    bool short_datums = c->avg_duration > 0 && c->avg_duration < 0.05;
    return (short_datums ? 3 : 2) * c->chunk;
}

/* Top the worker up to per_worker datums, `chunk` at a time. */
static void fill (coord_t *c, wslot_t *w)
{
    while (!c->stopping && w->active && w->nheld + c->chunk <= per_worker (c)
           && sched_queue_len (c->q) > 0) {
        buf_t b = { 0 };
        uint32_t n = 0, didx;
        buf_put_str (&b, c->job.id);
        size_t countpos = b.len;
        buf_put_u32 (&b, 0);
        while (n < c->chunk && sched_queue_pop (c->q, &didx) == 0) {
            pack_datum (c, &b, didx);
            if (w->nheld == w->cap) {
                w->cap = w->cap ? 2 * w->cap : 8;
                w->held = realloc (w->held, w->cap * sizeof (*w->held));
                if (!w->held)
                    abort ();
            }
            w->held[w->nheld++] = didx;
            n++;
        }
        memcpy (b.data + countpos, &n, sizeof (n));
        /* Small and eager: a blocking send returns at once. */
        MPI_Send (b.data, (int)b.len, MPI_BYTE, w->rank, TAG_ASSIGN,
                  MPI_COMM_WORLD);
        buf_free (&b);
    }
}

static void unhold (wslot_t *w, uint32_t didx)
{
    for (size_t i = 0; i < w->nheld; i++) {
        if (w->held[i] == didx) {
            w->held[i] = w->held[--w->nheld];
            return;
        }
    }
}

static void datum_label (coord_t *c, uint32_t didx, char *buf, size_t len)
{
    char hex[33];
    char *in = sched_datum_inputs (c->p, &c->p->datums[didx]);
    io_hash_hex (&c->p->datums[didx].id, hex);
    for (char *s = in; s && *s; s++)
        if (*s == '\n')
            *s = ' ';
    snprintf (buf, len, "%.12s (%s)", hex, in ? in : "?");
    free (in);
}

static int record (coord_t *c, uint32_t didx, const wresult_t *r,
                   jobs_datum_state_t state, int rank)
{
    const sched_datum_t *d = &c->p->datums[didx];
    io_datum_rec_t rec = { 0 };
    dr_error_t err = { { 0 } };
    rec.id = d->id;
    rec.hash = state == JOBS_DATUM_SUCCESS ? d->hash : (io_hash_t){ { 0 } };
    io_hash_from_hex (c->job.id, &rec.proc_job);
    rec.seen_job = rec.proc_job;
    rec.pipeline = c->p->pipeline_hash;
    rec.state = (uint8_t)state;
    rec.attempts = (uint8_t)(r->attempt > 255 ? 255 : r->attempt);
    rec.rank = rank;
    snprintf (rec.host, sizeof (rec.host), "%s",
              c->hosts[rank] ? c->hosts[rank] : "");
    rec.start_ns = r->start_ns;
    rec.duration_s = r->duration_s;
    rec.bytes_in = d->bytes;
    rec.bytes_out = r->bytes_out;
    rec.exit_status = r->exit_status;
    rec.term_signal = r->term_signal;
    rec.inputs = sched_datum_inputs (c->p, d);
    rec.outputs = r->outs.paths;
    rec.noutputs = r->outs.n;
    int rc = io_manifest_put (c->m, &rec, &err);
    free (rec.inputs);
    if (rc < 0 && !c->stopping) {
        /* Results that cannot be recorded would be redone anyway: stop
         * handing out work (a full disk, say) and say why. */
        dr_log (LOG_ERR, "%s; stopping the job: datums finished from here "
                "on could not be recorded", err.text);
        c->stop_reason = "the manifest journal cannot be written";
        runner_stop_requested = 1;
    }
    return rc;
}

static void handle_result (coord_t *c, int rank, buf_t *b)
{
    wresult_t r;
    wslot_t *w = &c->ws[rank];
    char label[512];
    if (wresult_unpack (b, &r) < 0 || r.didx >= c->p->ndatums) {
        dr_log (LOG_ERR, "malformed result from rank %d", rank);
        wresult_free (&r);
        return;
    }
    unhold (w, r.didx);
    c->attempts[r.didx] = (uint8_t)(r.attempt > 255 ? 255 : r.attempt);
    if (r.outcome != OUT_RETURNED)
        c->avg_duration = c->avg_duration > 0
                              ? 0.9 * c->avg_duration + 0.1 * r.duration_s
                              : r.duration_s;
    switch (r.outcome) {
    case OUT_SUCCESS:
        /* Counted only once recorded: what the summary calls processed, a
         * rerun skips. */
        if (record (c, r.didx, &r, JOBS_DATUM_SUCCESS, rank) == 0) {
            c->job.processed++;
            c->job.bytes_downloaded += c->p->datums[r.didx].bytes;
            c->job.bytes_uploaded += r.bytes_out;
        }
        c->remaining--;
        break;
    case OUT_RECOVERED:
        record (c, r.didx, &r, JOBS_DATUM_RECOVERED, rank);
        c->job.recovered++;
        c->remaining--;
        datum_label (c, r.didx, label, sizeof (label));
        dr_log (LOG_WARN, "datum %s failed and was recovered by err_cmd",
                label);
        break;
    case OUT_RETURNED:
        c->attempts[r.didx] = (uint8_t)(r.attempt - 1);
        if (!c->stopping)
            sched_queue_push (c->q, r.didx);
        break;
    case OUT_COLLISION:
        record (c, r.didx, &r, JOBS_DATUM_FAILED, rank);
        c->job.failed++;
        c->remaining--;
        c->coll = realloc (c->coll, (c->ncoll + 1) * sizeof (*c->coll));
        if (!c->coll)
            abort ();
        c->coll[c->ncoll].path = r.message;
        c->coll[c->ncoll++].didx = r.didx;
        r.message = NULL;
        break;
    case OUT_FAILED:
    case OUT_ERROR:
        datum_label (c, r.didx, label, sizeof (label));
        if (r.attempt < (uint32_t)c->spec->datum_tries && !c->stopping) {
            dr_log (LOG_WARN, "datum %s attempt %u/%d failed (%s); retrying",
                    label, r.attempt, c->spec->datum_tries,
                    r.message ? r.message
                    : r.term_signal ? strsignal (r.term_signal)
                                    : "non-zero exit");
            sched_queue_push (c->q, r.didx);
            break;
        }
        record (c, r.didx, &r, JOBS_DATUM_FAILED, rank);
        c->job.failed++;
        c->remaining--;
        char idhex[33];
        io_hash_hex (&c->p->datums[r.didx].id, idhex);
        char *log = jobs_sd_datum_log (c->spec->state_dir, c->job.id, idhex,
                                       "err");
        if (r.term_signal)
            dr_log (LOG_ERR, "datum %s failed after %u attempts: killed "
                    "by signal %d (%s); log %s", label,
                    r.attempt, r.term_signal, strsignal (r.term_signal),
                    log ? log : idhex);
        else
            dr_log (LOG_ERR, "datum %s failed after %u attempts: %s%s%d; "
                    "log %s", label, r.attempt,
                    r.message ? r.message : "", r.message ? ", exit " : "exit ",
                    r.exit_status, log ? log : idhex);
        free (log);
        break;
    }
    wresult_free (&r);
    fill (c, w);
}

static void progress (coord_t *c, bool *got)
{
    *got = false;
    for (;;) {
        int flag = 0;
        MPI_Message msg;
        MPI_Status st;
        MPI_Improbe (MPI_ANY_SOURCE, TAG_RESULT, MPI_COMM_WORLD, &flag, &msg,
                     &st);
        if (!flag)
            return;
        *got = true;
        int count = 0;
        MPI_Get_count (&st, MPI_BYTE, &count);
        buf_t b = { 0 };
        b.len = b.cap = (size_t)count;
        if (!(b.data = malloc (count ? (size_t)count : 1)))
            abort ();
        MPI_Mrecv (b.data, count, MPI_BYTE, &msg, &st);
        if (st.MPI_SOURCE > 0 && st.MPI_SOURCE < c->size)
            handle_result (c, st.MPI_SOURCE, &b);
        buf_free (&b);
    }
}

static size_t held_total (const coord_t *c)
{
    size_t n = 0;
    for (int r = 1; r < c->size; r++)
        n += c->ws[r].nheld;
    return n;
}

/* Fold the journal into the HDF5 file now and then, so that a long job's
 * journal (and a crash's replay) stays bounded. */
static void maybe_checkpoint (coord_t *c, double *last)
{
    static double interval = -1;
    if (interval < 0) {
        const char *e = getenv ("DATUMRUN_CHECKPOINT_INTERVAL");
        interval = e ? atof (e) : 600.0;
    }
    if (interval <= 0 || dr_now () - *last < interval)
        return;
    dr_error_t err = { { 0 } };
    if (io_manifest_checkpoint (c->m, &c->p->pipeline_hash, &err) < 0)
        dr_log (LOG_WARN, "periodic checkpoint failed (the journal keeps "
                "every result): %s", err.text);
    *last = dr_now ();
}

static void dispatch (coord_t *c)
{
    double start = dr_now (), stop_deadline = 0, backoff = 50e-6;
    double last_ckpt = start;
    for (int r = 1; r < c->size; r++)
        fill (c, &c->ws[r]);
    while (c->remaining > 0) {
        bool got;
        progress (c, &got);
        if (!c->stopping) {
            if (runner_stop_requested && !c->stop_reason)
                c->stop_reason = "stop requested (signal)";
            else if (c->spec->job_timeout > 0
                     && dr_now () - start > c->spec->job_timeout)
                c->stop_reason = "job_timeout reached";
            if (c->stop_reason) {
                c->stopping = true;
                stop_deadline = dr_now () + c->o->grace + 15.0;
                dr_log (LOG_WARN, "%s: no new datums; running ones get "
                        "%.0fs to finish (%zu held by workers)",
                        c->stop_reason, c->o->grace, held_total (c));
                /* Workers learn it from the same signal under mpirun and
                 * srun; a job timeout is ours alone, so tell them. */
                for (int r = 1; r < c->size; r++)
                    send_stop (c, r);
            }
        }
        if (c->stopping && held_total (c) == 0)
            break;
        if (c->stopping && dr_now () > stop_deadline) {
            dr_log (LOG_WARN, "workers did not report within the grace "
                    "period; their datums will run again next time");
            break;
        }
        maybe_checkpoint (c, &last_ckpt);
        if (got) {
            backoff = 50e-6;
            continue;
        }
        /* Workers hold a datum in reserve, so a reply may wait a little:
         * sleeping longer costs no throughput and saves rank 0's CPU. */
        runner_idle_wait (-1, backoff);
        if (backoff < 2e-3)
            backoff *= 2;
    }
}

/* --------------------------------------------------------- preparation */

/* Outputs that a crashed run moved into place but never recorded: remove
 * them unless a recorded datum owns them. */
static int clean_inflight (coord_t *c)
{
    char *dir = jobs_sd_path (c->spec->state_dir, JOBS_SD_INFLIGHT);
    DIR *top = dir ? opendir (dir) : NULL;
    if (!top) {
        free (dir);
        return 0;
    }
    coord_owners_t *own = NULL;
    struct dirent *de;
    size_t removed = 0;
    while ((de = readdir (top))) {
        if (de->d_name[0] == '.')
            continue;
        char *sub = jobs_pathf ("%s/%s", dir, de->d_name);
        DIR *d = sub ? opendir (sub) : NULL;
        if (!d) {
            free (sub);
            continue;
        }
        struct dirent *fe;
        while ((fe = readdir (d))) {
            io_hash_t id;
            if (io_hash_from_hex (fe->d_name, &id) < 0)
                continue;
            const io_datum_rec_t *rec = io_manifest_find (c->m, &id);
            if (rec && rec->state == JOBS_DATUM_SUCCESS)
                continue;   /* it was recorded: its outputs are owned */
            char *file = jobs_pathf ("%s/%s", sub, fe->d_name);
            FILE *f = file ? fopen (file, "r") : NULL;
            free (file);
            if (!f)
                continue;
            if (!own && !(own = coord_owners_build (c->m)))
                abort ();
            char *line = NULL;
            size_t cap = 0;
            ssize_t n;
            while ((n = getdelim (&line, &cap, '\0', f)) > 0) {
                if (!coord_owners_get (own, line)) {
                    io_remove_output (c->spec->output, line);
                    removed++;
                }
            }
            free (line);
            fclose (f);
        }
        closedir (d);
        free (sub);
    }
    closedir (top);
    coord_owners_destroy (own);
    if (removed)
        dr_log (LOG_INFO, "removed %zu unrecorded outputs of datums "
                "interrupted in an earlier run", removed);
    int rc = io_remove_tree (dir);
    free (dir);
    return rc;
}

static void remove_outputs (coord_t *c, const io_datum_rec_t *rec)
{
    for (size_t i = 0; i < rec->noutputs; i++)
        if (io_remove_output (c->spec->output, rec->outputs[i]) < 0)
            dr_log (LOG_WARN, "cannot remove %s/%s: %s", c->spec->output,
                    rec->outputs[i], strerror (errno));
}

/* Changed datums lose their old outputs; datums that left the input lose
 * theirs and their record.  Both are invalidated in the journal (and
 * synced) before any file goes, so that a crash in between cannot leave a
 * "success" whose files are gone; a vanished datum is forgotten only after
 * its files are, so that none is left that no record names. */
static int prepare_outputs (coord_t *c, dr_error_t *err)
{
    size_t nchanged = 0, ngone = 0;
    /* Collect the vanished first: forgetting changes the manifest. */
    size_t n = io_manifest_ndatums (c->m);
    io_hash_t *gone = malloc ((n ? n : 1) * sizeof (*gone));
    if (!gone)
        return dr_errprintf (err, "out of memory");
    for (size_t i = 0; i < n; i++) {
        const io_datum_rec_t *rec = io_manifest_datum (c->m, i);
        if (sched_plan_find (c->p, &rec->id) < 0)
            gone[ngone++] = rec->id;
    }
    for (size_t i = 0; i < c->p->ndatums; i++) {
        sched_datum_t *d = &c->p->datums[i];
        if (d->action == SCHED_PROCESS && d->changed) {
            if (io_manifest_invalidate (c->m, &d->id, err) < 0)
                goto error;
            nchanged++;
        }
    }
    for (size_t i = 0; i < ngone; i++) {
        const io_datum_rec_t *rec = io_manifest_find (c->m, &gone[i]);
        if (rec && rec->state == JOBS_DATUM_SUCCESS && rec->noutputs
            && io_manifest_invalidate (c->m, &gone[i], err) < 0)
            goto error;
    }
    if ((nchanged || ngone) && io_manifest_sync (c->m, err) < 0)
        goto error;
    for (size_t i = 0; i < c->p->ndatums; i++) {
        sched_datum_t *d = &c->p->datums[i];
        if (d->action == SCHED_PROCESS && d->changed) {
            const io_datum_rec_t *rec = io_manifest_find (c->m, &d->id);
            if (rec)
                remove_outputs (c, rec);
        }
    }
    for (size_t i = 0; i < ngone; i++) {
        const io_datum_rec_t *rec = io_manifest_find (c->m, &gone[i]);
        if (!rec)
            continue;
        remove_outputs (c, rec);
        if (io_manifest_forget (c->m, &gone[i], err) < 0)
            goto error;
    }
    free (gone);
    if (nchanged || ngone)
        dr_log (LOG_INFO, "%zu changed datums' outputs removed, %zu datums "
                "gone from the input", nchanged, ngone);
    return 0;
error:
    free (gone);
    return -1;
}

/* A job still "running" in a manifest whose lock we hold was killed (kill
 * -9, a lost node) before it could say so: record it as killed, with the
 * counts its datums' records show, so that list-job does not show it
 * running forever. */
static int close_dead_jobs (coord_t *c, dr_error_t *err)
{
    for (size_t i = 0; i < io_manifest_njobs (c->m); i++) {
        jobs_record_t dead = *io_manifest_job (c->m, i);
        if (dead.state != JOBS_STATE_RUNNING)
            continue;
        io_hash_t jid;
        io_hash_from_hex (dead.id, &jid);
        int64_t end = dead.start_ns;
        dead.processed = dead.failed = dead.recovered = 0;
        dead.bytes_downloaded = dead.bytes_uploaded = 0;
        for (size_t k = 0; k < io_manifest_ndatums (c->m); k++) {
            const io_datum_rec_t *r = io_manifest_datum (c->m, k);
            if (!io_hash_eq (&r->proc_job, &jid))
                continue;
            if (r->state == JOBS_DATUM_SUCCESS) {
                dead.processed++;
                dead.bytes_downloaded += r->bytes_in;
                dead.bytes_uploaded += r->bytes_out;
            }
            else if (r->state == JOBS_DATUM_FAILED)
                dead.failed++;
            else if (r->state == JOBS_DATUM_RECOVERED)
                dead.recovered++;
            int64_t e = r->start_ns + (int64_t)(r->duration_s * 1e9);
            if (e > end)
                end = e;
        }
        dead.state = JOBS_STATE_KILLED;
        dead.duration_s = (double)(end - dead.start_ns) * 1e-9;
        if (io_manifest_job_end (c->m, &dead, err) < 0)
            return -1;
        dr_log (LOG_INFO, "job %.8s was killed before it ended; %llu of its "
                "datums had finished", dead.id,
                (unsigned long long)(dead.processed + dead.failed
                                     + dead.recovered));
    }
    return 0;
}

/* A manifest that has never recorded a job (a first run, or a damaged
 * manifest moved aside as its error message advises) owns nothing in the
 * output folder.  Files already there would collide with the datums'
 * outputs, and the result would not equal a from-scratch run: move the
 * folder aside (never delete it) so that the outputs are rebuilt. */
static int fresh_output (coord_t *c, dr_error_t *err)
{
    const char *out = c->spec->output;
    if (io_manifest_njobs (c->m) || io_manifest_ndatums (c->m))
        return 0;
    DIR *d = opendir (out);
    if (!d)
        return errno == ENOENT || errno == ENOTDIR ? 0 : -1;
    struct dirent *de;
    bool empty = true;
    while (empty && (de = readdir (d)))
        empty = !strcmp (de->d_name, ".") || !strcmp (de->d_name, "..");
    closedir (d);
    if (empty)
        return 0;
    char aside[4200];
    snprintf (aside, sizeof (aside), "%s.old-%lld", out,
              (long long)(dr_realtime_ns () / 1000000000));
    if (renameat2 (AT_FDCWD, out, AT_FDCWD, aside, RENAME_NOREPLACE) < 0)
        return dr_errprintf (err, "output folder %s holds files that the "
                             "manifest in %s does not record (a first run "
                             "into a used folder, or a manifest moved "
                             "aside), and it cannot be moved aside to %s: "
                             "%s; move or empty it and rerun", out,
                             c->spec->state_dir, aside, strerror (errno));
    dr_log (LOG_WARN, "output folder %s held files that the manifest does "
            "not record (a first run into a used folder, or a manifest "
            "moved aside); moved it to %s so that every output is rebuilt",
            out, aside);
    return 0;
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

/* ----------------------------------------------------------- the end */

static void report_collisions (coord_t *c)
{
    if (!c->ncoll)
        return;
    coord_owners_t *own = coord_owners_build (c->m);
    for (size_t i = 0; i < c->ncoll; i++) {
        char a[512], b[512] = "a file no datum of this pipeline wrote";
        datum_label (c, c->coll[i].didx, a, sizeof (a));
        const io_hash_t *owner = own ? coord_owners_get (own, c->coll[i].path)
                                     : NULL;
        if (owner) {
            ssize_t j = sched_plan_find (c->p, owner);
            if (j >= 0)
                datum_label (c, (uint32_t)j, b, sizeof (b));
            else {
                char hex[33];
                io_hash_hex (owner, hex);
                snprintf (b, sizeof (b), "%.12s", hex);
            }
        }
        dr_log (LOG_ERR, "output collision: datums %s and %s both write "
                "'%s' (%s/%s); the first one's file is kept", b, a,
                c->coll[i].path, c->spec->output, c->coll[i].path);
        free (c->coll[i].path);
    }
    coord_owners_destroy (own);
    free (c->coll);
}

static void write_job_log (coord_t *c, double wall, double cpu)
{
    char *path = jobs_sd_job_log (c->spec->state_dir, c->job.id);
    FILE *f = path ? fopen (path, "a") : NULL;
    free (path);
    if (!f)
        return;
    char line[512];
    struct rusage ru;
    getrusage (RUSAGE_SELF, &ru);
    jobs_summary_line (&c->job, line, sizeof (line));
    /* Rank 0's peak RSS: planning, the manifest, dispatch and the final
     * checkpoint (bench/plan_memory.sh reads it). */
    fprintf (f, "%s\nworkers=%d nodes=%d wall_s=%.3f rank0_cpu_s=%.3f "
             "rank0_cpu_pct=%.2f rank0_maxrss_kib=%ld\n", line,
             c->job.workers, c->job.nodes, wall, cpu,
             wall > 0 ? 100.0 * cpu / wall : 0.0, ru.ru_maxrss);
    fclose (f);
}

static double cpu_seconds (void)
{
    struct rusage ru;
    getrusage (RUSAGE_SELF, &ru);
    return (double)ru.ru_utime.tv_sec + (double)ru.ru_utime.tv_usec * 1e-6
           + (double)ru.ru_stime.tv_sec + (double)ru.ru_stime.tv_usec * 1e-6;
}

static void send_stop (coord_t *c, int r)
{
    if (c->ws[r].stop_sent)
        return;
    c->ws[r].stop_sent = true;
    MPI_Send (NULL, 0, MPI_BYTE, r, TAG_STOP, MPI_COMM_WORLD);
}

static void stop_all (coord_t *c)
{
    for (int r = 1; r < c->size; r++)
        send_stop (c, r);
}

int runner_coordinator (run_opts_t *o, jobs_spec_t *spec, int size,
                        char **hosts, int nodes)
{
    coord_t c = { .o = o, .spec = spec, .size = size, .hosts = hosts };
    dr_error_t err = { { 0 } };
    double t0 = dr_now ();
    double cpu0 = cpu_seconds ();
    int rc = EXIT_USAGE;

    c.ws = calloc ((size_t)size, sizeof (*c.ws));
    if (!c.ws)
        abort ();
    int want = sched_workers (spec, nodes, o->workers);
    int avail = size - 1;
    if (o->worker_ok) {
        /* Ranks without GPUs of their own (resource_requests.gpu) idle. */
        int idle = 0;
        for (int r = 1; r < size; r++)
            idle += !o->worker_ok[r];
        if (idle)
            dr_log (LOG_WARN, "%d worker rank%s without %d GPU%s of their "
                    "own stay idle (workers per node are capped by GPUs / "
                    "resource_requests.gpu)", idle, idle == 1 ? "" : "s",
                    spec->gpu, spec->gpu == 1 ? "" : "s");
        avail -= idle;
    }
    c.nworkers = want < avail ? want : avail;
    if (avail > want)
        dr_log (LOG_WARN, "%d of %d worker ranks stay idle: the pipeline's "
                "parallelism gives %d workers", avail - want, avail, want);
    else if (avail < want)
        dr_log (LOG_WARN, "the pipeline's parallelism asks for %d workers "
                "but the MPI world has %d worker ranks; using %d", want,
                avail, avail);
    for (int r = 1, taken = 0; r < size; r++) {
        c.ws[r].rank = r;
        c.ws[r].active = (!o->worker_ok || o->worker_ok[r])
                         && taken < c.nworkers;
        taken += c.ws[r].active;
        if (!c.ws[r].active)
            send_stop (&c, r);
    }
    if (c.nworkers < 1) {
        dr_log (LOG_ERR, "no worker rank has %d GPU%s of its own "
                "(resource_requests.gpu): nothing can run", spec->gpu,
                spec->gpu == 1 ? "" : "s");
        goto out;
    }
    c.chunk = spec->chunk_number > 0 ? (size_t)spec->chunk_number : 1;

    if (!(c.m = io_manifest_open (spec->state_dir, &err))
        || close_dead_jobs (&c, &err) < 0) {
        dr_log (LOG_ERR, "%s", err.text);
        goto out;
    }
    sched_plan_opts_t popts = {
        .rehash = o->rehash,
        .reprocess = o->reprocess || spec->reprocess_every_job,
    };
    double tplan = dr_now ();
    if (!(c.p = sched_plan_build (spec, io_manifest_statcache (c.m), c.m,
                                  &popts, &err))) {
        /* About the spec's input: named by the spec path as given. */
        fprintf (stderr, "%s: %s\n", spec->given, err.text);
        goto out;
    }
    dr_log (LOG_DEBUG, "planned %zu datums (%zu to process, %zu to skip) "
            "in %.3fs", c.p->ndatums, c.p->nprocess, c.p->nskip,
            dr_now () - tplan);
    runner_warn_empty_inputs (spec, c.p);
    runner_warn_earlier (c.p);
    if (fresh_output (&c, &err) < 0 || io_mkdirs (spec->output, 0755) < 0) {
        if (err.text[0])
            dr_log (LOG_ERR, "%s", err.text);
        else
            dr_log (LOG_ERR, "output folder %s: cannot create: %s",
                    spec->output, strerror (errno));
        goto out;
    }
    rc = EXIT_FAILED;
    if (clean_inflight (&c) < 0 || prepare_outputs (&c, &err) < 0) {
        dr_log (LOG_ERR, "%s", err.text[0] ? err.text : strerror (errno));
        goto out;
    }

    new_job_id (c.job.id);
    snprintf (c.job.pipeline, sizeof (c.job.pipeline), "%s", spec->name);
    c.job.state = JOBS_STATE_RUNNING;
    c.job.workers = c.nworkers;
    c.job.nodes = nodes;
    c.job.total = c.p->ndatums;
    c.job.skipped = c.p->nskip;
    c.job.start_ns = dr_realtime_ns ();
    memcpy (c.job.pipeline_hash, c.p->pipeline_hash.b, 16);
    if (spec->image_id)
        snprintf (c.job.image_id, sizeof (c.job.image_id), "%s",
                  spec->image_id);
    char *logdir = jobs_sd_job_logdir (spec->state_dir, c.job.id);
    if (!logdir || io_mkdirs (logdir, 0755) < 0) {
        dr_log (LOG_ERR, "%s: cannot create: %s", logdir ? logdir : "logs",
                strerror (errno));
        free (logdir);
        goto out;
    }
    free (logdir);
    if (io_manifest_job_begin (c.m, &c.job, &err) < 0) {
        dr_log (LOG_ERR, "%s", err.text);
        goto out;
    }
    c.q = sched_queue_create (c.p->nprocess);
    c.attempts = calloc (c.p->ndatums ? c.p->ndatums : 1, 1);
    if (!c.q || !c.attempts)
        abort ();
    for (size_t i = 0; i < c.p->ndatums; i++)
        if (c.p->datums[i].action == SCHED_PROCESS)
            sched_queue_push (c.q, (uint32_t)i);
    c.remaining = c.p->nprocess;

    dispatch (&c);

    c.job.duration_s = dr_now () - t0;
    if (c.stopping)
        c.job.state = JOBS_STATE_KILLED;
    else if (c.job.failed || c.ncoll)
        c.job.state = JOBS_STATE_FAILURE;
    else
        c.job.state = JOBS_STATE_SUCCESS;
    report_collisions (&c);
    if (io_manifest_job_end (c.m, &c.job, &err) < 0
        || io_manifest_checkpoint (c.m, &c.p->pipeline_hash, &err) < 0)
        dr_log (LOG_ERR, "%s (the journal keeps every result; the next run "
                "replays it)", err.text);
    double cpu = cpu_seconds () - cpu0;
    write_job_log (&c, c.job.duration_s, cpu);
    dr_log (LOG_DEBUG, "rank 0 used %.3fs CPU in %.3fs wall (%.1f%%)", cpu,
            c.job.duration_s, 100.0 * cpu / c.job.duration_s);
    if (o->json) {
        char *j = jobs_record_json (&c.job);
        printf ("%s\n", j);
        free (j);
    }
    else {
        /* -q hides progress and information, never the summary. */
        char line[512];
        jobs_summary_line (&c.job, line, sizeof (line));
        printf ("%s\n", line);
        printf ("outputs: %s\n", spec->output);
    }
    fflush (stdout);
    rc = c.job.state == JOBS_STATE_SUCCESS ? EXIT_OK : EXIT_FAILED;
out:
    stop_all (&c);
    sched_queue_destroy (c.q);
    sched_plan_destroy (c.p);
    io_manifest_close (c.m);
    for (int r = 0; r < size; r++)
        free (c.ws[r].held);
    free (c.ws);
    free (c.attempts);
    return rc;
}
