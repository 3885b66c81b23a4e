/* error.c: dr_errprintf(), the one way errors meant for people are built,
 * and dr_shorten(), which fits a long path into a message.
 *
 * A message longer than the buffer loses its middle, never its end: most
 * messages read "PATH: reason", and a 5,000-byte path must not push the
 * reason out.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "jobs/jobs.h"

static const char ellipsis[] = "...";

size_t dr_shorten (const char *s, char *buf, size_t len)
{
    size_t n = strlen (s);
    if (len == 0)
        return 0;
    if (n < len) {
        memcpy (buf, s, n + 1);
        return n;
    }
    size_t e = sizeof (ellipsis) - 1;
    if (len <= e + 2) {
        memcpy (buf, s, len - 1);
        buf[len - 1] = '\0';
        return len - 1;
    }
    size_t room = len - 1 - e;
    size_t head = room / 2, tail = room - head;
    memcpy (buf, s, head);
    memcpy (buf + head, ellipsis, e);
    memcpy (buf + head + e, s + n - tail, tail);
    buf[len - 1] = '\0';
    return len - 1;
}

int dr_errprintf (dr_error_t *err, const char *fmt, ...)
{
    int saved = errno;
    if (err) {
        char *full = NULL;
        va_list ap;
        va_start (ap, fmt);
        int n = vasprintf (&full, fmt, ap);
        va_end (ap);
        if (n < 0) {
            va_start (ap, fmt);
            vsnprintf (err->text, sizeof (err->text), fmt, ap);
            va_end (ap);
        }
        else {
            dr_shorten (full, err->text, sizeof (err->text));
            free (full);
        }
    }
    errno = saved;
    return -1;
}

int dr_path_error (dr_error_t *err, const char *what, const char *path,
                   int e)
{
    char shown[200];
    dr_shorten (path, shown, sizeof (shown));
    dr_errprintf (err, "%s: %s %s", strerror (e), what, shown);
    errno = e;
    return -1;
}
