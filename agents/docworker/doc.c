/* doc.c — whether a document's text and a doc.request are usable (what a document is:
 * common/doc_kind.h). Pure; see docworker.h and tests/unit/test_docworker_doc.c. */
#include <ctype.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "docworker.h"
#include "uuid.h"

int doc_text_ok(const unsigned char *s, size_t n)
{
    size_t i = 0;
    while (i < n) {
        unsigned char c = s[i];
        size_t k;
        unsigned long cp;
        if (c == 0)
            return 0;
        if (c < 0x80) {
            i++;
            continue;
        }
        if ((c >> 5) == 6)
            k = 2, cp = c & 0x1f;
        else if ((c >> 4) == 14)
            k = 3, cp = c & 0x0f;
        else if ((c >> 3) == 30)
            k = 4, cp = c & 0x07;
        else
            return 0;
        if (i + k > n)
            return 0;
        for (size_t j = 1; j < k; j++) {
            if ((s[i + j] >> 6) != 2)
                return 0;
            cp = (cp << 6) | (s[i + j] & 0x3f);
        }
        /* No overlong forms, surrogates or code points past U+10FFFF (PostgreSQL refuses them). */
        if ((k == 2 && cp < 0x80) || (k == 3 && cp < 0x800) || (k == 4 && cp < 0x10000) ||
            (cp >= 0xd800 && cp <= 0xdfff) || cp > 0x10ffff)
            return 0;
        i += k;
    }
    return 1;
}

static const char *payload_str(const struct envelope *env, const char *name)
{
    json_object *v;
    if (!env->payload || !json_object_object_get_ex(env->payload, name, &v) ||
        !json_object_is_type(v, json_type_string))
        return NULL;
    return json_object_get_string(v);
}

int doc_request_validate(const struct envelope *env, char *err, size_t errlen)
{
    const char *batch, *doc, *s;
    if (strcmp(env->type, "doc.request") != 0) {
        snprintf(err, errlen, "docworker: unexpected envelope type \"%s\"", env->type);
        return -1;
    }
    batch = payload_str(env, "batch_id");
    doc = payload_str(env, "document_id");
    if (!batch || !uuid_valid(batch)) {
        snprintf(err, errlen, "docworker: payload.batch_id must be a UUID");
        return -1;
    }
    if (!doc || !uuid_valid(doc)) {
        snprintf(err, errlen, "docworker: payload.document_id must be a UUID");
        return -1;
    }
    if (!tenant_id_valid(env->tenant_id)) {
        snprintf(err, errlen, "docworker: invalid tenant_id");
        return -1;
    }
    if ((s = payload_str(env, "lang")) != NULL) {
        size_t n = strlen(s);
        for (size_t i = 0; i < n; i++)
            if (!(isalnum((unsigned char)s[i]) || s[i] == '+' || s[i] == '_')) {
                snprintf(err, errlen, "docworker: payload.lang is invalid");
                return -1;
            }
        if (n == 0 || n > 64) {
            snprintf(err, errlen, "docworker: payload.lang is invalid");
            return -1;
        }
    }
    return 0;
}
