/* fuzz_jwt — libFuzzer target for the ingress's JWT verification (ingress/auth.c).
 *
 * Two modes, chosen by the first byte:
 *   even: the rest is the token text as it would arrive after "Bearer ";
 *   odd:  the rest is split at the first NUL into a header and a payload, each base64url-
 *         encoded and joined with a fixed signature, so the fuzzer reaches the header checks
 *         (alg, kid) and the claim checks behind them.
 * Nothing may crash, and nothing the fuzzer makes may verify: it does not hold the private
 * key, so any accepted token is a forgery and aborts.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "../../ingress/auth.c"

static struct auth *g_auth;

static void b64url_enc(const unsigned char *in, size_t n, char *out)
{
    static const char tbl[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    size_t o = 0;
    for (size_t i = 0; i < n; i += 3) {
        unsigned v = (unsigned)in[i] << 16;
        if (i + 1 < n)
            v |= (unsigned)in[i + 1] << 8;
        if (i + 2 < n)
            v |= in[i + 2];
        out[o++] = tbl[(v >> 18) & 63];
        out[o++] = tbl[(v >> 12) & 63];
        if (i + 1 < n)
            out[o++] = tbl[(v >> 6) & 63];
        if (i + 2 < n)
            out[o++] = tbl[v & 63];
    }
    out[o] = 0;
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    char path[64], err[256];
    EVP_PKEY *k = EVP_RSA_gen(2048);
    if (!k)
        abort();
    snprintf(path, sizeof path, "/tmp/fuzz_jwt_keys.%d.pem", (int)getpid());
    FILE *f = fopen(path, "w");
    if (!f)
        abort();
    fputs("# kid: main\n", f);
    PEM_write_PUBKEY(f, k);
    fputs("# kid: other\n", f);
    PEM_write_PUBKEY(f, k);
    fclose(f);
    EVP_PKEY_free(k);
    if (auth_new(&g_auth, path, 30, NULL, NULL, err, sizeof err) != 0) {
        fprintf(stderr, "fuzz_jwt: %s\n", err);
        abort();
    }
    unlink(path);
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct auth_claims c;
    char why[128];
    char *tok;
    if (size == 0 || size > 6000)
        return 0;
    if ((data[0] & 1) == 0) {
        tok = malloc(size);
        if (!tok)
            return 0;
        memcpy(tok, data + 1, size - 1);
        tok[size - 1] = 0;
    } else {
        const uint8_t *rest = data + 1, *nul = memchr(rest, 0, size - 1);
        size_t hl = nul ? (size_t)(nul - rest) : size - 1;
        size_t pl = nul ? size - 1 - hl - 1 : 0;
        tok = malloc(2 * size + 64);
        if (!tok)
            return 0;
        b64url_enc(rest, hl, tok);
        strcat(tok, ".");
        b64url_enc(nul ? nul + 1 : rest, pl, tok + strlen(tok));
        strcat(tok, ".c2lnbmF0dXJl");
    }
    if (auth_verify(g_auth, tok, time(NULL), &c, why, sizeof why) == 0) {
        fprintf(stderr, "fuzz_jwt: a token without the private key verified\n");
        abort();
    }
    free(tok);
    return 0;
}
