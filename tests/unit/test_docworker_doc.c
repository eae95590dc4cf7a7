/* test_docworker_doc.c — the docworker's pure parts: document sniffing, UTF-8 text checks and
 * doc.request validation (agents/docworker/doc.c, compiled in here: program sources are not
 * in a library). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <string.h>

#include "../../agents/docworker/doc.c"

static void test_sniff_images(void **state)
{
    (void)state;
    static const unsigned char png[] = "\x89PNG\r\n\x1a\n\0\0\0\rIHDR";
    static const unsigned char jpg[] = "\xff\xd8\xff\xe0\0\x10JFIF";
    static const unsigned char tif1[] = "II*\0\x08\0\0\0", tif2[] = "MM\0*\0\0\0\x08";
    static const unsigned char gif[] = "GIF89a\x01\0", webp[] = "RIFF\x10\0\0\0WEBPVP8 ";
    static const unsigned char pnm[] = "P6\n2 2\n255\n";
    unsigned char bmp[32] = {'B', 'M'};
    bmp[14] = 40;
    assert_int_equal(doc_sniff(png, sizeof png - 1, "application/octet-stream"), DOC_KIND_IMAGE);
    /* magic wins over a wrong declared type */
    assert_int_equal(doc_sniff(jpg, sizeof jpg - 1, "text/plain"), DOC_KIND_IMAGE);
    assert_int_equal(doc_sniff(tif1, 8, NULL), DOC_KIND_IMAGE);
    assert_int_equal(doc_sniff(tif2, 8, NULL), DOC_KIND_IMAGE);
    assert_int_equal(doc_sniff(gif, 8, NULL), DOC_KIND_IMAGE);
    assert_int_equal(doc_sniff(webp, 16, NULL), DOC_KIND_IMAGE);
    assert_int_equal(doc_sniff(pnm, sizeof pnm - 1, NULL), DOC_KIND_IMAGE);
    assert_int_equal(doc_sniff(bmp, sizeof bmp, NULL), DOC_KIND_IMAGE);
    assert_string_equal(doc_kind_name(DOC_KIND_IMAGE), "image");
}

static void test_sniff_text_pdf_unknown(void **state)
{
    (void)state;
    const unsigned char *t = (const unsigned char *)"BMW invoice text";
    assert_int_equal(doc_sniff(t, strlen((const char *)t), "text/plain"), DOC_KIND_TEXT);
    assert_int_equal(doc_sniff(t, 3, "Text/Plain; charset=UTF-8"), DOC_KIND_TEXT);
    assert_int_equal(doc_sniff(t, 3, "text/plain;charset=\"utf-8\""), DOC_KIND_TEXT);
    assert_int_equal(doc_sniff(t, 3, "text/plain; charset=iso-8859-1"), DOC_KIND_UNKNOWN);
    assert_int_equal(doc_sniff(t, 3, "text/plainx"), DOC_KIND_UNKNOWN);
    assert_int_equal(doc_sniff(t, 3, "text/html"), DOC_KIND_UNKNOWN);
    assert_int_equal(doc_sniff(t, 3, NULL), DOC_KIND_UNKNOWN);
    assert_int_equal(doc_sniff((const unsigned char *)"%PDF-1.7", 8, "image/png"), DOC_KIND_PDF);
    assert_int_equal(doc_sniff(t, 3, "application/pdf"), DOC_KIND_PDF);
    assert_int_equal(doc_sniff(NULL, 0, NULL), DOC_KIND_UNKNOWN);
    assert_int_equal(doc_sniff((const unsigned char *)"\x89P", 2, NULL), DOC_KIND_UNKNOWN);
    assert_string_equal(doc_kind_name(DOC_KIND_PDF), "pdf");
}

static void test_text_ok(void **state)
{
    (void)state;
    const char *good = "H\xc3\xa0 N\xe1\xbb\x99i \xf0\x9f\x98\x80";
    assert_int_equal(doc_text_ok((const unsigned char *)good, strlen(good)), 1);
    assert_int_equal(doc_text_ok((const unsigned char *)"", 0), 1);
    assert_int_equal(doc_text_ok((const unsigned char *)"a\0b", 3), 0);             /* NUL */
    assert_int_equal(doc_text_ok((const unsigned char *)"\xc3", 1), 0);             /* cut */
    assert_int_equal(doc_text_ok((const unsigned char *)"\xc0\xaf", 2), 0);         /* overlong */
    assert_int_equal(doc_text_ok((const unsigned char *)"\xed\xa0\x80", 3), 0);     /* surrogate */
    assert_int_equal(doc_text_ok((const unsigned char *)"\xf4\x90\x80\x80", 4), 0); /* > 10FFFF */
    assert_int_equal(doc_text_ok((const unsigned char *)"\xff", 1), 0);
}

static int make_env(struct envelope *e, const char *type, const char *payload)
{
    memset(e, 0, sizeof *e);
    snprintf(e->type, sizeof e->type, "%s", type);
    snprintf(e->tenant_id, sizeof e->tenant_id, "tenant-a");
    e->payload = json_tokener_parse(payload);
    return e->payload ? 0 : -1;
}

static void test_validate(void **state)
{
    (void)state;
    struct envelope e;
    char err[256];
    const char *b = "\"batch_id\":\"8c1f1f5e-9a3b-4c47-9a57-0f0f6f0d3c11\"";
    const char *d = "\"document_id\":\"1b4e28ba-2fa1-11d2-883f-0016d3cca427\"";
    char buf[512];

    snprintf(buf, sizeof buf, "{%s,%s}", b, d);
    assert_int_equal(make_env(&e, "doc.request", buf), 0);
    assert_int_equal(doc_request_validate(&e, err, sizeof err), 0);
    envelope_cleanup(&e);

    snprintf(buf, sizeof buf, "{%s,%s,\"lang\":\"eng+vie\"}", b, d);
    make_env(&e, "doc.request", buf);
    assert_int_equal(doc_request_validate(&e, err, sizeof err), 0);
    envelope_cleanup(&e);

    snprintf(buf, sizeof buf, "{%s,%s,\"lang\":\"../eng\"}", b, d);
    make_env(&e, "doc.request", buf);
    assert_int_equal(doc_request_validate(&e, err, sizeof err), -1);
    assert_non_null(strstr(err, "lang"));
    envelope_cleanup(&e);

    snprintf(buf, sizeof buf, "{%s,%s}", b, d);
    make_env(&e, "chat.request", buf);
    assert_int_equal(doc_request_validate(&e, err, sizeof err), -1);
    assert_non_null(strstr(err, "type"));
    envelope_cleanup(&e);

    snprintf(buf, sizeof buf, "{%s}", b);
    make_env(&e, "doc.request", buf);
    assert_int_equal(doc_request_validate(&e, err, sizeof err), -1);
    assert_non_null(strstr(err, "document_id"));
    envelope_cleanup(&e);

    snprintf(buf, sizeof buf, "{\"batch_id\":\"x\",%s}", d);
    make_env(&e, "doc.request", buf);
    assert_int_equal(doc_request_validate(&e, err, sizeof err), -1);
    assert_non_null(strstr(err, "batch_id"));
    envelope_cleanup(&e);

    snprintf(buf, sizeof buf, "{\"batch_id\":7,%s}", d);
    make_env(&e, "doc.request", buf);
    assert_int_equal(doc_request_validate(&e, err, sizeof err), -1);
    envelope_cleanup(&e);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_sniff_images),
        cmocka_unit_test(test_sniff_text_pdf_unknown),
        cmocka_unit_test(test_text_ok),
        cmocka_unit_test(test_validate),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
