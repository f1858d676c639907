"""restic's REST protocol (``/restic/``): stock restic backs up, checks,
restores and prunes through it; the same repository reads back through
S3; append-only tokens and repositories refuse what would destroy a
backup; private repositories stay private; a daemon killed mid-backup
leaves a repository restic checks whole."""

from __future__ import annotations

import base64
import filecmp
import hashlib
import json
import os
import shutil
import subprocess
import tempfile
import threading
from dataclasses import replace
from typing import Dict, Optional, Tuple

from filestoraged.faces.restic import V2, place_of
from filestoraged.errors import NotFound

from ..s3api_support import S3ApiCase, tool_or_skip
from ..support import Daemon, MIB, Threads, payload, sha256, until_said, wait_until

TIMEOUT = 120
PASSWORD = "a test password"


def make_tree(root: str, big: int = 3 * MIB, small: int = 40) -> None:
    """A tree to back up: one big file of random bytes, small text files, an empty one."""
    os.makedirs(os.path.join(root, "sub"))
    with open(os.path.join(root, "big.bin"), "wb") as handle:
        handle.write(os.urandom(big))
    for number in range(small):
        with open(os.path.join(root, "sub", "f%03d.txt" % number), "w") as handle:
            handle.write("small file %d\n" % number * (number + 1))
    open(os.path.join(root, "sub", "empty"), "wb").close()


class ResticCase(S3ApiCase):
    """A server under ``--auth all`` with its S3 port, a ``backups``
    bucket, a tree to back up and restic run against ``/restic/``."""

    def setUp(self) -> None:
        super().setUp()
        self.restic_path = tool_or_skip("restic")
        self.work = tempfile.mkdtemp(prefix="fsd-restic-")
        self.addCleanup(shutil.rmtree, self.work, True)
        self.tree = os.path.join(self.work, "tree")
        make_tree(self.tree)
        self.app.buckets.create("backups")

    def token(self, *scopes: str) -> str:
        return self.app.tokens.create(list(scopes))[1]

    def url(self, secret: Optional[str], path: str = "backups/") -> str:
        who = "host:%s@" % secret if secret else ""
        return "rest:http://%s127.0.0.1:%d/restic/%s" % (who, self.port, path)

    def restic(self, repository: str, *args: str, check: bool = True,
               env: Optional[Dict[str, str]] = None) -> subprocess.CompletedProcess:
        done = subprocess.run([self.restic_path, "-q", *args], env=dict(self.environment(repository), **(env or {})),
                              capture_output=True, timeout=TIMEOUT, cwd=self.work)
        if check and done.returncode != 0:
            raise AssertionError("restic %s failed (%d): %s" % (args[0], done.returncode,
                                                                done.stderr[-3000:].decode(errors="replace")))
        return done

    def environment(self, repository: str) -> Dict[str, str]:
        """restic's environment for ``repository``: this test's home, cache and password, nothing of the caller's."""
        clean = {name: value for name, value in os.environ.items() if not name.startswith(("AWS_", "RESTIC_"))}
        clean.update({"HOME": self.work, "RESTIC_PASSWORD": PASSWORD, "RESTIC_REPOSITORY": repository,
                      "RESTIC_CACHE_DIR": os.path.join(self.work, "cache")})
        return clean

    def refused(self, repository: str, *args: str) -> Tuple[Optional[int], bytes]:
        """restic run until it says the server refused it (403) and why,
        then stopped: restic before 0.17 tries again for some 40 s before
        giving up."""
        return until_said([self.restic_path, *args], b"403 Forbidden: ", self.environment(repository), self.work,
                          TIMEOUT)

    def snapshots(self, repository: str) -> list:
        return json.loads(self.restic(repository, "snapshots", "--json").stdout)

    def keys(self, prefix: str = "") -> Dict[str, str]:
        """Every key of ``backups`` under ``prefix`` and the object it names."""
        return {key: entry.oid for key, entry in self.app.keys.page("backups", prefix, limit=100000).items}

    def rest(self, method: str, path: str, secret: Optional[str], body: bytes = b"",
             headers: Optional[Dict[str, str]] = None):
        auth = {"Authorization": "Bearer " + secret} if secret else {}
        return self.request(method, "/restic/" + path, body, dict(auth, **(headers or {})))


class BackupTests(ResticCase):
    def test_backup_check_restore_and_prune_and_the_same_repository_through_s3(self):
        admin = self.token("admin")
        host = self.token("data:backups:write", "data:backups:read", "data:backups:delete")
        self.restic(self.url(admin), "init")
        self.assertIn("config", self.keys())
        self.restic(self.url(host), "backup", self.tree)
        with open(os.path.join(self.tree, "later.txt"), "w") as handle:
            handle.write("written after the first backup\n")
        self.restic(self.url(host), "backup", self.tree)
        self.restic(self.url(host), "check", "--read-data")
        first, second = self.snapshots(self.url(host))
        target = os.path.join(self.work, "restored")
        self.restic(self.url(host), "restore", second["id"], "--target", target)
        restored = os.path.join(target, self.tree.lstrip("/"))
        compared = filecmp.dircmp(self.tree, restored)
        self.assertEqual((compared.left_only, compared.right_only, compared.diff_files), ([], [], []))
        self.assertTrue(filecmp.cmp(os.path.join(self.tree, "big.bin"), os.path.join(restored, "big.bin"), False))
        # the repository's files are keys as restic lays them out in S3, named by their bytes' SHA-256
        data = {key: oid for key, oid in self.keys("data/").items()}
        self.assertTrue(data)
        for key, oid in data.items():
            self.assertEqual(key, "data/%s/%s" % (oid[:2], oid))
        # the same repository, read through S3 by restic's S3 backend
        key_id, s3_secret = self.key_pair("data:backups:read", "data:backups:write", "data:backups/locks/:delete")
        through_s3 = {"AWS_ACCESS_KEY_ID": key_id, "AWS_SECRET_ACCESS_KEY": s3_secret}
        listed = json.loads(self.restic("s3:%s/backups" % self.s3_url, "snapshots", "--json", env=through_s3).stdout)
        self.assertEqual([snapshot["id"] for snapshot in listed], [first["id"], second["id"]])
        self.restic("s3:%s/backups" % self.s3_url, "check", "--read-data", env=through_s3)
        # pruning with a token that may delete
        self.restic(self.url(host), "forget", "--keep-last", "1", "--prune")
        self.assertEqual([snapshot["id"] for snapshot in self.snapshots(self.url(host))], [second["id"]])
        self.restic(self.url(host), "check", "--read-data")

    def test_a_repository_in_a_folder_of_a_bucket_and_listings_in_both_versions(self):
        secret = self.token("data:backups/team/host1/:write", "data:backups/team/host1/:read",
                            "data:backups/team/host1/:delete")
        self.restic(self.url(secret, "backups/team/host1/"), "init")
        self.restic(self.url(secret, "backups/team/host1/"), "backup", self.tree)
        self.assertEqual(len(self.snapshots(self.url(secret, "backups/team/host1/"))), 1)
        self.assertTrue(all(key.startswith("team/host1/") for key in self.keys()))
        v1 = self.rest("GET", "backups/team/host1/data/", secret)
        self.assertEqual(v1.status, 200, v1)
        self.assertEqual(v1.headers["Content-Type"], "application/vnd.x.restic.rest.v1")
        v2 = self.rest("GET", "backups/team/host1/data/", secret, headers={"Accept": V2})
        self.assertEqual(v2.headers["Content-Type"], V2)
        sizes = {item["name"]: item["size"] for item in v2.json()}
        self.assertEqual(sorted(sizes), v1.json())
        for key, oid in self.keys("team/host1/data/").items():
            self.assertEqual(sizes[oid], self.app.keys.get("backups", key).size)
        self.assertEqual(self.rest("GET", "backups/team/host1/locks/", secret).json(), [])
        self.assertEqual(self.rest("GET", "backups/team/host1/snapshots/", secret, headers={"Accept": V2})
                         .json()[0]["size"] > 0, True)

    def test_bytes_that_are_not_their_name_are_refused_and_nothing_is_kept(self):
        secret = self.token("data:backups:write", "data:backups:read")
        body = b"not what the name says"
        wrong = "0" * 64
        reply = self.rest("POST", "backups/data/00/" + wrong, secret, body)
        self.assertEqual(reply.status, 404, reply)  # data files are addressed without their folder
        reply = self.rest("POST", "backups/data/" + wrong, secret, body)
        self.assertError(reply, 400, "bad_request")
        self.assertIn(hashlib.sha256(body).hexdigest(), reply.json()["message"])
        self.assertEqual(self.keys(), {})
        self.assertEqual([path for path in self.stored_objects() if path != "s3.key"], [])  # no object, no temp file
        right = hashlib.sha256(body).hexdigest()
        self.assertEqual(self.rest("POST", "backups/data/" + right, secret, body).status, 200)
        reply = self.rest("GET", "backups/data/" + right, secret, headers={"Range": "bytes=4-6"})
        self.assertEqual((reply.status, reply.body), (206, b"wha"))
        self.assertEqual(self.rest("HEAD", "backups/data/" + right, secret).headers["Content-Length"],
                         str(len(body)))
        self.assertEqual(self.rest("GET", "backups/keys/" + right, secret).status, 404)
        self.assertEqual(self.rest("GET", "backups/../data/" + right, secret).status, 404)

    def test_paths_outside_the_protocol_are_not_found(self):
        for path in ("data/xyz", "other/" + "a" * 64, "a/../data/", ".hidden/../config"):
            with self.subTest(path=path):
                with self.assertRaises(NotFound):
                    place_of(path)
        self.assertEqual(place_of("team/config").key, "team/config")
        self.assertEqual(place_of("data/" + "ab" * 32).key, "data/ab/" + "ab" * 32)
        self.assertEqual(place_of("team/locks/").folder, "team/locks/")


class EtagTests(ResticCase):
    def test_a_files_etag_is_made_of_its_name_and_rclone_copies_it_over_s3_without_taking_it_for_an_md5(self):
        secret = self.token("data:backups:write", "data:backups:read")
        body = os.urandom(300_000)
        name = hashlib.sha256(body).hexdigest()
        self.assertEqual(self.rest("POST", "backups/data/" + name, secret, body).status, 200)
        config = b"restic's config, as it sends it"
        self.assertEqual(self.rest("POST", "backups/config", secret, config).status, 200)
        pair = self.key_pair("data:backups:read")
        etag = '"%s-1"' % name[:32]  # its SHA-256, shaped as a multipart upload's: no MD5 was taken
        self.assertEqual(self.rest("HEAD", "backups/data/" + name, secret).headers["ETag"], etag)
        self.assertEqual(self.s3("HEAD", "/backups/data/%s/%s" % (name[:2], name), key_pair=pair).headers["ETag"],
                         etag)
        self.assertEqual(self.s3("HEAD", "/backups/config", key_pair=pair).headers["ETag"],
                         '"%s"' % hashlib.md5(config).hexdigest())  # a file not named by its bytes: their MD5
        # rclone compares a 32-digit ETag with the MD5 of what it copied: this one it knows is none
        copied = os.path.join(self.work, "copied")
        env = {"RCLONE_CONFIG_FSD_TYPE": "s3", "RCLONE_CONFIG_FSD_PROVIDER": "Other",
               "RCLONE_CONFIG_FSD_ACCESS_KEY_ID": pair[0], "RCLONE_CONFIG_FSD_SECRET_ACCESS_KEY": pair[1],
               "RCLONE_CONFIG_FSD_ENDPOINT": self.s3_url, "RCLONE_CONFIG_FSD_REGION": "us-east-1",
               "RCLONE_CONFIG_FSD_FORCE_PATH_STYLE": "true", "HOME": self.work}
        clean = {key: value for key, value in os.environ.items() if not key.startswith(("AWS_", "RCLONE_"))}
        done = subprocess.run([tool_or_skip("rclone"), "--config", os.devnull, "copy", "fsd:backups", copied],
                              env=dict(clean, **env), capture_output=True, timeout=TIMEOUT)
        self.assertEqual(done.returncode, 0, done.stderr[-2000:])
        with open(os.path.join(copied, "data", name[:2], name), "rb") as handle:
            self.assertEqual(hashlib.sha256(handle.read()).hexdigest(), name)


class AppendOnlyTests(ResticCase):
    def test_an_append_only_token_backs_up_and_destroys_nothing(self):
        admin = self.token("admin")
        adder = self.token("data:backups:create", "data:backups:read", "data:backups/locks/:delete")
        self.restic(self.url(admin), "init")
        self.restic(self.url(adder), "backup", self.tree)
        self.restic(self.url(adder), "backup", self.tree)
        before = self.keys()
        status, said = self.refused(self.url(adder), "forget", "--keep-last", "1", "--prune")
        self.assertNotEqual(status, 0)
        self.assertRegex(said, rb"403 Forbidden: token '\S+' lacks the scope "
                               rb"data:backups/snapshots/[0-9a-f]{64}:delete")
        self.restic(self.url(adder), "unlock")  # the lock forget left, as after any failed run
        self.restic(self.url(adder), "prune")  # nothing unreferenced: nothing to remove, so it passes
        data_key = next(key for key in before if key.startswith("data/"))
        name = data_key.rpartition("/")[2]
        self.assertEqual(self.rest("DELETE", "backups/data/" + name, adder).status, 403)
        key_file = next(key for key in before if key.startswith("keys/"))
        garbage = b"an attacker's key file"
        reply = self.rest("POST", "backups/" + key_file, adder, garbage)
        self.assertEqual(reply.status, 400, reply)  # not its name's bytes: refused before anything is kept
        reply = self.rest("POST", "backups/config", adder, b"another config")
        self.assertEqual(reply.status, 403, reply)
        after = self.keys()
        self.assertEqual({key: oid for key, oid in after.items() if not key.startswith("locks/")},
                         {key: oid for key, oid in before.items() if not key.startswith("locks/")})
        self.assertFalse([key for key in after if key.startswith("locks/")])  # restic removed its own locks
        self.assertEqual(len(self.snapshots(self.url(adder))), 2)
        self.restic(self.url(admin), "check", "--read-data")

    def test_an_append_only_repository_holds_for_every_writer_and_every_face(self):
        self.app.config = replace(self.app.config, restic_append_only="backups")
        admin = self.token("admin")
        self.restic(self.url(admin), "init")
        self.restic(self.url(admin), "backup", self.tree)
        before = self.keys()
        status, said = self.refused(self.url(admin), "forget", "--keep-last", "0", "--prune", "latest")
        self.assertNotEqual(status, 0)
        self.assertRegex(said, rb"403 Forbidden: the repository backups is append-only \(--restic-append-only\): "
                               rb"snapshots/[0-9a-f]{64} is never removed")
        self.restic(self.url(admin), "unlock")  # the lock the stopped forget left
        name = next(key for key in before if key.startswith("snapshots/")).rpartition("/")[2]
        reply = self.rest("DELETE", "backups/snapshots/" + name, admin)
        self.assertEqual(reply.status, 403, reply)
        self.assertIn("append-only", reply.json()["message"])
        pair = self.key_pair()  # admin
        self.assertS3Error(self.s3("DELETE", "/backups/snapshots/" + name, key_pair=pair), 403, "AccessDenied")
        self.assertS3Error(self.s3("PUT", "/backups/config", b"replaced", key_pair=pair), 403, "AccessDenied")
        lock = "/backups/locks/" + "1" * 64
        self.assertEqual(self.s3("PUT", lock, b"a lock", key_pair=pair).status, 200)
        self.assertEqual(self.s3("DELETE", lock, key_pair=pair).status, 204)  # its locks come and go
        self.assertEqual({key: oid for key, oid in self.keys().items() if not key.startswith("locks/")},
                         {key: oid for key, oid in before.items() if not key.startswith("locks/")})
        self.restic(self.url(admin), "check", "--read-data")


class PrivateRepositoryTests(ResticCase):
    def test_a_token_reaches_only_the_repositories_its_scopes_name(self):
        alice = self.token(*("data:backups/alice/:%s" % verb for verb in ("read", "write", "delete")))
        bob = self.token(*("data:backups/bob/:%s" % verb for verb in ("read", "write", "delete")))
        self.restic(self.url(alice, "backups/alice/"), "init")
        self.restic(self.url(alice, "backups/alice/"), "backup", self.tree)
        self.restic(self.url(bob, "backups/bob/"), "init")
        self.assertNotEqual(self.restic(self.url(bob, "backups/alice/"), "snapshots", check=False).returncode, 0)
        self.assertNotEqual(self.restic(self.url(bob, "backups/alice/"), "backup", self.tree,
                                        check=False).returncode, 0)
        self.assertNotEqual(self.restic(self.url(bob, "backups/"), "init", check=False).returncode, 0)
        snapshot = next(key for key in self.keys("alice/snapshots/")).rpartition("/")[2]
        for method, path in (("GET", "backups/alice/snapshots/"), ("GET", "backups/alice/snapshots/" + snapshot),
                             ("GET", "backups/alice/config"), ("DELETE", "backups/alice/snapshots/" + snapshot),
                             ("POST", "backups/alice/locks/" + hashlib.sha256(b"x").hexdigest())):
            with self.subTest(method=method, path=path):
                self.assertEqual(self.rest(method, path, bob, b"x" if method == "POST" else b"").status, 403)
        self.assertEqual(self.rest("GET", "", bob).json(), ["backups/bob"])
        self.assertEqual(self.rest("GET", "", alice).json(), ["backups/alice"])
        self.assertEqual(self.rest("GET", "", None).status, 401)
        self.assertEqual(len(self.snapshots(self.url(alice, "backups/alice/"))), 1)

    def test_a_repository_is_made_in_a_missing_bucket_only_by_an_admin(self):
        writer = self.token("data:photos:write", "data:photos:read")
        refused = self.restic(self.url(writer, "photos/"), "init", check=False)
        self.assertNotEqual(refused.returncode, 0)
        self.assertIsNone(self.app.buckets.get("photos"))
        self.restic(self.url(self.app.tokens.create(["admin"], "ops")[1], "photos/"), "init")
        self.assertEqual(self.app.buckets.get("photos").owner, "ops")  # the token that made it owns it
        self.assertEqual(self.rest("DELETE", "photos/", self.token("admin")).status, 501)


class CrashTests(ResticCase):
    def test_a_daemon_killed_in_the_middle_of_a_backup_leaves_a_repository_restic_checks_whole(self):
        data_dir = os.path.join(self.work, "store")
        daemon = Daemon(data_dir, "--auth", "off", "--workers", "1")
        daemon.start()
        self.addCleanup(daemon.stop)
        big = os.path.join(self.work, "big")
        os.makedirs(big)
        for number in range(12):
            with open(os.path.join(big, "part%02d.bin" % number), "wb") as handle:
                handle.write(payload(4 * MIB, number))
        repository = "rest:%s/restic/backups/" % daemon.url
        self.restic(repository, "init")
        data = os.path.join(data_dir, "repos", "backups")

        def stored() -> int:
            return sum(len(files) for _, _, files in os.walk(data))

        initialized = stored()
        # Decision: the killed backup reads its bytes from a pipe this test
        # keeps feeding, so it cannot end before the kill whatever the
        # machine's speed. A backup of files raced the kill and sometimes
        # won: restic dedups the twelve files above (one pattern repeated)
        # to about one chunk, so the files counted came with the backup's
        # last writes, a few milliseconds before it ended.
        backup = subprocess.Popen([self.restic_path, "-q", "backup", "--stdin", "--stdin-filename", "stream.bin"],
                                  env=self.environment(repository), stdin=subprocess.PIPE,
                                  stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        self.addCleanup(lambda: backup.poll() is None and backup.kill())
        stop_feeding = threading.Event()

        def feed() -> None:
            try:
                while not stop_feeding.is_set():
                    backup.stdin.write(os.urandom(MIB))  # incompressible, never the same twice
            except (BrokenPipeError, ValueError):
                pass  # restic was killed: its input is gone

        with Threads(deadline=30) as threads:
            threads.start(feed)
            try:
                wait_until(lambda: stored() >= initialized + 3, "restic stored its lock and two packs", TIMEOUT)
                self.assertIsNone(backup.poll(), "the backup ended before the daemon was killed")
                daemon.kill()  # with the pipe still fed: uploads under way
            finally:
                stop_feeding.set()
                backup.kill()
                backup.wait(30)
        try:
            backup.stdin.close()
        except BrokenPipeError:
            pass  # what it held for restic has nowhere to go
        daemon.start()
        self.restic(repository, "unlock")  # the killed backup's lock, as restic's docs say after a crash
        self.restic(repository, "check", "--read-data")
        self.restic(repository, "backup", big)
        self.restic(repository, "check", "--read-data")
        # the killed run wrote no snapshot: its input never ended
        self.assertEqual(len(self.snapshots(repository)), 1)
        listed = self.restic(repository, "ls", "latest").stdout.decode().split()
        self.assertEqual(len([path for path in listed if path.startswith(os.path.join(big, "part"))]), 12)



class VersionedConfigTests(ResticCase):
    """A restic repository's ``config`` is written once by a writer held to
    adding, in a bucket that keeps versions too: a new version of it would
    be the one restic reads, and restic could no longer open the
    repository (docs/restic.md: ``403``). The older config surviving as a
    noncurrent version is no help to restic."""

    CONFIG = b"the repository's config"

    def setUp(self) -> None:
        super().setUp()
        self.admin = self.token("admin")
        self.assertEqual(self.rest("POST", "backups/config", self.admin, self.CONFIG).status, 200)
        key_file = b"a key file"
        self.assertEqual(self.rest("POST", "backups/keys/" + sha256(key_file), self.admin, key_file).status, 200)
        self.app.buckets.set_versioning(self.app.buckets.require("backups"), "Enabled")

    def assertConfigKept(self) -> None:
        self.assertEqual(self.rest("GET", "backups/config", self.admin).body, self.CONFIG)
        self.assertIsNone(self.app.keys.get("backups", "config").version)  # the first (null) version, still current
        self.assertEqual(self.app.versions.of("backups", "config", 10), [])  # and no other

    def test_the_backup_hosts_token_does_not_replace_it_through_restic_or_s3(self):
        adder = ("data:backups:create", "data:backups:read", "data:backups/locks/:delete")
        reply = self.rest("POST", "backups/config", self.token(*adder), b"another config")
        self.assertEqual(reply.status, 403, reply)
        self.assertS3Error(self.s3("PUT", "/backups/config", b"another config", key_pair=self.key_pair(*adder)),
                           403, "AccessDenied")
        self.assertConfigKept()
        lock = b"a lock"  # what it may still do: add files, and new keys of the bucket as versions
        self.assertEqual(self.rest("POST", "backups/locks/" + sha256(lock), self.token(*adder), lock).status, 200)

    def test_under_append_only_an_admin_does_not_replace_it_through_any_face(self):
        self.app.config = replace(self.app.config, restic_append_only="backups")
        bearer = {"Authorization": "Bearer " + self.admin}
        meta = ",".join("%s %s" % (name, base64.b64encode(value).decode())
                        for name, value in (("target", b"s3"), ("bucket", b"backups"), ("key", b"config")))
        dav_auth = {"Authorization": "Basic " + base64.b64encode(b"me:" + self.admin.encode()).decode()}
        statuses = {
            "restic": self.rest("POST", "backups/config", self.admin, b"another config").status,
            "s3": self.s3("PUT", "/backups/config", b"another config", key_pair=self.key_pair()).status,
            "webdav": self.request("PUT", "/dav/backups/config", b"another config", dav_auth).status,
            "tus": self.request("POST", "/uploads", headers=dict(bearer, **{
                "Tus-Resumable": "1.0.0", "Upload-Length": "3", "Upload-Metadata": meta})).status,
            "copy": self.s3("PUT", "/backups/config", headers={"x-amz-copy-source": "/backups/keys/" + sha256(
                b"a key file")}, key_pair=self.key_pair()).status,
        }
        self.assertEqual(statuses, dict.fromkeys(statuses, 403))
        self.assertConfigKept()
