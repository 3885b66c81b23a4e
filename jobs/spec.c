/* spec.c: load a pipeline spec (JSON, Pachyderm's field names), validate
 * every field, fill in defaults and resolve paths, producing the
 * jobs_spec_t the rest of datumrun trusts without checking again.  Every
 * refusal fills the caller's dr_error_t with a message naming the spec file
 * and the key at fault (unknown keys get a did-you-mean), because a bad
 * spec must stop the run before anything is written.  The spec also yields
 * pipeline_canon, the canonical JSON of the transform and input whose hash
 * decides whether the pipeline's code changed between runs.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <jansson.h>

#include "jobs/jobs.h"

/* A spec is a few kilobytes; the cap only stops `datumrun run /dev/zero`. */
#define SPEC_MAX_BYTES (16 * 1024 * 1024)
#define PIPELINE_NAME_MAX 63
/* Keys longer than this get no did-you-mean (bounds the distance table). */
#define SUGGEST_MAX 64

/* Set on the inputs below a join or a group: their leaves need join_on or
 * group_by.
 */
enum { IN_JOIN = 1, IN_GROUP = 2 };

enum { STRV_REQUIRED = 1, STRV_NONEMPTY = 2 };

struct parse {
    const char *given;      /* the spec path as given: messages name it */
    const char *dir;        /* canonical folder of the spec */
    dr_error_t *err;
    int nleaves;            /* pfs leaves seen so far, depth-first */
};

static const char *const top_keys[] = {
    "pipeline", "transform", "input", "output", "parallelism_spec",
    "datum_tries", "datum_timeout", "job_timeout", "chunk_spec",
    "reprocess_spec", "resource_requests", "description", "datum_set_spec",
    "scratch", "worker_heartbeat", "worker_timeout", "datum_crash_limit",
    NULL,
};
static const char *const input_keys[] = {
    "pfs", "atom", "cross", "union", "join", "group", NULL,
};
static const char *const pfs_keys[] = {
    "name", "repo", "glob", "join_on", "group_by", "outer_join", "branch",
    "lazy", "empty_files", NULL,
};

/* Pachyderm fields that have no meaning on a file system, and why: they
 * are refused with the reason rather than as unknown keys. */
enum level { L_TOP, L_INPUT, L_PFS, L_TRANSFORM };
static const struct {
    enum level level;
    const char *key, *why;
} pach_refused[] = {
    { L_TOP, "spout", "a spout runs forever, pushing a stream into its "
      "output; datumrun runs finite jobs over folders (run it again, from "
      "cron or a loop, to take in new files)" },
    { L_TOP, "service", "a service pipeline serves its output over the "
      "network from Kubernetes; datumrun runs no long-lived services" },
    { L_TOP, "s3_out", "it writes the output through Pachyderm's S3 gateway;"
      " datumrun's output is the folder named by 'output'" },
    { L_TOP, "egress", "it copies the output commit to object storage; copy "
      "the output folder after the job instead" },
    { L_TOP, "standby", "it parks Kubernetes worker pods between jobs; "
      "datumrun's workers are MPI ranks that exist only while a job runs" },
    { L_TOP, "autoscaling", "it scales Kubernetes worker pods; datumrun's "
      "workers are MPI ranks, set by 'parallelism_spec' or run -n" },
    { L_TOP, "pod_spec", "it patches the Kubernetes pod; on a cluster pass "
      "sbatch options (datumrun sbatch SPEC -- ARGS)" },
    { L_TOP, "pod_patch", "it patches the Kubernetes pod; on a cluster pass "
      "sbatch options (datumrun sbatch SPEC -- ARGS)" },
    { L_TOP, "scheduling_spec", "it places Kubernetes pods on nodes; on a "
      "cluster pass sbatch options (datumrun sbatch SPEC -- ARGS)" },
    { L_TOP, "tolerations", "Kubernetes tolerations have no counterpart; on "
      "a cluster pass sbatch options (datumrun sbatch SPEC -- ARGS)" },
    { L_TOP, "resource_limits", "Kubernetes limits have no counterpart; use "
      "'resource_requests' and the batch system's limits" },
    { L_TOP, "sidecar_resource_limits", "there is no storage sidecar: "
      "workers read the inputs' folders directly" },
    { L_TOP, "enable_stats", "Pachyderm's stats commits: datumrun records "
      "every datum in its manifest anyway (list-datum, inspect-datum)" },
    { L_TOP, "output_branch", "there are no branches: outputs go to the "
      "folder named by 'output'" },
    { L_TOP, "metadata", "Kubernetes annotations and labels have no "
      "counterpart" },
    { L_TOP, "tf_job", "Kubeflow TFJobs need Kubernetes" },
    { L_INPUT, "cron", "a cron input makes commits on a schedule; run "
      "datumrun on a schedule instead (cron, scrontab): a rerun processes "
      "only what changed" },
    { L_INPUT, "git", "git inputs are gone from Pachyderm 2; clone the "
      "repository into a folder and use it as a pfs input" },
    { L_PFS, "s3", "it serves the input through Pachyderm's S3 gateway; "
      "datumrun's inputs are folders, seen through pfs/<input> and "
      "$<input>" },
    { L_PFS, "trigger", "triggers start a pipeline on conditions over "
      "commits to a branch; datumrun runs when it is run (a rerun processes "
      "only what changed)" },
    { L_PFS, "commit", "there are no commits: datumrun reads the repo "
      "folder as it is when the job plans" },
    { L_PFS, "project", "Pachyderm projects group repos; here a repo is a "
      "folder path" },
    { L_TRANSFORM, "secrets", "Kubernetes secrets have no counterpart; pass "
      "values in 'transform.env' or files the command reads" },
    { L_TRANSFORM, "image_pull_secrets", "Kubernetes secrets have no "
      "counterpart" },
    { L_TRANSFORM, "working_dir", "the command runs in its datum's sandbox, "
      "which holds pfs/" },
};

/* ------------------------------------------------------------ messages */

static int fail (struct parse *p, int errnum, const char *fmt, ...)
    __attribute__ ((format (printf, 3, 4)));

/* Fill p->err with "SPEC: message", set errno to errnum, return -1.  The
 * message is formatted whole first: a long value in it loses its middle
 * (dr_errprintf), never the end of the message. */
static int fail (struct parse *p, int errnum, const char *fmt, ...)
{
    char *msg = NULL;
    va_list ap;

    va_start (ap, fmt);
    int n = vasprintf (&msg, fmt, ap);
    va_end (ap);
    dr_errprintf (p->err, "%s: %s", p->given, n < 0 ? "out of memory" : msg);
    free (msg);
    errno = errnum;
    return -1;
}

static int nomem (struct parse *p)
{
    return fail (p, ENOMEM, "out of memory");
}

static char *xprintf (const char *fmt, ...)
    __attribute__ ((format (printf, 1, 2)));

/* malloc'd printf; NULL with errno on failure. */
static char *xprintf (const char *fmt, ...)
{
    va_list ap;
    char *s;
    int n;

    va_start (ap, fmt);
    n = vsnprintf (NULL, 0, fmt, ap);
    va_end (ap);
    if (n < 0 || !(s = malloc ((size_t)n + 1)))
        return NULL;
    va_start (ap, fmt);
    vsnprintf (s, (size_t)n + 1, fmt, ap);
    va_end (ap);
    return s;
}

/* A short rendering of a JSON value for "(got ...)" in messages. */
static const char *show (const json_t *v, char *buf, size_t len)
{
    size_t n;

    /* json_dumpb leaves what did not fit unwritten: zero it first so that
     * a truncated rendering is still a valid prefix.
     */
    memset (buf, 0, len);
    n = json_dumpb (v, buf, len - 4, JSON_ENCODE_ANY | JSON_COMPACT);
    if (n == 0)
        snprintf (buf, len, "?");
    else if (n > len - 4)
        strcat (buf, "...");
    else
        buf[n] = '\0';
    return buf;
}

/* "a.b" for key b of the object at location a; just "b" at the top. */
#define KEY_FMT "%s%s%s"
#define KEY_ARGS(loc, key) (loc), (*(loc) ? "." : ""), (key)

/* ----------------------------------------------------------- key checks */

/* Optimal string alignment distance: typos are mostly a dropped, doubled
 * or swapped letter, and a swap should cost one, not two.
 */
static size_t edit_distance (const char *a, const char *b)
{
    unsigned char d[SUGGEST_MAX + 1][SUGGEST_MAX + 1];
    size_t la = strlen (a), lb = strlen (b);

    if (la > SUGGEST_MAX || lb > SUGGEST_MAX)
        return SIZE_MAX;
    for (size_t i = 0; i <= la; i++)
        d[i][0] = (unsigned char)i;
    for (size_t j = 0; j <= lb; j++)
        d[0][j] = (unsigned char)j;
    for (size_t i = 1; i <= la; i++) {
        for (size_t j = 1; j <= lb; j++) {
            unsigned cost = a[i - 1] != b[j - 1];
            unsigned v = d[i - 1][j] + 1u;
            if (d[i][j - 1] + 1u < v)
                v = d[i][j - 1] + 1u;
            if (d[i - 1][j - 1] + cost < v)
                v = d[i - 1][j - 1] + cost;
            if (i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1]
                && d[i - 2][j - 2] + 1u < v)
                v = d[i - 2][j - 2] + 1u;
            d[i][j] = (unsigned char)v;
        }
    }
    return d[la][lb];
}

/* Refuse the first key of obj not in allowed, naming where it was found
 * ("the top level", "'transform'") and the nearest allowed key.
 */
static int check_keys (struct parse *p, json_t *obj, const char *where,
                       const char *const *allowed)
{
    const char *key;
    json_t *v;

    json_object_foreach (obj, key, v) {
        const char *best = NULL;
        size_t bestd = 3, i;
        char list[256] = "";
        size_t off = 0;

        for (i = 0; allowed[i]; i++)
            if (strcmp (key, allowed[i]) == 0)
                break;
        if (allowed[i])
            continue;
        enum level lv = allowed == top_keys ? L_TOP
                        : allowed == input_keys ? L_INPUT
                        : allowed == pfs_keys ? L_PFS
                        : !strcmp (where, "'transform'") ? L_TRANSFORM
                        : (enum level)-1;
        for (i = 0; i < sizeof (pach_refused) / sizeof (pach_refused[0]); i++)
            if (pach_refused[i].level == lv
                && !strcmp (pach_refused[i].key, key))
                return fail (p, EINVAL, "'%s' in %s is a Pachyderm field "
                             "with no meaning here: %s", key, where,
                             pach_refused[i].why);
        for (i = 0; allowed[i]; i++) {
            size_t dist = edit_distance (key, allowed[i]);
            if (dist < bestd) {
                bestd = dist;
                best = allowed[i];
            }
        }
        if (best)
            return fail (p, EINVAL, "unknown key '%s' in %s "
                         "(did you mean '%s'?)", key, where, best);
        for (i = 0; allowed[i] && off < sizeof (list); i++) {
            int n = snprintf (list + off, sizeof (list) - off, "%s%s",
                              i ? ", " : "", allowed[i]);
            if (n < 0)
                break;
            off += (size_t)n;
        }
        return fail (p, EINVAL, "unknown key '%s' in %s (allowed: %s)",
                     key, where, list);
    }
    return 0;
}

/* ----------------------------------------------------------- getters */

/* The member at key, or NULL when absent or null: JSON null means unset,
 * as in Pachyderm's own (protobuf) spec parser.
 */
static json_t *opt (json_t *obj, const char *key)
{
    json_t *v = json_object_get (obj, key);

    return json_is_null (v) ? NULL : v;
}

static int get_string (struct parse *p, json_t *obj, const char *loc,
                       const char *key, bool required, const char **out)
{
    json_t *v = opt (obj, key);

    *out = NULL;
    if (!v) {
        if (required)
            return fail (p, EINVAL, "missing required key '" KEY_FMT "'",
                         KEY_ARGS (loc, key));
        return 0;
    }
    if (!json_is_string (v))
        return fail (p, EINVAL, KEY_FMT " must be a string",
                     KEY_ARGS (loc, key));
    *out = json_string_value (v);
    return 0;
}

static void strv_free (char **v)
{
    if (v) {
        for (size_t i = 0; v[i]; i++)
            free (v[i]);
        free (v);
    }
}

/* An array of strings as a NULL-terminated vector; *out stays NULL when
 * the key is absent and not required.
 */
static int get_strv (struct parse *p, json_t *obj, const char *loc,
                     const char *key, int flags, char ***out)
{
    json_t *v = opt (obj, key);
    char **strv = NULL;
    size_t n, i;

    *out = NULL;
    if (!v) {
        if (flags & STRV_REQUIRED)
            return fail (p, EINVAL, "missing required key '" KEY_FMT "'",
                         KEY_ARGS (loc, key));
        return 0;
    }
    if (!json_is_array (v))
        goto type_error;
    n = json_array_size (v);
    if (n == 0 && (flags & STRV_NONEMPTY))
        return fail (p, EINVAL, KEY_FMT " must not be empty",
                     KEY_ARGS (loc, key));
    for (i = 0; i < n; i++)
        if (!json_is_string (json_array_get (v, i)))
            goto type_error;
    if (!(strv = calloc (n + 1, sizeof (*strv))))
        return nomem (p);
    for (i = 0; i < n; i++) {
        if (!(strv[i] = strdup (json_string_value (json_array_get (v, i))))) {
            strv_free (strv);
            return nomem (p);
        }
    }
    *out = strv;
    return 0;
type_error:
    return fail (p, EINVAL, KEY_FMT " must be an array of strings",
                 KEY_ARGS (loc, key));
}

/* An integer in [min, max] (a real with no fraction, such as 4.0, also
 * counts).  Beyond max is its own message: the value is well-formed but
 * not sane (jobs/limits.h). */
static int get_int (struct parse *p, json_t *obj, const char *loc,
                    const char *key, int min, int max, int def, int *out)
{
    json_t *v = opt (obj, key);
    char got[64];
    double d;

    *out = def;
    if (!v)
        return 0;
    if (json_is_integer (v))
        d = (double)json_integer_value (v);
    else if (json_is_real (v) && json_real_value (v) == floor (json_real_value (v)))
        d = json_real_value (v);
    else
        goto error;
    if (d < min)
        goto error;
    if (d > max)
        return fail (p, EINVAL, KEY_FMT " is %s, beyond the limit of %d",
                     KEY_ARGS (loc, key), show (v, got, sizeof (got)), max);
    *out = (int)d;
    return 0;
error:
    return fail (p, EINVAL, KEY_FMT " must be an integer >= %d (got %s)",
                 KEY_ARGS (loc, key), min, show (v, got, sizeof (got)));
}

/* A duration string ("10m", "1h30m") or a JSON number of seconds. */
static int get_duration (struct parse *p, json_t *obj, const char *key,
                         double *out)
{
    json_t *v = opt (obj, key);
    char got[64];

    *out = 0;
    if (!v)
        return 0;
    if (json_is_number (v)) {
        double d = json_number_value (v);
        if (d < 0 || !isfinite (d))
            return fail (p, EINVAL, "%s must not be negative (got %s)", key,
                         show (v, got, sizeof (got)));
        *out = d;
        goto bound;
    }
    if (!json_is_string (v))
        return fail (p, EINVAL, "%s must be a duration such as \"10m\" or "
                     "a number of seconds (got %s)", key,
                     show (v, got, sizeof (got)));
    if (jobs_parse_duration (json_string_value (v), out) < 0)
        return fail (p, EINVAL, "%s: bad duration '%s' (use e.g. \"90\", "
                     "\"90s\", \"10m\", \"1h30m\", \"500ms\")", key,
                     json_string_value (v));
bound:
    if (*out > JOBS_MAX_TIMEOUT_S)
        return fail (p, EINVAL, "%s is %s, beyond the limit of 366 days", key,
                     show (v, got, sizeof (got)));
    return 0;
}

/* An object, or absent.  *out is NULL when absent. */
static int get_object (struct parse *p, json_t *obj, const char *key,
                       bool required, const char *example, json_t **out)
{
    json_t *v = opt (obj, key);

    *out = NULL;
    if (!v) {
        if (required)
            return fail (p, EINVAL, "missing required key '%s'", key);
        return 0;
    }
    if (!json_is_object (v))
        return fail (p, EINVAL, "%s must be an object, e.g. %s", key,
                     example);
    *out = v;
    return 0;
}

/* ------------------------------------------------------------- names */

static bool is_alpha_ (char c)
{
    return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || c == '_';
}

static bool is_digit (char c)
{
    return c >= '0' && c <= '9';
}

/* [A-Za-z_][A-Za-z0-9_]*: the input name becomes an environment
 * variable of the user's command.
 */
static bool is_env_name (const char *s)
{
    if (!is_alpha_ (*s))
        return false;
    while (*++s)
        if (!is_alpha_ (*s) && !is_digit (*s))
            return false;
    return true;
}

/* datumrun sets DATUMRUN_* for the user's command; nothing may hide them. */
static bool is_reserved_env (const char *s)
{
    return strncmp (s, "DATUMRUN_", 9) == 0;
}

/* ------------------------------------------------------------- paths */

static char *path_join (const char *a, const char *b)
{
    size_t la = strlen (a);

    if (la > 0 && a[la - 1] == '/')
        return xprintf ("%s%s", a, b);
    return xprintf ("%s/%s", a, b);
}

static char *path_abs (const char *base, const char *path)
{
    return path[0] == '/' ? strdup (path) : path_join (base, path);
}

/* The canonical form of an absolute path that need not exist yet (an
 * output folder before the first run): the longest existing prefix is
 * resolved with realpath(), the rest is appended with "." and ".."
 * applied by hand, which is right because a missing folder cannot be a
 * symlink.
 */
static char *path_canon (const char *abs)
{
    char *copy = NULL, *parent = NULL, *res = NULL, *slash;
    const char *base;
    size_t n;

    if ((res = realpath (abs, NULL)))
        return res;
    if (errno != ENOENT && errno != ENOTDIR)
        return NULL;
    if (!(copy = strdup (abs)))
        return NULL;
    n = strlen (copy);
    while (n > 1 && copy[n - 1] == '/')
        copy[--n] = '\0';
    slash = strrchr (copy, '/');
    if (!slash || n <= 1) {     /* not absolute, or "/" failed: give up */
        errno = EINVAL;
        goto error;
    }
    base = slash + 1;
    if (slash == copy)
        parent = path_canon ("/");
    else {
        *slash = '\0';
        parent = path_canon (copy);
    }
    if (!parent)
        goto error;
    if (strcmp (base, ".") == 0) {
        res = parent;
        parent = NULL;
    }
    else if (strcmp (base, "..") == 0) {
        char *s = strrchr (parent, '/');
        if (s && s != parent)
            *s = '\0';
        else if (s)
            s[1] = '\0';
        res = parent;
        parent = NULL;
    }
    else if (!(res = path_join (parent, base)))
        goto error;
    free (parent);
    free (copy);
    return res;
error: {
    int saved = errno;
    free (parent);
    free (copy);
    errno = saved;
    return NULL;
}
}

/* Whether canonical path child is parent or lies below it. */
static bool path_within (const char *child, const char *parent)
{
    size_t n = strlen (parent);

    if (strcmp (parent, "/") == 0)
        return true;
    return strncmp (child, parent, n) == 0
           && (child[n] == '\0' || child[n] == '/');
}

/* ------------------------------------------------------------- inputs */

static void input_destroy (jobs_input_t *in)
{
    if (!in)
        return;
    for (size_t i = 0; i < in->nchildren; i++)
        input_destroy (in->children[i]);
    free (in->children);
    free (in->name);
    free (in->repo);
    free (in->repo_key);
    free (in->glob);
    free (in->join_on);
    free (in->group_by);
    free (in);
}

static size_t count_leaves (const jobs_input_t *in)
{
    size_t n = 0;

    if (in->kind == JOBS_INPUT_PFS)
        return 1;
    for (size_t i = 0; i < in->nchildren; i++)
        n += count_leaves (in->children[i]);
    return n;
}

static void fill_leaves (jobs_input_t *in, jobs_input_t **arr, size_t *n)
{
    if (in->kind == JOBS_INPUT_PFS) {
        arr[(*n)++] = in;
        return;
    }
    for (size_t i = 0; i < in->nchildren; i++)
        fill_leaves (in->children[i], arr, n);
}

/* The name a pfs input gets when it sets none: the repo's last component
 * as written, or the resolved folder's name for "." and "..".
 */
static char *default_name (const char *repo, const char *abs)
{
    char *copy = strdup (repo), *canon = NULL, *name, *s;
    size_t n;

    if (!copy)
        return NULL;
    n = strlen (copy);
    while (n > 1 && copy[n - 1] == '/')
        copy[--n] = '\0';
    s = strrchr (copy, '/');
    name = s ? s + 1 : copy;
    if (*name == '\0' || strcmp (name, ".") == 0 || strcmp (name, "..") == 0) {
        if (!(canon = path_canon (abs))) {
            free (copy);
            return NULL;
        }
        s = strrchr (canon, '/');
        name = s ? s + 1 : canon;
    }
    name = strdup (name);
    free (canon);
    free (copy);
    return name;
}

/* Check that the repo is a readable directory and store its real path.
 * The message shows both the path as written and the absolute one, since
 * "relative to the spec's folder" is easy to get wrong.
 */
static int resolve_repo (struct parse *p, jobs_input_t *in, const char *repo,
                         const char *abs)
{
    struct stat st;
    char *shown = NULL;
    const char *what;
    int e;

    if (stat (abs, &st) < 0) {
        e = errno;
        what = (e == ENOENT || e == ENOTDIR) ? "does not exist"
             : e == EACCES ? "is not readable" : strerror (e);
        goto error;
    }
    if (!S_ISDIR (st.st_mode)) {
        e = ENOTDIR;
        what = "is not a directory";
        goto error;
    }
    if (access (abs, R_OK | X_OK) < 0) {
        e = errno;
        what = "is not readable";
        goto error;
    }
    if (!(in->repo = realpath (abs, NULL))) {
        e = errno;
        what = strerror (e);
        goto error;
    }
    /* Relative to the spec's folder when inside it, so that moving the
     * project (spec and data together) keeps datum IDs and the pipeline
     * hash. */
    if (path_within (in->repo, p->dir) && strcmp (p->dir, "/"))
        in->repo_key = strdup (in->repo[strlen (p->dir)]
                                   ? in->repo + strlen (p->dir) + 1
                                   : ".");
    else
        in->repo_key = strdup (in->repo);
    if (!in->repo_key) {
        e = ENOMEM;
        what = strerror (e);
        goto error;
    }
    return 0;
error:
    shown = path_canon (abs);
    fail (p, e, "input '%s': repo '%s' (%s) %s", in->name, repo,
          shown ? shown : abs, what);
    free (shown);
    errno = e;
    return -1;
}

static json_t *canon_pfs (const jobs_input_t *in)
{
    json_t *o = json_object (), *pfs = json_object ();

    if (!o || !pfs
        || json_object_set_new (pfs, "name", json_string (in->name)) < 0
        /* A real path need not be UTF-8; hashing only needs the bytes. */
        || json_object_set_new (pfs, "repo",
                                json_string_nocheck (in->repo_key)) < 0
        || json_object_set_new (pfs, "glob", json_string (in->glob)) < 0
        || (in->join_on
            && json_object_set_new (pfs, "join_on", json_string (in->join_on)) < 0)
        || (in->group_by
            && json_object_set_new (pfs, "group_by",
                                    json_string (in->group_by)) < 0)
        || (in->outer_join
            && json_object_set_new (pfs, "outer_join", json_true ()) < 0)
        /* What the command sees changes: a new version of the pipeline. */
        || (in->empty_files
            && json_object_set_new (pfs, "empty_files", json_true ()) < 0)
        || json_object_set (o, "pfs", pfs) < 0) {
        json_decref (pfs);
        json_decref (o);
        return NULL;
    }
    json_decref (pfs);
    return o;
}

static int parse_pfs (struct parse *p, json_t *j, const char *loc, int ctx,
                      jobs_input_t *in, json_t **canon)
{
    const char *repo, *glob, *name, *join_on, *group_by, *branch;
    char *where = NULL, *abs = NULL;
    json_t *oj;

    if (!json_is_object (j)) {
        fail (p, EINVAL, "%s must be an object such as {\"repo\": "
              "\"data/words\", \"glob\": \"/*\"}", loc);
        goto error;
    }
    if (!(where = xprintf ("'%s'", loc))) {
        nomem (p);
        goto error;
    }
    if (check_keys (p, j, where, pfs_keys) < 0
        || get_string (p, j, loc, "repo", true, &repo) < 0
        || get_string (p, j, loc, "glob", true, &glob) < 0
        || get_string (p, j, loc, "name", false, &name) < 0
        || get_string (p, j, loc, "join_on", false, &join_on) < 0
        || get_string (p, j, loc, "group_by", false, &group_by) < 0
        || get_string (p, j, loc, "branch", false, &branch) < 0)
        goto error;
    if ((oj = opt (j, "outer_join")) && !json_is_boolean (oj)) {
        fail (p, EINVAL, "%s.outer_join must be true or false", loc);
        goto error;
    }
    in->outer_join = json_is_true (oj);
    /* lazy: Pachyderm downloads a lazy input's files only when they are
     * read; here inputs are links into the repo already, so it changes
     * nothing.  empty_files: the command gets empty files of the same
     * names (io_stage_empty). */
    static const char *const flags[] = { "lazy", "empty_files" };
    for (size_t f = 0; f < 2; f++) {
        json_t *fv = opt (j, flags[f]);
        if (fv && !json_is_boolean (fv)) {
            fail (p, EINVAL, "%s.%s must be true or false", loc, flags[f]);
            goto error;
        }
        if (f == 1)
            in->empty_files = json_is_true (fv);
    }
    if (*repo == '\0') {
        fail (p, EINVAL, "%s.repo must not be empty", loc);
        goto error;
    }
    if ((join_on && !*join_on) || (group_by && !*group_by)) {
        fail (p, EINVAL, "%s.%s must not be empty", loc,
              join_on && !*join_on ? "join_on" : "group_by");
        goto error;
    }
    if (!(abs = path_abs (p->dir, repo))) {
        nomem (p);
        goto error;
    }
    in->name = name ? strdup (name) : default_name (repo, abs);
    if (!in->name) {
        fail (p, errno, "%s: cannot name the input: %s", loc,
              strerror (errno));
        goto error;
    }
    if (!is_env_name (in->name)) {
        if (name)
            fail (p, EINVAL, "%s.name '%s' is not a valid environment "
                  "variable name ([A-Za-z_][A-Za-z0-9_]*)", loc, name);
        else
            fail (p, EINVAL, "%s: input name '%s' (from repo '%s') is not a "
                  "valid environment variable name ([A-Za-z_][A-Za-z0-9_]*);"
                  " set \"name\"", loc, in->name, repo);
        goto error;
    }
    /* pfs/out is the output folder in the sandbox; $DATUMRUN_* are ours. */
    if (strcmp (in->name, "out") == 0 || is_reserved_env (in->name)) {
        fail (p, EINVAL, "%s: input name '%s' is reserved; set another "
              "\"name\"", loc, in->name);
        goto error;
    }
    if ((ctx & IN_JOIN) && !join_on) {
        fail (p, EINVAL, "%s: input '%s' is part of a join and needs "
              "'join_on'", loc, in->name);
        goto error;
    }
    if ((ctx & IN_GROUP) && !group_by) {
        fail (p, EINVAL, "%s: input '%s' is part of a group and needs "
              "'group_by'", loc, in->name);
        goto error;
    }
    if (resolve_repo (p, in, repo, abs) < 0)
        goto error;
    if (!(in->glob = strdup (glob))
        || (join_on && !(in->join_on = strdup (join_on)))
        || (group_by && !(in->group_by = strdup (group_by)))
        || !(*canon = canon_pfs (in))) {
        nomem (p);
        goto error;
    }
    in->index = p->nleaves++;
    free (abs);
    free (where);
    return 0;
error:
    free (abs);
    free (where);
    return -1;
}

static jobs_input_t *parse_input (struct parse *p, json_t *j, const char *loc,
                                  int ctx, json_t **canon);

/* Children of a cross, join or group must have distinct names, since each
 * becomes one environment variable of the same command; a union's children
 * may share a name because a datum comes from only one of them.
 */
static int check_distinct (struct parse *p, jobs_input_t *in, const char *loc,
                           const char *kind)
{
    size_t total = count_leaves (in), n = 0;
    jobs_input_t **leaves = calloc (total, sizeof (*leaves));
    size_t *owner = calloc (total, sizeof (*owner));
    int rc = -1;

    if (!leaves || !owner) {
        nomem (p);
        goto done;
    }
    for (size_t c = 0; c < in->nchildren; c++) {
        size_t start = n;
        fill_leaves (in->children[c], leaves, &n);
        for (size_t k = start; k < n; k++)
            owner[k] = c;
    }
    for (size_t a = 0; a < n; a++) {
        for (size_t b = a + 1; b < n; b++) {
            if (owner[a] != owner[b]
                && strcmp (leaves[a]->name, leaves[b]->name) == 0) {
                fail (p, EINVAL, "%s: more than one input is named '%s'; "
                      "the inputs of a %s must have distinct names "
                      "(set \"name\")", loc, leaves[a]->name, kind);
                goto done;
            }
        }
    }
    rc = 0;
done:
    free (leaves);
    free (owner);
    return rc;
}

static int parse_children (struct parse *p, json_t *arr, const char *loc,
                           int ctx, jobs_input_t *in, const char *kind,
                           json_t **canon)
{
    json_t *list = NULL, *o = NULL;
    size_t n;

    if (!json_is_array (arr))
        return fail (p, EINVAL, "%s must be an array of inputs", loc);
    if ((n = json_array_size (arr)) == 0)
        return fail (p, EINVAL, "%s must not be empty", loc);
    if (in->kind == JOBS_INPUT_JOIN)
        ctx |= IN_JOIN;
    if (in->kind == JOBS_INPUT_GROUP)
        ctx |= IN_GROUP;
    if (!(in->children = calloc (n, sizeof (*in->children)))
        || !(list = json_array ()))
        goto oom;
    for (size_t i = 0; i < n; i++) {
        char *cloc = xprintf ("%s[%zu]", loc, i);
        json_t *cc = NULL;
        jobs_input_t *child;

        if (!cloc)
            goto oom;
        child = parse_input (p, json_array_get (arr, i), cloc, ctx, &cc);
        free (cloc);
        if (!child)
            goto error;
        in->children[in->nchildren++] = child;
        if (json_array_append_new (list, cc) < 0)
            goto oom;
    }
    if (in->kind != JOBS_INPUT_UNION && check_distinct (p, in, loc, kind) < 0)
        goto error;
    if (!(o = json_object ()))
        goto oom;
    if (json_object_set_new (o, kind, list) < 0) {
        list = NULL;        /* stolen even on failure */
        goto oom;
    }
    *canon = o;
    return 0;
oom:
    nomem (p);
error:
    json_decref (list);
    json_decref (o);
    return -1;
}

/* One input node at loc ("input", "input.cross[1]"), and its canonical
 * JSON: "atom" spelled "pfs", repos canonical, names filled in, the
 * ignored "branch" left out, so that none of them changes the pipeline hash.
 */
static jobs_input_t *parse_input (struct parse *p, json_t *j, const char *loc,
                                  int ctx, json_t **canon)
{
    static const struct {
        const char *key;
        jobs_input_kind_t kind;
    } kinds[] = {
        { "pfs", JOBS_INPUT_PFS }, { "atom", JOBS_INPUT_PFS },
        { "cross", JOBS_INPUT_CROSS }, { "union", JOBS_INPUT_UNION },
        { "join", JOBS_INPUT_JOIN }, { "group", JOBS_INPUT_GROUP },
    };
    jobs_input_t *in = NULL;
    const char *kindkey = NULL;
    json_t *body = NULL;
    char *where = NULL, *sub = NULL;

    *canon = NULL;
    if (!json_is_object (j)) {
        fail (p, EINVAL, "%s must be an object with one of 'pfs', 'cross', "
              "'union', 'join', 'group'", loc);
        goto error;
    }
    if (!(where = xprintf ("'%s'", loc)) || !(in = calloc (1, sizeof (*in)))) {
        nomem (p);
        goto error;
    }
    if (check_keys (p, j, where, input_keys) < 0)
        goto error;
    for (size_t i = 0; i < sizeof (kinds) / sizeof (kinds[0]); i++) {
        json_t *v = opt (j, kinds[i].key);
        if (!v)
            continue;
        if (kindkey) {
            fail (p, EINVAL, "%s sets both '%s' and '%s'; set exactly one",
                  loc, kindkey, kinds[i].key);
            goto error;
        }
        kindkey = kinds[i].key;
        in->kind = kinds[i].kind;
        body = v;
    }
    if (!kindkey) {
        fail (p, EINVAL, "%s must set one of 'pfs', 'cross', 'union', "
              "'join', 'group'", loc);
        goto error;
    }
    if (!(sub = xprintf ("%s.%s", loc, kindkey))) {
        nomem (p);
        goto error;
    }
    if (in->kind == JOBS_INPUT_PFS) {
        if (parse_pfs (p, body, sub, ctx, in, canon) < 0)
            goto error;
    }
    else if (parse_children (p, body, sub, ctx, in, kindkey, canon) < 0)
        goto error;
    free (sub);
    free (where);
    return in;
error:
    free (sub);
    free (where);
    input_destroy (in);
    return NULL;
}

/* ------------------------------------------------------------- fields */

static int parse_pipeline (struct parse *p, json_t *root, jobs_spec_t *spec)
{
    static const char *const keys[] = { "name", NULL };
    json_t *pl;
    const char *name;
    size_t n;

    if (get_object (p, root, "pipeline", true, "{\"name\": \"wordcount\"}",
                    &pl) < 0
        || check_keys (p, pl, "'pipeline'", keys) < 0
        || get_string (p, pl, "pipeline", "name", true, &name) < 0)
        return -1;
    for (n = 0; name[n]; n++)
        if (!is_alpha_ (name[n]) && !is_digit (name[n]) && name[n] != '-')
            break;
    if (n == 0 || name[n] || n > PIPELINE_NAME_MAX)
        return fail (p, EINVAL, "pipeline.name '%s' must be 1 to %d "
                     "characters of A-Z a-z 0-9 _ -", name,
                     PIPELINE_NAME_MAX);
    if (!(spec->name = strdup (name)))
        return nomem (p);
    return 0;
}

static int parse_env (struct parse *p, json_t *t, jobs_spec_t *spec)
{
    json_t *env = opt (t, "env"), *v;
    const char *key;
    size_t n = 0;

    if (env && !json_is_object (env))
        return fail (p, EINVAL, "transform.env must be an object of "
                     "strings, e.g. {\"LC_ALL\": \"C\"}");
    if (!(spec->env = calloc (json_object_size (env) + 1, sizeof (char *))))
        return nomem (p);
    json_object_foreach (env, key, v) {
        if (!is_env_name (key))
            return fail (p, EINVAL, "transform.env key '%s' is not a valid "
                         "environment variable name ([A-Za-z_][A-Za-z0-9_]*)",
                         key);
        if (is_reserved_env (key))
            return fail (p, EINVAL, "transform.env key '%s' is reserved "
                         "(datumrun sets DATUMRUN_* itself)", key);
        if (!json_is_string (v))
            return fail (p, EINVAL, "transform.env.%s must be a string", key);
        if (!(spec->env[n++] = xprintf ("%s=%s", key, json_string_value (v))))
            return nomem (p);
    }
    return 0;
}

/* transform.image: a reference in the runtime's own form (docker://...,
 * a podman image name) kept as given, or a .sif/.simg file, which is
 * taken relative to the spec's folder like a repo. */
static int parse_image (struct parse *p, const char *image, jobs_spec_t *spec)
{
    size_t n = strlen (image);
    bool sif = !strstr (image, "://")
               && ((n > 4 && !strcmp (image + n - 4, ".sif"))
                   || (n > 5 && !strcmp (image + n - 5, ".simg")));
    if (n == 0)
        return fail (p, EINVAL, "transform.image must not be empty");
    if (strchr (image, '\n') || image[0] == '-')
        return fail (p, EINVAL, "transform.image '%s' is not an image "
                     "reference", image);
    if (sif && image[0] != '/')
        spec->image = xprintf ("%s/%s", spec->dir, image);
    else
        spec->image = strdup (image);
    return spec->image ? 0 : nomem (p);
}

static int parse_transform (struct parse *p, json_t *root, jobs_spec_t *spec)
{
    static const char *const keys[] = {
        "cmd", "stdin", "env", "err_cmd", "err_stdin", "datum_batching",
        "image", "image_runtime", NULL,
    };
    json_t *t, *b;
    const char *image, *runtime;

    if (get_object (p, root, "transform", true,
                    "{\"cmd\": [\"sh\", \"-c\", \"...\"]}", &t) < 0
        || check_keys (p, t, "'transform'", keys) < 0
        || get_strv (p, t, "transform", "cmd", STRV_REQUIRED | STRV_NONEMPTY,
                     &spec->cmd) < 0
        || get_strv (p, t, "transform", "stdin", 0, &spec->stdin_lines) < 0
        || parse_env (p, t, spec) < 0
        || get_strv (p, t, "transform", "err_cmd", STRV_NONEMPTY,
                     &spec->err_cmd) < 0
        || get_strv (p, t, "transform", "err_stdin", 0, &spec->err_stdin) < 0
        || get_string (p, t, "transform", "image", false, &image) < 0
        || get_string (p, t, "transform", "image_runtime", false,
                       &runtime) < 0)
        return -1;
    if ((b = opt (t, "datum_batching")) && !json_is_boolean (b))
        return fail (p, EINVAL, "transform.datum_batching must be true or "
                     "false");
    spec->datum_batching = b && json_is_true (b);
    if (image && parse_image (p, image, spec) < 0)
        return -1;
    if (runtime) {
        static const char *const runtimes[] = {
            "apptainer", "singularity", "podman", "docker", NULL,
        };
        int i = 0;
        while (runtimes[i] && strcmp (runtimes[i], runtime) != 0)
            i++;
        if (!runtimes[i])
            return fail (p, EINVAL, "transform.image_runtime must be one of "
                         "apptainer, singularity, podman, docker (got '%s')",
                         runtime);
        if (!image)
            return fail (p, EINVAL, "transform.image_runtime '%s' is set but "
                         "transform.image is not", runtime);
        if (!(spec->image_runtime = strdup (runtime)))
            return nomem (p);
    }
    if (spec->cmd[0][0] == '\0')
        return fail (p, EINVAL, "transform.cmd[0] (the program) must not be "
                     "empty");
    if (spec->err_cmd && spec->err_cmd[0][0] == '\0')
        return fail (p, EINVAL, "transform.err_cmd[0] (the program) must not "
                     "be empty");
    /* The vectors that may be empty are never NULL, to spare callers. */
    if ((!spec->stdin_lines
         && !(spec->stdin_lines = calloc (1, sizeof (char *))))
        || (!spec->err_stdin
            && !(spec->err_stdin = calloc (1, sizeof (char *)))))
        return nomem (p);
    return 0;
}

static int parse_inputs (struct parse *p, json_t *root, jobs_spec_t *spec,
                         json_t **canon)
{
    json_t *j = opt (root, "input");
    size_t n = 0;

    if (!j)
        return fail (p, EINVAL, "missing required key 'input'");
    if (!(spec->input = parse_input (p, j, "input", 0, canon)))
        return -1;
    spec->npfs = count_leaves (spec->input);
    if (!(spec->pfs = calloc (spec->npfs, sizeof (*spec->pfs))))
        return nomem (p);
    fill_leaves (spec->input, spec->pfs, &n);
    for (size_t i = 0; i < spec->npfs; i++) {
        for (size_t k = 0; spec->env[k]; k++) {
            size_t len = strlen (spec->pfs[i]->name);
            if (strncmp (spec->env[k], spec->pfs[i]->name, len) == 0
                && spec->env[k][len] == '=')
                return fail (p, EINVAL, "transform.env key '%s' is also an "
                             "input name (the input sets $%s to the datum's "
                             "path)", spec->pfs[i]->name,
                             spec->pfs[i]->name);
        }
    }
    return 0;
}

/* Output and state folders: absolute, canonical, and clear of the repos,
 * since writing into an input would change the input being processed.
 */
static int parse_paths (struct parse *p, json_t *root, const char *state_arg,
                        jobs_spec_t *spec)
{
    const char *out;
    char *abs = NULL, *cwd = NULL;
    const char *what;

    if (get_string (p, root, "", "output", false, &out) < 0)
        return -1;
    if (out && !*out)
        return fail (p, EINVAL, "output must not be empty");
    if (!(abs = path_abs (spec->dir, out ? out : spec->name)))
        return nomem (p);
    if (!(spec->output = path_canon (abs))) {
        what = "output folder";
        goto resolve_error;
    }
    free (abs);
    abs = NULL;
    if (state_arg && !*state_arg)
        return fail (p, EINVAL, "the state folder must not be empty");
    if (!state_arg)
        abs = jobs_sd_default (spec->dir, spec->name);
    else if (state_arg[0] == '/')
        abs = strdup (state_arg);
    else if ((cwd = getcwd (NULL, 0)))
        abs = path_join (cwd, state_arg);
    free (cwd);
    if (!abs)
        return fail (p, errno, "state folder '%s': %s",
                     state_arg ? state_arg : ".datumrun", strerror (errno));
    if (!(spec->state_dir = path_canon (abs))) {
        what = "state folder";
        goto resolve_error;
    }
    free (abs);
    for (size_t i = 0; i < spec->npfs; i++) {
        const jobs_input_t *in = spec->pfs[i];
        if (path_within (spec->output, in->repo))
            return fail (p, EINVAL, "output folder '%s' %s input '%s' repo "
                         "'%s'", spec->output,
                         strcmp (spec->output, in->repo) ? "is inside" : "is",
                         in->name, in->repo);
        if (path_within (in->repo, spec->output))
            return fail (p, EINVAL, "output folder '%s' contains input '%s' "
                         "repo '%s'", spec->output, in->name, in->repo);
        if (path_within (spec->state_dir, in->repo))
            return fail (p, EINVAL, "state folder '%s' %s input '%s' repo "
                         "'%s'", spec->state_dir,
                         strcmp (spec->state_dir, in->repo) ? "is inside"
                                                            : "is",
                         in->name, in->repo);
    }
    /* Datums write anywhere under output; the manifest must be elsewhere. */
    if (path_within (spec->state_dir, spec->output)
        || path_within (spec->output, spec->state_dir))
        return fail (p, EINVAL, "output folder '%s' and state folder '%s' "
                     "must not contain each other", spec->output,
                     spec->state_dir);
    return 0;
resolve_error: {
    int e = errno;
    fail (p, e, "%s '%s' cannot be resolved: %s", what, abs, strerror (e));
    free (abs);
    errno = e;
    return -1;
}
}

static int parse_parallelism (struct parse *p, json_t *root, jobs_spec_t *spec)
{
    static const char *const keys[] = { "constant", "coefficient", NULL };
    json_t *ps, *k;
    char got[64];

    if (get_object (p, root, "parallelism_spec", false,
                    "{\"constant\": 4} or {\"coefficient\": 0.5}", &ps) < 0)
        return -1;
    if (!ps)
        return 0;
    if (check_keys (p, ps, "'parallelism_spec'", keys) < 0)
        return -1;
    k = opt (ps, "coefficient");
    if (opt (ps, "constant") && k)
        return fail (p, EINVAL, "parallelism_spec: set exactly one of "
                     "'constant' and 'coefficient', not both");
    if (get_int (p, ps, "parallelism_spec", "constant", 1, JOBS_MAX_WORKERS,
                 0, &spec->par_constant) < 0)
        return -1;
    if (k) {
        if (!json_is_number (k) || !(json_number_value (k) > 0)
            || !isfinite (json_number_value (k)))
            return fail (p, EINVAL, "parallelism_spec.coefficient must be a "
                         "number > 0 (got %s)", show (k, got, sizeof (got)));
        if (json_number_value (k) > JOBS_MAX_COEFFICIENT)
            return fail (p, EINVAL, "parallelism_spec.coefficient is %s, "
                         "beyond the limit of %g workers per node",
                         show (k, got, sizeof (got)), JOBS_MAX_COEFFICIENT);
        spec->par_coefficient = json_number_value (k);
    }
    return 0;
}

/* resource_requests.cpu: cores per datum.  Kubernetes-style specs write it
 * as 1, 1.0 or "1"; fractions of a core mean nothing to an MPI rank.
 */
static int parse_cpu (struct parse *p, json_t *rr, jobs_spec_t *spec)
{
    json_t *v = opt (rr, "cpu");
    char got[64];
    double d;

    spec->cpu = 1;
    if (!v)
        return 0;
    if (json_is_number (v))
        d = json_number_value (v);
    else if (json_is_string (v)) {
        const char *s = json_string_value (v);
        char *end;
        d = strtod (s, &end);
        if (end == s || *end)
            goto error;
    }
    else
        goto error;
    if (!isfinite (d) || d < 1 || d != floor (d))
        goto error;
    if (d > JOBS_MAX_CPU)
        return fail (p, EINVAL, "resource_requests.cpu is %s, beyond the "
                     "limit of %d cores per datum",
                     show (v, got, sizeof (got)), JOBS_MAX_CPU);
    spec->cpu = (int)d;
    return 0;
error:
    return fail (p, EINVAL, "resource_requests.cpu must be a whole number "
                 ">= 1 (got %s)", show (v, got, sizeof (got)));
}

int jobs_parse_memory (const char *s, long long *mib)
{
    static const struct {
        const char *suffix;
        double factor;
    } units[] = {
        /* Kubernetes quantities, as Pachyderm takes them: "2G" is 2e9
         * bytes, "2Gi" 2^31.  Longest suffixes first. */
        { "Ki", 1024.0 }, { "Mi", 1048576.0 }, { "Gi", 1073741824.0 },
        { "Ti", 1099511627776.0 }, { "Pi", 1125899906842624.0 },
        { "k", 1e3 }, { "K", 1e3 }, { "M", 1e6 }, { "G", 1e9 },
        { "T", 1e12 }, { "P", 1e15 }, { "", 1.0 },
    };
    char *end;
    double v;

    if (!s || !mib || !*s)
        return -1;
    errno = 0;
    v = strtod (s, &end);
    if (end == s || errno || !isfinite (v) || v <= 0)
        return -1;
    for (size_t i = 0; i < sizeof (units) / sizeof (units[0]); i++) {
        if (strcmp (end, units[i].suffix) == 0) {
            double m = ceil (v * units[i].factor / 1048576.0);
            if (m > 1e15)
                return -1;
            *mib = m < 1 ? 1 : (long long)m;
            return 0;
        }
    }
    return -1;
}

/* resource_requests.memory: "2Gi", "512M", or a number of bytes. */
static int parse_memory (struct parse *p, json_t *rr, jobs_spec_t *spec)
{
    json_t *v = rr ? opt (rr, "memory") : NULL;
    char buf[64], got[64];
    const char *s = buf;

    spec->memory_mib = 0;
    if (!v)
        return 0;
    if (json_is_string (v))
        s = json_string_value (v);
    else if (json_is_number (v))
        snprintf (buf, sizeof (buf), "%.17g", json_number_value (v));
    else
        s = NULL;
    if (!s || jobs_parse_memory (s, &spec->memory_mib) < 0)
        return fail (p, EINVAL, "resource_requests.memory must be a size such "
                     "as \"2Gi\", \"512M\" or a number of bytes (got %s)",
                     show (v, got, sizeof (got)));
    return 0;
}

/* resource_requests.gpu: N, or Pachyderm's {"type": "nvidia", "number": N}.
 */
static int parse_gpu (struct parse *p, json_t *rr, jobs_spec_t *spec)
{
    static const char *const gpu_keys[] = { "type", "number", NULL };
    json_t *v = rr ? opt (rr, "gpu") : NULL, *num = v;
    char got[64];
    const char *type = NULL;

    spec->gpu = 0;
    if (!v)
        return 0;
    if (json_is_object (v)) {
        if (check_keys (p, v, "'resource_requests.gpu'", gpu_keys) < 0
            || get_string (p, v, "resource_requests.gpu", "type", false,
                           &type) < 0)
            return -1;
        num = opt (v, "number");
        if (!num)
            return fail (p, EINVAL, "resource_requests.gpu needs a "
                         "\"number\"");
    }
    if (!json_is_integer (num) || json_integer_value (num) < 0
        || json_integer_value (num) > 4096)
        return fail (p, EINVAL, "resource_requests.gpu must be a whole number "
                     "of GPUs from 0 to 4096 (got %s)",
                     show (num, got, sizeof (got)));
    spec->gpu = (int)json_integer_value (num);
    if (type && !(spec->gpu_type = strdup (type)))
        return fail (p, ENOMEM, "out of memory");
    return 0;
}

/* "scratch": a node-local folder for the sandboxes.  It need not exist
 * where the spec is read (it is the nodes' folder, made when the job runs).
 */
static int parse_scratch (struct parse *p, json_t *root, jobs_spec_t *spec)
{
    const char *s;

    if (get_string (p, root, "", "scratch", false, &s) < 0)
        return -1;
    if (!s)
        return 0;
    if (!*s)
        return fail (p, EINVAL, "scratch must be a folder, not empty");
    size_t len = strlen (p->dir) + strlen (s) + 2;
    if (s[0] == '/')
        spec->scratch = strdup (s);
    else if ((spec->scratch = malloc (len)))
        snprintf (spec->scratch, len, "%s/%s", p->dir, s);
    if (!spec->scratch)
        return fail (p, ENOMEM, "out of memory");
    return 0;
}

static int parse_runtime (struct parse *p, json_t *root, jobs_spec_t *spec)
{
    static const char *const chunk_keys[] = { "number", NULL };
    static const char *const dss_keys[] = { "number", "size_bytes",
                                            "per_worker", NULL };
    static const char *const rr_keys[] = { "cpu", "memory", "gpu", NULL };
    json_t *chunk, *dss, *rr, *v;
    const char *reprocess, *desc;

    if (parse_parallelism (p, root, spec) < 0
        || get_int (p, root, "", "datum_tries", 1, JOBS_MAX_TRIES, 3,
                    &spec->datum_tries) < 0
        || get_int (p, root, "", "datum_crash_limit", 1, JOBS_CRASH_LIMIT_MAX,
                    5, &spec->datum_crash_limit) < 0
        || get_duration (p, root, "datum_timeout", &spec->datum_timeout) < 0
        || get_duration (p, root, "worker_heartbeat", &spec->worker_heartbeat)
               < 0
        || get_duration (p, root, "worker_timeout", &spec->worker_timeout) < 0
        || get_duration (p, root, "job_timeout", &spec->job_timeout) < 0
        || get_object (p, root, "chunk_spec", false, "{\"number\": 1}",
                       &chunk) < 0
        || (chunk && check_keys (p, chunk, "'chunk_spec'", chunk_keys) < 0))
        return -1;
    if (!opt (root, "worker_timeout"))
        spec->worker_timeout = JOBS_WORKER_TIMEOUT_DEFAULT;
    /* A short worker_timeout alone brings the heartbeat down with it. */
    if (!opt (root, "worker_heartbeat")) {
        spec->worker_heartbeat = JOBS_WORKER_HEARTBEAT_DEFAULT;
        if (spec->worker_timeout > 0
            && spec->worker_timeout / 4 < spec->worker_heartbeat)
            spec->worker_heartbeat = spec->worker_timeout / 4;
    }
    if (spec->worker_heartbeat <= 0)
        return fail (p, EINVAL, "worker_heartbeat must be more than 0");
    if (spec->worker_timeout > 0
        && spec->worker_timeout < 2 * spec->worker_heartbeat)
        return fail (p, EINVAL, "worker_timeout (%gs) must be at least twice "
                     "worker_heartbeat (%gs), or 0 to never declare a silent "
                     "worker lost", spec->worker_timeout,
                     spec->worker_heartbeat);
    spec->chunk_number = 1;
    if (chunk && get_int (p, chunk, "chunk_spec", "number", 1,
                          JOBS_MAX_CHUNK, 1,
                          &spec->chunk_number) < 0)
        return -1;
    /* Pachyderm 2's datum_set_spec.number (datums per set a worker takes)
     * is our chunk size; sets by bytes or per worker have no counterpart
     * in a dispatcher that hands out datums by count. */
    if (get_object (p, root, "datum_set_spec", false, "{\"number\": 10}",
                    &dss) < 0
        || (dss && check_keys (p, dss, "'datum_set_spec'", dss_keys) < 0))
        return -1;
    if (dss) {
        if (chunk)
            return fail (p, EINVAL, "set 'chunk_spec' or 'datum_set_spec', "
                         "not both: both set how many datums a worker takes "
                         "at a time");
        /* 0 is Pachyderm's "unset", as protobuf writes it. */
        for (size_t k = 1; k < 3; k++) {
            json_t *kv = opt (dss, dss_keys[k]);
            if (kv && !(json_is_number (kv) && json_number_value (kv) == 0))
                return fail (p, EINVAL, "datum_set_spec.%s is not supported: "
                             "datumrun hands datums to workers by count; "
                             "use datum_set_spec.number", dss_keys[k]);
        }
        if (get_int (p, dss, "datum_set_spec", "number", 0,
                     JOBS_MAX_CHUNK, 1,
                     &spec->chunk_number) < 0)
            return -1;
        if (spec->chunk_number == 0)
            spec->chunk_number = 1;
    }
    if (get_string (p, root, "", "reprocess_spec", false, &reprocess) < 0)
        return -1;
    if (reprocess && strcmp (reprocess, "until_success") != 0
        && strcmp (reprocess, "every_job") != 0)
        return fail (p, EINVAL, "reprocess_spec must be \"until_success\" or "
                     "\"every_job\" (got '%s')", reprocess);
    spec->reprocess_every_job = reprocess
                                && strcmp (reprocess, "every_job") == 0;
    if (get_object (p, root, "resource_requests", false, "{\"cpu\": 1}",
                    &rr) < 0
        || (rr && check_keys (p, rr, "'resource_requests'", rr_keys) < 0)
        || parse_cpu (p, rr, spec) < 0)
        return -1;
    /* memory sizes the Slurm job (datumrun sbatch); it is not enforced. */
    if (parse_memory (p, rr, spec) < 0 || parse_gpu (p, rr, spec) < 0
        || parse_scratch (p, root, spec) < 0)
        return -1;
    (void)v;
    return get_string (p, root, "", "description", false, &desc);
}

/* {"input": ..., "transform": ...} with sorted keys and no whitespace:
 * the same pipeline always gives the same bytes.
 */
static int build_canon (struct parse *p, json_t *root, json_t *input,
                        jobs_spec_t *spec)
{
    json_t *o = NULL, *t, *v;
    const char *key;
    void *tmp;

    if (!(t = json_deep_copy (opt (root, "transform"))))
        goto oom;
    /* null means unset, so it must hash like an absent key.  How datums
     * reach the command (datum_batching) does not change what it makes. */
    json_object_foreach_safe (t, tmp, key, v) {
        if (json_is_null (v) || !strcmp (key, "datum_batching"))
            json_object_del (t, key);
    }
    if (!(o = json_object ())) {
        json_decref (t);
        goto oom;
    }
    if (json_object_set_new (o, "transform", t) < 0
        || json_object_set (o, "input", input) < 0
        || !(spec->pipeline_canon = json_dumps (o, JSON_COMPACT
                                                   | JSON_SORT_KEYS)))
        goto oom;
    json_decref (o);
    return 0;
oom:
    json_decref (o);
    return nomem (p);
}

/* Where the spec lives: its folder resolved, the file name kept as given,
 * so relative repos are taken from the folder the user named even when
 * the spec file itself is a symlink.
 */
static int locate_spec (struct parse *p, const char *given, jobs_spec_t *spec,
                        char **dirbuf)
{
    char *copy = NULL, *cwd = NULL, *abs = NULL, *slash;
    const char *dir, *base;

    if (!(copy = strdup (given)))
        goto oom;
    if ((slash = strrchr (copy, '/'))) {
        *slash = '\0';
        dir = slash == copy ? "/" : copy;
        base = slash + 1;
    }
    else {
        dir = ".";
        base = copy;
    }
    if (dir[0] == '/')
        abs = strdup (dir);
    else if ((cwd = getcwd (NULL, 0)))
        abs = path_join (cwd, dir);
    else {
        fail (p, errno, "cannot find the current folder: %s", strerror (errno));
        goto error;
    }
    if (!abs)
        goto oom;
    if (!(spec->dir = path_canon (abs))) {
        fail (p, errno, "cannot resolve the spec's folder '%s': %s", abs,
              strerror (errno));
        goto error;
    }
    if (!(spec->path = path_join (spec->dir, base)))
        goto oom;
    *dirbuf = spec->dir;
    free (abs);
    free (cwd);
    free (copy);
    return 0;
oom:
    nomem (p);
error:
    free (abs);
    free (cwd);
    free (copy);
    return -1;
}

static jobs_spec_t *parse_root (json_t *root, const char *given,
                                const char *state_dir, dr_error_t *err)
{
    struct parse p = { .given = given, .err = err };
    jobs_spec_t *spec = NULL;
    json_t *input_canon = NULL;
    char *dir;

    if (!(spec = calloc (1, sizeof (*spec)))) {
        nomem (&p);
        return NULL;
    }
    if (locate_spec (&p, given, spec, &dir) < 0)
        goto error;
    if (!(spec->given = strdup (given))) {
        nomem (&p);
        goto error;
    }
    p.dir = dir;
    if (!json_is_object (root)) {
        fail (&p, EINVAL, "the spec must be a JSON object");
        goto error;
    }
    /* Unknown keys first: "transfrom" should read as a typo, not as a
     * missing transform.
     */
    if (check_keys (&p, root, "the top level", top_keys) < 0
        || parse_pipeline (&p, root, spec) < 0
        || parse_transform (&p, root, spec) < 0
        || parse_inputs (&p, root, spec, &input_canon) < 0
        || parse_paths (&p, root, state_dir, spec) < 0
        || parse_runtime (&p, root, spec) < 0
        || build_canon (&p, root, input_canon, spec) < 0)
        goto error;
    json_decref (input_canon);
    return spec;
error:
    json_decref (input_canon);
    jobs_spec_destroy (spec);
    return NULL;
}

static jobs_spec_t *parse_buffer (const char *text, size_t len,
                                  const char *path, const char *state_dir,
                                  dr_error_t *err)
{
    json_error_t jerr;
    json_t *root;
    jobs_spec_t *spec;

    if (!(root = json_loadb (text, len, JSON_REJECT_DUPLICATES, &jerr))) {
        dr_errprintf (err, "%s:%d:%d: %s", path, jerr.line, jerr.column,
                      jerr.text);
        errno = EINVAL;
        return NULL;
    }
    spec = parse_root (root, path, state_dir, err);
    json_decref (root);
    return spec;
}

/* ------------------------------------------------------------- public */

jobs_spec_t *jobs_spec_parse (const char *text, const char *path,
                              const char *state_dir, dr_error_t *err)
{
    if (!text || !path || !*path) {
        dr_errprintf (err, "no spec text or path given");
        errno = EINVAL;
        return NULL;
    }
    return parse_buffer (text, strlen (text), path, state_dir, err);
}

jobs_spec_t *jobs_spec_load (const char *path, const char *state_dir,
                             dr_error_t *err)
{
    char *buf = NULL;
    size_t len = 0, cap = 0;
    struct stat st;
    jobs_spec_t *spec;
    int fd = -1, e;

    if (!path || !*path) {
        dr_errprintf (err, "no spec path given");
        errno = EINVAL;
        return NULL;
    }
    if ((fd = open (path, O_RDONLY | O_CLOEXEC)) < 0 || fstat (fd, &st) < 0)
        goto error;
    if (S_ISDIR (st.st_mode)) {
        errno = EISDIR;
        goto error;
    }
    for (;;) {
        ssize_t n;
        if (len == cap) {
            char *nbuf;
            if (cap >= SPEC_MAX_BYTES) {
                errno = EFBIG;
                goto error;
            }
            cap = cap ? cap * 2 : 4096;
            if (!(nbuf = realloc (buf, cap)))
                goto error;
            buf = nbuf;
        }
        if ((n = read (fd, buf + len, cap - len)) < 0) {
            if (errno == EINTR)
                continue;
            goto error;
        }
        if (n == 0)
            break;
        len += (size_t)n;
    }
    close (fd);
    spec = parse_buffer (buf, len, path, state_dir, err);
    e = errno;
    free (buf);
    errno = e;
    return spec;
error:
    e = errno;
    dr_errprintf (err, "%s: cannot read: %s", path, strerror (e));
    if (fd >= 0)
        close (fd);
    free (buf);
    errno = e;
    return NULL;
}

void jobs_spec_destroy (jobs_spec_t *spec)
{
    int saved = errno;

    if (spec) {
        free (spec->path);
        free (spec->given);
        free (spec->dir);
        free (spec->name);
        strv_free (spec->cmd);
        strv_free (spec->stdin_lines);
        strv_free (spec->env);
        strv_free (spec->err_cmd);
        free (spec->image);
        free (spec->image_runtime);
        free (spec->image_id);
        strv_free (spec->err_stdin);
        input_destroy (spec->input);
        free (spec->pfs);
        free (spec->output);
        free (spec->state_dir);
        free (spec->pipeline_canon);
        free (spec->gpu_type);
        free (spec->scratch);
        free (spec);
    }
    errno = saved;
}
