"""File-system building blocks of the disk backend: a temporary file that
becomes visible only whole (and the sweep of those a crash left named in
``.tmp``), directory fsyncs and the folders a link makes where missing,
the extended attribute that carries an object's content type, and the
block record beside an object (``<sha256>.blocks``)."""

from __future__ import annotations

import errno
import logging
import os
import tempfile
import threading
from typing import Callable, List, Optional

log = logging.getLogger(__name__)

TYPE_XATTR = "user.filestoraged.content_type"
# The block record of ``<shard>/<sha256>`` is ``<shard>/<sha256>.blocks``: a
# file, so that any object on any file system has one (an extended attribute,
# where records were once kept, holds ~4 KB on ext4: objects up to ~115 MiB).
RECORD_SUFFIX = ".blocks"
_MOST_RECORD = 64 * 1024 * 1024  # a 4 TiB object's record is 32 MiB


class TempFile:
    """A new file in ``folder``, to be given its final name (``link``) once
    ``finish``ed: a link fails when the name exists, so a published file is
    never replaced. ``unnamed`` (where ``links_unnamed_files`` says the
    file system can): the file has no name at all until then
    (``O_TMPFILE``), so a failure or a crash, even of the whole daemon,
    leaves nothing, and no name is made and removed a write. Otherwise a
    named file, removed on exit whatever happened: a failure leaves
    nothing, a crash a file that ``.tmp`` sweeping removes: named
    ``<kind>-<pid>-...`` (see ``sweep_unfinished``)."""

    def __init__(self, folder: str, kind: str, unnamed: bool = False) -> None:
        self._named = not unnamed
        if unnamed:
            self.fd = os.open(folder, os.O_TMPFILE | os.O_RDWR | os.O_CLOEXEC, 0o600)
        else:
            self.fd, self._path = tempfile.mkstemp(dir=folder, prefix="%s-%d-" % (kind, os.getpid()))

    def finish(self) -> None:
        """Its bytes fsynced, ready to be linked."""
        os.fsync(self.fd)

    def link(self, target: str) -> None:
        """The file under its final name (``FileExistsError`` where that is taken)."""
        if self._named:
            os.link(self._path, target)
        else:
            link_unnamed(self.fd, target)

    def __enter__(self) -> "TempFile":
        return self

    def __exit__(self, *exc_info) -> None:
        os.close(self.fd)
        if self._named:
            remove_quietly(self._path)


def links_unnamed_files(folder: str) -> bool:
    """Whether files can be made in ``folder`` with no name and linked
    later (``O_TMPFILE``, then ``link_unnamed``): Linux 3.11 and later on
    ext4, XFS, btrfs and tmpfs, with ``/proc`` mounted. Tried on a probe
    file, removed."""
    flag = getattr(os, "O_TMPFILE", None)
    if flag is None:
        return False
    try:
        fd = os.open(folder, flag | os.O_RDWR | os.O_CLOEXEC, 0o600)
    except OSError:  # EOPNOTSUPP (the file system), EISDIR or EINVAL (an older kernel)
        return False
    probe = os.path.join(folder, "probe-%d-unnamed" % os.getpid())
    remove_quietly(probe)  # one a crash left between the two steps here
    try:
        link_unnamed(fd, probe)
    except OSError:  # no /proc, or a file system that will not link it
        return False
    finally:
        os.close(fd)
    remove_quietly(probe)
    return True


_ROOT: List[int] = []  # "/" opened once a process (see ``link_unnamed``)
_ROOT_LOCK = threading.Lock()


def link_unnamed(fd: int, target: str) -> None:
    """The unnamed file open as ``fd`` linked at ``target``: a ``linkat`` of
    ``/proc/self/fd/N`` that follows it to the file. (``os.link`` follows a
    link only when given a directory's descriptor, hence the path from
    ``/``; ``/proc/self`` is looked up at each call, so a forked worker
    links its own files.)"""
    if not _ROOT:
        with _ROOT_LOCK:
            if not _ROOT:
                _ROOT.append(os.open("/", os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC))
    os.link("proc/self/fd/%d" % fd, target, src_dir_fd=_ROOT[0])


def sweep_unfinished(tmp_dir: str, pid: Optional[int] = None) -> None:
    """Remove uploads that a crash interrupted; they were never visible.
    ``pid``: only those of that (dead) process, named ``<kind>-<pid>-…``;
    None: all of them (at start, before anything serves)."""
    try:
        names = os.listdir(tmp_dir)
    except FileNotFoundError:
        return
    mark = None if pid is None else "-%d-" % pid
    for name in names:
        if mark is None or mark in name:
            remove_quietly(os.path.join(tmp_dir, name))
            log.info("swept unfinished upload %s", name)


def namespace_folder(root: str, path: str) -> str:
    """The folder of a namespace (its ``path``; the store's own: ``root``)."""
    return "%s/%s" % (root, path) if path else root  # (``root`` absolute, ``path`` relative: checked names)


def object_file(folder: str, oid: str) -> str:
    """Where the object ``oid`` of a namespace's ``folder`` rests: the one
    place an id becomes a path (``oid`` checked by ``names.object_id`` at the
    boundary). Joined by hand: this runs on every GET, and os.path.join is slow."""
    return "%s/%s/%s" % (folder, oid[:2], oid)


def shard_of(target: str) -> str:
    """The shard folder of an ``object_file`` path (``os.path.dirname``'s
    answer, without its Python: every write asks)."""
    return target[:target.rindex("/")]


def write_all(fd: int, data: memoryview) -> None:
    while data:
        written = os.write(fd, data)
        data = data[written:]


def make_dirs(path: str) -> None:
    """Create ``path`` and any missing parents, fsyncing each new entry's parent."""
    if os.access(path, os.F_OK):  # (no ``stat_result`` made: every write asks)
        return
    parent = os.path.dirname(path)
    make_dirs(parent)
    try:
        os.mkdir(path)
    except FileExistsError:
        return
    fsync_dir(parent)


def link_making_folder(link: Callable[[str], None], target: str, folder: str) -> None:
    """``link(target)``, its ``folder`` made (and its parent synced) first
    where it is missing. Decision: asked only then, not before every link
    (a system call a write); a folder is made once, inside the index's
    transaction, which a first write into a shard then holds a sync longer."""
    try:
        link(target)
    except FileNotFoundError:
        make_dirs(folder)
        link(target)


def fsync_dir(path: str) -> None:
    fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def remove_quietly(path: str) -> bool:
    """Remove ``path`` if it is there; whether this call removed it."""
    try:
        os.unlink(path)
    except FileNotFoundError:
        return False
    return True


def get_xattr(target, name: str) -> Optional[bytes]:
    """An extended attribute of a path or fd; None if absent or unsupported."""
    try:
        return os.getxattr(target, name)
    except OSError:
        return None


def set_content_type(fd: int, content_type: str) -> None:
    try:
        os.setxattr(fd, TYPE_XATTR, content_type.encode("ascii"))
    except OSError as error:  # a filesystem without user xattrs: serve octet-stream
        if error.errno not in (errno.ENOTSUP, errno.EPERM):
            raise


def get_content_type(target) -> Optional[str]:
    raw = get_xattr(target, TYPE_XATTR)
    return None if raw is None else raw.decode("utf-8", "replace")


def read_record(object_path: str) -> Optional[bytes]:
    """The raw block record beside an object; None if it has none."""
    try:
        with open(object_path + RECORD_SUFFIX, "rb") as record:
            return record.read(_MOST_RECORD)
    except (FileNotFoundError, NotADirectoryError):
        return None


def write_record(tmp_dir: str, object_path: str, record: bytes) -> None:
    """Put a block record beside an object: written whole to ``tmp_dir`` and
    renamed into place, so a reader sees the old record, the new or none.
    Not fsynced: a record a crash tore is never believed (its checksum), and
    the object is then hashed whole once and recorded again. A failure to
    write leaves the object without one, read the same slower way."""
    try:
        make_dirs(os.path.dirname(object_path))
        fd, tmp = tempfile.mkstemp(dir=tmp_dir, prefix="record-%d-" % os.getpid())
        try:
            with os.fdopen(fd, "wb") as out:
                out.write(record)
            os.rename(tmp, object_path + RECORD_SUFFIX)
        except BaseException:
            remove_quietly(tmp)
            raise
    except OSError as error:
        log.warning("no block record kept for %s (%s): its reads hash the whole object", object_path, error)


def remove_xattr(target, name: str) -> None:
    try:
        os.removexattr(target, name)
    except OSError as error:
        if error.errno != errno.ENODATA:
            raise
