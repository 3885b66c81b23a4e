/* consumer.c: a batched command in C, speaking datumrun's batching
 * protocol (docs/batching.md) directly on $DATUMRUN_BATCH_FD, with nothing
 * of datumrun linked in.  Build: cc -O2 -o consumer consumer.c
 *
 *   consumer noop [paths [window=N]]   report every datum done (the
 *                                      benchmark's no-op)
 *   consumer copy [paths [window=N]]   copy each datum's input files into
 *                                      its $DATUMRUN_OUT
 * "paths": ask with "next paths" (it reads the inputs by the record's
 * absolute paths, so the worker makes no pfs/<input> links).  "window=N":
 * ask for up to N datums at once ("datums K\n" and K records), each with
 * its own $DATUMRUN_OUT, and report them all in one write.
 *
 * Per datum: write "next\n", read the record ("datum\n", entries
 * "KIND NAME LEN\n" + LEN bytes + "\n", "end\n") or "stop\n", do the
 * work, write "done ok\n" or "done fail MESSAGE\n" -- together with the
 * next "next\n", in one write.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static int fd;
static char buf[1 << 16];
static size_t have, pos;

/* One byte from the worker, or -1 at end of file. */
static int get (void)
{
    if (pos == have) {
        ssize_t n;
        do
            n = read (fd, buf, sizeof (buf));
        while (n < 0 && errno == EINTR);
        if (n <= 0)
            return -1;
        have = (size_t)n;
        pos = 0;
    }
    return (unsigned char)buf[pos++];
}

/* A line without its newline into line (cut at cap - 1), or -1. */
static int getline_ (char *line, size_t cap)
{
    size_t n = 0;
    int c;
    while ((c = get ()) >= 0 && c != '\n')
        if (n + 1 < cap)
            line[n++] = (char)c;
    line[n] = '\0';
    return c < 0 ? -1 : 0;
}

static void put (const char *s)
{
    size_t n = strlen (s), off = 0;
    while (off < n) {
        ssize_t w = write (fd, s + off, n - off);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0)
            exit (1);
        off += (size_t)w;
    }
}

typedef struct entry {
    char kind[16], name[128];
    char *value;
} entry_t;

static entry_t ents[256];
static size_t nents;
static char next_req[64] = "next\n";
static int window;          /* asked with window=N */

/* Read one record's entries into ents, after its "datum" line. */
static void read_record (void)
{
    char line[512];
    for (size_t i = 0; i < nents; i++)
        free (ents[i].value);
    nents = 0;
    for (;;) {
        if (getline_ (line, sizeof (line)) < 0)
            exit (2);
        if (!strcmp (line, "end"))
            return;
        char kind[16], name[128];
        size_t len;
        if (sscanf (line, "%15s %127s %zu", kind, name, &len) != 3)
            exit (2);
        char *v = malloc (len + 1);
        for (size_t i = 0; i < len; i++) {
            int c = get ();
            if (c < 0)
                exit (2);
            v[i] = (char)c;
        }
        v[len] = '\0';
        if (get () != '\n')
            exit (2);
        if (nents < sizeof (ents) / sizeof (ents[0])) {
            entry_t *e = &ents[nents++];
            snprintf (e->kind, sizeof (e->kind), "%s", kind);
            snprintf (e->name, sizeof (e->name), "%s", name);
            e->value = v;
        }
        else
            free (v);
    }
}

/* Report what is in hand (results: "done ok\n" lines, "" at first) and
 * ask for more, in one write.  The number of datums that came (each read
 * with read_record in turn), 0 for stop. */
static size_t ask (const char *results)
{
    char line[512];
    size_t n = strlen (results), m = strlen (next_req);
    char *req = malloc (n + m + 1);
    memcpy (req, results, n);
    memcpy (req + n, next_req, m + 1);
    put (req);
    free (req);
    if (getline_ (line, sizeof (line)) < 0 || !strcmp (line, "stop"))
        return 0;
    unsigned long k = 1;
    if (window ? sscanf (line, "datums %lu", &k) != 1 || !k
               : strcmp (line, "datum")) {
        fprintf (stderr, "consumer: unexpected '%s'\n", line);
        exit (2);
    }
    return k;
}

/* The next record's "datum" line (without a window, ask read it). */
static void begin_record (void)
{
    char line[512];
    if (!window)
        return;
    if (getline_ (line, sizeof (line)) < 0 || strcmp (line, "datum")) {
        fprintf (stderr, "consumer: unexpected '%s'\n", line);
        exit (2);
    }
}

static const char *var (const char *name)
{
    for (size_t i = 0; i < nents; i++)
        if (!strcmp (ents[i].kind, "var") && !strcmp (ents[i].name, name))
            return ents[i].value;
    return NULL;
}

static int copy_file (const char *src, const char *dst)
{
    int in = open (src, O_RDONLY | O_CLOEXEC), out = -1, rc = -1;
    char b[65536];
    ssize_t n;
    if (in < 0)
        return -1;
    if ((out = open (dst, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644)) < 0)
        goto done;
    while ((n = read (in, b, sizeof (b))) > 0)
        if (write (out, b, (size_t)n) != n)
            goto done;
    rc = n < 0 ? -1 : 0;
done:
    close (in);
    if (out >= 0 && close (out) < 0)
        rc = -1;
    return rc;
}

/* Do the mode's work on the datum in ents: its result line. */
static const char *work (const char *mode)
{
    if (strcmp (mode, "copy"))
        return "done ok\n";
    const char *out = var ("DATUMRUN_OUT");
    for (size_t i = 0; i < nents; i++) {
        if (strcmp (ents[i].kind, "input"))
            continue;
        const char *base = strrchr (ents[i].value, '/');
        char dst[8192];
        snprintf (dst, sizeof (dst), "%s/%s", out,
                  base ? base + 1 : ents[i].value);
        if (copy_file (ents[i].value, dst) < 0)
            return "done fail cannot copy an input\n";
    }
    return "done ok\n";
}

int main (int argc, char **argv)
{
    const char *mode = argc > 1 ? argv[1] : "noop";
    const char *s = getenv ("DATUMRUN_BATCH_FD");
    if (!s) {
        fprintf (stderr, "consumer: run me as a datum_batching command\n");
        return 2;
    }
    fd = atoi (s);
    if (argc > 2 && !strcmp (argv[2], "paths"))
        snprintf (next_req, sizeof (next_req), "next paths\n");
    if (argc > 3 && sscanf (argv[3], "window=%d", &window) == 1
        && window > 0)
        snprintf (next_req, sizeof (next_req), "next paths window=%d\n",
                  window);
    else
        window = 0;
    char *results = calloc (1, 1);
    size_t k;
    while ((k = ask (results))) {
        /* One result line per datum, in order, sent with the next ask. */
        size_t len = 0;
        results[0] = '\0';
        for (size_t i = 0; i < k; i++) {
            begin_record ();
            read_record ();
            const char *r = work (mode);
            size_t n = strlen (r);
            results = realloc (results, len + n + 1);
            memcpy (results + len, r, n + 1);
            len += n;
        }
    }
    free (results);
    return 0;
}
