"""The policy evaluator (``access.policy``) as pure code: documents read
or refused by name, and requests judged by AWS's rule (an explicit Deny,
else an Allow, else nothing), the examples of AWS's S3 documentation
among them."""

from __future__ import annotations

import json
import unittest
from typing import Dict, Optional

from filestoraged.access.policy import Asked, Policy, judge, public, read_policy
from filestoraged.errors import BadRequest
from filestoraged.access.actions import S3_KNOWN as KNOWN


def bucket_policy(*statements: dict, bucket: str = "examplebucket") -> Policy:
    return read_policy(json.dumps({"Version": "2012-10-17", "Statement": list(statements)}), KNOWN, bucket)


def asked(action: str, resource: str, user: Optional[str] = None, **context: str) -> Asked:
    keys: Dict[str, str] = {"aws:SourceIp": "192.0.2.10", "aws:SecureTransport": "true"}
    keys.update({name.replace("__", ":"): value for name, value in context.items()})
    if user is not None:
        keys["aws:username"] = user
    return Asked(action, resource, user, keys)


# AWS's "Bucket policy examples" (Amazon S3 user guide), as written there.
ANONYMOUS_READ = {"Sid": "PublicRead", "Effect": "Allow", "Principal": "*",
                  "Action": ["s3:GetObject", "s3:GetObjectVersion"], "Resource": ["arn:aws:s3:::examplebucket/*"]}
ONLY_FROM = {"Sid": "IPAllow", "Effect": "Deny", "Principal": "*", "Action": "s3:*",
             "Resource": ["arn:aws:s3:::examplebucket", "arn:aws:s3:::examplebucket/*"],
             "Condition": {"NotIpAddress": {"aws:SourceIp": "192.0.2.0/24"}}}
TLS_ONLY = {"Sid": "RestrictToTLSRequestsOnly", "Action": "s3:*", "Effect": "Deny",
            "Resource": ["arn:aws:s3:::examplebucket", "arn:aws:s3:::examplebucket/*"],
            "Condition": {"Bool": {"aws:SecureTransport": "false"}}, "Principal": "*"}
HOME_FOLDERS = {"Sid": "AllowListingOfUserFolder", "Action": ["s3:ListBucket"], "Effect": "Allow",
                "Principal": {"AWS": "arn:aws:iam::111122223333:user/Alice"},
                "Resource": ["arn:aws:s3:::examplebucket"],
                "Condition": {"StringLike": {"s3:prefix": ["home/${aws:username}/*"]}}}
OWN_FOLDER = {"Sid": "AllowAllS3ActionsInUserFolder", "Effect": "Allow",
              "Principal": {"AWS": "arn:aws:iam::111122223333:user/Alice"}, "Action": ["s3:*"],
              "Resource": ["arn:aws:s3:::examplebucket/home/${aws:username}/*"]}


class JudgementTests(unittest.TestCase):
    def test_anonymous_read_of_every_object(self):
        policy = bucket_policy(ANONYMOUS_READ)
        self.assertTrue(judge([policy], asked("s3:GetObject", "arn:aws:s3:::examplebucket/photo.jpg")).allowed)
        self.assertTrue(judge([policy], asked("s3:GetObject", "arn:aws:s3:::examplebucket/a/b", "bob")).allowed)
        for action, resource in (("s3:PutObject", "arn:aws:s3:::examplebucket/photo.jpg"),
                                 ("s3:ListBucket", "arn:aws:s3:::examplebucket"),
                                 ("s3:GetObject", "arn:aws:s3:::otherbucket/photo.jpg")):
            with self.subTest(action=action, resource=resource):
                self.assertIsNone(judge([policy], asked(action, resource)).allowed)

    def test_a_deny_wins_over_an_allow(self):
        policy = bucket_policy(ANONYMOUS_READ, ONLY_FROM)
        inside = asked("s3:GetObject", "arn:aws:s3:::examplebucket/x")
        outside = asked("s3:GetObject", "arn:aws:s3:::examplebucket/x", aws__SourceIp="198.51.100.7")
        self.assertEqual((judge([policy], inside).allowed, judge([policy], inside).sid), (True, "PublicRead"))
        self.assertEqual((judge([policy], outside).allowed, judge([policy], outside).sid), (False, "IPAllow"))

    def test_requests_without_tls_denied(self):
        policy = bucket_policy(TLS_ONLY)
        self.assertFalse(judge([policy], asked("s3:GetObject", "arn:aws:s3:::examplebucket/x",
                                               aws__SecureTransport="false")).allowed)
        self.assertIsNone(judge([policy], asked("s3:GetObject", "arn:aws:s3:::examplebucket/x")).allowed)

    def test_home_folders_by_user_name(self):
        policy = bucket_policy(HOME_FOLDERS, OWN_FOLDER)
        listing = "arn:aws:s3:::examplebucket"
        self.assertTrue(judge([policy], asked("s3:ListBucket", listing, "Alice", s3__prefix="home/Alice/")).allowed)
        self.assertIsNone(judge([policy], asked("s3:ListBucket", listing, "Alice", s3__prefix="home/Bob/")).allowed)
        self.assertIsNone(judge([policy], asked("s3:ListBucket", listing, "Alice")).allowed)  # no prefix: none
        self.assertTrue(judge([policy], asked("s3:PutObject", "arn:aws:s3:::examplebucket/home/Alice/a.txt",
                                              "Alice")).allowed)
        self.assertIsNone(judge([policy], asked("s3:PutObject", "arn:aws:s3:::examplebucket/home/Bob/a.txt",
                                                "Alice")).allowed)
        self.assertIsNone(judge([policy], asked("s3:PutObject", "arn:aws:s3:::examplebucket/home/Bob/a.txt",
                                                "Bob")).allowed)  # another user: not the principal
        self.assertIsNone(judge([policy], asked("s3:GetObject", "arn:aws:s3:::examplebucket/home/*/a.txt",
                                                "Alice")).allowed)  # a name's * is no wildcard

    def test_not_action_and_not_resource(self):
        policy = bucket_policy({"Sid": "AllButDelete", "Effect": "Deny", "Principal": "*",
                                "NotAction": ["s3:Get*", "s3:List*"], "Resource": "arn:aws:s3:::examplebucket/*"},
                               {"Sid": "OutsidePublic", "Effect": "Deny", "Principal": "*", "Action": "s3:GetObject",
                                "NotResource": "arn:aws:s3:::examplebucket/public/*"})
        self.assertEqual(judge([policy], asked("s3:PutObject", "arn:aws:s3:::examplebucket/public/x")).sid,
                         "AllButDelete")
        self.assertIsNone(judge([policy], asked("s3:GetObject", "arn:aws:s3:::examplebucket/public/x")).allowed)
        self.assertEqual(judge([policy], asked("s3:GetObject", "arn:aws:s3:::examplebucket/private/x")).sid,
                         "OutsidePublic")

    def test_actions_are_matched_without_case_and_with_wildcards(self):
        policy = bucket_policy({"Effect": "Allow", "Principal": {"AWS": ["arn:aws:iam::111122223333:user/ci"]},
                                "Action": "S3:put*", "Resource": "arn:aws:s3:::examplebucket/builds/*"})
        self.assertTrue(judge([policy], asked("s3:PutObject", "arn:aws:s3:::examplebucket/builds/1", "ci")).allowed)
        self.assertIsNone(judge([policy], asked("s3:GetObject", "arn:aws:s3:::examplebucket/builds/1", "ci")).allowed)

    def test_conditions_if_exists_null_and_dates(self):
        policy = bucket_policy(
            {"Sid": "PrivateAcl", "Effect": "Deny", "Principal": "*", "Action": "s3:PutObject",
             "Resource": "arn:aws:s3:::examplebucket/*",
             "Condition": {"StringNotEqualsIfExists": {"s3:x-amz-acl": "private"}}},
            {"Sid": "Until2030", "Effect": "Allow", "Principal": "*", "Action": "s3:GetObject",
             "Resource": "arn:aws:s3:::examplebucket/*",
             "Condition": {"DateLessThan": {"aws:CurrentTime": "2030-01-01T00:00:00Z"},
                           "Null": {"aws:username": "false"}}})
        put = "arn:aws:s3:::examplebucket/x"
        self.assertFalse(judge([policy], asked("s3:PutObject", put)).allowed)  # no header: ...IfExists holds (AWS)
        self.assertFalse(judge([policy], asked("s3:PutObject", put, **{"s3__x-amz-acl": "public-read"})).allowed)
        self.assertIsNone(judge([policy], asked("s3:PutObject", put, **{"s3__x-amz-acl": "private"})).allowed)
        self.assertTrue(judge([policy], asked("s3:GetObject", put, "ann", aws__CurrentTime="2029-06-01T00:00:00Z")
                              ).allowed)
        self.assertIsNone(judge([policy], asked("s3:GetObject", put, "ann", aws__CurrentTime="2031-01-01T00:00:00Z")
                                ).allowed)
        self.assertIsNone(judge([policy], asked("s3:GetObject", put, aws__CurrentTime="2029-06-01T00:00:00Z")
                                ).allowed)  # anonymous: aws:username is null

    def test_numbers(self):
        policy = bucket_policy({"Sid": "SmallPages", "Effect": "Deny", "Principal": "*", "Action": "s3:ListBucket",
                                "Resource": "arn:aws:s3:::examplebucket",
                                "Condition": {"NumericGreaterThan": {"s3:max-keys": "100"}}})
        listing = "arn:aws:s3:::examplebucket"
        self.assertFalse(judge([policy], asked("s3:ListBucket", listing, **{"s3__max-keys": "1000"})).allowed)
        self.assertIsNone(judge([policy], asked("s3:ListBucket", listing, **{"s3__max-keys": "100"})).allowed)
        self.assertIsNone(judge([policy], asked("s3:ListBucket", listing)).allowed)  # absent: does not hold

    def test_public_or_not(self):
        self.assertTrue(public(bucket_policy(ANONYMOUS_READ)))
        self.assertFalse(public(bucket_policy(HOME_FOLDERS)))
        self.assertFalse(public(bucket_policy(dict(ANONYMOUS_READ, Condition={
            "IpAddress": {"aws:SourceIp": "192.0.2.0/24"}}))))
        self.assertFalse(public(bucket_policy(ONLY_FROM)))  # a Deny grants nothing
        self.assertTrue(public(bucket_policy(dict(ANONYMOUS_READ, Condition={  # the whole Internet: public
            "IpAddress": {"aws:SourceIp": ["0.0.0.0/0"]}}))))
        self.assertTrue(public(bucket_policy(dict(ANONYMOUS_READ, Condition={
            "NotIpAddress": {"aws:SourceIp": "192.0.2.0/24"}}))))


class RefusedTests(unittest.TestCase):
    """What is not supported is refused by name: never taken and ignored."""

    def assertRefused(self, statement: dict, naming: str, document: Optional[dict] = None) -> None:
        text = json.dumps(document or {"Version": "2012-10-17", "Statement": [statement]})
        with self.assertRaises(BadRequest) as refused:
            read_policy(text, KNOWN, "examplebucket")
        self.assertIn(naming, refused.exception.text)

    def test_each_unsupported_part_is_named(self):
        base = {"Effect": "Allow", "Principal": "*", "Action": "s3:GetObject",
                "Resource": "arn:aws:s3:::examplebucket/*"}
        for change, naming in (({"Condition": {"ForAnyValue:StringLike": {"s3:prefix": "a"}}}, "ForAnyValue"),
                               ({"Condition": {"StringMatches": {"s3:prefix": "a"}}}, "StringMatches"),
                               ({"Condition": {"StringLike": {"s3:ResourceTag/a": "a"}}}, "ResourceTag"),
                               ({"Condition": {"StringLike": {"s3:ExistingObjectTag/": "a"}}}, "ExistingObjectTag/"),
                               ({"Condition": {"StringLike": {"s3:prefix": "${aws:userid}/*"}}}, "aws:userid"),
                               ({"Principal": {"Service": "cloudtrail.amazonaws.com"}}, "Service"),
                               ({"Principal": {"AWS": "arn:aws:iam::111122223333:role/r"}}, "role/r"),
                               ({"Action": "ec2:RunInstances"}, "ec2:RunInstances"),
                               ({"Action": "s3:GetNothing"}, "s3:GetNothing"),
                               ({"Resource": "arn:aws:s3:::otherbucket/*"}, "otherbucket"),
                               ({"Resource": "arn:aws:s3:::examplebucket/${aws:userid}/*"}, "aws:userid"),
                               ({"Effect": "Maybe"}, "Effect"),
                               ({"Sid": "x", "NotPrincipal": {"AWS": "*"}}, "NotPrincipal")):
            with self.subTest(change=change):
                self.assertRefused(dict(base, **change), naming)
        self.assertRefused({}, "Statement", {"Version": "2012-10-17", "Statement": []})
        self.assertRefused({}, "Version", {"Version": "2020-01-01", "Statement": [base]})
        self.assertRefused({}, "Extra", {"Version": "2012-10-17", "Statement": [base], "Extra": 1})
        without_principal = dict(base)
        del without_principal["Principal"]
        self.assertRefused(without_principal, "Principal")

    def test_not_json_is_refused(self):
        with self.assertRaises(BadRequest):
            read_policy("{not json", KNOWN, "examplebucket")

    def test_json_nested_deeper_than_the_parser_follows_is_refused_not_an_error(self):
        for text in ('{"Statement": %s}' % ("[" * 5000 + "]" * 5000), '{"Statement": %s}' % ("[" * 101 + "]" * 101)):
            with self.subTest(text=text[:30]):
                with self.assertRaises(BadRequest) as refused:
                    read_policy(text, KNOWN, "examplebucket")
                self.assertIn("not JSON", str(refused.exception))


if __name__ == "__main__":
    unittest.main()


def identity_policy(*statements: dict) -> Policy:
    from filestoraged.access.teams import identity_policy as read
    return read(json.dumps({"Version": "2012-10-17", "Statement": list(statements)}))


class IdentityAndResourceTests(unittest.TestCase):
    """AWS's policy evaluation logic across an identity policy (a user's or
    a group's) and a resource policy (the bucket's), as the IAM user guide
    gives its examples: an Allow in either allows, a Deny in either wins,
    neither is an implicit deny; and the store's own actions."""

    USER_READS = {"Effect": "Allow", "Action": ["s3:GetObject", "s3:ListBucket"],
                  "Resource": ["arn:aws:s3:::examplebucket", "arn:aws:s3:::examplebucket/*"]}
    BUCKET_DENIES_ALICE = {"Sid": "NoAlice", "Effect": "Deny",
                           "Principal": {"AWS": "arn:aws:iam::111122223333:user/alice"},
                           "Action": "s3:GetObject", "Resource": "arn:aws:s3:::examplebucket/secret/*"}

    def test_the_table(self):
        user = identity_policy(self.USER_READS)
        bucket = bucket_policy(self.BUCKET_DENIES_ALICE, ANONYMOUS_READ)
        for policies, request, expected in (
                ((user,), asked("s3:GetObject", "arn:aws:s3:::examplebucket/a", "alice"), True),
                ((user,), asked("s3:PutObject", "arn:aws:s3:::examplebucket/a", "alice"), None),
                ((bucket, user), asked("s3:GetObject", "arn:aws:s3:::examplebucket/secret/x", "alice"), False),
                ((bucket, user), asked("s3:GetObject", "arn:aws:s3:::examplebucket/secret/x", "bob"), True),
                ((bucket,), asked("s3:GetObject", "arn:aws:s3:::examplebucket/a", "carol"), True),
                ((), asked("s3:GetObject", "arn:aws:s3:::examplebucket/a", "alice"), None)):
            with self.subTest(user=request.user, resource=request.resource, action=request.action):
                self.assertEqual(judge(policies, request).allowed, expected)

    def test_the_stores_own_actions_and_the_built_in_policies(self):
        from filestoraged.access.teams import BUILT_IN
        readonly, admin = identity_policy(*json.loads(BUILT_IN["readonly"])["Statement"]), \
            identity_policy(*json.loads(BUILT_IN["admin"])["Statement"])
        for policy, action, expected in ((readonly, "filestoraged:GetFile", True),
                                         (readonly, "filestoraged:PutFile", None),
                                         (readonly, "filestoraged:Admin", None),
                                         (admin, "filestoraged:Admin", True)):
            with self.subTest(action=action):
                self.assertEqual(judge((policy,), asked(action, "*", "alice")).allowed, expected)

    def test_conditions_on_object_tags(self):
        policy = bucket_policy({"Effect": "Allow", "Principal": "*", "Action": "s3:GetObject",
                                "Resource": "arn:aws:s3:::examplebucket/*",
                                "Condition": {"StringEquals": {"s3:ExistingObjectTag/security": "public"}}})
        tagged = asked("s3:GetObject", "arn:aws:s3:::examplebucket/a", **{"s3__ExistingObjectTag/security": "public"})
        other = asked("s3:GetObject", "arn:aws:s3:::examplebucket/a", **{"s3__ExistingObjectTag/Security": "public"})
        self.assertTrue(judge((policy,), tagged).allowed)
        self.assertIsNone(judge((policy,), other).allowed)  # a tag's key keeps its case
        self.assertIsNone(judge((policy,), asked("s3:GetObject", "arn:aws:s3:::examplebucket/a")).allowed)
