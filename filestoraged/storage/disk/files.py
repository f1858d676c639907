"""File-system building blocks of the disk backend: a temporary file that
becomes visible only whole, directory fsyncs, the extended attribute that
carries an object's content type, and the block record beside an object
(``<sha256>.blocks``)."""

from __future__ import annotations

import errno
import logging
import os
import tempfile
from typing import Optional

log = logging.getLogger(__name__)

TYPE_XATTR = "user.filestoraged.content_type"
# The block record of ``<shard>/<sha256>`` is ``<shard>/<sha256>.blocks``: a
# file, so that any object on any file system has one (an extended attribute,
# where records were once kept, holds ~4 KB on ext4: objects up to ~115 MiB).
RECORD_SUFFIX = ".blocks"
_MOST_RECORD = 64 * 1024 * 1024  # a 4 TiB object's record is 32 MiB


class TempFile:
    """A new file in ``folder``, to be hard-linked under its final name once
    ``finish``ed (a link fails when the name exists, so a published file is
    never replaced). The temporary name is removed on exit, whatever
    happened: a failure leaves nothing, a crash leaves only a file that
    ``.tmp`` sweeping removes."""

    def __init__(self, folder: str, prefix: str) -> None:
        self.fd, self.path = tempfile.mkstemp(dir=folder, prefix=prefix)

    def finish(self) -> None:
        """Its bytes fsynced, its descriptor closed: ready to be linked."""
        os.fsync(self.fd)
        os.close(self.fd)
        self.fd = -1

    def __enter__(self) -> "TempFile":
        return self

    def __exit__(self, *exc_info) -> None:
        if self.fd >= 0:
            os.close(self.fd)
            self.fd = -1
        remove_quietly(self.path)


def write_all(fd: int, data: memoryview) -> None:
    while data:
        written = os.write(fd, data)
        data = data[written:]


def make_dirs(path: str) -> None:
    """Create ``path`` and any missing parents, fsyncing each new entry's parent."""
    if os.path.isdir(path):
        return
    parent = os.path.dirname(path)
    make_dirs(parent)
    try:
        os.mkdir(path)
    except FileExistsError:
        return
    fsync_dir(parent)


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
