/* test_proto.c: the wire protocol's messages (runner/proto.c) survive a
 * round trip, and a truncated or lying message is refused, not read past
 * its end.  Packing only: the MPI side is exercised by the integration
 * tests under a real mpirun.
 */
#define _GNU_SOURCE
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "runner/proto.h"
#include "seeds.h"

/* A plan of two datums by hand: d0 = (in0:a/b.txt), d1 = (in0:c, in1:dir/)
 * with a join key and a group key. */
static char pool[] = "a/b.txt\0c\0dir\0key1\0grp\0";
static sched_entry_t entries[] = {
    { .input = 0, .path = 0 },
    { .input = 0, .path = 8 },
    { .input = 1, .path = 10, .is_dir = 1 },
};
static uint32_t ents[] = { 0, 1, 2 };
static sched_datum_t datums[2];
static sched_dkeys_t dkeys[2] = {
    { UINT64_MAX, UINT64_MAX, UINT64_MAX },
    { 14, 14, 19 },
};

static sched_plan_t make_plan (void)
{
    sched_plan_t p = { 0 };
    memset (datums, 0, sizeof (datums));
    datums[0] = (sched_datum_t){ .first = 0, .nentries = 1 };
    memset (datums[0].id.b, 0xab, 16);
    datums[1] = (sched_datum_t){ .first = 1, .nentries = 2 };
    memset (datums[1].id.b, 0x5c, 16);
    p.pool = pool;
    p.entries = entries;
    p.nentries = 3;
    p.ents = ents;
    p.nents = 3;
    p.datums = datums;
    p.dkeys = dkeys;
    p.ndatums = 2;
    return p;
}

/* A packed message as a seed for tests/fuzz/fuzz_proto.c: its kind byte
 * (0 ASSIGN, 1 RESULT, 2 STOP), then the body. */
static void seed_msg (int kind, size_t n, const buf_t *b)
{
    uint8_t *s = malloc (b->len + 1);
    assert_non_null (s);
    s[0] = (uint8_t)kind;
    memcpy (s + 1, b->data, b->len);
    seed_write ("proto", kind ? "result" : "assign", n, s, b->len + 1);
    free (s);
}

static void test_assign_roundtrip (void **state)
{
    (void)state;
    sched_plan_t p = make_plan ();
    buf_t b = { 0 };
    proto_assign_begin (&b, "0123456789abcdef0123456789abcdef");
    proto_assign_add (&b, &p, 1, 7);
    proto_assign_add (&b, &p, 0, 300);  /* beyond the old 8-bit counter */
    proto_assign_end (&b);
    seed_msg (0, 0, &b);

    char job[33];
    wdatum_t *v;
    size_t n;
    assert_int_equal (proto_assign_unpack (&b, job, &v, &n), 0);
    assert_string_equal (job, "0123456789abcdef0123456789abcdef");
    assert_int_equal (n, 2);
    assert_int_equal (v[0].didx, 1);
    assert_int_equal (v[0].attempt, 7);
    assert_memory_equal (v[0].id.b, datums[1].id.b, 16);
    assert_int_equal (v[0].nentries, 2);
    assert_int_equal (v[0].input[0], 0);
    assert_string_equal (v[0].path[0], "c");
    assert_int_equal (v[0].input[1], 1);
    assert_string_equal (v[0].path[1], "dir");
    assert_string_equal (v[0].join_key, "key1");
    assert_string_equal (v[0].group_key, "grp");
    assert_int_equal (v[1].didx, 0);
    assert_int_equal (v[1].attempt, 300);
    assert_int_equal (v[1].nentries, 1);
    assert_string_equal (v[1].path[0], "a/b.txt");
    assert_string_equal (v[1].join_key, "");
    assert_string_equal (v[1].group_key, "");
    for (size_t i = 0; i < n; i++)
        wdatum_free (&v[i]);
    free (v);

    /* Every truncation is refused, with nothing left allocated. */
    for (size_t cut = 0; cut < b.len; cut++) {
        buf_t t = { .data = b.data, .len = cut, .cap = b.cap };
        assert_int_equal (proto_assign_unpack (&t, job, &v, &n), -1);
        assert_null (v);
        assert_int_equal (n, 0);
    }
    /* A count that lies about what follows. */
    uint32_t big = 1u << 30;
    memcpy (b.data + 36, &big, sizeof (big));
    b.pos = 0;
    b.bad = false;
    assert_int_equal (proto_assign_unpack (&b, job, &v, &n), -1);
    buf_free (&b);
}

static void test_result_roundtrip (void **state)
{
    (void)state;
    char *paths[] = { "x/1", "y" };
    wresult_t r = {
        .didx = 42, .attempt = 70000, .outcome = OUT_INTERRUPTED,
        .exit_status = -1, .term_signal = 15, .start_ns = 1234567890123LL,
        .duration_s = 2.5, .bytes_out = 1ull << 40,
        .outs = { .paths = paths, .n = 2 }, .message = "timed out",
    };
    buf_t b = { 0 };
    proto_result_pack (&r, &b);
    seed_msg (1, 0, &b);
    wresult_t g;
    assert_int_equal (proto_result_unpack (&b, &g), 0);
    assert_int_equal (g.didx, 42);
    assert_int_equal (g.attempt, 70000);
    assert_int_equal (g.outcome, OUT_INTERRUPTED);
    assert_int_equal (g.exit_status, -1);
    assert_int_equal (g.term_signal, 15);
    assert_int_equal (g.start_ns, 1234567890123LL);
    assert_true (g.duration_s == 2.5);
    assert_int_equal (g.bytes_out, 1ull << 40);
    assert_int_equal (g.outs.n, 2);
    assert_string_equal (g.outs.paths[0], "x/1");
    assert_string_equal (g.outs.paths[1], "y");
    assert_string_equal (g.message, "timed out");
    wresult_free (&g);

    for (size_t cut = 0; cut < b.len; cut++) {
        buf_t t = { .data = b.data, .len = cut, .cap = b.cap };
        assert_int_equal (proto_result_unpack (&t, &g), -1);
        wresult_free (&g);
    }
    /* An outcome from a newer protocol is refused. */
    uint32_t oc = 99;
    memcpy (b.data + 8, &oc, sizeof (oc));
    b.pos = 0;
    assert_int_equal (proto_result_unpack (&b, &g), -1);
    wresult_free (&g);
    buf_free (&b);

    /* No message, no outputs. */
    wresult_t e = { .didx = 1, .attempt = 1, .outcome = OUT_SUCCESS };
    proto_result_pack (&e, &b);
    seed_msg (1, 1, &b);
    assert_int_equal (proto_result_unpack (&b, &g), 0);
    assert_null (g.message);
    assert_int_equal (g.outs.n, 0);
    wresult_free (&g);
    buf_free (&b);
}

static void test_stop_and_buf (void **state)
{
    (void)state;
    buf_t b = { 0 };
    proto_stop_pack (&b, PROTO_STOP_ABANDON);
    assert_int_equal (proto_stop_unpack (&b), PROTO_STOP_ABANDON);
    buf_free (&b);
    /* An empty STOP (an older sender) means no flags. */
    assert_int_equal (proto_stop_unpack (&b), 0);
    buf_free (&b);

    buf_put_u32 (&b, 7);
    buf_put_u64 (&b, 1ull << 50);
    buf_put_f64 (&b, -0.25);
    buf_put_str (&b, "héllo");
    buf_put_str (&b, NULL);
    assert_int_equal (buf_get_u32 (&b), 7);
    assert_int_equal (buf_get_u64 (&b), 1ull << 50);
    assert_true (buf_get_f64 (&b) == -0.25);
    char *s = buf_get_str (&b);
    assert_string_equal (s, "héllo");
    free (s);
    s = buf_get_str (&b);
    assert_string_equal (s, "");
    free (s);
    assert_false (b.bad);
    assert_int_equal (buf_get_u32 (&b), 0);
    assert_true (b.bad);
    buf_free (&b);
}

int main (void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test (test_assign_roundtrip),
        cmocka_unit_test (test_result_roundtrip),
        cmocka_unit_test (test_stop_and_buf),
    };
    return cmocka_run_group_tests (tests, NULL, NULL);
}
