/* test_batch_server.c: the batching protocol (runner/batch_server.c and
 * runner/batch_client.c) over a real socketpair: requests parsed across
 * partial writes, records with hostile values read back byte for byte,
 * bad lines and bad names refused, end of file, and a full socket that
 * leaves the record waiting instead of blocking the worker.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <poll.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>

#include "runner/batch_server.h"

static void put (int fd, const char *s)
{
    assert_int_equal (write (fd, s, strlen (s)), (ssize_t)strlen (s));
}

static void test_requests (void **state)
{
    int cfd;
    batch_server_t *s = batch_server_create (&cfd);
    const char *text;
    assert_non_null (s);
    assert_int_equal (batch_server_next (s, &text), BATCH_REQ_NONE);
    /* Lines split across writes, several lines in one write. */
    put (cfd, "ne");
    assert_int_equal (batch_server_next (s, &text), BATCH_REQ_NONE);
    put (cfd, "xt\ndone ok\ndone fail it broke: x\r\ndone fail\n");
    assert_int_equal (batch_server_next (s, &text), BATCH_REQ_NEXT);
    assert_int_equal (batch_server_next (s, &text), BATCH_REQ_OK);
    assert_int_equal (batch_server_next (s, &text), BATCH_REQ_FAIL);
    assert_string_equal (text, "it broke: x");
    assert_int_equal (batch_server_next (s, &text), BATCH_REQ_FAIL);
    assert_string_equal (text, "");
    assert_int_equal (batch_server_next (s, &text), BATCH_REQ_NONE);
    /* Not the protocol: shown shortened, control characters masked. */
    put (cfd, "nextt\ndone okay\n\033[31mhello\n");
    assert_int_equal (batch_server_next (s, &text), BATCH_REQ_BAD);
    assert_string_equal (text, "nextt");
    assert_int_equal (batch_server_next (s, &text), BATCH_REQ_BAD);
    assert_int_equal (batch_server_next (s, &text), BATCH_REQ_BAD);
    assert_string_equal (text, "?[31mhello");
    /* An endless line is refused once, not buffered forever. */
    char *big = malloc (3 * BATCH_LINE_MAX);
    memset (big, 'x', 3 * BATCH_LINE_MAX - 1);
    big[3 * BATCH_LINE_MAX - 1] = '\0';
    put (cfd, big);
    free (big);
    batch_req_t r;
    int bad = 0;
    while ((r = batch_server_next (s, &text)) != BATCH_REQ_NONE) {
        assert_int_equal (r, BATCH_REQ_BAD);
        bad++;
    }
    assert_true (bad >= 1);
    /* The end: an unterminated last line is not a request. */
    put (cfd, "\nnext\ndone o");
    close (cfd);
    while ((r = batch_server_next (s, &text)) == BATCH_REQ_BAD)
        ;
    assert_int_equal (r, BATCH_REQ_NEXT);
    assert_int_equal (batch_server_next (s, &text), BATCH_REQ_EOF);
    assert_int_equal (batch_server_next (s, &text), BATCH_REQ_EOF);
    batch_server_destroy (s);
}

/* "next OPTION...": the options reach the caller.  The worker's two
 * steps: batch_server_read() reads what the socket holds, and
 * batch_server_next_read() parses only that, never reading. */
static void test_next_options_read (void **state)
{
    int cfd;
    batch_server_t *s = batch_server_create (&cfd);
    const char *text;
    assert_non_null (s);
    put (cfd, "next paths\nnext\nnext  paths x\nnextpaths\n");
    assert_int_equal (batch_server_next_read (s, &text), BATCH_REQ_NONE);
    assert_int_equal (batch_server_read (s), 1);
    assert_int_equal (batch_server_next_read (s, &text), BATCH_REQ_NEXT);
    assert_string_equal (text, "paths");
    assert_int_equal (batch_server_next_read (s, &text), BATCH_REQ_NEXT);
    assert_string_equal (text, "");
    assert_int_equal (batch_server_next_read (s, &text), BATCH_REQ_NEXT);
    assert_string_equal (text, " paths x");
    assert_int_equal (batch_server_next_read (s, &text), BATCH_REQ_BAD);
    assert_int_equal (batch_server_next_read (s, &text), BATCH_REQ_NONE);
    /* what arrives later is not parsed until it is read */
    put (cfd, "done ok\n");
    assert_int_equal (batch_server_next_read (s, &text), BATCH_REQ_NONE);
    assert_int_equal (batch_server_read (s), 1);
    assert_int_equal (batch_server_read (s), 0);
    assert_int_equal (batch_server_next_read (s, &text), BATCH_REQ_OK);
    assert_int_equal (batch_server_next_read (s, &text), BATCH_REQ_NONE);
    /* lines left in the buffer stay there across reads */
    put (cfd, "done ok\nnext\n");
    assert_int_equal (batch_server_read (s), 1);
    assert_int_equal (batch_server_next_read (s, &text), BATCH_REQ_OK);
    put (cfd, "done fail late\nnext pa");
    assert_int_equal (batch_server_next_read (s, &text), BATCH_REQ_NEXT);
    assert_int_equal (batch_server_next_read (s, &text), BATCH_REQ_NONE);
    assert_int_equal (batch_server_read (s), 1);
    close (cfd);
    /* the close is seen by a read; the complete lines before it count,
     * the unterminated one does not */
    assert_int_equal (batch_server_read (s), -1);
    assert_true (batch_server_eof (s));
    assert_int_equal (batch_server_next_read (s, &text), BATCH_REQ_FAIL);
    assert_string_equal (text, "late");
    assert_int_equal (batch_server_next_read (s, &text), BATCH_REQ_EOF);
    assert_int_equal (batch_server_next (s, &text), BATCH_REQ_EOF);
    batch_server_destroy (s);
    (void)state;
}

static void test_records (void **state)
{
    static const char *const values[] = {
        "/repo/plain.txt",
        "/repo/new\nline and 'quotes' \"dq\" $(rm -rf /) `x` \\",
        "",
        "end\nstop\ndatum\nvar x 3\n",
        "\xff\xfe not utf-8 \x01\x1b[0m",
    };
    int cfd;
    batch_server_t *s = batch_server_create (&cfd);
    batch_datum_t d;
    dr_error_t err = { { 0 } };
    assert_non_null (s);
    for (size_t round = 0; round < 3; round++) {
        batch_server_record_begin (s);
        assert_int_equal (batch_server_record_add (s, "var", "DATUMRUN_OUT",
                                                   "/sb/pfs/out"), 0);
        for (size_t i = 0; i < 5; i++) {
            char name[16];
            snprintf (name, sizeof (name), "in_%zu", i);
            assert_int_equal (batch_server_record_add (s, "var", name,
                                                       values[i]), 0);
            assert_int_equal (batch_server_record_add (s, "input", name,
                                                       values[i]), 0);
        }
        assert_int_equal (batch_server_record_end (s), 0);
        assert_false (batch_server_pending (s));
        assert_int_equal (batch_client_read (cfd, &d, &err), 1);
        assert_int_equal (d.n, 11);
        assert_string_equal (batch_datum_var (&d, "DATUMRUN_OUT"),
                             "/sb/pfs/out");
        for (size_t i = 0; i < 5; i++) {
            assert_string_equal (d.e[1 + 2 * i].kind, "var");
            assert_string_equal (d.e[2 + 2 * i].kind, "input");
            assert_string_equal (d.e[1 + 2 * i].value, values[i]);
            assert_string_equal (d.e[2 + 2 * i].value, values[i]);
        }
        assert_null (batch_datum_var (&d, "nope"));
        batch_datum_free (&d);
    }
    /* Names that are not identifiers, kinds that do not exist: the whole
     * record is dropped and nothing is sent. */
    static const char *const bad_names[] = {
        "", "1x", "a b", "a\nb", "a=b", "x-y", "\xc3\xa5",
    };
    for (size_t i = 0; i < sizeof (bad_names) / sizeof (*bad_names); i++) {
        batch_server_record_begin (s);
        assert_int_equal (batch_server_record_add (s, "var", "ok", "v"), 0);
        assert_int_equal (batch_server_record_add (s, "var", bad_names[i],
                                                   "v"), -1);
        assert_int_equal (errno, EINVAL);
        assert_int_equal (batch_server_record_end (s), -1);
    }
    batch_server_record_begin (s);
    assert_int_equal (batch_server_record_add (s, "env", "x", "v"), -1);
    assert_int_equal (batch_server_record_end (s), -1);
    assert_false (batch_server_pending (s));
    /* stop */
    assert_int_equal (batch_server_send_stop (s), 0);
    assert_int_equal (batch_client_read (cfd, &d, &err), 0);
    close (cfd);
    batch_server_destroy (s);
}

/* A window: "datums K", then the K records that were good (a bad one is
 * dropped and not counted), in one write; a window of none sends
 * nothing. */
static void test_window (void **state)
{
    (void)state;
    int cfd;
    batch_server_t *s = batch_server_create (&cfd);
    char head[32];
    assert_non_null (s);
    batch_server_window_begin (s);
    for (int i = 0; i < 3; i++) {
        char out[32];
        snprintf (out, sizeof (out), "/sb/window/%d", i);
        batch_server_record_begin (s);
        assert_int_equal (batch_server_record_add (s, "var", "DATUMRUN_OUT",
                                                   out), 0);
        if (i == 1)
            batch_server_record_add (s, "var", "bad name", "v");
        assert_int_equal (batch_server_record_end (s), i == 1 ? -1 : 0);
        /* nothing leaves before the window's end */
        assert_int_equal (recv (cfd, head, sizeof (head), MSG_DONTWAIT), -1);
    }
    assert_int_equal (batch_server_window_end (s, 2), 0);
    assert_false (batch_server_pending (s));
    static const char want[] = "datums 2\n"
                               "datum\nvar DATUMRUN_OUT 12\n/sb/window/0\nend\n"
                               "datum\nvar DATUMRUN_OUT 12\n/sb/window/2\nend\n";
    char got[sizeof (want)];
    size_t n = 0;
    while (n < sizeof (want) - 1) {
        ssize_t k = read (cfd, got + n, sizeof (want) - 1 - n);
        assert_true (k > 0);
        n += (size_t)k;
    }
    got[n] = '\0';
    assert_string_equal (got, want);
    batch_server_window_begin (s);
    assert_int_equal (batch_server_window_end (s, 0), 0);
    assert_false (batch_server_pending (s));
    assert_int_equal (recv (cfd, head, sizeof (head), MSG_DONTWAIT), -1);
    close (cfd);
    batch_server_destroy (s);
}

/* A command that never reads: the worker's writes must not block. */
static void test_full_socket (void **state)
{
    int cfd;
    batch_server_t *s = batch_server_create (&cfd);
    assert_non_null (s);
    char *v = malloc (1 << 20);
    memset (v, 'v', (1 << 20) - 1);
    v[(1 << 20) - 1] = '\0';
    /* One answer of 8 MiB (the client reads one answer per request). */
    int sent = 8;
    batch_server_record_begin (s);
    for (int i = 0; i < sent; i++)
        assert_int_equal (batch_server_record_add (s, "var", "big", v), 0);
    assert_int_equal (batch_server_record_end (s), 0);
    assert_true (batch_server_pending (s));
    assert_int_equal (batch_server_flush (s), 1);
    /* A client drains it (another process, reading while this one
     * flushes as the worker's poll loop would): everything arrives
     * intact. */
    pid_t pid = fork ();
    assert_true (pid >= 0);
    if (pid == 0) {
        batch_datum_t d;
        dr_error_t err = { { 0 } };
        int good = 0;
        if (batch_client_read (cfd, &d, &err) == 1)
            for (size_t i = 0; i < d.n; i++)
                good += strlen (d.e[i].value) == (1 << 20) - 1;
        batch_datum_free (&d);
        _exit (good);
    }
    while (batch_server_flush (s) == 1) {
        struct pollfd p = { .fd = batch_server_fd (s), .events = POLLOUT };
        poll (&p, 1, 1000);
    }
    int status = 0;
    assert_int_equal (waitpid (pid, &status, 0), pid);
    assert_true (WIFEXITED (status));
    assert_int_equal (WEXITSTATUS (status), sent);
    assert_false (batch_server_pending (s));
    free (v);
    /* The command gone: sending fails with EPIPE, no SIGPIPE. */
    close (cfd);
    batch_server_record_begin (s);
    batch_server_record_add (s, "var", "x", "y");
    assert_int_equal (batch_server_record_end (s), -1);
    batch_server_destroy (s);
}

static void test_malformed_answers (void **state)
{
    static const char *const answers[] = {
        "hello\n",
        "datum\nvar x\n",
        "datum\nvar x abc\nabc\nend\n",
        "datum\nvar x 3\nabcd\nend\n",
        "datum\nvar x -1\n\nend\n",
    };
    for (size_t i = 0; i < sizeof (answers) / sizeof (*answers); i++) {
        int sv[2];
        assert_int_equal (socketpair (AF_UNIX, SOCK_STREAM, 0, sv), 0);
        put (sv[0], answers[i]);
        close (sv[0]);
        batch_datum_t d;
        dr_error_t err = { { 0 } };
        assert_int_equal (batch_client_read (sv[1], &d, &err), -1);
        assert_true (err.text[0] != '\0');
        close (sv[1]);
    }
}

static void test_client_fd (void **state)
{
    dr_error_t err = { { 0 } };
    unsetenv (BATCH_FD_ENV);
    assert_int_equal (batch_client_fd (&err), -1);
    assert_non_null (strstr (err.text, "datum_batching"));
    setenv (BATCH_FD_ENV, "12x", 1);
    assert_int_equal (batch_client_fd (&err), -1);
    setenv (BATCH_FD_ENV, "999", 1);
    assert_int_equal (batch_client_fd (&err), -1);
    setenv (BATCH_FD_ENV, "2", 1);
    assert_int_equal (batch_client_fd (&err), 2);
    unsetenv (BATCH_FD_ENV);
}

static void test_shell_quote (void **state)
{
    char *buf = NULL;
    size_t len = 0;
    FILE *f = open_memstream (&buf, &len);
    batch_shell_quote ("it's $HOME\n`x`", f);
    fclose (f);
    assert_string_equal (buf, "'it'\\''s $HOME\n`x`'");
    free (buf);
}

int main (void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test (test_requests),
        cmocka_unit_test (test_next_options_read),
        cmocka_unit_test (test_records),
        cmocka_unit_test (test_window),
        cmocka_unit_test (test_full_socket),
        cmocka_unit_test (test_malformed_answers),
        cmocka_unit_test (test_client_fd),
        cmocka_unit_test (test_shell_quote),
    };
    return cmocka_run_group_tests (tests, NULL, NULL);
}
