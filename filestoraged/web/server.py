"""The listening server: ``ThreadingHTTPServer`` with the production knobs set.

- ``TCP_NODELAY`` on every accepted socket (small answers leave at once).
- A bound on concurrent connections: past it a client gets an immediate
  ``503`` with ``Retry-After`` instead of a thread, so memory cannot grow
  with the number of waiting clients.
- ``drain()`` waits for in-flight connections to finish (graceful stop):
  ``daemon_threads`` alone would let ``server_close`` drop them.
"""

from __future__ import annotations

import logging
import socket
import threading
import time
from http.server import ThreadingHTTPServer
from typing import Callable, Optional

from ..errors import TooManyConnections
from . import response_head
from .handler import RequestHandler
from .messages import error_response, whole_parts
from .ready import ReadyResponses
from .cors import Cors
from .tls import server_context

log = logging.getLogger(__name__)

# Seconds a connection accepted just before a stop gets to send its first request.
FRESH_GRACE = 1.0
# Memory for ready-made answers to hot small GETs (see ready.py).
READY_RESPONSE_BYTES = 16 * 1024 * 1024

class FileStoreServer(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True
    request_queue_size = 128

    def __init__(self, app, listen_socket: Optional[socket.socket] = None) -> None:
        self.app = app
        self.config = app.config
        self.tls = server_context(self.config.tls_cert, self.config.tls_key)
        self.scheme = "https" if self.tls is not None else "http"
        self.trusted_proxies = frozenset(a.strip() for a in self.config.trusted_proxy.split(",") if a.strip())
        self.cors = Cors(self.config.cors_origin)
        self.ready = ReadyResponses(READY_RESPONSE_BYTES)
        self._slots = threading.BoundedSemaphore(self.config.max_connections)
        self._active = 0
        self._idle = threading.Condition()
        self.stopping = False
        self.tick: Optional[Callable[[], None]] = None  # run by the accept loop (a worker's heartbeat)
        self._waiting = {}  # socket of a connection waiting for, or reading, a request head -> fresh
        self._waiting_lock = threading.Lock()
        if listen_socket is None:
            listen_socket = listen(self.config.host, self.config.port)
        # The socket comes bound and listening: from listen(), from systemd
        # (socket activation) or from the parent of worker processes.
        self.address_family = listen_socket.family
        super().__init__(listen_socket.getsockname()[:2], RequestHandler, bind_and_activate=False)
        self.socket.close()
        self.socket = listen_socket
        self.server_address = listen_socket.getsockname()
        host, port = self.server_address[:2]
        mode = app.access.resolve(host, self.config.trusted_proxy)
        log.info("listening on %s://%s:%d (backend %s, access control %s: %s)", self.scheme, host, port,
                 app.backend.name, mode, app.access.why)

    @property
    def url(self) -> str:
        return url_of(self.scheme, self.server_address)

    def service_actions(self) -> None:
        """Run by ``serve_forever`` after each accept and each idle half second."""
        if self.tick is not None:
            self.tick()

    def get_request(self):
        conn, address = super().get_request()
        conn.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        if self.tls is not None:  # the handshake happens in the connection's thread
            conn = self.tls.wrap_socket(conn, server_side=True, do_handshake_on_connect=False)
        return conn, address

    def process_request(self, request, client_address) -> None:
        if not self._slots.acquire(blocking=False):
            self.app.metrics.refused_connection()
            try:
                request.settimeout(1.0)
                request.sendall(_refusal())
            except OSError:
                pass
            self.shutdown_request(request)
            return
        with self._idle:
            self._active += 1
            # Set under the lock that counts: two threads setting the gauge
            # outside it could leave the older count standing last.
            self.app.metrics.connections(self._active)
        super().process_request(request, client_address)

    def process_request_thread(self, request, client_address) -> None:
        try:
            super().process_request_thread(request, client_address)
        finally:
            self.connection_busy(request)
            self._slots.release()
            with self._idle:
                self._active -= 1
                self.app.metrics.connections(self._active)
                self._idle.notify_all()

    def connection_idle(self, sock, fresh: bool) -> bool:
        """A handler is about to wait for its next request (``fresh``: its
        first); False if we are stopping and it is not fresh."""
        with self._waiting_lock:
            if self.stopping and not fresh:
                return False
            self._waiting[sock] = fresh
            return True

    def connection_busy(self, sock) -> bool:
        """A whole request head has arrived: the request is now in flight (a
        stop lets it finish). False if the stop already began, closing this
        connection while it was still waiting for, or reading, a head."""
        with self._waiting_lock:
            fresh = self._waiting.pop(sock, False)
            return fresh or not self.stopping

    def begin_stop(self) -> None:
        """Close the connections idling between requests (keep-alive) or still
        sending a request head (their request never runs), and make busy ones
        close after their current request.

        A connection accepted but with no request yet gets ``FRESH_GRACE``
        first: its client has just connected and is sending (among workers,
        one that stops for a reload may have accepted it a moment before;
        closing it unanswered would fail a request no other worker can take)."""
        with self._waiting_lock:
            self.stopping = True
        self._close_waiting(lambda fresh: not fresh)
        timer = threading.Timer(FRESH_GRACE, self._close_waiting, (lambda fresh: True,))
        timer.daemon = True
        timer.start()

    def _close_waiting(self, which: Callable[[bool], bool]) -> None:
        with self._waiting_lock:
            for sock, fresh in self._waiting.items():
                if which(fresh):
                    try:
                        sock.shutdown(socket.SHUT_RD)  # its pending read returns EOF
                    except OSError:
                        pass

    def handle_error(self, request, client_address) -> None:
        log.exception("error while serving %s", client_address[0])

    def drain(self, grace: float) -> bool:
        """Wait up to ``grace`` seconds for the requests in flight to finish.
        Call after ``begin_stop()`` and ``shutdown()``."""
        deadline = time.monotonic() + grace
        with self._idle:
            while self._active:
                left = deadline - time.monotonic()
                if left <= 0:
                    return False
                self._idle.wait(left)
        return True


def url_of(scheme: str, address) -> str:
    """``scheme://host:port`` for a socket address (IPv6 hosts in brackets)."""
    host, port = address[:2]
    return "%s://%s:%d" % (scheme, "[%s]" % host if ":" in host else host, port)


def listen(host: str, port: int) -> socket.socket:
    """A listening TCP socket on ``host`` (IPv4, or IPv6 for an address with
    a colon) and ``port`` (0: any free one)."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((host.strip("[]"), port))
        sock.listen(FileStoreServer.request_queue_size)
    except BaseException:
        sock.close()
        raise
    return sock


def _refusal() -> bytes:
    """The whole answer to a connection over ``--max-connections``."""
    headers, payload = whole_parts(error_response(TooManyConnections()), "GET")
    return response_head.head(503, response_head.fields(headers), close=True) + payload
