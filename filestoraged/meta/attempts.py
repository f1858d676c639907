"""Failed attempts in a sliding window, per key (a share link, a client
address): what turns repeated guessing into ``429`` answers.

Kept in records (``records``): with ``--records local`` in ``meta.db``, so
every worker process counts the same attempts; with ``--records s3`` in the
bucket, so every daemon does (N daemons never give an attacker N times the
attempts). One record per key, ``attempts/<kind>/<key>``, holds the times
of its failures in the window; each change is a compare-and-swap. Locally
the records only throttle, so their connection skips fsync (a power cut
forgets at most a minute of them).
"""

from __future__ import annotations

from typing import List, Optional

from ..records.interface import Conflict, Records


class Attempts:
    """At most ``limit`` failures per key within ``window`` seconds, for the
    attempts of one ``kind``. Thread-, process- and daemon-safe; ``prune``
    drops what fell out of the window."""

    def __init__(self, records: Records, kind: str, limit: int, window: float) -> None:
        self.records = records
        self.kind = kind
        self.limit = limit
        self.window = window

    def _key(self, key: str) -> str:
        return "attempts/%s/%s" % (self.kind, key)

    def _recent(self, value: Optional[dict], now: float) -> List[float]:
        return sorted(at for at in (value or {}).get("at", ()) if at > now - self.window)

    def _retry(self, recent: List[float], now: float) -> Optional[int]:
        if len(recent) < self.limit:
            return None
        return int(recent[0] + self.window - now) + 1

    def retry_after(self, key: str, now: float) -> Optional[int]:
        """Seconds until ``key`` may try again, or None if it may now."""
        record = self.records.get(self._key(key))
        return self._retry(self._recent(None if record is None else record.value, now), now)

    def admit(self, key: str, now: float) -> Optional[int]:
        """Count an attempt as failed in advance, if the limit allows one now
        (None); else the seconds until it will. One compare-and-swap, so that
        attempts racing in several workers or daemons cannot all pass the
        same check."""
        refused: List[int] = []

        def change(value: Optional[dict]) -> Optional[dict]:
            recent = self._recent(value, now)
            retry = self._retry(recent, now)
            refused[:] = [] if retry is None else [retry]
            return None if retry is not None else {"at": recent + [now]}

        self.records.update(self._key(key), change)
        return refused[0] if refused else None

    def add(self, key: str, now: float) -> None:
        self.records.update(self._key(key), lambda value: {"at": self._recent(value, now) + [now]})

    def forget(self, key: str, when: float) -> None:
        """Take back one failure counted in advance at ``when``."""
        def change(value: Optional[dict]) -> Optional[dict]:
            times = list((value or {}).get("at", ()))
            if when not in times:
                return None
            times.remove(when)
            return {"at": times}

        self.records.update(self._key(key), change)

    def prune(self, now: float) -> None:
        """Remove the records whose failures all fell out of the window."""
        for key in list(self.records.keys("attempts/%s/" % self.kind)):
            record = self.records.get(key)
            if record is not None and not self._recent(record.value, now):
                try:
                    self.records.delete(key, record.version)
                except Conflict:  # changed meanwhile: a new failure, kept
                    pass

    def close(self) -> None:
        """The records are the caller's to close."""
