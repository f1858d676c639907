"""Unfinished uploads' parts, each stored as it arrives as an object of a
namespace of the upload's own in the backend (``parts/<upload id>``: the
shared store with ``--backend s3``), with a record each, so that any daemon
takes the next part and any daemon finishes the upload. Finishing reads the
parts in order, each checked as every stored object is, as one stream.
The one mechanism under S3 multipart uploads (``unfinished``) and, across
daemons, tus uploads (``tus.shared``).

Records: ``parts/<upload id>/<number, 8 digits>``: one part (its object,
size, MD5), written once its bytes are stored; a part sent again replaces
it.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Callable, Iterator, List, Optional

from ..errors import NotFound
from ..records.interface import Records
from ..storage.interface import Backend, ObjectStream, Readable, StoredObject
from ..storage.names import Namespace

PARTS = "parts/"


@dataclass(frozen=True)
class Part:
    number: int
    oid: str
    size: int
    etag: str  # the MD5 of its bytes
    modified: float


class Parts:
    def __init__(self, records: Records, backend: Backend) -> None:
        self.records = records
        self.backend = backend

    def put(self, upload_id: str, number: int, source: Readable, etag: Callable[[], str],
            hashed: Optional[Callable[[str], None]] = None) -> Part:
        """Store part ``number``'s bytes and record it (replacing one sent
        before); ``hashed(oid)``: the body's checks, before anything is kept;
        ``etag()``: the MD5 of what was read."""
        put = self.backend.put(_namespace(upload_id), source, hashed=hashed)
        part = Part(number, put.info.oid, put.info.size, etag(), self.records.now())
        value = asdict(part)
        self.records.update(_part(upload_id, number), lambda old: value)
        return part

    def list(self, upload_id: str, after: int = 0, limit: Optional[int] = None) -> List[Part]:
        """The upload's parts by number, from the one after ``after``."""
        prefix = PARTS + upload_id + "/"
        return [Part(**{k: record.value[k] for k in ("number", "oid", "size", "etag", "modified")})
                for _, record in self.records.items(prefix, _part(upload_id, after) if after else "", limit)]

    def stream(self, upload_id: str, parts: List[Part]) -> "PartsStream":
        return PartsStream(self.backend, _namespace(upload_id), parts)

    def drop(self, upload_id: str) -> None:
        """Every part of the upload: records, then bytes."""
        for part in self.list(upload_id):
            self.records.delete(_part(upload_id, part.number))
        namespace = _namespace(upload_id)
        for info in self.backend.list(namespace):
            try:
                self.backend.delete(namespace, info.oid)
            except NotFound:
                pass


class PartsStream:
    """Parts' verified bytes, one after the other, as one stream (``readinto``)."""

    def __init__(self, backend: Backend, namespace: Namespace, parts: List[Part]) -> None:
        self._backend = backend
        self._namespace = namespace
        self._parts: Iterator[Part] = iter(parts)
        self._object: Optional[StoredObject] = None
        self._stream: Optional[ObjectStream] = None

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
            self._object = self._backend.open(self._namespace, part.oid)
            self._stream = ObjectStream(self._object)

    def close(self) -> None:
        if self._stream is not None:
            self._stream.close()
            self._stream = None
        if self._object is not None:
            self._object.close()
            self._object = None


def _namespace(upload_id: str) -> Namespace:
    return Namespace("parts/" + upload_id)


def _part(upload_id: str, number: int) -> str:
    return "%s%s/%08d" % (PARTS, upload_id, number)
