/* sandbox_ro.c: inputs are read-only to the user's command.
 *
 * At start-up each worker rank moves into a private mount namespace of its
 * own (unshare(CLONE_NEWNS), then MS_REC|MS_PRIVATE on / so that nothing
 * propagates back) and bind-mounts each input repo read-only over itself:
 * the command inherits the namespace, so writing through a pfs/ link into
 * a repo fails with EROFS.  The sandbox's pfs/<input> folders are
 * read-only bind mounts too (made once per job by sandbox.c, which writes
 * the links through descriptors opened before the bind), so `rm pfs/in/x`
 * fails as well.
 *
 * This needs CAP_SYS_ADMIN (root).  An unprivileged user namespace would
 * do, but the kernel refuses CLONE_NEWUSER to a multithreaded process and
 * an MPI rank has threads by the time it runs; without root the inputs
 * stay writable, rank 0 says so once per job and `info` reports the mode.
 * Only the worker's main thread moves: it spawns the commands.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "runner/runner.h"

static bool ro_active;

/* Bind path over itself, read-only. */
static int bind_ro (const char *path)
{
    if (mount (path, path, NULL, MS_BIND | MS_REC, NULL) < 0)
        return -1;
    if (mount (NULL, path, NULL, MS_BIND | MS_REMOUNT | MS_RDONLY, NULL) < 0) {
        int e = errno;
        umount2 (path, MNT_DETACH);
        errno = e;
        return -1;
    }
    return 0;
}

static int enter_namespace (char *why, size_t len)
{
    if (unshare (CLONE_NEWNS) < 0) {
        snprintf (why, len, "cannot make a private mount namespace: %s%s",
                  strerror (errno),
                  geteuid () ? " (it needs root; an MPI rank cannot enter "
                               "a user namespace)"
                             : "");
        return -1;
    }
    if (mount (NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) < 0) {
        snprintf (why, len, "cannot make the mount namespace private: %s",
                  strerror (errno));
        return -1;
    }
    return 0;
}

bool runner_ro_probe (char *why, size_t len)
{
    if (geteuid () != 0) {
        snprintf (why, len, "not root: a private mount namespace needs "
                  "CAP_SYS_ADMIN, and an MPI rank cannot enter a user "
                  "namespace (it has threads)");
        return false;
    }
    /* Try it in a child, which then exits: the caller stays as it is. */
    pid_t pid = fork ();
    if (pid < 0) {
        snprintf (why, len, "cannot fork to probe: %s", strerror (errno));
        return false;
    }
    if (pid == 0) {
        char w[8];
        _exit (enter_namespace (w, sizeof (w)) < 0 || bind_ro ("/") < 0);
    }
    int status;
    while (waitpid (pid, &status, 0) < 0 && errno == EINTR)
        ;
    if (!WIFEXITED (status) || WEXITSTATUS (status)) {
        snprintf (why, len, "mount namespaces or bind mounts are not "
                  "permitted here (a container without CAP_SYS_ADMIN?)");
        return false;
    }
    snprintf (why, len, "private mount namespace, read-only bind mounts");
    return true;
}

int runner_ro_setup (const jobs_spec_t *spec)
{
    char why[256];
    ro_active = false;
    if (geteuid () != 0 || enter_namespace (why, sizeof (why)) < 0)
        return 0;   /* rank 0 has said so once for the job */
    for (size_t i = 0; i < spec->npfs; i++) {
        const char *repo = spec->pfs[i]->repo;
        bool dup = false;
        for (size_t j = 0; j < i && !dup; j++)
            dup = !strcmp (spec->pfs[j]->repo, repo);
        if (dup)
            continue;
        if (bind_ro (repo) < 0) {
            dr_log (LOG_WARN, "input repo %s stays writable to the "
                    "commands: cannot bind-mount it read-only: %s", repo,
                    strerror (errno));
            return -1;
        }
    }
    ro_active = true;
    return 0;
}

bool runner_ro_active (void)
{
    return ro_active;
}

int runner_ro_bind (const char *path)
{
    if (!ro_active) {
        errno = ENOTSUP;
        return -1;
    }
    return bind_ro (path);
}

void runner_ro_unbind (const char *path)
{
    if (ro_active)
        umount2 (path, MNT_DETACH | UMOUNT_NOFOLLOW);
}
