/* manifest.c: the pipeline's memory of what was processed.  Every datum's
 * latest record (found by id in O(1) through an open-addressing table),
 * one record per job, the attempts made since the last checkpoint (older
 * ones stay in the file) and the stat cache, kept in memory by rank 0.  Each
 * change is first appended to the journal (journal.c) with one write(2),
 * so that kill -9 loses nothing already returned; a checkpoint writes the
 * whole state to manifest.h5.tmp (manifest_h5.c), fsyncs it, renames it
 * over manifest.h5 and empties the journal.  Opening loads manifest.h5 and
 * replays what the journal holds on top.  Replaying is idempotent (puts
 * and job records replace by id), so a crash between the rename and the
 * journal's truncation is harmless.  A lock file keeps a second writer
 * out of the state folder.  The journal and the file decode into this
 * model through sinks (manifest_int.h); they do not know it.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>
#include <xxhash.h>

#include "io/manifest_int.h"

/* A datum's record as the manifest keeps it: the three other hashes and
 * the host as indices into interned tables (a job's datums share them),
 * the strings as a block in the arena (record.c's layout).  104 bytes
 * where io_datum_rec_t takes 176 (the small fields packed together, the
 * signal number in 8 bits: Linux's go to 64); io_manifest_datum() and
 * _find() hand out io_datum_rec_t views of it. */
typedef struct prec {
    io_hash_t id;
    io_hash_t hash;
    uint32_t pipeline, proc_job, seen_job;   /* io_manifest_t.hv indices */
    uint32_t host;                           /* io_manifest_t.hosts index */
    int32_t rank;
    int32_t exit_status;
    uint32_t noutputs;
    uint16_t attempts;
    uint8_t state;
    int8_t term_signal;                      /* saturated to int8 */
    int64_t start_ns;
    double duration_s;
    uint64_t bytes_in;
    uint64_t bytes_out;
    char *block;                             /* inputs, then outputs */
} prec_t;

_Static_assert (sizeof (prec_t) == 104, "a packed record is 104 bytes");

/* An attempt since the last checkpoint; older ones stay in the file. */
typedef struct attempts {
    io_attempt_t *v;
    size_t n, cap;
    uint32_t *tab;         /* index + 1 by (datum, job, attempt), and
                              tag bits above it (tag_of) */
    size_t tabcap;         /* a power of two, 2^idx_bits */
    unsigned idx_bits;
} attempts_t;

struct io_manifest {
    char *dir;             /* the state folder */
    char *path;            /* <dir>/manifest.h5 */
    char *tmp_path;        /* <dir>/manifest.h5.tmp */
    char *journal_path;    /* <dir>/journal */
    char *lock_path;       /* <dir>/lock */
    bool ro;
    int lock_fd;           /* -1 when read-only */
    io__journal_t *journal;/* NULL when read-only */
    io__h5_t *h5;          /* read-only: the file as opened, for attempts */
    int version;           /* of the file as loaded, 0 if none */
    bool have_file;
    io_statcache_t *sc;
    io_hash_t pipeline_hash;
    char *output;          /* the output folder it owns, or NULL */

    /* Datums, dense; tab maps id -> index + 1 (0 = empty slot), open
     * addressing with linear probing, at a load of at most 3/4.  An
     * entry's low idx_bits hold the index + 1, the bits above them as
     * many bits of the id's hash (tab_tag): a probe reads the record (a
     * cache miss in recs) only when they agree. */
    prec_t *recs;
    size_t n, cap;
    uint32_t *tab;
    size_t tabcap;
    unsigned idx_bits;
    uint32_t idx_mask;

    /* The records' string blocks (record.c's layout), carved from large
     * chunks rather than one malloc each; a replaced or forgotten
     * record's block is garbage until a compaction moves the live ones
     * to fresh chunks. */
    struct chunk *chunks;
    size_t live, garbage;

    /* Host names, interned: a record holds an index, not 64 bytes. */
    char **hosts;
    size_t nhosts, hosts_cap, host_last;

    /* Pipeline and job hashes, interned (index 0 is the zero hash): a
     * hash table of indices + 1 over the dense values. */
    io_hash_t *hv;
    size_t nhv, hv_cap;
    uint32_t *hvtab;
    size_t hvtab_cap;

    jobs_record_t *jobs;   /* oldest first */
    size_t njobs, jobscap;

    attempts_t att;

    io__lineage_t *lin;    /* entry hashes and job inputs (lineage.c) */
    /* The file's entry hashes are not loaded yet: they are merged in (as
     * older than anything put since) when first needed, by a query or a
     * checkpoint, so that planning and a skip-all rerun never hold them. */
    bool lin_in_file;

    io_lost_worker_t *lost; /* lost workers of every job, oldest first */
    size_t nlost, lostcap;
};

/* ------------------------------------------------------- the id table */

/* The hash tables' entries are 32 bits: a record's index + 1 in the low
 * `bits`, and in the bits above them as many bits of the key's hash (its
 * high half): a probe reads the record, a cache miss in a large array,
 * only when they agree. */
static uint32_t tag_of (uint64_t h, unsigned bits)
{
    return bits >= 32 ? 0 : (uint32_t)(h >> 32) << bits;
}

static uint32_t index_mask (unsigned bits)
{
    return bits >= 32 ? UINT32_MAX : ((uint32_t)1 << bits) - 1;
}

static uint64_t id_hash (const io_hash_t *id)
{
    return XXH3_64bits (id->b, sizeof (id->b));
}

/* Home slot among cap of a hash (its low 32 bits: any size of table, a
 * load sizes it for its records exactly), an id's home, and the slot
 * after i. */
static size_t hash_home (uint64_t h, size_t cap)
{
    return (size_t)(((uint64_t)(uint32_t)h * cap) >> 32);
}

static size_t id_home (const io_hash_t *id, size_t cap)
{
    return hash_home (id_hash (id), cap);
}

static size_t id_next (size_t i, size_t cap)
{
    return i + 1 == cap ? 0 : i + 1;
}

static uint32_t tab_tag (const io_manifest_t *m, uint64_t h)
{
    return tag_of (h, m->idx_bits);
}

/* The record index of a table entry (not 0). */
static size_t tab_index (const io_manifest_t *m, uint32_t v)
{
    return (size_t)(v & m->idx_mask) - 1;
}

/* The slot holding id, or the empty slot where it would go; *tag (if
 * not NULL) gets the tag bits its entry has. */
static size_t tab_find (const io_manifest_t *m, const io_hash_t *id,
                        uint32_t *tag)
{
    uint64_t h = id_hash (id);
    uint32_t t = tab_tag (m, h);
    if (tag)
        *tag = t;
    for (size_t i = hash_home (h, m->tabcap);; i = id_next (i, m->tabcap)) {
        uint32_t v = m->tab[i];
        if (!v || ((v & ~m->idx_mask) == t
                   && io_hash_eq (&m->recs[tab_index (m, v)].id, id)))
            return i;
    }
}

static size_t tab_slot (const io_manifest_t *m, const io_hash_t *id)
{
    return tab_find (m, id, NULL);
}

/* Enter record idx (its id not in the table yet, or its entry to be
 * pointed at idx). */
static void tab_put (io_manifest_t *m, size_t idx)
{
    uint32_t tag;
    size_t s = tab_find (m, &m->recs[idx].id, &tag);
    m->tab[s] = (uint32_t)(idx + 1) | tag;
}

static int tab_rehash (io_manifest_t *m, size_t ncap)
{
    uint32_t *tab = calloc (ncap, sizeof (*tab));
    if (!tab)
        return -1;
    free (m->tab);
    m->tab = tab;
    m->tabcap = ncap;
    /* Indexes up to ncap (the load keeps n under it), tags above. */
    unsigned bits = 1;
    while (bits < 32 && ((size_t)1 << bits) <= ncap)
        bits++;
    m->idx_bits = bits;
    m->idx_mask = index_mask (bits);
    for (size_t i = 0; i < m->n; i++)
        tab_put (m, i);
    return 0;
}

/* Room for `more` new datums, so that applying them cannot fail: the
 * records grow by doubling, or to exactly what is asked when exact (a
 * load knows how many records it brings: a million of them take 104 MB,
 * not the 109 of the next power of two). */
static int reserve_recs (io_manifest_t *m, size_t more, bool exact)
{
    size_t need = m->n + more;
    if (need >= UINT32_MAX) {
        errno = ENOMEM;
        return -1;
    }
    if (need > m->cap) {
        size_t ncap = m->cap ? m->cap : 1024;
        while (ncap < need)
            ncap *= 2;
        if (exact)
            ncap = need;
        prec_t *r = realloc (m->recs, ncap * sizeof (*r));
        if (!r)
            return -1;
        m->recs = r;
        m->cap = ncap;
    }
    /* The table at a load of at most 3/4: a load (exact) sizes it for
     * its records, growth doubles it. */
    if ((need + 1) * 4 > m->tabcap * 3) {
        size_t ncap = (need + 1) * 4 / 3 + 1;
        if (!exact && ncap < 2 * m->tabcap)
            ncap = 2 * m->tabcap;
        if (ncap < 2048)
            ncap = 2048;
        if (tab_rehash (m, ncap) < 0)
            return -1;
    }
    return 0;
}

static int reserve (io_manifest_t *m, size_t more)
{
    return reserve_recs (m, more, false);
}

/* Empty slot i, shifting later entries of its probe run back. */
static void tab_delete (io_manifest_t *m, size_t i)
{
    size_t cap = m->tabcap;
    m->tab[i] = 0;
    for (size_t j = id_next (i, cap); m->tab[j]; j = id_next (j, cap)) {
        size_t k = id_home (&m->recs[tab_index (m, m->tab[j])].id, cap);
        /* Leave it if its home k lies cyclically in (i, j]. */
        bool stays = i <= j ? (i < k && k <= j) : (i < k || k <= j);
        if (!stays) {
            m->tab[i] = m->tab[j];
            m->tab[j] = 0;
            i = j;
        }
    }
}

/* ------------------------------------------------------ string arena */

typedef struct chunk {
    struct chunk *next;
    size_t used, cap;
    _Alignas (8) char data[];
} chunk_t;

#define CHUNK_BYTES (1024 * 1024 - 64)

static size_t align8 (size_t n)
{
    return (n + 7) & ~(size_t)7;
}

static void *chunk_alloc (chunk_t **head, size_t n)
{
    n = align8 (n ? n : 1);
    chunk_t *c = *head;
    if (!c || c->cap - c->used < n) {
        size_t cap = n > CHUNK_BYTES ? n : CHUNK_BYTES;
        if (!(c = malloc (sizeof (*c) + cap)))
            return NULL;
        c->cap = cap;
        c->used = 0;
        c->next = *head;
        *head = c;
    }
    void *p = c->data + c->used;
    c->used += n;
    return p;
}

static void chunks_free (chunk_t *c)
{
    while (c) {
        chunk_t *next = c->next;
        free (c);
        c = next;
    }
}

/* ------------------------------------------------ records and views */

/* The view of p: every field, strings pointing into its block. */
static io_datum_rec_t *prec_view (const io_manifest_t *m, const prec_t *p,
                                  io_datum_rec_t *v)
{
    memset (v, 0, sizeof (*v));
    v->id = p->id;
    v->hash = p->hash;
    v->pipeline = m->hv[p->pipeline];
    v->proc_job = m->hv[p->proc_job];
    v->seen_job = m->hv[p->seen_job];
    v->state = p->state;
    v->attempts = p->attempts;
    v->rank = p->rank;
    v->host = m->hosts[p->host];
    v->start_ns = p->start_ns;
    v->duration_s = p->duration_s;
    v->bytes_in = p->bytes_in;
    v->bytes_out = p->bytes_out;
    v->exit_status = p->exit_status;
    v->term_signal = p->term_signal;
    v->inputs = p->block;
    v->noutputs = p->noutputs;
    if (p->noutputs) {
        char *at = p->block + align8 (io_inputs_len (p->block) + 1);
        v->outputs = (char **)(void *)at;
        v->out_sizes = (uint64_t *)(void *)(at + p->noutputs
                                                 * sizeof (char *));
        v->out_mtimes = (int64_t *)(void *)(at + p->noutputs
                                                  * (sizeof (char *)
                                                     + sizeof (uint64_t)));
    }
    return v;
}

static size_t prec_block_size (const prec_t *p)
{
    if (!p->block)
        return 0;
    io_datum_rec_t v = { .inputs = p->block, .noutputs = p->noutputs };
    if (p->noutputs)
        v.outputs = (char **)(void *)(p->block
                                      + align8 (io_inputs_len (p->block) + 1));
    return io__datum_block_size (&v);
}

static void prec_block_move (const io_manifest_t *m, prec_t *p, void *dst)
{
    io_datum_rec_t v;
    prec_view (m, p, &v);
    io__datum_block_move (&v, dst);
    p->block = v.inputs;
}

static size_t hv_bucket (const io_hash_t *h, size_t cap)
{
    uint64_t x;
    memcpy (&x, h->b, sizeof (x));
    return (size_t)(x ^ (x >> 29)) & (cap - 1);
}

/* The index of h among the interned hashes, added if new; -1 (ENOMEM). */
static int64_t intern_hash (io_manifest_t *m, const io_hash_t *h)
{
    if (m->nhv && io_hash_is_zero (h))
        return 0;
    if ((m->nhv + 1) * 2 > m->hvtab_cap) {
        size_t ncap = m->hvtab_cap ? 2 * m->hvtab_cap : 64;
        uint32_t *t = calloc (ncap, sizeof (*t));
        if (!t)
            return -1;
        for (size_t i = 0; i < m->nhv; i++) {
            size_t b = hv_bucket (&m->hv[i], ncap);
            while (t[b])
                b = (b + 1) & (ncap - 1);
            t[b] = (uint32_t)i + 1;
        }
        free (m->hvtab);
        m->hvtab = t;
        m->hvtab_cap = ncap;
    }
    size_t b = hv_bucket (h, m->hvtab_cap);
    for (; m->hvtab[b]; b = (b + 1) & (m->hvtab_cap - 1))
        if (io_hash_eq (&m->hv[m->hvtab[b] - 1], h))
            return m->hvtab[b] - 1;
    if (m->nhv >= UINT32_MAX - 1) {
        errno = ENOMEM;
        return -1;
    }
    if (m->nhv == m->hv_cap) {
        size_t ncap = m->hv_cap ? 2 * m->hv_cap : 16;
        io_hash_t *v = realloc (m->hv, ncap * sizeof (*v));
        if (!v)
            return -1;
        m->hv = v;
        m->hv_cap = ncap;
    }
    m->hv[m->nhv] = *h;
    m->hvtab[b] = (uint32_t)++m->nhv;
    return (int64_t)m->nhv - 1;
}

/* Move every live block to fresh chunks once garbage outweighs them.
 * Short of memory midway, the old chunks stay (blocks not moved yet live
 * there) and the fresh ones join them. */
static void arena_compact (io_manifest_t *m)
{
    if (m->garbage < 4 * CHUNK_BYTES || m->garbage < m->live)
        return;
    chunk_t *fresh = NULL;
    for (size_t i = 0; i < m->n; i++) {
        size_t n = prec_block_size (&m->recs[i]);
        void *dst = n ? chunk_alloc (&fresh, n) : NULL;
        if (n && !dst) {
            chunk_t *c = fresh;
            while (c && c->next)
                c = c->next;
            if (c) {
                c->next = m->chunks;
                m->chunks = fresh;
            }
            return;
        }
        if (n)
            prec_block_move (m, &m->recs[i], dst);
    }
    chunks_free (m->chunks);
    m->chunks = fresh;
    m->garbage = 0;
}

/* A record's block leaves the arena. */
static void arena_drop (io_manifest_t *m, io_datum_rec_t *rec)
{
    size_t n = align8 (io__datum_block_size (rec));
    m->live -= n;
    m->garbage += n;
    rec->inputs = NULL;
    rec->outputs = NULL;
    rec->out_sizes = NULL;
    rec->out_mtimes = NULL;
    rec->noutputs = 0;
}

static void prec_drop (io_manifest_t *m, prec_t *p)
{
    size_t n = align8 (prec_block_size (p));
    m->live -= n;
    m->garbage += n;
    p->block = NULL;
    p->noutputs = 0;
}

/* ------------------------------------------------- in-memory operations */

/* The manifest's copy of a host name (cut to IO_HOST_MAX - 1 bytes).
 * Records come in runs from one host, and hosts are few next to datums:
 * a remembered last hit and a linear search are enough. */
static int64_t intern_host (io_manifest_t *m, const char *host)
{
    char name[IO_HOST_MAX];
    snprintf (name, sizeof (name), "%s", host ? host : "");
    if (m->host_last < m->nhosts && !strcmp (m->hosts[m->host_last], name))
        return (int64_t)m->host_last;
    for (size_t i = 0; i < m->nhosts; i++) {
        if (!strcmp (m->hosts[i], name)) {
            m->host_last = i;
            return (int64_t)i;
        }
    }
    if (m->nhosts >= UINT32_MAX - 1) {
        errno = ENOMEM;
        return -1;
    }
    if (m->nhosts == m->hosts_cap) {
        size_t ncap = m->hosts_cap ? 2 * m->hosts_cap : 16;
        char **n = realloc (m->hosts, ncap * sizeof (*n));
        if (!n)
            return -1;
        m->hosts = n;
        m->hosts_cap = ncap;
    }
    if (!(m->hosts[m->nhosts] = strdup (name)))
        return -1;
    m->host_last = m->nhosts;
    return (int64_t)m->nhosts++;
}

/* Put rec, whose strings are already in the arena (counted live); interns
 * its host.  Fails only without memory for the host, before the room
 * reserve() made is needed. */
static int apply_put_arena (io_manifest_t *m, io_datum_rec_t *rec,
                            bool only_new)
{
    int64_t host = intern_host (m, rec->host);
    int64_t pl = host < 0 ? -1 : intern_hash (m, &rec->pipeline);
    int64_t pj = pl < 0 ? -1 : intern_hash (m, &rec->proc_job);
    int64_t sj = pj < 0 ? -1 : intern_hash (m, &rec->seen_job);
    if (sj < 0) {
        arena_drop (m, rec);
        return -1;
    }
    prec_t p = {
        .id = rec->id, .hash = rec->hash, .pipeline = (uint32_t)pl,
        .proc_job = (uint32_t)pj, .seen_job = (uint32_t)sj,
        .host = (uint32_t)host, .rank = rec->rank,
        .exit_status = rec->exit_status,
        .term_signal = (int8_t)(rec->term_signal > INT8_MAX ? INT8_MAX
                                : rec->term_signal < INT8_MIN ? INT8_MIN
                                : rec->term_signal),
        .noutputs = (uint32_t)rec->noutputs, .state = rec->state,
        .attempts = rec->attempts, .start_ns = rec->start_ns,
        .duration_s = rec->duration_s, .bytes_in = rec->bytes_in,
        .bytes_out = rec->bytes_out, .block = rec->inputs,
    };
    uint32_t tag;
    size_t s = tab_find (m, &rec->id, &tag);
    if (m->tab[s] && only_new) {
        arena_drop (m, rec);
        errno = EEXIST;
        return -1;
    }
    if (m->tab[s]) {
        prec_t *old = &m->recs[tab_index (m, m->tab[s])];
        prec_drop (m, old);
        *old = p;
    }
    else {
        m->recs[m->n] = p;
        m->tab[s] = (uint32_t)++m->n | tag;
    }
    arena_compact (m);
    return 0;
}

/* Takes rec's malloc'd strings (moved into the arena), also on failure.
 * With only_new, a record of the same id is an error (EEXIST). */
static int apply_put (io_manifest_t *m, io_datum_rec_t *rec, bool only_new)
{
    if (reserve (m, 1) < 0) {
        io__datum_free_strings (rec);
        return -1;
    }
    size_t n = io__datum_block_size (rec);
    if (n) {
        void *dst = chunk_alloc (&m->chunks, n), *old = rec->inputs;
        if (!dst) {
            io__datum_free_strings (rec);
            return -1;
        }
        io__datum_block_move (rec, dst);
        free (old);
        m->live += align8 (n);
    }
    return apply_put_arena (m, rec, only_new);
}

static void apply_invalidate (io_manifest_t *m, const io_hash_t *id)
{
    if (!m->tabcap)
        return;
    uint32_t v = m->tab[tab_slot (m, id)];
    if (v) {
        prec_t *r = &m->recs[tab_index (m, v)];
        r->state = JOBS_DATUM_PENDING;
        memset (&r->hash, 0, sizeof (r->hash));
    }
}

/* A record written before the manifest kept each datum's pipeline
 * (format 1, or a journal of that time) gets the pipeline hash of the job
 * that processed it, which its hash was made with. */
static void fill_pipeline (const io_manifest_t *m, io_datum_rec_t *rec);

/* The same for a kept record (format 1 files). */
static int fill_pipeline_p (io_manifest_t *m, prec_t *p)
{
    io_datum_rec_t v;
    if (p->pipeline != 0)
        return 0;
    prec_view (m, p, &v);
    fill_pipeline (m, &v);
    int64_t pl = intern_hash (m, &v.pipeline);
    if (pl < 0)
        return -1;
    p->pipeline = (uint32_t)pl;
    return 0;
}

static void fill_pipeline (const io_manifest_t *m, io_datum_rec_t *rec)
{
    char hex[33];
    if (!io_hash_is_zero (&rec->pipeline))
        return;
    io_hash_hex (&rec->proc_job, hex);
    for (size_t i = m->njobs; i-- > 0;) {
        if (!strcmp (m->jobs[i].id, hex)) {
            memcpy (rec->pipeline.b, m->jobs[i].pipeline_hash, 16);
            return;
        }
    }
}

/* The last record moves into the freed place, so indices change. */
static void apply_forget (io_manifest_t *m, const io_hash_t *id)
{
    io__lineage_forget (m->lin, id);
    if (!m->tabcap)
        return;
    size_t s = tab_slot (m, id);
    if (!m->tab[s])
        return;
    size_t idx = tab_index (m, m->tab[s]);
    prec_drop (m, &m->recs[idx]);
    tab_delete (m, s);
    size_t last = m->n - 1;
    if (idx != last) {
        m->recs[idx] = m->recs[last];
        tab_put (m, idx);
    }
    m->n--;
}

static jobs_record_t *job_lookup (const io_manifest_t *m, const char *id)
{
    for (size_t i = m->njobs; i-- > 0;) {
        if (!strcmp (m->jobs[i].id, id))
            return &m->jobs[i];
    }
    return NULL;
}

static int jobs_reserve (io_manifest_t *m)
{
    if (m->njobs < m->jobscap)
        return 0;
    size_t ncap = m->jobscap ? 2 * m->jobscap : 16;
    jobs_record_t *j = realloc (m->jobs, ncap * sizeof (*j));
    if (!j)
        return -1;
    m->jobs = j;
    m->jobscap = ncap;
    return 0;
}

/* Replace the job with the same id, or append it. */
static int apply_job (io_manifest_t *m, const jobs_record_t *job)
{
    jobs_record_t copy = *job;
    copy.id[sizeof (copy.id) - 1] = '\0';
    copy.pipeline[sizeof (copy.pipeline) - 1] = '\0';
    jobs_record_t *old = job_lookup (m, copy.id);
    if (old) {
        *old = copy;
        return 0;
    }
    if (jobs_reserve (m) < 0)
        return -1;
    m->jobs[m->njobs++] = copy;
    return 0;
}

/* Attempts since the last checkpoint, keyed by (datum, job, attempt):
 * recording one again replaces it. */
static uint64_t att_hash (const io_attempt_t *a)
{
    uint8_t key[36];
    memcpy (key, a->datum.b, 16);
    memcpy (key + 16, a->job.b, 16);
    memcpy (key + 32, &a->attempt, 4);
    return XXH3_64bits (key, sizeof (key));
}

static bool att_same (const io_attempt_t *a, const io_attempt_t *b)
{
    return a->attempt == b->attempt && io_hash_eq (&a->datum, &b->datum)
           && io_hash_eq (&a->job, &b->job);
}

/* The slot of a's entry or the empty one where it would go; *tag gets
 * the tag bits its entry has. */
static size_t att_slot (const attempts_t *t, const io_attempt_t *a,
                        uint32_t *tag)
{
    size_t mask = t->tabcap - 1;
    uint32_t im = index_mask (t->idx_bits);
    uint64_t h = att_hash (a);
    *tag = tag_of (h, t->idx_bits);
    for (size_t i = (size_t)h & mask;; i = (i + 1) & mask) {
        uint32_t v = t->tab[i];
        if (!v || ((v & ~im) == *tag && att_same (&t->v[(v & im) - 1], a)))
            return i;
    }
}

static const io_attempt_t *att_find (const attempts_t *t,
                                     const io_attempt_t *a)
{
    if (!t->tabcap)
        return NULL;
    uint32_t tag, v = t->tab[att_slot (t, a, &tag)];
    return v ? &t->v[(v & index_mask (t->idx_bits)) - 1] : NULL;
}

static bool att_superseded (const void *arg, const io_attempt_t *a)
{
    return att_find (arg, a) != NULL;
}

/* Room for one more. */
static int att_reserve (attempts_t *t)
{
    if (t->n + 1 >= UINT32_MAX) {
        errno = ENOMEM;
        return -1;
    }
    if (t->n == t->cap) {
        size_t ncap = t->cap ? 2 * t->cap : 256;
        io_attempt_t *v = realloc (t->v, ncap * sizeof (*v));
        if (!v)
            return -1;
        t->v = v;
        t->cap = ncap;
    }
    if ((t->n + 1) * 2 > t->tabcap) {
        size_t ncap = t->tabcap ? 2 * t->tabcap : 512;
        uint32_t *tab = calloc (ncap, sizeof (*tab));
        if (!tab)
            return -1;
        free (t->tab);
        t->tab = tab;
        t->tabcap = ncap;
        t->idx_bits = 0;
        while (((size_t)1 << t->idx_bits) < ncap)
            t->idx_bits++;
        for (size_t i = 0; i < t->n; i++) {
            uint32_t tag;
            size_t s = att_slot (t, &t->v[i], &tag);
            t->tab[s] = (uint32_t)(i + 1) | tag;
        }
    }
    return 0;
}

static int apply_attempt (io_manifest_t *m, const io_attempt_t *a)
{
    attempts_t *t = &m->att;
    if (att_reserve (t) < 0)
        return -1;
    uint32_t tag;
    size_t s = att_slot (t, a, &tag);
    io_attempt_t *dst = t->tab[s]
                            ? &t->v[(t->tab[s] & index_mask (t->idx_bits)) - 1]
                            : &t->v[t->n];
    *dst = *a;
    dst->host[sizeof (dst->host) - 1] = '\0';
    if (!t->tab[s])
        t->tab[s] = (uint32_t)++t->n | tag;
    return 0;
}

static void att_clear (attempts_t *t)
{
    t->n = 0;
    if (t->tab)
        memset (t->tab, 0, t->tabcap * sizeof (*t->tab));
}

static bool has_datum (const io_manifest_t *m, const io_hash_t *id)
{
    return m->tabcap && m->tab[tab_slot (m, id)];
}

/* The sinks that the file and the journal decode into. */
static int sink_put_new (void *arg, io_datum_rec_t *rec)
{
    return apply_put (arg, rec, true);
}

static int sink_put (void *arg, io_datum_rec_t *rec)
{
    fill_pipeline (arg, rec);
    return apply_put (arg, rec, false);
}

static int sink_invalidate (void *arg, const io_hash_t *id)
{
    apply_invalidate (arg, id);
    return 0;
}

static int sink_forget (void *arg, const io_hash_t *id)
{
    apply_forget (arg, id);
    return 0;
}

static int sink_job (void *arg, bool begin, const jobs_record_t *job)
{
    return apply_job (arg, job);
}

static int sink_attempt (void *arg, const io_attempt_t *a)
{
    return apply_attempt (arg, a);
}

static int sink_stat (void *arg, const char *path, const io_stat_entry_t *e)
{
    return io_statcache_load (((io_manifest_t *)arg)->sc, path, e);
}

static int sink_entries (void *arg, const io_hash_t *id, uint32_t n,
                         const io_hash_t *hashes)
{
    return io__lineage_put_entries (((io_manifest_t *)arg)->lin, id, n,
                                    hashes);
}

static int sink_reserve (void *arg, int kind, size_t n)
{
    io_manifest_t *m = arg;
    if (kind == IO__RESERVE_DATUMS)
        return reserve_recs (m, n, true);
    return io_statcache_reserve (m->sc, n);
}

static int sink_job_inputs (void *arg, const char *job_id, size_t n,
                            char *const names[], char *const repos[])
{
    return io__lineage_put_job_inputs (((io_manifest_t *)arg)->lin, job_id,
                                       n, names, repos);
}

/* Lost workers: few per job, so a list searched from its end. */
static int apply_lost (io_manifest_t *m, const io_lost_worker_t *l)
{
    for (size_t i = m->nlost; i-- > 0;)
        if (m->lost[i].rank == l->rank && !strcmp (m->lost[i].job, l->job)) {
            m->lost[i] = *l;
            return 0;
        }
    if (m->nlost == m->lostcap) {
        size_t cap = m->lostcap ? 2 * m->lostcap : 8;
        io_lost_worker_t *v = realloc (m->lost, cap * sizeof (*v));
        if (!v)
            return -1;
        m->lost = v;
        m->lostcap = cap;
    }
    m->lost[m->nlost++] = *l;
    return 0;
}

static int sink_lost (void *arg, const io_lost_worker_t *l)
{
    return apply_lost ((io_manifest_t *)arg, l);
}

/* Load manifest.h5 into m, or nothing when there is none.  Read-only
 * opens keep the file open, so that attempts are later read from the
 * file as it was, even if a writer has replaced it since. */
static int load_file (io_manifest_t *m, dr_error_t *err)
{
    io__sink_t sink = { .arg = m, .put = sink_put_new, .job = sink_job,
                        .stat = sink_stat, .job_inputs = sink_job_inputs,
                        .lost_worker = sink_lost,
                        .reserve = sink_reserve };
    io__h5_t *f = io__h5_open (m->path, err);
    if (!f)
        return -1;
    /* The writer reads every table, attempts too (streamed, not kept), so
     * that damage anywhere in the file stops it before it changes
     * anything; readers read attempts when asked. */
    io__sink_t check = { 0 };
    if (io__h5_load (f, &sink, err) < 0
        || (!m->ro && io__h5_attempts (f, NULL, NULL, &check, err) < 0)) {
        io__h5_close (f);
        return -1;
    }
    m->pipeline_hash = io__h5_pipeline_hash (f);
    m->version = io__h5_version (f);
    m->lin_in_file = m->version >= 2;
    if (io__h5_output (f) && io_manifest_set_output (m, io__h5_output (f)) < 0) {
        io__h5_close (f);
        return dr_errprintf (err, "%s: out of memory", m->path);
    }
    if (m->version == 1)
        for (size_t i = 0; i < m->n; i++)
            if (fill_pipeline_p (m, &m->recs[i]) < 0) {
                io__h5_close (f);
                return dr_errprintf (err, "%s: out of memory", m->path);
            }
    m->have_file = true;
    if (m->ro)
        m->h5 = f;
    else
        io__h5_close (f);
    return 0;
}

/* The file's entry hashes for datums that nothing since has put or
 * forgotten. */
static int sink_entries_older (void *arg, const io_hash_t *id, uint32_t n,
                               const io_hash_t *hashes)
{
    io_manifest_t *m = arg;
    if (io__lineage_has (m->lin, id))
        return 0;
    return io__lineage_put_entries (m->lin, id, n, hashes);
}

static int lin_load (io_manifest_t *m, io__h5_t *f, dr_error_t *err)
{
    if (!m->lin_in_file)
        return 0;
    io__sink_t sink = { .arg = m, .entries = sink_entries_older };
    io__h5_t *own = NULL;
    if (!f && !(f = own = io__h5_open (m->path, err)))
        return -1;
    int rc = io__h5_lineage (f, &sink, err);
    io__h5_close (own);
    if (rc == 0)
        m->lin_in_file = false;
    return rc;
}

static int replay (io_manifest_t *m, dr_error_t *err)
{
    io__sink_t sink = { .arg = m, .put = sink_put,
                        .invalidate = sink_invalidate, .forget = sink_forget,
                        .job = sink_job, .attempt = sink_attempt,
                        .entries = sink_entries,
                        .job_inputs = sink_job_inputs,
                        .lost_worker = sink_lost };
    return io__journal_replay (m->journal_path, m->journal, &sink, err);
}

/* ------------------------------------------------------ open and close */

/* mkdir -p. */
static int mkdirs (const char *path)
{
    char *p = strdup (path);
    if (!p)
        return -1;
    int rc = 0;
    for (char *s = p + 1;; s++) {
        if (*s == '/' || *s == '\0') {
            char c = *s;
            *s = '\0';
            if (mkdir (p, 0777) < 0 && errno != EEXIST) {
                rc = -1;
                break;
            }
            *s = c;
            if (!c)
                break;
        }
    }
    if (rc == 0) {
        struct stat st;
        if (stat (path, &st) < 0)
            rc = -1;
        else if (!S_ISDIR (st.st_mode)) {
            errno = ENOTDIR;
            rc = -1;
        }
    }
    int saved = errno;
    free (p);
    errno = saved;
    return rc;
}

static io_manifest_t *manifest_new (const char *dir, bool ro)
{
    io_manifest_t *m = calloc (1, sizeof (*m));
    if (!m)
        return NULL;
    m->ro = ro;
    m->lock_fd = -1;
    if (!(m->dir = strdup (dir))
        || !(m->path = jobs_sd_path (dir, JOBS_SD_MANIFEST))
        || !(m->tmp_path = jobs_sd_path (dir, JOBS_SD_MANIFEST_TMP))
        || !(m->journal_path = jobs_sd_path (dir, JOBS_SD_JOURNAL))
        || !(m->lock_path = jobs_sd_path (dir, JOBS_SD_LOCK))
        || intern_hash (m, &(io_hash_t){ { 0 } }) != 0
        || !(m->sc = io_statcache_create ())
        || !(m->lin = io__lineage_create ())) {
        io_manifest_close (m);
        errno = ENOMEM;
        return NULL;
    }
    return m;
}

void io_manifest_hold (io_manifest_t *m)
{
    if (m->journal)
        io__journal_hold (m->journal);
}

int io_manifest_release (io_manifest_t *m, dr_error_t *err)
{
    return m->journal ? io__journal_release (m->journal, err) : 0;
}

void io_manifest_close (io_manifest_t *m)
{
    int saved = errno;
    if (m) {
        if (m->journal)
            io__journal_release (m->journal, NULL);
        io__journal_close (m->journal);
        if (m->lock_fd >= 0)
            close (m->lock_fd);   /* releases the flock */
        chunks_free (m->chunks);
        free (m->recs);
        free (m->tab);
        for (size_t i = 0; i < m->nhosts; i++)
            free (m->hosts[i]);
        free (m->hosts);
        free (m->hv);
        free (m->hvtab);
        free (m->jobs);
        free (m->att.v);
        free (m->att.tab);
        io__h5_close (m->h5);
        io_statcache_destroy (m->sc);
        io__lineage_destroy (m->lin);
        free (m->lost);
        free (m->dir);
        free (m->path);
        free (m->tmp_path);
        free (m->journal_path);
        free (m->lock_path);
        free (m->output);
        free (m);
    }
    errno = saved;
}

/* Take the state folder's exclusive lock and write our pid into it. */
static int take_lock (io_manifest_t *m, dr_error_t *err)
{
    int fd = open (m->lock_path, O_RDWR | O_CREAT | O_CLOEXEC, 0644);
    if (fd < 0)
        return dr_errprintf (err, "%s: cannot create lock file: %s",
                             m->lock_path, strerror (errno));
    if (flock (fd, LOCK_EX | LOCK_NB) < 0) {
        int e = errno;
        if (e == EWOULDBLOCK) {
            char pid[32] = "";
            ssize_t n = pread (fd, pid, sizeof (pid) - 1, 0);
            pid[n > 0 ? n : 0] = '\0';
            pid[strcspn (pid, "\n")] = '\0';
            close (fd);
            errno = EBUSY;
            return dr_errprintf (err, "pipeline state folder %s is in use "
                                 "by another datumrun (pid %s?)", m->dir,
                                 pid[0] ? pid : "unknown");
        }
        close (fd);
        errno = e;
        return dr_errprintf (err, "%s: cannot lock: %s (the state folder "
                             "needs a file system with flock; choose "
                             "another with --state)", m->lock_path,
                             strerror (e));
    }
    char pid[32];
    int len = snprintf (pid, sizeof (pid), "%ld\n", (long)getpid ());
    if (ftruncate (fd, 0) < 0 || pwrite (fd, pid, (size_t)len, 0) != len) {
        int e = errno;
        close (fd);
        errno = e;
        return dr_errprintf (err, "%s: cannot write: %s", m->lock_path,
                             strerror (e));
    }
    m->lock_fd = fd;
    return 0;
}

static bool exists (const char *path, dr_error_t *err, int *error)
{
    struct stat st;
    *error = 0;
    if (stat (path, &st) == 0)
        return true;
    if (errno != ENOENT) {
        *error = -1;
        dr_errprintf (err, "%s: %s", path, strerror (errno));
    }
    return false;
}

io_manifest_t *io_manifest_open (const char *state_dir, dr_error_t *err)
{
    io_manifest_t *m = NULL;
    if (mkdirs (state_dir) < 0) {
        dr_errprintf (err, "cannot create the state folder %s: %s",
                      state_dir, strerror (errno));
        return NULL;
    }
    if (!(m = manifest_new (state_dir, false))) {
        dr_errprintf (err, "%s: out of memory", state_dir);
        return NULL;
    }
    if (take_lock (m, err) < 0)
        goto error;
    /* A leftover tmp is a checkpoint that did not reach its rename. */
    if (unlink (m->tmp_path) < 0 && errno != ENOENT) {
        dr_errprintf (err, "%s: cannot remove: %s", m->tmp_path,
                      strerror (errno));
        goto error;
    }
    int error;
    bool have = exists (m->path, err, &error);
    if (error < 0)
        goto error;
    if (have && load_file (m, err) < 0)
        goto error;
    if (!(m->journal = io__journal_open (m->journal_path, err)))
        goto error;
    if (replay (m, err) < 0)
        goto error;
    /* The file exists from the first open on, so that readers find it. */
    if (!have && io_manifest_checkpoint (m, &m->pipeline_hash, err) < 0)
        goto error;
    return m;
error:
    io_manifest_close (m);
    return NULL;
}

io_manifest_t *io_manifest_open_ro (const char *state_dir, dr_error_t *err)
{
    io_manifest_t *m = manifest_new (state_dir, true);
    if (!m) {
        dr_errprintf (err, "%s: out of memory", state_dir);
        return NULL;
    }
    int error;
    bool have = exists (m->path, err, &error);
    if (error < 0)
        goto error;
    if (have && load_file (m, err) < 0)
        goto error;
    if (replay (m, err) < 0)
        goto error;
    return m;
error:
    io_manifest_close (m);
    return NULL;
}

/* ------------------------------------------------------------ queries */

io_statcache_t *io_manifest_statcache (io_manifest_t *m)
{
    return m->sc;
}

io_hash_t io_manifest_pipeline_hash (const io_manifest_t *m)
{
    return m->pipeline_hash;
}

const char *io_manifest_output (const io_manifest_t *m)
{
    return m->output;
}

int io_manifest_set_output (io_manifest_t *m, const char *output)
{
    char *copy = strdup (output);
    if (!copy)
        return -1;
    free (m->output);
    m->output = copy;
    return 0;
}

size_t io_manifest_ndatums (const io_manifest_t *m)
{
    return m->n;
}

const io_datum_rec_t *io_manifest_datum (const io_manifest_t *m, size_t i,
                                         io_datum_rec_t *view)
{
    return i < m->n ? prec_view (m, &m->recs[i], view) : NULL;
}

const io_datum_rec_t *io_manifest_find (const io_manifest_t *m,
                                        const io_hash_t *id,
                                        io_datum_rec_t *view)
{
    if (!m->tabcap)
        return NULL;
    uint32_t v = m->tab[tab_slot (m, id)];
    return v ? prec_view (m, &m->recs[tab_index (m, v)], view) : NULL;
}

size_t io_manifest_njobs (const io_manifest_t *m)
{
    return m->njobs;
}

const jobs_record_t *io_manifest_job (const io_manifest_t *m, size_t i)
{
    return i < m->njobs ? &m->jobs[i] : NULL;
}

const char *io_manifest_path (const io_manifest_t *m)
{
    return m->path;
}

uint64_t io_manifest_journal_bytes (const io_manifest_t *m)
{
    return m->journal ? io__journal_size (m->journal) : 0;
}

int io_manifest_format_version (const io_manifest_t *m)
{
    return m->version;
}

typedef struct att_iter {
    const io_manifest_t *m;
    io_attempt_f fn;
    void *arg;
} att_iter_t;

static int att_from_file (void *arg, const io_attempt_t *a)
{
    att_iter_t *it = arg;
    if (att_find (&it->m->att, a))
        return 0;    /* the journal holds a newer copy */
    if (it->fn (a, it->arg) < 0) {
        errno = ECANCELED;
        return -1;
    }
    return 0;
}

int io_manifest_attempts (io_manifest_t *m, const io_hash_t *job,
                          const io_hash_t *datum, io_attempt_f fn, void *arg,
                          dr_error_t *err)
{
    att_iter_t it = { m, fn, arg };
    io__sink_t sink = { .arg = &it, .attempt = att_from_file };
    if (m->have_file) {
        /* The writer holds the lock: the file is the last checkpoint. */
        io__h5_t *f = m->h5 ? m->h5 : io__h5_open (m->path, err);
        if (!f)
            return -1;
        int rc = io__h5_attempts (f, job, datum, &sink, err);
        if (f != m->h5)
            io__h5_close (f);
        if (rc < 0)
            return -1;
    }
    for (size_t i = 0; i < m->att.n; i++) {
        const io_attempt_t *a = &m->att.v[i];
        if ((job && !io_hash_eq (job, &a->job))
            || (datum && !io_hash_eq (datum, &a->datum)))
            continue;
        if (fn (a, arg) < 0)
            return -1;
    }
    return 0;
}

/* ------------------------------------------------- journaled operations */

static int read_only (const io_manifest_t *m, dr_error_t *err)
{
    errno = EROFS;
    return dr_errprintf (err, "%s: opened read-only", m->path);
}

static int oom (const io_manifest_t *m, dr_error_t *err)
{
    errno = ENOMEM;
    return dr_errprintf (err, "%s: out of memory", m->path);
}

static int put_job (io_manifest_t *m, bool begin, const jobs_record_t *job,
                    dr_error_t *err)
{
    if (m->ro)
        return read_only (m, err);
    jobs_record_t copy = *job;
    copy.id[sizeof (copy.id) - 1] = '\0';
    copy.pipeline[sizeof (copy.pipeline) - 1] = '\0';
    if (begin)
        copy.state = JOBS_STATE_RUNNING;
    if (!job_lookup (m, copy.id) && jobs_reserve (m) < 0)
        return oom (m, err);
    if (io__journal_job (m->journal, begin, &copy, err) < 0)
        return -1;
    return apply_job (m, &copy);  /* cannot fail: reserved */
}

int io_manifest_job_begin (io_manifest_t *m, const jobs_record_t *job,
                           dr_error_t *err)
{
    return put_job (m, true, job, err);
}

int io_manifest_job_end (io_manifest_t *m, const jobs_record_t *job,
                         dr_error_t *err)
{
    return put_job (m, false, job, err);
}

int io_manifest_put (io_manifest_t *m, const io_datum_rec_t *rec,
                     dr_error_t *err)
{
    if (m->ro)
        return read_only (m, err);
    io_datum_rec_t copy = *rec;
    char host[IO_HOST_MAX];
    snprintf (host, sizeof (host), "%s", rec->host ? rec->host : "");
    copy.host = host;
    /* The copy's strings go straight into the arena: no allocation of
     * its own per put. */
    ssize_t n = io__datum_strings_size (rec);
    if (n < 0)
        return dr_errprintf (err, "%s: invalid datum record (a NULL "
                             "output path, or strings of 4 GiB)", m->path);
    void *block = chunk_alloc (&m->chunks, (size_t)n);
    if (!block || reserve (m, 1) < 0)
        return oom (m, err);
    if (io__datum_copy_strings_at (&copy, rec, block) < 0)
        return oom (m, err);  /* cannot happen: the size was checked */
    m->live += align8 ((size_t)n);
    if (io__journal_put (m->journal, &copy, err) < 0) {
        arena_drop (m, &copy);
        return -1;
    }
    if (apply_put_arena (m, &copy, false) < 0)
        return oom (m, err);
    return 0;
}

int io_manifest_invalidate (io_manifest_t *m, const io_hash_t *id,
                            dr_error_t *err)
{
    if (m->ro)
        return read_only (m, err);
    if (!has_datum (m, id))
        return 0;
    if (io__journal_invalidate (m->journal, id, err) < 0)
        return -1;
    apply_invalidate (m, id);
    return 0;
}

int io_manifest_forget (io_manifest_t *m, const io_hash_t *id,
                        dr_error_t *err)
{
    if (m->ro)
        return read_only (m, err);
    if (!has_datum (m, id))
        return 0;
    if (io__journal_forget (m->journal, id, err) < 0)
        return -1;
    apply_forget (m, id);
    return 0;
}

int io_manifest_attempt (io_manifest_t *m, const io_attempt_t *a,
                         dr_error_t *err)
{
    if (m->ro)
        return read_only (m, err);
    io_attempt_t copy = *a;
    copy.host[sizeof (copy.host) - 1] = '\0';
    if (att_reserve (&m->att) < 0)
        return oom (m, err);
    if (io__journal_attempt (m->journal, &copy, err) < 0)
        return -1;
    return apply_attempt (m, &copy);  /* cannot fail: reserved */
}

int io_manifest_sync (io_manifest_t *m, dr_error_t *err)
{
    if (m->ro)
        return read_only (m, err);
    return io__journal_sync (m->journal, err);
}

/* -------------------------------------------------------- checkpoint */

static const io_datum_rec_t *snap_rec (const void *arg, size_t i,
                                       io_datum_rec_t *view)
{
    const io_manifest_t *m = arg;
    return prec_view (m, &m->recs[i], view);
}

static int fsync_path (const char *path, int flags)
{
    int fd = open (path, flags | O_CLOEXEC);
    if (fd < 0)
        return -1;
    int rc = fsync (fd);
    int saved = errno;
    close (fd);
    errno = saved;
    return rc;
}

int io_manifest_checkpoint (io_manifest_t *m, const io_hash_t *pipeline_hash,
                            dr_error_t *err)
{
    if (m->ro)
        return read_only (m, err);
    io__snapshot_t snap = {
        .rec = snap_rec, .rec_arg = m, .nrecs = m->n,
        .jobs = m->jobs, .njobs = m->njobs,
        .sc = m->sc, .output = m->output,
        .pipeline_hash = pipeline_hash ? *pipeline_hash : m->pipeline_hash,
        .attempts = m->att.v, .nattempts = m->att.n,
        .superseded = att_superseded, .superseded_arg = &m->att,
        .lin = m->lin,
        .lost = m->lost, .nlost = m->nlost,
    };
    /* Older attempts are copied over from the file being replaced. */
    io__h5_t *old = NULL;
    if (m->have_file && !(old = io__h5_open (m->path, err)))
        goto error;
    if (old && lin_load (m, old, err) < 0) {
        io__h5_close (old);
        goto error;
    }
    int rc = io__h5_store (m->tmp_path, &snap, old, err);
    io__h5_close (old);
    if (rc < 0)
        goto error;
    if (fsync_path (m->tmp_path, O_RDONLY) < 0) {
        dr_errprintf (err, "%s: fsync: %s", m->tmp_path, strerror (errno));
        goto error;
    }
    if (rename (m->tmp_path, m->path) < 0) {
        dr_errprintf (err, "%s: cannot rename to %s: %s", m->tmp_path,
                      m->path, strerror (errno));
        goto error;
    }
    m->pipeline_hash = snap.pipeline_hash;
    m->have_file = true;
    m->version = IO_MANIFEST_VERSION;
    att_clear (&m->att);   /* they are in the file now */
    /* The rename must be durable before the journal is emptied. */
    if (fsync_path (m->dir, O_RDONLY | O_DIRECTORY) < 0)
        return dr_errprintf (err, "%s: fsync: %s", m->dir, strerror (errno));
    return io__journal_reset (m->journal, err);
error:
    {
        int saved = errno;
        unlink (m->tmp_path);
        errno = saved;
    }
    return -1;
}

/* ------------------------------------------------------------ lineage */

int io_manifest_put_entry_hashes (io_manifest_t *m, const io_hash_t *id,
                                  uint32_t n, const io_hash_t *hashes,
                                  dr_error_t *err)
{
    if (m->ro)
        return read_only (m, err);
    if (io__journal_entries (m->journal, id, n, hashes, err) < 0)
        return -1;
    if (io__lineage_put_entries (m->lin, id, n, hashes) < 0)
        return dr_errprintf (err, "out of memory");
    return 0;
}

const io_hash_t *io_manifest_entry_hashes (const io_manifest_t *m,
                                           const io_hash_t *id, uint32_t *n)
{
    if (m->lin_in_file) {
        /* Loaded on first use; m is the caller's, opened non-const. */
        io_manifest_t *mm = (io_manifest_t *)m;
        dr_error_t err = { { 0 } };
        if (lin_load (mm, mm->h5, &err) < 0) {
            /* Out of memory (the file was checked at open): no lineage
             * rather than a failing query. */
            mm->lin_in_file = false;
        }
    }
    return io__lineage_entries (m->lin, id, n);
}

int io_manifest_put_job_inputs (io_manifest_t *m, const char *job_id,
                                size_t n, char *const names[],
                                char *const repos[], dr_error_t *err)
{
    if (m->ro)
        return read_only (m, err);
    if (io__journal_job_inputs (m->journal, job_id, n, names, repos, err) < 0)
        return -1;
    if (io__lineage_put_job_inputs (m->lin, job_id, n, names, repos) < 0)
        return dr_errprintf (err, "out of memory");
    return 0;
}

const char *io_manifest_job_repo (const io_manifest_t *m, const char *job_id,
                                  const char *name)
{
    return io__lineage_job_repo (m->lin, job_id, name);
}

/* ------------------------------------------------------- lost workers */

int io_manifest_lost_worker (io_manifest_t *m, const io_lost_worker_t *l,
                             dr_error_t *err)
{
    if (m->ro)
        return read_only (m, err);
    if (io__journal_lost_worker (m->journal, l, err) < 0)
        return -1;
    if (apply_lost (m, l) < 0)
        return dr_errprintf (err, "out of memory");
    return 0;
}

size_t io_manifest_nlost (const io_manifest_t *m)
{
    return m->nlost;
}

const io_lost_worker_t *io_manifest_lost (const io_manifest_t *m, size_t i)
{
    return i < m->nlost ? &m->lost[i] : NULL;
}
