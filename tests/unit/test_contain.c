/* test_contain.c: io/contain.c, the helpers that keep every removal and
 * write inside the output folder and turn links into copies. */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "io/io.h"

static char root[256];

static void put (const char *rel, const char *text)
{
    char p[512];
    snprintf (p, sizeof (p), "%s/%s", root, rel);
    FILE *f = fopen (p, "w");
    assert_non_null (f);
    fputs (text, f);
    fclose (f);
}

static bool exists (const char *rel)
{
    char p[512];
    struct stat st;
    snprintf (p, sizeof (p), "%s/%s", root, rel);
    return lstat (p, &st) == 0;
}

static int setup (void **state)
{
    (void)state;
    snprintf (root, sizeof (root), "/tmp/test_contain.XXXXXX");
    assert_non_null (mkdtemp (root));
    return 0;
}

static int teardown (void **state)
{
    (void)state;
    io_remove_tree (root);
    return 0;
}

/* Table: which relative paths may be removed or written. */
static void test_clean_paths (void **state)
{
    static const struct { const char *rel; bool ok; } cases[] = {
        { "a", true },        { "a/b/c.txt", true }, { ".hidden", true },
        { "a..b", true },     { "...", true },       { "", false },
        { "/etc/passwd", false }, { "..", false },   { "../victim", false },
        { "a/../../x", false }, { "a/./b", false },  { "./a", false },
        { "a//b", false },    { "a/", false },       { "a/..", false },
    };
    (void)state;
    for (size_t i = 0; i < sizeof (cases) / sizeof (cases[0]); i++) {
        if (io_path_is_clean (cases[i].rel) != cases[i].ok)
            fail_msg ("io_path_is_clean(\"%s\") should be %d", cases[i].rel,
                      cases[i].ok);
    }
    assert_false (io_path_is_clean (NULL));
}

/* Removal stays beneath the folder and never follows a link. */
static void test_remove_beneath (void **state)
{
    (void)state;
    char out[300], p[600];
    snprintf (out, sizeof (out), "%s/out", root);
    assert_int_equal (io_mkdirs (out, 0755), 0);
    put ("victim", "precious");
    int fd = open (out, O_RDONLY | O_DIRECTORY);
    assert_true (fd >= 0);
    errno = 0;
    assert_int_equal (io_remove_output_at (fd, "../victim"), -1);
    assert_int_equal (errno, EINVAL);
    assert_true (exists ("victim"));
    /* a link planted in the output folder is not followed */
    snprintf (p, sizeof (p), "%s/out/sub", root);
    assert_int_equal (symlink (root, p), 0);
    assert_int_equal (io_remove_output_at (fd, "sub/victim"), -1);
    assert_true (exists ("victim"));
    const char *leaf;
    assert_int_equal (io_beneath_parent (fd, "sub/x", true, &leaf), -1);
    /* an ordinary file goes, and the folders it leaves empty */
    unlink (p);
    int dfd = io_beneath_parent (fd, "d1/d2/f", true, &leaf);
    assert_true (dfd >= 0);
    assert_string_equal (leaf, "f");
    close (openat (dfd, leaf, O_CREAT | O_WRONLY, 0644));
    close (dfd);
    assert_true (exists ("out/d1/d2/f"));
    assert_int_equal (io_remove_output_at (fd, "d1/d2/f"), 0);
    assert_false (exists ("out/d1"));
    assert_true (exists ("out"));
    assert_int_equal (io_remove_output_at (fd, "missing/file"), 0);
    close (fd);
}

/* Links become copies; what cannot be copied fails naming the path. */
static void test_materialize (void **state)
{
    (void)state;
    dr_error_t err = { { 0 } };
    char p[600], t[600];
    put ("target.txt", "content");
    snprintf (t, sizeof (t), "%s/target.txt", root);
    snprintf (p, sizeof (p), "%s/link", root);
    assert_int_equal (symlink (t, p), 0);
    assert_int_equal (io_link_materialize (p, "link", &err), 0);
    struct stat st;
    assert_int_equal (lstat (p, &st), 0);
    assert_true (S_ISREG (st.st_mode));
    /* a folder, copied whole */
    snprintf (t, sizeof (t), "%s/dir", root);
    assert_int_equal (mkdir (t, 0755), 0);
    put ("dir/inner", "x");
    snprintf (p, sizeof (p), "%s/dlink", root);
    assert_int_equal (symlink (t, p), 0);
    assert_int_equal (io_link_materialize (p, "dlink", &err), 0);
    assert_int_equal (lstat (p, &st), 0);
    assert_true (S_ISDIR (st.st_mode));
    assert_true (exists ("dlink/inner"));
    /* dangling */
    snprintf (p, sizeof (p), "%s/dangling", root);
    assert_int_equal (symlink ("/nonexistent/x", p), 0);
    assert_int_equal (io_link_materialize (p, "dangling", &err), -1);
    assert_non_null (strstr (err.text, "dangling: a dangling symbolic link"));
    /* a loop back to a folder that holds it */
    snprintf (p, sizeof (p), "%s/dir/up", root);
    assert_int_equal (symlink ("..", p), 0);
    assert_int_equal (io_link_materialize (p, "dir/up", &err), -1);
    assert_non_null (strstr (err.text, "dir/up: a symbolic link loop"));
    /* a FIFO behind a link */
    snprintf (t, sizeof (t), "%s/fifo", root);
    assert_int_equal (mkfifo (t, 0644), 0);
    snprintf (p, sizeof (p), "%s/flink", root);
    assert_int_equal (symlink (t, p), 0);
    assert_int_equal (io_link_materialize (p, "flink", &err), -1);
    assert_non_null (strstr (err.text, "flink is a FIFO"));
}

int main (void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test (test_clean_paths),
        cmocka_unit_test_setup_teardown (test_remove_beneath, setup, teardown),
        cmocka_unit_test_setup_teardown (test_materialize, setup, teardown),
    };
    return cmocka_run_group_tests (tests, NULL, NULL);
}
