/* dispatch.h: rank 0's dispatch policy as a pure state machine, with no
 * MPI and no clock of its own: the coordinator feeds it events (a worker
 * joined, a result, a worker lost, time passing) and asks it what to send
 * whom.  It owns the queue of datums to process, what each worker holds,
 * the reserves, the chunking, the attempt counts and both retry limits.
 *
 * Policy:
 * - A worker holds the datum it runs plus a reserve, so that it never
 *   waits on rank 0 between datums: one chunk in reserve; while datums
 *   average under 50 ms, two chunks and at least 20 ms of work at the
 *   average duration (rank 0's reply could otherwise come too late).
 * - Chunks are chunk_spec.number datums (with chunk_seconds, as many as
 *   make that much work at the average duration, up to that number); with
 *   `guided`, they shrink toward
 *   the end of the queue (guided self-scheduling: ceil(queued / (3 x
 *   workers)), at least 1, at most the chunk size), so that big chunks
 *   amortize messages early and the last datums still balance.
 * - A failed attempt is retried (at the back of the queue) until it has
 *   had datum_tries attempts.  Datums a lost worker held go back to the
 *   front of the queue without using up an attempt; the one it was running
 *   (the oldest it held) counts a loss, and a datum lost crash_limit times
 *   fails: it is taken to kill the workers it lands on.
 * - A worker silent for worker_timeout is reported by tick(); the caller
 *   decides to declare it lost (and says why).
 */
#ifndef DATUMRUN_SCHED_DISPATCH_H
#define DATUMRUN_SCHED_DISPATCH_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define SCHED_CRASH_LIMIT_DEFAULT 5

typedef struct sched_dispatch sched_dispatch_t;

typedef struct sched_dispatch_opts {
    size_t ndatums;          /* datum indices are < ndatums */
    int nworkers;            /* worker slots are 1..nworkers (0: rank 0) */
    uint32_t chunk;          /* datums per chunk, >= 1 */
    bool guided;             /* chunks shrink toward the end of the queue */
    double chunk_seconds;    /* > 0: a chunk holds about this much work at
                              * the average duration (at most `chunk`; 1
                              * until a duration is known): batched datums
                              * of microseconds go by the thousand, datums
                              * of seconds one by one */
    uint32_t datum_tries;    /* attempts before a datum fails, >= 1 */
    uint32_t crash_limit;    /* losses before a datum fails, >= 1 */
    double worker_timeout;   /* seconds of silence before tick() reports a
                              * worker; 0 = never */
    double pause_gap;        /* > 0: ticks this far apart mean we were not
                              * listening (rank 0 stopped or suspended with
                              * its job, or busy): the gap does not count
                              * as the workers' silence (measured from
                              * the previous tick: tick once at the start);
                              * 0 = off */
} sched_dispatch_opts_t;

typedef enum sched_wstate {
    SCHED_W_ABSENT = 0,      /* not joined (yet) */
    SCHED_W_ACTIVE,
    SCHED_W_LEAVING,         /* asked to leave: gets nothing new, reports
                              * what it holds */
    SCHED_W_LOST,
} sched_wstate_t;

/* What a worker reports about one datum it held. */
typedef enum sched_result {
    SCHED_RES_DONE,          /* finished for good: success, recovered, ... */
    SCHED_RES_FAILED,        /* a failed attempt */
    SCHED_RES_RETURNED,      /* not run to its end: never started, or cut
                              * short by a stop; no attempt used */
} sched_result_t;

/* What the dispatcher made of it. */
typedef enum sched_verdict {
    SCHED_V_STALE = -1,      /* the worker does not hold it: ignore it */
    SCHED_V_FINISHED,        /* record it as reported */
    SCHED_V_RETRY,           /* failed; queued again for another attempt */
    SCHED_V_GAVE_UP,         /* failed its last attempt: record it failed */
    SCHED_V_REQUEUED,        /* returned; at the front of the queue */
} sched_verdict_t;

/* Returns NULL with errno (EINVAL, ENOMEM).  Free with
 * sched_dispatch_destroy (accepts NULL, keeps errno). */
sched_dispatch_t *sched_dispatch_create (const sched_dispatch_opts_t *o);
void sched_dispatch_destroy (sched_dispatch_t *d);

/* Queue a datum to process (at the back).  -1 with errno on a bad index
 * or no memory. */
int sched_dispatch_push (sched_dispatch_t *d, uint32_t datum);

/* Events. */
int sched_dispatch_worker_joined (sched_dispatch_t *d, int w, double now);
/* Any message from w: it is alive. */
void sched_dispatch_heard (sched_dispatch_t *d, int w, double now);

/* The next message to send w: up to max datums written to out (max >= the
 * chunk size), now held by w with their attempt counted.  Returns the
 * count; 0 when w has enough, is not active, the queue is empty or the
 * job is stopping.  Call until it returns 0. */
size_t sched_dispatch_assign (sched_dispatch_t *d, int w, uint32_t *out,
                              size_t max);

/* w reports datum: its holding ends; `duration` (seconds, < 0 unknown)
 * feeds the average behind the reserve. */
sched_verdict_t sched_dispatch_result (sched_dispatch_t *d, int w,
                                       uint32_t datum, sched_result_t res,
                                       double duration, double now);

/* w is leaving (it was told to stop on its own, say by a signal): it gets
 * nothing more, what it holds it still reports.  -1 if it was not active. */
int sched_dispatch_worker_leaving (sched_dispatch_t *d, int w);

/* w is lost: it stops getting work and its datums go back to the front of
 * the queue, in the order it held them.  Datums that reached the crash
 * limit are not queued but written to gave_up (room for
 * sched_dispatch_held(d, w) entries; may be NULL when that is 0), their
 * count in *ngave_up.  Returns the number requeued, -1 if w was not
 * active. */
int sched_dispatch_worker_lost (sched_dispatch_t *d, int w,
                                uint32_t *gave_up, size_t *ngave_up);

/* Workers silent for more than worker_timeout at `now`, written to lost
 * (room for nworkers); returns their count.  Nothing changes: the caller
 * declares them lost. */
size_t sched_dispatch_tick (sched_dispatch_t *d, double now, int *lost);

/* The job is stopping: nothing more is assigned; returned datums stay
 * queued (the next run does them). */
void sched_dispatch_stop (sched_dispatch_t *d);

/* Queries. */
size_t sched_dispatch_remaining (const sched_dispatch_t *d); /* not final */
size_t sched_dispatch_queued (const sched_dispatch_t *d);
/* The i-th queued datum (i < queued), front first. */
uint32_t sched_dispatch_queue_at (const sched_dispatch_t *d, size_t i);
size_t sched_dispatch_held (const sched_dispatch_t *d, int w);
/* w's holdings, oldest first (valid until the next event). */
const uint32_t *sched_dispatch_holding (const sched_dispatch_t *d, int w);
size_t sched_dispatch_held_total (const sched_dispatch_t *d);
int sched_dispatch_active (const sched_dispatch_t *d);  /* active workers */
sched_wstate_t sched_dispatch_state (const sched_dispatch_t *d, int w);
/* Attempts counted for a datum (the one running included). */
uint32_t sched_dispatch_attempts (const sched_dispatch_t *d, uint32_t datum);
uint32_t sched_dispatch_losses (const sched_dispatch_t *d, uint32_t datum);
/* The size of the next chunk. */
size_t sched_dispatch_chunk (const sched_dispatch_t *d);
/* How many datums a worker is topped up to. */
size_t sched_dispatch_per_worker (const sched_dispatch_t *d);
double sched_dispatch_last_heard (const sched_dispatch_t *d, int w);

#endif /* DATUMRUN_SCHED_DISPATCH_H */
