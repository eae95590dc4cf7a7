/* test_docworker_pages.c — the docworker's page-level pure parts: limits checked before a page
 * is rendered, the text/OCR decision and the document text joined from its pages
 * (agents/docworker/pages.c, compiled in here: program sources are not in a library). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdlib.h>
#include <string.h>

#include "../../agents/docworker/pages.c"

static const struct doc_page_limits LIM = {
    .max_pages = 50, .max_pixels = 40000000, .dpi = 300, .min_chars = 16};

static void test_count(void **state)
{
    (void)state;
    char err[256] = "";
    assert_int_equal(doc_pages_check_count(1, &LIM, err, sizeof err), 0);
    assert_int_equal(doc_pages_check_count(50, &LIM, err, sizeof err), 0);
    assert_int_equal(doc_pages_check_count(51, &LIM, err, sizeof err), -1);
    assert_string_equal(err, "too_many_pages: the document has 51 pages; at most 50 are read "
                             "(DOCWORKER_MAX_PAGES)");
}

static void test_render_size(void **state)
{
    (void)state;
    char err[512] = "";
    int w, h;
    /* US Letter at 300 dpi: 2550 x 3300 */
    assert_int_equal(doc_page_render_size(612, 792, 1, &LIM, 30000, &w, &h, err, sizeof err), 0);
    assert_int_equal(w, 2550);
    assert_int_equal(h, 3300);
    /* a huge MediaBox is refused from its size, before anything is rendered */
    assert_int_equal(doc_page_render_size(200000, 200000, 3, &LIM, 30000, &w, &h, err, sizeof err),
                     -1);
    assert_non_null(strstr(err, "image_too_large: page 3 "));
    assert_non_null(strstr(err, "DOCWORKER_MAX_PIXELS"));
    assert_int_equal(w, 0);
    /* within the pixel budget but too long a side */
    struct doc_page_limits big = LIM;
    big.max_pixels = 400000000;
    assert_int_equal(doc_page_render_size(14400, 100, 1, &big, 30000, &w, &h, err, sizeof err), -1);
    assert_non_null(strstr(err, "image_too_large"));
    /* exactly at the limit passes: 40,000,000 pixels */
    struct doc_page_limits edge = LIM;
    edge.dpi = 72;
    edge.max_pixels = 4000 * 10000;
    assert_int_equal(doc_page_render_size(4000, 10000, 1, &edge, 30000, &w, &h, err, sizeof err),
                     0);
    assert_int_equal(doc_page_render_size(4000, 10001, 1, &edge, 30000, &w, &h, err, sizeof err),
                     -1);
    /* no size, negative, NaN: damaged */
    assert_int_equal(doc_page_render_size(0, 792, 2, &LIM, 30000, &w, &h, err, sizeof err), -1);
    assert_non_null(strstr(err, "pdf_damaged: page 2"));
    assert_int_equal(doc_page_render_size(-5, 792, 2, &LIM, 30000, &w, &h, err, sizeof err), -1);
    assert_int_equal(doc_page_render_size(NAN, 792, 2, &LIM, 30000, &w, &h, err, sizeof err), -1);
}

static void test_needs_ocr(void **state)
{
    (void)state;
    assert_int_equal(doc_text_weight(NULL), 0);
    assert_int_equal(doc_text_weight(" \n\t\f "), 0);
    assert_int_equal(doc_text_weight("a b\nc"), 3);
    /* code points, not bytes: "Việt" is 4 */
    assert_int_equal(doc_text_weight("Vi\xe1\xbb\x87t"), 4);
    assert_int_equal(doc_page_needs_ocr("", &LIM), 1);
    assert_int_equal(doc_page_needs_ocr("  page 3  \n", &LIM), 1);
    assert_int_equal(doc_page_needs_ocr("Quarterly report page 1", &LIM), 0);
    struct doc_page_limits never = LIM;
    never.min_chars = 0;
    assert_int_equal(doc_page_needs_ocr("", &never), 0);
}

static void test_join(void **state)
{
    (void)state;
    struct doc_page *p = calloc(3, sizeof *p);
    assert_non_null(p);
    p[0].text = strdup("one");
    p[1].text = NULL; /* a failed page keeps its place */
    snprintf(p[1].error, sizeof p[1].error, "ocr_failed: recognition failed");
    p[2].text = strdup("three\nlines");
    char *t = doc_pages_join(p, 3);
    assert_string_equal(t, "one\f\fthree\nlines");
    free(t);
    assert_int_equal(doc_pages_succeeded(p, 3), 2);
    t = doc_pages_join(p, 1);
    assert_string_equal(t, "one");
    free(t);
    t = doc_pages_join(p, 0);
    assert_string_equal(t, "");
    free(t);
    assert_string_equal(doc_page_method_name(DOC_PAGE_TEXT), "text");
    assert_string_equal(doc_page_method_name(DOC_PAGE_OCR), "ocr");
    doc_pages_free(p, 3);
    doc_pages_free(NULL, 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_count),
        cmocka_unit_test(test_render_size),
        cmocka_unit_test(test_needs_ocr),
        cmocka_unit_test(test_join),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
