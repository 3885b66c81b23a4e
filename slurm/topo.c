/* topo.c: the node's hardware seen through hwloc, and where each worker
 * runs.  Workers of one node are spread over NUMA nodes first (memory
 * bandwidth is per NUMA node and caches are per package), each getting
 * neighbouring cores inside one NUMA node so that a multi-threaded user
 * command keeps its threads close.  Binding is per process and inherited,
 * so binding a worker binds every command it starts.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <hwloc.h>

#include "slurm/slurm.h"

struct slurm_topo {
    hwloc_topology_t topo;
    int npackages, nnuma, npus;
    int ncores;
    hwloc_obj_t *cores;     /* cores (or PUs) in logical order */
    /* Cores grouped by NUMA node, NUMA nodes in spreading order (their
     * packages taken in turn): domain d holds by_domain[dom_start[d] ..
     * dom_start[d] + dom_len[d] - 1]. */
    hwloc_obj_t *by_domain;
    int ndomains;
    int *dom_start, *dom_len;
};

void slurm_topo_destroy (slurm_topo_t *t)
{
    if (t) {
        int saved = errno;
        if (t->topo)
            hwloc_topology_destroy (t->topo);
        free (t->cores);
        free (t->by_domain);
        free (t->dom_start);
        free (t->dom_len);
        free (t);
        errno = saved;
    }
}

static int count_type (hwloc_topology_t topo, hwloc_obj_type_t type)
{
    int n = hwloc_get_nbobjs_by_type (topo, type);
    return n > 0 ? n : 1;
}

/* Logical index of the package holding obj's first PU, 0 when unknown. */
static int package_of (hwloc_topology_t topo, hwloc_obj_t obj)
{
    int first = obj->cpuset ? hwloc_bitmap_first (obj->cpuset) : -1;
    if (first < 0)
        return 0;
    hwloc_obj_t pu = hwloc_get_pu_obj_by_os_index (topo, (unsigned)first);
    hwloc_obj_t pkg = pu ? hwloc_get_ancestor_obj_by_type (topo,
                                                           HWLOC_OBJ_PACKAGE,
                                                           pu)
                         : NULL;
    return pkg ? (int)pkg->logical_index : 0;
}

/* Index of the NUMA node whose cpuset holds the core, nnuma when none. */
static int numa_of (hwloc_topology_t topo, hwloc_obj_t core, int nnuma)
{
    for (int j = 0; j < nnuma; j++) {
        hwloc_obj_t numa = hwloc_get_obj_by_type (topo, HWLOC_OBJ_NUMANODE,
                                                  (unsigned)j);
        /* Memory-only NUMA nodes have an empty cpuset. */
        if (numa && !hwloc_bitmap_iszero (numa->cpuset)
            && hwloc_bitmap_isincluded (core->cpuset, numa->cpuset))
            return j;
    }
    return nnuma;
}

/* Fill cores, by_domain and the domain table from the loaded topology.
 * A domain is the cores sharing a NUMA node and a package (a NUMA node
 * spanning two packages makes two domains, so that packages alternate
 * even then).  Returns -1 with errno ENODEV (no cores) or ENOMEM. */
static int build_domains (slurm_topo_t *t)
{
    hwloc_topology_t topo = t->topo;
    hwloc_obj_type_t ctype = HWLOC_OBJ_CORE;
    int nnuma = hwloc_get_nbobjs_by_type (topo, HWLOC_OBJ_NUMANODE);
    int *dom_of = NULL, *dnuma = NULL, *dpkg = NULL, *order = NULL;
    int rc = -1;

    t->ncores = hwloc_get_nbobjs_by_type (topo, HWLOC_OBJ_CORE);
    if (t->ncores <= 0) {
        ctype = HWLOC_OBJ_PU;
        t->ncores = hwloc_get_nbobjs_by_type (topo, HWLOC_OBJ_PU);
    }
    if (t->ncores <= 0) {
        errno = ENODEV;
        return -1;
    }
    if (nnuma < 0)
        nnuma = 0;
    size_t n = (size_t)t->ncores;
    t->cores = calloc (n, sizeof (*t->cores));
    t->by_domain = calloc (n, sizeof (*t->by_domain));
    t->dom_start = calloc (n, sizeof (int));
    t->dom_len = calloc (n, sizeof (int));
    dom_of = calloc (n, sizeof (int));
    dnuma = calloc (n, sizeof (int));
    dpkg = calloc (n, sizeof (int));
    order = calloc (n, sizeof (int));
    if (!t->cores || !t->by_domain || !t->dom_start || !t->dom_len
        || !dom_of || !dnuma || !dpkg || !order) {
        errno = ENOMEM;
        goto done;
    }

    /* Domains in order of first appearance among the cores. */
    int ndom = 0, maxpkg = 0;
    for (int c = 0; c < t->ncores; c++) {
        hwloc_obj_t core = hwloc_get_obj_by_type (topo, ctype, (unsigned)c);
        int numa = numa_of (topo, core, nnuma);
        int pkg = package_of (topo, core);
        int d = 0;
        while (d < ndom && !(dnuma[d] == numa && dpkg[d] == pkg))
            d++;
        if (d == ndom) {
            dnuma[d] = numa;
            dpkg[d] = pkg;
            ndom++;
        }
        t->cores[c] = core;
        dom_of[c] = d;
        if (pkg > maxpkg)
            maxpkg = pkg;
    }

    /* Spreading order: round r takes the r-th domain of every package,
     * packages in logical order. */
    int nd = 0;
    for (int round = 0; nd < ndom; round++) {
        for (int p = 0; p <= maxpkg; p++) {
            int seen = 0;
            for (int d = 0; d < ndom; d++) {
                if (dpkg[d] == p && seen++ == round) {
                    order[nd++] = d;
                    break;
                }
            }
        }
    }
    t->ndomains = nd;

    /* Lay the cores out domain by domain, logical order inside each. */
    int pos = 0;
    for (int i = 0; i < nd; i++) {
        t->dom_start[i] = pos;
        for (int c = 0; c < t->ncores; c++)
            if (dom_of[c] == order[i])
                t->by_domain[pos++] = t->cores[c];
        t->dom_len[i] = pos - t->dom_start[i];
    }
    rc = 0;
done:
    free (dom_of);
    free (dnuma);
    free (dpkg);
    free (order);
    return rc;
}

static slurm_topo_t *topo_load (const char *synthetic, dr_error_t *err)
{
    slurm_topo_t *t = calloc (1, sizeof (*t));
    if (!t) {
        dr_errprintf (err, "hwloc topology: out of memory");
        return NULL;
    }
    if (hwloc_topology_init (&t->topo) < 0) {
        t->topo = NULL;
        dr_errprintf (err, "hwloc_topology_init: %s", strerror (errno));
        goto error;
    }
    if (synthetic && hwloc_topology_set_synthetic (t->topo, synthetic) < 0) {
        dr_errprintf (err, "hwloc synthetic topology \"%s\" is invalid",
                      synthetic);
        errno = EINVAL;
        goto error;
    }
    /* Only CPUs and memory matter here; skipping I/O discovery keeps the
     * load fast. */
    hwloc_topology_set_io_types_filter (t->topo, HWLOC_TYPE_FILTER_KEEP_NONE);
    if (hwloc_topology_load (t->topo) < 0) {
        dr_errprintf (err, "hwloc_topology_load: %s", strerror (errno));
        goto error;
    }
    t->npackages = count_type (t->topo, HWLOC_OBJ_PACKAGE);
    t->nnuma = count_type (t->topo, HWLOC_OBJ_NUMANODE);
    t->npus = count_type (t->topo, HWLOC_OBJ_PU);
    if (build_domains (t) < 0) {
        dr_errprintf (err, "hwloc topology: %s",
                      errno == ENODEV ? "no cores or PUs found"
                                      : "out of memory");
        goto error;
    }
    return t;
error:
    slurm_topo_destroy (t);
    return NULL;
}

slurm_topo_t *slurm_topo_load (dr_error_t *err)
{
    return topo_load (NULL, err);
}

slurm_topo_t *slurm_topo_load_synthetic (const char *desc, dr_error_t *err)
{
    if (!desc) {
        errno = EINVAL;
        dr_errprintf (err, "hwloc synthetic topology: no description");
        return NULL;
    }
    return topo_load (desc, err);
}

int slurm_topo_packages (const slurm_topo_t *t) { return t->npackages; }
int slurm_topo_numa_nodes (const slurm_topo_t *t) { return t->nnuma; }
int slurm_topo_cores (const slurm_topo_t *t) { return t->ncores; }
int slurm_topo_pus (const slurm_topo_t *t) { return t->npus; }

int slurm_topo_describe (const slurm_topo_t *t, char *buf, size_t len)
{
    return snprintf (buf, len, "%d package%s, %d NUMA node%s, %d core%s, "
                     "%d PU%s",
                     t->npackages, t->npackages == 1 ? "" : "s",
                     t->nnuma, t->nnuma == 1 ? "" : "s",
                     t->ncores, t->ncores == 1 ? "" : "s",
                     t->npus, t->npus == 1 ? "" : "s");
}

/* The union of the chosen cores' cpusets into set. */
static int choose (const slurm_topo_t *t, int index, int ncpus,
                   hwloc_bitmap_t set)
{
    if (index < 0 || ncpus < 1) {
        errno = EINVAL;
        return -1;
    }
    int k = ncpus < t->ncores ? ncpus : t->ncores;
    hwloc_obj_t *pick = NULL;

    /* Per-NUMA slots when every NUMA node fits at least one worker. */
    int maxchunks = 0, slots = 0;
    for (int d = 0; d < t->ndomains; d++) {
        int chunks = t->dom_len[d] / k;
        if (chunks == 0) {
            slots = 0;
            break;
        }
        slots += chunks;
        if (chunks > maxchunks)
            maxchunks = chunks;
    }
    if (slots > 0) {
        int s = index % slots;
        for (int round = 0; round < maxchunks && !pick; round++) {
            for (int d = 0; d < t->ndomains; d++) {
                if (t->dom_len[d] / k <= round)
                    continue;
                if (s-- == 0) {
                    pick = &t->by_domain[t->dom_start[d] + round * k];
                    break;
                }
            }
        }
    }
    else {
        /* Workers wider than a NUMA node: consecutive cores in logical
         * order, crossing NUMA nodes. */
        int s = index % (t->ncores / k);
        pick = &t->cores[s * k];
    }

    hwloc_bitmap_zero (set);
    for (int i = 0; i < k; i++)
        if (hwloc_bitmap_or (set, set, pick[i]->cpuset) < 0) {
            errno = ENOMEM;
            return -1;
        }
    return 0;
}

int slurm_topo_cpuset_for (const slurm_topo_t *t, int local_index, int ncpus,
                           char *list_out, size_t len)
{
    hwloc_bitmap_t set = hwloc_bitmap_alloc ();
    int rc = -1;

    if (!set) {
        errno = ENOMEM;
        return -1;
    }
    if (choose (t, local_index, ncpus, set) < 0)
        goto done;
    int n = hwloc_bitmap_list_snprintf (list_out, len, set);
    if (n < 0)
        goto done;
    if ((size_t)n >= len) {
        errno = ERANGE;
        goto done;
    }
    rc = 0;
done:
    hwloc_bitmap_free (set);
    return rc;
}

int slurm_topo_bind_self (const slurm_topo_t *t, int local_index, int ncpus,
                          dr_error_t *err)
{
    hwloc_bitmap_t set = NULL;
    char list[256] = "?";
    int rc = -1;

    if (!hwloc_topology_is_thissystem (t->topo)) {
        errno = EXDEV;
        return dr_errprintf (err, "cannot bind worker %d: the topology is "
                             "not this machine's", local_index);
    }
    if (!(set = hwloc_bitmap_alloc ())) {
        errno = ENOMEM;
        return dr_errprintf (err, "binding worker %d: out of memory",
                             local_index);
    }
    if (choose (t, local_index, ncpus, set) < 0) {
        dr_errprintf (err, "binding worker %d to %d CPUs: invalid "
                      "worker index or CPU count", local_index, ncpus);
        goto done;
    }
    hwloc_bitmap_list_snprintf (list, sizeof (list), set);
    if (hwloc_set_cpubind (t->topo, set, HWLOC_CPUBIND_PROCESS) < 0) {
        dr_errprintf (err, "binding worker %d to CPUs %s: %s", local_index,
                      list, strerror (errno));
        goto done;
    }
    rc = 0;
done:
    hwloc_bitmap_free (set);
    return rc;
}

int slurm_topo_bind_list (const slurm_topo_t *t, const char *list,
                          dr_error_t *err)
{
    hwloc_bitmap_t set = NULL;
    int rc = -1;

    if (!t || !list) {
        errno = EINVAL;
        return dr_errprintf (err, "binding: no topology or CPU list");
    }
    if (!hwloc_topology_is_thissystem (t->topo)) {
        errno = EXDEV;
        return dr_errprintf (err, "cannot bind to CPUs %s: the topology is "
                             "not this machine's", list);
    }
    if (!(set = hwloc_bitmap_alloc ())) {
        errno = ENOMEM;
        return dr_errprintf (err, "binding: out of memory");
    }
    if (hwloc_bitmap_list_sscanf (set, list) < 0 || hwloc_bitmap_iszero (set)) {
        errno = EINVAL;
        dr_errprintf (err, "binding: \"%s\" is not a CPU list", list);
        goto done;
    }
    /* Only CPUs this process may use (its cgroup). */
    hwloc_bitmap_and (set, set, hwloc_topology_get_allowed_cpuset (t->topo));
    if (hwloc_bitmap_iszero (set)) {
        errno = EINVAL;
        dr_errprintf (err, "binding: none of CPUs %s is allowed here", list);
        goto done;
    }
    if (hwloc_set_cpubind (t->topo, set, HWLOC_CPUBIND_PROCESS) < 0) {
        dr_errprintf (err, "binding to CPUs %s: %s", list, strerror (errno));
        goto done;
    }
    rc = 0;
done:
    hwloc_bitmap_free (set);
    return rc;
}
