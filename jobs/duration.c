/* duration.c: jobs_parse_duration(), the spec's time lengths ("90", "10m",
 * "1h30m", "500ms").  The grammar is Go's time.ParseDuration without signs,
 * since Pachyderm specs are written for that parser; a bare number with no
 * unit means seconds, as a plain JSON number does.  Digits are read by hand
 * so that strtod's extras ("inf", "0x1p3", "1e9", leading blanks) are not
 * accepted by accident.
 */
#include <errno.h>
#include <math.h>
#include <string.h>

#include "jobs/jobs.h"

static const struct {
    const char *suffix;
    double seconds;
} units[] = {
    /* Longer suffixes first so that "ms" is not read as "m" then "s". */
    { "ns", 1e-9 }, { "us", 1e-6 }, { "\xc2\xb5s", 1e-6 }, { "ms", 1e-3 },
    { "h", 3600.0 }, { "m", 60.0 }, { "s", 1.0 },
};

/* Read "DIGITS[.DIGITS]" or ".DIGITS" at *sp; advance past it. */
static int read_number (const char **sp, double *out)
{
    const char *s = *sp;
    double v = 0.0, scale = 1.0;
    int ndigits = 0;

    while (*s >= '0' && *s <= '9') {
        v = v * 10.0 + (*s++ - '0');
        ndigits++;
    }
    if (*s == '.') {
        s++;
        while (*s >= '0' && *s <= '9') {
            scale /= 10.0;
            v += (*s++ - '0') * scale;
            ndigits++;
        }
    }
    if (ndigits == 0)
        return -1;
    *sp = s;
    *out = v;
    return 0;
}

int jobs_parse_duration (const char *s, double *seconds)
{
    double total = 0.0;
    double v;

    if (!s || !seconds || *s == '\0')
        goto error;
    if (read_number (&s, &v) < 0)
        goto error;
    if (*s == '\0') {               /* "90": plain seconds */
        total = v;
        goto done;
    }
    for (;;) {
        size_t i;
        for (i = 0; i < sizeof (units) / sizeof (units[0]); i++) {
            size_t n = strlen (units[i].suffix);
            if (strncmp (s, units[i].suffix, n) == 0) {
                s += n;
                break;
            }
        }
        if (i == sizeof (units) / sizeof (units[0]))
            goto error;
        total += v * units[i].seconds;
        if (*s == '\0')
            break;
        /* Every further number needs its own unit: "1h30" is refused. */
        if (read_number (&s, &v) < 0 || *s == '\0')
            goto error;
    }
done:
    if (!isfinite (total))
        goto error;
    *seconds = total;
    return 0;
error:
    errno = EINVAL;
    return -1;
}
