/* error.c: dr_errprintf(), the one way errors meant for people are built. */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>

#include "jobs/jobs.h"

int dr_errprintf (dr_error_t *err, const char *fmt, ...)
{
    int saved = errno;
    if (err) {
        va_list ap;
        va_start (ap, fmt);
        vsnprintf (err->text, sizeof (err->text), fmt, ap);
        va_end (ap);
    }
    errno = saved;
    return -1;
}
