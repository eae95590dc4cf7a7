/* route.c — see route.h. */
#include "json_field.h"
#include "route.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* A growable string; on allocation failure it stays NULL and every later append is a no-op. */
struct sbuf {
    char *s;
    size_t len, cap;
    int failed;
};

static void sb_add(struct sbuf *b, const char *t)
{
    if (b->failed || !t)
        return;
    size_t n = strlen(t);
    if (b->len + n + 1 > b->cap) {
        size_t nc = (b->cap ? b->cap : 256);
        while (nc < b->len + n + 1)
            nc *= 2;
        char *ns = realloc(b->s, nc);
        if (!ns) {
            free(b->s);
            b->s = NULL;
            b->failed = 1;
            return;
        }
        b->s = ns;
        b->cap = nc;
    }
    memcpy(b->s + b->len, t, n + 1);
    b->len += n;
}

/* One line of text: newlines in a description would break the "- Name: description" list. */
static void sb_add_line(struct sbuf *b, const char *t)
{
    char tmp[512];
    size_t k = 0;
    for (; t && *t && k + 1 < sizeof(tmp); t++)
        tmp[k++] = (char)((*t == '\n' || *t == '\r') ? ' ' : *t);
    tmp[k] = '\0';
    sb_add(b, tmp);
}

char *route_prompt(json_object *agents)
{
    struct sbuf b = {0};
    sb_add(&b, "You are the supervisor of a multi-agent customer assistant. Read the user's "
               "message and choose which agent should handle it.\n\nAvailable agents:\n");
    size_t n = agents ? json_object_array_length(agents) : 0;
    for (size_t i = 0; i < n; i++) {
        json_object *a = json_object_array_get_idx(agents, i);
        sb_add(&b, "- ");
        sb_add_line(&b, json_field_str(a, "name"));
        sb_add(&b, ": ");
        sb_add_line(&b, json_field_str(a, "description"));
        sb_add(&b, "\n");
    }
    sb_add(&b, "\nAnswer with strict JSON only, no other text:\n"
               "- {\"agent\": \"<AgentName>\"} when exactly one agent fits;\n"
               "- {\"agent\": \"UNCLEAR\"} when no agent fits or the message is too vague;\n"
               "- {\"agent\": \"MULTI_INTENT\", \"parts\": [{\"agent\": \"<AgentName>\", "
               "\"message\": \"<the part of the message for that agent>\"}, ...]} when the message "
               "asks for several things that different agents handle.\n"
               "Use only agent names from the list above.\n");
    return b.s;
}

static const char *find_agent(json_object *agents, const char *name)
{
    size_t n = agents ? json_object_array_length(agents) : 0;
    for (size_t i = 0; name && i < n; i++) {
        const char *an = json_field_str(json_object_array_get_idx(agents, i), "name");
        if (an && strcmp(an, name) == 0)
            return an;
    }
    return NULL;
}

void route_default_intent(const char *agent, char *buf, size_t cap)
{
    const char *s = agent ? agent : "";
    if (strncmp(s, "Agent", 5) == 0 && s[5])
        s += 5;
    size_t k = 0;
    for (; *s && k + 7 < cap; s++) {
        unsigned char c = (unsigned char)*s;
        if (isupper(c) && k > 0 && buf[k - 1] != '_')
            buf[k++] = '_';
        buf[k++] = isalnum(c) ? (char)tolower(c) : '_';
    }
    buf[k] = '\0';
    snprintf(buf + k, cap - k, "%s", k ? "_query" : "query");
}

void route_parse(const char *answer, json_object *agents, const char *user_message,
                 struct route_decision *out)
{
    memset(out, 0, sizeof(*out));
    out->kind = ROUTE_UNCLEAR;
    snprintf(out->intent, sizeof(out->intent), "unclear");
    json_object *o = answer ? json_tokener_parse(answer) : NULL;
    if (!o && answer) {
        /* Some models wrap JSON in a code fence or prose: take the outermost {...}. */
        const char *a = strchr(answer, '{'), *z = strrchr(answer, '}');
        if (a && z && z > a) {
            char *sub = strndup(a, (size_t)(z - a + 1));
            if (sub)
                o = json_tokener_parse(sub);
            free(sub);
        }
    }
    if (!o || !json_object_is_type(o, json_type_object))
        goto out;
    const char *agent = json_field_str(o, "agent");
    if (!agent)
        goto out;
    const char *intent = json_field_str(o, "intent");
    if (strcmp(agent, "MULTI_INTENT") == 0) {
        json_object *parts;
        if (!json_object_object_get_ex(o, "parts", &parts) ||
            !json_object_is_type(parts, json_type_array))
            goto out;
        size_t n = json_object_array_length(parts);
        for (size_t i = 0; i < n && out->nparts < ROUTE_MAX_PARTS; i++) {
            json_object *pt = json_object_array_get_idx(parts, i);
            const char *name = find_agent(agents, json_field_str(pt, "agent"));
            if (!name)
                continue; /* an agent the tenant does not have: dropped */
            const char *msg = json_field_str(pt, "message");
            if (!msg || !*msg)
                msg = user_message ? user_message : "";
            struct route_part *rp = &out->parts[out->nparts];
            snprintf(rp->agent, sizeof(rp->agent), "%s", name);
            rp->message = strdup(msg);
            if (!rp->message)
                break;
            out->nparts++;
        }
        if (out->nparts == 0)
            goto out;
        if (out->nparts == 1) {
            out->kind = ROUTE_AGENT;
            route_default_intent(out->parts[0].agent, out->intent, sizeof(out->intent));
        } else {
            out->kind = ROUTE_MULTI;
            snprintf(out->intent, sizeof(out->intent), "multi_intent");
        }
        goto out;
    }
    const char *name = find_agent(agents, agent);
    if (!name)
        goto out; /* UNCLEAR, or an agent not in the list */
    out->kind = ROUTE_AGENT;
    snprintf(out->parts[0].agent, sizeof(out->parts[0].agent), "%s", name);
    out->parts[0].message = strdup(user_message ? user_message : "");
    out->nparts = out->parts[0].message ? 1 : 0;
    if (!out->nparts) {
        out->kind = ROUTE_UNCLEAR;
        goto out;
    }
    if (intent && *intent && strlen(intent) < sizeof(out->intent))
        snprintf(out->intent, sizeof(out->intent), "%s", intent);
    else
        route_default_intent(name, out->intent, sizeof(out->intent));
out:
    json_object_put(o);
}

void route_decision_cleanup(struct route_decision *d)
{
    for (size_t i = 0; i < d->nparts; i++) {
        free(d->parts[i].message);
        d->parts[i].message = NULL;
    }
    d->nparts = 0;
}

char *route_clarify(json_object *agents, const char *language)
{
    int vi = language && strcmp(language, "vi") == 0;
    struct sbuf b = {0};
    size_t n = agents ? json_object_array_length(agents) : 0;
    if (n == 0) {
        sb_add(&b, vi ? "Xin lỗi, hiện chưa có trợ lý nào được bật cho tài khoản của bạn."
                      : "Sorry, no assistants are enabled for your organization yet.");
        return b.s;
    }
    sb_add(&b, vi ? "Xin lỗi, tôi chưa hiểu rõ yêu cầu của bạn. Tôi có thể giúp bạn về:\n"
                  : "I'm not sure what you need. I can help you with:\n");
    for (size_t i = 0; i < n; i++) {
        json_object *a = json_object_array_get_idx(agents, i);
        const char *d = json_field_str(a, "description");
        sb_add(&b, "- ");
        sb_add_line(&b, d && *d ? d : json_field_str(a, "name"));
        sb_add(&b, "\n");
    }
    sb_add(&b, vi ? "Bạn có thể nói rõ hơn bạn cần gì không?"
                  : "Could you tell me a bit more about what you need?");
    return b.s;
}
