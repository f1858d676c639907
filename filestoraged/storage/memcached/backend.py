"""The memcached backend: the chunking library (``store``) behind the storage
interface. An object of namespace ``ns`` is the library's file named
``<ns or "default">/<sha256>``, so namespaces share nothing.

memcached cannot list its keys, so which objects a namespace holds is kept in
a small SQLite index under the data directory, written after each commit and
delete; listings check it against the manifests actually present (an evicted
object drops out of the listing).
"""

from __future__ import annotations

import os
from typing import Iterator, List, Optional, Sequence

from ...base.budget import ByteBudget
from ...errors import BackendUnavailable, CorruptObject
from .cluster import Cluster, pool_size_for
from .manifest import Manifest
from .file_store import MemcachedFileStore, Retrieval, manifest_key
from ..names import Namespace
from ..object_index import ObjectIndex
from ..interface import Backend, Hashed, ObjectInfo, PutResult, Readable, StoredObject, before_publishing


# Memory the transfers of one process may hold at once (``pinned_bytes``
# each: 8 MiB for a big file, its size for a small one): 16 big downloads
# to clients that stopped reading; the next waits up to READ_BUDGET_WAIT
# for one to end (or be cut by --min-send-rate), then answers 503.
READ_BUDGET = 128 * 1024 * 1024
READ_BUDGET_WAIT = 10.0


def _name(namespace: Namespace, oid: str) -> str:
    return "%s/%s" % (namespace.path or "default", oid)


class MemcachedBackend(Backend):
    name = "memcached"

    def __init__(self, servers: Sequence[str], max_size: int, data_dir: str, max_connections: int = 256) -> None:
        self.files = MemcachedFileStore(servers, max_size, Cluster(servers, pool_size_for(max_connections)))
        os.makedirs(data_dir, exist_ok=True)
        self.index = ObjectIndex(os.path.join(data_dir, "memcached-index.db"))
        self.reading = ByteBudget(READ_BUDGET)

    def put(self, namespace: Namespace, stream: Readable, content_type: Optional[str] = None,
            expected: Optional[str] = None, hashed: Optional[Hashed] = None) -> PutResult:
        manifest = self.files.write_chunks(stream, content_type)
        try:
            before_publishing(manifest.sha256, expected, hashed)
        except BaseException:
            self.files.discard(manifest)
            raise
        created, standing = self.files.commit(manifest_key(_name(namespace, manifest.sha256)), manifest)
        self.index.add(namespace.path, manifest.sha256, manifest.size)
        return PutResult(ObjectInfo(manifest.sha256, manifest.size, standing.content_type), created)

    def open(self, namespace: Namespace, oid: str) -> StoredObject:
        retrieval = self.files.retrieve(_name(namespace, oid))
        if retrieval.manifest.sha256 != oid:
            self.files.condemn(_name(namespace, oid), retrieval.manifest)  # the next upload replaces it
            raise CorruptObject("the manifest of %s names other bytes" % oid)
        return MemcachedObject(retrieval, self.reading)

    def stat(self, namespace: Namespace, oid: str) -> ObjectInfo:
        manifest = self.files.manifest(_name(namespace, oid))
        return ObjectInfo(oid, manifest.size, manifest.content_type)

    def delete(self, namespace: Namespace, oid: str) -> None:
        try:
            self.files.delete(_name(namespace, oid))
        finally:
            self.index.remove(namespace.path, oid)

    def list(self, namespace: Namespace, after: str = "", limit: Optional[int] = None) -> List[ObjectInfo]:
        found: List[ObjectInfo] = []
        for page in self.index.pages(namespace.path, after):
            for oid, size in self._whole_ones(namespace, page):
                found.append(ObjectInfo(oid, size))
                if limit is not None and len(found) >= limit:
                    return found
        return found

    def _whole_ones(self, namespace: Namespace, page: List[tuple]) -> List[tuple]:
        """The ``(oid, size)`` rows of ``page`` whose manifest and every chunk
        are present (two round trips per server for the page); the others
        were evicted, condemned or deleted, and are forgotten."""
        cluster = self.files.cluster
        keys = {oid: manifest_key(_name(namespace, oid)) for oid, _ in page}
        raw = cluster.get_many(list(keys.values()))
        manifests = {}
        for oid, key in keys.items():
            try:
                manifests[oid] = Manifest.decode(raw[key], key) if key in raw else None
            except CorruptObject:
                manifests[oid] = None
        sizes = cluster.sizes([k for m in manifests.values() if m is not None for k in m.chunk_keys()])
        whole = []
        for oid, size in page:
            manifest = manifests[oid]
            if manifest is None or manifest.missing_chunks(sizes):
                self.index.remove(namespace.path, oid)
            else:
                whole.append((oid, size))
        return whole

    def check(self) -> None:
        self.files.cluster.item_size_max()

    def close(self) -> None:
        self.files.close()
        self.index.close()


class MemcachedObject(StoredObject):
    """A file read from memcached. A small one (inside its manifest item) can
    prove it is still the same with one ``gets`` (the item's CAS token), so
    the server may answer hot GETs of it ready-made (``web.response_cache``)."""

    def __init__(self, retrieval: Retrieval, budget: ByteBudget) -> None:
        manifest = retrieval.manifest
        proof = None
        if manifest.data is not None and retrieval.token is not None:
            store, name, token = retrieval.store, retrieval.name, retrieval.token

            def proof() -> bool:  # holds no bytes: a ready-made answer keeps it
                return store.still_same(name, token)
        super().__init__(ObjectInfo(manifest.sha256, manifest.size, manifest.content_type), proof)
        self._retrieval = retrieval
        self._whole: Optional[bytes] = None
        self._budget = budget
        self._held = 0

    def preflight(self) -> None:
        need = self._retrieval.pinned_bytes()
        if not self._budget.take(need, READ_BUDGET_WAIT):
            raise BackendUnavailable("downloads from memcached in flight hold this worker's %d MiB of read memory:"
                                     " retry" % (self._budget.total >> 20))
        self._held = need
        self._retrieval.prefetch_first()
        self._whole = self._retrieval.whole()
        if self._whole is None:
            self._retrieval.check_present()

    def verified_bytes(self, start: int, end: int) -> Optional[bytes]:
        return None if self._whole is None else self._whole[start:end]

    def chunks(self, start: int = 0, end: Optional[int] = None) -> Iterator[bytes]:
        return self._retrieval.chunks(start, end)

    def pieces(self, start: int = 0, end: Optional[int] = None) -> Iterator[memoryview]:
        return self._retrieval.pieces(start, end)

    def close(self) -> None:
        self._budget.give(self._held)
        self._held = 0
        self._whole = None
