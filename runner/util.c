/* util.c: logging, clocks, signals, idle waiting and message packing:
 * the small pieces every role of the runner uses. */
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
    char msg[2048];
    va_list ap;
    va_start (ap, fmt);
    vsnprintf (msg, sizeof (msg), fmt, ap);
    va_end (ap);
    if (dr_log_rank >= 0)
        fprintf (stderr, "datumrun[rank %d]: %s: %s\n", dr_log_rank,
                 names[level], msg);
    else
        fprintf (stderr, "datumrun: %s: %s\n", names[level], msg);
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

/* ---------------------------------------------------------------- buf */

void buf_free (buf_t *b)
{
    free (b->data);
    memset (b, 0, sizeof (*b));
}

void buf_put (buf_t *b, const void *p, size_t n)
{
    if (b->len + n > b->cap) {
        size_t ncap = b->cap ? b->cap : 256;
        while (ncap < b->len + n)
            ncap *= 2;
        uint8_t *d = realloc (b->data, ncap);
        if (!d) {
            fprintf (stderr, "datumrun: out of memory\n");
            abort ();
        }
        b->data = d;
        b->cap = ncap;
    }
    memcpy (b->data + b->len, p, n);
    b->len += n;
}

void buf_put_u32 (buf_t *b, uint32_t v)
{
    buf_put (b, &v, sizeof (v));
}

void buf_put_u64 (buf_t *b, uint64_t v)
{
    buf_put (b, &v, sizeof (v));
}

void buf_put_f64 (buf_t *b, double v)
{
    buf_put (b, &v, sizeof (v));
}

void buf_put_str (buf_t *b, const char *s)
{
    uint32_t n = s ? (uint32_t)strlen (s) : 0;
    buf_put_u32 (b, n);
    if (n)
        buf_put (b, s, n);
}

void buf_get (buf_t *b, void *p, size_t n)
{
    if (b->bad || b->pos + n > b->len) {
        b->bad = true;
        memset (p, 0, n);
        return;
    }
    memcpy (p, b->data + b->pos, n);
    b->pos += n;
}

uint32_t buf_get_u32 (buf_t *b)
{
    uint32_t v;
    buf_get (b, &v, sizeof (v));
    return v;
}

uint64_t buf_get_u64 (buf_t *b)
{
    uint64_t v;
    buf_get (b, &v, sizeof (v));
    return v;
}

double buf_get_f64 (buf_t *b)
{
    double v;
    buf_get (b, &v, sizeof (v));
    return v;
}

char *buf_get_str (buf_t *b)
{
    uint32_t n = buf_get_u32 (b);
    if (b->bad || b->pos + n > b->len) {
        b->bad = true;
        return strdup ("");
    }
    char *s = malloc (n + 1);
    if (!s)
        abort ();
    memcpy (s, b->data + b->pos, n);
    s[n] = '\0';
    b->pos += n;
    return s;
}

void wdatum_free (wdatum_t *d)
{
    if (!d)
        return;
    for (uint32_t i = 0; i < d->nentries; i++)
        free (d->path[i]);
    free (d->path);
    free (d->input);
    free (d->join_key);
    free (d->group_key);
    memset (d, 0, sizeof (*d));
}

void wresult_pack (const wresult_t *r, buf_t *b)
{
    buf_put_u32 (b, r->didx);
    buf_put_u32 (b, r->attempt);
    buf_put_u32 (b, (uint32_t)r->outcome);
    buf_put_u32 (b, (uint32_t)r->exit_status);
    buf_put_u32 (b, (uint32_t)r->term_signal);
    buf_put_u64 (b, (uint64_t)r->start_ns);
    buf_put_f64 (b, r->duration_s);
    buf_put_u64 (b, r->bytes_out);
    buf_put_u32 (b, (uint32_t)r->outs.n);
    for (size_t i = 0; i < r->outs.n; i++)
        buf_put_str (b, r->outs.paths[i]);
    buf_put_str (b, r->message);
}

int wresult_unpack (buf_t *b, wresult_t *r)
{
    memset (r, 0, sizeof (*r));
    r->didx = buf_get_u32 (b);
    r->attempt = buf_get_u32 (b);
    r->outcome = (outcome_t)buf_get_u32 (b);
    r->exit_status = (int32_t)buf_get_u32 (b);
    r->term_signal = (int32_t)buf_get_u32 (b);
    r->start_ns = (int64_t)buf_get_u64 (b);
    r->duration_s = buf_get_f64 (b);
    r->bytes_out = buf_get_u64 (b);
    uint32_t n = buf_get_u32 (b);
    if (b->bad || n > b->len)
        return -1;
    r->outs.paths = calloc (n ? n : 1, sizeof (char *));
    if (!r->outs.paths)
        return -1;
    for (uint32_t i = 0; i < n; i++) {
        r->outs.paths[i] = buf_get_str (b);
        r->outs.n++;
    }
    char *m = buf_get_str (b);
    r->message = m[0] ? m : (free (m), NULL);
    return b->bad ? -1 : 0;
}

void wresult_free (wresult_t *r)
{
    io_outlist_free (&r->outs);
    free (r->message);
    memset (r, 0, sizeof (*r));
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
    if (io_check_dir_writable (spec->output, "output folder", &err) < 0
        || io_check_dir_writable (spec->state_dir, "state folder", &err) < 0) {
        fprintf (stderr, "%s: %s\n", spec->path, err.text);
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
