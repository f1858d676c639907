"""Who did what: the access line of a request that used a token names the
token (never its secret), on every face: a bearer token on the main port,
an S3 signature's key pair, a console session; a user's, the user."""

from __future__ import annotations

import base64
import hashlib
import re
import time
import unittest
from urllib.parse import urlencode, urlsplit

from ..s3api_support import BotoCase


class WhoDidWhatTests(BotoCase):
    def line_of(self, request: str, action) -> str:
        """The access line of ``request`` (``"METHOD /path"``) that
        ``action`` sends, waited for (it is written once its answer is out)
        with a deadline; lines of earlier requests may come first."""
        with self.assertLogs("filestoraged.access", "INFO") as logs:
            action()
            deadline = time.monotonic() + 10
            while time.monotonic() < deadline:
                found = [line.split(":", 2)[2] for line in logs.output if '"%s"' % request in line]
                if found:
                    return found[0]
                time.sleep(0.01)
        self.fail("no access line for %s in %s" % (request, logs.output))

    def test_a_delete_names_its_token_on_every_face(self):
        _, secret = self.app.tokens.create(["data:shelf:*"], "cleaner")
        self.admin.create_bucket(Bucket="shelf")
        oid = hashlib.sha256(b"old report").hexdigest()
        self.request("PUT", "/data/shelf", b"old report", {"Authorization": "Bearer " + secret})
        line = self.line_of("DELETE /data/shelf/" + oid, lambda: self.request(
            "DELETE", "/data/shelf/" + oid, headers={"Authorization": "Bearer " + secret}))
        self.assertRegex(line, r" 200 .* token=cleaner$")
        self.assertNotIn(secret, line)

        s3 = self.client(key_pair=self.key_pair("data:shelf:*", name="s3-cleaner"))
        s3.put_object(Bucket="shelf", Key="draft.txt", Body=b"draft")
        line = self.line_of("DELETE /shelf/draft.txt", lambda: s3.delete_object(Bucket="shelf", Key="draft.txt"))
        self.assertRegex(line, r" 204 .* token=s3-cleaner$")

    def test_a_console_session_is_named_by_its_token_and_no_token_by_nothing(self):
        _, secret = self.app.tokens.create(["admin"], "ops")
        signed = self.request("POST", "/console/sign-in", urlencode({"token": secret}).encode(),
                              {"Content-Type": "application/x-www-form-urlencoded",
                               "Sec-Fetch-Site": "same-origin"})
        cookie = re.match(r"fsd_console=[^;]+", signed.headers["Set-Cookie"]).group(0)
        line = self.line_of("GET /console", lambda: self.request("GET", "/console", headers={"Cookie": cookie}))
        self.assertTrue(line.endswith(" token=ops"), line)
        self.assertNotIn("token=", self.line_of("GET /healthz", lambda: self.request("GET", "/healthz")))

    def test_a_user_is_named_as_a_user_on_every_face(self):
        self.app.users.create("alice", "correct horse battery", policies=["readwrite"])
        self.admin.create_bucket(Bucket="shelf")
        basic = {"Authorization": "Basic " + base64.b64encode(b"alice:correct horse battery").decode()}
        line = self.line_of("PUT /dav/shelf/a.txt", lambda: self.request("PUT", "/dav/shelf/a.txt", b"a", basic))
        self.assertRegex(line, r" 201 .* user=alice$")
        self.assertNotIn("correct horse", line)
        from filestoraged.access.s3keys import secret_of, server_key
        key_id = self.app.users.new_key("alice")
        s3 = self.client(key_pair=(key_id, secret_of(server_key(self.config.s3_key_path), key_id)))
        line = self.line_of("GET /shelf/a.txt", lambda: s3.get_object(Bucket="shelf", Key="a.txt"))
        self.assertRegex(line, r" 200 .* user=alice$")


class MakersTests(BotoCase):
    def test_a_version_keeps_who_wrote_it_and_the_console_shows_it(self):
        self.admin.create_bucket(Bucket="docs")
        self.admin.put_bucket_versioning(Bucket="docs", VersioningConfiguration={"Status": "Enabled"})
        alice = self.client(key_pair=self.key_pair("data:docs:*", name="alice"))
        first = alice.put_object(Bucket="docs", Key="plan.txt", Body=b"alice's plan")["VersionId"]
        _, bob = self.app.tokens.create(["data:docs:*"], "bob")
        self.assertEqual(self.request("PUT", "/dav/docs/plan.txt", b"bob's plan",
                                      {"Authorization": "Bearer " + bob}).status, 204)
        self.assertEqual(self.app.keys.get("docs", "plan.txt").maker, "bob")
        self.assertEqual(self.app.versions.find("docs", "plan.txt", first).entry.maker, "alice")
        _, secret = self.app.tokens.create(["admin"], "ops")
        signed = self.request("POST", "/console/sign-in", urlencode({"token": secret}).encode(),
                              {"Content-Type": "application/x-www-form-urlencoded", "Sec-Fetch-Site": "same-origin"})
        cookie = {"Cookie": re.match(r"fsd_console=[^;]+", signed.headers["Set-Cookie"]).group(0)}
        page = self.request("GET", "/console/object?" + urlencode({"bucket": "docs", "key": "plan.txt"}),
                            headers=cookie).body.decode()
        self.assertIn("<dt>Written by</dt><dd>the token <code>bob</code></dd>", page)
        self.assertIn(", by <code>alice</code></li>", page)
        # A resumable upload into a key: its maker is the token that began it.
        _, carol = self.app.tokens.create(["data:docs:*"], "carol")
        meta = ",".join("%s %s" % (name, base64.b64encode(value.encode()).decode())
                        for name, value in (("target", "s3"), ("bucket", "docs"), ("key", "big.bin")))
        made = self.request("POST", "/uploads", headers={"Tus-Resumable": "1.0.0", "Upload-Length": "5",
                                                         "Upload-Metadata": meta, "Authorization": "Bearer " + carol})
        self.assertEqual(made.status, 201, made)
        sent = self.request("PATCH", urlsplit(made.headers["Location"]).path, b"hello",
                            {"Tus-Resumable": "1.0.0", "Upload-Offset": "0", "Authorization": "Bearer " + carol,
                             "Content-Type": "application/offset+octet-stream"})
        self.assertEqual(sent.status, 204, sent)
        self.assertEqual(self.app.keys.get("docs", "big.bin").maker, "carol")
        alice.delete_object(Bucket="docs", Key="plan.txt")  # a delete marker, made by alice
        marker = self.app.versions.of("docs", "plan.txt", 1)[0]
        self.assertEqual((marker.marker, marker.maker), (True, "alice"))
        page = self.request("GET", "/console/object?" + urlencode({"bucket": "docs", "key": "plan.txt",
                                                                   "version": first}), headers=cookie).body.decode()
        self.assertIn("<dt>Written by</dt><dd>the token <code>alice</code></dd>", page)


if __name__ == "__main__":
    unittest.main()
