"""Admin API through the real ingress: CRUD of tenants, LLM models, output formats, tools,
agents (with tool priorities), permissions and llm-config; schema validation on write; the
API key stored Fernet-encrypted and never returned; cache keys deleted on every write."""
import json
import os
import sys
import time
import unittest
import uuid

from cryptography.fernet import Fernet

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import ingress_support as S  # noqa: E402


class IngressAdminTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        why = S.stack_env_missing()
        if why:
            raise unittest.SkipTest(why)
        cls.ing = S.Ingress()
        cls.admin = cls.ing.admin_token()

    @classmethod
    def tearDownClass(cls):
        if hasattr(cls, "ing"):
            cls.ing.stop_and_check(unittest.TestCase())

    def call(self, method, path, body=None, want=None):
        st, resp, _ = self.ing.request(method, "/api/admin" + path, body, token=self.admin)
        if want is not None:
            self.assertEqual(st, want, "%s %s -> %s %s" % (method, path, st, resp))
        return st, resp

    def model(self):
        _, m = self.call("POST", "/llm-models", {"provider": "openai_compatible",
                                                 "model_name": S.unique("m"),
                                                 "base_url": "http://127.0.0.1:1/v1",
                                                 "context_window": 8192}, want=201)
        return m

    def tool(self, **over):
        body = {"name": S.unique("get_debt").replace("-", "_"), "base_type": "HTTP_GET",
                "description": "debt lookup",
                "config": {"endpoint": "http://127.0.0.1:1/debt/{mst}", "timeout_ms": 1000},
                "input_schema": {"type": "object", "required": ["mst"],
                                 "properties": {"mst": {"type": "string", "minLength": 10}}}}
        body.update(over)
        return self.call("POST", "/tools", body)

    def test_tenants_crud(self):
        t = S.unique("tn")
        _, body = self.call("POST", "/tenants", {"tenant_id": t, "name": "Tenant N"}, want=201)
        self.assertEqual((body["tenant_id"], body["is_active"]), (t, True))
        self.call("POST", "/tenants", {"tenant_id": t, "name": "again"}, want=409)
        self.call("POST", "/tenants", {"tenant_id": "bad tenant!", "name": "x"}, want=400)
        self.call("POST", "/tenants", {"tenant_id": S.unique("tn")}, want=400)
        _, lst = self.call("GET", "/tenants", want=200)
        self.assertIn(t, [x["tenant_id"] for x in lst["items"]])
        S.redis_cli("SET", "agenthub:%s:cache:permissions:agents" % t, "[]")
        _, body = self.call("PATCH", "/tenants/" + t, {"is_active": False, "settings": {"a": 1}},
                            want=200)
        self.assertEqual((body["is_active"], body["settings"]), (False, {"a": 1}))
        self.assertEqual(S.redis_cli("EXISTS", "agenthub:%s:cache:permissions:agents" % t), "0")
        self.call("PATCH", "/tenants/" + t, {"tenant_id": "other"}, want=400)
        self.call("PATCH", "/tenants/" + t, {"is_active": "yes"}, want=400)
        self.call("GET", "/tenants/" + t, want=200)
        # a misspelt member is named, not ignored; what GET answered can be sent back
        _, body = self.call("PATCH", "/tenants/" + t, {"nmae": "x"}, want=400)
        self.assertIn('unknown member "nmae"', body["error"]["message"])
        _, cur = self.call("GET", "/tenants/" + t, want=200)
        _, same = self.call("PUT", "/tenants/" + t, dict(cur, name="Put back"), want=200)
        self.assertEqual(same["name"], "Put back")
        _, body = self.call("PATCH", "/tenants/" + t, {"created_at": "2020-01-01T00:00:00Z"},
                            want=400)
        self.assertIn("created_at is read-only", body["error"]["message"])
        self.call("DELETE", "/tenants/" + t, want=204)
        self.call("GET", "/tenants/" + t, want=404)
        self.call("DELETE", "/tenants/" + t, want=404)
        # a deleted tenant's id is not given again: its usage and audit rows would be the new
        # tenant's (the month's spend too)
        _, body = self.call("POST", "/tenants", {"tenant_id": t, "name": "reborn"}, want=409)
        self.assertIn("never given twice", body["error"]["message"])
        # /api/admin/... is the admin API: a tenant called "admin" could use none of its routes
        _, body = self.call("POST", "/tenants", {"tenant_id": "admin", "name": "x"}, want=400)
        self.assertIn("reserved", body["error"]["message"])

    def test_one_query_parameter_leaves_the_others_at_their_defaults(self):
        """civetweb's mg_get_var() empties its buffer when a parameter is absent: any one
        parameter blanked the defaults of the others (?tenant_id=X alone: 400 "limit must be
        1..1000"; ?before=X alone: 400; ?from=X alone: no grouping instead of by day)."""
        t = S.unique("tq")
        self.ing.ensure_tenant(t)
        _, whole = self.call("GET", "/audit?tenant_id=" + t + "&limit=100", want=200)
        _, one = self.call("GET", "/audit?tenant_id=" + t, want=200)
        self.assertEqual(one, whole)
        self.call("GET", "/audit?tenant_id=%s&limit=0" % t, want=400)
        # the audit log pages, newest first, and says when older rows follow
        for name in ("one", "two"):
            self.call("PATCH", "/tenants/" + t, {"name": name}, want=200)
        _, a1 = self.call("GET", "/audit?tenant_id=%s&limit=1" % t, want=200)
        _, a2 = self.call("GET", "/audit?tenant_id=%s&limit=1&offset=1" % t, want=200)
        self.assertEqual(a1.get("next_offset"), 1, a1)
        self.assertLess(a2["items"][0]["audit_id"], a1["items"][0]["audit_id"])
        before = time.gmtime()
        _, plain = self.call("GET", "/usage?tenant_id=" + t, want=200)
        after = time.gmtime()
        self.assertEqual(plain["group_by"], "day")
        # the window it covers is named even when defaulted: this month (UTC) up to now
        self.assertIn(plain["from"], {time.strftime("%Y-%m-01T00:00:00Z", g)
                                      for g in (before, after)})
        self.assertTrue(time.strftime("%Y-%m-%dT%H:%M:%SZ", before) <= plain["to"] <=
                        time.strftime("%Y-%m-%dT%H:%M:%SZ", after), plain)
        _, dated = self.call("GET", "/usage?tenant_id=%s&from=2026-01-01" % t, want=200)
        self.assertEqual(dated["group_by"], "day")
        self.assertEqual(dated["from"], "2026-01-01")
        _, both = self.call("GET", "/usage?tenant_id=%s&from=2026-01-01&to=2026-02-01T00:00:00Z"
                            % t, want=200)
        self.assertEqual((both["from"], both["to"]), ("2026-01-01", "2026-02-01T00:00:00Z"))
        # from/to: dates or zoned times, from before to (PostgreSQL took "tomorrow")
        for q in ("from=tomorrow", "to=2026-12-01%2008:00:00", "from=2026-12-10&to=2026-12-01",
                  "from=2026-02-30&to=2026-03-01", "group_by=tenant,bogus"):
            st, body = self.call("GET", "/usage?tenant_id=%s&%s" % (t, q))
            self.assertEqual(st, 400, (q, body))
        self.call("GET", "/usage?tenant_id=%s&from=2026-12-01T00:00:00Z&to=2026-12-02" % t,
                  want=200)
        user = self.ing.token(tenant=t, sub="u-q")
        st, body, _ = self.ing.request("GET", "/api/%s/usage?group_by=tenant" % t, token=user)
        self.assertEqual(st, 400, body)
        self.assertNotIn("tenant,", body["error"]["message"])  # not offered where refused
        for path in ("/api/%s/documents?before=2030-01-01T00:00:00Z" % t,
                     "/api/%s/documents?unrelated=1" % t):
            st, body, _ = self.ing.request("GET", path, token=user)
            self.assertEqual(st, 200, "%s -> %s %s" % (path, st, body))
        st, body, _ = self.ing.request("GET", "/api/%s/documents?limit=201" % t, token=user)
        self.assertEqual(st, 400, body)

    def test_models_and_formats(self):
        m = self.model()
        self.call("POST", "/llm-models", {"provider": "nope", "model_name": "x"}, want=400)
        self.call("PATCH", "/llm-models/" + m["model_id"], {"max_output_tokens": 1024}, want=200)
        self.call("PATCH", "/llm-models/" + m["model_id"], {"context_window": -5}, want=400)
        self.call("GET", "/llm-models/not-a-uuid", want=404)
        _, f = self.call("POST", "/output-formats", {"name": S.unique("fmt"), "format_type":
                                                     "json", "schema": {"type": "object"}},
                         want=201)
        self.call("POST", "/output-formats", {"name": S.unique("fmt"), "format_type": "pdf"},
                  want=400)
        self.call("POST", "/output-formats", {"name": S.unique("fmt"), "format_type": "json",
                                              "schema": {"oneOf": []}}, want=400)
        self.call("DELETE", "/output-formats/" + f["format_id"], want=204)
        self.call("DELETE", "/llm-models/" + m["model_id"], want=204)

    def test_tools_validation_and_invalidation(self):
        st, t = self.tool()
        self.assertEqual(st, 201, t)
        self.assertEqual(t["base_type"], "HTTP_GET")
        self.assertIsNone(t["owner_tenant_id"])  # the operator's: a catalog tool, and it says so
        # the operator cannot make another tenant's tool by naming an owner: refused, not a
        # catalog tool any tenant can be granted
        st, body = self.tool(owner_tenant_id="acme")
        self.assertEqual(st, 400, body)
        self.assertIn("owner_tenant_id is read-only", body["error"]["message"])
        self.assertEqual(t["config"]["endpoint"], "http://127.0.0.1:1/debt/{mst}")
        # invalid: unknown base type, config without endpoint, unsupported schema keyword,
        # input schema that is not an object schema, bad config field type
        for over in [{"base_type": "DB_QUERY"}, {"config": {"timeout_ms": 5}},
                     {"input_schema": {"type": "object", "anyOf": []}},
                     {"input_schema": {"type": "string"}},
                     {"config": {"endpoint": "http://x", "timeout_ms": "soon"}},
                     {"output_schema": {"type": "object", "$ref": "#/x"}},
                     {"name": "has space"}]:
            st, body = self.tool(**over)
            self.assertEqual(st, 400, "%s -> %s" % (over, body))
            self.assertIn("message", body["error"])
        st, body = self.tool(name=t["name"])
        self.assertEqual(st, 409)
        # a RAG tool needs no endpoint
        st, rag = self.tool(base_type="RAG", config={"top_k": 3})
        self.assertEqual(st, 201, rag)
        # write-through invalidation of the tool's cache keys in every tenant
        k1 = "agenthub:tenant-x:cache:tool:%s" % t["tool_id"]
        k2 = "agenthub:tenant-y:cache:tool:%s" % t["tool_id"]
        k3 = "agenthub:tenant-y:cache:agent_tools:%s" % uuid.uuid4()
        S.redis_cli("SET", k1, "{}")
        S.redis_cli("SET", k2, "{}")
        S.redis_cli("SET", k3, "[]")
        _, upd = self.call("PATCH", "/tools/" + t["tool_id"], {"description": "new"}, want=200)
        self.assertEqual(upd["description"], "new")
        self.assertEqual(S.redis_cli("EXISTS", k1, k2, k3), "0")
        # config is checked against the stored base type on update
        self.call("PATCH", "/tools/" + t["tool_id"], {"config": {"timeout_ms": 5}}, want=400)
        self.call("PUT", "/tools/" + t["tool_id"],
                  {"config": {"endpoint": "http://127.0.0.1:2/x"}}, want=200)
        # what GET answered goes back as it came (tool_id, owner_tenant_id, the times) ...
        _, cur = self.call("GET", "/tools/" + t["tool_id"], want=200)
        _, upd = self.call("PUT", "/tools/" + t["tool_id"], dict(cur, description="round trip"),
                           want=200)
        self.assertEqual(upd["description"], "round trip")
        # ... but changed, it is refused by name
        _, body = self.call("PATCH", "/tools/" + t["tool_id"], {"tool_id": str(uuid.uuid4())},
                            want=400)
        self.assertIn("tool_id is read-only", body["error"]["message"])
        _, lst = self.call("GET", "/tools", want=200)
        self.assertIn(t["tool_id"], [x["tool_id"] for x in lst["items"]])
        self.call("DELETE", "/tools/" + rag["tool_id"], want=204)

    def test_every_body_names_an_unknown_member(self):
        """A misspelt member is a 400 that names it on every route with a JSON body, never read
        as absent (a tool set without its priorities, a search with the default top_k)."""
        t = S.unique("tu")
        self.call("POST", "/tenants", {"tenant_id": t, "name": t}, want=201)
        _, a = self.call("POST", "/agents", {"name": "Unk" + uuid.uuid4().hex[:8],
                                             "prompt_template": "p"}, want=201)
        _, tool = self.tool()
        cases = [
            ("/agents/%s/tools" % a["agent_id"],
             {"tools": [{"tool_id": tool["tool_id"], "prio": 1, "priority": 1}]}, "prio"),
            ("/agents/%s/tools" % a["agent_id"], {"tools": [], "replace": True}, "replace"),
            ("/knowledge", {"tenant_id": t, "source": "s", "text": "x", "txt": "y"}, "txt"),
            ("/knowledge/search", {"tenant_id": t, "query": "q", "topk": 3}, "topk"),
            ("/tools/%s/test" % tool["tool_id"], {"tenant_id": t, "args": {}}, "args"),
            ("/knowledge/ingest", {"tenant_id": t, "batch_id": str(uuid.uuid4()),
                                   "documents": []}, "documents"),
        ]
        for path, body, member in cases:
            _, resp = self.call("POST", path, body, want=400)
            self.assertIn('unknown member "%s"' % member, resp["error"]["message"], path)
        # a user's own routes too
        tok = self.ing.token(tenant=t, sub="u1")
        for path, body, member in (("/api/%s/sessions" % t, {"titel": "x"}, "titel"),
                                   ("/api/%s/documents" % t,
                                    {"documents": [{"filename": "a.txt", "content_type":
                                                    "text/plain", "content_base64": "YQ=="}],
                                     "language": "vie"}, "language"),
                                   ("/api/%s/documents" % t,
                                    {"documents": [{"filename": "a.txt", "content_type":
                                                    "text/plain", "data": "YQ=="}]}, "data")):
            st, resp, _ = self.ing.request("POST", path, body, token=tok)
            self.assertEqual(st, 400, (path, resp))
            self.assertIn('unknown member "%s"' % member, resp["error"]["message"], path)

    def test_agents_tools_and_reload(self):
        m = self.model()
        name = "Agent" + uuid.uuid4().hex[:8]
        _, a = self.call("POST", "/agents", {"name": name, "prompt_template": "You help.",
                                             "llm_model_id": m["model_id"]}, want=201)
        self.call("POST", "/agents", {"name": name, "prompt_template": "dup"}, want=409)
        self.call("POST", "/agents", {"name": "bad name", "prompt_template": "x"}, want=400)
        self.call("POST", "/agents", {"name": "NoPrompt" + uuid.uuid4().hex[:6]}, want=400)
        _, t1 = self.tool()
        _, t2 = self.tool()
        aid = a["agent_id"]
        S.redis_cli("SET", "agenthub:tenant-x:cache:agent:%s" % aid, "{}")
        S.redis_cli("SET", "agenthub:tenant-x:cache:agent_tools:%s" % aid, "[]")
        _, tools = self.call("POST", "/agents/%s/tools" % aid,
                             {"tools": [{"tool_id": t2["tool_id"], "priority": 2},
                                        {"tool_id": t1["tool_id"], "priority": 1}]}, want=200)
        self.assertEqual([x["tool_id"] for x in tools["tools"]], [t1["tool_id"], t2["tool_id"]])
        self.assertEqual([x["priority"] for x in tools["tools"]], [1, 2])
        self.assertEqual(S.redis_cli("EXISTS", "agenthub:tenant-x:cache:agent:%s" % aid), "0")
        self.assertEqual(S.redis_cli("EXISTS", "agenthub:tenant-x:cache:agent_tools:%s" % aid),
                         "0")
        # replacing the set
        _, tools = self.call("POST", "/agents/%s/tools" % aid,
                             {"tools": [{"tool_id": t2["tool_id"], "priority": 0}]}, want=200)
        self.assertEqual([x["tool_id"] for x in tools["tools"]], [t2["tool_id"]])
        self.call("POST", "/agents/%s/tools" % aid,
                  {"tools": [{"tool_id": str(uuid.uuid4()), "priority": 1}]}, want=400)
        self.call("POST", "/agents/%s/tools" % aid, {"tools": [{"tool_id": t1["tool_id"]}]},
                  want=400)
        self.call("POST", "/agents/%s/tools" % str(uuid.uuid4()), {"tools": []}, want=404)
        # reload: every agenthub:*:cache:agent:* key goes, nothing else
        S.redis_cli("SET", "agenthub:t1:cache:agent:a", "1")
        S.redis_cli("SET", "agenthub:t2:cache:agent:b", "1")
        S.redis_cli("SET", "agenthub:t2:cache:tool:c", "1")
        S.redis_cli("SET", "agenthub:t2:cache:agent_tools:b", "1")
        self.call("POST", "/agents/reload", want=200)
        self.assertEqual(S.redis_cli("EXISTS", "agenthub:t1:cache:agent:a",
                                     "agenthub:t2:cache:agent:b",
                                     "agenthub:t2:cache:agent_tools:b"), "0")
        self.assertEqual(S.redis_cli("EXISTS", "agenthub:t2:cache:tool:c"), "1")
        self.call("GET", "/agents/reload", want=405)
        _, got = self.call("GET", "/agents/" + aid, want=200)
        self.assertEqual(got["name"], name)
        self.call("PATCH", "/agents/" + aid, {"description": "d", "is_active": False}, want=200)
        self.call("DELETE", "/agents/" + aid, want=204)
        self.call("GET", "/agents/" + aid, want=404)

    def test_permissions(self):
        t = S.unique("tp")
        self.call("POST", "/tenants", {"tenant_id": t, "name": t}, want=201)
        _, a = self.call("POST", "/agents", {"name": "Perm" + uuid.uuid4().hex[:8],
                                             "prompt_template": "p"}, want=201)
        _, tool = self.tool()
        S.redis_cli("SET", "agenthub:%s:cache:permissions:agents" % t, "[]")
        S.redis_cli("SET", "agenthub:%s:cache:permissions:tools" % t, "[]")
        S.redis_cli("SET", "agenthub:%s:cache:agent_tools:%s" % (t, a["agent_id"]), "[]")
        _, p = self.call("POST", "/tenants/%s/permissions" % t,
                         {"agent_id": a["agent_id"], "enabled": True}, want=200)
        self.assertEqual([(x["agent_id"], x["enabled"]) for x in p["agents"]],
                         [(a["agent_id"], True)])
        self.assertEqual(S.redis_cli("EXISTS", "agenthub:%s:cache:permissions:agents" % t), "0")
        self.assertEqual(S.redis_cli("EXISTS", "agenthub:%s:cache:permissions:tools" % t), "1")
        _, p = self.call("POST", "/tenants/%s/permissions" % t,
                         {"agents": [{"agent_id": a["agent_id"], "enabled": False}],
                          "tools": [{"tool_id": tool["tool_id"], "enabled": True}]}, want=200)
        self.assertEqual(p["agents"][0]["enabled"], False)
        self.assertEqual(p["tools"][0]["tool_id"], tool["tool_id"])
        self.assertEqual(S.redis_cli("EXISTS", "agenthub:%s:cache:permissions:tools" % t), "0")
        self.assertEqual(S.redis_cli("EXISTS", "agenthub:%s:cache:agent_tools:%s" %
                                     (t, a["agent_id"])), "0")
        self.call("POST", "/tenants/%s/permissions" % t, {"enabled": True}, want=400)
        self.call("POST", "/tenants/%s/permissions" % t,
                  {"agent_id": a["agent_id"], "tool_id": tool["tool_id"]}, want=400)
        # an unknown agent is "not found" (as another tenant's agent is: issue 17)
        self.call("POST", "/tenants/%s/permissions" % t,
                  {"agent_id": str(uuid.uuid4()), "enabled": True}, want=404)
        self.call("POST", "/tenants/%s/permissions" % S.unique("none"),
                  {"agent_id": a["agent_id"]}, want=404)
        # a misspelt member is named, at the top and in an entry ("enable": false read as
        # "enabled": true, the default)
        _, body = self.call("POST", "/tenants/%s/permissions" % t,
                            {"agent_id": a["agent_id"], "enable": False}, want=400)
        self.assertIn('unknown member "enable"', body["error"]["message"])
        _, body = self.call("POST", "/tenants/%s/permissions" % t,
                            {"tools": [{"tool_id": tool["tool_id"], "enable": False}]}, want=400)
        self.assertIn('unknown member "enable"', body["error"]["message"])
        # a bad entry anywhere writes nothing: the first entry is not applied behind the 400
        _, before = self.call("GET", "/tenants/%s/permissions" % t, want=200)
        self.call("POST", "/tenants/%s/permissions" % t,
                  {"agents": [{"agent_id": a["agent_id"], "enabled": True}],
                   "tools": [{"tool_id": "not-a-uuid", "enabled": True}]}, want=400)
        _, after = self.call("GET", "/tenants/%s/permissions" % t, want=200)
        self.assertEqual(after, before)
        self.assertEqual(after["agents"][0]["enabled"], False)

    def test_llm_config_key_encrypted_never_returned(self):
        t = S.unique("tl")
        self.call("POST", "/tenants", {"tenant_id": t, "name": t}, want=201)
        m = self.model()
        secret = "sk-test-" + uuid.uuid4().hex
        S.redis_cli("SET", "agenthub:%s:llm" % t, "cached")
        st, body, _ = self.ing.request("PUT", "/api/admin/tenants/%s/llm-config" % t,
                                       {"model_id": m["model_id"], "api_key": secret,
                                        "rate_limit_rpm": 120, "temperature": 0.2},
                                       token=self.admin)
        self.assertEqual(st, 200, body)
        self.assertNotIn(secret, str(body))
        self.assertEqual((body["has_api_key"], body["rate_limit_rpm"]), (True, 120))
        self.assertNotIn("encrypted_api_key", body)
        self.assertEqual(S.redis_cli("EXISTS", "agenthub:%s:llm" % t), "0")
        stored = S.psql("SELECT encrypted_api_key FROM tenant_llm_configs WHERE tenant_id = :'a'",
                        t)[0][0]
        self.assertNotEqual(stored, secret)
        self.assertEqual(Fernet(self.ing.fernet_key.encode()).decrypt(stored.encode()).decode(),
                         secret)
        _, got = self.call("GET", "/tenants/%s/llm-config" % t, want=200)
        self.assertNotIn(secret, str(got))
        self.assertNotIn(stored, str(got))
        # update without api_key keeps the key
        _, got = self.call("PATCH", "/tenants/%s/llm-config" % t,
                           {"model_id": m["model_id"], "rate_limit_rpm": 5}, want=200)
        self.assertEqual((got["has_api_key"], got["rate_limit_rpm"]), (True, 5))
        self.assertNotIn(secret, self.ing.logs())
        # what GET answered can be sent back (its read-only members are ignored) ...
        _, back = self.call("PUT", "/tenants/%s/llm-config" % t, dict(got, rate_limit_rpm=7),
                            want=200)
        self.assertEqual((back["has_api_key"], back["rate_limit_rpm"]), (True, 7))
        # ... and a misspelt member is named ("api-key" would have kept the old key)
        _, body = self.call("PUT", "/tenants/%s/llm-config" % t,
                            {"model_id": m["model_id"], "api-key": "sk-new"}, want=400)
        self.assertIn('unknown member "api-key"', body["error"]["message"])
        self.assertNotIn("sk-new", str(body))
        self.call("PUT", "/tenants/%s/llm-config" % t, {"api_key": "x"}, want=400)
        self.call("PUT", "/tenants/%s/llm-config" % t,
                  {"model_id": str(uuid.uuid4())}, want=400)
        # out-of-range values are refused by name, before any other check
        for extra, named in (({"temperature": 7}, "temperature"),
                             ({"max_tokens": 0}, "max_tokens"),
                             ({"rate_limit_rpm": -1}, "rate_limit_rpm"),
                             ({"embedding_provider": "bogus"}, "embedding_provider"),
                             ({"embedding_base_url": "ftp://x/"}, "embedding_base_url"),
                             ({"fallback_model_id": m["model_id"]}, "fallback_model_id")):
            _, body = self.call("PUT", "/tenants/%s/llm-config" % t,
                                dict(extra, model_id=m["model_id"]), want=400)
            self.assertIn(named, body["error"]["message"])
        self.call("DELETE", "/tenants/%s/llm-config" % t, want=204)
        self.call("GET", "/tenants/%s/llm-config" % t, want=404)

    def test_knowledge_add_list_delete(self):
        if not os.environ.get("CHROMA_URL"):
            self.skipTest("no CHROMA_URL")
        t = S.unique("tk")
        self.call("POST", "/tenants", {"tenant_id": t, "name": t}, want=201)
        text = ("Payments are due within 30 days of the invoice date. " * 30 +
                "\n\nLate payments incur a fee of two percent per month. " * 20)
        _, body = self.call("POST", "/knowledge", {"tenant_id": t, "source": "terms.md",
                                                   "title": "Terms", "text": text}, want=201)
        self.assertEqual(body["documents"][0]["doc_id"], "terms.md")
        self.assertGreater(body["documents"][0]["chunks"], 1)
        self.assertEqual(body["embedder"], "local")
        _, body = self.call("POST", "/knowledge", {"tenant_id": t, "documents": [
            {"source": "a.md", "text": "Alpha."}, {"source": "b.md", "text": "Beta."}]},
            want=201)
        self.assertEqual([d["doc_id"] for d in body["documents"]], ["a.md", "b.md"])
        _, lst = self.call("GET", "/knowledge?tenant_id=" + t, want=200)
        self.assertEqual([d["doc_id"] for d in lst["items"]], ["a.md", "b.md", "terms.md"])
        self.call("POST", "/knowledge", {"tenant_id": t, "source": "x.md", "text": ""}, want=400)
        self.call("POST", "/knowledge", {"source": "x.md", "text": "x"}, want=400)
        self.call("POST", "/knowledge", {"tenant_id": S.unique("none"), "source": "x",
                                         "text": "x"}, want=404)
        self.call("DELETE", "/knowledge/%s/a.md" % t, want=204)
        self.call("DELETE", "/knowledge/%s/a.md" % t, want=404)
        _, lst = self.call("GET", "/knowledge?tenant_id=" + t, want=200)
        self.assertEqual([d["doc_id"] for d in lst["items"]], ["b.md", "terms.md"])

    def test_unknown_admin_routes(self):
        self.call("GET", "/nothing", want=404)
        self.call("GET", "/tenants/x/nothing", want=404)
        self.call("PATCH", "/tools", {}, want=405)

    def test_lists_page_and_say_when_more_follow(self):
        """An admin list answers at most 1,000 rows (it was cut there without a word): ?limit
        and ?offset page through it in a total order, and next_offset names the next page
        while more rows follow."""
        for t in (S.unique("pg") for _ in range(3)):
            self.ing.ensure_tenant(t)
        for path in ("/tenants", "/llm-models"):
            _, whole = self.call("GET", path, want=200)
            self.assertNotIn("next_offset", whole)
            ids = [json.dumps(x, sort_keys=True) for x in whole["items"]]
            self.assertGreaterEqual(len(ids), 3 if path == "/tenants" else 1)
            paged, offset = [], 0
            while True:
                _, page = self.call("GET", "%s?limit=2&offset=%d" % (path, offset), want=200)
                self.assertLessEqual(len(page["items"]), 2)
                paged += [json.dumps(x, sort_keys=True) for x in page["items"]]
                if "next_offset" not in page:
                    break
                self.assertEqual(page["next_offset"], offset + 2)
                offset = page["next_offset"]
            self.assertEqual(paged, ids, path)  # every row once, in the same order
        _, tenants = self.call("GET", "/tenants", want=200)
        n = len(tenants["items"])
        _, last = self.call("GET", "/tenants?limit=1&offset=%d" % (n - 1), want=200)
        self.assertEqual((len(last["items"]), "next_offset" in last), (1, False))
        for q in ("limit=0", "limit=1001", "limit=x", "offset=-1", "offset=1.5", "limit="):
            self.call("GET", "/tenants?" + q, want=400)

    def test_a_key_pasted_into_the_revoke_url_is_refused_and_never_stored(self):
        """DELETE .../api-keys/<the whole key> was a 404, and the audit row kept the key in
        clear in its route, readable by the tenant's admins."""
        t = S.unique("tk")
        self.ing.ensure_tenant(t)
        key = self.ing.api_key(t)
        secret = key.split("_", 2)[2]
        st, body = self.call("DELETE", "/tenants/%s/api-keys/%s" % (t, key), want=400)
        self.assertIn("key_id", body["error"]["message"])
        self.assertNotIn(secret, json.dumps(body))
        _, audit = self.call("GET", "/audit?tenant_id=" + t, want=200)
        rows = [a for a in audit["items"] if a["method"] == "DELETE"]
        self.assertEqual(len(rows), 1, audit)
        self.assertNotIn(secret, json.dumps(audit))
        self.assertIn("/api-keys/", rows[0]["route"])
        # the key still works: nothing was revoked
        st, _, _ = self.ing.request("GET", "/api/%s/sessions" % t, token=key)
        self.assertEqual(st, 200)

    def test_405_names_the_methods_the_route_takes(self):
        """RFC 9110: a 405 carries Allow. Each route below answers a wrong method with 405 and
        the methods it takes, and none of the methods it names is itself answered 405."""
        t = S.unique("tm")
        self.ing.ensure_tenant(t)
        user = self.ing.token(tenant=t, sub="u-405")
        op = self.admin
        nobody = str(uuid.uuid4())
        routes = [  # (path, token, a method it refuses, its Allow)
            ("/api/%s/chat" % t, user, "GET", "POST"),
            ("/api/%s/jobs/%s" % (t, nobody), user, "POST", "GET, HEAD"),
            ("/api/%s/sessions" % t, user, "PUT", "GET, POST"),
            ("/api/%s/sessions/%s" % (t, nobody), user, "POST", "GET, DELETE"),
            ("/api/%s/sessions/%s/messages" % (t, nobody), user, "POST", "GET"),
            ("/api/%s/documents" % t, user, "PUT", "GET, HEAD, POST"),
            ("/v1/models", user, "POST", "GET, HEAD"),
            ("/v1/chat/completions", user, "GET", "POST"),
            ("/api/admin/tenants", op, "PUT", "GET, POST"),
            ("/api/admin/tenants/" + S.unique("absent"), op, "POST", "GET, PATCH, PUT, DELETE"),
            ("/api/admin/tenants/%s/limits" % t, op, "DELETE", "GET, PUT, PATCH, POST"),
            ("/api/admin/prices", op, "PATCH", "GET, PUT, POST, DELETE"),
            ("/api/admin/agents/reload", op, "GET", "POST"),
            ("/api/admin/audit", op, "POST", "GET"),
            ("/api/admin/knowledge/search", op, "GET", "POST"),
            ("/api/admin/metrics/cluster", op, "POST", "GET"),
            ("/", None, "POST", "GET, HEAD"),
        ]
        for path, token, wrong, allow in routes:
            with self.subTest(path=path):
                st, body, hdrs = self.ing.request(wrong, path, {}, token=token)
                self.assertEqual(st, 405, "%s %s -> %s %s" % (wrong, path, st, body))
                self.assertEqual(hdrs.get("allow"), allow, "%s %s" % (wrong, path))
                for m in allow.split(", "):
                    st, body, _ = self.ing.request(m, path, None if m in ("GET", "HEAD", "DELETE")
                                                   else {}, token=token)
                    self.assertNotEqual(st, 405, "%s %s is in Allow but answered 405" % (m, path))


if __name__ == "__main__":
    unittest.main()
