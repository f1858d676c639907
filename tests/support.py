"""Helpers shared by the tests: an in-process server on port 0, HTTP calls,
a daemon subprocess, and payloads."""

from __future__ import annotations

import hashlib
import http.client
import json
import os
import random
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import time
import unittest
from collections import deque
from dataclasses import replace
from http.server import ThreadingHTTPServer
from typing import Callable, Deque, Dict, Iterable, List, Optional, Sequence, Tuple, TypeVar

from filestoraged.app import App
from filestoraged.config import Config
from filestoraged.records.local import LocalRecords
from filestoraged.web.server import FileStoreServer

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
MIB = 1024 * 1024

T = TypeVar("T")


def required(part: str) -> bool:
    """Whether a missing ``part`` (MEMCACHED, NGINX, OPENSSL, BROWSER, S3,
    TUSPY, GIT_LFS, S3_CLIENTS, WEBDAV_CLIENTS, POSTGRES, OIDC, INSTALL) is a failure rather than a skip: one switch per
    part, ``FILESTORAGED_REQUIRE_<PART>=1``, every one set by ``.ci/run``."""
    return os.environ.get("FILESTORAGED_REQUIRE_" + part) == "1"


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def payload(size: int, seed: int = 0) -> bytes:
    """Deterministic, incompressible-looking bytes (fast even for 50 MiB)."""
    block = hashlib.sha512(b"filestoraged-%d" % seed).digest() * 16  # 1 KiB
    pattern = bytes(block[i] ^ (i * 7 & 0xFF) for i in range(len(block)))
    whole, rest = divmod(size, len(pattern))
    return pattern * whole + pattern[:rest]


class BytesSource:
    """``data`` as a stream with ``readinto``, as a backend or an upload's
    writer reads a body."""

    def __init__(self, data: bytes) -> None:
        self._data = memoryview(data)

    def readinto(self, buffer: memoryview) -> int:
        count = min(len(buffer), len(self._data))
        buffer[:count] = self._data[:count]
        self._data = self._data[count:]
        return count


class FakeClock:
    """A clock that moves only when told to."""

    def __init__(self, now: float = 1_800_000_000.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


def clocked_records(case: unittest.TestCase) -> Tuple[LocalRecords, FakeClock, str]:
    """Records in a folder of the test's own, on a clock that moves only
    when told to; the folder (removed after)."""
    folder = tempfile.mkdtemp(prefix="fsd-test-")
    case.addCleanup(shutil.rmtree, folder, True)
    clock = FakeClock()
    records = LocalRecords(os.path.join(folder, "meta.db"), clock=clock)
    case.addCleanup(records.close)
    return records, clock, folder


class Reply:
    def __init__(self, response: http.client.HTTPResponse, body: bytes) -> None:
        self.status = response.status
        self.headers = response.headers
        self.body = body

    def json(self):
        return json.loads(self.body)

    def __repr__(self) -> str:
        return "<Reply %d %r>" % (self.status, self.body[:200])


class ServerCase(unittest.TestCase):
    """Starts a real server in-process on port 0 with a fresh data directory."""

    config_overrides: Dict[str, object] = {}

    def make_backend(self, config: Config):
        """None: the App builds the backend the config names (disk by default)."""
        return None

    def make_clock(self):
        """The clock the App reads (share link expiry); tests may fake it."""
        return time.time

    def setUp(self) -> None:
        self.data_dir = tempfile.mkdtemp(prefix="fsd-test-")
        self.addCleanup(shutil.rmtree, self.data_dir, True)
        self.config = replace(Config(port=0, data_dir=self.data_dir), **self.config_overrides)
        self.start_server()

    def start_server(self) -> None:
        self.app = App(self.config, backend=self.make_backend(self.config), clock=self.make_clock())
        self.server = FileStoreServer(self.app)
        self.port = self.server.server_address[1]
        thread = threading.Thread(target=self.server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
        thread.start()
        self.addCleanup(self.stop_server, self.server, self.app, thread)

    @staticmethod
    def stop_server(server, app, thread) -> None:
        if thread.is_alive():
            server.shutdown()
            server.server_close()
            app.close()

    def restart_server(self) -> None:
        self.server.shutdown()
        self.server.server_close()
        self.app.close()
        self.start_server()

    def connection(self, timeout: float = 30) -> http.client.HTTPConnection:
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=timeout)
        self.addCleanup(conn.close)
        return conn

    def request(self, method: str, path: str, body=None, headers: Optional[Dict[str, str]] = None,
                conn: Optional[http.client.HTTPConnection] = None) -> Reply:
        """One request; on ``conn`` (kept open) or on a connection of its own (closed)."""
        own = conn is None
        conn = conn or http.client.HTTPConnection("127.0.0.1", self.port, timeout=30)
        try:
            headers = headers or {}
            chunked = headers.get("Transfer-Encoding") == "chunked"
            conn.request(method, path, body=body, headers=headers, encode_chunked=chunked)
            response = conn.getresponse()
            return Reply(response, response.read())
        finally:
            if own:
                conn.close()

    def metrics_showing(self, *lines: str, headers: Optional[Dict[str, str]] = None) -> str:
        """``/metrics`` once it holds every one of ``lines``: a request is
        counted once its answer went out, a moment after the client has it,
        so a scrape on another connection may come first. Fails with the
        last text seen if they never all show."""
        seen = [""]

        def shows() -> bool:
            seen[0] = self.request("GET", "/metrics", headers=headers).body.decode()
            return all(line in seen[0] for line in lines)

        try:
            wait_until(shows, "/metrics shows %s" % ", ".join(lines), timeout=10)
        except AssertionError:
            missing = [line for line in lines if line not in seen[0]]
            raise AssertionError("/metrics lacks %s:\n%s" % (missing, seen[0])) from None
        return seen[0]

    def raw_exchange(self, data: bytes, timeout: float = 10) -> bytes:
        """Send raw bytes, return everything the server sends until it closes."""
        with socket.create_connection(("127.0.0.1", self.port), timeout=timeout) as sock:
            sock.sendall(data)
            return until_closed(sock)

    def send_refused(self, head: bytes, body: bytes) -> bytes:
        """Send a request whose body the server may refuse midway; return its answer."""
        with socket.create_connection(("127.0.0.1", self.port), timeout=30) as sock:
            try:
                sock.sendall(head + body)
            except (BrokenPipeError, ConnectionResetError):
                pass  # it answered and stopped reading, as it should
            chunks = []
            try:
                while True:
                    piece = sock.recv(65536)
                    if not piece:
                        break
                    chunks.append(piece)
            except ConnectionResetError:
                pass
            return b"".join(chunks)

    def assertError(self, reply: Reply, status: int, code: str) -> None:
        self.assertEqual(reply.status, status, reply)
        self.assertEqual(reply.headers["Content-Type"], "application/json")
        body = reply.json()
        self.assertEqual(body["error"], code)
        self.assertIsInstance(body["message"], str)

    def stored_objects(self):
        """What the backend holds (files on disk here; keys for memcached)."""
        return self.stored_files()

    def stored_files(self):
        """Every file under the data directory (relative paths), but the databases,
        the running daemon's own files in run/ and the journal of small writes
        (``.journal/``: what it holds is checked by its own tests)."""
        found = []
        for folder, _, names in os.walk(self.data_dir):
            if os.path.relpath(folder, self.data_dir).split(os.sep)[0] in ("run", ".journal"):
                continue
            for name in names:
                if not name.startswith(("meta.db", "memcached-index.db", "objects.db")):
                    found.append(os.path.relpath(os.path.join(folder, name), self.data_dir))
        return sorted(found)


class Threads:
    """Threads a test starts, as a ``with`` block: each thread's exception
    is kept and raised in the test once all are joined, each is joined with
    a deadline (one still running then fails the test, by name), and each
    call's result is kept in start order (``results``), so a test can tell
    that every call ran."""

    def __init__(self, deadline: float = 60) -> None:
        self.deadline = deadline
        self.results: List[object] = []
        self._threads: List[threading.Thread] = []
        self._errors: List[BaseException] = []
        self._lock = threading.Lock()

    def start(self, target, *args, name: Optional[str] = None) -> None:
        index = len(self._threads)
        self.results.append(None)

        def run() -> None:
            try:
                result = target(*args)
            except BaseException as error:  # raised in the test by __exit__
                with self._lock:
                    self._errors.append(error)
                return
            self.results[index] = result

        thread = threading.Thread(target=run, name=name or "test-%s-%d" % (getattr(target, "__name__", "call"), index),
                                  daemon=True)
        self._threads.append(thread)
        thread.start()

    def __enter__(self) -> "Threads":
        return self

    def __exit__(self, *exc_info) -> None:
        self.join()

    def join(self) -> None:
        ends = time.monotonic() + self.deadline
        for thread in self._threads:
            thread.join(max(0.0, ends - time.monotonic()))
        hung = [thread.name for thread in self._threads if thread.is_alive()]
        if hung:
            raise AssertionError("threads still running after %.0f s: %s" % (self.deadline, ", ".join(hung)))
        if self._errors:
            raise self._errors[0]


def kept_and_refused(case: unittest.TestCase, outcomes: Sequence[Tuple[object, int]]) -> Tuple[List[int], List[int]]:
    """The numbers of the uploads whose ``(what, status)`` outcome was a
    2xx, and of the others, each of which must have been refused with 507
    (a quota's answer)."""
    kept = [n for n, (_, status) in enumerate(outcomes) if status in (200, 201, 204)]
    refused = [n for n, (_, status) in enumerate(outcomes) if n not in kept]
    case.assertEqual({outcomes[n][1] for n in refused}, {507}, outcomes)
    return kept, refused


def sampled_while(sample: Callable[[], int], work: Callable[[], T], deadline: float = 60) -> Tuple[T, List[int]]:
    """``work()``'s result, and what ``sample()`` said again and again while
    it ran (by a thread that reports its exception, joined with a deadline):
    a bound that must hold at every moment, such as a quota's."""
    samples: List[int] = []
    running = threading.Event()
    running.set()

    def sampling() -> None:
        while running.is_set():
            samples.append(sample())

    with Threads(deadline) as threads:
        threads.start(sampling, name="sampler")
        try:
            result = work()
        finally:
            running.clear()
    return result, samples


class Trickled:
    """One request held open midway, as a client that sends its body
    slowly: ``begin`` sends its head (with ``Expect: 100-continue``), waits
    for the server to ask for the body (its ``100 Continue``: the request
    has begun and is reading), sends the first ``sent`` bytes and waits for
    ``ready()`` if given; ``finish`` sends the rest and reads the answer."""

    def __init__(self, port: int, method: str, target: str, headers: Dict[str, str], body: bytes,
                 sent: int) -> None:
        lines = "".join("%s: %s\r\n" % pair for pair in headers.items())
        self.head = ("%s %s HTTP/1.1\r\n%s\r\n" % (method, target, lines)).encode("utf-8")
        self.port, self.body, self.sent = port, body, sent
        self.sock: Optional[socket.socket] = None

    def begin(self, ready: Optional[Callable[[], object]] = None) -> "Trickled":
        self.sock = socket.create_connection(("127.0.0.1", self.port), timeout=30)
        self.sock.sendall(self.head)
        interim = b""
        while not interim.endswith(b"\r\n\r\n"):  # byte by byte: nothing of the answer read ahead
            piece = self.sock.recv(1)
            if not piece:
                raise AssertionError("the server closed before asking for the body: %r" % interim)
            interim += piece
        if not interim.startswith(b"HTTP/1.1 100"):
            raise AssertionError("the server answered before the body: %r" % interim)
        self.sock.sendall(self.body[:self.sent])
        if ready is not None:
            wait_until(ready, "the server is inside the request")
        return self

    def finish(self) -> Reply:
        assert self.sock is not None
        try:
            self.sock.sendall(self.body[self.sent:])
            response = http.client.HTTPResponse(self.sock)
            response.begin()
            return Reply(response, response.read())
        finally:
            self.sock.close()

    def close(self) -> None:
        if self.sock is not None:
            self.sock.close()


def until_closed(sock: socket.socket) -> bytes:
    """Everything ``sock`` receives until the other end closes."""
    chunks = []
    while True:
        piece = sock.recv(65536)
        if not piece:
            return b"".join(chunks)
        chunks.append(piece)


def until_said(argv: Sequence[str], needle: bytes, env: Dict[str, str], cwd: str,
               timeout: float = 120) -> Tuple[Optional[int], bytes]:
    """Run ``argv`` until its standard error says ``needle`` (or it ends),
    then stop it: for a client that would retry a refusal for a long
    time before it gives up. Its exit status and what it said."""
    process = subprocess.Popen(list(argv), env=env, cwd=cwd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    said = b""
    watchdog = threading.Timer(timeout, process.kill)  # a client that never says it must not hang the run
    watchdog.start()
    try:
        for line in iter(process.stderr.readline, b""):
            said += line
            if needle in line:
                break
    finally:
        watchdog.cancel()
        process.terminate()
        process.wait(timeout)
        process.stderr.close()
    return process.returncode, said


def database_bytes(data_dir: str) -> bytes:
    """Every byte of ``meta.db`` as it is on disk: the database and its WAL
    (while a daemon holds it open, SQLite keeps new rows in ``meta.db-wal``
    only), for tests of what is kept at rest. Read by a process of its own:
    a file of the database opened and closed here would let go of the
    locks SQLite holds on it in this process (a test's server among them),
    and the next process to open the database would take its log's index
    for unused and start it again under that server."""
    names = [os.path.join(data_dir, name) for name in sorted(os.listdir(data_dir)) if name.startswith("meta.db")]
    return subprocess.run(["cat", *names], capture_output=True, check=True, timeout=60).stdout


def multipart(fields: Dict[str, object], boundary: str = "fsdTestBoundary7MA4YWxk") -> tuple:
    """Encode form fields; a ``(filename, bytes, content_type)`` tuple is a file."""
    out = []
    for name, value in fields.items():
        if isinstance(value, tuple):
            filename, data, ctype = value
            out.append(("--%s\r\nContent-Disposition: form-data; name=\"%s\"; filename=\"%s\"\r\n"
                        "Content-Type: %s\r\n\r\n" % (boundary, name, filename, ctype)).encode("utf-8"))
            out.append(data)
            out.append(b"\r\n")
        else:
            out.append(("--%s\r\nContent-Disposition: form-data; name=\"%s\"\r\n\r\n%s\r\n"
                        % (boundary, name, value)).encode("utf-8"))
    out.append(("--%s--\r\n" % boundary).encode())
    return b"".join(out), "multipart/form-data; boundary=%s" % boundary


class Daemon:
    """``python -m filestoraged`` as a subprocess on a free port: for the
    tests' kill and restart cases, and (``bench.common.Daemon``) for the
    benchmarks, which run it as shipped."""

    def __init__(self, data_dir: str, *args: str, env: Optional[Dict[str, str]] = None, port: int = 0,
                 log: Optional[str] = None, own_session: bool = False,
                 log_level: Optional[str] = os.environ.get("FSD_TEST_LOG", "WARNING"),
                 cwd: Optional[str] = None, launcher: Sequence[str] = ()) -> None:
        """``log``: a file its standard error is appended to (else a pipe, read
        when it fails to start); ``own_session``: started in a session of its
        own, as systemd starts a service; ``log_level`` None: its default;
        ``cwd``: where it runs (``python -m`` imports from there first);
        ``launcher``: a command it runs under (valgrind, for the bench)."""
        self.data_dir = data_dir
        self.log = log
        self.args = list(args)
        self.env = {**os.environ, "PYTHONPATH": ROOT, **(env or {})}
        self.port = port or free_port()
        self.own_session, self.log_level, self.cwd = own_session, log_level, cwd
        self.launcher = list(launcher)
        self.process: Optional[subprocess.Popen] = None

    @property
    def url(self) -> str:
        return "%s://127.0.0.1:%d" % ("https" if "--tls-cert" in self.args else "http", self.port)

    def start(self, wait: bool = True) -> "Daemon":
        command = self.launcher + [sys.executable, "-m", "filestoraged", "--port", str(self.port),
                                   "--data-dir", self.data_dir]
        command += (["--log-level", self.log_level] if self.log_level else []) + self.args
        if self.log:
            with open(self.log, "ab") as log:
                self.process = subprocess.Popen(command, env=self.env, stdout=subprocess.DEVNULL, stderr=log,
                                                start_new_session=self.own_session, cwd=self.cwd)
        else:
            self.process = subprocess.Popen(command, env=self.env, stdout=subprocess.DEVNULL,
                                            stderr=subprocess.PIPE, start_new_session=self.own_session, cwd=self.cwd)
        if wait:
            try:  # (under a launcher such as valgrind the start is some fifty times slower)
                for port in [self.port] + self._s3_port():  # (a daemon that cannot bind its S3 port stops)
                    wait_for_port(port, self.process, timeout=120 if self.launcher else 20)
            except RuntimeError as error:
                if not self.log:
                    raise
                with open(self.log, "rb") as log:
                    said = log.read()[-2000:].decode(errors="replace")
                raise RuntimeError("%s: %s" % (error, said)) from None
        return self

    def _s3_port(self) -> List[int]:
        """The S3 API's port on loopback, where ``--s3-api`` names one."""
        if "--s3-api" not in self.args:
            return []
        host, _, port = self.args[self.args.index("--s3-api") + 1].rpartition(":")
        return [int(port)] if host in ("", "127.0.0.1") and port.isdigit() and int(port) else []

    def processes(self) -> List[int]:
        """The daemon's pid and its workers' (when it has any)."""
        return [self.process.pid] + daemon_workers(self.process.pid)

    def stop(self) -> int:
        if self.process is None:
            return 0
        if self.process.poll() is None:
            self.process.terminate()
        code = self.process.wait(30)
        if self.process.stderr:
            self.process.stderr.close()
        return code

    def kill(self) -> None:
        """SIGKILL, as a crash; returns once its worker processes, which the
        kernel kills with it, have let go of the port too."""
        self.process.kill()
        self.process.wait(30)
        if self.process.stderr:
            self.process.stderr.close()
        wait_until(lambda: connection_refused(self.port), "the port is free")


def connection_refused(port: int) -> bool:
    """True once nothing listens on ``port`` (a full backlog is not refused)."""
    try:
        socket.create_connection(("127.0.0.1", port), timeout=1).close()
    except ConnectionRefusedError:
        return True
    except OSError:
        pass
    return False


def daemon_workers(pid: int) -> list:
    """The pids of a daemon's worker processes (none when it runs alone)."""
    with open("/proc/%d/task/%d/children" % (pid, pid)) as children:
        return [int(child) for child in children.read().split()]


def files_being_written(folder: str, pids: Iterable[int]) -> List[Tuple[int, int]]:
    """``(pid, size)`` of each file in ``folder`` that one of ``pids`` holds
    open: named, or with no name yet (the disk backend writes an upload with
    ``O_TMPFILE`` where it can, so ``.tmp`` shows nothing). What a test sees
    of an upload being written."""
    inside = os.path.realpath(folder) + "/"
    found = []
    for pid in pids:
        try:
            descriptors = os.listdir("/proc/%d/fd" % pid)
        except FileNotFoundError:  # gone meanwhile
            continue
        for fd in descriptors:
            link = "/proc/%d/fd/%s" % (pid, fd)
            try:
                if os.readlink(link).startswith(inside):
                    found.append((pid, os.stat(link).st_size))
            except FileNotFoundError:  # closed meanwhile
                continue
    return found


def wait_until(condition, what: str, timeout: float = 20) -> None:
    """Wait for ``condition()`` to hold, checking every 10 ms, for at most
    ``timeout`` seconds (for state another process or the file system shows,
    where no event can be waited on); fail naming ``what``."""
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError("timed out waiting until " + what)
        time.sleep(0.01)


PORT_RANGE = tuple(int(end) for end in os.environ.get("FSD_TEST_PORTS", "20000-32000").split("-"))


def exchange(port: int, method: str, path: str, body: bytes = b"", headers: Optional[Dict[str, str]] = None,
             timeout: float = 30) -> Tuple[int, bytes]:
    """One request on a connection of its own to ``port`` on loopback: ``(status, body)``."""
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    try:
        connection.request(method, path, body, headers or {})
        answer = connection.getresponse()
        return answer.status, answer.read()
    finally:
        connection.close()


def free_port() -> int:
    """A port for a server a test starts as a process of its own (one that
    cannot be told to bind port 0 and say which it got). Drawn at random
    below the kernel's ephemeral range (``ip_local_port_range`` starts at
    32768), where no outgoing connection's port is ever taken, and checked
    free: the port 0 way handed back ports that the next ``connect`` of
    another test could take before the server bound them. Where the suite
    runs in several processes, each draws from a range of its own
    (``FSD_TEST_PORTS``, set by ``tests.run``). Never one of the last
    ``_GIVEN`` it gave: a port given may not be bound yet when the next is
    drawn (a cluster's daemons and their S3 ports, drawn together, could
    get one number twice, and the daemon that bound it second stop at its
    start)."""
    low, high = PORT_RANGE
    with _GIVEN_LOCK:
        for _ in range(100):
            port = random.randint(low, high)
            if port in _GIVEN:
                continue
            with socket.socket() as sock:
                try:
                    sock.bind(("127.0.0.1", port))
                except OSError:
                    continue
            _GIVEN.append(port)
            return port
    raise RuntimeError("no free port found in %d-%d" % PORT_RANGE)


_GIVEN: "Deque[int]" = deque(maxlen=512)  # the ports ``free_port`` gave last
_GIVEN_LOCK = threading.Lock()


def free_ports(count: int) -> List[int]:
    """``count`` different ports, each found free (``free_port``)."""
    return [free_port() for _ in range(count)]


def wait_for_port(port: int, process=None, timeout: float = 20) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process is not None and process.poll() is not None:
            said = process.stderr.read().decode(errors="replace") if process.stderr else "(see its log)"
            raise RuntimeError("daemon exited: %s" % said)
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            return
        except OSError:
            time.sleep(0.02)
    raise RuntimeError("nothing listens on port %d" % port)


def serve_in_thread(case: unittest.TestCase, handler) -> ThreadingHTTPServer:
    """A stand-in HTTP server on loopback (``handler``: a request handler
    class), served by a thread and shut down when ``case`` ends."""
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    case.addCleanup(server.server_close)
    case.addCleanup(server.shutdown)
    return server


class CuttingProxy:
    """A TCP proxy to a server (the daemon, a store) that cuts the ``nth``
    request starting with ``method`` (the second ``PATCH`` by default; or
    the ``nth`` whose first bytes ``matches``; ``nth`` None: the first of
    them that gets that far) once ``cut_after`` bytes of it went by (its body
    toward the server, or for a ``GET`` its answer toward the client), as a
    dropped network does; it counts the bytes it passed each way (``sent``,
    ``sent_back``) and its cuts (one at most)."""

    def __init__(self, target_port: int, cut_after: int, method: bytes = b"PATCH ", nth: Optional[int] = 2,
                 matches: Optional[Callable[[bytes], bool]] = None) -> None:
        self.target, self.cut_after, self.method, self.nth = target_port, cut_after, method, nth
        self.matches = matches or (lambda data: data.startswith(method))
        self.seen = self.sent = self.sent_back = self.cuts = 0
        self._lock = threading.Lock()
        self._server = socket.create_server(("127.0.0.1", 0))
        self.port = self._server.getsockname()[1]
        self._threads: list = []
        self._sockets: list = []
        self._accepting = threading.Thread(target=self._accept, daemon=True)
        self._accepting.start()

    def _accept(self) -> None:
        while True:
            try:
                client, _ = self._server.accept()
            except OSError:
                return
            upstream = socket.create_connection(("127.0.0.1", self.target))
            self._sockets += [client, upstream]
            marked = {"cut": False}  # this connection carries the request to cut
            for args in ((client, upstream, True, marked), (upstream, client, False, marked)):
                thread = threading.Thread(target=self._pipe, args=args, daemon=True)
                thread.start()
                self._threads.append(thread)

    def _pipe(self, source: socket.socket, sink: socket.socket, to_daemon: bool, marked: dict) -> None:
        passed = 0
        try:
            while True:
                data = source.recv(65536)
                if not data:
                    break
                if to_daemon and self.matches(data):
                    with self._lock:
                        self.seen += 1
                        marked["cut"] = self.seen == self.nth or (self.nth is None and not self.cuts)
                    passed = 0
                if marked["cut"] and to_daemon != self.method.startswith(b"GET "):  # a GET is cut in its answer
                    passed += len(data)
                    if passed > self.cut_after:
                        with self._lock:
                            first = not self.cuts
                            self.cuts += first
                        if first:
                            break
                with self._lock:
                    if to_daemon:
                        self.sent += len(data)
                    else:
                        self.sent_back += len(data)
                sink.sendall(data)
        except OSError:
            pass
        for sock in (source, sink):
            try:
                sock.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
            sock.close()

    def close(self) -> None:
        """Stop accepting, cut what is still open (a browser keeps its
        connections), and join every thread with a deadline."""
        try:
            self._server.shutdown(socket.SHUT_RDWR)  # wakes the blocked accept (close alone does not)
        except OSError:
            pass
        self._server.close()
        for sock in self._sockets:
            try:
                sock.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
        for thread in [self._accepting] + self._threads:
            thread.join(10)
            if thread.is_alive():
                raise AssertionError("a proxy thread did not end")
