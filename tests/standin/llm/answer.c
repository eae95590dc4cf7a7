/* answer.c — see answer.h. Every answer text starts with "[stand-in]" (routing answers are
 * JSON, and carry "by":"stand-in" instead). */
#include "answer.h"

#include "json_field.h"
#include "llm.h"

#include <json-c/json.h>
#include <regex.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#define MAX_TOOLS 32
#define MAX_CALLS 16
#define MAX_AGENTS 64

static unsigned long g_seq;

/* ---- small helpers ---------------------------------------------------------------------- */

int sbuf_add(struct sbuf *b, const char *s, size_t n)
{
    if (b->len + n + 1 > b->cap) {
        size_t cap = b->cap ? b->cap * 2 : 256;
        while (cap < b->len + n + 1)
            cap *= 2;
        char *p = realloc(b->p, cap);
        if (!p)
            return -1;
        b->p = p;
        b->cap = cap;
    }
    memcpy(b->p + b->len, s, n);
    b->len += n;
    b->p[b->len] = '\0';
    return 0;
}

/* The answers are small: running out of memory here ends the stand-in. */
static void sb_addn(struct sbuf *b, const char *s, size_t n)
{
    if (sbuf_add(b, s, n) != 0)
        abort();
}

static void sb_add(struct sbuf *b, const char *s)
{
    sb_addn(b, s, strlen(s));
}

static json_object *jget(json_object *o, const char *k)
{
    json_object *v = NULL;
    if (!o || !json_object_is_type(o, json_type_object) || !json_object_object_get_ex(o, k, &v))
        return NULL;
    return v;
}

static char *jdump(json_object *o)
{
    return strdup(
        json_object_to_json_string_ext(o, JSON_C_TO_STRING_PLAIN | JSON_C_TO_STRING_NOSLASHESCAPE));
}

/* Text of a content that is a string or an array of {type:text,text} blocks. */
static void content_text(json_object *c, struct sbuf *out)
{
    if (!c)
        return;
    if (json_object_is_type(c, json_type_string)) {
        sb_add(out, json_object_get_string(c));
        return;
    }
    if (json_object_is_type(c, json_type_array)) {
        for (size_t i = 0; i < json_object_array_length(c); i++) {
            const char *t = json_field_str(json_object_array_get_idx(c, i), "text");
            if (t) {
                if (out->len)
                    sb_add(out, " ");
                sb_add(out, t);
            }
        }
    }
}

/* ---- words (lowercased, UTF-8 aware for Latin and Vietnamese letters) --------------------- */

static int utf8_decode(const unsigned char *s, size_t n, unsigned *cp)
{
    if (s[0] < 0x80) {
        *cp = s[0];
        return 1;
    }
    if ((s[0] & 0xE0) == 0xC0 && n >= 2) {
        *cp = ((s[0] & 0x1Fu) << 6) | (s[1] & 0x3Fu);
        return 2;
    }
    if ((s[0] & 0xF0) == 0xE0 && n >= 3) {
        *cp = ((s[0] & 0x0Fu) << 12) | ((s[1] & 0x3Fu) << 6) | (s[2] & 0x3Fu);
        return 3;
    }
    if ((s[0] & 0xF8) == 0xF0 && n >= 4) {
        *cp = ((s[0] & 0x07u) << 18) | ((s[1] & 0x3Fu) << 12) | ((s[2] & 0x3Fu) << 6) |
              (s[3] & 0x3Fu);
        return 4;
    }
    *cp = 0xFFFD;
    return 1;
}

static int utf8_encode(unsigned cp, char *o)
{
    if (cp < 0x80) {
        o[0] = (char)cp;
        return 1;
    }
    if (cp < 0x800) {
        o[0] = (char)(0xC0 | (cp >> 6));
        o[1] = (char)(0x80 | (cp & 0x3F));
        return 2;
    }
    if (cp < 0x10000) {
        o[0] = (char)(0xE0 | (cp >> 12));
        o[1] = (char)(0x80 | ((cp >> 6) & 0x3F));
        o[2] = (char)(0x80 | (cp & 0x3F));
        return 3;
    }
    o[0] = (char)(0xF0 | (cp >> 18));
    o[1] = (char)(0x80 | ((cp >> 12) & 0x3F));
    o[2] = (char)(0x80 | ((cp >> 6) & 0x3F));
    o[3] = (char)(0x80 | (cp & 0x3F));
    return 4;
}

static unsigned lower_cp(unsigned c)
{
    if (c >= 'A' && c <= 'Z')
        return c + 32;
    if (c >= 0xC0 && c <= 0xDE && c != 0xD7)
        return c + 32;
    if (c >= 0x100 && c <= 0x17F && (c % 2) == 0)
        return c + 1;
    if (c >= 0x1A0 && c <= 0x1B0 && (c == 0x1A0 || c == 0x1AF))
        return c + 1; /* O-horn, U-horn */
    if (c >= 0x1EA0 && c <= 0x1EF9 && (c % 2) == 0)
        return c + 1; /* Vietnamese */
    return c;
}

static int is_letter_cp(unsigned c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c >= 0xC0;
}

static const char *STOP[] = {
    "the",  "a",    "an",   "and",   "or",   "of",    "to",      "for",    "is",        "are",
    "my",   "me",   "i",    "you",   "what", "how",   "please",  "can",    "with",      "in",
    "on",   "at",   "it",   "this",  "that", "be",    "do",      "does",   "about",     "from",
    "by",   "as",   "your", "our",   "we",   "agent", "handles", "handle", "questions", "question",
    "help", "need", "want", "show",  "tell", "get",   "all",     "có",     "của",       "và",
    "là",   "tôi",  "cho",  "với",   "các",  "những", "không",   "được",   "này",       "về",
    "một",  "bạn",  "ở",    "trong", "thì",  "mà",    "nào",     "gì",     "hãy",       "giúp",
    "xin",  "mình", "em",   "anh",   "chị",  "ạ",     "nhé",     "đi",     "cần",       "muốn",
    "xem",  "biết", "cũng", NULL};

static int is_stop(const char *w)
{
    for (int i = 0; STOP[i]; i++)
        if (strcmp(w, STOP[i]) == 0)
            return 1;
    return 0;
}

struct words {
    char w[256][48];
    int n;
};

/* Lowercased words; CamelCase names split ("AgentDebt" -> agent, debt). */
static void words_of(const char *s, struct words *out, int split_camel)
{
    out->n = 0;
    const unsigned char *p = (const unsigned char *)s;
    size_t n = strlen(s), i = 0;
    char cur[48];
    size_t cl = 0;
    unsigned prev = 0;
    while (i <= n && out->n < 256) {
        unsigned cp = 0;
        int k = i < n ? utf8_decode(p + i, n - i, &cp) : 1;
        int letter = i < n && is_letter_cp(cp);
        int camel = split_camel && letter && cp >= 'A' && cp <= 'Z' && prev >= 'a' && prev <= 'z';
        if ((!letter || camel) && cl > 0) {
            cur[cl] = '\0';
            if (!is_stop(cur) && (cl >= 2 || (cur[0] >= '0' && cur[0] <= '9')))
                memcpy(out->w[out->n++], cur, cl + 1);
            cl = 0;
        }
        if (letter) {
            char enc[4];
            int el = utf8_encode(lower_cp(cp), enc);
            if (cl + (size_t)el < sizeof(cur) - 1) {
                memcpy(cur + cl, enc, (size_t)el);
                cl += (size_t)el;
            }
        }
        prev = cp;
        i += (size_t)k;
    }
}

static int word_match(const char *a, const char *b)
{
    if (strcmp(a, b) == 0)
        return 1;
    size_t la = strlen(a), lb = strlen(b);
    size_t m = la < lb ? la : lb;
    /* "shipment"/"shipments", "invoice"/"invoicing": a shared stem of 5+ bytes */
    return m >= 5 && strncmp(a, b, m < 6 ? m : 6) == 0 && (la > lb ? la - lb : lb - la) <= 3;
}

/* ---- routing ------------------------------------------------------------------------------ */

struct agent {
    char name[101];
    struct words desc;
};

static int parse_agents(const char *system, struct agent *ag, int max)
{
    int n = 0;
    const char *line = system;
    while (line && *line && n < max) {
        const char *end = strchr(line, '\n');
        size_t len = end ? (size_t)(end - line) : strlen(line);
        const char *p = line;
        while (p < line + len && (*p == ' ' || *p == '\t'))
            p++;
        if (p + 2 < line + len && (*p == '-' || *p == '*') && p[1] == ' ') {
            p += 2;
            const char *colon = memchr(p, ':', (size_t)(line + len - p));
            size_t nl = colon ? (size_t)(colon - p) : 0;
            int ok = nl > 0 && nl <= 100;
            for (size_t i = 0; ok && i < nl; i++)
                if (!((p[i] >= 'A' && p[i] <= 'Z') || (p[i] >= 'a' && p[i] <= 'z') ||
                      (p[i] >= '0' && p[i] <= '9') || p[i] == '_' || p[i] == '-'))
                    ok = 0;
            if (ok) {
                memcpy(ag[n].name, p, nl);
                ag[n].name[nl] = '\0';
                size_t dl = (size_t)(line + len - colon - 1);
                char *d = malloc(dl + nl + 2);
                memcpy(d, colon + 1, dl);
                d[dl] = ' ';
                memcpy(d + dl + 1, p, nl); /* the name's words count too */
                d[dl + 1 + nl] = '\0';
                words_of(d, &ag[n].desc, 1);
                free(d);
                n++;
            }
        }
        line = end ? end + 1 : NULL;
    }
    return n;
}

static int best_agent(const struct agent *ag, int n, const char *msg, int *score)
{
    static struct words mw; /* single-threaded server */
    words_of(msg, &mw, 0);
    int best = -1, bs = 0;
    for (int a = 0; a < n; a++) {
        int s = 0;
        for (int i = 0; i < mw.n; i++) {
            for (int j = 0; j < ag[a].desc.n; j++) {
                if (word_match(mw.w[i], ag[a].desc.w[j])) {
                    s++;
                    break;
                }
            }
        }
        if (s > bs) {
            bs = s;
            best = a;
        }
    }
    *score = bs;
    return best;
}

static char *trimdup(const char *s, size_t n)
{
    while (n && (*s == ' ' || *s == ',' || *s == '.'))
        s++, n--;
    while (n && (s[n - 1] == ' ' || s[n - 1] == ',' || s[n - 1] == '.' || s[n - 1] == '?'))
        n--;
    char *d = malloc(n + 1);
    memcpy(d, s, n);
    d[n] = '\0';
    return d;
}

/* {"agent":...} / UNCLEAR / MULTI_INTENT, or NULL if this is not a routing prompt. */
static char *route(const char *system, const char *user)
{
    if (!system || !strcasestr(system, "json") || !strcasestr(system, "agent"))
        return NULL;
    static struct agent ag[MAX_AGENTS];
    int n = parse_agents(system, ag, MAX_AGENTS);
    if (n == 0)
        return NULL;
    json_object *o = json_object_new_object();
    /* Two clauses joined by " and " / " và ", each matching a different agent. */
    const char *seps[] = {" and ", " và ", " AND ", " Và ", NULL};
    for (int si = 0; seps[si]; si++) {
        const char *at = strstr(user, seps[si]);
        if (!at)
            continue;
        char *a = trimdup(user, (size_t)(at - user));
        char *b = trimdup(at + strlen(seps[si]), strlen(at + strlen(seps[si])));
        int sa, sb;
        int ia = best_agent(ag, n, a, &sa), ib = best_agent(ag, n, b, &sb);
        if (ia >= 0 && ib >= 0 && ia != ib) {
            json_object *parts = json_object_new_array();
            json_object *pa = json_object_new_object(), *pb = json_object_new_object();
            json_object_object_add(pa, "agent", json_object_new_string(ag[ia].name));
            json_object_object_add(pa, "message", json_object_new_string(a));
            json_object_object_add(pb, "agent", json_object_new_string(ag[ib].name));
            json_object_object_add(pb, "message", json_object_new_string(b));
            json_object_array_add(parts, pa);
            json_object_array_add(parts, pb);
            json_object_object_add(o, "agent", json_object_new_string("MULTI_INTENT"));
            json_object_object_add(o, "parts", parts);
        }
        free(a);
        free(b);
        if (json_object_object_length(o) > 0)
            break;
    }
    if (json_object_object_length(o) == 0) {
        int s;
        int i = best_agent(ag, n, user, &s);
        json_object_object_add(o, "agent", json_object_new_string(i >= 0 ? ag[i].name : "UNCLEAR"));
    }
    json_object_object_add(o, "by", json_object_new_string("stand-in"));
    char *out = jdump(o);
    json_object_put(o);
    return out;
}

/* ---- attached documents ------------------------------------------------------------------- */

/* The agent puts a chat's attached documents into the system prompt, one labelled block per
 * page (tools/doc_context.h): '[document "<filename>" id=<id> page <n>]' and the page's text.
 * A question about a total (total / tổng) is answered from the first line of a page that
 * holds the word "total" (not "Subtotal") followed by a figure: the figure and the rest of
 * that line. Any other question
 * about them gets the start of the first page. Each answer names the document and page it
 * quotes, as the agent's prompt asks. NULL: no attached documents in system. */
static char *attachment_answer(const char *system, const char *user)
{
    static const char mark[] = "\n[document \"";
    const char *at = system ? strstr(system, mark) : NULL;
    if (!at)
        return NULL;
    int ask_total = user && (strcasestr(user, "total") || strstr(user, "tổng"));
    struct sbuf b = {0};
    const char *first_text = NULL, *first_end = NULL;
    char first_name[256] = "", name[256];
    int first_page = 0;
    for (; at; at = strstr(at + 1, mark)) {
        const char *fn = at + sizeof(mark) - 1, *q = strchr(fn, '"');
        const char *pg = q ? strstr(q, " page ") : NULL, *eol = q ? strchr(q, '\n') : NULL;
        if (!q || !pg || !eol || pg > eol)
            continue;
        snprintf(name, sizeof name, "%.*s", (int)(q - fn) < 255 ? (int)(q - fn) : 255, fn);
        int page = atoi(pg + 6);
        const char *text = eol + 1, *end = strstr(text, "\n[");
        if (!end)
            end = text + strlen(text);
        if (!first_text) {
            first_text = text;
            first_end = end;
            first_page = page;
            snprintf(first_name, sizeof first_name, "%s", name);
        }
        if (!ask_total)
            break;
        for (const char *line = text; line < end;) {
            const char *nl = memchr(line, '\n', (size_t)(end - line));
            const char *le = nl ? nl : end;
            char buf[512];
            snprintf(buf, sizeof buf, "%.*s", (int)(le - line) < 511 ? (int)(le - line) : 511,
                     line);
            /* "total" as a word's start: a "Subtotal" line is not the total */
            char *t = strcasestr(buf, "total");
            while (t && t > buf && ((t[-1] | 0x20) >= 'a' && (t[-1] | 0x20) <= 'z'))
                t = strcasestr(t + 5, "total");
            const char *fig = t ? t + 5 : NULL;
            while (fig && *fig && !(*fig >= '0' && *fig <= '9'))
                fig++;
            if (fig && *fig) {
                size_t fl = strlen(fig);
                while (fl && (fig[fl - 1] == ' ' || fig[fl - 1] == '\r'))
                    fl--;
                sb_add(&b, "[stand-in] The total of the attached invoice is ");
                sb_addn(&b, fig, fl);
                sb_add(&b, " [document \"");
                sb_add(&b, name);
                snprintf(buf, sizeof buf, "\" page %d].", page);
                sb_add(&b, buf);
                return b.p;
            }
            line = nl ? nl + 1 : end;
        }
    }
    if (!first_text)
        return NULL;
    char tail[64];
    sb_add(&b, ask_total ? "[stand-in] I found no total in the attached document. It reads: "
                         : "[stand-in] The attached document reads: ");
    size_t n = (size_t)(first_end - first_text);
    sb_addn(&b, first_text, n > 300 ? 300 : n);
    sb_add(&b, " [document \"");
    sb_add(&b, first_name);
    snprintf(tail, sizeof tail, "\" page %d].", first_page);
    sb_add(&b, tail);
    return b.p;
}

/* The markup probe (web tests): a user message containing "xss-probe" gets, outside a routing
 * prompt and before any tool call, an answer of markdown with live-looking HTML in it, which
 * a client must show inert. */
#define MARKUP_PROBE_TRIGGER "xss-probe"
static const char markup_probe[] =
    "[stand-in] Markup probe: **bold** and a [safe link](https://example.com/docs).\n\n"
    "<script>window.__agenthub_xss = 'script'; alert('script');</script>\n\n"
    "An image: <img src=x onerror=\"window.__agenthub_xss = 'img'; alert('img')\"> and "
    "[a js link](javascript:window.__agenthub_xss='link') and "
    "<a href=\"#\" onclick=\"window.__agenthub_xss='click'\">a handler</a>. End of probe.";

static char *markup_probe_for(const char *system, const char *user)
{
    if (!user || !strstr(user, MARKUP_PROBE_TRIGGER))
        return NULL;
    char *r = route(system, user);
    return r ? r : strdup(markup_probe);
}

char *answer_text_for(const char *system, const char *user)
{
    char *d = attachment_answer(system, user);
    if (d)
        return d;
    char *r = route(system, user ? user : "");
    if (r)
        return r;
    struct sbuf b = {0};
    sb_add(&b, "[stand-in] This is the stand-in LLM. You said: ");
    sb_addn(&b, user ? user : "", user ? (strlen(user) > 500 ? 500 : strlen(user)) : 0);
    return b.p;
}

/* ---- tool calls from entities in the user message ------------------------------------------ */

struct toolspec {
    const char *name;
    json_object *params;
};

struct call {
    char *id;
    char *name;
    json_object *args;
};

/* First match of an extended regex in s (anchors dropped) at or after *from. */
static int find_re(const char *pattern, const char *s, size_t *so, size_t *eo)
{
    char pat[512];
    size_t pl = strlen(pattern);
    if (pl >= sizeof(pat))
        return 0;
    const char *p = pattern;
    if (*p == '^')
        p++, pl--;
    memcpy(pat, p, pl);
    pat[pl] = '\0';
    if (pl && pat[pl - 1] == '$' && (pl < 2 || pat[pl - 2] != '\\'))
        pat[pl - 1] = '\0';
    /* \d is not POSIX */
    char conv[1024];
    size_t k = 0;
    for (size_t i = 0; pat[i] && k < sizeof(conv) - 8; i++) {
        if (pat[i] == '\\' && pat[i + 1] == 'd') {
            memcpy(conv + k, "[0-9]", 5);
            k += 5;
            i++;
        } else {
            conv[k++] = pat[i];
        }
    }
    conv[k] = '\0';
    regex_t re;
    if (regcomp(&re, conv, REG_EXTENDED) != 0)
        return 0;
    regmatch_t m;
    int found = regexec(&re, s, 1, &m, 0) == 0 && m.rm_eo > m.rm_so;
    regfree(&re);
    if (found) {
        *so = (size_t)m.rm_so;
        *eo = (size_t)m.rm_eo;
    }
    return found;
}

static int name_has(const char *name, const char *const *keys)
{
    for (int i = 0; keys[i]; i++)
        if (strcasestr(name, keys[i]))
            return 1;
    return 0;
}

static const char *const K_TAX[] = {"mst", "tax", "masothue", "ma_so_thue", NULL};
static const char *const K_CODE[] = {"tracking", "order",  "awb", "shipment", "invoice",
                                     "code",     "number", "_id", "ref",      NULL};
static const char *const K_QUERY[] = {"query",   "question", "search", "text",
                                      "message", "keyword",  "prompt", NULL};
static const char *const K_PHONE[] = {"phone", "sdt", NULL};
static const char *const K_EMAIL[] = {"email", "mail", NULL};

/* All values (up to max) in msg for one property; returns how many, kind 2 = entity, 1 = the
 * whole message (a query). */
static int find_values(const char *pname, json_object *prop, const char *msg, char vals[][128],
                       int max, int *kind)
{
    const char *pattern = json_field_str(prop, "pattern");
    const char *re = NULL;
    *kind = 2;
    if (pattern)
        re = pattern;
    else if (name_has(pname, K_TAX))
        re = "[0-9]{10}(-[0-9]{3})?";
    else if (name_has(pname, K_PHONE))
        re = "\\+?[0-9]{9,12}";
    else if (name_has(pname, K_EMAIL))
        re = "[A-Za-z0-9._%+-]+@[A-Za-z0-9.-]+\\.[A-Za-z]{2,}";
    else if (name_has(pname, K_CODE))
        re = "[A-Za-z]{1,6}-?[0-9][A-Za-z0-9-]{3,}";
    if (!re) {
        if (name_has(pname, K_QUERY)) {
            *kind = 1;
            snprintf(vals[0], 128, "%.127s", msg);
            return 1;
        }
        return 0;
    }
    int n = 0;
    const char *s = msg;
    size_t so, eo;
    size_t rl = strlen(re);
    int anchored_l = pattern && re[0] == '^';
    int anchored_r = pattern && rl > 0 && re[rl - 1] == '$';
    while (n < max && *s && find_re(re, s, &so, &eo)) {
        /* Whole tokens only: not part of a longer run of letters/digits; an anchored pattern
         * ("^...$") must match a whole word (no '-' or '_' continuing it either). */
        size_t abs = (size_t)(s - msg) + so;
        char lc = abs > 0 ? msg[abs - 1] : ' ', rc = s[eo];
        int lalnum =
            (lc >= '0' && lc <= '9') || (lc >= 'A' && lc <= 'Z') || (lc >= 'a' && lc <= 'z');
        int ralnum =
            (rc >= '0' && rc <= '9') || (rc >= 'A' && rc <= 'Z') || (rc >= 'a' && rc <= 'z');
        int left_ok = !lalnum && !(anchored_l && (lc == '-' || lc == '_'));
        int right_ok = anchored_r ? !ralnum && rc != '-' && rc != '_' : !(rc >= '0' && rc <= '9');
        if (left_ok && right_ok && eo - so < 128) {
            int dup = 0;
            for (int i = 0; i < n; i++)
                if (strlen(vals[i]) == eo - so && strncmp(vals[i], s + so, eo - so) == 0)
                    dup = 1;
            if (!dup) {
                memcpy(vals[n], s + so, eo - so);
                vals[n][eo - so] = '\0';
                n++;
            }
        }
        s += eo;
    }
    return n;
}

static json_object *typed(json_object *prop, const char *v)
{
    const char *t = json_field_str(prop, "type");
    if (t && strcmp(t, "integer") == 0)
        return json_object_new_int64(atoll(v));
    if (t && strcmp(t, "number") == 0)
        return json_object_new_double(atof(v));
    return json_object_new_string(v);
}

static size_t plan_calls(const struct toolspec *tools, size_t ntools, const char *msg,
                         struct call *calls, int wire)
{
    size_t n = 0;
    int any_entity = 0;
    struct cand {
        size_t tool;
        int kind;
        json_object *args[3];
        int nargs;
    } cands[MAX_TOOLS];
    size_t ncand = 0;
    for (size_t t = 0; t < ntools && ncand < MAX_TOOLS; t++) {
        json_object *props = jget(tools[t].params, "properties");
        if (!props || !json_object_is_type(props, json_type_object))
            continue;
        json_object *req = jget(tools[t].params, "required");
        struct cand c = {.tool = t};
        int missing = 0, found = 0, entity_values = 1;
        char vals[3][128];
        char evals[3][128];
        const char *eprop = NULL;
        json_object *eprop_schema = NULL;
        json_object *base = json_object_new_object();
        json_object_object_foreach(props, pname, prop)
        {
            int kind = 0;
            int nv = find_values(pname, prop, msg, vals, 3, &kind);
            int required = 0;
            for (size_t r = 0; req && json_object_is_type(req, json_type_array) &&
                               r < json_object_array_length(req);
                 r++) {
                const char *rn = json_object_get_string(json_object_array_get_idx(req, r));
                if (rn && strcmp(rn, pname) == 0)
                    required = 1;
            }
            if (nv == 0) {
                missing += required;
                continue;
            }
            found++;
            if (kind > c.kind)
                c.kind = kind;
            if (kind == 2 && !eprop && nv > 1) {
                eprop = pname;
                eprop_schema = prop;
                entity_values = nv;
                memcpy(evals, vals, sizeof(vals));
            }
            json_object_object_add(base, pname, typed(prop, vals[0]));
        }
        if (missing || !found) {
            json_object_put(base);
            continue;
        }
        /* Several values of one entity (two tax codes): one call per value. */
        for (int v = 0; v < entity_values && v < 3; v++) {
            json_object *a = NULL;
            json_object_deep_copy(base, &a, NULL);
            if (eprop)
                json_object_object_add(a, eprop, typed(eprop_schema, evals[v]));
            c.args[c.nargs++] = a;
        }
        json_object_put(base);
        if (c.kind == 2)
            any_entity = 1;
        cands[ncand++] = c;
    }
    for (size_t i = 0; i < ncand; i++) {
        for (int v = 0; v < cands[i].nargs; v++) {
            int take = any_entity ? cands[i].kind == 2 : 1;
            if (take && n < MAX_CALLS) {
                char id[64];
                snprintf(id, sizeof(id), "%s_standin_%lu_%zu",
                         wire == WIRE_ANTHROPIC ? "toolu" : "call", ++g_seq, n);
                calls[n].id = strdup(id);
                calls[n].name = strdup(tools[cands[i].tool].name);
                calls[n].args = cands[i].args[v];
                n++;
            } else {
                json_object_put(cands[i].args[v]);
            }
        }
    }
    return n;
}

/* ---- summary of tool results --------------------------------------------------------------- */

static void flatten(json_object *o, const char *prefix, struct sbuf *b, int depth, int *count)
{
    if (*count >= 24 || depth > 4)
        return;
    if (json_object_is_type(o, json_type_object)) {
        json_object_object_foreach(o, k, v)
        {
            char p[128];
            snprintf(p, sizeof(p), "%s%s%s", prefix, *prefix ? "." : "", k);
            flatten(v, p, b, depth + 1, count);
        }
    } else if (json_object_is_type(o, json_type_array)) {
        size_t n = json_object_array_length(o);
        for (size_t i = 0; i < n && i < 5; i++) {
            char p[128];
            snprintf(p, sizeof(p), "%s[%zu]", prefix, i);
            flatten(json_object_array_get_idx(o, i), p, b, depth + 1, count);
        }
    } else {
        const char *s = o ? json_object_get_string(o) : "null";
        if (b->len)
            sb_add(b, ", ");
        if (*prefix) {
            sb_add(b, prefix);
            sb_add(b, ": ");
        }
        sb_addn(b, s, strlen(s) > 200 ? 200 : strlen(s));
        (*count)++;
    }
}

struct toolres {
    char *name;
    char *text; /* JSON or plain */
};

static char *summary(const struct toolres *res, size_t n)
{
    struct sbuf b = {0};
    sb_add(&b, "[stand-in] Here is what the tools returned. ");
    for (size_t i = 0; i < n; i++) {
        struct sbuf kv = {0};
        json_object *o = json_tokener_parse(res[i].text ? res[i].text : "");
        int count = 0;
        if (o &&
            (json_object_is_type(o, json_type_object) || json_object_is_type(o, json_type_array)))
            flatten(o, "", &kv, 0, &count);
        else if (res[i].text)
            sb_addn(&kv, res[i].text, strlen(res[i].text) > 300 ? 300 : strlen(res[i].text));
        json_object_put(o);
        sb_add(&b, res[i].name ? res[i].name : "tool");
        sb_add(&b, ": ");
        sb_add(&b, kv.p ? kv.p : "(empty)");
        sb_add(&b, i + 1 < n ? ". " : ".");
        free(kv.p);
    }
    return b.p;
}

/* ---- request parsing --------------------------------------------------------------------------
 */

struct parsed {
    json_object *root;
    struct sbuf system;
    char *user; /* last user text */
    struct toolspec tools[MAX_TOOLS];
    size_t ntools;
    struct toolres res[MAX_CALLS];
    size_t nres;
    int json_mode;
};

static void res_add(struct parsed *p, const char *name, const char *text)
{
    if (p->nres >= MAX_CALLS)
        return;
    p->res[p->nres].name = name ? strdup(name) : NULL;
    p->res[p->nres].text = strdup(text ? text : "");
    p->nres++;
}

static void user_text(struct parsed *p, const char *t)
{
    free(p->user);
    p->user = strdup(t);
    for (size_t i = 0; i < p->nres; i++) { /* results before this user turn do not count */
        free(p->res[i].name);
        free(p->res[i].text);
    }
    p->nres = 0;
}

/* Name of the tool call with this id in earlier assistant turns (OpenAI / Anthropic). */
static const char *call_name(json_object *msgs, const char *id, int anthropic)
{
    for (size_t i = 0; id && i < json_object_array_length(msgs); i++) {
        json_object *m = json_object_array_get_idx(msgs, i);
        json_object *arr = jget(m, anthropic ? "content" : "tool_calls");
        if (!arr || !json_object_is_type(arr, json_type_array))
            continue;
        for (size_t k = 0; k < json_object_array_length(arr); k++) {
            json_object *c = json_object_array_get_idx(arr, k);
            const char *cid = json_field_str(c, "id");
            if (cid && strcmp(cid, id) == 0)
                return anthropic ? json_field_str(c, "name")
                                 : json_field_str(jget(c, "function"), "name");
        }
    }
    return NULL;
}

static int parse_request(enum wire w, const char *body, size_t len, struct parsed *p)
{
    memset(p, 0, sizeof(*p));
    json_tokener *tok = json_tokener_new();
    p->root = json_tokener_parse_ex(tok, body, (int)len);
    int bad = json_tokener_get_error(tok) != json_tokener_success;
    json_tokener_free(tok);
    if (bad || !p->root || !json_object_is_type(p->root, json_type_object))
        return -1;
    json_object *r = p->root;
    if (w == WIRE_OPENAI) {
        json_object *msgs = jget(r, "messages");
        if (!msgs || !json_object_is_type(msgs, json_type_array))
            return -1;
        for (size_t i = 0; i < json_object_array_length(msgs); i++) {
            json_object *m = json_object_array_get_idx(msgs, i);
            const char *role = json_field_str(m, "role");
            struct sbuf t = {0};
            content_text(jget(m, "content"), &t);
            if (role && (strcmp(role, "system") == 0 || strcmp(role, "developer") == 0)) {
                if (p->system.len)
                    sb_add(&p->system, "\n");
                sb_add(&p->system, t.p ? t.p : "");
            } else if (role && strcmp(role, "user") == 0) {
                user_text(p, t.p ? t.p : "");
            } else if (role && strcmp(role, "tool") == 0) {
                res_add(p, call_name(msgs, json_field_str(m, "tool_call_id"), 0), t.p);
            }
            free(t.p);
        }
        json_object *tools = jget(r, "tools");
        for (size_t i = 0; tools && json_object_is_type(tools, json_type_array) &&
                           i < json_object_array_length(tools) && p->ntools < MAX_TOOLS;
             i++) {
            json_object *fn = jget(json_object_array_get_idx(tools, i), "function");
            if (json_field_str(fn, "name")) {
                p->tools[p->ntools].name = json_field_str(fn, "name");
                p->tools[p->ntools++].params = jget(fn, "parameters");
            }
        }
        const char *rf = json_field_str(jget(r, "response_format"), "type");
        p->json_mode = rf && strcmp(rf, "json_object") == 0;
    } else if (w == WIRE_ANTHROPIC) {
        content_text(jget(r, "system"), &p->system);
        json_object *msgs = jget(r, "messages");
        if (!msgs || !json_object_is_type(msgs, json_type_array))
            return -1;
        for (size_t i = 0; i < json_object_array_length(msgs); i++) {
            json_object *m = json_object_array_get_idx(msgs, i);
            const char *role = json_field_str(m, "role");
            json_object *c = jget(m, "content");
            if (!role || strcmp(role, "user") != 0)
                continue;
            if (c && json_object_is_type(c, json_type_string)) {
                user_text(p, json_object_get_string(c));
                continue;
            }
            struct sbuf t = {0};
            for (size_t k = 0;
                 c && json_object_is_type(c, json_type_array) && k < json_object_array_length(c);
                 k++) {
                json_object *b = json_object_array_get_idx(c, k);
                const char *bt = json_field_str(b, "type");
                if (bt && strcmp(bt, "text") == 0) {
                    if (t.len)
                        sb_add(&t, " ");
                    sb_add(&t, json_field_str(b, "text") ? json_field_str(b, "text") : "");
                } else if (bt && strcmp(bt, "tool_result") == 0) {
                    struct sbuf rt = {0};
                    content_text(jget(b, "content"), &rt);
                    res_add(p, call_name(msgs, json_field_str(b, "tool_use_id"), 1), rt.p);
                    free(rt.p);
                }
            }
            if (t.len)
                user_text(p, t.p);
            free(t.p);
        }
        json_object *tools = jget(r, "tools");
        for (size_t i = 0; tools && json_object_is_type(tools, json_type_array) &&
                           i < json_object_array_length(tools) && p->ntools < MAX_TOOLS;
             i++) {
            json_object *t = json_object_array_get_idx(tools, i);
            if (json_field_str(t, "name")) {
                p->tools[p->ntools].name = json_field_str(t, "name");
                p->tools[p->ntools++].params = jget(t, "input_schema");
            }
        }
        p->json_mode = p->system.p && strcasestr(p->system.p, "JSON object only");
    } else {
        json_object *si = jget(jget(r, "systemInstruction"), "parts");
        content_text(si, &p->system);
        json_object *contents = jget(r, "contents");
        if (!contents || !json_object_is_type(contents, json_type_array))
            return -1;
        for (size_t i = 0; i < json_object_array_length(contents); i++) {
            json_object *m = json_object_array_get_idx(contents, i);
            const char *role = json_field_str(m, "role");
            json_object *parts = jget(m, "parts");
            if (role && strcmp(role, "model") == 0)
                continue;
            struct sbuf t = {0};
            for (size_t k = 0; parts && json_object_is_type(parts, json_type_array) &&
                               k < json_object_array_length(parts);
                 k++) {
                json_object *pt = json_object_array_get_idx(parts, k);
                json_object *fr = jget(pt, "functionResponse");
                if (json_field_str(pt, "text")) {
                    if (t.len)
                        sb_add(&t, " ");
                    sb_add(&t, json_field_str(pt, "text"));
                } else if (fr) {
                    json_object *resp = jget(fr, "response");
                    char *txt = resp ? jdump(resp) : strdup("{}");
                    res_add(p, json_field_str(fr, "name"), txt);
                    free(txt);
                }
            }
            if (t.len)
                user_text(p, t.p);
            free(t.p);
        }
        json_object *tools = jget(r, "tools");
        for (size_t i = 0; tools && json_object_is_type(tools, json_type_array) &&
                           i < json_object_array_length(tools);
             i++) {
            json_object *decls = jget(json_object_array_get_idx(tools, i), "functionDeclarations");
            for (size_t k = 0; decls && json_object_is_type(decls, json_type_array) &&
                               k < json_object_array_length(decls) && p->ntools < MAX_TOOLS;
                 k++) {
                json_object *d = json_object_array_get_idx(decls, k);
                if (json_field_str(d, "name")) {
                    p->tools[p->ntools].name = json_field_str(d, "name");
                    p->tools[p->ntools++].params = jget(d, "parameters");
                }
            }
        }
        const char *mt = json_field_str(jget(r, "generationConfig"), "responseMimeType");
        p->json_mode = mt && strcmp(mt, "application/json") == 0;
    }
    if (!p->user)
        p->user = strdup("");
    return 0;
}

static void parsed_free(struct parsed *p)
{
    json_object_put(p->root);
    free(p->system.p);
    free(p->user);
    for (size_t i = 0; i < p->nres; i++) {
        free(p->res[i].name);
        free(p->res[i].text);
    }
}

/* ---- rendering --------------------------------------------------------------------------------
 */

static void ev_add(struct rendered *r, const char *event, json_object *data)
{
    struct sbuf b = {0};
    if (event) {
        sb_add(&b, "event: ");
        sb_add(&b, event);
        sb_add(&b, "\n");
    }
    sb_add(&b, "data: ");
    if (data)
        sb_add(&b, json_object_to_json_string_ext(data, JSON_C_TO_STRING_PLAIN |
                                                            JSON_C_TO_STRING_NOSLASHESCAPE));
    else
        sb_add(&b, "[DONE]");
    sb_add(&b, "\n\n");
    json_object_put(data);
    r->events = realloc(r->events, (r->nevents + 1) * sizeof(char *));
    r->events[r->nevents++] = b.p;
}

/* One Anthropic content block event: {"type": type, "index": index[, key: val]} (val owned). */
static void anth_block_event(struct rendered *r, const char *type, int index, const char *key,
                             json_object *val)
{
    json_object *e = json_object_new_object();
    json_object_object_add(e, "type", json_object_new_string(type));
    json_object_object_add(e, "index", json_object_new_int(index));
    if (key)
        json_object_object_add(e, key, val);
    ev_add(r, type, e);
}

/* Splits text into "tokens": each word with the space before it. */
static size_t tokens(const char *text, const char *tok[], size_t len[], size_t max)
{
    size_t n = 0;
    const char *s = text;
    while (*s && n < max) {
        const char *start = s;
        while (*s == ' ')
            s++;
        while (*s && *s != ' ')
            s++;
        tok[n] = start;
        len[n++] = (size_t)(s - start);
    }
    if (*s && n > 0) /* too many: the rest goes in the last token */
        len[n - 1] = strlen(tok[n - 1]);
    return n;
}

static json_object *jstrn(const char *s, size_t n)
{
    return json_object_new_string_len(s, (int)n);
}

static void render(enum wire w, const char *model, const char *text, struct call *calls,
                   size_t ncalls, long in_tok, const struct req_opts *o, struct rendered *r)
{
    enum { MAXTOK = 4096 };
    static const char *tk[MAXTOK];
    static size_t tl[MAXTOK];
    size_t nt = text ? tokens(text, tk, tl, MAXTOK) : 0;
    long out_tok = (long)nt;
    for (size_t i = 0; i < ncalls; i++)
        out_tok += 8;
    r->in_tokens = in_tok;
    r->out_tokens = out_tok;
    unsigned long id = ++g_seq;
    char sid[64];
    time_t now = time(NULL);
    r->status = 200;
    if (!o->stream) {
        json_object *root = json_object_new_object();
        if (w == WIRE_OPENAI) {
            snprintf(sid, sizeof(sid), "chatcmpl-standin-%lu", id);
            json_object *msg = json_object_new_object();
            json_object_object_add(msg, "role", json_object_new_string("assistant"));
            json_object_object_add(msg, "content", text ? json_object_new_string(text) : NULL);
            if (ncalls) {
                json_object *tcs = json_object_new_array();
                for (size_t i = 0; i < ncalls; i++) {
                    json_object *tc = json_object_new_object(), *fn = json_object_new_object();
                    json_object_object_add(tc, "id", json_object_new_string(calls[i].id));
                    json_object_object_add(tc, "type", json_object_new_string("function"));
                    json_object_object_add(fn, "name", json_object_new_string(calls[i].name));
                    json_object_object_add(fn, "arguments",
                                           json_object_new_string(json_object_to_json_string_ext(
                                               calls[i].args, JSON_C_TO_STRING_PLAIN)));
                    json_object_object_add(tc, "function", fn);
                    json_object_array_add(tcs, tc);
                }
                json_object_object_add(msg, "tool_calls", tcs);
            }
            json_object *ch = json_object_new_object();
            json_object_object_add(ch, "index", json_object_new_int(0));
            json_object_object_add(ch, "message", msg);
            json_object_object_add(ch, "finish_reason",
                                   json_object_new_string(ncalls ? "tool_calls" : "stop"));
            json_object *choices = json_object_new_array();
            json_object_array_add(choices, ch);
            json_object *u = json_object_new_object();
            json_object_object_add(u, "prompt_tokens", json_object_new_int64(in_tok));
            json_object_object_add(u, "completion_tokens", json_object_new_int64(out_tok));
            json_object_object_add(u, "total_tokens", json_object_new_int64(in_tok + out_tok));
            json_object_object_add(root, "id", json_object_new_string(sid));
            json_object_object_add(root, "object", json_object_new_string("chat.completion"));
            json_object_object_add(root, "created", json_object_new_int64(now));
            json_object_object_add(root, "model", json_object_new_string(model));
            json_object_object_add(root, "choices", choices);
            json_object_object_add(root, "usage", u);
        } else if (w == WIRE_ANTHROPIC) {
            snprintf(sid, sizeof(sid), "msg_standin_%lu", id);
            json_object *content = json_object_new_array();
            if (text) {
                json_object *b = json_object_new_object();
                json_object_object_add(b, "type", json_object_new_string("text"));
                json_object_object_add(b, "text", json_object_new_string(text));
                json_object_array_add(content, b);
            }
            for (size_t i = 0; i < ncalls; i++) {
                json_object *b = json_object_new_object();
                json_object_object_add(b, "type", json_object_new_string("tool_use"));
                json_object_object_add(b, "id", json_object_new_string(calls[i].id));
                json_object_object_add(b, "name", json_object_new_string(calls[i].name));
                json_object_object_add(b, "input", json_object_get(calls[i].args));
                json_object_array_add(content, b);
            }
            json_object *u = json_object_new_object();
            json_object_object_add(u, "input_tokens", json_object_new_int64(in_tok));
            json_object_object_add(u, "output_tokens", json_object_new_int64(out_tok));
            json_object_object_add(root, "id", json_object_new_string(sid));
            json_object_object_add(root, "type", json_object_new_string("message"));
            json_object_object_add(root, "role", json_object_new_string("assistant"));
            json_object_object_add(root, "model", json_object_new_string(model));
            json_object_object_add(root, "content", content);
            json_object_object_add(root, "stop_reason",
                                   json_object_new_string(ncalls ? "tool_use" : "end_turn"));
            json_object_object_add(root, "stop_sequence", NULL);
            json_object_object_add(root, "usage", u);
        } else {
            json_object *parts = json_object_new_array();
            if (text) {
                json_object *pt = json_object_new_object();
                json_object_object_add(pt, "text", json_object_new_string(text));
                json_object_array_add(parts, pt);
            }
            for (size_t i = 0; i < ncalls; i++) {
                json_object *pt = json_object_new_object(), *fc = json_object_new_object();
                json_object_object_add(fc, "name", json_object_new_string(calls[i].name));
                json_object_object_add(fc, "args", json_object_get(calls[i].args));
                json_object_object_add(pt, "functionCall", fc);
                json_object_array_add(parts, pt);
            }
            json_object *content = json_object_new_object();
            json_object_object_add(content, "parts", parts);
            json_object_object_add(content, "role", json_object_new_string("model"));
            json_object *cand = json_object_new_object();
            json_object_object_add(cand, "content", content);
            json_object_object_add(cand, "finishReason", json_object_new_string("STOP"));
            json_object_object_add(cand, "index", json_object_new_int(0));
            json_object *cands = json_object_new_array();
            json_object_array_add(cands, cand);
            json_object *u = json_object_new_object();
            json_object_object_add(u, "promptTokenCount", json_object_new_int64(in_tok));
            json_object_object_add(u, "candidatesTokenCount", json_object_new_int64(out_tok));
            json_object_object_add(u, "totalTokenCount", json_object_new_int64(in_tok + out_tok));
            json_object_object_add(root, "candidates", cands);
            json_object_object_add(root, "usageMetadata", u);
            json_object_object_add(root, "modelVersion", json_object_new_string(model));
        }
        r->body = jdump(root);
        json_object_put(root);
        if (o->malformed) { /* cut the JSON in half */
            size_t l = strlen(r->body);
            r->body[l / 2] = '\0';
        }
        r->ctype = "application/json";
        return;
    }

    r->ctype = "text/event-stream";
    if (w == WIRE_OPENAI) {
        snprintf(sid, sizeof(sid), "chatcmpl-standin-%lu", id);
#define CHUNK(delta, finish)                                                                       \
    do {                                                                                           \
        json_object *c_ = json_object_new_object(), *ch_ = json_object_new_object();               \
        json_object *arr_ = json_object_new_array();                                               \
        json_object_object_add(c_, "id", json_object_new_string(sid));                             \
        json_object_object_add(c_, "object", json_object_new_string("chat.completion.chunk"));     \
        json_object_object_add(c_, "created", json_object_new_int64(now));                         \
        json_object_object_add(c_, "model", json_object_new_string(model));                        \
        json_object_object_add(ch_, "index", json_object_new_int(0));                              \
        json_object_object_add(ch_, "delta", (delta));                                             \
        json_object_object_add(ch_, "finish_reason",                                               \
                               (finish) ? json_object_new_string(finish) : NULL);                  \
        json_object_array_add(arr_, ch_);                                                          \
        json_object_object_add(c_, "choices", arr_);                                               \
        ev_add(r, NULL, c_);                                                                       \
    } while (0)
        json_object *d = json_object_new_object();
        json_object_object_add(d, "role", json_object_new_string("assistant"));
        json_object_object_add(d, "content", json_object_new_string(""));
        CHUNK(d, (const char *)NULL);
        for (size_t i = 0; i < nt; i++) {
            d = json_object_new_object();
            json_object_object_add(d, "content", jstrn(tk[i], tl[i]));
            CHUNK(d, (const char *)NULL);
        }
        for (size_t i = 0; i < ncalls; i++) {
            const char *args =
                json_object_to_json_string_ext(calls[i].args, JSON_C_TO_STRING_PLAIN);
            size_t al = strlen(args), half = al / 2;
            for (int part = 0; part < 3; part++) {
                json_object *tc = json_object_new_object();
                json_object_object_add(tc, "index", json_object_new_int((int)i));
                json_object *fn = json_object_new_object();
                if (part == 0) {
                    json_object_object_add(tc, "id", json_object_new_string(calls[i].id));
                    json_object_object_add(tc, "type", json_object_new_string("function"));
                    json_object_object_add(fn, "name", json_object_new_string(calls[i].name));
                    json_object_object_add(fn, "arguments", json_object_new_string(""));
                } else if (part == 1) {
                    json_object_object_add(fn, "arguments", jstrn(args, half));
                } else {
                    json_object_object_add(fn, "arguments", jstrn(args + half, al - half));
                }
                json_object_object_add(tc, "function", fn);
                json_object *tcs = json_object_new_array();
                json_object_array_add(tcs, tc);
                d = json_object_new_object();
                json_object_object_add(d, "tool_calls", tcs);
                CHUNK(d, (const char *)NULL);
            }
        }
        CHUNK(json_object_new_object(), ncalls ? "tool_calls" : "stop");
#undef CHUNK
        if (o->include_usage) {
            json_object *c = json_object_new_object(), *u = json_object_new_object();
            json_object_object_add(c, "id", json_object_new_string(sid));
            json_object_object_add(c, "object", json_object_new_string("chat.completion.chunk"));
            json_object_object_add(c, "created", json_object_new_int64(now));
            json_object_object_add(c, "model", json_object_new_string(model));
            json_object_object_add(c, "choices", json_object_new_array());
            json_object_object_add(u, "prompt_tokens", json_object_new_int64(in_tok));
            json_object_object_add(u, "completion_tokens", json_object_new_int64(out_tok));
            json_object_object_add(u, "total_tokens", json_object_new_int64(in_tok + out_tok));
            json_object_object_add(c, "usage", u);
            ev_add(r, NULL, c);
        }
        ev_add(r, NULL, NULL);
    } else if (w == WIRE_ANTHROPIC) {
        snprintf(sid, sizeof(sid), "msg_standin_%lu", id);
        json_object *m = json_object_new_object(), *u = json_object_new_object();
        json_object_object_add(m, "id", json_object_new_string(sid));
        json_object_object_add(m, "type", json_object_new_string("message"));
        json_object_object_add(m, "role", json_object_new_string("assistant"));
        json_object_object_add(m, "content", json_object_new_array());
        json_object_object_add(m, "model", json_object_new_string(model));
        json_object_object_add(m, "stop_reason", NULL);
        json_object_object_add(m, "stop_sequence", NULL);
        json_object_object_add(u, "input_tokens", json_object_new_int64(in_tok));
        json_object_object_add(u, "output_tokens", json_object_new_int64(1));
        json_object_object_add(m, "usage", u);
        json_object *e = json_object_new_object();
        json_object_object_add(e, "type", json_object_new_string("message_start"));
        json_object_object_add(e, "message", m);
        ev_add(r, "message_start", e);
        int block = 0;
        if (text) {
            json_object *b = json_object_new_object();
            json_object_object_add(b, "type", json_object_new_string("text"));
            json_object_object_add(b, "text", json_object_new_string(""));
            anth_block_event(r, "content_block_start", block, "content_block", b);
            e = json_object_new_object();
            json_object_object_add(e, "type", json_object_new_string("ping"));
            ev_add(r, "ping", e);
            for (size_t i = 0; i < nt; i++) {
                json_object *dd = json_object_new_object();
                json_object_object_add(dd, "type", json_object_new_string("text_delta"));
                json_object_object_add(dd, "text", jstrn(tk[i], tl[i]));
                anth_block_event(r, "content_block_delta", block, "delta", dd);
            }
            anth_block_event(r, "content_block_stop", block, NULL, NULL);
            block++;
        }
        for (size_t i = 0; i < ncalls; i++, block++) {
            json_object *b = json_object_new_object();
            json_object_object_add(b, "type", json_object_new_string("tool_use"));
            json_object_object_add(b, "id", json_object_new_string(calls[i].id));
            json_object_object_add(b, "name", json_object_new_string(calls[i].name));
            json_object_object_add(b, "input", json_object_new_object());
            anth_block_event(r, "content_block_start", block, "content_block", b);
            const char *args =
                json_object_to_json_string_ext(calls[i].args, JSON_C_TO_STRING_PLAIN);
            size_t al = strlen(args), half = al / 2;
            for (int part = 0; part < 3; part++) {
                json_object *dd = json_object_new_object();
                json_object_object_add(dd, "type", json_object_new_string("input_json_delta"));
                json_object_object_add(dd, "partial_json",
                                       part == 0   ? json_object_new_string("")
                                       : part == 1 ? jstrn(args, half)
                                                   : jstrn(args + half, al - half));
                anth_block_event(r, "content_block_delta", block, "delta", dd);
            }
            anth_block_event(r, "content_block_stop", block, NULL, NULL);
        }
        e = json_object_new_object();
        json_object *dd = json_object_new_object();
        json_object_object_add(dd, "stop_reason",
                               json_object_new_string(ncalls ? "tool_use" : "end_turn"));
        json_object_object_add(dd, "stop_sequence", NULL);
        u = json_object_new_object();
        json_object_object_add(u, "output_tokens", json_object_new_int64(out_tok));
        json_object_object_add(e, "type", json_object_new_string("message_delta"));
        json_object_object_add(e, "delta", dd);
        json_object_object_add(e, "usage", u);
        ev_add(r, "message_delta", e);
        e = json_object_new_object();
        json_object_object_add(e, "type", json_object_new_string("message_stop"));
        ev_add(r, "message_stop", e);
    } else {
        for (size_t i = 0; i <= nt; i++) {
            int last = i == nt;
            json_object *parts = json_object_new_array();
            if (!last) {
                json_object *pt = json_object_new_object();
                json_object_object_add(pt, "text", jstrn(tk[i], tl[i]));
                json_object_array_add(parts, pt);
            } else {
                for (size_t k = 0; k < ncalls; k++) {
                    json_object *pt = json_object_new_object(), *fc = json_object_new_object();
                    json_object_object_add(fc, "name", json_object_new_string(calls[k].name));
                    json_object_object_add(fc, "args", json_object_get(calls[k].args));
                    json_object_object_add(pt, "functionCall", fc);
                    json_object_array_add(parts, pt);
                }
                if (!ncalls) {
                    json_object *pt = json_object_new_object();
                    json_object_object_add(pt, "text", json_object_new_string(""));
                    json_object_array_add(parts, pt);
                }
            }
            json_object *content = json_object_new_object();
            json_object_object_add(content, "parts", parts);
            json_object_object_add(content, "role", json_object_new_string("model"));
            json_object *cand = json_object_new_object();
            json_object_object_add(cand, "content", content);
            if (last)
                json_object_object_add(cand, "finishReason", json_object_new_string("STOP"));
            json_object_object_add(cand, "index", json_object_new_int(0));
            json_object *cands = json_object_new_array();
            json_object_array_add(cands, cand);
            json_object *c = json_object_new_object();
            json_object_object_add(c, "candidates", cands);
            json_object *u = json_object_new_object();
            json_object_object_add(u, "promptTokenCount", json_object_new_int64(in_tok));
            json_object_object_add(u, "candidatesTokenCount",
                                   json_object_new_int64(last ? out_tok : (long)i + 1));
            json_object_object_add(u, "totalTokenCount",
                                   json_object_new_int64(in_tok + (last ? out_tok : (long)i + 1)));
            json_object_object_add(c, "usageMetadata", u);
            json_object_object_add(c, "modelVersion", json_object_new_string(model));
            ev_add(r, NULL, c);
        }
    }
    if (o->malformed && r->nevents > 2) { /* a garbled event in the middle */
        size_t mid = r->nevents / 2;
        free(r->events[mid]);
        r->events[mid] = strdup("data: {\"choices\":[{\"delta\":{\"content\":\"oops\n\n");
    }
}

int answer_chat(enum wire w, const char *body, size_t len, const char *model,
                const struct req_opts *o, struct rendered *out)
{
    memset(out, 0, sizeof(*out));
    struct parsed p;
    if (parse_request(w, body, len, &p) != 0) {
        parsed_free(&p);
        answer_error(w, "bad", out);
        return 0;
    }
    long in_tok = (long)(len / 4) + 1;
    struct call calls[MAX_CALLS];
    size_t ncalls = 0;
    char *text = NULL;
    if (p.nres > 0) {
        text = summary(p.res, p.nres);
    } else if ((text = markup_probe_for(p.system.p, p.user)) != NULL) {
        /* routed as usual, or the probe's markup (no tool call) */
    } else if (p.ntools > 0 && (ncalls = plan_calls(p.tools, p.ntools, p.user, calls, w)) > 0) {
        text = NULL;
    } else {
        text = answer_text_for(p.system.p, p.user);
        if (p.json_mode && text[0] != '{') {
            json_object *j = json_object_new_object();
            json_object_object_add(j, "answer", json_object_new_string(text));
            free(text);
            text = jdump(j);
            json_object_put(j);
        }
    }
    render(w, model, text, calls, ncalls, in_tok, o, out);
    for (size_t i = 0; i < ncalls; i++) {
        free(calls[i].id);
        free(calls[i].name);
        json_object_put(calls[i].args);
    }
    free(text);
    parsed_free(&p);
    return 0;
}

static json_object *vec_json(const char *text)
{
    float vec[LLM_LOCAL_EMBED_DIM];
    llm_embed_local(text, vec, LLM_LOCAL_EMBED_DIM);
    json_object *a = json_object_new_array_ext(LLM_LOCAL_EMBED_DIM);
    for (int k = 0; k < LLM_LOCAL_EMBED_DIM; k++)
        json_object_array_add(a, json_object_new_double(vec[k]));
    return a;
}

int answer_embed(enum wire w, const char *body, size_t len, const char *model, int batch,
                 struct rendered *out)
{
    memset(out, 0, sizeof(*out));
    json_tokener *tok = json_tokener_new();
    json_object *root = json_tokener_parse_ex(tok, body, (int)len);
    int bad = json_tokener_get_error(tok) != json_tokener_success || !root;
    json_tokener_free(tok);
    if (bad) {
        json_object_put(root);
        answer_error(w, "bad", out);
        return 0;
    }
    json_object *res = json_object_new_object();
    out->status = 200;
    out->ctype = "application/json";
    if (w == WIRE_OPENAI) {
        json_object *input = jget(root, "input");
        json_object *data = json_object_new_array();
        long toks = 0;
        if (input && json_object_is_type(input, json_type_string)) {
            json_object *d = json_object_new_object();
            json_object_object_add(d, "object", json_object_new_string("embedding"));
            json_object_object_add(d, "index", json_object_new_int(0));
            json_object_object_add(d, "embedding", vec_json(json_object_get_string(input)));
            json_object_array_add(data, d);
            toks += (long)strlen(json_object_get_string(input)) / 4 + 1;
        } else if (input && json_object_is_type(input, json_type_array)) {
            for (size_t i = 0; i < json_object_array_length(input); i++) {
                const char *t = json_object_get_string(json_object_array_get_idx(input, i));
                json_object *d = json_object_new_object();
                json_object_object_add(d, "object", json_object_new_string("embedding"));
                json_object_object_add(d, "index", json_object_new_int((int)i));
                json_object_object_add(d, "embedding", vec_json(t ? t : ""));
                json_object_array_add(data, d);
                toks += (long)(t ? strlen(t) : 0) / 4 + 1;
            }
        } else {
            json_object_put(data);
            json_object_put(res);
            json_object_put(root);
            answer_error(w, "bad", out);
            return 0;
        }
        json_object *u = json_object_new_object();
        json_object_object_add(u, "prompt_tokens", json_object_new_int64(toks));
        json_object_object_add(u, "total_tokens", json_object_new_int64(toks));
        json_object_object_add(res, "object", json_object_new_string("list"));
        json_object_object_add(res, "data", data);
        json_object_object_add(res, "model", json_object_new_string(model));
        json_object_object_add(res, "usage", u);
    } else if (!batch) {
        struct sbuf t = {0};
        content_text(jget(jget(root, "content"), "parts"), &t);
        json_object *e = json_object_new_object();
        json_object_object_add(e, "values", vec_json(t.p ? t.p : ""));
        json_object_object_add(res, "embedding", e);
        free(t.p);
    } else {
        json_object *reqs = jget(root, "requests");
        json_object *embs = json_object_new_array();
        for (size_t i = 0; reqs && json_object_is_type(reqs, json_type_array) &&
                           i < json_object_array_length(reqs);
             i++) {
            struct sbuf t = {0};
            content_text(jget(jget(json_object_array_get_idx(reqs, i), "content"), "parts"), &t);
            json_object *e = json_object_new_object();
            json_object_object_add(e, "values", vec_json(t.p ? t.p : ""));
            json_object_array_add(embs, e);
            free(t.p);
        }
        json_object_object_add(res, "embeddings", embs);
    }
    out->body = jdump(res);
    json_object_put(res);
    json_object_put(root);
    return 0;
}

void answer_error(enum wire w, const char *kind, struct rendered *out)
{
    memset(out, 0, sizeof(*out));
    int status = 500;
    const char *msg = "[stand-in] internal server error (injected)";
    const char *otype = "server_error", *ocode = "server_error", *atype = "api_error",
               *gstatus = "INTERNAL";
    if (strcmp(kind, "auth") == 0) {
        status = 401;
        msg = "[stand-in] invalid API key";
        otype = "invalid_request_error";
        ocode = "invalid_api_key";
        atype = "authentication_error";
        gstatus = "UNAUTHENTICATED";
    } else if (strcmp(kind, "rate") == 0) {
        status = 429;
        msg = "[stand-in] rate limit reached (injected)";
        otype = "requests";
        ocode = "rate_limit_exceeded";
        atype = "rate_limit_error";
        gstatus = "RESOURCE_EXHAUSTED";
    } else if (strcmp(kind, "context") == 0) {
        status = 400;
        msg = "[stand-in] This model's maximum context length is 8192 tokens. However, your "
              "messages resulted in 9000 tokens.";
        otype = "invalid_request_error";
        ocode = "context_length_exceeded";
        atype = "invalid_request_error";
        gstatus = "INVALID_ARGUMENT";
        if (w == WIRE_ANTHROPIC)
            msg = "prompt is too long: 250000 tokens > 200000 maximum";
        else if (w == WIRE_GEMINI)
            msg = "The input token count (1200000) exceeds the maximum number of tokens allowed "
                  "(1048576).";
    } else if (strcmp(kind, "bad") == 0) {
        status = 400;
        msg = "[stand-in] could not parse the request body";
        otype = "invalid_request_error";
        ocode = "invalid_request";
        atype = "invalid_request_error";
        gstatus = "INVALID_ARGUMENT";
    }
    json_object *root = json_object_new_object(), *e = json_object_new_object();
    if (w == WIRE_OPENAI) {
        json_object_object_add(e, "message", json_object_new_string(msg));
        json_object_object_add(e, "type", json_object_new_string(otype));
        json_object_object_add(e, "param", NULL);
        json_object_object_add(e, "code", json_object_new_string(ocode));
        json_object_object_add(root, "error", e);
    } else if (w == WIRE_ANTHROPIC) {
        json_object_object_add(e, "type", json_object_new_string(atype));
        json_object_object_add(e, "message", json_object_new_string(msg));
        json_object_object_add(root, "type", json_object_new_string("error"));
        json_object_object_add(root, "error", e);
    } else {
        json_object_object_add(e, "code", json_object_new_int(status));
        json_object_object_add(e, "message", json_object_new_string(msg));
        json_object_object_add(e, "status", json_object_new_string(gstatus));
        json_object_object_add(root, "error", e);
    }
    out->status = status;
    out->body = jdump(root);
    out->ctype = "application/json";
    json_object_put(root);
}

void rendered_free(struct rendered *r)
{
    free(r->body);
    for (size_t i = 0; i < r->nevents; i++)
        free(r->events[i]);
    free(r->events);
    memset(r, 0, sizeof(*r));
}
