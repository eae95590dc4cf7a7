/* ssrf.c — see ssrf.h. */
#include "ssrf.h"

#include <arpa/inet.h>
#include <curl/curl.h>
#include <errno.h>
#include <netdb.h>
#include <netinet/in.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

static int v4_blocked(uint32_t a) /* host byte order */
{
    static const struct {
        uint32_t net, mask;
    } ranges[] = {
        {0x00000000, 0xFF000000}, /* 0/8 this network */
        {0x0A000000, 0xFF000000}, /* 10/8 */
        {0x64400000, 0xFFC00000}, /* 100.64/10 CGNAT */
        {0x7F000000, 0xFF000000}, /* 127/8 loopback */
        {0xA9FE0000, 0xFFFF0000}, /* 169.254/16 link-local */
        {0xAC100000, 0xFFF00000}, /* 172.16/12 */
        {0xC0000000, 0xFFFFFF00}, /* 192.0.0/24 IETF protocol assignments */
        {0xC0A80000, 0xFFFF0000}, /* 192.168/16 */
        {0xC6120000, 0xFFFE0000}, /* 198.18/15 benchmarking */
        {0xE0000000, 0xF0000000}, /* 224/4 multicast */
        {0xF0000000, 0xF0000000}, /* 240/4 reserved + broadcast */
    };
    for (size_t i = 0; i < sizeof ranges / sizeof ranges[0]; i++)
        if ((a & ranges[i].mask) == ranges[i].net)
            return 1;
    return 0;
}

static int v6_blocked(const unsigned char *b)
{
    static const unsigned char zero[16] = {0};
    static const unsigned char mapped[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};
    static const unsigned char nat64[12] = {0, 0x64, 0xff, 0x9b, 0, 0, 0, 0, 0, 0, 0, 0};
    if (memcmp(b, zero, 15) == 0 && (b[15] == 0 || b[15] == 1)) /* :: and ::1 */
        return 1;
    if (memcmp(b, mapped, 12) == 0 || memcmp(b, nat64, 12) == 0 || memcmp(b, zero, 12) == 0) {
        uint32_t a =
            ((uint32_t)b[12] << 24) | ((uint32_t)b[13] << 16) | ((uint32_t)b[14] << 8) | b[15];
        return v4_blocked(a);
    }
    if ((b[0] & 0xFE) == 0xFC) /* fc00::/7 unique local */
        return 1;
    if (b[0] == 0xFE && (b[1] & 0xC0) == 0x80) /* fe80::/10 link-local */
        return 1;
    if (b[0] == 0xFE && (b[1] & 0xC0) == 0xC0) /* fec0::/10 old site-local */
        return 1;
    if (b[0] == 0xFF) /* ff00::/8 multicast */
        return 1;
    return 0;
}

int ssrf_addr_blocked(const struct sockaddr *sa)
{
    if (sa->sa_family == AF_INET) {
        const struct sockaddr_in *s4 = (const struct sockaddr_in *)(const void *)sa;
        return v4_blocked(ntohl(s4->sin_addr.s_addr));
    }
    if (sa->sa_family == AF_INET6) {
        const struct sockaddr_in6 *s6 = (const struct sockaddr_in6 *)(const void *)sa;
        return v6_blocked(s6->sin6_addr.s6_addr);
    }
    return 1;
}

int ssrf_ip_blocked(const char *ip)
{
    struct in_addr a4;
    struct in6_addr a6;
    if (inet_pton(AF_INET, ip, &a4) == 1)
        return v4_blocked(ntohl(a4.s_addr));
    if (inet_pton(AF_INET6, ip, &a6) == 1)
        return v6_blocked(a6.s6_addr);
    return -1;
}

/* Compares host with one allowlist entry [e, e+n). */
static int entry_matches(const char *host, const char *e, size_t n)
{
    while (n && (*e == ' ' || *e == '\t'))
        e++, n--;
    while (n && (e[n - 1] == ' ' || e[n - 1] == '\t'))
        n--;
    if (n == 0)
        return 0;
    size_t hl = strlen(host);
    if (n > 2 && e[0] == '*' && e[1] == '.') {
        size_t sl = n - 1; /* ".suffix" */
        return hl > sl && strncasecmp(host + hl - sl, e + 1, sl) == 0;
    }
    /* "[::1]" in a list names the address ::1 */
    if (n > 2 && e[0] == '[' && e[n - 1] == ']')
        e++, n -= 2;
    return hl == n && strncasecmp(host, e, n) == 0;
}

int ssrf_host_allowed(const char *host, const char *allowlist)
{
    if (!host || !allowlist)
        return 0;
    const char *p = allowlist;
    while (*p) {
        const char *c = strchr(p, ',');
        size_t n = c ? (size_t)(c - p) : strlen(p);
        if (entry_matches(host, p, n))
            return 1;
        if (!c)
            break;
        p = c + 1;
    }
    return 0;
}

/* Is ip one of the comma-separated entries of list ("1.2.3.4,[::1]")? */
static int addr_listed(const char *list, const char *ip)
{
    size_t il = strlen(ip);
    for (const char *p = list; *p;) {
        const char *c = strchr(p, ',');
        size_t n = c ? (size_t)(c - p) : strlen(p);
        const char *e = p;
        if (n >= 2 && e[0] == '[') {
            e++;
            n -= 2;
        }
        if (n == il && memcmp(e, ip, il) == 0)
            return 1;
        if (!c)
            break;
        p = c + 1;
    }
    return 0;
}

int ssrf_check_url(const char *url, const char *allow1, const char *allow2, struct ssrf_target *out,
                   char *err, size_t errlen)
{
    int rc = -EINVAL;
    CURLU *u = curl_url();
    char *scheme = NULL, *host = NULL, *port = NULL, *user = NULL;
    struct addrinfo *res = NULL;

    memset(out, 0, sizeof *out);
    if (!u) {
        snprintf(err, errlen, "out of memory");
        return -ENOMEM;
    }
    if (curl_url_set(u, CURLUPART_URL, url, 0) != CURLUE_OK) {
        snprintf(err, errlen, "invalid URL");
        goto out;
    }
    if (curl_url_get(u, CURLUPART_SCHEME, &scheme, 0) != CURLUE_OK ||
        (strcasecmp(scheme, "http") != 0 && strcasecmp(scheme, "https") != 0)) {
        snprintf(err, errlen, "only http and https URLs are allowed");
        goto out;
    }
    out->https = strcasecmp(scheme, "https") == 0;
    if (curl_url_get(u, CURLUPART_USER, &user, 0) == CURLUE_OK && user) {
        snprintf(err, errlen, "credentials in the URL are not allowed");
        goto out;
    }
    if (curl_url_get(u, CURLUPART_HOST, &host, 0) != CURLUE_OK || !host || !*host) {
        snprintf(err, errlen, "URL has no host");
        goto out;
    }
    if (curl_url_get(u, CURLUPART_PORT, &port, CURLU_DEFAULT_PORT) != CURLUE_OK) {
        snprintf(err, errlen, "URL has no port");
        goto out;
    }
    out->port = atoi(port);
    /* curl gives IPv6 literals in brackets; getaddrinfo wants them bare */
    char bare[256];
    size_t hl = strlen(host);
    if (hl >= sizeof bare) {
        snprintf(err, errlen, "host name too long");
        goto out;
    }
    if (host[0] == '[' && hl > 2 && host[hl - 1] == ']') {
        memcpy(bare, host + 1, hl - 2);
        bare[hl - 2] = 0;
    } else {
        memcpy(bare, host, hl + 1);
    }
    /* zone ids ("fe80::1%eth0") are never fine */
    if (strchr(bare, '%')) {
        snprintf(err, errlen, "host not allowed");
        goto out;
    }
    snprintf(out->host, sizeof out->host, "%s", bare);
    int allowed = ssrf_host_allowed(bare, allow1) || ssrf_host_allowed(bare, allow2);

    struct addrinfo hints = {.ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM};
    int gai = getaddrinfo(bare, NULL, &hints, &res);
    if (gai != 0 || !res) {
        snprintf(err, errlen, "cannot resolve host");
        rc = -EHOSTUNREACH;
        goto out;
    }
    /* CURLOPT_RESOLVE needs the name as curl sees it (brackets for v6 literals). */
    int n = snprintf(out->resolve, sizeof out->resolve, "%s:%d:", host, out->port);
    int naddr = 0;
    for (struct addrinfo *ai = res; ai; ai = ai->ai_next) {
        if (ai->ai_family != AF_INET && ai->ai_family != AF_INET6)
            continue;
        if (!allowed && ssrf_addr_blocked(ai->ai_addr)) {
            snprintf(err, errlen,
                     "host resolves to a private, loopback or reserved address (not allowed)");
            rc = -EACCES;
            goto out;
        }
        char ip[INET6_ADDRSTRLEN];
        const void *src =
            ai->ai_family == AF_INET
                ? (const void *)&((const struct sockaddr_in *)(const void *)ai->ai_addr)->sin_addr
                : (const void *)&((const struct sockaddr_in6 *)(const void *)ai->ai_addr)
                      ->sin6_addr;
        if (!inet_ntop(ai->ai_family, src, ip, sizeof ip))
            continue;
        /* skip duplicates (getaddrinfo lists one per socktype on some systems) */
        if (addr_listed(out->resolve + n, ip))
            continue;
        const char *fmt = ai->ai_family == AF_INET6 ? "%s[%s]" : "%s%s";
        size_t cur = strlen(out->resolve);
        int w = snprintf(out->resolve + cur, sizeof out->resolve - cur, fmt, naddr ? "," : "", ip);
        if (w < 0 || (size_t)w >= sizeof out->resolve - cur) {
            out->resolve[cur] = 0; /* keep what fits */
            break;
        }
        naddr++;
    }
    if (naddr == 0) {
        snprintf(err, errlen, "host has no usable address");
        rc = -EHOSTUNREACH;
        goto out;
    }
    rc = 0;
out:
    if (res)
        freeaddrinfo(res);
    curl_free(scheme);
    curl_free(host);
    curl_free(port);
    curl_free(user);
    curl_url_cleanup(u);
    return rc;
}
