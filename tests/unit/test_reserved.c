/* test_reserved.c: the names datumrun keeps for itself in folders it reads
 * (io_name_reserved, io/owner.c), and that its two readers of input
 * folders, the glob walk (sched/glob.c) and folder hashes (io/hash.c),
 * both skip them.
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
#include "sched/sched.h"

static const struct {
    const char *name;
    bool reserved;
} names[] = {
    { ".", true },
    { "..", true },
    { IO_OWNER_FILE, true },
    { ".datumrun-owner.json", true },
    { "...", false },
    { ".x", false },
    { "..x", false },
    { ".datumrun-owner.json.tmp", false },
    { "datumrun-owner.json", false },
    { ".datumrun-owner.jso", false },
    { ".DATUMRUN-OWNER.JSON", false },
    { ".datumrun", false },
    { "a.json", false },
};

static void test_table (void **state)
{
    (void)state;
    for (size_t i = 0; i < sizeof (names) / sizeof (names[0]); i++)
        if (io_name_reserved (names[i].name) != names[i].reserved)
            fail_msg ("'%s': expected %s", names[i].name,
                      names[i].reserved ? "reserved" : "not reserved");
}

static void put (const char *path, const char *text)
{
    FILE *f = fopen (path, "w");
    assert_non_null (f);
    fputs (text, f);
    fclose (f);
}

static int count_cb (const char *relpath, bool is_dir,
                     const sched_glob_caps_t *caps, void *arg)
{
    (void)is_dir;
    (void)caps;
    assert_false (io_name_reserved (strrchr (relpath, '/')
                                    ? strrchr (relpath, '/') + 1 : relpath));
    (*(int *)arg)++;
    return 0;
}

static int walk_count (const char *root, const char *pattern)
{
    dr_error_t err = { { 0 } };
    sched_glob_t *g = sched_glob_compile (pattern, &err);
    assert_non_null (g);
    int n = 0;
    assert_int_equal (sched_glob_walk (g, root, count_cb, &n, &err), 0);
    sched_glob_destroy (g);
    return n;
}

static void hash_of (const char *path, io_hash_t *h)
{
    dr_error_t err = { { 0 } };
    uint64_t bytes;
    if (io_content_hash (NULL, path, true, h, &bytes, &err) < 0)
        fail_msg ("%s: %s", path, err.text);
}

/* A folder with an owner marker, at its top and in a subfolder, reads the
 * same to the glob walk and the folder hash as one without. */
static void test_readers_skip_marker (void **state)
{
    (void)state;
    char root[] = "/tmp/test_reserved.XXXXXX";
    assert_non_null (mkdtemp (root));
    char *sub = jobs_pathf ("%s/sub", root);
    char *a = jobs_pathf ("%s/a", root);
    char *b = jobs_pathf ("%s/sub/b", root);
    char *m1 = jobs_pathf ("%s/%s", root, IO_OWNER_FILE);
    char *m2 = jobs_pathf ("%s/sub/%s", root, IO_OWNER_FILE);
    assert_int_equal (mkdir (sub, 0755), 0);
    put (a, "a\n");
    put (b, "b\n");

    io_hash_t before, after, sub_before, sub_after;
    hash_of (root, &before);
    hash_of (sub, &sub_before);
    assert_int_equal (walk_count (root, "/**"), 3);   /* a, sub, sub/b */

    put (m1, "{}\n");
    put (m2, "{}\n");
    hash_of (root, &after);
    hash_of (sub, &sub_after);
    assert_true (io_hash_eq (&before, &after));
    assert_true (io_hash_eq (&sub_before, &sub_after));
    assert_int_equal (walk_count (root, "/**"), 3);
    assert_int_equal (walk_count (root, "/*"), 2);
    /* Named literally, it is still not there. */
    assert_int_equal (walk_count (root, "/" IO_OWNER_FILE), 0);
    assert_int_equal (walk_count (root, "/sub/" IO_OWNER_FILE), 0);

    /* A name that only looks like it is data. */
    char *near = jobs_pathf ("%s/%s.tmp", root, IO_OWNER_FILE);
    put (near, "x\n");
    hash_of (root, &after);
    assert_false (io_hash_eq (&before, &after));
    assert_int_equal (walk_count (root, "/*"), 3);

    unlink (near);
    unlink (m1);
    unlink (m2);
    unlink (b);
    unlink (a);
    rmdir (sub);
    rmdir (root);
    free (near);
    free (m1);
    free (m2);
    free (b);
    free (a);
    free (sub);
}

int main (void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test (test_table),
        cmocka_unit_test (test_readers_skip_marker),
    };
    return cmocka_run_group_tests (tests, NULL, NULL);
}
