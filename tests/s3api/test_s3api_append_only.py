"""Append-only keys for backups: a token with ``data:BUCKET:create`` (and
``read``) adds keys and objects but never replaces or removes one, through
boto3, ``/data`` and restic (whose own pruning it must refuse); a scope on
a key prefix (``data:BUCKET/locks/:delete``) lets restic remove its locks."""

from __future__ import annotations

import base64
import hashlib
import io
import os
import subprocess
from typing import Dict
from urllib.parse import urlencode

from filestoraged.catalog.handle import BucketHandle, Described
from filestoraged.errors import Forbidden, PreconditionFailed

from ..s3api_support import BotoCase, tool_or_skip
from ..support import MIB, payload, until_said
from .test_s3api_clients import TIMEOUT, ClientCase


class AppendOnlyTests(BotoCase):
    def setUp(self) -> None:
        super().setUp()
        self.admin.create_bucket(Bucket="backups")
        self.admin.put_object(Bucket="backups", Key="old", Body=b"the first backup")
        self.adder = self.client("data:backups:create", "data:backups:read")

    def assertUntouched(self):
        self.assertEqual(self.admin.get_object(Bucket="backups", Key="old")["Body"].read(), b"the first backup")

    def test_new_keys_are_added_and_none_is_replaced(self):
        self.adder.put_object(Bucket="backups", Key="new", Body=b"added")
        self.assertEqual(self.adder.get_object(Bucket="backups", Key="new")["Body"].read(), b"added")
        etag = self.admin.head_object(Bucket="backups", Key="old")["ETag"]
        for ask in ({}, {"IfMatch": etag}):
            with self.subTest(ask=ask):
                self.assertEqual(self.code_of(self.adder.put_object, Bucket="backups", Key="old", Body=b"evil", **ask),
                                 "AccessDenied")
        self.assertEqual(self.code_of(self.adder.copy_object, Bucket="backups", Key="old",
                                      CopySource="backups/new"), "AccessDenied")
        self.adder.copy_object(Bucket="backups", Key="copied", CopySource="backups/new")
        self.assertUntouched()

    def test_nothing_is_removed(self):
        self.assertEqual(self.code_of(self.adder.delete_object, Bucket="backups", Key="old"), "AccessDenied")
        self.assertEqual(self.code_of(self.adder.delete_objects, Bucket="backups",
                                      Delete={"Objects": [{"Key": "old"}]}), "AccessDenied")
        self.assertUntouched()

    def test_a_multipart_upload_adds_only(self):
        self.assertEqual(self.code_of(self.adder.create_multipart_upload, Bucket="backups", Key="old"),
                         "AccessDenied")
        created = self.adder.create_multipart_upload(Bucket="backups", Key="late")
        sent = self.adder.upload_part(Bucket="backups", Key="late", UploadId=created["UploadId"], PartNumber=1,
                                      Body=b"part")
        self.admin.put_object(Bucket="backups", Key="late", Body=b"written meanwhile")
        self.assertEqual(self.code_of(self.adder.complete_multipart_upload, Bucket="backups", Key="late",
                                      UploadId=created["UploadId"],
                                      MultipartUpload={"Parts": [{"PartNumber": 1, "ETag": sent["ETag"]}]}),
                         "AccessDenied")
        self.assertEqual(self.admin.get_object(Bucket="backups", Key="late")["Body"].read(), b"written meanwhile")

    def test_in_a_versioned_bucket_a_write_adds_a_version(self):
        self.admin.put_bucket_versioning(Bucket="backups", VersioningConfiguration={"Status": "Enabled"})
        added = self.adder.put_object(Bucket="backups", Key="old", Body=b"a newer backup")["VersionId"]
        listed = self.admin.list_object_versions(Bucket="backups", Prefix="old")["Versions"]
        self.assertEqual([(v["VersionId"], v["IsLatest"]) for v in listed], [(added, True), ("null", False)])
        self.assertEqual(self.admin.get_object(Bucket="backups", Key="old", VersionId="null")["Body"].read(),
                         b"the first backup")
        self.assertEqual(self.code_of(self.adder.delete_object, Bucket="backups", Key="old"), "AccessDenied")
        self.assertEqual(self.code_of(self.adder.delete_object, Bucket="backups", Key="old", VersionId="null"),
                         "AccessDenied")

    def test_write_still_replaces(self):
        writer = self.client("data:backups:write")
        writer.put_object(Bucket="backups", Key="old", Body=b"replaced")
        self.assertEqual(self.admin.get_object(Bucket="backups", Key="old")["Body"].read(), b"replaced")

    def test_a_prefix_scope_covers_the_keys_under_it_only(self):
        self.admin.put_object(Bucket="backups", Key="locks/1", Body=b"a lock")
        self.admin.put_object(Bucket="backups", Key="locksmith", Body=b"not a lock")
        locker = self.client("data:backups:create", "data:backups/locks/:delete")
        locker.delete_object(Bucket="backups", Key="locks/1")
        self.assertEqual(self.code_of(self.admin.head_object, Bucket="backups", Key="locks/1"), "404")
        for key in ("locksmith", "old"):
            self.assertEqual(self.code_of(locker.delete_object, Bucket="backups", Key=key), "AccessDenied")
        self.assertEqual(self.code_of(locker.delete_objects, Bucket="backups",
                                      Delete={"Objects": [{"Key": "locks/2"}]}), "AccessDenied")
        reader = self.client("data:backups/public/:read")
        self.admin.put_object(Bucket="backups", Key="public/a", Body=b"shown")
        self.assertEqual(reader.get_object(Bucket="backups", Key="public/a")["Body"].read(), b"shown")
        self.assertEqual(self.code_of(reader.get_object, Bucket="backups", Key="old"), "AccessDenied")
        self.assertEqual(self.code_of(reader.list_objects_v2, Bucket="backups", Prefix="public/"), "AccessDenied")

    def test_data_uploads_are_added_and_never_deleted(self):
        _, secret = self.app.tokens.create(["data:backups:create"], "adder-http")
        auth = {"Authorization": "Bearer " + secret}
        reply = self.request("PUT", "/data/backups", b"an object", auth)
        self.assertEqual(reply.status, 201, reply)
        oid = reply.json()["oid"]
        self.assertError(self.request("DELETE", "/data/backups/" + oid, headers=auth), 403, "forbidden")



SAME = {"Sec-Fetch-Site": "same-origin", "Host": "localhost"}  # a form sent from the console's own pages


class EveryFaceTests(BotoCase):
    """The append-only rule, one answer on every face: a token that may add
    keys but not replace them is refused at once (403) where the key names
    something and the bucket keeps no versions, and adds a version where
    versioning is enabled: S3 PutObject, CopyObject, CreateMultipartUpload,
    a resumable upload into the key, the console's upload, WebDAV's PUT.
    (restic's face writes only files named by their bytes and ``config``:
    ``tests.faces.test_restic``.)"""

    def setUp(self) -> None:
        super().setUp()
        self.admin.create_bucket(Bucket="backups")
        self.admin.put_object(Bucket="backups", Key="old", Body=b"the first backup")
        self.admin.put_object(Bucket="backups", Key="other", Body=b"copied")
        scopes = ["data:backups:create", "data:backups:read"]
        self.adder = self.client(*scopes)
        _, self.secret = self.app.tokens.create(scopes, "adder-elsewhere")

    def statuses(self) -> Dict[str, int]:
        """Each face's answer to the adder's write of ``old``."""
        from botocore.exceptions import ClientError

        def boto(call, **asked) -> int:
            try:
                call(Bucket="backups", Key="old", **asked)
                return 200
            except ClientError as error:
                return error.response["ResponseMetadata"]["HTTPStatusCode"]

        bearer = {"Authorization": "Bearer " + self.secret, "Tus-Resumable": "1.0.0"}
        meta = ",".join("%s %s" % (name, base64.b64encode(value).decode())
                        for name, value in (("target", b"s3"), ("bucket", b"backups"), ("key", b"old")))
        signed_in = self.request("POST", "/console/sign-in", urlencode({"token": self.secret}).encode(),
                                 dict(SAME, **{"Content-Type": "application/x-www-form-urlencoded"}))
        boundary = b"everyFace"
        form = b"".join(b'--%s\r\nContent-Disposition: form-data; name="%s"\r\n\r\n%s\r\n' % (boundary, name, value)
                        for name, value in ((b"bucket", b"backups"), (b"prefix", b"")))
        form += (b'--%s\r\nContent-Disposition: form-data; name="file"; filename="old"\r\n'
                 b"Content-Type: application/octet-stream\r\n\r\nfrom the console\r\n--%s--\r\n" % (boundary, boundary))
        dav = {"Authorization": "Basic " + base64.b64encode(b"me:" + self.secret.encode()).decode()}
        return {
            "webdav": self.request("PUT", "/dav/backups/old", b"from webdav", dav).status,
            "PutObject": boto(self.adder.put_object, Body=b"replaced"),
            "CopyObject": boto(self.adder.copy_object, CopySource="backups/other"),
            "CreateMultipartUpload": boto(self.adder.create_multipart_upload),
            "tus": self.request("POST", "/uploads", headers=dict(bearer, **{"Upload-Length": "3",
                                                                           "Upload-Metadata": meta})).status,
            "console": self.request("POST", "/console/upload", form, dict(SAME, **{
                "Cookie": signed_in.headers["Set-Cookie"].split(";", 1)[0],
                "Content-Type": "multipart/form-data; boundary=" + boundary.decode()})).status,
        }

    def test_refused_at_once_on_every_face_where_it_would_replace(self):
        self.assertEqual(self.statuses(), dict.fromkeys(("PutObject", "CopyObject", "CreateMultipartUpload", "tus",
                                                         "console", "webdav"), 403))
        self.assertEqual(self.admin.get_object(Bucket="backups", Key="old")["Body"].read(), b"the first backup")

    def test_a_version_added_on_every_face_where_versioning_is_enabled(self):
        self.admin.put_bucket_versioning(Bucket="backups", VersioningConfiguration={"Status": "Enabled"})
        self.assertEqual(self.statuses(), {"PutObject": 200, "CopyObject": 200, "CreateMultipartUpload": 200,
                                           "tus": 201, "console": 303, "webdav": 204})
        listed = self.admin.list_object_versions(Bucket="backups", Prefix="old")["Versions"]
        self.assertEqual(len(listed), 5)  # the first one (null), and one each of WebDAV, PutObject, CopyObject, console
        self.assertEqual(self.admin.get_object(Bucket="backups", Key="old", VersionId="null")["Body"].read(),
                         b"the first backup")

class ResticAppendOnlyTests(ClientCase):
    """restic against an append-only key (restic's and rest-server's
    ``--append-only`` model): backups go in, its pruning is refused."""

    def environment(self, key_pair) -> Dict[str, str]:
        env = {"RESTIC_REPOSITORY": "s3:%s/backups" % self.s3_url, "RESTIC_PASSWORD": "a test password",
               "AWS_ACCESS_KEY_ID": key_pair[0], "AWS_SECRET_ACCESS_KEY": key_pair[1],
               "RESTIC_CACHE_DIR": os.path.join(self.work, "cache")}
        return dict(self.clean_env(), **env)

    def restic(self, key_pair, *args: str, check: bool = True) -> subprocess.CompletedProcess:
        done = subprocess.run([tool_or_skip("restic"), "-q", *args], env=self.environment(key_pair),
                              capture_output=True, timeout=TIMEOUT, cwd=self.work)
        if check and done.returncode != 0:
            raise AssertionError("restic %s failed (%d): %s" % (args[0], done.returncode,
                                                                done.stderr[-3000:].decode(errors="replace")))
        return done

    def test_backup_and_check_go_in_and_forget_prune_is_refused(self):
        admin = (self.key_id, self.secret)
        self.app.buckets.create("backups")
        adder = self.key_pair("data:backups:create", "data:backups:read", "data:backups/locks/:delete",
                              name="append-only")
        self.restic(adder, "init")
        self.restic(adder, "backup", self.tree)
        with open(os.path.join(self.tree, "sub", "later.bin"), "wb") as handle:
            handle.write(payload(2 * MIB, 13))
        self.restic(adder, "backup", self.tree)
        self.restic(adder, "check")
        before = {key for key, _ in self.app.keys.page("backups", limit=100000).items if not key.startswith("locks/")}
        # stopped at the refusal: restic would retry it for some 40 s before giving up
        status, said = until_said([tool_or_skip("restic"), "forget", "--keep-last", "1", "--prune"],
                                  b"lacks the scope data:backups/snapshots/", self.environment(adder), self.work,
                                  TIMEOUT)
        self.assertIn(b"lacks the scope data:backups/snapshots/", said)  # refused, not locked out
        self.assertNotEqual(status, 0)
        self.restic(adder, "unlock")  # the lock a stopped run leaves, as after any failed run
        # every snapshot and pack is still there: restic with a full key sees both backups
        self.assertEqual(len(self.restic(admin, "snapshots", "--json").stdout.decode().split('"time"')) - 1, 2)
        self.restic(admin, "check", "--read-data")
        self.assertLessEqual(before, {key for key, _ in self.app.keys.page("backups", limit=100000).items})


class WriteCallTests(BotoCase):
    """The one write call every face makes (``BucketHandle.write_to``):
    a face that does not say its writer may replace gets a writer that only
    adds, told before the body and judged again at the commit."""

    def setUp(self) -> None:
        super().setUp()
        self.admin.create_bucket(Bucket="calls")
        self.admin.put_object(Bucket="calls", Key="there", Body=b"kept")
        self.handle = BucketHandle.open(self.app, "calls")

    def test_by_default_a_write_adds_and_never_replaces(self):
        with self.assertRaises(Forbidden):
            self.handle.write_to("there")
        write = self.handle.write_to("late")  # names nothing yet
        self.admin.put_object(Bucket="calls", Key="late", Body=b"came meanwhile")
        with self.assertRaises(PreconditionFailed):
            write.store(io.BytesIO(b"would replace"), Described("text/plain"))
        self.assertEqual(self.admin.get_object(Bucket="calls", Key="late")["Body"].read(), b"came meanwhile")
        _, entry = self.handle.write_to("new").store(io.BytesIO(b"added"), Described("text/plain"))
        self.assertEqual(entry.etag, hashlib.md5(b"added").hexdigest())
        self.assertEqual(self.admin.get_object(Bucket="calls", Key="new")["Body"].read(), b"added")

    def test_a_writer_that_may_replace_replaces(self):
        self.handle.write_to("there", may_replace=True).store(io.BytesIO(b"replaced"), Described())
        self.assertEqual(self.admin.get_object(Bucket="calls", Key="there")["Body"].read(), b"replaced")
