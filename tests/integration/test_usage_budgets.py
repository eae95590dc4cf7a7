"""Usage, cost and budgets per tenant; per-tenant request limits at the ingress (issue 14).

Runs the real pipeline with two ingress processes (both with the platform operator's key) and
two agent processes against the stand-in LLM, which reports what usage it answered per model
string (GET /stats). Each tenant of this run gets its own model string
("standin-1@key=<tenant>"), so the stand-in's figures are per tenant. Checks:
  - the usage API's totals equal the stand-in's reported tokens for a known set of jobs, in the
    operator's view, the tenant admin's and the tenant users' view (and nobody sees another
    tenant's usage); cost is the price table's; job metadata carries tokens and cost;
  - a job whose agent process is SIGKILLed mid-job and redelivered is recorded once per call
    (README "Usage, cost and budgets": a call repeated by a redelivered job is counted once);
  - a budget is hit: chats then get 429 budget_exceeded (with the reset time) on both ingress
    processes, the jobs accepted before finish, a soft and a hard event are recorded, and
    raising the budget lifts the block at once;
  - the Redis mirror of a tenant's limits carries the row's version: a stale copy is put right
    by the reconciliation, a newer one is never overwritten by it, and a tenant with no limit
    keeps a mirror (so it is not "restored" again and again);
  - the per-tenant requests-per-minute limit holds exactly for a burst across two ingress
    processes, with X-RateLimit-* and Retry-After headers, while another tenant is unaffected;
    the per-user limit refuses one user and not another.
"""
import json
import os
import re
import signal
import sys
import tempfile
import threading
import time
import unittest
import urllib.error
import urllib.request
import uuid

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import pipeline_case as pc  # noqa: E402
import pipeline_harness as ph  # noqa: E402

try:
    import jwt
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import rsa
except ImportError:  # pragma: no cover
    jwt = None

RUN = uuid.uuid4().hex[:8]
T_USE, T_KILL, T_BUDGET, T_RL, T_OTHER, T_USER, T_MIRROR = (
    "u14use-" + RUN, "u14kill-" + RUN, "u14budg-" + RUN, "u14rl-" + RUN, "u14oth-" + RUN,
    "u14usr-" + RUN, "u14mir-" + RUN)
PRICE_IN, PRICE_OUT = 1.0, 2.0  # US dollars per million tokens for "standin-1"
# a number written with json-c's 17 digits (0.00076599999999999997): what users must not see
NOISY_NUMBER = re.compile(r"\d\.\d{12,}")
MST = "0123456789"


def _op_keys(d):
    k = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    pub = k.public_key().public_bytes(serialization.Encoding.PEM,
                                      serialization.PublicFormat.SubjectPublicKeyInfo)
    path = os.path.join(d, "operator.pem")
    with open(path, "wb") as f:
        f.write(b"# kid: op\n" + pub)
    return k, path


def _ready(pl):
    for i in range(2):
        assert pl.wait_log("agent-%d" % i, "partitions assigned", 60)
    port2 = ph.free_port()
    pl.ports["ingress2"] = port2
    pl.spawn("ingress-2", [os.path.join(ph.BIN, "agenthub-ingress")],
             {"INGRESS_LISTEN": "127.0.0.1:%d" % port2})
    assert ph.wait_ingress(port2), pl.log("ingress-2")
    pl.base2 = "http://127.0.0.1:%d" % port2
    pl.add_tenant(T_USE, "standin-1@key=" + T_USE)
    pl.add_tenant(T_KILL, "standin-1@ttft=2500,key=" + T_KILL)
    pl.add_tenant(T_BUDGET, "standin-1@key=" + T_BUDGET)
    pl.add_tenant(T_RL, "standin-1@key=" + T_RL)
    pl.add_tenant(T_OTHER, "standin-1@key=" + T_OTHER)
    pl.add_tenant(T_USER, "standin-1@key=" + T_USER)
    pl.add_tenant(T_MIRROR, "standin-1@key=" + T_MIRROR)


class UsageBudgets(pc.PipelineCase):
    @classmethod
    def setUpClass(cls):
        if jwt is None:
            raise unittest.SkipTest("python3-jwt / python3-cryptography missing")
        if ph.stack_missing():
            raise unittest.SkipTest(ph.stack_missing())
        cls.keydir = tempfile.mkdtemp(prefix="usage-op-")
        cls.op_key, opfile = _op_keys(cls.keydir)
        cls.saved_env = os.environ.get("OPERATOR_PUBLIC_KEY_FILE")
        os.environ["OPERATOR_PUBLIC_KEY_FILE"] = opfile
        cls.saved_reconcile = os.environ.get("USAGE_RECONCILE_S")
        os.environ["USAGE_RECONCILE_S"] = "2"  # limits lost with Redis come back within 2 s
        # The price of the stand-in's model, in place before the processes read the table.
        subprocess_run([os.path.join(ph.BIN, "agenthub-migrate")])
        subprocess_run(["psql", os.environ["DATABASE_URL"], "-q", "-v", "ON_ERROR_STOP=1", "-c",
                        "INSERT INTO model_prices VALUES ('standin-1', %s, %s) ON CONFLICT "
                        "(model) DO UPDATE SET input_usd_per_mtok = EXCLUDED.input_usd_per_mtok,"
                        " output_usd_per_mtok = EXCLUDED.output_usd_per_mtok"
                        % (PRICE_IN, PRICE_OUT)])
        cls.start_pipeline("usage", agents=2, ready=_ready)

    @classmethod
    def tearDownClass(cls):
        if cls.saved_reconcile is None:
            os.environ.pop("USAGE_RECONCILE_S", None)
        else:
            os.environ["USAGE_RECONCILE_S"] = cls.saved_reconcile
        if cls.saved_env is None:
            os.environ.pop("OPERATOR_PUBLIC_KEY_FILE", None)
        else:
            os.environ["OPERATOR_PUBLIC_KEY_FILE"] = cls.saved_env
        if cls.pl:
            cls.pl.stop()
            reports = cls.pl.sanitizer_reports(
                [n for n in cls.pl.procs if n.startswith(("router", "agent", "ingress"))])
            assert not reports, "\n".join(reports)

    # ---- helpers ------------------------------------------------------------------------------
    def op_token(self):
        now = int(time.time())
        return jwt.encode({"sub": "op-usage", "iat": now, "exp": now + 3600,
                           "token_use": "operator"}, self.op_key, algorithm="RS256",
                          headers={"kid": "op"})

    def http_text(self, method, path, body=None, token=None, base=None):
        """(status, headers, body text) from base (the first ingress by default)."""
        data = json.dumps(body).encode() if body is not None else None
        req = urllib.request.Request((base or self.pl.base) + path, data=data, method=method)
        if token:
            req.add_header("Authorization", "Bearer " + token)
        if data is not None:
            req.add_header("Content-Type", "application/json")
        try:
            with urllib.request.urlopen(req, timeout=60) as r:
                return r.status, dict(r.headers), r.read().decode()
        except urllib.error.HTTPError as e:
            return e.code, dict(e.headers), e.read().decode()

    def http(self, method, path, body=None, token=None, base=None):
        """(status, headers, json body) from base (the first ingress by default)."""
        st, headers, text = self.http_text(method, path, body, token, base)
        return st, headers, json.loads(text or "null")

    def assert_plain_numbers(self, text):
        m = NOISY_NUMBER.search(text)
        self.assertIsNone(m, "a number written with noise (%s) in %s" % (m and m.group(0), text))

    def chat(self, tenant, message, token=None, base=None):
        return self.http("POST", "/api/%s/chat" % tenant, {"message": message},
                         token or self.pl.tokens[tenant], base)

    def standin(self, tenant):
        with urllib.request.urlopen("http://127.0.0.1:%d/stats" % self.pl.ports["llm"],
                                    timeout=10) as r:
            m = json.loads(r.read())["models"]
        return m.get("standin-1@key=" + tenant) or m.get(
            "standin-1@ttft=2500,key=" + tenant) or {"requests": 0, "input_tokens": 0,
                                                     "output_tokens": 0}

    def usage(self, tenant, group_by="none", token=None, path=None):
        st, _, body = self.http("GET", path or "/api/admin/usage?tenant_id=%s&group_by=%s"
                                % (tenant, group_by), token=token or self.op_token())
        self.assertEqual(st, 200, body)
        return body

    def set_limits(self, tenant, **limits):
        st, _, body = self.http("PUT", "/api/admin/tenants/%s/limits" % tenant, limits,
                                self.op_token())
        self.assertEqual(st, 200, body)
        return body

    def wait_usage(self, tenant, calls, timeout=15):
        """The usage totals once at least `calls` calls are recorded (the flush is 200 ms)."""
        end = time.time() + timeout
        t = None
        while time.time() < end:
            t = self.usage(tenant)["totals"]
            if t["calls"] >= calls:
                return t
            time.sleep(0.2)
        return t

    # ---- accounting -----------------------------------------------------------------------------
    def test_usage_totals_equal_the_standin_reported_tokens(self):
        msgs = ["What is the debt for MST %s?" % MST, "hello there, how are you?",
                "What is the debt for MST 0987654321?", "tell me something nice"]
        jobs = []
        for i, m in enumerate(msgs):
            st, _, r = self.chat(T_USE, m, base=self.pl.base if i % 2 == 0 else self.pl.base2)
            self.assertEqual(st, 202, r)
            jobs.append(r["job_id"])
        for j in jobs:
            self.assertEqual(self.pl.wait_job(j, tenant=T_USE, timeout=60)["status"], "done")
        s = self.standin(T_USE)
        self.assertGreaterEqual(s["requests"], 2 * len(msgs))  # an intent and an answer each
        t = self.wait_usage(T_USE, s["requests"])
        self.assertEqual(t["calls"], s["requests"], t)
        self.assertEqual(t["input_tokens"], s["input_tokens"], t)
        self.assertEqual(t["output_tokens"], s["output_tokens"], t)
        want = (s["input_tokens"] * PRICE_IN + s["output_tokens"] * PRICE_OUT) / 1e6
        self.assertAlmostEqual(t["cost_usd"], want, places=6)
        # grouped views add up to the same totals; every call is of a known purpose
        for g in ("day", "model", "agent", "purpose", "day,model,agent"):
            u = self.usage(T_USE, g)
            self.assertEqual(sum(r["input_tokens"] for r in u["rows"]), t["input_tokens"], g)
            self.assertEqual(sum(r["calls"] for r in u["rows"]), t["calls"], g)
        purposes = {r["purpose"]: r["calls"] for r in self.usage(T_USE, "purpose")["rows"]}
        self.assertEqual(purposes.get("intent"), len(msgs), purposes)
        self.assertEqual(set(purposes), {"intent", "agent"}, purposes)
        # per-call rows: sums consistent with the API
        rows = self.pl.sql("SELECT count(*), sum(input_tokens), sum(output_tokens) FROM "
                           "usage_calls WHERE tenant_id = %s", T_USE)
        self.assertEqual([int(x) for x in rows[0]],
                         [t["calls"], t["input_tokens"], t["output_tokens"]])
        # the tenant's users see the same (their own tenant only), a tenant admin too
        st, _, mine = self.http("GET", "/api/%s/usage?group_by=none" % T_USE,
                                token=self.pl.tokens[T_USE])
        self.assertEqual(st, 200, mine)
        self.assertEqual(mine["totals"], t)
        st, _, _ = self.http("GET", "/api/%s/usage" % T_OTHER, token=self.pl.tokens[T_USE])
        self.assertEqual(st, 403)
        admin = self.pl.token(T_USE, "adm", roles="user,admin")
        st, _, a = self.http("GET", "/api/admin/usage?group_by=none", token=admin)
        self.assertEqual((st, a["totals"]), (200, t))
        st, _, _ = self.http("GET", "/api/admin/usage?tenant_id=%s" % T_OTHER, token=admin)
        self.assertEqual(st, 403)
        # a tenant admin cannot change prices nor its own limits
        st, _, _ = self.http("PUT", "/api/admin/prices", {"model": "standin-1",
                             "input_usd_per_mtok": 0, "output_usd_per_mtok": 0}, admin)
        self.assertEqual(st, 403)
        st, _, _ = self.http("PUT", "/api/admin/tenants/%s/limits" % T_USE,
                             {"budget_tokens": 10 ** 12}, admin)
        self.assertEqual(st, 403)
        # the job's metadata carries its tokens and cost
        j = self.pl.job(jobs[1], tenant=T_USE)
        meta = j.get("metadata") or {}
        self.assertIn("tokens", meta)
        self.assertGreater(meta["tokens"]["input"], 0)
        want = (meta["tokens"]["input"] * PRICE_IN + meta["tokens"]["output"] * PRICE_OUT) / 1e6
        self.assertAlmostEqual(meta["cost_usd"], want, places=6)
        # ... and every figure reads as a person writes it (0.000766, not 0.00076599999999999997)
        for path in ("/api/%s/jobs/%s" % (T_USE, jobs[1]),
                     "/api/%s/usage?group_by=day,model,agent,purpose" % T_USE):
            st, _, text = self.http_text("GET", path, token=self.pl.tokens[T_USE])
            self.assertEqual(st, 200, text)
            self.assertIn('"cost_usd":', text)
            self.assert_plain_numbers(text)
        # Prometheus: tokens and cost per tenant and model on the agents' /metrics
        text = ""
        for i in range(2):
            with urllib.request.urlopen("http://127.0.0.1:%d/metrics"
                                        % self.pl.ports["agent_metrics_%d" % i]) as r:
                text += r.read().decode()
        self.assertIn('usage_tokens_total{tenant="%s",model="standin-1",direction="input"}'
                      % T_USE, text)
        self.assertIn('usage_cost_usd_total{tenant="%s",model="standin-1"}' % T_USE, text)

    def test_redelivered_job_is_not_double_counted(self):
        msg = "What is the debt for MST %s?" % MST
        # a reference run of the same question, never interrupted
        st, _, ref = self.chat(T_KILL, msg)
        self.assertEqual(st, 202, ref)
        self.assertEqual(self.pl.wait_job(ref["job_id"], tenant=T_KILL, timeout=60)["status"],
                         "done")
        # the same question; its agent process is killed once its first answer call is
        # recorded, while the second is in flight (each call takes 2.5 s)
        st, _, r = self.chat(T_KILL, msg)
        self.assertEqual(st, 202, r)
        job = r["job_id"]
        end = time.time() + 40
        recorded = False
        while time.time() < end and not recorded:
            n = self.pl.sql("SELECT count(*) FROM usage_calls WHERE job_id = %s AND "
                            "purpose = 'agent'", job)
            recorded = int(n[0][0]) >= 1
            time.sleep(0.1)
        self.assertTrue(recorded, "the job's first answer call was never recorded")
        victim = [i for i in range(2) if job in self.pl.log("agent-%d" % i)]
        self.assertEqual(len(victim), 1, victim)
        p = self.pl.procs["agent-%d" % victim[0]]
        p.send_signal(signal.SIGKILL)
        p.wait()
        try:
            j = self.pl.wait_job(job, tenant=T_KILL, timeout=90)
            self.assertEqual(j["status"], "done", j)
            # the survivor ran it again (calls the stand-in answered twice for this job)
            self.assertIn(job, self.pl.log("agent-%d" % (1 - victim[0])))
            time.sleep(1.0)  # the survivor's last records are flushed within 200 ms
            q = ("SELECT purpose, seq, attempt, input_tokens, output_tokens FROM usage_calls "
                 "WHERE job_id = %s ORDER BY purpose, seq, attempt")
            got, want = self.pl.sql(q, job), self.pl.sql(q, ref["job_id"])
            self.assertEqual(got, want)  # one row per call, as for the uninterrupted run
            self.assertEqual([x[0] for x in got].count("intent"), 1, got)
            s = self.standin(T_KILL)
            t = self.usage(T_KILL)["totals"]
            self.assertGreater(s["requests"], t["calls"])  # the provider saw the repeats
        finally:
            # the killed agent comes back for the tests after this one
            name = "agent-%d" % victim[0]
            self.pl.spawn(name, [os.path.join(ph.BIN, "agenthub-agent")] + self.pl.agent_args,
                          {"METRICS_LISTEN": "127.0.0.1:%d"
                           % self.pl.ports["agent_metrics_%d" % victim[0]]})
            self.pl.wait_log(name, "stage running", 60, count=2)

    # ---- budgets --------------------------------------------------------------------------------
    def test_budget_blocks_new_chats_and_raising_it_lifts_the_block(self):
        lim = self.set_limits(T_BUDGET, budget_tokens=1, soft_threshold_pct=50)
        self.assertEqual(lim["budget_status"]["state"], "ok")
        # accepted while under budget: all of these finish, past the limit (the overshoot)
        jobs = []
        for i in range(3):
            st, _, r = self.chat(T_BUDGET, "hello number %d" % i)
            self.assertEqual(st, 202, r)
            jobs.append(r["job_id"])
        for j in jobs:
            self.assertEqual(self.pl.wait_job(j, tenant=T_BUDGET, timeout=60)["status"], "done")
        # the Redis spend catches up with the recorded calls (each process flushes within
        # 200 ms of a call), and the state says exceeded
        end = time.time() + 10
        state, spent, recorded = None, -1, -2
        while time.time() < end and (state != "exceeded" or spent != recorded):
            time.sleep(0.3)
            st, _, b = self.http("GET", "/api/admin/tenants/%s/limits" % T_BUDGET,
                                 token=self.op_token())
            state, spent = b["budget_status"]["state"], b["budget_status"]["spent_tokens"]
            recorded = self.usage(T_BUDGET)["totals"]["total_tokens"]
        self.assertEqual(state, "exceeded", b)
        self.assertEqual(spent, recorded)
        st, _, text = self.http_text("GET", "/api/admin/tenants/%s/limits" % T_BUDGET,
                                  token=self.op_token())
        self.assertIn('"spent_usd":', text)
        self.assert_plain_numbers(text)
        for base in (self.pl.base, self.pl.base2):
            st, h, r = self.chat(T_BUDGET, "one more?", base=base)
            self.assertEqual(st, 429, r)
            self.assertEqual(r["error"]["code"], "budget_exceeded")
            self.assertIn(r["error"]["resets_at"], r["error"]["message"])
            self.assertRegex(r["error"]["resets_at"], r"^\d{4}-\d\d-01T00:00:00Z$")
            self.assertGreater(int(h["Retry-After"]), 0)
        ev = self.pl.sql("SELECT kind FROM budget_events WHERE tenant_id = %s ORDER BY kind",
                         T_BUDGET)
        self.assertEqual([e[0] for e in ev], ["hard", "soft"])
        # Redis loses the tenant's limits and spend: they come back from PostgreSQL (the
        # processes' reconciliation, USAGE_RECONCILE_S), and the block with them
        url = os.environ["REDIS_URL"]
        keys = subprocess_out(["redis-cli", "-u", url, "--scan", "--pattern",
                               "agenthub:{%s}:*" % T_BUDGET]).split()
        self.assertIn("agenthub:{%s}:limits" % T_BUDGET, keys)
        subprocess_out(["redis-cli", "-u", url, "del"] + keys)
        # (until restored, chats are let through: the documented gap)
        end = time.time() + 15
        st, r = 0, None
        while time.time() < end and st != 429:
            time.sleep(0.5)
            st, _, r = self.chat(T_BUDGET, "restored?")
        self.assertEqual((st, r["error"]["code"]), (429, "budget_exceeded"))
        logs = "".join(self.pl.log(n) for n in self.pl.procs)
        self.assertIn("tenant limits restored into Redis", logs)
        # raising it lifts the block at once, on both processes
        t0 = time.time()
        self.set_limits(T_BUDGET, budget_tokens=10 ** 9)
        for base in (self.pl.base, self.pl.base2):
            st, _, r = self.chat(T_BUDGET, "back again", base=base)
            self.assertEqual(st, 202, r)
        self.assertLess(time.time() - t0, 5)
        # a money budget works the same way
        self.set_limits(T_BUDGET, budget_usd=0)  # nothing may be spent
        st, _, r = self.chat(T_BUDGET, "and money?")
        self.assertEqual((st, r["error"]["code"]), (429, "budget_exceeded"))
        self.set_limits(T_BUDGET)  # no limits at all
        st, _, r = self.chat(T_BUDGET, "free again")
        self.assertEqual(st, 202, r)

    def test_limits_mirror_newest_version_wins(self):
        """A reconciliation reads tenant_limits, then writes Redis: it must never put back a
        row older than the one an admin PUT wrote meanwhile (the race that once left a raised
        budget refused). Each copy carries the row's version; the newest wins."""
        url, key = os.environ["REDIS_URL"], "agenthub:{%s}:limits" % T_MIRROR

        def mirror():
            out = subprocess_out(["redis-cli", "-u", url, "--no-raw", "HGETALL", key])
            f = [w.strip().split(") ", 1)[-1].strip('"') for w in out.splitlines() if w.strip()]
            return dict(zip(f[0::2], f[1::2])) if len(f) > 1 else {}

        def restored_count():
            return sum(1 for n in self.pl.procs for line in self.pl.log(n).splitlines()
                       if "restored into Redis" in line and T_MIRROR in line)

        def wait_mirror(pred, timeout=12):
            end, m = time.time() + timeout, {}
            while time.time() < end:
                m = mirror()
                if pred(m):
                    return m
                time.sleep(0.3)
            return m

        self.set_limits(T_MIRROR, budget_tokens=5)
        first = mirror()
        self.assertEqual(first.get("budget_tokens"), "5", first)
        ver = int(first["ver"])
        # a PUT's version is strictly newer than the one before, even right after it
        self.set_limits(T_MIRROR, budget_tokens=6)
        m = mirror()
        self.assertEqual(m.get("budget_tokens"), "6", m)
        self.assertGreater(int(m["ver"]), ver)
        ver = int(m["ver"])
        # a stale copy (an older version) is put right by the reconciliation (every 2 s here)
        subprocess_out(["redis-cli", "-u", url, "HSET", key, "ver", str(ver - 1),
                        "budget_tokens", "1"])
        m = wait_mirror(lambda m: m.get("budget_tokens") == "6")
        self.assertEqual((m.get("budget_tokens"), m.get("ver")), ("6", str(ver)), m)
        # a copy newer than the row, as a PUT leaves it while a reconciliation still holds the
        # older row, is left alone: three reconciliation periods later it is still there
        subprocess_out(["redis-cli", "-u", url, "HSET", key, "ver", str(ver + 10 ** 9),
                        "budget_tokens", "7"])
        time.sleep(6)
        self.assertEqual(mirror().get("budget_tokens"), "7")
        subprocess_out(["redis-cli", "-u", url, "DEL", key])
        # no limit at all: the mirror holds only the version (and the soft threshold's
        # percentage, which always has a value), so it is not missing, and the reconciliation
        # does not restore it period after period
        body = self.set_limits(T_MIRROR)
        self.assertIsNone(body["budget_tokens"])
        m = mirror()
        self.assertEqual(set(m), {"ver", "soft_pct"}, m)
        self.assertGreater(int(m["ver"]), ver)
        n = restored_count()
        time.sleep(5)
        self.assertEqual(restored_count(), n)
        st, _, r = self.chat(T_MIRROR, "no limits here")
        self.assertEqual(st, 202, r)
        # lost with Redis, it comes back, the same version with it
        subprocess_out(["redis-cli", "-u", url, "DEL", key])
        back = wait_mirror(lambda b: "ver" in b)
        self.assertEqual(back, m)
        self.assertGreater(restored_count(), n)

    # ---- request limits -------------------------------------------------------------------------
    def test_tenant_request_limit_across_two_ingresses(self):
        rpm = 10
        self.set_limits(T_RL, requests_per_minute=rpm)
        results = []
        lock = threading.Lock()

        def fire(i):
            base = self.pl.base if i % 2 == 0 else self.pl.base2
            st, h, r = self.chat(T_RL, "burst %d" % i, base=base)
            st2, h2, r2 = self.chat(T_OTHER, "other %d" % i, base=base) if i < 6 else (202, {},
                                                                                       None)
            with lock:
                results.append((st, h, r, st2))

        threads = [threading.Thread(target=fire, args=(i,)) for i in range(30)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        ok = [x for x in results if x[0] == 202]
        refused = [x for x in results if x[0] == 429]
        # a burst from idle: exactly the limit gets through, across both processes
        self.assertEqual(len(ok), rpm, [x[0] for x in results])
        self.assertEqual(len(refused), 30 - rpm)
        for st, h, r, _ in refused:
            self.assertEqual(r["error"]["code"], "rate_limited")
            self.assertEqual(h.get("X-RateLimit-Limit"), str(rpm))
            self.assertEqual(h.get("X-RateLimit-Remaining"), "0")
            # until the next bucket, plus the 6 s it takes there for the full bucket before it
            # to weigh less than rpm - 1 (10 * (60 - 6) / 60 + 1 = 10)
            self.assertGreater(int(h["Retry-After"]), 0)
            self.assertLessEqual(int(h["Retry-After"]), 66)
            self.assertGreater(int(h["X-RateLimit-Reset"]), 0)
        for st, h, r, _ in ok:
            self.assertEqual(h.get("X-RateLimit-Limit"), str(rpm))
            self.assertGreaterEqual(int(h["X-RateLimit-Remaining"]), 0)
        self.assertEqual(sorted(int(h["X-RateLimit-Remaining"]) for _, h, _, _ in ok),
                         list(range(rpm)))
        # the other tenant (no limits) was never refused, and has no X-RateLimit headers
        self.assertTrue(all(x[3] == 202 for x in results), [x[3] for x in results])
        st, h, _ = self.chat(T_OTHER, "still fine")
        self.assertEqual(st, 202)
        self.assertNotIn("X-RateLimit-Limit", h)

    def test_user_request_limit(self):
        self.set_limits(T_USER, user_requests_per_minute=3)
        alice = self.pl.token(T_USER, "alice")
        bob = self.pl.token(T_USER, "bob")
        codes = [self.chat(T_USER, "a %d" % i, token=alice)[0] for i in range(5)]
        self.assertEqual(codes, [202, 202, 202, 429, 429])
        st, h, r = self.chat(T_USER, "b", token=alice, base=self.pl.base2)
        self.assertEqual((st, r["error"]["code"]), (429, "rate_limited"))
        self.assertIn("user", r["error"]["message"])
        self.assertEqual(self.chat(T_USER, "b", token=bob)[0], 202)
        # The OpenAI-compatible route takes the same accept path: the same limit, counted in
        # the same window, refused in OpenAI's error shape (its SDKs raise RateLimitError).
        st, h, r = self.http("POST", "/v1/chat/completions",
                             {"model": "agenthub", "messages": [{"role": "user", "content": "c"}]},
                             alice)
        self.assertEqual(st, 429, r)
        self.assertEqual((r["error"]["type"], r["error"]["code"]),
                         ("rate_limit_error", "rate_limited"))
        self.assertIn("Retry-After", h)
        self.assertIn("X-RateLimit-Limit", h)

    def test_limits_patch_changes_what_it_names_and_a_typo_is_refused(self):
        """PATCH replaced every limit (what it did not name became "no limit"), and an unknown
        member read as absent: one typo lifted a tenant's budget with a 200."""
        t = "lim-" + RUN
        subprocess_run(["psql", os.environ["DATABASE_URL"], "-q", "-v", "ON_ERROR_STOP=1", "-c",
                        "INSERT INTO tenants (tenant_id, name) VALUES ('%s', 'x')" % t])
        path = "/api/admin/tenants/%s/limits" % t
        st, _, fresh = self.http("GET", path, token=self.op_token())
        self.assertEqual(st, 200, fresh)
        self.assertEqual({k: fresh[k] for k in ("requests_per_minute", "budget_tokens",
                                                 "budget_usd", "soft_threshold_pct")},
                         {"requests_per_minute": None, "budget_tokens": None,
                          "budget_usd": None, "soft_threshold_pct": 80})
        self.set_limits(t, requests_per_minute=2, budget_tokens=1000000)
        st, _, body = self.http("PATCH", path, {"user_requests_per_minute": 10},
                                self.op_token())
        self.assertEqual(st, 200, body)
        self.assertEqual((body["requests_per_minute"], body["user_requests_per_minute"],
                          body["budget_tokens"]), (2, 10, 1000000))
        st, _, body = self.http("PATCH", path, {"budget_tokens": None}, self.op_token())
        self.assertEqual((st, body["budget_tokens"], body["requests_per_minute"]),
                         (200, None, 2), body)
        for bad in ({"rpm": 5}, {"requests_per_minute": 3, "budget_token": 10}):
            for method in ("PUT", "PATCH"):
                st, _, body = self.http(method, path, bad, self.op_token())
                self.assertEqual(st, 400, body)
                self.assertIn("unknown member", body["error"]["message"])
        st, _, body = self.http("GET", path, token=self.op_token())
        self.assertEqual((body["requests_per_minute"], body["user_requests_per_minute"]),
                         (2, 10), body)
        # PUT still replaces all of them
        body = self.set_limits(t, budget_usd=5)
        self.assertEqual((body["requests_per_minute"], body["user_requests_per_minute"],
                          body["budget_usd"]), (None, None, 5), body)
        # a 400 names the member at fault; a budget finer than the stored 4 places is refused
        # (0.00004 was stored as 0: every request "over budget" at once)
        for bad, named in (({"requests_per_minute": "5"}, "requests_per_minute"),
                           ({"budget_tokens": 1.5}, "budget_tokens"),
                           ({"budget_usd": -1}, "budget_usd"),
                           ({"budget_usd": 0.00004}, "4 decimal places"),
                           # Python's json writes these, json-c read them; JSON has neither
                           ({"budget_usd": float("nan")}, "not valid JSON: a number is NaN"),
                           ({"budget_usd": float("inf")}, "an infinity")):
            st, _, body = self.http("PATCH", path, bad, self.op_token())
            self.assertEqual(st, 400, (bad, body))
            self.assertIn(named, body["error"]["message"])
        st, _, body = self.http("PATCH", path, {"budget_usd": 0.0001}, self.op_token())
        self.assertEqual((st, body["budget_usd"]), (200, 0.0001), body)

    def test_prices_are_admin_editable(self):
        st, _, body = self.http("GET", "/api/admin/prices", token=self.op_token())
        self.assertEqual(st, 200)
        prices = {p["model"]: p for p in body["items"]}
        # the seed's "Provider Comparison" figures
        self.assertEqual((prices["gpt-4o"]["input_usd_per_mtok"],
                          prices["gpt-4o"]["output_usd_per_mtok"]), (2.5, 10.0))
        self.assertEqual((prices["gemini-1.5-pro"]["input_usd_per_mtok"],
                          prices["gemini-1.5-pro"]["output_usd_per_mtok"]), (1.25, 3.75))
        self.assertEqual((prices["claude-3-5-sonnet"]["input_usd_per_mtok"],
                          prices["claude-3-5-sonnet"]["output_usd_per_mtok"]), (3.0, 15.0))
        m = "test-model-" + RUN
        st, _, p = self.http("PUT", "/api/admin/prices", {"model": m, "input_usd_per_mtok": 0.5,
                             "output_usd_per_mtok": 1.5}, self.op_token())
        self.assertEqual((st, p["input_usd_per_mtok"]), (200, 0.5), p)
        # a price is answered as it was given, not as json-c writes the double nearest to it
        st, _, text = self.http_text("PUT", "/api/admin/prices", {
            "model": m, "input_usd_per_mtok": 0.15, "output_usd_per_mtok": 0.6}, self.op_token())
        self.assertEqual(st, 200, text)
        self.assertRegex(text, r'"input_usd_per_mtok": ?0\.15[,}]')
        self.assertRegex(text, r'"output_usd_per_mtok": ?0\.6[,}]')
        st, _, text = self.http_text("GET", "/api/admin/prices", token=self.op_token())
        self.assertRegex(text, r'"input_usd_per_mtok": ?0\.15[,}]')
        self.assert_plain_numbers(text)
        st, _, p = self.http("PUT", "/api/admin/prices", {"model": m, "input_usd_per_mtok": -1,
                             "output_usd_per_mtok": 1.5}, self.op_token())
        self.assertEqual(st, 400)
        # finer than the stored 6 places would be rounded away; a misspelt member is named
        st, _, p = self.http("PUT", "/api/admin/prices", {"model": m, "input_usd_per_mtok":
                             0.0000004, "output_usd_per_mtok": 1.5}, self.op_token())
        self.assertEqual(st, 400, p)
        self.assertIn("6 decimal places", p["error"]["message"])
        st, _, p = self.http("PUT", "/api/admin/prices", {"model": m, "input_usd_per_mtok": 1,
                             "output_usd_per_mtok": 1.5, "currency": "EUR"}, self.op_token())
        self.assertEqual(st, 400, p)
        self.assertIn('unknown member "currency"', p["error"]["message"])
        st, _, _ = self.http("DELETE", "/api/admin/prices?model=" + m, token=self.op_token())
        self.assertEqual(st, 204)


def subprocess_out(args):
    import subprocess
    return subprocess.run(args, check=True, capture_output=True, text=True, timeout=60).stdout


def subprocess_run(args):
    import subprocess
    subprocess.run(args, check=True, capture_output=True, text=True, timeout=120)


if __name__ == "__main__":
    unittest.main()
