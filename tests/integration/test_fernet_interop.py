"""agenthubctl fernet <-> Python's cryptography.fernet, both directions, and every way a token
can be bad: tampered, truncated, wrong key, expired, not a token. Needs no stack; the binary
comes from $AGENTHUB_BIN (default: build/bin)."""
import base64
import os
import subprocess
import time
import unittest

from cryptography.fernet import Fernet

BIN = os.path.join(os.environ.get("AGENTHUB_BIN", os.path.join(os.path.dirname(__file__), "..", "..", "build", "bin")), "agenthubctl")


def ctl(args, data, key, extra_env=None):
    env = {k: v for k, v in os.environ.items() if k != "FERNET_KEY"}
    if key is not None:
        env["FERNET_KEY"] = key
    if extra_env:
        env.update(extra_env)
    return subprocess.run([BIN] + args, input=data, capture_output=True, env=env, timeout=60)


class FernetInterop(unittest.TestCase):
    def setUp(self):
        self.key = Fernet.generate_key().decode()
        self.f = Fernet(self.key)

    def assert_rejected(self, r, *words):
        self.assertEqual(r.returncode, 1, r.stderr)
        self.assertEqual(r.stdout, b"")
        err = r.stderr.decode()
        self.assertIn("agenthubctl fernet:", err)
        for w in words:
            self.assertIn(w, err)
        self.assertNotIn(self.key, err)
        self.assertNotIn(self.key.rstrip("="), err)

    def test_python_token_decrypts_with_ctl(self):
        for msg in [b"hello", b"", b"sk-live-" + b"x" * 100, bytes(range(256)) * 3, "xin chào".encode()]:
            token = self.f.encrypt(msg)
            r = ctl(["fernet", "decrypt"], token + b"\n", self.key)
            self.assertEqual(r.returncode, 0, r.stderr)
            self.assertEqual(r.stdout, msg)
            # without the trailing newline, and with a ttl that it is within
            r = ctl(["fernet", "decrypt", "--ttl", "60"], token, self.key)
            self.assertEqual(r.returncode, 0, r.stderr)
            self.assertEqual(r.stdout, msg)

    def test_ctl_token_decrypts_with_python(self):
        for msg in [b"hello", b"", bytes(range(256)) * 5, b"line\nbreaks\n"]:
            r = ctl(["fernet", "encrypt"], msg, self.key)
            self.assertEqual(r.returncode, 0, r.stderr)
            self.assertTrue(r.stdout.endswith(b"\n"))
            token = r.stdout.strip()
            self.assertTrue(token.startswith(b"gAAAAA"))
            self.assertEqual(self.f.decrypt(token), msg)
            self.assertEqual(self.f.decrypt(token, ttl=60), msg)
            ts = self.f.extract_timestamp(token)
            self.assertLessEqual(abs(ts - time.time()), 5)

    def test_fixed_vector(self):
        # The Fernet spec's token (IV 0..15, time 499162800) without ttl: no time check, as in Python.
        key = "cw_0x689RpI-jtRR7oE8h_eQsKImvJapLeSbXpwF4e4="
        token = "gAAAAAAdwJ6wAAECAwQFBgcICQoLDA0ODy021cpGVWKZ_eEwCGM4BLLF_5CV9dOPmrhuVUPgJobwOz7JcbmrR64jVmpU4IwqDA=="
        self.assertEqual(Fernet(key).decrypt(token), b"hello")
        r = ctl(["fernet", "decrypt"], token.encode(), key)
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertEqual(r.stdout, b"hello")

    def test_tampered(self):
        token = self.f.encrypt(b"secret api key")
        raw = bytearray(base64.urlsafe_b64decode(token))
        for pos in [20, 30, len(raw) - 40, len(raw) - 1]:
            bad = bytearray(raw)
            bad[pos] ^= 0x40
            bad_token = base64.urlsafe_b64encode(bytes(bad))
            r = ctl(["fernet", "decrypt"], bad_token, self.key)
            self.assert_rejected(r, "signature")
        # a changed character in the text form
        t = token.decode()
        i = len(t) // 2
        t2 = t[:i] + ("A" if t[i] != "A" else "B") + t[i + 1:]
        self.assert_rejected(ctl(["fernet", "decrypt"], t2.encode(), self.key), "invalid token")

    def test_truncated(self):
        token = self.f.encrypt(b"secret api key")
        for n in [len(token) - 4, len(token) - 1, 60, 10, 1]:
            r = ctl(["fernet", "decrypt"], token[:n], self.key)
            self.assert_rejected(r, "invalid token")

    def test_wrong_key(self):
        token = self.f.encrypt(b"secret api key")
        other = Fernet.generate_key().decode()
        r = ctl(["fernet", "decrypt"], token, other)
        self.assertEqual(r.returncode, 1)
        self.assertIn("signature", r.stderr.decode())
        self.assertNotIn(other, r.stderr.decode())
        self.assertEqual(r.stdout, b"")
        # and the reverse: a token from ctl with one key, Python with another, fails too
        r = ctl(["fernet", "encrypt"], b"x", other)
        with self.assertRaises(Exception):
            self.f.decrypt(r.stdout.strip())

    def test_expired(self):
        old = self.f.encrypt_at_time(b"old secret", int(time.time()) - 3600)
        r = ctl(["fernet", "decrypt", "--ttl", "60"], old, self.key)
        self.assert_rejected(r, "expired")
        # the same token without a ttl is fine, as in Python
        r = ctl(["fernet", "decrypt"], old, self.key)
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertEqual(r.stdout, b"old secret")
        # more than 60 s in the future is refused under a ttl (Python's clock-skew rule)
        future = self.f.encrypt_at_time(b"future", int(time.time()) + 3600)
        self.assert_rejected(ctl(["fernet", "decrypt", "--ttl", "60"], future, self.key), "expired")
        near = self.f.encrypt_at_time(b"near", int(time.time()) + 30)
        r = ctl(["fernet", "decrypt", "--ttl", "60"], near, self.key)
        self.assertEqual(r.returncode, 0, r.stderr)

    def test_not_a_token(self):
        for junk in [b"", b"\n", b"hello world", b"gAAAAA", b"%%%%", self.f.encrypt(b"x") + b" trailing"]:
            self.assert_rejected(ctl(["fernet", "decrypt"], junk, self.key))

    def test_key_problems(self):
        token = self.f.encrypt(b"x")
        r = ctl(["fernet", "decrypt"], token, None)
        self.assertEqual(r.returncode, 1)
        self.assertIn("FERNET_KEY is not set", r.stderr.decode())
        bad = self.key[:-2] + "=="  # decodes, but wrong length / bad padding
        r = ctl(["fernet", "encrypt"], b"x", bad)
        self.assertEqual(r.returncode, 1)
        self.assertIn("invalid key", r.stderr.decode())
        self.assertNotIn(bad, r.stderr.decode())
        self.assertEqual(r.stdout, b"")

    def test_usage(self):
        for args in [["fernet"], ["fernet", "rot13"], ["fernet", "decrypt", "--ttl", "abc"],
                     ["fernet", "decrypt", "--ttl", "-5"], ["fernet", "encrypt", "--ttl", "5"],
                     ["fernet", "decrypt", "extra"], ["fernet", "--bogus", "decrypt"]]:
            r = ctl(args, b"", self.key)
            self.assertEqual(r.returncode, 2, (args, r.stderr))
            self.assertIn("usage:", r.stderr.decode())
            self.assertNotIn(self.key, r.stderr.decode() + r.stdout.decode())
        r = ctl(["fernet", "--help"], b"", self.key)
        self.assertEqual(r.returncode, 0)
        self.assertIn("usage: agenthubctl fernet", r.stdout.decode())


if __name__ == "__main__":
    unittest.main()
