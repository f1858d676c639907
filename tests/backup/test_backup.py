"""``filestoraged backup`` of a store while it serves, and ``filestoraged
restore``: the commands of docs/operations.md ("Backup and restore"), run
as written against a daemon with two workers and the S3 API, with writes
going on during the backup. The restored store serves every object, S3 key
and version (with its lock), share link, token and key-value pair that was
there when the backup began, nothing deleted before it, and fsck finds it
clean; a second backup into the same folder copies only what is new."""

from __future__ import annotations

import base64
import errno
import hashlib
import http.client
import json
import os
import shutil
import subprocess
import sys
import tempfile
import threading
import unittest
from dataclasses import replace
from datetime import datetime, timezone
from unittest import mock

from filestoraged.backup import copies
from filestoraged.backup.make import make_backup
from filestoraged.backup.restore import restore
from filestoraged.errors import FileStoreError
from filestoraged.storage.names import DEFAULT, repository

from ..s3api_support import REGION, boto3_or_skip
from ..seaweed_server import ACCESS_KEY, SECRET_KEY, SeaweedMixin
from ..support import MIB, ROOT, Daemon, ServerCase, Threads, free_port, payload, sha256


def command(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "filestoraged", *args], capture_output=True, text=True, timeout=120,
                          cwd=ROOT, env=dict(os.environ, PYTHONPATH=ROOT))


class Store:
    """A daemon as a subprocess, with the S3 API, and an admin token's
    secrets (``args``, ``env``: its other flags and variables)."""

    def __init__(self, case: unittest.TestCase, data_dir: str, token: str = "", key_pair=("", ""), *args: str,
                 env=None) -> None:
        self.s3_port = free_port()
        self.daemon = Daemon(data_dir, "--s3-api", "127.0.0.1:%d" % self.s3_port, "--auth", "all",
                             "--workers", "2", *args, env=env).start()
        case.addCleanup(self.daemon.stop)
        self.token, self.key_pair = token, key_pair

    def call(self, method: str, path: str, body: bytes = b"", headers=None, bearer: bool = True):
        conn = http.client.HTTPConnection("127.0.0.1", self.daemon.port, timeout=30)
        try:
            sent = dict(headers or {})
            if bearer:
                sent["Authorization"] = "Bearer " + self.token
            conn.request(method, path, body, sent)
            response = conn.getresponse()
            return response.status, response.read(), response
        finally:
            conn.close()

    def s3(self):
        boto3 = boto3_or_skip(unittest.TestCase())
        from botocore.config import Config

        return boto3.client("s3", endpoint_url="http://127.0.0.1:%d" % self.s3_port, region_name=REGION,
                            aws_access_key_id=self.key_pair[0], aws_secret_access_key=self.key_pair[1],
                            config=Config(s3={"addressing_style": "path"}, signature_version="s3v4",
                                          retries={"max_attempts": 1}))


class BackupRestoreTests(unittest.TestCase):
    def setUp(self) -> None:
        boto3_or_skip(self)
        self.folder = tempfile.mkdtemp(prefix="fsd-backup-")
        self.addCleanup(shutil.rmtree, self.folder, True)
        self.live, self.backup, self.restored = (os.path.join(self.folder, name)
                                                 for name in ("live", "backup", "restored"))
        os.makedirs(self.live)
        done = command("token", "create", "--scope", "admin", "--s3", "--name", "ops", "--data-dir", self.live)
        self.assertEqual(done.returncode, 0, done.stderr)
        said = dict(line.split("=", 1) for line in done.stdout.splitlines() if "=" in line)
        self.store = Store(self, self.live, said["FILESTORAGED_TOKEN"],
                           (said["AWS_ACCESS_KEY_ID"], said["AWS_SECRET_ACCESS_KEY"]))

    def fill(self) -> dict:
        """One of everything a store keeps; what a restore must give back."""
        store, s3 = self.store, self.store.s3()
        kept = {"small": payload(1000, 1), "big": payload(3 * MIB + 7, 2), "data": payload(5000, 3)}
        for name in ("small", "big"):
            self.assertEqual(store.call("POST", "/files", kept[name], {"Content-Type": "text/plain"})[0], 200)
        self.assertEqual(store.call("PUT", "/data/photos", kept["data"])[0], 201)
        s3.create_bucket(Bucket="docs")
        s3.put_bucket_versioning(Bucket="docs", VersioningConfiguration={"Status": "Enabled"})
        kept["older"] = s3.put_object(Bucket="docs", Key="notes/a.txt", Body=b"first draft")["VersionId"]
        s3.put_object(Bucket="docs", Key="notes/a.txt", Body=b"second draft")
        s3.create_bucket(Bucket="vault", ObjectLockEnabledForBucket=True)
        body = b"kept until 2030"
        kept["locked"] = s3.put_object(Bucket="vault", Key="ledger", Body=body, ObjectLockMode="COMPLIANCE",
                                       ContentMD5=base64.b64encode(hashlib.md5(body).digest()).decode(),
                                       ObjectLockRetainUntilDate=datetime(2030, 1, 1, tzinfo=timezone.utc)
                                       )["VersionId"]
        s3.create_multipart_upload(Bucket="docs", Key="unfinished")
        status, body, _ = store.call("PUT", "/file/report.pdf", b"%PDF shared", {"X-Password": "pw",
                                                                                 "Max-Downloads": "3"})
        self.assertEqual(status, 201, body)
        kept["link"] = body.decode().strip()
        self.assertEqual(store.call("POST", "/kv/set", json.dumps({"colour": "teal"}).encode(),
                                    {"Content-Type": "application/json"})[0], 201)
        self.assertEqual(store.call("POST", "/kv/commit")[0], 204)
        self.assertEqual(store.call("POST", "/files", b"deleted before the backup")[0], 200)
        self.assertEqual(store.call("DELETE", "/files/" + sha256(b"deleted before the backup"))[0], 200)
        return kept

    def test_a_serving_store_is_backed_up_and_restored_whole(self):
        kept = self.fill()
        written, stop = [], threading.Event()

        def keep_writing() -> None:  # uploads in flight all through the backup
            number = 0
            while not stop.is_set():
                body = b"written during the backup %d" % number
                if self.store.call("POST", "/files", body)[0] == 200:
                    written.append(body)
                number += 1

        with Threads() as threads:
            threads.start(keep_writing)
            try:
                made = command("backup", self.backup, "--data-dir", self.live)
            finally:
                stop.set()
        self.assertEqual(made.returncode, 0, made.stderr)
        self.assertIn("backed up %s into %s" % (self.live, self.backup), made.stdout)
        self.assertTrue(written, "no upload went on during the backup")
        with open(os.path.join(self.backup, "backup.json")) as written_manifest:
            manifest = json.load(written_manifest)
        self.assertEqual(manifest["how"], "hard links")
        # After the backup: the live store changes; the backup does not.
        self.assertEqual(self.store.call("DELETE", "/files/" + sha256(kept["small"]))[0], 200)
        self.assertEqual(self.store.call("POST", "/files", b"after the backup")[0], 200)

        done = command("restore", self.backup, "--data-dir", self.restored)
        self.assertEqual(done.returncode, 0, done.stdout + done.stderr)
        checked = command("fsck", "--data-dir", self.restored)
        self.assertEqual(checked.returncode, 0, checked.stdout + checked.stderr)
        self.assertIn("%d objects checked, 0 corrupt" % manifest["objects"], checked.stdout)
        self.store.daemon.stop()
        back = Store(self, self.restored, self.store.token, self.store.key_pair)
        for name in ("small", "big"):
            status, body, response = back.call("GET", "/files/" + sha256(kept[name]))
            self.assertEqual((status, body == kept[name]), (200, True), name)
            self.assertEqual(response.getheader("Content-Type"), "text/plain")
        self.assertEqual(back.call("GET", "/data/photos/" + sha256(kept["data"]))[1], kept["data"])
        self.assertEqual(back.call("GET", "/files/" + sha256(b"after the backup"))[0], 404)
        self.assertEqual(back.call("GET", "/files/" + sha256(b"deleted before the backup"))[0], 404)
        s3 = back.s3()
        self.assertEqual(s3.get_object(Bucket="docs", Key="notes/a.txt")["Body"].read(), b"second draft")
        self.assertEqual(s3.get_object(Bucket="docs", Key="notes/a.txt", VersionId=kept["older"])["Body"].read(),
                         b"first draft")
        with self.assertRaises(Exception) as refused:
            s3.delete_object(Bucket="vault", Key="ledger", VersionId=kept["locked"])
        self.assertIn("AccessDenied", str(refused.exception))
        self.assertEqual(s3.list_multipart_uploads(Bucket="docs").get("Uploads", []), [])
        link = "/" + kept["link"].split("/", 3)[3]
        self.assertEqual(back.call("GET", link, bearer=False)[0], 401)
        self.assertEqual(back.call("GET", link, headers={"X-Password": "pw"}, bearer=False)[1], b"%PDF shared")
        self.assertEqual(json.loads(back.call("GET", "/kv/colour")[1]), {"colour": "teal"})
        self.assertEqual(back.call("GET", "/kv/colour", bearer=False)[0], 401)  # tokens came back, and rule
        # Each upload made during the backup is wholly there or not at all;
        # those answered before it began are all there.
        for body in written:
            status, got, _ = back.call("GET", "/files/" + sha256(body))
            self.assertIn((status, got == body), ((200, True), (404, False)))

    def test_a_second_backup_into_the_same_folder_copies_what_is_new_and_drops_what_went(self):
        stays, goes, comes = payload(2000, 4), payload(2000, 5), payload(2000, 6)
        for body in (stays, goes):
            self.assertEqual(self.store.call("POST", "/files", body)[0], 200)
        first = command("backup", self.backup, "--data-dir", self.live)
        self.assertIn("2 objects, 3.9 KiB (2 new, 0 removed", first.stdout)
        self.assertEqual(self.store.call("DELETE", "/files/" + sha256(goes))[0], 200)
        self.assertEqual(self.store.call("POST", "/files", comes)[0], 200)
        again = command("backup", self.backup, "--data-dir", self.live)
        self.assertEqual(again.returncode, 0, again.stderr)
        self.assertIn("2 objects, 3.9 KiB (1 new, 1 removed", again.stdout)
        in_backup = sorted(name for folder, _, names in os.walk(self.backup) for name in names
                           if len(name) == 64)
        self.assertEqual(in_backup, sorted([sha256(stays), sha256(comes)]))

    def test_what_it_cannot_do_it_says(self):
        self.assertEqual(command("backup", self.backup, "--data-dir", self.live).returncode, 0)
        into_store = command("restore", self.backup, "--data-dir", self.live)
        self.assertEqual(into_store.returncode, 1)
        self.assertIn("holds a store already", into_store.stderr)
        over_store = command("backup", self.live, "--data-dir", self.backup)
        self.assertEqual(over_store.returncode, 1)
        self.assertIn("holds a store, not a backup", over_store.stderr)
        not_a_backup = command("restore", os.path.join(self.folder, "nothing"), "--data-dir", self.restored)
        self.assertEqual(not_a_backup.returncode, 1)
        self.assertIn("holds no finished backup", not_a_backup.stderr)
        elsewhere = command("backup", self.backup, "--backend", "s3", "--s3-endpoint", "http://127.0.0.1:1",
                            "--s3-bucket", "b", "--records", "s3")
        self.assertEqual(elsewhere.returncode, 2)
        self.assertIn("back up what holds the store with its own tools", elsewhere.stderr)


class AcrossFileSystemsTests(ServerCase):
    """Where the backup is on another file system, objects are copied, with
    their content type, and the restore copies them back."""

    def test_objects_are_copied_with_their_type_where_links_cannot_be_made(self):
        big = payload(2 * MIB + 3, 6)
        self.assertEqual(self.request("POST", "/files", big, {"Content-Type": "image/png"}).status, 200)
        folder = tempfile.mkdtemp(prefix="fsd-backup-copies-")
        self.addCleanup(shutil.rmtree, folder, True)

        def no_link(*args, **kwargs):  # every link in the process (os.link itself is patched)
            raise OSError(errno.EXDEV, "Invalid cross-device link")

        with mock.patch.object(copies.os, "link", no_link):
            made = make_backup(self.data_dir, os.path.join(folder, "backup"), self.config.max_size)
            self.assertEqual((made.how, made.objects, made.new), ("copies", 1, 1))
            manifest, placed, lacking = restore(os.path.join(folder, "backup"), os.path.join(folder, "restored"),
                                                self.config.max_size)
        self.assertEqual((placed.copied, placed.linked, lacking), (1, 0, []))
        self.assertEqual(manifest.objects, 1)
        self.config = replace(self.config, data_dir=os.path.join(folder, "restored"))
        self.restart_server()
        got = self.request("GET", "/files/" + sha256(big))
        self.assertEqual((got.status, got.body == big, got.headers.get("Content-Type")), (200, True, "image/png"))


class QuotaHoldsTests(ServerCase):
    def test_a_restored_store_holds_nothing_against_its_buckets_quotas(self):
        self.app.buckets.create("photos")
        self.app.buckets.set_quota(self.app.buckets.get("photos"), 1000)
        self.app.backend.hold(repository("photos"), "tus:" + "a" * 32, 900)  # an unfinished resumable upload's
        self.assertEqual(self.app.backend.index.bucket_bytes("photos"), (0, 900))
        folder = tempfile.mkdtemp(prefix="fsd-backup-holds-")
        self.addCleanup(shutil.rmtree, folder, True)
        make_backup(self.data_dir, os.path.join(folder, "backup"), self.config.max_size)
        restore(os.path.join(folder, "backup"), os.path.join(folder, "restored"), self.config.max_size)
        self.config = replace(self.config, data_dir=os.path.join(folder, "restored"))
        self.restart_server()
        self.assertEqual(self.app.backend.index.bucket_bytes("photos"), (0, 0))
        self.assertEqual(self.request("PUT", "/data/photos", b"x" * 950).status, 201)  # the room is there


class CutShortTests(ServerCase):
    def test_a_backup_cut_short_is_finished_by_the_next_one(self):
        self.assertEqual(self.request("POST", "/files", b"kept through a failure").status, 200)
        folder = tempfile.mkdtemp(prefix="fsd-backup-cut-")
        self.addCleanup(shutil.rmtree, folder, True)
        dest = os.path.join(folder, "backup")
        real = copies.copy_database
        calls = []

        def failing(source, target):
            calls.append(target)
            real(source, target)
            if len(calls) == 2:  # the records copied, then a stop before the manifest
                raise OSError(errno.EIO, "cut short")

        with mock.patch("filestoraged.backup.make.copy_database", failing):
            with self.assertRaises(OSError):
                make_backup(self.data_dir, dest, self.config.max_size)
        self.assertFalse(os.path.exists(os.path.join(dest, "backup.json")))  # not a finished backup
        made = make_backup(self.data_dir, dest, self.config.max_size)
        self.assertEqual(made.objects, 1)
        self.assertTrue(os.path.exists(os.path.join(dest, "backup.json")))


class RegularFilesOnlyTests(ServerCase):
    """A backup is a folder anyone may have written into: a symbolic link in
    it (an object file turned into a link to ``/etc/passwd``, the records,
    the server key) is refused with its name, and a refused restore leaves
    nothing behind; a store with such a file is not backed up either."""

    def setUp(self) -> None:
        super().setUp()
        self.assertEqual(self.request("POST", "/files", b"a backed-up object").status, 200)
        self.folder = tempfile.mkdtemp(prefix="fsd-backup-links-")
        self.addCleanup(shutil.rmtree, self.folder, True)
        self.backup = os.path.join(self.folder, "backup")
        make_backup(self.data_dir, self.backup, self.config.max_size)
        self.outside = os.path.join(self.folder, "outside")
        with open(self.outside, "w") as secret:
            secret.write("root:x:0:0:root:/root:/bin/bash\n")

    def object_file(self, root: str) -> str:
        with copies.open_store(root, self.config.max_size) as store:
            return store.object_path(DEFAULT, sha256(b"a backed-up object"))

    def linked(self, path: str) -> None:
        os.unlink(path)
        os.symlink(self.outside, path)

    def assertRefused(self, path: str, into: str) -> None:
        refused = command("restore", self.backup, "--data-dir", into)
        self.assertEqual(refused.returncode, 1, refused.stderr)
        self.assertIn("%s is a symbolic link: backup and restore take regular files only" % path, refused.stderr)

    def test_an_object_that_is_a_link_is_refused_and_nothing_is_left(self):
        path = self.object_file(self.backup)
        self.linked(path)
        into = os.path.join(self.folder, "restored")
        self.assertRefused(path, into)
        self.assertFalse(os.path.exists(into))
        made_for_it = os.path.join(self.folder, "made-for-the-service")
        os.mkdir(made_for_it)
        self.assertRefused(path, made_for_it)
        self.assertEqual(os.listdir(made_for_it), [])

    def test_records_and_the_server_key_that_are_links_are_refused(self):
        for name in ("meta.db", "s3.key"):
            with self.subTest(name=name):
                path = os.path.join(self.backup, name)
                kept = path + ".kept"
                if os.path.exists(path):
                    os.rename(path, kept)
                os.symlink(self.outside, path)
                into = os.path.join(self.folder, "restored-" + name)
                self.assertRefused(path, into)
                self.assertFalse(os.path.exists(into))
                os.unlink(path)
                if os.path.exists(kept):
                    os.rename(kept, path)

    def test_a_store_with_a_link_for_an_object_is_not_backed_up(self):
        path = self.object_file(self.data_dir)
        self.linked(path)
        with self.assertRaises(FileStoreError) as raised:
            make_backup(self.data_dir, os.path.join(self.folder, "second"), self.config.max_size)
        self.assertIn("%s is a symbolic link" % path, raised.exception.text)


class MoveToS3Tests(SeaweedMixin, unittest.TestCase):
    """docs/SCALING.md, "From one daemon to several": a disk store moved
    into a SeaweedFS bucket with ``filestoraged move-to-s3`` (run twice: the
    second copies nothing), then served by three daemons over that bucket."""

    def test_a_disk_store_moves_to_a_bucket_that_three_daemons_serve(self):
        boto3_or_skip(self)
        folder = tempfile.mkdtemp(prefix="fsd-move-")
        self.addCleanup(shutil.rmtree, folder, True)
        live = os.path.join(folder, "live")
        os.makedirs(live)
        done = command("token", "create", "--scope", "admin", "--s3", "--name", "ops", "--data-dir", live)
        said = dict(line.split("=", 1) for line in done.stdout.splitlines() if "=" in line)
        pair = said["AWS_ACCESS_KEY_ID"], said["AWS_SECRET_ACCESS_KEY"]
        store = Store(self, live, said["FILESTORAGED_TOKEN"], pair)
        kept = {"files": payload(3 * MIB + 1, 7), "data": payload(4000, 8)}
        self.assertEqual(store.call("POST", "/files", kept["files"], {"Content-Type": "text/csv"})[0], 200)
        self.assertEqual(store.call("PUT", "/data/photos", kept["data"])[0], 201)
        s3 = store.s3()
        s3.create_bucket(Bucket="docs")
        s3.put_bucket_versioning(Bucket="docs", VersioningConfiguration={"Status": "Enabled"})
        older = s3.put_object(Bucket="docs", Key="a.txt", Body=b"first")["VersionId"]
        s3.put_object(Bucket="docs", Key="a.txt", Body=b"second")
        status, link, _ = store.call("PUT", "/file/r.txt", b"shared", {"X-Password": "pw", "Max-Downloads": "5"})
        self.assertEqual(status, 201)
        self.assertEqual(store.call("POST", "/kv/set", b'{"k": 1}', {"Content-Type": "application/json"})[0], 201)
        self.assertEqual(store.call("POST", "/kv/commit")[0], 204)
        target = ("--s3-endpoint", self.store.endpoint, "--s3-bucket", self.bucket)
        credentials = {"AWS_ACCESS_KEY_ID": ACCESS_KEY, "AWS_SECRET_ACCESS_KEY": SECRET_KEY}

        def move() -> subprocess.CompletedProcess:
            return subprocess.run([sys.executable, "-m", "filestoraged", "move-to-s3", "--data-dir", live, *target],
                                  capture_output=True, text=True, timeout=300, cwd=ROOT,
                                  env=dict(os.environ, PYTHONPATH=ROOT, **credentials))

        running = move()
        self.assertEqual(running.returncode, 1)
        self.assertIn("is in use by pid", running.stderr)  # the daemon first stops
        store.daemon.stop()
        moved = move()
        self.assertEqual(moved.returncode, 0, moved.stdout + moved.stderr)
        self.assertIn("all of it checked in the bucket", moved.stdout)
        self.assertRegex(moved.stdout, r"(\d+) objects, .* \(\1 copied now, 0 there already\)")
        again = move()
        self.assertEqual(again.returncode, 0, again.stderr)
        self.assertRegex(again.stdout, r"(\d+) objects, .* \(0 copied now, \1 there already\)")
        for number in range(3):
            served = Store(self, os.path.join(folder, "daemon-%d" % number), store.token, pair, "--backend", "s3",
                           "--records", "s3", *target, "--s3-key-file", os.path.join(live, "s3.key"),
                           env=credentials)
            with self.subTest(daemon=number):
                status, body, response = served.call("GET", "/files/" + sha256(kept["files"]))
                self.assertEqual((status, body == kept["files"], response.getheader("Content-Type")),
                                 (200, True, "text/csv"))
                self.assertEqual(served.call("GET", "/data/photos/" + sha256(kept["data"]))[1], kept["data"])
                client = served.s3()  # the same key pair: the same records and server key
                self.assertEqual(client.get_object(Bucket="docs", Key="a.txt")["Body"].read(), b"second")
                self.assertEqual(client.get_object(Bucket="docs", Key="a.txt", VersionId=older)["Body"].read(),
                                 b"first")
                self.assertEqual(json.loads(served.call("GET", "/kv/k")[1]), {"k": 1})
                path = "/" + link.decode().strip().split("/", 3)[3]
                self.assertEqual(served.call("GET", path, headers={"X-Password": "pw"}, bearer=False)[1],
                                 b"shared")

    def test_a_second_move_never_writes_an_older_state_over_a_newer_one(self):
        """docs/SCALING.md lets the move run again. The daemons over the
        bucket served meanwhile: a download-once link spent, a token
        revoked. The second run brought both back (the link answered 200
        again); it writes only what no run wrote."""
        folder = tempfile.mkdtemp(prefix="fsd-move-again-")
        self.addCleanup(shutil.rmtree, folder, True)
        live = os.path.join(folder, "live")
        os.makedirs(live)
        done = command("token", "create", "--scope", "admin", "--name", "ops", "--data-dir", live)
        admin = done.stdout.strip().splitlines()[-1]
        temp = command("token", "create", "--scope", "files:write", "--name", "temp", "--data-dir", live)
        temp_secret = temp.stdout.strip().splitlines()[-1]
        store = Store(self, live, admin)
        status, link, _ = store.call("PUT", "/file/once.txt", b"read once", {"Max-Downloads": "1"})
        self.assertEqual(status, 201)
        path = "/" + link.decode().strip().split("/", 3)[3]
        store.daemon.stop()
        target = ("--s3-endpoint", self.store.endpoint, "--s3-bucket", self.bucket)
        credentials = {"AWS_ACCESS_KEY_ID": ACCESS_KEY, "AWS_SECRET_ACCESS_KEY": SECRET_KEY}
        env = dict(os.environ, PYTHONPATH=ROOT, **credentials)

        def move() -> subprocess.CompletedProcess:
            return subprocess.run([sys.executable, "-m", "filestoraged", "move-to-s3", "--data-dir", live, *target],
                                  capture_output=True, text=True, timeout=300, cwd=ROOT, env=env)

        first = move()
        self.assertEqual(first.returncode, 0, first.stdout + first.stderr)
        shared = ("--backend", "s3", "--records", "s3", *target, "--s3-key-file", os.path.join(live, "s3.key"))
        served = Store(self, os.path.join(folder, "served"), admin, ("", ""), *shared, env=credentials)
        self.assertEqual(served.call("GET", path, bearer=False)[:2], (200, b"read once"))
        self.assertEqual(served.call("GET", path, bearer=False)[0], 410)  # spent
        revoked = subprocess.run([sys.executable, "-m", "filestoraged", "token", "revoke", "temp", "--data-dir",
                                  os.path.join(folder, "served"), *shared], capture_output=True, text=True,
                                 timeout=60, cwd=ROOT, env=env)
        self.assertEqual(revoked.returncode, 0, revoked.stderr)
        self.assertEqual(served.call("POST", "/files", b"x", {"Authorization": "Bearer " + temp_secret},
                                     bearer=False)[0], 401)
        again = move()
        self.assertEqual(again.returncode, 0, again.stdout + again.stderr)
        self.assertEqual(served.call("GET", path, bearer=False)[0], 410)  # still spent
        self.assertEqual(served.call("POST", "/files", b"x", {"Authorization": "Bearer " + temp_secret},
                                     bearer=False)[0], 401)  # still revoked
        self.assertRegex(again.stdout, r"(\d+) records \(0 written now, \1 moved before\)")
