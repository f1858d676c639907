"""SigV4, both ways: what the S3 backend signs and what the S3 API checks,
against the examples AWS publishes with their signatures."""

from __future__ import annotations

import hashlib
import unittest
from datetime import datetime, timezone

from filestoraged.errors import BadRequest
from filestoraged.wire.request_head import Headers
from filestoraged.wire.sigv4 import (EMPTY_SHA256, Signer, canonical_query, chunk_signature, expected_signature,
                                     matches, query_pairs, read_authorization, read_presigned, signing_key,
                                     uri_encode)

KEY_ID, SECRET = "AKIAIOSFODNN7EXAMPLE", "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"
DAY = datetime(2013, 5, 24, tzinfo=timezone.utc)


def headers_of(pairs) -> Headers:
    headers = Headers()
    for name, value in pairs.items():
        headers.add(name, value)
    return headers


class SigV4Tests(unittest.TestCase):
    def test_the_example_from_the_s3_documentation(self):
        # "Example: GET Object" in AWS's "Signature Calculations for the
        # Authorization Header", with its published signature.
        signer = Signer(KEY_ID, SECRET, "us-east-1")
        headers = signer.sign("GET", "examplebucket.s3.amazonaws.com", "/test.txt", {}, {"Range": "bytes=0-9"},
                              EMPTY_SHA256, DAY)
        self.assertEqual(headers["Authorization"],
                         "AWS4-HMAC-SHA256 Credential=AKIAIOSFODNN7EXAMPLE/20130524/us-east-1/s3/aws4_request, "
                         "SignedHeaders=host;range;x-amz-content-sha256;x-amz-date, "
                         "Signature=f0e8bdb87c964420e857bd35b5d6ed310bd44f0170aba48dd91039c6036bdb41")

    def test_the_list_objects_example_with_a_query(self):
        # "Example: GET Bucket (List Objects)" in the same AWS page.
        signer = Signer(KEY_ID, SECRET, "us-east-1")
        with self.assertLogs("filestoraged.wire.sigv4", "DEBUG") as logs:
            headers = signer.sign("GET", "examplebucket.s3.amazonaws.com", "/", {"max-keys": "2", "prefix": "J"},
                                  {}, EMPTY_SHA256, DAY)
        self.assertTrue(headers["Authorization"].endswith(
            "Signature=34b48302e7b5fa45bde8084f4b7868a86f0a534bc59db6670ed5711ef69dc6f7"), headers["Authorization"])
        said = "\n".join(logs.output)
        self.assertIn("canonical request:\nGET\n/\nmax-keys=2&prefix=J\n", said)
        self.assertIn("string to sign:\nAWS4-HMAC-SHA256\n20130524T000000Z\n", said)
        self.assertNotIn("wJalrXUtnFEMI", said)  # the secret is never logged

    def test_the_query_is_sorted_by_its_encoded_names(self):
        # "aZ" < "a^" as they are meant, "a%5E" < "aZ" as they are sent.
        self.assertEqual(canonical_query({"aZ": "1", "a^": "2"}), "a%5E=2&aZ=1")

    def test_keys_are_encoded_by_s3s_rules(self):
        self.assertEqual(uri_encode("a b+c/é~", True), "a%20b%2Bc/%C3%A9~")
        self.assertEqual(uri_encode("a/b", False), "a%2Fb")

    def test_the_secret_never_shows(self):
        self.assertNotIn("secret", repr(Signer("id", "secret", "r")))



class CheckingTests(unittest.TestCase):
    """The other way: a request as an S3 client sends it, checked."""

    key = signing_key(SECRET, "20130524", "us-east-1", "s3")

    def test_a_signed_request_checks_and_a_changed_one_does_not(self):
        sent = Signer(KEY_ID, SECRET, "us-east-1").sign(
            "PUT", "127.0.0.1:9000", "/photos/a%20b.jpg", {"partNumber": "1", "uploadId": "x y"},
            {"Content-Type": "image/jpeg"}, "UNSIGNED-PAYLOAD")
        claim = read_authorization(sent["Authorization"], sent["x-amz-date"])
        self.assertEqual((claim.access_key, claim.region, claim.service), (KEY_ID, "us-east-1", "s3"))
        headers = headers_of({"Host": "127.0.0.1:9000", "Content-Type": "image/jpeg",
                              "x-amz-date": sent["x-amz-date"], "x-amz-content-sha256": "UNSIGNED-PAYLOAD"})
        pairs = query_pairs("uploadId=x%20y&partNumber=1")
        key = signing_key(SECRET, claim.day, claim.region, claim.service)
        expected = expected_signature(key, claim, "PUT", "/photos/a%20b.jpg", pairs, headers, "UNSIGNED-PAYLOAD")[0]
        self.assertTrue(matches(expected, claim.signature))
        for method, path, query in (("GET", "/photos/a%20b.jpg", pairs), ("PUT", "/photos/a%20c.jpg", pairs),
                                    ("PUT", "/photos/a%20b.jpg", query_pairs("uploadId=x%20y&partNumber=2"))):
            other = expected_signature(key, claim, method, path, query, headers, "UNSIGNED-PAYLOAD")[0]
            self.assertFalse(matches(other, claim.signature), (method, path))
        wrong_key = signing_key("not the secret", claim.day, claim.region, claim.service)
        self.assertFalse(matches(expected_signature(wrong_key, claim, "PUT", "/photos/a%20b.jpg", pairs, headers,
                                                    "UNSIGNED-PAYLOAD")[0], claim.signature))

    def test_the_presigned_url_example_from_the_s3_documentation(self):
        # "Example: Presigned URL" in AWS's "Authenticating Requests: Using
        # Query Parameters", with its published signature.
        raw = ("X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Credential=AKIAIOSFODNN7EXAMPLE%2F20130524%2Fus-east-1%2Fs3"
               "%2Faws4_request&X-Amz-Date=20130524T000000Z&X-Amz-Expires=86400&X-Amz-SignedHeaders=host"
               "&X-Amz-Signature=aeeed9bbccd4d02ee5c0109b86d86835f995330da4c265957d157751f604d404")
        pairs = query_pairs(raw)
        claim = read_presigned(dict(pairs))
        self.assertEqual((claim.presigned, claim.expires), (True, 86400))
        unsigned = [pair for pair in pairs if pair[0] != "X-Amz-Signature"]
        expected = expected_signature(self.key, claim, "GET", "/test.txt", unsigned,
                                      headers_of({"Host": "examplebucket.s3.amazonaws.com"}), "UNSIGNED-PAYLOAD")
        self.assertEqual(expected[0], claim.signature)

    def test_the_chunked_upload_example_from_the_s3_documentation(self):
        # "Example: PUT Object" in AWS's "Signature Calculations for the
        # Authorization Header: Transferring Payload in Multiple Chunks":
        # 64 KiB and 1 KiB of "a", each chunk's published signature.
        headers = headers_of({"Host": "s3.amazonaws.com", "x-amz-date": "20130524T000000Z",
                              "x-amz-storage-class": "REDUCED_REDUNDANCY",
                              "x-amz-content-sha256": "STREAMING-AWS4-HMAC-SHA256-PAYLOAD",
                              "Content-Encoding": "aws-chunked", "x-amz-decoded-content-length": "66560",
                              "Content-Length": "66824"})
        claim = read_authorization(
            "AWS4-HMAC-SHA256 Credential=AKIAIOSFODNN7EXAMPLE/20130524/us-east-1/s3/aws4_request,"
            "SignedHeaders=content-encoding;content-length;host;x-amz-content-sha256;x-amz-date;"
            "x-amz-decoded-content-length;x-amz-storage-class,"
            "Signature=4f232c4386841ef735655705268965c44a0e4690baa4adea153f7db9fa80a0a9", "20130524T000000Z")
        seed = expected_signature(self.key, claim, "PUT", "/examplebucket/chunkObject.txt", [], headers,
                                  "STREAMING-AWS4-HMAC-SHA256-PAYLOAD")[0]
        self.assertEqual(seed, claim.signature)
        signatures = []
        previous = seed
        for chunk in (b"a" * 65536, b"a" * 1024, b""):
            previous = chunk_signature(self.key, claim.stamp, claim.scope, previous,
                                       hashlib.sha256(chunk).hexdigest())
            signatures.append(previous)
        self.assertEqual(signatures, ["ad80c730a21e5b8d04586a2213dd63b9a0e99e0e2307b0ade35a65485a288648",
                                      "0055627c9e194cb4542bae2aa5492e3c1575bbb81b612b7d234b86a503ef5497",
                                      "b6c6ea8a5354eaf15b3cb7646744f4275b71ea724fed81ceb9323e279d449df9"])

    def test_malformed_claims_are_refused_by_name(self):
        good = ("AWS4-HMAC-SHA256 Credential=AKIAIOSFODNN7EXAMPLE/20130524/us-east-1/s3/aws4_request, "
                "SignedHeaders=host;x-amz-date, Signature=" + "0" * 64)
        for value, stamp, said in (
                (good.replace("AWS4-HMAC-SHA256", "AWS"), "20130524T000000Z", "AWS4-HMAC-SHA256"),
                (good.replace("/aws4_request", ""), "20130524T000000Z", "credential"),
                (good.replace("SignedHeaders=host;x-amz-date, ", ""), "20130524T000000Z", "SignedHeaders"),
                (good.replace("host;", "Host;"), "20130524T000000Z", "lower-case"),
                (good.replace("0" * 64, "0" * 63), "20130524T000000Z", "64"),
                (good, None, "x-amz-date"), (good, "2013-05-24", "x-amz-date")):
            with self.subTest(said=said), self.assertRaises(BadRequest) as raised:
                read_authorization(value, stamp)
            self.assertIn(said, raised.exception.text)
        with self.assertRaises(BadRequest):
            read_presigned({"X-Amz-Algorithm": "AWS4-HMAC-SHA256"})

    def test_every_spelling_s3_takes_gives_the_same_claim(self):
        usual = ("AWS4-HMAC-SHA256 Credential=AKIAIOSFODNN7EXAMPLE/20130524/us-east-1/s3/aws4_request, "
                 "SignedHeaders=host;x-amz-content-sha256;x-amz-date, Signature=" + "a" * 64)
        claim = read_authorization(usual, "20130524T000000Z")
        self.assertEqual((claim.access_key, claim.day, claim.region, claim.service, claim.signed_headers,
                          claim.signature),
                         ("AKIAIOSFODNN7EXAMPLE", "20130524", "us-east-1", "s3",
                          ("host", "x-amz-content-sha256", "x-amz-date"), "a" * 64))
        for other in (usual.replace(", ", ","), "  " + usual + " ", usual.replace(", ", " ,  "),
                      "AWS4-HMAC-SHA256 Signature=%s, SignedHeaders=host;x-amz-content-sha256;x-amz-date, "
                      "Credential=AKIAIOSFODNN7EXAMPLE/20130524/us-east-1/s3/aws4_request" % ("a" * 64)):
            with self.subTest(other=other):
                self.assertEqual(read_authorization(other, "20130524T000000Z"), claim)

    def test_a_signed_header_that_is_not_sent_is_refused(self):
        claim = read_authorization("AWS4-HMAC-SHA256 Credential=AKIAIOSFODNN7EXAMPLE/20130524/us-east-1/s3/"
                                   "aws4_request, SignedHeaders=host;range, Signature=" + "0" * 64,
                                   "20130524T000000Z")
        with self.assertRaises(BadRequest) as raised:
            expected_signature(self.key, claim, "GET", "/", [], headers_of({"Host": "h"}), EMPTY_SHA256)
        self.assertIn("range", raised.exception.text)
