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
from typing import Callable, Iterator, List, Optional, Tuple

from .errors import CorruptObject, InsufficientStorage, NotFound, TooLarge
from .hotcache import FileCache, identity, still_same_file
from .names import DEFAULT, SHARES, Namespace, is_object_id
from .storage import (
    BLOCK,
    Backend,
    MemoryObject,
    ObjectInfo,
    PutResult,
    Readable,
    StoredObject,
    clamp_range,
    read_into,
    verify_digest,
)

log = logging.getLogger(__name__)

_SHARD = re.compile(r"[0-9a-f]{2}")
_TYPE_XATTR = "user.filestoraged.content_type"
# Objects up to this size are read whole and verified before the headers go
# out, so their corruption is a clean 500; bigger ones stream with a hold-back.
SMALL_OBJECT = 256 * 1024
# Bytes kept back at the end of a streamed range until the whole file verified.
HOLD_BACK = 64 * 1024
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
                    digest, size = self._write(fd, stream, reservation)
                    if content_type:
                        _set_content_type(fd, content_type)
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
        if cached is not None:
            obj: StoredObject = MemoryObject(ObjectInfo(oid, st.st_size, cached[0]), cached[1])
        else:
            info = ObjectInfo(oid, st.st_size, _get_content_type(fd))
            obj = DiskObject(info, fd, lambda data: self._hot.put(path, st, info.content_type, data))
        file_identity = identity(st)
        obj.still_current = lambda: still_same_file(path, file_identity)
        return obj

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

    def _write(self, fd: int, stream: Readable, reservation: "_Reservation") -> Tuple[str, int]:
        """Copy ``stream`` into ``fd`` while hashing; enforce the size limit and quota."""
        digest = hashlib.sha256()
        buffer = memoryview(bytearray(BLOCK))
        size = 0
        with _Flusher(fd) as flusher:
            while True:
                count = read_into(stream, buffer)
                if not count:
                    return digest.hexdigest(), size
                size += count
                if size > self.max_size:
                    raise TooLarge("the object is over the %d-byte limit" % self.max_size)
                reservation.take(count)
                piece = buffer[:count]
                digest.update(piece)
                _write_all(fd, piece)
                flusher.wrote(count)

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


class DiskObject(StoredObject):
    """A stored file opened for reading, verified against its name on the way out."""

    def __init__(self, info: ObjectInfo, fd: int, on_verified: Callable[[bytes], None]) -> None:
        super().__init__(info)
        self._fd = fd
        self._small: Optional[bytes] = None
        self._on_verified = on_verified

    def preflight(self) -> None:
        if self.info.size <= SMALL_OBJECT:
            data = os.pread(self._fd, self.info.size + 1, 0)
            verify_digest(self.info.oid, hashlib.sha256(data), "object %s" % self.info.oid)
            self._small = data
            self._on_verified(data)

    def verified_bytes(self, start: int, end: int) -> Optional[bytes]:
        return None if self._small is None else self._small[start:end]

    def chunks(self, start: int = 0, end: Optional[int] = None) -> Iterator[bytes]:
        start, end = clamp_range(self.info.size, start, end)
        self._verify_whole()
        fd = self._fd
        while start < end:
            piece = os.pread(fd, min(BLOCK, end - start), start)
            if not piece:
                raise CorruptObject("object %s is shorter than its size" % self.info.oid)
            start += len(piece)
            yield piece

    def send(self, sock, start: int = 0, end: Optional[int] = None) -> int:
        start, end = clamp_range(self.info.size, start, end)
        if self._small is not None:
            sock.sendall(memoryview(self._small)[start:end])
            return end - start
        # Send all but a hold-back with sendfile (no copy through Python) while
        # another thread hashes the whole file; the hold-back leaves only once
        # the hash matched. Both read the page cache, and published files are
        # never rewritten in place, so both see the same bytes.
        verifier = _BackgroundVerifier(self._fd, self.info)
        try:
            with open(self._fd, "rb", buffering=0, closefd=False) as handle:
                body = max(0, end - start - HOLD_BACK)
                sent = sock.sendfile(handle, start, body) if body else 0
                verifier.result()
                if sent != body:
                    raise CorruptObject("object %s is shorter than its size" % self.info.oid)
                rest = end - start - body
                if rest:
                    sent += sock.sendfile(handle, start + body, rest)
                return sent
        finally:
            verifier.stop()

    def _verify_whole(self) -> None:
        verifier = _BackgroundVerifier(self._fd, self.info)
        verifier.result()

    def close(self) -> None:
        if self._fd >= 0:
            os.close(self._fd)
            self._fd = -1


class _BackgroundVerifier:
    """Hashes a whole file in a thread (hashlib releases the GIL on big blocks)."""

    def __init__(self, fd: int, info: ObjectInfo) -> None:
        self._fd = fd
        self._info = info
        self._stopped = threading.Event()
        self._error: Optional[BaseException] = None
        self._thread = threading.Thread(target=self._run, name="verify-" + info.oid[:8], daemon=True)
        self._thread.start()

    def _run(self) -> None:
        digest = hashlib.sha256()
        buffer = bytearray(BLOCK)
        offset = 0
        try:
            while not self._stopped.is_set():
                count = os.preadv(self._fd, [buffer], offset)
                if not count:
                    break
                digest.update(memoryview(buffer)[:count])
                offset += count
            if offset != self._info.size:
                raise CorruptObject("object %s has %d bytes, not %d" % (self._info.oid, offset, self._info.size))
            verify_digest(self._info.oid, digest, "object %s" % self._info.oid)
        except BaseException as error:  # handed to the waiting thread
            self._error = error

    def result(self) -> None:
        """Wait for the hash; raise ``CorruptObject`` if it does not match."""
        self._thread.join()
        if self._error is not None:
            raise self._error

    def stop(self) -> None:
        self._stopped.set()
        self._thread.join()


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


def _get_content_type(target) -> Optional[str]:
    try:
        return os.getxattr(target, _TYPE_XATTR).decode("utf-8", "replace")
    except OSError:
        return None
