"""One daemon per data directory: an exclusive ``flock`` on
``<data-dir>/run/daemon.lock``, held by the serving process (the parent of
the workers, which inherit it) for as long as it runs.

Two daemons on one directory would sweep each other's uploads in flight
from ``.tmp/`` and count the quota twice; ``fsck --repair`` beside a daemon
would move objects under its readers. The kernel drops the lock when the
last process holding it exits, ``kill -9`` included, so a crash never leaves
a stale lock behind. ``token`` commands and plain ``fsck`` (read-only) do
not take it: they are safe beside a daemon.
"""

from __future__ import annotations

import fcntl
import os

from ..base.interprocess import run_dir

LOCK_FILE = "daemon.lock"


class DataDirInUse(Exception):
    """Another process holds the data directory's lock."""

    def __init__(self, data_dir: str, pid: str) -> None:
        super().__init__("data directory %s is in use by pid %s: stop it first (systemctl stop filestoraged, or "
                         "kill %s), or give this one another --data-dir" % (os.path.abspath(data_dir), pid or "?",
                                                                             pid or "it"))


def hold(data_dir: str) -> int:
    """Take the lock (the descriptor, kept open while serving; not inherited
    across exec, kept across fork) and write our pid in it; ``DataDirInUse``
    if another process has it."""
    fd = os.open(os.path.join(run_dir(data_dir), LOCK_FILE), os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o644)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        holder = os.pread(fd, 32, 0).decode("ascii", "replace").strip()
        os.close(fd)
        raise DataDirInUse(data_dir, holder) from None
    os.ftruncate(fd, 0)
    os.pwrite(fd, b"%d\n" % os.getpid(), 0)
    return fd


def adopt(fd: int, data_dir: str) -> int:
    """The lock a parent of older code held, handed over in an upgrade in
    place (``upgrade``): the same open file, so still ours."""
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except (BlockingIOError, OSError):
        raise DataDirInUse(data_dir, "") from None
    return fd


def release(fd: int) -> None:
    os.close(fd)  # the flock goes with the last descriptor of this open file
