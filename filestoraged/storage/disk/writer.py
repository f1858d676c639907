"""Writing an upload to its temporary file: a block at a time, hashed whole
(the object's id) and per block (its block record, see ``storage.blocks``),
and pushed to disk while it still arrives."""

from __future__ import annotations

import hashlib
import os
from typing import List, Tuple

from ...errors import TooLarge
from .. import blocks
from ..blocks import BLOCK
from ..interface import Readable, fill
from ..threads import Stage
from .files import write_all
from .quota import Reservation

# Decision: the final ``fsync`` of a 50 MiB file costs about as long as
# receiving it (~60 ms here). A helper thread calls ``fdatasync`` every few MiB
# so that writeback overlaps the transfer and the closing ``fsync`` only has
# the tail left (``sync_file_range`` would be finer, but is not in the
# standard library; ``fdatasync`` of the same fd from another thread is safe).
FLUSH_EVERY = 8 * 1024 * 1024


def write_blocks(fd: int, stream: Readable, reservation: Reservation, max_size: int) -> Tuple[str, int, List[bytes]]:
    """Copy ``stream`` into ``fd``; return its SHA-256 (hex), size and block
    digests. ``TooLarge`` past ``max_size``; quota bytes taken as they come."""
    digest = hashlib.sha256()
    digests: List[bytes] = []
    buffer = memoryview(bytearray(BLOCK))
    size = unflushed = 0
    # A block's digest is computed beside the whole-object hash and the write,
    # on the same buffer (hashlib releases the GIL), so the upload takes no
    # longer than with one hash. The first block's digest is the whole hash
    # so far: no thread at all for objects of one block.
    block_digests: Stage[memoryview] = Stage(lambda piece: digests.append(blocks.block_digest(piece)),
                                             name="block-digest")
    flusher: Stage[int] = Stage(os.fdatasync, name="fdatasync")
    with block_digests, flusher:
        while True:
            count = fill(stream, buffer)
            if not count:
                break
            size += count
            if size > max_size:
                raise TooLarge("the object is over the %d-byte limit" % max_size)
            reservation.take(count)
            piece = buffer[:count]
            first = size == count
            if not first:
                block_digests.submit(piece)
            digest.update(piece)
            write_all(fd, piece)
            if first:
                digests.append(blocks.truncated(digest.copy()))
            block_digests.wait()  # the buffer is filled again next
            unflushed += count
            if unflushed >= FLUSH_EVERY:
                unflushed = 0
                flusher.offer(fd)  # skipped while the last flush still runs
            if count < BLOCK:
                break
        flusher.finish()
    return digest.hexdigest(), size, digests
