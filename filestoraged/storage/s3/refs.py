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
_MAGIC = b"FSR1"
_CHECK = 32
_MOST = 4 * 1024 * 1024  # bytes of a record read at most (a 50 GiB object's is 1.6 MB)


@dataclass(frozen=True)
class Ref:
    body: str  # the key the bytes are stored under
    size: int
    content_type: Optional[str]
    digests: List[bytes]  # the block digests (see blocks)


def new_body_key() -> str:
    """A key no other upload takes (128 random bits)."""
    return BODIES + secrets.token_hex(16)


def encode(oid: str, ref: Ref) -> bytes:
    """Magic, checksum, the header's length, the header (JSON), the digests."""
    header = json.dumps({"body": ref.body, "size": ref.size, "type": ref.content_type},
                        separators=(",", ":")).encode()
    digests = b"".join(ref.digests)
    return _MAGIC + _checksum(oid, header, digests) + struct.pack(">I", len(header)) + header + digests


def decode(raw: bytes, oid: str, key: str) -> Ref:
    """The record ``raw`` read at ``key`` for ``oid``; ``CorruptObject`` if it
    is not whole, not ours, or not this object's."""
    try:
        if raw[:4] != _MAGIC:
            raise ValueError("not a record")
        check = raw[4:4 + _CHECK]
        (length,) = struct.unpack(">I", raw[4 + _CHECK:8 + _CHECK])
        header, digests = raw[8 + _CHECK:8 + _CHECK + length], raw[8 + _CHECK + length:]
        if check != _checksum(oid, header, digests):
            raise ValueError("its checksum does not match")
        fields = json.loads(header)
        body, size, content_type = fields["body"], fields["size"], fields["type"]
        if not isinstance(body, str) or not body.startswith(BODIES) or not isinstance(size, int) \
                or size < 0 or not (content_type is None or isinstance(content_type, str)) \
                or len(digests) != blocks.block_count(size) * 16:
            raise ValueError("its fields are not what a record holds")
    except (ValueError, KeyError, TypeError, struct.error) as error:
        raise CorruptObject("%s: the object's record is unreadable (%s)" % (key, error)) from None
    return Ref(body, size, content_type, [digests[i:i + 16] for i in range(0, len(digests), 16)])


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


def _checksum(oid: str, header: bytes, digests: bytes) -> bytes:
    return hashlib.sha256(_MAGIC + oid.encode("ascii") + struct.pack(">I", len(header)) + header + digests).digest()
