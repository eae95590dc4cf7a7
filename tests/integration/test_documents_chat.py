"""Documents in a chat and in the knowledge base (issue 15, parts 2 and 3), end to end.

The real pipeline (pipeline_harness.py: ingress, router, agent, stand-in LLM and ERP) plus an
agenthub-docworker: a document is uploaded and read by the docworker, a chat message
references it, the router sends the message to AgentOCR, the agent gives the model the
document's text (bounded, labelled by document and page) and the answer's metadata cites the
document and page. The stand-in LLM answers "the total of the attached invoice" from the
"Total" line of the text it was given (tests/standin/llm/README.md), so the figure in the
answer can only come from the document through the whole pipeline.

The invoice is tests/fixtures/documents/invoice.pdf when the repository has it (a text PDF),
else the OCR fixture tests/fixtures/ocr/invoice.png ("TOTAL AMOUNT 250 EUR", tesseract reads
it). The expected figure is read from the docworker's own text of the document.
"""
import json
import os
import re
import sys
import time
import unittest
import urllib.error
import urllib.request
import uuid

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import pipeline_harness as H  # noqa: E402

PDF = os.path.join(H.ROOT, "tests", "fixtures", "documents", "invoice.pdf")
PNG = os.path.join(H.ROOT, "tests", "fixtures", "ocr", "invoice.png")
QUESTION = "What is the total of the attached invoice?"


def invoice():
    path = PDF if os.path.exists(PDF) else PNG
    with open(path, "rb") as f:
        data = f.read()
    return os.path.basename(path), ("application/pdf" if path.endswith(".pdf") else "image/png"), data


def multipart(files):
    boundary = "----agenthub" + uuid.uuid4().hex
    out = []
    for fn, ct, data in files:
        out.append(("--%s\r\nContent-Disposition: form-data; name=\"files\"; filename=\"%s\"\r\n"
                    "Content-Type: %s\r\n\r\n" % (boundary, fn, ct)).encode() + data + b"\r\n")
    out.append(("--%s--\r\n" % boundary).encode())
    return b"".join(out), "multipart/form-data; boundary=" + boundary


def total_in(text):
    """The figure of the first line holding "total" followed by a figure, as the stand-in
    reads it."""
    for line in text.splitlines():
        m = re.search(r"(?<![a-z])total\D*(\d.*)$", line, re.I)
        if m:
            return m.group(1).strip()
    return None


class DocumentsChatTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        why = H.stack_missing()
        if why:
            raise unittest.SkipTest(why)
        if not os.access(os.path.join(H.BIN, "agenthub-docworker"), os.X_OK):
            raise unittest.SkipTest("agenthub-docworker is missing")
        cls.pl = H.Pipeline("docchat", agent_env={"AGENT_ATTACHMENT_MAX_CHARS": "4000"})
        try:
            cls.pl.start()
            cls.pl.spawn("docworker", [os.path.join(H.BIN, "agenthub-docworker")],
                         {"DOCWORKER_THREADS": "2", "DOCWORKER_MISSING_WAIT_MS": "1500"})
            assert cls.pl.wait_log("docworker", "partitions assigned", 90), cls.pl.log("docworker")
            cls.pl.tokens["demo-other"] = cls.pl.token("demo", "demo-other-user")
            cls.pl.tokens["demo-admin"] = cls.pl.token("demo", "demo-admin-user", "user,admin")
        except Exception:
            cls.pl.stop()
            raise
        cls.fname, cls.ctype, cls.data = invoice()

    @classmethod
    def tearDownClass(cls):
        cls.pl.stop()
        reports = cls.pl.sanitizer_reports(["ingress", "router", "agent-0", "docworker"])
        assert not reports, "\n".join(reports)

    # ---- helpers ----------------------------------------------------------------------------
    def req(self, method, path, body=None, who="demo", raw=None, ctype=None, timeout=60,
            headers=None):
        data = raw if raw is not None else (json.dumps(body).encode() if body is not None else None)
        r = urllib.request.Request(self.pl.base + path, data=data, method=method,
                                   headers=headers or {})
        r.add_header("Authorization", "Bearer " + self.pl.tokens[who])
        if data is not None:
            r.add_header("Content-Type", ctype or "application/json")
        try:
            with urllib.request.urlopen(r, timeout=timeout) as resp:
                return resp.status, json.loads(resp.read() or b"null")
        except urllib.error.HTTPError as e:
            return e.code, json.loads(e.read() or b"null")

    def session(self, who="demo"):
        st, s = self.req("POST", "/api/demo/sessions", {"title": "documents"}, who=who)
        self.assertEqual(st, 201, s)
        return s["session_id"]

    def upload_to_session(self, sid, who="demo"):
        body, ct = multipart([(self.fname, self.ctype, self.data)])
        st, b = self.req("POST", "/api/demo/sessions/%s/attachments" % sid, raw=body, ctype=ct,
                         who=who)
        self.assertEqual(st, 202, b)
        return b

    def upload(self, who="demo"):
        body, ct = multipart([(self.fname, self.ctype, self.data)])
        st, b = self.req("POST", "/api/demo/documents", raw=body, ctype=ct, who=who)
        self.assertEqual(st, 202, b)
        return b

    def batch_done(self, batch_id, who="demo"):
        end = time.time() + 120
        while time.time() < end:
            st, b = self.req("GET", "/api/demo/documents/%s?wait=20" % batch_id, who=who,
                             timeout=60)
            self.assertEqual(st, 200, b)
            if b["status"] in ("done", "error"):
                return b
        self.fail("batch %s not done" % batch_id)

    def chat(self, message, attachments=None, sid=None, who="demo", tenant="demo"):
        body = {"message": message}
        if attachments is not None:
            body["attachments"] = attachments
        if sid:
            body["session_id"] = sid
        return self.req("POST", "/api/%s/chat" % tenant, body, who=who)

    def answer(self, job_id, who="demo"):
        end = time.time() + 90
        while time.time() < end:
            st, j = self.req("GET", "/api/demo/jobs/%s?wait=20" % job_id, who=who, timeout=60)
            self.assertEqual(st, 200, j)
            if j["status"] in ("done", "error"):
                return j
        self.fail("job %s did not finish" % job_id)

    # ---- (a) upload an invoice, ask for its total ------------------------------------------
    def test_a_invoice_total_answered_by_agentocr_with_citation(self):
        sid = self.session()
        up = self.upload_to_session(sid)
        doc = up["documents"][0]
        batch = self.batch_done(up["batch_id"])
        self.assertEqual(batch["status"], "done", batch)
        text = batch["documents"][0]["text"]
        figure = total_in(text)
        self.assertTrue(figure, "the docworker's text has no total line: %r" % text)

        st, acc = self.chat(QUESTION, [{"document_id": doc["document_id"]}], sid=sid)
        self.assertEqual(st, 202, acc)
        events = self.pl.events(acc["job_id"])
        routed = [d for e, d in events if e == "routed"]
        self.assertEqual(routed[0]["agent"], "AgentOCR", routed)
        self.assertEqual(routed[0]["routed_by"], "attachments")
        final = [d for e, d in events if e == "final"]
        self.assertTrue(final, events)
        job = self.answer(acc["job_id"])
        self.assertEqual(job["status"], "done", job)
        self.assertEqual(job["agent"], "AgentOCR")
        self.assertIn(figure, job["response"])
        self.assertIn(self.fname, job["response"])
        cites = job["metadata"]["citations"]
        self.assertIn({"document_id": doc["document_id"], "filename": self.fname, "page": 1},
                      [{k: c.get(k) for k in ("document_id", "filename", "page")} for c in cites])
        self.assertEqual(job["metadata"]["attachments"][0]["document_id"], doc["document_id"])

        # (e) the session lists the uploaded document once, as an upload
        st, lst = self.req("GET", "/api/demo/sessions/%s/attachments" % sid)
        self.assertEqual(st, 200, lst)
        self.assertEqual([a["document_id"] for a in lst["attachments"]], [doc["document_id"]])
        self.assertEqual(lst["attachments"][0]["origin"], "upload")
        self.assertEqual(lst["attachments"][0]["filename"], self.fname)
        self.assertEqual(lst["attachments"][0]["status"], "done")

    def test_a2_openai_file_part_is_an_attachment(self):
        up = self.upload()
        batch = self.batch_done(up["batch_id"])
        doc_id = up["documents"][0]["document_id"]
        figure = total_in(batch["documents"][0]["text"])
        content = [{"type": "text", "text": QUESTION},
                   {"type": "file", "file": {"file_id": doc_id}}]
        st, b = self.req("POST", "/v1/chat/completions",
                         {"model": "agenthub", "messages": [{"role": "user", "content": content}]},
                         timeout=120)
        self.assertEqual(st, 200, b)
        self.assertEqual(b["agenthub"]["agent"], "AgentOCR")
        self.assertIn(figure, b["choices"][0]["message"]["content"])
        self.assertIn(doc_id, [c.get("document_id") for c in b["agenthub"]["citations"]])
        # another tenant's caller: OpenAI's 404 shape, as for a document that does not exist
        st, b = self.req("POST", "/v1/chat/completions",
                         {"model": "agenthub", "messages": [{"role": "user", "content": content}]},
                         who="acme")
        self.assertEqual(st, 404, b)
        self.assertEqual(b["error"]["type"], "not_found_error", b)
        self.assertEqual(b["error"]["param"], "messages[0]", b)  # the message that names it
        # a file part in an earlier message is still refused
        st, b = self.req("POST", "/v1/chat/completions",
                         {"model": "agenthub", "messages": [
                             {"role": "user", "content": content},
                             {"role": "assistant", "content": "ok"},
                             {"role": "user", "content": "and?"}]})
        self.assertEqual(st, 400, b)

    # ---- (d) another tenant's or another user's document is refused -----------------------
    def test_d_cross_tenant_and_cross_user_refused_without_leak(self):
        up = self.upload()
        self.batch_done(up["batch_id"])
        doc_id = up["documents"][0]["document_id"]
        missing = str(uuid.uuid4())
        # acme: its users cannot attach demo's document; the answer equals a missing one's
        st1, b1 = self.chat(QUESTION, [{"document_id": doc_id}], who="acme", tenant="acme")
        st2, b2 = self.chat(QUESTION, [{"document_id": missing}], who="acme", tenant="acme")
        self.assertEqual((st1, st2), (404, 404), (b1, b2))
        self.assertEqual(b1, b2)
        # a second user of demo: not its document
        st3, b3 = self.chat(QUESTION, [{"document_id": doc_id}], who="demo-other")
        self.assertEqual(st3, 404, b3)
        self.assertEqual(b3, b2)
        sid = self.session(who="demo-other")
        st4, b4 = self.req("POST", "/api/demo/sessions/%s/attachments" % sid,
                           {"document_ids": [doc_id]}, who="demo-other")
        self.assertEqual(st4, 404, b4)
        # nor someone else's session
        st5, b5 = self.req("GET", "/api/demo/sessions/%s/attachments" % sid, who="demo")
        self.assertEqual(st5, 404, b5)
        # the tenant's admin may attach any of its tenant's documents
        st6, b6 = self.chat(QUESTION, [{"document_id": doc_id}], who="demo-admin")
        self.assertEqual(st6, 202, b6)
        self.assertEqual(self.answer(b6["job_id"], who="demo-admin")["agent"], "AgentOCR")
        # a document without text yet, or whose reading failed, is refused with a reason
        other = self.upload()
        self.batch_done(other["batch_id"])
        oid = other["documents"][0]["document_id"]
        self.pl.sql("UPDATE documents SET status = 'running' WHERE document_id = %s", oid)
        st, b = self.chat(QUESTION, [{"document_id": oid}])
        self.assertEqual((st, b["error"]["code"]), (409, "document_not_ready"), b)
        self.pl.sql("UPDATE documents SET status = 'error' WHERE document_id = %s", oid)
        st, b = self.chat(QUESTION, [{"document_id": oid}])
        self.assertEqual((st, b["error"]["code"]), (422, "document_failed"), b)
        # malformed references are 400, not 404 or 500
        for bad in ([{"document_id": "x"}], "nope", [{}], [{"document_id": doc_id}] * 11):
            st, b = self.chat(QUESTION, bad)
            self.assertEqual(st, 400, (bad, b))

    # ---- (e) attaching an existing document to a session; messages record theirs -----------
    def test_e_sessions_api_lists_attachments(self):
        up = self.upload()
        self.batch_done(up["batch_id"])
        doc_id = up["documents"][0]["document_id"]
        sid = self.session()
        st, b = self.req("GET", "/api/demo/sessions/%s/attachments" % sid)
        self.assertEqual((st, b["attachments"]), (200, []))
        st, acc = self.chat("Summarise the attached document", [{"document_id": doc_id}], sid=sid)
        self.assertEqual(st, 202, acc)
        job = self.answer(acc["job_id"])
        self.assertEqual(job["status"], "done", job)
        self.assertIn(self.fname, job["response"])
        st, lst = self.req("GET", "/api/demo/sessions/%s/attachments" % sid)
        self.assertEqual(st, 200, lst)
        self.assertEqual([(a["document_id"], a["origin"], a["message_id"])
                          for a in lst["attachments"]], [(doc_id, "message", acc["message_id"])])
        # attaching by id (another upload), listed after the first
        up2 = self.upload()
        doc2 = up2["documents"][0]["document_id"]
        st, lst = self.req("POST", "/api/demo/sessions/%s/attachments" % sid,
                           {"document_ids": [doc2, doc2]})
        self.assertEqual(st, 200, lst)
        self.assertEqual([a["document_id"] for a in lst["attachments"]], [doc_id, doc2])
        # an Idempotency-Key names one request: the same documents replay, others conflict
        self.batch_done(up2["batch_id"])
        key = {"Idempotency-Key": "docchat-" + uuid.uuid4().hex}
        body = {"message": QUESTION, "attachments": [{"document_id": doc_id}]}
        st1, a1 = self.req("POST", "/api/demo/chat", body, headers=key)
        st2, a2 = self.req("POST", "/api/demo/chat", body, headers=key)
        self.assertEqual((st1, st2, a1["job_id"]), (202, 202, a2["job_id"]), (a1, a2))
        body["attachments"] = [{"document_id": doc2}]
        st3, a3 = self.req("POST", "/api/demo/chat", body, headers=key)
        self.assertEqual((st3, a3["error"]["code"]), (422, "idempotency_conflict"), a3)

    # ---- knowledge base: ingest, cite, re-ingest, delete --------------------------------------
    def chroma_chunks(self, document_id):
        """The records of the demo tenant's collection that belong to document_id."""
        base = os.environ["CHROMA_URL"] + "/api/v2/tenants/default_tenant/databases/default_database"
        with urllib.request.urlopen(base + "/collections/agenthub_demo", timeout=10) as r:
            coll = json.loads(r.read())["id"]
        q = urllib.request.Request(base + "/collections/%s/get" % coll, method="POST",
                                   data=json.dumps({"where": {"document_id": document_id},
                                                    "include": ["metadatas"]}).encode(),
                                   headers={"Content-Type": "application/json"})
        with urllib.request.urlopen(q, timeout=10) as r:
            got = json.loads(r.read())
        return sorted(zip(got["ids"], [json.dumps(m, sort_keys=True) for m in got["metadatas"]]))

    def ingest(self, batch_id, document_ids=None, who="demo-admin"):
        body = {"batch_id": batch_id}
        if document_ids is not None:
            body["document_ids"] = document_ids
        return self.req("POST", "/api/admin/knowledge/ingest", body, who=who, timeout=120)

    def ask_analysis(self, question):
        st, b = self.req("POST", "/v1/chat/completions",
                         {"model": "agenthub/AgentAnalysis",
                          "messages": [{"role": "user", "content": question}]}, timeout=120)
        self.assertEqual(st, 200, b)
        return b["agenthub"]

    def test_b_ingested_document_cited_by_page_in_agentanalysis_answer(self):
        up = self.upload()
        batch = self.batch_done(up["batch_id"])
        doc_id = up["documents"][0]["document_id"]
        text = batch["documents"][0]["text"]
        st, ing = self.ingest(up["batch_id"])
        self.assertEqual(st, 200, ing)
        self.assertEqual((ing["status"], ing["total"], ing["done"], ing["failed"]),
                         ("done", 1, 1, 0), ing)
        self.assertGreaterEqual(ing["chunks"], 1)
        self.assertEqual(ing["documents"][0]["document_id"], doc_id)
        # the progress record can be polled, also listed per batch
        st, again = self.req("GET", "/api/admin/knowledge/ingest/%s" % ing["ingest_id"],
                             who="demo-admin")
        self.assertEqual((st, again["done"]), (200, 1), again)
        st, lst = self.req("GET", "/api/admin/knowledge/ingest?batch_id=%s" % up["batch_id"],
                           who="demo-admin")
        self.assertEqual([i["ingest_id"] for i in lst["items"]], [ing["ingest_id"]])
        self.assertNotIn("next_offset", lst)
        # a second ingest of the batch: the list pages, newest first, and says more follow
        st, ing2 = self.ingest(up["batch_id"])
        self.assertEqual(st, 200, ing2)
        q = "/api/admin/knowledge/ingest?batch_id=%s&limit=1" % up["batch_id"]
        st, p1 = self.req("GET", q, who="demo-admin")
        st2, p2 = self.req("GET", q + "&offset=1", who="demo-admin")
        self.assertEqual((st, [i["ingest_id"] for i in p1["items"]], p1.get("next_offset")),
                         (200, [ing2["ingest_id"]], 1), p1)
        self.assertEqual((st2, [i["ingest_id"] for i in p2["items"]], "next_offset" in p2),
                         (200, [ing["ingest_id"]], False), p2)
        st, bad = self.req("GET", q.replace("limit=1", "limit=0"), who="demo-admin")
        self.assertEqual(st, 400, bad)
        # every chunk carries its document and page
        for _, meta in self.chroma_chunks(doc_id):
            m = json.loads(meta)
            self.assertEqual((m["document_id"], m["filename"]), (doc_id, self.fname))
            self.assertGreaterEqual(m["page"], 1)
        # AgentAnalysis's RAG answer cites the document and its page
        question = " ".join(re.findall(r"[A-Za-z0-9]+", text)[:8])
        ext = self.ask_analysis(question)
        cites = [c for c in ext["citations"] if c.get("document_id") == doc_id]
        self.assertTrue(cites, ext["citations"])
        self.assertEqual((cites[0]["filename"], cites[0]["page"]), (self.fname, 1))
        # a plain user is not the tenant's admin; another tenant's admin is refused too
        st, b = self.ingest(up["batch_id"], who="demo")
        self.assertEqual(st, 403, b)
        self.pl.tokens["acme-admin"] = self.pl.token("acme", "acme-admin-user", "user,admin")
        st, b = self.req("POST", "/api/admin/knowledge/ingest",
                         {"tenant_id": "demo", "batch_id": up["batch_id"]}, who="acme-admin")
        self.assertEqual(st, 403, b)
        st, b = self.req("POST", "/api/admin/knowledge/ingest", {"batch_id": up["batch_id"]},
                         who="acme-admin")
        self.assertEqual(st, 404, b)  # acme has no such batch

    def test_c_reingest_replaces_chunks_and_delete_removes_them(self):
        up = self.upload()
        self.batch_done(up["batch_id"])
        doc_id = up["documents"][0]["document_id"]
        st, first = self.ingest(up["batch_id"], [doc_id])
        self.assertEqual(st, 200, first)
        chunks = self.chroma_chunks(doc_id)
        self.assertEqual(len(chunks), first["chunks"])
        self.assertGreaterEqual(len(chunks), 1)
        st, second = self.ingest(up["batch_id"], [doc_id])
        self.assertEqual(st, 200, second)
        self.assertEqual(self.chroma_chunks(doc_id), chunks)  # same ids, no duplicates
        rows = self.pl.sql("SELECT chunk_count FROM knowledge_documents WHERE tenant_id = 'demo' "
                           "AND doc_id = %s", doc_id)
        self.assertEqual(rows, [[str(len(chunks))]])
        # a document of another batch is not this batch's
        st, b = self.ingest(up["batch_id"], [str(uuid.uuid4())])
        self.assertEqual(st, 404, b)
        # another user may not delete it; its owner may
        st, b = self.req("DELETE", "/api/demo/documents/%s/%s" % (up["batch_id"], doc_id),
                         who="demo-other")
        self.assertEqual(st, 404, b)
        st, _ = self.req("DELETE", "/api/demo/documents/%s/%s" % (up["batch_id"], doc_id))
        self.assertEqual(st, 204)
        self.assertEqual(self.chroma_chunks(doc_id), [])
        self.assertEqual(self.pl.sql("SELECT count(*) FROM knowledge_documents WHERE "
                                     "tenant_id = 'demo' AND doc_id = %s", doc_id), [["0"]])
        st, b = self.req("GET", "/api/demo/documents/%s" % up["batch_id"])
        self.assertEqual((st, b["total"], b["documents"]), (200, 0, []), b)
        st, b = self.req("DELETE", "/api/demo/documents/%s/%s" % (up["batch_id"], doc_id))
        self.assertEqual(st, 404, b)


if __name__ == "__main__":
    unittest.main()
