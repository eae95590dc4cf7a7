/* test_docworker_upload.c — parsing of POST /api/{tenant}/documents bodies (multipart/form-data
 * and JSON) from ingress/routes_documents.c, compiled here without its routes. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <string.h>

#define ROUTES_DOCUMENTS_PARSER_ONLY
#include "../../ingress/routes_documents.c"

#define CT "multipart/form-data; boundary=XyZ"

static int mp(const char *body, struct doc_upload *u, struct docs_fail *f)
{
    memset(u, 0, sizeof *u);
    memset(f, 0, sizeof *f);
    return parse_multipart_upload(body, strlen(body), CT, u, f);
}

static void test_multipart_files_and_lang(void **state)
{
    (void)state;
    struct doc_upload u;
    struct docs_fail f;
    const char *body = "preamble\r\n--XyZ\r\n"
                       "Content-Disposition: form-data; name=\"lang\"\r\n\r\neng+vie\r\n"
                       "--XyZ\r\n"
                       "Content-Disposition: form-data; name=\"files\"; "
                       "filename=\"C:\\\\scans\\\\a \\\"1\\\".png\"\r\n"
                       "Content-Type: image/png\r\n\r\n"
                       "\x89PNG\r\n--Xy not a boundary\r\n"
                       "--XyZ\r\n"
                       "content-disposition: form-data; name=\"files\"; filename=\"\"\r\n\r\n"
                       "hello\r\n"
                       "--XyZ\r\n"
                       "Content-Disposition: form-data; name=\"other\"\r\n\r\nignored\r\n"
                       "--XyZ--\r\nepilogue";
    assert_int_equal(mp(body, &u, &f), 0);
    assert_string_equal(u.lang, "eng+vie");
    assert_int_equal(u.n, 2);
    assert_string_equal(u.docs[0].filename, "a \"1\".png");
    assert_string_equal(u.docs[0].ctype, "image/png");
    assert_int_equal(u.docs[0].len, strlen("\x89PNG\r\n--Xy not a boundary"));
    assert_memory_equal(u.docs[0].data, "\x89PNG\r\n--Xy not a boundary", u.docs[0].len);
    assert_string_equal(u.docs[1].filename, "document-2");
    assert_string_equal(u.docs[1].ctype, "application/octet-stream");
    assert_int_equal(u.docs[1].len, 5);
    upload_cleanup(&u);
}

static void test_multipart_errors(void **state)
{
    (void)state;
    struct doc_upload u;
    struct docs_fail f;
    /* truncated: no closing boundary */
    assert_int_equal(mp("--XyZ\r\nContent-Disposition: form-data; name=\"f\"; filename=\"a\"\r\n"
                        "\r\nabc",
                        &u, &f),
                     -1);
    assert_int_equal(f.status, 400);
    upload_cleanup(&u);
    /* no file parts */
    assert_int_equal(mp("--XyZ\r\nContent-Disposition: form-data; name=\"lang\"\r\n\r\neng\r\n"
                        "--XyZ--\r\n",
                        &u, &f),
                     -1);
    assert_non_null(strstr(f.message, "no files"));
    upload_cleanup(&u);
    /* empty file */
    assert_int_equal(mp("--XyZ\r\nContent-Disposition: form-data; name=\"f\"; filename=\"a\"\r\n"
                        "\r\n\r\n--XyZ--",
                        &u, &f),
                     -1);
    assert_int_equal(f.status, 400);
    upload_cleanup(&u);
    /* control character in a file name */
    assert_int_equal(
        mp("--XyZ\r\nContent-Disposition: form-data; name=\"f\"; filename=\"a\x01\"\r\n"
           "\r\nx\r\n--XyZ--",
           &u, &f),
        -1);
    upload_cleanup(&u);
    /* bad lang */
    assert_int_equal(mp("--XyZ\r\nContent-Disposition: form-data; name=\"lang\"\r\n\r\n../x\r\n"
                        "--XyZ--",
                        &u, &f),
                     -1);
    upload_cleanup(&u);
    /* no boundary parameter */
    memset(&u, 0, sizeof u);
    assert_int_equal(parse_multipart_upload("x", 1, "multipart/form-data", &u, &f), -1);
    upload_cleanup(&u);
    /* no part at all */
    assert_int_equal(mp("nothing here", &u, &f), -1);
    upload_cleanup(&u);
}

static void test_multipart_limits(void **state)
{
    (void)state;
    struct doc_upload u;
    struct docs_fail f;
    char body[4096];
    size_t n = 0;
    long saved_files = docs_max_files, saved_bytes = docs_max_file_bytes;
    docs_max_files = 2;
    for (int i = 0; i < 3; i++)
        n += (size_t)snprintf(body + n, sizeof body - n,
                              "--XyZ\r\nContent-Disposition: form-data; name=\"f\"; "
                              "filename=\"%d.txt\"\r\n\r\nabc\r\n",
                              i);
    snprintf(body + n, sizeof body - n, "--XyZ--\r\n");
    assert_int_equal(mp(body, &u, &f), -1);
    assert_int_equal(f.status, 400);
    assert_string_equal(f.code, "too_many_documents");
    upload_cleanup(&u);
    docs_max_files = saved_files;
    docs_max_file_bytes = 2;
    assert_int_equal(mp(body, &u, &f), -1);
    assert_int_equal(f.status, 413);
    assert_string_equal(f.code, "document_too_large");
    upload_cleanup(&u);
    docs_max_file_bytes = saved_bytes;
}

static int js(const char *body, struct doc_upload *u, struct docs_fail *f)
{
    memset(u, 0, sizeof *u);
    memset(f, 0, sizeof *f);
    return parse_json_upload(body, strlen(body), u, f);
}

static void test_json(void **state)
{
    (void)state;
    struct doc_upload u;
    struct docs_fail f;
    assert_int_equal(js("{\"lang\":\"eng\",\"documents\":[{\"filename\":\"a/b/c.png\","
                        "\"content_type\":\" image/png \",\"content_base64\":\"aGVs\\nbG8=\"},"
                        "{\"content_base64\":\"eA==\"}]}",
                        &u, &f),
                     0);
    assert_int_equal(u.n, 2);
    assert_string_equal(u.lang, "eng");
    assert_string_equal(u.docs[0].filename, "c.png");
    assert_string_equal(u.docs[0].ctype, "image/png");
    assert_int_equal(u.docs[0].len, 5);
    assert_memory_equal(u.docs[0].data, "hello", 5);
    assert_string_equal(u.docs[1].filename, "document-2");
    upload_cleanup(&u);

    const char *bad[] = {
        "",
        "[]",
        "{\"documents\":[]}",
        "{\"documents\":{}}",
        "{\"documents\":[1]}",
        "{\"documents\":[{\"filename\":\"a\"}]}",
        "{\"documents\":[{\"content_base64\":\"***\"}]}",
        "{\"documents\":[{\"content_base64\":\"\"}]}",
        "{\"documents\":[{\"filename\":5,\"content_base64\":\"eA==\"}]}",
        "{\"documents\":[{\"content_type\":\"a\\u0001\",\"content_base64\":\"eA==\"}]}",
        "{\"lang\":7,\"documents\":[{\"content_base64\":\"eA==\"}]}",
        "{\"documents\":[{\"content_base64\":\"eA==\"}]} trailing",
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        assert_int_equal(js(bad[i], &u, &f), -1);
        assert_int_equal(f.status, 400);
        upload_cleanup(&u);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_multipart_files_and_lang),
        cmocka_unit_test(test_multipart_errors),
        cmocka_unit_test(test_multipart_limits),
        cmocka_unit_test(test_json),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
