/* prepare.c: rank 0 before dispatch.  Closes jobs an earlier crash left
 * "running", moves an unowned output folder aside, removes the unrecorded
 * outputs of datums a crash interrupted, and the outputs of changed and
 * vanished datums, so that the job starts from a state a from-scratch run
 * would give.
 */
#define _GNU_SOURCE
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <unistd.h>

#include "runner/coord.h"
#include "runner/runner.h"

/* Outputs that a crashed run moved into place but never recorded: remove
 * them unless a recorded datum owns them. */
int coord_clean_inflight (coord_ctx_t *c)
{
    char *dir = jobs_sd_path (c->spec->state_dir, JOBS_SD_INFLIGHT);
    DIR *top = dir ? opendir (dir) : NULL;
    if (!top) {
        free (dir);
        return 0;
    }
    coord_owners_t *own = NULL;
    struct dirent *de;
    size_t removed = 0;
    while ((de = readdir (top))) {
        if (de->d_name[0] == '.')
            continue;
        char *sub = jobs_pathf ("%s/%s", dir, de->d_name);
        DIR *d = sub ? opendir (sub) : NULL;
        if (!d) {
            free (sub);
            continue;
        }
        struct dirent *fe;
        while ((fe = readdir (d))) {
            io_hash_t id;
            if (io_hash_from_hex (fe->d_name, &id) < 0)
                continue;
            io_datum_rec_t view;
            const io_datum_rec_t *rec = io_manifest_find (c->m, &id, &view);
            if (rec && rec->state == JOBS_DATUM_SUCCESS)
                continue;   /* it was recorded: its outputs are owned */
            char *file = jobs_pathf ("%s/%s", sub, fe->d_name);
            FILE *f = file ? fopen (file, "r") : NULL;
            free (file);
            if (!f)
                continue;
            if (!own && !(own = coord_owners_build (c->m)))
                abort ();
            char *line = NULL;
            size_t cap = 0;
            ssize_t n;
            while ((n = getdelim (&line, &cap, '\0', f)) > 0) {
                if (!io_path_is_clean (line)) {
                    /* Never from a worker of ours: a forged list. */
                    dr_log (LOG_WARN, "inflight list %s/%s names '%s', "
                            "which is not a path inside the output folder: "
                            "ignored", sub, fe->d_name, line);
                    continue;
                }
                if (!coord_owners_get (own, line)) {
                    io_remove_output (c->spec->output, line);
                    removed++;
                }
            }
            free (line);
            fclose (f);
        }
        closedir (d);
        free (sub);
    }
    closedir (top);
    coord_owners_destroy (own);
    if (removed)
        dr_log (LOG_INFO, "removed %zu unrecorded outputs of datums "
                "interrupted in an earlier run", removed);
    int rc = io_remove_tree (dir);
    free (dir);
    return rc;
}

/* Recorded outputs are removed beneath the output folder only; when the
 * output folder changed they are in the old one, which keeps them. */
static void remove_outputs (coord_ctx_t *c, const io_datum_rec_t *rec)
{
    if (c->output_moved)
        return;
    for (size_t i = 0; i < rec->noutputs; i++) {
        if (!io_path_is_clean (rec->outputs[i]))
            dr_log (LOG_WARN, "manifest names output '%s', which is not a "
                    "path inside the output folder: not removed",
                    rec->outputs[i]);
        else if (io_remove_output (c->spec->output, rec->outputs[i]) < 0)
            dr_log (LOG_WARN, "cannot remove %s/%s: %s", c->spec->output,
                    rec->outputs[i], strerror (errno));
    }
}

/* Changed datums lose their old outputs; datums that left the input lose
 * theirs and their record.  Both are invalidated in the journal (and
 * synced) before any file goes, so that a crash in between cannot leave a
 * "success" whose files are gone; a vanished datum is forgotten only after
 * its files are, so that none is left that no record names. */
int coord_prepare_outputs (coord_ctx_t *c, dr_error_t *err)
{
    size_t nchanged = 0, ngone = 0;
    /* Collect the vanished first: forgetting changes the manifest. */
    size_t n = io_manifest_ndatums (c->m);
    io_hash_t *gone = malloc ((n ? n : 1) * sizeof (*gone));
    if (!gone)
        return dr_errprintf (err, "out of memory");
    for (size_t i = 0; i < n; i++) {
        io_datum_rec_t view;
        const io_datum_rec_t *rec = io_manifest_datum (c->m, i, &view);
        if (sched_plan_find (c->p, &rec->id) < 0)
            gone[ngone++] = rec->id;
    }
    for (size_t i = 0; i < c->p->ndatums; i++) {
        sched_datum_t *d = &c->p->datums[i];
        if (d->action == SCHED_PROCESS && d->changed) {
            if (io_manifest_invalidate (c->m, &d->id, err) < 0)
                goto error;
            nchanged++;
        }
    }
    for (size_t i = 0; i < ngone; i++) {
        io_datum_rec_t view;
        const io_datum_rec_t *rec = io_manifest_find (c->m, &gone[i], &view);
        if (rec && rec->state == JOBS_DATUM_SUCCESS && rec->noutputs
            && io_manifest_invalidate (c->m, &gone[i], err) < 0)
            goto error;
    }
    if ((nchanged || ngone) && io_manifest_sync (c->m, err) < 0)
        goto error;
    for (size_t i = 0; i < c->p->ndatums; i++) {
        sched_datum_t *d = &c->p->datums[i];
        if (d->action == SCHED_PROCESS && d->changed) {
            io_datum_rec_t view;
            const io_datum_rec_t *rec = io_manifest_find (c->m, &d->id, &view);
            if (rec)
                remove_outputs (c, rec);
        }
    }
    for (size_t i = 0; i < ngone; i++) {
        io_datum_rec_t view;
        const io_datum_rec_t *rec = io_manifest_find (c->m, &gone[i], &view);
        if (!rec)
            continue;
        remove_outputs (c, rec);
        if (io_manifest_forget (c->m, &gone[i], err) < 0)
            goto error;
    }
    free (gone);
    if (nchanged || ngone)
        dr_log (LOG_INFO, "%zu changed datums' outputs removed, %zu datums "
                "gone from the input", nchanged, ngone);
    return 0;
error:
    free (gone);
    return -1;
}

/* A job still "running" in a manifest whose lock we hold was killed (kill
 * -9, a lost node) before it could say so: record it as killed, with the
 * counts its datums' records show, so that list-job does not show it
 * running forever. */
int coord_close_dead_jobs (coord_ctx_t *c, dr_error_t *err)
{
    for (size_t i = 0; i < io_manifest_njobs (c->m); i++) {
        jobs_record_t dead = *io_manifest_job (c->m, i);
        if (dead.state != JOBS_STATE_RUNNING)
            continue;
        io_hash_t jid;
        io_hash_from_hex (dead.id, &jid);
        int64_t end = dead.start_ns;
        dead.processed = dead.failed = dead.recovered = 0;
        dead.bytes_downloaded = dead.bytes_uploaded = 0;
        for (size_t k = 0; k < io_manifest_ndatums (c->m); k++) {
            io_datum_rec_t view;
            const io_datum_rec_t *r = io_manifest_datum (c->m, k, &view);
            if (!io_hash_eq (&r->proc_job, &jid))
                continue;
            if (r->state == JOBS_DATUM_SUCCESS) {
                dead.processed++;
                dead.bytes_downloaded += r->bytes_in;
                dead.bytes_uploaded += r->bytes_out;
            }
            else if (r->state == JOBS_DATUM_FAILED)
                dead.failed++;
            else if (r->state == JOBS_DATUM_RECOVERED)
                dead.recovered++;
            int64_t e = r->start_ns + (int64_t)(r->duration_s * 1e9);
            if (e > end)
                end = e;
        }
        dead.state = JOBS_STATE_KILLED;
        dead.duration_s = (double)(end - dead.start_ns) * 1e-9;
        if (io_manifest_job_end (c->m, &dead, err) < 0)
            return -1;
        dr_log (LOG_INFO, "job %.8s was killed before it ended; %llu of its "
                "datums had finished", dead.id,
                (unsigned long long)(dead.processed + dead.failed
                                     + dead.recovered));
    }
    return 0;
}

void coord_new_job_id (char out[33])
{
    io_hash_t h;
    if (getrandom (h.b, sizeof (h.b), 0) != (ssize_t)sizeof (h.b)) {
        int64_t t = dr_realtime_ns ();
        pid_t pid = getpid ();
        memcpy (h.b, &t, 8);
        memcpy (h.b + 8, &pid, sizeof (pid));
    }
    io_hash_hex (&h, out);
}

