"""A bucket's quota across two daemons over one S3 store (``--backend s3``,
a SeaweedFS bucket), their records in the bucket (``--records s3``) or in
PostgreSQL: 32 uploads at once through S3 PUT, multipart, ``/data`` and
WebDAV, spread over both daemons, never take the bucket past its quota
(what the records count, sampled while they run); every upload answered
2xx reads back through the other daemon, every refused one left nothing;
the count is what the bucket stores (a listing counts the same); a body
longer than the room left is refused before it is sent, and a delete
through one daemon gives room back to the other at once."""

from __future__ import annotations

import hashlib
import itertools
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import unittest
from concurrent.futures import ThreadPoolExecutor
from typing import Callable, List, Tuple

from filestoraged.holds.ledger import OWNER_LEDGERS, Ledger

from ..postgres_server import class_database
from ..s3api_support import boto3_or_skip, daemon_client
from ..seaweed_server import ACCESS_KEY, SECRET_KEY, shared_records, shared_store
from ..support import ROOT, Daemon, exchange, free_port, kept_and_refused, sampled_while

ENV = {"AWS_ACCESS_KEY_ID": ACCESS_KEY, "AWS_SECRET_ACCESS_KEY": SECRET_KEY}
KIB = 1024
QUOTA = 2 * 1024 * KIB
BODY = 200 * KIB  # ten fit, eleven do not
FACES = ["s3", "data", "webdav", "multipart"]
_buckets = itertools.count(1)


class ClusterQuotaTests(unittest.TestCase):
    @classmethod
    def setUpClass(cls) -> None:
        boto3_or_skip(cls)
        cls.shared = shared_store(cls, cls.records())
        cls.cli_dir = tempfile.mkdtemp(prefix="fsd-cli-")
        cls.addClassCleanup(shutil.rmtree, cls.cli_dir, True)
        cls.daemons: List[Tuple[Daemon, int]] = [cls.start_daemon() for _ in range(2)]
        pairs = dict(line.split("=", 1) for line in cls.cli("token", "create", "--scope", "admin", "--name", "s3",
                                                            "--s3").splitlines() if "=" in line)
        cls.key_pair = pairs["AWS_ACCESS_KEY_ID"], pairs["AWS_SECRET_ACCESS_KEY"]
        cls.secret = cls.cli("token", "create", "--scope", "admin", "--name", "http").strip()
        cls.records_open = shared_records(cls, cls.cli_dir, cls.shared)
        cls.ledger = Ledger(cls.records_open)

    @classmethod
    def records(cls) -> str:
        return "s3"

    @classmethod
    def start_daemon(cls) -> Tuple[Daemon, int]:
        folder = tempfile.mkdtemp(prefix="fsd-quota-cluster-")
        cls.addClassCleanup(shutil.rmtree, folder, True)
        s3_port = free_port()
        daemon = Daemon(folder, *cls.shared, "--s3-api", "127.0.0.1:%d" % s3_port, "--auth", "writes",
                        "--workers", "1", env=ENV).start()
        cls.addClassCleanup(daemon.stop)
        return daemon, s3_port

    @classmethod
    def cli(cls, *words: str) -> str:
        done = subprocess.run([sys.executable, "-m", "filestoraged", *words, "--data-dir", cls.cli_dir, *cls.shared],
                              capture_output=True, text=True, timeout=120, env=dict(os.environ, PYTHONPATH=ROOT, **ENV))
        if done.returncode != 0:
            raise AssertionError(done.stderr)
        return done.stdout

    def client(self, number: int):
        return daemon_client(self, self.daemons[number % 2][1], self.key_pair)

    def setUp(self) -> None:
        self.name = "quota-%d" % next(_buckets)  # (a bucket of its own: the class shares one store)
        self.client(0).create_bucket(Bucket=self.name)
        said = self.cli("bucket", "quota", self.name, "2M")
        self.assertIn("quota 2097152 bytes, 0 stored", said)

    def upload(self, number: int, body: bytes, bucket: str) -> Tuple[str, int]:
        """One upload into ``bucket`` through face ``number % 4`` of daemon
        ``number % 2``; (its key or id, the status)."""
        import botocore.exceptions

        face, key = FACES[number % 4], "f%03d" % number
        port = self.daemons[number % 2][0].port
        bearer = {"Authorization": "Bearer " + self.secret}
        if face == "data":
            return hashlib.sha256(body).hexdigest(), exchange(port, "PUT", "/data/" + bucket, body, bearer,
                                                              timeout=60)[0]
        if face == "webdav":
            return key, exchange(port, "PUT", "/dav/%s/%s" % (bucket, key), body, bearer, timeout=60)[0]
        client = self.client(number)
        try:
            if face == "s3":
                client.put_object(Bucket=bucket, Key=key, Body=body)
                return key, 200
            upload_id = client.create_multipart_upload(Bucket=bucket, Key=key)["UploadId"]
            try:
                etag = client.upload_part(Bucket=bucket, Key=key, UploadId=upload_id, PartNumber=1,
                                          Body=body)["ETag"]
                client.complete_multipart_upload(Bucket=bucket, Key=key, UploadId=upload_id, MultipartUpload={
                    "Parts": [{"PartNumber": 1, "ETag": etag}]})
            except botocore.exceptions.ClientError:
                client.abort_multipart_upload(Bucket=bucket, Key=key, UploadId=upload_id)
                raise
            return key, 200
        except botocore.exceptions.ClientError as error:
            return key, int(error.response["ResponseMetadata"]["HTTPStatusCode"])

    def read(self, number: int, name: str, bucket: str) -> bytes:
        """What upload ``number`` stored, read through the other daemon."""
        port = self.daemons[(number + 1) % 2][0].port
        if FACES[number % 4] == "data":
            status, body = exchange(port, "GET", "/data/%s/%s" % (bucket, name), timeout=60)
        else:
            status, body = exchange(port, "GET", "/dav/%s/%s" % (bucket, name), timeout=60)
        self.assertEqual(status, 200)
        return body

    def uploads_at_once(self, buckets: List[str], total: Callable[[], int]) -> List[int]:
        """32 uploads at once through four faces and both daemons, into
        ``buckets`` in turn, while ``total()`` (what the records count
        against the quota) is sampled: never above ``QUOTA``. Every upload
        answered 2xx reads back through the other daemon, every refused
        one was a 507 and left nothing. The numbers of those kept."""
        bodies = [os.urandom(BODY) for _ in range(32)]
        into = [buckets[n // 4 % len(buckets)] for n in range(32)]

        def uploads() -> List[Tuple[str, int]]:
            with ThreadPoolExecutor(32) as pool:
                return list(pool.map(lambda n: self.upload(n, bodies[n], into[n]), range(32)))

        outcomes, samples = sampled_while(total, uploads)
        self.assertTrue(samples)
        self.assertLessEqual(max(samples), QUOTA)
        kept, refused = kept_and_refused(self, outcomes)
        # (a multipart completion copies its part, which counts until it is done: near the quota it may be refused)
        self.assertGreaterEqual(len(kept), 6, outcomes)
        self.assertLessEqual(len(kept), 10)
        for n in kept:
            self.assertEqual(hashlib.sha256(self.read(n, outcomes[n][0], into[n])).digest(),
                             hashlib.sha256(bodies[n]).digest())
        for n in refused:
            for daemon, _ in self.daemons:
                self.assertEqual(exchange(daemon.port, "GET", "/data/%s/%s" % (
                    into[n], hashlib.sha256(bodies[n]).hexdigest()))[0], 404)
        return kept

    def test_32_uploads_at_once_through_four_faces_and_two_daemons_never_pass_the_quota(self):
        kept = self.uploads_at_once([self.name], lambda: sum(self.ledger.count(self.name)))
        self.assertEqual(self.ledger.count(self.name), (len(kept) * BODY, 0))
        said = self.cli("bucket", "quota", self.name, "2M")  # counted afresh from a listing: the same
        self.assertIn("quota 2097152 bytes, %d stored" % (len(kept) * BODY), said)
        usage = self.cli("bucket", "usage", self.name).splitlines()
        self.assertEqual(usage[1].split("\t"), [self.name, str(len(kept) * BODY), "0", str(QUOTA), "s3"])

    def test_a_long_body_is_refused_before_it_is_sent_and_a_delete_through_one_daemon_frees_room_on_the_other(self):
        first, second = self.daemons
        bearer = "Authorization: Bearer %s\r\n" % self.secret
        kept = os.urandom(QUOTA - 100 * KIB)
        self.assertEqual(exchange(first[0].port, "PUT", "/dav/%s/big" % self.name, kept,
                                  {"Authorization": "Bearer " + self.secret}, timeout=60)[0], 201)
        with socket.create_connection(("127.0.0.1", second[0].port), timeout=10) as conn:
            conn.sendall(b"PUT /dav/%s/more HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: %d\r\n%s"
                         b"Expect: 100-continue\r\n\r\n" % (self.name.encode(), 200 * KIB, bearer.encode()))
            answer = conn.recv(65536)
        self.assertTrue(answer.startswith(b"HTTP/1.1 507 "), answer[:300])
        self.assertIn(b"quota of 2097152 bytes", answer)
        self.assertEqual(self.ledger.count(self.name), (len(kept), 0))
        self.assertEqual(exchange(second[0].port, "DELETE", "/dav/%s/big" % self.name, b"",
                                  {"Authorization": "Bearer " + self.secret})[0], 204)
        self.assertEqual(self.ledger.count(self.name), (0, 0))  # at once: a bucket with a quota frees now
        self.assertEqual(exchange(first[0].port, "PUT", "/dav/%s/more" % self.name, os.urandom(200 * KIB),
                                  {"Authorization": "Bearer " + self.secret}, timeout=60)[0], 201)


    def test_an_owners_quota_holds_over_two_buckets_through_both_daemons(self):
        mine = [self.name, self.name + "-more"]
        self.client(1).create_bucket(Bucket=mine[1])
        self.cli("bucket", "quota", self.name, "none")
        for bucket in mine:
            self.assertIn("owned by ana", self.cli("bucket", "owner", bucket, "ana"))
        self.cli("bucket", "owner-quota", "ana", "2M")
        owners = Ledger(self.records_open, OWNER_LEDGERS)
        kept = self.uploads_at_once(mine, lambda: sum(owners.count("ana")))
        self.assertEqual(owners.count("ana"), (len(kept) * BODY, 0))
        listed = self.cli("bucket", "owners").splitlines()
        self.assertIn("\t".join(["ana", str(len(kept) * BODY), "0", str(QUOTA), ",".join(sorted(mine))]), listed)
        self.assertIn("owned by bob", self.cli("bucket", "owner", mine[1], "bob"))  # its bytes leave ana's count
        self.assertEqual(owners.count("ana")[0], self.stored_in(mine[0]))
        self.assertLess(owners.count("ana")[0], len(kept) * BODY)

    def stored_in(self, bucket: str) -> int:
        """What ``bucket`` stores, as ``bucket quota`` counts it from a listing (its quota then removed)."""
        said = self.cli("bucket", "quota", bucket, "1T")
        self.cli("bucket", "quota", bucket, "none")
        return int(said.rsplit(", ", 1)[1].split()[0])


class ClusterQuotaOverDatabaseTests(ClusterQuotaTests):
    @classmethod
    def records(cls) -> str:
        return class_database(cls)


if __name__ == "__main__":
    unittest.main()
