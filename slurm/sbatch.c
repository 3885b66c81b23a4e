/* sbatch.c: the batch script `datumrun sbatch` writes.  An allocation of
 * the workers' resources (tasks per node, CPUs, GPUs per node, memory) and
 * one job step of workers + 1 ranks (rank 0 coordinates, sharing CPUs)
 * started by `srun --mpi=pmix`, sized from the spec's parallelism the same way
 * sched_workers() sizes a run, so that the ranks Slurm grants are the
 * ranks the run inside wants.  The script is meant to be read: every
 * choice that is not obvious carries a comment, and every value taken from
 * the user is quoted for whoever parses it (sbatch or the shell).
 */
#define _GNU_SOURCE /* asprintf, open_memstream */
#include <errno.h>
#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "slurm/private.h"
#include "slurm/slurm.h"

int slurm_sbatch_size (const jobs_spec_t *spec, const slurm_sbatch_opts_t *o,
                       slurm_sbatch_size_t *size, dr_error_t *err)
{
    slurm_sbatch_size_t sz = { 0 };

    if (!spec || !o || !size) {
        errno = EINVAL;
        return dr_errprintf (err, "sbatch sizing: missing argument");
    }
    if (o->nodes < 0) {
        errno = EINVAL;
        return dr_errprintf (err, "--nodes must be at least 1 (got %d)",
                             o->nodes);
    }
    if (o->workers < 0) {
        errno = EINVAL;
        return dr_errprintf (err, "-n must be at least 1 (got %d)",
                             o->workers);
    }
    sz.nodes = o->nodes;
    if (o->workers > 0)
        sz.workers = o->workers;
    else if (spec->par_constant > 0)
        sz.workers = spec->par_constant;
    else {
        /* The same arithmetic as sched_workers(), which the run inside the
         * job applies to the node count it discovers: keep them equal. */
        double c = spec->par_coefficient > 0 ? spec->par_coefficient : 1.0;
        if (sz.nodes == 0)
            sz.nodes = 1;
        double w = floor (c * (double)sz.nodes);
        sz.workers = w < 1 ? 1 : w > 1e6 ? 1000000 : (int)w;
    }
    if (sz.workers >= INT_MAX) {
        errno = ERANGE;
        return dr_errprintf (err, "%d workers is too many", sz.workers);
    }
    sz.ntasks = sz.workers + 1;
    sz.cpus_per_task = spec->cpu > 0 ? spec->cpu : 1;
    sz.gpus_per_task = spec->gpu > 0 ? spec->gpu : 0;
    /* GPUs are asked for per node (--gres), so the node count must be
     * known: one node unless told. */
    if (sz.gpus_per_task > 0 && sz.nodes == 0)
        sz.nodes = 1;
    /* Fewer workers than nodes: Slurm would shrink the job silently, so
     * ask for one node per worker and say so (nodes_asked). */
    sz.nodes_asked = sz.nodes;
    if (sz.nodes > sz.workers)
        sz.nodes = sz.workers;
    if (sz.nodes > 0)
        sz.tasks_per_node = (sz.workers + sz.nodes - 1) / sz.nodes;
    sz.gpus_per_node = sz.tasks_per_node * sz.gpus_per_task;
    sz.mem_mib = spec->memory_mib > 0 ? spec->memory_mib : 0;
    if (sz.mem_mib > 0) {
        if (sz.nodes > 0)
            sz.mem_per_node_mib = sz.mem_mib * sz.tasks_per_node;
        else
            sz.mem_per_cpu_mib = (sz.mem_mib + sz.cpus_per_task - 1)
                                 / sz.cpus_per_task;
    }
    *size = sz;
    return 0;
}

/* Text for a comment line: control characters (a newline in a path would
 * end the comment and run the rest) become '?'. */
static void put_comment_text (FILE *f, const char *s)
{
    for (; *s; s++)
        fputc ((unsigned char)*s < 0x20 || *s == 0x7f ? '?' : *s, f);
}

/* "#SBATCH <opt><value>" with value quoted for sbatch's tokenizer. */
static int put_directive (FILE *f, const char *opt, const char *value,
                          const char *what, dr_error_t *err)
{
    char *q = slurm__directive_quote (value);
    if (!q)
        return dr_errprintf (err, "%s \"%s\" cannot go in a batch script%s",
                             what, value,
                             errno == EINVAL ? ": it holds a line break"
                                             : ": out of memory");
    fprintf (f, "#SBATCH %s%s\n", opt, q);
    free (q);
    return 0;
}

/* Append one shell word to the command line. */
static int put_word (FILE *f, const char *word, dr_error_t *err)
{
    char *q = slurm_shell_quote (word);
    if (!q)
        return dr_errprintf (err, "batch script: out of memory");
    fprintf (f, " %s", q);
    free (q);
    return 0;
}

static int put_options (FILE *f, const jobs_spec_t *spec,
                        const slurm_sbatch_opts_t *o,
                        const slurm_sbatch_size_t *sz, const char *log_dir,
                        int grace, dr_error_t *err)
{
    char *name = NULL, *pattern = NULL;
    int rc = -1;

    if (asprintf (&name, "datumrun-%s", spec->name ? spec->name : "pipeline")
        < 0) {
        name = NULL;
        dr_errprintf (err, "batch script: out of memory");
        goto done;
    }
    if (put_directive (f, "--job-name=", name, "pipeline name", err) < 0)
        goto done;
    fprintf (f, "#SBATCH --ntasks=%d\n", sz->workers);
    if (sz->nodes > 0) {
        fprintf (f, "#SBATCH --nodes=%d\n", sz->nodes);
        /* Slurm refuses --ntasks-per-node above a node's CPUs even with
         * --overcommit (measured on 22.05): leave placement to it then. */
        if (!o->overcommit)
            fprintf (f, "#SBATCH --ntasks-per-node=%d\n",
                     sz->tasks_per_node);
    }
    fprintf (f, "#SBATCH --cpus-per-task=%d\n", sz->cpus_per_task);
    if (sz->gpus_per_node > 0)
        fprintf (f, "#SBATCH --gres=gpu:%d\n", sz->gpus_per_node);
    if (sz->mem_per_node_mib > 0)
        fprintf (f, "#SBATCH --mem=%lldM\n", sz->mem_per_node_mib);
    else if (sz->mem_per_cpu_mib > 0)
        fprintf (f, "#SBATCH --mem-per-cpu=%lldM\n", sz->mem_per_cpu_mib);
    if (o->time && put_directive (f, "--time=", o->time, "--time", err) < 0)
        goto done;
    if (o->partition
        && put_directive (f, "--partition=", o->partition, "--partition",
                          err) < 0)
        goto done;
    if (o->account
        && put_directive (f, "--account=", o->account, "--account", err) < 0)
        goto done;
    if (grace > 0)
        fprintf (f, "#SBATCH --signal=B:USR1@%d\n", grace);

    if (!(pattern = slurm__pattern_escape (log_dir))) {
        dr_errprintf (err, "log folder \"%s\" cannot be an sbatch output "
                      "file name%s", log_dir,
                      errno == EINVAL ? ": it holds a backslash or a line "
                                        "break"
                                      : ": out of memory");
        goto done;
    }
    size_t plen = strlen (pattern);
    while (plen > 1 && pattern[plen - 1] == '/')
        pattern[--plen] = '\0';
    free (name);
    if (asprintf (&name, "%s/%%x-%%j.out", pattern) < 0) {
        name = NULL;
        dr_errprintf (err, "batch script: out of memory");
        goto done;
    }
    if (put_directive (f, "--output=", name, "log folder", err) < 0)
        goto done;
    /* A requeued job appends to its log instead of truncating it. */
    fputs ("#SBATCH --open-mode=append\n", f);
    if (o->overcommit)
        fprintf (f, "#SBATCH --overcommit\n");
    /* A node lost mid-job costs only its workers' datums: the job goes on
     * on the others instead of being ended by Slurm. */
    fputs ("#SBATCH --no-kill\n", f);
    for (size_t i = 0; i < o->nextra; i++) {
        if (!o->extra[i] || o->extra[i][0] == '\0')
            continue;
        /* "#SBATCH 5" or "#SBATCH --" would be silently ignored by sbatch:
         * an option's value must be joined to it ("--time=5"). */
        if (o->extra[i][0] != '-' || strcmp (o->extra[i], "--") == 0) {
            errno = EINVAL;
            dr_errprintf (err, "sbatch argument \"%s\" is not an option; "
                          "write each as --name=value", o->extra[i]);
            goto done;
        }
        if (put_directive (f, "", o->extra[i], "sbatch argument", err) < 0)
            goto done;
    }
    rc = 0;
done:
    free (name);
    free (pattern);
    return rc;
}

static void put_header (FILE *f, const jobs_spec_t *spec,
                        const slurm_sbatch_opts_t *o,
                        const slurm_sbatch_size_t *sz, const char *spec_path,
                        const char *log_dir, int grace)
{
    fputs ("#\n# Runs pipeline \"", f);
    put_comment_text (f, spec->name ? spec->name : "?");
    fputs ("\" (", f);
    put_comment_text (f, spec_path);
    fputs (")\n# with datumrun under Slurm.  Written by `datumrun sbatch`; "
           "edit freely.\n#\n", f);

    fprintf (f, "# Size: %d worker%s + rank 0 = %d ranks", sz->workers,
             sz->workers == 1 ? "" : "s", sz->ntasks);
    if (o->workers > 0)
        fprintf (f, " (-n %d)", o->workers);
    else if (spec->par_constant > 0)
        fprintf (f, " (parallelism constant %d)", spec->par_constant);
    else
        fprintf (f, " (parallelism coefficient %g x %d node%s)",
                 spec->par_coefficient > 0 ? spec->par_coefficient : 1.0,
                 sz->nodes, sz->nodes == 1 ? "" : "s");
    if (sz->nodes > 0)
        fprintf (f, ", at most %d worker%s per node", sz->tasks_per_node,
                 sz->tasks_per_node == 1 ? "" : "s");
    if (sz->nodes < sz->nodes_asked)
        fprintf (f, ".\n# %d node%s, not the %d asked: one per worker (Slurm "
                 "would shrink it anyway)", sz->nodes,
                 sz->nodes == 1 ? "" : "s", sz->nodes_asked);
    fputs (".\n# Each worker runs the user's command on one datum at a time",
           f);
    if (sz->cpus_per_task > 1)
        fprintf (f, " on %d CPUs (resource_requests.cpu)",
                 sz->cpus_per_task);
    if (sz->gpus_per_task > 0)
        fprintf (f, " with %d GPU%s of its node (resource_requests.gpu)",
                 sz->gpus_per_task, sz->gpus_per_task == 1 ? "" : "s");
    fputs (".\n# The allocation holds the workers' resources only: rank 0 "
           "hands out datums,\n# mostly sleeps, and shares the first node's "
           "CPUs (srun --overcommit).\n", f);
    if (sz->gpus_per_node > 0)
        fputs ("# GPUs are asked for per node (--gres) and datumrun gives "
               "each worker its own\n# (CUDA_VISIBLE_DEVICES): "
               "--gpus-per-task would hand rank 0 GPUs too.\n", f);
    if (sz->mem_mib > 0)
        fprintf (f, "# Memory: %lld MiB per worker (resource_requests."
                 "memory).\n", sz->mem_mib);
    if (o->overcommit)
        fputs ("# --overcommit lets the ranks outnumber the CPUs (rank 0 "
               "needs almost none).\n", f);
    if (grace > 0)
        fprintf (f, "# --signal: this script gets SIGUSR1 %d s before the "
                 "time limit (Slurm may send\n# it up to 60 s earlier) and "
                 "asks the ranks to stop; datumrun stops handing out\n"
                 "# datums, lets the running ones finish within its --grace, "
                 "and saves the\n# manifest.  Submitting this script again "
                 "processes only the datums not done yet.\n", grace);
    fputs ("# Output of all ranks: ", f);
    put_comment_text (f, log_dir);
    fputs ("/<job name>-<job id>.out\n#\n", f);
}

char *slurm_sbatch_script (const jobs_spec_t *spec,
                           const slurm_sbatch_opts_t *o, dr_error_t *err)
{
    slurm_sbatch_size_t sz;
    char *buf = NULL, *default_log = NULL;
    size_t buflen = 0;
    FILE *f = NULL;

    if (!spec || !o) {
        errno = EINVAL;
        dr_errprintf (err, "batch script: missing spec or options");
        return NULL;
    }
    if (!o->datumrun || o->datumrun[0] != '/') {
        errno = EINVAL;
        dr_errprintf (err, "batch script: the datumrun executable path must "
                      "be absolute (got \"%s\")",
                      o->datumrun ? o->datumrun : "");
        return NULL;
    }
    const char *spec_path = o->spec_path ? o->spec_path : spec->path;
    if (!spec_path) {
        errno = EINVAL;
        dr_errprintf (err, "batch script: no spec path");
        return NULL;
    }
    /* --grace 0 (given) means no warning signal; unset means the default. */
    int grace = o->grace_given ? o->grace
                : o->grace == 0 ? SLURM_DEFAULT_GRACE : o->grace;
    if (grace > 65535) {
        errno = EINVAL;
        dr_errprintf (err, "--grace %d is too long: Slurm's --signal takes "
                      "at most 65535 seconds", grace);
        return NULL;
    }
    if (slurm_sbatch_size (spec, o, &sz, err) < 0)
        return NULL;
    const char *log_dir = o->log_dir;
    if (!log_dir) {
        if (!spec->state_dir) {
            errno = EINVAL;
            dr_errprintf (err, "batch script: no log folder and the spec has "
                          "no state folder");
            return NULL;
        }
        if (!(default_log = jobs_sd_path (spec->state_dir, JOBS_SD_SLURM))) {
            errno = ENOMEM;
            dr_errprintf (err, "batch script: out of memory");
            return NULL;
        }
        log_dir = default_log;
    }
    if (!(f = open_memstream (&buf, &buflen))) {
        dr_errprintf (err, "batch script: %s", strerror (errno));
        goto error;
    }

    fputs ("#!/bin/bash\n", f);
    put_header (f, spec, o, &sz, spec_path, log_dir, grace);
    if (put_options (f, spec, o, &sz, log_dir, grace, err) < 0)
        goto error;

    fputs ("\nset -euo pipefail\n\n", f);
    if (geteuid () == 0)
        fputs ("# Submitted as root: Open MPI refuses to run as root unless "
               "told it is meant.\n"
               "export OMPI_ALLOW_RUN_AS_ROOT=1\n"
               "export OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1\n\n", f);
    fputs ("# One step of workers + 1 ranks: --overcommit lets rank 0 share "
           "a worker's CPUs,\n# block distribution puts it on the first "
           "node.  srun does not pass sbatch's\n# --cpus-per-task on to the "
           "step (Slurm 22.05 and later), so it is repeated.\n", f);
    if (sz.mem_mib > 0)
        fputs ("# --mem=0: the step may use all of the job's memory (rank 0 "
               "is not counted\n# as a task of its own).\n", f);
    /* Under srun --mpi=pmix the death of any task cancels the whole step
     * (measured on Slurm 22.05, docs/cluster.md): the script runs the step
     * again in the same allocation, which picks up from the manifest. */
    fputs ("# The job ends with datumrun's exit status (0 success, 1 a datum "
           "failed or the\n# job was killed, 2 nothing was run).  Under srun "
           "--mpi=pmix the death of any\n# task (a worker killed, a node lost) "
           "cancels the whole step, and srun exits\n# 128 + signal: the step "
           "then runs again in this allocation, at most 3 more\n# times, and "
           "does only what the manifest says is left.  --no-kill: a node\n"
           "# lost mid-job does not end the job; its workers' datums go to "
           "the others.\n", f);
    /* Slurm signals every process of a step, the commands included
     * (measured): the warning goes to this script alone (B:), which asks
     * the step with SIGURG, caught by the ranks and ignored by the
     * commands (its default), so that running datums get the grace. */
    fputs ("# Slurm's time-limit warning (B:USR1) reaches this script alone; "
           "it asks the\n# ranks to stop with SIGURG, which the user's "
           "commands ignore (its default), so\n# running datums get "
           "datumrun's --grace.  `scancel --batch -s USR1 JOB` does the\n"
           "# same by hand.\n", f);
    fputs ("stopping=0\ntrap 'stopping=1; scancel -s URG \"$SLURM_JOB_ID\" "
           "|| true' USR1\n", f);
    /* A crashed node's tasks never end, so srun outlives the job until
     * Slurm declares the node down (measured: minutes, then a non-zero
     * exit).  Rank 0 writes datumrun's own exit status to a file once
     * every result is on disk: that status is the job's, and srun gets
     * SLURM_STATUS_GRACE seconds more before it is stopped. */
    fprintf (f, "# When every datum is done, rank 0 writes datumrun's exit "
             "status to $status:\n# that is the job's answer whatever srun "
             "says.  The tasks of a crashed node never\n# end (srun would "
             "wait for Slurm to declare the node down): srun gets %d s\n"
             "# after the status is written, then it is stopped.\n",
             SLURM_STATUS_GRACE);
    fputs ("status=", f);
    {
        char *st = NULL;
        if (asprintf (&st, "%s/.datumrun-status", log_dir) < 0) {
            dr_errprintf (err, "batch script: out of memory");
            goto error;
        }
        char *q = slurm_shell_quote (st);
        free (st);
        if (!q) {
            dr_errprintf (err, "batch script: out of memory");
            goto error;
        }
        fprintf (f, "%s-\"$SLURM_JOB_ID\"\n", q);
        free (q);
    }
    fputs ("rc=0\nfor step in 1 2 3 4; do\n    rc=0\n    rm -f \"$status\"\n"
           "    DATUMRUN_STATUS_FILE=$status ", f);
    fprintf (f, "srun --mpi=pmix --overcommit --distribution=block "
             "--ntasks=%d --cpus-per-task=%d", sz.ntasks, sz.cpus_per_task);
    if (sz.mem_mib > 0)
        fputs (" --mem=0", f);
    if (put_word (f, o->datumrun, err) < 0)
        goto error;
    fputs (" run", f);
    if (put_word (f, spec_path, err) < 0)
        goto error;
    if (sz.nodes < sz.nodes_asked)
        /* Shrunk: the worker count was computed on the nodes asked. */
        fprintf (f, " -n %d", sz.workers);
    else {
        if (o->workers > 0)
            fprintf (f, " -n %d", o->workers);
        if (sz.nodes > 0)
            fprintf (f, " --nodes %d", sz.nodes);
    }
    fprintf (f, " &\n"
             "    pid=$!\n"
             "    ( t=0\n"
             "      while kill -0 \"$pid\" 2>/dev/null; do\n"
             "          if [ -s \"$status\" ]; then\n"
             "              t=$((t + 1))\n"
             "              if [ \"$t\" -gt %d ]; then\n"
             "                  echo \"datumrun sbatch: datumrun is done but "
             "tasks of the step are left (a lost node?); stopping srun\" >&2\n"
             "                  kill -KILL \"$pid\" 2>/dev/null || true\n"
             "                  break\n"
             "              fi\n"
             "          fi\n"
             "          sleep 1\n"
             "      done ) &\n"
             "    watch=$!\n", SLURM_STATUS_GRACE);
    fputs ("    # wait returns early when the trap runs: wait until srun is "
           "gone.\n"
           "    while kill -0 \"$pid\" 2>/dev/null; do wait \"$pid\" || true; "
           "done\n"
           "    wait \"$pid\" || rc=$?\n"
           "    kill \"$watch\" 2>/dev/null || true\n"
           "    wait \"$watch\" 2>/dev/null || true\n"
           "    if [ -s \"$status\" ]; then\n"
           "        read -r rc < \"$status\" || rc=1\n"
           "        case $rc in 0 | 1 | 2) ;; *) rc=1 ;; esac\n"
           "        rm -f \"$status\"\n"
           "        break\n"
           "    fi\n"
           "    [ \"$rc\" -le 2 ] && break\n"
           "    [ \"$stopping\" = 1 ] && break\n"
           "    [ \"$step\" -lt 4 ] && echo \"datumrun sbatch: the job step "
           "was killed (srun exit $rc); running it again in this allocation "
           "($step of 3)\" >&2\n"
           "done\nexit \"$rc\"\n", f);

    if (ferror (f) || fclose (f) != 0) {
        f = NULL;
        dr_errprintf (err, "batch script: out of memory");
        goto error;
    }
    free (default_log);
    return buf;
error:
    if (f)
        fclose (f);
    free (buf);
    free (default_log);
    return NULL;
}
