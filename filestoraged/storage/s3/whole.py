"""The whole form of an S3 object: spooled to ``.tmp`` while hashed, then
PUT under its id with ``x-amz-checksum-sha256`` (the store refuses changed
bytes with ``BadDigest``; SeaweedFS does not check the signed payload hash,
though it is sent) and ``If-None-Match: *``; its block digests in
``<key>.blocks``, written before it and removed if it fails (see
backend.py for when an object takes this form).
"""

from __future__ import annotations

import base64
import hashlib
import logging
from typing import List, Tuple

from ...errors import FileStoreError
from .. import blocks
from ..blocks import BLOCK
from ..interface import Readable, pieces
from .client import S3Client

log = logging.getLogger(__name__)

BLOCKS = ".blocks"  # the suffix of the key of an object's block record


def spool(stream: Readable, spool_file, max_size: int) -> Tuple["hashlib._Hash", List[bytes], int]:
    """Read the whole body into ``spool_file``: its SHA-256, block digests and size."""
    whole, digests, size = hashlib.sha256(), [], 0
    for piece in pieces(stream, max_size, BLOCK):
        whole.update(piece)
        digests.append(blocks.block_check(piece))
        spool_file.write(piece)
        size += len(piece)
    spool_file.flush()
    return whole, digests, size


def store(client: S3Client, key: str, spool_file, size: int, whole: "hashlib._Hash", digests: List[bytes],
          content_type: str) -> bool:
    """PUT the spooled object under ``key``, its block record first; True if
    this PUT created it, False if the same bytes were there already."""
    oid = whole.hexdigest()
    if blocks.needs_record(size):
        record = blocks.encode(oid, size, digests)
        record_sha256 = hashlib.sha256(record)
        client.request("PUT", key + BLOCKS, body=record,
                       headers={"x-amz-checksum-sha256": _b64(record_sha256.digest())},
                       payload_sha256=record_sha256.hexdigest()).release()
    # If-None-Match: exactly one of the uploads racing with the same bytes
    # (in this daemon or another) creates the object; the others learn it
    # exists (412). The type is always set: the store would guess one otherwise.
    headers = {"x-amz-checksum-sha256": _b64(whole.digest()), "If-None-Match": "*", "Content-Type": content_type}
    try:
        response = client.request("PUT", key, headers=headers, body=(spool_file, size), payload_sha256=oid,
                                  ok=(200, 412))
    except BaseException:
        if blocks.needs_record(size):
            _forget_record(client, key)
        raise
    response.read()
    response.release()
    return response.status == 200


def _forget_record(client: S3Client, key: str) -> None:
    """Remove the block record of an object whose PUT failed, if the store
    lets us (best effort: a record alone is never listed nor read)."""
    try:
        if not client.exists(key):  # else another upload of the same bytes made it: the record is its too
            client.request("DELETE", key + BLOCKS, ok=(200, 204)).release()
    except FileStoreError:
        log.warning("could not remove %s%s after a failed upload", key, BLOCKS)


def _b64(raw: bytes) -> str:
    return base64.b64encode(raw).decode()
