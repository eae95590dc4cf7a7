"""agenthub-devbroker as a process: fixed ports, the bootstrap line and file, topics, clean
exit on SIGTERM, a clear error for a taken port, configuration errors.

Uses the binary of the flavour under test ($AGENTHUB_BIN, else build/bin) on its own ports,
apart from the stack's broker.
"""
import os
import random
import shutil
import signal
import socket
import subprocess
import tempfile
import time
import unittest

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
BIN = os.path.join(os.environ.get("AGENTHUB_BIN") or os.path.join(ROOT, "build", "bin"),
                   "agenthub-devbroker")


def free_ports(n):
    """First of n consecutive free loopback ports."""
    for _ in range(200):
        base = random.randint(40000, 60000)
        socks = []
        try:
            for p in range(base, base + n):
                s = socket.socket()
                s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
                s.bind(("127.0.0.1", p))
                socks.append(s)
            return base
        except OSError:
            continue
        finally:
            for s in socks:
                s.close()
    raise RuntimeError("no free ports")


def read_line(proc, timeout):
    """First stdout line of proc within timeout, or None."""
    import selectors
    sel = selectors.DefaultSelector()
    sel.register(proc.stdout, selectors.EVENT_READ)
    end = time.time() + timeout
    while time.time() < end:
        if sel.select(timeout=0.2):
            return proc.stdout.readline()
        if proc.poll() is not None:
            return None
    return None


@unittest.skipUnless(os.access(BIN, os.X_OK), "agenthub-devbroker not built")
class DevBrokerProcess(unittest.TestCase):
    def start(self, **env):
        e = dict(os.environ)
        e.update({k: str(v) for k, v in env.items()})
        return subprocess.Popen([BIN], env=e, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                text=True)

    def stop(self, proc):
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
        try:
            return proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
            self.fail("devbroker did not exit within 20 s of SIGTERM")

    def test_fixed_ports_topics_and_clean_exit(self):
        port = free_ports(2)
        tmp = tempfile.mkdtemp(prefix="devbroker")
        bootfile = os.path.join(tmp, "bootstrap")
        proc = self.start(DEVBROKER_PORT=port, DEVBROKER_BROKERS=2, DEVBROKER_PARTITIONS=3,
                          DEVBROKER_TOPICS="alpha.one, beta.two", DEVBROKER_BOOTSTRAP_FILE=bootfile)
        try:
            line = read_line(proc, 20)
            want = "KAFKA_BROKERS=127.0.0.1:%d,127.0.0.1:%d\n" % (port, port + 1)
            self.assertEqual(line, want)
            with open(bootfile) as f:
                self.assertEqual(f.read(), want)
            if shutil.which("kcat"):
                md = subprocess.run(["kcat", "-b", "127.0.0.1:%d" % port, "-L", "-m", "10"],
                                    capture_output=True, text=True, timeout=30).stdout
                self.assertIn("broker 1 at 127.0.0.1:%d" % port, md)
                self.assertIn("broker 2 at 127.0.0.1:%d" % (port + 1), md)
                self.assertIn('topic "alpha.one" with 3 partitions', md)
                self.assertIn('topic "beta.two" with 3 partitions', md)
        finally:
            rc = self.stop(proc)
            err = proc.stderr.read()
            proc.stdout.close()
            proc.stderr.close()
            shutil.rmtree(tmp, ignore_errors=True)
        self.assertEqual(rc, 0, err[-2000:])
        self.assertFalse(os.path.exists(bootfile), "bootstrap file left behind")
        # Every stderr line is a JSON log line.
        import json
        for l in err.splitlines():
            json.loads(l)
        # The ports are free again.
        s = socket.socket()
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        s.bind(("127.0.0.1", port))
        s.close()

    def test_taken_port_is_a_clear_error(self):
        port = free_ports(1)
        holder = socket.socket()
        holder.bind(("127.0.0.1", port))
        holder.listen()
        try:
            proc = self.start(DEVBROKER_PORT=port)
            out, err = proc.communicate(timeout=20)
            rc = proc.returncode
            self.assertEqual(out, "")
        finally:
            holder.close()
        self.assertEqual(rc, 1, err)  # an error exit, not librdkafka's assertion (SIGABRT)
        self.assertIn("cannot listen on 127.0.0.1:%d" % port, err)

    def test_restart_on_same_port(self):
        port = free_ports(1)
        for _ in range(2):
            proc = self.start(DEVBROKER_PORT=port)
            try:
                self.assertEqual(read_line(proc, 20), "KAFKA_BROKERS=127.0.0.1:%d\n" % port)
                if shutil.which("kcat"):
                    # Leave a client connection behind so the port has TIME_WAIT state.
                    subprocess.run(["kcat", "-b", "127.0.0.1:%d" % port, "-L", "-m", "5"],
                                   capture_output=True, timeout=30)
            finally:
                rc = self.stop(proc)
                proc.stdout.close()
                proc.stderr.close()
                self.assertEqual(rc, 0)

    def test_config(self):
        r = subprocess.run([BIN, "--print-config"], capture_output=True, text=True, timeout=10,
                           env=dict(os.environ, DEVBROKER_PORT="23456"))
        self.assertEqual(r.returncode, 0)
        self.assertIn("DEVBROKER_PORT=23456", r.stdout)
        self.assertIn("DEVBROKER_PARTITIONS=4", r.stdout)
        r = subprocess.run([BIN], capture_output=True, text=True, timeout=10,
                           env=dict(os.environ, DEVBROKER_BROKERS="0", DEVBROKER_PORT="x"))
        self.assertEqual(r.returncode, 2)
        self.assertIn("DEVBROKER_BROKERS", r.stderr)
        self.assertIn("DEVBROKER_PORT", r.stderr)


if __name__ == "__main__":
    unittest.main()
