"""The access log in batches: every line whole, none lost at a clean stop,
none written twice by a forked worker, each within ``FLUSH_EVERY``."""

from __future__ import annotations

import base64
import http.client
import logging
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
import unittest

from filestoraged.logs import FLUSH_EVERY
from filestoraged.storage.names import DEFAULT

from .s3api_support import S3ApiCase
from .support import ROOT, Daemon, ServerCase

ACCESS_LINE = re.compile(r'^\S+ \S+ INFO filestoraged\.access: 127\.0\.0\.1 "GET /kv/n\d+" 404 \d+ [\d.]+ms$')

# 8 threads x 500 lines in the parent, a fork midway whose child logs 300 of
# its own, then a plain exit: logging.shutdown must write every line.
MANY_WRITERS = """
import logging, os, threading
from filestoraged import logs
logs.configure("INFO")
log = logging.getLogger("filestoraged.access")
def write(name):
    for n in range(500):
        log.info("%s %04d %s", name, n, "x" * 180)
threads = [threading.Thread(target=write, args=("thread%d" % t,)) for t in range(8)]
for thread in threads[:4]:
    thread.start()
log.info("before the fork, maybe not flushed yet")
pid = os.fork()
if pid == 0:
    for n in range(300):
        log.info("child %04d", n)
    logging.shutdown()
    os._exit(0)
for thread in threads[4:]:
    thread.start()
for thread in threads:
    thread.join(60)
    assert not thread.is_alive(), "a writer did not end"
os.waitpid(pid, 0)
"""


class BatchedAccessLogTests(unittest.TestCase):
    def run_python(self, code: str) -> str:
        done = subprocess.run([sys.executable, "-c", code], capture_output=True, timeout=60,
                              env=dict(os.environ, PYTHONPATH=ROOT))
        self.assertEqual(done.returncode, 0, done.stderr[-2000:])
        return done.stderr.decode()

    def started_python(self, code: str) -> subprocess.Popen:
        """``code`` running, its stdout and stderr read by the test; killed at its end."""
        process = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                   env=dict(os.environ, PYTHONPATH=ROOT))
        self.addCleanup(process.stderr.close)
        self.addCleanup(process.stdout.close)
        self.addCleanup(process.wait)
        self.addCleanup(process.kill)
        return process

    def test_many_writers_and_a_fork_every_line_whole_once(self):
        lines = self.run_python(MANY_WRITERS).splitlines()
        messages = [line.split("filestoraged.access: ", 1)[1] for line in lines]
        for thread in range(8):
            mine = [m for m in messages if m.startswith("thread%d " % thread)]
            self.assertEqual(mine, ["thread%d %04d %s" % (thread, n, "x" * 180) for n in range(500)])
        self.assertEqual([m for m in messages if m.startswith("child ")], ["child %04d" % n for n in range(300)])
        self.assertEqual(messages.count("before the fork, maybe not flushed yet"), 1)
        self.assertEqual(len(lines), 8 * 500 + 300 + 1)

    def test_the_fast_path_writes_what_logging_would(self):
        code = ("import logging; from filestoraged import logs; logs.configure('INFO');"
                "logs.access_line('1.2.3.4 \"GET /x\" 200 5 0.1ms');"
                "logging.getLogger('filestoraged.access').info('1.2.3.4 \"GET /x\" 200 5 0.1ms')")
        for environ, pattern in (({}, r"^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d,\d{3} INFO filestoraged\.access: "),
                                 ({"JOURNAL_STREAM": "8:1234"}, r"^<6>INFO filestoraged\.access: ")):
            with self.subTest(environ=environ):
                done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60,
                                      env=dict(os.environ, PYTHONPATH=ROOT, **environ))
                fast, slow = done.stderr.splitlines()
                self.assertRegex(fast, pattern + r'1\.2\.3\.4 "GET /x" 200 5 0\.1ms$')
                stamp = r"^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d,\d{3} "
                self.assertEqual(re.sub(stamp, "", fast), re.sub(stamp, "", slow))

    def test_a_line_is_written_within_the_flush_interval(self):
        code = ("import logging, sys, time; from filestoraged import logs; logs.configure('INFO');"
                "logging.getLogger('filestoraged.access').info('now'); sys.stdout.write('logged\\n');"
                "sys.stdout.flush(); time.sleep(30)")
        process = self.started_python(code)
        self.assertEqual(process.stdout.readline(), b"logged\n")
        logged = time.monotonic()
        line = process.stderr.readline()  # a blocking read: returns once the batch is written
        self.assertTrue(line.rstrip().endswith(b"filestoraged.access: now"), line)
        self.assertLess(time.monotonic() - logged, FLUSH_EVERY + 5.0)  # told apart from "at exit only"

    def test_with_no_line_to_write_the_writer_sleeps_and_the_next_line_still_leaves(self):
        code = ("import logging, sys, threading, time; from filestoraged import logs; logs.configure('INFO');"
                "log = logging.getLogger('filestoraged.access'); log.info('first');"
                "writer = [t for t in threading.enumerate() if t.name == 'access-log'][0];"
                "time.sleep(1.0);"  # the first batch left; the thread is idle from here
                "count = lambda: int([l for l in open('/proc/self/task/%d/status' % writer.native_id)"
                " if l.startswith('voluntary_ctxt_switches')][0].split()[1]);"
                "before = count(); time.sleep(1.0); woke = count() - before;"
                "sys.stdout.write('%d\\n' % woke); sys.stdout.flush(); log.info('second'); time.sleep(30)")
        process = self.started_python(code)
        self.assertTrue(process.stderr.readline().rstrip().endswith(b"filestoraged.access: first"))
        # Asleep for a second with nothing to write (it woke every FLUSH_EVERY, five times a second).
        self.assertLessEqual(int(process.stdout.readline()), 1)
        self.assertTrue(process.stderr.readline().rstrip().endswith(b"filestoraged.access: second"))


class DaemonAccessLogTests(unittest.TestCase):
    def test_a_clean_stop_loses_no_access_line(self):
        folder = tempfile.mkdtemp(prefix="fsd-logs-")
        self.addCleanup(shutil.rmtree, folder, True)
        log = os.path.join(folder, "daemon.log")
        daemon = Daemon(os.path.join(folder, "store"), "--workers", "2", "--log-level", "INFO", log=log).start()
        self.addCleanup(daemon.stop)
        conn = http.client.HTTPConnection("127.0.0.1", daemon.port, timeout=30)
        for n in range(200):
            conn.request("GET", "/kv/n%d" % n)
            self.assertEqual(conn.getresponse().read()[:1], b"{")
            if n % 50 == 49:  # new connections: spread over both workers
                conn.close()
                conn = http.client.HTTPConnection("127.0.0.1", daemon.port, timeout=30)
        conn.close()
        self.assertEqual(daemon.stop(), 0)  # SIGTERM at once: the last lines are still in the batches
        with open(log) as handle:
            access = [line for line in handle.read().splitlines() if "filestoraged.access" in line]
        self.assertEqual([line for line in access if not ACCESS_LINE.match(line)], [])
        self.assertEqual(sorted(int(re.search(r"/kv/n(\d+)", line).group(1)) for line in access), list(range(200)))


if __name__ == "__main__":
    unittest.main()


class LevelsTests(S3ApiCase):
    """ERROR is for what the operator must act on: an answer to what a
    client asked (an S3 operation not offered, the quota the operator set)
    is not one (a conformance suite's run logged over a thousand such
    lines at ERROR, burying the daemon's own)."""

    config_overrides = {"s3_api": "127.0.0.1:0", "auth": "off", "max_bytes": 1000}

    def test_refusals_are_told_below_error_and_a_fault_of_ours_at_error(self):
        with self.assertLogs("filestoraged", "DEBUG") as logs:
            self.assertEqual(self.s3("GET", "/box", query={"website": ""}).status, 501)
            self.assertEqual(self.request("POST", "/files", b"x" * 2000).status, 507)
        levels = {record.getMessage().split(": ", 1)[1].split(" ", 1)[0]: record.levelname
                  for record in logs.records if ": not_implemented" in record.getMessage()
                  or ": insufficient_storage" in record.getMessage()}
        self.assertEqual(levels, {"not_implemented": "INFO", "insufficient_storage": "WARNING"}, logs.output)
        self.assertEqual([line for line in logs.output if line.startswith("ERROR")], [])
        oid = self.request("POST", "/files", b"a stored object").json()["hash"]
        path = self.app.backend.object_path(DEFAULT, oid)
        os.chmod(path, 0o600)
        with open(path, "r+b") as stored:  # a byte changed on the disk: the operator's to act on
            stored.write(b"A")
        with self.assertLogs("filestoraged", "ERROR") as logs:
            self.assertEqual(self.request("GET", "/files/" + oid).status, 500)
        self.assertIn("corrupt", logs.output[0])


class BadCredentialsTests(ServerCase):
    """A client's malformed ``Authorization`` is its fault: answered 4xx
    and told at INFO, never a traceback (the access line names no token);
    a public read, which needs no token, is answered as any."""

    config_overrides = {"auth": "writes"}

    def test_non_ascii_basic_credentials_are_answered_and_logged_without_a_traceback(self):
        oid = self.request("POST", "/files", b"shared", {
            "Authorization": "Bearer " + self.app.tokens.create(["admin"])[1]}).json()["hash"]
        targets = [("GET", "/files/" + oid), ("POST", "/files"), ("GET", "/data/x"), ("PUT", "/data/x"),
                   ("GET", "/metrics"), ("GET", "/file/abcdefgh"), ("PUT", "/file/x.txt")]
        with self.assertLogs("filestoraged", "INFO") as logs:
            for method, target in targets:
                for credentials in (b"Basic \xe9\xe9\xe9", b"Basic " + base64.b64encode("ü:ä".encode("latin-1"))):
                    with self.subTest(method=method, target=target, credentials=credentials):
                        answer = self.raw_exchange(b"%s %s HTTP/1.1\r\nHost: localhost\r\nAuthorization: %s\r\n"
                                                   b"Content-Length: 0\r\nConnection: close\r\n\r\n"
                                                   % (method.encode(), target.encode(), credentials))
                        status = int(answer.split(b" ", 2)[1])
                        self.assertLess(status, 500, answer[:300])  # a public read needs none: 200
        self.assertEqual([record.getMessage() for record in logs.records
                          if record.exc_info or record.levelno >= logging.ERROR], [])
        # (the upload made first, with its token, may be told inside the window too)
        self.assertEqual(len([r for r in logs.records if r.name == "filestoraged.access"
                              and " token=" not in r.getMessage()]), 2 * len(targets))
