"""The memcached backend and its library, against real memcached processes."""

from __future__ import annotations

import io
import shutil
import tempfile
import unittest

from filestoraged.errors import (
    AlreadyExists,
    BackendUnavailable,
    BadRequest,
    CorruptObject,
    NotFound,
    TooLarge,
)
from filestoraged.storage.memcached.file_store import ITEM_HEADROOM, MemcachedFileStore, manifest_key
from filestoraged.storage.memcached.backend import MemcachedBackend
from filestoraged.storage.memcached.retrieval import RING_WINDOW

from ..memcached_server import MemcachedMixin
from ..storage_contract import StorageContract
from ..support import MIB, Threads, payload, sha256


def flip_chunk_byte(cluster, manifest, index: int, name: str = "") -> None:
    """Change a byte of chunk ``index``, or of the bytes inside the manifest
    item ``name`` of a small (inline) file."""
    key = manifest_key(name) if manifest.data is not None else manifest.chunk_keys()[index]
    value = bytearray(cluster.get(key))
    value[len(value) - 1 - len(manifest.data or b"") // 2] ^= 0x01
    cluster.set_chunk(key, bytes(value))


class MemcachedTestCase(MemcachedMixin, unittest.TestCase):
    def make_backend(self, max_size: int) -> MemcachedBackend:
        data_dir = tempfile.mkdtemp(prefix="fsd-mc-")
        self.addCleanup(shutil.rmtree, data_dir, True)
        return MemcachedBackend(self.addresses, max_size, data_dir)

    def corrupt(self, namespace, oid: str) -> None:
        files = self.backend.files
        name = "%s/%s" % (namespace.path or "default", oid)
        manifest = files.manifest(name)
        flip_chunk_byte(files.cluster, manifest, len(manifest.crcs) // 2, name)

    def assert_nothing_left(self) -> None:
        self.assertEqual(self.keys_held(), [])


class MemcachedContractTests(StorageContract, MemcachedTestCase):
    pass


class LibraryTests(MemcachedTestCase):
    def setUp(self) -> None:
        super().setUp()
        self.store = MemcachedFileStore(self.addresses)
        self.addCleanup(self.store.close)

    def read(self, name: str) -> bytes:
        return b"".join(self.store.retrieve(name))

    def test_round_trip_streams_pieces_not_one_big_bytes(self):
        data = payload(5 * MIB + 11)
        with tempfile.NamedTemporaryFile() as source:
            source.write(data)
            source.flush()
            source.seek(0)
            manifest = self.store.store("big.dat", source, "application/x-test")
        self.assertEqual((manifest.size, manifest.sha256), (len(data), sha256(data)))
        pieces = list(self.store.retrieve("big.dat"))
        self.assertGreater(len(pieces), 1)
        self.assertLessEqual(max(len(p) for p in pieces), self.store.chunk_size)
        self.assertEqual(b"".join(pieces), data)
        self.assertEqual(self.store.manifest("big.dat").content_type, "application/x-test")

    def test_the_documented_import_stores_and_retrieves(self):
        """``from filestoraged.memcache_store import ...``: the library's public
        import, whatever the package's rooms are called inside."""
        import filestoraged.memcache_store as library

        for name in library.__all__:
            self.assertTrue(hasattr(library, name), name)
        store = library.MemcachedFileStore(self.addresses)
        self.addCleanup(store.close)
        store.store("documented.txt", io.BytesIO(b"through the documented import"))
        self.assertEqual(b"".join(store.retrieve("documented.txt")), b"through the documented import")
        with self.assertRaises(library.AlreadyExists):
            store.store("documented.txt", io.BytesIO(b"again"))
        with self.assertRaises(library.NotFound):
            store.retrieve("never-stored")

    def test_chunk_size_comes_from_the_server(self):
        self.assertEqual(self.store.chunk_size, MIB - ITEM_HEADROOM)

    def test_storing_an_existing_name_raises(self):
        self.store.store("a", io.BytesIO(b"first"))
        with self.assertRaises(AlreadyExists):
            self.store.store("a", io.BytesIO(b"second"))
        self.assertEqual(self.read("a"), b"first")

    def test_unknown_names_are_not_found(self):
        with self.assertRaises(NotFound):
            self.store.retrieve("nope")
        with self.assertRaises(NotFound):
            self.store.delete("nope")

    def test_bad_names_are_refused(self):
        for name in ("", "with space", "x" * 201, "new\nline"):
            with self.subTest(name=name):
                with self.assertRaises(BadRequest):
                    self.store.store(name, io.BytesIO(b""))

    def test_delete_removes_manifest_and_chunks(self):
        self.store.store("gone", io.BytesIO(payload(3 * MIB)))
        self.store.delete("gone")
        self.assertEqual(self.keys_held(), [])
        with self.assertRaises(NotFound):
            self.store.retrieve("gone")

    def test_empty_file(self):
        self.store.store("empty", io.BytesIO(b""))
        self.assertEqual(self.read("empty"), b"")

    def test_exactly_50_mib_and_one_byte_more(self):
        data = payload(50 * MIB, seed=50)
        self.store.store("fifty", io.BytesIO(data))
        self.assertEqual(sha256(self.read("fifty")), sha256(data))
        with self.assertRaises(TooLarge):
            self.store.store("fifty-plus", io.BytesIO(data + b"!"))
        with self.assertRaises(NotFound):
            self.store.retrieve("fifty-plus")
        self.assertEqual(len(self.keys_held()), 1 + len(self.store.manifest("fifty").crcs))

    def test_memory_held_is_within_one_percent_of_the_file(self):
        data = payload(50 * MIB, seed=7)
        before = sum(int(s.stats()[b"bytes"]) for s in self.memcached)
        self.store.store("sized", io.BytesIO(data))
        held = sum(int(s.stats()[b"bytes"]) for s in self.memcached) - before
        self.assertLessEqual(held / len(data), 1.01)

    def test_an_evicted_chunk_is_corrupt_and_the_stream_never_completes(self):
        data = payload(20 * MIB, seed=2)
        manifest = self.store.store("evicted", io.BytesIO(data))
        self.store.cluster.delete(manifest.chunk_keys()[15])
        received = bytearray()
        with self.assertRaises(CorruptObject):
            for piece in self.store.retrieve("evicted"):
                received += piece
        self.assertLess(len(received), len(data))

    def test_a_damaged_chunk_is_corrupt(self):
        manifest = self.store.store("damaged", io.BytesIO(payload(3 * MIB, seed=3)))
        flip_chunk_byte(self.store.cluster, manifest, 1)
        with self.assertRaises(CorruptObject):
            self.read("damaged")

    def test_a_damaged_manifest_is_corrupt(self):
        self.store.store("m", io.BytesIO(b"data"))
        self.store.cluster.set_chunk(manifest_key("m"), b"{not json")
        with self.assertRaises(CorruptObject):
            self.read("m")

    def test_concurrent_stores_of_one_name_leave_one_whole_file(self):
        data = payload(4 * MIB, seed=4)
        outcomes = []

        def store():
            try:
                self.store.store("race", io.BytesIO(data))
                outcomes.append("stored")
            except AlreadyExists:
                outcomes.append("exists")

        with Threads(120) as threads:
            for _ in range(6):
                threads.start(store)
        self.assertEqual(sorted(outcomes), ["exists"] * 5 + ["stored"])
        self.assertEqual(self.read("race"), data)
        self.assertEqual(len(self.keys_held()), 1 + len(self.store.manifest("race").crcs))

    def test_an_evicted_copy_is_replaced_by_the_next_upload(self):
        backend = self.make_backend(50 * MIB)
        self.addCleanup(backend.close)
        data = payload(3 * MIB, seed=8)
        from filestoraged.storage.names import DEFAULT

        oid = backend.put(DEFAULT, io.BytesIO(data)).info.oid
        manifest = backend.files.manifest("default/" + oid)
        backend.files.cluster.delete(manifest.chunk_keys()[0])
        self.assertTrue(backend.put(DEFAULT, io.BytesIO(data)).created)
        with backend.open(DEFAULT, oid) as obj:
            self.assertEqual(obj.read_all(), data)


class BigItemTests(MemcachedTestCase):
    server_args = ["-I", "4m"]

    def test_bigger_items_give_bigger_chunks_without_configuration(self):
        store = MemcachedFileStore(self.addresses)
        self.addCleanup(store.close)
        self.assertEqual(store.chunk_size, 4 * MIB - ITEM_HEADROOM)
        data = payload(9 * MIB)
        self.assertEqual(len(store.store("big", io.BytesIO(data)).crcs), 3)
        self.assertEqual(b"".join(store.retrieve("big")), data)


class TwoServerTests(MemcachedTestCase):
    servers = 2

    def test_chunks_spread_over_both_servers(self):
        store = MemcachedFileStore(self.addresses)
        self.addCleanup(store.close)
        data = payload(20 * MIB, seed=20)
        store.store("spread", io.BytesIO(data))
        for server in self.memcached:
            self.assertTrue(any(k.startswith("fsd:c:") for k in server.keys()), server.address)
        self.assertEqual(b"".join(store.retrieve("spread")), data)

    def test_a_transfer_reads_both_servers_into_a_few_reused_buffers(self):
        store = MemcachedFileStore(self.addresses)
        self.addCleanup(store.close)
        data = payload(20 * MIB, seed=21)
        store.store("spread", io.BytesIO(data))
        for start, end in ((0, len(data)), (9_000_000, 15_000_001), (len(data) - 10, len(data)), (5, 6)):
            with self.subTest(start=start, end=end):
                retrieval = store.retrieve("spread")
                retrieval.prefetch_first()
                buffers = set()
                received = bytearray()
                for piece in retrieval.pieces(start, end):
                    received += piece  # a piece is read before the next is asked for, as a transfer does
                    if isinstance(piece, memoryview) and isinstance(piece.obj, bytearray):
                        buffers.add(id(piece.obj))
                self.assertEqual(bytes(received), data[start:end])
                self.assertLessEqual(len(buffers), 2 * RING_WINDOW + 2)

    def test_a_chunk_grown_past_its_size_fails_a_transfer_as_corrupt(self):
        store = MemcachedFileStore(self.addresses)
        self.addCleanup(store.close)
        data = payload(12 * MIB, seed=22)
        manifest = store.store("grown", io.BytesIO(data))
        store.cluster.set_chunk(manifest.chunk_keys()[10], b"x" * (store.chunk_size + 100))
        with self.assertRaises(CorruptObject):
            for _ in store.retrieve("grown").pieces():
                pass


class OutageTests(MemcachedTestCase):
    def test_unreachable_is_unavailable_and_recovers_when_back(self):
        store = MemcachedFileStore(self.addresses)
        self.addCleanup(store.close)
        store.store("before", io.BytesIO(b"x" * 1000))
        self.memcached[0].stop()
        with self.assertRaises(BackendUnavailable):
            store.store("during", io.BytesIO(b"y" * 1000))
        with self.assertRaises(BackendUnavailable):
            store.retrieve("before")
        self.memcached[0].start()
        store.store("after", io.BytesIO(b"z" * 1000))
        self.assertEqual(b"".join(store.retrieve("after")), b"z" * 1000)


