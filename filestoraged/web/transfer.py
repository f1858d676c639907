"""Serving a stored object: preflight, the Range/ETag plan, one write for
small answers, streaming with the integrity cut, remembering ready answers,
and the face's ``on_done`` hook.

``serve_object`` raises a ``FileStoreError`` only before anything was written (the
caller then answers it like any other failure). Once the head is out, an
error (a ``CorruptObject``, a share link's count that could not be written)
can only cut the transfer: it is returned in ``Served``, and the caller
closes the connection before the last byte, the one way left to tell the
client its copy is not whole.
"""

from __future__ import annotations

from contextlib import closing
from dataclasses import dataclass
from typing import Callable, Optional

from ..errors import FileStoreError
from ..storage.interface import StoredObject, clamp_range
from ..wire import ranges, response_head
from .messages import ObjectResponse
from ..wire.request_head import Headers


# A stored object is someone's upload: a browser that opens it must not run
# it, or render it as a page, on our origin. Every stored object is
# sandboxed, and only types a browser shows as what they are (a picture, a
# sound, a film, plain text, data) are shown inline; every other type is a
# download, whatever disposition was stored with it or asked for.
# Decision: a list of what is shown safely, not of what is not: browsers
# learn new document types (Chromium renders MHTML sent as message/rfc822
# or multipart/related), and a type left off this list costs a download,
# where one left off the other cost a page on our origin.
SANDBOX = "sandbox; default-src 'none'"
_SHOWN_TYPES = frozenset(("text/plain", "text/csv", "application/json", "application/octet-stream"))
_SHOWN_KINDS = ("image/", "audio/", "video/", "font/")


def is_active(media_type: str) -> bool:
    """True for a type a browser might run or render as a document: any
    type but those it shows as what they are."""
    base = media_type.split(";", 1)[0].strip().lower()
    if base in _SHOWN_TYPES:
        return False
    return not base.startswith(_SHOWN_KINDS) or base.endswith("+xml") or "script" in base


def safe_serving(headers: dict, documents: bool = False) -> dict:
    """The headers that keep a stored object from attacking whoever opens
    it: the sandbox, and for a type that is not shown inline (``is_active``)
    ``attachment``, in place of any disposition stored or asked (its file
    name kept). ``documents``: a PDF is shown too (a person asked to see
    it: the browser's viewer shows it in the sandbox, an origin of its own)."""
    extra = {"Content-Security-Policy": SANDBOX}
    shown_pdf = documents and headers.get("Content-Type", "").split(";", 1)[0].strip().lower() == "application/pdf"
    if is_active(headers.get("Content-Type", "")) and not shown_pdf:
        _, parameters, rest = (headers.get("Content-Disposition") or "").partition(";")
        extra["Content-Disposition"] = "attachment" + parameters + rest
    return extra


@dataclass
class Served:
    status: int
    bytes_out: int
    complete: bool  # every byte of the body went out
    # The transfer was cut by this (the stored copy is bad, or a share link's
    # download could not be counted): the caller closes the connection.
    cut_by: Optional[FileStoreError] = None


class Wire:
    """What serving needs of the connection: ``write`` for a head that a
    body follows, ``whole`` for an answer in one write (the handler's
    ``send_whole``: no poll before it, in the worker's turn), the socket for
    streaming, and the head builder (status line, Date, connection state:
    the handler's)."""

    def __init__(self, write: Callable[[bytes], object], sock, head: Callable[[int, str], bytes],
                 whole: Callable[[bytes], None]) -> None:
        self.write = write
        self.sock = sock
        self.head = head
        self.whole = whole


# remember(header_fields, body, still_current): keep a ready-made answer.
Remember = Callable[[str, bytes, Callable[[], bool]], None]


def serve_object(response: ObjectResponse, method: str, request_headers: Headers, wire: Wire,
          remember: Optional[Remember] = None) -> Served:
    """Answer ``method`` (GET or HEAD) for the stored object in ``response``."""
    obj = response.obj
    complete = False
    try:
        obj.preflight()
        plan = ranges.plan(obj.info, request_headers, response.content_type, response.ranges, response.immutable,
                           response.etag, response.span, response.modified)
        headers = dict(plan.headers)
        headers.update(response.headers)
        headers.update(safe_serving(headers, response.documents))
        fields = response_head.fields(headers)
        head = wire.head(plan.status, fields)
        if method == "HEAD" or plan.status == 304:
            wire.whole(head)
            return Served(plan.status, 0, False)
        in_memory = obj.verified_bytes(plan.start, plan.end)
        if in_memory is not None:  # a small object: one write for all
            if response.before_last is not None:
                response.before_last()
            wire.whole(head + in_memory)
            complete = _delivered(response, wire)
            if (remember is not None and response.immutable and obj.proof is not None and plan.status == 200
                    and not response.headers and response.on_done is None):
                remember(fields, in_memory, obj.proof)
            if (response.keep is not None and method == "GET" and obj.proof is not None and plan.status == 200
                    and response.on_done is None and response.before_last is None):
                response.keep(fields, in_memory, obj.proof)
            return Served(plan.status, len(in_memory), complete)
        wire.write(head)
        try:
            sent = send_pieces(obj, wire.sock, plan.start, plan.end, response.before_last)
        except FileStoreError as error:  # the head is out: only a cut can say it now
            return Served(plan.status, 0, False, error)
        complete = _delivered(response, wire)
        return Served(plan.status, sent, complete)
    finally:
        obj.close()
        if response.on_done is not None:
            response.on_done(complete)


def _delivered(response: ObjectResponse, wire: Wire) -> bool:
    """Whether a counted transfer (a share link's download) reached the
    client: every byte acknowledged by its side, not just taken by our
    kernel (see ``PacedSender.acknowledged``). Other answers: sent is done."""
    if response.before_last is None:
        return True
    if wire.sock.acknowledged():
        return True
    wire.sock.abandon()  # what is still queued must never arrive: the download is given back
    return False


def send_pieces(obj: StoredObject, sock, start: int, end: int,
                before_last: Optional[Callable[[], None]] = None) -> int:
    """Write bytes ``[start, end)`` of ``obj`` to a connected socket, as its
    verified pieces come; return the count sent. ``before_last()``, if
    given, is called once the last piece is in hand (verified: see
    ``StoredObject.chunks``) and before it is written. Nothing is held back
    to find it: the range's length says which piece is last, and a piece may
    live in a buffer reused once the next is asked for."""
    start, end = clamp_range(obj.info.size, start, end)
    sent = 0
    with closing(obj.pieces(start, end)) as pieces:  # stops any reading threads before close()
        for piece in pieces:
            if before_last is not None and sent + len(piece) >= end - start:
                before_last()
            sock.sendall(piece)
            sent += len(piece)
    return sent
