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

typedef struct lin_slot {
    io_hash_t id;
    uint32_t n;         /* 0 = empty slot */
    bool used;
    io_hash_t *h;
} lin_slot_t;

typedef struct lin_job {
    char id[33];
    size_t n;
    char **names;
    char **repos;
} lin_job_t;

struct io__lineage {
    lin_slot_t *slots;
    size_t cap, used;
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
    for (size_t i = 0; i < l->cap; i++)
        free (l->slots[i].h);
    free (l->slots);
    for (size_t i = 0; i < l->njobs; i++)
        job_free (&l->jobs[i]);
    free (l->jobs);
    free (l);
}

static size_t bucket (const io_hash_t *id, size_t cap)
{
    return (size_t)XXH3_64bits (id->b, sizeof (id->b)) & (cap - 1);
}

/* The slot of id, or the empty one where it would go. */
static lin_slot_t *find_slot (lin_slot_t *slots, size_t cap,
                              const io_hash_t *id)
{
    for (size_t i = bucket (id, cap);; i = (i + 1) & (cap - 1))
        if (!slots[i].used || io_hash_eq (&slots[i].id, id))
            return &slots[i];
}

static int grow (io__lineage_t *l)
{
    size_t ncap = l->cap ? 2 * l->cap : 1024;
    lin_slot_t *ns = calloc (ncap, sizeof (*ns));
    if (!ns)
        return -1;
    for (size_t i = 0; i < l->cap; i++) {
        if (!l->slots[i].used)
            continue;
        *find_slot (ns, ncap, &l->slots[i].id) = l->slots[i];
    }
    free (l->slots);
    l->slots = ns;
    l->cap = ncap;
    return 0;
}

int io__lineage_put_entries (io__lineage_t *l, const io_hash_t *id,
                             uint32_t n, const io_hash_t *hashes)
{
    if (n == 0) {
        io__lineage_forget (l, id);
        return 0;
    }
    /* Deletions leave tombstones (used, n == 0): count them as used. */
    if (2 * (l->used + 1) > l->cap && grow (l) < 0)
        return -1;
    io_hash_t *copy = malloc (n * sizeof (*copy));
    if (!copy)
        return -1;
    memcpy (copy, hashes, n * sizeof (*copy));
    lin_slot_t *s = find_slot (l->slots, l->cap, id);
    if (!s->used)
        l->used++;
    free (s->h);
    s->id = *id;
    s->used = true;
    s->n = n;
    s->h = copy;
    return 0;
}

void io__lineage_forget (io__lineage_t *l, const io_hash_t *id)
{
    if (!l->cap)
        return;
    lin_slot_t *s = find_slot (l->slots, l->cap, id);
    if (s->used && s->n) {
        free (s->h);
        s->h = NULL;
        s->n = 0;   /* a tombstone: probing goes on past it */
    }
}

const io_hash_t *io__lineage_entries (const io__lineage_t *l,
                                      const io_hash_t *id, uint32_t *n)
{
    *n = 0;
    if (!l || !l->cap)
        return NULL;
    lin_slot_t *s = find_slot (l->slots, l->cap, id);
    if (!s->used || !s->n)
        return NULL;
    *n = s->n;
    return s->h;
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

