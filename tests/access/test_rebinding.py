"""DNS rebinding against a daemon that lets anyone in (``--auth off``, the
loopback default): a web page whose own name resolves to 127.0.0.1 sends
its requests with ``Host: <its name>``, and its script reads the answers.
Every face refuses a name the daemon does not know (421), on the main
port and the S3 API's; the names it knows (IP addresses, ``localhost``
and the names under it, ``--public-url``'s, ``--allowed-hosts``) are
served; a trusted proxy's ``X-Forwarded-Host`` is judged the same; with
access control on, no name is refused (a page of another name holds no
token and no console cookie)."""

from __future__ import annotations

import base64
import json
from urllib.parse import urlencode

from ..s3api_support import S3ApiCase
from ..support import sha256

ATTACKER = "rebind.attacker.example"


class RebindingCase(S3ApiCase):
    config_overrides = {"s3_api": "127.0.0.1:0", "auth": "off"}

    def setUp(self) -> None:
        super().setUp()
        self.assertEqual(self.s3("PUT", "/photos").status, 200)
        self.assertEqual(self.s3("PUT", "/photos/secret.jpg", b"private pixels").status, 200)

    def as_host(self, host: str, method: str, path: str, body: bytes = b"", headers=None, s3: bool = False):
        headers = dict(headers or {}, Host=host)
        if s3:
            return self.send(method, path, headers, body)
        return self.request(method, path, body, headers)

    def assertKeyThere(self) -> None:
        reply = self.s3("GET", "/photos/secret.jpg")
        self.assertEqual((reply.status, reply.body), (200, b"private pixels"))


class RefusedTests(RebindingCase):
    def test_the_console_refuses_a_page_of_another_name(self):
        host = "%s:%d" % (ATTACKER, self.port)
        listed = self.as_host(host, "GET", "/console/bucket?name=photos")
        self.assertEqual(listed.status, 421, listed)
        self.assertNotIn(b"secret.jpg", listed.body)
        self.assertEqual(listed.json()["error"], "misdirected")
        deleted = self.as_host(host, "POST", "/console/delete", urlencode({"bucket": "photos", "key": "secret.jpg"})
                               .encode(), {"Origin": "http://" + host, "Sec-Fetch-Site": "same-origin",
                                           "Content-Type": "application/x-www-form-urlencoded"})
        self.assertEqual(deleted.status, 421, deleted)
        self.assertKeyThere()

    def test_every_face_refuses_a_name_it_does_not_know(self):
        stored = self.request("POST", "/files", b"a file").json()["hash"]
        host = "%s:%d" % (ATTACKER, self.port)
        tus = {"Tus-Resumable": "1.0.0", "Upload-Length": "1",
               "Upload-Metadata": "target " + base64.b64encode(b"files").decode()}
        for method, path, body, headers in (
                ("GET", "/files/" + stored, b"", {}), ("HEAD", "/files/" + stored, b"", {}),
                ("DELETE", "/files/" + stored, b"", {}), ("POST", "/files", b"x", {}),
                ("GET", "/data/photos", b"", {}), ("PUT", "/data/photos", b"x", {}),
                ("GET", "/kv/anything", b"", {}), ("POST", "/kv/set", json.dumps({"k": 1}).encode(), {}),
                ("POST", "/uploads", b"", tus), ("GET", "/console", b"", {}), ("GET", "/", b"", {}),
                ("GET", "/metrics", b"", {}), ("GET", "/healthz", b"", {}),
                ("OPTIONS", "/files", b"", {"Origin": "http://" + host, "Access-Control-Request-Method": "PUT"}),
                ("POST", "/lfs/photos/objects/batch", b'{"operation": "download", "objects": []}',
                 {"Content-Type": "application/vnd.git-lfs+json", "Accept": "application/vnd.git-lfs+json"})):
            with self.subTest(method=method, path=path):
                reply = self.as_host(host, method, path, body, headers)
                self.assertEqual(reply.status, 421, reply)
        for method, path in (("GET", "/photos/secret.jpg"), ("GET", "/photos"), ("DELETE", "/photos/secret.jpg"),
                             ("GET", "/")):
            with self.subTest(s3=path, method=method):
                reply = self.as_host("%s:%d" % (ATTACKER, self.s3_port), method, path, s3=True)
                self.assertEqual(reply.status, 421, reply)
                self.assertIn(b"<Code>AccessDenied</Code>", reply.body)
        self.assertEqual(self.request("GET", "/files/" + stored).body, b"a file")
        self.assertKeyThere()

    def test_a_trusted_proxy_is_believed_about_the_name_and_judged_by_it(self):
        self.config = self.config.__class__(**dict(self.config.__dict__, trusted_proxy="127.0.0.1"))
        self.restart_server()
        forwarded = {"X-Forwarded-Host": ATTACKER}
        self.assertEqual(self.request("GET", "/data/photos", headers=forwarded).status, 421)
        self.assertEqual(self.request("GET", "/data/photos", headers={"X-Forwarded-Host": "localhost:8080"}
                                      ).status, 200)


class KnownNamesTests(RebindingCase):
    config_overrides = {"s3_api": "127.0.0.1:0", "auth": "off", "public_url": "https://files.example.org",
                        "allowed_hosts": "nas.home.arpa, .lan"}

    def test_addresses_loopback_names_the_public_url_and_the_listed_names_are_served(self):
        for host in ("127.0.0.1:%d" % self.port, "127.0.0.2", "[::1]:%d" % self.port, "10.1.2.3:8080",
                     "localhost:%d" % self.port, "LOCALHOST", "app.localhost", "files.example.org",
                     "nas.home.arpa:8080", "printer.lan", "lan"):
            with self.subTest(host=host):
                self.assertEqual(self.as_host(host, "GET", "/data/photos").status, 200)
        for host in ("files.example.org.attacker.example", "localhost.attacker.example", "nas.home.arpa.evil",
                     "evil-lan", "localhost."):
            with self.subTest(refused=host):
                self.assertEqual(self.as_host(host, "GET", "/data/photos").status, 421)
        self.assertEqual(self.as_host("printer.lan:%d" % self.s3_port, "GET", "/photos/secret.jpg", s3=True).status,
                         200)


class AnyNameTests(RebindingCase):
    config_overrides = {"s3_api": "127.0.0.1:0", "auth": "off", "allowed_hosts": "*"}

    def test_a_star_lets_every_name_in(self):
        self.assertEqual(self.as_host(ATTACKER, "GET", "/data/photos").status, 200)


class AccessControlOnTests(S3ApiCase):
    config_overrides = {"s3_api": "127.0.0.1:0", "auth": "writes"}

    def test_with_tokens_asked_no_name_is_refused(self):
        stored = self.request("POST", "/files", b"public", {"Authorization": "Bearer " + self.app.tokens.create(
            ["admin"], "writer")[1]}).json()["hash"]
        reply = self.request("GET", "/files/" + stored, headers={"Host": ATTACKER})
        self.assertEqual((reply.status, reply.body), (200, b"public"))
        self.assertEqual(self.request("DELETE", "/files/" + stored, headers={"Host": ATTACKER}).status, 401)
        self.assertEqual(sha256(b"public"), stored)


class AbsoluteFormTests(RebindingCase):
    """RFC 9112 §3.2.2: a server takes a target in absolute form
    (``GET http://host/path``) and goes by its authority, not Host."""

    def ask(self, target: str, host: str) -> bytes:
        return self.raw_exchange(b"GET %s HTTP/1.1\r\nHost: %s\r\nConnection: close\r\n\r\n"
                                 % (target.encode(), host.encode()))

    def test_a_target_in_absolute_form_is_served_by_its_authority(self):
        here = "127.0.0.1:%d" % self.port
        stored = self.request("POST", "/files", b"a file").json()["hash"]
        for target in ("http://%s/files/%s" % (here, stored), "HTTP://%s/files/%s" % (here, stored)):
            with self.subTest(target=target):
                answer = self.ask(target, ATTACKER)
                self.assertTrue(answer.startswith(b"HTTP/1.1 200 "), answer[:200])
                self.assertTrue(answer.endswith(b"a file"))
        self.assertTrue(self.ask("http://%s" % here, here).startswith(b"HTTP/1.1 200 "))  # the empty path: /
        refused = self.ask("http://%s:%d/files/%s" % (ATTACKER, self.port, stored), here)
        self.assertTrue(refused.startswith(b"HTTP/1.1 421 "), refused[:200])
        for bad in ("http://user@%s/files/%s" % (here, stored), "http:///files/" + stored):
            with self.subTest(bad=bad):
                self.assertTrue(self.ask(bad, here).startswith(b"HTTP/1.1 400 "))
