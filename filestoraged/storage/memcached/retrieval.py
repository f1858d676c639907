"""Reading a stored file back from memcached, verified (see ``store`` for the
format): chunks in bounded ``get_many`` windows fetched one window ahead,
each chunk checked against its CRC-32 and the whole against its SHA-256, the
last piece held back until that passed. A copy found corrupt is condemned
(``MemcachedFileStore.condemn``) so the next upload repairs it."""

from __future__ import annotations

import hashlib
import zlib
from contextlib import closing
from typing import TYPE_CHECKING, Iterator, List, Optional

from ...errors import CorruptObject, NotFound
from ..interface import verify_digest
from ...base.threads import Stage, ahead
from .manifest import WINDOW_BYTES, Manifest, manifest_key

if TYPE_CHECKING:
    from .store import MemcachedFileStore


class Retrieval:
    """A stored file being read: iterate for the whole, ``chunks(start, end)``
    for a range. ``prefetch_first()`` fetches and checks the first window early."""

    def __init__(self, store: MemcachedFileStore, manifest: Manifest, name: str, token: object = None) -> None:
        self.store = store
        self.manifest = manifest
        self.name = name
        self.token = token  # the manifest item's CAS token when it was read
        self._first: Optional[List[bytes]] = None
        if manifest.data is not None:  # inline: one window, already here
            self._first, self._windows = [manifest.data], [[]]
            return
        keys = manifest.chunk_keys()
        per_window = max(1, WINDOW_BYTES // manifest.chunk_size)
        self._windows = [keys[i:i + per_window] for i in range(0, len(keys), per_window)]

    def __iter__(self) -> Iterator[bytes]:
        return self.chunks()

    def prefetch_first(self) -> None:
        if self._windows and self._first is None:
            self._first = self._fetch(0, check=True)

    def whole(self) -> Optional[bytes]:
        """All the bytes, verified, if the file fits in the first window."""
        if len(self._windows) > 1:
            return None
        self.prefetch_first()
        data = b"".join(self._first or [])
        self._verify(hashlib.sha256(data))
        return data

    def check_present(self) -> None:
        """Before any byte is promised: every chunk beyond the first window is
        present and of its size, asked without fetching a value. Eviction,
        memcached's normal failure, is then a clean "corrupt" answer instead
        of a transfer cut near its end; only bytes changed after this check
        can still cut one."""
        keys = [key for window in self._windows[1:] for key in window]
        if not keys:
            return
        first_window = len(self._windows[0])  # fetched and checked already
        missing = [index for index in self.manifest.missing_chunks(self.store.cluster.sizes(keys))
                   if index >= first_window]
        if missing:
            raise self._missing(missing[0])

    def chunks(self, start: int = 0, end: Optional[int] = None) -> Iterator[bytes]:
        """Yield bytes ``[start, end)``; the last piece only after the whole file
        verified (``CorruptObject`` otherwise)."""
        size = self.manifest.size
        end = size if end is None else min(end, size)
        # Three threads share the work: the fetching one (get_many, presence
        # checks), the hashing one (SHA-256) and this one, which checks each
        # chunk's CRC before passing it on, so the hashing thread makes one
        # pass over the bytes, not two (a 50 MiB retrieve alone: 470 -> 575
        # MiB/s; within the noise in bench/, where curl and memcached share
        # the two cores).
        digest = hashlib.sha256()
        held: Optional[bytes] = None
        offset = 0
        number = 0
        windows = ahead(self._window, range(len(self._windows)))
        with Stage(digest.update, depth=8, name="sha256") as hashing, closing(windows):
            for window in windows:
                # Chunks are let go as they are passed on: a slow reader pins
                # the window fetched ahead, this chunk, and what the hashing
                # stage still holds (at most two windows, 16 MiB; it was 24).
                window.reverse()
                while window:
                    chunk = window.pop()
                    self._check_crc(number, chunk)
                    number += 1
                    hashing.submit(chunk)
                    piece = chunk[max(0, start - offset):max(0, end - offset)]
                    offset += len(chunk)
                    if piece:
                        if held is not None:
                            yield held
                        held = piece
            hashing.finish()
        self._verify(digest)
        if held is not None:
            yield held

    def _check_crc(self, number: int, chunk: bytes) -> None:
        if zlib.crc32(chunk) != self.manifest.crcs[number]:
            self.store.condemn(self.name, self.manifest)
            raise CorruptObject("chunk %d of %r does not match its checksum" % (number, self.name))

    def _verify(self, digest: "hashlib._Hash") -> None:
        try:
            verify_digest(self.manifest.sha256, digest, repr(self.name))
        except CorruptObject:
            self.store.condemn(self.name, self.manifest)
            raise

    def _window(self, index: int) -> List[bytes]:
        if index == 0 and self._first is not None:
            first, self._first = self._first, None  # handed over: the reader empties it
            return first
        return self._fetch(index)

    def _fetch(self, index: int, check: bool = False) -> List[bytes]:
        """The chunks of window ``index``, all present (and CRC-checked if ``check``)."""
        keys = self._windows[index]
        found = self.store.cluster.get_many(keys)
        base = index * max(1, WINDOW_BYTES // self.manifest.chunk_size)
        chunks = []
        for number, key in enumerate(keys, base):
            chunk = found.get(key)
            if chunk is None:
                raise self._missing(number)
            if check:
                self._check_crc(number, chunk)
            chunks.append(chunk)
        return chunks

    def _missing(self, number: int) -> Exception:
        """A chunk is gone: evicted (corrupt), or the file was deleted meanwhile."""
        raw = self.store.cluster.get(manifest_key(self.name))
        if raw is None or Manifest.decode(raw, self.name).prefix != self.manifest.prefix:
            return NotFound("%r was deleted while being read" % self.name)
        return CorruptObject("chunk %d of %r is missing (evicted or lost in a restart)" % (number, self.name))
