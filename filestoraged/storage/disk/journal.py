"""Small writes made durable together: the disk backend's journal, one
file that every process of the store appends to, where writers at once
share one ``fdatasync`` (group commit).

A record is ``FSDJ``, its kind, the length of its body and the CRC-32 of
the body; a put's body holds the object's namespace, its SHA-256 (the name
it is stored under), its content type and its bytes; a removal's, the
namespace and the SHA-256. A put returns once the batch that holds it is
on disk, and raises, for every writer of the batch alike, where the batch
could not be written (a full disk: the file is cut back where it can be).
Processes append with ``O_APPEND``, so the file's order is the order the
records were made in, across processes.

Reading a journal back (``read``) checks each record (its CRC, and that a
put's bytes have the SHA-256 they are named by) and skips what does not
hold to the next record that does: a torn tail a power cut leaves behind a
batch never answered, or the part of a batch a full disk stopped, is
dropped and said, never given. ``standing`` gives the puts no later removal
took back.

Epochs: the file is ``<epoch>.journal``, the current epoch a number
every process maps (``run/journal.epoch``). A process writes only while it holds a
shared ``flock`` on the epoch's file (``recording``), from before its
record is appended until what the record is for rests where it belongs
(the object's file, not yet synced). ``checkpoint`` begins the next epoch,
takes the old file exclusively (every write begun in it has ended), makes
the file system durable (``syncfs``), and removes the old file: everything
it recorded is durable at rest.
"""

from __future__ import annotations

import ctypes
import errno
import fcntl
import hashlib
import logging
import os
import struct
import threading
import zlib
from dataclasses import dataclass
from typing import Callable, Dict, List, Optional, Tuple

from ...base.interprocess import ProcessLock, SharedCounters
from .files import fsync_dir, write_all

log = logging.getLogger(__name__)

MAGIC = b"FSDJ"
PUT, GONE = 1, 2
_HEAD = struct.Struct("<4sBII")  # magic, kind, body length, CRC-32 of the body
_SHORT = struct.Struct("<H")
_MOST_BODY = 16 * 1024 * 1024  # no record is larger: a length past it is a torn or corrupted head
SUFFIX = ".journal"


@dataclass(frozen=True)
class Record:
    kind: int
    namespace: str
    oid: str
    content_type: Optional[str] = None
    data: bytes = b""


def encode(record: Record) -> bytes:
    """The bytes of ``record`` as a journal holds it."""
    namespace = record.namespace.encode()
    body = [_SHORT.pack(len(namespace)), namespace, bytes.fromhex(record.oid)]
    if record.kind == PUT:
        content_type = (record.content_type or "").encode()
        body += [_SHORT.pack(len(content_type)), content_type, record.data]
    joined = b"".join(body)
    return _HEAD.pack(MAGIC, record.kind, len(joined), zlib.crc32(joined)) + joined


def _decode(kind: int, body: bytes) -> Record:
    """The record of a body whose CRC held; ``ValueError`` where it does not read."""
    (length,) = _SHORT.unpack_from(body, 0)
    at = _SHORT.size + length
    namespace = body[_SHORT.size:at].decode()
    oid = body[at:at + 32].hex()
    if len(oid) != 64:
        raise ValueError("a record cut short in its object id")
    at += 32
    if kind == GONE:
        return Record(GONE, namespace, oid)
    if kind != PUT:
        raise ValueError("a record of no known kind (%d)" % kind)
    (length,) = _SHORT.unpack_from(body, at)
    at += _SHORT.size
    content_type = body[at:at + length].decode() or None
    data = body[at + length:]
    if hashlib.sha256(data).hexdigest() != oid:
        raise ValueError("a put whose bytes are not the SHA-256 %s they are named by" % oid)
    return Record(PUT, namespace, oid, content_type, data)


def read(path: str) -> Tuple[List[Record], List[str]]:
    """The records of the journal at ``path`` that hold, in order, and what
    was dropped (where, and why)."""
    with open(path, "rb") as handle:
        data = handle.read()
    records: List[Record] = []
    dropped: List[str] = []
    at = 0
    while at < len(data):
        record, why, length = _record_at(data, at)
        if record is not None:
            records.append(record)
            at += length
            continue
        following = data.find(MAGIC, at + 1)
        end = len(data) if following < 0 else following
        dropped.append("bytes %d-%d: %s" % (at, end, why))
        at = end
    return records, dropped


def _record_at(data: bytes, at: int) -> Tuple[Optional[Record], str, int]:
    """The record at byte ``at`` and its length, or None and why not."""
    if len(data) - at < _HEAD.size:
        return None, "a record's head cut short", 0
    magic, kind, length, crc = _HEAD.unpack_from(data, at)
    if magic != MAGIC or length > _MOST_BODY:
        return None, "no record's head", 0
    body = data[at + _HEAD.size:at + _HEAD.size + length]
    if len(body) < length:
        return None, "a record cut short (%d of %d bytes)" % (len(body), length), 0
    if zlib.crc32(body) != crc:
        return None, "a record whose CRC-32 does not hold", 0
    try:
        return _decode(kind, body), "", _HEAD.size + length
    except (ValueError, struct.error, UnicodeDecodeError) as error:
        return None, str(error), 0


def standing(records: List[Record]) -> List[Record]:
    """The puts of ``records`` that no later removal of the same object took back, in order."""
    last: Dict[Tuple[str, str], int] = {}
    for index, record in enumerate(records):
        last[(record.namespace, record.oid)] = index
    return [record for index, record in enumerate(records)
            if record.kind == PUT and last[(record.namespace, record.oid)] == index]


def journals(folder: str) -> List[str]:
    """The journal files in ``folder``, oldest epoch first."""
    try:
        names = [name for name in os.listdir(folder) if name.endswith(SUFFIX) and name[:-len(SUFFIX)].isdigit()]
    except FileNotFoundError:
        return []
    return [os.path.join(folder, name) for name in sorted(names, key=lambda name: int(name[:-len(SUFFIX)]))]


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
        self.batch = _Batch()
        self.leading = False


class Journal:
    """The store's journal in ``folder``, as this process writes it (see
    the module docstring)."""

    def __init__(self, folder: str, run: Optional[str] = None) -> None:
        """``run``: where the current epoch's number and the checkpoints'
        lock are kept (the daemon's ``run/``; ``folder`` by default)."""
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
                if epoch.users > 1:
                    return epoch  # held already: no checkpoint can take it meanwhile
                fcntl.flock(epoch.fd, fcntl.LOCK_SH)
                if self._current[0] == number and os.path.exists(epoch.path):
                    return epoch
                # A checkpoint began the next epoch (and may have ended this
                # one) before this hold: the write goes to the next.
                epoch.users -= 1
                fcntl.flock(epoch.fd, fcntl.LOCK_UN)
                self._forget(epoch)

    def _leave(self, epoch: _Epoch) -> None:
        with self._lock:
            epoch.users -= 1
            if epoch.users == 0:
                fcntl.flock(epoch.fd, fcntl.LOCK_UN)
                if epoch.number != self._current[0]:
                    self._forget(epoch)

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
        checkpoints now or nothing was recorded; whether it did."""
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
                self._begin(max(self._current[0], *(_number(path) for path in paths)) + 1 if paths
                            else self._current[0] + 1)
            records: List[Record] = []
            for path in paths:
                found, dropped = read(path)
                records += found
                for why in dropped:
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
        appended meanwhile, in one ``fdatasync``; ``OSError`` where its batch failed."""
        assert self._epoch is not None
        self._journal._append(self._epoch, encode(Record(PUT, namespace, oid, content_type, data)))

    def gone(self, namespace: str, oid: str) -> None:
        """A removal of the object, on disk before it returns (see ``standing``)."""
        assert self._epoch is not None
        self._journal._append(self._epoch, encode(Record(GONE, namespace, oid)))
