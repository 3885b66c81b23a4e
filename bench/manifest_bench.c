/* manifest_bench.c: how long the manifest takes at a million datums.
 *
 *     manifest_bench [N] [STATE_DIR]
 *
 * Puts N datum records (one ~40-character input path, one output path)
 * through the journal, checkpoints them to HDF5, reopens (reading the
 * HDF5 file), finds every datum by id, then replaces every record through
 * the journal and reopens once more without a checkpoint (the journal
 * replay a rerun after kill -9 pays).  Prints seconds for each step and
 * the file's bytes per datum.  Without STATE_DIR it works in a temporary
 * folder under $TMPDIR (or /tmp) and removes it.
 */
#define _GNU_SOURCE   /* nftw */
#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "io/io.h"

static double now (void)
{
    struct timespec ts;
    clock_gettime (CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

static long long size_of (const char *path)
{
    struct stat st;
    return stat (path, &st) == 0 ? (long long)st.st_size : -1;
}

static int rm_entry (const char *path, const struct stat *st, int flag,
                     struct FTW *ftw)
{
    return remove (path);
}

static void id_of (int i, io_hash_t *id)
{
    char buf[32];
    int n = snprintf (buf, sizeof (buf), "datum-%d", i);
    io_hash_bytes (buf, (size_t)n, id);
}

static void make (int i, int variant, io_datum_rec_t *r, char *inputs,
                  char *output, char **outputs)
{
    memset (r, 0, sizeof (*r));
    id_of (i, &r->id);
    char buf[32];
    int n = snprintf (buf, sizeof (buf), "hash-%d-%d", i, variant);
    io_hash_bytes (buf, (size_t)n, &r->hash);
    io_hash_bytes ("job", 3, &r->proc_job);
    r->seen_job = r->proc_job;
    r->state = JOBS_DATUM_SUCCESS;
    r->attempts = 1;
    r->rank = 1 + i % 64;
    static char hosts[16][16];
    snprintf (hosts[i % 16], sizeof (hosts[0]), "cn%04d", i % 16);
    r->host = hosts[i % 16];
    r->start_ns = 1700000000000000000LL + i;
    r->duration_s = 1.5;
    r->bytes_in = 4096;
    r->bytes_out = 128;
    int ni = snprintf (inputs, 95, "words:/scratch/proj/words/d%03d/f%07d.txt",
                       i % 1000, i);
    inputs[ni + 1] = '\0';   /* an inputs list: one more NUL */
    snprintf (output, 64, "wordcount/f%07d.txt", i);
    r->inputs = inputs;
    outputs[0] = output;
    r->outputs = outputs;
    r->noutputs = 1;
}

static int put_all (io_manifest_t *m, int n, int variant)
{
    dr_error_t err;
    char inputs[96], output[64], *outputs[1];
    io_datum_rec_t r;
    for (int i = 0; i < n; i++) {
        make (i, variant, &r, inputs, output, outputs);
        if (io_manifest_put (m, &r, &err) < 0) {
            fprintf (stderr, "put: %s\n", err.text);
            return -1;
        }
    }
    return 0;
}

int main (int argc, char **argv)
{
    int n = argc > 1 ? atoi (argv[1]) : 1000000;
    char dir[512];
    bool temp = argc <= 2;
    if (temp) {
        const char *tmp = getenv ("TMPDIR");
        snprintf (dir, sizeof (dir), "%s/manifest_bench.XXXXXX",
                  tmp && *tmp ? tmp : "/tmp");
        if (!mkdtemp (dir)) {
            perror (dir);
            return 1;
        }
    }
    else
        snprintf (dir, sizeof (dir), "%s", argv[2]);
    char path[600], journal[600];
    snprintf (path, sizeof (path), "%s/manifest.h5", dir);
    snprintf (journal, sizeof (journal), "%s/journal", dir);
    dr_error_t err;
    int rc = 1;
    io_manifest_t *m = NULL;

    double t0 = now ();
    if (!(m = io_manifest_open (dir, &err)))
        goto fail;
    if (put_all (m, n, 0) < 0)
        goto done;
    double t_put = now () - t0;
    long long jbytes = size_of (journal);
    t0 = now ();
    if (io_manifest_checkpoint (m, NULL, &err) < 0)
        goto fail;
    double t_ckpt = now () - t0;
    io_manifest_close (m);
    m = NULL;

    t0 = now ();
    if (!(m = io_manifest_open (dir, &err)))
        goto fail;
    double t_open = now () - t0;
    t0 = now ();
    for (int i = 0; i < n; i++) {
        io_hash_t id;
        id_of (i, &id);
        io_datum_rec_t view;
        const io_datum_rec_t *r = io_manifest_find (m, &id, &view);
        if (!r || r->noutputs != 1) {
            fprintf (stderr, "datum %d missing after reopen\n", i);
            goto done;
        }
    }
    double t_find = now () - t0;
    if (put_all (m, n, 1) < 0)   /* replaced, journal only */
        goto done;
    io_manifest_close (m);
    m = NULL;

    t0 = now ();
    if (!(m = io_manifest_open (dir, &err)))
        goto fail;
    double t_replay = now () - t0;
    io_manifest_close (m);
    m = NULL;

    long long fbytes = size_of (path);
    struct rusage ru;
    getrusage (RUSAGE_SELF, &ru);
    printf ("datums                      %d\n", n);
    printf ("put via journal             %.2f s  (%.0f bytes/record)\n",
            t_put, (double)jbytes / n);
    printf ("checkpoint (write HDF5)     %.2f s\n", t_ckpt);
    printf ("write total                 %.2f s\n", t_put + t_ckpt);
    printf ("open (read HDF5)            %.2f s\n", t_open);
    printf ("find every datum by id      %.2f s\n", t_find);
    printf ("open + replay %d puts  %.2f s\n", n, t_replay);
    printf ("manifest.h5                 %lld bytes, %.1f bytes/datum "
            "(198 fixed + strings)\n", fbytes, (double)fbytes / n);
    printf ("max RSS                     %.0f MiB\n", ru.ru_maxrss / 1024.0);
    rc = 0;
    goto done;
fail:
    fprintf (stderr, "%s\n", err.text);
done:
    io_manifest_close (m);
    if (temp)
        nftw (dir, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
    return rc;
}
