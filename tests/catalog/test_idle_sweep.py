"""The sweep of the S3 API's idle bytes reads only what is due: bytes fall
idle with an entry in the due index for when their grace ends, so a sweep
before then reads none of them, however many there are; a store made
before the index (idle bytes listed under ``s3/idle/``) has them moved into
it by the next sweep, and swept when their grace ends as before."""

from __future__ import annotations

import io
import os
import shutil
import tempfile
import unittest

from filestoraged.base.interprocess import NamedLocks
from filestoraged.catalog.claims import DUE, IDLE, Claims
from filestoraged.catalog.pins import GRACE, blob
from filestoraged.records.local import LocalRecords
from filestoraged.storage.disk.backend import DiskBackend
from filestoraged.storage.names import repository

from ..support import FakeClock, clocked_records, sha256
from .test_pin_locks import BUCKET, is_stored, s3_put


class ReadCounted(LocalRecords):
    """LocalRecords that count the reads of blob records."""

    blob_reads = 0

    def get(self, key):
        if key.startswith("s3/blobs/"):
            self.blob_reads += 1
        return super().get(key)


class IdleSweepTests(unittest.TestCase):
    def setUp(self) -> None:
        folder = tempfile.mkdtemp(prefix="fsd-test-")
        self.addCleanup(shutil.rmtree, folder, True)
        self.clock = FakeClock()
        meta = os.path.join(folder, "meta.db")
        self.backend = DiskBackend(os.path.join(folder, "data"), 1 << 20)
        self.records = ReadCounted(meta, clock=self.clock)
        self.addCleanup(self.records.close)
        self.claims = Claims(self.records, self.backend, locks=NamedLocks(meta + ".pins"))
        self.addCleanup(self.claims.close)

    def idle(self, data: bytes) -> str:
        """Bytes an S3 key named, then named no more: idle."""
        oid = s3_put(self.claims, self.records, self.backend, data, "k")
        self.claims.unname(BUCKET, oid, "k")
        return oid

    def stored(self, oid: str) -> bool:
        return is_stored(self.backend, oid)

    def test_a_sweep_before_the_grace_ends_reads_no_idle_bytes(self):
        oids = [self.idle(b"idle %d" % number) for number in range(50)]
        self.clock.advance(GRACE / 2)
        self.records.blob_reads = 0
        self.assertEqual(self.claims.sweep(60, wait=True), 0)
        self.assertEqual(self.records.blob_reads, 0)  # the old scan read all 50 on every sweep
        self.clock.advance(GRACE / 2 + 1)
        self.assertEqual(self.claims.sweep(60, wait=True), 50)
        self.assertFalse(any(self.stored(oid) for oid in oids))
        self.assertEqual(list(self.records.keys(DUE)), [])  # each entry gone once looked at

    def test_bytes_named_again_are_kept_and_their_entry_dropped(self):
        oid = self.idle(b"named again before the grace ended")
        s3_put(self.claims, self.records, self.backend, b"named again before the grace ended", "k2")
        self.clock.advance(GRACE + 1)
        self.assertEqual(self.claims.sweep(60, wait=True), 0)
        self.assertTrue(self.stored(oid))
        self.assertEqual(list(self.records.keys(DUE)), [])
        self.claims.unname(BUCKET, oid, "k2")  # idle again: a new entry, swept after its grace
        self.clock.advance(GRACE - 5)
        self.assertEqual(self.claims.sweep(60, wait=True), 0)
        self.clock.advance(6)
        self.assertEqual(self.claims.sweep(60, wait=True), 1)
        self.assertFalse(self.stored(oid))

    def test_idle_bytes_a_store_listed_before_the_index_are_moved_into_it_and_swept(self):
        oid = self.idle(b"listed the old way")
        for key in list(self.records.keys(DUE)):  # as the old code left it: no due entry, an idle one
            self.records.delete(key)
        self.records.create("%s%s/%s" % (IDLE, BUCKET, oid), {})
        self.clock.advance(GRACE / 2)
        self.assertEqual(self.claims.sweep(60, wait=True), 0)
        self.assertEqual(list(self.records.keys(IDLE)), [])
        self.assertEqual(len(list(self.records.keys(DUE))), 1)  # due when its grace ends
        self.assertTrue(self.stored(oid))
        self.clock.advance(GRACE / 2 + 1)
        self.assertEqual(self.claims.sweep(60, wait=True), 1)
        self.assertFalse(self.stored(oid))


class WrittenPinsTests(unittest.TestCase):
    """Where pins are written in the blob's record (records several
    daemons share), an upload whose daemon died left its pin: the bytes go
    once it lapsed, as idle bytes do (they stayed for good: no entry of the
    due index named them)."""

    def setUp(self) -> None:
        self.records, self.clock, folder = clocked_records(self)
        self.backend = DiskBackend(os.path.join(folder, "data"), 1 << 20)
        self.addCleanup(self.backend.close)
        self.claims = Claims(self.records, self.backend)
        self.addCleanup(self.claims.close)

    def died_uploading(self, data: bytes, store: bool = True) -> str:
        """What an upload whose daemon died before its end left: its pin,
        and its bytes (unless not ``store``: it died before storing them)."""
        pin = self.claims.pinned(BUCKET)
        if store:
            put = self.backend.put(repository(BUCKET), io.BytesIO(data), hashed=pin.hashed)
            self.claims.stored(pin, put.created)
        else:
            pin.hashed(sha256(data))
        self.assertTrue(self.records.get(blob(BUCKET, sha256(data))).value["pins"])
        return sha256(data)

    def test_the_bytes_of_an_upload_that_died_go_once_its_pin_lapsed(self):
        oid = self.died_uploading(b"stored, then the daemon died")
        self.clock.advance(GRACE / 2)
        self.assertEqual(self.claims.sweep(60, wait=True), 0)
        self.clock.advance(GRACE / 2 + 2)
        self.assertEqual(self.claims.sweep(60, wait=True), 1)
        self.assertFalse(is_stored(self.backend, oid))
        self.assertIsNone(self.records.get(blob(BUCKET, oid)))
        self.assertEqual(list(self.records.keys(DUE)), [])

    def test_the_record_of_an_upload_that_died_before_storing_goes(self):
        oid = self.died_uploading(b"never stored", store=False)
        self.clock.advance(GRACE + 2)
        self.assertEqual(self.claims.sweep(60, wait=True), 0)
        self.assertIsNone(self.records.get(blob(BUCKET, oid)))

    def test_bytes_a_key_names_are_kept_and_the_look_leaves_nothing(self):
        oid = s3_put(self.claims, self.records, self.backend, b"named by its commit", "k")
        self.clock.advance(GRACE + 2)
        self.assertEqual(self.claims.sweep(60, wait=True), 0)
        self.assertTrue(is_stored(self.backend, oid))
        self.assertEqual(list(self.records.keys(DUE)), [])

    def test_bytes_another_upload_pins_meanwhile_are_looked_at_once_its_pin_lapses(self):
        """A second upload of the bytes pinned them after the first died:
        while its pin lives they stay; if it dies too they go after it."""
        data = b"pinned by two uploads that died"
        oid = self.died_uploading(data)
        self.clock.advance(GRACE - 10)
        self.died_uploading(data)
        self.clock.advance(12)
        self.assertEqual(self.claims.sweep(60, wait=True), 0)  # the second pin lives
        self.assertTrue(is_stored(self.backend, oid))
        self.clock.advance(GRACE)
        self.assertEqual(self.claims.sweep(60, wait=True), 1)
        self.assertFalse(is_stored(self.backend, oid))


if __name__ == "__main__":
    unittest.main()
