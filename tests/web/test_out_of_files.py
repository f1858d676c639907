"""A daemon out of what a connection needs: at its open-files limit, a new
connection is answered 503 and closed (not left unanswered in the backlog
while the accept loop spins), a request that needs a file on a connection
it holds is answered 503, never 500, and once connections close it serves
as before; a connection no thread could be started for is answered 503,
and its slot is not lost."""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import socket
import sys
import tempfile
import unittest

from ..support import Daemon, ServerCase, wait_until

LIMIT = 128  # the daemon's open-files limit here (it starts with about 30 open)
MOST = 400  # connections a test opens at most before the limit must have been met
DEADLINE = 10.0


def ask(sock: socket.socket, request: bytes) -> tuple:
    """``(status, headers, body)`` of one answer to ``request`` on ``sock``."""
    sock.sendall(request)
    data = b""
    while b"\r\n\r\n" not in data:
        got = sock.recv(65536)
        if not got:
            raise ConnectionError("closed before an answer: %r" % data[:200])
        data += got
    head, _, body = data.partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    headers = {name.lower(): value.strip() for name, _, value in (line.partition(":") for line in lines[1:])}
    while len(body) < int(headers.get("content-length", "0")):
        got = sock.recv(65536)
        if not got:
            break
        body += got
    return int(lines[0].split(" ")[1]), headers, body


def limited(files: int) -> list:
    """A launcher that runs the daemon with an open-files limit of ``files``."""
    return [sys.executable, "-c", "import os, resource, sys; resource.setrlimit(resource.RLIMIT_NOFILE, (%d, %d)); "
            "os.execv(sys.argv[1], sys.argv[1:])" % (files, files)]


HEALTH = b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n"
NOTHING = b"GET /nothing-here HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n"  # answered 404, no file opened


class OutOfFilesTests(unittest.TestCase):
    def setUp(self) -> None:
        data_dir = tempfile.mkdtemp(prefix="fsd-test-")
        self.addCleanup(shutil.rmtree, data_dir, True)
        self.log = os.path.join(data_dir, "daemon.log")
        self.daemon = Daemon(os.path.join(data_dir, "store"), "--workers", "1", "--max-client-connections", "0",
                             log=self.log, launcher=limited(LIMIT))
        self.daemon.start()
        self.addCleanup(self.daemon.stop)
        self.held: list = []
        self.addCleanup(self._close_held)

    def _close_held(self) -> None:
        for sock in self.held:
            sock.close()
        self.held.clear()

    def fill(self) -> tuple:
        """Connections opened and held (each answered once) until one is
        refused; that one's answer."""
        for _ in range(MOST):
            sock = socket.create_connection(("127.0.0.1", self.daemon.port), timeout=DEADLINE)
            try:
                answer = ask(sock, NOTHING)
            except socket.timeout:
                sock.close()
                self.fail("a connection past the open-files limit got no answer within %d s" % DEADLINE)
            if answer[0] != 404:
                sock.close()
                return answer
            self.held.append(sock)
        self.fail("%d connections were all served under an open-files limit of %d" % (MOST, LIMIT))

    def test_a_connection_past_the_limit_is_answered_503_and_the_daemon_recovers(self) -> None:
        status, headers, body = self.fill()
        self.assertEqual(status, 503, body)
        self.assertEqual(json.loads(body)["error"], "unavailable")
        self.assertEqual(headers.get("retry-after"), "1")
        self.assertEqual(headers.get("connection"), "close")
        # A held connection's request that needs a file: 503, not a bug's 500.
        status, headers, body = ask(self.held[0], b"PUT /data/t HTTP/1.1\r\nHost: 127.0.0.1\r\n"
                                                  b"Content-Length: 5\r\n\r\nhello")
        self.assertEqual(status, 503, body)
        self.assertIn("file descriptor", json.loads(body)["message"])
        # Again, with the descriptor spared for refusals taken back.
        self.assertEqual(self.fill()[0], 503)
        self._close_held()

        def healthy() -> bool:
            with socket.create_connection(("127.0.0.1", self.daemon.port), timeout=DEADLINE) as sock:
                return ask(sock, HEALTH)[0] == 200
        wait_until(healthy, "the daemon serving again once connections closed", DEADLINE)
        with socket.create_connection(("127.0.0.1", self.daemon.port), timeout=DEADLINE) as sock:  # nothing kept
            self.assertEqual(ask(sock, b"GET /data/t/%s HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n"
                                 % hashlib.sha256(b"hello").hexdigest().encode())[0], 404)
        with open(self.log, encoding="utf-8", errors="replace") as log:
            self.assertIn("out of file descriptors", log.read())



class NoThreadTests(ServerCase):
    config_overrides = {"max_connections": 2}

    def test_a_connection_no_thread_could_be_started_for_is_answered_503_and_keeps_no_slot(self) -> None:
        threads = self.server.connection_threads
        real = threads.run
        refusals = [2]  # the first two connections: as when TasksMax= is reached

        def run(function, *args):
            if refusals[0]:
                refusals[0] -= 1
                raise RuntimeError("can't start new thread")
            return real(function, *args)
        threads.run = run
        for _ in range(2):
            with socket.create_connection(("127.0.0.1", self.port), timeout=DEADLINE) as sock:
                status, headers, body = ask(sock, HEALTH)
            self.assertEqual(status, 503, body)
            self.assertEqual(headers.get("retry-after"), "1")
        # Both slots are there still: two connections at once are served.
        with socket.create_connection(("127.0.0.1", self.port), timeout=DEADLINE) as first, \
                socket.create_connection(("127.0.0.1", self.port), timeout=DEADLINE) as second:
            self.assertEqual(ask(first, HEALTH)[0], 200)
            self.assertEqual(ask(second, HEALTH)[0], 200)


if __name__ == "__main__":
    unittest.main()
