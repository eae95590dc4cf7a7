/* test_language.c — router/language.c: English / Vietnamese detection. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "../../router/language.c"

static const char *det(const char *s)
{
    return language_detect(s, s ? strlen(s) : 0);
}

static void test_vietnamese_with_diacritics(void **state)
{
    (void)state;
    const char *cases[] = {
        "Công nợ của MST 0123456789 là bao nhiêu?",
        "Tôi muốn kiểm tra đơn hàng",
        "Xin chào",
        "Đơn hàng VN123456789 đang ở đâu?",
        "cảm ơn",
        "Phân tích doanh thu quý 3",
        "Tình trạng vận đơn VD-2024-001",
        "ơ",
        "Bạn có thể giúp tôi không?",
        "CÔNG NỢ KHÁCH HÀNG",
        "Mã số thuế 0123456789 nợ bao nhiêu tiền",
        "chào bạn",
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        if (strcmp(det(cases[i]), "vi") != 0)
            fail_msg("expected vi for: %s", cases[i]);
    }
}

static void test_vietnamese_without_diacritics(void **state)
{
    (void)state;
    const char *cases[] = {
        "cong no cua toi bao nhieu",
        "cho toi xem don hang",
        "khong biet",
        "kiem tra van don VD123",
        "bao nhieu",
        "don hang cua toi dau roi",
        "xin chao",
        "ma so thue 0123456789 cong no",
        "toi muon tra cuu cong no khach hang",
        "khong",
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        if (strcmp(det(cases[i]), "vi") != 0)
            fail_msg("expected vi for: %s", cases[i]);
    }
}

static void test_english(void **state)
{
    (void)state;
    const char *cases[] = {
        "What is the debt for MST 0123456789?",
        "Where is my shipment VN123456789?",
        "Show me the sales analysis report",
        "hello",
        "Can you help me?",
        "track order 12345",
        "What's the outstanding balance of customer 0123456789",
        "I want to know about the return policy",
        "How much does company 0123456789 owe?",
        "thanks",
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        if (strcmp(det(cases[i]), "en") != 0)
            fail_msg("expected en for: %s", cases[i]);
    }
}

static void test_ties_and_empty_are_english(void **state)
{
    (void)state;
    assert_string_equal(det(""), "en");
    assert_string_equal(det(NULL), "en");
    assert_string_equal(det("0123456789"), "en");
    assert_string_equal(det("???  !!! 42"), "en");
    assert_string_equal(det("ok"), "en");
    assert_string_equal(det("VN123456789"), "en");
    /* One English word against one Vietnamese word: a tie, English. */
    struct language_score sc;
    assert_string_equal(language_detect_scored("debt khong", 10, &sc), "en");
    assert_int_equal(sc.en, 1);
    assert_int_equal(sc.vi, 1);
}

static void test_mixed_decided_by_score(void **state)
{
    (void)state;
    /* Mostly English with one Vietnamese term. */
    assert_string_equal(det("What is the cong no for customer 0123456789?"), "en");
    /* Mostly Vietnamese with an English loan word. */
    assert_string_equal(det("Cho tôi xem report công nợ"), "vi");
    assert_string_equal(det("check đơn hàng của tôi"), "vi");
    /* A French-looking accent alone is weak evidence against English words. */
    assert_string_equal(det("Is the café open for my order"), "en");
}

static void test_scores(void **state)
{
    (void)state;
    struct language_score sc;
    language_detect_scored("bao nhieu", 9, &sc);
    assert_true(sc.vi >= 2);
    assert_int_equal(sc.en, 0);
    const char *t = "đ";
    language_detect_scored(t, strlen(t), &sc);
    assert_int_equal(sc.vi, 2);
    t = "é";
    language_detect_scored(t, strlen(t), &sc);
    assert_int_equal(sc.vi, 1);
}

static void test_malformed_utf8_never_crashes(void **state)
{
    (void)state;
    const char bad[] = {(char)0xC3, 0,          (char)0xE1, (char)0xBA, 'a',
                        (char)0xFF, (char)0xF0, (char)0x9F, (char)0x98};
    const char *r = language_detect(bad, sizeof(bad));
    assert_true(strcmp(r, "en") == 0 || strcmp(r, "vi") == 0);
    /* Truncated multi-byte sequence at the very end. */
    const char cut[] = {'h', 'i', ' ', (char)0xE1, (char)0xBB};
    assert_string_equal(language_detect(cut, sizeof(cut)), "en");
    /* Emoji and CJK are not Vietnamese. */
    assert_string_equal(det("😀😀😀 漢字"), "en");
    /* A very long word. */
    char longw[300];
    memset(longw, 'x', sizeof(longw) - 1);
    longw[sizeof(longw) - 1] = '\0';
    assert_string_equal(det(longw), "en");
}

static void test_decomposed_tone_marks(void **state)
{
    (void)state;
    /* "nợ" typed as o + combining horn + combining dot below. */
    const char *t = "no\xcc\x9b\xcc\xa3";
    assert_string_equal(det(t), "vi");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_vietnamese_with_diacritics),
        cmocka_unit_test(test_vietnamese_without_diacritics),
        cmocka_unit_test(test_english),
        cmocka_unit_test(test_ties_and_empty_are_english),
        cmocka_unit_test(test_mixed_decided_by_score),
        cmocka_unit_test(test_scores),
        cmocka_unit_test(test_malformed_utf8_never_crashes),
        cmocka_unit_test(test_decomposed_tone_marks),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
