/* fuzz_journal.c: libFuzzer harness for the journal reader (the replay in
 * io/journal.c, reached through io_manifest_open_ro).  The input is a
 * journal file.  Before replay the harness frames the records by their
 * length fields and rewrites each one's XXH3-64 trailer, so that mutated
 * payloads reach the decoders instead of stopping at the checksum; a last
 * record that does not fit stays as it is (a torn tail).
 */
#define _GNU_SOURCE
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <xxhash.h>

#include "io/io.h"

int LLVMFuzzerInitialize (int *argc, char ***argv);
int LLVMFuzzerTestOneInput (const uint8_t *data, size_t size);

static char *state_dir, *journal;

int LLVMFuzzerInitialize (int *argc, char ***argv)
{
    (void)argc;
    (void)argv;
    static char root[] = "/tmp/fuzz_journal.XXXXXX";
    if (!mkdtemp (root))
        abort ();
    state_dir = jobs_pathf ("%s/state", root);
    mkdir (state_dir, 0755);
    journal = jobs_sd_path (state_dir, JOBS_SD_JOURNAL);
    return 0;
}

static uint64_t le (const uint8_t *p, int n)
{
    uint64_t v = 0;
    for (int i = n - 1; i >= 0; i--)
        v = v << 8 | p[i];
    return v;
}

int LLVMFuzzerTestOneInput (const uint8_t *data, size_t size)
{
    uint8_t *buf = malloc (size ? size : 1);
    if (!buf)
        return 0;
    memcpy (buf, data, size);
    for (size_t p = 0; size - p >= 20;) {
        uint64_t len = le (buf + p + 8, 4);
        if (len > size - p - 20)
            break;
        uint64_t h = XXH3_64bits (buf + p, 12 + len);
        for (int i = 0; i < 8; i++)
            buf[p + 12 + len + (size_t)i] = (uint8_t)(h >> (8 * i));
        p += 20 + len;
    }
    int fd = open (journal, O_WRONLY | O_CREAT | O_TRUNC, 0644);
    if (fd < 0)
        abort ();
    if (size && write (fd, buf, size) != (ssize_t)size)
        abort ();
    close (fd);
    free (buf);

    dr_error_t err;
    io_manifest_t *m = io_manifest_open_ro (state_dir, &err);
    if (m) {
        /* Touch what replay built. */
        size_t n = io_manifest_ndatums (m);
        for (size_t i = 0; i < n; i++) {
            io_datum_rec_t view;
            const io_datum_rec_t *r = io_manifest_datum (m, i, &view);
            if (r && r->inputs && strlen (r->inputs) > (1u << 30))
                abort ();
            for (size_t k = 0; r && k < r->noutputs; k++)
                if (!r->outputs[k])
                    abort ();
        }
        io_manifest_close (m);
    }
    return 0;
}
