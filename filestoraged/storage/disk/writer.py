"""Writing an upload to its temporary file: a block at a time, hashed (the
object's id), and pushed to disk while it still arrives.

Decision (measured with ``bench/run.py`` and alternating daemons on this
2-core machine): the block record (``storage.blocks``) is not computed here.
A second SHA-256 pass beside the upload took 50 MiB uploads from ~400 to
~345 MiB/s (0.86x), beside the write or in a helper thread alike: the two
cores are busy with the client, the kernel and the one hash already. The
record is written by the first read instead (``reader``), which hashes the
whole object anyway, and by ``fsck --repair``: uploads, duplicates included,
cost one hash.
"""

from __future__ import annotations

import hashlib
import os
from typing import Tuple

from ..blocks import BLOCK
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


def write_object(fd: int, stream: Readable, reservation: Reservation, max_size: int) -> Tuple[str, int]:
    """Copy ``stream`` into ``fd``; return its SHA-256 (hex) and size.
    ``TooLarge`` past ``max_size``; quota bytes taken as they come."""
    digest = hashlib.sha256()
    size = unflushed = 0
    with Stage(os.fdatasync, name="fdatasync") as flusher:
        for piece in pieces(stream, max_size, BLOCK):
            reservation.take(len(piece))
            digest.update(piece)
            write_all(fd, piece)
            size += len(piece)
            unflushed += len(piece)
            if unflushed >= FLUSH_EVERY:
                unflushed = 0
                flusher.offer(fd)  # skipped while the last flush still runs
        flusher.finish()
    return digest.hexdigest(), size
