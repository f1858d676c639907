"""Bucket quotas for a backend that keeps none itself (S3, memcached): the
backend behind a layer that counts the bytes of every bucket with a quota
in the records' ``Ledger``, which every daemon sharing the records sees.

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
from typing import Callable, Dict, List, Optional, Tuple

from ..errors import BucketQuotaReached
from ..storage.interface import Backend, Bounds, ObjectInfo, PutResult, Readable, StoredObject, exact_length
from ..storage.names import Namespace
from .ledger import RENEW_AFTER, Ledger

HOLD_STEP = 8 * 1024 * 1024  # bytes a write of unknown length holds at a time
_OF_BUCKETS = ("repos/", "parts/")  # the namespaces a bucket's bytes are in
_PROCESS = secrets.token_hex(6)  # this process's part of a write's holder name
_numbers = itertools.count(1)


class LedgeredBackend(Backend):
    keeps_quotas = True

    def __init__(self, inner: Backend, ledger: Ledger) -> None:
        self.inner = inner
        self.ledger = ledger
        self._bounds_of: Callable[[Namespace], Optional[Bounds]] = lambda namespace: None

    @property
    def name(self) -> str:  # type: ignore[override]
        return self.inner.name

    def __getattr__(self, name: str):
        return getattr(self.inner, name)  # what a backend has besides (an S3 store's client)

    def tell_buckets(self, bounds_of: Callable[[Namespace], Optional[Bounds]]) -> None:
        self._bounds_of = bounds_of

    def _bounds(self, namespace: Namespace) -> Optional[Bounds]:
        """The bucket ``namespace``'s bytes count in, where it has a quota."""
        if not namespace.path.startswith(_OF_BUCKETS):
            return None
        found = self._bounds_of(namespace)
        return found if found is not None and found.quota is not None else None

    def put(self, namespace: Namespace, stream: Readable, content_type: Optional[str] = None,
            expected: Optional[str] = None, hashed: Optional[Callable[[str], None]] = None) -> PutResult:
        bounds = self._bounds(namespace)
        if bounds is None:
            return self.inner.put(namespace, stream, content_type, expected, hashed)
        write = _Write(self.ledger, bounds, getattr(stream, "held_as", None))
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
        bounds = self._bounds(namespace)
        if bounds is None:
            return self.inner.delete(namespace, oid)
        size = self.inner.stat(namespace, oid).size
        self.inner.delete(namespace, oid)
        self.ledger.removed(bounds.bucket, size)

    def hold(self, namespace: Namespace, holder: str, count: int) -> None:
        bounds = self._bounds(namespace)
        if bounds is not None:
            assert bounds.quota is not None
            self.ledger.take(bounds.bucket, bounds.quota, holder, count, lasting=True)

    def release(self, holder: str) -> None:
        for bucket in self.ledger.counts():
            self.ledger.release(bucket, holder)

    def quota_changed(self, bucket: str, quota: Optional[int], namespaces: List[Namespace]) -> None:
        if quota is None:
            self.ledger.forget(bucket)
            return
        self.ledger.recount(bucket, lambda: sum(self._sizes(namespace) for namespace in namespaces))

    def _sizes(self, namespace: Namespace) -> int:
        total, after = 0, ""
        while True:
            page = self.inner.list(namespace, after, 1000)
            total += sum(info.size for info in page)
            if len(page) < 1000:
                return total
            after = page[-1].oid

    def buckets_bytes(self) -> Dict[str, Tuple[int, int]]:
        return self.ledger.counts()

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


class _Write:
    """One write's hold in its bucket's ledger, from before its first byte
    to its publishing (or its end)."""

    def __init__(self, ledger: Ledger, bounds: Bounds, held_as: Optional[str]) -> None:
        """``held_as``: a resumable upload's hold, which the write takes over
        (its bytes are held already; kept if the write fails)."""
        assert bounds.quota is not None
        self._ledger, self._bucket, self._quota = ledger, bounds.bucket, bounds.quota
        self._adopted = held_as is not None
        self.holder = held_as or "%s:%d" % (_PROCESS, next(_numbers))
        self._held = 0
        self._arrived = 0
        self._renewed = time.monotonic()
        self._settled: Optional[int] = None

    def ahead(self, length: int) -> None:
        """The whole known length held before a byte is read."""
        if not self._adopted:
            self._ledger.take(self._bucket, self._quota, self.holder, length)
            self._held = length

    def arrived(self, count: int) -> None:
        self._arrived += count
        if self._adopted:
            return
        if self._arrived > self._held:
            needed = self._arrived - self._held
            step = max(needed, HOLD_STEP)
            try:
                self._ledger.take(self._bucket, self._quota, self.holder, step)
                self._held += step
            except BucketQuotaReached:
                if step == needed:
                    raise
                self._ledger.take(self._bucket, self._quota, self.holder, needed)
                self._held += needed
            self._renewed = time.monotonic()
        elif time.monotonic() - self._renewed > RENEW_AFTER:
            self._ledger.renew(self._bucket, self.holder)
            self._renewed = time.monotonic()

    def publishing(self, hashed: Optional[Callable[[str], None]]) -> Callable[[str], None]:
        """The backend's ``hashed``: the caller's checks, then the bytes
        counted stored (just before they are published)."""
        def publish(oid: str) -> None:
            if hashed is not None:
                hashed(oid)
            self._ledger.settle(self._bucket, self._quota, self.holder, self._arrived)
            self._settled = self._arrived

        return publish

    def failed(self) -> None:
        """The write stored nothing: what it counted taken off, what it
        held given back (an adopted hold stays with its upload)."""
        if self._settled is not None:
            self._ledger.unsettle(self._bucket, self._settled)
            self._settled = None
        elif not self._adopted and self._held:
            self._ledger.release(self._bucket, self.holder)


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
