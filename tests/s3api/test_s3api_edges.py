"""S3's semantics at the edges, driven by boto3 and by hand: nothing taken
and ignored (what this server cannot keep is refused with S3's error, what
clients send by default still works), a completion's conditions, and the
framing's encoding never stored."""

from __future__ import annotations

import hashlib
from datetime import datetime, timezone

from ..s3api_support import REGION, BotoCase, aws_chunked, utc_stamp
from ..support import payload


class EdgeCase(BotoCase):
    def setUp(self) -> None:
        super().setUp()
        self.admin.create_bucket(Bucket="box")


class NothingTakenAndIgnoredTests(EdgeCase):
    def test_what_cannot_be_kept_is_refused_and_nothing_stored(self):
        refused = {
            "NotImplemented": [{"ServerSideEncryption": "AES256"}, {"WebsiteRedirectLocation": "/x"}],
            # a lock is kept, in a bucket made with object lock (test_s3api_object_lock); not in this one
            "InvalidRequest": [{"ObjectLockMode": "COMPLIANCE",
                                "ObjectLockRetainUntilDate": datetime(2030, 1, 1, tzinfo=timezone.utc)},
                               {"ObjectLockLegalHoldStatus": "ON"}],
            "InvalidStorageClass": [{"StorageClass": "GLACIER"}, {"StorageClass": "STANDARD_IA"}],
            "AccessControlListNotSupported": [{"ACL": "public-read"}, {"ACL": "authenticated-read"},
                                              {"GrantRead": 'uri="http://acs.amazonaws.com/groups/global/AllUsers"'}],
        }
        for code, asks in refused.items():
            for ask in asks:
                with self.subTest(ask=ask):
                    self.assertEqual(self.code_of(self.admin.put_object, Bucket="box", Key="k", Body=b"x", **ask),
                                     code)
                    self.assertEqual(self.code_of(self.admin.create_multipart_upload, Bucket="box", Key="k", **ask),
                                     code)
        self.assertEqual(self.admin.list_objects_v2(Bucket="box")["KeyCount"], 0)
        self.assertNotIn("Uploads", self.admin.list_multipart_uploads(Bucket="box"))
        self.admin.put_object(Bucket="box", Key="src", Body=b"x")
        self.assertEqual(self.code_of(self.admin.copy_object, Bucket="box", Key="k", CopySource="box/src",
                                      StorageClass="GLACIER"), "InvalidStorageClass")

    def test_what_clients_send_by_default_works(self):
        for ask in ({"StorageClass": "STANDARD"}, {"ACL": "private"}, {"ACL": "bucket-owner-full-control"}):
            with self.subTest(ask=ask):
                self.admin.put_object(Bucket="box", Key="k", Body=b"kept", **ask)
                self.assertEqual(self.admin.get_object(Bucket="box", Key="k")["Body"].read(), b"kept")
        self.admin.create_bucket(Bucket="private-one", ACL="private")


class HeadersCarriedOutOrRefusedTests(EdgeCase):
    """Headers and elements that were read by nothing (a request naming a
    wrong bucket owner deleted; a read of an object "encrypted with KMS"
    answered 200; an ACL of no grants and MinIO's versioning exclusions
    answered 200, nothing kept): each carried out or refused."""

    def test_an_expected_bucket_owner_that_is_not_the_owner_is_refused(self):
        self.admin.put_object(Bucket="box", Key="k", Body=b"kept")
        for call, asked in ((self.admin.delete_object, {"Key": "k"}), (self.admin.get_object, {"Key": "k"}),
                            (self.admin.head_object, {"Key": "k"}), (self.admin.list_objects_v2, {}),
                            (self.admin.delete_objects, {"Delete": {"Objects": [{"Key": "k"}]}}),
                            (self.admin.put_bucket_versioning, {"VersioningConfiguration": {"Status": "Enabled"}})):
            with self.subTest(call=call.__name__):
                self.assertIn(self.code_of(call, Bucket="box", ExpectedBucketOwner="111122223333", **asked),
                              ("AccessDenied", "403"))
        self.assertEqual(self.code_of(self.admin.copy_object, Bucket="box", Key="c", CopySource="box/k",
                                      ExpectedSourceBucketOwner="111122223333"), "AccessDenied")
        self.assertNotIn("Status", self.admin.get_bucket_versioning(Bucket="box"))
        self.assertEqual(self.admin.get_object(Bucket="box", Key="k", ExpectedBucketOwner="filestoraged")["Body"]
                         .read(), b"kept")
        self.admin.delete_object(Bucket="box", Key="k", ExpectedBucketOwner="filestoraged")
        self.assertEqual(self.admin.list_objects_v2(Bucket="box")["KeyCount"], 0)

    def test_encryption_named_on_a_read_is_refused(self):
        self.admin.put_object(Bucket="box", Key="k", Body=b"stored as sent")
        pair = self.key_pair()
        for method in ("GET", "HEAD"):
            for header in ({"x-amz-server-side-encryption": "aws:kms"},
                           {"x-amz-server-side-encryption-customer-algorithm": "AES256"}):
                with self.subTest(method=method, header=header):
                    reply = self.s3(method, "/box/k", headers=header, key_pair=pair)
                    self.assertEqual(reply.status, 400, reply)
                    if method == "GET":
                        self.assertIn(b"<Code>InvalidArgument</Code>", reply.body)

    def test_an_acl_of_no_grants_is_refused_and_the_acl_kept(self):
        policy = {"Owner": {"ID": "filestoraged"}, "Grants": []}
        self.assertEqual(self.code_of(self.admin.put_bucket_acl, Bucket="box", AccessControlPolicy=policy),
                         "AccessControlListNotSupported")
        self.admin.put_object(Bucket="box", Key="k", Body=b"x")
        self.assertEqual(self.code_of(self.admin.put_object_acl, Bucket="box", Key="k", AccessControlPolicy=policy),
                         "AccessControlListNotSupported")
        grants = self.admin.get_bucket_acl(Bucket="box")["Grants"]
        self.assertEqual([(grant["Grantee"].get("ID"), grant["Permission"]) for grant in grants],
                         [("filestoraged", "FULL_CONTROL")])
        policy["Grants"] = [{"Grantee": {"ID": "filestoraged", "Type": "CanonicalUser"}, "Permission": "FULL_CONTROL"}]
        self.admin.put_bucket_acl(Bucket="box", AccessControlPolicy=policy)  # private, said in full: kept

    def test_minios_versioning_exclusions_are_refused_and_nothing_changes(self):
        for extra in ("<ExcludeFolders>true</ExcludeFolders>",
                      "<ExcludedPrefixes><Prefix>tmp/</Prefix></ExcludedPrefixes>"):
            with self.subTest(extra=extra):
                body = ("<VersioningConfiguration><Status>Enabled</Status>%s</VersioningConfiguration>"
                        % extra).encode()
                reply = self.s3("PUT", "/box", body, query={"versioning": ""}, key_pair=self.key_pair())
                self.assertEqual(reply.status, 501, reply)
                self.assertIn(b"<Code>NotImplemented</Code>", reply.body)
        self.assertNotIn("Status", self.admin.get_bucket_versioning(Bucket="box"))


class WritesModeAclTests(EdgeCase):
    config_overrides = {"s3_api": "127.0.0.1:0", "auth": "writes"}

    def test_acls_tell_the_truth_of_the_access_mode(self):
        self.admin.put_object(Bucket="box", Key="k", Body=b"x")
        grants = self.admin.get_object_acl(Bucket="box", Key="k")["Grants"]
        self.assertCountEqual([(g["Grantee"].get("URI"), g["Permission"]) for g in grants],  # in any order
                              [(None, "FULL_CONTROL"), ("http://acs.amazonaws.com/groups/global/AllUsers", "READ")])
        grants = self.admin.get_bucket_acl(Bucket="box")["Grants"]  # listing a bucket needs a key
        self.assertEqual([g["Permission"] for g in grants], ["FULL_CONTROL"])

    def test_public_read_is_true_where_anyone_reads(self):
        self.admin.put_object(Bucket="box", Key="open", Body=b"o", ACL="public-read")
        self.assertEqual(self.s3("GET", "/box/open").body, b"o")
        self.assertEqual(self.code_of(self.admin.put_object, Bucket="box", Key="k", Body=b"x",
                                      ACL="public-read-write"), "AccessControlListNotSupported")


class CompletionConditionTests(EdgeCase):
    MIB = 1024 * 1024

    def upload(self, key: str):
        upload = self.admin.create_multipart_upload(Bucket="box", Key=key)["UploadId"]
        etag = self.admin.upload_part(Bucket="box", Key=key, UploadId=upload, PartNumber=1,
                                      Body=payload(1000, 3))["ETag"]
        return upload, {"Parts": [{"PartNumber": 1, "ETag": etag}]}

    def test_if_match_and_if_none_match_are_judged(self):
        self.admin.put_object(Bucket="box", Key="k", Body=b"old")
        old = self.admin.head_object(Bucket="box", Key="k")["ETag"]
        upload, parts = self.upload("k")
        pair = self.key_pair()
        body = ("<CompleteMultipartUpload><Part><PartNumber>1</PartNumber><ETag>%s</ETag></Part>"
                "</CompleteMultipartUpload>" % parts["Parts"][0]["ETag"]).encode()
        query = {"uploadId": upload}
        self.assertS3Error(self.s3("POST", "/box/k", body, {"If-Match": '"0123"'}, query, pair), 412,
                           "PreconditionFailed")
        self.assertS3Error(self.s3("POST", "/box/k", body, {"If-None-Match": "*"}, query, pair), 412,
                           "PreconditionFailed")
        self.assertEqual(self.admin.get_object(Bucket="box", Key="k")["Body"].read(), b"old")  # kept
        reply = self.s3("POST", "/box/k", body, {"If-Match": old}, query, pair)
        self.assertEqual(reply.status, 200, reply)
        self.assertEqual(self.admin.get_object(Bucket="box", Key="k")["Body"].read(), payload(1000, 3))
        upload, parts = self.upload("new")
        body = ("<CompleteMultipartUpload><Part><PartNumber>1</PartNumber><ETag>%s</ETag></Part>"
                "</CompleteMultipartUpload>" % parts["Parts"][0]["ETag"]).encode()
        reply = self.s3("POST", "/box/new", body, {"If-None-Match": "*"}, {"uploadId": upload}, pair)
        self.assertEqual(reply.status, 200, reply)


class ContentEncodingTests(EdgeCase):
    def test_aws_chunked_is_not_stored_as_the_objects_encoding(self):
        from filestoraged.wire import sigv4

        import http.client

        data = payload(50000, 5)
        pair = self.key_pair()
        for sent, kept in (("aws-chunked", None), ("gzip,aws-chunked", "gzip"), ("aws-chunked, br", "br")):
            with self.subTest(sent=sent):
                now = datetime.now(timezone.utc)
                stamp = utc_stamp(now)
                framed = aws_chunked(data, 16384, None, "", stamp)
                headers = {"Content-Encoding": sent, "x-amz-decoded-content-length": str(len(data)),
                           "Content-Length": str(len(framed))}
                signed = sigv4.Signer(pair[0], pair[1], REGION).sign(
                    "PUT", "127.0.0.1:%d" % self.s3_port, "/box/enc", {}, headers,
                    "STREAMING-UNSIGNED-PAYLOAD-TRAILER", now)
                conn = http.client.HTTPConnection("127.0.0.1", self.s3_port, timeout=30)
                self.addCleanup(conn.close)
                conn.putrequest("PUT", "/box/enc", skip_host=True, skip_accept_encoding=True)
                for name, value in signed.items():
                    conn.putheader(name, value)
                conn.endheaders(framed)
                response = conn.getresponse()
                self.assertEqual(response.status, 200, response.read())
                got = self.admin.get_object(Bucket="box", Key="enc")
                self.assertEqual(got.get("ContentEncoding"), kept)
                self.assertEqual(hashlib.sha256(got["Body"].read()).hexdigest(), hashlib.sha256(data).hexdigest())


    def test_a_body_whose_digest_is_stated_is_the_object_whatever_the_encoding_says(self):
        """As S3 (ceph's s3-tests): boto3 sends such a PutObject with the
        body's SHA-256; it was refused. Unsigned, it still is."""
        for sent, kept in (("gzip, aws-chunked", "gzip"), ("aws-chunked, gzip", "gzip"), ("aws-chunked", None)):
            with self.subTest(sent=sent):
                self.admin.put_object(Bucket="box", Key="said", Body=b"plain bytes", ContentEncoding=sent)
                got = self.admin.get_object(Bucket="box", Key="said")
                self.assertEqual((got.get("ContentEncoding"), got["Body"].read()), (kept, b"plain bytes"))
        reply = self.s3("PUT", "/box/unsigned", b"5\r\nbytes\r\n0\r\n\r\n", {"Content-Encoding": "aws-chunked"},
                        key_pair=self.key_pair(), payload="UNSIGNED-PAYLOAD")
        self.assertEqual(reply.status, 400, reply)
        self.assertEqual(self.code_of(self.admin.head_object, Bucket="box", Key="unsigned"), "404")


class ListingPrefixTests(EdgeCase):
    def test_a_v1_listing_gives_its_prefix_as_sent(self):
        """boto3 asks ListObjects for url encoding and decodes its keys and
        markers, not its Prefix (as S3 sends it): it was given encoded."""
        self.admin.put_object(Bucket="box", Key="a b", Body=b"x")
        for prefix in ("\n", "a b", "é"):
            with self.subTest(prefix=prefix):
                self.assertEqual(self.admin.list_objects(Bucket="box", Prefix=prefix)["Prefix"], prefix)


class CopyRangeTests(EdgeCase):
    def test_a_part_copy_past_the_source_is_an_invalid_range(self):
        self.admin.put_object(Bucket="box", Key="five", Body=b"12345")
        upload = self.admin.create_multipart_upload(Bucket="box", Key="dest")["UploadId"]
        self.assertEqual(self.code_of(self.admin.upload_part_copy, Bucket="box", Key="dest", UploadId=upload,
                                      PartNumber=1, CopySource="box/five", CopySourceRange="bytes=0-21"),
                         "InvalidRange")
        self.assertEqual(self.code_of(self.admin.upload_part_copy, Bucket="box", Key="dest", UploadId=upload,
                                      PartNumber=1, CopySource="box/five", CopySourceRange="bytes=3-1"),
                         "InvalidArgument")


class ListingTokenTests(EdgeCase):
    def test_an_empty_continuation_token_is_the_first_page(self):
        for key in ("a", "b"):
            self.admin.put_object(Bucket="box", Key=key, Body=b"x")
        listed = self.admin.list_objects_v2(Bucket="box", ContinuationToken="")
        self.assertEqual(([o["Key"] for o in listed["Contents"]], listed["ContinuationToken"], listed["IsTruncated"]),
                         (["a", "b"], "", False))


class PartNumberTests(EdgeCase):
    MIB = 1024 * 1024

    def test_a_part_of_a_multipart_object_is_served_by_its_number(self):
        for sizes in ((5 * self.MIB, 5 * self.MIB, 1000), (6 * self.MIB, 5 * self.MIB, 7)):
            with self.subTest(sizes=sizes):
                bodies = [payload(size, n) for n, size in enumerate(sizes, start=1)]
                upload = self.admin.create_multipart_upload(Bucket="box", Key="parted")["UploadId"]
                done = [{"PartNumber": n, "ETag": self.admin.upload_part(
                    Bucket="box", Key="parted", UploadId=upload, PartNumber=n, Body=body)["ETag"]}
                    for n, body in enumerate(bodies, start=1)]
                self.admin.complete_multipart_upload(Bucket="box", Key="parted", UploadId=upload,
                                                     MultipartUpload={"Parts": done})
                second = self.admin.get_object(Bucket="box", Key="parted", PartNumber=2)
                self.assertEqual(second["ResponseMetadata"]["HTTPStatusCode"], 206)
                self.assertEqual(second["Body"].read(), bodies[1])
                self.assertEqual(second["PartsCount"], 3)
                self.assertEqual(second["ContentRange"], "bytes %d-%d/%d" % (
                    sizes[0], sizes[0] + sizes[1] - 1, sum(sizes)))
                head = self.admin.head_object(Bucket="box", Key="parted", PartNumber=3)
                self.assertEqual(head["ContentLength"], sizes[2])
                self.assertEqual(self.code_of(self.admin.get_object, Bucket="box", Key="parted", PartNumber=4),
                                 "InvalidPartNumber")
                self.assertEqual(self.code_of(self.admin.get_object, Bucket="box", Key="parted", PartNumber=1,
                                              Range="bytes=0-1"), "InvalidRequest")

    def test_an_object_put_whole_is_its_own_part_one(self):
        self.admin.put_object(Bucket="box", Key="whole", Body=b"all of it")
        self.assertEqual(self.admin.get_object(Bucket="box", Key="whole", PartNumber=1)["Body"].read(), b"all of it")
        self.assertEqual(self.code_of(self.admin.get_object, Bucket="box", Key="whole", PartNumber=2),
                         "InvalidPartNumber")
