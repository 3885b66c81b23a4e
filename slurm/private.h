/* private.h: helpers shared by the slurm library's files and its unit test,
 * not part of the public API in slurm.h.
 */
#ifndef DATUMRUN_SLURM_PRIVATE_H
#define DATUMRUN_SLURM_PRIVATE_H

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

#endif /* DATUMRUN_SLURM_PRIVATE_H */
