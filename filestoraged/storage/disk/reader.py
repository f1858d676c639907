"""Reading a stored file: every byte handed out is checked in the buffer that
is handed out, never in a second read of the file.

- Objects up to ``SMALL_OBJECT`` are read whole and checked against their id
  before any header is sent: corruption is a clean ``500``.
- Bigger objects with a block record (``storage.blocks``, written by the
  upload) are read a block at a time; each block is checked against its
  recorded check before any byte of it leaves, so a changed byte is never
  sent, and a ``Range`` reads and checks only the blocks it covers.
- Objects without a (valid) record (a crash between record and object, a
  torn record, a record of an older form that is gone) are hashed whole
  from the same buffers that are sent; the last piece is held back until
  the whole matched, and the record is then written so the next read takes
  the block path.

On the block path, reading, checking and sending overlap: a thread reads
and checks the next blocks while the caller's thread sends the previous one
(``zlib.crc32``, ``preadv`` and socket calls release the GIL).
"""

from __future__ import annotations

import hashlib
import os
import queue
from contextlib import closing
from typing import Callable, Iterator, List, Optional, Tuple

from .. import blocks
from ..blocks import BLOCK
from ...errors import CorruptObject
from ...base.held_hashing import sha256_held
from ...base.threads import Stage, ahead
from ..interface import ObjectInfo, StoredObject, clamp_range, verify_digest


# Objects up to this size are read whole and verified before the headers go out.
SMALL_OBJECT = 256 * 1024
# Buffers (blocks) one download holds while blocks are read, checked and sent.
RING = 3
# A range of at most this many blocks is read and checked by the thread that
# sends it: handing blocks to helper threads cost a 1 MiB range (3 blocks)
# 0.76 ms against 0.32 ms done in line (measured in the process); longer
# transfers gain from reading and checking ahead while they send.
AT_ONCE = 4
# Block buffers kept for the next transfer in this process: a fresh 512 KiB
# buffer is fresh pages, faulted in on its first read.
SPARE_BUFFERS = 8
_spare: "queue.SimpleQueue[bytearray]" = queue.SimpleQueue()


def _spare_buffer() -> bytearray:
    try:
        return _spare.get_nowait()
    except queue.Empty:
        return bytearray(BLOCK)


def _give_back(buffer: bytearray) -> None:
    if _spare.qsize() < SPARE_BUFFERS:
        _spare.put(buffer)


class DiskObject(StoredObject):
    """A stored file opened for reading (``fd``), with its block checks if recorded.

    ``on_small(data)`` receives the verified bytes of a small object (for the
    hot cache); ``on_checks(checks)`` a record derived by a whole-file check.
    """

    def __init__(self, info: ObjectInfo, fd: int, checks: Optional[List[bytes]],
                 proof: Optional[Callable[[], bool]] = None,
                 on_small: Callable[[bytes], None] = lambda data: None,
                 on_checks: Callable[[List[bytes]], None] = lambda found: None) -> None:
        super().__init__(info, proof)
        self._fd = fd
        self._checks = checks
        self._small: Optional[bytes] = None
        self._on_small = on_small
        self._on_checks = on_checks

    def preflight(self) -> None:
        if self.info.size <= SMALL_OBJECT:
            data = os.pread(self._fd, self.info.size + 1, 0)
            verify_digest(self.info.oid, sha256_held(data), "object %s" % self.info.oid)
            self._small = data
            self._on_small(data)

    def verified_bytes(self, start: int, end: int) -> Optional[bytes]:
        return None if self._small is None else self._small[start:end]

    def chunks(self, start: int = 0, end: Optional[int] = None) -> Iterator[bytes]:
        start, end = clamp_range(self.info.size, start, end)
        if self._small is not None:
            if start < end:
                yield self._small[start:end]
        elif self._checks is not None:
            yield from self._checked_blocks(start, end)
        else:
            yield from self._checked_whole(start, end)

    def pieces(self, start: int = 0, end: Optional[int] = None) -> Iterator[bytes]:
        start, end = clamp_range(self.info.size, start, end)
        if self._small is None and self._checks is not None:
            if blocks.block_count(end) - start // BLOCK > AT_ONCE:
                return self._ring_blocks(start, end)  # read ahead on a thread, checked block by block
            return self._inline_blocks(start, end)
        return self.chunks(start, end)

    def close(self) -> None:
        if self._fd >= 0:
            os.close(self._fd)
            self._fd = -1


    def _checked_blocks(self, start: int, end: int) -> Iterator[bytes]:
        """Bytes ``[start, end)`` from the blocks that cover them, each checked
        against its recorded check before any of it is yielded."""
        for index in range(start // BLOCK, -(-end // BLOCK)):
            offset = index * BLOCK
            data = self._read_block(offset)
            self._check_block(index, data)
            yield memoryview(data)[max(0, start - offset):end - offset]

    def _inline_blocks(self, start: int, end: int) -> Iterator[memoryview]:
        """As ``_checked_blocks``, into one spare buffer reused block after
        block: each piece is valid only until the next one is asked for."""
        buffer = _spare_buffer()
        try:
            for index in range(start // BLOCK, -(-end // BLOCK)):
                view = self._read_into(buffer, index)
                self._check_block(index, view)
                offset = index * BLOCK
                yield view[max(0, start - offset):end - offset]
        finally:
            _give_back(buffer)

    def _read_into(self, buffer: bytearray, index: int) -> memoryview:
        offset = index * BLOCK
        view = memoryview(buffer)[:min(BLOCK, self.info.size - offset)]
        if os.preadv(self._fd, [view], offset) != len(view):
            raise CorruptObject("object %s is shorter than its size" % self.info.oid)
        return view

    def _ring_blocks(self, start: int, end: int) -> Iterator[memoryview]:
        """As ``_checked_blocks``, read and checked by two threads ahead of the
        consumer into a ring of ``RING`` reused buffers: each piece is valid only
        until the next one is asked for (``send`` has written it by then).

        Decision: SHA-256 (1.15 GB/s on one core here) bounds a download; two
        checking threads took a 50 MiB download from ~850 to ~1000 MiB/s, and
        reused buffers keep memory at ``RING`` blocks per download with no
        allocation per block."""
        assert self._checks is not None
        free: "queue.SimpleQueue[bytearray]" = queue.SimpleQueue()
        ring = [_spare_buffer() for _ in range(RING)]
        for buffer in ring:
            free.put(buffer)

        def read_and_check(index: int) -> Tuple[bytearray, memoryview]:
            buffer = free.get()
            view = self._read_into(buffer, index)
            self._check_block(index, view)
            return buffer, view

        indexes = range(start // BLOCK, -(-end // BLOCK))
        # At most RING calls in flight or in the consumer's hands (see ahead).
        checked = ahead(read_and_check, indexes, workers=2, depth=RING)
        try:
            with closing(checked):  # the reading threads are done with the ring once this returns
                for index, (buffer, view) in zip(indexes, checked):
                    offset = index * BLOCK
                    yield view[max(0, start - offset):end - offset]
                    free.put(buffer)
        finally:
            for buffer in ring:
                _give_back(buffer)

    def _check_block(self, index: int, data) -> None:
        assert self._checks is not None
        if not blocks.matches(data, self._checks[index]):
            raise CorruptObject("block %d of object %s does not match its check" % (index, self.info.oid))

    def _checked_whole(self, start: int, end: int) -> Iterator[bytes]:
        """Bytes ``[start, end)`` from a pass over the whole file; the last piece
        only once the whole matched its id. Then the block record is written."""
        checks: List[bytes] = []
        yield from self._whole_pass(start, end, checks)
        self._on_checks(checks)

    def _whole_pass(self, start: int, end: int, checks: List[bytes]) -> Iterator[bytes]:
        """Read every block once: a thread reads it and computes its block
        check ahead of the caller, a ``Stage`` hashes the same bytes into the
        whole-object SHA-256, and the pieces of ``[start, end)`` are yielded
        from those very bytes, the last one held back until the whole matched
        the id. This costs a whole SHA-256 of the object, whatever the range:
        it is the path of an object with no record only."""
        whole = hashlib.sha256()
        held = None
        indexes = range(blocks.block_count(self.info.size))
        read = ahead(self._read_and_check, indexes, depth=2)
        with Stage(whole.update, depth=2, name="sha256") as hashing, closing(read):
            for index, (data, block) in zip(indexes, read):
                hashing.submit(data)  # a fresh bytes object: shared read-only
                checks.append(block)
                offset = index * BLOCK
                if offset < end and offset + len(data) > start:
                    if held is not None:
                        yield held
                    held = memoryview(data)[max(0, start - offset):end - offset]
            hashing.finish()
        verify_digest(self.info.oid, whole, "object %s" % self.info.oid)
        if held is not None:
            yield held

    def _read_and_check(self, index: int) -> Tuple[bytes, bytes]:
        data = self._read_block(index * BLOCK)
        return data, blocks.block_check(data)

    def _read_block(self, offset: int) -> bytes:
        length = min(BLOCK, self.info.size - offset)
        data = os.pread(self._fd, length, offset)
        if len(data) != length:
            raise CorruptObject("object %s is shorter than its size" % self.info.oid)
        return data
