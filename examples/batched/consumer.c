/* consumer.c: a batched command in C, speaking datumrun's batching
 * protocol (docs/batching.md) directly on $DATUMRUN_BATCH_FD, with nothing
 * of datumrun linked in.  Build: cc -O2 -o consumer consumer.c
 *
 *   consumer noop [paths]   report every datum done (the benchmark's no-op)
 *   consumer copy [paths]   copy each datum's input files into $DATUMRUN_OUT
 * "paths": ask with "next paths" (it reads the inputs by the record's
 * absolute paths, so the worker makes no pfs/<input> links).
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
static const char *next_req = "next\n";

/* Report the datum in hand (result: "done ok\n", "done fail ...\n", or
 * "" for the first), and ask for the next one, in one write.
 * 1: a datum was read into ents; 0: stop. */
static int next_datum (const char *result)
{
    char line[512];
    for (size_t i = 0; i < nents; i++)
        free (ents[i].value);
    nents = 0;
    char req[4200];
    snprintf (req, sizeof (req), "%s%s", result, next_req);
    put (req);
    if (getline_ (line, sizeof (line)) < 0 || !strcmp (line, "stop"))
        return 0;
    if (strcmp (line, "datum")) {
        fprintf (stderr, "consumer: unexpected '%s'\n", line);
        exit (2);
    }
    for (;;) {
        if (getline_ (line, sizeof (line)) < 0)
            exit (2);
        if (!strcmp (line, "end"))
            return 1;
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
        next_req = "next paths\n";
    const char *result = "";
    while (next_datum (result)) {
        result = "done ok\n";
        if (!strcmp (mode, "copy")) {
            const char *out = var ("DATUMRUN_OUT");
            int failed = 0;
            for (size_t i = 0; i < nents && !failed; i++) {
                if (strcmp (ents[i].kind, "input"))
                    continue;
                const char *base = strrchr (ents[i].value, '/');
                char dst[8192];
                snprintf (dst, sizeof (dst), "%s/%s", out,
                          base ? base + 1 : ents[i].value);
                failed = copy_file (ents[i].value, dst) < 0;
            }
            if (failed)
                result = "done fail cannot copy an input\n";
        }
    }
    return 0;
}
