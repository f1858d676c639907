"""Lifecycle rules through boto3 and the sweep that carries them out (run
here at a time set ahead of the store's clock): expiration of current
versions, of older versions (keeping the newest few), of delete markers
left alone, aborting unfinished uploads; never past an object lock; what
is not carried out is refused."""

from __future__ import annotations

from datetime import datetime, timezone
from unittest import mock

from filestoraged.catalog import lifecycle

from ..s3api_support import BotoCase

DAY = 86400


class LifecycleCase(BotoCase):
    def setUp(self) -> None:
        super().setUp()
        self.admin.create_bucket(Bucket="aging")

    def rules(self, *rules) -> None:
        self.admin.put_bucket_lifecycle_configuration(Bucket="aging", LifecycleConfiguration={"Rules": list(rules)})

    def sweep_in(self, days: float) -> int:
        """The sweep, as if ``days`` had passed."""
        later = self.app.records.now() + days * DAY
        with mock.patch.object(self.app.records, "now", return_value=later):
            return self.app.lifecycle.sweep(wait=True)

    def keys(self):
        return [o["Key"] for o in self.admin.list_objects_v2(Bucket="aging").get("Contents", [])]


class ConfigurationTests(LifecycleCase):
    def test_put_get_and_delete(self):
        self.assertEqual(self.code_of(self.admin.get_bucket_lifecycle_configuration, Bucket="aging"),
                         "NoSuchLifecycleConfiguration")
        self.rules({"ID": "logs", "Status": "Enabled", "Filter": {"Prefix": "logs/"}, "Expiration": {"Days": 30}},
                   {"ID": "old", "Status": "Disabled", "Filter": {},
                    "NoncurrentVersionExpiration": {"NoncurrentDays": 7, "NewerNoncurrentVersions": 2},
                    "AbortIncompleteMultipartUpload": {"DaysAfterInitiation": 3}})
        got = self.admin.get_bucket_lifecycle_configuration(Bucket="aging")["Rules"]
        self.assertEqual([(r["ID"], r["Status"], r["Filter"]["Prefix"]) for r in got],
                         [("logs", "Enabled", "logs/"), ("old", "Disabled", "")])
        self.assertEqual(got[0]["Expiration"], {"Days": 30})
        self.assertEqual(got[1]["NoncurrentVersionExpiration"], {"NoncurrentDays": 7, "NewerNoncurrentVersions": 2})
        self.assertEqual(got[1]["AbortIncompleteMultipartUpload"], {"DaysAfterInitiation": 3})
        self.rules({"ID": "older form", "Status": "Enabled", "Prefix": "tmp/", "Expiration": {"Days": 1}})
        got = self.admin.get_bucket_lifecycle_configuration(Bucket="aging")["Rules"]
        self.assertEqual((got[0]["Prefix"], "Filter" in got[0]), ("tmp/", False))  # given back as it was given
        self.admin.delete_bucket_lifecycle(Bucket="aging")
        self.assertEqual(self.code_of(self.admin.get_bucket_lifecycle_configuration, Bucket="aging"),
                         "NoSuchLifecycleConfiguration")

    def test_what_is_not_carried_out_is_refused(self):
        for rule in ({"ID": "t", "Status": "Enabled", "Filter": {"Prefix": ""},
                      "Transitions": [{"Days": 30, "StorageClass": "GLACIER"}]},
                     {"ID": "t", "Status": "Enabled", "Filter": {"Tag": {"Key": "a", "Value": "b"}},
                      "Expiration": {"Days": 1}}):
            with self.subTest(rule=rule):
                self.assertEqual(self.code_of(self.rules, rule), "NotImplemented")
        self.assertEqual(self.code_of(self.rules, {"ID": "d", "Status": "Enabled", "Filter": {},
                                                   "Expiration": {"Date": datetime(2030, 1, 1, 12,
                                                                                   tzinfo=timezone.utc)}}),
                         "InvalidArgument")


class SweepTests(LifecycleCase):
    def test_current_versions_expire_under_their_prefix_only(self):
        for key in ("logs/a", "logs/b", "keep/c"):
            self.admin.put_object(Bucket="aging", Key=key, Body=b"x")
        self.rules({"ID": "logs", "Status": "Enabled", "Filter": {"Prefix": "logs/"}, "Expiration": {"Days": 30}})
        self.assertEqual(self.sweep_in(29), 0)
        self.assertEqual(self.keys(), ["keep/c", "logs/a", "logs/b"])
        self.assertEqual(self.sweep_in(31), 2)
        self.assertEqual(self.keys(), ["keep/c"])

    def test_a_key_written_again_while_the_sweep_judges_it_is_kept(self):
        self.admin.put_object(Bucket="aging", Key="logs/a", Body=b"old")
        self.rules({"ID": "logs", "Status": "Enabled", "Filter": {"Prefix": "logs/"}, "Expiration": {"Days": 30}})
        due = lifecycle._due

        def judged_then_written(rule, modified, now):
            # A client's PUT lands between the sweep's read of the key and its delete.
            self.admin.put_object(Bucket="aging", Key="logs/a", Body=b"new")
            return due(rule, modified, now)

        with mock.patch.object(lifecycle, "_due", side_effect=judged_then_written):
            self.assertEqual(self.sweep_in(31), 0)
        self.assertEqual(self.admin.get_object(Bucket="aging", Key="logs/a")["Body"].read(), b"new")

    def test_older_versions_expire_keeping_the_newest_and_lone_markers_go(self):
        self.admin.put_bucket_versioning(Bucket="aging", VersioningConfiguration={"Status": "Enabled"})
        made = [self.admin.put_object(Bucket="aging", Key="k", Body=b"v%d" % n)["VersionId"] for n in range(4)]
        self.admin.delete_object(Bucket="aging", Key="gone")  # a delete marker and nothing else
        self.admin.put_object(Bucket="aging", Key="other", Body=b"x")
        self.admin.delete_object(Bucket="aging", Key="other")  # a marker over a version: not alone
        self.rules({"ID": "old", "Status": "Enabled", "Filter": {"Prefix": "k"},
                    "NoncurrentVersionExpiration": {"NoncurrentDays": 7, "NewerNoncurrentVersions": 1}},
                   {"ID": "markers", "Status": "Enabled", "Filter": {},
                    "Expiration": {"ExpiredObjectDeleteMarker": True}})
        paged = mock.patch.object(lifecycle, "PAGE", 2)  # a key's versions read across pages
        paged.start()
        self.addCleanup(paged.stop)
        self.assertEqual(self.sweep_in(6), 1)  # the lone marker
        listed = self.admin.list_object_versions(Bucket="aging")
        self.assertEqual([m["Key"] for m in listed["DeleteMarkers"]], ["other"])
        self.assertEqual(len([v for v in listed["Versions"] if v["Key"] == "k"]), 4)
        self.assertEqual(self.sweep_in(8), 2)  # made[0] and made[1]; made[2] is the one newest kept
        listed = self.admin.list_object_versions(Bucket="aging")
        self.assertEqual([v["VersionId"] for v in listed["Versions"] if v["Key"] == "k"], [made[3], made[2]])

    def test_a_locked_version_is_passed_by(self):
        self.admin.create_bucket(Bucket="locked", ObjectLockEnabledForBucket=True)
        old = self.admin.put_object(Bucket="locked", Key="k", Body=b"kept", ObjectLockMode="COMPLIANCE",
                                    ObjectLockRetainUntilDate=datetime(2030, 1, 1, tzinfo=timezone.utc))["VersionId"]
        self.admin.put_object(Bucket="locked", Key="k", Body=b"newer")
        self.admin.put_bucket_lifecycle_configuration(Bucket="locked", LifecycleConfiguration={"Rules": [
            {"ID": "old", "Status": "Enabled", "Filter": {}, "NoncurrentVersionExpiration": {"NoncurrentDays": 1}}]})
        self.sweep_in(30)
        self.assertEqual(self.admin.get_object(Bucket="locked", Key="k", VersionId=old)["Body"].read(), b"kept")

    def test_unfinished_uploads_are_aborted(self):
        upload = self.admin.create_multipart_upload(Bucket="aging", Key="big")["UploadId"]
        self.rules({"ID": "abort", "Status": "Enabled", "Filter": {},
                    "AbortIncompleteMultipartUpload": {"DaysAfterInitiation": 2}})
        self.sweep_in(1)
        self.assertEqual([u["UploadId"] for u in self.admin.list_multipart_uploads(Bucket="aging")["Uploads"]],
                         [upload])
        self.sweep_in(3)
        self.assertNotIn("Uploads", self.admin.list_multipart_uploads(Bucket="aging"))

    def test_the_sweep_runs_once_a_day_across_daemons(self):
        self.admin.put_object(Bucket="aging", Key="a", Body=b"x")
        self.rules({"ID": "all", "Status": "Enabled", "Filter": {}, "Expiration": {"Days": 1}})
        self.app.lifecycle.sweep()  # takes the turn now: nothing is due yet
        later = self.app.records.now() + 2 * DAY
        with mock.patch.object(self.app.records, "now", return_value=later):
            self.assertEqual(self.app.lifecycle.sweep(), 1)  # a day (and more) since the last turn
            self.admin.put_object(Bucket="aging", Key="b", Body=b"x")
        with mock.patch.object(self.app.records, "now", return_value=later + 23 * 3600):
            self.assertEqual(self.app.lifecycle.sweep(), 0)  # another daemon's timer, the same day: not its turn
        with mock.patch.object(self.app.records, "now", return_value=later + 3 * DAY):
            self.assertEqual(self.app.lifecycle.sweep(), 1)
