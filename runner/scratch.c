/* scratch.c: where a worker's sandbox lives.  By default in the state
 * folder, which on a cluster is a shared file system: every datum's
 * sandbox reset then costs metadata operations on the file server, which
 * Lustre and GPFS administrators forbid.  With node-local scratch the
 * sandbox lives on the node's own disk and only the outputs travel to the
 * shared output folder (io/stage.c copies across file systems: a
 * temporary name, then a link into place, so no partial file is ever seen
 * under its final name and a collision is still refused).
 *
 * Where scratch comes from, first answer wins: `run --scratch DIR`, the
 * spec's "scratch", $SLURM_TMPDIR, then $TMPDIR when set inside a Slurm
 * job (Slurm sets it to the node's TmpFS).  None: the state folder, as
 * before.
 */
#define _GNU_SOURCE
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "runner/runner.h"

const char *runner_scratch_dir (const run_opts_t *o, const jobs_spec_t *spec,
                                const char **source)
{
    const char *v;
    const char *src = "none";
    const char *dir = NULL;

    if (o && o->scratch && *o->scratch) {
        dir = o->scratch;
        src = "--scratch";
    }
    else if (spec && spec->scratch) {
        dir = spec->scratch;
        src = "spec";
    }
    else if ((v = getenv ("SLURM_TMPDIR")) && *v) {
        dir = v;
        src = "SLURM_TMPDIR";
    }
    else if (getenv ("SLURM_JOB_ID") && (v = getenv ("TMPDIR")) && *v) {
        dir = v;
        src = "TMPDIR (Slurm job)";
    }
    if (source)
        *source = src;
    return dir;
}

int runner_scratch_paths (const char *scratch, const char *job_id, int rank,
                          char **sbroot, char **sandbox)
{
    *sbroot = *sandbox = NULL;
    /* One folder per job (its ID is unique), one per rank inside it. */
    if (asprintf (sbroot, "%s/datumrun-%s/%d", scratch, job_id, rank) < 0) {
        *sbroot = NULL;
        return -1;
    }
    if (asprintf (sandbox, "%s/sb", *sbroot) < 0) {
        free (*sbroot);
        *sbroot = *sandbox = NULL;
        return -1;
    }
    return 0;
}

int runner_check_scratch (const run_opts_t *o, const jobs_spec_t *spec,
                          bool say)
{
    const char *src;
    const char *dir = runner_scratch_dir (o, spec, &src);
    /* In a Slurm job it is each node's own folder, made when the job
     * runs; outside one it is on this machine. */
    if (!dir || getenv ("SLURM_JOB_ID"))
        return 0;
    dr_error_t err = { { 0 } };
    if (io_check_dir_writable (dir, "scratch folder", &err) < 0) {
        if (say)
            fprintf (stderr, "%s: %s (from %s)\n", spec->path, err.text, src);
        return -1;
    }
    return 0;
}
