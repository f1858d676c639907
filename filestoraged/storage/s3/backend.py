"""Objects in an S3 bucket: ``<namespace>/<ab>/<sha256>`` (``files/`` for
the default namespace), each with its block digests in a record beside it
(``<key>.blocks``, written before the object, removed after it).

Write-through, never write-behind: an upload is spooled to ``.tmp`` while
its SHA-256 and block digests are made (so a retry can rewind and the
store can check what it got: ``x-amz-checksum-sha256``, refused with
``BadDigest`` if the bytes differ; SeaweedFS does not check the signed
payload hash, though it is sent), then PUT; the answer leaves only after the store
acknowledged it. Nothing partial is left on either side: the spool is
removed whatever happens, and S3 makes an object visible whole or not at all.

Reads check every block before it is handed out (``S3Object``), as on disk;
a ``Range`` fetches only the blocks it covers.
"""

from __future__ import annotations

import base64
import errno
import hashlib
import logging
import os
import tempfile
from typing import Iterator, List, Optional

from ...errors import BackendUnavailable, CorruptObject, FileStoreError, InsufficientStorage, NotFound
from .. import blocks
from ..blocks import BLOCK
from ...base.lru import BoundedCache
from ...base.threads import ahead
from ..interface import (Backend, MemoryObject, ObjectInfo, PutResult, Readable, StoredObject, clamp_range, fill,
                         pieces)
from ..names import Namespace, is_object_id
from .client import S3Client, S3Error, whole_number

OCTET_STREAM = "application/octet-stream"  # stored when the upload named no type; read back as none
log = logging.getLogger(__name__)
SMALL_OBJECT = BLOCK  # read whole and checked against the id before any header
_RECORDS = 4 * 1024 * 1024  # bytes of block records kept in memory (a record never changes)


def key_of(namespace: Namespace, oid: str) -> str:
    return "%s/%s/%s" % (namespace.path or "files", oid[:2], oid)


class S3Backend(Backend):
    name = "s3"

    def __init__(self, client: S3Client, data_dir: str, max_size: int) -> None:
        self.client = client
        self.max_size = max_size
        self.tmp_dir = os.path.join(data_dir, ".tmp")
        os.makedirs(self.tmp_dir, exist_ok=True)
        self._records: BoundedCache[List[bytes]] = BoundedCache(_RECORDS)

    def put(self, namespace: Namespace, stream: Readable, content_type: Optional[str] = None) -> PutResult:
        try:
            spool = tempfile.TemporaryFile(dir=self.tmp_dir, prefix="s3-put-")
        except OSError as error:
            raise InsufficientStorage("cannot spool the upload: %s" % error) from None
        with spool:
            try:
                whole, digests, size = _spool(stream, spool, self.max_size)
            except OSError as error:
                if error.errno in (errno.ENOSPC, errno.EDQUOT):
                    raise InsufficientStorage("no space left to spool the upload") from error
                raise
            oid = whole.hexdigest()
            key = key_of(namespace, oid)
            info = ObjectInfo(oid, size, content_type)
            if self._exists(key):
                return PutResult(info, False)
            if blocks.needs_record(size):
                record = blocks.encode(oid, size, digests)
                record_sha256 = hashlib.sha256(record)
                self.client.request("PUT", key + ".blocks", body=record,
                                    headers={"x-amz-checksum-sha256": _b64(record_sha256.digest())},
                                    payload_sha256=record_sha256.hexdigest())
            # If-None-Match: exactly one of the uploads racing with the same
            # bytes (in this daemon or another) creates the object; the
            # others learn it exists (412). The type is always set: the
            # store would guess one otherwise.
            headers = {"x-amz-checksum-sha256": _b64(whole.digest()), "If-None-Match": "*",
                       "Content-Type": content_type or OCTET_STREAM}
            try:
                response = self.client.request("PUT", key, headers=headers, body=(spool, size),
                                               payload_sha256=oid, ok=(200, 412))
            except BaseException:
                if blocks.needs_record(size):
                    self._forget_record(key)
                raise
            response.read()
            response.release()
        return PutResult(info, response.status == 200)

    def open(self, namespace: Namespace, oid: str) -> StoredObject:
        key = key_of(namespace, oid)
        info = self.stat(namespace, oid)
        size = info.size
        if size <= SMALL_OBJECT:
            data = self._get(key, size)
            if hashlib.sha256(data).hexdigest() != oid:
                raise CorruptObject("%s: the stored bytes do not match their id" % key)
            return MemoryObject(info, data)
        return S3Object(info, self, key, self._record(key, oid, size))

    def stat(self, namespace: Namespace, oid: str) -> ObjectInfo:
        response = self.client.request("HEAD", key_of(namespace, oid))
        response.release()
        if response.status == 404:
            raise NotFound("no object %s" % oid)
        content_type = response.headers.get("Content-Type")
        return ObjectInfo(oid, whole_number(response.headers.get("Content-Length", "0"), "Content-Length"),
                          None if content_type == OCTET_STREAM else content_type)

    def delete(self, namespace: Namespace, oid: str) -> None:
        key = key_of(namespace, oid)
        if not self._exists(key):
            raise NotFound("no object %s" % oid)
        self.client.request("DELETE", key, ok=(200, 204)).release()
        self.client.request("DELETE", key + ".blocks", ok=(200, 204)).release()

    def list(self, namespace: Namespace, after: str = "", limit: Optional[int] = None) -> List[ObjectInfo]:
        prefix = (namespace.path or "files") + "/"
        found: List[ObjectInfo] = []
        for key, size in self.client.keys(prefix, prefix + after[:2] + "/" + after if after else ""):
            name = key[len(prefix):]
            oid = name[3:]
            if name[2:3] == "/" and is_object_id(oid) and oid > after:
                found.append(ObjectInfo(oid, size))
                if limit is not None and len(found) >= limit:
                    break
        return found

    def check(self) -> None:
        response = self.client.request("HEAD", "")
        response.release()
        if response.status != 200:
            raise BackendUnavailable("the bucket %r does not exist on the object store" % self.client.bucket)

    def close(self) -> None:
        self.client.close()

    def _forget_record(self, key: str) -> None:
        """Remove the block record of an object whose PUT failed, if the store
        lets us (best effort: a record alone is never listed nor read)."""
        try:
            if not self._exists(key):  # else another upload of the same bytes made it: the record is its too
                self.client.request("DELETE", key + ".blocks", ok=(200, 204)).release()
        except FileStoreError:
            log.warning("could not remove %s.blocks after a failed upload", key)

    def _exists(self, key: str) -> bool:
        response = self.client.request("HEAD", key)
        response.release()
        return response.status == 200

    def _get(self, key: str, size: int) -> bytes:
        """A whole small object of the ``size`` its HEAD announced (``open``
        checks it against its id). Never more is read: a store that sends
        more than it announced is answered 503, its extra bytes unread."""
        response = self.client.request("GET", key)
        try:
            if response.status == 404:
                raise NotFound("no object %s" % key)
            data = response.read(size + 1)
            if len(data) != size:
                raise S3Error("the object store sent %s bytes of %s where it had announced %d"
                              % ("more" if len(data) > size else len(data), key, size))
            return data
        finally:
            response.release()

    def _record(self, key: str, oid: str, size: int) -> Optional[List[bytes]]:
        """The object's block digests (cached: a record never changes), or
        None when it has none that is whole (the object is then hashed whole)."""
        digests = self._records.get(key)
        if digests is None:
            response = self.client.request("GET", key + ".blocks")
            raw = response.read() if response.status == 200 else None
            response.release()
            digests = blocks.decode(raw, oid, size)
            if digests is not None:
                self._records.put(key, digests, len(digests) * 16)
        return digests


class S3Object(StoredObject):
    """A big object read from S3: a ranged GET of the blocks a request covers,
    each block checked against its digest before a byte of it is handed out.
    Without a record, the whole object is hashed and its last piece held back."""

    def __init__(self, info: ObjectInfo, backend: S3Backend, key: str, digests: Optional[List[bytes]]) -> None:
        super().__init__(info)
        self._backend, self._key, self._digests = backend, key, digests

    def chunks(self, start: int = 0, end: Optional[int] = None) -> Iterator[bytes]:
        start, end = clamp_range(self.info.size, start, end)
        if start >= end:
            return
        if self._digests is None:
            yield from self._whole(start, end)
            return
        first, last = start // BLOCK, (end - 1) // BLOCK
        span = "bytes=%d-%d" % (first * BLOCK, min((last + 1) * BLOCK, self.info.size) - 1)
        response = self._backend.client.request("GET", self._key, headers={"Range": span}, ok=(200, 206))

        def checked(index: int) -> memoryview:
            """Block ``index``, read from the response and checked (on a helper
            thread, while the caller sends the block before it). Measured: a
            second stage that reads while two threads check gained nothing on
            two cores shared with the store itself."""
            block = memoryview(bytearray(min(BLOCK, self.info.size - index * BLOCK)))
            if fill(response, block) != len(block) or blocks.block_digest(block) != self._digests[index]:
                raise CorruptObject("%s: block %d does not match its digest" % (self._key, index))
            return block

        indices = range(first, last + 1)
        try:
            for index, block in zip(indices, ahead(checked, indices, workers=1, depth=3)):
                yield block[max(start - index * BLOCK, 0):min(end - index * BLOCK, len(block))]
        finally:
            response.release()

    def _whole(self, start: int, end: int) -> Iterator[bytes]:
        response = self._backend.client.request("GET", self._key)
        try:
            digest = hashlib.sha256()
            buffer = memoryview(bytearray(BLOCK))
            offset, held = 0, b""
            while offset < self.info.size:
                count = fill(response, buffer)
                if not count:
                    break
                digest.update(buffer[:count])
                piece = bytes(buffer[max(start - offset, 0):max(min(end - offset, count), 0)])
                offset += count
                if held:
                    yield held
                held = piece
            if digest.hexdigest() != self.info.oid or offset != self.info.size:
                raise CorruptObject("%s: the stored bytes do not match their id" % self._key)
            if held:
                yield held
        finally:
            response.release()


def _spool(stream: Readable, spool, max_size: int):
    whole, digests, size = hashlib.sha256(), [], 0
    for piece in pieces(stream, max_size, BLOCK):
        whole.update(piece)
        digests.append(blocks.block_digest(piece))
        spool.write(piece)
        size += len(piece)
    spool.flush()
    return whole, digests, size


def _b64(raw: bytes) -> str:
    return base64.b64encode(raw).decode()
