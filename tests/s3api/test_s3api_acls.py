"""S3's canned ACLs, driven by boto3 as applications set them: with
``--s3-public-acls`` a bucket or an object opened to everyone (or to every
signed request) as S3 opens it, and closed again; without it, refused as
before unless the access mode makes them true. Before, every canned ACL
but the access mode's truth was refused and Put*Acl was 501."""

from __future__ import annotations

from ..s3api_support import BotoCase


class AclCase(BotoCase):
    def anonymous(self):
        """A boto3 client of the same endpoint that signs nothing."""
        import boto3
        from botocore import UNSIGNED
        from botocore.config import Config

        return boto3.client("s3", endpoint_url=self.s3_url, region_name="us-east-1",
                              config=Config(signature_version=UNSIGNED, s3={"addressing_style": "path"},
                                            retries={"max_attempts": 1}))

    def grants(self, answer: dict) -> list:
        return sorted((grant["Grantee"].get("URI") or grant["Grantee"].get("ID"), grant["Permission"])
                      for grant in answer["Grants"])


class PublicAclsOffTests(AclCase):
    def test_a_public_acl_is_refused_where_the_operator_did_not_allow_it(self):
        self.assertEqual(self.code_of(self.admin.create_bucket, Bucket="open", ACL="public-read"),
                         "AccessControlListNotSupported")
        self.admin.create_bucket(Bucket="box", ACL="private")
        self.assertEqual(self.code_of(self.admin.put_object, Bucket="box", Key="k", Body=b"x",
                                      ACL="public-read"), "AccessControlListNotSupported")
        self.assertEqual(self.code_of(self.admin.put_bucket_acl, Bucket="box", ACL="public-read-write"),
                         "AccessControlListNotSupported")
        self.admin.put_object(Bucket="box", Key="k", Body=b"x", ACL="bucket-owner-full-control")
        self.assertEqual(self.grants(self.admin.get_object_acl(Bucket="box", Key="k")),
                         [("filestoraged", "FULL_CONTROL")])
        self.assertEqual(self.code_of(self.anonymous().get_object, Bucket="box", Key="k"), "AccessDenied")


class PublicAclsTests(AclCase):
    config_overrides = dict(AclCase.config_overrides, s3_public_acls=True)

    def test_a_public_read_bucket_is_listed_by_anyone_but_its_objects_stay_private(self):
        self.admin.create_bucket(Bucket="open", ACL="public-read")
        self.admin.put_object(Bucket="open", Key="k", Body=b"secret")
        anyone = self.anonymous()
        self.assertEqual([item["Key"] for item in anyone.list_objects_v2(Bucket="open")["Contents"]], ["k"])
        self.assertEqual(self.code_of(anyone.get_object, Bucket="open", Key="k"), "AccessDenied")
        self.assertEqual(self.code_of(anyone.get_object, Bucket="open", Key="none"), "NoSuchKey")  # it may list
        self.assertEqual(self.code_of(anyone.put_object, Bucket="open", Key="new", Body=b"x"), "AccessDenied")
        self.assertEqual(self.grants(self.admin.get_bucket_acl(Bucket="open")),
                         [("filestoraged", "FULL_CONTROL"), ("http://acs.amazonaws.com/groups/global/AllUsers",
                                                              "READ")])
        self.admin.put_bucket_acl(Bucket="open", ACL="private")  # closed again
        self.assertEqual(self.code_of(anyone.list_objects_v2, Bucket="open"), "AccessDenied")
        self.assertEqual(self.code_of(anyone.list_objects_v2, Bucket="gone"), "NoSuchBucket")

    def test_a_public_read_object_is_read_by_anyone_in_a_private_bucket(self):
        self.admin.create_bucket(Bucket="box")
        self.admin.put_object(Bucket="box", Key="shown", Body=b"hello", ACL="public-read")
        self.admin.put_object(Bucket="box", Key="hidden", Body=b"no")
        anyone = self.anonymous()
        self.assertEqual(anyone.get_object(Bucket="box", Key="shown")["Body"].read(), b"hello")
        self.assertEqual(self.code_of(anyone.get_object, Bucket="box", Key="hidden"), "AccessDenied")
        self.assertEqual(self.code_of(anyone.get_object, Bucket="box", Key="none"), "AccessDenied")  # may not list
        self.assertEqual(self.code_of(anyone.list_objects_v2, Bucket="box"), "AccessDenied")
        self.admin.put_object(Bucket="box", Key="shown", Body=b"replaced")  # a new object: private again
        self.assertEqual(self.code_of(anyone.get_object, Bucket="box", Key="shown"), "AccessDenied")

    def test_a_public_read_write_bucket_takes_anyones_writes_and_deletes(self):
        self.admin.create_bucket(Bucket="drop", ACL="public-read-write")
        anyone = self.anonymous()
        anyone.put_object(Bucket="drop", Key="from-anyone", Body=b"1")
        anyone.put_object(Bucket="drop", Key="from-anyone", Body=b"2")  # replaced
        self.assertEqual(self.admin.get_object(Bucket="drop", Key="from-anyone")["Body"].read(), b"2")
        anyone.delete_object(Bucket="drop", Key="from-anyone")
        self.assertEqual(self.admin.list_objects_v2(Bucket="drop")["KeyCount"], 0)
        self.assertEqual(self.code_of(anyone.put_bucket_acl, Bucket="drop", ACL="private"), "AccessDenied")

    def test_authenticated_read_opens_to_every_signed_request_not_to_anyone(self):
        self.admin.create_bucket(Bucket="box")
        self.admin.put_object(Bucket="box", Key="k", Body=b"for members", ACL="authenticated-read")
        member = self.client("data:elsewhere:read")
        self.assertEqual(member.get_object(Bucket="box", Key="k")["Body"].read(), b"for members")
        self.assertEqual(self.code_of(self.anonymous().get_object, Bucket="box", Key="k"), "AccessDenied")

    def test_an_acl_as_a_document_and_who_may_set_one(self):
        self.admin.create_bucket(Bucket="box")
        self.admin.put_object(Bucket="box", Key="k", Body=b"x")
        owner = {"ID": "filestoraged", "Type": "CanonicalUser"}
        public = {"Grants": [{"Grantee": owner, "Permission": "FULL_CONTROL"},
                             {"Grantee": {"Type": "Group", "URI": "http://acs.amazonaws.com/groups/global/AllUsers"},
                              "Permission": "READ"}], "Owner": {"ID": "filestoraged"}}
        self.admin.put_object_acl(Bucket="box", Key="k", AccessControlPolicy=public)  # as s3cmd setacl sends it
        self.assertEqual(self.anonymous().get_object(Bucket="box", Key="k")["Body"].read(), b"x")
        someone = {"Grants": [{"Grantee": {"ID": "someone-else", "Type": "CanonicalUser"}, "Permission": "READ"}],
                   "Owner": {"ID": "filestoraged"}}
        self.assertEqual(self.code_of(self.admin.put_object_acl, Bucket="box", Key="k", AccessControlPolicy=someone),
                         "AccessControlListNotSupported")
        self.assertEqual(self.code_of(self.admin.put_object_acl, Bucket="box", Key="k", GrantRead="id=someone"),
                         "AccessControlListNotSupported")
        reader = self.client("data:box:read")
        self.assertEqual(self.code_of(reader.put_object_acl, Bucket="box", Key="k", ACL="private"), "AccessDenied")
        self.assertEqual(self.code_of(reader.put_bucket_acl, Bucket="box", ACL="public-read"), "AccessDenied")

    def test_making_a_bucket_again_with_another_acl_is_409_and_changes_nothing(self):
        self.admin.create_bucket(Bucket="open", ACL="public-read")
        self.admin.create_bucket(Bucket="open", ACL="public-read")  # as it is: 200
        self.assertEqual(self.code_of(self.admin.create_bucket, Bucket="open"), "BucketAlreadyExists")
        self.admin.create_bucket(Bucket="closed")
        self.assertEqual(self.code_of(self.admin.create_bucket, Bucket="closed", ACL="public-read-write"),
                         "BucketAlreadyExists")
        self.assertEqual(self.code_of(self.anonymous().list_objects_v2, Bucket="closed"), "AccessDenied")
