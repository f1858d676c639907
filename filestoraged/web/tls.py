"""HTTPS with the standard library's ``ssl``: TLS 1.2 or newer, the same
HTTP/1.1 keep-alive, every face.

The handshake runs in the connection's own thread (``handshake``), never in
the accepting one, so a slow or silent client cannot stall ``accept``. No
``sendfile`` is involved anywhere: big downloads already leave through the
verifying reader (``storage.disk.reader``), which works the same over TLS.
"""

from __future__ import annotations

import socket
import ssl
import time
from typing import Callable, Optional

from ..errors import FileStoreError
from .admission import wait_readable


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
