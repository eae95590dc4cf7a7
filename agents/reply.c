/* reply.c — see reply.h. */
#include "reply.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "json_strict.h"
#include "jsonschema.h"
#include "utf8.h"

/* msg as valid text (utf8.h) that fits cap, cut between characters: it goes to the model as
 * JSON and into the job's events. */
static void msg_make_valid(char *msg, size_t cap)
{
    if (msg[0] && !utf8_copy_valid(msg, cap, msg))
        snprintf(msg, cap, "invalid tool call"); /* out of memory: never an empty message */
}

enum reply_call reply_check_call(const struct tool_def *tools, size_t ntools, const char *name,
                                 const char *arguments, char *msg, size_t cap)
{
    enum reply_call rc = REPLY_CALL_OK;
    json_object *args = NULL;
    const struct tool_def *t = NULL;
    msg[0] = '\0';
    if (!name || !*name) {
        snprintf(msg, cap, "the tool call names no tool");
        rc = REPLY_CALL_NO_NAME;
        goto out;
    }
    for (size_t i = 0; i < ntools && !t; i++)
        if (tools[i].name && strcmp(tools[i].name, name) == 0)
            t = &tools[i];
    if (!t) {
        size_t nl = strlen(name), shown = utf8_cut(name, nl, 64);
        snprintf(msg, cap, "there is no tool named %.*s%s", (int)shown, name,
                 shown < nl ? "..." : "");
        rc = REPLY_CALL_UNKNOWN_TOOL;
        goto out;
    }
    const char *a = arguments && *arguments ? arguments : "{}";
    enum json_tokener_error jerr = json_tokener_success;
    args = json_tokener_parse_verbose(a, &jerr);
    if (!args || !json_object_is_type(args, json_type_object)) {
        snprintf(msg, cap,
                 "tool %s: arguments are not a JSON object; send the arguments as one JSON "
                 "object that matches the tool's parameters",
                 t->name);
        rc = REPLY_CALL_BAD_JSON;
        goto out;
    }
    if (!json_strict_finite(args)) { /* json-c reads NaN and Infinity; the tool's JSON would not */
        snprintf(msg, cap,
                 "tool %s: arguments hold NaN or an infinity, which JSON has not; send every "
                 "number in digits",
                 t->name);
        rc = REPLY_CALL_BAD_JSON;
        goto out;
    }
    if (json_strict_int_beyond(a, strlen(a)) >= 0) { /* json-c would clamp it: another value */
        snprintf(msg, cap,
                 "tool %s: arguments hold an integer beyond 64 bits, which would reach the tool "
                 "changed; send such a number as a string",
                 t->name);
        rc = REPLY_CALL_BAD_JSON;
        goto out;
    }
    char verr[256] = "";
    if (jsonschema_validate(t->input_schema, args, verr, sizeof(verr)) != 0) {
        snprintf(msg, cap, "tool %s: invalid arguments: %s", t->name, verr);
        rc = REPLY_CALL_SCHEMA;
        goto out;
    }
out:
    if (cap)
        msg_make_valid(msg, cap);
    json_object_put(args);
    return rc;
}

char *reply_invalid_result(const struct tool_def *tools, size_t ntools, const char *msg)
{
    json_object *o = json_object_new_object();
    json_object *names = json_object_new_array();
    char *out = NULL;
    if (!o || !names) {
        json_object_put(names);
        goto out;
    }
    json_object_object_add(o, "error", json_object_new_string(msg ? msg : "invalid call"));
    json_object_object_add(o, "status", json_object_new_string("invalid_call"));
    for (size_t i = 0; i < ntools; i++)
        if (tools[i].name)
            json_object_array_add(names, json_object_new_string(tools[i].name));
    json_object_object_add(o, "available_tools", names);
    const char *s = json_object_to_json_string_ext(o, JSON_C_TO_STRING_PLAIN);
    out = s ? strdup(s) : NULL;
out:
    json_object_put(o);
    return out;
}

enum reply_fallback reply_classify(const struct llm_response *resp)
{
    if (!resp || !resp->content || utf8_blank(resp->content, strlen(resp->content)))
        return resp && resp->ntool_calls > 0 ? REPLY_TOOLS_EXHAUSTED : REPLY_EMPTY;
    if (resp->finish_reason && strcmp(resp->finish_reason, "length") == 0)
        return REPLY_TRUNCATED;
    return REPLY_ANSWER;
}

char *reply_text(enum reply_fallback f, const char *content, const char *language)
{
    int vi = language && strcmp(language, "vi") == 0;
    const char *t = NULL;
    switch (f) {
    case REPLY_ANSWER:
        return strdup(content ? content : "");
    case REPLY_TRUNCATED: {
        const char *note =
            vi ? "\n\n(Câu trả lời bị cắt ngắn vì đã đạt giới hạn độ dài của mô hình.)"
               : "\n\n(This answer was cut off at the model's length limit.)";
        size_t n = strlen(content ? content : "") + strlen(note) + 1;
        char *s = malloc(n);
        if (s)
            snprintf(s, n, "%s%s", content ? content : "", note);
        return s;
    }
    case REPLY_EMPTY:
        t = vi ? "Xin lỗi, trợ lý không đưa ra câu trả lời nào. Vui lòng thử lại hoặc diễn đạt "
                 "lại câu hỏi."
               : "Sorry, the assistant gave an empty answer. Please try again or rephrase your "
                 "question.";
        break;
    case REPLY_TOOLS_EXHAUSTED:
        t = vi ? "Xin lỗi, tôi chưa thể hoàn tất yêu cầu này: trợ lý liên tục gọi công cụ mà "
                 "không đưa ra câu trả lời. Vui lòng thử lại."
               : "Sorry, I could not complete this request: the assistant kept asking for tools "
                 "without giving an answer. Please try again.";
        break;
    }
    return strdup(t ? t : "");
}

const char *reply_fallback_name(enum reply_fallback f)
{
    switch (f) {
    case REPLY_EMPTY:
        return "empty_answer";
    case REPLY_TRUNCATED:
        return "truncated";
    case REPLY_TOOLS_EXHAUSTED:
        return "tool_rounds_exhausted";
    default:
        return "answer";
    }
}
