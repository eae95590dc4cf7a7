/* doc_context.h — a chat's attached documents as text for the model: bounded and cited.
 *
 * Each page is one labelled chunk, so the model (and whoever reads its answer) knows which
 * document and page a fact came from:
 *
 *   [document "invoice.pdf" id=<uuid> page 1]
 *   <the page's text>
 *
 * The document text given to the model is bounded (max_chars characters in all, the
 * AGENT_ATTACHMENT_MAX_CHARS setting): pages go in order, document after document; the page
 * that reaches the bound is cut at a character boundary and ends with "[...]" and the pages
 * after it are named in a closing note but not shown. Every page shown, whole or cut, is one
 * citation {document_id, filename, page}.
 *
 * Pages come from document_pages (one row per page, migration 0008) when the docworker wrote
 * them, else from documents.text split at form feeds ('\f', the pages' separator; a document
 * without one is page 1).
 */
#ifndef AGENTHUB_DOC_CONTEXT_H
#define AGENTHUB_DOC_CONTEXT_H

#include <json-c/json.h>
#include <stddef.h>

#define DOC_CONTEXT_DEFAULT_MAX_CHARS 12000

struct doc_page {
    int page;         /* 1-based */
    const char *text; /* borrowed, UTF-8 */
    size_t len;
};

struct doc_source {
    const char *document_id;
    const char *filename;
    const struct doc_page *pages;
    size_t npages;
};

/* Splits text at '\f' into at most max pages (numbered from 1; the last takes the rest).
 * Returns the number of pages (at least 1 for any text, 0 for NULL). */
size_t doc_split_pages(const char *text, size_t len, struct doc_page *pages, size_t max);

/* The labelled context (malloc'd, NUL-terminated) into *out, and one citation per page shown
 * appended to citations (a json array, borrowed; may be NULL). 0, or -1 when out of memory. */
int doc_context_build(const struct doc_source *docs, size_t ndocs, size_t max_chars, char **out,
                      json_object *citations);

/* The byte length of the longest prefix of s[0, len) holding at most max characters. */
size_t doc_prefix_chars(const char *s, size_t len, size_t max);

#endif
