/* logs.c: `datumrun logs SPEC DATUM [--attempt N] [--job JOB]`, a datum's
 * stdout and stderr from the state folder.  The logs of one job live in
 * logs/<job>/<datum>.out and .err; later attempts in the same job append
 * to them after a marker line, which --attempt uses to print one attempt
 * only.  DATUM and JOB may be unique ID prefixes; the default job is the
 * one that made the datum's latest attempt.
 */
#define _GNU_SOURCE
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "runner/progress.h"
#include "runner/runner.h"

const optparse_option_t runner_logs_options[] = {
    { .name = "attempt", .type = OPTPARSE_INT, .arg = "N", .min = 1,
      .max = 2000000000,
      .help = "only that attempt (later attempts of a job append to its "
              "logs)" },
    { .name = "job", .type = OPTPARSE_STR, .arg = "JOB",
      .help = "that job's logs (default: the job of the datum's latest "
              "attempt)" },
    RUNNER_OPT_STATE_DIR,
    OPTPARSE_END,
};

typedef struct lopts {
    const char *state;
    const char *job;
    long attempt;           /* 0: all */
    const char *pos[2];
} lopts_t;

/* What the datum's attempts tell: its full id (from a unique prefix) and
 * the latest attempt per job. */
typedef struct find {
    const char *prefix;
    size_t plen;
    io_hash_t id;
    int hits;               /* distinct datums matching */
    io_hash_t job;          /* of the latest attempt seen */
    bool have_job;
    const io_hash_t *want_job;
    uint32_t max_attempt;   /* in want_job */
} find_t;

static int on_attempt (const io_attempt_t *a, void *arg)
{
    find_t *f = arg;
    char h[33];
    io_hash_hex (&a->datum, h);
    if (strncmp (h, f->prefix, f->plen))
        return 0;
    if (!f->hits) {
        f->id = a->datum;
        f->hits = 1;
    }
    else if (!io_hash_eq (&f->id, &a->datum))
        f->hits = 2;   /* ambiguous */
    f->job = a->job;
    f->have_job = true;
    if (f->want_job && io_hash_eq (f->want_job, &a->job)
        && a->attempt > f->max_attempt)
        f->max_attempt = a->attempt;
    return 0;
}

/* Print path's text, or only attempt n's part of it (n > 0). */
static void print_file (const char *path, long n)
{
    FILE *f = fopen (path, "r");
    if (!f) {
        fprintf (stderr, "datumrun logs: %s: cannot read\n", path);
        return;
    }
    char *line = NULL;
    size_t cap = 0;
    ssize_t len;
    long cur = 1;
    while ((len = getline (&line, &cap, f)) > 0) {
        unsigned k;
        int used = 0;
        if (sscanf (line, "datumrun: ---- attempt %u ----\n%n", &k, &used)
                == 1
            && used == len) {
            cur = k;
            if (n)
                continue;
        }
        if (!n || cur == n)
            fwrite (line, 1, (size_t)len, stdout);
    }
    free (line);
    fclose (f);
}

int cmd_logs (optparse_t *args)
{
    lopts_t o = {
        .state = optparse_str (args, "state-dir", NULL),
        .job = optparse_str (args, "job", NULL),
        .attempt = optparse_int (args, "attempt", 0),
        .pos = { optparse_pos (args, 0), optparse_pos (args, 1) },
    };
    dr_error_t err = { { 0 } };
    jobs_spec_t *spec = NULL;
    io_manifest_t *m = NULL;
    int rc = EXIT_USAGE;
    const io_datum_rec_t *rec = NULL;
    io_datum_rec_t found, view;
    find_t f = { 0 };
    f.prefix = o.pos[1];
    if (!(spec = jobs_spec_load (o.pos[0], o.state, &err))) {
        fprintf (stderr, "%s\n", err.text);
        return EXIT_USAGE;
    }
    if (!(m = io_manifest_open_ro (spec->state_dir, &err))) {
        fprintf (stderr, "datumrun logs: %s\n", err.text);
        goto out;
    }
    /* The job, when given. */
    const jobs_record_t *job = NULL;
    io_hash_t jid;
    if (o.job) {
        int hits = 0;
        size_t plen = strlen (o.job);
        for (size_t i = 0; i < io_manifest_njobs (m); i++) {
            const jobs_record_t *j = io_manifest_job (m, i);
            if (!strncmp (j->id, o.job, plen)) {
                job = j;
                hits++;
            }
        }
        if (hits != 1) {
            fprintf (stderr, "datumrun logs: %s job '%s'\n",
                     hits ? "ambiguous" : "no", o.job);
            goto out;
        }
        io_hash_from_hex (job->id, &jid);
    }
    /* The datum: a unique prefix among the recorded datums, or among the
     * attempts (a datum that left the input keeps its history). */
    f.plen = strlen (o.pos[1]);
    f.want_job = job ? &jid : NULL;
    int hits = 0;
    for (size_t i = 0; i < io_manifest_ndatums (m); i++) {
        const io_datum_rec_t *d = io_manifest_datum (m, i, &view);
        char h[33];
        io_hash_hex (&d->id, h);
        if (!strncmp (h, f.prefix, f.plen)) {
            found = *d;
            rec = &found;
            hits++;
        }
    }
    if (hits > 1 || f.plen == 0) {
        fprintf (stderr, "datumrun logs: ambiguous datum '%s'\n", o.pos[1]);
        goto out;
    }
    if (rec) {
        /* Only its own attempts count from here on. */
        char h[33];
        io_hash_hex (&rec->id, h);
        f.prefix = strdup (h);
        f.plen = 32;
    }
    if (io_manifest_attempts (m, job ? &jid : NULL, rec ? &rec->id : NULL,
                              on_attempt, &f, &err) < 0) {
        fprintf (stderr, "datumrun logs: %s\n", err.text);
        goto out;
    }
    if (!rec && f.hits != 1) {
        fprintf (stderr, "datumrun logs: %s datum '%s'\n",
                 f.hits ? "ambiguous" : "no", o.pos[1]);
        goto out;
    }
    io_hash_t did = rec ? rec->id : f.id;
    char jhex[33], dhex[33];
    io_hash_hex (&did, dhex);
    if (job)
        snprintf (jhex, sizeof (jhex), "%s", job->id);
    else if (f.have_job)
        io_hash_hex (&f.job, jhex);
    else if (rec)
        io_hash_hex (&rec->proc_job, jhex);
    else {
        fprintf (stderr, "datumrun logs: datum %.12s has no recorded "
                 "attempts\n", dhex);
        goto out;
    }
    if (o.attempt && job && f.max_attempt && o.attempt > f.max_attempt) {
        fprintf (stderr, "datumrun logs: datum %.12s has %u attempts in "
                 "job %.8s, not %ld\n", dhex, f.max_attempt, jhex,
                 o.attempt);
        goto out;
    }
    char *out, *errp;
    runner_log_files (spec->state_dir, jhex, &did, &out, &errp);
    rc = EXIT_OK;
    if (!out && !errp) {
        printf ("datum %.12s in job %.8s: the command wrote no output "
                "(no log files)\n", dhex, jhex);
        goto out;
    }
    fflush (stdout);
    for (int i = 0; i < 2; i++) {
        const char *p = i ? errp : out;
        if (!p)
            continue;
        printf ("==> %s (%s%s%.0ld) <==\n", p, i ? "stderr" : "stdout",
                o.attempt ? ", attempt " : "", o.attempt);
        print_file (p, o.attempt);
    }
    free (out);
    free (errp);
out:
    if (f.prefix != o.pos[1])
        free ((char *)f.prefix);
    io_manifest_close (m);
    jobs_spec_destroy (spec);
    return rc;
}
