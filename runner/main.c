/* main.c: the datumrun command.  The table of commands, each with its
 * option table (see optparse.h: the tables drive parsing, help, the man
 * page and the completion).  `run` either launches itself under mpirun
 * (outside an MPI world) or, inside one, splits into rank 0 (the
 * coordinator) and the workers.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#ifdef __GLIBC__
#include <malloc.h>
#endif
#include <unistd.h>

#include "runner/container.h"
#include "runner/exec.h"
#include "runner/runner.h"
#include "slurm/slurm.h"

/* ------------------------------------------------------------ run */

/* The options of `run` (also those `campaign run` hands on to it). */
const optparse_option_t runner_run_options[] = {
    RUNNER_OPT_WORKERS,
    { .name = "nodes", .type = OPTPARSE_INT, .arg = "N", .min = 1,
      .max = JOBS_MAX_NODES,
      .help = "node count for parallelism_spec (default: PMIx, Slurm, or "
              "the hosts of the ranks)" },
    { .name = "reprocess", .help = "process every datum, changed or not" },
    { .name = "adopt",
      .help = "take over an output folder that holds files and no owner "
              "marker (files a datum writes again are replaced)" },
    { .name = "rehash",
      .help = "read every input file instead of trusting the stat cache" },
    RUNNER_OPT_STATE_DIR,
    { .name = "bind", .type = OPTPARSE_CHOICE, .arg = "core|none",
      .help = "bind each worker to cores of its own (default core)" },
    { .name = "grace", .type = OPTPARSE_NUM, .arg = "SECONDS",
      .help = "seconds running datums get to finish after a stop "
              "(default 30)" },
    { .name = "runtime", .type = OPTPARSE_CHOICE,
      .arg = "apptainer|singularity|podman|docker",
      .help = "container runtime for transform.image (default: "
              "transform.image_runtime, else the first on PATH)" },
    { .name = "scratch", .type = OPTPARSE_STR, .arg = "DIR",
      .complete = OPTPARSE_COMP_DIR,
      .help = "node-local folder for the workers' sandboxes (default: the "
              "spec's scratch, $SLURM_TMPDIR, $TMPDIR in a Slurm job, else "
              "the state folder)" },
    { .name = "oversubscribe",
      .help = "start more than 4 workers per core of the machine or "
              "allocation" },
    { .name = "log-limit", .type = OPTPARSE_STR, .arg = "SIZE",
      .help = "bytes kept per datum log stream, e.g. 10M, 1G; 0 = no limit "
              "(default 100M)" },
    RUNNER_OPT_JSON ("print one JSON object when the job ends"),
    { .name = "quiet", .key = 'q',
      .help = "no progress or information messages; the summary and "
              "errors still print" },
    { .name = "verbose", .key = 'v', .help = "debug messages" },
    { .name = "progress-interval", .type = OPTPARSE_NUM, .arg = "SECONDS",
      .help = "when standard error is not a terminal, a progress line every "
              "SECONDS (default 60; 0: none)" },
    OPTPARSE_END,
};

/* A size such as "10M", "100MiB", "1G" or "4096" (bytes); 0 = no limit. */
static int parse_size (const char *s, uint64_t *out)
{
    char *end;
    errno = 0;
    if (*s < '0' || *s > '9')
        return -1;
    unsigned long long v = strtoull (s, &end, 10);
    if (errno == ERANGE)
        return -1;
    uint64_t mult = 1;
    switch (*end) {
    case 'k': case 'K': mult = 1ull << 10; end++; break;
    case 'm': case 'M': mult = 1ull << 20; end++; break;
    case 'g': case 'G': mult = 1ull << 30; end++; break;
    case 't': case 'T': mult = 1ull << 40; end++; break;
    default: break;
    }
    if (mult > 1 && (!strcmp (end, "iB") || !strcmp (end, "B")))
        end += strlen (end);
    if (*end || (v && mult > UINT64_MAX / v))
        return -1;
    *out = (uint64_t)v * mult;
    return 0;
}

static int parse_run_opts (optparse_t *p, run_opts_t *o)
{
    memset (o, 0, sizeof (*o));
    o->oversubscribe = optparse_has (p, "oversubscribe");
    o->log_limit = DR_LOG_LIMIT_DEFAULT;
    const char *ll = optparse_str (p, "log-limit", NULL);
    if (ll && parse_size (ll, &o->log_limit) < 0) {
        optparse_error (p, "--log-limit: bad size '%s' (e.g. 10M, 100MiB, "
                        "1G, or bytes; 0 = no limit)", ll);
        return -1;
    }
    o->spec_path = optparse_pos (p, 0);
    o->workers = optparse_int (p, "workers", 0);
    o->nodes = optparse_int (p, "nodes", 0);
    o->reprocess = optparse_has (p, "reprocess");
    o->rehash = optparse_has (p, "rehash");
    o->adopt = optparse_has (p, "adopt");
    o->state_dir = optparse_str (p, "state-dir", NULL);
    o->bind = optparse_str (p, "bind", "core");
    o->scratch = optparse_str (p, "scratch", NULL);
    o->grace = optparse_num (p, "grace", 30);
    o->progress_interval = optparse_num (p, "progress-interval", 60);
    o->runtime = optparse_str (p, "runtime", NULL);
    o->json = optparse_has (p, "json");
    o->quiet = optparse_has (p, "quiet");
    o->verbose = optparse_has (p, "verbose");
    o->argv = optparse_argv (p, &o->argc);
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
    /* The launcher's status file is ours alone: keep it out of the
     * environment the user's commands inherit. */
    char *status_file = NULL;
    /* Set by the launcher for rank 0; never for the commands. */
    const char *tl = getenv ("DATUMRUN_PROGRESS_TTY");
    o->tty_line = tl && !strcmp (tl, "1");
    unsetenv ("DATUMRUN_PROGRESS_TTY");
    if (getenv ("DATUMRUN_STATUS_FILE")) {
        status_file = strdup (getenv ("DATUMRUN_STATUS_FILE"));
        unsetenv ("DATUMRUN_STATUS_FILE");
    }
    runner_signals_install ();
    proto_t *proto = proto_init (&rank, &size, &err);
    if (!proto) {
        fprintf (stderr, "datumrun: %s\n", err.text);
        return EXIT_USAGE;
    }
    dr_log_rank = rank;
    if (rank != 0 && dr_log_level > LOG_WARN && !o->verbose)
        dr_log_level = LOG_WARN;

    char host[PROTO_HOST_MAX] = "";
    gethostname (host, sizeof (host) - 1);
    int local_index = proto_local_worker_index (proto, rank);
    char *all = rank == 0 ? calloc ((size_t)size, PROTO_HOST_MAX) : NULL;
    int *pids = rank == 0 ? calloc ((size_t)size, sizeof (int)) : NULL;
    if (proto_hello (proto, host, all, pids, &err) < 0) {
        if (rank == 0 || !strstr (err.text, "protocol version"))
            dr_log (LOG_ERR, "%s", err.text);
        free (all);
        free (pids);
        proto_finalize (proto, false);
        return EXIT_USAGE;
    }

    jobs_spec_t *spec = jobs_spec_load (o->spec_path, o->state_dir, &err);
    container_t ct = { 0 };
    if (!spec) {
        if (rank == 0)
            fprintf (stderr, "%s\n", err.text);
        rc = EXIT_USAGE;
    }
    else if (container_setup (&ct, spec, o->runtime, &err) < 0) {
        if (rank == 0)
            fprintf (stderr, "%s\n", err.text);
        rc = EXIT_USAGE;
    }
    else if (io_check_spec_folders (spec, &err) < 0) {
        /* Every rank checks, so that all of them stop; rank 0 says why. */
        if (rank == 0)
            fprintf (stderr, "%s\n", err.text);
        rc = EXIT_USAGE;
    }
    else if (runner_check_scratch (o, spec, rank == 0) < 0)
        rc = EXIT_USAGE;
    else if (size < 2) {
        if (rank == 0)
            dr_log (LOG_ERR, "datumrun needs at least 2 MPI ranks (rank 0 "
                    "coordinates, the others work); got 1");
        rc = EXIT_USAGE;
    }
    /* GPUs per worker: each takes its own; rank 0 learns who has none. */
    char near_cpus[1024] = "";
    int gpu_ok = 1, *oks = NULL;
    if (rc == EXIT_OK && spec && spec->gpu > 0 && size >= 2) {
        if (rank != 0)
            gpu_ok = runner_gpu_setup (spec, local_index, near_cpus,
                                       sizeof (near_cpus));
        if (rank == 0 && !(oks = calloc ((size_t)size, sizeof (int))))
            abort ();
        if (proto_gather_int (proto, gpu_ok, oks, &err) < 0) {
            dr_log (LOG_ERR, "%s", err.text);
            rc = EXIT_FAILED;
        }
        o->worker_ok = oks;
    }
    if (rc != EXIT_OK || !spec || size < 2)
        ;
    else if (rank == 0) {
        char **hosts = calloc ((size_t)size, sizeof (char *));
        for (int i = 0; i < size; i++)
            hosts[i] = all + (size_t)i * PROTO_HOST_MAX;
        const char *source = "";
        int nodes = count_nodes (o, hosts, size, &source);
        dr_log (LOG_DEBUG, "%d ranks on %d nodes (from %s)", size, nodes,
                source);
        rc = runner_coordinator (o, spec, proto, size, hosts, pids, nodes);
        free (hosts);
    }
    else {
        o->container = ct.kind != CONTAINER_NONE ? &ct : NULL;
        if (strcmp (o->bind, "none"))
            runner_bind_worker (spec, local_index, near_cpus);
        runner_ro_setup (spec);
        rc = runner_worker (o, spec, proto, rank) < 0 ? EXIT_FAILED
                                                       : EXIT_OK;
    }
    free (all);
    free (pids);
    free (oks);
    o->worker_ok = NULL;
    char *sandbox_dir = NULL, *inflight_dir = NULL;
    if (spec && rank == 0) {
        sandbox_dir = jobs_sd_path (spec->state_dir, JOBS_SD_SANDBOX);
        inflight_dir = jobs_sd_path (spec->state_dir, JOBS_SD_INFLIGHT);
    }
    jobs_spec_destroy (spec);
    container_free (&ct);
    o->container = NULL;
    if (rank == 0) {
        /* Under our own launcher the exit status travels by file, so that
         * mpirun does not print its abnormal-termination banner. */
        if (status_file) {
            FILE *f = fopen (status_file, "w");
            if (f) {
                fprintf (f, "%d\n", rc);
                fclose (f);
            }
        }
    }
    /* After a loss, MPI_Finalize would wait for the dead rank: every
     * result is on disk, so leave without it (docs/cluster.md). */
    bool abandon = proto_peer_lost (proto);
    proto_finalize (proto, abandon);
    /* Every worker removed its own folders before finalizing: the empty
     * parents go too (rmdir leaves them if a worker could not). */
    if (sandbox_dir)
        rmdir (sandbox_dir);
    if (inflight_dir)
        rmdir (inflight_dir);
    free (sandbox_dir);
    free (inflight_dir);
    if (status_file) {
        free (status_file);
        return 0;
    }
    return rc;
}

static int cmd_run (optparse_t *p)
{
    run_opts_t o;
    if (parse_run_opts (p, &o) < 0)
        return EXIT_USAGE;
    if (runner_in_mpi_world ())
        return run_in_world (&o);
    return runner_launch (&o);
}

/* ----------------------------------------------------------- the table */

static int cmd_help (optparse_t *p);
static int cmd_version (optparse_t *p);

static const optparse_option_t help_options[] = {
    { .name = "man", .type = OPTPARSE_STR, .arg = "TEMPLATE",
      .complete = OPTPARSE_COMP_FILE,
      .help = "print the man page: TEMPLATE (docs/datumrun.1.in) with the "
              "commands and options filled in" },
    { .name = "bash-completion",
      .help = "print the bash completion script" },
    { .name = "list-commands",
      .help = "print every command's name, one per line" },
    { .name = "list-options",
      .help = "print every option COMMAND accepts, one per line" },
    { .name = "output", .key = 'o', .type = OPTPARSE_STR, .arg = "FILE",
      .complete = OPTPARSE_COMP_FILE,
      .help = "write to FILE instead of standard output" },
    OPTPARSE_END,
};

static const optparse_cmd_t campaign_commands[] = {
    { .name = "run", .args = "DIR|SPEC...", .fn = cmd_campaign_run,
      .summary = "run the pipelines in dependency order, each incrementally; "
                 "a failure skips what is downstream of it",
      .options = runner_run_options, .complete = OPTPARSE_COMP_SPEC,
      .description = "Each DIR contributes the *.json specs in it.  The "
                     "options are those of `run`, handed on to each "
                     "pipeline's run." },
    { .name = "sbatch", .args = "DIR|SPEC...", .fn = cmd_campaign_sbatch,
      .summary = "write (or submit) one Slurm job per pipeline, chained "
                 "with --dependency=afterok",
      .options = runner_campaign_sbatch_options,
      .complete = OPTPARSE_COMP_SPEC,
      .flags = OPTPARSE_CMD_EXTRA | OPTPARSE_CMD_SBATCH_HINT,
      .extra = "[-- SBATCH_ARGS...]" },
    { .name = NULL },
};

static const optparse_cmd_t commands[] = {
    { .name = "run", .args = "SPEC", .fn = cmd_run,
      .summary = "run the pipeline: process new and changed datums",
      .options = runner_run_options, .complete = OPTPARSE_COMP_SPEC,
      .description = "Outside an MPI world, run starts itself under mpirun "
                     "with one rank per worker plus rank 0; under mpirun or "
                     "srun it uses the ranks it has." },
    { .name = "plan", .args = "SPEC", .fn = cmd_plan,
      .summary = "dry run: list the datums and which would be processed or "
                 "skipped",
      .options = runner_plan_options, .complete = OPTPARSE_COMP_SPEC },
    { .name = "list-job", .args = "SPEC", .fn = cmd_list_job,
      .summary = "list the pipeline's jobs, newest first",
      .options = runner_inspect_options, .complete = OPTPARSE_COMP_SPEC },
    { .name = "inspect-job", .args = "SPEC JOB", .fn = cmd_inspect_job,
      .summary = "show one job (JOB may be a unique prefix)",
      .options = runner_inspect_options, .complete = OPTPARSE_COMP_SPEC },
    { .name = "list-datum", .args = "SPEC [JOB]", .fn = cmd_list_datum,
      .summary = "list the datums of a job (default: the latest)",
      .options = runner_list_datum_options,
      .complete = OPTPARSE_COMP_SPEC },
    { .name = "inspect-datum", .args = "SPEC JOB DATUM",
      .fn = cmd_inspect_datum,
      .summary = "show one datum of a job, with its attempts in every job",
      .options = runner_inspect_options, .complete = OPTPARSE_COMP_SPEC },
    { .name = "why", .args = "PATH", .fn = cmd_why,
      .summary = "which datum, inputs, code and job made an output file, "
                 "followed upstream through chained pipelines",
      .options = runner_why_options, .complete = OPTPARSE_COMP_FILE,
      .description = "PATH is a file or folder in some pipeline's output "
                     "folder, found through the folder's owner marker. "
                     "Each input entry is shown with its content hash as "
                     "recorded and whether it still has it (current or "
                     "stale); an entry in another pipeline's output folder "
                     "is explained in turn, down to raw inputs.  With "
                     "--stale, PATH is a spec: its outputs that a rerun "
                     "would redo, and why; exit 1 when there are any." },
    { .name = "logs", .args = "SPEC DATUM", .fn = cmd_logs,
      .summary = "print a datum's stdout and stderr (DATUM may be a unique "
                 "prefix)",
      .options = runner_logs_options, .complete = OPTPARSE_COMP_SPEC },
    { .name = "status", .args = "SPEC", .fn = cmd_status,
      .summary = "the running job's counts, rate, ETA and workers, from any "
                 "shell",
      .options = runner_status_options, .complete = OPTPARSE_COMP_SPEC,
      .description = "Reads the status file that rank 0 rewrites in the "
                     "state folder about once a second (never MPI).  A "
                     "status not updated for 30 seconds is a job that died "
                     "without saying so." },
    { .name = "report", .args = "SPEC [JOB]", .fn = cmd_report,
      .summary = "write a self-contained HTML report of a job (default: "
                 "the latest)",
      .options = runner_report_options, .complete = OPTPARSE_COMP_SPEC,
      .description = "The page has the job's counters, a timeline with one "
                     "row per worker and a bar per attempt coloured by "
                     "outcome, a histogram of datum durations, each "
                     "worker's and node's busy fraction, the slowest datums "
                     "and the failures with their log files.  It needs no "
                     "network.  Beyond 5000 attempts the timeline shows "
                     "busy time per worker in time bins, and says so." },
    { .name = "sbatch", .args = "SPEC", .fn = cmd_sbatch,
      .summary = "write (or submit) a Slurm batch script for the pipeline",
      .options = runner_sbatch_options, .complete = OPTPARSE_COMP_SPEC,
      .flags = OPTPARSE_CMD_EXTRA | OPTPARSE_CMD_SBATCH_HINT,
      .extra = "[-- SBATCH_ARGS...]",
      .description = "Without --submit or --dry-run the script goes to "
                     "standard output.  What follows `--` is added to the "
                     "script as #SBATCH lines, as it is." },
    { .name = "campaign", .sub = campaign_commands,
      .summary = "run chained pipelines in dependency order",
      .description = "A pipeline whose input repo is (or lies inside) "
                     "another pipeline's output folder runs after it." },
    { .name = "info", .fn = cmd_info,
      .summary = "this machine: nodes, cores and NUMA (hwloc); MPI, PMIx "
                 "and Slurm found; library versions",
      .options = runner_info_options },
    { .name = "next", .fn = cmd_next, .options = runner_next_options,
      .summary = "in a batched command: finish the current datum, print the "
                 "next one's variables",
      .description = "Exits 1 when there are no more datums (see "
                     "docs/batching.md)." },
    { .name = "help", .args = "[COMMAND [SUBCOMMAND]]", .fn = cmd_help,
      .summary = "show the help of a command (or the list of commands)",
      .options = help_options, .complete = OPTPARSE_COMP_COMMAND },
    { .name = "version", .fn = cmd_version,
      .summary = "print the versions of datumrun and of the libraries it "
                 "runs with (also --version)" },
    { .name = NULL },
};

static int cmd_help (optparse_t *p)
{
    const char *out = optparse_str (p, "output", NULL);
    FILE *f = stdout;
    int rc = EXIT_OK;
    if (out && !(f = fopen (out, "w"))) {
        fprintf (stderr, "datumrun help: %s: %s\n", out, strerror (errno));
        return EXIT_USAGE;
    }
    const optparse_cmd_t *c = NULL;
    char name[128] = "";
    if (optparse_npos (p) > 0) {
        snprintf (name, sizeof (name), "%s%s%s", optparse_pos (p, 0),
                  optparse_npos (p) > 1 ? " " : "",
                  optparse_npos (p) > 1 ? optparse_pos (p, 1) : "");
        if (!(c = optparse_lookup (commands, name))) {
            rc = optparse_error (p, "no command '%s'", name);
            goto out;
        }
    }
    if (optparse_has (p, "man")) {
        if (optparse_print_man (f, "datumrun", DATUMRUN_VERSION,
                                optparse_str (p, "man", NULL), commands) < 0) {
            fprintf (stderr, "datumrun help: %s: %s\n",
                     optparse_str (p, "man", NULL), strerror (errno));
            rc = EXIT_USAGE;
        }
    }
    else if (optparse_has (p, "bash-completion"))
        optparse_print_bash (f, "datumrun", commands);
    else if (optparse_has (p, "list-commands"))
        optparse_print_commands (f, commands);
    else if (optparse_has (p, "list-options")) {
        if (!c)
            rc = optparse_error (p, "%s", "--list-options needs a COMMAND");
        else
            optparse_print_options (f, c);
    }
    else
        optparse_print_help (f, "datumrun", name, c, commands);
out:
    if (f != stdout && fclose (f) != 0 && rc == EXIT_OK) {
        fprintf (stderr, "datumrun help: %s: %s\n", out, strerror (errno));
        rc = EXIT_USAGE;
    }
    return rc;
}

static int cmd_version (optparse_t *p)
{
    runner_print_versions (stdout);
    return EXIT_OK;
}

int main (int argc, char **argv)
{
#ifdef __GLIBC__
    /* A fixed mmap threshold: glibc's moving one (raised to the size of
     * each large block freed, up to 32 MiB) puts rank 0's growing arrays
     * (the stat cache's paths, the plan's entries) on the heap after the
     * manifest's load, where each doubling leaves the old copy resident.
     * Above it, a block grows by mremap and is given back when freed. */
    mallopt (M_MMAP_THRESHOLD, 256 * 1024);
#endif
    /* A worker's keeper (keeper.c), not a command for users. */
    if ((argc == 2 || argc == 3) && !strcmp (argv[1], "__keeper"))
        return keeper_main (argc == 3 ? argv[2] : NULL);
    if (argc > 1 && (!strcmp (argv[1], "--version")
                     || !strcmp (argv[1], "-V")))
        argv[1] = (char *)"version";
    return optparse_main (commands, "datumrun", argc, argv);
}
