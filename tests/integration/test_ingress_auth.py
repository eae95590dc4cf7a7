"""JWT verification through the real ingress: every forgery answers the same generic 401 and
nothing in the body says which check failed; wrong tenant is 403; non-admins get 403 on every
admin route."""
import base64
import hashlib
import hmac
import json
import os
import sys
import time
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import ingress_support as S  # noqa: E402


def hs256_with(key_bytes, claims, kid="main"):
    header = {"alg": "HS256", "typ": "JWT", "kid": kid}
    h = S.b64url(json.dumps(header).encode())
    p = S.b64url(json.dumps(claims).encode())
    sig = hmac.new(key_bytes, (h + "." + p).encode(), hashlib.sha256).digest()
    return h + "." + p + "." + S.b64url(sig)


class IngressAuthTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        why = S.stack_env_missing()
        if why:
            raise unittest.SkipTest(why)
        cls.ing = S.Ingress()
        cls.tenant = S.unique("ta")
        cls.ing.ensure_tenant(cls.tenant)

    @classmethod
    def tearDownClass(cls):
        if hasattr(cls, "ing"):
            cls.ing.stop_and_check(unittest.TestCase())

    def claims(self, **over):
        now = int(time.time())
        c = {"sub": "user-1", "tenant_id": self.tenant, "roles": ["user"], "exp": now + 600}
        c.update(over)
        return c

    def sessions(self, token, tenant=None):
        return self.ing.request("GET", "/api/%s/sessions" % (tenant or self.tenant), token=token)

    def assert_generic_401(self, token, label):
        st, body, hdrs = self.sessions(token)
        self.assertEqual(st, 401, label)
        self.assertEqual(body, S.GENERIC_401, label)
        self.assertIn("x-request-id", hdrs)
        # same answer on another route
        st2, body2, _ = self.ing.request("POST", "/api/%s/chat" % self.tenant,
                                         {"message": "hi"}, token=token)
        self.assertEqual((st2, body2), (401, S.GENERIC_401), label)

    def test_valid_token_accepted(self):
        st, body, _ = self.sessions(self.ing.token(tenant=self.tenant))
        self.assertEqual(st, 200, body)
        self.assertIn("sessions", body)

    def test_second_key_by_kid(self):
        tok = self.ing.token(tenant=self.tenant, key=self.ing.priv2, kid="second")
        self.assertEqual(self.sessions(tok)[0], 200)
        # key two's signature presented under kid main
        tok = self.ing.token(tenant=self.tenant, key=self.ing.priv2, kid="main")
        self.assert_generic_401(tok, "wrong key for kid")

    def test_no_kid_tries_every_key(self):
        self.assertEqual(self.sessions(self.ing.token(tenant=self.tenant, kid=None))[0], 200)

    def test_wrong_algorithm_rs512(self):
        tok = self.ing.token(tenant=self.tenant, alg="RS512")
        self.assert_generic_401(tok, "RS512")

    def test_wrong_algorithm_ps256(self):
        tok = self.ing.token(tenant=self.tenant, alg="PS256")
        self.assert_generic_401(tok, "PS256")

    def test_alg_none(self):
        h = S.b64url(json.dumps({"alg": "none", "typ": "JWT", "kid": "main"}).encode())
        p = S.b64url(json.dumps(self.claims()).encode())
        self.assert_generic_401(h + "." + p + ".", "none")
        self.assert_generic_401(h + "." + p, "none, two parts")

    def test_hs256_signed_with_public_key(self):
        self.assert_generic_401(hs256_with(self.ing.pub1, self.claims()), "HS256/pubkey")
        self.assert_generic_401(hs256_with(self.ing.pub1, self.claims(), kid=None),
                                "HS256/pubkey no kid")
        self.assert_generic_401(hs256_with(self.ing.keyfile.encode(), self.claims()),
                                "HS256/other secret")

    def test_expired(self):
        self.assert_generic_401(self.ing.token(tenant=self.tenant, exp_in=-3600), "expired")

    def test_expired_within_leeway_accepted(self):
        self.assertEqual(self.sessions(self.ing.token(tenant=self.tenant, exp_in=-5))[0], 200)

    def test_nbf_in_future(self):
        tok = self.ing.token(tenant=self.tenant, extra={"nbf": int(time.time()) + 3600})
        self.assert_generic_401(tok, "nbf")

    def test_missing_exp(self):
        self.assert_generic_401(self.ing.token(tenant=self.tenant, drop=("exp",)), "no exp")

    def test_tampered_payload(self):
        tok = self.ing.token(tenant=self.tenant)
        h, p, s = tok.split(".")
        claims = json.loads(base64.urlsafe_b64decode(p + "=" * (-len(p) % 4)))
        claims["roles"] = ["user", "admin"]
        forged = h + "." + S.b64url(json.dumps(claims).encode()) + "." + s
        self.assert_generic_401(forged, "tampered payload")

    def test_tampered_signature(self):
        tok = self.ing.token(tenant=self.tenant)
        h, p, s = tok.split(".")
        sig = bytearray(base64.urlsafe_b64decode(s + "=" * (-len(s) % 4)))
        sig[10] ^= 0x01
        self.assert_generic_401(h + "." + p + "." + S.b64url(bytes(sig)), "tampered signature")

    def test_unknown_kid(self):
        self.assert_generic_401(self.ing.token(tenant=self.tenant, kid="nope"), "unknown kid")

    def test_key_not_configured(self):
        other_priv, _ = S.new_keypair()
        self.assert_generic_401(self.ing.token(tenant=self.tenant, key=other_priv, kid=None),
                                "foreign key")

    def test_missing_tenant_claim(self):
        self.assert_generic_401(self.ing.token(tenant=self.tenant, drop=("tenant_id",)),
                                "no tenant_id")

    def test_missing_sub(self):
        self.assert_generic_401(self.ing.token(tenant=self.tenant, drop=("sub",)), "no sub")

    def test_garbage_and_empty(self):
        for tok in ["", "garbage", "a.b.c", "....", "eyJhbGciOiJSUzI1NiJ9.e30.AAAA", "x" * 9000]:
            st, body, _ = self.sessions(tok)
            self.assertEqual((st, body), (401, S.GENERIC_401), tok[:20])
        # no Authorization header at all; a Basic header: the 401 says what is missing (it
        # said "invalid token" to a client that had sent none)
        st, body, _ = self.ing.request("GET", "/api/%s/sessions" % self.tenant)
        self.assertEqual((st, body["error"]["code"]), (401, "unauthorized"))
        self.assertIn("no credential", body["error"]["message"])
        self.assertIn("Authorization: Bearer", body["error"]["message"])
        st, body, _ = self.ing.request("GET", "/api/%s/sessions" % self.tenant,
                                       headers={"Authorization": "Basic dXNlcjpwYXNz"})
        self.assertEqual((st, body["error"]["code"]), (401, "unauthorized"))
        self.assertIn('must be "Bearer', body["error"]["message"])
        self.assertNotIn("dXNlcjpwYXNz", str(body))

    def test_wrong_tenant_is_403(self):
        tok = self.ing.token(tenant="some-other-tenant")
        for method, path, body in [
                ("GET", "/api/%s/sessions" % self.tenant, None),
                ("POST", "/api/%s/chat" % self.tenant, {"message": "hi"}),
                ("GET", "/api/%s/jobs/%s" % (self.tenant, "00000000-0000-4000-8000-000000000000"),
                 None)]:
            st, resp, _ = self.ing.request(method, path, body, token=tok)
            self.assertEqual(st, 403, path)
            self.assertEqual(resp["error"]["code"], "forbidden")

    def test_token_never_logged(self):
        tok = self.ing.token(tenant=self.tenant)
        self.sessions(tok)
        self.sessions(tok[:-4] + "AAAA")
        logs = self.ing.logs()
        self.assertNotIn(tok.split(".")[2], logs)
        self.assertNotIn(tok, logs)

    def test_non_admin_gets_403_on_every_admin_route(self):
        user = self.ing.token(tenant=self.tenant)
        some = "00000000-0000-4000-8000-000000000000"
        routes = [
            ("GET", "/api/admin/tenants"), ("POST", "/api/admin/tenants"),
            ("GET", "/api/admin/tenants/" + self.tenant),
            ("PATCH", "/api/admin/tenants/" + self.tenant),
            ("DELETE", "/api/admin/tenants/" + self.tenant),
            ("GET", "/api/admin/tenants/%s/permissions" % self.tenant),
            ("POST", "/api/admin/tenants/%s/permissions" % self.tenant),
            ("GET", "/api/admin/tenants/%s/llm-config" % self.tenant),
            ("PUT", "/api/admin/tenants/%s/llm-config" % self.tenant),
            ("DELETE", "/api/admin/tenants/%s/llm-config" % self.tenant),
            ("GET", "/api/admin/agents"), ("POST", "/api/admin/agents"),
            ("GET", "/api/admin/agents/" + some), ("PATCH", "/api/admin/agents/" + some),
            ("DELETE", "/api/admin/agents/" + some),
            ("GET", "/api/admin/agents/%s/tools" % some),
            ("POST", "/api/admin/agents/%s/tools" % some),
            ("POST", "/api/admin/agents/reload"),
            ("GET", "/api/admin/tools"), ("POST", "/api/admin/tools"),
            ("GET", "/api/admin/tools/" + some), ("PUT", "/api/admin/tools/" + some),
            ("DELETE", "/api/admin/tools/" + some),
            ("GET", "/api/admin/output-formats"), ("POST", "/api/admin/output-formats"),
            ("GET", "/api/admin/llm-models"), ("POST", "/api/admin/llm-models"),
            ("DELETE", "/api/admin/llm-models/" + some),
            ("GET", "/api/admin/knowledge?tenant_id=" + self.tenant),
            ("POST", "/api/admin/knowledge"),
            ("DELETE", "/api/admin/knowledge/%s/doc.md" % self.tenant),
            ("GET", "/api/admin/tenants/%s/api-keys" % self.tenant),
            ("POST", "/api/admin/tenants/%s/api-keys" % self.tenant),
            ("DELETE", "/api/admin/tenants/%s/api-keys/0123456789abcdef" % self.tenant),
            ("GET", "/api/admin/nonexistent"),
        ]
        for method, path in routes:
            st, body, _ = self.ing.request(method, path, {"x": 1} if method != "GET" else None,
                                           token=user)
            self.assertEqual(st, 403, "%s %s -> %s %s" % (method, path, st, body))
            self.assertEqual(body["error"]["code"], "forbidden")
            st, body, _ = self.ing.request(method, path)
            self.assertEqual(st, 401, "%s %s unauthenticated" % (method, path))


if __name__ == "__main__":
    unittest.main()
