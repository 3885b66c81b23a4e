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
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "io/io.h"
#include "runner/runner.h"

/* Each job's scratch folder holds a marker naming the state folder of
 * its pipeline.  Only one job of a pipeline runs at a time (the state
 * folder's lock), so any other job folder of the same pipeline on this
 * node is a leftover: its workers were killed before they could remove
 * their sandboxes (SIGKILL when Slurm cancels a step, say). */
#define MARKER ".datumrun-state"

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

/* Does the marker of the job folder open at dfd name state_dir, exactly
 * (whatever its length)? */
static bool marker_names (int dfd, const char *state_dir)
{
    size_t want = strlen (state_dir), got = 0;
    char *buf = malloc (want + 2);
    int fd = buf ? openat (dfd, MARKER, O_RDONLY | O_NOFOLLOW | O_CLOEXEC)
                 : -1;
    if (fd < 0) {
        free (buf);
        return false;
    }
    /* One byte more than state_dir: a longer marker is another's. */
    for (ssize_t n; got < want + 1; got += (size_t)n)
        if ((n = read (fd, buf + got, want + 1 - got)) <= 0)
            break;
    close (fd);
    bool same = got == want && memcmp (buf, state_dir, want) == 0;
    free (buf);
    return same;
}

int runner_scratch_claim (const char *job_dir, const char *state_dir)
{
    char *tmp = NULL, *marker = NULL, *parent = NULL;
    const char *slash = strrchr (job_dir, '/');
    int rc = -1;
    if (!slash || !state_dir)
        return 0;
    if (asprintf (&marker, "%s/" MARKER, job_dir) < 0) {
        marker = NULL;
        goto done;
    }
    /* Every worker of the node writes the same text: to a name of its
     * own, then renamed into place. */
    if (asprintf (&tmp, "%s.%ld", marker, (long)getpid ()) < 0) {
        tmp = NULL;
        goto done;
    }
    if (io_mkdirs (job_dir, 0755) < 0)
        goto done;
    FILE *f = fopen (tmp, "we");
    if (!f)
        goto done;
    fprintf (f, "%s", state_dir);
    if (fclose (f) != 0 || rename (tmp, marker) < 0) {
        unlink (tmp);
        goto done;
    }
    rc = 0;

    /* Leftovers of this pipeline's earlier jobs: real folders of ours
     * (never a link), named datumrun-*, whose marker names our state
     * folder. */
    if (!(parent = strndup (job_dir, (size_t)(slash - job_dir))))
        goto done;
    DIR *d = opendir (*parent ? parent : "/");
    if (!d)
        goto done;
    struct dirent *e;
    while ((e = readdir (d))) {
        if (strncmp (e->d_name, "datumrun-", 9) != 0
            || strcmp (e->d_name, slash + 1) == 0)
            continue;
        struct stat st;
        if (fstatat (dirfd (d), e->d_name, &st, AT_SYMLINK_NOFOLLOW) < 0
            || !S_ISDIR (st.st_mode) || st.st_uid != geteuid ())
            continue;
        int dfd = openat (dirfd (d), e->d_name,
                          O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
        if (dfd < 0)
            continue;
        bool same = marker_names (dfd, state_dir);
        close (dfd);
        if (!same)
            continue;
        char *old = NULL;
        if (asprintf (&old, "%s/%s", parent, e->d_name) < 0)
            continue;
        if (io_remove_tree (old) < 0 && errno != ENOENT)
            dr_log (LOG_WARN, "cannot remove the leftover sandboxes %s: %s",
                    old, strerror (errno));
        else
            dr_log (LOG_DEBUG, "removed leftover sandboxes %s", old);
        free (old);
    }
    closedir (d);
done:
    free (tmp);
    free (marker);
    free (parent);
    return rc;
}

void runner_scratch_release (const char *job_dir)
{
    /* After this worker removed its own folder: the job's folder goes
     * with the last worker of the node (the marker alone is left).  Each
     * worker removes its folder before looking, so the last one to look
     * sees no other. */
    DIR *d = opendir (job_dir);
    if (!d)
        return;
    struct dirent *e;
    int others = 0;
    while ((e = readdir (d)))
        if (strcmp (e->d_name, ".") && strcmp (e->d_name, "..")
            && strncmp (e->d_name, MARKER, sizeof (MARKER) - 1))
            others++;
    closedir (d);
    if (others)
        return;
    char *marker = NULL;
    if (asprintf (&marker, "%s/" MARKER, job_dir) >= 0) {
        unlink (marker);
        free (marker);
    }
    (void)rmdir (job_dir);
}
