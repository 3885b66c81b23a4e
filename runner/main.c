/* main.c: the datumrun command.  A table of subcommands; `run` either
 * launches itself under mpirun (outside an MPI world) or, inside one,
 * splits into rank 0 (the coordinator) and the workers.
 */
#define _GNU_SOURCE
#include <getopt.h>
#include <stdarg.h>
#include <mpi.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "runner/runner.h"
#include "slurm/slurm.h"

typedef int (*cmd_f) (int argc, char **argv);

typedef struct subcommand {
    const char *name;
    const char *usage;
    const char *summary;
    cmd_f fn;
} subcommand_t;

static int cmd_run (int argc, char **argv);
static int cmd_help (int argc, char **argv);
static int cmd_version (int argc, char **argv);

static const subcommand_t commands[] = {
    { "run", "SPEC [-n WORKERS] [--nodes N] [--reprocess] [--rehash] "
             "[--state DIR] [--bind core|none] [--grace SECONDS] [--json] "
             "[-q] [-v]",
      "run the pipeline: process new and changed datums", cmd_run },
    { "plan", "SPEC [--state DIR] [--reprocess] [--json]",
      "dry run: list the datums and which would be processed or skipped",
      cmd_plan },
    { "list-job", "SPEC [--state DIR] [--json]",
      "list the pipeline's jobs, newest first", cmd_list_job },
    { "inspect-job", "SPEC JOB [--state DIR] [--json]",
      "show one job (JOB may be a unique prefix)", cmd_inspect_job },
    { "list-datum", "SPEC [JOB] [--state DIR] [--json]",
      "list the datums of a job (default: the latest)", cmd_list_datum },
    { "inspect-datum", "SPEC JOB DATUM [--state DIR] [--json]",
      "show one datum of a job", cmd_inspect_datum },
    { "sbatch", "SPEC [--nodes N] [--time T] [--partition P] [--account A] "
                "[--grace S] [--overcommit] [--dry-run] [--submit] "
                "[-- SBATCH_ARGS...]",
      "write (or submit) a Slurm batch script for the pipeline", cmd_sbatch },
    { "info", "[--json]",
      "nodes, cores and NUMA layout (hwloc), MPI, PMIx and Slurm found",
      cmd_info },
    { "campaign", "run|sbatch DIR|SPEC... [options]",
      "run chained pipelines in dependency order", cmd_campaign },
    { "next", "[--fail MESSAGE]",
      "in a batched command: finish the current datum, print the next "
      "one's variables", cmd_next },
    { "help", "[COMMAND]", "show help", cmd_help },
    { "--version", "", "print the version", cmd_version },
    { NULL, NULL, NULL, NULL },
};

static const subcommand_t *find_command (const char *name)
{
    for (const subcommand_t *c = commands; c->name; c++)
        if (!strcmp (c->name, name))
            return c;
    return NULL;
}

static void usage_all (FILE *f)
{
    fprintf (f, "usage: datumrun COMMAND [ARGS]\n\ncommands:\n");
    for (const subcommand_t *c = commands; c->name; c++)
        fprintf (f, "  %-14s %s\n", c->name, c->summary);
    fprintf (f, "\nexit status: 0 success, 1 a datum failed or the job was "
                "killed, 2 usage, spec or environment error\n"
                "`datumrun help COMMAND` shows a command's options.\n");
}

static int cmd_help (int argc, char **argv)
{
    if (argc > 1) {
        const subcommand_t *c = find_command (argv[1]);
        if (!c) {
            fprintf (stderr, "datumrun: no command '%s'\n", argv[1]);
            return EXIT_USAGE;
        }
        printf ("usage: datumrun %s %s\n  %s\n", c->name, c->usage,
                c->summary);
        return 0;
    }
    usage_all (stdout);
    return 0;
}

static int cmd_version (int argc, char **argv)
{
    printf ("datumrun %s\n", DATUMRUN_VERSION);
    return 0;
}

int runner_usage_error (const char *cmd, const char *fmt, ...)
{
    const subcommand_t *c = find_command (cmd);
    va_list ap;
    fprintf (stderr, "datumrun %s: ", cmd);
    va_start (ap, fmt);
    vfprintf (stderr, fmt, ap);
    va_end (ap);
    fprintf (stderr, "\nusage: datumrun %s %s\n", cmd, c ? c->usage : "");
    return EXIT_USAGE;
}

static int parse_int (const char *cmd, const char *opt, const char *s,
                      int min)
{
    char *end;
    long v = strtol (s, &end, 10);
    if (*s == '\0' || *end != '\0' || v < min || v > 1000000) {
        runner_usage_error (cmd, "%s: bad value '%s'", opt, s);
        return -1;
    }
    return (int)v;
}

static int parse_run_opts (int argc, char **argv, run_opts_t *o)
{
    static const struct option longopts[] = {
        { "workers", required_argument, NULL, 'n' },
        { "nodes", required_argument, NULL, 'N' },
        { "reprocess", no_argument, NULL, 'R' },
        { "rehash", no_argument, NULL, 'H' },
        { "state", required_argument, NULL, 's' },
        { "json", no_argument, NULL, 'j' },
        { "quiet", no_argument, NULL, 'q' },
        { "verbose", no_argument, NULL, 'v' },
        { "bind", required_argument, NULL, 'b' },
        { "grace", required_argument, NULL, 'g' },
        { NULL, 0, NULL, 0 },
    };
    int c;
    memset (o, 0, sizeof (*o));
    o->bind = "core";
    o->grace = 30;
    o->argc = argc - 1;
    o->argv = argv + 1;
    optind = 1;
    opterr = 0;
    while ((c = getopt_long (argc, argv, "n:qv", longopts, NULL)) != -1) {
        switch (c) {
        case 'n':
            if ((o->workers = parse_int ("run", "-n", optarg, 1)) < 0)
                return -1;
            break;
        case 'N':
            if ((o->nodes = parse_int ("run", "--nodes", optarg, 1)) < 0)
                return -1;
            break;
        case 'R':
            o->reprocess = true;
            break;
        case 'H':
            o->rehash = true;
            break;
        case 's':
            o->state_dir = optarg;
            break;
        case 'j':
            o->json = true;
            break;
        case 'q':
            o->quiet = true;
            break;
        case 'v':
            o->verbose = true;
            break;
        case 'b':
            if (strcmp (optarg, "core") && strcmp (optarg, "none")) {
                runner_usage_error ("run", "--bind: '%s' is not core or none",
                                    optarg);
                return -1;
            }
            o->bind = optarg;
            break;
        case 'g': {
            char *end;
            o->grace = strtod (optarg, &end);
            if (*end || o->grace < 0) {
                runner_usage_error ("run", "--grace: bad value '%s'", optarg);
                return -1;
            }
            break;
        }
        default:
            runner_usage_error ("run", "unknown option '%s'",
                                argv[optind - 1]);
            return -1;
        }
    }
    if (optind != argc - 1) {
        runner_usage_error ("run", "%s", optind >= argc
                                            ? "missing SPEC"
                                            : "too many arguments");
        return -1;
    }
    o->spec_path = argv[optind];
    if (o->quiet)
        dr_log_level = LOG_WARN;
    if (o->verbose)
        dr_log_level = LOG_DEBUG;
    return 0;
}

/* Node count in this MPI world: --nodes, then PMIx or Slurm, then the
 * distinct host names of the ranks. */
static int count_nodes (const run_opts_t *o, char **hosts, int size,
                        const char **source)
{
    int n = 0;
    if (o->nodes > 0) {
        *source = "--nodes";
        return o->nodes;
    }
    if (slurm_discover_nodes (&n, source) == 0 && strcmp (*source, "default"))
        return n;
    n = 0;
    for (int i = 0; i < size; i++) {
        bool seen = false;
        for (int j = 0; j < i && !seen; j++)
            seen = !strcmp (hosts[i], hosts[j]);
        n += !seen;
    }
    *source = "mpi";
    return n > 0 ? n : 1;
}

/* Inside an MPI world: every rank parses the spec, then takes its role. */
static int run_in_world (run_opts_t *o)
{
    int rank, size, rc = EXIT_OK;
    dr_error_t err = { { 0 } };
    runner_signals_install ();
    MPI_Init (NULL, NULL);
    MPI_Comm_rank (MPI_COMM_WORLD, &rank);
    MPI_Comm_size (MPI_COMM_WORLD, &size);
    dr_log_rank = rank;
    if (rank != 0 && dr_log_level > LOG_WARN && !o->verbose)
        dr_log_level = LOG_WARN;

    char host[64] = "";
    gethostname (host, sizeof (host) - 1);
    int local_index = runner_local_worker_index (rank);
    char *all = rank == 0 ? calloc ((size_t)size, sizeof (host)) : NULL;
    MPI_Gather (host, sizeof (host), MPI_CHAR, all, sizeof (host), MPI_CHAR, 0,
                MPI_COMM_WORLD);

    jobs_spec_t *spec = jobs_spec_load (o->spec_path, o->state_dir, &err);
    if (!spec) {
        if (rank == 0)
            fprintf (stderr, "%s\n", err.text);
        rc = EXIT_USAGE;
    }
    else if (size < 2) {
        if (rank == 0)
            dr_log (LOG_ERR, "datumrun needs at least 2 MPI ranks (rank 0 "
                    "coordinates, the others work); got 1");
        rc = EXIT_USAGE;
    }
    else if (rank == 0) {
        char **hosts = calloc ((size_t)size, sizeof (char *));
        for (int i = 0; i < size; i++)
            hosts[i] = all + (size_t)i * sizeof (host);
        const char *source = "";
        int nodes = count_nodes (o, hosts, size, &source);
        dr_log (LOG_DEBUG, "%d ranks on %d nodes (from %s)", size, nodes,
                source);
        rc = runner_coordinator (o, spec, size, hosts, nodes);
        free (hosts);
    }
    else {
        if (strcmp (o->bind, "none"))
            runner_bind_worker (spec, local_index);
        rc = runner_worker (o, spec, rank) < 0 ? EXIT_FAILED : EXIT_OK;
    }
    free (all);
    char *sandbox_dir = NULL, *inflight_dir = NULL;
    if (spec && rank == 0) {
        sandbox_dir = jobs_sd_path (spec->state_dir, JOBS_SD_SANDBOX);
        inflight_dir = jobs_sd_path (spec->state_dir, JOBS_SD_INFLIGHT);
    }
    jobs_spec_destroy (spec);
    if (rank == 0) {
        /* Under our own launcher the exit status travels by file, so that
         * mpirun does not print its abnormal-termination banner. */
        const char *sf = getenv ("DATUMRUN_STATUS_FILE");
        if (sf) {
            FILE *f = fopen (sf, "w");
            if (f) {
                fprintf (f, "%d\n", rc);
                fclose (f);
            }
        }
    }
    MPI_Finalize ();
    /* Every worker removed its own folders before finalizing: the empty
     * parents go too (rmdir leaves them if a worker could not). */
    if (sandbox_dir)
        rmdir (sandbox_dir);
    if (inflight_dir)
        rmdir (inflight_dir);
    free (sandbox_dir);
    free (inflight_dir);
    if (getenv ("DATUMRUN_STATUS_FILE"))
        return 0;
    return rc;
}

static int cmd_run (int argc, char **argv)
{
    run_opts_t o;
    if (parse_run_opts (argc, argv, &o) < 0)
        return EXIT_USAGE;
    if (runner_in_mpi_world ())
        return run_in_world (&o);
    return runner_launch (&o);
}

int main (int argc, char **argv)
{
    if (argc < 2) {
        usage_all (stderr);
        return EXIT_USAGE;
    }
    if (!strcmp (argv[1], "-h") || !strcmp (argv[1], "--help"))
        return cmd_help (1, argv);
    const subcommand_t *c = find_command (argv[1]);
    if (!c) {
        fprintf (stderr, "datumrun: unknown command '%s'\n\n", argv[1]);
        usage_all (stderr);
        return EXIT_USAGE;
    }
    return c->fn (argc - 1, argv + 1);
}
