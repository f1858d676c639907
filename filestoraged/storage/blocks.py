"""Per-block digests: a SHA-256 of every 512 KiB block of an object.

Decision (measured, see README "Integrity"): a download must check the bytes
it actually writes to the socket, not a second read of the file. Hashing the
whole object again on every read costs a full pass even for a small
``Range``, and cannot tell which byte went bad before it left. So the disk
backend keeps, beside each object, the digest of each block of the same
bytes whose SHA-256 names the object (derived by a read that checked the
whole object against its id: the first read, or ``fsck --repair``), and a
reader checks each block in the buffer it is about to send. A ``Range`` then
checks only the blocks it covers.

The record carries a checksum over the object id, the size and the digests,
so a torn or misplaced record is never believed (the reader then falls back
to hashing the whole object, and writes the record anew).

Sizes, decided together: 512 KiB blocks keep a download's buffers at 1.5 MiB
(three blocks in flight); digests are SHA-256 truncated to 128 bits, so the
record of a 50 MiB object is 1.6 KB and fits in an extended attribute (ext4
holds about 3.7 KB per file: objects up to ~115 MiB get a record). 128 bits
leave a changed block undetected with a chance of 2^-128.
"""

from __future__ import annotations

import hashlib
import struct
from typing import List, Optional

BLOCK = 512 * 1024  # bytes per verified block; also the read and write step
_MAGIC = b"FSB1"
_DIGEST = 16
_CHECK = 32


def block_count(size: int) -> int:
    return -(-size // BLOCK)


def block_digest(data) -> bytes:
    """The digest of one block (``bytes`` or a buffer)."""
    return hashlib.sha256(data).digest()[:_DIGEST]


def encode(oid: str, size: int, digests: List[bytes]) -> bytes:
    """The stored form: magic, checksum, then the digests in block order."""
    body = b"".join(digests)
    return _MAGIC + _checksum(oid, size, body) + body


def needs_record(size: int) -> bool:
    """An object of one block needs no record: its block digest is its id."""
    return size > BLOCK


def decode(raw: Optional[bytes], oid: str, size: int) -> Optional[List[bytes]]:
    """The digests if ``raw`` is a whole, matching record for ``oid`` of
    ``size`` bytes; None otherwise (no record, other format, torn, misplaced)."""
    if not needs_record(size):  # the block is the object: its digest is the id's
        return [bytes.fromhex(oid)[:_DIGEST]]
    if not raw or raw[:4] != _MAGIC:
        return None
    check, body = raw[4:4 + _CHECK], raw[4 + _CHECK:]
    if len(body) != block_count(size) * _DIGEST or check != _checksum(oid, size, body):
        return None
    return [body[i:i + _DIGEST] for i in range(0, len(body), _DIGEST)]


def _checksum(oid: str, size: int, body: bytes) -> bytes:
    return hashlib.sha256(_MAGIC + oid.encode("ascii") + struct.pack(">Q", size) + body).digest()
