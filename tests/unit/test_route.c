/* test_route.c — router/route.c: supervisor prompt, answer parsing, clarifying answers. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "../../router/route.c"

static json_object *agents(void)
{
    return json_tokener_parse(
        "[{\"name\":\"AgentDebt\",\"description\":\"Customer debt by tax code (MST)\"},"
        "{\"name\":\"AgentShipment\",\"description\":\"Shipment tracking\\nby number\"}]");
}

static void test_prompt_lists_agents(void **state)
{
    (void)state;
    json_object *a = agents();
    char *p = route_prompt(a);
    assert_non_null(p);
    assert_non_null(strstr(p, "\n- AgentDebt: Customer debt by tax code (MST)\n"));
    /* A newline inside a description stays on its line. */
    assert_non_null(strstr(p, "\n- AgentShipment: Shipment tracking by number\n"));
    assert_non_null(strstr(p, "UNCLEAR"));
    assert_non_null(strstr(p, "MULTI_INTENT"));
    free(p);
    json_object_put(a);
}

static void test_parse_agent(void **state)
{
    (void)state;
    json_object *a = agents();
    struct route_decision d;
    route_parse("{\"agent\":\"AgentDebt\"}", a, "debt of 0123456789?", &d);
    assert_int_equal(d.kind, ROUTE_AGENT);
    assert_int_equal(d.nparts, 1);
    assert_string_equal(d.parts[0].agent, "AgentDebt");
    assert_string_equal(d.parts[0].message, "debt of 0123456789?");
    assert_string_equal(d.intent, "debt_query");
    route_decision_cleanup(&d);
    route_parse("```json\n{\"agent\": \"AgentShipment\", \"intent\": \"track\"}\n```", a, "m", &d);
    assert_int_equal(d.kind, ROUTE_AGENT);
    assert_string_equal(d.parts[0].agent, "AgentShipment");
    assert_string_equal(d.intent, "track");
    route_decision_cleanup(&d);
    json_object_put(a);
}

static void test_parse_invalid_is_unclear(void **state)
{
    (void)state;
    json_object *a = agents();
    struct route_decision d;
    const char *bad[] = {NULL,
                         "",
                         "not json",
                         "[1,2]",
                         "{\"agent\": 5}",
                         "{\"agnt\":\"AgentDebt\"}",
                         "{\"agent\":\"AgentAnalysis\"}", /* not this tenant's */
                         "{\"agent\":\"agentdebt\"}",     /* names are exact */
                         "{\"agent\":\"UNCLEAR\"}",
                         "{\"agent\":\"MULTI_INTENT\"}",
                         "{\"agent\":\"MULTI_INTENT\",\"parts\":[{\"agent\":\"AgentOCR\"}]}",
                         "{\"agent\":\"MULTI_INTENT\",\"parts\":{}}"};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        route_parse(bad[i], a, "m", &d);
        if (d.kind != ROUTE_UNCLEAR)
            fail_msg("expected UNCLEAR for %s", bad[i] ? bad[i] : "(null)");
        assert_int_equal(d.nparts, 0);
        assert_string_equal(d.intent, "unclear");
        route_decision_cleanup(&d);
    }
    json_object_put(a);
}

static void test_parse_multi(void **state)
{
    (void)state;
    json_object *a = agents();
    struct route_decision d;
    route_parse("{\"agent\":\"MULTI_INTENT\",\"parts\":["
                "{\"agent\":\"AgentDebt\",\"message\":\"debt of 0123456789\"},"
                "{\"agent\":\"AgentAnalysis\",\"message\":\"not permitted\"},"
                "{\"agent\":\"AgentShipment\"}]}",
                a, "whole message", &d);
    assert_int_equal(d.kind, ROUTE_MULTI);
    assert_int_equal(d.nparts, 2);
    assert_string_equal(d.parts[0].agent, "AgentDebt");
    assert_string_equal(d.parts[0].message, "debt of 0123456789");
    assert_string_equal(d.parts[1].agent, "AgentShipment");
    assert_string_equal(d.parts[1].message, "whole message");
    assert_string_equal(d.intent, "multi_intent");
    route_decision_cleanup(&d);
    /* Only one permitted part: routed normally. */
    route_parse(
        "{\"agent\":\"MULTI_INTENT\",\"parts\":[{\"agent\":\"AgentDebt\",\"message\":\"x\"},"
        "{\"agent\":\"AgentOCR\",\"message\":\"y\"}]}",
        a, "whole", &d);
    assert_int_equal(d.kind, ROUTE_AGENT);
    assert_int_equal(d.nparts, 1);
    assert_string_equal(d.parts[0].message, "x");
    route_decision_cleanup(&d);
    /* At most ROUTE_MAX_PARTS. */
    route_parse("{\"agent\":\"MULTI_INTENT\",\"parts\":[{\"agent\":\"AgentDebt\"},{\"agent\":"
                "\"AgentDebt\"},{\"agent\":\"AgentDebt\"},{\"agent\":\"AgentDebt\"},{\"agent\":"
                "\"AgentDebt\"},{\"agent\":\"AgentDebt\"},{\"agent\":\"AgentDebt\"}]}",
                a, "w", &d);
    assert_int_equal(d.nparts, ROUTE_MAX_PARTS);
    route_decision_cleanup(&d);
    json_object_put(a);
}

static void test_clarify(void **state)
{
    (void)state;
    json_object *a = agents();
    char *en = route_clarify(a, "en");
    char *vi = route_clarify(a, "vi");
    assert_non_null(strstr(en, "I can help you with"));
    assert_non_null(strstr(en, "- Customer debt by tax code (MST)\n"));
    assert_non_null(strstr(vi, "Tôi có thể giúp bạn"));
    assert_non_null(strstr(vi, "- Shipment tracking by number\n"));
    free(en);
    free(vi);
    json_object *none = json_object_new_array();
    char *e2 = route_clarify(none, "en");
    assert_non_null(strstr(e2, "no assistants"));
    free(e2);
    json_object_put(none);
    json_object_put(a);
}

static void test_default_intent(void **state)
{
    (void)state;
    char b[64];
    route_default_intent("AgentDebt", b, sizeof(b));
    assert_string_equal(b, "debt_query");
    route_default_intent("AgentShipmentStatus", b, sizeof(b));
    assert_string_equal(b, "shipment_status_query");
    route_default_intent("Agent", b, sizeof(b));
    assert_string_equal(b, "agent_query");
    char small[8];
    route_default_intent("AgentVeryLongName", small, sizeof(small));
    assert_true(strlen(small) < sizeof(small));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_prompt_lists_agents),
        cmocka_unit_test(test_parse_agent),
        cmocka_unit_test(test_parse_invalid_is_unclear),
        cmocka_unit_test(test_parse_multi),
        cmocka_unit_test(test_clarify),
        cmocka_unit_test(test_default_intent),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
