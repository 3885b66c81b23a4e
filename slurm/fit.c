/* fit.c: will a job of this size ever start on this partition?  Slurm
 * accepts jobs that can never run and leaves them pending for ever
 * (Reason=PartitionConfig), so `datumrun sbatch` checks first: against the
 * partition's nodes as sinfo describes them (a pure check that can say
 * which limit was hit and what would fit), and with `sbatch --test-only`
 * (Slurm's own verdict, for whatever the table does not model).
 */
#define _GNU_SOURCE
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>

#include "slurm/private.h"
#include "slurm/slurm.h"

typedef enum limit { LIMIT_NONE, LIMIT_CPU, LIMIT_GPU, LIMIT_MEM } limit_t;

/* How many workers of size sz one node can hold, and what limits it. */
static int node_capacity (const slurm_sbatch_size_t *sz, bool overcommit,
                          const slurm_node_info_t *n, limit_t *limit)
{
    int cap = INT_MAX;
    *limit = LIMIT_NONE;
    if (overcommit) {
        /* Allocated as if one task ran per node: one worker's CPUs. */
        if (n->cpus < sz->cpus_per_task) {
            *limit = LIMIT_CPU;
            return 0;
        }
    }
    else if (n->cpus / sz->cpus_per_task < cap) {
        cap = n->cpus / sz->cpus_per_task;
        *limit = LIMIT_CPU;
    }
    if (sz->gpus_per_task > 0 && n->gpus / sz->gpus_per_task < cap) {
        cap = n->gpus / sz->gpus_per_task;
        *limit = LIMIT_GPU;
    }
    if (sz->mem_mib > 0 && n->mem_mib / sz->mem_mib < cap) {
        long long m = n->mem_mib / sz->mem_mib;
        cap = m > INT_MAX ? INT_MAX : (int)m;
        *limit = LIMIT_MEM;
    }
    return cap;
}

static void describe_need (const slurm_sbatch_size_t *sz, int per_node,
                           limit_t limit, const slurm_node_info_t *best,
                           char *buf, size_t len)
{
    switch (limit) {
    case LIMIT_CPU:
        snprintf (buf, len, "%d worker%s x %d CPU%s need %d CPUs on a node, "
                  "the largest has %d", per_node, per_node == 1 ? "" : "s",
                  sz->cpus_per_task, sz->cpus_per_task == 1 ? "" : "s",
                  per_node * sz->cpus_per_task, best->cpus);
        break;
    case LIMIT_GPU:
        snprintf (buf, len, "%d worker%s x %d GPU%s need %d GPUs on a node, "
                  "the most any node has is %d", per_node,
                  per_node == 1 ? "" : "s", sz->gpus_per_task,
                  sz->gpus_per_task == 1 ? "" : "s",
                  per_node * sz->gpus_per_task, best->gpus);
        break;
    case LIMIT_MEM:
        snprintf (buf, len, "%d worker%s x %lld MiB need %lld MiB on a node, "
                  "the largest has %lld MiB", per_node,
                  per_node == 1 ? "" : "s", sz->mem_mib,
                  per_node * sz->mem_mib, best->mem_mib);
        break;
    case LIMIT_NONE:
        snprintf (buf, len, "it needs more nodes");
        break;
    }
}

int slurm_fit_check (const slurm_sbatch_size_t *sz, bool overcommit,
                     const slurm_node_info_t *nodes, size_t nnodes,
                     char *why, size_t len)
{
    if (!sz || (!nodes && nnodes) || !why || len == 0
        || sz->cpus_per_task < 1 || sz->workers < 1) {
        errno = EINVAL;
        return -1;
    }
    why[0] = '\0';
    if (nnodes == 0) {
        snprintf (why, len, "the partition has no nodes");
        return 0;
    }
    int *cap = calloc (nnodes, sizeof (int));
    if (!cap)
        return -1;
    size_t best = 0;
    limit_t best_limit = LIMIT_NONE;
    for (size_t i = 0; i < nnodes; i++) {
        limit_t l;
        cap[i] = node_capacity (sz, overcommit, &nodes[i], &l);
        if (cap[i] > cap[best] || i == 0) {
            best = i;
            best_limit = l;
        }
    }
    int kmax = cap[best] < sz->workers ? cap[best] : sz->workers;

    /* Does the request as written fit? */
    bool fits;
    int per_node = sz->nodes > 0 ? sz->tasks_per_node : 1;
    if (sz->nodes > 0) {
        size_t ok = 0;
        for (size_t i = 0; i < nnodes; i++)
            ok += cap[i] >= sz->tasks_per_node;
        fits = ok >= (size_t)sz->nodes;
    }
    else {
        long long sum = 0;
        for (size_t i = 0; i < nnodes; i++)
            sum += cap[i] < sz->workers ? cap[i] : sz->workers;
        fits = sum >= sz->workers;
    }
    if (fits) {
        free (cap);
        return 1;
    }

    /* Why not, and what would. */
    char need[256];
    size_t n = 0;
    if (sz->nodes > 0 && (size_t)sz->nodes > nnodes)
        n += snprintf (why + n, len - n, "%d nodes asked, the partition has "
                       "%zu", sz->nodes, nnodes);
    else {
        describe_need (sz, kmax > 0 ? per_node : 1,
                       best_limit, &nodes[best], need, sizeof (need));
        n += snprintf (why + n, len - n, "%s", need);
    }
    if (n >= len)
        n = len - 1;
    if (kmax == 0) {
        snprintf (why + n, len - n, "; not one worker fits on any node: "
                  "lower resource_requests%s", best_limit == LIMIT_CPU
                  && !overcommit ? " or add --overcommit" : "");
        free (cap);
        return 0;
    }
    /* The fewest nodes that hold every worker: the most per node. */
    int k_ok = 0, k_nodes = 0, most = 0;
    for (int k = kmax; k >= 1; k--) {
        size_t m = 0;
        for (size_t i = 0; i < nnodes; i++)
            m += cap[i] >= k;
        long long total = (long long)m * k;
        if (total > most)
            most = total > INT_MAX ? INT_MAX : (int)total;
        int need_nodes = (sz->workers + k - 1) / k;
        if ((size_t)need_nodes <= m) {
            k_ok = k;
            k_nodes = need_nodes;
            break;
        }
    }
    if (k_ok > 0)
        n += snprintf (why + n, len - n, "; would fit: --nodes %d (at most %d "
                       "worker%s per node)", k_nodes, k_ok,
                       k_ok == 1 ? "" : "s");
    else
        n += snprintf (why + n, len - n, "; would fit: at most %d workers "
                       "on this partition (-n %d, or a smaller coefficient)",
                       most, most);
    if (n < len && best_limit == LIMIT_CPU && !overcommit)
        snprintf (why + n, len - n, ", or --overcommit (workers share CPUs)");
    free (cap);
    return 0;
}

/* "gpu:4", "gpu:a100:2(S:0-1),gpu:t4:1", "(null)": the GPUs it counts. */
static int gres_gpus (const char *g)
{
    int total = 0;
    while (g && *g) {
        const char *end = strchr (g, ',');
        size_t l = end ? (size_t)(end - g) : strlen (g);
        if (l > 4 && !strncmp (g, "gpu:", 4)) {
            /* the count is the last ':' field, before any '(' */
            const char *p = g + l;
            const char *paren = memchr (g, '(', l);
            if (paren)
                p = paren;
            const char *c = p;
            while (c > g && c[-1] != ':')
                c--;
            total += atoi (c);
        }
        g = end ? end + 1 : NULL;
    }
    return total;
}

slurm_node_info_t *slurm_partition_nodes (const char *partition, size_t *n,
                                          char *name_out, size_t name_len,
                                          dr_error_t *err)
{
    char *argv[8];
    char out[16384], errt[1024];
    int status = 0, ac = 0;
    char *pbuf = NULL;

    argv[ac++] = "sinfo";
    argv[ac++] = "-h";
    argv[ac++] = "-N";
    argv[ac++] = "-o";
    argv[ac++] = "%N|%c|%m|%G|%P";
    if (partition) {
        if (asprintf (&pbuf, "--partition=%s", partition) < 0) {
            dr_errprintf (err, "out of memory");
            return NULL;
        }
        argv[ac++] = pbuf;
    }
    argv[ac] = NULL;
    int r = slurm__run (argv, NULL, out, sizeof (out), errt, sizeof (errt),
                        &status, err);
    free (pbuf);
    if (r < 0)
        return NULL;
    if (!WIFEXITED (status) || WEXITSTATUS (status) != 0) {
        errno = EIO;
        dr_errprintf (err, "sinfo failed: %s", errt[0] ? errt : "no output");
        return NULL;
    }
    size_t cap = 16, count = 0;
    slurm_node_info_t *v = calloc (cap, sizeof (*v));
    if (!v) {
        dr_errprintf (err, "out of memory");
        return NULL;
    }
    char *save = NULL;
    name_out[0] = '\0';
    for (char *line = strtok_r (out, "\n", &save); line;
         line = strtok_r (NULL, "\n", &save)) {
        char *f[5] = { 0 };
        char *s2 = NULL, *tok = strtok_r (line, "|", &s2);
        for (int i = 0; i < 5 && tok; i++, tok = strtok_r (NULL, "|", &s2))
            f[i] = tok;
        if (!f[4])
            continue;
        size_t pl = strlen (f[4]);
        bool is_default = pl > 0 && f[4][pl - 1] == '*';
        if (is_default)
            f[4][pl - 1] = '\0';
        /* Without a partition, the default one's nodes. */
        if (!partition && !is_default)
            continue;
        if (partition && strcmp (f[4], partition))
            continue;
        snprintf (name_out, name_len, "%s", f[4]);
        if (count == cap) {
            slurm_node_info_t *nv = realloc (v, 2 * cap * sizeof (*v));
            if (!nv) {
                free (v);
                dr_errprintf (err, "out of memory");
                return NULL;
            }
            v = nv;
            cap *= 2;
        }
        snprintf (v[count].name, sizeof (v[count].name), "%s", f[0]);
        v[count].cpus = atoi (f[1]);
        v[count].mem_mib = atoll (f[2]);
        v[count].gpus = gres_gpus (f[3]);
        count++;
    }
    if (count == 0) {
        free (v);
        errno = ENOENT;
        if (partition)
            dr_errprintf (err, "partition '%s' has no nodes (or does not "
                          "exist; sinfo lists the partitions)", partition);
        else
            dr_errprintf (err, "no default partition (name one with "
                          "--partition)");
        return NULL;
    }
    *n = count;
    return v;
}

int slurm_test_only (const char *script, char *verdict, size_t len,
                     dr_error_t *err)
{
    static char *const argv[] = { "sbatch", "--test-only", NULL };
    char out[1024], errt[2048];
    int status = 0;

    if (!script || !verdict || len == 0) {
        errno = EINVAL;
        return dr_errprintf (err, "sbatch --test-only: missing script");
    }
    if (slurm__run (argv, script, out, sizeof (out), errt, sizeof (errt),
                    &status, err) < 0)
        return -1;
    /* "sbatch: Job 64 to start at 2026-12-01T17:40:01 using 2 processors
     * on nodes drnode1 in partition debug", or "allocation failure: ...". */
    const char *t = errt[0] ? errt : out;
    if (!strncmp (t, "sbatch: ", 8))
        t += 8;
    snprintf (verdict, len, "%s", t);
    char *nl = strchr (verdict, '\n');
    if (nl && WIFEXITED (status) && WEXITSTATUS (status) == 0)
        *nl = '\0';
    return WIFEXITED (status) && WEXITSTATUS (status) == 0 ? 1 : 0;
}
