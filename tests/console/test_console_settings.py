"""The console's settings forms, over HTTP, each judged by the rules the S3
API uses (so boto3 reads back what the page set, and the page refuses what
S3 refuses): an object version's tags, legal hold and retention; a
bucket's default retention, lifecycle rules, public read and quota."""

from __future__ import annotations

import datetime

from .test_console import ConsoleCase


class ObjectSettingsTests(ConsoleCase):
    def setUp(self) -> None:
        super().setUp()
        self.admin.create_bucket(Bucket="vault", ObjectLockEnabledForBucket=True)
        self.first = self.admin.put_object(Bucket="vault", Key="deed.pdf", Body=b"the deed")["VersionId"]
        self.session_id = self.session()

    def change(self, **fields: str):
        return self.post("/console/object/settings", self.session_id, dict({"bucket": "vault", "key": "deed.pdf"},
                                                                           **fields))

    def test_tags_set_as_lines_and_read_back_through_s3(self):
        page = self.page("/console/object", self.session_id, bucket="vault", key="deed.pdf").body.decode()
        self.assertIn("Tags, legal hold and retention", page)
        saved = self.change(action="tags", tags="team = legal\n\nyear=2026\n")
        self.assertEqual((saved.status, saved.headers["Location"]),
                         (303, "/console/object?bucket=vault&key=deed.pdf#settings"))
        tags = self.admin.get_object_tagging(Bucket="vault", Key="deed.pdf")["TagSet"]
        self.assertEqual(tags, [{"Key": "team", "Value": "legal"}, {"Key": "year", "Value": "2026"}])
        page = self.page("/console/object", self.session_id, bucket="vault", key="deed.pdf").body.decode()
        self.assertIn(">team=legal\nyear=2026</textarea>", page)
        for bad, said in (("no equals sign", b"line 1 of the tags has no '='"), ("a=1\na=2", b"given twice"),
                          ("\n".join("k%d=v" % n for n in range(11)), b"at most 10 tags")):
            refused = self.change(action="tags", tags=bad)
            self.assertEqual(refused.status, 400, bad)
            self.assertIn(said, refused.body)
        self.assertEqual(self.change(action="tags", tags="").status, 303)  # none: every tag removed
        self.assertEqual(self.admin.get_object_tagging(Bucket="vault", Key="deed.pdf")["TagSet"], [])

    def test_a_legal_hold_keeps_the_version_until_lifted(self):
        self.assertEqual(self.change(action="hold-on").status, 303)
        self.assertEqual(self.admin.get_object_legal_hold(Bucket="vault", Key="deed.pdf")["LegalHold"]["Status"], "ON")
        self.assertIn("<dt>Legal hold</dt><dd>on</dd>",
                      self.page("/console/object", self.session_id, bucket="vault", key="deed.pdf").body.decode())
        refused = self.post("/console/delete", self.session_id, {"bucket": "vault", "key": "deed.pdf",
                                                                 "version": self.first})
        self.assertEqual(refused.status, 403)
        self.assertEqual(self.change(action="hold-off").status, 303)
        self.assertEqual(self.admin.get_object_legal_hold(Bucket="vault", Key="deed.pdf")["LegalHold"]["Status"],
                         "OFF")

    def test_a_retention_kept_to_the_end_of_its_day_and_shortened_only_as_s3_allows(self):
        later = (datetime.datetime.now(datetime.timezone.utc) + datetime.timedelta(days=30)).date()
        self.assertEqual(self.change(action="retention", mode="GOVERNANCE", until=later.isoformat()).status, 303)
        kept = self.admin.get_object_retention(Bucket="vault", Key="deed.pdf")["Retention"]
        self.assertEqual(kept["Mode"], "GOVERNANCE")
        self.assertEqual(kept["RetainUntilDate"].strftime("%Y-%m-%d %H:%M:%S"), "%s 23:59:59" % later.isoformat())
        shorter = (later - datetime.timedelta(days=10)).isoformat()
        refused = self.change(action="retention", mode="GOVERNANCE", until=shorter)
        self.assertEqual(refused.status, 403)  # as S3: a GOVERNANCE retention is shortened with the bypass only
        self.assertEqual(self.change(action="retention", mode="GOVERNANCE", until=shorter, bypass="1").status, 303)
        _, writer = self.app.tokens.create(["data:vault:write"], "writer")
        self.session_id = self.session(writer)
        self.assertEqual(self.change(action="retention", mode="", bypass="1").status, 403)  # the bypass is an admin's
        self.assertEqual(self.change(action="retention", mode="COMPLIANCE", until="tomorrow").status, 400)
        _, reader = self.app.tokens.create(["data:vault:read"], "reader")
        self.session_id = self.session(reader)
        self.assertEqual(self.change(action="hold-on").status, 403)
        self.assertNotIn('id="settings"',
                         self.page("/console/object", self.session_id, bucket="vault", key="deed.pdf").body.decode())

    def test_a_bucket_without_object_lock_has_tags_only(self):
        self.admin.put_object(Bucket="photos", Key="a.jpg", Body=b"a")
        page = self.page("/console/object", self.session_id, bucket="photos", key="a.jpg").body.decode()
        self.assertIn("<h2>Tags</h2>", page)
        self.assertNotIn("legal hold", page.lower().split("<h2>tags</h2>")[1])
        refused = self.post("/console/object/settings", self.session_id,
                            {"bucket": "photos", "key": "a.jpg", "action": "hold-on"})
        self.assertEqual(refused.status, 400)


class BucketSettingsTests(ConsoleCase):
    def change(self, bucket: str, **fields: str):
        return self.post("/console/bucket/settings", self.session(), dict({"name": bucket}, **fields))

    def test_the_default_retention_of_a_bucket_with_object_lock(self):
        self.admin.create_bucket(Bucket="vault", ObjectLockEnabledForBucket=True)
        self.assertEqual(self.change("vault", action="lock-default", mode="COMPLIANCE", days="7").status, 303)
        rule = self.admin.get_object_lock_configuration(Bucket="vault")["ObjectLockConfiguration"]["Rule"]
        self.assertEqual(rule["DefaultRetention"], {"Mode": "COMPLIANCE", "Days": 7})
        self.assertIn("new versions are kept COMPLIANCE for 7 days",
                      self.page("/console/bucket", self.session(), name="vault").body.decode())
        self.assertEqual(self.change("vault", action="lock-default", mode="").status, 303)
        self.assertNotIn("Rule", self.admin.get_object_lock_configuration(Bucket="vault")["ObjectLockConfiguration"])
        self.assertEqual(self.change("vault", action="lock-default", mode="COMPLIANCE", days="0").status, 400)
        self.assertEqual(self.change("photos", action="lock-default", mode="GOVERNANCE", days="1").status, 400)

    def test_lifecycle_rules_added_in_a_form_and_removed(self):
        made = self.change("photos", action="lifecycle-add", prefix="logs/", expire_days="30", abort_days="2")
        self.assertEqual(made.status, 303)
        self.change("photos", action="lifecycle-add", noncurrent_days="90")
        rules = self.admin.get_bucket_lifecycle_configuration(Bucket="photos")["Rules"]
        self.assertEqual([(rule["Filter"].get("Prefix"), rule.get("Expiration"),
                           rule.get("AbortIncompleteMultipartUpload"), rule.get("NoncurrentVersionExpiration"))
                          for rule in rules],
                         [("logs/", {"Days": 30}, {"DaysAfterInitiation": 2}, None),
                          ("", None, None, {"NoncurrentDays": 90})])
        page = self.page("/console/bucket", self.session(), name="photos").body.decode()
        self.assertIn("under logs/: keys deleted 30 days after they were written; unfinished uploads ended after "
                      "2 days", page)
        self.assertEqual(self.change("photos", action="lifecycle-add", prefix="x").status, 400)  # it does nothing
        self.assertEqual(self.change("photos", action="lifecycle-remove", rule=rules[0]["ID"]).status, 303)
        left = self.admin.get_bucket_lifecycle_configuration(Bucket="photos")["Rules"]
        self.assertEqual([rule["ID"] for rule in left], [rules[1]["ID"]])

    def test_public_read_only_where_the_operator_allows_it(self):
        refused = self.change("photos", action="public-read")
        self.assertEqual(refused.status, 400)
        self.assertIn(b"--s3-public-acls", refused.body)
        self.assertIn("public buckets are off on this server",
                      self.page("/console/bucket", self.session(), name="photos").body.decode())


class PublicBucketTests(ConsoleCase):
    config_overrides = dict(ConsoleCase.config_overrides, s3_public_acls=True)

    def test_a_bucket_made_readable_by_anyone_and_private_again(self):
        self.admin.put_object(Bucket="photos", Key="open.txt", Body=b"for everyone")
        session = self.session()
        settings = {"name": "photos"}
        self.assertEqual(self.post("/console/bucket/settings", session, dict(settings, action="public-read")).status,
                         303)
        grants = self.admin.get_bucket_acl(Bucket="photos")["Grants"]
        self.assertIn("http://acs.amazonaws.com/groups/global/AllUsers",
                      [grant["Grantee"].get("URI") for grant in grants])
        self.assertIn("anyone may read its keys", self.page("/console/bucket", session, name="photos").body.decode())
        self.post("/console/bucket/settings", session, dict(settings, action="private"))
        grants = self.admin.get_bucket_acl(Bucket="photos")["Grants"]
        self.assertNotIn("http://acs.amazonaws.com/groups/global/AllUsers",
                         [grant["Grantee"].get("URI") for grant in grants])


class BucketQuotaSettingTests(ConsoleCase):
    def test_an_admin_sets_a_quota_that_every_face_keeps_and_removes_it(self):
        session = self.session()
        page = self.page("/console/bucket", session, name="photos").body.decode()
        self.assertIn("<dt>Quota</dt><dd>none; 0 bytes stored", page)
        saved = self.post("/console/bucket/settings", session, {"name": "photos", "action": "quota", "quota": "1K"})
        self.assertEqual((saved.status, saved.headers["Location"]), (303, "/console/bucket?name=photos#settings"))
        self.assertEqual(self.app.buckets.get("photos").quota, 1024)
        self.admin.put_object(Bucket="photos", Key="a", Body=b"x" * 1000)
        page = self.page("/console/bucket", session, name="photos").body.decode()
        self.assertIn("<dt>Quota</dt><dd>1000 bytes stored of 1.0 KiB (97%)", page)
        with self.assertRaises(self.ClientError) as refused:
            self.admin.put_object(Bucket="photos", Key="b", Body=b"y" * 100)
        self.assertEqual(refused.exception.response["Error"]["Code"], "InsufficientStorage")
        self.assertIn("quota of 1024 bytes", refused.exception.response["Error"]["Message"])
        bad = self.post("/console/bucket/settings", session, {"name": "photos", "action": "quota", "quota": "lots"})
        self.assertEqual(bad.status, 400)
        self.assertIn(b"is not a size", bad.body)
        _, writer = self.app.tokens.create(["data:photos:write"], "writer")
        self.assertEqual(self.post("/console/bucket/settings", self.session(writer),
                                   {"name": "photos", "action": "quota", "quota": ""}).status, 403)
        self.assertEqual(self.post("/console/bucket/settings", session,
                                   {"name": "photos", "action": "quota", "quota": ""}).status, 303)
        self.assertIsNone(self.app.buckets.get("photos").quota)
        self.admin.put_object(Bucket="photos", Key="b", Body=b"y" * 100)

    def test_a_bucket_is_its_makers_and_an_admin_gives_it_to_an_owner_whose_quota_bounds_all_theirs(self):
        self.client(key_pair=self.key_pair(name="maker")).create_bucket(Bucket="made")
        self.assertEqual(self.app.buckets.get("made").owner, "maker")  # the token whose key pair made it
        session = self.session()
        page = self.page("/console/bucket", session, name="made").body.decode()
        self.assertIn("<dt>Owner</dt><dd>maker, whose buckets store 0 bytes (no quota)", page)
        given = self.post("/console/bucket/settings", session, {"name": "photos", "action": "owner", "owner": "ana"})
        self.assertEqual((given.status, given.headers["Location"]), (303, "/console/bucket?name=photos#settings"))
        self.assertEqual(self.post("/console/bucket/settings", session, {"name": "photos", "action": "owner-quota",
                                                                         "quota": "1K"}).status, 303)
        self.assertEqual(self.app.buckets.owners()[1], {"ana": 1024})
        self.admin.create_bucket(Bucket="more")
        self.app.buckets.set_owner(self.app.buckets.get("more"), "ana")
        self.admin.put_object(Bucket="photos", Key="a", Body=b"x" * 1000)
        page = self.page("/console/bucket", session, name="more").body.decode()
        self.assertIn("<dt>Owner</dt><dd>ana, whose buckets store 1000 bytes of a quota of 1.0 KiB", page)
        with self.assertRaises(self.ClientError) as refused:  # another bucket of hers: the same quota
            self.admin.put_object(Bucket="more", Key="b", Body=b"y" * 100)
        self.assertEqual(refused.exception.response["Error"]["Code"], "InsufficientStorage")
        self.assertIn("the quota of ana, the owner of the bucket more, of 1024 bytes over 2 bucket(s)",
                      refused.exception.response["Error"]["Message"])
        store = self.page("/console/store", session).body.decode()
        self.assertIn("<h2>Usage by owner</h2>", store)
        self.assertIn('<td>ana</td><td data-label="Buckets" class="words">more, photos</td>'
                      '<td data-label="Stored">1000 bytes</td>', store)
        bad = self.post("/console/bucket/settings", session, {"name": "more", "action": "owner", "owner": "a b"})
        self.assertEqual(bad.status, 400)
        self.assertEqual(self.post("/console/bucket/settings", session,
                                   {"name": "more", "action": "owner", "owner": ""}).status, 303)
        self.assertIsNone(self.app.buckets.get("more").owner)
        self.admin.put_object(Bucket="more", Key="b", Body=b"y" * 100)  # nobody's now: no owner's quota counts it
        metrics = self.request("GET", "/metrics", headers={"Authorization": "Bearer " + self.secret}).body.decode()
        self.assertIn('filestoraged_owner_bytes_stored{owner="ana"} 1000\n', metrics)
        self.assertIn('filestoraged_owner_quota_bytes{owner="ana"} 1024\n', metrics)


class ReplicationShownTests(ConsoleCase):
    def test_a_buckets_rule_a_versions_status_and_the_backlog_are_shown(self):
        session = self.session()
        page = self.page("/console/bucket", session, name="photos").body.decode()
        self.assertIn("<dt>Replication</dt><dd>none (<code>filestoraged bucket replicate</code> sets it)", page)
        # A target nobody answers at: what is written waits in the outbox.
        self.app.buckets.set_replication(self.app.buckets.get("photos"), {
            "endpoint": "http://127.0.0.1:9", "bucket": "copy", "region": "us-east-1",
            "credentials": "/nonexistent", "prefix": "albums/", "markers": True})
        page = self.page("/console/bucket", session, name="photos").body.decode()
        self.assertIn("<dt>Replication</dt><dd>new versions under <code>albums/</code> copied to "
                      "<code>http://127.0.0.1:9/copy</code>, delete markers too", page)
        self.admin.put_object(Bucket="photos", Key="albums/a.jpg", Body=b"a")
        self.admin.put_object(Bucket="photos", Key="other.jpg", Body=b"b")  # not under the prefix: not copied
        self.assertEqual(self.admin.head_object(Bucket="photos", Key="albums/a.jpg")["ReplicationStatus"], "PENDING")
        self.assertNotIn("ReplicationStatus", self.admin.head_object(Bucket="photos", Key="other.jpg"))
        page = self.page("/console/object", session, bucket="photos", key="albums/a.jpg").body.decode()
        self.assertIn("<dt>Replication</dt><dd>waiting to be copied to the bucket's target", page)
        store = self.page("/console/store", session).body.decode()
        self.assertIn("<dt>Waiting to be copied (replication)</dt><dd>1 change</dd>", store)

    def test_a_rule_with_tags_copies_the_versions_that_have_them(self):
        self.app.buckets.set_replication(self.app.buckets.get("photos"), {
            "endpoint": "http://127.0.0.1:9", "bucket": "copy", "region": "us-east-1",
            "credentials": "/nonexistent", "prefix": "", "markers": False, "tags": [["class", "keep"]]})
        self.admin.put_object(Bucket="photos", Key="a.jpg", Body=b"a", Tagging="class=keep&year=2026")
        self.admin.put_object(Bucket="photos", Key="b.jpg", Body=b"b", Tagging="class=drop")
        self.admin.put_object(Bucket="photos", Key="c.jpg", Body=b"c")
        self.assertEqual(self.admin.head_object(Bucket="photos", Key="a.jpg")["ReplicationStatus"], "PENDING")
        for key in ("b.jpg", "c.jpg"):
            self.assertNotIn("ReplicationStatus", self.admin.head_object(Bucket="photos", Key=key))
        self.assertEqual([item.key for item in self.app.outbox.first(10)], ["a.jpg"])
