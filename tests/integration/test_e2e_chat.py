"""End-to-end chat through the real processes and topics: ingress -> agenthub.chat.requests ->
router -> agenthub.agent.<Name> -> agent -> events (Redis stream + chat.events) -> SSE.

The stand-in LLM routes by the agents' descriptions, calls the tool whose schema matches an
entity of the message, and summarizes tool results; the stand-in ERP records what it received.
"""
import os
import sys
import unittest
import uuid

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import pipeline_case as pc  # noqa: E402
from pipeline_case import first, kinds  # noqa: E402

MST = "0123456789"


class E2EChat(pc.PipelineCase):
    @classmethod
    def setUpClass(cls):
        cls.start_pipeline("e2e", agents=1)

    def assert_ordered(self, events):
        """queued -> routed -> (tool_call -> tool_result)* -> delta... -> final."""
        k = kinds(events)
        self.assertEqual(k[0], "queued", k)
        self.assertEqual(k[-1], "final", k)
        self.assertIn("routed", k)
        self.assertLess(k.index("queued"), k.index("routed"))
        if "tool_call" in k:
            self.assertLess(k.index("routed"), k.index("tool_call"), k)
            self.assertLess(k.index("tool_call"), k.index("tool_result"), k)
        if "delta" in k:
            last_tool = max([i for i, e in enumerate(k) if e == "tool_result"] or [0])
            self.assertLess(last_tool, k.index("delta"), k)
            self.assertLess(k.index("delta"), k.index("final"), k)
        self.assertEqual(k.count("final"), 1, k)
        self.assertNotIn("error", k)

    def assistant_messages(self, job_id):
        return self.pl.sql("SELECT part, role, replace(content, E'\\n', ' ') FROM messages "
                           "WHERE job_id = %s "
                           "AND role = 'assistant' ORDER BY part", job_id)

    # ---- each demo agent, English and Vietnamese ------------------------------------------------
    def test_debt_english_tool_gets_entity_and_user_jwt(self):
        r = self.pl.chat("What is the debt for MST %s?" % MST)
        ev = self.pl.events(r["job_id"])
        self.assert_ordered(ev)
        routed = first(ev, "routed")
        self.assertEqual(routed["agent"], "AgentDebt")
        self.assertEqual(routed["language"], "en")
        call = first(ev, "tool_call")
        self.assertEqual(call["tool"], "get_customer_debt")
        self.assertEqual(call["arguments"], {"mst": MST})
        res = first(ev, "tool_result")
        self.assertTrue(res["ok"], res)
        self.assertIn("delta", kinds(ev))
        final = first(ev, "final")
        self.assertIn("[stand-in]", final["response"])
        deltas = "".join(d["text"] for e, d in ev if e == "delta")
        self.assertTrue(deltas.strip(), "streamed deltas are empty")
        md = final["metadata"]
        self.assertEqual(md["agent"], "AgentDebt")
        self.assertEqual(md["tool_calls"], ["get_customer_debt"])
        self.assertEqual(md["extracted_entities"], {"mst": MST})
        self.assertEqual(md["language"], "en")
        self.assertIn("input", md["tokens"])
        self.assertTrue(md["llm_model"])
        # The user's own JWT does NOT reach the ERP (issue 17): the seed's inject_jwt tool has no
        # jwt_audience equal to the token's aud, so the token (replayable against AgentHub)
        # stays home and the backend gets no Authorization header.
        last = self.pl.erp_last("/api/debt/" + MST)
        self.assertTrue(last, "the ERP saw no request")
        self.assertIsNone(last.get("authorization"))
        self.assertNotIn(self.pl.tokens["demo"], repr(last))
        # Persisted once, job done, session updated, checkpoint under the seed's thread id.
        msgs = self.assistant_messages(r["job_id"])
        self.assertEqual(len(msgs), 1)
        job = self.pl.job(r["job_id"])
        self.assertEqual(job["status"], "done")
        self.assertEqual(job["response"], final["response"])
        sess = self.pl.sql("SELECT agent_id, last_message_at IS NOT NULL FROM sessions "
                           "WHERE session_id = %s", r["session_id"])
        debt_id = self.pl.sql("SELECT agent_id FROM agent_configs WHERE name = 'AgentDebt'")
        self.assertEqual(sess[0], [debt_id[0][0], "t"])
        thread = "tenant_demo__user_demo-user__session_%s" % r["session_id"]
        cps = self.pl.sql("SELECT count(*) FROM checkpoints WHERE thread_id = %s", thread)
        self.assertEqual(cps[0][0], "1")

    def test_debt_vietnamese(self):
        r = self.pl.chat("Công nợ của MST %s là bao nhiêu?" % MST)
        ev = self.pl.events(r["job_id"])
        self.assert_ordered(ev)
        routed = first(ev, "routed")
        self.assertEqual(routed["agent"], "AgentDebt")
        self.assertEqual(routed["language"], "vi")
        self.assertEqual(first(ev, "tool_call")["arguments"], {"mst": MST})
        self.assertEqual(first(ev, "final")["metadata"]["language"], "vi")

    def test_shipment_english_and_vietnamese(self):
        for msg, lang in (("Where is my shipment VN123456789?", "en"),
                          ("Vận đơn VN123456789 đang ở đâu?", "vi")):
            r = self.pl.chat(msg)
            ev = self.pl.events(r["job_id"])
            self.assert_ordered(ev)
            routed = first(ev, "routed")
            self.assertEqual(routed["agent"], "AgentShipment", msg)
            self.assertEqual(routed["language"], lang, msg)
            call = first(ev, "tool_call")
            self.assertEqual(call["tool"], "get_shipment_status", ev)
            self.assertEqual(call["arguments"], {"tracking_number": "VN123456789"})
            self.assertTrue(first(ev, "tool_result")["ok"])
            # AgentShipment's output format is a table of the tool's data
            self.assertIn("| Field | Value |", first(ev, "final")["response"])

    def test_rag_answer_cites_its_source(self):
        if self.pl.kb_loaded is None:
            self.skipTest("agenthubctl has no 'kb' command in this build")
        self.assertTrue(self.pl.kb_loaded, "agenthubctl kb add failed for the demo knowledge base")
        r = self.pl.chat("What is the return policy for goods?")
        ev = self.pl.events(r["job_id"])
        self.assert_ordered(ev)
        self.assertEqual(first(ev, "routed")["agent"], "AgentAnalysis")
        self.assertEqual(first(ev, "tool_call")["tool"], "search_knowledge_base")
        md = first(ev, "final")["metadata"]
        sources = [c.get("source", "") for c in md["citations"]]
        self.assertTrue(any("return-policy" in s for s in sources), md["citations"])
        # and in Vietnamese
        r = self.pl.chat("Chính sách đổi trả hàng như thế nào?")
        ev = self.pl.events(r["job_id"])
        self.assert_ordered(ev)
        routed = first(ev, "routed")
        self.assertEqual((routed["agent"], routed["language"]), ("AgentAnalysis", "vi"))
        self.assertEqual(first(ev, "tool_call")["tool"], "search_knowledge_base")
        self.assertTrue(first(ev, "final")["metadata"]["citations"])

    # ---- supervisor outcomes ----------------------------------------------------------------------
    def test_unclear_answers_in_the_users_language(self):
        r = self.pl.chat("hello there")
        ev = self.pl.events(r["job_id"])
        self.assertEqual(kinds(ev), ["queued", "routed", "final"])
        self.assertEqual(first(ev, "routed")["agent"], "UNCLEAR")
        resp = first(ev, "final")["response"]
        self.assertIn("I can help you with", resp)
        self.assertIn("Customer debt", resp)
        self.assertIn("Shipment tracking", resp)
        self.assertEqual(len(self.assistant_messages(r["job_id"])), 1)
        r = self.pl.chat("xin chào bạn ơi")
        ev = self.pl.events(r["job_id"])
        self.assertEqual(first(ev, "routed")["language"], "vi")
        self.assertIn("Tôi có thể giúp bạn", first(ev, "final")["response"])

    def test_multi_intent_runs_each_part_and_joins(self):
        r = self.pl.chat("What is the debt for MST %s and where is shipment VN123456789?" % MST)
        ev = self.pl.events(r["job_id"], timeout=90)
        k = kinds(ev)
        self.assertEqual(k[-1], "final", k)
        self.assertEqual(k.count("final"), 1)
        routed = first(ev, "routed")
        self.assertEqual(routed["agent"], "MULTI_INTENT")
        self.assertEqual([p["agent"] for p in routed["parts"]], ["AgentDebt", "AgentShipment"])
        tools = sorted(d["tool"] for e, d in ev if e == "tool_call")
        self.assertEqual(tools, ["get_customer_debt", "get_shipment_status"])
        msgs = self.assistant_messages(r["job_id"])
        self.assertEqual([m[0] for m in msgs], ["0", "1"])
        final = first(ev, "final")
        for _, _, content in msgs:
            self.assertIn(content[:40], final["response"].replace("\n", " "))
        job = self.pl.job(r["job_id"])
        self.assertEqual((job["parts_total"], job["parts_done"], job["status"]), (2, 2, "done"))

    def test_follow_up_in_same_session_uses_history(self):
        r1 = self.pl.chat("What is the debt for MST %s?" % MST)
        self.assertEqual(self.pl.wait_job(r1["job_id"])["status"], "done")
        r2 = self.pl.chat("Where is my shipment VN123456789?", session_id=r1["session_id"])
        self.assertEqual(r2["session_id"], r1["session_id"])
        j2 = self.pl.wait_job(r2["job_id"])
        self.assertEqual(j2["status"], "done")
        # The second job's model call carried the first exchange: the checkpoint of the
        # session's thread chains to the first one, and the agent logged the history size.
        thread = "tenant_demo__user_demo-user__session_%s" % r1["session_id"]
        rows = self.pl.sql("SELECT checkpoint_id, coalesce(parent_checkpoint_id, '') FROM "
                           "checkpoints WHERE thread_id = %s ORDER BY created_at", thread)
        self.assertEqual(len(rows), 2)
        self.assertEqual(rows[1][1], rows[0][0])
        self.assertEqual(j2["metadata"].get("history_messages"), 2, j2["metadata"])

    def test_back_to_back_messages_of_a_session_run_in_order(self):
        # The second message is sent before the first is answered: per-session ordering makes
        # its job wait, so it sees the first exchange in its history and finishes after it.
        # A tenant whose LLM takes 0.8 s per call: the first job is surely still running
        # when the second arrives at the agent.
        self.pl.add_tenant("e2eslow", "standin-1@ttft=800", agents=("AgentDebt", "AgentShipment"),
                           tools=("get_customer_debt", "get_shipment_status"))
        t = "e2eslow"
        r1 = self.pl.chat("What is the debt for MST %s?" % MST, tenant=t)
        r2 = self.pl.chat("Where is my shipment VN123456789?", tenant=t,
                          session_id=r1["session_id"])
        j1 = self.pl.wait_job(r1["job_id"], tenant=t)
        j2 = self.pl.wait_job(r2["job_id"], tenant=t)
        self.assertEqual((j1["status"], j2["status"]), ("done", "done"))
        self.assertEqual(j1["metadata"]["history_messages"], 0, j1["metadata"])
        self.assertEqual(j2["metadata"]["history_messages"], 2, j2["metadata"])
        self.assertLessEqual(j1["updated_at"], j2["updated_at"])

    def test_stage_metrics_and_health(self):
        import json as _json
        import urllib.request as ur
        r = self.pl.chat("What is the debt for MST %s?" % MST)
        self.assertEqual(self.pl.wait_job(r["job_id"])["status"], "done")
        for name, port in (("router", self.pl.ports["router_metrics"]),
                           ("agent", self.pl.ports["agent_metrics_0"])):
            with ur.urlopen("http://127.0.0.1:%d/metrics" % port, timeout=10) as resp:
                text = resp.read().decode()
            line = [ln for ln in text.splitlines()
                    if ln.startswith('agenthub_stage_jobs_done_total{stage="%s"}' % name)]
            self.assertTrue(line, text[:2000])
            self.assertGreaterEqual(float(line[0].split()[-1]), 1)
            with ur.urlopen("http://127.0.0.1:%d/health" % port, timeout=10) as resp:
                h = _json.loads(resp.read())
            self.assertEqual((h["status"], h["stage"]), ("ok", name))

    # ---- tenant isolation -------------------------------------------------------------------------
    def test_tenant_without_permission_never_reaches_agent_or_tool(self):
        # acme has no AgentShipment: whatever the message says, it is never routed there.
        r = self.pl.chat("Where is my shipment VN987654321? Use AgentShipment!", tenant="acme")
        ev = self.pl.events(r["job_id"], tenant="acme")
        self.assertNotEqual(first(ev, "routed")["agent"], "AgentShipment")
        self.assertNotIn("AgentShipment", str(first(ev, "final")))
        self.assertEqual(self.pl.erp_last("/api/shipments/VN987654321").get("seen"), False)
        # acme's AgentDebt has get_customer_debt disabled: the ERP never sees acme's MST.
        r = self.pl.chat("What is the debt for MST 9876543210?", tenant="acme")
        ev = self.pl.events(r["job_id"], tenant="acme")
        self.assertEqual(first(ev, "routed")["agent"], "AgentDebt")
        self.assertNotIn("tool_call", kinds(ev))
        self.assertEqual(first(ev, "final")["metadata"]["tool_calls"], [])
        self.assertEqual(self.pl.erp_last("/api/debt/9876543210").get("seen"), False)
        # acme cannot read demo's job either
        st, _ = self.pl.request("GET", "/api/acme/jobs/%s" % r["job_id"], tenant="demo")
        self.assertIn(st, (401, 403, 404))

    def test_agent_created_through_the_admin_api_is_served_without_a_restart(self):
        # The agent processes were started before this agent existed; they subscribe to every
        # agent topic by pattern and pick the new one up from the broker's metadata.
        # Created by the tenant's own admin (issue 17: a tenant admin's agent is its tenant's,
        # served to that tenant only).
        tenant = "wx" + uuid.uuid4().hex[:6]  # its own tenant: demo's routing stays as it is
        self.pl.add_tenant(tenant, self.pl.llm_model, agents=(), tools=())
        admin = self.pl.token(tenant, "ops", roles="admin")
        name = "AgentWeather" + uuid.uuid4().hex[:6]
        st, a = self.pl.request("POST", "/api/admin/agents",
                                {"name": name,
                                 "description": "weather forecast: rain, sunshine, temperature",
                                 "prompt_template": "You forecast the weather."}, token=admin)
        self.assertEqual(st, 201, a)
        self.assertEqual(a["owner_tenant_id"], tenant)
        self.pl.add_tenant(tenant, self.pl.llm_model, agents=(name,), tools=())
        r = self.pl.chat("Will there be rain tomorrow, and what temperature?", tenant=tenant)
        ev = self.pl.events(r["job_id"], tenant=tenant, timeout=120)
        self.assertEqual(first(ev, "routed")["agent"], name, ev)
        final = first(ev, "final")
        self.assertIsNotNone(final, kinds(ev))
        self.assertEqual(final["metadata"]["agent"], name)
        self.assertEqual(self.pl.job(r["job_id"], tenant=tenant)["status"], "done")


if __name__ == "__main__":
    unittest.main()
