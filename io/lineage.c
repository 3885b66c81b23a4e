/* lineage.c: what `datumrun why` needs beyond the datum records, kept by
 * the manifest beside them (format 2): each datum's input entries' content
 * hashes as they were when it was last processed, in the order of its
 * inputs text, and each job's inputs (name -> absolute repo folder), so
 * that an entry's file can be found again and, when it lies in another
 * pipeline's output folder, followed upstream.  Both are journaled like
 * every other change (journal.c) and written at checkpoints
 * (manifest_h5.c).  They are side tables: a manifest without them (older
 * files, a job that recorded none) simply has no lineage to show.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <xxhash.h>

#include "io/manifest_int.h"

/* A datum's entry hashes are pool[off .. off + n - 1]: entries dense, a
 * 4-byte index table over them (index + 1, 0 empty, linear probing), the
 * hashes in one array, so that a million datums cost no allocation each
 * (the table of 32-byte slots and a malloc per datum were 100 bytes a
 * datum; this is 24 + 16 per hash + the table). */
typedef struct lin_ent {
    io_hash_t id;
    uint32_t off;       /* in hashes */
    uint32_t n;
} lin_ent_t;

typedef struct lin_job {
    char id[33];
    size_t n;
    char **names;
    char **repos;
} lin_job_t;

struct io__lineage {
    lin_ent_t *ents;
    size_t nents, ents_cap;
    uint32_t *tab;      /* index + 1 in the low idx_bits, tag bits of
                           the id's hash above (find_slot) */
    size_t cap;         /* a power of two, 2^idx_bits, or 0 */
    unsigned idx_bits;
    io_hash_t *pool;
    size_t npool, pool_cap, garbage;
    lin_job_t *jobs;
    size_t njobs, jobcap;
};

io__lineage_t *io__lineage_create (void)
{
    return calloc (1, sizeof (io__lineage_t));
}

static void job_free (lin_job_t *j)
{
    for (size_t i = 0; i < j->n; i++) {
        free (j->names[i]);
        free (j->repos[i]);
    }
    free (j->names);
    free (j->repos);
}

void io__lineage_destroy (io__lineage_t *l)
{
    if (!l)
        return;
    free (l->ents);
    free (l->tab);
    free (l->pool);
    for (size_t i = 0; i < l->njobs; i++)
        job_free (&l->jobs[i]);
    free (l->jobs);
    free (l);
}

static size_t bucket (const io_hash_t *id, size_t cap)
{
    return (size_t)XXH3_64bits (id->b, sizeof (id->b)) & (cap - 1);
}

/* A table entry's index into ents (the entry not 0). */
static size_t ent_index (const io__lineage_t *l, uint32_t v)
{
    uint32_t mask = l->idx_bits >= 32 ? UINT32_MAX
                                      : ((uint32_t)1 << l->idx_bits) - 1;
    return (size_t)(v & mask) - 1;
}

/* The table slot holding id, or the empty one where it would go; *tag
 * (if not NULL) gets the bits above the index its entry has: high bits
 * of the id's hash, so that a probe reads ents (a cache miss) only when
 * they agree. */
static uint32_t *find_tagged (const io__lineage_t *l, const io_hash_t *id,
                              uint32_t *tag)
{
    uint64_t h = XXH3_64bits (id->b, sizeof (id->b));
    uint32_t t = l->idx_bits >= 32 ? 0 : (uint32_t)(h >> 32) << l->idx_bits;
    uint32_t above = l->idx_bits >= 32 ? 0 : ~(((uint32_t)1 << l->idx_bits) - 1);
    if (tag)
        *tag = t;
    for (size_t i = (size_t)h & (l->cap - 1);; i = (i + 1) & (l->cap - 1)) {
        uint32_t *e = &l->tab[i];
        if (!*e || ((*e & above) == t
                    && io_hash_eq (&l->ents[ent_index (l, *e)].id, id)))
            return e;
    }
}

static uint32_t *find_slot (const io__lineage_t *l, const io_hash_t *id)
{
    return find_tagged (l, id, NULL);
}

/* Point id's slot (found or empty) at ents[idx]. */
static void slot_put (io__lineage_t *l, size_t idx)
{
    uint32_t tag;
    uint32_t *t = find_tagged (l, &l->ents[idx].id, &tag);
    *t = (uint32_t)(idx + 1) | tag;
}

static int grow (io__lineage_t *l)
{
    size_t ncap = l->cap ? 2 * l->cap : 1024;
    uint32_t *nt = calloc (ncap, sizeof (*nt));
    if (!nt)
        return -1;
    free (l->tab);
    l->tab = nt;
    l->cap = ncap;
    l->idx_bits = 0;
    while (((size_t)1 << l->idx_bits) < ncap)
        l->idx_bits++;
    for (size_t k = 0; k < l->nents; k++)
        slot_put (l, k);
    return 0;
}

/* Drop the hashes no entry refers to, once they are half the pool. */
static void compact (io__lineage_t *l)
{
    if (l->garbage < 4096 || 2 * l->garbage < l->npool)
        return;
    size_t at = 0;
    io_hash_t *np = malloc ((l->npool - l->garbage + 1) * sizeof (*np));
    if (!np)
        return;   /* keep the garbage */
    for (size_t k = 0; k < l->nents; k++) {
        if (l->ents[k].n)
            memcpy (np + at, l->pool + l->ents[k].off,
                    l->ents[k].n * sizeof (*np));
        l->ents[k].off = (uint32_t)at;
        at += l->ents[k].n;
    }
    free (l->pool);
    l->pool = np;
    l->npool = at;
    l->pool_cap = at + 1;
    l->garbage = 0;
}

int io__lineage_put_entries (io__lineage_t *l, const io_hash_t *id,
                             uint32_t n, const io_hash_t *hashes)
{
    if (n == 0) {
        io__lineage_forget (l, id);
        return 0;
    }
    if ((l->nents + 1) * 4 > l->cap * 3 && grow (l) < 0)
        return -1;
    uint32_t tag;
    uint32_t *t = find_tagged (l, id, &tag);
    lin_ent_t *e = *t ? &l->ents[ent_index (l, *t)] : NULL;
    if (e && e->n == n) {
        memcpy (l->pool + e->off, hashes, n * sizeof (*hashes));
        return 0;
    }
    if (l->npool + n >= UINT32_MAX || l->nents + 1 >= UINT32_MAX) {
        errno = ENOMEM;
        return -1;
    }
    if (l->npool + n > l->pool_cap) {
        size_t ncap = l->pool_cap ? l->pool_cap : 1024;
        while (ncap < l->npool + n)
            ncap *= 2;
        io_hash_t *np = realloc (l->pool, ncap * sizeof (*np));
        if (!np)
            return -1;
        l->pool = np;
        l->pool_cap = ncap;
    }
    if (!e) {
        if (l->nents == l->ents_cap) {
            size_t ncap = l->ents_cap ? 2 * l->ents_cap : 1024;
            lin_ent_t *ne = realloc (l->ents, ncap * sizeof (*ne));
            if (!ne)
                return -1;
            l->ents = ne;
            l->ents_cap = ncap;
        }
        e = &l->ents[l->nents];
        e->id = *id;
        *t = (uint32_t)++l->nents | tag;
    }
    else
        l->garbage += e->n;
    memcpy (l->pool + l->npool, hashes, n * sizeof (*hashes));
    e->off = (uint32_t)l->npool;
    e->n = n;
    l->npool += n;
    compact (l);
    return 0;
}

/* Empty slot i, shifting later entries of its probe run back. */
static void tab_delete (io__lineage_t *l, size_t i)
{
    size_t mask = l->cap - 1;
    l->tab[i] = 0;
    for (size_t j = (i + 1) & mask; l->tab[j]; j = (j + 1) & mask) {
        size_t k = bucket (&l->ents[ent_index (l, l->tab[j])].id, l->cap);
        bool stays = i <= j ? (i < k && k <= j) : (i < k || k <= j);
        if (!stays) {
            l->tab[i] = l->tab[j];
            l->tab[j] = 0;
            i = j;
        }
    }
}

/* A forgotten datum keeps its entry, with no hashes: a tombstone, so
 * that hashes merged in later from the file (io__lineage_has) do not
 * bring it back. */
void io__lineage_forget (io__lineage_t *l, const io_hash_t *id)
{
    if ((l->nents + 1) * 4 > l->cap * 3 && grow (l) < 0) {
        /* No room for a tombstone: remove it outright. */
        if (!l->cap)
            return;
        uint32_t *t = find_slot (l, id);
        if (!*t)
            return;
        size_t idx = ent_index (l, *t);
        l->garbage += l->ents[idx].n;
        tab_delete (l, (size_t)(t - l->tab));
        size_t last = l->nents - 1;
        if (idx != last) {
            l->ents[idx] = l->ents[last];
            slot_put (l, idx);
        }
        l->nents--;
        return;
    }
    uint32_t tag;
    uint32_t *t = find_tagged (l, id, &tag);
    if (*t) {
        l->garbage += l->ents[ent_index (l, *t)].n;
        l->ents[ent_index (l, *t)].n = 0;
        return;
    }
    if (l->nents == l->ents_cap) {
        size_t ncap = l->ents_cap ? 2 * l->ents_cap : 1024;
        lin_ent_t *ne = realloc (l->ents, ncap * sizeof (*ne));
        if (!ne)
            return;
        l->ents = ne;
        l->ents_cap = ncap;
    }
    l->ents[l->nents] = (lin_ent_t){ .id = *id };
    *t = (uint32_t)++l->nents | tag;
}

bool io__lineage_has (const io__lineage_t *l, const io_hash_t *id)
{
    return l && l->cap && *find_slot (l, id);
}

const io_hash_t *io__lineage_entries (const io__lineage_t *l,
                                      const io_hash_t *id, uint32_t *n)
{
    *n = 0;
    if (!l || !l->cap)
        return NULL;
    uint32_t *t = find_slot (l, id);
    if (!*t || !l->ents[ent_index (l, *t)].n)
        return NULL;
    const lin_ent_t *e = &l->ents[ent_index (l, *t)];
    *n = e->n;
    return l->pool + e->off;
}

int io__lineage_put_job_inputs (io__lineage_t *l, const char *job_id,
                                size_t n, char *const names[],
                                char *const repos[])
{
    lin_job_t *j = NULL;
    for (size_t i = 0; i < l->njobs && !j; i++)
        if (!strcmp (l->jobs[i].id, job_id))
            j = &l->jobs[i];
    if (!j) {
        if (l->njobs == l->jobcap) {
            size_t nc = l->jobcap ? 2 * l->jobcap : 16;
            lin_job_t *nj = realloc (l->jobs, nc * sizeof (*nj));
            if (!nj)
                return -1;
            l->jobs = nj;
            l->jobcap = nc;
        }
        j = &l->jobs[l->njobs++];
        memset (j, 0, sizeof (*j));
        snprintf (j->id, sizeof (j->id), "%s", job_id);
    }
    else
        job_free (j);
    j->n = 0;
    j->names = calloc (n ? n : 1, sizeof (char *));
    j->repos = calloc (n ? n : 1, sizeof (char *));
    if (!j->names || !j->repos)
        return -1;
    for (size_t i = 0; i < n; i++) {
        if (!(j->names[i] = strdup (names[i]))
            || !(j->repos[i] = strdup (repos[i]))) {
            free (j->names[i]);
            return -1;
        }
        j->n++;
    }
    return 0;
}

const char *io__lineage_job_repo (const io__lineage_t *l, const char *job_id,
                                  const char *name)
{
    if (!l)
        return NULL;
    for (size_t i = 0; i < l->njobs; i++) {
        if (strcmp (l->jobs[i].id, job_id))
            continue;
        for (size_t k = 0; k < l->jobs[i].n; k++)
            if (!strcmp (l->jobs[i].names[k], name))
                return l->jobs[i].repos[k];
        return NULL;
    }
    return NULL;
}

size_t io__lineage_njobs (const io__lineage_t *l)
{
    return l ? l->njobs : 0;
}

void io__lineage_job (const io__lineage_t *l, size_t i, const char **job_id,
                      size_t *n, char *const **names, char *const **repos)
{
    *job_id = l->jobs[i].id;
    *n = l->jobs[i].n;
    *names = l->jobs[i].names;
    *repos = l->jobs[i].repos;
}

