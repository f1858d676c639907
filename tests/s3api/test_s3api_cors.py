"""A bucket's CORS configuration, as a web app on another origin needs it
to upload straight to the S3 port (a presigned PUT, a form): set, read
and removed with boto3; preflights answered by the first matching rule;
actual answers, failures included, carry the allowing headers. It was
501 before, and every preflight was refused."""

from __future__ import annotations

from ..s3api_support import BotoCase

RULES = {"CORSRules": [
    {"AllowedMethods": ["PUT", "POST"], "AllowedOrigins": ["https://*.example.com"],
     "AllowedHeaders": ["content-type", "x-amz-*"], "ExposeHeaders": ["ETag"], "MaxAgeSeconds": 600},
    {"AllowedMethods": ["GET"], "AllowedOrigins": ["*"]},
]}


class BucketCorsTests(BotoCase):
    def setUp(self) -> None:
        super().setUp()
        self.admin.create_bucket(Bucket="box")

    def preflight(self, path: str, **headers: str):
        return self.send("OPTIONS", path, headers)

    def test_rules_are_set_read_and_removed(self):
        self.assertEqual(self.code_of(self.admin.get_bucket_cors, Bucket="box"), "NoSuchCORSConfiguration")
        self.admin.put_bucket_cors(Bucket="box", CORSConfiguration=RULES)
        self.assertEqual(self.admin.get_bucket_cors(Bucket="box")["CORSRules"], RULES["CORSRules"])
        self.admin.delete_bucket_cors(Bucket="box")
        self.assertEqual(self.code_of(self.admin.get_bucket_cors, Bucket="box"), "NoSuchCORSConfiguration")
        bad = {"CORSRules": [{"AllowedMethods": ["PATCH"], "AllowedOrigins": ["*"]}]}
        self.assertEqual(self.code_of(self.admin.put_bucket_cors, Bucket="box", CORSConfiguration=bad),
                         "InvalidRequest")
        reader = self.client("data:box:read")
        self.assertEqual(self.code_of(reader.put_bucket_cors, Bucket="box", CORSConfiguration=RULES), "AccessDenied")

    def test_a_preflight_is_answered_by_the_first_rule_that_allows_it(self):
        self.assertS3Error(self.preflight("/box/k", Origin="https://app.example.com",
                                          **{"Access-Control-Request-Method": "PUT"}), 403, "AccessForbidden")
        self.admin.put_bucket_cors(Bucket="box", CORSConfiguration=RULES)
        reply = self.preflight("/box/photos/a.png", Origin="https://app.example.com",
                               **{"Access-Control-Request-Method": "PUT",
                                  "Access-Control-Request-Headers": "Content-Type, x-amz-meta-album"})
        self.assertEqual(reply.status, 200, reply)
        self.assertEqual(reply.headers["Access-Control-Allow-Origin"], "https://app.example.com")
        self.assertEqual(reply.headers["Access-Control-Allow-Methods"], "PUT, POST")
        self.assertEqual(reply.headers["Access-Control-Allow-Headers"], "content-type, x-amz-meta-album")
        self.assertEqual(reply.headers["Access-Control-Max-Age"], "600")
        self.assertEqual(reply.headers["Access-Control-Expose-Headers"], "ETag")
        for origin, method, asked in (("https://evil.test", "PUT", ""), ("https://app.example.com", "DELETE", ""),
                                      ("https://app.example.com", "PUT", "authorization-extra")):
            with self.subTest(origin=origin, method=method, asked=asked):
                headers = {"Access-Control-Request-Method": method}
                if asked:
                    headers["Access-Control-Request-Headers"] = asked
                self.assertS3Error(self.preflight("/box/k", Origin=origin, **headers), 403, "AccessForbidden")
        wildcard = self.preflight("/box/k", Origin="https://anyone.test", **{"Access-Control-Request-Method": "GET"})
        self.assertEqual(wildcard.headers["Access-Control-Allow-Origin"], "*")
        self.assertS3Error(self.preflight("/box/k", Origin="https://a.example.com"), 400, "BadRequest")
        self.assertS3Error(self.preflight("/box/k", **{"Access-Control-Request-Method": "GET"}), 400, "BadRequest")
        self.assertS3Error(self.preflight("/nobox/k", Origin="https://a.example.com",
                                          **{"Access-Control-Request-Method": "PUT"}), 404, "NoSuchBucket")

    def test_answers_to_an_allowed_origin_carry_the_rule_failures_too(self):
        self.admin.create_bucket(Bucket="other")
        self.admin.put_bucket_cors(Bucket="box", CORSConfiguration=RULES)
        pair = self.key_pair("admin")
        written = self.s3("PUT", "/box/k", b"data", {"Origin": "https://app.example.com"}, key_pair=pair)
        self.assertEqual(written.status, 200, written)
        self.assertEqual(written.headers["Access-Control-Allow-Origin"], "https://app.example.com")
        self.assertEqual(written.headers["Access-Control-Expose-Headers"], "ETag")
        missing = self.s3("GET", "/box/none", headers={"Origin": "https://app.example.com"}, key_pair=pair)
        self.assertEqual(missing.status, 404)
        self.assertEqual(missing.headers["Access-Control-Allow-Origin"], "*")  # GET: the second rule
        self.assertIsNone(self.s3("DELETE", "/box/k", headers={"Origin": "https://app.example.com"},
                                  key_pair=pair).headers.get("Access-Control-Allow-Origin"))  # no rule for DELETE
        self.assertIsNone(self.s3("GET", "/other", headers={"Origin": "https://app.example.com"},
                                  key_pair=pair).headers.get("Access-Control-Allow-Origin"))  # no rules there

    def test_an_origin_that_cannot_be_echoed_gets_no_cors_headers_and_the_write_stands(self):
        self.admin.put_bucket_cors(Bucket="box", CORSConfiguration=RULES)
        origin = "https://caf\u00e9.example.com"  # sent as Latin-1: no header may carry it back as it is
        written = self.s3("PUT", "/box/k", b"data", {"Origin": origin}, key_pair=self.key_pair("admin"))
        self.assertEqual(written.status, 200, written)
        self.assertNotIn("Access-Control-Allow-Origin", written.headers)
        self.assertEqual(self.admin.get_object(Bucket="box", Key="k")["Body"].read(), b"data")
