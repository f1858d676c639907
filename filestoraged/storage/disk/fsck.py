"""``filestoraged fsck``: verify every object on disk against its name, and
every stored value that would reach a response header.

- Corrupt objects are reported; with ``--repair`` they are moved to
  ``<data-dir>/.corrupt/<namespace>/<sha256>`` so they are no longer served
  (a client then gets 404 and can upload the file again).
- Objects without a valid block record (a crash between record and object,
  a damaged record, or one of an older form) are reported; ``--repair``
  writes the record from the bytes that just matched the object's id.
  Records whose object is gone are reported and removed by ``--repair``.
- Stored content types and share-link file names that today's entry checks
  would refuse (``metadata``) are reported; ``--repair`` removes them (the
  object is then served as ``application/octet-stream``, the link without a
  file name). The daemon never sends them either way.
- Unfinished uploads' parts (``parts_check``): folders of uploads that
  ended, removed by ``--repair``; laid-out files not counted as they are,
  counted by ``--repair``.
- The journal of small writes (``small_writes``): bytes in it that do not
  hold (a torn tail a power cut left) and objects it holds that are not
  whole at rest are reported; the daemon's next start drops the first and
  writes the second, so neither makes the store unclean.
- The object index (``storage.object_index``) is checked against the disk:
  objects it lacks and rows whose object is gone are reported, and
  ``--repair`` sets them right, and its totals against its rows.

Objects are hashed by a few threads for the whole run; ``--repair`` runs
beside a serving daemon (uploads go on): a move out of the store and every
index change take the index's lock, as an upload's publish does. A block
record it removes as an orphan may belong to an upload about to publish;
that object's first read then hashes it whole and writes the record again.
"""

from __future__ import annotations

import hashlib
import logging
import os
import queue
import threading
from dataclasses import dataclass, field
from typing import Callable, Collection, Dict, Iterator, List, Optional, Tuple

from .. import blocks
from ..blocks import BLOCK
from ..interface import verify_digest
from ..names import Namespace
from .backend import DiskBackend
from .files import RECORD_SUFFIX, get_content_type, read_record, remove_quietly
from .indexing import reconcile
from . import small_writes
from .parts_check import check_parts
from ...errors import CorruptObject
from ...base.header_values import is_media_type

log = logging.getLogger(__name__)

# Objects checked at once, by threads that last the whole run: hashing lets
# go of the GIL, so big objects go as fast as the cores; small ones are
# bound by the interpreter (40k tiny objects here: 18,700/s with one
# thread, 16,400 with two, 15,000 with four).
THREADS = max(1, min(4, os.cpu_count() or 1))


@dataclass
class Report:
    checked: int = 0
    bytes: int = 0
    corrupt: List[str] = field(default_factory=list)
    why: Dict[str, str] = field(default_factory=dict)  # what is wrong with each corrupt one
    repaired: List[str] = field(default_factory=list)
    unrecorded: List[str] = field(default_factory=list)  # no valid block record
    orphan_records: List[str] = field(default_factory=list)  # a block record with no object
    refused_values: List[str] = field(default_factory=list)  # "<where>: <field> <value>"
    unindexed: List[str] = field(default_factory=list)  # stored, missing from the object index
    vanished: List[str] = field(default_factory=list)  # in the object index, no longer stored
    totals: Optional[str] = None  # what is wrong with the index's totals, if anything
    ended_uploads: List[str] = field(default_factory=list)  # parts/<id> of uploads no record names
    uncounted_parts: List[str] = field(default_factory=list)  # laid-out files the index does not count as they are
    journal_dropped: List[str] = field(default_factory=list)  # journal bytes that do not hold (dropped at start)
    journal_unrested: List[str] = field(default_factory=list)  # journaled, not whole at rest (written at start)

    @property
    def clean(self) -> bool:
        return not (self.corrupt or self.refused_values or self.unindexed or self.vanished or self.totals
                    or self.ended_uploads or self.uncounted_parts)


Progress = Callable[[int, int, bool], None]  # (objects, bytes, done)


def fsck(backend: DiskBackend, repair: bool = False, progress: Optional[Progress] = None,
         live_uploads: Optional[Callable[[], Optional[Collection[str]]]] = None) -> Report:
    """Check every object (``THREADS`` at a time), unfinished uploads' parts
    (``parts_check``: ``live_uploads()``, the ids the records hold; None:
    not checked), then the object index against the disk and its totals
    against its rows; with ``repair``, fix what can be (safe beside a
    serving daemon: every move and index change takes the index's lock, as
    uploads and deletes do)."""
    report = Report()
    if live_uploads is not None:
        report.ended_uploads, report.uncounted_parts = check_parts(backend, live_uploads, repair)
    for namespace, oid, outcome in _checked(backend, backend.all_objects()):
        _judge(backend, namespace, oid, outcome, repair, report)
        if progress is not None:
            progress(report.checked, report.bytes, False)
    if progress is not None:
        progress(report.checked, report.bytes, True)
    for found in (report.corrupt, report.repaired, report.unrecorded, report.refused_values):
        found.sort()
    for namespace, record_path in orphan_records(backend):
        report.orphan_records.append("%s/%s" % (namespace.label, os.path.basename(record_path)))
        if repair:
            remove_quietly(record_path)
    found = reconcile(backend, repair)
    report.unindexed, report.vanished = found.unindexed, found.vanished
    report.journal_dropped, report.journal_unrested = small_writes.check(backend.root)
    totals, counted = backend.index.totals(), backend.index.counted()
    if tuple(totals) != tuple(counted):
        report.totals = ("the index's totals say %d objects and %d bytes, its rows %d and %d"
                         % (totals[0], totals[1], counted[0], counted[1]))
    elif backend.index.by_namespace() != backend.index.counted_by_namespace():
        report.totals = "the index's totals of each namespace are not those of its rows"
    if report.totals and repair:
        backend.index.set_totals(counted)
    if repair and (report.repaired or found.unindexed or found.vanished or report.totals or report.ended_uploads
                   or report.uncounted_parts):
        mark_repaired(backend)  # a daemon serving this directory takes the totals afresh
    return report


def _judge(backend: DiskBackend, namespace: Namespace, oid: str, outcome, repair: bool, report: Report) -> None:
    """One object's findings into ``report`` (and their repair)."""
    report.checked += 1
    where = "%s/%s" % (namespace.label, oid)
    if isinstance(outcome, FileNotFoundError):
        report.checked -= 1  # deleted since it was listed
        return
    if isinstance(outcome, CorruptObject):
        report.corrupt.append(where)
        # Said once, by the report: the error names the object again.
        report.why[where] = str(outcome).replace("object %s" % oid, "the object")
        if repair:
            move_corrupt(backend, namespace, oid)
            report.repaired.append(where)
        return
    report.bytes += outcome.size
    if not outcome.recorded:
        report.unrecorded.append(where)
        if repair:
            write_block_record(backend, namespace, oid, outcome.checks)
    content_type = outcome.content_type
    if content_type is not None and not is_media_type(content_type):
        report.refused_values.append("%s: content type %s" % (where, ascii(content_type[:120])))
        if repair:
            backend.clear_content_type(namespace, oid)


def _checked(backend: DiskBackend, objects: Iterator[Tuple[Namespace, str]]):
    """``(namespace, oid, outcome)`` for every object, hashed by ``THREADS``
    threads (the same ones for the whole run); ``outcome``: what
    ``verify_file`` found, or the ``CorruptObject`` or ``FileNotFoundError`` met. In
    the order they end, a bounded number of objects in flight."""
    todo: "queue.Queue" = queue.Queue(THREADS * 4)
    done: "queue.Queue" = queue.Queue(THREADS * 4)
    end = object()

    def work() -> None:
        while True:
            item = todo.get()
            if item is end:
                done.put(end)
                return
            namespace, oid = item
            try:
                outcome = verify_file(backend, namespace, oid)
            except BaseException as error:  # judged (or raised) in the caller's thread
                outcome = error
            done.put((namespace, oid, outcome))

    def feed() -> None:
        try:
            for item in objects:
                todo.put(item)
        finally:
            for _ in range(THREADS):
                todo.put(end)

    threads = [threading.Thread(target=work, name="fsck-%d" % n, daemon=True) for n in range(THREADS)]
    threads.append(threading.Thread(target=feed, name="fsck-feed", daemon=True))
    for thread in threads:
        thread.start()
    ended = 0
    while ended < THREADS:
        item = done.get()
        if item is end:
            ended += 1
            continue
        if not isinstance(item[2], (CorruptObject, FileNotFoundError, Verified)):
            raise item[2]
        yield item
    for thread in threads:
        thread.join()


# What only fsck does with a disk store (kept out of the backend that serves).

@dataclass
class Verified:
    """What one object's pass found: it matched its id."""
    size: int
    checks: List[bytes]  # its block checks, from the bytes just hashed
    recorded: bool  # whether its block record is whole and says the same (or it needs none)
    content_type: Optional[str]


def verify_file(backend: DiskBackend, namespace: Namespace, oid: str) -> Verified:
    """Hash the file whole against its id (never from a cache, whatever its
    block record says), in the calling thread, and read what else fsck
    judges of it. ``CorruptObject`` if it differs."""
    path = backend.object_path(namespace, oid)
    whole = hashlib.sha256()
    checks: List[bytes] = []
    fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
    try:
        size = os.fstat(fd).st_size
        while True:
            data = os.read(fd, BLOCK)
            if not data:
                break
            whole.update(data)
            checks.append(blocks.block_check(data))
        content_type = get_content_type(fd)
    finally:
        os.close(fd)
    verify_digest(oid, whole, "object %s" % oid)
    recorded = not blocks.needs_record(size) or blocks.decode(read_record(path), oid, size) == checks
    return Verified(size, checks, recorded, content_type)


def move_corrupt(backend: DiskBackend, namespace: Namespace, oid: str) -> None:
    """Out of the store into ``.corrupt/``, with its index row, in one
    transaction (a GET then answers 404, and the client can upload it again)."""
    target_dir = os.path.join(backend.root, ".corrupt", namespace.label)
    os.makedirs(target_dir, exist_ok=True)
    with backend.index.changing() as change:
        os.replace(backend.object_path(namespace, oid), os.path.join(target_dir, oid))
        backend.counted(change.drop(namespace.path, oid))


def write_block_record(backend: DiskBackend, namespace: Namespace, oid: str, checks: List[bytes]) -> None:
    path = backend.object_path(namespace, oid)
    backend.write_record(path, oid, os.stat(path).st_size, checks)


def orphan_records(backend: DiskBackend):
    """Block records whose object is not there (a delete that stopped between
    the two, or an upload that stopped before its object was linked)."""
    for namespace in backend.namespaces():
        base = backend.namespace_dir(namespace)
        for shard in sorted(os.listdir(base)) if os.path.isdir(base) else ():
            shard_dir = os.path.join(base, shard)
            if len(shard) != 2 or not os.path.isdir(shard_dir):
                continue
            for name in sorted(os.listdir(shard_dir)):
                owner = os.path.join(shard_dir, name[:-len(RECORD_SUFFIX)])
                if name.endswith(RECORD_SUFFIX) and not os.path.exists(owner):
                    yield namespace, os.path.join(shard_dir, name)


def mark_repaired(backend: DiskBackend) -> None:
    """Tell a daemon serving this directory that objects were moved away."""
    with open(backend.repaired_marker, "a"):
        pass
    os.utime(backend.repaired_marker)
