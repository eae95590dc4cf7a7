"""Security (issue 17 item 3): no file can stop the docworker for everyone.

Attacks, each through the real ingress (POST /api/{tenant}/documents) and the real
agenthub-docworker from $AGENTHUB_BIN:
  - a decompression bomb: a PNG of a few KB whose header claims 30000x30000 RGBA (3.6 GB
    decoded);
  - TIFFs with many large pages (60 pages of 6000x6000; 25 such pages, 1.8 GB decoded);
  - a crash loop: a document whose processing kills the worker every time (a real kill: the
    kernel's CPU-time limit, RLIMIT_CPU, ends the process while Tesseract reads the page), so
    the redelivered message kills the next worker too, for ever unless attempts are counted.

Every docworker here runs under a memory limit (RLIMIT_AS, or ASan's own limits for a
sanitizer build, which reserves terabytes of address space), so an old binary that decodes
the bombs fails without eating the shared machine's memory.
"""
import os
import resource
import signal
import struct
import sys
import time
import unittest
import zlib

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import ingress_support as S  # noqa: E402
from test_documents import Docworker, fixture  # noqa: E402

MEM_LIMIT = 3 * 1024 * 1024 * 1024
CPU_SOFT_S, CPU_HARD_S = 8, 12


def _is_asan(path):
    try:
        with open(path, "rb") as f:
            return b"__asan_init" in f.read()
    except OSError:
        return False


def limited(cpu_s=None):
    """(extra_env, preexec_fn) that cap the docworker's memory (and CPU time when asked)."""
    env = {}
    asan = _is_asan(os.path.join(S.BIN, "agenthub-docworker"))
    if asan:
        opts = os.environ.get("ASAN_OPTIONS", "")
        env["ASAN_OPTIONS"] = ":".join(
            o for o in (opts, "hard_rss_limit_mb=%d" % (MEM_LIMIT >> 20),
                        "malloc_limit_mb=%d" % (MEM_LIMIT >> 20),
                        "allocator_may_return_null=1") if o)

    def pre():
        resource.setrlimit(resource.RLIMIT_CORE, (0, 0))
        if not asan:
            resource.setrlimit(resource.RLIMIT_AS, (MEM_LIMIT, MEM_LIMIT))
        if cpu_s:
            resource.setrlimit(resource.RLIMIT_CPU, cpu_s)
    return env, pre


# ---- crafted files ---------------------------------------------------------------------------
def _chunk(kind, data):
    return (struct.pack(">I", len(data)) + kind + data +
            struct.pack(">I", zlib.crc32(kind + data) & 0xffffffff))


def png(width, height, depth, ctype, idat):
    return (b"\x89PNG\r\n\x1a\n" +
            _chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, depth, ctype, 0, 0, 0)) +
            _chunk(b"IDAT", idat) + _chunk(b"IEND", b""))


def bomb_png():
    """30000x30000 RGBA: 3.6 GB of pixels. The zlib stream holds the first 4 MiB of rows (zeros),
    so the file is a few KB; a decoder allocates the whole image from the header first."""
    return png(30000, 30000, 8, 6, zlib.compress(bytes(4 * 1024 * 1024), 9))


def tiff(pages, width, height, grey=None):
    """A little-endian TIFF of `pages` grey pages, each width x height, all pointing at one
    deflate strip: of zeros (so the file stays small whatever the pages claim), or of `grey`
    (width * height bytes)."""
    strip = zlib.compress(grey if grey is not None else bytes(width * height), 9)
    entries = [(256, 4, width), (257, 4, height), (258, 3, 8), (259, 3, 8), (262, 3, 1),
               (273, 4, 8), (277, 3, 1), (278, 4, height), (279, 4, len(strip))]
    ifd_len = 2 + 12 * len(entries) + 4
    first = 8 + len(strip)
    out = [b"II*\0" + struct.pack("<I", first), strip]
    for p in range(pages):
        nxt = first + (p + 1) * ifd_len if p + 1 < pages else 0
        ifd = struct.pack("<H", len(entries))
        for tag, typ, val in entries:
            ifd += struct.pack("<HHI", tag, typ, 1) + (struct.pack("<HH", val, 0) if typ == 3
                                                       else struct.pack("<I", val))
        out.append(ifd + struct.pack("<I", nxt))
    return b"".join(out)


def _gray_png_rows(data):
    """Rows of an 8-bit grey PNG (the fixtures), unfiltered."""
    pos, idat, w, h = 8, b"", 0, 0
    while pos < len(data):
        n, = struct.unpack(">I", data[pos:pos + 4])
        kind, body = data[pos + 4:pos + 8], data[pos + 8:pos + 8 + n]
        if kind == b"IHDR":
            w, h, depth, ctype = struct.unpack(">IIBB", body[:10])
            assert (depth, ctype) == (8, 0), "an 8-bit grey fixture is expected"
        elif kind == b"IDAT":
            idat += body
        pos += 12 + n
    raw, rows, prev = zlib.decompress(idat), [], bytearray(w)
    for y in range(h):
        f, cur = raw[y * (w + 1)], bytearray(raw[y * (w + 1) + 1:(y + 1) * (w + 1)])
        for x in range(w) if f else ():
            a, b = (cur[x - 1] if x else 0), prev[x]
            c = prev[x - 1] if x else 0
            if f == 1:
                cur[x] = (cur[x] + a) & 255
            elif f == 2:
                cur[x] = (cur[x] + b) & 255
            elif f == 3:
                cur[x] = (cur[x] + (a + b) // 2) & 255
            elif f == 4:
                pa, pb, pc = abs(b - c), abs(a - c), abs(a + b - 2 * c)
                cur[x] = (cur[x] + (a if pa <= pb and pa <= pc else b if pb <= pc else c)) & 255
        rows.append(bytes(cur))
        prev = cur
    return w, h, rows


def heavy_tiff(pages=4, tiles_x=5, tiles_y=30):
    """`pages` pages, each invoice.png tiled 5 x 30: 5000x7200 (36 MP, within
    DOCWORKER_MAX_PIXELS) of real text. Tesseract needs far more than CPU_HARD_S seconds of CPU
    to read them: one such page took 4.6 s on a fast idle machine (2026-12-06), so one page was
    not always enough; four take ~18 s there."""
    w, h, rows = _gray_png_rows(fixture("invoice.png"))
    grey = b"".join(r * tiles_x for _ in range(tiles_y) for r in rows)
    return tiff(pages, w * tiles_x, h * tiles_y, grey)


# ---- shared ----------------------------------------------------------------------------------
class _Base(unittest.TestCase):
    @classmethod
    def start_stack(cls):
        why = S.stack_env_missing()
        if why:
            raise unittest.SkipTest(why)
        if not os.path.exists(os.path.join(S.BIN, "agenthub-docworker")):
            raise unittest.SkipTest("no agenthub-docworker in " + S.BIN)
        cls.ing = S.Ingress({"INGRESS_PUBLISH_TIMEOUT_MS": "2000"})
        cls.tenant = S.unique("secdocs")
        cls.ing.ensure_tenant(cls.tenant)
        cls.tok = cls.ing.token(tenant=cls.tenant, sub="mallory")
        cls.problems = []

    @classmethod
    def check_logs(cls, text, who):
        for marker in ("ERROR: AddressSanitizer", "ERROR: LeakSanitizer", "runtime error:"):
            if marker in text:
                i = text.find(marker)
                cls.problems.append("sanitizer report in %s's log:\n%s" % (who, text[i:i + 3000]))

    @classmethod
    def stop_stack(cls):
        if hasattr(cls, "ing"):
            cls.ing.stop_and_check(unittest.TestCase())
        if cls.problems:
            raise AssertionError("\n".join(cls.problems))

    def post(self, docs):
        import base64
        body = {"documents": [{"filename": fn, "content_type": ct,
                               "content_base64": base64.b64encode(data).decode()}
                              for fn, ct, data in docs], "lang": "eng"}
        st, resp, _ = self.ing.request("POST", "/api/%s/documents" % self.tenant, body,
                                       token=self.tok, timeout=60)
        self.assertEqual(st, 202, resp)
        return resp["batch_id"]

    def get_batch(self, batch_id, wait=10):
        st, body, _ = self.ing.request("GET", "/api/%s/documents/%s?wait=%d" %
                                       (self.tenant, batch_id, wait), token=self.tok,
                                       timeout=wait + 30)
        self.assertEqual(st, 200, body)
        return body

    def wait_batch(self, batch_id, limit, alive=None):
        deadline = time.time() + limit
        while True:
            body = self.get_batch(batch_id)
            if body["status"] in ("done", "error") or time.time() > deadline:
                return body
            if alive is not None and alive.proc.poll() is not None:
                self.fail("the docworker died (status %s) while the batch was in progress:\n%s"
                          % (alive.proc.returncode, alive.logs()[-3000:]))

    @staticmethod
    def by_name(batch):
        return {d["filename"]: d for d in batch["documents"]}


class BombTest(_Base):
    """One docworker (memory-limited) serves every case; it must survive all of them."""

    @classmethod
    def setUpClass(cls):
        cls.start_stack()
        env, pre = limited()
        cls.worker = Docworker(cls.ing.env, extra_env=env, preexec_fn=pre)

    @classmethod
    def tearDownClass(cls):
        if hasattr(cls, "worker"):
            rc = cls.worker.stop()
            if rc != 0:
                cls.problems.append("docworker exit status after SIGTERM: %s" % rc)
            cls.check_logs(cls.worker.logs(), "the docworker")
        cls.stop_stack()

    def assert_worker_serving(self):
        self.assertIsNone(self.worker.proc.poll(),
                          "the docworker died:\n" + self.worker.logs()[-3000:])
        bid = self.post([("after.txt", "text/plain", b"still serving")])
        batch = self.wait_batch(bid, 60, alive=self.worker)
        self.assertEqual(batch["status"], "done", batch)
        self.assertEqual(batch["documents"][0]["text"], "still serving")
        # nothing was decoded: the worker's peak memory stayed far below one bomb's pixels
        with open("/proc/%d/status" % self.worker.proc.pid) as f:
            hwm = [l for l in f if l.startswith("VmHWM:")][0]
        self.assertLess(int(hwm.split()[1]) * 1024, 1024 ** 3, hwm)

    def test_decompression_bomb_png(self):
        bomb = bomb_png()
        self.assertLess(len(bomb), 16 * 1024)
        bid = self.post([("bomb.png", "image/png", bomb),
                         ("invoice.png", "image/png", fixture("invoice.png"))])
        batch = self.wait_batch(bid, 120, alive=self.worker)
        docs = self.by_name(batch)
        b, ok = docs["bomb.png"], docs["invoice.png"]
        self.assertEqual(b["status"], "error", b)
        self.assertEqual(b["error"], "image_too_large: 30000x30000 pixels exceeds "
                                     "DOCWORKER_MAX_PIXELS 40000000")
        self.assertEqual(b["metadata"].get("error_code"), "image_too_large", b)
        self.assertIsNone(b["text"])
        self.assertEqual(ok["status"], "done", ok)
        self.assertIn("4711", ok["text"])
        self.assertEqual((batch["status"], batch["total"], batch["succeeded"], batch["failed"]),
                         ("done", 2, 1, 1), batch)
        self.assert_worker_serving()

    def test_tiff_many_large_pages(self):
        many = tiff(60, 6000, 6000)   # more pages than DOCWORKER_MAX_PAGES (50)
        heavy = tiff(25, 6000, 6000)  # each page fits, the 1.8 GB they decode to does not
        self.assertLess(len(many) + len(heavy), 200 * 1024)
        bid = self.post([("many.tif", "image/tiff", many), ("heavy.tif", "image/tiff", heavy),
                         ("shipment.png", "image/png", fixture("shipment.png"))])
        batch = self.wait_batch(bid, 120, alive=self.worker)
        docs = self.by_name(batch)
        self.assertEqual(docs["many.tif"]["status"], "error", docs["many.tif"])
        self.assertEqual(docs["many.tif"]["error"], "image_too_many_pages: the tiff has more "
                                                    "than 50 pages (DOCWORKER_MAX_PAGES 50)")
        self.assertEqual(docs["many.tif"]["metadata"].get("error_code"), "image_too_many_pages")
        self.assertEqual(docs["heavy.tif"]["status"], "error", docs["heavy.tif"])
        self.assertRegex(docs["heavy.tif"]["error"],
                         r"^image_too_large: decoding 25 pages needs about \d+ bytes, exceeds "
                         r"DOCWORKER_MAX_DECODED_BYTES 1073741824$")
        self.assertEqual(docs["shipment.png"]["status"], "done", docs["shipment.png"])
        self.assertIn("HANOI", docs["shipment.png"]["text"].upper())
        self.assertEqual((batch["status"], batch["total"], batch["succeeded"], batch["failed"]),
                         ("done", 3, 1, 2), batch)
        self.assert_worker_serving()


class CrashLoopTest(_Base):
    MAX_WORKERS = 6  # the new binary needs DOCWORKER_MAX_ATTEMPTS (3) deaths + 1

    @classmethod
    def setUpClass(cls):
        cls.start_stack()

    @classmethod
    def tearDownClass(cls):
        cls.stop_stack()

    def start_worker(self):
        env, pre = limited(cpu_s=(CPU_SOFT_S, CPU_HARD_S))
        env.update({"DOCWORKER_THREADS": "1",
                    # a killed member's partitions move on after 6 s, not librdkafka's 45 s
                    "KAFKA_SESSION_TIMEOUT_MS": "6000", "KAFKA_HEARTBEAT_INTERVAL_MS": "1000"})
        return Docworker(self.ing.env, extra_env=env, preexec_fn=pre)

    def test_crash_loop(self):
        heavy = heavy_tiff()
        bid = self.post([("killer.tif", "image/tiff", heavy),
                         ("a.txt", "text/plain", b"first after the killer"),
                         ("b.txt", "text/plain", b"second after the killer")])
        did = [d for d in self.get_batch(bid, 0)["documents"]
               if d["filename"] == "killer.tif"][0]["document_id"]
        deaths, worker, batch = [], None, None
        try:
            for _ in range(self.MAX_WORKERS):
                worker = self.start_worker()
                deadline = time.time() + 180
                while time.time() < deadline:
                    batch = self.get_batch(bid, 2)
                    if batch["status"] in ("done", "error") or worker.proc.poll() is not None:
                        break
                if batch["status"] in ("done", "error"):
                    break
                if worker.proc.poll() is None:
                    self.fail("the worker neither died nor finished in 180 s:\n" +
                              worker.logs()[-3000:])
                deaths.append(worker.proc.returncode)
                worker.log.close()
                self.check_logs(worker.logs(), "a killed docworker")
                worker = None
            self.assertIn(batch["status"], ("done", "error"),
                          "after %d worker deaths (%s) the document is still retried: %s"
                          % (len(deaths), deaths, batch))
            # every death was the kernel's CPU limit, during that one document
            for rc in deaths:
                self.assertIn(rc, (-signal.SIGXCPU, -signal.SIGKILL), deaths)
            self.assertEqual(len(deaths), 3, deaths)
            docs = self.by_name(batch)
            k = docs["killer.tif"]
            self.assertEqual(k["status"], "error", k)
            self.assertEqual(k["error"], "document_crashed_worker: processing this document "
                                         "stopped the worker 3 times (DOCWORKER_MAX_ATTEMPTS 3); "
                                         "it is not retried")
            self.assertEqual(k["metadata"].get("error_code"), "document_crashed_worker")
            self.assertEqual(S.psql("SELECT attempts FROM documents WHERE document_id = :'a'",
                                    did)[0][0], "3")
            self.assertEqual(docs["a.txt"]["text"], "first after the killer")
            self.assertEqual(docs["b.txt"]["text"], "second after the killer")
            self.assertEqual((batch["status"], batch["total"], batch["succeeded"],
                              batch["failed"]), ("done", 3, 2, 1), batch)
            # the same worker goes on with the next batch, and counts each document once
            nxt = self.post([("invoice.png", "image/png", fixture("invoice.png"))])
            after = self.wait_batch(nxt, 120, alive=worker)
            self.assertEqual((after["status"], after["succeeded"]), ("done", 1), after)
            self.assertIn("4711", after["documents"][0]["text"])
            self.assertEqual(S.psql("SELECT attempts FROM documents WHERE batch_id = :'a'",
                                    nxt)[0][0], "1")
            self.assertIn("document stopped the worker too often", worker.logs())
        finally:
            if worker is not None:
                rc = worker.stop()
                self.check_logs(worker.logs(), "the last docworker")
                if rc not in (0, None) and not deaths:
                    self.problems.append("docworker exit status after SIGTERM: %s" % rc)


if __name__ == "__main__":
    unittest.main()
