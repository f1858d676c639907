"""The storage interface every backend implements, and the helpers they share.

A backend stores immutable objects named by the SHA-256 of their bytes, inside a
``Namespace`` (the default one, a repository, the share links' private one).
It must hand back exactly the bytes it was given, or raise ``CorruptObject``
before the last byte leaves: see ``StoredObject``.
"""

from __future__ import annotations

import abc
import hashlib
from dataclasses import dataclass
from typing import Callable, Dict, Iterator, List, Optional, Protocol, Tuple

from ..base.streams import fill
from ..errors import CorruptObject, TooLarge, Unprocessable
from .names import Namespace


class Readable(Protocol):
    """What ``put`` consumes: anything with ``readinto`` (files, request bodies,
    multipart parts). It may raise ``TooLarge``/``BadRequest`` mid-stream."""

    def readinto(self, buffer: memoryview) -> int: ...


def exact_length(stream) -> Optional[int]:
    """How many bytes ``stream`` will still give, if it knows (a request body
    with ``Content-Length`` does: its ``left``); None otherwise. A backend may
    start storing before the end on the strength of it: the stream raises
    ``BadRequest`` if it then ends early."""
    left = getattr(stream, "left", None)
    return left if isinstance(left, int) else None


class FinishedFile:
    """A finished upload's file on this machine's disk (a resumable upload's,
    or a multipart upload's parts laid out), as a stream for ``Backend.put``,
    which may instead take the file itself (the disk backend links it into
    place: one pass over the bytes, no copy). ``checks``: the block checks
    (``storage.blocks``) its bytes were written with, when known; the pass
    then proves the bytes are still those (``CorruptObject`` otherwise). The
    file stays the caller's to remove; use as a context manager."""

    # Whether the store's usage counts the file's bytes already (a layout's
    # file has an index row of its own): then adopting it adds no byte to
    # the disk, and asks no room of the quota.
    counted = False
    counted_in: Optional[Namespace] = None  # the namespace whose bytes they count in, if counted
    held_as: Optional[str] = None  # the hold its bytes have against their bucket's quota (``Backend.hold``)

    def __init__(self, path: str, checks: Optional[List[bytes]] = None) -> None:
        self.path = path
        self.checks = checks
        self._handle = None

    def readinto(self, buffer: memoryview) -> int:
        if self._handle is None:
            self._handle = open(self.path, "rb")
        return self._handle.readinto(buffer)

    def close(self) -> None:
        if self._handle is not None:
            self._handle.close()

    def __enter__(self) -> "FinishedFile":
        return self

    def __exit__(self, *exc_info) -> None:
        self.close()


@dataclass(frozen=True)
class ObjectInfo:
    oid: str  # lowercase hex SHA-256 of the bytes
    size: int
    content_type: Optional[str] = None
    modified: Optional[float] = None  # when it was stored (seconds since the epoch), if known


@dataclass(frozen=True)
class PutResult:
    info: ObjectInfo
    created: bool  # False when the namespace already held these bytes


class StoredObject(abc.ABC):
    """An object opened for reading. Use as a context manager.

    Call order: ``preflight()`` (before any response header), then either
    ``verified_bytes()`` (small objects held in memory) or ``pieces()`` /
    ``chunks()`` for the bytes, then ``close()``. A stored object never
    writes to a socket: web/ sends what it hands out (``web.transfer``).

    The integrity promise lives here: ``chunks`` and ``pieces`` hand out only
    bytes that were checked in the very buffer handed out, and raise
    ``CorruptObject`` before a byte that fails its check (or, where a check
    covers the whole object, before the final bytes of the range), so a
    consumer never sees a complete, wrong copy.
    """

    def __init__(self, info: ObjectInfo, proof: Optional[Callable[[], bool]] = None) -> None:
        self.info = info
        # A small callable that holds nothing of this object, so what keeps
        # it (a ready-made answer) does not keep the object.
        self.proof = proof

    def still_current(self) -> bool:
        """True if the stored object is provably still the one opened, at the
        cost of one ``stat`` (disk); False where the backend cannot tell
        cheaply. The server remembers ready-made answers only for objects that
        can (see ``web.response_cache``), and asks ``proof`` again on every hit."""
        return self.proof is not None and self.proof()

    def preflight(self) -> None:
        """Check what can be checked before any response header is sent (size,
        the first chunks; small objects entirely). Raises ``CorruptObject``."""

    @abc.abstractmethod
    def chunks(self, start: int = 0, end: Optional[int] = None) -> Iterator[bytes]:
        """Yield bytes ``[start, end)``; raise ``CorruptObject`` before the last piece
        if the object does not verify."""

    def verified_bytes(self, start: int, end: int) -> Optional[bytes]:
        """Bytes ``[start, end)`` if ``preflight`` already holds them verified in
        memory (small objects), so they can leave with the headers; else None."""
        return None

    def pieces(self, start: int = 0, end: Optional[int] = None) -> Iterator[bytes]:
        """The verified pieces a transfer of ``[start, end)`` sends (``chunks``
        unless a backend has a faster way); close the iterator when done."""
        return self.chunks(start, end)

    def read_all(self) -> bytes:
        """The whole object, verified (small objects and tests only)."""
        return b"".join(self.chunks())

    def close(self) -> None:
        """Release what ``open`` took (file descriptors, pooled clients)."""

    def __enter__(self) -> "StoredObject":
        return self

    def __exit__(self, *exc_info) -> None:
        self.close()


class ObjectStream:
    """The verified bytes ``[start, end)`` of an opened object as a stream
    (``readinto``), for a backend's ``put`` (a copy, a multipart upload's
    parts). A piece is good until the next is asked for: it is used up
    first. ``close`` ends the reading (and its threads), not the object."""

    def __init__(self, obj: StoredObject, start: int = 0, end: Optional[int] = None) -> None:
        self._pieces = obj.pieces(start, end)
        self._held = memoryview(b"")

    def readinto(self, buffer: memoryview) -> int:
        while not self._held:
            piece = next(self._pieces, None)
            if piece is None:
                return 0
            self._held = memoryview(piece)
        count = min(len(buffer), len(self._held))
        buffer[:count] = self._held[:count]
        self._held = self._held[count:]
        return count

    def close(self) -> None:
        self._pieces.close()  # type: ignore[attr-defined]


class MemoryObject(StoredObject):
    """An object whose bytes are already in memory and already verified."""

    def __init__(self, info: ObjectInfo, data: bytes, proof: Optional[Callable[[], bool]] = None) -> None:
        super().__init__(info, proof)
        self._data = data

    def verified_bytes(self, start: int, end: int) -> Optional[bytes]:
        return self._data[start:end]

    def chunks(self, start: int = 0, end: Optional[int] = None) -> Iterator[bytes]:
        start, end = clamp_range(self.info.size, start, end)
        if start < end:
            yield self._data[start:end]


@dataclass(frozen=True)
class LaidPart:
    """A part written at its place in its upload's file (see ``Layout``)."""

    oid: str  # the SHA-256 of the part's bytes
    size: int
    stride: int  # the part is at (number - 1) x stride in the file
    checks: List[bytes]  # its block checks (``storage.blocks``), from its start


class Layout(abc.ABC):
    """Where one unfinished upload's parts are written at their place in
    the finished object, one file for them all, so that completing the
    upload adopts that file (one pass: its SHA-256) instead of writing the
    object again. A part is laid out when it is as long as the first part
    laid out (the stride) or shorter (it may be the last); any other part is
    stored as an object of its own, as a backend without a layout stores
    every part."""

    @abc.abstractmethod
    def put(self, number: int, size: int, stream: Readable, hashed: Callable[[str], None]) -> Optional[LaidPart]:
        """Write part ``number`` of ``size`` bytes at ``(number - 1) x
        stride``; None, before any byte is read, when it has no place there
        (another size, its place written already, the file adopted).
        ``hashed(oid)``: the body's checks, before the part is kept."""

    @abc.abstractmethod
    def read(self, number: int, size: int, stride: int, checks: List[bytes]) -> Readable:
        """A laid-out part's bytes, each block checked against ``checks``."""

    @abc.abstractmethod
    def finished(self, parts: List[Tuple[int, int, int, List[bytes]]], tail: Optional[Readable] = None,
                 tail_size: int = 0) -> Optional[FinishedFile]:
        """The upload's file as the object, if ``parts`` (``(number, size,
        stride, checks)``, in order) are exactly what it holds, from part 1
        on with no gap, and then ``tail`` (the last part, stored apart: its
        ``tail_size`` checked bytes) once it is copied to its place; None
        otherwise (the parts are then read one by one). Close it when done:
        until then no part is written to it."""

    @abc.abstractmethod
    def discard(self) -> None:
        """What the layout keeps besides the file (an object of the
        upload's namespace, removed with the others), once the upload ended."""



# The namespaces a bucket's bytes are in (its repository, its unfinished uploads' parts): what quotas count.
BUCKET_NAMESPACES = ("repos/", "parts/")
# Bytes a write of unknown length holds against a quota at a time: one
# transaction (or compare-and-swap) a step, not one a piece read.
HOLD_STEP = 8 * 1024 * 1024


@dataclass(frozen=True)
class Bounds:
    """What the bytes of one bucket count against (docs/quotas.md): its own
    quota, and its owner's, which bounds every bucket the owner has together
    (None: no such quota)."""

    bucket: str
    quota: Optional[int] = None
    owner: Optional[str] = None
    owner_quota: Optional[int] = None
    owned: Tuple[str, ...] = ()  # the owner's buckets, this one among them

    @property
    def bounded(self) -> bool:
        """Whether a quota counts this bucket's bytes at all."""
        return self.quota is not None or self.owner_quota is not None


class Backend(abc.ABC):
    """Put a stream, open for reading, stat, delete, list — per namespace."""

    name = "backend"

    @abc.abstractmethod
    def put(
        self,
        namespace: Namespace,
        stream: Readable,
        content_type: Optional[str] = None,
        expected: Optional[str] = None,
        hashed: Optional[Hashed] = None,
    ) -> PutResult:
        """Store the stream's bytes under their SHA-256 (``stream`` may be a
        ``FinishedFile``: a backend on the same disk adopts the file itself
        instead of a copy). Nothing partial is ever visible: on any error
        (``TooLarge``, ``InsufficientStorage``, a client gone) what was
        written is removed before the error propagates.
        ``expected``: the SHA-256 the bytes were sent as (a Git LFS upload
        names its object): if they hash to another, ``Unprocessable`` and
        nothing is kept. ``hashed``: called with the SHA-256 once every byte
        is read, before the backend looks whether it holds those bytes already
        or makes anything visible, and with that look (``Look``; the caller
        may take it first); if it raises, nothing is kept (see
        ``before_publishing``)."""

    @abc.abstractmethod
    def open(self, namespace: Namespace, oid: str) -> StoredObject:
        """Open an object for reading; ``NotFound`` if absent."""

    @abc.abstractmethod
    def stat(self, namespace: Namespace, oid: str) -> ObjectInfo:
        """Size and type without reading the bytes; ``NotFound`` if absent."""

    @abc.abstractmethod
    def delete(self, namespace: Namespace, oid: str) -> None:
        """Remove an object; ``NotFound`` if absent."""

    @abc.abstractmethod
    def list(
        self, namespace: Namespace, after: str = "", limit: Optional[int] = None
    ) -> List[ObjectInfo]:
        """Objects with an id greater than ``after``, in id order, at most ``limit``."""

    def layout(self, namespace: Namespace) -> Optional[Layout]:
        """Where the parts of the unfinished upload whose namespace is
        ``namespace`` may be laid out (see ``Layout``); None: each part is an
        object of that namespace."""
        return None

    def check(self) -> None:
        """Raise ``BackendUnavailable`` if the backend cannot serve (for /healthz)."""

    def usage(self) -> Optional[tuple]:
        """``(objects, bytes)`` stored, when the backend can tell cheaply; else None."""
        return None

    def usage_by_namespace(self) -> Optional[Dict[str, Tuple[int, int]]]:
        """``{namespace path: (objects, bytes)}`` where the backend keeps an
        index to count from (one pass over it); else None."""
        return None

    # Bucket quotas (docs/quotas.md): kept by the backends that can hold
    # bytes for every writer at once (the disk's object index); the others
    # keep none, and a quota set for them is refused where it is set.
    keeps_quotas = False

    def tell_buckets(self, bounds_of: Callable[[Namespace], Optional[Bounds]]) -> None:
        """How to find what a namespace's bytes count against (its bucket's
        ``Bounds``), or None (no bucket's): told by the catalog, which knows them."""

    def hold(self, namespace: Namespace, holder: str, count: int) -> None:
        """``count`` bytes held by ``holder`` (a resumable upload's) against
        the quota of ``namespace``'s bucket until ``release`` or the write
        of its file (``FinishedFile.held_as``); ``BucketQuotaReached``
        without room."""

    def release(self, holder: str) -> None:
        """What ``holder`` held (``hold``) given back."""

    def buckets_bytes(self) -> Optional[Dict[str, Tuple[int, int]]]:
        """Every bucket's stored and held bytes (``(stored, held)``, as of
        one moment), by name, where quotas are kept; else None."""
        return None

    def quota_changed(self, name: str, quota: Optional[int], namespaces: List[Namespace],
                      owner: bool = False) -> None:
        """The quota of bucket ``name`` (``owner``: of the owner ``name``'s
        buckets) was set to ``quota`` (None: removed), or the owner's
        buckets changed; its bytes are in ``namespaces``. Where the count is
        kept apart from the objects (``holds.ledgered``), it is counted
        afresh."""

    def owners_bytes(self, owned: Dict[str, Tuple[str, ...]]) -> Dict[str, Tuple[int, int]]:
        """Each owner's stored and held bytes (all their buckets', ``owned``
        by name), where quotas are kept; else nothing."""
        return {}

    def belonging(self, namespace: Namespace) -> Optional[str]:
        """The bucket an upload's parts' namespace was told to count in, if
        any (and where quotas are kept)."""
        return None

    def close(self) -> None:
        """Release connections and pools."""


# Decision: a body is first read into a buffer of this size, and only a body
# that fills it gets a block's buffer. Most stored objects are small, and a
# block's buffer (512 KiB) for each of them was a large share of a small
# write's CPU: the allocator hands such sizes out as fresh pages and takes
# them back when the write ends.
SMALL_BODY = 64 * 1024


def pieces(stream, max_size: int, block: int) -> Iterator[memoryview]:
    """An upload's bytes, ``block`` at a time in one reused buffer (a piece is
    good until the next is asked for); ``TooLarge`` once past ``max_size``."""
    buffer = memoryview(bytearray(min(block, SMALL_BODY)))
    count = fill(stream, buffer)
    if count == len(buffer) < block:  # more may follow: go on in a block's buffer
        small, buffer = buffer, memoryview(bytearray(block))
        buffer[:count] = small
        count += fill(stream, buffer[count:])
    size = 0
    while count:
        size += count
        if size > max_size:
            raise TooLarge("the object is over the %d-byte limit" % max_size)
        yield buffer[:count]
        if count < len(buffer):
            return
        count = fill(stream, buffer)


class Look:
    """Whether a put's bytes are stored already, looked at once, by
    whoever asks first: the caller's ``hashed`` (an S3 upload's pin, which
    must know before the bytes may be stored, and asks under its hold), or
    the backend itself after it. A look that costs a request is made once."""

    __slots__ = ("_ask", "_found")

    def __init__(self, ask: Callable[[], bool]) -> None:
        self._ask = ask
        self._found: Optional[bool] = None

    def __call__(self) -> bool:
        if self._found is None:
            self._found = bool(self._ask())
        return self._found


# ``Backend.put``'s ``hashed(oid, look)``: the SHA-256, and the backend's
# ``Look`` at whether the bytes are stored (None where it has none to offer).
Hashed = Callable[[str, Optional[Look]], None]


def before_publishing(oid: str, expected: Optional[str], hashed: Optional[Hashed], look: Optional[Look] = None
                      ) -> None:
    """What ``put`` does with the bytes' SHA-256 before it looks for them or
    makes anything visible: ``Unprocessable`` if an upload sent as
    ``expected`` hashed to ``oid``; then tell ``hashed``, with the look the
    backend will take (``Look``), if it offers one."""
    if expected is not None and oid != expected:
        raise Unprocessable("the bytes hash to %s, not to the object id they were sent for" % oid)
    if hashed is not None:
        hashed(oid, look)


def verify_digest(expected: str, digest: "hashlib._Hash", what: str) -> None:
    """Raise ``CorruptObject`` unless ``digest`` matches the expected hex SHA-256."""
    actual = digest.hexdigest()
    if actual != expected:
        raise CorruptObject("%s: stored bytes hash to %s" % (what, actual))


def clamp_range(size: int, start: int, end: Optional[int]) -> tuple:
    """Normalise ``[start, end)`` against ``size`` (``end=None`` means the end)."""
    end = size if end is None else min(end, size)
    start = max(0, min(start, end))
    return start, end

