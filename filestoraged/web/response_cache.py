"""Ready-made answers to plain GETs of hot small objects.

Decision: with 64 keep-alive connections, a 1 KiB GET through the router, the
face, the backend and the download plan spends most of its time in Python
under the GIL, while the other connections' threads wait for it; throughput
fell by a third from one connection to 64. Content-addressed objects never
change, so the answer to a plain ``GET /files/<oid>`` (or ``/data/<repo>/<oid>``)
is the same every time but for the ``Date`` line. The handler remembers the
header fields and the verified bytes of a small object it has just served
whole, and answers the next plain request for the same target from here.

What keeps it correct:
- Only answers named by their bytes (``ObjectResponse.immutable``: ``/files``
  and ``/data``). A face that names keys (S3, WebDAV, restic, the console,
  share links) answers whatever its key holds now, and its access rule is
  judged per request, so its answers are never remembered: each worker
  keeps its own cache, which no other worker's change would reach.
- Only objects whose backend can prove cheaply that they are unchanged
  (``StoredObject.still_current()``: one ``stat`` on disk) are remembered, and
  the proof runs on every hit, so a deleted or replaced object is a miss.
- Only responses a face returned without extra headers or a completion hook
  (share links count downloads, so they never come here).
- Only plain requests use it: no query, no body, no Range or conditional
  header; everything else takes the full path.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Optional

from ..base.lru import BoundedCache
from ..wire.request_head import Headers

# The largest body remembered; past this the transfer, not the request, is the cost.
MAX_BODY = 64 * 1024
_NOT_PLAIN = frozenset(("range", "if-range", "if-none-match", "if-match", "if-modified-since", "if-unmodified-since",
                        "content-length", "transfer-encoding"))


@dataclass(frozen=True)
class Ready:
    face: str
    fields: str  # header lines after Date, each ending in CRLF
    body: bytes
    still_current: Callable[[], bool]


def is_plain(target: str, headers: Headers) -> bool:
    """True for a request whose answer does not depend on anything but its target."""
    return "?" not in target and not headers.has_any(_NOT_PLAIN)


class ReadyResponses:
    """Remembered answers by request target, bounded in bytes."""

    def __init__(self, max_bytes: int) -> None:
        self._cache: BoundedCache[Ready] = BoundedCache(max_bytes)

    def get(self, target: str, headers: Headers) -> Optional[Ready]:
        """The remembered answer for a plain request of ``target``, if still true."""
        ready = self._cache.get(target)
        if ready is None or not is_plain(target, headers):
            return None
        if not ready.still_current():
            self._cache.discard_if(target, lambda current: current is ready)
            return None
        return ready

    def remember(self, target: str, face: str, fields: str, body: bytes, still_current: Callable[[], bool]) -> None:
        """Keep the answer just sent for ``target`` if it qualifies (see module docstring)."""
        if len(body) > MAX_BODY or "?" in target or not still_current():
            return
        self._cache.put(target, Ready(face, fields, body, still_current), len(body) + len(fields))
