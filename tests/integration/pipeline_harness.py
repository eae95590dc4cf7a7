"""pipeline_harness.py — runs the real chat pipeline for the end-to-end and fault tests.

Needs the local stack's environment (DATABASE_URL, REDIS_URL, KAFKA_BROKERS, CHROMA_URL, as
tests/run.sh exports them) and the binaries in $AGENTHUB_BIN. Starts, as subprocesses: the
stand-in ERP, the stand-in LLM, the ingress, the router and N agent processes; applies the
migrations and compose/local/demo-seed.sql (tenants demo and acme) pointing the tools at this
run's stand-in ERP. Everything listens on free loopback ports; stop() ends what it started.
"""
import http.client
import json
import os
import signal
import socket
import subprocess
import tempfile
import time
import urllib.parse
import urllib.request

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
BIN = os.environ.get("AGENTHUB_BIN", os.path.join(ROOT, "build", "bin"))
STACK_VARS = ("DATABASE_URL", "REDIS_URL", "KAFKA_BROKERS", "CHROMA_URL")


def stack_missing():
    """Why the pipeline cannot run here, or None."""
    for v in STACK_VARS:
        if not os.environ.get(v):
            return "%s is not set (run through tests/run.sh)" % v
    for b in ("agenthub-ingress", "agenthub-router", "agenthub-agent", "agenthub-standin-erp",
              "agenthub-standin-llm", "agenthubctl", "agenthub-migrate"):
        if not os.access(os.path.join(BIN, b), os.X_OK):
            return "%s/%s is missing" % (BIN, b)
    return None


_HANDED_OUT = set()


def free_port():
    """A loopback port that was free a moment ago and that this process has not handed out
    before: the kernel may return one port twice (each probe socket is closed at once), and
    two of a pipeline's listeners on one port would let the first to bind answer for both.
    Another process can still take the port before it is used: start() notices (the listener
    exits with a bind error) and moves on to a fresh port."""
    while True:
        s = socket.socket()
        s.bind(("127.0.0.1", 0))
        p = s.getsockname()[1]
        s.close()
        if p not in _HANDED_OUT:
            _HANDED_OUT.add(p)
            return p


def free_stack_base(start, stop, offsets=(32, 79, 80, 92)):
    """A port base for a second compose/local/stack (its services listen on base + offset;
    the defaults are PostgreSQL, Redis, ChromaDB and the dev broker) whose ports are free now."""
    def bindable(port):
        with socket.socket() as s:
            try:
                s.bind(("127.0.0.1", port))
                return True
            except OSError:
                return False
    return next(b for b in range(start, stop, 100) if all(bindable(b + o) for o in offsets))


def wait_port(port, timeout=20.0):
    end = time.time() + timeout
    while time.time() < end:
        try:
            socket.create_connection(("127.0.0.1", port), 0.5).close()
            return True
        except OSError:
            time.sleep(0.05)
    return False


def wait_ingress(port, timeout=20.0, proc=None):
    """An ingress answers once GET /health is 200: civetweb listens a moment before the
    ingress's handler is registered, and a request in that moment gets civetweb's own 404
    (which is why an orchestrator routes to a process only once /health answers). The answer
    must be an ingress's ({"status": "ok"}), not a pipeline stage's metrics listener (whose
    /health names its "stage"); with proc, an ingress that has exited (a port taken before it
    could bind) ends the wait at once."""
    end = time.time() + timeout
    while time.time() < end:
        if proc is not None and proc.poll() is not None:
            return False
        try:
            c = http.client.HTTPConnection("127.0.0.1", port, timeout=1.0)
            c.request("GET", "/health")
            resp = c.getresponse()
            body = resp.read()
            c.close()
            try:
                if resp.status == 200 and "stage" not in json.loads(body):
                    return True
            except ValueError:
                pass
        except (OSError, http.client.HTTPException):
            pass
        time.sleep(0.05)
    return False


class Pipeline:
    def __init__(self, name, agents=1, llm_env=None, agent_env=None, router_env=None,
                 llm_model="standin-1", agent_args=(), ingress_env=None):
        self.name = name
        self.llm_model = llm_model
        self.agent_args = list(agent_args)
        self.nagents = agents
        self.llm_env = llm_env or {}
        self.agent_env = agent_env or {}
        self.router_env = router_env or {}
        self.ingress_env = ingress_env or {}
        self.procs = {}
        self.dir = tempfile.mkdtemp(prefix="agenthub-%s-" % name)
        self.ports = {k: free_port() for k in ("ingress", "erp", "llm", "router_metrics")}
        for i in range(agents):
            self.ports["agent_metrics_%d" % i] = free_port()
        self.base = "http://127.0.0.1:%d" % self.ports["ingress"]
        self.erp = "http://127.0.0.1:%d" % self.ports["erp"]
        self.tokens = {}

    # ---- lifecycle ------------------------------------------------------------------------
    def env(self, extra=None):
        e = dict(os.environ)
        e.update({"FERNET_KEY": self.fernet_key, "LOG_LEVEL": "info",
                  "JWT_PUBLIC_KEY_FILE": os.path.join(self.dir, "jwt_public.pem"),
                  # allow-list entries are host:port (issue 17): the stand-in ERP only
                  "TOOL_ALLOWED_HOSTS": "127.0.0.1:%d" % self.ports["erp"],
                  # a killed consumer's partitions move on quickly
                  "KAFKA_SESSION_TIMEOUT_MS": "6000",
                  "KAFKA_HEARTBEAT_INTERVAL_MS": "500",
                  # the dev broker holds a fetch for fetch.wait.max.ms even when data is there
                  "KAFKA_FETCH_WAIT_MAX_MS": os.environ.get("KAFKA_FETCH_WAIT_MAX_MS", "10")})
        if extra:
            e.update(extra)
        return e

    def run(self, args, env=None, check=True, input=None):
        return subprocess.run(args, env=env or self.env(), check=check, capture_output=True,
                              text=True, timeout=120, input=input)

    def spawn(self, name, args, extra_env=None):
        with open(os.path.join(self.dir, name + ".log"), "ab") as log:
            p = subprocess.Popen(args, env=self.env(extra_env), stdout=log, stderr=log,
                                 stdin=subprocess.DEVNULL)
        self.procs[name] = p
        return p

    def log(self, name):
        try:
            with open(os.path.join(self.dir, name + ".log"), "rb") as f:
                return f.read().decode("utf-8", "replace")
        except OSError:
            return ""

    def wait_log(self, name, text, timeout=30.0, count=1, proc=None):
        """Whether name's log shows text count times within timeout; with proc, False as soon
        as that process has exited without it."""
        end = time.time() + timeout
        while time.time() < end:
            if self.log(name).count(text) >= count:
                return True
            if proc is not None and proc.poll() is not None:
                return self.log(name).count(text) >= count
            time.sleep(0.1)
        return False

    def start(self):
        """Starts the pipeline; if it does not come up, stops what it started (a process left
        behind would keep consuming the stack's topics in the tests that follow) and raises."""
        try:
            return self._start()
        except BaseException:
            self.stop()
            raise

    def _start(self):
        out = subprocess.run([os.path.join(BIN, "agenthubctl"), "keygen", "--out", self.dir,
                              "--force"], check=True, capture_output=True, text=True)
        self.fernet_key = out.stdout.strip().split("=", 1)[1]
        self.run([os.path.join(BIN, "agenthub-migrate")])
        self.seed()
        self.spawn("erp", [os.path.join(BIN, "agenthub-standin-erp")],
                   {"ERP_LISTEN": "127.0.0.1:%d" % self.ports["erp"]})
        llm_env = {"STANDIN_LLM_LISTEN": "127.0.0.1:%d" % self.ports["llm"]}
        llm_env.update(self.llm_env)
        self.spawn("llm", [os.path.join(BIN, "agenthub-standin-llm")], llm_env)
        assert wait_port(self.ports["erp"]), self.log("erp")
        assert wait_port(self.ports["llm"]), self.log("llm")
        listeners = [("ingress", "ingress", "INGRESS_LISTEN", ["agenthub-ingress"],
                      self.ingress_env),
                     ("router", "router_metrics", "METRICS_LISTEN", ["agenthub-router"],
                      self.router_env)]
        for i in range(self.nagents):
            listeners.append(("agent-%d" % i, "agent_metrics_%d" % i, "METRICS_LISTEN",
                              ["agenthub-agent"] + self.agent_args, self.agent_env))

        def spawn_listener(name, port_key, var, argv, extra):
            e = {var: "127.0.0.1:%d" % self.ports[port_key]}
            e.update(extra)
            self.spawn(name, [os.path.join(BIN, argv[0])] + argv[1:], e)

        for listener in listeners:
            spawn_listener(*listener)
        for name, port_key, var, argv, extra in listeners:
            for attempt in range(3):
                if name == "ingress":
                    up = wait_ingress(self.ports["ingress"], 90, self.procs[name])
                elif name == "router":
                    up = self.wait_log(name, "partitions assigned", 90, proc=self.procs[name])
                else:
                    up = self.wait_log(name, "stage running", 90, proc=self.procs[name])
                if up or self.procs[name].poll() is None or attempt == 2:
                    break
                # exited: another process took the port between free_port() and the bind
                self.ports[port_key] = free_port()
                spawn_listener(name, port_key, var, argv, extra)
            assert up, self.log(name)
        self.base = "http://127.0.0.1:%d" % self.ports["ingress"]
        # the group has settled when every agent process has partitions
        time.sleep(1.0)
        for t, sub in (("demo", "demo-user"), ("acme", "acme-user")):
            self.tokens[t] = self.token(t, sub)
        self.kb_loaded = self.load_kb()
        return self

    def seed(self):
        self.run(["psql", os.environ["DATABASE_URL"], "-q", "-v", "ON_ERROR_STOP=1",
                  "-v", "erp_url=" + self.erp, "-v", "llm_provider=openai_compatible",
                  "-v", "llm_model=" + self.llm_model,
                  "-v", "llm_base_url=http://127.0.0.1:%d/v1" % self.ports["llm"],
                  "-v", "llm_key=", "-v", "llm_rpm=0",
                  "-f", os.path.join(ROOT, "compose", "local", "demo-seed.sql")])
        self.flush_cache()

    def llm_base(self):
        return "http://127.0.0.1:%d/v1" % self.ports["llm"]

    def add_tenant(self, tenant, model, agents=("AgentDebt",), tools=("get_customer_debt",)):
        """A tenant with its own LLM model string (the stand-in reads latency and faults from
        the part after '@') and the given agents and tools."""
        base = self.llm_base()
        q = ("INSERT INTO tenants (tenant_id, name) VALUES (%s, %s) ON CONFLICT DO NOTHING;"
             "INSERT INTO llm_models (provider, model_name, base_url) VALUES "
             "('openai_compatible', %s, %s) ON CONFLICT ON CONSTRAINT "
             "llm_models_provider_name_url_key DO NOTHING;"
             "INSERT INTO tenant_llm_configs (tenant_id, model_id, rate_limit_rpm, "
             "embedding_provider) SELECT %s, model_id, 0, 'local' FROM llm_models "
             "WHERE model_name = %s AND base_url = %s ON CONFLICT (tenant_id) DO UPDATE "
             "SET model_id = EXCLUDED.model_id;")
        params = [tenant, tenant, model, base, tenant, model, base]
        for a in agents:
            q += ("INSERT INTO tenant_agent_permissions (tenant_id, agent_id) SELECT %s, agent_id "
                  "FROM agent_configs WHERE name = %s ON CONFLICT DO NOTHING;")
            params += [tenant, a]
        for t in tools:
            q += ("INSERT INTO tenant_tool_permissions (tenant_id, tool_id) SELECT %s, tool_id "
                  "FROM tool_configs WHERE name = %s ON CONFLICT DO NOTHING;")
            params += [tenant, t]
        self.sql(q, *params)
        self.tokens[tenant] = self.token(tenant, tenant + "-user")

    def flush_cache(self):
        url = os.environ["REDIS_URL"]
        for pat in ("agenthub:*:cache:*", "agenthub:*:llm"):
            keys = subprocess.run(["redis-cli", "-u", url, "--scan", "--pattern", pat],
                                  capture_output=True, text=True).stdout.split()
            if keys:
                subprocess.run(["redis-cli", "-u", url, "del"] + keys, capture_output=True)

    def load_kb(self):
        files = sorted(os.path.join(ROOT, "compose", "local", "demo-kb", f)
                       for f in os.listdir(os.path.join(ROOT, "compose", "local", "demo-kb")))
        r = self.run([os.path.join(BIN, "agenthubctl"), "kb", "add", "--tenant", "demo"] + files,
                     check=False)
        if 'unknown command "kb"' in r.stderr:
            return None
        return r.returncode == 0

    def token(self, tenant, sub, roles="user"):
        r = self.run([os.path.join(BIN, "agenthubctl"), "token", "--key",
                      os.path.join(self.dir, "jwt_private.pem"), "--tenant", tenant, "--sub", sub,
                      "--roles", roles, "--ttl", "3600"])
        return r.stdout.strip()

    def stop(self):
        for name, p in self.procs.items():
            if p.poll() is None:
                p.send_signal(signal.SIGTERM)
        for name, p in self.procs.items():
            try:
                p.wait(timeout=30)
            except subprocess.TimeoutExpired:
                p.kill()
                p.wait()

    def sanitizer_reports(self, names=None):
        """Sanitizer reports (ASan/UBSan/LSan builds) in the pipeline stages' logs."""
        out = []
        for name in names or [n for n in self.procs if n == "router" or n.startswith("agent")]:
            text = self.log(name)
            for marker in ("ERROR: AddressSanitizer", "ERROR: LeakSanitizer", "runtime error:"):
                if marker in text:
                    i = text.index(marker)
                    out.append("%s: %s" % (name, text[i:i + 2000]))
        return out

    # ---- HTTP -------------------------------------------------------------------------------
    def request(self, method, path, body=None, tenant="demo", token=None, timeout=60):
        data = json.dumps(body).encode() if body is not None else None
        req = urllib.request.Request(self.base + path, data=data, method=method)
        req.add_header("Authorization", "Bearer " + (token or self.tokens[tenant]))
        if data is not None:
            req.add_header("Content-Type", "application/json")
        try:
            with urllib.request.urlopen(req, timeout=timeout) as r:
                return r.status, json.loads(r.read() or b"null")
        except urllib.error.HTTPError as e:
            return e.code, json.loads(e.read() or b"null")

    def chat(self, message, tenant="demo", session_id=None):
        body = {"message": message}
        if session_id:
            body["session_id"] = session_id
        st, r = self.request("POST", "/api/%s/chat" % tenant, body, tenant)
        assert st == 202, (st, r)
        return r

    def job(self, job_id, tenant="demo", wait=0):
        st, r = self.request("GET", "/api/%s/jobs/%s?wait=%d" % (tenant, job_id, wait), None,
                             tenant, timeout=wait + 30)
        assert st == 200, (st, r)
        return r

    def wait_job(self, job_id, tenant="demo", timeout=60):
        end = time.time() + timeout
        j = None
        while time.time() < end:
            j = self.job(job_id, tenant, wait=min(10, max(1, int(end - time.time()))))
            if j.get("status") in ("done", "error"):
                return j
        return j

    def events(self, job_id, tenant="demo", timeout=60, timed=False):
        """The job's SSE stream until final or error: [(event, data), ...], or with timed
        [(arrival time, event, data), ...]."""
        conn = http.client.HTTPConnection("127.0.0.1", self.ports["ingress"], timeout=timeout)
        conn.request("GET", "/api/%s/jobs/%s/events" % (tenant, job_id),
                     headers={"Authorization": "Bearer " + self.tokens[tenant],
                              "Accept": "text/event-stream"})
        resp = conn.getresponse()
        assert resp.status == 200, resp.status
        out, ev, data = [], None, []
        end = time.time() + timeout
        try:
            while time.time() < end:
                line = resp.readline()
                if not line:
                    break
                line = line.decode("utf-8").rstrip("\r\n")
                if line.startswith("event:"):
                    ev = line[6:].strip()
                elif line.startswith("data:"):
                    data.append(line[5:].strip())
                elif line == "":
                    if ev:
                        d = json.loads("\n".join(data)) if data else None
                        out.append((time.time(), ev, d) if timed else (ev, d))
                        if ev in ("final", "error"):
                            break
                    ev, data = None, []
        finally:
            conn.close()
        return out

    def erp_last(self, path):
        with urllib.request.urlopen(self.erp + "/_last_request?path=" +
                                    urllib.parse.quote(path, safe=""), timeout=10) as r:
            return json.loads(r.read())

    def erp_fail(self, mode, ms=None):
        q = "mode=" + mode + ("&ms=%d" % ms if ms else "")
        with urllib.request.urlopen(self.erp + "/_fail?" + q, timeout=10) as r:
            r.read()

    def sql(self, query, *params):
        """psql with literal parameters (tests only: values are ours)."""
        q = query
        for p in params:
            q = q.replace("%s", "'" + str(p).replace("'", "''") + "'", 1)
        r = self.run(["psql", os.environ["DATABASE_URL"], "-At", "-F", "\t", "-v",
                      "ON_ERROR_STOP=1", "-f", "-"], input=q)
        return [line.split("\t") for line in r.stdout.splitlines() if line]


def shutil_which(name):
    import shutil
    return shutil.which(name)
