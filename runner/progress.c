/* progress.c: rank 0's account of a running job.  Each attempt a worker
 * reports becomes an attempt record in the manifest (the history that
 * inspect-datum, logs and report read).
 */
#include <errno.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "jobs/statedir.h"
#include "runner/progress.h"

typedef struct live live_t;

struct progress {
    progress_cfg_t cfg;
    io_hash_t job_id;
    bool warned;
    live_t *live;
};

static live_t *live_create (progress_t *pg);
static void live_destroy (live_t *lv, int size);
static void live_result (progress_t *pg, int rank, const wresult_t *r);
static void record_attempt_as (progress_t *pg, int rank, const wresult_t *r,
                               jobs_attempt_outcome_t oc);

progress_t *progress_create (const progress_cfg_t *cfg)
{
    progress_t *pg = calloc (1, sizeof (*pg));
    if (!pg)
        return NULL;
    pg->cfg = *cfg;
    io_hash_from_hex (cfg->job->id, &pg->job_id);
    if (!(pg->live = live_create (pg))) {
        free (pg);
        return NULL;
    }
    return pg;
}

void progress_destroy (progress_t *pg)
{
    int saved = errno;
    if (pg)
        live_destroy (pg->live, pg->cfg.size);
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

static void record_attempt_as (progress_t *pg, int rank, const wresult_t *r,
                               jobs_attempt_outcome_t oc)
{
    const progress_cfg_t *c = &pg->cfg;
    io_attempt_t a = { 0 };
    dr_error_t err = { { 0 } };
    a.datum = c->p->datums[r->didx].id;
    a.job = pg->job_id;
    a.attempt = r->attempt ? r->attempt : 1;
    a.rank = rank;
    if (rank >= 0 && rank < c->size && c->hosts[rank])
        snprintf (a.host, sizeof (a.host), "%s", c->hosts[rank]);
    a.start_ns = r->start_ns;
    a.duration_s = r->duration_s;
    a.exit_status = r->exit_status;
    a.term_signal = r->term_signal;
    a.outcome = (uint8_t)oc;
    if (io_manifest_attempt (c->m, &a, &err) < 0 && !pg->warned) {
        pg->warned = true;
        dr_log (LOG_WARN, "%s (attempt history incomplete)", err.text);
    }
}

static void record_attempt (progress_t *pg, int rank, const wresult_t *r)
{
    /* A datum given back before it started was no attempt. */
    if (r->outcome == OUT_RETURNED && r->start_ns == 0)
        return;
    record_attempt_as (pg, rank, r, outcome_of (r));
}

void progress_result (progress_t *pg, int rank, const wresult_t *r)
{
    if (!pg)
        return;
    record_attempt (pg, rank, r);
    live_result (pg, rank, r);
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

/* ------------------------------------------------------------ live view */

/* Rank 0 does not see when a worker starts a datum: workers run what they
 * hold in the order given, so the oldest held datum is the running one,
 * since the later of its hand-out and the worker's previous result. */
typedef struct pheld {
    uint32_t didx, attempt;
    double at;                  /* when it was handed out */
} pheld_t;

/* held[first .. first + nheld), oldest first: results come mostly in
 * the order given, so removing one moves only the few before it. */
typedef struct pworker {
    pheld_t *held;
    size_t first, nheld, cap;
    double last_result;
    bool lost;
    char reason[160];
} pworker_t;

#define RECENT 64

typedef struct live {
    pworker_t *w;               /* by rank */
    double t0;                  /* dr_now () at the start */
    double dur[RECENT];         /* recent attempts' durations */
    size_t ndur, idur;
    double fin[RECENT];         /* when recent datums finished */
    size_t nfin, ifin;
    double last_status, last_line, interval;
    bool tty;                   /* the launcher draws the line */
    char *status_path, *status_tmp;
    bool status_failed;
} live_t;

/* The datum's entries on one line, "in:/a, in:/b".  Caller frees. */
static char *inputs_line (const sched_plan_t *p, uint32_t didx)
{
    char *list = sched_datum_inputs (p, &p->datums[didx]);
    if (!list)
        return NULL;
    size_t n = 0;
    for (const char *e = list; *e; e += strlen (e) + 1)
        n += strlen (e) + 2;
    char *s = malloc (n + 1), *q = s;
    if (s) {
        *q = '\0';
        for (const char *e = list; *e; e += strlen (e) + 1)
            q += sprintf (q, "%s%s", q == s ? "" : ", ", e);
    }
    free (list);
    return s;
}

static live_t *live_of (progress_t *pg)
{
    return pg->live;
}

static void held_remove (pworker_t *w, uint32_t didx)
{
    pheld_t *h = w->held + w->first;
    for (size_t i = 0; i < w->nheld; i++) {
        if (h[i].didx == didx) {
            memmove (h + 1, h, i * sizeof (*h));
            w->first++;
            if (!--w->nheld)
                w->first = 0;
            return;
        }
    }
}

void progress_assigned (progress_t *pg, int rank, uint32_t didx,
                        uint32_t attempt)
{
    if (!pg || rank <= 0 || rank >= pg->cfg.size)
        return;
    pworker_t *w = &live_of (pg)->w[rank];
    if (w->first + w->nheld == w->cap && w->first) {
        memmove (w->held, w->held + w->first, w->nheld * sizeof (*w->held));
        w->first = 0;
    }
    if (w->nheld == w->cap) {
        size_t ncap = w->cap ? 2 * w->cap : 8;
        pheld_t *h = realloc (w->held, ncap * sizeof (*h));
        if (!h)
            return;
        w->held = h;
        w->cap = ncap;
    }
    w->held[w->first + w->nheld++] = (pheld_t){ didx, attempt, dr_now () };
}

static void live_result (progress_t *pg, int rank, const wresult_t *r)
{
    live_t *lv = live_of (pg);
    if (rank <= 0 || rank >= pg->cfg.size)
        return;
    pworker_t *w = &lv->w[rank];
    double now = dr_now ();
    held_remove (w, r->didx);
    w->last_result = now;
    if (r->start_ns && r->outcome != OUT_RETURNED) {
        lv->dur[lv->idur] = r->duration_s;
        lv->idur = (lv->idur + 1) % RECENT;
        if (lv->ndur < RECENT)
            lv->ndur++;
    }
    lv->fin[lv->ifin] = now;
    lv->ifin = (lv->ifin + 1) % RECENT;
    if (lv->nfin < RECENT)
        lv->nfin++;
}

void progress_lost (progress_t *pg, int rank, const char *reason)
{
    if (!pg || rank <= 0 || rank >= pg->cfg.size)
        return;
    live_t *lv = live_of (pg);
    pworker_t *w = &lv->w[rank];
    if (w->lost)
        return;
    w->lost = true;
    snprintf (w->reason, sizeof (w->reason), "%s", reason ? reason : "");
    /* The datum it was running is an attempt that its worker's loss cut
     * short; the others it held had not started. */
    if (w->nheld) {
        const pheld_t *h = &w->held[w->first];
        double now = dr_now ();
        double since = h->at > w->last_result ? h->at : w->last_result;
        wresult_t r = { .didx = h->didx, .outcome = OUT_FAILED,
                        .exit_status = -1, .duration_s = now - since,
                        .start_ns = dr_realtime_ns ()
                                    - (int64_t)((now - since) * 1e9) };
        r.attempt = h->attempt;
        record_attempt_as (pg, rank, &r, JOBS_ATTEMPT_LOST);
    }
    w->nheld = w->first = 0;
}

/* The live numbers, as the status file has them.  Caller decrefs. */
static json_t *status_json (progress_t *pg, const char *state)
{
    live_t *lv = live_of (pg);
    const jobs_record_t *j = pg->cfg.job;
    double now = dr_now (), elapsed = now - lv->t0;
    uint64_t done = j->processed + j->failed + j->recovered;
    uint64_t total = j->total, remaining = total - j->skipped - done;
    if (j->skipped + done > total)
        remaining = 0;
    int in_use = 0, nlost = 0, running = 0;
    json_t *workers = json_array (), *lost = json_array ();
    typedef struct { int rank; double since; uint32_t didx; } run_t;
    run_t *runs = calloc ((size_t)pg->cfg.size, sizeof (*runs));
    if (!runs)
        abort ();
    for (int r = 1; r < pg->cfg.size; r++) {
        pworker_t *w = &lv->w[r];
        const char *host = pg->cfg.hosts[r] ? pg->cfg.hosts[r] : "";
        if (w->lost) {
            nlost++;
            json_array_append_new (lost, json_pack ("{s:i, s:s, s:s}", "rank",
                                                    r, "host", host, "reason",
                                                    w->reason));
            json_array_append_new (workers, json_pack ("{s:i, s:s, s:s}",
                                                       "rank", r, "host", host,
                                                       "state", "lost"));
            continue;
        }
        if (r > j->workers)
            continue;   /* idle by the pipeline's parallelism */
        in_use++;
        if (!w->nheld) {
            json_array_append_new (workers, json_pack ("{s:i, s:s, s:s}",
                                                       "rank", r, "host", host,
                                                       "state", "idle"));
            continue;
        }
        const pheld_t *h = &w->held[w->first];
        double since = h->at > w->last_result ? h->at : w->last_result;
        uint32_t didx = h->didx;
        char hex[33];
        io_hash_hex (&pg->cfg.p->datums[didx].id, hex);
        char *in = inputs_line (pg->cfg.p, didx);
        int64_t since_ns = dr_realtime_ns () - (int64_t)((now - since) * 1e9);
        json_array_append_new (
            workers, json_pack ("{s:i, s:s, s:s, s:s, s:s, s:I, s:f, s:i}",
                                "rank", r, "host", host, "state", "busy",
                                "datum", hex, "inputs", in ? in : "",
                                "since_ns", (json_int_t)since_ns,
                                "running_s", now - since, "held",
                                (int)w->nheld));
        free (in);
        runs[running++] = (run_t){ r, since, didx };
    }
    /* The slowest running datums: the five running longest. */
    json_t *slow = json_array ();
    for (int k = 0; k < 5 && k < running; k++) {
        int best = k;
        for (int q = k + 1; q < running; q++)
            if (runs[q].since < runs[best].since)
                best = q;
        run_t t = runs[k];
        runs[k] = runs[best];
        runs[best] = t;
        char hex[33];
        io_hash_hex (&pg->cfg.p->datums[runs[k].didx].id, hex);
        char *in = inputs_line (pg->cfg.p, runs[k].didx);
        json_array_append_new (slow, json_pack ("{s:s, s:s, s:i, s:f}",
                                                "datum", hex, "inputs",
                                                in ? in : "", "rank",
                                                runs[k].rank, "running_s",
                                                now - runs[k].since));
        free (in);
    }
    free (runs);
    /* Rate from the recent finishes; ETA from the recent durations and
     * the workers in use. */
    double rate = 0, avg = 0;
    if (lv->nfin >= 2) {
        size_t newest = (lv->ifin + RECENT - 1) % RECENT;
        size_t oldest = lv->nfin < RECENT ? 0 : lv->ifin;
        double span = lv->fin[newest] - lv->fin[oldest];
        /* A burst of a few finishes says little: a window of 2 s at least. */
        if (span >= 2.0)
            rate = (double)(lv->nfin - 1) / span;
    }
    if (rate <= 0 && elapsed > 0)
        rate = (double)done / elapsed;
    for (size_t i = 0; i < lv->ndur; i++)
        avg += lv->dur[i];
    if (lv->ndur)
        avg /= (double)lv->ndur;
    json_t *eta = json_null ();
    if (!remaining)
        eta = json_real (0);
    else if (lv->ndur && in_use > 0)
        eta = json_real ((double)remaining * avg / in_use);
    char host[64] = "";
    gethostname (host, sizeof (host) - 1);
    json_t *o = json_pack (
        "{s:s, s:s, s:s, s:i, s:s, s:I, s:I, s:f, s:I, s:I, s:I, s:I, s:I, "
        "s:I, s:I, s:i, s:i, s:f, s:f, s:o, s:i, s:i, s:o, s:o, s:o}",
        "job_id", j->id, "pipeline", j->pipeline, "state", state, "pid",
        (int)getpid (), "host", host, "started_ns", (json_int_t)j->start_ns,
        "updated_ns", (json_int_t)dr_realtime_ns (), "elapsed_s", elapsed,
        "total", (json_int_t)total, "skipped", (json_int_t)j->skipped,
        "processed", (json_int_t)j->processed, "failed",
        (json_int_t)j->failed, "recovered", (json_int_t)j->recovered,
        "done", (json_int_t)(done + j->skipped), "remaining",
        (json_int_t)remaining, "running", running, "workers_in_use", in_use,
        "rate", rate, "avg_duration_s", avg, "eta_s", eta, "workers_lost",
        nlost, "workers_total", j->workers, "workers", workers,
        "slowest_running", slow, "lost_workers", lost);
    if (!o)
        abort ();
    return o;
}

static void write_status (progress_t *pg, const char *state)
{
    live_t *lv = live_of (pg);
    if (!lv->status_path || !lv->status_tmp)
        return;
    json_t *o = status_json (pg, state);
    int rc = json_dump_file (o, lv->status_tmp, JSON_COMPACT
                                                    | JSON_PRESERVE_ORDER
                                                    | JSON_REAL_PRECISION (6));
    json_decref (o);
    if (rc < 0 || rename (lv->status_tmp, lv->status_path) < 0) {
        if (!lv->status_failed)
            dr_log (LOG_WARN, "%s: cannot write the status file: %s",
                    lv->status_path, strerror (errno));
        lv->status_failed = true;
        unlink (lv->status_tmp);
    }
}

void progress_format_line (json_t *st, char *buf, size_t len)
{
    json_int_t total = 0, done = 0, processed = 0, skipped = 0, failed = 0;
    json_int_t recovered = 0;
    int running = 0, lost = 0;
    double rate = 0, elapsed = 0;
    json_t *eta = NULL;
    json_unpack (st, "{s?I, s?I, s?I, s?I, s?I, s?I, s?i, s?i, s?f, s?f, s?o}",
                 "total", &total, "done", &done, "processed", &processed,
                 "skipped", &skipped, "failed", &failed, "recovered",
                 &recovered, "running", &running, "workers_lost", &lost,
                 "rate", &rate, "elapsed_s", &elapsed, "eta_s", &eta);
    char el[32], et[32] = "-";
    jobs_fmt_duration (elapsed, el, sizeof (el));
    if (eta && json_is_number (eta))
        jobs_fmt_duration (json_number_value (eta), et, sizeof (et));
    char rec[48] = "";
    if (recovered)
        snprintf (rec, sizeof (rec), ", %lld recovered", (long long)recovered);
    snprintf (buf, len, "%lld/%lld %.1f%% | %lld processed, %lld skipped, "
              "%lld failed%s | %.1f/s | %s, ETA %s | %d running, %d lost",
              (long long)done, (long long)total,
              total ? 100.0 * (double)done / (double)total : 100.0,
              (long long)processed, (long long)skipped, (long long)failed,
              rec, rate, el, et, running, lost);
}

json_t *progress_read_status (const char *state_dir)
{
    char *path = jobs_sd_path (state_dir, JOBS_SD_STATUS);
    json_t *o = path ? json_load_file (path, 0, NULL) : NULL;
    free (path);
    if (o && !json_is_object (o)) {
        json_decref (o);
        o = NULL;
    }
    return o;
}

void progress_tick (progress_t *pg)
{
    if (!pg)
        return;
    live_t *lv = live_of (pg);
    double now = dr_now ();
    if (now - lv->last_status >= 1.0) {
        write_status (pg, "running");
        lv->last_status = now;
    }
    if (!lv->tty && lv->interval > 0 && now - lv->last_line >= lv->interval) {
        json_t *o = status_json (pg, "running");
        char line[512];
        progress_format_line (o, line, sizeof (line));
        json_decref (o);
        dr_log (LOG_INFO, "progress: %s", line);
        lv->last_line = now;
    }
}

void progress_end (progress_t *pg)
{
    if (!pg)
        return;
    write_status (pg, jobs_state_name (pg->cfg.job->state));
}

static live_t *live_create (progress_t *pg)
{
    live_t *lv = calloc (1, sizeof (*lv));
    if (!lv)
        return NULL;
    lv->w = calloc ((size_t)pg->cfg.size, sizeof (*lv->w));
    if (!lv->w) {
        free (lv);
        return NULL;
    }
    lv->t0 = lv->last_line = dr_now ();
    lv->last_status = lv->t0 - 2;   /* the first tick writes it */
    lv->interval = pg->cfg.o ? pg->cfg.o->progress_interval : 60;
    lv->tty = pg->cfg.o && pg->cfg.o->tty_line;
    lv->status_path = jobs_sd_path (pg->cfg.spec->state_dir, JOBS_SD_STATUS);
    lv->status_tmp = jobs_sd_path (pg->cfg.spec->state_dir,
                                   JOBS_SD_STATUS_TMP);
    return lv;
}

static void live_destroy (live_t *lv, int size)
{
    if (!lv)
        return;
    for (int r = 0; r < size; r++) {
        free (lv->w[r].held);
    }
    free (lv->w);
    free (lv->status_path);
    free (lv->status_tmp);
    free (lv);
}
