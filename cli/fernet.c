/* agenthubctl fernet — encrypt or decrypt stdin with FERNET_KEY, like Python's
 * cryptography.fernet.Fernet(key).encrypt / .decrypt(token, ttl=S).
 *
 *   encrypt: stdin bytes -> one token and a newline on stdout
 *   decrypt: one token on stdin (surrounding whitespace ignored) -> the plaintext bytes
 * Every failure (no key, bad key, tampered, truncated, wrong key, expired) exits 1 with a
 * message on stderr that names the problem and never contains the key or the token.
 */
#include <ctype.h>
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "commands.h"
#include "fernet.h"

#define FERNET_CMD_MAX_INPUT ((size_t)64 * 1024 * 1024)

static const char fernet_details[] =
    "  encrypt      read bytes from stdin, print a Fernet token\n"
    "  decrypt      read a token from stdin, print the bytes it holds\n"
    "  --ttl S      decrypt: reject tokens older than S seconds (default: no limit)\n"
    "The key comes from the FERNET_KEY environment variable (see 'agenthubctl keygen').\n";

static int fernet_write_all(const void *buf, size_t len)
{
    const char *p = buf;
    while (len > 0) {
        ssize_t n = write(STDOUT_FILENO, p, len);
        if (n < 0) {
            if (errno == EINTR)
                continue;
            return -1;
        }
        p += n;
        len -= (size_t)n;
    }
    return 0;
}

static int fernet_run(int argc, char **argv)
{
    static const struct option opts[] = {
        {"ttl", required_argument, NULL, 't'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    const char *mode = NULL, *key;
    char *in = NULL, *token = NULL, *start;
    unsigned char *plain = NULL;
    size_t inlen = 0, plen = 0;
    long ttl = 0;
    int have_ttl = 0, c, st, rc = CLI_EXIT_FAIL;

    cli_getopt_reset();
    while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
        switch (c) {
        case 't':
            if (cli_parse_long(optarg, 1, 100L * 365 * 24 * 3600, &ttl) != 0)
                return cli_usage_error("fernet", "--ttl must be a positive number of seconds");
            have_ttl = 1;
            break;
        case 'h':
            return cli_help("fernet", fernet_details);
        default:
            return cli_usage_error("fernet", "unknown or incomplete option \"%s\"",
                                   argv[optind - 1]);
        }
    }
    if (optind >= argc)
        return cli_usage_error("fernet", "say encrypt or decrypt");
    mode = argv[optind++];
    if (strcmp(mode, "encrypt") != 0 && strcmp(mode, "decrypt") != 0)
        return cli_usage_error("fernet", "unknown action \"%s\" (encrypt or decrypt)", mode);
    if (optind < argc)
        return cli_usage_error("fernet", "unexpected argument \"%s\"", argv[optind]);
    if (have_ttl && strcmp(mode, "encrypt") == 0)
        return cli_usage_error("fernet", "--ttl applies to decrypt only");

    key = getenv("FERNET_KEY");
    if (!key || !*key)
        return cli_fail("fernet", "FERNET_KEY is not set");
    if (cli_read_all(STDIN_FILENO, FERNET_CMD_MAX_INPUT, &in, &inlen) != 0) {
        cli_fail("fernet", "cannot read stdin: %s",
                 errno == EFBIG ? "input larger than 64 MiB" : strerror(errno));
        goto out;
    }

    if (strcmp(mode, "encrypt") == 0) {
        st = fernet_encrypt(key, in, inlen, &token);
        if (st != FERNET_OK) {
            cli_fail("fernet", "encrypt failed: %s%s", fernet_status_str(st),
                     st == FERNET_ERR_KEY ? " (FERNET_KEY)" : "");
            goto out;
        }
        if (fernet_write_all(token, strlen(token)) != 0 || fernet_write_all("\n", 1) != 0) {
            cli_fail("fernet", "cannot write to stdout: %s", strerror(errno));
            goto out;
        }
    } else {
        /* The token is one line; trailing newline and spaces are not part of it. */
        start = in;
        while (*start && isspace((unsigned char)*start))
            start++;
        while (inlen > 0 && isspace((unsigned char)in[inlen - 1]))
            in[--inlen] = '\0';
        if (!*start) {
            cli_fail("fernet", "decrypt failed: no token on stdin");
            goto out;
        }
        if (strlen(start) != (size_t)(in + inlen - start)) {
            cli_fail("fernet", "decrypt failed: %s", fernet_status_str(FERNET_ERR_FORMAT));
            goto out;
        }
        st = fernet_decrypt(key, start, have_ttl ? ttl : 0, &plain, &plen);
        if (st != FERNET_OK) {
            cli_fail("fernet", "decrypt failed: %s%s", fernet_status_str(st),
                     st == FERNET_ERR_KEY ? " (FERNET_KEY)" : "");
            goto out;
        }
        if (fernet_write_all(plain, plen) != 0) {
            cli_fail("fernet", "cannot write to stdout: %s", strerror(errno));
            goto out;
        }
    }
    rc = CLI_EXIT_OK;
out:
    if (plain) {
        memset(plain, 0, plen);
        free(plain);
    }
    if (in) {
        memset(in, 0, inlen);
        free(in);
    }
    free(token);
    return rc;
}

CLI_COMMAND(fernet, "fernet encrypt|decrypt [--ttl S]",
            "Fernet-encrypt stdin or decrypt a token from stdin, key from FERNET_KEY", fernet_run)
