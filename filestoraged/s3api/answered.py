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

Settled answers: a request with no credentials, or signed by a token's
key (its signature checked on every request), that asks nothing with an
``x-amz-*`` header but its signature's date and payload, is judged by
nothing but the records (the token and its scopes, the bucket, its ACL and
policy, the key's entry and ACL) and the access mode, unless a policy
judged it (a policy's conditions read the request: its address, its time;
a user's requests are all judged by policies). Where none did, its answer
is kept with the records' generation read before it was judged
(``Records.generation``: any change by any process shows), the mode and
the access key; the next such request, where all three are the same and
the stored object is unchanged, is answered from it without being judged
again: the judgment would be the one it was, on the same records. Such
a request is looked up before it is even routed (``S3Face.settled_answer``:
its signature, if any, checked there), as a ``/data`` GET's ready-made
answer is.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Callable, Optional, Tuple

from ..base.lru import BoundedCache
from ..catalog.keys import Entry
from ..web.messages import PreparedResponse
from ..wire.request_head import Headers

MAX_BYTES = 16 * 1024 * 1024  # a worker's kept answers, bytes and header lines
_NOT_PLAIN = frozenset(("range", "if-range", "if-none-match", "if-match", "if-modified-since", "if-unmodified-since",
                        "x-amz-checksum-mode", "origin", "x-amz-server-side-encryption-customer-algorithm"))
_PER_REQUEST = ("x-amz-request-id:",)
_SIGNATURES = frozenset(("x-amz-date", "x-amz-content-sha256"))  # what a signed GET carries of its signature
JudgedAt = Tuple[object, str, Optional[str]]  # header lines a kept answer never holds: each request's own


@dataclass(frozen=True)
class Kept:
    entry: Entry
    versioned: bool
    fields: str  # the header lines after Date, each ending in CRLF
    body: bytes
    still_current: Callable[[], bool]
    settled: Optional[JudgedAt] = None  # (records' generation, mode, access key) it was judged at alone


def settles(headers: Headers) -> bool:
    """Whether a plain GET or HEAD with these headers may be settled: no
    credentials, or a SigV4 ``Authorization``, and no ``x-amz-*`` header
    but its signature's."""
    if not headers.get("Authorization", "AWS4-HMAC-SHA256").startswith("AWS4-HMAC-SHA256"):
        return False
    return all(name in _SIGNATURES for name in headers.starting("x-amz-"))


def plain(raw_query: str, headers: Headers) -> bool:
    """Whether a GetObject or HeadObject with this query and these headers
    may be answered from a kept answer."""
    return not raw_query and not headers.has_any(_NOT_PLAIN)


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

    def settled(self, bucket: str, key: str, judged_at: JudgedAt) -> Optional[Kept]:
        """The kept answer for ``key`` if it was settled at ``judged_at``
        (the records' generation now, the mode) and its object is unchanged."""
        kept = self._kept.get(_name(bucket, key))
        if kept is None or kept.settled != judged_at or not kept.still_current():
            return None
        return kept

    def settled_at(self, bucket: str, key: str) -> Optional[JudgedAt]:
        """What the kept answer for ``key`` was settled at (None: nothing
        kept, or not settled): a look before any judgment it could spare."""
        kept = self._kept.get(_name(bucket, key))
        return None if kept is None else kept.settled

    def settle(self, bucket: str, key: str, served: PreparedResponse, judged_at: JudgedAt) -> None:
        """The kept answer ``served`` (found by ``find``, judged again) settled at ``judged_at``."""
        name = _name(bucket, key)
        kept = self._kept.get(name)
        if kept is not None and kept.body is served.body and kept.settled != judged_at:
            self._kept.put(name, replace(kept, settled=judged_at), len(kept.body) + len(kept.fields))

    def keeper(self, bucket: str, key: str, entry: Entry, versioned: bool) -> Callable[..., None]:
        """What the transfer calls with the header lines, verified bytes and
        proof of a small object it served whole (``settled``: see the module
        docstring)."""
        def keep(fields: str, body: bytes, still_current: Callable[[], bool],
                 settled: Optional[JudgedAt] = None) -> None:
            lines = "".join(line for line in fields.splitlines(keepends=True)
                            if not line.lower().startswith(_PER_REQUEST))
            self._kept.put(_name(bucket, key), Kept(entry, versioned, lines, body, still_current, settled),
                           len(body) + len(lines))
        return keep


def _name(bucket: str, key: str) -> str:
    return bucket + "/" + key
