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

#endif
