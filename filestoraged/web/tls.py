"""HTTPS with the standard library's ``ssl``: TLS 1.2 or newer, the same
HTTP/1.1 keep-alive, every face.

The handshake runs in the connection's own thread (``handshake``), never in
the accepting one, so a slow or silent client cannot stall ``accept``. No
``sendfile`` is involved anywhere: big downloads already leave through the
verifying reader (``storage.disk.reader``), which works the same over TLS.
"""

from __future__ import annotations

import ssl
from typing import Optional

from ..errors import FileStoreError


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


def handshake(sock: ssl.SSLSocket, timeout: float) -> bool:
    """Complete the TLS handshake within ``timeout`` seconds; False if it failed."""
    sock.settimeout(timeout)
    try:
        sock.do_handshake()
    except (OSError, ssl.SSLError):
        return False
    return True
