/* container.h: running a datum's command inside the pipeline's image
 * (transform.image) with Apptainer, Singularity, podman or Docker.
 *
 * The module has two halves:
 *  - container_setup() picks the runtime and resolves the image to an
 *    identity (a digest, or a .sif file's content hash) before anything
 *    runs; a missing runtime or image is a spec error (exit 2).
 *  - container_wrap() is pure: it turns the command datumrun would run
 *    into the runtime's command line, so it is unit-tested without any
 *    runtime installed.
 */
#ifndef DATUMRUN_RUNNER_CONTAINER_H
#define DATUMRUN_RUNNER_CONTAINER_H

#include <stdbool.h>
#include <stddef.h>

#include "jobs/jobs.h"

typedef enum container_kind {
    CONTAINER_NONE = 0,
    CONTAINER_APPTAINER,
    CONTAINER_SINGULARITY,
    CONTAINER_PODMAN,
    CONTAINER_DOCKER,
} container_kind_t;

/* "apptainer", ... ("none" for CONTAINER_NONE). */
const char *container_kind_name (container_kind_t k);
/* -1 for an unknown name. */
int container_kind_parse (const char *name, container_kind_t *k);

typedef struct container {
    container_kind_t kind;
    char *runtime;      /* absolute path of the runtime's executable */
    char *image;        /* the reference as the runtime takes it */
    char *image_id;     /* "sha256:..." (podman, docker), "xxh3:..." (.sif),
                         * or "ref:..." (a remote reference) */
    char **ro_binds;    /* folders mounted read-only at their own path */
    size_t nro;
    bool gpus;          /* pass the node's GPUs through (--nv, --gpus):
                         * resource_requests.gpu > 0 */
    bool rootless;      /* podman run as a user: keep the user's ids */
} container_t;

/* Pick the runtime (want: transform.image_runtime or --runtime, NULL for
 * the first of apptainer, singularity, podman, docker on PATH), resolve
 * spec->image, and fill spec->image_id.  Without an image, c->kind stays
 * CONTAINER_NONE and 0 is returned.  Fills err (naming the image and the
 * runtime) and returns -1 when the runtime or the image cannot be had. */
int container_setup (container_t *c, jobs_spec_t *spec, const char *want,
                     dr_error_t *err);
void container_free (container_t *c);

/* The runtime transform.image would use without image_runtime or
 * --runtime: the first of apptainer, singularity, podman, docker on PATH
 * (*path malloc'd), or CONTAINER_NONE. */
container_kind_t container_detect (char **path);

/* Whether the datum's environment variable kv ("NAME=VALUE") is passed into
 * the container: what datumrun sets (DATUMRUN_*, PACH_*, the inputs'
 * names, transform.env, GPU visibility), not the host's own environment. */
bool container_passes_env (const jobs_spec_t *spec, const char *kv);

/* The command line that runs cmd (cmd[0] as the image knows it) in the
 * image for a datum whose sandbox is `sandbox` (its pfs/ is also mounted
 * at /pfs; the sandbox is the working directory), with the variables of
 * envp that container_passes_env() accepts.  *argv_out is a
 * NULL-terminated vector whose strings and itself the caller frees with
 * container_argv_free().  *envp_out is the environment to start the
 * runtime with (envp plus APPTAINERENV_* for Apptainer), likewise freed.
 * Returns -1 on allocation failure. */
int container_wrap (const container_t *c, const jobs_spec_t *spec,
                    const char *sandbox, char *const envp[],
                    char *const cmd[], char ***argv_out, char ***envp_out);
void container_argv_free (char **v);

#endif /* DATUMRUN_RUNNER_CONTAINER_H */
