"""PDFs and multi-page documents in batch jobs (issue 15): POST /api/{tenant}/documents ->
agenthub-docworker (poppler for PDFs: text layer per page, scanned pages rendered with cairo and
OCRed; TIFF page by page) -> documents + document_pages + the batch's SSE stream.

Runs the real $AGENTHUB_BIN/agenthub-ingress and agenthub-docworker against the stack
tests/run.sh exports. The fixtures are generated into a temporary directory by
tests/fixtures/documents/make_fixtures.py (stdlib + libcairo through ctypes); invoice.pdf is
the shipped one.
"""
import base64
import json
import os
import subprocess
import sys
import tempfile
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import ingress_support as S  # noqa: E402
from test_documents import Docworker  # noqa: E402

GEN = os.path.join(S.ROOT, "tests", "fixtures", "documents", "make_fixtures.py")
INVOICE = os.path.join(S.ROOT, "tests", "fixtures", "documents", "invoice.pdf")
FIX = {}


def setUpModule():
    d = tempfile.mkdtemp(prefix="docpdf-fixtures-")
    subprocess.run([sys.executable, GEN, d], check=True, timeout=120)
    for name in os.listdir(d):
        with open(os.path.join(d, name), "rb") as f:
            FIX[name] = f.read()
    with open(INVOICE, "rb") as f:
        FIX["invoice.pdf"] = f.read()


class _Base(unittest.TestCase):
    WORKER_ENV = {}

    @classmethod
    def setUpClass(cls):
        why = S.stack_env_missing()
        if why:
            raise unittest.SkipTest(why)
        if not os.path.exists(os.path.join(S.BIN, "agenthub-docworker")):
            raise unittest.SkipTest("no agenthub-docworker in " + S.BIN)
        cls.ing = S.Ingress({"DOCUMENTS_MAX_FILES": "10",
                             "DOCUMENTS_MAX_FILE_BYTES": str(4 * 1024 * 1024)})
        cls.tenant = S.unique("docpdf")
        cls.ing.ensure_tenant(cls.tenant)
        cls.tok = cls.ing.token(tenant=cls.tenant, sub="ann")
        cls.worker = Docworker(cls.ing.env, cls.WORKER_ENV)

    @classmethod
    def tearDownClass(cls):
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
            # stderr is JSON lines only: poppler, cairo, leptonica and Tesseract stay quiet
            for line in text.splitlines():
                if line.strip() and not line.startswith("{"):
                    problems.append("non-JSON line in the docworker log: %r" % line[:300])
                    break
        if hasattr(cls, "ing"):
            cls.ing.stop_and_check(unittest.TestCase())
        if problems:
            raise AssertionError("\n".join(problems))

    def post(self, names, lang=None):
        body = {"documents": [{"filename": n, "content_type": "application/octet-stream",
                               "content_base64": base64.b64encode(FIX[n]).decode()}
                              for n in names]}
        if lang:
            body["lang"] = lang
        st, resp, _ = self.ing.request("POST", "/api/%s/documents" % self.tenant, body,
                                       token=self.tok, timeout=60)
        self.assertEqual(st, 202, resp)
        return resp

    def wait_batch(self, batch_id, limit=300):
        import time
        deadline = time.time() + limit
        while True:
            st, body, _ = self.ing.request(
                "GET", "/api/%s/documents/%s?wait=20" % (self.tenant, batch_id),
                token=self.tok, timeout=60)
            self.assertEqual(st, 200, body)
            if body["status"] in ("done", "error"):
                return body
            self.assertLess(time.time(), deadline, "batch not finished: %s" % body)
            self.assertIsNone(self.worker.proc.poll(), "the docworker exited")

    def run_batch(self, names, lang=None):
        resp = self.post(names, lang)
        batch = self.wait_batch(resp["batch_id"])
        return batch, {d["filename"]: d for d in batch["documents"]}

    def pages_rows(self, document_id):
        """document_pages rows as [page, method, text, confidence, error, tenant_id]."""
        out = S.psql("SELECT coalesce(jsonb_agg(jsonb_build_array(page, method, text, "
                     "confidence, error, tenant_id) ORDER BY page), '[]') FROM document_pages "
                     "WHERE document_id = :'a'", document_id)
        return json.loads(out[0][0])


class PdfDocumentsTest(_Base):
    def test_text_pdf(self):
        batch, docs = self.run_batch(["text.pdf", "invoice.pdf"])
        self.assertEqual((batch["status"], batch["succeeded"], batch["failed"]), ("done", 2, 0))
        d = docs["text.pdf"]
        self.assertEqual((d["status"], d["pages"]), ("done", 3), d)
        parts = d["text"].split("\f")
        self.assertEqual(len(parts), 3, d["text"])
        for i, part in enumerate(parts):
            self.assertIn("Quarterly report page %d" % (i + 1), part)
            self.assertIn("Revenue grew", part)
        self.assertEqual(d["metadata"]["kind"], "pdf")
        self.assertEqual([(p["page"], p["method"], p["error"]) for p in d["page_results"]],
                         [(1, "text", None), (2, "text", None), (3, "text", None)])
        self.assertEqual(d["page_results"][0]["chars"], len(parts[0]))
        self.assertIsNone(d["page_results"][0]["confidence"])
        rows = self.pages_rows(d["document_id"])
        self.assertEqual([(r[0], r[1], r[5]) for r in rows],
                         [(1, "text", self.tenant), (2, "text", self.tenant),
                          (3, "text", self.tenant)])
        self.assertEqual([r[2] for r in rows], parts)
        # a plain-text document is one page too
        st, resp, _ = self.ing.request("POST", "/api/%s/documents" % self.tenant, {"documents": [
            {"filename": "note.txt", "content_type": "text/plain",
             "content_base64": base64.b64encode("Ghi chú: Hà Nội".encode()).decode()}]},
            token=self.tok)
        self.assertEqual(st, 202, resp)
        note = self.wait_batch(resp["batch_id"])["documents"][0]
        self.assertEqual((note["status"], note["pages"]), ("done", 1), note)
        self.assertEqual([(p["page"], p["method"], p["chars"]) for p in note["page_results"]],
                         [(1, "text", len("Ghi chú: Hà Nội"))])
        self.assertEqual(self.pages_rows(note["document_id"])[0][2], "Ghi chú: Hà Nội")
        inv = docs["invoice.pdf"]
        self.assertEqual((inv["status"], inv["pages"]), ("done", 1), inv)
        for s in ("INV-2026-0042", "Toner cartridge", "Total: 1,234.50 USD"):
            self.assertIn(s, inv["text"])

    def test_scanned_and_mixed_pdf(self):
        batch, docs = self.run_batch(["scanned.pdf", "mixed.pdf"], lang="eng")
        self.assertEqual((batch["status"], batch["succeeded"]), ("done", 2), batch)
        s = docs["scanned.pdf"]
        self.assertEqual((s["status"], s["pages"]), ("done", 2), s)
        p1, p2 = s["text"].upper().split("\f")
        self.assertIn("SCANNED INVOICE", p1)
        self.assertIn("4711", p1)
        self.assertIn("PAYMENT DUE MONDAY", p2)
        self.assertEqual([p["method"] for p in s["page_results"]], ["ocr", "ocr"])
        for p in s["page_results"]:
            self.assertGreater(p["confidence"], 50, p)
            self.assertGreater(p["chars"], 10, p)
        self.assertEqual((s["metadata"]["pages_ocr"], s["metadata"]["pages_text"]), (2, 0))
        m = docs["mixed.pdf"]
        self.assertEqual((m["status"], m["pages"]), ("done", 2), m)
        t1, t2 = m["text"].split("\f")
        self.assertEqual(t1, "Mixed document text page")
        self.assertIn("IMAGE PAGE 42", t2.upper())
        self.assertEqual([p["method"] for p in m["page_results"]], ["text", "ocr"])
        rows = self.pages_rows(m["document_id"])
        self.assertEqual([r[1] for r in rows], ["text", "ocr"])
        self.assertIsNone(rows[0][3])  # no confidence for a text page
        self.assertGreater(rows[1][3], 50)
        self.assertEqual(rows[0][2], "Mixed document text page")

    def test_multipage_tiff(self):
        batch, docs = self.run_batch(["pages.tif"], lang="eng")
        d = docs["pages.tif"]
        self.assertEqual((d["status"], d["pages"]), ("done", 3), d)
        parts = [p.upper() for p in d["text"].split("\f")]
        self.assertEqual(len(parts), 3)
        for part, word in zip(parts, ("ONE", "TWO", "THREE")):
            self.assertIn("TIFF PAGE " + word, part)
        self.assertEqual([(p["page"], p["method"]) for p in d["page_results"]],
                         [(1, "ocr"), (2, "ocr"), (3, "ocr")])

    def test_vietnamese_scan(self):
        batch, docs = self.run_batch(["vietnamese.pdf"], lang="vie")
        d = docs["vietnamese.pdf"]
        self.assertEqual(d["status"], "done", d)
        self.assertEqual(d["metadata"]["lang"], "vie")
        for word in ("Hóa", "đơn", "bán", "hàng", "Việt", "Nam"):
            self.assertIn(word, d["text"])

    def test_a_language_not_installed_is_said_not_hidden(self):
        """A lang the docworker has no traineddata for falls back to the default; the metadata
        named the requested one as if it had been used."""
        batch, docs = self.run_batch(["text.pdf"], lang="xyz")
        d = docs["text.pdf"]
        self.assertEqual(d["status"], "done", d)
        self.assertIn(d["metadata"]["lang"], ("eng", "eng+vie"))
        self.assertEqual(d["metadata"]["lang_requested"], "xyz")
        self.assertIn("not installed", d["metadata"]["warning"])
        _, docs = self.run_batch(["text.pdf"], lang="eng")
        self.assertEqual(docs["text.pdf"]["metadata"]["lang"], "eng")
        self.assertNotIn("lang_requested", docs["text.pdf"]["metadata"])

    def test_bad_documents_end_with_clear_errors(self):
        names = ["encrypted.pdf", "corrupt.pdf", "truncated.pdf", "bomb.png", "bomb.pdf",
                 "invoice.pdf"]
        batch, docs = self.run_batch(names)
        self.assertEqual((batch["status"], batch["total"], batch["succeeded"], batch["failed"]),
                         ("done", 6, 1, 5), batch)
        expect = {"encrypted.pdf": "pdf_encrypted", "corrupt.pdf": "pdf_damaged",
                  "truncated.pdf": "pdf_truncated", "bomb.png": "image_too_large",
                  "bomb.pdf": "image_too_large"}
        for name, code in expect.items():
            d = docs[name]
            self.assertEqual(d["status"], "error", d)
            self.assertTrue(d["error"].startswith(code + ": "), d["error"])
            self.assertEqual(d["metadata"].get("error_code"), code, d)
            self.assertIsNone(d["text"])
            self.assertEqual(d["page_results"], [])
        self.assertIn("password", docs["encrypted.pdf"]["error"])
        self.assertIn("DOCWORKER_MAX_PIXELS", docs["bomb.pdf"]["error"])
        self.assertIn("DOCWORKER_MAX_PIXELS", docs["bomb.png"]["error"])
        self.assertEqual(docs["invoice.pdf"]["status"], "done")
        self.assertIn("Total: 1,234.50 USD", docs["invoice.pdf"]["text"])
        # the worker is still serving: another batch goes through
        batch2, docs2 = self.run_batch(["text.pdf"])
        self.assertEqual(docs2["text.pdf"]["status"], "done")

    def test_events_in_order(self):
        resp = self.post(["text.pdf", "scanned.pdf", "corrupt.pdf"], lang="eng")
        bid = resp["batch_id"]
        ids = {d["document_id"]: d["filename"] for d in resp["documents"]}
        out = subprocess.run(
            ["curl", "-sS", "-N", "--max-time", "240", "-H", "Authorization: Bearer " + self.tok,
             "http://127.0.0.1:%d/api/%s/documents/%s/events" % (self.ing.port, self.tenant,
                                                                   bid)],
            capture_output=True, text=True, timeout=260)
        events = S.parse_sse(out.stdout)
        names = [e["event"] for e in events]
        self.assertEqual(names[0], "queued", out.stdout)
        self.assertEqual(names[-1], "batch_done", out.stdout)
        self.assertEqual(names.count("batch_done"), 1)
        per_doc = {}
        for e in events[1:-1]:
            per_doc.setdefault(ids[e["data"]["document_id"]], []).append(e)
        # each document: document_started, its pages 1..n in order, then its end
        for name, n in (("text.pdf", 3), ("scanned.pdf", 2)):
            evs = per_doc[name]
            self.assertEqual([e["event"] for e in evs],
                             ["document_started"] + ["page"] * n + ["document_done"], name)
            self.assertEqual(evs[0]["data"]["pages"], n)
            self.assertEqual([e["data"]["page"] for e in evs[1:-1]], list(range(1, n + 1)))
            for e in evs[1:-1]:
                self.assertEqual(e["data"]["pages"], n)
                self.assertGreater(e["data"]["chars"], 0)
            self.assertEqual(evs[-1]["data"]["pages"], n)
        pages = [e["data"] for e in per_doc["text.pdf"][1:-1]]
        self.assertEqual({p["method"] for p in pages}, {"text"})
        self.assertIn("Quarterly report page 2", pages[1]["text"])
        scans = [e["data"] for e in per_doc["scanned.pdf"][1:-1]]
        self.assertEqual({p["method"] for p in scans}, {"ocr"})
        self.assertIn("MONDAY", scans[1]["text"].upper())
        self.assertGreater(scans[0]["confidence"], 50)
        self.assertEqual([e["event"] for e in per_doc["corrupt.pdf"]], ["document_error"])
        self.assertTrue(per_doc["corrupt.pdf"][0]["data"]["error"].startswith("pdf_damaged"))
        final = events[-1]["data"]
        self.assertEqual((final["total"], final["succeeded"], final["failed"]), (3, 2, 1))
        # stream ids increase (Redis stream order is the order they were written)
        sids = [tuple(int(x) for x in e["id"].split("-")) for e in events]
        self.assertEqual(sids, sorted(sids))


class PdfLimitsTest(_Base):
    """Limits as settings: past one, the document ends with its code and the batch goes on."""
    WORKER_ENV = {"DOCWORKER_MAX_PAGES": "2", "DOCWORKER_MAX_SECONDS": "1",
                  "DOCWORKER_RENDER_DPI": "600", "DOCWORKER_MAX_PIXELS": "60000000"}

    def test_too_many_pages_and_timeout(self):
        batch, docs = self.run_batch(["text.pdf", "dense.pdf", "invoice.pdf"], lang="eng")
        self.assertEqual((batch["status"], batch["succeeded"], batch["failed"]), ("done", 1, 2),
                         batch)
        d = docs["text.pdf"]
        self.assertEqual(d["status"], "error", d)
        self.assertEqual(d["error"], "too_many_pages: the document has 3 pages; at most 2 are "
                                     "read (DOCWORKER_MAX_PAGES)")
        self.assertEqual(d["metadata"].get("error_code"), "too_many_pages")
        # two scanned pages of 36 lines each at 600 dpi cannot be recognised within one second
        # (scanned.pdf's one line a page once was, in 949 ms, on a fast idle machine)
        t = docs["dense.pdf"]
        self.assertEqual(t["status"], "error", t)
        self.assertTrue(t["error"].startswith("timeout: "), t["error"])
        self.assertEqual(t["metadata"].get("error_code"), "timeout")
        self.assertEqual(docs["invoice.pdf"]["status"], "done")


if __name__ == "__main__":
    unittest.main()
