/* ocr.c — see ocr.h; also the OCR tool base type.
 *
 * OCR tool arguments: "image_url" (http/https, fetched through the SSRF guard) or
 * "image_base64" / "image" (base64, or a data: URL). Config: lang, max_image_bytes
 * (default 10 MiB, at most OCR_MAX_IMAGE_BYTES), allowed_hosts, timeout_ms, and the image size
 * limits checked from the header before decoding (ocr_header.h): max_pixels (per page, default
 * 40000000), max_pages (default 50), max_decoded_bytes (default 1 GiB).
 * Result: {"text": "...", "chars": N, "lang": "eng+vie"}.
 */
#include "ocr.h"
#include "utf8.h"

#include <errno.h>
#include <leptonica/allheaders.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <tesseract/capi.h>

#include "b64.h"
#include "tool_internal.h"

static const char *const DATA_DIRS[] = {
    "/usr/share/tesseract-ocr/5/tessdata",
    "/usr/share/tesseract-ocr/4.00/tessdata",
    "/usr/share/tessdata",
};

static int file_exists(const char *dir, const char *sub, const char *lang)
{
    char path[1024];
    struct stat st;
    snprintf(path, sizeof path, "%s%s/%s.traineddata", dir, sub, lang);
    return stat(path, &st) == 0 && S_ISREG(st.st_mode);
}

int ocr_lang_available(const char *lang)
{
    if (!lang || !*lang || strlen(lang) > 32 || strchr(lang, '/') || strchr(lang, '.'))
        return 0;
    const char *prefix = getenv("TESSDATA_PREFIX");
    if (prefix && *prefix)
        return file_exists(prefix, "", lang) || file_exists(prefix, "/tessdata", lang);
    for (size_t i = 0; i < sizeof DATA_DIRS / sizeof DATA_DIRS[0]; i++)
        if (file_exists(DATA_DIRS[i], "", lang))
            return 1;
    return 0;
}

const char *ocr_default_lang(void)
{
    return ocr_lang_available("vie") ? "eng+vie" : "eng";
}

/* Every "+"-separated language installed? */
static int langs_available(const char *lang)
{
    char buf[128], *save = NULL;
    if (!lang || strlen(lang) >= sizeof buf)
        return 0;
    snprintf(buf, sizeof buf, "%s", lang);
    int any = 0;
    for (char *t = strtok_r(buf, "+", &save); t; t = strtok_r(NULL, "+", &save)) {
        if (!ocr_lang_available(t))
            return 0;
        any = 1;
    }
    return any;
}

const char *ocr_lang_resolve(const char *lang)
{
    return lang && langs_available(lang) ? lang : ocr_default_lang();
}

/* libpng and libjpeg print to stderr on a truncated file (not through leptonica's message
 * control), so a cut PNG or JPEG is refused here before decoding. */
static int truncated(const unsigned char *d, size_t n)
{
    static const unsigned char png_sig[8] = {0x89, 'P', 'N', 'G', '\r', '\n', 0x1a, '\n'};
    static const unsigned char iend[8] = {'I', 'E', 'N', 'D', 0xae, 0x42, 0x60, 0x82};
    if (n >= 8 && memcmp(d, png_sig, 8) == 0)
        return n < 20 || memcmp(d + n - 8, iend, 8) != 0;
    if (n >= 3 && d[0] == 0xff && d[1] == 0xd8 && d[2] == 0xff) {
        /* the EOI marker, allowing a little padding after it */
        for (size_t i = n - 1; i > 2 && i + 64 > n; i--)
            if (d[i - 1] == 0xff && d[i] == 0xd9)
                return 0;
        return 1;
    }
    return 0;
}

static pthread_once_t quiet_once = PTHREAD_ONCE_INIT;
static void quiet_leptonica(void)
{
    setMsgSeverity(L_SEVERITY_NONE);
}

/* Decodes page `page` with the decoder of the format the header was read as. */
static PIX *decode_page(const struct ocr_header *h, const unsigned char *data, size_t len, int page)
{
    switch (h->format) {
    case OCR_FMT_PNG:
        return pixReadMemPng(data, len);
    case OCR_FMT_JPEG:
        return pixReadMemJpeg(data, len, 0, 1, NULL, 0);
    case OCR_FMT_TIFF:
        return pixReadMemTiff(data, len, page);
    case OCR_FMT_GIF:
        return pixReadMemGif(data, len);
    case OCR_FMT_BMP:
        return pixReadMemBmp(data, len);
    case OCR_FMT_PNM:
        return pixReadMemPnm(data, len);
    case OCR_FMT_WEBP:
        return pixReadMemWebP(data, len);
    default:
        return NULL;
    }
}

/* Appends page text t (trailing blanks trimmed) to *out, a form feed between pages. */
static int append_page(char **out, size_t *outlen, int page, const char *t)
{
    size_t n = strlen(t);
    while (n > 0 && (t[n - 1] == '\n' || t[n - 1] == ' ' || t[n - 1] == '\f' || t[n - 1] == '\r'))
        n--;
    char *grown = realloc(*out, *outlen + n + 2);
    if (!grown)
        return -ENOMEM;
    *out = grown;
    if (page > 0)
        grown[(*outlen)++] = '\f';
    memcpy(grown + *outlen, t, n);
    *outlen += n;
    grown[*outlen] = '\0';
    return 0;
}

int ocr_document(const unsigned char *data, size_t len, const char *lang,
                 const struct ocr_limits *lim, const char *setting_prefix, int all_pages,
                 char **text, int *pages, char *err, size_t errlen)
{
    TessBaseAPI *api = NULL;
    PIX *pix = NULL;
    char *t = NULL, *out = NULL;
    size_t outlen = 0;
    struct ocr_header h;
    struct ocr_limits def;
    int rc = -EINVAL, npages;
    *text = NULL;
    if (pages)
        *pages = 0;

    pthread_once(&quiet_once, quiet_leptonica);
    if (!lim) {
        ocr_limits_default(&def);
        lim = &def;
    }
    if (!data || len == 0) {
        snprintf(err, errlen, "image_empty: the image is empty");
        return -EINVAL;
    }
    if (len > (size_t)OCR_MAX_IMAGE_BYTES) {
        snprintf(err, errlen, "image_too_large: larger than %ld bytes", OCR_MAX_IMAGE_BYTES);
        return -E2BIG;
    }
    lang = ocr_lang_resolve(lang);
    if (truncated(data, len)) {
        snprintf(err, errlen, "image_truncated: the image is truncated");
        goto out;
    }
    /* The header decides, before any decoder allocates a byte for the pixels. */
    if ((rc = ocr_header_check(data, len, lim, setting_prefix, &h, err, errlen)) != 0)
        goto out;
    rc = -EINVAL;
    npages = all_pages && h.format == OCR_FMT_TIFF ? (int)h.pages : 1;
    for (int i = 0; i < npages; i++) {
        pix = decode_page(&h, data, len, i);
        if (!pix) {
            if (npages > 1)
                snprintf(err, errlen, "image_unreadable: page %d is not a readable image", i + 1);
            else
                snprintf(err, errlen,
                         "image_unreadable: not a readable image (PNG, JPEG, TIFF, BMP, GIF, PNM)");
            goto out;
        }
        /* The decoder read what the header claimed (a second look, in case they disagree). */
        if ((long long)pixGetWidth(pix) * pixGetHeight(pix) > lim->max_pixels ||
            pixGetWidth(pix) > OCR_MAX_SIDE || pixGetHeight(pix) > OCR_MAX_SIDE) {
            snprintf(err, errlen, "%s: the decoded image is %dx%d pixels", OCR_ERR_TOO_LARGE,
                     pixGetWidth(pix), pixGetHeight(pix));
            rc = -E2BIG;
            goto out;
        }
        if (!api) {
            api = TessBaseAPICreate();
            if (!api) {
                snprintf(err, errlen, "out_of_memory: no memory left for OCR");
                rc = -ENOMEM;
                goto out;
            }
            /* Tesseract writes warnings ("Estimating resolution ...") to stderr unless told. */
            TessBaseAPISetVariable(api, "debug_file", "/dev/null");
            if (TessBaseAPIInit3(api, NULL, lang) != 0) { /* NULL: TESSDATA_PREFIX or built-in */
                snprintf(err, errlen, "ocr_language_missing: cannot load language data for %s",
                         lang);
                rc = -EIO;
                goto out;
            }
            TessBaseAPISetVariable(api, "debug_file", "/dev/null");
        }
        TessBaseAPISetImage2(api, pix);
        if (pixGetXRes(pix) < 70)
            TessBaseAPISetSourceResolution(api, 300);
        t = TessBaseAPIGetUTF8Text(api);
        if (!t) {
            snprintf(err, errlen, "ocr_failed: recognition failed");
            rc = -EIO;
            goto out;
        }
        if (append_page(&out, &outlen, i, t) != 0) {
            snprintf(err, errlen, "out_of_memory: no memory left for OCR");
            rc = -ENOMEM;
            goto out;
        }
        TessDeleteText(t);
        t = NULL;
        pixDestroy(&pix);
    }
    /* Recognised text is stored and quoted to models: valid text only (utf8.h; the form
     * feeds between pages are kept). */
    *text = out ? utf8_sanitize(out, outlen, NULL, NULL) : NULL;
    if (out && !*text) {
        snprintf(err, errlen, "out_of_memory: no memory left for OCR");
        rc = -ENOMEM;
        goto out;
    }
    if (pages)
        *pages = npages;
    rc = 0;
out:
    free(out);
    if (t)
        TessDeleteText(t);
    if (api) {
        TessBaseAPIEnd(api);
        TessBaseAPIDelete(api);
    }
    if (pix)
        pixDestroy(&pix);
    return rc;
}

int ocr_image(const unsigned char *data, size_t len, const char *lang, char **text, char *err,
              size_t errlen)
{
    return ocr_document(data, len, lang, NULL, NULL, 0, text, NULL, err, errlen);
}

/* base64 or "data:...;base64,..." -> bytes. */
static int decode_b64_arg(const char *s, unsigned char **out, size_t *outlen, size_t max)
{
    const char *comma;
    if (strncmp(s, "data:", 5) == 0 && (comma = strchr(s, ',')))
        s = comma + 1;
    size_t n = strlen(s);
    /* tolerate line breaks and missing padding */
    char *clean = malloc(n + 4);
    if (!clean)
        return -ENOMEM;
    size_t k = 0;
    int urlsafe = 0;
    for (size_t i = 0; i < n; i++) {
        char c = s[i];
        if (c == '\n' || c == '\r' || c == ' ' || c == '\t')
            continue;
        if (c == '-' || c == '_')
            urlsafe = 1;
        clean[k++] = c;
    }
    while (k % 4)
        clean[k++] = '=';
    size_t cap = b64_decoded_max(k);
    if (cap > max + 3) {
        free(clean);
        return -E2BIG;
    }
    unsigned char *buf = malloc(cap ? cap : 1);
    if (!buf) {
        free(clean);
        return -ENOMEM;
    }
    if (b64_decode(clean, k, buf, cap, outlen, urlsafe ? B64_URLSAFE : B64_STD) != 0) {
        free(clean);
        free(buf);
        return -EINVAL;
    }
    free(clean);
    *out = buf;
    return 0;
}

int ocr_tool_run(const struct tool_ctx *ctx, const struct tool_def *tool, json_object *args,
                 json_object **result, char *err, size_t errlen)
{
    const char *name = tool->name ? tool->name : "?";
    unsigned char *img = NULL;
    size_t len = 0;
    char *text = NULL, e2[256];
    int rc = -EINVAL;
    json_object *v;
    size_t max = (size_t)tool_cfg_long(tool->config, "max_image_bytes", 10L * 1024 * 1024, 1,
                                       OCR_MAX_IMAGE_BYTES);
    *result = NULL;

    if (json_object_object_get_ex(args, "image_url", &v) &&
        json_object_is_type(v, json_type_string)) {
        const char *u = json_object_get_string(v);
        if (strncmp(u, "data:", 5) == 0) {
            rc = decode_b64_arg(u, &img, &len, max);
        } else if ((rc = tool_fetch_blocking(ctx, tool, u, max, &img, &len, err, errlen)) != 0) {
            return rc;
        }
    } else if ((json_object_object_get_ex(args, "image_base64", &v) ||
                json_object_object_get_ex(args, "image", &v)) &&
               json_object_is_type(v, json_type_string)) {
        rc = decode_b64_arg(json_object_get_string(v), &img, &len, max);
    } else {
        snprintf(err, errlen, "tool %s: an \"image_url\" or \"image_base64\" argument is required",
                 name);
        return -EINVAL;
    }
    if (rc != 0) {
        snprintf(err, errlen, "tool %s: %s", name,
                 rc == -E2BIG ? "image too large" : "image is not valid base64");
        goto out;
    }
    const char *lang = tool_cfg_str(tool->config, "lang");
    lang = ocr_lang_resolve(lang);
    /* The same header checks as the docworker's, with the tool's own limits. */
    struct ocr_limits lim;
    ocr_limits_default(&lim);
    lim.max_pixels =
        tool_cfg_long(tool->config, "max_pixels", lim.max_pixels, 1, OCR_CEIL_MAX_PIXELS);
    lim.max_pages = tool_cfg_long(tool->config, "max_pages", lim.max_pages, 1, OCR_CEIL_MAX_PAGES);
    lim.max_decoded_bytes = tool_cfg_long(tool->config, "max_decoded_bytes", lim.max_decoded_bytes,
                                          1, OCR_CEIL_MAX_DECODED_BYTES);
    if ((rc = ocr_document(img, len, lang, &lim, NULL, 0, &text, NULL, e2, sizeof e2)) != 0) {
        snprintf(err, errlen, "tool %s: %s", name, e2);
        goto out;
    }
    json_object *r = json_object_new_object();
    const char *t = text ? text : ""; /* set on success; the analyzer cannot tell */
    json_object_object_add(r, "text", json_object_new_string(t));
    json_object_object_add(r, "chars", json_object_new_int((int)strlen(t)));
    json_object_object_add(r, "lang", json_object_new_string(lang));
    *result = r;
    rc = 0;
out:
    free(img);
    free(text);
    return rc;
}

/* ---- page by page: see ocr.h ---------------------------------------------------------------- */

struct ocr_engine {
    TessBaseAPI *api;
    char lang[64];
};

int ocr_engine_new(struct ocr_engine **out, const char *lang, char *err, size_t errlen)
{
    struct ocr_engine *e = calloc(1, sizeof *e);
    *out = NULL;
    pthread_once(&quiet_once, quiet_leptonica);
    if (!e || !(e->api = TessBaseAPICreate())) {
        free(e);
        snprintf(err, errlen, "out_of_memory: no memory left for OCR");
        return -ENOMEM;
    }
    lang = ocr_lang_resolve(lang);
    snprintf(e->lang, sizeof e->lang, "%s", lang);
    TessBaseAPISetVariable(e->api, "debug_file", "/dev/null");
    if (TessBaseAPIInit3(e->api, NULL, e->lang) != 0) {
        snprintf(err, errlen, "ocr_language_missing: cannot load language data for %s", e->lang);
        ocr_engine_free(e);
        return -EIO;
    }
    TessBaseAPISetVariable(e->api, "debug_file", "/dev/null");
    *out = e;
    return 0;
}

void ocr_engine_free(struct ocr_engine *e)
{
    if (!e)
        return;
    if (e->api) {
        TessBaseAPIEnd(e->api);
        TessBaseAPIDelete(e->api);
    }
    free(e);
}

const char *ocr_engine_lang(const struct ocr_engine *e)
{
    return e->lang;
}

int ocr_image_open(const unsigned char *data, size_t len, const struct ocr_limits *lim,
                   const char *setting_prefix, struct ocr_header *h, char *err, size_t errlen)
{
    struct ocr_limits def;
    pthread_once(&quiet_once, quiet_leptonica);
    if (!lim) {
        ocr_limits_default(&def);
        lim = &def;
    }
    if (!data || len == 0) {
        snprintf(err, errlen, "image_empty: the image is empty");
        return -EINVAL;
    }
    if (len > (size_t)OCR_MAX_IMAGE_BYTES) {
        snprintf(err, errlen, "image_too_large: larger than %ld bytes", OCR_MAX_IMAGE_BYTES);
        return -E2BIG;
    }
    if (truncated(data, len)) {
        snprintf(err, errlen, "image_truncated: the image is truncated");
        return -EINVAL;
    }
    return ocr_header_check(data, len, lim, setting_prefix, h, err, errlen);
}

int ocr_image_decode_page(const struct ocr_header *h, const unsigned char *data, size_t len,
                          int page, const struct ocr_limits *lim, struct Pix **out, char *err,
                          size_t errlen)
{
    struct ocr_limits def;
    if (!lim) {
        ocr_limits_default(&def);
        lim = &def;
    }
    PIX *pix = decode_page(h, data, len, page);
    *out = NULL;
    if (!pix) {
        snprintf(err, errlen, "image_unreadable: page %d is not a readable image", page + 1);
        return -EINVAL;
    }
    if ((long long)pixGetWidth(pix) * pixGetHeight(pix) > lim->max_pixels ||
        pixGetWidth(pix) > OCR_MAX_SIDE || pixGetHeight(pix) > OCR_MAX_SIDE) {
        snprintf(err, errlen, "%s: the decoded image is %dx%d pixels", OCR_ERR_TOO_LARGE,
                 pixGetWidth(pix), pixGetHeight(pix));
        pixDestroy(&pix);
        return -E2BIG;
    }
    *out = pix;
    return 0;
}

void ocr_pix_free(struct Pix *pix)
{
    if (pix)
        pixDestroy(&pix);
}

/* Recognises the image already set on e->api. */
static int engine_recognize(struct ocr_engine *e, long timeout_ms, char **text, float *confidence,
                            char *err, size_t errlen)
{
    ETEXT_DESC *mon = NULL;
    char *t = NULL;
    size_t outlen = 0;
    char *out = NULL;
    int rc = -EIO;
    *text = NULL;
    *confidence = 0;
    if (timeout_ms > 0) {
        mon = TessMonitorCreate();
        if (!mon) {
            snprintf(err, errlen, "out_of_memory: no memory left for OCR");
            rc = -ENOMEM;
            goto out;
        }
        TessMonitorSetDeadlineMSecs(mon, timeout_ms > 2000000000L ? 2000000000 : (int)timeout_ms);
    }
    struct timespec t0, t1;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    if (TessBaseAPIRecognize(e->api, mon) != 0) {
        clock_gettime(CLOCK_MONOTONIC, &t1);
        long ms = (t1.tv_sec - t0.tv_sec) * 1000 + (t1.tv_nsec - t0.tv_nsec) / 1000000;
        if (timeout_ms > 0 && ms >= timeout_ms) {
            snprintf(err, errlen, "timeout: recognition stopped after %ld ms", ms);
            rc = -ETIMEDOUT;
        } else {
            snprintf(err, errlen, "ocr_failed: recognition failed");
        }
        goto out;
    }
    t = TessBaseAPIGetUTF8Text(e->api);
    if (!t) {
        snprintf(err, errlen, "ocr_failed: recognition failed");
        goto out;
    }
    int conf = TessBaseAPIMeanTextConf(e->api);
    *confidence = (float)(conf < 0 ? 0 : conf > 100 ? 100 : conf);
    if (append_page(&out, &outlen, 0, t) != 0 ||
        !(*text = utf8_sanitize(out ? out : "", outlen, NULL, NULL))) {
        snprintf(err, errlen, "out_of_memory: no memory left for OCR");
        rc = -ENOMEM;
        goto out;
    }
    rc = 0;
out:
    free(out);
    if (t)
        TessDeleteText(t);
    if (mon)
        TessMonitorDelete(mon);
    TessBaseAPIClear(e->api);
    return rc;
}

int ocr_engine_pix(struct ocr_engine *e, struct Pix *pix, long timeout_ms, char **text,
                   float *confidence, char *err, size_t errlen)
{
    TessBaseAPISetImage2(e->api, pix);
    if (pixGetXRes(pix) < 70)
        TessBaseAPISetSourceResolution(e->api, 300);
    return engine_recognize(e, timeout_ms, text, confidence, err, errlen);
}

int ocr_engine_grey(struct ocr_engine *e, const unsigned char *grey, int width, int height,
                    int stride, int dpi, long timeout_ms, char **text, float *confidence, char *err,
                    size_t errlen)
{
    TessBaseAPISetImage(e->api, grey, width, height, 1, stride);
    TessBaseAPISetSourceResolution(e->api, dpi > 0 ? dpi : 300);
    return engine_recognize(e, timeout_ms, text, confidence, err, errlen);
}
