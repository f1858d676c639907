"""Users, groups and their policies: made by the command line as an
operator makes them, then used as their users use them: boto3 with a
user's own S3 key, WebDAV and ``/files`` with the user's name and password
(HTTP Basic). What a user may do is the union of their policies and their
groups'; a Deny wins; disabling a user, taking them out of a group or
revoking a key ends their access at once; tokens keep working beside them."""

from __future__ import annotations

import base64
import json
import os
import subprocess
import sys
import tempfile
import shutil
import unittest

from filestoraged.access.passwords import verify
from filestoraged.access.users import USERS
from filestoraged.config import Config

from ..s3api_support import BotoCase
from ..support import ROOT, ServerCase

PASSWORD = "correct horse battery"
OWN_PREFIX = json.dumps({"Version": "2012-10-17", "Statement": [
    {"Sid": "OwnFolder", "Effect": "Allow", "Action": ["s3:GetObject", "s3:PutObject", "s3:DeleteObject"],
     "Resource": "arn:aws:s3:::photos/${aws:username}/*"},
    {"Sid": "ListPhotos", "Effect": "Allow", "Action": "s3:ListBucket", "Resource": "arn:aws:s3:::photos"}]})


def basic(user: str, password: str) -> dict:
    return {"Authorization": "Basic " + base64.b64encode(("%s:%s" % (user, password)).encode()).decode()}


def cli(data_dir: str, *words: str, stdin: str = "") -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "filestoraged", *words, "--data-dir", data_dir], input=stdin,
                          capture_output=True, text=True, timeout=60, env=dict(os.environ, PYTHONPATH=ROOT))


class CommandLineTests(unittest.TestCase):
    """The operator's commands, and what they keep: never a password."""

    def setUp(self) -> None:
        self.data_dir = tempfile.mkdtemp(prefix="fsd-users-")
        self.addCleanup(shutil.rmtree, self.data_dir, True)

    def run_ok(self, *words: str, stdin: str = "") -> str:
        done = cli(self.data_dir, *words, stdin=stdin)
        self.assertEqual(done.returncode, 0, done.stderr)
        return done.stdout

    def test_users_groups_policies_and_keys(self):
        self.run_ok("policy", "create", "own-photos", "-", stdin=OWN_PREFIX)
        self.run_ok("group", "create", "staff")
        self.run_ok("group", "attach", "staff", "readonly")
        self.run_ok("user", "create", "alice", "--group", "staff", "--policy", "own-photos", stdin=PASSWORD + "\n")
        keys = dict(line.split("=", 1) for line in self.run_ok("user", "key", "create", "alice").split())
        self.assertRegex(keys["AWS_ACCESS_KEY_ID"], r"^FSD[A-Z0-9]{17}$")
        self.assertEqual(len(keys["AWS_SECRET_ACCESS_KEY"]), 40)
        self.assertIn("alice\tstaff\town-photos\t", self.run_ok("user", "list"))
        self.assertIn(keys["AWS_ACCESS_KEY_ID"], self.run_ok("user", "show", "alice"))
        self.assertIn("staff\treadonly\talice", self.run_ok("group", "list"))
        listed = self.run_ok("policy", "list")
        self.assertIn("own-photos\tmade\talice", listed)
        self.assertIn("readonly\tbuilt in\tgroup:staff", listed)
        self.assertEqual(json.loads(self.run_ok("policy", "show", "own-photos")), json.loads(OWN_PREFIX))
        refused = cli(self.data_dir, "policy", "delete", "own-photos")
        self.assertEqual((refused.returncode, refused.stderr.strip()),
                         (1, "filestoraged policy: the policy 'own-photos' is attached to alice: detach it first"))
        # What the records keep: a slow hash, never the password.
        from filestoraged.app import App
        app = App(Config(data_dir=self.data_dir))
        self.addCleanup(app.close)
        kept = app.records.get(USERS + "alice").value["password"]
        self.assertNotIn(PASSWORD, json.dumps(app.records.get(USERS + "alice").value))
        self.assertTrue(kept.startswith("scrypt$16384$8$1$") and verify(PASSWORD, kept))
        self.run_ok("user", "key", "revoke", "alice", keys["AWS_ACCESS_KEY_ID"])
        self.assertNotIn(keys["AWS_ACCESS_KEY_ID"], self.run_ok("user", "show", "alice"))

    def test_what_is_refused_is_said_in_one_line(self):
        for words, stdin, said in (
                (("user", "create", "bob"), "short\n", "filestoraged user: a password is 8 to 1024 characters"),
                (("policy", "create", "p", "-"), json.dumps({"Statement": [
                    {"Effect": "Allow", "Action": "iam:CreateUser", "Resource": "*"}]}),
                 "filestoraged policy: the action 'iam:CreateUser' is not one this store carries out "
                 "(statement 0)")):
            with self.subTest(words=words):
                done = cli(self.data_dir, *words, stdin=stdin)
                self.assertEqual((done.returncode, done.stderr.strip()), (1, said))
        missing = cli(self.data_dir, "policy", "create", "p", "/nonexistent/policy.json")
        self.assertEqual(missing.returncode, 1)
        self.assertIn("filestoraged policy: the policy document /nonexistent/policy.json cannot be read",
                      missing.stderr)
        self.assertNotIn("Traceback", missing.stderr)
        usage = cli(self.data_dir, "user", "frobnicate")
        self.assertEqual(usage.returncode, 2)
        self.assertIn("usage: filestoraged user create NAME", usage.stderr)


class RefusedTests(unittest.TestCase):
    """What the store will not keep, each refused with its reason."""

    def test_refusals(self):
        from filestoraged.access.users import Users
        from filestoraged.errors import FileStoreError
        from filestoraged.records.local import LocalRecords
        folder = tempfile.mkdtemp(prefix="fsd-users-")
        self.addCleanup(shutil.rmtree, folder, True)
        records = LocalRecords(os.path.join(folder, "meta.db"))
        self.addCleanup(records.close)
        users = Users(records)
        users.teams.create_group("staff")
        users.create("bob", PASSWORD)
        for call, said in (
                (lambda: users.create("bo b", PASSWORD),
                 "a user's name is 1-64 characters of A-Z a-z 0-9 _ + = , . @ -"),
                (lambda: users.create("bob", PASSWORD), "a user named 'bob' exists"),
                (lambda: users.create("eve", PASSWORD, groups=["nobody"]), "no group named 'nobody'"),
                (lambda: users.create("eve", PASSWORD, policies=["nothing"]), "no policy named 'nothing'"),
                (lambda: users.teams.put_policy("readonly", OWN_PREFIX),
                 "'readonly' is a built-in policy: choose another name"),
                (lambda: users.teams.put_policy("p", json.dumps({"Statement": [
                    {"Effect": "Allow", "Principal": "*", "Action": "s3:GetObject", "Resource": "*"}]})),
                 "a user's or group's policy names no Principal (statement 0)"),
                (lambda: users.teams.put_policy("p", json.dumps({"Statement": [
                    {"Effect": "Allow", "Action": "s3:GetObject", "Resource": "arn:aws:s3:::a/${aws:userid}"}]})),
                 "the policy variable ${aws:userid} is not supported (statement 0)"),
                (lambda: users.join("bob", "nobody"), "no group named 'nobody'"),
                (lambda: users.join("nobody", "staff"), "no user named 'nobody'"),
                (lambda: users.revoke_key("bob", "FSDAAAAAAAAAAAAAAAAA"), "the user 'bob' has no S3 key "
                                                                           "'FSDAAAAAAAAAAAAAAAAA'")):
            with self.subTest(said=said):
                with self.assertRaises(FileStoreError) as raised:
                    call()
                self.assertEqual(raised.exception.text, said)
        self.assertIsNone(users.sign_in("bob", PASSWORD + "?"))
        self.assertIsNone(users.sign_in("nobody", PASSWORD))
        self.assertEqual(users.sign_in("bob", PASSWORD).name, "bob")


class UsersOverS3Tests(BotoCase):
    """A user's own S3 key, judged by the user's policies and groups'."""

    def setUp(self) -> None:
        super().setUp()
        self.users = self.app.users
        self.users.teams.put_policy("own-photos", OWN_PREFIX)
        self.users.teams.create_group("viewers")
        self.users.teams.attach_to_group("viewers", "readonly")
        self.users.create("alice", PASSWORD, policies=["own-photos"])
        self.admin.create_bucket(Bucket="photos")
        self.admin.put_object(Bucket="photos", Key="bob/cat.jpg", Body=b"bob's cat")

    def user_client(self, name: str = "alice"):
        from filestoraged.access.s3keys import secret_of, server_key
        key_id = self.users.new_key(name)
        return self.client(key_pair=(key_id, secret_of(server_key(self.config.s3_key_path), key_id))), key_id

    def test_own_prefix_by_policy_variable(self):
        alice, _ = self.user_client()
        alice.put_object(Bucket="photos", Key="alice/dog.jpg", Body=b"alice's dog")
        self.assertEqual(alice.get_object(Bucket="photos", Key="alice/dog.jpg")["Body"].read(), b"alice's dog")
        self.assertEqual([item["Key"] for item in alice.list_objects_v2(Bucket="photos")["Contents"]],
                         ["alice/dog.jpg", "bob/cat.jpg"])
        for call, asked in ((alice.get_object, {"Key": "bob/cat.jpg"}),
                            (alice.put_object, {"Key": "bob/cat.jpg", "Body": b"mine now"}),
                            (alice.delete_object, {"Key": "bob/cat.jpg"}),
                            (alice.create_bucket, {}), (alice.delete_bucket, {})):
            with self.subTest(call=call.__name__):
                self.assertEqual(self.code_of(call, Bucket="photos", **asked), "AccessDenied")
        deleted = alice.delete_objects(Bucket="photos", Delete={"Objects": [{"Key": "alice/dog.jpg"},
                                                                             {"Key": "bob/cat.jpg"}]})
        self.assertEqual([item["Key"] for item in deleted["Deleted"]], ["alice/dog.jpg"])
        self.assertEqual([(item["Key"], item["Code"]) for item in deleted["Errors"]], [("bob/cat.jpg", "AccessDenied")])
        self.assertEqual(self.admin.get_object(Bucket="photos", Key="bob/cat.jpg")["Body"].read(), b"bob's cat")

    def test_the_403_says_why(self):
        alice, _ = self.user_client()
        with self.assertRaises(self.ClientError) as raised:
            alice.get_object(Bucket="photos", Key="bob/cat.jpg")
        self.assertEqual(raised.exception.response["Error"]["Code"], "AccessDenied")
        reply = self.s3("GET", "/photos/bob/cat.jpg", key_pair=self.pair_of("alice"))
        self.assertIn(b"no policy of the user 'alice' allows s3:GetObject on arn:aws:s3:::photos/bob/cat.jpg",
                      reply.body)

    def pair_of(self, name: str):
        from filestoraged.access.s3keys import secret_of, server_key
        key_id = self.users.new_key(name)
        return key_id, secret_of(server_key(self.config.s3_key_path), key_id)

    def test_groups_add_and_leaving_takes_away_at_once(self):
        alice, _ = self.user_client()
        self.assertEqual(self.code_of(alice.get_object, Bucket="photos", Key="bob/cat.jpg"), "AccessDenied")
        self.users.join("alice", "viewers")
        self.assertEqual(alice.get_object(Bucket="photos", Key="bob/cat.jpg")["Body"].read(), b"bob's cat")
        self.assertEqual(self.code_of(alice.put_object, Bucket="photos", Key="bob/x", Body=b"x"), "AccessDenied")
        self.users.join("alice", "viewers", member=False)
        self.assertEqual(self.code_of(alice.get_object, Bucket="photos", Key="bob/cat.jpg"), "AccessDenied")

    def test_a_deny_wins_over_every_allow(self):
        self.users.join("alice", "viewers")
        self.users.teams.put_policy("no-bob", json.dumps({"Statement": [
            {"Sid": "NotBobs", "Effect": "Deny", "Action": "s3:*", "Resource": "arn:aws:s3:::photos/bob/*"}]}))
        self.users.attach("alice", "no-bob")
        alice, _ = self.user_client()
        reply = self.s3("GET", "/photos/bob/cat.jpg", key_pair=self.pair_of("alice"))
        self.assertEqual(reply.status, 403)
        self.assertIn(b"a statement ('NotBobs') of the user's policies denies it", reply.body)
        self.assertEqual(self.code_of(alice.get_object, Bucket="photos", Key="bob/cat.jpg"), "AccessDenied")
        # A bucket policy's Deny holds for users too; its Allow lets them in.
        self.admin.put_bucket_policy(Bucket="photos", Policy=json.dumps({"Statement": [
            {"Sid": "AliceReadsAll", "Effect": "Allow", "Principal": {"AWS": "arn:aws:iam::000000000000:user/alice"},
             "Action": "s3:GetObject", "Resource": "arn:aws:s3:::photos/*"},
            {"Sid": "NoWritesInArchive", "Effect": "Deny", "Principal": "*", "Action": "s3:PutObject",
             "Resource": "arn:aws:s3:::photos/alice/archive/*"}]}))
        self.assertEqual(self.code_of(alice.put_object, Bucket="photos", Key="alice/archive/a", Body=b"a"),
                         "AccessDenied")
        alice.put_object(Bucket="photos", Key="alice/b", Body=b"b")
        self.users.attach("alice", "no-bob", attach=False)
        self.users.join("alice", "viewers", member=False)
        self.assertEqual(alice.get_object(Bucket="photos", Key="bob/cat.jpg")["Body"].read(), b"bob's cat")

    def test_disabled_revoked_and_expired_end_at_once(self):
        alice, key_id = self.user_client()
        alice.put_object(Bucket="photos", Key="alice/a", Body=b"a")
        self.users.set_disabled("alice", True)
        self.assertEqual(self.code_of(alice.get_object, Bucket="photos", Key="alice/a"), "InvalidAccessKeyId")
        self.users.set_disabled("alice", False)
        self.assertEqual(alice.get_object(Bucket="photos", Key="alice/a")["Body"].read(), b"a")
        self.users.revoke_key("alice", key_id)
        self.assertEqual(self.code_of(alice.get_object, Bucket="photos", Key="alice/a"), "InvalidAccessKeyId")
        from filestoraged.access.s3keys import secret_of, server_key
        expired = self.users.new_key("alice", expires_in=0.001)
        late = self.client(key_pair=(expired, secret_of(server_key(self.config.s3_key_path), expired)))
        self.assertEqual(self.code_of(late.get_object, Bucket="photos", Key="alice/a"), "InvalidAccessKeyId")
        # The tokens beside them work as they always did.
        self.assertEqual(self.admin.get_object(Bucket="photos", Key="alice/a")["Body"].read(), b"a")


class UsersOnMainPortTests(ServerCase):
    """The user's name and password (HTTP Basic) on the main port's faces."""

    config_overrides = {"auth": "writes"}

    def setUp(self) -> None:
        super().setUp()
        users = self.users = self.app.users
        users.teams.put_policy("own-photos", OWN_PREFIX)
        users.create("alice", PASSWORD, policies=["own-photos"])
        users.create("carol", PASSWORD, policies=["readwrite"])
        self.app.buckets.create("photos")

    def test_webdav_as_judged_by_the_policies(self):
        alice = basic("alice", PASSWORD)
        self.assertEqual(self.request("MKCOL", "/dav/photos/alice/", None, alice).status, 201)
        self.assertEqual(self.request("MKCOL", "/dav/photos/bob/", None, alice).status, 403)
        self.assertEqual(self.request("MKCOL", "/dav/photos/bob/", None, basic("carol", PASSWORD)).status, 201)
        self.assertEqual(self.request("PUT", "/dav/photos/alice/a.txt", b"mine", alice).status, 201)
        self.assertEqual(self.request("GET", "/dav/photos/alice/a.txt", None, alice).body, b"mine")
        refused = self.request("PUT", "/dav/photos/bob/a.txt", b"not mine", alice)
        self.assertEqual(refused.status, 403)
        self.assertIn("no policy of the user 'alice' allows s3:PutObject", json.loads(refused.body)["message"])
        self.assertEqual(self.request("PUT", "/dav/photos/bob/a.txt", b"bob's", basic("carol", PASSWORD)).status,
                         201)
        self.assertEqual(self.request("DELETE", "/dav/photos/bob/a.txt", None, alice).status, 403)

    def test_wrong_password_and_disabled_are_401(self):
        wrong = self.request("MKCOL", "/dav/photos/alice/", None, basic("alice", PASSWORD + "!"))
        self.assertEqual(wrong.status, 401)
        alice = basic("alice", PASSWORD)
        self.assertEqual(self.request("MKCOL", "/dav/photos/alice/", None, alice).status, 201)
        self.assertEqual(self.request("PUT", "/dav/photos/alice/a.txt", b"x", alice).status, 201)
        self.users.set_disabled("alice", True)
        self.assertEqual(self.request("PUT", "/dav/photos/alice/a.txt", b"y", alice).status, 401)
        self.users.set_password("carol", PASSWORD + "2")
        self.assertEqual(self.request("PUT", "/dav/photos/c", b"y", basic("carol", PASSWORD)).status, 401)
        self.assertEqual(self.request("PUT", "/dav/photos/c", b"y", basic("carol", PASSWORD + "2")).status, 201)

    def test_the_stores_own_actions(self):
        refused = self.request("POST", "/files", b"blob", basic("alice", PASSWORD))
        self.assertEqual(refused.status, 403)
        self.assertIn("no policy of the user 'alice' allows filestoraged:PutFile", json.loads(refused.body)["message"])
        made = self.request("POST", "/files", b"blob", basic("carol", PASSWORD))
        self.assertEqual(made.status, 200, made.body)
        self.assertEqual(self.request("GET", "/metrics", None, basic("carol", PASSWORD)).status, 403)

    def test_a_token_as_basic_password_still_works(self):
        token, secret = self.app.tokens.create(["files:write"], "uploader")
        self.assertEqual(self.request("POST", "/files", b"by token", basic("anyone", secret)).status, 200)
        self.assertEqual(self.request("POST", "/files", b"by bearer", {"Authorization": "Bearer " + secret}).status,
                         200)


if __name__ == "__main__":
    unittest.main()


class UsersInTheConsoleTests(ServerCase):
    """A user signs in to the console with their name and password, sees
    the buckets their policies let them list and what they may do; the
    session ends when they are disabled or their password changes."""

    config_overrides = {"auth": "writes"}
    SAME = {"Sec-Fetch-Site": "same-origin", "Content-Type": "application/x-www-form-urlencoded"}

    def setUp(self) -> None:
        super().setUp()
        users = self.users = self.app.users
        users.teams.put_policy("own-photos", OWN_PREFIX)
        users.teams.create_group("staff")
        users.teams.attach_to_group("staff", "writeonly")
        users.create("alice", PASSWORD, groups=["staff"], policies=["own-photos"])
        for bucket in ("photos", "ledger"):
            self.app.buckets.create(bucket)

    def sign_in(self, user: str, password: str):
        from urllib.parse import urlencode
        return self.request("POST", "/console/sign-in", urlencode({"user": user, "password": password}).encode(),
                            self.SAME)

    def page(self, path: str, session: str):
        return self.request("GET", path, None, {"Cookie": "fsd_console=" + session})

    def session(self) -> str:
        import re
        reply = self.sign_in("alice", PASSWORD)
        self.assertEqual((reply.status, reply.headers["Location"]), (303, "/console"))
        return re.match(r"fsd_console=([^;]+)", reply.headers["Set-Cookie"]).group(1)

    def test_sign_in_buckets_and_what_they_may_do(self):
        refused = self.sign_in("alice", "not the password")
        self.assertEqual(refused.status, 401)
        self.assertIn(b"That name and password do not match a user here", refused.body)
        self.assertIn(b'value="alice"', refused.body)
        session = self.session()
        home = self.page("/console", session)
        self.assertIn(b"Signed in as <strong>alice</strong>", home.body)
        self.assertIn(b"bucket?name=photos", home.body)
        self.assertNotIn(b"bucket?name=ledger", home.body)
        access = self.page("/console/access", session)
        self.assertEqual(access.status, 200)
        for said in (b"your groups: staff", b"own-photos <span class=\"muted\">(yours)</span>",
                     b"writeonly <span class=\"muted\">(the group staff)</span>",
                     b"arn:aws:s3:::photos/${aws:username}/*", b"s3:listbucket"):
            self.assertIn(said, access.body)
        tokens = self.page("/console/tokens", session)
        self.assertEqual(tokens.status, 403)
        self.assertIn("no policy of the user 'alice' allows filestoraged:Admin", json.loads(tokens.body)["message"])

    def test_the_session_ends_with_the_user(self):
        session = self.session()
        self.assertEqual(self.page("/console", session).status, 200)
        self.users.set_disabled("alice", True)
        self.assertEqual(self.page("/console", session).headers.get("Location"), "/console/sign-in")
        self.users.set_disabled("alice", False)
        session = self.session()
        self.users.set_password("alice", PASSWORD + "?")
        self.assertEqual(self.page("/console", session).headers.get("Location"), "/console/sign-in")


class UsersManagedInTheConsoleTests(ServerCase):
    """An admin makes, disables, enables, keys and deletes users from the
    console's Users page; a user who is no admin is refused it."""

    config_overrides = {"auth": "writes"}
    SAME = {"Sec-Fetch-Site": "same-origin", "Content-Type": "application/x-www-form-urlencoded"}

    def setUp(self) -> None:
        super().setUp()
        self.app.users.create("root", PASSWORD, policies=["admin"])
        self.app.users.create("dave", PASSWORD, policies=["readonly"])
        self.admin = self.session("root")

    def session(self, name: str) -> str:
        import re
        from urllib.parse import urlencode
        reply = self.request("POST", "/console/sign-in", urlencode({"user": name, "password": PASSWORD}).encode(),
                             self.SAME)
        self.assertEqual(reply.status, 303, reply.body)
        return re.match(r"fsd_console=([^;]+)", reply.headers["Set-Cookie"]).group(1)

    def post(self, fields: dict, session: str = ""):
        from urllib.parse import urlencode
        return self.request("POST", "/console/users", urlencode(fields).encode(),
                            dict(self.SAME, Cookie="fsd_console=" + (session or self.admin)))

    def test_an_admin_manages_users(self):
        self.assertEqual(self.post({"do": "make", "name": "erin", "password": PASSWORD, "policies": "readwrite"})
                         .status, 303)
        self.assertEqual(self.app.users.sign_in("erin", PASSWORD).name, "erin")
        page = self.request("GET", "/console/users", None, {"Cookie": "fsd_console=" + self.admin})
        self.assertIn(b"<td>erin</td>", page.body)
        refused = self.post({"do": "make", "name": "erin", "password": PASSWORD})
        self.assertEqual(refused.status, 409)
        self.assertIn(b"a user named &#x27;erin&#x27; exists", refused.body)
        self.assertEqual(self.post({"do": "disable", "name": "erin"}).status, 303)
        self.assertIsNone(self.app.users.sign_in("erin", PASSWORD))
        self.assertEqual(self.post({"do": "enable", "name": "erin"}).status, 303)
        keyed = self.post({"do": "key", "name": "erin"})
        self.assertEqual(keyed.status, 200)
        [(key_id, _)] = self.app.users.keys("erin")
        self.assertIn(key_id.encode(), keyed.body)
        self.assertEqual(self.post({"do": "delete", "name": "erin"}).status, 303)
        self.assertIsNone(self.app.users.get("erin"))
        self.assertEqual(self.app.users.keys("erin"), [])

    def test_a_user_who_is_no_admin_is_refused(self):
        refused = self.post({"do": "make", "name": "mallory", "password": PASSWORD}, self.session("dave"))
        self.assertEqual(refused.status, 403)
        self.assertIsNone(self.app.users.get("mallory"))


class AcrossWorkersTests(unittest.TestCase):
    """A daemon with worker processes: a user disabled, or taken out of
    the group that let them in, by the command line is refused at once by
    every worker (what each keeps of a user is copied until the change)."""

    def test_the_change_holds_on_every_worker_at_once(self):
        from ..support import Daemon, daemon_workers, wait_until
        data_dir = tempfile.mkdtemp(prefix="fsd-users-")
        self.addCleanup(shutil.rmtree, data_dir, True)
        for words, stdin in ((("group", "create", "staff"), ""), (("group", "attach", "staff", "readwrite"), ""),
                             (("user", "create", "alice", "--group", "staff"), PASSWORD + "\n")):
            self.assertEqual(cli(data_dir, *words, stdin=stdin).returncode, 0)
        daemon = Daemon(data_dir, "--workers", "2", "--auth", "all").start()
        self.addCleanup(daemon.stop)
        wait_until(lambda: len(daemon_workers(daemon.process.pid)) == 2, "two workers run")
        import http.client

        def statuses(path: str) -> set:
            """What 8 fresh connections (spread over the workers) answer."""
            found = set()
            for _ in range(8):
                conn = http.client.HTTPConnection("127.0.0.1", daemon.port, timeout=30)
                try:
                    conn.request("POST", path, b"by alice", basic("alice", PASSWORD))
                    found.add(conn.getresponse().status)
                finally:
                    conn.close()
            return found
        self.assertEqual(statuses("/files"), {200})
        self.assertEqual(cli(data_dir, "user", "leave", "alice", "staff").returncode, 0)
        self.assertEqual(statuses("/files"), {403})
        self.assertEqual(cli(data_dir, "user", "join", "alice", "staff").returncode, 0)
        self.assertEqual(statuses("/files"), {200})
        self.assertEqual(cli(data_dir, "user", "disable", "alice").returncode, 0)
        self.assertEqual(statuses("/files"), {401})
