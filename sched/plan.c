/* plan.c: from a spec's input tree to the datum list.  Each pfs leaf's
 * glob is walked once and its matches become entries (hashed through the
 * stat cache); combinators then build datums as tuples of entry indices, so
 * a cross of 1,000 x 1,000 hashes 2,000 entries, not a million datums'
 * worth of files.  Each datum gets its ID (from its input names, repos and
 * paths) and hash (ID, contents, pipeline hash), and is marked process or
 * skip against the manifest.
 */
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sched/sched.h"

#define NOKEY UINT64_MAX

/* A datum's keys, as pool offsets or NOKEY.  A join matches its children's
 * datums on `join` and a group on `group`; `shown` is the key of the
 * outermost join or group that made the datum, the one the plan reports
 * and the command sees.  A datum that is not itself a join's or group's
 * carries the keys of its first part that has them, so that any combinator
 * can nest in any other (a cross in a join joins on its first keyed
 * input's key).  A group regroups entries, not datums: each file of a join
 * in a group goes to the group of its own input's group_by key. */
_Static_assert (sizeof (sched_entry_t) == 32, "an entry is 32 bytes");
_Static_assert (sizeof (sched_datum_t) == 32, "a datum is 32 bytes");

typedef struct dkeys {
    uint64_t shown, join, group;
} dkeys_t;

static const dkeys_t nokeys = { NOKEY, NOKEY, NOKEY };

/* The first set key of each kind: a's, else b's. */
static void dkeys_merge (dkeys_t *a, const dkeys_t *b)
{
    if (a->shown == NOKEY)
        a->shown = b->shown;
    if (a->join == NOKEY)
        a->join = b->join;
    if (a->group == NOKEY)
        a->group = b->group;
}

/* A datum list under construction: datum i owns ents[start[i] ..
 * start[i+1]-1] and key[i]. */
typedef struct dlist {
    uint32_t *ents;
    uint64_t nents, ents_cap;
    uint64_t *start;       /* ndatums + 1 */
    dkeys_t *key;
    size_t n, cap;
} dlist_t;

static void dlist_free (dlist_t *l)
{
    free (l->ents);
    free (l->start);
    free (l->key);
    memset (l, 0, sizeof (*l));
}

static int dlist_reserve_ents (dlist_t *l, uint64_t more)
{
    if (l->nents + more <= l->ents_cap)
        return 0;
    uint64_t ncap = l->ents_cap ? l->ents_cap : 64;
    while (ncap < l->nents + more)
        ncap *= 2;
    uint32_t *n = realloc (l->ents, ncap * sizeof (*n));
    if (!n)
        return -1;
    l->ents = n;
    l->ents_cap = ncap;
    return 0;
}

static bool is_nokeys (const dkeys_t *k)
{
    return k->shown == NOKEY && k->join == NOKEY && k->group == NOKEY;
}

/* Datum i's keys.  Lists whose datums have no keys (every pfs input
 * without join_on or group_by) keep no key array: 24 bytes a datum saved
 * on the planning peak. */
static const dkeys_t *dlist_key (const dlist_t *l, size_t i)
{
    return l->key ? &l->key[i] : &nokeys;
}

/* Open a new datum; its entries follow with dlist_add_ent. */
static int dlist_begin (dlist_t *l, const dkeys_t *key)
{
    if (l->n + 2 > l->cap) {
        size_t ncap = l->cap ? 2 * l->cap : 64;
        uint64_t *s = realloc (l->start, ncap * sizeof (*s));
        if (!s)
            return -1;
        l->start = s;
        if (l->key) {
            dkeys_t *k = realloc (l->key, ncap * sizeof (*k));
            if (!k)
                return -1;
            l->key = k;
        }
        l->cap = ncap;
    }
    if (!l->key && !is_nokeys (key)) {
        if (!(l->key = malloc (l->cap * sizeof (*l->key))))
            return -1;
        for (size_t i = 0; i < l->n; i++)
            l->key[i] = nokeys;
    }
    if (l->n == 0)
        l->start[0] = 0;
    if (l->key)
        l->key[l->n] = *key;
    l->n++;
    l->start[l->n] = l->nents;
    return 0;
}

static int dlist_add_ent (dlist_t *l, uint32_t e)
{
    if (dlist_reserve_ents (l, 1) < 0)
        return -1;
    l->ents[l->nents++] = e;
    l->start[l->n] = l->nents;
    return 0;
}

static int dlist_add_range (dlist_t *l, const dlist_t *src, size_t i)
{
    uint64_t a = src->start[i], b = src->start[i + 1];
    if (dlist_reserve_ents (l, b - a) < 0)
        return -1;
    memcpy (l->ents + l->nents, src->ents + a, (b - a) * sizeof (uint32_t));
    l->nents += b - a;
    l->start[l->n] = l->nents;
    return 0;
}

static uint64_t pool_add (sched_plan_t *p, const char *s, size_t len)
{
    if (p->pool_len + len + 1 > p->pool_cap) {
        uint64_t ncap = p->pool_cap ? p->pool_cap : 4096;
        while (ncap < p->pool_len + len + 1)
            ncap *= 2;
        char *n = realloc (p->pool, ncap);
        if (!n)
            return UINT64_MAX;
        p->pool = n;
        p->pool_cap = ncap;
    }
    uint64_t off = p->pool_len;
    memcpy (p->pool + off, s, len);
    p->pool[off + len] = '\0';
    p->pool_len += len + 1;
    return off;
}

/* Entry i's keys; the key array appears with the first key. */
static int ent_set_keys (sched_plan_t *p, size_t i, uint64_t join,
                         uint64_t group)
{
    if (!p->ekeys) {
        if (join == NOKEY && group == NOKEY)
            return 0;
        if (!(p->ekeys = malloc (p->entries_cap * sizeof (*p->ekeys))))
            return -1;
        for (size_t k = 0; k < p->entries_cap; k++)
            p->ekeys[k] = (sched_keys_t){ NOKEY, NOKEY };
    }
    p->ekeys[i] = (sched_keys_t){ join, group };
    return 0;
}

/* ------------------------------------------------------------ pfs leaves */

typedef struct walk_ctx {
    sched_plan_t *p;
    const jobs_input_t *in;
    io_statcache_t *sc;
    bool rehash;
    dlist_t *out;
    dr_error_t *err;
} walk_ctx_t;

/* *off = the template expanded against a match, or NOKEY without one. */
static int expand_key (sched_plan_t *p, const char *tmpl, const char *relpath,
                       const sched_glob_caps_t *caps, uint64_t *off,
                       dr_error_t *err)
{
    *off = NOKEY;
    if (!tmpl)
        return 0;
    char *k = sched_glob_expand (tmpl, relpath, caps, err);
    if (!k)
        return -1;
    *off = pool_add (p, k, strlen (k));
    free (k);
    if (*off == NOKEY)
        return dr_errprintf (err, "out of memory planning datums");
    return 0;
}

static int add_entry (const char *relpath, bool is_dir,
                      const sched_glob_caps_t *caps, void *arg)
{
    walk_ctx_t *w = arg;
    sched_plan_t *p = w->p;
    if (p->nentries == p->entries_cap) {
        size_t ncap = p->entries_cap ? 2 * p->entries_cap : 256;
        sched_entry_t *n = realloc (p->entries, ncap * sizeof (*n));
        if (!n)
            return dr_errprintf (w->err, "out of memory planning datums");
        p->entries = n;
        if (p->ekeys) {
            sched_keys_t *k = realloc (p->ekeys, ncap * sizeof (*k));
            if (!k)
                return dr_errprintf (w->err, "out of memory planning datums");
            p->ekeys = k;
        }
        p->entries_cap = ncap;
    }
    if (p->nentries >= UINT32_MAX)
        return dr_errprintf (w->err, "too many input entries");
    sched_entry_t *e = &p->entries[p->nentries];
    memset (e, 0, sizeof (*e));
    if ((uint64_t)w->in->index > SCHED_ENTRY_INPUT_MAX)
        return dr_errprintf (w->err, "too many inputs");
    e->input = (uint32_t)w->in->index;
    e->is_dir = is_dir;
    uint64_t off = pool_add (p, relpath, strlen (relpath));
    if (off == UINT64_MAX)
        return dr_errprintf (w->err, "out of memory planning datums");
    if (off > SCHED_ENTRY_PATH_MAX)
        return dr_errprintf (w->err, "too many input paths: over 1 TiB");
    e->path = off;
    dkeys_t k = nokeys;
    if (expand_key (p, w->in->join_on, relpath, caps, &k.join, w->err) < 0
        || expand_key (p, w->in->group_by, relpath, caps, &k.group,
                       w->err) < 0)
        return -1;
    if (ent_set_keys (p, p->nentries, k.join, k.group) < 0)
        return dr_errprintf (w->err, "out of memory planning datums");
    k.shown = k.join != NOKEY ? k.join : k.group;
    /* Any length: hashing opens deep paths a few folders at a time. */
    char *path = relpath[0] ? jobs_pathf ("%s/%s", w->in->repo, relpath)
                            : strdup (w->in->repo);
    if (!path)
        return dr_errprintf (w->err, "out of memory planning datums");
    int hrc = io_content_hash (w->sc, path, w->rehash, &e->hash, &e->bytes,
                               w->err);
    free (path);
    if (hrc < 0)
        return -1;
    uint32_t idx = (uint32_t)p->nentries++;
    if (dlist_begin (w->out, &k) < 0 || dlist_add_ent (w->out, idx) < 0)
        return dr_errprintf (w->err, "out of memory planning datums");
    return 0;
}

static int expand_pfs (sched_plan_t *p, const jobs_input_t *in,
                       io_statcache_t *sc, bool rehash, dlist_t *out,
                       dr_error_t *err)
{
    sched_glob_t *g = sched_glob_compile (in->glob, err);
    if (!g) {
        char msg[sizeof (err->text)];
        snprintf (msg, sizeof (msg), "%s", err->text);
        return dr_errprintf (err, "input '%s': %s", in->name, msg);
    }
    walk_ctx_t w = {
        .p = p, .in = in, .sc = sc, .rehash = rehash, .out = out,
        .err = err,
    };
    int rc = sched_glob_walk (g, in->repo, add_entry, &w, err);
    sched_glob_destroy (g);
    return rc ? -1 : 0;
}

/* ----------------------------------------------------------- combinators */

static int expand (sched_plan_t *p, const jobs_input_t *in,
                   io_statcache_t *sc, bool rehash, dlist_t *out,
                   dr_error_t *err);

#define OOM(err) dr_errprintf (err, "out of memory planning datums")

/* Every combination of the children's datums, first child outermost; it
 * carries the keys of its first keyed parts. */
static int expand_cross (const dlist_t *kids, size_t nkids, dlist_t *out,
                         dr_error_t *err)
{
    size_t total = 1;
    for (size_t k = 0; k < nkids; k++) {
        if (kids[k].n == 0)
            return 0;
        if (total > SIZE_MAX / kids[k].n)
            return dr_errprintf (err, "cross product too large");
        total *= kids[k].n;
    }
    size_t *idx = calloc (nkids, sizeof (*idx));
    if (!idx)
        return OOM (err);
    for (size_t t = 0; t < total; t++) {
        dkeys_t key = nokeys;
        for (size_t k = 0; k < nkids; k++)
            dkeys_merge (&key, dlist_key (&kids[k], idx[k]));
        if (dlist_begin (out, &key) < 0)
            goto oom;
        for (size_t k = 0; k < nkids; k++) {
            if (dlist_add_range (out, &kids[k], idx[k]) < 0)
                goto oom;
        }
        for (size_t k = nkids; k-- > 0;) {
            if (++idx[k] < kids[k].n)
                break;
            idx[k] = 0;
        }
    }
    free (idx);
    return 0;
oom:
    free (idx);
    return OOM (err);
}

static int expand_union (const dlist_t *kids, size_t nkids, dlist_t *out,
                         dr_error_t *err)
{
    for (size_t k = 0; k < nkids; k++) {
        for (size_t i = 0; i < kids[k].n; i++) {
            if (dlist_begin (out, dlist_key (&kids[k], i)) < 0
                || dlist_add_range (out, &kids[k], i) < 0)
                return OOM (err);
        }
    }
    return 0;
}

/* Keys are grouped by hashing their strings: linear in the datums. */
typedef struct keyslot {
    const char *key;
    uint64_t koff;
    size_t *items;      /* per child: list of datum indices, flattened */
    size_t nitems, cap;
    uint32_t *child;    /* child index of each item */
    size_t order;       /* first appearance, for stable output */
} keyslot_t;

typedef struct keytab {
    keyslot_t *slots;
    size_t cap, n;
} keytab_t;

static uint64_t str_hash (const char *s)
{
    uint64_t h = 1469598103934665603ULL;
    for (; *s; s++)
        h = (h ^ (unsigned char)*s) * 1099511628211ULL;
    return h;
}

static keyslot_t *keytab_get (keytab_t *t, const sched_plan_t *p,
                              uint64_t koff)
{
    const char *key = sched_str (p, koff);
    if ((t->n + 1) * 2 > t->cap) {
        size_t ncap = t->cap ? t->cap * 2 : 64;
        keyslot_t *ns = calloc (ncap, sizeof (*ns));
        if (!ns)
            return NULL;
        for (size_t i = 0; i < t->cap; i++) {
            if (!t->slots[i].key)
                continue;
            size_t j = str_hash (t->slots[i].key) & (ncap - 1);
            while (ns[j].key)
                j = (j + 1) & (ncap - 1);
            ns[j] = t->slots[i];
        }
        free (t->slots);
        t->slots = ns;
        t->cap = ncap;
    }
    size_t j = str_hash (key) & (t->cap - 1);
    while (t->slots[j].key && strcmp (t->slots[j].key, key))
        j = (j + 1) & (t->cap - 1);
    if (!t->slots[j].key) {
        t->slots[j].key = key;
        t->slots[j].koff = koff;
        t->slots[j].order = t->n++;
    }
    return &t->slots[j];
}

static int keyslot_add (keyslot_t *s, uint32_t child, size_t item)
{
    if (s->nitems == s->cap) {
        size_t ncap = s->cap ? 2 * s->cap : 4;
        size_t *ni = realloc (s->items, ncap * sizeof (*ni));
        if (!ni)
            return -1;
        s->items = ni;
        uint32_t *nc = realloc (s->child, ncap * sizeof (*nc));
        if (!nc)
            return -1;
        s->child = nc;
        s->cap = ncap;
    }
    s->items[s->nitems] = item;
    s->child[s->nitems++] = child;
    return 0;
}

static int cmp_slot_order (const void *a, const void *b)
{
    const keyslot_t *x = *(keyslot_t *const *)a, *y = *(keyslot_t *const *)b;
    return strcmp (x->key, y->key);
}

static void keytab_free (keytab_t *t)
{
    for (size_t i = 0; i < t->cap; i++) {
        free (t->slots[i].items);
        free (t->slots[i].child);
    }
    free (t->slots);
}

/* Build the key table over all children's datums on their join keys;
 * keyless datums take no part (the spec parser requires join_on on every
 * input below a join). */
static int keytab_fill (keytab_t *t, const sched_plan_t *p,
                        const dlist_t *kids, size_t nkids,
                        keyslot_t ***sorted, dr_error_t *err)
{
    for (size_t k = 0; k < nkids; k++) {
        for (size_t i = 0; i < kids[k].n; i++) {
            uint64_t key = dlist_key (&kids[k], i)->join;
            if (key == NOKEY)
                continue;
            keyslot_t *s = keytab_get (t, p, key);
            if (!s || keyslot_add (s, (uint32_t)k, i) < 0)
                return OOM (err);
        }
    }
    keyslot_t **v = malloc ((t->n ? t->n : 1) * sizeof (*v));
    if (!v)
        return OOM (err);
    size_t n = 0;
    for (size_t i = 0; i < t->cap; i++)
        if (t->slots[i].key)
            v[n++] = &t->slots[i];
    qsort (v, n, sizeof (*v), cmp_slot_order);
    *sorted = v;
    return 0;
}

/* Whether an input is, or holds, an outer_join pfs input: a nested child
 * of a join counts as outer when one of its inputs is. */
static bool has_outer (const jobs_input_t *in)
{
    if (in->kind == JOBS_INPUT_PFS)
        return in->outer_join;
    for (size_t k = 0; k < in->nchildren; k++)
        if (has_outer (in->children[k]))
            return true;
    return false;
}

/* Inner join by key, with outer_join children keeping unmatched datums:
 * a key that every child has gives the cross of the children's matching
 * datums; a key that some child lacks gives, when an outer child has it,
 * the cross of the outer children's matching datums only (Pachyderm's: A
 * outer, B and C not, k2 in A and B only -> {A:k2}). */
static int expand_join (const sched_plan_t *p, const jobs_input_t *in,
                        const dlist_t *kids, size_t nkids, dlist_t *out,
                        dr_error_t *err)
{
    keytab_t t = { 0 };
    keyslot_t **v = NULL;
    size_t *cnt = calloc (nkids, sizeof (*cnt));
    size_t *first = calloc (nkids, sizeof (*first));
    size_t *idx = calloc (nkids, sizeof (*idx));
    size_t **lists = calloc (nkids, sizeof (*lists));
    bool *outer = calloc (nkids, sizeof (*outer));
    int rc = -1;
    if (!cnt || !first || !idx || !lists || !outer) {
        OOM (err);
        goto done;
    }
    for (size_t k = 0; k < nkids; k++)
        outer[k] = has_outer (in->children[k]);
    if (keytab_fill (&t, p, kids, nkids, &v, err) < 0)
        goto done;
    for (size_t s = 0; s < t.n; s++) {
        keyslot_t *ks = v[s];
        bool all = true, keep = false;
        memset (cnt, 0, nkids * sizeof (*cnt));
        for (size_t i = 0; i < ks->nitems; i++)
            cnt[ks->child[i]]++;
        for (size_t k = 0; k < nkids; k++) {
            if (cnt[k] == 0)
                all = false;
            else if (outer[k])
                keep = true;
        }
        if (!all && !keep)
            continue;
        /* Per child, the list of its matching datums (items are in child
         * order since keytab_fill walks children in order), then, without
         * every child, only the outer children take part. */
        size_t pos = 0;
        for (size_t k = 0; k < nkids; k++) {
            lists[k] = ks->items + pos;
            pos += cnt[k];
            idx[k] = 0;
        }
        if (!all)
            for (size_t k = 0; k < nkids; k++)
                if (!outer[k])
                    cnt[k] = 0;
        for (;;) {
            dkeys_t key = { ks->koff, ks->koff, NOKEY };
            for (size_t k = 0; k < nkids; k++)
                if (cnt[k])
                    dkeys_merge (&key, dlist_key (&kids[k], lists[k][idx[k]]));
            if (dlist_begin (out, &key) < 0) {
                OOM (err);
                goto done;
            }
            for (size_t k = 0; k < nkids; k++) {
                if (cnt[k] && dlist_add_range (out, &kids[k],
                                               lists[k][idx[k]]) < 0) {
                    OOM (err);
                    goto done;
                }
            }
            size_t k = nkids;
            while (k-- > 0) {
                if (cnt[k] == 0)
                    continue;
                if (++idx[k] < cnt[k])
                    break;
                idx[k] = 0;
            }
            if (k == (size_t)-1)
                break;
        }
    }
    rc = 0;
done:
    keytab_free (&t);
    free (v);
    free (cnt);
    free (first);
    free (idx);
    free (lists);
    free (outer);
    return rc;
}

/* One datum per key holding every entry of every child's datums whose
 * input's group_by gives that key.  Entries, not datums, are grouped, as
 * Pachyderm does: a join's datum in a group sends each of its files to the
 * group of its own key.  A group datum carries its first entry's join_on
 * key, for a group inside a join. */
static int expand_group (const sched_plan_t *p, const dlist_t *kids,
                         size_t nkids, dlist_t *out, dr_error_t *err)
{
    keytab_t t = { 0 };
    keyslot_t **v = NULL;
    int rc = -1;
    for (size_t k = 0; k < nkids; k++) {
        for (uint64_t j = 0; j < kids[k].nents; j++) {
            uint32_t e = kids[k].ents[j];
            uint64_t key = sched_entry_keys (p, e).group;
            if (key == NOKEY)
                continue;
            keyslot_t *s = keytab_get (&t, p, key);
            if (!s || keyslot_add (s, (uint32_t)k, e) < 0) {
                OOM (err);
                goto done;
            }
        }
    }
    if (!(v = malloc ((t.n ? t.n : 1) * sizeof (*v)))) {
        OOM (err);
        goto done;
    }
    size_t n = 0;
    for (size_t i = 0; i < t.cap; i++)
        if (t.slots[i].key)
            v[n++] = &t.slots[i];
    qsort (v, n, sizeof (*v), cmp_slot_order);
    for (size_t s = 0; s < t.n; s++) {
        keyslot_t *ks = v[s];
        dkeys_t key = { ks->koff, NOKEY, ks->koff };
        for (size_t i = 0; i < ks->nitems && key.join == NOKEY; i++)
            key.join = sched_entry_keys (p, ks->items[i]).join;
        if (dlist_begin (out, &key) < 0) {
            OOM (err);
            goto done;
        }
        for (size_t i = 0; i < ks->nitems; i++) {
            if (dlist_add_ent (out, (uint32_t)ks->items[i]) < 0) {
                OOM (err);
                goto done;
            }
        }
    }
    rc = 0;
done:
    keytab_free (&t);
    free (v);
    return rc;
}

static int expand (sched_plan_t *p, const jobs_input_t *in,
                   io_statcache_t *sc, bool rehash, dlist_t *out,
                   dr_error_t *err)
{
    if (in->kind == JOBS_INPUT_PFS)
        return expand_pfs (p, in, sc, rehash, out, err);
    dlist_t *kids = calloc (in->nchildren, sizeof (*kids));
    if (!kids)
        return OOM (err);
    int rc = 0;
    for (size_t k = 0; k < in->nchildren && rc == 0; k++)
        rc = expand (p, in->children[k], sc, rehash, &kids[k], err);
    if (rc == 0) {
        switch (in->kind) {
        case JOBS_INPUT_CROSS:
            rc = expand_cross (kids, in->nchildren, out, err);
            break;
        case JOBS_INPUT_UNION:
            rc = expand_union (kids, in->nchildren, out, err);
            break;
        case JOBS_INPUT_JOIN:
            rc = expand_join (p, in, kids, in->nchildren, out, err);
            break;
        case JOBS_INPUT_GROUP:
            rc = expand_group (p, kids, in->nchildren, out, err);
            break;
        default:
            rc = dr_errprintf (err, "unknown input kind %d", (int)in->kind);
        }
    }
    for (size_t k = 0; k < in->nchildren; k++)
        dlist_free (&kids[k]);
    free (kids);
    return rc;
}

/* ------------------------------------------------------------- the plan */

void sched_pipeline_hash (const jobs_spec_t *spec, io_hash_t *out)
{
    const char *c = spec->pipeline_canon ? spec->pipeline_canon : "";
    if (!spec->image_id) {
        io_hash_bytes (c, strlen (c), out);
        return;
    }
    /* The image's resolved identity is part of the code: a new digest
     * behind the same tag is a new pipeline version. */
    io_hasher_t *h = io_hasher_create ();
    if (!h)
        abort ();
    io_hasher_update (h, c, strlen (c));
    io_hasher_update (h, "\0image\0", 7);
    io_hasher_update (h, spec->image_id, strlen (spec->image_id));
    io_hasher_digest (h, out);
    io_hasher_destroy (h);
}

/* Entries of a datum in a canonical order (input, then path), so that a
 * group's or union's datum has one ID however its entries were found. */
static const sched_plan_t *sort_plan;
static int cmp_ent (const void *a, const void *b)
{
    const sched_entry_t *x = &sort_plan->entries[*(const uint32_t *)a];
    const sched_entry_t *y = &sort_plan->entries[*(const uint32_t *)b];
    if (x->input != y->input)
        return x->input < y->input ? -1 : 1;
    return strcmp (sched_str (sort_plan, x->path),
                   sched_str (sort_plan, y->path));
}

/* Set of datum IDs, to drop duplicates (a union of an input with itself)
 * and to answer sched_plan_find. */
typedef struct idset {
    uint32_t *slots;    /* datum index + 1; 0 = empty */
    size_t cap;
} idset_t;

static uint64_t id_bucket (const io_hash_t *id)
{
    uint64_t h;
    memcpy (&h, id->b, sizeof (h));
    return h;
}

/* Whether the datum d (its ID and entries hashed) was made from these same
 * inputs by the success r: r's hash is the hash of its ID, its contents
 * and the pipeline version r records, so the same inputs under another
 * version hash to it with that version's hash.  *earlier says that it
 * was that other version. */
static bool same_inputs (const sched_plan_t *p, const sched_datum_t *d,
                         const io_hash_t *dhash, const io_datum_rec_t *r,
                         io_hasher_t *h, bool *earlier)
{
    *earlier = false;
    if (io_hash_eq (&r->hash, dhash))
        return true;
    if (io_hash_is_zero (&r->pipeline)
        || io_hash_eq (&r->pipeline, &p->pipeline_hash))
        return false;
    io_hash_t alt;
    const uint32_t *e = p->ents + d->first;
    io_hasher_reset (h);
    io_hasher_update (h, d->id.b, 16);
    for (uint32_t j = 0; j < d->nentries; j++)
        io_hasher_update (h, p->entries[e[j]].hash.b, 16);
    io_hasher_update (h, r->pipeline.b, 16);
    io_hasher_digest (h, &alt);
    *earlier = io_hash_eq (&r->hash, &alt);
    return *earlier;
}

static int finish_datums (sched_plan_t *p, dlist_t *l, io_statcache_t *sc,
                          const io_manifest_t *m,
                          const sched_plan_opts_t *opts, dr_error_t *err)
{
    io_hasher_t *h = io_hasher_create ();
    idset_t set = { 0 };
    set.cap = 64;
    while (set.cap < 2 * l->n + 2)
        set.cap *= 2;
    p->datums = malloc ((l->n ? l->n : 1) * sizeof (*p->datums));
    if (l->key)
        p->dkeys = malloc ((l->n ? l->n : 1) * sizeof (*p->dkeys));
    if (!h || !p->datums || (l->key && !p->dkeys)) {
        io_hasher_destroy (h);
        return OOM (err);
    }
    /* Every datum's entry range first, so that the list's starts (8 bytes
     * a datum) are freed before the ID set (8 more) is made: the
     * planning peak holds one of them, not both. */
    for (size_t i = 0; i < l->n; i++)
        p->datums[i] = (sched_datum_t){
            .first = l->start[i],
            .nentries = (uint32_t)(l->start[i + 1] - l->start[i]) };
    free (l->start);
    l->start = NULL;
    if (!(set.slots = calloc (set.cap, sizeof (*set.slots)))) {
        io_hasher_destroy (h);
        return OOM (err);
    }
    (void)sc;
    p->ents = l->ents;
    p->nents = l->nents;
    p->ents_cap = l->ents_cap;
    l->ents = NULL;
    sort_plan = p;
    for (size_t i = 0; i < l->n; i++) {
        /* In place: duplicates dropped, datum i moves down to ndatums. */
        sched_datum_t *d = &p->datums[p->ndatums];
        *d = p->datums[i];
        const dkeys_t *dk = dlist_key (l, i);
        if (p->dkeys)
            p->dkeys[p->ndatums] = (sched_dkeys_t){ dk->shown, dk->join,
                                                    dk->group };
        uint32_t *e = p->ents + d->first;
        qsort (e, d->nentries, sizeof (*e), cmp_ent);
        /* A group of joins can meet one entry twice: it counts once. */
        uint32_t n = d->nentries ? 1 : 0;
        for (uint32_t j = 1; j < d->nentries; j++)
            if (e[j] != e[n - 1])
                e[n++] = e[j];
        d->nentries = n;
        io_hasher_reset (h);
        for (uint32_t j = 0; j < d->nentries; j++) {
            const sched_entry_t *en = &p->entries[e[j]];
            const jobs_input_t *in = p->spec->pfs[en->input];
            const char *path = sched_str (p, en->path);
            /* The repo too: the children of a union may share a name, and
             * their same-named files are different datums. */
            io_hasher_update (h, in->name, strlen (in->name) + 1);
            io_hasher_update (h, in->repo_key, strlen (in->repo_key) + 1);
            io_hasher_update (h, path, strlen (path) + 1);
        }
        io_hasher_digest (h, &d->id);
        size_t b = id_bucket (&d->id) & (set.cap - 1);
        bool dup = false;
        while (set.slots[b]) {
            if (io_hash_eq (&p->datums[set.slots[b] - 1].id, &d->id)) {
                dup = true;
                break;
            }
            b = (b + 1) & (set.cap - 1);
        }
        if (dup)
            continue;
        set.slots[b] = (uint32_t)p->ndatums + 1;
        /* The streaming form of sched_datum_hash (same bytes, same
         * hash), with no allocation however many entries. */
        io_hash_t dhash;
        io_hasher_reset (h);
        io_hasher_update (h, d->id.b, 16);
        for (uint32_t j = 0; j < d->nentries; j++)
            io_hasher_update (h, p->entries[e[j]].hash.b, 16);
        io_hasher_update (h, p->pipeline_hash.b, 16);
        io_hasher_digest (h, &dhash);
        d->action = SCHED_PROCESS;
        io_datum_rec_t view;
        const io_datum_rec_t *r = m ? io_manifest_find (m, &d->id, &view)
                                    : NULL;
        if (r) {
            p->nrecorded++;
            d->outputs = r->noutputs > 0;
            bool ok = r->state == JOBS_DATUM_SUCCESS, earlier;
            if (ok && !opts->reprocess && same_inputs (p, d, &dhash, r, h, &earlier)) {
                d->action = SCHED_SKIP;
                d->earlier = earlier;
            }
            else
                d->changed = r->noutputs > 0;
        }
        if (d->action == SCHED_SKIP) {
            p->nskip++;
            p->nearlier += d->earlier;
        }
        else
            p->nprocess++;
        p->ndatums++;
    }
    sort_plan = NULL;
    io_hasher_destroy (h);
    p->idset = set.slots;
    p->idset_cap = set.cap;
    return 0;
}

ssize_t sched_plan_find (const sched_plan_t *p, const io_hash_t *id)
{
    if (!p->idset)
        return -1;
    size_t b = id_bucket (id) & (p->idset_cap - 1);
    while (p->idset[b]) {
        if (io_hash_eq (&p->datums[p->idset[b] - 1].id, id))
            return (ssize_t)p->idset[b] - 1;
        b = (b + 1) & (p->idset_cap - 1);
    }
    return -1;
}

sched_plan_t *sched_plan_build (const jobs_spec_t *spec, io_statcache_t *sc,
                                const io_manifest_t *m,
                                const sched_plan_opts_t *opts,
                                dr_error_t *err)
{
    static const sched_plan_opts_t defaults;
    if (!opts)
        opts = &defaults;
    sched_plan_t *p = calloc (1, sizeof (*p));
    dlist_t l = { 0 };
    if (!p) {
        OOM (err);
        return NULL;
    }
    p->spec = spec;
    sched_pipeline_hash (spec, &p->pipeline_hash);
    if (expand (p, spec->input, sc, opts->rehash, &l, err) < 0)
        goto error;
    if (finish_datums (p, &l, sc, m, opts, err) < 0)
        goto error;
    dlist_free (&l);
    return p;
error:
    dlist_free (&l);
    sched_plan_destroy (p);
    return NULL;
}

void sched_plan_destroy (sched_plan_t *p)
{
    int saved = errno;
    if (p) {
        free (p->pool);
        free (p->entries);
        free (p->ekeys);
        free (p->dkeys);
        free (p->ents);
        free (p->datums);
        free (p->idset);
        free (p);
    }
    errno = saved;
}

int sched_datum_hash (const sched_plan_t *p, const sched_datum_t *d,
                      io_hash_t *out)
{
    io_hash_t small[64], *buf = small;
    size_t n = (size_t)d->nentries + 2;
    if (n > sizeof (small) / sizeof (small[0])
        && !(buf = malloc (n * sizeof (*buf)))) {
        errno = ENOMEM;
        return -1;
    }
    const uint32_t *e = p->ents + d->first;
    buf[0] = d->id;
    for (uint32_t j = 0; j < d->nentries; j++)
        buf[1 + j] = p->entries[e[j]].hash;
    buf[n - 1] = p->pipeline_hash;
    io_hash_bytes (buf, n * sizeof (*buf), out);
    if (buf != small)
        free (buf);
    return 0;
}

uint64_t sched_datum_bytes (const sched_plan_t *p, const sched_datum_t *d)
{
    const uint32_t *e = p->ents + d->first;
    uint64_t b = 0;
    for (uint32_t j = 0; j < d->nentries; j++)
        b += p->entries[e[j]].bytes;
    return b;
}

uint32_t sched_datum_entry_hashes (const sched_plan_t *p,
                                   const sched_datum_t *d, io_hash_t *out)
{
    const uint32_t *e = p->ents + d->first;
    for (uint32_t j = 0; j < d->nentries; j++)
        out[j] = p->entries[e[j]].hash;
    return d->nentries;
}

char *sched_datum_inputs (const sched_plan_t *p, const sched_datum_t *d)
{
    size_t len = 1;
    const uint32_t *e = p->ents + d->first;
    for (uint32_t j = 0; j < d->nentries; j++) {
        const sched_entry_t *en = &p->entries[e[j]];
        len += strlen (p->spec->pfs[en->input]->name) + 2
               + strlen (sched_str (p, en->path)) + 1;
    }
    char *s = malloc (len), *q = s;
    if (!s)
        return NULL;
    /* Each entry NUL-terminated, then one more NUL: a path may hold a
     * newline (io_datum_rec_t.inputs). */
    for (uint32_t j = 0; j < d->nentries; j++) {
        const sched_entry_t *en = &p->entries[e[j]];
        q += sprintf (q, "%s:/%s", p->spec->pfs[en->input]->name,
                      sched_str (p, en->path)) + 1;
    }
    *q = '\0';
    return s;
}
