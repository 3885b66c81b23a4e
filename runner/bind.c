/* bind.c: a worker takes its GPUs and binds itself to its cores before it
 * runs anything, so that every command it starts inherits both.  The
 * worker's index among the workers on its node picks the cores
 * (slurm_topo_cpuset_for: resource_requests.cpu cores each, spread over
 * NUMA nodes) and its resource_requests.gpu GPUs (slurm_gpus_for_worker);
 * when the CPUs near those GPUs are known the worker binds there instead. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "runner/runner.h"
#include "slurm/slurm.h"

void runner_bind_worker (const jobs_spec_t *spec, int local_index,
                         const char *near_cpus)
{
    dr_error_t err = { { 0 } };
    slurm_topo_t *t = slurm_topo_load (&err);
    if (t && near_cpus && near_cpus[0]) {
        /* Next to its GPUs: the CPUs hwloc (or sysfs) puts near them. */
        if (slurm_topo_bind_list (t, near_cpus, &err) == 0) {
            dr_log (LOG_DEBUG, "worker %d bound to CPUs %s, near its GPUs",
                    local_index, near_cpus);
            slurm_topo_destroy (t);
            return;
        }
        dr_log (LOG_WARN, "cannot bind next to the GPUs: %s", err.text);
    }
    if (!t || slurm_topo_bind_self (t, local_index, spec->cpu, &err) < 0)
        dr_log (LOG_WARN, "cannot bind to cores (running unbound): %s",
                err.text);
    else if (dr_log_level >= LOG_DEBUG) {
        char list[256];
        slurm_topo_cpuset_for (t, local_index, spec->cpu, list,
                               sizeof (list));
        dr_log (LOG_DEBUG, "worker %d bound to CPUs %s", local_index, list);
    }
    slurm_topo_destroy (t);
}

int runner_gpu_setup (const jobs_spec_t *spec, int local_index,
                      char *near_cpus, size_t len)
{
    if (near_cpus && len)
        near_cpus[0] = '\0';
    if (spec->gpu <= 0)
        return 1;
    slurm_gpus_t g;
    if (slurm_gpus_discover (&g) < 0) {
        dr_log (LOG_ERR, "finding this node's GPUs: %s", strerror (errno));
        return 0;
    }
    char ids[1024];
    if (slurm_gpus_for_worker (&g, local_index, spec->gpu, ids, sizeof (ids),
                               near_cpus, len) < 0) {
        dr_log (LOG_WARN, "worker %d of this node stays idle: %d GPU%s each "
                "(resource_requests.gpu) and the node has %d (from %s)",
                local_index, spec->gpu, spec->gpu == 1 ? "" : "s", g.n,
                g.source);
        slurm_gpus_clear (&g);
        return 0;
    }
    /* The commands inherit the worker's environment (exec_env_base). */
    setenv ("CUDA_VISIBLE_DEVICES", ids, 1);
    setenv ("CUDA_DEVICE_ORDER", "PCI_BUS_ID", 1);
    bool amd = (spec->gpu_type && !strcasecmp (spec->gpu_type, "amd"))
               || !strcmp (g.backend, "rsmi");
    if (amd) {
        setenv ("ROCR_VISIBLE_DEVICES", ids, 1);
        setenv ("HIP_VISIBLE_DEVICES", ids, 1);
    }
    dr_log (LOG_DEBUG, "worker %d: GPUs %s of %d (from %s)", local_index, ids,
            g.n, g.source);
    slurm_gpus_clear (&g);
    return 1;
}
