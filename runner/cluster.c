/* cluster.c: the commands about the machine and the batch system:
 * `sbatch` (write or submit a batch script sized from the spec) and `info`
 * (nodes, topology, MPI/PMIx/Slurm found). */
#define _GNU_SOURCE
#include <getopt.h>
#include <jansson.h>
#include <mpi.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "runner/runner.h"
#include "slurm/slurm.h"

int runner_self_exe (char *buf, size_t len)
{
    ssize_t n = readlink ("/proc/self/exe", buf, len - 1);
    if (n < 0)
        return -1;
    buf[n] = '\0';
    return 0;
}

int cmd_sbatch (int argc, char **argv)
{
    static const struct option longopts[] = {
        { "nodes", required_argument, NULL, 'N' },
        { "workers", required_argument, NULL, 'n' },
        { "time", required_argument, NULL, 't' },
        { "partition", required_argument, NULL, 'p' },
        { "account", required_argument, NULL, 'A' },
        { "grace", required_argument, NULL, 'g' },
        { "state", required_argument, NULL, 's' },
        { "log-dir", required_argument, NULL, 'L' },
        { "overcommit", no_argument, NULL, 'O' },
        { "dry-run", no_argument, NULL, 'D' },
        { "submit", no_argument, NULL, 'S' },
        { NULL, 0, NULL, 0 },
    };
    slurm_sbatch_opts_t so = { 0 };
    const char *state = NULL;
    bool dry = false, submit = false;
    int c;
    optind = 1;
    opterr = 0;
    while ((c = getopt_long (argc, argv, "n:t:p:A:", longopts, NULL)) != -1) {
        switch (c) {
        case 'N':
            so.nodes = atoi (optarg);
            if (so.nodes < 1)
                return runner_usage_error ("sbatch", "--nodes: bad value '%s'",
                                           optarg);
            break;
        case 'n':
            so.workers = atoi (optarg);
            if (so.workers < 1)
                return runner_usage_error ("sbatch", "-n: bad value '%s'",
                                           optarg);
            break;
        case 't':
            so.time = optarg;
            break;
        case 'p':
            so.partition = optarg;
            break;
        case 'A':
            so.account = optarg;
            break;
        case 'g':
            so.grace = atoi (optarg);
            break;
        case 's':
            state = optarg;
            break;
        case 'L':
            so.log_dir = optarg;
            break;
        case 'O':
            so.overcommit = true;
            break;
        case 'D':
            dry = true;
            break;
        case 'S':
            submit = true;
            break;
        default:
            return runner_usage_error ("sbatch", "unknown option '%s'",
                                       argv[optind - 1]);
        }
    }
    if (optind >= argc)
        return runner_usage_error ("sbatch", "%s", "missing SPEC");
    const char *spec_path = argv[optind++];
    if (optind < argc && !strcmp (argv[optind], "--"))
        optind++;
    /* Everything after SPEC (and an optional --) goes to sbatch as is. */
    so.extra = (const char *const *)(argv + optind);
    so.nextra = (size_t)(argc - optind);

    dr_error_t err = { { 0 } };
    jobs_spec_t *spec = runner_load_spec (spec_path, state);
    if (!spec)
        return EXIT_USAGE;
    char exe[4096], abs_spec[4096];
    if (runner_self_exe (exe, sizeof (exe)) < 0) {
        fprintf (stderr, "datumrun sbatch: cannot find my own executable\n");
        jobs_spec_destroy (spec);
        return EXIT_USAGE;
    }
    snprintf (abs_spec, sizeof (abs_spec), "%s", spec->path);
    so.datumrun = exe;
    so.spec_path = abs_spec;
    char *logdir = NULL;
    if (!so.log_dir) {
        if (!(logdir = jobs_sd_path (spec->state_dir, JOBS_SD_SLURM))) {
            jobs_spec_destroy (spec);
            return EXIT_USAGE;
        }
        so.log_dir = logdir;
    }
    char *script = slurm_sbatch_script (spec, &so, &err);
    if (!script) {
        fprintf (stderr, "datumrun sbatch: %s\n", err.text);
        free (logdir);
        jobs_spec_destroy (spec);
        return EXIT_USAGE;
    }
    int rc = EXIT_OK;
    if (dry) {
        slurm_sbatch_size_t sz;
        slurm_sbatch_size (spec, &so, &sz, &err);
        fprintf (stderr, "datumrun sbatch: spec %s is valid; would submit "
                 "%d tasks (%d workers + rank 0)%s, log in %s\n", spec->path,
                 sz.ntasks, sz.workers, sz.nodes ? " on the nodes below" : "",
                 so.log_dir);
        fputs (script, stdout);
    }
    else if (submit) {
        char jobid[64];
        if (io_mkdirs (so.log_dir, 0755) < 0) {
            fprintf (stderr, "datumrun sbatch: cannot create %s\n",
                     so.log_dir);
            rc = EXIT_USAGE;
        }
        else if (slurm_submit (script, jobid, sizeof (jobid), &err) < 0) {
            fprintf (stderr, "datumrun sbatch: %s\n", err.text);
            rc = EXIT_USAGE;
        }
        else
            printf ("%s\n", jobid);
    }
    else
        fputs (script, stdout);
    free (script);
    free (logdir);
    jobs_spec_destroy (spec);
    return rc;
}

int cmd_info (int argc, char **argv)
{
    bool json = argc > 1 && !strcmp (argv[1], "--json");
    if (argc > 1 && !json)
        return runner_usage_error ("info", "unknown option '%s'", argv[1]);
    dr_error_t err = { { 0 } };
    int nodes = 1;
    const char *source = "default";
    slurm_discover_nodes (&nodes, &source);
    slurm_topo_t *t = slurm_topo_load (&err);
    char host[256] = "";
    gethostname (host, sizeof (host) - 1);
    char mpiver[MPI_MAX_LIBRARY_VERSION_STRING] = "";
    int len = 0;
    MPI_Get_library_version (mpiver, &len);
    char *nl = strchr (mpiver, ',');
    if (nl)
        *nl = '\0';
    const char *pmix = getenv ("PMIX_NAMESPACE");
    const char *sjob = getenv ("SLURM_JOB_ID");
    bool have_srun = access ("/usr/bin/srun", X_OK) == 0;
    if (json) {
        json_t *o = json_pack ("{s:s, s:i, s:s, s:s, s:b, s:s?, s:b}",
                               "host", host, "nodes", nodes, "nodes_source",
                               source, "mpi", mpiver, "pmix", pmix != NULL,
                               "slurm_job_id", sjob, "slurm", have_srun);
        if (t) {
            json_object_set_new (o, "packages",
                                 json_integer (slurm_topo_packages (t)));
            json_object_set_new (o, "numa_nodes",
                                 json_integer (slurm_topo_numa_nodes (t)));
            json_object_set_new (o, "cores",
                                 json_integer (slurm_topo_cores (t)));
            json_object_set_new (o, "pus", json_integer (slurm_topo_pus (t)));
        }
        char *s = json_dumps (o, JSON_COMPACT | JSON_PRESERVE_ORDER);
        printf ("%s\n", s);
        free (s);
        json_decref (o);
    }
    else {
        char topo[256] = "unknown";
        if (t)
            slurm_topo_describe (t, topo, sizeof (topo));
        printf ("host:      %s\n", host);
        printf ("nodes:     %d (from %s)\n", nodes, source);
        printf ("topology:  %s\n", t ? topo : err.text);
        printf ("mpi:       %s\n", mpiver);
        printf ("pmix:      %s\n", pmix ? pmix : "not in a PMIx job");
        printf ("slurm:     %s%s%s\n", have_srun ? "srun found" : "no srun",
                sjob ? ", job " : "", sjob ? sjob : "");
    }
    slurm_topo_destroy (t);
    return 0;
}

int cmd_campaign (int argc, char **argv)
{
    return runner_campaign (argc, argv);
}
