/* pool.c — the OCR worker threads. OCR is CPU-bound and blocking, so it runs here and not on
 * the stage's loop thread; a finished job is handed back to the loop with stage_post(), where
 * stage_job_done() (loop-thread only) lets its offset be committed. */
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#include "docworker.h"
#include "log.h"
#include "metrics.h"

struct doc_item {
    struct stage_job *job;
    struct doc_item *next;
};

struct doc_pool {
    struct docworker_svc *svc;
    pthread_mutex_t mu;
    pthread_cond_t cv;
    struct doc_item *head, *tail;
    int quit;
    int nthreads;
    pthread_t *threads;
    struct metric *m_queued;
};

static void pool_job_done(void *arg)
{
    stage_job_done(arg);
}

/* Retries a job whose dependency is down, with backoff, until it finishes or the process
 * stops (then it stays uncommitted and is redelivered). */
static int pool_run_job(struct doc_pool *p, struct stage_job *job)
{
    long backoff_ms = 500;
    int counted = 0; /* this delivery's attempt is on record (docworker.h) */
    for (;;) {
        if (doc_process(p->svc, stage_job_envelope(job), &counted) == DOC_FINISHED)
            return 1;
        if (p->svc->stopping || stage_stopping(p->svc->stage))
            return 0;
        char ms[24];
        snprintf(ms, sizeof ms, "%ld", backoff_ms);
        log_kv(LOG_WARN, NULL, "dependency unavailable; retrying document", "retry_ms", ms,
               (char *)NULL);
        for (long waited = 0; waited < backoff_ms; waited += 100) {
            if (p->svc->stopping || stage_stopping(p->svc->stage))
                return 0;
            usleep(100 * 1000);
        }
        if (backoff_ms < 10000)
            backoff_ms *= 2;
    }
}

static void *pool_main(void *arg)
{
    struct doc_pool *p = arg;
    for (;;) {
        pthread_mutex_lock(&p->mu);
        while (!p->head && !p->quit)
            pthread_cond_wait(&p->cv, &p->mu);
        if (p->quit) {
            pthread_mutex_unlock(&p->mu);
            break;
        }
        struct doc_item *it = p->head;
        p->head = it->next;
        if (!p->head)
            p->tail = NULL;
        metrics_inc(p->m_queued, -1);
        pthread_mutex_unlock(&p->mu);

        struct stage_job *job = it->job;
        free(it);
        /* This thread is busy: a document's extra page threads cannot borrow it. */
        __atomic_sub_fetch(&p->svc->cpu_spare, 1, __ATOMIC_ACQ_REL);
        int finished = pool_run_job(p, job);
        __atomic_add_fetch(&p->svc->cpu_spare, 1, __ATOMIC_ACQ_REL);
        if (finished && stage_post(p->svc->stage, pool_job_done, job) != 0)
            log_kv(LOG_ERROR, NULL, "cannot hand a finished job back (out of memory)",
                   (char *)NULL);
    }
    return NULL;
}

int doc_pool_new(struct doc_pool **out, struct docworker_svc *svc, int threads)
{
    int rc = -ENOMEM;
    struct doc_pool *p = calloc(1, sizeof *p);
    *out = NULL;
    if (!p)
        return -ENOMEM;
    p->svc = svc;
    pthread_mutex_init(&p->mu, NULL);
    pthread_cond_init(&p->cv, NULL);
    p->m_queued = metrics_gauge("docworker_queue_length", "documents waiting for a worker", "");
    p->threads = calloc((size_t)threads, sizeof(pthread_t));
    if (!p->threads)
        goto out;
    for (int i = 0; i < threads; i++) {
        if (pthread_create(&p->threads[i], NULL, pool_main, p) != 0) {
            rc = -EAGAIN;
            goto out;
        }
        p->nthreads++;
    }
    *out = p;
    p = NULL;
    rc = 0;
out:
    doc_pool_free(p);
    return rc;
}

int doc_pool_submit(struct doc_pool *p, struct stage_job *job)
{
    struct doc_item *it = calloc(1, sizeof *it);
    if (!it)
        return -ENOMEM;
    it->job = job;
    pthread_mutex_lock(&p->mu);
    if (p->tail)
        p->tail->next = it;
    else
        p->head = it;
    p->tail = it;
    metrics_inc(p->m_queued, 1);
    pthread_cond_signal(&p->cv);
    pthread_mutex_unlock(&p->mu);
    return 0;
}

void doc_pool_free(struct doc_pool *p)
{
    if (!p)
        return;
    pthread_mutex_lock(&p->mu);
    p->quit = 1;
    pthread_cond_broadcast(&p->cv);
    pthread_mutex_unlock(&p->mu);
    for (int i = 0; i < p->nthreads; i++)
        pthread_join(p->threads[i], NULL);
    /* Jobs never started: left uncommitted, the stage frees their records. */
    while (p->head) {
        struct doc_item *n = p->head->next;
        free(p->head);
        p->head = n;
    }
    pthread_cond_destroy(&p->cv);
    pthread_mutex_destroy(&p->mu);
    free(p->threads);
    free(p);
}
