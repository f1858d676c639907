"""``--records postgresql://``: the KV and share-link contracts, word for
word, with their records in a real PostgreSQL and the bytes in a real
SeaweedFS (across three daemons: ``test_balanced_cluster``);
a daemon that finds the database away at start says so in one line; the
database stopped under a daemon and started again."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
import unittest

from filestoraged.catalog.keys import Entry
from filestoraged.kvstore.store import KVLimits, KVStore
from filestoraged.records.postgres import PostgresRecords
from filestoraged.storage.names import repository

from ..faces.test_share_http import ShareContract
from ..kvstore.test_kv import KVContract
from ..postgres_server import postgres
from ..seaweed_server import ACCESS_KEY, SECRET_KEY, SeaweedMixin
from ..storage.test_s3 import S3ServerCase
from ..support import ROOT, Threads, free_port, wait_until

ENV = {"AWS_ACCESS_KEY_ID": ACCESS_KEY, "AWS_SECRET_ACCESS_KEY": SECRET_KEY}


class DatabaseServerCase(S3ServerCase):
    config_overrides = {"backend": "s3"}

    def setUp(self) -> None:
        self.postgres = postgres()
        self.database = self.postgres.new_database()
        self.addCleanup(self.postgres.drop_database, self.database)
        self.config_overrides = dict(type(self).config_overrides, records=self.postgres.url(self.database))
        super().setUp()


class DatabaseKVTests(KVContract, DatabaseServerCase):
    pass


class DatabaseKVAtOnceTests(unittest.TestCase):
    """Three stores (daemons) over one database staging and committing at
    once: every commit goes through whole (a step that races another waits
    its turn or runs again), none is a 500."""

    def test_commits_from_three_stores_at_once_all_go_through(self):
        server = postgres()
        database = server.new_database()
        self.addCleanup(server.drop_database, database)
        stores = [KVStore(PostgresRecords(server.address(database)), KVLimits(), own=True) for _ in range(3)]
        for store in stores:
            self.addCleanup(store.close)

        def client(number: int) -> int:
            for round_ in range(25):
                store = stores[(number + round_) % 3]
                store.stage_set("k-%d-%d" % (number, round_), round_)
                store.commit()
            return number

        with Threads(deadline=120) as threads:
            for number in range(6):
                threads.start(client, number)
        self.assertEqual(threads.results, list(range(6)))
        for number in range(6):
            for round_ in range(25):
                self.assertEqual(stores[0].lookup("k-%d-%d" % (number, round_)), (True, round_))


class DatabaseShareTests(ShareContract, DatabaseServerCase):
    def test_links_live_in_the_database_not_in_the_bucket(self):
        self.share(b"kept in the database")
        self.assertEqual(self.link_count(), 1)
        self.assertFalse(any(key.startswith("records/") for key in self.keys_in_bucket()))


class DatabaseStartTests(SeaweedMixin, unittest.TestCase):
    """What a daemon says at start about the database ``--records`` names,
    in one line, and its exit status."""

    def start(self, *arguments: str) -> subprocess.CompletedProcess:
        folder = tempfile.mkdtemp(prefix="fsd-records-")
        self.addCleanup(shutil.rmtree, folder, True)
        return subprocess.run([sys.executable, "-m", "filestoraged", "--data-dir", folder, *arguments],
                              capture_output=True, text=True, timeout=60, env=dict(os.environ, PYTHONPATH=ROOT,
                                                                                    **ENV))

    def test_the_address_is_checked_and_the_database_must_answer(self):
        backend = ["--backend", "s3", "--s3-endpoint", self.store.endpoint, "--s3-bucket", self.bucket]
        alone = self.start("--records", "postgresql://u@127.0.0.1/db")
        self.assertEqual((alone.returncode, alone.stderr.strip()),
                         (2, "filestoraged: --records postgresql:// needs --backend s3 (the bytes are shared by "
                             "every daemon there)"))
        secret = self.start(*backend, "--records", "postgresql://u:hunter2@127.0.0.1/db")
        self.assertEqual(secret.returncode, 2)
        self.assertIn("put the database's password in a file (passfile=) or PGPASSWORD", secret.stderr)
        self.assertNotIn("Traceback", secret.stderr)
        away = self.start(*backend, "--records", "postgresql://u@127.0.0.1:%d/db?tls=disable" % free_port())
        self.assertEqual(away.returncode, 1)
        self.assertIn("the records' database at 127.0.0.1", away.stderr)
        self.assertIn("does not answer", away.stderr)
        server = postgres()
        wrong = self.start(*backend, "--records", server.url("postgres").replace("passfile=", "passfile=/nowhere"))
        self.assertEqual(wrong.returncode, 2)
        self.assertIn("the passfile /nowhere", wrong.stderr)
        refused = self.start(*backend, "--records", server.url("postgres").split("&")[0], "--port", "0")
        self.assertEqual(refused.returncode, 1)
        self.assertIn("asks filestoraged for a password, and none is given", refused.stderr)


class DatabaseRestartTests(DatabaseServerCase):
    """The database stopped under a daemon and started again: while it is
    away, requests that need records answer 503 with Retry-After (never a
    500, never a wrong answer); once it is back, the daemon serves again by
    itself, and what it acknowledged before is there."""

    def setUp(self) -> None:
        from ..postgres_server import Postgres

        self.own = Postgres()  # a server of its own: stopping it disturbs no other test
        self.addCleanup(self.own.stop)
        self.database = self.own.new_database()
        self.config_overrides = dict(type(self).config_overrides, records=self.own.url(self.database))
        S3ServerCase.setUp(self)

    def test_503_while_away_then_serving_by_itself(self):
        self.assertEqual(self.request("POST", "/kv/set", b'{"kept": 1}').status, 201)
        self.assertEqual(self.request("POST", "/kv/commit").status, 204)
        self.own.halt()
        for _ in range(5):
            away = self.request("POST", "/kv/set", b'{"lost": 2}')
            self.assertEqual(away.status, 503, away.body)
            self.assertIn("Retry-After", away.headers)
            self.assertEqual(self.request("GET", "/kv/kept").status, 503)
        self.own.start()
        wait_until(lambda: self.request("GET", "/kv/kept").status == 200, "served again")
        self.assertEqual(self.request("GET", "/kv/kept").json(), {"kept": 1})


    def test_healthz_says_the_database_is_away_and_then_back(self):
        self.assertEqual(self.request("GET", "/healthz").status, 200)
        self.own.halt()
        away = self.request("GET", "/healthz")
        self.assertEqual(away.status, 503, away.body)
        self.assertIn("records' database", away.json()["message"])
        self.assertIn("Retry-After", away.headers)
        self.own.start()
        wait_until(lambda: self.request("GET", "/healthz").status == 200, "healthy again")


class DatabaseFsckTests(DatabaseServerCase):
    def test_fsck_reads_the_keys_through_the_database_and_names_one_whose_bytes_are_gone(self):
        bucket = self.app.buckets.create("photos")
        for key, body in (("kept.txt", b"kept"), ("lost.txt", b"lost")):
            stored = self.request("PUT", "/data/photos", body).json()
            self.app.keyspace.name(bucket, key, Entry(stored["oid"], len(body), "0" * 32, 1_800_000_000.0))
        self.app.backend.delete(repository("photos"), self.app.keys.get("photos", "lost.txt").oid)
        done = subprocess.run([sys.executable, "-m", "filestoraged", "fsck", "--data-dir", self.data_dir,
                               "--backend", "s3", "--s3-endpoint", self.store.endpoint, "--s3-bucket", self.bucket,
                               "--records", self.postgres.url(self.database)],
                              capture_output=True, text=True, timeout=120,
                              env=dict(os.environ, PYTHONPATH=ROOT, **ENV))
        self.assertEqual(done.returncode, 1, done.stderr)
        self.assertIn("2 S3 keys and versions checked", done.stdout)
        self.assertIn("1 S3 keys and versions name objects that are not stored (restore them from a backup, or "
                      "delete the key): photos/lost.txt", done.stdout)
