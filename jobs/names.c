/* names.c: file names whatever their bytes, in JSON and in tables.
 *
 * A path is bytes; JSON text is Unicode.  A name that is not UTF-8 is
 * written the way Python's surrogateescape reads it: each byte that is not
 * part of a valid UTF-8 sequence becomes the escape \udcXX (XX its value,
 * 80 to ff), so that `json.loads(s)[...].encode("utf-8", "surrogateescape")`
 * gives the bytes back, and every document stays valid JSON.
 *
 * jansson holds only valid UTF-8, so jobs_json_bytes() marks such a byte b
 * as the private-use character U+10FF00+b, which jobs_json_dumps() then
 * writes as \udcXX.  A name that really holds U+10FF80..U+10FFFF has those
 * characters' bytes escaped too, so the mapping stays exact both ways.
 */
#define _GNU_SOURCE
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "jobs/jobs.h"

/* Length of the valid UTF-8 sequence at s (1 to 4), or 0. */
static size_t utf8_len (const unsigned char *s)
{
    unsigned c = s[0];
    if (c < 0x80)
        return 1;
    if (c >= 0xc2 && c <= 0xdf)
        return (s[1] & 0xc0) == 0x80 ? 2 : 0;
    if (c >= 0xe0 && c <= 0xef) {
        unsigned lo = c == 0xe0 ? 0xa0 : 0x80, hi = c == 0xed ? 0x9f : 0xbf;
        return s[1] >= lo && s[1] <= hi && (s[2] & 0xc0) == 0x80 ? 3 : 0;
    }
    if (c >= 0xf0 && c <= 0xf4) {
        unsigned lo = c == 0xf0 ? 0x90 : 0x80, hi = c == 0xf4 ? 0x8f : 0xbf;
        return s[1] >= lo && s[1] <= hi && (s[2] & 0xc0) == 0x80
                       && (s[3] & 0xc0) == 0x80
                   ? 4
                   : 0;
    }
    return 0;
}

/* The marker's bytes: U+10FF00+b is F4 8F BE|BF xx. */
static bool is_marker (const unsigned char *s)
{
    return s[0] == 0xf4 && s[1] == 0x8f && (s[2] == 0xbe || s[2] == 0xbf)
           && (s[3] & 0xc0) == 0x80;
}

bool jobs_name_is_utf8 (const char *s)
{
    const unsigned char *p = (const unsigned char *)s;
    while (*p) {
        size_t n = utf8_len (p);
        if (!n || (n == 4 && is_marker (p)))
            return false;
        p += n;
    }
    return true;
}

json_t *jobs_json_bytes (const char *s)
{
    if (!s)
        s = "";
    if (jobs_name_is_utf8 (s))
        return json_string (s);
    size_t len = strlen (s);
    unsigned char *out = malloc (len * 4 + 1), *q = out;
    if (!out)
        return NULL;
    const unsigned char *p = (const unsigned char *)s;
    while (*p) {
        size_t n = utf8_len (p);
        if (n && !(n == 4 && is_marker (p))) {
            memcpy (q, p, n);
            q += n;
            p += n;
            continue;
        }
        /* n == 4 marker look-alike: escape its four bytes one by one. */
        size_t k = n ? 4 : 1;
        for (size_t i = 0; i < k; i++) {
            unsigned b = p[i];
            *q++ = 0xf4;
            *q++ = 0x8f;
            *q++ = b < 0xc0 ? 0xbe : 0xbf;
            *q++ = (unsigned char)(0x80 | (b & 0x3f));
        }
        p += k;
    }
    *q = '\0';
    json_t *j = json_string ((const char *)out);
    free (out);
    return j;
}

/* Rewrite markers in jansson's output as \udcXX escapes. */
static char *unmark (char *s)
{
    if (!s || !strstr (s, "\xf4\x8f"))
        return s;
    size_t len = strlen (s);
    /* A 4-byte marker becomes a 6-byte escape. */
    char *out = malloc (len / 4 * 6 + len + 1), *q = out;
    if (!out) {
        free (s);
        return NULL;
    }
    const unsigned char *p = (const unsigned char *)s;
    while (*p) {
        if (is_marker (p)) {
            unsigned b = (p[2] == 0xbe ? 0x80 : 0xc0) | (p[3] & 0x3f);
            q += sprintf (q, "\\udc%02x", b);
            p += 4;
        }
        else
            *q++ = (char)*p++;
    }
    *q = '\0';
    free (s);
    return out;
}

char *jobs_json_dumps (const json_t *j, size_t flags)
{
    return unmark (json_dumps (j, flags));
}

int jobs_json_dumpf (const json_t *j, FILE *f, size_t flags)
{
    char *s = jobs_json_dumps (j, flags);
    if (!s)
        return -1;
    int rc = fputs (s, f) < 0 ? -1 : 0;
    free (s);
    return rc;
}

char *jobs_name_escape (const char *s)
{
    if (!s)
        s = "";
    size_t len = strlen (s);
    char *out = malloc (len * 6 + 1), *q = out;
    if (!out)
        return NULL;
    const unsigned char *p = (const unsigned char *)s;
    while (*p) {
        size_t n = utf8_len (p);
        if (*p == '\\') {
            *q++ = '\\';
            *q++ = '\\';
            p++;
        }
        else if (*p == '\n' || *p == '\t' || *p == '\r') {
            *q++ = '\\';
            *q++ = *p == '\n' ? 'n' : *p == '\t' ? 't' : 'r';
            p++;
        }
        else if (*p < 0x20 || *p == 0x7f || !n) {
            q += sprintf (q, "\\x%02x", *p);
            p++;
        }
        else if (n == 2 && p[0] == 0xc2 && p[1] < 0xa0) {
            /* C1 controls (U+0080..U+009F) steer terminals too. */
            q += sprintf (q, "\\u%04x", p[1]);
            p += 2;
        }
        else {
            memcpy (q, p, n);
            q += n;
            p += n;
        }
    }
    *q = '\0';
    return out;
}
