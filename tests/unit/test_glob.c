/* test_glob.c: Pachyderm glob patterns (sched/glob.c).  Tables of patterns
 * against paths, of patterns walked over a real temporary repo (the states
 * example plus awkward names, an empty directory and symlinks), of broken
 * patterns and of capture templates; then unreadable directories, which the
 * walk must report by path and must not touch when the pattern does not
 * reach them.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <ftw.h>
#include <limits.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "sched/sched.h"
#include "seeds.h"

/* ------------------------------------------------------------- helpers */

struct strbuf {
    char s[8192];
    size_t len;
};

static void sb_add (struct strbuf *b, const char *fmt, ...)
    __attribute__ ((format (printf, 2, 3)));

static void sb_add (struct strbuf *b, const char *fmt, ...)
{
    va_list ap;
    va_start (ap, fmt);
    int n = vsnprintf (b->s + b->len, sizeof (b->s) - b->len, fmt, ap);
    va_end (ap);
    assert_true (n >= 0 && (size_t)n < sizeof (b->s) - b->len);
    b->len += (size_t)n;
}

/* Groups 1.. of a match joined by '|'. */
static void render_caps (const char *path, const sched_glob_caps_t *caps,
                         struct strbuf *b)
{
    b->len = 0;
    b->s[0] = '\0';
    for (int i = 1; i < caps->n; i++)
        sb_add (b, "%s%.*s", i > 1 ? "|" : "", (int)caps->len[i],
                path + caps->off[i]);
}

static void write_file (const char *root, const char *rel, const char *text)
{
    char p[PATH_MAX];
    snprintf (p, sizeof (p), "%s/%s", root, rel);
    FILE *f = fopen (p, "w");
    assert_non_null (f);
    fputs (text, f);
    assert_int_equal (fclose (f), 0);
}

static void make_dir (const char *root, const char *rel, mode_t mode)
{
    char p[PATH_MAX];
    snprintf (p, sizeof (p), "%s/%s", root, rel);
    assert_int_equal (mkdir (p, 0755), 0);
    assert_int_equal (chmod (p, mode), 0);
}

static int rm_one (const char *p, const struct stat *st, int flag,
                   struct FTW *ftw)
{
    (void)st;
    (void)ftw;
    if (flag == FTW_DP || flag == FTW_D)
        chmod (p, 0700);
    return remove (p);
}

static void rm_tree (const char *root)
{
    /* Open up locked directories first so the depth-first removal can read
     * them. */
    char cmd[PATH_MAX + 32];
    snprintf (cmd, sizeof (cmd), "chmod -R u+rwx '%s'", root);
    if (system (cmd) != 0)
        fprintf (stderr, "warning: %s failed\n", cmd);
    assert_int_equal (nftw (root, rm_one, 16, FTW_DEPTH | FTW_PHYS), 0);
}

/* --------------------------------------------------------------- match */

struct match_case {
    const char *pattern;
    const char *path;
    bool match;
    const char *caps;   /* groups joined by '|' when matched, or NULL */
};

static const struct match_case match_cases[] = {
    /* the root */
    {"/", "", true, ""},
    {"", "", true, ""},
    {"//", "", true, ""},
    {"/", "a", false, NULL},
    {"/*", "", false, NULL},
    {"/**", "", false, NULL},
    /* * and ? stay within a component; dot files are ordinary */
    {"/*", "a", true, ""},
    {"/*", "California", true, ""},
    {"/*", ".hidden", true, ""},
    {"/*", "a/b", false, NULL},
    {"/a*", "a", true, ""},
    {"/*.json", "LA.json", true, ""},
    {"/*.json", "California/LA.json", false, NULL},
    {"/*/*", "California/LA.json", true, ""},
    {"/*/*", "California", false, NULL},
    {"/*/*", "a/b/c", false, NULL},
    {"/California/*", "California/LA.json", true, ""},
    {"/California/*", "Colorado/Denver.json", false, NULL},
    {"/a?c", "abc", true, ""},
    {"/a?c", "a/c", false, NULL},
    {"/a?c", "ac", false, NULL},
    {"/??", "ab", true, ""},
    {"/??", "abc", false, NULL},
    /* ** crosses '/' */
    {"/**", "a", true, ""},
    {"/**", "a/b/c", true, ""},
    {"/**.dat", "x.dat", true, ""},
    {"/**.dat", "a/b/x.dat", true, ""},
    {"/**.dat", "a/b/x.dat.gz", false, NULL},
    {"/**/x.dat", "a/x.dat", true, ""},
    {"/**/x.dat", "x.dat", false, NULL},
    {"/a/**", "a/b/c", true, ""},
    {"/a/**", "a", false, NULL},
    {"/***", "a/b", true, ""},
    /* classes */
    {"/[abc]", "b", true, ""},
    {"/[abc]", "d", false, NULL},
    {"/[a-c]x", "bx", true, ""},
    {"/[a-c]x", "dx", false, NULL},
    {"/[!abc]", "d", true, ""},
    {"/[!abc]", "a", false, NULL},
    {"/[^abc]", "d", true, ""},
    {"/a[!b]c", "a/c", false, NULL},
    {"/a[/]c", "a/c", false, NULL},
    {"/[\\]]", "]", true, ""},
    {"/[-a]", "-", true, ""},
    {"/[a-]", "-", true, ""},
    {"/[[:digit:]]x", "7x", true, ""},
    {"/[![:digit:]]x", "7x", false, NULL},
    {"/[CD]*", "Colorado", true, ""},
    /* alternatives */
    {"/{a,b}c", "ac", true, ""},
    {"/{a,b}c", "bc", true, ""},
    {"/{a,b}c", "cc", false, NULL},
    {"/{a,b*}", "bxx", true, ""},
    {"/{a,{b,c}d}", "cd", true, ""},
    {"/{a,{b,c}d}", "c", false, NULL},
    {"/{a/b,c}", "a/b", true, ""},
    {"/{a/b,c}", "c", true, ""},
    {"/{a/b,c}", "a", false, NULL},
    {"/{,x}y", "y", true, ""},
    {"/{California,Colorado}/*", "Colorado/Denver.json", true, ""},
    {"/a|b", "a|b", true, ""},
    {"/a,b", "a,b", true, ""},
    /* escapes and characters that are only characters */
    {"/\\*", "*", true, ""},
    {"/\\*", "a", false, NULL},
    {"/star\\*name\\[1\\].txt", "star*name[1].txt", true, ""},
    {"/name with space.txt", "name with space.txt", true, ""},
    {"/a]b", "a]b", true, ""},
    {"/\\(x\\)", "(x)", true, ""},
    /* leading and trailing slashes */
    {"California/*", "California/LA.json", true, ""},
    {"/California/", "California", true, ""},
    {"/California//*", "California/LA.json", true, ""},
    /* captures: greedy and leftmost, like Pachyderm's */
    {"/(*)-(*).txt", "a-b.txt", true, "a|b"},
    {"/(*)-(*).txt", "a-b-c.txt", true, "a-b|c"},
    {"/(*)-(*).txt", "ab.txt", false, NULL},
    {"/(*)/(*)", "California/LA.json", true, "California|LA.json"},
    {"/(a|b)/x", "b/x", true, "b"},
    {"/(a|b)/x", "c/x", false, NULL},
    {"/({a,b}*)", "bcd", true, "bcd"},
    {"/((a)(b))", "ab", true, "ab|a|b"},
    {"/(**)/(*.dat)", "a/b/c.dat", true, "a/b|c.dat"},
    {"/{(a),(b)}", "b", true, "|b"},
    {"/(a|)x", "x", true, ""},
    {"/()x", "x", true, ""},
    {"/(*)/*", "California/LA.json", true, "California"},
    {"/(?)(?)(?)(?)(?)(?)(?)(?)(?)(?)(?)(?)(?)(?)(?)", "abcdefghijklmno",
     true, "a|b|c|d|e|f|g|h|i|j|k|l|m|n|o"},
    /* root files have nothing two levels down */
    {"/*/*", "README", false, NULL},
    {"/California/*", "California", false, NULL},
    /* hidden entries at any depth */
    {"/*/*", ".git/config", true, ""},
    {"/**", ".git/.keep", true, ""},
    {"/**.json", ".cache/x.json", true, ""},
    {"/.*", ".", true, ""},
    /* names holding glob syntax match as text under wildcards, and
     * literally only when escaped */
    {"/*", "[abc]", true, ""},
    {"/[abc]", "[abc]", false, NULL},
    {"/\\[abc\\]", "[abc]", true, ""},
    {"/[[]*", "[abc]", true, ""},
    {"/*", "meta{a,b}(1)?.txt", true, ""},
    {"/meta{a,b}*", "meta{a,b}(1)?.txt", false, NULL},
    {"/meta\\{a,b\\}\\(1\\)\\?.txt", "meta{a,b}(1)?.txt", true, ""},
    {"/meta\\{a,b\\}\\(1\\)?.txt", "meta{a,b}(1)x.txt", true, ""},
    {"/(*)\\((*)\\)*", "meta{a,b}(1)?.txt", true, "meta{a,b}|1"},
    {"/*", " lead and trail ", true, ""},
    {"/* *", "a b", true, ""},
    {"/* *", "ab", false, NULL},
    {"/*", "tab\there", true, ""},
    {"/*", "caf\xc3\xa9", true, ""},
    /* UTF-8: ?, * and classes match characters, not bytes (Pachyderm's
     * glob compiles to a Go regexp, which reads UTF-8) */
    {"/caf?", "caf\xc3\xa9", true, ""},
    {"/?", "\xc3\xa5", true, ""},                       /* å */
    {"/??", "\xc3\xa5", false, NULL},
    {"/[\xc3\xa5" "a]", "\xc3\xa5", true, ""},             /* [åa] */
    {"/[\xc3\xa5" "a]", "a", true, ""},
    {"/[\xc3\xa5" "a]", "\xc3\xa4", false, NULL},          /* ä */
    {"/[!\xc3\xa5]", "\xc3\xa4", true, ""},
    {"/[!\xc3\xa5]", "\xc3\xa5", false, NULL},
    {"/[a-\xc3\xbf]", "\xc3\xa9", true, ""},            /* [a-ÿ] on é */
    {"/[a-\xc3\xbf]", "\xc4\x80", false, NULL},         /* Ā */
    {"/?.txt", "\xc3\xa9.txt", true, ""},                 /* é.txt */
    {"/(?)(?)", "\xc3\xa9\xe2\x82\xac", true, "\xc3\xa9|\xe2\x82\xac"},
    {"/?", "\xf0\x9f\x98\x80", true, ""},               /* 4-byte emoji */
    {"/(*)\xc3\xa9", "x\xc3\xa9", true, "x"},
    {"/(**)?", "a/\xc3\xa9", true, "a/"},
    /* invalid UTF-8 in a name: each stray byte is one character */
    {"/?", "\xff", true, ""},
    {"/??", "\xc3", false, NULL},
    {"/??", "\xc3(", true, ""},                           /* cut sequence */
    {"/??", "\xc0\xaf", true, ""},                       /* overlong '/' */
    {"/???", "\xed\xa0\x80", true, ""},                 /* a surrogate */
    {"/*", "a\xfe\xff" "b", true, ""},
    {"/a?b", "a\xfe" "b", true, ""},
    {"/[!a]", "\xfe", true, ""},
    {"/[a]", "\xfe", false, NULL},
    {"/[\xfe]", "\xfe", true, ""},
    {"/[\x80-\xff]x", "\xc3x", true, ""},
    {"/[\x80-\xff]", "\xc3\xa9", false, NULL},
    {"/\xff*", "\xff\xc3\xa9", true, ""},
    {"/[[:alpha:]]", "\xc3\xa9", false, NULL},          /* ASCII only */
    /* negated POSIX classes inside brackets */
    {"/[[:^alpha:]]", "7", true, ""},
    {"/[[:^alpha:]]", "a", false, NULL},
    {"/[[:^alpha:]]", "\xc3\xa9", true, ""},
    {"/[[:^alpha:]]", "\xff", true, ""},
    {"/[[:^digit:][:alpha:]]x", "ax", true, ""},
    {"/[[:^digit:][:alpha:]]x", "7x", false, NULL},
    {"/[^[:^digit:]]", "7", true, ""},
    {"/[^[:^digit:]]", "a", false, NULL},
    {"/[[:^space:]]*", "a b", true, ""},
    {"/[[:^space:]]", "/", false, NULL},
    /* a trailing slash is ignored */
    {"/*/", "a", true, ""},
    {"/*/", "a/b", false, NULL},
};

static void test_match_table (void **state)
{
    (void)state;
    struct strbuf got;
    for (size_t i = 0; i < sizeof (match_cases) / sizeof (match_cases[0]);
         i++) {
        const struct match_case *c = &match_cases[i];
        dr_error_t err = {{0}};
        /* Seed for tests/fuzz/fuzz_glob.c: pattern NUL path. */
        char seed[1024];
        int sn = snprintf (seed, sizeof (seed), "%s%c%s", c->pattern, '\0',
                           c->path);
        if (sn > 0 && (size_t)sn < sizeof (seed))
            seed_write ("glob", "match", i, seed, (size_t)sn);
        sched_glob_t *g = sched_glob_compile (c->pattern, &err);
        if (!g)
            fail_msg ("'%s': %s", c->pattern, err.text);
        sched_glob_caps_t caps;
        bool m = sched_glob_match (g, c->path, &caps);
        if (m != c->match)
            fail_msg ("'%s' on '%s': got %d", c->pattern, c->path, m);
        /* Without caps the answer is the same. */
        assert_int_equal (sched_glob_match (g, c->path, NULL), m);
        if (m && c->caps) {
            render_caps (c->path, &caps, &got);
            if (strcmp (got.s, c->caps) != 0)
                fail_msg ("'%s' on '%s': captures '%s', want '%s'",
                          c->pattern, c->path, got.s, c->caps);
        }
        sched_glob_destroy (g);
    }
}

/* Backtracking is bounded: this would take ages without memoization. */
static void test_match_pathological (void **state)
{
    (void)state;
    char path[201];
    memset (path, 'a', 200);
    path[200] = '\0';
    sched_glob_t *g = sched_glob_compile ("/**a**a**a**a**a**a**a**a**a**b",
                                          NULL);
    assert_non_null (g);
    struct timespec t0, t1;
    clock_gettime (CLOCK_MONOTONIC, &t0);
    assert_false (sched_glob_match (g, path, NULL));
    path[199] = 'b';
    assert_true (sched_glob_match (g, path, NULL));
    clock_gettime (CLOCK_MONOTONIC, &t1);
    double s = (double)(t1.tv_sec - t0.tv_sec)
               + (double)(t1.tv_nsec - t0.tv_nsec) / 1e9;
    assert_true (s < 1.0);
    sched_glob_destroy (g);
}

/* Random bytes as patterns and names, UTF-8 fragments and stray bytes
 * among them: compiling and matching never crash or read out of bounds
 * (the ASan pass checks that), and a name always matches itself escaped. */
static void test_match_random_bytes (void **state)
{
    (void)state;
    static const char alphabet[] = "a/*?[]!^:-{},()\\\xc3\xa5\xa9\xe2\x82"
                                   "\xac\xff\xf0\x9f";
    uint64_t x = 88172645463325252ULL;
    for (int round = 0; round < 20000; round++) {
        char pat[24], name[24], esc[50];
        size_t np, nn, ne = 0;
        x ^= x << 13, x ^= x >> 7, x ^= x << 17;
        np = 1 + x % 20;
        nn = 1 + (x >> 8) % 20;
        for (size_t i = 0; i < np || i < nn; i++) {
            x ^= x << 13, x ^= x >> 7, x ^= x << 17;
            if (i < np)
                pat[i] = alphabet[x % (sizeof (alphabet) - 1)];
            if (i < nn)
                name[i] = alphabet[(x >> 16) % (sizeof (alphabet) - 1)];
        }
        pat[np] = '\0';
        name[nn] = '\0';
        sched_glob_t *g = sched_glob_compile (pat, NULL);
        sched_glob_caps_t caps;
        if (g) {
            (void)sched_glob_match (g, name, &caps);
            sched_glob_destroy (g);
        }
        /* One component, every byte escaped: a literal of itself. */
        if (strchr (name, '/'))
            continue;
        esc[ne++] = '/';
        for (size_t i = 0; i < nn; i++) {
            esc[ne++] = '\\';
            esc[ne++] = name[i];
        }
        esc[ne] = '\0';
        g = sched_glob_compile (esc, NULL);
        assert_non_null (g);
        if (!sched_glob_match (g, name, NULL))
            fail_msg ("escaped '%s' does not match itself", name);
        sched_glob_destroy (g);
    }
}

/* ------------------------------------------------------------- errors */

struct error_case {
    const char *pattern;
    const char *message;    /* after "glob '<pattern>': " */
};

static const struct error_case error_cases[] = {
    {"/[abc", "unclosed '[' at column 2"},
    {"/[a\\", "unclosed '[' at column 2"},
    {"/{a,b", "unclosed '{' at column 2"},
    {"/x/{a,{b,c}", "unclosed '{' at column 4"},
    {"/x/(a", "unclosed '(' at column 4"},
    {"/((a)", "unclosed '(' at column 2"},
    {"/a)", "unmatched ')' at column 3"},
    {"/a}", "unmatched '}' at column 3"},
    {"/{a,(b}", "unmatched '}' at column 7"},
    {"/a\\", "trailing '\\' at column 3"},
    {"/[]", "empty class '[]' at column 2"},
    {"/[!]", "empty class '[]' at column 2"},
    {"/[z-a]", "reversed range in '[...]' at column 3"},
    {"/[[:nope:]]", "unknown character class at column 3"},
    {"/[[:alpha", "unclosed '[:' at column 3"},
    {"/[[:^nope:]]", "unknown character class at column 3"},
    {"/[[:^alpha", "unclosed '[:' at column 3"},
    {"/[\xc3\xa9" "-a]", "reversed range in '[...]' at column 3"},
    {"/[a-\xff]", "range in '[...]' mixes a character and a byte that is "
     "not UTF-8 at column 3"},
    {"/(a)(b)(c)(d)(e)(f)(g)(h)(i)(j)(k)(l)(m)(n)(o)(p)",
     "more than 15 capture groups at column 47"},
    {"{{{{{{{{{{{{{{{{{{{{{{{{{{{{{{{{{{a}}}}}}}}}}}}}}}}}}}}}}}}}}}}}}}}}",
     "too deeply nested at column 33"},
};

static void test_errors (void **state)
{
    (void)state;
    for (size_t i = 0; i < sizeof (error_cases) / sizeof (error_cases[0]);
         i++) {
        const struct error_case *c = &error_cases[i];
        dr_error_t err = {{0}};
        seed_write ("glob", "error", i, c->pattern, strlen (c->pattern));
        char want[600];
        errno = 0;
        sched_glob_t *g = sched_glob_compile (c->pattern, &err);
        if (g)
            fail_msg ("'%s' compiled", c->pattern);
        assert_int_equal (errno, EINVAL);
        snprintf (want, sizeof (want), "glob '%s': %s", c->pattern,
                  c->message);
        if (strcmp (err.text, want) != 0)
            fail_msg ("got \"%s\", want \"%s\"", err.text, want);
    }
    /* err may be NULL. */
    assert_null (sched_glob_compile ("/[", NULL));
    sched_glob_destroy (NULL);
}

/* ------------------------------------------------------------- expand */

struct expand_case {
    const char *tmpl;
    const char *result;     /* NULL: an error containing message */
    const char *message;
};

static const struct expand_case expand_cases[] = {
    {"$2/$1", "b/a", NULL},
    {"$1", "a", NULL},
    {"$$1", "$1", NULL},
    {"x$0y", "x/a-b.txty", NULL},     /* $0 has its leading '/' */
    {"${0}", "/a-b.txt", NULL},
    {"${1}2", "a2", NULL},
    {"literal", "literal", NULL},
    {"", "", NULL},
    {"$", "$", NULL},
    {"a$b", "a$b", NULL},
    {"$9", NULL, "template '$9': no capture group $9 (the glob has 2)"},
    {"$1$3", NULL, "no capture group $3"},
    {"${1", NULL, "unclosed '${' at column 1"},
    {"x${y}", NULL, "'${' without a group number at column 2"},
};

static void test_expand (void **state)
{
    (void)state;
    const char *path = "a-b.txt";
    sched_glob_caps_t caps;
    sched_glob_t *g = sched_glob_compile ("/(*)-(*).txt", NULL);
    assert_non_null (g);
    assert_true (sched_glob_match (g, path, &caps));
    for (size_t i = 0; i < sizeof (expand_cases) / sizeof (expand_cases[0]);
         i++) {
        const struct expand_case *c = &expand_cases[i];
        dr_error_t err = {{0}};
        char *s = sched_glob_expand (c->tmpl, path, &caps, &err);
        if (c->result) {
            if (!s || strcmp (s, c->result) != 0)
                fail_msg ("'%s': got '%s' (%s), want '%s'", c->tmpl,
                          s ? s : "NULL", err.text, c->result);
        }
        else {
            if (s)
                fail_msg ("'%s': got '%s', want an error", c->tmpl, s);
            if (!strstr (err.text, c->message))
                fail_msg ("'%s': got \"%s\", want \"%s\"", c->tmpl, err.text,
                          c->message);
        }
        free (s);
    }
    /* No captures at all: only $0 and text. */
    char *s = sched_glob_expand ("<$0>", "x", NULL, NULL);
    assert_string_equal (s, "</x>");
    free (s);
    /* Pachyderm's own example, and the repo root. */
    sched_glob_destroy (g);
    g = sched_glob_compile ("/(*)/(*)/*", NULL);
    assert_non_null (g);
    path = "name=adele/year=2016/photos.dat";
    assert_true (sched_glob_match (g, path, &caps));
    s = sched_glob_expand ("$0", path, &caps, NULL);
    assert_string_equal (s, "/name=adele/year=2016/photos.dat");
    free (s);
    s = sched_glob_expand ("$0", "", NULL, NULL);
    assert_string_equal (s, "/");
    free (s);
    assert_null (sched_glob_expand ("$1", "x", NULL, NULL));
    sched_glob_destroy (g);
}

/* --------------------------------------------------------------- walk */

struct walk_state {
    char root[64];
};

/* The states example, plus every awkward kind of entry. */
static int tree_setup (void **state)
{
    struct walk_state *ws = calloc (1, sizeof (*ws));
    if (!ws)
        return -1;
    snprintf (ws->root, sizeof (ws->root), "/tmp/test_glob.XXXXXX");
    if (!mkdtemp (ws->root)) {
        free (ws);
        return -1;
    }
    const char *r = ws->root;
    make_dir (r, "California", 0755);
    write_file (r, "California/San-Francisco.json", "{}");
    write_file (r, "California/Los-Angeles.json", "{}");
    make_dir (r, "Colorado", 0755);
    write_file (r, "Colorado/Denver.json", "{}");
    write_file (r, "Colorado/Boulder.json", "{}");
    write_file (r, "README", "states\n");
    write_file (r, ".hidden", "");
    write_file (r, "name with space.txt", "");
    write_file (r, "star*name[1].txt", "");
    write_file (r, "a.txt", "");
    write_file (r, "top.dat", "");
    make_dir (r, "empty", 0755);
    make_dir (r, "a", 0755);
    make_dir (r, "a/b", 0755);
    make_dir (r, "a/b/c", 0755);
    write_file (r, "a/b/c/x.dat", "x");
    make_dir (r, ".hiddendir", 0755);
    write_file (r, ".hiddendir/inner", "");
    make_dir (r, "dir with space", 0755);
    write_file (r, "dir with space/f x.txt", "");
    write_file (r, "[abc]", "");
    write_file (r, "meta{x}(1)?.txt", "");
    char p[PATH_MAX];
    snprintf (p, sizeof (p), "%s/link-file", r);
    assert_int_equal (symlink ("README", p), 0);
    snprintf (p, sizeof (p), "%s/link-dir", r);
    assert_int_equal (symlink ("California", p), 0);
    snprintf (p, sizeof (p), "%s/link-loop", r);
    assert_int_equal (symlink (".", p), 0);
    snprintf (p, sizeof (p), "%s/link-dangling", r);
    assert_int_equal (symlink ("nowhere", p), 0);
    *state = ws;
    return 0;
}

static int tree_teardown (void **state)
{
    struct walk_state *ws = *state;
    rm_tree (ws->root);
    free (ws);
    return 0;
}

struct collect {
    struct strbuf out;
    const char *tmpl;       /* render expansions instead of paths */
    const sched_glob_t *g;  /* cross-check each match against this */
    int count, stop_after, stop_rc;
};

/* Matches as "path" or "dir/", joined by ','. */
static int collect_cb (const char *relpath, bool is_dir,
                       const sched_glob_caps_t *caps, void *arg)
{
    struct collect *c = arg;
    sb_add (&c->out, "%s", c->count++ ? "," : "");
    if (c->tmpl) {
        dr_error_t err = {{0}};
        char *s = sched_glob_expand (c->tmpl, relpath, caps, &err);
        if (!s)
            fail_msg ("%s", err.text);
        sb_add (&c->out, "%s", s);
        free (s);
    }
    else
        sb_add (&c->out, "%s%s", relpath, is_dir ? "/" : "");
    if (c->g) {
        /* The walk's captures are sched_glob_match()'s. */
        sched_glob_caps_t mc;
        assert_true (sched_glob_match (c->g, relpath, &mc));
        assert_memory_equal (&mc, caps, sizeof (mc));
    }
    if (c->stop_after && c->count == c->stop_after)
        return c->stop_rc;
    return 0;
}

struct walk_case {
    const char *pattern;
    const char *expect;
    const char *tmpl;
};

#define ALL                                                                 \
    ".hidden,.hiddendir/,.hiddendir/inner,California/,"                     \
    "California/Los-Angeles.json,California/San-Francisco.json,Colorado/,"  \
    "Colorado/Boulder.json,Colorado/Denver.json,README,[abc],a/,a.txt,"     \
    "a/b/,a/b/c/,a/b/c/x.dat,dir with space/,dir with space/f x.txt,"       \
    "empty/,link-dangling,link-dir/,link-file,link-loop/,meta{x}(1)?.txt,"  \
    "name with space.txt,star*name[1].txt,top.dat"
/* Everything at the top but California and Colorado. */
#define TOP_NOT_C                                                           \
    ".hidden,.hiddendir/,README,[abc],a/,a.txt,dir with space/,empty/,"     \
    "link-dangling,link-dir/,link-file,link-loop/,meta{x}(1)?.txt,"         \
    "name with space.txt,star*name[1].txt,top.dat"
#define TOP                                                                 \
    ".hidden,.hiddendir/,California/,Colorado/,README,[abc],a/,a.txt,"      \
    "dir with space/,empty/,link-dangling,link-dir/,link-file,link-loop/,"  \
    "meta{x}(1)?.txt,name with space.txt,star*name[1].txt,top.dat"

static const struct walk_case walk_cases[] = {
    {"/", "/", NULL},
    {"", "/", NULL},
    {"/*", TOP, NULL},
    {"/*/", TOP, NULL},
    {"*", TOP, NULL},
    /* root files have nothing two levels down; symlinks are not entered */
    {"/*/*",
     ".hiddendir/inner,California/Los-Angeles.json,"
     "California/San-Francisco.json,Colorado/Boulder.json,"
     "Colorado/Denver.json,a/b/,dir with space/f x.txt", NULL},
    {"/California/*",
     "California/Los-Angeles.json,California/San-Francisco.json", NULL},
    {"California/*",
     "California/Los-Angeles.json,California/San-Francisco.json", NULL},
    {"/California/", "California/", NULL},
    {"/**", ALL, NULL},
    {"/**.dat", "a/b/c/x.dat,top.dat", NULL},
    {"/**/x.dat", "a/b/c/x.dat", NULL},
    {"/a**", "a/,a.txt,a/b/,a/b/c/,a/b/c/x.dat", NULL},
    {"/*.json", "", NULL},
    {"/*/*.json",
     "California/Los-Angeles.json,California/San-Francisco.json,"
     "Colorado/Boulder.json,Colorado/Denver.json", NULL},
    {"/{California,Colorado}/*",
     "California/Los-Angeles.json,California/San-Francisco.json,"
     "Colorado/Boulder.json,Colorado/Denver.json", NULL},
    {"/[CD]*", "California/,Colorado/", NULL},
    {"/[!C]*", TOP_NOT_C, NULL},
    {"/?olorado", "Colorado/", NULL},
    {"/.*", ".hidden,.hiddendir/", NULL},
    {"/.hiddendir/*", ".hiddendir/inner", NULL},
    {"/**/inner", ".hiddendir/inner", NULL},
    {"/nomatch/*", "", NULL},
    {"/nomatch", "", NULL},
    {"/empty", "empty/", NULL},
    {"/empty/*", "", NULL},
    {"/link-dir/*", "", NULL},      /* symlinks are not followed */
    {"/link-*", "link-dangling,link-dir/,link-file,link-loop/", NULL},
    {"/link-loop/*", "", NULL},     /* a link cycle is not entered */
    {"/link-loop", "link-loop/", NULL},
    {"/link-dangling", "link-dangling", NULL},  /* a file: no target */
    {"/README/*", "", NULL},        /* a file is not a directory */
    {"/star\\*name\\[1\\].txt", "star*name[1].txt", NULL},
    {"/name with space.txt", "name with space.txt", NULL},
    {"/* with space*", "dir with space/,name with space.txt", NULL},
    {"/dir with space/*", "dir with space/f x.txt", NULL},
    {"/\\[abc\\]", "[abc]", NULL},
    {"/[abc]", "a/", NULL},
    {"/[[]*", "[abc]", NULL},
    {"/meta\\{x\\}\\(1\\)\\?.txt", "meta{x}(1)?.txt", NULL},
    {"/meta{x}*", "", NULL},
    {"/meta*", "meta{x}(1)?.txt", NULL},
    {"/(*)\\((*)\\)*", "meta{x} 1", "$1 $2"},
    {"/a/b/c/x.dat", "a/b/c/x.dat", NULL},
    {"/a/*/c", "a/b/c/", NULL},
    {"/*/*/*/*", "a/b/c/x.dat", NULL},
    {"/{a/b,California}", "California/,a/b/", NULL},
    {"/{a/*/*,top.dat}", "a/b/c/,top.dat", NULL},
    {"/(*)/(*).json",
     "Los-Angeles@California,San-Francisco@California,Boulder@Colorado,"
     "Denver@Colorado", "$2@$1"},
    {"/(**)/(*.dat)", "a/b/c x.dat", "$1 $2"},
    {"/(C*)", "California,Colorado", "$1"},
};

static void walk_one (const char *root, const char *pattern,
                      struct collect *c)
{
    dr_error_t err = {{0}};
    sched_glob_t *g = sched_glob_compile (pattern, &err);
    if (!g)
        fail_msg ("'%s': %s", pattern, err.text);
    c->g = g;
    int rc = sched_glob_walk (g, root, collect_cb, c, &err);
    if (rc != 0)
        fail_msg ("'%s': walk returned %d: %s", pattern, rc, err.text);
    sched_glob_destroy (g);
}

static void test_walk_table (void **state)
{
    struct walk_state *ws = *state;
    for (size_t i = 0; i < sizeof (walk_cases) / sizeof (walk_cases[0]);
         i++) {
        const struct walk_case *wc = &walk_cases[i];
        struct collect c = {.tmpl = wc->tmpl};
        walk_one (ws->root, wc->pattern, &c);
        if (strcmp (c.out.s, wc->expect) != 0)
            fail_msg ("'%s':\n got  %s\n want %s", wc->pattern, c.out.s,
                      wc->expect);
    }
}

/* The walk reports exactly the entries sched_glob_match() accepts (among
 * those reachable without following symlinks), in strcmp order. */
static void test_walk_agrees_with_match (void **state)
{
    struct walk_state *ws = *state;
    char paths[64][PATH_MAX];
    int n = 0;
    struct collect all = {0};
    walk_one (ws->root, "/**", &all);
    for (char *tok = strtok (all.out.s, ","); tok; tok = strtok (NULL, ",")) {
        size_t l = strlen (tok);
        assert_true (n < 64);
        if (l && tok[l - 1] == '/')
            tok[l - 1] = '\0';
        snprintf (paths[n++], PATH_MAX, "%s", tok);
    }
    for (int i = 1; i < n; i++)
        assert_true (strcmp (paths[i - 1], paths[i]) < 0);

    for (size_t i = 0; i < sizeof (walk_cases) / sizeof (walk_cases[0]);
         i++) {
        const struct walk_case *wc = &walk_cases[i];
        struct collect walked = {0};
        struct strbuf want = {.len = 0};
        want.s[0] = '\0';
        walk_one (ws->root, wc->pattern, &walked);
        sched_glob_t *g = sched_glob_compile (wc->pattern, NULL);
        assert_non_null (g);
        int k = 0;
        if (sched_glob_match (g, "", NULL)) {
            sb_add (&want, "/");
            k++;
        }
        for (int j = 0; j < n; j++) {
            if (!sched_glob_match (g, paths[j], NULL))
                continue;
            sb_add (&want, "%s%s", k++ ? "," : "", paths[j]);
        }
        /* Compare without the directory marks. */
        struct strbuf got = {.len = 0};
        got.s[0] = '\0';
        int m = 0;
        for (char *tok = strtok (walked.out.s, ","); tok;
             tok = strtok (NULL, ",")) {
            size_t l = strlen (tok);
            if (l > 1 && tok[l - 1] == '/')
                tok[l - 1] = '\0';
            sb_add (&got, "%s%s", m++ ? "," : "", tok);
        }
        if (strcmp (got.s, want.s) != 0)
            fail_msg ("'%s':\n walk  %s\n match %s", wc->pattern, got.s,
                      want.s);
        sched_glob_destroy (g);
    }
}

static void test_walk_stop (void **state)
{
    struct walk_state *ws = *state;
    sched_glob_t *g = sched_glob_compile ("/**", NULL);
    assert_non_null (g);
    struct collect c = {.stop_after = 3, .stop_rc = 7};
    assert_int_equal (sched_glob_walk (g, ws->root, collect_cb, &c, NULL), 7);
    assert_int_equal (c.count, 3);
    sched_glob_destroy (g);
}

static void test_walk_bad_root (void **state)
{
    struct walk_state *ws = *state;
    char p[PATH_MAX + 16];
    dr_error_t err = {{0}};
    sched_glob_t *g = sched_glob_compile ("/*", NULL);
    struct collect c = {0};
    assert_non_null (g);

    snprintf (p, sizeof (p), "%s/missing", ws->root);
    assert_int_equal (sched_glob_walk (g, p, collect_cb, &c, &err), -1);
    assert_int_equal (errno, ENOENT);
    assert_non_null (strstr (err.text, p));
    assert_non_null (strstr (err.text, strerror (ENOENT)));

    snprintf (p, sizeof (p), "%s/README", ws->root);
    assert_int_equal (sched_glob_walk (g, p, collect_cb, &c, &err), -1);
    assert_non_null (strstr (err.text, p));
    assert_non_null (strstr (err.text, strerror (ENOTDIR)));
    assert_int_equal (c.count, 0);
    sched_glob_destroy (g);

    /* The root pattern still needs the repo to be a directory. */
    g = sched_glob_compile ("/", NULL);
    assert_int_equal (sched_glob_walk (g, p, collect_cb, &c, &err), -1);
    sched_glob_destroy (g);
}

/* In a child that is not root (root reads everything): unreadable
 * directories fail the walk by path, but only when the pattern reaches
 * them.  Returns 0 or the number of the failed check. */
static int locked_checks (const char *root)
{
    static const struct {
        const char *pattern;
        int rc;
        const char *expect;     /* matches, or the error's path suffix */
    } cases[] = {
        {"/*", 0, "California/,locked/,search-only/"},
        {"/California/*", 0, "California/x"},
        {"/C*/*", 0, "California/x"},
        {"/[!ls]*/*", 0, "California/x"},
        {"/locked", 0, "locked/"},
        {"/search-only/known", 0, "search-only/known"},
        {"/search-only/{known,other}", -1, "/search-only'"},
        {"/locked/*", -1, "/locked'"},
        {"/*/*", -1, "/locked'"},
        {"/**", -1, "/locked'"},
    };
    for (size_t i = 0; i < sizeof (cases) / sizeof (cases[0]); i++) {
        dr_error_t err = {{0}};
        struct collect c = {0};
        sched_glob_t *g = sched_glob_compile (cases[i].pattern, &err);
        if (!g)
            return (int)i + 1;
        int rc = sched_glob_walk (g, root, collect_cb, &c, &err);
        sched_glob_destroy (g);
        if (rc != cases[i].rc) {
            fprintf (stderr, "%s: rc %d: %s\n", cases[i].pattern, rc,
                     err.text);
            return (int)i + 1;
        }
        if (rc == 0 && strcmp (c.out.s, cases[i].expect) != 0) {
            fprintf (stderr, "%s: got %s\n", cases[i].pattern, c.out.s);
            return (int)i + 1;
        }
        if (rc < 0 && (!strstr (err.text, cases[i].expect)
                       || !strstr (err.text, strerror (EACCES)))) {
            fprintf (stderr, "%s: error %s\n", cases[i].pattern, err.text);
            return (int)i + 1;
        }
    }
    return 0;
}

static void test_walk_unreadable (void **state)
{
    (void)state;
    char root[] = "/tmp/test_glob_locked.XXXXXX";
    assert_non_null (mkdtemp (root));
    assert_int_equal (chmod (root, 0755), 0);
    make_dir (root, "California", 0755);
    write_file (root, "California/x", "");
    make_dir (root, "locked", 0755);
    write_file (root, "locked/secret", "");
    char p[PATH_MAX];
    snprintf (p, sizeof (p), "%s/locked", root);
    assert_int_equal (chmod (p, 0), 0);
    make_dir (root, "search-only", 0755);
    write_file (root, "search-only/known", "");
    snprintf (p, sizeof (p), "%s/search-only", root);
    assert_int_equal (chmod (p, 0111), 0);

    pid_t pid = fork ();
    assert_true (pid >= 0);
    if (pid == 0) {
        if (geteuid () == 0 && (setgid (65534) < 0 || setuid (65534) < 0))
            _exit (100);
        _exit (locked_checks (root));
    }
    int status;
    assert_int_equal (waitpid (pid, &status, 0), pid);
    rm_tree (root);
    assert_true (WIFEXITED (status));
    if (WEXITSTATUS (status) != 0)
        fail_msg ("locked check %d failed", WEXITSTATUS (status));
}

int main (void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test (test_match_table),
        cmocka_unit_test (test_match_pathological),
        cmocka_unit_test (test_match_random_bytes),
        cmocka_unit_test (test_errors),
        cmocka_unit_test (test_expand),
        cmocka_unit_test (test_walk_table),
        cmocka_unit_test (test_walk_agrees_with_match),
        cmocka_unit_test (test_walk_stop),
        cmocka_unit_test (test_walk_bad_root),
        cmocka_unit_test (test_walk_unreadable),
    };
    return cmocka_run_group_tests (tests, tree_setup, tree_teardown);
}

/* vi: ts=4 sw=4 expandtab
 */
