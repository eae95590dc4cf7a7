/* chroma.h — a small blocking client for ChromaDB's HTTP API (v2, Chroma >= 0.6 / 1.x).
 *
 * Everything lives in tenant "default_tenant", database "default_database" of the server;
 * AgentHub isolates its tenants by collection ("agenthub_<tenant_id>", knowledge.h).
 * Collections are created with cosine distance (metadata hnsw:space = cosine), so a
 * result's similarity is 1 - distance.
 *
 * Blocking libcurl easy calls with a timeout (CHROMA_TIMEOUT_MS): used by the knowledge
 * ingestion (CLI, docworker) and by the RAG tool, whose queries are small and go to a
 * server on the local network.
 */
#ifndef AGENTHUB_CHROMA_H
#define AGENTHUB_CHROMA_H

#include <json-c/json.h>
#include <stddef.h>

#define CHROMA_TIMEOUT_MS 15000L
#define CHROMA_ID_MAX 64

struct chroma;

/* base_url like "http://127.0.0.1:8000" (a trailing slash is fine). Connects lazily. */
int chroma_open(struct chroma **out, const char *base_url, char *err, size_t errlen);
void chroma_close(struct chroma *c); /* NULL-safe */

int chroma_heartbeat(struct chroma *c, char *err, size_t errlen);

/* The collection's id into id (CHROMA_ID_MAX). get: -ENOENT when it does not exist. */
int chroma_collection_get(struct chroma *c, const char *name, char *id, char *err, size_t errlen);
int chroma_collection_get_or_create(struct chroma *c, const char *name, char *id, char *err,
                                    size_t errlen);
int chroma_collection_delete(struct chroma *c, const char *name, char *err, size_t errlen);
/* Number of records, or negative. */
long chroma_count(struct chroma *c, const char *coll_id, char *err, size_t errlen);

/* Upserts n records: ids[i], vecs (n * dim, row-major), docs[i], metas[i] (objects,
 * borrowed; may be NULL). */
int chroma_upsert(struct chroma *c, const char *coll_id, size_t n, const char *const *ids,
                  const float *vecs, int dim, const char *const *docs, json_object *const *metas,
                  char *err, size_t errlen);
/* Deletes the records whose metadata matches where (e.g. {"source":"x.md"}); borrowed. */
int chroma_delete_where(struct chroma *c, const char *coll_id, json_object *where, char *err,
                        size_t errlen);

struct chroma_hit {
    char *id;
    char *document;
    json_object *metadata; /* owned; may be NULL */
    double distance;
};

/* Nearest n_results records to vec. *hits malloc'd, best first; free with
 * chroma_hits_free. */
int chroma_query(struct chroma *c, const char *coll_id, const float *vec, int dim, int n_results,
                 struct chroma_hit **hits, size_t *nhits, char *err, size_t errlen);
void chroma_hits_free(struct chroma_hit *hits, size_t n);

#endif
