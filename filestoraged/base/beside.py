"""Digests taken on a thread beside the one that reads the bytes.

Decision: an S3 PUT computes an MD5 (its ETag) and often a CRC-32 (what
boto3 sends) besides the SHA-256 and block checks every upload computes.
MD5 runs at about 800 MiB/s here, so on the reading thread it took a 50 MiB
curl PUT from ~500 to ~285 MiB/s. hashlib and zlib release the GIL, so on
a second thread the two passes overlap. The bytes are copied into a few
buffers of this object's own (a copy costs a tenth of an MD5), so the
reader may reuse its buffer at once and the memory held is bounded:
``SLOTS`` x ``SLOT`` bytes per stream, whatever its size. The first
``SLOT`` bytes are digested on the caller's thread as they come, holding
the GIL (``held_hashing``): a stream no longer than that (most small S3
PUTs) maps no buffer and starts no thread (making them cost a tenth of a
small write's CPU).

Decision: the buffers are anonymous maps of their own, unmapped when the
stream is done. As bytearrays of the same size they stayed in the heap:
8 multipart uploads at once grew the daemon's peak RSS with the size of
the objects (40 MiB for 20 MiB objects, 137 MiB for 200 MiB; flat at 18
MiB without them), and with maps it stays flat.
"""

from __future__ import annotations

import mmap
from typing import List, Optional, Protocol

from .held_hashing import update_held
from .threads import Stage

SLOT = 256 * 1024
SLOTS = 3


class Digest(Protocol):
    def update(self, data) -> None: ...


class DigestsBeside:
    """``update(data)`` feeds every digest of ``digests``, on a thread of
    its own; ``finish()`` waits until they have all the bytes (call it before
    reading them, and ``close()`` when done, which never raises)."""

    def __init__(self, digests: List[Digest]) -> None:
        self.digests = digests
        self._maps: List[mmap.mmap] = []  # made as they are first needed
        self._buffers: List[memoryview] = []
        self._numbers = [0] * SLOTS  # the Stage item each buffer was last lent as
        self._slot = 0
        self._filled = 0
        self._stage: Optional[Stage[memoryview]] = None  # made once the bytes outgrow SLOT
        self._inline = 0  # bytes digested on the caller's thread
        self._used = False  # the stage was fed
        self._finished = False

    def update(self, data) -> None:
        view = memoryview(data).cast("B")
        if self._stage is None:
            if self._inline + len(view) <= SLOT:
                for digest in self.digests:
                    update_held(digest, view)
                self._inline += len(view)
                return
            self._stage = Stage(self._consume, depth=SLOTS, name="digests")
        while view:
            if self._filled == 0:
                if self._slot == len(self._buffers):
                    self._maps.append(mmap.mmap(-1, SLOT))
                    self._buffers.append(memoryview(self._maps[-1]))
                self._stage.wait(self._numbers[self._slot])  # the buffer is free again
            buffer = self._buffers[self._slot]
            count = min(len(view), SLOT - self._filled)
            # Into a memoryview: a bytearray's slice assignment would first
            # copy the bytes into a new bytearray of their size.
            buffer[self._filled:self._filled + count] = view[:count]
            self._filled += count
            view = view[count:]
            if self._filled == SLOT:
                self._hand_over()

    def finish(self) -> None:
        if self._finished:
            return
        self._finished = True
        if self._stage is None:
            return  # every byte digested as it came
        if not self._used:
            if self._filled:
                self._consume(self._buffers[self._slot][:self._filled])
        else:
            self._hand_over()
            self._stage.finish()
        self._filled = 0

    def close(self) -> None:
        if self._stage is not None:
            self._stage.close()
        for view in self._buffers:
            view.release()
        for area in self._maps:
            try:
                area.close()
            except BufferError:  # a view of it still lives: unmapped when that goes
                pass
        self._buffers, self._maps = [], []

    def _hand_over(self) -> None:
        if self._filled:
            self._used = True
            self._numbers[self._slot] = self._stage.submit(self._buffers[self._slot][:self._filled])
            self._slot = (self._slot + 1) % SLOTS
            self._filled = 0

    def _consume(self, view: memoryview) -> None:
        for digest in self.digests:
            digest.update(view)
