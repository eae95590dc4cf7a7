/* docworker.h — the batch document (OCR) stage: agenthub-docworker.
 *
 * Flow (DESIGN.md "Documents"): the ingress stores each uploaded document's bytes in
 * documents.content (PostgreSQL bytea, in the same transaction as the batch row) and publishes
 * one doc.request envelope per document on agenthub.documents, key document_id (so that the
 * documents of one batch spread over the partitions and several docworkers share a batch):
 *
 *   {"version":1, "type":"doc.request", "job_id":"<batch_id>", "session_id":"<document_id>",
 *    "tenant_id", "user_id", "traceparent", "created_at",
 *    "payload":{"batch_id", "document_id", "filename", "content_type", "lang"?}}
 *
 * job_id is the batch id (the batch's event stream and logs); session_id carries the document
 * id because the stage machinery (common/stage.h) runs one job per session key at a time, and
 * documents of one batch are independent of each other.
 *
 * This process consumes them (group agenthub-docworker) through the stage machinery, hands
 * each job to a pool of DOCWORKER_THREADS OCR threads, writes the text / error and the batch's
 * counts to PostgreSQL in one transaction, clears the stored bytes, and appends events to the
 * batch's stream agenthub:{tenant}:job:{batch_id}:events (the same key and entry shape as
 * jobevents.h, so the ingress reads it with jobevents_read):
 *
 *   document_started {"document_id","filename","pages"}            (PDF and images)
 *   page            {"document_id","filename","page","pages","method":"text"|"ocr","chars",
 *                    "text" (up to 16 KiB, else "text_truncated"), "confidence" (OCR),
 *                    "error" (this page failed)}   one per page, in page order
 *   document_done   {"document_id","filename","status":"done","chars","pages","text"}
 *   document_error  {"document_id","filename","status":"error","error"}
 *   batch_done      {"batch_id","status","total","succeeded","failed"}
 *
 * A wake-up doc.event envelope (job_id = batch_id) follows on agenthub.chat.events so waiting
 * ingress streams read at once. The offset is committed only after the result is in
 * PostgreSQL. Redelivery is harmless: a document already done or error is skipped, and the
 * counts move only together with the document's own status change.
 *
 * Limits (main.c's settings): images are refused from their header, before decoding, when a
 * page has more than DOCWORKER_MAX_PIXELS pixels, the file more than DOCWORKER_MAX_PAGES pages
 * or the decoded pages would need more than DOCWORKER_MAX_DECODED_BYTES (tools/ocr_header.h);
 * the error text starts with its code (image_too_large, image_too_many_pages,
 * image_header_unreadable, document_crashed_worker), also in metadata.error_code.
 *
 * PDFs and multi-page images are read page by page (extract.h, pages.h): each page's result is
 * a document_pages row (migration 0008), documents.text is the pages' texts joined by '\f' and
 * documents.pages their count. A PDF over DOCWORKER_MAX_PAGES or with a page that would render
 * to more than DOCWORKER_MAX_PIXELS at DOCWORKER_RENDER_DPI is refused before any page is read
 * (too_many_pages, image_too_large); a document still running after DOCWORKER_MAX_SECONDS ends
 * as "timeout"; encrypted, damaged and truncated PDFs as pdf_encrypted, pdf_damaged,
 * pdf_truncated.
 */
#ifndef AGENTHUB_DOCWORKER_H
#define AGENTHUB_DOCWORKER_H

#include <stddef.h>

#include "doc_kind.h"
#include "envelope.h"
#include "extract.h"
#include "kafka.h"
#include "ocr.h"
#include "pgpool.h"
#include "pipeline.h"
#include "rcache.h"
#include "stage.h"

#define DOCWORKER_EVENT_TEXT_MAX ((size_t)256 * 1024) /* longer texts only in GET's result */

/* ---- pure parts (doc.c, unit-tested) ------------------------------------------------------- */

/* 1 if s[0..n) is valid UTF-8 without NUL bytes. */
int doc_text_ok(const unsigned char *s, size_t n);
/* Checks a decoded envelope is a usable doc.request (type, ids, payload). 0 or -1 with err. */
int doc_request_validate(const struct envelope *env, char *err, size_t errlen);

/* ---- the service --------------------------------------------------------------------------- */

struct docworker_svc {
    struct pipeline pl; /* PostgreSQL, Redis, the producer */
    struct stage *stage;
    long missing_wait_ms;               /* how long a not-yet-visible document row is waited for */
    long keep_content;                  /* 1: leave documents.content in place after processing */
    struct ocr_limits limits;           /* image sizes checked from the header before decoding */
    struct doc_page_limits page_limits; /* pages, pixels per page, render dpi, OCR threshold */
    double max_seconds;                 /* per document (DOCWORKER_MAX_SECONDS) */
    int cpu_spare;     /* pool threads idle now (atomic): a document may borrow them for pages */
    long max_attempts; /* deliveries that may begin decoding a document (crash loop) */
    volatile int stopping;
};

/* Outcome of one attempt at a job. */
enum doc_result {
    DOC_FINISHED = 0, /* result durable (or nothing to do): commit */
    DOC_RETRY = 1,    /* a dependency is down: try again later, do not commit */
};

/* Processes one doc.request on the calling thread (process.c).
 *
 * Crash loops: before a document is decoded, documents.attempts is incremented in its own
 * committed statement; a delivery that finds attempts >= max_attempts ends the document as
 * error "document_crashed_worker" without decoding it (batch counts and events as for any
 * error; the offset moves on). *counted is 0 on the first call for a delivery; it is set to 1
 * once this delivery's attempt is on record, so calling again for the same delivery (after
 * DOC_RETRY) neither counts it twice nor mistakes its own count for a crash. */
enum doc_result doc_process(struct docworker_svc *svc, const struct envelope *env, int *counted);

/* ---- worker pool (pool.c) ------------------------------------------------------------------ */
struct doc_pool;

int doc_pool_new(struct doc_pool **out, struct docworker_svc *svc, int threads);
/* Queues a started stage job; a worker runs it and posts stage_job_done to the loop thread. */
int doc_pool_submit(struct doc_pool *p, struct stage_job *job);
/* Stops taking queued jobs (they stay uncommitted), lets running ones finish, joins. */
void doc_pool_free(struct doc_pool *p);

#endif
