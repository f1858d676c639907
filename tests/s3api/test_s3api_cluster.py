"""The S3 API across daemons: three daemons (processes of their own,
``--records s3`` over one SeaweedFS bucket, or ``--records
postgresql://`` over one database, one ``--s3-key-file``) behind
a real nginx running docs/s3.md's balancer block (round robin, no
pinning). A key put through one is listed and read through the others; a
multipart upload's parts land on every daemon, one of them killed midway;
concurrent PUTs of one key leave one of them, whole, for everyone."""

from __future__ import annotations

import hashlib
import os
import re
import shutil
import subprocess
import sys
import tempfile
import threading
import unittest
from datetime import datetime, timezone
from typing import Dict, List, Optional, Tuple

from ..nginx_server import Nginx, documented_block, needs_nginx
from ..postgres_server import class_database
from ..s3api_support import REGION, boto3_or_skip
from ..seaweed_server import ACCESS_KEY, SECRET_KEY, shared_store
from ..support import MIB, ROOT, Daemon, free_port, payload, sha256

ENV = {"AWS_ACCESS_KEY_ID": ACCESS_KEY, "AWS_SECRET_ACCESS_KEY": SECRET_KEY}


def s3_balancer_block(ports: List[int]) -> str:
    """docs/s3.md's upstream and server blocks, pointed at the daemons' S3
    ports on loopback (and listening on ``{port}``)."""
    block = documented_block("docs/s3.md", r"```nginx\n(upstream filestoraged_s3 \{.*?\n\})\n```")
    servers = iter(ports)
    block = re.sub(r"10\.0\.0\.\d:9000", lambda _: "127.0.0.1:%d" % next(servers), block)
    return block.replace("listen 80;", "listen 127.0.0.1:{port};")


class S3ClusterTests(unittest.TestCase):
    @classmethod
    def setUpClass(cls) -> None:
        boto3_or_skip(cls)
        needs_nginx()
        cls.shared = shared_store(cls, cls.records())
        cls.ports: List[Tuple[int, int]] = [(free_port(), free_port()) for _ in range(3)]
        cls.daemons: List[Daemon] = [cls.start_daemon(index) for index in range(3)]
        cls.balancer = Nginx(s3_balancer_block([s3_port for _, s3_port in cls.ports]))
        cls.addClassCleanup(cls.balancer.stop)
        cls.key_pair = cls.make_key_pair()

    @classmethod
    def records(cls) -> str:
        """``--records``: the bucket's own."""
        return "s3"

    @classmethod
    def start_daemon(cls, index: int) -> Daemon:
        folder = tempfile.mkdtemp(prefix="fsd-s3-cluster-")
        cls.addClassCleanup(shutil.rmtree, folder, True)
        port, s3_port = cls.ports[index]
        daemon = Daemon(folder, *cls.shared, "--s3-api", "127.0.0.1:%d" % s3_port, "--auth", "writes",
                        "--trusted-proxy", "127.0.0.1", "--workers", "1", env=ENV, port=port).start()
        cls.addClassCleanup(daemon.stop)
        return daemon

    @classmethod
    def make_key_pair(cls) -> Tuple[str, str]:
        """A key pair made as docs/s3.md says, by another data directory over
        the same records and key file."""
        folder = tempfile.mkdtemp(prefix="fsd-cli-")
        cls.addClassCleanup(shutil.rmtree, folder, True)
        done = subprocess.run([sys.executable, "-m", "filestoraged", "token", "create", "--scope", "admin",
                               "--name", "s3-cluster", "--s3", "--data-dir", folder, *cls.shared],
                              capture_output=True, text=True, timeout=60,
                              env=dict(os.environ, PYTHONPATH=ROOT, **ENV))
        if done.returncode != 0:
            raise AssertionError(done.stderr)
        pairs = dict(line.split("=", 1) for line in done.stdout.splitlines() if "=" in line)
        return pairs["AWS_ACCESS_KEY_ID"], pairs["AWS_SECRET_ACCESS_KEY"]

    def client(self, port: Optional[int] = None):
        """boto3 on one daemon's S3 port, or (None) the balancer's."""
        boto3 = boto3_or_skip(self)
        from botocore.config import Config

        return boto3.client("s3", endpoint_url="http://127.0.0.1:%d" % (port or self.balancer.port),
                            region_name=REGION, aws_access_key_id=self.key_pair[0],
                            aws_secret_access_key=self.key_pair[1],
                            config=Config(s3={"addressing_style": "path"}, signature_version="s3v4",
                                          retries={"max_attempts": 1}))

    def direct(self) -> List:
        return [self.client(s3_port) for _, s3_port in self.ports]

    def bucket_named(self, name: str) -> str:
        self.client().create_bucket(Bucket=name)
        return name

    def test_a_put_through_one_is_listed_and_read_through_the_others(self):
        bucket = self.bucket_named("spread")
        first, second, third = self.direct()
        data = payload(3 * MIB + 5, seed=81)
        first.put_object(Bucket=bucket, Key="dir/one.bin", Body=data, Metadata={"who": "first"})
        for other in (second, third):
            listed = other.list_objects_v2(Bucket=bucket, Prefix="dir/")
            self.assertEqual([entry["Key"] for entry in listed["Contents"]], ["dir/one.bin"])
            got = other.get_object(Bucket=bucket, Key="dir/one.bin")
            self.assertEqual(sha256(got["Body"].read()), sha256(data))
            self.assertEqual(got["Metadata"], {"who": "first"})
        balanced = self.client()
        for _ in range(3):  # round robin: each daemon in turn
            got = balanced.get_object(Bucket=bucket, Key="dir/one.bin", Range="bytes=100-199")
            self.assertEqual(got["Body"].read(), data[100:200])
        third.delete_object(Bucket=bucket, Key="dir/one.bin")
        for client in (first, second):
            self.assertEqual(client.list_objects_v2(Bucket=bucket).get("KeyCount"), 0)

    def test_a_multipart_upload_goes_on_at_any_daemon(self):
        bucket = self.bucket_named("parts")
        clients = self.direct()
        parts = [payload(5 * MIB + number, seed=90 + number) for number in range(3)] + [b"the end"]
        upload = clients[0].create_multipart_upload(Bucket=bucket, Key="big.bin")["UploadId"]
        done = []
        for number, data in enumerate(parts, start=1):  # part n through daemon n % 3
            answer = clients[number % 3].upload_part(Bucket=bucket, Key="big.bin", UploadId=upload,
                                                     PartNumber=number, Body=data)
            done.append({"PartNumber": number, "ETag": answer["ETag"]})
        listed = clients[2].list_parts(Bucket=bucket, Key="big.bin", UploadId=upload)
        self.assertEqual([part["PartNumber"] for part in listed["Parts"]], [1, 2, 3, 4])
        clients[1].complete_multipart_upload(Bucket=bucket, Key="big.bin", UploadId=upload,
                                             MultipartUpload={"Parts": done})
        whole = b"".join(parts)
        for client in clients:
            got = client.get_object(Bucket=bucket, Key="big.bin")
            self.assertEqual(sha256(got["Body"].read()), sha256(whole))
            self.assertTrue(got["ETag"].endswith('-4"'), got["ETag"])

    def test_versions_and_a_compliance_lock_hold_on_every_daemon_and_across_a_restart(self):
        first, second, third = self.direct()
        first.create_bucket(Bucket="vault", ObjectLockEnabledForBucket=True)
        until = datetime(2030, 1, 1, tzinfo=timezone.utc)
        locked = first.put_object(Bucket="vault", Key="k", Body=b"the backup", ObjectLockMode="COMPLIANCE",
                                  ObjectLockRetainUntilDate=until)["VersionId"]
        newer = second.put_object(Bucket="vault", Key="k", Body=b"newer")["VersionId"]
        for client in (first, second, third):
            listed = client.list_object_versions(Bucket="vault")["Versions"]
            self.assertEqual([(v["VersionId"], v["IsLatest"]) for v in listed], [(newer, True), (locked, False)])
            with self.assertRaises(client.exceptions.ClientError) as refused:
                client.delete_object(Bucket="vault", Key="k", VersionId=locked, BypassGovernanceRetention=True)
            self.assertEqual(refused.exception.response["Error"]["Code"], "AccessDenied")
        self.daemons[2].stop()
        self.daemons[2].start()
        third = self.client(self.ports[2][1])
        with self.assertRaises(third.exceptions.ClientError) as refused:
            third.delete_object(Bucket="vault", Key="k", VersionId=locked)
        self.assertEqual(refused.exception.response["Error"]["Code"], "AccessDenied")
        got = third.get_object(Bucket="vault", Key="k", VersionId=locked)
        self.assertEqual((got["Body"].read(), got["ObjectLockMode"], got["ObjectLockRetainUntilDate"]),
                         (b"the backup", "COMPLIANCE", until))

    def test_a_daemon_killed_between_parts(self):
        bucket = self.bucket_named("killed")
        clients = self.direct()
        parts = [payload(5 * MIB, seed=101), payload(5 * MIB, seed=102), b"last"]
        upload = clients[2].create_multipart_upload(Bucket=bucket, Key="k.bin")["UploadId"]
        first = clients[2].upload_part(Bucket=bucket, Key="k.bin", UploadId=upload, PartNumber=1, Body=parts[0])
        self.daemons[2].kill()
        try:
            balanced = self.client()  # nginx passes the next requests to the two left
            second = balanced.upload_part(Bucket=bucket, Key="k.bin", UploadId=upload, PartNumber=2, Body=parts[1])
            third = balanced.upload_part(Bucket=bucket, Key="k.bin", UploadId=upload, PartNumber=3, Body=parts[2])
            balanced.complete_multipart_upload(Bucket=bucket, Key="k.bin", UploadId=upload, MultipartUpload={
                "Parts": [{"PartNumber": n, "ETag": answer["ETag"]}
                          for n, answer in enumerate((first, second, third), start=1)]})
            got = balanced.get_object(Bucket=bucket, Key="k.bin")["Body"].read()
            self.assertEqual(sha256(got), sha256(b"".join(parts)))
        finally:
            self.daemons[2] = self.start_daemon(2)
        self.assertEqual(sha256(clients[2].get_object(Bucket=bucket, Key="k.bin")["Body"].read()),
                         sha256(b"".join(parts)))

    def test_concurrent_puts_of_one_key_leave_one_whole(self):
        bucket = self.bucket_named("race")
        bodies = [payload(256 * 1024 + n, seed=200 + n) for n in range(20)]
        start = threading.Barrier(len(bodies))
        errors: List[BaseException] = []
        clients = [self.client() for _ in bodies]

        def put(index: int) -> None:
            try:
                start.wait(30)
                clients[index].put_object(Bucket=bucket, Key="contested", Body=bodies[index])
            except BaseException as error:  # reported below
                errors.append(error)

        threads = [threading.Thread(target=put, args=(index,)) for index in range(len(bodies))]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(120)
            self.assertFalse(thread.is_alive(), "a PUT did not end in time")
        self.assertEqual(errors, [])
        digests: Dict[str, bytes] = {hashlib.md5(body).hexdigest(): body for body in bodies}
        seen = set()
        for client in self.direct():
            got = client.get_object(Bucket=bucket, Key="contested")
            data = got["Body"].read()
            etag = got["ETag"].strip('"')
            self.assertIn(etag, digests)
            self.assertEqual(data, digests[etag])  # whole, and the one its ETag says
            seen.add(etag)
        self.assertEqual(len(seen), 1)
        listed = self.client().list_objects_v2(Bucket=bucket)["Contents"]
        self.assertEqual([(entry["Key"], entry["ETag"].strip('"')) for entry in listed],
                         [("contested", seen.pop())])


if __name__ == "__main__":
    unittest.main()


class S3ClusterOverDatabaseTests(S3ClusterTests):
    """The same three daemons with their records in PostgreSQL (the bytes in SeaweedFS)."""

    @classmethod
    def records(cls) -> str:
        return class_database(cls)
