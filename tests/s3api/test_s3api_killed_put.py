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
import unittest

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


if __name__ == "__main__":
    unittest.main()
