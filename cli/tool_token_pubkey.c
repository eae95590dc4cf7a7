/* agenthubctl tool-token-pubkey — the public key a tool backend verifies per-call tokens with.
 *
 *   agenthubctl tool-token-pubkey --key PRIV.pem > tool-token-public.pem
 *
 * PRIV.pem is the agent's TOOL_TOKEN_KEY_FILE. The output is the SubjectPublicKeyInfo PEM
 * ("-----BEGIN PUBLIC KEY-----"); it is not a secret. Hand it to the backends, never put it in
 * the ingress's JWT_PUBLIC_KEY_FILE (the ingress refuses token_use "tool" anyway). The key is
 * checked the way the agent checks it at start (RSA, 2048 bits or more).
 */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>

#include "commands.h"
#include "tool_token.h"

static const char pubkey_details[] =
    "  --key PRIV.pem   the agent's TOOL_TOKEN_KEY_FILE (PEM RSA private key)\n"
    "\n"
    "A backend verifies a tool token with this key: alg RS256 only; iss = TOOL_TOKEN_ISSUER\n"
    "(default agenthub-tools); aud = its own origin scheme://host[:port] or the tool's\n"
    "jwt_audience; token_use = \"tool\"; exp in the future (lifetime TOOL_TOKEN_TTL_S, default\n"
    "60 s); sub is the user, tenant_id the tenant; jti is unique per call.\n";

static int pubkey_run(int argc, char **argv)
{
    static const struct option opts[] = {
        {"key", required_argument, NULL, 'k'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    const char *keyfile = NULL;
    struct tool_token_key *k = NULL;
    char err[512], *pem = NULL;
    int c, rc = CLI_EXIT_FAIL;

    cli_getopt_reset();
    while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
        switch (c) {
        case 'k':
            keyfile = optarg;
            break;
        case 'h':
            return cli_help("tool-token-pubkey", pubkey_details);
        default:
            return cli_usage_error("tool-token-pubkey", "unknown or incomplete option \"%s\"",
                                   argv[optind - 1]);
        }
    }
    if (optind < argc)
        return cli_usage_error("tool-token-pubkey", "unexpected argument \"%s\"", argv[optind]);
    if (!keyfile)
        return cli_usage_error("tool-token-pubkey", "--key is required");
    if (tool_token_key_load(&k, keyfile, NULL, NULL, TOOL_TOKEN_DEFAULT_TTL_S, err, sizeof err) !=
        0) {
        cli_fail("tool-token-pubkey", "%s", err);
        goto out;
    }
    if (tool_token_key_public_pem(k, &pem, err, sizeof err) != 0) {
        cli_fail("tool-token-pubkey", "%s", err);
        goto out;
    }
    if (fputs(pem, stdout) == EOF || fflush(stdout) != 0) {
        cli_fail("tool-token-pubkey", "cannot write to stdout");
        goto out;
    }
    rc = CLI_EXIT_OK;
out:
    tool_token_key_free(k);
    free(pem);
    return rc;
}

/* CLI_COMMAND's name is its identifier, and this command's name has dashes: the same
 * registration, spelled out. */
static struct cli_command cli_cmd_tool_token_pubkey = {
    "tool-token-pubkey", "tool-token-pubkey --key PRIV.pem",
    "print the public key (PEM) tool backends verify per-call tool tokens with", pubkey_run, NULL};
__attribute__((constructor)) static void cli_cmd_register_tool_token_pubkey(void)
{
    cli_register(&cli_cmd_tool_token_pubkey);
}
