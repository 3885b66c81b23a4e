/* why.c: `datumrun why PATH` and `datumrun why --stale SPEC`: provenance.
 *
 * For a file or folder under some pipeline's output folder, the owner
 * marker there (.datumrun-owner.json, io/owner.c) names the pipeline and
 * its state folder; its manifest names the datum that made each output
 * path, the job and pipeline version that made it, and the input entries
 * with their content hashes as they were (io/lineage.c).  Each entry is
 * hashed again to tell current from stale, and an entry that lies in
 * another pipeline's output folder is followed upstream, down to raw
 * inputs, with a depth limit and cycle detection.  The answer is built as
 * one JSON tree; the text form is printed from it, so both say the same.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <jansson.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "runner/container.h"
#include "runner/runner.h"

const optparse_option_t runner_why_options[] = {
    { .name = "stale",
      .help = "PATH is a spec: list its outputs whose recorded inputs or "
              "pipeline version no longer match, and why" },
    { .name = "spec", .type = OPTPARSE_STR, .arg = "SPEC",
      .complete = OPTPARSE_COMP_SPEC,
      .help = "the pipeline that owns PATH (default: the owner marker of "
              "its output folder)" },
    RUNNER_OPT_STATE_DIR,
    { .name = "depth", .type = OPTPARSE_INT, .arg = "N", .min = 0,
      .max = 1000,
      .help = "follow inputs upstream at most N pipelines deep (default "
              "50)" },
    RUNNER_OPT_JSON ("print one JSON document (nested for upstream "
                     "pipelines)"),
    OPTPARSE_END,
};

typedef struct why {
    int max_depth;
    /* "state_dir\tdatum id" of the datums on the way down: a cycle. */
    char **chain;
    size_t nchain;
} why_t;

static json_t *str_or_null (const char *s)
{
    return s && *s ? jobs_json_bytes (s) : json_null ();
}

static char *hex_of (const io_hash_t *h)
{
    char *s = malloc (33);
    if (s)
        io_hash_hex (h, s);
    return s;
}

static void fmt_time (int64_t ns, char *buf, size_t len)
{
    time_t t = (time_t)(ns / 1000000000);
    struct tm tm;
    localtime_r (&t, &tm);
    strftime (buf, len, "%Y-%m-%d %H:%M:%S", &tm);
}

/* An absolute, clean form of path without requiring it to exist: the
 * parent resolved, the last component kept. */
static char *absolute (const char *path)
{
    char *r = realpath (path, NULL);
    if (r)
        return r;
    char *copy = strdup (path), *slash = copy ? strrchr (copy, '/') : NULL;
    char *dir = NULL, *out = NULL;
    if (!copy)
        return NULL;
    if (slash) {
        *slash = '\0';
        dir = realpath (*copy ? copy : "/", NULL);
        if (dir && asprintf (&out, "%s/%s", strcmp (dir, "/") ? dir : "",
                             slash + 1) < 0)
            out = NULL;
    }
    else if ((dir = realpath (".", NULL))
             && asprintf (&out, "%s/%s", dir, copy) < 0)
        out = NULL;
    free (dir);
    free (copy);
    return out;
}

/* The nearest folder at or above abs with an owner marker: 1 with *o and
 * *output filled, 0 when there is none, -1 with err. */
static int find_owner (const char *abs, io_owner_t *o, char **output,
                       dr_error_t *err)
{
    char *dir = strdup (abs);
    if (!dir)
        return dr_errprintf (err, "out of memory");
    struct stat st;
    if (stat (dir, &st) < 0 || !S_ISDIR (st.st_mode)) {
        char *slash = strrchr (dir, '/');
        if (slash)
            *(slash == dir ? slash + 1 : slash) = '\0';
    }
    for (;;) {
        int rc = io_owner_read (dir, o, err);
        if (rc != 0) {
            if (rc > 0)
                *output = dir;
            else
                free (dir);
            return rc;
        }
        char *slash = strrchr (dir, '/');
        if (!slash || !strcmp (dir, "/"))
            break;
        *(slash == dir ? slash + 1 : slash) = '\0';
    }
    free (dir);
    return 0;
}

/* path relative to folder ("" for the folder itself), or NULL when it
 * is not inside it. */
static const char *relative_to (const char *path, const char *folder)
{
    size_t n = strlen (folder);
    if (strncmp (path, folder, n))
        return NULL;
    if (path[n] == '\0')
        return "";
    if (path[n] == '/')
        return path + n + 1;
    return NULL;
}

static const jobs_record_t *job_by_id (const io_manifest_t *m,
                                       const io_hash_t *id)
{
    char h[33];
    io_hash_hex (id, h);
    for (size_t i = 0; i < io_manifest_njobs (m); i++)
        if (!strcmp (io_manifest_job (m, i)->id, h))
            return io_manifest_job (m, i);
    return NULL;
}

static bool owns (const io_datum_rec_t *r, const char *rel)
{
    size_t n = strlen (rel);
    for (size_t k = 0; k < r->noutputs; k++) {
        const char *o = r->outputs[k];
        if (!n || !strcmp (o, rel) || (!strncmp (o, rel, n) && o[n] == '/'))
            return true;
    }
    return false;
}

static json_t *explain_owned (why_t *w, const char *abs, int depth,
                              io_owner_t *own, char *output);

/* The whole answer for one path: its pipeline (from the owner marker of
 * the output folder it lies in) and the datums that made it. */
static json_t *explain_path (why_t *w, const char *abs, int depth)
{
    io_owner_t own = { 0 };
    char *output = NULL;
    dr_error_t err = { { 0 } };
    int found = find_owner (abs, &own, &output, &err);
    if (found <= 0) {
        json_t *o = json_object ();
        json_object_set_new (o, "path", jobs_json_bytes (abs));
        json_object_set_new (o, "error", found < 0
                                 ? jobs_json_bytes (err.text)
                                 : json_string ("not inside any pipeline's "
                                                "output folder (no "
                                                IO_OWNER_FILE " above it)"));
        return o;
    }
    return explain_owned (w, abs, depth, &own, output);
}

/* One input entry: recorded and current hash, and where it came from. */
static json_t *explain_entry (why_t *w, io_manifest_t *m,
                              const io_datum_rec_t *r, const char *entry,
                              const io_hash_t *recorded, int depth)
{
    const char *colon = strchr (entry, ':');
    char *name = colon ? strndup (entry, (size_t)(colon - entry))
                       : strdup (entry);
    const char *rel = colon ? colon + 1 : "";
    char job[33];
    io_hash_hex (&r->proc_job, job);
    const char *repo = name ? io_manifest_job_repo (m, job, name) : NULL;
    char *abs = NULL;
    if (repo && asprintf (&abs, "%s%s", repo, strcmp (rel, "/") ? rel : "")
                    < 0)
        abs = NULL;
    json_t *e = json_object ();
    json_object_set_new (e, "input", str_or_null (name));
    json_object_set_new (e, "path", str_or_null (rel));
    json_object_set_new (e, "abs_path", str_or_null (abs));
    char *rh = recorded ? hex_of (recorded) : NULL;
    json_object_set_new (e, "hash", str_or_null (rh));
    const char *status = "unrecorded";
    if (abs) {
        io_hash_t now;
        uint64_t bytes;
        dr_error_t err = { { 0 } };
        if (io_content_hash (io_manifest_statcache (m), abs, false, &now,
                             &bytes, &err) < 0) {
            status = errno == ENOENT ? "missing" : "unreadable";
            json_object_set_new (e, "current_hash", json_null ());
            json_object_set_new (e, "error", jobs_json_bytes (err.text));
        }
        else {
            char *nh = hex_of (&now);
            json_object_set_new (e, "current_hash", str_or_null (nh));
            free (nh);
            if (recorded)
                status = io_hash_eq (&now, recorded) ? "current" : "stale";
        }
        /* An entry in another pipeline's output folder: follow it. */
        io_owner_t up = { 0 };
        char *upout = NULL;
        dr_error_t uerr = { { 0 } };
        int found = find_owner (abs, &up, &upout, &uerr);
        if (found > 0) {
            if (depth >= w->max_depth)
                json_object_set_new (e, "upstream",
                                     json_pack ("{s:s, s:b}", "pipeline",
                                                up.pipeline, "truncated", 1));
            else
                json_object_set_new (e, "upstream",
                                     explain_path (w, abs, depth + 1));
            io_owner_free (&up);
        }
        else if (found < 0)
            json_object_set_new (e, "upstream_error",
                                 jobs_json_bytes (uerr.text));
        free (upout);
    }
    json_object_set_new (e, "status", json_string (status));
    free (rh);
    free (abs);
    free (name);
    return e;
}

static json_t *explain_datum (why_t *w, io_manifest_t *m, const char *sd,
                              const io_datum_rec_t *r, const char *rel,
                              int depth)
{
    json_t *d = json_object ();
    char *id = hex_of (&r->id), *key = NULL;
    json_object_set_new (d, "datum", json_string (id));
    json_object_set_new (d, "state", json_string (jobs_datum_state_name (
                                         (jobs_datum_state_t)r->state)));
    if (asprintf (&key, "%s\t%s", sd, id) < 0)
        key = NULL;
    for (size_t i = 0; key && i < w->nchain; i++)
        if (!strcmp (w->chain[i], key)) {
            json_object_set_new (d, "cycle", json_true ());
            free (key);
            free (id);
            return d;
        }
    char *job = hex_of (&r->proc_job);
    const jobs_record_t *jr = job_by_id (m, &r->proc_job);
    char when[64];
    fmt_time (r->start_ns, when, sizeof (when));
    json_object_set_new (d, "job", json_string (job));
    json_object_set_new (d, "started", json_string (when));
    json_object_set_new (d, "started_ns", json_integer (r->start_ns));
    json_object_set_new (d, "rank", json_integer (r->rank));
    json_object_set_new (d, "host", str_or_null (r->host));
    json_object_set_new (d, "duration_s", json_real (r->duration_s));
    char *ph = hex_of (&r->pipeline);
    json_object_set_new (d, "pipeline_hash",
                         io_hash_is_zero (&r->pipeline) ? json_null ()
                                                        : json_string (ph));
    json_object_set_new (d, "image_id",
                         str_or_null (jr ? jr->image_id : NULL));
    json_t *outs = json_array ();
    for (size_t k = 0; k < r->noutputs; k++) {
        size_t n = strlen (rel);
        const char *o = r->outputs[k];
        if (!n || !strcmp (o, rel) || (!strncmp (o, rel, n) && o[n] == '/'))
            json_array_append_new (outs, jobs_json_bytes (o));
    }
    json_object_set_new (d, "outputs", outs);
    uint32_t nh = 0;
    const io_hash_t *hs = io_manifest_entry_hashes (m, &r->id, &nh);
    json_t *ins = json_array ();
    char **chain = key ? realloc (w->chain, (w->nchain + 1) * sizeof (char *))
                       : NULL;
    if (chain) {
        w->chain = chain;
        w->chain[w->nchain++] = key;
        key = NULL;
    }
    uint32_t k = 0;
    for (const char *e = r->inputs; e && *e; e += strlen (e) + 1, k++)
        json_array_append_new (ins, explain_entry (w, m, r, e,
                                                   k < nh ? &hs[k] : NULL,
                                                   depth));
    if (chain)
        free (w->chain[--w->nchain]);
    json_object_set_new (d, "inputs", ins);
    free (key);
    free (ph);
    free (job);
    free (id);
    return d;
}

/* The datums of own's pipeline that made abs (or why there are none).
 * Takes own and output. */
static json_t *explain_owned (why_t *w, const char *abs, int depth,
                              io_owner_t *own_, char *output)
{
    json_t *o = json_object ();
    io_owner_t own = *own_;
    dr_error_t err = { { 0 } };
    json_object_set_new (o, "path", jobs_json_bytes (abs));
    json_object_set_new (o, "pipeline", jobs_json_bytes (own.pipeline));
    json_object_set_new (o, "spec", jobs_json_bytes (own.spec));
    json_object_set_new (o, "output", jobs_json_bytes (output));
    json_object_set_new (o, "state_dir", jobs_json_bytes (own.state_dir));
    io_manifest_t *m = io_manifest_open_ro (own.state_dir, &err);
    if (!m) {
        json_object_set_new (o, "error", jobs_json_bytes (err.text));
        goto done;
    }
    const char *rel = relative_to (abs, output);
    json_t *ds = json_array ();
    for (size_t i = 0; rel && i < io_manifest_ndatums (m); i++) {
        io_datum_rec_t view;
        const io_datum_rec_t *r = io_manifest_datum (m, i, &view);
        if ((r->state == JOBS_DATUM_SUCCESS
             || r->state == JOBS_DATUM_RECOVERED) && owns (r, rel))
            json_array_append_new (ds, explain_datum (w, m, own.state_dir, r,
                                                      rel, depth));
    }
    json_object_set_new (o, "datums", ds);
    if (json_array_size (ds) == 0)
        json_object_set_new (o, "error",
                             json_string ("no datum of the pipeline made it "
                                          "(its manifest records no output "
                                          "there)"));
    io_manifest_close (m);
done:
    io_owner_free (&own);
    free (output);
    return o;
}

/* ------------------------------------------------------------- text */

static const char *js (const json_t *o, const char *key)
{
    const char *s = json_string_value (json_object_get (o, key));
    return s ? s : "";
}

static void print_path (const json_t *o, int ind);

static void print_entry (const json_t *e, int ind)
{
    const char *st = js (e, "status");
    char rh[13] = "", ch[13] = "";
    snprintf (rh, sizeof (rh), "%.12s", js (e, "hash"));
    snprintf (ch, sizeof (ch), "%.12s", js (e, "current_hash"));
    char *in = jobs_name_escape (js (e, "input"));
    char *path = jobs_name_escape (js (e, "path"));
    printf ("%*s%s:%s  %s", ind, "", in ? in : "?", path ? path : "?",
            rh[0] ? rh : "(no hash recorded)");
    if (!strcmp (st, "stale"))
        printf ("  STALE (now %s)\n", ch);
    else if (!strcmp (st, "current"))
        printf ("  current\n");
    else
        printf ("  %s\n", st);
    free (in);
    free (path);
    const json_t *up = json_object_get (e, "upstream");
    if (up && json_is_true (json_object_get (up, "truncated")))
        printf ("%*s(made by pipeline %s: --depth reached)\n", ind + 4, "",
                js (up, "pipeline"));
    else if (up)
        print_path (up, ind + 4);
    if (json_object_get (e, "upstream_error"))
        printf ("%*s(upstream: %s)\n", ind + 4, "", js (e, "upstream_error"));
}

static void print_path (const json_t *o, int ind)
{
    char *p = jobs_name_escape (js (o, "path"));
    if (json_object_get (o, "pipeline"))
        printf ("%*s%s is an output of pipeline %s (spec %s)\n", ind, "",
                p ? p : "?", js (o, "pipeline"), js (o, "spec"));
    free (p);
    if (json_object_get (o, "error"))
        printf ("%*s%s\n", ind + 2, "", js (o, "error"));
    size_t i;
    json_t *d;
    json_array_foreach (json_object_get (o, "datums"), i, d) {
        if (json_is_true (json_object_get (d, "cycle"))) {
            printf ("%*sdatum %.12s: a cycle (already on this path)\n",
                    ind + 2, "", js (d, "datum"));
            continue;
        }
        printf ("%*sdatum %.12s (%s), job %.8s at %s, rank %d on %s\n",
                ind + 2, "", js (d, "datum"), js (d, "state"), js (d, "job"),
                js (d, "started"),
                (int)json_integer_value (json_object_get (d, "rank")),
                js (d, "host"));
        printf ("%*spipeline version %.12s%s%s\n", ind + 4, "",
                json_object_get (d, "pipeline_hash")
                        && !json_is_null (json_object_get (d, "pipeline_hash"))
                    ? js (d, "pipeline_hash")
                    : "(not recorded)",
                json_is_string (json_object_get (d, "image_id")) ? ", image "
                                                                 : "",
                js (d, "image_id"));
        size_t k;
        json_t *e;
        printf ("%*sinputs:\n", ind + 4, "");
        json_array_foreach (json_object_get (d, "inputs"), k, e)
            print_entry (e, ind + 6);
    }
}

/* ------------------------------------------------------------ --stale */

static int why_stale (optparse_t *p, bool json)
{
    const char *sp = optparse_pos (p, 0);
    jobs_spec_t *spec = runner_load_spec (sp, optparse_str (p, "state-dir",
                                                            NULL));
    if (!spec)
        return EXIT_USAGE;
    dr_error_t err = { { 0 } };
    container_t ct;
    io_manifest_t *m = NULL;
    sched_plan_t *plan = NULL;
    int rc = EXIT_USAGE;
    if (container_setup (&ct, spec, NULL, &err) < 0
        || !(m = io_manifest_open_ro (spec->state_dir, &err))) {
        fprintf (stderr, "%s\n", err.text);
        goto done;
    }
    sched_plan_opts_t popts = { 0 };
    if (!(plan = sched_plan_build (spec, io_manifest_statcache (m), m, &popts,
                                   &err))) {
        fprintf (stderr, "%s: %s\n", sp, err.text);
        goto done;
    }
    json_t *list = json_array ();
    size_t redo = 0, older = 0;
    for (size_t i = 0; i < io_manifest_ndatums (m); i++) {
        io_datum_rec_t view;
        const io_datum_rec_t *r = io_manifest_datum (m, i, &view);
        if ((r->state != JOBS_DATUM_SUCCESS
             && r->state != JOBS_DATUM_RECOVERED) || r->noutputs == 0)
            continue;
        ssize_t at = sched_plan_find (plan, &r->id);
        const char *why = NULL;
        bool reruns = true;
        json_t *changed = json_array ();
        if (at < 0)
            why = "gone from the input: a rerun removes its outputs";
        else if (plan->datums[at].action == SCHED_PROCESS) {
            const sched_datum_t *d = &plan->datums[at];
            uint32_t nh = 0;
            const io_hash_t *hs = io_manifest_entry_hashes (m, &r->id, &nh);
            io_hash_t *now = malloc ((d->nentries ? d->nentries : 1)
                                     * sizeof (*now));
            uint32_t n = now ? sched_datum_entry_hashes (plan, d, now) : 0;
            char *ins = sched_datum_inputs (plan, d);
            uint32_t k = 0;
            for (const char *e = ins; e && *e; e += strlen (e) + 1, k++)
                if (k < n && (k >= nh || !io_hash_eq (&hs[k], &now[k])))
                    json_array_append_new (changed, jobs_json_bytes (e));
            free (ins);
            free (now);
            why = json_array_size (changed)
                      ? "its inputs changed: a rerun processes it again"
                      : "its outputs are not as it made them, or it must "
                        "run again: a rerun processes it again";
        }
        else if (!io_hash_is_zero (&r->pipeline)
                 && !io_hash_eq (&r->pipeline, &plan->pipeline_hash)) {
            why = "made by an earlier pipeline version: a rerun keeps it, "
                  "--reprocess redoes it";
            reruns = false;
        }
        if (!why) {
            json_decref (changed);
            continue;
        }
        redo += reruns;
        older += !reruns;
        char *id = hex_of (&r->id);
        json_t *outs = json_array ();
        for (size_t k = 0; k < r->noutputs; k++)
            json_array_append_new (outs, jobs_json_bytes (r->outputs[k]));
        json_array_append_new (list,
                               json_pack ("{s:s, s:o, s:s, s:b, s:o}",
                                          "datum", id, "outputs", outs,
                                          "reason", why, "rerun_redoes",
                                          reruns, "changed_inputs", changed));
        free (id);
    }
    if (json) {
        json_t *doc = json_pack ("{s:s, s:s, s:i, s:i, s:o}", "pipeline",
                                 spec->name, "output", spec->output,
                                 "rerun_redoes", (json_int_t)redo,
                                 "earlier_version", (json_int_t)older,
                                 "stale", list);
        char *s = jobs_json_dumps (doc, JSON_COMPACT | JSON_PRESERVE_ORDER);
        printf ("%s\n", s ? s : "{}");
        free (s);
        json_decref (doc);
    }
    else {
        size_t i;
        json_t *x;
        json_array_foreach (list, i, x) {
            size_t k;
            json_t *o;
            json_array_foreach (json_object_get (x, "outputs"), k, o) {
                char *e = jobs_name_escape (json_string_value (o));
                printf ("%s/%s\n", spec->output, e ? e : "?");
                free (e);
            }
            printf ("  datum %.12s: %s\n", js (x, "datum"), js (x, "reason"));
            json_t *c;
            json_array_foreach (json_object_get (x, "changed_inputs"), k, c) {
                char *e = jobs_name_escape (json_string_value (c));
                printf ("    changed: %s\n", e ? e : "?");
                free (e);
            }
        }
        printf ("%s: %zu datum%s a rerun would redo, %zu made by an earlier "
                "version%s\n", spec->name, redo, redo == 1 ? "" : "s", older,
                redo + older ? "" : ": the output folder is up to date");
        json_decref (list);
    }
    rc = redo + older ? EXIT_FAILED : EXIT_OK;
done:
    sched_plan_destroy (plan);
    io_manifest_close (m);
    container_free (&ct);
    jobs_spec_destroy (spec);
    return rc;
}

/* ------------------------------------------------------------- entry */

int cmd_why (optparse_t *p)
{
    bool json = optparse_has (p, "json");
    if (optparse_has (p, "stale"))
        return why_stale (p, json);
    why_t w = { .max_depth = optparse_int (p, "depth", 50) };
    char *abs = absolute (optparse_pos (p, 0));
    if (!abs) {
        fprintf (stderr, "datumrun why: %s: %s\n", optparse_pos (p, 0),
                 strerror (errno));
        return EXIT_FAILED;
    }
    json_t *doc;
    const char *spec = optparse_str (p, "spec", NULL);
    if (spec) {
        /* Explicit: the spec's output folder must hold PATH. */
        jobs_spec_t *s = runner_load_spec (spec, optparse_str (p, "state-dir",
                                                               NULL));
        io_owner_t own = { 0 };
        char *output = s ? strdup (s->output) : NULL;
        if (!s || !output
            || io_owner_init (&own, s->name, s->path, s->state_dir,
                              s->output) < 0) {
            jobs_spec_destroy (s);
            free (output);
            free (abs);
            return EXIT_USAGE;
        }
        if (!relative_to (abs, s->output)) {
            fprintf (stderr, "datumrun why: %s is not inside %s, the output "
                     "folder of %s\n", abs, s->output, spec);
            io_owner_free (&own);
            jobs_spec_destroy (s);
            free (output);
            free (abs);
            return EXIT_FAILED;
        }
        jobs_spec_destroy (s);
        doc = explain_owned (&w, abs, 0, &own, output);
    }
    else
        doc = explain_path (&w, abs, 0);
    bool bad = json_object_get (doc, "error") != NULL;
    if (json) {
        char *s = jobs_json_dumps (doc, JSON_COMPACT | JSON_PRESERVE_ORDER
                                            | JSON_REAL_PRECISION (9));
        printf ("%s\n", s ? s : "{}");
        free (s);
    }
    else if (bad && !json_object_get (doc, "pipeline"))
        fprintf (stderr, "datumrun why: %s: %s\n", abs, js (doc, "error"));
    else
        print_path (doc, 0);
    if (bad && json)
        fprintf (stderr, "datumrun why: %s: %s\n", abs, js (doc, "error"));
    json_decref (doc);
    free (w.chain);
    free (abs);
    return bad ? EXIT_FAILED : EXIT_OK;
}
