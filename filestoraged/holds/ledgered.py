"""Quotas for a backend that keeps none itself (S3, memcached): the
backend behind a layer that counts the bytes of every bucket with a quota,
and of every owner of buckets with a quota, in the records' ``Ledger``s,
which every daemon sharing the records sees.

A write into such a bucket holds its length against the quota before its
first byte is read where the length is known (a refusal is then a 507
with the body unread), else a step at a time as its bytes arrive, and
renews its hold while they come; its bytes are counted stored just before
the backend publishes them (``hashed``), and taken off where the backend
found them there already or failed after. A delete takes its object's
size off. Everything else goes to the backend as it is.
"""

from __future__ import annotations

import itertools
import secrets
import time
from dataclasses import dataclass
from typing import Callable, Dict, List, Optional, Tuple

from ..errors import BucketQuotaReached
from ..records.interface import Records
from ..storage.interface import (BUCKET_NAMESPACES, HOLD_STEP, Backend, Bounds, Hashed, Look, ObjectInfo, PutResult,
                                 Readable, StoredObject, exact_length)
from ..storage.names import Namespace
from .ledger import OWNER_LEDGERS, RENEW_AFTER, Ledger

_PROCESS = secrets.token_hex(6)  # this process's part of a write's holder name
_numbers = itertools.count(1)


@dataclass(frozen=True)
class _Count:
    """One ledger a bucket's bytes count in: its own, or its owner's."""

    ledger: Ledger
    name: str
    quota: int
    said: str  # what the quota is, for a refusal


class LedgeredBackend(Backend):
    keeps_quotas = True

    def __init__(self, inner: Backend, records: Records) -> None:
        self.inner = inner
        self.buckets = Ledger(records)
        self.owners = Ledger(records, OWNER_LEDGERS)
        self._bounds_of: Callable[[Namespace], Optional[Bounds]] = lambda namespace: None

    @property
    def name(self) -> str:  # type: ignore[override]
        return self.inner.name

    def __getattr__(self, name: str):
        return getattr(self.inner, name)  # what a backend has besides (an S3 store's client)

    def tell_buckets(self, bounds_of: Callable[[Namespace], Optional[Bounds]]) -> None:
        self._bounds_of = bounds_of

    def _counts(self, namespace: Namespace) -> List[_Count]:
        """The ledgers ``namespace``'s bytes count in: its owner's, where
        the owner has a quota, then its bucket's, where it has one."""
        if not namespace.path.startswith(BUCKET_NAMESPACES):
            return []
        bounds = self._bounds_of(namespace)
        if bounds is None:
            return []
        counts = []
        if bounds.owner is not None and bounds.owner_quota is not None:
            counts.append(_Count(self.owners, bounds.owner, bounds.owner_quota,
                                 "the quota of %s, the owner of the bucket %s," % (bounds.owner, bounds.bucket)))
        if bounds.quota is not None:
            counts.append(_Count(self.buckets, bounds.bucket, bounds.quota, "the bucket %s's quota" % bounds.bucket))
        return counts

    def put(self, namespace: Namespace, stream: Readable, content_type: Optional[str] = None,
            expected: Optional[str] = None, hashed: Optional[Hashed] = None) -> PutResult:
        counts = self._counts(namespace)
        if not counts:
            return self.inner.put(namespace, stream, content_type, expected, hashed)
        write = _Write(counts, getattr(stream, "held_as", None))
        length = exact_length(stream)
        if length is not None:
            write.ahead(length)
        try:
            put = self.inner.put(namespace, _Counted(stream, write), content_type, expected, write.publishing(hashed))
        except BaseException:
            write.failed()
            raise
        if not put.created:  # the same bytes were there: counted once, by the write that stored them
            write.failed()
        return put

    def delete(self, namespace: Namespace, oid: str) -> None:
        counts = self._counts(namespace)
        if not counts:
            return self.inner.delete(namespace, oid)
        size = self.inner.stat(namespace, oid).size
        self.inner.delete(namespace, oid)
        for count in counts:
            count.ledger.removed(count.name, size)

    def hold(self, namespace: Namespace, holder: str, count: int) -> None:
        _take_all(self._counts(namespace), holder, count, lasting=True)

    def release(self, holder: str) -> None:
        for ledger in (self.owners, self.buckets):
            for name in ledger.counts():
                ledger.release(name, holder)

    def quota_changed(self, name: str, quota: Optional[int], namespaces: List[Namespace], owner: bool = False) -> None:
        ledger = self.owners if owner else self.buckets
        if quota is None:
            ledger.forget(name)
            return
        ledger.recount(name, lambda: sum(self._sizes(namespace) for namespace in namespaces))

    def _sizes(self, namespace: Namespace) -> int:
        total, after = 0, ""
        while True:
            page = self.inner.list(namespace, after, 1000)
            total += sum(info.size for info in page)
            if len(page) < 1000:
                return total
            after = page[-1].oid

    def buckets_bytes(self) -> Dict[str, Tuple[int, int]]:
        return self.buckets.counts()

    def owners_bytes(self, owned: Dict[str, Tuple[str, ...]]) -> Dict[str, Tuple[int, int]]:
        return self.owners.counts()  # (only owners with a quota are counted)

    def open(self, namespace: Namespace, oid: str) -> StoredObject:
        return self.inner.open(namespace, oid)

    def stat(self, namespace: Namespace, oid: str) -> ObjectInfo:
        return self.inner.stat(namespace, oid)

    def list(self, namespace: Namespace, after: str = "", limit: Optional[int] = None) -> List[ObjectInfo]:
        return self.inner.list(namespace, after, limit)

    def layout(self, namespace: Namespace):
        return self.inner.layout(namespace)

    def check(self) -> None:
        self.inner.check()

    def usage(self) -> Optional[tuple]:
        return self.inner.usage()

    def usage_by_namespace(self):
        return self.inner.usage_by_namespace()

    def close(self) -> None:
        self.inner.close()


def _take_all(counts: List[_Count], holder: str, count: int, lasting: bool = False) -> None:
    """``count`` bytes held in every ledger of ``counts``, or in none: a
    refusal gives back what the ledgers before it took."""
    taken: List[_Count] = []
    try:
        for one in counts:
            one.ledger.take(one.name, one.quota, holder, count, lasting, one.said)
            taken.append(one)
    except BaseException:
        for one in taken:
            one.ledger.take(one.name, one.quota, holder, -count, lasting)
        raise


class _Write:
    """One write's holds in the ledgers its bucket counts in, from before
    its first byte to its publishing (or its end)."""

    def __init__(self, counts: List[_Count], held_as: Optional[str]) -> None:
        """``held_as``: a resumable upload's hold, which the write takes over
        (its bytes are held already; kept if the write fails)."""
        self._counts = counts
        self._adopted = held_as is not None
        self.holder = held_as or "%s:%d" % (_PROCESS, next(_numbers))
        self._held = 0
        self._arrived = 0
        self._renewed = time.monotonic()
        self._settled: List[_Count] = []

    def ahead(self, length: int) -> None:
        """The whole known length held before a byte is read."""
        if not self._adopted:
            _take_all(self._counts, self.holder, length)
            self._held = length

    def arrived(self, count: int) -> None:
        self._arrived += count
        if self._adopted:
            return
        if self._arrived > self._held:
            needed = self._arrived - self._held
            step = max(needed, HOLD_STEP)
            try:
                _take_all(self._counts, self.holder, step)
                self._held += step
            except BucketQuotaReached:
                if step == needed:
                    raise
                _take_all(self._counts, self.holder, needed)
                self._held += needed
            self._renewed = time.monotonic()
        elif time.monotonic() - self._renewed > RENEW_AFTER:
            for one in self._counts:
                one.ledger.renew(one.name, self.holder)
            self._renewed = time.monotonic()

    def publishing(self, hashed: Optional[Hashed]) -> Hashed:
        """The backend's ``hashed``: the caller's checks, then the bytes
        counted stored in every ledger (just before they are published)."""
        def publish(oid: str, look: Optional[Look]) -> None:
            if hashed is not None:
                hashed(oid, look)
            for one in self._counts:
                one.ledger.settle(one.name, one.quota, self.holder, self._arrived)
                self._settled.append(one)

        return publish

    def failed(self) -> None:
        """The write stored nothing: what it counted taken off, what it
        held given back (an adopted hold stays with its upload)."""
        for one in self._counts:
            if one in self._settled:
                one.ledger.unsettle(one.name, self._arrived)
            elif not self._adopted and self._held:
                one.ledger.release(one.name, self.holder)
        self._settled = []


class _Counted:
    """A write's stream, its bytes told to the write as they are read."""

    def __init__(self, stream: Readable, write: _Write) -> None:
        self._stream = stream
        self._write = write

    @property
    def left(self) -> Optional[int]:
        return exact_length(self._stream)

    def readinto(self, buffer: memoryview) -> int:
        count = self._stream.readinto(buffer)
        self._write.arrived(count)
        return count

    def __getattr__(self, name: str):
        return getattr(self._stream, name)
