"""Issue 17 item 2 (tool side): what an inject_jwt tool backend receives is useless against
AgentHub. Real chat jobs through ingress -> router -> agent -> stand-in LLM, the demo seed's
get_customer_debt tool (inject_jwt) calling the stand-in ERP, which records the Authorization
header it got (pl.erp_last).

  token replay        with TOOL_TOKEN_KEY_FILE on the agent the ERP gets a per-call token
                      (RS256 with the tool-token key, token_use "tool", aud = the tool's
                      audience, exp - iat == TOOL_TOKEN_TTL_S), never the user's; replayed at
                      the ingress it is refused (401), also by an ingress whose key file holds
                      the tool-token public key.
  no key, no audience the backend gets no Authorization header at all.

Before the fix the agent forwarded the user's own AgentHub token, which the ingress accepts.
"""
import os
import subprocess
import sys
import tempfile
import time
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import jwt  # noqa: E402  (python3-jwt)
import ingress_support as S  # noqa: E402
import pipeline_case as pc  # noqa: E402
import pipeline_harness as ph  # noqa: E402
from pipeline_case import first  # noqa: E402

MST = "0123456789"
TTL = 45


def tool_keypair():
    """The agent's tool-token key pair (agenthubctl keygen; a key of its own)."""
    d = tempfile.mkdtemp(prefix="tooltoken-key-")
    subprocess.run([os.path.join(ph.BIN, "agenthubctl"), "keygen", "--out", d, "--force"],
                   check=True, capture_output=True, text=True, timeout=60)
    return os.path.join(d, "jwt_private.pem"), os.path.join(d, "jwt_public.pem")


class ToolTokenReplayTest(pc.PipelineCase):
    @classmethod
    def setUpClass(cls):
        if ph.stack_missing():
            raise unittest.SkipTest(ph.stack_missing())
        cls.priv, cls.pub = tool_keypair()
        cls.start_pipeline("tooltoken", agents=1,
                           agent_env={"TOOL_TOKEN_KEY_FILE": cls.priv,
                                      "TOOL_TOKEN_TTL_S": str(TTL)})

    def debt_call(self):
        """One chat job that calls get_customer_debt: (tool_call event, the ERP's record)."""
        r = self.pl.chat("What is the debt for MST %s?" % MST)
        ev = self.pl.events(r["job_id"])
        call = first(ev, "tool_call")
        self.assertIsNotNone(call, ev)
        self.assertEqual(call["tool"], "get_customer_debt")
        res = first(ev, "tool_result")
        self.assertTrue(res and res.get("ok"), res)
        last = self.pl.erp_last("/api/debt/" + MST)
        self.assertTrue(last, "the ERP saw no request")
        return call, last

    def received_token(self, last):
        auth = last.get("authorization")
        self.assertIsNotNone(auth, "the backend got no Authorization header")
        self.assertTrue(auth.startswith("Bearer "), auth[:10])
        tok = auth[7:]
        # the user's own token is never what the backend got
        self.assertNotEqual(tok, self.pl.tokens["demo"])
        self.assertNotIn(self.pl.tokens["demo"], repr(last))
        return tok

    def decode(self, tok, aud):
        with open(self.pub, "rb") as f:
            pub = f.read()
        self.assertEqual(jwt.get_unverified_header(tok).get("alg"), "RS256")
        return jwt.decode(tok, pub, algorithms=["RS256"], audience=aud, issuer="agenthub-tools",
                          options={"require": ["exp", "iat", "iss", "aud", "sub", "jti"]})

    def test_token_replay(self):
        # 1. the backend's token: minted for it (aud = the endpoint's origin, no jwt_audience)
        call, last = self.debt_call()
        tok = self.received_token(last)
        origin = "http://127.0.0.1:%d" % self.pl.ports["erp"]
        claims = self.decode(tok, origin)
        self.assertEqual(claims["token_use"], "tool")
        self.assertEqual(claims["aud"], origin)
        self.assertEqual(claims["sub"], "demo-user")
        self.assertEqual(claims["tenant_id"], "demo")
        self.assertEqual(claims["exp"] - claims["iat"], TTL)
        self.assertLessEqual(abs(claims["iat"] - time.time()), 60)
        self.assertNotIn("roles", claims)
        # the job's events say which credential went out (never the token)
        self.assertEqual(call.get("auth"), "tool_token", call)
        self.assertNotIn(tok, repr(call))

        # 2. replayed against AgentHub: refused (the tool key is not a tenant key) ...
        ok, _ = self.pl.request("GET", "/api/demo/sessions")
        self.assertEqual(ok, 200)  # control: the user's own token works here
        st, _ = self.pl.request("GET", "/api/demo/sessions", token=tok)
        self.assertEqual(st, 401)
        # ... also by an ingress that (mis)trusts the tool-token key as a tenant key: the
        # ingress refuses token_use "tool" whatever key signed it
        with open(os.path.join(self.pl.dir, "jwt_public.pem"), "rb") as f:
            tenant_pub = f.read()
        with open(self.pub, "rb") as f:
            tool_pub = f.read()
        keys = os.path.join(self.pl.dir, "tenant-and-tool-keys.pem")
        with open(keys, "wb") as f:
            f.write(tenant_pub + tool_pub)
        ing = S.Ingress(extra_env={"JWT_PUBLIC_KEY_FILE": keys})
        try:
            st, _, _ = ing.request("GET", "/api/demo/sessions", token=self.pl.tokens["demo"])
            self.assertEqual(st, 200)  # control: this ingress takes the tenant's tokens
            st, _, _ = ing.request("GET", "/api/demo/sessions", token=tok)
            self.assertEqual(st, 401)
        finally:
            ing.stop_and_check(self)

        # 3. a configured jwt_audience is the aud; a new token (jti) per call
        aud = "urn:agenthub-test:erp"
        self.pl.sql("UPDATE tool_configs SET config = config || jsonb_build_object("
                    "'jwt_audience', %s::text) WHERE name = 'get_customer_debt'", aud)
        self.pl.flush_cache()
        call2, last2 = self.debt_call()
        self.assertEqual(call2.get("auth"), "tool_token", call2)
        tok2 = self.received_token(last2)
        claims2 = self.decode(tok2, aud)
        self.assertEqual(claims2["aud"], aud)
        self.assertNotEqual(claims2["jti"], claims["jti"])
        st, _ = self.pl.request("GET", "/api/demo/sessions", token=tok2)
        self.assertEqual(st, 401)

        # 4. neither token nor the private key reaches a log line
        with open(self.priv) as f:
            key_body = "".join(line for line in f.read().splitlines() if "-----" not in line)
        for name in self.pl.procs:
            text = self.pl.log(name)
            for secret in (tok, tok2):
                self.assertNotIn(secret, text, name)
            self.assertNotIn(key_body[:64], text.replace("\\n", ""), name)


class NoKeyNoAudienceTest(pc.PipelineCase):
    @classmethod
    def setUpClass(cls):
        cls.start_pipeline("tooltoken-nokey", agents=1)

    def test_no_key_no_audience_no_authorization(self):
        r = self.pl.chat("What is the debt for MST %s?" % MST)
        ev = self.pl.events(r["job_id"])
        call = first(ev, "tool_call")
        self.assertIsNotNone(call, ev)
        res = first(ev, "tool_result")
        self.assertTrue(res and res.get("ok"), res)
        last = self.pl.erp_last("/api/debt/" + MST)
        self.assertTrue(last, "the ERP saw no request")
        self.assertIsNone(last.get("authorization"), "the backend got an Authorization header")
        self.assertNotIn(self.pl.tokens["demo"], repr(last))
        self.assertEqual(call.get("auth"), "none", call)


if __name__ == "__main__":
    unittest.main()
