/* own.c: one owner per output folder, and outputs verified before a skip.
 *
 * Before anything runs, the output folder is claimed for this pipeline and
 * state folder through its owner marker (io/owner.c): a folder another
 * pipeline or another state folder owns, a folder inside or around
 * another's, or a user's folder with files and no marker is refused (exit
 * 2) naming both sides; --adopt takes over a user's folder; a folder that
 * an earlier datumrun made (no marker, but this pipeline's manifest has
 * records) is taken over without asking.  Nothing is ever moved aside.
 *
 * After planning, every datum about to be skipped has its recorded outputs
 * checked with one lstat each: a missing file, or one whose size or mtime
 * differs from what was recorded when it was made, makes the datum run
 * again (its remaining outputs are removed first, like a changed datum's).
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

#include "runner/coord.h"
#include "runner/runner.h"

static void say_owner (char *buf, size_t len, const io_owner_t *o)
{
    /* Long paths lose their middle, not the end of the description. */
    char *full = NULL;
    if (asprintf (&full, "pipeline '%s' (spec %s, state folder %s)",
                  o->pipeline, o->spec, o->state_dir) < 0)
        full = NULL;
    dr_shorten (full ? full : "another pipeline", buf, len);
    free (full);
}

/* Is the folder missing or empty, the marker aside? */
static int folder_state (const char *dir, bool *empty)
{
    *empty = true;
    DIR *d = opendir (dir);
    if (!d)
        return errno == ENOENT ? 0 : -1;
    struct dirent *de;
    while ((de = readdir (d))) {
        if (io_name_reserved (de->d_name))
            continue;
        *empty = false;
        break;
    }
    closedir (d);
    return 0;
}

/* The first marker found below dir (not dir's own), into *found. */
static int find_marker_below (const char *dir, int depth, char **found)
{
    DIR *d = opendir (dir);
    if (!d || depth > 32) {
        if (d)
            closedir (d);
        return 0;
    }
    struct dirent *de;
    while (!*found && (de = readdir (d))) {
        if (!strcmp (de->d_name, ".") || !strcmp (de->d_name, ".."))
            continue;
        char *sub = NULL;
        if (asprintf (&sub, "%s/%s", dir, de->d_name) < 0)
            break;
        struct stat st;
        if (lstat (sub, &st) == 0 && S_ISDIR (st.st_mode)) {
            char *m = NULL;
            if (asprintf (&m, "%s/%s", sub, IO_OWNER_FILE) >= 0
                && access (m, F_OK) == 0) {
                *found = sub;
                sub = NULL;
            }
            free (m);
            if (!*found)
                find_marker_below (sub, depth + 1, found);
        }
        free (sub);
    }
    closedir (d);
    return 0;
}

/* Does this manifest (read only) record anything?  1, 0, or -1 after
 * printing why it cannot be read (a damaged manifest says so itself). */
static int manifest_has_records (const char *state_dir)
{
    dr_error_t err = { { 0 } };
    io_manifest_t *m = io_manifest_open_ro (state_dir, &err);
    if (!m) {
        dr_log (LOG_ERR, "%s", err.text);
        return -1;
    }
    int any = io_manifest_ndatums (m) || io_manifest_njobs (m);
    io_manifest_close (m);
    return any;
}

int runner_output_claim (const jobs_spec_t *spec, bool adopt, bool write)
{
    const char *out = spec->output;
    dr_error_t err = { { 0 } };
    io_owner_t me = { 0 }, other = { 0 };
    char mine[1400], theirs[1400];
    int rc = -1, adopted = 0;

    if (io_owner_init (&me, spec->name, spec->path, spec->state_dir, out) < 0) {
        dr_log (LOG_ERR, "out of memory");
        return -1;
    }
    say_owner (mine, sizeof (mine), &me);

    /* Inside another pipeline's output folder? */
    char *up = strdup (out), *slash;
    while (up && (slash = strrchr (up, '/')) && slash != up) {
        *slash = '\0';
        int r = io_owner_read (up, &other, &err);
        if (r < 0) {
            dr_log (LOG_ERR, "%s", err.text);
            goto done;
        }
        if (r == 1) {
            bool same = !strcmp (other.pipeline, spec->name)
                        && io_owner_same_state (&other, up, spec->state_dir);
            if (!same) {
                say_owner (theirs, sizeof (theirs), &other);
                dr_log (LOG_ERR, "output folder %s is inside %s, the output "
                        "folder of %s; %s cannot write there: give it an "
                        "output folder of its own", out, up, theirs, mine);
                goto done;
            }
            io_owner_free (&other);
            break;
        }
    }

    int r = io_owner_read (out, &other, &err);
    if (r < 0) {
        dr_log (LOG_ERR, "%s", err.text);
        goto done;
    }
    bool empty;
    if (folder_state (out, &empty) < 0) {
        dr_log (LOG_ERR, "output folder %s: %s", out, strerror (errno));
        goto done;
    }
    if (r == 1) {
        if (strcmp (other.pipeline, spec->name)) {
            say_owner (theirs, sizeof (theirs), &other);
            dr_log (LOG_ERR, "output folder %s belongs to %s; %s cannot use "
                    "it: give one of them another output folder (if that "
                    "pipeline is gone for good, remove %s/%s and rerun with "
                    "--adopt)", out, theirs, mine, out, IO_OWNER_FILE);
            goto done;
        }
        if (!io_owner_same_state (&other, out, spec->state_dir)) {
            say_owner (theirs, sizeof (theirs), &other);
            dr_log (LOG_ERR, "output folder %s belongs to %s; the same "
                    "pipeline with state folder %s (spec %s) cannot use it: "
                    "one output folder has one state folder (drop --state, "
                    "or give this run another output)", out, theirs,
                    spec->state_dir, spec->path);
            goto done;
        }
        /* The same owner: refresh the marker when the spec moved. */
        if (write && (strcmp (other.spec, me.spec)
                      || strcmp (other.state_dir, me.state_dir))
            && io_owner_write (out, &me, &err) < 0) {
            dr_log (LOG_ERR, "%s", err.text);
            goto done;
        }
        rc = 0;
        goto done;
    }

    /* No marker. */
    if (!empty) {
        char *below = NULL;
        find_marker_below (out, 0, &below);
        if (below) {
            io_owner_t b = { 0 };
            if (io_owner_read (below, &b, &err) == 1) {
                say_owner (theirs, sizeof (theirs), &b);
                dr_log (LOG_ERR, "output folder %s contains %s, the output "
                        "folder of %s; %s cannot use it: give it an output "
                        "folder of its own", out, below, theirs, mine);
            }
            else
                dr_log (LOG_ERR, "output folder %s contains %s, another "
                        "pipeline's output folder", out, below);
            io_owner_free (&b);
            free (below);
            goto done;
        }
        int recs = manifest_has_records (spec->state_dir);
        if (recs < 0)
            goto done;
        if (recs)
            dr_log (LOG_DEBUG, "output folder %s was made by an earlier "
                    "datumrun for this pipeline: taking it over", out);
        else if (adopt) {
            if (write)
                dr_log (LOG_INFO, "output folder %s: adopted for %s; the "
                        "files already there stay, and a datum that writes "
                        "one of their paths replaces it", out, mine);
            adopted = 1;
        }
        else {
            dr_log (LOG_ERR, "output folder %s holds files and no datumrun "
                    "owner marker: it is not a datumrun output folder, and "
                    "%s will not write into it. Choose another output "
                    "folder, empty this one, or rerun with --adopt to take "
                    "it over", out, mine);
            goto done;
        }
    }
    if (write) {
        if (io_mkdirs (out, 0755) < 0) {
            dr_log (LOG_ERR, "output folder %s: cannot create: %s", out,
                    strerror (errno));
            goto done;
        }
        if (io_owner_write (out, &me, &err) < 0) {
            dr_log (LOG_ERR, "%s", err.text);
            goto done;
        }
    }
    rc = adopted;
done:
    free (up);
    io_owner_free (&me);
    io_owner_free (&other);
    return rc;
}

bool runner_output_has_files (const char *output)
{
    bool empty;
    return folder_state (output, &empty) == 0 && !empty;
}

/* ------------------------------------------------------ verification */

int runner_verify_skips (sched_plan_t *p, const io_manifest_t *m,
                         const char *output, size_t *nmissing,
                         size_t *nchanged)
{
    *nmissing = *nchanged = 0;
    int rootfd = open (output, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    for (size_t i = 0; i < p->ndatums; i++) {
        sched_datum_t *d = &p->datums[i];
        if (d->action != SCHED_SKIP || !d->outputs)
            continue;
        io_datum_rec_t view;
        const io_datum_rec_t *rec = io_manifest_find (m, &d->id, &view);
        if (!rec || !rec->noutputs)
            continue;
        bool missing = false, changed = false;
        for (size_t k = 0; k < rec->noutputs && !missing && !changed; k++) {
            struct stat st;
            if (rootfd < 0
                || io_stat_output_at (rootfd, rec->outputs[k], &st) < 0
                || !S_ISREG (st.st_mode)) {
                missing = true;
                break;
            }
            if (!rec->out_mtimes || rec->out_mtimes[k] == IO_MTIME_UNKNOWN)
                continue;   /* recorded before sizes were: exists is all */
            int64_t mt = (int64_t)st.st_mtim.tv_sec * 1000000000
                         + st.st_mtim.tv_nsec;
            changed = (uint64_t)st.st_size != rec->out_sizes[k]
                      || mt != rec->out_mtimes[k];
        }
        if (!missing && !changed)
            continue;
        d->action = SCHED_PROCESS;
        d->changed = 1;
        p->nskip--;
        p->nprocess++;
        if (missing)
            (*nmissing)++;
        else
            (*nchanged)++;
    }
    if (rootfd >= 0)
        close (rootfd);
    return 0;
}

bool runner_check_outputs (sched_plan_t *p, io_manifest_t *m,
                           const jobs_spec_t *spec)
{
    const char *prev = io_manifest_output (m);
    const char *out = spec->output;
    size_t nmissing = 0, nchanged = 0;
    bool moved = prev && strcmp (prev, out);
    if (moved) {
        /* The old folder is no longer this pipeline's: its marker goes,
         * its files stay. */
        io_owner_t old = { 0 };
        dr_error_t err = { { 0 } };
        if (io_owner_read (prev, &old, &err) == 1
            && !strcmp (old.pipeline, spec->name)
            && io_owner_same_state (&old, prev, spec->state_dir))
            io_owner_remove (prev);
        io_owner_free (&old);
    }
    runner_verify_skips (p, m, out, &nmissing, &nchanged);
    if (moved && nmissing + nchanged)
        dr_log (LOG_WARN, "output folder changed from %s to %s: %zu datums "
                "whose outputs are not in %s run again (%s keeps its files)",
                prev, out, nmissing + nchanged, out, prev);
    else if (nmissing + nchanged)
        dr_log (LOG_WARN, "%zu datums rebuilt: %zu with outputs missing, %zu "
                "with outputs changed since they were made (size or mtime)",
                nmissing + nchanged, nmissing, nchanged);
    if (io_manifest_set_output (m, out) < 0)
        abort ();
    return moved;
}

/* A file that was in the output folder before this job (its ctime says:
 * moving an output into place sets it) and that no recorded datum owns
 * gives way to the datum that writes its path. */
bool runner_replace_adopted (const io_manifest_t *m, const char *output,
                             const char *rel, int64_t job_start_ns)
{
    if (!rel || !io_path_is_clean (rel))
        return false;
    coord_owners_t *own = coord_owners_build (m);
    bool owned = !own || coord_owners_get (own, rel);
    coord_owners_destroy (own);
    if (owned)
        return false;
    int rootfd = open (output, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (rootfd < 0)
        return false;
    struct stat st;
    bool old = io_stat_output_at (rootfd, rel, &st) == 0
               && S_ISREG (st.st_mode)
               && (int64_t)st.st_ctim.tv_sec * 1000000000 + st.st_ctim.tv_nsec
                      < job_start_ns;
    bool done = old && io_remove_output_at (rootfd, rel) == 0;
    close (rootfd);
    if (done)
        dr_log (LOG_INFO, "file %s/%s, there before this job, replaced by a "
                "datum's output", output, rel);
    return done;
}
