"""Values from memcached received straight into buffers the caller lends.

pymemcache's ``get_many`` receives a value in 64 KiB pieces and joins them:
one more copy of every byte, into memory fresh for each value (profiled on a
50 MiB download: 22 of the fetch's 39 ms). Here a batch of meta gets
(``mg <key> v``, memcached 1.6+; answered in order, ``VA <size>`` and the
bytes, or ``EN`` for a miss; ``mn`` marks the end) is read with
``recv_into`` into buffers from the caller, which a transfer reuses.
"""

from __future__ import annotations

import socket
from typing import Callable, List, Optional, Sequence

from pymemcache.exceptions import MemcacheUnexpectedCloseError, MemcacheUnknownError

RECEIVE = 64 * 1024  # bytes asked of the socket for a reply's header lines
LONGEST_LINE = 4096  # no meta reply line is near this; more is a broken stream

# buffer_for(size) -> a writable buffer of at least size + 2 bytes (the value
# and its "\r\n"), owned by the caller.
BufferFor = Callable[[int], object]


def meta_gets(keys: Sequence[str]) -> bytes:
    """The commands asking for the values of ``keys``, then the end marker."""
    return b"".join(b"mg %s v\r\n" % key.encode("ascii") for key in keys) + b"mn\r\n"


class Replies:
    """One connection's reply stream, read line by line or value by value."""

    def __init__(self, sock: socket.socket) -> None:
        self.sock = sock
        self._pending = bytearray()  # received, not yet parsed

    def values(self, count: int, buffer_for: BufferFor) -> List[Optional[memoryview]]:
        """The answers to ``count`` meta gets and their end marker: a view of
        each value in its buffer, or None for a miss. A broken or cut stream
        raises a pymemcache error (the caller's connection is then dropped)."""
        found: List[Optional[memoryview]] = []
        for _ in range(count):
            line = self.line()
            if line.startswith(b"VA "):
                size = _number(line.split()[1], line)
                found.append(self.value_into(memoryview(buffer_for(size))[:size + 2]))
            elif line == b"EN":
                found.append(None)
            else:
                raise MemcacheUnknownError("unexpected meta get reply %r" % line[:100])
        if self.line() != b"MN":
            raise MemcacheUnknownError("meta get replies did not end where asked")
        return found

    def line(self) -> bytes:
        """The next reply line, without its ``\\r\\n``."""
        while True:
            end = self._pending.find(b"\r\n", 0, LONGEST_LINE)
            if end >= 0:
                line = bytes(self._pending[:end])
                del self._pending[:end + 2]
                return line
            if len(self._pending) >= LONGEST_LINE:
                raise MemcacheUnknownError("a reply line longer than %d bytes" % LONGEST_LINE)
            self._pending += self._receive()

    def value_into(self, view: memoryview) -> memoryview:
        """Fill ``view`` (a value and its ``\\r\\n``) from the stream; the value's part."""
        got = min(len(self._pending), len(view))
        view[:got] = self._pending[:got]
        del self._pending[:got]
        while got < len(view):
            count = self.sock.recv_into(view[got:])
            if not count:
                raise MemcacheUnexpectedCloseError()
            got += count
        if view[-2:] != b"\r\n":
            raise MemcacheUnknownError("a value did not end with CRLF")
        return view[:-2]

    def _receive(self) -> bytes:
        piece = self.sock.recv(RECEIVE)
        if not piece:
            raise MemcacheUnexpectedCloseError()
        return piece


def _number(text: bytes, line: bytes) -> int:
    if not text.isdigit():
        raise MemcacheUnknownError("unexpected meta get reply %r" % line[:100])
    return int(text)
