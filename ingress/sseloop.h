/* sseloop.h — job event streams held by an event loop of the ingress's own, not by threads.
 *
 * civetweb gives each connection a worker thread for as long as its handler runs, so a
 * thread-held SSE stream costs a thread (stack, scheduler entry, its own Redis round trips).
 * Here, once GET /api/{t}/jobs/{id}/events is authorised and its headers are written, the
 * handler takes the socket away from civetweb (sseloop_take_socket) and hands it to the loop
 * (sseloop_adopt), and civetweb's worker is free again. See ingress/README.md, "SSE loop".
 *
 * Threads: one loop thread (epoll: client sockets, an eventfd for hand-offs and answers, a
 * tick for heartbeats, max age and polling) and one reader thread (Redis and PostgreSQL, the
 * only blocking calls). Streams are grouped by job: a wake-up (sseloop_notify, from the
 * agenthub.chat.events consumer) or the poll makes one XRANGE per distinct cursor of that
 * job, pipelined with other jobs' reads, and the events read are formatted once and written
 * to every stream of the job that was at that cursor: one send per stream straight from the
 * shared bytes, spread over INGRESS_SSE_WRITERS threads (the loop's own being one) when the
 * job has 256 streams or more. Writes are non-blocking; what a socket
 * does not take waits in the stream's own buffer, at most INGRESS_SSE_BUFFER_KB, beyond which
 * the stream is dropped (a slow consumer) and the socket closed.
 */
#ifndef AGENTHUB_INGRESS_SSELOOP_H
#define AGENTHUB_INGRESS_SSELOOP_H

#include "ingress.h"

struct sseloop;

/* What a stream needs once its handler has returned. */
struct sseloop_stream_spec {
    int fd;      /* the connected socket; owned by the loop once sseloop_adopt returns 0 */
    int chunked; /* HTTP/1.1 chunked framing (else the body ends with the connection) */
    char tenant[65];
    char sub[129];
    char job_id[40];
    char last[48];   /* the cursor: events after this stream id ("0": from the start) */
    int held_caller; /* the request was counted under its tenant and user (req_hold) */
};

/* Starts the loop and reader threads. 0, or negative with err filled. */
int sseloop_new(struct sseloop **out, struct ingress *app, char *err, size_t errlen);
/* Ends every stream (a last zero chunk, best effort), stops the threads. NULL-safe. */
void sseloop_free(struct sseloop *l);

/* Takes the stream over: the socket, the hold (released when the stream ends) and the
 * ingress_sse_streams_open gauge. 0, or -1 (out of memory, stopping: the caller still owns
 * spec->fd and the hold). Thread-safe. */
int sseloop_adopt(struct sseloop *l, const struct sseloop_stream_spec *spec);
/* Something was appended to job_id's event stream. Thread-safe, never blocks on I/O. */
void sseloop_notify(struct sseloop *l, const char *job_id);
long sseloop_streams(struct sseloop *l);

/* civetweb 1.15 has no public call that gives a connection's socket, and closing a
 * connection shuts the socket down (SHUT_WR) before close, which would end a stream held
 * elsewhere. This finds the socket of conn (a candidate from the connection's memory,
 * verified with getpeername/getsockname against mg_get_request_info's client address and
 * server port, so a wrong guess is never used), duplicates it, and puts an already-closed
 * socketpair end under civetweb's descriptor number: whatever civetweb does to its socket
 * afterwards (shutdown, linger, drain, close) happens to that stand-in. Call it after the
 * response head was written with mg_write, and return from the handler without touching the
 * connection again. Returns the duplicate (close-on-exec) or -1: not found, or out of
 * descriptors; then civetweb still owns the socket untouched. */
int sseloop_take_socket(struct mg_connection *conn);

#endif
