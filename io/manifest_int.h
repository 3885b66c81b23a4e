/* manifest_int.h: what the manifest's files share, private to io/.
 *
 * The layers point one way.  manifest.c (the in-memory model and the
 * public API) uses journal.c (the crash-safe append-only log) and
 * manifest_h5.c (the HDF5 file); neither of those knows the model.  Both
 * decode what they read into a sink, a table of callbacks the model
 * provides, and manifest_h5.c writes a snapshot the model hands it.
 * record.c holds the datum record's string helpers that all three use.
 */
#ifndef DATUMRUN_IO_MANIFEST_INT_H
#define DATUMRUN_IO_MANIFEST_INT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "io/io.h"

/* ------------------------------------------------------- record strings */

/* Format 1's inputs text ("name:path" lines, '\n'-separated) as an inputs
 * list (io_datum_rec_t.inputs); *out is malloc'd, *outlen excludes the
 * final NUL.  0 or -1 with errno. */
int io__inputs_from_lines (const char *text, size_t len, char **out,
                           size_t *outlen);

/* Give rec its own copy of the strings: inputs (ilen bytes, a list) and
 * the outputs as nout NUL-terminated paths concatenated in outbuf (outlen
 * bytes).  Everything lives in one allocation that rec->inputs points to.
 * Returns 0, or -1 with errno EINVAL (malformed) or ENOMEM.
 */
int io__datum_set_strings (io_datum_rec_t *rec, const char *inputs,
                           size_t ilen, const char *outbuf, size_t outlen,
                           size_t nout);
/* The same from a caller's record (C strings, outputs array). */
int io__datum_copy_strings (io_datum_rec_t *dst, const io_datum_rec_t *src);
void io__datum_free_strings (io_datum_rec_t *rec);
/* The block that copy_strings would make for src, in bytes, or -1 with
 * errno EINVAL; copy_strings_at lays it out at block (8-aligned, that
 * many bytes; NULL: malloc'd). */
ssize_t io__datum_strings_size (const io_datum_rec_t *src);
int io__datum_copy_strings_at (io_datum_rec_t *dst, const io_datum_rec_t *src,
                               void *block);
/* The size of rec's own block (0 without strings), and moving it to dst
 * (that many bytes, 8-aligned), its pointers with it.  The caller frees
 * or reuses the old block. */
size_t io__datum_block_size (const io_datum_rec_t *rec);
void io__datum_block_move (io_datum_rec_t *rec, void *dst);
/* Bytes of rec's outputs in the concatenated form above. */
size_t io__datum_outputs_len (const io_datum_rec_t *rec);

/* -------------------------------------------------------------- lineage */

/* Entry hashes per datum and inputs per job (lineage.c), what `datumrun
 * why` follows.  put_entries replaces id's hashes (n == 0 removes them);
 * return 0 or -1 (ENOMEM). */
typedef struct io__lineage io__lineage_t;
io__lineage_t *io__lineage_create (void);
void io__lineage_destroy (io__lineage_t *l);
int io__lineage_put_entries (io__lineage_t *l, const io_hash_t *id,
                             uint32_t n, const io_hash_t *hashes);
void io__lineage_forget (io__lineage_t *l, const io_hash_t *id);
/* Whether id was put or forgotten (a file's older hashes must not
 * override either). */
bool io__lineage_has (const io__lineage_t *l, const io_hash_t *id);
const io_hash_t *io__lineage_entries (const io__lineage_t *l,
                                      const io_hash_t *id, uint32_t *n);
int io__lineage_put_job_inputs (io__lineage_t *l, const char *job_id,
                                size_t n, char *const names[],
                                char *const repos[]);
const char *io__lineage_job_repo (const io__lineage_t *l, const char *job_id,
                                  const char *name);
size_t io__lineage_njobs (const io__lineage_t *l);
void io__lineage_job (const io__lineage_t *l, size_t i, const char **job_id,
                      size_t *n, char *const **names, char *const **repos);

/* ------------------------------------------------------------- the sink */

/* Where decoders deliver records, in file order.  Each callback returns 0
 * or -1 with errno (ENOMEM).  put takes ownership of rec's strings, also
 * on failure.  A NULL callback drops that kind of record. */
typedef struct io__sink {
    void *arg;
    int (*put) (void *arg, io_datum_rec_t *rec);
    int (*invalidate) (void *arg, const io_hash_t *id);
    int (*forget) (void *arg, const io_hash_t *id);
    /* begin: a job_begin record (else job_end or a stored job row). */
    int (*job) (void *arg, bool begin, const jobs_record_t *job);
    int (*attempt) (void *arg, const io_attempt_t *a);
    int (*stat) (void *arg, const char *path, const io_stat_entry_t *e);
    /* lineage: a datum's entry hashes, a job's inputs */
    int (*entries) (void *arg, const io_hash_t *id, uint32_t n,
                    const io_hash_t *hashes);
    int (*job_inputs) (void *arg, const char *job_id, size_t n,
                       char *const names[], char *const repos[]);
    int (*lost_worker) (void *arg, const io_lost_worker_t *l);
    /* n records of a kind follow (room for them, made at once). */
    int (*reserve) (void *arg, int kind, size_t n);
} io__sink_t;

enum { IO__RESERVE_DATUMS, IO__RESERVE_STATS };

/* --------------------------------------------------------- the HDF5 file */

/* What a checkpoint writes: the model's current state. */
typedef struct io__snapshot {
    /* Record i (< nrecs) as a view in *view; it stays valid while the
     * snapshot is written. */
    const io_datum_rec_t *(*rec) (const void *arg, size_t i,
                                  io_datum_rec_t *view);
    const void *rec_arg;
    size_t nrecs;
    const jobs_record_t *jobs;
    size_t njobs;
    const io_statcache_t *sc;     /* its seen entries are stored */
    io_hash_t pipeline_hash;
    const char *output;           /* the output folder, or NULL */
    /* Attempts: those of the previous file (old, may be NULL) that
     * superseded() does not reject, then these. */
    const io_attempt_t *attempts;
    size_t nattempts;
    bool (*superseded) (const void *arg, const io_attempt_t *a);
    const void *superseded_arg;
    const io__lineage_t *lin;     /* kept for the datums in recs */
    const io_lost_worker_t *lost; /* lost workers of every job */
    size_t nlost;
} io__snapshot_t;

/* The format version manifest_h5.c writes; it reads 1 and 2. */
#define IO_MANIFEST_VERSION 2

/* An open manifest.h5, read-only. */
typedef struct io__h5 io__h5_t;

/* Open path and check its format version (1 and 2 are read).  A damaged
 * file is an error naming it and saying how to recover.  Close with
 * io__h5_close(). */
io__h5_t *io__h5_open (const char *path, dr_error_t *err);
void io__h5_close (io__h5_t *f);
int io__h5_version (const io__h5_t *f);
io_hash_t io__h5_pipeline_hash (const io__h5_t *f);
/* The output folder the file records (attribute output_folder), or NULL. */
const char *io__h5_output (const io__h5_t *f);
/* Deliver every datum (put), job (job) and stat cache entry (stat). */
int io__h5_load (io__h5_t *f, const io__sink_t *sink, dr_error_t *err);
/* Deliver the stored lineage alone (entries, job_inputs); a version 1
 * file has none. */
int io__h5_lineage (io__h5_t *f, const io__sink_t *sink, dr_error_t *err);
/* Deliver the stored attempts (attempt), oldest first; a version 1 file
 * has none.  With job/datum set, only those that match. */
int io__h5_attempts (io__h5_t *f, const io_hash_t *job,
                     const io_hash_t *datum, const io__sink_t *sink,
                     dr_error_t *err);
/* Write the snapshot to path (the caller fsyncs and renames it), in the
 * current format version. */
int io__h5_store (const char *path, const io__snapshot_t *s, io__h5_t *old,
                  dr_error_t *err);

/* ------------------------------------------------------------ the journal */

typedef struct io__journal io__journal_t;

/* Open creates it if missing (read-write, append). */
io__journal_t *io__journal_open (const char *path, dr_error_t *err);
void io__journal_close (io__journal_t *j);
int io__journal_put (io__journal_t *j, const io_datum_rec_t *rec,
                     dr_error_t *err);
int io__journal_invalidate (io__journal_t *j, const io_hash_t *id,
                            dr_error_t *err);
int io__journal_forget (io__journal_t *j, const io_hash_t *id,
                        dr_error_t *err);
int io__journal_job (io__journal_t *j, bool begin, const jobs_record_t *job,
                     dr_error_t *err);
int io__journal_attempt (io__journal_t *j, const io_attempt_t *a,
                         dr_error_t *err);
int io__journal_entries (io__journal_t *j, const io_hash_t *id, uint32_t n,
                         const io_hash_t *hashes, dr_error_t *err);
int io__journal_job_inputs (io__journal_t *j, const char *job_id, size_t n,
                            char *const names[], char *const repos[],
                            dr_error_t *err);
int io__journal_lost_worker (io__journal_t *j, const io_lost_worker_t *l,
                             dr_error_t *err);
int io__journal_sync (io__journal_t *j, dr_error_t *err);
/* Bytes of good records, and held ones. */
uint64_t io__journal_size (const io__journal_t *j);
/* Hold: records wait in memory until release writes them all with one
 * write(2) (rank 0 holds over a sweep of results).  Sync and reset write
 * what waits first. */
void io__journal_hold (io__journal_t *j);
int io__journal_release (io__journal_t *j, dr_error_t *err);
/* Empty the journal (after a checkpoint): ftruncate to 0 and fsync. */
int io__journal_reset (io__journal_t *j, dr_error_t *err);
/* Decode the journal at path into sink, in order.  A torn last record is
 * ignored; with j (read-write) it is also cut off so that new records
 * follow the last good one.  A missing journal is empty.  A bad record
 * that good records follow is an error naming the file.
 */
int io__journal_replay (const char *path, io__journal_t *j,
                        const io__sink_t *sink, dr_error_t *err);

#endif /* DATUMRUN_IO_MANIFEST_INT_H */
