/* cluster.c: the commands about the machine and the batch system:
 * `sbatch` (write or submit a batch script sized from the spec) and `info`
 * (nodes, topology, MPI/PMIx/Slurm found). */
#define _GNU_SOURCE
#include <errno.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "runner/container.h"
#include "runner/runner.h"
#include "slurm/slurm.h"

const optparse_option_t runner_sbatch_options[] = {
    { .name = "nodes", .key = 'N', .type = OPTPARSE_INT, .arg = "N",
      .min = 1, .max = 1000000,
      .help = "nodes to ask for (default: what the spec's parallelism "
              "needs)" },
    { .name = "workers", .key = 'n', .type = OPTPARSE_INT, .arg = "N",
      .min = 1, .max = 1000000,
      .help = "worker ranks (default: from the spec's parallelism_spec)" },
    { .name = "time", .key = 't', .type = OPTPARSE_STR, .arg = "TIME",
      .help = "Slurm time limit (default: from job_timeout)" },
    { .name = "partition", .key = 'p', .type = OPTPARSE_STR,
      .arg = "PARTITION", .help = "Slurm partition" },
    { .name = "account", .key = 'A', .type = OPTPARSE_STR, .arg = "ACCOUNT",
      .help = "Slurm account" },
    { .name = "grace", .type = OPTPARSE_INT, .arg = "SECONDS",
      .max = 1000000,
      .help = "seconds before the time limit at which Slurm signals the "
              "job to stop gracefully (default 120; 0: no signal)" },
    RUNNER_OPT_STATE_DIR,
    { .name = "log-dir", .type = OPTPARSE_STR, .arg = "DIR",
      .complete = OPTPARSE_COMP_DIR,
      .help = "folder of the Slurm log (default: STATE/slurm)" },
    { .name = "overcommit",
      .help = "let rank 0 share a core with a worker (sbatch --overcommit)" },
    { .name = "dry-run",
      .help = "check the spec, and the job against the partition, print "
              "the script and its size, submit nothing" },
    { .name = "submit", .help = "check the job against the partition, "
              "submit the script and print the job ID (and the log path "
              "on stderr)" },
    OPTPARSE_END,
};

/* Check the job against its partition: the node table first (it can say
 * why and what would fit), then Slurm's own `sbatch --test-only`.  Prints
 * the verdict on stderr.  Returns -1 when the job can never start, 0
 * otherwise (also when there is no Slurm to ask: the check is skipped with
 * a note).
 */
static int sbatch_verdict (const slurm_sbatch_size_t *sz,
                           const slurm_sbatch_opts_t *so, const char *script)
{
    dr_error_t err = { { 0 } };
    char part[128] = "", why[1024];
    size_t n = 0;
    slurm_node_info_t *nodes = slurm_partition_nodes (so->partition, &n, part,
                                                      sizeof (part), &err);
    if (!nodes) {
        fprintf (stderr, "datumrun sbatch: not checked against the "
                 "partition: %s\n", err.text);
        return 0;
    }
    int fit = slurm_fit_check (sz, so->overcommit, nodes, n, why,
                               sizeof (why));
    free (nodes);
    if (fit == 0) {
        fprintf (stderr, "datumrun sbatch: this job can never start on "
                 "partition %s (%zu node%s): %s\n", part, n,
                 n == 1 ? "" : "s", why);
        return -1;
    }
    char verdict[1024];
    int t = slurm_test_only (script, verdict, sizeof (verdict), &err);
    if (t < 0) {
        fprintf (stderr, "datumrun sbatch: fits partition %s; sbatch "
                 "--test-only could not run: %s\n", part, err.text);
        return 0;
    }
    if (t == 0) {
        fprintf (stderr, "datumrun sbatch: Slurm refuses this job on "
                 "partition %s: %s\n", part, verdict);
        return -1;
    }
    fprintf (stderr, "datumrun sbatch: fits partition %s (%zu node%s); "
             "Slurm: %s\n", part, n, n == 1 ? "" : "s", verdict);
    return 0;
}

int cmd_sbatch (optparse_t *p)
{
    slurm_sbatch_opts_t so = { 0 };
    so.nodes = optparse_int (p, "nodes", 0);
    so.workers = optparse_int (p, "workers", 0);
    so.time = optparse_str (p, "time", NULL);
    so.partition = optparse_str (p, "partition", NULL);
    so.account = optparse_str (p, "account", NULL);
    so.grace = optparse_int (p, "grace", 0);
    so.grace_given = optparse_has (p, "grace");
    so.log_dir = optparse_str (p, "log-dir", NULL);
    so.overcommit = optparse_has (p, "overcommit");
    const char *state = optparse_str (p, "state-dir", NULL);
    bool dry = optparse_has (p, "dry-run");
    bool submit = optparse_has (p, "submit");
    const char *spec_path = optparse_pos (p, 0);
    /* What follows "--" goes to sbatch as is. */
    int nextra;
    so.extra = (const char *const *)optparse_extra (p, &nextra);
    so.nextra = (size_t)nextra;

    dr_error_t err = { { 0 } };
    jobs_spec_t *spec = runner_load_spec (spec_path, state);
    if (!spec)
        return EXIT_USAGE;
    char *exe = runner_self_exe ();
    if (!exe) {
        fprintf (stderr, "datumrun sbatch: cannot find my own executable: "
                 "%s\n", strerror (errno));
        jobs_spec_destroy (spec);
        return EXIT_USAGE;
    }
    so.datumrun = exe;
    so.spec_path = spec->path;   /* lives until spec is destroyed, below */
    char *logdir = NULL;
    if (!so.log_dir) {
        if (!(logdir = jobs_sd_path (spec->state_dir, JOBS_SD_SLURM))) {
            free (exe);
            jobs_spec_destroy (spec);
            return EXIT_USAGE;
        }
        so.log_dir = logdir;
    }
    char *script = slurm_sbatch_script (spec, &so, &err);
    if (!script) {
        fprintf (stderr, "datumrun sbatch: %s\n", err.text);
        free (logdir);
        free (exe);
        jobs_spec_destroy (spec);
        return EXIT_USAGE;
    }
    int rc = EXIT_OK;
    slurm_sbatch_size_t sz;
    slurm_sbatch_size (spec, &so, &sz, &err);
    if (sz.nodes < sz.nodes_asked)
        fprintf (stderr, "datumrun sbatch: %d worker%s on --nodes %d: asking "
                 "for %d node%s (Slurm would shrink the job anyway)\n",
                 sz.workers, sz.workers == 1 ? "" : "s", sz.nodes_asked,
                 sz.nodes, sz.nodes == 1 ? "" : "s");
    if (dry || submit) {
        /* Refuse what can never start rather than leave it pending. */
        if (sbatch_verdict (&sz, &so, script) < 0)
            rc = EXIT_USAGE;
    }
    if (dry) {
        fprintf (stderr, "datumrun sbatch: spec %s is valid; would submit "
                 "%d workers + rank 0%s, log in %s\n", spec->given,
                 sz.workers, sz.nodes ? " on the nodes below" : "",
                 so.log_dir);
        fputs (script, stdout);
    }
    else if (submit && rc == EXIT_OK) {
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
        else {
            /* The job id alone on stdout, for scripts; where its log
             * goes (--output=<log dir>/%x-%j.out) on stderr. */
            printf ("%s\n", jobid);
            fflush (stdout);
            fprintf (stderr, "datumrun sbatch: submitted job %s; log %s/"
                     "datumrun-%s-%s.out\n", jobid, so.log_dir, spec->name,
                     jobid);
        }
    }
    else if (!submit)
        fputs (script, stdout);
    free (script);
    free (logdir);
    free (exe);
    jobs_spec_destroy (spec);
    return rc;
}

const optparse_option_t runner_info_options[] = {
    RUNNER_OPT_JSON ("print one JSON object"),
    OPTPARSE_END,
};

int cmd_info (optparse_t *p)
{
    bool json = optparse_has (p, "json");
    dr_error_t err = { { 0 } };
    int nodes = 1;
    const char *source = "default";
    slurm_discover_nodes (&nodes, &source);
    slurm_topo_t *t = slurm_topo_load (&err);
    char host[256] = "";
    gethostname (host, sizeof (host) - 1);
    char mpiver[512] = "";
    proto_library_version (mpiver, sizeof (mpiver));
    char *nl = strchr (mpiver, ',');
    if (nl)
        *nl = '\0';
    const char *pmix = getenv ("PMIX_NAMESPACE");
    const char *sjob = getenv ("SLURM_JOB_ID");
    bool have_srun = access ("/usr/bin/srun", X_OK) == 0;
    char *ctpath = NULL;
    container_kind_t ct = container_detect (&ctpath);
    char ro_why[256];
    bool ro = runner_ro_probe (ro_why, sizeof (ro_why));
    slurm_gpus_t gpus = { 0 };
    slurm_gpus_discover (&gpus);
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
        json_t *ga = json_array ();
        for (int i = 0; i < gpus.n; i++)
            json_array_append_new (ga, json_pack ("{s:s, s:s?}", "id",
                                                  gpus.v[i].id, "cpus",
                                                  gpus.v[i].cpus[0]
                                                      ? gpus.v[i].cpus
                                                      : NULL));
        json_object_set_new (o, "gpus", ga);
        json_object_set_new (o, "gpus_source",
                             json_string (gpus.source ? gpus.source : "none"));
        json_object_set_new (o, "inputs", json_pack ("{s:s, s:s}", "mode",
                                                     ro ? "read-only"
                                                        : "writable",
                                                     "why", ro_why));
        json_object_set_new (o, "versions", runner_versions_json ());
        json_object_set_new (o, "container_runtime",
                             ct ? json_string (container_kind_name (ct))
                                : json_null ());
        json_object_set_new (o, "container_runtime_path",
                             ctpath ? json_string (ctpath) : json_null ());
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
        printf ("gpus:      %d (from %s)", gpus.n,
                gpus.source ? gpus.source : "none");
        for (int i = 0; i < gpus.n; i++)
            printf ("%s%s%s%s%s", i ? ", " : ": ", gpus.v[i].id,
                    gpus.v[i].cpus[0] ? " near CPUs " : "",
                    gpus.v[i].cpus[0] ? gpus.v[i].cpus : "", "");
        printf ("\n");
        printf ("inputs:    %s to commands (%s)\n",
                ro ? "read-only" : "writable", ro_why);
        char vers[1024];
        runner_versions_line (vers, sizeof (vers));
        printf ("versions:  %s\n", vers);
        if (ct)
            printf ("container: %s (%s; transform.image_runtime or --runtime "
                    "choose another)\n", container_kind_name (ct), ctpath);
        else
            printf ("container: none of apptainer, singularity, podman, "
                    "docker on PATH (transform.image cannot run)\n");
    }
    free (ctpath);
    slurm_topo_destroy (t);
    slurm_gpus_clear (&gpus);
    return 0;
}
