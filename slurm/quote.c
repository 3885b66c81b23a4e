/* quote.c: writing arbitrary strings (paths with spaces and quotes, user
 * sbatch arguments) into a batch script so that each reaches its reader as
 * exactly one word: the shell for command lines, sbatch's own tokenizer
 * for "#SBATCH" lines, and Slurm's file name patterns for --output.
 */
#include <errno.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "slurm/private.h"
#include "slurm/slurm.h"

/* Characters that need no quoting: for the shell, none of them is special
 * anywhere in a word ('=' and '%' are left out: "a=b" as a first word is
 * an assignment, "%1" a job); sbatch's tokenizer also takes '=' and '%'
 * literally (file name patterns are escaped separately). */
#define SAFE_SHELL "_@+:,./-"
#define SAFE_DIRECTIVE "_@+:,./-=%"

static bool all_safe (const char *s, const char *extra)
{
    if (*s == '\0')
        return false;
    for (; *s; s++) {
        char c = *s;
        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z')
              || (c >= '0' && c <= '9') || strchr (extra, c)))
            return false;
    }
    return true;
}

char *slurm_shell_quote (const char *s)
{
    if (!s) {
        errno = EINVAL;
        return NULL;
    }
    if (all_safe (s, SAFE_SHELL))
        return strdup (s);

    size_t quotes = 0;
    for (const char *p = s; *p; p++)
        quotes += (*p == '\'');
    /* Each ' becomes '\'' (4 bytes), plus the enclosing pair and NUL. */
    char *out = malloc (strlen (s) + 3 * quotes + 3);
    if (!out)
        return NULL;
    char *w = out;
    *w++ = '\'';
    for (const char *p = s; *p; p++) {
        if (*p == '\'') {
            memcpy (w, "'\\''", 4);
            w += 4;
        }
        else
            *w++ = *p;
    }
    *w++ = '\'';
    *w = '\0';
    return out;
}

char *slurm__directive_quote (const char *s)
{
    if (!s || strpbrk (s, "\n\r")) {
        errno = EINVAL;
        return NULL;
    }
    if (all_safe (s, SAFE_DIRECTIVE))
        return strdup (s);

    size_t extra = 0;
    for (const char *p = s; *p; p++)
        extra += (*p == '\\' || *p == '"');
    char *out = malloc (strlen (s) + extra + 3);
    if (!out)
        return NULL;
    char *w = out;
    *w++ = '"';
    for (const char *p = s; *p; p++) {
        if (*p == '\\' || *p == '"')
            *w++ = '\\';
        *w++ = *p;
    }
    *w++ = '"';
    *w = '\0';
    return out;
}

char *slurm__pattern_escape (const char *s)
{
    if (!s || strpbrk (s, "\\\n\r")) {
        errno = EINVAL;
        return NULL;
    }
    size_t pct = 0;
    for (const char *p = s; *p; p++)
        pct += (*p == '%');
    char *out = malloc (strlen (s) + pct + 1);
    if (!out)
        return NULL;
    char *w = out;
    for (const char *p = s; *p; p++) {
        *w++ = *p;
        if (*p == '%')
            *w++ = '%';
    }
    *w = '\0';
    return out;
}
