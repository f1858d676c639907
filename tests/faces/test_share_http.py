"""/file share links over HTTP, on disk and on memcached."""

from __future__ import annotations

import base64
import http.client
from datetime import datetime, timezone
import io
import json
import os
import socket
import struct
import threading

from filestoraged.errors import BackendUnavailable
from filestoraged.faces.share import Spending
from filestoraged.sharing.sweep import LINKS
from filestoraged.storage.names import SHARES

from ..support import (MIB, FakeClock, ServerCase, Threads, database_bytes, files_being_written, multipart, payload,
                      sha256, wait_until)
from .test_memcached_http import MemcachedServerCase


class ShareContract:
    def make_clock(self):
        # Half a second past a whole one: records on PostgreSQL add the
        # database's measured skew (a fraction of a millisecond either way
        # here), which must not carry an expiry across a second's boundary.
        self.clock = FakeClock(1_800_000_000.5)
        return self.clock

    def share(self, data: bytes = b"report contents", filename: str = "report.xls",
              ctype: str = "application/vnd.ms-excel", method: str = "PUT", **fields) -> dict:
        # Like requests.put(url, files={'file': ...}, data={...}): fields first.
        form = {name: str(value) for name, value in fields.items()}
        form["file"] = (filename, data, ctype)
        body, content_type = multipart(form)
        reply = self.request(method, "/file", body, {"Content-Type": content_type})
        self.assertEqual(reply.status, 201, reply)
        return reply.json()

    def path_of(self, link: dict) -> str:
        return link["url"].split("127.0.0.1:%d" % self.port, 1)[1]

    def start_server(self) -> None:
        super().start_server()
        # A download is counted (LinkStore.finish) before its last piece
        # leaves, and ends (Spending.done: the sweeper woken for a used-up
        # link's blob) a moment after the client has the last byte: tests
        # wait for both on this condition, woken by each.
        self.transfers = threading.Condition()
        self.open_transfers = 0
        shares = self.app.shares
        finish = shares.finish

        def finish_and_notify(link_id: str, complete: bool) -> bool:
            used_up = finish(link_id, complete)
            with self.transfers:
                self.transfers.notify_all()
            return used_up

        shares.finish = finish_and_notify
        started, done = Spending.__init__, Spending.done

        def start_and_count(spending, *args) -> None:
            started(spending, *args)
            with self.transfers:
                self.open_transfers += 1

        def done_and_notify(spending, complete: bool) -> None:
            try:
                done(spending, complete)
            finally:
                with self.transfers:
                    self.open_transfers -= 1
                    self.transfers.notify_all()

        Spending.__init__, Spending.done = start_and_count, done_and_notify
        self.addCleanup(setattr, Spending, "__init__", started)
        self.addCleanup(setattr, Spending, "done", done)

    def in_flight(self, link_id: str = "") -> int:
        """Transfers holding a reservation, on ``link_id`` or on any link."""
        keys = [LINKS + link_id] if link_id else list(self.app.records.keys(LINKS))
        return sum(self.app.shares.get(key[len(LINKS):]).in_flight for key in keys
                   if self.app.records.get(key) is not None)

    def link_count(self) -> int:
        return len(list(self.app.records.keys(LINKS)))

    def wait_transfers_done(self, link_id: str = "") -> None:
        with self.transfers:
            self.assertTrue(self.transfers.wait_for(lambda: self.in_flight(link_id) == 0 and not self.open_transfers,
                                                    timeout=20))

    def sweep(self) -> None:
        """Sweep once every download the test made is accounted for."""
        self.wait_transfers_done()
        self.app.shares.sweep()

    def shared_blobs(self):
        return [info.oid for info in self.app.backend.list(SHARES)]

    def test_upload_answers_201_with_absolute_url_and_token(self):
        link = self.share(password="hello world")
        self.assertEqual(link["status"], "File Uploaded Successfully")
        self.assertRegex(link["url"], r"^http://127\.0\.0\.1:%d/file/[A-Za-z0-9_-]{32}$" % self.port)
        self.assertNotIn(sha256(b"report contents"), link["url"])
        self.assertGreaterEqual(len(link["delete_token"]), 32)
        self.assertRegex(link["expires_at"], r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$")
        self.assertEqual(self.share(method="POST")["status"], "File Uploaded Successfully")

    def test_transfer_sh_one_liner(self):
        """``curl --upload-file ./report.pdf http://host/file/report.pdf``, with
        transfer.sh's limit headers and X-Password."""
        headers = {"Max-Downloads": "2", "Max-Days": "1", "X-Password": "pw", "Content-Type": ""}
        reply = self.request("PUT", "/file/report%202024.pdf", b"%PDF-1.4 one-liner", headers)
        self.assertEqual(reply.status, 201, reply)
        self.assertTrue(reply.headers["Content-Type"].startswith("text/plain"))
        self.assertRegex(reply.body.decode(), r"^http://127\.0\.0\.1:%d/file/[A-Za-z0-9_-]{32}\n$" % self.port)
        url = reply.body.decode().strip()
        self.assertEqual(reply.headers["Location"], url)
        self.assertGreaterEqual(len(reply.headers["X-Delete-Token"]), 32)
        expected = datetime.fromtimestamp(self.clock() + 86400, timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
        self.assertEqual(reply.headers["X-Expires-At"], expected)
        path = url.split(str(self.port), 1)[1]
        self.assertEqual(self.request("GET", path).status, 401)
        got = self.request("GET", path, headers={"X-Password": "pw"})
        self.assertEqual((got.status, got.body), (200, b"%PDF-1.4 one-liner"))
        self.assertEqual(got.headers["Content-Type"], "application/pdf")
        self.assertIn("filename*=UTF-8''report%202024.pdf", got.headers["Content-Disposition"])
        self.assertEqual(self.request("GET", path + "?password=pw").status, 200)
        self.wait_transfers_done()
        self.assertEqual(self.request("GET", path + "?password=pw").status, 410)
        deleted = self.request("DELETE", path, headers={"X-Delete-Token": reply.headers["X-Delete-Token"]})
        self.assertEqual(deleted.status, 200)

    def test_the_one_liner_answers_json_when_asked_and_refuses_bad_limits(self):
        reply = self.request("PUT", "/file/a.txt", b"asked for JSON", {"Accept": "application/json"})
        self.assertEqual(reply.status, 201, reply)
        self.assertTrue(reply.body.endswith(b"}\n"))
        self.assertEqual(reply.json()["delete_token"], reply.headers["X-Delete-Token"])
        for header, value in (("Max-Downloads", "0"), ("Max-Downloads", "two"), ("Max-Days", "9999"),
                              ("Max-Days", "-1")):
            with self.subTest(header=header, value=value):
                refused = self.request("PUT", "/file/a.txt", b"x", {header: value})
                self.assertError(refused, 400, "bad_request")
                self.assertIn(header, refused.json()["message"])

    def test_the_one_liner_refuses_what_it_would_otherwise_drop_or_misname(self):
        cases = [
            ("/file/s.txt?password=hunter2", {}, "password"),  # a link without the password it was asked for
            ("/file/s.txt?download=1", {}, "download"),
            ("/file/..", {}, "file name"), ("/file/.", {}, "file name"), ("/file/.htaccess", {}, "file name"),
            ("/file/invoice%E2%80%AEtxt.exe", {}, "file name"),  # U+202E shows it as invoiceexe.txt
            ("/file/%ff.txt", {}, "UTF-8"),
            ("/file/a.txt", {"Max-Downloads": ""}, "Max-Downloads"),
            ("/file/a.txt", {"Max-Days": " "}, "Max-Days"),
            ("/file/a.txt", {"X-Password": ""}, "X-Password"),
        ]
        for path, headers, named in cases:
            with self.subTest(path=path, headers=headers):
                refused = self.request("PUT", path, b"secret", headers)
                self.assertError(refused, 400, "bad_request")
                self.assertIn(named, refused.json()["message"])
        self.assertEqual(self.shared_blobs(), [])  # nothing was stored

    def test_the_landing_forms_post_takes_one_password_field_only(self):
        path = self.path_of(self.share(b"form only", password="pw"))
        form = {"Content-Type": "application/x-www-form-urlencoded", "Sec-Fetch-Site": "same-origin"}
        for body in (b"password=pw&foo=1", b"password=pw&password=pw"):
            with self.subTest(body=body):
                self.assertError(self.request("POST", path, body, form), 400, "bad_request")
        self.assertEqual(self.request("POST", path, b"password=pw", form).status, 200)  # not spent before

    def test_download_with_the_original_type_and_name(self):
        link = self.share(b"%PDF-1.4 data", "résumé 2024.pdf", "application/octet-stream")
        reply = self.request("GET", self.path_of(link))
        self.assertEqual((reply.status, reply.body), (200, b"%PDF-1.4 data"))
        self.assertEqual(reply.headers["Content-Type"], "application/pdf")
        self.assertEqual(reply.headers["Content-Disposition"],
                         "attachment; filename=\"r_sum_ 2024.pdf\"; filename*=UTF-8''r%C3%A9sum%C3%A9%202024.pdf")
        self.assertEqual(self.share(b"x", "data.xls", "application/vnd.ms-excel")["status"],
                         "File Uploaded Successfully")

    def test_password_paths(self):
        link = self.share(password="s3cret", max_downloads=5)
        path = self.path_of(link)
        self.assertError(self.request("GET", path), 401, "unauthorized")
        self.assertError(self.request("GET", path + "?password=wrong"), 401, "unauthorized")
        self.assertEqual(self.request("GET", path + "?password=s3cret").status, 200)
        self.assertEqual(self.request("GET", path, headers={"X-Password": "s3cret"}).status, 200)
        basic = "Basic " + base64.b64encode(b"anyone:s3cret").decode()
        self.assertEqual(self.request("GET", path, headers={"Authorization": basic}).status, 200)

    def test_a_non_ascii_password_works_the_same_on_every_path(self):
        link = self.share(password="pässwörd", max_downloads=10)
        path = self.path_of(link)
        utf8 = "pässwörd".encode()
        self.assertEqual(self.request("GET", path + "?password=p%C3%A4ssw%C3%B6rd").status, 200)
        basic = "Basic " + base64.b64encode(b"x:" + utf8).decode()
        self.assertEqual(self.request("GET", path, headers={"Authorization": basic}).status, 200)
        # http.client sends header values as Latin-1: these are the UTF-8 bytes.
        self.assertEqual(self.request("GET", path, headers={"X-Password": utf8.decode("latin-1")}).status, 200)
        throttle = self.app.throttle  # no failure counted
        # (the sweeper, woken by the downloads, may prune a record between the listing and its read)
        records = [throttle.get(key) for key in throttle.keys("attempts/password/")]
        self.assertEqual(sum(len(record.value["at"]) for record in records if record is not None), 0)
        for bad in ("Basic \xe9t\xe9", "Basic ###"):
            with self.subTest(authorization=bad):
                self.assertError(self.request("GET", path, headers={"Authorization": bad}), 400, "bad_request")
        self.assertError(self.request("GET", path, headers={"X-Password": "\xff\xfe"}), 400, "bad_request")

    def test_download_once_then_410(self):
        path = self.path_of(self.share())
        self.assertEqual(self.request("GET", path).status, 200)
        self.assertError(self.request("GET", path), 410, "gone")

    def test_max_downloads_and_head_never_counts(self):
        path = self.path_of(self.share(max_downloads=2))
        for _ in range(3):
            head = self.request("HEAD", path)
            self.assertEqual((head.status, head.body), (200, b""))
        self.assertEqual(self.request("GET", path).status, 200)
        self.assertEqual(self.request("GET", path).status, 200)
        self.assertError(self.request("GET", path), 410, "gone")
        self.assertEqual(self.request("HEAD", path).status, 410)

    def test_a_range_is_honoured_exactly_and_spends_a_download(self):
        path = self.path_of(self.share(b"0123456789", max_downloads=2))
        reply = self.request("GET", path, headers={"Range": "bytes=0-1"})
        self.assertEqual((reply.status, reply.body), (206, b"01"))
        self.assertEqual(reply.headers["Content-Range"], "bytes 0-1/10")
        self.wait_transfers_done()
        reply = self.request("GET", path, headers={"Range": "bytes=2-"})  # a resume: the rest
        self.assertEqual((reply.status, reply.body), (206, b"23456789"))
        self.wait_transfers_done()
        self.assertEqual(self.request("GET", path).status, 410)

    def test_what_counts_as_a_download(self):
        """A request gets the file and spends a download, or gets the
        landing page and spends nothing: never one without the other."""
        landing = [
            {"User-Agent": "Slackbot-LinkExpanding 1.0 (+https://api.slack.com/robots)", "Accept": "*/*"},
            {"User-Agent": "facebookexternalhit/1.1"},
            {"User-Agent": "Mozilla/5.0 (compatible; Discordbot/2.0; +https://discordapp.com)"},
            {"User-Agent": "Twitterbot/1.0", "Accept": "image/webp,*/*"},
            {"Sec-Purpose": "prefetch", "Accept": "*/*"},
            {"Purpose": "prefetch"},
            {"Sec-Fetch-Mode": "navigate", "Sec-Fetch-Dest": "document", "Accept": "*/*"},
            {"Sec-Fetch-Dest": "document"},  # no Accept at all
            {"Accept": "application/xhtml+xml,*/*;q=0.8"},
            {"Accept": "text/html,application/json"},  # a tie goes to the page
        ]
        path = self.path_of(self.share(b"the file", max_downloads=1))
        for headers in landing:
            with self.subTest(headers=headers):
                reply = self.request("GET", path, headers=headers)
                self.assertEqual(reply.status, 200)
                self.assertIn("text/html", reply.headers["Content-Type"])
                self.assertNotIn(b"the file", reply.body)
        # A preview agent never gets the file, even asking for the download button's URL.
        reply = self.request("GET", path + "?download=1", headers={"User-Agent": "Slackbot 1.0"})
        self.assertIn("text/html", reply.headers["Content-Type"])
        self.wait_transfers_done()
        self.assertEqual(self.app.shares.get(path.rsplit("/", 1)[1]).downloads, 0)
        for headers in ({"Accept": "*/*", "User-Agent": "curl/8.5.0"}, {}, {"Accept": "image/webp,*/*"}):
            with self.subTest(headers=headers):
                once = self.path_of(self.share(b"the file", max_downloads=1))
                self.assertEqual(self.request("GET", once, headers=headers).body, b"the file")
                self.wait_transfers_done()
                self.assertEqual(self.request("GET", once, headers=headers).status, 410)

    def test_expiry_without_waiting(self):
        link = self.share(expires_in=60, max_downloads=5)
        self.assertEqual(self.request("GET", self.path_of(link)).status, 200)
        self.clock.advance(61)
        self.assertError(self.request("GET", self.path_of(link)), 410, "gone")
        self.sweep()
        self.assertEqual(self.shared_blobs(), [])

    def test_a_link_expiring_unasked_loses_its_blob(self):
        self.share(b"never fetched", expires_in=10)
        self.assertEqual(self.shared_blobs(), [sha256(b"never fetched")])
        self.clock.advance(11)
        self.sweep()
        self.assertEqual(self.shared_blobs(), [])

    def test_blob_stays_while_another_live_link_needs_it(self):
        first = self.share(b"same bytes")
        second = self.share(b"same bytes")
        self.assertEqual(self.request("GET", self.path_of(first)).status, 200)
        self.sweep()
        self.assertEqual(self.shared_blobs(), [sha256(b"same bytes")])
        self.assertEqual(self.request("GET", self.path_of(second)).body, b"same bytes")
        self.sweep()
        self.assertEqual(self.shared_blobs(), [])

    def test_six_concurrent_downloads_of_a_download_once_link(self):
        path = self.path_of(self.share(payload(2 * MIB)))
        statuses = []

        def fetch():
            statuses.append(self.request("GET", path).status)

        with Threads(120) as threads:
            for _ in range(6):
                threads.start(fetch)
        self.assertEqual(sorted(statuses), [200] + [410] * 5)

    def test_the_last_piece_leaves_only_once_the_download_is_counted(self):
        """Else a daemon killed between its last byte and its count gives
        the download twice (the cluster soak saw 2 of 1)."""
        counting = self.app.shares.finish

        def cannot_count(ticket, complete):
            if complete:
                raise BackendUnavailable("the store took no count")
            counting(ticket, complete)

        for size in (1000, 8 * MIB + 3):  # one write with the head; streamed
            with self.subTest(size=size):
                data = payload(size, seed=8)
                path = self.path_of(self.share(data))
                self.app.shares.finish = cannot_count
                conn = self.connection()
                conn.request("GET", path)
                reply = conn.getresponse()
                if size == 1000:  # the head and the body go in one write: nothing was sent yet, a plain error
                    self.assertEqual(reply.status, 503)
                    self.assertEqual(json.loads(reply.read())["error"], "unavailable")
                else:  # the head and all but the last piece are out: the transfer is cut
                    self.assertEqual(reply.status, 200)
                    with self.assertRaises(http.client.IncompleteRead) as cut:
                        reply.read()
                    self.assertEqual(cut.exception.partial, data[:len(cut.exception.partial)])
                    self.assertGreater(len(cut.exception.partial), 0)
                self.app.shares.finish = counting
                self.wait_transfers_done()
                self.assertEqual(self.request("GET", path).body, data)  # the download was given back

    def test_a_client_that_read_a_little_and_reset_keeps_its_download(self):
        # Our kernel takes the rest of the answer into its send queue at once
        # (a small file in one write with its head; the last piece of a
        # bigger one); the client has read 1 KiB when it resets. The download
        # is counted before that last write, and given back because the
        # client's side never acknowledged every byte.
        for size in (100 * 1024, MIB):
            with self.subTest(size=size):
                data = payload(size, seed=size)
                path = self.path_of(self.share(data))
                link_id = path.rsplit("/", 1)[1]
                sock = socket.socket()
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
                sock.settimeout(10)
                sock.connect(("127.0.0.1", self.port))
                sock.sendall(("GET %s HTTP/1.1\r\nHost: localhost\r\n\r\n" % path).encode())
                self.assertIn(b" 200 ", sock.recv(1024))
                # The count is written just before the last piece leaves: from
                # then on the daemon has nothing left to send but what its
                # kernel already holds.
                wait_until(lambda link_id=link_id: self.app.shares.get(link_id).downloads == 1,
                           "the download is counted")
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
                sock.close()
                wait_until(lambda link_id=link_id: self.app.shares.get(link_id).downloads == 0,
                           "the download is given back")
                got = self.request("GET", path)
                self.assertEqual((got.status, got.body), (200, data))

    def test_an_aborted_download_gives_the_download_back(self):
        data = payload(24 * MIB, seed=6)
        link = self.share(data)
        link_id = self.path_of(link).rsplit("/", 1)[1]
        with socket.create_connection(("127.0.0.1", self.port), timeout=10) as sock:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
            sock.sendall(b"GET %s HTTP/1.1\r\nHost: localhost\r\n\r\n" % self.path_of(link).encode())
            self.assertIn(b"200 OK", sock.recv(4096))
        # The server notices the hang-up when its next write fails.
        self.wait_transfers_done(link_id)
        self.assertEqual(self.app.shares.get(link_id).downloads, 0)
        reply = self.request("GET", self.path_of(link))
        self.assertEqual((reply.status, sha256(reply.body)), (200, sha256(data)))
        self.assertError(self.request("GET", self.path_of(link)), 410, "gone")

    def test_a_blob_not_linked_yet_survives_sweeps_for_the_grace_period(self):
        # As an upload between storing its bytes and making its link.
        info = self.app.backend.put(SHARES, io.BytesIO(b"about to be linked")).info
        self.app.shares.sweep()
        self.assertIn(info.oid, self.shared_blobs())
        link = self.app.shares.create(info.oid, info.size, None, None, None, 1, 60)
        self.assertEqual(self.request("GET", "/file/" + link.id).body, b"about to be linked")
        # A leftover nobody links (an upload that failed after pinning its
        # bytes, as uploads do before storing them) goes once the grace is over.
        orphan = self.app.backend.put(SHARES, io.BytesIO(b"never linked"),
                                      hashed=lambda oid, look: self.app.shares.pin(oid)).info
        self.app.shares.sweep()
        self.clock.advance(601)
        self.sweep()
        self.assertNotIn(orphan.oid, self.shared_blobs())

    def test_a_blob_removed_before_its_link_is_made_is_503_and_links_nothing(self):
        info = self.app.backend.put(SHARES, io.BytesIO(b"raced with the sweep")).info
        self.app.backend.delete(SHARES, info.oid)
        with self.assertRaises(BackendUnavailable):
            self.app.shares.create(info.oid, info.size, None, None, None, 1, 60)
        self.assertEqual(self.in_flight(), 0)
        self.assertEqual(self.link_count(), 0)

    def test_an_upload_never_fails_because_another_link_to_its_bytes_went_away(self):
        """The race of a mixed load: link A to some bytes is deleted, and the
        sweep runs, just as an upload of the same bytes has stored them
        (deduplicated onto A's blob) and is about to make its link."""
        data = b"the same bytes, twice"
        first = self.share(data)
        put = self.app.backend.put

        def put_then_lose_the_other_link(namespace, stream, content_type=None, **options):
            result = put(namespace, stream, content_type, **options)
            self.assertEqual(self.request("DELETE", self.path_of(first),
                                          headers={"X-Delete-Token": first["delete_token"]}).status, 200)
            self.app.shares.sweep()  # the sweeper, woken by the delete, runs now
            return result

        self.app.backend.put = put_then_lose_the_other_link
        body, ctype = multipart({"file": ("again.txt", data, "text/plain")})
        reply = self.request("PUT", "/file", body, {"Content-Type": ctype})
        self.app.backend.put = put
        self.assertEqual(reply.status, 201, reply)
        self.assertEqual(self.request("GET", self.path_of(reply.json())).body, data)

    def test_a_used_up_or_deleted_links_file_is_removed_within_seconds(self):
        """No sweep by hand and no clock moved: the file of a once-link goes
        right after its download, and a deleted link's right after the delete
        (a file another live link shares stays)."""
        once, kept = b"read once, then gone", b"shared by two links"
        link = self.share(once)
        self.assertEqual(self.request("GET", self.path_of(link)).body, once)
        wait_until(lambda: sha256(once) not in self.shared_blobs(), "the used-up link's file is removed", 5)
        first, second = self.share(kept), self.share(kept, max_downloads=2)
        for deleted in (first, second):
            self.assertEqual(self.request("DELETE", self.path_of(deleted),
                                          headers={"X-Delete-Token": deleted["delete_token"]}).status, 200)
            if deleted is first:
                self.assertEqual(self.request("GET", self.path_of(second)).body, kept)
        wait_until(lambda: sha256(kept) not in self.shared_blobs(), "the deleted links' file is removed", 5)

    def test_racing_right_passwords_are_never_refused(self):
        path = self.path_of(self.share(password="right", max_downloads=7))
        with Threads(120) as threads:
            for _ in range(7):
                threads.start(lambda: self.request("GET", path + "?password=right").status)
        self.assertEqual(threads.results, [200] * 7)

    def test_concurrent_guesses_get_no_more_checks_than_the_limit(self):
        path = self.path_of(self.share(password="right", max_downloads=3))
        statuses = []

        def guess():
            statuses.append(self.request("GET", path + "?password=wrong").status)

        with Threads(120) as threads:
            for _ in range(40):
                threads.start(guess)
        self.assertLessEqual(statuses.count(401), 5, statuses)
        self.assertEqual(statuses.count(401) + statuses.count(429), 40, statuses)
        self.assertError(self.request("GET", path + "?password=right"), 429, "too_many_requests")

    def test_wrong_passwords_are_rate_limited(self):
        path = self.path_of(self.share(password="right", max_downloads=3))
        for _ in range(5):
            self.assertEqual(self.request("GET", path + "?password=nope").status, 401)
        reply = self.request("GET", path + "?password=right")
        self.assertError(reply, 429, "too_many_requests")
        self.assertEqual(reply.headers["Retry-After"], "61")
        self.clock.advance(61)
        self.assertEqual(self.request("GET", path + "?password=right").status, 200)

    def test_bad_uploads_are_400(self):
        body, ctype = multipart({"password": "x"})
        self.assertError(self.request("PUT", "/file", body, {"Content-Type": ctype}), 400, "bad_request")
        self.assertError(self.request("PUT", "/file", b"raw body"), 400, "bad_request")
        for field, value in (("max_downloads", "0"), ("max_downloads", "many"), ("max_downloads", "-1"),
                             ("expires_in", "0"), ("expires_in", str(10 ** 9))):
            with self.subTest(field=field, value=value):
                body, ctype = multipart({field: value, "file": ("a.txt", b"a", "text/plain")})
                reply = self.request("PUT", "/file", body, {"Content-Type": ctype})
                self.assertError(reply, 400, "bad_request")
        self.sweep()
        self.assertEqual(self.shared_blobs(), [])

    def test_wrong_methods_are_405(self):
        reply = self.request("PATCH", "/file")
        self.assertError(reply, 405, "method_not_allowed")
        self.assertEqual(reply.headers["Allow"], "POST, PUT")
        reply = self.request("PATCH", self.path_of(self.share()))
        self.assertError(reply, 405, "method_not_allowed")
        # POST: the landing page's form; PUT: transfer.sh's one-liner (PUT /file/NAME)
        self.assertEqual(reply.headers["Allow"], "DELETE, GET, HEAD, POST, PUT")

    def test_delete_token(self):
        link = self.share(max_downloads=3)
        path = self.path_of(link)
        self.assertError(self.request("DELETE", path), 403, "forbidden")
        self.assertError(self.request("DELETE", path, headers={"X-Delete-Token": "nope"}), 403, "forbidden")
        reply = self.request("DELETE", path, headers={"X-Delete-Token": link["delete_token"]})
        self.assertEqual(reply.status, 200)
        self.assertError(self.request("GET", path), 410, "gone")
        self.sweep()
        self.assertEqual(self.shared_blobs(), [])

    def test_unknown_and_malformed_ids_are_404(self):
        for link_id in ("A" * 32, "short", sha256(b"report contents"), "..%2f..%2fmeta.db"):
            with self.subTest(link_id=link_id):
                self.assertError(self.request("GET", "/file/" + link_id), 404, "not_found")
                self.assertError(self.request("DELETE", "/file/" + link_id), 404, "not_found")

    def test_share_blobs_are_private(self):
        self.share(b"private bytes")
        oid = sha256(b"private bytes")
        self.assertEqual(self.request("GET", "/files/" + oid).status, 404)
        self.assertEqual(self.request("GET", "/data/shares/" + oid).status, 404)

    def test_links_survive_a_restart(self):
        link = self.share(password="p", max_downloads=2)
        path = self.path_of(link)
        self.assertEqual(self.request("GET", path + "?password=p").status, 200)
        self.restart_server()
        self.assertEqual(self.request("GET", path + "?password=p").status, 200)
        self.assertEqual(self.request("GET", path + "?password=p").status, 410)

    def test_the_query_password_never_reaches_the_log(self):
        path = self.path_of(self.share(password="hunter2"))
        conn = self.connection()
        with self.assertLogs("filestoraged", "DEBUG") as logs:
            self.request("GET", path + "?password=hunter2", conn=conn)
            self.request("GET", "/healthz", conn=conn)
        self.assertNotIn("hunter2", "\n".join(logs.output))
        self.assertTrue(any("?[redacted]" in line for line in logs.output))


class DiskShareTests(ShareContract, ServerCase):
    def test_many_racing_downloads_of_one_link_all_get_it(self):
        """A hot link: 16 clients downloading it at once, 10 times each,
        all get the file, and each download is counted."""
        data = payload(2000, seed=5)
        path = self.path_of(self.share(data, max_downloads=1000))

        def download_ten() -> list:
            conn = self.connection()
            try:
                return [self.request("GET", path, conn=conn).status for _ in range(10)]
            finally:
                conn.close()

        with Threads(60) as threads:
            for _ in range(16):
                threads.start(download_ten)
        self.assertEqual([status for statuses in threads.results for status in statuses], [200] * 160)
        self.wait_transfers_done()
        self.assertEqual(self.app.shares.get(path.rsplit("/", 1)[1]).downloads, 160)

    def test_the_sweep_runs_while_an_upload_is_open(self):
        self.share(b"expires while the upload runs", expires_in=10)
        body, ctype = multipart({"file": ("slow.bin", payload(3 * MIB, seed=9), "application/octet-stream")})
        tmp = os.path.join(self.data_dir, ".tmp")
        with socket.create_connection(("127.0.0.1", self.port), timeout=10) as sock:
            sock.sendall(b"PUT /file HTTP/1.1\r\nHost: localhost\r\nContent-Type: %s\r\nContent-Length: %d\r\n\r\n"
                         % (ctype.encode(), len(body)) + body[:MIB + MIB // 2])
            wait_until(lambda: files_being_written(tmp, [os.getpid()]), "the upload is being stored")
            self.clock.advance(11)  # expired, and no download wakes the sweeper thread
            self.sweep()
            self.assertNotIn(sha256(b"expires while the upload runs"), self.shared_blobs())
            sock.sendall(body[MIB + MIB // 2:])
            self.assertIn(b" 201 ", sock.recv(65536))


    def test_password_is_stored_only_as_a_salted_scrypt_digest(self):
        link = self.share(password="visible?")
        stored = self.app.shares.get(self.path_of(link).rsplit("/", 1)[1])
        self.assertEqual(len(stored.password_salt), 16)
        self.assertNotIn(b"visible?", stored.password_hash)
        at_rest = database_bytes(self.data_dir)
        self.assertTrue(stored.password_salt.hex().encode() in at_rest, "the link's record is not in what was read")
        self.assertFalse(b"visible?" in at_rest, "the password is kept in meta.db")


class SmallShareLimitTests(ServerCase):
    config_overrides = {"max_size": 1000}

    def test_over_the_limit_is_413_and_nothing_is_kept(self):
        body, ctype = multipart({"file": ("big.bin", b"x" * 1001, "application/octet-stream")})
        reply = self.request("PUT", "/file", body, {"Content-Type": ctype})
        self.assertError(reply, 413, "too_large")
        self.assertEqual(self.stored_files(), [])
        body, ctype = multipart({"file": ("ok.bin", b"x" * 1000, "application/octet-stream")})
        self.assertEqual(self.request("PUT", "/file", body, {"Content-Type": ctype}).status, 201)


class MemcachedShareTests(ShareContract, MemcachedServerCase):
    pass
