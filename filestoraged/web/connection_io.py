"""A connection's socket on the way out: the handler's unbuffered writer,
a write that never waits (for whole small answers that take turns), and
the linger before closing on a client still sending."""

from __future__ import annotations

import io
import os
import socket
import ssl
import time

# How long an early answer waits for the client to stop sending.
LINGER_SECONDS = 2.0


class SocketWriter(io.BufferedIOBase):
    """The connection's ``wfile``: each write sent whole, unbuffered (what
    the stdlib's ``StreamRequestHandler`` makes when ``wbufsize`` is 0)."""

    def __init__(self, sock) -> None:
        self._sock = sock

    def writable(self) -> bool:
        return True

    def write(self, data) -> int:
        self._sock.sendall(data)
        with memoryview(data) as view:
            return view.nbytes

    def fileno(self) -> int:
        return self._sock.fileno()


def sends_now(sock) -> bool:
    """True if ``send_now`` can write to ``sock``: a plain socket with a
    timeout (non-blocking underneath, the socket module's documented model).
    Never over TLS: the bytes would bypass the cipher. Asked once per
    connection: its timeouts change, but never to none (all are positive)."""
    return not isinstance(sock, ssl.SSLSocket) and bool(sock.gettimeout())


def send_now(sock, data: bytes) -> int:
    """How much of ``data`` the kernel took without waiting (0 if none), in
    one ``write`` (a socket's ``send`` with a timeout would first poll for up
    to that timeout). Only where ``sends_now(sock)``."""
    try:
        return os.write(sock.fileno(), data)
    except (BlockingIOError, InterruptedError):
        return 0


def linger(sock) -> None:
    """After answering early (413, 400) with body bytes still coming, read and
    drop them for a moment before closing: closing a socket with unread input
    resets it, and the client might lose our answer."""
    try:
        sock.shutdown(socket.SHUT_WR)
        sock.settimeout(LINGER_SECONDS)
        deadline = time.monotonic() + LINGER_SECONDS
        while time.monotonic() < deadline and sock.recv(1 << 20):
            pass
    except OSError:
        pass
