"""Content that cannot attack the people who open it: every answer says
``nosniff``, stored objects are sandboxed, active types are downloads, and a
password-protected share link asks for its password the way browsers and
HTTP clients understand."""

from __future__ import annotations

import shutil
import subprocess
import urllib.request

from ..s3api_support import BotoCase
from ..support import ServerCase, multipart


class SafeServingTests(ServerCase):
    def upload(self, data: bytes, content_type: str) -> str:
        return self.request("POST", "/files", data, {"Content-Type": content_type}).json()["hash"]

    def test_every_answer_says_nosniff(self):
        oid = self.upload(b"plain", "text/plain")
        for method, path in (("GET", "/healthz"), ("GET", "/files/" + oid), ("GET", "/nowhere"),
                             ("HEAD", "/files/" + oid), ("GET", "/metrics")):
            with self.subTest(path=path):
                self.assertEqual(self.request(method, path).headers["X-Content-Type-Options"], "nosniff")

    def test_stored_objects_are_sandboxed_and_active_types_are_downloads(self):
        cases = [("text/html; charset=utf-8", True), ("application/xhtml+xml", True), ("image/svg+xml", True),
                 ("text/xml", True), ("application/javascript", True), ("application/pdf", True),
                 ("application/vnd.example+xml", True), ("message/rfc822", True), ("multipart/related", True),
                 ("application/x-mimearchive", True), ("text/markdown", True), ("image/png", False),
                 ("video/mp4", False), ("audio/ogg", False), ("text/plain", False),
                 ("application/json", False), ("application/octet-stream", False)]
        for content_type, attachment in cases:
            with self.subTest(content_type=content_type):
                oid = self.upload(b"<script>alert(document.domain)</script>" + content_type.encode(), content_type)
                for _ in range(2):  # the second answer is a ready-made one
                    reply = self.request("GET", "/files/" + oid)
                    self.assertEqual(reply.headers["Content-Security-Policy"], "sandbox; default-src 'none'")
                    self.assertEqual(reply.headers.get("Content-Disposition"), "attachment" if attachment else None)
        data = self.request("PUT", "/data/site", b"<html>x</html>", {"Content-Type": "text/html"}).json()["oid"]
        reply = self.request("GET", "/data/site/" + data)
        self.assertEqual(reply.headers["Content-Disposition"], "attachment")

    def test_a_share_link_asks_for_its_password_as_browsers_expect(self):
        body, ctype = multipart({"password": "s3cret", "max_downloads": "4",
                                 "file": ("page.html", b"<html>hi</html>", "text/html")})
        url = self.request("PUT", "/file", body, {"Content-Type": ctype}).json()["url"]
        path = url.split(str(self.port), 1)[1]
        reply = self.request("GET", path)
        self.assertEqual(reply.status, 401)
        self.assertEqual(reply.headers["WWW-Authenticate"], 'Basic realm="share link", charset="UTF-8"')
        # urllib answers the challenge by itself, as wget --user and curl --anyauth do.
        passwords = urllib.request.HTTPPasswordMgrWithDefaultRealm()
        passwords.add_password(None, url, "anyone", "s3cret")
        opener = urllib.request.build_opener(urllib.request.HTTPBasicAuthHandler(passwords))
        if shutil.which("curl"):  # curl --anyauth answers the challenge too
            fetched = subprocess.run(["curl", "-sS", "--fail", "--anyauth", "-u", "anyone:s3cret", url],
                                     capture_output=True, timeout=30)
            self.assertEqual(fetched.stdout, b"<html>hi</html>", fetched.stderr)
        with opener.open(url, timeout=10) as answer:
            self.assertEqual(answer.read(), b"<html>hi</html>")
            self.assertEqual(answer.headers["Referrer-Policy"], "no-referrer")
            self.assertEqual(answer.headers["Content-Security-Policy"], "sandbox; default-src 'none'")
            self.assertTrue(answer.headers["Content-Disposition"].startswith("attachment"))


class StoredDispositionTests(BotoCase):
    """A disposition stored with an S3 key (or asked for with
    ``response-content-disposition``) never shows a document inline: a
    type that is not shown inline goes out as an attachment, its file name
    kept; a type that is shown keeps what was stored."""

    def test_a_document_stored_inline_is_still_a_download(self):
        self.admin.create_bucket(Bucket="site")
        self.admin.put_object(Bucket="site", Key="page.html", Body=b"<script>alert(1)</script>",
                              ContentType="text/html", ContentDisposition='inline; filename="page.html"')
        self.admin.put_object(Bucket="site", Key="mail.eml", Body=b"Subject: hi\r\n\r\n<b>x</b>",
                              ContentType="message/rfc822", ContentDisposition="inline")
        self.admin.put_object(Bucket="site", Key="cat.png", Body=b"\x89PNG", ContentType="image/png",
                              ContentDisposition="inline")
        page = self.admin.get_object(Bucket="site", Key="page.html")
        self.assertEqual(page["ContentDisposition"], 'attachment; filename="page.html"')
        self.assertEqual(self.admin.get_object(Bucket="site", Key="mail.eml")["ContentDisposition"], "attachment")
        self.assertEqual(self.admin.get_object(Bucket="site", Key="page.html",
                                               ResponseContentDisposition="inline")["ContentDisposition"],
                         "attachment")
        self.assertEqual(self.admin.head_object(Bucket="site", Key="page.html")["ContentDisposition"],
                         'attachment; filename="page.html"')
        self.assertEqual(self.admin.get_object(Bucket="site", Key="cat.png")["ContentDisposition"], "inline")


class CachingTests(ServerCase):
    def test_content_addressed_objects_are_cacheable_for_ever(self):
        oid = self.request("POST", "/files", b"cache me").json()["hash"]
        reply = self.request("GET", "/files/" + oid)
        self.assertEqual(reply.headers["Cache-Control"], "public, max-age=31536000, immutable")
        stamp = reply.headers["Last-Modified"]
        self.assertRegex(stamp, r"^\w{3}, \d\d \w{3} \d{4} \d\d:\d\d:\d\d GMT$")
        self.assertEqual(self.request("GET", "/files/" + oid, headers={"If-Modified-Since": stamp}).status, 304)
        earlier = self.request("GET", "/files/" + oid, headers={"If-Modified-Since": "Mon, 01 Jan 2001 00:00:00 GMT"})
        self.assertEqual((earlier.status, earlier.body), (200, b"cache me"))
        odd = self.request("GET", "/files/" + oid, headers={"If-Modified-Since": "yesterday"})
        self.assertEqual(odd.status, 200)
        body, ctype = multipart({"file": ("a.txt", b"not for caches", "text/plain"), "max_downloads": "3"})
        link = self.request("PUT", "/file", body, {"Content-Type": ctype}).json()["url"]
        shared = self.request("GET", link.split(str(self.port), 1)[1], headers={"If-Modified-Since": stamp})
        self.assertEqual((shared.status, shared.headers["Cache-Control"]), (200, "no-store"))
        self.assertIsNone(shared.headers.get("Last-Modified"))


class CorsTests(ServerCase):
    config_overrides = {"cors_origin": "https://app.example", "auth": "writes"}

    def test_an_allowed_origin_gets_preflights_and_headers(self):
        origin = {"Origin": "https://app.example"}
        asks = {"Access-Control-Request-Method": "POST", "Access-Control-Request-Headers": "authorization"}
        reply = self.request("OPTIONS", "/files", headers=dict(origin, **asks))
        self.assertEqual(reply.status, 204)  # no token is asked of a preflight
        self.assertEqual(reply.headers["Access-Control-Allow-Origin"], "https://app.example")
        self.assertIn("POST", reply.headers["Access-Control-Allow-Methods"])
        self.assertIn("Authorization", reply.headers["Access-Control-Allow-Headers"])
        oid = self.request("POST", "/files", b"x", {"Authorization": "Bearer " + self.app.tokens.create(
            ["files:write"])[1], **origin}).json()["hash"]
        for _ in range(2):  # the second is a ready-made answer
            reply = self.request("GET", "/files/" + oid, headers=origin)
            self.assertEqual(reply.headers["Access-Control-Allow-Origin"], "https://app.example")
            self.assertIn("ETag", reply.headers["Access-Control-Expose-Headers"])
        self.assertIsNone(self.request("GET", "/files/" + oid, headers={"Origin": "https://evil.example"})
                          .headers.get("Access-Control-Allow-Origin"))
        self.assertEqual(self.request("OPTIONS", "/nowhere", headers=dict(
            origin, **{"Access-Control-Request-Method": "GET"})).status, 404)

    def test_every_answer_varies_by_origin(self):
        """An answer a cache keeps for a year must not reach another origin
        without the header that allows it, nor the other way round."""
        oid = self.request("POST", "/files", b"v", {"Authorization": "Bearer " + self.app.tokens.create(
            ["files:write"])[1]}).json()["hash"]
        for headers in ({}, {"Origin": "https://evil.example"}, {"Origin": "https://app.example"}):
            for _ in range(2):  # the second is a ready-made answer
                with self.subTest(headers=headers):
                    reply = self.request("GET", "/files/" + oid, headers=headers)
                    self.assertEqual(reply.headers.get_all("Vary"), ["Origin"])
        refused = self.request("OPTIONS", "/files", headers={"Origin": "https://evil.example",
                                                             "Access-Control-Request-Method": "POST"})
        self.assertEqual(refused.status, 405)  # no preflight answer for an origin not allowed


class NoCorsTests(ServerCase):
    def test_off_by_default(self):
        reply = self.request("OPTIONS", "/files", headers={"Origin": "https://app.example",
                                                           "Access-Control-Request-Method": "POST"})
        self.assertEqual(reply.status, 405)
        self.assertIsNone(reply.headers.get("Access-Control-Allow-Origin"))
