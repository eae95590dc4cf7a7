/* fuzz_json_body — libFuzzer target for the chat request body, POST /api/{tenant}/chat:
 * {"message": "...", "session_id"?: "<uuid>", "user_id"?: "..."}.
 *
 * The bytes go through json_strict_parse with a depth limit (as the ingress parses them),
 * then the body-shape checks; every body that passes must become a chat.request envelope that
 * envelope_decode accepts (what the router will do with it), carrying the same message.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <json-c/json.h>

#include "envelope.h"
#include "json_strict.h"
#include "uuid.h"

#define BODY_MAX_DEPTH 16
#define BODY_MAX_MESSAGE (32 * 1024)

#define FUZZ_TARGET "fuzz_json_body"
#include "fuzz_check.h"

/* The body rules: returns 1 and fills the fields, or 0. */
static int body_valid(json_object *body, const char **message, const char **session,
                      const char **user)
{
    json_object *v;
    const char *s;
    size_t i, n;

    *message = *session = *user = NULL;
    if (!json_object_is_type(body, json_type_object))
        return 0;
    if (!json_object_object_get_ex(body, "message", &v) ||
        !json_object_is_type(v, json_type_string))
        return 0;
    n = (size_t)json_object_get_string_len(v);
    s = json_object_get_string(v);
    if (n == 0 || n > BODY_MAX_MESSAGE || strlen(s) != n)
        return 0;
    *message = s;
    if (json_object_object_get_ex(body, "session_id", &v)) {
        if (!json_object_is_type(v, json_type_string) || !uuid_valid(json_object_get_string(v)))
            return 0;
        *session = json_object_get_string(v);
    }
    if (json_object_object_get_ex(body, "user_id", &v)) {
        if (!json_object_is_type(v, json_type_string))
            return 0;
        s = json_object_get_string(v);
        n = (size_t)json_object_get_string_len(v);
        if (n == 0 || n > 128 || strlen(s) != n)
            return 0;
        for (i = 0; i < n; i++)
            if ((unsigned char)s[i] < 0x20 || s[i] == 0x7f)
                return 0;
        *user = s;
    }
    return 1;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    json_object *body = NULL, *m = NULL;
    const char *message, *session, *user;
    struct envelope e, d;
    char err[256];
    char *enc;

    if (size > 1024 * 1024)
        return 0;
    /* the ingress's parser; UTF-8 checked here as the chat route checks the message */
    if (json_strict_parse((const char *)data, size, BODY_MAX_DEPTH, JSON_STRICT_UTF8, &body, err,
                          sizeof err) != 0 ||
        !body_valid(body, &message, &session, &user)) {
        json_object_put(body);
        return 0;
    }

    fuzz_check(envelope_init(&e, "chat.request", NULL) == 0, "envelope_init");
    strcpy(e.tenant_id, "tenant-a");
    snprintf(e.user_id, sizeof(e.user_id), "%s", user ? user : "user-1");
    if (session)
        snprintf(e.session_id, sizeof(e.session_id), "%s", session);
    else
        fuzz_check(uuid_v4(e.session_id) == 0, "uuid");
    fuzz_check(uuid_v4(e.message_id) == 0, "uuid");
    json_object_object_add(e.payload, "message", json_object_new_string(message));
    enc = envelope_encode(&e);
    fuzz_check(enc != NULL, "encode");
    fuzz_check(envelope_decode(&d, enc, strlen(enc), err, sizeof(err)) == 0,
               "a valid chat body produced an envelope that does not decode");
    fuzz_check(json_object_object_get_ex(d.payload, "message", &m) &&
                   strcmp(json_object_get_string(m), message) == 0,
               "message changed on the way");
    fuzz_check(strcmp(d.user_id, e.user_id) == 0 && strcmp(d.session_id, e.session_id) == 0,
               "ids changed on the way");
    envelope_cleanup(&d);
    envelope_cleanup(&e);
    json_object_put(body);
    free(enc);
    return 0;
}
