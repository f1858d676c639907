"""Streamed uploads to S3 (a body of known length sent on as it arrives,
then a record naming it): what the store holds, what a failure leaves, and
two daemons' views of one object deleted and stored again."""

from __future__ import annotations

import hashlib
import os
import shutil
import tempfile
import unittest

from filestoraged.errors import BadRequest
from filestoraged.storage.names import DEFAULT
from filestoraged.storage.s3 import refs, streamed
from filestoraged.storage.s3.backend import S3Backend, key_of
from filestoraged.storage.s3.client import S3Client
from filestoraged.storage.s3.responses import S3Error

from ..seaweed_server import ACCESS_KEY, SECRET_KEY, SeaweedMixin
from ..storage_contract import SizedStream
from ..support import MIB, CuttingProxy, payload, serve_in_thread, sha256, wait_until


class ShortStream(SizedStream):
    """Says it is ``claimed`` bytes long, then hangs up after fewer."""

    def __init__(self, data: bytes, claimed: int) -> None:
        super().__init__(data)
        self._claimed = claimed

    @property
    def left(self) -> int:
        return self._claimed - self.tell()

    def readinto(self, buffer) -> int:
        count = super().readinto(buffer)
        if not count:
            raise ConnectionResetError("client went away")
        return count


class StreamedTests(SeaweedMixin, unittest.TestCase):
    def setUp(self) -> None:
        super().setUp()
        self.backend = self.backend_on(self.s3_client())

    def backend_on(self, client: S3Client) -> S3Backend:
        data_dir = tempfile.mkdtemp(prefix="fsd-s3-")
        self.addCleanup(shutil.rmtree, data_dir, True)
        backend = S3Backend(client, data_dir, 64 * MIB)
        self.addCleanup(backend.close)
        return backend

    def read(self, backend: S3Backend, oid: str) -> bytes:
        with backend.open(DEFAULT, oid) as obj:
            return obj.read_all()

    def assert_nothing_left(self, backend: S3Backend) -> None:
        self.assertEqual(self.keys_in_bucket(), [])
        self.assertEqual(os.listdir(backend.tmp_dir), [])

    def test_a_body_of_known_length_is_a_body_and_a_record(self):
        data = payload(3 * MIB + 5, seed=1)
        result = self.backend.put(DEFAULT, SizedStream(data), "text/csv")
        self.assertTrue(result.created)
        keys = self.keys_in_bucket()
        self.assertEqual(len(keys), 2, keys)
        self.assertTrue(keys[0].startswith(refs.BODIES))
        self.assertEqual(keys[1], key_of(DEFAULT, sha256(data)) + refs.SUFFIX)
        self.assertEqual(self.read(self.backend, sha256(data)), data)
        info = self.backend.stat(DEFAULT, sha256(data))
        self.assertEqual((info.size, info.content_type), (len(data), "text/csv"))
        self.assertEqual(os.listdir(self.backend.tmp_dir), [])

    def test_a_client_that_hangs_up_midway_leaves_nothing(self):
        with self.assertRaises(ConnectionResetError):
            self.backend.put(DEFAULT, ShortStream(payload(2 * MIB, seed=2), 5 * MIB))
        self.assert_nothing_left(self.backend)

    def test_a_body_shorter_than_it_said_is_a_bad_request_and_leaves_nothing(self):
        class Ends(SizedStream):
            @property
            def left(self) -> int:
                return 5 * MIB - self.tell()

        with self.assertRaises(BadRequest):
            self.backend.put(DEFAULT, Ends(payload(2 * MIB, seed=2)))
        self.assert_nothing_left(self.backend)

    def test_the_store_refuses_a_body_whose_trailer_is_not_its_sha256(self):
        class Lying(streamed.StreamedBody):
            @property
            def sha256(self):
                return hashlib.sha256(b"something else")

        data = payload(2 * MIB, seed=3)
        with tempfile.TemporaryFile() as spool, self.assertLogs("filestoraged", "ERROR"):
            body = Lying(SizedStream(data), len(data), spool)
            with self.assertRaises(S3Error):
                self.s3_client().request("PUT", refs.new_body_key(), headers=body.headers(), body=body,
                                         payload_sha256=streamed.PAYLOAD)
        self.assertEqual(self.keys_in_bucket(), [])

    def test_the_same_bytes_whole_and_streamed_are_one_object(self):
        data = payload(2 * MIB, seed=4)
        self.assertTrue(self.backend.put(DEFAULT, SizedStream(data)).created)
        import io
        self.assertFalse(self.backend.put(DEFAULT, io.BytesIO(data)).created)  # whole: sees the record
        self.assertFalse(self.backend.put(DEFAULT, SizedStream(data)).created)  # streamed: removes its body
        self.assertEqual(len(self.keys_in_bucket()), 2)
        self.assertEqual([i.oid for i in self.backend.list(DEFAULT)], [sha256(data)])
        self.assertEqual(self.backend.list(DEFAULT)[0].size, len(data))
        self.backend.delete(DEFAULT, sha256(data))
        self.assertEqual(self.keys_in_bucket(), [])

    def test_a_listing_gives_each_objects_size_in_id_order(self):
        sizes = [MIB + 1, 100, 2 * MIB + 3, 700_000]
        datas = [payload(size, seed=size) for size in sizes]
        for data in datas:
            self.backend.put(DEFAULT, SizedStream(data))
        listed = self.backend.list(DEFAULT)
        self.assertEqual([(i.oid, i.size) for i in listed], sorted((sha256(d), len(d)) for d in datas))
        first = sorted(sha256(d) for d in datas)[0]
        self.assertEqual([i.oid for i in self.backend.list(DEFAULT, after=first, limit=2)],
                         sorted(sha256(d) for d in datas)[1:3])

    def test_deleted_and_stored_again_through_another_daemon_reads_right(self):
        other = self.backend_on(self.s3_client())
        data = payload(2 * MIB, seed=5)
        oid = self.backend.put(DEFAULT, SizedStream(data)).info.oid
        self.assertEqual(self.read(self.backend, oid), data)  # this daemon now knows the record
        other.delete(DEFAULT, oid)
        other.put(DEFAULT, SizedStream(data))  # the same name, another body
        self.assertEqual(self.read(self.backend, oid), data)
        other.delete(DEFAULT, oid)
        with self.assertRaises(Exception) as caught:
            self.backend.stat(DEFAULT, oid)
        self.assertEqual(type(caught.exception).__name__, "NotFound")

    def test_a_store_that_drops_the_first_try_gets_the_spooled_bytes(self):
        # The first streamed body's PUT is cut after 1 MiB, as a store that
        # fails mid-upload (the store's small probes never reach 1 MiB).
        body_put = b"/" + refs.BODIES.encode()
        proxy = CuttingProxy(self.store.port, MIB, nth=None,
                             matches=lambda data: data.startswith(b"PUT ") and body_put in data[:200])
        self.addCleanup(proxy.close)
        client = S3Client("http://127.0.0.1:%d" % proxy.port, self.bucket, "us-east-1", ACCESS_KEY, SECRET_KEY)
        backend = self.backend_on(client)
        data = payload(4 * MIB, seed=6)
        result = backend.put(DEFAULT, SizedStream(data))
        self.assertEqual(proxy.cuts, 1)
        self.assertTrue(result.created)
        self.assertEqual(self.read(self.backend, result.info.oid), data)
        wait_until(lambda: len(self.keys_in_bucket()) == 2, "only the record and one body left")


class TrailerBlindStoreTests(unittest.TestCase):
    """A store that keeps whatever it is sent, trailer or not: uploads of
    known length must then be stored whole, with the checksum it does check."""

    def setUp(self) -> None:
        from http.server import BaseHTTPRequestHandler

        seen = self.seen = []

        class Store(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def answer(self, status: int) -> None:
                self.send_response(status)
                self.send_header("Content-Length", "0")
                self.send_header("ETag", '"e"')
                self.end_headers()

            def do_PUT(self):
                self.rfile.read(int(self.headers["Content-Length"]))
                seen.append(("PUT", self.path, dict(self.headers)))
                self.answer(200)

            def do_HEAD(self):
                self.answer(404)

            def do_DELETE(self):
                self.answer(204)

            def log_message(self, *args):
                pass

        store = serve_in_thread(self, Store)
        data_dir = tempfile.mkdtemp(prefix="fsd-s3-")
        self.addCleanup(shutil.rmtree, data_dir, True)
        client = S3Client("http://127.0.0.1:%d" % store.server_address[1], "b", "us-east-1", "k", "s")
        self.backend = S3Backend(client, data_dir, 64 * MIB)
        self.addCleanup(self.backend.close)

    def test_uploads_are_stored_whole_when_the_store_does_not_check_trailers(self):
        data = payload(2 * MIB, seed=7)
        with self.assertLogs("filestoraged.storage.s3", "WARNING") as said:
            self.assertTrue(self.backend.put(DEFAULT, SizedStream(data)).created)
        self.assertIn("trailer is wrong", "\n".join(said.output))
        self.backend.put(DEFAULT, SizedStream(payload(2 * MIB, seed=8)))  # asked once, not again
        chunked = [path for _, path, headers in self.seen if headers.get("Content-Encoding") == "aws-chunked"]
        self.assertEqual(len(chunked), 1, chunked)  # the probe with the wrong trailer, nothing else
        puts = {path: headers for _, path, headers in self.seen}
        stored = puts["/b/" + key_of(DEFAULT, sha256(data))]
        self.assertEqual(stored["x-amz-content-sha256"], sha256(data))
        self.assertIn("x-amz-checksum-sha256", stored)


if __name__ == "__main__":
    unittest.main()
