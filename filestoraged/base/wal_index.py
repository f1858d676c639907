"""What SQLite's write-ahead log says of its last commit, read from the
log's shared index (the ``-shm`` file every connection maps) without
running a statement.

Why: a cached answer is believed while the records it was made from are
unchanged, and asking SQLite (``PRAGMA data_version``) costs a read
transaction: two ``fcntl`` locks and three hand-overs of the interpreter,
about a tenth of a small GET's CPU. The index's header holds the same
knowledge in 48 bytes of shared memory.

The layout is SQLite's, documented for its unix VFS
(https://sqlite.org/walformat.html, "The WAL-Index Header"): two copies of
the header; a writer writes the second, then the first, and a reader that
finds them equal has one consistent header. Every commit moves its change
counter (``iChange``) and its last valid frame (``mxFrame``) on, and a log
started again after a checkpoint takes new salts, so an unchanged header
means unchanged contents. A checkpoint may change it without changing the
contents: that only costs a cached answer.

Hazard: the index is read where SQLite itself mapped it in this process
(found in ``/proc/self/maps`` by the file's device, inode and name), never
through a file of our own. SQLite's locks on the file are POSIX record
locks, which a process loses whole when it closes any descriptor of the
file: opening and closing the index here (as ``mmap`` of a file does)
would let go of SQLite's locks under its connections, and another process
would then take the index for unused and start it again. SQLite keeps that
mapping from a connection's first read until the process's last
connection to the database closes: the owner closes this reader before
its connection.

Decision: a header that cannot be read as SQLite 3.7.0+ writes it (no
such mapping: another system, another VFS, a database not in WAL mode;
another version; not yet made; two copies that differ for longer than a
few tries while a writer writes them) gives None, and the caller asks
SQLite the slow way; never a guess."""

from __future__ import annotations

import ctypes
import os
import sys
import threading
from typing import Optional

_HEADER = 48  # bytes of one copy of the header
_VERSION = (3007000).to_bytes(4, sys.byteorder)  # iVersion (the index is memory: native order)
_TRIES = 4


class WalIndexHeader:
    """The header of ``database``'s write-ahead log index, as this process's
    SQLite connections mapped it. Make it once a connection of the caller's
    own read the database in WAL mode, and close it before that connection."""

    def __init__(self, database: str) -> None:
        self._address = mapped_at(os.path.realpath(database) + "-shm")
        self._lock = threading.Lock()  # (a read never races the close: the mapping may go after it)

    def read(self) -> Optional[bytes]:
        """The header now (its bytes, compared whole), or None where it
        cannot be read (see the module's decision)."""
        with self._lock:
            address = self._address
            if address is None:
                return None
            for _ in range(_TRIES):
                both = ctypes.string_at(address, 2 * _HEADER)
                first = both[:_HEADER]
                if first == both[_HEADER:]:
                    return finished(first)
        return None

    def close(self) -> None:
        with self._lock:
            self._address = None


def finished(header: bytes) -> Optional[bytes]:
    """``header`` if SQLite finished making it in the layout read here
    (``iVersion``, and ``isInit`` at byte 12), else None."""
    return header if header[:4] == _VERSION and header[12] else None


def mapped_at(path: str) -> Optional[int]:
    """The address at which this process mapped the start of ``path`` (at
    least both copies of the header, readable), or None."""
    try:
        found = os.stat(path)
        with open("/proc/self/maps") as maps:
            lines = maps.readlines()
    except OSError:
        return None
    device = "%02x:%02x" % (os.major(found.st_dev), os.minor(found.st_dev))
    for line in lines:
        # start-end perms offset major:minor inode path (a deleted file's name ends " (deleted)")
        fields = line.split(None, 5)
        if len(fields) < 6 or fields[5].rstrip("\n") != path or fields[3] != device:
            continue
        if int(fields[4]) != found.st_ino or int(fields[2], 16) != 0 or not fields[1].startswith("r"):
            continue
        start, end = (int(bound, 16) for bound in fields[0].split("-"))
        if end - start >= 2 * _HEADER:
            return start
    return None
