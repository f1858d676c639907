"""Sending an answer made as it is sent (``StreamResponse``: a WebDAV
listing of any size), in chunks of about ``CHUNK`` bytes, at the minimum
send rate as objects are.

``serve_stream`` lets a failure out only before anything was written (the
first chunk's worth is made before the head is sent; the caller then
answers it like any other failure). Once the head is out, a failure of the
face's pieces can only cut the answer: it is returned in ``Streamed``, and
the caller closes the connection without the last chunk, so the client
sees a body that never ended, never a whole-looking wrong one. On HTTP/1.0
the body is not chunked and its end is the connection's (the caller
closes it)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Optional

from ..wire import response_head
from .messages import StreamResponse
from .transfer import Wire

CHUNK = 64 * 1024  # bytes of a streamed answer gathered into one chunk


@dataclass
class Streamed:
    bytes_out: int
    gone: bool = False  # the client went away or read too slowly
    cut_by: Optional[Exception] = None  # the face's failure after the head: the caller closes the connection


def serve_stream(response: StreamResponse, method: str, chunked: bool, wire: Wire) -> Streamed:
    pending = bytearray()
    pieces = iter(response.pieces)
    for piece in pieces:
        pending += piece
        if len(pending) >= CHUNK:
            break
    headers = dict(response.headers)
    headers["Content-Type"] = response.content_type
    if chunked:
        headers["Transfer-Encoding"] = "chunked"
    wire.write(wire.head(response.status, response_head.fields(headers)))
    if method == "HEAD":
        return Streamed(0)
    sent = 0

    def send(data: bytes) -> None:
        nonlocal sent
        wire.sock.sendall(b"%x\r\n%s\r\n" % (len(data), data) if chunked else data)
        sent += len(data)

    try:
        for piece in pieces:
            pending += piece
            if len(pending) >= CHUNK:
                send(bytes(pending))
                pending.clear()
        if pending:
            send(bytes(pending))
        if chunked:
            wire.sock.sendall(b"0\r\n\r\n")
    except OSError:  # the client went away, or reads too slowly (socket.timeout)
        return Streamed(sent, gone=True)
    except Exception as error:  # the face's pieces failed after the head
        return Streamed(sent, cut_by=error)
    return Streamed(sent)
