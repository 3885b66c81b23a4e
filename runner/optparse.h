/* optparse.h: each command's options as one table.  The table drives the
 * parsing, `datumrun COMMAND --help`, `datumrun help COMMAND`, the man page
 * and the bash completion, so that none of them can drift from the others
 * (the idea of flux-core's optparse subcommands, written for datumrun).
 *
 * A command is a row of an optparse_cmd_t table: its name, positional
 * synopsis, one-line summary, function and option table.  Adding an option
 * is adding a row to the command's option table, e.g.
 *
 *     { .name = "grace", .type = OPTPARSE_NUM, .arg = "SECONDS",
 *       .help = "seconds running datums get after a stop (default 30)" },
 *
 * and reading it in the command with optparse_num (p, "grace", 30).
 * Reading an option the table does not have aborts: a programming error.
 */
#ifndef DATUMRUN_OPTPARSE_H
#define DATUMRUN_OPTPARSE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>

/* What an option takes. */
typedef enum optparse_type {
    OPTPARSE_FLAG = 0,  /* no argument; may be repeated (optparse_count) */
    OPTPARSE_STR,       /* any string */
    OPTPARSE_INT,       /* an integer in [min, max]; both 0: [0, INT_MAX] */
    OPTPARSE_NUM,       /* a non-negative decimal number (seconds, ...) */
    OPTPARSE_CHOICE,    /* one of the '|'-separated words of .arg */
} optparse_type_t;

/* What the shell completes for an option's argument or for a command's
 * positional arguments. */
typedef enum optparse_complete {
    OPTPARSE_COMP_NONE = 0,
    OPTPARSE_COMP_FILE,     /* any file */
    OPTPARSE_COMP_DIR,      /* folders */
    OPTPARSE_COMP_SPEC,     /* pipeline specs: *.json (and folders) */
    OPTPARSE_COMP_COMMAND,  /* a datumrun command name */
} optparse_complete_t;

typedef enum optparse_flags {
    OPTPARSE_HIDDEN = 1,    /* parsed, left out of help, man and completion */
} optparse_flags_t;

typedef struct optparse_option {
    const char *name;       /* long name without the dashes; NULL ends */
    int key;                /* short option letter, or 0 */
    optparse_type_t type;
    const char *arg;        /* the argument's name in help ("DIR") */
    const char *help;       /* one sentence, lower case, no final period */
    const char *alias;      /* an older long name still accepted, or NULL */
    long min, max;          /* OPTPARSE_INT bounds */
    optparse_complete_t complete;
    int flags;              /* optparse_flags_t */
} optparse_option_t;

#define OPTPARSE_END { .name = NULL }

typedef struct optparse optparse_t;

/* A command: returns its exit status. */
typedef int (*optparse_cmd_f) (optparse_t *p);

typedef enum optparse_cmd_flags {
    /* "--" ends the options: what follows is handed on as is
     * (optparse_extra), e.g. sbatch's own options. */
    OPTPARSE_CMD_EXTRA = 1,
    /* An unknown option that sbatch knows gets a hint to put it after
     * "--". */
    OPTPARSE_CMD_SBATCH_HINT = 2,
    OPTPARSE_CMD_HIDDEN = 4,
} optparse_cmd_flags_t;

typedef struct optparse_cmd {
    const char *name;       /* NULL ends a table */
    /* Positional synopsis, "SPEC [JOB]": words in brackets are optional,
     * "..." repeats; the allowed count is derived from it. */
    const char *args;
    const char *summary;    /* one line, lower case, no final period */
    optparse_cmd_f fn;      /* NULL when it has subcommands */
    const optparse_option_t *options;   /* may be NULL */
    optparse_complete_t complete;       /* positional arguments */
    const struct optparse_cmd *sub;     /* subcommands, or NULL */
    int flags;              /* optparse_cmd_flags_t */
    const char *extra;      /* synopsis of the handed-on part, or NULL */
    const char *description;/* a paragraph for help and man, or NULL */
} optparse_cmd_t;

/* Exit status of a usage error (the CLI contract's 2). */
#define OPTPARSE_EXIT_USAGE 2

/* Find the command named by argv[1] (and argv[2] for subcommands) in
 * table, parse its options and run it.  argv[0] is the program name used
 * in messages.  "--help" or "-h" anywhere before "--" prints the command's
 * help and returns 0.  Returns the command's exit status, or
 * OPTPARSE_EXIT_USAGE after printing what was wrong. */
int optparse_main (const optparse_cmd_t *table, const char *prog, int argc,
                   char **argv);

/* --------------------------------------------------------- in a command */

bool optparse_has (const optparse_t *p, const char *name);
int optparse_count (const optparse_t *p, const char *name);
/* The last value given, or def. */
const char *optparse_str (const optparse_t *p, const char *name,
                          const char *def);
int optparse_int (const optparse_t *p, const char *name, int def);
double optparse_num (const optparse_t *p, const char *name, double def);

int optparse_npos (const optparse_t *p);
/* Positional argument i, or NULL. */
const char *optparse_pos (const optparse_t *p, int i);
/* What followed "--" (OPTPARSE_CMD_EXTRA), NULL-terminated. */
char **optparse_extra (const optparse_t *p, int *n);
/* The option words as given (options with their arguments, positional
 * arguments left out), NULL-terminated: to hand on to a child command. */
char **optparse_optv (const optparse_t *p, int *n);
/* Every word after the command's name, NULL-terminated. */
char **optparse_argv (const optparse_t *p, int *n);

/* The command's full name ("campaign run"). */
const char *optparse_cmdname (const optparse_t *p);
const optparse_cmd_t *optparse_command (const optparse_t *p);

/* Print "PROG CMD: message" and the command's usage line to stderr;
 * returns OPTPARSE_EXIT_USAGE. */
int optparse_error (const optparse_t *p, const char *fmt, ...)
    __attribute__ ((format (printf, 2, 3)));

/* ------------------------------------------------------------ the tables */

/* The command at words[0..] (a subcommand path: "campaign", "run"), or
 * NULL.  *used tells how many words named it. */
const optparse_cmd_t *optparse_find (const optparse_cmd_t *table,
                                     char **words, int nwords, int *used);

/* Same for a full name such as "campaign run". */
const optparse_cmd_t *optparse_lookup (const optparse_cmd_t *table,
                                       const char *fullname);

/* Usage line: "usage: PROG NAME ARGS [options]". */
void optparse_print_usage (FILE *f, const char *prog, const char *fullname,
                           const optparse_cmd_t *c);
/* The whole help of a command (or of the program, c == NULL). */
void optparse_print_help (FILE *f, const char *prog, const char *fullname,
                          const optparse_cmd_t *c,
                          const optparse_cmd_t *table);
/* One word per line: every spelling the command accepts ("--state-dir",
 * "--state", "-n", "--help", ...). */
void optparse_print_options (FILE *f, const optparse_cmd_t *c);
/* Every command's full name, one per line, subcommands included. */
void optparse_print_commands (FILE *f, const optparse_cmd_t *table);

/* The man page: template copied with "@COMMANDS@" and "@SYNOPSIS@" lines
 * replaced by the generated sections and "@VERSION@" by version.  Returns
 * -1 (errno set) when the template cannot be read. */
int optparse_print_man (FILE *f, const char *prog, const char *version,
                        const char *template_path,
                        const optparse_cmd_t *table);

/* A bash completion script for the whole table. */
void optparse_print_bash (FILE *f, const char *prog,
                          const optparse_cmd_t *table);

/* ------------------------------------------------------------ internals */

/* The candidate closest to word (a typo: at most two edits, or a unique
 * prefix), or NULL.  Exposed for the unit test. */
const char *optparse_suggest (const char *word, const char *const *cands,
                              size_t n);
/* Optimal string alignment distance (edits, transpositions count one). */
int optparse__distance (const char *a, const char *b);
/* Positional counts from a synopsis ("SPEC [JOB]" -> 1, 2; "..." -> -1). */
void optparse__arg_counts (const char *args, int *min, int *max);

#endif /* DATUMRUN_OPTPARSE_H */
