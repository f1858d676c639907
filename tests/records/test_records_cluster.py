"""``--records s3`` (and a PostgreSQL database): three daemons (processes of their own, each with its own
data directory) over one SeaweedFS bucket share API tokens and the failed
attempt limit; the start-up probe; the command line writes to the bucket."""

from __future__ import annotations

import http.client
import os
import shutil
import subprocess
import sys
import tempfile
import time
import unittest

from filestoraged.deployment.bucket import TOKEN_CACHE_SECONDS

from ..postgres_server import postgres
from ..seaweed_server import ACCESS_KEY, SECRET_KEY, SeaweedMixin
from ..support import ROOT, Daemon, wait_until

ENV = {"AWS_ACCESS_KEY_ID": ACCESS_KEY, "AWS_SECRET_ACCESS_KEY": SECRET_KEY}


def call(port: int, method: str, path: str, body=None, token=None) -> int:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    try:
        conn.request(method, path, body, {"Authorization": "Bearer " + token} if token else {})
        reply = conn.getresponse()
        reply.read()
        return reply.status
    finally:
        conn.close()


class TokensAcrossDaemonsTests(SeaweedMixin, unittest.TestCase):
    def records(self) -> str:
        """``--records``: the bucket's own (``TokensAcrossDaemonsOverDatabaseTests``: a PostgreSQL database)."""
        return "s3"

    def setUp(self) -> None:
        super().setUp()
        self.s3 = ["--backend", "s3", "--s3-endpoint", self.store.endpoint, "--s3-bucket", self.bucket,
                   "--records", self.records()]
        self.daemons = []
        for _ in range(3):
            folder = tempfile.mkdtemp(prefix="fsd-records-")
            self.addCleanup(shutil.rmtree, folder, True)
            daemon = Daemon(folder, *self.s3, "--auth", "writes", "--workers", "1", env=ENV).start()
            self.addCleanup(daemon.stop)
            self.daemons.append(daemon)

    def token_command(self, *args: str) -> subprocess.CompletedProcess:
        folder = tempfile.mkdtemp(prefix="fsd-cli-")
        self.addCleanup(shutil.rmtree, folder, True)
        return subprocess.run([sys.executable, "-m", "filestoraged", "token", *args, "--data-dir", folder,
                               *self.s3], capture_output=True, text=True, timeout=60,
                              env=dict(os.environ, PYTHONPATH=ROOT, **ENV))

    def test_a_token_made_anywhere_works_on_every_daemon_and_a_revocation_reaches_all(self):
        made = self.token_command("create", "--scope", "files:write", "--name", "ci")
        self.assertEqual(made.returncode, 0, made.stderr)
        secret = made.stdout.strip().splitlines()[-1]
        for number, daemon in enumerate(self.daemons):
            self.assertEqual(call(daemon.port, "POST", "/files", b"from %d" % number, secret), 200)
        listed = self.token_command("list")
        self.assertIn("ci\tfiles:write", listed.stdout)
        revoked = self.token_command("revoke", "ci")
        self.assertEqual(revoked.returncode, 0, revoked.stderr)
        started = time.monotonic()
        for daemon in self.daemons:
            wait_until(lambda port=daemon.port: call(port, "POST", "/files", b"late", secret) == 401,
                       "the revocation reached the daemon", timeout=TOKEN_CACHE_SECONDS + 5)
        self.assertLess(time.monotonic() - started, TOKEN_CACHE_SECONDS + 1)

    def test_the_failed_attempt_limit_holds_across_daemons(self):
        """Three daemons must not give a guesser three times the attempts."""
        statuses = [call(self.daemons[n % 3].port, "POST", "/files", b"x", "wrong-%d" % n) for n in range(15)]
        self.assertEqual(statuses.count(401), 10)
        self.assertEqual(statuses.count(429), 5)


class TokensAcrossDaemonsOverDatabaseTests(TokensAcrossDaemonsTests):
    def records(self) -> str:
        database = postgres()
        name = database.new_database()
        self.addCleanup(database.drop_database, name)
        return database.url(name)


class ProbeTests(SeaweedMixin, unittest.TestCase):
    def test_records_s3_needs_backend_s3_and_a_reachable_store(self):
        folder = tempfile.mkdtemp(prefix="fsd-records-")
        self.addCleanup(shutil.rmtree, folder, True)
        env = dict(os.environ, PYTHONPATH=ROOT, **ENV)
        wrong = subprocess.run([sys.executable, "-m", "filestoraged", "--records", "s3", "--data-dir", folder],
                               capture_output=True, text=True, timeout=60, env=env)
        self.assertEqual(wrong.returncode, 2)
        self.assertEqual(wrong.stderr.strip(), "filestoraged: --records s3 needs --backend s3 (the bucket holds them)")
        ok = Daemon(folder, "--backend", "s3", "--s3-endpoint", self.store.endpoint, "--s3-bucket", self.bucket,
                    "--records", "s3", env=ENV).start()
        self.addCleanup(ok.stop)
        self.assertEqual(call(ok.port, "GET", "/healthz"), 200)
        self.assertEqual([k for k in self.keys_in_bucket() if k.startswith("records/.probe/")], [])
