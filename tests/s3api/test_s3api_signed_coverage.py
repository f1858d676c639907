"""What a signature covers is all that is obeyed: an ``x-amz-*`` header the
signature leaves out is refused (S3's AccessDenied, "headers present in the
request which were not signed"), ``host`` must be signed, a presigned URL's
body is the payload whatever way it is framed, and every digest a request
states is checked. Requests are signed by ``tests.aws_signer``, written from
AWS's documentation, never through the daemon's own ``wire.sigv4``."""

from __future__ import annotations

import base64
import hashlib
import zlib
from typing import Dict, Optional

from ..aws_signer import AwsSigner, aws_encode
from ..s3api_support import S3ApiCase, aws_chunked, utc_stamp
from ..support import Reply, payload


class SignedCoverageCase(S3ApiCase):
    def setUp(self) -> None:
        super().setUp()
        key, secret = self.key_pair()
        self.signer = AwsSigner(key, secret, "127.0.0.1:%d" % self.s3_port)
        self.assertEqual(self.send("PUT", "/box", self.signer.headers("PUT", "/box")).status, 200)
        self.assertEqual(self.send("PUT", "/private", self.signer.headers("PUT", "/private")).status, 200)
        secret_bytes = b"salaries: secret"
        headers = self.signer.headers("PUT", "/private/payroll.csv", payload=hashlib.sha256(secret_bytes).hexdigest())
        self.assertEqual(self.send("PUT", "/private/payroll.csv", headers, secret_bytes).status, 200)
        # A token that may write box and nothing else: its presigned URLs go to box only.
        key, secret = self.key_pair("data:box:write", "data:box:read")
        self.box_only = AwsSigner(key, secret, "127.0.0.1:%d" % self.s3_port)

    def presigned(self, signer: AwsSigner, method: str, path: str, query=()) -> str:
        return aws_encode(path, slash=True) + "?" + signer.presigned_query(method, path, query)

    def stored(self, bucket: str, key: str) -> Optional[bytes]:
        entry = self.app.keys.get(bucket, key)
        if entry is None:
            return None
        from filestoraged.storage.names import repository

        with self.app.backend.open(repository(bucket), entry.oid) as obj:
            return obj.read_all()


class UnsignedHeaderTests(SignedCoverageCase):
    # The URLs are an admin's: what the signer may read, the URL's holder may not.
    def test_a_presigned_put_with_an_added_copy_source_is_refused(self):
        reply = self.send("PUT", self.presigned(self.signer, "PUT", "/box/stolen"),
                          {"x-amz-copy-source": "/private/payroll.csv"})
        self.assertS3Error(reply, 403, "AccessDenied")
        self.assertIn(b"<HeadersNotSigned>x-amz-copy-source</HeadersNotSigned>", reply.body)
        self.assertIsNone(self.stored("box", "stolen"))
        reply = self.send("GET", self.presigned(self.box_only, "GET", "/box/stolen"), {})
        self.assertS3Error(reply, 404, "NoSuchKey")

    def test_a_presigned_upload_part_with_an_added_copy_source_is_refused(self):
        created = self.send("POST", "/box/big?uploads=", self.box_only.headers("POST", "/box/big",
                                                                                [("uploads", "")]))
        self.assertEqual(created.status, 200, created)
        upload_id = created.body.split(b"<UploadId>")[1].split(b"</UploadId>")[0].decode()
        query = [("partNumber", "1"), ("uploadId", upload_id)]
        reply = self.send("PUT", self.presigned(self.signer, "PUT", "/box/big", query),
                          {"x-amz-copy-source": "/private/payroll.csv"})
        self.assertS3Error(reply, 403, "AccessDenied")
        parts = self.send("GET", "/box/big?uploadId=" + upload_id,
                          self.box_only.headers("GET", "/box/big", [("uploadId", upload_id)]))
        self.assertEqual(parts.status, 200, parts)
        self.assertNotIn(b"<Part>", parts.body)

    def test_an_unsigned_meta_header_is_refused_signed_or_presigned(self):
        body = b"plain"
        headers = self.signer.headers("PUT", "/box/m", payload=hashlib.sha256(body).hexdigest())
        headers["x-amz-meta-added"] = "by someone else"
        reply = self.send("PUT", "/box/m", headers, body)
        self.assertS3Error(reply, 403, "AccessDenied")
        self.assertIn(b"x-amz-meta-added", reply.body)
        reply = self.send("PUT", self.presigned(self.box_only, "PUT", "/box/m"), {"x-amz-meta-added": "x"}, body)
        self.assertS3Error(reply, 403, "AccessDenied")
        self.assertIsNone(self.stored("box", "m"))
        # Signed, the same header is kept.
        headers = self.signer.headers("PUT", "/box/m", headers={"x-amz-meta-added": "signed"},
                                      payload=hashlib.sha256(body).hexdigest())
        self.assertEqual(self.send("PUT", "/box/m", headers, body).status, 200)
        head = self.send("HEAD", "/box/m", self.signer.headers("HEAD", "/box/m"))
        self.assertEqual(head.headers["x-amz-meta-added"], "signed")

    def test_host_must_be_signed(self):
        headers = self.signer.headers("GET", "/private/payroll.csv", signed=["x-amz-date", "x-amz-content-sha256"])
        reply = self.send("GET", "/private/payroll.csv", headers)
        self.assertS3Error(reply, 403, "AccessDenied")
        self.assertNotIn(b"salaries", reply.body)
        query = self.signer.presigned_query("GET", "/private/payroll.csv", signed=["x-amz-date"],
                                            headers={"x-amz-date": "x"})
        reply = self.send("GET", "/private/payroll.csv?" + query, {"x-amz-date": "x"})
        self.assertEqual(reply.status, 403, reply)
        self.assertNotIn(b"salaries", reply.body)

    def test_a_signing_date_that_is_no_date_is_refused(self):
        """A 13th month or a 32nd day is AccessDenied (was a 500)."""
        for stamp in ("20261325T000000Z", "20260232T000000Z", "20260101T250000Z"):
            with self.subTest(stamp=stamp):
                headers = self.signer.headers("GET", "/private/payroll.csv")
                headers["Authorization"] = headers["Authorization"].replace(headers["x-amz-date"][:8], stamp[:8])
                headers["x-amz-date"] = stamp
                reply = self.send("GET", "/private/payroll.csv", headers)
                self.assertS3Error(reply, 403, "AccessDenied")
                self.assertNotIn(b"salaries", reply.body)

    def test_what_clients_sign_is_taken(self):
        body = b"whole"
        headers = self.signer.headers("PUT", "/box/ok", headers={"x-amz-meta-a": "1", "Content-Type": "text/plain"},
                                      payload=hashlib.sha256(body).hexdigest())
        self.assertEqual(self.send("PUT", "/box/ok", headers, body).status, 200)
        # An unsigned header that is not x-amz-* (User-Agent, Expect) is no concern.
        headers = self.signer.headers("GET", "/box/ok")
        headers["User-Agent"] = "anything"
        self.assertEqual(self.send("GET", "/box/ok", headers).body, body)
        self.assertEqual(self.send("GET", self.presigned(self.box_only, "GET", "/box/ok"),
                                   {"User-Agent": "x"}).body, body)


class PresignedPayloadTests(SignedCoverageCase):
    def test_a_presigned_streaming_body_is_stored_decoded(self):
        data = payload(200000, 3)
        framed = aws_chunked(data, 65536, None, "", utc_stamp())
        reply = self.send("PUT", self.presigned(self.box_only, "PUT", "/box/framed"),
                          {"x-amz-content-sha256": "STREAMING-UNSIGNED-PAYLOAD-TRAILER",
                           "Content-Encoding": "aws-chunked"}, framed)
        self.assertEqual(reply.status, 200, reply)
        self.assertEqual(self.stored("box", "framed"), data)
        self.assertEqual(reply.headers["ETag"], '"%s"' % hashlib.md5(data).hexdigest())

    def test_a_presigned_body_that_is_not_its_stated_sha256_is_refused(self):
        reply = self.send("PUT", self.presigned(self.box_only, "PUT", "/box/s"),
                          {"x-amz-content-sha256": hashlib.sha256(b"other bytes").hexdigest()}, b"these bytes")
        self.assertS3Error(reply, 400, "XAmzContentSHA256Mismatch")
        self.assertIsNone(self.stored("box", "s"))

    def test_aws_chunked_without_a_streaming_mode_is_refused(self):
        framed = aws_chunked(b"abc", 65536, None, "", utc_stamp())
        reply = self.send("PUT", self.presigned(self.box_only, "PUT", "/box/c"),
                          {"Content-Encoding": "aws-chunked"}, framed)
        self.assertS3Error(reply, 400, "InvalidArgument")
        self.assertIsNone(self.stored("box", "c"))


class EveryDigestTests(SignedCoverageCase):
    def put(self, key: str, body: bytes, extra: Dict[str, str]) -> Reply:
        headers = self.signer.headers("PUT", "/box/" + key, headers=extra, payload=hashlib.sha256(body).hexdigest())
        return self.send("PUT", "/box/" + key, headers, body)

    def test_a_wrong_checksum_beside_a_right_one_is_refused(self):
        body = b"checked twice"
        crc = base64.b64encode(zlib.crc32(body).to_bytes(4, "big")).decode()
        wrong = base64.b64encode(hashlib.sha256(b"not it").digest()).decode()
        reply = self.put("two", body, {"x-amz-checksum-crc32": crc, "x-amz-checksum-sha256": wrong})
        self.assertEqual(reply.status, 400, reply)
        self.assertIsNone(self.stored("box", "two"))
        right = base64.b64encode(hashlib.sha256(body).digest()).decode()
        reply = self.put("two", body, {"x-amz-checksum-crc32": crc, "x-amz-checksum-sha256": right})
        self.assertEqual(reply.status, 200, reply)

    def test_a_trailer_upload_with_a_wrong_checksum_header_is_refused(self):
        data = payload(50000, 4)
        stamp = utc_stamp()
        crc = base64.b64encode(zlib.crc32(data).to_bytes(4, "big")).decode()
        framed = aws_chunked(data, 16384, None, "", stamp, trailers=[("x-amz-checksum-crc32", crc)])
        wrong = base64.b64encode(hashlib.sha256(b"not it").digest()).decode()
        extra = {"Content-Encoding": "aws-chunked", "x-amz-trailer": "x-amz-checksum-crc32",
                 "x-amz-decoded-content-length": str(len(data)), "x-amz-checksum-sha256": wrong,
                 "Content-Length": str(len(framed))}
        headers = self.signer.headers("PUT", "/box/t", headers=extra, payload="STREAMING-UNSIGNED-PAYLOAD-TRAILER")
        reply = self.send("PUT", "/box/t", headers, framed)
        self.assertEqual(reply.status, 400, reply)
        self.assertIsNone(self.stored("box", "t"))
        # The trailer alone, right: stored, decoded.
        del extra["x-amz-checksum-sha256"]
        headers = self.signer.headers("PUT", "/box/t", headers=extra, payload="STREAMING-UNSIGNED-PAYLOAD-TRAILER")
        self.assertEqual(self.send("PUT", "/box/t", headers, framed).status, 200)
        self.assertEqual(self.stored("box", "t"), data)

    def test_a_trailer_checksum_that_was_not_announced_is_checked(self):
        data = payload(30000, 5)
        wrong = base64.b64encode(hashlib.sha1(b"not it").digest()).decode()
        framed = aws_chunked(data, 16384, None, "", utc_stamp(), trailers=[("x-amz-checksum-sha1", wrong)])
        extra = {"Content-Encoding": "aws-chunked", "x-amz-decoded-content-length": str(len(data)),
                 "Content-Length": str(len(framed))}
        headers = self.signer.headers("PUT", "/box/u", headers=extra, payload="STREAMING-UNSIGNED-PAYLOAD-TRAILER")
        reply = self.send("PUT", "/box/u", headers, framed)
        self.assertEqual(reply.status, 400, reply)
        self.assertIsNone(self.stored("box", "u"))
