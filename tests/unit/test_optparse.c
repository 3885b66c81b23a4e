/* test_optparse.c: the option tables (runner/optparse.c) without the rest
 * of datumrun: parsing, did-you-mean, positional counts, and that help,
 * man page and completion carry every option of a table.
 */
#define _GNU_SOURCE
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "runner/optparse.h"

/* What the test command saw. */
static struct seen {
    int calls;
    int workers;
    double grace;
    const char *state;
    const char *bind;
    int quiet;
    int npos;
    const char *pos0;
    int nextra;
    const char *extra0;
    int noptv;
    char *optv;
} seen;

static const optparse_option_t opts[] = {
    { .name = "workers", .key = 'n', .type = OPTPARSE_INT, .arg = "N",
      .min = 1, .max = 100, .help = "worker ranks" },
    { .name = "grace", .type = OPTPARSE_NUM, .arg = "SECONDS",
      .help = "grace period" },
    { .name = "state-dir", .type = OPTPARSE_STR, .arg = "DIR",
      .alias = "state", .complete = OPTPARSE_COMP_DIR,
      .help = "state folder" },
    { .name = "bind", .type = OPTPARSE_CHOICE, .arg = "core|none",
      .help = "binding" },
    { .name = "quiet", .key = 'q', .help = "quiet" },
    { .name = "secret", .flags = OPTPARSE_HIDDEN, .help = "hidden" },
    OPTPARSE_END,
};

static int fn (optparse_t *p)
{
    seen.calls++;
    seen.workers = optparse_int (p, "workers", -1);
    seen.grace = optparse_num (p, "grace", 30);
    seen.state = optparse_str (p, "state-dir", NULL);
    seen.bind = optparse_str (p, "bind", "core");
    seen.quiet = optparse_count (p, "quiet");
    seen.npos = optparse_npos (p);
    seen.pos0 = optparse_pos (p, 0);
    char **x = optparse_extra (p, &seen.nextra);
    seen.extra0 = x[0];
    char **ov = optparse_optv (p, &seen.noptv);
    size_t len = 0;
    for (int i = 0; i < seen.noptv; i++)
        len += strlen (ov[i]) + 1;
    free (seen.optv);
    seen.optv = calloc (len + 1, 1);
    for (int i = 0; i < seen.noptv; i++) {
        strcat (seen.optv, ov[i]);
        strcat (seen.optv, " ");
    }
    return 0;
}

static const optparse_cmd_t sub[] = {
    { .name = "go", .args = "DIR|SPEC...", .summary = "go", .fn = fn,
      .options = opts },
    { .name = NULL },
};

static const optparse_cmd_t table[] = {
    { .name = "run", .args = "SPEC", .summary = "run it", .fn = fn,
      .options = opts, .complete = OPTPARSE_COMP_SPEC },
    { .name = "show", .args = "SPEC [JOB]", .summary = "show", .fn = fn },
    { .name = "sbatch", .args = "SPEC", .summary = "batch", .fn = fn,
      .options = opts,
      .flags = OPTPARSE_CMD_EXTRA | OPTPARSE_CMD_SBATCH_HINT,
      .extra = "[-- SBATCH_ARGS...]" },
    { .name = "group", .summary = "a group", .sub = sub },
    { .name = NULL },
};

/* Run the table on a command line given as one string. */
static int run (const char *line)
{
    char *copy = strdup (line), *argv[32];
    int argc = 0;
    argv[argc++] = "prog";
    for (char *save = NULL, *w = strtok_r (copy, " ", &save); w && argc < 31;
         w = strtok_r (NULL, " ", &save))
        argv[argc++] = w;
    argv[argc] = NULL;
    memset (&seen, 0, sizeof (seen) - sizeof (char *));
    /* Messages and help go to /dev/null: only the statuses count here. */
    fflush (stdout);
    fflush (stderr);
    int out = dup (1), err = dup (2);
    FILE *null = fopen ("/dev/null", "w");
    dup2 (fileno (null), 1);
    dup2 (fileno (null), 2);
    int rc = optparse_main (table, "prog", argc, argv);
    fflush (stdout);
    fflush (stderr);
    dup2 (out, 1);
    dup2 (err, 2);
    close (out);
    close (err);
    fclose (null);
    /* Values point into copy: keep the ones the checks read. */
    static char keep[4][256];
    if (seen.state)
        seen.state = strcpy (keep[0], seen.state);
    if (seen.pos0)
        seen.pos0 = strcpy (keep[1], seen.pos0);
    if (seen.extra0)
        seen.extra0 = strcpy (keep[2], seen.extra0);
    if (seen.bind)
        seen.bind = strcpy (keep[3], seen.bind);
    free (copy);
    return rc;
}

static void test_distance (void **state)
{
    static const struct { const char *a, *b; int d; } cases[] = {
        { "", "", 0 },          { "run", "run", 0 },
        { "rn", "run", 1 },     { "reproces", "reprocess", 1 },
        { "nodse", "nodes", 1 },{ "abc", "xyz", 3 },
        { "state", "state-dir", 4 },
    };
    for (size_t i = 0; i < sizeof (cases) / sizeof (*cases); i++)
        assert_int_equal (optparse__distance (cases[i].a, cases[i].b),
                          cases[i].d);
}

static void test_suggest (void **state)
{
    const char *cmds[] = { "run", "plan", "list-job", "inspect-job",
                           "inspect-datum", "info" };
    size_t n = sizeof (cmds) / sizeof (*cmds);
    assert_string_equal (optparse_suggest ("rn", cmds, n), "run");
    assert_string_equal (optparse_suggest ("pln", cmds, n), "plan");
    assert_string_equal (optparse_suggest ("list-jobs", cmds, n), "list-job");
    assert_string_equal (optparse_suggest ("inspect-d", cmds, n),
                         "inspect-datum");
    assert_null (optparse_suggest ("inspect", cmds, n));  /* ambiguous */
    assert_null (optparse_suggest ("zzz", cmds, n));
    assert_null (optparse_suggest ("", cmds, n));
}

static void test_arg_counts (void **state)
{
    static const struct { const char *args; int min, max; } cases[] = {
        { NULL, 0, 0 },
        { "SPEC", 1, 1 },
        { "SPEC [JOB]", 1, 2 },
        { "SPEC JOB DATUM", 3, 3 },
        { "DIR|SPEC...", 1, -1 },
        { "[COMMAND [SUBCOMMAND]]", 0, 2 },
    };
    for (size_t i = 0; i < sizeof (cases) / sizeof (*cases); i++) {
        int min, max;
        optparse__arg_counts (cases[i].args, &min, &max);
        assert_int_equal (min, cases[i].min);
        assert_int_equal (max, cases[i].max);
    }
}

static void test_parse (void **state)
{
    assert_int_equal (run ("run s.json"), 0);
    assert_int_equal (seen.calls, 1);
    assert_int_equal (seen.workers, -1);
    assert_string_equal (seen.pos0, "s.json");
    assert_string_equal (seen.bind, "core");

    /* Long and short forms, "=", clusters, options after the spec. */
    assert_int_equal (run ("run -qn4 s.json --grace=2.5 --state-dir d"), 0);
    assert_int_equal (seen.workers, 4);
    assert_int_equal (seen.quiet, 1);
    assert_true (seen.grace == 2.5);
    assert_string_equal (seen.state, "d");
    assert_int_equal (seen.noptv, 4);
    assert_string_equal (seen.optv, "-qn4 --grace=2.5 --state-dir d ");

    /* The old spelling is an alias; the last value wins. */
    assert_int_equal (run ("run s.json --state old --workers 2 -n 3"), 0);
    assert_string_equal (seen.state, "old");
    assert_int_equal (seen.workers, 3);

    /* A hidden option still parses. */
    assert_int_equal (run ("run s.json --secret"), 0);

    /* Choices. */
    assert_int_equal (run ("run s.json --bind none"), 0);
    assert_string_equal (seen.bind, "none");
}

static void test_errors (void **state)
{
    const char *bad[] = {
        "run",                      /* missing SPEC */
        "run a b",                  /* too many */
        "run s.json --reproces",    /* unknown */
        "run s.json -x",
        "run s.json -n",            /* missing argument */
        "run s.json -n 0",          /* below min */
        "run s.json -n 101",        /* above max */
        "run s.json -n 2x",
        "run s.json --grace -1",
        "run s.json --grace nan",
        "run s.json --bind cores",
        "run s.json --quiet=yes",   /* a flag takes no value */
        "rn s.json",                /* unknown command */
        "group",                    /* group without a subcommand */
        "group og x",
        "group go",                 /* needs one spec at least */
        "sbatch s.json --mem=4G",   /* sbatch's option: hint at -- */
    };
    for (size_t i = 0; i < sizeof (bad) / sizeof (*bad); i++) {
        int rc = run (bad[i]);
        if (rc != OPTPARSE_EXIT_USAGE)
            fail_msg ("'%s' gave %d", bad[i], rc);
        assert_int_equal (seen.calls, 0);
    }
}

static void test_help_and_extra (void **state)
{
    /* --help anywhere before "--" wins, exit 0, the command never runs. */
    assert_int_equal (run ("run --help"), 0);
    assert_int_equal (seen.calls, 0);
    assert_int_equal (run ("run s.json --bogus -h"), 0);
    assert_int_equal (seen.calls, 0);
    assert_int_equal (run ("group --help"), 0);
    assert_int_equal (run ("group go --help"), 0);
    assert_int_equal (run ("--help"), 0);
    assert_int_equal (run ("show --help"), 0);

    /* After "--": handed on (EXTRA) or positional. */
    assert_int_equal (run ("sbatch s.json -- --mem=4G -h"), 0);
    assert_int_equal (seen.calls, 1);
    assert_int_equal (seen.nextra, 2);
    assert_string_equal (seen.extra0, "--mem=4G");
    assert_int_equal (run ("run -- -odd.json"), 0);
    assert_string_equal (seen.pos0, "-odd.json");

    assert_int_equal (run ("group go a b c -n 2"), 0);
    assert_int_equal (seen.npos, 3);
    assert_int_equal (seen.workers, 2);
}

static char *capture (void (*print) (FILE *), size_t *len)
{
    char *buf = NULL;
    FILE *f = open_memstream (&buf, len);
    print (f);
    fclose (f);
    return buf;
}

static void print_help_run (FILE *f)
{
    optparse_print_help (f, "prog", "run", &table[0], table);
}

static void print_bash (FILE *f)
{
    optparse_print_bash (f, "prog", table);
}

static void print_options_run (FILE *f)
{
    optparse_print_options (f, &table[0]);
}

static void test_renderings (void **state)
{
    size_t len;
    char *help = capture (print_help_run, &len);
    char *list = capture (print_options_run, &len);
    char *bash = capture (print_bash, &len);
    /* Every option the table parses is in the help and the completion;
     * hidden ones in neither. */
    for (const optparse_option_t *o = opts; o->name; o++) {
        char want[64];
        snprintf (want, sizeof (want), "--%s", o->name);
        if (o->flags & OPTPARSE_HIDDEN) {
            assert_null (strstr (help, want));
            assert_null (strstr (bash, want));
            assert_null (strstr (list, want));
            continue;
        }
        assert_non_null (strstr (help, want));
        assert_non_null (strstr (bash, want));
        assert_non_null (strstr (list, want));
    }
    assert_non_null (strstr (help, "--help"));
    assert_non_null (strstr (help, "(also --state)"));
    assert_non_null (strstr (list, "--state\n"));
    assert_non_null (strstr (bash, "complete -F _datumrun prog"));
    assert_non_null (strstr (bash, "\"run --bind\") echo \"words core none\""));
    free (help);
    free (list);
    free (bash);

    /* The man page: the template with the generated parts in place. */
    char tmpl[] = "/tmp/test_optparse.XXXXXX";
    int fd = mkstemp (tmpl);
    assert_true (fd >= 0);
    const char *t = ".TH PROG 1 \"\" \"prog @VERSION@\"\n.SH SYNOPSIS\n"
                    "@SYNOPSIS@\n.SH COMMANDS\n@COMMANDS@\n.SH END\n";
    assert_int_equal (write (fd, t, strlen (t)), (ssize_t)strlen (t));
    close (fd);
    char *man = NULL;
    FILE *f = open_memstream (&man, &len);
    assert_int_equal (optparse_print_man (f, "prog", "9.9", tmpl, table), 0);
    fclose (f);
    unlink (tmpl);
    assert_non_null (strstr (man, "\"prog 9.9\""));
    assert_non_null (strstr (man, ".SS \"run SPEC [options]\""));
    assert_non_null (strstr (man, "\\fB\\-\\-state\\-dir\\fR=\\fIDIR\\fR"));
    assert_non_null (strstr (man, ".SS \"group go DIR|SPEC..."));
    assert_null (strstr (man, "@COMMANDS@"));
    assert_null (strstr (man, "secret"));
    free (man);
    assert_int_equal (optparse_print_man (stdout, "prog", "1", "/nonexistent",
                                          table), -1);
}

int main (void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test (test_distance),
        cmocka_unit_test (test_suggest),
        cmocka_unit_test (test_arg_counts),
        cmocka_unit_test (test_parse),
        cmocka_unit_test (test_errors),
        cmocka_unit_test (test_help_and_extra),
        cmocka_unit_test (test_renderings),
    };
    int rc = cmocka_run_group_tests (tests, NULL, NULL);
    free (seen.optv);
    return rc;
}
