/* fuzz_envelope — libFuzzer target for envelope_decode.
 *
 * Any input: decode must not crash or leak, and a rejection must say why. A decoded envelope
 * must survive encode -> decode unchanged (same fields, equal payload, identical second
 * encoding), and a child derived from it with envelope_init must encode into a valid
 * envelope of the same job and trace.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "envelope.h"
#include "traceparent.h"

#define FUZZ_TARGET "fuzz_envelope"
#include "fuzz_check.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct envelope a, b, c;
    struct traceparent tpa, tpc;
    char err[256];
    char *enc = NULL, *enc2 = NULL, *enc3 = NULL;

    err[0] = '\0';
    if (envelope_decode(&a, (const char *)data, size, err, sizeof(err)) != 0) {
        fuzz_check(err[0] != '\0', "rejection without a message");
        fuzz_check(a.payload == NULL, "payload left after a rejection");
        return 0;
    }
    fuzz_check(a.payload && json_object_is_type(a.payload, json_type_object), "payload type");

    enc = envelope_encode(&a);
    fuzz_check(enc != NULL, "encode failed");
    if (strlen(enc) <= ENVELOPE_MAX_BYTES) {
        fuzz_check(envelope_decode(&b, enc, strlen(enc), err, sizeof(err)) == 0,
                   "re-decode of an encoded envelope failed");
        fuzz_check(strcmp(a.type, b.type) == 0 && strcmp(a.job_id, b.job_id) == 0 &&
                       strcmp(a.tenant_id, b.tenant_id) == 0 && strcmp(a.user_id, b.user_id) == 0 &&
                       strcmp(a.session_id, b.session_id) == 0 &&
                       strcmp(a.message_id, b.message_id) == 0 &&
                       strcmp(a.traceparent, b.traceparent) == 0 &&
                       strcmp(a.created_at, b.created_at) == 0 && a.attempt == b.attempt,
                   "round trip changed a field");
        fuzz_check(json_object_equal(a.payload, b.payload), "round trip changed the payload");
        enc2 = envelope_encode(&b);
        fuzz_check(enc2 && strcmp(enc, enc2) == 0, "second encoding differs");
        envelope_cleanup(&b);
    }

    fuzz_check(envelope_init(&c, a.type, &a) == 0, "envelope_init from a valid parent failed");
    fuzz_check(strcmp(c.job_id, a.job_id) == 0, "child lost the job id");
    fuzz_check(traceparent_parse(a.traceparent, &tpa) == 0 &&
                   traceparent_parse(c.traceparent, &tpc) == 0 &&
                   strcmp(tpa.trace_id, tpc.trace_id) == 0,
               "child left the trace");
    enc3 = envelope_encode(&c);
    fuzz_check(enc3 != NULL, "child encode failed");
    envelope_cleanup(&c);
    fuzz_check(envelope_decode(&c, enc3, strlen(enc3), err, sizeof(err)) == 0,
               "child envelope does not decode");
    envelope_cleanup(&c);

    envelope_cleanup(&a);
    free(enc);
    free(enc2);
    free(enc3);
    return 0;
}
