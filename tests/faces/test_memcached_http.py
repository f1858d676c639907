"""The /files face served from memcached: the same HTTP contract as on disk,
plus what only memcached does (503 when it is down, recovery)."""

from __future__ import annotations

from filestoraged import memcache_store
from filestoraged.base.budget import ByteBudget
from filestoraged.storage.memcached import cluster
from filestoraged.storage.memcached.backend import MemcachedBackend
from filestoraged.storage.memcached.manifest import manifest_key

import http.client
import json
import socket
import threading
from unittest import mock

from ..memcached_server import MemcachedMixin
from ..support import MIB, ServerCase, Threads, payload, sha256, wait_until
from .test_files_http import FilesContract, LimitContract
from ..storage.test_memcached import flip_chunk_byte


class MemcachedServerCase(MemcachedMixin, ServerCase):
    config_overrides = {"backend": "memcached"}

    def make_backend(self, config):
        # (kept: the daemon puts it behind the layer that counts bucket quotas, holds.ledgered)
        self.store = MemcachedBackend(self.addresses, config.max_size, config.data_dir, config.max_connections)
        return self.store

    def corrupt_object(self, oid: str) -> None:
        files = self.store.files
        manifest = files.manifest("default/" + oid)
        flip_chunk_byte(files.cluster, manifest, len(manifest.crcs) - 1, "default/" + oid)

    def stored_objects(self):
        return self.keys_held()


class MemcachedFilesTests(FilesContract, MemcachedServerCase):
    checked_before_headers = 16 * MIB  # fetched whole and proven before the headers (retrieval.PROVEN_BEFORE_HEADERS)

    def test_a_damaged_file_up_to_16_mib_answers_500_corrupt_and_past_it_is_cut(self):
        for size, whole in ((2 * MIB + 11, True), (16 * MIB, True), (16 * MIB + 1, False)):
            with self.subTest(size=size):
                data = payload(size, seed=size % 251)
                oid = self.upload(data)["hash"]
                self.corrupt_object(oid)  # its last chunk
                with self.assertLogs("filestoraged", "ERROR"):
                    conn = self.connection()
                    conn.request("GET", "/files/" + oid)
                    response = conn.getresponse()
                    if whole:  # was 200 and a cut body past 2 MiB
                        self.assertEqual((response.status, json.loads(response.read())["error"]), (500, "corrupt"))
                    else:
                        self.assertEqual(response.status, 200)
                        with self.assertRaises(http.client.IncompleteRead):
                            response.read()
                if whole:  # through the library's documented import too
                    library = memcache_store.MemcachedFileStore(self.addresses)
                    self.addCleanup(library.close)
                    with self.assertRaises(memcache_store.CorruptObject):
                        for _ in library.retrieve("default/" + oid):
                            pass

    def test_memcached_down_is_503_with_retry_after_and_recovers(self):
        oid = self.upload(b"kept")["hash"]
        self.memcached[0].stop()
        for method, path, body in (("GET", "/files/" + oid, None), ("POST", "/files", b"new")):
            with self.subTest(method=method, path=path, body=body):
                reply = self.request(method, path, body)
                self.assertError(reply, 503, "unavailable")
                self.assertEqual(reply.headers["Retry-After"], "5")
        self.assertEqual(self.request("GET", "/healthz").status, 503)
        self.memcached[0].start()  # empty again: memcached forgets on restart
        self.assertEqual(self.request("GET", "/healthz").status, 200)
        self.assertError(self.request("GET", "/files/" + oid), 404, "not_found")
        self.assertEqual(self.upload(b"kept")["hash"], oid)
        self.assertEqual(self.request("GET", "/files/" + oid).body, b"kept")


class MemcachedComesBackTests(MemcachedServerCase):
    def put(self, data: bytes) -> str:
        reply = self.request("POST", "/files", data)
        self.assertEqual(reply.status, 200, reply)
        return reply.json()["hash"]

    def test_the_next_request_after_a_restart_works_and_every_503_says_why(self):
        """memcached stopped and started again on its port, 20 times: the
        very next upload and download work (the pooled connections it closed
        are found dead and replaced, not used), and while it is down each 503
        names the server and the cause."""
        for round_ in range(20):
            with self.subTest(round=round_):
                data = b"round %d" % round_
                self.assertEqual(self.put(data), sha256(data))  # connections pooled now
                self.memcached[0].stop()
                down = self.request("POST", "/files", b"while down")
                self.assertError(down, 503, "unavailable")
                message = down.json()["message"]
                self.assertRegex(message, r"memcached 127\.0\.0\.1:\d+: \S", message)  # was: empty reason
                self.memcached[0].start()
                self.assertEqual(self.put(data), sha256(data))  # was: 503 4 times in 10
                self.assertEqual(self.request("GET", "/files/" + sha256(data)).body, data)


    def test_a_pooled_connection_whose_close_comes_late_is_replaced_not_answered_503(self):
        """As under load: memcached restarted, and the end of a pooled
        connection reaches us only after the look that would have found it
        (here that look sees nothing, every time). The command goes once
        more, on a new connection, and the request works."""
        for round_ in range(5):
            with self.subTest(round=round_):
                data = b"late close %d" % round_
                with Threads(60) as threads:  # several connections pooled now
                    for writer in range(8):
                        threads.start(self.put, data + b" from writer %d" % writer)
                self.assertEqual(self.put(data), sha256(data))
                self.memcached[0].stop()
                self.memcached[0].start()
                with mock.patch.object(cluster, "_closed_by_peer", return_value=False):
                    self.assertEqual(self.put(data), sha256(data))  # was: 503 "it closed the connection"
                    self.assertEqual(self.request("GET", "/files/" + sha256(data)).body, data)


class MemcachedLimitTests(LimitContract, MemcachedServerCase):
    pass


class MemcachedRepairTests(MemcachedServerCase):
    """What only a cache-backed store has to get right: copies that go bad or
    vanish under it, and uploads that race deletes."""

    def upload(self, data: bytes) -> dict:
        reply = self.request("POST", "/files", data)
        self.assertEqual(reply.status, 200, reply)
        return reply.json()

    def manifest(self, oid: str):
        return self.store.files.manifest("default/" + oid)

    def test_a_small_file_lives_inside_its_manifest_item(self):
        small, big = payload(1000, seed=37), payload(70 * 1024, seed=38)
        for data in (small, big, b""):
            self.upload(data)
        chunk_items = [key for key in self.keys_held() if key.startswith("fsd:c:")]
        self.assertEqual(len(chunk_items), 1)  # only the 70 KiB file has a chunk of its own
        for data in (small, big, b""):
            with self.subTest(data=data):
                self.assertEqual(self.request("GET", "/files/" + sha256(data)).body, data)
        self.assertEqual(self.request("GET", "/files/" + sha256(small), headers={"Range": "bytes=10-19"}).body,
                         small[10:20])

    def test_a_ready_made_answer_never_outlives_its_item(self):
        data = payload(2000, seed=39)
        oid = self.upload(data)["hash"]
        for _ in range(3):  # from the second on, ready-made after one gets
            self.assertEqual(self.request("GET", "/files/" + oid).body, data)
        files = self.store.files
        files.cluster.delete(manifest_key("default/" + oid))  # as memcached evicts
        self.assertError(self.request("GET", "/files/" + oid), 404, "not_found")
        self.upload(data)
        self.assertEqual(self.request("GET", "/files/" + oid).body, data)

    def test_a_corrupt_copy_is_repaired_by_the_next_upload(self):
        data = payload(3 * MIB, seed=31)
        oid = self.upload(data)["hash"]
        flip_chunk_byte(self.store.files.cluster, self.manifest(oid), 1)
        with self.assertLogs("filestoraged", "ERROR"):
            self.assertError(self.request("GET", "/files/" + oid), 500, "corrupt")
        self.assertTrue(self.upload(data)["created"])  # not "created: false" over a bad copy
        self.assertEqual(sha256(self.request("GET", "/files/" + oid).body), oid)

    def test_a_manifest_naming_other_bytes_is_condemned_and_replaced_by_the_next_upload(self):
        data, other = payload(3 * MIB, seed=32), payload(3 * MIB, seed=33)
        oid, other_oid = self.upload(data)["hash"], self.upload(other)["hash"]
        cluster = self.store.files.cluster
        key = manifest_key("default/" + oid)
        raw, token = cluster.gets(key)
        self.assertTrue(cluster.cas(key, cluster.get(manifest_key("default/" + other_oid)), token))  # other bytes
        for _ in range(2):
            with self.assertLogs("filestoraged", "ERROR"):
                self.assertError(self.request("GET", "/files/" + oid), 500, "corrupt")
        self.assertTrue(self.upload(data)["created"])  # replaced, not "created: false" over it
        self.assertEqual(sha256(self.request("GET", "/files/" + oid).body), oid)

    def test_an_evicted_chunk_past_the_first_window_is_a_clean_500(self):
        data = payload(20 * MIB, seed=32)
        oid = self.upload(data)["hash"]
        manifest = self.manifest(oid)
        self.store.files.cluster.delete(manifest.chunk_keys()[15])  # as memcached evicts
        with self.assertLogs("filestoraged", "ERROR"):
            reply = self.request("GET", "/files/" + oid)
        self.assertError(reply, 500, "corrupt")  # before the status line, not a 200 cut short
        self.assertTrue(self.upload(data)["created"])
        self.assertEqual(sha256(self.request("GET", "/files/" + oid).body), oid)

    def test_a_listing_leaves_out_objects_with_evicted_chunks(self):
        kept = self.request("PUT", "/data/r", payload(2 * MIB, seed=33)).json()["oid"]
        lost = self.request("PUT", "/data/r", payload(2 * MIB, seed=34)).json()["oid"]
        files = self.store.files
        files.cluster.delete(files.manifest("repos/r/" + lost).chunk_keys()[1])
        self.assertEqual([row["oid"] for row in self.request("GET", "/data/r").json()], [kept])

    def test_uploads_racing_deletes_of_the_same_bytes_never_answer_404(self):
        data = payload(100000, seed=35)
        oid = sha256(data)
        statuses = []
        stop = threading.Event()

        def delete_again_and_again():
            while not stop.is_set():
                self.request("DELETE", "/files/" + oid)

        def upload_again_and_again():
            for _ in range(60):
                statuses.append(self.request("POST", "/files", data).status)

        with Threads(120) as deleters:
            for _ in range(2):
                deleters.start(delete_again_and_again)
            try:
                with Threads(120) as uploaders:
                    for _ in range(4):
                        uploaders.start(upload_again_and_again)
            finally:
                stop.set()
        self.assertEqual(len(statuses), 240)  # every upload ran
        self.assertEqual(set(statuses), {200}, statuses)


class MemcachedPoolTests(MemcachedServerCase):
    config_overrides = {"backend": "memcached", "max_connections": 90}

    def test_as_many_downloads_as_the_daemon_admits_never_lack_a_pooled_connection(self):
        data = payload(MIB + MIB // 2, seed=36)
        oid = self.request("POST", "/files", data).json()["hash"]
        def download():
            reply = self.request("GET", "/files/" + oid)
            return reply.status, sha256(reply.body) == oid

        with Threads(120) as threads:
            for _ in range(80):
                threads.start(download)
        self.assertEqual(threads.results, [(200, True)] * 80)


class MemcachedSlowReaderTests(MemcachedServerCase):
    """A download whose client stops reading holds a bounded amount of
    memory (the first window and the ring: 8 MiB, where it held ~14), and
    all of them together at most the worker's read budget: past it the next
    download waits, then answers 503, instead of memory growing with the
    number of stalled clients."""

    def stalled(self, oid: str) -> socket.socket:
        sock = socket.create_connection(("127.0.0.1", self.port), timeout=10)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)  # and never read
        self.addCleanup(sock.close)
        sock.sendall(b"GET /files/%s HTTP/1.1\r\nHost: localhost\r\n\r\n" % oid.encode())
        return sock

    def test_stalled_downloads_of_files_proven_whole_hold_their_size_within_the_budget(self):
        data = payload(16 * MIB, seed=9)
        oid = self.request("POST", "/files", data).json()["hash"]
        budget = self.store.reading = ByteBudget(40 * MIB)  # two such stalled downloads' worth
        for held in (1, 2):
            self.stalled(oid)
            wait_until(lambda held=held: budget.taken >= held * 16 * MIB, "stalled download %d holds its file" % held)
        self.assertLessEqual(budget.taken, 32 * MIB + 64)
        with mock.patch("filestoraged.storage.memcached.backend.READ_BUDGET_WAIT", 0.2):
            self.assertError(self.request("GET", "/files/" + oid), 503, "unavailable")

    def test_stalled_downloads_hold_at_most_their_pin_and_the_budget(self):
        data = payload(24 * MIB)
        oid = self.request("POST", "/files", data).json()["hash"]
        budget = self.store.reading = ByteBudget(20 * MIB)  # two stalled downloads' worth (default 128 MiB)
        self.stalled(oid)
        wait_until(lambda: budget.taken > 0, "the first download takes its memory")
        self.assertLessEqual(budget.taken, 8 * MIB + 64)
        self.stalled(oid)
        wait_until(lambda: budget.taken > 8 * MIB + 64, "the second download takes its memory")
        with mock.patch("filestoraged.storage.memcached.backend.READ_BUDGET_WAIT", 0.2):
            reply = self.request("GET", "/files/" + oid)
        self.assertError(reply, 503, "unavailable")
        self.assertIn("read memory", reply.json()["message"])
        self.assertEqual(self.request("GET", "/files/" + sha256(b"small")).status, 404)
        self.assertEqual(self.request("POST", "/files", b"small").status, 200)
        self.assertEqual(self.request("GET", "/files/" + sha256(b"small")).body, b"small")  # small ones still fit
