"""The transactional JSON key-value store behind ``/kv``, in SQLite.

Two tables: ``kv_committed`` (what ``GET`` sees) and ``kv_staged`` (changes
waiting for ``commit``; a NULL value is a staged deletion). ``commit`` moves
every staged row in one transaction, so readers see all of it or none of it.
Both tables live in ``meta.db`` (WAL, ``synchronous=FULL``): a commit that was
answered survives ``kill -9`` and power loss, and staged changes survive a
restart too.

Memory stays bounded: keys, values and the staging area have limits (413
past them), and hot committed keys are served from a small LRU cache that
each commit invalidates for the keys it touched.
"""

from __future__ import annotations

import json
from collections import OrderedDict
from dataclasses import dataclass
from typing import Any, Optional, Tuple

from ..storage.database import DatabaseStore
from ..errors import TooLarge

_SCHEMA = """
CREATE TABLE IF NOT EXISTS kv_committed (key TEXT PRIMARY KEY, value TEXT NOT NULL) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS kv_staged (key TEXT PRIMARY KEY, value TEXT) WITHOUT ROWID;
"""
_CACHE_VALUE_MAX = 64 * 1024  # bigger values are read from SQLite each time


@dataclass(frozen=True)
class KVLimits:
    max_key: int = 1024  # bytes of UTF-8
    max_value: int = 1024 * 1024  # bytes of JSON text
    max_staged_keys: int = 10000
    max_staged_bytes: int = 64 * 1024 * 1024
    cache_keys: int = 4096


class KVStore(DatabaseStore):
    def __init__(self, path: str, limits: KVLimits = KVLimits()) -> None:
        self.limits = limits
        super().__init__(path, _SCHEMA)
        self._cache: "OrderedDict[str, str]" = OrderedDict()
        row = self._db.execute(
            "SELECT count(*), coalesce(sum(length(CAST(key AS BLOB)) + coalesce(length(CAST(value AS BLOB)), 0)), 0)"
            " FROM kv_staged"
        ).fetchone()
        self._staged_keys, self._staged_bytes = row

    def lookup(self, key: str) -> Tuple[bool, Any]:
        """``(True, value)`` for a committed key (the value may be JSON null),
        ``(False, None)`` if absent."""
        text = self._committed_text(key)
        return (False, None) if text is None else (True, json.loads(text))

    def _committed_text(self, key: str) -> Optional[str]:
        # Read, then fill the cache, under the one lock that commit also holds
        # while it invalidates: a reader can never put back a value that a
        # commit has just replaced.
        with self._lock:
            text = self._cache.get(key)
            if text is not None:
                self._cache.move_to_end(key)
                return text
            row = self._db.execute("SELECT value FROM kv_committed WHERE key = ?", (key,)).fetchone()
            if row is None:
                return None
            text = row[0]
            if len(text) <= _CACHE_VALUE_MAX and self.limits.cache_keys > 0:
                self._cache[key] = text
                if len(self._cache) > self.limits.cache_keys:
                    self._cache.popitem(last=False)
            return text

    def stage_set(self, key: str, value: Any) -> bool:
        """Stage ``key = value``; True if the key is new (absent from the
        committed state with the staged changes laid over it)."""
        text = json.dumps(value, separators=(",", ":"), ensure_ascii=False)
        self._check_sizes(key, text)
        with self._lock:
            staged = self._staged_row(key)
            if staged is not None:
                new = staged[0] is None  # staged for deletion: setting it makes it new
            else:
                new = self._db.execute("SELECT 1 FROM kv_committed WHERE key = ?", (key,)).fetchone() is None
            self._stage(key, text, staged)
        return new

    def stage_delete(self, key: str) -> None:
        """Stage the deletion of ``key`` (whether or not it exists)."""
        self._check_sizes(key, "")
        with self._lock:
            self._stage(key, None, self._staged_row(key))

    def commit(self) -> int:
        """Apply every staged change atomically; return how many there were."""
        with self._lock:
            self._db.execute("BEGIN IMMEDIATE")
            try:
                keys = [row[0] for row in self._db.execute("SELECT key FROM kv_staged")]
                self._db.execute(
                    "INSERT OR REPLACE INTO kv_committed SELECT key, value FROM kv_staged WHERE value IS NOT NULL"
                )
                self._db.execute(
                    "DELETE FROM kv_committed WHERE key IN (SELECT key FROM kv_staged WHERE value IS NULL)"
                )
                self._db.execute("DELETE FROM kv_staged")
                self._db.execute("COMMIT")
            except BaseException:
                if self._db.in_transaction:  # a failed COMMIT may have ended it already
                    self._db.execute("ROLLBACK")
                raise
            for key in keys:
                self._cache.pop(key, None)
            self._staged_keys = self._staged_bytes = 0
        return len(keys)

    def _staged_row(self, key: str) -> Optional[Tuple[Optional[str]]]:
        """The staged row of ``key`` (call with the lock held)."""
        return self._db.execute("SELECT value FROM kv_staged WHERE key = ?", (key,)).fetchone()

    def _stage(self, key: str, text: Optional[str], previous: Optional[Tuple[Optional[str]]]) -> None:
        """Stage one change within the staging limits (call with the lock held)."""
        added = len(key.encode()) + len((text or "").encode())
        removed = 0 if previous is None else len(key.encode()) + len((previous[0] or "").encode())
        keys_after = self._staged_keys + (previous is None)
        bytes_after = self._staged_bytes + added - removed
        if keys_after > self.limits.max_staged_keys:
            raise TooLarge("%d changes are staged already; commit first" % self.limits.max_staged_keys)
        if bytes_after > self.limits.max_staged_bytes:
            raise TooLarge("the staging area is full (%d bytes); commit first" % self.limits.max_staged_bytes)
        self._db.execute("INSERT OR REPLACE INTO kv_staged VALUES (?, ?)", (key, text))
        self._staged_keys, self._staged_bytes = keys_after, bytes_after

    def _check_sizes(self, key: str, text: str) -> None:
        if len(key.encode()) > self.limits.max_key:
            raise TooLarge("keys are at most %d bytes" % self.limits.max_key)
        if len(text.encode()) > self.limits.max_value:
            raise TooLarge("values are at most %d bytes of JSON" % self.limits.max_value)
