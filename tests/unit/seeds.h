/* seeds.h: the unit tests' tables double as the fuzzers' seed corpus.
 * With DATUMRUN_FUZZ_SEEDS=DIR in the environment, a table test writes
 * each of its inputs to DIR/<harness>/<name>-<n> (tests/fuzz/README).
 * Without it, nothing happens.
 */
#ifndef DATUMRUN_TEST_SEEDS_H
#define DATUMRUN_TEST_SEEDS_H

#include <stdio.h>
#include <stdlib.h>
#include <sys/stat.h>

static inline void seed_write (const char *harness, const char *name,
                               size_t n, const void *data, size_t len)
{
    const char *dir = getenv ("DATUMRUN_FUZZ_SEEDS");
    if (!dir || !*dir)
        return;
    char path[4096];
    snprintf (path, sizeof (path), "%s/%s", dir, harness);
    mkdir (dir, 0755);
    mkdir (path, 0755);
    snprintf (path, sizeof (path), "%s/%s/%s-%zu", dir, harness, name, n);
    FILE *f = fopen (path, "wb");
    if (f) {
        fwrite (data, 1, len, f);
        fclose (f);
    }
}

/* The file at path as a seed. */
static inline void seed_file (const char *harness, const char *name, size_t n,
                              const char *path)
{
    if (!getenv ("DATUMRUN_FUZZ_SEEDS"))
        return;
    FILE *f = fopen (path, "rb");
    if (!f)
        return;
    static char buf[1 << 16];
    size_t len = fread (buf, 1, sizeof (buf), f);
    fclose (f);
    seed_write (harness, name, n, buf, len);
}

#endif /* DATUMRUN_TEST_SEEDS_H */
