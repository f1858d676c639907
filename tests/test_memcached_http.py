"""The /files face served from memcached: the same HTTP contract as on disk,
plus what only memcached does (503 when it is down, recovery)."""

from __future__ import annotations

from filestoraged.storage.memcached.backend import MemcachedBackend

from .memcached_server import MemcachedMixin
from .support import ServerCase
from .test_files_http import FilesContract, LimitContract
from .test_memcached import flip_chunk_byte


class MemcachedServerCase(MemcachedMixin, ServerCase):
    config_overrides = {"backend": "memcached"}

    def make_backend(self, config):
        return MemcachedBackend(self.addresses, config.max_size, config.data_dir)

    def corrupt_object(self, oid: str) -> None:
        files = self.app.backend.files
        manifest = files.manifest("default/" + oid)
        flip_chunk_byte(files.cluster, manifest, len(manifest.crcs) - 1)

    def stored_objects(self):
        return self.keys_held()


class MemcachedFilesTests(FilesContract, MemcachedServerCase):
    def test_memcached_down_is_503_with_retry_after_and_recovers(self):
        oid = self.upload(b"kept")["hash"]
        self.memcached[0].stop()
        for method, path, body in (("GET", "/files/" + oid, None), ("POST", "/files", b"new")):
            reply = self.request(method, path, body)
            self.assertError(reply, 503, "unavailable")
            self.assertEqual(reply.headers["Retry-After"], "5")
        self.assertEqual(self.request("GET", "/healthz").status, 503)
        self.memcached[0].start()  # empty again: memcached forgets on restart
        self.assertEqual(self.request("GET", "/healthz").status, 200)
        self.assertError(self.request("GET", "/files/" + oid), 404, "not_found")
        self.assertEqual(self.upload(b"kept")["hash"], oid)
        self.assertEqual(self.request("GET", "/files/" + oid).body, b"kept")


class MemcachedLimitTests(LimitContract, MemcachedServerCase):
    pass
