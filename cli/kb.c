/* kb.c — `agenthubctl kb`: a tenant's knowledge base in ChromaDB (tools/knowledge.h).
 *
 *   agenthubctl kb add --tenant T [--source NAME] [--local] FILE...
 *   agenthubctl kb search --tenant T [--top-k N] [--local] QUERY
 *
 * add chunks each file (UTF-8 text / markdown), embeds the chunks and upserts them into
 * "agenthub_<T>" with ids "<source>#<n>"; the source is the file's base name unless --source
 * is given (one file only). Adding a file again replaces its chunks.
 * search prints the nearest chunks as JSON (as the RAG tool sees them, without threshold).
 *
 * With DATABASE_URL, add also records each document in knowledge_documents, as the admin API
 * does, so GET /api/admin/knowledge lists it and DELETE removes it.
 *
 * Environment: CHROMA_URL (default http://127.0.0.1:15480). Embeddings use the tenant's
 * LLM config when DATABASE_URL is set and the tenant has an embedding model configured
 * (FERNET_KEY decrypts its API key), so documents and RAG queries share one embedder;
 * otherwise, or with --local, the local embedder.
 */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <libgen.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "chroma.h"
#include "commands.h"
#include "knowledge.h"
#include "llm.h"
#include "pgpool.h"
#include "usage.h"

static int kb_run(int argc, char **argv);
CLI_COMMAND(kb,
            "kb add --tenant T [--source NAME] [--local] FILE... | "
            "kb search --tenant T [--top-k N] [--local] QUERY",
            "Add documents to / search a tenant's knowledge base (ChromaDB)", kb_run);

/* The tenant's LLM config, when it has a provider embedding model. 1 = loaded into cfg,
 * 0 = use the local embedder, -1 = error (printed). */
static int load_embedder(const char *tenant, struct llm_config *cfg)
{
    const char *dsn = getenv("DATABASE_URL");
    struct pgpool *db = NULL;
    struct llm_error lerr;
    char err[256];
    int rc = 0;
    if (!dsn || !*dsn)
        return 0;
    if (pgpool_open(&db, dsn, 1, err, sizeof err) != 0) {
        fprintf(stderr, "agenthubctl kb: database: %s\n", err);
        return -1;
    }
    memset(&lerr, 0, sizeof lerr);
    const char *fk = getenv("FERNET_KEY");
    int l = llm_config_load(db, NULL, fk ? fk : "", tenant, cfg, &lerr);
    if (l == LLM_OK) {
        if (cfg->embedding_provider_model && *cfg->embedding_provider_model &&
            cfg->provider != LLM_PROVIDER_LOCAL) {
            rc = 1;
        } else {
            llm_config_cleanup(cfg);
            rc = 0;
        }
    } else if (l == LLM_ERR_CONFIG) {
        rc = 0; /* no config for this tenant: local embedder */
    } else {
        fprintf(stderr, "agenthubctl kb: tenant LLM config: %s (--local: local embedder)\n",
                lerr.message);
        rc = -1;
    }
    pgpool_close(db);
    return rc;
}

static const char *chroma_url(void)
{
    const char *u = getenv("CHROMA_URL");
    return u && *u ? u : "http://127.0.0.1:15480";
}

static int kb_add(const char *tenant, const char *source, const struct llm_config *cfg,
                  char **files, int nfiles)
{
    struct chroma *c = NULL;
    struct pgpool *db = NULL;
    char err[512];
    int failed = 0;
    /* Recorded in knowledge_documents too (with DATABASE_URL), so the admin API lists and
     * removes what was added here. */
    const char *dsn = getenv("DATABASE_URL");
    if (dsn && *dsn && pgpool_open(&db, dsn, 1, err, sizeof err) != 0)
        return cli_fail("kb", "database: %s", err);
    if (db && cli_tenant_check("kb", db, tenant) != 0) {
        pgpool_close(db);
        return CLI_EXIT_FAIL;
    }
    if (chroma_open(&c, chroma_url(), err, sizeof err) != 0) {
        pgpool_close(db);
        return cli_fail("kb", "%s", err);
    }
    for (int i = 0; i < nfiles; i++) {
        int fd = open(files[i], O_RDONLY | O_CLOEXEC);
        char *text = NULL;
        size_t len = 0;
        if (fd < 0 || cli_read_all(fd, (size_t)KNOWLEDGE_MAX_DOC_BYTES, &text, &len) != 0) {
            fprintf(stderr, "agenthubctl kb: %s: %s\n", files[i], strerror(errno));
            if (fd >= 0)
                close(fd);
            failed++;
            continue;
        }
        close(fd);
        char *pathcopy = strdup(files[i]);
        const char *src = source ? source : basename(pathcopy);
        size_t n = 0;
        if (knowledge_add_document(c, tenant, cfg, src, text, len, &n, err, sizeof err) != 0) {
            fprintf(stderr, "agenthubctl kb: %s: %s\n", files[i], err);
            failed++;
        } else if (db && knowledge_record_document(db, tenant, src, NULL, n, text, len, err,
                                                   sizeof err) != PG_OK) {
            fprintf(stderr, "agenthubctl kb: %s: added, but not recorded: %s\n", files[i], err);
            failed++;
        } else {
            printf("%s: %zu chunks\n", src, n);
        }
        free(pathcopy);
        free(text);
    }
    chroma_close(c);
    pgpool_close(db);
    return failed ? CLI_EXIT_FAIL : CLI_EXIT_OK;
}

static int kb_search(const char *tenant, const struct llm_config *cfg, const char *query,
                     long top_k)
{
    struct chroma *c = NULL;
    struct chroma_hit *hits = NULL;
    size_t nhits = 0;
    char err[512], coll[128], id[CHROMA_ID_MAX];
    float *vec = NULL;
    int dim = 0, rc = CLI_EXIT_FAIL;
    if (knowledge_collection_name(tenant, coll, sizeof coll) < 0)
        return cli_usage_error("kb", "invalid tenant id");
    if (chroma_open(&c, chroma_url(), err, sizeof err) != 0)
        return cli_fail("kb", "%s", err);
    json_object *out = json_object_new_object(), *arr = json_object_new_array();
    json_object_object_add(out, "results", arr);
    int g = chroma_collection_get(c, coll, id, err, sizeof err);
    if (g == -ENOENT) {
        rc = CLI_EXIT_OK;
        goto print;
    }
    if (g < 0) {
        cli_fail("kb", "%s", err);
        goto out;
    }
    if (knowledge_embed(cfg, &query, 1, &vec, &dim, err, sizeof err) != 0 ||
        chroma_query(c, id, vec, dim, (int)top_k, &hits, &nhits, err, sizeof err) != 0) {
        cli_fail("kb", "%s", err);
        goto out;
    }
    for (size_t i = 0; i < nhits; i++) {
        json_object *r = json_object_new_object(), *v;
        json_object_object_add(r, "id", json_object_new_string(hits[i].id));
        json_object_object_add(r, "text", json_object_new_string(hits[i].document));
        if (hits[i].metadata && json_object_object_get_ex(hits[i].metadata, "source", &v))
            json_object_object_add(r, "source", json_object_get(v));
        if (hits[i].metadata && json_object_object_get_ex(hits[i].metadata, "chunk", &v))
            json_object_object_add(r, "chunk", json_object_get(v));
        json_object_object_add(r, "score", json_object_new_double(1.0 - hits[i].distance));
        json_object_array_add(arr, r);
    }
    rc = CLI_EXIT_OK;
print:
    printf("%s\n", json_object_to_json_string_ext(out, JSON_C_TO_STRING_PRETTY |
                                                           JSON_C_TO_STRING_NOSLASHESCAPE));
out:
    json_object_put(out);
    chroma_hits_free(hits, nhits);
    free(vec);
    chroma_close(c);
    return rc;
}

static const char kb_details[] =
    "  --tenant T       the tenant whose knowledge base (ChromaDB collection agenthub_<T>)\n"
    "  --source NAME    add: the name the chunks are cited by (default: the file's base name;\n"
    "                   one file only); adding a source again replaces its chunks\n"
    "  --top-k N        search: how many chunks, 1..50 (default: 4)\n"
    "  --local          embed with the local embedder, not the tenant's configured model (the\n"
    "                   RAG tool must use the same one)\n"
    "Environment: CHROMA_URL; with DATABASE_URL, add records each document for the admin API\n"
    "(GET/DELETE /api/admin/knowledge) and the tenant's embedding model is used (FERNET_KEY\n"
    "decrypts its key).\n";

static int kb_run(int argc, char **argv)
{
    static const struct option opts[] = {
        {"tenant", required_argument, NULL, 't'}, {"source", required_argument, NULL, 's'},
        {"top-k", required_argument, NULL, 'k'},  {"local", no_argument, NULL, 'l'},
        {"help", no_argument, NULL, 'h'},         {NULL, 0, NULL, 0},
    };
    const char *tenant = NULL, *source = NULL;
    long top_k = 4;
    int local = 0, o;
    if (argc < 2)
        return cli_usage_error("kb", "add or search expected");
    const char *sub = argv[1];
    if (strcmp(sub, "-h") == 0 || strcmp(sub, "--help") == 0)
        return cli_help("kb", kb_details);
    if (strcmp(sub, "add") != 0 && strcmp(sub, "search") != 0)
        return cli_usage_error("kb", "unknown subcommand '%s'", sub);
    cli_getopt_reset();
    argc--;
    argv++;
    while ((o = getopt_long(argc, argv, "t:s:k:lh", opts, NULL)) != -1) {
        switch (o) {
        case 't':
            tenant = optarg;
            break;
        case 's':
            source = optarg;
            break;
        case 'k':
            if (cli_parse_long(optarg, 1, 50, &top_k) != 0)
                return cli_usage_error("kb", "--top-k must be 1..50");
            break;
        case 'l':
            local = 1;
            break;
        case 'h':
            return cli_help("kb", kb_details);
        default:
            return cli_usage_error("kb", "unknown option");
        }
    }
    char coll[128];
    if (!tenant || knowledge_collection_name(tenant, coll, sizeof coll) < 0)
        return cli_usage_error("kb", "--tenant with a valid tenant id is required");
    if (optind >= argc)
        return cli_usage_error("kb", strcmp(sub, "add") == 0 ? "no files given" : "no query");
    if (source && argc - optind > 1)
        return cli_usage_error("kb", "--source only with one file");

    struct llm_config cfg;
    memset(&cfg, 0, sizeof cfg);
    int have = local ? 0 : load_embedder(tenant, &cfg);
    if (have < 0)
        return CLI_EXIT_FAIL;
    int rc;
    /* Accounting of the provider's embedding calls (llm/usage.h), as in the ingress. */
    struct pgpool *udb = NULL;
    char uerr[256];
    if (have && pgpool_open(&udb, getenv("DATABASE_URL"), 1, uerr, sizeof uerr) == 0 &&
        usage_start(udb, NULL, uerr, sizeof uerr) != 0)
        fprintf(stderr, "agenthubctl kb: usage not recorded: %s\n", uerr);
    if (strcmp(sub, "add") == 0)
        rc = kb_add(tenant, source, have ? &cfg : NULL, argv + optind, argc - optind);
    else
        rc = kb_search(tenant, have ? &cfg : NULL, argv[optind], top_k);
    usage_stop();
    pgpool_close(udb);
    if (have)
        llm_config_cleanup(&cfg);
    return rc;
}
