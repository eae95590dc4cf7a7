/* test_ocr.c — OCR with libtesseract on images rendered here with leptonica's built-in
 * bitmap fonts (no font packages or image tools needed), and the OCR tool base type
 * (base64, data: URL, image URL through the SSRF guard from an in-process civetweb server).
 */
#include <civetweb.h>
#include <leptonica/allheaders.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <cmocka.h>
#include <errno.h>

#include "b64.h"
#include "ocr.h"
#include "tool.h"

static unsigned char *g_png;
static size_t g_png_len;
static struct mg_context *g_web;
static int g_port;

/* A 1-bit page with two lines of text, as PNG. */
static int render_png(unsigned char **out, size_t *len)
{
    L_BMF *bmf = bmfCreate(NULL, 20);
    if (!bmf)
        return -1;
    PIX *pix = pixCreate(1400, 220, 1);
    l_int32 w, of;
    pixSetTextline(pix, bmf, "INVOICE 12345 Total: 4500 VND", 1, 40, 80, &w, &of);
    pixSetTextline(pix, bmf, "Payment due in 45 days", 1, 40, 160, &w, &of);
    l_uint8 *data = NULL;
    size_t n = 0;
    int rc = pixWriteMem(&data, &n, pix, IFF_PNG);
    pixDestroy(&pix);
    bmfDestroy(&bmf);
    if (rc != 0)
        return -1;
    *out = malloc(n);
    memcpy(*out, data, n);
    lept_free(data);
    *len = n;
    return 0;
}

static int h_image(struct mg_connection *conn, void *cb)
{
    (void)cb;
    mg_printf(conn,
              "HTTP/1.1 200 OK\r\nContent-Type: image/png\r\nContent-Length: %zu\r\n"
              "Connection: close\r\n\r\n",
              g_png_len);
    mg_write(conn, g_png, g_png_len);
    return 200;
}

static int setup(void **state)
{
    (void)state;
    if (render_png(&g_png, &g_png_len) != 0)
        return -1;
    const char *opts[] = {"listening_ports", "127.0.0.1:0", "num_threads", "2", NULL};
    struct mg_callbacks cbs;
    memset(&cbs, 0, sizeof cbs);
    g_web = mg_start(&cbs, NULL, opts);
    if (!g_web)
        return -1;
    mg_set_request_handler(g_web, "/scan.png", h_image, NULL);
    struct mg_server_port ports[4];
    int n = mg_get_server_ports(g_web, 4, ports);
    if (n < 1)
        return -1;
    g_port = ports[0].port;
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    if (g_web)
        mg_stop(g_web);
    free(g_png);
    return 0;
}

static void test_langs(void **state)
{
    (void)state;
    assert_true(ocr_lang_available("eng"));
    assert_false(ocr_lang_available("xx"));
    assert_false(ocr_lang_available("../eng"));
    assert_false(ocr_lang_available(""));
    const char *d = ocr_default_lang();
    assert_true(strcmp(d, "eng") == 0 || strcmp(d, "eng+vie") == 0);
    assert_int_equal(strcmp(d, "eng+vie") == 0, ocr_lang_available("vie"));
}

static void test_ocr_png(void **state)
{
    (void)state;
    char *text = NULL, err[256];
    assert_int_equal(ocr_image(g_png, g_png_len, "eng", &text, err, sizeof err), 0);
    assert_non_null(strstr(text, "INVOICE 12345"));
    assert_non_null(strstr(text, "4500 VND"));
    assert_non_null(strstr(text, "Payment due in 45 days"));
    free(text);
    /* an unknown language falls back to the default */
    assert_int_equal(ocr_image(g_png, g_png_len, "xx", &text, err, sizeof err), 0);
    assert_non_null(strstr(text, "INVOICE"));
    free(text);
}

static void test_ocr_bad_input(void **state)
{
    (void)state;
    char *text = NULL, err[256];
    const unsigned char junk[] = "this is not an image at all, just bytes";
    assert_int_not_equal(ocr_image(junk, sizeof junk, NULL, &text, err, sizeof err), 0);
    assert_null(text);
    assert_non_null(strstr(err, "not a readable image"));
    assert_int_not_equal(ocr_image(junk, 0, NULL, &text, err, sizeof err), 0);
    assert_non_null(strstr(err, "empty"));
    /* a truncated PNG */
    assert_int_not_equal(ocr_image(g_png, g_png_len / 3, NULL, &text, err, sizeof err), 0);
    assert_null(text);
    assert_non_null(strstr(err, "truncated"));
    /* a JPEG without its end marker */
    const unsigned char jpg[16] = {0xff, 0xd8, 0xff, 0xe0, 0, 16, 'J', 'F', 'I', 'F'};
    assert_int_not_equal(ocr_image(jpg, sizeof jpg, NULL, &text, err, sizeof err), 0);
    assert_non_null(strstr(err, "truncated"));
}

/* A 60-byte PNG claiming 30000x30000 RGBA (3.6 GB decoded), with an IEND so it is not
 * "truncated": refused from the header, no decoder runs (the process would need gigabytes). */
static void make_bomb_png(unsigned char *b)
{
    static const unsigned char head[] = {0x89, 'P', 'N',  'G',  '\r', '\n', 0x1a, '\n', 0,    0,
                                         0,    13,  'I',  'H',  'D',  'R',  0,    0,    0x75, 0x30,
                                         0,    0,   0x75, 0x30, 8,    6,    0,    0,    0};
    memset(b, 0, 60);
    memcpy(b, head, sizeof head);
    memcpy(b + 52, "IEND\xae\x42\x60\x82", 8);
}

static void test_ocr_header_limits(void **state)
{
    (void)state;
    unsigned char bomb[60];
    char *text = NULL, err[256];
    int pages = -1;
    make_bomb_png(bomb);
    assert_int_equal(ocr_image(bomb, sizeof bomb, "eng", &text, err, sizeof err), -E2BIG);
    assert_null(text);
    assert_string_equal(err, "image_too_large: 30000x30000 pixels exceeds max_pixels 40000000");
    /* enough pixels allowed, but not the bytes they decode to */
    struct ocr_limits lim = {1000000000L, 50, 1000000000L};
    assert_int_equal(ocr_document(bomb, sizeof bomb, "eng", &lim, "DOCWORKER_", 1, &text, &pages,
                                  err, sizeof err),
                     -E2BIG);
    assert_non_null(strstr(err, "image_too_large: decoding 1 page needs about"));
    assert_non_null(strstr(err, "DOCWORKER_MAX_DECODED_BYTES 1000000000"));
    /* the rendered page passes the defaults and fails a tight limit */
    lim.max_pixels = 1000;
    assert_int_equal(ocr_document(g_png, g_png_len, "eng", &lim, "DOCWORKER_", 1, &text, &pages,
                                  err, sizeof err),
                     -E2BIG);
    assert_non_null(strstr(err, "1400x220 pixels exceeds DOCWORKER_MAX_PIXELS 1000"));
    assert_int_equal(
        ocr_document(g_png, g_png_len, "eng", NULL, NULL, 1, &text, &pages, err, sizeof err), 0);
    assert_int_equal(pages, 1);
    assert_non_null(strstr(text, "INVOICE"));
    free(text);
    /* leptonica's own serialised format is not handed to pixReadMem */
    unsigned char spix[64] = {'s', 'p', 'i', 'x', 0x10, 0, 0, 0, 0x10, 0, 0, 0, 8};
    assert_int_equal(ocr_image(spix, sizeof spix, "eng", &text, err, sizeof err), -EINVAL);
    assert_non_null(strstr(err, "image_header_unreadable"));
}

struct outcome {
    int done;
    char *text;
    char *error;
};

static void on_done(void *opaque, json_object *result, const char *error)
{
    struct outcome *o = opaque;
    json_object *v;
    o->done++;
    if (error)
        o->error = strdup(error);
    else if (json_object_object_get_ex(result, "text", &v))
        o->text = strdup(json_object_get_string(v));
}

static int run_ocr_tool(json_object *args, const char *allowed, struct outcome *o, char *err,
                        size_t errlen)
{
    struct tool_def t;
    memset(&t, 0, sizeof t);
    t.id = "00000000-0000-0000-0000-0000000000oc";
    t.name = "ocr_document";
    t.description = "ocr";
    t.base_type = "OCR";
    t.config = json_tokener_parse("{\"lang\":\"eng\"}");
    t.output_schema = json_tokener_parse("{\"type\":\"object\",\"required\":[\"text\"]}");
    /* only arguments the input schema names reach the tool (issue 17) */
    t.input_schema = json_tokener_parse("{\"type\":\"object\",\"properties\":{"
                                        "\"image_url\":{},\"image_base64\":{},\"something\":{}}}");
    struct httploop *loop = NULL;
    assert_int_equal(httploop_new(&loop), 0);
    struct tool_ctx ctx = {.tenant_id = "tenant-a", .loop = loop, .allowed_hosts = allowed};
    memset(o, 0, sizeof *o);
    int rc = tool_invoke(&ctx, &t, args, on_done, o, err, errlen);
    if (rc == 0) {
        time_t until = time(NULL) + 30;
        while (!o->done && time(NULL) < until)
            httploop_run(loop, 50);
        assert_int_equal(o->done, 1);
    }
    httploop_free(loop);
    json_object_put(t.config);
    json_object_put(t.output_schema);
    json_object_put(t.input_schema);
    return rc;
}

static void outcome_free(struct outcome *o)
{
    free(o->text);
    free(o->error);
    memset(o, 0, sizeof *o);
}

static char *png_b64(void)
{
    size_t n = b64_encoded_size(g_png_len, B64_STD);
    char *s = malloc(n + 32);
    strcpy(s, "data:image/png;base64,");
    assert_int_equal(b64_encode(g_png, g_png_len, s + strlen(s), n, B64_STD), 0);
    return s;
}

static void test_tool_base64_and_data_url(void **state)
{
    (void)state;
    struct outcome o;
    char err[256];
    char *data_url = png_b64();
    json_object *args = json_object_new_object();
    json_object_object_add(args, "image_base64", json_object_new_string(data_url + 22));
    assert_int_equal(run_ocr_tool(args, NULL, &o, err, sizeof err), 0);
    assert_null(o.error);
    assert_non_null(strstr(o.text, "INVOICE 12345"));
    outcome_free(&o);
    json_object_put(args);

    args = json_object_new_object();
    json_object_object_add(args, "image_url", json_object_new_string(data_url));
    assert_int_equal(run_ocr_tool(args, NULL, &o, err, sizeof err), 0);
    assert_non_null(o.text);
    assert_non_null(strstr(o.text, "45 days"));
    outcome_free(&o);
    json_object_put(args);
    free(data_url);

    args = json_tokener_parse("{\"image_base64\":\"!!!not base64!!!\"}");
    assert_int_equal(run_ocr_tool(args, NULL, &o, err, sizeof err), 0);
    assert_non_null(strstr(o.error, "not valid base64"));
    outcome_free(&o);
    json_object_put(args);

    args = json_tokener_parse("{\"something\":1}");
    assert_int_equal(run_ocr_tool(args, NULL, &o, err, sizeof err), 0);
    assert_non_null(strstr(o.error, "image_url"));
    outcome_free(&o);
    json_object_put(args);
}

static void test_tool_header_limits(void **state)
{
    (void)state;
    struct outcome o;
    char err[256];
    unsigned char bomb[60];
    char b64[128];
    make_bomb_png(bomb);
    assert_int_equal(b64_encode(bomb, sizeof bomb, b64, sizeof b64, B64_STD), 0);
    json_object *args = json_object_new_object();
    json_object_object_add(args, "image_base64", json_object_new_string(b64));
    assert_int_equal(run_ocr_tool(args, NULL, &o, err, sizeof err), 0);
    assert_null(o.text);
    assert_non_null(o.error);
    assert_non_null(strstr(o.error, "image_too_large: 30000x30000 pixels exceeds max_pixels"));
    outcome_free(&o);
    json_object_put(args);
}

static void test_tool_image_url(void **state)
{
    (void)state;
    struct outcome o;
    char err[256], url[128];
    snprintf(url, sizeof url, "http://127.0.0.1:%d/scan.png", g_port);
    json_object *args = json_object_new_object();
    json_object_object_add(args, "image_url", json_object_new_string(url));
    /* loopback is refused unless allowed */
    assert_int_equal(run_ocr_tool(args, NULL, &o, err, sizeof err), 0);
    assert_non_null(o.error);
    assert_non_null(strstr(o.error, "refused"));
    outcome_free(&o);
    char allow[64];
    snprintf(allow, sizeof allow, "127.0.0.1:%d", g_port); /* entries are host:port */
    assert_int_equal(run_ocr_tool(args, allow, &o, err, sizeof err), 0);
    assert_null(o.error);
    assert_non_null(strstr(o.text, "INVOICE 12345"));
    outcome_free(&o);
    json_object_put(args);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_langs),
        cmocka_unit_test(test_ocr_png),
        cmocka_unit_test(test_ocr_bad_input),
        cmocka_unit_test(test_tool_base64_and_data_url),
        cmocka_unit_test(test_tool_image_url),
        cmocka_unit_test(test_ocr_header_limits),
        cmocka_unit_test(test_tool_header_limits),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
