/* journal.c: the manifest's append-only log, "<state>/journal".  Every
 * change to the manifest between two checkpoints is one record written
 * with a single write(2): once that returns, the bytes are in the page
 * cache and survive the death of the process (kill -9); io_manifest_sync
 * adds fsync for machine crashes.  A record is
 *
 *     magic "DRJ1" | type u8 | 3 zero bytes | payload length u32 |
 *     payload | XXH3-64 of everything before it, u64
 *
 * with integers little-endian.  Replay decodes the records in order into
 * a sink (manifest_int.h): this file knows the format, not the model.  A
 * record that fails its checks at the very end of the file is a write that
 * was cut short: it is ignored (and cut off before the next append).  One
 * that good records follow is corruption, and an error: something other
 * than a crash damaged the file.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <xxhash.h>

#include "io/manifest_int.h"

enum {
    REC_JOB_BEGIN = 1,
    REC_PUT = 2,
    REC_INVALIDATE = 3,
    REC_FORGET = 4,
    REC_JOB_END = 5,
    REC_ATTEMPT = 6,
    REC_PUT_V2 = 7,     /* a put with each output's size and mtime */
    /* 8 and 9: kept for other records of format 2 */
    REC_ENTRIES = 10,   /* a datum's input entries' hashes (lineage) */
    REC_JOB_INPUTS = 11, /* a job's inputs: name -> repo folder (lineage) */
    REC_PUT_V3 = 12,    /* type 7 with a 4-byte attempt count */
    REC_LOST_WORKER = 13, /* a worker declared lost during a job */
};

/* How a put record holds the datum's inputs. */
enum { INPUTS_LINES = 0, INPUTS_LIST = 1 };

#define HEADER 12
#define TRAILER 8
#define MAX_PAYLOAD (1u << 30)
static const uint8_t magic[4] = { 'D', 'R', 'J', '1' };

struct io__journal {
    int fd;
    char *path;
    dev_t dev;          /* the file this job opened: a journal deleted or */
    ino_t ino;          /* replaced under it is noticed at the next append */
    uint64_t size;      /* bytes of good records: where to roll back to */
    uint8_t *buf;       /* held records, then the record being built */
    size_t cap, len;
    size_t rec;         /* where the record being built starts */
    bool holding;       /* io__journal_hold: records wait in buf */
};

/* ------------------------------------------------------------ encoding */

static void put_le (uint8_t *p, uint64_t v, int n)
{
    for (int i = 0; i < n; i++, v >>= 8)
        p[i] = (uint8_t)v;
}

static uint64_t get_le (const uint8_t *p, int n)
{
    uint64_t v = 0;
    for (int i = n - 1; i >= 0; i--)
        v = v << 8 | p[i];
    return v;
}

/* Start a record whose payload has exactly len bytes. */
static int rec_begin (io__journal_t *j, int type, size_t len)
{
    if (len > MAX_PAYLOAD) {
        errno = EFBIG;
        return -1;
    }
    size_t base = j->holding ? j->len : 0;
    size_t need = base + HEADER + len + TRAILER;
    if (need > j->cap) {
        size_t ncap = j->cap ? j->cap : 4096;
        while (ncap < need)
            ncap *= 2;
        uint8_t *b = realloc (j->buf, ncap);
        if (!b)
            return -1;
        j->buf = b;
        j->cap = ncap;
    }
    memcpy (j->buf + base, magic, 4);
    put_le (j->buf + base + 4, (uint64_t)type, 4);
    put_le (j->buf + base + 8, len, 4);
    j->rec = base;
    j->len = base + HEADER;
    return 0;
}

static void w_int (io__journal_t *j, uint64_t v, int n)
{
    put_le (j->buf + j->len, v, n);
    j->len += (size_t)n;
}

static void w_bytes (io__journal_t *j, const void *p, size_t n)
{
    memcpy (j->buf + j->len, p, n);
    j->len += n;
}

static void w_double (io__journal_t *j, double d)
{
    uint64_t v;
    memcpy (&v, &d, sizeof (v));
    w_int (j, v, 8);
}

/* Append the record built in j->buf with one write(2); on failure roll
 * the file back so that no partial record stays behind. */
static int journal_write (io__journal_t *j, dr_error_t *err);

static int rec_commit (io__journal_t *j, dr_error_t *err)
{
    put_le (j->buf + j->len, XXH3_64bits (j->buf + j->rec, j->len - j->rec),
            TRAILER);
    j->len += TRAILER;
    if (j->holding)
        return 0;       /* written by io__journal_release */
    return journal_write (j, err);
}

/* Write buf's complete records with one write(2). */
static int journal_write (io__journal_t *j, dr_error_t *err)
{
    /* Appending to a journal someone deleted or replaced would record into
     * nothing: a kill -9 later would lose what the job did.  One stat per
     * record is cheap next to the write. */
    struct stat st;
    if (stat (j->path, &st) < 0 || st.st_dev != j->dev
        || st.st_ino != j->ino) {
        int e = errno;
        bool gone = e == ENOENT;
        j->len = 0;
        errno = ESTALE;
        return dr_errprintf (err, "%s: the journal was %s during the job "
                             "(it is no longer the file this job opened)",
                             j->path, gone ? "deleted" : "replaced");
    }
    size_t done = 0;
    while (done < j->len) {
        ssize_t n = write (j->fd, j->buf + done, j->len - done);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0) {
            int e = errno;
            if (done > 0 && ftruncate (j->fd, (off_t)j->size) < 0) {
                /* Replay will see a torn tail and ignore it. */
            }
            errno = e;
            j->len = 0;
            return dr_errprintf (err, "%s: cannot append: %s", j->path,
                                 strerror (e));
        }
        done += (size_t)n;
    }
    j->size += j->len;
    j->len = 0;
    return 0;
}

void io__journal_hold (io__journal_t *j)
{
    if (!j->holding)
        j->len = 0;
    j->holding = true;
}

int io__journal_release (io__journal_t *j, dr_error_t *err)
{
    j->holding = false;
    if (!j->len)
        return 0;
    return journal_write (j, err);
}

static int oom (io__journal_t *j, dr_error_t *err)
{
    return dr_errprintf (err, "%s: cannot append: %s", j->path,
                         strerror (errno));
}

int io__journal_put (io__journal_t *j, const io_datum_rec_t *rec,
                     dr_error_t *err)
{
    const char *host = rec->host ? rec->host : "";
    size_t hlen = strnlen (host, IO_HOST_MAX - 1);
    size_t ilen = io_inputs_len (rec->inputs);
    size_t olen = io__datum_outputs_len (rec);
    size_t len = 4 * 16 + 1 + 4 + 4 + 1 + hlen + 4 * 8 + 4 + 4 + 4 + ilen
                 + 4 + 4 + olen + 16 + 1;
    len += rec->noutputs * 16;
    if (rec_begin (j, REC_PUT_V3, len) < 0)
        return oom (j, err);
    w_bytes (j, rec->id.b, 16);
    w_bytes (j, rec->hash.b, 16);
    w_bytes (j, rec->proc_job.b, 16);
    w_bytes (j, rec->seen_job.b, 16);
    w_int (j, rec->state, 1);
    w_int (j, rec->attempts, 4);
    w_int (j, (uint32_t)rec->rank, 4);
    w_int (j, hlen, 1);
    w_bytes (j, host, hlen);
    w_int (j, (uint64_t)rec->start_ns, 8);
    w_double (j, rec->duration_s);
    w_int (j, rec->bytes_in, 8);
    w_int (j, rec->bytes_out, 8);
    w_int (j, (uint32_t)rec->exit_status, 4);
    w_int (j, (uint32_t)rec->term_signal, 4);
    w_int (j, ilen, 4);
    w_bytes (j, rec->inputs, ilen);
    w_int (j, rec->noutputs, 4);
    w_int (j, olen, 4);
    for (size_t k = 0; k < rec->noutputs; k++)
        w_bytes (j, rec->outputs[k], strlen (rec->outputs[k]) + 1);
    w_bytes (j, rec->pipeline.b, 16);
    w_int (j, INPUTS_LIST, 1);
    for (size_t k = 0; k < rec->noutputs; k++) {
        w_int (j, rec->out_sizes ? rec->out_sizes[k] : 0, 8);
        w_int (j, (uint64_t)(rec->out_mtimes ? rec->out_mtimes[k]
                                             : IO_MTIME_UNKNOWN), 8);
    }
    return rec_commit (j, err);
}

static int put_id (io__journal_t *j, int type, const io_hash_t *id,
                   dr_error_t *err)
{
    if (rec_begin (j, type, 16) < 0)
        return oom (j, err);
    w_bytes (j, id->b, 16);
    return rec_commit (j, err);
}

int io__journal_invalidate (io__journal_t *j, const io_hash_t *id,
                            dr_error_t *err)
{
    return put_id (j, REC_INVALIDATE, id, err);
}

int io__journal_forget (io__journal_t *j, const io_hash_t *id,
                        dr_error_t *err)
{
    return put_id (j, REC_FORGET, id, err);
}

int io__journal_entries (io__journal_t *j, const io_hash_t *id, uint32_t n,
                         const io_hash_t *hashes, dr_error_t *err)
{
    if (rec_begin (j, REC_ENTRIES, 16 + 4 + (size_t)n * 16) < 0)
        return oom (j, err);
    w_bytes (j, id->b, 16);
    w_int (j, n, 4);
    for (uint32_t i = 0; i < n; i++)
        w_bytes (j, hashes[i].b, 16);
    return rec_commit (j, err);
}

int io__journal_job_inputs (io__journal_t *j, const char *job_id, size_t n,
                            char *const names[], char *const repos[],
                            dr_error_t *err)
{
    size_t il = strlen (job_id), len = 1 + il + 4;
    for (size_t i = 0; i < n; i++)
        len += 4 + strlen (names[i]) + 4 + strlen (repos[i]);
    if (il > 255 || rec_begin (j, REC_JOB_INPUTS, len) < 0)
        return oom (j, err);
    w_int (j, il, 1);
    w_bytes (j, job_id, il);
    w_int (j, n, 4);
    for (size_t i = 0; i < n; i++) {
        w_int (j, strlen (names[i]), 4);
        w_bytes (j, names[i], strlen (names[i]));
        w_int (j, strlen (repos[i]), 4);
        w_bytes (j, repos[i], strlen (repos[i]));
    }
    return rec_commit (j, err);
}

int io__journal_lost_worker (io__journal_t *j, const io_lost_worker_t *l,
                             dr_error_t *err)
{
    size_t il = strnlen (l->job, sizeof (l->job) - 1);
    size_t hl = strnlen (l->host, sizeof (l->host) - 1);
    size_t rl = strnlen (l->reason, sizeof (l->reason) - 1);
    if (rec_begin (j, REC_LOST_WORKER, 1 + il + 4 + 1 + hl + 8 + 2 + rl) < 0)
        return oom (j, err);
    w_int (j, il, 1);
    w_bytes (j, l->job, il);
    w_int (j, (uint32_t)l->rank, 4);
    w_int (j, hl, 1);
    w_bytes (j, l->host, hl);
    w_int (j, (uint64_t)l->time_ns, 8);
    w_int (j, rl, 2);
    w_bytes (j, l->reason, rl);
    return rec_commit (j, err);
}

int io__journal_job (io__journal_t *j, bool begin, const jobs_record_t *job,
                     dr_error_t *err)
{
    size_t il = strnlen (job->id, sizeof (job->id) - 1);
    size_t pl = strnlen (job->pipeline, sizeof (job->pipeline) - 1);
    size_t xl = strnlen (job->image_id, sizeof (job->image_id) - 1);
    size_t len = 1 + il + 1 + pl + 3 * 4 + 9 * 8 + 16 + (xl ? 1 + xl : 0);
    if (rec_begin (j, begin ? REC_JOB_BEGIN : REC_JOB_END, len) < 0)
        return oom (j, err);
    w_int (j, il, 1);
    w_bytes (j, job->id, il);
    w_int (j, pl, 1);
    w_bytes (j, job->pipeline, pl);
    w_int (j, (uint32_t)job->state, 4);
    w_int (j, (uint32_t)job->workers, 4);
    w_int (j, (uint32_t)job->nodes, 4);
    w_int (j, job->processed, 8);
    w_int (j, job->skipped, 8);
    w_int (j, job->failed, 8);
    w_int (j, job->recovered, 8);
    w_int (j, job->total, 8);
    w_int (j, job->bytes_downloaded, 8);
    w_int (j, job->bytes_uploaded, 8);
    w_int (j, (uint64_t)job->start_ns, 8);
    w_double (j, job->duration_s);
    w_bytes (j, job->pipeline_hash, 16);
    /* Added in 0.2, optional: older records end after the hash. */
    if (xl) {
        w_int (j, xl, 1);
        w_bytes (j, job->image_id, xl);
    }
    return rec_commit (j, err);
}

int io__journal_attempt (io__journal_t *j, const io_attempt_t *a,
                         dr_error_t *err)
{
    size_t hlen = strnlen (a->host, sizeof (a->host) - 1);
    size_t len = 16 + 16 + 4 + 4 + 1 + hlen + 8 + 8 + 4 + 4 + 1;
    if (rec_begin (j, REC_ATTEMPT, len) < 0)
        return oom (j, err);
    w_bytes (j, a->datum.b, 16);
    w_bytes (j, a->job.b, 16);
    w_int (j, a->attempt, 4);
    w_int (j, (uint32_t)a->rank, 4);
    w_int (j, hlen, 1);
    w_bytes (j, a->host, hlen);
    w_int (j, (uint64_t)a->start_ns, 8);
    w_double (j, a->duration_s);
    w_int (j, (uint32_t)a->exit_status, 4);
    w_int (j, (uint32_t)a->term_signal, 4);
    w_int (j, a->outcome, 1);
    return rec_commit (j, err);
}

/* ------------------------------------------------------------ decoding */

typedef struct cursor {
    const uint8_t *p;
    size_t left;
    bool bad;
} cursor_t;

static const uint8_t *r_bytes (cursor_t *c, size_t n)
{
    if (c->bad || c->left < n) {
        c->bad = true;
        return NULL;
    }
    const uint8_t *p = c->p;
    c->p += n;
    c->left -= n;
    return p;
}

static uint64_t r_int (cursor_t *c, int n)
{
    const uint8_t *p = r_bytes (c, (size_t)n);
    return p ? get_le (p, n) : 0;
}

static double r_double (cursor_t *c)
{
    uint64_t v = r_int (c, 8);
    double d;
    memcpy (&d, &v, sizeof (d));
    return d;
}

static void r_copy (cursor_t *c, void *dst, size_t n)
{
    const uint8_t *p = r_bytes (c, n);
    if (p)
        memcpy (dst, p, n);
}

/* The decoders return 0, or -1 with errno EINVAL (malformed) or what the
 * sink's errno is (ENOMEM). */
static int decode_put (const io__sink_t *sink, cursor_t *c, int type)
{
    bool v2 = type != REC_PUT;  /* 7 and 12 have the same layout but for
                                 * the attempt count's width */
    io_datum_rec_t rec;
    memset (&rec, 0, sizeof (rec));
    r_copy (c, rec.id.b, 16);
    r_copy (c, rec.hash.b, 16);
    r_copy (c, rec.proc_job.b, 16);
    r_copy (c, rec.seen_job.b, 16);
    rec.state = (uint8_t)r_int (c, 1);
    uint64_t at = r_int (c, type == REC_PUT_V3 ? 4 : 1);
    rec.attempts = (uint16_t)(at > UINT16_MAX ? UINT16_MAX : at);
    rec.rank = (int32_t)(uint32_t)r_int (c, 4);
    size_t hlen = (size_t)r_int (c, 1);
    char host[IO_HOST_MAX] = "";
    rec.host = host;
    if (hlen >= sizeof (host))
        c->bad = true;
    else
        r_copy (c, host, hlen);
    rec.start_ns = (int64_t)r_int (c, 8);
    rec.duration_s = r_double (c);
    rec.bytes_in = r_int (c, 8);
    rec.bytes_out = r_int (c, 8);
    rec.exit_status = (int32_t)(uint32_t)r_int (c, 4);
    rec.term_signal = (int32_t)(uint32_t)r_int (c, 4);
    size_t ilen = (size_t)r_int (c, 4);
    const uint8_t *inputs = r_bytes (c, ilen);
    size_t nout = (size_t)r_int (c, 4);
    size_t olen = (size_t)r_int (c, 4);
    const uint8_t *outbuf = r_bytes (c, olen);
    const uint8_t *stats = NULL;
    int form = INPUTS_LINES;
    if (v2) {
        /* Type 7: the pipeline, the inputs' form, then each output's size
         * and mtime. */
        r_copy (c, rec.pipeline.b, 16);
        form = (int)r_int (c, 1);
        if (!c->bad && nout <= c->left / 16)
            stats = r_bytes (c, nout * 16);
    }
    else {
        /* Type 2: the pipeline came last in format 2; older journals lack
         * it.  Then the inputs' form: a list, or lines when absent. */
        if (c->left >= 16)
            r_copy (c, rec.pipeline.b, 16);
        form = c->left == 1 ? (int)r_int (c, 1) : INPUTS_LINES;
    }
    if (c->bad || c->left || (v2 && !stats)
        || (form != INPUTS_LIST && form != INPUTS_LINES)) {
        errno = EINVAL;
        return -1;
    }
    char *list = NULL;
    if (form == INPUTS_LINES) {
        if (io__inputs_from_lines ((const char *)inputs, ilen, &list, &ilen)
            < 0)
            return -1;
        inputs = (const uint8_t *)list;
    }
    int rc = io__datum_set_strings (&rec, (const char *)inputs, ilen,
                                    (const char *)outbuf, olen, nout);
    free (list);
    if (rc < 0)
        return -1;
    for (size_t k = 0; stats && k < nout; k++) {
        rec.out_sizes[k] = get_le (stats + 16 * k, 8);
        rec.out_mtimes[k] = (int64_t)get_le (stats + 16 * k + 8, 8);
    }
    if (!sink->put) {
        io__datum_free_strings (&rec);
        return 0;
    }
    return sink->put (sink->arg, &rec);
}

static int decode_job (const io__sink_t *sink, bool begin, cursor_t *c)
{
    jobs_record_t job;
    memset (&job, 0, sizeof (job));
    size_t il = (size_t)r_int (c, 1);
    if (il >= sizeof (job.id))
        c->bad = true;
    r_copy (c, job.id, il);
    size_t pl = (size_t)r_int (c, 1);
    if (pl >= sizeof (job.pipeline))
        c->bad = true;
    r_copy (c, job.pipeline, pl);
    job.state = (jobs_state_t)r_int (c, 4);
    job.workers = (int)(uint32_t)r_int (c, 4);
    job.nodes = (int)(uint32_t)r_int (c, 4);
    job.processed = r_int (c, 8);
    job.skipped = r_int (c, 8);
    job.failed = r_int (c, 8);
    job.recovered = r_int (c, 8);
    job.total = r_int (c, 8);
    job.bytes_downloaded = r_int (c, 8);
    job.bytes_uploaded = r_int (c, 8);
    job.start_ns = (int64_t)r_int (c, 8);
    job.duration_s = r_double (c);
    r_copy (c, job.pipeline_hash, 16);
    if (!c->bad && c->left) {
        size_t xl = (size_t)r_int (c, 1);
        if (xl >= sizeof (job.image_id))
            c->bad = true;
        r_copy (c, job.image_id, xl);
    }
    if (c->bad || c->left) {
        errno = EINVAL;
        return -1;
    }
    return sink->job ? sink->job (sink->arg, begin, &job) : 0;
}

static int decode_attempt (const io__sink_t *sink, cursor_t *c)
{
    io_attempt_t a;
    memset (&a, 0, sizeof (a));
    r_copy (c, a.datum.b, 16);
    r_copy (c, a.job.b, 16);
    a.attempt = (uint32_t)r_int (c, 4);
    a.rank = (int32_t)(uint32_t)r_int (c, 4);
    size_t hlen = (size_t)r_int (c, 1);
    if (hlen >= sizeof (a.host))
        c->bad = true;
    else
        r_copy (c, a.host, hlen);
    a.start_ns = (int64_t)r_int (c, 8);
    a.duration_s = r_double (c);
    a.exit_status = (int32_t)(uint32_t)r_int (c, 4);
    a.term_signal = (int32_t)(uint32_t)r_int (c, 4);
    a.outcome = (uint8_t)r_int (c, 1);
    if (c->bad || c->left || a.outcome >= JOBS_ATTEMPT_NOUTCOMES) {
        errno = EINVAL;
        return -1;
    }
    return sink->attempt ? sink->attempt (sink->arg, &a) : 0;
}

static int decode_entries (const io__sink_t *sink, cursor_t *c)
{
    io_hash_t id;
    r_copy (c, id.b, 16);
    uint32_t n = (uint32_t)r_int (c, 4);
    if (c->bad || c->left != (size_t)n * 16) {
        errno = EINVAL;
        return -1;
    }
    io_hash_t *h = malloc ((n ? n : 1) * sizeof (*h));
    if (!h)
        return -1;
    for (uint32_t i = 0; i < n; i++)
        r_copy (c, h[i].b, 16);
    int rc = sink->entries ? sink->entries (sink->arg, &id, n, h) : 0;
    free (h);
    return rc;
}

/* A length-prefixed string as a new C string, or NULL. */
static char *r_str (cursor_t *c, int lenbytes)
{
    size_t n = (size_t)r_int (c, lenbytes);
    const uint8_t *p = r_bytes (c, n);
    if (!p || memchr (p, '\0', n))
        return NULL;
    char *s = malloc (n + 1);
    if (s) {
        memcpy (s, p, n);
        s[n] = '\0';
    }
    return s;
}

static int decode_job_inputs (const io__sink_t *sink, cursor_t *c)
{
    char *job = r_str (c, 1);
    uint32_t n = (uint32_t)r_int (c, 4);
    int rc = -1;
    char **names = NULL, **repos = NULL;
    if (!job || c->bad || n > c->left / 8)
        goto done;
    names = calloc (n ? n : 1, sizeof (char *));
    repos = calloc (n ? n : 1, sizeof (char *));
    if (!names || !repos)
        goto done;
    for (uint32_t i = 0; i < n; i++)
        if (!(names[i] = r_str (c, 4)) || !(repos[i] = r_str (c, 4)))
            goto done;
    if (c->bad || c->left)
        goto done;
    rc = sink->job_inputs ? sink->job_inputs (sink->arg, job, n, names, repos)
                          : 0;
done:
    if (rc < 0 && errno != ENOMEM)
        errno = EINVAL;
    for (uint32_t i = 0; names && repos && i < n; i++) {
        free (names[i]);
        free (repos[i]);
    }
    free (names);
    free (repos);
    free (job);
    return rc;
}

/* A length-prefixed string into dst (of cap bytes, NUL-terminated). */
static void r_strbuf (cursor_t *c, int lenbytes, char *dst, size_t cap)
{
    size_t n = (size_t)r_int (c, lenbytes);
    const uint8_t *p = r_bytes (c, n);
    if (!p || n >= cap || memchr (p, '\0', n)) {
        c->bad = true;
        dst[0] = '\0';
        return;
    }
    memcpy (dst, p, n);
    dst[n] = '\0';
}

static int decode_lost_worker (const io__sink_t *sink, cursor_t *c)
{
    io_lost_worker_t l;
    memset (&l, 0, sizeof (l));
    r_strbuf (c, 1, l.job, sizeof (l.job));
    l.rank = (int32_t)(uint32_t)r_int (c, 4);
    r_strbuf (c, 1, l.host, sizeof (l.host));
    l.time_ns = (int64_t)r_int (c, 8);
    r_strbuf (c, 2, l.reason, sizeof (l.reason));
    if (c->bad || c->left) {
        errno = EINVAL;
        return -1;
    }
    return sink->lost_worker ? sink->lost_worker (sink->arg, &l) : 0;
}

static int decode (const io__sink_t *sink, int type, const uint8_t *p,
                   size_t len)
{
    cursor_t c = { .p = p, .left = len };
    io_hash_t id;
    switch (type) {
    case REC_PUT:
    case REC_PUT_V2:
    case REC_PUT_V3:
        return decode_put (sink, &c, type);
    case REC_JOB_BEGIN:
    case REC_JOB_END:
        return decode_job (sink, type == REC_JOB_BEGIN, &c);
    case REC_ATTEMPT:
        return decode_attempt (sink, &c);
    case REC_ENTRIES:
        return decode_entries (sink, &c);
    case REC_JOB_INPUTS:
        return decode_job_inputs (sink, &c);
    case REC_LOST_WORKER:
        return decode_lost_worker (sink, &c);
    case REC_INVALIDATE:
    case REC_FORGET:
        if (len != 16)
            break;
        memcpy (id.b, p, 16);
        if (type == REC_INVALIDATE)
            return sink->invalidate ? sink->invalidate (sink->arg, &id) : 0;
        return sink->forget ? sink->forget (sink->arg, &id) : 0;
    }
    errno = EINVAL;
    return -1;
}

/* Reads the journal through a window, so that replaying a large journal
 * does not hold all of it in memory.  The file's size is taken once: a
 * writer appending meanwhile (read-only openers take no lock) adds records
 * that this replay does not see, and a checkpoint truncating it reads as
 * a short file. */
#define WINDOW (1u << 20)

typedef struct reader {
    int fd;
    uint64_t size;      /* of the file when replay began */
    uint8_t *buf;
    size_t cap, len;
    uint64_t start;     /* file offset of buf[0] */
    int error;          /* errno of a failed read, or 0 */
} reader_t;

/* Bytes [off, off + n) of the file, or NULL past its end or on error. */
static const uint8_t *reader_get (reader_t *r, uint64_t off, size_t n)
{
    if (off >= r->start && off + n <= r->start + r->len)
        return r->buf + (off - r->start);
    if (off + n > r->size)
        return NULL;
    if (n > r->cap) {
        size_t ncap = r->cap ? r->cap : WINDOW;
        while (ncap < n)
            ncap *= 2;
        uint8_t *b = realloc (r->buf, ncap);
        if (!b) {
            r->error = errno;
            return NULL;
        }
        r->buf = b;
        r->cap = ncap;
    }
    size_t want = r->size - off < r->cap ? (size_t)(r->size - off) : r->cap;
    r->start = off;
    r->len = 0;
    while (r->len < want) {
        ssize_t got = pread (r->fd, r->buf + r->len, want - r->len,
                             (off_t)(off + r->len));
        if (got < 0 && errno == EINTR)
            continue;
        if (got < 0) {
            r->error = errno;
            return NULL;
        }
        if (got == 0)
            break;   /* truncated under us: a writer's checkpoint */
        r->len += (size_t)got;
    }
    return r->len >= n ? r->buf : NULL;
}

/* The length of the good record at off, or 0 if there is none. */
static size_t good_record (reader_t *r, uint64_t off)
{
    const uint8_t *h = reader_get (r, off, HEADER);
    if (!h || memcmp (h, magic, 4))
        return 0;
    uint64_t len = get_le (h + 8, 4);
    if (len > MAX_PAYLOAD)
        return 0;
    size_t body = HEADER + (size_t)len;
    const uint8_t *p = reader_get (r, off, body + TRAILER);
    if (!p || XXH3_64bits (p, body) != get_le (p + body, TRAILER))
        return 0;
    return body + TRAILER;
}

/* Is there a good record anywhere after a bad one at off? */
static bool good_after (reader_t *r, uint64_t off)
{
    for (uint64_t p = off + 1; p + HEADER + TRAILER <= r->size; p++) {
        const uint8_t *b = reader_get (r, p, 4);
        if (!b)
            return false;
        if (!memcmp (b, magic, 4) && good_record (r, p))
            return true;
    }
    return false;
}

int io__journal_replay (const char *path, io__journal_t *j,
                        const io__sink_t *sink, dr_error_t *err)
{
    int fd = j ? j->fd : open (path, O_RDONLY | O_CLOEXEC);
    reader_t r = { .fd = fd };
    uint64_t off = 0;
    struct stat st;
    if (fd < 0) {
        if (errno == ENOENT)
            return 0;
        return dr_errprintf (err, "%s: cannot read: %s", path,
                             strerror (errno));
    }
    if (fstat (fd, &st) < 0) {
        dr_errprintf (err, "%s: cannot read: %s", path, strerror (errno));
        goto error;
    }
    r.size = (uint64_t)st.st_size;
    while (off < r.size) {
        size_t rlen = good_record (&r, off);
        if (!rlen && !r.error && good_after (&r, off)) {
            errno = EINVAL;
            dr_errprintf (err, "%s: corrupt record at byte %llu with good "
                          "records after it (not an interrupted write). To "
                          "recover: move it aside (mv %s %s.bad) and rerun; "
                          "datums finished since the last checkpoint will be "
                          "processed again", path, (unsigned long long)off,
                          path, path);
            goto error;
        }
        if (r.error) {
            errno = r.error;
            dr_errprintf (err, "%s: cannot read: %s", path,
                          strerror (errno));
            goto error;
        }
        if (!rlen)
            break;   /* a torn tail: the write a kill interrupted */
        const uint8_t *rec = reader_get (&r, off, rlen);
        int type = (int)get_le (rec + 4, 4);
        if (decode (sink, type, rec + HEADER, rlen - HEADER - TRAILER) < 0) {
            if (errno != EINVAL)
                dr_errprintf (err, "%s: %s", path, errno == ENOMEM
                              ? "out of memory" : strerror (errno));
            else
                dr_errprintf (err, "%s: malformed record of type %d at byte "
                              "%llu. To recover: move it aside (mv %s "
                              "%s.bad) and rerun; datums finished since the "
                              "last checkpoint will be processed again",
                              path, type, (unsigned long long)off, path,
                              path);
            goto error;
        }
        off += rlen;
    }
    if (j) {
        /* New records must follow the last good one, not a torn tail. */
        if (off < r.size && ftruncate (fd, (off_t)off) < 0) {
            dr_errprintf (err, "%s: cannot truncate: %s", path,
                          strerror (errno));
            goto error;
        }
        j->size = off;
    }
    else
        close (fd);
    free (r.buf);
    return 0;
error:
    {
        int e = errno;
        if (!j)
            close (fd);
        free (r.buf);
        errno = e;
    }
    return -1;
}

/* ----------------------------------------------------- open and close */

io__journal_t *io__journal_open (const char *path, dr_error_t *err)
{
    io__journal_t *j = calloc (1, sizeof (*j));
    if (!j || !(j->path = strdup (path))) {
        free (j);
        dr_errprintf (err, "%s: out of memory", path);
        return NULL;
    }
    j->fd = open (path, O_RDWR | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
    if (j->fd < 0) {
        dr_errprintf (err, "%s: cannot open: %s", path, strerror (errno));
        io__journal_close (j);
        return NULL;
    }
    struct stat st;
    if (fstat (j->fd, &st) < 0) {
        dr_errprintf (err, "%s: cannot stat: %s", path, strerror (errno));
        io__journal_close (j);
        return NULL;
    }
    j->dev = st.st_dev;
    j->ino = st.st_ino;
    return j;
}

void io__journal_close (io__journal_t *j)
{
    int saved = errno;
    if (j) {
        if (j->fd >= 0)
            close (j->fd);
        free (j->path);
        free (j->buf);
        free (j);
    }
    errno = saved;
}

uint64_t io__journal_size (const io__journal_t *j)
{
    return j->size + (j->holding ? j->len : 0);
}

int io__journal_sync (io__journal_t *j, dr_error_t *err)
{
    if (j->holding && j->len && io__journal_release (j, err) < 0)
        return -1;
    if (fsync (j->fd) < 0)
        return dr_errprintf (err, "%s: fsync: %s", j->path,
                             strerror (errno));
    return 0;
}

int io__journal_reset (io__journal_t *j, dr_error_t *err)
{
    if (j->holding && j->len && io__journal_release (j, err) < 0)
        return -1;
    if (ftruncate (j->fd, 0) < 0 || fsync (j->fd) < 0)
        return dr_errprintf (err, "%s: cannot truncate after a checkpoint: "
                             "%s", j->path, strerror (errno));
    j->size = 0;
    return 0;
}
