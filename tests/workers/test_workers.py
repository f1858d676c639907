"""``--workers 2``: a parent and two worker processes behind one socket.
What must agree across processes does (share-link counts, the KV store and
its cache, the quota, password limits, /metrics), and the parent keeps the
workers alive, stops them gracefully and replaces them on SIGHUP."""

from __future__ import annotations

import http.client
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import unittest
from unittest import mock
from concurrent.futures import ThreadPoolExecutor
from typing import Dict, List, Tuple
from urllib.parse import urlsplit

from filestoraged.workers import cpu_limit, worker_count
from filestoraged.workers.affinity import home, share

from ..s3api_support import boto3_or_skip
from ..support import (MIB, ROOT, Daemon, Threads, connection_refused, daemon_workers, files_being_written, free_port,
                      multipart, payload, sha256, wait_until)


def connect(port: int) -> http.client.HTTPConnection:
    return http.client.HTTPConnection("127.0.0.1", port, timeout=30)


def call(conn, method: str, path: str, body=None, headers=None):
    conn.request(method, path, body, headers or {})
    response = conn.getresponse()
    return response.status, response.read()


def threads_cpus(pid: int) -> Dict[int, frozenset]:
    """The CPUs each thread of process ``pid`` may run on, by thread id
    (a thread that ended meanwhile left out)."""
    found = {}
    for task in os.listdir("/proc/%d/task" % pid):
        try:
            found[int(task)] = frozenset(os.sched_getaffinity(int(task)))
        except ProcessLookupError:
            pass
    return found


def pinned(port: int, per_worker: int = 1, workers: int = 2) -> Dict[int, List[http.client.HTTPConnection]]:
    """Keep-alive connections by the pid of the worker holding each: new
    connections are made until every worker holds ``per_worker``."""
    found: Dict[int, List[http.client.HTTPConnection]] = {}
    deadline = time.monotonic() + 20
    while len(found) < workers or any(len(conns) < per_worker for conns in found.values()):
        if time.monotonic() > deadline:
            raise AssertionError("connections never reached %d workers: %s" % (workers, list(found)))
        conn = connect(port)
        status, body = call(conn, "GET", "/healthz")
        pid = json.loads(body)["pid"]
        if len(found.get(pid, [])) < per_worker:
            found.setdefault(pid, []).append(conn)
        else:
            conn.close()
    return found


class Outcomes:
    """Requests made in a loop across a change: how many answered 200, and
    every failure (a status, or the error a connection ended in)."""

    def __init__(self) -> None:
        self.ok = 0
        self.failed: list = []

    def run(self, exchange) -> None:
        try:
            status = exchange()
        except (OSError, http.client.HTTPException) as error:
            self.failed.append(repr(error))
            return
        if status == 200:
            self.ok += 1
        else:
            self.failed.append(status)


class WorkersCase(unittest.TestCase):
    args: tuple = ()

    def setUp(self) -> None:
        self.data_dir = tempfile.mkdtemp(prefix="fsd-workers-")
        self.addCleanup(shutil.rmtree, self.data_dir, True)
        self.daemon = Daemon(self.data_dir, "--workers", "2", *self.args).start()
        self.addCleanup(self.daemon.stop)
        self.port = self.daemon.port
        self.parent = self.daemon.process.pid
        wait_until(lambda: len(daemon_workers(self.parent)) == 2, "two workers run")
        for conns in pinned(self.port).values():  # and both serve
            for conn in conns:
                conn.close()

    def conns(self, per_worker: int = 1):
        found = pinned(self.port, per_worker)
        for conns in found.values():
            for conn in conns:
                self.addCleanup(conn.close)
        return found


class SharedStateTests(WorkersCase):
    args = ("--max-bytes", "1M")

    def test_two_workers_both_serve(self):
        workers = daemon_workers(self.parent)
        self.assertEqual(sorted(self.conns()), sorted(workers))
        self.assertNotIn(self.parent, workers)

    def test_a_once_link_hit_by_8_concurrent_gets_is_downloaded_once(self):
        (a, b) = self.conns(per_worker=4).values()
        body, ctype = multipart({"max_downloads": "1", "file": ("once.txt", b"only once", "text/plain")})
        status, reply = call(a[0], "POST", "/file", body, {"Content-Type": ctype})
        self.assertEqual(status, 201, reply)
        path = urlsplit(json.loads(reply)["url"]).path
        start = threading.Barrier(8)

        def get(conn):
            start.wait(10)
            return call(conn, "GET", path)

        with ThreadPoolExecutor(8) as pool:
            results = list(pool.map(get, a + b))
        self.assertEqual(sorted(status for status, _ in results), [200] + [410] * 7)
        self.assertIn((200, b"only once"), results)

    def test_a_commit_in_one_worker_is_seen_by_the_next_get_in_the_other(self):
        (a,), (b,) = self.conns().values()
        for value in ("first", "second", "third"):
            with self.subTest(value=value):
                self.assertIn(call(a, "POST", "/kv/set", json.dumps({"key": value}))[0], (200, 201))
                self.assertEqual(call(a, "POST", "/kv/commit")[0], 204)
                for _ in range(2):  # the second read comes from b's cache, if it kept one
                    status, body = call(b, "GET", "/kv/key")
                    self.assertEqual((status, json.loads(body)), (200, {"key": value}))

    def test_twenty_connections_setting_committing_and_reading_see_one_store(self):
        a, b = self.conns(per_worker=20).values()
        # Connection i writes in one worker and reads in the other: 0-9 write
        # in a, 10-19 in b.
        writers, readers = a[:10] + b[10:], b[:10] + a[10:]
        start = threading.Barrier(20)

        def work(index):
            mine, other = writers[index], readers[index]
            start.wait(10)
            seen = []
            for round_ in range(5):
                key = "k%d" % index
                self.assertIn(call(mine, "POST", "/kv/set", json.dumps({key: [index, round_]}))[0], (200, 201))
                self.assertEqual(call(mine, "POST", "/kv/commit")[0], 204)
                status, body = call(other, "GET", "/kv/" + key)  # read in the other worker
                seen.append((status, json.loads(body)[key]))
            return seen

        with ThreadPoolExecutor(20) as pool:
            results = list(pool.map(work, range(20)))
        for index, seen in enumerate(results):
            # Only this connection writes its key: after its own commit, the
            # other worker reads exactly the value it set.
            self.assertEqual(seen, [(200, [index, round_]) for round_ in range(5)])
        for group in (a, b):  # both workers read the same final store
            for index in range(20):
                self.assertEqual(json.loads(call(group[0], "GET", "/kv/k%d" % index)[1]), {"k%d" % index: [index, 4]})

    def test_the_quota_holds_across_workers(self):
        (a,), (b,) = self.conns().values()
        self.assertEqual(call(a, "POST", "/files", payload(600 * 1024, seed=1))[0], 200)
        status, body = call(b, "POST", "/files", payload(600 * 1024, seed=2))
        self.assertEqual((status, json.loads(body)["error"]), (507, "insufficient_storage"))
        self.assertEqual(call(b, "POST", "/files", payload(300 * 1024, seed=3))[0], 200)
        status, body = call(a, "POST", "/files", payload(300 * 1024, seed=4))
        self.assertEqual(status, 507)
        self.assertEqual(os.listdir(os.path.join(self.data_dir, ".tmp")), [])

    def test_wrong_passwords_in_both_workers_meet_one_limit(self):
        (a,), (b,) = self.conns().values()
        body, ctype = multipart({"password": "right", "file": ("f.txt", b"secret", "text/plain")})
        path = urlsplit(json.loads(call(a, "POST", "/file", body, {"Content-Type": ctype})[1])["url"]).path
        import base64

        def attempt(conn, password):
            auth = "Basic " + base64.b64encode(b"x:" + password.encode()).decode()
            return call(conn, "GET", path, headers={"Authorization": auth})[0]

        self.assertEqual([attempt(conn, "wrong") for conn in (a, b, a, b, a)], [401] * 5)
        self.assertEqual(attempt(b, "right"), 429)
        self.assertEqual(attempt(a, "right"), 429)

    def test_metrics_from_either_worker_count_the_requests_of_both(self):
        (a,), (b,) = self.conns().values()
        for conn in (a, b):
            for _ in range(20):
                self.assertEqual(call(conn, "GET", "/files/" + "0" * 64)[0], 404)
        wanted = 'filestoraged_requests_total{face="files",method="GET",status="404"} 40'

        def totals_seen(conn):
            text = call(conn, "GET", "/metrics")[1].decode()
            return wanted in text.splitlines() and "filestoraged_workers 2" in text

        wait_until(lambda: totals_seen(a) and totals_seen(b), "both workers' /metrics show all 40 requests",
                   timeout=10)


class LifecycleTests(WorkersCase):
    def test_a_killed_worker_is_replaced_and_the_parent_stays(self):
        victim = daemon_workers(self.parent)[0]
        os.kill(victim, signal.SIGKILL)
        started = time.monotonic()
        wait_until(lambda: len(daemon_workers(self.parent)) == 2 and victim not in daemon_workers(self.parent),
                   "a new worker runs", timeout=5)
        replacement = (set(daemon_workers(self.parent)) - {victim}).pop()
        wait_until(lambda: replacement in pinned(self.port), "the new worker serves", timeout=5)
        self.assertLess(time.monotonic() - started, 5)
        self.assertIsNone(self.daemon.process.poll())
        self.assertEqual(daemon_workers(self.parent), sorted(daemon_workers(self.parent)))

    def test_a_worker_killed_mid_upload_leaves_no_temporary_file(self):
        tmp_dir = os.path.join(self.data_dir, ".tmp")
        with socket.create_connection(("127.0.0.1", self.port), timeout=30) as sock:
            sock.sendall(b"POST /files HTTP/1.1\r\nHost: localhost\r\nContent-Length: %d\r\n\r\n" % (20 * MIB))
            sock.sendall(payload(4 * MIB, seed=9))
            wait_until(lambda: files_being_written(tmp_dir, daemon_workers(self.parent)), "the upload is written")
            holder = files_being_written(tmp_dir, daemon_workers(self.parent))[0][0]
            os.kill(holder, signal.SIGKILL)
            # A named file the parent sweeps as it replaces the worker; one with
            # no name went with the worker.
            wait_until(lambda: not [n for n in os.listdir(tmp_dir) if n.startswith("put-")],
                       "the dead worker's upload is gone")
        self.assertIsNone(self.daemon.process.poll())

    def test_a_second_daemon_on_the_same_data_directory_exits_with_one_line(self):
        tmp_dir = os.path.join(self.data_dir, ".tmp")
        with socket.create_connection(("127.0.0.1", self.port), timeout=30) as sock:
            sock.sendall(b"POST /files HTTP/1.1\r\nHost: localhost\r\nContent-Length: %d\r\n\r\n" % MIB)
            sock.sendall(payload(MIB // 2, seed=10))
            wait_until(lambda: files_being_written(tmp_dir, daemon_workers(self.parent)), "the upload is written")
            for workers in ("2", "1"):
                with self.subTest(workers=workers):
                    second = Daemon(self.data_dir, "--workers", workers).start(wait=False)
                    code = second.process.wait(30)
                    err = second.process.stderr.read().decode()
                    second.process.stderr.close()
                    self.assertEqual(code, 1, err)
                    self.assertEqual(err.strip().count("\n"), 0, err)
                    self.assertTrue(err.startswith("filestoraged: data directory %s is in use by pid %d: stop it first"
                                                   % (os.path.realpath(self.data_dir), self.parent)), err)
            self.assertTrue(files_being_written(tmp_dir, daemon_workers(self.parent)),
                            "the second daemon swept an upload in flight")
            sock.sendall(payload(MIB, seed=10)[MIB // 2:])
            answer = sock.recv(65536)
        self.assertTrue(answer.startswith(b"HTTP/1.1 200 "), answer[:200])
        # fsck, --repair too, runs beside it (its changes take the lock uploads take).
        import subprocess
        import sys

        from ..support import ROOT

        env = dict(os.environ, PYTHONPATH=ROOT)
        for extra in (["--repair"], []):
            checked = subprocess.run([sys.executable, "-m", "filestoraged", "fsck", *extra, "--data-dir",
                                      self.data_dir], capture_output=True, text=True, timeout=60, env=env)
            self.assertEqual(checked.returncode, 0, checked.stderr)
            self.assertIn("1 objects checked", checked.stdout)

    def test_sigterm_lets_uploads_in_both_workers_finish_then_exit_0(self):
        data = [payload(4 * MIB, seed=seed) for seed in (1, 2)]
        socks = []
        for (conn,) in self.conns().values():
            conn.sock.sendall(b"POST /files HTTP/1.1\r\nHost: localhost\r\nContent-Length: %d\r\n\r\n" % (4 * MIB))
            conn.sock.sendall(data[len(socks)][:MIB])
            socks.append(conn)
        wait_until(lambda: len(files_being_written(os.path.join(self.data_dir, ".tmp"), daemon_workers(self.parent)))
                   == 2, "both uploads are being written")
        self.daemon.process.send_signal(signal.SIGTERM)
        wait_until(lambda: connection_refused(self.port), "new connections are refused", timeout=5)
        for conn, body in zip(socks, data):
            conn.sock.sendall(body[MIB:])
        for conn, body in zip(socks, data):
            response = http.client.HTTPResponse(conn.sock)
            response.begin()
            self.assertEqual((response.status, json.loads(response.read())["hash"]), (200, sha256(body)))
        self.assertEqual(self.daemon.process.wait(30), 0)

    def test_sighup_replaces_the_workers_without_refusing_a_connection(self):
        old = set(daemon_workers(self.parent))
        done = threading.Event()
        outcomes = Outcomes()

        def health() -> int:
            conn = connect(self.port)
            try:
                return call(conn, "GET", "/healthz")[0]
            finally:
                conn.close()

        def hammer():
            while not done.is_set():
                outcomes.run(health)

        with Threads(60) as threads:
            for _ in range(4):
                threads.start(hammer)
            try:
                wait_until(lambda: outcomes.ok > 20, "requests flow")
                os.kill(self.parent, signal.SIGHUP)
                wait_until(lambda: len(daemon_workers(self.parent)) == 2
                           and not old & set(daemon_workers(self.parent)), "two new workers replaced the old ones")
                before = outcomes.ok
                wait_until(lambda: outcomes.ok > before + 20, "the new workers serve")
            finally:
                done.set()
        self.assertEqual(outcomes.failed, [])
        self.assertIsNone(self.daemon.process.poll())


class ReloadedConfigurationTests(unittest.TestCase):
    """SIGHUP reads the configuration file again; a bad one is logged and
    the running one kept."""

    def test_sighup_applies_a_new_configuration_and_keeps_the_running_one_when_it_is_bad(self):
        folder = tempfile.mkdtemp(prefix="fsd-reload-")
        self.addCleanup(shutil.rmtree, folder, True)
        settings, log = os.path.join(folder, "filestoraged.ini"), os.path.join(folder, "daemon.log")
        with open(settings, "w") as out:
            out.write("[filestoraged]\nmax-size = 1000\n")
        daemon = Daemon(os.path.join(folder, "store"), "--workers", "2", "--config", settings, log=log,
                        log_level="INFO").start()
        self.addCleanup(daemon.stop)
        parent = daemon.process.pid
        wait_until(lambda: len(daemon_workers(parent)) == 2, "two workers run")

        def upload_status() -> int:
            conn = connect(daemon.port)
            try:
                return call(conn, "POST", "/files", b"x" * 2000)[0]
            finally:
                conn.close()

        self.assertEqual(upload_status(), 413)
        with open(settings, "w") as out:
            out.write("[filestoraged]\nmax-size = 5000\n")
        old = set(daemon_workers(parent))
        os.kill(parent, signal.SIGHUP)
        wait_until(lambda: len(daemon_workers(parent)) == 2 and not old & set(daemon_workers(parent)),
                   "two new workers replaced the old ones")
        wait_until(lambda: upload_status() == 200, "the new size limit holds")
        with open(settings, "w") as out:
            out.write("[filestoraged]\nmax-size = plenty\n")
        running = set(daemon_workers(parent))
        os.kill(parent, signal.SIGHUP)
        def logged() -> str:
            with open(log) as handle:
                return handle.read()

        wait_until(lambda: "the configuration does not load" in logged(), "the bad configuration is logged")
        self.assertEqual(set(daemon_workers(parent)), running)  # the running workers stay
        self.assertEqual(upload_status(), 200)
        self.assertIsNone(daemon.process.poll())


class OneProcessReloadTests(unittest.TestCase):
    def test_sighup_to_a_daemon_of_one_process_is_said_and_it_serves_on(self):
        """``systemctl reload`` of ``--workers 1`` (what auto gives on one
        CPU) ended the daemon: SIGHUP was left to its default."""
        folder = tempfile.mkdtemp(prefix="fsd-one-")
        self.addCleanup(shutil.rmtree, folder, True)
        log = os.path.join(folder, "daemon.log")
        daemon = Daemon(os.path.join(folder, "store"), "--workers", "1", log=log).start()
        self.addCleanup(daemon.stop)
        os.kill(daemon.process.pid, signal.SIGHUP)

        def said() -> str:
            with open(log) as handle:
                return handle.read()

        wait_until(lambda: "SIGHUP: a daemon of one process" in said() or daemon.process.poll() is not None,
                   "the reload is answered")
        self.assertIsNone(daemon.process.poll(), said())
        conn = connect(daemon.port)
        self.addCleanup(conn.close)
        self.assertEqual(call(conn, "GET", "/healthz")[0], 200)
        self.assertEqual(daemon.stop(), 0)


class UpgradeInPlaceTests(unittest.TestCase):
    """New code installed, then SIGHUP (``systemctl reload``): the daemon
    runs it, in the same process, without refusing or failing a request;
    code that does not start is logged and the running code kept. The
    daemon runs from a copy of the package that the test changes, as an
    upgrade changes the installed one."""

    def setUp(self) -> None:
        self.folder = tempfile.mkdtemp(prefix="fsd-upgrade-")
        self.addCleanup(shutil.rmtree, self.folder, True)
        self.code = os.path.join(self.folder, "code")
        shutil.copytree(os.path.join(ROOT, "filestoraged"), os.path.join(self.code, "filestoraged"),
                        ignore=shutil.ignore_patterns("__pycache__"))
        self.log = os.path.join(self.folder, "daemon.log")
        self.daemon = Daemon(os.path.join(self.folder, "store"), "--workers", "2", env={"PYTHONPATH": self.code},
                             log=self.log, log_level="INFO", cwd=self.folder).start()
        self.addCleanup(self.daemon.stop)
        self.parent = self.daemon.process.pid
        wait_until(lambda: len(daemon_workers(self.parent)) == 2, "two workers run")

    def install(self, version: str, broken: bool = False) -> None:
        """The package's version changed, as a new release installed over it."""
        init = os.path.join(self.code, "filestoraged", "__init__.py")
        with open(init) as found:
            text = found.read()
        text = re.sub(r'__version__ = "[^"]*"', '__version__ = "%s"' % version, text)
        with open(init, "w") as out:
            out.write(text + ("\nimport a_module_nobody_installed\n" if broken else ""))

    def said(self) -> str:
        with open(self.log) as handle:
            return handle.read()

    def versions(self, asks: int = 8) -> set:
        found = set()
        for _ in range(asks):
            conn = connect(self.daemon.port)
            try:
                found.add(json.loads(call(conn, "GET", "/healthz")[1])["version"])
            finally:
                conn.close()
        return found

    def upgraded_while(self, exchange, clients: int, flow: int) -> "Outcomes":
        """``exchange(client, number)`` made in a loop by ``clients`` threads
        while new code is installed and the daemon reloaded, until the new
        workers have served ``flow`` more; the outcomes."""
        old = set(daemon_workers(self.parent))
        done = threading.Event()
        outcomes = Outcomes()

        def loop(client: int) -> None:
            sent = 0
            while not done.is_set():
                sent += 1
                outcomes.run(lambda sent=sent: exchange(client, sent))

        with Threads(90) as threads:
            for client in range(clients):
                threads.start(loop, client)
            try:
                wait_until(lambda: outcomes.ok > flow, "requests flow")
                self.install("9.9.9")
                os.kill(self.parent, signal.SIGHUP)
                wait_until(lambda: not old & set(daemon_workers(self.parent)) and self.versions() == {"9.9.9"},
                           "workers of the new code replaced the old ones", timeout=60)
                before = outcomes.ok
                wait_until(lambda: outcomes.ok > before + flow, "the new workers serve")
            finally:
                done.set()
        return outcomes

    def test_a_reload_after_new_code_is_installed_runs_it_and_refuses_nothing(self):
        running = self.versions().pop()

        def round_trip(client: int, number: int):
            body = b"upload %d-%d" % (client, number)
            conn = connect(self.daemon.port)
            try:
                status, _ = call(conn, "POST", "/files", body)
                if status != 200:
                    return status
                status, got = call(conn, "GET", "/files/" + sha256(body))
                return status if got == body else "wrong bytes"
            finally:
                conn.close()

        outcomes = self.upgraded_while(round_trip, clients=4, flow=20)
        self.assertEqual(outcomes.failed, [])
        self.assertIsNone(self.daemon.process.poll())  # the same process: systemd's MAINPID holds
        self.assertEqual(len(daemon_workers(self.parent)), 2)
        self.assertIn("filestoraged 9.9.9 installed (this is %s): upgrading in place" % running, self.said())
        self.assertIn("upgraded in place from filestoraged %s" % running, self.said())
        self.assertEqual(self.daemon.stop(), 0)
        self.assertNotIn("Traceback", self.said())

    def test_an_upgrade_over_keys_of_the_old_form_stops_the_old_workers_before_converting(self):
        """A store whose versions are in the form before key heads (as the
        old code left them: here written by hand, the conversion's mark
        taken away): the new parent lets every old worker finish first, as
        they would write keys in the old form, then converts, then starts
        its own; requests meanwhile wait and none fails."""
        from filestoraged.catalog.buckets import Buckets
        from filestoraged.catalog.heads import Head
        from filestoraged.catalog.keys import Entry, head_name
        from filestoraged.catalog.names import encode_key
        from filestoraged.catalog.old_versions import FORMAT, HEADS_FORM
        from filestoraged.records.local import LocalRecords

        answered = set()

        def both_serve() -> bool:  # each worker past its start, where it converts a store it finds unconverted
            conn = connect(self.daemon.port)
            try:
                answered.add(json.loads(call(conn, "GET", "/healthz")[1])["pid"])
            finally:
                conn.close()
            return answered >= set(daemon_workers(self.parent))

        wait_until(both_serve, "both workers serve")
        older, newest = "0000000000000002aaaaaaaa", "0000000000000001aaaaaaaa"
        records = LocalRecords(os.path.join(self.folder, "store", "meta.db"))
        self.addCleanup(records.close)
        Buckets(records).create("b")
        records.create("s3/versions/b/%s,%s" % (encode_key("k"), older),
                       Entry("ab" * 32, 3, "etag", 1000.0, version=older).record())
        records.create("s3/versions/b/%s,%s" % (encode_key("k"), newest),
                       {"marker": True, "modified": 2000.0, "version": newest})
        self.assertTrue(records.delete(FORMAT))
        outcomes = self.upgraded_while(lambda client, number: self.versions(1) and 200, clients=1, flow=5)
        self.assertEqual(outcomes.failed, [])
        self.assertIn("its S3 keys change form, so its 2 workers stop before the new ones start", self.said())
        self.assertTrue(HEADS_FORM.done(records))
        head = Head.of(records.get(head_name("b", "k")).value)
        self.assertEqual((head.current, [item["id"] for item in head.older]), (None, [newest, older]))
        self.assertEqual(self.daemon.stop(), 0)
        self.assertNotIn("Traceback", self.said())

    def test_installed_code_that_does_not_start_is_said_and_the_running_code_kept(self):
        running = self.versions().pop()
        old = set(daemon_workers(self.parent))
        self.install("9.9.9", broken=True)
        os.kill(self.parent, signal.SIGHUP)
        wait_until(lambda: "does not start" in self.said(), "the broken code is said")
        self.assertIn("the code installed (filestoraged 9.9.9) does not start (ModuleNotFoundError: No module "
                      "named 'a_module_nobody_installed'): keeping filestoraged %s" % running, self.said())
        wait_until(lambda: len(daemon_workers(self.parent)) == 2 and not old & set(daemon_workers(self.parent)),
                   "the workers replaced, as a reload does")
        self.assertEqual(self.versions(), {running})
        self.assertEqual(self.daemon.stop(), 0)


class ServerKeyRotationTests(unittest.TestCase):
    def test_a_new_server_key_takes_effect_on_reload_and_token_rotate_gives_the_new_pair(self):
        """docs/security.md, "Rotating the S3 server key": the file
        replaced, ``systemctl reload`` (SIGHUP), ``token rotate``; no
        restart, no request refused meanwhile."""
        boto3 = boto3_or_skip(self)
        from botocore.config import Config
        from botocore.exceptions import ClientError

        folder = tempfile.mkdtemp(prefix="fsd-s3key-")
        self.addCleanup(shutil.rmtree, folder, True)
        store, s3_port = os.path.join(folder, "store"), free_port()
        os.makedirs(store)

        def token(*words: str) -> Dict[str, str]:
            done = subprocess.run([sys.executable, "-m", "filestoraged", "token", *words, "--data-dir", store],
                                  capture_output=True, text=True, timeout=60, cwd=ROOT,
                                  env=dict(os.environ, PYTHONPATH=ROOT))
            self.assertEqual(done.returncode, 0, done.stderr)
            return dict(line.split("=", 1) for line in done.stdout.splitlines() if "=" in line)

        def buckets(pair: Dict[str, str]) -> list:
            client = boto3.client("s3", endpoint_url="http://127.0.0.1:%d" % s3_port, region_name="us-east-1",
                                  aws_access_key_id=pair["AWS_ACCESS_KEY_ID"],
                                  aws_secret_access_key=pair["AWS_SECRET_ACCESS_KEY"],
                                  config=Config(retries={"max_attempts": 1}))
            return client.list_buckets()["Buckets"]

        old = token("create", "--scope", "admin", "--s3", "--name", "backup-host")
        daemon = Daemon(store, "--workers", "2", "--s3-api", "127.0.0.1:%d" % s3_port, "--auth", "all").start()
        self.addCleanup(daemon.stop)
        self.assertEqual(buckets(old), [])
        key_file = os.path.join(store, "s3.key")
        with open(key_file + ".new", "w") as new_key:  # as the docs do it: written whole, then moved in place
            new_key.write(os.urandom(32).hex() + "\n")
        os.chmod(key_file + ".new", 0o600)
        os.replace(key_file + ".new", key_file)
        workers = set(daemon_workers(daemon.process.pid))
        os.kill(daemon.process.pid, signal.SIGHUP)
        wait_until(lambda: len(daemon_workers(daemon.process.pid)) == 2
                   and not workers & set(daemon_workers(daemon.process.pid)), "the workers replaced")
        with self.assertRaises(ClientError) as refused:
            buckets(old)
        self.assertEqual(refused.exception.response["Error"]["Code"], "SignatureDoesNotMatch")
        self.assertEqual(buckets(token("rotate", "backup-host")), [])
        self.assertIsNone(daemon.process.poll())


class KilledMidDownloadTests(WorkersCase):
    """A once-link's reservation held by a transfer that a real kill cut (of
    the worker serving it, or of the whole daemon) is given back: the link
    still downloads once."""

    def once_link(self) -> str:
        body, content_type = multipart({"file": ("film.bin", payload(24 * MIB, seed=71), "application/octet-stream")})
        conn = connect(self.port)
        conn.request("PUT", "/file", body, {"Content-Type": content_type})
        reply = conn.getresponse()
        self.assertEqual(reply.status, 201)
        path = "/file/" + json.loads(reply.read())["url"].rsplit("/", 1)[1]
        conn.close()
        return path

    def stalled_download(self, path: str):
        """A connection held by one worker (its pid) whose download of
        ``path`` started and stalls: the client reads nothing more."""
        pid, conns = next(iter(self.conns().items()))
        conn = conns[0]
        conn.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        conn.sock.sendall(("GET %s HTTP/1.1\r\nHost: localhost\r\n\r\n" % path).encode())
        self.assertIn(b" 200 ", conn.sock.recv(4096))
        return pid, conn

    def status_of(self, path: str) -> int:
        conn = connect(self.port)
        try:
            conn.request("HEAD", path)
            return conn.getresponse().status
        finally:
            conn.close()

    def test_a_killed_worker_gives_its_reservation_back(self):
        path = self.once_link()
        pid, _ = self.stalled_download(path)
        self.assertEqual(self.status_of(path), 410)  # the one download is held by the transfer
        os.kill(pid, signal.SIGKILL)
        wait_until(lambda: len(daemon_workers(self.parent)) == 2 and pid not in daemon_workers(self.parent),
                   "the killed worker was replaced")
        wait_until(lambda: self.status_of(path) == 200, "the reservation came back")

    def test_a_killed_daemon_gives_its_reservation_back_at_start(self):
        path = self.once_link()
        self.stalled_download(path)
        self.assertEqual(self.status_of(path), 410)
        self.daemon.kill()
        self.daemon.start()
        self.parent = self.daemon.process.pid
        wait_until(lambda: len(daemon_workers(self.parent)) == 2, "two workers run again")
        self.assertEqual(self.status_of(path), 200)
        conn = connect(self.port)
        status, body = call(conn, "GET", path)
        conn.close()
        self.assertEqual((status, len(body)), (200, 24 * MIB))
        self.assertEqual(self.status_of(path), 410)  # and now it is spent


class GuessingAcrossWorkersTests(WorkersCase):
    args = ("--auth", "writes")

    def test_wrong_tokens_get_at_most_ten_checks_whatever_workers_they_reach(self):
        pinned_conns = self.conns(per_worker=10)  # 10 keep-alive connections held by each worker
        self.assertEqual(len(pinned_conns), 2)

        def guess(conn) -> list:
            return [call(conn, "POST", "/files", b"guess", {"Authorization": "Bearer wrong-%d" % n})[0]
                    for n in range(5)]

        with Threads(120) as threads:
            for conns in pinned_conns.values():
                for conn in conns:
                    threads.start(guess, conn)
        statuses = [status for result in threads.results for status in result]
        by_worker = [sorted(set(status for result in threads.results[i * 10:(i + 1) * 10] for status in result))
                     for i in range(2)]
        self.assertEqual(len(statuses), 100)
        self.assertEqual(statuses.count(401), 10, statuses)  # exactly the limit was checked
        self.assertEqual(statuses.count(401) + statuses.count(429), 100, statuses)
        self.assertTrue(all(429 in seen for seen in by_worker), by_worker)  # both workers refused guesses

    def test_valid_tokens_are_never_refused_for_other_requests_in_flight(self):
        # One address (a CI job, an office NAT, git-lfs's 8 transfers), only
        # valid tokens, 40 at a time over both workers: all stored, none 429.
        made = subprocess.run([sys.executable, "-m", "filestoraged", "token", "create", "--scope", "files:write",
                               "--data-dir", self.data_dir], capture_output=True, text=True, check=True,
                              env=self.daemon.env)
        token = made.stdout.split()[-1]

        def upload(number: int) -> list:
            conn = connect(self.port)
            try:
                return [call(conn, "POST", "/files", b"upload %d.%d" % (number, n),
                             {"Authorization": "Bearer " + token})[0] for n in range(5)]
            finally:
                conn.close()

        with Threads(120) as threads:
            for number in range(40):
                threads.start(upload, number)
        statuses = [status for result in threads.results for status in result]
        self.assertEqual(statuses, [200] * 200)


class WatchdogTests(unittest.TestCase):
    def test_the_watchdog_is_pinged_only_while_every_worker_beats(self):
        from .test_ops import notify_listener, receive_until

        listener, address = notify_listener(self)
        folder = tempfile.mkdtemp(prefix="fsd-workers-")
        self.addCleanup(shutil.rmtree, folder, True)
        daemon = Daemon(folder, "--workers", "2", env={"NOTIFY_SOCKET": address, "WATCHDOG_USEC": "400000"}).start()
        self.addCleanup(daemon.stop)
        receive_until(listener, "READY=1")
        receive_until(listener, "WATCHDOG=1")
        stuck = daemon_workers(daemon.process.pid)[0]
        os.kill(stuck, signal.SIGSTOP)  # its accept loop stops beating
        self.addCleanup(os.kill, stuck, signal.SIGCONT)
        # Pings go on until the silence is noticed (1.5 s), then stop: a
        # second without one comes within 10 s (systemd would restart us).
        listener.settimeout(1.0)
        deadline = time.monotonic() + 10
        stopped = False
        while not stopped and time.monotonic() < deadline:
            try:
                listener.recv(4096)
            except socket.timeout:
                stopped = True
        self.assertTrue(stopped, "the watchdog was still pinged 10 s after a worker stopped beating")
        os.kill(stuck, signal.SIGCONT)
        listener.settimeout(10)
        receive_until(listener, "WATCHDOG=1")  # beating again: pinged again


class StartTests(unittest.TestCase):
    def started_and_stopped(self, workers: int, *args: str) -> Tuple[Daemon, str]:
        """A daemon of ``workers`` workers, once all run, stopped: it and what it said."""
        folder = tempfile.mkdtemp(prefix="fsd-workers-")
        self.addCleanup(shutil.rmtree, folder, True)
        daemon = Daemon(folder, "--workers", str(workers), "--log-level", "INFO", *args).start()
        wait_until(lambda: len(daemon_workers(daemon.process.pid)) == workers, "the workers run")
        daemon.process.send_signal(signal.SIGTERM)
        _, stderr = daemon.process.communicate(timeout=30)
        self.assertEqual(daemon.process.returncode, 0, stderr)
        return daemon, stderr.decode()

    def test_the_start_line_names_the_workers(self):
        daemon, stderr = self.started_and_stopped(3)
        cpus = len(os.sched_getaffinity(0))
        mine = share(list(range(cpus)), 3, 0)
        said = ("each on %d of %d CPUs" % (len(mine), cpus) if mine else
                "sharing %d CPU%s" % (cpus, "" if cpus == 1 else "s"))
        self.assertRegex(stderr, r"serving http://127\.0\.0\.1:%d, data in .* \(disk backend, 3 workers, %s\)"
                         % (daemon.port, said))
        self.assertEqual(len(re.findall(r"workers\.process: stopped", stderr)), 3)

    def test_the_start_line_says_when_each_workers_own_threads_keep_one_cpu(self):
        _, stderr = self.started_and_stopped(2, "--cpu-affinity", "one")
        cpus = len(os.sched_getaffinity(0))
        mine = share(list(range(cpus)), 2, 0)
        said = ("each on 1 of %d CPUs, its helpers on %d" % (cpus, len(mine or range(cpus))) if cpus > 1 else
                "sharing 1 CPU")
        self.assertRegex(stderr, r"\(disk backend, 2 workers, %s\)" % said)


if __name__ == "__main__":
    unittest.main()


class CpuLimitTests(unittest.TestCase):
    """``--workers auto`` in a container: its cgroup's CPU limit, not the host's cores."""

    def hierarchy(self, own: str, files: dict) -> tuple:
        root = tempfile.mkdtemp(prefix="fsd-cgroup-")
        self.addCleanup(shutil.rmtree, root, True)
        for path, text in files.items():
            os.makedirs(os.path.dirname(os.path.join(root, path)), exist_ok=True)
            with open(os.path.join(root, path), "w") as handle:
                handle.write(text)
        with open(os.path.join(root, "self-cgroup"), "w") as handle:
            handle.write(own)
        return os.path.join(root, "fs"), os.path.join(root, "self-cgroup")

    def test_cgroup_v2_limits_from_the_group_or_a_parent(self):
        cgroups, own = self.hierarchy("0::/machine/box\n", {"fs/machine/box/cpu.max": "max 100000\n",
                                                              "fs/machine/cpu.max": "50000 100000\n",
                                                              "fs/cpu.max": "max 100000\n"})
        self.assertEqual(cpu_limit(cgroups, own), 0.5)
        self.assertEqual(worker_count("auto", cgroups, own), 1)  # half a CPU: one worker
        cgroups, own = self.hierarchy("0::/box\n", {"fs/box/cpu.max": "max 100000\n"})
        self.assertIsNone(cpu_limit(cgroups, own))
        self.assertEqual(worker_count("auto", cgroups, own), len(os.sched_getaffinity(0)))
        self.assertEqual(worker_count("3", cgroups, own), 3)  # a number is a number

    def test_cgroup_v1_cfs_quota(self):
        cgroups, own = self.hierarchy("4:memory:/x\n3:cpu,cpuacct:/docker/box\n",
                                      {"fs/cpu,cpuacct/docker/box/cpu.cfs_quota_us": "100000\n",
                                       "fs/cpu,cpuacct/docker/box/cpu.cfs_period_us": "100000\n"})
        self.assertEqual(cpu_limit(cgroups, own), 1.0)
        self.assertEqual(worker_count("auto", cgroups, own), 1)
        cgroups, own = self.hierarchy("3:cpu,cpuacct:/box\n", {"fs/cpu,cpuacct/box/cpu.cfs_quota_us": "-1\n",
                                                              "fs/cpu,cpuacct/box/cpu.cfs_period_us": "100000\n"})
        self.assertIsNone(cpu_limit(cgroups, own))

    def test_the_parent_reads_its_cgroup_at_start_and_reload_not_each_round_of_its_loop(self):
        # Each round (a heartbeat, every half second) read three cgroup
        # files: an idle daemon's parent spent 2-4 ms of CPU a second on it.
        from filestoraged.config import Config
        from filestoraged.workers import arbiter as arbiter_module
        arbiter = arbiter_module.Arbiter(Config(data_dir=tempfile.mkdtemp(prefix="fsd-test-")), [])
        self.addCleanup(shutil.rmtree, arbiter.config.data_dir, True)
        arbiter._count = 2
        asked = []
        with mock.patch.object(arbiter_module, "worker_count", lambda setting: asked.append(setting) or 3), \
                mock.patch.object(arbiter_module.Arbiter, "_start"):
            for _ in range(10):
                arbiter._advance_swap(time.monotonic())
                arbiter._all_beating(time.monotonic(), 1.0)
        self.assertEqual(asked, [])


class AffinityTests(unittest.TestCase):
    """Each worker keeps its own share of the CPUs the daemon was given:
    narrowed within them, never widened; the whole set with ``--cpu-affinity off``."""

    def test_shares_divide_the_set_given(self):
        self.assertEqual([share([0, 1, 2, 3], 2, slot) for slot in range(2)], [{0, 1}, {2, 3}])
        self.assertEqual([share(list(range(8)), 2, slot) for slot in range(2)], [{0, 1, 2, 3}, {4, 5, 6, 7}])
        self.assertEqual([share(list(range(16)), 16, slot) for slot in (0, 7, 15)], [{0, 1}, {7, 8}, {15, 0}])
        self.assertEqual([share([4, 6, 9], 2, slot) for slot in range(2)], [{4, 6}, {6, 9}])
        self.assertIsNone(share([3, 5], 2, 0))  # a share of two is the whole set: nothing narrowed
        self.assertIsNone(share([0], 2, 0))  # more workers than CPUs: nothing narrowed
        self.assertIsNone(share([0, 1, 2], 1, 0))  # one worker keeps the set
        for cpus in ([0, 1, 2], list(range(16)), [2, 3, 5, 7, 11]):
            for workers in range(1, 20):
                for slot in range(workers):
                    self.assertLessEqual(share(cpus, workers, slot) or set(cpus), set(cpus))  # never widened

    def test_with_one_a_workers_own_threads_keep_the_first_cpu_of_its_share(self):
        self.assertEqual([home([0, 1], 2, slot) for slot in range(2)], [{0}, {1}])
        self.assertEqual([home(list(range(16)), 16, slot) for slot in (0, 7, 15)], [{0}, {7}, {15}])
        self.assertEqual([home([0, 1, 2, 3], 2, slot) for slot in range(2)], [{0}, {2}])
        self.assertEqual([home([4, 6, 9], 3, slot) for slot in range(3)], [{4}, {6}, {9}])
        self.assertEqual([home([0, 1], 3, slot) for slot in range(3)], [{0}, {0}, {1}])  # more workers than CPUs
        self.assertEqual([home([0, 1], 2, slot) for slot in (2, 3)], [{0}, {1}])  # a reload's replacements' slots
        self.assertEqual(home([3, 5], 1, 0), {3})  # one worker: the first of the set
        for cpus in ([0, 1, 2], list(range(16)), [2, 3, 5, 7, 11]):
            for workers in range(1, 20):
                for slot in range(workers * 2):
                    own = home(cpus, workers, slot)
                    self.assertEqual(len(own), 1)
                    self.assertLessEqual(own, share(cpus, workers, slot) or set(cpus))  # within the share

    def test_a_worker_with_a_home_runs_its_helpers_on_its_share(self):
        given = sorted(os.sched_getaffinity(0))
        if len(given) < 2:
            self.skipTest("one CPU: a home and a share are the same")
        # The worker's own threads (the first, one it starts) on its home;
        # the helpers of a Stage, of ahead and of a Pool on the share.
        code = """if True:
            import json, os, threading
            from filestoraged.base.threads import Pool, Stage, ahead
            from filestoraged.workers.affinity import Placement
            Placement(None, {%d}).take()
            where = lambda: sorted(os.sched_getaffinity(0))
            seen = {"first": where()}
            plain = threading.Thread(target=lambda: seen.update(plain=where())); plain.start(); plain.join(30)
            with Stage(lambda item: seen.update(stage=where())) as stage:
                stage.submit(1); stage.wait()
            seen["ahead"] = list(ahead(lambda item: where(), [1]))[0]
            pool = Pool(1, 1, "p"); seen["pool"] = pool.run(where); pool.close()
            print(json.dumps(seen))""" % given[0]
        done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60, cwd=ROOT)
        self.assertEqual(json.loads(done.stdout), {"first": given[:1], "plain": given[:1], "stage": given,
                                                   "ahead": given, "pool": given}, done.stderr)

    def test_with_one_a_daemon_of_one_process_keeps_its_own_threads_on_one_cpu(self):
        given = sorted(os.sched_getaffinity(0))
        if len(given) < 2:
            self.skipTest("one CPU: nothing to keep")
        data_dir = tempfile.mkdtemp(prefix="fsd-affinity-")
        self.addCleanup(shutil.rmtree, data_dir, True)
        daemon = Daemon(data_dir, "--workers", "1", "--cpu-affinity", "one", "--log-level", "INFO").start()
        self.addCleanup(daemon.stop)
        # Its accept loops, its connections (no helper runs yet): on the one CPU.
        self.assertEqual(set(threads_cpus(daemon.process.pid).values()), {frozenset(given[:1])})
        daemon.process.send_signal(signal.SIGTERM)
        _, stderr = daemon.process.communicate(timeout=30)
        self.assertIn("(disk backend, its threads on 1 of %d CPUs, its helpers on %d)" % (len(given), len(given)),
                      stderr.decode())

    def test_a_process_keeps_the_share_it_is_given(self):
        cpu = min(os.sched_getaffinity(0))
        code = ("import os; from filestoraged.workers.affinity import keep; keep({%d}); "
                "print(sorted(os.sched_getaffinity(0)))" % cpu)
        done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60, cwd=ROOT)
        self.assertEqual(done.stdout.strip(), "[%d]" % cpu, done.stderr)

    def workers_on(self, cpus, *args: str) -> List[set]:
        """The CPU sets of a two-worker daemon started on ``cpus``: each
        worker's first thread's, having checked that its other threads keep
        no CPU it does not."""
        data_dir = tempfile.mkdtemp(prefix="fsd-affinity-")
        self.addCleanup(shutil.rmtree, data_dir, True)
        before = os.sched_getaffinity(0)
        os.sched_setaffinity(0, cpus)  # this thread's: the daemon forked from it inherits them
        try:
            daemon = Daemon(data_dir, "--workers", "2", *args).start()
        finally:
            os.sched_setaffinity(0, before)
        self.addCleanup(daemon.stop)
        for conns in pinned(daemon.port).values():  # both serve: each took its CPUs before it listened
            for conn in conns:
                conn.close()
        self.assertEqual(os.sched_getaffinity(daemon.process.pid), set(cpus))  # the parent keeps what it was given
        found = []
        for pid in daemon_workers(daemon.process.pid):
            first = os.sched_getaffinity(pid)
            # Its accept loops and connections: where its first thread is.
            self.assertEqual(set(threads_cpus(pid).values()), {frozenset(first)}, "worker %d" % pid)
            found.append(first)
        return found

    def test_each_worker_keeps_its_share_within_the_set_given(self):
        given = sorted(os.sched_getaffinity(0))
        if len(given) >= 4:
            self.assertEqual(sorted(map(sorted, self.workers_on(given[:4]))), [given[:2], given[2:4]])
        if len(given) >= 2:
            self.assertEqual(self.workers_on(given[:2]), [set(given[:2])] * 2)  # a pair each: the whole set
            # One: each worker's own threads keep one CPU of it (its helpers the set: tested above).
            self.assertEqual(sorted(map(sorted, self.workers_on(given[:2], "--cpu-affinity", "one"))),
                             [given[:1], given[1:2]])
            self.assertEqual(self.workers_on(given[:2], "--cpu-affinity", "off"), [set(given[:2])] * 2)
        self.assertEqual(self.workers_on(given[:1]), [{given[0]}] * 2)  # never widened
