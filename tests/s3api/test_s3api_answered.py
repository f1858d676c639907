"""Small objects' answers kept per key (``s3api.answered``): a plain GET of
a hot key is answered from them, judged as every request is, and never
once the key changed: a new body by S3 or WebDAV, new tags, a delete,
versioning turned on; each answer has its own request id; a request that
is not plain (a range, a condition, a version id) takes the full path; a
request with no credentials is answered before it is judged again, while
the records are as they were when it was judged."""

from __future__ import annotations

import json
import socket

from filestoraged.access.gate import FAILURES

from ..s3api_support import BotoCase
from ..support import wait_until


class KeptAnswerTests(BotoCase):
    def setUp(self) -> None:
        super().setUp()
        self.admin.create_bucket(Bucket="hot")
        self.admin.put_object(Bucket="hot", Key="k", Body=b"first")
        self.pair = self.key_pair()

    def get(self, headers=None, query=None):
        reply = self.s3("GET", "/hot/k", headers=headers, query=query, key_pair=self.pair)
        return reply

    def test_never_served_once_the_key_changed(self):
        first = self.get()
        second = self.get()
        self.assertEqual((first.body, second.body), (b"first", b"first"))
        self.assertNotEqual(first.headers["x-amz-request-id"], second.headers["x-amz-request-id"])
        self.assertEqual(first.headers["ETag"], second.headers["ETag"])
        self.admin.put_object(Bucket="hot", Key="k", Body=b"second")
        self.assertEqual(self.get().body, b"second")
        _, token = self.app.tokens.create(["admin"], "dav")
        self.assertEqual(self.request("PUT", "/dav/hot/k", b"third", {"Authorization": "Bearer " + token}).status,
                         204)
        self.assertEqual(self.get().body, b"third")
        self.admin.put_object_tagging(Bucket="hot", Key="k", Tagging={"TagSet": [{"Key": "a", "Value": "b"}]})
        self.assertEqual(self.get().headers.get("x-amz-tagging-count"), "1")
        self.admin.put_bucket_versioning(Bucket="hot", VersioningConfiguration={"Status": "Enabled"})
        self.assertEqual(self.get().headers.get("x-amz-version-id"), "null")
        self.admin.delete_object(Bucket="hot", Key="k")
        self.assertEqual(self.get().status, 404)

    def test_a_request_that_is_not_plain_takes_the_full_path(self):
        self.get()
        self.get()
        ranged = self.get({"Range": "bytes=1-2"})
        self.assertEqual((ranged.status, ranged.body), (206, b"ir"))
        etag = self.get().headers["ETag"]
        self.assertEqual(self.get({"If-None-Match": etag}).status, 304)
        head = self.s3("HEAD", "/hot/k", key_pair=self.pair)
        self.assertEqual((head.status, head.body, head.headers["Content-Length"]), (200, b"", "5"))

    def test_judged_as_every_request(self):
        self.get()
        self.get()
        reader = self.key_pair("data:other:read")
        self.assertEqual(self.s3("GET", "/hot/k", key_pair=reader).status, 403)
        self.assertEqual(self.s3("GET", "/hot/k").status, 403)  # unsigned, under --auth all


    def test_a_signed_read_is_settled_for_its_own_key_only(self):
        reader = self.key_pair("data:hot:read", name="reader")
        stranger = self.key_pair("data:other:read", name="stranger")  # (made first: no change after the reads)
        for _ in range(3):
            self.assertEqual(self.get().body, b"first")
            self.assertEqual(self.s3("GET", "/hot/k", key_pair=reader).body, b"first")
        self.assertEqual(self.s3("GET", "/hot/k", key_pair=stranger).status, 403)
        self.assertEqual(self.s3("GET", "/hot/k", key_pair=(reader[0], "x" * 40)).status, 403)  # signature checked
        self.assertEqual(self.s3("GET", "/hot/k").status, 403)  # unsigned, under --auth all
        self.app.tokens.revoke("reader")
        self.assertEqual(self.s3("GET", "/hot/k", key_pair=reader).status, 403)
        self.assertEqual(self.get().body, b"first")

    def test_a_settled_signed_read_names_its_token_and_a_wrong_signature_counts_once(self):
        reader = self.key_pair("data:hot:read", name="reader")
        for _ in range(2):  # judged, kept, then settled
            self.assertEqual(self.s3("GET", "/hot/k", key_pair=reader).body, b"first")
        with self.assertLogs("filestoraged.access", "INFO") as logged:
            reply = self.s3("GET", "/hot/k", key_pair=reader)
            line = "id=%s token=reader" % reply.headers["x-amz-request-id"]
            wait_until(lambda: any(line in said for said in logged.output), "the access line naming reader",
                       timeout=10)
        for _ in range(FAILURES - 1):  # one short of being slowed down, if each is counted once
            self.assertS3Error(self.s3("GET", "/hot/k", key_pair=(reader[0], "x" * 40)), 403,
                               "SignatureDoesNotMatch")
        self.assertEqual(self.s3("GET", "/hot/k", key_pair=reader).status, 200)
        self.assertS3Error(self.s3("GET", "/hot/k", key_pair=(reader[0], "x" * 40)), 403, "SignatureDoesNotMatch")
        self.assertS3Error(self.s3("GET", "/hot/k", key_pair=reader), 429, "SlowDown")


class SettledAnswerTests(BotoCase):
    """A request with no credentials, judged by the records and the mode
    alone, is answered from the kept answer before it is judged again, but
    only while nothing in the records changed: an ACL taken back, a policy
    put, is the next request's refusal. A request a policy judged (its
    conditions read the request) is judged every time."""

    config_overrides = dict(BotoCase.config_overrides, s3_public_acls=True)

    def setUp(self) -> None:
        super().setUp()
        self.admin.create_bucket(Bucket="open")
        self.admin.put_object(Bucket="open", Key="k", Body=b"for anyone", ACL="public-read")

    def anyone(self, headers=None):
        return self.s3("GET", "/open/k", headers=headers)

    def test_a_read_after_the_acl_is_taken_back_is_refused(self):
        first, second = self.anyone(), self.anyone()
        self.assertEqual((first.status, first.body, second.status, second.body),
                         (200, b"for anyone", 200, b"for anyone"))
        self.assertNotEqual(first.headers["x-amz-request-id"], second.headers["x-amz-request-id"])
        head = self.s3("HEAD", "/open/k")
        self.assertEqual((head.status, head.body, head.headers["Content-Length"]), (200, b"", "10"))
        self.admin.put_object_acl(Bucket="open", Key="k", ACL="private")
        self.assertEqual(self.anyone().status, 403)
        self.assertEqual(self.s3("HEAD", "/open/k").status, 403)

    def test_each_settled_read_is_counted_and_logged_with_its_own_id(self):
        self.anyone()  # judged, its answer kept and settled
        with self.assertLogs("filestoraged.access", "INFO") as logged:
            replies = [self.anyone() for _ in range(3)] + [self.s3("HEAD", "/open/k")]
            ids = [reply.headers["x-amz-request-id"] for reply in replies]
            wait_until(lambda: all(any("id=" + each in line for line in logged.output) for each in ids),
                       "an access line naming each request's id", timeout=10)
        self.assertEqual([reply.status for reply in replies], [200] * 4)
        self.assertEqual(len(set(ids)), 4)
        _, token = self.app.tokens.create(["admin"], "scraper")
        self.metrics_showing('filestoraged_s3_requests_total{operation="GetObject",status="200"} 4',
                             'filestoraged_s3_requests_total{operation="HeadObject",status="200"} 1',
                             headers={"Authorization": "Bearer " + token})

    def test_a_key_named_by_percent_escapes_is_the_key_they_name(self):
        self.admin.put_object(Bucket="open", Key="a b", Body=b"a space", ACL="public-read")
        self.admin.put_object(Bucket="open", Key="a%20b", Body=b"a percent sign", ACL="public-read")
        for _ in range(3):  # judged, kept, then settled
            self.assertEqual(self.s3("GET", "/open/a%20b").body, b"a percent sign")  # (sent as /open/a%2520b)
            self.assertEqual(self.send("GET", "/open/a%20b", {}).body, b"a space")
            self.assertEqual(self.send("GET", "/open/a%2520b", {}).body, b"a percent sign")

    def test_a_read_with_a_body_leaves_the_connection_in_step(self):
        self.anyone()
        self.anyone()
        with socket.create_connection(("127.0.0.1", self.s3_port), timeout=10) as sock:
            sock.sendall(b"GET /open/k HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n\r\nhelloGET /open/k HTTP/1.1\r\n"
                         b"Host: x\r\nConnection: close\r\n\r\n")
            answers = b""
            while True:
                got = sock.recv(65536)
                if not got:
                    break
                answers += got
        self.assertEqual(answers.count(b"HTTP/1.1 200 OK\r\n"), 2, answers)
        self.assertEqual(answers.count(b"for anyone"), 2, answers)

    def test_a_policy_that_denies_refuses_the_next_read(self):
        self.anyone()
        self.assertEqual(self.anyone().status, 200)
        self.admin.put_bucket_policy(Bucket="open", Policy=json.dumps({"Version": "2012-10-17", "Statement": [{
            "Effect": "Deny", "Principal": "*", "Action": "s3:GetObject", "Resource": "arn:aws:s3:::open/*"}]}))
        self.assertEqual(self.anyone().status, 403)

    def test_a_request_a_policy_judged_is_judged_every_time(self):
        self.admin.put_object_acl(Bucket="open", Key="k", ACL="private")
        self.admin.put_bucket_policy(Bucket="open", Policy=json.dumps({"Version": "2012-10-17", "Statement": [{
            "Effect": "Allow", "Principal": "*", "Action": "s3:GetObject", "Resource": "arn:aws:s3:::open/*",
            "Condition": {"StringEquals": {"aws:UserAgent": "kiosk"}}}]}))
        for _ in range(2):
            self.assertEqual(self.anyone({"User-Agent": "kiosk"}).status, 200)
        self.assertEqual(self.anyone({"User-Agent": "someone else"}).status, 403)
