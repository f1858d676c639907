"""The disk's object index against the disk itself: the pass that sets it
right (in the background after a run that did not stop cleanly, and in
``fsck``), and the marks of a run made by whoever starts and stops it.

The pass goes shard folder by shard folder: it lists the folder and reads
the index's rows for it, outside any lock, then settles each difference
under the index's lock, looking at the file again there. A publish or a
delete changes the file and its row in one such transaction, so what the
pass finds under the lock is the truth, uploads going on or not, and the
lock is held for a few rows at a time.
"""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass, field
from typing import Callable, Collection, Iterator, List, Optional, Protocol, Tuple

from ..names import Namespace
from ..object_index import ObjectIndex
from .parts_check import PartsStore, check_parts

log = logging.getLogger(__name__)

INDEX_FILE = "objects.db"
SHARDS = ["%02x" % number for number in range(256)]
BATCH = 200  # rows settled per hold of the index's lock


def index_path(data_dir: str) -> str:
    return os.path.join(data_dir, INDEX_FILE)


class Store(Protocol):
    """What the pass needs of the disk backend."""

    index: ObjectIndex

    def namespaces(self) -> List[Namespace]: ...

    def shard_names(self, namespace: Namespace, shard: str) -> List[str]: ...

    def object_path(self, namespace: Namespace, oid: str) -> str: ...

    def counted(self, delta: Tuple[int, int]) -> None: ...


class KeptStore(Store, PartsStore, Protocol):
    """What the background pass needs: the index's pass and the parts' check."""


@dataclass
class IndexReport:
    unindexed: List[str] = field(default_factory=list)  # "<namespace>/<oid>" stored, not in the index
    vanished: List[str] = field(default_factory=list)  # in the index, no longer stored


def reconcile(backend: Store, repair: bool) -> IndexReport:
    """Every difference between the index and the disk (fixed with ``repair``)."""
    report = IndexReport()
    index = backend.index
    paths = {namespace.path for namespace in backend.namespaces()} | set(index.namespaces())
    for path in sorted(paths):
        namespace = Namespace(path)
        for shard in SHARDS:
            on_disk = set(backend.shard_names(namespace, shard))
            indexed = index.shard(path, shard)
            unindexed = sorted(on_disk.difference(indexed))
            vanished = sorted(set(indexed).difference(on_disk))
            for batch in _batches(unindexed):
                _settle(backend, namespace, batch, [], repair, report)
            for batch in _batches(vanished):
                _settle(backend, namespace, [], batch, repair, report)
    return report


def keep(backend: KeptStore, live_uploads: Optional[Callable[[], Optional[Collection[str]]]]) -> None:
    """If the index may miss objects (never made, or a run that did not
    stop cleanly), a pass over the disk sets it right, fixing as it goes
    under the index's lock a few rows at a time (uploads go on). After a
    stop midway, uploads' parts are set right first (``parts_check``;
    ``live_uploads``: the ids of the uploads the records hold)."""
    index = backend.index
    if not index.wanted():
        return
    mark = index.dirty_mark()
    log.info("checking the object index against the disk (%s)", mark or "it was never made")
    if mark is not None and live_uploads is not None:
        ended, uncounted = check_parts(backend, live_uploads, repair=True)
        if ended or uncounted:
            log.warning("a stop midway left the parts of %d upload(s) that had ended, now removed, and %d "
                        "part file(s) not counted as they were, now counted", len(ended), len(uncounted))
    report = reconcile(backend, repair=True)
    # Told before the pass is marked ended: whoever waits for its end
    # (a test, an operator watching the log) finds what it set right.
    if mark is not None and (report.unindexed or report.vanished):
        log.warning("the object index lacked %d stored object(s) and named %d gone; set right",
                    len(report.unindexed), len(report.vanished))
    index.mark_passed(mark)
    log.info("the object index is checked: %d objects, %d bytes", *index.totals())


def _batches(names: List[str]) -> Iterator[List[str]]:
    for start in range(0, len(names), BATCH):
        yield names[start:start + BATCH]


def _settle(backend: Store, namespace: Namespace, unindexed: List[str], vanished: List[str],
            repair: bool, report: IndexReport) -> None:
    """Look again under the lock, and fix what is still so."""
    with backend.index.changing() as change:
        for oid in unindexed:
            try:
                size = os.stat(backend.object_path(namespace, oid)).st_size
            except FileNotFoundError:
                continue  # deleted meanwhile, with its row
            if change.has(namespace.path, oid):
                continue  # published meanwhile, with its row
            report.unindexed.append("%s/%s" % (namespace.label, oid))
            if repair:
                backend.counted(change.put(namespace.path, oid, size))
        for oid in vanished:
            if os.path.exists(backend.object_path(namespace, oid)):
                continue
            if not change.has(namespace.path, oid):
                continue
            report.vanished.append("%s/%s" % (namespace.label, oid))
            if repair:
                backend.counted(change.drop(namespace.path, oid))


def _with_index(data_dir: str, job) -> None:
    """``job(index)`` on the index of the disk store at ``data_dir``, opened
    and closed around it (by the parent of the workers, which keeps no
    database open across a fork)."""
    index = ObjectIndex(index_path(data_dir))
    try:
        job(index)
    finally:
        index.close()


def begin_run(data_dir: str) -> None:
    _with_index(data_dir, ObjectIndex.begin_run)


def end_run(data_dir: str) -> None:
    _with_index(data_dir, ObjectIndex.end_run)


def release_held(data_dir: str, pid: int) -> None:
    """The bytes the writes of process ``pid`` (a worker that died) held against their buckets' quotas given back."""
    _with_index(data_dir, lambda index: index.release_held("%d:" % pid))


def mark_dirty(data_dir: str, why: Optional[str]) -> None:
    _with_index(data_dir, lambda index: index.mark_dirty(why or "something changed"))
