"""What an admin sets about quotas (docs/quotas.md): a bucket's quota, a
bucket's owner, an owner's quota over all their buckets. Each is kept in
the bucket records (``Buckets``), then told to the backend: where it
counts a bucket's or an owner's bytes apart from the objects
(``holds.ledgered``), what the change concerns is counted afresh from a
listing of where its bytes are (each bucket's repository and unfinished
uploads' parts)."""

from __future__ import annotations

from typing import List, Optional

from ..storage.interface import Backend
from ..storage.names import Namespace
from .buckets import Bucket, Buckets
from .unfinished import Unfinished


class QuotaSettings:
    def __init__(self, buckets: Buckets, unfinished: Unfinished, backend: Optional[Backend]) -> None:
        """``backend``: None where nothing need be counted afresh (the disk
        backend's index counts every bucket, always)."""
        self.buckets = buckets
        self.unfinished = unfinished
        self.backend = backend

    def set_bucket_quota(self, bucket: Bucket, quota: Optional[int]) -> None:
        """``bucket``'s quota set (None: removed)."""
        self.buckets.set_quota(bucket, quota)
        if self.backend is not None:
            self.backend.quota_changed(bucket.name, quota, self.unfinished.namespaces_of(bucket.name))

    def set_owner(self, bucket: Bucket, owner: Optional[str]) -> None:
        """``bucket`` given to ``owner`` (None: to nobody): what it stores
        leaves its old owner's count and joins the new one's."""
        self.buckets.set_owner(bucket, owner)
        for name in {bucket.owner, owner} - {None}:
            self._owner_changed(str(name))

    def set_owner_quota(self, owner: str, quota: Optional[int]) -> None:
        """The quota of all ``owner``'s buckets together set (None: removed)."""
        self.buckets.set_owner_quota(owner, quota)
        self._owner_changed(owner)

    def _owner_changed(self, owner: str) -> None:
        if self.backend is None:
            return
        owned, quotas = self.buckets.owners()
        namespaces: List[Namespace] = [namespace for bucket in owned.get(owner, ())
                                       for namespace in self.unfinished.namespaces_of(bucket)]
        self.backend.quota_changed(owner, quotas.get(owner), namespaces, owner=True)
