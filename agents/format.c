/* format.c — see format.h. */
#include "format.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "strbuf.h"

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
    struct strbuf b = {0};
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
        strbuf_add(&b, p, 1);
        p++;
    }
    if (!b.p && !b.oom)
        strbuf_adds(&b, "");
    return b.p;
}

/* A cell: JSON scalars as text, nested values as compact JSON; '|' and newlines escaped. */
static void cell(struct strbuf *b, json_object *v)
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
            strbuf_adds(b, "\\|");
        else if (*t == '\n' || *t == '\r')
            strbuf_adds(b, " ");
        else
            strbuf_add(b, t, 1);
    }
}

static void table_of(struct strbuf *b, json_object *data)
{
    if (json_object_is_type(data, json_type_array) && json_object_array_length(data) > 0 &&
        json_object_is_type(json_object_array_get_idx(data, 0), json_type_object)) {
        /* Rows of objects: the first row's keys are the columns. */
        json_object *first = json_object_array_get_idx(data, 0);
        strbuf_adds(b, "|");
        json_object_object_foreach(first, k, v0)
        {
            (void)v0;
            strbuf_adds(b, " ");
            strbuf_adds(b, k);
            strbuf_adds(b, " |");
        }
        strbuf_adds(b, "\n|");
        json_object_object_foreach(first, k2, v1)
        {
            (void)k2;
            (void)v1;
            strbuf_adds(b, "---|");
        }
        strbuf_adds(b, "\n");
        size_t n = json_object_array_length(data);
        for (size_t i = 0; i < n && i < 100; i++) {
            json_object *row = json_object_array_get_idx(data, i);
            strbuf_adds(b, "|");
            json_object_object_foreach(first, k3, v2)
            {
                (void)v2;
                json_object *v = NULL;
                if (json_object_is_type(row, json_type_object))
                    json_object_object_get_ex(row, k3, &v);
                strbuf_adds(b, " ");
                cell(b, v);
                strbuf_adds(b, " |");
            }
            strbuf_adds(b, "\n");
        }
        return;
    }
    if (json_object_is_type(data, json_type_object)) {
        strbuf_adds(b, "| Field | Value |\n|---|---|\n");
        json_object_object_foreach(data, k, v)
        {
            strbuf_adds(b, "| ");
            strbuf_adds(b, k);
            strbuf_adds(b, " | ");
            cell(b, v);
            strbuf_adds(b, " |\n");
        }
        return;
    }
    strbuf_adds(b, "| Value |\n|---|\n| ");
    cell(b, data);
    strbuf_adds(b, " |\n");
}

char *format_output(const char *ft, const char *content, json_object *data)
{
    struct strbuf b = {0};
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
    strbuf_adds(&b, content);
    if (ft && strcmp(ft, "table") == 0 && data) {
        strbuf_adds(&b, "\n\n");
        table_of(&b, data);
    }
    if (!b.p && !b.oom)
        strbuf_adds(&b, "");
    return b.p;
}
