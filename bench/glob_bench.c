/* glob_bench.c: time sched_glob_walk() over a directory tree.
 *
 *   glob_bench ROOT PATTERN [REPEAT]
 *
 * Prints one CSV line "pattern,matches,seconds" per run (the best of REPEAT
 * runs last), to compare with `find ROOT -mindepth 1 -maxdepth N`.
 */
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#include "sched/sched.h"

static int count (const char *relpath, bool is_dir,
                  const sched_glob_caps_t *caps, void *arg)
{
    (*(size_t *)arg)++;
    return 0;
}

static double now (void)
{
    struct timespec ts;
    clock_gettime (CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

int main (int argc, char **argv)
{
    dr_error_t err;
    if (argc < 3 || argc > 4) {
        fprintf (stderr, "usage: %s ROOT PATTERN [REPEAT]\n", argv[0]);
        return 2;
    }
    int repeat = argc == 4 ? atoi (argv[3]) : 1;
    sched_glob_t *g = sched_glob_compile (argv[2], &err);
    if (!g) {
        fprintf (stderr, "%s\n", err.text);
        return 2;
    }
    double best = -1;
    size_t n = 0;
    for (int i = 0; i < (repeat > 0 ? repeat : 1); i++) {
        n = 0;
        double t0 = now ();
        if (sched_glob_walk (g, argv[1], count, &n, &err) != 0) {
            fprintf (stderr, "%s\n", err.text);
            sched_glob_destroy (g);
            return 1;
        }
        double s = now () - t0;
        if (best < 0 || s < best)
            best = s;
        printf ("%s,%zu,%.3f\n", argv[2], n, s);
    }
    if (repeat > 1)
        printf ("%s,%zu,%.3f (best)\n", argv[2], n, best);
    sched_glob_destroy (g);
    return 0;
}
