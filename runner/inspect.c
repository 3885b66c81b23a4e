/* inspect.c: the read-only commands.  `plan` (the dry run), `list-job`,
 * `inspect-job`, `list-datum` and `inspect-datum`.  They open the manifest
 * read-only (a running job keeps its lock; its journal is replayed in
 * memory), accept unique ID prefixes as git does, and print aligned tables
 * or, with --json, one JSON document.
 */
#define _GNU_SOURCE
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "runner/progress.h"
#include "runner/runner.h"

const optparse_option_t runner_plan_options[] = {
    RUNNER_OPT_STATE_DIR,
    { .name = "reprocess",
      .help = "plan as `run --reprocess` would: every datum processed" },
    RUNNER_OPT_JSON ("print one JSON document"),
    OPTPARSE_END,
};

/* list-job, inspect-job, list-datum, inspect-datum. */
const optparse_option_t runner_inspect_options[] = {
    RUNNER_OPT_STATE_DIR,
    RUNNER_OPT_JSON ("print one JSON document"),
    OPTPARSE_END,
};

const optparse_option_t runner_list_datum_options[] = {
    RUNNER_OPT_STATE_DIR,
    { .name = "status", .type = OPTPARSE_STR, .arg = "STATE[,STATE...]",
      .help = "only the datums in these states: pending, success, failed, "
              "recovered, skipped" },
    RUNNER_OPT_JSON ("print one JSON document"),
    OPTPARSE_END,
};

typedef struct iopts {
    const char *cmd;
    const char *state;
    bool json;
    bool reprocess;
    const char *status;     /* list-datum --status */
    const char *pos[4];
    int npos;
} iopts_t;

/* The table checked the arguments' count already. */
static void parse (optparse_t *p, iopts_t *o)
{
    memset (o, 0, sizeof (*o));
    o->cmd = optparse_cmdname (p);
    o->state = optparse_str (p, "state-dir", NULL);
    o->json = optparse_has (p, "json");
    if (optparse_command (p)->options == runner_plan_options)
        o->reprocess = optparse_has (p, "reprocess");
    if (optparse_command (p)->options == runner_list_datum_options)
        o->status = optparse_str (p, "status", NULL);
    for (; o->npos < optparse_npos (p) && o->npos < 4; o->npos++)
        o->pos[o->npos] = optparse_pos (p, o->npos);
}

/* Load spec and manifest; prints the error and returns -1. */
static int open_both (const iopts_t *o, jobs_spec_t **spec,
                      io_manifest_t **m)
{
    dr_error_t err = { { 0 } };
    if (!(*spec = jobs_spec_load (o->pos[0], o->state, &err))) {
        fprintf (stderr, "%s\n", err.text);
        return -1;
    }
    if (!(*m = io_manifest_open_ro ((*spec)->state_dir, &err))) {
        fprintf (stderr, "datumrun %s: %s\n", o->cmd, err.text);
        jobs_spec_destroy (*spec);
        return -1;
    }
    return 0;
}

static void print_json (json_t *j)
{
    /* Nine digits: durations without binary noise (0.041, not
     * 0.041000000000000002). */
    char *s = jobs_json_dumps (j, JSON_COMPACT | JSON_PRESERVE_ORDER
                                      | JSON_REAL_PRECISION (9));
    if (!s)
        abort ();
    printf ("%s\n", s);
    free (s);
    json_decref (j);
}

static void fmt_ago (int64_t ns, char *buf, size_t len)
{
    double ago = (double)(dr_realtime_ns () - ns) * 1e-9;
    if (ns <= 0)
        snprintf (buf, len, "-");
    else if (ago < 60)
        snprintf (buf, len, "%d seconds ago", (int)ago);
    else if (ago < 3600)
        snprintf (buf, len, "%d minutes ago", (int)(ago / 60));
    else if (ago < 86400)
        snprintf (buf, len, "%d hours ago", (int)(ago / 3600));
    else
        snprintf (buf, len, "%d days ago", (int)(ago / 86400));
}

static void fmt_time (int64_t ns, char *buf, size_t len)
{
    time_t t = (time_t)(ns / 1000000000);
    struct tm tm;
    localtime_r (&t, &tm);
    strftime (buf, len, "%Y-%m-%d %H:%M:%S", &tm);
}

static const char *hex (const io_hash_t *h, char buf[33])
{
    io_hash_hex (h, buf);
    return buf;
}

/* A job by unique ID prefix; NULL with a message when none or several. */
static const jobs_record_t *find_job (const io_manifest_t *m,
                                      const char *prefix, const char *cmd)
{
    const jobs_record_t *found = NULL;
    size_t n = io_manifest_njobs (m), plen = strlen (prefix);
    int hits = 0;
    for (size_t i = 0; i < n; i++) {
        const jobs_record_t *j = io_manifest_job (m, i);
        if (!strncmp (j->id, prefix, plen)) {
            found = j;
            hits++;
        }
    }
    if (hits == 1)
        return found;
    fprintf (stderr, "datumrun %s: %s job '%s'\n", cmd,
             hits ? "ambiguous" : "no", prefix);
    return NULL;
}

/* Job j and the IDs of the jobs after it, sorted.  The manifest keeps each
 * datum's latest record only, so a datum shows in job j as its record's
 * state when j processed it, as skipped when an earlier job did (it stayed
 * in the input since: leaving it forgets the record), and not at all when
 * a later job did (its state in j is no longer known; it may not even
 * have existed). */
typedef struct jobview {
    io_hash_t id;
    io_hash_t *later;
    size_t nlater;
} jobview_t;

static int cmp_id (const void *a, const void *b)
{
    return memcmp (a, b, sizeof (io_hash_t));
}

static void jobview_init (jobview_t *v, const io_manifest_t *m,
                          const jobs_record_t *j)
{
    size_t nj = io_manifest_njobs (m), i = 0;
    io_hash_from_hex (j->id, &v->id);
    while (i < nj && io_manifest_job (m, i) != j)
        i++;
    v->nlater = 0;
    if (!(v->later = malloc ((nj - i + 1) * sizeof (*v->later))))
        abort ();
    for (size_t k = i + 1; k < nj; k++)
        io_hash_from_hex (io_manifest_job (m, k)->id, &v->later[v->nlater++]);
    qsort (v->later, v->nlater, sizeof (*v->later), cmp_id);
}

/* A datum's state as seen by the job, or NULL when a later job processed
 * it. */
static const char *datum_state_in (const io_datum_rec_t *r,
                                   const jobview_t *v)
{
    if (io_hash_eq (&r->proc_job, &v->id))
        return jobs_datum_state_name ((jobs_datum_state_t)r->state);
    if (v->nlater && bsearch (&r->proc_job, v->later, v->nlater,
                              sizeof (*v->later), cmp_id))
        return NULL;
    return "skipped";
}

/* Pipeline versions: the distinct pipeline hashes of the jobs, numbered
 * from 1 in the order they first ran, as Pachyderm numbers a pipeline's
 * versions.  A datum's record names the version that last processed it. */
typedef struct versions {
    io_hash_t *h;
    size_t n;
} versions_t;

static void versions_init (versions_t *v, const io_manifest_t *m)
{
    size_t nj = io_manifest_njobs (m);
    v->n = 0;
    if (!(v->h = malloc ((nj ? nj : 1) * sizeof (*v->h))))
        abort ();
    for (size_t i = 0; i < nj; i++) {
        io_hash_t ph;
        memcpy (ph.b, io_manifest_job (m, i)->pipeline_hash, 16);
        size_t k = 0;
        while (k < v->n && !io_hash_eq (&v->h[k], &ph))
            k++;
        if (k == v->n)
            v->h[v->n++] = ph;
    }
}

/* 1.., or 0 for a hash no job ran (a record of format 1 whose job is
 * gone). */
static int version_of (const versions_t *v, const io_hash_t *ph)
{
    for (size_t k = 0; k < v->n; k++)
        if (io_hash_eq (&v->h[k], ph))
            return (int)k + 1;
    return 0;
}

static void fmt_version (const versions_t *v, const io_hash_t *ph,
                         char *buf, size_t len)
{
    int n = version_of (v, ph);
    if (n)
        snprintf (buf, len, "v%d", n);
    else
        snprintf (buf, len, "-");
}

/* ----------------------------------------------------------------- plan */

/* A string for JSON output: a path that is not UTF-8 keeps its bytes as
 * \udcXX escapes (jobs/names.c), never dropped or written raw. */
static json_t *json_path (const char *s)
{
    json_t *j = jobs_json_bytes (s);
    if (!j)
        abort ();
    return j;
}

/* Print a name in a table: control characters and stray bytes escaped. */
static void put_name (const char *s)
{
    char *e = jobs_name_escape (s);
    if (!e)
        abort ();
    fputs (e, stdout);
    free (e);
}

/* A datum's inputs list for JSON: "inputs", its entries joined by '\n' (as
 * before the list), and "entries", [{"input", "path"}] (exact). */
static void inputs_json (json_t *o, const char *inputs)
{
    json_t *ents = json_array ();
    size_t len = io_inputs_len (inputs);
    char *joined = malloc (len + 1), *q = joined;
    if (!ents || !joined)
        abort ();
    for (const char *e = inputs ? inputs : ""; *e; e += strlen (e) + 1) {
        size_t n = strlen (e);
        const char *colon = strchr (e, ':');
        char *name = strndup (e, colon ? (size_t)(colon - e) : n);
        json_array_append_new (ents,
                               json_pack ("{s:s, s:o}", "input", name, "path",
                                          json_path (colon ? colon + 1 : "")));
        free (name);
        if (q != joined)
            *q++ = '\n';
        memcpy (q, e, n);
        q += n;
    }
    *q = '\0';
    json_object_set_new (o, "inputs", json_path (joined));
    json_object_set_new (o, "entries", ents);
    free (joined);
}

/* The plan as one JSON document, written datum by datum: a million datums
 * as one jansson tree would take gigabytes. */
static void plan_json (const sched_plan_t *p, const jobs_spec_t *spec,
                       size_t gone)
{
    json_t *head = json_pack ("{s:s, s:I, s:I, s:I, s:I, s:I}", "pipeline",
                              spec->name, "total", (json_int_t)p->ndatums,
                              "process", (json_int_t)p->nprocess, "skip",
                              (json_int_t)p->nskip, "skip_earlier_version",
                              (json_int_t)p->nearlier, "gone",
                              (json_int_t)gone);
    char *s = json_dumps (head, JSON_COMPACT | JSON_PRESERVE_ORDER);
    json_decref (head);
    if (!s)
        abort ();
    /* Everything but its closing brace, then the datums. */
    fwrite (s, 1, strlen (s) - 1, stdout);
    free (s);
    fputs (",\"datums\":[", stdout);
    for (size_t i = 0; i < p->ndatums; i++) {
        const sched_datum_t *d = &p->datums[i];
        const uint32_t *e = p->ents + d->first;
        char h[33];
        json_t *ins = json_array ();
        for (uint32_t k = 0; k < d->nentries; k++) {
            const sched_entry_t *en = &p->entries[e[k]];
            json_array_append_new (
                ins, json_pack ("{s:s, s:o}", "input",
                                spec->pfs[en->input]->name, "path",
                                json_path (sched_str (p, en->path))));
        }
        json_t *dj = json_pack ("{s:s, s:s, s:o}", "id", hex (&d->id, h),
                                "action",
                                d->action == SCHED_SKIP ? "skip" : "process",
                                "inputs", ins);
        uint64_t key = sched_datum_keys (p, d).key;
        if (key != UINT64_MAX)
            json_object_set_new (dj, "key", json_path (sched_str (p, key)));
        if (d->earlier)
            json_object_set_new (dj, "earlier_version", json_true ());
        if (i)
            putchar (',');
        jobs_json_dumpf (dj, stdout, JSON_COMPACT | JSON_PRESERVE_ORDER);
        json_decref (dj);
    }
    fputs ("]}\n", stdout);
}

static void plan_text (const sched_plan_t *p, const jobs_spec_t *spec,
                       size_t gone)
{
    printf ("%-12s  %-8s  %s\n", "DATUM", "ACTION", "INPUTS");
    for (size_t i = 0; i < p->ndatums; i++) {
        const sched_datum_t *d = &p->datums[i];
        const uint32_t *e = p->ents + d->first;
        char h[33];
        printf ("%.12s  %-8s  ", hex (&d->id, h),
                d->action == SCHED_PROCESS ? "process"
                : d->earlier ? "skip*" : "skip");
        for (uint32_t k = 0; k < d->nentries; k++) {
            const sched_entry_t *en = &p->entries[e[k]];
            printf ("%s%s:/", k ? ", " : "", spec->pfs[en->input]->name);
            put_name (sched_str (p, en->path));
        }
        uint64_t key = sched_datum_keys (p, d).key;
        if (key != UINT64_MAX) {
            printf ("  [key ");
            put_name (sched_str (p, key));
            putchar (']');
        }
        putchar ('\n');
    }
    printf ("%zu datums: %zu to process, %zu to skip; %zu gone from the "
            "input (outputs to remove)\n", p->ndatums, p->nprocess, p->nskip,
            gone);
    if (p->nearlier)
        printf ("%zu of the skipped datums were made by an earlier version "
                "of the pipeline (their inputs are unchanged); --reprocess "
                "redoes them\n", p->nearlier);
}

int cmd_plan (optparse_t *args)
{
    iopts_t o;
    jobs_spec_t *spec;
    io_manifest_t *m;
    dr_error_t err = { { 0 } };
    parse (args, &o);
    if (open_both (&o, &spec, &m) < 0)
        return EXIT_USAGE;
    /* A broken glob reads as it does for `run`. */
    if (runner_check_globs (spec) < 0) {
        io_manifest_close (m);
        jobs_spec_destroy (spec);
        return EXIT_USAGE;
    }
    sched_plan_opts_t po = { .reprocess = o.reprocess
                                          || spec->reprocess_every_job };
    sched_plan_t *p = sched_plan_build (spec, io_manifest_statcache (m), m,
                                        &po, &err);
    if (!p) {
        fprintf (stderr, "%s: %s\n", spec->given, err.text);
        io_manifest_close (m);
        jobs_spec_destroy (spec);
        return EXIT_USAGE;
    }
    runner_warn_empty_inputs (spec, p);
    size_t gone = 0;
    io_datum_rec_t view;
    for (size_t i = 0; i < io_manifest_ndatums (m); i++)
        if (sched_plan_find (p, &io_manifest_datum (m, i, &view)->id) < 0)
            gone++;
    /* A million lines: write them in large blocks. */
    static char obuf[1 << 20];
    setvbuf (stdout, obuf, _IOFBF, sizeof (obuf));
    if (o.json)
        plan_json (p, spec, gone);
    else
        plan_text (p, spec, gone);
    fflush (stdout);
    sched_plan_destroy (p);
    io_manifest_close (m);
    jobs_spec_destroy (spec);
    return EXIT_OK;
}

/* ----------------------------------------------------------------- jobs */

/* The workers lost during job j: as `run --json` has them, a count in
 * lost_workers and each in lost (rank, host, reason, time_ns). */
static void lost_json (json_t *o, const io_manifest_t *m,
                       const jobs_record_t *j)
{
    json_t *arr = json_array ();
    size_t n = 0;
    for (size_t i = 0; i < io_manifest_nlost (m); i++) {
        const io_lost_worker_t *l = io_manifest_lost (m, i);
        if (strcmp (l->job, j->id))
            continue;
        n++;
        json_array_append_new (arr, json_pack ("{s:i, s:s, s:s, s:I}",
                                               "rank", l->rank, "host",
                                               l->host, "reason", l->reason,
                                               "time_ns",
                                               (json_int_t)l->time_ns));
    }
    json_object_set_new (o, "lost_workers", json_integer ((json_int_t)n));
    json_object_set_new (o, "lost", arr);
}

static json_t *job_json (const io_manifest_t *m, const jobs_record_t *j)
{
    char *s = jobs_record_json (j);
    json_t *o = json_loads (s, 0, NULL);
    free (s);
    lost_json (o, m, j);
    json_object_set_new (o, "started_ns", json_integer (j->start_ns));
    char h[33];
    io_hash_t ph;
    memcpy (ph.b, j->pipeline_hash, 16);
    json_object_set_new (o, "pipeline_hash", json_string (hex (&ph, h)));
    json_object_set_new (o, "image_id", j->image_id[0]
                                            ? json_string (j->image_id)
                                            : json_null ());
    return o;
}

/* A running job's record holds its counts only once it ends: count what
 * its datums' records (journal included) show so far. */
static const jobs_record_t *live_job (const io_manifest_t *m,
                                      const jobs_record_t *j,
                                      jobs_record_t *live)
{
    if (j->state != JOBS_STATE_RUNNING)
        return j;
    *live = *j;
    io_hash_t jid;
    io_hash_from_hex (j->id, &jid);
    live->processed = live->failed = live->recovered = 0;
    live->bytes_downloaded = live->bytes_uploaded = 0;
    for (size_t k = 0; k < io_manifest_ndatums (m); k++) {
        io_datum_rec_t view;
        const io_datum_rec_t *r = io_manifest_datum (m, k, &view);
        if (!io_hash_eq (&r->proc_job, &jid))
            continue;
        if (r->state == JOBS_DATUM_SUCCESS) {
            live->processed++;
            live->bytes_downloaded += r->bytes_in;
            live->bytes_uploaded += r->bytes_out;
        }
        else if (r->state == JOBS_DATUM_FAILED)
            live->failed++;
        else if (r->state == JOBS_DATUM_RECOVERED)
            live->recovered++;
    }
    live->duration_s = (double)(dr_realtime_ns () - j->start_ns) * 1e-9;
    return live;
}

int cmd_list_job (optparse_t *args)
{
    iopts_t o;
    jobs_spec_t *spec;
    io_manifest_t *m;
    parse (args, &o);
    if (open_both (&o, &spec, &m) < 0)
        return EXIT_USAGE;
    size_t n = io_manifest_njobs (m);
    json_t *arr = o.json ? json_array () : NULL;
    if (!o.json)
        printf ("%-32s  %-18s  %-9s  %-24s  %-8s  %-8s  %s\n", "ID",
                "STARTED", "DURATION", "PROGRESS", "DL", "UL", "STATE");
    for (size_t i = n; i-- > 0;) {
        jobs_record_t live;
        const jobs_record_t *j = live_job (m, io_manifest_job (m, i), &live);
        if (o.json) {
            json_array_append_new (arr, job_json (m, j));
            continue;
        }
        char ago[64], dur[32], prog[64], dl[32], ul[32];
        fmt_ago (j->start_ns, ago, sizeof (ago));
        jobs_fmt_duration (j->duration_s, dur, sizeof (dur));
        snprintf (prog, sizeof (prog), "%llu + %llu / %llu",
                  (unsigned long long)j->processed,
                  (unsigned long long)j->skipped,
                  (unsigned long long)j->total);
        jobs_fmt_bytes (j->bytes_downloaded, dl, sizeof (dl));
        jobs_fmt_bytes (j->bytes_uploaded, ul, sizeof (ul));
        printf ("%-32s  %-18s  %-9s  %-24s  %-8s  %-8s  %s\n", j->id, ago,
                j->state == JOBS_STATE_RUNNING ? "-" : dur, prog, dl, ul,
                jobs_state_name (j->state));
    }
    if (o.json)
        print_json (arr);
    io_manifest_close (m);
    jobs_spec_destroy (spec);
    return EXIT_OK;
}

int cmd_inspect_job (optparse_t *args)
{
    iopts_t o;
    jobs_spec_t *spec;
    io_manifest_t *m;
    int rc = EXIT_OK;
    parse (args, &o);
    if (open_both (&o, &spec, &m) < 0)
        return EXIT_USAGE;
    jobs_record_t live;
    const jobs_record_t *j = find_job (m, o.pos[1], "inspect-job");
    if (j)
        j = live_job (m, j, &live);
    if (!j)
        rc = EXIT_USAGE;
    else if (o.json)
        print_json (job_json (m, j));
    else {
        char t[64], dur[32], dl[32], ul[32], h[33];
        char *logdir = jobs_sd_job_logdir (spec->state_dir, j->id);
        io_hash_t ph;
        memcpy (ph.b, j->pipeline_hash, 16);
        fmt_time (j->start_ns, t, sizeof (t));
        jobs_fmt_duration (j->duration_s, dur, sizeof (dur));
        jobs_fmt_bytes (j->bytes_downloaded, dl, sizeof (dl));
        jobs_fmt_bytes (j->bytes_uploaded, ul, sizeof (ul));
        printf ("ID: %s\nPipeline: %s\nState: %s\nStarted: %s\n"
                "Duration: %s\nWorkers: %d\nNodes: %d\n"
                "Datums: %llu processed + %llu skipped / %llu total, "
                "%llu failed, %llu recovered\nData downloaded: %s\n"
                "Data uploaded: %s\nPipeline hash: %s\n%s%s%s",
                j->id, j->pipeline, jobs_state_name (j->state), t, dur,
                j->workers, j->nodes, (unsigned long long)j->processed,
                (unsigned long long)j->skipped,
                (unsigned long long)j->total, (unsigned long long)j->failed,
                (unsigned long long)j->recovered, dl, ul, hex (&ph, h),
                j->image_id[0] ? "Image: " : "", j->image_id,
                j->image_id[0] ? "\n" : "");
        size_t nl = 0;
        for (size_t i = 0; i < io_manifest_nlost (m); i++)
            nl += !strcmp (io_manifest_lost (m, i)->job, j->id);
        if (nl)
            printf ("Lost workers: %zu\n", nl);
        for (size_t i = 0; i < io_manifest_nlost (m); i++) {
            const io_lost_worker_t *l = io_manifest_lost (m, i);
            if (strcmp (l->job, j->id))
                continue;
            fmt_time (l->time_ns, t, sizeof (t));
            printf ("  rank %d on %s: %s (at %s)\n", l->rank, l->host,
                    l->reason, t);
        }
        printf ("Logs: %s/\n", logdir ? logdir : "?");
        free (logdir);
    }
    io_manifest_close (m);
    jobs_spec_destroy (spec);
    return rc;
}

/* --------------------------------------------------------------- datums */

/* A datum's inputs on one table line: entries separated by ", ", each
 * escaped (a newline in a name shows as \n).  Caller frees. */
static char *one_line (const char *inputs)
{
    size_t cap = io_inputs_len (inputs) * 6 + 1, n = 0;
    char *out = malloc (cap);
    if (!out)
        abort ();
    out[0] = '\0';
    for (const char *e = inputs ? inputs : ""; *e; e += strlen (e) + 1) {
        char *x = jobs_name_escape (e);
        if (!x)
            abort ();
        size_t xl = strlen (x);
        if (n + xl + 3 > cap && !(out = realloc (out, cap = (n + xl + 3) * 2)))
            abort ();
        n += (size_t)sprintf (out + n, "%s%s", n ? ", " : "", x);
        free (x);
    }
    return out;
}

/* --status STATE[,STATE...]: a bit per datum state; -1 when one is not a
 * state name. */
static int status_mask (const char *list)
{
    int mask = 0;
    char *copy = strdup (list), *save = NULL;
    if (!copy)
        abort ();
    for (char *t = strtok_r (copy, ",", &save); t;
         t = strtok_r (NULL, ",", &save)) {
        int st = jobs_datum_state_parse (t);
        if (st < 0) {
            mask = -1;
            break;
        }
        mask |= 1 << st;
    }
    free (copy);
    return mask ? mask : -1;
}

int cmd_list_datum (optparse_t *args)
{
    iopts_t o;
    jobs_spec_t *spec;
    io_manifest_t *m;
    int mask = -1;
    parse (args, &o);
    if (o.status && (mask = status_mask (o.status)) < 0)
        return optparse_error (args, "--status: '%s' is not one of pending, "
                               "success, failed, recovered, skipped (or a "
                               "comma-separated list of them)", o.status);
    if (open_both (&o, &spec, &m) < 0)
        return EXIT_USAGE;
    size_t nj = io_manifest_njobs (m);
    const jobs_record_t *j = NULL;
    if (o.npos > 1)
        j = find_job (m, o.pos[1], "list-datum");
    else if (nj)
        j = io_manifest_job (m, nj - 1);
    else
        fprintf (stderr, "datumrun list-datum: pipeline %s has no jobs yet\n",
                 spec->name);
    if (!j) {
        io_manifest_close (m);
        jobs_spec_destroy (spec);
        return EXIT_USAGE;
    }
    jobview_t v;
    jobview_init (&v, m, j);
    versions_t vers;
    versions_init (&vers, m);
    size_t hidden = 0;
    json_t *arr = o.json ? json_array () : NULL;
    if (!o.json)
        printf ("%-32s  %-9s  %-8s  %-7s  %s\n", "ID", "STATE", "TIME",
                "VERSION", "INPUTS");
    for (size_t i = 0; i < io_manifest_ndatums (m); i++) {
        io_datum_rec_t view;
        const io_datum_rec_t *r = io_manifest_datum (m, i, &view);
        char h[33], dur[32], ver[16], ph[33];
        const char *st = datum_state_in (r, &v);
        if (!st) {
            hidden++;
            continue;
        }
        if (o.status && !(mask & (1 << jobs_datum_state_parse (st))))
            continue;
        hex (&r->id, h);
        if (o.json) {
            json_t *dj = json_pack ("{s:s, s:s, s:f, s:i, s:s}", "id", h,
                                    "state", st, "duration_s", r->duration_s,
                                    "pipeline_version",
                                    version_of (&vers, &r->pipeline),
                                    "pipeline_hash", hex (&r->pipeline, ph));
            if (!dj)
                abort ();
            inputs_json (dj, r->inputs);
            json_array_append_new (arr, dj);
            continue;
        }
        jobs_fmt_duration (r->duration_s, dur, sizeof (dur));
        char *in = one_line (r->inputs);
        fmt_version (&vers, &r->pipeline, ver, sizeof (ver));
        printf ("%-32s  %-9s  %-8s  %-7s  %s\n", h, st,
                strcmp (st, "skipped") ? dur : "-", ver, in);
        free (in);
    }
    if (o.json)
        print_json (arr);
    else if (hidden)
        printf ("(%zu more datums were processed by later jobs; the "
                "manifest keeps each datum's latest record only)\n", hidden);
    free (v.later);
    free (vers.h);
    io_manifest_close (m);
    jobs_spec_destroy (spec);
    return EXIT_OK;
}

/* Attempts collected from the manifest. */
typedef struct att_vec {
    io_attempt_t *v;
    size_t n, cap;
} att_vec_t;

static int att_collect (const io_attempt_t *a, void *arg)
{
    att_vec_t *h = arg;
    if (h->n == h->cap) {
        size_t ncap = h->cap ? 2 * h->cap : 16;
        io_attempt_t *v = realloc (h->v, ncap * sizeof (*v));
        if (!v)
            return -1;
        h->v = v;
        h->cap = ncap;
    }
    h->v[h->n++] = *a;
    return 0;
}

static void fmt_exit (const io_attempt_t *a, char *buf, size_t len)
{
    if (a->term_signal)
        snprintf (buf, len, "sig %d", a->term_signal);
    else if (a->exit_status < 0)
        snprintf (buf, len, "-");
    else
        snprintf (buf, len, "%d", a->exit_status);
}

static json_t *attempt_json (const io_attempt_t *a)
{
    char jh[33];
    return json_pack ("{s:s, s:I, s:s, s:i, s:s, s:I, s:f, s:i, s:i}",
                      "job", hex (&a->job, jh), "attempt",
                      (json_int_t)a->attempt, "outcome",
                      jobs_attempt_outcome_name (
                          (jobs_attempt_outcome_t)a->outcome),
                      "rank", a->rank, "host", a->host, "start_ns",
                      (json_int_t)a->start_ns, "duration_s", a->duration_s,
                      "exit_status", a->exit_status, "signal",
                      a->term_signal);
}

static void print_attempt_row (const io_attempt_t *a)
{
    char jh[33], t[64], dur[32], ex[32];
    hex (&a->job, jh);
    if (a->start_ns > 0)
        fmt_time (a->start_ns, t, sizeof (t));
    else
        snprintf (t, sizeof (t), "-");
    jobs_fmt_duration (a->duration_s, dur, sizeof (dur));
    fmt_exit (a, ex, sizeof (ex));
    printf ("  %-8.8s  %-7u  %-11s  %-19s  %-9s  %-6s  rank %d on %s\n", jh,
            a->attempt,
            jobs_attempt_outcome_name ((jobs_attempt_outcome_t)a->outcome), t,
            dur, ex, a->rank, a->host);
}

int cmd_inspect_datum (optparse_t *args)
{
    iopts_t o;
    jobs_spec_t *spec;
    io_manifest_t *m;
    int rc = EXIT_OK;
    parse (args, &o);
    if (open_both (&o, &spec, &m) < 0)
        return EXIT_USAGE;
    const jobs_record_t *j = find_job (m, o.pos[1], "inspect-datum");
    const io_datum_rec_t *r = NULL;
    io_datum_rec_t found, view;
    int hits = 0;
    size_t plen = strlen (o.pos[2]);
    for (size_t i = 0; j && i < io_manifest_ndatums (m); i++) {
        const io_datum_rec_t *d = io_manifest_datum (m, i, &view);
        char h[33];
        if (!strncmp (hex (&d->id, h), o.pos[2], plen)) {
            found = *d;
            r = &found;
            hits++;
        }
    }
    if (j && hits != 1) {
        fprintf (stderr, "datumrun inspect-datum: %s datum '%s'\n",
                 hits ? "ambiguous" : "no", o.pos[2]);
        r = NULL;
    }
    if (!j || !r) {
        io_manifest_close (m);
        jobs_spec_destroy (spec);
        return EXIT_USAGE;
    }
    char id[33], hh[33], pj[33], t[64], dur[32], bi[32], bo[32], ver[16];
    char ph[33], vline[128];
    versions_t vers;
    versions_init (&vers, m);
    int vnum = version_of (&vers, &r->pipeline);
    fmt_version (&vers, &r->pipeline, ver, sizeof (ver));
    hex (&r->pipeline, ph);
    {
        io_hash_t cur;
        sched_pipeline_hash (spec, &cur);
        if (io_hash_is_zero (&r->pipeline))
            snprintf (vline, sizeof (vline), "unknown (its job is no longer "
                      "in the manifest)");
        else
            snprintf (vline, sizeof (vline), "%s (pipeline hash %.12s%s)",
                      ver, ph, io_hash_eq (&cur, &r->pipeline)
                                   ? ", the spec's current version"
                                   : ", an earlier version than the spec's");
    }
    free (vers.h);
    hex (&r->id, id);
    hex (&r->hash, hh);
    hex (&r->proc_job, pj);
    fmt_time (r->start_ns, t, sizeof (t));
    jobs_fmt_duration (r->duration_s, dur, sizeof (dur));
    jobs_fmt_bytes (r->bytes_in, bi, sizeof (bi));
    jobs_fmt_bytes (r->bytes_out, bo, sizeof (bo));
    char *out_log, *err_log;
    runner_log_files (spec->state_dir, pj, &r->id, &out_log, &err_log);
    jobview_t v;
    jobview_init (&v, m, j);
    const char *st = datum_state_in (r, &v);
    free (v.later);
    if (!st) {
        fprintf (stderr, "datumrun inspect-datum: datum %.12s was processed "
                 "by a later job, %.8s, and the manifest keeps each "
                 "datum's latest record only: inspect it there\n", id, pj);
        io_manifest_close (m);
        jobs_spec_destroy (spec);
        free (out_log);
        free (err_log);
        return EXIT_USAGE;
    }
    att_vec_t hist = { 0 };
    dr_error_t aerr = { { 0 } };
    if (io_manifest_attempts (m, NULL, &r->id, att_collect, &hist, &aerr) < 0)
        fprintf (stderr, "datumrun inspect-datum: %s\n", aerr.text);
    if (o.json) {
        json_t *outs = json_array ();
        for (size_t i = 0; i < r->noutputs; i++)
            json_array_append_new (outs, json_path (r->outputs[i]));
        json_t *ha = json_array ();
        for (size_t i = 0; i < hist.n; i++)
            json_array_append_new (ha, attempt_json (&hist.v[i]));
        json_t *dj = json_pack (
            "{s:s, s:s, s:s, s:s, s:s, s:i, s:s, s:i, s:i, s:s, s:I, s:f, "
            "s:I, s:I, s:i, s:i, s:o, s:o, s:o, s:o}",
            "id", id, "job", j->id, "state", st, "hash", hh, "processed_by_job",
            pj, "pipeline_version", vnum, "pipeline_hash", ph,
            "attempts", r->attempts, "rank", r->rank, "host", r->host,
            "start_ns", (json_int_t)r->start_ns, "duration_s", r->duration_s,
            "bytes_in", (json_int_t)r->bytes_in, "bytes_out",
            (json_int_t)r->bytes_out, "exit_status", r->exit_status,
            "signal", r->term_signal,
            "stdout_log", out_log ? json_path (out_log) : json_null (),
            "stderr_log", err_log ? json_path (err_log) : json_null (),
            "outputs", outs, "history", ha);
        if (!dj)
            abort ();
        inputs_json (dj, r->inputs);
        print_json (dj);
    }
    else {
        printf ("ID: %s\nJob: %s\nState: %s\nProcessed by job: %s\n"
                "Pipeline version: %s\n"
                "Attempts: %u\nHash: %s\nWorker: rank %d on %s\n"
                "Started: %s\nDuration: %s\nData in: %s\nData out: %s\n",
                id, j->id, st, pj, vline, r->attempts, hh, r->rank, r->host,
                t, dur, bi, bo);
        if (r->term_signal)
            printf ("Ended by: signal %d\n", r->term_signal);
        else
            printf ("Exit status: %d\n", r->exit_status);
        printf ("Inputs:\n");
        for (const char *e = r->inputs ? r->inputs : ""; *e;
             e += strlen (e) + 1) {
            printf ("  ");
            put_name (e);
            putchar ('\n');
        }
        if (out_log || err_log) {
            printf ("Logs:\n");
            for (int k = 0; k < 2; k++) {
                const char *lp = k ? err_log : out_log;
                if (!lp)
                    continue;
                printf ("  ");
                put_name (lp);
                putchar ('\n');
            }
        }
        else
            printf ("Logs: none (the command wrote no output)\n");
        printf ("Outputs:\n");
        for (size_t i = 0; i < r->noutputs; i++) {
            printf ("  ");
            put_name (spec->output);
            putchar ('/');
            put_name (r->outputs[i]);
            putchar ('\n');
        }
        if (hist.n) {
            printf ("Attempts (all jobs, oldest first):\n"
                    "  %-8s  %-7s  %-11s  %-19s  %-9s  %-6s  %s\n", "JOB",
                    "ATTEMPT", "OUTCOME", "STARTED", "DURATION", "EXIT",
                    "WORKER");
            for (size_t i = 0; i < hist.n; i++)
                print_attempt_row (&hist.v[i]);
        }
    }
    free (hist.v);
    free (out_log);
    free (err_log);
    io_manifest_close (m);
    jobs_spec_destroy (spec);
    return rc;
}
