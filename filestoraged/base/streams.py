"""Reading from anything readable: files, request bodies, multipart parts,
responses of other servers."""

from __future__ import annotations

import hashlib


def read_into(stream, buffer: memoryview) -> int:
    """``stream.readinto`` for anything readable; falls back to ``read``."""
    readinto = getattr(stream, "readinto", None)
    if readinto is not None:
        return readinto(buffer) or 0
    data = stream.read(len(buffer))
    buffer[: len(data)] = data
    return len(data)


def fill(stream, buffer: memoryview) -> int:
    """Read until ``buffer`` is full or the stream ends; the count read."""
    filled = 0
    while filled < len(buffer):
        count = read_into(stream, buffer[filled:])
        if not count:
            break
        filled += count
    return filled


class Digested:
    """A stream whose digest (MD5 unless another is given: a key's ETag) is
    taken as it is read."""

    def __init__(self, source, md5=None) -> None:
        self.source, self.md5 = source, md5 or hashlib.md5()

    @property
    def left(self):
        """The bytes still to come, where the source says (a quota refuses a
        body too long for it before reading it: ``storage.disk.quota``)."""
        return getattr(self.source, "left", None)

    def readinto(self, buffer: memoryview) -> int:
        count = self.source.readinto(buffer)
        self.md5.update(buffer[:count])
        return count
