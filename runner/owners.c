/* owners.c: output path -> owning datum, an open-addressing table over the
 * manifest's own strings.  Built only when needed (collisions, cleanup
 * after a crash), so the dispatch path never pays for it. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <xxhash.h>

#include "runner/coord.h"

typedef struct owner_slot {
    const char *path;
    const io_hash_t *id;
} owner_slot_t;

struct coord_owners {
    owner_slot_t *slots;
    size_t cap;
};

static owner_slot_t *find_slot (const coord_owners_t *o, const char *path)
{
    size_t i = XXH3_64bits (path, strlen (path)) & (o->cap - 1);
    while (o->slots[i].path && strcmp (o->slots[i].path, path))
        i = (i + 1) & (o->cap - 1);
    return &o->slots[i];
}

coord_owners_t *coord_owners_build (const io_manifest_t *m)
{
    size_t n = 0, nd = io_manifest_ndatums (m);
    io_datum_rec_t view;
    for (size_t i = 0; i < nd; i++)
        n += io_manifest_datum (m, i, &view)->noutputs;
    coord_owners_t *o = calloc (1, sizeof (*o));
    if (!o)
        return NULL;
    o->cap = 16;
    while (o->cap < 2 * n)
        o->cap *= 2;
    if (!(o->slots = calloc (o->cap, sizeof (*o->slots)))) {
        free (o);
        return NULL;
    }
    for (size_t i = 0; i < nd; i++) {
        const io_datum_rec_t *r = io_manifest_datum (m, i, &view);
        if (r->state != JOBS_DATUM_SUCCESS)
            continue;
        for (size_t j = 0; j < r->noutputs; j++) {
            owner_slot_t *s = find_slot (o, r->outputs[j]);
            s->path = r->outputs[j];
            s->id = &r->id;
        }
    }
    return o;
}

const io_hash_t *coord_owners_get (const coord_owners_t *o, const char *path)
{
    const owner_slot_t *s = find_slot (o, path);
    return s->path ? s->id : NULL;
}

void coord_owners_destroy (coord_owners_t *o)
{
    int saved = errno;
    if (o) {
        free (o->slots);
        free (o);
    }
    errno = saved;
}
