"""/data/{repository} over HTTP, on disk and on memcached."""

from __future__ import annotations

import http.client
import os

from ..support import ServerCase, Threads, payload, sha256
from .test_memcached_http import MemcachedServerCase


class DataContract:
    def put(self, repo: str, data: bytes, **headers) -> dict:
        reply = self.request("PUT", "/data/" + repo, data, headers)
        self.assertEqual(reply.status, 201, reply)
        return reply.json()

    def test_upload_answers_201_with_oid_and_size(self):
        data = b"some object data"
        self.assertEqual(self.put("foo", data), {"oid": sha256(data), "size": len(data)})
        self.assertEqual(self.put("foo", data), {"oid": sha256(data), "size": len(data)})

    def test_form_typed_body_is_stored_as_it_is(self):
        data = b"a=1&b=2"
        oid = self.put("foo", data, **{"Content-Type": "application/x-www-form-urlencoded"})["oid"]
        reply = self.request("GET", "/data/foo/" + oid)
        self.assertEqual((reply.status, reply.body), (200, data))
        self.assertEqual(reply.headers["Content-Type"], "application/octet-stream")

    def test_download_has_the_download_semantics(self):
        data = payload(70000)
        oid = self.put("foo", data)["oid"]
        reply = self.request("GET", "/data/foo/" + oid)
        self.assertEqual(reply.body, data)
        self.assertEqual(reply.headers["ETag"], '"%s"' % oid)
        self.assertEqual(self.request("GET", "/data/foo/" + oid, headers={"Range": "bytes=5-9"}).body, data[5:10])
        self.assertEqual(self.request("GET", "/data/foo/" + oid, headers={"If-None-Match": '"%s"' % oid}).status, 304)
        head = self.request("HEAD", "/data/foo/" + oid)
        self.assertEqual((head.status, head.body, head.headers["Content-Length"]), (200, b"", "70000"))

    def test_missing_or_malformed_oids_are_404_for_get_and_delete(self):
        self.put("foo", b"x")
        for oid in ("missing", "noooope", sha256(b"never"), sha256(b"x").upper()):
            with self.subTest(oid=oid):
                self.assertError(self.request("GET", "/data/foo/" + oid), 404, "not_found")
                self.assertError(self.request("DELETE", "/data/foo/" + oid), 404, "not_found")

    def test_delete(self):
        oid = self.put("foo", b"delete me")["oid"]
        self.assertEqual(self.request("DELETE", "/data/foo/" + oid).status, 200)
        self.assertError(self.request("GET", "/data/foo/" + oid), 404, "not_found")
        self.assertError(self.request("DELETE", "/data/foo/" + oid), 404, "not_found")

    def test_repositories_are_separate(self):
        oid = self.put("foo", b"shared")["oid"]
        self.assertError(self.request("GET", "/data/bar/" + oid), 404, "not_found")
        self.assertError(self.request("GET", "/files/" + oid), 404, "not_found")
        self.put("bar", b"shared")
        self.assertEqual(self.request("DELETE", "/data/foo/" + oid).status, 200)
        self.assertEqual(self.request("GET", "/data/bar/" + oid).body, b"shared")

    def test_listing_is_ordered_and_paginated(self):
        oids = sorted(self.put("lst", b"object %d" % i)["oid"] for i in range(5))
        self.put("other", b"not listed")
        reply = self.request("GET", "/data/lst")
        self.assertEqual(reply.json(), [{"oid": oid, "size": 8} for oid in oids])
        self.assertNotIn("Link", reply.headers)
        page = self.request("GET", "/data/lst?limit=2")
        self.assertEqual([i["oid"] for i in page.json()], oids[:2])
        self.assertIn('after=%s' % oids[1], page.headers["Link"])
        page = self.request("GET", "/data/lst?limit=2&after=" + oids[1])
        self.assertEqual([i["oid"] for i in page.json()], oids[2:4])
        self.assertEqual(self.request("GET", "/data/empty").json(), [])
        for query in ("limit=0", "limit=x", "after=nothex"):
            with self.subTest(query=query):
                self.assertError(self.request("GET", "/data/lst?" + query), 400, "bad_request")

    def test_bad_repository_names_are_400_and_touch_nothing(self):
        before = self.stored_objects()
        for name in (".hidden", "a" * 65, "sp%20ace", "%2e%2e", "..", "a%2fb", "%00", "%C3%BCn%C3%AF"):
            with self.subTest(name=name):
                for method, path in (("PUT", "/data/" + name), ("GET", "/data/" + name),
                                     ("GET", "/data/%s/%s" % (name, sha256(b"x")))):
                    reply = self.request(method, path, b"payload" if method == "PUT" else None)
                    self.assertError(reply, 400, "bad_request")
        self.assertEqual(self.stored_objects(), before)

    def test_valid_repository_names(self):
        for name in ("a", "A-b_c.d", "x" * 64, "-dash", "_under", "1.2.3"):
            with self.subTest(name=name):
                self.assertEqual(self.put(name, b"ok")["oid"], sha256(b"ok"), name)

    def test_wrong_methods_are_405_with_allow(self):
        reply = self.request("POST", "/data/foo", b"x")
        self.assertError(reply, 405, "method_not_allowed")
        self.assertEqual(reply.headers["Allow"], "GET, HEAD, PUT")
        reply = self.request("PUT", "/data/foo/" + sha256(b"x"), b"x")
        self.assertEqual(reply.headers["Allow"], "DELETE, GET, HEAD")

    def test_concurrent_puts_deletes_and_gets_never_fail_or_corrupt(self):
        data = payload(300000, seed=42)
        oid = sha256(data)
        problems = []

        def call(method):
            conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=30)
            try:
                body = data if method == "PUT" else None
                path = "/data/race" + ("" if method == "PUT" else "/" + oid)
                conn.request(method, path, body=body)
                response = conn.getresponse()
                content = response.read()
                if response.status >= 500:
                    problems.append((method, response.status, content[:200]))
                elif method == "GET" and response.status == 200 and content != data:
                    problems.append((method, "wrong bytes", len(content)))
            except (http.client.HTTPException, OSError) as error:
                problems.append((method, repr(error)))
            finally:
                conn.close()

        methods = ["PUT"] * 24 + ["DELETE"] * 8 + ["GET"] * 8
        with Threads(120) as threads:
            for method in methods:
                threads.start(call, method)
        self.assertEqual(problems, [])
        self.put("race", data)
        self.assertEqual(self.request("GET", "/data/race/" + oid).body, data)


class DiskDataTests(DataContract, ServerCase):
    def test_layout_on_disk(self):
        oid = self.put("docs", b"in a repo")["oid"]
        path = os.path.join(self.data_dir, "repos", "docs", oid[:2], oid)
        with open(path, "rb") as handle:
            self.assertEqual(handle.read(), b"in a repo")


class MemcachedDataTests(DataContract, MemcachedServerCase):
    pass
