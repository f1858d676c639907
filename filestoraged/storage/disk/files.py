"""File-system building blocks of the disk backend: a temporary file that
becomes visible only whole, directory fsyncs, and the extended attributes
that carry an object's content type and block record."""

from __future__ import annotations

import errno
import logging
import os
import tempfile
from typing import Optional

log = logging.getLogger(__name__)

TYPE_XATTR = "user.filestoraged.content_type"
BLOCKS_XATTR = "user.filestoraged.blocks"


class TempFile:
    """A new file in ``folder``, published under its final name by ``publish``
    (a hard link: it fails when the name exists, so a published file is never
    replaced). The temporary name is removed on exit, whatever happened: a
    failure leaves nothing, a crash leaves only a file that ``.tmp`` sweeping
    removes."""

    def __init__(self, folder: str, prefix: str) -> None:
        self.fd, self.path = tempfile.mkstemp(dir=folder, prefix=prefix)

    def publish(self, target: str) -> bool:
        """fsync, then link to ``target`` and fsync its folder; False if ``target`` existed."""
        os.fsync(self.fd)
        os.close(self.fd)
        self.fd = -1
        make_dirs(os.path.dirname(target))
        try:
            os.link(self.path, target)
        except FileExistsError:
            return False
        fsync_dir(os.path.dirname(target))
        return True

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


def remove_quietly(path: str) -> None:
    try:
        os.unlink(path)
    except FileNotFoundError:
        pass


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


def set_block_record(target, record: bytes) -> None:
    """Store a block record; a file system that cannot hold it (no user xattrs,
    or a record over its size limit: about 115 MiB objects on ext4) leaves the
    object without one, and reads then check the whole object instead."""
    try:
        os.setxattr(target, BLOCKS_XATTR, record)
    except OSError as error:
        log.debug("no block record kept (%s): reads hash the whole object", error)


def remove_xattr(target, name: str) -> None:
    try:
        os.removexattr(target, name)
    except OSError as error:
        if error.errno != errno.ENODATA:
            raise
