"""WebDAV (``/dav/``): litmus, the conformance suite WebDAV servers are
judged by, passes its class 1 suites whole against the daemon with a token
given as HTTP Basic; what a WebDAV client writes is the same key every
other face reads; the token's scopes hold; a collection's listing pages
through any number of entries."""

from __future__ import annotations

import base64
import http.client
import os
import re
import shutil
import subprocess
import tempfile
import unittest
import unittest.mock
import xml.etree.ElementTree as ET
from typing import Dict, Optional


from ..support import Reply, ServerCase, required

LITMUS_SUITES = ("basic", "copymove", "props", "http")
TIMEOUT = 300


def litmus_or_skip(case: unittest.TestCase) -> str:
    found = shutil.which("litmus")
    if found is None:
        if required("WEBDAV_CLIENTS"):
            raise AssertionError("litmus is not installed (bin/test installs it)")
        raise unittest.SkipTest("litmus is not installed (bin/test installs it)")
    return found


class WebDavCase(ServerCase):
    config_overrides = {"auth": "all"}

    def setUp(self) -> None:
        super().setUp()
        self.app.buckets.create("drive")
        self.writer = self.app.tokens.create(["data:drive:*"])[1]

    def dav(self, method: str, path: str, secret: Optional[str] = None, body: bytes = b"",
            headers: Optional[Dict[str, str]] = None, port: Optional[int] = None):
        sent = dict(headers or {})
        if secret is not None:
            sent["Authorization"] = "Basic " + base64.b64encode(b"me:" + secret.encode()).decode()
        if port is None:
            return self.request(method, "/dav/" + path, body, sent)
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
        try:
            conn.request(method, "/dav/" + path, body=body, headers=sent)
            response = conn.getresponse()
            return Reply(response, response.read())
        finally:
            conn.close()

    def listed(self, path: str, secret: str, depth: str = "1") -> Dict[str, ET.Element]:
        reply = self.dav("PROPFIND", path, secret, headers={"Depth": depth})
        self.assertEqual(reply.status, 207, reply.body)
        root = ET.fromstring(reply.body)
        return {response.findtext("{DAV:}href"): response for response in root.findall("{DAV:}response")}


class LitmusTests(WebDavCase):
    def test_litmus_class_1_suites_pass_whole(self):
        litmus = litmus_or_skip(self)
        work = tempfile.mkdtemp(prefix="fsd-litmus-")
        self.addCleanup(shutil.rmtree, work, True)
        done = subprocess.run([litmus, "http://127.0.0.1:%d/dav/drive/" % self.port, "litmus-user", self.writer],
                              env=dict(os.environ, TESTS=" ".join(LITMUS_SUITES), HOME=work), cwd=work,
                              capture_output=True, text=True, timeout=TIMEOUT)
        out = done.stdout + done.stderr
        summaries = re.findall(r"summary for `(\w+)': of (\d+) tests run: (\d+) passed, (\d+) failed", out)
        self.assertEqual([name for name, *_ in summaries], list(LITMUS_SUITES), out[-3000:])
        for name, ran, passed, failed in summaries:
            self.assertEqual((failed, passed), ("0", ran), "%s: %s" % (name, out[-3000:]))
        self.assertNotIn("SKIPPED", out)
        self.assertEqual(done.returncode, 0, out[-3000:])


class FacesAgreeTests(WebDavCase):
    def test_a_file_put_through_webdav_is_the_key_every_face_reads(self):
        self.assertEqual(self.dav("MKCOL", "drive/docs", self.writer).status, 201)
        reply = self.dav("PUT", "drive/docs/r%C3%A9sum%C3%A9.txt", self.writer, b"hello",
                         {"Content-Type": "text/plain"})
        self.assertEqual(reply.status, 201, reply.body)
        entry = self.app.keys.get("drive", "docs/résumé.txt")
        self.assertEqual((entry.size, entry.content_type), (5, "text/plain"))
        self.assertEqual(self.dav("GET", "drive/docs/r%C3%A9sum%C3%A9.txt", self.writer).body, b"hello")
        self.assertEqual(self.dav("PUT", "drive/docs/r%C3%A9sum%C3%A9.txt", self.writer, b"again").status, 204)
        listed = self.listed("drive/docs/", self.writer)
        self.assertEqual(sorted(listed), ["/dav/drive/docs/", "/dav/drive/docs/r%C3%A9sum%C3%A9.txt"])
        size = listed["/dav/drive/docs/r%C3%A9sum%C3%A9.txt"].find(".//{DAV:}getcontentlength").text
        self.assertEqual(size, "5")

    def test_a_moved_collection_keeps_its_keys_bytes_and_properties(self):
        self.dav("MKCOL", "drive/a", self.writer)
        self.dav("MKCOL", "drive/a/b", self.writer)
        for name in ("a/one", "a/b/two"):
            self.dav("PUT", "drive/" + name, self.writer, name.encode())
        patch = (b'<?xml version="1.0"?><D:propertyupdate xmlns:D="DAV:" xmlns:Z="urn:test"><D:set><D:prop>'
                 b'<Z:colour>blue</Z:colour></D:prop></D:set></D:propertyupdate>')
        self.assertEqual(self.dav("PROPPATCH", "drive/a/one", self.writer, patch).status, 207)
        oid = self.app.keys.get("drive", "a/one").oid
        reply = self.dav("MOVE", "drive/a/", self.writer,
                         headers={"Destination": "http://127.0.0.1:%d/dav/drive/c/" % self.port})
        self.assertEqual(reply.status, 201, reply.body)
        self.assertEqual([key for key, _ in self.app.keys.page("drive", "", limit=100).items],
                         ["c/", "c/b/", "c/b/two", "c/one"])
        self.assertEqual(self.app.keys.get("drive", "c/one").oid, oid)  # a new name, no byte copied
        found = self.listed("drive/c/one", self.writer, "0")["/dav/drive/c/one"]
        self.assertEqual(found.findtext(".//{urn:test}colour"), "blue")
        self.assertEqual(self.dav("GET", "drive/c/b/two", self.writer).body, b"a/b/two")

    def test_a_deep_propfind_is_refused(self):
        reply = self.dav("PROPFIND", "drive/", self.writer, headers={"Depth": "infinity"})
        self.assertEqual(reply.status, 403)
        self.assertIn(b"propfind-finite-depth", reply.body)


class AccessTests(WebDavCase):
    def test_no_token_is_asked_for_with_basic(self):
        reply = self.dav("PROPFIND", "drive/", headers={"Depth": "0"})
        self.assertEqual(reply.status, 401)
        self.assertTrue(reply.headers["WWW-Authenticate"].startswith("Basic "))

    def test_scopes_hold(self):
        reader = self.app.tokens.create(["data:drive:read"])[1]
        self.dav("PUT", "drive/kept", self.writer, b"kept")
        self.assertEqual(self.dav("GET", "drive/kept", reader).body, b"kept")
        for method, path, headers in (("PUT", "drive/new", {}), ("DELETE", "drive/kept", {}),
                                      ("MKCOL", "drive/dir", {}),
                                      ("MOVE", "drive/kept", {"Destination": "/dav/drive/moved"})):
            with self.subTest(method=method):
                self.assertEqual(self.dav(method, path, reader, b"", headers).status, 403)
        self.assertEqual(self.dav("GET", "drive/kept", reader).body, b"kept")
        other = self.app.tokens.create(["data:elsewhere:*"])[1]
        self.assertEqual(self.dav("GET", "drive/kept", other).status, 403)
        listed = self.listed("", reader)
        self.assertEqual(sorted(listed), ["/dav/", "/dav/drive/"])
        self.assertEqual(sorted(self.listed("", other)), ["/dav/"])  # the buckets it cannot read are not named


class ListingTests(WebDavCase):
    def test_a_collection_of_more_entries_than_a_page_lists_them_all(self):
        from filestoraged.catalog.keys import Entry

        self.dav("MKCOL", "drive/big", self.writer)
        self.dav("PUT", "drive/big/seed", self.writer, b"x")
        seed = self.app.keys.get("drive", "big/seed")  # its object named by 2,500 keys written directly (fast)
        with self.app.records.batch():
            for number in range(2500):
                key = "big/f%05d" % number
                self.app.keyspace.name(self.app.buckets.get("drive"), key,
                                       Entry(seed.oid, seed.size, seed.etag, seed.modified))
        listed = self.listed("drive/big/", self.writer)
        self.assertEqual(len(listed), 2502)  # the collection, the seed, 2,500 files
        self.assertIn("/dav/drive/big/f02499", listed)


if __name__ == "__main__":
    unittest.main()
