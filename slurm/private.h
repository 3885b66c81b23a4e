/* private.h: helpers shared by the slurm library's files and its unit test,
 * not part of the public API in slurm.h.
 */
#ifndef DATUMRUN_SLURM_PRIVATE_H
#define DATUMRUN_SLURM_PRIVATE_H

#include <stddef.h>

#include "jobs/jobs.h"

/* s as one argument on an "#SBATCH" line.  sbatch splits those lines at
 * blanks, groups with '...' or "...", takes \x as x and ends the line at an
 * unquoted #; so s is written unchanged when it is made of safe characters,
 * otherwise in double quotes with \ and " escaped.  Returns a malloc'd
 * string, or NULL with errno EINVAL (s holds a newline or carriage return,
 * which no #SBATCH line can carry) or ENOMEM.
 */
char *slurm__directive_quote (const char *s);

/* A file name for sbatch --output: % doubled so that Slurm's replacement
 * symbols (%j, %x, ...) in a folder name stay literal.  Returns a malloc'd
 * string, or NULL with errno EINVAL (a backslash, which would switch off
 * all replacement symbols, or a newline) or ENOMEM.
 */
char *slurm__pattern_escape (const char *s);

/* Run argv (argv[0] found on PATH) with script (or nothing) on its
 * standard input, within 120 s; its standard output and error, trimmed,
 * go to out_text and err_text (either may be NULL; truncated to their
 * lengths) and its wait status to *status.  Returns 0 once it ran
 * (whatever its exit status), or -1 with err naming what failed (not
 * found, timed out).
 */
int slurm__run (char *const argv[], const char *script, char *out_text,
                size_t out_len, char *err_text, size_t err_len, int *status,
                dr_error_t *err);

#endif /* DATUMRUN_SLURM_PRIVATE_H */
