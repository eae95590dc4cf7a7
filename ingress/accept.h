/* accept.h — group commit for POST /chat: accepting many chat requests in one transaction.
 *
 * A request hands its validated parameters (ids chosen up front, the chat.request payload
 * already encoded) to the batcher and sleeps. A leader — the first waiter that finds a free
 * batch slot, no extra thread — takes everything pending (up to INGRESS_ACCEPT_BATCH) and runs
 * one transaction for it: BEGIN + one statement that inserts every row it can, the broker
 * publishes (all queued at once, all acknowledgements awaited), a DELETE of the rows whose
 * publish failed, COMMIT. Then each waiter wakes with its own outcome. Batches form while the
 * previous one is in flight, so a lone request waits no longer than before; under load one
 * transaction, one round trip and one commit serve up to a hundred requests. The leader also
 * writes the jobs' "queued" events (Redis) while the broker acknowledges.
 */
#ifndef AGENTHUB_ACCEPT_H
#define AGENTHUB_ACCEPT_H

#include <pthread.h>

#include <json-c/json.h>

#include "envelope.h"
#include "kafka.h"
#include "pgpool.h"
#include "rcache.h"

/* One help text for the family: chat.request publishes count without a label, the documents
 * route's with topic="documents". */
#define INGRESS_PUBLISH_FAILURES_HELP                                                              \
    "broker publishes that failed (chat.request; documents: topic=\"documents\")"

enum accept_outcome {
    ACCEPT_OK = 0,             /* rows committed, chat.request acknowledged by the broker */
    ACCEPT_NO_TENANT = 1,      /* 404 */
    ACCEPT_DISABLED = 2,       /* 403 */
    ACCEPT_NO_SESSION = 3,     /* 404: absent, deleted, or another tenant's / user's */
    ACCEPT_IDEM_CONFLICT = 4,  /* another job holds the Idempotency-Key: replay it */
    ACCEPT_PUBLISH_FAILED = 5, /* 503: not acknowledged in time; nothing was kept */
    ACCEPT_DB_ERROR = 6,       /* db_status (a pg_status) says which */
    ACCEPT_LIMITED = 7,        /* refused by the precheck (limits.h: 429); nothing was written */
};

struct accept_item {
    /* In, borrowed until accept_submit returns. session_id NULL: a new session, whose id is
     * new_session_id. payload is the chat.request (keyed by the session id). */
    const char *tenant, *user, *message, *job_id, *session_id, *new_session_id, *message_id;
    const char *idem, *hash; /* idem NULL: no Idempotency-Key */
    const char *payload, *traceparent;
    const struct envelope *env; /* the chat.request's, for the "queued" event */
    json_object *queued;        /* that event's data */
    void *limit;                /* the precheck's per-item state (limits.h); NULL: none */
    /* Out. */
    int outcome;
    int db_status;
    int event_status; /* ACCEPT_OK only: the "queued" event's rc_status */
    char err[160];    /* no parameters, no row values */
    /* The batcher's. */
    struct accept_item *next;
    pthread_mutex_t mu; /* guards done and kick */
    pthread_cond_t cv;
    int taken, done, kick;
};

struct accept_batcher;

/* max_batch 1..1024 rows per transaction, max_inflight 1..64 transactions at once. */
int accept_batcher_new(struct accept_batcher **out, struct pgpool *db, struct kafka_producer *prod,
                       struct rcache *rc, int max_batch, int max_inflight, int publish_timeout_ms);
void accept_batcher_free(struct accept_batcher *b); /* NULL-safe; no submit may be running */

/* A check the leader runs on a whole batch before its transaction (limits.h): it may set
 * ACCEPT_LIMITED on items; those are left out of the transaction. Set before any submit. */
typedef int (*accept_precheck_fn)(void *opaque, struct accept_item **items, int n);
void accept_batcher_set_precheck(struct accept_batcher *b, accept_precheck_fn fn, void *opaque);

/* While a batch is in flight, the next starts beside it only once n requests are pending (else
 * they wait for a batch to end, and go in one): fewer, larger statements at moderate load.
 * 1 starts one whenever a slot is free (the batcher's own default; the ingress sets
 * INGRESS_ACCEPT_SHARE_AT, 8). Set before any submit. */
void accept_batcher_set_share_at(struct accept_batcher *b, int n);

/* Runs `it` in a batch (possibly leading it) and returns when its outcome is set. */
void accept_submit(struct accept_batcher *b, struct accept_item *it);

#endif
