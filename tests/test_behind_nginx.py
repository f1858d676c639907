"""The README's nginx server block, as written there, in front of a daemon
with ``--trusted-proxy``: uploads stream through, downloads arrive whole,
answer URLs name the proxy, and the access log names the client."""

from __future__ import annotations

import http.client
import os
import re
import shutil
import ssl
import tempfile

from .nginx_server import Nginx, documented_block, needs_nginx
from .support import MIB, ServerCase, payload, required, sha256
from .web.test_tls import make_certificate

def readme_server(daemon_port: int, cert: str, key: str) -> str:
    """The nginx ``server`` block of the README, pointed at ``daemon_port``,
    listening where the test's nginx listens, with the test's certificate."""
    block = documented_block("README.md", r"\n    (server \{\n.*?\n    \})\n")
    block = block.replace("127.0.0.1:8080", "127.0.0.1:%d" % daemon_port)
    block = block.replace("listen 443 ssl;", "listen 127.0.0.1:{port} ssl;")
    block = re.sub(r"ssl_certificate +\S+;", "ssl_certificate %s;" % cert, block)
    return re.sub(r"ssl_certificate_key +\S+;", "ssl_certificate_key %s;" % key, block)


class BehindNginxTests(ServerCase):
    # The README's recipe: --auth writes --trusted-proxy 127.0.0.1 (here the
    # default auto, which must come to the same).
    config_overrides = {"trusted_proxy": "127.0.0.1"}

    def setUp(self) -> None:
        needs_nginx()
        if not shutil.which("openssl"):
            if required("OPENSSL"):
                raise AssertionError("openssl is not installed (bin/test installs it)")
            self.skipTest("needs the openssl command")
        super().setUp()
        folder = tempfile.mkdtemp(prefix="fsd-nginx-cert-")
        self.addCleanup(shutil.rmtree, folder, True)
        os.chmod(folder, 0o755)  # nginx's workers read the certificate
        cert, key = make_certificate(folder)
        os.chmod(key, 0o644)
        nginx = Nginx(readme_server(self.port, cert, key))
        self.addCleanup(nginx.stop)
        self.proxy_port = nginx.port

    def connection(self) -> http.client.HTTPSConnection:
        """A client of the proxy, over TLS (the test's own certificate)."""
        context = ssl.create_default_context()
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
        return http.client.HTTPSConnection("127.0.0.1", self.proxy_port, timeout=60, context=context)

    def test_through_the_proxy_the_default_access_control_asks_for_tokens(self):
        """``--auth auto`` on loopback with a trusted proxy is ``writes``: a
        client anywhere reaches us through the loopback peer."""
        self.assertEqual(self.app.access.mode, "writes")

        def status(method, path, body=None):
            # A connection each: a refused body may end the proxy's connection.
            conn = self.connection()
            try:
                conn.request(method, path, body)
                reply = conn.getresponse()
                reply.read()
                return reply.status
            finally:
                conn.close()

        for method, path, body in (("POST", "/files", b"x"), ("DELETE", "/files/" + sha256(b"x"), None),
                                   ("POST", "/kv/set", b'{"k": 1}'), ("POST", "/kv/commit", None),
                                   ("GET", "/metrics", None), ("PUT", "/data/photos", b"x")):
            with self.subTest(method=method, path=path):
                self.assertEqual(status(method, path, body), 401)
        self.assertEqual(status("GET", "/healthz"), 200)

    def test_through_the_readme_location(self):
        conn = self.connection()
        self.addCleanup(conn.close)
        data = payload(6 * MIB + 5, seed=51)
        token = {"Authorization": "Bearer " + self.app.tokens.create(["files:write"])[1]}
        with self.assertLogs("filestoraged.access", "INFO") as logs:
            conn.request("POST", "/files", data, token)
            reply = conn.getresponse()
            body = reply.read()
            conn.request("GET", "/healthz")  # the first line is written by then
            conn.getresponse().read()
        self.assertEqual(reply.status, 200, body)
        self.assertIn(b'"url":"https://127.0.0.1:%d/files/%s"' % (self.proxy_port, sha256(data).encode()), body)
        self.assertTrue(logs.output[0].split(":", 2)[2].startswith("127.0.0.1 "), logs.output)
        for _ in range(2):  # the second read takes the block path
            conn.request("GET", "/files/" + sha256(data))
            self.assertEqual(sha256(conn.getresponse().read()), sha256(data))
