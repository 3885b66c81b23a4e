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
 *
 * The keeper is also the worker's watchdog, on whatever node it runs: the
 * worker ticks (a 0 on the pipe) about once a second from its loop, the
 * loop that sends rank 0 its heartbeats.  A worker that stops ticking for
 * worker_timeout plus a margin (SIGSTOP, a hang: rank 0 has declared it
 * lost by then) is killed, and its commands with it.  Rank 0 can kill
 * only the workers of its own node; this reaches the others.  A keeper
 * that finds it was stopped itself (a whole job suspended, then resumed:
 * its own wakeups came late) starts counting again.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdio.h>
#include <signal.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "runner/exec.h"
#include "runner/runner.h"

static int keeper_fd = -1;
static pid_t keeper_pid_ = -1;
static double last_tick;

/* Seconds of silence after worker_timeout before the keeper kills. */
#define KEEPER_MARGIN 5.0

int keeper_start (double timeout, dr_error_t *err)
{
    char limit[32];
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
    snprintf (limit, sizeof (limit), "%.3f",
              timeout > 0 ? timeout + KEEPER_MARGIN : 0.0);
    char *argv[] = { exe, (char *)"__keeper", limit, NULL };
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

void keeper_tick (void)
{
    double now = dr_now ();
    if (now - last_tick < 1.0)
        return;
    last_tick = now;
    keeper_send (0);
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

static double mono_now (void)
{
    struct timespec ts;
    clock_gettime (CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static void kill_groups (const pid_t *g, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        kill (-g[i], SIGKILL);
        kill (g[i], SIGKILL);
    }
}

int keeper_main (const char *limit_arg)
{
    static const int ignored[] = { SIGTERM, SIGINT, SIGHUP, SIGQUIT,
                                   SIGUSR1, SIGUSR2, SIGPIPE };
    for (size_t i = 0; i < sizeof (ignored) / sizeof (ignored[0]); i++)
        signal (ignored[i], SIG_IGN);
    double limit = limit_arg ? atof (limit_arg) : 0.0;
    pid_t worker = getppid ();
    pid_t *g = NULL;
    size_t n = 0, cap = 0;
    int32_t v;
    double heard = mono_now (), woke = heard;
    for (;;) {
        struct pollfd pfd = { .fd = 0, .events = POLLIN };
        int pr = poll (&pfd, 1, limit > 0 ? 1000 : -1);
        double now = mono_now ();
        if (now - woke > 3.0)
            heard = now;    /* we were stopped too: count afresh */
        woke = now;
        if (pr < 0 && errno != EINTR)
            break;
        if (pr <= 0) {
            if (limit > 0 && now - heard > limit && getppid () == worker) {
                /* Silent (stopped or hung) long past worker_timeout:
                 * rank 0 has given it up.  It dies, and its commands. */
                fprintf (stderr, "datumrun[keeper]: worker pid %d silent "
                         "for %.0fs (stopped or hung): killed, with its "
                         "commands\n", (int)worker, now - heard);
                kill (worker, SIGKILL);
                kill_groups (g, n);
                n = 0;
                /* then its pipe ends, and we leave */
            }
            continue;
        }
        ssize_t r = read (0, &v, sizeof (v));
        if (r < 0 && errno == EINTR)
            continue;
        if (r != (ssize_t)sizeof (v))
            break;      /* end of file: the worker is gone */
        heard = now;
        if (v > 0) {
            if (n == cap) {
                cap = cap ? 2 * cap : 8;
                if (!(g = realloc (g, cap * sizeof (*g))))
                    _exit (1);
            }
            g[n++] = v;
        }
        else if (v < 0) {
            for (size_t i = 0; i < n; i++)
                if (g[i] == -v) {
                    g[i] = g[--n];
                    break;
                }
        }
    }
    kill_groups (g, n);
    free (g);
    return 0;
}
