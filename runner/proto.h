/* proto.h: the one home of the wire protocol between rank 0 and the
 * workers.  Every message type, its packing and unpacking, the protocol
 * version checked when the ranks meet, and every MPI call of the runner go
 * through here; each call is checked, with MPI_ERRORS_RETURN set on the
 * communicator, so that a failed peer becomes an error code (and a lost
 * worker) instead of an abort of the whole job.
 *
 * Messages (all byte buffers, little-endian as the machine is: every rank
 * of a job runs the same build on the same architecture):
 *   PROTO_ASSIGN    0 -> worker: job ID, then one or more datums
 *   PROTO_RESULT    worker -> 0: the outcome of one datum attempt
 *   PROTO_STOP      0 -> worker: no more work (job done or stopping)
 *   PROTO_HEARTBEAT worker -> 0: "still here", empty; any message counts
 *                   (and 0 -> worker, every worker_heartbeat while it
 *                   dispatches: a worker whose rank 0 is silent for
 *                   worker_timeout leaves)
 *   PROTO_BYE       worker -> 0: a signal told this worker alone to stop:
 *                   send it nothing more (it reports what it holds)
 * The hello at start-up (proto_hello) gathers each rank's protocol version
 * and host name on rank 0, which refuses a job whose ranks disagree.
 */
#ifndef DATUMRUN_RUNNER_PROTO_H
#define DATUMRUN_RUNNER_PROTO_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "io/io.h"
#include "jobs/jobs.h"
#include "sched/sched.h"

#define PROTO_VERSION 2u
#define PROTO_HOST_MAX 64

typedef enum proto_tag {
    PROTO_ASSIGN = 1,
    PROTO_RESULT,
    PROTO_STOP,
    PROTO_HEARTBEAT,
    PROTO_BYE,
} proto_tag_t;

/* ----------------------------------------------------------- buffers */

/* A growable byte buffer for packing messages. */
typedef struct buf {
    uint8_t *data;
    size_t len, cap, pos;   /* pos: read cursor */
    bool bad;               /* a read ran past the end */
} buf_t;

void buf_free (buf_t *b);
void buf_put (buf_t *b, const void *p, size_t n);
void buf_put_u32 (buf_t *b, uint32_t v);
void buf_put_u64 (buf_t *b, uint64_t v);
void buf_put_f64 (buf_t *b, double v);
void buf_put_str (buf_t *b, const char *s);
void buf_get (buf_t *b, void *p, size_t n);
uint32_t buf_get_u32 (buf_t *b);
uint64_t buf_get_u64 (buf_t *b);
double buf_get_f64 (buf_t *b);
/* Returns a malloc'd copy ("" when the buffer is short). */
char *buf_get_str (buf_t *b);

/* ---------------------------------------------------------- messages */

typedef enum outcome {
    OUT_SUCCESS = 0,
    OUT_FAILED,      /* the command failed (exit, signal, timeout) */
    OUT_RECOVERED,   /* failed for the last time, err_cmd succeeded */
    OUT_COLLISION,   /* outputs collide with another datum's */
    OUT_RETURNED,    /* never started (the job is stopping) */
    OUT_ERROR,       /* sandbox or output handling failed */
    OUT_INTERRUPTED, /* cut short because the job is stopping */
    OUT_NOSPACE,     /* the sandbox, logs or outputs found a full disk
                        (ENOSPC, EDQUOT): not the datum's fault, the job
                        stops; message names the path */
} outcome_t;

/* One datum as a worker receives it. */
typedef struct wdatum {
    uint32_t didx;
    uint32_t attempt;       /* 1-based */
    io_hash_t id;
    uint32_t nentries;
    uint32_t *input;        /* pfs leaf index per entry */
    char **path;            /* repo-relative path per entry */
    char *join_key;         /* $DATUMRUN_JOIN_ON or "" */
    char *group_key;        /* $DATUMRUN_GROUP_BY or "" */
} wdatum_t;

void wdatum_free (wdatum_t *d);

/* One attempt's result. */
typedef struct wresult {
    uint32_t didx;
    uint32_t attempt;
    outcome_t outcome;
    int32_t exit_status;
    int32_t term_signal;
    int64_t start_ns;
    double duration_s;
    uint64_t bytes_out;
    io_outlist_t outs;      /* moved outputs on success */
    char *message;          /* collision path, or why it failed */
} wresult_t;

void wresult_free (wresult_t *r);

/* ASSIGN: begin with the job ID, add datums, end (which writes the
 * count).  The datums are packed straight from rank 0's plan. */
void proto_assign_begin (buf_t *b, const char *job_id);
void proto_assign_add (buf_t *b, const sched_plan_t *p, uint32_t didx,
                       uint32_t attempt);
void proto_assign_end (buf_t *b);
/* Unpack an ASSIGN: the job ID into job_id, the datums into a malloc'd
 * array *v of *n (each freed with wdatum_free, the array with free).
 * Returns -1 with nothing allocated when the message is malformed. */
int proto_assign_unpack (buf_t *b, char job_id[33], wdatum_t **v,
                         size_t *n);

void proto_result_pack (const wresult_t *r, buf_t *b);
/* Returns -1 when malformed (r is then still safe to wresult_free). */
int proto_result_unpack (buf_t *b, wresult_t *r);

/* STOP carries flags: PROTO_STOP_ABANDON tells the worker that a peer
 * was lost, so it must leave without MPI_Finalize (which would wait for
 * the dead). */
#define PROTO_STOP_ABANDON 1u
void proto_stop_pack (buf_t *b, uint32_t flags);
uint32_t proto_stop_unpack (buf_t *b);

/* -------------------------------------------------------------- MPI */

typedef struct proto proto_t;

/* MPI_Init, MPI_ERRORS_RETURN on the world, this rank and the size.
 * Returns NULL with err.  Destroy with proto_finalize(). */
proto_t *proto_init (int *rank, int *size, dr_error_t *err);

/* Collective: each rank's protocol version, host name and pid meet on
 * rank 0, where hosts (size x PROTO_HOST_MAX chars) and pids (size ints),
 * caller-allocated, receive them.  Returns -1 with err on an MPI error or
 * a version mismatch (on every rank). */
int proto_hello (proto_t *p, const char *host, char *hosts, int *pids,
                 dr_error_t *err);

/* The MPI library's version string (works outside MPI_Init). */
void proto_library_version (char *buf, size_t len);

/* Collective: every rank's v into all (size ints, rank 0 only). */
int proto_gather_int (proto_t *p, int v, int *all, dr_error_t *err);

/* Collective: this rank's index among the worker ranks of its node. */
int proto_local_worker_index (proto_t *p, int rank);

/* Send a message without blocking: the buffer is taken over (b is left
 * empty) and freed once the send completes.  body may be NULL for an
 * empty message.  Returns -1 with err if MPI refuses it at once. */
int proto_send (proto_t *p, int dest, proto_tag_t tag, buf_t *body,
                dr_error_t *err);

/* A message received. */
typedef struct proto_msg {
    int source;
    proto_tag_t tag;
    buf_t body;         /* caller frees with buf_free */
} proto_msg_t;

/* No message of the protocol is larger: a bigger one is a broken peer,
 * received, dropped and reported as an error (its sender is lost).  The
 * test hook DATUMRUN_TEST_MPI_FAULT (docs/cluster.md) lowers it to
 * PROTO_FAULT_MESSAGE so that a test can send one cheaply. */
#define PROTO_MAX_MESSAGE ((size_t)1 << 30)
#define PROTO_FAULT_MESSAGE ((size_t)1 << 20)
size_t proto_max_message (void);

/* Receive one waiting message from `source` (-1: any) if there is one:
 * 1 and *m, 0 when none waits, -1 with err (and *m->source the peer when
 * MPI names one, else -1) on an MPI error or a message over
 * proto_max_message(). */
int proto_recv (proto_t *p, int source, proto_msg_t *m, dr_error_t *err);

/* Complete what sends can complete.  Returns 0, or -1 with err and
 * *failed set to the destination of a send that failed. */
int proto_progress (proto_t *p, int *failed, dr_error_t *err);

/* Sends not yet complete (to ranks not forgotten). */
size_t proto_pending (const proto_t *p);

/* A peer is lost: stop waiting for our sends to it.  Their buffers are
 * kept until proto_finalize, since MPI may still read them. */
void proto_forget (proto_t *p, int rank);

/* Leave without MPI_Finalize (rank 0 said a peer was lost). */
void proto_abandon (proto_t *p);

/* True once a peer was forgotten (or proto_abandon was called). */
bool proto_peer_lost (const proto_t *p);

/* MPI_Finalize, unless `abandon` (a peer was lost: Open MPI without
 * fault tolerance would hang in it, and rank 0's results are already on
 * disk), then free everything.  Accepts NULL. */
void proto_finalize (proto_t *p, bool abandon);

#endif /* DATUMRUN_RUNNER_PROTO_H */
