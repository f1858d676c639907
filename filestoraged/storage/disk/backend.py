"""The disk backend: hash-sharded files under the data directory.

Layout: ``<data-dir>/ab/<sha256>`` for the default namespace,
``<data-dir>/repos/<name>/ab/<sha256>`` per repository and
``<data-dir>/shares/ab/<sha256>`` for share links. An upload is written to
``<data-dir>/.tmp/`` while it is hashed, fsynced, then hard-linked into place:
``link`` fails when the name exists, so a published object is never replaced
by different bytes, and a crash leaves either the whole object or nothing
(leftovers in ``.tmp/`` are swept at start); the link happens inside the
transaction that adds the object's row to the object index (``objects.db``,
see ``storage.object_index``), which lists and counts them. The content type rides along as
an extended attribute set on the temporary file, so it appears atomically too.
An object bigger than one block has its block record beside it
(``<sha256>.blocks``, see ``files.write_record``), written before the object
is linked into place: a reader finds the record with the object, or (after
a crash or a delete racing an upload) no record and hashes the whole object.
"""

from __future__ import annotations

import errno
import os
import tempfile
from typing import Callable, Collection, Dict, Iterator, List, Optional, Tuple

from ...errors import CorruptObject, InsufficientStorage, NotFound
from .. import blocks
from ...base.lru import FileCache, identity, still_same_file
from ..interface import (Backend, Bounds, FinishedFile, Hashed, Look, MemoryObject, ObjectInfo, PutResult, Readable,
                         StoredObject, before_publishing)
from ...base.held_hashing import sha256_held
from ...base.interprocess import run_dir
from ..names import Namespace
from ...base.periodic import Periodic
from ..object_index import ObjectIndex
from .files import (
    RECORD_SUFFIX,
    TYPE_XATTR,
    TempFile,
    fsync_dir,
    get_content_type,
    links_unnamed_files,
    link_making_folder,
    namespace_folder,
    object_file,
    read_record,
    remove_quietly,
    remove_xattr,
    sweep_unfinished,
    set_content_type,
    shard_of,
    write_all,
    write_record,
)
from .indexing import index_path, keep
from . import shards, small_writes
from .layout import LaidOut
from .quota import USAGE_FILE, BucketQuotas, Reservation, Usage
from .reader import DiskObject
from .writer import hash_file, write_object

# Verified small objects kept in memory for hot GETs (see base.lru).
HOT_CACHE_BYTES = 16 * 1024 * 1024
_NO_SPACE = (errno.ENOSPC, errno.EDQUOT)
# /healthz reports a disk with less room than this as full.
MIN_FREE_BYTES = 1024 * 1024
KEEP_SECONDS = 30  # how often the first worker asks whether the object index needs a pass
LIST_PAGE = 500  # index rows read at a time by a listing without a limit


class DiskBackend(Backend):
    keeps_quotas = True

    """Objects as files; see the module docstring for the layout and guarantees."""

    name = "disk"

    def __init__(self, data_dir: str, max_size: int, max_bytes: Optional[int] = None,
                 alone: bool = True, worker: Optional[int] = None,
                 live_uploads: Optional[Callable[[], Optional[Collection[str]]]] = None) -> None:
        """``alone``: the daemon alone on this directory, at its start: it
        removes what crashed uploads left in ``.tmp``, marks its run in the
        object index and keeps the index true; never beside a serving daemon
        (``fsck`` and worker processes pass False: the parent of the workers
        does the first two, the first worker the third). ``worker``: this
        worker process's slot; its usage counts are then shared with the
        other workers' (see ``quota``), else kept in this process.
        ``live_uploads``: the ids of the unfinished uploads the records hold
        (None from it: not known here), by which the pass that keeps the
        index true after a stop midway sets uploads' parts right too."""
        self.root = os.path.abspath(data_dir)
        self._live_uploads = live_uploads
        self.tmp_dir = os.path.join(self.root, ".tmp")
        self.max_size = max_size
        self._alone = alone
        self._closed = False
        os.makedirs(self.tmp_dir, exist_ok=True)
        restored = 0
        if alone:
            sweep_unfinished(self.tmp_dir)
            restored = small_writes.replay(self.root)
        self._unnamed = links_unnamed_files(self.tmp_dir)  # uploads written with no name (see ``TempFile``)
        self.index = ObjectIndex(index_path(self.root))
        if alone:
            self.index.begin_run()
            if restored:
                self.index.mark_dirty("the journal gave back objects a crash had left missing")
        if not self.index.complete() and not self._any_shard():
            self.index.mark_passed(None)  # a new store: nothing to find
        shared = None if worker is None else os.path.join(run_dir(self.root), USAGE_FILE)
        self._usage = Usage(max_bytes, shared, worker or 0, self.index.totals, fresh=worker is None)
        self.repaired_marker = os.path.join(self.root, ".fsck-repaired")
        try:
            self._marked = os.stat(self.repaired_marker).st_mtime_ns
        except FileNotFoundError:
            self._marked = 0
        self.quotas = BucketQuotas(self.index)
        self._hot = FileCache(HOT_CACHE_BYTES)
        self._small = small_writes.SmallWrites(self.root, checkpoints=alone or worker is not None)
        # The first worker (or the daemon alone) sets the index right in the
        # background after a run that did not stop cleanly.
        self._keeper = (Periodic("object-index", KEEP_SECONDS, self.keep_index, at_once=True).start()
                        if worker == 0 or (worker is None and alone) else None)

    def namespace_dir(self, namespace: Namespace) -> str:
        return namespace_folder(self.root, namespace.path)

    def object_path(self, namespace: Namespace, oid: str) -> str:
        return object_file(namespace_folder(self.root, namespace.path), oid)

    def namespaces(self) -> List[Namespace]:
        """Every namespace that has a folder: default, shares, each repository."""
        return shards.namespaces(self.root)

    def put(self, namespace: Namespace, stream: Readable, content_type: Optional[str] = None,
            expected: Optional[str] = None, hashed: Optional[Hashed] = None) -> PutResult:
        if isinstance(stream, FinishedFile):
            return self._adopt(namespace, stream, content_type, expected, hashed)
        most = min(small_writes.SMALL, self.max_size)
        if small_writes.small_enough(stream, most):
            head = small_writes.read_head(stream, most + 1)
            if len(head) <= most:
                return self._put_small(namespace, head, content_type, expected, hashed)
            stream = small_writes.Prefixed(head, stream)
        with self.writing(namespace) as reservation, \
                TempFile(self.tmp_dir, "put", self._unnamed) as tmp:
            left = getattr(stream, "left", None)
            if reservation.bounded and isinstance(left, int):
                reservation.take_ahead(left)  # a bucket's quota refuses before a byte is read
            written = write_object(tmp.fd, stream, reservation, self.max_size)
            before_publishing(written[0], expected, hashed, self._look(namespace, written[0]))
            return self._publish(namespace, tmp.fd, written, content_type, tmp.link, tmp.finish, reservation)

    def _put_small(self, namespace: Namespace, data: bytes, content_type: Optional[str], expected: Optional[str],
                   hashed: Optional[Hashed]) -> PutResult:
        """A small object (``small_writes``): in the journal, then at rest unsynced."""
        with self.writing(namespace) as reservation:
            reservation.take(len(data))
            # (No block checks: an object of one block is checked by its id.)
            written = (sha256_held(data).hexdigest(), len(data), [])
            look = self._look(namespace, written[0])
            before_publishing(written[0], expected, hashed, look)
            if look():
                return PutResult(ObjectInfo(written[0], len(data), content_type), False)
            # The file is made only for bytes not stored yet (two system calls fewer for those that are).
            with self._small.journal.recording() as recording, \
                    TempFile(self.tmp_dir, "put", self._unnamed) as tmp:
                recording.put(namespace.path, written[0], content_type, data)
                try:
                    write_all(tmp.fd, data)
                    return self._publish(namespace, tmp.fd, written, content_type, tmp.link, lambda: None,
                                         reservation, synced=False)
                except BaseException:
                    recording.gone(namespace.path, written[0])  # refused: no replay may bring it
                    raise

    def _adopt(self, namespace: Namespace, finished: FinishedFile, content_type: Optional[str],
               expected: Optional[str], hashed: Optional[Hashed]) -> PutResult:
        """A finished upload's file becomes the object itself: one pass
        hashes it (its SHA-256 and block checks, which must be the ones its
        bytes were written with, if known) and it is hard-linked into place,
        never copied. The file is on this disk (``uploads/``, ``parts/``)."""
        path = finished.path
        with self.writing(namespace, finished.counted_in, finished.held_as) as reservation, \
                open(path, "r+b") as source:
            if finished.counted and reservation.bounded:
                reservation.take_ahead(os.fstat(source.fileno()).st_size)  # its bucket's quota: counted elsewhere
            written = hash_file(source.fileno(), None if finished.counted else reservation, self.max_size)
            if finished.checks is not None and written[2] != finished.checks:
                raise CorruptObject("an upload's file changed on disk since its parts were written: %s" % path)
            before_publishing(written[0], expected, hashed, self._look(namespace, written[0]))
            # A counted file (a layout's, of its own namespace) linked into
            # place is one file under two names until its upload goes: its
            # bytes move to the object's row, counted once.
            moved = (finished.counted_in.path, os.path.basename(path)) if finished.counted and finished.counted_in \
                else None
            return self._publish(namespace, source.fileno(), written, content_type,
                                 lambda target: os.link(path, target), lambda: os.fsync(source.fileno()),
                                 reservation, moved_from=moved)

    def _publish(self, namespace: Namespace, fd: int, written: Tuple[str, int, List[bytes]],
                 content_type: Optional[str], link: Callable[[str], None], finish: Callable[[], None],
                 reservation: Reservation, synced: bool = True,
                 moved_from: Optional[Tuple[str, str]] = None) -> PutResult:
        """The written file's content type, its block record beside where it
        goes, ``finish`` (its fsync), then the file itself, ``link``ed into
        place in the same transaction as its index row and its
        ``reservation`` settled (a name already taken is never replaced:
        ``link`` raises ``FileExistsError``); then the folder's fsync
        (unless not ``synced``: the journal holds it, see ``small_writes``)."""
        digest, size, checks = written
        if content_type:
            set_content_type(fd, content_type)
        target = self.object_path(namespace, digest)
        if blocks.needs_record(size):
            self.write_record(target, digest, size, checks)
        finish()
        folder = shard_of(target)
        linked = False
        try:
            with self.index.changing() as change:
                try:
                    link_making_folder(link, target, folder)
                except FileExistsError:
                    return PutResult(ObjectInfo(digest, size, content_type), False)
                linked = True
                self.quotas.belongs(change, namespace)
                added = change.put(namespace.path, digest, size)
                if moved_from is not None:  # (``_adopt``): the same bytes' row where they were counted goes
                    gone = change.drop(*moved_from)
                    added = (added[0] + gone[0], added[1] + gone[1])
                reservation.settle(added, change)
        except BaseException:
            # The index's transaction failed (its COMMIT on a full disk, say):
            # the upload is refused, so the file it linked must not stay to be
            # found by a restart's walk of the folders.
            if linked:
                remove_quietly(target)
                remove_quietly(target + RECORD_SUFFIX)
            raise
        if synced:
            fsync_dir(folder)
        return PutResult(ObjectInfo(digest, size, content_type), True)

    def layout(self, namespace: Namespace) -> LaidOut:
        return LaidOut(self, namespace)

    def writing(self, namespace: Namespace, counted_in: Optional[Namespace] = None,
                held_as: Optional[str] = None) -> "_Writing":
        """Quota bytes for a write into ``namespace`` (``Reservation.take``):
        the store's, and its bucket's where it has a quota (unless the bytes
        count in that bucket already: ``counted_in``; or were held before:
        ``held_as``), given back at the end; a full disk as the 507 it is.
        ``with backend.writing(namespace) as reservation``."""
        return _Writing(self._usage.reservation(self.quotas.hold_for(namespace, counted_in, held_as)))

    def hold(self, namespace: Namespace, holder: str, count: int) -> None:
        self.quotas.hold(namespace, holder, count)

    def release(self, holder: str) -> None:
        self.quotas.release(holder)

    def tell_buckets(self, bounds_of: Callable[[Namespace], Optional[Bounds]]) -> None:
        self.quotas.bounds_of = bounds_of

    def buckets_bytes(self) -> Dict[str, Tuple[int, int]]:
        return self.index.buckets_bytes()

    def owners_bytes(self, owned: Dict[str, Tuple[str, ...]]) -> Dict[str, Tuple[int, int]]:
        return self.index.owners_bytes(owned)

    def belonging(self, namespace: Namespace) -> Optional[str]:
        return self.quotas.belonging(namespace)

    def count_file(self, namespace: Namespace, name: str, size: int,
                   reservation: Optional[Reservation] = None) -> None:
        """The index row (and usage) of a file of ``namespace`` that grows in
        place (a layout's, see ``layout``) set to its ``size``; the
        ``reservation`` of the write that grew it settled with it."""
        with self.index.changing() as change:
            self.quotas.belongs(change, namespace)
            delta = change.put(namespace.path, name, size)
            if reservation is None:
                self.counted(delta)
            else:
                reservation.settle(delta, change)

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
            return MemoryObject(ObjectInfo(oid, st.st_size, cached[0], st.st_mtime), cached[1], proof)
        info = ObjectInfo(oid, st.st_size, get_content_type(fd), st.st_mtime)
        raw = read_record(path) if blocks.needs_record(st.st_size) else None
        return DiskObject(info, fd, blocks.decode(raw, oid, st.st_size), proof,
                          on_small=lambda data: self._hot.put(path, st, info.content_type, data),
                          on_checks=lambda found: self.write_record(path, oid, st.st_size, found))

    def write_record(self, path: str, oid: str, size: int, checks: List[bytes]) -> None:
        """Keep the block checks of the object at ``path`` beside it."""
        write_record(self.tmp_dir, path, blocks.encode(oid, size, checks))

    def _look(self, namespace: Namespace, oid: str) -> Look:
        """Whether the object is stored: one system call (no ``stat_result``
        made), taken by the caller's pin or by a small put (a bigger one
        learns it from its ``link``)."""
        return Look(lambda: os.access(self.object_path(namespace, oid), os.F_OK))

    def stat(self, namespace: Namespace, oid: str) -> ObjectInfo:
        path = self.object_path(namespace, oid)
        try:
            size = os.stat(path).st_size
        except (FileNotFoundError, NotADirectoryError):
            raise NotFound("no object %s" % oid) from None
        return ObjectInfo(oid, size, get_content_type(path))

    def delete(self, namespace: Namespace, oid: str) -> None:
        path = self.object_path(namespace, oid)
        try:
            if os.stat(path).st_size <= small_writes.SMALL:
                self._small.gone(namespace, oid)  # (a put of it may be in the journal still)
        except (FileNotFoundError, NotADirectoryError):
            pass
        with self.index.changing() as change:
            try:
                os.unlink(path)
            except (FileNotFoundError, NotADirectoryError):
                gone = True
            else:
                gone = False
            finally:
                self._hot.discard(path)
            self.counted(change.drop(namespace.path, oid))  # a row left by a crash goes too
        if gone:
            raise NotFound("no object %s" % oid)
        remove_quietly(path + RECORD_SUFFIX)
        fsync_dir(os.path.dirname(path))

    def list(self, namespace: Namespace, after: str = "", limit: Optional[int] = None) -> List[ObjectInfo]:
        """A page in id order, read from the index from ``after`` on (each
        object it names is seen on disk first: a listing never names one a
        GET would not find); from the folders until the index is first made."""
        if not self.index.complete():
            return self._listed_from_folders(namespace, after, limit)
        found: List[ObjectInfo] = []
        while limit is None or len(found) < limit:
            want = LIST_PAGE if limit is None else limit - len(found)
            rows = self.index.page(namespace.path, after, want)
            for oid, size in rows:
                if os.path.exists(self.object_path(namespace, oid)):
                    found.append(ObjectInfo(oid, size))
            if len(rows) < want:
                break
            after = rows[-1][0]
        return found

    def _listed_from_folders(self, namespace: Namespace, after: str, limit: Optional[int]) -> List[ObjectInfo]:
        return [ObjectInfo(name, size) for name, size in shards.listed(self._object_files(namespace, after), limit)]

    def clear_content_type(self, namespace: Namespace, oid: str) -> None:
        path = self.object_path(namespace, oid)
        remove_xattr(path, TYPE_XATTR)
        self._hot.discard(path)

    def check(self) -> None:
        """Write and remove a probe file where uploads are written, and see
        that the disk has room (a full disk still lets an empty file be made)."""
        try:
            fd, probe = tempfile.mkstemp(dir=self.tmp_dir, prefix="health-%d-" % os.getpid())
            os.close(fd)
            os.unlink(probe)
            space = os.statvfs(self.tmp_dir)
        except OSError as error:
            raise InsufficientStorage("the data directory is not writable: %s" % error) from None
        if space.f_bavail * space.f_frsize < MIN_FREE_BYTES:
            raise InsufficientStorage("the data directory's disk is full")

    def usage_by_namespace(self) -> Optional[Dict[str, Tuple[int, int]]]:
        return self.index.by_namespace() if self.index.complete() else None

    def usage(self) -> Tuple[int, int]:
        """Objects and bytes stored. Counted as they change; read afresh from
        the index's totals once ``fsck --repair`` (another process) marked
        that it changed them."""
        try:
            marked = os.stat(self.repaired_marker).st_mtime_ns
        except FileNotFoundError:
            marked = 0
        if marked != self._marked:
            self._marked = marked
            self.recount()
        return self._usage.objects, self._usage.bytes

    def recount(self) -> None:
        """The shared counts set to the index's totals, with no change half
        made (a publish adds to both in one transaction)."""
        with self.index.changing():
            self._usage.recount()

    def counted(self, delta: Tuple[int, int]) -> None:
        """What a change to the index added to its totals, added to the
        shared counts too (inside the same transaction)."""
        self._usage.settle(*delta)

    def keep_index(self) -> None:
        """The index's pass over the disk, if it needs one (``indexing.keep``)."""
        keep(self, self._live_uploads)

    def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        if self._keeper is not None:
            self._keeper.close()
        self._small.close()
        if self._alone:
            self.index.end_run()  # stopped cleanly: the next start trusts the index
        self.index.close()
        self._usage.close()

    def _object_files(self, namespace: Namespace, after: str = "") -> Iterator[Tuple[str, str]]:
        return shards.object_files(self.namespace_dir(namespace), after)

    def all_objects(self) -> Iterator[Tuple[Namespace, str]]:
        """Every stored object, namespace by namespace (for fsck)."""
        for namespace in self.namespaces():
            for _, name in self._object_files(namespace):
                yield namespace, name

    def shard_names(self, namespace: Namespace, shard: str) -> List[str]:
        """The object ids in one shard folder (none if it is not there)."""
        return shards.names_in(self.namespace_dir(namespace), shard)

    def _any_shard(self) -> bool:
        """Whether any namespace has a shard folder (objects may be stored)."""
        return any(shards.has_shards(self.namespace_dir(namespace)) for namespace in self.namespaces())


class _Writing:
    """``DiskBackend.writing``: its reservation, given back at the end, and a
    full disk (or quota) raised as the 507 it is; other errors as they are.
    Decision: a class, not ``contextlib.contextmanager`` (see
    ``base.sqlite.transaction``): every write makes one."""

    __slots__ = ("_reservation",)

    def __init__(self, reservation: Reservation) -> None:
        self._reservation = reservation

    def __enter__(self) -> Reservation:
        return self._reservation

    def __exit__(self, kind, error, traceback) -> bool:
        try:
            self._reservation.__exit__(kind, error, traceback)
        except OSError as failed:
            _full_disk(failed)
            raise
        if isinstance(error, OSError):
            _full_disk(error)
        return False


def _full_disk(error: OSError) -> None:
    """A full disk (or quota) raised as the 507 it is; other errors left as they are."""
    if error.errno in _NO_SPACE:
        raise InsufficientStorage("no space left on the data directory's disk") from error
