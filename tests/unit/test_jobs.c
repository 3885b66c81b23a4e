/* test_jobs.c: unit tests for jobs/job.c: state names, human units, the
 * summary line that ends a run and the JSON object of `run --json`, which
 * is parsed back with jansson as a script would.
 */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <jansson.h>

#include "jobs/jobs.h"

static void test_state_names (void **state)
{
    assert_string_equal (jobs_state_name (JOBS_STATE_RUNNING), "running");
    assert_string_equal (jobs_state_name (JOBS_STATE_SUCCESS), "success");
    assert_string_equal (jobs_state_name (JOBS_STATE_FAILURE), "failure");
    assert_string_equal (jobs_state_name (JOBS_STATE_KILLED), "killed");
    assert_string_equal (jobs_datum_state_name (JOBS_DATUM_PENDING), "pending");
    assert_string_equal (jobs_datum_state_name (JOBS_DATUM_SUCCESS), "success");
    assert_string_equal (jobs_datum_state_name (JOBS_DATUM_FAILED), "failed");
    assert_string_equal (jobs_datum_state_name (JOBS_DATUM_RECOVERED),
                         "recovered");
    assert_string_equal (jobs_datum_state_name (JOBS_DATUM_SKIPPED), "skipped");
}

static void test_fmt_bytes (void **state)
{
    static const struct {
        uint64_t bytes;
        const char *want;
    } rows[] = {
        { 0, "0B" }, { 1, "1B" }, { 1023, "1023B" }, { 1024, "1.0KiB" },
        { 1234, "1.2KiB" }, { 1536, "1.5KiB" }, { 1048575, "1.0MiB" },
        { 1048576, "1.0MiB" }, { 3565158, "3.4MiB" },
        { 1610612736, "1.5GiB" }, { 1099511627776ULL, "1.0TiB" },
        { 1ULL << 60, "1048576.0TiB" },
    };
    char buf[32];

    for (size_t i = 0; i < sizeof (rows) / sizeof (rows[0]); i++) {
        jobs_fmt_bytes (rows[i].bytes, buf, sizeof (buf));
        assert_string_equal (buf, rows[i].want);
    }
    /* A short buffer truncates and stays terminated. */
    jobs_fmt_bytes (1234, buf, 4);
    assert_string_equal (buf, "1.2");
}

static void test_fmt_duration (void **state)
{
    static const struct {
        double s;
        const char *want;
    } rows[] = {
        { 0, "0ms" }, { 0.85, "850ms" }, { 0.9994, "999ms" },
        { 0.9996, "1.0s" }, { 1, "1.0s" }, { 10.2, "10.2s" },
        { 59.94, "59.9s" }, { 59.97, "1m0s" }, { 60, "1m0s" },
        { 185, "3m5s" }, { 3599.4, "59m59s" }, { 3599.6, "1h0m" },
        { 7380, "2h3m" }, { 90000, "25h0m" }, { -3, "0ms" }, { NAN, "0ms" },
    };
    char buf[32];

    for (size_t i = 0; i < sizeof (rows) / sizeof (rows[0]); i++) {
        jobs_fmt_duration (rows[i].s, buf, sizeof (buf));
        assert_string_equal (buf, rows[i].want);
    }
}

static jobs_record_t sample (void)
{
    jobs_record_t job = {
        .id = "54fbc366a1b2c3d4e5f60718293a4b5c",
        .pipeline = "wordcount",
        .state = JOBS_STATE_SUCCESS,
        .workers = 2,
        .nodes = 1,
        .processed = 3,
        .skipped = 2,
        .failed = 0,
        .recovered = 0,
        .total = 5,
        .bytes_downloaded = 0,
        .bytes_uploaded = 1234,
        .duration_s = 10.2,
    };
    return job;
}

static void test_summary_line (void **state)
{
    jobs_record_t job = sample ();
    char buf[256];

    jobs_summary_line (&job, buf, sizeof (buf));
    assert_string_equal (buf, "job 54fbc366 success: 3 processed + 2 skipped "
                              "/ 5 total, 0 failed, DL 0B, UL 1.2KiB, 10.2s");

    job.state = JOBS_STATE_FAILURE;
    job.failed = 2;
    job.recovered = 1;
    job.duration_s = 185;
    jobs_summary_line (&job, buf, sizeof (buf));
    assert_string_equal (buf, "job 54fbc366 failure: 3 processed + 2 skipped "
                              "/ 5 total, 2 failed, 1 recovered, DL 0B, "
                              "UL 1.2KiB, 3m5s");

    jobs_summary_line (&job, buf, 10);
    assert_string_equal (buf, "job 54fbc");
}

static void test_record_json (void **state)
{
    static const char *const order[] = {
        "job_id", "pipeline", "state", "workers", "nodes", "processed",
        "skipped", "failed", "recovered", "total", "bytes_downloaded",
        "bytes_uploaded", "duration_s",
    };
    jobs_record_t job = sample ();
    json_error_t jerr;
    json_t *o;
    void *it;
    char *s;
    size_t i;

    job.duration_s = 1.23449;
    job.state = JOBS_STATE_KILLED;
    job.recovered = 1;
    job.bytes_downloaded = 5000000000ULL;
    s = jobs_record_json (&job);
    assert_non_null (s);
    assert_null (strchr (s, '\n'));
    assert_null (strchr (s, ' '));
    assert_string_equal (s, "{\"job_id\":\"54fbc366a1b2c3d4e5f60718293a4b5c\","
                            "\"pipeline\":\"wordcount\",\"state\":\"killed\","
                            "\"workers\":2,\"nodes\":1,\"processed\":3,"
                            "\"skipped\":2,\"failed\":0,\"recovered\":1,"
                            "\"total\":5,\"bytes_downloaded\":5000000000,"
                            "\"bytes_uploaded\":1234,\"duration_s\":1.234}");

    /* Read back as a client would: same keys, same order, same values. */
    o = json_loads (s, 0, &jerr);
    assert_non_null (o);
    for (i = 0, it = json_object_iter (o); it;
         i++, it = json_object_iter_next (o, it)) {
        assert_true (i < sizeof (order) / sizeof (order[0]));
        assert_string_equal (json_object_iter_key (it), order[i]);
    }
    assert_int_equal (i, sizeof (order) / sizeof (order[0]));
    assert_string_equal (json_string_value (json_object_get (o, "job_id")),
                         job.id);
    assert_string_equal (json_string_value (json_object_get (o, "state")),
                         "killed");
    assert_int_equal (json_integer_value (json_object_get (o, "workers")), 2);
    assert_int_equal (json_integer_value (json_object_get (o, "total")), 5);
    assert_int_equal (json_integer_value (json_object_get (o, "bytes_downloaded")),
                      5000000000LL);
    assert_true (json_is_real (json_object_get (o, "duration_s")));
    assert_true (fabs (json_real_value (json_object_get (o, "duration_s"))
                       - 1.234) < 1e-9);
    json_decref (o);
    free (s);

    /* A whole number of seconds is still a JSON real; NaN becomes 0. */
    job.duration_s = NAN;
    s = jobs_record_json (&job);
    assert_non_null (s);
    o = json_loads (s, 0, &jerr);
    assert_non_null (o);
    assert_true (json_is_real (json_object_get (o, "duration_s")));
    assert_true (json_real_value (json_object_get (o, "duration_s")) == 0);
    json_decref (o);
    free (s);

    assert_null (jobs_record_json (NULL));
}

int main (void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test (test_state_names),
        cmocka_unit_test (test_fmt_bytes),
        cmocka_unit_test (test_fmt_duration),
        cmocka_unit_test (test_summary_line),
        cmocka_unit_test (test_record_json),
    };

    return cmocka_run_group_tests (tests, NULL, NULL);
}
