"""Reading a stored file back from memcached, verified (see ``store`` for the
format): chunks in bounded ``get_many`` windows fetched one window ahead (a
transfer: beyond the first window, received into a ring of reused buffers),
each chunk checked against its CRC-32 and the whole against its SHA-256, the
last piece held back until that passed. A copy found corrupt is condemned
(``MemcachedFileStore.condemn``) so the next upload repairs it."""

from __future__ import annotations

import hashlib
import itertools
import queue
import zlib
from contextlib import closing
from typing import Iterable, Iterator, List, Optional, Protocol, Tuple, Union

from ...errors import CorruptObject, NotFound
from ..interface import verify_digest
from ...base.threads import Stage, ahead
from .cluster import Cluster
from .manifest import WINDOW_BYTES, Manifest, manifest_key

Chunk = Union[bytes, memoryview]
RING_WINDOW = 2  # chunks per round trip on a transfer's ring (see Retrieval.pieces)
# The first window, fetched and checked before any header is sent: what a
# client that reads nothing more pins, with the ring (see ``pinned_bytes``).
FIRST_WINDOW_BYTES = 2 * 1024 * 1024
# A file up to this size is fetched whole and proven (each chunk's CRC and
# the whole SHA-256) before any header is sent, so a damaged one answers
# 500 corrupt; it pins its size while its client reads (the read budget
# bounds how many do at once). Past it, damage found later cuts the transfer.
PROVEN_BEFORE_HEADERS = 16 * 1024 * 1024


class Source(Protocol):
    """What a read needs of the file store (``MemcachedFileStore``)."""

    cluster: Cluster

    def condemn(self, name: str, manifest: Manifest) -> None: ...


class Retrieval:
    """A stored file being read: iterate for the whole, ``chunks(start, end)``
    for a range. ``prefetch_first()`` fetches and checks the first window early."""

    def __init__(self, store: Source, manifest: Manifest, name: str, token: object = None) -> None:
        self.store = store
        self.manifest = manifest
        self.name = name
        self.token = token  # the manifest item's CAS token when it was read
        self._first: Optional[List[bytes]] = None
        self._proven = False  # the first window is the whole file, its SHA-256 checked
        if manifest.data is not None:  # inline: one window, already here
            self._first, self._windows = [manifest.data], [[]]
            return
        keys = manifest.chunk_keys()
        first = (len(keys) if manifest.size <= PROVEN_BEFORE_HEADERS
                 else max(1, FIRST_WINDOW_BYTES // manifest.chunk_size))
        per_window = max(1, WINDOW_BYTES // manifest.chunk_size)
        self._windows = [keys[:first]] + [keys[i:i + per_window] for i in range(first, len(keys), per_window)]

    def pinned_bytes(self) -> int:
        """The most memory a transfer of this file holds at once, however
        slowly its client reads: the first window, and the ring beyond it."""
        if self.manifest.data is not None:
            return self.manifest.size
        first = len(self._windows[0]) * self.manifest.chunk_size
        rest = sum(len(window) for window in self._windows[1:])
        return min(first, self.manifest.size) + min(rest, 2 * RING_WINDOW + 2) * (self.manifest.chunk_size + 2)

    def __iter__(self) -> Iterator[bytes]:
        return self.chunks()

    def prefetch_first(self) -> None:
        """The first window, each chunk checked; when it is the whole file
        (up to ``PROVEN_BEFORE_HEADERS``), its SHA-256 too."""
        if self._windows and self._first is None:
            self._first = self._fetch(0, check=True)
            if len(self._windows) == 1 and self.manifest.size > FIRST_WINDOW_BYTES:
                digest = hashlib.sha256()
                for chunk in self._first:
                    digest.update(chunk)
                self._verify(digest)
                self._proven = True

    def whole(self) -> Optional[bytes]:
        """All the bytes, verified, if the file fits in the first 2 MiB
        (a bigger proven one is passed on chunk by chunk, never joined)."""
        if len(self._windows) > 1 or self.manifest.size > FIRST_WINDOW_BYTES:
            return None
        self.prefetch_first()
        first, self._first = self._first or [], None  # the joined copy is all that is kept
        data = b"".join(first)
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
        if self._proven:
            yield from (bytes(piece) if len(piece) < len(piece.obj) else piece.obj
                        for piece in self._proven_pieces(start, end))
            return
        windows = ahead(self._window, range(len(self._windows)))
        with closing(windows):
            yield from self._verified(start, end, ((chunk, None) for window in windows for chunk in _emptied(window)))

    def pieces(self, start: int = 0, end: Optional[int] = None) -> Iterator[memoryview]:
        """As ``chunks``, for a transfer that sends each piece before asking for
        the next: beyond the first window, chunks are received into a ring of
        reused buffers (``Cluster.values_into``), so a piece is valid only
        until the next one is asked for.

        Decision (profiled, in the README): receiving every chunk into fresh
        memory cost a 50 MiB transfer more than the copy it saves (a page
        fault per 4 KiB); a ring of ``2 * RING_WINDOW + 2`` chunks is touched
        once and used over and over, and bounds what a slow reader pins."""
        if self._proven:
            yield from self._proven_pieces(start, end)
            return
        first = self._window(0) if self._windows else []
        keys = [key for window in self._windows[1:] for key in window]
        groups = [keys[i:i + RING_WINDOW] for i in range(0, len(keys), RING_WINDOW)]
        ring: "queue.SimpleQueue[bytearray]" = queue.SimpleQueue()
        for _ in range(min(len(keys), 2 * RING_WINDOW + 2)):
            ring.put(bytearray(self.manifest.chunk_size + 2))

        def buffer_for(size: int) -> bytearray:
            # Never waits: at most two groups and one held piece are out (see
            # ``ahead``), so the ring always has a group's worth. A value
            # larger than its chunk gets memory of its own, and fails its CRC.
            return ring.get_nowait() if size <= self.manifest.chunk_size else bytearray(size + 2)

        def receive(group: List[str]) -> List[Tuple[memoryview, bytearray]]:
            found = self.store.cluster.values_into(group, buffer_for)
            missing = [key for key in group if key not in found]
            if missing:
                raise self._missing(self.manifest.chunk_keys().index(missing[0]))
            return [(found[key], found[key].obj) for key in group]

        received = ahead(receive, groups)
        with closing(received):
            chunks = itertools.chain(((chunk, None) for chunk in _emptied(first)),
                                     (pair for group in received for pair in group))
            yield from self._verified(start, end, chunks, ring)

    def _verified(self, start: int, end: Optional[int], chunks: Iterable[Tuple[Chunk, Optional[bytearray]]],
                  ring: "Optional[queue.SimpleQueue[bytearray]]" = None) -> Iterator[Chunk]:
        """The pieces of ``[start, end)`` from ``chunks`` (each with the ring
        buffer it lives in, or None), each chunk checked against its CRC, the
        last piece held back until the whole matched its SHA-256. A ring
        buffer goes back once its piece was passed on and hashed."""
        size = self.manifest.size
        end = size if end is None else min(end, size)
        # Three threads share the work: the fetching one (get_many, presence
        # checks), the hashing one (SHA-256) and this one, which checks each
        # chunk's CRC before passing it on, so the hashing thread makes one
        # pass over the bytes, not two (a 50 MiB retrieve alone: 470 -> 575
        # MiB/s; within the noise in bench/, where curl and memcached share
        # the two cores).
        digest = hashlib.sha256()
        held: Optional[Chunk] = None
        held_lease: Tuple[int, Optional[bytearray]] = (0, None)
        offset = 0
        with Stage(digest.update, depth=8, name="sha256") as hashing:
            for number, (chunk, buffer) in enumerate(chunks):
                self._check_crc(number, chunk)
                lease = (hashing.submit(chunk), buffer)
                piece = chunk[max(0, start - offset):max(0, end - offset)]
                offset += len(chunk)
                if not piece:
                    _give_back(hashing, lease, ring)
                    continue
                if held is not None:
                    yield held
                    _give_back(hashing, held_lease, ring)
                held, held_lease = piece, lease
            hashing.finish()
        self._verify(digest)
        if held is not None:
            yield held

    def _proven_pieces(self, start: int, end: Optional[int]) -> Iterator[memoryview]:
        """Bytes ``[start, end)`` of a file proven whole before the headers."""
        size = self.manifest.size
        end = size if end is None else min(end, size)
        offset = 0
        for chunk in _emptied(self._window(0)):
            piece = memoryview(chunk)[max(0, start - offset):max(0, end - offset)]
            offset += len(chunk)
            if piece:
                yield piece

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
        if self.manifest.data is not None:  # inline: the one window is the manifest's
            return [self.manifest.data]
        keys = self._windows[index]
        found = self.store.cluster.get_many(keys)
        base = sum(len(window) for window in self._windows[:index])
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


def _emptied(window: List[bytes]) -> Iterator[bytes]:
    """The chunks of ``window`` in order, each let go by the list as it is
    passed on: a slow reader pins the window fetched ahead, this chunk and
    what the hashing stage still holds, not every window read."""
    window.reverse()
    while window:
        yield window.pop()


def _give_back(hashing: Stage, lease: Tuple[int, Optional[bytearray]], ring) -> None:
    """Return a ring buffer once the hashing stage is done with its chunk."""
    number, buffer = lease
    if buffer is not None:
        hashing.wait(upto=number)
        ring.put(buffer)
