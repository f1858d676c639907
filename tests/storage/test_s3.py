"""The S3 backend against a real SeaweedFS: the storage contract and the
/files, /data and /file suites, integrity of what is read back, a store
that is down, and three daemons over one bucket. SigV4 is checked against
AWS's published example too."""

from __future__ import annotations

import json
import os
import shutil
import socket
import tempfile
import threading
import time
import unittest
from concurrent.futures import ThreadPoolExecutor
from http.server import BaseHTTPRequestHandler
from unittest import mock

from filestoraged.errors import BackendUnavailable
from filestoraged.storage.names import DEFAULT
from filestoraged.storage.s3 import refs
from filestoraged.storage.s3.backend import S3Backend, key_of
from filestoraged.storage.s3.client import S3Client

from ..seaweed_server import SeaweedMixin
from ..storage_contract import StorageContract
from ..support import MIB, ServerCase, Threads, payload, serve_in_thread, sha256, wait_until
from ..faces.test_data_http import DataContract
from ..faces.test_files_http import FilesContract, LimitContract
from ..faces.test_share_http import ShareContract


class S3TestCase(SeaweedMixin, unittest.TestCase):
    def make_backend(self, max_size: int) -> S3Backend:
        data_dir = tempfile.mkdtemp(prefix="fsd-s3-")
        self.addCleanup(shutil.rmtree, data_dir, True)
        self.data_dir = data_dir
        return S3Backend(self.s3_client(), data_dir, max_size)

    def corrupt(self, namespace, oid: str) -> None:
        flip_a_byte(self.s3_client(), key_of(namespace, oid))

    def assert_nothing_left(self) -> None:
        self.assertEqual(self.keys_in_bucket(), [])
        self.assertEqual(os.listdir(self.data_dir + "/.tmp"), [])


def stored_key(client: S3Client, key: str) -> str:
    """Where the bytes of the object named ``key`` are: the key itself
    (stored whole) or the body its ``.ref`` names (streamed)."""
    response = client.request("HEAD", key)
    response.release()
    if response.status == 200:
        return key
    response = client.request("GET", key + refs.SUFFIX)
    raw = response.read()
    response.release()
    return refs.decode(raw, key.rsplit("/", 1)[1], key).body


def flip_a_byte(client: S3Client, key: str) -> None:
    """Replace the object's bytes with the same bytes but one, in the middle
    (its block digests stay: the store now holds bytes that do not match)."""
    key = stored_key(client, key)
    response = client.request("GET", key)
    data = bytearray(response.read())
    response.release()
    data[len(data) // 2] ^= 0x01
    import hashlib

    client.request("PUT", key, body=bytes(data), payload_sha256=hashlib.sha256(data).hexdigest()).release()


class S3ContractTests(StorageContract, S3TestCase):
    """Streams of unknown length: stored whole under their id (spooled)."""

    def test_a_changed_byte_is_never_handed_out(self):
        for size in (1000, 3 * MIB + 17):
            with self.subTest(size=size):
                data = payload(size, seed=size)
                oid = self.put(data).info.oid
                self.corrupt(DEFAULT, oid)
                got = bytearray()
                with self.assertRaises(Exception) as caught:
                    with self.backend.open(DEFAULT, oid) as obj:
                        obj.preflight()
                        for piece in obj.chunks():
                            got += piece
                self.assertEqual(type(caught.exception).__name__, "CorruptObject")
                self.assertLess(len(got), size)
                self.assertEqual(bytes(got), data[:len(got)])  # what left before the cut was right

    def test_objects_stored_whole_with_a_block_record_go_on_one_kept_connection(self):
        """The block record's answer let its connection go back to the pool
        (it was left open for the collector to close: one new connection,
        and a socket left unclosed, per object)."""
        import http.client
        from unittest import mock

        self.put(payload(10, seed=9))  # the pool's connection made
        with mock.patch.object(http.client.HTTPConnection, "connect", autospec=True,
                               side_effect=http.client.HTTPConnection.connect) as connect:
            for seed in range(4):
                self.put(payload(MIB, seed=seed))
        self.assertEqual(connect.call_count, 0)

    def test_a_range_reads_only_the_blocks_it_needs(self):
        data = payload(2 * MIB, seed=3)
        oid = self.put(data).info.oid
        with self.backend.open(DEFAULT, oid) as obj:
            self.assertEqual(b"".join(obj.chunks(MIB + 5, MIB + 700_000)), data[MIB + 5:MIB + 700_000])


class S3StreamedContractTests(S3ContractTests):
    """The same contract with streams that tell their length, as a request
    with Content-Length does: over one block, streamed to a body and named
    by a record."""

    sized = True


class S3ServerCase(SeaweedMixin, ServerCase):
    config_overrides = {"backend": "s3"}

    def make_backend(self, config):
        return S3Backend(self.s3_client(), config.data_dir, config.max_size)

    def corrupt_object(self, oid: str) -> None:
        flip_a_byte(self.s3_client(), key_of(DEFAULT, oid))

    def stored_objects(self):
        return self.keys_in_bucket()


class S3FilesTests(FilesContract, S3ServerCase):
    checked_before_headers = 512 * 1024  # objects of one block are read whole before the headers


class S3LimitTests(LimitContract, S3ServerCase):
    pass


class S3DataTests(DataContract, S3ServerCase):
    pass


class S3ShareTests(ShareContract, S3ServerCase):
    pass


class HostileStoreTests(ServerCase):
    """A store that answers nonsense: 503, never a 500 or a traceback, and
    never more read than it announced."""

    config_overrides = {"backend": "s3"}
    size_header = "5"
    listing = b"<not xml"

    def make_backend(self, config):
        from http.server import BaseHTTPRequestHandler

        case = self
        case.sent = 0

        class Store(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_HEAD(self):
                self.send_response(200)
                self.send_header("Content-Length", case.size_header)
                self.end_headers()

            def do_GET(self):
                if self.path.startswith("/b?"):  # a listing
                    self.send_response(200)
                    self.send_header("Content-Length", str(len(case.listing)))
                    self.end_headers()
                    self.wfile.write(case.listing)
                    return
                self.send_response(200)
                self.send_header("Content-Length", str(300 * 1024 * 1024))
                self.end_headers()
                try:
                    for _ in range(300):
                        self.wfile.write(b"x" * 1024 * 1024)
                        case.sent += 1
                except OSError:
                    pass

            def log_message(self, *args):
                pass

        store = serve_in_thread(self, Store)
        return S3Backend(S3Client("http://127.0.0.1:%d" % store.server_address[1], "b", "us-east-1", "k", "s"),
                         config.data_dir, config.max_size)

    def test_nonsense_is_503_and_never_read_past_what_was_announced(self):
        oid = "0" * 64
        with self.assertLogs("filestoraged", "ERROR"):
            reply = self.request("GET", "/files/" + oid)
        self.assertEqual(reply.status, 503, reply)
        self.assertLess(self.sent, 100)  # the 300 MiB were not read (the socket buffers took a few)
        with self.assertLogs("filestoraged", "ERROR"):
            self.assertEqual(self.request("GET", "/data/photos").status, 503)
        self.size_header = "five"
        with self.assertLogs("filestoraged", "ERROR"):
            self.assertEqual(self.request("GET", "/files/" + oid).status, 503)


class StoreDownTests(ServerCase):
    """A store that does not answer: uploads are 503 with Retry-After after
    the retries, and nothing is left behind."""

    config_overrides = {"backend": "s3"}

    def make_backend(self, config):
        with socket.socket() as probe:  # a port where nothing listens
            probe.bind(("127.0.0.1", 0))
            port = probe.getsockname()[1]
        return S3Backend(S3Client("http://127.0.0.1:%d" % port, "b", "us-east-1", "k", "s"),
                         config.data_dir, config.max_size)

    def test_uploads_are_503_with_retry_after_and_leave_nothing(self):
        reply = self.request("POST", "/files", payload(2 * MIB, seed=1))
        self.assertEqual(reply.status, 503, reply)
        self.assertEqual(reply.json()["error"], "unavailable")
        self.assertEqual(reply.headers["Retry-After"], "5")
        self.assertEqual(os.listdir(self.data_dir + "/.tmp"), [])
        self.assertEqual(self.request("GET", "/files/" + "0" * 64).status, 503)
        self.assertEqual(self.request("GET", "/healthz").status, 503)


class ThreeDaemonsTests(SeaweedMixin, unittest.TestCase):
    """Three daemons (each its own data directory) over one bucket."""

    def setUp(self) -> None:
        super().setUp()
        self.daemons = []
        for _ in range(3):
            case = _Daemon(self.store, self.bucket)
            self.addCleanup(case.close)
            self.daemons.append(case)

    def test_same_content_from_three_daemons_at_once_is_one_object(self):
        data = payload(3 * MIB, seed=7)
        with ThreadPoolExecutor(6) as pool:
            replies = list(pool.map(lambda i: self.daemons[i % 3].call("POST", "/files", data), range(6)))
        self.assertEqual({status for status, _ in replies}, {200}, [body[:300] for _, body in replies])
        self.assertEqual({json.loads(body)["hash"] for _, body in replies}, {sha256(data)})
        # one object: the record naming one body (the other uploads removed theirs)
        stored = sorted(self.keys_in_bucket())
        self.assertEqual(len(stored), 2, stored)
        self.assertTrue(stored[0].startswith(refs.BODIES), stored)
        self.assertEqual(stored[1], key_of(DEFAULT, sha256(data)) + refs.SUFFIX)
        for daemon in self.daemons:  # any daemon reads it, writer or not
            self.assertEqual(daemon.call("GET", "/files/" + sha256(data)), (200, data))

    def test_a_delete_in_one_daemon_is_seen_by_the_others(self):
        data = b"written by the first"
        oid = json.loads(self.daemons[0].call("PUT", "/data/repo", data)[1])["oid"]
        self.assertEqual(self.daemons[1].call("GET", "/data/repo/" + oid), (200, data))
        self.assertEqual(self.daemons[2].call("DELETE", "/data/repo/" + oid)[0], 200)
        self.assertEqual(self.daemons[1].call("GET", "/data/repo/" + oid)[0], 404)
        self.assertEqual(self.daemons[0].call("GET", "/data/repo")[1], b"[]\n")
        self.assertEqual(self.keys_in_bucket(), [])

    def test_concurrent_uploads_and_deletes_leave_whole_objects_or_none(self):
        datas = [payload(MIB + i, seed=i) for i in range(6)]

        def work(index):
            daemon = self.daemons[index % 3]
            status, body = daemon.call("POST", "/files", datas[index])
            self.assertEqual(status, 200, body[:300])
            if index % 2:
                self.daemons[(index + 1) % 3].call("DELETE", "/files/" + sha256(datas[index]))

        with ThreadPoolExecutor(6) as pool:
            list(pool.map(work, range(6)))
        for index, data in enumerate(datas):
            status, body = self.daemons[(index + 2) % 3].call("GET", "/files/" + sha256(data))
            self.assertEqual((status, body == data), (404, False) if index % 2 else (200, True))


class _Daemon:
    def __init__(self, store, bucket: str) -> None:
        import http.client

        from filestoraged.app import App
        from filestoraged.config import Config
        from filestoraged.web.server import FileStoreServer

        self.folder = tempfile.mkdtemp(prefix="fsd-s3d-")
        config = Config(port=0, data_dir=self.folder, backend="s3", s3_endpoint=store.endpoint, s3_bucket=bucket)
        self.app = App(config, backend=S3Backend(store.client(bucket), self.folder, config.max_size))
        self.server = FileStoreServer(self.app)
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()
        self._connect = lambda: http.client.HTTPConnection("127.0.0.1", self.server.server_address[1], timeout=30)

    def call(self, method: str, path: str, body=None):
        conn = self._connect()
        try:
            conn.request(method, path, body)
            response = conn.getresponse()
            return response.status, response.read()
        finally:
            conn.close()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()
        self.app.close()
        shutil.rmtree(self.folder, ignore_errors=True)


if __name__ == "__main__":
    unittest.main()


class ClusterFaultTests(ServerCase):
    """One volume server of two (replication 001) killed mid-load: reads go
    on, writes are 503 with Retry-After and leave nothing, and all is well
    once it is back."""

    config_overrides = {"backend": "s3"}

    @classmethod
    def setUpClass(cls) -> None:
        from ..seaweed_server import SeaweedCluster

        super().setUpClass()
        cls.cluster = SeaweedCluster()

    @classmethod
    def tearDownClass(cls) -> None:
        cls.cluster.stop()
        super().tearDownClass()

    def make_backend(self, config):
        # Short waits: this store takes 30 s to say 500 when a replica is
        # missing; the daemon gives up sooner and answers 503.
        self.client = self.cluster.client(timeout=3, retry_window=2)
        return S3Backend(self.client, config.data_dir, config.max_size)

    def keys(self):
        import xml.etree.ElementTree as ElementTree

        response = self.client.request("GET", "", query={"list-type": "2"})
        root = ElementTree.fromstring(response.read())
        response.release()
        return sorted(e.text for e in root.iter() if e.tag.endswith("}Key"))

    def test_a_volume_server_dies_mid_load(self):
        stored = {}
        for seed in range(4):
            data = payload(MIB + seed * 1000, seed=seed)
            self.assertEqual(self.request("POST", "/files", data).status, 200)
            stored[sha256(data)] = data
        failures, reads = [], [0]
        done = threading.Event()

        def read_on():
            import http.client

            while not done.is_set():
                for oid, data in stored.items():
                    conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=60)
                    conn.request("GET", "/files/" + oid)
                    response = conn.getresponse()
                    body = response.read()
                    conn.close()
                    if (response.status, body) != (200, data):
                        failures.append(response.status)
                    reads[0] += 1

        with Threads(120) as reader:
            reader.start(read_on)
            try:
                self.kill_a_volume_server_under(reads)
            finally:
                done.set()
        self.assertEqual(failures, [])
        self.cluster.start_volume(1)
        wait_until(lambda: self.request("POST", "/files", payload(2 * MIB, seed=99)).status == 200,
                   "writes work again once it is back", timeout=60)
        for oid, data in stored.items():
            self.assertEqual(self.request("GET", "/files/" + oid).body, data)

    def kill_a_volume_server_under(self, reads) -> None:
        """Kill a volume server while ``reads`` count reads flowing; a write then is a clean 503."""
        wait_until(lambda: reads[0] >= 8, "reads flow")
        self.cluster.kill("volume1")
        before = reads[0]
        wait_until(lambda: reads[0] >= before + 8, "reads go on without the volume server")
        keys_before = self.keys()
        reply = self.request("POST", "/files", payload(2 * MIB, seed=99))
        self.assertEqual(reply.status, 503, reply)
        self.assertIn("Retry-After", reply.headers)
        self.assertEqual(self.keys(), keys_before)  # nothing partial in the store ...
        self.assertEqual(os.listdir(os.path.join(self.data_dir, ".tmp")), [])  # ... nor here


class MisconfiguredCase(SeaweedMixin, ServerCase):
    """A daemon whose S3 settings are wrong: 503 and a health check that
    says so, never a 200 made of the store's error page."""

    config_overrides = {"backend": "s3"}

    def make_backend(self, config):
        from ..seaweed_server import ACCESS_KEY, SECRET_KEY

        bucket, secret = self.settings(self.bucket, SECRET_KEY)
        client = S3Client(self.store.endpoint, bucket, "us-east-1", ACCESS_KEY, secret)
        self.addCleanup(client.close)
        return S3Backend(client, config.data_dir, config.max_size)


class WrongCredentialsTests(MisconfiguredCase):
    def settings(self, bucket: str, secret: str) -> tuple:
        return bucket, "not-the-secret"

    def test_everything_is_503(self):
        self.assertEqual(self.request("GET", "/files/" + "0" * 64).status, 503)
        self.assertEqual(self.request("POST", "/files", b"data").status, 503)
        self.assertEqual(self.request("GET", "/healthz").status, 503)


class MissingBucketTests(MisconfiguredCase):
    def settings(self, bucket: str, secret: str) -> tuple:
        return "no-such-bucket", secret

    def test_a_missing_bucket_is_unhealthy(self):
        reply = self.request("GET", "/healthz")
        self.assertEqual(reply.status, 503)
        self.assertIn("no-such-bucket", reply.json()["message"])


class StoreConnectionTests(unittest.TestCase):
    """The client's pooled connections and its health probe, against stand-in
    stores on loopback: one that drops every connection after its answer
    (as a restarted store has dropped the pool's), one that never answers."""

    def test_a_request_on_a_dropped_pooled_connection_goes_on_at_once_on_a_fresh_one(self):
        class DropsAfterEachAnswer(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_GET(self):
                self.send_response(200)
                self.send_header("Content-Length", "2")
                self.end_headers()
                self.wfile.write(b"ok")
                self.close_connection = True  # without saying so: the client keeps it, stale

            def log_message(self, *args):
                pass

        server = serve_in_thread(self, DropsAfterEachAnswer)
        client = S3Client("http://127.0.0.1:%d" % server.server_address[1], "b", "us-east-1", "k", "s")
        self.addCleanup(client.close)
        first = client.request("GET", "x")
        self.assertEqual(first.read(), b"ok")
        first.release()  # its connection is pooled, and dropped by the store
        slept = []
        with mock.patch("filestoraged.storage.s3.client.time.sleep", side_effect=slept.append):
            for _ in range(3):
                response = client.request("GET", "x")
                self.assertEqual((response.status, response.read()), (200, b"ok"))
                response.release()
        self.assertEqual(slept, [])  # no retry waited: the fresh connection answered

    def test_a_hung_store_reads_as_down_within_the_health_timeout(self):
        listener = socket.create_server(("127.0.0.1", 0))  # accepts (the backlog), never answers
        self.addCleanup(listener.close)
        client = S3Client("http://127.0.0.1:%d" % listener.getsockname()[1], "b", "us-east-1", "k", "s")
        self.addCleanup(client.close)
        backend = S3Backend.__new__(S3Backend)
        backend.client = client
        started = time.monotonic()
        with self.assertRaises(BackendUnavailable):
            backend.check()
        self.assertLess(time.monotonic() - started, 10)  # not the 30 s read timeout, nor its retries
