/* process.c — one doc.request: load the bytes, extract the text, record it, emit events.
 * See docworker.h for the flow and the idempotency rules. Runs on a pool thread. */
#include <errno.h>
#include <leptonica/allheaders.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "docworker.h"
#include "extract.h"
#include "json_number.h"
#include "log.h"
#include "metrics.h"
#include "ocr.h"
#include "uuid.h"

#define DOC_ERR_MAX 512
#define DOC_EVENTS_MAXLEN "10000"
#define DOC_EVENTS_TTL_S "86400" /* JOBEVENTS_TTL_S */

/* The same atomic append + TTL refresh as jobevents.c, with the docworker's event names
 * (jobevents_emit accepts only the chat job's). */
static const char *const doc_events_script =
    "local id = redis.call('XADD', KEYS[1], 'MAXLEN', '~', ARGV[1], '*', "
    "'event', ARGV[2], 'data', ARGV[3]) "
    "redis.call('EXPIRE', KEYS[1], ARGV[4]) "
    "return id";

struct doc_ids {
    const char *batch_id;
    const char *document_id;
    const char *tenant_id;
    const char *lang;
    struct log_ctx log;
};

static const char *pstr(const struct envelope *env, const char *name)
{
    json_object *v;
    if (!env->payload || !json_object_object_get_ex(env->payload, name, &v) ||
        !json_object_is_type(v, json_type_string))
        return NULL;
    return json_object_get_string(v);
}

static int pg_transient(int st)
{
    return st == PG_ERR_UNAVAILABLE || st == PG_ERR_TIMEOUT;
}

static double mono_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* Appends one event to the batch's stream and wakes the ingress streams waiting on it. A
 * failure is logged only: the result is already durable and GET / the SSE fallback read it
 * from PostgreSQL. */
static void doc_emit(struct docworker_svc *svc, const struct envelope *env,
                     const struct doc_ids *ids, const char *event, json_object *data)
{
    char key[200], id[48] = "";
    redisReply *rep = NULL;
    struct envelope ev;
    char *buf = NULL;
    int have_ev = 0;

    snprintf(key, sizeof key, "agenthub:%s:job:%s:events", ids->tenant_id, ids->batch_id);
    const char *text = json_object_to_json_string_ext(data, JSON_C_TO_STRING_PLAIN |
                                                                JSON_C_TO_STRING_NOSLASHESCAPE);
    const char *argv[] = {"EVAL", doc_events_script, "1", key, DOC_EVENTS_MAXLEN, event,
                          text,   DOC_EVENTS_TTL_S};
    int st = rcache_commandv(svc->pl.rc, &rep, 8, argv, NULL);
    if (st != RC_OK || rep->type != REDIS_REPLY_STRING) {
        log_kv(LOG_WARN, &ids->log, "event not written (result stays in PostgreSQL)", "event",
               event, "status", rc_status_str(st != RC_OK ? st : RC_ERR_REPLY), (char *)NULL);
        goto out;
    }
    snprintf(id, sizeof id, "%s", rep->str);

    if (!svc->pl.producer || envelope_init(&ev, "doc.event", env) != 0)
        goto out;
    have_ev = 1;
    json_object_object_add(ev.payload, "event", json_object_new_string(event));
    json_object_object_add(ev.payload, "id", json_object_new_string(id));
    json_object_object_add(ev.payload, "batch_id", json_object_new_string(ids->batch_id));
    buf = envelope_encode(&ev);
    if (!buf)
        goto out;
    struct kafka_header hdr = {"traceparent", ev.traceparent};
    if (kafka_produce(svc->pl.producer, KAFKA_TOPIC_CHAT_EVENTS, ids->batch_id, buf, strlen(buf),
                      &hdr, 1, NULL, NULL) != 0)
        log_kv(LOG_DEBUG, &ids->log, "wake-up not published (streams poll Redis)", (char *)NULL);
out:
    free(buf);
    if (have_ev)
        envelope_cleanup(&ev);
    if (rep)
        freeReplyObject(rep);
}

/* Loaded document. */
struct doc_row {
    char status[16];
    char *filename;
    char *content_type;
    unsigned char *content; /* PQunescapeBytea'd; PQfreemem */
    size_t len;
    int has_content;
    long attempts; /* deliveries that began decoding it (migration 0004) */
};

static void doc_row_cleanup(struct doc_row *d)
{
    free(d->filename);
    free(d->content_type);
    if (d->content)
        PQfreemem(d->content);
    memset(d, 0, sizeof *d);
}

/* 0 found, 1 no such row, or a negative pg_status. */
static int doc_load(struct docworker_svc *svc, const struct doc_ids *ids, struct doc_row *d)
{
    PGresult *res = NULL;
    char err[256];
    const char *p[] = {ids->document_id, ids->batch_id, ids->tenant_id};
    int rc = pgpool_exec(svc->pl.db, &res,
                         "SELECT status, filename, content_type, content, attempts FROM documents "
                         "WHERE document_id = $1 AND batch_id = $2 AND tenant_id = $3",
                         3, p, err, sizeof err);
    if (rc != PG_OK) {
        log_kv(LOG_WARN, &ids->log, "document load failed", "status", pg_status_str(rc), "error",
               err, (char *)NULL);
        return rc;
    }
    if (PQntuples(res) == 0) {
        PQclear(res);
        return 1;
    }
    snprintf(d->status, sizeof d->status, "%s", PQgetvalue(res, 0, 0));
    d->attempts = atol(PQgetvalue(res, 0, 4));
    d->filename = strdup(PQgetvalue(res, 0, 1));
    d->content_type = strdup(PQgetvalue(res, 0, 2));
    if (!PQgetisnull(res, 0, 3)) {
        d->has_content = 1;
        d->content = PQunescapeBytea((const unsigned char *)PQgetvalue(res, 0, 3), &d->len);
    }
    PQclear(res);
    if (!d->filename || !d->content_type || (d->has_content && !d->content)) {
        doc_row_cleanup(d);
        return PG_ERR_TIMEOUT; /* out of memory: retried like a transient failure */
    }
    return 0;
}

/* What a page event carries of a page's text (the whole text is in GET's result). */
#define DOC_PAGE_EVENT_TEXT_MAX ((size_t)16 * 1024)

/* The document being read: what the page callbacks need to emit its events. */
struct doc_progress {
    struct docworker_svc *svc;
    const struct envelope *env;
    const struct doc_ids *ids;
    const char *filename;
};

static void doc_progress_started(void *opaque, int npages)
{
    struct doc_progress *pr = opaque;
    json_object *ev = json_object_new_object();
    json_object_object_add(ev, "batch_id", json_object_new_string(pr->ids->batch_id));
    json_object_object_add(ev, "document_id", json_object_new_string(pr->ids->document_id));
    json_object_object_add(ev, "filename", json_object_new_string(pr->filename));
    json_object_object_add(ev, "pages", json_object_new_int(npages));
    doc_emit(pr->svc, pr->env, pr->ids, "document_started", ev);
    json_object_put(ev);
}

static void doc_progress_page(void *opaque, int page, int npages, const struct doc_page *p)
{
    struct doc_progress *pr = opaque;
    json_object *ev = json_object_new_object();
    json_object_object_add(ev, "batch_id", json_object_new_string(pr->ids->batch_id));
    json_object_object_add(ev, "document_id", json_object_new_string(pr->ids->document_id));
    json_object_object_add(ev, "filename", json_object_new_string(pr->filename));
    json_object_object_add(ev, "page", json_object_new_int(page));
    json_object_object_add(ev, "pages", json_object_new_int(npages));
    json_object_object_add(ev, "method", json_object_new_string(doc_page_method_name(p->method)));
    if (p->text) {
        size_t n = strlen(p->text);
        json_object_object_add(ev, "chars", json_object_new_int64((int64_t)n));
        if (n <= DOC_PAGE_EVENT_TEXT_MAX)
            json_object_object_add(ev, "text", json_object_new_string(p->text));
        else
            json_object_object_add(ev, "text_truncated", json_object_new_boolean(1));
    }
    if (p->method == DOC_PAGE_OCR && p->text)
        json_object_object_add(ev, "confidence", json_decimal((double)p->confidence, 2));
    if (p->error[0])
        json_object_object_add(ev, "error", json_object_new_string(p->error));
    doc_emit(pr->svc, pr->env, pr->ids, "page", ev);
    json_object_put(ev);
    metrics_inc(metrics_counter("docworker_pages_total", "pages read",
                                p->error[0]                 ? "method=\"error\""
                                : p->method == DOC_PAGE_OCR ? "method=\"ocr\""
                                                            : "method=\"text\""),
                1);
}

/* Extra page threads for one document: as many pool threads as are idle right now, so that a
 * lone large document uses every core and a full pool is not oversubscribed. */
static int doc_cpu_borrow(void *opaque, int want)
{
    struct doc_progress *pr = opaque;
    int spare = __atomic_load_n(&pr->svc->cpu_spare, __ATOMIC_RELAXED);
    while (spare > 0) {
        int take = spare < want ? spare : want;
        if (__atomic_compare_exchange_n(&pr->svc->cpu_spare, &spare, spare - take, 0,
                                        __ATOMIC_ACQ_REL, __ATOMIC_RELAXED))
            return take;
    }
    return 0;
}

static void doc_cpu_give_back(void *opaque, int n)
{
    struct doc_progress *pr = opaque;
    __atomic_add_fetch(&pr->svc->cpu_spare, n, __ATOMIC_ACQ_REL);
}

/* The text of the document (and its pages), or an error message for it. */
static void doc_extract(struct docworker_svc *svc, const struct envelope *env,
                        const struct doc_ids *ids, const struct doc_row *d, char **text,
                        int *npages, struct doc_page **pages, int *nread, char *derr,
                        size_t derrlen, json_object *meta)
{
    enum doc_kind kind = doc_sniff(d->content, d->len, d->content_type);
    json_object_object_add(meta, "kind", json_object_new_string(doc_kind_name(kind)));
    *text = NULL;
    *npages = 1;
    *pages = NULL;
    *nread = 0;
    if (!d->has_content) {
        snprintf(derr, derrlen, "the document's content is no longer stored");
        return;
    }
    switch (kind) {
    case DOC_KIND_IMAGE:
    case DOC_KIND_PDF: {
        /* the language OCR really uses: one not installed here falls back to the default,
         * and the metadata says so (it named the requested one, as if it had been used) */
        const char *lang = ocr_lang_resolve(ids->lang);
        double t0 = mono_s();
        struct doc_progress pr = {svc, env, ids, d->filename};
        struct doc_extract_opts o = {
            .data = d->content,
            .len = d->len,
            .is_pdf = kind == DOC_KIND_PDF,
            .lang = lang,
            .lim = svc->page_limits,
            .img_limits = svc->limits,
            .max_seconds = svc->max_seconds,
            .borrow = doc_cpu_borrow,
            .give_back = doc_cpu_give_back,
            .started = doc_progress_started,
            .page_done = doc_progress_page,
            .opaque = &pr,
        };
        /* Sizes are checked from the header (images) or the page boxes (PDF) first; pages are
         * then read one at a time, several at once when pool threads are idle. */
        if (doc_extract_pages(&o, pages, nread, derr, derrlen) == 0) {
            *text = doc_pages_join(*pages, *nread);
            *npages = *nread;
            if (!*text)
                snprintf(derr, derrlen, DOC_ERR_OOM ": no memory left to read the document");
        } else if (!derr[0]) {
            snprintf(derr, derrlen, DOC_ERR_OCR_FAILED ": the document could not be read");
        }
        json_object_object_add(meta, "lang", json_object_new_string(lang));
        if (ids->lang && strcmp(ids->lang, lang) != 0) {
            json_object_object_add(meta, "lang_requested", json_object_new_string(ids->lang));
            json_object_object_add(
                meta, "warning",
                json_object_new_string("the requested OCR language is not installed on the "
                                       "docworker; the default was used"));
        }
        json_object_object_add(meta, "ocr_ms",
                               json_object_new_int64((int64_t)((mono_s() - t0) * 1000)));
        if (*pages) {
            int by_ocr = 0;
            for (int i = 0; i < *nread; i++)
                by_ocr += (*pages)[i].done && (*pages)[i].method == DOC_PAGE_OCR;
            json_object_object_add(meta, "pages_ocr", json_object_new_int(by_ocr));
            json_object_object_add(meta, "pages_text", json_object_new_int(*nread - by_ocr));
        }
        metrics_observe(
            metrics_histogram("docworker_ocr_seconds", "time to read one document", "", NULL, 0),
            mono_s() - t0);
        break;
    }
    case DOC_KIND_TEXT:
        if (!doc_text_ok(d->content, d->len)) {
            snprintf(derr, derrlen,
                     DOC_ERR_TEXT_NOT_UTF8 ": the text/plain document is not valid UTF-8");
            break;
        }
        *text = malloc(d->len + 1);
        if (!*text) {
            snprintf(derr, derrlen, DOC_ERR_OOM ": no memory left to read the document");
            break;
        }
        memcpy(*text, d->content, d->len);
        (*text)[d->len] = '\0';
        /* One page, so that every done document has its document_pages rows. */
        if ((*pages = calloc(1, sizeof **pages)) != NULL) {
            (*pages)[0].method = DOC_PAGE_TEXT;
            (*pages)[0].done = 1;
            (*pages)[0].text = strdup(*text);
            *nread = 1;
        }
        if (!*pages || !(*pages)[0].text) {
            doc_pages_free(*pages, *nread);
            *pages = NULL;
            *nread = 0;
            free(*text);
            *text = NULL;
            snprintf(derr, derrlen, DOC_ERR_OOM ": no memory left to read the document");
        }
        break;
    default:
        snprintf(derr, derrlen,
                 DOC_ERR_UNSUPPORTED " (%s): send PDF, PNG, JPEG, TIFF, GIF, BMP, WebP, PNM "
                                     "images or text/plain",
                 d->content_type[0] ? d->content_type : "unknown");
        break;
    }
    /* OCR output is UTF-8 from Tesseract; PostgreSQL text refuses anything else. */
    if (*text && !doc_text_ok((const unsigned char *)*text, strlen(*text))) {
        free(*text);
        *text = NULL;
        snprintf(derr, derrlen, DOC_ERR_TEXT_NOT_UTF8 ": the text read is not valid UTF-8");
    }
}

/* The pages read, as the JSON array doc_store's INSERT unpacks. NULL: out of memory. */
static json_object *doc_pages_json(const struct doc_page *pages, int n)
{
    json_object *arr = json_object_new_array();
    if (!arr)
        return NULL;
    for (int i = 0; i < n; i++) {
        if (!pages[i].done)
            continue;
        json_object *o = json_object_new_object();
        json_object_object_add(o, "page", json_object_new_int(i + 1));
        json_object_object_add(o, "method",
                               json_object_new_string(doc_page_method_name(pages[i].method)));
        json_object_object_add(o, "text",
                               json_object_new_string(pages[i].text ? pages[i].text : ""));
        if (pages[i].method == DOC_PAGE_OCR && pages[i].text)
            json_object_object_add(o, "confidence", json_decimal((double)pages[i].confidence, 2));
        if (pages[i].error[0])
            json_object_object_add(o, "error", json_object_new_string(pages[i].error));
        json_object_array_add(arr, o);
    }
    return arr;
}

static int txq(PGconn *c, const char *sql)
{
    char err[128];
    return pgconn_exec(c, NULL, sql, 0, NULL, err, sizeof err);
}

/* Batch counts after the write. */
struct batch_state {
    char status[16];
    long total, succeeded, failed;
};

/* Writes the document's outcome and moves the batch's counts, in one transaction. Returns
 * 1 written, 0 nothing to do (a concurrent delivery already wrote it), or a negative
 * pg_status. */
static int doc_store(struct docworker_svc *svc, const struct doc_ids *ids, const char *text,
                     int npages, json_object *pages, const char *derr, json_object *meta,
                     struct batch_state *b)
{
    PGconn *c = NULL;
    PGresult *res = NULL;
    char err[256];
    int st, rc, in_tx = 0;
    const char *ok = text ? "1" : "0", *bad = text ? "0" : "1";
    const char *meta_s = json_object_to_json_string_ext(meta, JSON_C_TO_STRING_PLAIN);
    char npages_s[16];
    snprintf(npages_s, sizeof npages_s, "%d", npages);

    c = pgpool_acquire(svc->pl.db, 5000, &st, err, sizeof err);
    if (!c) {
        rc = st;
        goto out;
    }
    if ((rc = txq(c, "BEGIN")) != PG_OK)
        goto out;
    in_tx = 1;
    {
        const char *p[] = {ids->document_id,
                           ids->batch_id,
                           ids->tenant_id,
                           text ? "done" : "error",
                           text,
                           text ? NULL : derr,
                           svc->keep_content ? "t" : "f",
                           meta_s,
                           npages_s};
        rc = pgconn_exec(c, &res,
                         "UPDATE documents SET status = $4, text = $5, error = $6, "
                         "pages = CASE WHEN $5::text IS NULL THEN NULL ELSE $9::int END, "
                         "content = CASE WHEN $7::boolean THEN content ELSE NULL END, "
                         "metadata = metadata || $8::jsonb, updated_at = now() "
                         "WHERE document_id = $1 AND batch_id = $2 AND tenant_id = $3 "
                         "AND status NOT IN ('done', 'error')",
                         9, p, err, sizeof err);
        if (rc != PG_OK)
            goto out;
        int n = atoi(PQcmdTuples(res));
        PQclear(res);
        res = NULL;
        if (n == 0) {
            rc = 0;
            goto out; /* rolled back below: nothing changed */
        }
    }
    if (pages) {
        /* One row per page read (migration 0008); a redelivery replaces an earlier attempt's. */
        const char *pj = json_object_to_json_string_ext(pages, JSON_C_TO_STRING_PLAIN);
        const char *p[] = {ids->document_id, ids->tenant_id, pj};
        rc = pgconn_exec(c, NULL, "DELETE FROM document_pages WHERE document_id = $1", 1, p, err,
                         sizeof err);
        if (rc != PG_OK)
            goto out;
        rc = pgconn_exec(c, NULL,
                         "INSERT INTO document_pages (document_id, tenant_id, page, method, "
                         "text, confidence, error) "
                         "SELECT $1, $2, (e->>'page')::int, e->>'method', e->>'text', "
                         "(e->>'confidence')::real, e->>'error' "
                         "FROM jsonb_array_elements($3::jsonb) e",
                         3, p, err, sizeof err);
        if (rc != PG_OK)
            goto out;
    }
    {
        const char *p[] = {ids->batch_id, ids->tenant_id, ok, bad};
        rc = pgconn_exec(c, &res,
                         "UPDATE document_batches SET succeeded = succeeded + $3::int, "
                         "failed = failed + $4::int, "
                         "status = CASE WHEN succeeded + failed + 1 >= total THEN "
                         "  CASE WHEN succeeded + $3::int > 0 THEN 'done' ELSE 'error' END "
                         "  ELSE 'running' END, "
                         "updated_at = now() WHERE batch_id = $1 AND tenant_id = $2 "
                         "RETURNING status, total, succeeded, failed",
                         4, p, err, sizeof err);
        if (rc != PG_OK)
            goto out;
        if (PQntuples(res) == 1) {
            snprintf(b->status, sizeof b->status, "%s", PQgetvalue(res, 0, 0));
            b->total = atol(PQgetvalue(res, 0, 1));
            b->succeeded = atol(PQgetvalue(res, 0, 2));
            b->failed = atol(PQgetvalue(res, 0, 3));
        }
    }
    if ((rc = txq(c, "COMMIT")) != PG_OK) {
        in_tx = 0;
        goto out;
    }
    in_tx = 0;
    rc = 1;
out:
    if (rc < 0)
        log_kv(LOG_WARN, &ids->log, "document result not stored", "status", pg_status_str(rc),
               "error", err, (char *)NULL);
    if (res)
        PQclear(res);
    if (c) {
        if (in_tx)
            txq(c, "ROLLBACK");
        pgpool_release(svc->pl.db, c);
    }
    return rc;
}

/* The code at the start of an error message ("image_too_large: ..."), for metadata: every
 * failure of the docworker and of the OCR engine starts with one (pages.h). */
static void doc_error_code(const char *derr, json_object *meta)
{
    char code[48];
    size_t n = 0;
    while (n + 1 < sizeof code && ((derr[n] >= 'a' && derr[n] <= 'z') || derr[n] == '_'))
        n++;
    /* A word before a colon is not yet a code: codes have an underscore, or are "timeout". */
    if (n == 0 || derr[n] != ':' || (!memchr(derr, '_', n) && strncmp(derr, "timeout:", 8) != 0))
        return;
    memcpy(code, derr, n);
    code[n] = '\0';
    json_object_object_add(meta, "error_code", json_object_new_string(code));
}

/* Counts this delivery as an attempt at the document, durably, before anything decodes it:
 * its own autocommitted statement, so a worker that dies while decoding leaves the count
 * behind. Returns 1 counted (*attempts is the new count), 0 the document is finished already
 * (another delivery), or a negative pg_status. */
static int doc_begin_attempt(struct docworker_svc *svc, const struct doc_ids *ids, long *attempts)
{
    PGresult *res = NULL;
    char err[256];
    const char *p[] = {ids->document_id, ids->batch_id, ids->tenant_id};
    int rc = pgpool_exec(svc->pl.db, &res,
                         "UPDATE documents SET attempts = attempts + 1, status = 'running', "
                         "updated_at = now() "
                         "WHERE document_id = $1 AND batch_id = $2 AND tenant_id = $3 "
                         "AND status NOT IN ('done', 'error') RETURNING attempts",
                         3, p, err, sizeof err);
    if (rc != PG_OK) {
        log_kv(LOG_WARN, &ids->log, "attempt not counted; document not started", "status",
               pg_status_str(rc), "error", err, (char *)NULL);
        return rc;
    }
    rc = PQntuples(res) == 1;
    if (rc)
        *attempts = atol(PQgetvalue(res, 0, 0));
    PQclear(res);
    return rc;
}

static void doc_mark_batch_running(struct docworker_svc *svc, const struct doc_ids *ids)
{
    char err[128];
    const char *p[] = {ids->batch_id, ids->tenant_id};
    /* Progress only: a failure here changes nothing that matters. */
    pgpool_exec(svc->pl.db, NULL,
                "UPDATE document_batches SET status = 'running', updated_at = now() "
                "WHERE batch_id = $1 AND tenant_id = $2 AND status = 'queued'",
                2, p, err, sizeof err);
}

enum doc_result doc_process(struct docworker_svc *svc, const struct envelope *env, int *counted)
{
    struct doc_ids ids;
    struct doc_row d;
    struct batch_state b;
    char derr[DOC_ERR_MAX] = "";
    char *text = NULL;
    int npages = 1, nread = 0;
    struct doc_page *pages = NULL;
    json_object *meta = NULL, *ev = NULL, *pages_json = NULL;
    enum doc_result res = DOC_FINISHED;
    int rc;

    memset(&d, 0, sizeof d);
    memset(&b, 0, sizeof b);
    memset(&ids, 0, sizeof ids);
    ids.batch_id = pstr(env, "batch_id");
    ids.document_id = pstr(env, "document_id");
    ids.tenant_id = env->tenant_id;
    ids.lang = pstr(env, "lang");
    ids.log.tenant_id = env->tenant_id;
    ids.log.job_id = ids.batch_id;

    /* The ingress commits the batch right after the broker acknowledged the message, so the
     * row may not be visible yet: wait for it a little. A row that never appears belongs to a
     * batch whose acceptance was rolled back (the client got 503). */
    double deadline = mono_s() + (double)svc->missing_wait_ms / 1000.0;
    long backoff_ms = 50;
    for (;;) {
        rc = doc_load(svc, &ids, &d);
        if (rc == 0)
            break;
        if (rc < 0) {
            res = pg_transient(rc) ? DOC_RETRY : DOC_FINISHED;
            if (res == DOC_FINISHED)
                log_kv(LOG_ERROR, &ids.log, "document skipped: load query failed", "document_id",
                       ids.document_id, (char *)NULL);
            goto out;
        }
        if (mono_s() >= deadline || svc->stopping) {
            log_kv(LOG_WARN, &ids.log, "document not found; skipped (batch never accepted?)",
                   "document_id", ids.document_id, (char *)NULL);
            goto out;
        }
        usleep((useconds_t)backoff_ms * 1000);
        if (backoff_ms < 1000)
            backoff_ms *= 2;
    }
    if (strcmp(d.status, "done") == 0 || strcmp(d.status, "error") == 0) {
        log_kv(LOG_INFO, &ids.log, "document already processed; skipped", "document_id",
               ids.document_id, (char *)NULL);
        goto out;
    }
    meta = json_object_new_object();
    if (!meta) {
        res = DOC_RETRY;
        goto out;
    }
    /* A tenant deactivated after its batch was accepted: the document ends as an error, no OCR. */
    if (pipeline_tenant_active(&svc->pl, ids.tenant_id) == 0) {
        snprintf(derr, sizeof derr, "tenant_inactive: this tenant is inactive");
    } else if (!*counted && d.attempts >= svc->max_attempts) {
        /* Every earlier attempt ended with the worker gone before a result was stored (a
         * crash, an OOM kill, a CPU limit): end it as an error, without the decoder. */
        snprintf(derr, sizeof derr,
                 "document_crashed_worker: processing this document stopped the worker %ld "
                 "times (DOCWORKER_MAX_ATTEMPTS %ld); it is not retried",
                 d.attempts, svc->max_attempts);
        json_object_object_add(meta, "attempts", json_object_new_int64(d.attempts));
        log_kv(LOG_ERROR, &ids.log, "document stopped the worker too often; ended as error",
               "document_id", ids.document_id, (char *)NULL);
    } else {
        if (!*counted) {
            long attempts = 0;
            rc = doc_begin_attempt(svc, &ids, &attempts);
            if (rc < 0) {
                /* Never decode a document whose attempt is not on record. */
                res = pg_transient(rc) ? DOC_RETRY : DOC_FINISHED;
                if (res == DOC_FINISHED)
                    log_kv(LOG_ERROR, &ids.log, "document skipped: attempt count failed",
                           "document_id", ids.document_id, (char *)NULL);
                goto out;
            }
            if (rc == 0)
                goto out; /* finished by another delivery meanwhile */
            *counted = 1;
            char an[24];
            snprintf(an, sizeof an, "%ld", attempts);
            log_kv(LOG_INFO, &ids.log, "document started", "document_id", ids.document_id,
                   "attempt", an, (char *)NULL);
        }
        doc_mark_batch_running(svc, &ids);
        doc_extract(svc, env, &ids, &d, &text, &npages, &pages, &nread, derr, sizeof derr, meta);
    }
    if (!text)
        doc_error_code(derr, meta);
    if (pages && !(pages_json = doc_pages_json(pages, nread))) {
        /* Out of memory for the pages' rows: try the whole document again later. */
        res = DOC_RETRY;
        goto out;
    }
    rc = doc_store(svc, &ids, text, npages, pages_json, derr, meta, &b);
    if (rc < 0) {
        res = pg_transient(rc) ? DOC_RETRY : DOC_FINISHED;
        goto out;
    }
    if (rc == 0)
        goto out; /* another delivery got there first */

    metrics_inc(metrics_counter("docworker_documents_total", "documents processed",
                                text ? "status=\"done\"" : "status=\"error\""),
                1);
    log_kv(text ? LOG_INFO : LOG_WARN, &ids.log, text ? "document done" : "document failed",
           "document_id", ids.document_id, "error", text ? "" : derr, (char *)NULL);

    ev = json_object_new_object();
    json_object_object_add(ev, "batch_id", json_object_new_string(ids.batch_id));
    json_object_object_add(ev, "document_id", json_object_new_string(ids.document_id));
    json_object_object_add(ev, "filename", json_object_new_string(d.filename));
    json_object_object_add(ev, "status", json_object_new_string(text ? "done" : "error"));
    if (text) {
        size_t n = strlen(text);
        json_object_object_add(ev, "chars", json_object_new_int64((int64_t)n));
        json_object_object_add(ev, "pages", json_object_new_int(npages));
        if (n <= DOCWORKER_EVENT_TEXT_MAX)
            json_object_object_add(ev, "text", json_object_new_string(text));
        else
            json_object_object_add(ev, "text_truncated", json_object_new_boolean(1));
    } else {
        json_object_object_add(ev, "error", json_object_new_string(derr));
    }
    json_object_object_add(ev, "succeeded", json_object_new_int64(b.succeeded));
    json_object_object_add(ev, "failed", json_object_new_int64(b.failed));
    json_object_object_add(ev, "total", json_object_new_int64(b.total));
    doc_emit(svc, env, &ids, text ? "document_done" : "document_error", ev);
    json_object_put(ev);
    ev = NULL;

    if (strcmp(b.status, "done") == 0 || strcmp(b.status, "error") == 0) {
        ev = json_object_new_object();
        json_object_object_add(ev, "batch_id", json_object_new_string(ids.batch_id));
        json_object_object_add(ev, "status", json_object_new_string(b.status));
        json_object_object_add(ev, "total", json_object_new_int64(b.total));
        json_object_object_add(ev, "succeeded", json_object_new_int64(b.succeeded));
        json_object_object_add(ev, "failed", json_object_new_int64(b.failed));
        doc_emit(svc, env, &ids, "batch_done", ev);
        log_kv(LOG_INFO, &ids.log, "batch done", "status", b.status, (char *)NULL);
    }
out:
    json_object_put(ev);
    json_object_put(meta);
    json_object_put(pages_json);
    doc_pages_free(pages, nread);
    free(text);
    doc_row_cleanup(&d);
    return res;
}
