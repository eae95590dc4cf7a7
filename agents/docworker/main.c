/* agenthub-docworker — the batch document (OCR) stage. See docworker.h.
 *
 * One loop thread runs the consumer stage (common/stage.h: offsets, DLQ for malformed
 * messages, drain on SIGTERM); DOCWORKER_THREADS pool threads run OCR. At most
 * DOCWORKER_MAX_INFLIGHT documents are taken from Kafka at once, so a SIGTERM drain only has
 * to finish a few documents; whatever does not finish within STAGE_DRAIN_TIMEOUT_MS stays
 * uncommitted and is processed again by the next consumer.
 */
#include <leptonica/allheaders.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "config.h"
#include "docworker.h"
#include "httploop.h"
#include "kafka.h"
#include "log.h"
#include "ocr.h"

static struct config_common g_common;
static char *g_group;
static long g_threads = 0;
static long g_max_inflight = 0;
static long g_drain_ms = 30000;
static long g_pg_pool = 0;
static long g_missing_ms = 5000;
static int g_keep_content = 0;
static long g_max_pixels = OCR_DEFAULT_MAX_PIXELS;
static long g_max_pages = OCR_DEFAULT_MAX_PAGES;
static long g_max_decoded = OCR_DEFAULT_MAX_DECODED_BYTES;
static long g_max_attempts = 3;
static long g_render_dpi = 300;
static long g_max_seconds = 300;
static long g_min_page_chars = 16;
static char *g_metrics_listen; /* METRICS_LISTEN: /metrics and /health (the dashboard reads it) */
static char *g_metrics_token;

static const struct config_entry g_config[] = {
    CONFIG_COMMON_ENTRIES(&g_common),
    {"DOCWORKER_GROUP_ID", CONFIG_STRING, "agenthub-docworker", 0, 0, 0, "Kafka consumer group",
     &g_group},
    {"DOCWORKER_THREADS", CONFIG_INT, "0", 0, 256, 0, "OCR worker threads (0: one per core)",
     &g_threads},
    {"DOCWORKER_MAX_INFLIGHT", CONFIG_INT, "0", 0, 100000, 0,
     "documents taken from Kafka and not yet finished (0: 2 x threads)", &g_max_inflight},
    {"DOCWORKER_MISSING_WAIT_MS", CONFIG_INT, "5000", 0, 600000, 0,
     "how long a document row not yet visible (ingress commit in progress) is waited for",
     &g_missing_ms},
    {"DOCWORKER_KEEP_CONTENT", CONFIG_BOOL, "false", 0, 0, 0,
     "keep the uploaded bytes in documents.content after processing", &g_keep_content},
    {"DOCWORKER_MAX_PIXELS", CONFIG_INT, "40000000", 1, OCR_CEIL_MAX_PIXELS, 0,
     "pixels per image page, read from the header before decoding; more: error "
     "image_too_large",
     &g_max_pixels},
    {"DOCWORKER_MAX_PAGES", CONFIG_INT, "50", 1, OCR_CEIL_MAX_PAGES, 0,
     "pages per document: a PDF's (more: error too_many_pages, nothing read), a TIFF's or "
     "frames of a GIF (from the header; more: error image_too_many_pages)",
     &g_max_pages},
    {"DOCWORKER_MAX_DECODED_BYTES", CONFIG_INT, "1073741824", 1048576, OCR_CEIL_MAX_DECODED_BYTES,
     0,
     "decoded bytes of all pages of a document (estimated from the header); more: error "
     "image_too_large",
     &g_max_decoded},
    {"DOCWORKER_MAX_ATTEMPTS", CONFIG_INT, "3", 1, 100, 0,
     "deliveries that may start decoding a document; a document that stopped the worker this "
     "often ends as error document_crashed_worker",
     &g_max_attempts},
    {"DOCWORKER_RENDER_DPI", CONFIG_INT, "300", 72, 600, 0,
     "resolution at which a PDF page without a text layer is rendered for OCR (its pixels count "
     "against DOCWORKER_MAX_PIXELS)",
     &g_render_dpi},
    {"DOCWORKER_MAX_SECONDS", CONFIG_INT, "300", 1, 86400, 0,
     "time to read one document (all its pages); longer: error timeout, the batch goes on",
     &g_max_seconds},
    {"DOCWORKER_MIN_PAGE_CHARS", CONFIG_INT, "16", 0, 100000, 0,
     "a PDF page whose text layer has fewer non-blank characters is rendered and OCRed",
     &g_min_page_chars},
    {"STAGE_DRAIN_TIMEOUT_MS", CONFIG_INT, "30000", 0, 600000, 0,
     "on SIGTERM, how long in-flight documents may take to finish", &g_drain_ms},
    {"PG_POOL_SIZE", CONFIG_INT, "0", 0, 256, 0, "PostgreSQL connections (0: threads + 2)",
     &g_pg_pool},
    {"METRICS_LISTEN", CONFIG_STRING, "", 0, 0, 0,
     "host:port serving GET /metrics (Prometheus) and /health; empty: none", &g_metrics_listen},
    {"METRICS_TOKEN", CONFIG_STRING, "", 0, 0, CONFIG_SECRET,
     "bearer token GET /metrics requires (constant-time compare); empty: open", &g_metrics_token},
};
#define NCONFIG (sizeof(g_config) / sizeof(g_config[0]))

static struct doc_pool *g_pool;

static void job_start(void *opaque, struct stage_job *job)
{
    struct docworker_svc *svc = opaque;
    if (doc_pool_submit(g_pool, job) == 0)
        return;
    /* Out of memory for a queue item: do it here rather than lose track of it. */
    int counted = 0;
    if (doc_process(svc, stage_job_envelope(job), &counted) == DOC_FINISHED)
        stage_job_done(job);
}

static int job_validate(void *opaque, const struct envelope *env, char *err, size_t errlen)
{
    (void)opaque;
    return doc_request_validate(env, err, errlen);
}

int main(int argc, char **argv)
{
    int rc = 1;
    char err[512] = "";
    struct docworker_svc svc;
    struct httploop *loop = NULL;
    memset(&svc, 0, sizeof svc);

    /* Tesseract (Debian's build) runs OpenMP threads inside each recognition; the docworker
     * already reads one page per core, and OpenMP's spinning workers on top of that cost about
     * half the CPU per scanned page (make bench, docs section). libgomp reads
     * OMP_THREAD_LIMIT once, when it is loaded: so, unless the operator chose a value, set it
     * to 1 and start again with it in the environment (same pid; on failure carry on). */
    const char *omp = getenv("OMP_THREAD_LIMIT");
    if ((!omp || !*omp) && setenv("OMP_THREAD_LIMIT", "1", 1) == 0)
        execv("/proc/self/exe", argv);
    config_main(argc, argv, "agenthub-docworker", g_config, NCONFIG);
    enum log_level lvl = LOG_INFO;
    log_level_parse(g_common.log_level, &lvl);
    log_init("docworker", lvl);
    signal(SIGPIPE, SIG_IGN);
    setMsgSeverity(L_SEVERITY_NONE); /* leptonica would write to stderr, not JSON lines */

    if (g_threads <= 0) {
        long n = sysconf(_SC_NPROCESSORS_ONLN);
        g_threads = n > 0 ? n : 1;
    }
    if (g_max_inflight <= 0)
        g_max_inflight = 2 * g_threads;
    if (g_pg_pool <= 0)
        g_pg_pool = g_threads + 2;
    svc.missing_wait_ms = g_missing_ms;
    svc.keep_content = g_keep_content;
    svc.limits.max_pixels = g_max_pixels;
    svc.limits.max_pages = g_max_pages;
    svc.limits.max_decoded_bytes = g_max_decoded;
    svc.max_attempts = g_max_attempts;
    svc.page_limits.max_pages = g_max_pages;
    svc.page_limits.max_pixels = g_max_pixels;
    svc.page_limits.dpi = g_render_dpi;
    svc.page_limits.min_chars = g_min_page_chars;
    svc.max_seconds = (double)g_max_seconds;
    svc.cpu_spare = (int)g_threads;
    doc_extract_init();

    if (pipeline_open(&svc.pl, &g_common, (int)g_pg_pool, 0) != 0)
        goto out;
    const char *ensure[] = {KAFKA_TOPIC_DOCUMENTS, KAFKA_TOPIC_DLQ, KAFKA_TOPIC_CHAT_EVENTS};
    for (size_t i = 0; i < sizeof ensure / sizeof ensure[0]; i++)
        if (kafka_topic_ensure(svc.pl.producer, ensure[i], 0, 5000, err, sizeof err) != 0)
            log_kv(LOG_WARN, NULL, "topic ensure failed", "topic", ensure[i], "error", err,
                   (char *)NULL);
    if (httploop_new(&loop) != 0) {
        log_kv(LOG_ERROR, NULL, "httploop failed", (char *)NULL);
        goto out;
    }
    const char *topics[] = {KAFKA_TOPIC_DOCUMENTS};
    struct stage_opts so = {
        .name = "docworker",
        .brokers = g_common.kafka_brokers,
        .group_id = g_group,
        .topics = topics,
        .ntopics = 1,
        .producer = svc.pl.producer,
        .loop = loop,
        .max_inflight = g_max_inflight,
        .drain_timeout_ms = g_drain_ms,
        .metrics_listen = g_metrics_listen,
        .metrics_token = g_metrics_token,
        .handlers = {.start = job_start, .validate = job_validate, .opaque = &svc},
    };
    if (stage_new(&svc.stage, &so, err, sizeof err) != 0) {
        log_kv(LOG_ERROR, NULL, "consumer failed", "error", err, (char *)NULL);
        goto out;
    }
    if (doc_pool_new(&g_pool, &svc, (int)g_threads) != 0) {
        log_kv(LOG_ERROR, NULL, "worker threads could not start", (char *)NULL);
        goto out;
    }
    char nt[24], ni[24];
    snprintf(nt, sizeof nt, "%ld", g_threads);
    snprintf(ni, sizeof ni, "%ld", g_max_inflight);
    log_kv(LOG_INFO, NULL, "docworker started", "threads", nt, "max_inflight", ni, "ocr_lang",
           ocr_default_lang(), (char *)NULL);
    rc = stage_run_until_signal(svc.stage) == 0 ? 0 : 1;
out:
    /* Workers first (they post to the stage), then the stage (commits are done), then the
     * connections the workers used. */
    svc.stopping = 1;
    doc_pool_free(g_pool);
    g_pool = NULL;
    stage_free(svc.stage);
    httploop_free(loop);
    pipeline_close(&svc.pl);
    config_free(g_config, NCONFIG);
    log_kv(LOG_INFO, NULL, "docworker stopped", (char *)NULL);
    return rc;
}
