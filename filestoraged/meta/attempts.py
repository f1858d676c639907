"""Failed attempts in a sliding window, per key (a share link, a client
address): what turns repeated guessing into ``429`` answers.

Kept in ``meta.db`` so that every worker process counts the same attempts:
guesses spread over workers meet one limit. The records only throttle, so
their connection skips fsync (a power cut forgets at most a minute of them).
"""

from __future__ import annotations

from typing import Optional

from ..storage.database import DatabaseStore

_SCHEMA = """
CREATE TABLE IF NOT EXISTS failed_attempts (kind TEXT NOT NULL, key TEXT NOT NULL, at REAL NOT NULL);
CREATE INDEX IF NOT EXISTS failed_attempts_key ON failed_attempts (kind, key, at);
"""


class Attempts(DatabaseStore):
    """At most ``limit`` failures per key within ``window`` seconds, for the
    attempts of one ``kind``. Thread- and process-safe; ``prune`` drops what
    fell out of the window."""

    def __init__(self, path: str, kind: str, limit: int, window: float) -> None:
        super().__init__(path, _SCHEMA, durable=False)
        self.kind = kind
        self.limit = limit
        self.window = window

    def retry_after(self, key: str, now: float) -> Optional[int]:
        """Seconds until ``key`` may try again, or None if it may now."""
        with self._lock:
            return self._retry_after(key, now)

    def admit(self, key: str, now: float) -> Optional[int]:
        """Count an attempt as failed in advance, if the limit allows one now
        (None); else the seconds until it will. One transaction, so that
        attempts racing in several workers cannot all pass the same check."""
        with self._lock, self.transaction() as db:
            retry = self._retry_after(key, now)
            if retry is None:
                db.execute("INSERT INTO failed_attempts VALUES (?, ?, ?)", (self.kind, key, now))
            return retry

    def add(self, key: str, now: float) -> None:
        with self._lock:
            self._db.execute("INSERT INTO failed_attempts VALUES (?, ?, ?)", (self.kind, key, now))

    def forget(self, key: str, when: float) -> None:
        """Take back one failure counted in advance at ``when``."""
        with self._lock:
            self._db.execute(
                "DELETE FROM failed_attempts WHERE rowid = (SELECT rowid FROM failed_attempts"
                " WHERE kind = ? AND key = ? AND at = ? LIMIT 1)", (self.kind, key, when))

    def prune(self, now: float) -> None:
        with self._lock:
            self._db.execute("DELETE FROM failed_attempts WHERE kind = ? AND at <= ?", (self.kind, now - self.window))

    def _retry_after(self, key: str, now: float) -> Optional[int]:
        count, first = self._db.execute(
            "SELECT count(*), min(at) FROM failed_attempts WHERE kind = ? AND key = ? AND at > ?",
            (self.kind, key, now - self.window)).fetchone()
        if count < self.limit:
            return None
        return int(first + self.window - now) + 1
