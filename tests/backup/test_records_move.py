"""``filestoraged move-records``: a store's records, from ``--records
local`` and from ``--records s3``, copied into a real PostgreSQL; daemons
started over the database serve what the store held (a token, a KV value,
a share link, an S3 key); run again it writes nothing; it refuses while a
daemon serves."""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import unittest

from filestoraged.deployment.serving import SERVING, serving
from filestoraged.records.bucket import BucketRecords
from filestoraged.sharing.sweep import SWEEP_TURN

from ..postgres_server import postgres
from ..records.test_balanced_cluster import call
from ..seaweed_server import ACCESS_KEY, SECRET_KEY, SeaweedMixin
from ..support import ROOT, Daemon, daemon_workers, multipart, wait_until

ENV = {"AWS_ACCESS_KEY_ID": ACCESS_KEY, "AWS_SECRET_ACCESS_KEY": SECRET_KEY}


class MoveRecordsTests(SeaweedMixin, unittest.TestCase):
    def setUp(self) -> None:
        super().setUp()
        self.server = postgres()
        self.database = self.server.new_database()
        self.addCleanup(self.server.drop_database, self.database)
        self.url = self.server.url(self.database)
        self.backend = ["--backend", "s3", "--s3-endpoint", self.store.endpoint, "--s3-bucket", self.bucket]

    def folder(self) -> str:
        made = tempfile.mkdtemp(prefix="fsd-move-")
        self.addCleanup(shutil.rmtree, made, True)
        return made

    def command(self, *arguments: str) -> subprocess.CompletedProcess:
        return subprocess.run([sys.executable, "-m", "filestoraged", *arguments], capture_output=True, text=True,
                              timeout=120, env=dict(os.environ, PYTHONPATH=ROOT, **ENV))

    def fill(self, records: str, data_dir: str) -> dict:
        """A daemon over ``records`` given a token, a KV value, a share link and a /data object; stopped."""
        made = self.command("token", "create", "--scope", "admin", "--name", "mover", "--data-dir", data_dir,
                            *self.backend, "--records", records)
        self.assertEqual(made.returncode, 0, made.stderr)
        token = made.stdout.split()[-1]
        daemon = Daemon(data_dir, *self.backend, "--records", records, "--auth", "writes", env=ENV).start()
        auth = {"Authorization": "Bearer " + token}
        self.assertEqual(call(daemon.port, "POST", "/kv/set", json.dumps({"moved": "yes"}), auth).status, 201)
        self.assertEqual(call(daemon.port, "POST", "/kv/commit", None, auth).status, 204)
        body, content_type = multipart({"file": ("moved.txt", b"shared before the move", "text/plain"),
                                        "max_downloads": "3"})
        shared = call(daemon.port, "PUT", "/file", body, dict(auth, **{"Content-Type": content_type}))
        self.assertEqual(shared.status, 201, shared.body)
        daemon.stop()
        return {"token": token, "link": "/file/" + shared.json()["url"].rsplit("/", 1)[1]}

    def assert_served_over_the_database(self, held: dict) -> None:
        daemon = Daemon(self.folder(), *self.backend, "--records", self.url, "--auth", "writes", env=ENV).start()
        self.addCleanup(daemon.stop)
        auth = {"Authorization": "Bearer " + held["token"]}
        self.assertEqual(json.loads(call(daemon.port, "GET", "/kv/moved", None, auth).body), {"moved": "yes"})
        self.assertEqual(call(daemon.port, "GET", held["link"]).body, b"shared before the move")

    def test_from_records_local_then_again_writing_nothing(self):
        data_dir = self.folder()
        held = self.fill("local", data_dir)
        moved = self.command("move-records", self.url, "--data-dir", data_dir, *self.backend)
        self.assertEqual(moved.returncode, 0, moved.stderr)
        self.assertRegex(moved.stdout, r"into postgresql://filestoraged@127\.0\.0\.1:\d+/\w+: (\d+) records "
                                       r"\(\1 written now, 0 moved before\)")
        self.assertNotIn("passfile", moved.stdout)
        self.assert_served_over_the_database(held)
        again = self.command("move-records", "--to", self.url, "--data-dir", data_dir, *self.backend)  # (its flag)
        self.assertEqual(again.returncode, 0, again.stderr)
        self.assertRegex(again.stdout, r": (\d+) records \(0 written now, \1 moved before\)")

    def test_from_records_s3_and_refused_while_a_daemon_serves(self):
        held = self.fill("s3", self.folder())
        records = BucketRecords(self.s3_client())
        self.addCleanup(records.close)
        self.assertTrue(records.take_turn(SWEEP_TURN, 0))  # as a serving daemon's sweep does every minute
        refused = self.command("move-records", self.url, "--data-dir", self.folder(), *self.backend,
                               "--records", "s3")
        self.assertEqual(refused.returncode, 1)
        self.assertIn("a daemon serves these records", refused.stderr)
        records.delete(SWEEP_TURN)  # the daemons stopped long enough ago
        moved = self.command("move-records", self.url, "--data-dir", self.folder(), *self.backend, "--records", "s3")
        self.assertEqual(moved.returncode, 0, moved.stderr)
        self.assert_served_over_the_database(held)

    def test_refused_from_a_daemons_start_and_allowed_once_it_stopped(self):
        """A daemon over ``--records s3`` that has served for seconds only (no
        sweep's turn taken yet) is seen by its lease; once it stops cleanly
        the move goes on at once."""
        folder = self.folder()
        daemon = Daemon(folder, *self.backend, "--records", "s3", "--workers", "3", env=ENV).start()
        self.addCleanup(daemon.stop)
        self.assertEqual(call(daemon.port, "GET", "/healthz").status, 200)  # whichever worker took it
        refused = self.command("move-records", self.url, "--data-dir", self.folder(), *self.backend,
                               "--records", "s3")
        self.assertEqual(refused.returncode, 1, refused.stdout)
        self.assertIn("daemon serves these records", refused.stderr)
        self.assertEqual(daemon.stop(), 0)
        moved = self.command("move-records", self.url, "--data-dir", self.folder(), *self.backend, "--records", "s3")
        self.assertEqual(moved.returncode, 0, moved.stderr)

    def test_each_worker_holds_a_lease_naming_its_daemon(self):
        """Any worker may take a daemon's first request, so each keeps a
        lease from before it accepts one; together they name one daemon."""
        daemon = Daemon(self.folder(), *self.backend, "--records", "s3", "--workers", "3", env=ENV).start()
        self.addCleanup(daemon.stop)
        records = BucketRecords(self.s3_client())
        self.addCleanup(records.close)

        def leases() -> list:
            return [record.value for _, record in records.walk(SERVING, 100)]
        wait_until(lambda: len(leases()) == 3, "a lease from each of the three workers", timeout=30)
        self.assertEqual(sorted(lease["pid"] for lease in leases()), sorted(daemon_workers(daemon.process.pid)))
        self.assertEqual({lease["daemon"] for lease in leases()}, {daemon.process.pid})
        self.assertEqual([name for name, _ in serving(records)], ["%s-%d" % (socket.gethostname(),
                                                                              daemon.process.pid)])
        self.assertEqual(daemon.stop(), 0)
        self.assertEqual((leases(), serving(records)), ([], []))

    def test_what_it_needs_said_in_one_line(self):
        disk = self.command("move-records", self.url, "--data-dir", self.folder())
        self.assertEqual(disk.returncode, 2)
        self.assertIn("a disk store moves there first: filestoraged move-to-s3", disk.stderr)
        nowhere = self.command("move-records", "s3", "--data-dir", self.folder())
        self.assertEqual(nowhere.returncode, 2)
        self.assertIn("move-records takes the database", nowhere.stderr)
        elsewhere = self.command("fsck", "--to", self.url, "--data-dir", self.folder())
        self.assertEqual((elsewhere.returncode, elsewhere.stderr.strip()),
                         (2, "filestoraged: --to goes with move-records: filestoraged move-records --to "
                             "postgresql://..."))
