/* keeper.c: a worker's commands die with it.  PR_SET_PDEATHSIG reaches
 * only a command's first process, not what it started; so each worker
 * starts a keeper, a tiny process (this executable run as `__keeper`)
 * that reads from a pipe the process groups of the commands the worker
 * runs.  When the worker dies, even by SIGKILL, the pipe reaches end of
 * file and the keeper kills the groups still listed.  On a normal exit
 * the list is empty and the keeper just leaves.  It ignores the stop
 * signals the job gets (Slurm signals every process of a step): stopping
 * commands is the worker's business, killing them after it is the
 * keeper's.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "runner/exec.h"
#include "runner/runner.h"

static int keeper_fd = -1;
static pid_t keeper_pid_ = -1;

int keeper_start (dr_error_t *err)
{
    int p[2];
    if (keeper_fd >= 0)
        return 0;
    char *exe = runner_self_exe ();
    if (!exe)
        return dr_errprintf (err, "cannot find my own executable: %s",
                             strerror (errno));
    if (pipe2 (p, O_CLOEXEC) < 0) {
        free (exe);
        return dr_errprintf (err, "pipe: %s", strerror (errno));
    }
    char *argv[] = { exe, (char *)"__keeper", NULL };
    exec_spawn_t so = { .argv = argv, .fd = { -1, -1 }, .fd_in = p[0],
                        .new_pgroup = true };
    int rc = exec_spawn_process (&so, &keeper_pid_, err);
    free (exe);
    close (p[0]);
    if (rc < 0) {
        close (p[1]);
        return -1;
    }
    keeper_fd = p[1];
    exec_keep_child (keeper_pid_, true);
    return 0;
}

static void keeper_send (int32_t v)
{
    if (keeper_fd < 0)
        return;
    while (write (keeper_fd, &v, sizeof (v)) < 0 && errno == EINTR)
        ;
}

void keeper_watch (pid_t pgid)
{
    keeper_send ((int32_t)pgid);
}

void keeper_unwatch (pid_t pgid)
{
    keeper_send (-(int32_t)pgid);
}

pid_t keeper_pid (void)
{
    return keeper_pid_;
}

void keeper_stop (void)
{
    if (keeper_fd < 0)
        return;
    close (keeper_fd);
    keeper_fd = -1;
    while (waitpid (keeper_pid_, NULL, 0) < 0 && errno == EINTR)
        ;
    exec_keep_child (keeper_pid_, false);
    keeper_pid_ = -1;
}

int keeper_main (void)
{
    static const int ignored[] = { SIGTERM, SIGINT, SIGHUP, SIGQUIT,
                                   SIGUSR1, SIGUSR2, SIGPIPE };
    for (size_t i = 0; i < sizeof (ignored) / sizeof (ignored[0]); i++)
        signal (ignored[i], SIG_IGN);
    pid_t *g = NULL;
    size_t n = 0, cap = 0;
    int32_t v;
    for (;;) {
        ssize_t r = read (0, &v, sizeof (v));
        if (r < 0 && errno == EINTR)
            continue;
        if (r != (ssize_t)sizeof (v))
            break;      /* end of file: the worker is gone */
        if (v > 0) {
            if (n == cap) {
                cap = cap ? 2 * cap : 8;
                if (!(g = realloc (g, cap * sizeof (*g))))
                    _exit (1);
            }
            g[n++] = v;
        }
        else {
            for (size_t i = 0; i < n; i++)
                if (g[i] == -v) {
                    g[i] = g[--n];
                    break;
                }
        }
    }
    for (size_t i = 0; i < n; i++) {
        kill (-g[i], SIGKILL);
        kill (g[i], SIGKILL);
    }
    free (g);
    return 0;
}
