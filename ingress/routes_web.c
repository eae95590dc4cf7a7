/* routes_web.c — the static web UI from INGRESS_WEB_ROOT:
 *   /            index.html (chat widget)     /admin    admin.html     /monitor  monitor.html
 *   /web/NAME    any file NAME ([A-Za-z0-9._-], no leading dot) of the folder
 */
#include "ingress.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#define WEB_MAX_FILE ((size_t)4 * 1024 * 1024)

static int name_ok(const char *s)
{
    if (!*s || *s == '.' || strlen(s) > 100)
        return 0;
    for (; *s; s++)
        if (!((*s >= 'a' && *s <= 'z') || (*s >= 'A' && *s <= 'Z') || (*s >= '0' && *s <= '9') ||
              *s == '.' || *s == '-' || *s == '_'))
            return 0;
    return 1;
}

static const char *mime_of(const char *name)
{
    const char *dot = strrchr(name, '.');
    if (!dot)
        return "application/octet-stream";
    if (strcmp(dot, ".html") == 0)
        return "text/html; charset=utf-8";
    if (strcmp(dot, ".js") == 0)
        return "text/javascript; charset=utf-8";
    if (strcmp(dot, ".css") == 0)
        return "text/css; charset=utf-8";
    if (strcmp(dot, ".json") == 0)
        return "application/json";
    if (strcmp(dot, ".svg") == 0)
        return "image/svg+xml";
    if (strcmp(dot, ".png") == 0)
        return "image/png";
    return "application/octet-stream";
}

static int asset(const char *name)
{
    const char *dot = strrchr(name, '.');
    return dot && (strcmp(dot, ".js") == 0 || strcmp(dot, ".css") == 0 ||
                   strcmp(dot, ".svg") == 0 || strcmp(dot, ".png") == 0);
}

void routes_web(struct req *r)
{
    const char *name = NULL;
    if (strcmp(r->ri->request_method, "GET") != 0 && strcmp(r->ri->request_method, "HEAD") != 0) {
        reply_method_not_allowed(r, "GET, HEAD");
        return;
    }
    if (r->nsegs == 0)
        name = "index.html";
    else if (r->nsegs == 1 && strcmp(r->segs[0], "admin") == 0)
        name = "admin.html";
    else if (r->nsegs == 1 && strcmp(r->segs[0], "monitor") == 0)
        name = "monitor.html";
    else if (r->nsegs == 2 && strcmp(r->segs[0], "web") == 0 && name_ok(r->segs[1]))
        name = r->segs[1];
    if (!name) {
        reply_error(r, 404, "not_found", "no such route");
        return;
    }
    char path[4096];
    snprintf(path, sizeof path, "%s/%s", r->app->cfg.web_root, name);
    FILE *f = fopen(path, "rb");
    if (!f) {
        reply_error(r, 404, "not_found", "no such file");
        return;
    }
    /* Scripts, styles and images (widget.js on every page of a customer's site) are cached
     * and revalidated. Their ETag is the file's size and modification time, known before a
     * byte is read: a revalidation (304) costs an fstat, not a read and a hash of the file;
     * replicas built from one image share it. Pages and JSON (the demo's token file) stay
     * no-store. */
    char hdrs[512] = "";
    struct stat st;
    if (asset(name) && fstat(fileno(f), &st) == 0) {
        unsigned long long v = (unsigned long long)st.st_mtim.tv_sec * 1000000000ULL +
                               (unsigned long long)st.st_mtim.tv_nsec;
        v ^= (unsigned long long)st.st_size * 0x9E3779B97F4A7C15ULL;
        char etag[24];
        snprintf(etag, sizeof etag, "\"%016llx\"", v);
        r->cache_control = "no-cache";
        snprintf(hdrs, sizeof hdrs, "ETag: %s\r\n", etag);
        const char *inm = mg_get_header(r->conn, "If-None-Match");
        if (inm && strstr(inm, etag)) {
            fclose(f);
            reply_raw(r, 304, NULL, "", 0, hdrs);
            return;
        }
    }
    char *buf = malloc(WEB_MAX_FILE);
    size_t n = buf ? fread(buf, 1, WEB_MAX_FILE, f) : 0;
    fclose(f);
    if (!buf) {
        reply_error(r, 500, "internal", "out of memory");
        return;
    }
    snprintf(hdrs + strlen(hdrs), sizeof hdrs - strlen(hdrs), "%s",
             "Content-Security-Policy: default-src 'self'; style-src 'self' 'unsafe-inline'; "
             "script-src 'self' 'unsafe-inline'; connect-src 'self'\r\n"
             "X-Frame-Options: DENY\r\n");
    reply_raw(r, 200, mime_of(name), buf, n, hdrs);
    free(buf);
}
