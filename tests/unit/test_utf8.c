/* Unit tests for common/utf8: repair of ill-formed UTF-8 and control characters, and cuts
 * that never split a character. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include <stdlib.h>
#include <string.h>

#include "utf8.h"

#define FFFD "\xEF\xBF\xBD"

static void check(const char *in, size_t len, const char *want, size_t invalid, size_t controls)
{
    struct utf8_report rep = {0, 0};
    size_t n = 0;
    char *out = utf8_sanitize(in, len, &n, &rep);
    assert_non_null(out);
    assert_int_equal(n, strlen(want));
    assert_memory_equal(out, want, n);
    assert_int_equal(out[n], '\0');
    assert_int_equal(rep.invalid, invalid);
    assert_int_equal(rep.controls, controls);
    assert_true(utf8_is_clean(out, n));
    assert_int_equal(utf8_is_clean(in, len), invalid == 0 && controls == 0);
    free(out);
}

static void test_valid_text_is_copied(void **state)
{
    (void)state;
    const char *vi = "Chính sách hoàn tiền mất bao lâu?";
    check(vi, strlen(vi), vi, 0, 0);
    check("tab\tnl\ncr\rff\f", 13, "tab\tnl\ncr\rff\f", 0, 0);
    check("\xF0\x9F\x98\x80 \xE2\x82\xAC", 8, "\xF0\x9F\x98\x80 \xE2\x82\xAC", 0, 0); /* 😀 € */
    check("", 0, "", 0, 0);
}

static void test_ill_formed_sequences_become_one_fffd_each(void **state)
{
    (void)state;
    /* "hoàn" cut in the middle of à (C3 A0): the lead byte alone */
    check("ho\xC3", 3, "ho" FFFD, 1, 0);
    /* a stray continuation byte */
    check("a\x80z", 3, "a" FFFD "z", 1, 0);
    /* Latin-1 "café" from an ERP: E9 is a lead byte with no continuation */
    check("caf\xE9 ok", 7, "caf" FFFD " ok", 1, 0);
    /* overlong "/" (C0 AF): both bytes ill-formed on their own */
    check("\xC0\xAF", 2, FFFD FFFD, 2, 0);
    /* a surrogate (ED A0 80): ED may not be followed by A0 */
    check("\xED\xA0\x80", 3, FFFD FFFD FFFD, 3, 0);
    /* above U+10FFFF (F4 90 80 80) */
    check("\xF4\x90\x80\x80", 4, FFFD FFFD FFFD FFFD, 4, 0);
    /* a 4-byte sequence cut after 3 bytes: one maximal subpart */
    check("\xF0\x9F\x98 x", 5, FFFD " x", 1, 0);
    /* F5..FF never occur */
    check("\xFF\xFE", 2, FFFD FFFD, 2, 0);
}

static void test_nul_and_controls_are_replaced(void **state)
{
    (void)state;
    check("a\0b", 3, "a" FFFD "b", 0, 1);
    check("\x01\x1b[31m\x7f", 7, FFFD FFFD "[31m" FFFD, 0, 3);
}

static void test_cut_never_splits_a_character(void **state)
{
    (void)state;
    const char *s = "ti\xE1\xBB\x81n"; /* "tiền": ề is E1 BB 81 */
    size_t len = strlen(s);
    assert_int_equal(utf8_cut(s, len, 2), 2);
    assert_int_equal(utf8_cut(s, len, 3), 2); /* inside ề: before it */
    assert_int_equal(utf8_cut(s, len, 4), 2);
    assert_int_equal(utf8_cut(s, len, 5), 5); /* after ề */
    assert_int_equal(utf8_cut(s, len, 100), len);
    assert_int_equal(utf8_cut(s, len, 0), 0);
    /* every cut of a valid text leaves valid text */
    const char *t = "Công nợ của MST 0123456789 là bao nhiêu? 😀";
    for (size_t m = 0; m <= strlen(t); m++)
        assert_true(utf8_is_clean(t, utf8_cut(t, strlen(t), m)));
    /* a run of continuation bytes that belongs to nothing: cut where asked */
    assert_int_equal(utf8_cut("\x80\x80\x80\x80\x80", 5, 4), 4);
}

static void test_copy_valid_repairs_and_cuts_between_characters(void **state)
{
    (void)state;
    char buf[7];
    assert_int_equal(utf8_copy_valid(buf, sizeof(buf), "ti\xE1\xBB\x81n!"), 6); /* tiền fits */
    assert_string_equal(buf, "ti\xE1\xBB\x81n");
    assert_int_equal(utf8_copy_valid(buf, 5, "ti\xE1\xBB\x81n"), 2); /* ề would not: before it */
    assert_string_equal(buf, "ti");
    /* repaired first, then cut: the U+FFFD that replaces a stray byte is never split */
    assert_int_equal(utf8_copy_valid(buf, 6, "ab\x80\x01"), 5);
    assert_string_equal(buf, "ab" FFFD);
    assert_int_equal(utf8_copy_valid(buf, 4, "ab\x80"), 2);
    assert_string_equal(buf, "ab");
    assert_int_equal(utf8_copy_valid(buf, 1, "abc"), 0);
    assert_string_equal(buf, "");
    /* in place, as a message is made valid where it was written */
    char msg[16] = "x\xC3(\xFFy";
    assert_int_equal(utf8_copy_valid(msg, sizeof(msg), msg), 9);
    assert_string_equal(msg, "x" FFFD "(" FFFD "y");
    char same[8] = "short";
    assert_int_equal(utf8_copy_valid(same, sizeof(same), same), 5);
    assert_string_equal(same, "short");
}

static void test_partial_tail(void **state)
{
    (void)state;
    assert_int_equal(utf8_partial_tail("ho\xC3", 3), 1);         /* à cut after its lead */
    assert_int_equal(utf8_partial_tail("ti\xE1\xBB", 4), 2);     /* ề cut after 2 of 3 */
    assert_int_equal(utf8_partial_tail("\xF0\x9F\x98", 3), 3);   /* 😀 cut after 3 of 4 */
    assert_int_equal(utf8_partial_tail("ti\xE1\xBB\x81", 5), 0); /* whole */
    assert_int_equal(utf8_partial_tail("abc", 3), 0);
    assert_int_equal(utf8_partial_tail("", 0), 0);
    assert_int_equal(utf8_partial_tail("a\x80", 2), 0);    /* stray: nothing to wait for */
    assert_int_equal(utf8_partial_tail("\xE0\x80", 2), 0); /* overlong: never completes */
    assert_int_equal(utf8_partial_tail("\xFF", 1), 0);
}

/* utf8_chars: what the ingress checks a request's text with (chat, /v1 messages, file names). */
static void test_chars_counts_code_points_or_refuses(void **state)
{
    (void)state;
    assert_int_equal(utf8_chars("", 0), 0);
    assert_int_equal(utf8_chars("abc", 3), 3);
    const char *vi = "Chính sách"; /* í and á are two bytes each */
    assert_int_equal(utf8_chars(vi, strlen(vi)), 10);
    assert_int_equal(utf8_chars("\xf0\x9f\x98\x80", 4), 1); /* one 4-byte character */
    assert_int_equal(utf8_chars("a\xc3", 2), -1);           /* cut short */
    assert_int_equal(utf8_chars("\x80", 1), -1);            /* stray continuation */
    assert_int_equal(utf8_chars("\xe1\x41\x41", 3), -1);    /* lead without continuations */
    assert_int_equal(utf8_chars("\xff", 1), -1);            /* never a lead byte */
    assert_int_equal(utf8_chars("ab\xc3\xa9", 3), -1);      /* len cuts the character */
}

static void test_blank(void **state)
{
    (void)state;
    assert_true(utf8_blank("", 0));
    assert_true(utf8_blank(" \t\r\n\v\f", 6));
    assert_false(utf8_blank(" x ", 3));
    assert_false(utf8_blank("\xc2\xa0", 2)); /* NO-BREAK SPACE is text here, as before */
    assert_false(utf8_blank(" \0 ", 3));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_valid_text_is_copied),
        cmocka_unit_test(test_blank),
        cmocka_unit_test(test_ill_formed_sequences_become_one_fffd_each),
        cmocka_unit_test(test_nul_and_controls_are_replaced),
        cmocka_unit_test(test_cut_never_splits_a_character),
        cmocka_unit_test(test_copy_valid_repairs_and_cuts_between_characters),
        cmocka_unit_test(test_partial_tail),
        cmocka_unit_test(test_chars_counts_code_points_or_refuses),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
