"""HTTPS end to end with a certificate the test makes (Debian's openssl)."""

from __future__ import annotations

import http.client
import os
import shutil
import socket
import ssl
import subprocess
import sys
import tempfile
import time
import unittest

from ..support import MIB, ROOT, ServerCase, free_port, payload, required, sha256, wait_until


def make_certificate(folder: str) -> tuple:
    cert, key = os.path.join(folder, "cert.pem"), os.path.join(folder, "key.pem")
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", key, "-out", cert,
                    "-days", "1", "-subj", "/CN=127.0.0.1", "-addext", "subjectAltName=IP:127.0.0.1"],
                   check=True, capture_output=True, timeout=60)
    return cert, key


# bin/test installs openssl; CI (FILESTORAGED_REQUIRE_OPENSSL=1) must not skip quietly.
@unittest.skipUnless(shutil.which("openssl") or required("OPENSSL"),
                     "needs the openssl command")
class TlsServerCase(ServerCase):
    """A server with a certificate made for the class (``tls_overrides``: more settings)."""

    tls_overrides: dict = {}

    @classmethod
    def setUpClass(cls) -> None:
        cls.folder = tempfile.mkdtemp(prefix="fsd-tls-")
        cls.cert, cls.key = make_certificate(cls.folder)
        cls.config_overrides = {"tls_cert": cls.cert, "tls_key": cls.key, **cls.tls_overrides}

    @classmethod
    def tearDownClass(cls) -> None:
        shutil.rmtree(cls.folder, ignore_errors=True)


class TlsTests(TlsServerCase):

    def https(self) -> http.client.HTTPSConnection:
        context = ssl.create_default_context(cafile=self.cert)
        conn = http.client.HTTPSConnection("127.0.0.1", self.port, context=context, timeout=30)
        self.addCleanup(conn.close)
        return conn

    def test_every_face_over_https_with_keep_alive_and_verified_downloads(self):
        conn = self.https()
        data = payload(5 * MIB + 7, seed=41)
        conn.request("POST", "/files", data)
        reply = conn.getresponse()
        body = reply.read()
        self.assertEqual(reply.status, 200, body)
        self.assertIn(b'"url":"https://127.0.0.1:%d/files/' % self.port, body)
        for _ in range(2):  # on the same connection, the second read takes the block path
            conn.request("GET", "/files/" + sha256(data))
            reply = conn.getresponse()
            self.assertEqual(sha256(reply.read()), sha256(data))
        conn.request("GET", "/files/" + sha256(data), headers={"Range": "bytes=1048576-2097151"})
        reply = conn.getresponse()
        self.assertEqual((reply.status, reply.read()), (206, data[MIB:2 * MIB]))
        conn.request("POST", "/kv/set", b'{"tls": true}')
        self.assertEqual(conn.getresponse().read(), b'{"tls":true}\n')

    def test_old_protocols_and_plain_http_are_refused(self):
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
        context.load_verify_locations(self.cert)
        context.maximum_version = ssl.TLSVersion.TLSv1_1
        conn = http.client.HTTPSConnection("127.0.0.1", self.port, context=context, timeout=10)
        with self.assertRaises((ssl.SSLError, OSError)):
            conn.request("GET", "/healthz")
        conn.close()
        plain = http.client.HTTPConnection("127.0.0.1", self.port, timeout=10)
        plain.request("GET", "/healthz")
        answer = plain.getresponse()  # as nginx's 497: told, in plain text, to use HTTPS
        self.assertEqual((answer.status, answer.read()), (400, b"This port speaks HTTPS: use https:// URLs.\n"))
        plain.close()
        conn = self.https()
        conn.request("GET", "/healthz")
        self.assertEqual(conn.getresponse().status, 200)  # the server still serves

    def test_a_bad_certificate_is_a_one_line_start_up_error(self):
        with open(os.path.join(self.folder, "junk.pem"), "w") as handle:
            handle.write("not a certificate")
        run = subprocess.run([sys.executable, "-m", "filestoraged", "--port", str(free_port()), "--data-dir",
                              os.path.join(self.folder, "store"), "--tls-cert", os.path.join(self.folder, "junk.pem"),
                              "--tls-key", self.key], env=dict(os.environ, PYTHONPATH=ROOT),
                             capture_output=True, text=True, timeout=60)
        self.assertEqual(run.returncode, 2)
        lines = [line for line in run.stderr.splitlines() if "filestoraged:" in line]
        self.assertEqual(len(lines), 1, run.stderr)
        self.assertIn("junk.pem", lines[0])
        self.assertNotIn("Traceback", run.stderr)


class SilentConnectionsOverTlsTests(TlsServerCase):
    tls_overrides = {"max_connections": 5}

    def test_connections_that_never_said_hello_give_their_slots_up_first(self):
        silent = [socket.create_connection(("127.0.0.1", self.port), timeout=10) for _ in range(5)]
        for sock in silent:
            self.addCleanup(sock.close)
        # They hold every slot, waiting for their ClientHello.
        wait_until(lambda: len(self.server.waiting) == 5, "the silent connections hold every slot")
        context = ssl.create_default_context(cafile=self.cert)
        started = time.monotonic()
        conn = http.client.HTTPSConnection("127.0.0.1", self.port, context=context, timeout=30)
        self.addCleanup(conn.close)
        conn.request("GET", "/healthz")
        reply = conn.getresponse()
        reply.read()
        self.assertEqual(reply.status, 200)  # a silent connection gave up its slot
        self.assertLess(time.monotonic() - started, 3.5)  # not the 4-19 s it waited for a 503
