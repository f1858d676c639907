"""Promises that must hold against a hostile or unlucky client: smuggling
attempts, requests cut off or starved, input that used to answer 500."""

from __future__ import annotations

import json
import os
import re
import select
import socket
import struct
import time
from urllib.parse import urlsplit

from ..support import MIB, ServerCase, multipart, payload, sha256, wait_until
from ..wire.test_wire import status_of


def read_all(sock: socket.socket) -> bytes:
    answer = b""
    try:
        while True:
            piece = sock.recv(65536)
            if not piece:
                return answer
            answer += piece
    except ConnectionResetError:
        return answer


class SmugglingTests(ServerCase):
    def setUp(self) -> None:
        super().setUp()
        self.oid = self.request("POST", "/files", b"must survive").json()["hash"]

    def assertSurvives(self) -> None:
        self.assertEqual(self.request("GET", "/files/" + self.oid).body, b"must survive")

    def test_a_bare_cr_inside_a_header_value_is_400(self):
        answer = self.raw_exchange(b"POST /files HTTP/1.1\r\nHost: localhost\r\nX-A: a\rContent-Length: 41\r\n"
                                   b"Content-Length: 0\r\n\r\n")
        self.assertEqual(status_of(answer), 400, answer)

    def test_a_transfer_encoding_not_ending_in_chunked_is_400_and_closes(self):
        smuggled = b"DELETE /files/%s HTTP/1.1\r\nHost: localhost\r\n\r\n" % self.oid.encode()
        for coding in (b"gzip", b"chunked, gzip", b"gzip, chunked", b"identity", b"chunked, chunked"):
            with self.subTest(coding=coding):
                answer = self.raw_exchange(b"GET /healthz HTTP/1.1\r\nHost: localhost\r\nTransfer-Encoding: " + coding
                                           + b"\r\n\r\n" + smuggled)
                self.assertEqual(status_of(answer), 400, answer)
                self.assertEqual(answer.count(b"HTTP/1.1 "), 1, answer)  # the DELETE never ran
                self.assertSurvives()

    def test_a_request_cut_off_before_its_head_ends_never_runs(self):
        for cut in (b"DELETE /files/%s HTTP/1.1" % self.oid.encode(),
                    b"DELETE /files/%s HTTP/1.1\r\nHost: localhost\r\n" % self.oid.encode(),
                    b"PUT /data/cut HTTP/1.1\r\nHost: localhost\r\nContent-Length: 0\r\n"):
            with self.subTest(cut=cut):
                with socket.create_connection(("127.0.0.1", self.port), timeout=10) as sock:
                    sock.sendall(cut)
                    sock.shutdown(socket.SHUT_WR)
                    self.assertEqual(read_all(sock), b"")
                self.assertSurvives()
        self.assertEqual(self.request("GET", "/data/cut").json(), [])
        self.metrics_showing('filestoraged_requests_dropped_total{reason="incomplete_head"} 3')


class StalledClientTests(ServerCase):
    config_overrides = {"idle_timeout": 0.5}

    def test_a_stalled_upload_is_408_counted_and_logged_in_one_line(self):
        with self.assertLogs("filestoraged", "INFO") as logs:
            with socket.create_connection(("127.0.0.1", self.port), timeout=10) as sock:
                sock.sendall(b"POST /files HTTP/1.1\r\nHost: localhost\r\nContent-Length: 1000\r\n\r\n" + b"x" * 10)
                answer = read_all(sock)
        self.assertEqual(status_of(answer), 408, answer)
        self.assertIn(b'"error":"timeout"', answer)
        text = "\n".join(logs.output)
        self.assertNotIn("Traceback", text)
        self.assertNotIn("unhandled", text)
        self.assertIn("stopped sending its body", text)
        self.assertEqual(self.stored_objects(), [])
        # The request is counted when its thread is done lingering over the
        # unread body, a moment after the client has the answer.
        metrics = self.metrics_showing('status="408"', 'filestoraged_requests_dropped_total{reason="slow_body"} 1')
        self.assertNotIn('status="500"', metrics)

    def test_a_reset_upload_is_counted_apart_not_as_500(self):
        body, ctype = multipart({"file": ("a.bin", b"y" * 200000, "application/octet-stream")})
        with self.assertLogs("filestoraged", "INFO") as logs:
            sock = socket.create_connection(("127.0.0.1", self.port), timeout=10)
            sock.sendall(b"POST /files HTTP/1.1\r\nHost: localhost\r\nContent-Type: %s\r\nContent-Length: %d\r\n\r\n"
                         % (ctype.encode(), len(body)) + body[:1000])
            # Close with a reset (SO_LINGER 0) while the server waits for the rest.
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            sock.close()
            wait_until(lambda: "client_gone" in self.request("GET", "/metrics").body.decode(), "the reset is counted")
        text = "\n".join(logs.output)
        self.assertNotIn("Traceback", text)
        self.assertNotIn("unhandled", text)
        self.assertEqual(self.stored_objects(), [])
        self.assertNotIn('status="500"', self.request("GET", "/metrics").body.decode())


class ClientFaultTests(ServerCase):
    def kv_set(self, raw: bytes):
        return self.request("POST", "/kv/set", raw)

    def test_json_that_is_not_json_is_400(self):
        for raw in (b'{"k": NaN}', b'{"k": Infinity}', b'{"k": -Infinity}', b'{"k": 1e999}',
                    b'{"\\ud800": 1}', b'{"k": "\\udfff"}', b'[' * 200000 + b']' * 200000, b'{"k": 1'):
            with self.subTest(raw=raw[:30]):
                self.assertError(self.kv_set(raw), 400, "bad_request")
        self.assertEqual(self.kv_set(b'{"k": [1.5, -2e10, "\\u00e9", null]}').status, 201)
        self.assertEqual(self.request("POST", "/kv/commit").status, 204)
        self.assertEqual(self.request("GET", "/kv/k").json(), {"k": [1.5, -2e10, "\u00e9", None]})

    def test_json_nested_past_the_limit_is_400_and_commits_go_on(self):
        """One value the parser takes but that is read back deeper in the
        stack once failed every commit after it with a 500."""
        for opened, closed in ((b"[" * 100, b"]" * 100), (b"[" * 500, b"]" * 500), (b"[" * 950, b"]" * 950),
                               (b'[{"a": ' * 50, b"}]" * 50)):
            with self.subTest(depth=len(opened)):
                reply = self.kv_set(b'{"k": %s1%s}' % (opened, closed))
                self.assertError(reply, 400, "bad_request")
                self.assertIn("100 levels", reply.json()["message"])
        self.assertEqual(self.kv_set(b'{"k": %s1%s}' % (b"[" * 99, b"]" * 99)).status, 201)
        self.assertEqual(self.request("POST", "/kv/commit").status, 204)
        self.assertEqual(self.kv_set(b'{"j": 1}').status, 201)
        self.assertEqual(self.request("POST", "/kv/commit").status, 204)
        self.assertEqual(self.request("GET", "/kv/j").json(), {"j": 1})
        nested = self.request("GET", "/kv/k").json()["k"]
        for _ in range(99):
            nested = nested[0]
        self.assertEqual(nested, 1)

    def test_numbers_in_queries_and_forms_are_ascii_digits(self):
        for query in ("limit=%C2%B2", "limit=%D9%A5", "limit=" + "9" * 5000, "limit=-1", "limit=0x5"):
            with self.subTest(query=query[:30]):
                self.assertError(self.request("GET", "/data/r?" + query), 400, "bad_request")
        for value in ("\u00b2", "9" * 5000, "1.5"):
            body, ctype = multipart({"max_downloads": value, "file": ("a.txt", b"x", "text/plain")})
            with self.subTest(value=value[:10]):
                self.assertError(self.request("PUT", "/file", body, {"Content-Type": ctype}), 400, "bad_request")

    def test_ranges_of_thousands_of_digits_are_no_500(self):
        oid = self.request("POST", "/files", b"0123456789").json()["hash"]
        for header, status in (("bytes=" + "9" * 5000 + "-", 416), ("bytes=0-" + "9" * 5000, 206),
                               ("bytes=-" + "9" * 5000, 206), ("bytes=\u0661-\u0662", 200)):
            with self.subTest(header=header[:20]):
                answer = self.raw_exchange(b"GET /files/%s HTTP/1.1\r\nHost: localhost\r\nRange: %s\r\n"
                                           b"Connection: close\r\n\r\n" % (oid.encode(), header.encode("utf-8")))
                self.assertEqual(status_of(answer), status, answer[:200])
        self.assertEqual(sha256(b"0123456789"), oid)

    def test_a_5000_digit_content_length_is_413_not_a_dropped_connection(self):
        answer = self.raw_exchange(b"POST /files HTTP/1.1\r\nHost: localhost\r\nContent-Length: " + b"9" * 5000
                                   + b"\r\nConnection: close\r\n\r\nabc")
        self.assertEqual(status_of(answer), 413, answer[:200])
        self.assertEqual(json.loads(answer.split(b"\r\n\r\n", 1)[1])["error"], "too_large")
        self.assertTrue(re.search(rb"Content-Length: \d+\r\n", answer))


class SlowlorisTests(ServerCase):
    config_overrides = {"idle_timeout": 5.0, "head_timeout": 0.5, "min_body_rate": 1000.0, "max_connections": 2}

    def drip(self, first: bytes, drop: bytes) -> bytes:
        """Send ``first``, then ``drop`` every 0.1 s until the server closes
        (at most 5 s); return what it answered."""
        with socket.create_connection(("127.0.0.1", self.port), timeout=5) as sock:
            sock.sendall(first)
            deadline = time.monotonic() + 5
            answer = b""
            while time.monotonic() < deadline:
                readable, _, _ = select.select([sock], [], [], 0.1)
                if readable:
                    try:
                        piece = sock.recv(65536)
                    except ConnectionResetError:
                        return answer
                    if not piece:
                        return answer
                    answer += piece
                    continue
                try:
                    sock.sendall(drop)
                except (BrokenPipeError, ConnectionResetError):
                    return answer
            self.fail("the server kept a dripping connection for 5 s")

    def test_a_head_must_arrive_whole_within_the_head_timeout(self):
        started = time.monotonic()
        with self.assertLogs("filestoraged", "INFO") as logs:
            self.drip(b"GET /healthz HTTP/1.1\r\n", b"X-Drip: 1\r\n")
        self.assertLess(time.monotonic() - started, 4.5)  # the head or body deadline is 0.5 s
        self.assertIn("did not send its request head in time", "\n".join(logs.output))
        self.metrics_showing('filestoraged_requests_dropped_total{reason="slow_head"} 1')

    def test_a_body_must_keep_the_minimum_rate(self):
        started = time.monotonic()
        answer = self.drip(b"POST /files HTTP/1.1\r\nHost: localhost\r\nContent-Length: 100000\r\n\r\n", b"x")
        self.assertLess(time.monotonic() - started, 4.5)  # the head or body deadline is 0.5 s
        self.assertEqual(status_of(answer), 408, answer)
        self.assertEqual(os.listdir(os.path.join(self.data_dir, ".tmp")), [])
        self.metrics_showing('filestoraged_requests_dropped_total{reason="slow_body"} 1')

    def test_drippers_do_not_hold_the_connection_slots(self):
        for _ in range(2):
            self.drip(b"GET /healthz HTTP/1.1\r\n", b"X-Drip: 1\r\n")
        self.assertEqual(self.request("GET", "/healthz").status, 200)

    def test_a_quick_client_is_not_hurried(self):
        body = os.urandom(300000)
        reply = self.request("POST", "/files", body)
        self.assertEqual((reply.status, reply.json()["hash"]), (200, sha256(body)))


class UnreadAnswersTests(ServerCase):
    """Whole answers leave in the worker's turn (base/turns.py), but only what
    the socket takes at once: a client that asks and never reads must not
    keep the turn from everyone else."""

    def test_a_client_that_never_reads_its_answers_does_not_stall_the_others(self):
        body = os.urandom(1024)
        oid = self.request("POST", "/files", body).json()["hash"]
        for _ in range(2):  # the second answer is a ready-made one
            self.assertEqual(self.request("GET", "/files/" + oid).body, body)
        stuck = socket.socket()
        self.addCleanup(stuck.close)
        stuck.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        stuck.connect(("127.0.0.1", self.port))
        stuck.setblocking(False)
        asks = ("GET /files/%s HTTP/1.1\r\nHost: localhost\r\n\r\n" % oid).encode() * 64
        # Ask until nothing more is taken for half a second: the buffers both
        # ways are full and the handler waits in its write.
        deadline, full_since = time.monotonic() + 20, None
        while full_since is None or time.monotonic() - full_since < 0.5:
            self.assertLess(time.monotonic(), deadline, "the server kept taking requests it could not answer")
            try:
                stuck.send(asks)
                full_since = None
            except BlockingIOError:
                full_since = full_since or time.monotonic()
                select.select([], [stuck], [], 0.1)
        started = time.monotonic()
        conn = self.connection(timeout=5)  # the stuck write's own timeout is 30 s
        for _ in range(3):
            self.assertEqual(self.request("GET", "/files/" + oid, conn=conn).body, body)
        self.assertEqual(self.request("GET", "/healthz", conn=conn).status, 200)
        self.assertLess(time.monotonic() - started, 5)


class UnknownNamesTests(ServerCase):
    """A typo is a 400 naming it (and the closest known name), on every
    face, never a silent default: ``-F pasword=x`` must not make a link
    without a password."""

    def test_share_link_form_typos_are_400(self):
        for field, hint in (("pasword", "password"), ("max_download", "max_downloads"),
                            ("expires", "expires_in")):
            with self.subTest(field=field):
                body, ctype = multipart({"file": ("a.txt", b"secret", "text/plain"), field: "5"})
                reply = self.request("POST", "/file", body, {"Content-Type": ctype})
                self.assertError(reply, 400, "bad_request")
                self.assertIn("unknown form field '%s' (did you mean %s?)" % (field, hint), reply.json()["message"])

    def test_a_field_after_the_file_part_is_checked_and_stores_nothing(self):
        """A form's fields after its file are read too: a typo there (or a
        second file) is the same 400, and the refused upload keeps nothing."""
        data = payload(200000)
        forms = ({"file": ("a.bin", data, "text/plain"), "pasword": "x"},
                 {"file": ("a.bin", data, "text/plain"), "password": "x", "max_downloads": "0"})
        for path in ("/files", "/file"):
            for fields in forms[:1] if path == "/files" else forms:
                with self.subTest(path=path, fields=sorted(fields)):
                    body, ctype = multipart(fields)
                    reply = self.request("POST", path, body, {"Content-Type": ctype})
                    self.assertError(reply, 400, "bad_request")
                    self.assertEqual(self.stored_objects(), [])
        second = multipart({"file": ("a.bin", data, "text/plain"), "token": "t"})[0].replace(
            b'name="token"', b'name="file"; filename="b.bin"')
        reply = self.request("POST", "/files", second, {"Content-Type": multipart({})[1]})
        self.assertIn("more than one 'file' part", reply.json()["message"])
        body, ctype = multipart({"file": ("a.bin", data, "text/plain"), "password": "x", "expires_in": "60"})
        link = self.request("POST", "/file", body, {"Content-Type": ctype})
        self.assertEqual(link.status, 201, link)  # the page's own fields after the file still count
        self.assertEqual(self.request("GET", urlsplit(link.json()["url"]).path).status, 401)

    def test_query_parameter_typos_are_400_on_every_face(self):
        data = b"query typos"
        self.assertEqual(self.request("PUT", "/data/photos", data).status, 201)
        reply = self.request("GET", "/data/photos?limt=5")
        self.assertError(reply, 400, "bad_request")
        self.assertIn("'limt' (did you mean limit?)", reply.json()["message"])
        self.assertEqual(self.request("GET", "/data/photos?limit=5&after=").status, 200)
        for path in ("/files/" + sha256(data) + "?x=1", "/kv/k?v=2", "/healthz?verbose=1", "/files?name=a"):
            with self.subTest(path=path):
                self.assertError(self.request("GET" if "files?" not in path else "POST", path, b"x"), 400,
                                 "bad_request")
        body, ctype = multipart({"fiel": "y", "file": ("a.txt", b"x", "text/plain")})
        self.assertError(self.request("POST", "/files", body, {"Content-Type": ctype}), 400, "bad_request")


class CutTransfersLoggedTests(ServerCase):
    """A transfer the client cut is logged as what it was: status 499 with
    the bytes that actually went out, and counted as client_gone."""

    def access_lines(self, logs) -> str:
        return "\n".join(line for line in logs.output if "filestoraged.access" in line)

    def dropped(self) -> int:
        text = self.request("GET", "/metrics").body.decode()
        found = re.search(r'^filestoraged_requests_dropped_total\{reason="client_gone"\} (\d+)$', text, re.M)
        return int(found.group(1)) if found else 0

    def test_a_download_cut_after_a_mebibyte_is_logged_with_what_was_sent(self):
        oid = self.request("POST", "/files", payload(24 * MIB, seed=81)).json()["hash"]
        with self.assertLogs("filestoraged", "INFO") as logs:
            sock = socket.create_connection(("127.0.0.1", self.port), timeout=10)
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 64 * 1024)
            sock.sendall(("GET /files/%s HTTP/1.1\r\nHost: localhost\r\n\r\n" % oid).encode())
            received = 0
            while received < MIB:
                received += len(sock.recv(65536))
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            sock.close()  # a reset, as a client that gives up
            wait_until(lambda: " 499 " in self.access_lines(logs), "the cut download is logged")
        line = self.access_lines(logs)
        sent = int(re.search(r'"GET /files/%s" 499 (\d+) ' % oid, line).group(1))
        self.assertGreaterEqual(sent, MIB // 2)  # what left (pieces of up to 512 KiB), not 0
        self.assertLess(sent, 24 * MIB)
        self.assertIn("went away after", "\n".join(logs.output))
        self.assertEqual(self.dropped(), 1)

    def test_an_upload_cut_mid_body_is_logged_499_not_400(self):
        with self.assertLogs("filestoraged", "INFO") as logs:
            with socket.create_connection(("127.0.0.1", self.port), timeout=10) as sock:
                sock.sendall(b"POST /files HTTP/1.1\r\nHost: localhost\r\nContent-Length: %d\r\n\r\n" % MIB
                             + b"x" * 1000)
            wait_until(lambda: "POST /files" in self.access_lines(logs), "the cut upload is logged")
        self.assertIn('"POST /files" 499 0 ', self.access_lines(logs))
        self.assertEqual(self.dropped(), 1)
        self.assertEqual(self.stored_files(), [])
