/* tool.c — argument validation and dispatch on the tool's base type (see tool.h). */
#include "tool.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "jsonschema.h"
#include "tool_internal.h"

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

struct deferred {
    tool_done_cb cb;
    void *opaque;
    json_object *result;
    char *error;
};

static void deferred_fire(void *opaque)
{
    struct deferred *d = opaque;
    d->cb(d->opaque, d->error ? NULL : d->result, d->error);
    json_object_put(d->result);
    free(d->error);
    free(d);
}

int tool_deliver(const struct tool_ctx *ctx, const struct tool_def *tool, json_object *result,
                 const char *error, tool_done_cb cb, void *opaque)
{
    char verr[512];
    struct deferred *d = calloc(1, sizeof *d);
    if (!d) {
        json_object_put(result);
        return -ENOMEM;
    }
    d->cb = cb;
    d->opaque = opaque;
    d->result = result;
    if (!error && tool_check_output(tool, result, verr, sizeof verr) != 0)
        error = verr;
    if (error && !(d->error = strdup(error))) {
        json_object_put(result);
        free(d);
        return -ENOMEM;
    }
    if (httploop_timer(ctx->loop, 0, deferred_fire, d) < 0) {
        json_object_put(d->result);
        free(d->error);
        free(d);
        return -ENOMEM;
    }
    return 0;
}

int tool_invoke(const struct tool_ctx *ctx, const struct tool_def *tool, json_object *args,
                tool_done_cb cb, void *opaque, char *err, size_t errlen)
{
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
    const char *bt = tool->base_type;
    if (strcmp(bt, "HTTP_GET") == 0 || strcmp(bt, "HTTP_POST") == 0)
        return http_tool_start(ctx, tool, args, cb, opaque, err, errlen);

    json_object *result = NULL;
    int rc;
    if (strcmp(bt, "RAG") == 0)
        rc = rag_tool_run(ctx, tool, args, &result, err, errlen);
    else if (strcmp(bt, "OCR") == 0)
        rc = ocr_tool_run(ctx, tool, args, &result, err, errlen);
    else {
        snprintf(err, errlen, "tool %s: unknown base type %s", name, bt);
        return -ENOTSUP;
    }
    /* A failure that happened while running is the tool's result (an error the agent shows
     * the model), delivered through the callback like an HTTP error would be. */
    if (tool_deliver(ctx, tool, rc == 0 ? result : NULL, rc == 0 ? NULL : err, cb, opaque) != 0) {
        snprintf(err, errlen, "tool %s: out of memory", name);
        return -ENOMEM;
    }
    return 0;
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
