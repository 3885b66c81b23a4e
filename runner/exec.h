/* exec.h: a datum's sandbox, environment and child process (exec.c). */
#ifndef DATUMRUN_RUNNER_EXEC_H
#define DATUMRUN_RUNNER_EXEC_H

#include "runner/runner.h"

typedef struct exec_env {
    char **v;           /* NULL-terminated "K=V" */
    size_t n, cap;
} exec_env_t;

void exec_env_set (exec_env_t *e, const char *kv);
void exec_env_setf (exec_env_t *e, const char *name, const char *value);
void exec_env_copy (exec_env_t *dst, const exec_env_t *src);
void exec_env_free (exec_env_t *e);
/* The environment every datum shares: ours without MPI's private
 * variables, transform.env, DATUMRUN_PIPELINE and DATUMRUN_JOB_ID. */
void exec_env_base (exec_env_t *e, const jobs_spec_t *spec,
                    const char *job_id);
/* Per datum: DATUMRUN_OUT, DATUMRUN_DATUM_ID, $<input>, join/group key. */
void exec_env_datum (exec_env_t *e, const jobs_spec_t *spec,
                     const char *sandbox, const wdatum_t *d);

/* A fresh sandbox: pfs/<input>/<path> links and an empty pfs/out. */
int exec_sandbox_create (const char *sandbox, const jobs_spec_t *spec,
                         const wdatum_t *d, dr_error_t *err);

typedef struct exec_child {
    pid_t pid;          /* -1 when none */
    int pidfd;          /* readable when it exits; -1 if unsupported */
    double start;       /* dr_now() at start */
    int64_t start_ns;
    double duration;
} exec_child_t;

int exec_spawn (exec_child_t *c, char *const argv[], char *const envp[],
                const char *cwd, const char *stdin_path,
                const char *out_path, const char *err_path, dr_error_t *err);
/* 1 and *status when it has exited, 0 while it runs. */
int exec_poll (exec_child_t *c, int *status);
/* Signal its whole process group. */
void exec_kill (exec_child_t *c, int sig);

#endif
