#!/usr/bin/python3
"""bench_docs.py — batch document throughput of agenthub-docworker (issue 15):

  docs.text_pages_s_1 / _2        pages/s of text PDFs (text layer, no OCR) with 1 and 2
                                  docworker processes in one consumer group
  docs.scan_pages_s_1 / _2        pages/s of scanned PDFs (rendered at DOCWORKER_RENDER_DPI,
                                  OCRed with Tesseract)
  docs.{text,scan}_ratio_2_1      2 processes / 1 process
  docs.{text,scan}_peak_rss_mb_{1,2}   the largest peak RSS (VmHWM) of one docworker in that run
  docs.{text,scan}_cores_busy_{1,2}    CPU seconds of the docworkers / wall seconds during the
                                  batch: how many cores they kept busy (2 = both, on 2 cores)
  docs.{text,scan}_cpu_ms_per_page_{1,2}  docworker CPU per page (steadier than pages/s on a
                                  shared machine)

Each figure is measured BENCH_DOCS_RUNS times (default 2), each time with fresh docworker
processes; the lines print every run and the range (min..max). Time = POST of the batch ->
GET shows it done (the ingress, Kafka, PostgreSQL and events are part of it).
Each docworker runs DOCWORKER_THREADS = the machine's cores (its default), so two processes
on one machine compete for the same cores: the 2-process figure shows how the group shares a
batch, not more hardware.

Knobs: BENCH_DOCS_TEXT_DOCS (10) x BENCH_DOCS_TEXT_PAGES (50) pages of text per batch;
BENCH_DOCS_SCAN_DOCS (6) x BENCH_DOCS_SCAN_PAGES (4) scanned pages per batch;
BENCH_DOCS_DPI (300). Uses the stack env when exported, else brings up its own stack
(AGENTHUB_VAR=var/bench-docs, AGENTHUB_PORT_BASE=$BENCH_DOCS_PORT_BASE or 27600) and takes it
down. Prints `docs.<figure> <value>` lines and writes var/bench/docs.json.
"""
import base64
import json
import os
import shutil
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.abspath(os.path.join(HERE, "..", ".."))
sys.path.insert(0, os.path.join(ROOT, "tests", "integration"))
sys.path.insert(0, os.path.join(ROOT, "tests", "fixtures", "documents"))
import make_fixtures as mf  # noqa: E402

STACK_VARS = ("DATABASE_URL", "REDIS_URL", "KAFKA_BROKERS")


def env_int(name, default):
    return int(os.environ.get(name, str(default)))


def text_pdf(pages, seed):
    return mf.build_pdf(mf.make_pdf([("text", ["Document %d, page %d" % (seed, i + 1),
                                               "The quick brown fox jumps over the lazy dog.",
                                               "Revenue grew in every region this quarter."] * 8)
                                     for i in range(pages)]))


def scan_pdf(pages, seed):
    return mf.build_pdf(mf.make_pdf([("image", mf.render_grey(
        ["SCANNED DOCUMENT %d PAGE %d" % (seed, i + 1), "Invoice 4711 total 1234.50",
         "Payment due within thirty days", "Thank you for your business"]))
        for i in range(pages)]))


def cpu_s(pid):
    """User + system CPU seconds of a process so far (/proc/<pid>/stat)."""
    try:
        with open("/proc/%d/stat" % pid) as f:
            fields = f.read().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    except (OSError, IndexError, ValueError):
        return 0.0


def peak_rss_kb(pid):
    try:
        with open("/proc/%d/status" % pid) as f:
            for line in f:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1])
    except OSError:
        pass
    return 0


class Bench:
    def __init__(self):
        import ingress_support as S
        from test_documents import Docworker
        self.S, self.Docworker = S, Docworker
        self.ing = S.Ingress({"DOCUMENTS_MAX_FILES": "20",
                              "DOCUMENTS_MAX_FILE_BYTES": str(20 * 1024 * 1024),
                              "DOCUMENTS_MAX_BODY": str(128 * 1024 * 1024),
                              "LOG_LEVEL": "info"})
        self.tenant = S.unique("bench-docs")
        self.ing.ensure_tenant(self.tenant)
        self.tok = self.ing.token(tenant=self.tenant, sub="bench")

    def post(self, docs):
        body = {"lang": "eng", "documents": [
            {"filename": n, "content_type": ct, "content_base64": base64.b64encode(d).decode()}
            for n, ct, d in docs]}
        st, resp, _ = self.ing.request("POST", "/api/%s/documents" % self.tenant, body,
                                       token=self.tok, timeout=120)
        if st != 202:
            raise RuntimeError("POST documents: %s %s" % (st, resp))
        return resp["batch_id"]

    def wait(self, bid, limit=1800):
        deadline = time.time() + limit
        while time.time() < deadline:
            st, body, _ = self.ing.request(
                "GET", "/api/%s/documents/%s?wait=20" % (self.tenant, bid), token=self.tok,
                timeout=60)
            if st == 200 and body["status"] in ("done", "error"):
                return body
        raise RuntimeError("batch %s not done in %d s" % (bid, limit))

    def workers(self, n, dpi):
        ws = [self.Docworker(self.ing.env, {"DOCWORKER_THREADS": "0", "LOG_LEVEL": "info",
                                            "DOCWORKER_RENDER_DPI": str(dpi)})
              for _ in range(n)]
        # Until every process of the group has partitions: small batches of plain-text
        # documents (keyed by document) until each log shows a document it started.
        deadline = time.time() + 60
        while time.time() < deadline:
            self.wait(self.post([("w%d.txt" % i, "text/plain", b"warm up") for i in range(16)]))
            if all("document started" in w.logs() for w in ws):
                return ws
            time.sleep(0.5)
        for w in ws:
            w.stop()
        raise RuntimeError("not every docworker got partitions within 60 s")

    def run(self, docs, pages_per_batch, nworkers, dpi):
        ws = self.workers(nworkers, dpi)
        done = lambda w: sum(1 for line in w.logs().splitlines() if "document done" in line)
        try:
            before = [done(w) for w in ws]
            cpu0 = sum(cpu_s(w.proc.pid) for w in ws)
            t0 = time.perf_counter()
            batch = self.wait(self.post(docs))
            dt = time.perf_counter() - t0
            cores = (sum(cpu_s(w.proc.pid) for w in ws) - cpu0) / dt
            if batch["succeeded"] != len(docs):
                raise RuntimeError("batch not fully done: %s" % json.dumps(
                    {k: batch[k] for k in ("status", "succeeded", "failed")}))
            pages = sum(d["pages"] or 0 for d in batch["documents"])
            if pages != pages_per_batch:
                raise RuntimeError("pages read %d, expected %d" % (pages, pages_per_batch))
            rss = max(peak_rss_kb(w.proc.pid) for w in ws)
            by = [done(w) - b0 for w, b0 in zip(ws, before)]
        finally:
            for w in ws:
                w.stop()
        return pages / dt, rss / 1024.0, by, cores

    def stop(self):
        self.ing.stop()


def own_stack():
    env = dict(os.environ, AGENTHUB_VAR=os.path.join(ROOT, "var", "bench-docs"),
               AGENTHUB_PORT_BASE=os.environ.get("BENCH_DOCS_PORT_BASE", "27600"))
    stack = os.path.join(ROOT, "compose", "local", "stack")
    subprocess.run([stack, "down"], env=env, capture_output=True, timeout=300)
    shutil.rmtree(env["AGENTHUB_VAR"], ignore_errors=True)
    out = subprocess.run([stack, "up"], env=env, capture_output=True, text=True,
                         check=True).stdout
    for line in out.splitlines():
        if line.startswith("export "):
            k, v = line[7:].split("=", 1)
            os.environ[k] = v
    os.environ["AGENTHUB_VAR"] = env["AGENTHUB_VAR"]
    os.environ["AGENTHUB_PORT_BASE"] = env["AGENTHUB_PORT_BASE"]
    return lambda: subprocess.run([stack, "down"], env=env, capture_output=True, timeout=300)


def fmt_range(vals, nd=1):
    return "%.*f..%.*f" % (nd, min(vals), nd, max(vals))


def main():
    down = None
    if any(not os.environ.get(v) for v in STACK_VARS):
        down = own_stack()
    runs = env_int("BENCH_DOCS_RUNS", 2)
    dpi = env_int("BENCH_DOCS_DPI", 300)
    tn, tp = env_int("BENCH_DOCS_TEXT_DOCS", 10), env_int("BENCH_DOCS_TEXT_PAGES", 50)
    sn, sp = env_int("BENCH_DOCS_SCAN_DOCS", 6), env_int("BENCH_DOCS_SCAN_PAGES", 4)
    sets = {
        "text": ([("t%d.pdf" % i, "application/pdf", text_pdf(tp, i)) for i in range(tn)],
                 tn * tp),
        "scan": ([("s%d.pdf" % i, "application/pdf", scan_pdf(sp, i)) for i in range(sn)],
                 sn * sp),
    }
    results = {"runs": runs, "dpi": dpi, "cores": os.cpu_count(),
               "text_pages_per_batch": tn * tp, "scan_pages_per_batch": sn * sp}
    b = Bench()
    try:
        for kind, (docs, pages) in sets.items():
            for n in (1, 2):
                rates, rss, busy = [], [], []
                for r in range(runs):
                    rate, mb, by, cores = b.run(docs, pages, n, dpi)
                    rates.append(rate)
                    rss.append(mb)
                    busy.append(cores)
                    print("docs.%s_run%d_%d_procs pages_s=%.2f peak_rss_mb=%.0f cores_busy=%.2f "
                          "docs_by_proc=%s" % (kind, r + 1, n, rate, mb, cores, by), flush=True)
                results["%s_cores_busy_%d" % (kind, n)] = [round(x, 2) for x in busy]
                print("docs.%s_cores_busy_%d %s" % (kind, n, fmt_range(busy, 2)))
                cpu_ms = [1000.0 * c / r for c, r in zip(busy, rates)]
                results["%s_cpu_ms_per_page_%d" % (kind, n)] = [round(x, 1) for x in cpu_ms]
                print("docs.%s_cpu_ms_per_page_%d %s" % (kind, n, fmt_range(cpu_ms, 1)))
                results["%s_pages_s_%d" % (kind, n)] = [round(x, 2) for x in rates]
                results["%s_peak_rss_mb_%d" % (kind, n)] = round(max(rss), 1)
                print("docs.%s_pages_s_%d %s" % (kind, n, fmt_range(rates, 2)))
                print("docs.%s_peak_rss_mb_%d %.0f" % (kind, n, max(rss)))
            r1, r2 = results["%s_pages_s_1" % kind], results["%s_pages_s_2" % kind]
            ratio = (sum(r2) / len(r2)) / (sum(r1) / len(r1))
            results["%s_ratio_2_1" % kind] = round(ratio, 2)
            print("docs.%s_ratio_2_1 %.2f" % (kind, ratio))
    finally:
        b.stop()
        if down:
            down()
    os.makedirs(os.path.join(ROOT, "var", "bench"), exist_ok=True)
    with open(os.path.join(ROOT, "var", "bench", "docs.json"), "w") as f:
        json.dump(results, f, indent=1)
    return 0


if __name__ == "__main__":
    sys.exit(main())
