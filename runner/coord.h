/* coord.h: rank 0's private helpers (owners.c). */
#ifndef DATUMRUN_RUNNER_COORD_H
#define DATUMRUN_RUNNER_COORD_H

#include "io/io.h"

/* Which datum owns each output path, built from the manifest's records
 * when a collision or a crashed run needs it.  The map borrows the
 * manifest's strings: do not change the manifest while it lives. */
typedef struct coord_owners coord_owners_t;

coord_owners_t *coord_owners_build (const io_manifest_t *m);
const io_hash_t *coord_owners_get (const coord_owners_t *o, const char *path);
void coord_owners_destroy (coord_owners_t *o);

#endif
