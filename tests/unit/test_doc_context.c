/* test_doc_context.c — a chat's attached documents for the model (tools/doc_context.h): pages
 * split at form feeds, labels naming document and page, the character bound (cut on a
 * character boundary, later pages named but not shown), one citation per page shown; and the
 * knowledge base's chunking per page (knowledge_chunk_pages, knowledge_chunk_id). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "doc_context.h"
#include "json_field.h"
#include "knowledge.h"

static void test_split_pages(void **state)
{
    (void)state;
    struct doc_page p[4];
    const char *t = "one\ftwo\fthree";
    assert_int_equal(doc_split_pages(t, strlen(t), p, 4), 3);
    assert_int_equal(p[0].page, 1);
    assert_int_equal(p[2].page, 3);
    assert_int_equal(p[1].len, 3);
    assert_memory_equal(p[1].text, "two", 3);
    assert_memory_equal(p[2].text, "three", 5);
    /* no form feed: the whole text is page 1 */
    assert_int_equal(doc_split_pages("abc", 3, p, 4), 1);
    assert_int_equal(p[0].len, 3);
    /* more pages than room: the last slot takes the rest */
    assert_int_equal(doc_split_pages(t, strlen(t), p, 2), 2);
    assert_int_equal(p[1].len, strlen("two\fthree"));
    assert_int_equal(doc_split_pages(NULL, 0, p, 4), 0);
}

static void test_prefix_chars_never_splits_a_character(void **state)
{
    (void)state;
    const char *s = "Tổng cộng"; /* "ổ" and "ộ" are 3 bytes each */
    assert_int_equal(doc_prefix_chars(s, strlen(s), 0), 0);
    assert_int_equal(doc_prefix_chars(s, strlen(s), 1), 1);
    assert_int_equal(doc_prefix_chars(s, strlen(s), 2), 4);
    assert_int_equal(doc_prefix_chars(s, strlen(s), 100), strlen(s));
}

static void test_labels_and_citations(void **state)
{
    (void)state;
    struct doc_page a[2] = {{1, "Invoice 4711\nTotal: 250 EUR", 27}, {2, "Thank you", 9}};
    struct doc_page b[1] = {{1, "Hợp đồng", strlen("Hợp đồng")}};
    struct doc_source docs[2] = {{"11111111-1111-4111-8111-111111111111", "invoice.pdf", a, 2},
                                 {"22222222-2222-4222-8222-222222222222", "hop-dong.png", b, 1}};
    json_object *cites = json_object_new_array();
    char *out = NULL;
    assert_int_equal(doc_context_build(docs, 2, 10000, &out, cites), 0);
    assert_non_null(strstr(out, "[document \"invoice.pdf\" id=11111111-1111-4111-8111-111111111111 "
                                "page 1]\nInvoice 4711\nTotal: 250 EUR\n"));
    assert_non_null(strstr(out, "page 2]\nThank you\n"));
    assert_non_null(strstr(out,
                           "[document \"hop-dong.png\" id=22222222-2222-4222-8222-222222222222 "
                           "page 1]\nHợp đồng\n"));
    assert_null(strstr(out, "not shown"));
    assert_int_equal(json_object_array_length(cites), 3);
    json_object *c = json_object_array_get_idx(cites, 1);
    assert_string_equal(json_field_str(c, "document_id"), "11111111-1111-4111-8111-111111111111");
    assert_string_equal(json_field_str(c, "filename"), "invoice.pdf");
    json_object *v;
    assert_true(json_object_object_get_ex(c, "page", &v));
    assert_int_equal(json_object_get_int(v), 2);
    free(out);
    json_object_put(cites);
}

static void test_bound_cuts_and_names_the_rest(void **state)
{
    (void)state;
    struct doc_page a[3] = {{1, "0123456789", 10}, {2, "ổổổổổổổổổổ", 30}, {3, "last page", 9}};
    struct doc_source d = {"33333333-3333-4333-8333-333333333333", "long.pdf", a, 3};
    json_object *cites = json_object_new_array();
    char *out = NULL;
    /* 10 characters of page 1, 5 of page 2, none of page 3 */
    assert_int_equal(doc_context_build(&d, 1, 15, &out, cites), 0);
    assert_non_null(strstr(out, "page 1]\n0123456789\n"));
    assert_non_null(strstr(out, "page 2]\nổổổổổ [...]\n"));
    assert_null(strstr(out, "last page"));
    assert_non_null(strstr(out, "[1 more page(s) not shown"));
    assert_int_equal(json_object_array_length(cites), 2);
    json_object *v;
    assert_true(json_object_object_get_ex(json_object_array_get_idx(cites, 1), "truncated", &v));
    free(out);
    json_object_put(cites);
}

static void test_chunks_per_page_and_ids(void **state)
{
    (void)state;
    char big[1400];
    for (size_t i = 0; i < sizeof big - 1; i++)
        big[i] = (i % 50 == 49) ? '.' : (i % 50 == 0 && i) ? ' ' : 'a';
    big[sizeof big - 1] = '\0';
    struct doc_page p[3] = {{1, "Short first page.", 17}, {2, "", 0}, {3, big, strlen(big)}};
    struct knowledge_chunk *c = NULL;
    size_t n = 0;
    assert_int_equal(knowledge_chunk_pages(p, 3, &c, &n), 0);
    assert_true(n >= 3);            /* page 1, nothing of the empty page 2, page 3 in pieces */
    assert_int_equal(c[0].page, 1); /* a chunk never spans pages */
    assert_string_equal(c[0].text, "Short first page.");
    for (size_t i = 1; i < n; i++) {
        assert_int_equal(c[i].page, 3);
        assert_int_equal(c[i].index, i);
        assert_true(strlen(c[i].text) <= KNOWLEDGE_CHUNK_TARGET);
    }
    char id[160];
    assert_true(knowledge_chunk_id("33333333-3333-4333-8333-333333333333", 3, 7, id, sizeof id) >
                0);
    assert_string_equal(id, "33333333-3333-4333-8333-333333333333:p3:c7");
    assert_int_equal(knowledge_chunk_id("x", 1, 1, id, 4), -1);
    knowledge_page_chunks_free(c, n);
    assert_int_equal(knowledge_chunk_pages(p + 1, 1, &c, &n), 0);
    assert_int_equal(n, 0);
    knowledge_page_chunks_free(c, n);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_split_pages),
        cmocka_unit_test(test_prefix_chars_never_splits_a_character),
        cmocka_unit_test(test_labels_and_citations),
        cmocka_unit_test(test_bound_cuts_and_names_the_rest),
        cmocka_unit_test(test_chunks_per_page_and_ids),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
