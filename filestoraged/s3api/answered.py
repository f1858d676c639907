"""Small objects' answers kept per key, for plain S3 GETs of hot keys.

Decision: a 1 KiB S3 GET cost about three times a ``/data`` GET of the
same object (``bench.run --only s3get``): after its signature and its
policy are judged, it read the key, built its headers, opened the stored
object, planned the transfer and checked every header line again. The
bytes and the header lines of a small object served whole are kept here,
under its bucket and key, with the key's entry as it was; the next plain
GET of the key, judged as every request is (its signature, scopes and
policies), is answered from them once:

- the key's entry, read now, is equal to the one kept (any write, delete,
  tagging, lock or metadata change makes another entry);
- the bucket keeps (or does not keep) versions as it did;
- the stored object is still there unchanged (``StoredObject.still_current``:
  one ``stat`` on disk), and its bytes were verified when they were kept.

Only plain requests: no query (no version id, part number or response
override), no Range, condition, checksum mode or ``Origin`` (a browser's
request carries the bucket's CORS headers), never for HEAD's kept answer
but from a GET's. Each worker keeps its own, bounded in bytes.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Optional

from ..base.lru import BoundedCache
from ..catalog.keys import Entry
from ..web.messages import Request

MAX_BYTES = 16 * 1024 * 1024  # a worker's kept answers, bytes and header lines
_NOT_PLAIN = frozenset(("range", "if-range", "if-none-match", "if-match", "if-modified-since", "if-unmodified-since",
                        "x-amz-checksum-mode", "origin", "x-amz-server-side-encryption-customer-algorithm"))
_PER_REQUEST = ("x-amz-request-id:",)  # header lines a kept answer never holds: each request's own


@dataclass(frozen=True)
class Kept:
    entry: Entry
    versioned: bool
    fields: str  # the header lines after Date, each ending in CRLF
    body: bytes
    still_current: Callable[[], bool]


def plain(request: Request) -> bool:
    """Whether ``request`` (a GetObject or HeadObject) may be answered from a kept answer."""
    return not request.raw_query and not request.headers.has_any(_NOT_PLAIN)


class Answered:
    def __init__(self, max_bytes: int = MAX_BYTES) -> None:
        self._kept: BoundedCache[Kept] = BoundedCache(max_bytes)

    def find(self, bucket: str, key: str, entry: Entry, versioned: bool) -> Optional[Kept]:
        """The kept answer for ``key`` if it still holds (see the module docstring)."""
        name = _name(bucket, key)
        kept = self._kept.get(name)
        if kept is None:
            return None
        if kept.entry != entry or kept.versioned != versioned or not kept.still_current():
            self._kept.discard_if(name, lambda current: current is kept)
            return None
        return kept

    def keeper(self, bucket: str, key: str, entry: Entry, versioned: bool) -> Callable[[str, bytes, Callable], None]:
        """What the transfer calls with the header lines, verified bytes and
        proof of a small object it served whole."""
        def keep(fields: str, body: bytes, still_current: Callable[[], bool]) -> None:
            lines = "".join(line for line in fields.splitlines(keepends=True)
                            if not line.lower().startswith(_PER_REQUEST))
            self._kept.put(_name(bucket, key), Kept(entry, versioned, lines, body, still_current),
                           len(body) + len(lines))
        return keep


def _name(bucket: str, key: str) -> str:
    return bucket + "/" + key
