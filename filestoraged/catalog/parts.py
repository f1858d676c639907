"""Unfinished uploads' parts, each stored as it arrives as an object of a
namespace of the upload's own in the backend (``parts/<upload id>``: the
shared store with ``--backend s3``), with a record each, so that any daemon
takes the next part and any daemon finishes the upload. Finishing reads the
parts in order, each checked as every stored object is, as one stream; or,
where the backend laid the parts out in one file (``storage.interface.
Layout``: the disk backend, for parts of one size), adopts that file.
The one mechanism under S3 multipart uploads (``unfinished``) and, across
daemons, tus uploads (``tus.shared``).

Records: ``parts/<upload id>/<number, 8 digits>``: one part (its object,
size, MD5; for a laid-out part its stride and block checks), written once
its bytes are stored; a part sent again replaces it.
``parts-ended/<upload id>``: an upload that ended (its own record gone)
whose parts are not all removed yet (``ended``, ``finish_ended``).
"""

from __future__ import annotations

from contextlib import closing
from dataclasses import asdict, dataclass, replace
from typing import Any, Callable, Iterator, List, Optional, Union

from ..errors import FileStoreError, NotFound
from ..records.interface import Records
from ..storage.interface import (Backend, FinishedFile, Layout, ObjectStream, Readable, StoredObject,
                                 exact_length)
from ..storage.names import Namespace

PARTS = "parts/"
ENDED = "parts-ended/"


@dataclass(frozen=True)
class Part:
    number: int
    oid: str
    size: int
    etag: str  # the MD5 of its bytes
    modified: float
    stride: int = 0  # laid out at (number - 1) x stride in its upload's file; 0: an object of its own
    checks: str = ""  # a laid-out part's block checks, in hex
    checksum: str = ""  # its checksum of the algorithm its upload was created with (base64), if any


class Parts:
    def __init__(self, records: Records, backend: Backend) -> None:
        self.records = records
        self.backend = backend

    def put(self, upload_id: str, number: int, source: Readable, etag: Callable[[], str],
            hashed: Optional[Callable[[str], None]] = None, checksum: Optional[Callable[[str], str]] = None
            ) -> Part:
        """Store part ``number``'s bytes and record it (replacing one sent
        before); ``hashed(oid)``: the body's checks, before anything is kept;
        ``etag()``: the MD5 of what was read; ``checksum(oid)``: its
        checksum to keep, if its upload keeps one."""
        namespace = parts_namespace(upload_id)
        size = exact_length(source)
        layout = self.backend.layout(namespace) if size is not None else None
        laid = layout.put(number, size, source, hashed or _unchecked) if layout is not None else None
        if laid is not None:
            part = Part(number, laid.oid, laid.size, etag(), self.records.now(), laid.stride,
                        b"".join(laid.checks).hex())
        else:
            put = self.backend.put(namespace, source, hashed=(lambda oid, look: hashed(oid)) if hashed else None)
            part = Part(number, put.info.oid, put.info.size, etag(), self.records.now())
        if checksum is not None:
            part = replace(part, checksum=checksum(part.oid))
        value = asdict(part)
        self.records.update(_part(upload_id, number), lambda old: value)
        return part

    def list(self, upload_id: str, after: int = 0, limit: Optional[int] = None) -> List[Part]:
        """The upload's parts by number, from the one after ``after``."""
        prefix = PARTS + upload_id + "/"
        return [Part(**{k: record.value[k] for k in _FIELDS if k in record.value})
                for _, record in self.records.items(prefix, _part(upload_id, after) if after else "", limit)]

    def stream(self, upload_id: str, parts: List[Part]) -> Union["PartsStream", FinishedFile]:
        """The bytes of ``parts``, in order: the upload's file itself when
        the parts are laid out in it and are all it holds, else the parts
        read one by one. Close it when done."""
        namespace = parts_namespace(upload_id)
        layout = self.backend.layout(namespace)
        if layout is not None and parts and all(part.stride for part in parts[:-1]):
            laid = [(part.number, part.size, part.stride, _checks(part)) for part in parts]
            last = parts[-1]
            if last.stride:
                whole = layout.finished(laid)
            elif last.number == len(parts):  # the last part apart: copied to its place
                with closing(PartsStream(self.backend, namespace, [last], layout)) as tail:
                    whole = layout.finished(laid[:-1], tail, last.size)
            else:
                whole = None
            if whole is not None:
                return whole
        return PartsStream(self.backend, namespace, parts, layout)

    def drop(self, upload_id: str) -> None:
        """Every part of the upload: records, then bytes."""
        self.forget(upload_id)
        self.discard(upload_id)

    def forget(self, upload_id: str) -> None:
        """Every part's record (one transaction where the records can make
        one, not a commit per part; a part of a caller's own where it is in one)."""
        with self.records.batch():
            for part in self.list(upload_id):
                self.records.delete(_part(upload_id, part.number))

    def ended(self, upload_id: str, bucket: Optional[str] = None) -> None:
        """The upload ended (its own record removed, in the caller's batch
        where the records make one): its parts' records removed, and its end
        marked until ``remove_ended`` removes their bytes; ``bucket``: the
        bucket those count in, if any."""
        self.forget(upload_id)
        self.records.create(ENDED + upload_id, {"bucket": bucket} if bucket else {})

    def remove_ended(self, upload_id: str) -> Optional[Exception]:
        """An ended upload's parts' bytes removed, then its mark; where the
        backend failed, the mark kept and what failed."""
        return self._settle(upload_id, self.discard)

    def _settle(self, upload_id: str, remove: Callable[[str], None]) -> Optional[Exception]:
        try:
            remove(upload_id)
        except (FileStoreError, OSError) as error:
            return error
        self.records.delete(ENDED + upload_id)
        return None

    def finish_ended(self, bucket_of: Callable[[str, str], None] = lambda upload_id, bucket: None) -> List[str]:
        """The parts of uploads that ended and kept them (a stop between an
        upload's end and their removal, or a backend that failed then)
        removed now, by any process (removing them twice does no harm);
        the ids of the uploads done. ``bucket_of(upload_id, bucket)``: told
        each mark's bucket first, so that the bytes come off its count."""
        done = []
        for name, record in list(self.records.items(ENDED)):
            upload_id, bucket = name[len(ENDED):], str(record.value.get("bucket") or "")
            if bucket:
                bucket_of(upload_id, bucket)
            if self._settle(upload_id, self.drop) is None:  # (records too: a stop may have come first)
                done.append(upload_id)
        return done

    def discard(self, upload_id: str) -> None:
        """Every part's bytes, and the file they were laid out in."""
        namespace = parts_namespace(upload_id)
        for info in self.backend.list(namespace):
            try:
                self.backend.delete(namespace, info.oid)
            except NotFound:
                pass
        layout = self.backend.layout(namespace)
        if layout is not None:
            layout.discard()


class PartsStream:
    """Parts' verified bytes, one after the other, as one stream (``readinto``)."""

    def __init__(self, backend: Backend, namespace: Namespace, parts: List[Part],
                 layout: Optional[Layout] = None) -> None:
        """``layout``: where the laid-out parts among ``parts`` are."""
        self._backend = backend
        self._namespace = namespace
        self._layout = layout
        self._parts: Iterator[Part] = iter(parts)
        self._object: Optional[StoredObject] = None
        self._stream: Optional[Any] = None  # an ObjectStream, or a laid-out part's bytes

    def readinto(self, buffer: memoryview) -> int:
        while True:
            if self._stream is not None:
                count = self._stream.readinto(buffer)
                if count:
                    return count
            self.close()
            part = next(self._parts, None)
            if part is None:
                return 0
            if part.stride and self._layout is not None:
                self._stream = self._layout.read(part.number, part.size, part.stride, _checks(part))
            else:
                self._object = self._backend.open(self._namespace, part.oid)
                self._stream = ObjectStream(self._object)

    def close(self) -> None:
        if self._stream is not None:
            self._stream.close()
            self._stream = None
        if self._object is not None:
            self._object.close()
            self._object = None


_FIELDS = ("number", "oid", "size", "etag", "modified", "stride", "checks", "checksum")


def _checks(part: Part) -> List[bytes]:
    """A laid-out part's block checks (4 bytes each: CRC-32s)."""
    raw = bytes.fromhex(part.checks)
    return [raw[index:index + 4] for index in range(0, len(raw), 4)]


def _unchecked(oid: str) -> None:
    """A part whose body carries no digest to check."""


def parts_namespace(upload_id: str) -> Namespace:
    """Where an unfinished upload's parts' bytes are."""
    return Namespace("parts/" + upload_id)


def _part(upload_id: str, number: int) -> str:
    return "%s%s/%08d" % (PARTS, upload_id, number)
