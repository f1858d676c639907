"""Upload-request links (``/drops``, ``/drop/<secret>``): an owner makes a
link for a folder of a bucket; whoever holds it sends files in with curl
or its page, each landing under its name made safe and never replacing
another; the link's limits hold under uploads at once; its password,
expiry and revocation answer as they say; the uploader can do nothing
else; the secret never reaches the access log."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import tempfile
from concurrent.futures import ThreadPoolExecutor
from typing import Dict, Optional

from ..console.test_console import SAME
from ..s3api_support import S3ApiCase
from ..support import wait_until


class DropCase(S3ApiCase):
    def setUp(self) -> None:
        super().setUp()
        self.app.buckets.create("inbox")
        self.admin = self.app.tokens.create(["admin"], "admin")[1]
        self.owner = self.app.tokens.create(["data:inbox/client/:create", "data:inbox/client/:read"], "ana")[1]
        self.work = tempfile.mkdtemp(prefix="fsd-drops-")
        self.addCleanup(shutil.rmtree, self.work, True)

    def make(self, secret: Optional[str] = None, **fields) -> Dict[str, object]:
        reply = self.request("POST", "/drops", json.dumps(dict({"bucket": "inbox", "prefix": "client"}, **fields))
                             .encode(), {"Authorization": "Bearer " + (secret or self.owner),
                                         "Content-Type": "application/json"})
        self.assertEqual(reply.status, 201, reply)
        return reply.json()

    def send(self, url: str, name: str, body: bytes, headers: Optional[Dict[str, str]] = None):
        path = url.split("127.0.0.1:%d" % self.port)[1]
        return self.request("PUT", path + "/" + name, body, headers or {})

    def stored(self, key: str) -> bytes:
        return self.client().get_object(Bucket="inbox", Key=key)["Body"].read()


class DropTests(DropCase):
    def test_files_sent_by_curl_land_in_the_folder_under_safe_names_never_replacing_one(self):
        admin_client = self.client()
        admin_client.put_object(Bucket="inbox", Key="client/report.pdf", Body=b"the owner's own report")
        link = self.make(name="Acme documents", note="Your Q3 documents, please")
        self.assertTrue(str(link["url"]).startswith("http://127.0.0.1:%d/drop/" % self.port))
        path = os.path.join(self.work, "report.pdf")
        with open(path, "wb") as handle:
            handle.write(b"the client's report")
        done = subprocess.run(["curl", "-sS", "--fail", "-T", path, str(link["url"]) + "/", "-H",
                               "X-Uploader-Name: Bob"], capture_output=True, timeout=60)
        self.assertEqual(done.returncode, 0, done.stderr)
        self.assertEqual(json.loads(done.stdout), {"name": "report (2).pdf", "size": 19})
        body = admin_client.get_object(Bucket="inbox", Key="client/report.pdf")["Body"].read()
        self.assertEqual(body, b"the owner's own report")  # never replaced
        self.assertEqual(admin_client.get_object(Bucket="inbox", Key="client/report (2).pdf")["Body"].read(),
                         b"the client's report")
        for sent, landed in (("a/b/../../c.txt", "c.txt"), (".hidden", "hidden"), ("con:fig%3F.ini", "con_fig_.ini"),
                             ("..", "file")):
            with self.subTest(sent=sent):
                reply = self.send(str(link["url"]), sent, b"x")
                self.assertEqual(reply.status, 201, reply)
                self.assertEqual(reply.json()["name"], landed)
                self.assertIsNotNone(self.app.keys.get("inbox", "client/" + landed))
        self.assertEqual(sorted(key for key, _ in self.app.keys.page("inbox", "", limit=100).items),
                         ["client/c.txt", "client/con_fig_.ini", "client/file", "client/hidden",
                          "client/report (2).pdf", "client/report.pdf"])
        listed = self.request("GET", "/drops", headers={"Authorization": "Bearer " + self.owner}).json()
        self.assertEqual([(item["name"], item["files"]) for item in listed], [("Acme documents", 5)])
        self.assertEqual(listed[0]["sent"][0]["key"], "client/report (2).pdf")
        self.assertEqual(listed[0]["sent"][0]["by"], "Bob via upload link 'Acme documents'")
        entry = self.app.keys.get("inbox", "client/report (2).pdf")
        self.assertEqual(entry.maker, "Bob via upload link 'Acme documents'")
        signed_in = self.request("POST", "/console/sign-in", b"token=" + self.admin.encode(),
                                 dict(SAME, **{"Content-Type": "application/x-www-form-urlencoded"}))
        cookie = signed_in.headers["Set-Cookie"].split(";")[0]
        page = self.request("GET", "/console/object?bucket=inbox&key=client%2Freport%20%282%29.pdf",
                            headers={"Cookie": cookie}).body.decode()
        self.assertIn("<dt>Written by</dt><dd>Bob via upload link &#x27;Acme documents&#x27;</dd>", page)

    def test_the_page_shows_the_note_and_limits_but_neither_the_secret_nor_the_folder(self):
        self.client().put_object(Bucket="inbox", Key="client/private.txt", Body=b"not for them")
        link = self.make(note="Drop <your> scans", max_files=3, max_file_bytes=1 << 20)
        secret = str(link["url"]).rsplit("/", 1)[1]
        page = self.request("GET", "/drop/" + secret, headers={"Accept": "text/html"})
        self.assertEqual(page.status, 200)
        text = page.body.decode()
        self.assertIn("Drop &lt;your&gt; scans", text)
        self.assertIn("<dt>Files</dt><dd>3 more</dd>", text)
        self.assertIn("<dt>Each file</dt><dd>at most 1.0 MiB</dd>", text)
        self.assertNotIn(secret, text)
        self.assertNotIn("private.txt", text)
        self.assertNotIn("client/", text)

    def test_the_uploader_reads_lists_replaces_and_deletes_nothing(self):
        self.client().put_object(Bucket="inbox", Key="client/private.txt", Body=b"not for them")
        link = self.make()
        secret = str(link["url"]).rsplit("/", 1)[1]
        self.assertEqual(self.send(str(link["url"]), "mine.txt", b"mine").status, 201)
        for method, path in (("GET", "/drop/%s/private.txt" % secret), ("GET", "/drop/%s/mine.txt" % secret),
                             ("DELETE", "/drop/%s/mine.txt" % secret), ("DELETE", "/drop/" + secret),
                             ("GET", "/drops"), ("DELETE", "/drops/" + secret),
                             ("GET", "/data/inbox"), ("GET", "/dav/inbox/client/"),
                             ("GET", "/console/bucket?name=inbox")):
            with self.subTest(method=method, path=path):
                reply = self.request(method, path)
                self.assertIn(reply.status, (401, 403, 404, 405, 303), reply)
                self.assertNotIn(b"not for them", reply.body)
                self.assertNotIn(b"private.txt", reply.body)
        self.assertEqual(self.send(str(link["url"]), "private.txt", b"overwrite?").json()["name"], "private (2).txt")
        self.assertEqual(self.stored("client/private.txt"), b"not for them")
        other = self.app.tokens.create(["data:inbox/other/:create"], "eve")[1]
        reply = self.request("POST", "/drops", json.dumps({"bucket": "inbox", "prefix": "client"}).encode(),
                             {"Authorization": "Bearer " + other})
        self.assertEqual(reply.status, 403)  # a link only for a folder its maker may add to
        self.assertEqual(self.request("DELETE", "/drops/" + secret, headers={"Authorization": "Bearer " + other})
                         .status, 403)

    def test_the_limits_hold_under_sixteen_uploads_at_once(self):
        link = self.make(max_files=5, max_file_bytes=1000)
        self.assertEqual(self.send(str(link["url"]), "big.bin", b"x" * 1001).status, 403)  # before its body is read

        def one(number: int) -> int:
            return self.send(str(link["url"]), "f.txt", b"%d" % number).status

        with ThreadPoolExecutor(16) as pool:
            statuses = list(pool.map(one, range(16)))
        self.assertEqual(statuses.count(201), 5, statuses)
        self.assertTrue(set(statuses) <= {201, 403, 409, 410}, statuses)
        self.assertEqual(len(self.app.keys.page("inbox", "client/", limit=100).items), 5)
        secret = str(link["url"]).rsplit("/", 1)[1]
        gone = self.request("GET", "/drop/" + secret, headers={"Accept": "text/html"})
        self.assertEqual(gone.status, 410)
        self.assertIn(b"spent", gone.body)
        totals = self.make(max_bytes=10)
        self.assertEqual(self.send(str(totals["url"]), "a", b"123456").status, 201)
        self.assertEqual(self.send(str(totals["url"]), "b", b"123456").status, 403)
        self.assertEqual(self.send(str(totals["url"]), "c", b"1234").status, 201)
        self.assertEqual(self.send(str(totals["url"]), "d", b"1").status, 410)

    def test_a_password_expiry_and_revocation_answer_as_they_say(self):
        locked = self.make(password="open sesame")
        self.assertEqual(self.send(str(locked["url"]), "a.txt", b"a").status, 401)
        self.assertEqual(self.send(str(locked["url"]), "a.txt", b"a", {"X-Password": "wrong"}).status, 401)
        self.assertEqual(self.send(str(locked["url"]), "a.txt", b"a", {"X-Password": "open sesame"}).status, 201)
        path = os.path.join(self.work, "b.txt")
        with open(path, "wb") as handle:
            handle.write(b"b")
        done = subprocess.run(["curl", "-sS", "--fail", "-u", ":open sesame", "-T", path, str(locked["url"]) + "/"],
                              capture_output=True, timeout=60)
        self.assertEqual(done.returncode, 0, done.stderr)
        secret = str(locked["url"]).rsplit("/", 1)[1]
        revoked = self.request("DELETE", "/drops/" + secret, headers={"Authorization": "Bearer " + self.owner})
        self.assertEqual((revoked.status, revoked.json()["files"]), (200, 2))
        gone = self.send(str(locked["url"]), "c.txt", b"c", {"X-Password": "open sesame"})
        self.assertEqual(gone.status, 410)
        self.assertIn("revoked", gone.json()["message"])
        page = self.request("GET", "/drop/" + secret, headers={"Accept": "text/html"})
        self.assertEqual(page.status, 410)
        self.assertIn(b"revoked", page.body)
        brief = self.make(expires_in=1)
        wait_until(lambda: self.request("GET", str(brief["url"]).split(str(self.port))[1]).status == 410,
                   "the link expired", timeout=10)
        self.assertEqual(self.send(str(brief["url"]), "late.txt", b"late").status, 410)
        self.assertIsNone(self.app.keys.get("inbox", "client/late.txt"))
        self.assertEqual(self.request("GET", "/drop/" + "x" * 32).status, 404)

    def test_the_secret_never_reaches_the_access_log(self):
        link = self.make()
        secret = str(link["url"]).rsplit("/", 1)[1]
        with self.assertLogs("filestoraged.access", "INFO") as logged:
            self.assertEqual(self.send(str(link["url"]), "a.txt", b"a").status, 201)
            self.request("GET", "/drop/" + secret)
            self.request("DELETE", "/drops/" + secret, headers={"Authorization": "Bearer " + self.owner})
            # (a request's line is written once its answer went: after the client may have read it)
            # (the link's own POST line may land in here too, late: wait for each of the three by name)
            wait_until(lambda: all(any(method in line for line in logged.output)
                                   for method in ('"PUT /drop', '"GET /drop', '"DELETE /drops')),
                       "the three access lines")
        text = "\n".join(logged.output)
        self.assertNotIn(secret, text)
        self.assertIn('"PUT /drop/[secret]/a.txt" 201', text)
        self.assertIn('"DELETE /drops/[secret]" 200', text)

    def test_the_bucket_quota_holds_and_a_refused_file_costs_the_link_nothing(self):
        bucket = self.app.buckets.get("inbox")
        self.app.buckets.set_quota(bucket, 100)
        link = self.make(max_files=2)
        self.assertEqual(self.send(str(link["url"]), "big.bin", b"x" * 200).status, 507)
        self.assertEqual(self.send(str(link["url"]), "a.bin", b"x" * 50).status, 201)
        self.assertEqual(self.send(str(link["url"]), "b.bin", b"x" * 50).status, 201)  # the refused one took no file
