/* fuzz_glob.c: libFuzzer harness for the glob compiler and matcher
 * (sched_glob_compile, sched_glob_match, sched_glob_expand).  The input is
 * "PATTERN NUL PATH [NUL TEMPLATE]": the pattern is compiled, and when it
 * compiles it is matched against the path with and without captures (the
 * answers must agree) and the template is expanded from the captures.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "sched/sched.h"

int LLVMFuzzerTestOneInput (const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput (const uint8_t *data, size_t size)
{
    char *buf = malloc (size + 2);
    if (!buf)
        return 0;
    memcpy (buf, data, size);
    buf[size] = buf[size + 1] = '\0';
    const char *pattern = buf;
    const char *path = buf + strlen (buf) + (strlen (buf) < size ? 1 : 0);
    const char *tmpl = NULL;
    size_t used = (size_t)(path - buf) + strlen (path);
    if (used < size)
        tmpl = path + strlen (path) + 1;

    dr_error_t err;
    sched_glob_t *g = sched_glob_compile (pattern, &err);
    if (g) {
        sched_glob_caps_t caps;
        bool m = sched_glob_match (g, path, &caps);
        if (sched_glob_match (g, path, NULL) != m)
            abort ();   /* captures must not change the answer */
        if (m) {
            size_t plen = strlen (path);
            for (int i = 0; i < caps.n; i++)
                if (caps.off[i] + caps.len[i] > plen)
                    abort ();   /* a capture outside the path */
            if (tmpl) {
                char *s = sched_glob_expand (tmpl, path, &caps, &err);
                free (s);
            }
        }
        sched_glob_destroy (g);
    }
    free (buf);
    return 0;
}
