/* coord.c: rank 0.  Plans the job against the manifest, prepares the
 * output folder (prepare.c), then runs the loop that feeds the dispatcher
 * (sched/dispatch.c: queue, holdings, reserves, retries, lost workers)
 * with what arrives through the wire protocol (proto.c), sends what it
 * decides, and records every result in the manifest's journal at once, so
 * that a kill -9 loses at most the datums in flight.  A worker that falls
 * silent or whose communication fails is lost: its datums go to the
 * others.  Rank 0 never blocks in MPI: it polls and sleeps with a growing
 * timeout when idle.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <jansson.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <unistd.h>

#include "runner/coord.h"
#include "runner/progress.h"
#include "runner/proto.h"
#include "runner/runner.h"
#include "sched/dispatch.h"

typedef struct collision {
    char *path;
    uint32_t didx;
} collision_t;

typedef struct coord {
    run_opts_t *o;
    jobs_spec_t *spec;
    proto_t *proto;
    int size;
    io_manifest_t *m;
    sched_plan_t *p;
    sched_dispatch_t *d;
    bool *stop_sent;        /* per rank */
    bool *active;           /* per rank: a worker of this job */
    double last_keepalive;  /* dr_now() of our last heartbeat to workers */
    uint32_t *chunk;        /* scratch: one assignment */
    size_t chunk_max;
    int nworkers;
    jobs_record_t job;
    bool stopping;
    const char *stop_reason;
    bool unrecorded;        /* a result could not be journaled: its worker's
                             * inflight list must outlive the job */
    collision_t *coll;
    size_t ncoll;
    char **hosts;           /* per rank, from the hello */
    const int *pids;        /* per rank, from the hello */
    runner_lost_t *lost;    /* workers lost, in order */
    size_t nlost;
    progress_t *prog;       /* attempt history and the live view */
    bool adopt;             /* files already there give way to datums */
} coord_t;

static void send_stop (coord_t *c, int r);
static void lose_worker (coord_t *c, int w, const char *fmt, ...)
    __attribute__ ((format (printf, 3, 4)));

static void datum_label (coord_t *c, uint32_t didx, char *buf, size_t len)
{
    char hex[33];
    char *in = sched_datum_inputs (c->p, &c->p->datums[didx]);
    io_hash_hex (&c->p->datums[didx].id, hex);
    /* Its entries, escaped and joined; a long one loses its middle. */
    size_t cap = io_inputs_len (in) * 6 + 16, n = 0;
    char *all = in ? malloc (cap) : NULL;
    if (all) {
        all[0] = '\0';
        for (const char *e = in; *e; e += strlen (e) + 1) {
            char *x = jobs_name_escape (e);
            if (!x)
                break;
            if (n + strlen (x) + 3 > cap
                && !(all = realloc (all, cap = (n + strlen (x) + 3) * 2)))
                abort ();
            n += (size_t)sprintf (all + n, "%s%s", n ? ", " : "", x);
            free (x);
        }
    }
    char shown[400];
    dr_shorten (all ? all : "?", shown, sizeof (shown));
    snprintf (buf, len, "%.12s (%s)", hex, shown);
    free (all);
    free (in);
}

/* What `datumrun why` follows: the datum's entries' hashes as processed. */
static int record_lineage (coord_t *c, const sched_datum_t *d,
                           dr_error_t *err)
{
    io_hash_t one, *h = d->nentries > 1 ? malloc (d->nentries * sizeof (*h))
                                        : &one;
    if (!h)
        return dr_errprintf (err, "out of memory");
    uint32_t n = sched_datum_entry_hashes (c->p, d, h);
    int rc = io_manifest_put_entry_hashes (c->m, &d->id, n, h, err);
    if (h != &one)
        free (h);
    return rc;
}

/* A job's inputs (name -> repo folder), for lineage. */
static int record_job_inputs (coord_t *c, dr_error_t *err)
{
    const jobs_spec_t *s = c->p->spec;
    char **names = calloc (s->npfs ? s->npfs : 1, sizeof (char *));
    char **repos = calloc (s->npfs ? s->npfs : 1, sizeof (char *));
    int rc = -1;
    if (names && repos) {
        for (size_t i = 0; i < s->npfs; i++) {
            names[i] = s->pfs[i]->name;
            repos[i] = s->pfs[i]->repo;
        }
        rc = io_manifest_put_job_inputs (c->m, c->job.id, s->npfs, names,
                                         repos, err);
    }
    else
        dr_errprintf (err, "out of memory");
    free (names);
    free (repos);
    return rc;
}

static int record (coord_t *c, uint32_t didx, const wresult_t *r,
                   jobs_datum_state_t state, int rank)
{
    const sched_datum_t *d = &c->p->datums[didx];
    io_datum_rec_t rec = { 0 };
    dr_error_t err = { { 0 } };
    rec.id = d->id;
    int hrc = 0;
    if (state == JOBS_DATUM_SUCCESS
        && (hrc = sched_datum_hash (c->p, d, &rec.hash)) < 0)
        dr_errprintf (&err, "recording a datum: %s", strerror (errno));
    io_hash_from_hex (c->job.id, &rec.proc_job);
    rec.seen_job = rec.proc_job;
    rec.pipeline = c->p->pipeline_hash;
    rec.state = (uint8_t)state;
    _Static_assert (JOBS_MAX_TRIES <= UINT16_MAX, "attempts are 16 bits");
    rec.attempts = (uint16_t)(r->attempt > UINT16_MAX ? UINT16_MAX
                                                      : r->attempt);
    rec.rank = rank;
    rec.host = c->hosts[rank] ? c->hosts[rank] : "";
    rec.start_ns = r->start_ns;
    rec.duration_s = r->duration_s;
    rec.bytes_in = sched_datum_bytes (c->p, d);
    rec.bytes_out = r->bytes_out;
    rec.exit_status = r->exit_status;
    rec.term_signal = r->term_signal;
    rec.inputs = sched_datum_inputs (c->p, d);
    rec.outputs = r->outs.paths;
    rec.out_sizes = r->outs.sizes;
    rec.out_mtimes = r->outs.mtimes;
    rec.noutputs = r->outs.n;
    int rc = hrc < 0 ? -1 : io_manifest_put (c->m, &rec, &err);
    free (rec.inputs);
    if (rc == 0 && (state == JOBS_DATUM_SUCCESS
                    || state == JOBS_DATUM_RECOVERED))
        rc = record_lineage (c, d, &err);
    if (rc < 0)
        c->unrecorded = true;
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


/* Send w what the dispatcher gives it, one message per chunk. */
static void fill (coord_t *c, int w)
{
    size_t n;
    dr_error_t err = { { 0 } };
    while ((n = sched_dispatch_assign (c->d, w, c->chunk, c->chunk_max))) {
        buf_t b = { 0 };
        proto_assign_begin (&b, c->job.id);
        for (size_t i = 0; i < n; i++) {
            uint32_t at = sched_dispatch_attempts (c->d, c->chunk[i]);
            proto_assign_add (&b, c->p, c->chunk[i], at);
            progress_assigned (c->prog, w, c->chunk[i], at);
        }
        if (proto_send (c->proto, w, PROTO_ASSIGN, &b, &err) < 0) {
            lose_worker (c, w, "%s", err.text);
            return;
        }
    }
}

static void fill_all (coord_t *c)
{
    for (int w = 1; w < c->size; w++)
        fill (c, w);
}

/* Record a datum given up after its workers were lost. */
static void record_crashed (coord_t *c, uint32_t didx, int rank)
{
    char label[512];
    wresult_t r = { .didx = didx, .attempt = sched_dispatch_attempts (c->d,
                                                                   didx),
                    .outcome = OUT_FAILED, .exit_status = -1 };
    datum_label (c, didx, label, sizeof (label));
    record (c, didx, &r, JOBS_DATUM_FAILED, rank);
    c->job.failed++;
    dr_log (LOG_ERR, "datum %s failed: the worker running it was lost %u "
            "times (datum_crash_limit %d); it is taken to kill its workers",
            label, sched_dispatch_losses (c->d, didx),
            c->spec->datum_crash_limit);
}

/* A worker on rank 0's node, whose pid we can signal.  Test hook:
 * DATUMRUN_TEST_REMOTE_WORKERS=1 makes every worker count as remote, so
 * that the tests see what a worker on another node gets (its keeper's
 * watchdog, not rank 0's kill). */
static bool same_node (const coord_t *c, int w)
{
    static int remote = -1;
    if (remote < 0) {
        const char *e = getenv ("DATUMRUN_TEST_REMOTE_WORKERS");
        remote = e && !strcmp (e, "1");
    }
    return !remote && c->pids && c->pids[w] > 0 && c->hosts[0] && c->hosts[w]
           && !strcmp (c->hosts[0], c->hosts[w]);
}

/* w asked to leave (a signal reached it alone): nothing more goes to it;
 * once it has reported what it holds, it gets its STOP. */
static void handle_bye (coord_t *c, int w)
{
    if (sched_dispatch_worker_leaving (c->d, w) < 0)
        return;
    dr_log (LOG_WARN, "worker rank %d on %s was told to stop (a signal); "
            "its datums go to the others, %d workers left", w, c->hosts[w],
            sched_dispatch_active (c->d));
    if (sched_dispatch_held (c->d, w) == 0)
        send_stop (c, w);
}

/* w is lost: nothing more goes to it, its datums go back to the front of
 * the queue for the others. */
static void lose_worker (coord_t *c, int w, const char *fmt, ...)
{
    if (sched_dispatch_state (c->d, w) != SCHED_W_ACTIVE)
        return;
    runner_lost_t *l;
    c->lost = realloc (c->lost, (c->nlost + 1) * sizeof (*c->lost));
    if (!c->lost)
        abort ();
    l = &c->lost[c->nlost++];
    memset (l, 0, sizeof (*l));
    l->rank = w;
    snprintf (l->host, sizeof (l->host), "%s", c->hosts[w]);
    va_list ap;
    va_start (ap, fmt);
    vsnprintf (l->reason, sizeof (l->reason), fmt, ap);
    va_end (ap);
    progress_lost (c->prog, w, l->reason);
    /* On record, for inspect-job and list-job (manifest lost_workers). */
    io_lost_worker_t rec = { .rank = w, .time_ns = dr_realtime_ns () };
    snprintf (rec.job, sizeof (rec.job), "%s", c->job.id);
    snprintf (rec.host, sizeof (rec.host), "%s", l->host);
    snprintf (rec.reason, sizeof (rec.reason), "%s", l->reason);
    dr_error_t err = { { 0 } };
    if (io_manifest_lost_worker (c->m, &rec, &err) < 0)
        dr_log (LOG_WARN, "%s (the lost worker is not on record)", err.text);
    size_t nheld = sched_dispatch_held (c->d, w), ngave = 0;
    uint32_t *gave = calloc (nheld ? nheld : 1, sizeof (*gave));
    if (!gave)
        abort ();
    int back = sched_dispatch_worker_lost (c->d, w, gave, &ngave);
    proto_forget (c->proto, w);
    /* A stopped (or hung) worker on our node is ended here, and its
     * commands with it (its keeper sees it go); one on another node is
     * left to the runtime. */
    if (same_node (c, w) && kill (c->pids[w], SIGKILL) == 0)
        dr_log (LOG_INFO, "killed rank %d (pid %d): it was lost but still "
                "there", w, c->pids[w]);
    c->stop_sent[w] = true;     /* it would never read it */
    dr_log (LOG_WARN, "worker rank %d on %s lost (%s); %d datum%s back in "
            "the queue, %d workers left", w, l->host, l->reason, back,
            back == 1 ? "" : "s", sched_dispatch_active (c->d));
    for (size_t i = 0; i < ngave; i++)
        record_crashed (c, gave[i], w);
    free (gave);
    fill_all (c);
}

static sched_result_t result_kind (outcome_t oc)
{
    switch (oc) {
    case OUT_SUCCESS:
    case OUT_RECOVERED:
    case OUT_COLLISION:
        return SCHED_RES_DONE;
    case OUT_RETURNED:
    case OUT_INTERRUPTED:
    case OUT_NOSPACE:
        return SCHED_RES_RETURNED;
    case OUT_FAILED:
    case OUT_ERROR:
    default:
        return SCHED_RES_FAILED;
    }
}

static void handle_result (coord_t *c, int rank, buf_t *b)
{
    wresult_t r;
    char label[512];
    if (proto_result_unpack (b, &r) < 0 || r.didx >= c->p->ndatums) {
        dr_log (LOG_ERR, "malformed result from rank %d", rank);
        wresult_free (&r);
        return;
    }
    /* A file that was there before the job (--adopt, or our folder whose
     * manifest was lost) gives way: the datum runs again, uncounted. */
    if (r.outcome == OUT_COLLISION && c->adopt
        && runner_replace_adopted (c->m, c->spec->output, r.message,
                                   c->job.start_ns))
        r.outcome = OUT_RETURNED;
    sched_verdict_t v = sched_dispatch_result (
        c->d, rank, r.didx, result_kind (r.outcome),
        r.outcome == OUT_RETURNED ? -1 : r.duration_s, dr_now ());
    if (v == SCHED_V_STALE) {
        /* A worker declared lost that spoke again: its datum went to
         * another worker already. */
        dr_log (LOG_DEBUG, "ignoring a result from rank %d for a datum it "
                "no longer holds", rank);
        wresult_free (&r);
        return;
    }
    progress_result (c->prog, rank, &r);
    switch (r.outcome) {
    case OUT_SUCCESS:
        /* Counted only once recorded: what the summary calls processed, a
         * rerun skips. */
        if (record (c, r.didx, &r, JOBS_DATUM_SUCCESS, rank) == 0) {
            c->job.processed++;
            c->job.bytes_downloaded
                += sched_datum_bytes (c->p, &c->p->datums[r.didx]);
            c->job.bytes_uploaded += r.bytes_out;
        }
        break;
    case OUT_RECOVERED:
        record (c, r.didx, &r, JOBS_DATUM_RECOVERED, rank);
        c->job.recovered++;
        datum_label (c, r.didx, label, sizeof (label));
        dr_log (LOG_WARN, "datum %s failed and was recovered by err_cmd",
                label);
        break;
    case OUT_RETURNED:
        break;      /* queued again; the next run does it if we stop */
    case OUT_INTERRUPTED: {
        /* Recorded as such, unless a success of it is on record (its
         * outputs stay owned): either way the next run does it. */
        io_datum_rec_t view;
        const io_datum_rec_t *old = io_manifest_find (
            c->m, &c->p->datums[r.didx].id, &view);
        if (!old || old->state != JOBS_DATUM_SUCCESS)
            record (c, r.didx, &r, JOBS_DATUM_INTERRUPTED, rank);
        datum_label (c, r.didx, label, sizeof (label));
        dr_log (LOG_WARN, "datum %s interrupted by the stop after %.1fs; the "
                "next run processes it", label, r.duration_s);
        break;
    }
    case OUT_NOSPACE:
        /* Not the datum's failure: a disk is full.  Nothing more can be
         * set up, so no new datum starts; the next run does this one. */
        if (!c->stop_reason) {
            datum_label (c, r.didx, label, sizeof (label));
            dr_log (LOG_ERR, "rank %d: %s; stopping the job: no new datums "
                    "start (datum %s is not failed: free space and run "
                    "again)", rank, r.message ? r.message : "disk full",
                    label);
            c->stop_reason = "a disk is full";
            runner_stop_requested = 1;
        }
        break;
    case OUT_COLLISION:
        record (c, r.didx, &r, JOBS_DATUM_FAILED, rank);
        c->job.failed++;
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
        if (v == SCHED_V_RETRY) {
            char logs[8500];
            progress_log_hint (c->prog, r.didx, logs, sizeof (logs));
            dr_log (LOG_WARN, "datum %s attempt %u/%d failed (%s); retrying; "
                    "%s", label, r.attempt, c->spec->datum_tries,
                    r.message ? r.message
                    : r.term_signal ? strsignal (r.term_signal)
                                    : "non-zero exit", logs);
            break;
        }
        record (c, r.didx, &r, JOBS_DATUM_FAILED, rank);
        c->job.failed++;
        char logs[8500];
        progress_log_hint (c->prog, r.didx, logs, sizeof (logs));
        if (r.term_signal)
            dr_log (LOG_ERR, "datum %s failed after %u attempts: %s%skilled "
                    "by signal %d (%s); %s", label, r.attempt,
                    r.message ? r.message : "", r.message ? ": " : "",
                    r.term_signal, strsignal (r.term_signal), logs);
        else
            dr_log (LOG_ERR, "datum %s failed after %u attempts: %s%s%d; %s",
                    label, r.attempt, r.message ? r.message : "",
                    r.message ? ", exit " : "exit ", r.exit_status, logs);
        break;
    }
    wresult_free (&r);
    if (sched_dispatch_state (c->d, rank) == SCHED_W_LEAVING
        && sched_dispatch_held (c->d, rank) == 0)
        send_stop (c, rank);
    /* A datum given back (by a leaving worker, say) may be for an idle
     * worker that has nothing else to report: top up everyone. */
    if (v == SCHED_V_REQUEUED)
        fill_all (c);
    else
        fill (c, rank);
}

/* Take in what arrived; *got tells whether anything did. */
static void progress (coord_t *c, bool *got)
{
    dr_error_t err = { { 0 } }, jerr = { { 0 } };
    int failed = -1;
    *got = false;
    /* The results of one sweep go to the journal in one write; they are
     * counted as they come, and uncounted if that write fails (a full
     * disk): what the summary calls processed is what a rerun skips. */
    const jobs_record_t counted = c->job;
    io_manifest_hold (c->m);
    for (;;) {
        proto_msg_t msg;
        int rc = proto_recv (c->proto, -1, &msg, &err);
        if (rc == 0)
            break;
        if (rc < 0) {
            if (msg.source > 0 && msg.source < c->size)
                lose_worker (c, msg.source, "%s", err.text);
            else if (!c->stop_reason) {
                dr_log (LOG_ERR, "%s", err.text);
                c->stop_reason = "MPI communication failed";
                runner_stop_requested = 1;
            }
            break;
        }
        *got = true;
        if (msg.source > 0 && msg.source < c->size) {
            sched_dispatch_heard (c->d, msg.source, dr_now ());
            if (msg.tag == PROTO_RESULT) {
                /* One or more results (batched workers send several). */
                size_t before;
                do {
                    before = msg.body.pos;
                    handle_result (c, msg.source, &msg.body);
                } while (!msg.body.bad && msg.body.pos > before
                         && msg.body.pos < msg.body.len);
            }
            else if (msg.tag == PROTO_BYE)
                handle_bye (c, msg.source);
        }
        buf_free (&msg.body);
    }
    bool released = io_manifest_release (c->m, &jerr) == 0;
    if (!released) {
        c->unrecorded = true;
        c->job.processed = counted.processed;
        c->job.failed = counted.failed;
        c->job.recovered = counted.recovered;
        c->job.bytes_downloaded = counted.bytes_downloaded;
        c->job.bytes_uploaded = counted.bytes_uploaded;
    }
    if (!released && !c->stop_reason) {
        dr_log (LOG_ERR, "%s; stopping the job: datums finished from here "
                "on could not be recorded", jerr.text);
        c->stop_reason = "the manifest journal cannot be written";
        runner_stop_requested = 1;
    }
    while (proto_progress (c->proto, &failed, &err) < 0)
        lose_worker (c, failed, "%s", err.text);
}

/* Rank 0 is heard too: every worker_heartbeat, each worker still in the
 * job gets a heartbeat, so that a worker whose rank 0 is gone (killed, or
 * its node crashed: nothing tells the other ranks) leaves after
 * worker_timeout instead of waiting for ever. */
static void send_keepalives (coord_t *c, double now)
{
    if (now - c->last_keepalive < c->spec->worker_heartbeat)
        return;
    c->last_keepalive = now;
    for (int w = 1; w < c->size; w++) {
        sched_wstate_t st = sched_dispatch_state (c->d, w);
        if (c->stop_sent[w] || !(st == SCHED_W_ACTIVE
                                 || st == SCHED_W_LEAVING))
            continue;
        dr_error_t err = { { 0 } };
        if (proto_send (c->proto, w, PROTO_HEARTBEAT, NULL, &err) < 0)
            lose_worker (c, w, "%s", err.text);
    }
}

/* Declare lost the workers silent for worker_timeout. */
static void check_silence (coord_t *c, double now)
{
    send_keepalives (c, now);
    int *lost = calloc ((size_t)c->size, sizeof (int));
    if (!lost)
        abort ();
    size_t n = sched_dispatch_tick (c->d, now, lost);
    for (size_t i = 0; i < n; i++)
        lose_worker (c, lost[i], "no heartbeat for %.0fs",
                     now - sched_dispatch_last_heard (c->d, lost[i]));
    free (lost);
    /* On our node, a dead worker is seen at once (the runtime does not
     * tell us under Open MPI 4.1 without ULFM). */
    for (int w = 1; w < c->size; w++) {
        sched_wstate_t st = sched_dispatch_state (c->d, w);
        if ((st == SCHED_W_ACTIVE || st == SCHED_W_LEAVING)
            && same_node (c, w) && kill (c->pids[w], 0) < 0
            && errno == ESRCH)
            lose_worker (c, w, "its process died");
    }
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
    if (interval <= 0 || dr_now () - *last < interval || c->unrecorded)
        return;
    dr_error_t err = { { 0 } };
    if (io_manifest_checkpoint (c->m, &c->p->pipeline_hash, &err) < 0)
        dr_log (LOG_WARN, "periodic checkpoint failed (the journal keeps "
                "every result): %s", err.text);
    *last = dr_now ();
}

static void begin_stop (coord_t *c, double *stop_deadline)
{
    c->stopping = true;
    sched_dispatch_stop (c->d);
    *stop_deadline = dr_now () + c->o->grace + 15.0;
    dr_log (LOG_WARN, "%s: no new datums; running ones get %.0fs to finish "
            "(%zu held by workers)", c->stop_reason, c->o->grace,
            sched_dispatch_held_total (c->d));
    /* Workers learn it from the same signal under mpirun and srun; a job
     * timeout is ours alone, so tell them. */
    for (int r = 1; r < c->size; r++)
        send_stop (c, r);
}

static void dispatch (coord_t *c)
{
    double start = dr_now (), stop_deadline = 0, backoff = 50e-6;
    double last_ckpt = start, last_tick = start;
    for (int w = 1; w < c->size; w++)
        if (c->active[w])
            sched_dispatch_worker_joined (c->d, w, start);
    /* The first tick: the time a pause (a suspended job) is measured from. */
    check_silence (c, start);
    fill_all (c);
    while (sched_dispatch_remaining (c->d) > 0) {
        bool got;
        progress (c, &got);
        double now = dr_now ();
        if (now - last_tick >= 0.25) {
            check_silence (c, now);
            last_tick = now;
        }
        if (sched_dispatch_active (c->d) == 0
            && sched_dispatch_held_total (c->d) == 0) {
            if (!c->stop_reason)
                c->stop_reason = c->nlost ? "every worker was lost"
                                          : "every worker left";
            dr_log (LOG_ERR, "%s; %zu datums were not processed (the next "
                    "run does them)", c->stop_reason,
                    sched_dispatch_remaining (c->d));
            c->stopping = true;
            break;
        }
        if (!c->stopping) {
            if (runner_stop_requested && !c->stop_reason)
                c->stop_reason = "stop requested (signal)";
            else if (c->spec->job_timeout > 0
                     && now - start > c->spec->job_timeout)
                c->stop_reason = "job_timeout reached";
            if (c->stop_reason)
                begin_stop (c, &stop_deadline);
        }
        if (c->stopping && sched_dispatch_held_total (c->d) == 0)
            break;
        if (c->stopping && now > stop_deadline) {
            dr_log (LOG_WARN, "workers did not report within the grace "
                    "period; their datums will run again next time");
            break;
        }
        maybe_checkpoint (c, &last_ckpt);
        progress_tick (c->prog);
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
    dr_error_t err = { { 0 } };
    if (c->stop_sent[r])
        return;
    c->stop_sent[r] = true;
    buf_t b = { 0 };
    proto_stop_pack (&b, proto_peer_lost (c->proto) ? PROTO_STOP_ABANDON
                                                     : 0);
    if (proto_send (c->proto, r, PROTO_STOP, &b, &err) < 0)
        dr_log (LOG_DEBUG, "%s", err.text);
}

/* The job is over: tell every worker, and wait (a little) until the
 * messages are out, since a worker only leaves on its STOP. */
static void stop_all (coord_t *c)
{
    dr_error_t err = { { 0 } };
    int failed;
    for (int r = 1; r < c->size; r++)
        send_stop (c, r);
    double until = dr_now () + 10.0;
    while (proto_pending (c->proto) && dr_now () < until) {
        if (proto_progress (c->proto, &failed, &err) < 0)
            proto_forget (c->proto, failed);
        else
            runner_idle_wait (-1, 1e-3);
    }
}

static void summary_lost (coord_t *c, char *line, size_t len)
{
    size_t n = strlen (line);
    if (!c->nlost)
        return;
    snprintf (line + n, len - n, ", %zu worker%s lost (", c->nlost,
              c->nlost == 1 ? "" : "s");
    for (size_t i = 0; i < c->nlost; i++) {
        n = strlen (line);
        snprintf (line + n, len - n, "%srank %d on %s: %s", i ? "; " : "",
                  c->lost[i].rank, c->lost[i].host, c->lost[i].reason);
    }
    n = strlen (line);
    snprintf (line + n, len - n, ")");
}

/* The job's JSON with lost_workers (a count) and lost (rank, host and
 * reason of each).  Caller frees. */
static char *json_with_lost (coord_t *c)
{
    char *j = jobs_record_json (&c->job);
    json_t *o = j ? json_loads (j, 0, NULL) : NULL;
    if (!o)
        return j;
    json_t *arr = json_array ();
    for (size_t i = 0; i < c->nlost; i++)
        json_array_append_new (arr, json_pack ("{s:i, s:s, s:s}", "rank",
                                               c->lost[i].rank, "host",
                                               c->lost[i].host, "reason",
                                               c->lost[i].reason));
    json_object_set_new (o, "lost_workers", json_integer ((json_int_t)c->nlost));
    json_object_set_new (o, "lost", arr);
    char *out = json_dumps (o, JSON_COMPACT | JSON_PRESERVE_ORDER);
    json_decref (o);
    if (!out)
        return j;
    free (j);
    return out;
}

int runner_coordinator (run_opts_t *o, jobs_spec_t *spec, proto_t *proto,
                        int size, char **hosts, const int *pids, int nodes)
{
    coord_t c = { .o = o, .spec = spec, .proto = proto, .size = size,
                  .hosts = hosts, .pids = pids };
    coord_ctx_t x = { .spec = spec };
    dr_error_t err = { { 0 } };
    double t0 = dr_now ();
    double cpu0 = cpu_seconds ();
    int rc = EXIT_USAGE;

    c.stop_sent = calloc ((size_t)size, sizeof (*c.stop_sent));
    if (!c.stop_sent)
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
    /* Worker slots are ranks; those without a part in this job get their
     * STOP now. */
    c.active = calloc ((size_t)size, sizeof (*c.active));
    if (!c.active)
        abort ();
    for (int r = 1, taken = 0; r < size; r++) {
        c.active[r] = (!o->worker_ok || o->worker_ok[r])
                      && taken < c.nworkers;
        taken += c.active[r];
        if (!c.active[r])
            send_stop (&c, r);
    }
    if (c.nworkers < 1) {
        dr_log (LOG_ERR, "no worker rank has %d GPU%s of its own "
                "(resource_requests.gpu): nothing can run", spec->gpu,
                spec->gpu == 1 ? "" : "s");
        goto out;
    }

    /* One owner per output folder, settled before anything is written. */
    int claim = runner_output_claim (spec, o->adopt, true);
    if (claim < 0)
        goto out;
    c.adopt = claim == 1;
    char ro_why[256];
    if (!runner_ro_probe (ro_why, sizeof (ro_why)))
        dr_log (LOG_INFO, "input repos are writable by the commands: %s",
                ro_why);
    if (!(c.m = x.m = io_manifest_open (spec->state_dir, &err))
        || coord_close_dead_jobs (&x, &err) < 0) {
        dr_log (LOG_ERR, "%s", err.text);
        goto out;
    }
    if (!c.adopt && !io_manifest_njobs (c.m) && !io_manifest_ndatums (c.m)
        && runner_output_has_files (spec->output)) {
        /* Our folder (the marker says so), but the manifest that knew its
         * files is gone (moved aside after damage, deleted, or a first
         * job whose journal was lost): they are this pipeline's earlier
         * outputs, and the datums that write them again replace them. */
        dr_log (LOG_WARN, "output folder %s holds files that the manifest "
                "in %s does not record (it was removed or moved aside?): "
                "datums that write them again replace them; the others "
                "stay", spec->output, spec->state_dir);
        c.adopt = true;
    }
    sched_plan_opts_t popts = {
        .rehash = o->rehash,
        .reprocess = o->reprocess || spec->reprocess_every_job,
    };
    double tplan = dr_now ();
    if (!(c.p = x.p = sched_plan_build (spec, io_manifest_statcache (c.m),
                                        c.m, &popts, &err))) {
        /* About the spec's input: named by the spec path as given. */
        fprintf (stderr, "%s: %s\n", spec->given, err.text);
        goto out;
    }
    dr_log (LOG_DEBUG, "planned %zu datums (%zu to process, %zu to skip) "
            "in %.3fs", c.p->ndatums, c.p->nprocess, c.p->nskip,
            dr_now () - tplan);
    runner_warn_empty_inputs (spec, c.p);
    runner_warn_earlier (c.p);
    x.output_moved = runner_check_outputs (c.p, c.m, spec);
    rc = EXIT_FAILED;
    if (coord_clean_inflight (&x) < 0
        || coord_prepare_outputs (&x, &err) < 0) {
        dr_log (LOG_ERR, "%s", err.text[0] ? err.text : strerror (errno));
        goto out;
    }

    coord_new_job_id (c.job.id);
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
    if (io_manifest_job_begin (c.m, &c.job, &err) < 0
        || record_job_inputs (&c, &err) < 0) {
        dr_log (LOG_ERR, "%s", err.text);
        goto out;
    }
    sched_dispatch_opts_t dopts = {
        .ndatums = c.p->ndatums,
        .nworkers = size - 1,   /* slots are ranks */
        .chunk = spec->chunk_number > 0 ? (uint32_t)spec->chunk_number : 1,
        .guided = false,
        /* Batched datums may last microseconds: chunks sized to ~5 ms of
         * work, shrinking toward the end of the queue, keep rank 0 at a
         * message per chunk and still balance uneven datums. */
        .chunk_seconds = spec->datum_batching ? 0.005 : 0,
        .datum_tries = (uint32_t)spec->datum_tries,
        .crash_limit = (uint32_t)spec->datum_crash_limit,
        .worker_timeout = spec->worker_timeout,
        /* The loop ticks every 0.25 s; more than 2 s between ticks means
         * rank 0 was stopped (the job suspended) or busy. */
        .pause_gap = 2.0,
    };
    if (spec->datum_batching) {
        dopts.guided = true;
        if (dopts.chunk < 1024)
            dopts.chunk = 1024;
    }
    if (!(c.d = sched_dispatch_create (&dopts)))
        abort ();
    c.chunk_max = dopts.chunk;
    if (!(c.chunk = calloc (c.chunk_max, sizeof (*c.chunk))))
        abort ();
    for (size_t i = 0; i < c.p->ndatums; i++)
        if (c.p->datums[i].action == SCHED_PROCESS
            && sched_dispatch_push (c.d, (uint32_t)i) < 0)
            abort ();
    progress_cfg_t pcfg = { .m = c.m, .spec = spec, .o = o, .p = c.p,
                            .job = &c.job, .hosts = hosts, .size = size };
    if (!(c.prog = progress_create (&pcfg)))
        abort ();

    dispatch (&c);

    c.job.duration_s = dr_now () - t0;
    if (c.stopping)
        c.job.state = JOBS_STATE_KILLED;
    else if (c.job.failed || c.ncoll)
        c.job.state = JOBS_STATE_FAILURE;
    else
        c.job.state = JOBS_STATE_SUCCESS;
    report_collisions (&c);
    progress_end (c.prog);
    /* After a result that could not be journaled, no checkpoint: it would
     * write what is in memory, that result too, and the summary (which
     * does not count it) and the next run would disagree.  The journal
     * holds every result that was recorded. */
    if (io_manifest_job_end (c.m, &c.job, &err) < 0
        || (!c.unrecorded
            && io_manifest_checkpoint (c.m, &c.p->pipeline_hash, &err) < 0))
        dr_log (LOG_ERR, "%s (the journal keeps every result; the next run "
                "replays it)", err.text);
    /* A worker's inflight list (the outputs it moved into place) is done
     * with once its results are in the journal; a lost worker's, a
     * worker's still holding datums, or any after a result that could
     * not be recorded stay for the next run to clean up after
     * (coord_clean_inflight). */
    for (int w = 1; w < c.size && !c.unrecorded; w++) {
        sched_wstate_t st = sched_dispatch_state (c.d, w);
        if ((st != SCHED_W_ACTIVE && st != SCHED_W_LEAVING)
            || sched_dispatch_held (c.d, w))
            continue;
        char *dir = jobs_sd_rank_dir (c.spec->state_dir, JOBS_SD_INFLIGHT, w);
        if (dir)
            (void)io_remove_tree (dir);
        free (dir);
    }
    double cpu = cpu_seconds () - cpu0;
    write_job_log (&c, c.job.duration_s, cpu);
    dr_log (LOG_DEBUG, "rank 0 used %.3fs CPU in %.3fs wall (%.1f%%)", cpu,
            c.job.duration_s, 100.0 * cpu / c.job.duration_s);
    if (o->json) {
        char *j = json_with_lost (&c);
        printf ("%s\n", j);
        free (j);
    }
    else {
        /* -q hides progress and information, never the summary. */
        char line[2048];
        jobs_summary_line (&c.job, line, sizeof (line));
        summary_lost (&c, line, sizeof (line));
        printf ("%s\n", line);
        printf ("outputs: %s\n", spec->output);
    }
    fflush (stdout);
    rc = c.job.state == JOBS_STATE_SUCCESS ? EXIT_OK : EXIT_FAILED;
out:
    progress_destroy (c.prog);
    stop_all (&c);
    sched_dispatch_destroy (c.d);
    sched_plan_destroy (c.p);
    io_manifest_close (c.m);
    free (c.stop_sent);
    free (c.active);
    free (c.chunk);
    free (c.lost);
    return rc;
}
