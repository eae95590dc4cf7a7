/* tool_secret.c — seal, mask and open the secret members of a tool config (tool_secret.h). */
#include "tool_secret.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fernet.h"

static const char *const TOP_SECRETS[] = {"api_key", "token", "password", "secret"};

int tool_secret_is_sealed(json_object *v)
{
    json_object *s;
    return json_object_is_type(v, json_type_object) &&
           json_object_object_get_ex(v, TOOL_SECRET_MEMBER, &s) &&
           json_object_is_type(s, json_type_string);
}

int tool_secret_is_mask(json_object *v)
{
    json_object *s;
    return tool_secret_is_sealed(v) && json_object_object_get_ex(v, TOOL_SECRET_MEMBER, &s) &&
           strcmp(json_object_get_string(s), TOOL_SECRET_MASK) == 0;
}

static const char *sealed_token(json_object *v)
{
    json_object *s;
    if (!tool_secret_is_sealed(v) || tool_secret_is_mask(v))
        return NULL;
    json_object_object_get_ex(v, TOOL_SECRET_MEMBER, &s);
    return json_object_get_string(s);
}

static json_object *sealed_new(const char *token)
{
    json_object *o = json_object_new_object();
    if (o)
        json_object_object_add(o, TOOL_SECRET_MEMBER, json_object_new_string(token));
    return o;
}

static json_object *mask_new(void)
{
    json_object *o = json_object_new_object();
    if (o) {
        json_object_object_add(o, TOOL_SECRET_MEMBER, json_object_new_string(TOOL_SECRET_MASK));
        json_object_object_add(o, "set", json_object_new_boolean(1));
    }
    return o;
}

/* The visitor: each secret member of cfg, with the member of the same place in cur (may be
 * NULL). where names it for errors ("headers.X-Api-Key", "api_key"). */
typedef int (*visit_fn)(void *opaque, json_object *container, const char *name, json_object *v,
                        json_object *cur_v, const char *where);

static int visit(json_object *cfg, json_object *cur, visit_fn fn, void *opaque)
{
    json_object *h = NULL, *ch = NULL, *v = NULL, *cv = NULL;
    char where[160];
    int rc;
    if (!json_object_is_type(cfg, json_type_object))
        return 0;
    if (!json_object_is_type(cur, json_type_object))
        cur = NULL;
    if (json_object_object_get_ex(cfg, "headers", &h) && json_object_is_type(h, json_type_object)) {
        if (cur && (!json_object_object_get_ex(cur, "headers", &ch) ||
                    !json_object_is_type(ch, json_type_object)))
            ch = NULL;
        /* the foreach macro's iterator survives replacing the current member's value */
        json_object_object_foreach(h, hk, hv)
        {
            cv = NULL;
            if (ch)
                json_object_object_get_ex(ch, hk, &cv);
            snprintf(where, sizeof where, "headers.%.100s", hk);
            if ((rc = fn(opaque, h, hk, hv, cv, where)) != 0)
                return rc;
        }
    }
    for (size_t i = 0; i < sizeof TOP_SECRETS / sizeof TOP_SECRETS[0]; i++) {
        if (!json_object_object_get_ex(cfg, TOP_SECRETS[i], &v))
            continue;
        cv = NULL;
        if (cur)
            json_object_object_get_ex(cur, TOP_SECRETS[i], &cv);
        if ((rc = fn(opaque, cfg, TOP_SECRETS[i], v, cv, TOP_SECRETS[i])) != 0)
            return rc;
    }
    return 0;
}

struct seal_state {
    const char *key;
    int sealed;
    char *err;
    size_t errlen;
};

static int seal_one(void *opaque, json_object *container, const char *name, json_object *v,
                    json_object *cur_v, const char *where)
{
    struct seal_state *s = opaque;
    char *token = NULL;
    const char *text;
    size_t len;
    if (!v)
        return 0; /* null: nothing sent, nothing to protect */
    if (tool_secret_is_mask(v)) {
        const char *cur_tok = sealed_token(cur_v);
        if (cur_tok) {
            json_object *keep = sealed_new(cur_tok);
            if (!keep)
                return TOOL_SECRET_ERR_NOMEM;
            json_object_object_add(container, name, keep);
            return 0;
        }
        if (cur_v && json_object_is_type(cur_v, json_type_string)) {
            /* an older row's clear value behind the mask: sealed now */
            v = cur_v;
        } else {
            snprintf(s->err, s->errlen,
                     "%s: the mask stands for a stored secret, and there is none", where);
            return TOOL_SECRET_ERR_NO_CURRENT;
        }
    } else if (tool_secret_is_sealed(v)) {
        unsigned char *plain = NULL;
        size_t plen = 0;
        json_object *m;
        if (!s->key || !*s->key) {
            snprintf(s->err, s->errlen, "%s: a sealed value cannot be checked without FERNET_KEY",
                     where);
            return TOOL_SECRET_ERR_NO_KEY;
        }
        /* only {"$secret": token}, and only a token made with this key */
        if (json_object_object_length(v) != 1 ||
            !json_object_object_get_ex(v, TOOL_SECRET_MEMBER, &m) ||
            fernet_decrypt(s->key, json_object_get_string(m), 0, &plain, &plen) != FERNET_OK) {
            snprintf(s->err, s->errlen, "%s: not a secret sealed with this deployment's key",
                     where);
            return TOOL_SECRET_ERR_INVALID;
        }
        explicit_bzero(plain, plen);
        free(plain);
        return 0;
    }
    json_type t = json_object_get_type(v);
    if (t != json_type_string && t != json_type_int && t != json_type_double &&
        t != json_type_boolean) {
        snprintf(s->err, s->errlen, "%s: must be a string (or the mask)", where);
        return TOOL_SECRET_ERR_INVALID;
    }
    text = json_object_get_string(v);
    len = t == json_type_string ? (size_t)json_object_get_string_len(v) : strlen(text);
    if (len > TOOL_SECRET_MAX_LEN || strlen(text) != len) {
        snprintf(s->err, s->errlen, "%s: too long or holds a NUL", where);
        return TOOL_SECRET_ERR_INVALID;
    }
    if (!s->key || !*s->key) {
        snprintf(s->err, s->errlen,
                 "%s: FERNET_KEY is not configured, so the secret cannot be stored", where);
        return TOOL_SECRET_ERR_NO_KEY;
    }
    if (fernet_encrypt(s->key, text, len, &token) != FERNET_OK) {
        snprintf(s->err, s->errlen, "%s: cannot seal the secret", where);
        return TOOL_SECRET_ERR_NOMEM;
    }
    json_object *sealed = sealed_new(token);
    free(token);
    if (!sealed)
        return TOOL_SECRET_ERR_NOMEM;
    json_object_object_add(container, name, sealed); /* frees the clear value */
    s->sealed++;
    return 0;
}

int tool_secret_seal_config(json_object *cfg, json_object *current, const char *key, int *sealed,
                            char *err, size_t errlen)
{
    char dummy[8];
    struct seal_state s = {key, 0, err ? err : dummy, err ? errlen : sizeof dummy};
    s.err[0] = 0;
    int rc = visit(cfg, current, seal_one, &s);
    if (sealed)
        *sealed = s.sealed;
    return rc;
}

static int mask_one(void *opaque, json_object *container, const char *name, json_object *v,
                    json_object *cur_v, const char *where)
{
    (void)opaque;
    (void)cur_v;
    (void)where;
    if (!v)
        return 0;
    json_object *m = mask_new();
    if (!m)
        return TOOL_SECRET_ERR_NOMEM;
    json_object_object_add(container, name, m);
    return 0;
}

void tool_secret_mask_config(json_object *cfg)
{
    visit(cfg, NULL, mask_one, NULL);
}

static int clear_one(void *opaque, json_object *container, const char *name, json_object *v,
                     json_object *cur_v, const char *where)
{
    (void)opaque;
    (void)container;
    (void)name;
    (void)cur_v;
    (void)where;
    return v && !tool_secret_is_sealed(v) ? 1 : 0;
}

static int mask_found(void *opaque, json_object *container, const char *name, json_object *v,
                      json_object *cur_v, const char *where)
{
    (void)opaque;
    (void)container;
    (void)name;
    (void)cur_v;
    (void)where;
    return tool_secret_is_mask(v) ? 1 : 0;
}

int tool_secret_config_has_mask(json_object *cfg)
{
    return visit(cfg, NULL, mask_found, NULL) == 1;
}

int tool_secret_config_has_clear(json_object *cfg)
{
    return visit(cfg, NULL, clear_one, NULL) == 1;
}

int tool_secret_open(json_object *v, const char *key, char **out, int *was_clear)
{
    unsigned char *plain = NULL;
    size_t len = 0;
    *out = NULL;
    if (was_clear)
        *was_clear = 0;
    if (!tool_secret_is_sealed(v)) {
        const char *s = json_object_get_string(v);
        if (!s)
            return TOOL_SECRET_ERR_INVALID;
        if (!(*out = strdup(s)))
            return TOOL_SECRET_ERR_NOMEM;
        if (was_clear)
            *was_clear = 1;
        return TOOL_SECRET_OK;
    }
    const char *tok = sealed_token(v);
    if (!tok || !key || !*key || fernet_decrypt(key, tok, 0, &plain, &len) != FERNET_OK)
        return TOOL_SECRET_ERR_UNREADABLE;
    if (strlen((char *)plain) != len) { /* a NUL inside: never a header value */
        explicit_bzero(plain, len);
        free(plain);
        return TOOL_SECRET_ERR_UNREADABLE;
    }
    *out = (char *)plain;
    return TOOL_SECRET_OK;
}

void tool_secret_free_text(char *s)
{
    if (!s)
        return;
    explicit_bzero(s, strlen(s));
    free(s);
}
