/* test_slurm.c: unit tests of the slurm library.  Table-driven: sbatch job
 * sizing and script contents, shell and #SBATCH quoting (checked against
 * a real /bin/sh and a copy of sbatch's tokenizer rules), worker CPU
 * assignment on synthetic hwloc topologies, binding on this machine, node
 * discovery from the environment, and submission through fake sbatch
 * programs on PATH (no cluster needed).
 */
#define _GNU_SOURCE
#include <errno.h>
#include <limits.h>
#include <sched.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>

#include "slurm/private.h"
#include "slurm/slurm.h"

/* LeakSanitizer reads this when the test is built with -fsanitize: the
 * PMIx library keeps a few bytes from PMIx_Init (MCA parameter strings)
 * for the life of the process, which is not our leak to fix. */
const char *__lsan_default_suppressions (void);
const char *__lsan_default_suppressions (void)
{
    return "leak:libpmix.so\n";
}

/* ------------------------------------------------------------- helpers */

static jobs_spec_t make_spec (int constant, double coefficient, int cpu)
{
    jobs_spec_t s;
    memset (&s, 0, sizeof (s));
    s.path = "/data/wc/spec.json";
    s.dir = "/data/wc";
    s.name = "wordcount";
    s.state_dir = "/data/wc/.datumrun/wordcount";
    s.par_constant = constant;
    s.par_coefficient = coefficient;
    s.cpu = cpu;
    return s;
}

static slurm_sbatch_opts_t base_opts (void)
{
    slurm_sbatch_opts_t o;
    memset (&o, 0, sizeof (o));
    o.datumrun = "/opt/datumrun/bin/datumrun";
    return o;
}

static bool has_line (const char *text, const char *line)
{
    size_t n = strlen (line);
    for (const char *p = text; (p = strstr (p, line)); p++)
        if ((p == text || p[-1] == '\n') && (p[n] == '\n' || p[n] == '\0'))
            return true;
    return false;
}

static void assert_has_line (const char *text, const char *line)
{
    if (!has_line (text, line))
        fail_msg ("line \"%s\" missing from:\n%s", line, text);
}

static void assert_no_line_prefix (const char *text, const char *prefix)
{
    size_t n = strlen (prefix);
    for (const char *p = text; p && *p; p = strchr (p, '\n') ? strchr (p, '\n') + 1 : NULL)
        if (strncmp (p, prefix, n) == 0)
            fail_msg ("unexpected line starting \"%s\" in:\n%s", prefix, text);
}

/* Run cmd with sh -c, capture stdout (up to len-1 bytes); returns exit. */
static int run_capture (const char *cmd, char *out, size_t len)
{
    FILE *p = popen (cmd, "r");
    assert_non_null (p);
    size_t n = fread (out, 1, len - 1, p);
    out[n] = '\0';
    int st = pclose (p);
    return WIFEXITED (st) ? WEXITSTATUS (st) : -1;
}

static char tmpdir[] = "/tmp/test_slurm.XXXXXX";

static int group_setup (void **state)
{
    if (!mkdtemp (tmpdir))
        return -1;
    return 0;
}

static int group_teardown (void **state)
{
    char cmd[PATH_MAX + 16];
    snprintf (cmd, sizeof (cmd), "rm -rf '%s'", tmpdir);
    return system (cmd) == 0 ? 0 : -1;
}

/* -------------------------------------------------------------- sizing */

static void test_sbatch_sizing (void **state)
{
    /* The sizing table: the allocation holds the workers (--ntasks), the
     * step adds rank 0 (srun --ntasks = workers + 1, --overcommit); GPUs
     * and memory per node are the workers' of one node. */
    static const struct {
        int constant; double coef; int cpu; int gpu; long long mem; /* spec */
        int nodes, workers;                   /* options */
        int want_workers, want_nodes, want_per_node, want_cpus;
        int want_gres;                        /* --gres=gpu:N per node */
        long long want_mem_node, want_mem_cpu;
    } cases[] = {
        /* constant N: N workers, nodes left to Slurm unless given */
        { 4, 0, 1, 0, 0, 0, 0, 4, 0, 0, 1, 0, 0, 0 },
        { 4, 0, 1, 0, 0, 2, 0, 4, 2, 2, 1, 0, 0, 0 },
        { 1, 0, 1, 0, 0, 0, 0, 1, 0, 0, 1, 0, 0, 0 },
        { 3, 0, 1, 0, 0, 2, 0, 3, 2, 2, 1, 0, 0, 0 },   /* 2 + 1 */
        /* unset parallelism = coefficient 1 */
        { 0, 0, 1, 0, 0, 0, 0, 1, 1, 1, 1, 0, 0, 0 },
        { 0, 0, 1, 0, 0, 2, 0, 2, 2, 1, 1, 0, 0, 0 },
        { 0, 0, 1, 0, 0, 4, 0, 4, 4, 1, 1, 0, 0, 0 },
        /* coefficient with nodes 1/2/4: --nodes 4 x 2.0 = 8, 2 per node */
        { 0, 2, 1, 0, 0, 1, 0, 2, 1, 2, 1, 0, 0, 0 },
        { 0, 2, 1, 0, 0, 2, 0, 4, 2, 2, 1, 0, 0, 0 },
        { 0, 2, 1, 0, 0, 4, 0, 8, 4, 2, 1, 0, 0, 0 },
        /* fractional coefficients: floor, at least 1 */
        { 0, 0.5, 1, 0, 0, 1, 0, 1, 1, 1, 1, 0, 0, 0 },
        { 0, 0.5, 1, 0, 0, 4, 0, 2, 2, 1, 1, 0, 0, 0 },  /* 2 < 4 nodes */
        { 0, 0.75, 1, 0, 0, 4, 0, 3, 3, 1, 1, 0, 0, 0 },
        { 0, 0.5, 1, 0, 0, 3, 0, 1, 1, 1, 1, 0, 0, 0 },
        { 0, 1.5, 1, 0, 0, 3, 0, 4, 3, 2, 1, 0, 0, 0 },
        { 0, 1.0, 1, 0, 0, 3, 0, 3, 3, 1, 1, 0, 0, 0 },
        /* -n override wins */
        { 4, 0, 1, 0, 0, 0, 7, 7, 0, 0, 1, 0, 0, 0 },
        { 0, 2, 1, 0, 0, 3, 5, 5, 3, 2, 1, 0, 0, 0 },
        /* resource_requests.cpu */
        { 2, 0, 4, 0, 0, 0, 0, 2, 0, 0, 4, 0, 0, 0 },
        { 0, 1, 2, 0, 0, 2, 0, 2, 2, 1, 2, 0, 0, 0 },
        { 3, 0, 0, 0, 0, 0, 0, 3, 0, 0, 1, 0, 0, 0 },   /* cpu unset -> 1 */
        /* GPUs: per node = workers per node x gpu; no --nodes -> 1 node */
        { 0, 2, 1, 1, 0, 4, 0, 8, 4, 2, 1, 2, 0, 0 },
        { 0, 2, 1, 2, 0, 4, 0, 8, 4, 2, 1, 4, 0, 0 },
        { 2, 0, 1, 2, 0, 0, 0, 2, 1, 2, 1, 4, 0, 0 },
        { 4, 0, 2, 1, 0, 2, 0, 4, 2, 2, 2, 2, 0, 0 },
        /* memory: per node when the node count is known, else per CPU */
        { 0, 2, 1, 0, 1024, 4, 0, 8, 4, 2, 1, 0, 2048, 0 },
        { 4, 0, 2, 0, 1000, 0, 0, 4, 0, 0, 2, 0, 0, 500 },
        { 4, 0, 3, 0, 1000, 0, 0, 4, 0, 0, 3, 0, 0, 334 },
        { 0, 2, 1, 1, 512, 4, 0, 8, 4, 2, 1, 2, 1024, 0 },
    };
    for (size_t i = 0; i < sizeof (cases) / sizeof (cases[0]); i++) {
        jobs_spec_t spec = make_spec (cases[i].constant, cases[i].coef,
                                      cases[i].cpu);
        spec.gpu = cases[i].gpu;
        spec.memory_mib = cases[i].mem;
        slurm_sbatch_opts_t o = base_opts ();
        slurm_sbatch_size_t sz;
        dr_error_t err = { "" };
        o.nodes = cases[i].nodes;
        o.workers = cases[i].workers;
        int r = slurm_sbatch_size (&spec, &o, &sz, &err);
        if (r < 0)
            fail_msg ("case %zu: %s", i, err.text);
        if (sz.workers != cases[i].want_workers
            || sz.ntasks != cases[i].want_workers + 1
            || sz.nodes != cases[i].want_nodes
            || sz.tasks_per_node != cases[i].want_per_node
            || sz.cpus_per_task != cases[i].want_cpus
            || sz.gpus_per_node != cases[i].want_gres
            || sz.mem_per_node_mib != cases[i].want_mem_node
            || sz.mem_per_cpu_mib != cases[i].want_mem_cpu)
            fail_msg ("case %zu: got workers %d ntasks %d nodes %d per node "
                      "%d cpus %d gres %d mem %lld/%lld", i, sz.workers,
                      sz.ntasks, sz.nodes, sz.tasks_per_node,
                      sz.cpus_per_task, sz.gpus_per_node,
                      sz.mem_per_node_mib, sz.mem_per_cpu_mib);

        /* The script says the same. */
        char *s = slurm_sbatch_script (&spec, &o, &err);
        if (!s)
            fail_msg ("case %zu: %s", i, err.text);
        char line[256];
        snprintf (line, sizeof (line), "#SBATCH --ntasks=%d",
                  cases[i].want_workers);
        assert_has_line (s, line);
        snprintf (line, sizeof (line), "#SBATCH --cpus-per-task=%d",
                  cases[i].want_cpus);
        assert_has_line (s, line);
        if (cases[i].want_nodes > 0) {
            snprintf (line, sizeof (line), "#SBATCH --nodes=%d",
                      cases[i].want_nodes);
            assert_has_line (s, line);
            snprintf (line, sizeof (line), "#SBATCH --ntasks-per-node=%d",
                      cases[i].want_per_node);
            assert_has_line (s, line);
        }
        else {
            assert_no_line_prefix (s, "#SBATCH --nodes");
            assert_no_line_prefix (s, "#SBATCH --ntasks-per-node");
        }
        if (cases[i].want_gres > 0) {
            snprintf (line, sizeof (line), "#SBATCH --gres=gpu:%d",
                      cases[i].want_gres);
            assert_has_line (s, line);
        }
        else
            assert_no_line_prefix (s, "#SBATCH --gres");
        assert_no_line_prefix (s, "#SBATCH --gpus-per-task");
        if (cases[i].want_mem_node > 0) {
            snprintf (line, sizeof (line), "#SBATCH --mem=%lldM",
                      cases[i].want_mem_node);
            assert_has_line (s, line);
        }
        else
            assert_no_line_prefix (s, "#SBATCH --mem=");
        if (cases[i].want_mem_cpu > 0) {
            snprintf (line, sizeof (line), "#SBATCH --mem-per-cpu=%lldM",
                      cases[i].want_mem_cpu);
            assert_has_line (s, line);
        }
        else
            assert_no_line_prefix (s, "#SBATCH --mem-per-cpu");
        assert_has_line (s, "#SBATCH --open-mode=append");
        char run[512];
        int n = snprintf (run, sizeof (run),
                          "    DATUMRUN_STATUS_FILE=$status "
                          "srun --mpi=pmix --overcommit "
                          "--distribution=block --ntasks=%d "
                          "--cpus-per-task=%d%s "
                          "/opt/datumrun/bin/datumrun run /data/wc/spec.json",
                          cases[i].want_workers + 1, cases[i].want_cpus,
                          cases[i].mem > 0 ? " --mem=0" : "");
        if (cases[i].nodes > cases[i].want_nodes)
            /* One node per worker: the count is passed as such. */
            snprintf (run + n, sizeof (run) - (size_t)n, " -n %d",
                      cases[i].want_workers);
        else {
            if (cases[i].workers > 0)
                n += snprintf (run + n, sizeof (run) - (size_t)n, " -n %d",
                               cases[i].workers);
            if (cases[i].want_nodes > 0)
                n += snprintf (run + n, sizeof (run) - (size_t)n,
                               " --nodes %d", cases[i].want_nodes);
        }
        /* The step runs again if a task's death killed it (issue 9). */
        snprintf (run + strlen (run), sizeof (run) - strlen (run), " &");
        assert_has_line (s, run);
        assert_has_line (s, "for step in 1 2 3 4; do");
        assert_has_line (s, "    [ \"$rc\" -le 2 ] && break");
        /* datumrun's own status wins over srun's (a lost node's tasks
         * never end); a lost node does not end the job. */
        assert_has_line (s, "status=/data/wc/.datumrun/wordcount/slurm/"
                            ".datumrun-status-\"$SLURM_JOB_ID\"");
        assert_has_line (s, "        read -r rc < \"$status\" || rc=1");
        assert_has_line (s, "#SBATCH --no-kill");
        assert_has_line (s, "trap 'stopping=1; scancel -s URG "
                            "\"$SLURM_JOB_ID\" || true' USR1");
        assert_has_line (s, "exit \"$rc\"");
        free (s);
    }
}

/* ---------------------------------------------------------------- GPUs */

static void test_gpus_per_worker (void **state)
{
    slurm_gpus_t g;
    char ids[64], cpus[64];

    assert_int_equal (slurm_gpus_from_list ("0,1,2,3", "test", &g), 0);
    assert_int_equal (g.n, 4);
    /* gpu: 2 -> workers 0 and 1 get disjoint pairs, worker 2 none. */
    assert_int_equal (slurm_gpus_for_worker (&g, 0, 2, ids, sizeof (ids),
                                             cpus, sizeof (cpus)), 0);
    assert_string_equal (ids, "0,1");
    assert_string_equal (cpus, "");
    assert_int_equal (slurm_gpus_for_worker (&g, 1, 2, ids, sizeof (ids),
                                             NULL, 0), 0);
    assert_string_equal (ids, "2,3");
    assert_int_equal (slurm_gpus_for_worker (&g, 2, 2, ids, sizeof (ids),
                                             NULL, 0), -1);
    assert_int_equal (errno, ENODEV);
    assert_int_equal (slurm_gpus_for_worker (&g, 3, 1, ids, sizeof (ids),
                                             NULL, 0), 0);
    assert_string_equal (ids, "3");
    assert_int_equal (slurm_gpus_for_worker (&g, 0, 4, ids, 4, NULL, 0), -1);
    assert_int_equal (errno, ERANGE);   /* "0,1,2,3" does not fit in 4 */
    /* The CPUs near the GPUs, when every one is known. */
    snprintf (g.v[2].cpus, sizeof (g.v[2].cpus), "8-15");
    snprintf (g.v[3].cpus, sizeof (g.v[3].cpus), "8-15");
    assert_int_equal (slurm_gpus_for_worker (&g, 1, 2, ids, sizeof (ids),
                                             cpus, sizeof (cpus)), 0);
    assert_string_equal (cpus, "8-15,8-15");
    snprintf (g.v[3].cpus, sizeof (g.v[3].cpus), "%s", "");
    assert_int_equal (slurm_gpus_for_worker (&g, 1, 2, ids, sizeof (ids),
                                             cpus, sizeof (cpus)), 0);
    assert_string_equal (cpus, "");
    slurm_gpus_clear (&g);

    /* UUIDs as a step may be given them, blanks, Slurm's "none". */
    assert_int_equal (slurm_gpus_from_list ("GPU-aa, GPU-bb", "t", &g), 0);
    assert_int_equal (g.n, 2);
    assert_string_equal (g.v[1].id, "GPU-bb");
    slurm_gpus_clear (&g);
    assert_int_equal (slurm_gpus_from_list ("NoDevFiles", "t", &g), 0);
    assert_int_equal (g.n, 0);
    slurm_gpus_clear (&g);

    /* Discovery: the step's GPUs first. */
    char *saved = getenv ("SLURM_STEP_GPUS") ? strdup (getenv ("SLURM_STEP_GPUS")) : NULL;
    setenv ("SLURM_STEP_GPUS", "4,5", 1);
    assert_int_equal (slurm_gpus_discover (&g), 0);
    assert_int_equal (g.n, 2);
    assert_string_equal (g.v[0].id, "4");
    assert_string_equal (g.source, "slurm (SLURM_STEP_GPUS)");
    slurm_gpus_clear (&g);
    if (saved)
        setenv ("SLURM_STEP_GPUS", saved, 1);
    else
        unsetenv ("SLURM_STEP_GPUS");
    free (saved);
}

/* ----------------------------------------------------------------- fit */

static void test_fit_check (void **state)
{
    static const slurm_node_info_t two_cpu[] = {
        { "n1", 2, 8000, 0 }, { "n2", 2, 8000, 0 }, { "n3", 2, 8000, 0 },
    };
    static const slurm_node_info_t gpu4[] = {
        { "g1", 8, 64000, 4 }, { "g2", 8, 64000, 4 },
    };
    static const struct {
        const slurm_node_info_t *nodes;
        size_t n;
        int workers, nodes_req, per_node, cpus, gpus;
        long long mem;
        bool overcommit;
        int want;                 /* 1 fits, 0 never */
        const char *why;          /* part of the message when 0 */
    } cases[] = {
        /* 3 tasks on one 2-CPU node: never, unless overcommitted */
        { two_cpu, 1, 3, 1, 3, 1, 0, 0, false, 0,
          "3 workers x 1 CPU need 3 CPUs on a node, the largest has 2" },
        { two_cpu, 1, 3, 1, 3, 1, 0, 0, true, 1, NULL },
        { two_cpu, 3, 3, 1, 3, 1, 0, 0, false, 0, "would fit: --nodes 2" },
        { two_cpu, 3, 6, 3, 2, 1, 0, 0, false, 1, NULL },
        { two_cpu, 3, 6, 0, 0, 1, 0, 0, false, 1, NULL },
        { two_cpu, 3, 7, 0, 0, 1, 0, 0, false, 0, "or --overcommit" },
        { two_cpu, 3, 4, 4, 1, 1, 0, 0, false, 0,
          "4 nodes asked, the partition has 3" },
        { two_cpu, 3, 1, 1, 1, 4, 0, 0, false, 0,
          "not one worker fits on any node" },
        /* GPUs: 4 per node, 2 per worker: 2 workers per node */
        { gpu4, 2, 4, 2, 2, 1, 2, 0, false, 1, NULL },
        { gpu4, 2, 4, 1, 4, 1, 2, 0, false, 0,
          "4 workers x 2 GPUs need 8 GPUs on a node, the most any node has "
          "is 4; would fit: --nodes 2 (at most 2 workers per node)" },
        { gpu4, 2, 6, 2, 3, 1, 2, 0, false, 0,
          "would fit: at most 4 workers on this partition" },
        { gpu4, 2, 2, 1, 2, 1, 5, 0, true, 0,
          "not one worker fits on any node" },
        { two_cpu, 3, 2, 1, 2, 1, 1, 0, false, 0, "GPUs" },
        /* memory per node */
        { gpu4, 2, 4, 2, 2, 1, 0, 32000, false, 1, NULL },
        { gpu4, 2, 4, 2, 2, 1, 0, 40000, false, 0,
          "2 workers x 40000 MiB need 80000 MiB on a node, the largest has "
          "64000 MiB; would fit: at most 2 workers on this partition" },
    };
    for (size_t i = 0; i < sizeof (cases) / sizeof (cases[0]); i++) {
        slurm_sbatch_size_t sz = {
            .workers = cases[i].workers, .ntasks = cases[i].workers + 1,
            .nodes = cases[i].nodes_req, .tasks_per_node = cases[i].per_node,
            .cpus_per_task = cases[i].cpus, .gpus_per_task = cases[i].gpus,
            .gpus_per_node = cases[i].per_node * cases[i].gpus,
            .mem_mib = cases[i].mem,
            .mem_per_node_mib = cases[i].mem * cases[i].per_node,
        };
        char why[512];
        int r = slurm_fit_check (&sz, cases[i].overcommit, cases[i].nodes,
                                 cases[i].n, why, sizeof (why));
        if (r != cases[i].want)
            fail_msg ("case %zu: got %d (%s)", i, r, why);
        if (cases[i].why && !strstr (why, cases[i].why))
            fail_msg ("case %zu: message \"%s\" lacks \"%s\"", i, why,
                      cases[i].why);
    }
    char why[8];
    slurm_sbatch_size_t bad = { 0 };
    assert_int_equal (slurm_fit_check (&bad, false, two_cpu, 3, why,
                                       sizeof (why)), -1);
}

static void test_sbatch_sizing_errors (void **state)
{
    jobs_spec_t spec = make_spec (2, 0, 1);
    slurm_sbatch_opts_t o = base_opts ();
    slurm_sbatch_size_t sz = { 0 };
    dr_error_t err = { "" };

    o.nodes = -1;
    assert_int_equal (slurm_sbatch_size (&spec, &o, &sz, &err), -1);
    assert_non_null (strstr (err.text, "--nodes"));
    o.nodes = 0;
    o.workers = -3;
    assert_int_equal (slurm_sbatch_size (&spec, &o, &sz, &err), -1);
    assert_non_null (strstr (err.text, "-n"));
    assert_int_equal (sz.ntasks, 0);   /* no side effect on failure */

    /* --nodes 4 with constant 2: one node per worker, said so. */
    o.workers = 0;
    o.nodes = 4;
    assert_int_equal (slurm_sbatch_size (&spec, &o, &sz, &err), 0);
    assert_int_equal (sz.nodes, 2);
    assert_int_equal (sz.nodes_asked, 4);
    assert_int_equal (sz.tasks_per_node, 1);
    char *s = slurm_sbatch_script (&spec, &o, &err);
    assert_non_null (s);
    assert_non_null (strstr (s, "# 2 nodes, not the 4 asked"));
    free (s);
}

/* -------------------------------------------------------------- script */

/* Slurm's #SBATCH tokenizer (sbatch/opt.c _get_argument): blanks split,
 * '...' and "..." group, backslash takes the next character literally, an
 * unquoted # ends the line.  Returns the number of arguments found. */
static int sbatch_tokens (const char *line, char out[][512], int max)
{
    const char *p = line;
    int n = 0;
    for (;;) {
        while (*p == ' ' || *p == '\t')
            p++;
        if (*p == '\0' || *p == '#')
            return n;
        char q = 0;
        bool esc = false, any = false;
        size_t i = 0;
        while (*p && (q || (*p != ' ' && *p != '\t'))) {
            if (esc)
                esc = false;
            else if (*p == '\\') {
                esc = true;
                p++;
                continue;
            }
            else if (q) {
                if (*p == q) {
                    q = 0;
                    p++;
                    continue;
                }
            }
            else if (*p == '"' || *p == '\'') {
                q = *p++;
                continue;
            }
            else if (*p == '#')
                break;
            any = true;
            out[n][i++] = *p++;
        }
        assert_int_equal (q, 0);
        out[n][i] = '\0';
        if (!any && i == 0)
            return n;
        if (++n == max)
            return n;
        if (*p == '#')
            return n;
    }
}

/* The arguments sbatch reads from the script's #SBATCH lines, in order,
 * stopping at the first command as sbatch does. */
static int script_directives (const char *script, char out[][512], int max)
{
    int n = 0;
    const char *p = script;
    while (*p && n < max) {
        const char *end = strchr (p, '\n');
        size_t len = end ? (size_t)(end - p) : strlen (p);
        char line[1024];
        assert_true (len < sizeof (line));
        memcpy (line, p, len);
        line[len] = '\0';
        if (strncmp (line, "#SBATCH", 7) == 0)
            n += sbatch_tokens (line + 7, out + n, max - n);
        else {
            const char *q = line;
            while (*q == ' ' || *q == '\t')
                q++;
            if (*q && *q != '#')
                break;   /* first command: sbatch stops reading */
        }
        if (!end)
            break;
        p = end + 1;
    }
    return n;
}

static bool has_directive (char dirs[][512], int n, const char *want)
{
    for (int i = 0; i < n; i++)
        if (strcmp (dirs[i], want) == 0)
            return true;
    return false;
}

static void test_sbatch_script_options (void **state)
{
    jobs_spec_t spec = make_spec (2, 0, 1);
    slurm_sbatch_opts_t o = base_opts ();
    dr_error_t err = { "" };
    const char *extra[] = {
        "--requeue", "--mem=4G", "--comment=it's a #test \"x\" \\ y",
        "--constraint=a&b|c",
    };
    o.time = "2:00:00";
    o.partition = "debug";
    o.account = "proj 42";
    o.extra = extra;
    o.nextra = sizeof (extra) / sizeof (extra[0]);
    o.log_dir = "/scratch/logs 100%/";
    o.overcommit = true;

    char *s = slurm_sbatch_script (&spec, &o, &err);
    if (!s)
        fail_msg ("%s", err.text);
    assert_memory_equal (s, "#!/bin/bash\n", 12);
    assert_has_line (s, "set -euo pipefail");

    char dirs[32][512];
    int n = script_directives (s, dirs, 32);
    static const char *const want[] = {
        "--job-name=datumrun-wordcount", "--ntasks=2", "--cpus-per-task=1",
        "--time=2:00:00", "--partition=debug", "--account=proj 42",
        "--signal=B:USR1@120", "--output=/scratch/logs 100%%/%x-%j.out",
        "--open-mode=append", "--overcommit", "--no-kill", "--requeue",
        "--mem=4G",
        "--comment=it's a #test \"x\" \\ y", "--constraint=a&b|c",
    };
    for (size_t i = 0; i < sizeof (want) / sizeof (want[0]); i++)
        if (!has_directive (dirs, n, want[i]))
            fail_msg ("sbatch would not read \"%s\" from:\n%s", want[i], s);
    assert_int_equal (n, (int)(sizeof (want) / sizeof (want[0])));
    if (geteuid () == 0)
        assert_has_line (s, "export OMPI_ALLOW_RUN_AS_ROOT=1");
    else
        assert_null (strstr (s, "OMPI_ALLOW_RUN_AS_ROOT"));

    /* The whole script is valid bash. */
    char path[PATH_MAX];
    snprintf (path, sizeof (path), "%s/script.sh", tmpdir);
    FILE *f = fopen (path, "w");
    assert_non_null (f);
    fputs (s, f);
    fclose (f);
    char cmd[PATH_MAX + 32], out[64];
    snprintf (cmd, sizeof (cmd), "bash -n '%s' 2>&1", path);
    assert_int_equal (run_capture (cmd, out, sizeof (out)), 0);
    free (s);

    /* Defaults: log folder under the state folder, no --time etc. */
    o = base_opts ();
    o.grace = -1;
    s = slurm_sbatch_script (&spec, &o, &err);
    assert_non_null (s);
    n = script_directives (s, dirs, 32);
    assert_true (has_directive (dirs, n,
        "--output=/data/wc/.datumrun/wordcount/slurm/%x-%j.out"));
    assert_null (strstr (s, "--signal"));
    assert_null (strstr (s, "--time"));
    assert_null (strstr (s, "--partition"));
    assert_null (strstr (s, "#SBATCH --overcommit"));
    free (s);

    /* --grace 0 given: no warning signal (not the default's 120 s). */
    o.grace = 0;
    o.grace_given = true;
    s = slurm_sbatch_script (&spec, &o, &err);
    assert_non_null (s);
    assert_null (strstr (s, "--signal"));
    free (s);
    o.grace_given = false;

    o.grace = 300;
    o.spec_path = "/other/spec.json";
    s = slurm_sbatch_script (&spec, &o, &err);
    assert_non_null (s);
    assert_has_line (s, "#SBATCH --signal=B:USR1@300");
    assert_non_null (strstr (s, " run /other/spec.json &\n"));
    free (s);
}

static void test_sbatch_script_nasty_paths (void **state)
{
    jobs_spec_t spec = make_spec (1, 0, 1);
    slurm_sbatch_opts_t o = base_opts ();
    dr_error_t err = { "" };
    char path[PATH_MAX], cmd[2 * PATH_MAX], out[4096];

    /* A datumrun "executable" that prints its arguments, at a path with a
     * space, a quote and a dollar; run the script's command line with srun
     * replaced by a function that drops its options. */
    snprintf (path, sizeof (path), "%s/bin dir 'q' $x", tmpdir);
    assert_int_equal (mkdir (path, 0755), 0);
    strcat (path, "/datumrun");
    FILE *f = fopen (path, "w");
    assert_non_null (f);
    fputs ("#!/bin/sh\nfor a in \"$@\"; do printf '[%s]' \"$a\"; done\n", f);
    fclose (f);
    chmod (path, 0755);
    o.datumrun = path;
    o.spec_path = "/data/my spec's \"dir\"/$HOME `id`/spec.json";
    o.grace = -1;
    char *s = slurm_sbatch_script (&spec, &o, &err);
    if (!s)
        fail_msg ("%s", err.text);
    const char *line = strstr (s, "\nrc=0\n");
    assert_non_null (line);
    char script[PATH_MAX];
    snprintf (script, sizeof (script), "%s/nasty.sh", tmpdir);
    f = fopen (script, "w");
    assert_non_null (f);
    fputs ("srun () { while [ \"${1#--}\" != \"$1\" ]; do shift; done; "
           "\"$@\"; }\n", f);
    fputs (line + 1, f);
    fclose (f);
    snprintf (cmd, sizeof (cmd), "bash '%s'", script);
    assert_int_equal (run_capture (cmd, out, sizeof (out)), 0);
    assert_string_equal (out, "[run][/data/my spec's \"dir\"/$HOME `id`/"
                         "spec.json]");
    free (s);
}

static void test_sbatch_script_errors (void **state)
{
    jobs_spec_t spec = make_spec (1, 0, 1);
    slurm_sbatch_opts_t o = base_opts ();
    dr_error_t err = { "" };
    const char *bad_extra[] = { "--comment=two\nlines" };

    o.datumrun = "bin/datumrun";
    assert_null (slurm_sbatch_script (&spec, &o, &err));
    assert_non_null (strstr (err.text, "absolute"));

    o = base_opts ();
    o.time = "1:00\n#SBATCH --evil";
    assert_null (slurm_sbatch_script (&spec, &o, &err));
    assert_non_null (strstr (err.text, "--time"));

    o = base_opts ();
    o.extra = bad_extra;
    o.nextra = 1;
    assert_null (slurm_sbatch_script (&spec, &o, &err));
    assert_non_null (strstr (err.text, "sbatch argument"));

    static const char *const not_options[][2] = {
        { "--time", "5" }, { "--", "--requeue" },
    };
    for (size_t i = 0; i < 2; i++) {
        o = base_opts ();
        o.extra = not_options[i];
        o.nextra = 2;
        assert_null (slurm_sbatch_script (&spec, &o, &err));
        assert_non_null (strstr (err.text, "is not an option"));
    }

    o = base_opts ();
    o.log_dir = "/logs\\x";
    assert_null (slurm_sbatch_script (&spec, &o, &err));
    assert_non_null (strstr (err.text, "log folder"));

    o = base_opts ();
    o.grace = 70000;
    assert_null (slurm_sbatch_script (&spec, &o, &err));
    assert_non_null (strstr (err.text, "65535"));
}

/* ------------------------------------------------------------- quoting */

static const char *const nasty[] = {
    "plain", "with space", "it's", "a'b''c'", "\"double\"", "$HOME",
    "${PATH}", "`id`", "$(id)", "back\\slash", "new\nline", "tab\there",
    "*", "?", "[a]", "~", "~root", "semi;colon", "a&b|c>d<e", "!bang",
    "#hash", "{a,b}", "-n", "--", "caf\xc3\xa9", "trailing\\", "'", "''",
    "%s %d", "a=b", "",
};

static void test_shell_quote_round_trip (void **state)
{
    for (size_t i = 0; i < sizeof (nasty) / sizeof (nasty[0]); i++) {
        char *q = slurm_shell_quote (nasty[i]);
        assert_non_null (q);
        char *cmd;
        assert_true (asprintf (&cmd, "printf %%s %s", q) > 0);
        char out[256];
        pid_t pid;
        int fd[2];
        assert_int_equal (pipe (fd), 0);
        pid = fork ();
        assert_true (pid >= 0);
        if (pid == 0) {
            dup2 (fd[1], 1);
            close (fd[0]);
            close (fd[1]);
            execl ("/bin/sh", "sh", "-c", cmd, (char *)NULL);
            _exit (127);
        }
        close (fd[1]);
        size_t n = 0;
        ssize_t r;
        while ((r = read (fd[0], out + n, sizeof (out) - 1 - n)) > 0)
            n += (size_t)r;
        out[n] = '\0';
        close (fd[0]);
        int st;
        waitpid (pid, &st, 0);
        assert_true (WIFEXITED (st) && WEXITSTATUS (st) == 0);
        if (strcmp (out, nasty[i]) != 0)
            fail_msg ("\"%s\" quoted as %s came back as \"%s\"", nasty[i], q,
                      out);
        free (cmd);
        free (q);
    }
    /* Safe words stay readable. */
    char *q = slurm_shell_quote ("/opt/datumrun-1.0/bin/datumrun");
    assert_string_equal (q, "/opt/datumrun-1.0/bin/datumrun");
    free (q);
    q = slurm_shell_quote ("a b");
    assert_string_equal (q, "'a b'");
    free (q);
    q = slurm_shell_quote ("");
    assert_string_equal (q, "''");
    free (q);
    q = slurm_shell_quote ("a=b");   /* not an assignment as a first word */
    assert_string_equal (q, "'a=b'");
    free (q);
    assert_null (slurm_shell_quote (NULL));
    assert_int_equal (errno, EINVAL);
}

static void test_directive_quote_round_trip (void **state)
{
    for (size_t i = 0; i < sizeof (nasty) / sizeof (nasty[0]); i++) {
        char *q = slurm__directive_quote (nasty[i]);
        if (strchr (nasty[i], '\n')) {
            assert_null (q);
            assert_int_equal (errno, EINVAL);
            continue;
        }
        assert_non_null (q);
        char line[600], toks[4][512];
        snprintf (line, sizeof (line), " %s # comment", q);
        int n = sbatch_tokens (line, toks, 4);
        if (nasty[i][0] == '\0') {
            /* "" is an empty argument sbatch drops; never emitted. */
            free (q);
            continue;
        }
        assert_int_equal (n, 1);
        if (strcmp (toks[0], nasty[i]) != 0)
            fail_msg ("\"%s\" as %s read back as \"%s\"", nasty[i], q,
                      toks[0]);
        free (q);
    }
    char *p = slurm__pattern_escape ("/a%b/%j");
    assert_string_equal (p, "/a%%b/%%j");
    free (p);
    assert_null (slurm__pattern_escape ("/a\\b"));
}

/* ------------------------------------------------------------ topology */

static void test_topo_synthetic_counts (void **state)
{
    dr_error_t err = { "" };
    slurm_topo_t *t = slurm_topo_load_synthetic ("pack:2 numa:2 core:4 pu:2",
                                                 &err);
    if (!t)
        fail_msg ("%s", err.text);
    assert_int_equal (slurm_topo_packages (t), 2);
    assert_int_equal (slurm_topo_numa_nodes (t), 4);
    assert_int_equal (slurm_topo_cores (t), 16);
    assert_int_equal (slurm_topo_pus (t), 32);
    char buf[128];
    slurm_topo_describe (t, buf, sizeof (buf));
    assert_string_equal (buf, "2 packages, 4 NUMA nodes, 16 cores, 32 PUs");
    slurm_topo_destroy (t);

    t = slurm_topo_load_synthetic ("pack:1 core:1 pu:1", &err);
    assert_non_null (t);
    slurm_topo_describe (t, buf, sizeof (buf));
    assert_string_equal (buf, "1 package, 1 NUMA node, 1 core, 1 PU");
    slurm_topo_destroy (t);

    assert_null (slurm_topo_load_synthetic ("bogus:3 nonsense", &err));
    assert_non_null (strstr (err.text, "bogus:3 nonsense"));
    slurm_topo_destroy (NULL);
}

static void test_topo_cpuset_table (void **state)
{
    static const struct {
        const char *topo;
        int index, ncpus;
        const char *want;
    } cases[] = {
        /* This machine's shape: 2 cores, wrap-around at the third. */
        { "pack:1 core:2 pu:1", 0, 1, "0" },
        { "pack:1 core:2 pu:1", 1, 1, "1" },
        { "pack:1 core:2 pu:1", 2, 1, "0" },
        { "pack:1 core:2 pu:1", 3, 1, "1" },
        { "pack:1 core:2 pu:1", 0, 2, "0-1" },
        { "pack:1 core:2 pu:1", 1, 2, "0-1" },
        { "pack:1 core:2 pu:1", 0, 5, "0-1" },   /* more than there is */
        /* 2 packages x 2 NUMA x 4 cores: NUMA nodes 0,2,1,3 in turn (the
         * packages alternate), cores 0-3 | 4-7 || 8-11 | 12-15. */
        { "pack:2 numa:2 core:4 pu:1", 0, 1, "0" },
        { "pack:2 numa:2 core:4 pu:1", 1, 1, "8" },
        { "pack:2 numa:2 core:4 pu:1", 2, 1, "4" },
        { "pack:2 numa:2 core:4 pu:1", 3, 1, "12" },
        { "pack:2 numa:2 core:4 pu:1", 4, 1, "1" },
        { "pack:2 numa:2 core:4 pu:1", 5, 1, "9" },
        { "pack:2 numa:2 core:4 pu:1", 15, 1, "15" },
        { "pack:2 numa:2 core:4 pu:1", 16, 1, "0" },
        { "pack:2 numa:2 core:4 pu:1", 0, 2, "0-1" },
        { "pack:2 numa:2 core:4 pu:1", 1, 2, "8-9" },
        { "pack:2 numa:2 core:4 pu:1", 2, 2, "4-5" },
        { "pack:2 numa:2 core:4 pu:1", 3, 2, "12-13" },
        { "pack:2 numa:2 core:4 pu:1", 4, 2, "2-3" },
        { "pack:2 numa:2 core:4 pu:1", 7, 2, "14-15" },
        { "pack:2 numa:2 core:4 pu:1", 8, 2, "0-1" },
        /* 3 cores each: one per NUMA node, the 4th core of each idle */
        { "pack:2 numa:2 core:4 pu:1", 0, 3, "0-2" },
        { "pack:2 numa:2 core:4 pu:1", 1, 3, "8-10" },
        { "pack:2 numa:2 core:4 pu:1", 3, 3, "12-14" },
        { "pack:2 numa:2 core:4 pu:1", 4, 3, "0-2" },
        /* wider than a NUMA node: consecutive cores across them */
        { "pack:2 numa:2 core:4 pu:1", 0, 8, "0-7" },
        { "pack:2 numa:2 core:4 pu:1", 1, 8, "8-15" },
        { "pack:2 numa:2 core:4 pu:1", 2, 8, "0-7" },
        { "pack:2 numa:2 core:4 pu:1", 0, 6, "0-5" },
        { "pack:2 numa:2 core:4 pu:1", 1, 6, "6-11" },
        { "pack:2 numa:2 core:4 pu:1", 2, 6, "0-5" },
        /* hyperthreads: a core is both its PUs */
        { "pack:1 numa:1 core:2 pu:2", 0, 1, "0-1" },
        { "pack:1 numa:1 core:2 pu:2", 1, 1, "2-3" },
        { "pack:1 numa:1 core:2 pu:2", 2, 1, "0-1" },
        /* one NUMA node over two packages: packages still alternate */
        { "pack:2 core:3 pu:1", 0, 1, "0" },
        { "pack:2 core:3 pu:1", 1, 1, "3" },
        { "pack:2 core:3 pu:1", 2, 1, "1" },
        { "pack:2 core:3 pu:1", 5, 1, "5" },
        { "pack:2 core:3 pu:1", 6, 1, "0" },
    };
    const char *loaded = NULL;
    slurm_topo_t *t = NULL;
    dr_error_t err = { "" };

    for (size_t i = 0; i < sizeof (cases) / sizeof (cases[0]); i++) {
        if (!loaded || strcmp (loaded, cases[i].topo) != 0) {
            slurm_topo_destroy (t);
            t = slurm_topo_load_synthetic (cases[i].topo, &err);
            if (!t)
                fail_msg ("%s: %s", cases[i].topo, err.text);
            loaded = cases[i].topo;
        }
        char list[64];
        if (slurm_topo_cpuset_for (t, cases[i].index, cases[i].ncpus, list,
                                   sizeof (list)) < 0)
            fail_msg ("case %zu: %s", i, strerror (errno));
        if (strcmp (list, cases[i].want) != 0)
            fail_msg ("%s worker %d x %d cpus: got %s, want %s",
                      cases[i].topo, cases[i].index, cases[i].ncpus, list,
                      cases[i].want);
    }

    char small[3];
    assert_int_equal (slurm_topo_cpuset_for (t, 0, 6, small, sizeof (small)),
                      -1);
    assert_int_equal (errno, ERANGE);
    char list[64];
    assert_int_equal (slurm_topo_cpuset_for (t, -1, 1, list, sizeof (list)),
                      -1);
    assert_int_equal (errno, EINVAL);
    assert_int_equal (slurm_topo_cpuset_for (t, 0, 0, list, sizeof (list)),
                      -1);
    assert_int_equal (errno, EINVAL);
    /* A made-up machine cannot be bound to. */
    assert_int_equal (slurm_topo_bind_self (t, 0, 1, &err), -1);
    assert_int_equal (errno, EXDEV);
    assert_non_null (strstr (err.text, "not this machine"));
    slurm_topo_destroy (t);
}

static void test_topo_bind_self (void **state)
{
    dr_error_t err = { "" };
    cpu_set_t saved, now;
    slurm_topo_t *t = slurm_topo_load (&err);
    if (!t)
        fail_msg ("%s", err.text);
    assert_true (slurm_topo_cores (t) >= 1);
    assert_true (slurm_topo_pus (t) >= slurm_topo_cores (t));
    assert_int_equal (sched_getaffinity (0, sizeof (saved), &saved), 0);

    int ncores = slurm_topo_cores (t);
    for (int w = 0; w < 3; w++) {
        char list[256], want[256] = "";
        assert_int_equal (slurm_topo_cpuset_for (t, w, 1, list, sizeof (list)),
                          0);
        if (slurm_topo_bind_self (t, w, 1, &err) < 0)
            fail_msg ("%s", err.text);
        assert_int_equal (sched_getaffinity (0, sizeof (now), &now), 0);
        /* The affinity mask, written as a list, is what cpuset_for said. */
        int n = 0, first = -1, prev = -2;
        for (int c = 0; c <= CPU_SETSIZE; c++) {
            bool in = c < CPU_SETSIZE && CPU_ISSET (c, &now);
            if (in && prev != c - 1)
                first = c;
            if (!in && prev == c - 1 && first >= 0) {
                n += snprintf (want + n, sizeof (want) - (size_t)n, "%s%d",
                               n ? "," : "", first);
                if (c - 1 > first)
                    n += snprintf (want + n, sizeof (want) - (size_t)n,
                                   "-%d", c - 1);
                first = -1;
            }
            if (in)
                prev = c;
        }
        assert_string_equal (list, want);
        if (ncores == 2 && slurm_topo_pus (t) == 2) {
            /* This 2-core box: workers 0, 1, 2 -> cores 0, 1, 0. */
            static const char *const box[] = { "0", "1", "0" };
            assert_string_equal (list, box[w]);
        }
    }
    assert_int_equal (sched_setaffinity (0, sizeof (saved), &saved), 0);
    slurm_topo_destroy (t);
}

/* ----------------------------------------------------------- discovery */

static const char *const node_vars[] = {
    "PMIX_NAMESPACE", "PMIX_RANK", "SLURM_JOB_NUM_NODES", "SLURM_NNODES",
};

typedef struct saved_env {
    char *val[sizeof (node_vars) / sizeof (node_vars[0])];
} saved_env_t;

static void env_save_clear (saved_env_t *s)
{
    for (size_t i = 0; i < sizeof (node_vars) / sizeof (node_vars[0]); i++) {
        const char *v = getenv (node_vars[i]);
        s->val[i] = v ? strdup (v) : NULL;
        unsetenv (node_vars[i]);
    }
}

static void env_restore (saved_env_t *s)
{
    for (size_t i = 0; i < sizeof (node_vars) / sizeof (node_vars[0]); i++) {
        if (s->val[i])
            setenv (node_vars[i], s->val[i], 1);
        else
            unsetenv (node_vars[i]);
        free (s->val[i]);
    }
}

static void test_discover_env (void **state)
{
    static const struct {
        const char *job_num_nodes, *nnodes;
        int rc, nodes;
        const char *source;
    } cases[] = {
        { NULL, NULL, 0, 1, "default" },
        { "4", NULL, 0, 4, "slurm" },
        { NULL, "3", 0, 3, "slurm" },
        { "2", "7", 0, 2, "slurm" },      /* SLURM_JOB_NUM_NODES first */
        { "", "5", 0, 5, "slurm" },       /* empty counts as unset */
        { "abc", NULL, -1, 0, NULL },
        { "0", NULL, -1, 0, NULL },
        { "-2", NULL, -1, 0, NULL },
        { "4x", NULL, -1, 0, NULL },
    };
    saved_env_t saved;
    env_save_clear (&saved);
    for (size_t i = 0; i < sizeof (cases) / sizeof (cases[0]); i++) {
        unsetenv ("SLURM_JOB_NUM_NODES");
        unsetenv ("SLURM_NNODES");
        if (cases[i].job_num_nodes)
            setenv ("SLURM_JOB_NUM_NODES", cases[i].job_num_nodes, 1);
        if (cases[i].nnodes)
            setenv ("SLURM_NNODES", cases[i].nnodes, 1);
        int nodes = -7;
        const char *source = "unchanged";
        int rc = slurm_discover_nodes (&nodes, &source);
        if (rc != cases[i].rc)
            fail_msg ("case %zu: rc %d", i, rc);
        if (rc == 0) {
            assert_int_equal (nodes, cases[i].nodes);
            assert_string_equal (source, cases[i].source);
        }
        else {
            assert_int_equal (errno, EINVAL);
            assert_int_equal (nodes, -7);
            assert_string_equal (source, "unchanged");
        }
    }
    /* PMIx variables without a PMIx server: fall back to Slurm's. */
    setenv ("PMIX_NAMESPACE", "datumrun-test-no-such-namespace", 1);
    setenv ("PMIX_RANK", "0", 1);
    setenv ("SLURM_JOB_NUM_NODES", "2", 1);
    int nodes = 0;
    const char *source = NULL;
    assert_int_equal (slurm_discover_nodes (&nodes, &source), 0);
    assert_int_equal (nodes, 2);
    assert_string_equal (source, "slurm");
    assert_int_equal (slurm_discover_nodes (&nodes, NULL), 0);
    assert_int_equal (slurm_discover_nodes (NULL, &source), -1);
    assert_int_equal (errno, EINVAL);
    env_restore (&saved);
}

/* When this test program itself runs under mpirun or srun --mpi=pmix. */
static void test_discover_pmix (void **state)
{
    if (!getenv ("PMIX_NAMESPACE") || !getenv ("PMIX_RANK"))
        skip ();
    int nodes = 0;
    const char *source = NULL;
    assert_int_equal (slurm_discover_nodes (&nodes, &source), 0);
    assert_string_equal (source, "pmix");
    assert_true (nodes >= 1);
    /* Twice: PMIx_Init and PMIx_Finalize pair up. */
    assert_int_equal (slurm_discover_nodes (&nodes, &source), 0);
    assert_string_equal (source, "pmix");
}

/* -------------------------------------------------------------- submit */

/* Write an executable "sbatch" into dir/name. */
static void fake_sbatch (const char *dir, const char *body)
{
    char path[PATH_MAX];
    snprintf (path, sizeof (path), "%s", dir);
    mkdir (path, 0755);
    strncat (path, "/sbatch", sizeof (path) - strlen (path) - 1);
    FILE *f = fopen (path, "w");
    assert_non_null (f);
    fprintf (f, "#!/bin/sh\n%s\n", body);
    fclose (f);
    chmod (path, 0755);
}

static void with_path (const char *dir, char **saved)
{
    const char *p = getenv ("PATH");
    *saved = strdup (p ? p : "/usr/bin:/bin");
    char *np;
    assert_true (asprintf (&np, "%s:/usr/bin:/bin", dir) > 0);
    setenv ("PATH", np, 1);
    free (np);
}

static void test_submit_fake_sbatch (void **state)
{
    char ok[PATH_MAX], bad[PATH_MAX], deaf[PATH_MAX], empty[PATH_MAX];
    char got[PATH_MAX], body[2 * PATH_MAX];
    char id[32], *saved;
    dr_error_t err = { "" };

    snprintf (ok, sizeof (ok), "%s/ok", tmpdir);
    snprintf (got, sizeof (got), "%s/ok/stdin", tmpdir);
    snprintf (body, sizeof (body),
              "[ \"$1\" = --parsable ] || { echo \"bad args: $*\" >&2; "
              "exit 3; }\ncat > '%s'\necho '4242;datumrun'", got);
    fake_sbatch (ok, body);
    with_path (ok, &saved);
    const char *script = "#!/bin/bash\n#SBATCH --ntasks=2\nexec true\n";
    if (slurm_submit (script, id, sizeof (id), &err) < 0)
        fail_msg ("%s", err.text);
    assert_string_equal (id, "4242");
    char cmd[PATH_MAX + 16], out[256];
    snprintf (cmd, sizeof (cmd), "cat '%s'", got);
    run_capture (cmd, out, sizeof (out));
    assert_string_equal (out, script);
    /* An id that does not fit. */
    char tiny[4];
    assert_int_equal (slurm_submit (script, tiny, sizeof (tiny), &err), -1);
    assert_int_equal (errno, ERANGE);
    setenv ("PATH", saved, 1);
    free (saved);

    /* sbatch refuses: its message is the error. */
    snprintf (bad, sizeof (bad), "%s/bad", tmpdir);
    fake_sbatch (bad, "cat >/dev/null\necho 'sbatch: error: Batch job "
                 "submission failed: Invalid partition name specified' >&2\n"
                 "exit 1");
    with_path (bad, &saved);
    assert_int_equal (slurm_submit (script, id, sizeof (id), &err), -1);
    assert_non_null (strstr (err.text, "Invalid partition name specified"));
    assert_non_null (strstr (err.text, "exit 1"));
    setenv ("PATH", saved, 1);
    free (saved);

    /* sbatch that never reads a big script: EPIPE, not SIGPIPE. */
    snprintf (deaf, sizeof (deaf), "%s/deaf", tmpdir);
    fake_sbatch (deaf, "exec 0<&-\necho 77");
    with_path (deaf, &saved);
    size_t big = 4 << 20;
    char *huge = malloc (big + 1);
    assert_non_null (huge);
    memset (huge, '#', big);
    huge[big] = '\0';
    assert_int_equal (slurm_submit (huge, id, sizeof (id), &err), 0);
    assert_string_equal (id, "77");
    free (huge);
    setenv ("PATH", saved, 1);
    free (saved);

    /* Prints no id. */
    fake_sbatch (deaf, "cat >/dev/null\necho 'Submitted batch job 5'");
    with_path (deaf, &saved);
    assert_int_equal (slurm_submit (script, id, sizeof (id), &err), -1);
    assert_non_null (strstr (err.text, "no job id"));
    setenv ("PATH", saved, 1);
    free (saved);

    /* No sbatch at all. */
    snprintf (empty, sizeof (empty), "%s/empty", tmpdir);
    mkdir (empty, 0755);
    saved = strdup (getenv ("PATH"));
    setenv ("PATH", empty, 1);
    assert_int_equal (slurm_submit (script, id, sizeof (id), &err), -1);
    assert_non_null (strstr (err.text, "cannot run sbatch"));
    setenv ("PATH", saved, 1);
    free (saved);
}

int main (void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test (test_sbatch_sizing),
        cmocka_unit_test (test_sbatch_sizing_errors),
        cmocka_unit_test (test_fit_check),
        cmocka_unit_test (test_gpus_per_worker),
        cmocka_unit_test (test_sbatch_script_options),
        cmocka_unit_test (test_sbatch_script_nasty_paths),
        cmocka_unit_test (test_sbatch_script_errors),
        cmocka_unit_test (test_shell_quote_round_trip),
        cmocka_unit_test (test_directive_quote_round_trip),
        cmocka_unit_test (test_topo_synthetic_counts),
        cmocka_unit_test (test_topo_cpuset_table),
        cmocka_unit_test (test_topo_bind_self),
        /* PMIx first: the process keeps its one PMIx connection, and the
         * env test's made-up namespace must not be the one it opens. */
        cmocka_unit_test (test_discover_pmix),
        cmocka_unit_test (test_discover_env),
        cmocka_unit_test (test_submit_fake_sbatch),
    };
    return cmocka_run_group_tests (tests, group_setup, group_teardown);
}
