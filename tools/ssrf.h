/* ssrf.h — server-side request forgery guard for tool HTTP calls.
 *
 * Tool endpoints are written by admins but filled in with LLM-chosen arguments, and a
 * redirect can point anywhere, so every URL a tool fetches goes through ssrf_check_url():
 *  - scheme http or https only, a host is required, no userinfo ("user:pw@");
 *  - the host is resolved here (getaddrinfo; blocking, but cheap for IP literals and the
 *    resolver cache) and EVERY address must be public: refused are loopback (127/8, ::1),
 *    "this network" (0/8, ::), private (10/8, 172.16/12, 192.168/16, fc00::/7), shared
 *    CGNAT (100.64/10), link-local (169.254/16, fe80::/10), multicast (224/4, ff00::/8),
 *    reserved (240/4, incl. 255.255.255.255), benchmarking (198.18/15), documentation
 *    (192.0.2/24, 198.51.100/24, 203.0.113/24), 6to4 relay (192.88.99/24); for IPv6 every
 *    special-purpose range: IPv4-mapped/-compatible/SIIT, NAT64 (64:ff9b::/96,
 *    64:ff9b:1::/48), discard 100::/64, 2001::/23 (Teredo, benchmarking, ORCHID),
 *    documentation (2001:db8::/32, 3fff::/20), 6to4 2002::/16, ULA, link-local, site-local,
 *    multicast, and anything outside 2000::/3. Embedded IPv4 forms are refused whole, so
 *    they never smuggle a private v4 address. Alternate IPv4 notations (2130706433,
 *    0177.0.0.1, 0x7f.1) resolve to the same address and are checked as that address;
 *  - unless (host, port) is on an allowlist: a comma-separated list of "host:port"
 *    entries (host case-insensitive, exact; "*.suffix:port" any subdomain of suffix;
 *    "[v6]:port" for IPv6 literals). A bare "host" entry means the scheme's default port
 *    only (80 for http, 443 for https): an allow-list never opens every port of a host;
 *  - the addresses checked are pinned for the transfer with CURLOPT_RESOLVE
 *    ("host:port:addr,addr"), so a DNS answer that changes between check and connect
 *    (rebinding) cannot redirect the request.
 * Redirects are followed by the caller, one ssrf_check_url() per hop. Every curl handle
 * that fetches such a URL calls ssrf_curl_setup(): no proxy (environment variables are
 * ignored), the pinned addresses, and a connect-time check of the actual address.
 */
#ifndef AGENTHUB_SSRF_H
#define AGENTHUB_SSRF_H

#include <stddef.h>
#include <curl/curl.h>
#include <sys/socket.h>

struct ssrf_target {
    char resolve[512]; /* "host:port:addr[,addr...]" for CURLOPT_RESOLVE */
    char host[256];
    int port;
    int https;
    int allowed; /* (host, port) was on an allowlist: private addresses are fine */
};

/* 1 when the address is in a refused range, 0 when public. */
int ssrf_addr_blocked(const struct sockaddr *sa);
/* Same, for an IP literal; -1 when ip is not an address. */
int ssrf_ip_blocked(const char *ip);
/* 1 when (host, port) matches one entry of the comma-separated allowlist (NULL: none);
 * https picks the default port a bare-host entry stands for. */
int ssrf_host_allowed(const char *host, int port, int https, const char *allowlist);
/* 0 when list is a well-formed allowlist (NULL is); negative with err otherwise: empty
 * entries, bad characters, ports outside 1..65535, wildcards wider than "*.a.b", and (with
 * require_port) entries without a port are refused. */
int ssrf_allowlist_valid(const char *list, int require_port, char *err, size_t errlen);
/* 0 when url may be fetched (out filled); negative with err ("host resolves to a private
 * address", ...) otherwise. Both allowlists apply (either may be NULL). */
int ssrf_check_url(const char *url, const char *allow1, const char *allow2, struct ssrf_target *out,
                   char *err, size_t errlen);

/* Sets the guard's options on a curl handle: CURLOPT_PROXY "" and NOPROXY "*", the pinned
 * resolve list (kept alive by the caller for the transfer), http/https only, no
 * FOLLOWLOCATION, and an OPENSOCKETFUNCTION that refuses a blocked connect address unless t
 * was allow-listed. t must outlive the transfer. */
int ssrf_curl_setup(CURL *e, const struct ssrf_target *t, struct curl_slist *resolve);

#endif
