"""Bounded in-memory caches for hot small objects.

Decision: with many keep-alive connections a 1 KiB GET is dominated by
per-request work done under the GIL — a handful of syscalls (open, fstat,
getxattr, pread, close), each one a GIL hand-off between threads, and the
Python between them. Two caches cut that down, both holding only bytes that
matched their SHA-256, so the integrity promise holds:

- ``FileCache`` (disk backend): verified bytes by file path, checked against
  the file's inode, size, mtime and ctime on every hit, so a file replaced,
  rewritten or removed behind our back is a miss. A hit costs one ``stat``.
- the handler's ready-made responses (``responses.ReadyResponses``), which
  reuse the same bytes objects, so both together hold them once.
"""

from __future__ import annotations

import os
import threading
from collections import OrderedDict
from typing import Callable, Generic, Optional, Tuple, TypeVar

Value = TypeVar("Value")
Identity = Tuple[int, int, int, int]
# What an entry costs beyond the bytes ``put`` is told of and its key: the
# entry, its identity or proof, the objects that hold them. Measured with
# tracemalloc at 560 bytes (the disk's hot files) to 960 (a ready-made
# answer); uncounted, 16 MiB of ready-made answers to 5-byte files was
# 88,000 entries holding 130 MiB.
ENTRY_OVERHEAD = 1024


class BoundedCache(Generic[Value]):
    """A thread-safe LRU of ``key -> value``, bounded by the sum of the sizes
    given to ``put`` (each with its key and ``ENTRY_OVERHEAD``). A value over
    a sixteenth of the bound is not kept: one object must not flush the
    whole cache."""

    def __init__(self, max_bytes: int) -> None:
        self.max_bytes = max_bytes
        self._entries: "OrderedDict[str, Tuple[Value, int]]" = OrderedDict()
        self._bytes = 0
        self._lock = threading.Lock()

    def get(self, key: str) -> Optional[Value]:
        with self._lock:
            entry = self._entries.get(key)
            if entry is None:
                return None
            self._entries.move_to_end(key)
            return entry[0]

    def put(self, key: str, value: Value, size: int) -> None:
        size += len(key) + ENTRY_OVERHEAD
        if size > self.max_bytes // 16:
            return
        with self._lock:
            self._drop(key)
            self._entries[key] = (value, size)
            self._bytes += size
            while self._bytes > self.max_bytes:
                self._drop(next(iter(self._entries)))

    def discard(self, key: str) -> None:
        with self._lock:
            self._drop(key)

    def discard_if(self, key: str, stale: Callable[[Value], bool]) -> None:
        """Drop ``key`` if its current value is ``stale`` (not one put since)."""
        with self._lock:
            entry = self._entries.get(key)
            if entry is not None and stale(entry[0]):
                self._drop(key)

    def _drop(self, key: str) -> None:
        entry = self._entries.pop(key, None)
        if entry is not None:
            self._bytes -= entry[1]


def identity(st: os.stat_result) -> Identity:
    """What changes when a file is replaced, rewritten or touched."""
    return st.st_ino, st.st_size, st.st_mtime_ns, st.st_ctime_ns


def still_same_file(path: str, expected: Identity) -> bool:
    """True if ``path`` is still the file that had ``expected`` identity."""
    try:
        return identity(os.stat(path)) == expected
    except OSError:
        return False


class FileCache:
    """Verified small file contents by path: ``path -> (identity, content type, bytes)``."""

    def __init__(self, max_bytes: int) -> None:
        self._cache: BoundedCache[Tuple[Identity, Optional[str], bytes]] = BoundedCache(max_bytes)

    def get(self, path: str, st: os.stat_result) -> Optional[Tuple[Optional[str], bytes]]:
        """The content type and bytes if ``st`` is the file that was cached."""
        entry = self._cache.get(path)
        if entry is None:
            return None
        if entry[0] != identity(st):
            self._cache.discard_if(path, lambda current: current is entry)
            return None
        return entry[1], entry[2]

    def put(self, path: str, st: os.stat_result, content_type: Optional[str], data: bytes) -> None:
        self._cache.put(path, (identity(st), content_type, data), len(data))

    def discard(self, path: str) -> None:
        self._cache.discard(path)
