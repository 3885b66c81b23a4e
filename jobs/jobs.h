/* jobs: the pipeline spec model (parse, validate, defaults) and job records
 * (states, counters, summary and JSON rendering).  This is the bottom layer:
 * every other library may use its types; it depends on nothing of ours.
 */
#ifndef DATUMRUN_JOBS_H
#define DATUMRUN_JOBS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* A caller-owned buffer for a message a person must read.  Functions that
 * take one fill it on failure with a message naming the file, line, column,
 * key or path at fault.
 */
typedef struct {
    char text[512];
} dr_error_t;

/* Format into err (may be NULL) and return -1, so that callers can write
 * `return dr_errprintf (err, "...")`.  errno is preserved.
 */
int dr_errprintf (dr_error_t *err, const char *fmt, ...)
    __attribute__ ((format (printf, 2, 3)));

/* Copy s into buf (len bytes), cutting its middle to "..." when it does not
 * fit, so that both ends stay readable.  Returns the length written. */
size_t dr_shorten (const char *s, char *buf, size_t len);

/* A failure on a path a person must read: "<strerror(e)>: <what> <path>",
 * the reason first and the path shortened in its middle, so that a path
 * of any length cannot push the reason out.  Sets errno to e; returns -1.
 */
int dr_path_error (dr_error_t *err, const char *what, const char *path,
                   int e);

/* The state folder's layout: jobs_sd_*() and jobs_pathf(). */
#include "jobs/statedir.h"
/* Sane bounds on spec values: JOBS_MAX_*. */
#include "jobs/limits.h"

/* ----------------------------------------------------------------- names */

/* File names are bytes (names.c).  In JSON, a byte that is not part of
 * valid UTF-8 is written as the escape \udcXX (Python's surrogateescape:
 * `s.encode("utf-8", "surrogateescape")` gives the bytes back); build such
 * strings with jobs_json_bytes() and write the document with
 * jobs_json_dumps() or jobs_json_dumpf(), which turn jansson's marks into
 * those escapes.  In tables, jobs_name_escape() writes control characters
 * and stray bytes as \n, \t, \xHH (and a backslash as \\).
 */
typedef struct json_t json_t;
#include <stdio.h>
bool jobs_name_is_utf8 (const char *s);
json_t *jobs_json_bytes (const char *s);
char *jobs_json_dumps (const json_t *j, size_t flags);   /* caller frees */
int jobs_json_dumpf (const json_t *j, FILE *f, size_t flags);
char *jobs_name_escape (const char *s);                  /* caller frees */

/* ------------------------------------------------------------------ spec */

typedef enum jobs_input_kind {
    JOBS_INPUT_PFS = 0,
    JOBS_INPUT_CROSS,
    JOBS_INPUT_UNION,
    JOBS_INPUT_JOIN,
    JOBS_INPUT_GROUP,
} jobs_input_kind_t;

typedef struct jobs_input jobs_input_t;
struct jobs_input {
    jobs_input_kind_t kind;

    /* pfs (alias atom) leaves */
    char *name;       /* input name; a valid environment variable name */
    char *repo;       /* absolute, canonical path of the repo directory */
    char *repo_key;   /* repo relative to the spec's folder when inside it,
                         else as repo: what IDs and the pipeline hash use */
    char *glob;       /* the pattern as written */
    char *join_on;    /* e.g. "$1"; NULL when unset */
    char *group_by;   /* e.g. "$2"; NULL when unset */
    bool outer_join;
    bool empty_files; /* the command sees empty files of the same names */
    int index;        /* position among all pfs leaves, depth-first */

    /* combinators: cross, union, join, group */
    jobs_input_t **children;
    size_t nchildren;
};

typedef struct jobs_spec {
    char *path;            /* absolute path of the spec file */
    char *given;           /* the path as given: error messages start with it */
    char *dir;             /* the folder holding it */
    char *name;            /* pipeline.name */

    char **cmd;            /* transform.cmd, NULL-terminated, >= 1 element */
    char **stdin_lines;    /* transform.stdin, NULL-terminated (maybe empty) */
    char **env;            /* transform.env as "K=V", NULL-terminated */
    char **err_cmd;        /* NULL when unset */
    char **err_stdin;      /* NULL-terminated (maybe empty) */
    bool datum_batching;   /* transform.datum_batching: one long-lived
                              command per worker fed datum after datum */
    char *image;           /* transform.image, NULL when unset; a .sif or
                            * .simg path is made absolute (spec folder) */
    char *image_runtime;   /* transform.image_runtime, NULL when unset */
    char *image_id;        /* the resolved image (digest or content hash),
                            * set by the runner before planning; part of
                            * the pipeline hash */

    jobs_input_t *input;   /* the input tree */
    jobs_input_t **pfs;    /* its pfs leaves, depth-first; pfs[i]->index == i */
    size_t npfs;

    char *output;          /* absolute output folder */
    char *state_dir;       /* absolute state folder (manifest, logs) */

    int par_constant;      /* parallelism_spec.constant, 0 when unset */
    double par_coefficient;/* parallelism_spec.coefficient, 0 when unset */
    int datum_tries;       /* default 3, at most JOBS_MAX_TRIES */
    int datum_crash_limit; /* losses of a worker running it before a datum
                            * fails, default 5 */
    double worker_heartbeat; /* seconds between a worker's messages */
    double worker_timeout; /* silence before a worker is lost; 0 = never */
    double datum_timeout;  /* seconds, 0 = none */
    double job_timeout;    /* seconds, 0 = none */
    int chunk_number;      /* chunk_spec.number, default 1 */
    bool reprocess_every_job; /* reprocess_spec == "every_job" */
    int cpu;               /* resource_requests.cpu, default 1 */
    long long memory_mib;  /* resource_requests.memory per worker, in MiB
                              rounded up; 0 when unset */
    int gpu;               /* resource_requests.gpu (a number, or the
                              number of {"type", "number"}); 0 when unset */
    char *gpu_type;        /* its type ("nvidia", "amd", ...), or NULL */
    char *scratch;         /* "scratch": node-local folder for sandboxes,
                              absolute (a relative one is resolved against
                              the spec's folder); NULL when unset */

    /* Canonical compact JSON (sorted keys) of what defines the pipeline's
     * code: transform (cmd, stdin, env, err_cmd, err_stdin) and input.
     * Its hash is the pipeline hash.
     */
    char *pipeline_canon;
} jobs_spec_t;

#define JOBS_CRASH_LIMIT_MAX 255
#define JOBS_WORKER_HEARTBEAT_DEFAULT 5.0
#define JOBS_WORKER_TIMEOUT_DEFAULT 60.0

/* Load and validate the spec at path.  state_dir overrides the default
 * state folder when non-NULL.  Checks that every repo is a readable
 * directory and that neither output nor state folder lies inside a repo.
 * Returns NULL and fills err on failure.  Caller frees with
 * jobs_spec_destroy().
 */
jobs_spec_t *jobs_spec_load (const char *path, const char *state_dir,
                             dr_error_t *err);

/* Same, from text; path names the (possibly imaginary) spec file, whose
 * folder relative repos are resolved against and which error messages name.
 */
jobs_spec_t *jobs_spec_parse (const char *text, const char *path,
                              const char *state_dir, dr_error_t *err);

void jobs_spec_destroy (jobs_spec_t *spec);

/* Parse a duration such as "90", "10s", "10m", "2h", "1h30m" into seconds.
 * Returns -1 on a malformed string.
 */
int jobs_parse_duration (const char *s, double *seconds);

/* Parse a memory size as Kubernetes and Pachyderm write it ("2Gi", "512M",
 * "1.5G", or bytes) into MiB, rounded up.  Returns -1 on a malformed or
 * non-positive size.
 */
int jobs_parse_memory (const char *s, long long *mib);

/* ----------------------------------------------------------- job records */

typedef enum jobs_state {
    JOBS_STATE_RUNNING = 0,
    JOBS_STATE_SUCCESS,
    JOBS_STATE_FAILURE,
    JOBS_STATE_KILLED,
} jobs_state_t;

const char *jobs_state_name (jobs_state_t s);

typedef enum jobs_datum_state {
    JOBS_DATUM_PENDING = 0,  /* planned, not finished (in flight at a crash) */
    JOBS_DATUM_SUCCESS,
    JOBS_DATUM_FAILED,
    JOBS_DATUM_RECOVERED,    /* failed, but err_cmd succeeded */
    JOBS_DATUM_SKIPPED,      /* unchanged since an earlier success */
    JOBS_DATUM_INTERRUPTED,  /* cut short because its job was stopping: not
                              * a failed attempt; the next run does it */
} jobs_datum_state_t;

const char *jobs_datum_state_name (jobs_datum_state_t s);
/* The state named s, or -1. */
int jobs_datum_state_parse (const char *s);

/* How one attempt at a datum ended (the manifest keeps every attempt). */
typedef enum jobs_attempt_outcome {
    JOBS_ATTEMPT_SUCCESS = 0,
    JOBS_ATTEMPT_FAILED,       /* non-zero exit, signal, timeout, error */
    JOBS_ATTEMPT_INTERRUPTED,  /* cut short because the job was stopping */
    JOBS_ATTEMPT_LOST,         /* its worker was lost while running it */
    JOBS_ATTEMPT_RECOVERED,    /* failed for the last time, err_cmd ran */
} jobs_attempt_outcome_t;

#define JOBS_ATTEMPT_NOUTCOMES 5
const char *jobs_attempt_outcome_name (jobs_attempt_outcome_t o);

typedef struct jobs_record {
    char id[33];           /* 32 hex digits */
    char pipeline[128];
    jobs_state_t state;
    int workers;
    int nodes;
    uint64_t processed, skipped, failed, recovered, total;
    uint64_t bytes_downloaded, bytes_uploaded;
    int64_t start_ns;      /* CLOCK_REALTIME */
    double duration_s;
    uint8_t pipeline_hash[16];
    char image_id[80];     /* transform.image resolved ("sha256:...",
                            * "xxh3:...", "ref:..."), "" without an image */
} jobs_record_t;

/* "job 54fbc366 success: 3 processed + 2 skipped / 5 total, 0 failed,
 * DL 0B, UL 1.2KiB, 10.2s" */
void jobs_summary_line (const jobs_record_t *job, char *buf, size_t len);

/* The one JSON object of `run --json`.  Caller frees. */
char *jobs_record_json (const jobs_record_t *job);

/* Human units: "0B", "1.2KiB", "3.4MiB"; "850ms", "10.2s", "3m 5s". */
void jobs_fmt_bytes (uint64_t bytes, char *buf, size_t len);
void jobs_fmt_duration (double seconds, char *buf, size_t len);

#endif /* DATUMRUN_JOBS_H */
