/* exec_batch.c: the batched executor (executor.h) of
 * `transform.datum_batching`.  The command starts once, in the worker's
 * sandbox, and is fed datum after datum over the batching protocol
 * (batch_server.h, docs/batching.md); each datum still starts, ends,
 * fails, times out and logs on its own, as a fork-per-datum child would.
 *
 * The worker sets up the sandbox before start() and moves the outputs and
 * resets the sandbox after poll() has reported the end, exactly as in
 * fork mode: the command's "next" simply waits for the next start().
 *
 * Per datum:
 *   start()   spawn the command if none runs (or it died), point its
 *             stdout/stderr at this datum's logs, and answer its pending
 *             "next" with the datum's record (or wait for that "next");
 *   poll()    "done ok" ends the datum with status 0, "done fail MSG" with
 *             exit 1 and MSG in its log; the command's death while it
 *             holds the datum ends it with the wait status (a clean exit
 *             then counts as a failure); a command that exits between
 *             datums is started again, once, for the datum at hand;
 *   kill()    signal the command's process group: a timeout or a stop
 *             kills the command, and the next start() runs a fresh one.
 * Output the command writes between datums stays in its pipes and goes to
 * the next datum's log; output before a "done" goes to that datum's.
 * A window ("next paths window=N"): the record of the datum at hand goes
 * with those of the datums queued behind it (task->upcoming), each with
 * its own output folder (task->out_dir); ahead[] remembers them in order,
 * and the start() of the next of them only makes it current.  A start()
 * of any other datum ends the command (its window was given back).
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "runner/batch_server.h"
#include "runner/exec.h"
#include "runner/executor.h"

typedef struct batch_exec {
    executor_t base;
    const jobs_spec_t *spec;
    const exec_env_t *env;      /* the base environment of every datum */
    char **cmd_env;             /* env's strings + DATUMRUN_BATCH_FD */
    char *fd_var;

    batch_server_t *srv;        /* NULL while no command runs */
    exec_child_t child;
    bool alive;                 /* the command runs */
    bool asked;                 /* it sent "next" and waits for a record */
    bool fresh;                 /* started for the current datum */
    bool killed;                /* kill() was called for this datum */
    bool paths;                 /* its last "next" said "paths": it reads
                                   inputs by the record's paths, no links */

    const exec_task_t *task;    /* the current datum, or NULL */
    bool handed;                /* its record was sent */
    bool prepared;              /* task->prepare was called */
    double start;
    bool ended;
    exec_status_t result;
    int ndatums;                /* handed to this command instance */
    /* The window (docs/batching.md): what the command's last "next"
     * asked for (window=N, 1 without), the records handed beyond the
     * current datum in order (ahead[ahead_head .. nahead)), and the
     * output folder slot of the current datum. */
    unsigned want;
    struct ahead {
        uint32_t didx, attempt;
        unsigned slot;
    } *ahead;
    size_t nahead, ahead_head, ahead_cap;
    unsigned slot;
    char *pbuf;                 /* scratch for an entry's path */
    size_t pcap;
    /* What the last wait's ppoll saw, for the poll after it: only what is
     * ready is read, so that a datum costs few system calls. */
    bool polled;
    bool pid_ready, pipe_ready, sock_ready;
} batch_exec_t;

static void log_note (const exec_task_t *t, const char *fmt, ...)
    __attribute__ ((format (printf, 2, 3)));

/* A line in the datum's stderr log, as the worker's own notes are. */
static void log_note (const exec_task_t *t, const char *fmt, ...)
{
    FILE *f = t && t->err_path ? fopen (t->err_path, "a") : NULL;
    if (!f)
        return;
    va_list ap;
    va_start (ap, fmt);
    fputs ("datumrun: ", f);
    vfprintf (f, fmt, ap);
    fputc ('\n', f);
    va_end (ap);
    fclose (f);
}

/* Point the command's output at the current datum's logs (or nowhere),
 * each with its own --log-limit count. */
static void set_logs (batch_exec_t *b, const exec_task_t *t)
{
    b->child.log_limit = t ? t->log_limit : 0;
    for (int i = 0; i < 2; i++) {
        if (b->child.log[i] >= 0)
            close (b->child.log[i]);
        b->child.log[i] = -1;
        b->child.logged[i] = 0;
        free (b->child.log_path[i]);
        const char *p = t ? (i ? t->err_path : t->out_path) : NULL;
        b->child.log_path[i] = p ? strdup (p) : NULL;
    }
}

/* The command holds no datum ahead any more. */
static void window_drop (batch_exec_t *b)
{
    b->nahead = b->ahead_head = 0;
}

static int spawn_command (batch_exec_t *b, const exec_task_t *t,
                          dr_error_t *err)
{
    int cfd = -1;
    if (!(b->srv = batch_server_create (&cfd)))
        return dr_errprintf (err, "socketpair: %s", strerror (errno));
    /* The command's end becomes its descriptor 3: a small number, so that
     * even a shell's `>&3` can use it. */
    free (b->fd_var);
    if (asprintf (&b->fd_var, "%s=3", BATCH_FD_ENV) < 0)
        abort ();
    size_t n = b->env->n;
    free (b->cmd_env);
    if (!(b->cmd_env = calloc (n + 2, sizeof (char *))))
        abort ();
    memcpy (b->cmd_env, b->env->v, n * sizeof (char *));
    b->cmd_env[n] = b->fd_var;
    int rc = exec_spawn_fd3 (&b->child, t->argv, b->cmd_env, t->cwd,
                             t->stdin_path, t->out_path, t->err_path, cfd,
                             err);
    close (cfd);
    if (rc < 0) {
        batch_server_destroy (b->srv);
        b->srv = NULL;
        return -1;
    }
    b->child.log_limit = t->log_limit;
    b->alive = true;
    b->asked = false;
    b->fresh = true;
    b->ndatums = 0;
    window_drop (b);
    return 0;
}

static void end_datum (batch_exec_t *b, int status);

/* "a/b" into the scratch buffer, grown as needed. */
static const char *join_path (batch_exec_t *b, const char *a, const char *r)
{
    size_t la = strlen (a), lr = strlen (r), n = la + 1 + lr + 1;
    if (n > b->pcap) {
        size_t ncap = b->pcap ? b->pcap : 256;
        while (ncap < n)
            ncap *= 2;
        char *p = realloc (b->pbuf, ncap);
        if (!p)
            abort ();
        b->pbuf = p;
        b->pcap = ncap;
    }
    memcpy (b->pbuf, a, la);
    if (lr) {
        b->pbuf[la] = '/';
        memcpy (b->pbuf + la + 1, r, lr + 1);
    }
    else
        b->pbuf[la] = '\0';
    return b->pbuf;
}

/* What follows the word w where it starts one of the space-separated
 * options and is followed by one of `after` (or the end), or NULL. */
static const char *option_at (const char *opts, const char *w,
                              const char *after)
{
    size_t n = strlen (w);
    for (const char *p = opts; (p = strstr (p, w)); p += n)
        if ((p == opts || p[-1] == ' ') && (!p[n] || strchr (after, p[n])))
            return p + n;
    return NULL;
}

static bool has_option (const char *opts, const char *w)
{
    return option_at (opts, w, " ") != NULL;
}

/* The number N of "NAME=N" among the options, or 0. */
static unsigned option_number (const char *opts, const char *name)
{
    const char *p = option_at (opts, name, "=");
    if (!p || *p != '=')
        return 0;
    char *end;
    unsigned long v = strtoul (p + 1, &end, 10);
    if (end == p + 1 || (*end && *end != ' '))
        return 0;
    return v > BATCH_WINDOW_MAX ? BATCH_WINDOW_MAX : (unsigned)v;
}


/* Add one record: vars (NAME=VALUE strings, NULL-terminated) and d's
 * entries.  As batch_server_record_end. */
static int add_record (batch_exec_t *b, char *const *vars, const wdatum_t *d)
{
    const jobs_spec_t *spec = b->spec;
    batch_server_record_begin (b->srv);
    for (size_t i = 0; vars[i]; i++) {
        const char *kv = vars[i], *eq = strchr (kv, '=');
        char name[128];
        if (!eq || (size_t)(eq - kv) >= sizeof (name))
            continue;
        memcpy (name, kv, (size_t)(eq - kv));
        name[eq - kv] = '\0';
        batch_server_record_add (b->srv, "var", name, eq + 1);
    }
    for (uint32_t j = 0; j < d->nentries; j++) {
        const jobs_input_t *in = spec->pfs[d->input[j]];
        batch_server_record_add (b->srv, "input", in->name,
                                 join_path (b, in->repo, d->path[j]));
    }
    return batch_server_record_end (b->srv);
}

/* The records of a window after the current datum's: as many of the
 * datums queued behind it as the command asked for and the worker has.
 * The number handed in all. */
static size_t add_ahead (batch_exec_t *b)
{
    const exec_task_t *t = b->task;
    size_t k = 1;
    for (size_t i = 0; k < b->want; i++) {
        const wdatum_t *d = t->upcoming (t->prepare_arg, i);
        dr_error_t err = { { 0 } };
        const char *out = d ? t->out_dir (t->prepare_arg, (unsigned)k, &err)
                            : NULL;
        if (!out)
            break;
        exec_env_t e;
        exec_env_datum_out (&e, b->env, b->spec, t->cwd, d, out);
        int rc = add_record (b, e.v + b->env->n, d);
        exec_env_datum_free (&e, b->env);
        if (rc < 0)
            break;
        if (b->nahead == b->ahead_cap) {
            b->ahead_cap = b->ahead_cap ? 2 * b->ahead_cap : 16;
            b->ahead = realloc (b->ahead, b->ahead_cap * sizeof (*b->ahead));
            if (!b->ahead)
                abort ();
        }
        b->ahead[b->nahead++] = (struct ahead){ d->didx, d->attempt,
                                                (unsigned)k };
        k++;
    }
    return k;
}

/* The datum's record: its own variables (what exec_env_datum added to the
 * base environment) and its entries.  First its pfs/<input> entries, if
 * the worker left them to us: a failure there fails the datum (the
 * command still waits for a record, which the next datum gets). */
static int send_record (batch_exec_t *b)
{
    const exec_task_t *t = b->task;
    const wdatum_t *d = t->datum;
    if (t->prepare && !b->prepared) {
        dr_error_t err = { { 0 } };
        b->prepared = true;
        if (t->prepare (t->prepare_arg, !b->paths, &err) < 0) {
            bool full = errno == ENOSPC || errno == EDQUOT;
            log_note (t, "%s", err.text);
            end_datum (b, W_EXITCODE (127, 0));
            b->result.no_space = full;
            snprintf (b->result.message, sizeof (b->result.message), "%.255s",
                      err.text);
            return 0;
        }
    }
    /* The datum's own variables: t->vars, or what follows the base in
     * its environment.  (In an image envp is the runtime's environment,
     * the whole of the worker's: names such as bash's exported
     * BASH_FUNC_f%% would make the record invalid.) */
    char *const *vars = t->vars;
    if (!vars) {
        size_t i = 0;
        while (t->envp[i] && i < b->env->n && t->envp[i] == b->env->v[i])
            i++;
        vars = t->envp + i;
    }
    /* Asked with window=N: "datums K" first, K >= 1 (only the current
     * datum where the worker offers no window). */
    bool window = b->want > 0;
    window_drop (b);
    if (window)
        batch_server_window_begin (b->srv);
    int rc = add_record (b, vars, d);
    if (window) {
        size_t k = rc < 0 ? 0
                   : b->want > 1 && b->paths && t->upcoming && t->out_dir
                       ? add_ahead (b)
                       : 1;
        if (batch_server_window_end (b->srv, k) < 0 && rc == 0)
            rc = -1;
    }
    if (rc < 0 && errno != EPIPE)
        return -1;  /* EPIPE: the command is gone; poll sees it exit */
    b->handed = true;
    b->asked = false;
    b->ndatums++;
    return 0;
}

static int batch_start (executor_t *x, const exec_task_t *t, dr_error_t *err)
{
    batch_exec_t *b = (batch_exec_t *)x;
    b->task = t;
    b->handed = b->ended = b->killed = b->prepared = false;
    b->start = dr_now ();
    b->slot = 0;
    if (b->alive && b->ahead_head < b->nahead) {
        const struct ahead *a = &b->ahead[b->ahead_head];
        if (a->didx == t->datum->didx && a->attempt == t->datum->attempt) {
            /* Handed with the window: it is current now (requests the
             * command sent since wait in the server's buffer, for the
             * poll that follows). */
            b->ahead_head++;
            b->handed = b->prepared = true;
            b->slot = a->slot;
        }
        else {
            /* Not the datum the command has next (the worker gave its
             * window back): that command goes, a fresh one gets this
             * datum.  What it sent is not read. */
            exec_kill (&b->child, SIGKILL);
            batch_server_destroy (b->srv);
            b->srv = NULL;
            b->asked = false;
            window_drop (b);
        }
    }
    if (!b->alive) {
        if (spawn_command (b, t, err) < 0) {
            b->task = NULL;
            return -1;
        }
    }
    else {
        b->fresh = false;
        set_logs (b, t);
    }
    b->child.start = b->start;
    b->child.start_ns = dr_realtime_ns ();
    /* Nothing can be ready yet that the next wait's ppoll would not see
     * (a "next" already received waits in the server's buffer): the poll
     * that follows reads nothing it does not have to. */
    b->polled = true;
    b->pid_ready = b->pipe_ready = b->sock_ready = false;
    if (!b->handed && b->asked && send_record (b) < 0) {
        b->task = NULL;
        return dr_errprintf (err, "cannot hand the datum to the command: "
                             "%s", strerror (errno));
    }
    return 0;
}

static void end_datum (batch_exec_t *b, int status)
{
    b->result.message[0] = '\0';
    b->result.no_space = false;
    b->result.status = status;
    b->result.duration = dr_now () - b->start;
    b->ended = true;
}

/* Read what the command sent, then its output: whatever it wrote to its
 * stdout or stderr before a request is in the pipes by the time that
 * request is read (its write returned first), so draining after the read
 * puts it in this datum's log before the request can end the datum.
 * (Drained first and read second, output written in between would go to
 * the next datum's log.)  drain: the pipes are to be read anyway (the
 * caller's ppoll found them ready, or it saw nothing and reads all). */
static void read_socket_then_pipes (batch_exec_t *b, bool sock, bool drain)
{
    if (!drain && b->srv && sock && batch_server_read (b->srv) != 0) {
        /* One look at both pipes rather than a read of each. */
        struct pollfd p[2];
        nfds_t n = 0;
        for (int i = 0; i < 2; i++)
            if (b->child.pipe[i] >= 0)
                p[n++] = (struct pollfd){ .fd = b->child.pipe[i],
                                          .events = POLLIN };
        drain = n && poll (p, n, 0) != 0;
    }
    else if (b->srv && sock)
        batch_server_read (b->srv);
    if (drain)
        exec_drain (&b->child);
}

/* What the command said, as far as it was read: requests in order. */
static void read_requests (batch_exec_t *b)
{
    const char *text;
    batch_req_t r;
    while (b->srv && !b->ended
           && (r = batch_server_next_read (b->srv, &text))
                  != BATCH_REQ_NONE) {
        switch (r) {
        case BATCH_REQ_NEXT:
            if (b->task && b->handed) {
                log_note (b->task, "the command asked for the next datum "
                          "without finishing this one (\"done ok\" or "
                          "\"done fail\"); killed");
                exec_kill (&b->child, SIGKILL);
                end_datum (b, W_EXITCODE (1, 0));
            }
            else {
                b->asked = true;
                b->paths = has_option (text, "paths");
                b->want = option_number (text, "window");
                if (b->task && send_record (b) < 0)
                    exec_kill (&b->child, SIGKILL);
            }
            break;
        case BATCH_REQ_OK:
        case BATCH_REQ_FAIL:
            if (!b->task || !b->handed)
                break;      /* nothing current: the first `datumrun next` */
            end_datum (b, r == BATCH_REQ_OK ? 0 : W_EXITCODE (1, 0));
            if (r == BATCH_REQ_FAIL) {
                log_note (b->task, "failed: %s", text[0] ? text : "(no "
                          "message)");
                snprintf (b->result.message, sizeof (b->result.message),
                          "%s", text[0] ? text : "failed");
            }
            break;
        case BATCH_REQ_BAD:
            if (b->task)
                log_note (b->task, "the command broke the batching "
                          "protocol (sent '%s'); killed", text);
            exec_kill (&b->child, SIGKILL);
            if (b->task)
                end_datum (b, W_EXITCODE (1, 0));
            break;
        case BATCH_REQ_EOF:
            /* It closed its end, or exited: its exit is what counts. */
            return;
        default:
            return;
        }
    }
}

/* The command has exited: what that means for the current datum. */
static void command_exited (batch_exec_t *b, int status)
{
    batch_server_destroy (b->srv);
    b->srv = NULL;
    b->alive = b->asked = false;
    window_drop (b);
    if (!b->task || b->ended)
        return;
    if (b->handed || b->fresh || b->killed) {
        /* It held the datum (or was started for it and died before taking
         * it, or was killed for it): the datum failed.  A clean exit with
         * the datum in hand is a failure too. */
        bool clean = WIFEXITED (status) && WEXITSTATUS (status) == 0;
        if (!b->handed && !b->killed)
            log_note (b->task, "the command exited before it asked for a "
                      "datum");
        else if (clean)
            log_note (b->task, "the command exited while it held this "
                      "datum (exit 0, no \"done\")");
        if (clean)
            status = W_EXITCODE (1, 0);
        end_datum (b, status);
        return;
    }
    /* It exited between datums, before this one was handed to it: start
     * it again for this datum. */
    dr_error_t err = { { 0 } };
    const exec_task_t *t = b->task;
    if (spawn_command (b, t, &err) < 0) {
        log_note (t, "%s", err.text);
        end_datum (b, W_EXITCODE (127, 0));
    }
}

static int batch_poll (executor_t *x, exec_status_t *st)
{
    batch_exec_t *b = (batch_exec_t *)x;
    if (!b->task)
        return 0;
    /* After a wait, only what its ppoll found ready; otherwise all. */
    bool all = !b->polled;
    b->polled = false;
    if (b->alive && !b->ended) {
        if (b->srv)
            batch_server_flush (b->srv);
        read_socket_then_pipes (b, all || b->sock_ready,
                                all || b->pipe_ready);
        read_requests (b);
    }
    if (b->alive && !b->ended
        && (all || b->pid_ready || b->child.pidfd < 0
            || (b->srv && batch_server_eof (b->srv)))) {
        int status;
        if (exec_poll (&b->child, &status)) {
            /* Requests it sent before dying still count ("done ok", then
             * exit): read them first. */
            read_socket_then_pipes (b, true, false);
            read_requests (b);
            if (!b->ended)
                command_exited (b, status);
            else {
                batch_server_destroy (b->srv);
                b->srv = NULL;
                b->alive = b->asked = false;
                window_drop (b);
            }
        }
    }
    if (!b->ended)
        return 0;
    *st = b->result;
    st->out_slot = b->slot;
    st->window_open = b->alive && b->ahead_head < b->nahead;
    /* The datum's logs are complete: the next output goes to the next. */
    if (b->alive)
        set_logs (b, NULL);
    b->task = NULL;
    b->handed = false;
    return 1;
}

static void batch_kill (executor_t *x, int sig)
{
    batch_exec_t *b = (batch_exec_t *)x;
    if (b->alive && b->task && !b->ended) {
        b->killed = true;
        exec_kill (&b->child, sig);
    }
}

static void batch_wait (executor_t *x, double seconds)
{
    batch_exec_t *b = (batch_exec_t *)x;
    if (!b->alive || !b->task || b->ended) {
        if (!b->task || !b->ended)
            runner_idle_wait (-1, seconds);
        return;
    }
    struct pollfd p[4];
    nfds_t n = 0;
    int is = -1, ip = -1, ipipe = -1;
    if (b->srv) {
        is = (int)n;
        p[n++] = (struct pollfd){
            .fd = batch_server_fd (b->srv),
            .events = POLLIN | (batch_server_pending (b->srv) ? POLLOUT : 0),
        };
    }
    for (int i = 0; i < 2; i++)
        if (b->child.pipe[i] >= 0) {
            if (ipipe < 0)
                ipipe = (int)n;
            p[n++] = (struct pollfd){ .fd = b->child.pipe[i],
                                      .events = POLLIN };
        }
    if (b->child.pidfd >= 0) {
        ip = (int)n;
        p[n++] = (struct pollfd){ .fd = b->child.pidfd, .events = POLLIN };
    }
    if (b->child.pidfd < 0 && seconds > 0.005)
        seconds = 0.005;
    struct timespec ts = {
        .tv_sec = (time_t)seconds,
        .tv_nsec = (long)((seconds - (double)(time_t)seconds) * 1e9),
    };
    if (ppoll (p, n, &ts, NULL) < 0)
        return;     /* the next poll reads everything */
    b->polled = true;
    b->sock_ready = is >= 0 && p[is].revents;
    b->pid_ready = ip >= 0 && p[ip].revents;
    b->pipe_ready = false;
    for (int i = ipipe; i >= 0 && i < (int)n && i != ip; i++)
        b->pipe_ready |= p[i].revents != 0;
}

static void batch_destroy (executor_t *x)
{
    batch_exec_t *b = (batch_exec_t *)x;
    if (!b)
        return;
    if (b->alive) {
        /* No more datums: tell it, give it a moment to exit on its own
         * (flushing what it holds), then end it.  What it writes now
         * belongs to no datum. */
        int status;
        set_logs (b, NULL);
        if (b->srv) {
            const char *text;
            batch_req_t r;
            while ((r = batch_server_next (b->srv, &text)) != BATCH_REQ_NONE
                   && r != BATCH_REQ_EOF)
                ;
            batch_server_send_stop (b->srv);
        }
        double deadline = dr_now () + 5.0;
        bool killed = false;
        while (!exec_poll (&b->child, &status)) {
            if (b->srv && batch_server_next (b->srv, &(const char *){ 0 })
                              == BATCH_REQ_NEXT)
                batch_server_send_stop (b->srv);
            if (!killed && dr_now () > deadline) {
                exec_kill (&b->child, SIGKILL);
                killed = true;
            }
            exec_wait (&b->child, 0.05);
        }
    }
    batch_server_destroy (b->srv);
    set_logs (b, NULL);
    free (b->cmd_env);
    free (b->fd_var);
    free (b->pbuf);
    free (b->ahead);
    free (b);
}

static const executor_ops_t batch_ops = {
    .name = "batch",
    .start = batch_start,
    .poll = batch_poll,
    .kill = batch_kill,
    .wait = batch_wait,
    .destroy = batch_destroy,
};

executor_t *executor_batch_create (const jobs_spec_t *spec,
                                   const struct exec_env *env)
{
    batch_exec_t *b = calloc (1, sizeof (*b));
    if (!b)
        return NULL;
    b->base.ops = &batch_ops;
    b->spec = spec;
    b->env = env;
    b->child.pid = -1;
    b->child.pidfd = -1;
    for (int i = 0; i < 2; i++)
        b->child.pipe[i] = b->child.log[i] = -1;
    return &b->base;
}
