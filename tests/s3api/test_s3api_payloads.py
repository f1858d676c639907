"""An S3 upload's body in each payload mode, by hand: what is stored is the
object's bytes alone (never the aws-chunked framing), and a body that fails
any check (a chunk signature, the trailer's, a checksum, Content-MD5, the
declared SHA-256) is refused with S3's code and stores nothing."""

from __future__ import annotations

import base64
import hashlib
import http.client
import socket
import zlib
from datetime import datetime, timezone

from filestoraged.wire import sigv4

from ..s3api_support import REGION, S3ApiCase, aws_chunked, utc_stamp
from ..support import payload, sha256


class PayloadTests(S3ApiCase):
    def setUp(self) -> None:
        super().setUp()
        self.pair = self.key_pair()
        self.assertEqual(self.s3("PUT", "/upl", key_pair=self.pair).status, 200)
        self.data = payload(100000, 7)

    def stored(self, key: str):
        """What the key names now (its bytes), None if nothing."""
        entry = self.app.keys.get("upl", key)
        if entry is None:
            return None
        from filestoraged.storage.names import repository

        with self.app.backend.open(repository("upl"), entry.oid) as obj:
            return obj.read_all()

    def nothing_stored(self, key: str) -> None:
        self.assertIsNone(self.stored(key))
        from filestoraged.storage.names import repository

        self.assertEqual(self.app.backend.list(repository("upl")), [])

    def streamed(self, key: str, mode: str, body_of, headers=None, encoding: bool = True):
        """PUT ``key`` with ``mode``; ``body_of(seed, stamp)`` frames the body
        once the request's own signature (the chunks' seed) is known."""
        now = datetime.now(timezone.utc)
        stamp = utc_stamp(now)
        headers = dict(headers or {}, **{"x-amz-decoded-content-length": str(len(self.data))})
        if encoding:
            headers["Content-Encoding"] = "aws-chunked"
        # The framed body's length is signed (Content-Length): frame once to learn it.
        length = len(body_of("0" * 64, stamp))
        headers["Content-Length"] = str(length)
        signer = sigv4.Signer(self.pair[0], self.pair[1], REGION)
        path = "/upl/" + key
        signed = signer.sign("PUT", "127.0.0.1:%d" % self.s3_port, path, {}, headers, mode, now)
        seed = signed["Authorization"].rsplit("Signature=", 1)[1]
        body = body_of(seed, stamp)
        self.assertEqual(len(body), length)
        conn = http.client.HTTPConnection("127.0.0.1", self.s3_port, timeout=30)
        self.addCleanup(conn.close)
        conn.putrequest("PUT", path, skip_host=True, skip_accept_encoding=True)
        for name, value in signed.items():
            conn.putheader(name, value)
        conn.endheaders(body)
        response = conn.getresponse()
        return response.status, response.read()

    def test_a_declared_sha256_is_checked_against_the_object_id(self):
        reply = self.s3("PUT", "/upl/good", self.data, key_pair=self.pair)
        self.assertEqual(reply.status, 200, reply)
        self.assertEqual(self.stored("good"), self.data)
        reply = self.s3("PUT", "/upl/bad", self.data, key_pair=self.pair, payload=sha256(b"other bytes"))
        self.assertS3Error(reply, 400, "XAmzContentSHA256Mismatch")
        self.assertIsNone(self.stored("bad"))
        self.assertEqual(self.s3("PUT", "/upl/free", self.data, key_pair=self.pair, payload="UNSIGNED-PAYLOAD").status,
                         200)
        self.assertEqual(self.stored("free"), self.data)

    def test_signed_chunks_are_taken_off_and_each_is_checked(self):
        for encoding in (True, False):  # restic's minio-go sends them without Content-Encoding: aws-chunked
            status, said = self.streamed("chunked", "STREAMING-AWS4-HMAC-SHA256-PAYLOAD",
                                         lambda seed, stamp: aws_chunked(self.data, 8192, self.pair, seed, stamp),
                                         encoding=encoding)
            self.assertEqual(status, 200, said)
            self.assertEqual(self.stored("chunked"), self.data)

        def tampered(seed, stamp):
            body = bytearray(aws_chunked(self.data, 8192, self.pair, seed, stamp))
            body[len(body) // 2] ^= 1  # a byte of a chunk in the middle
            return bytes(body)

        status, said = self.streamed("tampered", "STREAMING-AWS4-HMAC-SHA256-PAYLOAD", tampered)
        self.assertEqual(status, 400, said)
        self.assertIn(b"<Code>SignatureDoesNotMatch</Code>", said)
        self.assertIsNone(self.stored("tampered"))

    def test_trailers_carry_checksums_signed_or_not(self):
        crc = base64.b64encode(zlib.crc32(self.data).to_bytes(4, "big")).decode()
        trailer = {"x-amz-trailer": "x-amz-checksum-crc32"}
        status, said = self.streamed("unsigned", "STREAMING-UNSIGNED-PAYLOAD-TRAILER", lambda seed, stamp: aws_chunked(
            self.data, 16384, None, seed, stamp, [("x-amz-checksum-crc32", crc)]), trailer)
        self.assertEqual(status, 200, said)
        self.assertEqual(self.stored("unsigned"), self.data)
        status, said = self.streamed("signed", "STREAMING-AWS4-HMAC-SHA256-PAYLOAD-TRAILER",
                                     lambda seed, stamp: aws_chunked(self.data, 16384, self.pair, seed, stamp,
                                                                     [("x-amz-checksum-crc32", crc)], True), trailer)
        self.assertEqual(status, 200, said)
        self.assertEqual(self.stored("signed"), self.data)
        wrong = base64.b64encode(b"\0\0\0\0").decode()
        status, said = self.streamed("wrong", "STREAMING-UNSIGNED-PAYLOAD-TRAILER", lambda seed, stamp: aws_chunked(
            self.data, 16384, None, seed, stamp, [("x-amz-checksum-crc32", wrong)]), trailer)
        self.assertEqual(status, 400, said)
        self.assertIn(b"<Code>BadDigest</Code>", said)
        self.assertIsNone(self.stored("wrong"))

        def forged(seed, stamp):  # the checksum changed after signing: the trailer's signature is wrong
            good = aws_chunked(self.data, 16384, self.pair, seed, stamp, [("x-amz-checksum-crc32", crc)], True)
            return good.replace(crc.encode(), wrong.encode())

        status, said = self.streamed("forged", "STREAMING-AWS4-HMAC-SHA256-PAYLOAD-TRAILER", forged, trailer)
        self.assertEqual(status, 400, said)
        self.assertIsNone(self.stored("forged"))

    def test_content_md5_and_checksum_headers_are_checked(self):
        md5 = base64.b64encode(hashlib.md5(self.data).digest()).decode()
        sha1 = base64.b64encode(hashlib.sha1(self.data).digest()).decode()
        for name, value in (("Content-MD5", md5), ("x-amz-checksum-sha1", sha1)):
            reply = self.s3("PUT", "/upl/ok", self.data, {name: value}, key_pair=self.pair)
            self.assertEqual(reply.status, 200, reply)
        for name, value in (("Content-MD5", base64.b64encode(b"x" * 16).decode()),
                            ("x-amz-checksum-sha1", base64.b64encode(b"x" * 20).decode()),
                            ("x-amz-checksum-sha256", base64.b64encode(b"x" * 32).decode())):
            reply = self.s3("PUT", "/upl/bad", self.data, {name: value}, key_pair=self.pair)
            self.assertS3Error(reply, 400, "BadDigest")
        self.assertIsNone(self.stored("bad"))
        reply = self.s3("PUT", "/upl/c", self.data, {"x-amz-checksum-crc32c": "AAAAAA=="}, key_pair=self.pair)
        self.assertS3Error(reply, 400, "InvalidRequest")
        self.assertIn(b"crc32, sha1 or sha256", reply.body)

    def without_payload_header(self, method: str, path: str, body: bytes, headers=None):
        """A request signed as curl --aws-sigv4 (7.x) signs it: no
        x-amz-content-sha256, the canonical request over an empty body's
        SHA-256; sent with ``headers`` besides (unsigned)."""
        stamp = datetime.now(timezone.utc).strftime("%Y%m%dT%H%M%SZ")
        host = "127.0.0.1:%d" % self.s3_port
        canonical = sigv4.canonical_request(method, path, "", {"host": host, "x-amz-date": stamp},
                                            hashlib.sha256(b"").hexdigest())
        scope = "%s/%s/s3/aws4_request" % (stamp[:8], REGION)
        key = sigv4.signing_key(self.pair[1], stamp[:8], REGION, "s3")
        authorization = "AWS4-HMAC-SHA256 Credential=%s/%s, SignedHeaders=host;x-amz-date, Signature=%s" % (
            self.pair[0], scope, sigv4.signature(key, sigv4.string_to_sign(stamp, scope, canonical)))
        conn = http.client.HTTPConnection("127.0.0.1", self.s3_port, timeout=30)
        try:
            conn.request(method, path, body, dict(headers or {}, **{"x-amz-date": stamp,
                                                                    "Authorization": authorization}))
            reply = conn.getresponse()
            return reply.status, reply.read()
        finally:
            conn.close()

    def test_signed_without_a_payload_header_as_curl_signs(self):
        """The payload is then an empty body's: a GET or DELETE passes, a
        body is refused (nothing stored) unless the header says how it is
        sent, as curl is told with -H 'x-amz-content-sha256: UNSIGNED-PAYLOAD'."""
        status, said = self.without_payload_header("PUT", "/upl/curl", self.data)
        self.assertEqual(status, 400)
        self.assertIn(b"<Code>XAmzContentSHA256Mismatch</Code>", said)
        self.assertIn(b"UNSIGNED-PAYLOAD", said)
        self.nothing_stored("curl")
        status, said = self.without_payload_header("PUT", "/upl/curl", self.data,
                                                   {"x-amz-content-sha256": "UNSIGNED-PAYLOAD"})
        self.assertEqual(status, 403, said)  # the header is not what was signed: it must be signed too
        self.assertEqual(self.s3("PUT", "/upl/curl", self.data, key_pair=self.pair, payload="UNSIGNED-PAYLOAD"
                                 ).status, 200)
        self.assertEqual(self.without_payload_header("GET", "/upl/curl", b""), (200, self.data))
        self.assertEqual(self.without_payload_header("DELETE", "/upl/curl", b"")[0], 204)
        self.assertIsNone(self.stored("curl"))

    def test_a_refusal_comes_before_the_body(self):
        """Expect: 100-continue: a key that may not write is answered 403
        before a byte of its body is sent (it never gets 100 Continue)."""
        reader = self.key_pair("data:upl:read")
        signer = sigv4.Signer(reader[0], reader[1], REGION)
        for size in (10 << 20, 123):  # a small body too: it was read (after a 100) to keep the connection
            with self.subTest(size=size):
                headers = signer.sign("PUT", "127.0.0.1:%d" % self.s3_port, "/upl/big", {},
                                      {"Content-Length": str(size), "Expect": "100-continue"}, "UNSIGNED-PAYLOAD")
                head = "PUT /upl/big HTTP/1.1\r\n" + "".join("%s: %s\r\n" % pair for pair in headers.items())
                with socket.create_connection(("127.0.0.1", self.s3_port), timeout=10) as sock:
                    sock.sendall(head.encode() + b"\r\n")
                    answer = b""
                    while True:  # to the end: the server closes, as the body never comes
                        piece = sock.recv(65536)
                        if not piece:
                            break
                        answer += piece
                self.assertTrue(answer.startswith(b"HTTP/1.1 403"), answer[:100])
                self.assertIn(b"<Code>AccessDenied</Code>", answer)
                self.assertIn(b"Connection: close", answer)

    def test_a_body_over_the_limit_is_refused_from_its_header(self):
        self.config = self.config.__class__(**dict(self.config.__dict__, max_size=50000))
        self.restart_server()
        self.pair = self.key_pair()
        self.assertEqual(self.s3("HEAD", "/upl", key_pair=self.pair).status, 200)  # made before the restart
        status, said = self.streamed("big", "STREAMING-UNSIGNED-PAYLOAD-TRAILER",
                                     lambda seed, stamp: aws_chunked(self.data, 8192, None, seed, stamp))
        self.assertEqual(status, 413, said)
        self.assertIn(b"<Code>EntityTooLarge</Code>", said)
