"""The sweep of the S3 API's idle bytes reads only what is due: bytes fall
idle with an entry in the due index for when their grace ends, so a sweep
before then reads none of them, however many there are; a store made
before the index (idle bytes listed under ``s3/idle/``) has them moved into
it by the next sweep, and swept when their grace ends as before."""

from __future__ import annotations

import os
import shutil
import tempfile
import unittest

from filestoraged.base.interprocess import NamedLocks
from filestoraged.catalog.claims import DUE, IDLE, Claims
from filestoraged.catalog.pins import GRACE
from filestoraged.records.local import LocalRecords
from filestoraged.storage.disk.backend import DiskBackend

from ..support import FakeClock
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


if __name__ == "__main__":
    unittest.main()
