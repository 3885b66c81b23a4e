/* version.c: which datumrun this is and which libraries it runs with.
 * The versions are asked of the libraries at run time (not taken from the
 * headers it was built with), so that `datumrun --version` tells what a
 * module system or a container actually loaded.
 */
#define _GNU_SOURCE
#include <hdf5.h>
#include <hwloc.h>
#include <jansson.h>
#include <pmix.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "runner/runner.h"

typedef struct versions {
    char mpi[512];
    char hdf5[32];
    char hwloc[32];
    char pmix[128];
} versions_t;

static void versions_get (versions_t *v)
{
    memset (v, 0, sizeof (*v));
    /* Allowed before MPI_Init: "Open MPI v4.1.4, package: ..." */
    proto_library_version (v->mpi, sizeof (v->mpi));
    if (!v->mpi[0])
        snprintf (v->mpi, sizeof (v->mpi), "unknown");
    v->mpi[strcspn (v->mpi, ",\n")] = '\0';
    unsigned maj = 0, min = 0, rel = 0;
    if (H5get_libversion (&maj, &min, &rel) >= 0)
        snprintf (v->hdf5, sizeof (v->hdf5), "%u.%u.%u", maj, min, rel);
    else
        snprintf (v->hdf5, sizeof (v->hdf5), "unknown");
    /* hwloc_get_api_version() gives the API (2.8 for hwloc 2.9); the
     * loaded library writes its release into the topology's root. */
    hwloc_topology_t topo;
    const char *hr = NULL;
    if (hwloc_topology_init (&topo) == 0) {
        if (hwloc_topology_load (topo) == 0)
            hr = hwloc_obj_get_info_by_name (hwloc_get_root_obj (topo),
                                             "hwlocVersion");
        snprintf (v->hwloc, sizeof (v->hwloc), "%s", hr ? hr : "");
        hwloc_topology_destroy (topo);
    }
    if (!v->hwloc[0]) {
        unsigned hv = hwloc_get_api_version ();
        snprintf (v->hwloc, sizeof (v->hwloc), "API %u.%u.%u", hv >> 16,
                  (hv >> 8) & 0xff, hv & 0xff);
    }
    /* "OpenPMIx 4.2.2 (PMIx Standard: 4.2, ...)": the name and number. */
    const char *pv = PMIx_Get_version ();
    snprintf (v->pmix, sizeof (v->pmix), "%s", pv ? pv : "unknown");
    v->pmix[strcspn (v->pmix, "(\n")] = '\0';
    size_t l = strlen (v->pmix);
    while (l && v->pmix[l - 1] == ' ')
        v->pmix[--l] = '\0';
}

void runner_print_versions (FILE *f)
{
    versions_t v;
    versions_get (&v);
    fprintf (f, "datumrun %s\n", DATUMRUN_VERSION);
    fprintf (f, "  MPI:   %s\n", v.mpi);
    fprintf (f, "  HDF5:  %s\n", v.hdf5);
    fprintf (f, "  hwloc: %s\n", v.hwloc);
    fprintf (f, "  PMIx:  %s\n", v.pmix);
}

void runner_versions_line (char *buf, size_t len)
{
    versions_t v;
    versions_get (&v);
    snprintf (buf, len, "datumrun %s, %s, HDF5 %s, hwloc %s, %s",
              DATUMRUN_VERSION, v.mpi, v.hdf5, v.hwloc, v.pmix);
}

json_t *runner_versions_json (void)
{
    versions_t v;
    versions_get (&v);
    json_t *o = json_pack ("{s:s, s:s, s:s, s:s, s:s}", "datumrun",
                           DATUMRUN_VERSION, "mpi", v.mpi, "hdf5", v.hdf5,
                           "hwloc", v.hwloc, "pmix", v.pmix);
    if (!o)
        abort ();
    return o;
}
