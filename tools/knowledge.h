/* knowledge.h — a tenant's knowledge base: chunk, embed, upsert into ChromaDB.
 *
 * One ChromaDB collection per tenant, "agenthub_<tenant_id>" (cosine). A document is split
 * into chunks of about KNOWLEDGE_CHUNK_TARGET characters: paragraphs are kept whole when
 * they fit, longer ones are cut at sentence ends (. ! ? followed by a blank, or a line end),
 * a sentence longer than a chunk is cut at a blank (never inside a UTF-8 character); each
 * chunk after the first repeats the last sentences of the previous one, up to
 * KNOWLEDGE_CHUNK_OVERLAP characters, so a fact straddling a cut is found from both sides.
 * Records get ids "<source>#<n>" (n from 0) and metadata {"source", "chunk"}; adding a
 * source again first deletes its old chunks, so a shorter new version leaves no stale ones.
 *
 * Embeddings: with a tenant config whose embedding_provider_model is set (and provider not
 * local) llm_embed_sync() on a private loop; otherwise the local embedder
 * (llm_embed_local, LLM_LOCAL_EMBED_DIM). Ingestion and the RAG tool must use the same
 * embedder for a tenant: both call knowledge_embed() with the tenant's config.
 */
#ifndef AGENTHUB_KNOWLEDGE_H
#define AGENTHUB_KNOWLEDGE_H

#include <stddef.h>

#include "chroma.h"
#include "doc_context.h"
#include "llm.h"

#define KNOWLEDGE_CHUNK_TARGET 500
#define KNOWLEDGE_CHUNK_OVERLAP 100
#define KNOWLEDGE_MAX_DOC_BYTES (8L * 1024 * 1024)

/* Splits text (UTF-8, len bytes) into chunks (each malloc'd, trimmed, non-empty).
 * target/overlap 0 use the defaults. */
int knowledge_chunk(const char *text, size_t len, size_t target, size_t overlap, char ***chunks,
                    size_t *n);
void knowledge_chunks_free(char **chunks, size_t n);

/* "agenthub_<tenant_id>"; -1 when it does not fit or the tenant id is invalid. */
int knowledge_collection_name(const char *tenant_id, char *buf, size_t cap);
/* "agenthub_<tenant_id>.<suffix>": a named collection inside the tenant's namespace. The
 * suffix is [A-Za-z0-9_-]{1,64}, starting and ending with a letter or digit; tenant ids
 * cannot hold '.', so the mapping is one to one and never yields another tenant's name. -1
 * on an invalid tenant or suffix or when it does not fit. */
int knowledge_collection_name_sub(const char *tenant_id, const char *suffix, char *buf, size_t cap);

/* n texts -> *vecs (n * *dim floats, malloc'd). cfg may be NULL (local embedder). */
int knowledge_embed(const struct llm_config *cfg, const char *const *texts, size_t n, float **vecs,
                    int *dim, char *err, size_t errlen);

/* Chunks, embeds and upserts one document; *nchunks (may be NULL) gets the chunk count. */
int knowledge_add_document(struct chroma *c, const char *tenant_id, const struct llm_config *cfg,
                           const char *source, const char *text, size_t len, size_t *nchunks,
                           char *err, size_t errlen);

struct pgpool;
/* Records a document added with knowledge_add_document() in knowledge_documents (doc_id and
 * source: the source; title may be NULL; sha256 of the text), so that the admin API lists it
 * and can remove it, whichever way it came in (the admin API, agenthubctl kb add). Returns a
 * pgpool status (PG_OK, or an error with err set). */
int knowledge_record_document(struct pgpool *db, const char *tenant_id, const char *source,
                              const char *title, size_t nchunks, const char *text, size_t len,
                              char *err, size_t errlen);

/* ---- documents of the batch pipeline (issue 15 part 3) ----------------------------------- */

/* One chunk of a paged document: its page and its index in the document (from 0). */
struct knowledge_chunk {
    int page;
    size_t index;
    char *text; /* malloc'd */
};

/* Chunks each page on its own (knowledge_chunk, default sizes), so a chunk never spans two
 * pages and cites exactly one; empty pages give none. *out malloc'd (n entries). */
int knowledge_chunk_pages(const struct doc_page *pages, size_t npages, struct knowledge_chunk **out,
                          size_t *n);
void knowledge_page_chunks_free(struct knowledge_chunk *c, size_t n);
/* The record id of a document's chunk: "<document_id>:p<page>:c<index>". Deterministic, so a
 * re-ingestion writes the same ids. -1 when it does not fit. */
int knowledge_chunk_id(const char *document_id, int page, size_t index, char *buf, size_t cap);

/* Ingests one document of the batch pipeline into the tenant's collection: its earlier chunks
 * are deleted first (where {"document_id"}), so re-ingesting replaces them and a shorter new
 * text leaves no stale ones; then every page's chunks are embedded and upserted with ids
 * knowledge_chunk_id() and metadata {source: filename, document_id, filename, page, chunk}.
 * Text is made valid UTF-8 first (utf8.h). *nchunks (may be NULL) gets the count. */
int knowledge_add_pages(struct chroma *c, const char *tenant_id, const struct llm_config *cfg,
                        const char *document_id, const char *filename, const struct doc_page *pages,
                        size_t npages, size_t *nchunks, char *err, size_t errlen);
/* Deletes a document's chunks (where {"document_id"}); a tenant without a collection has
 * none, which is not an error. */
int knowledge_delete_document(struct chroma *c, const char *tenant_id, const char *document_id,
                              char *err, size_t errlen);

#endif
