"""The one way SQLite files are opened here (``meta.db``, the memcached index)."""

from __future__ import annotations

import sqlite3


def open_database(path: str) -> sqlite3.Connection:
    """A connection shared by one store's threads under that store's own lock:
    autocommit (transactions are explicit), WAL so readers do not block the
    writer, ``synchronous=FULL`` so an answered commit survives a power cut,
    and a busy timeout for the other stores writing the same file."""
    db = sqlite3.connect(path, check_same_thread=False, isolation_level=None)
    db.execute("PRAGMA journal_mode=WAL")
    db.execute("PRAGMA synchronous=FULL")
    db.execute("PRAGMA busy_timeout=10000")
    return db
