/* io: bytes on disk.  Content hashing with the stat cache, the HDF5
 * manifest (schema, journal, atomic update), staging a datum's sandbox and
 * moving its outputs into place.
 */
#ifndef DATUMRUN_IO_H
#define DATUMRUN_IO_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/types.h>

#include "jobs/jobs.h"

/* ---------------------------------------------------------------- hashes */

/* XXH3-128, stored big-endian (high 64 bits first) so that the hex form
 * reads the same as xxhsum's. */
typedef struct io_hash {
    uint8_t b[16];
} io_hash_t;

void io_hash_bytes (const void *data, size_t len, io_hash_t *out);
void io_hash_hex (const io_hash_t *h, char out[33]);
int io_hash_from_hex (const char *hex, io_hash_t *out);
static inline bool io_hash_eq (const io_hash_t *a, const io_hash_t *b)
{
    return memcmp (a->b, b->b, 16) == 0;
}
bool io_hash_is_zero (const io_hash_t *h);

/* Incremental hashing of a sequence of byte strings. */
typedef struct io_hasher io_hasher_t;
io_hasher_t *io_hasher_create (void);
void io_hasher_reset (io_hasher_t *h);
void io_hasher_update (io_hasher_t *h, const void *data, size_t len);
void io_hasher_digest (io_hasher_t *h, io_hash_t *out);
void io_hasher_destroy (io_hasher_t *h);

/* ------------------------------------------------------------ stat cache */

typedef struct io_stat_entry {
    uint64_t size;
    int64_t mtime_ns;
    int64_t ctime_ns;   /* a rewrite that keeps the mtime changes it */
    uint64_t ino;
    uint64_t dev;
    io_hash_t hash;     /* content hash of the file */
} io_stat_entry_t;

/* Maps absolute file paths to their last seen stat and content hash. */
typedef struct io_statcache io_statcache_t;

io_statcache_t *io_statcache_create (void);
void io_statcache_destroy (io_statcache_t *sc);
size_t io_statcache_size (const io_statcache_t *sc);
/* Returns the entry or NULL. */
const io_stat_entry_t *io_statcache_get (io_statcache_t *sc,
                                         const char *path);
/* Insert or replace; marks the entry seen.  Returns 0 or -1 (ENOMEM). */
int io_statcache_put (io_statcache_t *sc, const char *path,
                      const io_stat_entry_t *e);
/* Room for n more entries. 0 or -1 (ENOMEM). */
int io_statcache_reserve (io_statcache_t *sc, size_t n);
/* How many puts since creation: stats new or changed since the manifest
 * was loaded (what a checkpoint would store anew). */
size_t io_statcache_nput (const io_statcache_t *sc);
/* Insert without marking seen: entries loaded from the manifest, which
 * are saved again only if this run looks them up. */
int io_statcache_load (io_statcache_t *sc, const char *path,
                       const io_stat_entry_t *e);
/* Iterate: call with *iter = 0 until it returns NULL.  only_seen skips
 * entries not put or looked up by io_content_hash() since creation. */
const char *io_statcache_next (const io_statcache_t *sc, size_t *iter,
                               bool only_seen, const io_stat_entry_t **e);

/* Content hash of a file, or of a directory (its sorted children's names
 * and hashes, recursively).  A file whose (size, mtime_ns, ino, dev) match
 * the cache keeps its cached hash without being read, unless rehash.
 * Files are read in a streaming way.  *bytes gets the total size.
 * sc may be NULL (no cache).  Returns 0, or -1 with err naming the path.
 */
int io_content_hash (io_statcache_t *sc, const char *path, bool rehash,
                     io_hash_t *out, uint64_t *bytes, dr_error_t *err);

/* -------------------------------------------------------------- manifest */

#define IO_HOST_MAX 64
#define IO_MTIME_UNKNOWN INT64_MIN

/* One datum's latest record.  Strings are owned by the manifest. */
typedef struct io_datum_rec {
    io_hash_t id;
    io_hash_t hash;          /* datum hash when last processed: its ID,
                              * contents and the pipeline hash below */
    io_hash_t pipeline;      /* pipeline hash (version) that last
                              * processed it */
    io_hash_t proc_job;      /* job that last processed it */
    io_hash_t seen_job;      /* last job whose input contained it */
    uint8_t state;           /* jobs_datum_state_t of the last processing */
    uint16_t attempts;       /* of its last job: datum_tries is at most
                                JOBS_MAX_TRIES (16 bits keep the record's
                                size; the file stores 32) */
    int32_t rank;            /* worker rank that ran it */
    const char *host;        /* its host (at most IO_HOST_MAX - 1 bytes
                                kept); in records the manifest returns,
                                interned by the manifest: valid until it
                                is closed.  NULL reads as "". */
    int64_t start_ns;        /* CLOCK_REALTIME of the last attempt's start */
    double duration_s;
    uint64_t bytes_in;       /* size of its inputs */
    uint64_t bytes_out;      /* size of its outputs */
    int32_t exit_status;     /* of the last attempt; -1 if signalled */
    int32_t term_signal;     /* signal that ended it, or 0 */
    char *inputs;            /* "name:path" entries, each NUL-terminated,
                                then one more NUL ("" is no entry): a path
                                may hold any byte but NUL (io_inputs_len) */
    char **outputs;          /* output paths relative to the output folder */
    uint64_t *out_sizes;     /* per output: size when it was made */
    int64_t *out_mtimes;     /* per output: mtime_ns, or IO_MTIME_UNKNOWN
                              * (recorded by a format 1 manifest) */
    size_t noutputs;
} io_datum_rec_t;

/* One attempt at a datum, successful or not.  The manifest keeps every
 * attempt of every job (the datum record above keeps only the latest). */
typedef struct io_attempt {
    io_hash_t datum;
    io_hash_t job;
    uint32_t attempt;        /* 1-based, within the job */
    int32_t rank;            /* worker rank that ran it */
    char host[64];
    int64_t start_ns;        /* CLOCK_REALTIME; 0 if it never started */
    double duration_s;
    int32_t exit_status;     /* -1 if signalled or not known */
    int32_t term_signal;     /* signal that ended it, or 0 */
    uint8_t outcome;         /* jobs_attempt_outcome_t */
} io_attempt_t;

/* A worker rank 0 declared lost during a job (format 2, "lost_workers"). */
typedef struct io_lost_worker {
    char job[33];            /* the job's id (hex) */
    int32_t rank;
    char host[IO_HOST_MAX];
    char reason[256];        /* "no heartbeat for 60s", "its process died" */
    int64_t time_ns;         /* CLOCK_REALTIME when it was declared lost */
} io_lost_worker_t;

/* Called for each attempt; return 0 to go on, -1 to stop (the iteration
 * then returns -1 with err untouched). */
typedef int (*io_attempt_f) (const io_attempt_t *a, void *arg);

typedef struct io_manifest io_manifest_t;

/* Open the manifest in state_dir (creating the folder and an empty
 * manifest if there is none), replaying a leftover journal.  A corrupt or
 * truncated file is an error naming it and saying how to recover; it is
 * never silently discarded.  Caller closes with io_manifest_close().
 */
io_manifest_t *io_manifest_open (const char *state_dir, dr_error_t *err);
void io_manifest_close (io_manifest_t *m);

/* Open read-only: no journal is replayed into the file, nothing written
 * (replay happens in memory only).  For list/inspect/plan. */
io_manifest_t *io_manifest_open_ro (const char *state_dir, dr_error_t *err);

io_statcache_t *io_manifest_statcache (io_manifest_t *m);
io_hash_t io_manifest_pipeline_hash (const io_manifest_t *m);
/* The output folder this pipeline's datums wrote into, as recorded at the
 * last checkpoint or set since (NULL before either). */
const char *io_manifest_output (const io_manifest_t *m);
/* Record the output folder (stored at the next checkpoint). 0 or -1. */
int io_manifest_set_output (io_manifest_t *m, const char *output);

size_t io_manifest_ndatums (const io_manifest_t *m);
/* Datum i, or the one with this id, as a view filled into *view (the
 * manifest keeps records packed): returns view, or NULL when there is no
 * such datum.  The view's strings stay valid until the next put or
 * forget; its other fields are the caller's copy. */
const io_datum_rec_t *io_manifest_datum (const io_manifest_t *m, size_t i,
                                         io_datum_rec_t *view);
const io_datum_rec_t *io_manifest_find (const io_manifest_t *m,
                                        const io_hash_t *id,
                                        io_datum_rec_t *view);

size_t io_manifest_njobs (const io_manifest_t *m);
/* Jobs oldest first. */
const jobs_record_t *io_manifest_job (const io_manifest_t *m, size_t i);

/* Journal operations: each appends a record to the journal with write(2)
 * (surviving kill -9) and applies it in memory.  Return 0 or -1 with err.
 */
int io_manifest_job_begin (io_manifest_t *m, const jobs_record_t *job,
                           dr_error_t *err);
int io_manifest_put (io_manifest_t *m, const io_datum_rec_t *rec,
                     dr_error_t *err);
/* The datum's outputs are about to be removed and it must run again. */
int io_manifest_invalidate (io_manifest_t *m, const io_hash_t *id,
                            dr_error_t *err);
/* The datum left the input; its outputs have been removed. */
int io_manifest_forget (io_manifest_t *m, const io_hash_t *id,
                        dr_error_t *err);
int io_manifest_job_end (io_manifest_t *m, const jobs_record_t *job,
                         dr_error_t *err);
/* Record one attempt.  Recording the same (datum, job, attempt) again
 * replaces it, so that replaying the journal stays idempotent. */
int io_manifest_attempt (io_manifest_t *m, const io_attempt_t *a,
                         dr_error_t *err);
/* Record a lost worker (journaled).  Recording the same (job, rank) again
 * replaces it, so that replaying the journal stays idempotent. */
int io_manifest_lost_worker (io_manifest_t *m, const io_lost_worker_t *l,
                             dr_error_t *err);
/* Lost workers, oldest first, of every job. */
size_t io_manifest_nlost (const io_manifest_t *m);
const io_lost_worker_t *io_manifest_lost (const io_manifest_t *m, size_t i);
/* Batch journal appends: between hold and release, operations apply in
 * memory at once and their records are written together at release (one
 * write(2)); a crash before release loses them as it would lose results
 * not yet received.  sync, checkpoint and close release first. */
void io_manifest_hold (io_manifest_t *m);
int io_manifest_release (io_manifest_t *m, dr_error_t *err);
/* fsync the journal. */
int io_manifest_sync (io_manifest_t *m, dr_error_t *err);

/* Fold everything into the HDF5 file: write <file>.tmp, fsync, rename,
 * then truncate the journal.  Also stores the stat cache's seen entries
 * and the pipeline hash. */
int io_manifest_checkpoint (io_manifest_t *m, const io_hash_t *pipeline_hash,
                            dr_error_t *err);

/* Every recorded attempt, oldest checkpoint first, then those since it,
 * whose job and datum match (NULL: any).  The writer keeps only attempts
 * since the last checkpoint in memory; older ones are streamed from the
 * file.  Returns 0, or -1 with err (a damaged file) or when fn stopped.
 */
int io_manifest_attempts (io_manifest_t *m, const io_hash_t *job,
                          const io_hash_t *datum, io_attempt_f fn, void *arg,
                          dr_error_t *err);

/* Format version of the HDF5 file as loaded (0 when there was none). */
int io_manifest_format_version (const io_manifest_t *m);

/* Bytes in the journal (since the last checkpoint), records held
 * included; 0 when read-only. */
uint64_t io_manifest_journal_bytes (const io_manifest_t *m);

/* Path of the HDF5 file, for messages. */
const char *io_manifest_path (const io_manifest_t *m);

/* A descriptor of path's folder and *name, its last component, such that
 * openat (fd, *name) reaches path even when it is longer than PATH_MAX
 * (the folders are opened a few components at a time).  Returns AT_FDCWD
 * (with *name = path) when path is short enough, a descriptor the caller
 * closes, or -1 with errno. */
int io_open_parent (const char *path, const char **name);

/* Bytes of a datum's inputs list (its entries with their NULs, without
 * the final NUL).  Iterate with `for (e = s; *e; e += strlen (e) + 1)`. */
size_t io_inputs_len (const char *inputs);

/* ------------------------------------------------------------- lineage
 * (lineage.c) What `datumrun why` follows: the content hash of each of a
 * datum's input entries when it was processed (in the order of its inputs
 * text), and each job's inputs (input name -> absolute repo folder). */

/* Replace the datum's entry hashes (journaled). */
int io_manifest_put_entry_hashes (io_manifest_t *m, const io_hash_t *id,
                                  uint32_t n, const io_hash_t *hashes,
                                  dr_error_t *err);
/* The hashes recorded for id and their count, or NULL (none recorded). */
const io_hash_t *io_manifest_entry_hashes (const io_manifest_t *m,
                                           const io_hash_t *id, uint32_t *n);
/* Record a job's inputs (journaled). */
int io_manifest_put_job_inputs (io_manifest_t *m, const char *job_id,
                                size_t n, char *const names[],
                                char *const repos[], dr_error_t *err);
/* The repo folder input `name` had in job job_id, or NULL. */
const char *io_manifest_job_repo (const io_manifest_t *m, const char *job_id,
                                  const char *name);

/* ---------------------------------------------------------------- staging */

/* Whether path is a folder the job can write, or can create: its deepest
 * existing ancestor must be a writable directory on a file system that
 * stores files (not /proc or /sys).  Checked before anything is created, so
 * that a refused run leaves nothing behind.  what names it in the message
 * ("output folder").  0, or -1 with errno set and err filled (fscheck.c). */
int io_check_dir_writable (const char *path, const char *what,
                           dr_error_t *err);

/* Both of a spec's folders (output, then state) checked as above: what
 * `run` does before it creates anything.  0, or -1 with err reading
 * "SPEC: <what is wrong>". */
int io_check_spec_folders (const jobs_spec_t *spec, dr_error_t *err);

/* mkdir -p; 0 or -1 with errno. */
int io_mkdirs (const char *path, mode_t mode);
/* rm -rf; 0 or -1 with errno.  A missing path is not an error. */
int io_remove_tree (const char *path);

/* Pachyderm's empty_files: make dst a zero-length file named like src or,
 * when src is a directory, the same tree of folders with empty files (a
 * link in it counts as what it points to).  dst's parent must exist.
 * Returns 0, or -1 with err naming the path. */
int io_stage_empty (const char *src, const char *dst, dr_error_t *err);

/* ---------------------------------------------------------------- owner
 * (owner.c) The marker <output>/.datumrun-owner.json names the one
 * pipeline and state folder that own an output folder. */

#define IO_OWNER_FILE ".datumrun-owner.json"

/* Is name (one directory entry) reserved, never data: "." and "..", and
 * datumrun's own owner marker?  Every reader of a folder that holds inputs
 * or outputs (the glob walk, folder hashes, "is this folder empty") skips
 * what this says, so that a pipeline reading another's output folder
 * never sees the marker as a datum or in a hash. */
bool io_name_reserved (const char *name);

typedef struct io_owner {
    char *pipeline;
    char *spec;             /* absolute path of its spec file */
    char *state_dir;        /* absolute path of its state folder */
    char *state_rel;        /* the state folder relative to the output */
    char *manifest;         /* absolute path of its manifest.h5 */
} io_owner_t;

/* Fill o for a pipeline; 0 or -1 (ENOMEM).  Free with io_owner_free(). */
int io_owner_init (io_owner_t *o, const char *pipeline, const char *spec,
                   const char *state_dir, const char *output);
/* 1 and o filled when output has a marker, 0 when it has none, -1 with
 * err when it cannot be read or is not a marker. */
int io_owner_read (const char *output, io_owner_t *o, dr_error_t *err);
/* Write the marker atomically (temporary file, rename). */
int io_owner_write (const char *output, const io_owner_t *o,
                    dr_error_t *err);
int io_owner_remove (const char *output);
void io_owner_free (io_owner_t *o);
/* Does the marker read from output name state_dir (the same folder, or,
 * when the project moved, the same place relative to the output)? */
bool io_owner_same_state (const io_owner_t *marker, const char *output,
                          const char *state_dir);

/* ------------------------------------------------------------ containment
 * (contain.c) Every path deleted or written in an output folder is
 * relative to a descriptor of it, clean, and never followed through a
 * symbolic link. */

/* A relative path with no "..", "." or empty component, not absolute. */
bool io_path_is_clean (const char *rel);
/* Open the folder that holds rel's last component, beneath rootfd and
 * without following any link (openat2 RESOLVE_BENEATH where the kernel has
 * it, else an O_NOFOLLOW walk); with create, missing folders are made.
 * *leaf points into rel.  Returns an fd (caller closes) or -1 with errno:
 * EINVAL for a path that is not clean, ELOOP for a link on the way. */
int io_beneath_parent (int rootfd, const char *rel, bool create,
                       const char **leaf);
/* Remove the output file rel beneath rootfd, then the folders it leaves
 * empty (never rootfd itself).  A missing file is not an error; a path
 * that is not clean is refused (EINVAL). */
int io_remove_output_at (int rootfd, const char *rel);
/* The same, opening root first. */
int io_remove_output (const char *root, const char *rel);
/* lstat of rel beneath rootfd (one call); EINVAL if rel is not clean. */
int io_stat_output_at (int rootfd, const char *rel, struct stat *st);
/* Copy the file src to leaf in dirfd without replacing anything (a
 * temporary file linked into place); -1 with EEXIST on a collision. */
int io_copy_noreplace_at (const char *src, int dirfd, const char *leaf);
/* Replace the symbolic link at path by a copy of what it leads to (a file,
 * or a folder copied whole, links inside followed).  A dangling link, a
 * loop, a FIFO, socket or device fails with err naming `shown`. */
int io_link_materialize (const char *path, const char *shown,
                         dr_error_t *err);

/* Outputs found under a datum's pfs/out, as paths relative to it. */
typedef struct io_outlist {
    char **paths;
    uint64_t *sizes;
    int64_t *mtimes;        /* mtime_ns once moved (io_outlist_move) */
    size_t n;
    uint64_t bytes;
} io_outlist_t;

/* List the regular files under dir, sorted.  A symbolic link is first
 * replaced by a copy of its target (io_link_materialize); anything that
 * is not a regular file or folder fails naming it. */
int io_outlist_scan (const char *dir, io_outlist_t *out, dr_error_t *err);
void io_outlist_free (io_outlist_t *out);

/* Move each listed file from src_dir to dst_dir at the same relative path,
 * beneath a descriptor of dst_dir, never replacing an existing file and
 * never following a link there; records each moved file's size and mtime.
 * On a collision, moves back what it moved, sets *collision to the
 * colliding relative path (caller frees) and returns -1 with errno EEXIST.
 * Falls back to copying across file systems.
 */
int io_outlist_move (io_outlist_t *ol, const char *src_dir,
                     const char *dst_dir, char **collision, dr_error_t *err);

#endif /* DATUMRUN_IO_H */
