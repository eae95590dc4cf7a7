/* agenthubctl keygen — an RS256 key pair for JWTs and a FERNET_KEY.
 *
 * Writes DIR/jwt_private.pem (PKCS#8, mode 0600) and DIR/jwt_public.pem (SubjectPublicKeyInfo,
 * mode 0644), then prints FERNET_KEY=<key> on stdout: the one secret this command exists to
 * show. Existing files are not replaced unless --force is given.
 */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/rsa.h>

#include "commands.h"
#include "fernet.h"

#define KEYGEN_BITS 2048

/* Creates path for writing with the given mode. The file is always new (O_EXCL; --force
 * removes an old one first), so it has `mode` (less the umask) from the moment it exists: a
 * private key is never, not even for a moment, readable by others, and an old file's wider
 * mode or hard links are not inherited. The fchmod only widens a public file to 0644 under a
 * strict umask; it never runs on a secret (mode 0600 is already the most a umask leaves). */
static FILE *keygen_open(const char *path, mode_t mode, int force)
{
    int flags = O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC;
    if (force && unlink(path) != 0 && errno != ENOENT)
        return NULL;
    int fd = open(path, flags, mode);
    FILE *f;
    if (fd < 0)
        return NULL;
    if ((mode & 077) && fchmod(fd, mode) != 0) {
        close(fd);
        return NULL;
    }
    f = fdopen(fd, "w");
    if (!f)
        close(fd);
    return f;
}

static int keygen_run(int argc, char **argv)
{
    static const struct option opts[] = {
        {"out", required_argument, NULL, 'o'},
        {"force", no_argument, NULL, 'f'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    const char *dir = ".";
    char priv[4096], pub[4096], fkey[FERNET_KEY_B64_LEN];
    EVP_PKEY_CTX *ctx = NULL;
    EVP_PKEY *pkey = NULL;
    FILE *f = NULL;
    int force = 0, c, rc = CLI_EXIT_FAIL;
    struct stat st;

    cli_getopt_reset();
    while ((c = getopt_long(argc, argv, "o:fh", opts, NULL)) != -1) {
        switch (c) {
        case 'o':
            dir = optarg;
            break;
        case 'f':
            force = 1;
            break;
        case 'h':
            return cli_help("keygen", "  --out DIR   where to write the PEM files (default: .)\n"
                                      "  --force     replace existing key files\n");
        default:
            return cli_usage_error("keygen", "unknown or incomplete option \"%s\"",
                                   argv[optind - 1]);
        }
    }
    if (optind < argc)
        return cli_usage_error("keygen", "unexpected argument \"%s\"", argv[optind]);
    if (!*dir)
        return cli_usage_error("keygen", "--out needs a directory");
    if ((size_t)snprintf(priv, sizeof(priv), "%s/jwt_private.pem", dir) >= sizeof(priv) ||
        (size_t)snprintf(pub, sizeof(pub), "%s/jwt_public.pem", dir) >= sizeof(pub))
        return cli_usage_error("keygen", "--out path too long");

    if (stat(dir, &st) != 0) {
        if (errno != ENOENT || mkdir(dir, 0700) != 0)
            return cli_fail("keygen", "cannot create directory %s: %s", dir, strerror(errno));
    } else if (!S_ISDIR(st.st_mode)) {
        return cli_fail("keygen", "%s is not a directory", dir);
    }

    ctx = EVP_PKEY_CTX_new_id(EVP_PKEY_RSA, NULL);
    if (!ctx || EVP_PKEY_keygen_init(ctx) <= 0 ||
        EVP_PKEY_CTX_set_rsa_keygen_bits(ctx, KEYGEN_BITS) <= 0 ||
        EVP_PKEY_keygen(ctx, &pkey) <= 0) {
        cli_fail("keygen", "RSA key generation failed");
        goto out;
    }
    if (fernet_keygen(fkey) != FERNET_OK) {
        cli_fail("keygen", "no randomness for the Fernet key");
        goto out;
    }

    f = keygen_open(priv, 0600, force);
    if (!f) {
        cli_fail("keygen", "cannot write %s: %s%s", priv, strerror(errno),
                 errno == EEXIST ? " (use --force to replace it)" : "");
        goto out;
    }
    if (PEM_write_PrivateKey(f, pkey, NULL, NULL, 0, NULL, NULL) != 1 || fclose(f) != 0) {
        f = NULL;
        cli_fail("keygen", "writing %s failed", priv);
        goto out;
    }
    f = keygen_open(pub, 0644, force);
    if (!f) {
        cli_fail("keygen", "cannot write %s: %s%s", pub, strerror(errno),
                 errno == EEXIST ? " (use --force to replace it)" : "");
        goto out;
    }
    if (PEM_write_PUBKEY(f, pkey) != 1 || fclose(f) != 0) {
        f = NULL;
        cli_fail("keygen", "writing %s failed", pub);
        goto out;
    }
    f = NULL;
    fprintf(stderr, "wrote %s (mode 0600) and %s\n", priv, pub);
    printf("FERNET_KEY=%s\n", fkey);
    if (fflush(stdout) != 0) {
        cli_fail("keygen", "cannot write to stdout");
        goto out;
    }
    rc = CLI_EXIT_OK;
out:
    if (f)
        fclose(f);
    memset(fkey, 0, sizeof(fkey));
    EVP_PKEY_free(pkey);
    EVP_PKEY_CTX_free(ctx);
    return rc;
}

CLI_COMMAND(keygen, "keygen [--out DIR] [--force]",
            "RS256 key pair (jwt_private.pem, jwt_public.pem) and a FERNET_KEY", keygen_run)
