"""Records in SQLite (``meta.db``): one machine's daemons (the default,
``--records local``). A version is a random number drawn by every write; the
compare-and-swap is a conditional ``UPDATE`` in one transaction. A write's
answer is never lost here, so values carry no write id (see
``interface.WRITE_ID``)."""

from __future__ import annotations

import functools
import json
import os
import random
import time
from typing import Callable, Dict, Iterator, Optional, Tuple

from ..base.doorbell import Doorbell
from ..base.interprocess import ChangeMark, close_shared, open_shared, run_dir
from ..base.sqlite import DatabaseStore, GroupCommit
from ..base.wal_index import WalIndexHeader
from .interface import Conflict, Record, Records, T, value_of, value_text

_SCHEMA = """
CREATE TABLE IF NOT EXISTS records (key TEXT PRIMARY KEY, value TEXT NOT NULL, version INTEGER NOT NULL);
"""


class LocalRecords(DatabaseStore, Records):
    atomic = True  # batch() is one SQLite write transaction
    serializes = True  # (and SQLite's one writer at a time never lets another commit in)

    def __init__(self, path: str, durable: bool = True, clock: Callable[[], float] = time.time,
                 queue: Optional[str] = None) -> None:
        """``durable=False``: commits skip their fsync (records that only
        throttle: see ``open_database``).
        ``queue``: a lock file the writers of the database take turns by
        (``GroupCommit``): every connection to it in every worker, the same
        file, so that none waits for another's transaction in SQLite's busy
        handler (it sleeps in steps of up to 100 ms)."""
        DatabaseStore.__init__(self, path, _SCHEMA, durable)
        self._queue = None if queue is None else open_shared(queue)
        # Every write: concurrent ones share a commit.
        self._writing = GroupCommit(self._db, self._lock, self._queue)
        self.now = clock  # one machine: its own clock
        self._writes = 0  # this connection's writes, begun and ended (open ones are seen before their commit)
        self._commits = WalIndexHeader(path)  # (the schema's statements made the index)
        self._marks: Dict[str, ChangeMark] = {}

    def close(self) -> None:
        self._commits.close()  # before the connection: the last one to close may truncate the index
        DatabaseStore.close(self)
        if self._queue is not None:
            close_shared(self._queue)
        with self._lock:
            for mark in self._marks.values():
                mark.close()
            self._marks.clear()

    def change_mark(self, subject: str) -> Optional[ChangeMark]:
        """``run/<file>.<subject>.mark`` beside the database: every process
        of the machine that opens these records maps the same one."""
        with self._lock:
            mark = self._marks.get(subject)
            if mark is None:
                mark = self._marks[subject] = ChangeMark(self._run_file(subject, "mark"))
            return mark

    def doorbell(self, subject: str) -> Optional[Doorbell]:
        """``run/<file>.<subject>.bell`` beside the database (see ``change_mark``)."""
        return Doorbell(self._run_file(subject, "bell"))

    def _run_file(self, subject: str, kind: str) -> str:
        """``run/<file>.<subject>.<kind>``, in the ``run/`` beside the database."""
        folder, name = os.path.split(os.path.abspath(self.path))
        return os.path.join(run_dir(folder), "%s.%s.%s" % (name, subject, kind))

    def generation(self) -> Optional[object]:
        """The log's last commit by any connection (``WalIndexHeader``: no
        statement, no wait for a write under way) and this connection's
        writes begun and ended; SQLite's ``data_version`` where the header
        cannot be read."""
        header = self._commits.read()
        if header is not None:
            return header, self._writes
        with self._lock:
            return self._db.execute("PRAGMA data_version").fetchone()[0], self._writes

    def get(self, key: str) -> Optional[Record]:
        with self._lock:
            row = self._db.execute("SELECT value, version FROM records WHERE key = ?", (key,)).fetchone()
        return None if row is None else Record(value_of(row[0]), str(row[1]))

    def create(self, key: str, value: dict) -> str:
        text = value_text(value)
        version = _new_version()
        with self._write() as db:
            if not db.execute("INSERT OR IGNORE INTO records VALUES (?, ?, ?)", (key, text, version)).rowcount:
                raise Conflict("the record %s exists" % key)
        return str(version)

    def replace(self, key: str, value: dict, version: str) -> str:
        text = value_text(value)
        new = _new_version()
        with self._write() as db:
            changed = db.execute("UPDATE records SET value = ?, version = ?"
                                 " WHERE key = ? AND version = ?", (text, new, key, int(version))).rowcount
        if not changed:
            raise Conflict("the record %s changed" % key)
        return str(new)

    def delete(self, key: str, version: Optional[str] = None) -> bool:
        with self._write() as db:
            if version is None:
                return bool(db.execute("DELETE FROM records WHERE key = ?", (key,)).rowcount)
            if db.execute("DELETE FROM records WHERE key = ? AND version = ?", (key, int(version))).rowcount:
                return True
        raise Conflict("the record %s changed" % key)

    def update(self, key: str, change: Callable[[Optional[dict]], Optional[dict]]) -> Optional[dict]:
        """``Records.update`` as one SQLite write transaction: the read, the
        change and the write hold the database, so racing writers (threads
        or workers) wait their turn instead of retrying, and never run out
        of tries on a hot record (a link many download at once). ``change``
        must not use these records itself."""
        with self._write() as db:
            row = db.execute("SELECT value FROM records WHERE key = ?", (key,)).fetchone()
            new = change(None if row is None else value_of(row[0]))
            if new is None:
                return None
            text = value_text(new)
            db.execute("INSERT INTO records VALUES (?, ?, ?) ON CONFLICT (key) DO UPDATE SET value = excluded.value,"
                       " version = excluded.version", (key, text, _new_version()))
        return new

    def batch(self):
        return self._write()  # its value (the connection) is the batch's own business

    def _write(self) -> "_Counted":
        return _Counted(self, self._writing.write())

    def serialized(self, block: Callable[[], T]) -> T:
        with self.batch():
            return block()

    def keys(self, prefix: str, after: str = "", limit: Optional[int] = None) -> Iterator[str]:
        return iter([row[0] for row in self._page("key", prefix, after, limit)])

    def items(self, prefix: str, after: str = "", limit: Optional[int] = None) -> Iterator[Tuple[str, Record]]:
        rows = self._page("key, value, version", prefix, after, limit)
        # One parse for the page: a call of json.loads per value cost a
        # 1,000-key listing page about a third of its time.
        values = json.loads("[%s]" % ",".join(value for _, value, _ in rows))
        return iter([(key, Record(value, str(version))) for (key, _, version), value in zip(rows, values)])

    def _page(self, columns: str, prefix: str, after: str, limit: Optional[int]) -> list:
        # One lower bound, the higher of the two: given both, SQLite may seek
        # to the prefix and walk every key up to ``after`` (a listing's page
        # from a cursor deep in a prefix cost what lay before it).
        lower, bound = (after, ">") if after >= prefix else (prefix, ">=")
        with self._lock:
            return self._db.execute("SELECT %s FROM records WHERE key %s ? AND key < ? ORDER BY key LIMIT ?"
                                    % (columns, bound), (lower, prefix + "\uffff",
                                                         -1 if limit is None else limit)).fetchall()


# Random, not a counter: a record deleted and made again must not get back
# a version a stale reader still holds (its swap would pass). Decision: the
# random module's generator, not the system's source (a system call a write,
# three a small S3 write): versions are never shown and guard against no
# one; it is seeded from the system's source, and again in a forked worker.
_new_version = functools.partial(random.getrandbits, 62)


class _Counted:
    """A write of these records (``GroupCommit.write``) that moves the
    connection's write count on as it begins and again once it ended,
    committed or undone. Hazard: a read while it is open sees it before its
    commit (as a worker's threads read the writes waiting for theirs), so
    what was kept under the generation seen then must not be believed
    after an undo. A class, as ``GroupCommit``'s own write is: a small S3
    write makes one."""

    __slots__ = ("_records", "_inner")

    def __init__(self, records: LocalRecords, inner) -> None:
        self._records = records
        self._inner = inner

    def __enter__(self):
        db = self._inner.__enter__()
        self._records._writes += 1  # (inside the write: under the records' lock)
        return db

    def __exit__(self, kind, error, traceback) -> bool:
        try:
            return self._inner.__exit__(kind, error, traceback)
        finally:
            with self._records._lock:
                self._records._writes += 1
