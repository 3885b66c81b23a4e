/* executor.h: how a worker runs a datum's command, behind one interface.
 *
 * The worker's loop (worker.c) knows nothing of processes: it asks an
 * executor to start a datum, polls it, kills it on a timeout or a stop,
 * and sleeps in its wait.  Implementations:
 *   executor_fork_create()   one process per datum (exec_fork.c)
 *   a batched executor       one long-lived command per worker, fed datum
 *                            after datum through an fd protocol (issue 10:
 *                            `transform.datum_batching`)
 * A worker holds one executor for transform.cmd, chosen once per job, and
 * a fork executor for err_cmd.
 *
 * The contract every implementation keeps:
 * - start(x, task, err): begin running task->datum, at most one datum at
 *   a time.  The sandbox (task->cwd) is ready, task->envp is the datum's
 *   environment.  Returns 0, or -1 with err when it could not be started
 *   (the worker then fails the attempt with err's text).  A batched
 *   executor starts its command on first use (or after it died) and hands
 *   it the datum; it may keep the command across datums.
 * - poll(x, st): 1 when the datum has ended, with st->status in waitpid's
 *   encoding (a batched datum that succeeds is 0, one the command reports
 *   failed is exit 1, and if the command dies its wait status) and
 *   st->duration; 0 while it runs.  Once poll has returned 1, nothing
 *   started for that datum is still running (fork: the process group and
 *   every descendant the worker, a child subreaper, inherited), and all
 *   its stdout/stderr is in task->out_path/err_path (created only if it
 *   wrote something).  A batched executor splits its command's output at
 *   datum boundaries.
 * - kill(x, sig): signal what runs the current datum (fork: its process
 *   group; batched: the command, which is started again for the next
 *   datum).  The worker sends SIGTERM, then SIGKILL after a grace; poll
 *   still reports the end.
 * - wait(x, seconds): sleep until the datum may have changed (ended, wrote
 *   output) or `seconds` passed.  Must not spin.
 * - destroy(x): kill whatever still runs, wait for it, free.  Accepts NULL.
 * The caller keeps task and everything it points to alive until poll has
 * returned 1.
 */
#ifndef DATUMRUN_RUNNER_EXECUTOR_H
#define DATUMRUN_RUNNER_EXECUTOR_H

#include "runner/proto.h"
#include "runner/runner.h"

typedef struct exec_task {
    const wdatum_t *datum;
    char *const *argv;          /* argv[0] resolved to a path */
    char *const *envp;
    char *const *vars;          /* the datum's own "NAME=VALUE"s (what it
                                   adds to the base environment), or NULL:
                                   what follows the base in envp */
    const char *cwd;            /* the datum's sandbox */
    const char *stdin_path;     /* NULL: /dev/null */
    const char *out_path;       /* the datum's log files */
    const char *err_path;
    uint64_t log_limit;         /* bytes kept per log stream, 0 = all */
    /* When set, the datum's pfs/<input> entries are not made yet: the
     * executor calls prepare(prepare_arg, links, err) before the command
     * can see the datum (batched: when it hands it the record; links false
     * when the command asked with "next paths").  -1 fails the datum with
     * err's text. */
    int (*prepare) (void *arg, bool links, dr_error_t *err);
    void *prepare_arg;
    /* When set, a batched command that asks for a window ("next paths
     * window=N", docs/batching.md) may be handed the datums that follow
     * this one with its record: upcoming(prepare_arg, i) is the i-th
     * datum after it in the worker's queue (NULL past the end), and
     * out_dir(prepare_arg, k, err) the output folder of window slot k
     * (k >= 1; NULL with err when it cannot be made).  A later start()
     * of a datum handed so only makes it current. */
    const wdatum_t *(*upcoming) (void *arg, size_t i);
    const char *(*out_dir) (void *arg, unsigned slot, dr_error_t *err);
} exec_task_t;

typedef struct exec_status {
    int status;                 /* waitpid's encoding */
    double duration;            /* seconds */
    char message[256];          /* why it failed when the executor knows
                                   more than the status (batched: the
                                   command's "done fail" text), or "" */
    bool no_space;              /* it failed on a full disk (ENOSPC) */
    unsigned out_slot;          /* where its outputs are: window slot
                                   (0: pfs/out) */
    bool window_open;           /* the command holds later datums of its
                                   window: leave the rest of the sandbox
                                   as it is */
} exec_status_t;

typedef struct executor executor_t;

typedef struct executor_ops {
    const char *name;
    int (*start) (executor_t *x, const exec_task_t *t, dr_error_t *err);
    int (*poll) (executor_t *x, exec_status_t *st);
    void (*kill) (executor_t *x, int sig);
    void (*wait) (executor_t *x, double seconds);
    void (*destroy) (executor_t *x);
} executor_ops_t;

/* Implementations embed this as their first member. */
struct executor {
    const executor_ops_t *ops;
};

static inline int executor_start (executor_t *x, const exec_task_t *t,
                                  dr_error_t *err)
{
    return x->ops->start (x, t, err);
}

static inline int executor_poll (executor_t *x, exec_status_t *st)
{
    return x->ops->poll (x, st);
}

static inline void executor_kill (executor_t *x, int sig)
{
    x->ops->kill (x, sig);
}

static inline void executor_wait (executor_t *x, double seconds)
{
    x->ops->wait (x, seconds);
}

static inline void executor_destroy (executor_t *x)
{
    if (x)
        x->ops->destroy (x);
}

/* One process per datum, in a process group of its own.  NULL on ENOMEM. */
executor_t *executor_fork_create (void);

/* transform.datum_batching: one long-lived command fed datum after datum
 * over the batching protocol (exec_batch.c, docs/batching.md).  base is
 * the worker's base environment (exec_env_base), filled in before the
 * first start and kept alive until destroy; each task's envp must begin
 * with base's strings, as exec_env_datum makes it.  NULL on ENOMEM. */
struct exec_env;
executor_t *executor_batch_create (const jobs_spec_t *spec,
                                   const struct exec_env *base);

#endif /* DATUMRUN_RUNNER_EXECUTOR_H */
