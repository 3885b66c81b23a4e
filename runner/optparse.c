/* optparse.c: the command and option tables at work.  Parsing (GNU style:
 * options and positional arguments in any order, "--long=value" or
 * "--long value", clustered short options, "--" ends the options), the
 * did-you-mean of typos, and every rendering of the tables: help, usage
 * line, man page and bash completion.  See optparse.h.
 */
#define _GNU_SOURCE
#include <ctype.h>
#include <errno.h>
#include <limits.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "runner/optparse.h"

struct optparse {
    const char *prog;
    char fullname[128];
    const optparse_cmd_t *cmd;
    size_t nopts;
    int *count;             /* per option row */
    const char **value;     /* per option row: the last value given */
    char **pos;
    int npos;
    char **extra;
    int nextra;
    char **optv;
    int noptv;
    char **argv;
    int argc;
};

/* sbatch's own long options that users put on our command line: each gets
 * a hint to go after "--".  Ours (nodes, time, partition, account) are
 * not listed. */
static const char *const sbatch_long[] = {
    "array", "begin", "chdir", "cluster", "clusters", "comment",
    "constraint", "core-spec", "cpus-per-gpu", "cpus-per-task", "deadline",
    "dependency", "distribution", "error", "exclude", "exclusive", "export",
    "get-user-env", "gid", "gpu-bind", "gpus", "gpus-per-node",
    "gpus-per-socket", "gpus-per-task", "gres", "hint", "hold", "input",
    "job-name", "kill-on-invalid-dep", "licenses", "mail-type", "mail-user",
    "mem", "mem-bind", "mem-per-cpu", "mem-per-gpu", "mincpus", "nice",
    "no-requeue", "nodefile", "nodelist", "ntasks", "ntasks-per-core",
    "ntasks-per-gpu", "ntasks-per-node", "ntasks-per-socket", "open-mode",
    "output", "oversubscribe", "parsable", "power", "priority", "profile",
    "propagate", "qos", "reboot", "requeue", "reservation", "signal",
    "sockets-per-node", "spread-job", "switches", "test-only",
    "thread-spec", "threads-per-core", "time-min", "tmp", "uid", "wait",
    "wait-all-nodes", "wckey", "wrap",
};
static const char sbatch_short[] = "abcCdDeGHiJkLmMoOQqsSwx";

/* ------------------------------------------------------------ utilities */

static void *xcalloc (size_t n, size_t size)
{
    void *p = calloc (n ? n : 1, size);
    if (!p) {
        fprintf (stderr, "datumrun: out of memory\n");
        abort ();
    }
    return p;
}

int optparse__distance (const char *a, const char *b)
{
    size_t la = strlen (a), lb = strlen (b);
    if (la > 64 || lb > 64)
        return INT_MAX;
    int d[65][65];
    for (size_t i = 0; i <= la; i++)
        d[i][0] = (int)i;
    for (size_t j = 0; j <= lb; j++)
        d[0][j] = (int)j;
    for (size_t i = 1; i <= la; i++) {
        for (size_t j = 1; j <= lb; j++) {
            int cost = a[i - 1] != b[j - 1];
            int v = d[i - 1][j] + 1;
            if (d[i][j - 1] + 1 < v)
                v = d[i][j - 1] + 1;
            if (d[i - 1][j - 1] + cost < v)
                v = d[i - 1][j - 1] + cost;
            if (i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1]
                && d[i - 2][j - 2] + 1 < v)
                v = d[i - 2][j - 2] + 1;
            d[i][j] = v;
        }
    }
    return d[la][lb];
}

const char *optparse_suggest (const char *word, const char *const *cands,
                              size_t n)
{
    const char *best = NULL, *prefix = NULL;
    int bestd = INT_MAX, nprefix = 0;
    size_t wl = strlen (word);
    if (wl == 0)
        return NULL;
    for (size_t i = 0; i < n; i++) {
        if (!cands[i])
            continue;
        if (!strncmp (cands[i], word, wl)) {
            if (!prefix || strcmp (prefix, cands[i]))
                nprefix++;
            prefix = cands[i];
        }
        int d = optparse__distance (word, cands[i]);
        if (d < bestd) {
            bestd = d;
            best = cands[i];
        }
    }
    /* Two edits for long words, one for short ones: "rn" is not "ls". */
    int limit = wl <= 3 ? 1 : 2;
    if (best && bestd <= limit && (size_t)bestd < wl)
        return best;
    if (nprefix == 1)
        return prefix;
    return NULL;
}

void optparse__arg_counts (const char *args, int *min, int *max)
{
    *min = 0;
    *max = 0;
    if (!args)
        return;
    int depth = 0;
    const char *s = args;
    while (*s) {
        while (*s == ' ')
            s++;
        if (!*s)
            break;
        const char *start = s;
        bool optional = depth > 0 || *s == '[';
        while (*s && *s != ' ') {
            if (*s == '[')
                depth++;
            else if (*s == ']')
                depth--;
            s++;
        }
        if (memmem (start, (size_t)(s - start), "...", 3))
            *max = -1;
        if (*max >= 0)
            (*max)++;
        if (!optional)
            (*min)++;
    }
}

static size_t nrows (const optparse_option_t *opts)
{
    size_t n = 0;
    while (opts && opts[n].name)
        n++;
    return n;
}

static const optparse_cmd_t *find_name (const optparse_cmd_t *table,
                                        const char *name)
{
    for (const optparse_cmd_t *c = table; c && c->name; c++)
        if (!strcmp (c->name, name))
            return c;
    return NULL;
}

static const char *suggest_command (const optparse_cmd_t *table,
                                    const char *word)
{
    const char *cands[128];
    size_t n = 0;
    for (const optparse_cmd_t *c = table; c->name && n < 128; c++)
        if (!(c->flags & OPTPARSE_CMD_HIDDEN))
            cands[n++] = c->name;
    return optparse_suggest (word, cands, n);
}

const optparse_cmd_t *optparse_find (const optparse_cmd_t *table,
                                     char **words, int nwords, int *used)
{
    *used = 0;
    if (nwords < 1)
        return NULL;
    const optparse_cmd_t *c = find_name (table, words[0]);
    if (!c)
        return NULL;
    *used = 1;
    if (c->sub && nwords > 1) {
        const optparse_cmd_t *s = find_name (c->sub, words[1]);
        if (s) {
            *used = 2;
            return s;
        }
    }
    return c;
}

const optparse_cmd_t *optparse_lookup (const optparse_cmd_t *table,
                                       const char *fullname)
{
    char buf[128], *words[3];
    int n = 0, used;
    snprintf (buf, sizeof (buf), "%s", fullname);
    for (char *save = NULL, *w = strtok_r (buf, " ", &save); w && n < 3;
         w = strtok_r (NULL, " ", &save))
        words[n++] = w;
    const optparse_cmd_t *c = optparse_find (table, words, n, &used);
    return c && used == n ? c : NULL;
}

/* ------------------------------------------------------------- getters */

static int row (const optparse_t *p, const char *name)
{
    for (size_t i = 0; i < p->nopts; i++)
        if (!strcmp (p->cmd->options[i].name, name))
            return (int)i;
    fprintf (stderr, "datumrun: internal error: command '%s' has no option "
             "'--%s' in its table\n", p->fullname, name);
    abort ();
}

bool optparse_has (const optparse_t *p, const char *name)
{
    return p->count[row (p, name)] > 0;
}

int optparse_count (const optparse_t *p, const char *name)
{
    return p->count[row (p, name)];
}

const char *optparse_str (const optparse_t *p, const char *name,
                          const char *def)
{
    int i = row (p, name);
    return p->value[i] ? p->value[i] : def;
}

int optparse_int (const optparse_t *p, const char *name, int def)
{
    int i = row (p, name);
    return p->value[i] ? (int)strtol (p->value[i], NULL, 10) : def;
}

double optparse_num (const optparse_t *p, const char *name, double def)
{
    int i = row (p, name);
    return p->value[i] ? strtod (p->value[i], NULL) : def;
}

int optparse_npos (const optparse_t *p)
{
    return p->npos;
}

const char *optparse_pos (const optparse_t *p, int i)
{
    return i >= 0 && i < p->npos ? p->pos[i] : NULL;
}

char **optparse_extra (const optparse_t *p, int *n)
{
    if (n)
        *n = p->nextra;
    return p->extra;
}

char **optparse_optv (const optparse_t *p, int *n)
{
    if (n)
        *n = p->noptv;
    return p->optv;
}

char **optparse_argv (const optparse_t *p, int *n)
{
    if (n)
        *n = p->argc;
    return p->argv;
}

const char *optparse_cmdname (const optparse_t *p)
{
    return p->fullname;
}

const optparse_cmd_t *optparse_command (const optparse_t *p)
{
    return p->cmd;
}

/* ----------------------------------------------------------------- help */

/* "SPEC [JOB] [options]" and the handed-on part. */
static void print_synopsis_args (FILE *f, const optparse_cmd_t *c)
{
    if (c->args && *c->args)
        fprintf (f, " %s", c->args);
    if (c->sub)
        fprintf (f, " COMMAND ...");
    else if (nrows (c->options))
        fprintf (f, " [options]");
    if (c->extra)
        fprintf (f, " %s", c->extra);
}

void optparse_print_usage (FILE *f, const char *prog, const char *fullname,
                           const optparse_cmd_t *c)
{
    fprintf (f, "usage: %s %s", prog, fullname);
    print_synopsis_args (f, c);
    fputc ('\n', f);
}

/* "-n, --workers=N" */
static void option_spelling (const optparse_option_t *o, char *buf,
                             size_t len)
{
    int n = 0;
    if (o->key)
        n = snprintf (buf, len, "-%c, ", o->key);
    else
        n = snprintf (buf, len, "    ");
    if (n < 0 || (size_t)n >= len)
        return;
    if (o->type == OPTPARSE_FLAG)
        snprintf (buf + n, len - (size_t)n, "--%s", o->name);
    else
        snprintf (buf + n, len - (size_t)n, "--%s=%s", o->name,
                  o->arg ? o->arg : "VALUE");
}

/* Words of text, wrapped at 79 columns, lines after the first indented
 * by indent; col is where the text starts. */
static void print_wrapped (FILE *f, const char *text, int col, int indent)
{
    const char *s = text;
    bool first = true;
    while (*s) {
        while (*s == ' ')
            s++;
        size_t wl = strcspn (s, " ");
        if (wl == 0)
            break;
        if (!first && col + 1 + (int)wl > 79) {
            fprintf (f, "\n%*s", indent, "");
            col = indent;
            first = true;
        }
        if (!first) {
            fputc (' ', f);
            col++;
        }
        fwrite (s, 1, wl, f);
        col += (int)wl;
        s += wl;
        first = false;
    }
    fputc ('\n', f);
}

static const optparse_option_t help_option = {
    .name = "help", .key = 'h', .help = "show this help and exit",
};

static void print_option_help (FILE *f, const optparse_option_t *o)
{
    char spell[128], text[512];
    option_spelling (o, spell, sizeof (spell));
    if (o->alias)
        snprintf (text, sizeof (text), "%s (also --%s)", o->help, o->alias);
    else
        snprintf (text, sizeof (text), "%s", o->help);
    const int width = 26;
    int n = fprintf (f, "  %s", spell);
    if (n > width) {
        fprintf (f, "\n%*s", width + 2, "");
        n = width;
    }
    else
        fprintf (f, "%*s", width + 2 - n, "");
    print_wrapped (f, text, width + 2, width + 2);
}

static void print_command_list (FILE *f, const optparse_cmd_t *table,
                                const char *prefix)
{
    for (const optparse_cmd_t *c = table; c->name; c++) {
        if (c->flags & OPTPARSE_CMD_HIDDEN)
            continue;
        char name[64];
        snprintf (name, sizeof (name), "%s%s", prefix, c->name);
        fprintf (f, "  %-16s ", name);
        print_wrapped (f, c->summary, 19, 19);
    }
}

static void print_sentence (FILE *f, const char *s)
{
    if (!s || !*s)
        return;
    char buf[512];
    snprintf (buf, sizeof (buf), "%c%s.", toupper ((unsigned char)s[0]),
              s + 1);
    print_wrapped (f, buf, 0, 0);
}

void optparse_print_help (FILE *f, const char *prog, const char *fullname,
                          const optparse_cmd_t *c,
                          const optparse_cmd_t *table)
{
    if (!c) {
        fprintf (f, "usage: %s COMMAND [ARGS]\n\nCommands:\n", prog);
        print_command_list (f, table, "");
        char text[512];
        snprintf (text, sizeof (text), "`%s COMMAND --help` (or `%s help "
                  "COMMAND`) shows a command's options; `man %s` has the "
                  "details.", prog, prog, prog);
        fputc ('\n', f);
        print_wrapped (f, text, 0, 0);
        print_wrapped (f, "Exit status: 0 success, 1 a datum failed or the "
                       "job was stopped, 2 usage, spec or environment error.",
                       0, 0);
        return;
    }
    optparse_print_usage (f, prog, fullname, c);
    print_sentence (f, c->summary);
    if (c->description) {
        fputc ('\n', f);
        print_wrapped (f, c->description, 0, 0);
    }
    if (c->sub) {
        fprintf (f, "\nCommands:\n");
        print_command_list (f, c->sub, "");
        fprintf (f, "\n`%s %s COMMAND --help` shows a command's options.\n"
                 "\nOptions:\n", prog, fullname);
        print_option_help (f, &help_option);
        return;
    }
    fprintf (f, "\nOptions:\n");
    for (size_t i = 0; i < nrows (c->options); i++)
        if (!(c->options[i].flags & OPTPARSE_HIDDEN))
            print_option_help (f, &c->options[i]);
    print_option_help (f, &help_option);
}

void optparse_print_options (FILE *f, const optparse_cmd_t *c)
{
    for (size_t i = 0; i < nrows (c->options); i++) {
        const optparse_option_t *o = &c->options[i];
        if (o->flags & OPTPARSE_HIDDEN)
            continue;
        fprintf (f, "--%s\n", o->name);
        if (o->alias)
            fprintf (f, "--%s\n", o->alias);
        if (o->key)
            fprintf (f, "-%c\n", o->key);
    }
    fprintf (f, "--help\n-h\n");
}

void optparse_print_commands (FILE *f, const optparse_cmd_t *table)
{
    for (const optparse_cmd_t *c = table; c->name; c++) {
        if (c->flags & OPTPARSE_CMD_HIDDEN)
            continue;
        fprintf (f, "%s\n", c->name);
        for (const optparse_cmd_t *s = c->sub; s && s->name; s++)
            if (!(s->flags & OPTPARSE_CMD_HIDDEN))
                fprintf (f, "%s %s\n", c->name, s->name);
    }
}

/* -------------------------------------------------------------- parsing */

int optparse_error (const optparse_t *p, const char *fmt, ...)
{
    va_list ap;
    fprintf (stderr, "%s %s: ", p->prog, p->fullname);
    va_start (ap, fmt);
    vfprintf (stderr, fmt, ap);
    va_end (ap);
    fputc ('\n', stderr);
    optparse_print_usage (stderr, p->prog, p->fullname, p->cmd);
    fprintf (stderr, "`%s %s --help` lists the options.\n", p->prog,
             p->fullname);
    return OPTPARSE_EXIT_USAGE;
}

static int find_long (const optparse_t *p, const char *name, size_t len)
{
    for (size_t i = 0; i < p->nopts; i++) {
        const optparse_option_t *o = &p->cmd->options[i];
        if ((strlen (o->name) == len && !strncmp (o->name, name, len))
            || (o->alias && strlen (o->alias) == len
                && !strncmp (o->alias, name, len)))
            return (int)i;
    }
    return -1;
}

static int find_short (const optparse_t *p, int key)
{
    for (size_t i = 0; i < p->nopts; i++)
        if (p->cmd->options[i].key == key)
            return (int)i;
    return -1;
}

static bool is_sbatch_long (const char *name)
{
    for (size_t i = 0; i < sizeof (sbatch_long) / sizeof (*sbatch_long); i++)
        if (!strcmp (sbatch_long[i], name))
            return true;
    return false;
}

static int unknown_long (const optparse_t *p, const char *word, size_t len)
{
    char name[128];
    snprintf (name, sizeof (name), "%.*s", (int)len, word + 2);
    if ((p->cmd->flags & OPTPARSE_CMD_SBATCH_HINT) && is_sbatch_long (name))
        return optparse_error (p, "unknown option '%s': sbatch's own options "
                               "go after '--', as in `%s %s SPEC -- %s`",
                               word, p->prog, p->fullname, word);
    const char **cands = xcalloc (2 * p->nopts + 1, sizeof (char *));
    size_t n = 0;
    for (size_t i = 0; i < p->nopts; i++) {
        const optparse_option_t *o = &p->cmd->options[i];
        if (o->flags & OPTPARSE_HIDDEN)
            continue;
        cands[n++] = o->name;
        if (o->alias)
            cands[n++] = o->alias;
    }
    cands[n++] = "help";
    const char *s = optparse_suggest (name, cands, n);
    int rc;
    if (s)
        rc = optparse_error (p, "unknown option '%s'; did you mean '--%s'?",
                             word, s);
    else
        rc = optparse_error (p, "unknown option '%s'", word);
    free (cands);
    return rc;
}

static int unknown_short (const optparse_t *p, const char *word, int key)
{
    /* "-state-dir" for "--state-dir": a long option with one dash. */
    if (strlen (word) > 2) {
        const char *name = word + 1;
        size_t len = strcspn (name, "=");
        if (find_long (p, name, len) >= 0)
            return optparse_error (p, "unknown option '%s'; did you mean "
                                   "'-%s'?", word, word);
    }
    if ((p->cmd->flags & OPTPARSE_CMD_SBATCH_HINT) && key
        && strchr (sbatch_short, key))
        return optparse_error (p, "unknown option '-%c': sbatch's own options "
                               "go after '--', as in `%s %s SPEC -- -%c ...`",
                               key, p->prog, p->fullname, key);
    return optparse_error (p, "unknown option '-%c'", key);
}

static int check_value (const optparse_t *p, const optparse_option_t *o,
                        const char *spelled, const char *v)
{
    char *end;
    switch (o->type) {
    case OPTPARSE_INT: {
        long min = o->min, max = o->max ? o->max : INT_MAX;
        errno = 0;
        long n = strtol (v, &end, 10);
        if (!*v || *end || (errno && errno != ERANGE))
            return optparse_error (p, "%s: '%s' is not a whole number",
                                   spelled, v);
        if (errno == ERANGE || n < min || n > max)
            return optparse_error (p, "%s: %s is out of range (%ld to %ld)",
                                   spelled, v, min, max);
        return 0;
    }
    case OPTPARSE_NUM: {
        errno = 0;
        double d = strtod (v, &end);
        if (!*v || *end || errno || !isfinite (d) || d < 0)
            return optparse_error (p, "%s: '%s' is not a number of 0 or more",
                                   spelled, v);
        return 0;
    }
    case OPTPARSE_CHOICE: {
        char words[256];
        const char *cands[32];
        size_t n = 0;
        snprintf (words, sizeof (words), "%s", o->arg ? o->arg : "");
        for (char *save = NULL, *w = strtok_r (words, "|", &save);
             w && n < 32; w = strtok_r (NULL, "|", &save)) {
            if (!strcmp (w, v))
                return 0;
            cands[n++] = w;
        }
        const char *s = optparse_suggest (v, cands, n);
        if (s)
            return optparse_error (p, "%s: '%s' is not one of %s; did you "
                                   "mean '%s'?", spelled, v, o->arg, s);
        return optparse_error (p, "%s: '%s' is not one of %s", spelled, v,
                               o->arg);
    }
    default:
        return 0;
    }
}

/* Record one use of option i with value v (NULL for a flag). */
static int take (optparse_t *p, int i, const char *spelled, const char *v)
{
    const optparse_option_t *o = &p->cmd->options[i];
    if (v && check_value (p, o, spelled, v))
        return -1;
    p->count[i]++;
    if (v)
        p->value[i] = v;
    return 0;
}

static int parse_words (optparse_t *p, int argc, char **argv)
{
    int minpos, maxpos;
    for (int i = 0; i < argc; i++) {
        char *w = argv[i];
        int first = i;
        if (!strcmp (w, "--")) {
            if (p->cmd->flags & OPTPARSE_CMD_EXTRA) {
                p->extra = argv + i + 1;
                p->nextra = argc - i - 1;
            }
            else
                for (int k = i + 1; k < argc; k++)
                    p->pos[p->npos++] = argv[k];
            break;
        }
        if (w[0] == '-' && w[1] == '-') {
            const char *name = w + 2;
            const char *eq = strchr (name, '=');
            size_t len = eq ? (size_t)(eq - name) : strlen (name);
            int k = find_long (p, name, len);
            if (k < 0)
                return unknown_long (p, w, len), -1;
            const optparse_option_t *o = &p->cmd->options[k];
            char spelled[128];
            snprintf (spelled, sizeof (spelled), "%.*s", (int)len + 2, w);
            if (o->type == OPTPARSE_FLAG) {
                if (eq)
                    return optparse_error (p, "option '%s' takes no "
                                           "argument", spelled), -1;
                take (p, k, spelled, NULL);
            }
            else {
                const char *v = eq ? eq + 1 : NULL;
                if (!v && i + 1 < argc)
                    v = argv[++i];
                if (!v)
                    return optparse_error (p, "option '%s' needs an argument "
                                           "(%s)", spelled,
                                           o->arg ? o->arg : "VALUE"), -1;
                if (take (p, k, spelled, v) < 0)
                    return -1;
            }
        }
        else if (w[0] == '-' && w[1]) {
            for (const char *s = w + 1; *s; s++) {
                int k = find_short (p, (unsigned char)*s);
                if (k < 0)
                    return unknown_short (p, w, (unsigned char)*s), -1;
                const optparse_option_t *o = &p->cmd->options[k];
                char spelled[4] = { '-', *s, '\0', '\0' };
                if (o->type == OPTPARSE_FLAG) {
                    take (p, k, spelled, NULL);
                    continue;
                }
                const char *v = s[1] ? s + 1 : NULL;
                if (!v && i + 1 < argc)
                    v = argv[++i];
                if (!v)
                    return optparse_error (p, "option '%s' needs an argument "
                                           "(%s)", spelled,
                                           o->arg ? o->arg : "VALUE"), -1;
                if (take (p, k, spelled, v) < 0)
                    return -1;
                break;
            }
        }
        else {
            p->pos[p->npos++] = w;
            continue;
        }
        for (int k = first; k <= i; k++)
            p->optv[p->noptv++] = argv[k];
    }
    optparse__arg_counts (p->cmd->args, &minpos, &maxpos);
    if (p->npos < minpos)
        return optparse_error (p, "missing %s", p->npos ? "arguments"
                               : p->cmd->args), -1;
    if (maxpos >= 0 && p->npos > maxpos)
        return optparse_error (p, "unexpected argument '%s'",
                               p->pos[maxpos]), -1;
    return 0;
}

static bool wants_help (int argc, char **argv)
{
    for (int i = 0; i < argc; i++) {
        if (!strcmp (argv[i], "--"))
            return false;
        if (!strcmp (argv[i], "--help") || !strcmp (argv[i], "-h"))
            return true;
    }
    return false;
}

static int unknown_command (const char *prog, const char *group,
                            const optparse_cmd_t *table, const char *word)
{
    const char *s = suggest_command (table, word);
    fprintf (stderr, "%s%s%s: unknown command '%s'", prog, group ? " " : "",
             group ? group : "", word);
    if (s)
        fprintf (stderr, "; did you mean '%s'?", s);
    fprintf (stderr, "\n`%s%s%s --help` lists the commands.\n", prog,
             group ? " " : "", group ? group : "");
    return OPTPARSE_EXIT_USAGE;
}

int optparse_main (const optparse_cmd_t *table, const char *prog, int argc,
                   char **argv)
{
    if (argc < 2) {
        optparse_print_help (stderr, prog, NULL, NULL, table);
        return OPTPARSE_EXIT_USAGE;
    }
    if (!strcmp (argv[1], "--help") || !strcmp (argv[1], "-h")) {
        optparse_print_help (stdout, prog, NULL, NULL, table);
        return 0;
    }
    const optparse_cmd_t *c = find_name (table, argv[1]);
    if (!c)
        return unknown_command (prog, NULL, table, argv[1]);
    char fullname[128];
    snprintf (fullname, sizeof (fullname), "%s", c->name);
    int nargs = argc - 2;
    char **args = argv + 2;
    if (c->sub) {
        if (nargs == 0) {
            optparse_print_help (stderr, prog, fullname, c, table);
            return OPTPARSE_EXIT_USAGE;
        }
        if (!strcmp (args[0], "--help") || !strcmp (args[0], "-h")) {
            optparse_print_help (stdout, prog, fullname, c, table);
            return 0;
        }
        const optparse_cmd_t *s = find_name (c->sub, args[0]);
        if (!s)
            return unknown_command (prog, c->name, c->sub, args[0]);
        snprintf (fullname, sizeof (fullname), "%s %s", c->name, s->name);
        c = s;
        nargs--;
        args++;
    }
    if (wants_help (nargs, args)) {
        optparse_print_help (stdout, prog, fullname, c, table);
        return 0;
    }
    optparse_t p = { .prog = prog, .cmd = c, .argv = args, .argc = nargs };
    snprintf (p.fullname, sizeof (p.fullname), "%s", fullname);
    p.nopts = nrows (c->options);
    p.count = xcalloc (p.nopts, sizeof (int));
    p.value = xcalloc (p.nopts, sizeof (char *));
    p.pos = xcalloc ((size_t)nargs + 1, sizeof (char *));
    p.optv = xcalloc ((size_t)nargs + 1, sizeof (char *));
    static char *no_extra[1] = { NULL };
    p.extra = no_extra;
    int rc = OPTPARSE_EXIT_USAGE;
    if (parse_words (&p, nargs, args) == 0)
        rc = c->fn (&p);
    free (p.count);
    free (p.value);
    free (p.pos);
    free (p.optv);
    return rc;
}

/* ------------------------------------------------------------- man page */

/* Text for roff: backslashes and dashes escaped, never a control line. */
static void roff (FILE *f, const char *s)
{
    if (*s == '.' || *s == '\'')
        fputs ("\\&", f);
    for (; *s; s++) {
        if (*s == '\\')
            fputs ("\\e", f);
        else if (*s == '-')
            fputs ("\\-", f);
        else
            fputc (*s, f);
    }
}

static void man_synopsis (FILE *f, const char *prog, const char *prefix,
                          const optparse_cmd_t *table)
{
    for (const optparse_cmd_t *c = table; c->name; c++) {
        if (c->flags & OPTPARSE_CMD_HIDDEN)
            continue;
        if (c->sub) {
            char pre[64];
            snprintf (pre, sizeof (pre), "%s%s ", prefix, c->name);
            man_synopsis (f, prog, pre, c->sub);
            continue;
        }
        fprintf (f, "\\fB%s %s%s\\fR", prog, prefix, c->name);
        if (c->args && *c->args) {
            fputs (" \\fI", f);
            roff (f, c->args);
            fputs ("\\fR", f);
        }
        if (nrows (c->options))
            fputs (" [\\fIoptions\\fR]", f);
        if (c->extra) {
            fputc (' ', f);
            roff (f, c->extra);
        }
        fputs ("\n.br\n", f);
    }
}

static void man_option (FILE *f, const optparse_option_t *o)
{
    fputs (".TP\n", f);
    if (o->key)
        fprintf (f, "\\fB\\-%c\\fR, ", o->key);
    fputs ("\\fB\\-\\-", f);
    roff (f, o->name);
    fputs ("\\fR", f);
    if (o->type != OPTPARSE_FLAG) {
        fputs ("=\\fI", f);
        roff (f, o->arg ? o->arg : "VALUE");
        fputs ("\\fR", f);
    }
    fputc ('\n', f);
    roff (f, o->help);
    if (o->alias) {
        fputs (" (also \\fB\\-\\-", f);
        roff (f, o->alias);
        fputs ("\\fR)", f);
    }
    fputs (".\n", f);
}

static void man_commands (FILE *f, const char *prefix,
                          const optparse_cmd_t *table)
{
    for (const optparse_cmd_t *c = table; c->name; c++) {
        if (c->flags & OPTPARSE_CMD_HIDDEN)
            continue;
        fputs (".SS \"", f);
        roff (f, prefix);
        roff (f, c->name);
        if (c->args && *c->args) {
            fputc (' ', f);
            roff (f, c->args);
        }
        if (c->sub)
            fputs (" COMMAND ...", f);
        else if (nrows (c->options))
            fputs (" [options]", f);
        if (c->extra) {
            fputc (' ', f);
            roff (f, c->extra);
        }
        fputs ("\"\n", f);
        char buf[512];
        snprintf (buf, sizeof (buf), "%c%s.",
                  toupper ((unsigned char)c->summary[0]), c->summary + 1);
        roff (f, buf);
        fputc ('\n', f);
        if (c->description) {
            fputs (".PP\n", f);
            roff (f, c->description);
            fputc ('\n', f);
        }
        if (c->sub) {
            char pre[64];
            snprintf (pre, sizeof (pre), "%s%s ", prefix, c->name);
            man_commands (f, pre, c->sub);
            continue;
        }
        for (size_t i = 0; i < nrows (c->options); i++)
            if (!(c->options[i].flags & OPTPARSE_HIDDEN))
                man_option (f, &c->options[i]);
        man_option (f, &help_option);
    }
}

int optparse_print_man (FILE *f, const char *prog, const char *version,
                        const char *template_path,
                        const optparse_cmd_t *table)
{
    FILE *t = fopen (template_path, "r");
    if (!t)
        return -1;
    char *line = NULL;
    size_t cap = 0;
    ssize_t n;
    const char *base = strrchr (template_path, '/');
    fprintf (f, ".\\\" Generated by `%s help --man` from %s and the option "
             "tables in runner/; edit those, not this file.\n", prog,
             base ? base + 1 : template_path);
    while ((n = getline (&line, &cap, t)) >= 0) {
        if (!strcmp (line, "@SYNOPSIS@\n"))
            man_synopsis (f, prog, "", table);
        else if (!strcmp (line, "@COMMANDS@\n"))
            man_commands (f, "", table);
        else {
            char *at;
            char *s = line;
            while ((at = strstr (s, "@VERSION@"))) {
                fwrite (s, 1, (size_t)(at - s), f);
                fputs (version, f);
                s = at + strlen ("@VERSION@");
            }
            fputs (s, f);
        }
    }
    free (line);
    int e = ferror (t) ? EIO : 0;
    fclose (t);
    if (e) {
        errno = e;
        return -1;
    }
    return 0;
}

/* ------------------------------------------------------ bash completion */

static const char *comp_kind (optparse_complete_t k)
{
    switch (k) {
    case OPTPARSE_COMP_FILE:
        return "file";
    case OPTPARSE_COMP_DIR:
        return "dir";
    case OPTPARSE_COMP_SPEC:
        return "spec";
    case OPTPARSE_COMP_COMMAND:
        return "command";
    default:
        return "none";
    }
}

/* What each positional argument of c is, from the words of its synopsis
 * ("SPEC JOB DATUM" -> "spec,job,datum"); a word it does not know takes
 * c->complete. */
static void arg_kinds (const optparse_cmd_t *c, char *buf, size_t len)
{
    static const struct {
        const char *word;
        const char *kind;
    } known[] = {
        { "SUBCOMMAND", "subcommand" }, { "COMMAND", "command" },
        { "SPEC", "spec" },       { "DATUM", "datum" },
        { "JOB", "job" },         { "DIR", "dir" },
        { "FILE", "file" },
    };
    size_t off = 0;
    buf[0] = '\0';
    const char *s = c->args ? c->args : "";
    while (*s) {
        while (*s == ' ')
            s++;
        size_t wl = strcspn (s, " ");
        if (!wl)
            break;
        const char *kind = comp_kind (c->complete);
        for (size_t i = 0; i < sizeof (known) / sizeof (*known); i++)
            if (memmem (s, wl, known[i].word, strlen (known[i].word))) {
                kind = known[i].kind;
                break;
            }
        bool more = memmem (s, wl, "...", 3) != NULL;
        int n = snprintf (buf + off, len - off, "%s%s%s", off ? "," : "",
                          kind, more ? "..." : "");
        if (n < 0 || (size_t)n >= len - off)
            break;
        off += (size_t)n;
        s += wl;
    }
    if (!off)
        snprintf (buf, len, "none");
}

static void bash_words (FILE *f, const optparse_cmd_t *c)
{
    bool sp = false;
    for (size_t i = 0; i < nrows (c->options); i++) {
        const optparse_option_t *o = &c->options[i];
        if (o->flags & OPTPARSE_HIDDEN)
            continue;
        fprintf (f, "%s--%s", sp ? " " : "", o->name);
        sp = true;
        if (o->key)
            fprintf (f, " -%c", o->key);
    }
    fprintf (f, "%s--help", sp ? " " : "");
}

static void bash_cases (FILE *f, const char *prefix,
                        const optparse_cmd_t *table, bool optargs)
{
    for (const optparse_cmd_t *c = table; c->name; c++) {
        char full[128];
        snprintf (full, sizeof (full), "%s%s", prefix, c->name);
        if (c->sub) {
            if (!optargs) {
                fprintf (f, "    \"%s\") echo \"sub ", full);
                bool sp = false;
                for (const optparse_cmd_t *s = c->sub; s->name; s++) {
                    if (s->flags & OPTPARSE_CMD_HIDDEN)
                        continue;
                    fprintf (f, "%s%s", sp ? " " : "", s->name);
                    sp = true;
                }
                fprintf (f, "\" ;;\n");
            }
            char pre[160];
            snprintf (pre, sizeof (pre), "%s ", full);
            bash_cases (f, pre, c->sub, optargs);
            continue;
        }
        if (!optargs) {
            char kinds[256];
            arg_kinds (c, kinds, sizeof (kinds));
            fprintf (f, "    \"%s\") echo \"%s %s ", full, kinds,
                     c->flags & OPTPARSE_CMD_EXTRA ? "extra" : "-");
            bash_words (f, c);
            fprintf (f, "\" ;;\n");
            continue;
        }
        for (size_t i = 0; i < nrows (c->options); i++) {
            const optparse_option_t *o = &c->options[i];
            if (o->type == OPTPARSE_FLAG)
                continue;
            fprintf (f, "    \"%s --%s\"", full, o->name);
            if (o->alias)
                fprintf (f, "|\"%s --%s\"", full, o->alias);
            if (o->key)
                fprintf (f, "|\"%s -%c\"", full, o->key);
            if (o->type == OPTPARSE_CHOICE) {
                fprintf (f, ") echo \"words ");
                for (const char *s = o->arg; s && *s; s++)
                    fputc (*s == '|' ? ' ' : *s, f);
                fprintf (f, "\" ;;\n");
            }
            else
                fprintf (f, ") echo %s ;;\n", comp_kind (o->complete));
        }
    }
}

/* The part of the completion script that does not depend on the tables.
 * _datumrun_cmd CMD prints "KINDS EXTRA OPTIONS...": KINDS the positional
 * arguments' kinds separated by commas (a last one ending in "..."
 * repeats), EXTRA "extra" when "--" hands the rest on. */
static const char bash_tail[] =
    "_datumrun_files() { # _datumrun_files KIND: folders, and *.json for specs\n"
    "    local IFS=$'\\n'\n"
    "    compopt -o filenames 2>/dev/null\n"
    "    case \"$1\" in\n"
    "    spec) COMPREPLY=($(compgen -d -- \"$cur\") $(compgen -f -X '!*.json' -- \"$cur\")) ;;\n"
    "    dir) COMPREPLY=($(compgen -d -- \"$cur\")) ;;\n"
    "    *) COMPREPLY=($(compgen -f -- \"$cur\")) ;;\n"
    "    esac\n"
    "}\n"
    "\n"
    "_datumrun_ids() { # _datumrun_ids LIST-COMMAND ARGS...: the IDs it lists\n"
    "    local ids\n"
    "    ids=$(\"${COMP_WORDS[0]}\" \"$@\" --json 2>/dev/null \\\n"
    "          | grep -oE '\"(job_)?id\":\"[0-9a-f]+\"' | cut -d'\"' -f4)\n"
    "    COMPREPLY=($(compgen -W \"$ids\" -- \"$cur\"))\n"
    "}\n"
    "\n"
    "_datumrun_kind() { # _datumrun_kind KIND\n"
    "    case \"$1\" in\n"
    "    spec|dir|file) _datumrun_files \"$1\" ;;\n"
    "    command) COMPREPLY=($(compgen -W \"$_datumrun_commands\" -- \"$cur\")) ;;\n"    "    subcommand)\n"
    "        local sub\n"
    "        sub=$(_datumrun_cmd \"${pos[0]}\") && [ \"${sub%% *}\" = sub ] \\\n"
    "            && COMPREPLY=($(compgen -W \"${sub#sub }\" -- \"$cur\")) ;;\n"
    "    job) [ ${#pos[@]} -ge 1 ] && _datumrun_ids list-job \"${pos[0]}\" \"${sd[@]}\" ;;\n"
    "    datum)\n"
    "        # SPEC JOB DATUM: that job's datums; SPEC DATUM: the latest's.\n"
    "        if [ ${#pos[@]} -ge 2 ]; then\n"
    "            _datumrun_ids list-datum \"${pos[0]}\" \"${pos[1]}\" \"${sd[@]}\"\n"
    "        elif [ ${#pos[@]} -eq 1 ]; then\n"
    "            _datumrun_ids list-datum \"${pos[0]}\" \"${sd[@]}\"\n"
    "        fi ;;\n"
    "    *) COMPREPLY=() ;;\n"
    "    esac\n"
    "}\n"
    "\n"
    "_datumrun() {\n"
    "    local cur=${COMP_WORDS[COMP_CWORD]} prev=${COMP_WORDS[COMP_CWORD-1]}\n"
    "    local i=2 cmd info kinds extra words w arg\n"
    "    local -a pos=() sd=()\n"
    "    COMPREPLY=()\n"
    "    if [ \"$COMP_CWORD\" -le 1 ]; then\n"
    "        COMPREPLY=($(compgen -W \"$_datumrun_commands --help --version\" -- \"$cur\"))\n"
    "        return 0\n"
    "    fi\n"
    "    cmd=${COMP_WORDS[1]}\n"
    "    info=$(_datumrun_cmd \"$cmd\") || return 0\n"
    "    if [ \"${info%% *}\" = sub ]; then\n"
    "        if [ \"$COMP_CWORD\" -eq 2 ]; then\n"
    "            COMPREPLY=($(compgen -W \"${info#sub } --help\" -- \"$cur\"))\n"
    "            return 0\n"
    "        fi\n"
    "        cmd=\"$cmd ${COMP_WORDS[2]}\"\n"
    "        info=$(_datumrun_cmd \"$cmd\") || return 0\n"
    "        i=3\n"
    "    fi\n"
    "    read -r kinds extra words <<< \"$info\"\n"
    "    # The positional arguments so far; options and their values left out.\n"
    "    for ((; i < COMP_CWORD; i++)); do\n"
    "        w=${COMP_WORDS[i]}\n"
    "        if [ \"$w\" = -- ]; then\n"
    "            # What follows is handed on as it is (sbatch's options).\n"
    "            [ \"$extra\" = extra ] && return 0\n"
    "            continue\n"
    "        fi\n"
    "        if [ \"$w\" = = ]; then                    # --opt=VALUE, split by bash\n"
    "            [ \"${COMP_WORDS[i-1]}\" = --state-dir ] || [ \"${COMP_WORDS[i-1]}\" = --state ] \\\n"
    "                && sd=(--state-dir \"${COMP_WORDS[i+1]}\")\n"
    "            i=$((i + 1))\n"
    "            continue\n"
    "        fi\n"
    "        if [[ \"$w\" == --*=* ]]; then         # the same, not split\n"
    "            case \"${w%%=*}\" in\n"
    "            --state-dir|--state) sd=(--state-dir \"${w#*=}\") ;;\n"
    "            esac\n"
    "            continue\n"
    "        fi\n"
    "        if [[ \"$w\" == -?* ]]; then\n"
    "            if [ \"${COMP_WORDS[i+1]}\" != = ] && _datumrun_optarg \"$cmd\" \"$w\" >/dev/null; then\n"
    "                [ \"$w\" = --state-dir ] || [ \"$w\" = --state ] && sd=(--state-dir \"${COMP_WORDS[i+1]}\")\n"
    "                i=$((i + 1))\n"
    "            fi\n"
    "            continue\n"
    "        fi\n"
    "        pos+=(\"$w\")\n"
    "    done\n"
    "    if [ \"$cur\" = = ]; then\n"
    "        cur=\n"
    "    elif [ \"$prev\" = = ]; then\n"
    "        prev=${COMP_WORDS[COMP_CWORD-2]}\n"
    "    fi\n"
    "    if [[ \"$prev\" == -?* ]] && arg=$(_datumrun_optarg \"$cmd\" \"$prev\"); then\n"
    "        if [ \"${arg%% *}\" = words ]; then\n"
    "            COMPREPLY=($(compgen -W \"${arg#words }\" -- \"$cur\"))\n"
    "        else\n"
    "            _datumrun_kind \"$arg\"\n"
    "        fi\n"
    "        return 0\n"
    "    fi\n"
    "    if [[ \"$cur\" == -* ]]; then\n"
    "        COMPREPLY=($(compgen -W \"$words\" -- \"$cur\"))\n"
    "        return 0\n"
    "    fi\n"
    "    # The kind of the next positional argument; a last kind ending in\n"
    "    # \"...\" repeats.\n"
    "    local -a k\n"
    "    IFS=, read -r -a k <<< \"$kinds\"\n"
    "    local n=${#pos[@]} last=$((${#k[@]} - 1)) kind=none\n"
    "    if [ \"$n\" -le \"$last\" ]; then\n"
    "        kind=${k[n]}\n"
    "    elif [ \"$last\" -ge 0 ] && [[ \"${k[last]}\" == *... ]]; then\n"
    "        kind=${k[last]}\n"
    "    fi\n"
    "    _datumrun_kind \"${kind%...}\"\n"
    "    return 0\n"
    "}\n"
;

void optparse_print_bash (FILE *f, const char *prog,
                          const optparse_cmd_t *table)
{
    fprintf (f, "# bash completion for %s, generated from its option tables "
             "by `%s help --bash-completion`.\n", prog, prog);
    fprintf (f, "# Completes commands, options, option values and pipeline "
             "specs (*.json).\n\n");
    /* What a command takes: "KIND EXTRA OPTIONS..." or "sub NAMES...". */
    fprintf (f, "_datumrun_cmd() {\n    case \"$1\" in\n");
    bash_cases (f, "", table, false);
    fprintf (f, "    *) return 1 ;;\n    esac\n}\n\n");
    /* What an option's argument is: none, file, dir, spec, words LIST. */
    fprintf (f, "_datumrun_optarg() {\n    case \"$1 $2\" in\n");
    bash_cases (f, "", table, true);
    fprintf (f, "    *) return 1 ;;\n    esac\n}\n\n");
    fprintf (f, "_datumrun_commands=\"");
    bool sp = false;
    for (const optparse_cmd_t *c = table; c->name; c++) {
        if (c->flags & OPTPARSE_CMD_HIDDEN)
            continue;
        fprintf (f, "%s%s", sp ? " " : "", c->name);
        sp = true;
    }
    fprintf (f, "\"\n\n");
    fputs (bash_tail, f);
    fprintf (f, "complete -F _datumrun %s\n", prog);
}
