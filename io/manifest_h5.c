/* manifest_h5.c: the manifest's HDF5 schema, written whole at each
 * checkpoint and read whole at open (docs/manifest.md documents it for
 * readers such as h5py).  Tables are 1-D contiguous datasets of packed
 * compounds with fixed-size fields; hashes and ids are 32-character hex
 * strings.  Variable-size strings are not HDF5 vlen strings (a million of
 * those are slow to write and read) but bytes concatenated into a uint8
 * dataset that rows point into with (offset, length) fields.  Each dataset
 * carries an "xxh3_64" attribute, the XXH3-64 of its raw bytes, because
 * HDF5 checksums its metadata (we ask for the 1.8+ format) but not raw
 * data: garbage anywhere in the file is then an error rather than wrong
 * records.  The file is written and read in slabs of rows, so that a
 * million datums do not need a second copy in memory.  This file only
 * serializes: it reads into a sink and writes a snapshot (manifest_int.h),
 * and knows nothing of the model.  The attempts table is copied from the
 * file being replaced, slab by slab, then extended with the new ones.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <hdf5.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <xxhash.h>

#include "io/manifest_int.h"

#define SLAB 65536
#define ATTEMPT_CHUNK 4096
#define HOST_LEN 64

/* The memory layout of rows is the file's (packed, little-endian), so
 * HDF5 converts nothing and the checksums cover the bytes on disk. */
_Static_assert (__BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__,
                "the manifest rows assume a little-endian host");

/* One row per datum.  Format 2 since the lost-worker records: attempts
 * is 32 bits wide (datum_tries may exceed 255). */
#define DATUM_ROW_FIELDS(attempts_t)                                        \
    char id[32];                                                            \
    char hash[32];                                                          \
    char proc_job[32];                                                      \
    char seen_job[32];                                                      \
    uint8_t state;                                                          \
    attempts_t attempts;                                                    \
    int32_t rank;                                                           \
    uint32_t host_index;        /* row of /hosts */                         \
    int64_t start_ns;                                                       \
    double duration_s;                                                      \
    uint64_t bytes_in;                                                      \
    uint64_t bytes_out;                                                     \
    int32_t exit_status;                                                    \
    int32_t term_signal;                                                    \
    uint64_t strings_offset;    /* into /datum_strings: inputs, outputs */  \
    uint32_t inputs_length;                                                 \
    uint32_t outputs_length;                                                \
    uint32_t noutputs;                                                      \
    char pipeline[32];          /* format 2: the version that made it */

typedef struct __attribute__ ((packed)) datum_row {
    DATUM_ROW_FIELDS (uint32_t)
} datum_row_t;
_Static_assert (sizeof (datum_row_t) == 233, "datum row size");

/* The row before it (format 1, and format 2 files written before the
 * lost-worker records): attempts in 8 bits.  Read, then widened. */
typedef struct __attribute__ ((packed)) datum_row_narrow {
    DATUM_ROW_FIELDS (uint8_t)
} datum_row_narrow_t;
_Static_assert (sizeof (datum_row_narrow_t) == 230, "narrow datum row size");
/* A format 1 row is a narrow row without its last field. */
#define DATUM_ROW_V1 offsetof (datum_row_narrow_t, pipeline)

typedef struct __attribute__ ((packed)) job_row {
    char id[32];
    char pipeline[128];
    uint8_t state;
    int32_t workers;
    int32_t nodes;
    uint64_t processed;
    uint64_t skipped;
    uint64_t failed;
    uint64_t recovered;
    uint64_t total;
    uint64_t bytes_downloaded;
    uint64_t bytes_uploaded;
    int64_t start_ns;
    double duration_s;
    char pipeline_hash[32];
} job_row_t;

/* The image each job ran with (transform.image), for jobs that had one.
 * A table of its own, so that files without it (older ones, and pipelines
 * without images) keep the jobs table's layout. */
typedef struct __attribute__ ((packed)) job_image_row {
    char id[32];
    char image_id[80];
} job_image_row_t;

/* Lineage (lineage.c), format 2: one row per datum that has its input
 * entries' hashes recorded (nentries raw 16-byte hashes, in the order of
 * its inputs text, concatenated in /lineage_hashes), and one row per input
 * of each job that recorded its inputs (name and absolute repo folder,
 * concatenated in /job_input_strings).  Both are absent from files that
 * predate them. */
typedef struct __attribute__ ((packed)) lineage_row {
    char id[32];
    uint32_t nentries;
} lineage_row_t;

typedef struct __attribute__ ((packed)) job_input_row {
    char job[32];
    uint64_t strings_offset;
    uint32_t name_length;
    uint32_t repo_length;
} job_input_row_t;

/* Format 2: one row per worker declared lost, of every job.  Absent from
 * files that predate it (and written empty when no worker was lost). */
typedef struct __attribute__ ((packed)) lost_row {
    char job[32];
    int32_t rank;
    char host[HOST_LEN];
    int64_t time_ns;            /* CLOCK_REALTIME when declared lost */
    char reason[256];
} lost_row_t;

typedef struct __attribute__ ((packed)) stat_row {
    uint64_t path_offset;       /* into /statcache_paths */
    uint32_t path_length;
    uint64_t size;
    int64_t mtime_ns;
    int64_t ctime_ns;           /* since format 2's output stats */
    uint64_t ino;
    uint64_t dev;
    char hash[32];
} stat_row_t;

/* The stat cache row without ctime_ns (format 1, and format 2 files
 * written before it), read when the file has no ctime_ns field. */
typedef struct __attribute__ ((packed)) stat_row_v1 {
    uint64_t path_offset;
    uint32_t path_length;
    uint64_t size;
    int64_t mtime_ns;
    uint64_t ino;
    uint64_t dev;
    char hash[32];
} stat_row_v1_t;

/* One row per output path, in the order of the datums rows and of each
 * datum's outputs: what the file was when the datum made it. */
typedef struct __attribute__ ((packed)) outstat_row {
    uint64_t size;
    int64_t mtime_ns;
} outstat_row_t;

/* Format version 2. */
typedef struct __attribute__ ((packed)) attempt_row {
    char datum[32];
    char job[32];
    uint32_t attempt;
    int32_t rank;
    uint32_t host_index;        /* row of /hosts */
    int64_t start_ns;
    double duration_s;
    int32_t exit_status;
    int32_t term_signal;
    uint8_t outcome;
} attempt_row_t;
_Static_assert (sizeof (attempt_row_t) == 101, "attempt row size");

/* ------------------------------------------------------------- types */

typedef struct types {
    hid_t hex, host, pipeline, image, dstate, jstate, aoutcome, datum, job,
        stat, jimg, attempt;
    hid_t datum_v1;             /* the datums row of format 1 */
    hid_t datum_narrow;         /* and of format 2 with 8-bit attempts */
    hid_t lost;                 /* lost_workers */
    hid_t stat_v1, outstat;
    hid_t lineage, jinput;
} types_t;

#define TYPES_INIT                                                          \
    { -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1,   \
      -1, -1 }

static void types_close (types_t *t)
{
    hid_t *all[] = { &t->hex, &t->host, &t->pipeline, &t->image,
                     &t->dstate, &t->jstate, &t->aoutcome, &t->datum,
                     &t->job, &t->stat, &t->jimg, &t->attempt,
                     &t->datum_v1, &t->stat_v1, &t->outstat, &t->lineage,
                     &t->jinput, &t->datum_narrow, &t->lost };
    for (size_t i = 0; i < sizeof (all) / sizeof (all[0]); i++) {
        if (*all[i] >= 0)
            H5Tclose (*all[i]);
        *all[i] = H5I_INVALID_HID;
    }
}

static hid_t str_type (size_t len)
{
    hid_t t = H5Tcopy (H5T_C_S1);
    if (t >= 0 && (H5Tset_size (t, len) < 0
                   || H5Tset_strpad (t, H5T_STR_NULLPAD) < 0)) {
        H5Tclose (t);
        t = H5I_INVALID_HID;
    }
    return t;
}

static hid_t enum_type (const char *const *names, size_t n)
{
    hid_t t = H5Tenum_create (H5T_NATIVE_UINT8);
    for (size_t i = 0; t >= 0 && i < n; i++) {
        uint8_t v = (uint8_t)i;
        if (H5Tenum_insert (t, names[i], &v) < 0) {
            H5Tclose (t);
            t = H5I_INVALID_HID;
        }
    }
    return t;
}

#define FIELD(ok, t, T, f, ft) \
    ok = ok && H5Tinsert (t, #f, offsetof (T, f), ft) >= 0

static int types_create (types_t *t)
{
    static const char *const dstates[] = { "pending", "success", "failed",
                                           "recovered", "skipped",
                                           "interrupted" };
    static const char *const jstates[] = { "running", "success", "failure",
                                           "killed" };
    const char *outcomes[JOBS_ATTEMPT_NOUTCOMES];
    for (int i = 0; i < JOBS_ATTEMPT_NOUTCOMES; i++)
        outcomes[i] = jobs_attempt_outcome_name ((jobs_attempt_outcome_t)i);
    bool ok = true;
    t->hex = str_type (32);
    t->host = str_type (HOST_LEN);
    t->pipeline = str_type (sizeof (((jobs_record_t *)0)->pipeline));
    t->image = str_type (sizeof (((job_image_row_t *)0)->image_id));
    t->dstate = enum_type (dstates, 5);
    t->jstate = enum_type (jstates, 4);
    t->aoutcome = enum_type (outcomes, JOBS_ATTEMPT_NOUTCOMES);
    t->datum = H5Tcreate (H5T_COMPOUND, sizeof (datum_row_t));
    t->datum_narrow = H5Tcreate (H5T_COMPOUND, sizeof (datum_row_narrow_t));
    t->lost = H5Tcreate (H5T_COMPOUND, sizeof (lost_row_t));
    t->job = H5Tcreate (H5T_COMPOUND, sizeof (job_row_t));
    t->stat = H5Tcreate (H5T_COMPOUND, sizeof (stat_row_t));
    t->jimg = H5Tcreate (H5T_COMPOUND, sizeof (job_image_row_t));
    t->attempt = H5Tcreate (H5T_COMPOUND, sizeof (attempt_row_t));
    t->stat_v1 = H5Tcreate (H5T_COMPOUND, sizeof (stat_row_v1_t));
    t->outstat = H5Tcreate (H5T_COMPOUND, sizeof (outstat_row_t));
    t->lineage = H5Tcreate (H5T_COMPOUND, sizeof (lineage_row_t));
    t->jinput = H5Tcreate (H5T_COMPOUND, sizeof (job_input_row_t));
    if (t->hex < 0 || t->host < 0 || t->pipeline < 0 || t->image < 0
        || t->dstate < 0 || t->jstate < 0 || t->aoutcome < 0 || t->datum < 0
        || t->job < 0 || t->stat < 0 || t->jimg < 0 || t->attempt < 0
        || t->stat_v1 < 0 || t->outstat < 0 || t->lineage < 0
        || t->jinput < 0 || t->datum_narrow < 0 || t->lost < 0)
        goto error;

#define DATUM_FIELDS(ok, t, T, at)                                         \
    FIELD (ok, t, T, id, types->hex);                                      \
    FIELD (ok, t, T, hash, types->hex);                                    \
    FIELD (ok, t, T, proc_job, types->hex);                                \
    FIELD (ok, t, T, seen_job, types->hex);                                \
    FIELD (ok, t, T, state, types->dstate);                                \
    FIELD (ok, t, T, attempts, at);                                        \
    FIELD (ok, t, T, rank, H5T_NATIVE_INT32);                              \
    FIELD (ok, t, T, host_index, H5T_NATIVE_UINT32);                       \
    FIELD (ok, t, T, start_ns, H5T_NATIVE_INT64);                          \
    FIELD (ok, t, T, duration_s, H5T_NATIVE_DOUBLE);                       \
    FIELD (ok, t, T, bytes_in, H5T_NATIVE_UINT64);                         \
    FIELD (ok, t, T, bytes_out, H5T_NATIVE_UINT64);                        \
    FIELD (ok, t, T, exit_status, H5T_NATIVE_INT32);                       \
    FIELD (ok, t, T, term_signal, H5T_NATIVE_INT32);                       \
    FIELD (ok, t, T, strings_offset, H5T_NATIVE_UINT64);                   \
    FIELD (ok, t, T, inputs_length, H5T_NATIVE_UINT32);                    \
    FIELD (ok, t, T, outputs_length, H5T_NATIVE_UINT32);                   \
    FIELD (ok, t, T, noutputs, H5T_NATIVE_UINT32)
    const types_t *types = t;
    DATUM_FIELDS (ok, t->datum, datum_row_t, H5T_NATIVE_UINT32);
    FIELD (ok, t->datum, datum_row_t, pipeline, t->hex);
    DATUM_FIELDS (ok, t->datum_narrow, datum_row_narrow_t, H5T_NATIVE_UINT8);
    /* Format 1's row: every narrow field but the pipeline. */
    if (ok && (t->datum_v1 = H5Tcreate (H5T_COMPOUND, DATUM_ROW_V1)) >= 0) {
        int nm = H5Tget_nmembers (t->datum_narrow);
        for (int i = 0; ok && i < nm; i++) {
            char *name = H5Tget_member_name (t->datum_narrow, (unsigned)i);
            hid_t mt = H5Tget_member_type (t->datum_narrow, (unsigned)i);
            ok = name && mt >= 0
                 && H5Tinsert (t->datum_v1, name,
                               H5Tget_member_offset (t->datum_narrow,
                                                     (unsigned)i),
                               mt) >= 0;
            if (mt >= 0)
                H5Tclose (mt);
            H5free_memory (name);
        }
    }
    else
        ok = false;
    FIELD (ok, t->datum_narrow, datum_row_narrow_t, pipeline, t->hex);

    FIELD (ok, t->job, job_row_t, id, t->hex);
    FIELD (ok, t->job, job_row_t, pipeline, t->pipeline);
    FIELD (ok, t->job, job_row_t, state, t->jstate);
    FIELD (ok, t->job, job_row_t, workers, H5T_NATIVE_INT32);
    FIELD (ok, t->job, job_row_t, nodes, H5T_NATIVE_INT32);
    FIELD (ok, t->job, job_row_t, processed, H5T_NATIVE_UINT64);
    FIELD (ok, t->job, job_row_t, skipped, H5T_NATIVE_UINT64);
    FIELD (ok, t->job, job_row_t, failed, H5T_NATIVE_UINT64);
    FIELD (ok, t->job, job_row_t, recovered, H5T_NATIVE_UINT64);
    FIELD (ok, t->job, job_row_t, total, H5T_NATIVE_UINT64);
    FIELD (ok, t->job, job_row_t, bytes_downloaded, H5T_NATIVE_UINT64);
    FIELD (ok, t->job, job_row_t, bytes_uploaded, H5T_NATIVE_UINT64);
    FIELD (ok, t->job, job_row_t, start_ns, H5T_NATIVE_INT64);
    FIELD (ok, t->job, job_row_t, duration_s, H5T_NATIVE_DOUBLE);
    FIELD (ok, t->job, job_row_t, pipeline_hash, t->hex);
    FIELD (ok, t->jimg, job_image_row_t, id, t->hex);
    FIELD (ok, t->jimg, job_image_row_t, image_id, t->image);
    FIELD (ok, t->lineage, lineage_row_t, id, t->hex);
    FIELD (ok, t->lineage, lineage_row_t, nentries, H5T_NATIVE_UINT32);
    FIELD (ok, t->jinput, job_input_row_t, job, t->hex);
    FIELD (ok, t->jinput, job_input_row_t, strings_offset, H5T_NATIVE_UINT64);
    FIELD (ok, t->jinput, job_input_row_t, name_length, H5T_NATIVE_UINT32);
    FIELD (ok, t->jinput, job_input_row_t, repo_length, H5T_NATIVE_UINT32);
    hid_t reason = str_type (sizeof (((lost_row_t *)0)->reason));
    ok = ok && reason >= 0;
    FIELD (ok, t->lost, lost_row_t, job, t->hex);
    FIELD (ok, t->lost, lost_row_t, rank, H5T_NATIVE_INT32);
    FIELD (ok, t->lost, lost_row_t, host, t->host);
    FIELD (ok, t->lost, lost_row_t, time_ns, H5T_NATIVE_INT64);
    FIELD (ok, t->lost, lost_row_t, reason, reason);
    if (reason >= 0)
        H5Tclose (reason);

    FIELD (ok, t->stat, stat_row_t, path_offset, H5T_NATIVE_UINT64);
    FIELD (ok, t->stat, stat_row_t, path_length, H5T_NATIVE_UINT32);
    FIELD (ok, t->stat, stat_row_t, size, H5T_NATIVE_UINT64);
    FIELD (ok, t->stat, stat_row_t, mtime_ns, H5T_NATIVE_INT64);
    FIELD (ok, t->stat, stat_row_t, ctime_ns, H5T_NATIVE_INT64);
    FIELD (ok, t->stat, stat_row_t, ino, H5T_NATIVE_UINT64);
    FIELD (ok, t->stat, stat_row_t, dev, H5T_NATIVE_UINT64);
    FIELD (ok, t->stat, stat_row_t, hash, t->hex);

    FIELD (ok, t->stat_v1, stat_row_v1_t, path_offset, H5T_NATIVE_UINT64);
    FIELD (ok, t->stat_v1, stat_row_v1_t, path_length, H5T_NATIVE_UINT32);
    FIELD (ok, t->stat_v1, stat_row_v1_t, size, H5T_NATIVE_UINT64);
    FIELD (ok, t->stat_v1, stat_row_v1_t, mtime_ns, H5T_NATIVE_INT64);
    FIELD (ok, t->stat_v1, stat_row_v1_t, ino, H5T_NATIVE_UINT64);
    FIELD (ok, t->stat_v1, stat_row_v1_t, dev, H5T_NATIVE_UINT64);
    FIELD (ok, t->stat_v1, stat_row_v1_t, hash, t->hex);

    FIELD (ok, t->outstat, outstat_row_t, size, H5T_NATIVE_UINT64);
    FIELD (ok, t->outstat, outstat_row_t, mtime_ns, H5T_NATIVE_INT64);

    FIELD (ok, t->attempt, attempt_row_t, datum, t->hex);
    FIELD (ok, t->attempt, attempt_row_t, job, t->hex);
    FIELD (ok, t->attempt, attempt_row_t, attempt, H5T_NATIVE_UINT32);
    FIELD (ok, t->attempt, attempt_row_t, rank, H5T_NATIVE_INT32);
    FIELD (ok, t->attempt, attempt_row_t, host_index, H5T_NATIVE_UINT32);
    FIELD (ok, t->attempt, attempt_row_t, start_ns, H5T_NATIVE_INT64);
    FIELD (ok, t->attempt, attempt_row_t, duration_s, H5T_NATIVE_DOUBLE);
    FIELD (ok, t->attempt, attempt_row_t, exit_status, H5T_NATIVE_INT32);
    FIELD (ok, t->attempt, attempt_row_t, term_signal, H5T_NATIVE_INT32);
    FIELD (ok, t->attempt, attempt_row_t, outcome, t->aoutcome);
    if (!ok)
        goto error;
    return 0;
error:
    types_close (t);
    return -1;
}

/* ------------------------------------------------------------ errors */

typedef struct h5msg {
    char text[160];
} h5msg_t;

static herr_t walk_cb (unsigned n, const H5E_error2_t *e, void *arg)
{
    h5msg_t *msg = arg;
    /* Upward: the first entry is the most specific.  A failed system
     * call's description is a multi-line dump ending in "errno = N, error
     * message = ..."; the reason people need is the errno's. */
    if (n == 0 && e->desc) {
        const char *en = strstr (e->desc, "errno = ");
        int num = en ? atoi (en + 8) : 0;
        char *full = NULL;
        int len;
        if (num > 0)
            len = asprintf (&full, "%s (HDF5, in %s)", strerror (num),
                            e->func_name ? e->func_name : "?");
        else
            len = asprintf (&full, "HDF5: %s (in %s)", e->desc,
                            e->func_name ? e->func_name : "?");
        /* A long description loses its middle, not its end. */
        dr_shorten (len < 0 ? "HDF5 error" : full, msg->text,
                    sizeof (msg->text));
        free (full);
    }
    return 0;
}

/* Take the reason from HDF5's error stack, right after a failing call;
 * otherwise use what. */
static void h5_reason (h5msg_t *msg, const char *what)
{
    if (msg->text[0])
        return;
    H5Ewalk2 (H5E_DEFAULT, H5E_WALK_UPWARD, walk_cb, msg);
    if (!msg->text[0])
        snprintf (msg->text, sizeof (msg->text), "%s", what);
    H5Eclear2 (H5E_DEFAULT);
}

static void set_reason (h5msg_t *msg, const char *fmt, ...)
    __attribute__ ((format (printf, 2, 3)));

static void set_reason (h5msg_t *msg, const char *fmt, ...)
{
    if (msg->text[0])
        return;
    char *full = NULL;
    va_list ap;
    va_start (ap, fmt);
    int len = vasprintf (&full, fmt, ap);
    va_end (ap);
    dr_shorten (len < 0 ? fmt : full, msg->text, sizeof (msg->text));
    free (full);
}

/* HDF5 prints its error stack to stderr by default; we report ourselves. */
static void quiet (void)
{
    H5Eset_auto2 (H5E_DEFAULT, NULL, NULL);
}

#define CORRUPT_FMT                                                        \
    "%s: not a readable datumrun manifest (truncated or corrupt): %.*s. "    \
    "To recover: move it aside (mv %s %s.bad) and rerun; every datum will "  \
    "be processed again and outputs rebuilt."

/* The reason is cut short, not the advice, when the path is long. */
static int corrupt (dr_error_t *err, const char *path, const char *reason)
{
    int fixed = snprintf (NULL, 0, CORRUPT_FMT, path, 0, "", path, path);
    int room = (int)sizeof (err->text) - 1 - fixed;
    errno = EINVAL;
    return dr_errprintf (err, CORRUPT_FMT, path, room > 0 ? room : 0, reason,
                         path, path);
}

static hid_t make_fapl (void)
{
    hid_t fapl = H5Pcreate (H5P_FILE_ACCESS);
    /* The 1.8+ format checksums metadata; our own lock file replaces
     * HDF5's locking, which fails on some parallel file systems. */
    if (fapl >= 0
        && (H5Pset_libver_bounds (fapl, H5F_LIBVER_V18, H5F_LIBVER_LATEST) < 0
            || H5Pset_file_locking (fapl, 0, 1) < 0)) {
        H5Pclose (fapl);
        fapl = H5I_INVALID_HID;
    }
    return fapl;
}

/* ---------------------------------------------------------- writing */

static void hex32 (char dst[32], const uint8_t b[16])
{
    char buf[33];
    io_hash_hex ((const io_hash_t *)(const void *)b, buf);
    memcpy (dst, buf, 32);
}

static int attr_write (hid_t obj, const char *name, hid_t type,
                       const void *v)
{
    hid_t space = H5Screate (H5S_SCALAR), a = H5I_INVALID_HID;
    int rc = -1;
    if (space < 0)
        return -1;
    a = H5Acreate2 (obj, name, type, space, H5P_DEFAULT, H5P_DEFAULT);
    if (a >= 0 && H5Awrite (a, type, v) >= 0)
        rc = 0;
    if (a >= 0)
        H5Aclose (a);
    H5Sclose (space);
    return rc;
}

static int attr_write_str (hid_t obj, const char *name, const char *s,
                           size_t len)
{
    hid_t t = str_type (len);
    if (t < 0)
        return -1;
    int rc = attr_write (obj, name, t, s);
    H5Tclose (t);
    return rc;
}

/* A 1-D contiguous dataset of n elements (written later in slabs). */
static hid_t dset_create (hid_t file, const char *name, hid_t type, size_t n)
{
    hsize_t dims = n;
    hid_t space = H5Screate_simple (1, &dims, NULL);
    hid_t dcpl = H5Pcreate (H5P_DATASET_CREATE), d = H5I_INVALID_HID;
    if (space >= 0 && dcpl >= 0 && H5Pset_layout (dcpl, H5D_CONTIGUOUS) >= 0
        && H5Pset_fill_time (dcpl, H5D_FILL_TIME_NEVER) >= 0)
        d = H5Dcreate2 (file, name, type, space, H5P_DEFAULT, dcpl,
                        H5P_DEFAULT);
    if (dcpl >= 0)
        H5Pclose (dcpl);
    if (space >= 0)
        H5Sclose (space);
    return d;
}

/* Write or read elements [first, first + count) of a 1-D dataset. */
static int dset_io (hid_t d, hid_t type, size_t first, size_t count,
                    void *buf, bool write)
{
    if (count == 0)
        return 0;
    hsize_t start = first, cnt = count;
    hid_t fs = H5Dget_space (d);
    hid_t ms = H5Screate_simple (1, &cnt, NULL);
    int rc = -1;
    if (fs >= 0 && ms >= 0
        && H5Sselect_hyperslab (fs, H5S_SELECT_SET, &start, NULL, &cnt, NULL)
               >= 0) {
        herr_t r = write ? H5Dwrite (d, type, ms, fs, H5P_DEFAULT, buf)
                         : H5Dread (d, type, ms, fs, H5P_DEFAULT, buf);
        rc = r < 0 ? -1 : 0;
    }
    if (ms >= 0)
        H5Sclose (ms);
    if (fs >= 0)
        H5Sclose (fs);
    return rc;
}

static int dset_close (hid_t d, uint64_t sum)
{
    int rc = attr_write (d, "xxh3_64", H5T_NATIVE_UINT64, &sum);
    if (H5Dclose (d) < 0)
        rc = -1;
    return rc;
}

/* A growable byte buffer for a slab of strings. */
typedef struct bytes {
    char *p;
    size_t len, cap;
} bytes_t;

static int bytes_add (bytes_t *b, const void *p, size_t n)
{
    if (b->len + n > b->cap) {
        size_t ncap = b->cap ? b->cap : 1 << 16;
        while (ncap < b->len + n)
            ncap *= 2;
        char *np = realloc (b->p, ncap);
        if (!np)
            return -1;
        b->p = np;
        b->cap = ncap;
    }
    memcpy (b->p + b->len, p, n);
    b->len += n;
    return 0;
}

/* Host names, interned: most datums share a handful. */
typedef struct hosts {
    const char **names;     /* by index */
    size_t n, cap;
    uint32_t *tab;          /* index + 1, open addressing */
    size_t tabcap;
} hosts_t;

static size_t hosts_slot (const hosts_t *h, const char *name)
{
    size_t mask = h->tabcap - 1;
    for (size_t i = XXH3_64bits (name, strlen (name)) & mask;;
         i = (i + 1) & mask) {
        if (!h->tab[i] || !strcmp (h->names[h->tab[i] - 1], name))
            return i;
    }
}

static int hosts_intern (hosts_t *h, const char *name, uint32_t *index)
{
    if ((h->n + 1) * 2 > h->tabcap) {
        size_t ncap = h->tabcap ? 2 * h->tabcap : 64;
        uint32_t *tab = calloc (ncap, sizeof (*tab));
        const char **names = realloc (h->names, ncap / 2 * sizeof (*names));
        if (!tab || !names) {
            free (tab);
            if (names)
                h->names = names;
            return -1;
        }
        h->names = names;
        free (h->tab);
        h->tab = tab;
        h->tabcap = ncap;
        for (size_t i = 0; i < h->n; i++)
            h->tab[hosts_slot (h, h->names[i])] = (uint32_t)(i + 1);
    }
    size_t s = hosts_slot (h, name);
    if (!h->tab[s]) {
        h->names[h->n] = name;
        h->tab[s] = (uint32_t)++h->n;
    }
    *index = h->tab[s] - 1;
    return 0;
}

static int write_hosts (hid_t file, const types_t *t, const hosts_t *h)
{
    char *buf = calloc (h->n ? h->n : 1, HOST_LEN);
    if (!buf)
        return -1;
    for (size_t i = 0; i < h->n; i++)
        memcpy (buf + i * HOST_LEN, h->names[i],
                strnlen (h->names[i], HOST_LEN - 1));
    hid_t d = dset_create (file, "hosts", t->host, h->n);
    int rc = -1;
    if (d >= 0) {
        rc = dset_io (d, t->host, 0, h->n, buf, true);
        if (dset_close (d, XXH3_64bits (buf, h->n * HOST_LEN)) < 0)
            rc = -1;
    }
    free (buf);
    return rc;
}

/* A table: a dataset of fixed-size rows and, when strs_name is set, a
 * uint8 dataset of the strings the rows point into.  Both are written in
 * slabs of SLAB rows; fill sets row i (zeroed beforehand), appending its
 * strings to sb, whose first byte will be at off in the strings dataset.
 * fill returns 0, or -1 when out of memory. */
typedef int (*table_fill_fn) (void *ctx, size_t i, void *row, uint64_t off,
                              bytes_t *sb);

typedef struct table {
    const char *rows_name, *strs_name;
    hid_t type;
    size_t row_size;
    size_t n;             /* rows */
    uint64_t nbytes;      /* string bytes */
    table_fill_fn fill;
    void *ctx;
    const char *what;     /* the reason when HDF5 gives none */
} table_t;

static int write_table (hid_t file, const table_t *tb, h5msg_t *msg)
{
    bytes_t sb = { 0 };
    char *rows = NULL;
    hid_t dd = H5I_INVALID_HID, ds = H5I_INVALID_HID;
    XXH3_state_t *rsum = XXH3_createState (), *ssum = XXH3_createState ();
    size_t slab = tb->n < SLAB ? (tb->n ? tb->n : 1) : SLAB;
    int rc = -1;

    if (!rsum || !ssum || !(rows = malloc (slab * tb->row_size)))
        goto nomem;
    XXH3_64bits_reset (rsum);
    XXH3_64bits_reset (ssum);
    if ((dd = dset_create (file, tb->rows_name, tb->type, tb->n)) < 0
        || (tb->strs_name
            && (ds = dset_create (file, tb->strs_name, H5T_NATIVE_UINT8,
                                  tb->nbytes)) < 0))
        goto error;
    uint64_t off = 0;
    for (size_t first = 0; first < tb->n; first += slab) {
        size_t count = tb->n - first < slab ? tb->n - first : slab;
        sb.len = 0;
        memset (rows, 0, count * tb->row_size);
        for (size_t k = 0; k < count; k++)
            if (tb->fill (tb->ctx, first + k, rows + k * tb->row_size,
                          off + sb.len, &sb) < 0)
                goto nomem;
        XXH3_64bits_update (rsum, rows, count * tb->row_size);
        XXH3_64bits_update (ssum, sb.p, sb.len);
        if (dset_io (dd, tb->type, first, count, rows, true) < 0
            || dset_io (ds, H5T_NATIVE_UINT8, off, sb.len, sb.p, true) < 0)
            goto error;
        off += sb.len;
    }
    int r1 = dset_close (dd, XXH3_64bits_digest (rsum));
    int r2 = ds >= 0 ? dset_close (ds, XXH3_64bits_digest (ssum)) : 0;
    dd = ds = H5I_INVALID_HID;
    if (r1 < 0 || r2 < 0)
        goto error;
    rc = 0;
    goto done;
nomem:
    set_reason (msg, "out of memory");
error:
    h5_reason (msg, tb->what);
done:
    if (dd >= 0)
        H5Dclose (dd);
    if (ds >= 0)
        H5Dclose (ds);
    free (sb.p);
    free (rows);
    XXH3_freeState (rsum);
    XXH3_freeState (ssum);
    return rc;
}

typedef struct datums_ctx {
    const io__snapshot_t *s;
    hosts_t *hosts;
} datums_ctx_t;

static int fill_datum (void *ctx, size_t i, void *row, uint64_t off,
                       bytes_t *sb)
{
    const datums_ctx_t *c = ctx;
    io_datum_rec_t view;
    const io_datum_rec_t *r = c->s->rec (c->s->rec_arg, i, &view);
    datum_row_t *w = row;
    size_t ilen = io_inputs_len (r->inputs);
    size_t olen = io__datum_outputs_len (r);
    uint32_t hi;
    hosts_intern (c->hosts, r->host ? r->host : "", &hi);  /* present */
    hex32 (w->id, r->id.b);
    hex32 (w->hash, r->hash.b);
    hex32 (w->proc_job, r->proc_job.b);
    hex32 (w->seen_job, r->seen_job.b);
    w->state = r->state;
    w->attempts = r->attempts;
    w->rank = r->rank;
    w->host_index = hi;
    w->start_ns = r->start_ns;
    w->duration_s = r->duration_s;
    w->bytes_in = r->bytes_in;
    w->bytes_out = r->bytes_out;
    w->exit_status = r->exit_status;
    w->term_signal = r->term_signal;
    w->strings_offset = off;
    w->inputs_length = (uint32_t)ilen;
    w->outputs_length = (uint32_t)olen;
    w->noutputs = (uint32_t)r->noutputs;
    hex32 (w->pipeline, r->pipeline.b);
    if (bytes_add (sb, r->inputs, ilen) < 0
        || (olen && bytes_add (sb, r->outputs[0], olen) < 0))
        return -1;
    return 0;
}

static int write_datums (hid_t file, const types_t *t, const io__snapshot_t *s,
                         hosts_t *hosts, h5msg_t *msg)
{
    datums_ctx_t c = { s, hosts };
    table_t tb = { "datums", "datum_strings", t->datum, sizeof (datum_row_t),
                   s->nrecs, 0, fill_datum, &c, "cannot write the datums" };
    for (size_t i = 0; i < s->nrecs; i++) {
        io_datum_rec_t v;
        const io_datum_rec_t *r = s->rec (s->rec_arg, i, &v);
        tb.nbytes += io_inputs_len (r->inputs) + io__datum_outputs_len (r);
    }
    return write_table (file, &tb, msg);
}

/* Each output path's size and mtime, in the datums' order. */
typedef struct outstat_ctx {
    const io__snapshot_t *s;
    size_t datum, k;
} outstat_ctx_t;

static int fill_outstat (void *ctx, size_t i, void *row, uint64_t off,
                         bytes_t *sb)
{
    outstat_ctx_t *c = ctx;
    outstat_row_t *w = row;
    (void)i;
    (void)off;
    (void)sb;
    io_datum_rec_t v;
    const io_datum_rec_t *r = c->s->rec (c->s->rec_arg, c->datum, &v);
    while (c->k >= r->noutputs) {
        c->datum++;
        c->k = 0;
        r = c->s->rec (c->s->rec_arg, c->datum, &v);
    }
    w->size = r->out_sizes ? r->out_sizes[c->k] : 0;
    w->mtime_ns = r->out_mtimes ? r->out_mtimes[c->k] : IO_MTIME_UNKNOWN;
    c->k++;
    return 0;
}

static int write_outstats (hid_t file, const types_t *t,
                           const io__snapshot_t *s, h5msg_t *msg)
{
    outstat_ctx_t c = { s, 0, 0 };
    table_t tb = { "output_stats", NULL, t->outstat, sizeof (outstat_row_t),
                   0, 0, fill_outstat, &c, "cannot write the output stats" };
    for (size_t i = 0; i < s->nrecs; i++) {
        io_datum_rec_t v;
        tb.n += s->rec (s->rec_arg, i, &v)->noutputs;
    }
    return write_table (file, &tb, msg);
}

static int fill_job (void *ctx, size_t i, void *row, uint64_t off,
                     bytes_t *sb)
{
    const jobs_record_t *j = &((const io__snapshot_t *)ctx)->jobs[i];
    job_row_t *w = row;
    (void)off;
    (void)sb;
    memcpy (w->id, j->id, strnlen (j->id, sizeof (w->id)));
    memcpy (w->pipeline, j->pipeline,
            strnlen (j->pipeline, sizeof (j->pipeline) - 1));
    w->state = (uint8_t)j->state;
    w->workers = j->workers;
    w->nodes = j->nodes;
    w->processed = j->processed;
    w->skipped = j->skipped;
    w->failed = j->failed;
    w->recovered = j->recovered;
    w->total = j->total;
    w->bytes_downloaded = j->bytes_downloaded;
    w->bytes_uploaded = j->bytes_uploaded;
    w->start_ns = j->start_ns;
    w->duration_s = j->duration_s;
    hex32 (w->pipeline_hash, j->pipeline_hash);
    return 0;
}

/* Row i of job_images is the i-th job that has an image. */
typedef struct jimg_ctx {
    const io__snapshot_t *s;
    size_t next;
} jimg_ctx_t;

static int fill_job_image (void *ctx, size_t i, void *row, uint64_t off,
                           bytes_t *sb)
{
    jimg_ctx_t *c = ctx;
    job_image_row_t *w = row;
    (void)i;
    (void)off;
    (void)sb;
    while (!c->s->jobs[c->next].image_id[0])
        c->next++;
    const jobs_record_t *j = &c->s->jobs[c->next++];
    memcpy (w->id, j->id, strnlen (j->id, sizeof (w->id)));
    memcpy (w->image_id, j->image_id,
            strnlen (j->image_id, sizeof (j->image_id) - 1));
    return 0;
}

/* Lineage rows follow the datums' order, for datums that have hashes. */
typedef struct lineage_ctx {
    const io__snapshot_t *s;
    size_t next;
} lineage_ctx_t;

static int fill_lineage (void *ctx, size_t i, void *row, uint64_t off,
                         bytes_t *sb)
{
    lineage_ctx_t *c = ctx;
    lineage_row_t *w = row;
    uint32_t n = 0;
    const io_hash_t *h = NULL;
    (void)i;
    (void)off;
    io_datum_rec_t v;
    const io_datum_rec_t *r = NULL;
    while (c->next < c->s->nrecs
           && (r = c->s->rec (c->s->rec_arg, c->next, &v))
           && !(h = io__lineage_entries (c->s->lin, &r->id, &n)))
        c->next++;
    if (!h || !r)
        return -1;  /* cannot happen: the rows were counted */
    hex32 (w->id, r->id.b);
    w->nentries = n;
    c->next++;
    for (uint32_t k = 0; k < n; k++)
        if (bytes_add (sb, h[k].b, 16) < 0)
            return -1;
    return 0;
}

typedef struct jinput_ctx {
    const io__lineage_t *l;
    size_t job, k;
} jinput_ctx_t;

static int fill_jinput (void *ctx, size_t i, void *row, uint64_t off,
                        bytes_t *sb)
{
    jinput_ctx_t *c = ctx;
    job_input_row_t *w = row;
    const char *id;
    size_t n;
    char *const *names, *const *repos;
    (void)i;
    for (;;) {
        io__lineage_job (c->l, c->job, &id, &n, &names, &repos);
        if (c->k < n)
            break;
        c->job++;
        c->k = 0;
    }
    memcpy (w->job, id, strnlen (id, sizeof (w->job)));
    w->strings_offset = off;
    w->name_length = (uint32_t)strlen (names[c->k]);
    w->repo_length = (uint32_t)strlen (repos[c->k]);
    if (bytes_add (sb, names[c->k], w->name_length) < 0
        || bytes_add (sb, repos[c->k], w->repo_length) < 0)
        return -1;
    c->k++;
    return 0;
}

static int write_lineage (hid_t file, const types_t *t,
                          const io__snapshot_t *s, h5msg_t *msg)
{
    if (!s->lin)
        return 0;
    lineage_ctx_t c = { s, 0 };
    table_t tb = { "lineage_entries", "lineage_hashes", t->lineage,
                   sizeof (lineage_row_t), 0, 0, fill_lineage, &c,
                   "cannot write the lineage" };
    for (size_t i = 0; i < s->nrecs; i++) {
        uint32_t n;
        io_datum_rec_t v;
        if (io__lineage_entries (s->lin, &s->rec (s->rec_arg, i, &v)->id,
                                 &n)) {
            tb.n++;
            tb.nbytes += (uint64_t)n * 16;
        }
    }
    if (write_table (file, &tb, msg) < 0)
        return -1;
    jinput_ctx_t jc = { s->lin, 0, 0 };
    table_t tj = { "job_inputs", "job_input_strings", t->jinput,
                   sizeof (job_input_row_t), 0, 0, fill_jinput, &jc,
                   "cannot write the lineage" };
    for (size_t j = 0; j < io__lineage_njobs (s->lin); j++) {
        const char *id;
        size_t n;
        char *const *names, *const *repos;
        io__lineage_job (s->lin, j, &id, &n, &names, &repos);
        tj.n += n;
        for (size_t k = 0; k < n; k++)
            tj.nbytes += strlen (names[k]) + strlen (repos[k]);
    }
    return write_table (file, &tj, msg);
}

static int fill_lost (void *ctx, size_t i, void *row, uint64_t off,
                      bytes_t *sb)
{
    const io_lost_worker_t *l = &((const io__snapshot_t *)ctx)->lost[i];
    lost_row_t *w = row;
    (void)off;
    (void)sb;
    memcpy (w->job, l->job, strnlen (l->job, sizeof (w->job)));
    w->rank = l->rank;
    memcpy (w->host, l->host, strnlen (l->host, sizeof (w->host) - 1));
    w->time_ns = l->time_ns;
    memcpy (w->reason, l->reason, strnlen (l->reason, sizeof (w->reason) - 1));
    return 0;
}

static int write_lost (hid_t file, const types_t *t, const io__snapshot_t *s,
                       h5msg_t *msg)
{
    table_t tb = { "lost_workers", NULL, t->lost, sizeof (lost_row_t),
                   s->nlost, 0, fill_lost, (void *)s,
                   "cannot write the lost workers" };
    return write_table (file, &tb, msg);
}

static int write_jobs (hid_t file, const types_t *t, const io__snapshot_t *s,
                       h5msg_t *msg)
{
    table_t tb = { "jobs", NULL, t->job, sizeof (job_row_t), s->njobs, 0,
                   fill_job, (void *)s, "cannot write the jobs" };
    if (write_table (file, &tb, msg) < 0)
        return -1;
    size_t nimg = 0;
    for (size_t i = 0; i < s->njobs; i++)
        nimg += s->jobs[i].image_id[0] != '\0';
    if (nimg == 0)
        return 0;
    jimg_ctx_t c = { s, 0 };
    table_t ti = { "job_images", NULL, t->jimg, sizeof (job_image_row_t),
                   nimg, 0, fill_job_image, &c, "cannot write the jobs" };
    return write_table (file, &ti, msg);
}

/* The stat cache entries seen since open, in iteration order. */
typedef struct stat_ctx {
    const io_statcache_t *sc;
    size_t iter;
} stat_ctx_t;

static int fill_stat (void *ctx, size_t i, void *row, uint64_t off,
                      bytes_t *sb)
{
    stat_ctx_t *c = ctx;
    const io_stat_entry_t *e;
    const char *path = io_statcache_next (c->sc, &c->iter, true, &e);
    size_t len = strlen (path);
    stat_row_t *w = row;
    (void)i;
    w->path_offset = off;
    w->path_length = (uint32_t)len;
    w->size = e->size;
    w->mtime_ns = e->mtime_ns;
    w->ctime_ns = e->ctime_ns;
    w->ino = e->ino;
    w->dev = e->dev;
    hex32 (w->hash, e->hash.b);
    return bytes_add (sb, path, len);
}

static int write_statcache (hid_t file, const types_t *t,
                            const io__snapshot_t *s, h5msg_t *msg)
{
    stat_ctx_t c = { s->sc, 0 };
    table_t tb = { "statcache", "statcache_paths", t->stat,
                   sizeof (stat_row_t), 0, 0, fill_stat, &c,
                   "cannot write the stat cache" };
    const io_stat_entry_t *e;
    const char *path;
    while ((path = io_statcache_next (s->sc, &c.iter, true, &e))) {
        tb.n++;
        tb.nbytes += strlen (path);
    }
    c.iter = 0;
    return write_table (file, &tb, msg);
}

/* The attempts table grows by appending slabs: its rows come from the
 * previous file (streamed, never all in memory) and then the snapshot, so
 * its length is known only at the end.  Chunked and extendible. */
typedef struct appender {
    hid_t d, type;
    const hosts_t *hosts;
    attempt_row_t *rows;
    size_t nrows;
    uint64_t written;
    XXH3_state_t *sum;
    const io__snapshot_t *s;
    int failed;            /* 1: HDF5 error */
} appender_t;

static int app_flush (appender_t *a)
{
    if (!a->nrows)
        return 0;
    hsize_t size = a->written + a->nrows;
    if (H5Dset_extent (a->d, &size) < 0
        || dset_io (a->d, a->type, a->written, a->nrows, a->rows, true) < 0) {
        a->failed = 1;
        return -1;
    }
    XXH3_64bits_update (a->sum, a->rows, a->nrows * sizeof (*a->rows));
    a->written += a->nrows;
    a->nrows = 0;
    return 0;
}

static int app_add (appender_t *a, const io_attempt_t *at)
{
    attempt_row_t *w = &a->rows[a->nrows];
    uint32_t hi;
    memset (w, 0, sizeof (*w));
    hosts_intern ((hosts_t *)a->hosts, at->host, &hi);  /* present */
    hex32 (w->datum, at->datum.b);
    hex32 (w->job, at->job.b);
    w->attempt = at->attempt;
    w->rank = at->rank;
    w->host_index = hi;
    w->start_ns = at->start_ns;
    w->duration_s = at->duration_s;
    w->exit_status = at->exit_status;
    w->term_signal = at->term_signal;
    w->outcome = at->outcome;
    if (++a->nrows == SLAB)
        return app_flush (a);
    return 0;
}

/* Sink for the previous file's attempts. */
static int app_old (void *arg, const io_attempt_t *at)
{
    appender_t *a = arg;
    if (a->s->superseded && a->s->superseded (a->s->superseded_arg, at))
        return 0;
    if (app_add (a, at) < 0) {
        errno = EIO;
        return -1;
    }
    return 0;
}

static size_t io__h5_nattempts (io__h5_t *f);
static bool io__h5_has_attempts (io__h5_t *f);

/* Host names of the previous file's attempts, so that its rows can be
 * copied over with indexes into the new hosts table. */
static int intern_old_hosts (io__h5_t *old, hosts_t *hosts, char **keep);

static int write_attempts (hid_t file, const types_t *t,
                           const io__snapshot_t *s, io__h5_t *old,
                           const hosts_t *hosts, h5msg_t *msg,
                           dr_error_t *err)
{
    /* Chunks no larger than the rows to come: unused chunk space would
     * be bytes that no checksum covers. */
    size_t bound = s->nattempts + (old ? io__h5_nattempts (old) : 0);
    hsize_t zero = 0, unlimited = H5S_UNLIMITED;
    hsize_t chunk = bound < ATTEMPT_CHUNK ? (bound ? bound : 1)
                                          : ATTEMPT_CHUNK;
    hid_t space = H5Screate_simple (1, &zero, &unlimited);
    hid_t dcpl = H5Pcreate (H5P_DATASET_CREATE);
    appender_t a = { .d = H5I_INVALID_HID, .type = t->attempt,
                     .hosts = hosts, .s = s };
    int rc = -1;
    if (space < 0 || dcpl < 0 || H5Pset_chunk (dcpl, 1, &chunk) < 0
        || H5Pset_fill_time (dcpl, H5D_FILL_TIME_NEVER) < 0)
        goto error;
    a.d = H5Dcreate2 (file, "attempts", t->attempt, space, H5P_DEFAULT, dcpl,
                      H5P_DEFAULT);
    if (a.d < 0)
        goto error;
    if (!(a.rows = malloc (SLAB * sizeof (*a.rows)))
        || !(a.sum = XXH3_createState ())) {
        set_reason (msg, "out of memory");
        goto error;
    }
    XXH3_64bits_reset (a.sum);
    if (old) {
        io__sink_t sink = { .arg = &a, .attempt = app_old };
        if (io__h5_attempts (old, NULL, NULL, &sink, err) < 0) {
            if (a.failed)
                goto error;
            rc = -2;   /* err names the old file */
            goto done;
        }
    }
    for (size_t i = 0; i < s->nattempts; i++)
        if (app_add (&a, &s->attempts[i]) < 0)
            goto error;
    if (app_flush (&a) < 0)
        goto error;
    hid_t d = a.d;
    a.d = H5I_INVALID_HID;
    if (dset_close (d, XXH3_64bits_digest (a.sum)) < 0)
        goto error;
    rc = 0;
    goto done;
error:
    h5_reason (msg, "cannot write the attempts");
done:
    if (a.d >= 0)
        H5Dclose (a.d);
    if (dcpl >= 0)
        H5Pclose (dcpl);
    if (space >= 0)
        H5Sclose (space);
    free (a.rows);
    XXH3_freeState (a.sum);
    return rc;
}

int io__h5_store (const char *path, const io__snapshot_t *s, io__h5_t *old,
                  dr_error_t *err)
{
    types_t t = TYPES_INIT;
    hid_t fapl = H5I_INVALID_HID, file = H5I_INVALID_HID;
    h5msg_t msg = { "" };
    hosts_t hosts = { 0 };
    char *old_hosts = NULL;
    quiet ();
    /* Every host name a row will point to, interned first. */
    for (size_t i = 0; i < s->nrecs; i++) {
        uint32_t hi;
        io_datum_rec_t v;
        const io_datum_rec_t *r = s->rec (s->rec_arg, i, &v);
        if (hosts_intern (&hosts, r->host ? r->host : "", &hi) < 0)
            goto nomem;
    }
    for (size_t i = 0; i < s->nattempts; i++) {
        uint32_t hi;
        if (hosts_intern (&hosts, s->attempts[i].host, &hi) < 0)
            goto nomem;
    }
    if (old && intern_old_hosts (old, &hosts, &old_hosts) < 0) {
        if (errno == ENOMEM)
            goto nomem;
        set_reason (&msg, "cannot read the hosts of the previous manifest");
        goto error;
    }
    if (types_create (&t) < 0 || (fapl = make_fapl ()) < 0)
        goto error;
    if ((file = H5Fcreate (path, H5F_ACC_TRUNC, H5P_DEFAULT, fapl)) < 0)
        goto error;

    int32_t version = IO_MANIFEST_VERSION;
    unsigned maj, min, rel;
    char creator[96], ph[32];
    H5get_libversion (&maj, &min, &rel);
    snprintf (creator, sizeof (creator), "datumrun io/manifest.c, HDF5 "
              "%u.%u.%u", maj, min, rel);
    hex32 (ph, s->pipeline_hash.b);
    if (attr_write (file, "datumrun_manifest_version", H5T_NATIVE_INT32,
                    &version) < 0
        || attr_write_str (file, "creator", creator, strlen (creator)) < 0
        || attr_write_str (file, "pipeline_hash", ph, 32) < 0
        || (s->output && attr_write_str (file, "output_folder", s->output,
                                         strlen (s->output)) < 0))
        goto error;
    if (write_hosts (file, &t, &hosts) < 0) {
        h5_reason (&msg, "cannot write the hosts");
        goto error;
    }
    if (write_datums (file, &t, s, &hosts, &msg) < 0
        || write_outstats (file, &t, s, &msg) < 0
        || write_jobs (file, &t, s, &msg) < 0
        || write_lineage (file, &t, s, &msg) < 0
        || write_lost (file, &t, s, &msg) < 0
        || write_statcache (file, &t, s, &msg) < 0)
        goto error;
    int arc = write_attempts (file, &t, s, old, &hosts, &msg, err);
    if (arc == -2)
        goto fail;
    if (arc < 0)
        goto error;
    hid_t f = file;
    file = H5I_INVALID_HID;
    if (H5Fclose (f) < 0)
        goto error;
    H5Pclose (fapl);
    types_close (&t);
    free (hosts.names);
    free (hosts.tab);
    free (old_hosts);
    return 0;
nomem:
    set_reason (&msg, "out of memory");
error:
    h5_reason (&msg, "HDF5 error");
    dr_errprintf (err, "%s: cannot write the manifest: %s", path, msg.text);
fail:
    if (file >= 0)
        H5Fclose (file);
    if (fapl >= 0)
        H5Pclose (fapl);
    types_close (&t);
    free (hosts.names);
    free (hosts.tab);
    free (old_hosts);
    errno = EIO;
    return -1;
}

/* ---------------------------------------------------------- reading */

static int unhex32 (const char src[32], uint8_t out[16])
{
    char buf[33];
    memcpy (buf, src, 32);
    buf[32] = '\0';
    return io_hash_from_hex (buf, (io_hash_t *)(void *)out);
}

/* The same for a column whose value repeats from row to row (a job's or
 * the pipeline's ID): the last text decoded and what it gave. */
typedef struct hexmemo {
    bool valid;
    char text[32];
    uint8_t bin[16];
} hexmemo_t;

static int unhex32_memo (hexmemo_t *mm, const char src[32], uint8_t out[16])
{
    if (!mm->valid || memcmp (mm->text, src, 32)) {
        if (unhex32 (src, mm->bin) < 0) {
            mm->valid = false;
            return -1;
        }
        memcpy (mm->text, src, 32);
        mm->valid = true;
    }
    memcpy (out, mm->bin, 16);
    return 0;
}

static int attr_read (hid_t obj, const char *name, hid_t type, void *v)
{
    hid_t a = H5Aopen (obj, name, H5P_DEFAULT);
    if (a < 0)
        return -1;
    int rc = H5Aread (a, type, v) < 0 ? -1 : 0;
    H5Aclose (a);
    return rc;
}

/* Open a 1-D dataset and get its length and stored checksum. */
static hid_t dset_open (hid_t file, const char *name, size_t *n,
                        uint64_t *sum, h5msg_t *msg)
{
    hid_t d = H5Dopen2 (file, name, H5P_DEFAULT), space = H5I_INVALID_HID;
    hsize_t dims;
    if (d < 0)
        goto error;
    if ((space = H5Dget_space (d)) < 0)
        goto error;
    if (H5Sget_simple_extent_ndims (space) != 1) {
        set_reason (msg, "dataset %s is not 1-D", name);
        goto error;
    }
    if (H5Sget_simple_extent_dims (space, &dims, NULL) < 0
        || attr_read (d, "xxh3_64", H5T_NATIVE_UINT64, sum) < 0)
        goto error;
    H5Sclose (space);
    *n = (size_t)dims;
    return d;
error:
    h5_reason (msg, name);
    if (space >= 0)
        H5Sclose (space);
    if (d >= 0)
        H5Dclose (d);
    return H5I_INVALID_HID;
}

/* Read a whole 1-D dataset of elem-byte elements, checking its sum. */
static void *dset_read_all (hid_t file, const char *name, hid_t type,
                            size_t elem, size_t *n, h5msg_t *msg)
{
    uint64_t sum;
    char *buf = NULL;
    hid_t d = dset_open (file, name, n, &sum, msg);
    if (d < 0)
        return NULL;
    if (*n > SIZE_MAX / elem - 1 || !(buf = malloc (*n * elem + 1))) {
        set_reason (msg, "out of memory for %s", name);
        goto error;
    }
    if (dset_io (d, type, 0, *n, buf, false) < 0) {
        h5_reason (msg, name);
        goto error;
    }
    if (XXH3_64bits (buf, *n * elem) != sum) {
        set_reason (msg, "checksum mismatch in %s", name);
        goto error;
    }
    H5Dclose (d);
    return buf;
error:
    free (buf);
    H5Dclose (d);
    return NULL;
}

/* A narrow row (8-bit attempts) as today's. */
static void widen_row (const datum_row_narrow_t *o, datum_row_t *w)
{
    memcpy (w->id, o->id, 32);
    memcpy (w->hash, o->hash, 32);
    memcpy (w->proc_job, o->proc_job, 32);
    memcpy (w->seen_job, o->seen_job, 32);
    w->state = o->state;
    w->attempts = o->attempts;
    w->rank = o->rank;
    w->host_index = o->host_index;
    w->start_ns = o->start_ns;
    w->duration_s = o->duration_s;
    w->bytes_in = o->bytes_in;
    w->bytes_out = o->bytes_out;
    w->exit_status = o->exit_status;
    w->term_signal = o->term_signal;
    w->strings_offset = o->strings_offset;
    w->inputs_length = o->inputs_length;
    w->outputs_length = o->outputs_length;
    w->noutputs = o->noutputs;
    memcpy (w->pipeline, o->pipeline, 32);
}

static int read_datums (hid_t file, const types_t *t, int version,
                        const io__sink_t *sink, h5msg_t *msg)
{
    char *hosts = NULL, *strs = NULL;
    datum_row_t *rows = NULL;
    char *v1 = NULL;            /* narrow rows, before widening */
    outstat_row_t *ostats = NULL;
    size_t nhosts, nstrs, n, nos = 0, at_os = 0;
    uint64_t sum;
    hid_t d = H5I_INVALID_HID;
    XXH3_state_t *st = XXH3_createState ();
    hexmemo_t memo[3] = { { 0 } };  /* proc_job, seen_job, pipeline */
    int rc = -1;

    if (!st)
        goto nomem;
    XXH3_64bits_reset (st);
    if (!(hosts = dset_read_all (file, "hosts", t->host, HOST_LEN, &nhosts,
                                 msg))
        || !(strs = dset_read_all (file, "datum_strings", H5T_NATIVE_UINT8,
                                   1, &nstrs, msg)))
        goto error;
    /* Each output's size and mtime, where the file has them. */
    htri_t have_os = H5Lexists (file, "output_stats", H5P_DEFAULT);
    if (have_os < 0) {
        h5_reason (msg, "output_stats");
        goto error;
    }
    if (have_os > 0 && !(ostats = dset_read_all (file, "output_stats",
                                                 t->outstat,
                                                 sizeof (*ostats), &nos,
                                                 msg)))
        goto error;
    if ((d = dset_open (file, "datums", &n, &sum, msg)) < 0)
        goto error;
    if (n >= UINT32_MAX) {
        set_reason (msg, "%zu datums", n);
        goto error;
    }
    /* Rows as the file has them: format 1's, narrow (8-bit attempts) or
     * today's.  The checksum covers them as stored. */
    size_t fsize = 0;
    hid_t ft = H5Dget_type (d);
    if (ft >= 0) {
        fsize = H5Tget_size (ft);
        H5Tclose (ft);
    }
    bool narrow = version == 1 || fsize == sizeof (datum_row_narrow_t);
    size_t nsize = version == 1 ? DATUM_ROW_V1 : sizeof (datum_row_narrow_t);
    hid_t ntype = version == 1 ? t->datum_v1 : t->datum_narrow;
    if (sink->reserve && sink->reserve (sink->arg, IO__RESERVE_DATUMS, n) < 0)
        goto nomem;
    if (!(rows = malloc (SLAB * sizeof (*rows)))
        || (narrow && !(v1 = malloc (SLAB * sizeof (datum_row_narrow_t)))))
        goto nomem;
    for (size_t first = 0; first < n; first += SLAB) {
        size_t count = n - first < SLAB ? n - first : SLAB;
        if (narrow) {
            if (dset_io (d, ntype, first, count, v1, false) < 0) {
                h5_reason (msg, "datums");
                goto error;
            }
            XXH3_64bits_update (st, v1, count * nsize);
            for (size_t k = 0; k < count; k++) {
                datum_row_narrow_t o;
                memset (o.pipeline, '0', sizeof (o.pipeline));
                memcpy (&o, v1 + k * nsize, nsize);
                widen_row (&o, &rows[k]);
            }
        }
        else {
            if (dset_io (d, t->datum, first, count, rows, false) < 0) {
                h5_reason (msg, "datums");
                goto error;
            }
            XXH3_64bits_update (st, rows, count * sizeof (*rows));
        }
        for (size_t k = 0; k < count; k++) {
            const datum_row_t *w = &rows[k];
            io_datum_rec_t r;
            memset (&r, 0, sizeof (r));
            uint64_t off = w->strings_offset;
            uint64_t end = off + w->inputs_length + w->outputs_length;
            if (unhex32 (w->id, r.id.b) < 0 || unhex32 (w->hash, r.hash.b) < 0
                || unhex32_memo (&memo[0], w->proc_job, r.proc_job.b) < 0
                || unhex32_memo (&memo[1], w->seen_job, r.seen_job.b) < 0
                || unhex32_memo (&memo[2], w->pipeline, r.pipeline.b) < 0
                || w->host_index >= nhosts || off > nstrs || end > nstrs
                || end < off) {
                set_reason (msg, "datums row %zu is malformed", first + k);
                goto error;
            }
            r.state = w->state;
            r.attempts = (uint16_t)(w->attempts > UINT16_MAX ? UINT16_MAX
                                                             : w->attempts);
            r.rank = w->rank;
            char host[HOST_LEN];
            memcpy (host, hosts + (size_t)w->host_index * HOST_LEN,
                    HOST_LEN);
            host[HOST_LEN - 1] = '\0';
            r.host = host;      /* interned by apply_put */
            r.start_ns = w->start_ns;
            r.duration_s = w->duration_s;
            r.bytes_in = w->bytes_in;
            r.bytes_out = w->bytes_out;
            r.exit_status = w->exit_status;
            r.term_signal = w->term_signal;
            /* Format 1 has the inputs as '\n'-separated lines. */
            const char *ins = strs + off;
            size_t ilen = w->inputs_length;
            char *list = NULL;
            if (version == 1
                && io__inputs_from_lines (ins, ilen, &list, &ilen) < 0) {
                if (errno == ENOMEM)
                    goto nomem;
                set_reason (msg, "datums row %zu has malformed strings",
                            first + k);
                goto error;
            }
            int src = io__datum_set_strings (&r, list ? list : ins, ilen,
                                             strs + off + w->inputs_length,
                                             w->outputs_length, w->noutputs);
            free (list);
            if (src < 0) {
                if (errno == ENOMEM)
                    goto nomem;
                set_reason (msg, "datums row %zu has malformed strings",
                            first + k);
                goto error;
            }
            for (size_t q = 0; ostats && q < r.noutputs; q++, at_os++) {
                if (at_os >= nos) {
                    io__datum_free_strings (&r);
                    set_reason (msg, "output_stats has fewer rows than "
                                "the datums have outputs");
                    goto error;
                }
                r.out_sizes[q] = ostats[at_os].size;
                r.out_mtimes[q] = ostats[at_os].mtime_ns;
            }
            if (!sink->put) {
                io__datum_free_strings (&r);
                continue;
            }
            if (sink->put (sink->arg, &r) < 0) {
                if (errno != EEXIST)
                    goto nomem;
                set_reason (msg, "datums row %zu repeats an id", first + k);
                goto error;
            }
        }
    }
    if (XXH3_64bits_digest (st) != sum) {
        set_reason (msg, "checksum mismatch in datums");
        goto error;
    }
    rc = 0;
    goto done;
nomem:
    set_reason (msg, "out of memory");
error:
done:
    if (d >= 0)
        H5Dclose (d);
    free (hosts);
    free (strs);
    free (rows);
    free (v1);
    free (ostats);
    XXH3_freeState (st);
    return rc;
}

/* job_images, where the file has it (written since 0.2, and only when a
 * job ran in an image): *rows (caller frees) and *n, or NULL and 0. */
static int read_job_images (hid_t file, const types_t *t,
                            job_image_row_t **rows, size_t *n, h5msg_t *msg)
{
    *rows = NULL;
    *n = 0;
    htri_t have = H5Lexists (file, "job_images", H5P_DEFAULT);
    if (have < 0) {
        h5_reason (msg, "job_images");
        return -1;
    }
    if (have == 0)
        return 0;
    *rows = dset_read_all (file, "job_images", t->jimg, sizeof (**rows), n,
                           msg);
    return *rows ? 0 : -1;
}

static int read_jobs (hid_t file, const types_t *t, const io__sink_t *sink,
                      h5msg_t *msg)
{
    size_t n;
    job_image_row_t *imgs;
    size_t nimgs;
    if (read_job_images (file, t, &imgs, &nimgs, msg) < 0)
        return -1;
    job_row_t *rows = dset_read_all (file, "jobs", t->job, sizeof (*rows),
                                     &n, msg);
    if (!rows) {
        free (imgs);
        return -1;
    }
    int rc = 0;
    for (size_t i = 0; i < n && rc == 0; i++) {
        const job_row_t *w = &rows[i];
        jobs_record_t j;
        memset (&j, 0, sizeof (j));
        memcpy (j.id, w->id, sizeof (w->id));
        memcpy (j.pipeline, w->pipeline, sizeof (j.pipeline) - 1);
        j.state = (jobs_state_t)w->state;
        j.workers = w->workers;
        j.nodes = w->nodes;
        j.processed = w->processed;
        j.skipped = w->skipped;
        j.failed = w->failed;
        j.recovered = w->recovered;
        j.total = w->total;
        j.bytes_downloaded = w->bytes_downloaded;
        j.bytes_uploaded = w->bytes_uploaded;
        j.start_ns = w->start_ns;
        j.duration_s = w->duration_s;
        for (size_t k = 0; k < nimgs; k++) {
            if (memcmp (imgs[k].id, w->id, 32) != 0)
                continue;
            size_t len = strnlen (imgs[k].image_id, sizeof (imgs[k].image_id));
            if (len >= sizeof (j.image_id))
                len = sizeof (j.image_id) - 1;
            memcpy (j.image_id, imgs[k].image_id, len);
            j.image_id[len] = '\0';
            break;
        }
        if (unhex32 (w->pipeline_hash, j.pipeline_hash) < 0) {
            set_reason (msg, "jobs row %zu is malformed", i);
            rc = -1;
        }
        else if (sink->job && sink->job (sink->arg, false, &j) < 0) {
            set_reason (msg, "out of memory");
            rc = -1;
        }
    }
    free (rows);
    free (imgs);
    return rc;
}

/* Does the dataset's row type have this field? */
static bool has_field (hid_t file, const char *dset, const char *field)
{
    hid_t d = H5Dopen2 (file, dset, H5P_DEFAULT);
    hid_t ty = d >= 0 ? H5Dget_type (d) : H5I_INVALID_HID;
    bool yes = ty >= 0 && H5Tget_member_index (ty, field) >= 0;
    if (ty >= 0)
        H5Tclose (ty);
    if (d >= 0)
        H5Dclose (d);
    H5Eclear2 (H5E_DEFAULT);
    return yes;
}

static int read_statcache (hid_t file, const types_t *t,
                           const io__sink_t *sink, h5msg_t *msg)
{
    size_t n, npaths;
    char *paths = NULL, *path = NULL;
    stat_row_t *rows = NULL;
    stat_row_v1_t *rows1 = NULL;
    int rc = -1;
    bool ctime = has_field (file, "statcache", "ctime_ns");
    if (!(paths = dset_read_all (file, "statcache_paths", H5T_NATIVE_UINT8,
                                 1, &npaths, msg)))
        goto error;
    if (ctime ? !(rows = dset_read_all (file, "statcache", t->stat,
                                        sizeof (*rows), &n, msg))
              : !(rows1 = dset_read_all (file, "statcache", t->stat_v1,
                                         sizeof (*rows1), &n, msg)))
        goto error;
    if (sink->reserve && sink->reserve (sink->arg, IO__RESERVE_STATS, n) < 0) {
        set_reason (msg, "out of memory");
        goto error;
    }
    size_t pcap = 0;
    for (size_t i = 0; i < n; i++) {
        stat_row_t conv;
        if (rows1) {
            /* No ctime recorded: 0 never matches, so each file is read
             * once more and cached with its ctime. */
            const stat_row_v1_t *o = &rows1[i];
            conv = (stat_row_t){ o->path_offset, o->path_length, o->size,
                                 o->mtime_ns, 0, o->ino, o->dev, { 0 } };
            memcpy (conv.hash, o->hash, sizeof (conv.hash));
        }
        const stat_row_t *w = rows1 ? &conv : &rows[i];
        io_stat_entry_t e = {
            .size = w->size,
            .mtime_ns = w->mtime_ns,
            .ctime_ns = w->ctime_ns,
            .ino = w->ino,
            .dev = w->dev,
        };
        uint64_t end = w->path_offset + w->path_length;
        if (w->path_offset > npaths || end > npaths
            || unhex32 (w->hash, e.hash.b) < 0
            || memchr (paths + w->path_offset, '\0', w->path_length)) {
            set_reason (msg, "statcache row %zu is malformed", i);
            goto error;
        }
        if (w->path_length + 1 > pcap) {
            pcap = w->path_length + 1 > 4096 ? w->path_length + 1 : 4096;
            free (path);
            if (!(path = malloc (pcap)))
                goto nomem;
        }
        memcpy (path, paths + w->path_offset, w->path_length);
        path[w->path_length] = '\0';
        if (sink->stat && sink->stat (sink->arg, path, &e) < 0)
            goto nomem;
    }
    rc = 0;
    goto done;
nomem:
    set_reason (msg, "out of memory");
error:
done:
    free (paths);
    free (path);
    free (rows);
    free (rows1);
    return rc;
}

struct io__h5 {
    char *path;
    hid_t file, fapl;
    types_t t;
    int version;
    io_hash_t ph;
    char *output;           /* attribute output_folder, or NULL */
};

/* A reason found while reading becomes the error: "out of memory", or
 * the damaged-file message with its advice. */
static int read_error (dr_error_t *err, const char *path, const h5msg_t *msg)
{
    if (!strcmp (msg->text, "out of memory")) {
        errno = ENOMEM;
        return dr_errprintf (err, "%s: out of memory", path);
    }
    return corrupt (err, path, msg->text);
}

void io__h5_close (io__h5_t *f)
{
    int saved = errno;
    if (f) {
        if (f->file >= 0)
            H5Fclose (f->file);
        if (f->fapl >= 0)
            H5Pclose (f->fapl);
        types_close (&f->t);
        H5Eclear2 (H5E_DEFAULT);
        free (f->path);
        free (f->output);
        free (f);
    }
    errno = saved;
}

io__h5_t *io__h5_open (const char *path, dr_error_t *err)
{
    h5msg_t msg = { "" };
    int fd;
    io__h5_t *f = calloc (1, sizeof (*f));
    if (!f || !(f->path = strdup (path))) {
        free (f);
        dr_errprintf (err, "%s: out of memory", path);
        return NULL;
    }
    f->file = f->fapl = H5I_INVALID_HID;
    f->t = (types_t)TYPES_INIT;
    quiet ();
    /* Tell "cannot read" (permissions, I/O) apart from "not a manifest". */
    if ((fd = open (path, O_RDONLY | O_CLOEXEC)) < 0) {
        dr_errprintf (err, "%s: cannot read: %s", path, strerror (errno));
        goto fail;
    }
    close (fd);
    if (types_create (&f->t) < 0 || (f->fapl = make_fapl ()) < 0) {
        h5_reason (&msg, "cannot initialize HDF5");
        errno = EIO;
        dr_errprintf (err, "%s: %s", path, msg.text);
        goto fail;
    }
    if ((f->file = H5Fopen (path, H5F_ACC_RDONLY, f->fapl)) < 0) {
        h5_reason (&msg, "HDF5 cannot open it");
        goto error;
    }
    int32_t version;
    char ph[32];
    if (attr_read (f->file, "datumrun_manifest_version", H5T_NATIVE_INT32,
                   &version) < 0) {
        H5Eclear2 (H5E_DEFAULT);
        set_reason (&msg, "no datumrun_manifest_version attribute");
        goto error;
    }
    if (version < 1 || version > IO_MANIFEST_VERSION) {
        errno = EPROTO;
        dr_errprintf (err, "%s: manifest format version %d, but this "
                      "datumrun reads versions 1 to %d%s", path, (int)version,
                      IO_MANIFEST_VERSION,
                      version > IO_MANIFEST_VERSION ? ": use a newer datumrun"
                                                    : "");
        goto fail;
    }
    f->version = version;
    if (attr_read (f->file, "pipeline_hash", f->t.hex, ph) < 0
        || unhex32 (ph, f->ph.b) < 0) {
        h5_reason (&msg, "bad pipeline_hash attribute");
        goto error;
    }
    if (H5Aexists (f->file, "output_folder") > 0) {
        hid_t a = H5Aopen (f->file, "output_folder", H5P_DEFAULT);
        hid_t at = a >= 0 ? H5Aget_type (a) : H5I_INVALID_HID;
        size_t len = at >= 0 ? H5Tget_size (at) : 0;
        char *v = len ? calloc (1, len + 1) : NULL;
        if (v && H5Aread (a, at, v) >= 0) {
            f->output = v;
            v = NULL;
        }
        free (v);
        if (at >= 0)
            H5Tclose (at);
        if (a >= 0)
            H5Aclose (a);
    }
    H5Eclear2 (H5E_DEFAULT);
    return f;
error:
    read_error (err, path, &msg);
fail:
    io__h5_close (f);
    return NULL;
}

int io__h5_version (const io__h5_t *f)
{
    return f->version;
}

io_hash_t io__h5_pipeline_hash (const io__h5_t *f)
{
    return f->ph;
}

const char *io__h5_output (const io__h5_t *f)
{
    return f->output;
}

/* The strings dataset of a table, whole, with its checksum checked. */
static uint8_t *strings_read_all (hid_t file, const char *name, size_t *n,
                                  h5msg_t *msg)
{
    return dset_read_all (file, name, H5T_NATIVE_UINT8, 1, n, msg);
}

static int read_lineage (hid_t file, const types_t *t, const io__sink_t *sink,
                         h5msg_t *msg)
{
    if (H5Lexists (file, "lineage_entries", H5P_DEFAULT) <= 0)
        return 0;   /* written before lineage was recorded */
    size_t n, nb, at = 0;
    lineage_row_t *rows = dset_read_all (file, "lineage_entries", t->lineage,
                                         sizeof (*rows), &n, msg);
    uint8_t *hb = rows ? strings_read_all (file, "lineage_hashes", &nb, msg)
                       : NULL;
    int rc = -1;
    if (!rows || !hb)
        goto done;
    for (size_t i = 0; i < n; i++) {
        io_hash_t id;
        /* Without an entries sink the rows are only checked (their
         * checksum was); the ids are decoded when they are wanted. */
        if ((sink->entries && unhex32 (rows[i].id, id.b) < 0)
            || rows[i].nentries > (nb - at) / 16) {
            set_reason (msg, "lineage_entries row %zu is malformed", i);
            goto done;
        }
        if (sink->entries
            && sink->entries (sink->arg, &id, rows[i].nentries,
                              (const io_hash_t *)(void *)(hb + at)) < 0) {
            set_reason (msg, "out of memory");
            goto done;
        }
        at += (size_t)rows[i].nentries * 16;
    }
    free (rows);
    free (hb);
    rows = NULL;
    hb = NULL;
    job_input_row_t *jr = dset_read_all (file, "job_inputs", t->jinput,
                                         sizeof (*jr), &n, msg);
    char *js = jr ? (char *)strings_read_all (file, "job_input_strings", &nb,
                                              msg)
                  : NULL;
    if (!jr || !js) {
        free (jr);
        free (js);
        goto done;
    }
    rc = 0;
    for (size_t i = 0; i < n && rc == 0; i++) {
        uint64_t o = jr[i].strings_offset;
        size_t nl = jr[i].name_length, rl = jr[i].repo_length;
        char job[33], *name = NULL, *repo = NULL;
        if (o > nb || nl + rl > nb - o) {
            set_reason (msg, "job_inputs row %zu is malformed", i);
            rc = -1;
            break;
        }
        memcpy (job, jr[i].job, 32);
        job[32] = '\0';
        name = strndup (js + o, nl);
        repo = strndup (js + o + nl, rl);
        /* Rows of one job are consecutive: gather them. */
        if (!name || !repo)
            rc = -1;
        else {
            size_t k = i + 1;
            while (k < n && !memcmp (jr[k].job, jr[i].job, 32))
                k++;
            char **names = calloc (k - i, sizeof (char *));
            char **repos = calloc (k - i, sizeof (char *));
            size_t got = 0;
            if (names && repos) {
                names[0] = name;
                repos[0] = repo;
                name = repo = NULL;
                got = 1;
                for (size_t q = i + 1; q < k; q++) {
                    uint64_t oq = jr[q].strings_offset;
                    size_t a = jr[q].name_length, b = jr[q].repo_length;
                    if (oq > nb || a + b > nb - oq)
                        break;
                    if (!(names[got] = strndup (js + oq, a))
                        || !(repos[got] = strndup (js + oq + a, b))) {
                        free (names[got]);
                        break;
                    }
                    got++;
                }
            }
            if (!names || !repos || got != k - i
                || (sink->job_inputs
                    && sink->job_inputs (sink->arg, job, got, names, repos)
                           < 0)) {
                set_reason (msg, "job_inputs: malformed or out of memory");
                rc = -1;
            }
            for (size_t q = 0; q < got; q++) {
                free (names[q]);
                free (repos[q]);
            }
            free (names);
            free (repos);
            i = k - 1;
        }
        free (name);
        free (repo);
    }
    free (jr);
    free (js);
    return rc;
done:
    free (rows);
    free (hb);
    return rc;
}

static int read_lost (hid_t file, const types_t *t, const io__sink_t *sink,
                      h5msg_t *msg)
{
    htri_t have = H5Lexists (file, "lost_workers", H5P_DEFAULT);
    if (have < 0) {
        h5_reason (msg, "lost_workers");
        return -1;
    }
    if (!have)
        return 0;   /* written before lost workers were recorded */
    size_t n;
    lost_row_t *rows = dset_read_all (file, "lost_workers", t->lost,
                                      sizeof (*rows), &n, msg);
    if (!rows)
        return -1;
    int rc = 0;
    for (size_t i = 0; i < n && rc == 0; i++) {
        io_lost_worker_t l;
        memset (&l, 0, sizeof (l));
        memcpy (l.job, rows[i].job, 32);
        memcpy (l.host, rows[i].host, sizeof (l.host) - 1);
        memcpy (l.reason, rows[i].reason, sizeof (l.reason) - 1);
        l.rank = rows[i].rank;
        l.time_ns = rows[i].time_ns;
        io_hash_t h;
        if (io_hash_from_hex (l.job, &h) < 0) {
            set_reason (msg, "lost_workers row %zu is malformed", i);
            rc = -1;
        }
        else if (sink->lost_worker && sink->lost_worker (sink->arg, &l) < 0) {
            set_reason (msg, "out of memory");
            rc = -1;
        }
    }
    free (rows);
    return rc;
}

int io__h5_load (io__h5_t *f, const io__sink_t *sink, dr_error_t *err)
{
    h5msg_t msg = { "" };
    quiet ();
    if (read_datums (f->file, &f->t, f->version, sink, &msg) < 0
        || read_jobs (f->file, &f->t, sink, &msg) < 0
        || (f->version >= 2 && read_lineage (f->file, &f->t, sink, &msg) < 0)
        || (f->version >= 2 && read_lost (f->file, &f->t, sink, &msg) < 0)
        || read_statcache (f->file, &f->t, sink, &msg) < 0)
        return read_error (err, f->path, &msg);
    return 0;
}

int io__h5_lineage (io__h5_t *f, const io__sink_t *sink, dr_error_t *err)
{
    h5msg_t msg = { "" };
    if (f->version < 2)
        return 0;
    quiet ();
    if (read_lineage (f->file, &f->t, sink, &msg) < 0)
        return read_error (err, f->path, &msg);
    return 0;
}

static int intern_old_hosts (io__h5_t *old, hosts_t *hosts, char **keep)
{
    h5msg_t msg = { "" };
    size_t n;
    *keep = NULL;
    if (!io__h5_has_attempts (old))
        return 0;   /* no attempts to copy */
    char *raw = dset_read_all (old->file, "hosts", old->t.host, HOST_LEN, &n,
                               &msg);
    if (!raw) {
        errno = strcmp (msg.text, "out of memory") ? EIO : ENOMEM;
        return -1;
    }
    char *names = malloc (n * (HOST_LEN + 1) + 1);
    if (!names) {
        free (raw);
        return -1;
    }
    for (size_t i = 0; i < n; i++) {
        char *dst = names + i * (HOST_LEN + 1);
        memcpy (dst, raw + i * HOST_LEN, HOST_LEN);
        dst[HOST_LEN] = '\0';
    }
    free (raw);
    *keep = names;
    for (size_t i = 0; i < n; i++) {
        uint32_t hi;
        if (hosts_intern (hosts, names + i * (HOST_LEN + 1), &hi) < 0)
            return -1;
    }
    return 0;
}

/* Format 1 files, and format 2 files written before attempts were kept,
 * have no attempts table: they have no recorded attempts. */
static bool io__h5_has_attempts (io__h5_t *f)
{
    return f->version >= 2 && H5Lexists (f->file, "attempts", H5P_DEFAULT) > 0;
}

/* Rows in the attempts table, 0 when there is none or it cannot be
 * read (the copy will then report why). */
static size_t io__h5_nattempts (io__h5_t *f)
{
    if (!io__h5_has_attempts (f))
        return 0;
    hid_t d = H5Dopen2 (f->file, "attempts", H5P_DEFAULT);
    hid_t space = d >= 0 ? H5Dget_space (d) : H5I_INVALID_HID;
    hsize_t dims = 0;
    if (space < 0 || H5Sget_simple_extent_ndims (space) != 1
        || H5Sget_simple_extent_dims (space, &dims, NULL) < 0)
        dims = 0;
    if (space >= 0)
        H5Sclose (space);
    if (d >= 0)
        H5Dclose (d);
    H5Eclear2 (H5E_DEFAULT);
    return (size_t)dims;
}

int io__h5_attempts (io__h5_t *f, const io_hash_t *job,
                     const io_hash_t *datum, const io__sink_t *sink,
                     dr_error_t *err)
{
    h5msg_t msg = { "" };
    char *hosts = NULL;
    attempt_row_t *rows = NULL;
    size_t nhosts, n;
    uint64_t sum;
    hid_t d = H5I_INVALID_HID;
    XXH3_state_t *st = NULL;
    int rc = -1;
    char jhex[33] = "", dhex[33] = "";

    if (!io__h5_has_attempts (f))
        return 0;
    quiet ();
    if (job)
        io_hash_hex (job, jhex);
    if (datum)
        io_hash_hex (datum, dhex);
    if (!(st = XXH3_createState ()))
        goto nomem;
    XXH3_64bits_reset (st);
    if (!(hosts = dset_read_all (f->file, "hosts", f->t.host, HOST_LEN,
                                 &nhosts, &msg)))
        goto error;
    if ((d = dset_open (f->file, "attempts", &n, &sum, &msg)) < 0)
        goto error;
    if (!(rows = malloc (SLAB * sizeof (*rows))))
        goto nomem;
    for (size_t first = 0; first < n; first += SLAB) {
        size_t count = n - first < SLAB ? n - first : SLAB;
        if (dset_io (d, f->t.attempt, first, count, rows, false) < 0) {
            h5_reason (&msg, "attempts");
            goto error;
        }
        XXH3_64bits_update (st, rows, count * sizeof (*rows));
        for (size_t k = 0; k < count; k++) {
            const attempt_row_t *w = &rows[k];
            if ((job && memcmp (w->job, jhex, 32))
                || (datum && memcmp (w->datum, dhex, 32)))
                continue;
            io_attempt_t a;
            memset (&a, 0, sizeof (a));
            if (unhex32 (w->datum, a.datum.b) < 0
                || unhex32 (w->job, a.job.b) < 0 || w->host_index >= nhosts
                || w->outcome >= JOBS_ATTEMPT_NOUTCOMES) {
                set_reason (&msg, "attempts row %zu is malformed", first + k);
                goto error;
            }
            a.attempt = w->attempt;
            a.rank = w->rank;
            memcpy (a.host, hosts + (size_t)w->host_index * HOST_LEN,
                    HOST_LEN);
            a.host[HOST_LEN - 1] = '\0';
            a.start_ns = w->start_ns;
            a.duration_s = w->duration_s;
            a.exit_status = w->exit_status;
            a.term_signal = w->term_signal;
            a.outcome = w->outcome;
            if (sink->attempt && sink->attempt (sink->arg, &a) < 0) {
                if (errno == ENOMEM)
                    goto nomem;
                goto stopped;   /* the sink's own reason */
            }
        }
    }
    if (XXH3_64bits_digest (st) != sum) {
        set_reason (&msg, "checksum mismatch in attempts");
        goto error;
    }
    rc = 0;
    goto done;
nomem:
    set_reason (&msg, "out of memory");
error:
    read_error (err, f->path, &msg);
stopped:
done:
    if (d >= 0)
        H5Dclose (d);
    free (hosts);
    free (rows);
    XXH3_freeState (st);
    return rc;
}
