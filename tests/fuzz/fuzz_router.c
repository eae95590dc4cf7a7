/* fuzz_router — libFuzzer target for what the router reads from outside: the user's message
 * (language detection) and the LLM's routing answer (route_parse). The input is split at the
 * first NUL byte: the answer before it, the user message after it. Whatever they hold, the
 * decision must be well-formed: UNCLEAR with no part, or 1..ROUTE_MAX_PARTS parts naming
 * agents of the tenant's list, each with a message; MULTI_INTENT only with 2+ parts.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../../router/language.c"
#include "../../router/route.c"

#define FUZZ_TARGET "fuzz_router"
#include "fuzz_check.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *answer = malloc(size + 1);
    if (!answer)
        return 0;
    memcpy(answer, data, size);
    answer[size] = '\0';
    size_t alen = strlen(answer);
    const char *user = alen < size ? answer + alen + 1 : "";
    size_t ulen = alen < size ? size - alen - 1 : 0;

    const char *lang = language_detect(user, ulen);
    fuzz_check(strcmp(lang, "en") == 0 || strcmp(lang, "vi") == 0, "language");
    lang = language_detect((const char *)data, size);
    fuzz_check(strcmp(lang, "en") == 0 || strcmp(lang, "vi") == 0, "language (raw)");

    json_object *agents =
        json_tokener_parse("[{\"name\":\"AgentDebt\",\"description\":\"debt\"},"
                           "{\"name\":\"AgentShipment\",\"description\":\"shipments\"}]");
    struct route_decision d;
    route_parse(answer, agents, user, &d);
    if (d.kind == ROUTE_UNCLEAR) {
        fuzz_check(d.nparts == 0, "unclear with parts");
    } else {
        fuzz_check(d.nparts >= 1 && d.nparts <= ROUTE_MAX_PARTS, "part count");
        fuzz_check(d.kind != ROUTE_MULTI || d.nparts >= 2, "multi with one part");
        fuzz_check(d.kind != ROUTE_AGENT || d.nparts == 1, "agent with several parts");
        for (size_t i = 0; i < d.nparts; i++) {
            fuzz_check(strcmp(d.parts[i].agent, "AgentDebt") == 0 ||
                           strcmp(d.parts[i].agent, "AgentShipment") == 0,
                       "agent outside the list");
            fuzz_check(d.parts[i].message != NULL, "part without message");
        }
    }
    fuzz_check(strlen(d.intent) < sizeof(d.intent), "intent");
    char *c = route_clarify(agents, lang);
    fuzz_check(c != NULL, "clarify");
    free(c);
    route_decision_cleanup(&d);
    json_object_put(agents);
    free(answer);
    return 0;
}
