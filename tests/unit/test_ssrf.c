/* test_ssrf.c — the SSRF guard: every refused range, allowlists, URL checks. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "ssrf.h"

static void test_blocked_ranges(void **state)
{
    (void)state;
    static const char *blocked[] = {
        "127.0.0.1",
        "127.255.255.254",
        "10.0.0.1",
        "10.255.255.255",
        "172.16.0.1",
        "172.31.255.255",
        "192.168.1.1",
        "169.254.169.254",
        "0.0.0.0",
        "0.1.2.3",
        "224.0.0.1",
        "239.255.255.250",
        "255.255.255.255",
        "240.0.0.1",
        "100.64.0.1",
        "198.18.0.1",
        "::1",
        "::",
        "fc00::1",
        "fdff::1",
        "fe80::1",
        "febf::1",
        "ff02::1",
        "::ffff:127.0.0.1",
        "::ffff:10.0.0.1",
        "::ffff:169.254.169.254",
        "64:ff9b::7f00:1",
        "::127.0.0.1",
    };
    for (size_t i = 0; i < sizeof blocked / sizeof blocked[0]; i++) {
        if (ssrf_ip_blocked(blocked[i]) != 1)
            fail_msg("%s should be blocked", blocked[i]);
    }
    static const char *open[] = {
        "8.8.8.8",     "1.1.1.1",  "172.15.255.255",       "172.32.0.1",      "192.169.0.1",
        "100.128.0.1", "11.0.0.1", "2001:4860:4860::8888", "2606:4700::1111", "::ffff:8.8.8.8",
    };
    for (size_t i = 0; i < sizeof open / sizeof open[0]; i++) {
        if (ssrf_ip_blocked(open[i]) != 0)
            fail_msg("%s should be allowed", open[i]);
    }
    assert_int_equal(ssrf_ip_blocked("not-an-ip"), -1);
}

static void test_allowlist(void **state)
{
    (void)state;
    assert_true(ssrf_host_allowed("erp.local", "a.com, ERP.local ,b"));
    assert_true(ssrf_host_allowed("127.0.0.1", "127.0.0.1"));
    assert_true(ssrf_host_allowed("x.y.corp.example", "*.corp.example"));
    assert_false(ssrf_host_allowed("corp.example", "*.corp.example"));
    assert_false(ssrf_host_allowed("evilcorp.example", "*.corp.example"));
    assert_false(ssrf_host_allowed("erp.local.evil.com", "erp.local"));
    assert_false(ssrf_host_allowed("127.0.0.1", NULL));
    assert_false(ssrf_host_allowed("127.0.0.1", ""));
    assert_false(ssrf_host_allowed("127.0.0.1", ",,"));
    assert_true(ssrf_host_allowed("::1", "[::1]"));
}

static void test_check_url(void **state)
{
    (void)state;
    struct ssrf_target t;
    char err[256];
    /* loopback refused without an allowlist, by literal and by name */
    assert_int_not_equal(
        ssrf_check_url("http://127.0.0.1:18090/x", NULL, NULL, &t, err, sizeof err), 0);
    assert_non_null(strstr(err, "not allowed"));
    assert_int_not_equal(ssrf_check_url("http://localhost/x", NULL, NULL, &t, err, sizeof err), 0);
    assert_int_not_equal(ssrf_check_url("http://[::1]:80/", NULL, NULL, &t, err, sizeof err), 0);
    assert_int_not_equal(
        ssrf_check_url("http://169.254.169.254/latest/meta-data", NULL, NULL, &t, err, sizeof err),
        0);
    /* decimal / hex forms of 127.0.0.1 are resolved to the same address and refused */
    assert_int_not_equal(ssrf_check_url("http://2130706433/", NULL, NULL, &t, err, sizeof err), 0);
    assert_int_not_equal(ssrf_check_url("http://0x7f.1/", NULL, NULL, &t, err, sizeof err), 0);
    /* allowlisted: pinned */
    assert_int_equal(
        ssrf_check_url("http://127.0.0.1:18090/api/debt/1", "127.0.0.1", NULL, &t, err, sizeof err),
        0);
    assert_string_equal(t.resolve, "127.0.0.1:18090:127.0.0.1");
    assert_int_equal(t.port, 18090);
    assert_int_equal(t.https, 0);
    assert_int_equal(
        ssrf_check_url("https://localhost/x", NULL, "foo,localhost", &t, err, sizeof err), 0);
    assert_int_equal(t.port, 443);
    assert_int_equal(t.https, 1);
    assert_non_null(strstr(t.resolve, "localhost:443:"));
    /* public literal is fine with no allowlist */
    assert_int_equal(ssrf_check_url("https://8.8.8.8/dns", NULL, NULL, &t, err, sizeof err), 0);
    assert_string_equal(t.resolve, "8.8.8.8:443:8.8.8.8");
    /* schemes and userinfo */
    assert_int_not_equal(ssrf_check_url("file:///etc/passwd", NULL, NULL, &t, err, sizeof err), 0);
    assert_non_null(strstr(err, "http"));
    assert_int_not_equal(ssrf_check_url("gopher://8.8.8.8/", NULL, NULL, &t, err, sizeof err), 0);
    assert_int_not_equal(ssrf_check_url("ftp://8.8.8.8/", NULL, NULL, &t, err, sizeof err), 0);
    assert_int_not_equal(ssrf_check_url("http://u:p@8.8.8.8/", NULL, NULL, &t, err, sizeof err), 0);
    assert_int_not_equal(ssrf_check_url("not a url", NULL, NULL, &t, err, sizeof err), 0);
    assert_int_not_equal(
        ssrf_check_url("http://[fe80::1%25eth0]/", NULL, NULL, &t, err, sizeof err), 0);
    /* an unresolvable name (.invalid is reserved) */
    assert_int_not_equal(ssrf_check_url("http://nothing.invalid/", NULL, NULL, &t, err, sizeof err),
                         0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_blocked_ranges),
        cmocka_unit_test(test_allowlist),
        cmocka_unit_test(test_check_url),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
