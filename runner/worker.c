/* worker.c: a worker rank.  It holds a small local queue of datums (the one
 * running and one in reserve, so it never waits on rank 0 between datums),
 * runs each in a fresh sandbox through an executor (executor.h: one
 * process per datum, or a batched command), moves the outputs of a success
 * into the output folder and reports every attempt to rank 0, with a
 * heartbeat when it has nothing else to say.  It never blocks in MPI (Open
 * MPI's blocking receive spins): it sleeps in the executor's wait, or with
 * a short growing timeout when it has nothing to do.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <time.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "runner/container.h"
#include "runner/exec.h"
#include "runner/executor.h"
#include "runner/proto.h"
#include "runner/runner.h"
#include "runner/sandbox.h"

typedef struct worker {
    run_opts_t *o;
    jobs_spec_t *spec;
    proto_t *proto;
    int rank;
    char job_id[33];
    exec_env_t base;
    bool have_base;         /* setup_job succeeded */
    /* Why setup_job could not make the job's folders (a full disk, a
     * scratch folder that cannot hold one): every datum is reported with
     * it rather than the worker going silent.  Tried again at the next
     * assignment. */
    dr_error_t setup_err;
    int setup_errno;
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

    executor_t *x;          /* runs transform.cmd */
    executor_t *xerr;       /* runs err_cmd (one process per datum) */

    /* the datum in progress */
    bool running;
    executor_t *run;        /* x or xerr, running for cur */
    wdatum_t cur;
    exec_env_t env;         /* cur's environment, while it runs */
    exec_task_t task;
    char *outp, *errp;      /* cur's log files, while it runs */
    char **cargv, **cenv;   /* its container command line, or NULL */
    char *sandbox;
    sandbox_t *sb;          /* opened with the first datum */
    char *scratch_job;      /* <scratch>/datumrun-<job id>, or NULL */
    char idhex[33];
    double deadline;        /* datum timeout, 0 = none */
    double kill_at;         /* SIGKILL after SIGTERM, 0 = not yet */
    bool timed_out;
    bool cmd_timed_out;     /* transform.cmd (not err_cmd) timed out */
    bool stopped;           /* killed because the job is stopping */
    int cmd_status;
    bool cmd_no_space;      /* the executor found a full disk */
    unsigned out_slot;      /* where cur's outputs are (window slot) */
    bool window_open;       /* the command holds datums after cur */
    bool window_ok;         /* datums may be handed ahead (start_cmd) */
    char cmd_message[256];  /* the executor's reason, or "" */
    int64_t start_ns;
    double start;

    double last_sent;       /* dr_now() of our last message */
    double last_heard;      /* dr_now() of rank 0's last message to us */
    double last_loop;       /* dr_now() of the last progress_sends */
    buf_t results;          /* batched mode: results not yet sent */
    size_t nresults;
    double results_since;   /* dr_now() of the oldest of them */
    bool rank0_lost;
} worker_t;

/* ------------------------------------------------------------ messages */

static void send_msg (worker_t *w, proto_tag_t tag, buf_t *b)
{
    dr_error_t err = { { 0 } };
    if (w->rank0_lost) {
        buf_free (b);
        return;
    }
    if (proto_send (w->proto, 0, tag, b, &err) < 0) {
        dr_log (LOG_ERR, "%s; rank 0 is lost, leaving", err.text);
        w->rank0_lost = true;
    }
    w->last_sent = dr_now ();
}

/* Batched datums end tens of thousands of times a second: their results
 * go to rank 0 several to a message (rank 0 reads them in order), sent
 * when the worker is about to run dry, after 64, or 2 ms after the oldest,
 * so that rank 0 handles a message per chunk, not per datum. */
static void flush_results (worker_t *w)
{
    if (!w->nresults)
        return;
    buf_t b = w->results;
    memset (&w->results, 0, sizeof (w->results));
    w->nresults = 0;
    send_msg (w, PROTO_RESULT, &b);
}

/* Test hook (docs/cluster.md): DATUMRUN_TEST_MPI_FAULT=RANK makes that
 * worker send, after its first result, a message over the wire
 * protocol's size limit, which rank 0's checked receive refuses: the
 * worker is lost for a failed communication. */
static void maybe_fault (worker_t *w)
{
    static bool done;
    const char *e = getenv ("DATUMRUN_TEST_MPI_FAULT");
    if (done || !e || atoi (e) != w->rank)
        return;
    done = true;
    buf_t b = { 0 };
    size_t n = PROTO_FAULT_MESSAGE + 1;
    if (!(b.data = calloc (1, n)))
        abort ();
    b.len = b.cap = n;
    dr_log (LOG_WARN, "test hook DATUMRUN_TEST_MPI_FAULT: sending rank 0 a "
            "%zu-byte message", n);
    send_msg (w, PROTO_HEARTBEAT, &b);
}

static void send_result (worker_t *w, const wresult_t *r)
{
    if (!w->spec->datum_batching) {
        buf_t b = { 0 };
        proto_result_pack (r, &b);
        send_msg (w, PROTO_RESULT, &b);
        maybe_fault (w);
        return;
    }
    if (!w->nresults++)
        w->results_since = dr_now ();
    proto_result_pack (r, &w->results);
    if (w->nresults >= 64 || w->qlen <= 1)
        flush_results (w);
}

/* Complete our sends; say we are alive when we said nothing for a
 * heartbeat period (rank 0 declares a silent worker lost). */
static void progress_sends (worker_t *w)
{
    dr_error_t err = { { 0 } };
    int failed;
    if (!w->rank0_lost && proto_progress (w->proto, &failed, &err) < 0) {
        dr_log (LOG_ERR, "%s; rank 0 is lost, leaving", err.text);
        w->rank0_lost = true;
    }
    if (w->nresults && (w->qlen <= 1 || dr_now () - w->results_since > 2e-3))
        flush_results (w);
    if (!w->rank0_lost && !w->stop_received
        && dr_now () - w->last_sent >= w->spec->worker_heartbeat)
        send_msg (w, PROTO_HEARTBEAT, NULL);
    /* Rank 0 sends us a heartbeat at least every worker_heartbeat once it
     * has started dispatching (before that it plans, for as long as that
     * takes).  Silence for worker_timeout means it is gone: nothing else
     * would tell us (a killed rank 0, or its node crashed). */
    /* Time this worker was not listening (stopped with its whole job and
     * resumed, or busy moving a large output) is not rank 0's silence. */
    double now = dr_now ();
    if (w->last_loop > 0 && now - w->last_loop > 2.0 && w->last_heard > 0)
        w->last_heard += now - w->last_loop;
    w->last_loop = now;
    if (!w->rank0_lost && !w->stop_received && w->last_heard > 0
        && w->spec->worker_timeout > 0
        && dr_now () - w->last_heard > w->spec->worker_timeout) {
        dr_log (LOG_ERR, "rank 0 sent nothing for %.0fs (worker_timeout): "
                "it is lost; leaving (what it recorded stays, the next run "
                "does the rest)", dr_now () - w->last_heard);
        w->rank0_lost = true;
    }
    keeper_tick ();
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

/* The first assignment tells the job ID: set up what depends on it.
 * Returns 0, 1 when a folder or file could not be made (w->setup_err
 * says why; the datums are reported as such), or -1 when out of memory. */
static int setup_job (worker_t *w, const char *job_id)
{
    const char *sd = w->spec->state_dir;
    /* An earlier try may have left paths: start afresh. */
    free (w->sbroot);
    free (w->scratch_job);
    free (w->sandbox);
    free (w->logdir);
    free (w->inflight);
    free (w->stdin_path);
    free (w->err_stdin_path);
    w->sbroot = w->scratch_job = w->sandbox = w->logdir = w->inflight = NULL;
    w->stdin_path = w->err_stdin_path = NULL;
    dr_pathf (w->job_id, sizeof (w->job_id), "%s", job_id);
    const char *where = "none";
    const char *scratch = runner_scratch_dir (w->o, w->spec, &where);
    if (scratch) {
        if (runner_scratch_paths (scratch, job_id, w->rank, &w->sbroot,
                                  &w->sandbox) < 0) {
            dr_log (LOG_ERR, "out of memory");
            return -1;
        }
        w->scratch_job = strndup (w->sbroot, strrchr (w->sbroot, '/')
                                                 - w->sbroot);
        dr_log (LOG_DEBUG, "sandbox in scratch %s (from %s)", w->sandbox,
                where);
        if (!w->scratch_job) {
            dr_log (LOG_ERR, "out of memory");
            return -1;
        }
        if (runner_scratch_claim (w->scratch_job, sd) < 0) {
            /* Reported with each datum, as below. */
            w->setup_errno = errno ? errno : ENOMEM;
            dr_path_error (&w->setup_err, "cannot create", w->scratch_job,
                           w->setup_errno);
            dr_log (LOG_ERR, "%s", w->setup_err.text);
            return 1;
        }
    }
    if ((!w->sbroot
         && !(w->sbroot = jobs_sd_rank_dir (sd, JOBS_SD_SANDBOX, w->rank)))
        || (!w->sandbox && !(w->sandbox = jobs_sd_sandbox (sd, w->rank)))
        || !(w->logdir = jobs_sd_job_logdir (sd, job_id))
        || !(w->inflight = jobs_sd_rank_dir (sd, JOBS_SD_INFLIGHT, w->rank))) {
        dr_log (LOG_ERR, "out of memory");
        return -1;
    }
    /* A job killed with -9 leaves its sandbox as it was, outputs of the
     * datum it interrupted in pfs/out included: the reused sandbox must
     * not start with them (the next datum would take them as its own). */
    const char *bad = NULL, *doing = "cannot create";
    if (io_remove_tree (w->sbroot) < 0 || io_mkdirs (w->sbroot, 0755) < 0)
        bad = w->sbroot;
    else if (io_mkdirs (w->logdir, 0755) < 0)
        bad = w->logdir;
    else if (io_mkdirs (w->inflight, 0755) < 0)
        bad = w->inflight;
    /* transform.stdin is the same for every datum: write it once. */
    if (!bad && w->spec->stdin_lines && w->spec->stdin_lines[0]) {
        if (!(w->stdin_path = jobs_sd_stdin_file (sd, w->rank, "stdin")))
            return -1;
        if (write_file (w->stdin_path, w->spec->stdin_lines) < 0)
            bad = w->stdin_path, doing = "cannot write";
    }
    if (!bad && w->spec->err_stdin && w->spec->err_stdin[0]) {
        if (!(w->err_stdin_path = jobs_sd_stdin_file (sd, w->rank,
                                                       "err_stdin")))
            return -1;
        if (write_file (w->err_stdin_path, w->spec->err_stdin) < 0)
            bad = w->err_stdin_path, doing = "cannot write";
    }
    if (bad) {
        w->setup_errno = errno;
        dr_path_error (&w->setup_err, doing, bad, w->setup_errno);
        dr_log (LOG_ERR, "%s", w->setup_err.text);
        return 1;
    }
    w->setup_errno = 0;
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
    char job_id[33];
    wdatum_t *v;
    size_t n;
    if (proto_assign_unpack (b, job_id, &v, &n) < 0) {
        dr_log (LOG_ERR, "malformed assignment from rank 0");
        return -1;
    }
    if (!w->have_base && setup_job (w, job_id) < 0) {
        for (size_t i = 0; i < n; i++)
            wdatum_free (&v[i]);
        free (v);
        return -1;
    }
    for (size_t i = 0; i < n; i++)
        queue_push (w, &v[i]);
    free (v);
    return 0;
}

static int progress_recv (worker_t *w)
{
    dr_error_t err = { { 0 } };
    while (!w->rank0_lost) {
        proto_msg_t m;
        int rc = proto_recv (w->proto, 0, &m, &err);
        if (rc < 0) {
            dr_log (LOG_ERR, "%s; rank 0 is lost, leaving", err.text);
            w->rank0_lost = true;
            break;
        }
        if (rc == 0)
            break;
        w->last_heard = dr_now ();
        if (m.tag == PROTO_ASSIGN)
            rc = handle_assign (w, &m.body);
        else if (m.tag == PROTO_STOP) {
            /* A STOP while we still hold work means the job is stopping
             * (job_timeout): treat it as the stop signal. */
            if (w->running || w->qlen)
                runner_stop_requested = 1;
            if (proto_stop_unpack (&m.body) & PROTO_STOP_ABANDON)
                proto_abandon (w->proto);
            w->stop_received = true;
        }
        buf_free (&m.body);
        if (rc < 0)
            return -1;
    }
    return 0;
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

/* Run transform.cmd (x == w->x) or err_cmd (x == w->xerr) for cur. */
/* Later attempts of a datum in the same job append to its logs: a marker
 * line in both files lets `datumrun logs --attempt N` find each one. */
static void mark_attempt (worker_t *w)
{
    for (int i = 0; i < 2; i++) {
        char *path = log_path (w, i ? "err" : "out");
        FILE *f = path ? fopen (path, "a") : NULL;
        if (f) {
            fprintf (f, "datumrun: ---- attempt %u ----\n", w->cur.attempt);
            fclose (f);
        }
        free (path);
    }
}

/* The batched executor links the datum's entries when it hands the datum
 * to the command, as the command's request says ("next paths": none). */
static int prepare_links (void *arg, bool links, dr_error_t *err)
{
    worker_t *w = arg;
    return sandbox_enter (w->sb, &w->cur, links, err);
}

/* A batched command's window: the datums after cur in our queue, and
 * the output folder of each. */
static const wdatum_t *upcoming_datum (void *arg, size_t i)
{
    worker_t *w = arg;
    return i < w->qlen ? &w->q[(w->qhead + i) % w->qcap] : NULL;
}

static const char *window_out_dir (void *arg, unsigned slot,
                                   dr_error_t *err)
{
    worker_t *w = arg;
    return sandbox_out_dir (w->sb, slot, err);
}

static int start_cmd (worker_t *w, executor_t *x, dr_error_t *err)
{
    bool is_err = x == w->xerr;
    bool lazy = !is_err && w->spec->datum_batching;
    char **argv = is_err ? w->err_argv : w->cmd_argv;
    const char *in = is_err ? w->err_stdin_path : w->stdin_path;
    if (!argv[0]) {
        const char *cmd = is_err ? w->spec->err_cmd[0] : w->spec->cmd[0];
        append_log (w, "command not found in PATH");
        return dr_errprintf (err, "cannot run '%s': not found in PATH", cmd);
    }
    /* Fork mode, and err_cmd in either: the links before the start. */
    if (!lazy && sandbox_enter (w->sb, &w->cur, true, err) < 0)
        return -1;
    free (w->outp);
    free (w->errp);
    w->outp = log_path (w, "out");
    w->errp = log_path (w, "err");
    if (!w->outp || !w->errp)
        return dr_errprintf (err, "out of memory");
    if (w->env.v)
        exec_env_datum_free (&w->env, &w->base);
    container_argv_free (w->cargv);
    container_argv_free (w->cenv);
    w->cargv = w->cenv = NULL;
    exec_env_datum (&w->env, &w->base, w->spec, w->sandbox, &w->cur);
    if (w->o->container
        && container_wrap (w->o->container, w->spec, w->sandbox, w->env.v,
                           argv, &w->cargv, &w->cenv) < 0)
        return dr_errprintf (err, "out of memory");
    w->task = (exec_task_t){
        .datum = &w->cur,
        .argv = w->cargv ? w->cargv : argv,
        .envp = w->cenv ? w->cenv : w->env.v,
        .vars = w->env.v + w->base.n,
        .cwd = w->sandbox,
        .stdin_path = in,
        .out_path = w->outp,
        .err_path = w->errp,
        .log_limit = w->o->log_limit,
        .prepare = lazy ? prepare_links : NULL,
        .prepare_arg = w,
        .upcoming = lazy && w->window_ok ? upcoming_datum : NULL,
        .out_dir = lazy && w->window_ok ? window_out_dir : NULL,
    };
    if (executor_start (x, &w->task, err) < 0)
        return -1;
    w->run = x;
    w->deadline = w->spec->datum_timeout > 0
                      ? dr_now () + w->spec->datum_timeout
                      : 0;
    w->kill_at = 0;
    return 0;
}

static void finish_datum (worker_t *w, wresult_t *r)
{
    send_result (w, r);
    wresult_free (r);
    if (w->sb && w->window_open)
        sandbox_leave_slot (w->sb, w->out_slot);
    else if (w->sb)
        sandbox_leave (w->sb, &w->cur);
    w->window_open = false;
    w->out_slot = 0;
    wdatum_free (&w->cur);
    if (w->env.v)
        exec_env_datum_free (&w->env, &w->base);
    container_argv_free (w->cargv);
    container_argv_free (w->cenv);
    w->cargv = w->cenv = NULL;
    w->running = false;
    w->run = NULL;
}

static bool no_space (int e)
{
    return e == ENOSPC || e == EDQUOT;
}

static void start_next (worker_t *w)
{
    dr_error_t err = { { 0 } };
    if (!queue_pop (w, &w->cur))
        return;
    w->running = true;
    w->run = NULL;
    w->timed_out = w->cmd_timed_out = w->stopped = false;
    w->start = dr_now ();
    w->start_ns = dr_realtime_ns ();
    io_hash_hex (&w->cur.id, w->idhex);
    if (!w->have_base) {
        /* The job's folders could not be made (setup_job): a full disk
         * stops the job (OUT_NOSPACE); anything else fails the datum,
         * saying why, and the worker goes on. */
        wresult_t r;
        result_init (w, &r, no_space (w->setup_errno) ? OUT_NOSPACE
                                                      : OUT_ERROR);
        r.exit_status = 127;
        r.message = strdup (w->setup_err.text);
        finish_datum (w, &r);
        return;
    }
    if (w->cur.attempt > 1)
        mark_attempt (w);
    if (!w->sb && !(w->sb = sandbox_open (w->sandbox, w->spec, &err))) {
        /* A full disk under the state or scratch folder is not the
         * datum's failure: say so, and rank 0 stops the job. */
        wresult_t r;
        result_init (w, &r, no_space (errno) ? OUT_NOSPACE : OUT_FAILED);
        r.exit_status = 127;
        r.message = strdup (err.text);
        finish_datum (w, &r);
    }
    else {
        if (start_cmd (w, w->x, &err) < 0) {
            wresult_t r;
            result_init (w, &r, no_space (errno) ? OUT_NOSPACE : OUT_FAILED);
            r.exit_status = 127;
            r.message = strdup (err.text);
            finish_datum (w, &r);
        }
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
    result_init (w, &r, OUT_SUCCESS);
    /* Most datums of a batch of tiny ones write nothing: one read of the
     * folder says so. */
    if (sandbox_out_empty (w->sb, w->out_slot) == 1) {
        finish_datum (w, &r);
        return;
    }
    /* The sandbox's own string, kept until it closes. */
    const char *outdir = sandbox_out_dir (w->sb, w->out_slot, &err);
    if (!outdir || io_outlist_scan (outdir, &r.outs, &err) < 0) {
        r.outcome = OUT_ERROR;
        r.message = strdup (err.text);
        finish_datum (w, &r);
        return;
    }
    r.bytes_out = r.outs.bytes;
    if (r.outs.n) {
        char *collision = NULL;
        if (write_inflight (w, &r.outs) < 0) {
            int e = errno;
            r.outcome = no_space (e) ? OUT_NOSPACE : OUT_ERROR;
            if (asprintf (&r.message, "%s: cannot record outputs in %s",
                          strerror (e), w->inflight) < 0)
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
                r.outcome = no_space (errno) ? OUT_NOSPACE : OUT_ERROR;
                r.message = strdup (err.text);
            }
            io_outlist_free (&r.outs);
            r.bytes_out = 0;
        }
    }
    finish_datum (w, &r);
}

/* Whether a command ended by a signal a job's stop sends (or exited as
 * a shell does when its child did: 128 + the signal). */
static bool stop_signal_status (int status)
{
    int sig = WIFSIGNALED (status) ? WTERMSIG (status)
              : WIFEXITED (status) && WEXITSTATUS (status) > 128
                  ? WEXITSTATUS (status) - 128
                  : 0;
    return sig == SIGTERM || sig == SIGINT || sig == SIGHUP;
}

/* A command that died of SIGTERM we did not send: under Slurm, `scancel
 * --signal=TERM` (and the time limit) signals every process of the step
 * at once, the command as well as this worker.  If our own stop follows
 * within a second, the datum was cut short by the job's stop: it is
 * interrupted, not a failed attempt. */
static bool stopped_with_job (void)
{
    for (int i = 0; i < 100 && !runner_stop_requested; i++) {
        struct timespec ts = { 0, 10 * 1000 * 1000 };
        nanosleep (&ts, NULL);
    }
    return runner_stop_requested;
}

static void on_exit_status (worker_t *w, int status, const char *message,
                            bool no_space_found)
{
    bool ok = WIFEXITED (status) && WEXITSTATUS (status) == 0
              && !w->timed_out;
    bool was_cmd = w->run == w->x;
    if (!ok && !w->stopped && !w->timed_out && stop_signal_status (status)
        && stopped_with_job ())
        w->stopped = true;
    if (was_cmd) {
        w->cmd_status = status;
        w->cmd_timed_out = w->timed_out;
        w->cmd_no_space = no_space_found;
        snprintf (w->cmd_message, sizeof (w->cmd_message), "%s", message);
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
            w->timed_out = false;
            if (start_cmd (w, w->xerr, &err) == 0)
                return;
        }
    }
    wresult_t r;
    int cs = w->cmd_status;
    result_init (w, &r, w->stopped ? OUT_INTERRUPTED : OUT_FAILED);
    if (!was_cmd && ok && !w->stopped)
        r.outcome = OUT_RECOVERED;
    else if (w->cmd_no_space && !w->stopped)
        r.outcome = OUT_NOSPACE;
    r.exit_status = WIFEXITED (cs) ? WEXITSTATUS (cs) : -1;
    r.term_signal = WIFSIGNALED (cs) ? WTERMSIG (cs) : 0;
    if (w->cmd_timed_out)
        r.message = strdup ("timed out");
    else if (w->cmd_message[0])
        r.message = strdup (w->cmd_message);
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

int runner_worker (run_opts_t *o, jobs_spec_t *spec, proto_t *proto,
                   int rank)
{
    worker_t w = { .o = o, .spec = spec, .proto = proto, .rank = rank };
    double backoff = 50e-6, stop_deadline = 0;
    int rc = 0;

    /* A window hands datums ahead with their own output folders: not
     * where an input is staged in pfs/<input> per datum (empty_files),
     * err_cmd may need the links, or an image maps the paths. */
    w.window_ok = spec->datum_batching && !spec->err_cmd && !o->container;
    for (size_t i = 0; i < spec->npfs; i++)
        if (spec->pfs[i]->empty_files)
            w.window_ok = false;
    w.x = spec->datum_batching ? executor_batch_create (spec, &w.base)
                               : executor_fork_create ();
    w.xerr = executor_fork_create ();
    if (!w.x || !w.xerr)
        abort ();
    /* What a command starts with setsid or nohup is reparented to us, to
     * be killed when its datum ends; the keeper kills the commands if we
     * die. */
    if (prctl (PR_SET_CHILD_SUBREAPER, 1) < 0)
        dr_log (LOG_WARN, "cannot become a child subreaper (%s): children "
                "a command detaches may outlive its datum", strerror (errno));
    dr_error_t kerr = { { 0 } };
    if (keeper_start (spec->worker_timeout, &kerr) < 0)
        dr_log (LOG_WARN, "%s: a command may outlive this worker if it is "
                "killed", kerr.text);
    w.last_sent = dr_now ();
    for (;;) {
        if (progress_recv (&w) < 0) {
            rc = -1;
            break;
        }
        progress_sends (&w);
        if (w.rank0_lost) {
            /* Nobody would record what we do: stop at once. */
            if (w.running)
                executor_kill (w.run, SIGKILL);
            proto_abandon (proto);
            rc = -1;
            break;
        }
        if (runner_stop_requested && !stop_deadline) {
            /* Stop: nothing new starts; the running datum gets the grace
             * period, then it is killed and handed back.  Rank 0 hears it
             * first, so that it sends nothing more (the signal may have
             * reached this worker alone). */
            if (!w.stop_received)
                send_msg (&w, PROTO_BYE, NULL);
            stop_deadline = dr_now () + o->grace;
            return_queued (&w);
        }
        if (stop_deadline && w.qlen)
            return_queued (&w);
        if (w.running) {
            exec_status_t st = { .message = "" };
            if (executor_poll (w.run, &st)) {
                w.out_slot = st.out_slot;
                w.window_open = st.window_open;
                on_exit_status (&w, st.status, st.message, st.no_space);
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
                executor_kill (w.run, SIGTERM);
                w.kill_at = now + 2.0;
            }
            else if (w.kill_at && now >= w.kill_at) {
                executor_kill (w.run, SIGKILL);
                w.kill_at = now + 1.0;
            }
            double t = 0.02;
            if (w.deadline && w.deadline - now < t)
                t = w.deadline - now;
            /* Results held for a batch go within 2 ms (progress_sends),
             * not at the end of a long datum: rank 0 refills our reserve
             * when it has them. */
            if (w.nresults && w.results_since + 2e-3 - now < t)
                t = w.results_since + 2e-3 - now;
            if (w.kill_at && w.kill_at - now < t)
                t = w.kill_at - now;
            executor_wait (w.run, t > 0 ? t : 0);
            continue;
        }
        if (!stop_deadline && w.qlen) {
            start_next (&w);
            backoff = 50e-6;
            continue;
        }
        if (w.stop_received && proto_pending (proto) == 0)
            break;
        /* Nothing to run: rank 0's next chunk is on its way (or the job
         * ends).  MPI gives no descriptor to wait on, so look often: a
         * worker that sleeps long here starts its next datum late. */
        runner_idle_wait (-1, backoff);
        if (backoff < 1e-3)
            backoff *= 2;
    }
    flush_results (&w);
    executor_destroy (w.x);
    executor_destroy (w.xerr);
    exec_reap_orphans ();
    keeper_stop ();
    /* The inflight list goes when rank 0 has journaled our results
     * (coord.c, at the end of the job): not here, since a result rank 0
     * could not record (a full disk) still needs it. */
    sandbox_close (w.sb);
    if (w.sbroot) {
        io_remove_tree (w.sbroot);
        /* The job's scratch folder goes with its last worker. */
        if (w.scratch_job)
            runner_scratch_release (w.scratch_job);
        if (w.stdin_path)
            unlink (w.stdin_path);
        if (w.err_stdin_path)
            unlink (w.err_stdin_path);
    }
    double until = dr_now () + 10.0;
    while (!w.rank0_lost && proto_pending (proto) && dr_now () < until) {
        progress_sends (&w);
        if (proto_pending (proto))
            runner_idle_wait (-1, 1e-3);
    }
    if (w.running)
        wdatum_free (&w.cur);
    if (w.env.v)
        exec_env_datum_free (&w.env, &w.base);
    wdatum_t d;
    while (queue_pop (&w, &d))
        wdatum_free (&d);
    free (w.q);
    exec_env_free (&w.base);
    free (w.stdin_path);
    free (w.err_stdin_path);
    free (w.sbroot);
    free (w.scratch_job);
    free (w.sandbox);
    free (w.outp);
    free (w.errp);
    container_argv_free (w.cargv);
    container_argv_free (w.cenv);
    free (w.logdir);
    free (w.inflight);
    free_argv (w.cmd_argv);
    free_argv (w.err_argv);
    return rc;
}
