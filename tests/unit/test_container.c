/* test_container.c: unit tests for runner/container.c: the command lines
 * built for each runtime (Apptainer is not packaged for Debian 12, so its
 * argv is covered here), the variables passed in, runtime selection and
 * image resolution for .sif files, and the spec's image keys.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "jobs/jobs.h"
#include "runner/container.h"

static char tmp[PATH_MAX];
static char spec_path[PATH_MAX + 16];

static void write_file (const char *rel, const char *text, mode_t mode)
{
    char path[PATH_MAX + 64];
    snprintf (path, sizeof (path), "%s/%s", tmp, rel);
    FILE *f = fopen (path, "w");
    assert_non_null (f);
    fputs (text, f);
    assert_int_equal (fclose (f), 0);
    assert_int_equal (chmod (path, mode), 0);
}

static int group_setup (void **state)
{
    char templ[] = "/tmp/test_container.XXXXXX";
    char path[PATH_MAX + 64];
    if (!mkdtemp (templ) || !realpath (templ, tmp))
        return -1;
    snprintf (spec_path, sizeof (spec_path), "%s/spec.json", tmp);
    snprintf (path, sizeof (path), "%s/data", tmp);
    if (mkdir (path, 0755) < 0)
        return -1;
    snprintf (path, sizeof (path), "%s/bin", tmp);
    return mkdir (path, 0755);
}

static int group_teardown (void **state)
{
    char cmd[PATH_MAX + 16];
    snprintf (cmd, sizeof (cmd), "rm -rf '%s'", tmp);
    return system (cmd) == 0 ? 0 : -1;
}

static jobs_spec_t *spec_with (const char *transform_extra)
{
    char text[2048];
    dr_error_t err = { { 0 } };
    snprintf (text, sizeof (text),
              "{\"pipeline\": {\"name\": \"p\"},"
              " \"transform\": {\"cmd\": [\"tool\", \"-x\"]%s,"
              "   \"env\": {\"MINE\": \"1\"}},"
              " \"input\": {\"pfs\": {\"name\": \"in\", \"repo\": \"data\","
              "   \"glob\": \"/*\"}}}",
              transform_extra);
    jobs_spec_t *spec = jobs_spec_parse (text, spec_path, NULL, &err);
    if (!spec)
        fail_msg ("spec: %s", err.text);
    return spec;
}

static size_t count (char **v)
{
    size_t n = 0;
    while (v && v[n])
        n++;
    return n;
}

static bool has (char **v, const char *s)
{
    for (size_t i = 0; v && v[i]; i++)
        if (!strcmp (v[i], s))
            return true;
    return false;
}

/* want[i] with each "@" replaced by tmp. */
static void expand (const char *w, char *out, size_t len)
{
    size_t o = 0;
    for (; *w && o + 1 < len; w++) {
        if (*w == '@') {
            size_t n = strlen (tmp);
            if (o + n >= len)
                break;
            memcpy (out + o, tmp, n);
            o += n;
        }
        else
            out[o++] = *w;
    }
    out[o] = '\0';
}

/* Check argv against want, element by element ("@" expands to tmp). */
static void check_argv (char **argv, const char *const *want)
{
    size_t i = 0;
    for (; want[i]; i++) {
        char exp[PATH_MAX * 2];
        expand (want[i], exp, sizeof (exp));
        if (!argv[i])
            fail_msg ("argv ends at %zu, wanted '%s'", i, exp);
        if (strcmp (argv[i], exp))
            fail_msg ("argv[%zu] = '%s', wanted '%s'", i, argv[i], exp);
    }
    if (argv[i])
        fail_msg ("argv has extra '%s' at %zu", argv[i], i);
}

static char *envp_datum[] = {
    "HOME=/root", "PATH=/usr/bin:/bin", "DATUMRUN_OUT=/sb/pfs/out",
    "DATUMRUN_DATUM_ID=abc", "PACH_DATUM_ID=abc", "in=/sb/pfs/in/x",
    "MINE=1", "OMPI_COMM_WORLD_RANK=1", "CUDA_VISIBLE_DEVICES=0,1", NULL,
};

static void test_apptainer_argv (void **state)
{
    jobs_spec_t *spec = spec_with (", \"image\": \"img/tool.sif\"");
    char repo[PATH_MAX + 8];
    snprintf (repo, sizeof (repo), "%s/data", tmp);
    char *binds[] = { repo };
    container_t c = { .kind = CONTAINER_APPTAINER,
                      .runtime = "/opt/bin/apptainer",
                      .image = spec->image, .ro_binds = binds, .nro = 1,
                      .gpus = true };
    char *cmd[] = { "tool", "-x", NULL };
    char **argv, **envp;
    assert_int_equal (container_wrap (&c, spec, "/sb", envp_datum, cmd, &argv,
                                      &envp), 0);
    static const char *const want[] = {
        "/opt/bin/apptainer", "exec", "--cleanenv", "--no-home", "--pwd",
        "/sb", "--nv", "--bind", "/sb", "--bind", "/sb/pfs:/pfs", "--bind",
        "@/data:@/data:ro", "@/img/tool.sif", "tool", "-x", NULL,
    };
    check_argv (argv, want);
    /* the .sif is taken relative to the spec's folder */
    char sif[PATH_MAX + 32];
    snprintf (sif, sizeof (sif), "%s/img/tool.sif", tmp);
    assert_string_equal (spec->image, sif);
    /* what datumrun sets goes in as APPTAINERENV_*, the host's does not */
    assert_true (has (envp, "APPTAINERENV_DATUMRUN_OUT=/sb/pfs/out"));
    assert_true (has (envp, "APPTAINERENV_PACH_DATUM_ID=abc"));
    assert_true (has (envp, "APPTAINERENV_in=/sb/pfs/in/x"));
    assert_true (has (envp, "APPTAINERENV_MINE=1"));
    assert_true (has (envp, "APPTAINERENV_CUDA_VISIBLE_DEVICES=0,1"));
    assert_false (has (envp, "APPTAINERENV_HOME=/root"));
    assert_false (has (envp, "APPTAINERENV_PATH=/usr/bin:/bin"));
    assert_false (has (envp, "APPTAINERENV_OMPI_COMM_WORLD_RANK=1"));
    /* the runtime itself still gets the whole environment */
    assert_true (has (envp, "HOME=/root"));
    assert_int_equal (count (envp), count (envp_datum) + 6);
    container_argv_free (argv);
    container_argv_free (envp);
    jobs_spec_destroy (spec);
}

static void test_singularity_env_prefix (void **state)
{
    jobs_spec_t *spec = spec_with (", \"image\": \"docker://busybox:1.36\"");
    container_t c = { .kind = CONTAINER_SINGULARITY,
                      .runtime = "/usr/bin/singularity",
                      .image = spec->image };
    char *cmd[] = { "tool", NULL };
    char **argv, **envp;
    assert_int_equal (container_wrap (&c, spec, "/sb", envp_datum, cmd, &argv,
                                      &envp), 0);
    static const char *const want[] = {
        "/usr/bin/singularity", "exec", "--cleanenv", "--no-home", "--pwd",
        "/sb", "--bind", "/sb", "--bind", "/sb/pfs:/pfs",
        "docker://busybox:1.36", "tool", NULL,
    };
    check_argv (argv, want);
    assert_true (has (envp, "SINGULARITYENV_DATUMRUN_OUT=/sb/pfs/out"));
    assert_false (has (envp, "APPTAINERENV_DATUMRUN_OUT=/sb/pfs/out"));
    container_argv_free (argv);
    container_argv_free (envp);
    jobs_spec_destroy (spec);
}

static void test_podman_argv (void **state)
{
    jobs_spec_t *spec = spec_with (", \"image\": \"localhost/tool:1\"");
    char *binds[] = { "/repo/a", "/repo/b" };
    container_t c = { .kind = CONTAINER_PODMAN, .runtime = "/usr/bin/podman",
                      .image = spec->image, .ro_binds = binds, .nro = 2 };
    char *cmd[] = { "tool", "-x", NULL };
    char **argv, **envp;
    assert_int_equal (container_wrap (&c, spec, "/sb", envp_datum, cmd, &argv,
                                      &envp), 0);
    static const char *const want[] = {
        "/usr/bin/podman", "run", "--rm", "-i", "--init", "--network=host",
        "--log-driver=none", "--pull=never", "-w", "/sb", "--mount",
        "type=bind,src=/sb,dst=/sb", "--mount",
        "type=bind,src=/sb/pfs,dst=/pfs", "--mount",
        "type=bind,src=/repo/a,dst=/repo/a,ro=true", "--mount",
        "type=bind,src=/repo/b,dst=/repo/b,ro=true",
        "--env=DATUMRUN_OUT", "--env=DATUMRUN_DATUM_ID",
        "--env=PACH_DATUM_ID", "--env=in", "--env=MINE",
        "--env=CUDA_VISIBLE_DEVICES", "--", "localhost/tool:1", "tool", "-x",
        NULL,
    };
    check_argv (argv, want);
    /* no value on the command line: podman reads them from its env */
    for (size_t i = 0; argv[i]; i++)
        assert_null (strstr (argv[i], "/sb/pfs/out"));
    assert_int_equal (count (envp), count (envp_datum));
    container_argv_free (argv);
    container_argv_free (envp);

    /* rootless podman keeps the user's ids; GPUs go through CDI */
    c.rootless = true;
    c.gpus = true;
    assert_int_equal (container_wrap (&c, spec, "/sb", envp_datum, cmd, &argv,
                                      &envp), 0);
    assert_true (has (argv, "--userns=keep-id"));
    assert_true (has (argv, "nvidia.com/gpu=all"));
    container_argv_free (argv);
    container_argv_free (envp);
    jobs_spec_destroy (spec);
}

static void test_docker_argv (void **state)
{
    jobs_spec_t *spec = spec_with (", \"image\": \"tool:1\"");
    container_t c = { .kind = CONTAINER_DOCKER, .runtime = "/usr/bin/docker",
                      .image = spec->image, .gpus = true };
    char *cmd[] = { "tool", NULL };
    char **argv, **envp;
    assert_int_equal (container_wrap (&c, spec, "/sb", envp_datum, cmd, &argv,
                                      &envp), 0);
    char user[64];
    snprintf (user, sizeof (user), "--user=%d:%d", (int)getuid (),
              (int)getgid ());
    assert_true (has (argv, user));
    assert_true (has (argv, "--gpus"));
    assert_false (has (argv, "--userns=keep-id"));
    assert_string_equal (argv[count (argv) - 2], "tool:1");
    container_argv_free (argv);
    container_argv_free (envp);
    jobs_spec_destroy (spec);
}

/* A batched command's descriptor 3 and its name reach the container. */
static void test_batching (void **state)
{
    jobs_spec_t *spec = spec_with (", \"image\": \"tool:1\", "
                                   "\"datum_batching\": true");
    char *cmd[] = { "tool", NULL };
    char **argv, **envp;
    container_t c = { .kind = CONTAINER_PODMAN, .runtime = "/usr/bin/podman",
                      .image = spec->image };
    assert_int_equal (container_wrap (&c, spec, "/sb", envp_datum, cmd, &argv,
                                      &envp), 0);
    assert_true (has (argv, "--preserve-fds=1"));
    assert_true (has (argv, "--env=DATUMRUN_BATCH_FD=3"));
    container_argv_free (argv);
    container_argv_free (envp);
    c.kind = CONTAINER_APPTAINER;
    assert_int_equal (container_wrap (&c, spec, "/sb", envp_datum, cmd, &argv,
                                      &envp), 0);
    assert_true (has (argv, "DATUMRUN_BATCH_FD=3"));
    assert_false (has (argv, "--preserve-fds=1"));
    container_argv_free (argv);
    container_argv_free (envp);

    /* Docker cannot pass it: refused before anything runs */
    char bin[PATH_MAX + 8], *old = getenv ("PATH");
    char *saved = old ? strdup (old) : NULL;
    snprintf (bin, sizeof (bin), "%s/bin", tmp);
    write_file ("bin/docker", "#!/bin/sh\necho sha256:00\n", 0755);
    setenv ("PATH", bin, 1);
    dr_error_t err = { { 0 } };
    assert_int_equal (container_setup (&c, spec, "docker", &err), -1);
    assert_non_null (strstr (err.text, "datum_batching cannot run in a "
                                       "Docker container"));
    container_free (&c);
    char dk[PATH_MAX + 16];
    snprintf (dk, sizeof (dk), "%s/docker", bin);
    unlink (dk);
    setenv ("PATH", saved ? saved : "/usr/bin:/bin", 1);
    free (saved);
    jobs_spec_destroy (spec);
}

static void test_kind_names (void **state)
{
    container_kind_t k;
    assert_int_equal (container_kind_parse ("podman", &k), 0);
    assert_int_equal (k, CONTAINER_PODMAN);
    assert_string_equal (container_kind_name (CONTAINER_APPTAINER),
                         "apptainer");
    assert_int_equal (container_kind_parse ("rkt", &k), -1);
}

/* Runtime selection and .sif resolution, with stand-in runtimes on a PATH
 * of our own (setup never runs them for a .sif). */
static void test_setup_sif (void **state)
{
    char bin[PATH_MAX + 8], *old = getenv ("PATH");
    char *saved = old ? strdup (old) : NULL;
    snprintf (bin, sizeof (bin), "%s/bin", tmp);
    setenv ("PATH", bin, 1);
    dr_error_t err = { { 0 } };
    container_t c;

    /* no runtime at all */
    jobs_spec_t *spec = spec_with (", \"image\": \"tool.sif\"");
    assert_int_equal (container_setup (&c, spec, NULL, &err), -1);
    assert_non_null (strstr (err.text, "none of apptainer, singularity, "
                                       "podman or docker is on PATH"));
    assert_non_null (strstr (err.text, "tool.sif"));
    container_free (&c);

    /* a named runtime that is not there */
    assert_int_equal (container_setup (&c, spec, "podman", &err), -1);
    assert_non_null (strstr (err.text, "needs podman, which is not on PATH"));
    container_free (&c);

    /* apptainer found first; the .sif does not exist */
    write_file ("bin/apptainer", "#!/bin/sh\nexit 3\n", 0755);
    write_file ("bin/podman", "#!/bin/sh\nexit 3\n", 0755);
    assert_int_equal (container_setup (&c, spec, NULL, &err), -1);
    assert_non_null (strstr (err.text, "tool.sif"));
    assert_non_null (strstr (err.text, "apptainer"));
    assert_non_null (strstr (err.text, strerror (ENOENT)));
    container_free (&c);

    /* the .sif's content is its identity */
    write_file ("tool.sif", "image one", 0644);
    assert_int_equal (container_setup (&c, spec, NULL, &err), 0);
    assert_int_equal (c.kind, CONTAINER_APPTAINER);
    assert_non_null (strstr (c.runtime, "/bin/apptainer"));
    assert_int_equal (strncmp (c.image_id, "xxh3:", 5), 0);
    assert_string_equal (spec->image_id, c.image_id);
    assert_int_equal (c.nro, 1);
    char *first = strdup (c.image_id);
    container_free (&c);
    write_file ("tool.sif", "image two", 0644);
    assert_int_equal (container_setup (&c, spec, NULL, &err), 0);
    assert_string_not_equal (first, c.image_id);
    free (first);
    container_free (&c);

    /* podman named explicitly: a stand-in that fails inspect and pull */
    jobs_spec_t *p2 = spec_with (", \"image\": \"localhost/none:1\", "
                                 "\"image_runtime\": \"podman\"");
    assert_int_equal (container_setup (&c, p2, NULL, &err), -1);
    assert_non_null (strstr (err.text, "'localhost/none:1' is not a local "
                                       "podman image and pulling it failed"));
    container_free (&c);
    jobs_spec_destroy (p2);

    /* a datum with GPUs gets them in the container too */
    {
        char text[1024];
        snprintf (text, sizeof (text),
                  "{\"pipeline\": {\"name\": \"g\"},"
                  " \"transform\": {\"cmd\": [\"t\"], \"image\": \"tool.sif\"},"
                  " \"resource_requests\": {\"gpu\": 1},"
                  " \"input\": {\"pfs\": {\"repo\": \"data\", \"glob\": \"/*\"}}}");
        jobs_spec_t *g = jobs_spec_parse (text, spec_path, NULL, &err);
        if (!g)
            fail_msg ("spec: %s", err.text);
        assert_int_equal (container_setup (&c, g, NULL, &err), 0);
        assert_true (c.gpus);
        char *cmd[] = { "t", NULL };
        char **argv, **envp;
        assert_int_equal (container_wrap (&c, g, "/sb", envp_datum, cmd,
                                          &argv, &envp), 0);
        assert_true (has (argv, "--nv"));
        container_argv_free (argv);
        container_argv_free (envp);
        container_free (&c);
        jobs_spec_destroy (g);
    }

    /* no image: nothing to do */
    jobs_spec_t *plain = spec_with ("");
    assert_int_equal (container_setup (&c, plain, NULL, &err), 0);
    assert_int_equal (c.kind, CONTAINER_NONE);
    assert_null (plain->image_id);
    jobs_spec_destroy (plain);

    jobs_spec_destroy (spec);
    if (saved)
        setenv ("PATH", saved, 1);
    free (saved);
}

static void test_spec_keys (void **state)
{
    static const struct {
        const char *extra;
        const char *error;
    } rows[] = {
        { ", \"image\": \"\"", "transform.image must not be empty" },
        { ", \"image\": 3", "must be a string" },
        { ", \"image\": \"-x\"", "is not an image reference" },
        { ", \"image\": \"a\", \"image_runtime\": \"rkt\"",
          "image_runtime must be one of apptainer, singularity, podman, "
          "docker (got 'rkt')" },
        { ", \"image_runtime\": \"podman\"", "transform.image is not" },
        { ", \"image\": \"docker://x/y@sha256:00\", \"image_runtime\": "
          "\"apptainer\"", NULL },
    };
    for (size_t i = 0; i < sizeof (rows) / sizeof (rows[0]); i++) {
        char text[2048];
        dr_error_t err = { { 0 } };
        snprintf (text, sizeof (text),
                  "{\"pipeline\": {\"name\": \"p\"},"
                  " \"transform\": {\"cmd\": [\"tool\"]%s},"
                  " \"input\": {\"pfs\": {\"repo\": \"data\", \"glob\": "
                  "\"/*\"}}}", rows[i].extra);
        jobs_spec_t *spec = jobs_spec_parse (text, spec_path, NULL, &err);
        if (!rows[i].error) {
            if (!spec)
                fail_msg ("row %zu: %s", i, err.text);
            assert_string_equal (spec->image, "docker://x/y@sha256:00");
            assert_string_equal (spec->image_runtime, "apptainer");
            jobs_spec_destroy (spec);
            continue;
        }
        assert_null (spec);
        if (!strstr (err.text, rows[i].error))
            fail_msg ("row %zu: '%s' lacks '%s'", i, err.text, rows[i].error);
    }
}

int main (void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test (test_apptainer_argv),
        cmocka_unit_test (test_singularity_env_prefix),
        cmocka_unit_test (test_podman_argv),
        cmocka_unit_test (test_docker_argv),
        cmocka_unit_test (test_kind_names),
        cmocka_unit_test (test_batching),
        cmocka_unit_test (test_setup_sif),
        cmocka_unit_test (test_spec_keys),
    };
    return cmocka_run_group_tests (tests, group_setup, group_teardown);
}
