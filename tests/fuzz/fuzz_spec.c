/* fuzz_spec.c: libFuzzer harness for the pipeline spec parser
 * (jobs_spec_parse).  The input is the spec's JSON text; the spec sits in
 * a temporary project that has the repos the unit tests' specs name
 * (data/words, data/b, data/c), so that valid specs reach validation.
 */
#define _GNU_SOURCE
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "jobs/jobs.h"

int LLVMFuzzerInitialize (int *argc, char ***argv);
int LLVMFuzzerTestOneInput (const uint8_t *data, size_t size);

static char *spec_path;

int LLVMFuzzerInitialize (int *argc, char ***argv)
{
    (void)argc;
    (void)argv;
    static char root[] = "/tmp/fuzz_spec.XXXXXX";
    if (!mkdtemp (root))
        abort ();
    const char *dirs[] = { "data", "data/words", "data/b", "data/c" };
    for (size_t i = 0; i < sizeof (dirs) / sizeof (dirs[0]); i++) {
        char *p = jobs_pathf ("%s/%s", root, dirs[i]);
        mkdir (p, 0755);
        free (p);
    }
    spec_path = jobs_pathf ("%s/spec.json", root);
    return 0;
}

int LLVMFuzzerTestOneInput (const uint8_t *data, size_t size)
{
    char *text = malloc (size + 1);
    if (!text)
        return 0;
    memcpy (text, data, size);
    text[size] = '\0';
    dr_error_t err;
    jobs_spec_t *spec = jobs_spec_parse (text, spec_path, NULL, &err);
    if (!spec && strlen (err.text) >= sizeof (err.text))
        abort ();   /* a message always ends inside its buffer */
    jobs_spec_destroy (spec);
    free (text);
    return 0;
}
