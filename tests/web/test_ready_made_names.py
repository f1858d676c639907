"""A name that a change gives new bytes (or takes away) answers its new
state at once on every face that names keys, whichever worker a client's
keep-alive connection lands on: ready-made answers (``web.response_cache``)
are only ever those named by their bytes.

A real daemon with two worker processes; each name is read twice on each
of several keep-alive connections (so that every worker has answered it
whole), then changed, then read again on the same connections."""

from __future__ import annotations

import base64
import hashlib
import http.client
import json
import shutil
import tempfile
import unittest
from typing import Callable, Dict, List, Optional, Tuple

from ..support import Daemon, exchange, free_port

CONNECTIONS = 6  # keep-alive connections, spread over the two workers
FIRST, SECOND = b"the first bytes " * 4, b"the second bytes, longer " * 4


class NamedReadsAfterChangeTests(unittest.TestCase):
    @classmethod
    def setUpClass(cls) -> None:
        cls.folder = tempfile.mkdtemp(prefix="fsd-ready-")
        cls.s3_port = free_port()
        # --auth off (loopback): nothing to prove, so the ready-made shortcut is open to every GET.
        cls.daemon = Daemon(cls.folder, "--workers", "2", "--s3-api", "127.0.0.1:%d" % cls.s3_port).start()
        status, _ = cls.call(cls.s3_port, "PUT", "/names")
        assert status == 200, status

    @classmethod
    def tearDownClass(cls) -> None:
        cls.daemon.stop()
        shutil.rmtree(cls.folder, True)

    @classmethod
    def call(cls, port: int, method: str, path: str, body: bytes = b"",
             headers: Optional[Dict[str, str]] = None) -> Tuple[int, bytes]:
        return exchange(port, method, path, body, headers)

    def setUp(self) -> None:
        self.connections: List[http.client.HTTPConnection] = []
        self.s3_connections: List[http.client.HTTPConnection] = []
        for port, kept in ((self.daemon.port, self.connections), (self.s3_port, self.s3_connections)):
            for _ in range(CONNECTIONS):
                connection = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
                self.addCleanup(connection.close)
                kept.append(connection)

    def read_everywhere(self, path: str) -> List[Tuple[int, bytes]]:
        """``path`` read on every keep-alive connection (of the S3 port for a
        path that is no main port's): ``(status, body)`` each."""
        seen = []
        main = path.startswith(("/dav/", "/restic/", "/console/", "/file/", "/data/", "/files/"))
        for connection in self.connections if main else self.s3_connections:
            connection.request("GET", path)
            answer = connection.getresponse()
            seen.append((answer.status, answer.read()))
        return seen

    def assert_change_seen(self, path: str, before: bytes, change: Callable[[], None],
                           after: Optional[bytes]) -> None:
        """``path`` answers ``before`` (twice on every connection), then,
        once ``change`` ran, ``after`` on every connection (None: gone, 404
        or a share link's 410)."""
        for _ in range(2):
            self.assertEqual(set(self.read_everywhere(path)), {(200, before)}, path)
        change()
        seen = set(self.read_everywhere(path))
        if after is None:
            self.assertLessEqual({status for status, _ in seen}, {404, 410}, (path, seen))
        else:
            self.assertEqual(seen, {(200, after)}, path)

    def dav(self, method: str, key: str, body: bytes = b"", headers: Optional[Dict[str, str]] = None) -> int:
        return self.call(self.daemon.port, method, "/dav/names/" + key, body, headers)[0]

    def test_webdav_file_replaced(self):
        self.assertEqual(self.dav("PUT", "replaced", FIRST), 201)
        self.assert_change_seen("/dav/names/replaced", FIRST,
                                lambda: self.assertEqual(self.dav("PUT", "replaced", SECOND), 204), SECOND)

    def test_webdav_file_deleted(self):
        self.assertEqual(self.dav("PUT", "deleted", FIRST + b"deleted"), 201)
        self.assert_change_seen("/dav/names/deleted", FIRST + b"deleted",
                                lambda: self.assertEqual(self.dav("DELETE", "deleted"), 204), None)

    def test_webdav_file_moved_away(self):
        self.assertEqual(self.dav("PUT", "moved", FIRST + b"moved"), 201)
        destination = "http://127.0.0.1:%d/dav/names/moved-to" % self.daemon.port
        self.assert_change_seen("/dav/names/moved", FIRST + b"moved",
                                lambda: self.assertEqual(self.dav("MOVE", "moved", headers={
                                    "Destination": destination}), 201), None)
        self.assertEqual(set(self.read_everywhere("/dav/names/moved-to")), {(200, FIRST + b"moved")})

    def test_restic_config_replaced_and_lock_deleted(self):
        self.assertEqual(self.call(self.daemon.port, "POST", "/restic/names/config", FIRST)[0], 200)
        self.assert_change_seen("/restic/names/config", FIRST, lambda: self.assertEqual(
            self.call(self.daemon.port, "POST", "/restic/names/config", SECOND)[0], 200), SECOND)
        lock = b'{"hostname": "here"}'
        path = "/restic/names/locks/" + hashlib.sha256(lock).hexdigest()
        self.assertEqual(self.call(self.daemon.port, "POST", path, lock)[0], 200)
        self.assert_change_seen(path, lock, lambda: self.assertEqual(
            self.call(self.daemon.port, "DELETE", path)[0], 200), None)

    def test_s3_key_replaced_is_read_new_through_webdav(self):
        self.assertEqual(self.call(self.s3_port, "PUT", "/names/through-s3", FIRST)[0], 200)
        self.assert_change_seen("/dav/names/through-s3", FIRST, lambda: self.assertEqual(
            self.call(self.s3_port, "PUT", "/names/through-s3", SECOND)[0], 200), SECOND)

    def test_s3_key_read_without_credentials_is_new_once_another_worker_changed_it(self):
        """A read with no credentials is answered before it is judged again
        (``s3api.answered``) only while no process changed the records."""
        self.assertEqual(self.call(self.s3_port, "PUT", "/names/anyone", FIRST)[0], 200)
        self.assert_change_seen("/names/anyone", FIRST, lambda: self.assertEqual(self.dav("PUT", "anyone", SECOND),
                                                                                 204), SECOND)
        self.assert_change_seen("/names/anyone", SECOND, lambda: self.assertEqual(self.dav("DELETE", "anyone"), 204),
                                None)

    def test_a_key_a_resumable_upload_replaced(self):
        self.assertEqual(self.dav("PUT", "by-tus", FIRST), 201)

        def upload() -> None:
            meta = ",".join("%s %s" % (name, base64.b64encode(value).decode())
                            for name, value in (("target", b"s3"), ("bucket", b"names"), ("key", b"by-tus")))
            status, _ = self.call(self.daemon.port, "POST", "/uploads", SECOND, {
                "Tus-Resumable": "1.0.0", "Upload-Length": str(len(SECOND)), "Upload-Metadata": meta,
                "Content-Type": "application/offset+octet-stream"})
            self.assertEqual(status, 201)

        self.assert_change_seen("/dav/names/by-tus", FIRST, upload, SECOND)

    def test_the_consoles_download_of_a_replaced_key(self):
        self.assertEqual(self.dav("PUT", "console-read", FIRST), 201)
        self.assert_change_seen("/console/download?bucket=names&key=console-read", FIRST,
                                lambda: self.assertEqual(self.dav("PUT", "console-read", SECOND), 204), SECOND)

    def test_share_link_deleted(self):
        status, body = self.call(self.daemon.port, "PUT", "/file/shared.txt", FIRST,
                                 {"Accept": "application/json", "Max-Downloads": "50"})
        self.assertEqual(status, 201, body)
        made = json.loads(body)
        path = "/file/" + made["url"].rsplit("/", 1)[1]
        self.assert_change_seen(path, FIRST, lambda: self.assertEqual(self.call(
            self.daemon.port, "DELETE", path, headers={"X-Delete-Token": made["delete_token"]})[0], 200), None)

    def test_content_addressed_objects_are_still_answered_until_deleted(self):
        status, body = self.call(self.daemon.port, "PUT", "/data/names", FIRST + b"data")
        self.assertEqual(status, 201, body)
        path = "/data/names/" + json.loads(body)["oid"]
        self.assert_change_seen(path, FIRST + b"data", lambda: self.assertEqual(
            self.call(self.daemon.port, "DELETE", path)[0], 200), None)


if __name__ == "__main__":
    unittest.main()
