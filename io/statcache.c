/* statcache.c: path -> (size, mtime_ns, inode, device, content hash).
 * An open-addressing hash table over a string arena, so that a million
 * entries cost one allocation per few thousand paths rather than one each.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <xxhash.h>

#include "io/io.h"

int io__statcache_insert (io_statcache_t *sc, const char *path,
                          const io_stat_entry_t *e, bool seen);

typedef struct slot {
    uint64_t h;           /* 0 = empty */
    char *path;
    io_stat_entry_t e;
    bool seen;
} slot_t;

typedef struct chunk {
    struct chunk *next;
    size_t used, cap;
    char data[];
} chunk_t;

struct io_statcache {
    slot_t *slots;
    size_t cap, n;
    size_t puts;          /* io_statcache_put calls: entries (re)hashed */
    chunk_t *arena;
};

io_statcache_t *io_statcache_create (void)
{
    io_statcache_t *sc = calloc (1, sizeof (*sc));
    if (!sc)
        return NULL;
    sc->cap = 1024;
    if (!(sc->slots = calloc (sc->cap, sizeof (slot_t)))) {
        free (sc);
        return NULL;
    }
    return sc;
}

void io_statcache_destroy (io_statcache_t *sc)
{
    int saved = errno;
    if (sc) {
        chunk_t *c = sc->arena;
        while (c) {
            chunk_t *next = c->next;
            free (c);
            c = next;
        }
        free (sc->slots);
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
    uint64_t h = XXH3_64bits (path, strlen (path));
    return h ? h : 1;
}

static slot_t *lookup (const io_statcache_t *sc, const char *path,
                       uint64_t h)
{
    size_t mask = sc->cap - 1;
    for (size_t i = h & mask;; i = (i + 1) & mask) {
        slot_t *s = &sc->slots[i];
        if (s->h == 0 || (s->h == h && !strcmp (s->path, path)))
            return s;
    }
}

static char *arena_strdup (io_statcache_t *sc, const char *s)
{
    size_t len = strlen (s) + 1;
    chunk_t *c = sc->arena;
    if (!c || c->cap - c->used < len) {
        size_t cap = len > 65536 ? len : 65536;
        if (!(c = malloc (sizeof (*c) + cap)))
            return NULL;
        c->cap = cap;
        c->used = 0;
        c->next = sc->arena;
        sc->arena = c;
    }
    char *p = c->data + c->used;
    memcpy (p, s, len);
    c->used += len;
    return p;
}

static int grow (io_statcache_t *sc)
{
    size_t ncap = sc->cap * 2;
    slot_t *old = sc->slots;
    size_t ocap = sc->cap;
    if (!(sc->slots = calloc (ncap, sizeof (slot_t)))) {
        sc->slots = old;
        return -1;
    }
    sc->cap = ncap;
    for (size_t i = 0; i < ocap; i++) {
        if (old[i].h) {
            slot_t *s = lookup (sc, old[i].path, old[i].h);
            *s = old[i];
        }
    }
    free (old);
    return 0;
}

const io_stat_entry_t *io_statcache_get (const io_statcache_t *sc,
                                         const char *path)
{
    slot_t *s = lookup (sc, path, path_hash (path));
    if (!s->h)
        return NULL;
    s->seen = true;
    return &s->e;
}

int io_statcache_put (io_statcache_t *sc, const char *path,
                      const io_stat_entry_t *e)
{
    sc->puts++;
    return io__statcache_insert (sc, path, e, true);
}

size_t io_statcache_puts (const io_statcache_t *sc)
{
    return sc->puts;
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
    uint64_t h = path_hash (path);
    slot_t *s = lookup (sc, path, h);
    if (!s->h) {
        if (!(s->path = arena_strdup (sc, path))) {
            errno = ENOMEM;
            return -1;
        }
        s->h = h;
        sc->n++;
    }
    s->e = *e;
    s->seen = seen;
    return 0;
}

const char *io_statcache_next (const io_statcache_t *sc, size_t *iter,
                               bool only_seen, const io_stat_entry_t **e)
{
    for (; *iter < sc->cap; (*iter)++) {
        const slot_t *s = &sc->slots[*iter];
        if (s->h && (!only_seen || s->seen)) {
            (*iter)++;
            *e = &s->e;
            return s->path;
        }
    }
    return NULL;
}
