/* placeholder.c: removed when the slurm library lands. */
#include "jobs/jobs.h"
