"""A bounded cache of small objects that have just verified, for hot GETs.

Decision: a 1 KiB GET spent most of its time in five syscalls (open, fstat,
getxattr, pread, close), and with many connections every syscall is a GIL
hand-off between threads. A hit here costs one ``stat``. Entries are keyed
by path and checked against the file's inode, size, mtime and ctime on every
hit, so a file replaced, rewritten or removed behind our back is a miss; our
own deletes evict explicitly. What is served from here are the very bytes
that matched their SHA-256, so the integrity promise holds.
"""

from __future__ import annotations

import os
import threading
from collections import OrderedDict
from typing import Optional, Tuple

Entry = Tuple[Tuple[int, int, int, int], Optional[str], bytes]


def _identity(st: os.stat_result) -> Tuple[int, int, int, int]:
    return st.st_ino, st.st_size, st.st_mtime_ns, st.st_ctime_ns


class HotCache:
    """LRU of ``path -> (file identity, content type, bytes)``, at most ``max_bytes``."""

    def __init__(self, max_bytes: int) -> None:
        self.max_bytes = max_bytes
        self._entries: "OrderedDict[str, Entry]" = OrderedDict()
        self._bytes = 0
        self._lock = threading.Lock()

    def get(self, path: str, st: os.stat_result) -> Optional[Tuple[Optional[str], bytes]]:
        with self._lock:
            entry = self._entries.get(path)
            if entry is None:
                return None
            if entry[0] != _identity(st):
                self._drop(path)
                return None
            self._entries.move_to_end(path)
            return entry[1], entry[2]

    def put(self, path: str, st: os.stat_result, content_type: Optional[str], data: bytes) -> None:
        if len(data) > self.max_bytes // 16:
            return  # one object must not flush the whole cache
        with self._lock:
            self._drop(path)
            self._entries[path] = (_identity(st), content_type, data)
            self._bytes += len(data)
            while self._bytes > self.max_bytes:
                oldest = next(iter(self._entries))
                self._drop(oldest)

    def discard(self, path: str) -> None:
        with self._lock:
            self._drop(path)

    def _drop(self, path: str) -> None:
        entry = self._entries.pop(path, None)
        if entry is not None:
            self._bytes -= len(entry[2])
