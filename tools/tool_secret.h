/* tool_secret.h — secrets in tool configs, sealed at rest and masked on the way out.
 *
 * Which members are secrets (the rule, the same for the admin API, the loader's cache and the
 * HTTP tool):
 *   - every value of config.headers: people put Authorization, X-Api-Key and the like there,
 *     so header values are always treated as secrets, whatever the header's name;
 *   - the top-level config members api_key, token, password and secret.
 *
 * Shapes of a secret value:
 *   sealed  {"$secret": "<Fernet token>"}       stored in tool_configs.config and in Redis; the
 *                                               token is made with the tool-secret purpose key
 *                                               (fernet_purpose_key(FERNET_KEY,
 *                                               FERNET_PURPOSE_TOOL_SECRET)), never with
 *                                               FERNET_KEY itself
 *   masked  {"$secret": "********", "set": true} what the admin API returns; sending it back
 *                                               (PUT/PATCH) keeps the stored value
 *   clear   "text"                              what a client writes; sealed on save. A clear
 *                                               value found in an older row is masked on the
 *                                               way out and still used by the agent (warned)
 * A JSON null header value is left alone (the HTTP tool sends nothing for it).
 */
#ifndef AGENTHUB_TOOL_SECRET_H
#define AGENTHUB_TOOL_SECRET_H

#include <json-c/json.h>
#include <stddef.h>

#define TOOL_SECRET_MEMBER "$secret"
#define TOOL_SECRET_MASK "********"
#define TOOL_SECRET_MAX_LEN 8192 /* longest clear value accepted */

enum tool_secret_status {
    TOOL_SECRET_OK = 0,
    TOOL_SECRET_ERR_INVALID = -1,    /* a value of the wrong type or size, or a bad token */
    TOOL_SECRET_ERR_NO_KEY = -2,     /* a clear value to seal and no key */
    TOOL_SECRET_ERR_NO_CURRENT = -3, /* a mask with no stored value behind it */
    TOOL_SECRET_ERR_UNREADABLE = -4, /* a sealed value that does not decrypt with the key */
    TOOL_SECRET_ERR_NOMEM = -5,
};

/* 1 when v is {"$secret": "<string>", ...}: sealed or masked. */
int tool_secret_is_sealed(json_object *v);
/* 1 when v is the mask ({"$secret": "********"}). */
int tool_secret_is_mask(json_object *v);

/* Seals cfg in place before it is stored. key: the tool-secret purpose key (NULL or "" when
 * FERNET_KEY is not set). current: the stored config of the tool being updated (NULL on a
 * create). For every secret member: a clear string (or number/boolean, as text) is encrypted;
 * a mask is replaced by the stored sealed value of the same member in current; a sealed token
 * is kept only when it decrypts with key. On failure cfg may be partly sealed; err names the
 * member (never its value). *sealed (may be NULL) counts the values encrypted now. */
int tool_secret_seal_config(json_object *cfg, json_object *current, const char *key, int *sealed,
                            char *err, size_t errlen);

/* Replaces every secret member of cfg, in place, by the mask (sealed and clear values alike).
 * NULL-safe; cfg not an object: nothing. */
void tool_secret_mask_config(json_object *cfg);

/* 1 when cfg holds a mask at a secret member (a client keeping a stored value). */
int tool_secret_config_has_mask(json_object *cfg);

/* 1 when cfg holds a secret member still in clear (an older row). */
int tool_secret_config_has_clear(json_object *cfg);

/* The clear text of one secret value: a string is returned as is (*was_clear = 1), a sealed
 * value is decrypted with key. *out is malloc'd, NUL-terminated; free it with
 * tool_secret_free_text (wipes it). A mask, a bad token or no key: TOOL_SECRET_ERR_UNREADABLE. */
int tool_secret_open(json_object *v, const char *key, char **out, int *was_clear);
void tool_secret_free_text(char *s);

#endif
