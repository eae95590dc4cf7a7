/* extract.c — see extract.h. */
#include "extract.h"

#include <cairo.h>
#include <errno.h>
#include <glib.h>
#include <poppler.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "ocr.h"
#include "utf8.h"

/* The longest side of a rendered page: cairo's image surfaces stop at 32767, Tesseract too. */
#define EXTRACT_MAX_SIDE 30000L

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* Poppler reports syntax errors of damaged files through GLib's log at INFO/DEBUG level and
 * GLib warnings for API misuse; none of it belongs on stderr (JSON lines only). */
static void quiet_log(const gchar *domain, GLogLevelFlags level, const gchar *msg, gpointer data)
{
    (void)domain, (void)level, (void)msg, (void)data;
}

void doc_extract_init(void)
{
    g_log_set_handler("Poppler", G_LOG_LEVEL_MASK | G_LOG_FLAG_FATAL | G_LOG_FLAG_RECURSION,
                      quiet_log, NULL);
    /* Poppler creates its global parameters and its cairo output device's FreeType library
     * with the first document (unguarded statics): do it here, on one thread, with a minimal
     * one-page document, rendered once. */
    static const char tiny[] = "%PDF-1.4\n1 0 obj<</Type/Catalog/Pages 2 0 R>>endobj\n"
                               "2 0 obj<</Type/Pages/Kids[3 0 R]/Count 1>>endobj\n"
                               "3 0 obj<</Type/Page/Parent 2 0 R/MediaBox[0 0 72 72]>>endobj\n"
                               "trailer<</Root 1 0 R>>\n%%EOF\n";
    GBytes *b = g_bytes_new_static(tiny, sizeof tiny - 1);
    PopplerDocument *d = poppler_document_new_from_bytes(b, NULL, NULL);
    PopplerPage *pg = d ? poppler_document_get_page(d, 0) : NULL;
    if (pg) {
        cairo_surface_t *s = cairo_image_surface_create(CAIRO_FORMAT_RGB24, 8, 8);
        cairo_t *cr = cairo_create(s);
        poppler_page_render_for_printing(pg, cr);
        cairo_destroy(cr);
        cairo_surface_destroy(s);
        g_object_unref(pg);
    }
    if (d)
        g_object_unref(d);
    g_bytes_unref(b);
}

/* A PDF ends with %%EOF (within its last 1024 bytes, as readers require); a file cut short
 * does not, and poppler would otherwise "reconstruct" whatever part survived. */
static int pdf_truncated(const unsigned char *d, size_t n)
{
    if (n < 5)
        return 1;
    size_t from = n > 1024 ? n - 1024 : 0;
    for (size_t i = n - 5 + 1; i-- > from;)
        if (memcmp(d + i, "%%EOF", 5) == 0)
            return 0;
    return 1;
}

struct extract {
    const struct doc_extract_opts *o;
    GBytes *bytes;       /* PDF: shared by the threads' documents */
    struct ocr_header h; /* image */
    double deadline;     /* 0: none */
    int npages;
    struct doc_page *pages;
    pthread_mutex_t mu;
    int next;    /* next page to hand out */
    int emitted; /* pages reported through page_done */
    int stop;    /* a document-level error happened */
    char fatal[DOC_PAGE_ERR_MAX];
};

/* Per thread. */
struct extract_worker {
    struct extract *x;
    PopplerDocument *doc;
    struct ocr_engine *ocr;
    char ocr_err[DOC_PAGE_ERR_MAX]; /* the engine could not start: every OCR page fails */
    int ocr_failed;
};

static void set_fatal(struct extract *x, const char *msg)
{
    pthread_mutex_lock(&x->mu);
    if (!x->stop) {
        x->stop = 1;
        snprintf(x->fatal, sizeof x->fatal, "%s", msg);
    }
    pthread_mutex_unlock(&x->mu);
}

static long remaining_ms(const struct extract *x)
{
    if (x->deadline <= 0)
        return 0;
    long ms = (long)((x->deadline - now_s()) * 1000);
    return ms < 1 ? 1 : ms;
}

static int worker_ocr(struct extract_worker *w, char *err, size_t errlen)
{
    if (w->ocr)
        return 0;
    if (!w->ocr_failed &&
        ocr_engine_new(&w->ocr, w->x->o->lang, w->ocr_err, sizeof w->ocr_err) == 0)
        return 0;
    w->ocr_failed = 1;
    snprintf(err, errlen, "%s", w->ocr_err);
    return -1;
}

/* Takes text (malloc'd by g or us) as the page's text: valid UTF-8, trailing blanks trimmed. */
static int page_set_text(struct doc_page *p, const char *t)
{
    size_t n = t ? strlen(t) : 0;
    while (n > 0 && (t[n - 1] == '\n' || t[n - 1] == ' ' || t[n - 1] == '\f' || t[n - 1] == '\r' ||
                     t[n - 1] == '\t'))
        n--;
    p->text = utf8_sanitize(t ? t : "", n, NULL, NULL);
    /* A form feed inside a page would shift every later page of the joined text. */
    if (p->text)
        for (char *c = p->text; *c; c++)
            if (*c == '\f')
                *c = '\n';
    return p->text ? 0 : -ENOMEM;
}

/* Renders page pg (already size-checked: w x h pixels) and recognises it. */
static int pdf_page_ocr(struct extract_worker *w, PopplerPage *pg, int wpx, int hpx,
                        struct doc_page *p)
{
    struct extract *x = w->x;
    cairo_surface_t *s = NULL;
    cairo_t *cr = NULL;
    unsigned char *grey = NULL;
    char *text = NULL;
    int rc = -1;

    p->method = DOC_PAGE_OCR;
    if (worker_ocr(w, p->error, sizeof p->error) != 0)
        goto out;
    s = cairo_image_surface_create(CAIRO_FORMAT_RGB24, wpx, hpx);
    if (cairo_surface_status(s) != CAIRO_STATUS_SUCCESS) {
        snprintf(p->error, sizeof p->error, "render: cannot allocate a %dx%d page", wpx, hpx);
        goto out;
    }
    cr = cairo_create(s);
    cairo_set_source_rgb(cr, 1, 1, 1);
    cairo_paint(cr);
    cairo_scale(cr, (double)x->o->lim.dpi / 72.0, (double)x->o->lim.dpi / 72.0);
    poppler_page_render_for_printing(pg, cr);
    cairo_surface_flush(s);
    if (cairo_status(cr) != CAIRO_STATUS_SUCCESS) {
        snprintf(p->error, sizeof p->error, "render: %s", cairo_status_to_string(cairo_status(cr)));
        goto out;
    }
    grey = malloc((size_t)wpx * (size_t)hpx);
    if (!grey) {
        snprintf(p->error, sizeof p->error, "render: out of memory");
        goto out;
    }
    const unsigned char *src = cairo_image_surface_get_data(s);
    int stride = cairo_image_surface_get_stride(s);
    for (int yy = 0; yy < hpx; yy++) {
        const uint32_t *row = (const uint32_t *)(const void *)(src + (size_t)yy * (size_t)stride);
        unsigned char *dst = grey + (size_t)yy * (size_t)wpx;
        for (int xx = 0; xx < wpx; xx++) {
            uint32_t v = row[xx];
            dst[xx] = (unsigned char)((((v >> 16) & 0xff) * 77 + ((v >> 8) & 0xff) * 151 +
                                       (v & 0xff) * 28) >>
                                      8);
        }
    }
    /* The colour surface is not needed while Tesseract works: free it first. */
    cairo_destroy(cr);
    cr = NULL;
    cairo_surface_destroy(s);
    s = NULL;
    int orc = ocr_engine_grey(w->ocr, grey, wpx, hpx, wpx, (int)x->o->lim.dpi, remaining_ms(x),
                              &text, &p->confidence, p->error, sizeof p->error);
    if (orc == -ETIMEDOUT) {
        set_fatal(x, DOC_ERR_TIMEOUT ": the document took longer than DOCWORKER_MAX_SECONDS");
        goto out;
    }
    if (orc != 0)
        goto out;
    if (page_set_text(p, text) != 0) {
        snprintf(p->error, sizeof p->error, DOC_ERR_OOM ": no memory left to read the page");
        goto out;
    }
    rc = 0;
out:
    free(text);
    free(grey);
    if (cr)
        cairo_destroy(cr);
    if (s)
        cairo_surface_destroy(s);
    return rc;
}

static void pdf_page(struct extract_worker *w, int i, struct doc_page *p)
{
    struct extract *x = w->x;
    PopplerPage *pg = poppler_document_get_page(w->doc, i);
    if (!pg) {
        snprintf(p->error, sizeof p->error, "page %d cannot be read", i + 1);
        return;
    }
    char *t = poppler_page_get_text(pg);
    if (!doc_page_needs_ocr(t, &x->o->lim)) {
        p->method = DOC_PAGE_TEXT;
        if (page_set_text(p, t) != 0)
            snprintf(p->error, sizeof p->error, DOC_ERR_OOM ": no memory left to read the page");
    } else {
        double wpt = 0, hpt = 0;
        int wpx, hpx;
        poppler_page_get_size(pg, &wpt, &hpt);
        /* Checked for every page before the first was read (doc_extract_pages); again here. */
        if (doc_page_render_size(wpt, hpt, i + 1, &x->o->lim, EXTRACT_MAX_SIDE, &wpx, &hpx,
                                 p->error, sizeof p->error) == 0)
            pdf_page_ocr(w, pg, wpx, hpx, p);
        else
            p->method = DOC_PAGE_OCR;
    }
    g_free(t);
    g_object_unref(pg);
}

static void image_page(struct extract_worker *w, int i, struct doc_page *p)
{
    struct extract *x = w->x;
    struct Pix *pix = NULL;
    char *text = NULL;
    p->method = DOC_PAGE_OCR;
    if (ocr_image_decode_page(&x->h, x->o->data, x->o->len, i, &x->o->img_limits, &pix, p->error,
                              sizeof p->error) != 0) {
        if (strncmp(p->error, OCR_ERR_TOO_LARGE, strlen(OCR_ERR_TOO_LARGE)) == 0)
            set_fatal(x, p->error);
        return;
    }
    if (worker_ocr(w, p->error, sizeof p->error) != 0)
        goto out;
    int orc = ocr_engine_pix(w->ocr, pix, remaining_ms(x), &text, &p->confidence, p->error,
                             sizeof p->error);
    if (orc == -ETIMEDOUT) {
        set_fatal(x, DOC_ERR_TIMEOUT ": the document took longer than DOCWORKER_MAX_SECONDS");
        goto out;
    }
    if (orc == 0 && page_set_text(p, text) != 0)
        snprintf(p->error, sizeof p->error, DOC_ERR_OOM ": no memory left to read the page");
out:
    free(text);
    ocr_pix_free(pix);
}

/* Opens the PDF for one thread. 0 or -1 with err "code: ...". */
static int pdf_open(GBytes *b, PopplerDocument **out, char *err, size_t errlen)
{
    GError *ge = NULL;
    *out = poppler_document_new_from_bytes(b, NULL, &ge);
    if (*out)
        return 0;
    if (ge && ge->domain == POPPLER_ERROR && ge->code == POPPLER_ERROR_ENCRYPTED)
        snprintf(err, errlen,
                 DOC_ERR_PDF_ENCRYPTED ": the PDF is password-protected; upload it without a "
                                       "password");
    else
        snprintf(err, errlen, DOC_ERR_PDF_DAMAGED ": the PDF cannot be read (%s)",
                 ge && ge->message ? ge->message : "unknown error");
    if (ge)
        g_error_free(ge);
    return -1;
}

static void *worker_run(void *arg)
{
    struct extract_worker *w = arg;
    struct extract *x = w->x;
    char err[DOC_PAGE_ERR_MAX];
    if (x->o->is_pdf && !w->doc && pdf_open(x->bytes, &w->doc, err, sizeof err) != 0) {
        set_fatal(x, err);
        return NULL;
    }
    for (;;) {
        pthread_mutex_lock(&x->mu);
        if (x->stop || x->next >= x->npages) {
            pthread_mutex_unlock(&x->mu);
            break;
        }
        int i = x->next++;
        pthread_mutex_unlock(&x->mu);

        if (x->deadline > 0 && now_s() >= x->deadline) {
            set_fatal(x, DOC_ERR_TIMEOUT ": the document took longer than DOCWORKER_MAX_SECONDS");
            break;
        }
        struct doc_page *p = &x->pages[i];
        if (x->o->is_pdf)
            pdf_page(w, i, p);
        else
            image_page(w, i, p);
        if (!p->text && !p->error[0])
            snprintf(p->error, sizeof p->error, "page %d: no result", i + 1);

        /* Report, in page order, every page finished up to the first one still running. */
        pthread_mutex_lock(&x->mu);
        p->done = 1;
        while (!x->stop && x->emitted < x->npages && x->pages[x->emitted].done) {
            if (x->o->page_done)
                x->o->page_done(x->o->opaque, x->emitted + 1, x->npages, &x->pages[x->emitted]);
            x->emitted++;
        }
        pthread_mutex_unlock(&x->mu);
    }
    return NULL;
}

struct helper {
    struct extract_worker w;
    pthread_t tid;
    int started;
};

static void worker_cleanup(struct extract_worker *w)
{
    if (w->doc)
        g_object_unref(w->doc);
    ocr_engine_free(w->ocr);
    w->doc = NULL;
    w->ocr = NULL;
}

int doc_extract_pages(const struct doc_extract_opts *o, struct doc_page **pages, int *npages,
                      char *err, size_t errlen)
{
    struct extract x;
    struct extract_worker self;
    struct helper *helpers = NULL;
    int nhelpers = 0, rc = -1;

    memset(&x, 0, sizeof x);
    memset(&self, 0, sizeof self);
    pthread_mutex_init(&x.mu, NULL);
    x.o = o;
    self.x = &x;
    *pages = NULL;
    *npages = 0;
    if (o->max_seconds > 0)
        x.deadline = now_s() + o->max_seconds;

    if (o->is_pdf) {
        if (pdf_truncated(o->data, o->len)) {
            snprintf(err, errlen,
                     DOC_ERR_PDF_TRUNCATED ": the PDF is incomplete (no %%%%EOF at its end); "
                                           "upload the whole file");
            goto out;
        }
        x.bytes = g_bytes_new_static(o->data, o->len);
        if (pdf_open(x.bytes, &self.doc, err, errlen) != 0)
            goto out;
        x.npages = poppler_document_get_n_pages(self.doc);
        if (x.npages < 1) {
            snprintf(err, errlen, DOC_ERR_PDF_NO_PAGES ": the PDF has no pages");
            goto out;
        }
        if (doc_pages_check_count(x.npages, &o->lim, err, errlen) != 0)
            goto out;
        /* Every page's size before any page is read: a document over the limit is refused
         * whole, not after minutes of work. */
        for (int i = 0; i < x.npages; i++) {
            PopplerPage *pg = poppler_document_get_page(self.doc, i);
            double wpt = 0, hpt = 0;
            int wpx, hpx;
            if (!pg) {
                snprintf(err, errlen, DOC_ERR_PDF_DAMAGED ": page %d cannot be read", i + 1);
                goto out;
            }
            poppler_page_get_size(pg, &wpt, &hpt);
            g_object_unref(pg);
            if (doc_page_render_size(wpt, hpt, i + 1, &o->lim, EXTRACT_MAX_SIDE, &wpx, &hpx, err,
                                     errlen) != 0)
                goto out;
        }
    } else {
        /* The header decides (sizes, pages), before any decoder allocates pixels. */
        if (ocr_image_open(o->data, o->len, &o->img_limits, "DOCWORKER_", &x.h, err, errlen) != 0)
            goto out;
        x.npages = x.h.format == OCR_FMT_TIFF ? (int)x.h.pages : 1;
    }
    x.pages = calloc((size_t)x.npages, sizeof *x.pages);
    if (!x.pages) {
        snprintf(err, errlen, DOC_ERR_OOM ": no memory left to read the document");
        goto out;
    }
    if (o->started)
        o->started(o->opaque, x.npages);

    int want = x.npages - 1;
    if (want > 0 && o->borrow && o->give_back)
        nhelpers = o->borrow(o->opaque, want);
    if (nhelpers > 0) {
        helpers = calloc((size_t)nhelpers, sizeof *helpers);
        if (!helpers) {
            o->give_back(o->opaque, nhelpers);
            nhelpers = 0;
        }
    }
    for (int i = 0; i < nhelpers; i++) {
        helpers[i].w.x = &x;
        if (pthread_create(&helpers[i].tid, NULL, worker_run, &helpers[i].w) == 0)
            helpers[i].started = 1;
        else
            o->give_back(o->opaque, 1);
    }
    worker_run(&self);
    for (int i = 0; i < nhelpers; i++) {
        if (!helpers[i].started)
            continue;
        pthread_join(helpers[i].tid, NULL);
        worker_cleanup(&helpers[i].w);
        o->give_back(o->opaque, 1);
    }
    if (x.stop) {
        snprintf(err, errlen, "%s", x.fatal);
        goto out;
    }
    if (doc_pages_succeeded(x.pages, x.npages) == 0) {
        /* A single page's own error says it best ("image_unreadable: ..."). */
        if (x.npages == 1)
            snprintf(err, errlen, "%s", x.pages[0].error);
        else
            snprintf(err, errlen, DOC_ERR_NO_TEXT ": no page could be read (page 1: %s)",
                     x.pages[0].error);
        goto out;
    }
    rc = 0;
out:
    worker_cleanup(&self);
    free(helpers);
    if (x.bytes)
        g_bytes_unref(x.bytes);
    pthread_mutex_destroy(&x.mu);
    /* What was read is returned even on failure (document_pages keeps it). */
    if (x.pages) {
        int k = 0;
        for (int i = 0; i < x.npages; i++)
            if (x.pages[i].done)
                k = i + 1;
        *pages = x.pages;
        *npages = rc == 0 ? x.npages : k;
        if (rc != 0) {
            /* pages past k may be partially written but are not reported: free their text */
            for (int i = k; i < x.npages; i++) {
                free(x.pages[i].text);
                x.pages[i].text = NULL;
            }
        }
    }
    return rc;
}
