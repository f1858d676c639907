"""What the S3 API's tests share: a server with its S3 port on loopback
beside the main one, key pairs of tokens, boto3 clients, and requests
signed by hand (SigV4, aws-chunked bodies) for what no client sends."""

from __future__ import annotations

import hashlib
import http.client
import os
import shutil
import threading
import unittest
from datetime import datetime, timezone
from typing import Dict, List, Optional, Sequence, Tuple
from urllib.parse import quote

from filestoraged.access.s3keys import secret_of, server_key
from filestoraged.web.server import FileStoreServer, listen
from filestoraged.wire import sigv4

from .support import Reply, ServerCase, required

REGION = "us-east-1"


def boto3_or_skip(case: unittest.TestCase):
    """boto3, or the test skips (fails where ``FILESTORAGED_REQUIRE_S3_CLIENTS=1``)."""
    try:
        import boto3
    except ImportError:
        if required("S3_CLIENTS"):
            raise
        raise unittest.SkipTest("boto3 is not installed (bin/test installs it)")
    return boto3


def daemon_client(case: unittest.TestCase, port: int, key_pair: Tuple[str, str] = ("anyone", "anything")):
    """boto3 on a daemon's S3 port on loopback: path-style, SigV4, no retries
    (a failure is the test's to see), signed with ``key_pair``."""
    boto3 = boto3_or_skip(case)
    from botocore.config import Config

    return boto3.client("s3", endpoint_url="http://127.0.0.1:%d" % port, region_name=REGION,
                        aws_access_key_id=key_pair[0], aws_secret_access_key=key_pair[1],
                        config=Config(s3={"addressing_style": "path"}, signature_version="s3v4",
                                      retries={"max_attempts": 1}))


def tool_or_skip(name: str) -> str:
    """The path of a client program (aws, s3cmd from the venv; rclone, restic
    from Debian), or the test skips (fails where required)."""
    venv = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), ".venv", "bin", name)
    found = venv if os.access(venv, os.X_OK) else shutil.which(name)
    if found is None:
        if required("S3_CLIENTS"):
            raise AssertionError("%s is not installed (bin/test installs it)" % name)
        raise unittest.SkipTest("%s is not installed (bin/test installs it)" % name)
    return found


class S3ApiCase(ServerCase):
    """A server whose S3 API listens on its own port too (``s3_port``),
    under ``--auth all`` unless a case says otherwise."""

    config_overrides: Dict[str, object] = {"s3_api": "127.0.0.1:0", "auth": "all"}

    def start_server(self) -> None:
        super().start_server()
        self.s3_server = FileStoreServer(self.app, listen("127.0.0.1", 0), self.app.s3_site,
                                         self.server.connections)
        self.s3_port = self.s3_server.server_address[1]
        self.s3_url = "http://127.0.0.1:%d" % self.s3_port
        thread = threading.Thread(target=self.s3_server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
        thread.start()
        self.addCleanup(self._stop_s3, self.s3_server, thread)

    @staticmethod
    def _stop_s3(server, thread) -> None:
        if thread.is_alive():
            server.shutdown()
            server.server_close()

    def restart_server(self) -> None:
        self.s3_server.shutdown()
        self.s3_server.server_close()
        super().restart_server()

    def key_pair(self, *scopes: str, name: Optional[str] = None) -> Tuple[str, str]:
        """``(access key id, secret)`` of a new token with ``scopes`` (admin by default)."""
        token, _ = self.app.tokens.create(list(scopes) or ["admin"], name, s3=True)
        return token.s3_key, secret_of(server_key(self.config.s3_key_path), token.s3_key)

    def client(self, *scopes: str, key_pair: Optional[Tuple[str, str]] = None, **config):
        """A boto3 S3 client for the S3 port, path-style, SigV4, signed with
        a key pair of ``scopes`` (or ``key_pair``)."""
        boto3 = boto3_or_skip(self)
        from botocore.config import Config

        key_id, secret = key_pair or self.key_pair(*scopes)
        return boto3.client("s3", endpoint_url=self.s3_url, region_name=REGION, aws_access_key_id=key_id,
                            aws_secret_access_key=secret,
                            config=Config(s3={"addressing_style": "path"}, signature_version="s3v4",
                                          retries={"max_attempts": 1}, **config))

    def s3(self, method: str, path: str, body: bytes = b"", headers: Optional[Dict[str, str]] = None,
           query: Optional[Dict[str, str]] = None, key_pair: Optional[Tuple[str, str]] = None,
           payload: Optional[str] = None, now: Optional[datetime] = None) -> Reply:
        """One request to the S3 port, signed with ``key_pair`` (None:
        unsigned); ``payload``: the ``x-amz-content-sha256`` to sign (the
        body's SHA-256 by default)."""
        headers = dict(headers or {})
        encoded = quote(path, safe="/~")
        if key_pair is not None:
            signer = sigv4.Signer(key_pair[0], key_pair[1], REGION)
            headers = signer.sign(method, "127.0.0.1:%d" % self.s3_port, encoded, query or {}, headers,
                                  payload or hashlib.sha256(body).hexdigest(), now)
        return self.send(method, encoded + ("?" + sigv4.canonical_query(query) if query else ""), headers, body)

    def send(self, method: str, target: str, headers: Dict[str, str], body: bytes = b"") -> Reply:
        """One request to the S3 port as given (``target``: path and query,
        encoded), with Host and Content-Length unless ``headers`` have them."""
        headers = dict(headers)
        conn = http.client.HTTPConnection("127.0.0.1", self.s3_port, timeout=30)
        try:
            conn.putrequest(method, target, skip_host=True, skip_accept_encoding=True)
            headers.setdefault("Host", "127.0.0.1:%d" % self.s3_port)
            headers.setdefault("Content-Length", str(len(body)))
            for name, value in headers.items():
                conn.putheader(name, value)
            conn.endheaders(body)
            response = conn.getresponse()
            return Reply(response, response.read())
        finally:
            conn.close()

    def at_once(self, count: int, method: str, path: str, body: bytes, query) -> list:
        """The replies to ``count`` copies of one request, signed with an
        admin key pair, sent together."""
        pair = self.key_pair()
        replies, failures = [], []
        start = threading.Barrier(count)

        def send():
            try:
                start.wait(10)
                replies.append(self.s3(method, path, body, query=query, key_pair=pair))
            except BaseException as error:  # reported below
                failures.append(error)

        threads = [threading.Thread(target=send) for _ in range(count)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(60)
            self.assertFalse(thread.is_alive())
        self.assertEqual(failures, [])
        return replies

    def assertS3Error(self, reply: Reply, status: int, code: str) -> None:
        self.assertEqual(reply.status, status, reply)
        self.assertEqual(reply.headers["Content-Type"], "application/xml")
        self.assertIn(b"<Code>%s</Code>" % code.encode(), reply.body)
        self.assertIn(b"<RequestId>", reply.body)


class BotoCase(S3ApiCase):
    """An S3 API server and ``self.admin``, a boto3 client of an admin key
    pair; ``code_of`` says which S3 error a call ends in."""

    def setUp(self) -> None:
        boto3_or_skip(self)
        super().setUp()
        self.admin = self.client()
        import botocore.exceptions

        self.ClientError = botocore.exceptions.ClientError

    def code_of(self, call, *args, **kwargs) -> str:
        with self.assertRaises(self.ClientError) as raised:
            call(*args, **kwargs)
        return raised.exception.response["Error"]["Code"]


def aws_chunked(data: bytes, chunk: int, key_pair: Optional[Tuple[str, str]], seed: str, stamp: str,
                trailers: Sequence[Tuple[str, str]] = (), signed_trailer: bool = False) -> bytes:
    """``data`` framed as ``aws-chunked``: chunks of ``chunk`` bytes, signed
    from ``seed`` (the request's signature) when ``key_pair`` is given, then
    ``trailers`` (and their signature)."""
    key = None
    scope = "%s/%s/s3/aws4_request" % (stamp[:8], REGION)
    if key_pair is not None:
        key = sigv4.signing_key(key_pair[1], stamp[:8], REGION, "s3")
    out: List[bytes] = []
    previous = seed
    pieces = [data[i:i + chunk] for i in range(0, len(data), chunk)] + [b""]
    for piece in pieces:
        head = b"%x" % len(piece)
        if key is not None:
            previous = sigv4.chunk_signature(key, stamp, scope, previous, hashlib.sha256(piece).hexdigest())
            head += b";chunk-signature=" + previous.encode()
        out.append(head + b"\r\n" + piece + (b"\r\n" if piece else b""))
    if trailers:
        lines = b"".join(("%s:%s\n" % pair).encode() for pair in trailers)
        out.append(b"".join(("%s:%s\r\n" % pair).encode() for pair in trailers))
        if signed_trailer and key is not None:
            signature = sigv4.trailer_signature(key, stamp, scope, previous, lines)
            out.append(b"x-amz-trailer-signature:" + signature.encode() + b"\r\n")
    out.append(b"\r\n")
    return b"".join(out)


def utc_stamp(now: Optional[datetime] = None) -> str:
    return (now or datetime.now(timezone.utc)).strftime("%Y%m%dT%H%M%SZ")


class ChromiumBotoCase(BotoCase):
    """``BotoCase`` with ``cls.driver``, a headless Chromium for the class
    (``cls.downloads``: the folder it saves downloads in)."""

    @classmethod
    def setUpClass(cls) -> None:
        from .pages.test_browser import browser

        super().setUpClass()
        cls.driver, cls.downloads = browser()

    @classmethod
    def tearDownClass(cls) -> None:
        cls.driver.quit()
        shutil.rmtree(cls.downloads, ignore_errors=True)
        super().tearDownClass()
