"""Request bodies as bounded streams: ``Content-Length``, chunked, or empty.

``RequestBody`` never holds more than the caller's buffer: it decodes chunked
framing on the fly and raises ``TooLarge`` as soon as the body passes its
limit (before reading anything when ``Content-Length`` already says so).
``Expect: 100-continue`` is answered lazily, on the first read, so a request
refused from its headers gets its answer (a 413, a 403) instead of a 100,
and the connection then closes: the client sends no body to read.
"""

from __future__ import annotations

import re
from typing import Callable, Optional

from ..errors import BadRequest, FileStoreError, TooLarge

_MAX_CHUNK_LINE = 1024
_DIGITS = re.compile(r"[0-9]+")
# 1-16 hex digits (no sign, prefix or underscore), optional extensions, CRLF.
_CHUNK_SIZE = re.compile(rb"([0-9A-Fa-f]{1,16})[ \t]*(?:;[^\r\n]*)?\r?\n")
# An unread request body smaller than this is read and dropped after the
# answer so the connection can be kept alive; a bigger one closes it.
DRAIN_LIMIT = 64 * 1024


class RequestBody:
    """A readable stream over one request's body (``readinto``/``read``)."""

    def __init__(
        self,
        rfile,
        headers,
        limit: int,
        send_continue: Callable[[], None],
    ) -> None:
        self._rfile = rfile
        self.limit = limit
        self._send_continue = send_continue
        self._expects_continue = headers.get("Expect", "").lower() == "100-continue"
        self.received = 0
        if "Transfer-Encoding" in headers:  # chunked: the head parser allows no other
            self.length: Optional[int] = None
            self._chunk_left = 0
            self._chunk_done = False
        else:
            self.length = _content_length(headers.get("Content-Length"))
            if self.length > limit:
                raise TooLarge("the body is %d bytes; the limit is %d" % (self.length, limit))
        self.finished = self.length == 0

    @property
    def awaiting_continue(self) -> bool:
        """Whether the client still waits for ``100 Continue`` (nothing read yet)."""
        return self._expects_continue

    @property
    def left(self) -> Optional[int]:
        """The bytes still to come, when ``Content-Length`` said (None if chunked)."""
        return None if self.length is None else self.length - self.received

    def readinto(self, buffer: memoryview) -> int:
        """Fill ``buffer`` with the next body bytes; 0 at the end of the body."""
        if self._expects_continue:  # an empty body too: botocore's connections break on a final answer alone
            self._expects_continue = False
            self._send_continue()
        if self.finished or not len(buffer):
            return 0
        if self.length is not None:
            count = self._read_plain(buffer)
        else:
            count = self._read_chunked(buffer)
        self.received += count
        if self.received > self.limit:
            raise TooLarge("the body passed the %d-byte limit" % self.limit)
        return count

    def read(self, size: int = -1) -> bytes:
        """Up to ``size`` bytes (all that is left for ``-1``, bounded by the limit)."""
        if size < 0:
            size = self.limit + 1
        buffer = bytearray(size)
        count = self.readinto(memoryview(buffer))
        del buffer[count:]
        return bytes(buffer)

    def read_all(self) -> bytes:
        """The whole body (only for small JSON bodies: bounded by the limit)."""
        parts = []
        while True:
            piece = self.read(65536)
            if not piece:
                return b"".join(parts)
            parts.append(piece)

    def drain(self, most: int) -> bool:
        """Read and drop up to ``most`` remaining bytes; True if the body ended."""
        scratch = memoryview(bytearray(65536))
        left = most
        try:
            while not self.finished and left > 0:
                count = self.readinto(scratch[: min(len(scratch), left)])
                left -= count
        except (TooLarge, BadRequest, OSError):
            return False
        return self.finished


    def _read_plain(self, buffer: memoryview) -> int:
        assert self.length is not None
        want = min(len(buffer), self.length - self.received)
        count = self._rfile.readinto(buffer[:want])
        if not count:  # the client closed its side: nobody to answer (client_gone, 499)
            raise ConnectionResetError("the body ended after %d of %d bytes" % (self.received, self.length))
        if self.received + count >= self.length:
            self.finished = True
        return count

    def _read_chunked(self, buffer: memoryview) -> int:
        if self._chunk_left == 0:
            self._chunk_left = self._next_chunk_size()
            if self._chunk_left == 0:
                self._read_trailers()
                self.finished = True
                return 0
        want = min(len(buffer), self._chunk_left)
        count = self._rfile.readinto(buffer[:want])
        if not count:
            raise ConnectionResetError("the chunked body ended early")
        self._chunk_left -= count
        if self._chunk_left == 0 and self._rfile.readline(_MAX_CHUNK_LINE) not in (b"\r\n", b"\n"):
            raise BadRequest("a chunk is not followed by CRLF")
        return count

    def _next_chunk_size(self) -> int:
        """RFC 9112 §7.1: chunk-size = 1*HEXDIG, then optional extensions. Only
        that: ``int(x, 16)`` alone would also take ``0x5``, ``1_0``, ``+5``."""
        line = self._rfile.readline(_MAX_CHUNK_LINE)
        match = _CHUNK_SIZE.match(line)
        if match is None:
            raise BadRequest("bad chunk size line %r" % line[:40])
        size = int(match.group(1), 16)
        if self.received + size > self.limit:
            raise TooLarge("the body passed the %d-byte limit" % self.limit)
        return size

    def _read_trailers(self) -> None:
        for _ in range(100):
            line = self._rfile.readline(_MAX_CHUNK_LINE)
            if line in (b"\r\n", b"\n", b""):
                return
        raise BadRequest("too many trailer lines")


def _content_length(value: Optional[str]) -> int:
    """RFC 9112 §6.2: Content-Length = 1*DIGIT (ASCII digits only: ``str.isdigit``
    would take ``²``). More digits than any limit could allow is too large."""
    if value is None:
        return 0  # no length and no chunking: an empty body
    value = value.strip(" \t")  # OWS only: "5\x1f" is not 5
    if not _DIGITS.fullmatch(value):
        raise BadRequest("bad Content-Length %r" % value[:40])
    if len(value) > 18:
        raise TooLarge("the body is over %s bytes" % ("9" * 18))
    return int(value)


def has_unread(request, headers) -> bool:
    """True if body bytes of this request may still be on the wire."""
    opened = request.body_opened if request is not None else None
    if opened is not None:
        return not opened.finished
    return "Transfer-Encoding" in headers or headers.get("Content-Length", "0").strip() not in ("", "0")


def settle(request, headers) -> bool:
    """Make sure no unread body bytes are left to be parsed as the next
    request: drop a small rest. False if the connection must close instead."""
    if not has_unread(request, headers):
        return True
    if request is None or _still_expected(request, headers):
        return False  # a client waiting for 100 Continue is answered without it: it sends no body
    try:
        return request.body(DRAIN_LIMIT).drain(DRAIN_LIMIT)
    except FileStoreError:
        return False


def _still_expected(request, headers) -> bool:
    """Whether the client waits for ``100 Continue`` that was never sent."""
    if headers.get("Expect", "").lower() != "100-continue":
        return False
    opened = request.body_opened
    return opened is None or opened.awaiting_continue
