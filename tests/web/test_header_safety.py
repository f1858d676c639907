"""Stored response splitting: a value stored at upload and later sent as a
header (content type, share-link file name) can never split or break an
answer, on any face, on either backend.

The attack: upload known bytes with a poisoned type; a victim who uploads the
same bytes gets ``created: false`` (dedupe) and every GET of the object
carries the attacker's headers. Here the attacker's upload is refused with a
400 naming the field, nothing is stored, and the victim's later upload and
GET are clean. A store that already holds a poisoned value never sends it.
"""

from __future__ import annotations

import os
import unittest
from email.utils import formatdate

from filestoraged.base import header_values as metadata
from filestoraged.wire import response_head as responsehead
from filestoraged.storage.memcached.file_store import manifest_key

from ..support import ServerCase, multipart, payload, sha256
from ..faces.test_memcached_http import MemcachedServerCase

SPLIT_LF = "application/pdf\nSet-Cookie: session=attacker\nContent-Length: 0\n\nX"
SPLIT_CR = "application/pdf\rSet-Cookie: session=attacker"
NOT_LATIN1 = "text/plain; charset=\u20ac"
BOUNDARY = "fsdPoisonBoundary"


def poisoned_form(data: bytes, part_type: str, filename: str = "report.pdf", **fields) -> tuple:
    """A multipart body whose file part carries ``part_type`` byte for byte (bare LF and all)."""
    out = []
    for name, value in fields.items():
        out.append(('--%s\r\nContent-Disposition: form-data; name="%s"\r\n\r\n%s\r\n'
                    % (BOUNDARY, name, value)).encode())
    out.append(('--%s\r\nContent-Disposition: form-data; name="file"; filename="%s"\r\n'
                "Content-Type: %s\r\n\r\n" % (BOUNDARY, filename, part_type)).encode("utf-8"))
    out.append(data)
    out.append(("\r\n--%s--\r\n" % BOUNDARY).encode())
    return b"".join(out), "multipart/form-data; boundary=" + BOUNDARY


class PoisonContract:
    """Mixed into a ServerCase per backend, which provides ``poison_stored_type``."""

    def assertClean(self, reply, data: bytes, content_type: str) -> None:
        self.assertEqual(reply.status, 200, reply)
        self.assertEqual(reply.body, data)
        self.assertEqual(reply.headers["Content-Type"], content_type)
        self.assertEqual(reply.headers["Content-Length"], str(len(data)))
        self.assertIsNone(reply.headers.get("Set-Cookie"))

    def assertRefused(self, reply, field: str) -> None:
        self.assertError(reply, 400, "bad_request")
        self.assertIn(field, reply.json()["message"])

    # -- /files -----------------------------------------------------------------

    def test_files_part_type_with_bare_lf_is_refused(self):
        data = payload(3000, seed=11)
        for poison in (SPLIT_LF, NOT_LATIN1):
            with self.subTest(poison=poison):
                body, ctype = poisoned_form(data, poison)
                self.assertRefused(self.request("POST", "/files", body, {"Content-Type": ctype}), "Content-Type")
        self.assertEqual(self.stored_objects(), [])
        body, ctype = multipart({"file": ("r.pdf", data, "application/pdf")})
        victim = self.request("POST", "/files", body, {"Content-Type": ctype}).json()
        self.assertTrue(victim["created"])
        for _ in range(2):  # the second answer is a ready-made one on disk
            self.assertClean(self.request("GET", "/files/" + sha256(data)), data, "application/pdf")

    def test_files_raw_type_with_bare_cr_is_refused(self):
        data = b"raw bytes with a poisoned type"
        answer = self.raw_exchange(b"POST /files HTTP/1.1\r\nHost: localhost\r\nContent-Type: " + SPLIT_CR.encode()
                                   + b"\r\nContent-Length: %d\r\nConnection: close\r\n\r\n" % len(data) + data)
        self.assertTrue(answer.startswith(b"HTTP/1.1 400 "), answer[:200])
        self.assertIn(b"Content-Type", answer)  # the message names the field
        self.assertEqual(self.stored_objects(), [])

    # -- /data ------------------------------------------------------------------

    def test_data_raw_type_with_bare_cr_is_refused(self):
        data = payload(5000, seed=12)
        answer = self.raw_exchange(b"PUT /data/photos HTTP/1.1\r\nHost: localhost\r\nContent-Type: " + SPLIT_CR.encode()
                                   + b"\r\nContent-Length: %d\r\nConnection: close\r\n\r\n" % len(data) + data)
        self.assertTrue(answer.startswith(b"HTTP/1.1 400 "), answer[:200])
        self.assertEqual(self.stored_objects(), [])
        self.assertEqual(self.request("PUT", "/data/photos", data, {"Content-Type": "image/png"}).status, 201)
        self.assertClean(self.request("GET", "/data/photos/" + sha256(data)), data, "image/png")

    # -- /file ------------------------------------------------------------------

    def test_share_part_type_with_bare_lf_is_refused(self):
        data = b"%PDF-1.4 shared"
        for poison in (SPLIT_LF, NOT_LATIN1):
            with self.subTest(poison=poison):
                body, ctype = poisoned_form(data, poison, max_downloads="5")
                self.assertRefused(self.request("PUT", "/file", body, {"Content-Type": ctype}), "Content-Type")
        self.assertEqual(self.stored_objects(), [])
        body, ctype = multipart({"max_downloads": "5", "file": ("r.pdf", data, "application/pdf")})
        link = self.request("PUT", "/file", body, {"Content-Type": ctype}).json()
        path = link["url"].split(str(self.port), 1)[1]
        self.assertClean(self.request("GET", path), data, "application/pdf")

    def test_share_file_name_with_control_characters_is_refused(self):
        for name in ("a\x07b.pdf", "a\x7fb.pdf", "a\x85b.pdf"):
            with self.subTest(name=name):
                body, ctype = poisoned_form(b"named", "application/pdf", filename=name)
                self.assertRefused(self.request("PUT", "/file", body, {"Content-Type": ctype}), "filename")
        self.assertEqual(self.stored_objects(), [])

    # -- a store that already holds poisoned values --------------------------------

    def test_a_stored_poisoned_type_is_never_sent(self):
        data = payload(4000, seed=13)
        oid = self.request("POST", "/files", data, {"Content-Type": "text/plain"}).json()["hash"]
        self.request("GET", "/files/" + oid)  # warm the caches: they must not keep the old type
        for poison in (SPLIT_LF, SPLIT_CR, NOT_LATIN1, "text/plain\x00"):
            with self.subTest(poison=poison):
                self.poison_stored_type(oid, poison)
                with self.assertLogs("filestoraged", "WARNING") as logs:
                    reply = self.request("GET", "/files/" + oid)
                self.assertClean(reply, data, "application/octet-stream")
                self.assertIn("refused", "\n".join(logs.output))
                head = self.request("HEAD", "/files/" + oid)
                self.assertEqual((head.status, head.body, head.headers["Content-Type"]),
                                 (200, b"", "application/octet-stream"))

    def test_a_stored_poisoned_share_link_is_never_sent(self):
        body, ctype = multipart({"max_downloads": "5", "file": ("r.pdf", b"shared", "application/pdf")})
        link = self.request("PUT", "/file", body, {"Content-Type": ctype}).json()
        link_id = link["url"].rsplit("/", 1)[1]
        self.app.records.update("links/" + link_id, lambda value: dict(
            value, content_type=SPLIT_LF, filename="x\r\nSet-Cookie: a=b"))
        with self.assertLogs("filestoraged", "WARNING"):
            reply = self.request("GET", "/file/" + link_id)
        self.assertClean(reply, b"shared", "application/octet-stream")
        self.assertNotIn("\r", reply.headers["Content-Disposition"])
        self.assertNotIn("\n", reply.headers["Content-Disposition"])


class DiskPoisonTests(PoisonContract, ServerCase):
    def poison_stored_type(self, oid: str, value: str) -> None:
        path = os.path.join(self.data_dir, oid[:2], oid)
        os.setxattr(path, "user.filestoraged.content_type", value.encode("utf-8"))

    def test_fsck_reports_and_removes_refused_values(self):
        from filestoraged.storage.disk.backend import DiskBackend
        from filestoraged.storage.disk.fsck import fsck

        oid = self.request("POST", "/files", b"typed", {"Content-Type": "text/plain"}).json()["hash"]
        self.poison_stored_type(oid, SPLIT_LF)
        backend = DiskBackend(self.data_dir, 1 << 20)
        report = fsck(backend)
        self.assertEqual(len(report.refused_values), 1)
        self.assertIn("default/%s: content type" % oid, report.refused_values[0])
        self.assertFalse(report.clean)
        fsck(backend, repair=True)
        self.assertTrue(fsck(backend).clean)
        self.assertEqual(self.request("GET", "/files/" + oid).headers["Content-Type"], "application/octet-stream")


class MemcachedPoisonTests(PoisonContract, MemcachedServerCase):
    def poison_stored_type(self, oid: str, value: str) -> None:
        files = self.app.backend.files
        manifest = files.manifest("default/" + oid)
        manifest.content_type = value
        files.cluster.set_chunk(manifest_key("default/" + oid), manifest.encode())


class HeaderWriterTests(unittest.TestCase):
    def test_safe_fields_are_written_as_lines(self):
        self.assertEqual(responsehead.fields({"Content-Type": "text/plain", "ETag": '"ab"'}),
                         'Content-Type: text/plain\r\nETag: "ab"\r\n')

    def test_unsafe_values_and_names_are_dropped_and_logged(self):
        for name, value in (("X-A", "a\r\nSet-Cookie: b"), ("X-A", "a\rb"), ("X-A", "a\nb"), ("X-A", "a\x00b"),
                            ("X-A", "caf\u00e9"), ("X-A", "\u20ac"), ("X-A", "\ud800"), ("X A", "v"),
                            ("X:A", "v"), ("", "v")):
            with self.subTest(name=name, value=value), self.assertLogs("filestoraged", "WARNING"):
                self.assertEqual(responsehead.fields({name: value, "ETag": '"x"'}), 'ETag: "x"\r\n')
            for at in range(3):  # first, between safe ones, last: each head is checked whole first
                safe = [("ETag", '"x"'), ("Content-Length", "3")]
                with self.subTest(name=name, value=value, at=at), self.assertLogs("filestoraged", "WARNING"):
                    self.assertEqual(responsehead.fields(dict(safe[:at] + [(name, value)] + safe[at:])),
                                     'ETag: "x"\r\nContent-Length: 3\r\n')

    def test_no_fields_are_no_lines(self):
        self.assertEqual(responsehead.fields({}), "")

    def test_dates_are_http_dates(self):
        self.assertEqual(responsehead.date_text(784111777), "Sun, 06 Nov 1994 08:49:37 GMT")  # RFC 9110's own
        for second in (0, 951782400, 1764374400, 2 ** 31, 4107542399, 253402300799):  # 2000-02-29, ..., 9999-12-31
            with self.subTest(second=second):
                self.assertEqual(responsehead.date_text(second), formatdate(second, usegmt=True))

    def test_the_head_is_ascii_and_ends_with_a_blank_line(self):
        head = responsehead.head(200, responsehead.fields({"Content-Length": "3"}), close=True)
        self.assertTrue(head.startswith(b"HTTP/1.1 200 OK\r\nServer: filestoraged\r\nDate: "))
        self.assertTrue(head.endswith(b"Content-Length: 3\r\nConnection: close\r\n\r\n"))
        self.assertEqual(head.count(b"\r\n\r\n"), 1)

    def test_a_reason_phrase_made_of_a_message_is_one_printable_line(self):
        for said in ("key a\r\nSet-Cookie: b", "caf\u00e9 \u20ac\x00", "x" * 1000):
            with self.subTest(said=said[:40]):
                phrase = responsehead.reason_phrase(403, said)
                self.assertTrue(phrase.startswith("Forbidden: "))
                self.assertTrue(phrase.isascii() and phrase.isprintable(), phrase)
                self.assertLessEqual(len(phrase), responsehead.REASON_MOST)
                head = responsehead.head(403, "", close=False, reason=phrase)
                self.assertEqual(head.count(b"\r\n"), 5)  # status line, Server, Date, nosniff, the blank line
        self.assertEqual(responsehead.reason_phrase(403, "key a\r\nSet-Cookie: b"), "Forbidden: key a Set-Cookie: b")


class MediaTypeTests(unittest.TestCase):
    def test_valid_media_types(self):
        for value in ("text/plain", "text/plain; charset=utf-8", "application/vnd.api+json",
                      'multipart/mixed; boundary="a b;c"', "text/plain;charset=UTF-8;format=flowed",
                      'text/plain; name="quoted \\" pair"', "image/svg+xml;", "*/*"):
            with self.subTest(value=value):
                self.assertEqual(metadata.media_type(value), value)

    def test_invalid_media_types_name_the_field(self):
        for value in (SPLIT_LF, SPLIT_CR, NOT_LATIN1, "text", "text/", "/plain", "text/plain; charset",
                      "text/plain; a=b c", 'text/plain; a="open', "text/pl ain", "text/plain\x00",
                      "text/plain; a=\u00e9", "a/" + "b" * 300):
            with self.subTest(value=value), self.assertRaises(Exception) as caught:
                metadata.media_type(value, "the file part's Content-Type")
            self.assertIn("the file part's Content-Type", str(caught.exception))

    def test_file_names(self):
        self.assertEqual(metadata.file_name("résumé 2024.pdf"), "résumé 2024.pdf")
        self.assertIsNone(metadata.file_name(""))
        for value in ("a\nb", "a\rb", "a\x00b", "a\x9bb", "\ud800.txt", "é" * 200):
            with self.subTest(value=value):
                self.assertFalse(metadata.is_file_name(value))


class HostHeaderTests(ServerCase):
    config_overrides = {"allowed_hosts": "files.example.org"}  # a name it answers to with access control off

    def test_a_host_that_is_not_host_port_is_refused(self):
        for host in (b"a\rb", b"evil.example/x", b"a b", b"x@y", b"[::1", b"h:port"):
            with self.subTest(host=host):
                answer = self.raw_exchange(b"POST /files HTTP/1.1\r\nHost: " + host
                                           + b"\r\nContent-Length: 1\r\nConnection: close\r\n\r\nx")
                self.assertTrue(answer.startswith(b"HTTP/1.1 400 "), answer[:100])
        self.assertEqual(self.stored_objects(), [])

    def test_names_and_ip_literals_are_echoed_into_urls(self):
        for host in ("files.example.org", "127.0.0.1:8080", "[::1]:9000", "localhost"):
            with self.subTest(host=host):
                reply = self.request("POST", "/files", b"hosted", {"Host": host})
                self.assertEqual(reply.json()["url"], "http://%s/files/%s" % (host, sha256(b"hosted")))
