/* proto.c: the wire protocol between rank 0 and the workers (see
 * proto.h): message packing, and every MPI call of the runner, each one
 * checked under MPI_ERRORS_RETURN.  Sends never block: they are posted
 * with MPI_Isend and completed by proto_progress, so that a stopped or
 * dead peer cannot hold up the sender.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <mpi.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "runner/proto.h"

/* ---------------------------------------------------------------- buf */

void buf_free (buf_t *b)
{
    free (b->data);
    memset (b, 0, sizeof (*b));
}

void buf_put (buf_t *b, const void *p, size_t n)
{
    if (b->len + n > b->cap) {
        size_t ncap = b->cap ? b->cap : 256;
        while (ncap < b->len + n)
            ncap *= 2;
        uint8_t *d = realloc (b->data, ncap);
        if (!d) {
            fprintf (stderr, "datumrun: out of memory\n");
            abort ();
        }
        b->data = d;
        b->cap = ncap;
    }
    if (n)
        memcpy (b->data + b->len, p, n);
    b->len += n;
}

void buf_put_u32 (buf_t *b, uint32_t v)
{
    buf_put (b, &v, sizeof (v));
}

void buf_put_u64 (buf_t *b, uint64_t v)
{
    buf_put (b, &v, sizeof (v));
}

void buf_put_f64 (buf_t *b, double v)
{
    buf_put (b, &v, sizeof (v));
}

void buf_put_str (buf_t *b, const char *s)
{
    uint32_t n = s ? (uint32_t)strlen (s) : 0;
    buf_put_u32 (b, n);
    if (n)
        buf_put (b, s, n);
}

void buf_get (buf_t *b, void *p, size_t n)
{
    if (b->bad || b->pos + n > b->len) {
        b->bad = true;
        memset (p, 0, n);
        return;
    }
    memcpy (p, b->data + b->pos, n);
    b->pos += n;
}

uint32_t buf_get_u32 (buf_t *b)
{
    uint32_t v;
    buf_get (b, &v, sizeof (v));
    return v;
}

uint64_t buf_get_u64 (buf_t *b)
{
    uint64_t v;
    buf_get (b, &v, sizeof (v));
    return v;
}

double buf_get_f64 (buf_t *b)
{
    double v;
    buf_get (b, &v, sizeof (v));
    return v;
}

char *buf_get_str (buf_t *b)
{
    uint32_t n = buf_get_u32 (b);
    if (b->bad || b->pos + n > b->len) {
        b->bad = true;
        n = 0;
    }
    char *s = malloc ((size_t)n + 1);
    if (!s)
        abort ();
    if (n)
        memcpy (s, b->data + b->pos, n);
    s[n] = '\0';
    b->pos += n;
    return s;
}

/* ------------------------------------------------------------ messages */

void wdatum_free (wdatum_t *d)
{
    if (!d)
        return;
    for (uint32_t i = 0; d->path && i < d->nentries; i++)
        free (d->path[i]);
    free (d->path);
    free (d->input);
    free (d->join_key);
    free (d->group_key);
    memset (d, 0, sizeof (*d));
}

void wresult_free (wresult_t *r)
{
    io_outlist_free (&r->outs);
    free (r->message);
    memset (r, 0, sizeof (*r));
}

/* The count of an ASSIGN sits right after the job ID. */
#define ASSIGN_COUNT_POS(b) (sizeof (uint32_t) + 32)

void proto_assign_begin (buf_t *b, const char *job_id)
{
    char id[33] = { 0 };
    snprintf (id, sizeof (id), "%s", job_id ? job_id : "");
    buf_put_u32 (b, 32);
    buf_put (b, id, 32);
    buf_put_u32 (b, 0);
}

void proto_assign_add (buf_t *b, const sched_plan_t *p, uint32_t didx,
                       uint32_t attempt)
{
    const sched_datum_t *d = &p->datums[didx];
    buf_put_u32 (b, didx);
    buf_put_u32 (b, attempt);
    buf_put (b, d->id.b, 16);
    buf_put_u32 (b, d->nentries);
    for (uint32_t j = 0; j < d->nentries; j++) {
        const sched_entry_t *e = &p->entries[p->ents[d->first + j]];
        buf_put_u32 (b, e->input);
        buf_put_str (b, sched_str (p, e->path));
    }
    sched_dkeys_t k = sched_datum_keys (p, d);
    buf_put_str (b, k.join != UINT64_MAX ? sched_str (p, k.join) : "");
    buf_put_str (b, k.group != UINT64_MAX ? sched_str (p, k.group) : "");
    uint32_t n;
    memcpy (&n, b->data + ASSIGN_COUNT_POS (b), sizeof (n));
    n++;
    memcpy (b->data + ASSIGN_COUNT_POS (b), &n, sizeof (n));
}

void proto_assign_end (buf_t *b)
{
    (void)b;    /* the count is kept current by proto_assign_add */
}

int proto_assign_unpack (buf_t *b, char job_id[33], wdatum_t **v, size_t *n)
{
    *v = NULL;
    *n = 0;
    char *id = buf_get_str (b);
    snprintf (job_id, 33, "%s", id);
    free (id);
    uint32_t count = buf_get_u32 (b);
    /* Each datum takes at least 36 bytes: a count beyond that is a lie. */
    if (b->bad || count == 0 || count > (b->len - b->pos) / 36)
        return -1;
    wdatum_t *ds = calloc (count, sizeof (*ds));
    if (!ds)
        abort ();
    uint32_t i;
    for (i = 0; i < count && !b->bad; i++) {
        wdatum_t *d = &ds[i];
        d->didx = buf_get_u32 (b);
        d->attempt = buf_get_u32 (b);
        buf_get (b, d->id.b, 16);
        uint32_t ne = buf_get_u32 (b);
        if (b->bad || ne > (b->len - b->pos) / 8) {
            b->bad = true;
            break;
        }
        d->input = calloc ((size_t)ne + 1, sizeof (*d->input));
        d->path = calloc ((size_t)ne + 1, sizeof (*d->path));
        if (!d->input || !d->path)
            abort ();
        d->nentries = ne;
        for (uint32_t j = 0; j < ne; j++) {
            d->input[j] = buf_get_u32 (b);
            d->path[j] = buf_get_str (b);
        }
        d->join_key = buf_get_str (b);
        d->group_key = buf_get_str (b);
    }
    if (b->bad) {
        for (uint32_t k = 0; k < count; k++)
            wdatum_free (&ds[k]);
        free (ds);
        return -1;
    }
    *v = ds;
    *n = count;
    return 0;
}

void proto_result_pack (const wresult_t *r, buf_t *b)
{
    buf_put_u32 (b, r->didx);
    buf_put_u32 (b, r->attempt);
    buf_put_u32 (b, (uint32_t)r->outcome);
    buf_put_u32 (b, (uint32_t)r->exit_status);
    buf_put_u32 (b, (uint32_t)r->term_signal);
    buf_put_u64 (b, (uint64_t)r->start_ns);
    buf_put_f64 (b, r->duration_s);
    buf_put_u64 (b, r->bytes_out);
    buf_put_u32 (b, (uint32_t)r->outs.n);
    for (size_t i = 0; i < r->outs.n; i++) {
        buf_put_str (b, r->outs.paths[i]);
        /* What the file was once moved: a later skip checks it. */
        buf_put_u64 (b, r->outs.sizes ? r->outs.sizes[i] : 0);
        buf_put_u64 (b, (uint64_t)(r->outs.mtimes ? r->outs.mtimes[i]
                                                  : IO_MTIME_UNKNOWN));
    }
    buf_put_str (b, r->message);
}

int proto_result_unpack (buf_t *b, wresult_t *r)
{
    memset (r, 0, sizeof (*r));
    r->didx = buf_get_u32 (b);
    r->attempt = buf_get_u32 (b);
    uint32_t oc = buf_get_u32 (b);
    r->outcome = oc <= OUT_NOSPACE ? (outcome_t)oc : OUT_ERROR;
    r->exit_status = (int32_t)buf_get_u32 (b);
    r->term_signal = (int32_t)buf_get_u32 (b);
    r->start_ns = (int64_t)buf_get_u64 (b);
    r->duration_s = buf_get_f64 (b);
    r->bytes_out = buf_get_u64 (b);
    uint32_t n = buf_get_u32 (b);
    if (b->bad || oc > OUT_NOSPACE || n > (b->len - b->pos) / 20)
        return -1;
    r->outs.paths = calloc (n ? n : 1, sizeof (char *));
    r->outs.sizes = calloc (n ? n : 1, sizeof (uint64_t));
    r->outs.mtimes = calloc (n ? n : 1, sizeof (int64_t));
    if (!r->outs.paths || !r->outs.sizes || !r->outs.mtimes)
        abort ();
    for (uint32_t i = 0; i < n; i++) {
        r->outs.paths[i] = buf_get_str (b);
        r->outs.sizes[i] = buf_get_u64 (b);
        r->outs.mtimes[i] = (int64_t)buf_get_u64 (b);
        r->outs.n++;
    }
    char *m = buf_get_str (b);
    r->message = m[0] ? m : (free (m), NULL);
    return b->bad ? -1 : 0;
}

void proto_stop_pack (buf_t *b, uint32_t flags)
{
    buf_put_u32 (b, flags);
}

uint32_t proto_stop_unpack (buf_t *b)
{
    uint32_t f = buf_get_u32 (b);
    return b->bad ? 0 : f;
}

/* ----------------------------------------------------------------- MPI */

typedef struct psend {
    MPI_Request req;
    buf_t buf;
    int dest;
} psend_t;

struct proto {
    MPI_Comm comm;
    int rank, size;
    psend_t *sends;
    size_t nsends, cap;
    psend_t *abandoned;     /* sends to lost peers: MPI may still read */
    size_t nabandoned, acap;
    bool lost;
};

static int mpi_fail (dr_error_t *err, int rc, const char *what)
{
    char s[MPI_MAX_ERROR_STRING] = "";
    int len = 0;
    if (MPI_Error_string (rc, s, &len) != MPI_SUCCESS)
        snprintf (s, sizeof (s), "MPI error %d", rc);
    errno = EIO;
    return dr_errprintf (err, "%s: %s", what, s);
}

proto_t *proto_init (int *rank, int *size, dr_error_t *err)
{
    int rc;
    proto_t *p = calloc (1, sizeof (*p));
    if (!p)
        abort ();
    /* No rank ever blocks in MPI (they poll and sleep on their own), so
     * Open MPI's progress loop has nobody to yield to: on an oversubscribed
     * node it would call sched_yield on every probe, four times a batched
     * datum (bench/RESULTS.md).  The user's setting wins. */
    setenv ("OMPI_MCA_mpi_yield_when_idle", "0", 0);
    if ((rc = MPI_Init (NULL, NULL)) != MPI_SUCCESS) {
        mpi_fail (err, rc, "MPI_Init");
        free (p);
        return NULL;
    }
    p->comm = MPI_COMM_WORLD;
    if ((rc = MPI_Comm_set_errhandler (p->comm, MPI_ERRORS_RETURN))
            != MPI_SUCCESS
        || (rc = MPI_Comm_rank (p->comm, &p->rank)) != MPI_SUCCESS
        || (rc = MPI_Comm_size (p->comm, &p->size)) != MPI_SUCCESS) {
        mpi_fail (err, rc, "MPI setup");
        free (p);
        return NULL;
    }
    *rank = p->rank;
    *size = p->size;
    return p;
}

typedef struct hello {
    uint32_t version;
    int32_t pid;
    char host[PROTO_HOST_MAX];
} hello_t;

int proto_hello (proto_t *p, const char *host, char *hosts, int *pids,
                 dr_error_t *err)
{
    hello_t me = { .version = PROTO_VERSION, .pid = (int32_t)getpid () };
    hello_t *all = NULL;
    snprintf (me.host, sizeof (me.host), "%s", host);
    if (p->rank == 0 && !(all = calloc ((size_t)p->size, sizeof (*all))))
        abort ();
    int rc = MPI_Gather (&me, (int)sizeof (me), MPI_BYTE, all,
                         (int)sizeof (me), MPI_BYTE, 0, p->comm);
    if (rc != MPI_SUCCESS) {
        free (all);
        return mpi_fail (err, rc, "MPI_Gather (hello)");
    }
    int ok = 1;
    for (int r = 0; p->rank == 0 && r < p->size; r++) {
        if (all[r].version != PROTO_VERSION) {
            dr_errprintf (err, "rank %d on %.*s speaks protocol version %u, "
                          "rank 0 version %u: every rank must run the same "
                          "datumrun", r, PROTO_HOST_MAX, all[r].host,
                          all[r].version, PROTO_VERSION);
            ok = 0;
            break;
        }
        all[r].host[PROTO_HOST_MAX - 1] = '\0';
        memcpy (hosts + (size_t)r * PROTO_HOST_MAX, all[r].host,
                PROTO_HOST_MAX);
        pids[r] = all[r].pid;
    }
    free (all);
    /* Every rank learns the verdict, so that none waits for a job that
     * will not start. */
    if ((rc = MPI_Bcast (&ok, 1, MPI_INT, 0, p->comm)) != MPI_SUCCESS)
        return mpi_fail (err, rc, "MPI_Bcast (hello)");
    if (!ok && p->rank != 0)
        return dr_errprintf (err, "rank 0 refused this rank's protocol "
                             "version %u", PROTO_VERSION);
    return ok ? 0 : -1;
}

void proto_library_version (char *buf, size_t len)
{
    char v[MPI_MAX_LIBRARY_VERSION_STRING] = "";
    int n = 0;
    if (MPI_Get_library_version (v, &n) != MPI_SUCCESS)
        v[0] = '\0';
    snprintf (buf, len, "%s", v);
}

int proto_gather_int (proto_t *p, int v, int *all, dr_error_t *err)
{
    int rc = MPI_Gather (&v, 1, MPI_INT, all, 1, MPI_INT, 0, p->comm);
    return rc == MPI_SUCCESS ? 0 : mpi_fail (err, rc, "MPI_Gather");
}

int proto_local_worker_index (proto_t *p, int rank)
{
    /* Ranks sharing this node, in rank order; rank 0 is no worker. */
    MPI_Comm local;
    int lrank = 0, lsize = 1, idx = 0;
    if (MPI_Comm_split_type (p->comm, MPI_COMM_TYPE_SHARED, rank,
                             MPI_INFO_NULL, &local) != MPI_SUCCESS)
        return rank > 0 ? rank - 1 : 0;
    if (MPI_Comm_rank (local, &lrank) != MPI_SUCCESS
        || MPI_Comm_size (local, &lsize) != MPI_SUCCESS) {
        MPI_Comm_free (&local);
        return rank > 0 ? rank - 1 : 0;
    }
    int *ranks = calloc ((size_t)lsize, sizeof (int));
    if (!ranks)
        abort ();
    if (MPI_Allgather (&rank, 1, MPI_INT, ranks, 1, MPI_INT, local)
        == MPI_SUCCESS) {
        for (int i = 0; i < lrank; i++)
            if (ranks[i] != 0)
                idx++;
    }
    free (ranks);
    MPI_Comm_free (&local);
    return idx;
}

int proto_send (proto_t *p, int dest, proto_tag_t tag, buf_t *body,
                dr_error_t *err)
{
    if (p->nsends == p->cap) {
        p->cap = p->cap ? 2 * p->cap : 16;
        p->sends = realloc (p->sends, p->cap * sizeof (*p->sends));
        if (!p->sends)
            abort ();
    }
    psend_t *s = &p->sends[p->nsends];
    memset (s, 0, sizeof (*s));
    if (body) {
        s->buf = *body;
        memset (body, 0, sizeof (*body));
    }
    s->dest = dest;
    int rc = MPI_Isend (s->buf.data, (int)s->buf.len, MPI_BYTE, dest,
                        (int)tag, p->comm, &s->req);
    if (rc != MPI_SUCCESS) {
        buf_free (&s->buf);
        char what[64];
        snprintf (what, sizeof (what), "MPI_Isend to rank %d", dest);
        return mpi_fail (err, rc, what);
    }
    p->nsends++;
    return 0;
}

int proto_recv (proto_t *p, int source, proto_msg_t *m, dr_error_t *err)
{
    int flag = 0, count = 0, rc;
    MPI_Message msg;
    MPI_Status st;
    memset (m, 0, sizeof (*m));
    m->source = -1;
    rc = MPI_Improbe (source < 0 ? MPI_ANY_SOURCE : source, MPI_ANY_TAG,
                      p->comm, &flag, &msg, &st);
    if (rc != MPI_SUCCESS) {
        m->source = source;
        return mpi_fail (err, rc, "MPI_Improbe");
    }
    if (!flag)
        return 0;
    m->source = st.MPI_SOURCE;
    m->tag = (proto_tag_t)st.MPI_TAG;
    if ((rc = MPI_Get_count (&st, MPI_BYTE, &count)) != MPI_SUCCESS
        || count < 0)
        return mpi_fail (err, rc, "MPI_Get_count");
    m->body.len = m->body.cap = (size_t)count;
    if (!(m->body.data = malloc (count ? (size_t)count : 1)))
        abort ();
    /* Always into a buffer of the whole size: Open MPI 4.1 overflows a
     * smaller one (a truncating receive over the shared-memory BTL's
     * single copy writes the whole message; found by ASan). */
    rc = MPI_Mrecv (m->body.data, count, MPI_BYTE, &msg, &st);
    if (rc != MPI_SUCCESS) {
        buf_free (&m->body);
        char what[96];
        snprintf (what, sizeof (what), "MPI_Mrecv from rank %d", m->source);
        return mpi_fail (err, rc, what);
    }
    if ((size_t)count > proto_max_message ()) {
        /* No message of ours is this big: the peer's protocol is broken. */
        buf_free (&m->body);
        errno = EPROTO;
        return dr_errprintf (err, "MPI_Mrecv from rank %d: a %d-byte "
                             "message (tag %d), over the wire protocol's "
                             "%zu-byte limit", m->source, count, m->tag,
                             proto_max_message ());
    }
    return 1;
}

size_t proto_max_message (void)
{
    static size_t max;
    if (!max) {
        const char *e = getenv ("DATUMRUN_TEST_MPI_FAULT");
        max = e && *e ? PROTO_FAULT_MESSAGE : PROTO_MAX_MESSAGE;
    }
    return max;
}

int proto_progress (proto_t *p, int *failed, dr_error_t *err)
{
    size_t j = 0;
    int bad = -1, badrc = MPI_SUCCESS;
    for (size_t i = 0; i < p->nsends; i++) {
        int done = 0;
        int rc = MPI_Test (&p->sends[i].req, &done, MPI_STATUS_IGNORE);
        if (rc != MPI_SUCCESS) {
            /* The request is gone with its error: drop the send. */
            if (bad < 0) {
                bad = p->sends[i].dest;
                badrc = rc;
            }
            buf_free (&p->sends[i].buf);
        }
        else if (done)
            buf_free (&p->sends[i].buf);
        else
            p->sends[j++] = p->sends[i];
    }
    p->nsends = j;
    if (bad >= 0) {
        *failed = bad;
        char what[64];
        snprintf (what, sizeof (what), "send to rank %d", bad);
        return mpi_fail (err, badrc, what);
    }
    return 0;
}

size_t proto_pending (const proto_t *p)
{
    return p->nsends;
}

void proto_abandon (proto_t *p)
{
    p->lost = true;
}

bool proto_peer_lost (const proto_t *p)
{
    return p && p->lost;
}

void proto_forget (proto_t *p, int rank)
{
    size_t j = 0;
    p->lost = true;
    for (size_t i = 0; i < p->nsends; i++) {
        if (p->sends[i].dest != rank) {
            p->sends[j++] = p->sends[i];
            continue;
        }
        if (p->nabandoned == p->acap) {
            p->acap = p->acap ? 2 * p->acap : 8;
            p->abandoned = realloc (p->abandoned,
                                    p->acap * sizeof (*p->abandoned));
            if (!p->abandoned)
                abort ();
        }
        p->abandoned[p->nabandoned++] = p->sends[i];
    }
    p->nsends = j;
}

void proto_finalize (proto_t *p, bool abandon)
{
    if (!p)
        return;
    int saved = errno;
    if (!abandon)
        MPI_Finalize ();
    for (size_t i = 0; i < p->nsends; i++)
        buf_free (&p->sends[i].buf);
    /* Abandoned buffers may still be read by MPI until it goes: once
     * finalized (or when we leave without it) they are ours to free. */
    for (size_t i = 0; i < p->nabandoned; i++)
        buf_free (&p->abandoned[i].buf);
    free (p->sends);
    free (p->abandoned);
    free (p);
    errno = saved;
}
