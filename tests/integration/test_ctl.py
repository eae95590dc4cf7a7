"""agenthubctl keygen / token / migrate and the usage rules (exit 2 on bad usage, 1 on runtime
failure, secrets never on stderr). keygen's key pair is loaded with cryptography and the token
is verified with PyJWT. The migrate round trip runs only when DATABASE_URL is set (tests/run.sh
exports it with the stack); the rest needs no stack."""
import os
import stat
import subprocess
import tempfile
import time
import unittest

import jwt
from cryptography.fernet import Fernet
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

BIN = os.path.join(os.environ.get("AGENTHUB_BIN", os.path.join(os.path.dirname(__file__), "..", "..", "build", "bin")), "agenthubctl")


def ctl(*args, env_extra=None, env_drop=(), stdin=b""):
    env = {k: v for k, v in os.environ.items() if k not in env_drop}
    if env_extra:
        env.update(env_extra)
    return subprocess.run([BIN] + list(args), input=stdin, capture_output=True, env=env, timeout=120)


class Keygen(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.tmp = tempfile.TemporaryDirectory()
        cls.dir = os.path.join(cls.tmp.name, "keys")
        cls.r = ctl("keygen", "--out", cls.dir)
        cls.priv = os.path.join(cls.dir, "jwt_private.pem")
        cls.pub = os.path.join(cls.dir, "jwt_public.pem")

    @classmethod
    def tearDownClass(cls):
        cls.tmp.cleanup()

    def test_key_pair_is_valid(self):
        self.assertEqual(self.r.returncode, 0, self.r.stderr)
        with open(self.priv, "rb") as f:
            priv = serialization.load_pem_private_key(f.read(), password=None)
        with open(self.pub, "rb") as f:
            pub = serialization.load_pem_public_key(f.read())
        self.assertIsInstance(priv, rsa.RSAPrivateKey)
        self.assertEqual(priv.key_size, 2048)
        self.assertEqual(priv.public_key().public_numbers(), pub.public_numbers())
        self.assertEqual(stat.S_IMODE(os.stat(self.priv).st_mode), 0o600)

    def test_fernet_key_printed(self):
        out = self.r.stdout.decode().strip().splitlines()
        self.assertEqual(len(out), 1)
        self.assertTrue(out[0].startswith("FERNET_KEY="))
        key = out[0].split("=", 1)[1]
        self.assertEqual(len(key), 44)
        f = Fernet(key)
        self.assertEqual(f.decrypt(f.encrypt(b"x")), b"x")
        # the private key never reaches the terminal
        with open(self.priv) as fh:
            body = fh.read().splitlines()[1]
        self.assertNotIn(body, self.r.stdout.decode() + self.r.stderr.decode())

    def test_no_overwrite_without_force(self):
        with open(self.priv, "rb") as f:
            before = f.read()
        r = ctl("keygen", "--out", self.dir)
        self.assertEqual(r.returncode, 1)
        self.assertIn("--force", r.stderr.decode())
        with open(self.priv, "rb") as f:
            self.assertEqual(f.read(), before)
        d2 = os.path.join(self.tmp.name, "again")
        self.assertEqual(ctl("keygen", "--out", d2).returncode, 0)
        r = ctl("keygen", "--out", d2, "--force")
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertEqual(stat.S_IMODE(os.stat(os.path.join(d2, "jwt_private.pem")).st_mode), 0o600)

    def token(self, *extra):
        r = ctl("token", "--key", self.priv, *extra)
        return r

    def test_token_verifies_and_carries_claims(self):
        before = int(time.time())
        r = self.token("--tenant", "tenant-a", "--sub", "user-1", "--roles", "admin,viewer", "--ttl", "600")
        self.assertEqual(r.returncode, 0, r.stderr)
        tok = r.stdout.decode().strip()
        with open(self.pub) as f:
            pub = f.read()
        claims = jwt.decode(tok, pub, algorithms=["RS256"])
        self.assertEqual(claims["sub"], "user-1")
        self.assertEqual(claims["tenant_id"], "tenant-a")
        self.assertEqual(claims["roles"], ["admin", "viewer"])
        self.assertEqual(claims["exp"] - claims["iat"], 600)
        self.assertGreaterEqual(claims["iat"], before - 1)
        self.assertLessEqual(claims["iat"], int(time.time()) + 1)
        self.assertEqual(jwt.get_unverified_header(tok)["alg"], "RS256")

    def test_token_longer_than_the_ingress_accepts_is_warned_about(self):
        r = self.token("--tenant", "t", "--sub", "u", "--ttl", "200000")
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertIn("longer than the ingress accepts", r.stderr.decode())
        self.assertIn("86400", r.stderr.decode())
        r = self.token("--tenant", "t", "--sub", "u", "--ttl", "86400")
        self.assertNotIn("warning", r.stderr.decode())
        r = ctl("token", "--key", self.priv, "--tenant", "t", "--sub", "u", "--ttl", "200000",
                env_extra={"JWT_MAX_LIFETIME_S": "300000"})
        self.assertNotIn("warning", r.stderr.decode())

    def test_token_optional_claims(self):
        r = self.token("--tenant", "t_2", "--sub", "u", "--kid", "key-1", "--iss", "agenthub", "--aud", "agenthub-api")
        self.assertEqual(r.returncode, 0, r.stderr)
        tok = r.stdout.decode().strip()
        with open(self.pub) as f:
            pub = f.read()
        claims = jwt.decode(tok, pub, algorithms=["RS256"], audience="agenthub-api", issuer="agenthub")
        self.assertEqual(claims["roles"], [])
        self.assertEqual(claims["exp"] - claims["iat"], 3600)  # default ttl
        self.assertEqual(jwt.get_unverified_header(tok)["kid"], "key-1")
        # roles with an odd character are JSON-escaped, not injected
        r = self.token("--tenant", "t", "--sub", 'u"x', "--roles", 'a"b,c')
        claims = jwt.decode(r.stdout.decode().strip(), pub, algorithms=["RS256"])
        self.assertEqual(claims["roles"], ['a"b', "c"])
        self.assertEqual(claims["sub"], 'u"x')

    def test_token_fails_with_another_key(self):
        other = os.path.join(self.tmp.name, "other")
        self.assertEqual(ctl("keygen", "--out", other).returncode, 0)
        tok = self.token("--tenant", "t", "--sub", "u").stdout.decode().strip()
        with open(os.path.join(other, "jwt_public.pem")) as f:
            other_pub = f.read()
        with self.assertRaises(jwt.InvalidSignatureError):
            jwt.decode(tok, other_pub, algorithms=["RS256"])

    def test_token_runtime_failures(self):
        r = ctl("token", "--key", os.path.join(self.tmp.name, "missing.pem"), "--tenant", "t", "--sub", "u")
        self.assertEqual(r.returncode, 1)
        self.assertIn("cannot read", r.stderr.decode())
        r = ctl("token", "--key", self.pub, "--tenant", "t", "--sub", "u")  # a public key cannot sign
        self.assertEqual(r.returncode, 1)
        self.assertEqual(r.stdout, b"")
        self.assertNotIn("BEGIN", r.stderr.decode())

    def test_token_usage_errors(self):
        cases = [
            ("token",),
            ("token", "--key", self.priv),
            ("token", "--key", self.priv, "--tenant", "t"),
            ("token", "--key", self.priv, "--sub", "u"),
            ("token", "--key", self.priv, "--tenant", "bad tenant", "--sub", "u"),
            ("token", "--key", self.priv, "--tenant", "t", "--sub", "u", "--ttl", "0"),
            ("token", "--key", self.priv, "--tenant", "t", "--sub", "u", "--ttl", "soon"),
            ("token", "--key", self.priv, "--tenant", "t", "--sub", "u", "--bogus"),
            ("token", "--key", self.priv, "--tenant", "t", "--sub", "u", "stray"),
            ("token", "--key"),
        ]
        for args in cases:
            r = ctl(*args)
            self.assertEqual(r.returncode, 2, (args, r.stderr))
            self.assertIn("usage: agenthubctl token", r.stderr.decode())
            self.assertEqual(r.stdout, b"")


class Usage(unittest.TestCase):
    def test_top_level(self):
        r = ctl()
        self.assertEqual(r.returncode, 2)
        self.assertIn("usage: agenthubctl", r.stderr.decode())
        r = ctl("frobnicate")
        self.assertEqual(r.returncode, 2)
        self.assertIn("unknown command", r.stderr.decode())
        for h in ("--help", "-h", "help"):
            r = ctl(h)
            self.assertEqual(r.returncode, 0)
            out = r.stdout.decode()
            for cmd in ("keygen", "token", "fernet", "migrate"):
                self.assertIn(cmd, out)
        r = ctl("help", "token")
        self.assertEqual(r.returncode, 0)
        self.assertIn("--tenant", r.stdout.decode())

    def test_print_config_masks_secrets(self):
        key = Fernet.generate_key().decode()
        url = "postgresql://agenthub:hunter2-sekret@127.0.0.1:5432/agenthub"
        r = ctl("--print-config", env_extra={"FERNET_KEY": key, "DATABASE_URL": url})
        self.assertEqual(r.returncode, 0, r.stderr)
        out = r.stdout.decode()
        self.assertIn("FERNET_KEY=***", out)
        # a URL's password is masked, where it points is shown
        self.assertIn("DATABASE_URL=postgresql://agenthub:***@127.0.0.1:5432/agenthub", out)
        self.assertNotIn(key, out + r.stderr.decode())
        self.assertNotIn("hunter2-sekret", out + r.stderr.decode())
        r = ctl("--print-config", env_extra={
            "FERNET_KEY": key, "REDIS_URL": "redis://:redis-pw-1@127.0.0.1:6379/0",
            "CHROMA_URL": "http://u:chroma-pw-2@127.0.0.1:8000",
            "DATABASE_URL": "postgresql://agenthub@db/agenthub?sslmode=require&password=pg-pw-3"})
        out = r.stdout.decode() + r.stderr.decode()
        self.assertEqual(r.returncode, 0, out)
        for pw in ("redis-pw-1", "chroma-pw-2", "pg-pw-3"):
            self.assertNotIn(pw, out)
        self.assertIn("REDIS_URL=redis://:***@127.0.0.1:6379/0", out)
        self.assertIn("CHROMA_URL=http://u:***@127.0.0.1:8000", out)
        self.assertIn("DATABASE_URL=postgresql://agenthub@db/agenthub?sslmode=require&password=***",
                      out)

    def test_command_help_and_bad_options(self):
        for cmd in ("keygen", "token", "fernet", "migrate"):
            r = ctl(cmd, "--help")
            self.assertEqual(r.returncode, 0, cmd)
            self.assertIn("usage: agenthubctl " + cmd, r.stdout.decode())
            r = ctl(cmd, "--no-such-option")
            self.assertEqual(r.returncode, 2, cmd)
            self.assertIn("usage: agenthubctl " + cmd, r.stderr.decode())
        self.assertEqual(ctl("keygen", "extra").returncode, 2)
        self.assertEqual(ctl("migrate", "extra").returncode, 2)
        # every command's help ends its last line, and kb's explains its options
        for cmd in ("keygen", "token", "fernet", "migrate", "kb", "api-keys", "tools-seal",
                    "topics"):
            out = ctl(cmd, "--help").stdout.decode()
            self.assertTrue(out.endswith("\n"), cmd)
        out = ctl("kb", "--help").stdout.decode()
        for opt in ("--local", "--source", "--top-k"):
            self.assertRegex(out, r"(?m)^  %s " % opt)


class Migrate(unittest.TestCase):
    def test_requires_database_url(self):
        r = ctl("migrate", env_drop=("DATABASE_URL",))
        self.assertEqual(r.returncode, 1)
        self.assertIn("DATABASE_URL is not set", r.stderr.decode())

    def test_list(self):
        r = ctl("migrate", "--list")
        self.assertEqual(r.returncode, 0, r.stderr)
        lines = r.stdout.decode().splitlines()
        self.assertGreater(len(lines), 0)
        self.assertTrue(all(l[:4].isdigit() and l.endswith(".sql") for l in lines), lines)

    def test_unreachable_database_hides_password(self):
        url = "postgresql://agenthub:hunter2-sekret@127.0.0.1:1/agenthub?connect_timeout=2"
        r = ctl("migrate", env_extra={"DATABASE_URL": url})
        self.assertEqual(r.returncode, 1)
        self.assertNotIn("hunter2-sekret", r.stderr.decode() + r.stdout.decode())

    @unittest.skipUnless(os.environ.get("DATABASE_URL"), "DATABASE_URL not set (no stack)")
    def test_apply_is_idempotent(self):
        r = ctl("migrate")
        self.assertEqual(r.returncode, 0, r.stderr)
        r = ctl("migrate")
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertIn("0 migration(s) applied", r.stdout.decode())
        self.assertNotIn(os.environ["DATABASE_URL"], r.stdout.decode() + r.stderr.decode())


if __name__ == "__main__":
    unittest.main()


class ServiceSettings(unittest.TestCase):
    """Settings the LLM layer, the usage recorder, the SSE loop and the upload limits read from
    the environment themselves were missing from --help, and a bad value was ignored (or only
    logged): each service now lists them, and a bad one stops its start with exit 2."""
    DIR = os.path.dirname(BIN)
    LLM = ("LLM_RATE_WINDOW_S", "LLM_REUSE_CONNECTIONS", "USAGE_METRIC_TENANTS",
           "USAGE_RECONCILE_S", "AGENTHUB_PUBLIC_URL")
    INGRESS = ("INGRESS_SSE_WRITERS", "DOCUMENTS_MAX_FILES", "DOCUMENTS_MAX_FILE_BYTES",
               "DOCUMENTS_MAX_BODY")

    def run_bin(self, name, *args, env_extra=None):
        env = dict(os.environ, **(env_extra or {}))
        return subprocess.run([os.path.join(self.DIR, name)] + list(args), capture_output=True,
                              text=True, env=env, timeout=60)

    def test_listed_in_help(self):
        for name, want in (("agenthub-ingress", self.LLM + self.INGRESS),
                           ("agenthub-router", self.LLM), ("agenthub-agent", self.LLM)):
            r = self.run_bin(name, "--help")
            self.assertEqual(r.returncode, 0, r.stderr)
            listed = {line.split()[0] for line in r.stdout.splitlines()
                      if line.startswith("  ") and line.split()}
            for setting in want:
                self.assertIn(setting, listed, name)
            self.assertNotIn("(default: )", r.stdout, name)

    def test_a_bad_value_stops_the_start(self):
        for name, setting, value in (("agenthub-router", "LLM_RATE_WINDOW_S", "abc"),
                                     ("agenthub-agent", "USAGE_RECONCILE_S", "0"),
                                     ("agenthub-agent", "LLM_REUSE_CONNECTIONS", "maybe"),
                                     ("agenthub-ingress", "DOCUMENTS_MAX_FILES", "0"),
                                     ("agenthub-ingress", "INGRESS_SSE_WRITERS", "65")):
            r = self.run_bin(name, "--print-config", env_extra={setting: value})
            self.assertEqual(r.returncode, 2, (name, setting, r.stdout))
            self.assertIn("config: %s:" % setting, r.stderr)

    def test_agent_arguments_in_help_and_with_print_config(self):
        r = self.run_bin("agenthub-agent", "--help")
        self.assertIn("usage: agenthub-agent [--print-config] [--help] [--agent NAME]...",
                      r.stdout)
        r = self.run_bin("agenthub-agent", "--agent", "AgentDebt", "--print-config")
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertIn("AGENT_GROUP_ID=", r.stdout)
        r = self.run_bin("agenthub-agent", "--bogus")
        self.assertEqual(r.returncode, 2)
        self.assertIn("usage: agenthub-agent [--agent NAME]...", r.stderr)
        self.assertNotIn("agent stopped", r.stderr)  # it never started
