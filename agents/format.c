/* format.c — see format.h. */
#include "format.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct sbuf {
    char *s;
    size_t len, cap;
    int failed;
};

static void sb_addn(struct sbuf *b, const char *t, size_t n)
{
    if (b->failed)
        return;
    if (b->len + n + 1 > b->cap) {
        size_t nc = b->cap ? b->cap : 256;
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
    memcpy(b->s + b->len, t, n);
    b->len += n;
    b->s[b->len] = '\0';
}

static void sb_add(struct sbuf *b, const char *t)
{
    if (t)
        sb_addn(b, t, strlen(t));
}

const char *format_instructions(const char *ft)
{
    if (ft && strcmp(ft, "text") == 0)
        return "Output format: plain text only, no Markdown, short paragraphs.";
    if (ft && strcmp(ft, "json") == 0)
        return "Output format: a concise answer in plain sentences; the platform returns it "
               "inside a JSON object together with the data you retrieved.";
    if (ft && strcmp(ft, "table") == 0)
        return "Output format: a short summary; the platform appends the retrieved data as a "
               "table, so do not repeat every field.";
    return "Output format: Markdown (short paragraphs, bullet lists for several items, bold "
           "for key figures).";
}

/* Removes Markdown markers: leading '#'s, '**', '__', '`' and code fences. */
static char *plain_text(const char *c)
{
    struct sbuf b = {0};
    int bol = 1;
    for (const char *p = c; *p;) {
        if (bol && strncmp(p, "```", 3) == 0) {
            const char *nl = strchr(p, '\n');
            p = nl ? nl + 1 : p + strlen(p);
            continue;
        }
        if (bol && *p == '#') {
            while (*p == '#')
                p++;
            while (*p == ' ')
                p++;
            bol = 0;
            continue; /* the text after the marker may be empty, even the end */
        }
        if (strncmp(p, "**", 2) == 0 || strncmp(p, "__", 2) == 0) {
            p += 2;
            bol = 0;
            continue;
        }
        if (*p == '`') {
            p++;
            bol = 0;
            continue;
        }
        bol = *p == '\n';
        sb_addn(&b, p, 1);
        p++;
    }
    if (!b.s && !b.failed)
        sb_add(&b, "");
    return b.s;
}

/* A cell: JSON scalars as text, nested values as compact JSON; '|' and newlines escaped. */
static void cell(struct sbuf *b, json_object *v)
{
    const char *t;
    if (!v)
        t = "";
    else if (json_object_is_type(v, json_type_string))
        t = json_object_get_string(v);
    else
        t = json_object_to_json_string_ext(v, JSON_C_TO_STRING_PLAIN);
    for (; *t; t++) {
        if (*t == '|')
            sb_add(b, "\\|");
        else if (*t == '\n' || *t == '\r')
            sb_add(b, " ");
        else
            sb_addn(b, t, 1);
    }
}

static void table_of(struct sbuf *b, json_object *data)
{
    if (json_object_is_type(data, json_type_array) && json_object_array_length(data) > 0 &&
        json_object_is_type(json_object_array_get_idx(data, 0), json_type_object)) {
        /* Rows of objects: the first row's keys are the columns. */
        json_object *first = json_object_array_get_idx(data, 0);
        sb_add(b, "|");
        json_object_object_foreach(first, k, v0)
        {
            (void)v0;
            sb_add(b, " ");
            sb_add(b, k);
            sb_add(b, " |");
        }
        sb_add(b, "\n|");
        json_object_object_foreach(first, k2, v1)
        {
            (void)k2;
            (void)v1;
            sb_add(b, "---|");
        }
        sb_add(b, "\n");
        size_t n = json_object_array_length(data);
        for (size_t i = 0; i < n && i < 100; i++) {
            json_object *row = json_object_array_get_idx(data, i);
            sb_add(b, "|");
            json_object_object_foreach(first, k3, v2)
            {
                (void)v2;
                json_object *v = NULL;
                if (json_object_is_type(row, json_type_object))
                    json_object_object_get_ex(row, k3, &v);
                sb_add(b, " ");
                cell(b, v);
                sb_add(b, " |");
            }
            sb_add(b, "\n");
        }
        return;
    }
    if (json_object_is_type(data, json_type_object)) {
        sb_add(b, "| Field | Value |\n|---|---|\n");
        json_object_object_foreach(data, k, v)
        {
            sb_add(b, "| ");
            sb_add(b, k);
            sb_add(b, " | ");
            cell(b, v);
            sb_add(b, " |\n");
        }
        return;
    }
    sb_add(b, "| Value |\n|---|\n| ");
    cell(b, data);
    sb_add(b, " |\n");
}

char *format_output(const char *ft, const char *content, json_object *data)
{
    struct sbuf b = {0};
    if (!content)
        content = "";
    if (ft && strcmp(ft, "text") == 0)
        return plain_text(content);
    if (ft && strcmp(ft, "json") == 0) {
        json_object *o = json_object_new_object();
        if (!o)
            return NULL;
        json_object_object_add(o, "answer", json_object_new_string(content));
        json_object_object_add(o, "data", data ? json_object_get(data) : NULL);
        char *r = strdup(json_object_to_json_string_ext(o, JSON_C_TO_STRING_PLAIN));
        json_object_put(o);
        return r;
    }
    sb_add(&b, content);
    if (ft && strcmp(ft, "table") == 0 && data) {
        sb_add(&b, "\n\n");
        table_of(&b, data);
    }
    if (!b.s && !b.failed)
        sb_add(&b, "");
    return b.s;
}
