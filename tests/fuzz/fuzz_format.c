/* fuzz_format — libFuzzer target for the agent's output formats (agents/format.c): the input
 * is both the model's text and, when it parses, the tool data rendered next to it. Every
 * format must return a string; json must return valid JSON holding the text as "answer".
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../../agents/format.c"

#define FUZZ_TARGET "fuzz_format"
#include "fuzz_check.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *text = malloc(size + 1);
    if (!text)
        return 0;
    memcpy(text, data, size);
    text[size] = '\0';
    json_object *d = json_tokener_parse(text);
    static const char *types[] = {"text", "markdown", "json", "table", "other", NULL};
    for (int i = 0; types[i]; i++) {
        char *out = format_output(types[i], text, d);
        fuzz_check(out != NULL, "no output");
        if (strcmp(types[i], "json") == 0) {
            json_object *o = json_tokener_parse(out);
            json_object *a = NULL;
            fuzz_check(o && json_object_object_get_ex(o, "answer", &a), "json without answer");
            fuzz_check(strcmp(json_object_get_string(a), text) == 0, "json answer differs");
            json_object_put(o);
        }
        free(out);
    }
    json_object_put(d);
    free(text);
    return 0;
}
