/* worker.c: a worker rank.  It holds a small local queue of datums (the one
 * running and one in reserve, so it never waits on rank 0 between datums),
 * runs each in a fresh sandbox, moves the outputs of a success into the
 * output folder and reports every attempt to rank 0.  It never blocks in
 * MPI (Open MPI's blocking receive spins): it sleeps in ppoll on the
 * child's pidfd, or with a short growing timeout when it has nothing to do.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <mpi.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "runner/container.h"
#include "runner/exec.h"
#include "runner/runner.h"

typedef struct pending_send {
    MPI_Request req;
    buf_t buf;
} pending_send_t;

typedef struct worker {
    run_opts_t *o;
    jobs_spec_t *spec;
    int rank;
    char job_id[33];
    exec_env_t base;
    bool have_base;
    char **cmd_argv;        /* transform.cmd with argv[0] resolved */
    char **err_argv;        /* err_cmd likewise, or NULL */
    /* State folder paths (jobs/statedir.h), set by setup_job. */
    char *stdin_path;       /* NULL when transform.stdin is empty */
    char *err_stdin_path;
    char *sbroot;
    char *logdir;
    char *inflight;

    wdatum_t *q;            /* ring of datums not yet started */
    size_t qhead, qlen, qcap;
    bool stop_received;

    /* the datum in progress */
    bool running;
    int phase;              /* 0: transform.cmd, 1: err_cmd */
    wdatum_t cur;
    exec_child_t child;
    char *sandbox;
    char idhex[33];
    double deadline;        /* datum timeout, 0 = none */
    double kill_at;         /* SIGKILL after SIGTERM, 0 = not yet */
    bool timed_out;
    bool cmd_timed_out;     /* transform.cmd (not err_cmd) timed out */
    bool stopped;           /* killed because the job is stopping */
    int cmd_status;
    int64_t start_ns;
    double start;

    pending_send_t *sends;
    size_t nsends, sends_cap;
} worker_t;

/* ------------------------------------------------------------ messages */

static void send_buf (worker_t *w, int tag, buf_t *b)
{
    if (w->nsends == w->sends_cap) {
        w->sends_cap = w->sends_cap ? 2 * w->sends_cap : 8;
        w->sends = realloc (w->sends, w->sends_cap * sizeof (*w->sends));
        if (!w->sends)
            abort ();
    }
    pending_send_t *s = &w->sends[w->nsends++];
    s->buf = *b;
    memset (b, 0, sizeof (*b));
    MPI_Isend (s->buf.data, (int)s->buf.len, MPI_BYTE, 0, tag,
               MPI_COMM_WORLD, &s->req);
}

/* Free the buffers of completed sends. */
static void progress_sends (worker_t *w)
{
    size_t j = 0;
    for (size_t i = 0; i < w->nsends; i++) {
        int done = 0;
        MPI_Test (&w->sends[i].req, &done, MPI_STATUS_IGNORE);
        if (done)
            buf_free (&w->sends[i].buf);
        else
            w->sends[j++] = w->sends[i];
    }
    w->nsends = j;
}

static void send_result (worker_t *w, const wresult_t *r)
{
    buf_t b = { 0 };
    wresult_pack (r, &b);
    send_buf (w, TAG_RESULT, &b);
}

static void queue_push (worker_t *w, wdatum_t *d)
{
    if (w->qlen == w->qcap) {
        size_t ncap = w->qcap ? 2 * w->qcap : 8;
        wdatum_t *n = malloc (ncap * sizeof (*n));
        if (!n)
            abort ();
        for (size_t i = 0; i < w->qlen; i++)
            n[i] = w->q[(w->qhead + i) % w->qcap];
        free (w->q);
        w->q = n;
        w->qcap = ncap;
        w->qhead = 0;
    }
    w->q[(w->qhead + w->qlen) % w->qcap] = *d;
    w->qlen++;
}

static bool queue_pop (worker_t *w, wdatum_t *d)
{
    if (!w->qlen)
        return false;
    *d = w->q[w->qhead];
    w->qhead = (w->qhead + 1) % w->qcap;
    w->qlen--;
    return true;
}

static int write_file (const char *path, char **lines)
{
    FILE *f = fopen (path, "w");
    if (!f)
        return -1;
    for (char **l = lines; l && *l; l++)
        fprintf (f, "%s\n", *l);
    return fclose (f);
}

/* A copy of argv whose first element is the resolved path (NULL when the
 * command is not found; the datums then fail saying so). */
static char **resolve_argv (const exec_env_t *env, char **argv,
                            bool in_image)
{
    size_t n = 0;
    while (argv[n])
        n++;
    char **v = calloc (n + 2, sizeof (char *));
    if (!v)
        abort ();
    /* In an image the command is the image's: the runtime finds it. */
    v[0] = in_image ? strdup (argv[0]) : exec_resolve (env, argv[0]);
    for (size_t i = 1; i < n; i++)
        v[i] = argv[i];
    if (!v[0])
        v[n] = NULL;
    return v;
}

static void free_argv (char **v)
{
    if (v) {
        free (v[0]);
        free (v);
    }
}

/* The first assignment tells the job ID: set up what depends on it. */
static int setup_job (worker_t *w, const char *job_id)
{
    const char *sd = w->spec->state_dir;
    dr_pathf (w->job_id, sizeof (w->job_id), "%s", job_id);
    if (!(w->sbroot = jobs_sd_rank_dir (sd, JOBS_SD_SANDBOX, w->rank))
        || !(w->sandbox = jobs_sd_sandbox (sd, w->rank))
        || !(w->logdir = jobs_sd_job_logdir (sd, job_id))
        || !(w->inflight = jobs_sd_rank_dir (sd, JOBS_SD_INFLIGHT, w->rank))) {
        dr_log (LOG_ERR, "out of memory");
        return -1;
    }
    /* A job killed with -9 leaves its sandbox as it was, outputs of the
     * datum it interrupted in pfs/out included: the reused sandbox must
     * not start with them (the next datum would take them as its own). */
    if (io_remove_tree (w->sbroot) < 0 || io_mkdirs (w->sbroot, 0755) < 0
        || io_mkdirs (w->logdir, 0755) < 0
        || io_mkdirs (w->inflight, 0755) < 0) {
        dr_log (LOG_ERR, "cannot create folders under %s: %s", sd,
                strerror (errno));
        return -1;
    }
    /* transform.stdin is the same for every datum: write it once. */
    if (w->spec->stdin_lines && w->spec->stdin_lines[0]) {
        if (!(w->stdin_path = jobs_sd_stdin_file (sd, w->rank, "stdin"))
            || write_file (w->stdin_path, w->spec->stdin_lines) < 0)
            return -1;
    }
    if (w->spec->err_stdin && w->spec->err_stdin[0]) {
        if (!(w->err_stdin_path = jobs_sd_stdin_file (sd, w->rank,
                                                       "err_stdin"))
            || write_file (w->err_stdin_path, w->spec->err_stdin) < 0)
            return -1;
    }
    exec_env_base (&w->base, w->spec, job_id);
    w->have_base = true;
    /* Resolve the commands once: a PATH search per datum costs failed
     * execs in every child. */
    bool in_image = w->o->container != NULL;
    w->cmd_argv = resolve_argv (&w->base, w->spec->cmd, in_image);
    if (w->spec->err_cmd)
        w->err_argv = resolve_argv (&w->base, w->spec->err_cmd, in_image);
    return 0;
}

static int handle_assign (worker_t *w, buf_t *b)
{
    char *job_id = buf_get_str (b);
    if (!w->have_base && setup_job (w, job_id) < 0) {
        free (job_id);
        return -1;
    }
    free (job_id);
    uint32_t n = buf_get_u32 (b);
    for (uint32_t i = 0; i < n && !b->bad; i++) {
        wdatum_t d = { 0 };
        d.didx = buf_get_u32 (b);
        d.attempt = buf_get_u32 (b);
        buf_get (b, d.id.b, 16);
        d.nentries = buf_get_u32 (b);
        if (b->bad || d.nentries > b->len)
            break;
        d.input = calloc (d.nentries + 1, sizeof (*d.input));
        d.path = calloc (d.nentries + 1, sizeof (*d.path));
        if (!d.input || !d.path)
            abort ();
        for (uint32_t j = 0; j < d.nentries; j++) {
            d.input[j] = buf_get_u32 (b);
            d.path[j] = buf_get_str (b);
        }
        d.join_key = buf_get_str (b);
        d.group_key = buf_get_str (b);
        queue_push (w, &d);
    }
    if (b->bad) {
        dr_log (LOG_ERR, "malformed assignment from rank 0");
        return -1;
    }
    return 0;
}

static int progress_recv (worker_t *w)
{
    for (;;) {
        int flag = 0;
        MPI_Message msg;
        MPI_Status st;
        MPI_Improbe (0, MPI_ANY_TAG, MPI_COMM_WORLD, &flag, &msg, &st);
        if (!flag)
            return 0;
        int count = 0;
        MPI_Get_count (&st, MPI_BYTE, &count);
        buf_t b = { 0 };
        b.cap = b.len = (size_t)count;
        b.data = malloc (count ? (size_t)count : 1);
        if (!b.data)
            abort ();
        MPI_Mrecv (b.data, count, MPI_BYTE, &msg, &st);
        int rc = 0;
        if (st.MPI_TAG == TAG_ASSIGN)
            rc = handle_assign (w, &b);
        else if (st.MPI_TAG == TAG_STOP) {
            /* A STOP while we still hold work means the job is stopping
             * (job_timeout): treat it as the stop signal. */
            if (w->running || w->qlen)
                runner_stop_requested = 1;
            w->stop_received = true;
        }
        buf_free (&b);
        if (rc < 0)
            return -1;
    }
}

/* ------------------------------------------------------------- datums */

static void result_init (worker_t *w, wresult_t *r, outcome_t oc)
{
    memset (r, 0, sizeof (*r));
    r->didx = w->cur.didx;
    r->attempt = w->cur.attempt;
    r->outcome = oc;
    r->start_ns = w->start_ns;
    r->duration_s = dr_now () - w->start;
}

/* The current datum's log: "out" or "err".  Caller frees. */
static char *log_path (worker_t *w, const char *stream)
{
    return jobs_sd_datum_log (w->spec->state_dir, w->job_id, w->idhex,
                              stream);
}

static void append_log (worker_t *w, const char *line)
{
    char *err = log_path (w, "err");
    FILE *f = err ? fopen (err, "a") : NULL;
    if (f) {
        fprintf (f, "datumrun: %s\n", line);
        fclose (f);
    }
    free (err);
}

static int spawn_phase (worker_t *w, dr_error_t *err)
{
    exec_env_t env = { 0 };
    char **argv = w->phase ? w->err_argv : w->cmd_argv;
    const char *in = w->phase ? w->err_stdin_path : w->stdin_path;
    if (!argv[0]) {
        const char *cmd = w->phase ? w->spec->err_cmd[0] : w->spec->cmd[0];
        append_log (w, "command not found in PATH");
        return dr_errprintf (err, "cannot run '%s': not found in PATH", cmd);
    }
    char *out = log_path (w, "out"), *errp = log_path (w, "err");
    if (!out || !errp) {
        free (out);
        free (errp);
        return dr_errprintf (err, "out of memory");
    }
    exec_env_datum (&env, &w->base, w->spec, w->sandbox, &w->cur);
    char **cargv = NULL, **cenv = NULL;
    int rc;
    if (w->o->container
        && container_wrap (w->o->container, w->spec, w->sandbox, env.v, argv,
                           &cargv, &cenv) < 0)
        rc = dr_errprintf (err, "out of memory");
    else
        rc = exec_spawn (&w->child, cargv ? cargv : argv,
                         cenv ? cenv : env.v, w->sandbox, in, out, errp, err);
    container_argv_free (cargv);
    container_argv_free (cenv);
    exec_env_datum_free (&env, &w->base);
    free (out);
    free (errp);
    if (rc == 0) {
        w->deadline = w->spec->datum_timeout > 0
                          ? dr_now () + w->spec->datum_timeout
                          : 0;
        w->kill_at = 0;
    }
    return rc;
}

static void finish_datum (worker_t *w, wresult_t *r)
{
    send_result (w, r);
    wresult_free (r);
    exec_sandbox_reset (w->sandbox, w->spec, &w->cur);
    wdatum_free (&w->cur);
    w->running = false;
}

static void start_next (worker_t *w)
{
    dr_error_t err = { { 0 } };
    if (!queue_pop (w, &w->cur))
        return;
    w->running = true;
    w->phase = 0;
    w->timed_out = w->cmd_timed_out = w->stopped = false;
    w->start = dr_now ();
    w->start_ns = dr_realtime_ns ();
    io_hash_hex (&w->cur.id, w->idhex);
    if (w->cur.attempt > 1) {
        char hdr[64];
        dr_pathf (hdr, sizeof (hdr), "---- attempt %u ----", w->cur.attempt);
        append_log (w, hdr);
    }
    if (exec_sandbox_create (w->sandbox, w->spec, &w->cur, &err) < 0
        || spawn_phase (w, &err) < 0) {
        wresult_t r;
        result_init (w, &r, OUT_FAILED);
        r.exit_status = 127;
        r.message = strdup (err.text);
        finish_datum (w, &r);
    }
}

/* Record the outputs about to be moved, so that a crash between the move
 * and rank 0's journal entry can be cleaned up by the next run. */
static int write_inflight (worker_t *w, const io_outlist_t *ol)
{
    char *path = jobs_sd_inflight_file (w->spec->state_dir, w->rank,
                                        w->idhex);
    FILE *f = path ? fopen (path, "w") : NULL;
    free (path);
    if (!f)
        return -1;
    for (size_t i = 0; i < ol->n; i++)
        fprintf (f, "%s%c", ol->paths[i], '\0');
    return fclose (f);
}

static void drop_inflight (worker_t *w)
{
    char *path = jobs_sd_inflight_file (w->spec->state_dir, w->rank,
                                        w->idhex);
    if (path)
        unlink (path);
    free (path);
}

static void on_success (worker_t *w)
{
    wresult_t r;
    dr_error_t err = { { 0 } };
    char outdir[4200];
    result_init (w, &r, OUT_SUCCESS);
    dr_pathf (outdir, sizeof (outdir), "%s/pfs/out", w->sandbox);
    if (io_outlist_scan (outdir, &r.outs, &err) < 0) {
        r.outcome = OUT_ERROR;
        r.message = strdup (err.text);
        finish_datum (w, &r);
        return;
    }
    r.bytes_out = r.outs.bytes;
    if (r.outs.n) {
        char *collision = NULL;
        if (write_inflight (w, &r.outs) < 0) {
            r.outcome = OUT_ERROR;
            if (asprintf (&r.message, "cannot record outputs in %s: %s",
                          w->inflight, strerror (errno)) < 0)
                r.message = NULL;
        }
        else if (io_outlist_move (&r.outs, outdir, w->spec->output,
                                  &collision, &err) < 0) {
            drop_inflight (w);
            if (collision) {
                r.outcome = OUT_COLLISION;
                r.message = collision;
            }
            else {
                r.outcome = OUT_ERROR;
                r.message = strdup (err.text);
            }
            io_outlist_free (&r.outs);
            r.bytes_out = 0;
        }
    }
    finish_datum (w, &r);
}

static void on_exit_status (worker_t *w, int status)
{
    bool ok = WIFEXITED (status) && WEXITSTATUS (status) == 0
              && !w->timed_out;
    if (w->phase == 0) {
        w->cmd_status = status;
        w->cmd_timed_out = w->timed_out;
        if (ok) {
            on_success (w);
            return;
        }
        if (w->timed_out)
            append_log (w, "datum timed out: killed");
        if (!w->stopped && w->spec->err_cmd
            && w->cur.attempt >= (uint32_t)w->spec->datum_tries) {
            /* The last try failed: err_cmd may still recover it. */
            dr_error_t err;
            w->phase = 1;
            w->timed_out = false;
            if (spawn_phase (w, &err) == 0)
                return;
        }
    }
    wresult_t r;
    int cs = w->cmd_status;
    result_init (w, &r, w->stopped ? OUT_RETURNED : OUT_FAILED);
    if (w->phase == 1 && ok && !w->stopped)
        r.outcome = OUT_RECOVERED;
    r.exit_status = WIFEXITED (cs) ? WEXITSTATUS (cs) : -1;
    r.term_signal = WIFSIGNALED (cs) ? WTERMSIG (cs) : 0;
    if (w->cmd_timed_out)
        r.message = strdup ("timed out");
    finish_datum (w, &r);
}

/* Give back the datums we hold but have not started. */
static void return_queued (worker_t *w)
{
    wdatum_t d;
    while (queue_pop (w, &d)) {
        wresult_t r = { .didx = d.didx, .attempt = d.attempt,
                        .outcome = OUT_RETURNED };
        send_result (w, &r);
        wdatum_free (&d);
    }
}

int runner_worker (run_opts_t *o, jobs_spec_t *spec, int rank)
{
    worker_t w = { .o = o, .spec = spec, .rank = rank };
    double backoff = 50e-6, stop_deadline = 0;
    int rc = 0;

    for (;;) {
        if (progress_recv (&w) < 0) {
            rc = -1;
            break;
        }
        progress_sends (&w);
        if (runner_stop_requested && !stop_deadline) {
            /* Stop: nothing new starts; the running datum gets the grace
             * period, then it is killed and handed back. */
            stop_deadline = dr_now () + o->grace;
            return_queued (&w);
        }
        if (stop_deadline && w.qlen)
            return_queued (&w);
        if (w.running) {
            int status;
            if (exec_poll (&w.child, &status)) {
                on_exit_status (&w, status);
                backoff = 50e-6;
                continue;
            }
            double now = dr_now ();
            if (!w.kill_at && ((w.deadline && now >= w.deadline)
                               || (stop_deadline && now >= stop_deadline))) {
                if (stop_deadline && now >= stop_deadline)
                    w.stopped = true;
                else
                    w.timed_out = true;
                exec_kill (&w.child, SIGTERM);
                w.kill_at = now + 2.0;
            }
            else if (w.kill_at && now >= w.kill_at) {
                exec_kill (&w.child, SIGKILL);
                w.kill_at = now + 1.0;
            }
            double t = 0.02;
            if (w.deadline && w.deadline - now < t)
                t = w.deadline - now;
            if (w.kill_at && w.kill_at - now < t)
                t = w.kill_at - now;
            exec_wait (&w.child, t > 0 ? t : 0);
            continue;
        }
        if (!stop_deadline && w.qlen) {
            start_next (&w);
            backoff = 50e-6;
            continue;
        }
        if (w.stop_received && w.nsends == 0)
            break;
        runner_idle_wait (-1, backoff);
        if (backoff < 5e-3)
            backoff *= 2;
    }
    /* Everything reported is in rank 0's journal now. */
    if (w.inflight)
        io_remove_tree (w.inflight);
    if (w.sbroot) {
        io_remove_tree (w.sbroot);
        if (w.stdin_path)
            unlink (w.stdin_path);
        if (w.err_stdin_path)
            unlink (w.err_stdin_path);
    }
    while (w.nsends) {
        progress_sends (&w);
        if (w.nsends)
            runner_idle_wait (-1, 1e-3);
    }
    free (w.sends);
    wdatum_t d;
    while (queue_pop (&w, &d))
        wdatum_free (&d);
    free (w.q);
    exec_env_free (&w.base);
    free (w.stdin_path);
    free (w.err_stdin_path);
    free (w.sbroot);
    free (w.sandbox);
    free (w.logdir);
    free (w.inflight);
    free_argv (w.cmd_argv);
    free_argv (w.err_argv);
    return rc;
}
