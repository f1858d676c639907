"""``--cache memcached`` over the S3 tier: hot small objects come from
memcached, verified; a miss fills the cache; a delete anywhere is seen at
once; a broken or absent cache only costs speed."""

from __future__ import annotations

import os

from filestoraged.storage.memcached.tier import CACHE_MAX, CachedBackend
from filestoraged.storage.disk.backend import DiskBackend
from filestoraged.storage.blocks import BLOCK
from filestoraged.storage.names import DEFAULT, Namespace
from filestoraged.storage.s3.backend import S3Backend, key_of

from ..memcached_server import MemcachedMixin
from ..seaweed_server import SeaweedMixin
from ..storage_contract import SizedStream, StorageContract
from ..support import ServerCase, payload, sha256
from .test_disk import DiskTestCase, flip_middle_bit
from .test_s3 import flip_a_byte


class CachedContractTests(StorageContract, MemcachedMixin, DiskTestCase):
    """The cache in front of a tier keeps the storage contract word for word."""

    def make_backend(self, max_size: int, max_bytes=None) -> CachedBackend:
        return CachedBackend(DiskBackend(self.root, max_size, max_bytes), self.addresses)

    def corrupt(self, namespace, oid: str) -> None:
        flip_middle_bit(self.backend.tier.object_path(namespace, oid))  # the tier's copy, as a bad disk would

    def assert_nothing_left(self) -> None:
        self.assertEqual(os.listdir(self.backend.tier.tmp_dir), [])

    def test_a_multipart_uploads_parts_are_laid_out_by_the_tier(self):
        layout = self.backend.layout(Namespace("parts/cached"))
        data = payload(BLOCK + 10, 3)
        first = layout.put(1, BLOCK, SizedStream(data[:BLOCK]), lambda oid: None)
        last = layout.put(2, 10, SizedStream(data[BLOCK:]), lambda oid: None)
        with layout.finished([(1, BLOCK, first.stride, first.checks), (2, 10, last.stride, last.checks)]) as whole:
            stored = self.backend.put(DEFAULT, whole)  # adopted by the tier: the file becomes the object
        self.assertEqual(stored.info.oid, sha256(data))
        self.assertEqual(self.read(stored.info.oid), data)


class CachedS3Tests(MemcachedMixin, SeaweedMixin, ServerCase):
    config_overrides = {"backend": "s3", "cache": "memcached"}

    def make_backend(self, config):
        return CachedBackend(S3Backend(self.s3_client(), config.data_dir, config.max_size), self.addresses)

    def upload(self, data: bytes) -> str:
        reply = self.request("POST", "/files", data, {"Content-Type": "text/plain"})
        self.assertEqual(reply.status, 200, reply)
        return reply.json()["hash"]

    def test_a_hot_object_comes_from_the_cache(self):
        data = payload(300 * 1024, seed=1)
        oid = self.upload(data)
        self.assertEqual(self.request("GET", "/files/" + oid).body, data)  # a miss: fills the cache
        self.assertIn("fsd:m:cache/default/" + oid, self.keys_held())
        flip_a_byte(self.s3_client(), key_of(DEFAULT, oid))  # the tier's copy goes bad behind our back
        reply = self.request("GET", "/files/" + oid)
        self.assertEqual((reply.status, reply.body), (200, data))  # so this one came from memcached
        tier_type = self.app.backend.tier.stat(DEFAULT, oid).content_type  # (the flip rewrote it on the tier)
        self.assertEqual(reply.headers["Content-Type"], tier_type or "application/octet-stream")

    def test_a_delete_in_another_daemon_is_seen_at_once(self):
        data = payload(1000, seed=2)
        oid = self.upload(data)
        self.assertEqual(self.request("GET", "/files/" + oid).status, 200)  # cached now
        client = self.s3_client()  # another daemon deletes it from the tier
        client.request("DELETE", key_of(DEFAULT, oid), ok=(200, 204)).release()
        self.assertEqual(self.request("GET", "/files/" + oid).status, 404)

    def test_a_corrupt_cache_entry_is_a_miss(self):
        data = payload(200 * 1024, seed=3)
        oid = self.upload(data)
        from pymemcache.client.base import Client

        self.request("GET", "/files/" + oid)
        changed = 0
        for server in self.memcached:  # change the last byte of every cached chunk
            client = Client(("127.0.0.1", server.port))
            for key in server.keys():
                if key.startswith("fsd:c:"):
                    value = client.get(key)
                    client.set(key, value[:-1] + bytes([value[-1] ^ 1]))
                    changed += 1
            client.close()
        self.assertGreater(changed, 0)
        self.assertEqual(self.request("GET", "/files/" + oid).body, data)

    def test_the_type_served_is_the_tiers_not_the_caches(self):
        import io

        data = payload(2000, seed=4)
        oid = self.upload(data)  # text/plain on the tier
        cache = self.app.backend.cache
        cache.store("cache/default/" + oid, io.BytesIO(data), "text/html")  # the right bytes, another type
        reply = self.request("GET", "/files/" + oid)
        self.assertEqual((reply.status, reply.body), (200, data))
        self.assertEqual(reply.headers["Content-Type"], "text/plain")
        self.assertIn("fsd:m:cache/default/" + oid, self.keys_held())  # it was a hit

    def test_without_memcached_the_tier_answers(self):
        data = payload(5000, seed=4)
        oid = self.upload(data)
        for server in self.memcached:
            server.stop()
        self.assertEqual(self.request("GET", "/files/" + oid).body, data)

    def test_big_objects_are_not_cached(self):
        data = payload(CACHE_MAX + 1, seed=5)
        oid = self.upload(data)
        self.assertEqual(sha256(self.request("GET", "/files/" + oid).body), oid)
        self.assertEqual(self.keys_held(), [])
