"""The one way SQLite files are opened here (``meta.db``, the memcached index)."""

from __future__ import annotations

import sqlite3
import threading

from ..errors import InsufficientStorage

_FULL = getattr(sqlite3, "SQLITE_FULL", 13)


class Database(sqlite3.Connection):
    """A connection whose statements report a full disk as the project's
    ``InsufficientStorage`` (507), in one place for every store, instead of
    an ``OperationalError`` that the handler would answer 500."""

    def execute(self, *args, **kwargs):  # type: ignore[override]
        try:
            return super().execute(*args, **kwargs)
        except sqlite3.OperationalError as error:
            if getattr(error, "sqlite_errorcode", None) == _FULL or "disk is full" in str(error):
                raise InsufficientStorage("the metadata database cannot grow: the disk is full") from error
            raise


def open_database(path: str) -> sqlite3.Connection:
    """A connection shared by one store's threads under that store's own lock:
    autocommit (transactions are explicit), WAL so readers do not block the
    writer, ``synchronous=FULL`` so an answered commit survives a power cut,
    and a busy timeout for the other stores writing the same file."""
    db = sqlite3.connect(path, check_same_thread=False, isolation_level=None, factory=Database)
    db.execute("PRAGMA journal_mode=WAL")
    db.execute("PRAGMA synchronous=FULL")
    db.execute("PRAGMA busy_timeout=10000")
    return db


class DatabaseStore:
    """A store kept in SQLite: its connection (``_db``), made with ``schema``,
    and the lock (``_lock``) every use of that connection takes."""

    def __init__(self, path: str, schema: str) -> None:
        self._db = open_database(path)
        self._db.executescript(schema)
        self._lock = threading.Lock()

    def close(self) -> None:
        with self._lock:
            self._db.close()
