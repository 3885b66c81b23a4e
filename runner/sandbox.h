/* sandbox.h: a worker's reused sandbox (Pachyderm's /pfs layout), made
 * once per job and refreshed between datums (sandbox.c).
 *
 *   <sandbox>/pfs/<input>/<path>   a link to the repo's entry (or, for an
 *                                  empty_files input, an empty copy)
 *   <sandbox>/pfs/<input>          a link to the repo when the entry is the
 *                                  whole repo (glob "/")
 *   <sandbox>/pfs/out              empty when a datum starts
 *   <sandbox>/window/<i>           the output folders of a batched
 *                                  command's window (docs/batching.md):
 *                                  the i-th datum handed ahead writes
 *                                  there, as the first does in pfs/out
 *
 * The sandbox keeps a descriptor of each of its folders, so that the
 * per-datum work is a few system calls on them, with no path walks, no
 * folder opens and no allocation: one symlinkat per entry to link, one
 * renameat per entry to unlink (into a trash folder beside the sandbox,
 * which allocates no inode and frees none while the job runs), and one
 * rewind and read of each folder to check that the command left nothing
 * behind.  Where inputs are read-only (sandbox_ro.c, root), each
 * pfs/<input> folder is bound read-only over itself once, when first
 * needed, and stays so for the job: the worker writes the links through
 * the descriptor it opened before the bind, the command sees them through
 * the read-only mount.
 */
#ifndef DATUMRUN_RUNNER_SANDBOX_H
#define DATUMRUN_RUNNER_SANDBOX_H

#include <stdbool.h>

#include "runner/proto.h"

typedef struct sandbox sandbox_t;

/* Make the folder at path (and its pfs/out) if need be, and open it.
 * NULL with err (errno kept) when it cannot. */
sandbox_t *sandbox_open (const char *path, const jobs_spec_t *spec,
                         dr_error_t *err);
/* Undo the read-only binds and close the descriptors; the folder stays.
 * Accepts NULL. */
void sandbox_close (sandbox_t *s);

/* Give d its entries.  links false: only what the command cannot find at
 * the record's absolute paths (empty_files copies); a batched command that
 * asked with "next paths" reads its inputs there.  May be called again
 * for the same datum (err_cmd wants the links): entries already there are
 * kept.  Returns 0, or -1 with err (errno kept, ENOSPC for a full disk). */
int sandbox_enter (sandbox_t *s, const wdatum_t *d, bool links,
                   dr_error_t *err);
/* The output folder of window slot `slot` (0: pfs/out), made and opened
 * on first use; NULL with err when it cannot be.  Valid until
 * sandbox_close. */
const char *sandbox_out_dir (sandbox_t *s, unsigned slot, dr_error_t *err);
/* 1 when that folder holds nothing, 0 when it holds something, -1 when it
 * cannot tell (an error, or it is no longer the folder the sandbox made:
 * scan it by path). */
int sandbox_out_empty (sandbox_t *s, unsigned slot);
/* Back to the empty layout after d: its entries go, and whatever else the
 * command left anywhere in the sandbox (window folders included) is
 * removed. */
void sandbox_leave (sandbox_t *s, const wdatum_t *d);
/* Within a window, after one of its datums: only that datum's output
 * folder is emptied; the rest of the sandbox is the command's until the
 * window's last datum ends (then sandbox_leave). */
void sandbox_leave_slot (sandbox_t *s, unsigned slot);

#endif /* DATUMRUN_RUNNER_SANDBOX_H */
