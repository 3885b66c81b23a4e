/* container.c: transform.image.  See container.h. */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "io/io.h"
#include "jobs/spawn.h"
#include "runner/container.h"


static const char *const kind_names[] = {
    [CONTAINER_NONE] = "none",
    [CONTAINER_APPTAINER] = "apptainer",
    [CONTAINER_SINGULARITY] = "singularity",
    [CONTAINER_PODMAN] = "podman",
    [CONTAINER_DOCKER] = "docker",
};

const char *container_kind_name (container_kind_t k)
{
    return (unsigned)k <= CONTAINER_DOCKER ? kind_names[k] : "?";
}

int container_kind_parse (const char *name, container_kind_t *k)
{
    for (int i = CONTAINER_APPTAINER; i <= CONTAINER_DOCKER; i++)
        if (!strcmp (name, kind_names[i])) {
            *k = (container_kind_t)i;
            return 0;
        }
    return -1;
}

/* ------------------------------------------------------ growable argv */

typedef struct strv {
    char **v;
    size_t n, cap;
    bool oom;
} strv_t;

static void sv_push_owned (strv_t *s, char *str)
{
    if (!str || s->oom) {
        free (str);
        s->oom = true;
        return;
    }
    if (s->n + 2 > s->cap) {
        size_t cap = s->cap ? 2 * s->cap : 32;
        char **v = realloc (s->v, cap * sizeof (*v));
        if (!v) {
            free (str);
            s->oom = true;
            return;
        }
        s->v = v;
        s->cap = cap;
    }
    s->v[s->n++] = str;
    s->v[s->n] = NULL;
}

static void sv_push (strv_t *s, const char *str)
{
    sv_push_owned (s, str ? strdup (str) : NULL);
}

static void sv_pushf (strv_t *s, const char *fmt, ...)
    __attribute__ ((format (printf, 2, 3)));
static void sv_pushf (strv_t *s, const char *fmt, ...)
{
    va_list ap;
    char *str;
    va_start (ap, fmt);
    if (vasprintf (&str, fmt, ap) < 0)
        str = NULL;
    va_end (ap);
    sv_push_owned (s, str);
}

void container_argv_free (char **v)
{
    if (v) {
        for (size_t i = 0; v[i]; i++)
            free (v[i]);
        free (v);
    }
}

/* ---------------------------------------------------------- environment */

static size_t name_len (const char *kv)
{
    const char *eq = strchr (kv, '=');
    return eq ? (size_t)(eq - kv) : strlen (kv);
}

static bool name_is (const char *kv, size_t nl, const char *name)
{
    return strlen (name) == nl && !strncmp (kv, name, nl);
}

bool container_passes_env (const jobs_spec_t *spec, const char *kv)
{
    static const char *const prefixes[] = { "DATUMRUN_", "PACH_", NULL };
    static const char *const names[] = {
        "CUDA_VISIBLE_DEVICES", "CUDA_DEVICE_ORDER", "ROCR_VISIBLE_DEVICES",
        "HIP_VISIBLE_DEVICES", "OMP_NUM_THREADS", NULL,
    };
    size_t nl = name_len (kv);
    if (nl == 0 || !kv[nl])
        return false;
    for (int i = 0; prefixes[i]; i++)
        if (!strncmp (kv, prefixes[i], strlen (prefixes[i])))
            return true;
    for (int i = 0; names[i]; i++)
        if (name_is (kv, nl, names[i]))
            return true;
    for (size_t i = 0; i < spec->npfs; i++)
        if (name_is (kv, nl, spec->pfs[i]->name))
            return true;
    for (char **e = spec->env; e && *e; e++)
        if (name_len (*e) == nl && !strncmp (*e, kv, nl))
            return true;
    return false;
}

/* ------------------------------------------------------------ the wrap */

static void add_binds_apptainer (strv_t *a, const container_t *c,
                                 const char *sandbox)
{
    sv_push (a, "--bind");
    sv_pushf (a, "%s", sandbox);
    sv_push (a, "--bind");
    sv_pushf (a, "%s/pfs:/pfs", sandbox);
    for (size_t i = 0; i < c->nro; i++) {
        sv_push (a, "--bind");
        sv_pushf (a, "%s:%s:ro", c->ro_binds[i], c->ro_binds[i]);
    }
}

static void add_binds_oci (strv_t *a, const container_t *c,
                           const char *sandbox)
{
    /* --mount, not -v: its comma-separated fields cannot be confused by a
     * colon in a path. */
    sv_push (a, "--mount");
    sv_pushf (a, "type=bind,src=%s,dst=%s", sandbox, sandbox);
    sv_push (a, "--mount");
    sv_pushf (a, "type=bind,src=%s/pfs,dst=/pfs", sandbox);
    for (size_t i = 0; i < c->nro; i++) {
        sv_push (a, "--mount");
        sv_pushf (a, "type=bind,src=%s,dst=%s,ro=true", c->ro_binds[i],
                  c->ro_binds[i]);
    }
}

int container_wrap (const container_t *c, const jobs_spec_t *spec,
                    const char *sandbox, char *const envp[],
                    char *const cmd[], char ***argv_out, char ***envp_out)
{
    strv_t a = { 0 }, e = { 0 };
    bool apptainer = c->kind == CONTAINER_APPTAINER
                     || c->kind == CONTAINER_SINGULARITY;
    const char *envpfx = c->kind == CONTAINER_SINGULARITY ? "SINGULARITYENV_"
                                                          : "APPTAINERENV_";

    *argv_out = *envp_out = NULL;
    for (char *const *p = envp; p && *p; p++)
        sv_push (&e, *p);
    sv_push (&a, c->runtime);
    if (apptainer) {
        /* exec, not run: the image's runscript is not the command.
         * --cleanenv: the command sees the image's environment plus what
         * datumrun sets (passed as APPTAINERENV_NAME), like a Pachyderm
         * container; --no-home: the datum's files are the sandbox. */
        sv_push (&a, "exec");
        sv_push (&a, "--cleanenv");
        sv_push (&a, "--no-home");
        sv_push (&a, "--pwd");
        sv_push (&a, sandbox);
        if (c->gpus)
            sv_push (&a, "--nv");
        add_binds_apptainer (&a, c, sandbox);
        /* A batched command talks to its worker on descriptor 3, which
         * Apptainer passes through like every open descriptor. */
        if (spec->datum_batching) {
            sv_push (&a, "--env");
            sv_push (&a, "DATUMRUN_BATCH_FD=3");
        }
        for (char *const *p = envp; p && *p; p++)
            if (container_passes_env (spec, *p))
                sv_pushf (&e, "%s%s", envpfx, *p);
    }
    else {
        sv_push (&a, "run");
        sv_push (&a, "--rm");
        sv_push (&a, "-i");             /* transform.stdin */
        sv_push (&a, "--init");         /* signals reach the command */
        sv_push (&a, "--network=host"); /* as on the node itself */
        sv_push (&a, "--log-driver=none"); /* stdout/stderr: our logs */
        if (c->kind == CONTAINER_PODMAN) {
            sv_push (&a, "--pull=never");   /* resolved before the job */
            if (c->rootless)
                sv_push (&a, "--userns=keep-id");
        }
        else {
            sv_push (&a, "--pull=never");
            sv_pushf (&a, "--user=%d:%d", (int)getuid (), (int)getgid ());
        }
        if (c->gpus) {
            if (c->kind == CONTAINER_PODMAN) {
                sv_push (&a, "--device");
                sv_push (&a, "nvidia.com/gpu=all"); /* CDI */
            }
            else {
                sv_push (&a, "--gpus");
                sv_push (&a, "all");
            }
        }
        sv_push (&a, "-w");
        sv_push (&a, sandbox);
        add_binds_oci (&a, c, sandbox);
        /* A batched command talks to its worker on descriptor 3: podman
         * hands descriptors 3.. on with --preserve-fds (container_setup
         * refuses Docker, which cannot). */
        if (spec->datum_batching) {
            sv_push (&a, "--preserve-fds=1");
            sv_push (&a, "--env=DATUMRUN_BATCH_FD=3");
        }
        /* --env NAME takes the value from the runtime's own environment,
         * so no value is ever parsed from or shown on its command line. */
        for (char *const *p = envp; p && *p; p++)
            if (container_passes_env (spec, *p))
                sv_pushf (&a, "--env=%.*s", (int)name_len (*p), *p);
        sv_push (&a, "--");
    }
    sv_push (&a, c->image);
    for (char *const *p = cmd; p && *p; p++)
        sv_push (&a, *p);
    if (a.oom || e.oom || !a.v || !e.v) {
        container_argv_free (a.v);
        container_argv_free (e.v);
        return -1;
    }
    *argv_out = a.v;
    *envp_out = e.v;
    return 0;
}

/* -------------------------------------------------------------- setup */

static char *find_in_path (const char *name)
{
    const char *path = getenv ("PATH");
    if (!path || !*path)
        path = "/usr/local/bin:/usr/bin:/bin";
    char *copy = strdup (path), *save = NULL;
    if (!copy)
        return NULL;
    for (char *dir = strtok_r (copy, ":", &save); dir;
         dir = strtok_r (NULL, ":", &save)) {
        char *cand;
        struct stat st;
        if (asprintf (&cand, "%s/%s", *dir ? dir : ".", name) < 0)
            break;
        if (stat (cand, &st) == 0 && S_ISREG (st.st_mode)
            && access (cand, X_OK) == 0) {
            free (copy);
            return cand;
        }
        free (cand);
    }
    free (copy);
    return NULL;
}

/* Run argv (argv[0] absolute) with no stdin; its stdout into out (at most
 * outlen - 1 bytes kept, NUL-terminated), its stderr's last line into
 * errline.  Returns the exit status, or -1 if it could not start. */
static int run_capture (char *const argv[], char *out, size_t outlen,
                        char *errline, size_t errlen)
{
    int po[2], pe[2];
    if (pipe2 (po, O_CLOEXEC) < 0)
        return -1;
    if (pipe2 (pe, O_CLOEXEC) < 0) {
        close (po[0]);
        close (po[1]);
        return -1;
    }
    pid_t pid;
    dr_error_t serr = { { 0 } };
    jobs_spawn_t so = { .argv = argv, .stdin_path = "/dev/null",
                        .fd = { po[1], pe[1] } };
    int rc = jobs_spawn_process (&so, &pid, &serr);
    int e = errno;
    close (po[1]);
    close (pe[1]);
    if (rc < 0) {
        close (po[0]);
        close (pe[0]);
        errno = e;
        return -1;
    }
    size_t on = 0, en = 0;
    char ebuf[4096];
    struct pollfd fds[2] = { { po[0], POLLIN, 0 }, { pe[0], POLLIN, 0 } };
    int open_fds = 2;
    while (open_fds > 0) {
        if (poll (fds, 2, -1) < 0) {
            if (errno == EINTR)
                continue;
            break;
        }
        for (int i = 0; i < 2; i++) {
            if (fds[i].fd < 0 || !(fds[i].revents & (POLLIN | POLLHUP)))
                continue;
            char tmp[4096];
            ssize_t n = read (fds[i].fd, tmp, sizeof (tmp));
            if (n <= 0) {
                close (fds[i].fd);
                fds[i].fd = -1;
                open_fds--;
                continue;
            }
            if (i == 0) {
                size_t k = (size_t)n;
                if (on + k > outlen - 1)
                    k = outlen - 1 - on;
                memcpy (out + on, tmp, k);
                on += k;
            }
            else {
                /* keep the tail: the last line says why */
                if ((size_t)n >= sizeof (ebuf)) {
                    memcpy (ebuf, tmp + n - (sizeof (ebuf) - 1),
                            sizeof (ebuf) - 1);
                    en = sizeof (ebuf) - 1;
                }
                else {
                    if (en + (size_t)n > sizeof (ebuf) - 1) {
                        size_t drop = en + (size_t)n - (sizeof (ebuf) - 1);
                        memmove (ebuf, ebuf + drop, en - drop);
                        en -= drop;
                    }
                    memcpy (ebuf + en, tmp, (size_t)n);
                    en += (size_t)n;
                }
            }
        }
    }
    out[on] = '\0';
    while (en > 0 && (ebuf[en - 1] == '\n' || ebuf[en - 1] == '\r'))
        en--;
    ebuf[en] = '\0';
    const char *last = strrchr (ebuf, '\n');
    last = last ? last + 1 : ebuf;
    size_t ln = strlen (last);
    if (ln > errlen - 1)
        ln = errlen - 1;
    memcpy (errline, last, ln);
    errline[ln] = '\0';
    int status;
    while (waitpid (pid, &status, 0) < 0)
        if (errno != EINTR)
            return -1;
    return WIFEXITED (status) ? WEXITSTATUS (status) : 128 + WTERMSIG (status);
}

static void chomp (char *s)
{
    size_t n = strlen (s);
    while (n > 0 && (s[n - 1] == '\n' || s[n - 1] == '\r' || s[n - 1] == ' '))
        s[--n] = '\0';
}

/* podman/docker: the local image's ID, pulling it once if it is not there. */
static int resolve_oci (container_t *c, const char *spec_path,
                        dr_error_t *err)
{
    const char *rt = container_kind_name (c->kind);
    char out[512], why[512];
    char *inspect[] = { c->runtime, "image", "inspect", "--format",
                        "{{.Id}}", c->image, NULL };
    int rc = run_capture (inspect, out, sizeof (out), why, sizeof (why));
    if (rc < 0)
        return dr_errprintf (err, "%s: transform.image '%s': cannot run %s: "
                             "%s", spec_path, c->image, c->runtime,
                             strerror (errno));
    if (rc != 0) {
        char pout[512], pwhy[512];
        char *pull[] = { c->runtime, "pull", "-q", c->image, NULL };
        int prc = run_capture (pull, pout, sizeof (pout), pwhy, sizeof (pwhy));
        if (prc != 0)
            return dr_errprintf (err, "%s: transform.image '%s' is not a "
                                 "local %s image and pulling it failed: %s",
                                 spec_path, c->image, rt,
                                 pwhy[0] ? pwhy : why[0] ? why : "no reason "
                                 "given");
        rc = run_capture (inspect, out, sizeof (out), why, sizeof (why));
        if (rc != 0)
            return dr_errprintf (err, "%s: transform.image '%s': %s image "
                                 "inspect failed after the pull: %s",
                                 spec_path, c->image, rt, why);
    }
    chomp (out);
    if (!out[0])
        return dr_errprintf (err, "%s: transform.image '%s': %s gave no "
                             "image ID", spec_path, c->image, rt);
    if (asprintf (&c->image_id, "%s%s", strchr (out, ':') ? "" : "sha256:",
                  out) < 0)
        c->image_id = NULL;
    return c->image_id ? 0 : dr_errprintf (err, "out of memory");
}

static bool is_sif_path (const char *ref)
{
    if (strstr (ref, "://"))
        return false;
    size_t n = strlen (ref);
    return (n > 4 && !strcmp (ref + n - 4, ".sif"))
           || (n > 5 && !strcmp (ref + n - 5, ".simg"));
}

/* apptainer/singularity: a .sif file's content hash, else the reference
 * itself (docker://repo@sha256:... pins a remote image). */
static int resolve_apptainer (container_t *c, const char *spec_path,
                              dr_error_t *err)
{
    if (!is_sif_path (c->image)) {
        if (asprintf (&c->image_id, "ref:%s", c->image) < 0)
            return dr_errprintf (err, "out of memory");
        return 0;
    }
    int fd = open (c->image, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return dr_errprintf (err, "%s: transform.image '%s' (for %s): %s",
                             spec_path, c->image,
                             container_kind_name (c->kind), strerror (errno));
    io_hasher_t *h = io_hasher_create ();
    char *buf = malloc (1 << 20);
    ssize_t n = 0;
    while (h && buf && (n = read (fd, buf, 1 << 20)) > 0)
        io_hasher_update (h, buf, (size_t)n);
    int saved = errno;
    close (fd);
    free (buf);
    if (!h || n < 0) {
        io_hasher_destroy (h);
        return dr_errprintf (err, "%s: transform.image '%s': read: %s",
                             spec_path, c->image, strerror (saved));
    }
    io_hash_t d;
    io_hasher_digest (h, &d);
    io_hasher_destroy (h);
    char hex[33];
    io_hash_hex (&d, hex);
    if (asprintf (&c->image_id, "xxh3:%s", hex) < 0)
        return dr_errprintf (err, "out of memory");
    return 0;
}

static int add_ro (container_t *c, const char *path)
{
    for (size_t i = 0; i < c->nro; i++)
        if (!strcmp (c->ro_binds[i], path))
            return 0;
    char **v = realloc (c->ro_binds, (c->nro + 1) * sizeof (*v));
    if (!v)
        return -1;
    c->ro_binds = v;
    if (!(v[c->nro] = strdup (path)))
        return -1;
    c->nro++;
    return 0;
}

container_kind_t container_detect (char **path)
{
    *path = NULL;
    for (int k = CONTAINER_APPTAINER; k <= CONTAINER_DOCKER; k++)
        if ((*path = find_in_path (kind_names[k])))
            return (container_kind_t)k;
    return CONTAINER_NONE;
}

int container_setup (container_t *c, jobs_spec_t *spec, const char *want,
                     dr_error_t *err)
{
    memset (c, 0, sizeof (*c));
    if (!spec->image)
        return 0;
    if (!want)
        want = spec->image_runtime;
    if (want) {
        if (container_kind_parse (want, &c->kind) < 0)
            return dr_errprintf (err, "%s: unknown container runtime '%s' "
                                 "(choose apptainer, singularity, podman or "
                                 "docker)", spec->path, want);
        if (!(c->runtime = find_in_path (want)))
            return dr_errprintf (err, "%s: transform.image '%s' needs %s, "
                                 "which is not on PATH", spec->path,
                                 spec->image, want);
    }
    else {
        c->kind = container_detect (&c->runtime);
        if (!c->runtime)
            return dr_errprintf (err, "%s: transform.image '%s' needs a "
                                 "container runtime, and none of apptainer, "
                                 "singularity, podman or docker is on PATH",
                                 spec->path, spec->image);
    }
    if (c->kind == CONTAINER_DOCKER && spec->datum_batching)
        return dr_errprintf (err, "%s: transform.datum_batching cannot run "
                             "in a Docker container: docker run cannot hand "
                             "the batch descriptor to the command (use "
                             "podman or apptainer)", spec->path);
    if (!(c->image = strdup (spec->image)))
        return dr_errprintf (err, "out of memory");
    c->rootless = geteuid () != 0;
    /* Each worker gets its GPUs through CUDA_VISIBLE_DEVICES (and the AMD
     * names), which pass into the container; the runtime must expose the
     * devices themselves. */
    c->gpus = spec->gpu > 0;
    int rc = (c->kind == CONTAINER_PODMAN || c->kind == CONTAINER_DOCKER)
                 ? resolve_oci (c, spec->path, err)
                 : resolve_apptainer (c, spec->path, err);
    if (rc < 0)
        return -1;
    for (size_t i = 0; i < spec->npfs; i++)
        if (add_ro (c, spec->pfs[i]->repo) < 0)
            return dr_errprintf (err, "out of memory");
    free (spec->image_id);
    if (!(spec->image_id = strdup (c->image_id)))
        return dr_errprintf (err, "out of memory");
    return 0;
}

void container_free (container_t *c)
{
    free (c->runtime);
    free (c->image);
    free (c->image_id);
    for (size_t i = 0; i < c->nro; i++)
        free (c->ro_binds[i]);
    free (c->ro_binds);
    memset (c, 0, sizeof (*c));
}
