/* launch.c: `datumrun run` outside an MPI world.  Validates the spec
 * (so that a bad one exits 2 before anything starts), computes the worker
 * count, and runs itself under mpirun with WORKERS+1 ranks.  mpirun runs in
 * a process group of its own: a Ctrl-C or SIGTERM reaches only us, and we
 * turn the first into SIGUSR2, which mpirun forwards to every rank as a
 * graceful stop; a second one ends the job at once.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "runner/container.h"
#include "runner/coord.h"
#include "runner/exec.h"
#include "runner/runner.h"
#include "slurm/slurm.h"

static volatile sig_atomic_t signals_seen;
static volatile pid_t mpirun_pid;
static struct timespec first_signal;

/* The first SIGINT or SIGTERM stops the job gracefully, a second one ends
 * it at once.  A copy of the first that comes within a second is not a
 * second: wrappers such as timeout(1) pass on the signal they get to their
 * child and then to their whole process group, so the launcher gets it
 * twice in the same instant (and once, when the kernel merges the two). */
static void on_signal (int sig)
{
    (void)sig;
    struct timespec now;
    clock_gettime (CLOCK_MONOTONIC, &now);
    if (signals_seen > 0) {
        int64_t ms = (int64_t)(now.tv_sec - first_signal.tv_sec) * 1000
                     + (now.tv_nsec - first_signal.tv_nsec) / 1000000;
        if (ms < 1000)
            return;
    }
    else
        first_signal = now;
    if (mpirun_pid > 0)
        kill (mpirun_pid, signals_seen++ ? SIGTERM : SIGUSR2);
}

/* Find an executable in PATH. */
static char *find_in_path (const char *name)
{
    const char *path = getenv ("PATH");
    if (!path)
        path = "/usr/bin:/bin";
    char *copy = strdup (path), *save = NULL;
    for (char *dir = strtok_r (copy, ":", &save); dir;
         dir = strtok_r (NULL, ":", &save)) {
        char *cand;
        if (asprintf (&cand, "%s/%s", dir, name) < 0)
            break;
        if (access (cand, X_OK) == 0) {
            free (copy);
            return cand;
        }
        free (cand);
    }
    free (copy);
    return NULL;
}

static int launch_mpirun (run_opts_t *o, int workers, int nodes,
                          const char *source, long cores, bool tty,
                          const char *state_dir);

int runner_launch (run_opts_t *o)
{
    jobs_spec_t *spec = runner_load_spec (o->spec_path, o->state_dir);
    if (!spec)
        return EXIT_USAGE;
    /* On a terminal, the live line is ours to draw (ttyline.c). */
    bool tty = runner_tty_wanted (o);
    /* A missing runtime or image stops the job before mpirun starts. */
    container_t ct;
    dr_error_t err = { { 0 } };
    if (container_setup (&ct, spec, o->runtime, &err) < 0) {
        fprintf (stderr, "%s\n", err.text);
        container_free (&ct);
        jobs_spec_destroy (spec);
        return EXIT_USAGE;
    }
    if (ct.kind != CONTAINER_NONE)
        dr_log (LOG_DEBUG, "image %s (%s) runs with %s", ct.image,
                ct.image_id, ct.runtime);
    container_free (&ct);
    int nodes = o->nodes;
    const char *source = "--nodes";
    if (nodes <= 0 && (slurm_discover_nodes (&nodes, &source) < 0
                       || nodes < 1)) {
        nodes = 1;
        source = "default";
    }
    if (runner_check_folders (spec) < 0 || runner_check_scratch (o, spec,
                                                                 true) < 0) {
        jobs_spec_destroy (spec);
        return EXIT_USAGE;
    }
    /* Refuse someone else's output folder before starting mpirun. */
    if (runner_output_claim (spec, o->adopt, false) < 0) {
        jobs_spec_destroy (spec);
        return EXIT_USAGE;
    }
    int workers = sched_workers (spec, nodes, o->workers);
    /* A rerun with nothing to do needs no MPI job (fastpath.c). */
    int fast_rc;
    if (runner_fast_path (o, spec, workers, nodes, &fast_rc)) {
        jobs_spec_destroy (spec);
        return fast_rc;
    }
    /* One machine: as many workers as it has full sets of GPUs. */
    if (spec->gpu > 0) {
        slurm_gpus_t g;
        slurm_gpus_discover (&g);
        int cap = g.n / spec->gpu;
        if (cap < 1) {
            fprintf (stderr, "datumrun: each worker needs %d GPU%s "
                     "(resource_requests.gpu) and this machine has %d (from "
                     "%s)\n", spec->gpu, spec->gpu == 1 ? "" : "s", g.n,
                     g.source);
            slurm_gpus_clear (&g);
            jobs_spec_destroy (spec);
            return EXIT_USAGE;
        }
        if (workers > cap) {
            fprintf (stderr, "datumrun: %d workers, not %d: %d GPUs (from "
                     "%s) / %d per worker\n", cap, workers, g.n, g.source,
                     spec->gpu);
            workers = cap;
        }
        slurm_gpus_clear (&g);
    }
    char *state_dir = strdup (spec->state_dir);
    jobs_spec_destroy (spec);
    if (!state_dir) {
        fprintf (stderr, "datumrun: out of memory\n");
        return EXIT_USAGE;
    }
    const char *what = "this machine";
    long cores = runner_capacity_cores (&what);
    if (!o->oversubscribe && (long)workers > JOBS_WORKERS_PER_CORE * cores) {
        fprintf (stderr, "datumrun: %d workers is more than %s can hold: "
                 "%ld cores x %d workers per core = %ld; use -n to ask for "
                 "fewer, or --oversubscribe to start them anyway\n", workers,
                 what, cores, JOBS_WORKERS_PER_CORE,
                 JOBS_WORKERS_PER_CORE * cores);
        free (state_dir);
        return EXIT_USAGE;
    }
    int rc = launch_mpirun (o, workers, nodes, source, cores, tty, state_dir);
    free (state_dir);
    return rc;
}

/* Run this executable under mpirun with workers + 1 ranks and wait for it;
 * its exit code comes back through a status file (DATUMRUN_STATUS_FILE). */
/* Rank 0 died without ending its job (killed, or its node lost): the job
 * is recorded killed now, as the next run would, so that list-job and
 * inspect-job do not show it running in the meantime.  If the manifest is
 * locked (a rank still alive, another run), that is left to the next run. */
static void close_dead_job (const char *state_dir)
{
    dr_error_t err = { { 0 } };
    io_manifest_t *m = io_manifest_open (state_dir, &err);
    if (!m)
        return;
    coord_ctx_t x = { .m = m };
    if (coord_close_dead_jobs (&x, &err) < 0)
        fprintf (stderr, "datumrun: %s\n", err.text);
    io_manifest_close (m);
}

static int launch_mpirun (run_opts_t *o, int workers, int nodes,
                          const char *source, long cores, bool tty,
                          const char *state_dir)
{
    int rc = EXIT_USAGE;
    char *exe = NULL, *status_file = NULL;
    char **argv = NULL;
    char *mpirun = find_in_path ("mpirun");
    if (!mpirun) {
        fprintf (stderr, "datumrun: mpirun not found in PATH: install the "
                         "Debian package openmpi-bin (./setup.sh does)\n");
        goto out;
    }
    if (!(exe = runner_self_exe ())) {
        fprintf (stderr, "datumrun: cannot find my own executable: %s\n",
                 strerror (errno));
        goto out;
    }
    const char *tmp = getenv ("TMPDIR");
    status_file = jobs_pathf ("%s/datumrun-status.XXXXXX",
                              tmp && *tmp ? tmp : "/tmp");
    if (!status_file) {
        fprintf (stderr, "datumrun: out of memory\n");
        goto out;
    }
    int sfd = mkstemp (status_file);
    if (sfd < 0) {
        fprintf (stderr, "datumrun: %s: cannot create the status file %s "
                 "(TMPDIR)\n", strerror (errno), status_file);
        free (status_file);
        status_file = NULL;
        goto out;
    }
    close (sfd);

    char nranks[16], nodes_s[16];
    snprintf (nranks, sizeof (nranks), "%d", workers + 1);
    snprintf (nodes_s, sizeof (nodes_s), "%d", nodes);
    if (!(argv = calloc ((size_t)o->argc + 20, sizeof (char *)))) {
        fprintf (stderr, "datumrun: out of memory\n");
        goto out;
    }
    int a = 0;
    argv[a++] = mpirun;
    argv[a++] = "-n";
    argv[a++] = nranks;
    /* Rank 0 and idle workers sleep, so more ranks than cores is fine;
     * workers bind their commands themselves. */
    if (workers + 1 > cores)
        argv[a++] = "--oversubscribe";
    argv[a++] = "--bind-to";
    argv[a++] = "none";
    /* A worker that dies must not take the job down: rank 0 notices
     * (MPI_ERRORS_RETURN, heartbeats) and hands its datums to the others
     * (docs/cluster.md, "Lost workers"). */
    argv[a++] = "--enable-recovery";
    argv[a++] = exe;
    argv[a++] = "run";
    argv[a++] = "--nodes";
    argv[a++] = nodes_s;
    for (int i = 0; i < o->argc; i++)
        argv[a++] = o->argv[i];
    argv[a] = NULL;

    dr_log (LOG_DEBUG, "%d workers for %d node(s) (from %s): %s -n %s", workers,
            nodes, source, mpirun, nranks);

    setenv ("DATUMRUN_STATUS_FILE", status_file, 1);
    if (geteuid () == 0) {
        /* Open MPI refuses root unless told; only ever set as root. */
        setenv ("OMPI_ALLOW_RUN_AS_ROOT", "1", 1);
        setenv ("OMPI_ALLOW_RUN_AS_ROOT_CONFIRM", "1", 1);
    }

    struct sigaction sa;
    memset (&sa, 0, sizeof (sa));
    sa.sa_handler = on_signal;
    sigemptyset (&sa.sa_mask);
    sigaction (SIGINT, &sa, NULL);
    sigaction (SIGTERM, &sa, NULL);

    pid_t pid;
    dr_error_t serr = { { 0 } };
    /* If we are killed (kill -9 of the launcher alone, timeout -k), mpirun
     * gets what a first Ctrl-C gives it: the job stops gracefully and
     * records what finished, instead of running on unwatched. */
    exec_spawn_t so = { .argv = argv, .fd = { -1, -1 }, .new_pgroup = true,
                        .pdeathsig = SIGUSR2 };
    int relay[2] = { -1, -1 };
    int64_t t0_ns = dr_realtime_ns ();
    if (tty && pipe2 (relay, O_CLOEXEC) == 0) {
        so.fd[1] = relay[1];
        if (runner_tty_stdout_same ())
            so.fd[0] = relay[1];
        setenv ("DATUMRUN_PROGRESS_TTY", "1", 1);
    }
    else
        unsetenv ("DATUMRUN_PROGRESS_TTY");
    int spawned = exec_spawn_process (&so, &pid, &serr);
    if (relay[1] >= 0)
        close (relay[1]);
    if (spawned < 0) {
        if (relay[0] >= 0)
            close (relay[0]);
        fprintf (stderr, "datumrun: %s\n", serr.text);
        goto out;
    }
    mpirun_pid = pid;
    int status = 0;
    if (relay[0] >= 0)
        runner_tty_relay (relay[0], pid, state_dir, t0_ns, &status);
    else
        while (waitpid (pid, &status, 0) < 0 && errno == EINTR)
            ;
    mpirun_pid = 0;

    int code = -1;
    FILE *f = fopen (status_file, "r");
    if (f) {
        if (fscanf (f, "%d", &code) != 1)
            code = -1;
        fclose (f);
    }
    if (code >= 0)
        rc = code;
    else {
        if (WIFSIGNALED (status))
            fprintf (stderr, "datumrun: mpirun was killed by signal %d; the "
                             "next run picks up where this one stopped\n",
                     WTERMSIG (status));
        else
            fprintf (stderr, "datumrun: the MPI job ended abnormally (mpirun "
                             "exit %d); the next run picks up where this one "
                             "stopped\n", WEXITSTATUS (status));
        close_dead_job (state_dir);
        rc = EXIT_FAILED;
    }
out:
    if (status_file)
        unlink (status_file);
    free (status_file);
    free (argv);
    free (exe);
    free (mpirun);
    return rc;
}
