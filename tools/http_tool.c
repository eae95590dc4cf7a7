/* http_tool.c — HTTP_GET / HTTP_POST tools on the caller's httploop.
 *
 * Config keys (tool_configs.config merged over base_tools.default_config):
 *   endpoint            URL template, "{name}" placeholders URL-encoded (template.h)
 *   method              GET, POST, PUT, PATCH, DELETE (default from the base type)
 *   headers             object of header values, each a secret (tool_secret.h): stored
 *                       sealed {"$secret": token}, opened here just before the request with
 *                       ctx->tool_secret_key. A value that does not open fails the call
 *                       ("tool X: tool_secret_unreadable: ..."); the sealed text is never
 *                       sent. A clear value (an older row) is still sent, warned once per
 *                       tool. CR/LF refused.
 *   query               object name -> value template, appended URL-encoded. Without it, a
 *                       GET appends the scalar arguments the endpoint did not use.
 *   body_template       JSON template for POST/PUT/PATCH (template.h); default: the args
 *   timeout_ms          default 10000, at most 60000
 *   max_response_bytes  default 1 MiB; a bigger response is an error, never truncated
 *   inject_jwt          send "Authorization: Bearer <token>" to the endpoint's origin. With
 *                       a tool-token key (TOOL_TOKEN_KEY_FILE, tool_token.h) the token is
 *                       minted for this call: RS256, aud = jwt_audience or the endpoint's
 *                       origin, sub = the user, tenant_id, token_use "tool", exp = iat +
 *                       TOOL_TOKEN_TTL_S; AgentHub itself refuses it. Without a key, the
 *                       user's own JWT, ONLY when the tool's jwt_audience equals the aud it
 *                       was issued for; otherwise no Authorization header is sent and a
 *                       warning is logged once per tool (never the token).
 *   jwt_audience        the audience of the tool's backend (see inject_jwt)
 *   allowed_hosts       comma-separated host:port pairs exempt from the SSRF guard (ssrf.h)
 *
 * Redirects are followed here, not by libcurl (at most 3), each hop re-checked by the SSRF
 * guard and pinned; the JWT and the configured headers only go to the first URL's origin.
 * Errors the agent gets back never hold the URL, headers or token: "tool X: HTTP 503",
 * "tool X: service unavailable", "tool X: timed out after 10000 ms", ...
 */
#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "b64.h"
#include "log.h"
#include "ssrf.h"
#include "json_strict.h"
#include "json_text.h"
#include "utf8.h"
#include "template.h"
#include "tool_internal.h"
#include "tool_secret.h"
#include "tool_token.h"

struct http_call {
    char *tool_name;
    char *tenant_id;
    char *jwt;
    char *allow_tool;
    char *allow_ctx;
    char *secret_key;           /* the tool-secret purpose key, wiped on free */
    json_object *headers;       /* ref */
    json_object *output_schema; /* ref */
    struct tool_def shadow;     /* name + output_schema for tool_check_output */
    tool_done_cb cb;
    void *opaque;
    struct httploop *loop;
    char method[8];
    char *url;
    char *origin; /* scheme://host:port of the first URL */
    char *body;
    long timeout_ms;
    int redirects;
    int same_origin;
    struct tool_rbuf resp; /* resp.max: the configured max_response_bytes */
    struct curl_slist *hdrs;
    struct curl_slist *resolve;
    struct ssrf_target target; /* the guard's answer for the current hop (opensocket) */
};

/* The header lines hold opened secrets: wiped before they are freed. */
static void hdrs_free(struct curl_slist *l)
{
    for (struct curl_slist *p = l; p; p = p->next)
        if (p->data)
            explicit_bzero(p->data, strlen(p->data));
    curl_slist_free_all(l);
}

static void call_free(struct http_call *c)
{
    if (!c)
        return;
    free(c->tool_name);
    free(c->tenant_id);
    if (c->jwt) {
        memset(c->jwt, 0, strlen(c->jwt));
        free(c->jwt);
    }
    free(c->allow_tool);
    free(c->allow_ctx);
    tool_secret_free_text(c->secret_key);
    json_object_put(c->headers);
    json_object_put(c->output_schema);
    free(c->url);
    free(c->origin);
    free(c->body);
    free(c->resp.p);
    hdrs_free(c->hdrs);
    curl_slist_free_all(c->resolve);
    free(c);
}

static char *dup_or_null(const char *s)
{
    return s ? strdup(s) : NULL;
}

/* scheme://host:port of url, malloc'd, or NULL. */
static char *url_origin(const char *url)
{
    CURLU *u = curl_url();
    char *scheme = NULL, *host = NULL, *port = NULL, *o = NULL;
    if (!u)
        return NULL;
    if (curl_url_set(u, CURLUPART_URL, url, 0) == CURLUE_OK &&
        curl_url_get(u, CURLUPART_SCHEME, &scheme, 0) == CURLUE_OK &&
        curl_url_get(u, CURLUPART_HOST, &host, 0) == CURLUE_OK &&
        curl_url_get(u, CURLUPART_PORT, &port, CURLU_DEFAULT_PORT) == CURLUE_OK) {
        size_t n = strlen(scheme) + strlen(host) + strlen(port) + 8;
        o = malloc(n);
        if (o) {
            snprintf(o, n, "%s://%s:%s", scheme, host, port);
            for (char *p = o; *p; p++)
                *p = (char)tolower((unsigned char)*p);
        }
    }
    curl_free(scheme);
    curl_free(host);
    curl_free(port);
    curl_url_cleanup(u);
    return o;
}

static int header_value_ok(const char *s)
{
    return !strpbrk(s, "\r\n");
}

/* 1 when the (already verified) JWT's aud claim is, or contains, aud. The payload is read
 * here only to decide whether to forward the token; nothing else is trusted from it. */
static int jwt_aud_is(const char *jwt, const char *aud)
{
    const char *d1 = strchr(jwt, '.');
    const char *d2 = d1 ? strchr(d1 + 1, '.') : NULL;
    int ok = 0;
    if (!aud || !*aud || !d1 || !d2 || d2 - d1 - 1 > 16384)
        return 0;
    size_t n = (size_t)(d2 - d1 - 1), len = 0;
    unsigned char *buf = malloc(b64_decoded_max(n) + 1);
    if (!buf)
        return 0;
    if (b64_decode(d1 + 1, n, buf, b64_decoded_max(n), &len, B64_URLSAFE | B64_NOPAD) == 0) {
        buf[len] = 0;
        json_object *p = json_tokener_parse((char *)buf), *a = NULL;
        if (p && json_object_object_get_ex(p, "aud", &a)) {
            if (json_object_is_type(a, json_type_string))
                ok = strcmp(json_object_get_string(a), aud) == 0;
            else if (json_object_is_type(a, json_type_array))
                for (size_t i = 0; i < json_object_array_length(a) && !ok; i++) {
                    json_object *e = json_object_array_get_idx(a, i);
                    ok = json_object_is_type(e, json_type_string) &&
                         strcmp(json_object_get_string(e), aud) == 0;
                }
        }
        json_object_put(p);
    }
    free(buf);
    return ok;
}

/* Tools already warned about, one set per kind of warning (loop thread only): a warning is
 * logged once per tool, not on every call. */
struct warned_tools {
    char names[64][65];
    size_t n;
};

static void warn_once(struct warned_tools *w, const char *tenant, const char *tool, const char *msg)
{
    for (size_t i = 0; i < w->n; i++)
        if (strcmp(w->names[i], tool) == 0)
            return;
    if (w->n < sizeof w->names / sizeof w->names[0])
        snprintf(w->names[w->n++], sizeof w->names[0], "%s", tool);
    struct log_ctx lc = {.tenant_id = tenant};
    log_kv(LOG_WARN, &lc, msg, "tool", tool, (char *)NULL);
}

/* A clear header value in the stored config (a row older than sealing). */
static void warn_clear_secret_once(const char *tenant, const char *tool)
{
    static struct warned_tools w;
    warn_once(&w, tenant, tool,
              "tool config holds a header value in clear (a row from before sealing); run "
              "agenthubctl tools-seal, or save the tool through the admin API, to seal it");
}

static void warn_no_token_once(const char *tenant, const char *tool)
{
    static struct warned_tools w;
    warn_once(&w, tenant, tool,
              "inject_jwt tool: the user's token is not sent (its aud is not the tool's "
              "jwt_audience); the backend gets no Authorization header");
}

const char *tool_auth_kind(const struct tool_ctx *ctx, const struct tool_def *tool)
{
    if (!ctx || !tool || !tool->base_type ||
        (strcmp(tool->base_type, "HTTP_GET") != 0 && strcmp(tool->base_type, "HTTP_POST") != 0) ||
        !tool_cfg_bool(tool->config, "inject_jwt", 0))
        return "none";
    if (ctx->tool_key)
        return ctx->user_id && *ctx->user_id ? "tool_token" : "none";
    if (ctx->user_jwt && *ctx->user_jwt && header_value_ok(ctx->user_jwt) &&
        jwt_aud_is(ctx->user_jwt, tool_cfg_str(tool->config, "jwt_audience")))
        return "user_token";
    return "none";
}

/* The Authorization token of an inject_jwt call into c->jwt (tool_auth_kind's choice), once
 * c->url is the first URL. Never falls back to the user's token when minting fails. */
static int set_call_token(struct http_call *c, const struct tool_ctx *ctx,
                          const struct tool_def *tool, char *err, size_t errlen)
{
    const char *kind = tool_auth_kind(ctx, tool);
    char terr[160] = "cannot build the token's audience";
    if (strcmp(kind, "tool_token") == 0) {
        char *aud = NULL;
        int rc = tool_token_audience(tool_cfg_str(tool->config, "jwt_audience"), c->url, &aud);
        if (rc == 0)
            rc = tool_token_mint(ctx->tool_key, aud, ctx->user_id, ctx->tenant_id, (long)time(NULL),
                                 &c->jwt, terr, sizeof terr);
        free(aud);
        if (rc != 0) {
            struct log_ctx lc = {.tenant_id = c->tenant_id};
            log_kv(LOG_ERROR, &lc, "tool token not minted; the call is not made", "tool",
                   c->tool_name, "error", terr, (char *)NULL);
            snprintf(err, errlen, "tool %s: cannot sign the tool token", c->tool_name);
            return rc;
        }
        return 0;
    }
    if (strcmp(kind, "user_token") == 0) {
        /* the user's token was issued for this backend (jwt_audience == its aud) */
        return (c->jwt = strdup(ctx->user_jwt)) ? 0 : -ENOMEM;
    }
    if (tool_cfg_bool(tool->config, "inject_jwt", 0)) {
        if (ctx->user_jwt && *ctx->user_jwt && !header_value_ok(ctx->user_jwt)) {
            snprintf(err, errlen, "tool %s: the user's token is malformed", tool->name);
            return -EINVAL;
        }
        if (!ctx->tool_key) /* with a key, "none" means a job without a user: nothing to say */
            warn_no_token_once(ctx->tenant_id, c->tool_name);
    }
    return 0;
}

static void finish(struct http_call *c, json_object *result, const char *error)
{
    c->cb(c->opaque, error ? NULL : result, error);
    json_object_put(result);
    call_free(c);
}

static void on_done(void *opaque, CURL *easy, CURLcode res);

/* Builds and adds the transfer for c->url. Fills err on failure. */
static int start_request(struct http_call *c, char *err, size_t errlen)
{
    struct ssrf_target t;
    char serr[160];
    CURL *e = NULL;
    int rc = -EINVAL;

    if (ssrf_check_url(c->url, c->allow_tool, c->allow_ctx, &t, serr, sizeof serr) != 0) {
        /* a security decision: logged (host only, never the path or query) */
        struct log_ctx lc = {.tenant_id = c->tenant_id};
        log_kv(LOG_WARN, &lc, "tool request refused by the SSRF guard", "tool", c->tool_name,
               "host", t.host[0] ? t.host : "(unparsed)", "reason", serr, (char *)NULL);
        snprintf(err, errlen, "tool %s: endpoint refused: %s", c->tool_name, serr);
        return -EACCES;
    }
    curl_slist_free_all(c->resolve);
    hdrs_free(c->hdrs);
    c->resolve = c->hdrs = NULL;
    c->resp.len = 0;
    c->resp.oversize = 0;

    struct curl_slist *tmp = curl_slist_append(NULL, t.resolve);
    if (!tmp)
        goto oom;
    c->resolve = tmp;
    if (!(tmp = curl_slist_append(c->hdrs, "Accept: application/json")))
        goto oom;
    c->hdrs = tmp;
    int has_body = c->body != NULL;
    if (has_body) {
        if (!(tmp = curl_slist_append(c->hdrs, "Content-Type: application/json")))
            goto oom;
        c->hdrs = tmp;
        /* no "Expect: 100-continue" round trip (up to 1 s) for bodies over 1 KiB */
        if (!(tmp = curl_slist_append(c->hdrs, "Expect:")))
            goto oom;
        c->hdrs = tmp;
    }
    if (c->same_origin && c->headers) {
        json_object_object_foreach(c->headers, hk, hv)
        {
            char *val = NULL;
            int was_clear = 0;
            if (!hv || !header_value_ok(hk) || strchr(hk, ':'))
                continue;
            /* opened only now, just for this request's header lines */
            int sr = tool_secret_open(hv, c->secret_key, &val, &was_clear);
            if (sr == TOOL_SECRET_ERR_NOMEM)
                goto oom;
            if (sr != TOOL_SECRET_OK) {
                struct log_ctx lc = {.tenant_id = c->tenant_id};
                log_kv(LOG_ERROR, &lc, "tool header secret does not decrypt", "tool", c->tool_name,
                       "header", hk, "error", "tool_secret_unreadable", (char *)NULL);
                snprintf(err, errlen,
                         "tool %s: tool_secret_unreadable: a header secret of the tool does not "
                         "decrypt (FERNET_KEY missing or changed)",
                         c->tool_name);
                rc = -EACCES;
                goto out;
            }
            if (was_clear)
                warn_clear_secret_once(c->tenant_id, c->tool_name);
            if (!header_value_ok(val)) {
                tool_secret_free_text(val);
                continue;
            }
            size_t n = strlen(hk) + strlen(val) + 4;
            char *line = malloc(n);
            if (!line) {
                tool_secret_free_text(val);
                goto oom;
            }
            snprintf(line, n, "%s: %s", hk, val);
            tool_secret_free_text(val);
            tmp = curl_slist_append(c->hdrs, line);
            explicit_bzero(line, n);
            free(line);
            if (!tmp)
                goto oom;
            c->hdrs = tmp;
        }
    }
    if (c->same_origin && c->jwt) {
        size_t n = strlen(c->jwt) + 32;
        char *line = malloc(n);
        if (!line)
            goto oom;
        snprintf(line, n, "Authorization: Bearer %s", c->jwt);
        tmp = curl_slist_append(c->hdrs, line);
        memset(line, 0, n);
        free(line);
        if (!tmp)
            goto oom;
        c->hdrs = tmp;
    }

    e = curl_easy_init();
    if (!e)
        goto oom;
    c->target = t;
    curl_easy_setopt(e, CURLOPT_URL, c->url);
    if (ssrf_curl_setup(e, &c->target, c->resolve) != 0) {
        snprintf(err, errlen, "tool %s: cannot start the request", c->tool_name);
        rc = -EIO;
        goto out;
    }
    curl_easy_setopt(e, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(e, CURLOPT_TIMEOUT_MS, c->timeout_ms);
    curl_easy_setopt(e, CURLOPT_CONNECTTIMEOUT_MS, c->timeout_ms);
    curl_easy_setopt(e, CURLOPT_HTTPHEADER, c->hdrs);
    curl_easy_setopt(e, CURLOPT_USERAGENT, "agenthub-tools/1");
    curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, tool_rbuf_write);
    curl_easy_setopt(e, CURLOPT_WRITEDATA, &c->resp);
    curl_easy_setopt(e, CURLOPT_MAXFILESIZE_LARGE, (curl_off_t)c->resp.max);
    curl_easy_setopt(e, CURLOPT_ACCEPT_ENCODING, "");
    if (strcmp(c->method, "GET") == 0) {
        curl_easy_setopt(e, CURLOPT_HTTPGET, 1L);
    } else {
        if (strcmp(c->method, "POST") != 0)
            curl_easy_setopt(e, CURLOPT_CUSTOMREQUEST, c->method);
        if (has_body) {
            curl_easy_setopt(e, CURLOPT_POSTFIELDS, c->body);
            curl_easy_setopt(e, CURLOPT_POSTFIELDSIZE, (long)strlen(c->body));
        } else if (strcmp(c->method, "POST") == 0) {
            curl_easy_setopt(e, CURLOPT_POSTFIELDS, "");
        }
    }
    if (httploop_add(c->loop, e, on_done, c) != 0) {
        snprintf(err, errlen, "tool %s: cannot start the request", c->tool_name);
        rc = -EIO;
        goto out;
    }
    e = NULL; /* now owned by the loop */
    rc = 0;
    goto out;
oom:
    snprintf(err, errlen, "tool %s: out of memory", c->tool_name);
    rc = -ENOMEM;
out:
    if (e)
        curl_easy_cleanup(e);
    return rc;
}

int tool_response_result(const char *body, size_t len, int need_json, const char *tool_name,
                         json_object **result, int *repaired, char *err, size_t errlen)
{
    char *text = NULL;
    *result = NULL;
    *repaired = 0;
    /* A backend's bytes become valid text before anything reads them (utf8.h): a Latin-1 ERP
     * answer keeps its structure and loses only the characters it could not say. */
    if (len && !utf8_is_clean(body, len)) {
        size_t n = 0;
        struct utf8_report rep = {0, 0};
        text = utf8_sanitize(body, len, &n, &rep);
        if (!text) {
            snprintf(err, errlen, "out of memory");
            return -1;
        }
        body = text;
        len = n;
        *repaired = 1;
    }
    if (len == 0) {
        *result = json_object_new_object();
    } else {
        /* JSON from outside is read strictly (json_strict.h): json-c's lenient reader takes
         * NaN, trailing commas and numbers like 01 or 1. and writes them back as it read them,
         * which is no JSON for the model, the events or jsonb. Anything else is text. */
        json_object *o = NULL;
        char jerr[128];
        if (json_strict_parse(body, len, 32, 0, &o, jerr, sizeof jerr) != 0) {
            if (need_json) {
                snprintf(err, errlen, "tool %s: response is not JSON (%s)", tool_name, jerr);
                free(text);
                return -1;
            }
            o = json_object_new_object();
            json_object_object_add(o, "text", json_object_new_string_len(body, (int)len));
        }
        *result = o;
    }
    /* a \u0000 escape decodes to a NUL: strings are made valid text here (json_text.h) */
    json_text_repair(*result);
    free(text);
    return 0;
}

static void on_done(void *opaque, CURL *easy, CURLcode res)
{
    struct http_call *c = opaque;
    char err[512];
    long code = 0;
    char *loc = NULL;

    curl_easy_getinfo(easy, CURLINFO_RESPONSE_CODE, &code);
    if (res == CURLE_OK && code >= 300 && code < 400) {
        char *l = NULL;
        if (curl_easy_getinfo(easy, CURLINFO_REDIRECT_URL, &l) == CURLE_OK && l)
            loc = strdup(l);
    }
    curl_easy_cleanup(easy);

    if (res != CURLE_OK) {
        if (c->resp.oversize || res == CURLE_FILESIZE_EXCEEDED)
            snprintf(err, sizeof err, "tool %s: response larger than %zu bytes", c->tool_name,
                     c->resp.max);
        else if (res == CURLE_COULDNT_CONNECT || res == CURLE_COULDNT_RESOLVE_HOST ||
                 res == CURLE_GOT_NOTHING || res == CURLE_RECV_ERROR || res == CURLE_SEND_ERROR ||
                 res == CURLE_SSL_CONNECT_ERROR)
            snprintf(err, sizeof err, "tool %s: service unavailable", c->tool_name);
        else if (res == CURLE_OPERATION_TIMEDOUT)
            snprintf(err, sizeof err, "tool %s: timed out after %ld ms", c->tool_name,
                     c->timeout_ms);
        else if (res == CURLE_ABORTED_BY_CALLBACK)
            snprintf(err, sizeof err, "tool %s: cancelled", c->tool_name);
        else
            snprintf(err, sizeof err, "tool %s: request failed (%s)", c->tool_name,
                     curl_easy_strerror(res));
        free(loc);
        finish(c, NULL, err);
        return;
    }
    if (loc && (code == 301 || code == 302 || code == 303 || code == 307 || code == 308)) {
        if (c->redirects >= TOOL_MAX_REDIRECTS) {
            free(loc);
            snprintf(err, sizeof err, "tool %s: too many redirects", c->tool_name);
            finish(c, NULL, err);
            return;
        }
        c->redirects++;
        free(c->url);
        c->url = loc;
        char *o = url_origin(c->url);
        c->same_origin = o && c->origin && strcmp(o, c->origin) == 0;
        free(o);
        if (code == 303 || ((code == 301 || code == 302) && strcmp(c->method, "POST") == 0)) {
            snprintf(c->method, sizeof c->method, "GET");
            free(c->body);
            c->body = NULL;
        }
        if (start_request(c, err, sizeof err) != 0) {
            finish(c, NULL, err);
        }
        return;
    }
    free(loc);
    if (code < 200 || code > 299) {
        snprintf(err, sizeof err, "tool %s: HTTP %ld", c->tool_name, code);
        finish(c, NULL, err);
        return;
    }
    json_object *result = NULL;
    int repaired = 0;
    if (tool_response_result(c->resp.p, c->resp.len, c->output_schema != NULL, c->tool_name,
                             &result, &repaired, err, sizeof err) != 0) {
        finish(c, NULL, err);
        return;
    }
    if (repaired)
        log_kv(LOG_WARN, NULL, "tool response was not valid UTF-8; repaired", "tool", c->tool_name,
               (char *)NULL);
    if (tool_check_output(&c->shadow, result, err, sizeof err) != 0) {
        json_object_put(result);
        finish(c, NULL, err);
        return;
    }
    finish(c, result, NULL);
}

/* Appends "k=v" pairs to *url, encoded. */
static int append_query(char **url, const char *k, json_object *v, char *err, size_t errlen)
{
    char *ek = NULL, *ev = NULL;
    int rc = template_encode_value(v, &ev, err, errlen);
    if (rc)
        return rc;
    ek = curl_easy_escape(NULL, k, 0);
    if (!ek) {
        free(ev);
        return -ENOMEM;
    }
    size_t n = strlen(*url) + strlen(ek) + strlen(ev) + 3;
    char *nu = malloc(n);
    if (!nu) {
        curl_free(ek);
        free(ev);
        return -ENOMEM;
    }
    snprintf(nu, n, "%s%c%s=%s", *url, strchr(*url, '?') ? '&' : '?', ek, ev);
    curl_free(ek);
    free(ev);
    free(*url);
    *url = nu;
    return 0;
}

static int build_query(char **url, json_object *cfg, json_object *args, json_object *used,
                       int is_get, char *err, size_t errlen)
{
    json_object *q = NULL;
    char e2[160];
    if (!json_object_object_get_ex(cfg, "query", &q))
        json_object_object_get_ex(cfg, "query_params", &q);
    if (q && json_object_is_type(q, json_type_object)) {
        json_object_object_foreach(q, k, tv)
        {
            json_object *val = tv;
            json_object *own = NULL;
            if (json_object_is_type(tv, json_type_string)) {
                /* a value template: expand it unencoded, then encode the whole value */
                json_object *tmp = NULL;
                if (template_expand_body(tv, args, &tmp, e2, sizeof e2) != 0) {
                    snprintf(err, errlen, "query %s: %s", k, e2);
                    return -EINVAL;
                }
                own = val = tmp;
            }
            if (!val) { /* an argument that was null: leave the parameter out */
                continue;
            }
            int rc = append_query(url, k, val, e2, sizeof e2);
            json_object_put(own);
            if (rc) {
                snprintf(err, errlen, "query %s: %s", k, e2);
                return rc;
            }
        }
        return 0;
    }
    if (!is_get)
        return 0;
    json_object_object_foreach(args, k, v)
    {
        if (json_object_object_get_ex(used, k, NULL))
            continue;
        enum json_type t = json_object_get_type(v);
        if (t != json_type_string && t != json_type_int && t != json_type_double &&
            t != json_type_boolean)
            continue;
        int rc = append_query(url, k, v, e2, sizeof e2);
        if (rc) {
            snprintf(err, errlen, "parameter \"%s\": %s", k, e2);
            return rc;
        }
    }
    return 0;
}

int http_tool_start(const struct tool_ctx *ctx, const struct tool_def *tool, json_object *args,
                    tool_done_cb cb, void *opaque, char *err, size_t errlen)
{
    json_object *cfg = tool->config;
    json_object *used = NULL;
    char terr[256];
    int rc = -ENOMEM;
    struct http_call *c = calloc(1, sizeof *c);
    if (!c) {
        snprintf(err, errlen, "tool %s: out of memory", tool->name);
        return -ENOMEM;
    }
    c->tool_name = strdup(tool->name ? tool->name : "?");
    c->tenant_id = dup_or_null(ctx->tenant_id);
    c->cb = cb;
    c->opaque = opaque;
    c->loop = ctx->loop;
    c->allow_tool = dup_or_null(tool_cfg_str(cfg, "allowed_hosts"));
    c->allow_ctx = dup_or_null(ctx->allowed_hosts);
    c->secret_key = dup_or_null(ctx->tool_secret_key);
    c->timeout_ms =
        tool_cfg_long(cfg, "timeout_ms", TOOL_DEFAULT_TIMEOUT_MS, 1, TOOL_MAX_TIMEOUT_MS);
    c->resp.max = (size_t)tool_cfg_long(cfg, "max_response_bytes", TOOL_DEFAULT_MAX_RESPONSE, 1,
                                        64L * 1024 * 1024);
    c->same_origin = 1;
    if (tool->output_schema)
        c->output_schema = json_object_get(tool->output_schema);
    c->shadow.name = c->tool_name;
    c->shadow.output_schema = c->output_schema;
    json_object *h;
    if (cfg && json_object_object_get_ex(cfg, "headers", &h) &&
        json_object_is_type(h, json_type_object))
        c->headers = json_object_get(h);
    if (!c->tool_name)
        goto oom;

    const char *m = tool_cfg_str(cfg, "method");
    if (!m)
        m = strcmp(tool->base_type, "HTTP_POST") == 0 ? "POST" : "GET";
    if (strcasecmp(m, "GET") != 0 && strcasecmp(m, "POST") != 0 && strcasecmp(m, "PUT") != 0 &&
        strcasecmp(m, "PATCH") != 0 && strcasecmp(m, "DELETE") != 0) {
        snprintf(err, errlen, "tool %s: unsupported method", tool->name);
        rc = -EINVAL;
        goto out;
    }
    for (size_t i = 0; i < sizeof c->method - 1 && m[i]; i++)
        c->method[i] = (char)toupper((unsigned char)m[i]);

    const char *endpoint = tool_cfg_str(cfg, "endpoint");
    if (!endpoint) {
        snprintf(err, errlen, "tool %s: no endpoint configured", tool->name);
        rc = -EINVAL;
        goto out;
    }
    if (!(used = json_object_new_object()))
        goto oom;
    if ((rc = template_expand_url(endpoint, args, used, &c->url, terr, sizeof terr)) != 0) {
        snprintf(err, errlen, "tool %s: %s", tool->name, terr);
        goto out;
    }
    int is_get = strcmp(c->method, "GET") == 0 || strcmp(c->method, "DELETE") == 0;
    if ((rc = build_query(&c->url, cfg, args, used, is_get, terr, sizeof terr)) != 0) {
        snprintf(err, errlen, "tool %s: %s", tool->name, terr);
        goto out;
    }
    if (!is_get) {
        json_object *bt = NULL, *body = NULL;
        if (cfg && json_object_object_get_ex(cfg, "body_template", &bt) && bt) {
            if ((rc = template_expand_body(bt, args, &body, terr, sizeof terr)) != 0) {
                snprintf(err, errlen, "tool %s: %s", tool->name, terr);
                goto out;
            }
        } else {
            body = json_object_get(args);
        }
        c->body =
            strdup(body ? json_object_to_json_string_ext(body, JSON_C_TO_STRING_PLAIN) : "null");
        json_object_put(body);
        if (!c->body)
            goto oom;
    }
    if (!(c->origin = url_origin(c->url))) {
        snprintf(err, errlen, "tool %s: endpoint is not a valid URL", tool->name);
        rc = -EINVAL;
        goto out;
    }
    /* Never the user's AgentHub token to a backend it was not issued for: it would be
     * replayable against AgentHub itself. */
    if ((rc = set_call_token(c, ctx, tool, err, errlen)) != 0) {
        if (rc == -ENOMEM)
            goto oom;
        goto out;
    }
    if ((rc = start_request(c, err, errlen)) != 0)
        goto out;
    c = NULL; /* owned by the transfer now */
    rc = 0;
    goto out;
oom:
    snprintf(err, errlen, "tool %s: out of memory", tool->name);
    rc = -ENOMEM;
out:
    json_object_put(used);
    call_free(c);
    return rc;
}

/* ---- blocking fetch (OCR image URLs) ------------------------------------------------- */

int tool_fetch_blocking(const struct tool_ctx *ctx, const struct tool_def *tool, const char *url,
                        size_t max_bytes, unsigned char **data, size_t *len, char *err,
                        size_t errlen)
{
    struct tool_rbuf b = {.max = max_bytes};
    struct curl_slist *resolve = NULL;
    char *cur = strdup(url);
    int rc = -EIO;
    const char *name = tool->name ? tool->name : "?";
    long timeout =
        tool_cfg_long(tool->config, "timeout_ms", TOOL_DEFAULT_TIMEOUT_MS, 1, TOOL_MAX_TIMEOUT_MS);
    *data = NULL;
    *len = 0;
    if (!cur)
        return -ENOMEM;
    for (int hop = 0; hop <= TOOL_MAX_REDIRECTS; hop++) {
        struct ssrf_target t;
        char serr[160];
        if (ssrf_check_url(cur, tool_cfg_str(tool->config, "allowed_hosts"), ctx->allowed_hosts, &t,
                           serr, sizeof serr) != 0) {
            snprintf(err, errlen, "tool %s: URL refused: %s", name, serr);
            rc = -EACCES;
            goto out;
        }
        curl_slist_free_all(resolve);
        resolve = curl_slist_append(NULL, t.resolve);
        CURL *e = curl_easy_init();
        if (!e || !resolve) {
            if (e)
                curl_easy_cleanup(e);
            rc = -ENOMEM;
            goto out;
        }
        b.len = 0;
        curl_easy_setopt(e, CURLOPT_URL, cur);
        if (ssrf_curl_setup(e, &t, resolve) != 0) {
            curl_easy_cleanup(e);
            rc = -EIO;
            goto out;
        }
        curl_easy_setopt(e, CURLOPT_NOSIGNAL, 1L);
        curl_easy_setopt(e, CURLOPT_TIMEOUT_MS, timeout);
        curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, tool_rbuf_write);
        curl_easy_setopt(e, CURLOPT_WRITEDATA, &b);
        curl_easy_setopt(e, CURLOPT_MAXFILESIZE_LARGE, (curl_off_t)max_bytes);
        CURLcode res = curl_easy_perform(e);
        long code = 0;
        char *loc = NULL;
        curl_easy_getinfo(e, CURLINFO_RESPONSE_CODE, &code);
        if (res == CURLE_OK && code >= 300 && code < 400) {
            char *l = NULL;
            if (curl_easy_getinfo(e, CURLINFO_REDIRECT_URL, &l) == CURLE_OK && l)
                loc = strdup(l);
        }
        curl_easy_cleanup(e);
        if (res != CURLE_OK) {
            if (b.oversize || res == CURLE_FILESIZE_EXCEEDED)
                snprintf(err, errlen, "tool %s: file larger than %zu bytes", name, max_bytes);
            else if (res == CURLE_COULDNT_CONNECT)
                snprintf(err, errlen, "tool %s: service unavailable", name);
            else
                snprintf(err, errlen, "tool %s: download failed (%s)", name,
                         curl_easy_strerror(res));
            goto out;
        }
        if (loc) {
            free(cur);
            cur = loc;
            continue;
        }
        if (code < 200 || code > 299) {
            snprintf(err, errlen, "tool %s: HTTP %ld", name, code);
            goto out;
        }
        *data = (unsigned char *)b.p;
        *len = b.len;
        b.p = NULL;
        rc = 0;
        goto out;
    }
    snprintf(err, errlen, "tool %s: too many redirects", name);
out:
    free(b.p);
    free(cur);
    curl_slist_free_all(resolve);
    return rc;
}
