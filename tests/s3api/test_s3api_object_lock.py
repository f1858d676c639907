"""Object lock through boto3: a COMPLIANCE retention or a legal hold keeps
a version from every delete (by version, an admin's bypass, ``/data``, the
bucket's own) across a restart; GOVERNANCE yields only to an admin's
bypass; a bucket's default retention applies to every write."""

from __future__ import annotations

import hashlib
import json
import os
from datetime import datetime, timedelta, timezone

from ..s3api_support import BotoCase
from ..support import wait_until
from .test_s3api_clients import ClientCase

FAR = datetime(2030, 1, 1, tzinfo=timezone.utc)


class LockCase(BotoCase):
    def setUp(self) -> None:
        super().setUp()
        self.admin.create_bucket(Bucket="vault", ObjectLockEnabledForBucket=True)

    def put(self, body: bytes, key: str = "k", **lock) -> str:
        return self.admin.put_object(Bucket="vault", Key=key, Body=body, **lock)["VersionId"]

    def data_delete(self, body: bytes) -> int:
        secret = self.app.tokens.create(["admin"], "data-%d" % len(body))[1]
        reply = self.request("DELETE", "/data/vault/" + hashlib.sha256(body).hexdigest(),
                             headers={"Authorization": "Bearer " + secret})
        return reply.status


class ComplianceTests(LockCase):
    def test_a_compliance_version_yields_to_no_one_and_survives_a_restart(self):
        self.assertEqual(self.admin.get_bucket_versioning(Bucket="vault")["Status"], "Enabled")
        self.assertEqual(self.admin.get_object_lock_configuration(Bucket="vault")["ObjectLockConfiguration"]
                         ["ObjectLockEnabled"], "Enabled")
        version = self.put(b"the backup", ObjectLockMode="COMPLIANCE", ObjectLockRetainUntilDate=FAR)
        head = self.admin.head_object(Bucket="vault", Key="k", VersionId=version)
        self.assertEqual((head["ObjectLockMode"], head["ObjectLockRetainUntilDate"]), ("COMPLIANCE", FAR))
        for bypass in (False, True):
            self.assertEqual(self.code_of(self.admin.delete_object, Bucket="vault", Key="k", VersionId=version,
                                          BypassGovernanceRetention=bypass), "AccessDenied")
        done = self.admin.delete_objects(Bucket="vault", Delete={"Objects": [{"Key": "k", "VersionId": version}]})
        self.assertEqual({name: done["Errors"][0][name] for name in ("Key", "VersionId", "Code")},
                         {"Key": "k", "VersionId": version, "Code": "AccessDenied"})  # what a client retries by
        self.assertEqual(self.data_delete(b"the backup"), 409)
        self.assertTrue(self.admin.delete_object(Bucket="vault", Key="k")["DeleteMarker"])  # a marker: allowed
        self.assertEqual(self.code_of(self.admin.delete_bucket, Bucket="vault"), "BucketNotEmpty")
        shorter = FAR - timedelta(days=1)
        self.assertEqual(self.code_of(self.admin.put_object_retention, Bucket="vault", Key="k", VersionId=version,
                                      Retention={"Mode": "COMPLIANCE", "RetainUntilDate": shorter},
                                      BypassGovernanceRetention=True), "AccessDenied")
        self.assertEqual(self.code_of(self.admin.put_object_retention, Bucket="vault", Key="k", VersionId=version,
                                      Retention={"Mode": "GOVERNANCE", "RetainUntilDate": FAR}), "AccessDenied")
        longer = FAR + timedelta(days=1)
        self.admin.put_object_retention(Bucket="vault", Key="k", VersionId=version,
                                        Retention={"Mode": "COMPLIANCE", "RetainUntilDate": longer})
        self.restart_server()
        self.admin = self.client()
        got = self.admin.get_object_retention(Bucket="vault", Key="k", VersionId=version)["Retention"]
        self.assertEqual((got["Mode"], got["RetainUntilDate"]), ("COMPLIANCE", longer))
        self.assertEqual(self.code_of(self.admin.delete_object, Bucket="vault", Key="k", VersionId=version),
                         "AccessDenied")
        self.assertEqual(self.admin.get_object(Bucket="vault", Key="k", VersionId=version)["Body"].read(),
                         b"the backup")


class RetentionEndTests(LockCase):
    def test_a_version_is_free_once_the_date_it_reads_has_passed(self):
        """What a client that clears a bucket does (ceph's s3-tests do):
        read the retain-until date, wait until it has passed, delete. The
        date was given back in whole seconds, up to a second before the
        lock ended: the delete was still refused."""
        until = datetime.fromtimestamp(int(datetime.now(timezone.utc).timestamp()) + 2.75, timezone.utc)
        version = self.put(b"briefly kept")
        self.admin.put_object_retention(Bucket="vault", Key="k", VersionId=version,  # its XML has the fraction
                                        Retention={"Mode": "COMPLIANCE", "RetainUntilDate": until})
        read = self.admin.get_object_retention(Bucket="vault", Key="k", VersionId=version)["Retention"]
        self.assertEqual(read["RetainUntilDate"], until)
        head = self.admin.head_object(Bucket="vault", Key="k", VersionId=version)
        self.assertEqual(head["ObjectLockRetainUntilDate"], until)
        wait_until(lambda: datetime.now(timezone.utc) > read["RetainUntilDate"], "the retention's date passes",
                   timeout=10)
        self.admin.delete_object(Bucket="vault", Key="k", VersionId=version)
        self.assertEqual(self.admin.list_object_versions(Bucket="vault").get("Versions", []), [])


class GovernanceTests(LockCase):
    def test_governance_yields_to_an_admin_bypass_only(self):
        version = self.put(b"governed", ObjectLockMode="GOVERNANCE", ObjectLockRetainUntilDate=FAR)
        self.assertEqual(self.code_of(self.admin.delete_object, Bucket="vault", Key="k", VersionId=version),
                         "AccessDenied")
        deleter = self.client("data:vault:read", "data:vault:write", "data:vault:delete")
        self.assertEqual(self.code_of(deleter.delete_object, Bucket="vault", Key="k", VersionId=version,
                                      BypassGovernanceRetention=True), "AccessDenied")
        stricter = {"Mode": "COMPLIANCE", "RetainUntilDate": FAR}  # as S3: a change of mode needs the bypass
        self.assertEqual(self.code_of(self.admin.put_object_retention, Bucket="vault", Key="k", VersionId=version,
                                      Retention=stricter), "AccessDenied")
        self.admin.put_object_retention(Bucket="vault", Key="k", VersionId=version, Retention=dict(
            stricter, Mode="GOVERNANCE", RetainUntilDate=FAR + timedelta(days=1)))  # longer: never refused
        self.admin.delete_object(Bucket="vault", Key="k", VersionId=version, BypassGovernanceRetention=True)
        self.assertEqual(self.code_of(self.admin.head_object, Bucket="vault", Key="k", VersionId=version), "404")

    def test_a_default_retention_out_of_range_is_an_invalid_retention_period(self):
        for rule in ({"Mode": "GOVERNANCE", "Days": 0}, {"Mode": "GOVERNANCE", "Years": -1},
                     {"Mode": "COMPLIANCE", "Years": 101}):
            with self.subTest(rule=rule):
                self.assertEqual(self.code_of(self.admin.put_object_lock_configuration, Bucket="vault",
                                              ObjectLockConfiguration={"ObjectLockEnabled": "Enabled",
                                                                       "Rule": {"DefaultRetention": rule}}),
                                 "InvalidRetentionPeriod")

    def test_a_default_retention_applies_to_every_write(self):
        self.admin.put_object_lock_configuration(Bucket="vault", ObjectLockConfiguration={
            "ObjectLockEnabled": "Enabled", "Rule": {"DefaultRetention": {"Mode": "GOVERNANCE", "Days": 2}}})
        rule = self.admin.get_object_lock_configuration(Bucket="vault")["ObjectLockConfiguration"]["Rule"]
        self.assertEqual(rule["DefaultRetention"], {"Mode": "GOVERNANCE", "Days": 2})
        version = self.put(b"by default")
        got = self.admin.get_object_retention(Bucket="vault", Key="k", VersionId=version)["Retention"]
        self.assertEqual(got["Mode"], "GOVERNANCE")
        left = got["RetainUntilDate"] - datetime.now(timezone.utc)
        self.assertTrue(timedelta(days=1, hours=23) < left <= timedelta(days=2), left)
        self.assertEqual(self.code_of(self.admin.delete_object, Bucket="vault", Key="k", VersionId=version),
                         "AccessDenied")


class LegalHoldTests(LockCase):
    def test_a_legal_hold_keeps_a_version_until_it_is_taken_off(self):
        version = self.put(b"held")
        self.admin.put_object_legal_hold(Bucket="vault", Key="k", VersionId=version, LegalHold={"Status": "ON"})
        self.assertEqual(self.admin.get_object_legal_hold(Bucket="vault", Key="k", VersionId=version)
                         ["LegalHold"]["Status"], "ON")
        self.assertEqual(self.code_of(self.admin.delete_object, Bucket="vault", Key="k", VersionId=version,
                                      BypassGovernanceRetention=True), "AccessDenied")
        self.admin.put_object_legal_hold(Bucket="vault", Key="k", VersionId=version, LegalHold={"Status": "OFF"})
        self.admin.delete_object(Bucket="vault", Key="k", VersionId=version)
        self.assertEqual(self.data_delete(b"held"), 200)  # no version names the bytes any more

    def test_a_multipart_upload_takes_its_lock_at_completion(self):
        created = self.admin.create_multipart_upload(Bucket="vault", Key="big", ObjectLockLegalHoldStatus="ON")
        part = self.admin.upload_part(Bucket="vault", Key="big", UploadId=created["UploadId"], PartNumber=1,
                                      Body=b"part")
        done = self.admin.complete_multipart_upload(Bucket="vault", Key="big", UploadId=created["UploadId"],
                                                    MultipartUpload={"Parts": [{"PartNumber": 1,
                                                                                "ETag": part["ETag"]}]})
        self.assertEqual(self.code_of(self.admin.delete_object, Bucket="vault", Key="big",
                                      VersionId=done["VersionId"]), "AccessDenied")


class RefusedTests(BotoCase):
    def test_what_a_bucket_without_lock_refuses(self):
        self.admin.create_bucket(Bucket="plain")
        self.assertEqual(self.code_of(self.admin.put_object, Bucket="plain", Key="k", Body=b"x",
                                      ObjectLockMode="COMPLIANCE", ObjectLockRetainUntilDate=FAR), "InvalidRequest")
        self.assertEqual(self.code_of(self.admin.put_object_lock_configuration, Bucket="plain",
                                      ObjectLockConfiguration={"ObjectLockEnabled": "Enabled"}), "InvalidBucketState")
        self.assertEqual(self.code_of(self.admin.get_object_lock_configuration, Bucket="plain"),
                         "ObjectLockConfigurationNotFoundError")
        self.admin.create_bucket(Bucket="locked", ObjectLockEnabledForBucket=True)
        self.assertEqual(self.code_of(self.admin.put_bucket_versioning, Bucket="locked",
                                      VersioningConfiguration={"Status": "Suspended"}), "InvalidBucketState")
        self.assertEqual(self.code_of(self.admin.put_object, Bucket="locked", Key="k", Body=b"x",
                                      ObjectLockMode="COMPLIANCE", ObjectLockRetainUntilDate=datetime(
                                          2001, 1, 1, tzinfo=timezone.utc)), "InvalidArgument")


class AwsCliTests(ClientCase):
    """docs/s3.md's object lock and lifecycle commands, through the aws cli."""

    def test_lock_retention_and_lifecycle_as_documented(self):
        self.aws("s3api", "create-bucket", "--bucket", "vault", "--object-lock-enabled-for-bucket")
        self.aws("s3api", "put-object-lock-configuration", "--bucket", "vault", "--object-lock-configuration",
                 '{"ObjectLockEnabled": "Enabled", "Rule": {"DefaultRetention": {"Mode": "COMPLIANCE", "Days": 30}}}')
        body = os.path.join(self.tree, "small.txt")
        version = json.loads(self.aws("s3api", "put-object", "--bucket", "vault", "--key", "db.dump", "--body",
                                      body))["VersionId"]
        retention = json.loads(self.aws("s3api", "get-object-retention", "--bucket", "vault", "--key", "db.dump",
                                        "--version-id", version))["Retention"]
        self.assertEqual(retention["Mode"], "COMPLIANCE")
        self.aws("s3api", "put-object-retention", "--bucket", "vault", "--key", "db.dump", "--version-id", version,
                 "--retention", '{"Mode": "COMPLIANCE", "RetainUntilDate": "2030-01-01T00:00:00Z"}')
        self.aws("s3api", "put-object-legal-hold", "--bucket", "vault", "--key", "db.dump", "--version-id", version,
                 "--legal-hold", "Status=ON")
        with self.assertRaises(AssertionError) as refused:
            self.aws("s3api", "delete-object", "--bucket", "vault", "--key", "db.dump", "--version-id", version)
        self.assertIn("AccessDenied", str(refused.exception))
        self.aws("s3api", "put-bucket-lifecycle-configuration", "--bucket", "vault", "--lifecycle-configuration",
                 '{"Rules": [{"ID": "old versions", "Status": "Enabled", "Filter": {"Prefix": ""}, '
                 '"NoncurrentVersionExpiration": {"NoncurrentDays": 30, "NewerNoncurrentVersions": 3}}]}')
        rules = json.loads(self.aws("s3api", "get-bucket-lifecycle-configuration", "--bucket", "vault"))["Rules"]
        self.assertEqual([rule["ID"] for rule in rules], ["old versions"])
