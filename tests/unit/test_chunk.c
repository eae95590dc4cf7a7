/* test_chunk.c — knowledge_chunk(): sizes, overlap, sentence/paragraph cuts, UTF-8 safety. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "knowledge.h"

/* Valid UTF-8? */
static int utf8_ok(const char *s)
{
    const unsigned char *p = (const unsigned char *)s;
    while (*p) {
        int n = *p < 0x80             ? 0
                : (*p & 0xE0) == 0xC0 ? 1
                : (*p & 0xF0) == 0xE0 ? 2
                : (*p & 0xF8) == 0xF0 ? 3
                                      : -1;
        if (n < 0)
            return 0;
        p++;
        for (int i = 0; i < n; i++, p++)
            if ((*p & 0xC0) != 0x80)
                return 0;
    }
    return 1;
}

static void test_empty_and_short(void **state)
{
    (void)state;
    char **c = NULL;
    size_t n = 99;
    assert_int_equal(knowledge_chunk("", 0, 0, 0, &c, &n), 0);
    assert_int_equal(n, 0);
    knowledge_chunks_free(c, n);
    assert_int_equal(knowledge_chunk("  \n\n \t ", 7, 0, 0, &c, &n), 0);
    assert_int_equal(n, 0);
    knowledge_chunks_free(c, n);
    const char *t = "  Payment terms are 30 days.\n\nLate fees apply.  \n";
    assert_int_equal(knowledge_chunk(t, strlen(t), 0, 0, &c, &n), 0);
    assert_int_equal(n, 1);
    assert_string_equal(c[0], "Payment terms are 30 days.\n\nLate fees apply.");
    knowledge_chunks_free(c, n);
}

static void test_sizes_coverage_overlap(void **state)
{
    (void)state;
    /* 60 numbered sentences in paragraphs of 5 */
    char text[8192] = "";
    for (int i = 0; i < 60; i++) {
        char s[96];
        snprintf(s, sizeof s, "Sentence number %02d says something about invoices.%s", i,
                 i % 5 == 4 ? "\n\n" : " ");
        strcat(text, s);
    }
    char **c = NULL;
    size_t n = 0;
    assert_int_equal(knowledge_chunk(text, strlen(text), 200, 60, &c, &n), 0);
    assert_true(n >= 10);
    for (size_t i = 0; i < n; i++) {
        assert_true(strlen(c[i]) <= 200);
        assert_true(strlen(c[i]) > 0);
        /* chunks start at a sentence start */
        assert_memory_equal(c[i], "Sentence number ", 16);
    }
    /* every sentence is in some chunk, in order */
    for (int i = 0; i < 60; i++) {
        char s[32];
        snprintf(s, sizeof s, "number %02d says", i);
        int found = 0;
        for (size_t k = 0; k < n && !found; k++)
            found = strstr(c[k], s) != NULL;
        if (!found)
            fail_msg("sentence %d missing", i);
    }
    /* consecutive chunks overlap: the next one starts with the previous one's last sentence */
    int overlaps = 0;
    for (size_t i = 0; i + 1 < n; i++) {
        char head[40];
        snprintf(head, sizeof head, "%.30s", c[i + 1]);
        if (strstr(c[i], head))
            overlaps++;
    }
    assert_true(overlaps >= (int)(n - 1) / 2);
    knowledge_chunks_free(c, n);
}

static void test_defaults_about_500(void **state)
{
    (void)state;
    char *text = malloc(20000);
    text[0] = 0;
    for (int i = 0; i < 200; i++)
        strcat(text, "Shipping within Vietnam takes two to five working days. ");
    char **c = NULL;
    size_t n = 0;
    assert_int_equal(knowledge_chunk(text, strlen(text), 0, 0, &c, &n), 0);
    assert_true(n > 10);
    for (size_t i = 0; i < n; i++) {
        assert_true(strlen(c[i]) <= KNOWLEDGE_CHUNK_TARGET);
        if (i + 1 < n)
            assert_true(strlen(c[i]) > KNOWLEDGE_CHUNK_TARGET / 2);
    }
    knowledge_chunks_free(c, n);
    free(text);
}

static void test_long_word_utf8(void **state)
{
    (void)state;
    /* 300 x "ệ" (3 bytes each) with no blank: must be cut between characters */
    char text[1024] = "";
    for (int i = 0; i < 300; i++)
        strcat(text, "\xe1\xbb\x87");
    char **c = NULL;
    size_t n = 0;
    assert_int_equal(knowledge_chunk(text, strlen(text), 100, 20, &c, &n), 0);
    assert_true(n >= 9);
    size_t total = 0;
    for (size_t i = 0; i < n; i++) {
        assert_true(strlen(c[i]) <= 100);
        assert_true(utf8_ok(c[i]));
        total += strlen(c[i]);
    }
    assert_true(total >= 900);
    knowledge_chunks_free(c, n);
}

static void test_vietnamese_sentences(void **state)
{
    (void)state;
    const char *t =
        "Chính sách thanh toán: khách hàng thanh toán trong vòng 30 ngày. Quá hạn 60 ngày sẽ bị "
        "tạm ngừng giao hàng! Lãi chậm trả là 0,05% mỗi ngày? Có.\nLiên hệ phòng kế toán.";
    char **c = NULL;
    size_t n = 0;
    assert_int_equal(knowledge_chunk(t, strlen(t), 80, 30, &c, &n), 0);
    assert_true(n >= 3);
    for (size_t i = 0; i < n; i++) {
        assert_true(utf8_ok(c[i]));
        assert_true(strlen(c[i]) <= 80);
    }
    assert_non_null(strstr(c[0], "Chính sách thanh toán"));
    assert_non_null(strstr(c[n - 1], "Liên hệ phòng kế toán."));
    knowledge_chunks_free(c, n);
}

static void test_collection_name(void **state)
{
    (void)state;
    char b[128];
    assert_true(knowledge_collection_name("tenant-a", b, sizeof b) > 0);
    assert_string_equal(b, "agenthub_tenant-a");
    assert_int_equal(knowledge_collection_name("bad/tenant", b, sizeof b), -1);
    assert_int_equal(knowledge_collection_name("", b, sizeof b), -1);
    assert_int_equal(knowledge_collection_name("x", b, 5), -1);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_empty_and_short),      cmocka_unit_test(test_sizes_coverage_overlap),
        cmocka_unit_test(test_defaults_about_500),   cmocka_unit_test(test_long_word_utf8),
        cmocka_unit_test(test_vietnamese_sentences), cmocka_unit_test(test_collection_name),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
