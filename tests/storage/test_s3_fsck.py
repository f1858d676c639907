"""``filestoraged fsck`` over an S3 bucket: bodies no record names are
found, and removed by ``--repair`` once a day old; named bodies never."""

from __future__ import annotations

import io
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
from filestoraged.storage.s3.fsck import GRACE, ended_parts, fsck
from filestoraged.records.local import LocalRecords

from ..seaweed_server import ACCESS_KEY, SECRET_KEY, SeaweedMixin, shared_records, shared_store
from ..storage_contract import SizedStream
from ..support import MIB, ROOT, payload, sha256


class BucketCase(SeaweedMixin, unittest.TestCase):
    """A bucket of its own, the backend over it, and a client of it."""

    def setUp(self) -> None:
        super().setUp()
        self.data_dir = tempfile.mkdtemp(prefix="fsd-s3-")
        self.addCleanup(shutil.rmtree, self.data_dir, True)
        self.backend = S3Backend(self.s3_client(), self.data_dir, 64 * MIB)
        self.addCleanup(self.backend.close)
        self.client = self.s3_client()


class S3FsckTests(BucketCase):

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


class EndedUploadsTests(BucketCase):
    """The parts a stop between an upload's end and its parts' removal left
    under ``parts/<id>/``: found where the live uploads are known, and
    removed by ``--repair``, bodies and block records too."""

    LIVE = "ab" * 16
    ENDED = "cd" * 16

    def setUp(self) -> None:
        super().setUp()
        for upload_id in (self.LIVE, self.ENDED):
            folder = Namespace("parts/" + upload_id)
            self.backend.put(folder, SizedStream(payload(2 * MIB, seed=4)))  # streamed: a record, a body
            self.backend.put(folder, io.BytesIO(payload(MIB, seed=5)))  # no length: stored whole, with its block record

    def in_folder(self, upload_id: str):
        return [key for key in self.keys_in_bucket() if key.startswith("parts/%s/" % upload_id)]

    def test_the_folder_of_an_upload_that_ended_is_found_and_repair_removes_it_alone(self):
        report = ended_parts(self.client, lambda: {self.LIVE}, self.backend.delete)
        self.assertEqual(report, ["parts/" + self.ENDED])
        self.assertEqual(len(self.in_folder(self.ENDED)), 3)  # only reported
        bodies = len([key for key in self.keys_in_bucket() if key.startswith(refs.BODIES)])
        self.assertEqual(ended_parts(self.client, lambda: {self.LIVE}, self.backend.delete, repair=True),
                         ["parts/" + self.ENDED])
        self.assertEqual(self.in_folder(self.ENDED), [])
        self.assertEqual(len([key for key in self.keys_in_bucket() if key.startswith(refs.BODIES)]), bodies - 1)
        self.assertEqual(len(self.in_folder(self.LIVE)), 3)
        with self.backend.open(Namespace("parts/" + self.LIVE), sha256(payload(2 * MIB, seed=4))) as obj:
            self.assertEqual(obj.read_all(), payload(2 * MIB, seed=4))
        self.assertTrue(fsck(self.client, now=time.time() + GRACE + 60).clean)  # no body left unnamed

    def test_nothing_is_judged_where_the_live_uploads_are_not_known(self):
        self.assertEqual(ended_parts(self.client, lambda: None, self.backend.delete, repair=True), [])
        self.assertEqual(len(self.in_folder(self.ENDED)), 3)

    def test_a_bucket_other_daemons_may_share_is_not_judged_by_one_machines_records(self):
        """With ``--records local`` each daemon over the bucket keeps its
        own uploads' records: this machine's naming neither folder says
        nothing of another daemon's live upload, so nothing is judged
        (``--repair`` removed both, a live upload's parts among them)."""
        LocalRecords(os.path.join(self.data_dir, "meta.db")).close()  # a store whose records hold no upload
        command = [sys.executable, "-m", "filestoraged", "fsck", "--backend", "s3", "--s3-endpoint",
                   self.store.endpoint, "--s3-bucket", self.bucket, "--data-dir", self.data_dir]
        env = dict(os.environ, PYTHONPATH=ROOT, AWS_ACCESS_KEY_ID=ACCESS_KEY, AWS_SECRET_ACCESS_KEY=SECRET_KEY)
        for repair in ([], ["--repair"]):
            done = subprocess.run(command + repair, env=env, capture_output=True, text=True, timeout=60)
            self.assertEqual(done.returncode, 0, done.stderr)
            self.assertNotIn("ended", done.stdout)
        self.assertEqual((len(self.in_folder(self.LIVE)), len(self.in_folder(self.ENDED))), (3, 3))
        with self.backend.open(Namespace("parts/" + self.ENDED), sha256(payload(2 * MIB, seed=4))) as obj:
            self.assertEqual(obj.read_all(), payload(2 * MIB, seed=4))


class SharedRecordsTests(unittest.TestCase):
    """Where daemons share the records (``--records s3``), the live uploads
    are read from them: the parts of an S3 multipart upload and of a
    resumable upload (whose parts are in the store too there) are kept,
    those of an upload that ended are found and removed."""

    MULTIPART, RESUMABLE, ENDED = "ab" * 16, "cd" * 16, "ef" * 16

    @classmethod
    def setUpClass(cls) -> None:
        cls.shared = shared_store(cls, "s3")
        cls.cli_dir = tempfile.mkdtemp(prefix="fsd-cli-")
        cls.addClassCleanup(shutil.rmtree, cls.cli_dir, True)

    def test_the_parts_of_uploads_the_shared_records_hold_are_kept(self):
        records = shared_records(self, self.cli_dir, self.shared)
        records.create("s3/uploads/photos/" + self.MULTIPART, {"key": "k", "created": records.now()})
        records.create("tus/" + self.RESUMABLE, {"length": 6, "created": records.now()})
        client = self.store.client(self.bucket)
        self.addCleanup(client.close)
        backend = S3Backend(client, self.cli_dir, 64 * MIB)
        for upload_id in (self.MULTIPART, self.RESUMABLE, self.ENDED):
            backend.put(Namespace("parts/" + upload_id), SizedStream(b"a part"))
        command = [sys.executable, "-m", "filestoraged", "fsck", "--data-dir", self.cli_dir, *self.shared]
        env = dict(os.environ, PYTHONPATH=ROOT, AWS_ACCESS_KEY_ID=ACCESS_KEY, AWS_SECRET_ACCESS_KEY=SECRET_KEY)
        done = subprocess.run(command, env=env, capture_output=True, text=True, timeout=60)
        self.assertEqual(done.returncode, 1, done.stderr)
        self.assertIn("1 folders of uploads that ended (a stop between their end and their parts'); removed by "
                      "--repair: parts/" + self.ENDED, done.stdout)
        done = subprocess.run(command + ["--repair"], env=env, capture_output=True, text=True, timeout=60)
        self.assertEqual(done.returncode, 0, done.stderr)
        left = {key.split("/")[1] for key in self.store.keys(self.bucket) if key.startswith("parts/")}
        self.assertEqual(left, {self.MULTIPART, self.RESUMABLE})


if __name__ == "__main__":
    unittest.main()
