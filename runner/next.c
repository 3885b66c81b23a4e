/* next.c: `datumrun next`, the shell front end of the batching protocol
 * (docs/batching.md): finish the current datum (as a failure with
 * --fail), wait for the next one, and print its variables as shell
 * assignments, so that
 *     while vars=$(datumrun next); do eval "$vars"; ...; done
 * is a batched command's loop.  It runs once per datum, so it does
 * nothing expensive: no MPI, no spec, one write and one read.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "runner/batch_server.h"
#include "runner/runner.h"

static bool shell_name (const char *n)
{
    if (!((*n >= 'A' && *n <= 'Z') || (*n >= 'a' && *n <= 'z') || *n == '_'))
        return false;
    for (n++; *n; n++)
        if (!((*n >= 'A' && *n <= 'Z') || (*n >= 'a' && *n <= 'z')
              || (*n >= '0' && *n <= '9') || *n == '_'))
            return false;
    return true;
}

const optparse_option_t runner_next_options[] = {
    { .name = "fail", .type = OPTPARSE_STR, .arg = "MESSAGE",
      .help = "finish the current datum as a failure, with MESSAGE" },
    { .name = "done", .type = OPTPARSE_FLAG,
      .help = "only finish the current datum: ask for no other (the "
              "command then exits; the worker starts it again if datums "
              "are left)" },
    OPTPARSE_END,
};

/* datumrun next [--fail MESSAGE] */
int cmd_next (optparse_t *p)
{
    const char *fail = optparse_str (p, "fail", NULL);
    dr_error_t err = { { 0 } };
    int fd = batch_client_fd (&err);
    if (fd < 0) {
        fprintf (stderr, "datumrun next: %s\n", err.text);
        return EXIT_USAGE;
    }
    /* The worker ignores a result when no datum is current (the first
     * call), so every call reports the one before it: both lines go in
     * one write. */
    char *msg = NULL;
    size_t off = 0, total;
    bool only_done = optparse_has (p, "done");
    if (asprintf (&msg, "%s%s\n%s", fail ? "done fail " : "done ok",
                  fail ? fail : "", only_done ? "" : "next\n") < 0)
        return EXIT_USAGE;
    total = strlen (msg);
    size_t tail = only_done ? 1 : 6;   /* the line breaks of the protocol */
    for (size_t i = 0; i + tail < total; i++)
        if (msg[i] == '\n' || msg[i] == '\r')
            msg[i] = ' ';   /* the message's own line breaks */
    while (off < total) {
        ssize_t w = write (fd, msg + off, total - off);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0)
            break;
        off += (size_t)w;
    }
    free (msg);
    if (off < total) {
        fprintf (stderr, "datumrun next: cannot write to the worker: %s\n",
                 strerror (errno));
        return EXIT_USAGE;
    }
    if (only_done)
        return EXIT_OK;
    batch_datum_t d;
    int rc = batch_client_read (fd, &d, &err);
    if (rc < 0) {
        fprintf (stderr, "datumrun next: %s\n", err.text);
        return EXIT_USAGE;
    }
    if (rc == 0)
        return EXIT_FAILED;
    for (size_t i = 0; i < d.n; i++) {
        if (strcmp (d.e[i].kind, "var") || !shell_name (d.e[i].name))
            continue;
        printf ("export %s=", d.e[i].name);
        batch_shell_quote (d.e[i].value, stdout);
        putchar ('\n');
    }
    batch_datum_free (&d);
    return fflush (stdout) == 0 ? EXIT_OK : EXIT_USAGE;
}
