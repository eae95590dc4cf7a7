"""Batch documents (OCR): POST /api/{tenant}/documents -> agenthub.documents -> agenthub-docworker
-> PostgreSQL + the batch's event stream -> GET ?wait / SSE.

Runs $AGENTHUB_BIN/agenthub-ingress and agenthub-docworker against the stack that tests/run.sh
exports (after agenthub-migrate). The fixture PNGs in tests/fixtures/ocr/ hold known text
(tests/fixtures/ocr/make_fixtures.py rendered them); corrupt.png starts like a PNG and is
garbage after the header.
"""
import base64
import json
import os
import signal
import subprocess
import sys
import tempfile
import time
import unittest
import uuid

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import ingress_support as S  # noqa: E402

FIX = os.path.join(S.ROOT, "tests", "fixtures", "ocr")
STACK = os.path.join(S.ROOT, "compose", "local", "stack")
MAX_FILE = 300000


def fixture(name):
    with open(os.path.join(FIX, name), "rb") as f:
        return f.read()


def multipart(files, fields=None):
    """files: [(filename, content_type, bytes)] -> (body, content-type header)."""
    boundary = "----agenthub" + uuid.uuid4().hex
    out = []
    for k, v in (fields or {}).items():
        out.append(("--%s\r\nContent-Disposition: form-data; name=\"%s\"\r\n\r\n" %
                    (boundary, k)).encode() + v.encode() + b"\r\n")
    for fn, ct, data in files:
        out.append(("--%s\r\nContent-Disposition: form-data; name=\"files\"; filename=\"%s\"\r\n"
                    "Content-Type: %s\r\n\r\n" % (boundary, fn, ct)).encode() + data + b"\r\n")
    out.append(("--%s--\r\n" % boundary).encode())
    return b"".join(out), "multipart/form-data; boundary=" + boundary


def kcat(*args, data=None, timeout=30):
    return subprocess.run(["kcat", "-b", os.environ["KAFKA_BROKERS"]] + list(args), input=data,
                          capture_output=True, timeout=timeout)


class Docworker:
    """One agenthub-docworker. extra_env overrides settings; preexec_fn runs in the child
    before exec (test_security_documents.py sets resource limits there)."""

    def __init__(self, env, extra_env=None, preexec_fn=None):
        self.dir = tempfile.mkdtemp(prefix="docworker-test-")
        self.log_path = os.path.join(self.dir, "docworker.log")
        self.log = open(self.log_path, "wb")
        e = dict(env)
        e.update({"DOCWORKER_THREADS": "2", "DOCWORKER_MISSING_WAIT_MS": "1500",
                  "STAGE_DRAIN_TIMEOUT_MS": "20000", "LOG_LEVEL": "info"})
        e.update(extra_env or {})
        self.proc = subprocess.Popen([os.path.join(S.BIN, "agenthub-docworker")], env=e,
                                     stdout=self.log, stderr=subprocess.STDOUT,
                                     preexec_fn=preexec_fn)

    def logs(self):
        with open(self.log_path, "rb") as f:
            return f.read().decode(errors="replace")

    def stop(self):
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=40)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.log.close()
        return self.proc.returncode


class DocumentsTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        why = S.stack_env_missing()
        if why:
            raise unittest.SkipTest(why)
        if not os.path.exists(os.path.join(S.BIN, "agenthub-docworker")):
            raise unittest.SkipTest("no agenthub-docworker in " + S.BIN)
        cls.ing = S.Ingress({"DOCUMENTS_MAX_FILES": "5",
                             "DOCUMENTS_MAX_FILE_BYTES": str(MAX_FILE),
                             "INGRESS_PUBLISH_TIMEOUT_MS": "2000"})
        cls.tenant = S.unique("docs-a")
        cls.other = S.unique("docs-b")
        cls.ing.ensure_tenant(cls.tenant)
        cls.ing.ensure_tenant(cls.other)
        cls.tok = cls.ing.token(tenant=cls.tenant, sub="ann")
        cls.worker = Docworker(cls.ing.env)

    @classmethod
    def tearDownClass(cls):
        if os.environ.get("AGENTHUB_VAR") and os.path.exists(STACK):
            subprocess.run([STACK, "start", "kafka"], capture_output=True, timeout=120)
        problems = []
        if hasattr(cls, "worker"):
            rc = cls.worker.stop()
            text = cls.worker.logs()
            if rc != 0:
                problems.append("docworker exit status after SIGTERM: %s" % rc)
            for marker in ("ERROR: AddressSanitizer", "ERROR: LeakSanitizer", "runtime error:"):
                if marker in text:
                    i = text.find(marker)
                    problems.append("sanitizer report in the docworker log:\n" + text[i:i + 3000])
        if hasattr(cls, "ing"):
            cls.ing.stop_and_check(unittest.TestCase())
        if problems:
            raise AssertionError("\n".join(problems))

    # ---- helpers ------------------------------------------------------------------------------
    def post_json(self, docs, token=None, tenant=None, lang=None):
        body = {"documents": [{"filename": fn, "content_type": ct,
                               "content_base64": base64.b64encode(data).decode()}
                              for fn, ct, data in docs]}
        if lang:
            body["lang"] = lang
        return self.ing.request("POST", "/api/%s/documents" % (tenant or self.tenant), body,
                                token=token or self.tok, timeout=60)

    def post_multipart(self, files, fields=None, token=None):
        raw, ct = multipart(files, fields)
        return self.ing.request("POST", "/api/%s/documents" % self.tenant, raw_body=raw,
                                headers={"Content-Type": ct}, token=token or self.tok,
                                timeout=60)

    def wait_batch(self, batch_id, token=None, tenant=None, limit=120):
        deadline = time.time() + limit
        while True:
            st, body, _ = self.ing.request(
                "GET", "/api/%s/documents/%s?wait=20" % (tenant or self.tenant, batch_id),
                token=token or self.tok, timeout=60)
            self.assertEqual(st, 200, body)
            if body["status"] in ("done", "error") or time.time() > deadline:
                return body
            time.sleep(0.2)

    def by_name(self, batch):
        return {d["filename"]: d for d in batch["documents"]}

    # ---- tests --------------------------------------------------------------------------------
    def test_two_images_multipart(self):
        st, resp, _ = self.post_multipart([("invoice.png", "image/png", fixture("invoice.png")),
                                           ("shipment.png", "image/png",
                                            fixture("shipment.png"))],
                                          fields={"lang": "eng"})
        self.assertEqual(st, 202, resp)
        self.assertEqual(resp["status"], "queued")
        self.assertEqual([d["filename"] for d in resp["documents"]],
                         ["invoice.png", "shipment.png"])
        for d in resp["documents"]:
            uuid.UUID(d["document_id"])
        bid = resp["batch_id"]
        self.assertEqual(resp["result_url"], "/api/%s/documents/%s" % (self.tenant, bid))
        self.assertEqual(resp["events_url"], "/api/%s/documents/%s/events" % (self.tenant, bid))

        batch = self.wait_batch(bid)
        self.assertEqual(batch["status"], "done", batch)
        self.assertEqual((batch["total"], batch["succeeded"], batch["failed"]), (2, 2, 0))
        docs = self.by_name(batch)
        inv, shp = docs["invoice.png"], docs["shipment.png"]
        self.assertEqual(inv["status"], "done", inv)
        self.assertEqual(shp["status"], "done", shp)
        for word in ("INVOICE", "4711", "TOTAL"):
            self.assertIn(word, inv["text"].upper())
        for word in ("SHIPMENT", "DELIVERED", "HANOI"):
            self.assertIn(word, shp["text"].upper())
        self.assertIsNone(inv["error"])
        self.assertEqual(inv["metadata"].get("kind"), "image")
        self.assertEqual(inv["size_bytes"], len(fixture("invoice.png")))
        # the uploaded bytes are dropped once the text is stored
        left = S.psql("SELECT count(*) FROM documents WHERE batch_id = :'a' AND content IS NOT "
                      "NULL", bid)[0][0]
        self.assertEqual(left, "0")

    def test_jpeg_and_tiff(self):
        # declared types are only hints: the bytes decide (the TIFF is sent as octet-stream)
        st, resp, _ = self.post_multipart([("receipt.jpg", "image/jpeg", fixture("receipt.jpg")),
                                           ("manifest.tif", "application/octet-stream",
                                            fixture("manifest.tif"))])
        self.assertEqual(st, 202, resp)
        batch = self.wait_batch(resp["batch_id"])
        self.assertEqual((batch["status"], batch["succeeded"]), ("done", 2), batch)
        docs = self.by_name(batch)
        for word in ("RECEIPT", "PAID", "1200"):
            self.assertIn(word, docs["receipt.jpg"]["text"].upper())
        for word in ("MANIFEST", "CARGO", "77"):
            self.assertIn(word, docs["manifest.tif"]["text"].upper())
        self.assertEqual(docs["manifest.tif"]["pages"], 1)

    def test_multipage_tiff(self):
        st, resp, _ = self.post_json([("letter.tif", "image/tiff", fixture("letter.tif"))])
        self.assertEqual(st, 202, resp)
        batch = self.wait_batch(resp["batch_id"])
        doc = batch["documents"][0]
        self.assertEqual((doc["status"], doc["pages"]), ("done", 2), doc)
        first, second = doc["text"].upper().split("\f")
        self.assertIn("ALPHA", first)
        self.assertIn("OMEGA", second)

    def test_corrupt_image_fails_alone(self):
        text = "Plain text passes through: Hà Nội 2024\nline two"
        st, resp, _ = self.post_json([("invoice.png", "image/png", fixture("invoice.png")),
                                      ("corrupt.png", "image/png", fixture("corrupt.png")),
                                      ("note.txt", "text/plain; charset=utf-8",
                                       text.encode()),
                                      ("scan.pdf", "application/pdf",
                                       b"%PDF-1.4\n1 0 obj<<>>endobj\ntrailer<<>>\n%%EOF\n")])
        self.assertEqual(st, 202, resp)
        batch = self.wait_batch(resp["batch_id"])
        self.assertEqual(batch["status"], "done", batch)
        self.assertEqual((batch["total"], batch["succeeded"], batch["failed"]), (4, 2, 2))
        docs = self.by_name(batch)
        self.assertEqual(docs["corrupt.png"]["status"], "error")
        self.assertIn("image", docs["corrupt.png"]["error"])  # tools/ocr.c words it
        # ... and it has a code a client can branch on, as every failed document has
        self.assertEqual(docs["corrupt.png"]["metadata"].get("error_code"), "image_truncated",
                         docs["corrupt.png"])
        self.assertIsNone(docs["corrupt.png"]["text"])
        self.assertEqual(docs["invoice.png"]["status"], "done")
        self.assertIn("4711", docs["invoice.png"]["text"])
        self.assertEqual(docs["note.txt"]["status"], "done")
        self.assertEqual(docs["note.txt"]["text"], text)
        self.assertEqual(docs["scan.pdf"]["status"], "error")
        self.assertIn("PDF", docs["scan.pdf"]["error"])

    def test_events_stream(self):
        st, resp, _ = self.post_json([("shipment.png", "image/png", fixture("shipment.png")),
                                      ("corrupt.png", "image/png", fixture("corrupt.png"))])
        self.assertEqual(st, 202, resp)
        bid = resp["batch_id"]
        ids = {d["filename"]: d["document_id"] for d in resp["documents"]}
        out = subprocess.run(
            ["curl", "-sS", "-N", "--max-time", "120", "-H", "Authorization: Bearer " + self.tok,
             "http://127.0.0.1:%d/api/%s/documents/%s/events" % (self.ing.port, self.tenant,
                                                                   bid)],
            capture_output=True, text=True, timeout=150)
        events = S.parse_sse(out.stdout)
        names = [e["event"] for e in events]
        self.assertEqual(names[0], "queued", out.stdout)
        self.assertEqual(names[-1], "batch_done", out.stdout)
        self.assertEqual(sorted(names[1:-1]), ["document_done", "document_error",
                                               "document_started", "page"], out.stdout)
        # the image is one page: started, its page, done, in that order (test_documents_pdf.py)
        mine = [n for n, e in zip(names, events)
                if e["data"].get("document_id") == ids["shipment.png"]]
        self.assertEqual(mine, ["document_started", "page", "document_done"], out.stdout)
        by_event = {e["event"]: e for e in events}
        done = by_event["document_done"]["data"]
        self.assertEqual(done["document_id"], ids["shipment.png"])
        self.assertIn("HANOI", done["text"].upper())
        err = by_event["document_error"]["data"]
        self.assertEqual(err["document_id"], ids["corrupt.png"])
        self.assertTrue(err["error"])
        final = by_event["batch_done"]["data"]
        self.assertEqual((final["status"], final["total"], final["succeeded"], final["failed"]),
                         ("done", 2, 1, 1))
        # Last-Event-ID resumes after the given event without repeating it
        first_id = events[0]["id"]
        out2 = subprocess.run(
            ["curl", "-sS", "-N", "--max-time", "30", "-H", "Authorization: Bearer " + self.tok,
             "-H", "Last-Event-ID: " + first_id,
             "http://127.0.0.1:%d/api/%s/documents/%s/events" % (self.ing.port, self.tenant,
                                                                   bid)],
            capture_output=True, text=True, timeout=60)
        names2 = [e["event"] for e in S.parse_sse(out2.stdout)]
        self.assertEqual(names2, names[1:])

    def test_tenant_and_user_isolation(self):
        st, resp, _ = self.post_json([("note.txt", "text/plain", b"secret ledger")])
        self.assertEqual(st, 202, resp)
        bid = resp["batch_id"]
        self.assertEqual(self.wait_batch(bid)["status"], "done")
        other_tok = self.ing.token(tenant=self.other, sub="ann")
        # the other tenant's token on its own URL: no such batch
        for path in ("/api/%s/documents/%s", "/api/%s/documents/%s/events"):
            st, body, _ = self.ing.request("GET", path % (self.other, bid), token=other_tok)
            self.assertEqual(st, 404, body)
            self.assertEqual(body["error"]["code"], "not_found")
            self.assertNotIn("secret", json.dumps(body))
        # ... and on this tenant's URL: the token does not fit the tenant
        st, body, _ = self.ing.request("GET", "/api/%s/documents/%s" % (self.tenant, bid),
                                       token=other_tok)
        self.assertEqual(st, 403, body)
        # another user of the same tenant does not see it either
        st, body, _ = self.ing.request("GET", "/api/%s/documents/%s" % (self.tenant, bid),
                                       token=self.ing.token(tenant=self.tenant, sub="bob"))
        self.assertEqual(st, 404, body)
        # listings: the owner sees the batch, nobody else does
        st, body, _ = self.ing.request("GET", "/api/%s/documents?limit=200" % self.tenant,
                                       token=self.tok)
        self.assertEqual(st, 200, body)
        mine = [b for b in body["batches"] if b["batch_id"] == bid]
        self.assertEqual(len(mine), 1)
        self.assertEqual((mine[0]["status"], mine[0]["total"]), ("done", 1))
        for tenant, tok in ((self.tenant, self.ing.token(tenant=self.tenant, sub="bob")),
                            (self.other, other_tok)):
            st, body, _ = self.ing.request("GET", "/api/%s/documents" % tenant, token=tok)
            self.assertEqual(st, 200, body)
            self.assertNotIn(bid, [b["batch_id"] for b in body["batches"]])
        st, body, _ = self.ing.request("GET", "/api/%s/documents?limit=0" % self.tenant,
                                       token=self.tok)
        self.assertEqual(st, 400, body)
        st, body, _ = self.ing.request("GET", "/api/%s/documents?limit=1" % self.tenant,
                                       token=self.tok)
        self.assertEqual((st, len(body["batches"])), (200, 1))
        # a malformed id is a 404 too, and no token is a 401
        st, _, _ = self.ing.request("GET", "/api/%s/documents/not-a-uuid" % self.tenant,
                                    token=self.tok)
        self.assertEqual(st, 404)
        st, _, _ = self.ing.request("GET", "/api/%s/documents/%s" % (self.tenant, bid))
        self.assertEqual(st, 401)

    def test_request_validation(self):
        png = fixture("invoice.png")
        count = lambda: S.psql("SELECT count(*) FROM document_batches WHERE tenant_id = :'a'",
                               self.tenant)[0][0]
        before = count()
        st, body, _ = self.post_json([("f%d.png" % i, "image/png", png) for i in range(6)])
        self.assertEqual((st, body["error"]["code"]), (400, "too_many_documents"), body)
        st, body, _ = self.post_json([("big.bin", "image/png", b"\x89PNG" + b"x" * MAX_FILE)])
        self.assertEqual((st, body["error"]["code"]), (413, "document_too_large"), body)
        st, body, _ = self.post_multipart([("big.png", "image/png", b"x" * (MAX_FILE + 1))])
        self.assertEqual((st, body["error"]["code"]), (413, "document_too_large"), body)
        st, body, _ = self.post_json([("empty.png", "image/png", b"")])
        self.assertEqual(st, 400, body)
        st, body, _ = self.ing.request("POST", "/api/%s/documents" % self.tenant,
                                       {"documents": [{"filename": "a.png",
                                                       "content_base64": "%%%not base64"}]},
                                       token=self.tok)
        self.assertEqual(st, 400, body)
        self.assertIn("base64", body["error"]["message"])
        st, body, _ = self.ing.request("POST", "/api/%s/documents" % self.tenant,
                                       {"documents": []}, token=self.tok)
        self.assertEqual(st, 400, body)
        st, body, _ = self.ing.request("POST", "/api/%s/documents" % self.tenant,
                                       raw_body=b"{not json", token=self.tok,
                                       headers={"Content-Type": "application/json"})
        self.assertEqual(st, 400, body)
        self.assertEqual(body["error"]["message"],
                         "body is not valid JSON: quoted object property name expected at byte 1")
        st, body, _ = self.ing.request("POST", "/api/%s/documents" % self.tenant,
                                       raw_body=b'{"documents":[],}', token=self.tok,
                                       headers={"Content-Type": "application/json"})
        self.assertEqual((st, body["error"]["code"]), (400, "invalid_json"), body)
        st, body, _ = self.ing.request("POST", "/api/%s/documents" % self.tenant,
                                       raw_body=b"abc", token=self.tok,
                                       headers={"Content-Type": "image/png"})
        self.assertEqual(st, 415, body)
        raw, ct = multipart([("a.png", "image/png", png)])
        st, body, _ = self.ing.request("POST", "/api/%s/documents" % self.tenant,
                                       raw_body=raw[:len(raw) // 2], token=self.tok,
                                       headers={"Content-Type": ct})
        self.assertEqual(st, 400, body)
        st, body, _ = self.post_multipart([], fields={"lang": "eng"})
        self.assertEqual(st, 400, body)
        # a file no reader takes is refused at upload, with the batch it came in (it was a
        # 202 and a failed document later)
        docx = "application/vnd.openxmlformats-officedocument.wordprocessingml.document"
        for send in (self.post_json, self.post_multipart):
            st, body, _ = send([("a.png", "image/png", png),
                                ("report.docx", docx, b"PK\x03\x04" + b"\0" * 64)])
            self.assertEqual((st, body["error"]["code"]), (415, "unsupported_document_type"),
                             body)
            self.assertIn("report.docx", body["error"]["message"])
        st, body, _ = self.post_json([("a.png", "image/png", png)], lang="../../etc")
        self.assertEqual(st, 400, body)
        st, body, _ = self.ing.request("POST", "/api/%s/documents" % self.tenant,
                                       {"documents": [{"filename": "a.png",
                                                       "content_base64": "AAAA"}]})
        self.assertEqual(st, 401, body)
        st, body, _ = self.ing.request("PUT", "/api/%s/documents" % self.tenant, {},
                                       token=self.tok)
        self.assertEqual(st, 405, body)
        st, body, _ = self.ing.request("GET", "/api/%s/documents/%s?wait=abc" %
                                       (self.tenant, uuid.uuid4()), token=self.tok)
        self.assertEqual(st, 400, body)
        self.assertEqual(count(), before, "a refused upload left a batch behind")

    def test_redelivery_is_idempotent(self):
        st, resp, _ = self.post_json([("note.txt", "text/plain", b"counted once")])
        self.assertEqual(st, 202, resp)
        bid, did = resp["batch_id"], resp["documents"][0]["document_id"]
        self.assertEqual(self.wait_batch(bid)["succeeded"], 1)
        env = {"version": 1, "type": "doc.request", "job_id": bid, "session_id": did,
               "tenant_id": self.tenant, "user_id": "ann",
               "traceparent": "00-%s-%s-01" % (uuid.uuid4().hex, uuid.uuid4().hex[:16]),
               "created_at": "2026-01-01T00:00:00Z",
               "payload": {"batch_id": bid, "document_id": did, "filename": "note.txt",
                           "content_type": "text/plain"}}
        r = kcat("-P", "-t", "agenthub.documents", "-k", bid, data=json.dumps(env).encode())
        self.assertEqual(r.returncode, 0, r.stderr)
        deadline = time.time() + 60
        while time.time() < deadline:
            if "already processed" in self.worker.logs() and did in self.worker.logs():
                break
            time.sleep(0.2)
        else:
            self.fail("the redelivered document was not skipped:\n" + self.worker.logs()[-3000:])
        batch = self.wait_batch(bid)
        self.assertEqual((batch["total"], batch["succeeded"], batch["failed"]), (1, 1, 0))
        self.assertEqual(batch["documents"][0]["text"], "counted once")

    def test_sigterm_drains_and_next_worker_finishes(self):
        imgs = [("p%d.png" % i, "image/png", fixture("invoice.png" if i % 2 else "shipment.png"))
                for i in range(5)]
        st, resp, _ = self.post_json(imgs)
        self.assertEqual(st, 202, resp)
        bid = resp["batch_id"]
        deadline = time.time() + 60
        while time.time() < deadline:
            started = S.psql("SELECT count(*) FROM documents WHERE batch_id = :'a' AND status "
                             "<> 'queued'", bid)[0][0]
            if int(started) > 0:
                break
            time.sleep(0.05)
        old = self.__class__.worker
        rc = old.stop()
        text = old.logs()
        self.assertEqual(rc, 0, text[-3000:])
        self.assertIn("draining", text)
        self.assertNotIn("ERROR: AddressSanitizer", text)
        self.assertNotIn("ERROR: LeakSanitizer", text)
        self.__class__.worker = Docworker(self.ing.env)
        batch = self.wait_batch(bid)
        # every document exactly once, whatever the first worker finished before it stopped
        self.assertEqual((batch["status"], batch["total"], batch["succeeded"], batch["failed"]),
                         ("done", 5, 5, 0), batch)
        for d in batch["documents"]:
            self.assertEqual(d["status"], "done")
            self.assertIn("INVOICE" if d["filename"] in ("p1.png", "p3.png") else "SHIPMENT",
                          d["text"].upper())

    def test_garbage_goes_to_dlq(self):
        marker = "garbage-" + uuid.uuid4().hex
        for payload in (marker + " not json", json.dumps({"version": 1, "type": "doc.request",
                                                          "marker": marker})):
            r = kcat("-P", "-t", "agenthub.documents", "-k", marker, data=payload.encode())
            self.assertEqual(r.returncode, 0, r.stderr)
        deadline = time.time() + 60
        found = []
        while time.time() < deadline:
            r = kcat("-C", "-t", "agenthub.dlq", "-o", "beginning", "-e", "-q",
                     "-f", "%k\t%h\t%s\n")
            found = [l for l in r.stdout.decode(errors="replace").splitlines()
                     if l.startswith(marker + "\t")]
            if len(found) >= 2:
                break
            time.sleep(0.5)
        self.assertEqual(len(found), 2, "dead letters for %s: %r" % (marker, found))
        for line in found:
            self.assertIn("x-source-topic=agenthub.documents", line)
            self.assertIn("x-error=", line)
        # the consumer keeps going after poison messages
        st, resp, _ = self.post_json([("note.txt", "text/plain", b"after the poison")])
        self.assertEqual(st, 202, resp)
        self.assertEqual(self.wait_batch(resp["batch_id"])["status"], "done")

    def test_zy_redis_down_results_still_arrive(self):
        """Without Redis there are no events: GET still answers from PostgreSQL and the SSE
        stream ends with a batch_done built from PostgreSQL instead of hanging."""
        if not os.environ.get("AGENTHUB_VAR") or not os.path.exists(STACK):
            self.skipTest("needs compose/local/stack and AGENTHUB_VAR")
        r = subprocess.run([STACK, "stop", "redis"], capture_output=True, text=True, timeout=120)
        self.assertEqual(r.returncode, 0, r.stderr)
        try:
            st, resp, _ = self.post_json([("note.txt", "text/plain", b"no redis today")])
            self.assertEqual(st, 202, resp)
            bid = resp["batch_id"]
            batch = self.wait_batch(bid)
            self.assertEqual((batch["status"], batch["succeeded"]), ("done", 1), batch)
            self.assertEqual(batch["documents"][0]["text"], "no redis today")
            out = subprocess.run(
                ["curl", "-sS", "-N", "--max-time", "60", "-H",
                 "Authorization: Bearer " + self.tok,
                 "http://127.0.0.1:%d/api/%s/documents/%s/events" % (self.ing.port,
                                                                       self.tenant, bid)],
                capture_output=True, text=True, timeout=90)
            events = S.parse_sse(out.stdout)
            self.assertEqual([e["event"] for e in events], ["batch_done"], out.stdout)
            self.assertEqual((events[0]["data"]["status"], events[0]["data"]["succeeded"]),
                             ("done", 1))
        finally:
            r = subprocess.run([STACK, "start", "redis"], capture_output=True, text=True,
                               timeout=120)
            self.assertEqual(r.returncode, 0, r.stderr)

    def test_zz_broker_down_503(self):
        if not os.environ.get("AGENTHUB_VAR") or not os.path.exists(STACK):
            self.skipTest("needs compose/local/stack and AGENTHUB_VAR")
        count = lambda: S.psql("SELECT (SELECT count(*) FROM document_batches WHERE tenant_id = "
                               ":'a') + (SELECT count(*) FROM documents WHERE tenant_id = :'a')",
                               self.tenant)[0][0]
        before = count()
        r = subprocess.run([STACK, "stop", "kafka"], capture_output=True, text=True, timeout=120)
        self.assertEqual(r.returncode, 0, r.stderr)
        try:
            st, body, _ = self.post_json([("a.txt", "text/plain", b"one"),
                                          ("b.txt", "text/plain", b"two")])
            self.assertEqual(st, 503, body)
            self.assertEqual(body["error"]["code"], "unavailable")
            self.assertEqual(count(), before, "a refused batch left rows behind")
        finally:
            r = subprocess.run([STACK, "start", "kafka"], capture_output=True, text=True,
                               timeout=120)
            self.assertEqual(r.returncode, 0, r.stderr)
        # back to normal without restarting anything
        deadline = time.time() + 60
        while True:
            st, resp, _ = self.post_json([("c.txt", "text/plain", b"after the outage")])
            if st == 202 or time.time() > deadline:
                break
            time.sleep(1)
        self.assertEqual(st, 202, resp)
        self.assertEqual(self.wait_batch(resp["batch_id"])["status"], "done")


if __name__ == "__main__":
    unittest.main()
