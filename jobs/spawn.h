/* spawn.h: the one process-spawning helper (spawn.c), used by every layer
 * that starts a process. */
#ifndef DATUMRUN_JOBS_SPAWN_H
#define DATUMRUN_JOBS_SPAWN_H

#include <stdbool.h>
#include <sys/types.h>

#include "jobs/jobs.h"

/* How to start a process (jobs_spawn_process). */
typedef struct jobs_spawn {
    char *const *argv;      /* argv[0] a path, or a name with search_path */
    char *const *envp;      /* NULL: ours */
    const char *cwd;        /* NULL: ours */
    const char *stdin_path; /* NULL: ours */
    int fd_in;              /* or an fd (> 0) for its stdin; 0: as above */
    int fd[2];              /* stdout, stderr: fds to dup, -1 ours (use
                             * {-1, -1} explicitly: 0 is an fd) */
    bool new_pgroup;        /* a process group of its own */
    bool search_path;       /* look argv[0] up in envp's PATH */
    int pdeathsig;          /* signal it gets when we die, 0 none */
    int fd3;                /* > 0: handed on as descriptor 3 (the
                             * batching socket, runner/exec_batch.c) */
} jobs_spawn_t;

/* Start a process.  The child gets default handlers, an empty signal
 * mask, and the options above.  Returns 0 and *pid, or -1 with errno and
 * err ("cannot run 'x': reason"). */
int jobs_spawn_process (const jobs_spawn_t *o, pid_t *pid, dr_error_t *err);

#endif
