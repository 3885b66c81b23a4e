/* batch_server.c: the worker's end of the batching protocol (see
 * batch_server.h and docs/batching.md): parse request lines as they
 * arrive, encode datum records, and write them without ever blocking the
 * worker, whatever the command does with its end.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "runner/batch_server.h"

typedef struct bytes {
    char *data;
    size_t len, cap;
} bytes_t;

struct batch_server {
    int fd;
    bytes_t in;          /* received, not yet parsed */
    size_t in_pos;       /* parse cursor into in */
    bytes_t out;         /* to send */
    size_t out_pos;      /* sent so far */
    size_t rec_start;    /* where the record being built starts in out */
    bool rec_bad;
    bool eof;
    bool in_window;      /* records wait for batch_server_window_end */
    size_t win_start;    /* where the window's records start in out */
    char text[BATCH_LINE_MAX + 1];
};

static int bytes_reserve (bytes_t *b, size_t more)
{
    if (b->len + more <= b->cap)
        return 0;
    size_t ncap = b->cap ? b->cap : 4096;
    while (ncap < b->len + more)
        ncap *= 2;
    char *n = realloc (b->data, ncap);
    if (!n)
        return -1;
    b->data = n;
    b->cap = ncap;
    return 0;
}

static int bytes_add (bytes_t *b, const void *p, size_t n)
{
    if (bytes_reserve (b, n) < 0)
        return -1;
    memcpy (b->data + b->len, p, n);
    b->len += n;
    return 0;
}

batch_server_t *batch_server_create (int *child_fd)
{
    int sv[2];
    batch_server_t *s = calloc (1, sizeof (*s));
    if (!s)
        return NULL;
    if (socketpair (AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) < 0) {
        int e = errno;
        free (s);
        errno = e;
        return NULL;
    }
    fcntl (sv[0], F_SETFL, O_NONBLOCK);
    s->fd = sv[0];
    *child_fd = sv[1];
    return s;
}

void batch_server_destroy (batch_server_t *s)
{
    int saved = errno;
    if (s) {
        if (s->fd >= 0)
            close (s->fd);
        free (s->in.data);
        free (s->out.data);
        free (s);
    }
    errno = saved;
}

int batch_server_fd (const batch_server_t *s)
{
    return s->fd;
}

/* Copy a line into s->text for the caller, shortened to fit, control
 * characters shown as '?' (it ends up in a log line). */
static const char *keep_text (batch_server_t *s, const char *p, size_t n)
{
    if (n > BATCH_LINE_MAX)
        n = BATCH_LINE_MAX;
    for (size_t i = 0; i < n; i++)
        s->text[i] = (unsigned char)p[i] < 0x20 || p[i] == 0x7f ? '?' : p[i];
    s->text[n] = '\0';
    return s->text;
}

/* One complete line from the input buffer, or NONE. */
static batch_req_t parse_line (batch_server_t *s, const char **text)
{
    char *start = s->in.data + s->in_pos;
    size_t avail = s->in.len - s->in_pos;
    char *nl = avail ? memchr (start, '\n', avail) : NULL;
    if (!nl) {
        if (avail > BATCH_LINE_MAX) {
            /* A line that long is not the protocol: report it once and
             * drop what came so far. */
            *text = keep_text (s, start, 64);
            s->in_pos = s->in.len;
            return BATCH_REQ_BAD;
        }
        return BATCH_REQ_NONE;
    }
    size_t n = (size_t)(nl - start);
    s->in_pos += n + 1;
    if (n && start[n - 1] == '\r')
        n--;
    if (n >= 4 && !memcmp (start, "next", 4)
        && (n == 4 || start[4] == ' ')) {
        /* "next OPTION...": the options, for the caller to read. */
        *text = n > 5 ? keep_text (s, start + 5, n - 5)
                      : keep_text (s, "", 0);
        return BATCH_REQ_NEXT;
    }
    if (n == 7 && !memcmp (start, "done ok", 7))
        return BATCH_REQ_OK;
    if (n >= 9 && !memcmp (start, "done fail", 9)
        && (n == 9 || start[9] == ' ')) {
        *text = n > 10 ? keep_text (s, start + 10, n - 10)
                       : keep_text (s, "", 0);
        return BATCH_REQ_FAIL;
    }
    *text = keep_text (s, start, n > 64 ? 64 : n);
    return BATCH_REQ_BAD;
}

/* One read of what the socket holds: 1 when it brought bytes (*full: as
 * many as there was room for, so more may wait), 0 when there was
 * nothing, -1 at end of file (s->eof set). */
static int fill (batch_server_t *s, bool *full)
{
    /* Compact, then read what there is. */
    if (s->in_pos) {
        memmove (s->in.data, s->in.data + s->in_pos, s->in.len - s->in_pos);
        s->in.len -= s->in_pos;
        s->in_pos = 0;
    }
    if (bytes_reserve (&s->in, 4096) < 0)
        return 0;   /* try again later */
    size_t room = s->in.cap - s->in.len;
    ssize_t n;
    do
        n = read (s->fd, s->in.data + s->in.len, room);
    while (n < 0 && errno == EINTR);
    if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
        return 0;
    if (n <= 0) {
        /* End of file, or a reset: either way the command is gone.  The
         * complete lines before it still count; an unterminated last line
         * is not a request (parse_line never returns it). */
        s->eof = true;
        return -1;
    }
    s->in.len += (size_t)n;
    *full = (size_t)n == room;
    return 1;
}

/* The next request: from what was read if !reading, else reading the
 * socket as needed. */
static batch_req_t next_request (batch_server_t *s, const char **text,
                                 bool reading)
{
    static const char *const empty = "";
    *text = empty;
    for (;;) {
        batch_req_t r = parse_line (s, text);
        if (r != BATCH_REQ_NONE)
            return r;
        if (s->eof)
            return BATCH_REQ_EOF;
        if (!reading)
            return BATCH_REQ_NONE;
        bool full = false;
        int rc = fill (s, &full);
        if (rc < 0)
            return BATCH_REQ_EOF;
        if (rc == 0)
            return BATCH_REQ_NONE;
    }
}

batch_req_t batch_server_next (batch_server_t *s, const char **text)
{
    return next_request (s, text, true);
}

batch_req_t batch_server_next_read (batch_server_t *s, const char **text)
{
    return next_request (s, text, false);
}

int batch_server_read (batch_server_t *s)
{
    int got = 0;
    /* A few reads at most: a command that floods its socket must not
     * keep the worker here (what is left is read at the next call). */
    for (int i = 0; i < 16 && !s->eof; i++) {
        bool full = false;
        int rc = fill (s, &full);
        if (rc < 0)
            return -1;
        if (rc == 0)
            break;
        got = 1;
        if (!full)
            break;
    }
    return got;
}

bool batch_server_eof (const batch_server_t *s)
{
    return s->eof;
}

static bool valid_name (const char *n)
{
    if (!n || !((*n >= 'A' && *n <= 'Z') || (*n >= 'a' && *n <= 'z')
                || *n == '_'))
        return false;
    for (const char *c = n + 1; *c; c++)
        if (!((*c >= 'A' && *c <= 'Z') || (*c >= 'a' && *c <= 'z')
              || (*c >= '0' && *c <= '9') || *c == '_'))
            return false;
    return true;
}

void batch_server_record_begin (batch_server_t *s)
{
    s->rec_start = s->out.len;
    s->rec_bad = bytes_add (&s->out, "datum\n", 6) < 0;
}

int batch_server_record_add (batch_server_t *s, const char *kind,
                             const char *name, const char *value)
{
    char head[128];
    if ((strcmp (kind, "var") && strcmp (kind, "input"))
        || !valid_name (name) || strlen (name) > 100 || !value) {
        s->rec_bad = true;
        errno = EINVAL;
        return -1;
    }
    size_t vlen = strlen (value);
    int hn = snprintf (head, sizeof (head), "%s %s %zu\n", kind, name, vlen);
    if (bytes_add (&s->out, head, (size_t)hn) < 0
        || bytes_add (&s->out, value, vlen) < 0
        || bytes_add (&s->out, "\n", 1) < 0) {
        s->rec_bad = true;
        return -1;
    }
    return 0;
}

int batch_server_record_end (batch_server_t *s)
{
    if (s->rec_bad || bytes_add (&s->out, "end\n", 4) < 0) {
        s->out.len = s->rec_start;
        s->rec_bad = false;
        errno = EINVAL;
        return -1;
    }
    if (s->in_window)
        return 0;
    return batch_server_flush (s) < 0 ? -1 : 0;
}

void batch_server_window_begin (batch_server_t *s)
{
    s->in_window = true;
    s->win_start = s->out.len;
}

int batch_server_window_end (batch_server_t *s, size_t k)
{
    char head[32];
    int hn = snprintf (head, sizeof (head), "datums %zu\n", k);
    s->in_window = false;
    if (!k) {
        s->out.len = s->win_start;
        return 0;
    }
    if (bytes_reserve (&s->out, (size_t)hn) < 0) {
        s->out.len = s->win_start;
        return -1;
    }
    char *at = s->out.data + s->win_start;
    memmove (at + hn, at, s->out.len - s->win_start);
    memcpy (at, head, (size_t)hn);
    s->out.len += (size_t)hn;
    return batch_server_flush (s) < 0 ? -1 : 0;
}

int batch_server_send_stop (batch_server_t *s)
{
    if (bytes_add (&s->out, "stop\n", 5) < 0)
        return -1;
    return batch_server_flush (s) < 0 ? -1 : 0;
}

int batch_server_flush (batch_server_t *s)
{
    while (s->out_pos < s->out.len) {
        ssize_t n = send (s->fd, s->out.data + s->out_pos,
                          s->out.len - s->out_pos,
                          MSG_DONTWAIT | MSG_NOSIGNAL);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
            return 1;
        if (n < 0)
            return -1;
        s->out_pos += (size_t)n;
    }
    s->out.len = s->out_pos = 0;
    return 0;
}

bool batch_server_pending (const batch_server_t *s)
{
    return s->out_pos < s->out.len;
}
