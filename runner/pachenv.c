/* pachenv.c: Pachyderm's environment variables beside datumrun's, so that
 * a command written for a Pachyderm pipeline runs unchanged.  Each has the
 * value of its datumrun counterpart; the table is in docs/spec.md.
 *
 *   PACH_JOB_ID, PACH_OUTPUT_COMMIT_ID   the job ID ($DATUMRUN_JOB_ID): a
 *                                        job makes one output "commit"
 *   PPS_PIPELINE_NAME                    $DATUMRUN_PIPELINE
 *   PPS_SPEC_COMMIT                      the pipeline hash (its version)
 *   PACH_DATUM_ID                        $DATUMRUN_DATUM_ID
 *   PACH_DATUM_<input>_JOIN_ON           that input's join_on key
 *   PACH_DATUM_<input>_GROUP_BY          that input's group_by key
 *
 * The per-input keys are each input's own, from its first entry in the
 * datum: the worker matches the entry's path against the input's glob and
 * expands the templates again, as the plan did, so that nothing more goes
 * over the wire.
 */
#define _GNU_SOURCE
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "runner/exec.h"
#include "sched/sched.h"

void exec_env_pach_base (exec_env_t *e, const jobs_spec_t *spec,
                         const char *job_id)
{
    io_hash_t ph;
    char hex[33];
    sched_pipeline_hash (spec, &ph);
    io_hash_hex (&ph, hex);
    exec_env_setf (e, "PACH_JOB_ID", job_id);
    exec_env_setf (e, "PACH_OUTPUT_COMMIT_ID", job_id);
    exec_env_setf (e, "PPS_PIPELINE_NAME", spec->name);
    exec_env_setf (e, "PPS_SPEC_COMMIT", hex);
}

/* PACH_DATUM_<name>_<what>=<template expanded against relpath>. */
static void push_key (exec_env_t *e, const jobs_input_t *in,
                      const sched_glob_t *g, const char *relpath,
                      const char *tmpl, const char *what)
{
    sched_glob_caps_t caps;
    if (!tmpl || !sched_glob_match (g, relpath, &caps))
        return;
    char *v = sched_glob_expand (tmpl, relpath, &caps, NULL);
    char *kv;
    if (v && asprintf (&kv, "PACH_DATUM_%s_%s=%s", in->name, what, v) >= 0)
        exec__env_push (e, kv);
    free (v);
}

void exec_env_pach_datum (exec_env_t *e, const jobs_spec_t *spec,
                          const wdatum_t *d, const char *idhex)
{
    char *kv;
    if (asprintf (&kv, "PACH_DATUM_ID=%s", idhex) < 0)
        abort ();
    exec__env_push (e, kv);
    for (uint32_t i = 0; i < d->nentries; i++) {
        const jobs_input_t *in = spec->pfs[d->input[i]];
        bool first = true;
        for (uint32_t j = 0; j < i && first; j++)
            first = strcmp (spec->pfs[d->input[j]]->name, in->name) != 0;
        if (!first || (!in->join_on && !in->group_by))
            continue;
        sched_glob_t *g = sched_glob_compile (in->glob, NULL);
        if (!g)
            continue;
        push_key (e, in, g, d->path[i], in->join_on, "JOIN_ON");
        push_key (e, in, g, d->path[i], in->group_by, "GROUP_BY");
        sched_glob_destroy (g);
    }
}

/* vi: ts=4 sw=4 expandtab
 */
