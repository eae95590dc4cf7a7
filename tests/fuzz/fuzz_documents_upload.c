/* fuzz_documents_upload — libFuzzer target for the POST /api/{tenant}/documents body parsers
 * (ingress/routes_documents.c, compiled without its routes). The first byte picks the format:
 * even -> multipart/form-data (boundary "XyZ"), odd -> JSON. Every accepted upload must hold
 * 1..max documents, each non-empty, within the size limit, with a printable file name and
 * content type, its bytes inside the input (multipart) or its own buffer (JSON).
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define ROUTES_DOCUMENTS_PARSER_ONLY
#include "../../ingress/routes_documents.c"

#define FUZZ_TARGET "fuzz_documents_upload"
#include "fuzz_check.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct doc_upload u;
    struct docs_fail f;
    if (size < 1)
        return 0;
    docs_max_files = 4;
    docs_max_file_bytes = 4096;
    memset(&u, 0, sizeof u);
    memset(&f, 0, sizeof f);
    /* A private copy, so reads past the end are caught exactly. */
    char *body = malloc(size - 1 ? size - 1 : 1);
    if (!body)
        return 0;
    memcpy(body, data + 1, size - 1);
    int rc = data[0] % 2 == 0 ? parse_multipart_upload(body, size - 1,
                                                       "multipart/form-data; boundary=XyZ", &u, &f)
                              : parse_json_upload(body, size - 1, &u, &f);
    if (rc == 0) {
        fuzz_check(u.n >= 1 && (long)u.n <= docs_max_files, "document count out of bounds");
        for (size_t i = 0; i < u.n; i++) {
            const struct doc_in *d = &u.docs[i];
            fuzz_check(d->len > 0 && (long)d->len <= docs_max_file_bytes, "size out of bounds");
            fuzz_check(d->filename[0] && strlen(d->filename) <= DOCS_FILENAME_MAX, "filename");
            for (const char *p = d->filename; *p; p++)
                fuzz_check((unsigned char)*p >= 0x20 && *p != 0x7f, "control char in filename");
            fuzz_check(!strchr(d->filename, '/') && !strchr(d->filename, '\\'), "path in name");
            for (const char *p = d->ctype; *p; p++)
                fuzz_check((unsigned char)*p >= 0x20 && (unsigned char)*p <= 0x7e, "ctype");
            if (d->owned)
                fuzz_check(d->data == d->owned, "JSON document data not owned");
            else
                fuzz_check(d->data >= (const unsigned char *)body &&
                               d->data + d->len <= (const unsigned char *)body + size - 1,
                           "multipart document outside the body");
        }
    } else {
        fuzz_check(f.status == 400 || f.status == 413 || f.status == 500, "unexpected status");
        fuzz_check(f.code != NULL && f.message[0] != '\0', "failure without a message");
    }
    upload_cleanup(&u);
    free(body);
    return 0;
}
