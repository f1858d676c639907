"""Small objects' answers kept per key (``s3api.answered``): a plain GET of
a hot key is answered from them, judged as every request is, and never
once the key changed: a new body by S3 or WebDAV, new tags, a delete,
versioning turned on; each answer has its own request id; a request that
is not plain (a range, a condition, a version id) takes the full path."""

from __future__ import annotations

from ..s3api_support import BotoCase


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
