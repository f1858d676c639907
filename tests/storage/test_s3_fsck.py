"""``filestoraged fsck`` over an S3 bucket: bodies no record names are
found, and removed by ``--repair`` once a day old; named bodies never."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
import time
import unittest

from filestoraged.storage.names import DEFAULT, Namespace
from filestoraged.storage.s3 import refs
from filestoraged.storage.s3.backend import S3Backend, key_of
from filestoraged.storage.s3.fsck import GRACE, fsck

from ..seaweed_server import ACCESS_KEY, SECRET_KEY, SeaweedMixin
from ..storage_contract import SizedStream
from ..support import MIB, ROOT, payload, sha256


class S3FsckTests(SeaweedMixin, unittest.TestCase):
    def setUp(self) -> None:
        super().setUp()
        self.data_dir = tempfile.mkdtemp(prefix="fsd-s3-")
        self.addCleanup(shutil.rmtree, self.data_dir, True)
        self.backend = S3Backend(self.s3_client(), self.data_dir, 64 * MIB)
        self.addCleanup(self.backend.close)
        self.client = self.s3_client()

    def orphan(self) -> str:
        """A body as a daemon killed before its record would leave it."""
        key = refs.new_body_key()
        self.client.request("PUT", key, body=b"left behind", payload_sha256=sha256(b"left behind")).release()
        return key

    def test_a_body_no_record_names_is_found_and_repair_removes_only_it(self):
        data = payload(2 * MIB, seed=1)
        self.backend.put(DEFAULT, SizedStream(data))
        left = self.orphan()
        a_day_on = time.time() + GRACE + 60
        report = fsck(self.client, now=a_day_on)
        self.assertEqual((report.records, report.bodies, report.unnamed), (1, 2, [left]))
        self.assertIn(left, self.keys_in_bucket())  # plain fsck only reports
        report = fsck(self.client, repair=True, now=a_day_on)
        self.assertEqual(report.removed, [left])
        self.assertNotIn(left, self.keys_in_bucket())
        with self.backend.open(DEFAULT, sha256(data)) as obj:
            self.assertEqual(obj.read_all(), data)  # the named body stays
        self.assertTrue(fsck(self.client, now=a_day_on).clean)

    def test_the_bodies_of_an_unfinished_uploads_parts_are_named_and_kept(self):
        """A multipart upload is kept for days: its parts' bodies, named by
        records under ``parts/``, are never taken for unnamed (``--repair``
        removed them a day on, and the upload could not be completed)."""
        data = payload(2 * MIB, seed=2)
        part = Namespace("parts/" + "ab" * 16)
        self.backend.put(part, SizedStream(data))
        a_day_on = time.time() + GRACE + 60
        report = fsck(self.client, repair=True, now=a_day_on)
        self.assertEqual((report.records, report.unnamed, report.removed), (1, [], []))
        with self.backend.open(part, sha256(data)) as obj:
            self.assertEqual(obj.read_all(), data)

    def test_a_young_unnamed_body_is_left_alone(self):
        left = self.orphan()
        report = fsck(self.client, repair=True)  # the store's clock: the body is seconds old
        self.assertEqual((report.unnamed, report.removed), ([], []))
        self.assertIn(left, self.keys_in_bucket())

    def test_while_a_record_does_not_read_no_body_is_removed(self):
        data = payload(2 * MIB, seed=2)
        self.backend.put(DEFAULT, SizedStream(data))
        record = key_of(DEFAULT, sha256(data)) + refs.SUFFIX
        self.client.request("PUT", record, body=b"torn", payload_sha256=sha256(b"torn")).release()
        left = self.orphan()
        report = fsck(self.client, repair=True, now=time.time() + GRACE + 60)
        self.assertEqual(report.unreadable, [record])
        self.assertEqual(report.removed, [])
        self.assertEqual(len([k for k in self.keys_in_bucket() if k.startswith(refs.BODIES)]), 2)
        self.assertIn(left, self.keys_in_bucket())

    def test_the_command_reports_in_one_line_and_exits_1_on_an_unreadable_record(self):
        data = payload(2 * MIB, seed=3)
        self.backend.put(DEFAULT, SizedStream(data))
        command = [sys.executable, "-m", "filestoraged", "fsck", "--backend", "s3", "--s3-endpoint",
                   self.store.endpoint, "--s3-bucket", self.bucket, "--data-dir", os.path.join(self.data_dir, "x")]
        env = dict(os.environ, PYTHONPATH=ROOT, AWS_ACCESS_KEY_ID=ACCESS_KEY, AWS_SECRET_ACCESS_KEY=SECRET_KEY)
        done = subprocess.run(command, env=env, capture_output=True, text=True, timeout=60)
        self.assertEqual(done.returncode, 0, done.stderr)
        self.assertEqual(done.stdout.strip(),
                         "1 records, 1 bodies, 0 records unreadable, 0 bodies no record names (over 24 h old)")
        self.assertFalse(os.path.exists(os.path.join(self.data_dir, "x")))  # fsck creates no data directory
        record = key_of(DEFAULT, sha256(data)) + refs.SUFFIX
        self.client.request("PUT", record, body=b"torn", payload_sha256=sha256(b"torn")).release()
        done = subprocess.run(command, env=env, capture_output=True, text=True, timeout=60)
        self.assertEqual(done.returncode, 1, done.stderr)
        self.assertIn("unreadable record: " + record, done.stdout)


if __name__ == "__main__":
    unittest.main()
