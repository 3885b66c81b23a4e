/* test_manifest.c: the HDF5 manifest and its journal.  Round trips
 * through checkpoints and reopen, replay of a journal left by a process
 * that never closed, torn and corrupt journals, corrupt manifest files,
 * forget and invalidate, the state folder lock, kill -9 at random moments,
 * and the h5py reader (tests/integration/read_manifest.py) as an
 * independent check of the file format.
 */
#define _GNU_SOURCE   /* nftw */
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>
#include <hdf5.h>
#include <xxhash.h>

#include "io/io.h"
#include "io/manifest_int.h"
#include "seeds.h"

#ifdef __SANITIZE_ADDRESS__
/* HDF5 1.10.8 leaks a metadata cache buffer when a checksum fails while it
 * loads an object header: H5Fopen + H5Aopen alone on a damaged file show
 * it.  test_corrupt_manifest does exactly that; our own allocations are
 * not in libhdf5, so this hides nothing of ours. */
const char *__lsan_default_suppressions (void);
const char *__lsan_default_suppressions (void)
{
    return "leak:libhdf5_serial.so\n";
}
#endif

/* ------------------------------------------------------------ helpers */

typedef struct trec {
    io_datum_rec_t r;
    char inputs[128];
    char host[IO_HOST_MAX];
    char o[3][64];
    char *outs[3];
} trec_t;

static io_hash_t hash_of (const char *prefix, int i)
{
    char buf[64];
    io_hash_t h;
    snprintf (buf, sizeof (buf), "%s-%d", prefix, i);
    io_hash_bytes (buf, strlen (buf), &h);
    return h;
}

/* Datum i's record; variant changes the fields a rerun would change. */
static void trec_make (trec_t *t, int i, int variant)
{
    memset (t, 0, sizeof (*t));
    t->r.id = hash_of ("datum", i);
    t->r.hash = hash_of ("hash", i + variant);
    t->r.proc_job = hash_of ("job", variant);
    t->r.seen_job = hash_of ("job", variant + 1);
    t->r.pipeline = hash_of ("version", i % 2 + variant);
    t->r.state = (uint8_t)(i % 5);
    t->r.attempts = (uint16_t)(1 + variant);
    t->r.rank = 1 + i % 7;
    snprintf (t->host, sizeof (t->host), "node%03d", i % 4);
    t->r.host = t->host;
    t->r.start_ns = 1700000000000000000LL + i;
    t->r.duration_s = 0.25 * i + variant;
    t->r.bytes_in = 1000u + (uint64_t)i;
    t->r.bytes_out = 2000u + (uint64_t)i;
    t->r.exit_status = i % 3 == 2 ? -1 : 0;
    t->r.term_signal = i % 3 == 2 ? 9 : 0;
    /* An inputs list (entries NUL-terminated, then a NUL); the struct is
     * zeroed, so the final NUL is there. */
    int n = snprintf (t->inputs, sizeof (t->inputs),
                      "words:/data/words/file-%06d.txt", i);
    snprintf (t->inputs + n + 1, sizeof (t->inputs) - (size_t)n - 1,
              "images:/data/img/%d.png", i);
    t->r.inputs = t->inputs;
    t->r.noutputs = (size_t)(i % 3);
    for (size_t k = 0; k < t->r.noutputs; k++) {
        snprintf (t->o[k], sizeof (t->o[k]), "out/%d/part-%zu.txt", i, k);
        t->outs[k] = t->o[k];
    }
    t->r.outputs = t->r.noutputs ? t->outs : NULL;
}

static void check_rec (const io_datum_rec_t *got, int i, int variant)
{
    trec_t t;
    trec_make (&t, i, variant);
    assert_non_null (got);
    assert_true (io_hash_eq (&got->id, &t.r.id));
    assert_true (io_hash_eq (&got->hash, &t.r.hash));
    assert_true (io_hash_eq (&got->proc_job, &t.r.proc_job));
    assert_true (io_hash_eq (&got->seen_job, &t.r.seen_job));
    assert_true (io_hash_eq (&got->pipeline, &t.r.pipeline));
    assert_int_equal (got->state, t.r.state);
    assert_int_equal (got->attempts, t.r.attempts);
    assert_int_equal (got->rank, t.r.rank);
    assert_string_equal (got->host, t.r.host);
    assert_int_equal (got->start_ns, t.r.start_ns);
    assert_true (got->duration_s == t.r.duration_s);
    assert_int_equal (got->bytes_in, t.r.bytes_in);
    assert_int_equal (got->bytes_out, t.r.bytes_out);
    assert_int_equal (got->exit_status, t.r.exit_status);
    assert_int_equal (got->term_signal, t.r.term_signal);
    size_t il = io_inputs_len (t.r.inputs);
    assert_int_equal (io_inputs_len (got->inputs), il);
    assert_memory_equal (got->inputs, t.r.inputs, il + 1);
    assert_int_equal (got->noutputs, t.r.noutputs);
    for (size_t k = 0; k < t.r.noutputs; k++)
        assert_string_equal (got->outputs[k], t.r.outputs[k]);
}

static const io_datum_rec_t *find_i (io_manifest_t *m, int i)
{
    static io_datum_rec_t views[4];
    static unsigned next;
    io_hash_t id = hash_of ("datum", i);
    return io_manifest_find (m, &id, &views[next++ % 4]);
}

static void put_i (io_manifest_t *m, int i, int variant)
{
    trec_t t;
    dr_error_t err = { "" };
    trec_make (&t, i, variant);
    assert_int_equal (io_manifest_put (m, &t.r, &err), 0);
}

static jobs_record_t job_make (int i, jobs_state_t state)
{
    jobs_record_t j;
    memset (&j, 0, sizeof (j));
    io_hash_t h = hash_of ("job", i);
    io_hash_hex (&h, j.id);
    snprintf (j.pipeline, sizeof (j.pipeline), "wordcount");
    j.state = state;
    j.workers = 4;
    j.nodes = 2;
    j.processed = 10u + (uint64_t)i;
    j.skipped = 5;
    j.failed = 1;
    j.recovered = 1;
    j.total = 16u + (uint64_t)i;
    j.bytes_downloaded = 12345;
    j.bytes_uploaded = 67890;
    j.start_ns = 1700000000000000000LL;
    j.duration_s = 12.5;
    h = hash_of ("pipeline", 1);
    memcpy (j.pipeline_hash, h.b, 16);
    return j;
}

static void check_job (const jobs_record_t *got, const jobs_record_t *want)
{
    assert_non_null (got);
    assert_string_equal (got->id, want->id);
    assert_string_equal (got->pipeline, want->pipeline);
    assert_int_equal (got->state, want->state);
    assert_int_equal (got->workers, want->workers);
    assert_int_equal (got->nodes, want->nodes);
    assert_int_equal (got->processed, want->processed);
    assert_int_equal (got->skipped, want->skipped);
    assert_int_equal (got->failed, want->failed);
    assert_int_equal (got->recovered, want->recovered);
    assert_int_equal (got->total, want->total);
    assert_int_equal (got->bytes_downloaded, want->bytes_downloaded);
    assert_int_equal (got->bytes_uploaded, want->bytes_uploaded);
    assert_int_equal (got->start_ns, want->start_ns);
    assert_true (got->duration_s == want->duration_s);
    assert_memory_equal (got->pipeline_hash, want->pipeline_hash, 16);
}

static int rm_entry (const char *path, const struct stat *st, int flag,
                     struct FTW *ftw)
{
    return remove (path);
}

typedef struct fixture {
    char root[256];     /* mkdtemp folder */
    char dir[300];      /* the state folder, under it */
    char path[320];     /* dir/manifest.h5 */
    char journal[320];  /* dir/journal */
} fixture_t;

static int setup (void **state)
{
    fixture_t *f = calloc (1, sizeof (*f));
    const char *tmp = getenv ("TMPDIR");
    snprintf (f->root, sizeof (f->root), "%s/test_manifest.XXXXXX",
              tmp && *tmp ? tmp : "/tmp");
    if (!mkdtemp (f->root))
        return -1;
    snprintf (f->dir, sizeof (f->dir), "%s/.datumrun/wc", f->root);
    snprintf (f->path, sizeof (f->path), "%s/manifest.h5", f->dir);
    snprintf (f->journal, sizeof (f->journal), "%s/journal", f->dir);
    *state = f;
    return 0;
}

static int teardown (void **state)
{
    fixture_t *f = *state;
    nftw (f->root, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
    free (f);
    return 0;
}

static io_manifest_t *open_ok (const char *dir)
{
    dr_error_t err = { "" };
    io_manifest_t *m = io_manifest_open (dir, &err);
    if (!m)
        fail_msg ("io_manifest_open: %s", err.text);
    return m;
}

static io_manifest_t *open_ro_ok (const char *dir)
{
    dr_error_t err = { "" };
    io_manifest_t *m = io_manifest_open_ro (dir, &err);
    if (!m)
        fail_msg ("io_manifest_open_ro: %s", err.text);
    return m;
}

static void checkpoint_ok (io_manifest_t *m, const io_hash_t *ph)
{
    dr_error_t err = { "" };
    if (io_manifest_checkpoint (m, ph, &err) < 0)
        fail_msg ("io_manifest_checkpoint: %s", err.text);
}

static off_t file_size (const char *path)
{
    struct stat st;
    assert_int_equal (stat (path, &st), 0);
    return st.st_size;
}

static bool exists (const char *path)
{
    struct stat st;
    return stat (path, &st) == 0;
}

static void append_bytes (const char *path, const void *p, size_t n)
{
    int fd = open (path, O_WRONLY | O_APPEND);
    assert_true (fd >= 0);
    assert_int_equal (write (fd, p, n), (ssize_t)n);
    close (fd);
}

static void pwrite_bytes (const char *path, off_t off, const void *p, size_t n)
{
    int fd = open (path, O_WRONLY);
    assert_true (fd >= 0);
    assert_int_equal (pwrite (fd, p, n, off), (ssize_t)n);
    close (fd);
}

static char *read_file (const char *path, size_t *n)
{
    size_t cap = (size_t)file_size (path);
    char *buf = malloc (cap + 1);
    int fd = open (path, O_RDONLY);
    assert_true (fd >= 0);
    assert_int_equal (read (fd, buf, cap), (ssize_t)cap);
    close (fd);
    *n = cap;
    return buf;
}

static void write_file (const char *path, const void *p, size_t n)
{
    int fd = open (path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
    assert_true (fd >= 0);
    assert_int_equal (write (fd, p, n), (ssize_t)n);
    close (fd);
}

/* -------------------------------------------------------------- tests */

/* What test_roundtrip stored, seen through a fresh open. */
static void check_state (const fixture_t *f, bool ro, size_t njobs)
{
    io_manifest_t *m = ro ? open_ro_ok (f->dir) : open_ok (f->dir);
    io_hash_t ph = hash_of ("pipeline", 1);
    assert_int_equal (io_manifest_ndatums (m), 1000);
    for (int i = 0; i < 1000; i++)
        check_rec (find_i (m, i), i, i == 5);
    /* Iteration by index visits every datum once. */
    bool seen[1000] = { false };
    for (size_t k = 0; k < io_manifest_ndatums (m); k++) {
        io_datum_rec_t view;
        const io_datum_rec_t *r = io_manifest_datum (m, k, &view);
        for (int i = 0; i < 1000; i++) {
            io_hash_t id = hash_of ("datum", i);
            if (io_hash_eq (&id, &r->id)) {
                assert_false (seen[i]);
                seen[i] = true;
            }
        }
    }
    for (int i = 0; i < 1000; i++)
        assert_true (seen[i]);
    io_datum_rec_t view;
    assert_null (io_manifest_datum (m, 1000, &view));
    assert_null (find_i (m, 5000));
    assert_int_equal (io_manifest_njobs (m), njobs);
    jobs_record_t j1 = job_make (1, JOBS_STATE_SUCCESS);
    check_job (io_manifest_job (m, 0), &j1);
    if (njobs > 1) {
        jobs_record_t j2 = job_make (2, JOBS_STATE_FAILURE);
        check_job (io_manifest_job (m, 1), &j2);
    }
    assert_null (io_manifest_job (m, njobs));
    io_hash_t got = io_manifest_pipeline_hash (m);
    assert_true (io_hash_eq (&got, &ph));
    io_statcache_t *sc = io_manifest_statcache (m);
    assert_int_equal (io_statcache_size (sc), 10);
    for (int i = 0; i < 10; i++) {
        char path[64];
        snprintf (path, sizeof (path), "/data/words/file-%d.txt", i);
        const io_stat_entry_t *e = io_statcache_get (sc, path);
        io_hash_t ch = hash_of ("content", i);
        assert_non_null (e);
        assert_int_equal (e->size, i);
        assert_int_equal (e->mtime_ns, 7 * i);
        assert_int_equal (e->ino, 100 + i);
        assert_int_equal (e->dev, 42);
        assert_true (io_hash_eq (&e->hash, &ch));
    }
    io_manifest_close (m);
}

static void test_roundtrip (void **state)
{
    fixture_t *f = *state;
    io_hash_t ph = hash_of ("pipeline", 1);
    jobs_record_t j1 = job_make (1, JOBS_STATE_RUNNING);
    dr_error_t err = { "" };

    /* The state folder does not exist yet: open makes it and the file. */
    io_manifest_t *m = open_ok (f->dir);
    assert_true (exists (f->path));
    assert_int_equal (io_manifest_ndatums (m), 0);
    io_hash_t got = io_manifest_pipeline_hash (m);
    assert_true (io_hash_is_zero (&got));
    assert_int_equal (io_manifest_job_begin (m, &j1, &err), 0);
    for (int i = 0; i < 1000; i++)
        put_i (m, i, 0);
    io_statcache_t *sc = io_manifest_statcache (m);
    for (int i = 0; i < 10; i++) {
        char path[64];
        io_stat_entry_t e = { .size = (uint64_t)i, .mtime_ns = 7 * i,
                              .ino = 100u + (uint64_t)i, .dev = 42,
                              .hash = hash_of ("content", i) };
        snprintf (path, sizeof (path), "/data/words/file-%d.txt", i);
        assert_int_equal (io_statcache_put (sc, path, &e), 0);
    }
    checkpoint_ok (m, &ph);
    assert_int_equal (file_size (f->journal), 0);
    got = io_manifest_pipeline_hash (m);
    assert_true (io_hash_eq (&got, &ph));

    /* After the checkpoint: a replacement and the job's end, journal only. */
    put_i (m, 5, 1);
    jobs_record_t j1e = job_make (1, JOBS_STATE_SUCCESS);
    assert_int_equal (io_manifest_job_end (m, &j1e, &err), 0);
    assert_int_equal (io_manifest_sync (m, &err), 0);
    assert_string_equal (io_manifest_path (m), f->path);
    seed_file ("journal", "roundtrip", 0, f->journal);
    io_manifest_close (m);

    check_state (f, false, 1);

    /* A second job after the first, folded by a checkpoint that keeps the
     * pipeline hash (NULL). */
    m = open_ok (f->dir);
    jobs_record_t j2 = job_make (2, JOBS_STATE_RUNNING);
    assert_int_equal (io_manifest_job_begin (m, &j2, &err), 0);
    assert_int_equal (io_manifest_njobs (m), 2);
    assert_int_equal (io_manifest_job (m, 1)->state, JOBS_STATE_RUNNING);
    j2 = job_make (2, JOBS_STATE_FAILURE);
    assert_int_equal (io_manifest_job_end (m, &j2, &err), 0);
    /* Only stat entries this run looked up are kept: look them all up, as
     * planning over an unchanged input does. */
    sc = io_manifest_statcache (m);
    for (int i = 0; i < 10; i++) {
        char path[64];
        snprintf (path, sizeof (path), "/data/words/file-%d.txt", i);
        assert_non_null (io_statcache_get (sc, path));
    }
    checkpoint_ok (m, NULL);
    io_manifest_close (m);
    assert_int_equal (file_size (f->journal), 0);
    check_state (f, false, 2);
    check_state (f, true, 2);
}

/* A writer that dies without close or checkpoint loses nothing put. */
static void test_journal_replay_fork (void **state)
{
    fixture_t *f = *state;
    io_manifest_t *m = open_ok (f->dir);
    put_i (m, 0, 0);
    checkpoint_ok (m, NULL);
    io_manifest_close (m);

    pid_t pid = fork ();
    assert_true (pid >= 0);
    if (pid == 0) {
        dr_error_t err;
        io_manifest_t *cm = io_manifest_open (f->dir, &err);
        if (!cm)
            _exit (2);
        for (int i = 1; i <= 500; i++) {
            trec_t t;
            trec_make (&t, i, 0);
            if (io_manifest_put (cm, &t.r, &err) < 0)
                _exit (3);
        }
        io_hash_t gone = hash_of ("datum", 0);
        if (io_manifest_forget (cm, &gone, &err) < 0)
            _exit (4);
        jobs_record_t j = job_make (1, JOBS_STATE_RUNNING);
        if (io_manifest_job_begin (cm, &j, &err) < 0)
            _exit (5);
        _exit (0);   /* no close, no checkpoint */
    }
    int status;
    assert_int_equal (waitpid (pid, &status, 0), pid);
    assert_true (WIFEXITED (status) && WEXITSTATUS (status) == 0);
    assert_true (file_size (f->journal) > 0);

    /* The read-only view replays in memory and writes nothing. */
    off_t jsize = file_size (f->journal);
    m = open_ro_ok (f->dir);
    assert_int_equal (io_manifest_ndatums (m), 500);
    assert_null (find_i (m, 0));
    for (int i = 1; i <= 500; i++)
        check_rec (find_i (m, i), i, 0);
    assert_int_equal (io_manifest_njobs (m), 1);
    dr_error_t err = { "" };
    assert_int_equal (io_manifest_put (m, &(trec_t){ 0 }.r, &err), -1);
    assert_int_equal (errno, EROFS);
    assert_int_equal (io_manifest_checkpoint (m, NULL, &err), -1);
    io_manifest_close (m);
    assert_int_equal (file_size (f->journal), jsize);

    m = open_ok (f->dir);
    assert_int_equal (io_manifest_ndatums (m), 500);
    for (int i = 1; i <= 500; i++)
        check_rec (find_i (m, i), i, 0);
    assert_int_equal (io_manifest_njobs (m), 1);
    io_manifest_close (m);
}

/* A record cut short by a kill is ignored, and the next append starts at
 * the last good record. */
static void test_torn_tail (void **state)
{
    fixture_t *f = *state;
    io_manifest_t *m = open_ok (f->dir);
    for (int i = 0; i < 10; i++)
        put_i (m, i, 0);
    off_t good = file_size (f->journal);
    put_i (m, 10, 0);
    off_t full = file_size (f->journal);
    io_manifest_close (m);
    assert_int_equal (truncate (f->journal, good + (full - good) / 2), 0);

    m = open_ro_ok (f->dir);
    assert_int_equal (io_manifest_ndatums (m), 10);
    io_manifest_close (m);

    m = open_ok (f->dir);
    assert_int_equal (io_manifest_ndatums (m), 10);
    assert_null (find_i (m, 10));
    assert_int_equal (file_size (f->journal), good);
    put_i (m, 11, 0);
    io_manifest_close (m);

    /* Garbage after the records, as an interrupted write could leave. */
    static const char junk[] = "DRJ1\x02\0\0\0\xff\xff\0\0 half a record";
    append_bytes (f->journal, junk, sizeof (junk));
    append_bytes (f->journal, "\x13\x37", 2);

    m = open_ok (f->dir);
    assert_int_equal (io_manifest_ndatums (m), 11);
    for (int i = 0; i < 10; i++)
        check_rec (find_i (m, i), i, 0);
    check_rec (find_i (m, 11), 11, 0);
    io_manifest_close (m);
}

/* Damage with good records after it is not a crash: an error. */
static void test_corrupt_journal (void **state)
{
    fixture_t *f = *state;
    io_manifest_t *m = open_ok (f->dir);
    put_i (m, 0, 0);
    off_t first = file_size (f->journal);
    put_i (m, 1, 0);
    put_i (m, 2, 0);
    io_manifest_close (m);
    pwrite_bytes (f->journal, first + 40, "XXXX", 4);

    dr_error_t err = { "" };
    assert_null (io_manifest_open (f->dir, &err));
    assert_non_null (strstr (err.text, f->journal));
    assert_non_null (strstr (err.text, "corrupt record"));
    assert_non_null (strstr (err.text, "mv "));
    memset (&err, 0, sizeof (err));
    assert_null (io_manifest_open_ro (f->dir, &err));
    assert_non_null (strstr (err.text, f->journal));
    /* The failed open released the lock. */
    assert_int_equal (unlink (f->journal), 0);
    m = open_ok (f->dir);
    io_manifest_close (m);
}

static void expect_corrupt (const fixture_t *f, const char *what)
{
    dr_error_t err = { "" };
    io_manifest_t *m = io_manifest_open (f->dir, &err);
    if (m)
        fail_msg ("%s: opened a damaged manifest", what);
    assert_non_null (strstr (err.text, f->path));
    assert_non_null (strstr (err.text, "truncated or corrupt"));
    assert_non_null (strstr (err.text, "mv "));
    assert_non_null (strstr (err.text, ".bad"));
    memset (&err, 0, sizeof (err));
    assert_null (io_manifest_open_ro (f->dir, &err));
    assert_non_null (strstr (err.text, "truncated or corrupt"));
    assert_true (exists (f->path));   /* never discarded */
}

static void test_corrupt_manifest (void **state)
{
    fixture_t *f = *state;
    io_manifest_t *m = open_ok (f->dir);
    jobs_record_t j = job_make (1, JOBS_STATE_SUCCESS);
    dr_error_t err = { "" };
    assert_int_equal (io_manifest_job_begin (m, &j, &err), 0);
    for (int i = 0; i < 2000; i++)
        put_i (m, i, 0);
    checkpoint_ok (m, NULL);
    io_manifest_close (m);
    size_t n;
    char *good = read_file (f->path, &n);
    char bad[512];
    memset (bad, 0xa5, sizeof (bad));

    assert_int_equal (truncate (f->path, (off_t)n / 2), 0);
    expect_corrupt (f, "truncated to half");

    assert_int_equal (truncate (f->path, 0), 0);
    expect_corrupt (f, "empty");

    write_file (f->path, bad, sizeof (bad));
    expect_corrupt (f, "all garbage");

    /* Garbage over the superblock and object headers, the rows, the
     * strings and the jobs (the last raw data): each must be noticed,
     * by HDF5's metadata checksums or by ours.  (HDF5 leaves unused slack
     * at the end of its 2 KiB metadata blocks; garbage there changes no
     * data, and goes unnoticed.) */
    size_t offs[] = { 0, 600, n / 4, n / 2, 3 * n / 4, n - 100 };
    for (size_t k = 0; k < sizeof (offs) / sizeof (offs[0]); k++) {
        write_file (f->path, good, n);
        pwrite_bytes (f->path, (off_t)offs[k], bad, 64);
        char what[64];
        snprintf (what, sizeof (what), "garbage at %zu of %zu", offs[k], n);
        expect_corrupt (f, what);
    }

    /* Moved aside as the message says, the next open starts afresh. */
    write_file (f->path, good, n);
    m = open_ok (f->dir);
    assert_int_equal (io_manifest_ndatums (m), 2000);
    io_manifest_close (m);
    free (good);
}

static void test_forget_invalidate (void **state)
{
    fixture_t *f = *state;
    dr_error_t err = { "" };
    io_manifest_t *m = open_ok (f->dir);
    for (int i = 0; i < 100; i++)
        put_i (m, i, 0);
    for (int phase = 0; phase < 2; phase++) {
        /* 0: through the journal only; 1: after a checkpoint. */
        io_hash_t id5 = hash_of ("datum", 5), id8 = hash_of ("datum", 8);
        io_hash_t id0 = hash_of ("datum", 0);
        io_hash_t unknown = hash_of ("datum", 100000);
        int a = phase ? 11 : 5, b = phase ? 14 : 8, c = phase ? 20 : 0;
        id5 = hash_of ("datum", a);
        id8 = hash_of ("datum", b);
        id0 = hash_of ("datum", c);
        assert_int_equal (io_manifest_invalidate (m, &id5, &err), 0);
        assert_int_equal (io_manifest_forget (m, &id8, &err), 0);
        assert_int_equal (io_manifest_forget (m, &id0, &err), 0);
        assert_int_equal (io_manifest_invalidate (m, &unknown, &err), 0);
        assert_int_equal (io_manifest_forget (m, &unknown, &err), 0);
        if (phase)
            checkpoint_ok (m, NULL);
        io_manifest_close (m);
        m = open_ok (f->dir);
    }
    assert_int_equal (io_manifest_ndatums (m), 96);
    int gone[] = { 8, 0, 14, 20 };
    for (size_t k = 0; k < 4; k++)
        assert_null (find_i (m, gone[k]));
    int invalid[] = { 5, 11 };
    for (size_t k = 0; k < 2; k++) {
        int i = invalid[k];
        const io_datum_rec_t *r = find_i (m, i);
        trec_t t;
        trec_make (&t, i, 0);
        assert_non_null (r);
        assert_int_equal (r->state, JOBS_DATUM_PENDING);
        assert_true (io_hash_is_zero (&r->hash));
        assert_memory_equal (r->inputs, t.r.inputs,
                             io_inputs_len (t.r.inputs) + 1);
        assert_int_equal (r->noutputs, t.r.noutputs);
        for (size_t o = 0; o < t.r.noutputs; o++)
            assert_string_equal (r->outputs[o], t.r.outputs[o]);
    }
    for (int i = 0; i < 100; i++) {
        if (i != 5 && i != 11 && i != 8 && i != 0 && i != 14 && i != 20)
            check_rec (find_i (m, i), i, 0);
    }
    /* A put after invalidate replaces the record. */
    put_i (m, 5, 2);
    check_rec (find_i (m, 5), 5, 2);
    /* Forget everything, in index order (the last moves forward). */
    while (io_manifest_ndatums (m) > 0) {
        io_datum_rec_t view;
        io_hash_t id = io_manifest_datum (m, 0, &view)->id;
        assert_int_equal (io_manifest_forget (m, &id, &err), 0);
        assert_null (io_manifest_find (m, &id, &view));
    }
    io_manifest_close (m);
    m = open_ok (f->dir);
    assert_int_equal (io_manifest_ndatums (m), 0);
    io_manifest_close (m);
}

/* The id table's probes wrap from its last slot to its first: datums
 * whose home is the last slot of a fresh table (2,048 slots; the home is
 * io/manifest.c's id_home: the low 32 bits of the id's XXH3 scaled to the
 * table's size) all land, are found, and one of them forgotten leaves
 * the others found (the deletion's shift crosses the end too). */
static void test_id_table_wraps (void **state)
{
    fixture_t *f = *state;
    dr_error_t err = { "" };
    int at_end[3], n = 0;
    for (int i = 0; n < 3 && i < 10000000; i++) {
        io_hash_t id = hash_of ("datum", i);
        uint64_t h = XXH3_64bits (id.b, sizeof (id.b));
        if ((((uint64_t)(uint32_t)h * 2048) >> 32) == 2047)
            at_end[n++] = i;
    }
    assert_int_equal (n, 3);
    io_manifest_t *m = open_ok (f->dir);
    for (int k = 0; k < 3; k++)
        put_i (m, at_end[k], 0);
    for (int k = 0; k < 3; k++)
        check_rec (find_i (m, at_end[k]), at_end[k], 0);
    io_hash_t id = hash_of ("datum", at_end[0]);
    assert_int_equal (io_manifest_forget (m, &id, &err), 0);
    assert_null (find_i (m, at_end[0]));
    check_rec (find_i (m, at_end[1]), at_end[1], 0);
    check_rec (find_i (m, at_end[2]), at_end[2], 0);
    io_manifest_close (m);
}

/* The id table full of records, at every size it passes through: each
 * entry keeps tag bits of its id's hash above the record index, and the
 * index uses the top bits it has once the table is nearly full (growth
 * by doubling from 2,048, then a reopen sizes it exactly).  Every record
 * is found, a forgotten one is not, and the others stay found when the
 * last record moves into a forgotten one's place. */
static void test_id_table_full (void **state)
{
    fixture_t *f = *state;
    io_hash_t ph = hash_of ("pipeline", 1);
    dr_error_t err = { "" };
    const int n = 20000;
    io_manifest_t *m = open_ok (f->dir);
    for (int i = 0; i < n; i++) {
        put_i (m, i, 0);
        if (i % 997 == 0)
            for (int k = 0; k <= i; k += 101)
                check_rec (find_i (m, k), k, 0);
    }
    for (int i = 0; i < n; i += 3) {
        io_hash_t id = hash_of ("datum", i);
        assert_int_equal (io_manifest_forget (m, &id, &err), 0);
    }
    for (int i = 0; i < n; i++) {
        if (i % 3 == 0)
            assert_null (find_i (m, i));
        else
            check_rec (find_i (m, i), i, 0);
    }
    checkpoint_ok (m, &ph);
    io_manifest_close (m);
    m = open_ok (f->dir);
    assert_int_equal (io_manifest_ndatums (m), (size_t)(n - (n + 2) / 3));
    for (int i = 0; i < n; i++) {
        if (i % 3 == 0)
            assert_null (find_i (m, i));
        else
            check_rec (find_i (m, i), i, 0);
    }
    /* and grows again from the exact size */
    for (int i = n; i < n + 5000; i++)
        put_i (m, i, 1);
    for (int i = 1; i < n + 5000; i += 7)
        if (i % 3 || i >= n)
            check_rec (find_i (m, i), i, i >= n);
    io_manifest_close (m);
}

/* The stat cache's probes wrap too: paths whose home is the last slot of
 * a new cache's 1,024 (statcache.c's home: the low 32 bits of the path's
 * XXH3 scaled to the size) are all put and found, each with its own
 * entry, also when looked up out of the order they were put in. */
static void test_statcache_wraps (void **state)
{
    (void)state;
    char paths[3][32];
    int n = 0;
    for (int i = 0; n < 3 && i < 10000000; i++) {
        char p[32];
        snprintf (p, sizeof (p), "/repo/f%d", i);
        uint64_t h = XXH3_64bits (p, strlen (p));
        if ((((uint64_t)(uint32_t)h * 1024) >> 32) == 1023)
            snprintf (paths[n++], sizeof (paths[0]), "%s", p);
    }
    assert_int_equal (n, 3);
    io_statcache_t *sc = io_statcache_create ();
    assert_non_null (sc);
    for (int k = 0; k < 3; k++) {
        io_stat_entry_t e = { .size = (uint64_t)k + 1, .ino = (uint64_t)k };
        assert_int_equal (io_statcache_put (sc, paths[k], &e), 0);
    }
    static const int order[] = { 2, 0, 1, 1, 2 };
    for (size_t k = 0; k < sizeof (order) / sizeof (order[0]); k++) {
        const io_stat_entry_t *e = io_statcache_get (sc, paths[order[k]]);
        assert_non_null (e);
        assert_int_equal (e->size, (uint64_t)order[k] + 1);
    }
    assert_null (io_statcache_get (sc, "/repo/none"));
    io_statcache_destroy (sc);
}

static void test_lock (void **state)
{
    fixture_t *f = *state;
    dr_error_t err = { "" };
    io_manifest_t *m = open_ok (f->dir);
    put_i (m, 1, 0);
    assert_null (io_manifest_open (f->dir, &err));
    assert_int_equal (errno, EBUSY);
    char want[512];
    snprintf (want, sizeof (want), "pipeline state folder %s is in use by "
              "another datumrun (pid %ld?)", f->dir, (long)getpid ());
    assert_string_equal (err.text, want);
    /* Readers need no lock, and see the writer's journal. */
    io_manifest_t *r = open_ro_ok (f->dir);
    assert_non_null (find_i (r, 1));
    io_manifest_close (r);
    io_manifest_close (m);
    m = open_ok (f->dir);
    io_manifest_close (m);
}

/* The child puts and checkpoints until killed, reporting each datum whose
 * put returned; after every kill all of them must be in the manifest. */
static void test_kill9_stress (void **state)
{
    fixture_t *f = *state;
    unsigned seed = (unsigned)time (NULL) ^ (unsigned)getpid ();
    int in_checkpoint = 0;
    srand (seed);
    char tmp[400];
    snprintf (tmp, sizeof (tmp), "%s.tmp", f->path);
    int next = 0;
    int *done = NULL;
    size_t ndone = 0, cap = 0;
    for (int iter = 0; iter < 30; iter++) {
        int p[2];
        assert_int_equal (pipe (p), 0);
        int base = next;
        pid_t pid = fork ();
        assert_true (pid >= 0);
        if (pid == 0) {
            close (p[0]);
            dr_error_t err;
            io_manifest_t *m = io_manifest_open (f->dir, &err);
            if (!m)
                _exit (2);
            for (int i = base; i < base + 1000000; i++) {
                trec_t t;
                trec_make (&t, i, 0);
                if (io_manifest_put (m, &t.r, &err) < 0)
                    _exit (3);
                if (write (p[1], &i, sizeof (i)) != sizeof (i))
                    _exit (4);
                if (i % 97 == 0 && io_manifest_checkpoint (m, NULL, &err) < 0)
                    _exit (5);
            }
            _exit (6);
        }
        close (p[1]);
        struct timespec ts = { 0, (rand () % 51) * 1000000L };
        nanosleep (&ts, NULL);
        kill (pid, SIGKILL);
        int status;
        /* Drain the pipe while waiting, so the child never blocks. */
        int i;
        ssize_t r;
        while ((r = read (p[0], &i, sizeof (i))) == sizeof (i)) {
            if (ndone == cap) {
                cap = cap ? 2 * cap : 65536;
                done = realloc (done, cap * sizeof (*done));
                assert_non_null (done);
            }
            done[ndone++] = i;
            next = i + 1;
        }
        close (p[0]);
        assert_int_equal (waitpid (pid, &status, 0), pid);
        if (!WIFSIGNALED (status))
            fail_msg ("child exited with %d", WEXITSTATUS (status));

        in_checkpoint += exists (tmp);
        io_manifest_t *m = open_ok (f->dir);
        assert_false (exists (tmp));   /* open removed a cut checkpoint */
        for (size_t k = 0; k < ndone; k++)
            check_rec (find_i (m, done[k]), done[k], 0);
        /* At most the one in flight beyond what was reported. */
        assert_true (io_manifest_ndatums (m) <= ndone + (size_t)iter + 1);
        io_manifest_close (m);
        next += 1;   /* the put in flight may have landed */
    }
    print_message ("kill -9 stress (seed %u): %zu datums reported done, "
                   "30 kills, %d of them during a checkpoint\n", seed, ndone,
                   in_checkpoint);
    free (done);
}

/* A checkpoint that crashes between its rename and emptying the journal
 * leaves records that are already in the file: replaying them again must
 * change nothing. */
static void test_replay_idempotent (void **state)
{
    fixture_t *f = *state;
    dr_error_t err = { "" };
    io_manifest_t *m = open_ok (f->dir);
    jobs_record_t j = job_make (1, JOBS_STATE_RUNNING);
    assert_int_equal (io_manifest_job_begin (m, &j, &err), 0);
    for (int i = 0; i < 50; i++)
        put_i (m, i, 0);
    io_hash_t id3 = hash_of ("datum", 3), id4 = hash_of ("datum", 4);
    assert_int_equal (io_manifest_invalidate (m, &id3, &err), 0);
    assert_int_equal (io_manifest_forget (m, &id4, &err), 0);
    put_i (m, 7, 1);
    j = job_make (1, JOBS_STATE_SUCCESS);
    assert_int_equal (io_manifest_job_end (m, &j, &err), 0);
    size_t n;
    char *journal = read_file (f->journal, &n);
    checkpoint_ok (m, NULL);
    io_manifest_close (m);
    write_file (f->journal, journal, n);
    free (journal);

    m = open_ok (f->dir);
    assert_int_equal (io_manifest_ndatums (m), 49);
    assert_int_equal (io_manifest_njobs (m), 1);
    check_job (io_manifest_job (m, 0), &j);
    assert_null (find_i (m, 4));
    assert_int_equal (find_i (m, 3)->state, JOBS_DATUM_PENDING);
    check_rec (find_i (m, 7), 7, 1);
    check_rec (find_i (m, 8), 8, 0);
    io_manifest_close (m);
}

/* A journal written before format 2: its puts end without the pipeline
 * hash.  Replaying one gives the datum its job's pipeline hash (the hash
 * its datum hash was made with), or none when the job is unknown. */
static void test_old_journal (void **state)
{
    fixture_t *f = *state;
    dr_error_t err = { "" };
    io_manifest_t *m = open_ok (f->dir);
    jobs_record_t j = job_make (1, JOBS_STATE_RUNNING);
    trec_t t;
    assert_int_equal (io_manifest_job_begin (m, &j, &err), 0);
    trec_make (&t, 1, 0);
    t.r.proc_job = hash_of ("job", 1);          /* j's id */
    assert_int_equal (io_manifest_put (m, &t.r, &err), 0);
    trec_make (&t, 2, 0);
    t.r.proc_job = hash_of ("job", 99);         /* no such job */
    assert_int_equal (io_manifest_put (m, &t.r, &err), 0);
    io_manifest_close (m);

    /* Rewrite each put as that datumrun wrote it: inputs as lines, and
     * neither the pipeline hash nor the inputs' form byte at the end. */
    size_t n, o = 0, dropped = 0;
    uint8_t *in = (uint8_t *)read_file (f->journal, &n);
    uint8_t *out = malloc (n);
    assert_non_null (out);
    for (size_t at = 0; at < n;) {
        const uint8_t *h = in + at, *pl = h + 12;
        uint32_t len = (uint32_t)h[8] | (uint32_t)h[9] << 8
                       | (uint32_t)h[10] << 16 | (uint32_t)h[11] << 24;
        uint32_t olen = len;
        uint8_t *w = out + o;
        uint32_t nl = len;
        uint8_t narrow[4096];
        memcpy (w, h, 12 + len);
        if (h[4] == 12) {
            /* Type 12 is type 7 with a 4-byte attempt count: narrow it. */
            assert_true (len <= sizeof (narrow));
            memcpy (narrow, pl, 65);
            narrow[65] = pl[65];
            memcpy (narrow + 66, pl + 69, len - 69);
            pl = narrow;
            len -= 3;
            nl = len;
            memcpy (w + 12, narrow, len);
        }
        if (h[4] == 7 || h[4] == 12) {
            w[4] = 2;   /* a plain put: no output sizes and mtimes */
            /* ids, state, attempts, rank, host, 4 x 8 bytes, 2 x 4 */
            size_t ioff = 64 + 1 + 1 + 4 + 1 + pl[70] + 32 + 8;
            uint32_t il = (uint32_t)pl[ioff] | (uint32_t)pl[ioff + 1] << 8
                          | (uint32_t)pl[ioff + 2] << 16
                          | (uint32_t)pl[ioff + 3] << 24;
            uint8_t *wi = w + 12 + ioff;
            /* "a\0b\0" -> "a\nb" */
            uint32_t ol = il ? il - 1 : 0;
            for (uint32_t k = 0; k < ol; k++)
                wi[4 + k] = pl[ioff + 4 + k] ? pl[ioff + 4 + k] : '\n';
            for (int b = 0; b < 4; b++)
                wi[b] = (uint8_t)(ol >> (8 * b));
            const uint8_t *np = pl + ioff + 4 + il;
            uint32_t nout = (uint32_t)np[0] | (uint32_t)np[1] << 8
                            | (uint32_t)np[2] << 16 | (uint32_t)np[3] << 24;
            /* nout, olen, outs; then pipeline, form and stats go */
            size_t rest = len - 17 - 16 * (size_t)nout - (ioff + 4 + il);
            memcpy (wi + 4 + ol, pl + ioff + 4 + il, rest);
            nl = (uint32_t)(ioff + 4 + ol + rest);
        }
        dropped += olen - nl;
        for (int b = 0; b < 4; b++)
            w[8 + b] = (uint8_t)(nl >> (8 * b));
        uint64_t sum = XXH3_64bits (w, 12 + nl);
        for (int b = 0; b < 8; b++)
            w[12 + nl + b] = (uint8_t)(sum >> (8 * b));
        o += 12 + nl + 8;
        at += 12 + olen + 8;
    }
    /* each put lost 17 bytes, its output stats and one byte per newline */
    assert_true (dropped >= 2 * 18);
    assert_int_equal (o, n - dropped);
    write_file (f->journal, out, o);
    free (in);
    free (out);

    m = open_ok (f->dir);
    io_hash_t ph;
    memcpy (ph.b, j.pipeline_hash, 16);
    const io_datum_rec_t *r = find_i (m, 1);
    assert_non_null (r);
    assert_true (io_hash_eq (&r->pipeline, &ph));
    /* the lines became the list they stand for */
    assert_string_equal (r->inputs, "words:/data/words/file-000001.txt");
    assert_string_equal (r->inputs + strlen (r->inputs) + 1,
                         "images:/data/img/1.png");
    r = find_i (m, 2);
    assert_non_null (r);
    assert_true (io_hash_is_zero (&r->pipeline));
    io_manifest_close (m);
}

static void test_open_cases (void **state)
{
    fixture_t *f = *state;
    dr_error_t err = { "" };

    /* Read-only on a folder that does not exist: empty, nothing made. */
    io_manifest_t *m = open_ro_ok (f->dir);
    assert_int_equal (io_manifest_ndatums (m), 0);
    assert_int_equal (io_manifest_njobs (m), 0);
    io_manifest_close (m);
    assert_false (exists (f->dir));

    /* A leftover tmp from a checkpoint a kill interrupted goes away. */
    m = open_ok (f->dir);
    io_manifest_close (m);
    char tmp[400];
    snprintf (tmp, sizeof (tmp), "%s.tmp", f->path);
    write_file (tmp, "partial", 7);
    m = open_ok (f->dir);
    assert_false (exists (tmp));
    io_manifest_close (m);

    /* A state folder that is a file. */
    char file[300];
    snprintf (file, sizeof (file), "%s/plain", f->root);
    write_file (file, "x", 1);
    assert_null (io_manifest_open (file, &err));
    assert_non_null (strstr (err.text, file));

    /* A manifest from a newer datumrun is refused with a clear reason. */
    hid_t h5 = H5Fopen (f->path, H5F_ACC_RDWR, H5P_DEFAULT);
    assert_true (h5 >= 0);
    hid_t a = H5Aopen (h5, "datumrun_manifest_version", H5P_DEFAULT);
    int32_t v = 3;
    assert_true (a >= 0);
    assert_true (H5Awrite (a, H5T_NATIVE_INT32, &v) >= 0);
    H5Aclose (a);
    H5Fclose (h5);
    assert_null (io_manifest_open (f->dir, &err));
    assert_non_null (strstr (err.text, f->path));
    assert_non_null (strstr (err.text, "version 3"));
    assert_non_null (strstr (err.text, "newer datumrun"));
}

/* ----------------------------------------------------------- attempts */

static io_attempt_t attempt_make (int datum, int job, uint32_t n, int outcome)
{
    io_attempt_t a;
    memset (&a, 0, sizeof (a));
    a.datum = hash_of ("datum", datum);
    a.job = hash_of ("job", job);
    a.attempt = n;
    a.rank = 1 + datum % 3;
    snprintf (a.host, sizeof (a.host), "node%d", datum % 2);
    a.start_ns = 1700000000000000000LL + datum * 1000 + (int64_t)n;
    a.duration_s = 0.25 * datum + n;
    a.exit_status = outcome == JOBS_ATTEMPT_SUCCESS ? 0 : 3;
    a.term_signal = outcome == JOBS_ATTEMPT_INTERRUPTED ? 15 : 0;
    a.outcome = (uint8_t)outcome;
    return a;
}

typedef struct att_list {
    io_attempt_t v[64];
    size_t n;
} att_list_t;

static int collect (const io_attempt_t *a, void *arg)
{
    att_list_t *l = arg;
    assert_true (l->n < 64);
    l->v[l->n++] = *a;
    return 0;
}

static void list_attempts (io_manifest_t *m, const io_hash_t *job,
                           const io_hash_t *datum, att_list_t *l)
{
    dr_error_t err = { "" };
    l->n = 0;
    if (io_manifest_attempts (m, job, datum, collect, l, &err) < 0)
        fail_msg ("io_manifest_attempts: %s", err.text);
}

static void check_attempt (const io_attempt_t *got, const io_attempt_t *want)
{
    assert_true (io_hash_eq (&got->datum, &want->datum));
    assert_true (io_hash_eq (&got->job, &want->job));
    assert_int_equal (got->attempt, want->attempt);
    assert_int_equal (got->rank, want->rank);
    assert_string_equal (got->host, want->host);
    assert_int_equal (got->start_ns, want->start_ns);
    assert_true (got->duration_s == want->duration_s);
    assert_int_equal (got->exit_status, want->exit_status);
    assert_int_equal (got->term_signal, want->term_signal);
    assert_int_equal (got->outcome, want->outcome);
}

/* Every attempt survives checkpoints (copied from the file being
 * replaced), the journal and reopening, in order; a replayed attempt
 * replaces its earlier copy; a version 1 file (no attempts) still opens
 * and is written back as version 2. */
static void test_attempts (void **state)
{
    fixture_t *f = *state;
    dr_error_t err = { "" };
    io_attempt_t want[8];
    want[0] = attempt_make (1, 1, 1, JOBS_ATTEMPT_FAILED);
    want[1] = attempt_make (1, 1, 2, JOBS_ATTEMPT_SUCCESS);
    want[2] = attempt_make (2, 1, 1, JOBS_ATTEMPT_INTERRUPTED);
    want[3] = attempt_make (2, 2, 1, JOBS_ATTEMPT_LOST);
    want[4] = attempt_make (2, 2, 2, JOBS_ATTEMPT_RECOVERED);
    want[5] = attempt_make (3, 2, 1, JOBS_ATTEMPT_SUCCESS);
    snprintf (want[5].host, sizeof (want[5].host), "a-new-host");

    io_manifest_t *m = open_ok (f->dir);
    for (int i = 0; i < 3; i++)
        assert_int_equal (io_manifest_attempt (m, &want[i], &err), 0);
    io_hash_t ph = hash_of ("pipeline", 1);
    checkpoint_ok (m, &ph);
    for (int i = 3; i < 5; i++)
        assert_int_equal (io_manifest_attempt (m, &want[i], &err), 0);
    checkpoint_ok (m, &ph);
    /* The journal holds one attempt again (as after a crash between the
     * rename and the journal's truncation) and a new one. */
    assert_int_equal (io_manifest_attempt (m, &want[3], &err), 0);
    assert_int_equal (io_manifest_attempt (m, &want[5], &err), 0);

    att_list_t l;
    list_attempts (m, NULL, NULL, &l);
    assert_int_equal (l.n, 6);
    /* Oldest checkpoint first; a replaced one moves to the journal's end. */
    int order[] = { 0, 1, 2, 4, 3, 5 };
    for (int i = 0; i < 6; i++)
        check_attempt (&l.v[i], &want[order[i]]);
    io_manifest_close (m);

    /* Reopened read-only and read-write (journal replayed): the same. */
    for (int ro = 1; ro >= 0; ro--) {
        m = ro ? open_ro_ok (f->dir) : open_ok (f->dir);
        list_attempts (m, NULL, NULL, &l);
        assert_int_equal (l.n, 6);
        for (int i = 0; i < 6; i++)
            check_attempt (&l.v[i], &want[order[i]]);
        io_hash_t j2 = hash_of ("job", 2), d2 = hash_of ("datum", 2);
        list_attempts (m, &j2, NULL, &l);
        assert_int_equal (l.n, 3);
        list_attempts (m, &j2, &d2, &l);
        assert_int_equal (l.n, 2);
        list_attempts (m, NULL, &d2, &l);
        assert_int_equal (l.n, 3);
        if (!ro) {
            checkpoint_ok (m, &ph);
            list_attempts (m, NULL, NULL, &l);
            assert_int_equal (l.n, 6);
            for (int i = 0; i < 6; i++)
                check_attempt (&l.v[i], &want[order[i]]);
        }
        io_manifest_close (m);
    }

    /* Make it a version 1 file: no attempts table. */
    hid_t h5 = H5Fopen (f->path, H5F_ACC_RDWR, H5P_DEFAULT);
    assert_true (h5 >= 0);
    hid_t a = H5Aopen (h5, "datumrun_manifest_version", H5P_DEFAULT);
    int32_t v = 1;
    assert_true (a >= 0);
    assert_true (H5Awrite (a, H5T_NATIVE_INT32, &v) >= 0);
    H5Aclose (a);
    assert_true (H5Ldelete (h5, "attempts", H5P_DEFAULT) >= 0);
    H5Fclose (h5);
    m = open_ok (f->dir);
    assert_int_equal (io_manifest_format_version (m), 1);
    list_attempts (m, NULL, NULL, &l);
    assert_int_equal (l.n, 0);
    assert_int_equal (io_manifest_attempt (m, &want[0], &err), 0);
    checkpoint_ok (m, &ph);
    assert_int_equal (io_manifest_format_version (m), 2);
    io_manifest_close (m);
    m = open_ro_ok (f->dir);
    list_attempts (m, NULL, NULL, &l);
    assert_int_equal (l.n, 1);
    check_attempt (&l.v[0], &want[0]);
    io_manifest_close (m);
}

/* The independent reader: h5py only. */
/* The source tree: $DATUMRUN_SRC, or where this file is. */
static const char *src_dir (void)
{
    static char src[512];
    const char *env = getenv ("DATUMRUN_SRC");
    if (env && *env)
        snprintf (src, sizeof (src), "%s", env);
    else {
        /* This file is SRC/tests/unit/test_manifest.c. */
        snprintf (src, sizeof (src), "%s", __FILE__);
        for (int k = 0; k < 3; k++) {
            char *slash = strrchr (src, '/');
            assert_non_null (slash);
            *slash = '\0';
        }
    }
    return src;
}

static void test_python_reader (void **state)
{
    fixture_t *f = *state;
    dr_error_t err = { "" };
    io_manifest_t *m = open_ok (f->dir);
    jobs_record_t j = job_make (1, JOBS_STATE_SUCCESS);
    assert_int_equal (io_manifest_job_begin (m, &j, &err), 0);
    assert_int_equal (io_manifest_job_end (m, &j, &err), 0);
    for (int i = 0; i < 50; i++)
        put_i (m, i, 0);
    io_hash_t id3 = hash_of ("datum", 3);
    assert_int_equal (io_manifest_invalidate (m, &id3, &err), 0);
    io_attempt_t at = attempt_make (7, 1, 2, JOBS_ATTEMPT_INTERRUPTED);
    assert_int_equal (io_manifest_attempt (m, &at, &err), 0);
    io_hash_t ph = hash_of ("pipeline", 1);
    checkpoint_ok (m, &ph);
    io_manifest_close (m);

    const char *src = src_dir ();
    const char *modes[] = { "--summary", "--datums", "--jobs",
                            "--attempts" };
    const char *want[][3] = {
        { "\"datums\": 50", "\"jobs\": 1", "\"attempts\": 1" },
        { "\"out/7/part-0.txt\"", "words:/data/words/file-000007.txt",
          "\"state\": \"pending\"" },
        { "\"state\": \"success\"", "\"pipeline\": \"wordcount\"",
          "\"processed\": 11" },
        { "\"outcome\": \"interrupted\"", "\"host\": \"node1\"",
          "\"term_signal\": 15" },
    };
    for (int k = 0; k < 4; k++) {
        char cmd[1200];
        snprintf (cmd, sizeof (cmd), "/usr/bin/python3 "
                  "%s/tests/integration/read_manifest.py %s %s", src, f->dir,
                  modes[k]);
        FILE *p = popen (cmd, "r");
        assert_non_null (p);
        size_t cap = 1 << 20, n = 0;
        char *out = malloc (cap);
        size_t r;
        while ((r = fread (out + n, 1, cap - 1 - n, p)) > 0)
            n += r;
        out[n] = '\0';
        int status = pclose (p);
        if (status != 0)
            fail_msg ("%s: exit status %d", cmd, status);
        for (int w = 0; w < 3; w++) {
            if (!strstr (out, want[k][w]))
                fail_msg ("%s: no %s in output", cmd, want[k][w]);
        }
        free (out);
    }
}

/* A checkpoint whose store fails (here: a folder sits where the tmp file
 * goes) returns -1 and leaves manifest.h5 and the journal as they were, so
 * a reopen still finds every record, and a later checkpoint keeps them. */
static void test_checkpoint_failure (void **state)
{
    fixture_t *f = *state;
    io_hash_t ph = hash_of ("pipeline", 1);
    dr_error_t err = { "" };
    char tmp[400], inner[420];
    io_manifest_t *m = open_ok (f->dir);
    for (int i = 0; i < 100; i++)
        put_i (m, i, 0);
    checkpoint_ok (m, &ph);
    for (int i = 100; i < 150; i++)
        put_i (m, i, 0);
    assert_int_equal (io_manifest_sync (m, &err), 0);
    off_t journal = file_size (f->journal);
    assert_true (journal > 0);

    snprintf (tmp, sizeof (tmp), "%s.tmp", f->path);
    snprintf (inner, sizeof (inner), "%s/keep", tmp);
    assert_int_equal (mkdir (tmp, 0755), 0);
    FILE *k = fopen (inner, "w");
    assert_non_null (k);
    fclose (k);
    err.text[0] = '\0';
    assert_int_equal (io_manifest_checkpoint (m, &ph, &err), -1);
    assert_true (err.text[0] != '\0');
    assert_true (exists (f->path));
    assert_int_equal (file_size (f->journal), journal);
    io_manifest_close (m);

    /* Nothing lost: the old file plus the journal hold all 150. */
    assert_int_equal (unlink (inner), 0);
    assert_int_equal (rmdir (tmp), 0);
    m = open_ok (f->dir);
    assert_int_equal (io_manifest_ndatums (m), 150);
    for (int i = 0; i < 150; i++)
        check_rec (find_i (m, i), i, false);
    checkpoint_ok (m, &ph);
    io_manifest_close (m);
    assert_int_equal (file_size (f->journal), 0);
    m = open_ro_ok (f->dir);
    assert_int_equal (io_manifest_ndatums (m), 150);
    for (int i = 0; i < 150; i++)
        check_rec (find_i (m, i), i, false);
    io_manifest_close (m);
}

/* Format 1's inputs lines become the inputs list of format 2; a name
 * with a newline stays one entry in the list (issue 13). */
static void test_inputs_list (void **state)
{
    (void)state;
    static const struct {
        const char *lines;
        size_t len;
        const char *list;
        size_t list_len;
    } cases[] = {
        { "", 0, "", 0 },
        { "in:/a", 5, "in:/a\0", 6 },
        { "in:/a\nw:/b", 10, "in:/a\0w:/b\0", 11 },
        { "in:/a\n\nw:/b\n", 12, "in:/a\0w:/b\0", 11 },
    };
    for (size_t i = 0; i < sizeof (cases) / sizeof (cases[0]); i++) {
        char *out;
        size_t n;
        assert_int_equal (io__inputs_from_lines (cases[i].lines, cases[i].len,
                                                 &out, &n), 0);
        assert_int_equal (n, cases[i].list_len);
        assert_memory_equal (out, cases[i].list, n + 1);
        assert_int_equal (io_inputs_len (out), n);
        free (out);
    }
    /* A record keeps a newline inside an entry. */
    io_datum_rec_t r;
    memset (&r, 0, sizeof (r));
    assert_int_equal (io__datum_set_strings (&r, "in:/two\nlines", 14, "", 0,
                                             0), 0);
    assert_int_equal (io_inputs_len (r.inputs), 14);
    assert_string_equal (r.inputs, "in:/two\nlines");
    io__datum_free_strings (&r);
    /* Malformed lists are refused: no final NUL, an empty entry. */
    assert_int_equal (io__datum_set_strings (&r, "in:/a", 5, "", 0, 0), -1);
    assert_int_equal (io__datum_set_strings (&r, "a\0\0b\0", 5, "", 0, 0),
                      -1);
}

/* Lineage side tables: entry hashes and job inputs survive the journal
 * (a writer that never checkpoints) and a checkpoint; a forgotten datum
 * loses them. */
/* Lost workers and attempt counts beyond 8 bits survive the journal, a
 * checkpoint and a reopen; a worker recorded again replaces its row. */
static void test_lost_workers (void **state)
{
    fixture_t *f = *state;
    dr_error_t err = { "" };
    io_manifest_t *m = open_ok (f->dir);
    io_lost_worker_t a = { .job = "00112233445566778899aabbccddeeff",
                           .rank = 2, .host = "node3",
                           .reason = "no heartbeat for 60s",
                           .time_ns = 1700000000000000001LL };
    io_lost_worker_t b = a;
    b.rank = 3;
    snprintf (b.reason, sizeof (b.reason), "its process died");
    assert_int_equal (io_manifest_lost_worker (m, &a, &err), 0);
    assert_int_equal (io_manifest_lost_worker (m, &b, &err), 0);
    snprintf (b.host, sizeof (b.host), "node1");
    assert_int_equal (io_manifest_lost_worker (m, &b, &err), 0);
    trec_t t;
    trec_make (&t, 1, 0);
    t.r.attempts = 1000;
    assert_int_equal (io_manifest_put (m, &t.r, &err), 0);
    assert_int_equal (io_manifest_nlost (m), 2);
    io_manifest_close (m);
    for (int round = 0; round < 2; round++) {
        /* round 0 replays the journal, round 1 reads the file */
        m = open_ok (f->dir);
        assert_int_equal (io_manifest_nlost (m), 2);
        const io_lost_worker_t *l = io_manifest_lost (m, 0);
        assert_string_equal (l->job, a.job);
        assert_int_equal (l->rank, 2);
        assert_string_equal (l->host, "node3");
        assert_string_equal (l->reason, "no heartbeat for 60s");
        assert_true (l->time_ns == a.time_ns);
        l = io_manifest_lost (m, 1);
        assert_int_equal (l->rank, 3);
        assert_string_equal (l->host, "node1");
        assert_string_equal (l->reason, "its process died");
        assert_null (io_manifest_lost (m, 2));
        const io_datum_rec_t *r = find_i (m, 1);
        assert_non_null (r);
        assert_int_equal (r->attempts, 1000);
        checkpoint_ok (m, NULL);
        io_manifest_close (m);
    }
    /* the independent reader sees them too */
    char cmd[1200];
    snprintf (cmd, sizeof (cmd), "/usr/bin/python3 "
              "%s/tests/integration/read_manifest.py %s --lost-workers",
              src_dir (), f->dir);
    FILE *p = popen (cmd, "r");
    assert_non_null (p);
    char out[8192];
    size_t n = fread (out, 1, sizeof (out) - 1, p);
    out[n] = '\0';
    assert_int_equal (pclose (p), 0);
    assert_non_null (strstr (out, "\"reason\": \"no heartbeat for 60s\""));
    assert_non_null (strstr (out, "\"host\": \"node1\""));
}

static void test_lineage (void **state)
{
    fixture_t *f = *state;
    dr_error_t err = { "" };
    io_manifest_t *m = open_ok (f->dir);
    io_hash_t h[3] = { hash_of ("e", 0), hash_of ("e", 1), hash_of ("e", 2) };
    char *names[] = { "words", "images" };
    char *repos[] = { "/data/words", "/data/img" };
    for (int i = 0; i < 10; i++)
        put_i (m, i, 0);
    io_hash_t id3 = hash_of ("datum", 3), id4 = hash_of ("datum", 4);
    assert_int_equal (io_manifest_put_entry_hashes (m, &id3, 2, h, &err), 0);
    assert_int_equal (io_manifest_put_entry_hashes (m, &id4, 3, h, &err), 0);
    /* replaced, not added */
    assert_int_equal (io_manifest_put_entry_hashes (m, &id4, 1, &h[2], &err),
                      0);
    assert_int_equal (io_manifest_put_job_inputs (m, "0123abcd", 2, names,
                                                  repos, &err), 0);
    assert_int_equal (io_manifest_sync (m, &err), 0);
    io_manifest_close (m);

    for (int round = 0; round < 2; round++) {
        m = open_ok (f->dir);
        uint32_t n;
        const io_hash_t *got = io_manifest_entry_hashes (m, &id3, &n);
        assert_non_null (got);
        assert_int_equal (n, 2);
        assert_true (io_hash_eq (&got[0], &h[0]));
        assert_true (io_hash_eq (&got[1], &h[1]));
        got = io_manifest_entry_hashes (m, &id4, &n);
        assert_non_null (got);
        assert_int_equal (n, 1);
        assert_true (io_hash_eq (&got[0], &h[2]));
        io_hash_t id5 = hash_of ("datum", 5);
        assert_null (io_manifest_entry_hashes (m, &id5, &n));
        assert_string_equal (io_manifest_job_repo (m, "0123abcd", "images"),
                             "/data/img");
        assert_null (io_manifest_job_repo (m, "0123abcd", "nope"));
        assert_null (io_manifest_job_repo (m, "ffff", "words"));
        /* round 0 replayed the journal; fold it into the file */
        checkpoint_ok (m, NULL);
        io_manifest_close (m);
        assert_int_equal (file_size (f->journal), 0);
    }
    m = open_ok (f->dir);
    assert_int_equal (io_manifest_forget (m, &id3, &err), 0);
    uint32_t n;
    assert_null (io_manifest_entry_hashes (m, &id3, &n));
    checkpoint_ok (m, NULL);
    io_manifest_close (m);
    m = open_ro_ok (f->dir);
    assert_null (io_manifest_entry_hashes (m, &id3, &n));
    assert_non_null (io_manifest_entry_hashes (m, &id4, &n));
    io_manifest_close (m);

    /* The file's hashes are merged in at a checkpoint no query preceded:
     * they stay, a put since the open wins, a forget is not undone. */
    io_hash_t id6 = hash_of ("datum", 6);
    m = open_ok (f->dir);
    assert_int_equal (io_manifest_put_entry_hashes (m, &id6, 1, &h[1], &err),
                      0);
    assert_int_equal (io_manifest_put_entry_hashes (m, &id4, 2, h, &err), 0);
    checkpoint_ok (m, NULL);
    io_manifest_close (m);
    m = open_ok (f->dir);
    assert_int_equal (io_manifest_forget (m, &id6, &err), 0);
    checkpoint_ok (m, NULL);
    io_manifest_close (m);
    m = open_ro_ok (f->dir);
    const io_hash_t *got = io_manifest_entry_hashes (m, &id4, &n);
    assert_non_null (got);
    assert_int_equal (n, 2);
    assert_true (io_hash_eq (&got[1], &h[1]));
    assert_null (io_manifest_entry_hashes (m, &id6, &n));
    assert_null (io_manifest_entry_hashes (m, &id3, &n));
    io_manifest_close (m);
}

int main (void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown (test_roundtrip, setup, teardown),
        cmocka_unit_test_setup_teardown (test_lineage, setup, teardown),
        cmocka_unit_test_setup_teardown (test_lost_workers, setup, teardown),
        cmocka_unit_test_setup_teardown (test_checkpoint_failure, setup,
                                         teardown),
        cmocka_unit_test_setup_teardown (test_journal_replay_fork, setup,
                                         teardown),
        cmocka_unit_test_setup_teardown (test_torn_tail, setup, teardown),
        cmocka_unit_test_setup_teardown (test_corrupt_journal, setup,
                                         teardown),
        cmocka_unit_test_setup_teardown (test_corrupt_manifest, setup,
                                         teardown),
        cmocka_unit_test_setup_teardown (test_id_table_wraps, setup, teardown),
        cmocka_unit_test_setup_teardown (test_id_table_full, setup, teardown),
        cmocka_unit_test (test_statcache_wraps),
        cmocka_unit_test_setup_teardown (test_forget_invalidate, setup,
                                         teardown),
        cmocka_unit_test_setup_teardown (test_lock, setup, teardown),
        cmocka_unit_test_setup_teardown (test_replay_idempotent, setup,
                                         teardown),
        cmocka_unit_test_setup_teardown (test_open_cases, setup, teardown),
        cmocka_unit_test_setup_teardown (test_old_journal, setup, teardown),
        cmocka_unit_test_setup_teardown (test_attempts, setup, teardown),
        cmocka_unit_test_setup_teardown (test_python_reader, setup,
                                         teardown),
        cmocka_unit_test_setup_teardown (test_kill9_stress, setup, teardown),
        cmocka_unit_test (test_inputs_list),
    };
    /* TEST_FILTER=test_lock runs one test (cmocka's glob pattern). */
    const char *filter = getenv ("TEST_FILTER");
    if (filter && *filter)
        cmocka_set_test_filter (filter);
    return cmocka_run_group_tests (tests, NULL, NULL);
}
