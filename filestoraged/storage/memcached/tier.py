"""A memcached cache in front of a durable tier (``--cache memcached``): the
answer to hot keys over S3 (or disk).

Objects up to ``CACHE_MAX`` are served from memcached once read: the cache
holds them through the memcached library (``MemcachedFileStore``, which
checks every chunk's CRC and the whole SHA-256 on the way back), under
``cache/<namespace>/<oid>``, and a hit is handed out only if that SHA-256 is
the id asked for. A miss reads the object from the tier, verified there,
and fills the cache. Writes, listings and deletes go to the tier; a delete
also drops the cache entry.

Decision: every hit is revalidated with the tier's ``stat`` (a ``HEAD`` on
S3), because daemons sharing one tier and one memcached must not serve an
object another daemon deleted. What a hit saves is the transfer, the block
record and the check of the bytes on the tier; the round trip stays. A
memcached that fails is a miss, never an error: the tier answers.
"""

from __future__ import annotations

import io
import logging
from typing import List, Optional, Sequence

from ...errors import AlreadyExists, BackendUnavailable, CorruptObject, NotFound
from ..interface import Backend, Hashed, Layout, MemoryObject, ObjectInfo, PutResult, Readable, StoredObject
from ..names import Namespace

log = logging.getLogger(__name__)

CACHE_MAX = 1024 * 1024  # bytes: bigger objects always come from the tier


class CachedBackend(Backend):
    def __init__(self, tier: Backend, servers: Sequence[str]) -> None:
        from .file_store import MemcachedFileStore

        self.tier = tier
        self.name = tier.name + "+memcached"
        self.cache = MemcachedFileStore(servers, max_size=CACHE_MAX)

    def open(self, namespace: Namespace, oid: str) -> StoredObject:
        name = "cache/%s/%s" % (namespace.label, oid)
        hit = self._from_cache(name, oid)
        if hit is not None:
            info = self.tier.stat(namespace, oid)  # NotFound once deleted, in any daemon
            # The bytes are checked (their SHA-256 is the id); the type is the
            # tier's, never the cache's: a cache item anyone on the memcached
            # network can write must not choose what a browser renders.
            return MemoryObject(ObjectInfo(oid, len(hit[0]), info.content_type, info.modified), hit[0])
        obj = self.tier.open(namespace, oid)
        if obj.info.size > CACHE_MAX:
            return obj
        with obj:
            obj.preflight()
            data = obj.read_all()  # verified by the tier
        try:
            self.cache.store(name, io.BytesIO(data), obj.info.content_type)
        except AlreadyExists:
            pass  # another reader filled it meanwhile
        except BackendUnavailable as error:
            log.warning("cache not filled: %s", error)
        return MemoryObject(obj.info, data)

    def _from_cache(self, name: str, oid: str) -> Optional[tuple]:
        try:
            retrieval = self.cache.retrieve(name)
            if retrieval.manifest.sha256 != oid:
                return None
            return b"".join(retrieval), retrieval.manifest.content_type
        except (NotFound, CorruptObject, BackendUnavailable):
            return None

    def put(self, namespace: Namespace, stream: Readable, content_type: Optional[str] = None,
            expected: Optional[str] = None, hashed: Optional[Hashed] = None) -> PutResult:
        return self.tier.put(namespace, stream, content_type, expected, hashed)

    def stat(self, namespace: Namespace, oid: str) -> ObjectInfo:
        return self.tier.stat(namespace, oid)

    def layout(self, namespace: Namespace) -> Optional[Layout]:
        return self.tier.layout(namespace)

    def delete(self, namespace: Namespace, oid: str) -> None:
        self.tier.delete(namespace, oid)
        try:
            self.cache.delete("cache/%s/%s" % (namespace.label, oid))
        except (NotFound, BackendUnavailable):
            pass

    def list(self, namespace: Namespace, after: str = "", limit: Optional[int] = None) -> List[ObjectInfo]:
        return self.tier.list(namespace, after, limit)

    def check(self) -> None:
        self.tier.check()

    def usage(self) -> Optional[tuple]:
        return self.tier.usage()

    def usage_by_namespace(self):
        return self.tier.usage_by_namespace()

    @property
    def keeps_quotas(self) -> bool:  # type: ignore[override]
        return self.tier.keeps_quotas

    def tell_buckets(self, bounds_of) -> None:
        self.tier.tell_buckets(bounds_of)

    def hold(self, namespace: Namespace, holder: str, count: int) -> None:
        self.tier.hold(namespace, holder, count)

    def release(self, holder: str) -> None:
        self.tier.release(holder)

    def buckets_bytes(self):
        return self.tier.buckets_bytes()

    def owners_bytes(self, owned):
        return self.tier.owners_bytes(owned)

    def quota_changed(self, name, quota, namespaces, owner=False) -> None:
        self.tier.quota_changed(name, quota, namespaces, owner)

    def belonging(self, namespace: Namespace) -> Optional[str]:
        return self.tier.belonging(namespace)

    def close(self) -> None:
        self.cache.close()
        self.tier.close()
