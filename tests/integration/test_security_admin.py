"""test_security_admin.py — issue 17 items 1, 2 (ingress side) and 6, attacked on a running
stack: tenant-scoped administration, the platform operator, the admin audit log, provider keys
that stay with their endpoint, token lifetime and token_use, tokens in URLs, tenant-owned
agents and tools, and the demo's secrets' mode from creation.

Every case stages its attack with what the attacker has (a tenant's admin token, a token it
minted, a base_url change the operator or a DBA makes) and asserts what the service answered
AND what reached the database or a backend. Setup goes through psql, not the admin API, so the
same attacks also run (and fail) against binaries from before the fix (AGENTHUB_BIN=...).
"""
import http.server
import json
import os
import re
import socketserver
import stat
import subprocess
import sys
import tempfile
import threading
import time
import unittest
import uuid

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import ingress_support as S  # noqa: E402
import pipeline_case as pc  # noqa: E402
import pipeline_harness as ph  # noqa: E402

SECRET_KEY = "sk-acme-" + uuid.uuid4().hex  # the provider key the attacker wants


class Recorder:
    """A loopback HTTP server that records every request's path and Authorization header
    (standing in for a host the attacker controls) and answers 500."""

    def __init__(self):
        self.seen = []
        rec = self

        class H(http.server.BaseHTTPRequestHandler):
            def _any(self):
                n = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(n) if n else b""
                rec.seen.append({"path": self.path,
                                 "auth": self.headers.get("Authorization", ""),
                                 "key": self.headers.get("x-api-key", "") +
                                 self.headers.get("x-goog-api-key", ""),
                                 "body": body.decode(errors="replace")})
                self.send_response(500)
                self.send_header("Content-Length", "0")
                self.end_headers()

            do_POST = do_GET = _any

            def log_message(self, *a):
                pass

        self.srv = socketserver.ThreadingTCPServer(("127.0.0.1", 0), H)
        self.srv.daemon_threads = True
        self.port = self.srv.server_address[1]
        self.url = "http://127.0.0.1:%d/v1" % self.port
        threading.Thread(target=self.srv.serve_forever, daemon=True).start()

    def saw_key(self, key):
        return any(key in (r["auth"] + r["key"] + r["body"] + r["path"]) for r in self.seen)

    def stop(self):
        self.srv.shutdown()
        self.srv.server_close()


def fernet_encrypt(fernet_key, plain):
    env = dict(os.environ, FERNET_KEY=fernet_key)
    out = subprocess.run([os.path.join(S.BIN, "agenthubctl"), "fernet", "encrypt"], env=env,
                         input=plain, capture_output=True, text=True, timeout=30, check=True)
    return out.stdout.strip()


def add_model(base_url, provider="openai_compatible", name=None):
    name = name or uniq("m")
    return S.psql("INSERT INTO llm_models (provider, model_name, base_url) VALUES "
                  "(:'a', :'b', :'c') RETURNING model_id", provider, name, base_url)[0][0]


def uniq(p):
    return "%s-%s" % (p, uuid.uuid4().hex[:10])


class AdminSecurityTest(unittest.TestCase):
    """One ingress (with a platform operator key set) and two tenants, acme and demo, seeded
    through psql; acme has an LLM config with a stored provider key."""

    @classmethod
    def setUpClass(cls):
        why = S.stack_env_missing()
        if why:
            raise unittest.SkipTest(why)
        cls.ing = S.Ingress()
        cls.acme, cls.demo = uniq("acme"), uniq("demo")
        for t in (cls.acme, cls.demo):
            S.psql("INSERT INTO tenants (tenant_id, name) VALUES (:'a', :'a')", t)
        cls.model = add_model("http://127.0.0.1:9/v1", name=uniq("acme-model"))
        cls.enc = fernet_encrypt(cls.ing.fernet_key, SECRET_KEY)
        S.psql("INSERT INTO tenant_llm_configs (tenant_id, model_id, encrypted_api_key) VALUES "
               "(:'a', :'b', :'c')", cls.acme, cls.model, cls.enc)
        cls.demo_admin = cls.ing.tenant_admin_token(cls.demo, sub="mallory")
        cls.acme_admin = cls.ing.tenant_admin_token(cls.acme, sub="alice")
        cls.op = cls.ing.operator_token(sub="op-carol")

    @classmethod
    def tearDownClass(cls):
        if getattr(cls, "ing", None):
            rc = cls.ing.stop()
            rep = cls.ing.sanitizer_report()
            assert rep == "", rep
            assert rc == 0, "ingress exit status %s" % rc

    def req(self, method, path, body=None, token=None):
        return self.ing.request(method, path, body, token=token)

    def acme_row(self):
        return S.psql("SELECT model_id, encrypted_api_key, rate_limit_rpm FROM "
                      "tenant_llm_configs WHERE tenant_id = :'a'", self.acme)

    # ---- 1. cross-tenant admin -------------------------------------------------------------
    def test_cross_tenant_admin_is_refused(self):
        """demo's admin token against acme's LLM config, permissions, knowledge and tenant
        row: 403 every time, and acme's config is unchanged in the database."""
        before = self.acme_row()
        evil = add_model("http://127.0.0.1:9/evil", name=uniq("evil"))
        A = "/api/admin/tenants/" + self.acme
        attacks = [
            ("PUT", A + "/llm-config", {"model_id": evil, "rate_limit_rpm": 999}),
            ("GET", A + "/llm-config", None),
            ("DELETE", A + "/llm-config", None),
            ("GET", A + "/permissions", None),
            ("POST", A + "/permissions", {"agents": []}),
            ("GET", A, None),
            ("PATCH", A, {"name": "pwned"}),
            ("POST", "/api/admin/knowledge",
             {"tenant_id": self.acme, "source": "x", "text": "planted"}),
            ("GET", "/api/admin/knowledge?tenant_id=" + self.acme, None),
            ("DELETE", "/api/admin/knowledge/%s/doc" % self.acme, None),
        ]
        for m, p, b in attacks:
            st, body, _ = self.req(m, p, b, token=self.demo_admin)
            self.assertEqual(st, 403, "%s %s -> %s %s" % (m, p, st, body))
        self.assertEqual(self.acme_row(), before, "acme's LLM config changed")
        self.assertEqual(S.psql("SELECT name FROM tenants WHERE tenant_id = :'a'", self.acme),
                         [[self.acme]])
        # the tenant list shows a tenant admin its own tenant only
        st, body, _ = self.req("GET", "/api/admin/tenants", token=self.demo_admin)
        self.assertEqual(st, 200)
        self.assertEqual([t["tenant_id"] for t in body["items"]], [self.demo])
        # ... and its own tenant is still its to manage
        st, body, _ = self.req("PATCH", "/api/admin/tenants/" + self.demo, {"name": "Demo Co"},
                               token=self.demo_admin)
        self.assertEqual(st, 200, body)

    def test_tenant_admin_role_cannot_do_operator_actions(self):
        """roles:["admin"] in a tenant token is not the platform operator."""
        mid = self.model
        attacks = [
            ("POST", "/api/admin/tenants", {"tenant_id": uniq("new"), "name": "x"}),
            ("DELETE", "/api/admin/tenants/" + self.demo, None),
            ("PATCH", "/api/admin/tenants/" + self.demo, {"is_active": False}),
            ("PATCH", "/api/admin/llm-models/" + mid, {"base_url": "http://127.0.0.1:9/x"}),
            ("POST", "/api/admin/llm-models",
             {"provider": "openai_compatible", "model_name": uniq("m"),
              "base_url": "http://127.0.0.1:9/y"}),
            ("DELETE", "/api/admin/llm-models/" + mid, None),
            ("POST", "/api/admin/output-formats", {"name": uniq("f"), "format_type": "text"}),
            ("POST", "/api/admin/agents/reload", {}),
        ]
        for token in (self.demo_admin, self.acme_admin):
            for m, p, b in attacks:
                st, body, _ = self.req(m, p, b, token=token)
                self.assertEqual(st, 403, "%s %s -> %s %s" % (m, p, st, body))
        self.assertEqual(S.psql("SELECT base_url FROM llm_models WHERE model_id = :'a'", mid),
                         [["http://127.0.0.1:9/v1"]])
        self.assertEqual(S.psql("SELECT is_active FROM tenants WHERE tenant_id = :'a'",
                                self.demo), [["t"]])
        # a tenant token that claims to be an operator is still not one
        forged = self.ing.token(tenant=self.demo, sub="root", roles=("admin", "operator"),
                                extra={"token_use": "operator", "operator": True})
        st, _, _ = self.req("POST", "/api/admin/tenants", {"tenant_id": uniq("n"), "name": "n"},
                            token=forged)
        self.assertIn(st, (401, 403))
        # the catalog stays readable for tenant admins
        st, body, _ = self.req("GET", "/api/admin/llm-models", token=self.demo_admin)
        self.assertEqual(st, 200, body)

    def test_operator_token_works_and_is_audited(self):
        """The operator's own credential administers the platform; every admin write (the
        operator's and a tenant admin's) is in the audit log with who, what and when, and the
        log holds no key."""
        t = uniq("opt")
        t0 = time.time()
        st, body, _ = self.req("POST", "/api/admin/tenants", {"tenant_id": t, "name": t},
                               token=self.op)
        self.assertEqual(st, 201, body)
        st, body, _ = self.req("PUT", "/api/admin/tenants/%s/llm-config" % t,
                               {"model_id": self.model, "api_key": SECRET_KEY + "-op"},
                               token=self.op)
        self.assertEqual(st, 200, body)
        ta = self.ing.tenant_admin_token(t, sub="dave")
        st, body, _ = self.req("PATCH", "/api/admin/tenants/" + t, {"name": "renamed"}, token=ta)
        self.assertEqual(st, 200, body)
        st, body, _ = self.req("GET", "/api/admin/audit?tenant_id=%s&limit=10" % t, token=self.op)
        self.assertEqual(st, 200, body)
        items = body["items"]
        self.assertEqual([(i["actor_kind"], i["actor_sub"], i["method"], i["status"])
                          for i in reversed(items)],
                         [("operator", "op-carol", "POST", 201),
                          ("operator", "op-carol", "PUT", 200),
                          ("tenant_admin", "dave", "PATCH", 200)])
        self.assertEqual(items[0]["actor_tenant"], t)
        self.assertIsNone(items[-1]["actor_tenant"])
        self.assertEqual(items[1]["route"], "/api/admin/tenants/%s/llm-config" % t)
        for i in items:
            self.assertEqual(i["tenant_id"], t)
            at = time.mktime(time.strptime(i["at"][:19], "%Y-%m-%dT%H:%M:%S")) - time.timezone
            self.assertLess(abs(at - t0), 120, i["at"])
        dump = "\n".join("\t".join(r) for r in S.psql("SELECT admin_audit::text FROM admin_audit"))
        self.assertNotIn(SECRET_KEY, dump)
        # a refused cross-tenant write is recorded too
        st, _, _ = self.req("PATCH", "/api/admin/tenants/" + t, {"name": "x"},
                            token=self.demo_admin)
        self.assertEqual(st, 403)
        st, body, _ = self.req("GET", "/api/admin/audit?tenant_id=%s&limit=1" % t, token=self.op)
        self.assertEqual((body["items"][0]["actor_sub"], body["items"][0]["status"]),
                         ("mallory", 403))
        # so is a plain user's try at an admin write (it was not: only admins' were); a request
        # without a valid credential has no actor and is not
        plain = self.ing.token(tenant=t, sub="eve", roles=("user",))
        st, _, _ = self.req("PUT", "/api/admin/prices", {"model": "m", "input_usd_per_mtok": 0,
                                                         "output_usd_per_mtok": 0}, token=plain)
        self.assertEqual(st, 403)
        st, _, _ = self.req("PUT", "/api/admin/prices", {"model": "m"}, token="not-a-token")
        self.assertEqual(st, 401)
        st, body, _ = self.req("GET", "/api/admin/audit?tenant_id=%s&limit=2" % t, token=self.op)
        got = [(i["actor_kind"], i["actor_sub"], i["method"], i["route"], i["status"])
               for i in body["items"]]
        self.assertEqual(got[0], ("user", "eve", "PUT", "/api/admin/prices", 403), got)
        self.assertEqual(got[1][1], "mallory", got)
        # the operator's reads about a tenant that does not exist are 404, not an empty 200
        ghost = uniq("ghost")
        for path in ("/api/admin/tenants/%s/limits" % ghost,
                     "/api/admin/tenants/%s/api-keys" % ghost,
                     "/api/admin/usage?tenant_id=%s" % ghost):
            st, body, _ = self.req("GET", path, token=self.op)
            self.assertEqual((st, body["error"]["message"]), (404, "no such tenant"), path)
        st, body, _ = self.req("GET", "/api/admin/tenants/%s/limits" % t, token=self.op)
        self.assertEqual(st, 200, body)  # a tenant without limits is still a tenant
        # a key the operator made names which operator
        st, made, _ = self.req("POST", "/api/admin/tenants/%s/api-keys" % t, {"name": "k"},
                               token=self.op)
        self.assertEqual((st, made.get("created_by")), (201, "operator:op-carol"), made)
        # a tenant admin reads only its own tenant's entries
        st, body, _ = self.req("GET", "/api/admin/audit?tenant_id=" + self.acme, token=ta)
        self.assertEqual(st, 403)
        # a plain user: no admin route at all
        user = self.ing.token(tenant=t, sub="u", roles=("user",))
        for m, p in (("GET", "/api/admin/audit"), ("GET", "/api/admin/tenants"),
                     ("GET", "/api/admin/agents")):
            st, _, _ = self.req(m, p, token=user)
            self.assertEqual(st, 403)

    # ---- 1. the key sent to a new host -----------------------------------------------------
    def test_key_not_sent_to_new_host_on_model_change_without_key(self):
        """A tenant admin points its config at a model on another host without re-supplying
        the key: refused (409 naming the field); with the key supplied again it is allowed."""
        t = uniq("kb")
        S.psql("INSERT INTO tenants (tenant_id, name) VALUES (:'a', :'a')", t)
        m1 = add_model("http://127.0.0.1:9/v1", name=uniq("m1"))
        m2 = add_model("http://127.0.0.2:9/v1", name=uniq("m2"))
        S.psql("INSERT INTO tenant_llm_configs (tenant_id, model_id, encrypted_api_key) VALUES "
               "(:'a', :'b', :'c')", t, m1, fernet_encrypt(self.ing.fernet_key, SECRET_KEY))
        ta = self.ing.tenant_admin_token(t)
        P = "/api/admin/tenants/%s/llm-config" % t
        st, body, _ = self.req("PUT", P, {"model_id": m2}, token=ta)
        self.assertIn(st, (400, 409), body)
        self.assertIn("model_id", body["error"]["message"])
        self.assertIn("api_key", body["error"]["message"])
        self.assertEqual(S.psql("SELECT model_id FROM tenant_llm_configs WHERE tenant_id = :'a'",
                                t), [[m1]])
        # embeddings moved to a new host with the stored key: refused too
        st, body, _ = self.req("PUT", P, {"model_id": m1, "embedding_provider":
                                          "openai_compatible",
                                          "embedding_base_url": "http://127.0.0.3:9/v1"},
                               token=ta)
        self.assertIn(st, (400, 409), body)
        self.assertIn("embedding_base_url", body["error"]["message"])
        # same host, other path: the same endpoint, allowed
        m1b = add_model("http://127.0.0.1:9/other", name=uniq("m1b"))
        st, body, _ = self.req("PUT", P, {"model_id": m1b}, token=ta)
        self.assertEqual(st, 200, body)
        # with the key supplied again: allowed, and the key is bound to the new endpoint
        st, body, _ = self.req("PUT", P, {"model_id": m2, "api_key": SECRET_KEY + "-2"},
                               token=ta)
        self.assertEqual(st, 200, body)
        self.assertEqual(S.psql("SELECT model_id, api_key_endpoint FROM tenant_llm_configs "
                                "WHERE tenant_id = :'a'", t),
                         [[m2, "openai_compatible|http://127.0.0.2:9/v1"]])

    def test_key_not_sent_to_new_host_when_operator_changes_base_url(self):
        """The operator (or a DBA) changes llm_models.base_url to another host: the tenant's
        stored key must not be sent there. Embedding path (the ingress embeds knowledge with
        the tenant's provider): the recorder on the new host never sees the key."""
        rec = Recorder()
        self.addCleanup(rec.stop)
        t = uniq("kh")
        S.psql("INSERT INTO tenants (tenant_id, name) VALUES (:'a', :'a')", t)
        m = add_model("http://127.0.0.1:9/v1", name=uniq("mh"))
        S.psql("INSERT INTO tenant_llm_configs (tenant_id, model_id, encrypted_api_key, "
               "embedding_provider, embedding_model) VALUES (:'a', :'b', :'c', "
               "'openai_compatible', 'emb-1')", t, m,
               fernet_encrypt(self.ing.fernet_key, SECRET_KEY))
        # the change, as the operator's PATCH /api/admin/llm-models/{id} makes it
        S.psql("UPDATE llm_models SET base_url = :'a' WHERE model_id = :'b'", rec.url, m)
        S.redis_cli("DEL", "agenthub:%s:llm" % t)
        ta = self.ing.tenant_admin_token(t)
        st, body, _ = self.req("POST", "/api/admin/knowledge",
                               {"tenant_id": t, "source": "doc-1", "text": "hello world"},
                               token=ta)
        time.sleep(0.3)
        self.assertFalse(rec.saw_key(SECRET_KEY),
                         "the stored key was sent to the new host: %r" % rec.seen[:1])
        # refused, or embedded locally: never with the provider behind the new host
        if st == 201:
            self.assertNotEqual(body.get("embedder"), "openai_compatible:emb-1", body)
        self.assertNotIn(SECRET_KEY, json.dumps(body))
        self.assertNotIn(SECRET_KEY, self.ing.logs())

    # ---- 2. tokens --------------------------------------------------------------------------
    def test_token_lifetime_30_days_refused(self):
        """JWT_MAX_LIFETIME_S (default 86400): a 30-day token is refused, and so is a token
        without iat; a one-hour token works."""
        path = "/api/%s/sessions" % self.demo
        st, _, _ = self.req("GET", path, token=self.ing.token(tenant=self.demo, sub="u"))
        self.assertEqual(st, 200)
        long_tok = self.ing.token(tenant=self.demo, sub="u", exp_in=30 * 86400)
        st, body, _ = self.req("GET", path, token=long_tok)
        self.assertEqual((st, body), (401, S.GENERIC_401))
        no_iat = self.ing.token(tenant=self.demo, sub="u", drop=("iat",))
        st, _, _ = self.req("GET", path, token=no_iat)
        self.assertEqual(st, 401)
        # the operator's tokens too
        st, _, _ = self.req("GET", "/api/admin/tenants",
                            token=self.ing.operator_token(exp_in=30 * 86400))
        self.assertEqual(st, 401)

    def test_access_token_in_url_only_on_streams_and_short_lived(self):
        """?access_token= is read only on event streams, and only from a short-lived token
        (exp - iat and exp - now at most JWT_QUERY_TOKEN_MAX_S, default 300)."""
        job = str(uuid.uuid4())
        short = self.ing.token(tenant=self.demo, sub="u", exp_in=120)
        hour = self.ing.token(tenant=self.demo, sub="u", exp_in=3600)
        # not a stream: never from the URL
        for p in ("/api/%s/jobs/%s" % (self.demo, job), "/api/%s/sessions" % self.demo,
                  "/api/admin/tenants"):
            st, _, _ = self.req("GET", p + "?access_token=" + short)
            self.assertEqual(st, 401, p)
        ev = "/api/%s/jobs/%s/events?access_token=" % (self.demo, job)
        st, body, _ = self.req("GET", ev + hour)
        self.assertEqual((st, body), (401, S.GENERIC_401), "a one-hour token in a URL")
        no_iat = self.ing.token(tenant=self.demo, sub="u", exp_in=120, drop=("iat",))
        st, _, _ = self.req("GET", ev + no_iat)
        self.assertEqual(st, 401)
        # a short-lived one gets through authentication (no such job: 404)
        st, body, _ = self.req("GET", ev + short)
        self.assertEqual(st, 404, body)
        # the documents' event stream takes one too
        st, _, _ = self.req("GET", "/api/%s/documents/%s/events?access_token=%s" %
                            (self.demo, job, hour))
        self.assertEqual(st, 401)
        # what the web UI uses: a stream token traded for the header token
        st, body, _ = self.req("POST", "/api/%s/stream-token" % self.demo, {}, token=hour)
        self.assertEqual(st, 201, body)
        self.assertLessEqual(body["expires_in"], 300)
        stok = body["stream_token"]
        self.assertNotIn(".", stok)  # opaque, not a JWT
        st, body, _ = self.req("GET", ev + stok)
        self.assertEqual(st, 404, body)  # authenticated: no such job
        for p in ("/api/%s/sessions?access_token=%s" % (self.demo, stok),
                  "/api/%s/jobs/%s/events?access_token=%s" % (self.acme, job, stok),
                  ev + stok[:-1] + ("0" if stok[-1] != "0" else "1")):
            st, _, _ = self.req("GET", p)
            self.assertEqual(st, 401, p)
        st, _, _ = self.req("GET", "/api/admin/tenants", token=stok)
        self.assertEqual(st, 401)

    def test_tool_token_refused(self):
        """A token minted for a tool backend (token_use "tool") is useless against AgentHub,
        even when signed by a key the ingress trusts."""
        path = "/api/%s/sessions" % self.demo
        for use in ("tool", "refresh", "operator"):
            tok = self.ing.token(tenant=self.demo, sub="u",
                                 extra={"token_use": use, "iss": "agenthub-tools",
                                        "aud": "erp"})
            st, body, _ = self.req("GET", path, token=tok)
            self.assertEqual((st, body), (401, S.GENERIC_401), use)
        ok = self.ing.token(tenant=self.demo, sub="u", extra={"token_use": "access"})
        st, _, _ = self.req("GET", path, token=ok)
        self.assertEqual(st, 200)

    # ---- 1. tenant-owned agents and tools ----------------------------------------------------
    def test_tenant_owned_agent_and_tool_invisible_to_other_tenant(self):
        """acme's admin creates an agent and a tool: they are acme's. demo's admin cannot see,
        change, delete or permit them, and the operator cannot give them to demo either."""
        name = "Acme" + uuid.uuid4().hex[:8]
        st, agent, _ = self.req("POST", "/api/admin/agents",
                                {"name": name, "prompt_template": "You are acme's."},
                                token=self.acme_admin)
        self.assertEqual(st, 201, agent)
        aid = agent["agent_id"]
        self.assertEqual(S.psql("SELECT owner_tenant_id FROM agent_configs WHERE agent_id = :'a'",
                                aid), [[self.acme]])
        st, tool, _ = self.req("POST", "/api/admin/tools",
                               {"name": "acme_" + uuid.uuid4().hex[:8], "base_type": "RAG",
                                "config": {}}, token=self.acme_admin)
        self.assertEqual(st, 201, tool)
        tid = tool["tool_id"]
        # the owner sees and changes its own
        st, body, _ = self.req("PATCH", "/api/admin/agents/" + aid, {"description": "mine"},
                               token=self.acme_admin)
        self.assertEqual(st, 200, body)
        st, body, _ = self.req("POST", "/api/admin/tenants/%s/permissions" % self.acme,
                               {"agent_id": aid, "enabled": True}, token=self.acme_admin)
        self.assertEqual(st, 200, body)
        # demo's admin: not in its lists, 404 on every access
        for what, oid in (("agents", aid), ("tools", tid)):
            st, body, _ = self.req("GET", "/api/admin/" + what, token=self.demo_admin)
            self.assertEqual(st, 200)
            self.assertNotIn(oid, json.dumps(body))
            for m, b in (("GET", None), ("PATCH", {"description": "pwned"}), ("DELETE", None)):
                st, body, _ = self.req(m, "/api/admin/%s/%s" % (what, oid), b,
                                       token=self.demo_admin)
                self.assertEqual(st, 404, "%s %s -> %s %s" % (m, what, st, body))
        st, body, _ = self.req("GET", "/api/admin/agents/%s/tools" % aid, token=self.demo_admin)
        self.assertEqual(st, 404)
        for tok in (self.demo_admin, self.op):
            for entry in ({"agent_id": aid}, {"tool_id": tid}):
                st, body, _ = self.req("POST", "/api/admin/tenants/%s/permissions" % self.demo,
                                       dict(entry, enabled=True), token=tok)
                self.assertEqual(st, 404, body)
        self.assertEqual(S.psql("SELECT count(*) FROM tenant_agent_permissions WHERE tenant_id "
                                "= :'a' AND agent_id = :'b'", self.demo, aid), [["0"]])
        # the platform catalog is read-only for a tenant admin
        st, cat, _ = self.req("POST", "/api/admin/agents",
                              {"name": "Cat" + uuid.uuid4().hex[:8], "prompt_template": "x"},
                              token=self.op)
        self.assertEqual(st, 201, cat)
        st, body, _ = self.req("PATCH", "/api/admin/agents/" + cat["agent_id"],
                               {"description": "pwned"}, token=self.demo_admin)
        self.assertEqual(st, 403, body)
        st, body, _ = self.req("GET", "/api/admin/agents/" + cat["agent_id"],
                               token=self.demo_admin)
        self.assertEqual(st, 200, body)
        self.assertEqual(S.psql("SELECT description FROM agent_configs WHERE agent_id = :'a'",
                                aid), [["mine"]])


class DemoSecretsTest(unittest.TestCase):
    """Item 6: every secret the demo and agenthubctl write is mode 0600 from its creation."""

    CTL = os.path.join(S.BIN, "agenthubctl")

    def strace(self, args, env=None):
        env = dict(env or os.environ)
        env["ASAN_OPTIONS"] = env.get("ASAN_OPTIONS", "") + ":detect_leaks=0"  # LSan vs ptrace
        log = tempfile.mktemp(prefix="strace-")
        self.addCleanup(lambda: os.path.exists(log) and os.unlink(log))
        r = subprocess.run(["strace", "-f", "-qq", "-o", log, "-e",
                            "trace=open,openat,creat,chmod,fchmod,fchmodat,umask"] + args,
                           env=env, capture_output=True, text=True, timeout=120,
                           preexec_fn=lambda: os.umask(0))
        with open(log) as f:
            return r, f.read()

    def test_demo_secrets_mode_from_creation(self):
        if not os.path.exists(self.CTL):
            self.skipTest("no agenthubctl")
        if not ph.shutil_which("strace"):
            self.skipTest("strace is not installed")
        d = tempfile.mkdtemp(prefix="keygen-")
        # An old world-readable key file that someone opened while they could.
        old = os.path.join(d, "jwt_private.pem")
        with open(old, "w") as f:
            f.write("old\n")
        os.chmod(old, 0o644)
        spy = open(old, "rb")
        self.addCleanup(spy.close)
        r, trace = self.strace([self.CTL, "keygen", "--out", d, "--force"])
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertEqual(stat.S_IMODE(os.stat(old).st_mode), 0o600)
        spy.seek(0)
        self.assertFalse(b"PRIVATE KEY" in spy.read(), "the new key went into the old open file")
        creates = [l for l in trace.splitlines() if "jwt_private.pem" in l and "O_CREAT" in l]
        self.assertTrue(creates, trace[-2000:])
        for l in creates:
            self.assertIn("O_EXCL", l, l)
            self.assertRegex(l, r"O_CREAT[^)]*\)?, 0600\)", l)
        self.assertFalse([l for l in trace.splitlines() if re.match(
            r"^\d+\s+(f?chmod|fchmodat)\(.*(jwt_private|, 0600)", l)],
            "a chmod on the private key after creation")

        # The demo's own secrets (DEMO_SECRETS_ONLY=1 writes them and stops), run with
        # umask 000: every secret is created 0600 and never chmod'ed.
        demo_dir = tempfile.mkdtemp(prefix="demo-secrets-")
        env = dict(os.environ, AGENTHUB_DEMO_DIR=demo_dir, DEMO_SECRETS_ONLY="1",
                   AGENTHUB_BIN=S.BIN)
        r, trace = self.strace([os.path.join(S.ROOT, "compose", "local", "demo")], env=env)
        self.assertEqual(r.returncode, 0, r.stderr[-2000:])
        secrets = ["fernet.env", "jwt_private.pem", "operator/jwt_private.pem",
                   "tool-token/jwt_private.pem", "token-demo", "token-acme",
                   "token-demo-admin", "token-operator"]
        for s in secrets:
            p = os.path.join(demo_dir, s)
            self.assertTrue(os.path.exists(p), s)
            self.assertEqual(stat.S_IMODE(os.stat(p).st_mode), 0o600, s)
        for l in trace.splitlines():
            if re.search(r"\b(f?chmod|fchmodat)\(", l):
                for s in secrets:
                    self.assertNotIn(s, l, "chmod after creation: " + l)
        # the umask is narrowed before the first secret is created
        lines = trace.splitlines()
        first = next(i for i, l in enumerate(lines) if "fernet.env" in l and "O_CREAT" in l)
        self.assertTrue(any("umask(077" in l for l in lines[:first]), "no umask 077 first")
        with open(os.path.join(demo_dir, "token-operator")) as f:
            self.assertEqual(f.read().count("."), 2)


class KeyBindingPipelineTest(pc.PipelineCase):
    """The chat path: the operator changes the tenant's model's base_url to another host; the
    agent must end the job with an error and never send the stored key there."""

    @classmethod
    def setUpClass(cls):
        cls.start_pipeline("keybind")

    def test_key_not_sent_to_new_host_when_operator_changes_base_url_chat(self):
        rec = Recorder()
        self.addCleanup(rec.stop)
        pl = self.pl
        t = uniq("kc")
        model = uniq("standin-1")
        pl.add_tenant(t, model)
        enc = fernet_encrypt(pl.fernet_key, SECRET_KEY)
        pl.sql("UPDATE tenant_llm_configs SET encrypted_api_key = %s WHERE tenant_id = %s",
               enc, t)
        mid = pl.sql("SELECT model_id FROM tenant_llm_configs WHERE tenant_id = %s", t)[0][0]
        pl.sql("UPDATE llm_models SET base_url = %s WHERE model_id = %s", rec.url, mid)
        pl.flush_cache()
        body = pl.chat("What is the debt for MST 0123456789?", tenant=t)
        job = pl.wait_job(body["job_id"], tenant=t, timeout=60)
        self.assertFalse(rec.saw_key(SECRET_KEY),
                         "the stored key was sent to the new host: %r" % rec.seen[:1])
        self.assertEqual(job.get("status"), "error", job)
        self.assertIn("key_endpoint_mismatch", json.dumps(job))

    def test_tenant_owned_agent_never_routed_to_another_tenant(self):
        """An agent owned by one tenant, with a permission row for another (planted in the
        database): the router never hands it to the other tenant."""
        pl = self.pl
        owner, victim = uniq("own"), uniq("oth")
        pl.add_tenant(owner, pl.llm_model, agents=(), tools=())
        pl.add_tenant(victim, pl.llm_model, agents=(), tools=())
        name = "AgentWeather" + uuid.uuid4().hex[:6]
        pl.sql("INSERT INTO agent_configs (name, description, prompt_template, owner_tenant_id) "
               "VALUES (%s, 'weather forecast: rain, sunshine, temperature', "
               "'You forecast the weather.', %s)", name, owner)
        pl.add_tenant(victim, pl.llm_model, agents=(name,), tools=())  # the planted permission
        pl.flush_cache()
        r = pl.chat("Will there be rain tomorrow, and what temperature?", tenant=victim)
        ev = pl.events(r["job_id"], tenant=victim, timeout=60)
        self.assertNotEqual(pc.first(ev, "routed")["agent"], name, ev)
        self.assertNotIn(name, json.dumps(ev))


if __name__ == "__main__":
    unittest.main()
