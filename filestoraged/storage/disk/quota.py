"""What the disk holds: objects and bytes stored, plus bytes being written,
against an optional quota (``--max-bytes``), and what a write holds
against its bucket's quota and its owner's (``BucketHold``).

The counts live in ``<data-dir>/run/usage`` (``base.interprocess``), so every
worker process checks the quota against the same numbers; the first worker
takes them from the object index's totals (two numbers, whatever the store
holds), which change in the same transactions as they do. Bytes being
written are also kept per worker slot: a worker that died mid-upload leaves
its slot behind, and the worker that takes the slot next gives those bytes
back before it starts.
"""

from __future__ import annotations

import itertools
import os
from typing import Callable, Optional, Tuple

from ...errors import BucketQuotaReached, QuotaReached
from ..interface import BUCKET_NAMESPACES, HOLD_STEP, Bounds
from ..names import Namespace
from ...base.interprocess import WORKER_SLOTS, SharedCounters, run_dir

USAGE_FILE = "usage"  # in <data-dir>/run/
_COUNTED, _OBJECTS, _BYTES, _IN_FLIGHT, _FIRST_SLOT = range(5)


def start_afresh(data_dir: str) -> None:
    """Before a daemon's first worker: the counts of an earlier run are
    dropped, and the first worker takes the index's totals."""
    try:
        os.unlink(os.path.join(run_dir(data_dir), USAGE_FILE))
    except FileNotFoundError:
        pass


class Usage:
    """Counts shared by every worker, changed under one lock; uploads reserve
    bytes as they arrive."""

    def __init__(self, max_bytes: Optional[int], path: Optional[str], slot: int,
                 counts: Callable[[], Tuple[int, int]], fresh: bool) -> None:
        """``counts``: the counts to start from (the index's totals);
        ``fresh``: take them whatever the file says (a daemon that is one
        process); otherwise only the first worker takes them."""
        self.max_bytes = max_bytes
        self._counters = SharedCounters(path, _FIRST_SLOT + WORKER_SLOTS)
        self._slot = _FIRST_SLOT + slot
        self._counts = counts
        counters = self._counters
        with counters.lock:
            if fresh:
                for index in range(_FIRST_SLOT + WORKER_SLOTS):
                    counters[index] = 0
            counters[_IN_FLIGHT] -= counters[self._slot]  # what a dead worker left in this slot
            counters[self._slot] = 0
            if not counters[_COUNTED]:
                self._recount_locked()

    @property
    def objects(self) -> int:
        return self._counters[_OBJECTS]

    @property
    def bytes(self) -> int:
        return self._counters[_BYTES]

    def reservation(self, hold: Optional["BucketHold"] = None) -> "Reservation":
        return Reservation(self, hold)

    def reserve(self, count: int) -> None:
        if self.max_bytes is None:
            return  # Decision: without a quota nobody reads the bytes in flight; no lock taken for them
        counters = self._counters
        with counters.lock:
            if self.max_bytes is not None and counters[_BYTES] + counters[_IN_FLIGHT] + count > self.max_bytes:
                raise QuotaReached("the %d-byte storage quota is used up" % self.max_bytes)
            counters[_IN_FLIGHT] += count
            counters[self._slot] += count

    def recount(self) -> None:
        with self._counters.lock:
            self._recount_locked()

    def _recount_locked(self) -> None:
        objects, total = self._counts()
        counters = self._counters
        counters[_OBJECTS], counters[_BYTES], counters[_COUNTED] = objects, total, 1

    def settle(self, objects: int, count: int, released: int = 0) -> None:
        """What a change of the index added (``objects``, ``count`` bytes)
        counted and the ``released`` bytes a write reserved given back, at
        one moment (either may be nothing): a stored object is never counted
        twice, stored and in flight, which would refuse another upload that
        fits."""
        if self.max_bytes is None:
            released = 0  # never reserved (see ``reserve``)
            if not objects and not count:
                return
        counters = self._counters
        with counters.lock:
            counters[_OBJECTS] += objects
            counters[_BYTES] += count
            counters[_IN_FLIGHT] -= released
            counters[self._slot] -= released

    def close(self) -> None:
        self._counters.close()


class BucketHold:
    """Bytes one write holds against its bucket's quota and its owner's
    (``Bounds``): a row of the object index's ``held``
    (``storage.object_index``), taken in a transaction that reads the
    stored and held bytes they bound, so that every worker sees every
    other's at once; given back in the transaction that stores the write's
    bytes (``Reservation.settle``), or when the write ends."""

    _numbers = itertools.count(1)

    def __init__(self, index, bounds: Bounds, holder: Optional[str] = None) -> None:
        """``holder``: a hold taken before, by a resumable upload
        (``tus:<id>``), that its write takes over: given back with the
        bytes it stores, kept if the write fails (the upload stays)."""
        self._index, self.bounds = index, bounds
        self._adopted = holder is not None
        self.holder = holder or "%d:%d" % (os.getpid(), next(BucketHold._numbers))
        self.held = (index.held_by(holder) or 0) if holder is not None else 0

    def take(self, count: int) -> None:
        with self._index.changing() as change:
            refused = change.hold(self.holder, self.bounds, count)
        if refused is not None:
            raise BucketQuotaReached(self._refusal(refused, count))
        self.held += count

    def _refusal(self, refused: str, count: int) -> str:
        bounds = self.bounds
        if refused == "bucket":
            stored, held = self._index.bucket_bytes(bounds.bucket)
            return "the bucket %s's quota of %d bytes has no room for %d more (%d stored, %d being written)" % (
                bounds.bucket, bounds.quota, count, stored, held)
        stored, held = self._index.owner_bytes(bounds.owned or (bounds.bucket,))
        return ("the quota of %s, the owner of the bucket %s, of %d bytes over %d bucket(s) has no room for %d more "
                "(%d stored, %d being written)" % (bounds.owner, bounds.bucket, bounds.owner_quota,
                                                    len(bounds.owned) or 1, count, stored, held))

    def give_back(self, change=None) -> None:
        """Every byte held given back: in ``change``'s transaction (the one
        that stored them), else in one of its own (unless adopted: a write
        that stored nothing leaves its upload's hold to the upload)."""
        if not self.held or (change is None and self._adopted):
            return
        if change is not None:
            change.release(self.holder)
        else:
            with self._index.changing() as own:
                own.release(self.holder)
        self.held = 0


class BucketQuotas:
    """Which hold a write takes against its bucket's quota and its owner's:
    what a namespace's bytes count against comes from ``bounds_of`` (told by
    the catalog, which knows it: ``Backend.tell_buckets``), the holds go in
    ``index``."""

    def __init__(self, index) -> None:
        self.index = index
        self.bounds_of: Callable[[Namespace], Optional[Bounds]] = lambda namespace: None

    def hold_for(self, namespace: Namespace, counted_in: Optional[Namespace] = None,
                 held_as: Optional[str] = None) -> Optional[BucketHold]:
        """The hold a write into ``namespace`` takes (None: no quota bounds
        its bucket, or the bytes count in it already: ``counted_in``, the
        namespace of an upload's parts laid out; ``held_as``: a resumable
        upload's hold, taken over)."""
        found = self._bounds(namespace)
        if found is None or not found.bounded:
            return None
        if held_as is not None:
            return BucketHold(self.index, found, held_as)
        if counted_in is not None:
            other = self._bounds(counted_in)
            if other is not None and other.bucket == found.bucket:
                return None
        return BucketHold(self.index, found)

    def hold(self, namespace: Namespace, holder: str, count: int) -> None:
        """``count`` bytes held by ``holder`` (a resumable upload's
        ``tus:<id>``) against the quotas that bound ``namespace``'s bucket,
        where any does, until ``release`` or the write of its file
        (``FinishedFile.held_as``); ``BucketQuotaReached`` without room."""
        found = self._bounds(namespace)
        if found is not None and found.bounded:
            BucketHold(self.index, found, holder).take(count)

    def release(self, holder: str) -> None:
        """What ``holder`` held (``hold``) given back. Decision: looked for
        first, so that the end of every resumable upload into a bucket
        without a quota costs a read, not a write transaction."""
        if self.index.held_by(holder) is not None:
            with self.index.changing() as change:
                change.release(holder)

    def belongs(self, change, namespace: Namespace) -> None:
        """An upload's parts' namespace told, in ``change``, as its bucket's
        (``ObjectIndex.bucket_bytes``)."""
        if namespace.path.startswith("parts/"):
            found = self.bounds_of(namespace)
            if found is not None:
                change.belong(namespace.path, found.bucket)

    def belonging(self, namespace: Namespace) -> Optional[str]:
        """The bucket ``namespace``'s bytes were told to count in (``belongs``), if any."""
        return self.index.belonging(namespace.path)

    def _bounds(self, namespace: Namespace) -> Optional[Bounds]:
        if not namespace.path.startswith(BUCKET_NAMESPACES):
            return None  # the default namespace, share links: no bucket
        return self.bounds_of(namespace)


class Reservation:
    """Quota bytes held by one upload while it is written (the store's, and
    its bucket's where it has a quota: ``hold``); given back at the end."""

    def __init__(self, usage: Usage, hold: Optional[BucketHold] = None) -> None:
        self._usage = usage
        self._hold = hold
        self._held = 0
        self._ahead = 0  # bytes taken by ``take_ahead`` that ``take`` has not used yet
        self._used = 0  # bytes of the write taken, of what ``hold`` holds

    @property
    def bounded(self) -> bool:
        """Whether the write is held to a quota of its bucket's (its own, its owner's)."""
        return self._hold is not None

    def take(self, count: int) -> None:
        used = min(count, self._ahead)
        self._ahead -= used
        if count > used:
            self._usage.reserve(count - used)
            self._held += count - used
        hold = self._hold
        if hold is not None:
            self._used += count
            if self._used > hold.held:
                self._hold_more(self._used - hold.held, HOLD_STEP)

    def take_ahead(self, count: int) -> None:
        """Take ``count`` bytes at once, before any is written (a write of a
        known size that must not leave bytes behind when the quota refuses):
        the ``take`` calls of the write then use them up first."""
        self._usage.reserve(count)
        self._held += count
        self._ahead += count
        if self._hold is not None:
            try:
                self._hold_more(self._used + self._ahead - self._hold.held, 0)
            except QuotaReached:
                self._usage.settle(0, 0, count)
                self._held -= count
                self._ahead -= count
                raise

    def _hold_more(self, needed: int, step: int) -> None:
        """``needed`` more bytes held, a ``step`` at once where there is room
        (near the quota, a step that finds none holds only what is needed)."""
        assert self._hold is not None
        if needed <= 0:
            return
        if step > needed:
            try:
                self._hold.take(step)
                return
            except QuotaReached:
                pass
        self._hold.take(needed)

    def settle(self, delta: Tuple[int, int], change=None) -> None:
        """The write is stored: ``delta`` (what its index row added) counted
        and every byte this reservation holds given back together (see
        ``Usage.settle``); what it held against its bucket's quota given back
        in ``change``, the index's transaction that stored the bytes."""
        self._usage.settle(delta[0], delta[1], self._held)
        self._held = self._ahead = 0
        if self._hold is not None:
            self._hold.give_back(change)

    def __enter__(self) -> "Reservation":
        return self

    def __exit__(self, *exc_info) -> None:
        if self._held:
            self._usage.settle(0, 0, self._held)
        if self._hold is not None:
            self._hold.give_back()
