/* ssrf.h — server-side request forgery guard for tool HTTP calls.
 *
 * Tool endpoints are written by admins but filled in with LLM-chosen arguments, and a
 * redirect can point anywhere, so every URL a tool fetches goes through ssrf_check_url():
 *  - scheme http or https only, a host is required, no userinfo ("user:pw@");
 *  - the host is resolved here (getaddrinfo; blocking, but cheap for IP literals and the
 *    resolver cache) and EVERY address must be public: refused are loopback (127/8, ::1),
 *    "this network" (0/8, ::), private (10/8, 172.16/12, 192.168/16, fc00::/7), shared
 *    CGNAT (100.64/10), link-local (169.254/16, fe80::/10), multicast (224/4, ff00::/8),
 *    reserved (240/4, incl. 255.255.255.255), benchmarking (198.18/15), and IPv4-mapped /
 *    IPv4-compatible / NAT64 (64:ff9b::/96) forms of those;
 *  - unless the host is on the allowlist: a comma-separated list of host names (case-
 *    insensitive, exact), "*.suffix" (any subdomain of suffix), or IP literals;
 *  - the addresses checked are pinned for the transfer with CURLOPT_RESOLVE
 *    ("host:port:addr,addr"), so a DNS answer that changes between check and connect
 *    (rebinding) cannot redirect the request.
 * Redirects are followed by the caller, one ssrf_check_url() per hop.
 */
#ifndef AGENTHUB_SSRF_H
#define AGENTHUB_SSRF_H

#include <stddef.h>
#include <sys/socket.h>

struct ssrf_target {
    char resolve[512]; /* "host:port:addr[,addr...]" for CURLOPT_RESOLVE */
    char host[256];
    int port;
    int https;
};

/* 1 when the address is in a refused range, 0 when public. */
int ssrf_addr_blocked(const struct sockaddr *sa);
/* Same, for an IP literal; -1 when ip is not an address. */
int ssrf_ip_blocked(const char *ip);
/* 1 when host matches one entry of the comma-separated allowlist (NULL: none). */
int ssrf_host_allowed(const char *host, const char *allowlist);
/* 0 when url may be fetched (out filled); negative with err ("host resolves to a private
 * address", ...) otherwise. Both allowlists apply (either may be NULL). */
int ssrf_check_url(const char *url, const char *allow1, const char *allow2, struct ssrf_target *out,
                   char *err, size_t errlen);

#endif
