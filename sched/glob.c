/* glob.c: Pachyderm glob patterns over an input repo.  A pattern is parsed
 * into a small tree and compiled into a program for a backtracking matcher
 * with leftmost-first, greedy-star semantics (those of the regexp that
 * Pachyderm's ohmyglob compiles a glob to).  The matcher marks each
 * (instruction, offset) state it has tried, so that no path costs more than
 * program size times path length whatever the pattern.  The whole pattern is
 * one program over the repo-relative path; it alone decides matches and
 * captures, so the walk and sched_glob_match() cannot disagree.  Each
 * leading segment that cannot match '/' is also compiled on its own: the
 * walk filters a directory's names with it, stats a literal name instead of
 * listing its directory, and never descends deeper than the pattern
 * reaches.  The walk keeps an explicit stack with one sorted listing per
 * level and reports matches in strcmp order of their paths.  Like Go's
 * regexp, the matcher reads names as UTF-8: '?', '*' and classes take one
 * character, and a byte outside any valid sequence is a character of its
 * own, so that every name matches as something.
 */
#define _GNU_SOURCE /* qsort_r */
#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "sched/sched.h"

#define MAXGROUPS (SCHED_GLOB_MAXCAPS - 1)
#define MAXNEST 32              /* brace and parenthesis nesting */
#define UNBOUNDED INT_MAX       /* segment count of a pattern with "**" */

/* ----------------------------------------------------------- syntax tree */

enum nkind {
    N_CHAR,     /* one byte, '/' included */
    N_ANY,      /* ?: one character but '/' */
    N_STAR,     /* *: any run of characters without '/' */
    N_DSTAR,    /* **: any run of characters */
    N_CLASS,    /* [...]: one character of a set, never '/' */
    N_ALT,      /* {a,b} or, with a group number, (a|b) */
};

struct seq;

struct node {
    enum nkind kind;
    unsigned char c;
    int cls;                    /* N_CLASS: index into glob->classes */
    int group;                  /* N_ALT: capture group, 0 for braces */
    struct seq *alts;           /* N_ALT branches */
    int nalts;
};

struct seq {
    struct node *v;
    int n, cap;
};

/* --------------------------------------------------------------- program */

enum op {
    OP_CHAR,
    OP_ANY,     /* any character but '/' */
    OP_ANYS,    /* any character */
    OP_CLASS,
    OP_SPLIT,   /* try x, then y */
    OP_JMP,
    OP_SAVE,    /* record the offset in capture slot c */
    OP_MATCH,
};

struct inst {
    uint8_t op;
    uint8_t c;
    uint16_t cls;
    int32_t x, y;
};

struct prog {
    struct inst *code;
    int n, cap;
};

/* A bracket class over characters: a name is read as UTF-8, and a byte
 * that does not start a valid sequence is a character of its own (a "raw"
 * byte), so that any name can be matched and none can fail to decode.
 * ASCII members and raw members are bit sets, the rest code point ranges;
 * a negated class matches every character it does not list. */
typedef struct cls {
    uint64_t ascii[2];          /* members among U+0000..U+007F */
    uint64_t raw[2];            /* members among the raw bytes 0x80..0xff */
    uint32_t *ranges;           /* [lo, hi] pairs of code points >= 0x80 */
    int nranges;
    bool neg;
} cls_t;

/* A leading segment of the pattern that cannot match '/': the names at that
 * depth of every match must match it. */
struct level {
    struct prog prog;
    char *literal;              /* the only name it matches, or NULL */
    bool any;                   /* "*": every name matches */
};

struct sched_glob {
    bool root;                  /* the pattern is "/": only "" matches */
    int ngroups;
    int minsegs, maxsegs;       /* path components a match can have */
    struct prog full;
    struct level *levels;
    int nlevels;
    cls_t *classes;
    int nclasses;
};

/* --------------------------------------------------------------- parsing */

struct parser {
    const char *pat;            /* the whole pattern, for messages */
    size_t pos, end;
    int ngroups;
    sched_glob_t *g;
    dr_error_t *err;
};

static int perr (struct parser *p, size_t at, const char *what)
{
    errno = EINVAL;
    return dr_errprintf (p->err, "glob '%s': %s at column %zu", p->pat,
                         what, at + 1);
}

static int oom (dr_error_t *err)
{
    errno = ENOMEM;
    return dr_errprintf (err, "glob: out of memory");
}

static void seq_free (struct seq *s)
{
    for (int i = 0; i < s->n; i++) {
        struct node *nd = &s->v[i];
        for (int j = 0; j < nd->nalts; j++)
            seq_free (&nd->alts[j]);
        free (nd->alts);
    }
    free (s->v);
    s->v = NULL;
    s->n = s->cap = 0;
}

/* Append a zeroed node of kind k; NULL on ENOMEM. */
static struct node *seq_add (struct seq *s, enum nkind k)
{
    if (s->n == s->cap) {
        int cap = s->cap ? 2 * s->cap : 8;
        struct node *v = realloc (s->v, (size_t)cap * sizeof (*v));
        if (!v)
            return NULL;
        s->v = v;
        s->cap = cap;
    }
    struct node *nd = &s->v[s->n++];
    memset (nd, 0, sizeof (*nd));
    nd->kind = k;
    return nd;
}

static int add_char (struct parser *p, struct seq *s, unsigned char c)
{
    struct node *nd = seq_add (s, N_CHAR);
    if (!nd)
        return oom (p->err);
    nd->c = c;
    return 0;
}

/* Takes over set's ranges, also on error. */
static int add_class (struct parser *p, cls_t *set)
{
    sched_glob_t *g = p->g;
    if (g->nclasses == UINT16_MAX) {
        free (set->ranges);
        return perr (p, p->pos, "too many '[...]' classes");
    }
    cls_t *v = realloc (g->classes, (size_t)(g->nclasses + 1) * sizeof (*v));
    if (!v) {
        free (set->ranges);
        return oom (p->err);
    }
    g->classes = v;
    v[g->nclasses] = *set;
    return g->nclasses++;
}

static void bits_add (uint64_t bits[2], unsigned c)
{
    bits[c >> 6 & 1] |= (uint64_t)1 << (c & 63);
}

static bool bits_has (const uint64_t bits[2], unsigned c)
{
    return bits[c >> 6 & 1] >> (c & 63) & 1;
}

/* Add the code points [lo, hi]; 0 or -1 (ENOMEM). */
static int cls_add_range (cls_t *set, uint32_t lo, uint32_t hi)
{
    for (; lo <= hi && lo < 0x80; lo++)
        bits_add (set->ascii, lo);
    if (lo > hi)
        return 0;
    uint32_t *r = realloc (set->ranges,
                           (size_t)(set->nranges + 1) * 2 * sizeof (*r));
    if (!r)
        return -1;
    set->ranges = r;
    r[2 * set->nranges] = lo;
    r[2 * set->nranges + 1] = hi;
    set->nranges++;
    return 0;
}

/* The character at s[0..len): returns its length in bytes and sets *cp,
 * or returns 0 when s does not start with a valid UTF-8 sequence (no
 * overlong forms, surrogates or code points past U+10FFFF). */
static size_t utf8_decode (const unsigned char *s, size_t len, uint32_t *cp)
{
    unsigned char c = s[0];
    size_t n;
    uint32_t v, min;
    if (c < 0x80) {
        *cp = c;
        return 1;
    }
    if (c >= 0xc2 && c <= 0xdf)
        n = 2, v = c & 0x1f, min = 0x80;
    else if (c >= 0xe0 && c <= 0xef)
        n = 3, v = c & 0x0f, min = 0x800;
    else if (c >= 0xf0 && c <= 0xf4)
        n = 4, v = c & 0x07, min = 0x10000;
    else
        return 0;
    if (len < n)
        return 0;
    for (size_t i = 1; i < n; i++) {
        if ((s[i] & 0xc0) != 0x80)
            return 0;
        v = v << 6 | (s[i] & 0x3f);
    }
    if (v < min || v > 0x10ffff || (v >= 0xd800 && v <= 0xdfff))
        return 0;
    *cp = v;
    return n;
}

/* Whether the character at s[0..len) (len > 0) is in the class; *width
 * gets its length in bytes. */
static bool cls_has (const cls_t *set, const unsigned char *s, size_t len,
                     size_t *width)
{
    uint32_t cp;
    size_t n;
    bool in;
    if (s[0] < 0x80) {          /* the common case, without decoding */
        *width = 1;
        return bits_has (set->ascii, s[0]) != set->neg && s[0] != '/'
               && s[0] != '\0';
    }
    n = utf8_decode (s, len, &cp);
    *width = n ? n : 1;
    if (!n)
        in = bits_has (set->raw, s[0] - 0x80);
    else if (cp < 0x80)
        in = bits_has (set->ascii, cp);
    else {
        in = false;
        for (int i = 0; i < set->nranges && !in; i++)
            in = cp >= set->ranges[2 * i] && cp <= set->ranges[2 * i + 1];
    }
    if (set->neg)
        in = !in;
    return in && s[0] != '/' && s[0] != '\0';
}

static const struct {
    const char *name;
    int (*fn) (int);
} posix_classes[] = {
    {"alnum", isalnum}, {"alpha", isalpha}, {"blank", isblank},
    {"cntrl", iscntrl}, {"digit", isdigit}, {"graph", isgraph},
    {"lower", islower}, {"print", isprint}, {"punct", ispunct},
    {"space", isspace}, {"upper", isupper}, {"xdigit", isxdigit},
};

/* "[:name:]" or the negated "[:^name:]" inside a class, at p->pos.  The
 * classes are ASCII only, whatever the locale, as in Go's regexp: the
 * negated form holds every other character, raw bytes included. */
static int parse_posix (struct parser *p, cls_t *set)
{
    size_t at = p->pos, name = at + 2, e;
    bool neg = name < p->end && p->pat[name] == '^';
    if (neg)
        name++;
    e = name;
    while (e + 1 < p->end && !(p->pat[e] == ':' && p->pat[e + 1] == ']'))
        e++;
    if (e + 1 >= p->end)
        return perr (p, at, "unclosed '[:'");
    for (size_t i = 0; i < sizeof (posix_classes) / sizeof (posix_classes[0]);
         i++) {
        const char *n = posix_classes[i].name;
        if (strlen (n) == e - name && !memcmp (n, p->pat + name, e - name)) {
            for (unsigned c = 0; c < 128; c++)
                if (!posix_classes[i].fn ((int)c) == neg)
                    bits_add (set->ascii, c);
            if (neg) {
                set->raw[0] = set->raw[1] = UINT64_MAX;
                if (cls_add_range (set, 0x80, 0x10ffff) < 0)
                    return oom (p->err);
            }
            p->pos = e + 2;
            return 0;
        }
    }
    return perr (p, at, "unknown character class");
}

/* One character of a class, escapes allowed; the caller checked pos < end.
 * *raw says that it is a byte outside any valid UTF-8 sequence. */
static int class_char (struct parser *p, size_t open, uint32_t *cp,
                       bool *raw)
{
    if (p->pat[p->pos] == '\\') {
        if (++p->pos >= p->end)
            return perr (p, open, "unclosed '['");
    }
    const unsigned char *s = (const unsigned char *)p->pat + p->pos;
    size_t n = utf8_decode (s, p->end - p->pos, cp);
    *raw = n == 0;
    if (*raw)
        *cp = s[0];
    p->pos += n ? n : 1;
    return 0;
}

static int parse_class (struct parser *p, struct seq *s)
{
    size_t open = p->pos++;
    int members = 0;
    cls_t set = {0};

    if (p->pos < p->end && (p->pat[p->pos] == '!' || p->pat[p->pos] == '^')) {
        set.neg = true;
        p->pos++;
    }
    for (;;) {
        if (p->pos >= p->end) {
            perr (p, open, "unclosed '['");
            goto error;
        }
        char c = p->pat[p->pos];
        if (c == ']') {
            p->pos++;
            break;
        }
        if (c == '[' && p->pos + 1 < p->end && p->pat[p->pos + 1] == ':') {
            if (parse_posix (p, &set) < 0)
                goto error;
            members++;
            continue;
        }
        size_t at = p->pos;
        uint32_t lo = 0, hi;
        bool rlo, rhi;
        if (class_char (p, open, &lo, &rlo) < 0)
            goto error;
        hi = lo;
        rhi = rlo;
        if (p->pos + 1 < p->end && p->pat[p->pos] == '-'
            && p->pat[p->pos + 1] != ']') {
            p->pos++;
            if (class_char (p, open, &hi, &rhi) < 0)
                goto error;
            if (rlo != rhi) {
                perr (p, at, "range in '[...]' mixes a character and a "
                      "byte that is not UTF-8");
                goto error;
            }
            if (hi < lo) {
                perr (p, at, "reversed range in '[...]'");
                goto error;
            }
        }
        if (rlo) {
            for (uint32_t b = lo; b <= hi; b++)
                bits_add (set.raw, b - 0x80);
        }
        else if (cls_add_range (&set, lo, hi) < 0) {
            oom (p->err);
            goto error;
        }
        members++;
    }
    if (members == 0) {
        perr (p, open, "empty class '[]'");
        goto error;
    }

    int idx = add_class (p, &set);
    if (idx < 0)
        return -1;
    struct node *nd = seq_add (s, N_CLASS);
    if (!nd)
        return oom (p->err);
    nd->cls = idx;
    return 0;
error:
    free (set.ranges);
    return -1;
}

static int parse_seq (struct parser *p, struct seq *s, int depth, char ctx);

/* {a,b,...} or (a|b|...) at p->pos. */
static int parse_alt (struct parser *p, struct seq *s, int depth)
{
    size_t open = p->pos;
    char o = p->pat[open];
    char close = o == '{' ? '}' : ')';

    if (depth >= MAXNEST)
        return perr (p, open, "too deeply nested");
    if (o == '(' && p->ngroups == MAXGROUPS)
        return perr (p, open, "more than 15 capture groups");
    /* The node joins s first so that an error frees what was parsed. */
    struct node *nd = seq_add (s, N_ALT);
    if (!nd)
        return oom (p->err);
    if (o == '(')
        nd->group = ++p->ngroups;
    p->pos++;
    for (;;) {
        struct seq *alts = realloc (nd->alts,
                                    (size_t)(nd->nalts + 1) * sizeof (*alts));
        if (!alts)
            return oom (p->err);
        nd->alts = alts;
        memset (&alts[nd->nalts], 0, sizeof (*alts));
        if (parse_seq (p, &alts[nd->nalts++], depth + 1, o) < 0)
            return -1;
        if (p->pos >= p->end)
            return perr (p, open, o == '{' ? "unclosed '{'" : "unclosed '('");
        /* parse_seq stopped at a separator or at the closing character. */
        if (p->pat[p->pos++] == close)
            return 0;
    }
}

/* Items up to the end of the pattern or, inside braces or parentheses
 * (ctx '{' or '('), up to the next separator or closing character. */
static int parse_seq (struct parser *p, struct seq *s, int depth, char ctx)
{
    while (p->pos < p->end) {
        size_t at = p->pos;
        char c = p->pat[at];
        if ((ctx == '{' && (c == ',' || c == '}'))
            || (ctx == '(' && (c == '|' || c == ')')))
            return 0;
        switch (c) {
        case '\\':
            if (at + 1 >= p->end)
                return perr (p, at, "trailing '\\'");
            if (add_char (p, s, (unsigned char)p->pat[at + 1]) < 0)
                return -1;
            p->pos += 2;
            break;
        case '?':
            if (!seq_add (s, N_ANY))
                return oom (p->err);
            p->pos++;
            break;
        case '*': {
            size_t e = at;
            while (e < p->end && p->pat[e] == '*')
                e++;
            if (!seq_add (s, e - at > 1 ? N_DSTAR : N_STAR))
                return oom (p->err);
            p->pos = e;
            break;
        }
        case '[':
            if (parse_class (p, s) < 0)
                return -1;
            break;
        case '{':
        case '(':
            if (parse_alt (p, s, depth) < 0)
                return -1;
            break;
        case ')':
            return perr (p, at, "unmatched ')'");
        case '}':
            return perr (p, at, "unmatched '}'");
        case '/':
            /* Paths have no empty components: "a//b" means "a/b". */
            if (!(s->n > 0 && s->v[s->n - 1].kind == N_CHAR
                  && s->v[s->n - 1].c == '/'))
                if (add_char (p, s, '/') < 0)
                    return -1;
            p->pos++;
            break;
        default:
            if (add_char (p, s, (unsigned char)c) < 0)
                return -1;
            p->pos++;
            break;
        }
    }
    return 0;
}

/* ------------------------------------------------------------- analysis */

static int sat_add (int a, int b)
{
    return a > UNBOUNDED - b ? UNBOUNDED : a + b;
}

/* How many '/' a match of s can contain, at least and at most. */
static void seq_slashes (const struct seq *s, int *mn, int *mx)
{
    int lo = 0, hi = 0;
    for (int i = 0; i < s->n; i++) {
        const struct node *nd = &s->v[i];
        if (nd->kind == N_CHAR && nd->c == '/') {
            lo = sat_add (lo, 1);
            hi = sat_add (hi, 1);
        }
        else if (nd->kind == N_DSTAR)
            hi = UNBOUNDED;
        else if (nd->kind == N_ALT) {
            int alo = UNBOUNDED, ahi = 0;
            for (int j = 0; j < nd->nalts; j++) {
                int l, h;
                seq_slashes (&nd->alts[j], &l, &h);
                alo = l < alo ? l : alo;
                ahi = h > ahi ? h : ahi;
            }
            lo = sat_add (lo, alo);
            hi = sat_add (hi, ahi);
        }
    }
    *mn = lo;
    *mx = hi;
}

static bool node_is_slash (const struct node *nd)
{
    return nd->kind == N_CHAR && nd->c == '/';
}

/* Whether items [a, b) of s can match only within one path component. */
static bool flat (const struct seq *s, int a, int b)
{
    for (int i = a; i < b; i++) {
        const struct node *nd = &s->v[i];
        if (node_is_slash (nd) || nd->kind == N_DSTAR)
            return false;
        for (int j = 0; j < nd->nalts; j++)
            if (!flat (&nd->alts[j], 0, nd->alts[j].n))
                return false;
    }
    return true;
}

/* ------------------------------------------------------------ compiling */

static int emit (struct prog *pr, enum op op, int c, int x, int y)
{
    if (pr->n == pr->cap) {
        int cap = pr->cap ? 2 * pr->cap : 16;
        struct inst *code = realloc (pr->code, (size_t)cap * sizeof (*code));
        if (!code)
            return -1;
        pr->code = code;
        pr->cap = cap;
    }
    struct inst *in = &pr->code[pr->n];
    in->op = (uint8_t)op;
    in->c = (uint8_t)c;
    in->cls = 0;
    in->x = x;
    in->y = y;
    return pr->n++;
}

static int compile_seq (struct prog *pr, const struct seq *s, int a, int b,
                        bool caps);

static int compile_node (struct prog *pr, const struct node *nd, bool caps)
{
    int l;
    switch (nd->kind) {
    case N_CHAR:
        return emit (pr, OP_CHAR, nd->c, 0, 0);
    case N_ANY:
        return emit (pr, OP_ANY, 0, 0, 0);
    case N_CLASS:
        if (emit (pr, OP_CLASS, 0, 0, 0) < 0)
            return -1;
        pr->code[pr->n - 1].cls = (uint16_t)nd->cls;
        return 0;
    case N_STAR:
    case N_DSTAR:
        /* l: split l+1, out; l+1: any; jmp l; out: (greedy) */
        if ((l = emit (pr, OP_SPLIT, 0, pr->n + 1, 0)) < 0
            || emit (pr, nd->kind == N_STAR ? OP_ANY : OP_ANYS, 0, 0, 0) < 0
            || emit (pr, OP_JMP, 0, l, 0) < 0)
            return -1;
        pr->code[l].y = pr->n;
        return 0;
    case N_ALT: {
        int jumps = -1;         /* chain of JMPs to patch through .x */
        if (nd->group && caps && emit (pr, OP_SAVE, 2 * nd->group, 0, 0) < 0)
            return -1;
        for (int i = 0; i < nd->nalts; i++) {
            int split = -1;
            if (i < nd->nalts - 1
                && (split = emit (pr, OP_SPLIT, 0, pr->n + 1, 0)) < 0)
                return -1;
            if (compile_seq (pr, &nd->alts[i], 0, nd->alts[i].n, caps) < 0)
                return -1;
            if (split >= 0) {
                if ((l = emit (pr, OP_JMP, 0, jumps, 0)) < 0)
                    return -1;
                jumps = l;
                pr->code[split].y = pr->n;
            }
        }
        while (jumps >= 0) {
            int next = pr->code[jumps].x;
            pr->code[jumps].x = pr->n;
            jumps = next;
        }
        if (nd->group && caps
            && emit (pr, OP_SAVE, 2 * nd->group + 1, 0, 0) < 0)
            return -1;
        return 0;
    }
    }
    return -1;
}

/* Items [a, b) of s; a group's offsets are saved only when caps. */
static int compile_seq (struct prog *pr, const struct seq *s, int a, int b,
                        bool caps)
{
    for (int i = a; i < b; i++)
        if (compile_node (pr, &s->v[i], caps) < 0)
            return -1;
    return 0;
}

/* Items [a, b) of s as a whole program. */
static int compile_prog (struct prog *pr, const struct seq *s, int a, int b,
                         bool caps)
{
    if (compile_seq (pr, s, a, b, caps) < 0
        || emit (pr, OP_MATCH, 0, 0, 0) < 0)
        return -1;
    return 0;
}

/* Leading segments that cannot match '/' become levels; a segment of plain
 * bytes also gets its literal name. */
static int compile_levels (sched_glob_t *g, const struct seq *top)
{
    int a = 0;
    while (a < top->n) {
        int b = a;
        while (b < top->n && !node_is_slash (&top->v[b]))
            b++;
        if (!flat (top, a, b))
            break;
        struct level *lv = realloc (g->levels,
                                    (size_t)(g->nlevels + 1) * sizeof (*lv));
        if (!lv)
            return -1;
        g->levels = lv;
        lv = &lv[g->nlevels++];
        memset (lv, 0, sizeof (*lv));
        if (compile_prog (&lv->prog, top, a, b, false) < 0)
            return -1;
        lv->any = b == a + 1 && top->v[a].kind == N_STAR;
        bool lit = true;
        for (int i = a; i < b; i++)
            lit = lit && top->v[i].kind == N_CHAR;
        if (lit) {
            if (!(lv->literal = malloc ((size_t)(b - a) + 1)))
                return -1;
            for (int i = a; i < b; i++)
                lv->literal[i - a] = (char)top->v[i].c;
            lv->literal[b - a] = '\0';
        }
        a = b + 1;
    }
    return 0;
}

void sched_glob_destroy (sched_glob_t *g)
{
    int saved = errno;
    if (g) {
        free (g->full.code);
        for (int i = 0; i < g->nlevels; i++) {
            free (g->levels[i].prog.code);
            free (g->levels[i].literal);
        }
        free (g->levels);
        for (int i = 0; i < g->nclasses; i++)
            free (g->classes[i].ranges);
        free (g->classes);
        free (g);
    }
    errno = saved;
}

static bool escaped (const char *pat, size_t start, size_t i)
{
    size_t n = 0;
    while (i > start && pat[i - 1] == '\\') {
        n++;
        i--;
    }
    return n % 2 == 1;
}

sched_glob_t *sched_glob_compile (const char *pattern, dr_error_t *err)
{
    struct seq top = {0};
    sched_glob_t *g = NULL;

    if (!pattern) {
        errno = EINVAL;
        dr_errprintf (err, "glob: no pattern");
        return NULL;
    }
    if (!(g = calloc (1, sizeof (*g)))) {
        oom (err);
        return NULL;
    }
    struct parser p = {.pat = pattern, .g = g, .err = err};
    p.end = strlen (pattern);
    while (p.pos < p.end && pattern[p.pos] == '/')
        p.pos++;
    while (p.end > p.pos && pattern[p.end - 1] == '/'
           && !escaped (pattern, p.pos, p.end - 1))
        p.end--;
    if (parse_seq (&p, &top, 0, 0) < 0)
        goto error;
    g->root = top.n == 0;
    g->ngroups = p.ngroups;
    int mn, mx;
    seq_slashes (&top, &mn, &mx);
    g->minsegs = sat_add (mn, 1);
    g->maxsegs = sat_add (mx, 1);
    if (compile_prog (&g->full, &top, 0, top.n, true) < 0
        || compile_levels (g, &top) < 0) {
        oom (err);
        goto error;
    }
    seq_free (&top);
    return g;
error:
    seq_free (&top);
    sched_glob_destroy (g);
    return NULL;
}

/* -------------------------------------------------------------- matching */

/* A backtracking job: resume at (pc, pos), or, with pc < 0, restore
 * capture slot -pc-1 to pos. */
struct job {
    int32_t pc;
    uint32_t pos;
};

/* Reusable memory of the matcher; small matches fit in the inline parts. */
struct scratch {
    uint64_t *bits;
    size_t nwords;
    struct job *stack;
    size_t cap;
    uint64_t ibits[32];
    struct job istack[64];
};

static void scratch_init (struct scratch *s)
{
    s->bits = s->ibits;
    s->nwords = sizeof (s->ibits) / sizeof (s->ibits[0]);
    s->stack = s->istack;
    s->cap = sizeof (s->istack) / sizeof (s->istack[0]);
}

static void scratch_fini (struct scratch *s)
{
    if (s->bits != s->ibits)
        free (s->bits);
    if (s->stack != s->istack)
        free (s->stack);
}

static int push (struct scratch *s, size_t *sp, int32_t pc, uint32_t pos)
{
    if (*sp == s->cap) {
        size_t cap = 2 * s->cap;
        struct job *st = s->stack == s->istack ? NULL : s->stack;
        if (!(st = realloc (st, cap * sizeof (*st))))
            return -1;
        if (s->stack == s->istack)
            memcpy (st, s->istack, sizeof (s->istack));
        s->stack = st;
        s->cap = cap;
    }
    s->stack[(*sp)++] = (struct job){pc, pos};
    return 0;
}

/* Run pr over s[0..len).  Anchored at both ends, or, when partial, true as
 * soon as the input runs out where the pattern still wants a byte (some
 * longer path starting with s could match).  cap gets 2 * SCHED_GLOB_MAXCAPS
 * slots of offsets, UINT32_MAX where unset.  Returns 1, 0, or -1 (ENOMEM).
 */
static int prog_exec (const struct prog *pr, const cls_t *classes,
                      const char *s, size_t len, bool partial, uint32_t *cap,
                      struct scratch *scr)
{
    uint32_t slots[2 * SCHED_GLOB_MAXCAPS];
    size_t width = len + 1, words = ((size_t)pr->n * width + 63) / 64;
    size_t sp = 0;

    if (len >= UINT32_MAX) {
        errno = ENAMETOOLONG;
        return -1;
    }
    if (words > scr->nwords) {
        uint64_t *b = scr->bits == scr->ibits ? NULL : scr->bits;
        if (!(b = realloc (b, words * sizeof (*b)))) {
            errno = ENOMEM;
            return -1;
        }
        scr->bits = b;
        scr->nwords = words;
    }
    memset (scr->bits, 0, words * sizeof (*scr->bits));
    for (int i = 0; i < 2 * SCHED_GLOB_MAXCAPS; i++)
        slots[i] = UINT32_MAX;
    if (push (scr, &sp, 0, 0) < 0)
        goto nomem;
    while (sp > 0) {
        struct job j = scr->stack[--sp];
        if (j.pc < 0) {
            slots[-j.pc - 1] = j.pos;
            continue;
        }
        int32_t pc = j.pc;
        size_t pos = j.pos;
        for (;;) {
            size_t bit = (size_t)pc * width + pos;
            if (scr->bits[bit / 64] >> (bit % 64) & 1)
                break;
            scr->bits[bit / 64] |= (uint64_t)1 << (bit % 64);
            const struct inst *in = &pr->code[pc];
            /* The first four ops consume a byte. */
            if (in->op <= OP_CLASS && pos == len) {
                if (partial)
                    return 1;
                break;
            }
            const unsigned char *u = (const unsigned char *)s + pos;
            uint32_t cp;
            size_t w;
            switch (in->op) {
            case OP_CHAR:
                if (*u != in->c)
                    goto fail;
                pc++, pos++;
                continue;
            case OP_ANY:
                if (*u == '/')
                    goto fail;
                /* fall through */
            case OP_ANYS:
                w = *u < 0x80 ? 1 : utf8_decode (u, len - pos, &cp);
                pc++, pos += w ? w : 1;
                continue;
            case OP_CLASS:
                if (!cls_has (&classes[in->cls], u, len - pos, &w))
                    goto fail;
                pc++, pos += w;
                continue;
            case OP_SPLIT:
                if (push (scr, &sp, in->y, (uint32_t)pos) < 0)
                    goto nomem;
                pc = in->x;
                continue;
            case OP_JMP:
                pc = in->x;
                continue;
            case OP_SAVE:
                if (push (scr, &sp, -(int32_t)in->c - 1, slots[in->c]) < 0)
                    goto nomem;
                slots[in->c] = (uint32_t)pos;
                pc++;
                continue;
            case OP_MATCH:
                if (partial || pos != len)
                    goto fail;
                if (cap)
                    memcpy (cap, slots, sizeof (slots));
                return 1;
            }
        fail:
            break;
        }
    }
    return 0;
nomem:
    errno = ENOMEM;
    return -1;
}

static void fill_caps (const sched_glob_t *g, const uint32_t *slots,
                       size_t len, sched_glob_caps_t *caps)
{
    memset (caps, 0, sizeof (*caps));
    caps->n = g->ngroups + 1;
    caps->len[0] = (uint32_t)len;       /* the whole match, $0 */
    for (int i = 1; i <= g->ngroups; i++) {
        uint32_t a = slots[2 * i], b = slots[2 * i + 1];
        if (a != UINT32_MAX && b != UINT32_MAX && a <= b) {
            caps->off[i] = a;
            caps->len[i] = b - a;
        }
    }
}

/* sched_glob_match() with the caller's scratch: 1, 0 or -1 (ENOMEM). */
static int glob_exec (const sched_glob_t *g, const char *relpath, size_t len,
                      sched_glob_caps_t *caps, struct scratch *scr)
{
    uint32_t slots[2 * SCHED_GLOB_MAXCAPS];
    int rc;

    if (g->root || len == 0)
        rc = g->root && len == 0;
    else if ((rc = prog_exec (&g->full, g->classes, relpath,
                              len, false, slots, scr)) < 0)
        return -1;
    if (caps) {
        if (rc == 1 && !g->root)
            fill_caps (g, slots, len, caps);
        else
            memset (caps, 0, sizeof (*caps));
        if (rc == 1 && g->root)
            caps->n = 1;
    }
    return rc;
}

bool sched_glob_match (const sched_glob_t *g, const char *relpath,
                       sched_glob_caps_t *caps)
{
    struct scratch scr;
    if (!g || !relpath) {
        if (caps)
            memset (caps, 0, sizeof (*caps));
        return false;
    }
    scratch_init (&scr);
    int rc = glob_exec (g, relpath, strlen (relpath), caps, &scr);
    scratch_fini (&scr);
    return rc == 1;
}

/* ------------------------------------------------------------- expanding */

struct buf {
    char *s;
    size_t len, cap;
};

static int buf_add (struct buf *b, const char *s, size_t n)
{
    if (b->len + n + 1 > b->cap) {
        size_t cap = b->cap ? b->cap : 64;
        while (cap < b->len + n + 1)
            cap *= 2;
        char *p = realloc (b->s, cap);
        if (!p)
            return -1;
        b->s = p;
        b->cap = cap;
    }
    memcpy (b->s + b->len, s, n);
    b->len += n;
    b->s[b->len] = '\0';
    return 0;
}

char *sched_glob_expand (const char *tmpl, const char *relpath,
                         const sched_glob_caps_t *caps, dr_error_t *err)
{
    struct buf b = {0};
    size_t plen;

    if (!tmpl || !relpath) {
        errno = EINVAL;
        dr_errprintf (err, "glob: no template or path");
        return NULL;
    }
    plen = strlen (relpath);
    if (buf_add (&b, "", 0) < 0)
        goto nomem;
    for (const char *t = tmpl; *t;) {
        const char *dollar = strchr (t, '$');
        size_t lit = dollar ? (size_t)(dollar - t) : strlen (t);
        if (buf_add (&b, t, lit) < 0)
            goto nomem;
        if (!dollar)
            break;
        t = dollar + 1;
        if (*t == '$') {                /* "$$" is one '$' */
            if (buf_add (&b, "$", 1) < 0)
                goto nomem;
            t++;
            continue;
        }
        bool brace = *t == '{';
        const char *d = t + brace;
        if (!isdigit ((unsigned char)*d)) {
            if (brace) {
                errno = EINVAL;
                dr_errprintf (err, "template '%s': '${' without a group "
                              "number at column %zu", tmpl,
                              (size_t)(dollar - tmpl) + 1);
                goto error;
            }
            if (buf_add (&b, "$", 1) < 0)  /* a lone '$' is itself */
                goto nomem;
            continue;
        }
        long n = 0;
        while (isdigit ((unsigned char)*d)) {
            if (n < 1000)
                n = n * 10 + (*d - '0');
            d++;
        }
        if (brace && *d++ != '}') {
            errno = EINVAL;
            dr_errprintf (err, "template '%s': unclosed '${' at column %zu",
                          tmpl, (size_t)(dollar - tmpl) + 1);
            goto error;
        }
        int ngroups = caps && caps->n > 0 ? caps->n - 1 : 0;
        if (n > ngroups) {
            errno = EINVAL;
            dr_errprintf (err, "template '%s': no capture group $%ld (the "
                          "glob has %d)", tmpl, n, ngroups);
            goto error;
        }
        size_t off = n ? caps->off[n] : 0, len = n ? caps->len[n] : plen;
        if (off > plen || len > plen - off) {
            errno = EINVAL;
            dr_errprintf (err, "template '%s': group $%ld lies outside '%s'",
                          tmpl, n, relpath);
            goto error;
        }
        /* $0 is the whole path as Pachyderm shows it, with its leading
         * '/' ("/name=adele/year=2016/photos.dat"; the root is "/"). */
        if ((n == 0 && buf_add (&b, "/", 1) < 0)
            || buf_add (&b, relpath + off, len) < 0)
            goto nomem;
        t = d;
    }
    return b.s;
nomem:
    oom (err);
error:
    free (b.s);
    return NULL;
}

/* ------------------------------------------------------------------ walk */

enum etype { T_UNKNOWN, T_DIR, T_LNK, T_OTHER };

/* An entry of a listing: reported, or (slash) descended into.  A directory
 * that is both appears twice, sorted as "name" and as "name/", so that the
 * walk visits paths in strcmp order. */
struct rec {
    uint64_t key;               /* its first 8 bytes, big-endian */
    size_t off;                 /* name in frame.pool */
    uint32_t len;
    uint8_t type;               /* enum etype */
    uint8_t slash;
};

struct frame {
    int fd;                     /* the directory */
    int level;                  /* its path's component count */
    size_t plen;                /* its path's length in walker.path */
    char *pool;
    size_t pool_len, pool_cap;
    struct rec *recs;
    size_t n, cap, next;
};

struct walker {
    const sched_glob_t *g;
    const char *root;
    char *path;                 /* the repo-relative path being visited */
    size_t path_cap;
    struct frame *frames;       /* frames[0 .. top]; more kept for reuse */
    int nframes, top;
    struct scratch scr;
    dr_error_t *err;
};

static int walk_oom (struct walker *w)
{
    return oom (w->err);
}

/* Name root/path[0..plen)/name (name may be NULL) and errno's reason. */
static int walk_err (struct walker *w, const char *what, size_t plen,
                     const char *name)
{
    int e = errno;
    dr_errprintf (w->err, "glob: cannot %s '%s%s%.*s%s%s': %s", what,
                  w->root, plen || name ? "/" : "", (int)plen,
                  w->path ? w->path : "", plen && name ? "/" : "",
                  name ? name : "", strerror (e));
    errno = e;
    return -1;
}

/* Make path[0..plen) + "/" + name the current path; returns its length, or
 * (size_t)-1 on ENOMEM.  Leaves room for one more byte and a NUL. */
static size_t path_set (struct walker *w, size_t plen, const char *name,
                        size_t len)
{
    size_t need = plen + 1 + len + 2;
    if (need > w->path_cap) {
        size_t cap = w->path_cap ? w->path_cap : 256;
        while (cap < need)
            cap *= 2;
        char *p = realloc (w->path, cap);
        if (!p)
            return (size_t)-1;
        w->path = p;
        w->path_cap = cap;
    }
    size_t n = plen;
    if (plen)
        w->path[n++] = '/';
    memcpy (w->path + n, name, len);
    n += len;
    w->path[n] = '\0';
    return n;
}

/* The first 8 bytes of name, then '/' for a descent, then NULs, as a
 * big-endian number: keys that differ order their records. */
static uint64_t rec_key (const char *name, size_t len, bool slash)
{
    uint64_t k = 0;
    for (size_t i = 0; i < 8; i++) {
        unsigned char c = i < len ? (unsigned char)name[i]
                          : i == len && slash ? '/' : 0;
        k = k << 8 | c;
    }
    return k;
}

static int rec_cmp (const void *a, const void *b, void *arg)
{
    const struct rec *x = a, *y = b;
    const char *pool = arg;
    if (x->key != y->key)
        return x->key < y->key ? -1 : 1;
    size_t n = x->len < y->len ? x->len : y->len;
    int c = memcmp (pool + x->off, pool + y->off, n);
    if (c)
        return c;
    /* Past the shorter name, a descent continues with '/'. */
    unsigned cx = x->len > n ? (unsigned char)pool[x->off + n]
                             : x->slash ? '/' : 0;
    unsigned cy = y->len > n ? (unsigned char)pool[y->off + n]
                             : y->slash ? '/' : 0;
    return (int)cx - (int)cy;
}

static int frame_add (struct frame *f, const char *name, size_t len,
                      enum etype type, bool report, bool descend)
{
    if (f->pool_len + len + 1 > f->pool_cap) {
        size_t cap = f->pool_cap ? f->pool_cap : 4096;
        while (cap < f->pool_len + len + 1)
            cap *= 2;
        char *p = realloc (f->pool, cap);
        if (!p)
            return -1;
        f->pool = p;
        f->pool_cap = cap;
    }
    if (f->n + 2 > f->cap) {
        size_t cap = f->cap ? 2 * f->cap : 64;
        struct rec *r = realloc (f->recs, cap * sizeof (*r));
        if (!r)
            return -1;
        f->recs = r;
        f->cap = cap;
    }
    size_t off = f->pool_len;
    memcpy (f->pool + off, name, len + 1);
    f->pool_len += len + 1;
    if (report)
        f->recs[f->n++] = (struct rec){rec_key (name, len, false), off,
                                       (uint32_t)len, (uint8_t)type, 0};
    if (descend)
        f->recs[f->n++] = (struct rec){rec_key (name, len, true), off,
                                       (uint32_t)len, (uint8_t)type, 1};
    return 0;
}

static enum etype mode_type (mode_t m)
{
    return S_ISDIR (m) ? T_DIR : S_ISLNK (m) ? T_LNK : T_OTHER;
}

/* Decide what the walk does with one name of frame f's directory. */
static int consider (struct walker *w, struct frame *f, const char *name,
                     size_t len, enum etype type, const struct level *lv)
{
    const sched_glob_t *g = w->g;
    int segs = f->level + 1;    /* components of the entry's path */
    bool report = segs >= g->minsegs && segs <= g->maxsegs;
    bool descend = segs < g->maxsegs;
    int rc;

    if (lv && !lv->literal && !lv->any) {
        rc = prog_exec (&lv->prog, g->classes, name, len,
                        false, NULL, &w->scr);
        if (rc < 0)
            return walk_oom (w);
        if (rc == 0)
            return 0;
    }
    if (descend && type == T_UNKNOWN) {
        struct stat st;
        if (fstatat (f->fd, name, &st, AT_SYMLINK_NOFOLLOW) < 0) {
            if (errno == ENOENT)
                return 0;       /* removed since it was listed */
            return walk_err (w, "stat", f->plen, name);
        }
        type = mode_type (st.st_mode);
    }
    descend = descend && type == T_DIR;
    if (descend && !lv) {
        /* No segment filter at this depth: ask the whole pattern whether
         * some path below this directory could match. */
        size_t n = path_set (w, f->plen, name, len);
        if (n == (size_t)-1)
            return walk_oom (w);
        w->path[n] = '/';
        rc = prog_exec (&g->full, g->classes, w->path, n + 1,
                        true, NULL, &w->scr);
        w->path[n] = '\0';
        if (rc < 0)
            return walk_oom (w);
        descend = rc == 1;
    }
    if ((report || descend) && frame_add (f, name, len, type, report,
                                          descend) < 0)
        return walk_oom (w);
    return 0;
}

/* Fill f with the sorted entries of its directory worth visiting. */
static int frame_list (struct walker *w, struct frame *f)
{
    const struct level *lv = f->level < w->g->nlevels
                                 ? &w->g->levels[f->level] : NULL;
    f->n = f->next = f->pool_len = 0;

    if (lv && lv->literal) {
        /* One possible name: look it up instead of listing. */
        const char *lit = lv->literal;
        struct stat st;
        if (io_name_reserved (lit))     /* as when listing, below */
            return 0;
        if (fstatat (f->fd, lit, &st, AT_SYMLINK_NOFOLLOW) < 0) {
            if (errno == ENOENT || errno == ENOTDIR)
                return 0;
            return walk_err (w, "stat", f->plen, lit);
        }
        return consider (w, f, lit, strlen (lit), mode_type (st.st_mode), lv);
    }

    int fd = dup (f->fd);
    DIR *d = fd < 0 ? NULL : fdopendir (fd);
    if (!d) {
        int e = errno;
        if (fd >= 0)
            close (fd);
        errno = e;
        return walk_err (w, "read directory", f->plen, NULL);
    }
    for (;;) {
        errno = 0;
        struct dirent *de = readdir (d);
        if (!de) {
            if (errno) {
                walk_err (w, "read directory", f->plen, NULL);
                goto error;
            }
            break;
        }
        const char *name = de->d_name;
        /* "." and "..", and an upstream pipeline's owner marker: not one
         * of its outputs, so a pipeline reading another's output folder
         * never sees it. */
        if (io_name_reserved (name))
            continue;
        enum etype type = de->d_type == DT_DIR ? T_DIR
                          : de->d_type == DT_LNK ? T_LNK
                          : de->d_type == DT_UNKNOWN ? T_UNKNOWN : T_OTHER;
        if (consider (w, f, name, strlen (name), type, lv) < 0)
            goto error;
    }
    closedir (d);
    if (f->n > 1)
        qsort_r (f->recs, f->n, sizeof (*f->recs), rec_cmp, f->pool);
    return 0;
error:
    closedir (d);
    return -1;
}

/* Push a frame for the directory fd (taken over) at path[0..plen). */
static int walk_push (struct walker *w, int fd, int level, size_t plen)
{
    if (w->top + 1 == w->nframes) {
        int n = w->nframes ? 2 * w->nframes : 8;
        struct frame *fr = realloc (w->frames, (size_t)n * sizeof (*fr));
        if (!fr) {
            close (fd);
            return walk_oom (w);
        }
        memset (fr + w->nframes, 0, (size_t)(n - w->nframes) * sizeof (*fr));
        w->frames = fr;
        w->nframes = n;
    }
    struct frame *f = &w->frames[++w->top];
    f->fd = fd;
    f->level = level;
    f->plen = plen;
    return frame_list (w, f);
}

static int report (struct walker *w, struct frame *f, const struct rec *r,
                   size_t n, sched_glob_f cb, void *arg)
{
    const sched_glob_t *g = w->g;
    sched_glob_caps_t caps;
    int rc;
    if (g->nlevels == g->maxsegs && g->ngroups == 0) {
        /* Every segment is a level and this entry passed them all: that is
         * the whole pattern's match, and there is nothing to capture. */
        memset (&caps, 0, sizeof (caps));
        caps.n = 1;
        caps.len[0] = (uint32_t)n;
        rc = 1;
    }
    else
        rc = glob_exec (g, w->path, n, &caps, &w->scr);
    if (rc < 0)
        return walk_oom (w);
    if (rc == 0)
        return 0;
    bool is_dir = r->type == T_DIR;
    if (r->type == T_LNK || r->type == T_UNKNOWN) {
        /* A symlink is reported as what it points to. */
        struct stat st;
        is_dir = fstatat (f->fd, f->pool + r->off, &st, 0) == 0
                 && S_ISDIR (st.st_mode);
    }
    return cb (w->path, is_dir, &caps, arg);
}

int sched_glob_walk (const sched_glob_t *g, const char *root, sched_glob_f cb,
                     void *arg, dr_error_t *err)
{
    struct walker w = {.g = g, .root = root, .top = -1, .err = err};
    int rc = 0;

    if (!g || !root || !cb) {
        errno = EINVAL;
        return dr_errprintf (err, "glob: invalid argument");
    }
    scratch_init (&w.scr);
    int fd = open (root, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0) {
        rc = walk_err (&w, "open directory", 0, NULL);
        goto done;
    }
    if (g->root) {
        sched_glob_caps_t caps = {.n = 1};
        close (fd);
        rc = cb ("", true, &caps, arg);
        goto done;
    }
    if (walk_push (&w, fd, 0, 0) < 0) {
        rc = -1;
        goto done;
    }
    while (w.top >= 0) {
        struct frame *f = &w.frames[w.top];
        if (f->next == f->n) {
            close (f->fd);
            f->fd = -1;
            w.top--;
            continue;
        }
        const struct rec *r = &f->recs[f->next++];
        /* Sorted order visits the pool at random: fetch ahead. */
        if (f->next + 8 < f->n)
            __builtin_prefetch (f->pool + f->recs[f->next + 8].off);
        const char *name = f->pool + r->off;
        size_t n = path_set (&w, f->plen, name, r->len);
        if (n == (size_t)-1) {
            rc = walk_oom (&w);
            goto done;
        }
        if (!r->slash) {
            if ((rc = report (&w, f, r, n, cb, arg)) != 0)
                goto done;
            continue;
        }
        /* A directory whose one candidate name is known is never listed,
         * so it needs only search permission: open it O_PATH. */
        int lv = f->level + 1;
        bool lit = lv < g->nlevels && g->levels[lv].literal;
        int cfd = openat (f->fd, name, (lit ? O_PATH : O_RDONLY) | O_DIRECTORY
                                           | O_NOFOLLOW | O_CLOEXEC);
        if (cfd < 0) {
            if (errno == ENOENT)
                continue;       /* removed since it was listed */
            rc = walk_err (&w, "open directory", n, NULL);
            goto done;
        }
        if (walk_push (&w, cfd, f->level + 1, n) < 0) {
            rc = -1;
            goto done;
        }
    }
done:
    for (int i = 0; i < w.nframes; i++) {
        if (i <= w.top && w.frames[i].fd >= 0)
            close (w.frames[i].fd);
        free (w.frames[i].pool);
        free (w.frames[i].recs);
    }
    free (w.frames);
    free (w.path);
    scratch_fini (&w.scr);
    return rc;
}

/* vi: ts=4 sw=4 expandtab
 */
