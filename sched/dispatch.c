/* dispatch.c: rank 0's dispatch policy (see dispatch.h), a state machine
 * over a double-ended queue of datum indices and each worker's holdings.
 * It knows nothing of MPI, clocks or the manifest, so that the unit tests
 * can drive whole jobs through it, losses included.
 */
#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "sched/dispatch.h"

typedef struct wslot {
    sched_wstate_t state;
    double last_heard;
    /* held[first .. first + nheld), oldest first: results come mostly
     * in the order given, so removing one moves only the few before it. */
    uint32_t *held;
    size_t first, nheld, cap;
} wslot_t;

struct sched_dispatch {
    sched_dispatch_opts_t o;
    uint32_t *ring;          /* the queue: a ring, pushed at either end */
    size_t rcap, head, len;
    uint32_t *attempts;      /* per datum */
    uint8_t *losses;         /* per datum, saturating */
    uint8_t *final;          /* per datum: 1 once finished or given up */
    wslot_t *ws;             /* index = worker (1..nworkers) */
    size_t remaining;
    size_t held_total;
    int active;
    bool stopping;
    double avg;              /* moving average of attempt durations */
    double last_tick;        /* the previous tick's time; 0 = none yet */
};

static int ring_grow (sched_dispatch_t *d)
{
    if (d->len < d->rcap)
        return 0;
    size_t ncap = d->rcap ? 2 * d->rcap : 16;
    uint32_t *n = malloc (ncap * sizeof (*n));
    if (!n)
        return -1;
    for (size_t i = 0; i < d->len; i++)
        n[i] = d->ring[(d->head + i) % d->rcap];
    free (d->ring);
    d->ring = n;
    d->rcap = ncap;
    d->head = 0;
    return 0;
}

static int push_back (sched_dispatch_t *d, uint32_t v)
{
    if (ring_grow (d) < 0)
        return -1;
    d->ring[(d->head + d->len) % d->rcap] = v;
    d->len++;
    return 0;
}

static int push_front (sched_dispatch_t *d, uint32_t v)
{
    if (ring_grow (d) < 0)
        return -1;
    d->head = (d->head + d->rcap - 1) % d->rcap;
    d->ring[d->head] = v;
    d->len++;
    return 0;
}

static bool pop_front (sched_dispatch_t *d, uint32_t *v)
{
    if (!d->len)
        return false;
    *v = d->ring[d->head];
    d->head = (d->head + 1) % d->rcap;
    d->len--;
    return true;
}

sched_dispatch_t *sched_dispatch_create (const sched_dispatch_opts_t *o)
{
    if (!o || o->nworkers < 0 || o->ndatums > UINT32_MAX) {
        errno = EINVAL;
        return NULL;
    }
    sched_dispatch_t *d = calloc (1, sizeof (*d));
    if (!d)
        return NULL;
    d->o = *o;
    if (d->o.chunk < 1)
        d->o.chunk = 1;
    if (d->o.datum_tries < 1)
        d->o.datum_tries = 1;
    if (d->o.crash_limit < 1)
        d->o.crash_limit = 1;
    if (d->o.crash_limit > 255)
        d->o.crash_limit = 255;
    size_t n = o->ndatums ? o->ndatums : 1;
    d->attempts = calloc (n, sizeof (*d->attempts));
    d->losses = calloc (n, 1);
    d->final = calloc (n, 1);
    d->ws = calloc ((size_t)o->nworkers + 1, sizeof (*d->ws));
    if (!d->attempts || !d->losses || !d->final || !d->ws) {
        sched_dispatch_destroy (d);
        errno = ENOMEM;
        return NULL;
    }
    return d;
}

void sched_dispatch_destroy (sched_dispatch_t *d)
{
    int saved = errno;
    if (d) {
        for (int w = 0; d->ws && w <= d->o.nworkers; w++)
            free (d->ws[w].held);
        free (d->ws);
        free (d->ring);
        free (d->attempts);
        free (d->losses);
        free (d->final);
        free (d);
    }
    errno = saved;
}

static wslot_t *slot (const sched_dispatch_t *d, int w)
{
    return w >= 1 && w <= d->o.nworkers ? &d->ws[w] : NULL;
}

int sched_dispatch_push (sched_dispatch_t *d, uint32_t datum)
{
    if (datum >= d->o.ndatums) {
        errno = EINVAL;
        return -1;
    }
    if (push_back (d, datum) < 0)
        return -1;
    d->remaining++;
    return 0;
}

int sched_dispatch_worker_joined (sched_dispatch_t *d, int w, double now)
{
    wslot_t *s = slot (d, w);
    if (!s) {
        errno = EINVAL;
        return -1;
    }
    if (s->state != SCHED_W_ACTIVE)
        d->active++;
    s->state = SCHED_W_ACTIVE;
    s->last_heard = now;
    return 0;
}

static bool present (const wslot_t *s)
{
    return s && (s->state == SCHED_W_ACTIVE || s->state == SCHED_W_LEAVING);
}

void sched_dispatch_heard (sched_dispatch_t *d, int w, double now)
{
    wslot_t *s = slot (d, w);
    if (present (s))
        s->last_heard = now;
}

int sched_dispatch_worker_leaving (sched_dispatch_t *d, int w)
{
    wslot_t *s = slot (d, w);
    if (!s || s->state != SCHED_W_ACTIVE) {
        errno = EINVAL;
        return -1;
    }
    s->state = SCHED_W_LEAVING;
    d->active--;
    return 0;
}

size_t sched_dispatch_chunk (const sched_dispatch_t *d)
{
    size_t c = d->o.chunk;
    if (d->o.chunk_seconds > 0) {
        double want = d->avg > 0 ? d->o.chunk_seconds / d->avg : 1;
        if (want < (double)c)
            c = want < 1 ? 1 : (size_t)want;
    }
    if (d->o.guided && c > 1) {
        size_t parts = 3 * (size_t)(d->active > 0 ? d->active : 1);
        size_t g = (d->len + parts - 1) / parts;
        if (g < 1)
            g = 1;
        if (g < c)
            c = g;
    }
    return c;
}

/* What a worker holds ahead of the datum it runs must outlast rank 0's
 * reply to its result (rank 0 sleeps up to a few ms when idle, and the
 * worker sees the reply when its datum ends): at least this much work at
 * the average duration.  Short datums vary (a lognormal's short tail is a
 * tenth of its median), so two of them alone may not.  But never more
 * than a guided share of what is queued: near the end of the queue (or
 * when the average is made of quick datums and slow ones follow) a
 * worker must not hoard what the others could run. */
#define RESERVE_SECONDS 0.02

size_t sched_dispatch_per_worker (const sched_dispatch_t *d)
{
    bool short_datums = d->avg > 0 && d->avg < 0.05;
    size_t chunk = sched_dispatch_chunk (d);
    size_t n = (short_datums ? 3 : 2) * chunk;
    if (short_datums) {
        /* the running chunk, plus RESERVE_SECONDS of work in whole chunks */
        size_t ahead = (size_t)ceil (RESERVE_SECONDS / d->avg);
        size_t share = d->len / (3 * (size_t)(d->active > 0 ? d->active : 1));
        if (ahead > share)
            ahead = share;
        size_t want = chunk * (1 + (ahead + chunk - 1) / chunk);
        if (want > n)
            n = want;
    }
    return n;
}

size_t sched_dispatch_assign (sched_dispatch_t *d, int w, uint32_t *out,
                              size_t max)
{
    wslot_t *s = slot (d, w);
    if (!s || s->state != SCHED_W_ACTIVE || d->stopping || !d->len)
        return 0;
    size_t chunk = sched_dispatch_chunk (d);
    if (s->nheld + chunk > sched_dispatch_per_worker (d))
        return 0;
    if (chunk > max)
        chunk = max;
    if (s->first + s->nheld + chunk > s->cap && s->first) {
        memmove (s->held, s->held + s->first, s->nheld * sizeof (*s->held));
        s->first = 0;
    }
    if (s->nheld + chunk > s->cap) {
        size_t ncap = s->cap ? s->cap : 8;
        while (ncap < s->nheld + chunk)
            ncap *= 2;
        uint32_t *h = realloc (s->held, ncap * sizeof (*h));
        if (!h)
            return 0;
        s->held = h;
        s->cap = ncap;
    }
    size_t n = 0;
    uint32_t v;
    while (n < chunk && pop_front (d, &v)) {
        if (d->attempts[v] < UINT32_MAX)
            d->attempts[v]++;
        s->held[s->first + s->nheld++] = v;
        out[n++] = v;
    }
    d->held_total += n;
    return n;
}

static bool unhold (sched_dispatch_t *d, wslot_t *s, uint32_t datum)
{
    uint32_t *h = s->held + s->first;
    for (size_t i = 0; i < s->nheld; i++) {
        if (h[i] == datum) {
            memmove (h + 1, h, i * sizeof (*h));
            s->first++;
            if (!--s->nheld)
                s->first = 0;
            d->held_total--;
            return true;
        }
    }
    return false;
}

sched_verdict_t sched_dispatch_result (sched_dispatch_t *d, int w,
                                       uint32_t datum, sched_result_t res,
                                       double duration, double now)
{
    wslot_t *s = slot (d, w);
    if (!present (s) || datum >= d->o.ndatums || !unhold (d, s, datum))
        return SCHED_V_STALE;
    s->last_heard = now;
    if (res != SCHED_RES_RETURNED && duration >= 0)
        d->avg = d->avg > 0 ? 0.9 * d->avg + 0.1 * duration : duration;
    switch (res) {
    case SCHED_RES_DONE:
        d->final[datum] = 1;
        d->remaining--;
        return SCHED_V_FINISHED;
    case SCHED_RES_FAILED:
        if (d->attempts[datum] < d->o.datum_tries && !d->stopping
            && push_back (d, datum) == 0)
            return SCHED_V_RETRY;
        d->final[datum] = 1;
        d->remaining--;
        return SCHED_V_GAVE_UP;
    case SCHED_RES_RETURNED:
    default:
        if (d->attempts[datum] > 0)
            d->attempts[datum]--;
        if (push_front (d, datum) < 0) {
            /* No memory to queue it: the next run does it. */
            d->final[datum] = 1;
            d->remaining--;
        }
        return SCHED_V_REQUEUED;
    }
}

int sched_dispatch_worker_lost (sched_dispatch_t *d, int w,
                                uint32_t *gave_up, size_t *ngave_up)
{
    wslot_t *s = slot (d, w);
    size_t ng = 0;
    int requeued = 0;
    if (ngave_up)
        *ngave_up = 0;
    if (!present (s))
        return -1;
    if (s->state == SCHED_W_ACTIVE)
        d->active--;
    s->state = SCHED_W_LOST;
    /* Back to the front in the order held: the newest first. */
    for (size_t i = s->nheld; i-- > 0;) {
        uint32_t v = s->held[s->first + i];
        if (d->attempts[v] > 0)
            d->attempts[v]--;
        if (i == 0 && d->losses[v] < 255)
            d->losses[v]++;     /* the one it was running */
        if (i == 0 && d->losses[v] >= d->o.crash_limit) {
            d->final[v] = 1;
            d->remaining--;
            if (gave_up)
                gave_up[ng] = v;
            ng++;
            continue;
        }
        if (push_front (d, v) < 0) {
            d->final[v] = 1;
            d->remaining--;
            continue;
        }
        requeued++;
    }
    d->held_total -= s->nheld;
    s->nheld = s->first = 0;
    if (ngave_up)
        *ngave_up = ng;
    return requeued;
}

size_t sched_dispatch_tick (sched_dispatch_t *d, double now, int *lost)
{
    size_t n = 0;
    if (d->o.worker_timeout <= 0)
        return 0;
    /* A whole job suspended and resumed (scontrol suspend, SIGSTOP of
     * every rank) finds every worker silent for as long as it was stopped:
     * time we were not listening is not their silence. */
    double gap = d->last_tick > 0 ? now - d->last_tick : 0;
    d->last_tick = now;
    if (d->o.pause_gap > 0 && gap > d->o.pause_gap)
        for (int w = 1; w <= d->o.nworkers; w++)
            if (present (&d->ws[w]))
                d->ws[w].last_heard += gap;
    for (int w = 1; w <= d->o.nworkers; w++) {
        wslot_t *s = &d->ws[w];
        if (present (s) && now - s->last_heard > d->o.worker_timeout)
            lost[n++] = w;
    }
    return n;
}

void sched_dispatch_stop (sched_dispatch_t *d)
{
    d->stopping = true;
}

size_t sched_dispatch_remaining (const sched_dispatch_t *d)
{
    return d->remaining;
}

size_t sched_dispatch_queued (const sched_dispatch_t *d)
{
    return d->len;
}

uint32_t sched_dispatch_queue_at (const sched_dispatch_t *d, size_t i)
{
    return i < d->len ? d->ring[(d->head + i) % d->rcap] : UINT32_MAX;
}

size_t sched_dispatch_held (const sched_dispatch_t *d, int w)
{
    wslot_t *s = slot (d, w);
    return s ? s->nheld : 0;
}

const uint32_t *sched_dispatch_holding (const sched_dispatch_t *d, int w)
{
    wslot_t *s = slot (d, w);
    return s ? s->held + s->first : NULL;
}

size_t sched_dispatch_held_total (const sched_dispatch_t *d)
{
    return d->held_total;
}

int sched_dispatch_active (const sched_dispatch_t *d)
{
    return d->active;
}

sched_wstate_t sched_dispatch_state (const sched_dispatch_t *d, int w)
{
    wslot_t *s = slot (d, w);
    return s ? s->state : SCHED_W_ABSENT;
}

uint32_t sched_dispatch_attempts (const sched_dispatch_t *d, uint32_t datum)
{
    return datum < d->o.ndatums ? d->attempts[datum] : 0;
}

uint32_t sched_dispatch_losses (const sched_dispatch_t *d, uint32_t datum)
{
    return datum < d->o.ndatums ? d->losses[datum] : 0;
}

double sched_dispatch_last_heard (const sched_dispatch_t *d, int w)
{
    wslot_t *s = slot (d, w);
    return s ? s->last_heard : 0;
}
