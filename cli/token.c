/* agenthubctl token — signs an RS256 JWT the ingress accepts.
 *
 * Claims: sub, tenant_id, roles (array, possibly empty), iat, exp = iat + ttl, and iss / aud
 * when given; header kid when given. The token is printed on stdout (it is the output).
 *
 * --operator: a platform operator token instead, for the admin API (the ingress verifies it
 * with OPERATOR_PUBLIC_KEY_FILE, never with the tenant keys): sub (the operator's name, as
 * the audit log shows it), token_use "operator", iat, exp, iss / aud; no tenant_id, no roles.
 * Sign it with the operator's own key, never a tenant key.
 */
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <json-c/json.h>
#include <jwt.h>

#include "commands.h"
#include "envelope.h"

#define TOKEN_MAX_KEY ((size_t)64 * 1024)
#define TOKEN_MAX_TTL (366L * 24 * 3600)

static const char token_details[] =
    "  --key PRIV.pem   RSA private key (PEM), e.g. from 'agenthubctl keygen'\n"
    "  --tenant T       tenant_id claim ([A-Za-z0-9_-]{1,64})\n"
    "  --sub U          subject (the user id)\n"
    "  --roles a,b      roles claim, comma separated (default: none)\n"
    "  --ttl SECONDS    lifetime, 1..31622400 (default: 3600)\n"
    "  --kid K          key id header\n"
    "  --iss I          issuer claim\n"
    "  --aud A          audience claim\n"
    "  --operator       a platform operator token (sign with the operator key; no --tenant,\n"
    "                   no --roles): the ingress checks it against OPERATOR_PUBLIC_KEY_FILE\n";

/* {"roles":[...]} from "a,b" (empty items skipped); NULL on bad input or no memory. */
static char *token_roles_json(const char *roles)
{
    json_object *o = json_object_new_object(), *arr = json_object_new_array();
    char *copy = strdup(roles ? roles : ""), *save = NULL, *tok, *out = NULL;
    if (!o || !arr || !copy)
        goto out;
    for (tok = strtok_r(copy, ",", &save); tok; tok = strtok_r(NULL, ",", &save)) {
        json_object *s = json_object_new_string(tok);
        if (!s || json_object_array_add(arr, s) != 0) {
            json_object_put(s);
            goto out;
        }
    }
    if (json_object_object_add(o, "roles", arr) != 0)
        goto out;
    arr = NULL; /* now owned by o */
    out = strdup(json_object_to_json_string_ext(o, JSON_C_TO_STRING_PLAIN));
out:
    json_object_put(arr);
    json_object_put(o);
    free(copy);
    return out;
}

static int token_run(int argc, char **argv)
{
    static const struct option opts[] = {
        {"key", required_argument, NULL, 'k'},
        {"tenant", required_argument, NULL, 't'},
        {"sub", required_argument, NULL, 's'},
        {"roles", required_argument, NULL, 'r'},
        {"ttl", required_argument, NULL, 'l'},
        {"kid", required_argument, NULL, 'i'},
        {"iss", required_argument, NULL, 'I'},
        {"aud", required_argument, NULL, 'a'},
        {"operator", no_argument, NULL, 'O'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    const char *keyfile = NULL, *tenant = NULL, *sub = NULL, *roles = "", *kid = NULL, *iss = NULL,
               *aud = NULL;
    long ttl = 3600, now;
    char *key = NULL, *roles_json = NULL, *out = NULL;
    size_t keylen = 0;
    jwt_t *jwt = NULL;
    FILE *kf = NULL;
    int c, rc = CLI_EXIT_FAIL, op = 0;

    cli_getopt_reset();
    while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
        switch (c) {
        case 'k':
            keyfile = optarg;
            break;
        case 't':
            tenant = optarg;
            break;
        case 's':
            sub = optarg;
            break;
        case 'r':
            roles = optarg ? optarg : "";
            break;
        case 'l':
            if (cli_parse_long(optarg, 1, TOKEN_MAX_TTL, &ttl) != 0)
                return cli_usage_error("token", "--ttl must be 1..%ld seconds", TOKEN_MAX_TTL);
            break;
        case 'i':
            kid = optarg;
            break;
        case 'I':
            iss = optarg;
            break;
        case 'a':
            aud = optarg;
            break;
        case 'O':
            op = 1;
            break;
        case 'h':
            return cli_help("token", token_details);
        default:
            return cli_usage_error("token", "unknown or incomplete option \"%s\"",
                                   argv[optind - 1]);
        }
    }
    if (optind < argc)
        return cli_usage_error("token", "unexpected argument \"%s\"", argv[optind]);
    /* The ingress refuses a token that lives longer than its JWT_MAX_LIFETIME_S (a bare 401
     * invalid token): say so here, where the lifetime is chosen. */
    const char *maxs = getenv("JWT_MAX_LIFETIME_S");
    long max_life = maxs && *maxs ? strtol(maxs, NULL, 10) : 86400;
    if (max_life > 0 && ttl > max_life)
        fprintf(stderr,
                "agenthubctl token: warning: --ttl %ld is longer than the ingress accepts "
                "(JWT_MAX_LIFETIME_S, %ld s%s): it will answer 401\n",
                ttl, max_life, maxs && *maxs ? "" : " by default");
    if (op && (tenant || *roles))
        return cli_usage_error("token", "--operator takes no --tenant and no --roles");
    if (!keyfile || (!op && !tenant) || !sub)
        return cli_usage_error("token", op ? "--key and --sub are required"
                                           : "--key, --tenant and --sub are required");
    if (!op && !tenant_id_valid(tenant))
        return cli_usage_error("token", "invalid --tenant (expected [A-Za-z0-9_-]{1,64})");
    if (!*sub || strlen(sub) > 128)
        return cli_usage_error("token", "--sub must be 1..128 characters");

    kf = fopen(keyfile, "re");
    if (!kf) {
        cli_fail("token", "cannot read %s: %s", keyfile, strerror(errno));
        goto out;
    }
    if (cli_read_all(fileno(kf), TOKEN_MAX_KEY, &key, &keylen) != 0) {
        cli_fail("token", "cannot read %s: %s", keyfile, strerror(errno));
        goto out;
    }
    roles_json = token_roles_json(roles);
    if (!roles_json) {
        cli_fail("token", "out of memory");
        goto out;
    }
    now = (long)time(NULL);
    if (jwt_new(&jwt) != 0 || jwt_add_grant(jwt, "sub", sub) != 0 ||
        (op ? jwt_add_grant(jwt, "token_use", "operator") != 0
            : (jwt_add_grant(jwt, "tenant_id", tenant) != 0 ||
               jwt_add_grants_json(jwt, roles_json) != 0)) ||
        jwt_add_grant_int(jwt, "iat", now) != 0 || jwt_add_grant_int(jwt, "exp", now + ttl) != 0 ||
        (iss && jwt_add_grant(jwt, "iss", iss) != 0) ||
        (aud && jwt_add_grant(jwt, "aud", aud) != 0) ||
        (kid && jwt_add_header(jwt, "kid", kid) != 0)) {
        cli_fail("token", "cannot build the token claims");
        goto out;
    }
    if (jwt_set_alg(jwt, JWT_ALG_RS256, (const unsigned char *)key, (int)keylen) != 0) {
        cli_fail("token", "cannot use %s as an RS256 signing key", keyfile);
        goto out;
    }
    out = jwt_encode_str(jwt);
    if (!out) {
        cli_fail("token", "signing failed: %s is not an RSA private key in PEM form", keyfile);
        goto out;
    }
    printf("%s\n", out);
    if (fflush(stdout) != 0) {
        cli_fail("token", "cannot write to stdout");
        goto out;
    }
    rc = CLI_EXIT_OK;
out:
    if (kf)
        fclose(kf);
    jwt_free(jwt);
    if (key) {
        memset(key, 0, keylen);
        free(key);
    }
    free(roles_json);
    free(out);
    return rc;
}

CLI_COMMAND(token,
            "token --key PRIV.pem (--tenant T | --operator) --sub U [--roles a,b] [--ttl S] "
            "[--kid K] [--iss I] [--aud A]",
            "sign an RS256 JWT with sub, tenant_id, roles, iat, exp", token_run)
