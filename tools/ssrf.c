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
        {0xC0000200, 0xFFFFFF00}, /* 192.0.2/24 TEST-NET-1 */
        {0xC0586300, 0xFFFFFF00}, /* 192.88.99/24 6to4 relay anycast */
        {0xC0A80000, 0xFFFF0000}, /* 192.168/16 */
        {0xC6120000, 0xFFFE0000}, /* 198.18/15 benchmarking */
        {0xC6336400, 0xFFFFFF00}, /* 198.51.100/24 TEST-NET-2 */
        {0xCB007100, 0xFFFFFF00}, /* 203.0.113/24 TEST-NET-3 */
        {0xE0000000, 0xF0000000}, /* 224/4 multicast */
        {0xF0000000, 0xF0000000}, /* 240/4 reserved + broadcast */
    };
    for (size_t i = 0; i < sizeof ranges / sizeof ranges[0]; i++)
        if ((a & ranges[i].mask) == ranges[i].net)
            return 1;
    return 0;
}

/* Every special-purpose IPv6 range (IANA registry) is refused outright, including the
 * translation forms (NAT64, 6to4, Teredo, mapped, compatible): an address that embeds an
 * IPv4 address reaches whatever that IPv4 address is through a gateway, so it is never a
 * public destination of its own. Only global unicast outside those ranges passes. */
static int v6_blocked(const unsigned char *b)
{
    static const unsigned char zero[16] = {0};
    static const unsigned char mapped[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};
    static const struct {
        unsigned char p[16];
        int bits;
    } ranges[] = {
        {{0x00, 0x64, 0xff, 0x9b}, 96},             /* 64:ff9b::/96 NAT64 well-known */
        {{0x00, 0x64, 0xff, 0x9b, 0x00, 0x01}, 48}, /* 64:ff9b:1::/48 NAT64 local-use */
        {{0x01, 0x00}, 64},                         /* 100::/64 discard-only */
        {{0x20, 0x01, 0x00, 0x00}, 23},             /* 2001::/23 IETF protocol assignments
                                                       (Teredo 2001::/32, benchmarking
                                                       2001:2::/48, ORCHID 2001:10::/28 and
                                                       ORCHIDv2 2001:20::/28 all inside) */
        {{0x20, 0x01, 0x0d, 0xb8}, 32},             /* 2001:db8::/32 documentation */
        {{0x20, 0x02}, 16},                         /* 2002::/16 6to4 */
        {{0x3f, 0xff}, 20},                         /* 3fff::/20 documentation */
        {{0x5f, 0x00}, 16},                         /* 5f00::/16 SRv6 SIDs */
        {{0xfc}, 7},                                /* fc00::/7 unique local */
        {{0xfe, 0x80}, 10},                         /* fe80::/10 link-local */
        {{0xfe, 0xc0}, 10},                         /* fec0::/10 old site-local */
        {{0xff}, 8},                                /* ff00::/8 multicast */
    };
    if (memcmp(b, zero, 12) == 0) /* ::, ::1, IPv4-compatible ::a.b.c.d (deprecated) */
        return 1;
    if (memcmp(b, mapped, 12) == 0) /* ::ffff:a.b.c.d: what the v4 address is */
        return 1;
    /* ::ffff:0:a.b.c.d (SIIT, RFC 2765) */
    if (memcmp(b, zero, 8) == 0 && b[8] == 0xff && b[9] == 0xff && b[10] == 0 && b[11] == 0)
        return 1;
    for (size_t i = 0; i < sizeof ranges / sizeof ranges[0]; i++) {
        int bits = ranges[i].bits, full = bits / 8, rem = bits % 8;
        if (memcmp(b, ranges[i].p, (size_t)full) != 0)
            continue;
        if (rem) {
            unsigned char m = (unsigned char)(0xFF << (8 - rem));
            if ((b[full] & m) != (ranges[i].p[full] & m))
                continue;
        }
        return 1;
    }
    /* outside 2000::/3 nothing is allocated as global unicast */
    if ((b[0] & 0xE0) != 0x20)
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

/* Compares (host, port) with one allowlist entry [e, e+n): "host:port", "[v6]:port",
 * "*.suffix:port", or a bare "host" that names the scheme's default port only. */
static int entry_matches(const char *host, int port, int https, const char *e, size_t n)
{
    while (n && (*e == ' ' || *e == '\t'))
        e++, n--;
    while (n && (e[n - 1] == ' ' || e[n - 1] == '\t'))
        n--;
    if (n == 0)
        return 0;
    int eport = https ? 443 : 80;
    /* the port: after the last ':' that is not inside brackets */
    const char *colon = NULL;
    if (e[0] == '[') {
        const char *rb = memchr(e, ']', n);
        if (!rb)
            return 0;
        if ((size_t)(rb - e) + 1 < n) {
            if (rb[1] != ':')
                return 0;
            colon = rb + 1;
        }
    } else {
        colon = memchr(e, ':', n);
        if (colon && memchr(colon + 1, ':', n - (size_t)(colon + 1 - e)))
            return 0; /* a bare IPv6 literal must be written in brackets */
    }
    if (colon) {
        size_t pl = n - (size_t)(colon + 1 - e);
        if (pl == 0 || pl > 5)
            return 0;
        int v = 0;
        for (size_t i = 0; i < pl; i++) {
            if (colon[1 + i] < '0' || colon[1 + i] > '9')
                return 0;
            v = v * 10 + (colon[1 + i] - '0');
        }
        if (v < 1 || v > 65535)
            return 0;
        eport = v;
        n = (size_t)(colon - e);
    }
    if (port != eport || n == 0)
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

int ssrf_host_allowed(const char *host, int port, int https, const char *allowlist)
{
    if (!host || !allowlist)
        return 0;
    const char *p = allowlist;
    while (*p) {
        const char *c = strchr(p, ',');
        size_t n = c ? (size_t)(c - p) : strlen(p);
        if (entry_matches(host, port, https, p, n))
            return 1;
        if (!c)
            break;
        p = c + 1;
    }
    return 0;
}

int ssrf_allowlist_valid(const char *list, int require_port, char *err, size_t errlen)
{
    if (!list)
        return 0;
    const char *p = list;
    int count = 0;
    while (1) {
        const char *c = strchr(p, ',');
        size_t n = c ? (size_t)(c - p) : strlen(p);
        while (n && (*p == ' ' || *p == '\t'))
            p++, n--;
        while (n && (p[n - 1] == ' ' || p[n - 1] == '\t'))
            n--;
        if (n == 0) {
            if (!c && count > 0)
                break;
            snprintf(err, errlen, "empty allow-list entry");
            return -EINVAL;
        }
        char e[300];
        if (n >= sizeof e) {
            snprintf(err, errlen, "allow-list entry too long");
            return -EINVAL;
        }
        memcpy(e, p, n);
        e[n] = 0;
        for (size_t i = 0; i < n; i++) {
            char ch = e[i];
            if (!((ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') ||
                  (ch >= '0' && ch <= '9') || ch == '.' || ch == '-' || ch == '_' || ch == ':' ||
                  ch == '[' || ch == ']' || (ch == '*' && i == 0))) {
                snprintf(err, errlen, "allow-list entry \"%.64s\": invalid character", e);
                return -EINVAL;
            }
        }
        char *colon = e[0] == '[' ? strstr(e, "]:") : strrchr(e, ':');
        if (colon && e[0] == '[')
            colon++;
        if (e[0] != '[' && colon && strchr(e, ':') != colon) {
            snprintf(err, errlen, "allow-list entry \"%.64s\": write IPv6 as [addr]:port", e);
            return -EINVAL;
        }
        if (!colon && require_port) {
            snprintf(err, errlen, "allow-list entry \"%.64s\" must be host:port", e);
            return -EINVAL;
        }
        if (colon) {
            char *end = NULL;
            long v = strtol(colon + 1, &end, 10);
            if (!colon[1] || *end || v < 1 || v > 65535) {
                snprintf(err, errlen, "allow-list entry \"%.64s\": invalid port", e);
                return -EINVAL;
            }
            *colon = 0;
        }
        const char *h = e;
        if (h[0] == '*') {
            /* "*.suffix" needs a suffix with at least one inner dot ("*.corp.example", never
             * "*." or "*.com") */
            if (h[1] != '.' || !strchr(h + 2, '.') || h[2] == '.' || h[2] == 0) {
                snprintf(err, errlen, "allow-list entry \"%.64s\": wildcard too wide", p);
                return -EINVAL;
            }
        }
        if (!h[0] || strchr(h + 1, '*')) {
            snprintf(err, errlen, "allow-list entry has no host or a misplaced wildcard");
            return -EINVAL;
        }
        count++;
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
    int allowed = ssrf_host_allowed(bare, out->port, out->https, allow1) ||
                  ssrf_host_allowed(bare, out->port, out->https, allow2);
    out->allowed = allowed;

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

/* The connect-time check: whatever curl is about to connect to (a pinned address, a proxy
 * an environment variable named, a happy-eyeballs fallback) is checked again here. */
static curl_socket_t opensocket_cb(void *clientp, curlsocktype purpose, struct curl_sockaddr *a)
{
    const struct ssrf_target *t = clientp;
    (void)purpose;
    if (!t || (a->family != AF_INET && a->family != AF_INET6))
        return CURL_SOCKET_BAD;
    if (!t->allowed && ssrf_addr_blocked(&a->addr))
        return CURL_SOCKET_BAD;
    /* only the checked port: no proxy, no other service on an allow-listed host */
    int port = a->family == AF_INET
                   ? ntohs(((const struct sockaddr_in *)(const void *)&a->addr)->sin_port)
                   : ntohs(((const struct sockaddr_in6 *)(const void *)&a->addr)->sin6_port);
    if (port != t->port)
        return CURL_SOCKET_BAD;
    return socket(a->family, a->socktype, a->protocol);
}

int ssrf_curl_setup(CURL *e, const struct ssrf_target *t, struct curl_slist *resolve)
{
    /* "" disables every proxy, also the ones http_proxy/HTTPS_PROXY/ALL_PROXY name */
    if (curl_easy_setopt(e, CURLOPT_PROXY, "") != CURLE_OK ||
        curl_easy_setopt(e, CURLOPT_NOPROXY, "*") != CURLE_OK ||
        curl_easy_setopt(e, CURLOPT_RESOLVE, resolve) != CURLE_OK ||
        curl_easy_setopt(e, CURLOPT_PROTOCOLS_STR, "http,https") != CURLE_OK ||
        curl_easy_setopt(e, CURLOPT_FOLLOWLOCATION, 0L) != CURLE_OK ||
        curl_easy_setopt(e, CURLOPT_OPENSOCKETFUNCTION, opensocket_cb) != CURLE_OK ||
        curl_easy_setopt(e, CURLOPT_OPENSOCKETDATA, (void *)t) != CURLE_OK)
        return -EINVAL;
    return 0;
}
