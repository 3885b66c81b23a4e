/* manifest_int.h: what io/manifest.c (the in-memory model and the public
 * API), io/manifest_h5.c (the HDF5 schema) and io/journal.c (the crash-safe
 * append-only log) share.  Private to io/: nothing outside includes it.
 */
#ifndef DATUMRUN_IO_MANIFEST_INT_H
#define DATUMRUN_IO_MANIFEST_INT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "io/io.h"

typedef struct io__journal io__journal_t;

struct io_manifest {
    char *dir;             /* the state folder */
    char *path;            /* <dir>/manifest.h5 */
    char *tmp_path;        /* <dir>/manifest.h5.tmp */
    char *journal_path;    /* <dir>/journal */
    char *lock_path;       /* <dir>/lock */
    bool ro;
    int lock_fd;           /* -1 when read-only */
    io__journal_t *journal;/* NULL when read-only */
    io_statcache_t *sc;
    io_hash_t pipeline_hash;

    /* Datums, dense; tab maps id -> index + 1 (0 = empty slot), open
     * addressing with linear probing, tabcap a power of two. */
    io_datum_rec_t *recs;
    size_t n, cap;
    uint32_t *tab;
    size_t tabcap;

    /* Host names, interned: a record holds a pointer, not 64 bytes. */
    char **hosts;
    size_t nhosts, hosts_cap, host_last;

    jobs_record_t *jobs;   /* oldest first */
    size_t njobs, jobscap;
};

/* Give rec its own copy of the strings: inputs (ilen bytes, no NUL) and
 * the outputs as nout NUL-terminated paths concatenated in outbuf (outlen
 * bytes).  Everything lives in one allocation that rec->inputs points to.
 * Returns 0, or -1 with errno EINVAL (malformed) or ENOMEM.
 */
/* Format 1's inputs text ("name:path" lines, '\n'-separated) as an inputs
 * list (io_datum_rec_t.inputs); *out is malloc'd, *outlen excludes the
 * final NUL.  0 or -1 with errno. */
int io__inputs_from_lines (const char *text, size_t len, char **out,
                           size_t *outlen);

int io__datum_set_strings (io_datum_rec_t *rec, const char *inputs,
                           size_t ilen, const char *outbuf, size_t outlen,
                           size_t nout);
void io__datum_free_strings (io_datum_rec_t *rec);
/* Bytes of rec's outputs in the concatenated form above. */
size_t io__datum_outputs_len (const io_datum_rec_t *rec);

/* Apply one operation in memory.  apply_put takes ownership of rec's
 * strings (also on failure) and interns its host.  Return 0 or -1 with errno ENOMEM. */
int io__manifest_apply_put (io_manifest_t *m, io_datum_rec_t *rec);
void io__manifest_apply_invalidate (io_manifest_t *m, const io_hash_t *id);
void io__manifest_apply_forget (io_manifest_t *m, const io_hash_t *id);
/* A record written before the manifest kept each datum's pipeline
 * (format 1, or a journal of that time) gets the pipeline hash of the job
 * that processed it, which its hash was made with. */
void io__manifest_fill_pipeline (const io_manifest_t *m, io_datum_rec_t *rec);
int io__manifest_apply_job (io_manifest_t *m, const jobs_record_t *job);

/* The HDF5 file.  load fills an empty m from m->path; store writes the
 * whole of m to path (the caller fsyncs and renames it).  Both return 0 or
 * -1 with err naming the file. */
int io__manifest_h5_load (io_manifest_t *m, dr_error_t *err);
int io__manifest_h5_store (const io_manifest_t *m, const char *path,
                           const io_hash_t *pipeline_hash, dr_error_t *err);

/* The journal.  open creates it if missing (read-write, append). */
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
int io__journal_sync (io__journal_t *j, dr_error_t *err);
/* Empty the journal (after a checkpoint): ftruncate to 0 and fsync. */
int io__journal_reset (io__journal_t *j, dr_error_t *err);
/* Apply the journal at path to m, in order.  A torn last record is
 * ignored; with j (read-write) it is also cut off so that new records
 * follow the last good one.  A missing journal is empty.  A bad record
 * that good records follow is an error naming the file.
 */
int io__journal_replay (io_manifest_t *m, const char *path, io__journal_t *j,
                        dr_error_t *err);

#endif /* DATUMRUN_IO_MANIFEST_INT_H */
