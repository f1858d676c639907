"""The console's upload links: a token makes one for a folder it may add
keys to, sees its address, what it took and who sent each file, and
revokes it; another token sees none of them; an admin sees all."""

from __future__ import annotations

import re

from .test_console import ConsoleCase


class UploadLinksPageTests(ConsoleCase):
    def test_a_link_made_seen_with_what_it_took_and_revoked(self):
        _, maker = self.app.tokens.create(["data:photos/in/:create", "data:photos/in/:read"], "ana")
        session = self.session(maker)
        self.assertIn("No upload link yet", self.page("/console/upload-links", session).body.decode())
        refused = self.post("/console/upload-links", session, {"bucket": "photos", "prefix": "elsewhere"})
        self.assertEqual(refused.status, 403)  # only a folder the token may add keys to
        made = self.post("/console/upload-links", session, {
            "bucket": "photos", "prefix": "in", "name": "Wedding guests", "note": "Your photos <3",
            "max_files": "10", "max_file_bytes": "20M", "expires": "7", "password": ""})
        self.assertEqual((made.status, made.headers["Location"]), (303, "/console/upload-links"))
        page = self.page("/console/upload-links", session).body.decode()
        address = re.search(r'<code id="drop-0">(http://[^<]+)</code>', page).group(1)
        self.assertIn("<h2>Wedding guests</h2>", page)
        self.assertIn("<dt>Note</dt><dd>Your photos &lt;3</dd>", page)
        self.assertIn("<dt>Limits</dt><dd>10 files, 20.0 MiB a file</dd>", page)
        sent = self.request("PUT", address.split(str(self.port), 1)[1] + "/cake.jpg", b"jpeg bytes",
                            {"X-Uploader-Name": "Bob"})
        self.assertEqual(sent.status, 201, sent)
        page = self.page("/console/upload-links", session).body.decode()
        self.assertIn("<dt>Took</dt><dd>1 file, 10 bytes</dd>", page)
        self.assertIn("Bob via upload link &#x27;Wedding guests&#x27;", page)
        self.assertIn(">cake.jpg</a>", page)
        _, other = self.app.tokens.create(["data:photos:create"], "eve")
        self.assertNotIn("Wedding guests", self.page("/console/upload-links", self.session(other)).body.decode())
        secret = address.rsplit("/", 1)[1]
        self.assertEqual(self.post("/console/upload-links/revoke", self.session(other), {"link": secret}).status, 403)
        self.assertIn("Wedding guests", self.page("/console/upload-links", self.session()).body.decode())  # admin
        self.assertEqual(self.post("/console/upload-links/revoke", session, {"link": secret}).status, 303)
        self.assertIn("<dt>State</dt><dd>revoked by its owner</dd>",
                      self.page("/console/upload-links", session).body.decode())
        self.assertEqual(self.request("PUT", address.split(str(self.port), 1)[1] + "/late.jpg", b"x").status, 410)
