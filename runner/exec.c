/* exec.c: running the user's command for one datum.  Builds the datum's
 * environment (its sandbox is sandbox.c's) and starts the command in a
 * process group of its own, so that a timeout or a job stop can kill
 * everything it started and nothing it does can take the rank down.
 * Every process is started through jobs_spawn_process (jobs/spawn.c,
 * exec_spawn_process here), the project's one way to start a process.
 */
#define _GNU_SOURCE
#include <dirent.h>
#include <errno.h>
#include <limits.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <pthread.h>
#include <sys/prctl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/pidfd.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "runner/exec.h"

extern char **environ;

/* Names the child must not inherit: they would make an MPI program the
 * user runs believe it belongs to our job. */
static bool env_is_private (const char *kv)
{
    static const char *prefixes[] = { "OMPI_", "PMIX_", "PMI_", "OPAL_",
                                      "ORTE_", "HWLOC_XMLFILE", NULL };
    for (int i = 0; prefixes[i]; i++)
        if (!strncmp (kv, prefixes[i], strlen (prefixes[i])))
            return true;
    return false;
}

static size_t name_len (const char *kv)
{
    const char *eq = strchr (kv, '=');
    return eq ? (size_t)(eq - kv) : strlen (kv);
}

void exec_env_set (exec_env_t *e, const char *kv)
{
    size_t nl = name_len (kv);
    for (size_t i = 0; i < e->n; i++) {
        if (name_len (e->v[i]) == nl && !strncmp (e->v[i], kv, nl)) {
            free (e->v[i]);
            e->v[i] = strdup (kv);
            return;
        }
    }
    if (e->n + 2 > e->cap) {
        e->cap = e->cap ? 2 * e->cap : 64;
        e->v = realloc (e->v, e->cap * sizeof (char *));
        if (!e->v)
            abort ();
    }
    e->v[e->n++] = strdup (kv);
    e->v[e->n] = NULL;
}

void exec_env_setf (exec_env_t *e, const char *name, const char *value)
{
    char *kv;
    if (asprintf (&kv, "%s=%s", name, value) < 0)
        abort ();
    exec_env_set (e, kv);
    free (kv);
}

void exec_env_free (exec_env_t *e)
{
    for (size_t i = 0; i < e->n; i++)
        free (e->v[i]);
    free (e->v);
    memset (e, 0, sizeof (*e));
}

static bool set_per_datum (const jobs_spec_t *spec, const char *kv)
{
    static const char *names[] = { "DATUMRUN_OUT", "DATUMRUN_DATUM_ID",
                                   "DATUMRUN_JOIN_ON", "DATUMRUN_GROUP_BY",
                                   NULL };
    size_t nl = name_len (kv);
    for (int i = 0; names[i]; i++)
        if (strlen (names[i]) == nl && !strncmp (kv, names[i], nl))
            return true;
    if (!strncmp (kv, "PACH_DATUM_", 11))
        return true;
    for (size_t i = 0; i < spec->npfs; i++)
        if (strlen (spec->pfs[i]->name) == nl
            && !strncmp (kv, spec->pfs[i]->name, nl))
            return true;
    return false;
}

void exec_env_base (exec_env_t *e, const jobs_spec_t *spec,
                    const char *job_id)
{
    for (char **p = environ; *p; p++)
        if (!env_is_private (*p) && !set_per_datum (spec, *p))
            exec_env_set (e, *p);
    for (char **p = spec->env; p && *p; p++)
        exec_env_set (e, *p);
    exec_env_setf (e, "DATUMRUN_PIPELINE", spec->name);
    exec_env_setf (e, "DATUMRUN_JOB_ID", job_id);
    exec_env_pach_base (e, spec, job_id);
}

void exec__env_push (exec_env_t *e, char *kv)
{
    if (e->n + 2 > e->cap) {
        e->cap = e->cap ? 2 * e->cap : 64;
        e->v = realloc (e->v, e->cap * sizeof (char *));
        if (!e->v)
            abort ();
    }
    e->v[e->n++] = kv;
    e->v[e->n] = NULL;
}

static void push_kv (exec_env_t *e, const char *name, const char *value)
{
    char *kv;
    if (asprintf (&kv, "%s=%s", name, value) < 0)
        abort ();
    exec__env_push (e, kv);
}

char *exec_resolve (const exec_env_t *env, const char *argv0)
{
    if (strchr (argv0, '/'))
        return strdup (argv0);
    const char *path = "/usr/local/bin:/usr/bin:/bin";
    for (size_t i = 0; i < env->n; i++)
        if (!strncmp (env->v[i], "PATH=", 5))
            path = env->v[i] + 5;
    char *copy = strdup (path), *save = NULL;
    for (char *dir = strtok_r (copy, ":", &save); dir;
         dir = strtok_r (NULL, ":", &save)) {
        char *cand;
        if (asprintf (&cand, "%s/%s", *dir ? dir : ".", argv0) < 0)
            break;
        struct stat st;
        if (stat (cand, &st) == 0 && S_ISREG (st.st_mode)
            && access (cand, X_OK) == 0) {
            free (copy);
            return cand;
        }
        free (cand);
    }
    free (copy);
    return NULL;
}

void exec_env_datum (exec_env_t *e, const exec_env_t *base,
                     const jobs_spec_t *spec, const char *sandbox,
                     const wdatum_t *d)
{
    exec_env_datum_out (e, base, spec, sandbox, d, NULL);
}

void exec_env_datum_out (exec_env_t *e, const exec_env_t *base,
                         const jobs_spec_t *spec, const char *sandbox,
                         const wdatum_t *d, const char *out)
{
    char *buf, idhex[33];
    e->cap = base->n + d->nentries + 8;
    e->v = malloc (e->cap * sizeof (char *));
    if (!e->v)
        abort ();
    memcpy (e->v, base->v, base->n * sizeof (char *));
    e->n = base->n;
    e->v[e->n] = NULL;
    if (out)
        push_kv (e, "DATUMRUN_OUT", out);
    else {
        if (!(buf = jobs_pathf ("%s/pfs/out", sandbox)))
            abort ();
        push_kv (e, "DATUMRUN_OUT", buf);
        free (buf);
    }
    io_hash_hex (&d->id, idhex);
    push_kv (e, "DATUMRUN_DATUM_ID", idhex);
    /* $<input>: the first entry of each input in the datum. */
    for (uint32_t i = 0; i < d->nentries; i++) {
        const jobs_input_t *in = spec->pfs[d->input[i]];
        bool first = true;
        for (uint32_t j = 0; j < i && first; j++)
            if (!strcmp (spec->pfs[d->input[j]]->name, in->name))
                first = false;
        if (!first)
            continue;
        /* With empty_files the repo's file is not what it sees. */
        if (in->empty_files && d->path[i][0])
            buf = jobs_pathf ("%s/pfs/%s/%s", sandbox, in->name, d->path[i]);
        else if (in->empty_files)
            buf = jobs_pathf ("%s/pfs/%s", sandbox, in->name);
        else if (d->path[i][0])
            buf = jobs_pathf ("%s/%s", in->repo, d->path[i]);
        else
            buf = strdup (in->repo);
        if (!buf)
            abort ();
        push_kv (e, in->name, buf);
        free (buf);
    }
    if (d->join_key && d->join_key[0])
        push_kv (e, "DATUMRUN_JOIN_ON", d->join_key);
    if (d->group_key && d->group_key[0])
        push_kv (e, "DATUMRUN_GROUP_BY", d->group_key);
    exec_env_pach_datum (e, spec, d, idhex);
}

void exec_env_datum_free (exec_env_t *e, const exec_env_t *base)
{
    for (size_t i = base->n; i < e->n; i++)
        free (e->v[i]);
    free (e->v);
    memset (e, 0, sizeof (*e));
}

/* ------------------------------------------------------------- spawn */

int exec_spawn (exec_child_t *c, char *const argv[], char *const envp[],
                const char *cwd, const char *stdin_path,
                const char *out_path, const char *err_path, dr_error_t *err)
{
    return exec_spawn_fd3 (c, argv, envp, cwd, stdin_path, out_path,
                           err_path, 0, err);
}

int exec_spawn_fd3 (exec_child_t *c, char *const argv[], char *const envp[],
                    const char *cwd, const char *stdin_path,
                    const char *out_path, const char *err_path, int fd3,
                    dr_error_t *err)
{
    int out[2] = { -1, -1 }, errp[2] = { -1, -1 };
    int rc;

    memset (c, 0, sizeof (*c));
    c->pid = -1;
    c->pidfd = -1;
    c->pipe[0] = c->pipe[1] = c->log[0] = c->log[1] = -1;
    if (pipe2 (out, O_CLOEXEC) < 0 || pipe2 (errp, O_CLOEXEC) < 0) {
        int e = errno;
        if (out[0] >= 0) {
            close (out[0]);
            close (out[1]);
        }
        return dr_errprintf (err, "pipe: %s", strerror (e));
    }
    c->log_path[0] = strdup (out_path);
    c->log_path[1] = strdup (err_path);
    exec_spawn_t so = {
        .argv = argv,
        .envp = envp,
        .cwd = cwd,
        .stdin_path = stdin_path ? stdin_path : "/dev/null",
        .fd = { out[1], errp[1] },
        .new_pgroup = true,
        .pdeathsig = SIGKILL,
        .fd3 = fd3,
    };
    c->start = dr_now ();
    c->start_ns = dr_realtime_ns ();
    rc = exec_spawn_process (&so, &c->pid, err);
    close (out[1]);
    close (errp[1]);
    c->pipe[0] = out[0];
    c->pipe[1] = errp[0];
    fcntl (c->pipe[0], F_SETFL, O_NONBLOCK);
    fcntl (c->pipe[1], F_SETFL, O_NONBLOCK);
    if (rc != 0) {
        int e = errno;
        /* Leave the reason where the user looks for the command's errors. */
        FILE *f = fopen (err_path, "a");
        if (f) {
            fprintf (f, "datumrun: %s\n", err->text);
            fclose (f);
        }
        c->pid = -1;
        exec_drain (c);
        errno = e;
        return -1;
    }
    c->pidfd = pidfd_open (c->pid, 0);  /* -1: fall back to timed polls */
    keeper_watch (c->pid);
    return 0;
}

/* Our children, read from the main thread's children list (orphans are
 * reparented to the thread group leader). */
static size_t list_children (pid_t *out, size_t max)
{
    char path[64], buf[4096];
    snprintf (path, sizeof (path), "/proc/self/task/%d/children",
              (int)getpid ());
    int fd = open (path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return 0;
    ssize_t n = read (fd, buf, sizeof (buf) - 1);
    close (fd);
    if (n <= 0)
        return 0;
    buf[n] = '\0';
    size_t k = 0;
    for (char *s = buf, *end; k < max && *s; s = end) {
        long v = strtol (s, &end, 10);
        if (end == s)
            break;
        out[k++] = (pid_t)v;
    }
    return k;
}

static pid_t kept[16];

void exec_keep_child (pid_t pid, bool keep)
{
    for (size_t i = 0; i < 16; i++) {
        if (keep && kept[i] == 0) {
            kept[i] = pid;
            return;
        }
        if (!keep && kept[i] == pid) {
            kept[i] = 0;
            return;
        }
    }
}

static bool is_kept (pid_t pid)
{
    for (size_t i = 0; i < 16; i++)
        if (kept[i] == pid)
            return true;
    return false;
}

void exec_reap_orphans (void)
{
    pid_t kids[256];
    for (int round = 0; round < 64; round++) {
        size_t n = list_children (kids, 256), killed = 0;
        for (size_t i = 0; i < n; i++) {
            if (is_kept (kids[i]))
                continue;
            /* A setsid child leads a group of its own: take it whole. */
            kill (-kids[i], SIGKILL);
            kill (kids[i], SIGKILL);
            while (waitpid (kids[i], NULL, 0) < 0 && errno == EINTR)
                ;
            killed++;
        }
        if (!killed)
            return;
    }
}

static const char *const stream_name[2] = { "stdout", "stderr" };

/* Once past --log-limit, a note where the rest would have gone: the
 * datum's outcome is the command's, whatever it wrote. */
static void log_note (exec_child_t *c, int i, bool end)
{
    char lim[32], drop[32];
    jobs_fmt_bytes (c->log_limit, lim, sizeof (lim));
    jobs_fmt_bytes (c->logged[i] - c->log_limit, drop, sizeof (drop));
    dprintf (c->log[i],
             end ? "\ndatumrun: %s of %s discarded after the log limit of "
                   "%s (--log-limit)\n"
                 : "\ndatumrun: %s reached the log limit of %s "
                   "(--log-limit); the rest is discarded\n",
             end ? drop : stream_name[i], end ? stream_name[i] : lim, lim);
}

static void close_child_fds (exec_child_t *c)
{
    for (int i = 0; i < 2; i++) {
        if (c->log[i] >= 0 && c->log_limit && c->logged[i] > c->log_limit)
            log_note (c, i, true);
        if (c->pipe[i] >= 0)
            close (c->pipe[i]);
        if (c->log[i] >= 0)
            close (c->log[i]);
        c->pipe[i] = c->log[i] = -1;
        free (c->log_path[i]);
        c->log_path[i] = NULL;
    }
    if (c->pidfd >= 0)
        close (c->pidfd);
    c->pidfd = -1;
}

int exec_drain (exec_child_t *c)
{
    char buf[65536];
    int open_pipes = 0;
    for (int i = 0; i < 2; i++) {
        while (c->pipe[i] >= 0) {
            ssize_t n = read (c->pipe[i], buf, sizeof (buf));
            if (n < 0 && errno == EINTR)
                continue;
            if (n < 0)
                break;          /* EAGAIN: nothing more for now */
            if (n == 0) {
                close (c->pipe[i]);
                c->pipe[i] = -1;
                break;
            }
            if (c->log[i] < 0)
                c->log[i] = open (c->log_path[i], O_WRONLY | O_CREAT
                                                      | O_APPEND | O_CLOEXEC,
                                  0644);
            /* Past the limit the pipe is still read (the command must not
             * block), and what it brings is dropped. */
            uint64_t before = c->logged[i];
            c->logged[i] += (uint64_t)n;
            size_t keep = (size_t)n;
            if (c->log_limit && c->logged[i] > c->log_limit)
                keep = before >= c->log_limit
                           ? 0
                           : (size_t)(c->log_limit - before);
            if (c->log[i] >= 0 && keep
                && write (c->log[i], buf, keep) < 0)
                break;          /* a full disk loses log text, not datums */
            if (c->log[i] >= 0 && c->log_limit && before <= c->log_limit
                && c->logged[i] > c->log_limit)
                log_note (c, i, false);
        }
        open_pipes += c->pipe[i] >= 0;
    }
    return open_pipes ? 0 : -1;
}

int exec_poll (exec_child_t *c, int *status)
{
    exec_drain (c);
    pid_t r = waitpid (c->pid, status, WNOHANG);
    if (r == 0 || (r < 0 && errno == EINTR))
        return 0;
    c->duration = dr_now () - c->start;
    /* Whatever the command left running in its group goes with it, and
     * what escaped the group (setsid, nohup) was reparented to us, the
     * worker being a child subreaper: it goes too.  Then its pipes reach
     * end of file. */
    kill (-c->pid, SIGKILL);
    keeper_unwatch (c->pid);
    exec_reap_orphans ();
    c->pid = -1;
    exec_drain (c);
    close_child_fds (c);
    return 1;
}

void exec_kill (exec_child_t *c, int sig)
{
    if (c->pid > 0)
        kill (-c->pid, sig);
}

void exec_wait (exec_child_t *c, double seconds)
{
    struct pollfd p[3];
    nfds_t n = 0;
    if (c->pidfd >= 0)
        p[n++] = (struct pollfd){ .fd = c->pidfd, .events = POLLIN };
    for (int i = 0; i < 2; i++)
        if (c->pipe[i] >= 0)
            p[n++] = (struct pollfd){ .fd = c->pipe[i], .events = POLLIN };
    /* Without a pidfd, exits are noticed by polling. */
    if (c->pidfd < 0 && seconds > 0.005)
        seconds = 0.005;
    struct timespec ts = {
        .tv_sec = (time_t)seconds,
        .tv_nsec = (long)((seconds - (double)(time_t)seconds) * 1e9),
    };
    ppoll (p, n, &ts, NULL);
}
