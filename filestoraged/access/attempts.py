"""Failed attempts in a sliding window, per key (a share link, a client
address): what turns repeated guessing into ``429`` answers.

Kept in records (``records``): with ``--records local`` in ``meta.db``, so
every worker process counts the same attempts; with ``--records s3`` in the
bucket, so every daemon does (N daemons never give an attacker N times the
attempts). One record per key, ``attempts/<kind>/<key>``, holds the times
of its failures in the window; each change is a compare-and-swap. Locally
the records only throttle, so their connection skips fsync (a power cut
forgets at most a minute of them), and each process keeps copies of what
it read until any process of the machine changes the attempts of that
kind (``base.copies``): an address with no failures costs no read.
"""

from __future__ import annotations

import time
from typing import Callable, List, Optional

from ..base.copies import Copies
from ..records.interface import Conflict, Records

# An attempt admitted but not yet judged (its check is running) holds a
# place in the limit; a request that finds every place held by checks still
# running waits for one to be judged instead of being refused: a right
# token or password is never refused because of others in flight, and the
# limit stays exact. A check that never reported (its process died) counts
# as failed after this long.
STALE_PENDING = 30.0
WAIT_FOR_PLACE = 10.0  # seconds a request waits for a place before its 429
_POLL = 0.01


class Attempts:
    """At most ``limit`` failures per key within ``window`` seconds, for the
    attempts of one ``kind``. Thread-, process- and daemon-safe; ``prune``
    drops what fell out of the window."""

    def __init__(self, records: Records, kind: str, limit: int, window: float) -> None:
        self.records = records
        self.kind = kind
        self.limit = limit
        self.window = window
        # key -> the value of its record (None: no record); only where changes are marked
        self._copies: Copies[Optional[dict]] = Copies(records.change_mark("attempts-" + kind))

    def _key(self, key: str) -> str:
        return "attempts/%s/%s" % (self.kind, key)

    def _recent(self, value: Optional[dict], now: float) -> List[float]:
        return sorted(at for at in (value or {}).get("at", ()) if at > now - self.window)

    def _pending(self, value: Optional[dict], now: float, recent: List[float]) -> List[float]:
        """Attempts counted in ``recent`` whose check is still running."""
        return [at for at in (value or {}).get("pending", ()) if at in recent and at > now - STALE_PENDING]

    def _retry(self, recent: List[float], now: float) -> Optional[int]:
        if len(recent) < self.limit:
            return None
        return int(recent[0] + self.window - now) + 1

    def retry_after(self, key: str, now: float) -> Optional[int]:
        """Seconds until ``key`` may try again, or None if it may now: by
        its failures judged, not by attempts still being checked (``admit``
        counts those in advance; they lock nobody out until they fail)."""
        def read() -> Optional[dict]:
            record = self.records.get(self._key(key))
            return None if record is None else record.value

        value = self._copies.get(key, read)
        if value is None:
            return None  # the usual case: no failure on record
        recent = self._recent(value, now)
        pending = self._pending(value, now, recent)
        return self._retry([at for at in recent if at not in pending], now)

    def _update(self, key: str, change: Callable[[Optional[dict]], Optional[dict]]) -> None:
        """``records.update`` of ``key``'s record; the copies told once it
        is committed (or may be: when it failed)."""
        try:
            written = self.records.update(self._key(key), change)
        except BaseException:
            self._copies.changed(key)
            raise
        if written is not None:
            self._copies.changed(key)

    def admit(self, key: str, now: float) -> Optional[int]:
        """Count an attempt as failed in advance, and as pending until it is
        judged (``forget`` if it was right, ``settle`` if wrong), if the limit
        allows one (None); else the seconds until it will. While every place
        is held by checks still running, wait for one of them to be judged
        (up to ``WAIT_FOR_PLACE``). One compare-and-swap per try, so that
        attempts racing in several workers or daemons cannot all pass the
        same check."""
        outcome: List[object] = []

        def change(value: Optional[dict]) -> Optional[dict]:
            recent = self._recent(value, now)
            pending = self._pending(value, now, recent)
            settled = [at for at in recent if at not in pending]
            retry = self._retry(settled, now)
            if retry is not None:
                outcome[:] = [retry]
            elif len(recent) >= self.limit:
                outcome[:] = ["busy"]
            else:
                outcome[:] = []
                return {"at": recent + [now], "pending": pending + [now]}
            return None

        waited_until = time.monotonic() + WAIT_FOR_PLACE
        while True:
            self._update(key, change)
            if outcome != ["busy"]:
                return outcome[0] if outcome else None  # type: ignore[return-value]
            if time.monotonic() > waited_until:
                return 1
            time.sleep(_POLL)

    def settle(self, key: str, when: float) -> None:
        """The attempt admitted at ``when`` was wrong: it stays counted, no longer pending."""
        def change(value: Optional[dict]) -> Optional[dict]:
            pending = list((value or {}).get("pending", ()))
            if when not in pending:
                return None
            pending.remove(when)
            return dict(value or {}, pending=pending)

        self._update(key, change)

    def add(self, key: str, now: float) -> None:
        self._update(key, lambda value: {"at": self._recent(value, now) + [now]})

    def forget(self, key: str, when: float) -> None:
        """Take back one failure counted in advance at ``when`` (it was right)."""
        def change(value: Optional[dict]) -> Optional[dict]:
            times = list((value or {}).get("at", ()))
            if when not in times:
                return None
            times.remove(when)
            pending = [at for at in (value or {}).get("pending", ()) if at != when]
            return {"at": times, "pending": pending}

        self._update(key, change)

    def prune(self, now: float) -> None:
        """Remove the records whose failures all fell out of the window."""
        for key in list(self.records.keys("attempts/%s/" % self.kind)):
            record = self.records.get(key)
            if record is not None and not self._recent(record.value, now):
                try:
                    self.records.delete(key, record.version)
                except Conflict:  # changed meanwhile: a new failure, kept
                    pass
                finally:
                    self._copies.changed(key[len(self._key("")):])

    def close(self) -> None:
        """The records are the caller's to close."""
