"""The transactional JSON key-value store behind ``/kv``, in SQLite.

Two tables: ``kv_committed`` (what ``GET`` sees) and ``kv_staged`` (changes
waiting for ``commit``; a NULL value is a staged deletion). ``commit`` moves
every staged row in one transaction, so readers see all of it or none of it.
Both tables live in ``meta.db`` (WAL, ``synchronous=FULL``): a commit that was
answered survives ``kill -9`` and power loss, and staged changes survive a
restart too.

Memory stays bounded: keys, values and the staging area have limits (413
past them), and hot committed keys are served from a small LRU cache.

Worker processes share the file, so nothing that must agree lives only in
one process: the staging totals are rows of ``kv_state`` changed in the same
transaction as the staged rows, and every commit bumps its ``generation``
row. A lookup asks SQLite's ``PRAGMA data_version`` (cheap: it changes only
when another connection wrote the file) and, when it changed, reads the
generation: a different one empties the cache. So a commit answered by one
worker is seen by the next GET in any other.
"""

from __future__ import annotations

import json
from collections import OrderedDict
from dataclasses import dataclass
from typing import Any, Optional, Tuple

from ..base.sqlite import DatabaseStore
from ..errors import TooLarge

_SCHEMA = """
CREATE TABLE IF NOT EXISTS kv_committed (key TEXT PRIMARY KEY, value TEXT NOT NULL) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS kv_staged (key TEXT PRIMARY KEY, value TEXT) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS kv_state (name TEXT PRIMARY KEY, value INTEGER NOT NULL) WITHOUT ROWID;
INSERT OR IGNORE INTO kv_state VALUES ('generation', 0);
INSERT OR IGNORE INTO kv_state SELECT 'staged_keys', count(*) FROM kv_staged;
INSERT OR IGNORE INTO kv_state SELECT 'staged_bytes',
    coalesce(sum(length(CAST(key AS BLOB)) + coalesce(length(CAST(value AS BLOB)), 0)), 0) FROM kv_staged;
"""
_CACHE_VALUE_MAX = 64 * 1024  # bigger values are read from SQLite each time
# The cache holds at most --kv-cache-keys keys and at most this many bytes of
# values (per worker): 4,096 values of 64 KiB would be 256 MiB.
CACHE_BYTES = 8 * 1024 * 1024


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
        self._cached_bytes = 0
        self._data_version = self._generation = -1

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
            self._forget_if_committed_elsewhere()
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
                self._cached_bytes += len(text)
                while len(self._cache) > self.limits.cache_keys or self._cached_bytes > CACHE_BYTES:
                    self._cached_bytes -= len(self._cache.popitem(last=False)[1])
            return text

    def _forget_if_committed_elsewhere(self) -> None:
        """Empty the cache if another connection committed since it was filled
        (call with the lock held)."""
        version = self._db.execute("PRAGMA data_version").fetchone()[0]
        if version == self._data_version:
            return
        self._data_version = version
        generation = self._state("generation")
        if generation != self._generation:
            self._generation = generation
            self._forget_all()

    def _forget_all(self) -> None:
        self._cache.clear()
        self._cached_bytes = 0

    def _state(self, name: str) -> int:
        return self._db.execute("SELECT value FROM kv_state WHERE name = ?", (name,)).fetchone()[0]

    def stage_set(self, key: str, value: Any) -> bool:
        """Stage ``key = value``; True if the key is new (absent from the
        committed state with the staged changes laid over it)."""
        text = json.dumps(value, separators=(",", ":"), ensure_ascii=False)
        check_sizes(self.limits, key, text)
        with self._lock, self.transaction() as db:
            staged = self._staged_row(key)
            if staged is not None:
                new = staged[0] is None  # staged for deletion: setting it makes it new
            else:
                new = db.execute("SELECT 1 FROM kv_committed WHERE key = ?", (key,)).fetchone() is None
            self._stage(key, text, staged)
        return new

    def stage_delete(self, key: str) -> None:
        """Stage the deletion of ``key`` (whether or not it exists)."""
        check_sizes(self.limits, key, "")
        with self._lock, self.transaction():
            self._stage(key, None, self._staged_row(key))

    def commit(self) -> int:
        """Apply every staged change atomically; return how many there were."""
        with self._lock:
            with self.transaction() as db:
                before = self._state("generation")
                keys = [row[0] for row in db.execute("SELECT key FROM kv_staged")]
                db.execute("INSERT OR REPLACE INTO kv_committed"
                           " SELECT key, value FROM kv_staged WHERE value IS NOT NULL")
                db.execute("DELETE FROM kv_committed WHERE key IN (SELECT key FROM kv_staged WHERE value IS NULL)")
                db.execute("DELETE FROM kv_staged")
                db.execute("UPDATE kv_state SET value = CASE name WHEN 'generation' THEN value + 1 ELSE 0 END")
            if before != self._generation:  # another worker committed since the cache was checked
                self._forget_all()
            self._generation = before + 1
            for key in keys:
                self._cached_bytes -= len(self._cache.pop(key, ""))
        return len(keys)

    def _staged_row(self, key: str) -> Optional[Tuple[Optional[str]]]:
        """The staged row of ``key`` (call with the lock held)."""
        return self._db.execute("SELECT value FROM kv_staged WHERE key = ?", (key,)).fetchone()

    def _stage(self, key: str, text: Optional[str], previous: Optional[Tuple[Optional[str]]]) -> None:
        """Stage one change within the staging limits (call inside a transaction)."""
        added = len(key.encode()) + len((text or "").encode())
        removed = 0 if previous is None else len(key.encode()) + len((previous[0] or "").encode())
        keys_after = self._state("staged_keys") + (previous is None)
        bytes_after = self._state("staged_bytes") + added - removed
        if keys_after > self.limits.max_staged_keys:
            raise TooLarge("%d changes are staged already; commit first" % self.limits.max_staged_keys)
        if bytes_after > self.limits.max_staged_bytes:
            raise TooLarge("the staging area is full (%d bytes); commit first" % self.limits.max_staged_bytes)
        self._db.execute("INSERT OR REPLACE INTO kv_staged VALUES (?, ?)", (key, text))
        self._db.executemany("UPDATE kv_state SET value = ? WHERE name = ?",
                             ((keys_after, "staged_keys"), (bytes_after, "staged_bytes")))


def check_sizes(limits: KVLimits, key: str, text: str) -> None:
    """``TooLarge`` for a key or a value's JSON text over the limits (both KV stores)."""
    if len(key.encode()) > limits.max_key:
        raise TooLarge("keys are at most %d bytes" % limits.max_key)
    if len(text.encode()) > limits.max_value:
        raise TooLarge("values are at most %d bytes of JSON" % limits.max_value)
