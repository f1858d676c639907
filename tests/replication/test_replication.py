"""Replication to a second filestoraged (docs/replication.md): a source
daemon whose bucket copies its new versions to a target daemon's S3 API.
Versions written at once through S3 PUT, multipart and WebDAV while the
target is killed and started again twice and the source is killed
(SIGKILL) once: once the outbox is empty, every version the source keeps
is at the target once, with its bytes, its status at the source
``COMPLETED``; a delete at the source deletes nothing at the target. A
version's retention and legal hold kept at a target with object lock;
and SeaweedFS as the target."""

from __future__ import annotations

import datetime
import hashlib
import os
import shutil
import subprocess
import sys
import tempfile
import threading
import unittest
from typing import Dict, List, Tuple

from ..s3api_support import boto3_or_skip, daemon_client
from ..seaweed_server import ACCESS_KEY, SECRET_KEY, seaweed
from ..support import ROOT, Daemon, exchange, free_port, wait_for_port, wait_until

WRITERS = 8
# Versions written between two failures (FSD_REPLICATION_STEP=400 by hand: 2,000 in all, as docs/replication.md says).
STEP = int(os.environ.get("FSD_REPLICATION_STEP", "20"))


class ReplicationCase(unittest.TestCase):
    """A target daemon with a bucket ``copy`` that keeps versions, and a
    source daemon whose bucket ``photos`` (versioned) is copied there."""

    def setUp(self) -> None:
        boto3_or_skip(self)
        self.work = tempfile.mkdtemp(prefix="fsd-replication-")
        self.addCleanup(shutil.rmtree, self.work, True)
        self.target_s3 = free_port()
        self.target = self.daemon("target", self.target_s3)
        pairs = dict(line.split("=", 1) for line in self.cli("target", "token", "create", "--scope", "admin",
                                                              "--name", "replica", "--s3").splitlines() if "=" in line)
        self.credentials = os.path.join(self.work, "replica.env")
        with open(self.credentials, "w") as file:
            file.write("AWS_ACCESS_KEY_ID=%s\nAWS_SECRET_ACCESS_KEY=%s\n" % (pairs["AWS_ACCESS_KEY_ID"],
                                                                             pairs["AWS_SECRET_ACCESS_KEY"]))
        self.copies = self.boto(self.target_s3, (pairs["AWS_ACCESS_KEY_ID"], pairs["AWS_SECRET_ACCESS_KEY"]))
        self.copies.create_bucket(Bucket="copy")
        self.copies.put_bucket_versioning(Bucket="copy", VersioningConfiguration={"Status": "Enabled"})
        self.source_s3 = free_port()
        self.source = self.daemon("source", self.source_s3)
        self.s3 = self.boto(self.source_s3)
        self.s3.create_bucket(Bucket="photos")
        self.s3.put_bucket_versioning(Bucket="photos", VersioningConfiguration={"Status": "Enabled"})
        said = self.cli("source", "bucket", "replicate", "photos", "http://127.0.0.1:%d/copy" % self.target_s3,
                        self.credentials)
        self.assertIn("copied to http://127.0.0.1:%d/copy" % self.target_s3, said)

    def daemon(self, name: str, s3_port: int) -> Daemon:
        daemon = Daemon(os.path.join(self.work, name), "--s3-api", "127.0.0.1:%d" % s3_port,
                        "--workers", "2").start()
        self.addCleanup(daemon.stop)
        return daemon

    def cli(self, name: str, *words: str) -> str:
        done = subprocess.run([sys.executable, "-m", "filestoraged", *words, "--data-dir",
                               os.path.join(self.work, name)], capture_output=True, text=True, timeout=60,
                              env=dict(os.environ, PYTHONPATH=ROOT))
        self.assertEqual(done.returncode, 0, done.stderr)
        return done.stdout

    def boto(self, port: int, key_pair: Tuple[str, str] = ("anyone", "anything")):
        return daemon_client(self, port, key_pair)

    def backlog(self) -> int:
        status, body = exchange(self.source.port, "GET", "/metrics")
        line = [line for line in body.decode().splitlines() if line.startswith("filestoraged_replication_backlog ")]
        return int(line[0].split()[1]) if status == 200 and line else -1



class ReplicationTests(ReplicationCase):
    def write(self, writer: int, failures: List[BaseException]) -> None:
        """Versions of a few keys, through S3 PUT, multipart and WebDAV in
        turn, until told to stop; a write refused while the source is down
        is not kept (nor counted)."""
        round_ = 0
        while not self.stop.is_set():
            key = "w%d/k%d" % (writer, round_ % 3)
            body = os.urandom(1000 + writer * 100 + round_)
            face = round_ % 3  # (S3 first: WebDAV writes into a folder that exists, as it asks)
            round_ += 1
            began = self.restarts
            try:
                if face == 0:
                    self.s3.put_object(Bucket="photos", Key=key, Body=body)
                elif face == 1:
                    made = self.s3.create_multipart_upload(Bucket="photos", Key=key)["UploadId"]
                    etag = self.s3.upload_part(Bucket="photos", Key=key, UploadId=made, PartNumber=1,
                                               Body=body)["ETag"]
                    self.s3.complete_multipart_upload(Bucket="photos", Key=key, UploadId=made, MultipartUpload={
                        "Parts": [{"PartNumber": 1, "ETag": etag}]})
                elif exchange(self.source.port, "PUT", "/dav/photos/" + key, body, timeout=30)[0] not in (201, 204):
                    raise AssertionError("the WebDAV PUT of %s failed" % key)
            except Exception as error:  # the source was down: what it did not keep, it need not send
                if not self.source_down.is_set() and began == self.restarts:
                    failures.append(error)
                continue
            with self.lock:
                self.written += 1

    def written_more(self, count: int) -> None:
        """Wait until ``count`` more versions were written than now."""
        wanted = self.written + count
        wait_until(lambda: self.written >= wanted, "%d more versions written" % count, timeout=60 + count / 5)

    def test_every_version_reaches_the_target_once_through_target_and_source_failures(self):
        self.source_down, self.stop, self.lock = threading.Event(), threading.Event(), threading.Lock()
        self.written = self.restarts = 0
        failures: List[BaseException] = []
        writers = [threading.Thread(target=self.write, args=(number, failures)) for number in range(WRITERS)]
        for thread in writers:
            thread.start()
        try:
            self.written_more(STEP)
            for _ in range(2):  # the target away, twice, while versions pile up behind it
                self.target.kill()
                self.written_more(STEP)
                self.assertGreater(self.backlog(), 0)
                self.target.start()
                self.written_more(STEP)
            self.source_down.set()
            self.restarts += 1
            self.source.kill()  # SIGKILL: its outbox and its turn left as they were
            self.source.start()
            wait_for_port(self.source_s3)
            self.restarts += 1  # (a write begun before this may have failed on the way down or up)
            self.source_down.clear()
            self.written_more(STEP)
        finally:
            self.stop.set()
            for thread in writers:
                thread.join(60)
        self.assertFalse(any(thread.is_alive() for thread in writers))
        self.assertEqual(failures, [])
        wait_until(lambda: self.backlog() == 0, "the outbox is empty", timeout=120)
        versions = all_versions(self.s3, "photos")
        self.assertGreaterEqual(len(versions), 5 * STEP)
        sent: Dict[str, List[str]] = {}
        for copy in all_versions(self.copies, "copy"):
            head = self.copies.head_object(Bucket="copy", Key=copy["Key"], VersionId=copy["VersionId"])
            meta = head["Metadata"]
            sent.setdefault(meta["filestoraged-version"], []).append(meta["filestoraged-sha256"])
        for version in versions:
            source = self.s3.head_object(Bucket="photos", Key=version["Key"], VersionId=version["VersionId"])
            self.assertEqual(source["ReplicationStatus"], "COMPLETED")
            body = self.s3.get_object(Bucket="photos", Key=version["Key"], VersionId=version["VersionId"])["Body"]
            self.assertEqual(sent.get(version["VersionId"]), [hashlib.sha256(body.read()).hexdigest()],
                             version)  # there once, with its bytes
        self.assertEqual(len(sent), len(versions))
        key = versions[0]["Key"]
        self.s3.delete_object(Bucket="photos", Key=key)
        self.s3.delete_object(Bucket="photos", Key=key, VersionId=versions[0]["VersionId"])
        wait_until(lambda: self.backlog() == 0, "the outbox is empty")
        self.assertEqual(self.copies.head_object(Bucket="copy", Key=key)["ResponseMetadata"]["HTTPStatusCode"], 200)
        self.assertEqual(len(self.copies.list_object_versions(Bucket="copy", Prefix=key)["Versions"]),
                         sum(1 for version in versions if version["Key"] == key))


def all_versions(client, bucket: str) -> List[dict]:
    """Every version of ``bucket``, page after page."""
    return [version for page in client.get_paginator("list_object_versions").paginate(Bucket=bucket)
            for version in page.get("Versions", [])]


if __name__ == "__main__":
    unittest.main()


class LockedReplicationTests(ReplicationCase):
    """A version's retention and legal hold go along where the target's bucket has object lock on."""

    def test_a_retention_and_a_legal_hold_are_kept_at_a_target_with_object_lock(self):
        self.copies.create_bucket(Bucket="vault-copy", ObjectLockEnabledForBucket=True)
        self.s3.create_bucket(Bucket="vault", ObjectLockEnabledForBucket=True)
        self.cli("source", "bucket", "replicate", "vault", "http://127.0.0.1:%d/vault-copy" % self.target_s3,
                 self.credentials)
        until = datetime.datetime.now(datetime.timezone.utc).replace(microsecond=0) + datetime.timedelta(days=1)
        version = self.s3.put_object(Bucket="vault", Key="deed.pdf", Body=b"the deed", ObjectLockMode="GOVERNANCE",
                                     ObjectLockRetainUntilDate=until, ObjectLockLegalHoldStatus="ON")["VersionId"]
        wait_until(lambda: self.s3.head_object(Bucket="vault", Key="deed.pdf", VersionId=version).get(
            "ReplicationStatus") != "PENDING", "the version sent")
        self.assertEqual(self.s3.head_object(Bucket="vault", Key="deed.pdf", VersionId=version)["ReplicationStatus"],
                         "COMPLETED")
        copy = self.copies.head_object(Bucket="vault-copy", Key="deed.pdf")
        self.assertEqual((copy["ObjectLockMode"], copy["ObjectLockRetainUntilDate"], copy["ObjectLockLegalHoldStatus"]),
                         ("GOVERNANCE", until, "ON"))
        self.assertEqual(copy["Metadata"]["filestoraged-version"], version)


class SeaweedTargetTests(unittest.TestCase):
    """Replication to SeaweedFS (its S3 gateway, a bucket that keeps the
    newest of each key): each key's current version there, with its bytes."""

    def test_each_keys_newest_version_reaches_seaweedfs(self):
        boto3_or_skip(self)
        store = seaweed()
        bucket = store.new_bucket()
        self.addCleanup(store.drop_bucket, bucket)
        work = tempfile.mkdtemp(prefix="fsd-replication-seaweed-")
        self.addCleanup(shutil.rmtree, work, True)
        credentials = os.path.join(work, "seaweed.env")
        with open(credentials, "w") as file:
            file.write("AWS_ACCESS_KEY_ID=%s\nAWS_SECRET_ACCESS_KEY=%s\n" % (ACCESS_KEY, SECRET_KEY))
        s3_port = free_port()
        source = Daemon(os.path.join(work, "source"), "--s3-api", "127.0.0.1:%d" % s3_port).start()
        self.addCleanup(source.stop)
        self.assertEqual(exchange(s3_port, "PUT", "/photos")[0], 200)
        done = subprocess.run([sys.executable, "-m", "filestoraged", "bucket", "replicate", "photos",
                               "%s/%s" % (store.endpoint, bucket), credentials, "--data-dir", source.data_dir],
                              capture_output=True, text=True, timeout=60, env=dict(os.environ, PYTHONPATH=ROOT))
        self.assertEqual(done.returncode, 0, done.stderr)
        newest: Dict[str, bytes] = {}
        for number in range(40):
            key = "k%d" % (number % 5)
            newest[key] = os.urandom(500 + number)
            self.assertEqual(exchange(s3_port, "PUT", "/photos/" + key, newest[key])[0], 200)
        client = store.client(bucket)
        self.addCleanup(client.close)

        def there(key: str) -> bool:
            response = client.request("GET", key)
            body = response.read() if response.status == 200 else b""
            response.release()
            return body == newest[key]

        wait_until(lambda: all(there(key) for key in newest), "each key's newest version at SeaweedFS", timeout=60)
        head = client.request("HEAD", "k0")
        head.release()
        self.assertEqual(head.headers.get("x-amz-meta-filestoraged-sha256"), hashlib.sha256(newest["k0"]).hexdigest())
