"""S3 multipart uploads that any daemon can continue: a record each, and
its parts (``parts``: each stored as it arrives in the backend, the shared
store with ``--backend s3``, so the next part may reach another daemon).

Records: ``s3/uploads/<bucket>/<id>``: what the upload is for (its key, the
headers and metadata its object will have) and when it was made;
``s3/completed/<bucket>/<id>``: an upload that completed (its key and
ETag), kept ``COMPLETED_KEPT`` so that a completion sent again (a client
retries one whose answer it lost) is answered as the first was. An
upload's end marks it ended among the parts (``parts.Parts.ended``) until
its parts are removed.

An upload not finished ``EXPIRY`` after it was made is swept, its parts
with it (``sweep``).
"""

from __future__ import annotations

import logging
import secrets
import time
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Callable, Dict, Iterator, List, Optional, Set, Tuple, Union

from ..base.interprocess import NamedLocks
from ..base.lru import BoundedCache
from ..errors import BackendUnavailable, BadRequest, FileStoreError, NotFound
from ..records.interface import Conflict, Records
from ..storage.interface import Backend, FinishedFile, Readable
from ..storage.names import Namespace, repository
from .parts import Part, Parts, PartsStream, parts_namespace

log = logging.getLogger(__name__)

UPLOADS = "s3/uploads/"
COMPLETED = "s3/completed/"
COMPLETED_KEPT = 24 * 3600.0  # seconds a completed upload is remembered
EXPIRY = 7 * 24 * 3600.0  # seconds an unfinished upload is kept
MAX_PART = 10000  # part numbers run from 1 to this
MAX_OPEN = 1000  # unfinished uploads of one bucket at once (S3 states none; each is a record, its parts bytes)
COMPLETING_WAIT = 120.0  # seconds a completion waits for another of the same upload (it hashes the whole object)
COMPLETING_STEP = 0.005  # seconds between looks while it waits
_BUCKETS_KEPT = 1024 * 1024  # bytes of bucket names kept by upload id (``bucket_of``)


@dataclass(frozen=True)
class MultipartUpload:
    id: str
    bucket: str
    key: str
    created: float
    fields: Dict[str, object] = field(default_factory=dict)  # the object's type, headers and metadata to be


class Unfinished:
    def __init__(self, records: Records, backend: Backend, locks: Optional[NamedLocks] = None) -> None:
        """``locks``: shared by every process of the machine (one machine's
        daemon), so that completions of one upload take turns there."""
        self.records = records
        self.parts_of = Parts(records, backend)
        self.locks = locks
        self._buckets: BoundedCache[str] = BoundedCache(_BUCKETS_KEPT)  # upload id -> its bucket, as seen here

    def namespaces_of(self, bucket: str) -> List[Namespace]:
        """Where ``bucket``'s bytes are: its repository, and its unfinished
        uploads' parts."""
        return [repository(bucket)] + [parts_namespace(key.rsplit("/", 1)[1])
                                       for key in self.records.keys(UPLOADS + bucket + "/")]

    def bucket_of(self, upload_id: str) -> Optional[str]:
        """The bucket of upload ``upload_id``, if this process made or read
        it (every part is written after its upload is read: ``get``)."""
        return self._buckets.get(upload_id)

    @contextmanager
    def completing(self, upload_id: str) -> Iterator[None]:
        """One completion of an upload at a time on this machine: a second
        one waits for the first to end, then finds the upload completed and
        is answered as it was (as S3 answers a completion sent again),
        instead of racing it for the parts' file and the quota (where it
        would write the object a second time, or be refused room the first
        one did not need). Where the records are shared by several daemons
        there are no such locks: a completion that finds its parts gone
        finds the upload ended (``s3api.multipart``)."""
        if self.locks is None:
            yield
            return
        held = self.locks.hold_within("completing:" + upload_id, True, COMPLETING_WAIT, time.sleep, COMPLETING_STEP)
        if held is None:
            raise BackendUnavailable("another completion of the upload %s is still under way; retry" % upload_id)
        with held:
            yield

    def create(self, bucket: str, key: str, fields: Dict[str, object]) -> MultipartUpload:
        """A new upload; ``BadRequest`` (InvalidRequest) once the bucket has
        ``MAX_OPEN`` unfinished: they end when completed, aborted, or swept
        ``EXPIRY`` after they were made."""
        if len(list(self.records.keys(UPLOADS + bucket + "/", "", MAX_OPEN))) >= MAX_OPEN:
            raise BadRequest("the bucket %s has %d unfinished multipart uploads, the most it keeps: complete or "
                             "abort some (ListMultipartUploads names them)" % (bucket, MAX_OPEN)
                             ).as_s3("InvalidRequest")
        upload = MultipartUpload(secrets.token_hex(16), bucket, key, self.records.now(), dict(fields))
        self._buckets.put(upload.id, bucket, len(bucket))
        self.records.create(_upload(bucket, upload.id), {"key": key, "created": upload.created,
                                                          "fields": upload.fields})
        return upload

    def get(self, bucket: str, upload_id: str) -> MultipartUpload:
        """The upload; ``NotFound`` (NoSuchUpload) if there is none (or it ended)."""
        record = self.records.get(_upload(bucket, upload_id)) if _is_id(upload_id) else None
        if record is None:
            raise NotFound("no upload %s in bucket %s (finished, aborted, expired, or never made)"
                           % (upload_id[:40], bucket)).as_s3("NoSuchUpload")
        self._buckets.put(upload_id, bucket, len(bucket))
        return MultipartUpload(upload_id, bucket, str(record.value["key"]), float(record.value["created"]),
                               dict(record.value.get("fields") or {}))

    def put_part(self, upload: MultipartUpload, number: int, source: Readable, etag: Callable[[], str],
                 hashed: Callable[[str], None], checksum: Optional[Callable[[str], str]] = None) -> Part:
        """Store part ``number``'s bytes and record it (replacing one sent
        before); ``hashed(oid)``: the body's checks, before anything is kept;
        ``etag()``: the MD5 of what was read; ``checksum(oid)``: the part's
        checksum, where the upload keeps one. ``NotFound`` (NoSuchUpload),
        with nothing kept, if the upload ended (completed, aborted) while
        the part was stored."""
        part = self.parts_of.put(upload.id, number, source, etag, hashed, checksum)
        if self.records.get(_upload(upload.bucket, upload.id)) is None:
            self.parts_of.drop(upload.id)  # what the ending's own drop could not see yet
            raise NotFound("the upload %s ended while its part %d was stored" % (upload.id, number)
                           ).as_s3("NoSuchUpload")
        return part

    def parts(self, upload_id: str, after: int = 0, limit: Optional[int] = None) -> List[Part]:
        return self.parts_of.list(upload_id, after, limit)

    def in_bucket(self, bucket: str, after_key: str = "", after_id: str = "", limit: int = 1000
                  ) -> List[MultipartUpload]:
        """Unfinished uploads of ``bucket`` by key, then id, after the given ones."""
        prefix = UPLOADS + bucket + "/"
        found = []
        for name, record in self.records.items(prefix):
            upload = MultipartUpload(name[len(prefix):], bucket, str(record.value["key"]),
                                     float(record.value["created"]), dict(record.value.get("fields") or {}))
            if (upload.key, upload.id) > (after_key, after_id):
                found.append(upload)
        found.sort(key=lambda upload: (upload.key.encode("utf-8"), upload.id))
        return found[:limit]

    def stream(self, upload_id: str, parts: List[Part]) -> Union[PartsStream, FinishedFile]:
        return self.parts_of.stream(upload_id, parts)

    def completed(self, upload: MultipartUpload, etag: str, checksums: Dict[str, str], headers: Dict[str, str]) -> None:
        """The upload made its object (of ``etag`` and ``checksums``; its
        answer's ``headers``, a version id): remembered, then removed."""
        try:
            self.records.create(_completed(upload.bucket, upload.id),
                                {"key": upload.key, "etag": etag, "checksums": checksums, "headers": headers,
                                 "at": self.records.now()})
        except Conflict:
            pass  # another completion of it remembered it first
        self.remove(upload)

    def completion(self, bucket: str, upload_id: str, key: str
                   ) -> Optional[Tuple[str, Dict[str, str], Dict[str, str]]]:
        """The ETag, checksums and answer's headers of the object upload
        ``upload_id`` of ``key`` made, if it completed (within
        ``COMPLETED_KEPT``); None otherwise."""
        record = self.records.get(_completed(bucket, upload_id)) if _is_id(upload_id) else None
        if record is None or record.value.get("key") != key:
            return None
        return (str(record.value["etag"]), dict(record.value.get("checksums") or {}),
                dict(record.value.get("headers") or {}))

    def remove(self, upload: MultipartUpload) -> None:
        """The upload's record and its parts' records, in one transaction
        where the records can make one (a stop between them would leave the
        parts' records with no upload to end them; elsewhere the upload's
        first: no part can be added to it after), with the mark of its
        ending; then its parts' bytes, by the one caller that removed the
        record (two completions, or a completion and an abort, may meet
        here), then the mark. Bytes the backend could not remove now (it
        failed; or a stop came first) stay marked, for ``finish_ended``:
        the upload has ended all the same."""
        with self.records.batch():
            removed = self.records.delete(_upload(upload.bucket, upload.id))
            if removed:
                self.parts_of.ended(upload.id, upload.bucket)
        failed = self.parts_of.remove_ended(upload.id) if removed else None
        if failed is not None:
            log.warning("the parts of the multipart upload %s, which ended, are removed later: %s", upload.id,
                        failed.text if isinstance(failed, FileStoreError) else failed)

    def finish_ended(self) -> List[str]:
        """The parts of uploads that ended and kept them removed now
        (``Parts.finish_ended``): resumable uploads' over shared records
        too. Each mark names its upload's bucket, so that the bytes come
        off its quota's count."""
        return self.parts_of.finish_ended(lambda upload_id, bucket: self._buckets.put(upload_id, bucket, len(bucket)))

    def sweep(self, now: float) -> int:
        """Remove uploads made over ``EXPIRY`` ago; how many."""
        removed = 0
        for name, record in self.records.items(UPLOADS):
            if now - float(record.value["created"]) > EXPIRY:
                bucket, upload_id = name[len(UPLOADS):].split("/", 1)
                self.remove(MultipartUpload(upload_id, bucket, str(record.value["key"]),
                                            float(record.value["created"])))
                removed += 1
        for name, record in self.records.items(COMPLETED):
            if now - float(record.value["at"]) > COMPLETED_KEPT:
                self.records.delete(name)
        return removed


def upload_ids(records: Records) -> Set[str]:
    """The ids of every unfinished upload the records hold (for fsck)."""
    return {name.rsplit("/", 1)[-1] for name in records.keys(UPLOADS)}


def _upload(bucket: str, upload_id: str) -> str:
    return "%s%s/%s" % (UPLOADS, bucket, upload_id)


def _completed(bucket: str, upload_id: str) -> str:
    return "%s%s/%s" % (COMPLETED, bucket, upload_id)


def _is_id(text: str) -> bool:
    return len(text) == 32 and all(c in "0123456789abcdef" for c in text)
