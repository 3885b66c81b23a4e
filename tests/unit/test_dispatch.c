/* test_dispatch.c: the dispatch policy (sched/dispatch.c) driven through
 * whole jobs, without MPI.  Each scenario is a table of events, each with
 * the state it must leave: every worker's holdings (oldest first), the
 * queue and the number of datums not yet final, rendered as
 *   "1:0,1 2:2,3 | q:4,5 | rem:6"
 * ("1:-" holds nothing, "3:lost" is lost, "4:absent" never joined,
 * "2:leaving:5" is leaving and still holds datum 5).
 * Events (what rank 0's loop does on each):
 *   join W            worker W joined (at time 0)
 *   fill              top up every worker, one assign() per chunk
 *   ok W D [SECS]     W finished datum D (then W is topped up)
 *   fail W D [SECS]   an attempt of D on W failed (then W is topped up)
 *   ret W D           W gave D back unstarted (then W is topped up)
 *   leave W           W is leaving (a signal told it alone to stop)
 *   lost W            W is lost (then every worker is topped up)
 *   heard W T         a message from W at time T
 *   tick T            the workers silent at time T are declared lost
 *   stop              the job is stopping
 * An event may end with "=VERDICT" (finished, retry, gave_up, requeued,
 * stale) or, for lost and tick, "=N" (datums given up, or workers lost).
 */
#define _GNU_SOURCE
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "sched/dispatch.h"

typedef struct step {
    const char *event;
    const char *expect;     /* NULL: not checked */
} step_t;

typedef struct scenario {
    const char *name;
    sched_dispatch_opts_t o;
    size_t npush;           /* datums 0..npush-1 queued at the start */
    step_t steps[48];
} scenario_t;

static void render (const sched_dispatch_t *d, int nworkers, char *out,
                    size_t len)
{
    size_t n = 0;
    out[0] = '\0';
    for (int w = 1; w <= nworkers; w++) {
        n += (size_t)snprintf (out + n, len - n, "%s%d:", w > 1 ? " " : "",
                               w);
        sched_wstate_t st = sched_dispatch_state (d, w);
        if (st == SCHED_W_LOST) {
            n += (size_t)snprintf (out + n, len - n, "lost");
            continue;
        }
        if (st == SCHED_W_LEAVING)
            n += (size_t)snprintf (out + n, len - n, "leaving:");
        if (st == SCHED_W_ABSENT) {
            n += (size_t)snprintf (out + n, len - n, "absent");
            continue;
        }
        size_t h = sched_dispatch_held (d, w);
        const uint32_t *v = sched_dispatch_holding (d, w);
        if (!h)
            n += (size_t)snprintf (out + n, len - n, "-");
        for (size_t i = 0; i < h; i++)
            n += (size_t)snprintf (out + n, len - n, "%s%u", i ? "," : "",
                                   v[i]);
    }
    n += (size_t)snprintf (out + n, len - n, " | q:");
    size_t q = sched_dispatch_queued (d);
    if (!q)
        n += (size_t)snprintf (out + n, len - n, "-");
    for (size_t i = 0; i < q && n < len - 16; i++)
        n += (size_t)snprintf (out + n, len - n, "%s%u", i ? "," : "",
                               sched_dispatch_queue_at (d, i));
    snprintf (out + n, len - n, " | rem:%zu", sched_dispatch_remaining (d));
}

static void fill_one (sched_dispatch_t *d, int w)
{
    uint32_t buf[64];
    while (sched_dispatch_assign (d, w, buf, 64) > 0)
        ;
}

static void fill_all (sched_dispatch_t *d, int nworkers)
{
    for (int w = 1; w <= nworkers; w++)
        fill_one (d, w);
}

static const char *verdict_name (sched_verdict_t v)
{
    switch (v) {
    case SCHED_V_STALE: return "stale";
    case SCHED_V_FINISHED: return "finished";
    case SCHED_V_RETRY: return "retry";
    case SCHED_V_GAVE_UP: return "gave_up";
    case SCHED_V_REQUEUED: return "requeued";
    }
    return "?";
}

static void run_scenario (const scenario_t *s)
{
    sched_dispatch_t *d = sched_dispatch_create (&s->o);
    assert_non_null (d);
    for (size_t i = 0; i < s->npush; i++)
        assert_int_equal (sched_dispatch_push (d, (uint32_t)i), 0);
    for (size_t i = 0; s->steps[i].event; i++) {
        const step_t *st = &s->steps[i];
        char ev[64], want[32] = "";
        int w = 0;
        unsigned datum = 0;
        double secs = 1.0;
        const char *eq = strchr (st->event, '=');
        snprintf (ev, sizeof (ev), "%.*s",
                  (int)(eq ? eq - st->event : (ptrdiff_t)strlen (st->event)),
                  st->event);
        if (eq)
            snprintf (want, sizeof (want), "%s", eq + 1);
        char got[32] = "";
        if (sscanf (ev, "join %d", &w) == 1)
            assert_int_equal (sched_dispatch_worker_joined (d, w, 0), 0);
        else if (!strncmp (ev, "fill", 4))
            fill_all (d, s->o.nworkers);
        else if (!strncmp (ev, "ok ", 3) || !strncmp (ev, "fail ", 5)
                 || !strncmp (ev, "ret ", 4)) {
            char kind[8];
            int k = sscanf (ev, "%7s %d %u %lf", kind, &w, &datum, &secs);
            assert_true (k >= 3);
            sched_result_t r = kind[0] == 'o'   ? SCHED_RES_DONE
                               : kind[0] == 'f' ? SCHED_RES_FAILED
                                                : SCHED_RES_RETURNED;
            sched_verdict_t v = sched_dispatch_result (d, w, datum, r, secs,
                                                       0);
            snprintf (got, sizeof (got), "%s", verdict_name (v));
            fill_one (d, w);
        }
        else if (sscanf (ev, "lost %d", &w) == 1) {
            uint32_t gave[64];
            size_t ng = 0;
            assert_true (sched_dispatch_held (d, w) <= 64);
            sched_dispatch_worker_lost (d, w, gave, &ng);
            snprintf (got, sizeof (got), "%zu", ng);
            fill_all (d, s->o.nworkers);
        }
        else if (sscanf (ev, "heard %d %lf", &w, &secs) == 2)
            sched_dispatch_heard (d, w, secs);
        else if (sscanf (ev, "tick %lf", &secs) == 1) {
            int lost[64];
            size_t n = sched_dispatch_tick (d, secs, lost);
            for (size_t j = 0; j < n; j++)
                sched_dispatch_worker_lost (d, lost[j], NULL, NULL);
            snprintf (got, sizeof (got), "%zu", n);
            fill_all (d, s->o.nworkers);
        }
        else if (sscanf (ev, "leave %d", &w) == 1)
            assert_int_equal (sched_dispatch_worker_leaving (d, w), 0);
        else if (!strcmp (ev, "stop"))
            sched_dispatch_stop (d);
        else
            fail_msg ("%s: bad event '%s'", s->name, st->event);
        if (want[0] && strcmp (want, got))
            fail_msg ("%s, step %zu (%s): got =%s", s->name, i + 1,
                      st->event, got);
        if (st->expect) {
            char state[512];
            render (d, s->o.nworkers, state, sizeof (state));
            if (strcmp (state, st->expect))
                fail_msg ("%s, step %zu (%s):\n  want %s\n  got  %s",
                          s->name, i + 1, st->event, st->expect, state);
        }
    }
    sched_dispatch_destroy (d);
}

#define OPTS(nd, nw, ch, gd, tries, crash, tmo)                              \
    { .ndatums = (nd), .nworkers = (nw), .chunk = (ch), .guided = (gd),     \
      .datum_tries = (tries), .crash_limit = (crash),                       \
      .worker_timeout = (tmo) }

static const scenario_t scenarios[] = {
    { "reserve: the running datum plus one, refilled on each result",
      OPTS (6, 2, 1, false, 3, 5, 0), 6, {
        { "join 1", "1:- 2:absent | q:0,1,2,3,4,5 | rem:6" },
        { "join 2", "1:- 2:- | q:0,1,2,3,4,5 | rem:6" },
        { "fill", "1:0,1 2:2,3 | q:4,5 | rem:6" },
        { "ok 1 0=finished", "1:1,4 2:2,3 | q:5 | rem:5" },
        { "ok 2 2", "1:1,4 2:3,5 | q:- | rem:4" },
        { "ok 2 3", "1:1,4 2:5 | q:- | rem:3" },
        { "ok 1 1", "1:4 2:5 | q:- | rem:2" },
        { "ok 1 4", "1:- 2:5 | q:- | rem:1" },
        { "ok 2 5", "1:- 2:- | q:- | rem:0" },
        { NULL, NULL } } },
    { "reserve: two in reserve once datums average under 50 ms",
      OPTS (8, 2, 1, false, 3, 5, 0), 8, {
        { "join 1", NULL },
        { "join 2", NULL },
        { "fill", "1:0,1 2:2,3 | q:4,5,6,7 | rem:8" },
        { "ok 1 0 0.01", "1:1,4,5 2:2,3 | q:6,7 | rem:7" },
        { "ok 2 2 0.01", "1:1,4,5 2:3,6,7 | q:- | rem:6" },
        { NULL, NULL } } },
    { "a worker lost holding three datums: they go first, in order",
      OPTS (9, 3, 1, false, 3, 5, 0), 9, {
        { "join 1", NULL },
        { "join 2", NULL },
        { "join 3", NULL },
        { "fill", "1:0,1 2:2,3 3:4,5 | q:6,7,8 | rem:9" },
        { "ok 1 0 0.01", "1:1,6,7 2:2,3 3:4,5 | q:8 | rem:8" },
        { "lost 1=0", "1:lost 2:2,3,1 3:4,5,6 | q:7,8 | rem:8" },
        { "ok 2 2 0.01", "1:lost 2:3,1,7 3:4,5,6 | q:8 | rem:7" },
        { "ok 3 4 0.01", "1:lost 2:3,1,7 3:5,6,8 | q:- | rem:6" },
        { "ok 2 3", "1:lost 2:1,7 3:5,6,8 | q:- | rem:5" },
        { "ok 2 1", NULL },
        { "ok 2 7", NULL },
        { "ok 3 5", NULL },
        { "ok 3 6", NULL },
        { "ok 3 8", "1:lost 2:- 3:- | q:- | rem:0" },
        { NULL, NULL } } },
    { "a late result from a lost worker is ignored",
      OPTS (4, 2, 1, false, 3, 5, 0), 4, {
        { "join 1", NULL },
        { "join 2", NULL },
        { "fill", "1:0,1 2:2,3 | q:- | rem:4" },
        { "lost 1", "1:lost 2:2,3 | q:0,1 | rem:4" },
        { "ok 1 0=stale", "1:lost 2:2,3 | q:0,1 | rem:4" },
        { "ok 2 2=finished", "1:lost 2:3,0 | q:1 | rem:3" },
        { NULL, NULL } } },
    { "every worker lost: nothing final, everything queued",
      OPTS (5, 2, 1, false, 3, 5, 0), 5, {
        { "join 1", NULL },
        { "join 2", NULL },
        { "fill", "1:0,1 2:2,3 | q:4 | rem:5" },
        { "ok 1 0", "1:1,4 2:2,3 | q:- | rem:4" },
        { "lost 2=0", "1:1,4 2:lost | q:2,3 | rem:4" },
        { "lost 1=0", "1:lost 2:lost | q:1,4,2,3 | rem:4" },
        { "fill", "1:lost 2:lost | q:1,4,2,3 | rem:4" },
        { NULL, NULL } } },
    { "a datum that fails on every worker: datum_tries attempts, then out",
      OPTS (5, 2, 1, false, 3, 5, 0), 5, {
        { "join 1", NULL },
        { "join 2", NULL },
        { "fill", "1:0,1 2:2,3 | q:4 | rem:5" },
        { "fail 1 0=retry", "1:1,4 2:2,3 | q:0 | rem:5" },
        { "ok 2 2", "1:1,4 2:3,0 | q:- | rem:4" },
        { "ok 2 3", "1:1,4 2:0 | q:- | rem:3" },
        { "fail 2 0=retry", "1:1,4 2:0 | q:- | rem:3" },
        { "ok 1 1", "1:4 2:0 | q:- | rem:2" },
        { "fail 2 0=gave_up", "1:4 2:- | q:- | rem:1" },
        { "ok 1 4", "1:- 2:- | q:- | rem:0" },
        { NULL, NULL } } },
    { "a flapping worker: the datum it dies on reaches the crash limit",
      OPTS (3, 2, 1, false, 3, 2, 0), 3, {
        { "join 1", NULL },
        { "fill", "1:0,1 2:absent | q:2 | rem:3" },
        { "lost 1=0", "1:lost 2:absent | q:0,1,2 | rem:3" },
        { "join 1", "1:- 2:absent | q:0,1,2 | rem:3" },
        { "fill", "1:0,1 2:absent | q:2 | rem:3" },
        { "lost 1=1", "1:lost 2:absent | q:1,2 | rem:2" },
        { "join 2", NULL },
        { "fill", "1:lost 2:1,2 | q:- | rem:2" },
        { "ok 2 1", NULL },
        { "ok 2 2", "1:lost 2:- | q:- | rem:0" },
        { NULL, NULL } } },
    { "a datum a lost worker held in reserve is not counted as a crash",
      OPTS (3, 2, 1, false, 3, 2, 0), 3, {
        { "join 1", NULL },
        { "fill", "1:0,1 2:absent | q:2 | rem:3" },
        /* 1 was waiting, not running: only 0 has a crash */
        { "lost 1=0", "1:lost 2:absent | q:0,1,2 | rem:3" },
        { "join 2", NULL },
        { "fill", "1:lost 2:0,1 | q:2 | rem:3" },
        { "ok 2 0", "1:lost 2:1,2 | q:- | rem:2" },
        /* 1's first crash as the running datum: under crash_limit 2 */
        { "lost 2=0", "1:lost 2:lost | q:1,2 | rem:2" },
        { NULL, NULL } } },
    { "losses do not use up datum_tries",
      OPTS (1, 2, 1, false, 1, 5, 0), 1, {
        { "join 1", NULL },
        { "join 2", NULL },
        { "fill", "1:0 2:- | q:- | rem:1" },
        { "lost 1=0", "1:lost 2:0 | q:- | rem:1" },
        { "ok 2 0=finished", "1:lost 2:- | q:- | rem:0" },
        { NULL, NULL } } },
    { "a loss gives the attempt back: a failure after it is still retried",
      OPTS (1, 2, 1, false, 2, 5, 0), 1, {
        { "join 1", NULL },
        { "join 2", NULL },
        { "fill", "1:0 2:- | q:- | rem:1" },
        { "lost 1=0", "1:lost 2:0 | q:- | rem:1" },
        { "fail 2 0=retry", "1:lost 2:0 | q:- | rem:1" },
        { "fail 2 0=gave_up", "1:lost 2:- | q:- | rem:0" },
        { NULL, NULL } } },
    { "a returned datum gives its attempt back: a failure after it is retried",
      OPTS (2, 1, 1, false, 2, 5, 0), 2, {
        { "join 1", NULL },
        { "fill", "1:0,1 | q:- | rem:2" },
        { "ret 1 1=requeued", "1:0,1 | q:- | rem:2" },
        { "fail 1 1=retry", "1:0,1 | q:- | rem:2" },
        { "fail 1 1=gave_up", "1:0 | q:- | rem:1" },
        { NULL, NULL } } },
    { "silence: tick declares a worker lost after worker_timeout",
      OPTS (4, 2, 1, false, 3, 5, 10), 4, {
        { "join 1", NULL },
        { "join 2", NULL },
        { "fill", "1:0,1 2:2,3 | q:- | rem:4" },
        { "heard 1 8", NULL },
        { "tick 9=0", "1:0,1 2:2,3 | q:- | rem:4" },
        { "tick 10.5=1", "1:0,1 2:lost | q:2,3 | rem:4" },
        { "tick 17.9=0", NULL },
        { "tick 18.1=1", "1:lost 2:lost | q:0,1,2,3 | rem:4" },
        { NULL, NULL } } },
    { "silence: a gap between ticks (we were stopped) is not the workers' silence",
      { .ndatums = 4, .nworkers = 2, .chunk = 1, .datum_tries = 3,
        .crash_limit = 5, .worker_timeout = 10, .pause_gap = 2 }, 4, {
        { "join 1", NULL },
        { "join 2", NULL },
        { "fill", "1:0,1 2:2,3 | q:- | rem:4" },
        { "heard 1 8", NULL },
        { "tick 9=0", NULL },
        /* suspended from 9 to 39: 30 s not listening */
        { "tick 39=0", "1:0,1 2:2,3 | q:- | rem:4" },
        { "tick 39.25=0", NULL },
        /* counted again from here: worker 2 was last heard at 0 + 30 */
        { "tick 40.1=1", "1:0,1 2:lost | q:2,3 | rem:4" },
        { NULL, NULL } } },
    { "stopping: returned datums stay queued, nothing is assigned",
      OPTS (5, 2, 1, false, 3, 5, 0), 5, {
        { "join 1", NULL },
        { "join 2", NULL },
        { "fill", "1:0,1 2:2,3 | q:4 | rem:5" },
        { "stop", NULL },
        { "ret 1 1=requeued", "1:0 2:2,3 | q:1,4 | rem:5" },
        { "ok 1 0", "1:- 2:2,3 | q:1,4 | rem:4" },
        { "fail 2 2=gave_up", "1:- 2:3 | q:1,4 | rem:3" },
        { "ret 2 3", "1:- 2:- | q:3,1,4 | rem:3" },
        { NULL, NULL } } },
    { "a worker told alone to stop leaves; its datums go to the others",
      OPTS (5, 2, 1, false, 3, 5, 10), 5, {
        { "join 1", NULL },
        { "join 2", NULL },
        { "fill", "1:0,1 2:2,3 | q:4 | rem:5" },
        { "leave 1", "1:leaving:0,1 2:2,3 | q:4 | rem:5" },
        /* no livelock: what it gives back is not sent to it again */
        { "ret 1 1=requeued", "1:leaving:0 2:2,3 | q:1,4 | rem:5" },
        { "ret 1 0=requeued", "1:leaving:- 2:2,3 | q:0,1,4 | rem:5" },
        { "fill", "1:leaving:- 2:2,3 | q:0,1,4 | rem:5" },
        { "ok 2 2", "1:leaving:- 2:3,0 | q:1,4 | rem:4" },
        /* a leaving worker's silence still counts */
        { "heard 2 5", NULL },
        { "tick 11=1", "1:lost 2:3,0 | q:1,4 | rem:4" },
        { NULL, NULL } } },
    { "chunks: whole chunks, one message each",
      OPTS (10, 2, 3, false, 3, 5, 0), 10, {
        { "join 1", NULL },
        { "join 2", NULL },
        { "fill", "1:0,1,2,3,4,5 2:6,7,8,9 | q:- | rem:10" },
        { NULL, NULL } } },
    { "guided chunks shrink toward the end of the queue",
      OPTS (40, 2, 8, true, 3, 5, 0), 40, {
        { "join 1", NULL },
        { "join 2", NULL },
        /* ceil(40/6) = 7 to worker 1 (then 7 + 6 > 2 x 6: enough), then
         * ceil(33/6) = 6 to worker 2 (6 + 5 > 2 x 5). */
        { "fill", "1:0,1,2,3,4,5,6 2:7,8,9,10,11,12 | q:13,14,15,16,17,18,19,20,21,22,23,24,25,26,27,28,29,30,31,32,33,34,35,36,37,38,39 | rem:40" },
        { NULL, NULL } } },
};

static void test_scenarios (void **state)
{
    (void)state;
    for (size_t i = 0; i < sizeof (scenarios) / sizeof (scenarios[0]); i++)
        run_scenario (&scenarios[i]);
}

/* Guided chunks: sizes never grow, end at 1, and every datum goes out
 * exactly once. */
static void test_guided_sizes (void **state)
{
    (void)state;
    sched_dispatch_opts_t o = OPTS (1000, 4, 50, true, 3, 5, 0);
    sched_dispatch_t *d = sched_dispatch_create (&o);
    assert_non_null (d);
    for (uint32_t i = 0; i < 1000; i++)
        sched_dispatch_push (d, i);
    for (int w = 1; w <= 4; w++)
        sched_dispatch_worker_joined (d, w, 0);
    unsigned char *seen = calloc (1000, 1);
    size_t last = 50, n, total = 0;
    uint32_t buf[64];
    int w = 1;
    while (sched_dispatch_remaining (d) > 0) {
        /* Worker w finishes what it holds, then takes one chunk. */
        while (sched_dispatch_held (d, w)) {
            uint32_t v = sched_dispatch_holding (d, w)[0];
            assert_int_equal (sched_dispatch_result (d, w, v, SCHED_RES_DONE,
                                                     1.0, 0),
                              SCHED_V_FINISHED);
        }
        if ((n = sched_dispatch_assign (d, w, buf, 64)) > 0) {
            assert_true (n <= last);
            last = n;
            for (size_t i = 0; i < n; i++) {
                assert_int_equal (seen[buf[i]], 0);
                seen[buf[i]] = 1;
            }
            total += n;
        }
        w = w % 4 + 1;
    }
    assert_int_equal (total, 1000);
    assert_int_equal (last, 1);
    free (seen);
    sched_dispatch_destroy (d);
}

/* A dispatcher of nd datums queued and nw workers joined. */
static sched_dispatch_t *queued (size_t nd, int nw)
{
    sched_dispatch_opts_t o = OPTS (nd, nw, 1, false, 3, 5, 0);
    sched_dispatch_t *d = sched_dispatch_create (&o);
    assert_non_null (d);
    for (uint32_t i = 0; i < nd; i++)
        sched_dispatch_push (d, i);
    for (int w = 1; w <= nw; w++)
        sched_dispatch_worker_joined (d, w, 0);
    return d;
}

/* Worker w takes what it may, then finishes its oldest datum in secs,
 * k times: the average behind the reserve becomes secs. */
static void take_and_finish (sched_dispatch_t *d, int w, int k, double secs)
{
    uint32_t buf[64];
    for (int i = 0; i < k; i++) {
        while (sched_dispatch_assign (d, w, buf, 64) > 0)
            ;
        uint32_t v = sched_dispatch_holding (d, w)[0];
        assert_int_equal (sched_dispatch_result (d, w, v, SCHED_RES_DONE,
                                                 secs, 0),
                          SCHED_V_FINISHED);
    }
}

/* The reserve: one chunk ahead for long datums; for short ones two
 * chunks and at least 20 ms of work at the average duration, so that a
 * worker never runs dry while rank 0's reply is on its way. */
static void test_reserve_by_time (void **state)
{
    (void)state;
    static const struct {
        double avg;        /* every result's duration */
        size_t chunk;
        size_t per_worker;
    } cases[] = {
        { 1.0, 1, 2 },     /* long: the running chunk plus one */
        { 0.04, 1, 3 },    /* short: two chunks ahead (more than 20 ms) */
        { 0.005, 1, 5 },   /* 5 ms: four ahead make 20 ms */
        { 0.002, 1, 11 },  /* 2 ms: ten ahead */
    };
    for (size_t c = 0; c < sizeof (cases) / sizeof (cases[0]); c++) {
        sched_dispatch_t *d = queued (100, 1);
        uint32_t buf[64];
        /* a few results of that duration set the average */
        take_and_finish (d, 1, 3, cases[c].avg);
        assert_int_equal (sched_dispatch_chunk (d), cases[c].chunk);
        assert_int_equal (sched_dispatch_per_worker (d), cases[c].per_worker);
        while (sched_dispatch_assign (d, 1, buf, 64) > 0)
            ;
        assert_int_equal (sched_dispatch_held (d, 1), cases[c].per_worker);
        sched_dispatch_destroy (d);
    }
    /* ... but no more than a guided share of the queue: 4 quick datums
     * done, 4 slow ones left for 2 workers, each gets two (the running
     * one and one ahead), not one worker all four. */
    sched_dispatch_t *d = queued (8, 2);
    uint32_t buf[64];
    take_and_finish (d, 1, 4, 0.002);
    while (sched_dispatch_assign (d, 1, buf, 64) > 0)
        ;
    while (sched_dispatch_assign (d, 2, buf, 64) > 0)
        ;
    assert_true (sched_dispatch_held (d, 1) <= 3);
    assert_true (sched_dispatch_held (d, 2) >= 1);
    assert_int_equal (sched_dispatch_held (d, 1) + sched_dispatch_held (d, 2), 4);
    sched_dispatch_destroy (d);
}

/* datum_tries beyond 255 (the old 8-bit counter) still ends. */
static void test_many_tries (void **state)
{
    (void)state;
    sched_dispatch_opts_t o = OPTS (1, 1, 1, false, 300, 5, 0);
    sched_dispatch_t *d = sched_dispatch_create (&o);
    uint32_t v;
    sched_dispatch_push (d, 0);
    sched_dispatch_worker_joined (d, 1, 0);
    for (uint32_t a = 1; a <= 300; a++) {
        assert_int_equal (sched_dispatch_assign (d, 1, &v, 1), 1);
        assert_int_equal (sched_dispatch_attempts (d, 0), a);
        assert_int_equal (sched_dispatch_result (d, 1, 0, SCHED_RES_FAILED,
                                                 1.0, 0),
                          a < 300 ? SCHED_V_RETRY : SCHED_V_GAVE_UP);
    }
    assert_int_equal (sched_dispatch_remaining (d), 0);
    sched_dispatch_destroy (d);
}

static void test_bad_input (void **state)
{
    (void)state;
    sched_dispatch_opts_t o = OPTS (2, 1, 1, false, 3, 5, 0);
    sched_dispatch_t *d = sched_dispatch_create (&o);
    assert_int_equal (sched_dispatch_push (d, 2), -1);
    assert_int_equal (sched_dispatch_worker_joined (d, 0, 0), -1);
    assert_int_equal (sched_dispatch_worker_joined (d, 2, 0), -1);
    assert_int_equal (sched_dispatch_worker_lost (d, 1, NULL, NULL), -1);
    assert_int_equal (sched_dispatch_result (d, 1, 0, SCHED_RES_DONE, 1, 0),
                      SCHED_V_STALE);
    sched_dispatch_destroy (d);
    sched_dispatch_destroy (NULL);
}

int main (void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test (test_scenarios),
        cmocka_unit_test (test_guided_sizes),
        cmocka_unit_test (test_reserve_by_time),
        cmocka_unit_test (test_many_tries),
        cmocka_unit_test (test_bad_input),
    };
    return cmocka_run_group_tests (tests, NULL, NULL);
}
