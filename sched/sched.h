/* sched: from spec to work.  Glob matching, input combinators (pfs, cross,
 * union, join, group), datum identity and hashing, the parallelism
 * computation and the dispatch queue.
 */
#ifndef DATUMRUN_SCHED_H
#define DATUMRUN_SCHED_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "io/io.h"
#include "jobs/jobs.h"

/* ------------------------------------------------------------------ glob */

#define SCHED_GLOB_MAXCAPS 16

/* Capture groups of one match, as (offset, length) into the matched
 * repo-relative path.  cap 0 is unused; $1 is off[1], len[1]. */
typedef struct sched_glob_caps {
    int n;                              /* number of groups + 1 */
    uint32_t off[SCHED_GLOB_MAXCAPS];
    uint32_t len[SCHED_GLOB_MAXCAPS];
} sched_glob_caps_t;

typedef struct sched_glob sched_glob_t;

/* Compile a Pachyderm glob pattern.  Returns NULL with err naming the
 * pattern and what is wrong with it.  Caller frees with
 * sched_glob_destroy(). */
sched_glob_t *sched_glob_compile (const char *pattern, dr_error_t *err);
void sched_glob_destroy (sched_glob_t *g);

/* Match a repo-relative path: "" is the repo root, otherwise no leading or
 * trailing slash ("California/LA.json").  caps may be NULL. */
bool sched_glob_match (const sched_glob_t *g, const char *relpath,
                       sched_glob_caps_t *caps);

/* Called for each match, in sorted path order.  relpath as above.
 * Return non-zero to stop the walk (sched_glob_walk returns that value). */
typedef int (*sched_glob_f) (const char *relpath, bool is_dir,
                             const sched_glob_caps_t *caps, void *arg);

/* Walk the directory root and report every file or directory matching g,
 * descending no deeper than the pattern can match.  Returns 0, the
 * callback's non-zero value, or -1 with err naming the unreadable path. */
int sched_glob_walk (const sched_glob_t *g, const char *root, sched_glob_f cb,
                     void *arg, dr_error_t *err);

/* Expand "$1-$2" style templates against a match's captures.  Returns a
 * malloc'd string, or NULL with err when a group does not exist. */
char *sched_glob_expand (const char *tmpl, const char *relpath,
                         const sched_glob_caps_t *caps, dr_error_t *err);

/* ----------------------------------------------------------- parallelism */

/* Workers for a spec on `nodes` nodes: constant N gives N; coefficient c
 * gives max(1, floor(c * nodes)); unset means coefficient 1.  override > 0
 * (the -n option) wins. */
int sched_workers (const jobs_spec_t *spec, int nodes, int override);

/* ------------------------------------------------------------------ plan */

/* One matched file or directory of one pfs input: 32 bytes, the pool
 * offset, input index and directory bit in one word. */
#define SCHED_ENTRY_PATH_MAX ((1ULL << 40) - 1)
#define SCHED_ENTRY_INPUT_MAX ((1ULL << 23) - 1)
typedef struct sched_entry {
    uint64_t path : 40;   /* offset of the repo-relative path in the pool */
    uint64_t input : 23;  /* pfs leaf index (jobs_spec_t.pfs) */
    uint64_t is_dir : 1;
    uint64_t bytes;     /* content size (whole subtree for a directory) */
    io_hash_t hash;     /* content hash */
} sched_entry_t;

/* Keys, as pool offsets or UINT64_MAX: an entry's join_on and group_by
 * keys (sched_entry_keys), a datum's shown, join and group keys
 * (sched_datum_keys).  A plan whose inputs have no keys keeps none: 24
 * bytes a datum and 16 an entry saved. */
typedef struct sched_keys {
    uint64_t join, group;
} sched_keys_t;

typedef struct sched_dkeys {
    uint64_t key;       /* the outermost join's or group's key */
    uint64_t join;      /* the join's key ($DATUMRUN_JOIN_ON) */
    uint64_t group;     /* the group's key ($DATUMRUN_GROUP_BY) */
} sched_dkeys_t;

typedef enum sched_action {
    SCHED_PROCESS = 0,
    SCHED_SKIP,
} sched_action_t;

/* A datum: a tuple of entries.  Its entries are
 * plan->ents[first .. first + nentries - 1], indices into plan->entries.
 * 32 bytes: its hash (id + contents + pipeline hash) and its size are
 * computed from its entries when asked (sched_datum_hash, _bytes), not
 * kept for each of a million datums. */
typedef struct sched_datum {
    io_hash_t id;       /* hash of its (input name, repo, path) tuples */
    uint64_t first;
    uint32_t nentries;
    uint8_t action;     /* sched_action_t */
    uint8_t changed;    /* a success with another hash exists */
    uint8_t earlier;    /* skipped: made by an earlier pipeline version */
    uint8_t outputs;    /* its record (if any) lists outputs */
} sched_datum_t;

typedef struct sched_plan {
    const jobs_spec_t *spec;
    io_hash_t pipeline_hash;

    char *pool;              /* NUL-terminated strings */
    uint64_t pool_len, pool_cap;

    sched_entry_t *entries;
    size_t nentries, entries_cap;
    sched_keys_t *ekeys;     /* per entry, or NULL: no entry has a key */
    sched_dkeys_t *dkeys;    /* per datum, or NULL: no datum has a key */

    uint32_t *ents;          /* datum -> entry index lists */
    uint64_t nents, ents_cap;

    sched_datum_t *datums;
    size_t ndatums, datums_cap;

    size_t nprocess, nskip;
    size_t nearlier;         /* skipped datums made by an earlier version */
    size_t nrecorded;        /* datums the manifest has a record of: when
                              * it is the manifest's count, none left the
                              * input */

    uint32_t *idset;         /* datum IDs -> index + 1 (open addressing) */
    size_t idset_cap;
} sched_plan_t;

typedef struct sched_plan_opts {
    bool rehash;        /* read every file even when its stat is cached */
    bool reprocess;     /* process every datum */
} sched_plan_opts_t;

/* Expand the spec's input into datums, hashing their contents through sc
 * (may be NULL), and decide each datum's action against the manifest m (may
 * be NULL: everything is processed).  A datum whose last processing
 * succeeded on the same inputs is skipped, whichever pipeline version made
 * it (Pachyderm never processes the same datum twice unless asked with
 * --reprocess); those of an earlier version are counted in nearlier.
 * Datums come out in input order (sorted paths), duplicates (same ID)
 * dropped.
 * Returns NULL with err.  Caller frees with sched_plan_destroy(). */
sched_plan_t *sched_plan_build (const jobs_spec_t *spec, io_statcache_t *sc,
                                const io_manifest_t *m,
                                const sched_plan_opts_t *opts,
                                dr_error_t *err);
void sched_plan_destroy (sched_plan_t *p);

/* Index of the datum with this ID, or -1. */
ssize_t sched_plan_find (const sched_plan_t *p, const io_hash_t *id);

static inline const char *sched_str (const sched_plan_t *p, uint64_t off)
{
    return p->pool + off;
}

static inline sched_keys_t sched_entry_keys (const sched_plan_t *p,
                                             size_t i)
{
    sched_keys_t none = { UINT64_MAX, UINT64_MAX };
    return p->ekeys ? p->ekeys[i] : none;
}

static inline sched_dkeys_t sched_datum_keys (const sched_plan_t *p,
                                              const sched_datum_t *d)
{
    sched_dkeys_t none = { UINT64_MAX, UINT64_MAX, UINT64_MAX };
    return p->dkeys ? p->dkeys[d - p->datums] : none;
}

/* d's hash: XXH3-128 of its id, its entries' content hashes (in the
 * order of sched_datum_inputs') and the plan's pipeline hash.  Allocates
 * only for a datum of more than 62 entries: 0, or -1 (ENOMEM). */
int sched_datum_hash (const sched_plan_t *p, const sched_datum_t *d,
                      io_hash_t *out);

/* d's size: its entries' content sizes summed. */
uint64_t sched_datum_bytes (const sched_plan_t *p, const sched_datum_t *d);

/* The content hashes of d's entries, in the order of sched_datum_inputs'
 * entries, into out (room for d->nentries); returns their count. */
uint32_t sched_datum_entry_hashes (const sched_plan_t *p,
                                   const sched_datum_t *d, io_hash_t *out);

/* The datum's "name:path" entries as io_datum_rec_t.inputs (each
 * NUL-terminated, then one more NUL).  Caller frees. */
char *sched_datum_inputs (const sched_plan_t *p, const sched_datum_t *d);

/* Pipeline hash: XXH3-128 of spec->pipeline_canon. */
void sched_pipeline_hash (const jobs_spec_t *spec, io_hash_t *out);

/* ---------------------------------------------------------------- dispatch */

/* The dispatch policy (queue, holdings, reserves, chunks, retries, lost
 * workers) is sched/dispatch.h's.  The plain queue below stays for
 * simple uses. */
#include "sched/dispatch.h"


/* The rank-0 dispatch queue: datums to process, in order, with retries.
 * Retried datums go to the back so a flaky datum does not stall others. */
typedef struct sched_queue sched_queue_t;

sched_queue_t *sched_queue_create (size_t capacity);
void sched_queue_destroy (sched_queue_t *q);
int sched_queue_push (sched_queue_t *q, uint32_t datum);
/* Returns 0 and the next datum, or -1 when empty. */
int sched_queue_pop (sched_queue_t *q, uint32_t *datum);
size_t sched_queue_len (const sched_queue_t *q);

#endif /* DATUMRUN_SCHED_H */
