/* util.c: logging, clocks, signals and idle waiting: the small pieces
 * every role of the runner uses. */
#define _GNU_SOURCE
#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "runner/runner.h"

int dr_log_level = LOG_INFO;
int dr_log_rank = -1;
volatile int runner_stop_requested;

void dr_log_emit (int level, const char *fmt, ...)
{
    static const char *names[] = { "error", "warning", "info", "debug" };
    /* Whole, however long: a message cut at a fixed size could lose the
     * reason that follows a long path. */
    char *msg = NULL;
    va_list ap;
    va_start (ap, fmt);
    int n = vasprintf (&msg, fmt, ap);
    va_end (ap);
    if (n < 0)
        msg = NULL;
    if (dr_log_rank >= 0)
        fprintf (stderr, "datumrun[rank %d]: %s: %s\n", dr_log_rank,
                 names[level], msg ? msg : fmt);
    else
        fprintf (stderr, "datumrun: %s: %s\n", names[level],
                 msg ? msg : fmt);
    free (msg);
}

int dr_pathf (char *buf, size_t len, const char *fmt, ...)
{
    va_list ap;
    va_start (ap, fmt);
    int n = vsnprintf (buf, len, fmt, ap);
    va_end (ap);
    if (n < 0 || (size_t)n >= len) {
        errno = ENAMETOOLONG;
        return -1;
    }
    return 0;
}

char *runner_self_exe (void)
{
    size_t cap = 256;
    for (;;) {
        char *buf = malloc (cap);
        if (!buf)
            return NULL;
        ssize_t n = readlink ("/proc/self/exe", buf, cap);
        if (n < 0) {
            int e = errno;
            free (buf);
            errno = e;
            return NULL;
        }
        if ((size_t)n < cap) {
            buf[n] = '\0';
            return buf;
        }
        free (buf);     /* it may have been cut: try a larger buffer */
        if (cap > (size_t)1 << 20) {
            errno = ENAMETOOLONG;
            return NULL;
        }
        cap *= 2;
    }
}

double dr_now (void)
{
    struct timespec ts;
    clock_gettime (CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

int64_t dr_realtime_ns (void)
{
    struct timespec ts;
    clock_gettime (CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

static void on_stop_signal (int sig)
{
    (void)sig;
    runner_stop_requested = 1;
}

void runner_signals_install (void)
{
    struct sigaction sa;
    memset (&sa, 0, sizeof (sa));
    sa.sa_handler = on_stop_signal;
    sigemptyset (&sa.sa_mask);
    sigaction (SIGTERM, &sa, NULL);
    sigaction (SIGINT, &sa, NULL);
    sigaction (SIGUSR2, &sa, NULL);
    /* From a datumrun sbatch script (Slurm's time-limit warning): the
     * user's commands ignore it, so they keep running through the grace. */
    sigaction (SIGURG, &sa, NULL);
    signal (SIGPIPE, SIG_IGN);
}

void runner_idle_wait (int fd, double seconds)
{
    struct timespec ts = {
        .tv_sec = (time_t)seconds,
        .tv_nsec = (long)((seconds - (double)(time_t)seconds) * 1e9),
    };
    struct pollfd p = { .fd = fd, .events = POLLIN };
    ppoll (&p, fd >= 0 ? 1 : 0, &ts, NULL);
}

bool runner_in_mpi_world (void)
{
    static const char *vars[] = { "OMPI_COMM_WORLD_SIZE", "PMIX_RANK",
                                  "PMI_RANK", "PMI_SIZE", NULL };
    for (int i = 0; vars[i]; i++)
        if (getenv (vars[i]))
            return true;
    return false;
}

int runner_check_globs (const jobs_spec_t *spec)
{
    for (size_t i = 0; i < spec->npfs; i++) {
        dr_error_t err = { { 0 } };
        sched_glob_t *g = sched_glob_compile (spec->pfs[i]->glob, &err);
        if (!g) {
            fprintf (stderr, "%s: input '%s': %s\n", spec->given,
                     spec->pfs[i]->name, err.text);
            return -1;
        }
        sched_glob_destroy (g);
    }
    return 0;
}

static int first_match (const char *relpath, bool is_dir,
                        const sched_glob_caps_t *caps, void *arg)
{
    return 1;
}

void runner_warn_earlier (const sched_plan_t *p)
{
    if (p->nearlier)
        dr_log (LOG_WARN, "%zu datums were made by an earlier version of "
                "the pipeline and are kept, as their inputs are unchanged; "
                "run with --reprocess to redo them", p->nearlier);
}

void runner_warn_empty_inputs (const jobs_spec_t *spec,
                               const sched_plan_t *p)
{
    bool *used = calloc (spec->npfs + 1, sizeof (bool));
    if (!used)
        return;
    for (size_t i = 0; i < p->nentries; i++)
        if (p->entries[i].input < spec->npfs)
            used[p->entries[i].input] = true;
    for (size_t i = 0; i < spec->npfs; i++) {
        if (used[i])
            continue;
        /* No datum uses it: see whether its glob matches anything at all
         * (a join or cross may drop what matched). */
        const jobs_input_t *in = spec->pfs[i];
        dr_error_t err = { { 0 } };
        sched_glob_t *g = sched_glob_compile (in->glob, &err);
        if (!g)
            continue;
        int rc = sched_glob_walk (g, in->repo, first_match, NULL, &err);
        sched_glob_destroy (g);
        if (rc == 0)
            fprintf (stderr, "%s: warning: input '%s': glob '%s' matches "
                     "nothing in %s\n", spec->given, in->name, in->glob,
                     in->repo);
    }
    free (used);
}

jobs_spec_t *runner_load_spec (const char *path, const char *state_dir)
{
    dr_error_t err = { { 0 } };
    jobs_spec_t *spec = jobs_spec_load (path, state_dir, &err);
    if (!spec) {
        fprintf (stderr, "%s\n", err.text);
        return NULL;
    }
    if (runner_check_globs (spec) < 0) {
        jobs_spec_destroy (spec);
        return NULL;
    }
    return spec;
}

int runner_check_folders (const jobs_spec_t *spec)
{
    dr_error_t err = { { 0 } };
    if (io_check_spec_folders (spec, &err) < 0) {
        fprintf (stderr, "%s\n", err.text);
        return -1;
    }
    return 0;
}

/* SLURM_JOB_CPUS_PER_NODE reads like "4(x2),2": 4 cores on each of two
 * nodes, then 2.  Returns the sum, or 0 when malformed. */
static long slurm_cpus (const char *s)
{
    long total = 0;
    while (*s) {
        char *end;
        long n = strtol (s, &end, 10), times = 1;
        if (end == s || n < 0 || n > 1L << 24)
            return 0;
        s = end;
        if (!strncmp (s, "(x", 2)) {
            times = strtol (s + 2, &end, 10);
            if (end == s + 2 || *end != ')' || times < 1 || times > 1L << 20)
                return 0;
            s = end + 1;
        }
        total += n * times;
        if (total > 1L << 32)
            return 0;
        if (*s == ',')
            s++;
        else if (*s)
            return 0;
    }
    return total;
}

long runner_capacity_cores (const char **what)
{
    const char *cpn = getenv ("SLURM_JOB_CPUS_PER_NODE");
    long n = cpn && getenv ("SLURM_JOB_ID") ? slurm_cpus (cpn) : 0;
    if (n > 0) {
        *what = "the Slurm allocation";
        return n;
    }
    *what = "this machine";
    n = sysconf (_SC_NPROCESSORS_ONLN);
    return n > 0 ? n : 1;
}
