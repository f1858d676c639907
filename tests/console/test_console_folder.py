"""A folder page as a file browser, over HTTP: the page sorted by name,
size or date (folders first either way, the order kept by the next page),
each key's own download, share and delete, the keys chosen downloaded as
one zip (exact bytes, names safe to unpack, every key allowed before a
byte goes); and an object's page previewing what it holds: a picture, a
player, the start of a text as escaped text, a PDF in the browser's viewer,
each from the preview route, sandboxed. The same in a real browser:
``tests/console/test_console_browser.py``."""

from __future__ import annotations

import io
import re
import zipfile

from .test_console import SAME, ConsoleCase


class FolderTests(ConsoleCase):
    def setUp(self) -> None:
        super().setUp()
        for key, body in (("docs/b-big.bin", b"x" * 5000), ("docs/a-small.txt", b"small"),
                          ("docs/c-mid.txt", b"m" * 300), ("docs/sub/deep.txt", b"deep")):
            self.admin.put_object(Bucket="photos", Key=key, Body=body)

    def names_in(self, body: bytes) -> list:
        return re.findall(r'aria-label="choose docs/([^"]+)"|aria-label="choose ([^"]+)"', body.decode())

    def shown(self, session: str, **query: str) -> list:
        page = self.page("/console/bucket", session, name="photos", prefix="docs/", **query)
        self.assertEqual(page.status, 200, page)
        return [found[1] for found in re.findall(r'<tr><td>(<input[^>]*> )?<a href="[^"]*">([^<]+)</a>',
                                                 page.body.decode())]

    def test_a_page_sorted_by_name_size_or_date_folders_first(self):
        session = self.session()
        self.assertEqual(self.shown(session), ["sub/", "a-small.txt", "b-big.bin", "c-mid.txt"])
        self.assertEqual(self.shown(session, sort="size"), ["sub/", "a-small.txt", "c-mid.txt", "b-big.bin"])
        self.assertEqual(self.shown(session, sort="size", order="desc"),
                         ["sub/", "b-big.bin", "c-mid.txt", "a-small.txt"])
        self.admin.put_object(Bucket="photos", Key="docs/a-small.txt", Body=b"newest now")
        self.assertEqual(self.shown(session, sort="date", order="desc")[:2], ["sub/", "a-small.txt"])
        page = self.page("/console/bucket", session, name="photos", prefix="docs/", sort="size").body.decode()
        self.assertIn('aria-sort="ascending"><a href="/console/bucket?name=photos&amp;prefix=docs%2F&amp;sort=size'
                      '&amp;order=desc">Size ▲</a>', page)  # again: the other way
        self.assertEqual(self.page("/console/bucket", session, name="photos", sort="owner").status, 400)

    def test_a_search_shows_names_within_their_folder_and_uploads_land_in_that_folder(self):
        self.admin.put_object(Bucket="photos", Key="docs/03-mar/x.txt", Body=b"x")
        session = self.session()
        page = self.page("/console/bucket", session, name="photos", prefix="docs/0")
        self.assertEqual(page.status, 200)
        names = [found[1] for found in re.findall(r'<tr><td>(<input[^>]*> )?<a href="[^"]*">([^<]+)</a>',
                                                  page.body.decode())]
        self.assertEqual(names, ["03-mar/"])  # not "3-mar/"
        self.assertIn('<form id="upload" method="post" action="/console/upload" enctype="multipart/form-data">'
                      '<input type="hidden" name="bucket" value="photos"><input type="hidden" name="prefix" '
                      'value="docs/"><label for="file">Upload files into docs/</label>', page.body.decode())
        text = page.body.decode()
        self.assertLess(text.index('id="upload"'), text.index('id="listing"'))  # not below a long listing

    def test_the_next_page_keeps_the_order(self):
        from filestoraged.console import face

        original, face.PAGE = face.PAGE, 2
        self.addCleanup(setattr, face, "PAGE", original)
        page = self.page("/console/bucket", self.session(), name="photos", prefix="docs/", sort="size",
                         order="desc").body.decode()
        following = re.search(r'<a class="button" href="([^"]+)">Next page</a>', page).group(1)
        self.assertIn("sort=size", following)
        self.assertIn("order=desc", following)

    def test_each_key_has_its_own_actions_as_the_token_may(self):
        page = self.page("/console/bucket", self.session(), name="photos", prefix="docs/").body.decode()
        self.assertIn('href="/console/download?bucket=photos&amp;key=docs%2Fc-mid.txt" aria-label="Download '
                      'c-mid.txt"', page)
        self.assertIn('href="/console/object?bucket=photos&amp;key=docs%2Fc-mid.txt#share"', page)
        self.assertIn('href="/console/delete?bucket=photos&amp;key=docs%2Fc-mid.txt"', page)
        _, reader = self.app.tokens.create(["data:photos:read"], "reader")
        page = self.page("/console/bucket", self.session(reader), name="photos", prefix="docs/").body.decode()
        self.assertIn("Download the chosen as a zip", page)  # a reader may take a zip
        for absent in ("#share", "/console/delete?", "Delete the chosen keys"):
            self.assertNotIn(absent, page)

    def test_the_chosen_keys_as_one_zip(self):
        session = self.session()
        self.admin.put_object(Bucket="photos", Key="docs/../../etc/evil", Body=b"a way out")
        keys = ["docs/a-small.txt", "docs/b-big.bin", "docs/sub/deep.txt", "docs/../../etc/evil"]
        reply = self.post("/console/zip", session, [("bucket", "photos"), ("prefix", "docs/")]
                          + [("key", key) for key in keys])
        self.assertEqual(reply.status, 200, reply)
        self.assertEqual(reply.headers["Content-Type"], "application/zip")
        self.assertIn('filename="docs.zip"', reply.headers["Content-Disposition"])
        with zipfile.ZipFile(io.BytesIO(reply.body)) as archive:
            self.assertIsNone(archive.testzip())
            self.assertEqual(archive.namelist(), ["a-small.txt", "b-big.bin", "sub/deep.txt", "etc/evil"])
            self.assertEqual(archive.read("b-big.bin"), b"x" * 5000)
            self.assertEqual(archive.read("etc/evil"), b"a way out")

    def test_a_zip_is_refused_whole_when_one_key_may_not_be_read_or_is_gone(self):
        _, some = self.app.tokens.create(["data:photos/docs/sub/:read"], "some")
        refused = self.post("/console/zip", self.session(some), [("bucket", "photos"), ("key", "docs/sub/deep.txt"),
                                                                 ("key", "docs/b-big.bin")])
        self.assertEqual(refused.status, 403)
        gone = self.post("/console/zip", self.session(), [("bucket", "photos"), ("key", "docs/b-big.bin"),
                                                          ("key", "docs/never.txt")])
        self.assertEqual(gone.status, 404)
        self.assertEqual(self.post("/console/zip", self.session(), [("bucket", "photos")]).status, 400)
        elsewhere = self.post("/console/zip", self.session(), [("bucket", "photos"), ("key", "docs/b-big.bin")],
                              headers={"Sec-Fetch-Site": "cross-site"})
        self.assertEqual(elsewhere.status, 403)  # a page of another site cannot make a browser take one


class PreviewTests(ConsoleCase):
    def details(self, key: str, body: bytes, content_type: str):
        self.admin.put_object(Bucket="photos", Key=key, Body=body, ContentType=content_type)
        return self.page("/console/object", self.session(), bucket="photos", key=key)

    def test_a_picture_and_a_film_from_the_sandboxed_preview_route(self):
        page = self.details("cat.png", b"\x89PNG not really", "image/png")
        self.assertIn('<img src="/console/preview?bucket=photos&amp;key=cat.png" alt="cat.png"', page.body.decode())
        self.assertIn("img-src data: 'self'; media-src 'self'", page.headers["Content-Security-Policy"])
        film = self.details("clip.mp4", b"\0\0\0 ftyp", "video/mp4").body.decode()
        self.assertIn('<video src="/console/preview?bucket=photos&amp;key=clip.mp4" controls', film)
        plain = self.details("notes.txt", b"words", "text/plain")
        self.assertNotIn("'self'; media-src", plain.headers["Content-Security-Policy"])  # only where it shows media

    def test_the_start_of_a_text_as_text(self):
        page = self.details("page.html", b"<script>alert(1)</script> \xc3\xa9t\xc3\xa9", "text/html").body.decode()
        self.assertIn("<pre>&lt;script&gt;alert(1)&lt;/script&gt; été</pre>", page)
        long = ("é" * 40000).encode()  # 80,000 bytes: the first 64 KiB end inside a character
        page = self.details("long.txt", long, "text/plain; charset=utf-8").body.decode()
        shown = re.search(r"<pre>([^<]*)</pre>", page).group(1)
        self.assertEqual(shown, "é" * 32768)
        self.assertIn("The first 64.0 KiB of it.", page)
        self.assertNotIn('id="preview"', self.details("blob.bin", b"\0\1\2", "application/octet-stream").body.decode())
        self.assertNotIn('id="preview"', self.details("nul.txt", b"text\0with a nul", "text/plain").body.decode())

    def test_a_pdf_opens_in_the_browsers_viewer_sandboxed(self):
        page = self.details("paper.pdf", b"%PDF-1.4 not really", "application/pdf").body.decode()
        self.assertIn('href="/console/preview?bucket=photos&amp;key=paper.pdf" target="_blank" rel="noopener"', page)
        shown = self.page("/console/preview", self.session(), bucket="photos", key="paper.pdf")
        self.assertEqual(shown.headers["Content-Type"], "application/pdf")
        self.assertIsNone(shown.headers.get("Content-Disposition"))
        self.assertEqual(shown.headers["Content-Security-Policy"], "sandbox; default-src 'none'")
        served = self.request("GET", "/data/photos/" + self.app.keys.get("photos", "paper.pdf").oid)
        self.assertIn("attachment", served.headers.get("Content-Disposition", "attachment"))  # elsewhere a download


class SignedInUploadPageTests(ConsoleCase):
    """The upload page at ``/`` for a browser signed in to the console: no
    token asked, its uploads sent as the session's token."""

    def form(self, name: str, body: bytes) -> tuple:
        boundary = "b0undary"
        data = (b'--%s\r\nContent-Disposition: form-data; name="file"; filename="%s"\r\nContent-Type: text/plain'
                b'\r\n\r\n%s\r\n--%s--\r\n' % (boundary.encode(), name.encode(), body, boundary.encode()))
        return data, {"Content-Type": "multipart/form-data; boundary=" + boundary, "Accept": "application/json"}

    def test_the_page_asks_for_no_token_and_uploads_go_as_the_sessions(self):
        session = self.session()
        page = self.page("/", session).body.decode()
        self.assertNotIn('id="token"', page)
        self.assertIn("Signed in to the console with the token <strong>ops</strong>", page)
        self.assertIn('action="/console/file"', page)
        self.assertIn('id="token"', self.page("/").body.decode())  # without a session: the token field
        data, headers = self.form("report.txt", b"shared while signed in")
        made = self.request("POST", "/console/file", data, dict(headers, **SAME, Cookie="fsd_console=" + session))
        self.assertEqual(made.status, 201, made)
        links, _ = self.app.shares.made_by("ops", "", 10)
        self.assertEqual([link.filename for link in links], ["report.txt"])
        plain = self.request("POST", "/console/files", data, dict(headers, **SAME, Cookie="fsd_console=" + session))
        self.assertEqual(plain.status, 200, plain)
        read = self.request("GET", "/files/" + plain.json()["hash"], headers={"Authorization": "Bearer " + self.secret})
        self.assertEqual(read.body, b"shared while signed in")

    def test_what_the_token_may_not_do_nor_another_site_nor_no_session(self):
        _, reader = self.app.tokens.create(["data:photos:read"], "reader")
        data, headers = self.form("x.txt", b"x")
        refused = self.request("POST", "/console/file", data,
                               dict(headers, **SAME, Cookie="fsd_console=" + self.session(reader)))
        self.assertEqual(refused.status, 403)
        elsewhere = self.request("POST", "/console/file", data, dict(headers, **{"Sec-Fetch-Site": "cross-site"},
                                                                     Cookie="fsd_console=" + self.session()))
        self.assertEqual(elsewhere.status, 403)
        self.assertEqual(self.request("POST", "/console/files", data, dict(headers, **SAME)).status, 401)


class OlderVersionsTests(ConsoleCase):
    def test_the_switch_lists_each_keys_older_versions_under_it(self):
        self.admin.put_bucket_versioning(Bucket="photos", VersioningConfiguration={"Status": "Enabled"})
        made = [self.admin.put_object(Bucket="photos", Key="a/draft.txt", Body=b"draft %d" % number)["VersionId"]
                for number in range(8)]
        gone = self.admin.put_object(Bucket="photos", Key="a/gone.txt", Body=b"gone")["VersionId"]
        marker = self.admin.delete_object(Bucket="photos", Key="a/gone.txt")["VersionId"]
        session = self.session()
        plain = self.page("/console/bucket", session, name="photos", prefix="a/").body.decode()
        self.assertNotIn('class="older"', plain)
        shown = self.page("/console/bucket", session, name="photos", prefix="a/", deleted="1").body.decode()
        older = re.findall(r'<tr class="older"><td>↳ <a href="/console/object\?bucket=photos&amp;key=a%2F([^&"]+)'
                           r'(?:&amp;version=(\w+))?">([^<]+)</a>', shown)
        self.assertEqual(older, [("draft.txt", version, "older version") for version in made[6::-1][:5]]
                         + [("draft.txt", "", "every version of draft.txt"),
                            ("gone.txt", marker, "delete marker"), ("gone.txt", gone, "older version")])
        self.assertIn("by <code>", shown)  # who made each


class RecentChangesTests(ConsoleCase):
    def test_every_faces_changes_with_who_made_them_newest_first(self):
        self.admin.put_bucket_versioning(Bucket="photos", VersioningConfiguration={"Status": "Enabled"})
        _, writer = self.app.tokens.create(["data:photos:write", "data:photos:delete"], "writer", s3=True)
        self.admin.put_object(Bucket="photos", Key="a.txt", Body=b"one")  # through S3, as ops
        session = self.session(writer)
        self.post("/console/delete", session, {"bucket": "photos", "key": "a.txt"})  # through the console
        self.admin.put_object(Bucket="photos", Key="b.txt", Body=b"two")
        self.admin.put_object_tagging(Bucket="photos", Key="b.txt", Tagging={"TagSet": [{"Key": "k", "Value": "v"}]})
        page = self.page("/console/bucket", self.session(), name="photos").body.decode()
        rows = re.findall(r'<td data-label="What" class="words">([^<]+)</td><td data-label="Key"><a href="[^"]*">'
                          r'([^<]+)</a>(?: <code>\w+</code>)?</td><td data-label="By">(?:<code>)?([^<]+)', page)
        boto = self.app.keys.get("photos", "b.txt").maker  # the token boto3 signs with
        self.assertEqual(rows, [("tags or lock changed", "b.txt", boto), ("written", "b.txt", boto),
                                ("deleted", "a.txt", "writer"), ("written", "a.txt", boto)])
        everything = self.page("/console/changes", self.session(), name="photos")
        self.assertEqual(everything.status, 200)
        self.assertIn("Recent changes in photos", everything.body.decode())

    def test_a_token_sees_only_the_changes_of_keys_it_may_read(self):
        self.admin.put_object(Bucket="photos", Key="open/a.txt", Body=b"a")
        self.admin.put_object(Bucket="photos", Key="secret/b.txt", Body=b"b")
        _, some = self.app.tokens.create(["data:photos/open/:read"], "some")
        shown = self.page("/console/changes", self.session(some), name="photos").body.decode()
        self.assertIn("open/a.txt", shown)
        self.assertNotIn("secret/b.txt", shown)
        _, other = self.app.tokens.create(["data:else:read"], "other")
        self.assertEqual(self.page("/console/changes", self.session(other), name="photos").status, 403)

    def test_a_bucket_made_again_under_its_name_starts_with_no_changes(self):
        self.admin.create_bucket(Bucket="temp")
        self.admin.put_object(Bucket="temp", Key="x", Body=b"x")
        self.admin.delete_object(Bucket="temp", Key="x")
        self.admin.delete_bucket(Bucket="temp")
        self.admin.create_bucket(Bucket="temp")
        page = self.page("/console/bucket", self.session(), name="temp").body.decode()
        self.assertIn("No change since this server began keeping them.", page)
