"""The one way SQLite files are opened and written here (``meta.db``, the
object and memcached indexes): a transaction, and group commit of many
threads' writes."""

from __future__ import annotations

import sqlite3
import threading
import time
from typing import Optional, Union

from ..errors import InsufficientStorage

_FULL = getattr(sqlite3, "SQLITE_FULL", 13)
BUSY_SECONDS = 10.0  # how long a statement waits for another connection's lock
MAX_GROUP = 64  # writes one commit holds at most (past it, the writers in line wait for the next)


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


def open_database(path: str, durable: bool = True) -> sqlite3.Connection:
    """A connection shared by one store's threads under that store's own lock:
    autocommit (transactions are explicit), WAL so readers do not block the
    writer, ``synchronous=FULL`` so an answered commit survives a power cut,
    and a busy timeout for the other stores and worker processes writing the
    same file. ``durable=False``: commits are not fsynced (``NORMAL``): they
    survive a crashed process, and a power cut loses only those no durable
    commit followed (a later commit's fsync of the log carries every frame
    before it), for records that may be lost or can be rebuilt. Decision:
    never ``OFF``, which skips the fsyncs of checkpoints too: a checkpoint
    such a connection ran could leave other connections' durable commits
    only in an unsynced database file, the log they were in reused."""
    db = sqlite3.connect(path, timeout=BUSY_SECONDS, check_same_thread=False, isolation_level=None,
                         factory=Database)
    try:
        _write_ahead_log(db)
        db.execute("PRAGMA synchronous=%s" % ("FULL" if durable else "NORMAL"))
    except BaseException:
        db.close()
        raise
    return db


def _write_ahead_log(db: sqlite3.Connection) -> None:
    """Put the file in WAL mode. Switching a new file needs it alone, and
    SQLite answers "database is locked" at once, without the busy timeout,
    to a connection that asks while another holds it (worker processes
    opening a new file together: 18 of 160 such opens failed, and a worker
    that fails at start stops the daemon). Asked again for as long as the
    busy timeout; a file already in WAL mode answers at once."""
    deadline = time.monotonic() + BUSY_SECONDS
    while True:
        try:
            db.execute("PRAGMA journal_mode=WAL")
            return
        except sqlite3.OperationalError as error:
            if "locked" not in str(error) or time.monotonic() > deadline:
                raise
        time.sleep(0.005)


class transaction:
    """``db`` inside one write transaction, taken at once (``BEGIN
    IMMEDIATE``: other processes' writers wait, none can slip in between a
    read and the write that depends on it); committed at the end, rolled
    back on an exception. Inside a transaction already, the block is part
    of it (the outer one commits or rolls back). Decision: a class, not
    ``contextlib.contextmanager``, whose generator costs a frame and four
    calls more a use (every object stored makes one)."""

    __slots__ = ("_db", "_own")

    def __init__(self, db: sqlite3.Connection) -> None:
        self._db = db
        self._own = False

    def __enter__(self) -> sqlite3.Connection:
        db = self._db
        if not db.in_transaction:
            db.execute("BEGIN IMMEDIATE")
            self._own = True
        return db

    def __exit__(self, kind, error, traceback) -> bool:
        if not self._own:
            return False
        db = self._db
        if kind is None:
            try:
                db.execute("COMMIT")
                return False
            except BaseException:
                if db.in_transaction:  # a failed COMMIT may have ended it already
                    db.execute("ROLLBACK")
                raise
        if db.in_transaction:
            db.execute("ROLLBACK")
        return False


class _Group:
    """The writes of one shared transaction, and how its commit went.
    ``done``: held from the start until the transaction ended (committed
    or rolled back), so a writer waits for that end by taking it and
    letting go at once. Decision: a lock, not an ``Event``, whose condition
    cost every write about ten calls more; a group ends once."""

    def __init__(self) -> None:
        self.done = threading.Lock()
        self.done.acquire()
        self.error: Optional[BaseException] = None
        self.members = 0


class GroupCommit:
    """Write transactions of many threads on one connection, committed
    together: a writer's changes go into the transaction open on the
    connection (a savepoint of their own, undone alone if the writer
    fails), and the last writer in line commits for all, so that writers
    who queued while one commit's fsync ran share the next one, as
    databases commit groups. Nobody's write returns before the commit that
    holds it: a write answered is as durable as one committed alone.

    Every use of the connection holds ``lock`` (the store's); a thread's
    write inside its own write is part of it. Reads of other threads see
    the changes of writers waiting for their commit: what they read is
    never older than what was answered. ``queue``: a lock the worker
    processes' groups take in turn from their BEGIN to their COMMIT, so
    that a worker waits in line instead of in SQLite's busy handler (it
    sleeps in steps of up to 100 ms); every connection to the database
    takes the same one, so that writes of different kinds (an S3 upload's
    pin, its key) wait for each other in line too."""

    def __init__(self, db: sqlite3.Connection, lock: "threading.RLock", queue=None) -> None:
        self._db = db
        self._lock = lock
        self._queue = queue
        self._own = threading.local()  # this thread is inside its own write
        self._counting = threading.Lock()
        self._queued = 0  # writers of this process waiting for ``lock``
        self._group: Optional[_Group] = None  # the open transaction's writers
        self._part = _Part(db)

    def write(self) -> "Union[_Part, _Write]":
        """The connection, inside this thread's write: committed (with
        whoever else wrote meanwhile) before the block's end returns;
        rolled back alone if the block raises. (``with write() as db``, at
        once: inside this thread's own write, it is a part of that one.)"""
        if getattr(self._own, "inside", False):
            return self._part
        return _Write(self)

    def _begin(self) -> None:
        # Bounded as SQLite's own wait is: a write of this thread on another
        # connection while its transaction here is open (or the reverse)
        # fails as "database is locked" instead of waiting for ever.
        if self._queue is not None and not self._queue.acquire(timeout=BUSY_SECONDS):
            raise sqlite3.OperationalError("database is locked: another connection's transaction is open")
        try:
            self._db.execute("BEGIN IMMEDIATE")
        except BaseException:
            if self._queue is not None:
                self._queue.release()
            raise

    def _ended(self) -> None:
        """The group's transaction ended (committed or rolled back): the
        next worker's group may begin."""
        if self._queue is not None:
            self._queue.release()

    def _undo(self, error: BaseException, alone: bool) -> None:
        """Take back one writer's changes: its savepoint (``alone``: the
        whole transaction, which holds only them), or, where SQLite ended
        the whole transaction on an error (a full disk), the group's."""
        if self._db.in_transaction and not alone:
            self._db.execute("ROLLBACK TO write")
            self._db.execute("RELEASE write")
            return
        if self._db.in_transaction:
            self._db.execute("ROLLBACK")
        if self._group is not None:
            self._group.error = error
            self._group.done.release()
            self._group = None
            self._ended()

    def _end_if_last(self) -> None:
        """Commit the open transaction unless a writer waits to add to it
        (it will commit, or the one after it); called with ``lock`` held."""
        group = self._group
        if group is None:
            return
        with self._counting:
            if self._queued and group.members < MAX_GROUP:
                return
        self._group = None
        try:
            if self._db.in_transaction:
                self._db.execute("COMMIT")
            elif group.error is None:
                group.error = sqlite3.OperationalError("the transaction was rolled back before its commit")
        except BaseException as error:
            group.error = error
            if self._db.in_transaction:
                try:
                    self._db.execute("ROLLBACK")
                except sqlite3.Error:
                    pass
        finally:
            self._ended()
            group.done.release()


class _Part:
    """A write inside this thread's own write (``GroupCommit.write``): the
    connection as it is, committed or rolled back with the write it is
    part of. One for every such write: it keeps nothing of its own."""

    __slots__ = ("_db",)

    def __init__(self, db: sqlite3.Connection) -> None:
        self._db = db

    def __enter__(self) -> sqlite3.Connection:
        return self._db

    def __exit__(self, kind, error, traceback) -> bool:
        return False


class _Write:
    """One thread's write of ``GroupCommit`` as a context manager (a part
    of ``GroupCommit``, which it reaches into). Decision: a class, not
    ``contextlib.contextmanager``, whose generator costs a frame and four
    calls more a use (a small S3 write makes one, its key's commit; the
    writes inside it are ``_Part``s)."""

    __slots__ = ("_commit", "_group", "_alone")

    def __init__(self, commit: GroupCommit) -> None:
        self._commit = commit
        self._group: Optional[_Group] = None
        self._alone = False

    def __enter__(self) -> sqlite3.Connection:
        commit = self._commit
        with commit._counting:
            commit._queued += 1
        commit._lock.acquire()
        with commit._counting:
            commit._queued -= 1
        try:
            if commit._group is None:
                commit._begin()
                commit._group = _Group()
            group = commit._group
            # The first writer of a group needs no savepoint: were it to
            # fail, the whole transaction holds nothing but its changes.
            alone = group.members == 0
            if not alone:
                commit._db.execute("SAVEPOINT write")
        except BaseException:
            try:
                commit._end_if_last()
            finally:
                commit._lock.release()
            raise
        self._group, self._alone = group, alone
        commit._own.inside = True
        return commit._db

    def __exit__(self, kind, error, traceback) -> bool:
        commit = self._commit
        commit._own.inside = False
        group, self._group = self._group, None
        assert group is not None
        try:
            if kind is not None:
                group = None  # this writer failed: it waits for no commit
                commit._undo(error, self._alone)
            else:
                try:
                    if not self._alone:
                        commit._db.execute("RELEASE write")
                    group.members += 1
                except BaseException:
                    group = None
                    raise
        finally:
            try:
                commit._end_if_last()
            finally:
                commit._lock.release()
            if group is not None:
                with group.done:  # the group's end
                    pass
        if group is not None and group.error is not None:
            raise group.error
        return False


class DatabaseStore:
    """A store kept in SQLite: its connection (``_db``), made with ``schema``,
    and the lock (``_lock``) every use of that connection takes (re-entrant:
    a transaction's block may call the store's own methods)."""

    def __init__(self, path: str, schema: str, durable: bool = True) -> None:
        self.path = path
        self._db = open_database(path, durable)
        self._db.executescript(schema)
        self._lock = threading.RLock()

    def transaction(self):
        """``transaction`` on this store's connection; call with ``_lock`` held."""
        return transaction(self._db)

    def close(self) -> None:
        with self._lock:
            self._db.close()
