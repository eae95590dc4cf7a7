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
        /* IPv4 special ranges added with issue 17 */
        "192.0.2.1",
        "192.88.99.1",
        "198.51.100.7",
        "203.0.113.9",
        "198.19.255.255",
        /* every embedded-IPv4 form is refused whole, private or not */
        "::ffff:8.8.8.8",
        "::ffff:0:7f00:1",
        "64:ff9b::808:808",
        "64:ff9b::a00:1",
        "64:ff9b:1::a00:1",
        "2002:7f00:1::1",
        "2002:a00:1::",
        "2002:808:808::1",
        "2001:0:4136:e378:8000:63bf:3fff:fdd2", /* Teredo */
        /* other special-purpose IPv6 */
        "100::1",
        "2001:db8::1",
        "2001:2::1",
        "2001:10::1",
        "2001:20::1",
        "3fff::1",
        "fec0::1",
        "fd00::1",
        "ff0e::1",
        "4000::1",
        "::2",
    };
    for (size_t i = 0; i < sizeof blocked / sizeof blocked[0]; i++) {
        if (ssrf_ip_blocked(blocked[i]) != 1)
            fail_msg("%s should be blocked", blocked[i]);
    }
    static const char *open[] = {
        "8.8.8.8",     "1.1.1.1",  "172.15.255.255",       "172.32.0.1",      "192.169.0.1",
        "100.128.0.1", "11.0.0.1", "2001:4860:4860::8888", "2606:4700::1111", "2a00:1450::1",
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
    /* host:port entries match that port only */
    assert_true(ssrf_host_allowed("erp.local", 8080, 0, "a.com:80, ERP.local:8080 ,b:1"));
    assert_false(ssrf_host_allowed("erp.local", 8081, 0, "a.com:80, ERP.local:8080 ,b:1"));
    assert_true(ssrf_host_allowed("127.0.0.1", 18090, 0, "127.0.0.1:18090"));
    assert_false(ssrf_host_allowed("127.0.0.1", 6379, 0, "127.0.0.1:18090"));
    /* a bare host means the scheme's default port, never every port */
    assert_true(ssrf_host_allowed("127.0.0.1", 80, 0, "127.0.0.1"));
    assert_true(ssrf_host_allowed("127.0.0.1", 443, 1, "127.0.0.1"));
    assert_false(ssrf_host_allowed("127.0.0.1", 443, 0, "127.0.0.1"));
    assert_false(ssrf_host_allowed("127.0.0.1", 5432, 0, "127.0.0.1"));
    assert_true(ssrf_host_allowed("x.y.corp.example", 443, 1, "*.corp.example:443"));
    assert_false(ssrf_host_allowed("x.y.corp.example", 444, 1, "*.corp.example:443"));
    assert_false(ssrf_host_allowed("corp.example", 443, 1, "*.corp.example:443"));
    assert_false(ssrf_host_allowed("evilcorp.example", 443, 1, "*.corp.example:443"));
    assert_false(ssrf_host_allowed("erp.local.evil.com", 80, 0, "erp.local:80"));
    assert_false(ssrf_host_allowed("127.0.0.1", 80, 0, NULL));
    assert_false(ssrf_host_allowed("127.0.0.1", 80, 0, ""));
    assert_false(ssrf_host_allowed("127.0.0.1", 80, 0, ",,"));
    assert_true(ssrf_host_allowed("::1", 8080, 0, "[::1]:8080"));
    assert_false(ssrf_host_allowed("::1", 8081, 0, "[::1]:8080"));
    assert_false(ssrf_host_allowed("::1", 80, 0, "::1")); /* v6 needs brackets */
    /* junk ports never match */
    assert_false(ssrf_host_allowed("h", 80, 0, "h:"));
    assert_false(ssrf_host_allowed("h", 80, 0, "h:80x"));
    assert_false(ssrf_host_allowed("h", 0, 0, "h:0"));
}

static void test_allowlist_valid(void **state)
{
    (void)state;
    char err[256];
    assert_int_equal(
        ssrf_allowlist_valid("erp.local:8080,[::1]:80,*.corp.example:443", 1, err, sizeof err), 0);
    assert_int_equal(ssrf_allowlist_valid(NULL, 1, err, sizeof err), 0);
    assert_int_not_equal(ssrf_allowlist_valid("erp.local", 1, err, sizeof err), 0);
    assert_non_null(strstr(err, "host:port"));
    assert_int_equal(ssrf_allowlist_valid("erp.local", 0, err, sizeof err), 0);
    assert_int_not_equal(ssrf_allowlist_valid("", 1, err, sizeof err), 0);
    assert_int_not_equal(ssrf_allowlist_valid("a:1,,b:2", 1, err, sizeof err), 0);
    assert_int_not_equal(ssrf_allowlist_valid("*:80", 1, err, sizeof err), 0);
    assert_int_not_equal(ssrf_allowlist_valid("*.com:80", 1, err, sizeof err), 0);
    assert_int_not_equal(ssrf_allowlist_valid("*.:80", 1, err, sizeof err), 0);
    assert_int_not_equal(ssrf_allowlist_valid("a*b.c:80", 1, err, sizeof err), 0);
    assert_int_not_equal(ssrf_allowlist_valid("h:0", 1, err, sizeof err), 0);
    assert_int_not_equal(ssrf_allowlist_valid("h:65536", 1, err, sizeof err), 0);
    assert_int_not_equal(ssrf_allowlist_valid("h:80/x", 1, err, sizeof err), 0);
    assert_int_not_equal(ssrf_allowlist_valid("::1:80", 1, err, sizeof err), 0);
    assert_int_not_equal(ssrf_allowlist_valid("h :80", 1, err, sizeof err), 0);
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
    assert_int_equal(ssrf_check_url("http://127.0.0.1:18090/api/debt/1", "127.0.0.1:18090", NULL,
                                    &t, err, sizeof err),
                     0);
    assert_int_equal(t.allowed, 1);
    assert_string_equal(t.resolve, "127.0.0.1:18090:127.0.0.1");
    assert_int_equal(t.port, 18090);
    assert_int_equal(t.https, 0);
    /* a host:port entry opens that port only, a bare host only the default port */
    assert_int_not_equal(
        ssrf_check_url("http://127.0.0.1:6379/", "127.0.0.1:18090", NULL, &t, err, sizeof err), 0);
    assert_int_not_equal(
        ssrf_check_url("http://127.0.0.1:18090/", "127.0.0.1", NULL, &t, err, sizeof err), 0);
    /* alternate IPv4 notations and embedded forms of loopback */
    assert_int_not_equal(ssrf_check_url("http://0177.0.0.1/", NULL, NULL, &t, err, sizeof err), 0);
    assert_int_not_equal(
        ssrf_check_url("http://[::ffff:127.0.0.1]/", NULL, NULL, &t, err, sizeof err), 0);
    assert_int_not_equal(
        ssrf_check_url("http://[64:ff9b::7f00:1]/", NULL, NULL, &t, err, sizeof err), 0);
    assert_int_not_equal(
        ssrf_check_url("http://[2002:7f00:1::1]/", NULL, NULL, &t, err, sizeof err), 0);
    assert_int_equal(
        ssrf_check_url("https://localhost/x", NULL, "foo:1,localhost:443", &t, err, sizeof err), 0);
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
        cmocka_unit_test(test_allowlist_valid),
        cmocka_unit_test(test_check_url),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
