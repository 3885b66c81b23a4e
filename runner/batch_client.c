/* batch_client.c: the command's end of the batching protocol (see
 * batch_server.h and docs/batching.md), as `datumrun next` (next.c) and
 * C consumers use it: blocking, no MPI, nothing else of the runner.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "runner/batch_server.h"

int batch_client_fd (dr_error_t *err)
{
    const char *s = getenv (BATCH_FD_ENV);
    char *end;
    if (!s || !*s)
        return dr_errprintf (err, "$%s is not set: this command runs only "
                             "inside a pipeline with "
                             "\"transform\": {\"datum_batching\": true}",
                             BATCH_FD_ENV);
    long fd = strtol (s, &end, 10);
    if (*end || fd < 0 || fd > INT32_MAX || fcntl ((int)fd, F_GETFD) < 0)
        return dr_errprintf (err, "$%s=%s does not name an open descriptor "
                             "(was it closed, or is this not the batched "
                             "command?)", BATCH_FD_ENV, s);
    return (int)fd;
}

int batch_client_send (int fd, const char *line)
{
    size_t n = strlen (line);
    char *buf = malloc (n + 2);
    if (!buf)
        return -1;
    for (size_t i = 0; i < n; i++)
        buf[i] = line[i] == '\n' || line[i] == '\r' ? ' ' : line[i];
    buf[n] = '\n';
    size_t off = 0;
    while (off < n + 1) {
        ssize_t w = write (fd, buf + off, n + 1 - off);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0) {
            free (buf);
            return -1;
        }
        off += (size_t)w;
    }
    free (buf);
    return 0;
}

void batch_datum_free (batch_datum_t *d)
{
    for (size_t i = 0; i < d->n; i++) {
        free (d->e[i].kind);
        free (d->e[i].name);
        free (d->e[i].value);
    }
    free (d->e);
    memset (d, 0, sizeof (*d));
}

const char *batch_datum_var (const batch_datum_t *d, const char *name)
{
    for (size_t i = 0; i < d->n; i++)
        if (!strcmp (d->e[i].kind, "var") && !strcmp (d->e[i].name, name))
            return d->e[i].value;
    return NULL;
}

/* Parse one answer from buf[0..len).  1: complete (d filled), 0: more
 * bytes needed, -1: malformed (err says where). */
static int parse_answer (const char *buf, size_t len, batch_datum_t *d,
                         dr_error_t *err)
{
    const char *p = buf, *end = buf + len;
    const char *nl = memchr (p, '\n', len);
    if (!nl)
        return len > 64 ? dr_errprintf (err, "answer does not start with "
                                        "'datum' or 'stop'") : 0;
    if (nl - p == 4 && !memcmp (p, "stop", 4))
        return 2;
    if (nl - p != 5 || memcmp (p, "datum", 5))
        return dr_errprintf (err, "answer does not start with 'datum' or "
                             "'stop'");
    p = nl + 1;
    batch_datum_free (d);
    for (;;) {
        if (!(nl = memchr (p, '\n', (size_t)(end - p))))
            return (size_t)(end - p) > 256
                       ? dr_errprintf (err, "entry header too long") : 0;
        if (nl - p == 3 && !memcmp (p, "end", 3))
            return 1;
        /* "KIND NAME LEN" */
        char head[300];
        size_t hl = (size_t)(nl - p);
        if (hl >= sizeof (head))
            return dr_errprintf (err, "entry header too long");
        memcpy (head, p, hl);
        head[hl] = '\0';
        char *sp1 = strchr (head, ' '), *sp2 = sp1 ? strchr (sp1 + 1, ' ')
                                                   : NULL;
        if (!sp1 || !sp2)
            return dr_errprintf (err, "malformed entry header '%.64s'", head);
        *sp1 = *sp2 = '\0';
        char *lend;
        errno = 0;
        unsigned long long vlen = strtoull (sp2 + 1, &lend, 10);
        if (*lend || errno || !sp2[1] || vlen > (1ULL << 30))
            return dr_errprintf (err, "malformed entry length '%.32s'",
                                 sp2 + 1);
        const char *v = nl + 1;
        if ((size_t)(end - v) < vlen + 1)
            return 0;
        if (v[vlen] != '\n')
            return dr_errprintf (err, "entry '%s' not terminated", sp1 + 1);
        if (d->n == d->cap) {
            size_t ncap = d->cap ? 2 * d->cap : 8;
            batch_entry_t *ne = realloc (d->e, ncap * sizeof (*ne));
            if (!ne)
                return dr_errprintf (err, "out of memory");
            d->e = ne;
            d->cap = ncap;
        }
        batch_entry_t *e = &d->e[d->n];
        e->kind = strdup (head);
        e->name = strdup (sp1 + 1);
        e->value = strndup (v, vlen);
        if (!e->kind || !e->name || !e->value) {
            free (e->kind);
            free (e->name);
            free (e->value);
            return dr_errprintf (err, "out of memory");
        }
        d->n++;
        p = v + vlen + 1;
    }
}

int batch_client_read (int fd, batch_datum_t *d, dr_error_t *err)
{
    /* The worker answers each request once and then waits for the next,
     * so every byte there is belongs to this answer. */
    size_t len = 0, cap = 4096;
    char *buf = malloc (cap);
    int rc = -1;
    memset (d, 0, sizeof (*d));
    if (!buf)
        return dr_errprintf (err, "out of memory");
    for (;;) {
        if (len == cap) {
            char *nb = realloc (buf, cap * 2);
            if (!nb) {
                dr_errprintf (err, "out of memory");
                break;
            }
            buf = nb;
            cap *= 2;
        }
        ssize_t n = read (fd, buf + len, cap - len);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0) {
            dr_errprintf (err, "reading from the worker: %s",
                          strerror (errno));
            break;
        }
        if (n == 0) {
            dr_errprintf (err, "the worker closed the connection");
            break;
        }
        len += (size_t)n;
        int r = parse_answer (buf, len, d, err);
        if (r == 0)
            continue;
        rc = r == 2 ? 0 : r;
        break;
    }
    if (rc != 1)
        batch_datum_free (d);
    free (buf);
    return rc;
}

void batch_shell_quote (const char *s, FILE *f)
{
    fputc ('\'', f);
    for (; *s; s++) {
        if (*s == '\'')
            fputs ("'\\''", f);
        else
            fputc (*s, f);
    }
    fputc ('\'', f);
}
