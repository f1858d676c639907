"""Access control: scoped tokens on every face under each --auth mode, the
token lifecycle with the command line while the server runs, the failure
rate limit, and secrets that never reach a log line."""

from __future__ import annotations

import base64
import logging
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import unittest

from ..support import (ROOT, Daemon, FakeClock, ServerCase, database_bytes, free_port, multipart, sha256,
                      wait_for_port)

# (method, path, body, scope it needs, public under --auth writes, success status)
OBJECT = b"an object"
OID = sha256(OBJECT)


def share_form():
    return multipart({"file": ("a.txt", b"shared", "text/plain")})


CASES = [
    ("POST", "/files", OBJECT, "files:write", False, 200),
    ("GET", "/files/" + OID, None, "files:read", True, 200),
    ("HEAD", "/files/" + OID, None, "files:read", True, 200),
    ("PUT", "/data/photos", OBJECT, "data:photos:create", False, 201),
    ("GET", "/data/photos/" + OID, None, "data:photos:read", True, 200),
    ("GET", "/data/photos", None, "data:photos:read", False, 200),
    ("POST", "/kv/set", b'{"k": 1}', "kv:write", False, 201),
    ("POST", "/kv/commit", None, "kv:write", False, 204),
    ("GET", "/kv/k", None, "kv:read", True, 200),
    ("GET", "/metrics", None, "metrics:read", False, 200),
    ("DELETE", "/data/photos/" + OID, None, "data:photos:delete", False, 200),
    ("DELETE", "/files/" + OID, None, "files:delete", False, 200),
]


class AccessCase(ServerCase):
    def make_clock(self):
        self.clock = FakeClock()
        return self.clock

    def token(self, *scopes: str, name=None, expires_in=None) -> str:
        return self.app.tokens.create(scopes, name, expires_in)[1]

    def call(self, method, path, body=None, token=None, headers=None, conn=None):
        headers = dict(headers or {})
        if token:
            headers["Authorization"] = "Bearer " + token
        return self.request(method, path, body, headers, conn=conn)


class WritesModeTests(AccessCase):
    config_overrides = {"auth": "writes"}

    def test_every_face_asks_the_right_scope(self):
        wrong = self.token("share:create")
        for method, path, body, scope, public, status in CASES:
            with self.subTest(method=method, path=path):
                if not public:
                    reply = self.call(method, path, body)
                    self.assertEqual(reply.status, 401, reply)
                    self.assertEqual(reply.headers["WWW-Authenticate"], 'Bearer realm="filestoraged"')
                    reply = self.call(method, path, body, wrong)
                    self.assertEqual(reply.status, 403, reply)
                    if method != "HEAD":
                        self.assertIn(scope, reply.json()["message"])
                    self.assertEqual(self.call(method, path, body, self.token(scope)).status, status)
                else:
                    self.assertEqual(self.call(method, path, body).status, status)

    def test_share_links_keep_their_own_rules(self):
        self.assertEqual(self.call("PUT", "/file", *share_form()[:1], headers={"Content-Type": share_form()[1]})
                         .status, 401)
        body, ctype = share_form()
        link = self.call("PUT", "/file", body, self.token("share:create"), {"Content-Type": ctype}).json()
        path = link["url"].split(str(self.port), 1)[1]
        self.assertEqual(self.call("GET", path).body, b"shared")  # no token for a download
        body, ctype = share_form()
        other = self.call("PUT", "/file", body, self.token("share:create"), {"Content-Type": ctype}).json()
        other_path = other["url"].split(str(self.port), 1)[1]
        self.assertEqual(self.call("DELETE", other_path, headers={"X-Delete-Token": other["delete_token"]}).status,
                         200)  # the delete token is its own authority
        body, ctype = share_form()
        third = self.call("PUT", "/file", body, self.token("share:create"), {"Content-Type": ctype}).json()
        third_path = third["url"].split(str(self.port), 1)[1]
        self.assertEqual(self.call("DELETE", third_path).status, 401)
        # share:delete deletes any link, without its delete token.
        self.assertEqual(self.call("DELETE", third_path, token=self.token("share:create")).status, 403)
        self.assertEqual(self.call("DELETE", third_path, token=self.token("share:delete")).status, 200)
        self.assertEqual(self.call("GET", "/healthz").status, 200)

    def test_repository_scopes_and_wildcards(self):
        photos = self.token("data:photos:write")
        self.assertEqual(self.call("PUT", "/data/photos", b"p", photos).status, 201)
        self.assertEqual(self.call("PUT", "/data/music", b"m", photos).status, 403)
        anywhere = self.token("data:*:write", "data:*:read")
        self.assertEqual(self.call("PUT", "/data/music", b"m", anywhere).status, 201)
        self.assertEqual(self.call("GET", "/data/music", token=anywhere).status, 200)
        admin = self.token("admin")
        self.assertEqual(self.call("DELETE", "/data/music/" + sha256(b"m"), token=admin).status, 200)

    def test_basic_with_the_token_as_password_works(self):
        token = self.token("files:write", "share:create")
        basic = "Basic " + base64.b64encode(b":" + token.encode()).decode()
        self.assertEqual(self.request("POST", "/files", b"x", {"Authorization": basic}).status, 200)
        body, ctype = share_form()  # curl -u ":$TOKEN" -F file=@a .../file
        link = self.request("POST", "/file", body, {"Authorization": basic, "Content-Type": ctype})
        self.assertEqual(link.status, 201, link)

    def test_failed_attempts_from_one_address_are_limited(self):
        for _ in range(10):
            self.assertEqual(self.call("POST", "/files", b"x", "not-a-token").status, 401)
        reply = self.call("POST", "/files", b"x", self.token("files:write"))
        self.assertError(reply, 429, "too_many_requests")
        self.assertEqual(reply.headers["Retry-After"], "61")
        self.clock.advance(61)
        self.assertEqual(self.call("POST", "/files", b"x", self.token("files:write")).status, 200)

    def test_concurrent_wrong_tokens_get_no_more_checks_than_the_limit(self):
        from concurrent.futures import ThreadPoolExecutor

        checked = []
        entered = threading.Condition()
        find = self.app.tokens.find

        def slow_find(secret):
            # Hold every check until 20 are in (or 0.3 s passed): a limit
            # that is checked apart from the counting lets them all in.
            with entered:
                checked.append(secret)
                entered.notify_all()
                entered.wait_for(lambda: len(checked) >= 20, timeout=0.3)
            return find(secret)

        self.app.tokens.find = slow_find
        with ThreadPoolExecutor(50) as pool:
            statuses = list(pool.map(lambda n: self.call("POST", "/files", b"x", "wrong-%d" % n).status,
                                     range(100)))
        self.assertEqual(len(checked), 10)  # the limit, however the requests raced
        self.assertEqual(statuses.count(401), 10)
        self.assertEqual(statuses.count(429), 90)

    def test_a_locked_out_address_gets_429_even_with_a_good_token(self):
        good = self.token("files:write")
        for _ in range(10):
            self.call("POST", "/files", b"x", "wrong")
        reply = self.call("POST", "/files", b"x", good)
        self.assertError(reply, 429, "too_many_requests")
        self.clock.advance(61)
        self.assertEqual(self.call("POST", "/files", b"x", good).status, 200)
        # Good tokens never count toward the limit.
        for _ in range(20):
            self.assertEqual(self.call("POST", "/files", b"x", good).status, 200)

    def test_non_ascii_basic_credentials_are_400_on_every_route(self):
        token = self.token("admin")
        raw = b"Basic \xc3\xa9\xff=="
        for path, method in (("/files", "POST"), ("/data/photos", "PUT"), ("/kv/commit", "POST")):
            with self.subTest(path=path):
                with socket.create_connection(("127.0.0.1", self.port), timeout=10) as sock:
                    sock.sendall(b"%s %s HTTP/1.1\r\nHost: localhost\r\nAuthorization: %s\r\nContent-Length: 0\r\n"
                                 b"Connection: close\r\n\r\n" % (method.encode(), path.encode(), raw))
                    answer = sock.makefile("rb").read()
                self.assertTrue(answer.startswith(b"HTTP/1.1 400 "), answer[:200])
                self.assertIn(b"malformed Basic credentials", answer)
        self.assertEqual(self.call("POST", "/files", b"x", token).status, 200)

    def test_tokens_expire(self):
        token = self.token("files:write", expires_in=60)
        self.assertEqual(self.call("POST", "/files", b"x", token).status, 200)
        self.clock.advance(61)
        self.assertEqual(self.call("POST", "/files", b"x", token).status, 401)

    def test_no_secret_reaches_a_log_line(self):
        token = self.token("files:write", "files:read")
        basic = "Basic " + base64.b64encode(b"user:" + token.encode()).decode()
        with self.assertLogs("filestoraged", logging.DEBUG) as logs:
            self.call("POST", "/files", b"logged?", token)
            self.request("GET", "/files/" + sha256(b"logged?"), headers={"Authorization": basic})
            self.call("POST", "/files", b"x", token + "wrong")
            logging.getLogger("filestoraged").debug("end of the captured requests")
        self.assertNotIn(token, "\n".join(logs.output))


class AllModeTests(AccessCase):
    config_overrides = {"auth": "all"}

    def test_reads_need_a_scope_too(self):
        writer = self.token("files:write")
        self.assertEqual(self.call("POST", "/files", OBJECT, writer).status, 200)
        self.assertEqual(self.call("GET", "/files/" + OID).status, 401)
        self.assertEqual(self.call("GET", "/files/" + OID, token=writer).status, 403)
        reader = self.token("files:read")
        for _ in range(2):  # the second GET would be a ready-made answer in other modes
            self.assertEqual(self.call("GET", "/files/" + OID, token=reader).body, OBJECT)
        self.assertEqual(self.call("GET", "/files/" + OID).status, 401)
        self.assertEqual(self.call("HEAD", "/files/" + OID).status, 401)
        self.assertEqual(self.call("GET", "/kv/k").status, 401)
        self.assertEqual(self.call("GET", "/healthz").status, 200)


    def test_a_repository_scope_reads_that_repository_only(self):
        writer = self.token("data:photos:write", "data:music:write")
        for repo in ("photos", "music"):
            self.assertEqual(self.call("PUT", "/data/" + repo, repo.encode(), writer).status, 201)
        photos = self.token("data:photos:read")
        self.assertEqual(self.call("GET", "/data/photos/" + sha256(b"photos"), token=photos).body, b"photos")
        self.assertEqual([row["oid"] for row in self.call("GET", "/data/photos", token=photos).json()],
                         [sha256(b"photos")])
        for path in ("/data/music/" + sha256(b"music"), "/data/music"):
            reply = self.call("GET", path, token=photos)
            self.assertEqual(reply.status, 403, reply)
            self.assertIn("data:music:read", reply.json()["message"])
        self.assertEqual(self.call("PUT", "/data/photos", b"x", photos).status, 403)

    def test_kv_read_reads_and_only_reads(self):
        self.assertEqual(self.call("POST", "/kv/set", b'{"k": 1}', self.token("kv:write")).status, 201)
        self.assertEqual(self.call("POST", "/kv/commit", token=self.token("kv:write")).status, 204)
        reader = self.token("kv:read")
        self.assertEqual(self.call("GET", "/kv/k", token=reader).json(), {"k": 1})
        self.assertEqual(self.call("GET", "/kv/k", token=self.token("files:read")).status, 403)
        self.assertEqual(self.call("POST", "/kv/set", b'{"k": 2}', reader).status, 403)


class ModeResolutionTests(AccessCase):
    config_overrides = {"auth": "writes"}

    def test_auto_is_off_on_loopback_only_and_a_tokenless_start_says_how_to_make_one(self):
        from filestoraged.access.gate import Access

        for host in ("127.0.0.1", "::1", "localhost"):
            with self.subTest(host=host):
                self.assertEqual(Access(self.app.tokens, "auto", self.app.throttle).resolve(host), "off")
        for host in ("0.0.0.0", "192.0.2.10", "::"):
            with self.subTest(host=host), self.assertLogs("filestoraged", "WARNING") as logs:
                self.assertEqual(Access(self.app.tokens, "auto", self.app.throttle).resolve(host), "writes")
            self.assertIn("filestoraged token create --scope admin", "\n".join(logs.output))


class DefaultModeTests(ServerCase):
    def test_a_start_with_access_control_off_says_which_tokens_scopes_do_not_hold(self):
        """Under ``off`` an append-only backup key protects nothing (restic's
        ``forget --prune`` with it removed a snapshot): the start says so,
        naming the tokens narrower than admin; admin tokens alone, nothing."""
        from filestoraged.access.gate import Access

        self.app.tokens.create(["admin"], "ops")
        with self.assertNoLogs("filestoraged", "WARNING"):
            self.assertEqual(Access(self.app.tokens, "auto", self.app.throttle).resolve("127.0.0.1"), "off")
        self.app.tokens.create(["data:backups:create", "data:backups:read"], "backup-host")
        with self.assertLogs("filestoraged", "WARNING") as logs:
            self.assertEqual(Access(self.app.tokens, "off", self.app.throttle).resolve("127.0.0.1"), "off")
        said = "\n".join(logs.output)
        self.assertIn("access control is off, so no token's scopes are checked: backup-host (1 token", said)
        self.assertIn("--auth writes or all", said)

    def test_loopback_without_tokens_behaves_as_before(self):
        self.assertEqual(self.app.access.mode, "off")
        self.assertEqual(self.request("POST", "/files", b"open").status, 200)
        self.assertEqual(self.request("DELETE", "/files/" + sha256(b"open")).status, 200)

    def test_a_request_that_came_through_a_proxy_is_judged_as_writes(self):
        """A proxy on this machine that nobody told us about: its requests
        carry forwarding headers, and their clients may be anywhere."""
        for name, value in (("X-Forwarded-For", "192.0.2.7"), ("Forwarded", "for=192.0.2.7"),
                            ("X-Real-IP", "192.0.2.7")):
            with self.subTest(header=name):
                self.assertEqual(self.request("POST", "/files", b"x", {name: value}).status, 401)
                self.assertEqual(self.request("GET", "/metrics", None, {name: value}).status, 401)
        self.assertEqual(self.request("POST", "/files", b"x").status, 200)
        self.assertEqual(self.request("GET", "/files/" + sha256(b"x"), None, {"X-Real-IP": "192.0.2.7"}).status,
                         200)  # a public read under writes

    def test_a_trusted_proxy_makes_auto_mean_writes_and_the_start_line_says_why(self):
        from filestoraged.access.gate import resolve_mode

        self.assertEqual(resolve_mode("auto", "127.0.0.1", "127.0.0.1"),
                         ("writes", "auto: a --trusted-proxy is configured"))
        self.assertEqual(resolve_mode("auto", "127.0.0.1", "")[0], "off")
        self.assertEqual(resolve_mode("off", "127.0.0.1", "127.0.0.1"), ("off", "set by --auth"))
        data_dir = tempfile.mkdtemp(prefix="fsd-test-")
        self.addCleanup(shutil.rmtree, data_dir, True)
        daemon = Daemon(data_dir, "--trusted-proxy", "127.0.0.1", "--workers", "1").start()
        daemon.process.terminate()
        _, err = daemon.process.communicate(timeout=30)
        self.assertIn("access control writes (auto: a --trusted-proxy is configured)", err.decode())


class TokenCommandTests(AccessCase):
    config_overrides = {"auth": "writes"}

    def command(self, *args: str) -> subprocess.CompletedProcess:
        return subprocess.run([sys.executable, "-m", "filestoraged", "token", *args, "--data-dir", self.data_dir],
                              env=dict(os.environ, PYTHONPATH=ROOT), capture_output=True, text=True, timeout=60)

    def test_create_list_and_revoke_while_the_server_runs(self):
        made = self.command("create", "--scope", "files:write", "--name", "ci")
        self.assertEqual(made.returncode, 0, made.stderr)
        secret = made.stdout[:-1]  # alone on standard output: TOKEN=$(...) and > file take it as it is
        self.assertRegex(made.stdout, r"^[A-Za-z0-9_-]{20,}\n$")
        self.assertIn("token ci: files:write", made.stderr)
        self.assertEqual(self.call("POST", "/files", b"by ci", secret).status, 200)
        listed = self.command("list")
        self.assertIn("ci\tfiles:write", listed.stdout)
        self.assertNotIn(secret, listed.stdout)
        self.assertEqual(self.command("revoke", "ci").returncode, 0)
        self.assertEqual(self.call("POST", "/files", b"by ci", secret).status, 401)
        at_rest = database_bytes(self.data_dir)
        self.assertTrue(b"files:write" in at_rest, "the token's row is not in what was read")
        self.assertFalse(secret.encode() in at_rest, "the token's secret is kept in meta.db")
        bad = self.command("create", "--scope", "files:fly")
        self.assertNotEqual(bad.returncode, 0)
        self.assertIn("files takes read, write, delete", bad.stderr)


    def test_rotate_ends_the_old_secrets_and_a_second_create_says_how(self):
        made = self.command("create", "--scope", "files:write", "--name", "laptop", "--s3")
        self.assertEqual(made.returncode, 0, made.stderr)
        old = dict(line.split("=", 1) for line in made.stdout.splitlines())
        again = self.command("create", "--scope", "files:write", "--name", "laptop", "--s3")
        self.assertEqual((again.returncode, again.stdout), (1, ""))
        self.assertIn("filestoraged token rotate laptop", again.stderr)
        rotated = self.command("rotate", "laptop")
        self.assertEqual(rotated.returncode, 0, rotated.stderr)
        new = dict(line.split("=", 1) for line in rotated.stdout.splitlines())
        self.assertEqual(sorted(new), ["AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "FILESTORAGED_TOKEN"])
        self.assertTrue(all(new[name] != old[name] for name in new))
        self.assertEqual(self.call("POST", "/files", b"old", old["FILESTORAGED_TOKEN"]).status, 401)
        self.assertEqual(self.call("POST", "/files", b"new", new["FILESTORAGED_TOKEN"]).status, 200)
        self.assertIsNone(self.app.tokens.find_s3(old["AWS_ACCESS_KEY_ID"]))
        self.assertEqual(self.app.tokens.find_s3(new["AWS_ACCESS_KEY_ID"]).name, "laptop")
        self.assertIn("laptop\tfiles:write", self.command("list").stdout)
        self.assertEqual(self.command("rotate", "nobody").returncode, 1)

    def test_a_server_key_made_by_root_belongs_to_the_data_directorys_owner(self):
        if os.geteuid() != 0:
            self.skipTest("needs root (CI runs as root): the key is made by root for the service user")
        os.chown(self.data_dir, 65534, 65534)
        made = self.command("create", "--scope", "admin", "--name", "ops", "--s3")
        self.assertEqual(made.returncode, 0, made.stderr)
        owner = os.stat(os.path.join(self.data_dir, "s3.key"))
        self.assertEqual((owner.st_uid, owner.st_gid, owner.st_mode & 0o777), (65534, 65534, 0o600))


class RootOnTheServicesFolderTests(unittest.TestCase):
    """README's service section: ``filestoraged token create`` run as root
    on the data directory the service's user owns, before the service ever
    started. What it makes (the records, their lock, ``run/``, the server
    key) must be that user's, or the service, run as that user, cannot
    start."""

    SERVICE = 65534  # nobody

    def test_a_token_made_by_root_leaves_the_service_able_to_start(self):
        if os.geteuid() != 0:
            self.skipTest("needs root (CI runs as root): the token is made by root in the service user's folder")
        python = "/usr/bin/python3"  # one the service's user may run (this venv's lies under /root)
        if not os.access(python, os.X_OK):
            self.skipTest("no /usr/bin/python3 to run the daemon as another user")
        data_dir = tempfile.mkdtemp(prefix="fsd-service-")
        self.addCleanup(shutil.rmtree, data_dir, True)
        os.chown(data_dir, self.SERVICE, self.SERVICE)
        env = dict(os.environ, PYTHONPATH=ROOT)
        made = subprocess.run([sys.executable, "-m", "filestoraged", "token", "create", "--scope", "admin", "--name",
                               "ops", "--s3", "--data-dir", data_dir], env=env, capture_output=True, text=True,
                              timeout=60)
        self.assertEqual(made.returncode, 0, made.stderr)
        for folder, names, files in os.walk(data_dir):
            for name in [""] + names + files:
                path = os.path.join(folder, name)
                self.assertEqual(os.lstat(path).st_uid, self.SERVICE, path)
        port = free_port()
        daemon = subprocess.Popen([python, "-m", "filestoraged", "--data-dir", data_dir, "--port", str(port),
                                   "--workers", "1"], env=env, cwd="/", user=self.SERVICE, group=self.SERVICE,
                                  extra_groups=[], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        self.addCleanup(daemon.kill)
        try:
            wait_for_port(port, daemon)
        finally:
            daemon.terminate()
            _, said = daemon.communicate(timeout=30)
        self.assertEqual(daemon.returncode, 0, said)


class TrustedProxyTests(AccessCase):
    config_overrides = {"trusted_proxy": "127.0.0.1", "auth": "writes"}
    FORWARDED = {"X-Forwarded-For": "198.51.100.1, 203.0.113.9", "X-Forwarded-Proto": "https",
                 "X-Forwarded-Host": "files.example.org"}

    def test_forwarded_headers_from_a_trusted_peer_are_used(self):
        token = self.token("files:write")
        conn = self.connection()
        with self.assertLogs("filestoraged.access", "INFO") as logs:
            reply = self.call("POST", "/files", b"proxied", token, self.FORWARDED, conn)
            # The line is written after the answer; the next request on the
            # same connection is read only once it has been.
            self.call("GET", "/healthz", conn=conn)
        self.assertEqual(reply.json()["url"], "https://files.example.org/files/" + sha256(b"proxied"))
        self.assertTrue(logs.output[0].split(":", 2)[2].startswith("203.0.113.9 "), logs.output)
        # The failure limit counts the forwarded client, not the proxy.
        for _ in range(10):
            self.call("POST", "/files", b"x", "wrong", self.FORWARDED)
        self.assertEqual(self.call("POST", "/files", b"x", token, self.FORWARDED).status, 429)
        other = dict(self.FORWARDED, **{"X-Forwarded-For": "192.0.2.7"})
        self.assertEqual(self.call("POST", "/files", b"x", token, other).status, 200)

    def test_bad_forwarded_values_are_ignored(self):
        bad = {"X-Forwarded-For": "not-an-address", "X-Forwarded-Proto": "gopher", "X-Forwarded-Host": "a b"}
        reply = self.call("POST", "/files", b"odd", self.token("files:write"), bad)
        self.assertEqual(reply.json()["url"], "http://127.0.0.1:%d/files/%s" % (self.port, sha256(b"odd")))


class UntrustedProxyTests(AccessCase):
    def test_forwarded_headers_from_other_peers_are_ignored(self):
        conn = self.connection()
        with self.assertLogs("filestoraged.access", "INFO") as logs:
            # (Forwarding headers under auto on loopback: judged as writes.)
            reply = self.call("POST", "/files", b"direct", self.token("files:write"),
                              headers=TrustedProxyTests.FORWARDED, conn=conn)
            self.call("GET", "/healthz", conn=conn)  # after the first line was written
        self.assertEqual(reply.json()["url"], "http://127.0.0.1:%d/files/%s" % (self.port, sha256(b"direct")))
        self.assertTrue(logs.output[0].split(":", 2)[2].startswith("127.0.0.1 "), logs.output)
