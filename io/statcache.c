/* statcache.c: path -> (size, mtime_ns, inode, device, content hash).
 * An open-addressing hash table over one pool of paths, so that a million
 * entries cost one allocation per few thousand paths rather than one each.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <xxhash.h>

#include "io/io.h"

int io__statcache_insert (io_statcache_t *sc, const char *path,
                          const io_stat_entry_t *e, bool seen);

/* Entries are dense, in insertion order; the table holds their index + 1
 * (0 = empty), so that an empty slot costs 4 bytes, not a whole entry: at
 * a million files the table is 8 MiB and the entries 64 MiB.  An entry's
 * path is an offset into one pool of NUL-terminated strings, packed with
 * 23 bits of the path's hash (to compare before strcmp) and the seen bit
 * into one word: 64 bytes an entry, not 72 with a pointer. */
typedef struct ent {
    uint64_t ho;          /* SEEN | hash tag << OFF_BITS | pool offset */
    io_stat_entry_t e;
} ent_t;

#define SEEN (1ULL << 63)
#define OFF_BITS 40
#define OFF_MASK ((1ULL << OFF_BITS) - 1)
#define TAG_MASK (((1ULL << 63) - 1) & ~OFF_MASK)

struct io_statcache {
    ent_t *ents;
    size_t n, ents_cap;
    uint32_t *tab;
    size_t cap;           /* table slots, at most 3/4 full */
    char *pool;           /* the paths */
    size_t pool_len, pool_cap;
    size_t nput;          /* io_statcache_put calls: new or changed stats */
    size_t guess;         /* the entry after the last one get() found */
};

io_statcache_t *io_statcache_create (void)
{
    io_statcache_t *sc = calloc (1, sizeof (*sc));
    if (!sc)
        return NULL;
    sc->cap = 1024;
    if (!(sc->tab = calloc (sc->cap, sizeof (*sc->tab)))) {
        free (sc);
        return NULL;
    }
    return sc;
}

void io_statcache_destroy (io_statcache_t *sc)
{
    int saved = errno;
    if (sc) {
        free (sc->pool);
        free (sc->ents);
        free (sc->tab);
        free (sc);
    }
    errno = saved;
}

size_t io_statcache_size (const io_statcache_t *sc)
{
    return sc->n;
}

static uint64_t path_hash (const char *path)
{
    return XXH3_64bits (path, strlen (path));
}

/* A path's home slot among cap (any size, not only a power of two, so
 * that a table sized for a load is 4/3 of its entries, not up to 8/3):
 * the low 32 bits of its hash scaled to cap (the tag uses high bits). */
static size_t home (uint64_t h, size_t cap)
{
    return (size_t)(((uint64_t)(uint32_t)h * cap) >> 32);
}

static size_t next_slot (size_t i, size_t cap)
{
    return i + 1 == cap ? 0 : i + 1;
}

static const char *ent_path (const io_statcache_t *sc, const ent_t *x)
{
    return sc->pool + (x->ho & OFF_MASK);
}

/* The table slot for path: holding its entry, or the empty one where it
 * would go. */
static uint32_t *lookup (const io_statcache_t *sc, const char *path,
                         uint64_t h)
{
    uint64_t tag = h & TAG_MASK;
    for (size_t i = home (h, sc->cap);; i = next_slot (i, sc->cap)) {
        uint32_t *t = &sc->tab[i];
        if (*t == 0)
            return t;
        const ent_t *x = &sc->ents[*t - 1];
        if ((x->ho & TAG_MASK) == tag && !strcmp (ent_path (sc, x), path))
            return t;
    }
}

/* Copy s into the pool; its offset, or -1 (ENOMEM). */
static int64_t pool_add (io_statcache_t *sc, const char *s)
{
    size_t len = strlen (s) + 1;
    if (sc->pool_len + len > OFF_MASK) {
        errno = ENOMEM;
        return -1;
    }
    if (sc->pool_cap - sc->pool_len < len) {
        size_t ncap = sc->pool_cap ? sc->pool_cap : 65536;
        while (ncap - sc->pool_len < len)
            ncap *= 2;
        /* Large blocks are mmapped and grown by mremap: no copy, and the
         * pages not yet written cost no memory. */
        char *np = realloc (sc->pool, ncap);
        if (!np) {
            errno = ENOMEM;
            return -1;
        }
        sc->pool = np;
        sc->pool_cap = ncap;
    }
    int64_t off = (int64_t)sc->pool_len;
    memcpy (sc->pool + off, s, len);
    sc->pool_len += len;
    return off;
}

static int grow_to (io_statcache_t *sc, size_t ncap);

static int grow (io_statcache_t *sc)
{
    return grow_to (sc, sc->cap * 2);
}

int io_statcache_reserve (io_statcache_t *sc, size_t n)
{
    size_t need = sc->n + n, cap = sc->cap;
    if (need >= UINT32_MAX - 1) {
        errno = ENOMEM;
        return -1;
    }
    /* Exactly what n more entries need at a load of 3/4. */
    if ((need + 1) * 4 > cap * 3)
        cap = (need + 1) * 4 / 3 + 1;
    if (cap > sc->cap && grow_to (sc, cap) < 0)
        return -1;
    if (need > sc->ents_cap) {
        ent_t *ne = realloc (sc->ents, need * sizeof (*ne));
        if (!ne)
            return -1;
        sc->ents = ne;
        sc->ents_cap = need;
    }
    return 0;
}

static int grow_to (io_statcache_t *sc, size_t ncap)
{
    uint32_t *nt = calloc (ncap, sizeof (*nt));
    if (!nt)
        return -1;
    for (size_t k = 0; k < sc->n; k++) {
        size_t i = home (path_hash (ent_path (sc, &sc->ents[k])), ncap);
        while (nt[i])
            i = next_slot (i, ncap);
        nt[i] = (uint32_t)k + 1;
    }
    free (sc->tab);
    sc->tab = nt;
    sc->cap = ncap;
    return 0;
}

const io_stat_entry_t *io_statcache_get (io_statcache_t *sc,
                                         const char *path)
{
    /* A rerun asks for the files in the order the run before put them
     * (the entries' order): try the entry after the last one found before
     * hashing the path and probing the table.  Paths are unique, so a
     * match is the entry. */
    ent_t *x;
    if (sc->guess < sc->n
        && !strcmp (ent_path (sc, &sc->ents[sc->guess]), path))
        x = &sc->ents[sc->guess];
    else {
        uint32_t *t = lookup (sc, path, path_hash (path));
        if (!*t)
            return NULL;
        x = &sc->ents[*t - 1];
    }
    sc->guess = (size_t)(x - sc->ents) + 1;
    x->ho |= SEEN;
    return &x->e;
}

int io_statcache_put (io_statcache_t *sc, const char *path,
                      const io_stat_entry_t *e)
{
    if (io__statcache_insert (sc, path, e, true) < 0)
        return -1;
    sc->nput++;
    return 0;
}

size_t io_statcache_nput (const io_statcache_t *sc)
{
    return sc->nput;
}

int io_statcache_load (io_statcache_t *sc, const char *path,
                       const io_stat_entry_t *e)
{
    return io__statcache_insert (sc, path, e, false);
}

int io__statcache_insert (io_statcache_t *sc, const char *path,
                          const io_stat_entry_t *e, bool seen)
{
    if ((sc->n + 1) * 4 > sc->cap * 3 && grow (sc) < 0)
        return -1;
    if (sc->n >= UINT32_MAX - 1) {
        errno = ENOMEM;
        return -1;
    }
    uint64_t h = path_hash (path);
    uint32_t *t = lookup (sc, path, h);
    if (!*t) {
        if (sc->n == sc->ents_cap) {
            size_t ncap = sc->ents_cap ? sc->ents_cap * 2 : 1024;
            ent_t *ne = realloc (sc->ents, ncap * sizeof (*ne));
            if (!ne) {
                errno = ENOMEM;
                return -1;
            }
            sc->ents = ne;
            sc->ents_cap = ncap;
        }
        int64_t off = pool_add (sc, path);
        if (off < 0)
            return -1;
        sc->ents[sc->n].ho = (h & TAG_MASK) | (uint64_t)off;
        *t = (uint32_t)++sc->n;
    }
    ent_t *x = &sc->ents[*t - 1];
    x->e = *e;
    x->ho = seen ? (x->ho | SEEN) : (x->ho & ~SEEN);
    return 0;
}

const char *io_statcache_next (const io_statcache_t *sc, size_t *iter,
                               bool only_seen, const io_stat_entry_t **e)
{
    for (; *iter < sc->n; (*iter)++) {
        const ent_t *x = &sc->ents[*iter];
        if (!only_seen || (x->ho & SEEN)) {
            (*iter)++;
            *e = &x->e;
            return ent_path (sc, x);
        }
    }
    return NULL;
}
