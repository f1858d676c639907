"""Marks of the S3 uploads under way that may store new bytes, one file per
process, so that bytes an upload stored before its process died, with no
key's commit after, are found by the next process that looks
(``Claims.recover``) and fall idle as any unnamed bytes do.

Where pins are locks (``catalog.pins``), an upload writes nothing to the
records before its key's commit, which is what tracks new bytes; a process
killed between their publication and that commit left bytes no record
tracks, which would count as the repository's own (``/data``'s) for good:
never swept, and counted against the bucket's quota. So an upload that
may track the bytes, and finds them not stored yet, writes
``<bucket>/<oid>`` in a slot of its process's file
(``run/s3-uploads.<pid>.<token>``, held with ``flock`` while the process
lives) before the backend stores them, and clears the slot once its end
tracked them. A file nobody holds is a dead process's.

Decision: a slot rewritten in place (one ``pwrite`` to mark, one to
clear), not an appended log: the file is as large as the most uploads
that were under way at once, and needs no fsync (a killed process's writes
are in the page cache; a power cut that loses a mark loses nothing
answered, it only leaves those bytes counted as the repository's, as
before there were marks).
"""

from __future__ import annotations

import fcntl
import logging
import os
import re
import secrets
import threading
from typing import Iterator, List, Optional, Tuple

log = logging.getLogger(__name__)

PREFIX = "s3-uploads."
SLOT = 160  # bytes a mark takes: a repository's name (64 at most), "/", a SHA-256 in hex, padded with NUL
_CLEAR = bytes(SLOT)
_MARK = re.compile(r"([A-Za-z0-9._-]{1,64})/([0-9a-f]{64})")

# This process's id, set again in a forked child: a mark and its clearing
# ask whether the file is this process's without a system call each.
_this_process = [os.getpid()]
os.register_at_fork(after_in_child=lambda: _this_process.__setitem__(0, os.getpid()))


class UploadMarks:
    """This process's marks (its file made at its first mark, made again
    in a forked child, which must not share its parent's)."""

    def __init__(self, folder: str) -> None:
        self.folder = folder
        self._lock = threading.Lock()
        self._pid = 0
        self._fd = -1
        self._path = ""  # this process's file, once made
        self._free: List[int] = []
        self._slots = 0

    def mark(self, bucket: str, oid: str) -> Optional[int]:
        """``bucket``/``oid`` marked under way; the slot to ``clear``. None
        where the mark cannot be written (a full disk): the upload goes on
        unmarked, as uploads did before there were marks (a crash then
        leaves its bytes counted as the repository's)."""
        entry = ("%s/%s" % (bucket, oid)).encode("ascii")
        with self._lock:
            try:
                if self._pid != _this_process[0]:
                    self._open()
            except OSError as error:
                log.warning("an S3 upload of %s/%s goes on unmarked: %s", bucket, oid, error)
                return None
            slot = self._free.pop() if self._free else self._slots
            if slot == self._slots:
                self._slots += 1
            try:
                os.pwrite(self._fd, entry.ljust(SLOT, b"\0"), slot * SLOT)
            except OSError as error:
                self._free.append(slot)
                log.warning("an S3 upload of %s/%s goes on unmarked: %s", bucket, oid, error)
                return None
        return slot

    def clear(self, slot: int) -> None:
        """The slot's upload tracked its bytes (or stored none): its mark goes."""
        with self._lock:
            if self._fd < 0 or self._pid != _this_process[0]:
                return  # closed meanwhile (its file kept), or a parent's slot
            os.pwrite(self._fd, _CLEAR, slot * SLOT)
            self._free.append(slot)

    def left_by_the_dead(self) -> Iterator["Left"]:
        """The marks files of processes that died, each held by the caller
        while it looks at its marks (another process looking at the same
        time skips it); ``Left.done`` removes it."""
        try:
            names = [name for name in os.listdir(self.folder) if name.startswith(PREFIX)]
        except FileNotFoundError:
            return
        for name in names:
            path = os.path.join(self.folder, name)
            try:
                fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
            except FileNotFoundError:
                continue  # another process looked at it and removed it
            try:
                try:
                    fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                except BlockingIOError:
                    continue  # its process lives (or another looks at it now)
                if not os.path.exists(path):
                    continue  # removed by one that held it just before
                yield Left(path, _read(fd, path))
            finally:
                os.close(fd)

    def close(self) -> None:
        """At a stop: this process's file goes if no upload is marked (else
        it stays for the next process to look at)."""
        with self._lock:
            if self._pid == os.getpid() and self._fd >= 0:
                if len(self._free) == self._slots:
                    _remove(self._path)
                os.close(self._fd)
            self._fd, self._pid = -1, 0

    def _open(self) -> None:
        """This process's file, made and held (a parent's, inherited, is
        left to it). Made under another name, held, then renamed: a look
        for dead processes' files never finds it unheld."""
        if self._fd >= 0:
            os.close(self._fd)  # the parent's (closed here, its lock stays the parent's)
        name = "%d.%s" % (os.getpid(), secrets.token_hex(4))
        making = os.path.join(self.folder, "." + name)
        fd = os.open(making, os.O_RDWR | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, 0o600)
        fcntl.flock(fd, fcntl.LOCK_EX)
        self._path = os.path.join(self.folder, PREFIX + name)
        os.rename(making, self._path)
        self._fd, self._pid, self._free, self._slots = fd, os.getpid(), [], 0


class Left:
    """A dead process's marks: the ``(bucket, oid)`` of each upload that
    had not tracked its bytes when it died."""

    def __init__(self, path: str, marks: List[Tuple[str, str]]) -> None:
        self.path = path
        self.marks = marks

    def done(self) -> None:
        """Every mark was looked at: the file goes."""
        _remove(self.path)


def _read(fd: int, path: str) -> List[Tuple[str, str]]:
    with os.fdopen(os.dup(fd), "rb") as file:
        data = file.read()
    marks = []
    for start in range(0, len(data), SLOT):
        entry = data[start:start + SLOT].rstrip(b"\0")
        if not entry:
            continue
        found: Optional[re.Match] = _MARK.fullmatch(entry.decode("ascii", "replace"))
        if found is None:
            log.warning("%s: a mark that is no bucket and object id at byte %d, skipped", path, start)
            continue
        marks.append((found.group(1), found.group(2)))
    return marks


def _remove(path: str) -> None:
    try:
        os.unlink(path)
    except FileNotFoundError:
        pass
