/* submit.c: run a Slurm command with a script on its standard input
 * (slurm__run), and with it hand a batch script to `sbatch --parsable` and
 * read back the job id.  The script never touches the disk, so
 * there is no temporary file to leak; sbatch's error output is kept for
 * the message, since it is the only place that says why Slurm refused.
 */
#define _GNU_SOURCE /* pipe2 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "jobs/spawn.h"
#include "slurm/private.h"
#include "slurm/slurm.h"


#define SUBMIT_TIMEOUT_MS (120 * 1000)
#define CAPTURE_MAX 4096

typedef struct capture {
    char text[CAPTURE_MAX];
    size_t len;
} capture_t;

static void capture_read (int *fd, capture_t *c)
{
    char tmp[1024];
    ssize_t n = read (*fd, tmp, sizeof (tmp));
    if (n < 0 && (errno == EINTR || errno == EAGAIN))
        return;
    if (n <= 0) {
        close (*fd);
        *fd = -1;
        return;
    }
    size_t room = sizeof (c->text) - 1 - c->len;
    size_t take = (size_t)n < room ? (size_t)n : room;
    memcpy (c->text + c->len, tmp, take);
    c->len += take;
    c->text[c->len] = '\0';
}

static long long now_ms (void)
{
    struct timespec ts;
    clock_gettime (CLOCK_MONOTONIC, &ts);
    return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Trim trailing blanks and keep the last line-ish part readable. */
static void chomp (char *s)
{
    size_t n = strlen (s);
    while (n > 0 && (s[n - 1] == '\n' || s[n - 1] == ' ' || s[n - 1] == '\r'))
        s[--n] = '\0';
}

int slurm__run (char *const argv[], const char *script, char *out_text,
                size_t out_len, char *err_text, size_t err_len, int *status_out,
                dr_error_t *err)
{
    int in[2] = { -1, -1 }, out[2] = { -1, -1 }, errp[2] = { -1, -1 };
    sigset_t pipe_set, old_set;
    bool masked = false;
    pid_t pid = -1;
    capture_t cout = { .len = 0 }, cerr = { .len = 0 };
    int rc = -1;
    const char *prog = argv[0];

    if (!script)
        script = "";
    if (pipe2 (in, O_CLOEXEC) < 0 || pipe2 (out, O_CLOEXEC) < 0
        || pipe2 (errp, O_CLOEXEC) < 0) {
        dr_errprintf (err, "%s: pipe: %s", prog, strerror (errno));
        goto done;
    }
    jobs_spawn_t so = { .argv = argv, .fd_in = in[0],
                        .fd = { out[1], errp[1] }, .search_path = true };
    if (jobs_spawn_process (&so, &pid, err) < 0) {
        int e = errno;
        pid = -1;
        dr_errprintf (err, "cannot run %s: %s%s", prog, strerror (e),
                      e == ENOENT ? " (is Slurm installed and sbatch on "
                                    "PATH?)"
                                  : "");
        errno = e;
        goto done;
    }
    close (in[0]);
    close (out[1]);
    close (errp[1]);
    in[0] = out[1] = errp[1] = -1;

    /* sbatch may exit before reading all of the script; a write to its
     * closed stdin must fail with EPIPE, not kill the caller. */
    sigemptyset (&pipe_set);
    sigaddset (&pipe_set, SIGPIPE);
    masked = pthread_sigmask (SIG_BLOCK, &pipe_set, &old_set) == 0;
    fcntl (in[1], F_SETFL, O_NONBLOCK);

    const char *w = script;
    size_t left = strlen (script);
    if (left == 0) {
        close (in[1]);
        in[1] = -1;
    }
    long long deadline = now_ms () + SUBMIT_TIMEOUT_MS;
    bool timed_out = false;
    while (in[1] >= 0 || out[0] >= 0 || errp[0] >= 0) {
        struct pollfd p[3] = {
            { .fd = in[1], .events = POLLOUT },
            { .fd = out[0], .events = POLLIN },
            { .fd = errp[0], .events = POLLIN },
        };
        long long wait = deadline - now_ms ();
        if (wait <= 0) {
            timed_out = true;
            break;
        }
        if (poll (p, 3, (int)wait) < 0) {
            if (errno == EINTR)
                continue;
            dr_errprintf (err, "%s: poll: %s", prog, strerror (errno));
            goto done;
        }
        if (in[1] >= 0 && (p[0].revents & (POLLOUT | POLLERR | POLLHUP))) {
            ssize_t n = write (in[1], w, left);
            if (n > 0) {
                w += n;
                left -= (size_t)n;
            }
            if ((n < 0 && errno != EAGAIN && errno != EINTR) || left == 0) {
                close (in[1]);
                in[1] = -1;
            }
        }
        if (out[0] >= 0 && (p[1].revents & (POLLIN | POLLERR | POLLHUP)))
            capture_read (&out[0], &cout);
        if (errp[0] >= 0 && (p[2].revents & (POLLIN | POLLERR | POLLHUP)))
            capture_read (&errp[0], &cerr);
    }
    if (timed_out) {
        kill (pid, SIGKILL);
        waitpid (pid, NULL, 0);
        pid = -1;
        errno = ETIMEDOUT;
        dr_errprintf (err, "%s did not finish within %d s (is slurmctld "
                      "running?)", prog, SUBMIT_TIMEOUT_MS / 1000);
        goto done;
    }

    int status;
    while (waitpid (pid, &status, 0) < 0) {
        if (errno != EINTR) {
            dr_errprintf (err, "%s: waitpid: %s", prog, strerror (errno));
            pid = -1;
            goto done;
        }
    }
    pid = -1;
    chomp (cerr.text);
    chomp (cout.text);
    if (out_text && out_len)
        snprintf (out_text, out_len, "%s", cout.text);
    if (err_text && err_len)
        snprintf (err_text, err_len, "%s", cerr.text);
    if (status_out)
        *status_out = status;
    rc = 0;
done:
    if (pid > 0) {
        kill (pid, SIGKILL);
        waitpid (pid, NULL, 0);
    }
    int saved = errno;
    for (int i = 0; i < 2; i++) {
        if (in[i] >= 0)
            close (in[i]);
        if (out[i] >= 0)
            close (out[i]);
        if (errp[i] >= 0)
            close (errp[i]);
    }
    if (masked) {
        /* Drop a SIGPIPE raised by our write before unblocking it. */
        struct timespec zero = { 0, 0 };
        while (sigtimedwait (&pipe_set, NULL, &zero) > 0)
            ;
        pthread_sigmask (SIG_SETMASK, &old_set, NULL);
    }
    errno = saved;
    return rc;
}

int slurm_submit (const char *script, char *jobid_out, size_t len,
                  dr_error_t *err)
{
    static char *const argv[] = { "sbatch", "--parsable", NULL };
    capture_t cout = { .len = 0 }, cerr = { .len = 0 };
    int status = 0;

    if (!script || !jobid_out || len == 0) {
        errno = EINVAL;
        return dr_errprintf (err, "sbatch: missing script or job id buffer");
    }
    if (slurm__run (argv, script, cout.text, sizeof (cout.text), cerr.text,
                    sizeof (cerr.text), &status, err) < 0)
        return -1;
    cerr.len = strlen (cerr.text);
    if (!WIFEXITED (status) || WEXITSTATUS (status) != 0) {
        errno = EIO;
        if (WIFEXITED (status))
            dr_errprintf (err, "sbatch failed (exit %d): %s",
                          WEXITSTATUS (status),
                          cerr.len ? cerr.text : "no error output");
        else
            dr_errprintf (err, "sbatch killed by signal %d: %s",
                          WTERMSIG (status),
                          cerr.len ? cerr.text : "no error output");
        return -1;
    }
    /* --parsable prints "jobid" or "jobid;cluster". */
    size_t idlen = strcspn (cout.text, ";\n");
    if (idlen == 0 || strspn (cout.text, "0123456789_") < idlen) {
        errno = EPROTO;
        return dr_errprintf (err, "sbatch printed no job id (stdout \"%s\", "
                             "stderr \"%s\")", cout.text, cerr.text);
    }
    if (idlen >= len) {
        errno = ERANGE;
        return dr_errprintf (err, "sbatch job id \"%.*s\" does not fit in "
                             "%zu bytes", (int)idlen, cout.text, len);
    }
    memcpy (jobid_out, cout.text, idlen);
    jobid_out[idlen] = '\0';
    return 0;
}
