/* test_names.c: file names whatever their bytes (jobs/names.c): JSON with
 * \udcXX escapes for stray bytes (Python's surrogateescape), valid UTF-8
 * and, without escapes, parsed back with jansson; table escapes for
 * control characters.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <jansson.h>

#include "jobs/jobs.h"

static const struct {
    const char *bytes;
    const char *json;       /* jobs_json_dumps of the string */
} json_cases[] = {
    { "plain.txt", "\"plain.txt\"" },
    { "caf\xc3\xa9", "\"caf\xc3\xa9\"" },
    { "bad\xff", "\"bad\\udcff\"" },
    { "\x80\xc0z", "\"\\udc80\\udcc0z\"" },
    { "nl\nx", "\"nl\\nx\"" },
    { "esc\x1b[31m", "\"esc\\u001B[31m\"" },
    { "\xed\xa0\x80", "\"\\udced\\udca0\\udc80\"" },        /* a surrogate */
    { "\xc0\xaf", "\"\\udcc0\\udcaf\"" },                     /* overlong */
    { "\xf4\x8f\xbf\xbf", "\"\\udcf4\\udc8f\\udcbf\\udcbf\"" }, /* marker */
    { "\xf0\x9f\x98\x80", "\"\xf0\x9f\x98\x80\"" },           /* emoji */
};

static void test_json_bytes (void **state)
{
    for (size_t i = 0; i < sizeof (json_cases) / sizeof (json_cases[0]); i++) {
        json_t *j = jobs_json_bytes (json_cases[i].bytes);
        assert_non_null (j);
        char *s = jobs_json_dumps (j, JSON_ENCODE_ANY | JSON_COMPACT);
        assert_non_null (s);
        if (strcmp (s, json_cases[i].json))
            fail_msg ("case %zu: got %s, want %s", i, s, json_cases[i].json);
        /* Whatever the bytes, the text is valid UTF-8 (jansson refuses
         * lone surrogates when reading; Python's json takes them, and the
         * bats tests read these documents with it). */
        assert_true (jobs_name_is_utf8 (s));
        if (!strstr (s, "\\udc")) {
            json_error_t e;
            json_t *back = json_loads (s, JSON_DECODE_ANY, &e);
            if (!back)
                fail_msg ("case %zu: %s is not JSON: %s", i, s, e.text);
            assert_string_equal (json_string_value (back),
                                 json_cases[i].bytes);
            json_decref (back);
        }
        free (s);
        json_decref (j);
    }
}

static void test_escape (void **state)
{
    static const struct {
        const char *in, *out;
    } cases[] = {
        { "a/b.txt", "a/b.txt" },
        { "new\nline", "new\\nline" },
        { "tab\there", "tab\\there" },
        { "\x1b[2J", "\\x1b[2J" },
        { "back\\slash", "back\\\\slash" },
        { "bad\xff", "bad\\xff" },
        { "c1\xc2\x9b", "c1\\u009b" },
        { "caf\xc3\xa9", "caf\xc3\xa9" },
        { "del\x7f", "del\\x7f" },
    };
    for (size_t i = 0; i < sizeof (cases) / sizeof (cases[0]); i++) {
        char *e = jobs_name_escape (cases[i].in);
        assert_non_null (e);
        assert_string_equal (e, cases[i].out);
        free (e);
    }
}

int main (void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test (test_json_bytes),
        cmocka_unit_test (test_escape),
    };
    return cmocka_run_group_tests (tests, NULL, NULL);
}
