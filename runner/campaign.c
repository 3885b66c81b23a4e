/* campaign.c: chained pipelines.  A pipeline whose input repo is (or lies
 * inside) another pipeline's output folder runs after it.  `campaign run`
 * runs the specs in that order, each incrementally, and skips everything
 * downstream of a failure; `campaign sbatch` submits them as Slurm jobs
 * chained with --dependency=afterok.
 */
#define _GNU_SOURCE
#include <dirent.h>
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "runner/exec.h"
#include "runner/runner.h"
#include "slurm/slurm.h"

typedef struct node {
    char *path;             /* spec file */
    jobs_spec_t *spec;
    size_t *deps;           /* indices of upstream pipelines */
    size_t ndeps;
    int state;              /* 0 pending, 1 ok, 2 failed, 3 skipped */
    char jobid[64];
} node_t;

typedef struct campaign {
    node_t *n;
    size_t count;
    size_t *order;
} campaign_t;

static int add_path (campaign_t *c, const char *path)
{
    node_t *nn = realloc (c->n, (c->count + 1) * sizeof (*nn));
    if (!nn)
        return -1;
    c->n = nn;
    memset (&c->n[c->count], 0, sizeof (node_t));
    c->n[c->count++].path = strdup (path);
    return 0;
}

static int cmp_str (const void *a, const void *b)
{
    return strcmp (*(char *const *)a, *(char *const *)b);
}

/* A folder contributes every *.json in it, in name order. */
static int collect (campaign_t *c, const char *arg)
{
    struct stat st;
    if (stat (arg, &st) < 0) {
        fprintf (stderr, "%s: cannot read: %s\n", arg, strerror (errno));
        return -1;
    }
    if (!S_ISDIR (st.st_mode))
        return add_path (c, arg);
    DIR *d = opendir (arg);
    if (!d) {
        fprintf (stderr, "%s: cannot read: %s\n", arg, strerror (errno));
        return -1;
    }
    char **names = NULL;
    size_t n = 0;
    struct dirent *de;
    while ((de = readdir (d))) {
        size_t l = strlen (de->d_name);
        if (l > 5 && !strcmp (de->d_name + l - 5, ".json")) {
            names = realloc (names, (n + 1) * sizeof (*names));
            if (asprintf (&names[n++], "%s/%s", arg, de->d_name) < 0)
                abort ();
        }
    }
    closedir (d);
    qsort (names, n, sizeof (*names), cmp_str);
    int rc = 0;
    for (size_t i = 0; i < n; i++) {
        if (rc == 0)
            rc = add_path (c, names[i]);
        free (names[i]);
    }
    free (names);
    if (n == 0) {
        fprintf (stderr, "%s: a folder with no *.json specs in it\n", arg);
        return -1;
    }
    return rc;
}

/* Load every spec.  A downstream repo does not exist before its upstream
 * pipeline first runs, so loading goes in rounds: each spec that loads
 * gets its output folder made, which may let the next round load more. */
static int load_all (campaign_t *c, const char *state)
{
    size_t loaded = 0;
    for (;;) {
        size_t progress = 0;
        for (size_t i = 0; i < c->count; i++) {
            if (c->n[i].spec)
                continue;
            dr_error_t err = { { 0 } };
            c->n[i].spec = jobs_spec_load (c->n[i].path, state, &err);
            if (c->n[i].spec) {
                io_mkdirs (c->n[i].spec->output, 0755);
                progress++;
                loaded++;
            }
        }
        if (loaded == c->count)
            return 0;
        if (!progress)
            break;
    }
    for (size_t i = 0; i < c->count; i++) {
        if (c->n[i].spec)
            continue;
        dr_error_t err = { { 0 } };
        jobs_spec_load (c->n[i].path, state, &err);
        fprintf (stderr, "%s\n", err.text);
    }
    return -1;
}

static bool inside (const char *path, const char *dir)
{
    size_t l = strlen (dir);
    return !strncmp (path, dir, l) && (path[l] == '\0' || path[l] == '/');
}

/* Edges from repos to outputs, then a depth-first topological order. */
static int order (campaign_t *c)
{
    for (size_t i = 0; i < c->count; i++) {
        for (size_t j = 0; j < c->count; j++) {
            if (i == j)
                continue;
            const jobs_spec_t *a = c->n[j].spec, *b = c->n[i].spec;
            if (!strcmp (a->name, b->name) && j < i) {
                fprintf (stderr, "datumrun campaign: two pipelines named "
                         "'%s' (%s, %s)\n", a->name, c->n[j].path,
                         c->n[i].path);
                return -1;
            }
            /* One owner per output folder: no two specs share one, and
             * none lies inside another's (the same rule `run` enforces
             * with the owner marker, checked here before any runs). */
            if (j < i && (inside (a->output, b->output)
                          || inside (b->output, a->output))) {
                bool same = !strcmp (a->output, b->output);
                const jobs_spec_t *in = inside (a->output, b->output) ? a : b;
                const jobs_spec_t *around = in == a ? b : a;
                if (same)
                    fprintf (stderr, "datumrun campaign: pipelines '%s' (%s) "
                             "and '%s' (%s) both write output folder %s: an "
                             "output folder has one owner; give one of them "
                             "another output\n", a->name, c->n[j].path,
                             b->name, c->n[i].path, a->output);
                else
                    fprintf (stderr, "datumrun campaign: the output folder "
                             "%s of pipeline '%s' (%s) is inside %s, the "
                             "output folder of pipeline '%s' (%s)\n",
                             in->output, in->name, in == a ? c->n[j].path
                                                           : c->n[i].path,
                             around->output, around->name,
                             around == a ? c->n[j].path : c->n[i].path);
                return -1;
            }
            bool dep = false;
            for (size_t k = 0; k < b->npfs && !dep; k++)
                dep = inside (b->pfs[k]->repo, a->output);
            if (dep) {
                node_t *n = &c->n[i];
                n->deps = realloc (n->deps, (n->ndeps + 1) * sizeof (size_t));
                n->deps[n->ndeps++] = j;
            }
        }
    }
    c->order = calloc (c->count + 1, sizeof (size_t));
    int *mark = calloc (c->count + 1, sizeof (int));  /* 1 visiting, 2 done */
    size_t out = 0;
    int rc = 0;
    /* Iterative DFS with an explicit stack of (node, next dep). */
    size_t *stack = calloc (2 * c->count + 2, sizeof (size_t));
    for (size_t s = 0; s < c->count && rc == 0; s++) {
        if (mark[s])
            continue;
        size_t sp = 0;
        stack[sp++] = s;
        stack[sp++] = 0;
        mark[s] = 1;
        while (sp && rc == 0) {
            size_t v = stack[sp - 2], k = stack[sp - 1];
            if (k < c->n[v].ndeps) {
                stack[sp - 1]++;
                size_t u = c->n[v].deps[k];
                if (mark[u] == 1) {
                    fprintf (stderr, "datumrun campaign: pipelines '%s' and "
                             "'%s' depend on each other (a cycle through "
                             "their repos and outputs)\n", c->n[u].spec->name,
                             c->n[v].spec->name);
                    rc = -1;
                }
                else if (!mark[u]) {
                    mark[u] = 1;
                    stack[sp++] = u;
                    stack[sp++] = 0;
                }
                continue;
            }
            mark[v] = 2;
            c->order[out++] = v;
            sp -= 2;
        }
    }
    free (stack);
    free (mark);
    return rc;
}

static void campaign_free (campaign_t *c)
{
    for (size_t i = 0; i < c->count; i++) {
        free (c->n[i].path);
        free (c->n[i].deps);
        jobs_spec_destroy (c->n[i].spec);
    }
    free (c->n);
    free (c->order);
}

static const char *upstream_failure (const campaign_t *c, const node_t *n)
{
    for (size_t k = 0; k < n->ndeps; k++)
        if (c->n[n->deps[k]].state >= 2)
            return c->n[n->deps[k]].spec->name;
    return NULL;
}

/* Ctrl-C (SIGINT to the terminal's process group: the running pipeline's
 * launcher gets it too and stops its job gracefully) or SIGTERM (to us
 * alone: passed on to the launcher) stops the campaign after the current
 * pipeline, and the table is still printed. */
static volatile sig_atomic_t campaign_stop;
static volatile pid_t campaign_child;

static void on_campaign_signal (int sig)
{
    if (campaign_stop++ == 0 && sig == SIGTERM && campaign_child > 0)
        kill (campaign_child, SIGTERM);
}

/* Run `datumrun run SPEC ARGS...` as a child and return its status. */
static int run_one (const char *spec, int argc, char **argv)
{
    char *exe = runner_self_exe ();
    if (!exe) {
        fprintf (stderr, "datumrun campaign: cannot find my own executable: "
                 "%s\n", strerror (errno));
        return EXIT_USAGE;
    }
    char **av = calloc ((size_t)argc + 4, sizeof (char *));
    if (!av) {
        free (exe);
        return EXIT_USAGE;
    }
    int a = 0;
    av[a++] = exe;
    av[a++] = "run";
    av[a++] = (char *)spec;
    for (int i = 0; i < argc; i++)
        av[a++] = argv[i];
    pid_t pid = -1;
    dr_error_t err = { { 0 } };
    exec_spawn_t so = { .argv = av, .fd = { -1, -1 } };
    if (exec_spawn_process (&so, &pid, &err) < 0)
        fprintf (stderr, "datumrun campaign: %s\n", err.text);
    free (av);
    free (exe);
    campaign_child = pid;
    int status = 0;
    while (pid > 0 && waitpid (pid, &status, 0) < 0 && errno == EINTR)
        ;
    campaign_child = 0;
    if (pid < 0 || !WIFEXITED (status))
        return EXIT_FAILED;
    return WEXITSTATUS (status);
}

static int campaign_run (campaign_t *c, int argc, char **argv)
{
    int rc = EXIT_OK;
    struct sigaction sa = { .sa_handler = on_campaign_signal };
    sigemptyset (&sa.sa_mask);
    sigaction (SIGINT, &sa, NULL);
    sigaction (SIGTERM, &sa, NULL);
    for (size_t i = 0; i < c->count; i++) {
        node_t *n = &c->n[c->order[i]];
        if (campaign_stop) {
            n->state = 4;
            rc = EXIT_FAILED;
            continue;
        }
        const char *up = upstream_failure (c, n);
        if (up) {
            n->state = 3;
            fprintf (stderr, "datumrun campaign: skipping '%s': upstream "
                     "pipeline '%s' did not succeed\n", n->spec->name, up);
            rc = EXIT_FAILED;
            continue;
        }
        fprintf (stderr, "datumrun campaign: running '%s' (%s)\n",
                 n->spec->name, n->path);
        int r = run_one (n->path, argc, argv);
        n->state = r == 0 ? 1 : 2;
        if (r != 0)
            rc = EXIT_FAILED;
        if (campaign_stop)
            fprintf (stderr, "datumrun campaign: stopped (signal) after "
                     "'%s'; the next campaign run picks up from here\n",
                     n->spec->name);
    }
    for (size_t i = 0; i < c->count; i++) {
        node_t *n = &c->n[c->order[i]];
        static const char *names[] = { "pending", "success", "failure",
                                       "skipped", "not run (stopped)" };
        printf ("%-24s %s\n", n->spec->name, names[n->state]);
    }
    return rc;
}

/* "--dependency=afterok:ID:ID..." for node n's upstream jobs, "" if none,
 * NULL if out of memory (caller frees). */
static char *afterok (const campaign_t *c, const node_t *n)
{
    char *dep = strdup ("");
    for (size_t k = 0; dep && k < n->ndeps; k++) {
        const char *id = c->n[n->deps[k]].jobid;
        char *next = jobs_pathf ("%s%s%s", dep,
                                 k ? ":" : "--dependency=afterok:",
                                 id[0] ? id : "UPSTREAM");
        free (dep);
        dep = next;
    }
    return dep;
}

static int campaign_sbatch_each (campaign_t *c, slurm_sbatch_opts_t *so,
                                 bool submit)
{
    for (size_t i = 0; i < c->count; i++) {
        node_t *n = &c->n[c->order[i]];
        /* Upstream job ids become an afterok dependency. */
        char *dep = afterok (c, n);
        const char **extra = calloc (so->nextra + 2, sizeof (char *));
        if (!dep || !extra) {
            fprintf (stderr, "datumrun campaign: out of memory\n");
            free (dep);
            free (extra);
            return EXIT_USAGE;
        }
        for (size_t k = 0; k < so->nextra; k++)
            extra[k] = so->extra[k];
        size_t nextra = so->nextra;
        if (dep[0])
            extra[nextra++] = dep;
        slurm_sbatch_opts_t o = *so;
        o.extra = extra;
        o.nextra = nextra;
        o.spec_path = n->spec->path;
        char *logdir = NULL;
        if (!so->log_dir)
            o.log_dir = logdir = jobs_sd_path (n->spec->state_dir,
                                               JOBS_SD_SLURM);
        dr_error_t err = { { 0 } };
        char *script = slurm_sbatch_script (n->spec, &o, &err);
        free (extra);
        free (dep);
        if (!script) {
            fprintf (stderr, "%s: %s\n", n->path, err.text);
            free (logdir);
            return EXIT_USAGE;
        }
        if (!submit) {
            printf ("# ---- %s (%s)\n%s\n", n->spec->name, n->path, script);
            free (script);
            free (logdir);
            continue;
        }
        /* The log folder must exist when the job starts (o.log_dir may be
         * logdir: freed only after this). */
        io_mkdirs (o.log_dir, 0755);
        free (logdir);
        int r = slurm_submit (script, n->jobid, sizeof (n->jobid), &err);
        free (script);
        if (r < 0) {
            fprintf (stderr, "datumrun campaign: submitting %s: %s\n",
                     n->spec->name, err.text);
            return EXIT_USAGE;
        }
        printf ("%s %s\n", n->spec->name, n->jobid);
        fflush (stdout);
    }
    return EXIT_OK;
}

static int campaign_sbatch (campaign_t *c, slurm_sbatch_opts_t *so,
                            bool submit)
{
    char *exe = runner_self_exe ();
    if (!exe) {
        fprintf (stderr, "datumrun campaign: cannot find my own executable: "
                 "%s\n", strerror (errno));
        return EXIT_USAGE;
    }
    so->datumrun = exe;
    int rc = campaign_sbatch_each (c, so, submit);
    so->datumrun = NULL;
    free (exe);
    return rc;
}

const optparse_option_t runner_campaign_sbatch_options[] = {
    { .name = "nodes", .key = 'N', .type = OPTPARSE_INT, .arg = "N",
      .min = 1, .max = 1000000,
      .help = "nodes per job (default: what each spec's parallelism "
              "needs)" },
    { .name = "time", .key = 't', .type = OPTPARSE_STR, .arg = "TIME",
      .help = "Slurm time limit of each job (default: from job_timeout)" },
    { .name = "partition", .key = 'p', .type = OPTPARSE_STR,
      .arg = "PARTITION", .help = "Slurm partition" },
    { .name = "account", .key = 'A', .type = OPTPARSE_STR, .arg = "ACCOUNT",
      .help = "Slurm account" },
    { .name = "grace", .type = OPTPARSE_INT, .arg = "SECONDS",
      .max = 1000000,
      .help = "seconds before the time limit at which Slurm signals a job "
              "to stop gracefully" },
    { .name = "overcommit",
      .help = "let rank 0 share a core with a worker (sbatch --overcommit)" },
    { .name = "submit",
      .help = "submit the jobs and print each pipeline's job ID" },
    OPTPARSE_END,
};

/* The specs and folders given, loaded and ordered; returns -1 after
 * printing why. */
static int campaign_load (optparse_t *p, campaign_t *c, const char *state)
{
    for (int i = 0; i < optparse_npos (p); i++)
        if (collect (c, optparse_pos (p, i)) < 0)
            return -1;
    if (c->count == 0) {
        optparse_error (p, "%s", "no specs given");
        return -1;
    }
    if (state && c->count > 1) {
        /* One state folder holds one pipeline's manifest. */
        optparse_error (p, "%s", "--state-dir names one pipeline's state "
                        "folder; a campaign of several keeps each in its "
                        "default place");
        return -1;
    }
    if (load_all (c, state) < 0 || order (c) < 0)
        return -1;
    for (size_t k = 0; k < c->count; k++)
        if (runner_check_globs (c->n[k].spec) < 0)
            return -1;
    return 0;
}

int cmd_campaign_run (optparse_t *p)
{
    campaign_t c = { 0 };
    int rc = EXIT_USAGE;
    /* The options are run's, handed on to each pipeline's run. */
    if (campaign_load (p, &c, optparse_str (p, "state-dir", NULL)) == 0) {
        int n;
        char **optv = optparse_optv (p, &n);
        rc = campaign_run (&c, n, optv);
    }
    campaign_free (&c);
    return rc;
}

int cmd_campaign_sbatch (optparse_t *p)
{
    campaign_t c = { 0 };
    int rc = EXIT_USAGE;
    slurm_sbatch_opts_t so = { 0 };
    so.nodes = optparse_int (p, "nodes", 0);
    so.time = optparse_str (p, "time", NULL);
    so.partition = optparse_str (p, "partition", NULL);
    so.account = optparse_str (p, "account", NULL);
    so.grace = optparse_int (p, "grace", 0);
    so.grace_given = optparse_has (p, "grace");
    so.overcommit = optparse_has (p, "overcommit");
    int nextra;
    so.extra = (const char *const *)optparse_extra (p, &nextra);
    so.nextra = (size_t)nextra;
    if (campaign_load (p, &c, NULL) == 0)
        rc = campaign_sbatch (&c, &so, optparse_has (p, "submit"));
    campaign_free (&c);
    return rc;
}
