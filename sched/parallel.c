/* parallel.c: how many workers a spec gets (parallelism_spec). */
#include <math.h>

#include "sched/sched.h"

int sched_workers (const jobs_spec_t *spec, int nodes, int override)
{
    if (override > 0)
        return override;
    if (spec->par_constant > 0)
        return spec->par_constant;
    double c = spec->par_coefficient > 0 ? spec->par_coefficient : 1.0;
    if (nodes < 1)
        nodes = 1;
    double w = floor (c * (double)nodes);
    if (w < 1)
        return 1;
    if (w > JOBS_MAX_WORKERS)
        return JOBS_MAX_WORKERS;
    return (int)w;
}
