"""A write or a delete is judged by its bucket's settings as they stand
when it commits, never as they stood when it began. A request whose body
comes slowly (1 KiB/s makes that minutes or hours) while an admin turns
versioning on, sets a COMPLIANCE default retention and writes the key must
not destroy that locked version; an append-only token's write begun while
versioning was on must not replace a ``null`` version once it is
suspended. Through every face that names keys (PutObject, DeleteObjects,
CompleteMultipartUpload, HTML forms, CopyObject, tus into a key, the
console's upload, WebDAV's PUT, restic's upload), on one daemon, and on
two over ``--records s3``."""

from __future__ import annotations

import base64
import hashlib
import os
import shutil
import subprocess
import sys
import tempfile
import threading
import unittest
from typing import Dict, List, Optional, Tuple
from unittest import mock
from urllib.parse import quote, urlencode

from ..aws_signer import AwsSigner
from ..postgres_server import class_database
from ..s3api_support import REGION, BotoCase, boto3_or_skip
from ..seaweed_server import ACCESS_KEY, SECRET_KEY, shared_store
from ..support import ROOT, Daemon, Threads, Trickled, files_being_written, free_port, multipart, payload

SAME = {"Sec-Fetch-Site": "same-origin"}
LOCKED = b"the version the admin locked"


def lock_and_write(admin, bucket: str, key: str, body: bytes = LOCKED) -> str:
    """What the admin does while a request is under way: versioning on, a
    COMPLIANCE default retention, and the key written; its version id."""
    admin.put_bucket_versioning(Bucket=bucket, VersioningConfiguration={"Status": "Enabled"})
    admin.put_object_lock_configuration(Bucket=bucket, ObjectLockConfiguration={
        "ObjectLockEnabled": "Enabled", "Rule": {"DefaultRetention": {"Mode": "COMPLIANCE", "Days": 1}}})
    return admin.put_object(Bucket=bucket, Key=key, Body=body)["VersionId"]


def s3_request(port: int, key_pair: Tuple[str, str], method: str, path: str, body: bytes,
               query: Optional[Dict[str, str]] = None, headers: Optional[Dict[str, str]] = None,
               sent: Optional[int] = None) -> Trickled:
    """An S3 request signed with ``key_pair`` (its payload unsigned), to be
    sent in two halves (``Trickled``)."""
    signer = AwsSigner(key_pair[0], key_pair[1], "127.0.0.1:%d" % port, REGION)
    pairs = sorted((query or {}).items())
    signed = signer.headers(method, path, pairs, dict(headers or {}, **{
        "Content-Length": str(len(body)), "Expect": "100-continue"}))
    target = quote(path, safe="/~") + ("?" + urlencode(pairs) if pairs else "")
    return Trickled(port, method, target, signed, body, len(body) // 2 if sent is None else sent)


def deletes(*keys: str) -> Tuple[bytes, Dict[str, str]]:
    """A DeleteObjects body of ``keys`` and its Content-MD5."""
    body = ("<Delete>%s</Delete>" % "".join("<Object><Key>%s</Key></Object>" % key for key in keys)).encode()
    return body, {"Content-MD5": base64.b64encode(hashlib.md5(body).digest()).decode()}


def completion(etag: str) -> bytes:
    return ("<CompleteMultipartUpload><Part><PartNumber>1</PartNumber><ETag>%s</ETag></Part>"
            "</CompleteMultipartUpload>" % etag).encode()


class Checks:
    """What every test here asserts of the version the admin locked."""

    def assertKept(self, client, bucket: str, key: str, version: str, body: bytes = LOCKED) -> None:
        got = client.get_object(Bucket=bucket, Key=key, VersionId=version)
        self.assertEqual(got["Body"].read(), body)
        self.assertEqual(got.get("ObjectLockMode"), "COMPLIANCE")

    def versions_of(self, client, bucket: str, key: str) -> List[Tuple[str, bool]]:
        """``(version id, is latest)`` of every version of ``key`` (newest first), then its markers."""
        listed = client.list_object_versions(Bucket=bucket, Prefix=key)
        return [(one["VersionId"], one["IsLatest"]) for one in listed.get("Versions", [])
                + listed.get("DeleteMarkers", []) if one["Key"] == key]


class OneDaemonTests(Checks, BotoCase):
    def setUp(self) -> None:
        super().setUp()
        self.admin.create_bucket(Bucket="box")
        self.writer = self.key_pair("data:box:read", "data:box:write", "data:box:delete")

    def test_a_slow_put_keeps_the_version_locked_while_it_was_sent(self):
        self.admin.put_object(Bucket="box", Key="k", Body=b"before versioning")
        put = s3_request(self.s3_port, self.writer, "PUT", "/box/k", payload(20_000, 1)).begin()
        self.addCleanup(put.close)
        locked = lock_and_write(self.admin, "box", "k")
        reply = put.finish()
        self.assertEqual(reply.status, 200, reply)
        written = reply.headers["x-amz-version-id"]  # a version of its own: the bucket keeps versions now
        self.assertNotIn(written, (None, "null", locked))
        self.assertKept(self.admin, "box", "k", locked)
        self.assertEqual(self.admin.get_object(Bucket="box", Key="k")["Body"].read(), payload(20_000, 1))
        self.assertEqual([version for version, _ in self.versions_of(self.admin, "box", "k")],
                         [written, locked, "null"])
        self.assertEqual(self.admin.get_object(Bucket="box", Key="k", VersionId=written).get("ObjectLockMode"),
                         "COMPLIANCE")  # the default retention as it stood at the commit

    def test_a_slow_delete_objects_leaves_a_marker_over_the_locked_version(self):
        body, headers = deletes("k")
        delete = s3_request(self.s3_port, self.writer, "POST", "/box", body, {"delete": ""}, headers).begin()
        self.addCleanup(delete.close)
        locked = lock_and_write(self.admin, "box", "k")
        reply = delete.finish()
        self.assertEqual(reply.status, 200, reply)
        self.assertIn(b"<DeleteMarker>true</DeleteMarker>", reply.body)
        self.assertKept(self.admin, "box", "k", locked)
        versions = dict(self.versions_of(self.admin, "box", "k"))
        self.assertEqual(len(versions), 2, versions)
        self.assertFalse(versions[locked])  # the marker is the latest
        self.assertEqual(self.code_of(self.admin.head_object, Bucket="box", Key="k"), "404")  # a marker is current

    def test_a_slow_completion_keeps_the_version_locked_meanwhile(self):
        writer = self.client(key_pair=self.writer)
        upload = writer.create_multipart_upload(Bucket="box", Key="k")["UploadId"]
        part = writer.upload_part(Bucket="box", Key="k", UploadId=upload, PartNumber=1, Body=b"the one part")
        complete = s3_request(self.s3_port, self.writer, "POST", "/box/k", completion(part["ETag"]),
                              {"uploadId": upload}).begin()
        self.addCleanup(complete.close)
        locked = lock_and_write(self.admin, "box", "k")
        reply = complete.finish()
        self.assertEqual(reply.status, 200, reply)
        self.assertKept(self.admin, "box", "k", locked)
        self.assertEqual(self.admin.get_object(Bucket="box", Key="k")["Body"].read(), b"the one part")
        self.assertEqual([latest for _, latest in self.versions_of(self.admin, "box", "k")], [True, False])

    def test_a_put_begun_while_suspended_keeps_a_null_version_locked_meanwhile(self):
        self.admin.put_bucket_versioning(Bucket="box", VersioningConfiguration={"Status": "Suspended"})
        self.admin.put_object(Bucket="box", Key="k", Body=b"the null version")
        put = s3_request(self.s3_port, self.writer, "PUT", "/box/k", payload(5_000, 2)).begin()
        self.addCleanup(put.close)
        self.admin.put_bucket_versioning(Bucket="box", VersioningConfiguration={"Status": "Enabled"})
        self.admin.put_object_lock_configuration(Bucket="box", ObjectLockConfiguration={"ObjectLockEnabled": "Enabled"})
        self.admin.put_object_retention(Bucket="box", Key="k", VersionId="null", Retention={
            "Mode": "COMPLIANCE", "RetainUntilDate": "2030-01-01T00:00:00Z"})
        reply = put.finish()
        self.assertEqual(reply.status, 200, reply)
        self.assertNotIn(reply.headers["x-amz-version-id"], (None, "null"))
        self.assertKept(self.admin, "box", "k", "null", b"the null version")
        self.assertEqual(self.admin.get_object(Bucket="box", Key="k")["Body"].read(), payload(5_000, 2))

    def test_a_form_upload_keeps_the_version_locked_while_it_was_sent(self):
        form = self.client(key_pair=self.writer).generate_presigned_post("box", "k", ExpiresIn=600)
        body, content_type = multipart(dict(form["fields"], file=("k.bin", payload(30_000, 3),
                                                                   "application/octet-stream")))
        post = Trickled(self.s3_port, "POST", "/box", {"Host": "127.0.0.1:%d" % self.s3_port,
                                                     "Content-Type": content_type, "Content-Length": str(len(body)),
                                                     "Expect": "100-continue"}, body, len(body) // 2).begin()
        self.addCleanup(post.close)
        locked = lock_and_write(self.admin, "box", "k")
        reply = post.finish()
        self.assertEqual(reply.status, 204, reply)
        self.assertKept(self.admin, "box", "k", locked)
        self.assertEqual(self.admin.get_object(Bucket="box", Key="k")["Body"].read(), payload(30_000, 3))

    def assert_a_held_copy_keeps_the_lock(self, writer, source: str, held_at: str, body: bytes) -> None:
        """A copy from ``source`` held at the backend's ``held_at`` (its first
        call) while the admin locks and writes ``k``: the locked version
        kept, and the copy a version of its own with the default retention
        as it stood at the commit."""
        arrived, go = threading.Event(), threading.Event()
        through = getattr(self.app.backend, held_at)
        held: List[bool] = []

        def holding(*args, **kwargs):
            if not held:
                held.append(True)
                arrived.set()
                go.wait(30)
            return through(*args, **kwargs)

        answers: List[dict] = []
        with mock.patch.object(self.app.backend, held_at, side_effect=holding), Threads() as threads:
            threads.start(lambda: answers.append(writer.copy_object(Bucket="box", Key="k", CopySource=source)))
            self.assertTrue(arrived.wait(30))
            try:
                locked = lock_and_write(self.admin, "box", "k")
            finally:
                go.set()
        self.assertKept(self.admin, "box", "k", locked)
        self.assertEqual(self.admin.get_object(Bucket="box", Key="k")["Body"].read(), body)
        written = answers[0].get("VersionId")
        self.assertNotIn(written, (None, "null", locked))
        self.assertEqual([version for version, _ in self.versions_of(self.admin, "box", "k")], [written, locked])
        self.assertEqual(self.admin.get_object(Bucket="box", Key="k", VersionId=written).get("ObjectLockMode"),
                         "COMPLIANCE")

    def test_a_copy_keeps_the_version_locked_while_it_was_made(self):
        """A copy has no body to send slowly: it is held where it makes the
        new key name the bytes (after it looked its bucket up)."""
        self.admin.put_object(Bucket="box", Key="source", Body=b"copied bytes")
        self.assert_a_held_copy_keeps_the_lock(self.client(key_pair=self.writer), "box/source", "stat", b"copied bytes")

    def test_a_copy_from_another_bucket_takes_the_settings_at_its_commit(self):
        """A copy from another bucket stores the bytes again, in one pass: it
        is held there, after it looked both buckets up."""
        self.admin.create_bucket(Bucket="elsewhere")
        self.admin.put_object(Bucket="elsewhere", Key="source", Body=payload(70_000, 7))
        writer = self.client(key_pair=self.key_pair("data:box:read", "data:box:write", "data:elsewhere:read"))
        self.assert_a_held_copy_keeps_the_lock(writer, "elsewhere/source", "open", payload(70_000, 7))

    def assert_a_slow_main_port_write_keeps_the_lock(self, method: str, path: str, key: str, status: int,
                                                     seed: int) -> str:
        """A write to the main port (its token as HTTP Basic), sent in two
        halves while the admin locks and writes ``key``: the locked version
        kept, the write's bytes current; the current version's id."""
        _, secret = self.app.tokens.create(["data:box:read", "data:box:write", "data:box:delete"])
        # Past what the journal of small writes takes: the server is seen inside
        # the request by its temporary file (a small body is read whole first).
        body = payload(200_000, seed)  # (its first half too)
        write = Trickled(self.port, method, path, {
            "Host": "127.0.0.1:%d" % self.port, "Content-Length": str(len(body)), "Expect": "100-continue",
            "Authorization": "Basic " + base64.b64encode(b"me:" + secret.encode()).decode()}, body, len(body) // 2)
        write.begin(lambda: files_being_written(self.app.backend.tmp_dir, [os.getpid()]))
        self.addCleanup(write.close)
        locked = lock_and_write(self.admin, "box", key)
        reply = write.finish()
        self.assertEqual(reply.status, status, reply)
        self.assertKept(self.admin, "box", key, locked)
        self.assertEqual(self.admin.get_object(Bucket="box", Key=key)["Body"].read(), body)
        latest = self.versions_of(self.admin, "box", key)[0][0]
        self.assertNotIn(latest, ("null", locked))
        self.assertEqual(self.admin.get_object(Bucket="box", Key=key, VersionId=latest).get("ObjectLockMode"),
                         "COMPLIANCE")  # the default retention as it stood at the commit
        return latest

    def test_a_slow_webdav_put_keeps_the_version_locked_while_it_was_sent(self):
        self.admin.put_object(Bucket="box", Key="k", Body=b"before versioning")
        self.assert_a_slow_main_port_write_keeps_the_lock("PUT", "/dav/box/k", "k", 204, 5)

    def test_a_slow_restic_upload_keeps_the_config_locked_while_it_was_sent(self):
        self.assert_a_slow_main_port_write_keeps_the_lock("POST", "/restic/box/config", "config", 200, 6)

    def test_the_consoles_upload_keeps_the_version_locked_while_it_was_sent(self):
        _, secret = self.app.tokens.create(["data:box:read", "data:box:write"], "console-writer")
        signed_in = self.request("POST", "/console/sign-in", urlencode({"token": secret}).encode(),
                                 dict(SAME, **{"Content-Type": "application/x-www-form-urlencoded"}))
        cookie = signed_in.headers["Set-Cookie"].split(";", 1)[0]
        boundary = "settingsAtCommit"
        body = b"".join(b'--%s\r\nContent-Disposition: form-data; name="%s"\r\n\r\n%s\r\n'
                        % (boundary.encode(), name, value) for name, value in ((b"bucket", b"box"), (b"prefix", b"")))
        data = payload(2 << 20, 4)
        body += (b'--%s\r\nContent-Disposition: form-data; name="file"; filename="k"\r\n'
                 b"Content-Type: application/octet-stream\r\n\r\n%s\r\n--%s--\r\n" % (boundary.encode(), data,
                                                                                      boundary.encode()))
        upload = Trickled(self.port, "POST", "/console/upload", dict(SAME, **{
            "Host": "127.0.0.1:%d" % self.port, "Cookie": cookie, "Content-Length": str(len(body)),
            "Content-Type": "multipart/form-data; boundary=" + boundary, "Expect": "100-continue"}),
            body, len(body) // 2)
        # Once the file is being stored, its bucket was looked up.
        upload.begin(lambda: files_being_written(self.app.backend.tmp_dir, [os.getpid()]))
        self.addCleanup(upload.close)
        locked = lock_and_write(self.admin, "box", "k")
        reply = upload.finish()
        self.assertEqual(reply.status, 303, reply)
        self.assertKept(self.admin, "box", "k", locked)
        self.assertEqual(self.admin.get_object(Bucket="box", Key="k")["Body"].read(), data)


class ResumedUploadTests(Checks, BotoCase):
    """A resumable upload into a key whose last PATCH came slowly: a
    version of the key locked while that PATCH's body was sent is kept by
    its commit, as a PutObject's keeps it."""

    def test_a_tus_upload_keeps_the_version_locked_while_its_last_bytes_came(self):
        self.admin.create_bucket(Bucket="box")
        _, secret = self.app.tokens.create(["data:box:write", "data:box:read"], "tus-writer")
        bearer = {"Authorization": "Bearer " + secret, "Tus-Resumable": "1.0.0"}
        meta = ",".join("%s %s" % (name, base64.b64encode(value.encode()).decode())
                        for name, value in (("target", "s3"), ("bucket", "box"), ("key", "k")))
        rest = payload(200_000, 7)
        made = self.request("POST", "/uploads", b"first part", dict(bearer, **{
            "Upload-Length": str(10 + len(rest)), "Upload-Metadata": meta,
            "Content-Type": "application/offset+octet-stream"}))
        self.assertEqual(made.status, 201, made)
        patch = Trickled(self.port, "PATCH", "/uploads/" + made.headers["Location"].rsplit("/", 1)[1], dict(
            bearer, **{"Host": "localhost", "Upload-Offset": "10", "Content-Length": str(len(rest)),
                       "Content-Type": "application/offset+octet-stream", "Expect": "100-continue"}),
            rest, len(rest) // 2).begin()
        self.addCleanup(patch.close)
        locked = lock_and_write(self.admin, "box", "k")
        sent = patch.finish()
        self.assertEqual(sent.status, 204, sent)
        self.assertKept(self.admin, "box", "k", locked)
        self.assertEqual(self.admin.get_object(Bucket="box", Key="k")["Body"].read(), b"first part" + rest)
        self.assertEqual(len(self.versions_of(self.admin, "box", "k")), 2)


class AppendOnlyAtCommitTests(BotoCase):
    """A token that may add keys but never replace one (``data:b:create``)
    adds a version where versioning is enabled; a write it began then, and
    that commits once versioning is suspended, must not replace the
    ``null`` version written meanwhile (it would destroy it)."""

    def setUp(self) -> None:
        super().setUp()
        self.admin.create_bucket(Bucket="box")
        self.admin.put_bucket_versioning(Bucket="box", VersioningConfiguration={"Status": "Enabled"})
        self.adder = self.key_pair("data:box:create", "data:box:read")

    def suspend_and_write(self) -> None:
        self.admin.put_bucket_versioning(Bucket="box", VersioningConfiguration={"Status": "Suspended"})
        self.admin.put_object(Bucket="box", Key="k", Body=b"the original")

    def assertOriginal(self) -> None:
        self.assertEqual(self.admin.get_object(Bucket="box", Key="k")["Body"].read(), b"the original")
        self.assertEqual(self.admin.get_object(Bucket="box", Key="k", VersionId="null")["Body"].read(), b"the original")

    def test_a_slow_put_of_an_append_only_token(self):
        put = s3_request(self.s3_port, self.adder, "PUT", "/box/k", b"garbage " * 1000).begin()
        self.addCleanup(put.close)
        self.suspend_and_write()
        reply = put.finish()
        self.assertEqual(reply.status, 412, reply)
        self.assertOriginal()

    def test_a_tus_upload_of_an_append_only_token(self):
        _, secret = self.app.tokens.create(["data:box:create", "data:box:read"], "tus-adder")
        bearer = {"Authorization": "Bearer " + secret, "Tus-Resumable": "1.0.0"}
        meta = ",".join("%s %s" % (name, base64.b64encode(value.encode()).decode())
                        for name, value in (("target", "s3"), ("bucket", "box"), ("key", "k")))
        made = self.request("POST", "/uploads", headers=dict(bearer, **{"Upload-Length": "7",
                                                                        "Upload-Metadata": meta}))
        self.assertEqual(made.status, 201, made)
        self.suspend_and_write()
        sent = self.request("PATCH", "/uploads/" + made.headers["Location"].rsplit("/", 1)[1], b"garbage",
                            dict(bearer, **{"Upload-Offset": "0", "Content-Type": "application/offset+octet-stream"}))
        self.assertEqual(sent.status, 412, sent)
        self.assertOriginal()


class TwoDaemonsTests(Checks, unittest.TestCase):
    """Two daemons over one SeaweedFS bucket (``--records s3``): the request
    begins on one, the admin changes the bucket and writes the key through
    the other."""

    @classmethod
    def records(cls) -> str:
        """``--records``: the bucket's own (``TwoDaemonsOverDatabaseTests``: a PostgreSQL database)."""
        return "s3"

    @classmethod
    def setUpClass(cls) -> None:
        boto3_or_skip(cls)
        shared = shared_store(cls, cls.records())
        env = {"AWS_ACCESS_KEY_ID": ACCESS_KEY, "AWS_SECRET_ACCESS_KEY": SECRET_KEY}
        cls.s3_ports: List[int] = []
        for _ in range(2):
            folder = tempfile.mkdtemp(prefix="fsd-two-")
            cls.addClassCleanup(shutil.rmtree, folder, True)
            s3_port = free_port()
            daemon = Daemon(folder, *shared, "--s3-api", "127.0.0.1:%d" % s3_port, "--auth", "writes",
                            "--workers", "1", env=env, port=free_port()).start()
            cls.addClassCleanup(daemon.stop)
            cls.s3_ports.append(s3_port)
        folder = tempfile.mkdtemp(prefix="fsd-cli-")
        cls.addClassCleanup(shutil.rmtree, folder, True)
        done = subprocess.run([sys.executable, "-m", "filestoraged", "token", "create", "--scope", "admin",
                               "--name", "two-daemons", "--s3", "--data-dir", folder, *shared],
                              capture_output=True, text=True, timeout=60, env=dict(os.environ, PYTHONPATH=ROOT, **env))
        if done.returncode != 0:
            raise AssertionError(done.stderr)
        pairs = dict(line.split("=", 1) for line in done.stdout.splitlines() if "=" in line)
        cls.key_pair = (pairs["AWS_ACCESS_KEY_ID"], pairs["AWS_SECRET_ACCESS_KEY"])

    def setUp(self) -> None:
        boto3 = boto3_or_skip(self)
        from botocore.config import Config

        self.other = boto3.client("s3", endpoint_url="http://127.0.0.1:%d" % self.s3_ports[1], region_name=REGION,
                                  aws_access_key_id=self.key_pair[0], aws_secret_access_key=self.key_pair[1],
                                  config=Config(s3={"addressing_style": "path"}, retries={"max_attempts": 1}))
        self.name = "two-" + hashlib.sha256(self.id().encode()).hexdigest()[:12]
        self.other.create_bucket(Bucket=self.name)

    def begin(self, method: str, path: str, body: bytes, query: Optional[Dict[str, str]] = None,
              headers: Optional[Dict[str, str]] = None) -> Trickled:
        request = s3_request(self.s3_ports[0], self.key_pair, method, path, body, query, headers).begin()
        self.addCleanup(request.close)
        return request

    def test_a_slow_put_on_one_daemon_keeps_what_the_other_locked(self):
        put = self.begin("PUT", "/%s/k" % self.name, payload(20_000, 5))
        locked = lock_and_write(self.other, self.name, "k")
        reply = put.finish()
        self.assertEqual(reply.status, 200, reply)
        self.assertKept(self.other, self.name, "k", locked)
        self.assertEqual(self.other.get_object(Bucket=self.name, Key="k")["Body"].read(), payload(20_000, 5))

    def test_a_slow_delete_objects_on_one_daemon_keeps_what_the_other_locked(self):
        body, headers = deletes("k")
        delete = self.begin("POST", "/" + self.name, body, {"delete": ""}, headers)
        locked = lock_and_write(self.other, self.name, "k")
        reply = delete.finish()
        self.assertEqual(reply.status, 200, reply)
        self.assertIn(b"<DeleteMarker>true</DeleteMarker>", reply.body)
        self.assertKept(self.other, self.name, "k", locked)

    def test_a_slow_completion_on_one_daemon_keeps_what_the_other_locked(self):
        upload = self.other.create_multipart_upload(Bucket=self.name, Key="k")["UploadId"]
        part = self.other.upload_part(Bucket=self.name, Key="k", UploadId=upload, PartNumber=1, Body=b"one part")
        complete = self.begin("POST", "/%s/k" % self.name, completion(part["ETag"]), {"uploadId": upload})
        locked = lock_and_write(self.other, self.name, "k")
        reply = complete.finish()
        self.assertEqual(reply.status, 200, reply)
        self.assertKept(self.other, self.name, "k", locked)
        self.assertEqual(self.other.get_object(Bucket=self.name, Key="k")["Body"].read(), b"one part")


class TwoDaemonsOverDatabaseTests(TwoDaemonsTests):
    """The same two daemons with their records in PostgreSQL."""

    @classmethod
    def records(cls) -> str:
        return class_database(cls)


if __name__ == "__main__":
    unittest.main()
