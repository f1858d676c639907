"""The console at ``/console`` over HTTP, as a browser drives it: sign-in
with a token that becomes a session (a cookie no script reads and no other
site sends), ended by sign-out, by revoking the token and by time; forms
taken from the console's own pages only; failed sign-ins counted toward the
lockout; a bucket's keys as folders, paged; keys of any Unicode shown as
text; downloads of the exact bytes; deletes after a confirmation; what a
token's scopes do not allow refused. The same in a real browser:
``tests/console/test_console_browser.py``."""

from __future__ import annotations

import base64
import hashlib
import html
import json
import os
import re
from unittest import mock
from urllib.parse import urlencode, urlsplit

from filestoraged.access import sessions

from ..s3api_support import BotoCase
from ..support import Reply, payload, sha256

SAME = {"Sec-Fetch-Site": "same-origin"}
BINARY = "application/octet-stream"
LFS = "application/vnd.git-lfs+json"


def b64(text: str) -> str:
    return base64.b64encode(text.encode()).decode()


class ConsoleCase(BotoCase):
    def setUp(self) -> None:
        super().setUp()
        self.admin.create_bucket(Bucket="photos")
        _, self.secret = self.app.tokens.create(["admin"], "ops")

    def sign_in(self, secret: str, headers=SAME) -> Reply:
        return self.request("POST", "/console/sign-in", urlencode({"token": secret}).encode(),
                            dict(headers, **{"Content-Type": "application/x-www-form-urlencoded"}))

    def session(self, secret: str = "") -> str:
        reply = self.sign_in(secret or self.secret)
        self.assertEqual(reply.status, 303, reply)
        return re.match(r"fsd_console=([^;]+)", reply.headers["Set-Cookie"]).group(1)

    def page(self, path: str, session: str = "", **query: str) -> Reply:
        target = path + ("?" + urlencode(query) if query else "")
        return self.request("GET", target, headers={"Cookie": "fsd_console=" + session} if session else {})

    def post(self, path: str, session: str, fields, headers=SAME) -> Reply:
        return self.request("POST", path, urlencode(fields).encode(),
                            dict(headers, **{"Cookie": "fsd_console=" + session,
                                             "Content-Type": "application/x-www-form-urlencoded"}))


class SessionTests(ConsoleCase):
    def test_a_token_becomes_a_session_that_no_script_reads(self):
        self.assertEqual(self.page("/console").headers["Location"], "/console/sign-in")
        refused = self.sign_in("not-a-token")
        self.assertEqual(refused.status, 401)
        self.assertIn(b"That token is not one this server knows", refused.body)
        self.assertNotIn("Set-Cookie", refused.headers)
        reply = self.sign_in(self.secret)
        self.assertEqual((reply.status, reply.headers["Location"]), (303, "/console"))
        cookie = reply.headers["Set-Cookie"]
        for part in ("HttpOnly", "SameSite=Strict", "Path=/", "Max-Age=1800"):
            self.assertIn(part, cookie)
        self.assertNotIn("Secure", cookie)  # plain HTTP here; over HTTPS it is Secure
        self.assertNotIn(self.secret, cookie)
        session = re.match(r"fsd_console=([^;]+)", cookie).group(1)
        home = self.page("/console", session)
        self.assertEqual(home.status, 200)
        self.assertIn(b"Signed in with the token <strong>ops</strong>", home.body)
        self.assertIn(b'href="/console/bucket?name=photos"', home.body)
        self.assertIn("frame-ancestors 'none'", home.headers["Content-Security-Policy"])
        self.assertNotIn("script-src", home.headers["Content-Security-Policy"])  # no script at all
        self.assertEqual(home.headers["Cache-Control"], "no-store")
        # The records keep the session's digest, never the session or the token.
        stored = [name for name in self.app.records.keys(sessions.SESSIONS)]
        self.assertEqual(stored, [sessions.SESSIONS + hashlib.sha256(session.encode()).hexdigest()])

    def test_sign_out_revoking_and_time_end_a_session(self):
        session = self.session()
        self.assertEqual(self.post("/console/sign-out", session, {}).headers["Location"], "/console/sign-in")
        self.assertEqual(self.page("/console", session).status, 303)
        session = self.session()
        self.app.tokens.revoke("ops")
        self.assertEqual(self.page("/console", session).status, 303)
        _, secret = self.app.tokens.create(["admin"], "again")
        session = self.session(secret)
        later = self.app.records.now() + sessions.IDLE + 1
        with mock.patch.object(self.app.records, "now", return_value=later):
            self.assertEqual(self.page("/console", session).status, 303)  # idle too long
        self.assertEqual(list(self.app.records.keys(sessions.SESSIONS)), [])

    def test_forms_from_another_site_are_refused(self):
        self.assertEqual(self.sign_in(self.secret, {"Sec-Fetch-Site": "cross-site"}).status, 403)
        self.assertEqual(self.sign_in(self.secret, {"Origin": "https://evil.example"}).status, 403)
        self.admin.put_object(Bucket="photos", Key="keep.jpg", Body=b"kept")
        session = self.session()
        refused = self.post("/console/delete", session, {"bucket": "photos", "key": "keep.jpg"},
                            {"Sec-Fetch-Site": "same-site"})
        self.assertEqual(refused.status, 403)
        self.assertEqual(self.admin.get_object(Bucket="photos", Key="keep.jpg")["Body"].read(), b"kept")

    def test_failed_sign_ins_count_toward_the_lockout(self):
        for _ in range(10):
            self.assertEqual(self.sign_in("wrong").status, 401)
        locked = self.sign_in(self.secret)  # a good token too: a guesser learns nothing
        self.assertEqual(locked.status, 429)
        self.assertIn(b"Too many failed sign-ins", locked.body)


class BrowseTests(ConsoleCase):
    def test_folders_page_through_without_repeats(self):
        for number in range(250):
            self.admin.put_object(Bucket="photos", Key="2026/%03d.jpg" % number, Body=b"x")
        self.admin.put_object(Bucket="photos", Key="top.txt", Body=b"top")
        session = self.session()
        self.admin.put_object(Bucket="photos", Key="0-first-by-bytes.txt", Body=b"x")
        root = self.page("/console/bucket", session, name="photos").body.decode()
        self.assertIn('href="/console/bucket?name=photos&amp;prefix=2026%2F">2026/</a>', root)
        self.assertIn(">top.txt</a>", root)
        self.assertLess(root.index(">2026/</a>"), root.index(">0-first-by-bytes.txt</a>"))  # folders first
        self.assertNotIn(' style="', root)  # the policy allows the page's one style sheet, no style attribute
        seen, target = [], "/console/bucket?" + urlencode({"name": "photos", "prefix": "2026/"})
        while target:
            text = self.request("GET", target, headers={"Cookie": "fsd_console=" + session}).body.decode()
            seen += re.findall(r">(\d{3}\.jpg)</a>", text)
            found = re.search(r'href="([^"]+)">Next page', text)
            target = found.group(1).replace("&amp;", "&") if found else ""
        self.assertEqual(seen, ["%03d.jpg" % number for number in range(250)])
        self.assertLess(len(text.encode()), 150_000)

    def test_a_deleted_key_is_found_and_brought_back(self):
        self.admin.put_bucket_versioning(Bucket="photos", VersioningConfiguration={"Status": "Enabled"})
        first = self.admin.put_object(Bucket="photos", Key="2026/lost.jpg", Body=b"the lost one")["VersionId"]
        self.admin.put_object(Bucket="photos", Key="2026/kept.jpg", Body=b"kept")
        session = self.session()
        self.assertEqual(self.post("/console/delete", session, {"bucket": "photos", "key": "2026/lost.jpg"}).status,
                         303)
        folder = self.page("/console/bucket", session, name="photos", prefix="2026/").body.decode()
        self.assertNotIn("lost.jpg", folder)  # as S3 lists it
        self.assertIn(">Show deleted keys and older versions</a>", folder)
        shown = self.page("/console/bucket", session, name="photos", prefix="2026/", deleted="1").body.decode()
        self.assertIn('>lost.jpg</a></td><td data-label="Size">deleted</td>', shown)
        self.assertIn(">Hide deleted keys and older versions</a>", shown)
        gone = self.page("/console/object", session, bucket="photos", key="2026/lost.jpg")
        self.assertEqual(gone.status, 200)
        text = gone.body.decode()
        self.assertIn("This key is deleted", text)
        self.assertIn("by the token <code>ops</code>", text)  # the console's delete, by the signed-in token
        self.assertIn("version=%s" % first, text)
        restored = self.post("/console/copy", session, {"bucket": "photos", "key": "2026/lost.jpg",
                                                        "target": "2026/lost.jpg", "version": first, "action": "copy"})
        self.assertEqual(restored.status, 303)
        self.assertEqual(self.admin.get_object(Bucket="photos", Key="2026/lost.jpg")["Body"].read(), b"the lost one")
        self.assertEqual(self.app.keys.get("photos", "2026/lost.jpg").maker, "ops")
        self.admin.create_bucket(Bucket="plain")
        self.assertNotIn("deleted keys", self.page("/console/bucket", session, name="plain").body.decode())

    def test_an_objects_tags_are_shown_as_text(self):
        self.admin.put_object(Bucket="photos", Key="t.jpg", Body=b"t", Tagging="team=ops&%3Cb%3E=%3Ci%3E")
        details = self.page("/console/object", self.session(), bucket="photos", key="t.jpg").body.decode()
        self.assertIn("<dt>Tags</dt><dd>&lt;b&gt;=&lt;i&gt;, team=ops</dd>", details)

    def test_keys_of_any_unicode_are_shown_as_text(self):
        key = 'été/<script>alert("k")<\\script>&"x'
        self.admin.put_object(Bucket="photos", Key=key, Body=b"odd name")
        session = self.session()
        folder = self.page("/console/bucket", session, name="photos", prefix="été/").body.decode()
        self.assertEqual(folder.count("<script>"), 1)  # the page's own, allowed by its hash, after everything
        self.assertTrue(folder.rindex("<script>") > folder.rindex("</main>"))
        self.assertIn("&lt;script&gt;alert(&quot;k&quot;)&lt;\\script&gt;&amp;&quot;x", folder)
        details = self.page("/console/object", session, bucket="photos", key=key)
        self.assertEqual(details.status, 200)
        self.assertNotIn(b"<script>", details.body)
        self.admin.put_object(Bucket="photos", Key="page.html", Body=b"<script>alert(1)</script>",
                              ContentType="text/html")
        self.admin.put_object(Bucket="photos", Key="note.txt", Body=b"plain words", ContentType="text/plain")
        shown = self.page("/console/preview", session, bucket="photos", key="note.txt")
        self.assertEqual((shown.body, shown.headers.get("Content-Disposition")), (b"plain words", None))
        self.assertIn("sandbox", shown.headers["Content-Security-Policy"])
        active = self.page("/console/preview", session, bucket="photos", key="page.html")
        self.assertEqual(active.headers["Content-Disposition"], "attachment")  # never shown as a page of ours
        for content_type in ("message/rfc822", "multipart/related"):  # Chromium renders both as pages (MHTML)
            self.admin.put_object(Bucket="photos", Key="saved.mht", Body=b"<b>x</b>", ContentType=content_type)
            saved = self.page("/console/preview", session, bucket="photos", key="saved.mht")
            self.assertEqual(saved.headers["Content-Disposition"], "attachment", content_type)
        download = self.page("/console/download", session, bucket="photos", key=key)
        self.assertEqual(download.body, b"odd name")
        self.assertTrue(download.headers["Content-Disposition"].startswith("attachment;"))

    def test_an_object_its_versions_download_and_delete(self):
        self.admin.put_bucket_versioning(Bucket="photos", VersioningConfiguration={"Status": "Enabled"})
        first = self.admin.put_object(Bucket="photos", Key="cat.jpg", Body=b"first cat")["VersionId"]
        self.admin.put_object(Bucket="photos", Key="cat.jpg", Body=b"second cat", ContentType="image/jpeg")
        session = self.session()
        details = self.page("/console/object", session, bucket="photos", key="cat.jpg").body.decode()
        self.assertIn("<dd>image/jpeg</dd>", details)
        self.assertIn(hashlib.sha256(b"second cat").hexdigest(), details)
        self.assertIn(first, details)  # the older version, listed
        older = self.page("/console/download", session, bucket="photos", key="cat.jpg", version=first)
        self.assertEqual(older.body, b"first cat")
        older_page = self.page("/console/object", session, bucket="photos", key="cat.jpg", version=first).body
        self.assertIn(b"Restore this version", older_page)
        restored = self.post("/console/copy", session, {"bucket": "photos", "key": "cat.jpg", "target": "cat.jpg",
                                                        "version": first, "action": "copy"})
        self.assertEqual(restored.status, 303)
        self.assertEqual(self.admin.get_object(Bucket="photos", Key="cat.jpg")["Body"].read(), b"first cat")
        self.assertEqual(len(self.admin.list_object_versions(Bucket="photos")["Versions"]), 3)  # none lost
        confirm = self.page("/console/delete", session, bucket="photos", key="cat.jpg")
        self.assertIn(b"its older versions stay", confirm.body)
        self.assertEqual(self.post("/console/delete", session, {"bucket": "photos", "key": "cat.jpg"}).status, 303)
        self.assertEqual(self.code_of(self.admin.head_object, Bucket="photos", Key="cat.jpg"), "404")
        self.assertEqual(self.admin.get_object(Bucket="photos", Key="cat.jpg", VersionId=first)["Body"].read(),
                         b"first cat")  # an older version, kept
        marker = self.admin.list_object_versions(Bucket="photos")["DeleteMarkers"][0]["VersionId"]
        shown = self.page("/console/object", session, bucket="photos", key="cat.jpg", version=marker)
        self.assertEqual(shown.status, 200)  # the marker's own page, not a 405
        self.assertIn("is a delete marker", shown.body.decode())
        undo = re.search(r'<a class="button" href="([^"]+)">Remove this delete marker</a>', shown.body.decode())
        asked = self.request("GET", html.unescape(undo.group(1)), headers={"Cookie": "fsd_console=" + session})
        self.assertEqual(asked.status, 200, asked)
        self.assertIn(b"The version before it becomes the key's current one again", asked.body)
        self.assertNotIn(b"&amp;amp;", asked.body)
        self.assertEqual(self.post("/console/delete", session, {"bucket": "photos", "key": "cat.jpg",
                                                               "version": marker}).status, 303)
        self.assertEqual(self.admin.get_object(Bucket="photos", Key="cat.jpg")["Body"].read(), b"first cat")  # back

    def test_a_read_only_token_is_shown_no_link_to_the_pages_it_may_not_see(self):
        _, reader = self.app.tokens.create(["data:photos:read"], "reader")
        for secret, shown in ((reader, False), (self.secret, True)):
            page = self.page("/console", self.session(secret)).body.decode()
            nav = re.search(r'<nav aria-label="Console">.*?</nav>', page).group(0)
            for path in ("/console/tokens", "/console/users", "/console/store"):
                with self.subTest(admin=shown, path=path):
                    self.assertEqual(path in nav, shown)
            self.assertIn("/console/links", nav)

    def test_a_delete_in_a_bucket_without_versions_says_it_is_final_and_leads_with_keep(self):
        self.admin.put_object(Bucket="photos", Key="dog.jpg", Body=b"the dog")
        page = self.page("/console/delete", self.session(), bucket="photos", key="dog.jpg").body.decode()
        self.assertIn("This is final: the bucket keeps no versions, so nothing of it can be brought back.", page)
        self.assertRegex(page, r'<a class="button" href="[^"]+">Keep it</a> <button type="submit" '
                               r'class="secondary">Delete</button>')
        self.assertNotIn("&amp;amp;", page)

    def test_copy_and_move_give_the_same_object_a_new_key(self):
        self.admin.put_object(Bucket="photos", Key="in/a.jpg", Body=b"the cat", ContentType="image/jpeg",
                              Tagging="pet=cat")
        session = self.session()
        fields = {"bucket": "photos", "key": "in/a.jpg", "target": "out/b.jpg", "action": "copy"}
        copied = self.post("/console/copy", session, fields)
        self.assertEqual(copied.status, 303)
        self.assertEqual(copied.headers["Location"], "/console/object?bucket=photos&key=out%2Fb.jpg")
        got = self.admin.get_object(Bucket="photos", Key="out/b.jpg")
        self.assertEqual((got["Body"].read(), got["ContentType"]), (b"the cat", "image/jpeg"))
        self.assertEqual(self.admin.get_object_tagging(Bucket="photos", Key="out/b.jpg")["TagSet"],
                         [{"Key": "pet", "Value": "cat"}])  # its tags too, as S3's CopyObject copies them
        stored = len(self.app.backend.index.shard("repos/photos", sha256(b"the cat")[:2]))
        self.assertEqual(stored, 1)  # one object, two keys
        moved = self.post("/console/copy", session, dict(fields, key="out/b.jpg", target="c.jpg", action="move"))
        self.assertEqual(moved.status, 303)
        self.assertEqual(self.code_of(self.admin.head_object, Bucket="photos", Key="out/b.jpg"), "404")
        self.assertEqual(self.admin.get_object(Bucket="photos", Key="c.jpg")["Body"].read(), b"the cat")
        self.assertEqual(self.admin.get_object(Bucket="photos", Key="in/a.jpg")["Body"].read(), b"the cat")
        _, reader = self.app.tokens.create(["data:photos:read"], "viewer")
        refused = self.post("/console/copy", self.session(reader), dict(fields, target="x.jpg"))
        self.assertEqual(refused.status, 403)

    def upload(self, session: str, files, prefix: str = "2026/", headers=SAME) -> Reply:
        """The folder page's form: its hidden fields, then each file, as a browser sends them."""
        boundary = "consoleTestBoundary"
        body = b"".join(b'--%s\r\nContent-Disposition: form-data; name="%s"\r\n\r\n%s\r\n'
                        % (boundary.encode(), name, value.encode()) for name, value in ((b"bucket", "photos"),
                                                                                       (b"prefix", prefix)))
        for filename, data, content_type in files:
            body += (b'--%s\r\nContent-Disposition: form-data; name="file"; filename="%s"\r\n'
                     b"Content-Type: %s\r\n\r\n%s\r\n" % (boundary.encode(), filename.encode(),
                                                              content_type.encode(), data))
        body += b"--%s--\r\n" % boundary.encode()
        return self.request("POST", "/console/upload", body,
                            dict(headers, **{"Content-Type": "multipart/form-data; boundary=" + boundary,
                                             "Cookie": "fsd_console=" + session}))

    def tus(self, method: str, path: str, session: str = "", body: bytes = b"", headers=SAME, **fields) -> Reply:
        sent = dict(headers, **{"Tus-Resumable": "1.0.0"}, **fields)
        if session:
            sent["Cookie"] = "fsd_console=" + session
        return self.request(method, path, body, sent)

    def test_big_files_go_through_tus_as_the_signed_in_token(self):
        """The page's uploads from 8 MiB: tus at /console/uploads, a change
        only from the console's own pages, the key made as the session's
        token may (an append-only one never replaces a key)."""
        data = payload(300_000, 9)
        meta = "target czM=,bucket %s,key %s" % (b64("photos"), b64("2026/big.iso"))
        session = self.session()
        self.assertEqual(self.tus("POST", "/console/uploads", **{"Upload-Length": "300000",
                                                                 "Upload-Metadata": meta}).status, 401)
        self.assertEqual(self.tus("POST", "/console/uploads", session, headers={"Sec-Fetch-Site": "cross-site"},
                                  **{"Upload-Length": "300000", "Upload-Metadata": meta}).status, 403)
        made = self.tus("POST", "/console/uploads", session, **{"Upload-Length": "300000", "Upload-Metadata": meta})
        self.assertEqual(made.status, 201, made)
        place = "/console/uploads/" + made.headers["Location"].rsplit("/", 1)[1]
        piece = {"Content-Type": "application/offset+octet-stream"}
        self.assertEqual(self.tus("PATCH", place, session, data[:100_000], headers={"Sec-Fetch-Site": "cross-site"},
                                  **piece, **{"Upload-Offset": "0"}).status, 403)
        self.assertEqual(self.tus("PATCH", place, session, data[:100_000], **piece, **{"Upload-Offset": "0"}).status,
                         204)
        self.assertEqual(self.tus("HEAD", place, session, headers={}).headers["Upload-Offset"], "100000")
        self.assertEqual(self.tus("PATCH", place, session, data[100_000:], **piece,
                                  **{"Upload-Offset": "100000"}).status, 204)
        answer = self.tus("GET", place, session, headers={"Accept": "application/json"}).json()
        self.assertEqual(answer["etag"], hashlib.md5(data).hexdigest())
        got = self.admin.get_object(Bucket="photos", Key="2026/big.iso")
        self.assertEqual((got["Body"].read(), got["ETag"]), (data, '"%s"' % hashlib.md5(data).hexdigest()))
        _, adder = self.app.tokens.create(["data:photos:create", "data:photos:read"], "adder")
        adding = self.session(adder)  # may add keys, not replace them: told at once, nothing kept
        uploads = os.path.join(self.config.data_dir, "uploads")
        before = sorted(os.listdir(uploads))
        again = self.tus("POST", "/console/uploads", adding, **{"Upload-Length": "3", "Upload-Metadata": meta})
        self.assertEqual(again.status, 403, again)  # as S3 answers it: the token may not replace
        self.assertEqual(sorted(os.listdir(uploads)), before)
        new = "target czM=,bucket %s,key %s" % (b64("photos"), b64("2026/new.iso"))
        made = self.tus("POST", "/console/uploads", adding, **{"Upload-Length": "3", "Upload-Metadata": new})
        place = "/console/uploads/" + made.headers["Location"].rsplit("/", 1)[1]
        self.admin.put_object(Bucket="photos", Key="2026/new.iso", Body=b"came first")  # meanwhile
        self.assertEqual(self.tus("PATCH", place, adding, b"new", **piece, **{"Upload-Offset": "0"}).status, 412)
        self.assertEqual(sorted(os.listdir(uploads)), before)  # refused for good: the upload gone with its bytes
        self.assertEqual(self.tus("HEAD", place, adding, headers={}).status, 404)
        self.assertEqual(self.admin.get_object(Bucket="photos", Key="2026/big.iso")["Body"].read(), data)
        self.assertEqual(self.admin.get_object(Bucket="photos", Key="2026/new.iso")["Body"].read(), b"came first")

    def test_resumable_uploads_into_an_s3_key_with_a_token(self):
        """/uploads takes an S3 key as its target (``s3``, ``bucket``,
        ``key``), with the token's scopes; a bucket that is not there is 404."""
        data = payload(50_000, 4)
        bearer = {"Authorization": "Bearer " + self.secret}
        meta = "target czM=,bucket %s,key %s,filetype %s" % (b64("photos"), b64("resumed/a.bin"),
                                                            b64("application/x-thing"))
        made = self.tus("POST", "/uploads", body=data, headers=bearer, **{
            "Upload-Length": "50000", "Upload-Metadata": meta, "Content-Type": "application/offset+octet-stream"})
        self.assertEqual(made.status, 201, made)
        answer = self.tus("GET", urlsplit(made.headers["Location"]).path, headers=bearer).json()
        self.assertEqual((answer["bucket"], answer["key"], answer["size"]), ("photos", "resumed/a.bin", 50_000))
        got = self.admin.get_object(Bucket="photos", Key="resumed/a.bin")
        self.assertEqual((got["Body"].read(), got["ContentType"]), (data, "application/x-thing"))
        nowhere = "target czM=,bucket %s,key %s" % (b64("nowhere"), b64("a"))
        self.assertEqual(self.tus("POST", "/uploads", headers=bearer, **{"Upload-Length": "1",
                                                                         "Upload-Metadata": nowhere}).status, 404)
        _, reader = self.app.tokens.create(["data:photos:read"], "reader")
        self.assertEqual(self.tus("POST", "/uploads", headers={"Authorization": "Bearer " + reader}, **{
            "Upload-Length": "1", "Upload-Metadata": meta}).status, 403)

    def test_files_uploaded_into_the_folder_become_keys(self):
        session = self.session()
        sent = self.upload(session, [("a.txt", b"first file", "text/plain"), ("b.bin", b"\x00second", BINARY)])
        self.assertEqual(sent.status, 303, sent)
        self.assertEqual(sent.headers["Location"], "/console/bucket?name=photos&prefix=2026%2F")
        got = self.admin.get_object(Bucket="photos", Key="2026/a.txt")
        self.assertEqual((got["Body"].read(), got["ContentType"]), (b"first file", "text/plain"))
        self.assertEqual(got["ETag"], '"%s"' % hashlib.md5(b"first file").hexdigest())  # as S3 would make it
        self.assertEqual(self.admin.get_object(Bucket="photos", Key="2026/b.bin")["Body"].read(), b"\x00second")
        cross_site = self.upload(session, [("c.txt", b"x", BINARY)], headers={"Sec-Fetch-Site": "cross-site"})
        self.assertEqual(cross_site.status, 403)
        self.assertEqual(self.code_of(self.admin.head_object, Bucket="photos", Key="2026/c.txt"), "404")
        _, adder = self.app.tokens.create(["data:photos:create", "data:photos:read"], "adder")
        adding = self.session(adder)
        self.assertEqual(self.upload(adding, [("new.txt", b"new", BINARY)]).status, 303)
        self.assertEqual(self.upload(adding, [("a.txt", b"replaced", BINARY)]).status, 403)  # adds, never replaces
        self.assertEqual(self.admin.get_object(Bucket="photos", Key="2026/a.txt")["Body"].read(), b"first file")
        _, reader = self.app.tokens.create(["data:photos:read"], "reader")
        reading = self.session(reader)
        self.assertNotIn(b'action="/console/upload"', self.page("/console/bucket", reading, name="photos").body)
        self.assertEqual(self.upload(reading, [("d.txt", b"d", BINARY)]).status, 403)

    def test_several_keys_chosen_in_a_folder_are_deleted_after_one_confirmation(self):
        for key in ("2026/a.jpg", "2026/b.jpg", "2026/c.jpg"):
            self.admin.put_object(Bucket="photos", Key=key, Body=b"x")
        session = self.session()
        folder = self.page("/console/bucket", session, name="photos", prefix="2026/").body.decode()
        self.assertIn('name="key" value="2026/a.jpg"', folder)
        asked = self.request("GET", "/console/delete?bucket=photos&key=2026%2Fa.jpg&key=2026%2Fc.jpg",
                             headers={"Cookie": "fsd_console=" + session})
        self.assertIn("these 2 keys", asked.body.decode())
        gone = self.request("POST", "/console/delete", b"bucket=photos&key=2026%2Fa.jpg&key=2026%2Fc.jpg",
                            dict(SAME, **{"Cookie": "fsd_console=" + session,
                                          "Content-Type": "application/x-www-form-urlencoded"}))
        self.assertEqual(gone.status, 303)
        left = [o["Key"] for o in self.admin.list_objects_v2(Bucket="photos")["Contents"]]
        self.assertEqual(left, ["2026/b.jpg"])
        _, reader = self.app.tokens.create(["data:photos:read"], "viewer")
        reading = self.page("/console/bucket", self.session(reader), name="photos", prefix="2026/").body.decode()
        self.assertNotIn("Delete the chosen keys", reading)  # its boxes choose keys for a zip only

    def test_a_new_folder_is_an_empty_key_and_opens(self):
        session = self.session()
        made = self.post("/console/folder", session, {"bucket": "photos", "prefix": "2026/", "name": "trip/"})
        self.assertEqual(made.headers["Location"], "/console/bucket?name=photos&prefix=2026%2Ftrip%2F")
        self.assertEqual(self.admin.head_object(Bucket="photos", Key="2026/trip/")["ContentLength"], 0)
        parent = self.page("/console/bucket", session, name="photos", prefix="2026/").body.decode()
        self.assertIn(">trip/</a>", parent)
        inside = self.page("/console/bucket", session, name="photos", prefix="2026/trip/").body.decode()
        self.assertIn("Nothing here.", inside)  # its own key is not listed as a file in it
        self.assertEqual(self.post("/console/folder", session, {"bucket": "photos", "name": " / "}).status, 400)

    def test_a_share_link_of_a_stored_object(self):
        self.admin.put_object(Bucket="photos", Key="2026/report.pdf", Body=b"%PDF the report",
                              ContentType="application/pdf")
        session = self.session()
        details = self.page("/console/object", session, bucket="photos", key="2026/report.pdf").body
        self.assertIn(b'action="/console/share"', details)
        made = self.post("/console/share", session, {"bucket": "photos", "key": "2026/report.pdf",
                                                    "password": "pw", "max_downloads": "1", "expires_in": "3600"})
        self.assertEqual(made.status, 200, made)
        text = made.body.decode()
        link = re.search(r'href="http://[^/]+(/file/[^"]+)"', text).group(1)
        self.assertIn("Delete token", text)
        self.assertEqual(self.request("GET", link).status, 401)  # the password holds
        got = self.request("GET", link, headers={"X-Password": "pw"})
        self.assertEqual((got.status, got.body), (200, b"%PDF the report"))
        self.assertIn('filename="report.pdf"', got.headers["Content-Disposition"])
        self.assertEqual(self.request("GET", link, headers={"X-Password": "pw"}).status, 410)  # one download
        too_long = self.post("/console/share", session, {"bucket": "photos", "key": "2026/a", "expires_in": "9" * 9})
        self.assertEqual(too_long.status, 400)
        _, reader = self.app.tokens.create(["data:photos:read"], "reader")
        self.admin.put_object(Bucket="photos", Key="b.txt", Body=b"b")
        reading = self.session(reader)
        self.assertNotIn(b"/console/share", self.page("/console/object", reading, bucket="photos", key="b.txt").body)
        self.assertEqual(self.post("/console/share", reading, {"bucket": "photos", "key": "b.txt"}).status, 403)

    def test_the_share_links_a_token_made_listed_and_ended(self):
        self.admin.put_object(Bucket="photos", Key="2026/report.pdf", Body=b"%PDF the report")
        _, sharer = self.app.tokens.create(["data:photos:read", "share:create"], "sharer")
        session = self.session(sharer)
        made = self.post("/console/share", session, {"bucket": "photos", "key": "2026/report.pdf",
                                                    "password": "pw", "max_downloads": "2"})
        console_link = re.search(r'href="http://[^/]+/file/([^"]+)"', made.body.decode()).group(1)
        form = self.request("POST", "/file", b"--b\r\nContent-Disposition: form-data; name=\"file\"; filename="
                            b"\"<i>notes.txt\"\r\n\r\nnotes\r\n--b--\r\n",
                            {"Authorization": "Bearer " + sharer, "Content-Type": "multipart/form-data; boundary=b",
                             "Accept": "application/json"})
        self.assertEqual(form.status, 201, form)
        form_link = form.json()["url"].rsplit("/", 1)[1]
        resumed = self.request("POST", "/uploads", b"", {
            "Authorization": "Bearer " + sharer, "Tus-Resumable": "1.0.0", "Upload-Length": "7",
            "Upload-Metadata": "target ZmlsZQ==,filename cmVzdW1lZC5iaW4="})  # file, resumed.bin
        self.assertEqual(self.request("PATCH", urlsplit(resumed.headers["Location"]).path, b"resumed", {
            "Authorization": "Bearer " + sharer, "Tus-Resumable": "1.0.0", "Upload-Offset": "0",
            "Content-Type": "application/offset+octet-stream"}).status, 204)
        others = self.request("PUT", "/file/theirs.txt", b"theirs", {"Authorization": "Bearer " + self.secret})
        others_link = others.body.decode().strip().rsplit("/", 1)[1]
        listed = self.page("/console/links", session).body.decode()
        self.assertIn("report.pdf", listed)
        self.assertIn("&lt;i&gt;notes.txt", listed)  # a file name is text, never markup
        self.assertIn("resumed.bin", listed)  # through tus too
        self.assertLess(listed.index(console_link), listed.index(form_link))  # oldest first
        self.assertIn('<td data-label="Downloads">0 of 2</td><td data-label="Password">yes</td>', listed)
        self.assertNotIn(others_link, listed)
        self.assertEqual(self.post("/console/links/end", session, {"id": console_link},
                                   headers={"Sec-Fetch-Site": "cross-site"}).status, 403)
        self.assertEqual(self.post("/console/links/end", session, {"id": others_link}).status, 403)
        self.assertEqual(self.post("/console/links/end", session, {"id": console_link}).status, 303)
        self.assertEqual(self.request("GET", "/file/" + console_link, headers={"X-Password": "pw"}).status, 410)
        self.assertIn("ended", self.page("/console/links", session).body.decode())
        self.assertEqual(self.request("GET", "/file/" + others_link).body, b"theirs")

    def test_a_token_sees_and_does_what_its_scopes_allow(self):
        self.admin.create_bucket(Bucket="private")
        self.admin.put_object(Bucket="photos", Key="a.jpg", Body=b"a")
        _, reader = self.app.tokens.create(["data:photos:read"], "viewer")
        session = self.session(reader)
        home = self.page("/console", session).body
        self.assertIn(b"name=photos", home)
        self.assertNotIn(b"private", home)
        self.assertEqual(self.page("/console/bucket", session, name="private").status, 403)
        self.assertEqual(self.page("/console/download", session, bucket="photos", key="a.jpg").body, b"a")
        details = self.page("/console/object", session, bucket="photos", key="a.jpg").body
        self.assertIn(b"Download", details)
        for control in (b"Delete", b"Copy or move"):  # what it may not do is not offered
            self.assertNotIn(control, details)
        self.assertEqual(self.page("/console/delete", session, bucket="photos", key="a.jpg").status, 403)
        self.assertEqual(self.post("/console/delete", session, {"bucket": "photos", "key": "a.jpg"}).status, 403)
        self.assertEqual(self.admin.get_object(Bucket="photos", Key="a.jpg")["Body"].read(), b"a")


class RepositoryTests(ConsoleCase):
    def test_data_repositories_and_files_objects_by_hash(self):
        bearer = {"Authorization": "Bearer " + self.secret}
        self.assertEqual(self.request("PUT", "/data/scans", b"a scanned page", bearer).status, 201)
        self.assertEqual(self.request("POST", "/files", b"a plain file", bearer).status, 200)
        session = self.session()
        home = self.page("/console", session).body.decode()
        self.assertIn('href="/console/repository?name=scans">scans</a>', home)
        listed = self.page("/console/repository", session, name="scans").body.decode()
        self.assertIn(sha256(b"a scanned page"), listed)
        got = self.page("/console/repository/download", session, name="scans", oid=sha256(b"a scanned page"))
        self.assertEqual(got.body, b"a scanned page")
        files = self.page("/console/repository", session, name="").body.decode()
        self.assertIn(sha256(b"a plain file"), files)
        self.assertEqual(self.page("/console/repository", session, name="../etc").status, 400)
        _, reader = self.app.tokens.create(["data:photos:read"], "viewer")
        reading = self.session(reader)
        self.assertNotIn("scans", self.page("/console", reading).body.decode())
        self.assertEqual(self.page("/console/repository", reading, name="scans").status, 403)
        self.assertEqual(self.page("/console/repository", reading, name="").status, 403)


    def lock(self, path: str, secret: str) -> dict:
        reply = self.request("POST", "/lfs/scans/locks", json.dumps({"path": path}).encode(),
                             {"Authorization": "Bearer " + secret, "Accept": LFS, "Content-Type": LFS})
        self.assertEqual(reply.status, 201, reply)
        return reply.json()["lock"]

    def test_git_lfs_locks_of_a_repository_shown_and_ended(self):
        _, pusher = self.app.tokens.create(["data:scans:read", "data:scans:write"], "pusher")
        _, viewer = self.app.tokens.create(["data:scans:read"], "viewer")
        mine = self.lock("art/<b onclick=x>.psd", pusher)
        theirs = self.lock("art/hero.psd", self.secret)
        session = self.session(pusher)
        shown = self.page("/console/repository", session, name="scans").body.decode()
        self.assertIn("art/&lt;b onclick=x&gt;.psd", shown)
        self.assertIn("<td>art/hero.psd</td><td>ops</td>", shown)
        self.assertIn('value="%s"' % mine["id"], shown)  # its own lock: Unlock shown
        self.assertNotIn('value="%s"' % theirs["id"], shown)  # another's: not without delete
        refused = self.post("/console/repository/unlock", session, {"name": "scans", "id": theirs["id"]})
        self.assertEqual(refused.status, 403)
        ended = self.post("/console/repository/unlock", session, {"name": "scans", "id": mine["id"]})
        self.assertEqual(ended.status, 303)
        self.assertEqual(self.post("/console/repository/unlock", session, {"name": "scans", "id": mine["id"]},
                                   headers={"Sec-Fetch-Site": "cross-site"}).status, 403)
        self.assertNotIn("Git LFS locks", self.page("/console/repository", self.session(viewer),
                                                    name="scans").body.decode())
        admin = self.session()  # may delete: any lock, as git lfs unlock --force
        self.assertIn('value="%s"' % theirs["id"], self.page("/console/repository", admin, name="scans").body.decode())
        self.assertEqual(self.post("/console/repository/unlock", admin, {"name": "scans", "id": theirs["id"]}).status,
                         303)
        left = self.request("GET", "/lfs/scans/locks", headers={"Authorization": "Bearer " + self.secret,
                                                                "Accept": LFS})
        self.assertEqual(left.json()["locks"], [])


class AccessOffTests(ConsoleCase):
    config_overrides = {"s3_api": "127.0.0.1:0", "auth": "off"}

    def test_with_access_control_off_nobody_signs_in_and_the_page_says_so(self):
        home = self.page("/console")
        self.assertEqual(home.status, 200)
        self.assertIn(b"Anyone who reaches this server may do anything here", home.body)
        self.assertEqual(self.page("/console/sign-in").headers["Location"], "/console")


class AdminTests(ConsoleCase):
    def test_buckets_made_versioned_and_deleted_as_s3_sees_them(self):
        session = self.session()
        home = self.page("/console", session).body.decode()
        self.assertIn("New bucket", home)
        self.assertEqual(home.count(">photos</a>"), 1)  # a bucket listed once, not again as a repository
        self.assertEqual(self.post("/console/buckets", session, {"name": "Bad_Name"}).status, 400)
        made = self.post("/console/buckets", session, {"name": "reports"})
        self.assertEqual((made.status, made.headers["Location"]), (303, "/console/bucket?name=reports"))
        self.assertIn("reports", [b["Name"] for b in self.admin.list_buckets()["Buckets"]])
        page = self.page("/console/bucket", session, name="reports").body.decode()
        self.assertIn("<dt>Versioning</dt><dd>off", page)
        settings = {"name": "reports"}
        self.assertEqual(self.post("/console/bucket/settings", session, dict(settings, action="versioning-on")).status,
                         303)
        self.assertEqual(self.admin.get_bucket_versioning(Bucket="reports")["Status"], "Enabled")
        self.post("/console/bucket/settings", session, dict(settings, action="versioning-suspend"))
        self.assertEqual(self.admin.get_bucket_versioning(Bucket="reports")["Status"], "Suspended")
        self.admin.put_object(Bucket="reports", Key="q1.pdf", Body=b"q1")
        full = self.post("/console/bucket/settings", session, dict(settings, action="delete"))
        self.assertEqual(full.status, 409)  # BucketNotEmpty, as S3 answers it
        self.assertIn("holds keys", full.body.decode())
        self.admin.delete_object(Bucket="reports", Key="q1.pdf")
        for version in self.admin.list_object_versions(Bucket="reports").get("Versions", []):
            self.admin.delete_object(Bucket="reports", Key="q1.pdf", VersionId=version["VersionId"])
        for marker in self.admin.list_object_versions(Bucket="reports").get("DeleteMarkers", []):
            self.admin.delete_object(Bucket="reports", Key="q1.pdf", VersionId=marker["VersionId"])
        self.assertEqual(self.post("/console/bucket/settings", session, dict(settings, action="delete")).status, 303)
        self.assertNotIn("reports", [b["Name"] for b in self.admin.list_buckets()["Buckets"]])
        locked = self.post("/console/buckets", session, {"name": "vault", "lock": "1"})
        self.assertEqual(locked.status, 303)
        self.assertEqual(self.admin.get_object_lock_configuration(Bucket="vault")["ObjectLockConfiguration"]
                         ["ObjectLockEnabled"], "Enabled")
        self.assertNotIn("Suspend versioning", self.page("/console/bucket", session, name="vault").body.decode())

    def test_a_token_that_may_not_sees_no_settings_and_is_refused(self):
        _, reader = self.app.tokens.create(["data:photos:*"], "reader")
        session = self.session(reader)
        self.assertNotIn("New bucket", self.page("/console", session).body.decode())
        self.assertNotIn("<h2>Settings</h2>", self.page("/console/bucket", session, name="photos").body.decode())
        self.assertEqual(self.post("/console/buckets", session, {"name": "mine"}).status, 403)
        self.assertEqual(self.post("/console/bucket/settings", session, {"name": "photos", "action": "delete"}).status,
                         403)
        self.assertIsNotNone(self.app.buckets.get("photos"))

    def test_an_admin_makes_and_revokes_tokens_and_sees_the_store(self):
        session = self.session()
        listed = self.page("/console/tokens", session).body.decode()
        self.assertIn('<td>ops</td><td data-label="Scopes">admin</td>', listed)
        made = self.post("/console/tokens", session, {"name": "backup-host", "scopes": "data:backups:create "
                                                      "data:backups:read", "expires_in": "0", "s3": "1"})
        self.assertEqual(made.status, 200, made)
        text = made.body.decode()
        secret = re.search(r'<dt>Token</dt><dd><code id="secret-\d">([^<]+)</code>', text).group(1)
        key_id = re.search(r'<dt>S3 access key id</dt><dd><code id="secret-\d">([^<]+)</code>', text).group(1)
        s3_secret = re.search(r'<dt>S3 secret access key</dt><dd><code id="secret-\d">([^<]+)</code>', text).group(1)
        self.assertEqual(self.app.tokens.find(secret).name, "backup-host")
        self.admin.create_bucket(Bucket="backups")
        pair = self.client(key_pair=(key_id, s3_secret))
        pair.put_object(Bucket="backups", Key="snap-1", Body=b"snapshot")  # the pair works at once
        self.assertNotIn(secret, self.page("/console/tokens", session).body.decode())  # shown that once only
        taken = self.post("/console/tokens", session, {"name": "backup-host", "scopes": "admin", "expires_in": "0"})
        self.assertEqual(taken.status, 409)
        self.assertIn(b"token rotate backup-host", taken.body)
        bad = self.post("/console/tokens", session, {"name": "x", "scopes": "files:fly", "expires_in": "0"})
        self.assertEqual(bad.status, 400)
        self.assertEqual(self.post("/console/tokens/revoke", session, {"name": "backup-host"}).status, 303)
        self.assertIsNone(self.app.tokens.find(secret))
        store = self.page("/console/store", session).body.decode()
        self.assertIn("<dt>Backend</dt><dd>disk</dd>", store)
        self.assertIn("<dt>Objects stored</dt>", store)
        self.assertIn("<dt>The data directory's disk</dt>", store)

    def test_usage_by_bucket_counts_each_object_once(self):
        self.admin.create_bucket(Bucket="music")
        for key, body in (("a", b"12345"), ("b", b"12345"), ("c", b"123")):  # a and b: one object
            self.admin.put_object(Bucket="photos", Key=key, Body=body)
        self.admin.put_object(Bucket="music", Key="song", Body=b"x" * 2048)
        self.assertEqual(self.request("POST", "/files", b"plain", {"Authorization": "Bearer " + self.secret}).status,
                         200)
        self.app.buckets.set_quota(self.app.buckets.get("music"), 1 << 20)
        store = self.page("/console/store", self.session()).body.decode()
        rows = re.findall(r'<tr><td>(.*?)</td><td data-label="Objects">(\d+)</td><td data-label="Bytes">(.*?)</td>'
                          r'<td data-label="Quota">(.*?)</td></tr>', store)
        self.assertEqual(rows[:2], [("music", "1", "2.0 KiB", "2.0 KiB of 1.0 MiB"), ("photos", "2", "8 bytes", "")])
        self.assertIn(("<em>/files</em>", "1", "5 bytes", ""), rows)
        home = self.page("/console", self.session()).body.decode()
        self.assertIn('photos</a> <span class="muted">2 objects, 8 bytes</span>', home)
        self.assertIn('music</a> <span class="muted">1 object, 2.0 KiB</span>', home)

    def test_only_an_admin_token_sees_them(self):
        _, reader = self.app.tokens.create(["data:photos:read"], "viewer")
        session = self.session(reader)
        self.assertEqual(self.page("/console/tokens", session).status, 403)
        self.assertEqual(self.page("/console/store", session).status, 403)
        refused = self.post("/console/tokens", session, {"name": "mine", "scopes": "admin", "expires_in": "0"})
        self.assertEqual(refused.status, 403)
        self.assertIsNone(next((t for t in self.app.tokens.list() if t.name == "mine"), None))
