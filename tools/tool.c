/* tool.c — argument validation and dispatch on the tool's base type (see tool.h). */
#include "tool.h"

#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "jsonschema.h"
#include "provider.h" /* llm_config_copy() */
#include "tool_internal.h"

size_t tool_rbuf_write(char *ptr, size_t size, size_t nmemb, void *userdata)
{
    struct tool_rbuf *b = userdata;
    size_t n = size * nmemb;
    if (b->len + n > b->max) {
        b->oversize = 1;
        return 0; /* aborts the transfer: CURLE_WRITE_ERROR */
    }
    if (b->len + n + 1 > b->cap) {
        size_t cap = b->cap ? b->cap : 4096;
        while (cap < b->len + n + 1)
            cap *= 2;
        char *p = realloc(b->p, cap);
        if (!p)
            return 0;
        b->p = p;
        b->cap = cap;
    }
    memcpy(b->p + b->len, ptr, n);
    b->len += n;
    b->p[b->len] = 0;
    return n;
}

long tool_cfg_long(json_object *cfg, const char *key, long def, long lo, long hi)
{
    json_object *v;
    long r = def;
    if (cfg && json_object_object_get_ex(cfg, key, &v)) {
        enum json_type t = json_object_get_type(v);
        if (t == json_type_int || t == json_type_double)
            r = (long)json_object_get_int64(v);
        else if (t == json_type_string) {
            char *end;
            long x = strtol(json_object_get_string(v), &end, 10);
            if (end != json_object_get_string(v) && *end == 0)
                r = x;
        }
    }
    if (r < lo)
        r = lo;
    if (r > hi)
        r = hi;
    return r;
}

double tool_cfg_double(json_object *cfg, const char *key, double def)
{
    json_object *v;
    if (cfg && json_object_object_get_ex(cfg, key, &v)) {
        enum json_type t = json_object_get_type(v);
        if (t == json_type_int || t == json_type_double)
            return json_object_get_double(v);
        if (t == json_type_string) {
            char *end;
            double x = strtod(json_object_get_string(v), &end);
            if (end != json_object_get_string(v) && *end == 0)
                return x;
        }
    }
    return def;
}

const char *tool_cfg_str(json_object *cfg, const char *key)
{
    json_object *v;
    if (cfg && json_object_object_get_ex(cfg, key, &v) && json_object_is_type(v, json_type_string))
        return json_object_get_string(v);
    return NULL;
}

int tool_cfg_bool(json_object *cfg, const char *key, int def)
{
    json_object *v;
    if (!cfg || !json_object_object_get_ex(cfg, key, &v))
        return def;
    if (json_object_is_type(v, json_type_boolean) || json_object_is_type(v, json_type_int))
        return json_object_get_boolean(v);
    if (json_object_is_type(v, json_type_string)) {
        const char *s = json_object_get_string(v);
        return strcmp(s, "true") == 0 || strcmp(s, "1") == 0 || strcmp(s, "yes") == 0;
    }
    return def;
}

int tool_check_output(const struct tool_def *tool, json_object *result, char *err, size_t errlen)
{
    char verr[256];
    if (!tool->output_schema)
        return 0;
    if (jsonschema_validate(tool->output_schema, result, verr, sizeof verr) != 0) {
        snprintf(err, errlen, "tool %s: output does not match its schema: %s", tool->name, verr);
        return -EINVAL;
    }
    return 0;
}

/* ---- RAG and OCR: run on a worker thread ------------------------------------------------
 *
 * Their work blocks (ChromaDB calls, provider embeddings, image download, Tesseract takes a
 * second or more of CPU), and the caller's loop carries many jobs. So tool_invoke() copies
 * what the work needs (tool config, arguments, context strings, the LLM config) and runs it
 * on a thread of its own; at most TOOL_BG_MAX such threads work at once (the others wait on
 * their thread, not on the loop). The loop polls for completion with a short timer and then
 * runs the callback on the loop's thread, as for HTTP tools. json-c objects are never shared
 * between the threads (their reference counts are not atomic): everything is deep-copied.
 * If the loop is freed while a worker runs, the worker finishes and its result is dropped.
 */

#define TOOL_BG_MAX 4
#define TOOL_BG_POLL_MS 10

static pthread_mutex_t bg_mu = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t bg_cv = PTHREAD_COND_INITIALIZER;
static int bg_running;

struct bg_job {
    /* inputs, owned */
    char *tenant_id, *chroma_url, *allowed_hosts;
    struct llm_config cfg;
    int have_cfg;
    struct tool_def tool; /* id, name, base_type, config (copies); no schemas */
    json_object *args;
    /* loop side, owned */
    json_object *output_schema;
    struct httploop *loop;
    tool_done_cb cb;
    void *opaque;
    /* outputs */
    json_object *result;
    char err[512];
    int rc;
    atomic_int done;
    pthread_t th;
};

static void bg_free(struct bg_job *j)
{
    free(j->tenant_id);
    free(j->chroma_url);
    free(j->allowed_hosts);
    if (j->have_cfg)
        llm_config_cleanup(&j->cfg);
    free(j->tool.id);
    free(j->tool.name);
    free(j->tool.base_type);
    json_object_put(j->tool.config);
    json_object_put(j->args);
    json_object_put(j->output_schema);
    json_object_put(j->result);
    free(j);
}

static void *bg_main(void *opaque)
{
    struct bg_job *j = opaque;
    pthread_mutex_lock(&bg_mu);
    while (bg_running >= TOOL_BG_MAX)
        pthread_cond_wait(&bg_cv, &bg_mu);
    bg_running++;
    pthread_mutex_unlock(&bg_mu);

    struct tool_ctx ctx = {.tenant_id = j->tenant_id,
                           .chroma_url = j->chroma_url,
                           .allowed_hosts = j->allowed_hosts,
                           .llm_cfg = j->have_cfg ? &j->cfg : NULL};
    if (strcmp(j->tool.base_type, "RAG") == 0)
        j->rc = rag_tool_run(&ctx, &j->tool, j->args, &j->result, j->err, sizeof j->err);
    else
        j->rc = ocr_tool_run(&ctx, &j->tool, j->args, &j->result, j->err, sizeof j->err);

    pthread_mutex_lock(&bg_mu);
    bg_running--;
    pthread_cond_signal(&bg_cv);
    pthread_mutex_unlock(&bg_mu);
    atomic_store_explicit(&j->done, 1, memory_order_release);
    return NULL;
}

static void bg_poll(void *opaque)
{
    struct bg_job *j = opaque;
    if (!atomic_load_explicit(&j->done, memory_order_acquire) &&
        httploop_timer(j->loop, TOOL_BG_POLL_MS, bg_poll, j) > 0)
        return;
    pthread_join(j->th, NULL); /* done, or no timer could be set: wait here */
    char verr[512];
    const char *error = j->rc == 0 ? NULL : j->err;
    struct tool_def shadow = {.name = j->tool.name, .output_schema = j->output_schema};
    if (!error && tool_check_output(&shadow, j->result, verr, sizeof verr) != 0)
        error = verr;
    j->cb(j->opaque, error ? NULL : j->result, error);
    bg_free(j);
}

static int dup_json(json_object *src, json_object **dst)
{
    *dst = NULL;
    return src ? json_object_deep_copy(src, dst, NULL) : 0;
}

static char *dup_opt(const char *s, int *oom)
{
    char *d = s ? strdup(s) : NULL;
    if (s && !d)
        *oom = 1;
    return d;
}

static int bg_start(const struct tool_ctx *ctx, const struct tool_def *tool, json_object *args,
                    tool_done_cb cb, void *opaque, char *err, size_t errlen)
{
    int oom = 0;
    struct bg_job *j = calloc(1, sizeof *j);
    if (!j)
        goto oom;
    j->loop = ctx->loop;
    j->cb = cb;
    j->opaque = opaque;
    atomic_init(&j->done, 0);
    j->tenant_id = dup_opt(ctx->tenant_id, &oom);
    j->chroma_url = dup_opt(ctx->chroma_url, &oom);
    j->allowed_hosts = dup_opt(ctx->allowed_hosts, &oom);
    j->tool.id = dup_opt(tool->id, &oom);
    j->tool.name = dup_opt(tool->name ? tool->name : "?", &oom);
    j->tool.base_type = dup_opt(tool->base_type, &oom);
    if (oom || dup_json(tool->config, &j->tool.config) || dup_json(args, &j->args) ||
        dup_json(tool->output_schema, &j->output_schema))
        goto oom;
    if (ctx->llm_cfg) {
        if (llm_config_copy(&j->cfg, ctx->llm_cfg) != 0)
            goto oom;
        j->have_cfg = 1;
    }
    pthread_attr_t attr;
    pthread_attr_init(&attr);
    pthread_attr_setstacksize(&attr, 8u << 20); /* Tesseract wants a roomy stack */
    int prc = pthread_create(&j->th, &attr, bg_main, j);
    pthread_attr_destroy(&attr);
    if (prc != 0) {
        snprintf(err, errlen, "tool %s: cannot start a worker thread", j->tool.name);
        bg_free(j);
        return -EAGAIN;
    }
    if (httploop_timer(ctx->loop, TOOL_BG_POLL_MS, bg_poll, j) < 0) {
        /* cb must not run after a failure return: wait for the worker and drop its result */
        pthread_join(j->th, NULL);
        bg_free(j);
        snprintf(err, errlen, "tool %s: out of memory", tool->name ? tool->name : "?");
        return -ENOMEM;
    }
    return 0;
oom:
    if (j)
        bg_free(j);
    snprintf(err, errlen, "tool %s: out of memory", tool->name ? tool->name : "?");
    return -ENOMEM;
}

/* The arguments a tool receives: only the top-level properties its input schema names.
 * Anything else the model sent is dropped here (not refused: models add stray keys), also
 * when the schema does not say additionalProperties: false, so a template or a GET's
 * implicit query string can never carry an argument the admin did not declare. A tool_def
 * without any schema (only C callers build one; tools.input_schema is NOT NULL) is passed
 * through as it is. */
static json_object *schema_args(json_object *schema, json_object *args)
{
    json_object *props = NULL, *out = json_object_new_object();
    if (!out)
        return NULL;
    if (!schema) {
        json_object_put(out);
        return json_object_get(args);
    }
    if (!json_object_object_get_ex(schema, "properties", &props) ||
        !json_object_is_type(props, json_type_object))
        return out;
    json_object_object_foreach(args, k, v)
    {
        if (json_object_object_get_ex(props, k, NULL))
            json_object_object_add(out, k, json_object_get(v));
    }
    return out;
}

int tool_invoke(const struct tool_ctx *ctx, const struct tool_def *tool, json_object *args,
                tool_done_cb cb, void *opaque, char *err, size_t errlen)
{
    json_object *clean = NULL;
    int rc;
    char verr[256];
    const char *name = tool && tool->name ? tool->name : "?";
    if (!ctx || !tool || !cb || !ctx->loop || !tool->base_type) {
        snprintf(err, errlen, "tool %s: invalid call", name);
        return -EINVAL;
    }
    if (!json_object_is_type(args, json_type_object)) {
        snprintf(err, errlen, "tool %s: invalid arguments: (root): expected object", name);
        return -EINVAL;
    }
    if (jsonschema_validate(tool->input_schema, args, verr, sizeof verr) != 0) {
        snprintf(err, errlen, "tool %s: invalid arguments: %s", name, verr);
        return -EINVAL;
    }
    if (!(clean = schema_args(tool->input_schema, args))) {
        snprintf(err, errlen, "tool %s: out of memory", name);
        return -ENOMEM;
    }
    const char *bt = tool->base_type;
    if (strcmp(bt, "HTTP_GET") == 0 || strcmp(bt, "HTTP_POST") == 0) {
        rc = http_tool_start(ctx, tool, clean, cb, opaque, err, errlen);
    } else if (strcmp(bt, "RAG") == 0 || strcmp(bt, "OCR") == 0) {
        /* A failure while running (Chroma down, unreadable image) is the tool's result, an
         * error the agent shows the model, delivered through the callback like an HTTP
         * error. */
        rc = bg_start(ctx, tool, clean, cb, opaque, err, errlen);
    } else {
        snprintf(err, errlen, "tool %s: unknown base type %s", name, bt);
        rc = -ENOTSUP;
    }
    json_object_put(clean);
    return rc;
}

void tool_defs_free(struct tool_def *defs, size_t n)
{
    if (!defs)
        return;
    for (size_t i = 0; i < n; i++) {
        free(defs[i].id);
        free(defs[i].name);
        free(defs[i].description);
        free(defs[i].base_type);
        json_object_put(defs[i].config);
        json_object_put(defs[i].input_schema);
        json_object_put(defs[i].output_schema);
    }
    free(defs);
}
