/* fuzz_tool_response — libFuzzer target for what an HTTP tool's backend answers
 * (tool_response_result, tools/http_tool.c).
 *
 * A tenant admin points a tool at any backend the SSRF guard lets through; its 2xx body
 * becomes the tool's result, which goes to the model as JSON, into the job's events and into
 * PostgreSQL. The first byte says whether the tool has an output schema (JSON required); the
 * rest is the body. Checked, beyond the sanitizers:
 *   - a refusal happens only when JSON is required, and says so;
 *   - a result is valid JSON text as json-c writes it (the strict parser reads it back, every
 *     string valid UTF-8);
 *   - a body that is one strict JSON value gives that value; any other body is kept whole
 *     under "text" (or refused when JSON is required).
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "json_strict.h"
#include "json_text.h"
#include "tool_internal.h"
#include "utf8.h"

#define FUZZ_TARGET "fuzz_tool_response"
#include "fuzz_check.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1)
        return 0;
    int need_json = data[0] & 1;
    size_t len = size - 1;
    char *body = malloc(len + 1); /* NUL-terminated, as libcurl's buffer is */
    fuzz_check(body != NULL, "out of memory");
    memcpy(body, data + 1, len);
    body[len] = '\0';

    json_object *result = NULL, *strict = NULL, *back = NULL;
    int repaired = -1;
    char err[256] = "", jerr[128];
    int rc = tool_response_result(body, len, need_json, "t", &result, &repaired, err, sizeof err);
    /* what the reader must take: one strict JSON value (the bytes already valid text) */
    int is_json = len > 0 && utf8_is_clean(body, len) &&
                  json_strict_parse(body, len, 32, 0, &strict, jerr, sizeof jerr) == 0;
    fuzz_check(repaired == !utf8_is_clean(body, len), "repaired is wrong");
    if (rc != 0) {
        fuzz_check(need_json && strncmp(err, "tool t: response is not JSON (", 30) == 0,
                   "a refusal other than 'not JSON' for a tool with an output schema");
        fuzz_check(!is_json, "a strict JSON body was refused");
    } else {
        const char *text = json_object_to_json_string_ext(result, JSON_C_TO_STRING_PLAIN);
        fuzz_check(text && utf8_is_clean(text, strlen(text)), "the result is not valid text");
        fuzz_check(json_strict_parse(text, strlen(text), 64, JSON_STRICT_UTF8, &back, jerr,
                                     sizeof jerr) == 0,
                   "the result does not read back as strict JSON");
        if (is_json) { /* its value, with strings repaired as json_text.h does */
            json_text_repair(strict);
            fuzz_check(json_object_equal(result, strict), "a JSON body did not give its value");
        } else if (len > 0 && !repaired) { /* text, kept whole */
            json_object *t = NULL;
            fuzz_check(!need_json, "a body that is not JSON was taken with an output schema");
            fuzz_check(json_object_is_type(result, json_type_object) &&
                           json_object_object_length(result) == 1 &&
                           json_object_object_get_ex(result, "text", &t) &&
                           (size_t)json_object_get_string_len(t) == len &&
                           memcmp(json_object_get_string(t), body, len) == 0,
                       "a text body was not kept whole");
        }
    }
    json_object_put(result);
    json_object_put(strict);
    json_object_put(back);
    free(body);
    return 0;
}
