"""The hand-written request-head parser and body framing, on bad input, over
raw sockets: every malformed head or body is a clean 4xx (never a 500, a
dropped connection, or a body read as the next request)."""

from __future__ import annotations

import io
import re
import socket
import unittest

from filestoraged.errors import FileStoreError
from filestoraged.wire.request_head import Headers, read_headers

from ..support import ServerCase, sha256, until_closed


def status_of(answer: bytes) -> int:
    return int(answer.split(b" ", 2)[1]) if answer.startswith(b"HTTP/1.1 ") else 0


class HeadTests(ServerCase):
    def exchange(self, head: bytes, body: bytes = b"") -> bytes:
        return self.raw_exchange(head + body)

    def assertStatus(self, answer: bytes, status: int) -> None:
        self.assertEqual(status_of(answer), status, answer[:300])
        if status >= 400:
            self.assertIn(b"Content-Type: application/json", answer)

    def test_a_request_line_over_64_kib_is_414(self):
        self.assertStatus(self.exchange(b"GET /" + b"a" * 70000 + b" HTTP/1.1\r\n\r\n"), 414)

    def test_other_http_versions_are_505_and_garbage_is_400(self):
        self.assertStatus(self.exchange(b"GET /healthz HTTP/2.0\r\nHost: localhost\r\n\r\n"), 505)
        self.assertStatus(self.exchange(b"GET /healthz HTTP/3\r\n\r\n"), 505)
        self.assertStatus(self.exchange(b"GET /healthz FTP/1.1\r\n\r\n"), 400)
        self.assertStatus(self.exchange(b"GET  /healthz HTTP/1.1\r\n\r\n"), 400)
        self.assertStatus(self.exchange(b"GET\r\n\r\n"), 400)

    def test_lowercase_and_odd_methods_are_400(self):
        for line in (b"get /healthz HTTP/1.1", b"Get /healthz HTTP/1.1", b"GE-T /healthz HTTP/1.1",
                     b"G\xc3\xa9T /healthz HTTP/1.1"):
            with self.subTest(line=line):
                self.assertStatus(self.exchange(line + b"\r\nHost: localhost\r\nConnection: close\r\n\r\n"), 400)

    def test_obsolete_line_folding_is_400(self):
        for fold in (b" folded", b"\tfolded"):
            with self.subTest(fold=fold):
                self.assertStatus(self.exchange(b"GET /healthz HTTP/1.1\r\nX-A: a\r\n" + fold + b"\r\n\r\n"), 400)

    def test_header_names_must_be_tokens(self):
        for line in (b"X A: b", b"X-A : b", b": b", b"no colon", b"Fo(o): b", b"X\x01Y: b", b"X/Y: b", b"X@: b"):
            with self.subTest(line=line):
                self.assertStatus(self.exchange(b"GET /healthz HTTP/1.1\r\n" + line + b"\r\n\r\n"), 400)
        # ... and every token is one: tchar = "!" / "#" / "$" / "%" / "&" / "'" / "*" / "+" / "-" / "." /
        # "^" / "_" / "`" / "|" / "~" / DIGIT / ALPHA (RFC 9110, 5.6.2)
        for name in (b"!#$%&'*+-.^_`|~", b"X-Custom-9", b"a", b"Z" * 200):
            with self.subTest(name=name):
                self.assertStatus(self.exchange(b"GET /healthz HTTP/1.1\r\nHost: localhost\r\n" + name
                                                + b": v\r\nConnection: close\r\n\r\n"), 200)

    def test_the_head_follows_the_rfc_grammar(self):
        """RFC 9110/9112 (token, field-value, request-target), as h11's
        _abnf.py names the rules: everything else is 400."""
        cases = [
            b"GET /healthz HTTP/1.1\r\nFo(o): b\r\n",  # a name that is not a token
            b"GET /healthz HTTP/1.1\r\nX\x01Y: b\r\n",
            b"GET /healthz HTTP/1.1\r\nX\xc9: b\r\n",
            b"G\xc9T /healthz HTTP/1.1\r\n",  # a method that is not ASCII
            b"POST /files HTTP/1.1\r\nTransfer-Encoding: chunked\x0b\r\n",  # not chunked
            b"POST /files HTTP/1.1\r\nTransfer-Encoding: \x85chunked\r\n",
            b"POST /files HTTP/1.1\r\nContent-Length: 5\x1f\r\n",  # not 5
            b"GET /healthz HTTP/1.1\r\nX-A: a\x1bb\r\n",  # a control in a value
            b"GET /healthz HTTP/1.1\r\nX-A: a\x7f\r\n",
            b"GET /files/\x1b[31mred HTTP/1.1\r\n",  # controls in the target
            b"GET /files/a\x1cb HTTP/1.1\r\n",
            b"GET /files/\xe9 HTTP/1.1\r\n",
        ]
        for head in cases:
            with self.subTest(head=head):
                self.assertStatus(self.exchange(head + b"Host: localhost\r\nConnection: close\r\n\r\nhello"), 400)
        # obs-text in a value is the grammar's (it is kept, not refused), and tokens may hold !#$%&'*+.^_`|~
        self.assertStatus(self.exchange(b"GET /healthz HTTP/1.1\r\nX-A: caf\xe9\r\nX!#$%&'*+.^_`|~: 1\r\n"
                                        b"Host: localhost\r\nConnection: close\r\n\r\n"), 200)

    def test_the_access_log_escapes_what_is_not_printable(self):
        from filestoraged.web.exchange import log_target as _redact

        self.assertEqual(_redact("/a\x1b[31m?password=x"), "/a\\x1b[31m?[redacted]")
        self.assertEqual(_redact("/caf\xe9"), "/caf\\xe9")
        self.assertEqual(_redact("/files/abc"), "/files/abc")

    def test_header_count_and_size_limits(self):
        many = b"".join(b"X-%d: v\r\n" % i for i in range(101))
        self.assertStatus(self.exchange(b"GET /healthz HTTP/1.1\r\n" + many + b"\r\n"), 400)
        long_line = b"X-A: " + b"v" * 70000 + b"\r\n"
        self.assertStatus(self.exchange(b"GET /healthz HTTP/1.1\r\n" + long_line + b"\r\n"), 431)
        # The whole head is bounded too: 70 lines of 1 KiB are over 64 KiB.
        kib_lines = b"".join(b"X-%d: %s\r\n" % (i, b"v" * 1000) for i in range(70))
        self.assertStatus(self.exchange(b"GET /healthz HTTP/1.1\r\n" + kib_lines + b"\r\n"), 431)
        fine = b"".join(b"X-%d: v\r\n" % i for i in range(90))
        self.assertStatus(self.exchange(b"GET /healthz HTTP/1.1\r\nConnection: close\r\n" + fine + b"\r\n"), 200)


class FramingTests(ServerCase):
    def post(self, framing: bytes, body: bytes) -> bytes:
        """Send a POST, end the sending side (so a body that stops early ends
        there), and read the answer until the server closes."""
        with socket.create_connection(("127.0.0.1", self.port), timeout=10) as sock:
            sock.sendall(b"POST /files HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n" + framing + b"\r\n" + body)
            sock.shutdown(socket.SHUT_WR)
            answer = b""
            while True:
                piece = sock.recv(65536)
                if not piece:
                    return answer
                answer += piece

    def assertRefused(self, answer: bytes, status: int = 400) -> None:
        self.assertEqual(status_of(answer), status, answer[:300])
        self.assertEqual(self.stored_objects(), [])

    def test_an_empty_body_that_is_read_is_continued_first(self):
        """Expect: 100-continue on an empty body: 100 Continue, then the
        answer. A final answer alone is allowed, but the aws cli's botocore
        then reads the next answer on that connection wrong."""
        answer = self.post(b"Content-Length: 0\r\nExpect: 100-continue\r\n", b"")
        self.assertTrue(answer.startswith(b"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 200 "), answer[:80])

    def test_content_length_with_transfer_encoding_is_400(self):
        self.assertRefused(self.post(b"Content-Length: 5\r\nTransfer-Encoding: chunked\r\n",
                                     b"5\r\nhello\r\n0\r\n\r\n"))

    def test_two_different_content_lengths_are_400(self):
        self.assertRefused(self.post(b"Content-Length: 5\r\nContent-Length: 6\r\n", b"hello!"))

    def test_content_lengths_that_are_not_ascii_digits_are_400(self):
        # b"\xb2" is "²" once the head is decoded as Latin-1: str.isdigit() says yes.
        for value in (b"\xb2", b"\xb9", b"\xd9\xa5", b"-5", b"+5", b"5.0", b"0x5", b"5 5", b""):
            with self.subTest(value=value):
                self.assertRefused(self.post(b"Content-Length: " + value + b"\r\n", b"hello"))

    def test_huge_content_lengths_are_413(self):
        for digits in (19, 5000):
            with self.subTest(digits=digits):
                self.assertRefused(self.post(b"Content-Length: " + b"9" * digits + b"\r\n", b"x"), 413)

    def test_chunk_sizes_are_hex_digits_only(self):
        for size in (b"0x5", b"1_0", b"+5", b"-5", b" 5", b"", b"g", b"1" * 17):
            with self.subTest(size=size):
                self.assertRefused(self.post(b"Transfer-Encoding: chunked\r\n", size + b"\r\nhello\r\n0\r\n\r\n"))

    def test_chunk_sizes_with_extensions_and_upper_case(self):
        data = b"0123456789abcdef!"
        answer = self.post(b"Transfer-Encoding: chunked\r\n", b"B;name=value\r\n" + data[:11] + b"\r\n6\r\n"
                           + data[11:] + b"\r\n0\r\n\r\n")
        self.assertEqual(status_of(answer), 200, answer)
        self.assertIn(sha256(data).encode(), answer)

    def test_missing_crlfs_are_400(self):
        self.assertRefused(self.post(b"Transfer-Encoding: chunked\r\n", b"5\r\nhelloX0\r\n\r\n"))
        self.assertRefused(self.post(b"Transfer-Encoding: chunked\r\n", b"5hello\r\n0\r\n\r\n"))
        self.assertRefused(self.post(b"Transfer-Encoding: chunked\r\n", b"5\r\nhello\r\n"))  # ends early

    def test_trailers_are_read_and_ignored(self):
        answer = self.post(b"Transfer-Encoding: chunked\r\n", b"5\r\nhello\r\n0\r\nX-Trailer: 1\r\n\r\n")
        self.assertEqual(status_of(answer), 200, answer)
        self.assertIn(sha256(b"hello").encode(), answer)

    def test_keep_alive_after_a_small_unread_body(self):
        with socket.create_connection(("127.0.0.1", self.port), timeout=10) as sock:
            # A GET with a body nobody reads: dropped, and the next request on
            # the same connection is parsed from the right place.
            sock.sendall(b"GET /healthz HTTP/1.1\r\nHost: localhost\r\nContent-Length: 24\r\n\r\n"
                         b"DELETE /files/x HTTP/1.1"
                         b"GET /healthz HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n")
            answer = until_closed(sock)
        # The status lines, read as lines: a body (the health answer's pid) may hold any digits.
        self.assertEqual(re.findall(rb"(?m)^HTTP/1\.1 (\d{3}) ", answer), [b"200", b"200"], answer)


class HeaderNamesTests(unittest.TestCase):
    def test_names_are_found_by_their_beginning_and_only_there(self):
        headers = Headers()
        for name, value in (("X-Amz-Meta-Colour", "blue"), ("Content-Type", "text/plain"),
                            ("X-Not-X-Amz-Meta-A", "x"), ("x-amz-meta-size", "x-amz-grant-read")):
            headers.add(name, value)
        self.assertEqual(headers.starting("x-amz-meta-"), ["x-amz-meta-colour", "x-amz-meta-size"])
        self.assertEqual(headers.starting("x-amz-grant-"), [])  # in a value, not a name
        headers.add("X-Amz-Grant-Read", "id=someone")  # after a search: found by the next
        self.assertEqual(headers.starting("x-amz-grant-"), ["x-amz-grant-read"])


class _Trickle(io.RawIOBase):
    """A client's bytes arriving one at a time."""

    def __init__(self, data: bytes) -> None:
        self._data = data

    def readable(self) -> bool:
        return True

    def readinto(self, buffer) -> int:
        if not self._data:
            return 0
        buffer[0], self._data = self._data[0], self._data[1:]
        return 1


class HeadPathsTests(unittest.TestCase):
    """A head that has arrived whole is read in one step, one still
    arriving line by line: both take the same heads to the same headers,
    and refuse the same ones the same way."""

    HEADS = [
        b"Host: a\r\nX:  y z \t\r\n\r\n", b"\r\n", b"A: 1\r\na: 2\r\nA:3\r\n\r\n", b"X:\r\n\r\n",
        b"X:\t \r\n\r\n", b"X: caf\xe9 \x85\r\n\r\n", b"X!#$%&'*+.^_`|~: 1\r\n\r\n",
        b"Host: a\nX: y\n\n", b"Host: a\r\nX: y\n\r\n",  # bare LFs, taken as line ends
        b"X: a\rb\r\n\r\n", b"X: \x00\r\n\r\n", b"X: a\x7f\r\n\r\n", b"X A: b\r\n\r\n", b": b\r\n\r\n",
        b"no colon\r\n\r\n", b"X: a\r\n folded\r\n\r\n", b"X\xc9: b\r\n\r\n",
        b"Transfer-Encoding: chunked\r\nContent-Length: 1\r\n\r\n", b"Transfer-Encoding: gzip\r\n\r\n",
        b"Host: a b\r\n\r\n", b"Host: [::1]:8080\r\n\r\n",
        b"".join(b"X-%d: v\r\n" % i for i in range(100)) + b"\r\n",
        b"".join(b"X-%d: v\r\n" % i for i in range(101)) + b"\r\n",
        b"".join(b"X-%d: %s\r\n" % (i, b"v" * 1000) for i in range(70)) + b"\r\n",
        b"X: a\r\r\n\r\n", b"X: a\n\r\n\r\n", b"X: a\tb\r\n\r\n", b"X: a:b: c\r\n\r\n", b"X: \x0b\r\n\r\n",
        b"X: \x1f\r\n\r\n", b"X: \xff\xa0\x80\r\n\r\n", b"X\x7f: a\r\n\r\n", b"X: a\r\n\r\n\r\n", b"X: a\r\nY\r\n\r\n",
    ]

    @staticmethod
    def outcome(raw: io.RawIOBase, budget: int = 65536):
        reader = io.BufferedReader(raw, 65536)
        try:
            headers = read_headers(reader, budget)
        except (FileStoreError, ConnectionError) as error:
            return type(error).__name__, str(error)
        return sorted(headers.items()), reader.read()

    def test_a_head_whole_and_a_head_arriving_are_read_alike(self):
        for head in self.HEADS:
            for budget in (65536, len(head), len(head) - 1):
                with self.subTest(head=head[:60], budget=budget):
                    whole = self.outcome(io.BytesIO(head + b"BODY"), budget)
                    self.assertEqual(whole, self.outcome(_Trickle(head + b"BODY"), budget))
        self.assertEqual(self.outcome(io.BytesIO(self.HEADS[0] + b"BODY")),
                         ([("Host", "a"), ("X", "y z")], b"BODY"))
        self.assertEqual(self.outcome(io.BytesIO(self.HEADS[2]))[0], [("A", "1, 2, 3")])

    def test_a_long_value_of_blanks_is_read_in_linear_time(self):
        head = b"X: " + b" " * 60000 + b"a\r\nY: " + b"\t" * 4000 + b"\r\n\r\n"
        self.assertEqual(self.outcome(io.BytesIO(head))[0], [("X", "a"), ("Y", "")])
