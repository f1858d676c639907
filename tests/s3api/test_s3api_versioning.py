"""Object versioning through boto3, as S3 keeps it: version ids on every
write, older versions and delete markers kept, read, listed, copied and
deleted by id, the ``null`` version of writes made without versioning or
while it is suspended, and bytes held while any version names them."""

from __future__ import annotations

import filecmp
import hashlib
import json
import os
import shutil
import subprocess
import sys
import tempfile
import threading
import time
import unittest
from unittest import mock
from datetime import datetime, timezone

from filestoraged.catalog.buckets import Buckets
from filestoraged.catalog.claims import Claims
from filestoraged.catalog.keys import Entry, Keys
from filestoraged.catalog.keyspace import Keyspace
from filestoraged.catalog.names import encode_key
from filestoraged.catalog.versions import Versions
from filestoraged.errors import InsufficientStorage
from filestoraged.records.local import LocalRecords
from filestoraged.storage.names import repository

from ..s3api_support import BotoCase
from ..support import ROOT
from .test_s3api_clients import ClientCase
from ..records.test_shared_faces import StepByStep


class VersionCase(BotoCase):
    def setUp(self) -> None:
        super().setUp()
        self.admin.create_bucket(Bucket="vers")

    def enable(self, status: str = "Enabled") -> None:
        self.admin.put_bucket_versioning(Bucket="vers", VersioningConfiguration={"Status": status})

    def put(self, key: str, body: bytes) -> str:
        return self.admin.put_object(Bucket="vers", Key=key, Body=body).get("VersionId", "")

    def read(self, key: str, **version) -> bytes:
        return self.admin.get_object(Bucket="vers", Key=key, **version)["Body"].read()

    def versions(self, **ask):
        listed = self.admin.list_object_versions(Bucket="vers", **ask)
        found = [(v["Key"], v["VersionId"], v["IsLatest"], "version") for v in listed.get("Versions", [])]
        found += [(m["Key"], m["VersionId"], m["IsLatest"], "marker") for m in listed.get("DeleteMarkers", [])]
        return found


class EnabledTests(VersionCase):
    def test_every_write_is_a_version_and_each_is_read_by_its_id(self):
        self.assertNotIn("Status", self.admin.get_bucket_versioning(Bucket="vers"))
        self.enable()
        self.assertEqual(self.admin.get_bucket_versioning(Bucket="vers")["Status"], "Enabled")
        first, second = self.put("k", b"one"), self.put("k", b"two")
        self.assertNotEqual(first, second)
        self.assertEqual(self.read("k"), b"two")
        self.assertEqual(self.read("k", VersionId=first), b"one")
        head = self.admin.head_object(Bucket="vers", Key="k", VersionId=first)
        self.assertEqual((head["VersionId"], head["ContentLength"]), (first, 3))
        self.assertEqual(self.admin.get_object(Bucket="vers", Key="k")["VersionId"], second)
        self.assertEqual(sorted(self.versions()), sorted([("k", second, True, "version"),
                                                          ("k", first, False, "version")]))
        self.assertEqual([v["VersionId"] for v in self.admin.list_object_versions(Bucket="vers")["Versions"]],
                         [second, first])  # newest first

    def test_a_delete_leaves_a_marker_and_deleting_the_marker_brings_the_key_back(self):
        self.enable()
        first = self.put("k", b"kept")
        deleted = self.admin.delete_object(Bucket="vers", Key="k")
        self.assertTrue(deleted["DeleteMarker"])
        marker = deleted["VersionId"]
        self.assertEqual(self.code_of(self.admin.get_object, Bucket="vers", Key="k"), "NoSuchKey")
        self.assertEqual(self.admin.list_objects_v2(Bucket="vers")["KeyCount"], 0)
        self.assertEqual(sorted(self.versions()), sorted([("k", marker, True, "marker"),
                                                          ("k", first, False, "version")]))
        self.assertEqual(self.code_of(self.admin.get_object, Bucket="vers", Key="k", VersionId=marker),
                         "MethodNotAllowed")
        self.assertEqual(self.read("k", VersionId=first), b"kept")
        undone = self.admin.delete_object(Bucket="vers", Key="k", VersionId=marker)
        self.assertEqual((undone["VersionId"], undone["DeleteMarker"]), (marker, True))
        self.assertEqual(self.read("k"), b"kept")
        self.assertEqual(self.versions(), [("k", first, True, "version")])

    def test_a_version_deleted_by_id_is_gone_and_the_next_one_is_current(self):
        self.enable()
        first, second = self.put("k", b"one"), self.put("k", b"two")
        self.admin.delete_object(Bucket="vers", Key="k", VersionId=first)
        self.assertEqual(self.versions(), [("k", second, True, "version")])
        self.assertEqual(self.code_of(self.admin.get_object, Bucket="vers", Key="k", VersionId=first), "NoSuchVersion")
        third = self.put("k", b"three")
        self.admin.delete_object(Bucket="vers", Key="k", VersionId=third)  # the current one
        self.assertEqual(self.read("k"), b"two")
        self.assertEqual(self.versions(), [("k", second, True, "version")])

    def test_copy_from_a_version(self):
        self.enable()
        first = self.put("k", b"old bytes")
        self.put("k", b"new bytes")
        copied = self.admin.copy_object(Bucket="vers", Key="back", CopySource={"Bucket": "vers", "Key": "k",
                                                                             "VersionId": first})
        self.assertEqual(copied["CopySourceVersionId"], first)
        self.assertTrue(copied["VersionId"])
        self.assertEqual(self.read("back"), b"old bytes")

    def test_delete_objects_by_version(self):
        self.enable()
        first, second = self.put("k", b"one"), self.put("k", b"two")
        done = self.admin.delete_objects(Bucket="vers", Delete={"Objects": [{"Key": "k", "VersionId": first},
                                                                          {"Key": "other"}]})
        deleted = {(d["Key"], d.get("VersionId"), d.get("DeleteMarker", False)) for d in done["Deleted"]}
        self.assertIn(("k", first, False), deleted)
        marker = next(d["DeleteMarkerVersionId"] for d in done["Deleted"] if d["Key"] == "other")
        self.assertEqual(sorted(self.versions()), sorted([("k", second, True, "version"),
                                                          ("other", marker, True, "marker")]))

    def test_ids_that_do_not_name_a_version(self):
        self.enable()
        self.put("k", b"x")
        self.assertEqual(self.code_of(self.admin.get_object, Bucket="vers", Key="k", VersionId="nope"),
                         "InvalidArgument")
        self.assertEqual(self.code_of(self.admin.get_object, Bucket="vers", Key="k", VersionId="0" * 24),
                         "NoSuchVersion")


class NullVersionTests(VersionCase):
    def test_a_key_written_before_versioning_is_its_null_version(self):
        self.put("k", b"from before")
        self.enable()
        newer = self.put("k", b"after")
        self.assertEqual(self.read("k", VersionId="null"), b"from before")
        self.assertEqual(self.versions(), [("k", newer, True, "version"), ("k", "null", False, "version")])

    def test_suspended_writes_replace_the_null_version_and_keep_the_others(self):
        self.enable()
        kept = self.put("k", b"versioned")
        self.enable("Suspended")
        self.assertEqual(self.put("k", b"null one"), "")  # as S3: a write of the null version names none
        self.assertEqual(self.put("k", b"null two"), "")
        self.assertEqual(self.versions(), [("k", "null", True, "version"), ("k", kept, False, "version")])
        self.assertEqual(self.read("k", VersionId="null"), b"null two")
        deleted = self.admin.delete_object(Bucket="vers", Key="k")
        self.assertEqual((deleted["VersionId"], deleted["DeleteMarker"]), ("null", True))
        self.assertEqual(self.versions(), [("k", kept, False, "version"), ("k", "null", True, "marker")])

    def test_an_unversioned_bucket_does_not_take_a_version_id_for_another(self):
        self.put("k", b"only")
        self.assertEqual(self.code_of(self.admin.get_object, Bucket="vers", Key="k", VersionId="nope"),
                         "InvalidArgument")
        self.admin.delete_object(Bucket="vers", Key="k", VersionId="0" * 24)
        self.assertEqual(self.read("k"), b"only")  # a version that is not there deleted nothing
        self.assertEqual(self.read("k", VersionId="null"), b"only")


class OneCommitTests(VersionCase):
    """A write or a delete by version id changes the key, its versions and
    the holds on their bytes in one commit: refused at any step, it changed
    nothing (the disk full at the last of them, here)."""

    def setUp(self) -> None:
        super().setUp()
        from botocore.exceptions import ClientError  # boto3_or_skip: imported once boto3 is known to be there

        self.ClientError = ClientError

    def full_at(self, target: str):
        def full(*args, **kwargs):
            raise InsufficientStorage("the metadata database cannot grow: the disk is full")
        return mock.patch(target, full)

    def test_a_delete_by_version_id_refused_midway_leaves_the_key_as_it_was(self):
        self.enable()
        first, second = self.put("k", b"one"), self.put("k", b"two")
        with self.full_at("filestoraged.catalog.claims.Claims.unname"):  # the removed one's bytes let go of
            with self.assertRaises(self.ClientError) as refused:
                self.admin.delete_object(Bucket="vers", Key="k", VersionId=second)
        self.assertEqual(507, refused.exception.response["ResponseMetadata"]["HTTPStatusCode"])
        self.assertEqual(b"two", self.read("k"))
        self.assertEqual([("k", second, True, "version"), ("k", first, False, "version")], self.versions())

    def test_a_write_over_a_key_refused_midway_leaves_the_key_as_it_was(self):
        self.admin.put_object(Bucket="vers", Key="k", Body=b"one")
        with self.full_at("filestoraged.catalog.claims.Claims.unname"):  # the replaced bytes let go of
            with self.assertRaises(self.ClientError) as refused:
                self.admin.put_object(Bucket="vers", Key="k", Body=b"two")
        self.assertEqual(507, refused.exception.response["ResponseMetadata"]["HTTPStatusCode"])
        self.assertEqual(b"one", self.read("k"))
        self.admin.put_object(Bucket="vers", Key="k", Body=b"two")
        self.assertEqual(b"two", self.read("k"))


class ListingTests(VersionCase):
    def test_pages_of_one_give_every_version_once(self):
        self.enable()
        made = []
        for key in ("a", "b/1", "b/2", "c"):
            made += [(key, self.put(key, b"%s-%d" % (key.encode(), n))) for n in range(3)]
        self.admin.delete_object(Bucket="vers", Key="c")
        seen = []
        for page in self.admin.get_paginator("list_object_versions").paginate(
                Bucket="vers", PaginationConfig={"PageSize": 1}):
            seen += [(v["Key"], v["VersionId"]) for v in page.get("Versions", [])]
            seen += [(m["Key"], "marker") for m in page.get("DeleteMarkers", [])]
        self.assertEqual(len(seen), len(made) + 1)
        self.assertEqual(sorted(seen), sorted(made + [("c", "marker")]))
        folded = self.admin.list_object_versions(Bucket="vers", Delimiter="/")
        self.assertEqual([p["Prefix"] for p in folded["CommonPrefixes"]], ["b/"])
        self.assertEqual({v["Key"] for v in folded["Versions"]}, {"a", "c"})
        under = self.admin.list_object_versions(Bucket="vers", Prefix="b/")
        self.assertEqual(len(under["Versions"]), 6)


    def test_a_key_whose_newest_version_is_a_marker_is_not_listed(self):
        """Its head stays (it lists the versions), but a listing of keys
        shows it nowhere: not as a key, not as a folder, not as a page
        that says more follows."""
        self.enable()
        for key in ("a", "b", "c", "gone/x"):
            self.put(key, b"x")
        for key in ("b", "c", "gone/x"):
            self.admin.delete_object(Bucket="vers", Key=key)
        listed = self.admin.list_objects_v2(Bucket="vers", Delimiter="/")
        self.assertEqual([o["Key"] for o in listed["Contents"]], ["a"])
        self.assertNotIn("CommonPrefixes", listed)
        first = self.admin.list_objects_v2(Bucket="vers", MaxKeys=1)
        self.assertEqual(([o["Key"] for o in first["Contents"]], first["IsTruncated"]), (["a"], False))
        self.assertEqual(len(self.versions()), 7)  # four objects, three markers


class HoldingTests(VersionCase):
    def test_an_older_version_holds_its_bytes(self):
        self.enable()
        first = self.put("k", b"held by a version")
        self.put("k", b"current")
        from hashlib import sha256

        oid = sha256(b"held by a version").hexdigest()
        secret = self.app.tokens.create(["admin"], "data-admin")[1]
        reply = self.request("DELETE", "/data/vers/" + oid, headers={"Authorization": "Bearer " + secret})
        self.assertEqual(reply.status, 409, reply)
        self.admin.delete_object(Bucket="vers", Key="k", VersionId=first)
        self.assertEqual(self.app.claims.names("vers", oid), [])

    def test_a_bucket_with_versions_is_not_empty(self):
        self.enable()
        version = self.put("k", b"x")
        marker = self.admin.delete_object(Bucket="vers", Key="k")["VersionId"]
        self.assertEqual(self.code_of(self.admin.delete_bucket, Bucket="vers"), "BucketNotEmpty")
        for version_id in (marker, version):
            self.admin.delete_object(Bucket="vers", Key="k", VersionId=version_id)
        self.admin.delete_bucket(Bucket="vers")


class ClientVersionTests(ClientCase):
    """The aws cli's s3api and rclone's version flags, as docs/s3.md shows them."""

    def setUp(self) -> None:
        super().setUp()
        self.aws("s3", "mb", "s3://kept")
        self.aws("s3api", "put-bucket-versioning", "--bucket", "kept", "--versioning-configuration",
                 "Status=Enabled")
        self.older = os.path.join(self.work, "older.txt")
        with open(self.older, "wb") as handle:
            handle.write(b"the first text\n")
        self.first = json.loads(self.aws("s3api", "put-object", "--bucket", "kept", "--key", "notes/a.txt",
                                         "--body", self.older))["VersionId"]
        self.between = datetime.now(timezone.utc)
        self.wait_for_next_second()
        self.aws("s3", "cp", os.path.join(self.tree, "small.txt"), "s3://kept/notes/a.txt")

    def wait_for_next_second(self) -> None:
        """Listing times are whole seconds: the second write is made in a later one."""
        deadline = self.between.replace(microsecond=0).timestamp() + 1
        done = threading.Event()
        while time.time() < deadline:
            done.wait(deadline - time.time())

    def test_aws_s3api_lists_reads_and_deletes_by_version(self):
        self.assertEqual(json.loads(self.aws("s3api", "get-bucket-versioning", "--bucket", "kept"))["Status"],
                         "Enabled")
        listed = json.loads(self.aws("s3api", "list-object-versions", "--bucket", "kept", "--prefix", "notes/"))
        self.assertEqual([(v["VersionId"] == self.first, v["IsLatest"]) for v in listed["Versions"]],
                         [(False, True), (True, False)])
        out = os.path.join(self.work, "got.txt")
        self.aws("s3api", "get-object", "--bucket", "kept", "--key", "notes/a.txt", "--version-id", self.first, out)
        self.assertTrue(filecmp.cmp(out, self.older, shallow=False))
        self.aws("s3api", "delete-object", "--bucket", "kept", "--key", "notes/a.txt", "--version-id", self.first)
        listed = json.loads(self.aws("s3api", "list-object-versions", "--bucket", "kept"))
        self.assertEqual(len(listed["Versions"]), 1)

    def test_rclone_lists_old_versions_and_reads_the_past(self):
        listed = self.rclone("ls", "--s3-versions", "fsd:kept")
        names = sorted(line.split()[-1] for line in listed.splitlines())
        self.assertEqual(len(names), 2, listed)
        self.assertIn("notes/a.txt", names)
        self.assertTrue(any(name.startswith("notes/a-v") and name.endswith(".txt") for name in names), names)
        past = os.path.join(self.work, "past")
        self.rclone("copy", "--s3-version-at", self.between.strftime("%Y-%m-%dT%H:%M:%SZ"), "fsd:kept", past)
        self.assertTrue(filecmp.cmp(os.path.join(past, "notes", "a.txt"), self.older, shallow=False))


class ConditionalDeleteTests(VersionCase):
    """DeleteObject's If-Match, x-amz-if-match-size and
    x-amz-if-match-last-modified-time, and DeleteObjects' ETag, Size and
    LastModifiedTime: a delete that names what it means to delete never
    takes a newer write (they were ignored: the key went whatever it held)."""

    def test_an_unversioned_key_goes_only_as_asked(self):
        etag = self.admin.put_object(Bucket="vers", Key="k", Body=b"four")["ETag"]
        written = self.admin.head_object(Bucket="vers", Key="k")["LastModified"]
        for asked in ({"IfMatch": '"0000"'}, {"IfMatchSize": 5}, {"IfMatchLastModifiedTime": datetime(2015, 1, 1)}):
            self.assertEqual(self.code_of(self.admin.delete_object, Bucket="vers", Key="k", **asked),
                             "PreconditionFailed", asked)
        self.assertEqual(self.read("k"), b"four")
        self.admin.delete_object(Bucket="vers", Key="k", IfMatch=etag, IfMatchSize=4, IfMatchLastModifiedTime=written)
        self.assertEqual(self.code_of(self.admin.head_object, Bucket="vers", Key="k"), "404")
        self.admin.delete_object(Bucket="vers", Key="k", IfMatch='"0000"')  # nothing there: no error, as S3
        self.put("k", b"again")
        self.admin.delete_object(Bucket="vers", Key="k", IfMatch="*")
        self.assertEqual(self.code_of(self.admin.head_object, Bucket="vers", Key="k"), "404")

    def test_versions_and_delete_markers_go_only_as_asked(self):
        self.enable()
        self.admin.delete_object(Bucket="vers", Key="k", IfMatch="*")  # a key that never was: no marker made
        self.admin.delete_object(Bucket="vers", Key="k", IfMatch='"0000"')
        self.assertEqual(self.versions(), [])
        first = self.admin.put_object(Bucket="vers", Key="k", Body=b"one")
        self.assertEqual(self.code_of(self.admin.delete_object, Bucket="vers", Key="k", VersionId=first["VersionId"],
                                      IfMatch='"0000"'), "PreconditionFailed")
        self.assertEqual(self.code_of(self.admin.delete_object, Bucket="vers", Key="k", IfMatchSize=9),
                         "PreconditionFailed")
        marker = self.admin.delete_object(Bucket="vers", Key="k", IfMatch=first["ETag"])
        self.assertTrue(marker["DeleteMarker"])
        # The newest version is a marker: only If-Match: * meets it.
        self.assertEqual(self.code_of(self.admin.delete_object, Bucket="vers", Key="k", IfMatch=first["ETag"]),
                         "PreconditionFailed")
        self.admin.delete_object(Bucket="vers", Key="k", IfMatch="*")
        self.admin.delete_object(Bucket="vers", Key="k", VersionId=first["VersionId"], IfMatchSize=3)
        self.assertEqual([v[3] for v in self.versions()], ["marker", "marker"])
        second = self.admin.put_object(Bucket="vers", Key="other", Body=b"two")
        answer = self.admin.delete_objects(Bucket="vers", Delete={"Objects": [
            {"Key": "other", "VersionId": second["VersionId"], "ETag": '"0000"'},
            {"Key": "other", "Size": 7}, {"Key": "other", "LastModifiedTime": datetime(2015, 1, 1)}]})
        self.assertEqual([e["Code"] for e in answer["Errors"]], ["PreconditionFailed"] * 3)
        self.assertEqual(self.read("other"), b"two")
        written = self.admin.head_object(Bucket="vers", Key="other")["LastModified"]
        answer = self.admin.delete_objects(Bucket="vers", Delete={"Objects": [
            {"Key": "other", "VersionId": second["VersionId"], "ETag": second["ETag"], "Size": 3,
             "LastModifiedTime": written}]})
        self.assertEqual([d["VersionId"] for d in answer["Deleted"]], [second["VersionId"]])


class SteppedRaceTests(unittest.TestCase):
    """Records that take each step alone (as ``--records s3`` does): a write
    reads the key's head, writes the record of the version it replaces,
    then swaps the head; a delete of that version by its id, or another
    write, can come between."""

    def setUp(self) -> None:
        folder = tempfile.mkdtemp(prefix="fsd-race-")
        self.addCleanup(shutil.rmtree, folder, True)
        inner = LocalRecords(os.path.join(folder, "records.db"))
        self.addCleanup(inner.close)
        records = StepByStep(inner)
        self.versions, self.buckets = Versions(records), Buckets(records)
        self.keyspace = Keyspace(Claims(records, mock.Mock()), Keys(records), self.versions, self.buckets)
        self.buckets.set_versioning(self.buckets.create("vers"), "Enabled")
        self.bucket = self.buckets.get("vers")

    def write(self, body: bytes) -> Entry:
        return self.keyspace.name(self.bucket, "k", Entry(hashlib.sha256(body).hexdigest(), len(body),
                                                          hashlib.md5(body).hexdigest(), time.time()))

    def between_read_and_swap(self, step) -> None:
        """``step`` runs once, inside the next write's keeping of the version it replaces."""
        spill = self.versions.spill

        def late(bucket, key, at, old):
            self.versions.spill = spill
            step()
            spill(bucket, key, at, old)
        self.versions.spill = late

    def test_a_version_deleted_by_its_id_during_a_write_stays_deleted(self):
        first = self.write(b"one")
        self.between_read_and_swap(lambda: self.keyspace.forget(self.bucket, "k", first.version))
        second = self.write(b"two")
        self.assertEqual(self.keyspace.get("vers", "k").version, second.version)
        self.assertEqual(self.versions.of("vers", "k"), [])  # was: the deleted version kept again

    def test_a_version_another_write_replaced_meanwhile_stays_kept(self):
        first = self.write(b"one")
        racing = []
        self.between_read_and_swap(lambda: racing.append(self.write(b"three")))
        second = self.write(b"two")
        self.assertEqual(self.keyspace.get("vers", "k").version, second.version)
        self.assertEqual([version.id for version in self.versions.of("vers", "k")],
                         [racing[0].version, first.version])


    def test_a_hold_set_while_a_delete_by_id_reads_the_version_refuses_the_delete(self):
        """The delete read the version unheld; a legal hold lands before its
        swap. The hold is a change of the head, so the swap fails, and the
        delete judged again on the head that won is refused."""
        from filestoraged.errors import Forbidden

        first = self.write(b"one")
        self.write(b"two")
        entry_at = self.versions.entry_at

        def late(bucket, key, at, lost_ok=False):
            self.versions.entry_at = entry_at
            found = entry_at(bucket, key, at, lost_ok)
            self.keyspace.relock("vers", "k", first.version, lambda lock: dict(lock or {}, hold=True))
            return found
        self.versions.entry_at = late
        with self.assertRaises(Forbidden):
            self.keyspace.forget(self.bucket, "k", first.version)
        [kept] = self.versions.of("vers", "k")
        self.assertEqual((kept.id, kept.entry.lock), (first.version, {"hold": True}))


class ConcurrentDeleteTests(VersionCase):
    def test_every_version_deleted_at_once_leaves_none(self):
        """Versions of one key deleted by their ids all at once (what ceph's
        s3-tests do): a delete of the newest made the next one current while
        another thread deleted that one by its id, and it came back."""
        from concurrent.futures import ThreadPoolExecutor

        self.enable()
        for round_number in range(6):
            with self.subTest(round=round_number):
                made = [self.put("k", b"v%d" % n) for n in range(6)]
                with ThreadPoolExecutor(6) as pool:
                    list(pool.map(lambda version: self.admin.delete_object(Bucket="vers", Key="k",
                                                                           VersionId=version), made))
                self.assertEqual(self.versions(), [])
                self.assertEqual(self.code_of(self.admin.head_object, Bucket="vers", Key="k"), "404")


class FsckTests(VersionCase):
    def fsck(self, *extra: str) -> subprocess.CompletedProcess:
        return subprocess.run([sys.executable, "-m", "filestoraged", "fsck", *extra, "--data-dir", self.data_dir],
                              capture_output=True, text=True, timeout=120, cwd=ROOT)

    def test_every_key_and_version_is_checked_and_a_lost_claim_held_again(self):
        self.enable()
        first = self.put("k", b"first bytes")
        self.put("k", b"second bytes")
        clean = self.fsck()
        self.assertEqual(clean.returncode, 0, clean.stdout + clean.stderr)
        self.assertIn("2 S3 keys and versions checked", clean.stdout)
        oid = hashlib.sha256(b"first bytes").hexdigest()
        self.assertTrue(self.app.claims.named("vers", oid, "k", first))
        self.app.records.delete("s3/names/vers/%s/%s,%s" % (oid, encode_key("k"), first))  # a lost claim
        found = self.fsck()
        self.assertEqual(found.returncode, 1, found.stdout)
        self.assertIn("1 S3 keys and versions do not hold their bytes: vers/k (version %s)" % first, found.stdout)
        mended = self.fsck("--repair")
        self.assertIn("(held again)", mended.stdout)
        self.assertTrue(self.app.claims.named("vers", oid, "k", first))
        self.assertEqual(self.fsck().returncode, 0)

    def test_a_version_whose_bytes_are_gone_is_reported(self):
        self.enable()
        version = self.put("k", b"to be lost")
        self.put("k", b"kept")
        oid = hashlib.sha256(b"to be lost").hexdigest()
        os.remove(self.app.backend.object_path(repository("vers"), oid))
        found = self.fsck("--repair")
        self.assertEqual(found.returncode, 1, found.stdout)
        self.assertIn("1 S3 keys and versions name objects that are not stored", found.stdout)
        self.assertIn("vers/k (version %s)" % version, found.stdout)
        self.admin.delete_object(Bucket="vers", Key="k", VersionId=version)
        self.assertEqual(self.fsck().returncode, 0)

    def test_a_version_whose_record_is_missing_is_reported(self):
        self.enable()
        version = self.put("k", b"described by a record")
        self.put("k", b"current")
        self.assertEqual(self.fsck().returncode, 0)
        [name] = list(self.app.records.keys("s3/versions/vers/"))  # the older version's own record
        self.app.records.delete(name)  # lost (a store damaged by hand)
        found = self.fsck("--repair")
        self.assertEqual(found.returncode, 1, found.stdout)
        self.assertIn("1 S3 keys and versions are listed by their key but their record is missing", found.stdout)
        self.assertIn("vers/k (version %s)" % version, found.stdout)
        self.admin.delete_object(Bucket="vers", Key="k", VersionId=version)  # what the line says to do
        self.assertEqual(self.fsck().returncode, 0)

    def test_a_lock_that_cannot_be_read_is_reported_and_keeps_its_version(self):
        self.enable()
        version = self.put("k", b"locked by hand")
        self.put("k", b"newer")
        self.assertEqual(self.fsck().returncode, 0)
        # An older version's lock written wrong (by hand, or a store damaged):
        # fsck names it and leaves it, and no delete takes it as no lock.
        [name] = list(self.app.records.keys("s3/versions/vers/"))  # the one older version: ``version``
        self.app.records.update(name, lambda value: dict(value, lock={"mode": "FOREVER", "until": "soon"}))
        found = self.fsck("--repair")
        self.assertEqual(found.returncode, 1, found.stdout)
        self.assertIn("1 S3 keys and versions carry an object lock that is wrong", found.stdout)
        self.assertIn("vers/k (version %s): an unknown mode 'FOREVER'" % version, found.stdout)
        self.assertEqual(self.code_of(self.admin.delete_object, Bucket="vers", Key="k", VersionId=version),
                         "AccessDenied")
        self.assertEqual(self.admin.get_object(Bucket="vers", Key="k", VersionId=version)["Body"].read(),
                         b"locked by hand")

