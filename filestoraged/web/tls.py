"""HTTPS with the standard library's ``ssl``: TLS 1.2 or newer, the same
HTTP/1.1 keep-alive, every face.

The handshake runs in the connection's own thread (``handshake``), never in
the accepting one, so a slow or silent client cannot stall ``accept``. No
``sendfile`` is involved anywhere: big downloads already leave through the
verifying reader (``storage.disk.reader``), which works the same over TLS.
"""

from __future__ import annotations

import collections
import logging
import queue
import selectors
import socket
import ssl
import threading
import time
from typing import Callable, Deque, Dict, Optional, Tuple

from ..errors import FileStoreError
from .admission import wait_readable

log = logging.getLogger(__name__)


class TlsConfigError(FileStoreError):
    """The certificate or key cannot be used (a start-up error)."""


def server_context(cert: str, key: str) -> Optional[ssl.SSLContext]:
    """The server's context, or None without a certificate; ``TlsConfigError``
    (one line naming the file and the problem) if it cannot be loaded."""
    if not cert and not key:
        return None
    if not cert or not key:
        raise TlsConfigError("HTTPS needs both --tls-cert and --tls-key")
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    try:
        context.load_cert_chain(cert, key)
    except (OSError, ssl.SSLError) as error:
        raise TlsConfigError("cannot use --tls-cert %s / --tls-key %s: %s" % (cert, key, error)) from None
    return context


# What a client that spoke plain HTTP to the HTTPS port gets (nginx answers
# such requests with its 497 page): a short plain-text answer, not silence.
PLAIN_HTTP_ANSWER = (b"HTTP/1.1 400 Bad Request\r\nContent-Type: text/plain; charset=utf-8\r\n"
                     b"Content-Length: 43\r\nConnection: close\r\n\r\n"
                     b"This port speaks HTTPS: use https:// URLs.\n")


def handshake(sock: ssl.SSLSocket, timeout: float, begin: Callable[[], bool]) -> bool:
    """Complete the TLS handshake within ``timeout`` seconds; False if it
    failed. ``begin`` is asked once the first bytes wait, before anything
    is read: False (the connection was given up while silent) ends it. A
    client that sends plain HTTP (a letter where a TLS record starts with
    0x16) is told to use HTTPS, in plain text."""
    ends = time.monotonic() + timeout
    try:
        if not wait_readable(sock, timeout) or not begin():
            return False
        sock.settimeout(max(ends - time.monotonic(), 0.001))
        first = socket.socket.recv(sock, 1, socket.MSG_PEEK)  # the raw bytes, under the TLS layer
        if first[:1].isalpha():
            socket.socket.sendall(sock, PLAIN_HTTP_ANSWER)
            _drain(sock)
            return False
        sock.do_handshake()
    except (OSError, ssl.SSLError):
        return False
    return True


def _drain(sock: socket.socket, limit: int = 65536) -> None:
    """Read what the plain-HTTP client sent (for a second at most) so the
    close does not reset the connection before it read our answer."""
    socket.socket.shutdown(sock, socket.SHUT_WR)
    sock.settimeout(1.0)
    received = 0
    while received < limit:
        piece = socket.socket.recv(sock, 16384)
        if not piece:
            return
        received += len(piece)


class Refusals:
    """Connections refused over TLS (no slot: ``--max-connections``), all
    answered by one thread: each handshake is driven without blocking (a
    selector), for ``patience`` seconds at most, then the 503 and the close.
    Silent connections wait side by side, never in line before a client
    that speaks: a real client's 503 comes as fast as its handshake. Past
    ``limit`` at once, the one waiting longest is closed unanswered to make
    room (a flood of silent connections costs each its socket, no thread)."""

    def __init__(self, answer: bytes, close: Callable[[socket.socket], None], limit: int = 256,
                 patience: float = 2.0) -> None:
        self._answer = answer
        self._close = close
        self._limit = limit
        self._patience = patience
        self._arrivals: "queue.SimpleQueue[ssl.SSLSocket]" = queue.SimpleQueue()
        self._wake_read, self._wake_write = socket.socketpair()
        self._wake_read.setblocking(False)
        self._wake_write.setblocking(False)
        self._selector = selectors.DefaultSelector()
        self._selector.register(self._wake_read, selectors.EVENT_READ)
        # Oldest first: (deadline, socket); a socket's entry is gone once it ended.
        self._order: Deque[Tuple[float, ssl.SSLSocket]] = collections.deque()
        self._waiting: Dict[ssl.SSLSocket, int] = {}  # socket -> its selector events (0: not registered)
        threading.Thread(target=self._run, name="tls-refusals", daemon=True).start()

    def put(self, sock: ssl.SSLSocket) -> None:
        self._arrivals.put(sock)
        try:
            self._wake_write.send(b"x")
        except OSError:  # the wake-up pipe is full: the thread is awake already
            pass

    def _run(self) -> None:
        while True:
            timeout = max(0.0, self._order[0][0] - time.monotonic()) if self._order else None
            for key, _ in self._selector.select(timeout):
                if key.fileobj is self._wake_read:
                    self._take_arrivals()
                else:
                    self._step(key.fileobj)
            now = time.monotonic()
            while self._order and (self._order[0][1] not in self._waiting or self._order[0][0] <= now):
                self._end(self._order.popleft()[1])

    def _take_arrivals(self) -> None:
        try:
            while self._wake_read.recv(4096):
                pass
        except OSError:
            pass
        while True:
            try:
                sock = self._arrivals.get_nowait()
            except queue.Empty:
                return
            while len(self._waiting) >= self._limit:  # the one waiting longest makes room
                self._end(self._order.popleft()[1])
            try:
                sock.setblocking(False)
            except OSError:
                self._close(sock)
                continue
            self._waiting[sock] = 0
            self._order.append((time.monotonic() + self._patience, sock))
            self._step(sock)

    def _step(self, sock) -> None:
        """The handshake as far as it goes now; once done, the answer and the close."""
        try:
            sock.do_handshake()
        except ssl.SSLWantReadError:
            return self._watch(sock, selectors.EVENT_READ)
        except ssl.SSLWantWriteError:
            return self._watch(sock, selectors.EVENT_WRITE)
        except (OSError, ValueError):
            return self._end(sock)
        try:
            sock.send(self._answer)  # small: fits the socket's buffer
        except (OSError, ValueError):
            pass
        self._end(sock)

    def _watch(self, sock, events: int) -> None:
        registered = self._waiting.get(sock)
        if registered is None or registered == events:
            return
        try:
            if registered:
                self._selector.modify(sock, events)
            else:
                self._selector.register(sock, events)
        except (OSError, ValueError):
            return self._end(sock)
        self._waiting[sock] = events

    def _end(self, sock) -> None:
        registered = self._waiting.pop(sock, None)
        if registered is None:
            return  # ended already
        if registered:
            try:
                self._selector.unregister(sock)
            except (KeyError, ValueError):
                pass
        try:
            self._close(sock)
        except OSError:
            log.debug("closing a refused connection failed", exc_info=True)
