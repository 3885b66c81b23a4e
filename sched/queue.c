/* queue.c: the rank-0 dispatch queue, a growable ring of datum indices.
 * Retries are pushed to the back so that one flaky datum does not hold up
 * the others. */
#include <errno.h>
#include <stdlib.h>

#include "sched/sched.h"

struct sched_queue {
    uint32_t *ring;
    size_t cap, head, len;
};

sched_queue_t *sched_queue_create (size_t capacity)
{
    sched_queue_t *q = calloc (1, sizeof (*q));
    if (!q)
        return NULL;
    q->cap = capacity < 16 ? 16 : capacity;
    if (!(q->ring = malloc (q->cap * sizeof (*q->ring)))) {
        free (q);
        return NULL;
    }
    return q;
}

void sched_queue_destroy (sched_queue_t *q)
{
    int saved = errno;
    if (q) {
        free (q->ring);
        free (q);
    }
    errno = saved;
}

int sched_queue_push (sched_queue_t *q, uint32_t datum)
{
    if (q->len == q->cap) {
        size_t ncap = q->cap * 2;
        uint32_t *n = malloc (ncap * sizeof (*n));
        if (!n)
            return -1;
        for (size_t i = 0; i < q->len; i++)
            n[i] = q->ring[(q->head + i) % q->cap];
        free (q->ring);
        q->ring = n;
        q->cap = ncap;
        q->head = 0;
    }
    q->ring[(q->head + q->len) % q->cap] = datum;
    q->len++;
    return 0;
}

int sched_queue_pop (sched_queue_t *q, uint32_t *datum)
{
    if (q->len == 0)
        return -1;
    *datum = q->ring[q->head];
    q->head = (q->head + 1) % q->cap;
    q->len--;
    return 0;
}

size_t sched_queue_len (const sched_queue_t *q)
{
    return q->len;
}
