"""State that worker processes share through files in ``<data-dir>/run/``:
a lock that excludes threads and processes alike, shared and exclusive
locks on names, int64 counters in a memory-mapped file, and marks of
change.

Both work the same in a single process, so there is one code path.
"""

from __future__ import annotations

import fcntl
import hashlib
import mmap
import os
import secrets
import struct
import threading
import time
import weakref
from typing import Callable, Dict, List, Optional, Tuple

_SLOT = struct.Struct("q")
# Linux's struct flock (64-bit): l_type, l_whence, l_start, l_len, l_pid.
_FLOCK = struct.Struct("hhqqi4x")


def run_dir(data_dir: str) -> str:
    """``<data-dir>/run``: the files that live only as long as a daemon runs."""
    path = os.path.join(data_dir, "run")
    os.makedirs(path, exist_ok=True)
    return path


class ProcessLock:
    """Held by one thread of one process at a time: a thread lock first, then
    an exclusive ``flock`` on a file. (``flock`` alone would not do: it
    belongs to the open file, which every thread of a process shares.)"""

    def __init__(self, path: str) -> None:
        self._thread = threading.Lock()
        self._fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)

    def acquire(self, blocking: bool = True, timeout: float = -1) -> bool:
        """Held (True), or False: not ``blocking`` and held elsewhere, or
        ``timeout`` seconds passed while a thread of this process held it
        (the wait for another process is not bounded)."""
        if not self._thread.acquire(blocking, timeout):
            return False
        try:
            fcntl.flock(self._fd, fcntl.LOCK_EX if blocking else fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            self._thread.release()
            return False
        except BaseException:
            self._thread.release()
            raise
        return True

    def release(self) -> None:
        fcntl.flock(self._fd, fcntl.LOCK_UN)
        self._thread.release()

    def __enter__(self) -> "ProcessLock":
        self.acquire()
        return self

    def __exit__(self, *exc_info) -> None:
        self.release()

    def close(self) -> None:
        os.close(self._fd)


_SHARED: Dict[Tuple[int, str], Tuple[ProcessLock, int]] = {}
_SHARED_LOCK = threading.Lock()


def open_shared(path: str) -> ProcessLock:
    """The ``ProcessLock`` of ``path`` that every user in this process
    shares (threads of one process then wait in its thread lock, never on
    two descriptors of one file); ``close_shared`` when done. Per process:
    a forked child opens its own."""
    key = (os.getpid(), os.path.abspath(path))
    with _SHARED_LOCK:
        lock, users = _SHARED.get(key) or (None, 0)
        if lock is None:
            lock = ProcessLock(path)
        _SHARED[key] = (lock, users + 1)
        return lock


def close_shared(lock: ProcessLock) -> None:
    with _SHARED_LOCK:
        for key, (held, users) in list(_SHARED.items()):
            if held is lock:
                if users > 1:
                    _SHARED[key] = (held, users - 1)
                else:
                    del _SHARED[key]
                    lock.close()
                return


class NamedLocks:
    """Shared and exclusive locks on names (any string), held by a thread
    of any process of the machine that opens the same file: an open file
    description's lock (Linux's ``F_OFD_SETLK``) on the one byte of the
    file the name hashes to. Each hold is on an open file description of
    its own, so two threads of one process exclude each other as two
    processes do (a POSIX record lock belongs to the process, this one to
    the open file), and a process that dies holds nothing. Two names may
    hash to one byte (one chance in 2^62): they then wait for each other,
    no more.

    A hold let go gives its description back, every lock on it let go, for
    the next hold of this process to take (``SPARE`` at most kept): one
    system call a hold, not an ``open`` and a ``close``. Per process: a
    forked child never takes its parent's (one description in two
    processes would be one holder), and a hold it inherited and lets go
    is closed in it, never unlocked (that would let go of the parent's)."""

    SPARE = 64

    def __init__(self, path: str) -> None:
        self.path = path
        self._spare: List[int] = []  # descriptions holding nothing (list pop and append: no lock)
        self.forks = 0  # forks this process was made by since (a hold of an earlier count is a parent's)
        _ALL_NAMED_LOCKS.add(self)
        os.close(self._open())

    def try_hold(self, name: str, exclusive: bool) -> Optional["Held"]:
        """The hold on ``name`` (``exclusive``, or shared with other shared
        holds) if it can be had now; None while it is held the other way."""
        fd = self._take()
        try:
            taken = _lock(fd, _byte(name), exclusive)
        except BaseException:
            os.close(fd)
            raise
        if not taken:
            self._give_back(fd)
            return None
        return Held(fd, self)

    def hold_within(self, name: str, exclusive: bool, seconds: float, pause: Callable[[float], object],
                    step: float) -> Optional["Held"]:
        """``try_hold`` asked again, ``pause(step)`` between the looks, for up
        to ``seconds``; None if the hold could not be had by then."""
        deadline = time.monotonic() + seconds
        while True:
            held = self.try_hold(name, exclusive)
            if held is not None or time.monotonic() >= deadline:
                return held
            pause(step)

    def held(self, name: str) -> bool:
        """Whether anyone (any thread of any process) holds ``name`` now
        (asked through a description that holds nothing itself)."""
        fd = self._take()
        try:
            asked = fcntl.fcntl(fd, fcntl.F_OFD_GETLK, _FLOCK.pack(fcntl.F_WRLCK, os.SEEK_SET, _byte(name), 1, 0))
        except BaseException:
            os.close(fd)
            raise
        self._give_back(fd)
        return _FLOCK.unpack(asked)[0] != fcntl.F_UNLCK

    def _take(self) -> int:
        """A description of the locks' file that holds nothing: a spare one, or a new one."""
        try:
            return self._spare.pop()
        except IndexError:
            return self._open()

    def _give_back(self, fd: int) -> None:
        """``fd``, holding nothing now, kept for the next hold (closed past ``SPARE``)."""
        if len(self._spare) < self.SPARE:
            self._spare.append(fd)
        else:
            os.close(fd)

    def _let_go(self, fd: int) -> None:
        """Every lock on ``fd`` let go (the whole file's range), then ``fd``
        given back; closed instead where the unlock failed."""
        try:
            fcntl.fcntl(fd, fcntl.F_OFD_SETLK, _FLOCK.pack(fcntl.F_UNLCK, os.SEEK_SET, 0, 0, 0))
        except OSError:
            os.close(fd)  # closing lets go of them all the same
            return
        self._give_back(fd)

    def _after_fork(self) -> None:
        """In a forked child: the holds taken before are the parent's, and
        its spare descriptions are never taken (closed here, the parent's
        stay open)."""
        self.forks += 1
        spare, self._spare = self._spare, []
        for fd in spare:
            try:
                os.close(fd)
            except OSError:
                pass

    def _open(self) -> int:
        """A new open file description of the locks' file (made if it went)."""
        return os.open(self.path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)


_ALL_NAMED_LOCKS: "weakref.WeakSet[NamedLocks]" = weakref.WeakSet()


def _after_fork_in_child() -> None:
    for locks in list(_ALL_NAMED_LOCKS):
        locks._after_fork()


os.register_at_fork(after_in_child=_after_fork_in_child)


def _lock(fd: int, byte: int, exclusive: bool) -> bool:
    """Lock ``byte`` through ``fd``'s open file description; False while
    another description holds it the other way."""
    try:
        fcntl.fcntl(fd, fcntl.F_OFD_SETLK, _FLOCK.pack(fcntl.F_WRLCK if exclusive else fcntl.F_RDLCK,
                                                        os.SEEK_SET, byte, 1, 0))
    except (BlockingIOError, PermissionError):  # EAGAIN or EACCES: held the other way
        return False
    return True


def _byte(name: str) -> int:
    """The byte of the locks' file that ``name`` is held on."""
    return int.from_bytes(hashlib.blake2b(name.encode(), digest_size=8).digest(), "big") >> 2


class Held:
    """One hold of ``NamedLocks``: ``release`` (or the end of a ``with``
    block) lets go; a second release does nothing."""

    def __init__(self, fd: int, locks: NamedLocks) -> None:
        self._fd: Optional[int] = fd
        self._locks = locks
        self._forks = locks.forks

    def also(self, name: str, exclusive: bool) -> Optional["AlsoHeld"]:
        """A hold of ``name`` besides, on this hold's own open file
        description (no file opened again: two system calls fewer than
        ``try_hold``); None while it is held the other way. Let go by its
        own ``release``, or with this hold's. Should the two names hash to
        one byte (one chance in 2^62), the second is a change of the first."""
        if self._fd is None:
            raise ValueError("the hold was let go")
        byte = _byte(name)
        return AlsoHeld(self, byte) if _lock(self._fd, byte, exclusive) else None

    def release(self) -> None:
        fd, self._fd = self._fd, None
        if fd is None:
            return
        if self.taken_here():
            self._locks._let_go(fd)
        else:  # inherited from the process that took it: its description is that process's too
            os.close(fd)

    def taken_here(self) -> bool:
        """Whether this process took the hold (not a parent it was forked from)."""
        return self._forks == self._locks.forks

    def __enter__(self) -> "Held":
        return self

    def __exit__(self, *exc_info) -> None:
        self.release()

    def __del__(self) -> None:  # a hold dropped unreleased lets go with it, never later than its process
        self.release()


class AlsoHeld:
    """A hold taken by ``Held.also``: ``release`` lets go of its byte alone
    (nothing once the hold it rides on was let go: that let go of it)."""

    def __init__(self, holder: Held, byte: int) -> None:
        self._holder: Optional[Held] = holder
        self._byte = byte

    def release(self) -> None:
        holder, self._holder = self._holder, None
        fd = holder._fd if holder is not None else None
        if fd is not None and holder.taken_here():  # (an inherited one is the parent's)
            fcntl.fcntl(fd, fcntl.F_OFD_SETLK, _FLOCK.pack(fcntl.F_UNLCK, os.SEEK_SET, self._byte, 1, 0))


def _mapped(path: str, size: int) -> mmap.mmap:
    """The first ``size`` bytes of the file at ``path`` (made if new; bytes
    it gains read as zeros), mapped for every process that maps it, every
    block behind them allocated on the disk. Decision: allocated, never
    sparse: a page of a sparse file first written once the disk is full has
    no block to take, and the kernel kills the process writing it (SIGBUS),
    a worker gone on a full disk; allocated here, a full disk stops a new
    file at once (``OSError``, ENOSPC) and never a mapped one later."""
    fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
    try:
        if os.fstat(fd).st_size < size:
            os.ftruncate(fd, size)
        os.posix_fallocate(fd, 0, size)
        return mmap.mmap(fd, size)
    finally:
        os.close(fd)


class SharedCounters:
    """``count`` int64 slots in the file at ``path`` (created zeroed), or in
    private memory when ``path`` is None. Reads and writes of several slots
    that must agree happen under ``lock``."""

    def __init__(self, path: Optional[str], count: int) -> None:
        size = count * _SLOT.size
        if path is None:
            self._map = mmap.mmap(-1, size)
            self.lock: "ProcessLock | threading.Lock" = threading.Lock()
            return
        self._map = _mapped(path, size)
        self.lock = ProcessLock(path + ".lock")

    def __getitem__(self, slot: int) -> int:
        return _SLOT.unpack_from(self._map, slot * _SLOT.size)[0]

    def __setitem__(self, slot: int, value: int) -> None:
        _SLOT.pack_into(self._map, slot * _SLOT.size, value)

    def add(self, slot: int, delta: int) -> None:
        """``self[slot] += delta`` in one call (under ``lock`` where other
        processes write the slot too)."""
        offset = slot * _SLOT.size
        _SLOT.pack_into(self._map, offset, _SLOT.unpack_from(self._map, offset)[0] + delta)

    def close(self) -> None:
        self._map.close()
        if isinstance(self.lock, ProcessLock):
            self.lock.close()


class ChangeMark:
    """A mark that every change of something processes keep copies of (the
    tokens, counts of failed attempts) replaces, after the change is
    committed, in whichever process of the machine made it: a copy read
    after the mark was seen is good for as long as the mark is the one seen.

    Decision: a new random mark, not a count. Writers need no lock between
    them, and a writer late to write its mark can never bring back one that
    a reader saw before (with a count, two writers could both write n + 1
    after a reader saw it). The file is never removed while a daemon runs:
    a process that mapped it must see every change made through it."""

    def __init__(self, path: Optional[str]) -> None:
        if path is None:
            self._map = mmap.mmap(-1, _SLOT.size)
        else:
            self._map = _mapped(path, _SLOT.size)

    def seen(self) -> int:
        """The mark now."""
        return _SLOT.unpack_from(self._map)[0]

    def change(self) -> None:
        """Say that a change was committed: copies read before now are stale."""
        _SLOT.pack_into(self._map, 0, secrets.randbits(63) + 1)

    def close(self) -> None:
        self._map.close()


# Worker processes number their slots in shared tables from 0 to this; a
# replacement takes a free slot (the parent hands them out).
WORKER_SLOTS = 128
