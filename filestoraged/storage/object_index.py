"""The index of stored objects: ``(namespace, oid, size)`` rows in SQLite,
ordered by id, and their totals, the whole store's and each namespace's,
so that a listing page reads its page, a start reads two numbers and a
bucket's usage two more, whatever the store holds.

A bucket's bytes (``bucket_bytes``) are its repository's namespace's and
those of the namespaces that ``belong`` to it (its unfinished multipart
uploads' parts); the bytes its writes hold while they are written are
rows of ``held``, taken against its quota and moved to the stored bytes
in the transaction that links the object (``Change.hold``,
``Change.release``): every worker sees every other's at once. A
resumable upload's hold (``tus:<id>``) lasts from its creation to its
end, across restarts.

The disk backend (``<data-dir>/objects.db``) changes a row and the totals in
the same transaction as the file itself (``changing``: the link or unlink
happens inside it, under one lock every worker takes), so the index, the
totals and the disk agree except after a crash between the two. That is
why each run is marked (``begin_run``/``end_run``): a run that did not end
cleanly leaves the index *dirty*, and a background pass
(``storage.disk.indexing``) sets it right; ``fsck`` checks it too. Commits
are not fsynced (``synchronous=NORMAL``): a crashed process loses none, a
power cut may lose the last few, which the same pass brings back (the
objects' own files are fsynced).

memcached (``memcached-index.db``), which cannot list its keys, keeps the
same rows as its only listing.
"""

from __future__ import annotations

import os
from typing import Dict, Iterator, List, Optional, Tuple

from ..base.interprocess import ProcessLock, run_dir
from ..base.sqlite import DatabaseStore
from .interface import Bounds

# ``totals``: the whole store's totals as code before 2026-11-28 kept them
# (now the namespaces' added up: a write updates one row, not two); set
# only by a repair, for such code reading the file (see docs/operations.md).
_SCHEMA = """
CREATE TABLE IF NOT EXISTS objects (namespace TEXT, oid TEXT, size INTEGER, PRIMARY KEY (namespace, oid))
    WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS totals (one INTEGER PRIMARY KEY CHECK (one = 1), objects INTEGER NOT NULL,
    bytes INTEGER NOT NULL);
INSERT OR IGNORE INTO totals VALUES (1, 0, 0);
CREATE TABLE IF NOT EXISTS state (name TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS spaces (namespace TEXT PRIMARY KEY, objects INTEGER NOT NULL, bytes INTEGER NOT NULL)
    WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS held (holder TEXT PRIMARY KEY, bucket TEXT NOT NULL, bytes INTEGER NOT NULL)
    WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS held_by_bucket ON held (bucket);
CREATE TABLE IF NOT EXISTS belongs (namespace TEXT PRIMARY KEY, bucket TEXT NOT NULL) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS belongs_by_bucket ON belongs (bucket);
"""
SPACES = "spaces"  # state row: the namespaces' totals were counted (an index made before them counts once)
PAGE = 500  # rows read at a time by ``pages``
# state rows: the index names every object once a pass over the disk ended
# (not before: an index made beside objects stored earlier starts empty);
# the boot a run began in while it runs; something else may be missing.
COMPLETE, RUNNING, DIRTY = "complete", "running", "dirty"

Delta = Tuple[int, int]  # (objects, bytes) a change added to the totals


class ObjectIndex(DatabaseStore):
    """The rows and totals; see the module docstring."""

    def __init__(self, path: str) -> None:
        super().__init__(path, _SCHEMA, durable=False)
        # Writers of every process queue here, then find SQLite's write lock
        # free (its own busy wait sleeps in steps of milliseconds).
        self._writers = ProcessLock(os.path.join(run_dir(os.path.dirname(path)),
                                                 os.path.basename(path) + ".lock"))
        self._complete = False
        with self._writers, self._lock:
            if self._state(SPACES) is None:
                with self.transaction() as db:
                    _count_spaces(db)
                    Change(db).set(SPACES, "counted")

    # Changes.

    def changing(self) -> "_Changing":
        """One write transaction, whatever the caller does to the files in it
        (kept short: a link or an unlink, never an fsync): ``with
        index.changing() as change``."""
        return _Changing(self)

    def add(self, namespace: str, oid: str, size: int) -> Delta:
        with self.changing() as change:
            return change.put(namespace, oid, size)

    def remove(self, namespace: str, oid: str) -> Delta:
        with self.changing() as change:
            return change.drop(namespace, oid)

    # Reads.

    def page(self, namespace: str, after: str, limit: int) -> List[Tuple[str, int]]:
        """Up to ``limit`` ``(oid, size)`` rows after ``after``, in id order."""
        with self._lock:
            return self._db.execute("SELECT oid, size FROM objects WHERE namespace = ? AND oid > ? ORDER BY oid"
                                    " LIMIT ?", (namespace, after, limit)).fetchall()

    def pages(self, namespace: str, after: str = "") -> Iterator[List[Tuple[str, int]]]:
        """Every row after ``after``, ``PAGE`` at a time."""
        while True:
            rows = self.page(namespace, after, PAGE)
            if not rows:
                return
            yield rows
            after = rows[-1][0]

    def shard(self, namespace: str, prefix: str) -> Dict[str, int]:
        """The rows whose id starts with ``prefix`` (one shard folder's)."""
        with self._lock:
            return dict(self._db.execute("SELECT oid, size FROM objects WHERE namespace = ? AND oid >= ?"
                                         " AND oid < ?", (namespace, prefix, prefix + "g")).fetchall())

    def namespaces(self) -> List[str]:
        with self._lock:
            return [row[0] for row in self._db.execute("SELECT DISTINCT namespace FROM objects")]

    def totals(self) -> Delta:
        """Objects and bytes the index names (the namespaces' totals added up)."""
        with self._lock:
            return self._db.execute("SELECT coalesce(sum(objects), 0), coalesce(sum(bytes), 0) FROM spaces").fetchone()

    def by_namespace(self) -> Dict[str, Delta]:
        """Objects and bytes of each namespace that holds any (kept as rows change)."""
        with self._lock:
            rows = self._db.execute("SELECT namespace, objects, bytes FROM spaces WHERE objects > 0")
            return {namespace: (objects, size) for namespace, objects, size in rows}

    def bucket_bytes(self, bucket: str) -> Tuple[int, int]:
        """Bucket ``bucket``'s bytes: ``(stored, held)`` (see the module
        docstring), read in one transaction: as of one moment."""
        with self._lock:
            if self._db.in_transaction:  # (this thread's own, under the lock): already one moment
                return _stored(self._db, bucket), _held(self._db, bucket)
            self._db.execute("BEGIN")
            try:
                return _stored(self._db, bucket), _held(self._db, bucket)
            finally:
                self._db.execute("COMMIT")

    def buckets_bytes(self) -> Dict[str, Tuple[int, int]]:
        """Every bucket's ``bucket_bytes``, by name: one read."""
        with self._lock:
            rows = self._db.execute(
                "SELECT substr(namespace, 7), bytes, 0 FROM spaces WHERE namespace >= 'repos/' "
                "AND namespace < 'repos0' "
                "UNION ALL SELECT b.bucket, s.bytes, 0 FROM belongs b JOIN spaces s ON s.namespace = b.namespace "
                "UNION ALL SELECT bucket, 0, bytes FROM held"
            ).fetchall()
        found: Dict[str, Tuple[int, int]] = {}
        for bucket, size, held in rows:
            stored_before, held_before = found.get(bucket, (0, 0))
            found[bucket] = (stored_before + size, held_before + held)
        return found

    def owners_bytes(self, owned: Dict[str, Tuple[str, ...]]) -> Dict[str, Tuple[int, int]]:
        """Each owner's ``owner_bytes`` (of their buckets ``owned[owner]``; none: nothing)."""
        return {owner: self.owner_bytes(buckets) if buckets else (0, 0) for owner, buckets in owned.items()}

    def owner_bytes(self, owned: Tuple[str, ...]) -> Tuple[int, int]:
        """The buckets ``owned``'s stored and held bytes together, as of one moment."""
        with self._lock:
            if self._db.in_transaction:
                return _stored(self._db, *owned), _held(self._db, *owned)
            self._db.execute("BEGIN")
            try:
                return _stored(self._db, *owned), _held(self._db, *owned)
            finally:
                self._db.execute("COMMIT")

    def held_by(self, holder: str) -> Optional[int]:
        """The bytes ``holder`` holds (None: it holds no row)."""
        with self._lock:
            row = self._db.execute("SELECT bytes FROM held WHERE holder = ?", (holder,)).fetchone()
        return None if row is None else row[0]

    def belonging(self, namespace: str) -> Optional[str]:
        """The bucket ``namespace``'s bytes were told to count in (``Change.belong``), if any."""
        with self._lock:
            row = self._db.execute("SELECT bucket FROM belongs WHERE namespace = ?", (namespace,)).fetchone()
        return None if row is None else row[0]

    def release_held(self, prefix: str) -> None:
        """Every hold whose holder starts with ``prefix`` given back (a
        worker's that died: ``"<pid>:"``; all of them at a run's start)."""
        with self.changing() as change:
            change.db.execute("DELETE FROM held WHERE holder >= ? AND holder < ?", (prefix, prefix + "\uffff"))

    def counted_by_namespace(self) -> Dict[str, Delta]:
        """The same, counted row by row (``fsck``; one pass: about 0.2 s per million rows)."""
        with self._lock:
            rows = self._db.execute("SELECT namespace, count(*), total(size) FROM objects GROUP BY namespace")
            return {namespace: (objects, int(size)) for namespace, objects, size in rows}

    def counted(self) -> Delta:
        """The same, counted row by row (``fsck``: the totals are checked against it)."""
        with self._lock:
            objects, size = self._db.execute("SELECT count(*), total(size) FROM objects").fetchone()
        return objects, int(size)

    def set_totals(self, totals: Delta) -> None:
        """The totals set to ``totals`` and each namespace's counted afresh (a repair)."""
        with self.changing() as change:
            _count_spaces(change.db)
            change.db.execute("UPDATE totals SET objects = ?, bytes = ?", totals)  # (see ``_SCHEMA``)

    # Runs, and whether the rows can be believed.

    def complete(self) -> bool:
        """Whether a pass over the disk ever ended (the index names every
        object); once true, true for good (a dirty index misses at most the
        few objects a crash caught midway)."""
        if not self._complete:
            self._complete = self._state(COMPLETE) is not None
        return self._complete

    def wanted(self) -> bool:
        """Whether a pass over the disk is due: never made, or left dirty."""
        return not self.complete() or self._state(DIRTY) is not None

    def begin_run(self) -> None:
        """A daemon starts serving: if the last run did not end (a crash, a
        kill, a power cut), the index is marked dirty."""
        with self.changing() as change:
            change.db.execute("DELETE FROM held WHERE holder NOT LIKE 'tus:%'")  # nothing is being written yet
            if self._state(RUNNING) is not None:
                change.set(DIRTY, "the last run did not stop cleanly")
            change.set(RUNNING, "pid %d" % os.getpid())
        self._durable()

    def end_run(self) -> None:
        with self.changing() as change:
            change.unset(RUNNING)
        self._durable()

    def _durable(self) -> None:
        """What was committed so far, fsynced (a checkpoint is, even with
        ``synchronous=NORMAL``): the run marks must survive a power cut."""
        with self._lock:
            self._db.execute("PRAGMA wal_checkpoint(FULL)")

    def mark_dirty(self, why: str) -> None:
        with self.changing() as change:
            change.set(DIRTY, why)

    def mark_passed(self, dirty_before: Optional[str]) -> None:
        """A pass ended: complete, and clean unless marked dirty again since
        it began (``dirty_before``: the mark it began with)."""
        with self.changing() as change:
            change.set(COMPLETE, "1")
            if self._state(DIRTY) == dirty_before:
                change.unset(DIRTY)

    def dirty_mark(self) -> Optional[str]:
        return self._state(DIRTY)

    def _state(self, name: str) -> Optional[str]:
        with self._lock:
            row = self._db.execute("SELECT value FROM state WHERE name = ?", (name,)).fetchone()
        return None if row is None else row[0]

    def close(self) -> None:
        super().close()
        self._writers.close()


class _Changing:
    """``ObjectIndex.changing``: its writers' line, its connection's lock and
    a transaction, taken in that order and let go in the other. Decision: a
    class, not ``contextlib.contextmanager`` (see ``base.sqlite.transaction``)."""

    __slots__ = ("_index", "_transaction")

    def __init__(self, index: ObjectIndex) -> None:
        self._index = index
        self._transaction = index.transaction()

    def __enter__(self) -> "Change":
        index = self._index
        index._writers.acquire()
        try:
            index._lock.acquire()
            try:
                return Change(self._transaction.__enter__())
            except BaseException:
                index._lock.release()
                raise
        except BaseException:
            index._writers.release()
            raise

    def __exit__(self, kind, error, traceback) -> bool:
        index = self._index
        try:
            self._transaction.__exit__(kind, error, traceback)
        finally:
            try:
                index._lock.release()
            finally:
                index._writers.release()
        return False


class Change:
    """The changes of one transaction (see ``ObjectIndex.changing``)."""

    def __init__(self, db) -> None:
        self.db = db

    def has(self, namespace: str, oid: str) -> bool:
        return self._size(namespace, oid) is not None

    def put(self, namespace: str, oid: str, size: int) -> Delta:
        """The row for an object now stored; what the totals gained.
        Decision: inserted first, read only where a row was there (an
        object stored is new nearly always): one statement a write fewer."""
        if self.db.execute("INSERT INTO objects VALUES (?, ?, ?) ON CONFLICT DO NOTHING",
                           (namespace, oid, size)).rowcount == 1:
            delta = (1, size)
        else:
            old = self._size(namespace, oid)
            if old == size:
                return 0, 0
            self.db.execute("UPDATE objects SET size = ? WHERE namespace = ? AND oid = ?", (size, namespace, oid))
            delta = (0, size - old)  # (a conflict: the row is there)
        self._total(namespace, delta)
        return delta

    def drop(self, namespace: str, oid: str) -> Delta:
        """No row for an object now gone; what the totals lost (negative)."""
        old = self._size(namespace, oid)
        if old is None:
            return 0, 0
        self.db.execute("DELETE FROM objects WHERE namespace = ? AND oid = ?", (namespace, oid))
        delta = (-1, -old)
        self._total(namespace, delta)
        return delta

    def _size(self, namespace: str, oid: str) -> Optional[int]:
        row = self.db.execute("SELECT size FROM objects WHERE namespace = ? AND oid = ?", (namespace, oid)).fetchone()
        return None if row is None else row[0]

    def _total(self, namespace: str, delta: Delta) -> None:
        self.db.execute("INSERT INTO spaces VALUES (?, ?, ?) ON CONFLICT (namespace) DO UPDATE SET "
                        "objects = objects + excluded.objects, bytes = bytes + excluded.bytes", (namespace,) + delta)

    def hold(self, holder: str, bounds: Bounds, count: int) -> Optional[str]:
        """``count`` more bytes held by ``holder`` against ``bounds``: its
        bucket's quota and its owner's (over all the owner's buckets), if
        the stored and held bytes leave room in both; else nothing is held,
        and the answer is the one without room (``"bucket"``, ``"owner"``)."""
        bucket = bounds.bucket
        if bounds.quota is not None and _stored(self.db, bucket) + _held(self.db, bucket) + count > bounds.quota:
            return "bucket"
        owned = bounds.owned or (bucket,)
        if bounds.owner_quota is not None and \
                _stored(self.db, *owned) + _held(self.db, *owned) + count > bounds.owner_quota:
            return "owner"
        self.db.execute("INSERT INTO held VALUES (?, ?, ?) ON CONFLICT (holder) DO UPDATE SET "
                        "bytes = bytes + excluded.bytes", (holder, bucket, count))
        return None

    def release(self, holder: str) -> None:
        """What ``holder`` held given back (in the transaction that stores its bytes, if it stores any)."""
        self.db.execute("DELETE FROM held WHERE holder = ?", (holder,))

    def belong(self, namespace: str, bucket: str) -> None:
        """``namespace``'s bytes count as ``bucket``'s (an upload's parts)."""
        self.db.execute("INSERT OR IGNORE INTO belongs VALUES (?, ?)", (namespace, bucket))

    def set(self, name: str, value: str) -> None:
        self.db.execute("INSERT OR REPLACE INTO state VALUES (?, ?)", (name, value))

    def unset(self, name: str) -> None:
        self.db.execute("DELETE FROM state WHERE name = ?", (name,))


def _stored(db, *buckets: str) -> int:
    """What ``buckets`` store together."""
    marks = ", ".join("?" * len(buckets))
    row = db.execute("SELECT (SELECT coalesce(sum(bytes), 0) FROM spaces WHERE namespace IN (%s)) + "
                     "(SELECT coalesce(sum(s.bytes), 0) FROM belongs b JOIN spaces s ON s.namespace = b.namespace "
                     "WHERE b.bucket IN (%s))" % (marks, marks),
                     tuple("repos/" + bucket for bucket in buckets) + buckets).fetchone()
    return row[0]


def _held(db, *buckets: str) -> int:
    """What is held against ``buckets`` together."""
    return db.execute("SELECT coalesce(sum(bytes), 0) FROM held WHERE bucket IN (%s)" % ", ".join("?" * len(buckets)),
                      buckets).fetchone()[0]


def _count_spaces(db) -> None:
    """Each namespace's totals counted afresh from the rows (in ``db``'s transaction)."""
    db.execute("DELETE FROM spaces")
    db.execute("INSERT INTO spaces SELECT namespace, count(*), sum(size) FROM objects GROUP BY namespace")
