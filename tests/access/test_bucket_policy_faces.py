"""A bucket's policy judged on the main port's faces as on the S3 port:
its Deny refuses what a token's scopes (an admin's too) or a user's
policies allow, over WebDAV as over S3; its Allow lets in a token or a
user that their own rights would not."""

from __future__ import annotations

import base64
import json

from ..support import ServerCase


def bearer(secret: str) -> dict:
    return {"Authorization": "Bearer " + secret}


class BucketPolicyOnWebDavTests(ServerCase):
    config_overrides = {"auth": "all"}

    def setUp(self) -> None:
        super().setUp()
        self.app.buckets.create("photos")
        _, self.admin = self.app.tokens.create(["admin"], "ops")
        _, self.other = self.app.tokens.create(["data:other:*"], "guest")
        self.app.users.create("alice", "correct horse battery")
        self.alice = {"Authorization": "Basic " + base64.b64encode(b"alice:correct horse battery").decode()}
        for folder in ("archive/", "shared/"):
            self.assertEqual(self.request("MKCOL", "/dav/photos/" + folder, None, bearer(self.admin)).status, 201)
        policy = {"Version": "2012-10-17", "Statement": [
            {"Sid": "ArchiveIsFinal", "Effect": "Deny", "Principal": "*",
             "Action": ["s3:PutObject", "s3:DeleteObject"], "Resource": "arn:aws:s3:::photos/archive/*"},
            {"Sid": "GuestsAndAliceShare", "Effect": "Allow",
             "Principal": {"AWS": ["arn:aws:iam::000000000000:user/guest", "arn:aws:iam::000000000000:user/alice"]},
             "Action": ["s3:GetObject", "s3:PutObject"], "Resource": "arn:aws:s3:::photos/shared/*"}]}
        self.app.buckets.set_policy(self.app.buckets.get("photos"), json.dumps(policy))

    def test_a_deny_holds_for_an_admin_token(self):
        refused = self.request("PUT", "/dav/photos/archive/a.jpg", b"x", bearer(self.admin))
        self.assertEqual(refused.status, 403)
        self.assertIn("a statement ('ArchiveIsFinal') of the bucket policy denies it",
                      json.loads(refused.body)["message"])
        self.assertEqual(self.request("PUT", "/dav/photos/other.jpg", b"x", bearer(self.admin)).status, 201)

    def test_an_allow_lets_in_a_token_and_a_user_without_rights_of_their_own(self):
        for name, who in (("guest", bearer(self.other)), ("alice", self.alice)):
            with self.subTest(who=name):
                path = "/dav/photos/shared/%s.txt" % name
                self.assertEqual(self.request("PUT", path, b"shared", who).status, 201)
                self.assertEqual(self.request("GET", path, None, who).body, b"shared")
                self.assertEqual(self.request("PUT", "/dav/photos/elsewhere.txt", b"x", who).status, 403)
                self.assertEqual(self.request("DELETE", path, None, who).status, 403)
