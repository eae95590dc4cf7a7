/* routes_documents.c — batch documents (OCR), DESIGN.md "Documents".
 *
 *   POST /api/{tenant}/documents                 one or many files -> 202 {batch_id, ...}
 *   GET  /api/{tenant}/documents                 the caller's batches, newest first
 *   GET  /api/{tenant}/documents/{batch_id}      status, counts, every document's text/error
 *                                                and page_results (page, method, chars,
 *                                                confidence, error; at most 200 per document)
 *                                                (?wait=N long-polls until the batch is done)
 *   GET  /api/{tenant}/documents/{batch_id}/events   SSE: queued, document_started, page
 *                                                (one per page, in order), document_done,
 *                                                document_error, batch_done (terminal)
 *
 * The POST body is either multipart/form-data (every part with a filename is a document; a
 * field "lang" picks the OCR language, e.g. "eng" or "eng+vie") or JSON
 *   {"documents": [{"filename", "content_type", "content_base64"}], "lang"?}.
 * A document no reader takes (common/doc_kind.h: not a PDF, an image or UTF-8 text/plain) is
 * 415 unsupported_document_type, and its whole batch with it.
 *
 * Storage: the bytes go to PostgreSQL (documents.content, bytea) in the same transaction as
 * the batch and document rows, not to Redis: an accepted document must survive a Redis
 * restart or eviction until the docworker has read it, and one transaction keeps batch,
 * documents and bytes consistent. The docworker clears content once the text is stored.
 *
 * Acceptance mirrors POST /chat: the transaction commits only after the broker acknowledged
 * every doc.request (acks=all). If a publish fails the transaction rolls back and the client
 * gets 503, so no batch claims an acceptance that never happened; a doc.request that did get
 * out for a rolled-back batch finds no row and is skipped by the docworker.
 *
 * Limits (environment, read once; see the README's configuration table):
 *   DOCUMENTS_MAX_FILES       documents per batch (default 20)          -> 400 too_many_documents
 *   DOCUMENTS_MAX_FILE_BYTES  bytes per document (default 10 MiB, at most 20 MiB) -> 413
 *   DOCUMENTS_MAX_BODY        request body bytes (default 64 MiB)       -> 413
 *
 * A batch is visible to the user who created it and to admins of its tenant; anyone else
 * gets 404.
 */
#include "ingress.h"

#include <ctype.h>
#include <errno.h>
#include <openssl/evp.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "b64.h"
#include "ctab.h"
#include "doc_kind.h"
#include "envelope.h"
#include "jobevents.h"
#include "json_field.h"
#include "json_number.h"
#include "json_strict.h"
#include "metrics.h"
#include "ocr.h"
#include "sha256.h"
#include "sse.h"
#include "traceparent.h"
#include "utf8.h"
#include "uuid.h"

#define DOCS_FILENAME_MAX 255
#define DOCS_CTYPE_MAX 127
#define DOCS_LANG_MAX 64
#define DOCS_TS(col) "to_char(" col " AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS.MS\"Z\"')"

/* ---- settings ------------------------------------------------------------------------------ */

static long docs_max_files = 20;
static long docs_max_file_bytes = 10L * 1024 * 1024;
/* ---- parsing the upload -------------------------------------------------------------------- */

struct doc_in {
    char filename[DOCS_FILENAME_MAX + 1];
    char ctype[DOCS_CTYPE_MAX + 1];
    const unsigned char *data; /* into the body, or `owned` */
    size_t len;
    unsigned char *owned;
    char document_id[UUID_STR_LEN];
};

struct doc_upload {
    struct doc_in *docs;
    size_t n, cap;
    char lang[DOCS_LANG_MAX + 1];
};

static void upload_cleanup(struct doc_upload *u)
{
    for (size_t i = 0; i < u->n; i++)
        free(u->docs[i].owned);
    free(u->docs);
    memset(u, 0, sizeof *u);
}

/* Parse failures: HTTP status, code and message for the client. */
struct docs_fail {
    int status;
    const char *code;
    char message[160];
};

static int docs_failf(struct docs_fail *f, int status, const char *code, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
static int docs_failf(struct docs_fail *f, int status, const char *code, const char *fmt, ...)
{
    va_list ap;
    f->status = status;
    f->code = code;
    va_start(ap, fmt);
    vsnprintf(f->message, sizeof f->message, fmt, ap);
    va_end(ap);
    return -1;
}

/* Keeps the last path component; refuses control characters and invalid UTF-8. An empty name
 * becomes "document-<n>". */
static int docs_set_filename(struct doc_in *d, const char *name, size_t n, size_t index,
                             struct docs_fail *f)
{
    const char *base = name;
    for (size_t i = 0; i < n; i++)
        if (name[i] == '/' || name[i] == '\\')
            base = name + i + 1;
    n -= (size_t)(base - name);
    if (n == 0) {
        snprintf(d->filename, sizeof d->filename, "document-%zu", index + 1);
        return 0;
    }
    if (n > DOCS_FILENAME_MAX)
        return docs_failf(f, 400, "invalid_request", "filename longer than %d bytes",
                          DOCS_FILENAME_MAX);
    for (size_t i = 0; i < n; i++)
        if ((unsigned char)base[i] < 0x20 || base[i] == 0x7f)
            return docs_failf(f, 400, "invalid_request", "filename contains control characters");
    if (utf8_chars(base, n) < 0)
        return docs_failf(f, 400, "invalid_request", "filename is not valid UTF-8");
    memcpy(d->filename, base, n);
    d->filename[n] = '\0';
    return 0;
}

static int docs_set_ctype(struct doc_in *d, const char *ct, size_t n, struct docs_fail *f)
{
    while (n && (*ct == ' ' || *ct == '\t'))
        ct++, n--;
    while (n && (ct[n - 1] == ' ' || ct[n - 1] == '\t'))
        n--;
    if (n == 0) {
        snprintf(d->ctype, sizeof d->ctype, "application/octet-stream");
        return 0;
    }
    if (n > DOCS_CTYPE_MAX)
        return docs_failf(f, 400, "invalid_request", "content_type longer than %d bytes",
                          DOCS_CTYPE_MAX);
    for (size_t i = 0; i < n; i++)
        if ((unsigned char)ct[i] < 0x20 || (unsigned char)ct[i] > 0x7e)
            return docs_failf(f, 400, "invalid_request", "content_type must be printable ASCII");
    memcpy(d->ctype, ct, n);
    d->ctype[n] = '\0';
    return 0;
}

static int docs_set_lang(struct doc_upload *u, const char *s, size_t n, struct docs_fail *f)
{
    if (n == 0)
        return 0;
    if (n > DOCS_LANG_MAX)
        return docs_failf(f, 400, "invalid_request", "lang is too long");
    for (size_t i = 0; i < n; i++)
        if (!(isalnum((unsigned char)s[i]) || s[i] == '+' || s[i] == '_'))
            return docs_failf(f, 400, "invalid_request",
                              "lang must look like \"eng\" or \"eng+vie\"");
    memcpy(u->lang, s, n);
    u->lang[n] = '\0';
    return 0;
}

static struct doc_in *upload_add(struct doc_upload *u, struct docs_fail *f)
{
    if ((long)u->n >= docs_max_files) {
        docs_failf(f, 400, "too_many_documents", "at most %ld documents per batch", docs_max_files);
        return NULL;
    }
    if (u->n == u->cap) {
        size_t ncap = u->cap ? u->cap * 2 : 4;
        struct doc_in *nd = realloc(u->docs, ncap * sizeof *nd);
        if (!nd) {
            docs_failf(f, 500, "internal", "out of memory");
            return NULL;
        }
        u->docs = nd;
        u->cap = ncap;
    }
    struct doc_in *d = &u->docs[u->n++];
    memset(d, 0, sizeof *d);
    return d;
}

static int docs_check_size(const struct doc_in *d, struct docs_fail *f)
{
    if (d->len == 0)
        return docs_failf(f, 400, "invalid_request", "document \"%.64s\" is empty", d->filename);
    if ((long)d->len > docs_max_file_bytes)
        return docs_failf(f, 413, "document_too_large",
                          "document \"%.64s\" is larger than %ld bytes", d->filename,
                          docs_max_file_bytes);
    return 0;
}

/* ---- JSON body ---- */

static int parse_json_upload(const char *body, size_t len, struct doc_upload *u,
                             struct docs_fail *f)
{
    json_object *root = NULL, *arr, *v;
    char why[192];
    int rc = -1;

    if (json_strict_parse(body, len, 16, 0, &root, why, sizeof why) != 0)
        return docs_failf(f, 400, "invalid_json", "body is not valid JSON: %s", why);
    if (!json_object_is_type(root, json_type_object)) {
        docs_failf(f, 400, "invalid_json", "body must be a JSON object, not %s",
                   json_type_to_name(json_object_get_type(root)));
        goto out;
    }
    static const char *const members[] = {"documents", "lang"};
    static const char *const doc_members[] = {"filename", "content_type", "content_base64"};
    char msg[256];
    if (json_members_check(root, members, sizeof members / sizeof *members, msg, sizeof msg) != 0) {
        docs_failf(f, 400, "invalid_request", "%s", msg);
        goto out;
    }
    if (json_object_object_get_ex(root, "lang", &v) && v) {
        if (!json_object_is_type(v, json_type_string)) {
            docs_failf(f, 400, "invalid_request", "lang must be a string");
            goto out;
        }
        if (docs_set_lang(u, json_object_get_string(v), (size_t)json_object_get_string_len(v), f) !=
            0)
            goto out;
    }
    if (!json_object_object_get_ex(root, "documents", &arr) ||
        !json_object_is_type(arr, json_type_array) || json_object_array_length(arr) == 0) {
        docs_failf(f, 400, "invalid_request",
                   "documents must be a non-empty array of {filename, content_type, "
                   "content_base64}");
        goto out;
    }
    if ((long)json_object_array_length(arr) > docs_max_files) {
        docs_failf(f, 400, "too_many_documents", "at most %ld documents per batch", docs_max_files);
        goto out;
    }
    for (size_t i = 0; i < json_object_array_length(arr); i++) {
        json_object *o = json_object_array_get_idx(arr, i), *fn = NULL, *ct = NULL, *cb = NULL;
        if (!json_object_is_type(o, json_type_object)) {
            docs_failf(f, 400, "invalid_request", "documents[%zu] must be an object", i);
            goto out;
        }
        if (json_members_check(o, doc_members, sizeof doc_members / sizeof *doc_members, msg,
                               sizeof msg) != 0) {
            docs_failf(f, 400, "invalid_request", "documents[%zu]: %s", i, msg);
            goto out;
        }
        json_object_object_get_ex(o, "filename", &fn);
        json_object_object_get_ex(o, "content_type", &ct);
        json_object_object_get_ex(o, "content_base64", &cb);
        if ((fn && !json_object_is_type(fn, json_type_string)) ||
            (ct && !json_object_is_type(ct, json_type_string)) || !cb ||
            !json_object_is_type(cb, json_type_string)) {
            docs_failf(f, 400, "invalid_request",
                       "documents[%zu] needs content_base64 (string); filename and "
                       "content_type must be strings",
                       i);
            goto out;
        }
        struct doc_in *d = upload_add(u, f);
        if (!d)
            goto out;
        if (docs_set_filename(d, fn ? json_object_get_string(fn) : "",
                              fn ? (size_t)json_object_get_string_len(fn) : 0, i, f) != 0 ||
            docs_set_ctype(d, ct ? json_object_get_string(ct) : "",
                           ct ? (size_t)json_object_get_string_len(ct) : 0, f) != 0)
            goto out;
        /* Standard base64; line breaks and blanks (as MIME tools write them) are skipped. */
        const char *s = json_object_get_string(cb);
        size_t sl = (size_t)json_object_get_string_len(cb), k = 0;
        if (b64_decoded_max(sl) > (size_t)docs_max_file_bytes + 3) {
            docs_failf(f, 413, "document_too_large", "document \"%.64s\" is larger than %ld bytes",
                       d->filename, docs_max_file_bytes);
            goto out;
        }
        char *clean = malloc(sl + 1);
        d->owned = malloc(b64_decoded_max(sl) + 1);
        if (!clean || !d->owned) {
            free(clean);
            docs_failf(f, 500, "internal", "out of memory");
            goto out;
        }
        for (size_t j = 0; j < sl; j++)
            if (s[j] != '\n' && s[j] != '\r' && s[j] != ' ' && s[j] != '\t')
                clean[k++] = s[j];
        int bad = b64_decode(clean, k, d->owned, b64_decoded_max(sl) + 1, &d->len, B64_STD);
        free(clean);
        if (bad) {
            docs_failf(f, 400, "invalid_request",
                       "documents[%zu].content_base64 is not valid "
                       "base64",
                       i);
            goto out;
        }
        d->data = d->owned;
        if (docs_check_size(d, f) != 0)
            goto out;
    }
    rc = 0;
out:
    json_object_put(root);
    return rc;
}

/* ---- multipart/form-data body (RFC 7578) ---- */

/* The boundary parameter of a Content-Type, quoted or not. */
static int multipart_boundary(const char *ctype, char *out, size_t cap)
{
    const char *p = strcasestr(ctype, "boundary=");
    if (!p)
        return -1;
    p += 9;
    size_t n = 0;
    if (*p == '"') {
        p++;
        while (p[n] && p[n] != '"')
            n++;
    } else {
        while (p[n] && p[n] != ';' && p[n] != ' ' && p[n] != '\t')
            n++;
    }
    if (n == 0 || n > 70 || n + 1 > cap)
        return -1;
    memcpy(out, p, n);
    out[n] = '\0';
    return 0;
}

/* Finds parameter `name` (e.g. "filename") in a Content-Disposition value. Handles quoted
 * strings with backslash escapes. *val points into a static-free copy: writes into buf. */
static int disposition_param(const char *h, size_t hn, const char *name, char *buf, size_t cap,
                             size_t *outlen)
{
    size_t nl = strlen(name), i = 0;
    while (i < hn) {
        /* parameter start: after ';' and blanks */
        while (i < hn && h[i] != ';')
            i++;
        if (i >= hn)
            break;
        i++;
        while (i < hn && (h[i] == ' ' || h[i] == '\t'))
            i++;
        if (i + nl + 1 <= hn && strncasecmp(h + i, name, nl) == 0 && h[i + nl] == '=') {
            size_t j = i + nl + 1, k = 0;
            if (j < hn && h[j] == '"') {
                j++;
                while (j < hn && h[j] != '"') {
                    if (h[j] == '\\' && j + 1 < hn)
                        j++;
                    if (k + 1 >= cap)
                        return -2;
                    buf[k++] = h[j++];
                }
            } else {
                while (j < hn && h[j] != ';' && h[j] != ' ' && h[j] != '\t') {
                    if (k + 1 >= cap)
                        return -2;
                    buf[k++] = h[j++];
                }
            }
            buf[k] = '\0';
            *outlen = k;
            return 0;
        }
    }
    return -1;
}

static int parse_multipart_upload(const char *body, size_t len, const char *ctype,
                                  struct doc_upload *u, struct docs_fail *f)
{
    char boundary[80], delim[90];
    if (multipart_boundary(ctype, boundary, sizeof boundary) != 0)
        return docs_failf(f, 400, "invalid_request", "multipart body without a valid boundary");
    int dl = snprintf(delim, sizeof delim, "\r\n--%s", boundary);
    /* The first delimiter may come without the leading CRLF. */
    const char *p = memmem(body, len, delim + 2, (size_t)dl - 2);
    const char *end = body + len;
    size_t index = 0;
    if (!p)
        return docs_failf(f, 400, "invalid_request", "multipart body without parts");
    p += dl - 2;
    for (;;) {
        if (end - p >= 2 && p[0] == '-' && p[1] == '-')
            break; /* closing delimiter */
        while (p < end && (*p == ' ' || *p == '\t'))
            p++;
        if (end - p < 2 || p[0] != '\r' || p[1] != '\n')
            return docs_failf(f, 400, "invalid_request", "malformed multipart body");
        p += 2;
        const char *hend = memmem(p, (size_t)(end - p), "\r\n\r\n", 4);
        if (!hend)
            return docs_failf(f, 400, "invalid_request", "malformed multipart part headers");
        const char *data = hend + 4;
        const char *next = memmem(data, (size_t)(end - data), delim, (size_t)dl);
        if (!next)
            return docs_failf(f, 400, "invalid_request",
                              "multipart body is truncated (no closing boundary)");
        char name[64] = "", fname[4 * DOCS_FILENAME_MAX + 1] = "";
        const char *pct = NULL;
        size_t pctn = 0, fnamen = 0, namen = 0;
        int has_fname = 0;
        /* headers: lines until hend */
        const char *h = p;
        while (h < hend) {
            const char *eol = memmem(h, (size_t)(hend - h) + 2, "\r\n", 2);
            if (!eol)
                eol = hend;
            size_t hl = (size_t)(eol - h);
            if (hl > 20 && strncasecmp(h, "Content-Disposition:", 20) == 0) {
                int r1 =
                    disposition_param(h + 20, hl - 20, "filename", fname, sizeof fname, &fnamen);
                if (r1 == -2)
                    return docs_failf(f, 400, "invalid_request", "filename longer than %d bytes",
                                      DOCS_FILENAME_MAX);
                has_fname = r1 == 0;
                if (disposition_param(h + 20, hl - 20, "name", name, sizeof name, &namen) != 0)
                    name[0] = '\0';
            } else if (hl > 13 && strncasecmp(h, "Content-Type:", 13) == 0) {
                pct = h + 13;
                pctn = hl - 13;
            }
            h = eol + 2;
        }
        size_t dlen = (size_t)(next - data);
        if (has_fname) {
            struct doc_in *d = upload_add(u, f);
            if (!d)
                return -1;
            if (docs_set_filename(d, fname, fnamen, index, f) != 0 ||
                docs_set_ctype(d, pct ? pct : "", pct ? pctn : 0, f) != 0)
                return -1;
            d->data = (const unsigned char *)data;
            d->len = dlen;
            if (docs_check_size(d, f) != 0)
                return -1;
            index++;
        } else if (strcmp(name, "lang") == 0) {
            if (docs_set_lang(u, data, dlen, f) != 0)
                return -1;
        }
        p = next + dl;
    }
    if (u->n == 0)
        return docs_failf(f, 400, "invalid_request",
                          "no files: send multipart parts with a filename");
    return 0;
}

#ifndef ROUTES_DOCUMENTS_PARSER_ONLY

/* ---- settings (the ingress's table checks them; set once at start) -------------------- */

static long docs_max_body = 64L * 1024 * 1024;

void documents_set_limits(long max_files, long max_file_bytes, long max_body)
{
    docs_max_files = max_files;
    docs_max_file_bytes = max_file_bytes;
    docs_max_body = max_body;
}

/* ---- helpers ------------------------------------------------------------------------------- */

static int docs_tx(PGconn *c, const char *sql)
{
    char err[128];
    return pgconn_exec(c, NULL, sql, 0, NULL, err, sizeof err);
}

static void add_urls(json_object *o, const char *tenant, const char *batch_id)
{
    char url[256];
    snprintf(url, sizeof url, "/api/%s/documents/%s/events", tenant, batch_id);
    json_object_object_add(o, "events_url", json_object_new_string(url));
    snprintf(url, sizeof url, "/api/%s/documents/%s", tenant, batch_id);
    json_object_object_add(o, "result_url", json_object_new_string(url));
}

/* ---- POST ---------------------------------------------------------------------------------- */

/* What one upload holds while it runs, counted in app->holds: its body bytes (the body, its
 * parsed documents and the base64 text of one document at a time are in memory together,
 * about 2.4 times the body at worst) under "B" (all tenants) and "b\x1f<tenant>", and one
 * upload under "n\x1f<tenant>" (each holds a worker thread while its body arrives). */
struct upload_share {
    long bytes;
    int taken; /* bit 1 global bytes, 2 tenant bytes, 4 tenant uploads */
};

static void upload_share_put(struct req *r, const char *tenant, struct upload_share *sh)
{
    char k[80];
    struct ctab *t = r->app->holds;
    if (sh->taken & 1)
        ctab_put(t, "B", sh->bytes);
    snprintf(k, sizeof k, "b\x1f%s", tenant);
    if (sh->taken & 2)
        ctab_put(t, k, sh->bytes);
    snprintf(k, sizeof k, "n\x1f%s", tenant);
    if (sh->taken & 4)
        ctab_put(t, k, 1);
    sh->taken = 0;
}

static int upload_share_take(struct req *r, const char *tenant, struct upload_share *sh)
{
    const struct ingress_settings *c = &r->app->cfg;
    struct ctab *t = r->app->holds;
    char k[80];
    long long cl = r->ri->content_length;
    sh->bytes = cl >= 0 && cl < docs_max_body ? (long)cl : docs_max_body;
    int rc = 1, why = 0;
    snprintf(k, sizeof k, "n\x1f%s", tenant);
    if (rc == 1 && (rc = ctab_take(t, k, 1, c->docs_tenant_uploads)) == 1)
        sh->taken |= 4;
    else if (rc == 0)
        why = 1;
    snprintf(k, sizeof k, "b\x1f%s", tenant);
    if (rc == 1 && (rc = ctab_take(t, k, sh->bytes, c->docs_tenant_bytes)) == 1)
        sh->taken |= 2;
    else if (rc == 0 && !why)
        why = 1;
    if (rc == 1 && (rc = ctab_take(t, "B", sh->bytes, c->docs_total_bytes)) == 1)
        sh->taken |= 1;
    else if (rc == 0 && !why)
        why = 2;
    if (rc == 1)
        return 0;
    upload_share_put(r, tenant, sh);
    metrics_inc(metrics_counter("ingress_uploads_refused_total",
                                "document uploads refused at the upload memory or concurrency caps",
                                why == 1 ? "scope=\"tenant\"" : "scope=\"total\""),
                1);
    if (why == 1)
        reply_error(r, 429, "too_many_uploads",
                    "this tenant has too many uploads in progress; retry later");
    else
        reply_error(r, 503, "busy", "too many uploads in progress; retry later");
    return -1;
}

static void documents_post(struct req *r, const char *tenant)
{
    struct ingress *app = r->app;
    struct doc_upload up;
    struct docs_fail fail;
    struct envelope env;
    PGconn *conn = NULL;
    PGresult *res = NULL;
    char err[256], batch_id[UUID_STR_LEN] = "";
    char *b64 = NULL, *payload = NULL;
    int in_tx = 0, st, have_env = 0, committed = 0;
    struct upload_share share;
    memset(&up, 0, sizeof up);
    memset(&fail, 0, sizeof fail);
    memset(&share, 0, sizeof share);

    if (req_auth_tenant(r, tenant) != 0)
        return;
    if (r->ri->content_length > docs_max_body) {
        reply_error(r, 413, "payload_too_large", "request body too large");
        return;
    }
    /* The tenant's share of the upload memory and threads, taken before a byte is read. */
    if (upload_share_take(r, tenant, &share) != 0)
        return;
    /* INGRESS_MAX_BODY is sized for chat; uploads have their own limit. */
    if (req_read_body_max(r, docs_max_body) != 0)
        goto out;
    const char *ct = mg_get_header(r->conn, "Content-Type");
    int prc;
    if (ct && strncasecmp(ct, "multipart/form-data", 19) == 0)
        prc = parse_multipart_upload(r->body, r->body_len, ct, &up, &fail);
    else if (!ct || strncasecmp(ct, "application/json", 16) == 0)
        prc = parse_json_upload(r->body, r->body_len, &up, &fail);
    else
        prc = docs_failf(&fail, 415, "unsupported_media_type",
                         "send multipart/form-data or application/json");
    if (prc != 0) {
        reply_error(r, fail.status, fail.code, fail.message);
        goto out;
    }
    /* A file no reader takes (a .docx, a zip) is refused now, the whole batch with it, rather
     * than accepted and failed later by the docworker. */
    for (size_t i = 0; i < up.n; i++) {
        if (doc_sniff(up.docs[i].data, up.docs[i].len, up.docs[i].ctype) == DOC_KIND_UNKNOWN) {
            char msg[400];
            snprintf(msg, sizeof msg,
                     "document \"%.64s\" (%.64s) is not a PDF, an image (PNG, JPEG, TIFF, GIF, "
                     "BMP, WebP, PNM) or UTF-8 text/plain; nothing was accepted",
                     up.docs[i].filename, up.docs[i].ctype[0] ? up.docs[i].ctype : "no type");
            reply_error(r, 415, "unsupported_document_type", msg);
            goto out;
        }
    }

    /* The batch envelope: job_id is the batch id (its event stream and logs). */
    if (envelope_init(&env, "doc.request", NULL) != 0) {
        reply_error(r, 500, "internal", "cannot create batch");
        goto out;
    }
    have_env = 1;
    const char *tph = mg_get_header(r->conn, "traceparent");
    struct traceparent tpin, tpout;
    if (tph && traceparent_parse(tph, &tpin) == 0 && traceparent_child(&tpin, &tpout) == 0)
        traceparent_format(&tpout, env.traceparent);
    snprintf(env.tenant_id, sizeof env.tenant_id, "%s", tenant);
    snprintf(env.user_id, sizeof env.user_id, "%s", r->claims.sub);
    snprintf(batch_id, sizeof batch_id, "%s", env.job_id);
    snprintf(r->job_id, sizeof r->job_id, "%s", batch_id);
    r->log.job_id = r->job_id;

    conn = pgpool_acquire(app->db, 3000, &st, err, sizeof err);
    if (!conn) {
        reply_db_error(r, st, "acquire");
        goto out;
    }
    if ((st = docs_tx(conn, "BEGIN")) != PG_OK) {
        reply_db_error(r, st, "begin");
        goto out;
    }
    in_tx = 1;
    {
        char total[24];
        json_object *meta = json_object_new_object();
        if (up.lang[0])
            json_object_object_add(meta, "lang", json_object_new_string(up.lang));
        snprintf(total, sizeof total, "%zu", up.n);
        const char *p[] = {batch_id, tenant, r->claims.sub, total,
                           json_object_to_json_string_ext(meta, JSON_C_TO_STRING_PLAIN)};
        st = pgconn_exec(conn, NULL,
                         "INSERT INTO document_batches (batch_id, tenant_id, user_id, status, "
                         "total, metadata) VALUES ($1, $2, $3, 'queued', $4::int, $5::jsonb)",
                         5, p, err, sizeof err);
        json_object_put(meta);
        if (st == PG_ERR_FOREIGN_KEY) {
            reply_error(r, 404, "not_found", "no such tenant");
            goto out;
        }
        if (st != PG_OK) {
            reply_db_error(r, st, "batch insert");
            goto out;
        }
    }
    for (size_t i = 0; i < up.n; i++) {
        struct doc_in *d = &up.docs[i];
        char size[24], sha[65];
        size_t cap = b64_encoded_size(d->len, B64_STD);
        free(b64);
        b64 = malloc(cap);
        if (!b64 || b64_encode(d->data, d->len, b64, cap, B64_STD) != 0) {
            reply_error(r, 500, "internal", "out of memory");
            goto out;
        }
        if (uuid_v4(d->document_id) != 0) {
            reply_error(r, 500, "internal", "cannot create document id");
            goto out;
        }
        snprintf(size, sizeof size, "%zu", d->len);
        sha256_hex(d->data, d->len, sha);
        const char *p[] = {d->document_id, batch_id, tenant, d->filename, d->ctype, size, sha, b64};
        st = pgconn_exec(conn, NULL,
                         "INSERT INTO documents (document_id, batch_id, tenant_id, filename, "
                         "content_type, size_bytes, sha256, content, status) VALUES ($1, $2, $3, "
                         "$4, $5, $6::bigint, $7, decode($8, 'base64'), 'queued')",
                         8, p, err, sizeof err);
        if (st != PG_OK) {
            reply_db_error(r, st, "document insert");
            goto out;
        }
    }
    free(b64);
    b64 = NULL;
    /* Committed before anything is sent to the broker, and the connection goes back to the
     * pool: waiting for the broker's acks (up to INGRESS_PUBLISH_TIMEOUT_MS per document, for
     * ever if it is down) must not hold one of INGRESS_PG_POOL connections, which every other
     * request needs. A doc.request can then never arrive before its row. */
    if ((st = docs_tx(conn, "COMMIT")) != PG_OK) {
        in_tx = 0;
        reply_db_error(r, st, "commit");
        goto out;
    }
    in_tx = 0;
    committed = 1;
    pgpool_release(app->db, conn);
    conn = NULL;
    /* The bytes are in PostgreSQL now; the parsed documents still point into the body, but
     * only their names and ids are needed from here on. */
    for (size_t i = 0; i < up.n; i++) {
        free(up.docs[i].owned);
        up.docs[i].owned = NULL;
        up.docs[i].data = NULL;
    }
    free(r->body);
    r->body = NULL;

    {
        /* The stream's first event, written before any doc.request can reach a docworker so
         * that it always comes first. If the batch is then withdrawn, the event sits in a
         * stream nobody can open (the batch is a 404) until its TTL ends. A failure only means
         * streams start at the first result. */
        json_object *q = json_object_new_object();
        json_object_object_add(q, "batch_id", json_object_new_string(batch_id));
        json_object_object_add(q, "status", json_object_new_string("queued"));
        json_object_object_add(q, "total", json_object_new_int((int)up.n));
        int erc = jobevents_emit(app->rc, NULL, &env, "queued", q, NULL, 0);
        if (erc != 0)
            log_kv(LOG_WARN, &r->log, "queued event not written", "status", rc_status_str(erc),
                   (char *)NULL);
        json_object_put(q);
    }
    /* One doc.request per document, each acknowledged by the broker before the 202. */
    for (size_t i = 0; i < up.n; i++) {
        struct doc_in *d = &up.docs[i];
        json_object_put(env.payload);
        env.payload = json_object_new_object();
        if (!env.payload) {
            reply_error(r, 500, "internal", "out of memory");
            goto out;
        }
        snprintf(env.session_id, sizeof env.session_id, "%s", d->document_id);
        json_object_object_add(env.payload, "batch_id", json_object_new_string(batch_id));
        json_object_object_add(env.payload, "document_id", json_object_new_string(d->document_id));
        json_object_object_add(env.payload, "filename", json_object_new_string(d->filename));
        json_object_object_add(env.payload, "content_type", json_object_new_string(d->ctype));
        json_object_object_add(env.payload, "index", json_object_new_int((int)i));
        json_object_object_add(env.payload, "total", json_object_new_int((int)up.n));
        if (up.lang[0])
            json_object_object_add(env.payload, "lang", json_object_new_string(up.lang));
        free(payload);
        payload = envelope_encode(&env);
        if (!payload) {
            reply_error(r, 500, "internal", "cannot encode document request");
            goto out;
        }
        struct kafka_header hdrs[] = {{"traceparent", env.traceparent}};
        /* Keyed by the document, not the batch: a batch's documents spread over the
         * partitions, so several docworkers of the group share one batch (documents of a
         * batch are independent; the batch's counts move in the docworker's transaction). */
        int prc2 = app->prod ? kafka_produce_sync(app->prod, KAFKA_TOPIC_DOCUMENTS, d->document_id,
                                                  payload, strlen(payload), hdrs, 1,
                                                  (int)app->cfg.publish_timeout_ms, err, sizeof err)
                             : -EIO;
        if (prc2 != 0) {
            log_kv(LOG_WARN, &r->log, "document publish failed; withdrawing the batch", "error",
                   prc2 == -ETIMEDOUT ? "timeout" : err, (char *)NULL);
            metrics_inc(metrics_counter("ingress_publish_failures_total",
                                        INGRESS_PUBLISH_FAILURES_HELP, "topic=\"documents\""),
                        1);
            reply_error(r, 503, "unavailable", "message broker unavailable, retry later");
            goto out; /* the batch is withdrawn below */
        }
    }
    committed = 0; /* accepted: every document is in PostgreSQL and on the broker */
    metrics_inc(
        metrics_counter("ingress_document_batches_accepted_total", "document batches accepted", ""),
        1);

    json_object *o = json_object_new_object(), *docs = json_object_new_array();
    json_object_object_add(o, "batch_id", json_object_new_string(batch_id));
    json_object_object_add(o, "status", json_object_new_string("queued"));
    json_object_object_add(o, "total", json_object_new_int((int)up.n));
    for (size_t i = 0; i < up.n; i++) {
        json_object *d = json_object_new_object();
        json_object_object_add(d, "document_id", json_object_new_string(up.docs[i].document_id));
        json_object_object_add(d, "filename", json_object_new_string(up.docs[i].filename));
        json_object_object_add(d, "content_type", json_object_new_string(up.docs[i].ctype));
        json_object_object_add(d, "size_bytes", json_object_new_int64((int64_t)up.docs[i].len));
        json_object_array_add(docs, d);
    }
    json_object_object_add(o, "documents", docs);
    add_urls(o, tenant, batch_id);
    char nbuf[24];
    snprintf(nbuf, sizeof nbuf, "%zu", up.n);
    log_kv(LOG_INFO, &r->log, "document batch accepted", "documents", nbuf, (char *)NULL);
    reply_json(r, 202, o);
    json_object_put(o);
out:
    if (res)
        PQclear(res);
    if (conn) {
        if (in_tx)
            docs_tx(conn, "ROLLBACK");
        pgpool_release(app->db, conn);
    }
    if (committed) {
        /* Committed but not accepted (a publish failed): the client got 503, so the batch goes
         * (its documents with it, ON DELETE CASCADE); a doc.request that did get out finds no
         * row and is skipped by the docworker. If this DELETE fails too (PostgreSQL gone as
         * well) the batch stays queued, visible to its user, and is logged. */
        const char *p[] = {batch_id, tenant};
        char derr[256];
        if (pgpool_exec(app->db, NULL,
                        "DELETE FROM document_batches WHERE batch_id = $1 AND tenant_id = $2", 2, p,
                        derr, sizeof derr) != PG_OK)
            log_kv(LOG_ERROR, &r->log, "batch not withdrawn after a failed publish", "error", derr,
                   (char *)NULL);
    }
    free(b64);
    free(payload);
    if (have_env)
        envelope_cleanup(&env);
    upload_cleanup(&up);
    upload_share_put(r, tenant, &share);
}

/* ---- GET ----------------------------------------------------------------------------------- */

/* Page results shown per document in GET (the texts are in "text", '\f' between pages). */
#define DOCS_PAGE_RESULTS_MAX 200

/* Adds "page_results" [{page, method, chars, confidence, error}] (at most
 * DOCS_PAGE_RESULTS_MAX, then "page_results_truncated": true) to each document of docs. */
static int batch_add_pages(struct req *r, const char *tenant, const char *batch_id,
                           json_object *docs)
{
    PGresult *res = NULL;
    char err[256], lim[16];
    snprintf(lim, sizeof lim, "%d", DOCS_PAGE_RESULTS_MAX);
    const char *p[] = {batch_id, tenant, lim};
    int st = pgpool_exec(r->app->db, &res,
                         "SELECT document_id, page, method, chars, confidence, error, n FROM ("
                         "SELECT p.document_id, p.page, p.method, char_length(p.text) AS chars, "
                         "p.confidence, p.error, "
                         "row_number() OVER (PARTITION BY p.document_id ORDER BY p.page) AS n "
                         "FROM document_pages p JOIN documents d "
                         "ON d.document_id = p.document_id AND d.tenant_id = p.tenant_id "
                         "WHERE d.batch_id = $1 AND d.tenant_id = $2) q "
                         "WHERE n <= $3::int + 1 ORDER BY document_id, page",
                         3, p, err, sizeof err);
    if (st != PG_OK)
        return st;
    json_object *by_doc = json_object_new_object();
    int rows = PQntuples(res);
    for (int i = 0; i < rows; i++) {
        const char *id = PQgetvalue(res, i, 0);
        json_object *arr;
        if (!json_object_object_get_ex(by_doc, id, &arr)) {
            arr = json_object_new_array();
            json_object_object_add(by_doc, id, arr);
        }
        if (atol(PQgetvalue(res, i, 6)) > DOCS_PAGE_RESULTS_MAX)
            continue; /* the one past the bound: only marks truncation below */
        json_object *o = json_object_new_object();
        json_object_object_add(o, "page", json_object_new_int(atoi(PQgetvalue(res, i, 1))));
        json_object_object_add(o, "method", json_object_new_string(PQgetvalue(res, i, 2)));
        json_object_object_add(o, "chars", json_object_new_int64(atoll(PQgetvalue(res, i, 3))));
        json_object_object_add(o, "confidence",
                               PQgetisnull(res, i, 4) ? NULL
                                                      : json_number_text(PQgetvalue(res, i, 4)));
        json_object_object_add(
            o, "error",
            PQgetisnull(res, i, 5) ? NULL : json_object_new_string(PQgetvalue(res, i, 5)));
        json_object_array_add(arr, o);
    }
    size_t n = json_object_array_length(docs);
    for (size_t i = 0; i < n; i++) {
        json_object *d = json_object_array_get_idx(docs, i), *arr;
        const char *id = json_field_str(d, "document_id");
        if (id && json_object_object_get_ex(by_doc, id, &arr)) {
            json_object_object_add(d, "page_results", json_object_get(arr));
            if (json_object_array_length(arr) == DOCS_PAGE_RESULTS_MAX) {
                /* one row past the bound was fetched iff there are more pages */
                for (int k = 0; k < rows; k++)
                    if (strcmp(PQgetvalue(res, k, 0), id) == 0 &&
                        atol(PQgetvalue(res, k, 6)) > DOCS_PAGE_RESULTS_MAX)
                        json_object_object_add(d, "page_results_truncated",
                                               json_object_new_boolean(1));
            }
        } else {
            json_object_object_add(d, "page_results", json_object_new_array());
        }
    }
    json_object_put(by_doc);
    PQclear(res);
    return PG_OK;
}

/* Loads the batch with its documents. 0 with *out, 1 no such batch (for this caller), or a
 * negative pg_status. */
static int batch_fetch(struct req *r, const char *tenant, const char *batch_id, int with_docs,
                       json_object **out)
{
    PGresult *res = NULL;
    char err[256];
    *out = NULL;
    const char *p[] = {batch_id, tenant, r->claims.sub, r->claims.admin ? "t" : "f"};
    int st = pgpool_exec(
        r->app->db, &res,
        "SELECT batch_id, status, total, succeeded, failed, "
        "total - succeeded - failed AS pending, user_id, metadata, " DOCS_TS(
            "created_at") " AS created_at, " DOCS_TS("updated_at") " AS updated_at FROM "
                                                                   "document_batches WHERE "
                                                                   "batch_id = $1 AND "
                                                                   "tenant_id = $2 AND (user_id = "
                                                                   "$3 OR $4::boolean)",
        4, p, err, sizeof err);
    if (st != PG_OK)
        return st == PG_ERR_INVALID ? 1 : st;
    if (PQntuples(res) == 0) {
        PQclear(res);
        return 1;
    }
    json_object *b = pg_row_json(res, 0);
    PQclear(res);
    res = NULL;
    if (with_docs) {
        const char *p2[] = {batch_id, tenant};
        st = pgpool_exec(
            r->app->db, &res,
            "SELECT document_id, filename, content_type, size_bytes, sha256, status, "
            "text, error, pages, metadata, " DOCS_TS("created_at") " AS created_at, " DOCS_TS(
                "updated_at") " AS updated_at "
                              "FROM documents WHERE batch_id = $1 AND tenant_id = $2 "
                              "ORDER BY created_at, document_id",
            2, p2, err, sizeof err);
        if (st != PG_OK) {
            json_object_put(b);
            return st;
        }
        json_object *docs = pg_rows_json(res);
        json_object_object_add(b, "documents", docs);
        PQclear(res);
        if ((st = batch_add_pages(r, tenant, batch_id, docs)) != PG_OK) {
            json_object_put(b);
            return st;
        }
    }
    *out = b;
    return 0;
}

static int batch_load(struct req *r, const char *tenant, const char *batch_id, int with_docs,
                      json_object **out)
{
    int st = uuid_valid(batch_id) ? batch_fetch(r, tenant, batch_id, with_docs, out) : 1;
    if (st == 1) {
        reply_error(r, 404, "not_found", "no such document batch");
        return -1;
    }
    if (st != 0) {
        reply_db_error(r, st, "batch lookup");
        return -1;
    }
    return 0;
}

/* The caller's batches, newest first (?limit=1..200, default 50; ?before=<RFC 3339 created_at>
 * pages further back). */
static void documents_list(struct req *r, const char *tenant)
{
    PGresult *res = NULL;
    char err[256], limit[16] = "50", before[64] = "";
    if (req_auth_tenant(r, tenant) != 0)
        return;
    if (req_query(r, "limit", limit, sizeof limit) == 0) {
        char *end;
        long v = strtol(limit, &end, 10);
        if (!limit[0] || *end || v < 1 || v > 200) {
            reply_error(r, 400, "invalid_request", "limit must be an integer from 1 to 200");
            return;
        }
    }
    req_query(r, "before", before, sizeof before);
    const char *p[] = {tenant, r->claims.sub, limit, before[0] ? before : NULL};
    int st = pgpool_exec(
        r->app->db, &res,
        "SELECT batch_id, status, total, succeeded, failed, "
        "total - succeeded - failed AS pending, " DOCS_TS("created_at") " AS created_at, " DOCS_TS(
            "updated_at") " AS updated_at FROM document_batches WHERE tenant_id = $1 AND "
                          "user_id = $2 AND ($4::timestamptz IS NULL OR created_at < $4) "
                          "ORDER BY created_at DESC, batch_id LIMIT $3::int",
        4, p, err, sizeof err);
    if (st != PG_OK) {
        reply_db_error(r, st, "batch list");
        return;
    }
    json_object *o = json_object_new_object();
    json_object_object_add(o, "batches", pg_rows_json(res));
    PQclear(res);
    reply_json(r, 200, o);
    json_object_put(o);
}

static void documents_get(struct req *r, const char *tenant, const char *batch_id)
{
    struct ingress *app = r->app;
    json_object *b = NULL;
    int wait_s = 0;
    char buf[32];

    if (req_auth_tenant(r, tenant) != 0)
        return;
    if (req_query(r, "wait", buf, sizeof buf) == 0) {
        char *end;
        long v = strtol(buf, &end, 10);
        if (!buf[0] || *end || v < 0 || v > app->cfg.max_wait_s) {
            char msg[96];
            snprintf(msg, sizeof msg, "wait must be an integer from 0 to %ld", app->cfg.max_wait_s);
            reply_error(r, 400, "invalid_request", msg);
            return;
        }
        wait_s = (int)v;
    }
    r->log.job_id = batch_id;
    if (batch_load(r, tenant, batch_id, 0, &b) != 0)
        return;
    if (wait_s > 0 && !status_terminal(json_field_str(b, "status")) && req_hold(r)) {
        /* Registered before re-reading, so a wake-up in between is not lost. */
        struct sse_waiter *w = sse_hub_register(app->hub, batch_id);
        double deadline = now_mono() + wait_s;
        while (w && !app->stopping) {
            json_object *b2 = NULL;
            if (batch_fetch(r, tenant, batch_id, 0, &b2) == 0 && b2) {
                json_object_put(b);
                b = b2;
                if (status_terminal(json_field_str(b, "status")))
                    break;
            }
            double left = deadline - now_mono();
            if (left <= 0)
                break;
            int ms = (int)(left * 1000.0);
            if (ms > app->cfg.sse_poll_ms)
                ms = (int)app->cfg.sse_poll_ms;
            sse_hub_wait(app->hub, w, ms > 0 ? ms : 1);
            if (sse_hub_is_shutdown(app->hub))
                break;
        }
        sse_hub_unregister(app->hub, w);
    }
    json_object_put(b);
    b = NULL;
    if (batch_load(r, tenant, batch_id, 1, &b) != 0)
        return;
    add_urls(b, tenant, batch_id);
    reply_json(r, 200, b);
    json_object_put(b);
}

/* ---- SSE ----------------------------------------------------------------------------------- */

/* One event as one chunk; JSON data is a single line (json-c escapes newlines). */
static int docs_send_event(struct req *r, const char *id, const char *event, const char *data)
{
    size_t n = 0;
    char *buf = sse_event_format(id, event, data, &n);
    int rc = buf ? stream_write(r, buf, n) : -1;
    free(buf);
    return rc;
}

static void documents_events(struct req *r, const char *tenant, const char *batch_id)
{
    struct ingress *app = r->app;
    json_object *b = NULL;
    struct sse_waiter *w = NULL;
    char last[48] = "0", qlei[48];
    int done = 0, fail = 0, saw_final = 0;

    if (req_auth_tenant(r, tenant) != 0)
        return;
    r->log.job_id = batch_id;
    const char *lei = mg_get_header(r->conn, "Last-Event-ID");
    if (lei && *lei)
        snprintf(last, sizeof last, "%.47s", lei);
    else if (req_query(r, "last_event_id", qlei, sizeof qlei) == 0 && qlei[0])
        snprintf(last, sizeof last, "%s", qlei);
    if (!sse_id_valid(last)) {
        reply_error(r, 400, "invalid_request", "invalid Last-Event-ID");
        return;
    }
    if (batch_load(r, tenant, batch_id, 0, &b) != 0)
        return;
    json_object_put(b);
    b = NULL;
    if (!req_hold_stream(r))
        return;
    w = sse_hub_register(app->hub, batch_id);
    if (!w) {
        reply_error(r, 500, "internal", "out of memory");
        return;
    }
    struct metric *open_g =
        metrics_gauge("ingress_sse_streams_open", "SSE streams currently open", "");
    metrics_inc(open_g, 1);
    /* Chunked like the job stream: its end is a zero chunk, so the client sees the stream end
     * at once instead of when the kept-alive connection times out. */
    reply_stream_begin(r, "text/event-stream");
    /* The first PostgreSQL check is at once: a finished batch's stream ends as soon as what is
     * after Last-Event-ID has been replayed (an id beyond the end, or one the stream never had,
     * does not hold it open). */
    double start = now_mono(), last_write = start, last_pg = start - 5.0;
    fail = stream_write(r, "retry: 2000\n\n", 13);
    while (!fail && !done && !app->stopping) {
        json_object *arr = NULL;
        if (jobevents_read(app->rc, tenant, batch_id, last, 200, &arr) == RC_OK && arr) {
            size_t n = json_object_array_length(arr);
            for (size_t i = 0; i < n && !fail; i++) {
                json_object *e = json_object_array_get_idx(arr, i), *data = NULL;
                const char *id = json_field_str(e, "id"), *ev = json_field_str(e, "event");
                if (!id || !ev)
                    continue;
                json_object_object_get_ex(e, "data", &data);
                fail = docs_send_event(
                    r, id, ev,
                    data ? json_object_to_json_string_ext(data, JSON_C_TO_STRING_PLAIN |
                                                                    JSON_C_TO_STRING_NOSLASHESCAPE)
                         : "null");
                snprintf(last, sizeof last, "%s", id);
                last_write = now_mono();
                if (strcmp(ev, "batch_done") == 0)
                    done = saw_final = 1;
            }
        }
        json_object_put(arr);
        if (fail || done)
            break;
        double now = now_mono();
        /* Events can be missing (Redis down when the docworker wrote, or expired): when
         * PostgreSQL says the batch is finished, say so and end the stream. */
        if (!saw_final && now - last_pg >= 5.0) {
            last_pg = now;
            if (batch_fetch(r, tenant, batch_id, 0, &b) == 0 && b &&
                status_terminal(json_field_str(b, "status"))) {
                json_object *d = json_object_new_object();
                json_object_object_add(d, "batch_id", json_object_new_string(batch_id));
                json_object_object_add(d, "status",
                                       json_object_new_string(json_field_str(b, "status")));
                json_object *v;
                const char *keys[] = {"total", "succeeded", "failed"};
                for (size_t k = 0; k < 3; k++)
                    if (json_object_object_get_ex(b, keys[k], &v))
                        json_object_object_add(d, keys[k], json_object_get(v));
                /* Let a last event that raced with this check out first. */
                json_object *arr2 = NULL;
                if (jobevents_read(app->rc, tenant, batch_id, last, 1, &arr2) == RC_OK && arr2 &&
                    json_object_array_length(arr2) > 0) {
                    json_object_put(arr2);
                    json_object_put(d);
                    json_object_put(b);
                    b = NULL;
                    continue;
                }
                json_object_put(arr2);
                fail = docs_send_event(r, last, "batch_done",
                                       json_object_to_json_string_ext(d, JSON_C_TO_STRING_PLAIN));
                json_object_put(d);
                done = 1;
            }
            json_object_put(b);
            b = NULL;
            if (done || fail)
                break;
        }
        if (sse_stream_idle(r, w, start, now, &last_write, &fail))
            break;
    }
    if (!fail)
        stream_end(r);
    metrics_inc(open_g, -1);
    sse_hub_unregister(app->hub, w);
}

/* ---- dispatch ------------------------------------------------------------------------------ */

void routes_documents(struct req *r, const char *tenant)
{
    char **s = r->segs;
    int n = r->nsegs;
    const char *m = r->ri->request_method;
    int get = strcmp(m, "GET") == 0 || strcmp(m, "HEAD") == 0;

    if (n == 3) {
        if (get) {
            snprintf(r->route, sizeof r->route, "documents.list");
            documents_list(r, tenant);
            return;
        }
        snprintf(r->route, sizeof r->route, "documents.post");
        if (strcmp(m, "POST") != 0) {
            reply_method_not_allowed(r, "GET, HEAD, POST");
            return;
        }
        documents_post(r, tenant);
        return;
    }
    if (n == 4 || (n == 5 && strcmp(s[4], "events") == 0)) {
        snprintf(r->route, sizeof r->route, n == 4 ? "documents.get" : "documents.events");
        /* A stream has no HEAD form: it would never end. */
        if (!get || (n == 5 && strcmp(m, "GET") != 0)) {
            reply_method_not_allowed(r, n == 4 ? "GET, HEAD" : "GET");
            return;
        }
        if (n == 4)
            documents_get(r, tenant, s[3]);
        else
            documents_events(r, tenant, s[3]);
        return;
    }
    snprintf(r->route, sizeof r->route, "unknown");
    reply_error(r, 404, "not_found", "no such route");
}

/* ---- hook for uploads to a chat session (routes_attachments.c; issue 15 part 2) ----------- */

void documents_upload(struct req *r, const char *tenant)
{
    documents_post(r, tenant);
}

#endif /* ROUTES_DOCUMENTS_PARSER_ONLY */
