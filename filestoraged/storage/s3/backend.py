"""Objects in an S3 bucket, named by their SHA-256 under ``<namespace>/<ab>/``
(``files/`` for the default namespace), in one of two forms: **streamed**
(a body of known length over one block: sent to ``bodies/<random>`` as it
arrives, then named by ``<id>.ref``; see streamed.py and refs.py) or
**whole** (a chunked body, a form's part, one block or less: spooled to
``.tmp`` while hashed, then PUT under ``<id>`` with ``x-amz-checksum-sha256``,
its block digests in ``<id>.blocks``, written before it, removed after it).
Both are written with ``If-None-Match: *`` and read, listed and deleted
alike; a bucket of an older version (whole only) reads as it did.

Write-through: the answer leaves once the store acknowledged the object,
and nothing partial is visible (S3 shows a key whole or not at all; a body
is reachable only through its record; the spool is always removed). Reads
check every block before it is handed out (``S3Object``).
"""

from __future__ import annotations

import errno
import hashlib
import logging
import os
import tempfile
from typing import List, Optional, Tuple

from ...base.lru import BoundedCache
from ...errors import BackendUnavailable, CorruptObject, FileStoreError, InsufficientStorage, NotFound
from .. import blocks
from ..blocks import BLOCK
from ..interface import (Backend, Hashed, Look, MemoryObject, ObjectInfo, PutResult, Readable, StoredObject,
                         before_publishing, exact_length)
from ..names import Namespace, is_object_id
from . import refs, streamed, whole
from .client import S3Client
from .responses import S3Error, whole_number
from .objects import S3Object
from .streamed import StreamedBody

__all__ = ["S3Backend", "S3Object", "key_of"]  # S3Object lived here; its old import still works
OCTET_STREAM = "application/octet-stream"  # stored when the upload named no type; read back as none
log = logging.getLogger(__name__)
SMALL_OBJECT = BLOCK  # read whole and checked against the id before any header
# /healthz waits at most this long for the store (a balancer's check times out
# in a few seconds: a hung store must read as down, not as a hung daemon).
HEALTH_TIMEOUT = 2.0
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
        self._refs: BoundedCache[Tuple[str, refs.Ref]] = BoundedCache(_RECORDS)  # (ETag, record)
        self._streams: Optional[bool] = None  # the store checks trailers (asked at the first chance)

    def put(self, namespace: Namespace, stream: Readable, content_type: Optional[str] = None,
            expected: Optional[str] = None, hashed: Optional[Hashed] = None) -> PutResult:
        try:
            spool = tempfile.TemporaryFile(dir=self.tmp_dir, prefix="s3-put-")
        except OSError as error:
            raise InsufficientStorage("cannot spool the upload: %s" % error) from None
        with spool:
            try:
                size = exact_length(stream)
                if size is not None and blocks.needs_record(size) and size <= self.max_size and self._streaming():
                    return self._put_streamed(namespace, stream, size, content_type, spool, expected, hashed)
                return self._put_spooled(namespace, stream, content_type, spool, expected, hashed)
            except OSError as error:
                if error.errno in (errno.ENOSPC, errno.EDQUOT):
                    raise InsufficientStorage("no space left to spool the upload") from error
                raise

    def _streaming(self) -> bool:
        """Whether uploads of known length may be streamed (see
        ``streamed.store_checks_trailers``); two threads may both ask once."""
        if self._streams is None:
            self._streams = streamed.store_checks_trailers(self.client)
        return self._streams

    def _put_streamed(self, namespace: Namespace, stream: Readable, size: int, content_type: Optional[str],
                      spool, expected: Optional[str], hashed: Optional[Hashed]) -> PutResult:
        """A body of known length, sent to a key of its own as it arrives;
        then the record that names it by its id (see refs.py)."""
        body = StreamedBody(stream, size, spool)
        body_key = refs.new_body_key()
        self.client.request("PUT", body_key, headers=body.headers(), body=body,
                            payload_sha256=streamed.PAYLOAD).release()
        oid = body.sha256.hexdigest()
        key = key_of(namespace, oid)
        info = ObjectInfo(oid, size, content_type)
        try:
            # Stored whole under its id (a spooled upload of the same bytes), or named by a record.
            look = Look(lambda: self.client.exists(key) or self.client.exists(key + refs.SUFFIX))
            before_publishing(oid, expected, hashed, look)
            if look():
                created = False
            else:
                ref = refs.Ref(body_key, size, content_type, body.digests)
                record = refs.encode(oid, ref)
                response = self.client.request("PUT", key + refs.SUFFIX, body=record, payload_sha256=_hex(record),
                                               headers={"If-None-Match": "*"}, ok=(200, 412))
                response.read()
                response.release()
                created = response.status == 200
        except BaseException:
            self._remove_body(body_key)
            raise
        if not created:  # the same bytes were already named: ours are not needed
            self._remove_body(body_key)
        return PutResult(info, created)

    def _put_spooled(self, namespace: Namespace, stream: Readable, content_type: Optional[str],
                     spool, expected: Optional[str], hashed: Optional[Hashed]) -> PutResult:
        """A body of unknown length (chunked, a form's part) or of one block:
        spooled whole while hashed, then stored under its id (see whole.py)."""
        whole_digest, digests, size = whole.spool(stream, spool, self.max_size)
        oid = whole_digest.hexdigest()
        key = key_of(namespace, oid)
        look = Look(lambda: self.client.exists(key) or (blocks.needs_record(size) and
                                                         self.client.exists(key + refs.SUFFIX)))
        before_publishing(oid, expected, hashed, look)
        info = ObjectInfo(oid, size, content_type)
        if look():
            return PutResult(info, False)
        return PutResult(info, whole.store(self.client, key, spool, size, whole_digest, digests,
                                           content_type or OCTET_STREAM))

    def open(self, namespace: Namespace, oid: str) -> StoredObject:
        key = key_of(namespace, oid)
        found = self._find(key, oid)
        if isinstance(found, refs.Ref):
            info = ObjectInfo(oid, found.size, found.content_type)
            return S3Object(info, self.client, found.body, found.digests)
        info = found
        if info.size <= SMALL_OBJECT:
            data = self._get(key, info.size)
            if hashlib.sha256(data).hexdigest() != oid:
                raise CorruptObject("%s: the stored bytes do not match their id" % key)
            return MemoryObject(info, data)
        return S3Object(info, self.client, key, self._record(key, oid, info.size))

    def stat(self, namespace: Namespace, oid: str) -> ObjectInfo:
        found = self._find(key_of(namespace, oid), oid)
        if isinstance(found, refs.Ref):
            return ObjectInfo(oid, found.size, found.content_type)
        return found

    def delete(self, namespace: Namespace, oid: str) -> None:
        """Both forms an object may have (stored whole, or a record and its
        body): the name first, then the bytes, so no reader ever follows a
        name to bytes that are gone."""
        key = key_of(namespace, oid)
        found = False
        if self.client.exists(key):
            found = True
            self.client.request("DELETE", key, ok=(200, 204)).release()
            self.client.request("DELETE", key + whole.BLOCKS, ok=(200, 204)).release()
        ref = self._ref(key, oid)
        if ref is not None:
            found = True
            self.client.request("DELETE", key + refs.SUFFIX, ok=(200, 204)).release()
            self._refs.discard(key)
            self.client.request("DELETE", ref.body, ok=(200, 204)).release()
        if not found:
            raise NotFound("no object %s" % oid)

    def list(self, namespace: Namespace, after: str = "", limit: Optional[int] = None) -> List[ObjectInfo]:
        """Objects in id order. A streamed object's size is in its record:
        one GET per such object the first time a listing meets it (records
        are kept in memory after, as they never change)."""
        prefix = (namespace.path or "files") + "/"
        found: List[ObjectInfo] = []
        for key, size in self.client.keys(prefix, prefix + after[:2] + "/" + after if after else ""):
            name = key[len(prefix):]
            oid, is_ref = name[3:], name.endswith(refs.SUFFIX)
            if is_ref:
                oid = oid[:-len(refs.SUFFIX)]
            if name[2:3] != "/" or not is_object_id(oid) or oid <= after or (found and found[-1].oid == oid):
                continue  # a block record, something not ours, or the second form of one object
            if is_ref:
                size = self._listed_size(key[:-len(refs.SUFFIX)], oid)
                if size is None:  # deleted since the listing
                    continue
            found.append(ObjectInfo(oid, size))
            if limit is not None and len(found) >= limit:
                break
        return found

    def check(self) -> None:
        if self.client.probe(HEALTH_TIMEOUT) != 200:
            raise BackendUnavailable("the bucket %r does not exist on the object store" % self.client.bucket)

    def close(self) -> None:
        self.client.close()

    def _find(self, key: str, oid: str):
        """The object's ``ObjectInfo`` if it is stored whole under its id, its
        ``Ref`` if streamed; ``NotFound`` if neither."""
        response = self.client.request("HEAD", key)
        response.release()
        if response.status == 200:
            content_type = response.headers.get("Content-Type")
            return ObjectInfo(oid, whole_number(response.headers.get("Content-Length", "0"), "Content-Length"),
                              None if content_type == OCTET_STREAM else content_type)
        ref = self._ref(key, oid)
        if ref is None:
            raise NotFound("no object %s" % oid)
        return ref

    def _ref(self, key: str, oid: str) -> Optional[refs.Ref]:
        """The record of a streamed object, or None. A record never changes,
        but it may be deleted and written anew (the same bytes uploaded again,
        perhaps through another daemon) naming another body: a known one is
        believed only while the store's ETag for it is the one it was read
        with (a HEAD instead of a GET)."""
        cached = self._refs.get(key)
        if cached is not None:
            response = self.client.request("HEAD", key + refs.SUFFIX)
            response.release()
            if response.status == 200 and response.headers.get("ETag") == cached[0]:
                return cached[1]
            self._refs.discard(key)
            if response.status == 404:
                return None
        found = refs.read(self.client, key + refs.SUFFIX, oid)
        if found is None:
            return None
        etag, ref, size = found
        if etag:
            self._refs.put(key, (etag, ref), size)
        return ref

    def _listed_size(self, key: str, oid: str) -> Optional[int]:
        """A listed streamed object's size: from a record known already
        without asking (an id's size never changes, and the listing just
        showed the record), else from reading it."""
        cached = self._refs.get(key)
        if cached is not None:
            return cached[1].size
        ref = self._ref(key, oid)
        return None if ref is None else ref.size

    def _remove_body(self, body_key: str) -> None:
        """Best effort: a body no record names is never read (fsck's to find
        if this fails; see the README)."""
        try:
            self.client.request("DELETE", body_key, ok=(200, 204)).release()
        except FileStoreError:
            log.warning("could not remove %s, a body no record names", body_key)

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
            response = self.client.request("GET", key + whole.BLOCKS)
            raw = response.read() if response.status == 200 else None
            response.release()
            digests = blocks.decode(raw, oid, size)
            if digests is not None:
                self._records.put(key, digests, sum(map(len, digests)))
        return digests


def _hex(raw: bytes) -> str:
    return hashlib.sha256(raw).hexdigest()
