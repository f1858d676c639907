"""A store's files put in another folder: its objects, its SQLite files
and its secret.

A stored object is hard-linked where both
are on one file system (the store never writes into an object once it is
published, so the two names may share its bytes), else copied with its
content type (an extended attribute) and fsynced. Its block record
(``<sha256>.blocks``) comes with it. An object already there (the same
name, the same size: names are the bytes' SHA-256) is left alone, which is
what makes a second backup into the same folder incremental.

Only regular files are taken, each looked at without following a link
(``regular``): a backup is a folder anyone may have written into, and a
symbolic link in it (to ``/etc/passwd``) restored as root would put that
file, or a link to it, into the new store. Anything else is refused with
its name."""

from __future__ import annotations

import errno
import os
import shutil
import sqlite3
import stat
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Iterator

from ..errors import Conflict
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


def regular(path: str) -> bool:
    """Whether ``path`` is a regular file (a link is not followed); False if
    there is nothing there; ``Conflict`` naming it if it is anything else."""
    try:
        mode = os.lstat(path).st_mode
    except FileNotFoundError:
        return False
    if not stat.S_ISREG(mode):
        kind = "a symbolic link" if stat.S_ISLNK(mode) else "a directory" if stat.S_ISDIR(mode) else "not a file"
        raise Conflict("%s is %s: backup and restore take regular files only" % (path, kind))
    return True


def place(source: str, target: str, size: int, placed: Placed) -> bool:
    """``source`` (an object file of ``size`` bytes) at ``target``; False if
    ``source`` is gone (deleted meanwhile); ``Conflict`` if it, or its
    block record, is no regular file."""
    if not regular(source):
        return False
    regular(source + RECORD_SUFFIX)
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
        os.link(source, target, follow_symlinks=False)
    except FileNotFoundError:
        return False
    except FileExistsError:
        return True
    except OSError as error:
        if error.errno not in (errno.EXDEV, errno.EPERM, errno.EMLINK):
            raise
        return _copy(source, target)
    try:
        regular(target)  # what was linked: the source may have been swapped for a link since it was looked at
    except Conflict:
        clear(target)
        raise
    return True


def _copy(source: str, target: str) -> bool:
    partial = target + ".partial"
    try:
        shutil.copy2(source, partial, follow_symlinks=False)  # with its extended attributes: the content type
    except FileNotFoundError:
        return False
    try:
        regular(partial)
    except Conflict:
        clear(partial)
        raise
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
    regular(source)
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
    if not regular(source):
        clear(target)
        return
    partial = target + ".partial"
    clear(partial)
    with open(os.open(source, os.O_RDONLY | os.O_NOFOLLOW), "rb") as secret:
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
