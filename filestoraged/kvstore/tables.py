"""The key-value store's tables in ``meta.db`` from before it moved into the
records (``kv_committed``, ``kv_staged``, ``kv_state``): their keys move
into the store once, at start, committed ones committed and staged ones
staged, then the tables are dropped. A stop midway is safe: what moved
already is found again (a key's record exists, a change is staged anew)."""

from __future__ import annotations

import json

from ..base.sqlite import open_database
from ..records.interface import Conflict
from .store import DATA, KVStore, _digest

_TABLES = ("kv_committed", "kv_staged", "kv_state")


def move_tables(path: str, store: KVStore) -> int:
    """Move the tables of ``meta.db`` at ``path`` into ``store``; how many keys moved."""
    db = open_database(path)
    try:
        if db.execute("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'kv_committed'").fetchone() is None:
            return 0
        committed = db.execute("SELECT key, value FROM kv_committed").fetchall()
        staged = db.execute("SELECT key, value FROM kv_staged").fetchall()
        with store.records.batch():
            for key, text in committed:  # as of the commit before the first: any later one overwrites it
                try:
                    store.records.create(DATA + _digest(key), {"key": key, "gen": 0, "value": json.loads(text)})
                except Conflict:
                    pass
            for key, text in staged:
                if text is None:
                    store.stage_delete(key)
                else:
                    store.stage_set(key, json.loads(text))
        for table in _TABLES:
            db.execute("DROP TABLE IF EXISTS %s" % table)
        return len(committed) + len(staged)
    finally:
        db.close()
