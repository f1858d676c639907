"""S3 tagging driven by boto3 as applications drive it: an object's tags
given with its write (PutObject, a multipart upload, CopyObject's
directive), read, replaced and removed on each version, counted on GET and
HEAD; a bucket's tags; S3's limits (InvalidTag); and what a token's scopes
allow. They were refused (501) before: now kept."""

from __future__ import annotations

from ..s3api_support import BotoCase
from ..support import payload


def tag_set(**tags: str) -> dict:
    return {"TagSet": [{"Key": name, "Value": value} for name, value in tags.items()]}


class TaggingCase(BotoCase):
    def setUp(self) -> None:
        super().setUp()
        self.admin.create_bucket(Bucket="box")

    def tags(self, key: str, **version) -> list:
        return self.admin.get_object_tagging(Bucket="box", Key=key, **version)["TagSet"]


class ObjectTaggingTests(TaggingCase):
    def test_tags_given_with_a_write_are_kept_counted_and_changed(self):
        self.admin.put_object(Bucket="box", Key="k", Body=b"x", Tagging="project=blue&owner=ops%20team&flag")
        self.assertEqual(self.tags("k"), tag_set(flag="", owner="ops team", project="blue")["TagSet"])  # key order
        self.assertEqual(self.admin.head_object(Bucket="box", Key="k")["ResponseMetadata"]["HTTPHeaders"]
                         ["x-amz-tagging-count"], "3")
        self.admin.put_object_tagging(Bucket="box", Key="k", Tagging=tag_set(b="2", a="1"))
        self.assertEqual(self.tags("k"), tag_set(a="1", b="2")["TagSet"])
        self.assertEqual(self.admin.get_object(Bucket="box", Key="k")["Body"].read(), b"x")  # nothing else changed
        self.admin.delete_object_tagging(Bucket="box", Key="k")
        self.assertEqual(self.tags("k"), [])
        self.assertNotIn("x-amz-tagging-count",
                         self.admin.head_object(Bucket="box", Key="k")["ResponseMetadata"]["HTTPHeaders"])
        self.assertEqual(self.code_of(self.admin.get_object_tagging, Bucket="box", Key="none"), "NoSuchKey")

    def test_a_multipart_upload_and_a_copy_carry_their_tags(self):
        upload = self.admin.create_multipart_upload(Bucket="box", Key="big", Tagging="kind=backup")["UploadId"]
        part = self.admin.upload_part(Bucket="box", Key="big", UploadId=upload, PartNumber=1,
                                      Body=payload(1000, 1))["ETag"]
        self.admin.complete_multipart_upload(Bucket="box", Key="big", UploadId=upload,
                                             MultipartUpload={"Parts": [{"PartNumber": 1, "ETag": part}]})
        self.assertEqual(self.tags("big"), tag_set(kind="backup")["TagSet"])
        self.admin.copy_object(Bucket="box", Key="same", CopySource="box/big")  # COPY: the source's
        self.assertEqual(self.tags("same"), tag_set(kind="backup")["TagSet"])
        self.admin.copy_object(Bucket="box", Key="new", CopySource="box/big", TaggingDirective="REPLACE",
                               Tagging="kind=copy")
        self.assertEqual(self.tags("new"), tag_set(kind="copy")["TagSet"])

    def test_each_version_keeps_its_own_tags(self):
        self.admin.put_bucket_versioning(Bucket="box", VersioningConfiguration={"Status": "Enabled"})
        first = self.admin.put_object(Bucket="box", Key="k", Body=b"1", Tagging="n=1")["VersionId"]
        self.admin.put_object(Bucket="box", Key="k", Body=b"2", Tagging="n=2")
        self.admin.put_object_tagging(Bucket="box", Key="k", VersionId=first, Tagging=tag_set(n="one"))
        self.assertEqual(self.tags("k", VersionId=first), tag_set(n="one")["TagSet"])
        self.assertEqual(self.tags("k"), tag_set(n="2")["TagSet"])

    def test_s3s_limits_are_invalid_tags_and_change_nothing(self):
        self.admin.put_object(Bucket="box", Key="k", Body=b"x", Tagging="kept=yes")
        for tags in ({"k%d" % n: "v" for n in range(11)}, {"k" * 129: "v"}, {"k": "v" * 257}):
            with self.subTest(tags=list(tags)[:1]):
                self.assertEqual(self.code_of(self.admin.put_object_tagging, Bucket="box", Key="k",
                                              Tagging=tag_set(**tags)), "InvalidTag")
        twice = {"TagSet": [{"Key": "a", "Value": "1"}, {"Key": "a", "Value": "2"}]}
        self.assertEqual(self.code_of(self.admin.put_object_tagging, Bucket="box", Key="k", Tagging=twice),
                         "InvalidTag")
        self.assertEqual(self.code_of(self.admin.put_object, Bucket="box", Key="k2", Body=b"x",
                                      Tagging="&".join("k%d=v" % n for n in range(11))), "InvalidTag")
        self.assertEqual(self.tags("k"), tag_set(kept="yes")["TagSet"])
        self.admin.put_object_tagging(Bucket="box", Key="k", Tagging=tag_set(**{"k" * 128: "v" * 256}))

    def test_tags_need_the_scopes_a_write_and_a_read_need(self):
        self.admin.put_object(Bucket="box", Key="k", Body=b"x", Tagging="a=1")
        reader = self.client("data:box:read")
        self.assertEqual(reader.get_object_tagging(Bucket="box", Key="k")["TagSet"], tag_set(a="1")["TagSet"])
        self.assertEqual(self.code_of(reader.put_object_tagging, Bucket="box", Key="k", Tagging=tag_set(a="2")),
                         "AccessDenied")
        self.assertEqual(self.code_of(reader.delete_object_tagging, Bucket="box", Key="k"), "AccessDenied")


class BucketTaggingTests(TaggingCase):
    def test_a_buckets_tags_set_read_and_removed(self):
        self.assertEqual(self.code_of(self.admin.get_bucket_tagging, Bucket="box"), "NoSuchTagSet")
        self.admin.put_bucket_tagging(Bucket="box", Tagging=tag_set(team="ops", cost="backup"))
        self.assertEqual(self.admin.get_bucket_tagging(Bucket="box")["TagSet"],
                         tag_set(cost="backup", team="ops")["TagSet"])
        self.admin.delete_bucket_tagging(Bucket="box")
        self.assertEqual(self.code_of(self.admin.get_bucket_tagging, Bucket="box"), "NoSuchTagSet")
        self.assertEqual(self.code_of(self.admin.put_bucket_tagging, Bucket="box",
                                      Tagging=tag_set(**{"k%d" % n: "v" for n in range(51)})), "InvalidTag")
