"""``/uploads``: resumable uploads with tus 1.0.0, spoken by hand here (the
protocol's own steps), by tuspy (a client nobody here wrote) in
test_resumable_clients, and across a daemon restart."""

from __future__ import annotations

import base64
import dataclasses
import fcntl
import os
import socket
import threading
import time
from typing import Dict, Optional
from unittest import mock

from filestoraged.storage.interface import FinishedFile
from filestoraged.tus import uploads as upload_store
from filestoraged.uploads.targets import from_record

from ..support import MIB, ServerCase, Threads, payload, sha256

TUS = {"Tus-Resumable": "1.0.0"}


def metadata(**values: str) -> str:
    return ",".join("%s %s" % (key, base64.b64encode(value.encode()).decode()) for key, value in values.items())


class TusCase(ServerCase):
    def create(self, length: int, expect: int = 201, **values: str):
        headers = dict(TUS, **{"Upload-Length": str(length)})
        if values:
            headers["Upload-Metadata"] = metadata(**values)
        reply = self.request("POST", "/uploads", headers=headers)
        self.assertEqual(reply.status, expect, reply)
        return reply

    def new_upload(self, length: int, **values: str) -> str:
        location = self.create(length, **values).headers["Location"]
        self.assertRegex(location, r"^http://127\.0\.0\.1:\d+/uploads/[0-9a-f]{32}$")
        return "/uploads/" + location.rsplit("/", 1)[1]

    def patch(self, url: str, offset: int, data: bytes, headers: Optional[Dict[str, str]] = None):
        sent = dict(TUS, **{"Upload-Offset": str(offset), "Content-Type": "application/offset+octet-stream"})
        sent.update(headers or {})
        return self.request("PATCH", url, data, sent)

    def offset(self, url: str) -> int:
        reply = self.request("HEAD", url, headers=TUS)
        self.assertEqual(reply.status, 200, reply)
        self.assertEqual(reply.headers["Cache-Control"], "no-store")
        return int(reply.headers["Upload-Offset"])

    def cut_patch(self, url: str, offset: int, data: bytes, sent: int) -> None:
        """A PATCH that announces all of ``data`` but sends ``sent`` bytes and
        drops the connection, as a network cut does."""
        head = ("PATCH %s HTTP/1.1\r\nHost: localhost\r\nTus-Resumable: 1.0.0\r\nUpload-Offset: %d\r\n"
                "Content-Type: application/offset+octet-stream\r\nContent-Length: %d\r\n\r\n"
                % (url, offset, len(data))).encode()
        with socket.create_connection(("127.0.0.1", self.port), timeout=10) as sock:
            sock.sendall(head + data[:sent])
            sock.shutdown(socket.SHUT_WR)
            while sock.recv(65536):
                pass


class TusProtocolTests(TusCase):
    def test_options_says_what_is_spoken(self):
        reply = self.request("OPTIONS", "/uploads")
        self.assertEqual(reply.status, 204)
        self.assertEqual(reply.headers["Tus-Version"], "1.0.0")
        self.assertEqual(reply.headers["Tus-Max-Size"], str(self.config.max_size))
        for extension in ("creation", "termination", "expiration", "creation-with-upload"):
            self.assertIn(extension, reply.headers["Tus-Extension"].split(","))

    def test_an_upload_in_pieces_with_a_cut_resumes_and_answers_as_files_would(self):
        data = payload(3 * MIB + 17, seed=1)
        url = self.new_upload(len(data), filetype="text/plain")
        self.assertEqual(self.offset(url), 0)
        first = self.patch(url, 0, data[:MIB])
        self.assertEqual((first.status, first.headers["Upload-Offset"]), (204, str(MIB)))
        self.assertIn("GMT", first.headers["Upload-Expires"])
        self.cut_patch(url, MIB, data[MIB:], 700_000)
        kept = self.offset(url)
        self.assertEqual(kept, MIB + 700_000)  # what arrived before the cut is kept
        self.assertError(self.patch(url, MIB, data[MIB:]), 409, "conflict")  # another offset
        self.assertError(self.request("GET", url), 409, "conflict")  # not finished yet
        last = self.patch(url, kept, data[kept:])
        self.assertEqual((last.status, last.headers["Upload-Offset"]), (204, str(len(data))))
        result = self.request("GET", url)
        self.assertEqual(result.status, 200)
        oid = sha256(data)
        self.assertEqual(result.json(), {"hash": oid, "size": len(data), "created": True,
                                         "url": "http://127.0.0.1:%d/files/%s" % (self.port, oid)})
        stored = self.request("GET", "/files/" + oid)
        self.assertEqual((stored.body, stored.headers["Content-Type"]), (data, "text/plain"))
        self.assertEqual(os.listdir(os.path.join(self.data_dir, "uploads")), [url.rsplit("/", 1)[1] + ".json"])
        # The last PATCH sent again (its answer was lost) is answered the same.
        self.assertEqual(self.patch(url, len(data), b"").status, 204)

    def test_creation_with_upload_and_a_repository_target(self):
        data = payload(5000, seed=2)
        headers = dict(TUS, **{"Upload-Length": str(len(data)), "Upload-Metadata": metadata(target="data/photos"),
                               "Content-Type": "application/offset+octet-stream"})
        reply = self.request("POST", "/uploads", data, headers)
        self.assertEqual((reply.status, reply.headers["Upload-Offset"]), (201, "5000"))
        url = "/uploads/" + reply.headers["Location"].rsplit("/", 1)[1]
        self.assertEqual(self.request("GET", url).json(), {"oid": sha256(data), "size": 5000})
        self.assertEqual(self.request("GET", "/data/photos/" + sha256(data)).body, data)

    def test_an_empty_upload_is_stored_at_creation(self):
        url = self.new_upload(0)
        self.assertEqual(self.request("GET", url).json()["hash"], sha256(b""))

    def test_a_share_link_target_keeps_its_password_out_of_every_answer_and_file(self):
        data = b"secret report\n" * 100
        url = self.new_upload(len(data), target="file", filename="report.txt", password="hunter2-pw",
                              max_downloads="2", note="kept")
        head = self.request("HEAD", url, headers=TUS)
        shown = head.headers["Upload-Metadata"]
        self.assertNotIn("password", shown)
        self.assertIn("filename", shown)
        self.assertIn("note", shown)  # the client's own keys are shown back
        for name in os.listdir(os.path.join(self.data_dir, "uploads")):
            with open(os.path.join(self.data_dir, "uploads", name), "rb") as stored:
                self.assertNotIn(b"hunter2-pw", stored.read())
        self.assertEqual(self.patch(url, 0, data).status, 204)
        answer = self.request("GET", url).json()
        self.assertEqual(set(answer), {"status", "url", "delete_token", "expires_at"})
        link = answer["url"].split(str(self.port), 1)[1]
        self.assertEqual(self.request("GET", link).status, 401)
        got = self.request("GET", link, headers={"X-Password": "hunter2-pw"})
        self.assertEqual((got.status, got.body), (200, data))
        self.assertIn("report.txt", got.headers["Content-Disposition"])
        deleted = self.request("DELETE", link, headers={"X-Delete-Token": answer["delete_token"]})
        self.assertEqual(deleted.status, 200, deleted)

    def test_termination_removes_the_bytes(self):
        url = self.new_upload(10 * MIB)
        self.patch(url, 0, payload(MIB))
        self.assertEqual(self.request("DELETE", url, headers=TUS).status, 204)
        self.assertEqual(self.request("HEAD", url, headers=TUS).status, 404)
        self.assertEqual(os.listdir(os.path.join(self.data_dir, "uploads")), [])

    def test_bad_requests_are_refused_clearly(self):
        url = self.new_upload(100)
        reply = self.request("POST", "/uploads", headers={"Upload-Length": "1"})
        self.assertError(reply, 412, "precondition_failed")
        self.assertEqual(reply.headers["Tus-Version"], "1.0.0")
        self.assertError(self.request("PATCH", url, b"x", dict(TUS, **{"Upload-Offset": "0"})),
                         415, "unsupported_media_type")
        self.assertError(self.request("POST", "/uploads", headers=TUS), 400, "bad_request")
        self.assertError(self.request("POST", "/uploads", headers=dict(TUS, **{"Upload-Length": "-1"})),
                         400, "bad_request")
        over = str(self.config.max_size + 1)
        too_big = self.request("POST", "/uploads", headers=dict(TUS, **{"Upload-Length": over}))
        self.assertError(too_big, 413, "too_large")
        for bad in ("target Zm9v!", "a", "target ZmlsZXM= extra", "target ZmlsZXM=,target ZmlsZXM="):
            with self.subTest(bad):
                reply = self.request("POST", "/uploads", headers=dict(TUS, **{"Upload-Length": "1",
                                                                             "Upload-Metadata": bad}))
                if bad == "a":  # a key without a value is allowed
                    self.assertEqual(reply.status, 201)
                else:
                    self.assertError(reply, 400, "bad_request")
        self.assertError(self.create(1, 400, target="elsewhere"), 400, "bad_request")
        self.assertError(self.create(1, 400, password="x"), 400, "bad_request")  # not a share link
        self.assertError(self.create(1, 400, target="data/..%2f"), 400, "bad_request")
        self.assertError(self.patch(url, 0, b"x" * 101), 413, "too_large")  # past Upload-Length
        self.assertEqual(self.offset(url), 0)
        self.assertError(self.request("GET", "/uploads/" + "0" * 32, headers=TUS), 404, "not_found")
        self.assertError(self.request("GET", "/uploads/nothex", headers=TUS), 404, "not_found")

    def test_a_second_writer_is_told_to_retry_while_the_first_still_writes(self):
        url = self.new_upload(2 * MIB)
        head = ("PATCH %s HTTP/1.1\r\nHost: localhost\r\nTus-Resumable: 1.0.0\r\nUpload-Offset: 0\r\n"
                "Content-Type: application/offset+octet-stream\r\nContent-Length: %d\r\n\r\n" % (url, 2 * MIB)).encode()
        with socket.create_connection(("127.0.0.1", self.port), timeout=10) as slow:
            slow.sendall(head + b"x" * MIB)  # half the body: its writer waits for the rest
            kept = self.wait_for_offset(url)
            self.assertError(self.patch(url, kept, b"y"), 423, "locked")
        # The cut writer lets go once it sees the cut; what it wrote stays,
        # and the upload goes on.
        kept = self.wait_for_offset(url, MIB)
        deadline = time.monotonic() + 10
        while True:
            reply = self.patch(url, kept, b"z" * (2 * MIB - kept))
            if reply.status != 423:
                break
            self.assertLess(time.monotonic(), deadline, "the cut writer never let go")
            time.sleep(0.02)
        self.assertEqual(reply.status, 204, reply)

    def hold_as_a_writer(self, url: str) -> int:
        """Take the upload's write lock as a running PATCH holds it (from
        this process: ``flock`` is per open file); its descriptor, appending."""
        fd = os.open(os.path.join(self.data_dir, "uploads", url.rsplit("/", 1)[1]), os.O_WRONLY | os.O_APPEND)
        self.addCleanup(os.close, fd)
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        return fd

    def test_a_request_waits_for_a_patch_that_is_ending_instead_of_misreporting_it(self):
        """A client that was cut and comes back at once (``filestoraged put``
        run again) meets the cut PATCH still writing its last bytes: HEAD
        answers the offset it ends at, and a PATCH waits for it, instead of
        an offset that is still moving and a 423."""
        # Longer than any stall of this test, so the wait never decides the outcome.
        settle = mock.patch.object(upload_store, "SETTLE", 30, create=True)
        settle.start()
        self.addCleanup(settle.stop)
        url = self.new_upload(100)
        self.assertEqual(self.patch(url, 0, b"a" * 10).status, 204)

        def asking(ask, done: threading.Event):
            try:
                return ask()
            finally:
                done.set()

        asks = (("HEAD", lambda: self.offset(url)), ("PATCH", lambda: self.patch(url, 20, b"b" * 5)))
        for method, ask in asks:
            with self.subTest(method):
                fd = self.hold_as_a_writer(url)
                done = threading.Event()
                with Threads(deadline=30) as threads:
                    threads.start(asking, ask, done)
                    answered = done.wait(0.3)
                    os.write(fd, b"w" * 5)  # the writer's last bytes, then it lets go
                    fcntl.flock(fd, fcntl.LOCK_UN)
                self.assertFalse(answered, "answered while a PATCH was still writing")  # was: at once
                if method == "HEAD":
                    self.assertEqual(threads.results, [15])  # was 10: an offset still moving
                else:
                    self.assertEqual(threads.results[0].status, 204, threads.results[0])  # was 423
        self.assertEqual(self.offset(url), 25)

    def wait_for_offset(self, url: str, wanted: Optional[int] = None) -> int:
        """The offset once it is ``wanted`` (any above 0 for None)."""
        deadline = time.monotonic() + 10
        while True:
            offset = self.offset(url)
            if offset == wanted or (wanted is None and offset > 0):
                return offset
            self.assertLess(time.monotonic(), deadline, "the offset stayed %d" % offset)
            time.sleep(0.02)

    def test_expired_uploads_are_gone_and_swept(self):
        url = self.new_upload(100)
        bytes_file = os.path.join(self.data_dir, "uploads", url.rsplit("/", 1)[1])
        old = os.stat(bytes_file).st_mtime - upload_store.TTL - 1
        os.utime(bytes_file, (old, old))
        self.assertEqual(self.request("HEAD", url, headers=TUS).status, 410)
        self.assertEqual(os.listdir(os.path.join(self.data_dir, "uploads")), [])

    def test_one_address_cannot_park_unbounded_uploads(self):
        for _ in range(upload_store.MAX_PER_CLIENT):
            self.create(1)
        self.assertError(self.create(1, 429), 429, "too_many_requests")


class TusRaceTests(TusCase):
    """Requests that meet the store step of an upload whose last byte came:
    each gets the answer it would get a moment later, never a 500 or a
    410 for an upload that is there."""

    def setUp(self) -> None:
        super().setUp()
        # Longer than any stall of these tests, so the wait never decides the outcome.
        settle = mock.patch.object(upload_store, "SETTLE", 30, create=True)
        settle.start()
        self.addCleanup(settle.stop)
        self.told_when_waiting()

    def finish_as_the_holder(self, method: str, url: str, offset: int = 10):
        """An upload of 10 bytes with 5 in; another request (``method``)
        arrives while a PATCH holds it, which then writes the last 5 bytes
        and stores the object; that request's answer."""
        self.assertEqual(self.patch(self.url, 0, b"12345").status, 204)
        fd = self.hold_as_a_writer(self.url)
        asked = {"PATCH": lambda: self.patch(self.url, offset, b""), "GET": lambda: self.request("GET", self.url),
                 "HEAD": lambda: self.request("HEAD", self.url, headers=TUS)}[method]
        with Threads(deadline=30) as threads:
            threads.start(asked)
            self.assertTrue(self.waiting.wait(20), "the request waits for the holder")
            os.write(fd, b"67890")
            upload = self.app.uploads.get(self.upload_id)
            target = from_record(self.app, upload.target)
            with FinishedFile(os.path.join(self.data_dir, "uploads", self.upload_id)) as source:
                stored = target.store(source)
            self.app.uploads.finish(upload, target.result(stored, "http://127.0.0.1:%d" % self.port))
            fcntl.flock(fd, fcntl.LOCK_UN)
        return threads.results[0]

    def told_when_waiting(self) -> None:
        """``self.waiting`` set once a request finds an upload's lock held
        (and goes on to wait for it, in ``_lock``). Decision: told by the
        lock's own call, not found by walking every thread's stack, which
        a running thread can change under the walk."""
        self.waiting = threading.Event()
        lock = upload_store._lock

        def noting(fd: int, kind: int) -> bool:
            try:
                fcntl.flock(fd, kind | fcntl.LOCK_NB)
                return True
            except BlockingIOError:
                self.waiting.set()
            return lock(fd, kind)

        patched = mock.patch.object(upload_store, "_lock", noting)
        patched.start()
        self.addCleanup(patched.stop)

    def start_upload(self) -> None:
        self.url = self.new_upload(10)
        self.upload_id = self.url.rsplit("/", 1)[1]

    hold_as_a_writer = TusProtocolTests.hold_as_a_writer

    def test_the_last_patch_sent_again_while_the_object_is_stored(self):
        self.start_upload()
        reply = self.finish_as_the_holder("PATCH", self.url)
        self.assertEqual((reply.status, reply.headers["Upload-Offset"]), (204, "10"), reply)  # was: 500

    def test_a_result_asked_while_the_object_is_stored(self):
        self.start_upload()
        reply = self.finish_as_the_holder("GET", self.url)
        self.assertEqual(reply.status, 200, reply)  # was: 410 "the upload was removed"
        self.assertEqual(reply.json()["hash"], sha256(b"1234567890"))

    def test_a_head_that_read_the_upload_before_it_was_stored(self):
        self.start_upload()
        self.assertEqual(self.patch(self.url, 0, b"1234567890").status, 204)
        stale = dataclasses.replace(self.app.uploads.get(self.upload_id), result=None)
        with mock.patch.object(upload_store.UploadStore, "get", lambda store, upload_id: stale):
            reply = self.request("HEAD", self.url, headers=TUS)
        self.assertEqual(reply.headers["Upload-Offset"], "10")  # was: 0

    def test_a_chunked_patch_longer_than_the_upload_is_refused_whole(self):
        self.start_upload()
        reply = self.request("PATCH", self.url, iter([b"12345", b"67890", b"more"]), dict(TUS, **{
            "Upload-Offset": "0", "Content-Type": "application/offset+octet-stream",
            "Transfer-Encoding": "chunked"}))
        self.assertError(reply, 413, "too_large")  # was: 204, its first 10 bytes kept
        self.assertEqual(self.offset(self.url), 0)


class TusAdmissionTests(TusCase):
    config_overrides = {"max_bytes": 64 * MIB}

    def test_concurrent_creates_get_exactly_what_fits(self):
        with Threads(deadline=60) as threads:
            for _ in range(20):
                threads.start(lambda: self.request("POST", "/uploads", headers=dict(
                    TUS, **{"Upload-Length": str(16 * MIB)})).status)
        self.assertEqual(sorted(threads.results).count(201), 4, threads.results)  # was: up to 12

    def test_concurrent_creates_from_one_address_stop_at_the_limit(self):
        with Threads(deadline=60) as threads:
            for _ in range(upload_store.MAX_PER_CLIENT + 30):
                threads.start(lambda: self.request("POST", "/uploads", headers=dict(
                    TUS, **{"Upload-Length": "1"})).status)
        self.assertEqual(threads.results.count(201), upload_store.MAX_PER_CLIENT, threads.results)


class TusAtScaleTests(TusCase):
    def test_a_create_reads_no_other_uploads_record(self):
        for _ in range(40):  # unfinished ones
            self.create(10)
        store = self.app.uploads
        with mock.patch.object(store, "_read_record", side_effect=AssertionError("a record was read")), \
                mock.patch.object(store, "_swept", time.time()):  # not the minute's sweep
            for _ in range(upload_store.MAX_PER_CLIENT - 40):
                self.create(10)
            self.assertError(self.create(1, 429), 429, "too_many_requests")  # the limit, from the ledger

    def test_the_ledger_follows_finished_and_removed_uploads(self):
        first = self.new_upload(4)
        second = self.new_upload(6)
        self.assertEqual(self.patch(first, 0, b"abcd").status, 204)  # finished: no longer promised
        self.assertEqual(self.request("DELETE", second, headers=TUS).status, 204)
        with self.app.uploads._ledger.held() as tally:
            self.assertEqual((tally.pending, tally.owners), (0, {}))


class TusQuotaTests(TusCase):
    config_overrides = {"max_bytes": 10 * MIB}

    def test_unfinished_uploads_count_against_the_quota(self):
        self.new_upload(6 * MIB)
        self.assertError(self.create(6 * MIB, 507), 507, "insufficient_storage")
        self.new_upload(3 * MIB)


class TusAccessTests(TusCase):
    config_overrides = {"auth": "writes"}

    def setUp(self) -> None:
        super().setUp()
        self.writer = self.app.tokens.create(["data:photos:write"], "writer")[1]
        self.files = self.app.tokens.create(["files:write"], "files")[1]

    def test_every_step_needs_the_targets_write_scope(self):
        def bearer(secret):
            return {"Authorization": "Bearer " + secret}

        headers = dict(TUS, **{"Upload-Length": "3", "Upload-Metadata": metadata(target="data/photos")})
        self.assertError(self.request("POST", "/uploads", headers=headers), 401, "unauthorized")
        self.assertError(self.request("POST", "/uploads", headers=dict(headers, **bearer(self.files))),
                         403, "forbidden")
        made = self.request("POST", "/uploads", headers=dict(headers, **bearer(self.writer)))
        self.assertEqual(made.status, 201, made)
        url = "/uploads/" + made.headers["Location"].rsplit("/", 1)[1]
        self.assertEqual(self.request("HEAD", url, headers=TUS).status, 401)
        self.assertError(self.patch(url, 0, b"abc"), 401, "unauthorized")
        self.assertError(self.patch(url, 0, b"abc", bearer(self.files)), 403, "forbidden")
        self.assertEqual(self.patch(url, 0, b"abc", bearer(self.writer)).status, 204)
        self.assertError(self.request("GET", url), 401, "unauthorized")
        self.assertEqual(self.request("GET", url, headers=bearer(self.writer)).json()["oid"], sha256(b"abc"))
