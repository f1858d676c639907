"""The content-address record of an object whose body was streamed to the
store before its SHA-256 was known: ``<key>.ref`` names the body
(``bodies/<random>``) and carries the size, the media type and the block
digests.

Why a record and not the object under its id (measured on the pinned
SeaweedFS, 50 MiB): the key is the SHA-256, known only once the last byte
arrived, so an upload named by it must be spooled whole before its PUT can
start (the daemon answered at 0.46x a direct upload). Streamed to a random
key while hashed, the PUT runs as the bytes arrive; a server-side copy to the
id afterwards costs 206 ms (75 % of the PUT itself), a record costs one
small PUT. The record is immutable and written with ``If-None-Match: *``, so
of two uploads of the same bytes exactly one names its body; the other
deletes its own.

The record carries a checksum over the object id and everything in it, so a
torn or misplaced record is never believed (``CorruptObject``, 503).

Forms, told apart by their magic and both read (a record is never
rewritten): ``FSR2`` holds a CRC-32 per block, ``FSR1`` (written before)
a SHA-256 truncated to 128 bits per block (see ``storage.blocks``).
"""

from __future__ import annotations

import hashlib
import json
import secrets
import struct
from dataclasses import dataclass
from typing import List, Optional, Tuple

from ...errors import CorruptObject
from .. import blocks
from .client import S3Client

SUFFIX = ".ref"
BODIES = "bodies/"  # the bodies of every namespace; a body is named by its record, never listed as an object
_WIDTHS = {b"FSR2": 4, b"FSR1": 16}  # bytes of one block's check in each form
_CHECK = 32
_MOST = 4 * 1024 * 1024  # bytes of a record read at most (a 50 GiB object's is 1.6 MB)


@dataclass(frozen=True)
class Ref:
    body: str  # the key the bytes are stored under
    size: int
    content_type: Optional[str]
    digests: List[bytes]  # the block checks (see blocks)


def new_body_key() -> str:
    """A key no other upload takes (128 random bits)."""
    return BODIES + secrets.token_hex(16)


def encode(oid: str, ref: Ref) -> bytes:
    """Magic, checksum, the header's length, the header (JSON), the checks."""
    header = json.dumps({"body": ref.body, "size": ref.size, "type": ref.content_type},
                        separators=(",", ":")).encode()
    checks = b"".join(ref.digests)
    magic = b"FSR2" if all(len(check) == 4 for check in ref.digests) else b"FSR1"
    return magic + _checksum(magic, oid, header, checks) + struct.pack(">I", len(header)) + header + checks


def decode(raw: bytes, oid: str, key: str) -> Ref:
    """The record ``raw`` read at ``key`` for ``oid``; ``CorruptObject`` if it
    is not whole, not ours, or not this object's."""
    try:
        magic = raw[:4]
        if magic not in _WIDTHS:
            raise ValueError("not a record")
        width = _WIDTHS[magic]
        check = raw[4:4 + _CHECK]
        (length,) = struct.unpack(">I", raw[4 + _CHECK:8 + _CHECK])
        header, digests = raw[8 + _CHECK:8 + _CHECK + length], raw[8 + _CHECK + length:]
        if check != _checksum(magic, oid, header, digests):
            raise ValueError("its checksum does not match")
        fields = json.loads(header)
        body, size, content_type = fields["body"], fields["size"], fields["type"]
        if not isinstance(body, str) or not body.startswith(BODIES) or not isinstance(size, int) \
                or size < 0 or not (content_type is None or isinstance(content_type, str)) \
                or len(digests) != blocks.block_count(size) * width:
            raise ValueError("its fields are not what a record holds")
    except (ValueError, KeyError, TypeError, struct.error) as error:
        raise CorruptObject("%s: the object's record is unreadable (%s)" % (key, error)) from None
    return Ref(body, size, content_type, blocks.split(digests, width))


def read(client: S3Client, key: str, oid: str) -> Optional[Tuple[Optional[str], Ref, int]]:
    """The record at ``key`` for ``oid``: ``(its ETag, the record, its size
    in bytes)``, None if there is none; ``CorruptObject`` if it does not read."""
    response = client.request("GET", key)
    try:
        if response.status == 404:
            return None
        raw = response.read(_MOST)
        etag = response.headers.get("ETag")
    finally:
        response.release()
    return etag, decode(raw, oid, key), len(raw)


def _checksum(magic: bytes, oid: str, header: bytes, checks: bytes) -> bytes:
    return hashlib.sha256(magic + oid.encode("ascii") + struct.pack(">I", len(header)) + header + checks).digest()
