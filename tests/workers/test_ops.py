"""Operations: systemd notify and socket activation, graceful stop, health, metrics, logs."""

from __future__ import annotations

import http.client
import logging
import os
import platform
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import unittest
import urllib.request
from unittest import mock

import filestoraged
from filestoraged import logs
from filestoraged.workers import systemd

from ..support import (MIB, ROOT, Daemon, ServerCase, connection_refused, daemon_workers, files_being_written, payload,
                      sha256, wait_for_port, wait_until)


def notify_listener(test: unittest.TestCase, abstract: bool = False):
    """A datagram socket like systemd's; returns (socket, NOTIFY_SOCKET value)."""
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    test.addCleanup(sock.close)
    if abstract:
        name = "filestoraged-test-%d-%d" % (os.getpid(), time.monotonic_ns())
        sock.bind("\0" + name)
        address = "@" + name
    else:
        folder = tempfile.mkdtemp(prefix="fsd-notify-")
        test.addCleanup(shutil.rmtree, folder, True)
        address = os.path.join(folder, "notify")
        sock.bind(address)
    sock.settimeout(20)
    return sock, address


def receive_until(sock: socket.socket, wanted: str, timeout: float = 20) -> str:
    """The first notification that carries ``wanted`` as a line; fails once
    ``timeout`` seconds passed, even while other notifications keep coming
    (a watchdog pings ten times a second)."""
    deadline = time.monotonic() + timeout
    while True:
        left = deadline - time.monotonic()
        if left <= 0:
            raise AssertionError("no %r within %.0f s" % (wanted, timeout))
        sock.settimeout(left)
        message = sock.recv(4096).decode()
        if wanted in message.split("\n"):
            return message


class DaemonTestCase(unittest.TestCase):
    def setUp(self) -> None:
        self.data_dir = tempfile.mkdtemp(prefix="fsd-ops-")
        self.addCleanup(shutil.rmtree, self.data_dir, True)


class NotifyTests(DaemonTestCase):
    def run_with_notify(self, abstract: bool) -> None:
        listener, address = notify_listener(self, abstract)
        daemon = Daemon(self.data_dir, env={"NOTIFY_SOCKET": address}).start(wait=False)
        self.addCleanup(daemon.stop)
        self.assertIn("READY=1", receive_until(listener, "READY=1"))
        socket.create_connection(("127.0.0.1", daemon.port), timeout=5).close()  # it listens by now
        daemon.process.send_signal(signal.SIGTERM)
        receive_until(listener, "STOPPING=1")
        self.assertEqual(daemon.process.wait(30), 0)

    def test_ready_and_stopping_over_a_path_socket(self):
        self.run_with_notify(abstract=False)

    def test_ready_and_stopping_over_an_abstract_socket(self):
        self.run_with_notify(abstract=True)

    def test_watchdog_pings_at_half_the_interval_while_it_serves(self):
        listener, address = notify_listener(self)
        daemon = Daemon(self.data_dir, env={"NOTIFY_SOCKET": address, "WATCHDOG_USEC": "1000000"}).start()
        self.addCleanup(daemon.stop)
        receive_until(listener, "WATCHDOG=1")
        times = []
        for _ in range(7):
            receive_until(listener, "WATCHDOG=1")
            times.append(time.monotonic())
        gaps = sorted(b - a for a, b in zip(times, times[1:]))
        # Every 0.5 s (half of WATCHDOG_USEC): the median gap within the
        # interval systemd would wait (a machine under load may delay one),
        # and not far quicker either (told apart from pinging in a loop).
        self.assertLess(gaps[len(gaps) // 2], 1.0, gaps)
        self.assertGreater(gaps[len(gaps) // 2], 0.25, gaps)

    def test_notify_is_a_no_op_without_the_variable_and_never_fatal(self):
        with mock.patch.dict(os.environ, {}, clear=True):
            self.assertFalse(systemd.notify("READY=1"))
        with mock.patch.dict(os.environ, {"NOTIFY_SOCKET": "/nonexistent/notify"}):
            with self.assertLogs("filestoraged.workers.systemd", "WARNING"):
                self.assertFalse(systemd.notify("READY=1"))


class SocketActivationTests(DaemonTestCase):
    def serve_on_a_passed_socket(self, *args: str) -> str:
        """The daemon started as systemd starts it with a socket (the socket
        as fd 3, LISTEN_PID its pid), ``args`` besides; asked once, then
        stopped: what it said on stderr."""
        listener = socket.socket()
        self.addCleanup(listener.close)
        listener.bind(("127.0.0.1", 0))
        listener.listen(16)
        self.port = listener.getsockname()[1]
        launcher = (
            "import os, sys\n"
            "os.dup2(int(sys.argv[1]), 3)\n"
            "os.environ.update(LISTEN_FDS='1', LISTEN_PID=str(os.getpid()))\n"
            "os.execv(sys.executable, [sys.executable, '-m', 'filestoraged'] + sys.argv[2:])\n"
        )
        environment = {name: value for name, value in os.environ.items() if not name.startswith("FILESTORAGED_")}
        process = subprocess.Popen(
            [sys.executable, "-c", launcher, str(listener.fileno()), *args, "--data-dir", self.data_dir,
             "--log-level", "WARNING"],
            pass_fds=(listener.fileno(),), env=dict(environment, PYTHONPATH=ROOT),
            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        self.addCleanup(process.stderr.close)
        self.addCleanup(lambda: process.poll() is None and process.kill())
        listener.close()  # the daemon holds its own copy now
        wait_for_port(self.port, process)
        with socket.create_connection(("127.0.0.1", self.port), timeout=10) as sock:
            sock.sendall(b"GET /healthz HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n")
            self.assertIn(b'"status":"ok"', sock.recv(4096))
        process.send_signal(signal.SIGTERM)
        self.assertEqual(process.wait(30), 0)
        return process.stderr.read().decode()

    def test_serves_on_the_socket_it_is_handed(self):
        said = self.serve_on_a_passed_socket("--port", "1")
        # The configured address (here --port 1) is not silently dropped.
        self.assertIn("listening on 127.0.0.1:%d, the socket systemd passed" % self.port, said)
        self.assertIn("the configured 127.0.0.1:1 (--host/--port, FILESTORAGED_HOST/PORT) is ignored", said)

    def test_no_warning_about_an_address_nobody_set(self):
        said = self.serve_on_a_passed_socket()
        self.assertNotIn("is ignored", said)  # was: the default 8080, which nobody set


def daemon_has_connection(pid: int) -> bool:
    """True once the daemon (or one of its workers) holds an established TCP
    connection: a process with a socket besides the listener."""
    for process in [pid] + daemon_workers(pid):
        sockets = 0
        for fd in os.listdir("/proc/%d/fd" % process):
            try:
                sockets += os.readlink("/proc/%d/fd/%s" % (process, fd)).startswith("socket:")
            except FileNotFoundError:  # closed since the listing
                pass
        if sockets >= 2:
            return True
    return False


class GracefulStopTests(DaemonTestCase):
    def test_an_upload_in_flight_completes_then_exit_0(self):
        listener, address = notify_listener(self)
        daemon = Daemon(self.data_dir, env={"NOTIFY_SOCKET": address}).start()
        self.addCleanup(daemon.stop)
        data = payload(8 * MIB, seed=1)
        with socket.create_connection(("127.0.0.1", daemon.port), timeout=30) as sock:
            sock.sendall(b"POST /files HTTP/1.1\r\nHost: localhost\r\nContent-Length: %d\r\n\r\n" % len(data))
            sock.sendall(data[:MIB])
            tmp_dir = os.path.join(self.data_dir, ".tmp")
            wait_until(lambda: files_being_written(tmp_dir, daemon.processes()), "the daemon is inside the upload")
            daemon.process.send_signal(signal.SIGTERM)
            receive_until(listener, "STOPPING=1")  # the daemon is stopping now
            # New connections are refused at once, not left waiting in the
            # backlog until the drain ends.
            wait_until(lambda: connection_refused(daemon.port), "new connections are refused", timeout=5)
            sock.sendall(data[MIB:])
            response = b""
            while b"}" not in response:
                piece = sock.recv(4096)
                if not piece:
                    break
                response += piece
        self.assertTrue(response.startswith(b"HTTP/1.1 200 OK"), response[:80])
        self.assertIn(b"Connection: close", response)
        self.assertIn(sha256(data).encode(), response)
        self.assertEqual(daemon.process.wait(30), 0)
        oid = sha256(data)
        with open(os.path.join(self.data_dir, oid[:2], oid), "rb") as handle:
            self.assertEqual(handle.read(), data)

    def test_a_half_sent_head_does_not_hold_the_stop(self):
        daemon = Daemon(self.data_dir).start()
        self.addCleanup(daemon.stop)
        with socket.create_connection(("127.0.0.1", daemon.port), timeout=30) as sock:
            sock.sendall(b"GET /healthz HTTP/1.1\r\nHost: localhost\r\n")  # no blank line yet
            wait_until(lambda: daemon_has_connection(daemon.process.pid), "the daemon holds the connection")
            started = time.monotonic()
            daemon.process.send_signal(signal.SIGTERM)
            self.assertEqual(daemon.process.wait(30), 0)
            self.assertLess(time.monotonic() - started, 5)  # not --shutdown-grace (30 s)
            try:  # closed (or reset: the kernel's choice), and the request never ran
                self.assertEqual(sock.recv(10), b"")
            except ConnectionResetError:
                pass

    def test_idle_keep_alive_connections_do_not_hold_the_stop(self):
        daemon = Daemon(self.data_dir).start()
        self.addCleanup(daemon.stop)
        with socket.create_connection(("127.0.0.1", daemon.port), timeout=30) as sock:
            sock.sendall(b"GET /healthz HTTP/1.1\r\nHost: localhost\r\n\r\n")
            self.assertIn(b"200 OK", sock.recv(4096))
            started = time.monotonic()
            daemon.process.send_signal(signal.SIGTERM)
            self.assertEqual(daemon.process.wait(30), 0)
            self.assertLess(time.monotonic() - started, 10)  # not the 30 s idle timeout
            self.assertEqual(sock.recv(10), b"")


class FsckBesideADaemonTests(DaemonTestCase):
    def test_fsck_while_an_upload_is_in_flight_breaks_nothing(self):
        daemon = Daemon(self.data_dir).start()
        self.addCleanup(daemon.stop)
        data = payload(4 * MIB, seed=3)
        with socket.create_connection(("127.0.0.1", daemon.port), timeout=30) as sock:
            sock.sendall(b"POST /files HTTP/1.1\r\nHost: localhost\r\nContent-Length: %d\r\n\r\n" % len(data))
            sock.sendall(data[:MIB])
            tmp_dir = os.path.join(self.data_dir, ".tmp")
            wait_until(lambda: files_being_written(tmp_dir, daemon.processes()), "the daemon is inside the upload")
            # --repair too runs beside a serving daemon.
            command = [sys.executable, "-m", "filestoraged", "fsck", "--repair", "--data-dir", self.data_dir]
            fsck = subprocess.run(command, env=dict(os.environ, PYTHONPATH=ROOT), capture_output=True, text=True,
                                  timeout=60)
            self.assertEqual(fsck.returncode, 0, fsck.stderr)
            self.assertTrue(files_being_written(tmp_dir, daemon.processes()), "fsck swept an upload in flight")
            sock.sendall(data[MIB:])
            response = sock.recv(65536)
        self.assertTrue(response.startswith(b"HTTP/1.1 200 OK"), response[:200])
        self.assertIn(sha256(data).encode(), response)
        # The object the upload published is counted and indexed: a plain fsck finds nothing wrong.
        after = subprocess.run(command[:4] + command[5:], env=dict(os.environ, PYTHONPATH=ROOT),
                               capture_output=True, text=True, timeout=60)
        self.assertEqual((after.returncode, after.stdout.splitlines()[0]),
                         (0, "1 objects checked, 0 corrupt, 0 moved to .corrupt/, 0 without a block record, "
                             "0 stored values refused"), after.stdout)
        with urllib.request.urlopen(daemon.url + "/metrics", timeout=30) as reply:
            self.assertIn("filestoraged_objects_stored 1\n", reply.read().decode())


class HealthAndMetricsTests(ServerCase):
    def test_health_says_so_when_the_disk_is_full(self):
        real = os.statvfs

        def full(path):
            st = real(path)
            return os.statvfs_result((st.f_bsize, st.f_frsize, st.f_blocks, 0, 0) + tuple(st)[5:])

        with mock.patch("os.statvfs", full):
            reply = self.request("GET", "/healthz")
        self.assertEqual(reply.status, 503)
        self.assertIn("full", reply.json()["message"])
        self.assertEqual(self.request("GET", "/healthz").status, 200)

    def test_health_is_503_when_the_data_directory_cannot_be_written(self):
        self.assertEqual(self.request("GET", "/healthz").json(),
                         {"status": "ok", "backend": "disk", "pid": os.getpid(), "s3_api": False,
                          "version": filestoraged.__version__})
        tmp_dir = os.path.join(self.data_dir, ".tmp")
        os.rmdir(tmp_dir)
        with open(tmp_dir, "w"):
            pass  # a file where the folder should be: nothing can be written there
        reply = self.request("GET", "/healthz")
        self.assertEqual(reply.status, 503)
        self.assertEqual(reply.json()["status"], "unavailable")
        os.unlink(tmp_dir)
        os.mkdir(tmp_dir)
        self.assertEqual(self.request("GET", "/healthz").status, 200)

    def test_metrics_parse_as_the_exposition_format_and_move(self):
        sample = re.compile(r'^(filestoraged|process)_[a-z_]+(\{[a-z_]+="[^"]*"(,[a-z_]+="[^"]*")*\})? -?[0-9.e+]+$')
        comment = re.compile(r"^# (HELP (filestoraged|process)_[a-z_]+ .+|"
                             r"TYPE (filestoraged|process)_[a-z_]+ (counter|gauge|histogram))$")

        # One keep-alive connection: the server finishes accounting for a
        # request before it reads the next one from the same connection.
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=30)
        self.addCleanup(conn.close)

        def scrape() -> dict:
            reply = self.request("GET", "/metrics", conn=conn)
            self.assertTrue(reply.headers["Content-Type"].startswith("text/plain; version=0.0.4"))
            values = {}
            for line in reply.body.decode().splitlines():
                self.assertTrue(sample.match(line) or comment.match(line), line)
                if not line.startswith("#"):
                    name, value = line.rsplit(" ", 1)
                    values[name] = float(value)
            return values

        before = scrape()
        self.request("POST", "/files", b"metric me", conn=conn)
        self.request("GET", "/files/" + sha256(b"metric me"), conn=conn)
        self.request("GET", "/files/" + sha256(b"absent"), conn=conn)
        after = scrape()
        key = 'filestoraged_requests_total{face="files",method="%s",status="%d"}'
        self.assertEqual(after[key % ("POST", 200)] - before.get(key % ("POST", 200), 0), 1)
        self.assertEqual(after[key % ("GET", 404)], 1)
        for name in ("filestoraged_bytes_received_total", "filestoraged_bytes_sent_total"):
            with self.subTest(name=name):
                self.assertGreaterEqual(after[name] - before[name], 9, name)
        self.assertEqual(after["filestoraged_objects_stored"], 1)
        self.assertEqual(after["filestoraged_bytes_stored"], 9)
        histogram = 'filestoraged_request_duration_seconds_bucket{face="files",method="GET",le="+Inf"}'
        self.assertEqual(after[histogram] - before.get(histogram, 0), 2)
        self.assertEqual(after['filestoraged_build_info{version="%s",python="%s"}'
                               % (filestoraged.__version__, platform.python_version())], 1)
        for name in ("process_cpu_seconds_total", "process_resident_memory_bytes", "process_open_fds"):
            with self.subTest(name=name):
                self.assertGreater(after[name], 0, name)
        self.assertIn("filestoraged_connections_open", after)
        self.assertIn("filestoraged_integrity_failures_total", after)


class FsckAndMetricsTests(ServerCase):
    def test_metrics_count_afresh_after_an_fsck_repair_elsewhere(self):
        from filestoraged.storage.disk.backend import DiskBackend
        from filestoraged.storage.disk.fsck import fsck

        good = self.request("POST", "/files", b"good").json()["hash"]
        bad = self.request("POST", "/files", b"bad bytes").json()["hash"]
        with open(os.path.join(self.data_dir, bad[:2], bad), "r+b") as handle:
            handle.write(b"B")
        self.assertIn("filestoraged_objects_stored 2", self.request("GET", "/metrics").body.decode())
        # As `filestoraged fsck --repair` in another process would.
        report = fsck(DiskBackend(self.data_dir, 1 << 20, alone=False), repair=True)
        self.assertEqual(report.repaired, ["default/" + bad])
        metrics = self.request("GET", "/metrics").body.decode()
        self.assertIn("filestoraged_objects_stored 1", metrics)
        self.assertIn("filestoraged_bytes_stored 4", metrics)
        self.assertEqual(self.request("GET", "/files/" + good).body, b"good")


class LoggingTests(unittest.TestCase):
    def format_under(self, environ: dict) -> str:
        root, access = logging.getLogger(), logging.getLogger("filestoraged.access")
        saved = root.handlers[:], root.level, access.handlers[:], access.propagate
        self.addCleanup(lambda: (root.handlers.__setitem__(slice(None), saved[0]), root.setLevel(saved[1]),
                                 access.handlers.__setitem__(slice(None), saved[2]),
                                 setattr(access, "propagate", saved[3])))
        with mock.patch.dict(os.environ, environ, clear=True):
            logs.configure("INFO")
        return root.handlers[0].formatter._fmt

    def test_no_timestamps_under_systemd(self):
        self.assertNotIn("asctime", self.format_under({"JOURNAL_STREAM": "8:1234"}))
        self.assertIn("asctime", self.format_under({}))
