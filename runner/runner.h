/* runner.h: what the runner's files share: command-line options,
 * logging, and the entry points of each role (the wire protocol is
 * proto.h's).  Private to runner/.
 */
#ifndef DATUMRUN_RUNNER_H
#define DATUMRUN_RUNNER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <sys/types.h>

#include "io/io.h"
#include "runner/optparse.h"
#include "jobs/jobs.h"
#include "runner/proto.h"
#include "sched/sched.h"

/* Options of `datumrun run` (and, in part, of the other commands). */
typedef struct run_opts {
    const char *spec_path;
    const char *state_dir;  /* --state-dir, or NULL */
    int workers;            /* -n, 0 = from the spec */
    int nodes;              /* --nodes, 0 = discover */
    bool reprocess;
    bool rehash;
    bool adopt;             /* --adopt: take over a folder with files */
    bool json;
    bool quiet;
    bool verbose;
    const char *bind;       /* --bind core|none */
    double grace;           /* seconds running datums get after SIGTERM */
    bool oversubscribe;     /* more workers than JOBS_WORKERS_PER_CORE x cores */
    uint64_t log_limit;     /* bytes per datum log stream, 0 = no limit */
    double progress_interval; /* seconds between plain progress lines */
    bool tty_line;          /* the launcher draws the live line (ttyline.c) */
    const char *runtime;    /* --runtime: container runtime, or NULL */
    const struct container *container; /* transform.image, set up per rank */
    const char *scratch;    /* --scratch: node-local folder for sandboxes */
    const int *worker_ok;   /* rank 0: per rank, 0 when it must stay idle
                               (no GPUs of its own); NULL = all may work */
    int argc;               /* original arguments after "run", for mpirun */
    char **argv;
} run_opts_t;

/* --log-limit's default: 100 MiB per stream of each datum. */
#define DR_LOG_LIMIT_DEFAULT (100ull << 20)

/* ------------------------------------------------------------- logging */

enum { LOG_ERR = 0, LOG_WARN, LOG_INFO, LOG_DEBUG };
extern int dr_log_level;
extern int dr_log_rank;     /* -1 outside MPI */

void dr_log_emit (int level, const char *fmt, ...)
    __attribute__ ((format (printf, 2, 3)));

/* Checks the level before formatting anything. */
#define dr_log(level, ...)                                                   \
    do {                                                                     \
        if ((level) <= dr_log_level)                                         \
            dr_log_emit ((level), __VA_ARGS__);                              \
    } while (0)

/* snprintf for paths: -1 with ENAMETOOLONG when it does not fit. */
int dr_pathf (char *buf, size_t len, const char *fmt, ...)
    __attribute__ ((format (printf, 3, 4)));

double dr_now (void);          /* CLOCK_MONOTONIC seconds */
int64_t dr_realtime_ns (void); /* CLOCK_REALTIME nanoseconds */

/* A worker rank lost during the job, and why. */
typedef struct runner_lost {
    int rank;
    char host[64];
    char reason[160];
} runner_lost_t;

/* ------------------------------------------------------------- roles */

/* Outside MPI: validate, then run ourselves under mpirun. */
int runner_launch (run_opts_t *o);
/* Before mpirun: when the plan shows nothing to process and nothing to
 * clean, record a skip-all job, print its summary and return 1 with the
 * exit status in *rc; 0 when the MPI job must run (fastpath.c). */
int runner_fast_path (run_opts_t *o, const jobs_spec_t *spec, int workers,
                      int nodes, int *rc);
/* Inside MPI: rank 0 coordinates, the others work. */
/* hosts: each rank's host name; nodes: the node count in use. */
/* hosts, pids: each rank's host name and process id (from the hello). */
int runner_coordinator (run_opts_t *o, jobs_spec_t *spec, proto_t *proto,
                        int size, char **hosts, const int *pids, int nodes);
int runner_worker (run_opts_t *o, jobs_spec_t *spec, proto_t *proto,
                   int rank);

/* True when started by mpirun or srun (an MPI world exists). */
bool runner_in_mpi_world (void);

/* Wait for fd (or -1: none) to become readable, at most `seconds`. */
void runner_idle_wait (int fd, double seconds);

/* Exit statuses of the CLI contract. */
enum { EXIT_OK = 0, EXIT_FAILED = 1, EXIT_USAGE = 2 };

/* Signal handling shared by rank 0 and workers: SIGTERM, SIGINT and
 * SIGUSR2 (forwarded by mpirun) ask the job to stop gracefully. */
void runner_signals_install (void);
extern volatile int runner_stop_requested;


/* Bind this worker rank (and so its children) to its cores (bind.c). */
void runner_bind_worker (const jobs_spec_t *spec, int local_index,
                         const char *near_cpus);

/* scratch.c: the node-local folder for the workers' sandboxes, or NULL
 * for the state folder: --scratch, the spec's "scratch", $SLURM_TMPDIR,
 * $TMPDIR inside a Slurm job.  *source (may be NULL) says which (static).
 */
const char *runner_scratch_dir (const run_opts_t *o, const jobs_spec_t *spec,
                                const char **source);

/* Outside a Slurm job, the scratch folder (if any) checked as the output
 * and state folders are (io_check_dir_writable), before anything is
 * written.  0, or -1 after printing why when say. */
int runner_check_scratch (const run_opts_t *o, const jobs_spec_t *spec,
                          bool say);

/* A worker's sandbox folders under scratch: <scratch>/datumrun-<job id>/
 * <rank> and its "sb".  malloc'd (caller frees); -1 with errno. */
int runner_scratch_paths (const char *scratch, const char *job_id, int rank,
                          char **sbroot, char **sandbox);

/* A worker starting a job: mark its scratch job folder <scratch>/
 * datumrun-<job id> as this pipeline's (state_dir) and remove the folders
 * of this pipeline's earlier jobs left on this node by killed workers.
 * 0, or -1 if the marker could not be written (errno). */
int runner_scratch_claim (const char *job_dir, const char *state_dir);

/* A worker leaving, its own folder removed: the job folder goes when no
 * other worker's is left in it. */
void runner_scratch_release (const char *job_dir);

/* resource_requests.gpu: give worker local_index of this node its GPUs
 * (CUDA_VISIBLE_DEVICES, CUDA_DEVICE_ORDER=PCI_BUS_ID, and ROCR_/
 * HIP_VISIBLE_DEVICES for AMD, in this process's environment), and the
 * CPUs near them into near_cpus ("" when unknown).  Returns 1 when the
 * worker may work (also without GPUs asked), 0 when the node has no full
 * set of GPUs left for it: it must stay idle. */
int runner_gpu_setup (const jobs_spec_t *spec, int local_index,
                      char *near_cpus, size_t len);

/* Compile every input's glob; print the first error (naming the spec,
 * input and pattern) and return -1. */
int runner_check_globs (const jobs_spec_t *spec);

/* Warn, naming the spec, input, glob and repo, about each input whose
 * glob matches nothing. */
void runner_warn_empty_inputs (const jobs_spec_t *spec,
                               const sched_plan_t *p);

/* The one warning of a run that keeps datums an earlier version of the
 * pipeline made (their inputs are unchanged): how many, and --reprocess. */
void runner_warn_earlier (const sched_plan_t *p);

/* Load and validate a spec, globs included; prints the error and returns
 * NULL.  Caller frees with jobs_spec_destroy(). */
jobs_spec_t *runner_load_spec (const char *path, const char *state_dir);

/* Check, before anything is created, that the output and state folders
 * can be written (io_check_dir_writable); prints the error, returns -1. */
int runner_check_folders (const jobs_spec_t *spec);

/* Cores the launcher may fill: the Slurm allocation's (SLURM_JOB_CPUS_PER_NODE)
 * inside one, else this machine's online cores.  *what says which. */
long runner_capacity_cores (const char **what);

/* ttyline.c: the live status line the launcher draws on a terminal. */
bool runner_tty_wanted (const run_opts_t *o);
bool runner_tty_stdout_same (void);
/* Pass fd's bytes (mpirun's output) to stderr, redrawing the line from
 * state_dir's status file in between, until fd closes; then reap pid. */
int runner_tty_relay (int fd, pid_t pid, const char *state_dir,
                      int64_t t0_ns, int *status);

/* own.c: claim spec->output for this pipeline and state folder before
 * anything runs (write=false only checks).  Prints why and returns -1
 * when the folder belongs to someone else (exit 2); 1 when files already
 * there give way to the datums that write their paths (--adopt), else 0. */
int runner_output_claim (const jobs_spec_t *spec, bool adopt, bool write);
/* After planning: verify the skips (runner_verify_skips) and say what
 * was rebuilt and why; note a changed output folder (its marker goes, its
 * files stay) and record the current one.  True when it changed. */
bool runner_check_outputs (sched_plan_t *p, io_manifest_t *m,
                           const jobs_spec_t *spec);
/* With files adopted: remove rel if it was there before the job started
 * and no recorded datum owns it; true when the datum may run again. */
bool runner_replace_adopted (const io_manifest_t *m, const char *output,
                             const char *rel, int64_t job_start_ns);
/* Does the output folder hold anything besides its owner marker? */
bool runner_output_has_files (const char *output);
/* Turn skips whose recorded outputs are missing or changed (size, mtime)
 * into processing (changed, so their remaining outputs go first); one
 * lstat per output path.  Counts both kinds. */
int runner_verify_skips (sched_plan_t *p, const io_manifest_t *m,
                         const char *output, size_t *nmissing,
                         size_t *nchanged);

/* sandbox_ro.c: inputs read-only to the commands.  setup, once at a
 * worker's start: a private mount namespace with each repo bind-mounted
 * read-only over itself (root only; otherwise nothing changes).  bind
 * makes a sandbox's pfs/<input> folder read-only over itself (sandbox.c
 * keeps it so for the job; -1 when inputs are not read-only here), unbind
 * undoes it.  probe tells, without changing the caller, whether setup
 * would work, and why. */
int runner_ro_setup (const jobs_spec_t *spec);
bool runner_ro_active (void);
int runner_ro_bind (const char *path);
void runner_ro_unbind (const char *path);
bool runner_ro_probe (char *why, size_t len);

/* Absolute path of this executable, whatever its length (caller frees);
 * NULL with errno set if it cannot be read. */
char *runner_self_exe (void);

/* datumrun's version and those of the libraries it runs with (Open MPI,
 * HDF5, hwloc, PMIx), as found at run time (version.c). */
void runner_print_versions (FILE *f);
/* The same on one line. */
void runner_versions_line (char *buf, size_t len);
/* The same as a JSON object's members.  Caller frees with json_decref. */
struct json_t;
struct json_t *runner_versions_json (void);

/* ------------------------------------------------------- option tables */

/* Rows shared by several commands' option tables. */
#define RUNNER_OPT_STATE_DIR                                                 \
    { .name = "state-dir", .type = OPTPARSE_STR, .arg = "DIR",              \
      .alias = "state", .complete = OPTPARSE_COMP_DIR,                       \
      .help = "the pipeline's state folder (manifest, journal, logs); "     \
              "default: .datumrun/PIPELINE beside the spec" }
#define RUNNER_OPT_JSON(text) { .name = "json", .help = (text) }
/* run -n: bounded here, so that 999999 is refused before anything starts
 * (also a row of tests/unit/test_spec.c's table). */
#define RUNNER_OPT_WORKERS                                                   \
    { .name = "workers", .key = 'n', .type = OPTPARSE_INT, .arg = "N",     \
      .min = 1, .max = JOBS_MAX_WORKERS,                                     \
      .help = "worker ranks (default: from the spec's parallelism_spec)" }

/* Each command's table, next to the command (main.c lists them). */
extern const optparse_option_t runner_run_options[];
extern const optparse_option_t runner_plan_options[];
extern const optparse_option_t runner_inspect_options[];
extern const optparse_option_t runner_sbatch_options[];
extern const optparse_option_t runner_why_options[];
extern const optparse_option_t runner_info_options[];
extern const optparse_option_t runner_campaign_sbatch_options[];
extern const optparse_option_t runner_next_options[];
extern const optparse_option_t runner_list_datum_options[];
extern const optparse_option_t runner_logs_options[];
extern const optparse_option_t runner_report_options[];
extern const optparse_option_t runner_status_options[];

/* The commands (inspect.c, cluster.c, campaign.c, next.c). */
int cmd_sbatch (optparse_t *p);
int cmd_info (optparse_t *p);
int cmd_campaign_run (optparse_t *p);
int cmd_campaign_sbatch (optparse_t *p);
int cmd_plan (optparse_t *p);
int cmd_list_job (optparse_t *p);
int cmd_inspect_job (optparse_t *p);
int cmd_list_datum (optparse_t *p);
int cmd_inspect_datum (optparse_t *p);
int cmd_why (optparse_t *p);   /* why.c */
int cmd_next (optparse_t *p);   /* next.c */
int cmd_logs (optparse_t *p);   /* logs.c */
int cmd_report (optparse_t *p); /* report.c */
int cmd_status (optparse_t *p); /* status.c */

#endif /* DATUMRUN_RUNNER_H */
