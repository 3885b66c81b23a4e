/* test_plan.c: from a spec's input tree to datums (sched/plan.c), plus the
 * parallelism computation (sched/parallel.c) and the dispatch queue
 * (sched/queue.c).  The group setup builds small repos in a temporary
 * folder; each table row is a spec's input (' for ", repos relative to the
 * spec's folder) and the datums it must plan, rendered as
 * "name:path,name:path [key]" joined by " | ", a directory marked with a
 * trailing '/'.  Plans are built as the dry run does without a manifest:
 * no stat cache (every file is read), everything to process.
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
#include <unistd.h>

#include <cmocka.h>

#include "sched/sched.h"

static char tmp[PATH_MAX];      /* canonical temp folder of this run */
static char spec_path[PATH_MAX + 16];

/* ------------------------------------------------------------ fixture */

/* Write root/rel, creating its folders. */
static int put (const char *rel, const char *text)
{
    char path[PATH_MAX + 64];
    snprintf (path, sizeof (path), "%s/%s", tmp, rel);
    for (char *s = path + strlen (tmp) + 1; (s = strchr (s, '/')); s++) {
        *s = '\0';
        if (mkdir (path, 0755) < 0 && errno != EEXIST)
            return -1;
        *s = '/';
    }
    if (!text)
        return mkdir (path, 0755) < 0 && errno != EEXIST ? -1 : 0;
    FILE *f = fopen (path, "w");
    if (!f)
        return -1;
    fputs (text, f);
    return fclose (f);
}

static int group_setup (void **state)
{
    (void)state;
    char templ[] = "/tmp/test_plan.XXXXXX";
    if (!mkdtemp (templ) || !realpath (templ, tmp))
        return -1;
    snprintf (spec_path, sizeof (spec_path), "%s/spec.json", tmp);
    static const char *const files[][2] = {
        /* plain repos for pfs, cross and union */
        {"A/a1", "1\n"}, {"A/a2", "2\n"}, {"A/a3", "3\n"},
        {"B/b1", "b1\n"}, {"B/b2", "b2\n"},
        {"C/c1", "c1\n"}, {"C/c2", "c2\n"},
        {"E", NULL},                                /* an empty repo */
        /* union children sharing a name and a path */
        {"U1/x", "u1x\n"}, {"U1/y", "u1y\n"},
        {"U2/x", "u2x\n"}, {"U2/z", "u2z\n"},
        /* join: J1's keys 1 2 3 (3 twice with /(?).*), J2's 2 3 3 4 */
        {"J1/1.a", "1a\n"}, {"J1/2.a", "2a\n"}, {"J1/3.a", "3a\n"},
        {"J1/3.x", "3x\n"},
        {"J2/2.b", "2b\n"}, {"J2/3.b", "3b\n"}, {"J2/3.c", "3c\n"},
        {"J2/4.b", "4b\n"},
        /* group: keys a b in G1, a c in G2 */
        {"G1/a-1.txt", "a1\n"}, {"G1/a-2.txt", "a2\n"}, {"G1/b-1.txt", "b1\n"},
        {"G2/a-x.csv", "ax\n"}, {"G2/c-y.csv", "cy\n"},
        /* directories: a datum brings its whole subtree */
        {"D/top.txt", "top\n"}, {"D/sub/f1", "f1\n"}, {"D/sub/f2", "ff2\n"},
        {"D/sub/deep/f3", "fff3\n"}, {"D/empty", NULL},
        /* a three-way join: K1 has k1 k2, K2 k1 k2 k3, K3 k1 */
        {"K1/k1", "1\n"}, {"K1/k2", "2\n"},
        {"K2/k1", "1\n"}, {"K2/k2", "2\n"}, {"K2/k3", "3\n"},
        {"K3/k1", "1\n"},
    };
    for (size_t i = 0; i < sizeof (files) / sizeof (files[0]); i++)
        if (put (files[i][0], files[i][1]) < 0)
            return -1;
    return 0;
}

static int rm_one (const char *path, const struct stat *st, int flag,
                   struct FTW *ftw)
{
    (void)st;
    (void)flag;
    (void)ftw;
    return remove (path);
}

static int group_teardown (void **state)
{
    (void)state;
    return nftw (tmp, rm_one, 16, FTW_DEPTH | FTW_PHYS);
}

/* ------------------------------------------------------------ helpers */

struct strbuf {
    char *s;
    size_t len, cap;
};

static void sb_add (struct strbuf *b, const char *fmt, ...)
    __attribute__ ((format (printf, 2, 3)));

static void sb_add (struct strbuf *b, const char *fmt, ...)
{
    va_list ap;
    for (;;) {
        va_start (ap, fmt);
        int n = vsnprintf (b->s ? b->s + b->len : NULL,
                           b->s ? b->cap - b->len : 0, fmt, ap);
        va_end (ap);
        assert_true (n >= 0);
        if (b->s && b->len + (size_t)n < b->cap) {
            b->len += (size_t)n;
            return;
        }
        b->cap = 2 * (b->len + (size_t)n + 64);
        b->s = realloc (b->s, b->cap);
        assert_non_null (b->s);
    }
}

/* The spec with this input, ' read as ".  NULL with err on failure. */
static jobs_spec_t *parse_input (const char *input, dr_error_t *err)
{
    static const char head[] = "{'pipeline':{'name':'t'},"
                               "'transform':{'cmd':['true']},'input':";
    char *text = malloc (sizeof (head) + strlen (input) + 2);
    assert_non_null (text);
    sprintf (text, "%s%s}", head, input);
    for (char *c = text; *c; c++)
        if (*c == '\'')
            *c = '"';
    memset (err, 0, sizeof (*err));
    jobs_spec_t *spec = jobs_spec_parse (text, spec_path, NULL, err);
    free (text);
    return spec;
}

static jobs_spec_t *must_parse (const char *input)
{
    dr_error_t err;
    jobs_spec_t *spec = parse_input (input, &err);
    if (!spec)
        fail_msg ("%s: %s", input, err.text);
    return spec;
}

static sched_plan_t *must_plan (const jobs_spec_t *spec)
{
    dr_error_t err = {{0}};
    sched_plan_t *p = sched_plan_build (spec, NULL, NULL, NULL, &err);
    if (!p)
        fail_msg ("plan: %s", err.text);
    return p;
}

/* "name:path,name:path [key] | ...".  Caller frees. */
static char *render (const sched_plan_t *p)
{
    struct strbuf b = {0};
    sb_add (&b, "%s", "");
    for (size_t i = 0; i < p->ndatums; i++) {
        const sched_datum_t *d = &p->datums[i];
        sb_add (&b, "%s", i ? " | " : "");
        for (uint32_t j = 0; j < d->nentries; j++) {
            const sched_entry_t *e = &p->entries[p->ents[d->first + j]];
            sb_add (&b, "%s%s:%s%s", j ? "," : "",
                    p->spec->pfs[e->input]->name, sched_str (p, e->path),
                    e->is_dir ? "/" : "");
        }
        if (sched_datum_keys (p, d).key != UINT64_MAX)
            sb_add (&b, " [%s]", sched_str (p, sched_datum_keys (p, d).key));
    }
    return b.s;
}

/* ------------------------------------------------------------- table */

#define PFS(name, repo, glob) \
    "{'pfs':{'name':'" name "','repo':'" repo "','glob':'" glob "'}}"
#define KEYED(name, repo, glob, kind, tmpl) \
    "{'pfs':{'name':'" name "','repo':'" repo "','glob':'" glob "','" kind \
    "':'" tmpl "'}}"
#define JOIN(name, repo, glob) KEYED (name, repo, glob, "join_on", "$1")
#define OUTER(name, repo, glob) \
    "{'pfs':{'name':'" name "','repo':'" repo "','glob':'" glob             \
    "','join_on':'$1','outer_join':true}}"
#define GROUP(name, repo, glob) KEYED (name, repo, glob, "group_by", "$1")
#define L JOIN ("l", "J1", "/(*).a")
#define R JOIN ("r", "J2", "/(*).*")
#define G1 GROUP ("g1", "G1", "/(*)-*")
/* join_on $1 and this group_by */
#define BOTH(name, repo, glob, group) \
    "{'pfs':{'name':'" name "','repo':'" repo "','glob':'" glob             \
    "','join_on':'$1','group_by':'" group "'}}"
#define G2 GROUP ("g2", "G2", "/(*)-*")

struct plan_case {
    const char *name;
    const char *input;
    const char *expect;
};

static const struct plan_case plan_cases[] = {
    /* pfs */
    {"pfs files", PFS ("a", "A", "/*"), "a:a1 | a:a2 | a:a3"},
    {"pfs directories bring their subtree", PFS ("d", "D", "/*"),
     "d:empty/ | d:sub/ | d:top.txt"},
    {"pfs every depth", PFS ("d", "D", "/**"),
     "d:empty/ | d:sub/ | d:sub/deep/ | d:sub/deep/f3 | d:sub/f1 | d:sub/f2"
     " | d:top.txt"},
    {"pfs the repo root", PFS ("d", "D", "/"), "d:/"},
    {"pfs /**.txt at any depth", PFS ("d", "D", "/**f?"),
     "d:sub/deep/f3 | d:sub/f1 | d:sub/f2"},
    {"pfs matching nothing", PFS ("a", "A", "/nomatch/*"), ""},
    {"pfs empty repo", PFS ("e", "E", "/*"), ""},
    {"atom is pfs", "{'atom':{'name':'a','repo':'A','glob':'/a1'}}", "a:a1"},

    /* cross: every combination, first input outermost */
    {"cross", "{'cross':[" PFS ("a", "A", "/*") "," PFS ("b", "B", "/*") "]}",
     "a:a1,b:b1 | a:a1,b:b2 | a:a2,b:b1 | a:a2,b:b2 | a:a3,b:b1 | a:a3,b:b2"},
    {"cross of three",
     "{'cross':[" PFS ("b", "B", "/*") "," PFS ("c", "C", "/*") ","
     PFS ("a", "A", "/a[12]") "]}",
     "b:b1,c:c1,a:a1 | b:b1,c:c1,a:a2 | b:b1,c:c2,a:a1 | b:b1,c:c2,a:a2 | "
     "b:b2,c:c1,a:a1 | b:b2,c:c1,a:a2 | b:b2,c:c2,a:a1 | b:b2,c:c2,a:a2"},
    {"cross with an empty side",
     "{'cross':[" PFS ("a", "A", "/*") "," PFS ("e", "E", "/*") "]}", ""},
    {"cross of one", "{'cross':[" PFS ("b", "B", "/*") "]}", "b:b1 | b:b2"},

    /* union: each input's datums in turn */
    {"union, different names",
     "{'union':[" PFS ("a", "A", "/*") "," PFS ("b", "B", "/*") "]}",
     "a:a1 | a:a2 | a:a3 | b:b1 | b:b2"},
    {"union, same name",
     "{'union':[" PFS ("in", "A", "/*") "," PFS ("in", "B", "/*") "]}",
     "in:a1 | in:a2 | in:a3 | in:b1 | in:b2"},
    {"union, same name and path in two repos are two datums",
     "{'union':[" PFS ("in", "U1", "/*") "," PFS ("in", "U2", "/*") "]}",
     "in:x | in:y | in:x | in:z"},
    {"union of an input with itself: duplicates dropped",
     "{'union':[" PFS ("in", "A", "/*") "," PFS ("in", "A", "/a[13]") "]}",
     "in:a1 | in:a2 | in:a3"},
    {"union, same files under another name are not duplicates",
     "{'union':[" PFS ("in", "A", "/a1") "," PFS ("other", "A", "/a1") "]}",
     "in:a1 | other:a1"},

    /* join: per key, the cross of the matching datums */
    {"join inner, several matches per key", "{'join':[" L "," R "]}",
     "l:2.a,r:2.b [2] | l:3.a,r:3.b [3] | l:3.a,r:3.c [3]"},
    {"join, several matches on both sides",
     "{'join':[" JOIN ("l", "J1", "/(?).*") "," R "]}",
     "l:2.a,r:2.b [2] | l:3.a,r:3.b [3] | l:3.a,r:3.c [3] | "
     "l:3.x,r:3.b [3] | l:3.x,r:3.c [3]"},
    {"join, outer on the left",
     "{'join':[" OUTER ("l", "J1", "/(*).a") "," R "]}",
     "l:1.a [1] | l:2.a,r:2.b [2] | l:3.a,r:3.b [3] | l:3.a,r:3.c [3]"},
    {"join, outer on the right",
     "{'join':[" L "," OUTER ("r", "J2", "/(*).*") "]}",
     "l:2.a,r:2.b [2] | l:3.a,r:3.b [3] | l:3.a,r:3.c [3] | r:4.b [4]"},
    {"join, outer on both",
     "{'join':[" OUTER ("l", "J1", "/(*).a") "," OUTER ("r", "J2", "/(*).*")
     "]}",
     "l:1.a [1] | l:2.a,r:2.b [2] | l:3.a,r:3.b [3] | l:3.a,r:3.c [3] | "
     "r:4.b [4]"},
    {"join with no common key", "{'join':[" L "," JOIN ("g", "G1", "/(*)")
     "]}", ""},
    {"join of three inputs",
     "{'join':[" L "," R "," JOIN ("d", "J2", "/(*).b") "]}",
     "l:2.a,r:2.b,d:2.b [2] | l:3.a,r:3.b,d:3.b [3] | l:3.a,r:3.c,d:3.b [3]"},
    {"join of three, outer on the first only: a key some inner input "
     "lacks keeps only the outer input's entries",
     "{'join':[" OUTER ("a", "K1", "/(*)") "," JOIN ("b", "K2", "/(*)") ","
     JOIN ("c", "K3", "/(*)") "]}",
     "a:k1,b:k1,c:k1 [k1] | a:k2 [k2]"},
    {"join of three, outer on the first two",
     "{'join':[" OUTER ("a", "K1", "/(*)") "," OUTER ("b", "K2", "/(*)") ","
     JOIN ("c", "K3", "/(*)") "]}",
     "a:k1,b:k1,c:k1 [k1] | a:k2,b:k2 [k2] | b:k3 [k3]"},
    {"join of three, outer on the last only",
     "{'join':[" JOIN ("a", "K1", "/(*)") "," JOIN ("b", "K2", "/(*)") ","
     OUTER ("c", "K3", "/(*)") "]}",
     "a:k1,b:k1,c:k1 [k1]"},
    {"join of three, none outer",
     "{'join':[" JOIN ("a", "K1", "/(*)") "," JOIN ("b", "K2", "/(*)") ","
     JOIN ("c", "K3", "/(*)") "]}",
     "a:k1,b:k1,c:k1 [k1]"},
    {"join on a template of two captures",
     "{'join':[" KEYED ("l", "J1", "/(*).(*)", "join_on", "$2$1") ","
     KEYED ("r", "J2", "/(*).b", "join_on", "a$1") "]}",
     "l:2.a,r:2.b [a2] | l:3.a,r:3.b [a3]"},

    /* group: one datum per key, every matching entry of every input */
    {"group of two inputs", "{'group':[" G1 "," G2 "]}",
     "g1:a-1.txt,g1:a-2.txt,g2:a-x.csv [a] | g1:b-1.txt [b] | "
     "g2:c-y.csv [c]"},
    {"group of one input", "{'group':[" G1 "]}",
     "g1:a-1.txt,g1:a-2.txt [a] | g1:b-1.txt [b]"},
    {"group on the second capture",
     "{'group':[" KEYED ("g1", "G1", "/(*)-(*).txt", "group_by", "$2") "]}",
     "g1:a-1.txt,g1:b-1.txt [1] | g1:a-2.txt [2]"},

    /* nesting */
    {"cross of a union and a pfs",
     "{'cross':[{'union':[" PFS ("u", "A", "/*") "," PFS ("u", "B", "/*")
     "]}," PFS ("c", "C", "/*") "]}",
     "u:a1,c:c1 | u:a1,c:c2 | u:a2,c:c1 | u:a2,c:c2 | u:a3,c:c1 | u:a3,c:c2 | "
     "u:b1,c:c1 | u:b1,c:c2 | u:b2,c:c1 | u:b2,c:c2"},
    {"join inside a cross keeps its key",
     "{'cross':[{'join':[" L "," R "]}," PFS ("b", "B", "/*") "]}",
     "l:2.a,r:2.b,b:b1 [2] | l:2.a,r:2.b,b:b2 [2] | l:3.a,r:3.b,b:b1 [3] | "
     "l:3.a,r:3.b,b:b2 [3] | l:3.a,r:3.c,b:b1 [3] | l:3.a,r:3.c,b:b2 [3]"},
    {"group inside a union",
     "{'union':[{'group':[" G1 "," G2 "]}," PFS ("a", "A", "/*") "]}",
     "g1:a-1.txt,g1:a-2.txt,g2:a-x.csv [a] | g1:b-1.txt [b] | "
     "g2:c-y.csv [c] | a:a1 | a:a2 | a:a3"},
    {"group inside a cross",
     "{'cross':[{'group':[" G1 "]}," PFS ("c", "C", "/*") "]}",
     "g1:a-1.txt,g1:a-2.txt,c:c1 [a] | g1:a-1.txt,g1:a-2.txt,c:c2 [a] | "
     "g1:b-1.txt,c:c1 [b] | g1:b-1.txt,c:c2 [b]"},
    {"cross inside a join joins on its first input's key",
     "{'join':[{'cross':[" L "," JOIN ("b", "B", "/(*)") "]}," R "]}",
     "l:2.a,b:b1,r:2.b [2] | l:2.a,b:b2,r:2.b [2] | l:3.a,b:b1,r:3.b [3] | "
     "l:3.a,b:b1,r:3.c [3] | l:3.a,b:b2,r:3.b [3] | l:3.a,b:b2,r:3.c [3]"},
    {"an outer input inside a nested join child makes it outer",
     "{'join':[{'cross':[" OUTER ("l", "J1", "/(*).a") ","
     JOIN ("b", "B", "/(*)") "]}," R "]}",
     "l:1.a,b:b1 [1] | l:1.a,b:b2 [1] | l:2.a,b:b1,r:2.b [2] | "
     "l:2.a,b:b2,r:2.b [2] | l:3.a,b:b1,r:3.b [3] | l:3.a,b:b1,r:3.c [3] | "
     "l:3.a,b:b2,r:3.b [3] | l:3.a,b:b2,r:3.c [3]"},
    {"union inside a join",
     "{'join':[{'union':[" JOIN ("l", "J1", "/(1).a") ","
     JOIN ("l", "J1", "/(3).*") "]}," R "]}",
     "l:3.a,r:3.b [3] | l:3.a,r:3.c [3] | l:3.x,r:3.b [3] | l:3.x,r:3.c [3]"},
    {"join inside a group needs group_by too",
     "{'group':[{'join':[" L "," R "]}]}", NULL},
    {"join inside a group: each file regrouped by its own group_by",
     "{'group':[{'join':[" BOTH ("r", "J2", "/(*).(*)", "$2") ","
     BOTH ("l", "J1", "/(*).a", "$1") "]}]}",
     "l:2.a [2] | l:3.a [3] | r:2.b,r:3.b [b] | r:3.c [c]"},
    {"join inside a group: files sharing a key across inputs meet",
     "{'group':[{'join':[" BOTH ("r", "J2", "/(*).(*)", "k$1") ","
     BOTH ("l", "J1", "/(*).a", "k$1") "]}]}",
     "r:2.b,l:2.a [k2] | r:3.b,r:3.c,l:3.a [k3]"},
    {"cross inside a group: each file by its own key",
     "{'group':[{'cross':[" G1 "," G2 "]}]}",
     "g1:a-1.txt,g1:a-2.txt,g2:a-x.csv [a] | g1:b-1.txt [b] | "
     "g2:c-y.csv [c]"},
    {"one entry twice in a group datum counts once",
     "{'group':[{'join':[" BOTH ("l", "J1", "/(*).a", "all") ","
     BOTH ("r", "J2", "/(*).*", "all") "]}]}",
     "l:2.a,l:3.a,r:2.b,r:3.b,r:3.c [all]"},
    {"group inside a join: joined on its first entry's join_on",
     "{'join':[{'group':[{'pfs':{'name':'g','repo':'G1','glob':"
     "'/(*)-(*).txt','join_on':'$2','group_by':'$1'}}]}," L "]}",
     "g:a-1.txt,g:a-2.txt,l:1.a [1] | g:b-1.txt,l:1.a [1]"},
    {"cross of unions of crosses",
     "{'cross':[{'union':[{'cross':[" PFS ("x", "A", "/a1") ","
     PFS ("y", "B", "/b1") "]}," "{'cross':[" PFS ("x", "C", "/c1") ","
     PFS ("y", "C", "/c2") "]}]}," PFS ("z", "B", "/b2") "]}",
     "x:a1,y:b1,z:b2 | x:c1,y:c2,z:b2"},
};

static void test_plan_table (void **state)
{
    (void)state;
    for (size_t i = 0; i < sizeof (plan_cases) / sizeof (plan_cases[0]);
         i++) {
        const struct plan_case *c = &plan_cases[i];
        dr_error_t err;
        jobs_spec_t *spec = parse_input (c->input, &err);
        if (!c->expect) {
            if (spec)
                fail_msg ("%s: the spec was accepted", c->name);
            continue;
        }
        if (!spec)
            fail_msg ("%s: %s", c->name, err.text);
        sched_plan_t *p = must_plan (spec);
        char *got = render (p);
        if (strcmp (got, c->expect) != 0)
            fail_msg ("%s:\n got  %s\n want %s", c->name, got, c->expect);
        /* Every datum to process, none twice, each findable by its ID. */
        assert_int_equal (p->nprocess, p->ndatums);
        assert_int_equal (p->nskip, 0);
        for (size_t d = 0; d < p->ndatums; d++)
            assert_int_equal (sched_plan_find (p, &p->datums[d].id), d);
        free (got);
        sched_plan_destroy (p);
        jobs_spec_destroy (spec);
    }
}

/* --------------------------------------------------------- the rest */

static void test_errors (void **state)
{
    (void)state;
    static const struct {
        const char *input, *message;
    } cases[] = {
        {PFS ("in", "A", "/[abc"),
         "input 'in': glob '/[abc': unclosed '[' at column 2"},
        {"{'cross':[" PFS ("a", "A", "/*") "," PFS ("b", "B", "/{x") "]}",
         "input 'b': glob '/{x': unclosed '{' at column 2"},
        {"{'join':[" KEYED ("l", "J1", "/(*).a", "join_on", "$2") "," R "]}",
         "template '$2': no capture group $2 (the glob has 1)"},
    };
    for (size_t i = 0; i < sizeof (cases) / sizeof (cases[0]); i++) {
        jobs_spec_t *spec = must_parse (cases[i].input);
        dr_error_t err = {{0}};
        assert_null (sched_plan_build (spec, NULL, NULL, NULL, &err));
        if (!strstr (err.text, cases[i].message))
            fail_msg ("got \"%s\", want \"%s\"", err.text, cases[i].message);
        jobs_spec_destroy (spec);
    }
}

/* Collect a plan's IDs and hashes. */
struct ids {
    size_t n;
    io_hash_t id[64], hash[64];
};

static void plan_ids (const char *input, struct ids *out)
{
    jobs_spec_t *spec = must_parse (input);
    sched_plan_t *p = must_plan (spec);
    assert_true (p->ndatums <= 64);
    out->n = p->ndatums;
    for (size_t i = 0; i < p->ndatums; i++) {
        out->id[i] = p->datums[i].id;
        assert_int_equal (sched_datum_hash (p, &p->datums[i], &out->hash[i]), 0);
    }
    sched_plan_destroy (p);
    jobs_spec_destroy (spec);
}

static bool has_id (const struct ids *s, const io_hash_t *id)
{
    for (size_t i = 0; i < s->n; i++)
        if (io_hash_eq (&s->id[i], id))
            return true;
    return false;
}

#define CROSS_AB "{'cross':[" PFS ("a", "A", "/*") "," PFS ("b", "B", "/*") "]}"
#define CROSS_BA "{'cross':[" PFS ("b", "B", "/*") "," PFS ("a", "A", "/*") "]}"
#define UNION_AB "{'union':[" PFS ("in", "A", "/*") "," PFS ("in", "B", "/*") "]}"
#define UNION_BA "{'union':[" PFS ("in", "B", "/*") "," PFS ("in", "A", "/*") "]}"

/* IDs name (input name, repo, path) tuples: the same in every build, and
 * not moved by reordering a union's inputs (a union's datum has one
 * input's entries).  A cross's datum orders its entries by input position,
 * so reordering a cross's inputs gives new IDs; it also changes the
 * pipeline hash, so every datum would run again either way. */
static void test_ids (void **state)
{
    (void)state;
    struct ids x, y;
    plan_ids (CROSS_AB, &x);
    plan_ids (CROSS_AB, &y);
    assert_int_equal (x.n, 6);
    assert_int_equal (y.n, 6);
    for (size_t i = 0; i < x.n; i++) {
        assert_true (io_hash_eq (&x.id[i], &y.id[i]));
        assert_true (io_hash_eq (&x.hash[i], &y.hash[i]));
        for (size_t j = 0; j < i; j++)
            assert_false (io_hash_eq (&x.id[i], &x.id[j]));
    }

    plan_ids (UNION_AB, &x);
    plan_ids (UNION_BA, &y);
    assert_int_equal (x.n, 5);
    assert_int_equal (y.n, 5);
    for (size_t i = 0; i < x.n; i++) {
        assert_true (has_id (&y, &x.id[i]));
        /* The datum's hash covers the pipeline hash, which covers the
         * order of the inputs. */
        for (size_t j = 0; j < y.n; j++)
            assert_false (io_hash_eq (&x.hash[i], &y.hash[j]));
    }

    plan_ids (CROSS_AB, &x);
    plan_ids (CROSS_BA, &y);
    assert_int_equal (y.n, 6);
    for (size_t i = 0; i < x.n; i++)
        assert_false (has_id (&y, &x.id[i]));

    /* The same path under one name in two repos: two IDs. */
    plan_ids ("{'union':[" PFS ("in", "U1", "/x") "," PFS ("in", "U2", "/x")
              "]}", &x);
    assert_int_equal (x.n, 2);
    assert_false (io_hash_eq (&x.id[0], &x.id[1]));
}

static void rewrite (const char *rel, const char *text)
{
    assert_int_equal (put (rel, text), 0);
}

/* A datum's hash covers every file of every input: changing one file
 * changes exactly the datums holding it, and no ID. */
static void test_hash_follows_content (void **state)
{
    (void)state;
    struct ids before, after;
    plan_ids (CROSS_AB, &before);
    rewrite ("B/b2", "changed\n");
    plan_ids (CROSS_AB, &after);
    rewrite ("B/b2", "b2\n");
    assert_int_equal (after.n, before.n);
    size_t changed = 0;
    for (size_t i = 0; i < before.n; i++) {
        assert_true (io_hash_eq (&before.id[i], &after.id[i]));
        if (!io_hash_eq (&before.hash[i], &after.hash[i])) {
            changed++;
            assert_int_equal (i % 2, 1);    /* a1b2, a2b2, a3b2 */
        }
    }
    assert_int_equal (changed, 3);

    /* Same size, same content again: the old hash comes back. */
    plan_ids (CROSS_AB, &after);
    for (size_t i = 0; i < before.n; i++)
        assert_true (io_hash_eq (&before.hash[i], &after.hash[i]));

    /* A directory datum's hash covers its whole subtree. */
    const char *dir = PFS ("d", "D", "/*");  /* empty/ sub/ top.txt */
    plan_ids (dir, &before);
    rewrite ("D/sub/deep/f3", "FFF3\n");
    plan_ids (dir, &after);
    rewrite ("D/sub/deep/f3", "fff3\n");
    assert_true (io_hash_eq (&before.hash[0], &after.hash[0]));
    assert_false (io_hash_eq (&before.hash[1], &after.hash[1]));
    assert_true (io_hash_eq (&before.hash[2], &after.hash[2]));
    /* A new file in it too. */
    rewrite ("D/sub/new", "");
    plan_ids (dir, &after);
    char p[PATH_MAX + 16];
    snprintf (p, sizeof (p), "%s/D/sub/new", tmp);
    assert_int_equal (unlink (p), 0);
    assert_false (io_hash_eq (&before.hash[1], &after.hash[1]));

    /* A group's hash covers all its entries: a-x.csv is in group a. */
    const char *grp = "{'group':[" G1 "," G2 "]}";
    plan_ids (grp, &before);
    rewrite ("G2/a-x.csv", "AX\n");
    plan_ids (grp, &after);
    rewrite ("G2/a-x.csv", "ax\n");
    assert_false (io_hash_eq (&before.hash[0], &after.hash[0]));
    assert_true (io_hash_eq (&before.hash[1], &after.hash[1]));
    assert_true (io_hash_eq (&before.hash[2], &after.hash[2]));
}

/* Adding a file to one side of a cross adds only the new combinations;
 * every earlier datum keeps its ID and hash (so it would be skipped). */
static void test_cross_grows (void **state)
{
    (void)state;
    struct ids before, after;
    plan_ids (CROSS_AB, &before);
    rewrite ("B/b3", "b3\n");
    plan_ids (CROSS_AB, &after);
    char p[PATH_MAX + 16];
    snprintf (p, sizeof (p), "%s/B/b3", tmp);
    assert_int_equal (unlink (p), 0);
    assert_int_equal (after.n, 9);
    size_t same = 0;
    for (size_t i = 0; i < after.n; i++)
        for (size_t j = 0; j < before.n; j++)
            if (io_hash_eq (&after.id[i], &before.id[j])) {
                assert_true (io_hash_eq (&after.hash[i], &before.hash[j]));
                same++;
            }
    assert_int_equal (same, 6);
}

/* Sizes, kinds, keys, and the manifest's "name:/path" lines. */
static void test_entries (void **state)
{
    (void)state;
    jobs_spec_t *spec = must_parse (PFS ("d", "D", "/*"));
    sched_plan_t *p = must_plan (spec);
    assert_int_equal (p->ndatums, 3);
    const sched_datum_t *sub = &p->datums[1];
    const sched_entry_t *e = &p->entries[p->ents[sub->first]];
    assert_string_equal (sched_str (p, e->path), "sub");
    assert_true (e->is_dir);
    assert_int_equal (e->bytes, 3 + 4 + 5);       /* f1 f2 deep/f3 */
    assert_int_equal (sched_datum_bytes (p, sub), 12);
    assert_int_equal (sched_entry_keys (p, (size_t)(e - p->entries)).join,
                      UINT64_MAX);
    assert_int_equal (sched_entry_keys (p, (size_t)(e - p->entries)).group,
                      UINT64_MAX);
    assert_int_equal (sched_datum_keys (p, sub).key, UINT64_MAX);
    assert_false (p->entries[p->ents[p->datums[2].first]].is_dir);
    sched_plan_destroy (p);
    jobs_spec_destroy (spec);

    spec = must_parse ("{'join':[" L "," R "]}");
    p = must_plan (spec);
    assert_int_equal (p->ndatums, 3);
    const sched_datum_t *d = &p->datums[2];
    assert_string_equal (sched_str (p, sched_datum_keys (p, d).key), "3");
    assert_int_equal (d->nentries, 2);
    for (uint32_t j = 0; j < d->nentries; j++)
        assert_string_equal (
            sched_str (p, sched_entry_keys (p, p->ents[d->first + j]).join),
            "3");
    assert_int_equal (sched_datum_bytes (p, d), 3 + 3);
    char *s = sched_datum_inputs (p, d);
    assert_int_equal (io_inputs_len (s), 14);
    assert_memory_equal (s, "l:/3.a\0r:/3.c\0", 15);
    free (s);
    io_hash_t none = {{0}};
    assert_int_equal (sched_plan_find (p, &none), -1);
    sched_plan_destroy (p);
    jobs_spec_destroy (spec);

    /* A group datum's entries: sorted by input, then path. */
    spec = must_parse ("{'group':[" G2 "," G1 "]}");
    p = must_plan (spec);
    s = sched_datum_inputs (p, &p->datums[0]);
    assert_memory_equal (s, "g2:/a-x.csv\0g1:/a-1.txt\0g1:/a-2.txt\0", 37);
    free (s);
    sched_plan_destroy (p);
    jobs_spec_destroy (spec);

    /* The root datum. */
    spec = must_parse (PFS ("d", "D", "/"));
    p = must_plan (spec);
    s = sched_datum_inputs (p, &p->datums[0]);
    assert_memory_equal (s, "d:/\0", 5);
    free (s);
    assert_int_equal (sched_datum_bytes (p, &p->datums[0]), 4 + 12);
    sched_plan_destroy (p);
    jobs_spec_destroy (spec);
}

/* ------------------------------------------------ changed code keeps */

/* A spec over repo A with this command and glob.  Caller destroys. */
static jobs_spec_t *version_spec (const char *cmd, const char *glob)
{
    char text[512];
    dr_error_t err = {{0}};
    snprintf (text, sizeof (text),
              "{\"pipeline\":{\"name\":\"v\"},\"transform\":{\"cmd\":"
              "[\"sh\",\"-c\",\"%s\"]},\"input\":{\"pfs\":{\"name\":"
              "\"a\",\"repo\":\"A\",\"glob\":\"%s\"}}}", cmd, glob);
    jobs_spec_t *spec = jobs_spec_parse (text, spec_path, NULL, &err);
    if (!spec)
        fail_msg ("%s: %s", text, err.text);
    return spec;
}

/* The seed's rule: a datum whose inputs are unchanged is skipped whichever
 * version of the pipeline made it; those of an earlier version are
 * counted.  Each case records a first plan's datums as successes, then
 * plans a second spec against that manifest. */
static void test_changed_code_keeps (void **state)
{
    (void)state;
    static const struct {
        const char *name;
        const char *cmd1, *glob1, *cmd2, *glob2;
        bool rewrite;           /* A/a1 changes between the two */
        bool reprocess;
        bool unversioned;       /* records without their version */
        bool failed;            /* records of failures */
        size_t process, skip, earlier;
    } cases[] = {
        {"nothing changed", "x", "/*", "x", "/*", 0, 0, 0, 0, 0, 3, 0},
        {"the command changed", "x", "/*", "y", "/*", 0, 0, 0, 0, 0, 3, 3},
        {"the glob changed, same files", "x", "/*", "x", "/a*", 0, 0, 0, 0,
         0, 3, 3},
        {"the glob now leaves a file out", "x", "/*", "x", "/a[12]", 0, 0, 0,
         0, 0, 2, 2},
        {"the glob takes a new shape: other datums", "x", "/*", "x", "/", 0,
         0, 0, 0, 1, 0, 0},
        {"code and one input changed", "x", "/*", "y", "/*", 1, 0, 0, 0, 1,
         2, 2},
        {"one input changed", "x", "/*", "x", "/*", 1, 0, 0, 0, 1, 2, 0},
        {"--reprocess redoes them", "x", "/*", "y", "/*", 0, 1, 0, 0, 3, 0,
         0},
        {"unknown version, same code", "x", "/*", "x", "/*", 0, 0, 1, 0, 0,
         3, 0},
        {"unknown version, changed code: processed", "x", "/*", "y", "/*", 0,
         0, 1, 0, 3, 0, 0},
        {"failures are processed", "x", "/*", "y", "/*", 0, 0, 0, 1, 3, 0,
         0},
    };
    char a1[PATH_MAX + 8];
    snprintf (a1, sizeof (a1), "%s/A/a1", tmp);
    for (size_t i = 0; i < sizeof (cases) / sizeof (cases[0]); i++) {
        char dir[PATH_MAX + 32];
        dr_error_t err = {{0}};
        snprintf (dir, sizeof (dir), "%s/state-%zu", tmp, i);
        io_manifest_t *m = io_manifest_open (dir, &err);
        if (!m)
            fail_msg ("%s", err.text);
        jobs_spec_t *s1 = version_spec (cases[i].cmd1, cases[i].glob1);
        sched_plan_t *p1 = must_plan (s1);
        for (size_t d = 0; d < p1->ndatums; d++) {
            io_datum_rec_t rec = {0};
            rec.id = p1->datums[d].id;
            rec.state = cases[i].failed ? JOBS_DATUM_FAILED
                                        : JOBS_DATUM_SUCCESS;
            rec.hash = (io_hash_t){{0}};
            if (!cases[i].failed)
                assert_int_equal (
                    sched_datum_hash (p1, &p1->datums[d], &rec.hash), 0);
            if (!cases[i].unversioned)
                rec.pipeline = p1->pipeline_hash;
            rec.inputs = sched_datum_inputs (p1, &p1->datums[d]);
            assert_int_equal (io_manifest_put (m, &rec, &err), 0);
            free (rec.inputs);
        }
        if (cases[i].rewrite)
            assert_int_equal (put ("A/a1", "changed\n"), 0);
        jobs_spec_t *s2 = version_spec (cases[i].cmd2, cases[i].glob2);
        sched_plan_opts_t o = {.reprocess = cases[i].reprocess};
        sched_plan_t *p2 = sched_plan_build (s2, NULL, m, &o, &err);
        assert_non_null (p2);
        if (p2->nprocess != cases[i].process || p2->nskip != cases[i].skip
            || p2->nearlier != cases[i].earlier)
            fail_msg ("%s: %zu process, %zu skip, %zu earlier; want %zu, "
                      "%zu, %zu", cases[i].name, p2->nprocess, p2->nskip,
                      p2->nearlier, cases[i].process, cases[i].skip,
                      cases[i].earlier);
        size_t marked = 0;
        for (size_t d = 0; d < p2->ndatums; d++) {
            marked += p2->datums[d].earlier;
            if (p2->datums[d].earlier)
                assert_int_equal (p2->datums[d].action, SCHED_SKIP);
        }
        assert_int_equal (marked, p2->nearlier);
        /* The hash a new record gets is the current version's. */
        for (size_t d = 0; d < p2->ndatums && cases[i].earlier; d++)
            if (p2->datums[d].earlier) {
                io_datum_rec_t view;
                const io_datum_rec_t *r = io_manifest_find (
                    m, &p2->datums[d].id, &view);
                io_hash_t h2;
                assert_int_equal (sched_datum_hash (p2, &p2->datums[d], &h2),
                                  0);
                assert_false (io_hash_eq (&r->hash, &h2));
            }
        if (cases[i].rewrite)
            assert_int_equal (put ("A/a1", "1\n"), 0);
        sched_plan_destroy (p1);
        sched_plan_destroy (p2);
        jobs_spec_destroy (s1);
        jobs_spec_destroy (s2);
        io_manifest_close (m);
    }
}

/* reprocess and a NULL manifest both mean "process everything"; the
 * pipeline hash is the canonical spec's. */
static void test_opts_and_pipeline_hash (void **state)
{
    (void)state;
    jobs_spec_t *spec = must_parse (CROSS_AB);
    sched_plan_opts_t o = {.reprocess = true, .rehash = true};
    dr_error_t err = {{0}};
    sched_plan_t *p = sched_plan_build (spec, NULL, NULL, &o, &err);
    assert_non_null (p);
    assert_int_equal (p->nprocess, 6);
    io_hash_t h;
    io_hash_bytes (spec->pipeline_canon, strlen (spec->pipeline_canon), &h);
    assert_true (io_hash_eq (&p->pipeline_hash, &h));
    sched_pipeline_hash (spec, &h);
    assert_true (io_hash_eq (&p->pipeline_hash, &h));
    sched_plan_destroy (p);
    sched_plan_destroy (NULL);
    jobs_spec_destroy (spec);
}

/* --------------------------------------------------------- parallelism */

static void test_workers (void **state)
{
    (void)state;
    static const struct {
        int constant;
        double coefficient;
        int nodes, override, want;
    } cases[] = {
        /* constant: whatever the node count */
        {4, 0, 1, 0, 4}, {4, 0, 2, 0, 4}, {4, 0, 16, 0, 4}, {1, 0, 4, 0, 1},
        /* coefficient x nodes */
        {0, 1, 1, 0, 1}, {0, 1, 2, 0, 2}, {0, 1, 4, 0, 4},
        {0, 2, 1, 0, 2}, {0, 2, 2, 0, 4}, {0, 2, 4, 0, 8},
        /* fractional: floored, at least 1 */
        {0, 0.5, 1, 0, 1}, {0, 0.5, 2, 0, 1}, {0, 0.5, 4, 0, 2},
        {0, 0.3, 4, 0, 1}, {0, 0.75, 4, 0, 3}, {0, 1.5, 3, 0, 4},
        {0, 1e-9, 4, 0, 1},
        /* unset means coefficient 1; nodes below 1 count as 1 */
        {0, 0, 1, 0, 1}, {0, 0, 2, 0, 2}, {0, 0, 4, 0, 4}, {0, 0, 0, 0, 1},
        {0, 2, 0, 0, 2},
        /* -n wins */
        {4, 0, 1, 3, 3}, {0, 2, 4, 1, 1}, {0, 0, 4, 7, 7}, {4, 0, 1, 0, 4},
        /* absurd coefficients are capped */
        {0, 1e12, 4, 0, JOBS_MAX_WORKERS},
    };
    for (size_t i = 0; i < sizeof (cases) / sizeof (cases[0]); i++) {
        jobs_spec_t spec = {
            .par_constant = cases[i].constant,
            .par_coefficient = cases[i].coefficient,
        };
        int got = sched_workers (&spec, cases[i].nodes, cases[i].override);
        if (got != cases[i].want)
            fail_msg ("constant %d coefficient %g nodes %d -n %d: got %d, "
                      "want %d", cases[i].constant, cases[i].coefficient,
                      cases[i].nodes, cases[i].override, got, cases[i].want);
    }
    /* A parsed spec agrees. */
    jobs_spec_t *spec = must_parse (PFS ("a", "A", "/*"));
    assert_int_equal (sched_workers (spec, 3, 0), 3);
    jobs_spec_destroy (spec);
}

/* --------------------------------------------------------------- queue */

static void test_queue (void **state)
{
    (void)state;
    uint32_t v;
    sched_queue_t *q = sched_queue_create (0);
    assert_non_null (q);
    assert_int_equal (sched_queue_len (q), 0);
    assert_int_equal (sched_queue_pop (q, &v), -1);

    /* FIFO */
    for (uint32_t i = 0; i < 5; i++)
        assert_int_equal (sched_queue_push (q, i), 0);
    assert_int_equal (sched_queue_len (q), 5);
    for (uint32_t i = 0; i < 5; i++) {
        assert_int_equal (sched_queue_pop (q, &v), 0);
        assert_int_equal (v, i);
    }
    assert_int_equal (sched_queue_pop (q, &v), -1);

    /* Wrap around the ring (capacity 16, head now at 5), then grow while
     * wrapped: the order survives. */
    uint32_t next = 100, expect = 100;
    for (int i = 0; i < 14; i++)
        assert_int_equal (sched_queue_push (q, next++), 0);
    for (int i = 0; i < 10; i++) {
        assert_int_equal (sched_queue_pop (q, &v), 0);
        assert_int_equal (v, expect++);
    }
    for (int i = 0; i < 40; i++)            /* 4 + 40: grows twice */
        assert_int_equal (sched_queue_push (q, next++), 0);
    assert_int_equal (sched_queue_len (q), 44);
    /* A retry goes to the back. */
    assert_int_equal (sched_queue_pop (q, &v), 0);
    assert_int_equal (v, expect++);
    assert_int_equal (sched_queue_push (q, v), 0);
    while (expect < next) {
        assert_int_equal (sched_queue_pop (q, &v), 0);
        assert_int_equal (v, expect++);
    }
    assert_int_equal (sched_queue_pop (q, &v), 0);
    assert_int_equal (v, 110);
    assert_int_equal (sched_queue_len (q), 0);
    assert_int_equal (sched_queue_pop (q, &v), -1);
    sched_queue_destroy (q);
    sched_queue_destroy (NULL);

    /* Many, from a large initial capacity. */
    q = sched_queue_create (1000);
    for (uint32_t i = 0; i < 100000; i++)
        assert_int_equal (sched_queue_push (q, i), 0);
    for (uint32_t i = 0; i < 100000; i++) {
        assert_int_equal (sched_queue_pop (q, &v), 0);
        assert_int_equal (v, i);
    }
    sched_queue_destroy (q);
}

int main (void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test (test_plan_table),
        cmocka_unit_test (test_errors),
        cmocka_unit_test (test_ids),
        cmocka_unit_test (test_hash_follows_content),
        cmocka_unit_test (test_cross_grows),
        cmocka_unit_test (test_entries),
        cmocka_unit_test (test_opts_and_pipeline_hash),
        cmocka_unit_test (test_changed_code_keeps),
        cmocka_unit_test (test_workers),
        cmocka_unit_test (test_queue),
    };
    return cmocka_run_group_tests (tests, group_setup, group_teardown);
}

/* vi: ts=4 sw=4 expandtab
 */
