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

const char *route_how_name(enum route_how h)
{
    switch (h) {
    case ROUTE_HOW_MODEL:
        return "model";
    case ROUTE_HOW_ANSWER_NAME:
        return "answer_name";
    case ROUTE_HOW_KEYWORDS:
        return "keywords";
    case ROUTE_HOW_REQUESTED:
        return "requested";
    case ROUTE_HOW_ATTACHMENTS:
        return "attachments";
    default:
        return "none";
    }
}

/* Words that say nothing about which agent fits. */
static const char *const route_stop[] = {"and",  "the", "for", "with", "from", "that", "this",
                                         "your", "our", "are", "you",  "what", "how",  "can",
                                         "not",  "all", "any", "has",  "have", "its",  "theo",
                                         "của",  "cho", "các", "và",   "agent"};

/* The next word of *s into w (ASCII-lowercased; bytes >= 0x80 belong to words, so UTF-8
 * Vietnamese stays whole); 0 at the end. Words shorter than 3 bytes and stop words are
 * skipped; a trailing "s" of a word of 5+ bytes is dropped (returns/return). */
static int next_word(const char **s, char *w, size_t cap)
{
    for (;;) {
        const unsigned char *p = (const unsigned char *)*s;
        while (*p && !(isalnum(*p) || *p >= 0x80))
            p++;
        if (!*p) {
            *s = (const char *)p;
            return 0;
        }
        size_t k = 0;
        while (*p && (isalnum(*p) || *p >= 0x80)) {
            if (k + 1 < cap)
                w[k++] = (char)tolower(*p);
            p++;
        }
        w[k] = '\0';
        *s = (const char *)p;
        if (k >= 5 && w[k - 1] == 's' && w[k - 2] != 's')
            w[--k] = '\0';
        if (k < 3)
            continue;
        int stop = 0;
        for (size_t i = 0; i < sizeof(route_stop) / sizeof(route_stop[0]); i++)
            if (strcmp(w, route_stop[i]) == 0)
                stop = 1;
        if (!stop)
            return 1;
    }
}

/* Splits "AgentDebtReport" into "debt report" (after the "Agent" prefix). */
static void name_words(const char *name, char *buf, size_t cap)
{
    const char *s = name ? name : "";
    if (strncmp(s, "Agent", 5) == 0)
        s += 5;
    size_t k = 0;
    for (; *s && k + 2 < cap; s++) {
        if (isupper((unsigned char)*s) && k > 0)
            buf[k++] = ' ';
        buf[k++] = *s;
    }
    buf[k] = '\0';
}

/* How many distinct words of message occur among the agent's words. */
static int keyword_score(json_object *agent, const char *message)
{
    char nw[128], w[64], v[64];
    name_words(json_field_str(agent, "name"), nw, sizeof(nw));
    const char *desc = json_field_str(agent, "description");
    int score = 0;
    char seen[32][64];
    size_t nseen = 0;
    const char *m = message;
    while (next_word(&m, w, sizeof(w))) {
        int dup = 0;
        for (size_t i = 0; i < nseen; i++)
            if (strcmp(seen[i], w) == 0)
                dup = 1;
        if (dup)
            continue;
        if (nseen < 32)
            snprintf(seen[nseen++], sizeof(seen[0]), "%s", w);
        int hit = 0;
        for (int pass = 0; pass < 2 && !hit; pass++) {
            const char *d = pass == 0 ? nw : (desc ? desc : "");
            while (!hit && next_word(&d, v, sizeof(v)))
                hit = strcmp(v, w) == 0;
        }
        score += hit;
    }
    return score;
}

const char *route_by_keywords(json_object *agents, const char *message)
{
    const char *best = NULL;
    int bs = 0, tie = 0;
    size_t n = agents ? json_object_array_length(agents) : 0;
    for (size_t i = 0; message && i < n; i++) {
        json_object *a = json_object_array_get_idx(agents, i);
        int sc = keyword_score(a, message);
        if (sc > bs) {
            bs = sc;
            best = json_field_str(a, "name");
            tie = 0;
        } else if (sc == bs && sc > 0) {
            tie = 1;
        }
    }
    return bs > 0 && !tie ? best : NULL;
}

/* Fallback 1: the one agent of the list the answer names (whole name, case-sensitive). */
static const char *named_in_answer(json_object *agents, const char *answer)
{
    const char *found = NULL;
    size_t n = agents ? json_object_array_length(agents) : 0;
    for (size_t i = 0; answer && i < n; i++) {
        const char *an = json_field_str(json_object_array_get_idx(agents, i), "name");
        size_t l = an ? strlen(an) : 0;
        if (!l)
            continue;
        for (const char *p = strstr(answer, an); p; p = strstr(p + 1, an)) {
            unsigned char after = (unsigned char)p[l];
            if (!isalnum(after) && after != '_') {
                if (found && strcmp(found, an) != 0)
                    return NULL; /* two agents named: no decision */
                found = an;
                break;
            }
        }
    }
    return found;
}

/* A decision for one agent (message: the user's). 0, or -1 when out of memory. */
static int route_single(struct route_decision *out, const char *name, const char *user_message,
                        enum route_how how)
{
    out->kind = ROUTE_AGENT;
    snprintf(out->parts[0].agent, sizeof(out->parts[0].agent), "%s", name);
    out->parts[0].message = strdup(user_message ? user_message : "");
    if (!out->parts[0].message) {
        out->kind = ROUTE_UNCLEAR;
        return -1;
    }
    out->nparts = 1;
    out->how = how;
    route_default_intent(name, out->intent, sizeof(out->intent));
    return 0;
}

/* The fallbacks of route_parse, for an answer that was no usable decision. */
static void route_fallback(const char *answer, json_object *agents, const char *user_message,
                           struct route_decision *out)
{
    const char *name = named_in_answer(agents, answer);
    if (name) {
        route_single(out, name, user_message, ROUTE_HOW_ANSWER_NAME);
        return;
    }
    name = route_by_keywords(agents, user_message);
    if (name)
        route_single(out, name, user_message, ROUTE_HOW_KEYWORDS);
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
        goto fallback;
    const char *agent = json_field_str(o, "agent");
    if (!agent)
        goto fallback;
    if (strcmp(agent, "UNCLEAR") == 0) {
        out->how = ROUTE_HOW_MODEL; /* the model said so: no second guess */
        goto out;
    }
    const char *intent = json_field_str(o, "intent");
    if (strcmp(agent, "MULTI_INTENT") == 0) {
        json_object *parts;
        if (!json_object_object_get_ex(o, "parts", &parts) ||
            !json_object_is_type(parts, json_type_array))
            goto fallback;
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
            goto fallback;
        out->how = ROUTE_HOW_MODEL;
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
        goto fallback; /* an agent not in the list */
    out->how = ROUTE_HOW_MODEL;
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
    goto out;
fallback:
    route_decision_cleanup(out);
    out->kind = ROUTE_UNCLEAR;
    out->how = ROUTE_HOW_NONE;
    route_fallback(answer, agents, user_message, out);
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

int route_requested(const char *name, json_object *agents, const char *user_message,
                    struct route_decision *out)
{
    memset(out, 0, sizeof(*out));
    out->kind = ROUTE_UNCLEAR;
    const char *found = find_agent(agents, name);
    if (!found)
        return 1;
    return route_single(out, found, user_message, ROUTE_HOW_REQUESTED);
}
