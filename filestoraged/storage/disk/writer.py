"""Writing an upload to its temporary file: a block at a time, hashed (the
object's id), its block checks taken from the same buffers, and pushed to
disk while it still arrives.

Decision: the block record (``storage.blocks``) is computed here, so the
first ``Range`` of a fresh object already costs what the range costs. A
CRC-32 per block costs 0.2 ms a MiB against the SHA-256's 0.7 (a second
SHA-256 pass took 50 MiB uploads from ~400 to ~345 MiB/s, which is why
records were once left to the first read).
"""

from __future__ import annotations

import hashlib
import os
from typing import List, Optional, Tuple

from ..blocks import BLOCK, block_check
from ..interface import Readable, pieces
from ...base.threads import Stage
from .files import write_all
from .quota import Reservation

# Decision: the final ``fsync`` of a 50 MiB file costs about as long as
# receiving it (~60 ms here). A helper thread calls ``fdatasync`` every few MiB
# so that writeback overlaps the transfer and the closing ``fsync`` only has
# the tail left (``sync_file_range`` would be finer, but is not in the
# standard library; ``fdatasync`` of the same fd from another thread is safe).
FLUSH_EVERY = 8 * 1024 * 1024


def write_object(fd: Optional[int], stream: Readable, reservation: Reservation, max_size: int
                 ) -> Tuple[str, int, List[bytes]]:
    """Copy ``stream`` into ``fd``; return its SHA-256 (hex), size and block
    checks. ``TooLarge`` past ``max_size``; quota bytes taken as they come.
    ``fd`` None: the bytes are on disk already (a finished resumable
    upload's file, adopted whole): only hash and count them."""
    digest = hashlib.sha256()
    checks: List[bytes] = []
    size = unflushed = 0
    with Stage(os.fdatasync, name="fdatasync") as flusher:
        for piece in pieces(stream, max_size, BLOCK):
            reservation.take(len(piece))
            digest.update(piece)
            checks.append(block_check(piece))  # pieces are whole blocks but the last
            size += len(piece)
            if fd is None:
                continue
            write_all(fd, piece)
            unflushed += len(piece)
            if unflushed >= FLUSH_EVERY:
                unflushed = 0
                flusher.offer(fd)  # skipped while the last flush still runs
        flusher.finish()
    return digest.hexdigest(), size, checks
