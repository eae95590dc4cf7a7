/* fuzz_tool_schema — libFuzzer target for the tool argument checks: the JSON Schema validator
 * (tools/jsonschema.c) and the endpoint/body templates (tools/template.c).
 *
 * Input: "<schema or template JSON>\0<instance / arguments JSON>". The schema is checked and
 * used to validate the instance; the first part is also used as a URL template and as a body
 * template against the arguments. Nothing may crash or leak; every refusal must say why; a
 * URL expansion must never contain a raw blank or control character that came from a value.
 *
 * The fuzz build compiles only the common sources, so the two tools sources are included here.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "jsonschema.c"
#include "template.c"

#define FUZZ_TARGET "fuzz_tool_schema"
#include "fuzz_check.h"

static json_object *parse(const char *s, size_t n)
{
    struct json_tokener *tok = json_tokener_new_ex(JSONSCHEMA_MAX_DEPTH);
    json_object *o = tok ? json_tokener_parse_ex(tok, s, (int)n) : NULL;
    if (tok)
        json_tokener_free(tok);
    return o;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size > 64 * 1024)
        return 0;
    char *buf = malloc(size + 1);
    memcpy(buf, data, size);
    buf[size] = 0;
    size_t n1 = strlen(buf);
    const char *second = n1 < size ? buf + n1 + 1 : "";
    size_t n2 = n1 < size ? size - n1 - 1 : 0;
    char err[256];

    json_object *schema = parse(buf, n1);
    json_object *inst = parse(second, n2);
    if (schema) {
        err[0] = 0;
        if (jsonschema_check(schema, err, sizeof err) != 0)
            fuzz_check(err[0] != 0, "check refused without a reason");
        err[0] = 0;
        if (jsonschema_validate(schema, inst, err, sizeof err) != 0)
            fuzz_check(err[0] != 0, "validate refused without a reason");
    }

    /* the first part as a URL template; args must be an object */
    json_object *args = json_object_is_type(inst, json_type_object) ? inst : NULL;
    char *url = NULL;
    err[0] = 0;
    int rc = template_expand_url(buf, args, NULL, &url, err, sizeof err);
    if (rc == 0) {
        fuzz_check(url != NULL, "url NULL on success");
        /* blanks in the output can only come from the template text itself */
        for (const char *p = url; *p; p++)
            if ((unsigned char)*p <= ' ' || *p == 0x7f)
                fuzz_check(memchr(buf, *p, n1) != NULL, "unencoded control char from a value");
        free(url);
    } else {
        fuzz_check(err[0] != 0, "url refused without a reason");
    }
    /* the first part as a body template (JSON value or text) */
    json_object *tmpl = schema ? json_object_get(schema) : json_object_new_string(buf);
    json_object *body = NULL;
    err[0] = 0;
    if (template_expand_body(tmpl, args, &body, err, sizeof err) != 0)
        fuzz_check(err[0] != 0, "body refused without a reason");
    json_object_put(body);
    json_object_put(tmpl);
    json_object_put(schema);
    json_object_put(inst);
    free(buf);
    return 0;
}
