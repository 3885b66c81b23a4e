/* batch_server.h: the batching protocol (docs/batching.md) between a worker
 * and the long-lived command of a `transform.datum_batching` pipeline.  The
 * worker makes a socketpair, keeps one end (the server) and passes the
 * other to the command as an inherited descriptor named in
 * $DATUMRUN_BATCH_FD.  Per datum, the command (the client) sends one
 * request line ("next"), the worker answers with one datum record (or
 * "stop"), and the command sends one result line ("done ok" or
 * "done fail MESSAGE").
 *
 * The server side never blocks: reads and writes are non-blocking and what
 * cannot be written at once waits in an output buffer (batch_server_flush).
 * The client side (batch_client_*) blocks: it is what `datumrun next` and
 * C consumers use.  Neither side needs MPI or anything else of the runner.
 */
#ifndef DATUMRUN_RUNNER_BATCH_SERVER_H
#define DATUMRUN_RUNNER_BATCH_SERVER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>

#include "jobs/jobs.h"

/* The environment variable naming the command's descriptor. */
#define BATCH_FD_ENV "DATUMRUN_BATCH_FD"

/* Most datums handed at once ("next paths window=N", docs/batching.md). */
#define BATCH_WINDOW_MAX 256

/* Longest request line accepted (a failure message is cut to fit). */
#define BATCH_LINE_MAX 4096

typedef enum batch_req {
    BATCH_REQ_NONE = 0, /* no complete line yet */
    BATCH_REQ_NEXT,     /* "next [OPTION...]": the command wants a datum;
                           the options are the text ("paths": it reads
                           its inputs by the record's absolute paths, so
                           it needs no pfs/<input> links) */
    BATCH_REQ_OK,       /* "done ok": the current datum succeeded */
    BATCH_REQ_FAIL,     /* "done fail MESSAGE": it failed */
    BATCH_REQ_EOF,      /* the command closed its end (or exited) */
    BATCH_REQ_BAD,      /* a line that is not the protocol */
} batch_req_t;

typedef struct batch_server batch_server_t;

/* Make the socketpair.  *child_fd gets the command's end (close-on-exec:
 * the spawner dup2()s it into the child); the caller closes it after the
 * spawn.  Returns NULL with errno.  Caller frees with
 * batch_server_destroy(). */
batch_server_t *batch_server_create (int *child_fd);
void batch_server_destroy (batch_server_t *s);

/* The server's descriptor: poll it for POLLIN, and for POLLOUT while
 * batch_server_pending() says output waits. */
int batch_server_fd (const batch_server_t *s);

/* The next request, reading what the socket holds without blocking.
 * For BATCH_REQ_NEXT, *text is its options ("" for none); for
 * BATCH_REQ_FAIL and BATCH_REQ_BAD, the message (or the bad line,
 * shortened); valid until the next call.  After BATCH_REQ_EOF every
 * call returns BATCH_REQ_EOF. */
batch_req_t batch_server_next (batch_server_t *s, const char **text);

/* The worker's way, in two steps, so that it can drain the command's
 * stdout and stderr in between (exec_batch.c): batch_server_read() reads
 * what the socket holds now (1: bytes came, 0: nothing, -1: end of file),
 * batch_server_next_read() parses only what was read, never reading. */
int batch_server_read (batch_server_t *s);
batch_req_t batch_server_next_read (batch_server_t *s, const char **text);
/* The command closed its end (a request returned BATCH_REQ_EOF). */
bool batch_server_eof (const batch_server_t *s);

/* A datum record: begin, add its entries, end.  kind is "var" (a variable
 * the command would see in its environment in fork-per-datum mode) or
 * "input" (one entry of the datum: input name and absolute path).  name
 * must be [A-Za-z_][A-Za-z0-9_]*; value is any string.  add returns -1
 * with EINVAL for a bad kind or name (the record is then dropped at end). */
void batch_server_record_begin (batch_server_t *s);
int batch_server_record_add (batch_server_t *s, const char *kind,
                             const char *name, const char *value);
/* Queue the record for sending and try to send it; -1 with errno when the
 * record was bad or the socket failed (EPIPE: the command is gone). */
int batch_server_record_end (batch_server_t *s);
/* A window (docs/batching.md): the records ended between begin and end
 * go as one answer, "datums K\n" and then the K records, in one write.
 * end returns as batch_server_flush does; with k = 0 (no record could be
 * made) nothing is sent. */
void batch_server_window_begin (batch_server_t *s);
int batch_server_window_end (batch_server_t *s, size_t k);
/* Queue "stop": there are no more datums. */
int batch_server_send_stop (batch_server_t *s);
/* Write what waits.  Returns 0 when all is written, 1 while some waits,
 * -1 with errno when the socket failed. */
int batch_server_flush (batch_server_t *s);
bool batch_server_pending (const batch_server_t *s);

/* ---------------------------------------------------------- client side */

typedef struct batch_entry {
    char *kind;         /* "var" or "input" */
    char *name;
    char *value;
} batch_entry_t;

typedef struct batch_datum {
    batch_entry_t *e;
    size_t n, cap;
} batch_datum_t;

/* The descriptor named in $DATUMRUN_BATCH_FD, or -1 with err saying why. */
int batch_client_fd (dr_error_t *err);
/* Write one request line ("next", "done ok", "done fail MESSAGE"; the
 * newline is added, newlines in a message become spaces).  0 or -1. */
int batch_client_send (int fd, const char *line);
/* Read the answer to "next": 1 and d filled (caller frees with
 * batch_datum_free), 0 for "stop", -1 with err on a malformed answer or
 * a closed socket.  Reads no byte past the answer. */
int batch_client_read (int fd, batch_datum_t *d, dr_error_t *err);
void batch_datum_free (batch_datum_t *d);
/* The value of a "var" entry, or NULL. */
const char *batch_datum_var (const batch_datum_t *d, const char *name);

/* Write s to f as one shell word, single-quoted ('\'' for a quote). */
void batch_shell_quote (const char *s, FILE *f);

#endif /* DATUMRUN_RUNNER_BATCH_SERVER_H */
