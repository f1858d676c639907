"""The memcached backend: the ``memcache_store`` library behind the storage
interface. An object of namespace ``ns`` is the library's file named
``<ns or "default">/<sha256>``, so namespaces share nothing.

memcached cannot list its keys, so which objects a namespace holds is kept in
a small SQLite index under the data directory, written after each commit and
delete; listings check it against the manifests actually present (an evicted
object drops out of the listing).
"""

from __future__ import annotations

import os
import threading
from typing import Iterator, List, Optional, Sequence

from ..database import open_database
from ...errors import CorruptObject
from .store import MemcachedFileStore, Retrieval, manifest_key
from ..names import Namespace
from ..interface import Backend, ObjectInfo, PutResult, Readable, StoredObject


def _name(namespace: Namespace, oid: str) -> str:
    return "%s/%s" % (namespace.path or "default", oid)


class MemcachedBackend(Backend):
    name = "memcached"

    def __init__(self, servers: Sequence[str], max_size: int, data_dir: str) -> None:
        self.files = MemcachedFileStore(servers, max_size)
        os.makedirs(data_dir, exist_ok=True)
        self.index = NamespaceIndex(os.path.join(data_dir, "memcached-index.db"))

    def put(self, namespace: Namespace, stream: Readable, content_type: Optional[str] = None) -> PutResult:
        manifest = self.files.write_chunks(stream, content_type)
        created = self.files.commit(manifest_key(_name(namespace, manifest.sha256)), manifest)
        self.index.add(namespace, manifest.sha256, manifest.size)
        stored_type = content_type if created else self.stat(namespace, manifest.sha256).content_type
        return PutResult(ObjectInfo(manifest.sha256, manifest.size, stored_type), created)

    def open(self, namespace: Namespace, oid: str) -> StoredObject:
        retrieval = self.files.retrieve(_name(namespace, oid))
        if retrieval.manifest.sha256 != oid:
            raise CorruptObject("the manifest of %s names other bytes" % oid)
        return MemcachedObject(retrieval)

    def stat(self, namespace: Namespace, oid: str) -> ObjectInfo:
        manifest = self.files.manifest(_name(namespace, oid))
        return ObjectInfo(oid, manifest.size, manifest.content_type)

    def delete(self, namespace: Namespace, oid: str) -> None:
        try:
            self.files.delete(_name(namespace, oid))
        finally:
            self.index.remove(namespace, oid)

    def list(self, namespace: Namespace, after: str = "", limit: Optional[int] = None) -> List[ObjectInfo]:
        found: List[ObjectInfo] = []
        for oid, size in self.index.scan(namespace, after):
            if self.files.cluster.get(manifest_key(_name(namespace, oid))) is None:
                self.index.remove(namespace, oid)  # evicted or deleted: forget it
                continue
            found.append(ObjectInfo(oid, size))
            if limit is not None and len(found) >= limit:
                break
        return found

    def check(self) -> None:
        self.files.cluster.item_size_max()

    def close(self) -> None:
        self.files.close()
        self.index.close()


class MemcachedObject(StoredObject):
    def __init__(self, retrieval: Retrieval) -> None:
        manifest = retrieval.manifest
        super().__init__(ObjectInfo(manifest.sha256, manifest.size, manifest.content_type))
        self._retrieval = retrieval
        self._whole: Optional[bytes] = None

    def preflight(self) -> None:
        self._retrieval.prefetch_first()
        self._whole = self._retrieval.whole()

    def verified_bytes(self, start: int, end: int) -> Optional[bytes]:
        return None if self._whole is None else self._whole[start:end]

    def chunks(self, start: int = 0, end: Optional[int] = None) -> Iterator[bytes]:
        return self._retrieval.chunks(start, end)


class NamespaceIndex:
    """``(namespace, oid, size)`` rows in SQLite: what memcached cannot list."""

    def __init__(self, path: str) -> None:
        self._db = open_database(path)
        self._db.execute(
            "CREATE TABLE IF NOT EXISTS objects (namespace TEXT, oid TEXT, size INTEGER,"
            " PRIMARY KEY (namespace, oid)) WITHOUT ROWID"
        )
        self._lock = threading.Lock()

    def add(self, namespace: Namespace, oid: str, size: int) -> None:
        with self._lock:
            self._db.execute("INSERT OR REPLACE INTO objects VALUES (?, ?, ?)", (namespace.path, oid, size))

    def remove(self, namespace: Namespace, oid: str) -> None:
        with self._lock:
            self._db.execute("DELETE FROM objects WHERE namespace = ? AND oid = ?", (namespace.path, oid))

    def scan(self, namespace: Namespace, after: str = "") -> Iterator[tuple]:
        """Rows in oid order after ``after``, read a page at a time."""
        while True:
            with self._lock:
                rows = self._db.execute(
                    "SELECT oid, size FROM objects WHERE namespace = ? AND oid > ? ORDER BY oid LIMIT 500",
                    (namespace.path, after),
                ).fetchall()
            if not rows:
                return
            yield from rows
            after = rows[-1][0]

    def close(self) -> None:
        with self._lock:
            self._db.close()


