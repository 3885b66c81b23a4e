/* exec_fork.c: the fork-per-datum executor (executor.h).  Each datum's
 * command is a child of its own, in a process group of its own, started
 * by exec_spawn (exec.c), its output drained from pipes into the datum's
 * log files.
 */
#define _GNU_SOURCE
#include <signal.h>
#include <stdlib.h>
#include <sys/wait.h>

#include "runner/exec.h"
#include "runner/executor.h"

typedef struct fork_exec {
    executor_t base;
    exec_child_t child;
    bool running;
} fork_exec_t;

static int fork_start (executor_t *x, const exec_task_t *t, dr_error_t *err)
{
    fork_exec_t *f = (fork_exec_t *)x;
    if (exec_spawn (&f->child, t->argv, t->envp, t->cwd, t->stdin_path,
                    t->out_path, t->err_path, err) < 0)
        return -1;
    f->child.log_limit = t->log_limit;
    f->running = true;
    return 0;
}

static int fork_poll (executor_t *x, exec_status_t *st)
{
    fork_exec_t *f = (fork_exec_t *)x;
    int status;
    if (!f->running || !exec_poll (&f->child, &status))
        return 0;
    f->running = false;
    st->status = status;
    st->duration = f->child.duration;
    return 1;
}

static void fork_kill (executor_t *x, int sig)
{
    fork_exec_t *f = (fork_exec_t *)x;
    if (f->running)
        exec_kill (&f->child, sig);
}

static void fork_wait (executor_t *x, double seconds)
{
    fork_exec_t *f = (fork_exec_t *)x;
    if (f->running)
        exec_wait (&f->child, seconds);
    else
        runner_idle_wait (-1, seconds);
}

static void fork_destroy (executor_t *x)
{
    fork_exec_t *f = (fork_exec_t *)x;
    if (f->running) {
        exec_status_t st;
        exec_kill (&f->child, SIGKILL);
        while (!fork_poll (x, &st))
            exec_wait (&f->child, 0.01);
    }
    free (f);
}

static const executor_ops_t fork_ops = {
    .name = "fork",
    .start = fork_start,
    .poll = fork_poll,
    .kill = fork_kill,
    .wait = fork_wait,
    .destroy = fork_destroy,
};

executor_t *executor_fork_create (void)
{
    fork_exec_t *f = calloc (1, sizeof (*f));
    if (!f)
        return NULL;
    f->base.ops = &fork_ops;
    f->child.pid = -1;
    return &f->base;
}
