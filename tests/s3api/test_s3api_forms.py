"""Uploads from HTML forms (S3's POST Object), as a browser sends them from
a page given a presigned POST: boto3's ``generate_presigned_post``
(SigV4) and the SigV2 form older SDKs make; the policy's terms (every
field named, sizes, expiry), what a token may do, and nothing stored from
a form that breaks a term. POST to a bucket was 501 before."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import time
from typing import Dict, Optional, Tuple
from urllib.parse import parse_qs, urlsplit
from xml.etree import ElementTree

from ..s3api_support import BotoCase
from ..support import Reply, multipart

LATER = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(time.time() + 3600))


def v2_form(key_pair: Tuple[str, str], conditions: list, expiration: str = LATER) -> Dict[str, str]:
    """The fields that sign a form with SigV2: the policy and its HMAC-SHA1."""
    policy = base64.b64encode(json.dumps({"expiration": expiration, "conditions": conditions}).encode()).decode()
    signature = base64.b64encode(hmac.new(key_pair[1].encode(), policy.encode(), hashlib.sha1).digest()).decode()
    return {"AWSAccessKeyId": key_pair[0], "policy": policy, "signature": signature}


class FormCase(BotoCase):
    def setUp(self) -> None:
        super().setUp()
        self.admin.create_bucket(Bucket="box")
        self.pair = self.key_pair("data:box:write")

    def post(self, fields: Dict[str, object], bucket: str = "box") -> Reply:
        body, content_type = multipart(fields)
        return self.send("POST", "/" + bucket, {"Content-Type": content_type}, body)

    def presigned(self, key: str, fields: Optional[dict] = None, conditions: Optional[list] = None,
                  key_pair: Optional[Tuple[str, str]] = None) -> dict:
        client = self.client(key_pair=key_pair or self.pair)
        return client.generate_presigned_post("box", key, Fields=fields, Conditions=conditions, ExpiresIn=600)

    def stored(self, key: str) -> Optional[bytes]:
        try:
            return self.admin.get_object(Bucket="box", Key=key)["Body"].read()
        except self.ClientError as error:
            self.assertEqual(error.response["Error"]["Code"], "NoSuchKey")
            return None


class PresignedPostTests(FormCase):
    def test_a_browser_posts_the_form_boto3_made_and_the_object_is_kept_with_its_fields(self):
        form = self.presigned("photos/${filename}", {"Content-Type": "image/png", "x-amz-meta-album": "summer"},
                              [{"Content-Type": "image/png"}, {"x-amz-meta-album": "summer"},
                               ["starts-with", "$key", "photos/"], ["content-length-range", 1, 1000]])
        self.assertEqual(urlsplit(form["url"]).path, "/box")
        reply = self.post(dict(form["fields"], file=("beach.png", b"\x89PNG pixels", "image/png")))
        self.assertEqual(reply.status, 204, reply)
        self.assertEqual(reply.headers["ETag"], '"%s"' % hashlib.md5(b"\x89PNG pixels").hexdigest())
        got = self.admin.get_object(Bucket="box", Key="photos/beach.png")
        self.assertEqual(got["Body"].read(), b"\x89PNG pixels")
        self.assertEqual(got["ContentType"], "image/png")
        self.assertEqual(got["Metadata"], {"album": "summer"})

    def test_success_action_status_201_answers_where_the_object_is(self):
        form = self.presigned("doc.txt", {"success_action_status": "201"}, [{"success_action_status": "201"}])
        reply = self.post(dict(form["fields"], file=("doc.txt", b"words", "text/plain")))
        self.assertEqual(reply.status, 201, reply)
        answer = ElementTree.fromstring(reply.body)
        self.assertEqual([answer.findtext("Bucket"), answer.findtext("Key")], ["box", "doc.txt"])
        self.assertEqual(answer.findtext("ETag"), '"%s"' % hashlib.md5(b"words").hexdigest())

    def test_success_action_redirect_sends_the_browser_on_with_the_bucket_key_and_etag(self):
        back = "https://app.example/done?from=form"
        form = self.presigned("r.txt", {"success_action_redirect": back}, [{"success_action_redirect": back}])
        reply = self.post(dict(form["fields"], file=("r.txt", b"ok", "text/plain")))
        self.assertEqual(reply.status, 303, reply)
        location = urlsplit(reply.headers["Location"])
        self.assertEqual(location.netloc, "app.example")
        self.assertEqual(parse_qs(location.query), {"from": ["form"], "bucket": ["box"], "key": ["r.txt"],
                                                    "etag": ['"%s"' % hashlib.md5(b"ok").hexdigest()]})

    def test_a_form_signed_with_sigv2_is_taken(self):
        fields = v2_form(self.pair, [{"bucket": "box"}, ["starts-with", "$key", "v2/"], {"acl": "private"}])
        reply = self.post(dict(fields, key="v2/a", acl="private", file=("a", b"two", "text/plain")))
        self.assertEqual(reply.status, 204, reply)
        self.assertEqual(self.stored("v2/a"), b"two")


class PolicyTermsTests(FormCase):
    def assertRefused(self, reply: Reply, status: int, code: str, key: str = "k") -> None:
        self.assertS3Error(reply, status, code)
        self.assertIsNone(self.stored(key))  # nothing kept of a refused form

    def test_a_field_no_condition_names_is_refused(self):
        form = self.presigned("k")
        reply = self.post(dict(form["fields"], **{"x-amz-meta-extra": "not signed"}, file=("k", b"x", "a/b")))
        self.assertRefused(reply, 403, "AccessDenied")
        self.assertIn(b"Extra input fields: x-amz-meta-extra", reply.body)
        ignored = self.post(dict(form["fields"], **{"x-ignore-note": "fine"}, file=("k", b"x", "a/b")))
        self.assertEqual(ignored.status, 204, ignored)  # x-ignore-* is S3's own exception

    def test_a_field_that_breaks_its_condition_or_another_bucket_is_refused(self):
        form = self.presigned("k", {"Content-Type": "text/plain"}, [["starts-with", "$Content-Type", "text/"]])
        fields = dict(form["fields"], **{"Content-Type": "application/x-sh"})
        self.assertRefused(self.post(dict(fields, file=("k", b"x", "a/b"))), 403, "AccessDenied")
        self.admin.create_bucket(Bucket="other")
        reply = self.post(dict(form["fields"], file=("k", b"x", "a/b")), bucket="other")
        self.assertS3Error(reply, 403, "AccessDenied")  # the policy names box: the path's bucket is judged

    def test_sizes_out_of_the_policy_range_store_nothing(self):
        form = self.presigned("k", conditions=[["content-length-range", 10, 100]])
        self.assertRefused(self.post(dict(form["fields"], file=("k", b"x" * 101, "a/b"))), 400, "EntityTooLarge")
        self.assertRefused(self.post(dict(form["fields"], file=("k", b"x" * 9, "a/b"))), 400, "EntityTooSmall")
        self.assertEqual(self.post(dict(form["fields"], file=("k", b"x" * 100, "a/b"))).status, 204)

    def test_an_expired_policy_a_wrong_signature_and_no_signature_are_refused(self):
        expired = v2_form(self.pair, [{"bucket": "box"}, {"key": "k"}], "2020-01-01T00:00:00Z")
        self.assertRefused(self.post(dict(expired, key="k", file=("k", b"x", "a/b"))), 403, "AccessDenied")
        forged = dict(v2_form(self.pair, [{"bucket": "box"}, {"key": "k"}]), signature=base64.b64encode(b"x" * 20))
        self.assertRefused(self.post(dict(forged, key="k", file=("k", b"x", "a/b"))), 403, "SignatureDoesNotMatch")
        self.assertRefused(self.post({"key": "k", "file": ("k", b"x", "a/b")}), 403, "AccessDenied")
        unknown = v2_form(("AKNOBODY", "secret"), [{"bucket": "box"}, {"key": "k"}])
        self.assertRefused(self.post(dict(unknown, key="k", file=("k", b"x", "a/b"))), 403, "InvalidAccessKeyId")

    def test_a_policy_that_does_not_read_is_400(self):
        for document in ({"conditions": [{"bucket": "box"}]},  # no expiration
                         {"expiration": "2030-01-01 00:00:00", "conditions": []},  # not ISO 8601's T...Z
                         {"expiration": LATER},  # no conditions
                         {"expiration": LATER, "conditions": [{}]},
                         {"expiration": LATER, "conditions": [["content-length-range", 0]]},
                         '{"expiration": "%s", "conditions": %s}' % (LATER, "[" * 3000 + "]" * 3000)):
            with self.subTest(document=str(document)[:60]):
                text = document if isinstance(document, str) else json.dumps(document)
                policy = base64.b64encode(text.encode())
                signature = base64.b64encode(hmac.new(self.pair[1].encode(), policy, hashlib.sha1).digest())
                reply = self.post({"key": "k", "AWSAccessKeyId": self.pair[0], "policy": policy.decode(),
                                   "signature": signature.decode(), "file": ("k", b"x", "a/b")})
                self.assertRefused(reply, 400, "InvalidPolicyDocument")
        self.assertRefused(self.post({"file": ("k", b"x", "a/b")}), 400, "InvalidArgument")  # no key

    def test_a_checksum_field_is_checked(self):
        digest = base64.b64encode(hashlib.sha256(b"right").digest()).decode()
        form = self.presigned("k", {"x-amz-checksum-sha256": digest}, [{"x-amz-checksum-sha256": digest}])
        self.assertRefused(self.post(dict(form["fields"], file=("k", b"wrong", "a/b"))), 400, "BadDigest")
        self.assertEqual(self.post(dict(form["fields"], file=("k", b"right", "a/b"))).status, 204)


class FormScopeTests(FormCase):
    def test_what_the_signing_token_may_do_is_what_the_form_may(self):
        reader = self.key_pair("data:box:read")
        form = self.presigned("k", key_pair=reader)
        self.assertS3Error(self.post(dict(form["fields"], file=("k", b"x", "a/b"))), 403, "AccessDenied")
        adder = self.key_pair("data:box:create")
        self.admin.put_object(Bucket="box", Key="kept", Body=b"first")
        form = self.presigned("kept", key_pair=adder)
        self.assertS3Error(self.post(dict(form["fields"], file=("kept", b"over", "a/b"))), 403, "AccessDenied")
        self.assertEqual(self.stored("kept"), b"first")  # an append-only key never replaces
        form = self.presigned("new", key_pair=adder)
        self.assertEqual(self.post(dict(form["fields"], file=("new", b"added", "a/b"))).status, 204)
        self.assertEqual(self.stored("new"), b"added")


class FormFieldNameTests(FormCase):
    def test_a_field_whose_name_is_no_header_name_is_refused_and_nothing_is_kept(self):
        for name in ("x-amz-meta-two words", "x-amz-meta-caf\u00e9", "x-amz-meta-a:b"):
            with self.subTest(name=name):
                form = self.presigned("k", {name: "v"}, [{name: "v"}])
                reply = self.post(dict(form["fields"], file=("k", b"x", "a/b")))
                self.assertS3Error(reply, 400, "InvalidArgument")
                self.assertIsNone(self.stored("k"))

    def test_a_field_this_server_does_not_carry_out_is_refused_not_ignored(self):
        for name in ("x-amz-security-token", "x-amz-grant-read", "Content-Length", "favourite-colour"):
            with self.subTest(name=name):
                form = self.presigned("k", {name: "v"}, [{name: "v"}])  # signed: only not carried out
                reply = self.post(dict(form["fields"], file=("k", b"x", "a/b")))
                self.assertS3Error(reply, 400, "InvalidArgument" if name != "x-amz-grant-read"
                                   else "AccessControlListNotSupported")
                self.assertIsNone(self.stored("k"))
