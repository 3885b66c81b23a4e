/* spawn.c: the one process-spawning helper of datumrun (jobs/spawn.h).
 * It lives in jobs/, the lowest layer, so that slurm/ (sbatch) and the
 * runner (commands, mpirun, containers, campaigns, the keeper) share it.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include "jobs/spawn.h"

extern char **environ;

/* The one way datumrun starts a process (the user's commands, mpirun,
 * the pipelines of a campaign, the keeper, sbatch, podman and apptainer).  vfork, so that a big worker does not pay
 * for copying its page tables per datum, as posix_spawn does; but unlike
 * posix_spawn the child can also set its parent-death signal, checked
 * against the parent's pid so that a parent that died before the prctl is
 * noticed.  Signals are blocked around the vfork: the child, which shares
 * our memory until it execs, must never run one of our handlers. */
int jobs_spawn_process (const jobs_spawn_t *o, pid_t *pidp, dr_error_t *err)
{
    sigset_t all, old, none;
    volatile int child_errno = 0;
    volatile const char *child_step = "exec";
    pid_t parent = getpid ();
    char *const *envp = o->envp ? o->envp : environ;
    volatile int stdin_fd = -1;

    if (o->stdin_path
        && (stdin_fd = open (o->stdin_path, O_RDONLY | O_CLOEXEC)) < 0)
        return dr_errprintf (err, "%s: %s", o->stdin_path, strerror (errno));
    sigfillset (&all);
    sigemptyset (&none);
    pthread_sigmask (SIG_BLOCK, &all, &old);
    pid_t pid = vfork ();
    if (pid == 0) {
        /* Only system calls from here to exec: we run on the parent's
         * stack and memory. */
        /* Handlers do not survive exec, but one could run in the moment
         * between unblocking and exec: reset those of the asynchronous
         * signals, and the ignored SIGPIPE, which exec would keep. */
        struct sigaction dfl = { .sa_handler = SIG_DFL };
        static const int sigs[] = { SIGTERM, SIGINT, SIGQUIT, SIGHUP,
                                    SIGUSR1, SIGUSR2, SIGALRM, SIGPIPE,
                                    SIGCHLD, SIGURG, SIGWINCH };
        for (size_t i = 0; i < sizeof (sigs) / sizeof (sigs[0]); i++)
            sigaction (sigs[i], &dfl, NULL);
        if (o->new_pgroup && setpgid (0, 0) < 0) {
            child_step = "setpgid";
            goto fail;
        }
        if (o->pdeathsig) {
            if (prctl (PR_SET_PDEATHSIG, o->pdeathsig) < 0) {
                child_step = "prctl";
                goto fail;
            }
            if (getppid () != parent)
                _exit (127);    /* the parent is gone already */
        }
        if (o->fd_in > 0 && dup2 (o->fd_in, 0) < 0) {
            child_step = "dup2";
            goto fail;
        }
        if (stdin_fd >= 0 && dup2 (stdin_fd, 0) < 0) {
            child_step = "dup2";
            goto fail;
        }
        for (int i = 1; i < 3; i++)
            if (o->fd[i - 1] >= 0 && dup2 (o->fd[i - 1], i) < 0) {
                child_step = "dup2";
                goto fail;
            }
        if (o->fd3 > 0 && (o->fd3 == 3 ? fcntl (3, F_SETFD, 0)
                                       : dup2 (o->fd3, 3)) < 0) {
            child_step = "dup2";
            goto fail;
        }
        if (o->cwd && chdir (o->cwd) < 0) {
            child_step = "chdir";
            goto fail;
        }
        sigprocmask (SIG_SETMASK, &none, NULL);
        if (o->search_path)
            execvpe (o->argv[0], o->argv, envp);
        else
            execve (o->argv[0], o->argv, envp);
fail:
        child_errno = errno;
        _exit (127);
    }
    int fork_errno = errno;
    pthread_sigmask (SIG_SETMASK, &old, NULL);
    if (stdin_fd >= 0)
        close (stdin_fd);
    if (pid < 0)
        return dr_errprintf (err, "vfork: %s", strerror (fork_errno));
    if (child_errno) {
        int e = child_errno;
        while (waitpid (pid, NULL, 0) < 0 && errno == EINTR)
            ;
        errno = e;
        if (!strcmp ((const char *)child_step, "exec"))
            return dr_errprintf (err, "cannot run '%s': %s", o->argv[0],
                                 strerror (e));
        return dr_errprintf (err, "cannot run '%s': %s: %s", o->argv[0],
                             (const char *)child_step, strerror (e));
    }
    *pidp = pid;
    return 0;
}
