/* gpu.c: the GPUs of this node that this job may use, and which of them
 * each worker gets.  The batch system's word comes first (Slurm's
 * SLURM_STEP_GPUS, then CUDA_VISIBLE_DEVICES or ROCR_VISIBLE_DEVICES as the
 * step was given them, then the job's SLURM_JOB_GPUS), then what hwloc
 * sees as GPU OS devices, then the NVIDIA driver's /proc/driver/nvidia/gpus.
 * Worker i of a node with N GPUs each gets GPUs [i N, (i + 1) N) of that
 * list; a worker past the last full set gets none (workers per node are
 * capped by GPUs / N).  The CPUs near a GPU come from hwloc or from the PCI
 * device's local_cpulist in sysfs, when known.
 */
#define _GNU_SOURCE
#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <hwloc.h>

#include "slurm/slurm.h"

void slurm_gpus_clear (slurm_gpus_t *g)
{
    if (g) {
        int saved = errno;
        free (g->v);
        memset (g, 0, sizeof (*g));
        errno = saved;
    }
}

static int gpus_add (slurm_gpus_t *g, const char *id, size_t idlen,
                     const char *cpus)
{
    if (idlen == 0)
        return 0;
    if (idlen >= sizeof (g->v[0].id)) {
        errno = ERANGE;
        return -1;
    }
    slurm_gpu_t *nv = realloc (g->v, (size_t)(g->n + 1) * sizeof (*nv));
    if (!nv)
        return -1;
    g->v = nv;
    memset (&g->v[g->n], 0, sizeof (g->v[g->n]));
    memcpy (g->v[g->n].id, id, idlen);
    if (cpus)
        snprintf (g->v[g->n].cpus, sizeof (g->v[g->n].cpus), "%s", cpus);
    g->n++;
    return 0;
}

int slurm_gpus_from_list (const char *list, const char *source,
                          slurm_gpus_t *g)
{
    if (!list || !g) {
        errno = EINVAL;
        return -1;
    }
    memset (g, 0, sizeof (*g));
    g->source = source;
    for (const char *p = list; *p;) {
        size_t l = strcspn (p, ",");
        /* Trim blanks; "NoDevFiles" is what Slurm writes for none. */
        const char *s = p;
        size_t n = l;
        while (n && (*s == ' ' || *s == '\t'))
            s++, n--;
        while (n && (s[n - 1] == ' ' || s[n - 1] == '\t' || s[n - 1] == '\n'))
            n--;
        if (!(n == 10 && !strncmp (s, "NoDevFiles", 10))
            && gpus_add (g, s, n, NULL) < 0) {
            slurm_gpus_clear (g);
            return -1;
        }
        p += l;
        if (*p == ',')
            p++;
    }
    return 0;
}

/* GPU OS devices hwloc knows (CUDA, NVML, RSMI, OpenCL backends), with the
 * CPUs of their non-I/O ancestor.  DRM devices ("card0") are left out:
 * any display adapter, virtual ones included, has one. */
static int gpus_from_hwloc (slurm_gpus_t *g)
{
    hwloc_topology_t topo;
    int found = 0;

    if (hwloc_topology_init (&topo) < 0)
        return -1;
    hwloc_topology_set_io_types_filter (topo, HWLOC_TYPE_FILTER_KEEP_IMPORTANT);
    if (hwloc_topology_load (topo) < 0) {
        hwloc_topology_destroy (topo);
        return -1;
    }
    static const char *const prefixes[] = { "cuda", "nvml", "rsmi", NULL };
    for (hwloc_obj_t o = NULL;
         (o = hwloc_get_next_osdev (topo, o));) {
        if (!o->name)
            continue;
        const char *prefix = NULL;
        for (int i = 0; prefixes[i] && !prefix; i++)
            if (!strncmp (o->name, prefixes[i], strlen (prefixes[i])))
                prefix = prefixes[i];
        /* One backend is enough: the first one seen names the GPUs. */
        if (!prefix
            || (found && strncmp (g->backend, prefix, sizeof (g->backend))))
            continue;
        snprintf (g->backend, sizeof (g->backend), "%s", prefix);
        char cpus[256] = "";
        hwloc_obj_t anc = hwloc_get_non_io_ancestor_obj (topo, o);
        if (anc && anc->cpuset && anc != hwloc_get_root_obj (topo))
            hwloc_bitmap_list_snprintf (cpus, sizeof (cpus), anc->cpuset);
        const char *idx = o->name + strlen (prefix);
        if (gpus_add (g, idx, strlen (idx), cpus[0] ? cpus : NULL) < 0) {
            hwloc_topology_destroy (topo);
            return -1;
        }
        found++;
    }
    hwloc_topology_destroy (topo);
    return 0;
}

static int cmp_str (const void *a, const void *b)
{
    return strcmp (*(char *const *)a, *(char *const *)b);
}

/* /proc/driver/nvidia/gpus/<PCI bus id>: the driver orders GPUs by bus id
 * (CUDA_DEVICE_ORDER=PCI_BUS_ID), so the sorted names are indices 0, 1 ...
 * Their CPUs: /sys/bus/pci/devices/<bus id>/local_cpulist. */
static int gpus_from_proc (const char *dir, slurm_gpus_t *g)
{
    DIR *d = opendir (dir);
    if (!d)
        return 0;
    char **names = NULL;
    size_t n = 0;
    struct dirent *e;
    while ((e = readdir (d))) {
        if (e->d_name[0] == '.')
            continue;
        char **nn = realloc (names, (n + 1) * sizeof (*nn));
        if (!nn || !(nn[n] = strdup (e->d_name))) {
            names = nn ? nn : names;
            break;
        }
        names = nn;
        n++;
    }
    closedir (d);
    if (n)
        qsort (names, n, sizeof (*names), cmp_str);
    for (size_t i = 0; i < n; i++) {
        char path[512], cpus[256] = "", id[24];
        snprintf (path, sizeof (path), "/sys/bus/pci/devices/%s/local_cpulist",
                  names[i]);
        FILE *f = fopen (path, "r");
        if (f) {
            if (fgets (cpus, sizeof (cpus), f))
                cpus[strcspn (cpus, "\n")] = '\0';
            fclose (f);
        }
        snprintf (id, sizeof (id), "%zu", i);
        gpus_add (g, id, strlen (id), cpus[0] ? cpus : NULL);
        free (names[i]);
    }
    free (names);
    return 0;
}

int slurm_gpus_discover (slurm_gpus_t *g)
{
    static const struct {
        const char *var, *source;
    } env[] = {
        { "SLURM_STEP_GPUS", "slurm (SLURM_STEP_GPUS)" },
        { "CUDA_VISIBLE_DEVICES", "CUDA_VISIBLE_DEVICES" },
        { "ROCR_VISIBLE_DEVICES", "ROCR_VISIBLE_DEVICES" },
        { "SLURM_JOB_GPUS", "slurm (SLURM_JOB_GPUS)" },
    };
    if (!g) {
        errno = EINVAL;
        return -1;
    }
    memset (g, 0, sizeof (*g));
    for (size_t i = 0; i < sizeof (env) / sizeof (env[0]); i++) {
        const char *v = getenv (env[i].var);
        if (v && *v) {
            if (slurm_gpus_from_list (v, env[i].source, g) < 0)
                return -1;
            if (!strcmp (env[i].var, "ROCR_VISIBLE_DEVICES"))
                snprintf (g->backend, sizeof (g->backend), "rsmi");
            return 0;
        }
    }
    /* Outside an allocation: the GPUs of the machine, with their CPUs. */
    if (gpus_from_hwloc (g) == 0 && g->n > 0) {
        g->source = "hwloc";
        return 0;
    }
    slurm_gpus_clear (g);
    gpus_from_proc ("/proc/driver/nvidia/gpus", g);
    g->source = g->n > 0 ? "/proc/driver/nvidia/gpus" : "none";
    return 0;
}

int slurm_gpus_for_worker (const slurm_gpus_t *g, int local_index,
                           int per_worker, char *ids, size_t ids_len,
                           char *cpus, size_t cpus_len)
{
    if (!g || local_index < 0 || per_worker < 1 || !ids || ids_len == 0) {
        errno = EINVAL;
        return -1;
    }
    ids[0] = '\0';
    if (cpus && cpus_len)
        cpus[0] = '\0';
    long first = (long)local_index * per_worker;
    if (first + per_worker > g->n) {
        errno = ENODEV;
        return -1;
    }
    size_t n = 0, c = 0;
    bool all_known = true;
    for (int i = 0; i < per_worker; i++) {
        const slurm_gpu_t *u = &g->v[first + i];
        int w = snprintf (ids + n, ids_len - n, "%s%s", i ? "," : "", u->id);
        if (w < 0 || (size_t)w >= ids_len - n) {
            errno = ERANGE;
            return -1;
        }
        n += (size_t)w;
        if (!u->cpus[0])
            all_known = false;
        else if (cpus && cpus_len && c < cpus_len) {
            int x = snprintf (cpus + c, cpus_len - c, "%s%s", c ? "," : "",
                              u->cpus);
            if (x > 0)
                c += (size_t)x;
        }
    }
    /* Affinity only when every one of the worker's GPUs has it. */
    if (!all_known && cpus && cpus_len)
        cpus[0] = '\0';
    return 0;
}
