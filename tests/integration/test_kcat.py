"""The broker speaks real Kafka: kcat (a client that knows nothing of AgentHub) produces,
consumes, and runs a consumer group against it — the dev broker (librdkafka's mock cluster) or
real Apache Kafka, whichever the stack runs (AGENTHUB_KAFKA). Real Kafka creates no topic on
first use (auto.create.topics.enable=false, as in production): there the tests create theirs
with `agenthubctl topics`, as an operator would.

Needs KAFKA_BROKERS (tests/run.sh exports the stack's). The outage test also needs the
stack script (AGENTHUB_VAR set by tests/run.sh) and always brings the broker back.
"""
import os
import shutil
import subprocess
import tempfile
import time
import unittest
import uuid

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
BROKERS = os.environ.get("KAFKA_BROKERS", "")
STACK = os.path.join(ROOT, "compose", "local", "stack")
STANDARD_TOPICS = ["agenthub.chat.requests", "agenthub.chat.events", "agenthub.documents",
                   "agenthub.dlq"]


def kcat(*args, input=None, timeout=30, check=True):
    r = subprocess.run(["kcat", "-b", BROKERS, *args], input=input, capture_output=True,
                       text=True, timeout=timeout)
    if check and r.returncode != 0:
        raise AssertionError("kcat %s failed (%d): %s" % (" ".join(args), r.returncode, r.stderr))
    return r


def metadata(topic=None):
    """{topic: partition count} from kcat -L (all topics, or one)."""
    args = ["-L", "-m", "5"] + (["-t", topic] if topic else [])
    out = kcat(*args).stdout
    topics = {}
    for line in out.splitlines():
        line = line.strip()
        if line.startswith('topic "'):
            name = line.split('"')[1]
            n = int(line.split(" with ")[1].split()[0]) if " with " in line else 0
            topics[name] = n
    return topics


REAL_KAFKA = os.environ.get("AGENTHUB_KAFKA") == "kafka"
BIN = os.environ.get("AGENTHUB_BIN", os.path.join(ROOT, "build", "bin"))


def new_topic(topic, partitions=4):
    """A test's own topic: created explicitly on real Kafka; the dev broker makes it on use."""
    if REAL_KAFKA:
        r = subprocess.run([os.path.join(BIN, "agenthubctl"), "topics", "--partitions",
                            str(partitions), topic], capture_output=True, text=True, timeout=60)
        if r.returncode != 0:
            raise AssertionError("agenthubctl topics %s: %s" % (topic, r.stderr))
    return topic


def produce(topic, lines, key_sep=":"):
    data = "".join(l + "\n" for l in lines)
    kcat("-P", "-t", topic, "-K", key_sep, "-H", "x-test=kcat", input=data)


def consume_all(topic, expect, timeout=30):
    """Consumes from the beginning until `expect` messages or timeout; returns
    [(partition, offset, key, value, headers)]."""
    r = kcat("-C", "-t", topic, "-o", "beginning", "-c", str(expect), "-q",
             "-f", "%p\t%o\t%k\t%s\t%h\n", timeout=timeout)
    rows = []
    for line in r.stdout.splitlines():
        p, o, k, v, h = line.split("\t")
        rows.append((int(p), int(o), k, v, h))
    return rows


@unittest.skipUnless(BROKERS and shutil.which("kcat"), "needs KAFKA_BROKERS and kcat")
class DevBrokerWithKcat(unittest.TestCase):
    def test_standard_topics_exist_with_partitions(self):
        topics = metadata()
        for t in STANDARD_TOPICS:
            self.assertIn(t, topics)
            self.assertGreaterEqual(topics[t], 2, t)

    def test_produce_consume_keys_values_headers(self):
        topic = new_topic("agenthub.test.kcat." + uuid.uuid4().hex[:12])
        lines = ["key%d:value %d" % (i, i) for i in range(20)]
        produce(topic, lines)
        rows = consume_all(topic, 20)
        self.assertEqual(len(rows), 20)
        got = sorted((k, v) for _, _, k, v, _ in rows)
        self.assertEqual(got, sorted(("key%d" % i, "value %d" % i) for i in range(20)))
        for _, _, _, _, h in rows:
            self.assertEqual(h, "x-test=kcat")
        # Same key, same partition; offsets within a partition are 0..n-1.
        by_part = {}
        for p, o, k, _, _ in rows:
            by_part.setdefault(p, []).append(o)
        for offs in by_part.values():
            self.assertEqual(sorted(offs), list(range(len(offs))))
        self.assertGreater(len(by_part), 1, "20 keys should spread over partitions")

    @unittest.skipIf(REAL_KAFKA, "real Kafka creates no topic on first use (as in production); "
                     "agent topics are made by the admin API and the router (test_e2e_chat)")
    def test_agent_topic_auto_created(self):
        topic = "agenthub.agent.KcatProbe" + uuid.uuid4().hex[:8]
        self.assertNotIn(topic, metadata())
        produce(topic, ["s1:hello"])
        self.assertIn(topic, metadata())
        rows = consume_all(topic, 1)
        self.assertEqual([(r[2], r[3]) for r in rows], [("s1", "hello")])

    def test_consumer_group_of_two_splits_partitions(self):
        topic = new_topic("agenthub.test.kcatgroup." + uuid.uuid4().hex[:12])
        group = "kcat-" + uuid.uuid4().hex[:12]
        produce(topic, ["warmup:0"])  # the dev broker creates it here (4 partitions)
        nparts = metadata(topic)[topic]
        self.assertGreaterEqual(nparts, 2)
        tmp = tempfile.mkdtemp(prefix="kcatgroup")
        procs, outs = [], []
        try:
            for i in range(2):
                out = open(os.path.join(tmp, "m%d.txt" % i), "w+")
                outs.append(out)
                procs.append(subprocess.Popen(
                    ["kcat", "-b", BROKERS, "-G", group, "-q", "-u",
                     "-X", "auto.offset.reset=earliest",
                     # The dev broker waits about a session timeout for members to rejoin.
                     "-X", "session.timeout.ms=6000", "-X", "heartbeat.interval.ms=1000",
                     "-f", "%p %k\n", topic],
                    stdout=out, stderr=subprocess.DEVNULL))
            # Keep producing until both members have received something, so the test does
            # not depend on how long the group takes to settle.
            deadline = time.time() + 60
            n = 0
            while time.time() < deadline:
                produce(topic, ["k%d:v%d" % (n + i, n + i) for i in range(40)])
                n += 40
                time.sleep(1.0)
                parts = [self._parts(o) for o in outs]
                if all(parts) and len(set().union(*parts)) == nparts:
                    break
            # Give the last batch time to arrive, then compare the steady state: after the
            # group settled each partition belongs to exactly one member.
            time.sleep(2.0)
            marks = [self._count(o) for o in outs]
            produce(topic, ["late%d:x" % i for i in range(80)])
            time.sleep(3.0)
            late = [self._parts(o, skip=m) for o, m in zip(outs, marks)]
        finally:
            for p in procs:
                p.terminate()
            for p in procs:
                try:
                    p.wait(timeout=10)
                except subprocess.TimeoutExpired:
                    p.kill()
            for o in outs:
                o.close()
            shutil.rmtree(tmp, ignore_errors=True)
        self.assertTrue(late[0], "member 1 got nothing after the group settled")
        self.assertTrue(late[1], "member 2 got nothing after the group settled")
        self.assertEqual(late[0] & late[1], set(), "a partition went to both members")
        self.assertEqual(late[0] | late[1], set(range(nparts)))

    @staticmethod
    def _lines(f):
        f.flush()
        with open(f.name) as r:
            return [l.split() for l in r.read().splitlines() if l.strip()]

    def _parts(self, f, skip=0):
        return {int(l[0]) for l in self._lines(f)[skip:]}

    def _count(self, f):
        return len(self._lines(f))

    @unittest.skipUnless(os.environ.get("AGENTHUB_VAR") and os.access(STACK, os.X_OK),
                         "needs the stack started by tests/run.sh")
    def test_broker_outage_keeps_data(self):
        topic = new_topic("agenthub.test.outage." + uuid.uuid4().hex[:12])
        produce(topic, ["k:before"])
        subprocess.run([STACK, "stop", "kafka"], check=True, capture_output=True, timeout=120)
        try:
            r = kcat("-L", "-m", "2", check=False, timeout=20)
            self.assertNotEqual(r.returncode, 0, "metadata answered while the broker was down")
        finally:
            subprocess.run([STACK, "start", "kafka"], check=True, capture_output=True,
                           timeout=180)
        rows = consume_all(topic, 1)
        self.assertEqual([(r[2], r[3]) for r in rows], [("k", "before")])


if __name__ == "__main__":
    unittest.main()
