"""A store made before today opens and serves all it holds: the data
directory of ``tests/fixtures/store-13b440b.tar.gz`` (written by commit
13b440b through its faces, ``tests.fixtures.make_old_store``) opened by
this code: keys with their metadata and tags, versions and a delete
marker, object lock, a multipart object and an unfinished multipart
upload, ``/data`` and ``/files`` objects, a share link, the KV store, an
unfinished tus upload, a Git LFS lock and the tokens it had; ``fsck``
finds it whole, and the backup taken of it then restores."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tarfile
import tempfile
import unittest
from dataclasses import replace
from urllib.parse import urlencode, urlsplit

from filestoraged.config import Config
from filestoraged.records.local import LocalRecords

from ..s3api_support import REGION, S3ApiCase, boto3_or_skip
from ..support import ROOT

FIXTURE = os.path.join(ROOT, "tests", "fixtures", "store-13b440b.tar.gz")
SAME = {"Sec-Fetch-Site": "same-origin"}


def unpacked(case: unittest.TestCase) -> str:
    """The fixture unpacked into a folder of the test's own (removed after);
    the unfinished tus upload's files touched now, as a store stopped a
    moment ago (an upload expires a day after its last write)."""
    folder = tempfile.mkdtemp(prefix="fsd-old-store-")
    case.addCleanup(shutil.rmtree, folder, True)
    with tarfile.open(FIXTURE) as archive:
        archive.extractall(folder, filter="tar")
    uploads = os.path.join(folder, "store", "uploads")
    for name in os.listdir(uploads):
        os.utime(os.path.join(uploads, name))
    return folder


class OldStoreCase(S3ApiCase):
    def setUp(self) -> None:
        boto3_or_skip(self)
        self.folder = unpacked(self)
        with open(os.path.join(self.folder, "manifest.json")) as manifest:
            self.made = json.load(manifest)
        self.data_dir = os.path.join(self.folder, "store")
        self.config = replace(Config(port=0, data_dir=self.data_dir), **self.config_overrides)
        self.start_server()
        self.admin = self.old_client("admin")
        self.bearer = {"Authorization": "Bearer " + self.made["admin"]["FILESTORAGED_TOKEN"]}

    def old_client(self, who: str):
        return self.client(key_pair=(self.made[who]["AWS_ACCESS_KEY_ID"], self.made[who]["AWS_SECRET_ACCESS_KEY"]))

    def body(self, bucket: str, key: str, **version) -> bytes:
        return self.admin.get_object(Bucket=bucket, Key=key, **version)["Body"].read()

    def code_of(self, call, **kwargs) -> str:
        from botocore.exceptions import ClientError

        try:
            call(**kwargs)
        except ClientError as error:
            return error.response["Error"]["Code"]
        return "OK"


class OldStoreTests(OldStoreCase):
    def test_keys_with_their_metadata_tags_and_parts(self):
        self.assertEqual([b["Name"] for b in self.admin.list_buckets()["Buckets"]], ["kept", "locked", "plain"])
        listed = self.admin.list_objects_v2(Bucket="plain")["Contents"]
        self.assertEqual([o["Key"] for o in listed], ["a.txt", "dir/b.bin", "empty", "multi"])
        got = self.admin.get_object(Bucket="plain", Key="a.txt")
        self.assertEqual((got["Body"].read(), got["ContentType"], got["Metadata"]),
                         (b"plain one", "text/plain", {"origin": "old"}))
        self.assertEqual(self.admin.get_object_tagging(Bucket="plain", Key="a.txt")["TagSet"],
                         [{"Key": "kind", "Value": "text"}])
        self.assertEqual(self.body("plain", "dir/b.bin"), b"\x00\x01 binary")
        self.assertEqual(self.body("plain", "empty"), b"")
        multi = self.admin.get_object(Bucket="plain", Key="multi", PartNumber=1)
        self.assertEqual((multi["Body"].read(), multi["PartsCount"]), (b"one part " * 100, 1))

    def test_versions_and_the_delete_marker(self):
        versions = self.made["versions"]
        from botocore.exceptions import ClientError

        with self.assertRaises(ClientError) as deleted:
            self.admin.get_object(Bucket="kept", Key="doc")
        self.assertEqual(deleted.exception.response["ResponseMetadata"]["HTTPHeaders"]["x-amz-delete-marker"], "true")
        listed = self.admin.list_object_versions(Bucket="kept", Prefix="doc")
        self.assertEqual([(v["VersionId"], v["IsLatest"]) for v in listed["Versions"]],
                         [(versions["second"], False), (versions["first"], False), ("null", False)])
        self.assertEqual([(m["VersionId"], m["IsLatest"]) for m in listed["DeleteMarkers"]],
                         [(versions["marker"], True)])
        self.assertEqual(self.body("kept", "doc", VersionId="null"), b"before versioning")
        self.assertEqual(self.body("kept", "doc", VersionId=versions["first"]), b"version one")
        self.admin.delete_object(Bucket="kept", Key="doc", VersionId=versions["marker"])  # undeleted
        self.assertEqual(self.body("kept", "doc"), b"version two")
        self.admin.delete_object(Bucket="kept", Key="doc", VersionId=versions["second"])
        self.assertEqual(self.body("kept", "doc"), b"version one")
        newer = self.admin.put_object(Bucket="kept", Key="live", Body=b"newer")["VersionId"]
        self.assertEqual(self.body("kept", "live", VersionId=versions["live"]), b"live now")
        self.assertEqual(self.body("kept", "live"), b"newer")
        self.assertNotEqual(newer, versions["live"])

    def test_object_lock_still_holds(self):
        locked = self.made["locked"]
        self.assertEqual(self.admin.get_object_legal_hold(Bucket="locked", Key="held")["LegalHold"]["Status"], "ON")
        retention = self.admin.get_object_retention(Bucket="locked", Key="retained")["Retention"]
        self.assertEqual((retention["Mode"], retention["RetainUntilDate"].year), ("COMPLIANCE", 2100))
        for key, version in (("held", locked["held"]), ("retained", locked["retained"])):
            self.assertEqual(self.code_of(self.admin.delete_object, Bucket="locked", Key=key, VersionId=version),
                             "AccessDenied")
        self.assertEqual(self.body("locked", "retained"), b"retained to 2100")

    def test_an_unfinished_multipart_upload_completes(self):
        upload = self.made["multipart_upload"]
        listed = self.admin.list_multipart_uploads(Bucket="plain")["Uploads"]
        self.assertEqual([(u["Key"], u["UploadId"]) for u in listed], [("unfinished", upload)])
        parts = self.admin.list_parts(Bucket="plain", Key="unfinished", UploadId=upload)["Parts"]
        self.admin.complete_multipart_upload(Bucket="plain", Key="unfinished", UploadId=upload,
                                             MultipartUpload={"Parts": [{"PartNumber": 1, "ETag": parts[0]["ETag"]}]})
        self.assertEqual(self.body("plain", "unfinished"), b"half of it")

    def test_the_tokens_it_had_keep_their_scopes(self):
        adder = self.old_client("adder")
        adder.put_object(Bucket="plain", Key="added", Body=b"new")
        self.assertEqual(self.code_of(adder.put_object, Bucket="plain", Key="a.txt", Body=b"replaced"),
                         "AccessDenied")
        self.assertEqual(self.code_of(adder.get_object, Bucket="kept", Key="live"), "AccessDenied")
        self.assertEqual(self.body("plain", "a.txt"), b"plain one")

    def test_users_come_beside_the_tokens_it_had(self):
        """Users made on a store from before there were any: theirs and the
        old tokens' rights hold side by side, neither taking from the other."""
        from filestoraged.access.s3keys import secret_of, server_key
        self.app.users.create("carol", "correct horse battery", policies=["readonly"])
        key_id = self.app.users.new_key("carol")
        carol = self.client(key_pair=(key_id, secret_of(server_key(self.config.s3_key_path), key_id)))
        self.assertEqual(carol.get_object(Bucket="plain", Key="a.txt")["Body"].read(), b"plain one")
        self.assertEqual(self.code_of(carol.put_object, Bucket="plain", Key="a.txt", Body=b"no"), "AccessDenied")
        self.test_the_tokens_it_had_keep_their_scopes()
        listed = self.request("GET", "/data/repo/" + self.made["data_oid"], headers=self.bearer)
        self.assertEqual(listed.status, 200)

    def test_the_other_faces(self):
        made = self.made
        data = self.request("GET", "/data/repo/" + made["data_oid"], headers=self.bearer)
        self.assertEqual((data.status, data.body), (200, b"a repository's object"))
        files = self.request("GET", "/files/" + made["files_hash"], headers=self.bearer)
        self.assertEqual((files.status, files.body), (200, b"a file by its digest"))
        link = urlsplit(made["link"]["url"]).path
        shared = self.request("POST", link, urlencode({"password": "s3cret"}).encode(),
                              dict(SAME, **{"Content-Type": "application/x-www-form-urlencoded"}))
        self.assertEqual((shared.status, shared.body), (200, b"shared with a password"))
        kv = self.request("GET", "/kv/kept", headers=self.bearer)
        self.assertEqual((kv.status, kv.json()), (200, {"kept": {"a": [1, 2]}}))
        lfs = self.request("GET", "/lfs/repo/locks", headers=dict(self.bearer, Accept="application/vnd.git-lfs+json"))
        self.assertEqual([lock["id"] for lock in lfs.json()["locks"]], [made["lfs_lock"]])
        tus = {"Tus-Resumable": "1.0.0", **self.bearer}
        place = "/uploads/" + made["tus"]
        self.assertEqual(self.request("HEAD", place, headers=tus).headers["Upload-Offset"], "10")
        sent = self.request("PATCH", place, b"then ten..", dict(tus, **{
            "Upload-Offset": "10", "Content-Type": "application/offset+octet-stream"}))
        self.assertEqual(sent.status, 204, sent)
        finished = self.request("GET", place, headers=dict(tus, Accept="application/json")).json()
        fetched = self.request("GET", urlsplit(finished["url"]).path, headers=self.bearer)
        self.assertEqual(fetched.body, b"first ten.then ten..")


    def test_its_share_link_holds_its_bytes_in_the_holds_engines_form(self):
        records = LocalRecords(os.path.join(self.data_dir, "meta.db"))
        self.addCleanup(records.close)
        links = [name.rpartition("/")[2] for name in records.keys("links/")]
        blobs = [record.value for _, record in records.items("share-blobs/")]
        self.assertEqual(len(links), 1)
        self.assertEqual([sorted(value) for value in blobs], [["idle", "pins"]])
        self.assertEqual(list(blobs[0]["pins"]), links)


class OldStoreCheckTests(unittest.TestCase):
    def run_cli(self, *args: str) -> subprocess.CompletedProcess:
        return subprocess.run([sys.executable, "-m", "filestoraged", *args], capture_output=True, text=True,
                              timeout=120, env=dict(os.environ, PYTHONPATH=ROOT))

    def test_fsck_finds_it_whole(self):
        folder = unpacked(self)
        checked = self.run_cli("fsck", "--data-dir", os.path.join(folder, "store"))
        self.assertEqual(checked.returncode, 0, checked.stdout + checked.stderr)

    def test_the_backup_taken_then_restores(self):
        boto3 = boto3_or_skip(self)
        from botocore.config import Config as BotoConfig

        folder = unpacked(self)
        restored = os.path.join(folder, "restored")
        done = self.run_cli("restore", os.path.join(folder, "backup"), "--data-dir", restored)
        self.assertEqual(done.returncode, 0, done.stdout + done.stderr)
        with open(os.path.join(folder, "manifest.json")) as manifest:
            made = json.load(manifest)
        from ..support import Daemon, free_port

        s3_port = free_port()
        daemon = Daemon(restored, "--s3-api", "127.0.0.1:%d" % s3_port, "--auth", "all").start()
        self.addCleanup(daemon.stop)
        admin = boto3.client("s3", endpoint_url="http://127.0.0.1:%d" % s3_port, region_name=REGION,
                             aws_access_key_id=made["admin"]["AWS_ACCESS_KEY_ID"],
                             aws_secret_access_key=made["admin"]["AWS_SECRET_ACCESS_KEY"],
                             config=BotoConfig(s3={"addressing_style": "path"}, retries={"max_attempts": 1}))
        self.assertEqual(admin.get_object(Bucket="plain", Key="a.txt")["Body"].read(), b"plain one")
        self.assertEqual(admin.get_object(Bucket="kept", Key="doc", VersionId=made["versions"]["first"])["Body"].read(),
                         b"version one")
