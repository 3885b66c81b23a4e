/* ttyline.c: the live status line of `datumrun run` on a terminal.  The
 * launcher owns the terminal: mpirun's output (rank 0's messages, its
 * summary) comes to it through a pipe and is passed on as it comes, and in
 * between the launcher redraws one line in place ("\r", the line, ESC[K)
 * from the status file rank 0 rewrites (progress.c).  The line is erased
 * before any output is passed on and never redrawn after a partial line,
 * so messages and the final summary reach the terminal whole; when mpirun
 * closes its output the line is erased for good.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <jansson.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "runner/progress.h"
#include "runner/runner.h"

/* Whether the launcher should draw the line: stderr a terminal, not -q. */
bool runner_tty_wanted (const run_opts_t *o)
{
    const char *e = getenv ("DATUMRUN_NO_STATUS_LINE");
    return !o->quiet && isatty (STDERR_FILENO) && !(e && *e);
}

/* Whether stdout is the terminal stderr is. */
bool runner_tty_stdout_same (void)
{
    struct stat a, b;
    return isatty (STDOUT_FILENO) && fstat (STDOUT_FILENO, &a) == 0
           && fstat (STDERR_FILENO, &b) == 0 && a.st_rdev == b.st_rdev;
}

static void put (const char *s, size_t n)
{
    while (n > 0) {
        ssize_t w = write (STDERR_FILENO, s, n);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0)
            return;
        s += w;
        n -= (size_t)w;
    }
}

static int columns (void)
{
    struct winsize ws;
    if (ioctl (STDERR_FILENO, TIOCGWINSZ, &ws) == 0 && ws.ws_col > 10)
        return ws.ws_col;
    return 80;
}

/* Draw the line if the status is this job's (started after t0_ns) and it
 * is running; returns whether a line is shown. */
static bool draw (const char *state_dir, int64_t t0_ns)
{
    json_t *st = progress_read_status (state_dir);
    if (!st)
        return false;
    const char *state = "";
    json_int_t started = 0;
    json_unpack (st, "{s?s, s?I}", "state", &state, "started_ns", &started);
    bool ours = started >= t0_ns && !strcmp (state, "running");
    if (ours) {
        char line[512], out[600];
        progress_format_line (st, line, sizeof (line));
        int width = columns () - 1;
        int n = snprintf (out, sizeof (out), "\r%.*s\033[K", width, line);
        put (out, (size_t)n < sizeof (out) ? (size_t)n : sizeof (out) - 1);
    }
    json_decref (st);
    return ours;
}

int runner_tty_relay (int fd, pid_t pid, const char *state_dir,
                      int64_t t0_ns, int *status)
{
    bool shown = false, partial = false, open_ = true;
    double last = 0;
    char buf[65536];
    while (open_) {
        struct pollfd p = { .fd = fd, .events = POLLIN };
        int r = poll (&p, 1, 250);
        if (r < 0 && errno != EINTR)
            break;
        if (r > 0) {
            ssize_t n = read (fd, buf, sizeof (buf));
            if (n < 0 && errno == EINTR)
                continue;
            if (n <= 0)
                open_ = false;
            else {
                if (shown && !partial)
                    put ("\r\033[K", 4);
                shown = false;
                put (buf, (size_t)n);
                partial = buf[n - 1] != '\n';
            }
        }
        double now = dr_now ();
        if (open_ && !partial && now - last >= 0.5) {
            shown = draw (state_dir, t0_ns);
            last = now;
        }
    }
    if (shown && !partial)
        put ("\r\033[K", 4);
    close (fd);
    while (waitpid (pid, status, 0) < 0 && errno == EINTR)
        ;
    return 0;
}
