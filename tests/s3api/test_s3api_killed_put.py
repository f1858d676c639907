"""An S3 PUT whose daemon is killed (``kill -9``) after its bytes are
stored and before its key's commit: the key never appears, and the bytes
no key names do not stay counted against the bucket's quota after the
restart."""

from __future__ import annotations

import fcntl
import http.client
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import unittest

from filestoraged.app import App
from filestoraged.catalog.pins import GRACE
from filestoraged.config import Config
from filestoraged.storage.s3.backend import S3Backend

from ..seaweed_server import ACCESS_KEY, SECRET_KEY, SeaweedMixin
from ..support import ROOT, Daemon, Threads, daemon_workers, exchange, free_port, payload, sha256, wait_until

QUOTA = 1000
SIZE = 600


class KilledPutTests(unittest.TestCase):
    WORKERS = "1"

    def setUp(self) -> None:
        self.folder = tempfile.mkdtemp(prefix="fsd-s3-killed-put-")
        self.addCleanup(shutil.rmtree, self.folder, True)
        self.s3_port = free_port()
        self.daemon = Daemon(self.folder, "--s3-api", "127.0.0.1:%d" % self.s3_port, "--auth", "off",
                             "--workers", self.WORKERS).start()
        self.addCleanup(self.daemon.stop)
        self.assertEqual(self.call("PUT", "/bucket")[0], 200)
        done = subprocess.run([sys.executable, "-m", "filestoraged", "bucket", "quota", "bucket", str(QUOTA),
                               "--data-dir", self.folder], capture_output=True, text=True, timeout=60,
                              env=dict(os.environ, PYTHONPATH=ROOT))
        self.assertEqual(done.returncode, 0, done.stderr)

    def call(self, method: str, path: str, body: bytes = b"", timeout: float = 30):
        return exchange(self.s3_port, method, path, body, timeout=timeout)

    def stored(self, oid: str) -> bool:
        for _, _, names in os.walk(os.path.join(self.folder, "repos", "bucket")):
            if oid in names:
                return True
        return False

    def test_bytes_of_a_put_killed_before_its_commit_leave_the_quota_at_the_next_start(self):
        body = payload(SIZE, seed=1)
        # The records' writers take turns by this lock: held here, the PUT
        # stores its bytes, then waits for its key's commit.
        with open(os.path.join(self.folder, "run", "meta.db.lock"), "a+b") as turn:
            fcntl.flock(turn, fcntl.LOCK_EX)
            with Threads(60) as threads:
                threads.start(self._put_cut_short, body)
                wait_until(lambda: self.stored(sha256(body)), "the PUT's bytes stored")
                self.daemon.kill()
            fcntl.flock(turn, fcntl.LOCK_UN)
        self.daemon.start()
        self.assertEqual(self.call("GET", "/bucket/first")[0], 404)  # never answered: no key
        status, said = self.call("PUT", "/bucket/second", payload(SIZE, seed=2))
        self.assertEqual(status, 200, said)  # 507 before: the first PUT's bytes still counted
        self.assertFalse(self.stored(sha256(body)))

    def _put_cut_short(self, body: bytes) -> None:
        with self.assertRaises((ConnectionError, http.client.HTTPException)):
            self.call("PUT", "/bucket/first", body, timeout=60)


class KilledWorkerTests(KilledPutTests):
    """With two workers: the daemon killed, and its workers killed and replaced while it runs."""

    WORKERS = "2"

    def test_bytes_of_a_put_whose_worker_was_killed_leave_the_quota_once_its_replacement_starts(self):
        body = payload(SIZE, seed=3)
        workers = daemon_workers(self.daemon.process.pid)
        with open(os.path.join(self.folder, "run", "meta.db.lock"), "a+b") as turn:
            fcntl.flock(turn, fcntl.LOCK_EX)
            with Threads(60) as threads:
                threads.start(self._put_cut_short, body)
                wait_until(lambda: self.stored(sha256(body)), "the PUT's bytes stored")
                for worker in workers:  # (the one that took the PUT among them)
                    os.kill(worker, signal.SIGKILL)
            fcntl.flock(turn, fcntl.LOCK_UN)
        wait_until(lambda: len(set(daemon_workers(self.daemon.process.pid)) - set(workers)) == 2, "new workers")
        wait_until(lambda: not self.stored(sha256(body)), "the bytes no key names removed")
        status, said = self.call("PUT", "/bucket/second", payload(SIZE, seed=4))
        self.assertEqual(status, 200, said)


class KilledPutOnS3Tests(SeaweedMixin, unittest.TestCase):
    """The same over the S3 backend (the records on this machine): the
    backend's look at whether the bytes are stored, a request, is the one
    the upload's mark is taken by, and the bytes left fall idle at the
    restart and go from the store once their grace is over."""

    def setUp(self) -> None:
        super().setUp()
        self.folder = tempfile.mkdtemp(prefix="fsd-s3-killed-put-")
        self.addCleanup(shutil.rmtree, self.folder, True)
        self.s3_port = free_port()
        self.daemon = Daemon(self.folder, "--s3-api", "127.0.0.1:%d" % self.s3_port, "--auth", "off",
                             "--workers", "1", "--backend", "s3", "--s3-endpoint", self.store.endpoint,
                             "--s3-bucket", self.bucket,
                             env={"AWS_ACCESS_KEY_ID": ACCESS_KEY, "AWS_SECRET_ACCESS_KEY": SECRET_KEY}).start()
        self.addCleanup(self.daemon.stop)
        self.assertEqual(exchange(self.s3_port, "PUT", "/bucket")[0], 200)

    def stored(self, oid: str) -> bool:
        """Stored whole under its id, or streamed and named by its record."""
        return any(key.startswith("repos/bucket/") and key.endswith(("/" + oid, "/%s.ref" % oid))
                   for key in self.keys_in_bucket())

    def test_bytes_of_a_put_killed_before_its_commit_go_once_idle(self):
        self.killed_then_swept(payload(SIZE, seed=5))

    def test_bytes_streamed_by_a_put_killed_before_its_commit_go_once_idle(self):
        self.killed_then_swept(payload(1024 * 1024, seed=6))  # over a block: a body and its record

    def killed_then_swept(self, body: bytes) -> None:
        with open(os.path.join(self.folder, "run", "meta.db.lock"), "a+b") as turn:
            fcntl.flock(turn, fcntl.LOCK_EX)  # the key's commit waits: the bytes are stored before it
            with Threads(60) as threads:
                threads.start(self._put_cut_short, body)
                wait_until(lambda: self.stored(sha256(body)), "the PUT's bytes stored")
                self.daemon.kill()
            fcntl.flock(turn, fcntl.LOCK_UN)
        self.daemon.start()  # looks at what the dead process's uploads marked
        self.assertEqual(exchange(self.s3_port, "GET", "/bucket/first")[0], 404)
        self.daemon.stop()
        # The idle sweep once their grace is over: the daemon's, on a clock moved on.
        config = Config(port=0, data_dir=self.folder, backend="s3", s3_endpoint=self.store.endpoint,
                        s3_bucket=self.bucket)
        app = App(config, backend=S3Backend(self.s3_client(), self.folder, config.max_size),
                  clock=lambda: time.time() + GRACE + 60)
        self.addCleanup(app.close)
        app.claims.sweep(0, wait=True)
        self.assertFalse(self.stored(sha256(body)))  # (stayed for good before)

    def _put_cut_short(self, body: bytes) -> None:
        with self.assertRaises((ConnectionError, http.client.HTTPException)):
            exchange(self.s3_port, "PUT", "/bucket/first", body, timeout=60)


if __name__ == "__main__":
    unittest.main()
