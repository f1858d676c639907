"""S3 and ``/data`` uploads of the same new bytes at the same moment, in a
real daemon with two worker processes (``--records local``: an upload's pin
is a lock, and new bytes are tracked in its key's commit). Each round a new
body goes up through both faces at once; then every S3 key is deleted, and
what the idle sweep will find is read from ``meta.db``: bytes ``/data``
stored are the repository's (kept whatever happens to the keys), bytes only
S3 stored are tracked and idle (removed after the grace). A race lost here
is lost data or bytes kept for ever; the windows are a millisecond wide, so
many rounds."""

from __future__ import annotations

import hashlib
import http.client
import json
import os
import shutil
import sqlite3
import subprocess
import sys
import tempfile
import threading
import unittest

from filestoraged.wire import sigv4

from ..support import ROOT, Daemon, Threads, free_port

ROUNDS = 100
THREADS = 12  # each round: one /data upload of the body, the others S3 PUTs of it
BUCKET = "races"


class SameBytesAtOnceTests(unittest.TestCase):
    def setUp(self) -> None:
        self.folder = tempfile.mkdtemp(prefix="fsd-races-")
        self.addCleanup(shutil.rmtree, self.folder, True)
        self.s3_port = free_port()
        self.daemon = Daemon(self.folder, "--workers", "2", "--s3-api", "127.0.0.1:%d" % self.s3_port,
                             "--auth", "all").start()
        self.addCleanup(self.daemon.stop)
        done = subprocess.run([sys.executable, "-m", "filestoraged", "token", "create", "--scope", "admin", "--s3",
                               "--data-dir", self.folder], capture_output=True, text=True, check=True,
                              env=dict(os.environ, PYTHONPATH=ROOT), timeout=60)
        said = dict(line.split("=", 1) for line in done.stdout.splitlines() if "=" in line)
        self.token, key, secret = said["FILESTORAGED_TOKEN"], said["AWS_ACCESS_KEY_ID"], said["AWS_SECRET_ACCESS_KEY"]
        self.signer = sigv4.Signer(key, secret, "us-east-1")
        made = http.client.HTTPConnection("127.0.0.1", self.s3_port, timeout=30)
        self.addCleanup(made.close)
        self.assertEqual(self.s3(made, "PUT", "/" + BUCKET), 200)

    def s3(self, connection, method: str, path: str, body: bytes = b"") -> int:
        headers = self.signer.sign(method, "127.0.0.1:%d" % self.s3_port, path, {},
                                   {"Content-Length": str(len(body))}, hashlib.sha256(body).hexdigest())
        connection.request(method, path, body, headers)
        answer = connection.getresponse()
        answer.read()
        return answer.status

    def test_bytes_data_stores_at_the_same_moment_stay_the_repositorys(self):
        self.upload_at_once(ROUNDS, through_data=True)
        blobs = self.blob_records()
        for turn in range(ROUNDS):  # every round's body went up through /data too
            oid = hashlib.sha256(body_of(turn)).hexdigest()
            self.assertTrue(oid not in blobs or blobs[oid].get("data"), "round %d: %r" % (turn, blobs.get(oid)))

    def test_bytes_only_s3_stores_are_tracked_and_fall_idle(self):
        self.upload_at_once(ROUNDS // 4, through_data=False)
        blobs = self.blob_records()
        for turn in range(ROUNDS // 4):
            oid = hashlib.sha256(body_of(turn)).hexdigest()
            self.assertIn(oid, blobs, "round %d: bytes S3 alone stored are not tracked" % turn)
            self.assertFalse(blobs[oid].get("data"), "round %d: %r" % (turn, blobs[oid]))
            self.assertIsNotNone(blobs[oid].get("idle"), "round %d: %r" % (turn, blobs[oid]))

    def upload_at_once(self, rounds: int, through_data: bool) -> None:
        """``rounds`` rounds, each a new body uploaded by ``THREADS`` threads
        at the same moment (the first through /data where ``through_data``,
        the others as S3 keys of their own); then every S3 key deleted."""
        barrier = threading.Barrier(THREADS)
        keys, lock = [], threading.Lock()

        def uploader(number: int) -> None:
            s3 = http.client.HTTPConnection("127.0.0.1", self.s3_port, timeout=30)
            data = http.client.HTTPConnection("127.0.0.1", self.daemon.port, timeout=30)
            try:
                for turn in range(rounds):
                    body = body_of(turn)
                    barrier.wait(30)
                    if through_data and number == 0:
                        data.request("PUT", "/data/" + BUCKET, body, {"Authorization": "Bearer " + self.token})
                        answer = data.getresponse()
                        answer.read()
                        self.assertIn(answer.status, (200, 201))
                        continue
                    key = "/%s/r%03d-u%02d" % (BUCKET, turn, number)
                    self.assertEqual(self.s3(s3, "PUT", key, body), 200)
                    with lock:
                        keys.append(key)
            except BaseException:
                barrier.abort()  # the others stop waiting for this one
                raise
            finally:
                s3.close()
                data.close()

        with Threads(240) as threads:
            for number in range(THREADS):
                threads.start(uploader, number)
        s3 = http.client.HTTPConnection("127.0.0.1", self.s3_port, timeout=30)
        self.addCleanup(s3.close)
        for key in keys:
            self.assertEqual(self.s3(s3, "DELETE", key), 204)

    def blob_records(self) -> dict:
        """The blob records of the bucket, by oid, as the sweep reads them."""
        db = sqlite3.connect(os.path.join(self.folder, "meta.db"), timeout=30)
        try:
            rows = db.execute("SELECT key, value FROM records WHERE key LIKE ?", ("s3/blobs/%s/%%" % BUCKET,))
            return {key.rsplit("/", 1)[1]: json.loads(value) for key, value in rows}
        finally:
            db.close()


def body_of(turn: int) -> bytes:
    return ("the bytes of round %d " % turn).encode() * 100


if __name__ == "__main__":
    unittest.main()
