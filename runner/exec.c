/* exec.c: running the user's command for one datum.  Builds the datum's
 * sandbox (Pachyderm's /pfs layout, made of symlinks to the repos, plus
 * pfs/out), its environment, and starts the command with posix_spawn in a
 * process group of its own, so that a timeout or a job stop can kill
 * everything it started and nothing it does can take the rank down.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/pidfd.h>
#include <sys/stat.h>
#include <sys/wait.h>
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

void exec_env_copy (exec_env_t *dst, const exec_env_t *src)
{
    for (size_t i = 0; i < src->n; i++)
        exec_env_set (dst, src->v[i]);
}

void exec_env_free (exec_env_t *e)
{
    for (size_t i = 0; i < e->n; i++)
        free (e->v[i]);
    free (e->v);
    memset (e, 0, sizeof (*e));
}

void exec_env_base (exec_env_t *e, const jobs_spec_t *spec,
                    const char *job_id)
{
    for (char **p = environ; *p; p++)
        if (!env_is_private (*p))
            exec_env_set (e, *p);
    for (char **p = spec->env; p && *p; p++)
        exec_env_set (e, *p);
    exec_env_setf (e, "DATUMRUN_PIPELINE", spec->name);
    exec_env_setf (e, "DATUMRUN_JOB_ID", job_id);
}

/* Symlink pfs/<input>/<path> to the repo entry, creating the folders of
 * its repo-relative path. */
static int link_entry (const char *sandbox, const jobs_input_t *in,
                       const char *relpath, dr_error_t *err)
{
    char link[4096], target[4096];
    int n1, n2;
    if (relpath[0]) {
        n1 = snprintf (link, sizeof (link), "%s/pfs/%s/%s", sandbox,
                       in->name, relpath);
        n2 = snprintf (target, sizeof (target), "%s/%s", in->repo, relpath);
    }
    else {
        n1 = snprintf (link, sizeof (link), "%s/pfs/%s", sandbox, in->name);
        n2 = snprintf (target, sizeof (target), "%s", in->repo);
    }
    if (n1 >= (int)sizeof (link) || n2 >= (int)sizeof (target))
        return dr_errprintf (err, "%s: path too long", relpath);
    if (symlink (target, link) == 0)
        return 0;
    if (errno == ENOENT) {
        char *slash = strrchr (link, '/');
        *slash = '\0';
        if (io_mkdirs (link, 0755) < 0)
            return dr_errprintf (err, "%s: cannot create: %s", link,
                                 strerror (errno));
        *slash = '/';
        if (symlink (target, link) == 0)
            return 0;
    }
    if (errno == EEXIST)
        return 0;   /* a group datum may name one path twice */
    return dr_errprintf (err, "%s: cannot link: %s", link, strerror (errno));
}

int exec_sandbox_create (const char *sandbox, const jobs_spec_t *spec,
                         const wdatum_t *d, dr_error_t *err)
{
    char path[4096];
    /* A leftover from a crashed earlier attempt is not fresh. */
    if (io_remove_tree (sandbox) < 0)
        return dr_errprintf (err, "%s: cannot clear: %s", sandbox,
                             strerror (errno));
    snprintf (path, sizeof (path), "%s/pfs/out", sandbox);
    if (io_mkdirs (path, 0755) < 0)
        return dr_errprintf (err, "%s: cannot create: %s", path,
                             strerror (errno));
    for (uint32_t i = 0; i < d->nentries; i++) {
        if (d->input[i] >= spec->npfs)
            return dr_errprintf (err, "bad input index %u", d->input[i]);
        if (link_entry (sandbox, spec->pfs[d->input[i]], d->path[i], err) < 0)
            return -1;
    }
    return 0;
}

void exec_env_datum (exec_env_t *e, const jobs_spec_t *spec,
                     const char *sandbox, const wdatum_t *d)
{
    char buf[4096], idhex[33];
    snprintf (buf, sizeof (buf), "%s/pfs/out", sandbox);
    exec_env_setf (e, "DATUMRUN_OUT", buf);
    io_hash_hex (&d->id, idhex);
    exec_env_setf (e, "DATUMRUN_DATUM_ID", idhex);
    /* $<input>: the first entry of each input in the datum. */
    for (uint32_t i = 0; i < d->nentries; i++) {
        const jobs_input_t *in = spec->pfs[d->input[i]];
        bool first = true;
        for (uint32_t j = 0; j < i; j++)
            if (!strcmp (spec->pfs[d->input[j]]->name, in->name))
                first = false;
        if (!first)
            continue;
        if (d->path[i][0])
            snprintf (buf, sizeof (buf), "%s/%s", in->repo, d->path[i]);
        else
            snprintf (buf, sizeof (buf), "%s", in->repo);
        exec_env_setf (e, in->name, buf);
    }
    if (d->key && d->key[0]) {
        bool join = false, group = false;
        for (uint32_t i = 0; i < d->nentries; i++) {
            const jobs_input_t *in = spec->pfs[d->input[i]];
            join |= in->join_on != NULL;
            group |= in->group_by != NULL;
        }
        if (join)
            exec_env_setf (e, "DATUMRUN_JOIN_ON", d->key);
        if (group)
            exec_env_setf (e, "DATUMRUN_GROUP_BY", d->key);
    }
}

int exec_spawn (exec_child_t *c, char *const argv[], char *const envp[],
                const char *cwd, const char *stdin_path,
                const char *out_path, const char *err_path, dr_error_t *err)
{
    posix_spawn_file_actions_t fa;
    posix_spawnattr_t attr;
    sigset_t none, defs;
    int rc;

    memset (c, 0, sizeof (*c));
    c->pid = -1;
    c->pidfd = -1;
    posix_spawn_file_actions_init (&fa);
    posix_spawnattr_init (&attr);
    posix_spawn_file_actions_addopen (&fa, 0, stdin_path ? stdin_path
                                                         : "/dev/null",
                                      O_RDONLY, 0);
    posix_spawn_file_actions_addopen (&fa, 1, out_path,
                                      O_WRONLY | O_CREAT | O_APPEND, 0644);
    posix_spawn_file_actions_addopen (&fa, 2, err_path,
                                      O_WRONLY | O_CREAT | O_APPEND, 0644);
    posix_spawn_file_actions_addchdir_np (&fa, cwd);
    sigemptyset (&none);
    sigemptyset (&defs);
    sigaddset (&defs, SIGTERM);
    sigaddset (&defs, SIGINT);
    sigaddset (&defs, SIGUSR2);
    sigaddset (&defs, SIGPIPE);
    sigaddset (&defs, SIGCHLD);
    posix_spawnattr_setsigmask (&attr, &none);
    posix_spawnattr_setsigdefault (&attr, &defs);
    posix_spawnattr_setpgroup (&attr, 0);
    posix_spawnattr_setflags (&attr, POSIX_SPAWN_SETPGROUP
                                         | POSIX_SPAWN_SETSIGMASK
                                         | POSIX_SPAWN_SETSIGDEF
                                         | POSIX_SPAWN_USEVFORK);
    c->start = dr_now ();
    c->start_ns = dr_realtime_ns ();
    rc = posix_spawnp (&c->pid, argv[0], &fa, &attr, argv, envp);
    posix_spawn_file_actions_destroy (&fa);
    posix_spawnattr_destroy (&attr);
    if (rc != 0) {
        /* Leave the reason where the user looks for the command's errors. */
        FILE *f = fopen (err_path, "a");
        if (f) {
            fprintf (f, "datumrun: cannot run '%s': %s\n", argv[0],
                     strerror (rc));
            fclose (f);
        }
        c->pid = -1;
        errno = rc;
        return dr_errprintf (err, "cannot run '%s': %s", argv[0],
                             strerror (rc));
    }
    c->pidfd = pidfd_open (c->pid, 0);  /* -1: fall back to timed polls */
    return 0;
}

int exec_poll (exec_child_t *c, int *status)
{
    pid_t r = waitpid (c->pid, status, WNOHANG);
    if (r == 0)
        return 0;
    if (r < 0 && errno == EINTR)
        return 0;
    c->duration = dr_now () - c->start;
    if (c->pidfd >= 0)
        close (c->pidfd);
    c->pidfd = -1;
    /* Whatever the command left running in its group goes with it. */
    kill (-c->pid, SIGKILL);
    c->pid = -1;
    return 1;
}

void exec_kill (exec_child_t *c, int sig)
{
    if (c->pid > 0)
        kill (-c->pid, sig);
}
