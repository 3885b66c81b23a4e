/* test_statedir.c: unit tests for jobs/statedir.c (the state folder's
 * layout) and jobs/error.c (messages that keep their reason however long
 * the path in them).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include <sys/stat.h>
#include <unistd.h>

#include "io/io.h"
#include "jobs/jobs.h"

static void check (char *got, const char *want)
{
    assert_non_null (got);
    assert_string_equal (got, want);
    free (got);
}

static void test_layout (void **state)
{
    const char *sd = "/s/.datumrun/p";
    check (jobs_sd_default ("/s", "p"), sd);
    check (jobs_sd_path (sd, JOBS_SD_MANIFEST), "/s/.datumrun/p/manifest.h5");
    check (jobs_sd_path (sd, JOBS_SD_MANIFEST_TMP),
           "/s/.datumrun/p/manifest.h5.tmp");
    check (jobs_sd_path (sd, JOBS_SD_JOURNAL), "/s/.datumrun/p/journal");
    check (jobs_sd_path (sd, JOBS_SD_LOCK), "/s/.datumrun/p/lock");
    check (jobs_sd_path (sd, JOBS_SD_LOGS), "/s/.datumrun/p/logs");
    check (jobs_sd_path (sd, JOBS_SD_SANDBOX), "/s/.datumrun/p/sandbox");
    check (jobs_sd_path (sd, JOBS_SD_INFLIGHT), "/s/.datumrun/p/inflight");
    check (jobs_sd_path (sd, JOBS_SD_SLURM), "/s/.datumrun/p/slurm");
    assert_null (jobs_sd_path (sd, (jobs_sd_entry_t)99));
    check (jobs_sd_job_logdir (sd, "j1"), "/s/.datumrun/p/logs/j1");
    check (jobs_sd_job_log (sd, "j1"), "/s/.datumrun/p/logs/j1/job.log");
    check (jobs_sd_datum_log (sd, "j1", "ab", "err"),
           "/s/.datumrun/p/logs/j1/ab.err");
    check (jobs_sd_rank_dir (sd, JOBS_SD_SANDBOX, 3),
           "/s/.datumrun/p/sandbox/3");
    check (jobs_sd_rank_dir (sd, JOBS_SD_INFLIGHT, 3),
           "/s/.datumrun/p/inflight/3");
    assert_null (jobs_sd_rank_dir (sd, JOBS_SD_LOGS, 3));
    check (jobs_sd_sandbox (sd, 2), "/s/.datumrun/p/sandbox/2/sb");
    check (jobs_sd_stdin_file (sd, 2, "err_stdin"),
           "/s/.datumrun/p/sandbox/2.err_stdin");
    check (jobs_sd_inflight_file (sd, 2, "ab"), "/s/.datumrun/p/inflight/2/ab");
}

/* A state folder longer than any fixed buffer gets whole paths. */
static void test_long_state_dir (void **state)
{
    size_t n = 10000;
    char *sd = malloc (n + 1);
    assert_non_null (sd);
    memset (sd, 'a', n);
    sd[0] = '/';
    sd[n] = '\0';
    char *p = jobs_sd_datum_log (sd, "job", "datum", "out");
    assert_non_null (p);
    assert_int_equal (strlen (p), n + strlen ("/logs/job/datum.out"));
    free (p);
    free (sd);
}

static void test_shorten (void **state)
{
    char buf[16];
    assert_int_equal (dr_shorten ("short", buf, sizeof (buf)), 5);
    assert_string_equal (buf, "short");
    assert_int_equal (dr_shorten ("0123456789abcdefghij", buf, sizeof (buf)),
                      15);
    assert_string_equal (buf, "012345...efghij");
    assert_int_equal (dr_shorten ("0123456789abcdef", buf, 4), 3);
    assert_string_equal (buf, "012");
}

/* The reason at the end of a long message survives; so does its start. */
static void test_errprintf_keeps_reason (void **state)
{
    size_t n = 5000;
    char *path = malloc (n + 1);
    assert_non_null (path);
    memset (path, 'x', n);
    path[0] = '/';
    path[n] = '\0';
    dr_error_t err;
    assert_int_equal (dr_errprintf (&err, "%s: File name too long", path), -1);
    assert_true (strlen (err.text) < sizeof (err.text));
    size_t len = strlen (err.text);
    const char *tail = ": File name too long";
    assert_true (len > strlen (tail));
    assert_string_equal (err.text + len - strlen (tail), tail);
    assert_non_null (strstr (err.text, "..."));
    assert_int_equal (err.text[0], '/');
    free (path);
}

/* Folders a run would create are checked before anything is written. */
static void test_check_dir_writable (void **state)
{
    char dir[] = "/tmp/test_statedir.XXXXXX";
    assert_non_null (mkdtemp (dir));
    char *file = jobs_pathf ("%s/file", dir);
    char *under_file = jobs_pathf ("%s/file/out", dir);
    char *fresh = jobs_pathf ("%s/a/b/c", dir);
    FILE *f = fopen (file, "w");
    assert_non_null (f);
    fclose (f);
    dr_error_t err;
    assert_int_equal (io_check_dir_writable (dir, "output folder", &err), 0);
    assert_int_equal (io_check_dir_writable (fresh, "output folder", &err), 0);
    struct stat st;
    assert_int_equal (stat (fresh, &st), -1);   /* nothing was created */
    assert_int_equal (io_check_dir_writable (file, "output folder", &err), -1);
    assert_non_null (strstr (err.text, "is not a directory (it is a regular "
                                       "file)"));
    assert_int_equal (io_check_dir_writable (under_file, "output folder",
                                             &err), -1);
    assert_non_null (strstr (err.text, "is not a directory"));
    assert_int_equal (io_check_dir_writable ("/proc/x/y", "output folder",
                                             &err), -1);
    assert_non_null (strstr (err.text, "kernel pseudo file system"));
    assert_int_equal (io_check_dir_writable ("/sys/kernel/zz", "state folder",
                                             &err), -1);
    unlink (file);
    rmdir (dir);
    free (file);
    free (under_file);
    free (fresh);
}

int main (void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test (test_layout),
        cmocka_unit_test (test_long_state_dir),
        cmocka_unit_test (test_shorten),
        cmocka_unit_test (test_errprintf_keeps_reason),
        cmocka_unit_test (test_check_dir_writable),
    };
    return cmocka_run_group_tests (tests, NULL, NULL);
}
