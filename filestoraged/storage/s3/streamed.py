"""An upload sent on to the store while it arrives: S3's ``aws-chunked``
body with the SHA-256 as a trailer (``STREAMING-UNSIGNED-PAYLOAD-TRAILER``).

Each block is read from the client, hashed (the object's SHA-256 and the
block's digest), written to a spool and sent, one after the other; the
trailer carries the SHA-256 of the whole, and the store refuses the object
(``InvalidDigest``, nothing stored) if the bytes it got hash otherwise: the
check a spooled upload gets from ``x-amz-checksum-sha256``. Measured on the
pinned SeaweedFS: a right trailer stores the object, a wrong one is a 400
and the key stays absent.

The spool is what a retry sends: a try that fails reads the rest of the
client's body into it (hashing on), then the body goes again from the spool,
so a store that fails mid-upload costs a retry, as for a spooled upload.
Chunks are one block each (the last one shorter), so the encoded length is
known before the first byte is read.
"""

from __future__ import annotations

import base64
import hashlib
import io
import logging
from typing import BinaryIO, Dict, Iterator, List

from ...errors import BadRequest, FileStoreError
from .. import blocks
from ..blocks import BLOCK
from ...base.streams import fill
from . import refs
from .client import S3Client
from .responses import S3Error

log = logging.getLogger(__name__)

PAYLOAD = "STREAMING-UNSIGNED-PAYLOAD-TRAILER"
_TRAILER = b"x-amz-checksum-sha256:"
_CHECKSUM_LENGTH = 44  # base64 of 32 bytes


def encoded_length(size: int) -> int:
    """The bytes of the aws-chunked body of ``size`` bytes: each chunk's
    ``<hex>\\r\\n<data>\\r\\n``, the last chunk ``0\\r\\n``, the trailer, ``\\r\\n``."""
    total = 0
    for start in range(0, size, BLOCK):
        length = min(BLOCK, size - start)
        total += len(b"%x" % length) + 2 + length + 2
    return total + 3 + len(_TRAILER) + _CHECKSUM_LENGTH + 2 + 2


class StreamedBody:
    """The body of one streamed upload of exactly ``size`` bytes (``write_to``
    for each try); ``sha256``, ``digests`` once the last byte was read."""

    def __init__(self, stream, size: int, spool: BinaryIO) -> None:
        self._stream, self.size, self._spool = stream, size, spool
        self._whole = hashlib.sha256()
        self.digests: List[bytes] = []
        self._read = 0  # bytes taken from the client (and spooled) so far
        self.reading_failed = False  # the client's body failed: not the store's fault, never retried

    @property
    def length(self) -> int:
        return encoded_length(self.size)

    def headers(self) -> Dict[str, str]:
        """What the PUT carries besides its signature."""
        return {"Content-Encoding": "aws-chunked", "x-amz-decoded-content-length": str(self.size),
                "x-amz-trailer": "x-amz-checksum-sha256"}

    @property
    def sha256(self) -> "hashlib._Hash":
        return self._whole

    def write_to(self, conn) -> None:
        """Send the whole encoded body on ``conn`` (request head already sent):
        from the client as it arrives on the first try, from the spool after."""
        if self._read == 0:
            self._from_client(conn)
        else:
            self._finish()
            self._from_spool(conn)
        conn.send(b"0\r\n" + _TRAILER + base64.b64encode(self.sha256.digest()) + b"\r\n\r\n")

    def _from_client(self, conn) -> None:
        for block in self._rest():
            conn.send(b"%x\r\n" % len(block))
            conn.send(block)
            conn.send(b"\r\n")

    def _finish(self) -> None:
        """Read what the client has not sent yet into the spool (a retry)."""
        for _ in self._rest():
            pass

    def _rest(self) -> Iterator[memoryview]:
        """The blocks the client has still to send, each hashed, digested and
        spooled as it comes (one buffer, reused: a block is good until the next)."""
        buffer = memoryview(bytearray(BLOCK))
        while self._read < self.size:
            yield self._take(buffer)

    def _from_spool(self, conn) -> None:
        self._spool.seek(0)
        for start in range(0, self.size, BLOCK):
            block = self._spool.read(min(BLOCK, self.size - start))
            if len(block) != min(BLOCK, self.size - start):
                raise OSError("the spooled upload ended early")
            conn.send(b"%x\r\n" % len(block) + block + b"\r\n")

    def _take(self, buffer: memoryview) -> memoryview:
        """The next block from the client: hashed, digested and spooled."""
        want = min(BLOCK, self.size - self._read)
        try:
            count = fill(self._stream, buffer[:want])
        except BaseException:
            self.reading_failed = True
            raise
        if count != want:
            self.reading_failed = True
            raise BadRequest("the body ended after %d of %d bytes" % (self._read + count, self.size))
        block = buffer[:count]
        self._whole.update(block)
        self.digests.append(blocks.block_check(block))
        self._spool.write(block)
        self._read += count
        return block


class _WrongTrailer(StreamedBody):
    @property
    def sha256(self) -> "hashlib._Hash":
        return hashlib.sha256(b"not these bytes")


def store_checks_trailers(client: S3Client) -> bool:
    """Whether the store takes a body whose SHA-256 comes as its trailer, and
    checks it: a body with a wrong trailer must be refused (a store that
    ignores the trailer would keep bytes nobody checked), one with the right
    trailer stored. Two small PUTs, once per process; a store that fails
    either is sent whole uploads only (spooled, ``x-amz-checksum-sha256``).
    ``BackendUnavailable`` if the store does not answer."""
    data = b"filestoraged: does this store check aws-chunked trailers?"
    key = refs.new_body_key()
    stored = False  # a PUT of the probe was answered 200: its key is removed after
    try:
        wrong = _WrongTrailer(io.BytesIO(data), len(data), io.BytesIO())
        refused = client.request("PUT", key, headers=wrong.headers(), body=wrong, payload_sha256=PAYLOAD,
                                 ok=(200, 400))
        refused.release()
        if refused.status != 400:
            stored = refused.status == 200
            log.warning("the object store keeps a body whose SHA-256 trailer is wrong: uploads are stored whole")
            return False
        right = StreamedBody(io.BytesIO(data), len(data), io.BytesIO())
        taken = client.request("PUT", key, headers=right.headers(), body=right, payload_sha256=PAYLOAD)
        taken.release()
        stored = taken.status == 200
        return stored
    except S3Error as error:
        log.warning("the object store does not take aws-chunked bodies (%s): uploads are stored whole", error)
        return False
    finally:
        if stored:
            try:
                client.request("DELETE", key, ok=(200, 204)).release()
            except FileStoreError:
                log.warning("could not remove the probe %s", key)
