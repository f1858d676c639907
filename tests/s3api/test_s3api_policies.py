"""Bucket policies through boto3 and the AWS CLI (``--auth all``, ``--s3-public-acls``): put,
read back, status, deleted; judged on every request to the bucket beside
the tokens' scopes (a Deny refuses whatever the token may do, an Allow
lets in whom the scopes would not, anonymous callers included); an
element this store does not carry out is refused by name; an admin is
never locked out of the policy itself."""

from __future__ import annotations

import json
import os
import subprocess

from ..s3api_support import REGION, BotoCase, tool_or_skip
from ..support import multipart


def policy(*statements: dict) -> str:
    return json.dumps({"Version": "2012-10-17", "Statement": list(statements)})


def anonymous_client(url: str):
    """A boto3 client that signs nothing."""
    import boto3
    from botocore import UNSIGNED
    from botocore.config import Config

    return boto3.client("s3", endpoint_url=url, region_name=REGION,
                        config=Config(signature_version=UNSIGNED, s3={"addressing_style": "path"},
                                      retries={"max_attempts": 1}))


PUBLIC_READ = {"Sid": "PublicReadOfPublic", "Effect": "Allow", "Principal": "*", "Action": "s3:GetObject",
               "Resource": "arn:aws:s3:::site/public/*"}


class BucketPolicyTests(BotoCase):
    config_overrides = dict(BotoCase.config_overrides, s3_public_acls=True)

    def setUp(self) -> None:
        super().setUp()
        self.admin.create_bucket(Bucket="site")
        for key in ("public/index.html", "private/notes.txt"):
            self.admin.put_object(Bucket="site", Key=key, Body=key.encode())

    def anonymous(self):
        return anonymous_client(self.s3_url)

    def test_put_get_status_and_delete(self):
        self.assertEqual(self.code_of(self.admin.get_bucket_policy, Bucket="site"), "NoSuchBucketPolicy")
        self.assertFalse(self.admin.get_bucket_policy_status(Bucket="site")["PolicyStatus"]["IsPublic"])
        text = policy(PUBLIC_READ)
        self.admin.put_bucket_policy(Bucket="site", Policy=text)
        self.assertEqual(json.loads(self.admin.get_bucket_policy(Bucket="site")["Policy"]), json.loads(text))
        self.assertTrue(self.admin.get_bucket_policy_status(Bucket="site")["PolicyStatus"]["IsPublic"])
        self.admin.delete_bucket_policy(Bucket="site")
        self.assertEqual(self.code_of(self.admin.get_bucket_policy, Bucket="site"), "NoSuchBucketPolicy")
        self.assertEqual(self.code_of(self.anonymous().get_object, Bucket="site", Key="public/index.html"),
                         "AccessDenied")

    def test_an_allow_to_anyone_opens_only_what_it_names(self):
        anonymous = self.anonymous()
        self.assertEqual(self.code_of(anonymous.get_object, Bucket="site", Key="public/index.html"), "AccessDenied")
        self.admin.put_bucket_policy(Bucket="site", Policy=policy(PUBLIC_READ))
        self.assertEqual(anonymous.get_object(Bucket="site", Key="public/index.html")["Body"].read(),
                         b"public/index.html")
        for call, asked in ((anonymous.get_object, {"Key": "private/notes.txt"}),
                            (anonymous.put_object, {"Key": "public/new.html", "Body": b"x"}),
                            (anonymous.list_objects_v2, {})):
            with self.subTest(call=call.__name__):
                self.assertEqual(self.code_of(call, Bucket="site", **asked), "AccessDenied")
        reader = self.client("data:other:read")  # a token whose scopes reach nothing here: the policy's anyone
        self.assertEqual(reader.get_object(Bucket="site", Key="public/index.html")["Body"].read(),
                         b"public/index.html")

    def test_a_deny_refuses_what_the_token_may_do_and_names_its_statement(self):
        deployer = self.client(key_pair=self.key_pair("data:site:*", name="deployer"))
        self.admin.put_bucket_policy(Bucket="site", Policy=policy(
            {"Sid": "NeverDeletePublished", "Effect": "Deny",
             "Principal": {"AWS": "arn:aws:iam::000000000000:user/deployer"},
             "Action": ["s3:DeleteObject", "s3:DeleteObjectVersion"], "Resource": "arn:aws:s3:::site/public/*"}))
        with self.assertRaises(self.ClientError) as refused:
            deployer.delete_object(Bucket="site", Key="public/index.html")
        self.assertEqual(refused.exception.response["Error"]["Code"], "AccessDenied")
        self.assertIn("NeverDeletePublished", refused.exception.response["Error"]["Message"])
        deployer.delete_object(Bucket="site", Key="private/notes.txt")  # not named: its scopes decide
        self.admin.delete_object(Bucket="site", Key="public/index.html")  # another principal

    def test_a_deny_holds_for_each_key_of_delete_objects_and_for_a_copy_of_its_source(self):
        self.admin.put_bucket_policy(Bucket="site", Policy=policy(
            {"Sid": "KeepPublic", "Effect": "Deny", "Principal": "*", "Action": "s3:DeleteObject",
             "Resource": "arn:aws:s3:::site/public/*"},
            {"Sid": "NoCopiesOfPrivate", "Effect": "Deny", "Principal": "*", "Action": "s3:GetObject",
             "Resource": "arn:aws:s3:::site/private/*"}))
        result = self.admin.delete_objects(Bucket="site", Delete={"Objects": [
            {"Key": "public/index.html"}, {"Key": "private/notes.txt"}]})
        self.assertEqual([(error["Key"], error["Code"]) for error in result["Errors"]],
                         [("public/index.html", "AccessDenied")])
        self.assertEqual([deleted["Key"] for deleted in result["Deleted"]], ["private/notes.txt"])
        self.admin.put_object(Bucket="site", Key="private/notes.txt", Body=b"again")
        self.admin.create_bucket(Bucket="elsewhere")
        for call in (lambda: self.admin.copy_object(Bucket="elsewhere", Key="stolen",
                                                    CopySource="site/private/notes.txt"),
                     lambda: self.admin.upload_part_copy(
                         Bucket="elsewhere", Key="stolen", PartNumber=1, CopySource="site/private/notes.txt",
                         UploadId=self.admin.create_multipart_upload(Bucket="elsewhere", Key="stolen")["UploadId"])):
            with self.assertRaises(self.ClientError) as refused:
                call()
            self.assertEqual(refused.exception.response["Error"]["Code"], "AccessDenied")
            self.assertIn("NoCopiesOfPrivate", refused.exception.response["Error"]["Message"])
        self.admin.copy_object(Bucket="elsewhere", Key="copied", CopySource="site/public/index.html")

    def test_a_deny_holds_for_an_upload_from_a_form(self):
        self.admin.put_bucket_policy(Bucket="site", Policy=policy(
            {"Sid": "NoNewPublic", "Effect": "Deny", "Principal": "*", "Action": "s3:PutObject",
             "Resource": "arn:aws:s3:::site/public/*"}))
        for key, status in (("public/new.html", 403), ("private/new.txt", 204)):
            with self.subTest(key=key):
                form = self.admin.generate_presigned_post("site", key, ExpiresIn=600)
                body, content_type = multipart(dict(form["fields"], file=("f", b"from a form", "text/plain")))
                reply = self.send("POST", "/site", {"Content-Type": content_type}, body)
                self.assertEqual(reply.status, status, reply.body)
        self.assertEqual(self.code_of(self.admin.head_object, Bucket="site", Key="public/new.html"), "404")

    def test_a_policy_that_denies_everyone_everything_still_lets_an_admin_remove_it(self):
        self.admin.put_bucket_policy(Bucket="site", Policy=policy(
            {"Sid": "LockedDown", "Effect": "Deny", "Principal": "*", "Action": "s3:*",
             "Resource": ["arn:aws:s3:::site", "arn:aws:s3:::site/*"]}))
        self.assertEqual(self.code_of(self.admin.get_object, Bucket="site", Key="public/index.html"),
                         "AccessDenied")
        self.assertEqual(self.code_of(self.admin.list_objects_v2, Bucket="site"), "AccessDenied")
        self.admin.get_bucket_policy(Bucket="site")
        self.admin.delete_bucket_policy(Bucket="site")
        self.assertEqual(self.admin.get_object(Bucket="site", Key="public/index.html")["Body"].read(),
                         b"public/index.html")

    def test_conditions_on_the_request(self):
        self.admin.put_bucket_policy(Bucket="site", Policy=policy(
            {"Sid": "ListPublicOnly", "Effect": "Allow", "Principal": "*", "Action": "s3:ListBucket",
             "Resource": "arn:aws:s3:::site", "Condition": {"StringLike": {"s3:prefix": "public/*"}}},
            {"Sid": "TlsOnlyForWrites", "Effect": "Deny", "Principal": "*", "Action": "s3:PutObject",
             "Resource": "arn:aws:s3:::site/*", "Condition": {"Bool": {"aws:SecureTransport": "false"}}}))
        anonymous = self.anonymous()
        listed = anonymous.list_objects_v2(Bucket="site", Prefix="public/")
        self.assertEqual([item["Key"] for item in listed["Contents"]], ["public/index.html"])
        self.assertEqual(self.code_of(anonymous.list_objects_v2, Bucket="site", Prefix="private/"), "AccessDenied")
        # This server speaks plain HTTP here: every PutObject is refused, an admin's too.
        self.assertEqual(self.code_of(self.admin.put_object, Bucket="site", Key="x", Body=b"x"), "AccessDenied")

    def test_conditions_on_object_tags(self):
        """``s3:ExistingObjectTag/KEY`` (the tags of the version read) and
        ``s3:RequestObjectTag/KEY`` (those a write gives)."""
        self.admin.put_object_tagging(Bucket="site", Key="public/index.html",
                                      Tagging={"TagSet": [{"Key": "security", "Value": "public"}]})
        self.admin.put_bucket_policy(Bucket="site", Policy=policy(
            {"Sid": "TaggedPublic", "Effect": "Allow", "Principal": "*", "Action": "s3:GetObject",
             "Resource": "arn:aws:s3:::site/*", "Condition": {"StringEquals": {"s3:ExistingObjectTag/security":
                                                                                  "public"}}},
            {"Sid": "WritesTagged", "Effect": "Allow", "Principal": "*", "Action": "s3:PutObject",
             "Resource": "arn:aws:s3:::site/*", "Condition": {"StringEquals": {"s3:RequestObjectTag/security":
                                                                                  "public"}}}))
        reader = self.client("data:other:read")  # a token whose scopes reach nothing here
        self.assertEqual(reader.get_object(Bucket="site", Key="public/index.html")["Body"].read(),
                         b"public/index.html")
        self.assertEqual(self.code_of(reader.get_object, Bucket="site", Key="private/notes.txt"), "AccessDenied")
        self.assertEqual(self.code_of(reader.put_object, Bucket="site", Key="new.txt", Body=b"n"), "AccessDenied")
        reader.put_object(Bucket="site", Key="new.txt", Body=b"n", Tagging="security=public")
        self.assertEqual(self.admin.get_object_tagging(Bucket="site", Key="new.txt")["TagSet"],
                         [{"Key": "security", "Value": "public"}])

    def test_what_is_not_supported_is_refused_by_name_and_nothing_is_kept(self):
        for statement, naming in (
                (dict(PUBLIC_READ, Condition={"ForAllValues:StringLike": {"s3:prefix": "a"}}), "ForAllValues"),
                (dict(PUBLIC_READ, Principal={"Service": "logging.s3.amazonaws.com"}), "Service"),
                (dict(PUBLIC_READ, Resource="arn:aws:s3:::other/*"), "arn:aws:s3:::other/*")):
            with self.subTest(naming=naming):
                with self.assertRaises(self.ClientError) as refused:
                    self.admin.put_bucket_policy(Bucket="site", Policy=policy(statement))
                self.assertEqual(refused.exception.response["Error"]["Code"], "MalformedPolicy")
                self.assertIn(naming, refused.exception.response["Error"]["Message"])
        self.assertEqual(self.code_of(self.admin.get_bucket_policy, Bucket="site"), "NoSuchBucketPolicy")

    def test_only_an_admin_manages_a_policy(self):
        writer = self.client("data:site:*")
        self.assertEqual(self.code_of(writer.put_bucket_policy, Bucket="site", Policy=policy(PUBLIC_READ)),
                         "AccessDenied")
        self.assertEqual(self.code_of(writer.get_bucket_policy, Bucket="site"), "AccessDenied")

    def test_the_aws_cli_puts_and_reads_a_policy(self):
        aws = tool_or_skip("aws")
        key_id, secret = self.key_pair()
        env = {name: value for name, value in os.environ.items() if not name.startswith("AWS_")}
        env.update(AWS_ACCESS_KEY_ID=key_id, AWS_SECRET_ACCESS_KEY=secret, AWS_DEFAULT_REGION=REGION,
                   AWS_CONFIG_FILE=os.devnull, AWS_SHARED_CREDENTIALS_FILE=os.devnull)
        base = [aws, "--endpoint-url", self.s3_url, "s3api"]
        put = subprocess.run(base + ["put-bucket-policy", "--bucket", "site", "--policy", policy(PUBLIC_READ)],
                             env=env, capture_output=True, text=True, timeout=120)
        self.assertEqual(put.returncode, 0, put.stderr)
        got = subprocess.run(base + ["get-bucket-policy", "--bucket", "site"], env=env, capture_output=True,
                             text=True, timeout=120)
        self.assertEqual(got.returncode, 0, got.stderr)
        self.assertEqual(json.loads(json.loads(got.stdout)["Policy"]), json.loads(policy(PUBLIC_READ)))


class PublicPolicyRefusedTests(BotoCase):
    """Without ``--s3-public-acls`` no request makes a bucket public: a
    policy that lets anyone in is refused; one narrowed to addresses is taken."""

    def test_a_public_policy_needs_the_operators_switch(self):
        self.admin.create_bucket(Bucket="site")
        with self.assertRaises(self.ClientError) as refused:
            self.admin.put_bucket_policy(Bucket="site", Policy=policy(PUBLIC_READ))
        self.assertEqual(refused.exception.response["Error"]["Code"], "AccessDenied")
        self.assertIn("--s3-public-acls", refused.exception.response["Error"]["Message"])
        self.assertEqual(self.code_of(self.admin.get_bucket_policy, Bucket="site"), "NoSuchBucketPolicy")
        narrowed = dict(PUBLIC_READ, Condition={"IpAddress": {"aws:SourceIp": "127.0.0.0/8"}})
        self.admin.put_bucket_policy(Bucket="site", Policy=policy(narrowed))
        self.assertFalse(self.admin.get_bucket_policy_status(Bucket="site")["PolicyStatus"]["IsPublic"])


class PublicAccessBlockTests(BotoCase):
    """A bucket's public access block, with the store's public access on
    (``--s3-public-acls``): each of its four settings refuses or ignores
    what it names, for that bucket only; deleted, public access is as the
    store has it."""

    config_overrides = dict(BotoCase.config_overrides, s3_public_acls=True)

    def setUp(self) -> None:
        super().setUp()
        for bucket in ("site", "other"):
            self.admin.create_bucket(Bucket=bucket)
            self.admin.put_object(Bucket=bucket, Key="page.html", Body=b"a page", ACL="public-read")
        self.anonymous = anonymous_client(self.s3_url)

    def block(self, **settings: bool) -> None:
        self.admin.put_public_access_block(Bucket="site", PublicAccessBlockConfiguration=dict(
            {"BlockPublicAcls": False, "IgnorePublicAcls": False, "BlockPublicPolicy": False,
             "RestrictPublicBuckets": False}, **settings))

    def test_put_get_and_delete(self):
        self.assertEqual(self.code_of(self.admin.get_public_access_block, Bucket="site"),
                         "NoSuchPublicAccessBlockConfiguration")
        self.block(BlockPublicAcls=True, RestrictPublicBuckets=True)
        self.assertEqual(self.admin.get_public_access_block(Bucket="site")["PublicAccessBlockConfiguration"],
                         {"BlockPublicAcls": True, "IgnorePublicAcls": False, "BlockPublicPolicy": False,
                          "RestrictPublicBuckets": True})
        self.admin.delete_public_access_block(Bucket="site")
        self.assertEqual(self.code_of(self.admin.get_public_access_block, Bucket="site"),
                         "NoSuchPublicAccessBlockConfiguration")
        self.assertEqual(self.code_of(self.client("data:site:read").put_public_access_block, Bucket="site",
                                      PublicAccessBlockConfiguration={"BlockPublicAcls": False}), "AccessDenied")

    def test_block_public_acls_refuses_them_on_that_bucket_only(self):
        self.block(BlockPublicAcls=True)
        for call, asked in ((self.admin.put_object, {"Key": "new.html", "Body": b"x", "ACL": "public-read"}),
                            (self.admin.put_object_acl, {"Key": "page.html", "ACL": "public-read"}),
                            (self.admin.put_bucket_acl, {"ACL": "public-read"})):
            with self.subTest(call=call.__name__):
                with self.assertRaises(self.ClientError) as refused:
                    call(Bucket="site", **asked)
                self.assertEqual(refused.exception.response["Error"]["Code"], "AccessDenied")
                self.assertIn("BlockPublicAcls", refused.exception.response["Error"]["Message"])
        self.assertEqual(self.code_of(self.admin.head_object, Bucket="site", Key="new.html"), "404")
        self.admin.put_object(Bucket="other", Key="new.html", Body=b"x", ACL="public-read")
        self.assertEqual(self.anonymous.get_object(Bucket="site", Key="page.html")["Body"].read(), b"a page")

    def test_ignore_public_acls_closes_what_they_opened(self):
        self.block(IgnorePublicAcls=True)
        self.assertEqual(self.code_of(self.anonymous.get_object, Bucket="site", Key="page.html"), "AccessDenied")
        self.assertEqual(self.anonymous.get_object(Bucket="other", Key="page.html")["Body"].read(), b"a page")
        self.admin.delete_public_access_block(Bucket="site")
        self.assertEqual(self.anonymous.get_object(Bucket="site", Key="page.html")["Body"].read(), b"a page")

    def test_block_public_policy_and_restrict_public_buckets(self):
        public_read = dict(PUBLIC_READ, Resource="arn:aws:s3:::site/*")
        self.admin.put_object(Bucket="site", Key="plain.html", Body=b"plain")
        self.admin.put_bucket_policy(Bucket="site", Policy=policy(public_read))
        self.assertEqual(self.anonymous.get_object(Bucket="site", Key="plain.html")["Body"].read(), b"plain")
        self.block(RestrictPublicBuckets=True)
        self.assertEqual(self.code_of(self.anonymous.get_object, Bucket="site", Key="plain.html"), "AccessDenied")
        self.block(BlockPublicPolicy=True)
        with self.assertRaises(self.ClientError) as refused:
            self.admin.put_bucket_policy(Bucket="site", Policy=policy(public_read))
        self.assertIn("BlockPublicPolicy", refused.exception.response["Error"]["Message"])
