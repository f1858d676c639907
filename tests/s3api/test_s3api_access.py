"""Who may use the S3 API: signatures (in the header or a presigned URL)
checked against each token's key pair and the clock; each request needs
its token's scope on the bucket; the --auth modes as on the main port."""

from __future__ import annotations

import base64
import hashlib
import hmac
import time
import urllib.error
import urllib.parse
import urllib.request
from datetime import datetime, timedelta, timezone

from filestoraged.wire import sigv4

from ..s3api_support import S3ApiCase, boto3_or_skip


class SignatureTests(S3ApiCase):
    def setUp(self) -> None:
        super().setUp()
        self.pair = self.key_pair()
        self.assertEqual(self.s3("PUT", "/box", key_pair=self.pair).status, 200)
        self.assertEqual(self.s3("PUT", "/box/k", b"kept", key_pair=self.pair).status, 200)

    def test_an_unsigned_request_is_refused(self):
        self.assertS3Error(self.s3("GET", "/box/k"), 403, "AccessDenied")

    def test_a_wrong_secret_is_refused_with_what_was_signed(self):
        reply = self.s3("GET", "/box/k", key_pair=(self.pair[0], "not the secret"))
        self.assertS3Error(reply, 403, "SignatureDoesNotMatch")
        self.assertIn(b"<StringToSign>AWS4-HMAC-SHA256\n", reply.body)
        self.assertIn(b"<CanonicalRequest>GET\n/box/k\n", reply.body)

    def test_an_unknown_or_revoked_key_is_refused(self):
        self.assertS3Error(self.s3("GET", "/box/k", key_pair=("FSD" + "A" * 17, "x" * 40)), 403,
                           "InvalidAccessKeyId")
        pair = self.key_pair(name="leaving")
        self.assertEqual(self.s3("GET", "/box/k", key_pair=pair).status, 200)
        self.app.tokens.revoke("leaving")
        self.assertS3Error(self.s3("GET", "/box/k", key_pair=pair), 403, "InvalidAccessKeyId")

    def test_a_clock_far_off_is_refused(self):
        skewed = datetime.now(timezone.utc) - timedelta(minutes=16)
        self.assertS3Error(self.s3("GET", "/box/k", key_pair=self.pair, now=skewed), 403, "RequestTimeTooSkewed")
        near = datetime.now(timezone.utc) - timedelta(minutes=14)
        self.assertEqual(self.s3("GET", "/box/k", key_pair=self.pair, now=near).status, 200)

    def test_repeated_wrong_signatures_from_one_address_are_slowed_down(self):
        for _ in range(10):
            self.s3("GET", "/box/k", key_pair=(self.pair[0], "wrong"))
        reply = self.s3("GET", "/box/k", key_pair=self.pair)  # even a right one, as on the main port
        self.assertS3Error(reply, 429, "SlowDown")
        self.assertIn("Retry-After", reply.headers)


class PresignedTests(S3ApiCase):
    def setUp(self) -> None:
        boto3_or_skip(self)
        super().setUp()
        self.admin = self.client()
        self.admin.create_bucket(Bucket="box")

    def fetch(self, url: str, data=None, method: str = "GET", content_type=None):
        headers = {} if content_type is None else {"Content-Type": content_type}
        request = urllib.request.Request(url, data=data, method=method, headers=headers)
        try:
            with urllib.request.urlopen(request, timeout=10) as response:
                return response.status, response.read()
        except urllib.error.HTTPError as error:
            return error.code, error.read()

    def test_presigned_get_and_put_from_urllib(self):
        put = self.admin.generate_presigned_url("put_object", Params={"Bucket": "box", "Key": "up"}, ExpiresIn=60)
        self.assertEqual(self.fetch(put, b"sent by urllib", "PUT")[0], 200)
        get = self.admin.generate_presigned_url("get_object", Params={"Bucket": "box", "Key": "up"}, ExpiresIn=60)
        self.assertEqual(self.fetch(get), (200, b"sent by urllib"))
        tampered = get.replace("Key=up", "Key=other") if "Key=up" in get else get.replace("/box/up", "/box/upx")
        self.assertEqual(self.fetch(tampered)[0], 403)

    def presigned(self, pair, path: str, expires: int, signed_at: datetime) -> str:
        """A presigned GET URL made by hand, signed at ``signed_at``."""
        stamp = signed_at.strftime("%Y%m%dT%H%M%SZ")
        query = {"X-Amz-Algorithm": "AWS4-HMAC-SHA256", "X-Amz-Credential": "%s/%s/us-east-1/s3/aws4_request"
                 % (pair[0], stamp[:8]), "X-Amz-Date": stamp, "X-Amz-Expires": str(expires),
                 "X-Amz-SignedHeaders": "host"}
        canonical = sigv4.canonical_request("GET", path, sigv4.canonical_query(query),
                                            {"host": "127.0.0.1:%d" % self.s3_port}, "UNSIGNED-PAYLOAD")
        to_sign = sigv4.string_to_sign(stamp, "%s/us-east-1/s3/aws4_request" % stamp[:8], canonical)
        signature = sigv4.signature(sigv4.signing_key(pair[1], stamp[:8], "us-east-1", "s3"), to_sign)
        return "%s%s?%s&X-Amz-Signature=%s" % (self.s3_url, path, sigv4.canonical_query(query), signature)

    def test_an_expired_or_too_long_url_is_refused(self):
        pair = self.key_pair()
        self.admin.put_object(Bucket="box", Key="up", Body=b"x")
        now = datetime.now(timezone.utc)
        self.assertEqual(self.fetch(self.presigned(pair, "/box/up", 3600, now - timedelta(minutes=30)))[0], 200)
        status, body = self.fetch(self.presigned(pair, "/box/up", 3600, now - timedelta(minutes=61)))
        self.assertEqual(status, 403)
        self.assertIn(b"<Code>AccessDenied</Code>", body)
        long = self.admin.generate_presigned_url("get_object", Params={"Bucket": "box", "Key": "up"},
                                                 ExpiresIn=8 * 24 * 3600)
        status, body = self.fetch(long)
        self.assertEqual(status, 400)
        self.assertIn(b"AuthorizationQueryParametersError", body)


class PresignedV2Tests(PresignedTests):
    """Presigned URLs of Signature Version 2: what boto3 makes with a
    custom endpoint unless told ``signature_version='s3v4'``."""

    def v2_client(self, *scopes: str, **config):
        boto3 = boto3_or_skip(self)
        from botocore.config import Config

        key_id, secret = self.key_pair(*scopes)
        return boto3.client("s3", endpoint_url=self.s3_url, region_name="us-east-1", aws_access_key_id=key_id,
                            aws_secret_access_key=secret, config=Config(s3={"addressing_style": "path"}, **config))

    def by_hand(self, pair, method: str, path: str, expires: int, content_type: str = "") -> str:
        to_sign = "%s\n\n%s\n%d\n%s" % (method, content_type, expires, path)
        signature = base64.b64encode(hmac.new(pair[1].encode(), to_sign.encode(), hashlib.sha1).digest()).decode()
        return "%s%s?AWSAccessKeyId=%s&Expires=%d&Signature=%s" % (
            self.s3_url, path, pair[0], expires, urllib.parse.quote(signature, safe=""))

    def test_boto3s_default_presigned_urls_work(self):
        s3 = self.v2_client()  # no signature_version: botocore presigns with version 2 here
        # Version 2 signs the Content-Type: the URL names the one to send.
        put = s3.generate_presigned_url("put_object", Params={"Bucket": "box", "Key": "a b/ü.txt",
                                                              "ContentType": "application/octet-stream"},
                                        ExpiresIn=60)
        self.assertIn("AWSAccessKeyId=", put)
        self.assertEqual(self.fetch(put, b"sent by urllib", "PUT", "application/octet-stream")[0], 200)
        get = s3.generate_presigned_url("get_object", Params={"Bucket": "box", "Key": "a b/ü.txt",
                                                              "ResponseContentType": "text/plain; charset=utf-8"},
                                        ExpiresIn=60)
        with urllib.request.urlopen(get, timeout=10) as response:
            self.assertEqual(response.read(), b"sent by urllib")
            self.assertEqual(response.headers["Content-Type"], "text/plain; charset=utf-8")  # signed, so honoured
        self.assertEqual(self.admin.get_object(Bucket="box", Key="a b/ü.txt")["Body"].read(), b"sent by urllib")

    def test_a_part_through_a_presigned_url(self):
        s3 = self.v2_client(signature_version="s3")
        upload = self.admin.create_multipart_upload(Bucket="box", Key="parts")["UploadId"]
        url = s3.generate_presigned_url("upload_part", Params={"Bucket": "box", "Key": "parts", "UploadId": upload,
                                                               "PartNumber": 1}, ExpiresIn=60)
        self.assertEqual(self.fetch(url, b"one part", "PUT", content_type="")[0], 200)
        moved = url.replace("partNumber=1", "partNumber=2")  # a sub-resource is signed
        self.assertNotEqual(moved, url)
        self.assertEqual(self.fetch(moved, b"another", "PUT", content_type="")[0], 403)
        listed = self.admin.list_parts(Bucket="box", Key="parts", UploadId=upload)["Parts"]
        self.assertEqual([(part["PartNumber"], part["Size"]) for part in listed], [(1, 8)])

    def test_what_is_refused(self):
        pair = self.key_pair()
        self.admin.put_object(Bucket="box", Key="up", Body=b"x")
        now = int(time.time())
        self.assertEqual(self.fetch(self.by_hand(pair, "GET", "/box/up", now + 60)), (200, b"x"))
        status, body = self.fetch(self.by_hand(pair, "GET", "/box/up", now - 1))
        self.assertEqual((status, b"<Code>AccessDenied</Code>" in body), (403, True))  # expired
        status, body = self.fetch(self.by_hand(pair, "GET", "/box/up", now + 8 * 24 * 3600))
        self.assertEqual((status, b"AuthorizationQueryParametersError" in body), (400, True))  # over 7 days
        status, body = self.fetch(self.by_hand((pair[0], "not the secret"), "GET", "/box/up", now + 60))
        self.assertEqual((status, b"SignatureDoesNotMatch" in body), (403, True))
        self.assertIn(b"<StringToSign>GET\n\n\n", body)
        status, body = self.fetch(self.by_hand(("FSD" + "A" * 17, "x" * 40), "GET", "/box/up", now + 60))
        self.assertEqual((status, b"InvalidAccessKeyId" in body), (403, True))
        status, _ = self.fetch(self.by_hand(pair, "GET", "/box/up", now + 60), b"changed", "PUT", "")
        self.assertEqual(status, 403)  # signed for GET
        reader = self.key_pair("data:box:read")
        writer = self.by_hand(self.key_pair("data:box:write"), "PUT", "/box/new", now + 60, "text/plain")
        self.assertEqual(self.fetch(writer, b"new", "PUT", "text/plain")[0], 200)
        self.assertEqual(self.fetch(writer, b"new", "PUT", "text/html")[0], 403)  # the type is signed
        status, body = self.fetch(self.by_hand(reader, "PUT", "/box/up", now + 60, "text/plain"), b"changed",
                                  "PUT", "text/plain")
        self.assertEqual((status, b"AccessDenied" in body), (403, True))  # its token may only read
        self.assertEqual(self.admin.get_object(Bucket="box", Key="up")["Body"].read(), b"x")


class ScopeTests(S3ApiCase):
    def setUp(self) -> None:
        super().setUp()
        self.admin = self.key_pair()
        for bucket in ("mine", "theirs"):
            self.assertEqual(self.s3("PUT", "/" + bucket, key_pair=self.admin).status, 200)
            self.assertEqual(self.s3("PUT", "/%s/k" % bucket, b"x", key_pair=self.admin).status, 200)

    def test_each_operation_needs_its_scope_on_its_bucket(self):
        reader = self.key_pair("data:mine:read")
        writer = self.key_pair("data:mine:write", "data:mine:read")
        self.assertEqual(self.s3("GET", "/mine/k", key_pair=reader).status, 200)
        self.assertEqual(self.s3("GET", "/mine", query={"list-type": "2"}, key_pair=reader).status, 200)
        self.assertS3Error(self.s3("GET", "/theirs/k", key_pair=reader), 403, "AccessDenied")
        self.assertS3Error(self.s3("PUT", "/mine/new", b"x", key_pair=reader), 403, "AccessDenied")
        self.assertEqual(self.s3("PUT", "/mine/new", b"x", key_pair=writer).status, 200)
        self.assertS3Error(self.s3("DELETE", "/mine/new", key_pair=writer), 403, "AccessDenied")
        for method, path in (("GET", "/"), ("PUT", "/another"), ("DELETE", "/theirs")):
            self.assertS3Error(self.s3(method, path, key_pair=writer), 403, "AccessDenied")
        copy = self.s3("PUT", "/mine/stolen", headers={"x-amz-copy-source": "/theirs/k"}, key_pair=writer)
        self.assertS3Error(copy, 403, "AccessDenied")  # reading the source needs its scope too

    def test_a_copy_says_nothing_of_a_bucket_it_may_not_read(self):
        writer = self.key_pair("data:mine:write", "data:mine:read")
        for source in ("/theirs/k", "/theirs/none", "/nowhere/k"):
            copy = self.s3("PUT", "/mine/stolen", headers={"x-amz-copy-source": source}, key_pair=writer)
            self.assertS3Error(copy, 403, "AccessDenied")


class WritesModeTests(S3ApiCase):
    config_overrides = {"s3_api": "127.0.0.1:0", "auth": "writes"}

    def test_anyone_reads_objects_and_only_tokens_write_or_list(self):
        admin = self.key_pair()
        self.assertEqual(self.s3("PUT", "/open", key_pair=admin).status, 200)
        self.assertEqual(self.s3("PUT", "/open/k", b"public", key_pair=admin).status, 200)
        self.assertEqual(self.s3("GET", "/open/k").body, b"public")
        self.assertS3Error(self.s3("GET", "/open", query={"list-type": "2"}), 403, "AccessDenied")
        self.assertS3Error(self.s3("PUT", "/open/x", b"x"), 403, "AccessDenied")
        self.assertS3Error(self.s3("GET", "/open/k", key_pair=(admin[0], "wrong")), 403, "SignatureDoesNotMatch")

    def test_response_overrides_are_for_signed_requests_only(self):
        admin = self.key_pair()
        self.assertEqual(self.s3("PUT", "/open", key_pair=admin).status, 200)
        self.assertEqual(self.s3("PUT", "/open/k", b"public", key_pair=admin).status, 200)
        asked = {"response-content-type": "text/html"}
        self.assertS3Error(self.s3("GET", "/open/k", query=asked), 400, "InvalidRequest")
        signed = self.s3("GET", "/open/k", query=asked, key_pair=admin)
        self.assertEqual((signed.status, signed.headers["Content-Type"]), (200, "text/html"))


class OffModeTests(S3ApiCase):
    config_overrides = {"s3_api": "127.0.0.1:0", "auth": "off"}

    def test_any_signature_and_none_is_taken(self):
        self.assertEqual(self.s3("PUT", "/free").status, 200)
        self.assertEqual(self.s3("PUT", "/free/k", b"x", key_pair=("FSD" + "B" * 17, "anything")).status, 200)
        self.assertEqual(self.s3("GET", "/free/k").body, b"x")
