"""Small writes made durable together: the disk backend's journal, one
file that every process of the store appends to, where writers at once
share one ``fdatasync`` (group commit). Its records and how it is read
back: ``journal_records``.

A put returns once the batch that holds it is on disk, and raises, for
every writer of the batch alike, where the batch could not be written (a
full disk). Processes append with ``O_APPEND``, so the file's order is the
order the records were made in, across processes.

Epochs: the file is ``<epoch>.journal``, the current epoch a number
every process maps (``run/journal.epoch``). A process writes only while it holds a
shared ``flock`` on the epoch's file (``recording``), from before its
record is appended until what the record is for rests where it belongs
(the object's file, not yet synced). ``checkpoint`` begins the next epoch,
takes the old file exclusively (every write begun in it has ended), makes
the file system durable (``syncfs``), and removes the old file: everything
it recorded is durable at rest.

A process that calls ``checkpoint`` every few seconds (``idle_holds``: a
daemon's, whose turn at checkpoints runs every ``CHECKPOINT_SECONDS``)
keeps its shared hold of the current epoch while no write uses it: a
write takes and lets go of none (two system calls fewer). Its next call
lets go of a hold the epoch no longer being current, which is what
another process's checkpoint waits for (a second at most), and its own
checkpoint lets go of its own before it waits.
"""

from __future__ import annotations

import ctypes
import errno
import fcntl
import logging
import os
import threading
from typing import Callable, Dict, List, Optional

from ...base.interprocess import ProcessLock, SharedCounters
from .files import fsync_dir, write_all
from .journal_records import GONE, PUT, SUFFIX, Record, encode, journals, read_all, standing

log = logging.getLogger(__name__)


def syncfs(fd: int) -> None:
    """The whole file system ``fd`` is on made durable (Linux's ``syncfs``;
    where it cannot be called, ``sync``)."""
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        if libc.syncfs(fd) == 0:
            return
        error = ctypes.get_errno()
        raise OSError(error, os.strerror(error))
    except AttributeError:
        os.sync()


class _Batch:
    """The records appended to one epoch's file while the batch before was
    written: written and synced together, by one of their writers."""

    __slots__ = ("records", "done", "error")

    def __init__(self) -> None:
        self.records: List[bytes] = []
        self.done = False
        self.error: Optional[BaseException] = None


class _Epoch:
    """This process's hold of one epoch's file."""

    def __init__(self, number: int, path: str) -> None:
        self.number = number
        self.path = path
        self.fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CLOEXEC)  # (made by ``_begin``)
        self.users = 0  # this process's writes in it (its shared lock held while any)
        self.held = False  # its shared lock held (while ``users``; with idle holds, after them too)
        self.batch = _Batch()
        self.leading = False


class Journal:
    """The store's journal in ``folder``, as this process writes it (see
    the module docstring)."""

    def __init__(self, folder: str, run: Optional[str] = None, idle_holds: bool = False) -> None:
        """``run``: where the current epoch's number and the checkpoints'
        lock are kept (the daemon's ``run/``; ``folder`` by default);
        ``idle_holds``: see the module docstring (only for a caller of
        ``checkpoint`` every few seconds: other processes' checkpoints wait
        for its next call)."""
        self._idle_holds = idle_holds
        os.makedirs(folder, exist_ok=True)
        self.folder = folder
        self._lock = threading.Lock()
        self._changed = threading.Condition(self._lock)
        run = folder if run is None else run
        self._current = SharedCounters(os.path.join(run, "journal.epoch"), 1)
        self._checkpoints = ProcessLock(os.path.join(run, "journal.checkpoint.lock"))
        self._epochs: Dict[int, _Epoch] = {}
        self._closed = False
        with self._current.lock:
            if self._current[0] == 0:
                self._begin(1)

    def _begin(self, number: int) -> None:
        """Epoch ``number``'s file made (durably) and made the current one."""
        path = self._path(number)
        os.close(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_CLOEXEC, 0o600))
        fsync_dir(self.folder)
        self._current[0] = number

    def _path(self, number: int) -> str:
        return os.path.join(self.folder, "%d%s" % (number, SUFFIX))

    def recording(self) -> "_Recording":
        """A write's hold of the current epoch (see the module docstring)."""
        return _Recording(self)

    def _enter(self) -> _Epoch:
        while True:
            with self._lock:
                number = self._current[0]
                epoch = self._epochs.get(number)
                if epoch is None:
                    try:
                        epoch = self._epochs[number] = _Epoch(number, self._path(number))
                    except FileNotFoundError:
                        continue  # retired since the number was read: the next one is current
                epoch.users += 1
                if epoch.held:
                    return epoch  # held already: no checkpoint can take it meanwhile
                fcntl.flock(epoch.fd, fcntl.LOCK_SH)
                if self._current[0] == number and os.fstat(epoch.fd).st_nlink:  # (retired: unlinked)
                    epoch.held = True
                    return epoch
                # A checkpoint began the next epoch (and may have ended this
                # one) before this hold: the write goes to the next.
                epoch.users -= 1
                fcntl.flock(epoch.fd, fcntl.LOCK_UN)
                self._forget(epoch)

    def _leave(self, epoch: _Epoch) -> None:
        with self._lock:
            epoch.users -= 1
            if epoch.users == 0 and not (self._idle_holds and epoch.number == self._current[0]):
                self._let_go(epoch)

    def _let_go(self, epoch: _Epoch) -> None:
        """The hold of an epoch no write uses let go of (and the epoch
        forgotten, unless it is current); with ``_lock`` held."""
        epoch.held = False
        fcntl.flock(epoch.fd, fcntl.LOCK_UN)
        if epoch.number != self._current[0]:
            self._forget(epoch)

    def _let_go_idle(self) -> None:
        """Every idle hold of an epoch no longer current let go of (see
        the module docstring)."""
        with self._lock:
            current = self._current[0]
            for epoch in list(self._epochs.values()):
                if epoch.held and epoch.users == 0 and epoch.number != current:
                    self._let_go(epoch)

    def _forget(self, epoch: _Epoch) -> None:
        if self._epochs.get(epoch.number) is epoch and epoch.users == 0 and not epoch.leading:
            del self._epochs[epoch.number]
            os.close(epoch.fd)

    def _append(self, epoch: _Epoch, record: bytes) -> None:
        with self._lock:
            mine = epoch.batch
            mine.records.append(record)
            while not mine.done and epoch.leading:
                self._changed.wait()
            if not mine.done:  # nobody writes: this writer writes its batch
                epoch.leading = True
                epoch.batch = _Batch()
        if not mine.done:
            mine.error = _write(epoch, mine.records)
            with self._lock:
                mine.done = True
                epoch.leading = False
                self._changed.notify_all()
        if mine.error is not None:
            raise mine.error

    def checkpoint(self) -> bool:
        """Everything the current epoch recorded made durable at rest, and
        its file removed (see the module docstring), unless another process
        checkpoints now or nothing was recorded; whether it did. First, this
        process's idle holds of epochs no longer current are let go of."""
        self._let_go_idle()
        try:
            return self._checkpoint()
        except FileNotFoundError:
            if os.path.isdir(self.folder):
                raise
            return False  # the store's folder went (a test's, removed under a store left open)

    def _checkpoint(self) -> bool:
        if not self._checkpoints.acquire(blocking=False):
            return False
        try:
            number = self._current[0]
            path = self._path(number)
            try:
                if os.path.getsize(path) == 0:
                    return False
            except FileNotFoundError:
                pass
            with self._current.lock:
                self._begin(number + 1)
            self._let_go_idle()  # its own: its wait for the old epoch would be for ever
            self._retire(path)
            return True
        finally:
            self._checkpoints.release()

    def _retire(self, path: str) -> None:
        """An epoch's file taken exclusively (its writes have ended), the
        file system synced, the file removed."""
        try:
            fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
        except FileNotFoundError:
            return
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
            syncfs(fd)
            os.unlink(path)
            fsync_dir(self.folder)
        finally:
            os.close(fd)

    def replay(self, restore: Callable[[Record], None]) -> int:
        """At a daemon's start, before anything is served: ``restore(record)``
        for each put that stands in the journals left (each record checked;
        what does not hold is said and dropped), made durable, and those
        journals removed; writes from now on go to a new epoch. How many
        puts stood."""
        with self._checkpoints:
            paths = journals(self.folder)
            with self._current.lock:
                self._begin(max([self._current[0]] + [_number(path) for path in paths]) + 1)
            records, dropped = read_all(paths)
            for path, why in dropped:
                log.warning("the journal %s: %s dropped", path, why)
            kept = standing(records)
            for record in kept:
                restore(record)
            for path in paths:
                self._retire(path)
            return len(kept)

    def close(self) -> None:
        with self._lock:
            if self._closed:
                return
            self._closed = True
            for epoch in list(self._epochs.values()):
                while epoch.leading:
                    self._changed.wait()
                os.close(epoch.fd)
            self._epochs.clear()
        self._current.close()
        self._checkpoints.close()


def _number(path: str) -> int:
    return int(os.path.basename(path)[:-len(SUFFIX)])


def _write(epoch: _Epoch, records: List[bytes]) -> Optional[BaseException]:
    """One batch appended to ``epoch``'s file and synced (by the one writer
    leading it); the error that stopped it."""
    joined = b"".join(records)
    try:
        write_all(epoch.fd, joined)
        os.fdatasync(epoch.fd)
    except OSError as error:
        if error.errno in (errno.ENOSPC, errno.EDQUOT):
            log.warning("the journal %s is full: %d records refused", epoch.path, len(records))
        return error
    return None


class _Recording:
    """A write's hold of the current epoch: its records go to that epoch's
    file, and the epoch is not retired before the hold ends."""

    __slots__ = ("_journal", "_epoch")

    def __init__(self, journal: Journal) -> None:
        self._journal = journal
        self._epoch: Optional[_Epoch] = None

    def __enter__(self) -> "_Recording":
        self._epoch = self._journal._enter()
        return self

    def __exit__(self, *exc_info) -> None:
        assert self._epoch is not None
        self._journal._leave(self._epoch)

    def put(self, namespace: str, oid: str, content_type: Optional[str], data: bytes) -> None:
        """The object's bytes on disk in the journal, with whatever else was
        appended meanwhile, in one ``fdatasync``; ``OSError`` where its batch
        failed. Hazard: a failed batch may still hold this record whole (its
        sync failed, or the disk filled after it), which a replay would give
        back for a put that was refused; a removal is appended after it, if
        the disk takes that much."""
        assert self._epoch is not None
        try:
            self._journal._append(self._epoch, encode(PUT, namespace, oid, content_type, data))
        except OSError:
            try:
                self._journal._append(self._epoch, encode(GONE, namespace, oid))
            except OSError:
                log.warning("a refused put of %s could not be taken back in the journal: a crash before the "
                            "next checkpoint may bring it back", oid)
            raise

    def gone(self, namespace: str, oid: str) -> None:
        """A removal of the object, on disk before it returns (see ``standing``)."""
        assert self._epoch is not None
        self._journal._append(self._epoch, encode(GONE, namespace, oid))
