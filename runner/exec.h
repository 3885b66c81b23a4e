/* exec.h: a datum's sandbox, environment and child process (exec.c). */
#ifndef DATUMRUN_RUNNER_EXEC_H
#define DATUMRUN_RUNNER_EXEC_H

#include "jobs/spawn.h"
#include "runner/proto.h"
#include "runner/runner.h"

/* The runner's name for the one process-spawning helper (jobs/spawn.h). */
typedef jobs_spawn_t exec_spawn_t;
static inline int exec_spawn_process (const exec_spawn_t *o, pid_t *pid,
                                      dr_error_t *err)
{
    return jobs_spawn_process (o, pid, err);
}

/* Kill and reap every child of ours not marked with exec_keep_child:
 * what a finished datum's command left behind (setsid and nohup children
 * were reparented to the worker, a child subreaper), until none is left.
 * The fork executor calls it when a datum ends. */
void exec_reap_orphans (void);
/* Mark (keep true) or unmark a child that outlives datums: the keeper, a
 * batched executor's long-lived command.  At most 16. */
void exec_keep_child (pid_t pid, bool keep);

/* keeper.c: the worker's commands die with it, even by SIGKILL; and a
 * worker silent (stopped, hung) for timeout seconds plus a margin is
 * killed by it (timeout 0: never). */
int keeper_start (double timeout, dr_error_t *err);
void keeper_tick (void);            /* the worker's loop: I am alive */
void keeper_watch (pid_t pgid);     /* a command's process group */
void keeper_unwatch (pid_t pgid);
pid_t keeper_pid (void);            /* -1 when none */
void keeper_stop (void);            /* when every command has ended */
int keeper_main (const char *limit); /* the keeper process (`__keeper`) */

typedef struct exec_env {
    char **v;           /* NULL-terminated "K=V" */
    size_t n, cap;
} exec_env_t;

void exec_env_set (exec_env_t *e, const char *kv);
void exec_env_setf (exec_env_t *e, const char *name, const char *value);
void exec_env_free (exec_env_t *e);
/* The environment every datum shares: ours without MPI's private
 * variables, transform.env, DATUMRUN_PIPELINE and DATUMRUN_JOB_ID, and
 * without the names exec_env_datum sets. */
void exec_env_base (exec_env_t *e, const jobs_spec_t *spec,
                    const char *job_id);
/* Per datum: base plus DATUMRUN_OUT, DATUMRUN_DATUM_ID, $<input> and the
 * join/group key.  Only the per-datum strings are allocated. */
void exec_env_datum (exec_env_t *e, const exec_env_t *base,
                     const jobs_spec_t *spec, const char *sandbox,
                     const wdatum_t *d);
/* The same with DATUMRUN_OUT set to out (NULL: <sandbox>/pfs/out): a
 * datum handed ahead in a batched command's window has its own. */
void exec_env_datum_out (exec_env_t *e, const exec_env_t *base,
                         const jobs_spec_t *spec, const char *sandbox,
                         const wdatum_t *d, const char *out);
/* Pachyderm's names beside ours (pachenv.c): PACH_JOB_ID and the others
 * every datum shares, and PACH_DATUM_ID and the per-input keys. */
void exec_env_pach_base (exec_env_t *e, const jobs_spec_t *spec,
                         const char *job_id);
void exec_env_pach_datum (exec_env_t *e, const jobs_spec_t *spec,
                          const wdatum_t *d, const char *idhex);
/* Append "K=V" kv (taken over) to a per-datum environment. */
void exec__env_push (exec_env_t *e, char *kv);
/* Free what exec_env_datum allocated. */
void exec_env_datum_free (exec_env_t *e, const exec_env_t *base);

/* The absolute path of argv0 in the environment's PATH, or NULL.  Caller
 * frees. */
char *exec_resolve (const exec_env_t *env, const char *argv0);

typedef struct exec_child {
    pid_t pid;          /* -1 when none */
    int pidfd;          /* readable when it exits; -1 if unsupported */
    int pipe[2];        /* read ends of its stdout and stderr, or -1 */
    int log[2];         /* log files, opened when it first writes */
    char *log_path[2];
    uint64_t log_limit; /* bytes kept per stream, 0 = all (--log-limit) */
    uint64_t logged[2]; /* bytes the command wrote to each stream */
    double start;       /* dr_now() at start */
    int64_t start_ns;
    double duration;
} exec_child_t;

/* Start argv[0] (an absolute path) in cwd, in a new process group, with
 * stdin from stdin_path (NULL: /dev/null) and stdout/stderr collected into
 * out_path/err_path, which are created only if it writes anything. */
int exec_spawn (exec_child_t *c, char *const argv[], char *const envp[],
                const char *cwd, const char *stdin_path,
                const char *out_path, const char *err_path, dr_error_t *err);
/* The same, handing fd3 (> 0) on as the child's descriptor 3. */
int exec_spawn_fd3 (exec_child_t *c, char *const argv[], char *const envp[],
                    const char *cwd, const char *stdin_path,
                    const char *out_path, const char *err_path, int fd3,
                    dr_error_t *err);
/* Copy what it wrote so far into its log files.  Returns 0, or -1 when
 * both pipes are closed. */
int exec_drain (exec_child_t *c);
/* 1 and *status when it has exited (its pipes drained and closed), 0
 * while it runs. */
int exec_poll (exec_child_t *c, int *status);
/* Signal its whole process group. */
void exec_kill (exec_child_t *c, int sig);
/* Wait until it may have changed: exits, writes, or `seconds` pass. */
void exec_wait (exec_child_t *c, double seconds);

#endif
