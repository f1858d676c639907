"""The disk backend: hash-sharded files under the data directory.

Layout (DESIGN §4): ``<data-dir>/ab/<sha256>`` for the default namespace,
``<data-dir>/repos/<name>/ab/<sha256>`` per repository and
``<data-dir>/shares/ab/<sha256>`` for share links. An upload is written to
``<data-dir>/.tmp/`` while it is hashed, fsynced, then hard-linked into place:
``link`` fails when the name exists, so a published object is never replaced
by different bytes, and a crash leaves either the whole object or nothing
(leftovers in ``.tmp/`` are swept at start). The content type rides along as
an extended attribute set on the temporary file, so it appears atomically too.
"""

from __future__ import annotations

import errno
import hashlib
import logging
import os
import re
import tempfile
import threading
from concurrent.futures import ThreadPoolExecutor
from typing import Iterator, List, Optional, Tuple

from .. import blocks
from ..blocks import BLOCK
from .reader import DiskObject
from ...errors import InsufficientStorage, NotFound, TooLarge
from ..caches import FileCache, identity, still_same_file
from ..names import DEFAULT, SHARES, Namespace, is_object_id
from ..interface import Backend, MemoryObject, ObjectInfo, PutResult, Readable, StoredObject, fill

log = logging.getLogger(__name__)

_SHARD = re.compile(r"[0-9a-f]{2}")
_TYPE_XATTR = "user.filestoraged.content_type"
_BLOCKS_XATTR = "user.filestoraged.blocks"
# Verified small objects kept in memory for hot GETs (see hotcache.py).
HOT_CACHE_BYTES = 16 * 1024 * 1024
_NO_SPACE = (errno.ENOSPC, errno.EDQUOT)


class DiskBackend(Backend):
    """Objects as files; see the module docstring for the layout and guarantees."""

    name = "disk"

    def __init__(self, data_dir: str, max_size: int, max_bytes: Optional[int] = None) -> None:
        self.root = os.path.abspath(data_dir)
        self.tmp_dir = os.path.join(self.root, ".tmp")
        self.max_size = max_size
        os.makedirs(self.tmp_dir, exist_ok=True)
        self._sweep_tmp()
        self._usage = _Usage(max_bytes, *self._scan_usage())
        self._hot = FileCache(HOT_CACHE_BYTES)

    # -- paths ----------------------------------------------------------------

    def namespace_dir(self, namespace: Namespace) -> str:
        return os.path.join(self.root, namespace.path) if namespace.path else self.root

    def object_path(self, namespace: Namespace, oid: str) -> str:
        # ``oid`` has been checked by names.object_id (64 lowercase hex) at the
        # HTTP boundary; this is the only place it becomes a path.
        # Joined by hand: this runs on every GET, and os.path.join is slow.
        return "%s/%s/%s" % (self.namespace_dir(namespace), oid[:2], oid)

    def namespaces(self) -> List[Namespace]:
        """Every namespace that has a folder: default, shares, each repository."""
        found = [DEFAULT, SHARES]
        repos = os.path.join(self.root, "repos")
        if os.path.isdir(repos):
            found += [Namespace("repos/" + name) for name in sorted(os.listdir(repos))]
        return found

    # -- the interface --------------------------------------------------------

    def put(self, namespace: Namespace, stream: Readable, content_type: Optional[str] = None) -> PutResult:
        fd, tmp_path = tempfile.mkstemp(dir=self.tmp_dir, prefix="put-")
        try:
            with self._usage.reservation() as reservation:
                try:
                    digest, size, digests = self._write(fd, stream, reservation)
                    if content_type:
                        _set_content_type(fd, content_type)
                    if blocks.needs_record(size):
                        _set_block_digests(fd, blocks.encode(digest, size, digests))
                    os.fsync(fd)
                finally:
                    os.close(fd)
                created = self._publish(tmp_path, self.object_path(namespace, digest))
                if created:
                    self._usage.add(1, size)
        except OSError as error:
            if error.errno in _NO_SPACE:
                raise InsufficientStorage("no space left on the data directory's disk") from error
            raise
        finally:
            _remove_quietly(tmp_path)
        return PutResult(ObjectInfo(digest, size, content_type), created)

    def open(self, namespace: Namespace, oid: str) -> StoredObject:
        path = self.object_path(namespace, oid)
        try:
            st = os.stat(path)
            cached = self._hot.get(path, st)
            if cached is None:
                fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
        except (FileNotFoundError, NotADirectoryError):
            raise NotFound("no object %s" % oid) from None
        file_identity = identity(st)

        def proof() -> bool:
            return still_same_file(path, file_identity)

        if cached is not None:
            return MemoryObject(ObjectInfo(oid, st.st_size, cached[0]), cached[1], proof)
        info = ObjectInfo(oid, st.st_size, _get_content_type(fd))
        raw = _get_xattr(fd, _BLOCKS_XATTR) if blocks.needs_record(st.st_size) else None
        return DiskObject(info, fd, blocks.decode(raw, oid, st.st_size), proof,
                          on_small=lambda data: self._hot.put(path, st, info.content_type, data),
                          on_digests=lambda found: _set_block_digests(fd, blocks.encode(oid, st.st_size, found)))

    def stat(self, namespace: Namespace, oid: str) -> ObjectInfo:
        path = self.object_path(namespace, oid)
        try:
            size = os.stat(path).st_size
        except (FileNotFoundError, NotADirectoryError):
            raise NotFound("no object %s" % oid) from None
        return ObjectInfo(oid, size, _get_content_type(path))

    def delete(self, namespace: Namespace, oid: str) -> None:
        path = self.object_path(namespace, oid)
        try:
            size = os.stat(path).st_size
            os.unlink(path)
        except (FileNotFoundError, NotADirectoryError):
            raise NotFound("no object %s" % oid) from None
        finally:
            self._hot.discard(path)
        _fsync_dir(os.path.dirname(path))
        self._usage.add(-1, -size)

    def list(self, namespace: Namespace, after: str = "", limit: Optional[int] = None) -> List[ObjectInfo]:
        found: List[ObjectInfo] = []
        for shard_dir, name in self._object_files(namespace, after):
            try:
                size = os.stat(os.path.join(shard_dir, name)).st_size
            except FileNotFoundError:
                continue  # deleted while we listed
            found.append(ObjectInfo(name, size))
            if limit is not None and len(found) >= limit:
                break
        return found

    # -- for fsck ---------------------------------------------------------------

    def verify_file(self, namespace: Namespace, oid: str) -> List[bytes]:
        """Hash the file whole against its id (never from a cache, whatever its
        block record says); its block digests. ``CorruptObject`` if it differs."""
        path = self.object_path(namespace, oid)
        fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
        info = ObjectInfo(oid, os.fstat(fd).st_size)
        with DiskObject(info, fd, None) as obj:
            return obj.verify_whole()

    def block_record_matches(self, namespace: Namespace, oid: str, digests: List[bytes]) -> bool:
        size = os.stat(self.object_path(namespace, oid)).st_size
        if not blocks.needs_record(size):
            return True
        raw = _get_xattr(self.object_path(namespace, oid), _BLOCKS_XATTR)
        return blocks.decode(raw, oid, size) == digests

    def write_block_record(self, namespace: Namespace, oid: str, digests: List[bytes]) -> None:
        path = self.object_path(namespace, oid)
        record = blocks.encode(oid, os.stat(path).st_size, digests)
        os.setxattr(path, _BLOCKS_XATTR, record)

    def clear_content_type(self, namespace: Namespace, oid: str) -> None:
        path = self.object_path(namespace, oid)
        try:
            os.removexattr(path, _TYPE_XATTR)
        except OSError as error:
            if error.errno != errno.ENODATA:
                raise
        self._hot.discard(path)

    def check(self) -> None:
        """Write and remove a probe file where uploads are written."""
        try:
            fd, probe = tempfile.mkstemp(dir=self.tmp_dir, prefix="health-")
            os.close(fd)
            os.unlink(probe)
        except OSError as error:
            raise InsufficientStorage("the data directory is not writable: %s" % error) from None

    def usage(self) -> Tuple[int, int]:
        return self._usage.objects, self._usage.bytes

    # -- helpers ---------------------------------------------------------------

    def _write(self, fd: int, stream: Readable, reservation: "_Reservation") -> Tuple[str, int, List[bytes]]:
        """Copy ``stream`` into ``fd`` a block at a time while hashing the whole
        and each block (see ``blocks``); enforce the size limit and quota."""
        digest = hashlib.sha256()
        digests: List[bytes] = []
        buffer = memoryview(bytearray(BLOCK))
        size = 0
        # The block's digest is computed beside the whole-object hash and the
        # write, on the same buffer (hashlib releases the GIL): the upload then
        # costs no more time than with one hash.
        with _Flusher(fd) as flusher, ThreadPoolExecutor(1, "block-digest") as helper:
            while True:
                count = fill(stream, buffer)
                if not count:
                    return digest.hexdigest(), size, digests
                size += count
                if size > self.max_size:
                    raise TooLarge("the object is over the %d-byte limit" % self.max_size)
                reservation.take(count)
                piece = buffer[:count]
                block = helper.submit(blocks.block_digest, piece)
                digest.update(piece)
                _write_all(fd, piece)
                digests.append(block.result())  # before the buffer is filled again
                flusher.wrote(count)
                if count < BLOCK:
                    return digest.hexdigest(), size, digests

    def _publish(self, tmp_path: str, target: str) -> bool:
        """Hard-link the finished temp file to its final name; False if it existed."""
        _make_dirs(os.path.dirname(target))
        try:
            os.link(tmp_path, target)
        except FileExistsError:
            return False
        _fsync_dir(os.path.dirname(target))
        return True

    def _object_files(self, namespace: Namespace, after: str = "") -> Iterator[Tuple[str, str]]:
        base = self.namespace_dir(namespace)
        try:
            shards = sorted(n for n in os.listdir(base) if _SHARD.fullmatch(n) and n >= after[:2])
        except FileNotFoundError:
            return
        for shard in shards:
            shard_dir = os.path.join(base, shard)
            for name in sorted(os.listdir(shard_dir)):
                if is_object_id(name) and name > after:
                    yield shard_dir, name

    def all_objects(self) -> Iterator[Tuple[Namespace, str]]:
        """Every stored object, namespace by namespace (for fsck)."""
        for namespace in self.namespaces():
            for _, name in self._object_files(namespace):
                yield namespace, name

    def _scan_usage(self) -> Tuple[int, int]:
        objects = total = 0
        for namespace in self.namespaces():
            for shard_dir, name in self._object_files(namespace):
                try:
                    total += os.stat(os.path.join(shard_dir, name)).st_size
                    objects += 1
                except FileNotFoundError:
                    pass
        return objects, total

    def _sweep_tmp(self) -> None:
        """Remove uploads that a crash interrupted; they were never visible."""
        for name in os.listdir(self.tmp_dir):
            _remove_quietly(os.path.join(self.tmp_dir, name))
            log.info("swept unfinished upload %s", name)


class _Flusher:
    """Pushes a big upload to disk while it is still arriving.

    Decision: the final ``fsync`` of a 50 MiB file costs about as long as
    receiving it (~60 ms here). A helper thread calls ``fdatasync`` every few
    MiB so that writeback overlaps the transfer and the closing ``fsync`` only
    has the tail left. Linux's ``sync_file_range`` would be finer, but it is not
    in the standard library; ``fdatasync`` of the same fd from another thread is
    safe and releases the GIL.
    """

    EVERY = 8 * 1024 * 1024  # bytes written between two flushes

    def __init__(self, fd: int) -> None:
        self._fd = fd
        self._pending = 0
        self._wake = threading.Event()
        self._done = False
        self._thread: Optional[threading.Thread] = None

    def wrote(self, count: int) -> None:
        self._pending += count
        if self._pending < self.EVERY:
            return
        self._pending = 0
        if self._thread is None:
            self._thread = threading.Thread(target=self._run, name="flush", daemon=True)
            self._thread.start()
        self._wake.set()

    def _run(self) -> None:
        while True:
            self._wake.wait()
            self._wake.clear()
            if self._done:
                return
            try:
                os.fdatasync(self._fd)
            except OSError:
                return  # the final fsync in put() reports real errors

    def __enter__(self) -> "_Flusher":
        return self

    def __exit__(self, *exc_info) -> None:
        if self._thread is not None:
            self._done = True
            self._wake.set()
            self._thread.join()


class _Usage:
    """Objects and bytes stored, plus bytes being written, against an optional quota."""

    def __init__(self, max_bytes: Optional[int], objects: int, total: int) -> None:
        self.max_bytes = max_bytes
        self.objects = objects
        self.bytes = total
        self._in_flight = 0
        self._lock = threading.Lock()

    def reservation(self) -> "_Reservation":
        return _Reservation(self)

    def reserve(self, count: int) -> None:
        with self._lock:
            if self.max_bytes is not None and self.bytes + self._in_flight + count > self.max_bytes:
                raise InsufficientStorage("the %d-byte storage quota is used up" % self.max_bytes)
            self._in_flight += count

    def release(self, count: int) -> None:
        with self._lock:
            self._in_flight -= count

    def add(self, objects: int, count: int) -> None:
        with self._lock:
            self.objects += objects
            self.bytes += count


class _Reservation:
    """Quota bytes held by one upload while it is written; given back at the end."""

    def __init__(self, usage: _Usage) -> None:
        self._usage = usage
        self._held = 0

    def take(self, count: int) -> None:
        self._usage.reserve(count)
        self._held += count

    def __enter__(self) -> "_Reservation":
        return self

    def __exit__(self, *exc_info) -> None:
        self._usage.release(self._held)


def _write_all(fd: int, data: memoryview) -> None:
    while data:
        written = os.write(fd, data)
        data = data[written:]


def _make_dirs(path: str) -> None:
    """Create ``path`` and any missing parents, fsyncing each new entry's parent."""
    if os.path.isdir(path):
        return
    parent = os.path.dirname(path)
    _make_dirs(parent)
    try:
        os.mkdir(path)
    except FileExistsError:
        return
    _fsync_dir(parent)


def _fsync_dir(path: str) -> None:
    fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _remove_quietly(path: str) -> None:
    try:
        os.unlink(path)
    except FileNotFoundError:
        pass


def _set_content_type(fd: int, content_type: str) -> None:
    try:
        os.setxattr(fd, _TYPE_XATTR, content_type.encode("utf-8")[:255])
    except OSError as error:  # a filesystem without user xattrs: serve octet-stream
        if error.errno not in (errno.ENOTSUP, errno.EPERM):
            raise


def _set_block_digests(fd: int, record: bytes) -> None:
    """Store a block record; a file system that cannot hold it (no user xattrs,
    or a record over its size limit: about 120 MiB objects on ext4) leaves the
    object without one, and reads then check the whole object instead."""
    try:
        os.setxattr(fd, _BLOCKS_XATTR, record)
    except OSError as error:
        log.debug("no block record kept (%s): reads hash the whole object", error)


def _get_xattr(target, name: str) -> Optional[bytes]:
    try:
        return os.getxattr(target, name)
    except OSError:
        return None


def _get_content_type(target) -> Optional[str]:
    raw = _get_xattr(target, _TYPE_XATTR)
    return None if raw is None else raw.decode("utf-8", "replace")
