"""A store's files put in another folder: its objects, its SQLite files
and its secret.

A stored object is hard-linked where both
are on one file system (the store never writes into an object once it is
published, so the two names may share its bytes), else copied with its
content type (an extended attribute) and fsynced. Its block record
(``<sha256>.blocks``) comes with it. An object already there (the same
name, the same size: names are the bytes' SHA-256) is left alone, which is
what makes a second backup into the same folder incremental."""

from __future__ import annotations

import errno
import os
import shutil
import sqlite3
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Iterator

from ..storage.disk.backend import DiskBackend
from ..storage.disk.files import RECORD_SUFFIX


@dataclass
class Placed:
    linked: int = 0
    copied: int = 0
    kept: int = 0  # already there

    @property
    def new(self) -> int:
        return self.linked + self.copied


def place(source: str, target: str, size: int, placed: Placed) -> bool:
    """``source`` (an object file of ``size`` bytes) at ``target``; False if
    ``source`` is gone (deleted meanwhile)."""
    try:
        if os.stat(target).st_size == size:
            placed.kept += 1
            return True
        os.unlink(target)  # a copy cut short by a stop: made again
    except FileNotFoundError:
        pass
    os.makedirs(os.path.dirname(target), exist_ok=True)
    # The block record first, as the store writes them (an object found
    # without its record is read by hashing it whole); a small object has none.
    _put(source + RECORD_SUFFIX, target + RECORD_SUFFIX)
    if not _put(source, target):
        return False
    if os.path.samefile(source, target):
        placed.linked += 1
    else:
        placed.copied += 1
    return True


def _put(source: str, target: str) -> bool:
    try:
        os.link(source, target)
    except FileNotFoundError:
        return False
    except FileExistsError:
        return True
    except OSError as error:
        if error.errno not in (errno.EXDEV, errno.EPERM, errno.EMLINK):
            raise
        return _copy(source, target)
    return True


def _copy(source: str, target: str) -> bool:
    partial = target + ".partial"
    try:
        shutil.copy2(source, partial)  # with its extended attributes: the content type
    except FileNotFoundError:
        return False
    with open(partial, "rb") as copied:
        os.fsync(copied.fileno())
    os.replace(partial, target)
    return True


@contextmanager
def open_store(dest: str, max_size: int) -> Iterator[DiskBackend]:
    """The store in ``dest`` (opened as fsck opens one: nothing started)."""
    store = DiskBackend(dest, max_size, alone=False)
    try:
        yield store
    finally:
        store.close()


def copy_database(source: str, target: str) -> None:
    """A snapshot of the SQLite file ``source`` at ``target`` (the backup
    API: one read transaction, writers go on meanwhile), replacing any."""
    partial = target + ".partial"
    for leftover in (partial, target + "-wal", target + "-shm"):
        clear(leftover)
    origin = sqlite3.connect(source, timeout=30)
    try:
        copy = sqlite3.connect(partial)
        try:
            origin.backup(copy)
            copy.execute("PRAGMA journal_mode=DELETE")  # one file, as a backup should be
        finally:
            copy.close()
    finally:
        origin.close()
    with open(partial, "rb") as written:
        os.fsync(written.fileno())
    os.replace(partial, target)


def copy_secret(source: str, target: str) -> None:
    if not os.path.exists(source):
        clear(target)
        return
    partial = target + ".partial"
    clear(partial)
    with open(source, "rb") as secret:
        data = secret.read()
    descriptor = os.open(partial, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(descriptor, "wb") as out:
        out.write(data)
        out.flush()
        os.fsync(out.fileno())
    os.replace(partial, target)


def clear(path: str) -> None:
    try:
        os.unlink(path)
    except FileNotFoundError:
        pass
