/* httploop.h — libcurl multi handles driving many transfers on one thread.
 *
 * Transfers go to one multi handle until it holds 256, then to the next (up to 64), so that
 * libcurl's per-transfer walks of a multi handle's connection cache stay short with 10,000
 * calls in flight (see httploop.c).
 *
 * Stage processes never block a thread per HTTP call: LLM calls (llm/) and tool calls
 * (tools/) add their easy handles to the thread's loop and get a completion callback.
 * Not thread-safe, except httploop_wakeup(); one loop per thread.
 */
#ifndef AGENTHUB_HTTPLOOP_H
#define AGENTHUB_HTTPLOOP_H

#include <curl/curl.h>

struct httploop;

/* Called once when the transfer ends (result CURLE_OK or an error). The callback owns the
 * easy handle from then on (it must curl_easy_cleanup or reuse it). */
typedef void (*httploop_done_cb)(void *opaque, CURL *easy, CURLcode result);
typedef void (*httploop_timer_cb)(void *opaque);

int httploop_new(struct httploop **out);
/* Cancels what is still running (their callbacks run with CURLE_ABORTED_BY_CALLBACK), frees. */
void httploop_free(struct httploop *l);
/* Starts a transfer. On failure (negative return) cb is never called. */
int httploop_add(struct httploop *l, CURL *easy, httploop_done_cb cb, void *opaque);
/* Aborts one transfer; its callback runs with CURLE_ABORTED_BY_CALLBACK. */
void httploop_cancel(struct httploop *l, CURL *easy);
/* One-shot timer (retry backoff, timeouts). Returns an id > 0, or negative on failure. */
long httploop_timer(struct httploop *l, long delay_ms, httploop_timer_cb cb, void *opaque);
void httploop_timer_cancel(struct httploop *l, long id);
/* Waits up to timeout_ms for activity, performs transfers, runs due callbacks and timers.
 * Returns the number of transfers still running. */
int httploop_run(struct httploop *l, int timeout_ms);
int httploop_active(const struct httploop *l); /* transfers + pending timers */
/* Watches a file descriptor of the caller's (an eventfd another library writes to) in the same
 * epoll set, so one httploop_run() wait serves it too: cb runs from httploop_run() while fd is
 * readable (level-triggered: cb must read or unwatch it). Watched fds do not count in
 * httploop_active(). Returns 0, -EINVAL, -EEXIST, -ENOMEM or -EIO. */
typedef void (*httploop_fd_cb)(void *opaque, int fd);
int httploop_watch_fd(struct httploop *l, int fd, httploop_fd_cb cb, void *opaque);
/* Stops watching fd (before the caller closes it). Unknown fds are ignored. */
void httploop_unwatch_fd(struct httploop *l, int fd);

/* Makes a blocked httploop_run() return early; callable from any thread. */
void httploop_wakeup(struct httploop *l);

#endif
