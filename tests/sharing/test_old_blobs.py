"""Share links' blob records in the form before the holds engine
(``sharing.old_blobs``): converted once on start, their links still hold
their bytes through a sweep after, a removal found under way is finished,
and a conversion run again changes nothing."""

from __future__ import annotations

import io
import os
import unittest

from filestoraged.catalog.old_versions import HEADS_FORM
from filestoraged.config import Config
from filestoraged.deployment import deployment_for
from filestoraged.sharing.links import LinkStore
from filestoraged.sharing.old_blobs import BLOBS_FORM, convert
from filestoraged.sharing.rules import ORPHAN_GRACE
from filestoraged.sharing.sweep import BLOBS
from filestoraged.storage.disk.backend import DiskBackend
from filestoraged.storage.names import SHARES

from ..support import clocked_records


class OldBlobRecordsTests(unittest.TestCase):
    def setUp(self) -> None:
        self.records, self.clock, folder = clocked_records(self)
        self.backend = DiskBackend(os.path.join(folder, "store"), 1024 * 1024)
        self.addCleanup(self.backend.close)
        self.links = LinkStore(self.records, self.backend, self.records)
        self.addCleanup(self.links.close)

    def stored(self, body: bytes) -> str:
        return self.backend.put(SHARES, io.BytesIO(body)).info.oid

    def old_form(self, oid: str, value: dict) -> None:
        """The blob's record as the code before the engine wrote it."""
        self.records.delete(BLOBS + oid)
        self.records.create(BLOBS + oid, value)

    def test_a_link_made_before_holds_its_bytes_after(self):
        oid = self.stored(b"linked before")
        link_id = self.links.create(oid, 13, "a.txt", "text/plain", None, 5, 30 * 24 * 3600).id
        self.old_form(oid, {"refs": {link_id: self.clock.now}, "idle_since": None})
        self.assertFalse(BLOBS_FORM.done(self.records))
        BLOBS_FORM.run(self.records)
        self.assertTrue(BLOBS_FORM.done(self.records))
        self.assertEqual(self.records.get(BLOBS + oid).value, {"pins": {link_id: self.clock.now}, "idle": None})
        for _ in range(2):  # the first would find it unpinned, the second remove it
            self.clock.advance(ORPHAN_GRACE * 2)
            self.links._sweep.due(self.clock.now, "blob", oid)
            self.assertEqual(self.links.sweep(), 0)  # its live link holds it
        self.assertEqual(self.backend.stat(SHARES, oid).oid, oid)

    def test_bytes_no_link_names_still_go_after_their_grace(self):
        oid = self.stored(b"orphan")
        self.old_form(oid, {"refs": {}, "idle_since": self.clock.now - ORPHAN_GRACE - 1})
        BLOBS_FORM.run(self.records)
        self.links._sweep.due(self.clock.now, "blob", oid)
        self.assertEqual(self.links.sweep(), 1)
        self.assertEqual([info.oid for info in self.backend.list(SHARES)], [])

    def test_a_removal_found_under_way_is_finished_by_the_next_sweep(self):
        oid = self.stored(b"being removed")
        self.old_form(oid, {"refs": {}, "idle_since": 1.0, "removing": True})
        self.assertEqual(convert(self.records), 1)
        self.assertEqual(self.records.get(BLOBS + oid).value, {"pins": {}, "idle": 1.0, "removing": self.clock.now})
        self.links._sweep.due(self.clock.now, "blob", oid)
        self.assertEqual(self.links.sweep(), 1)
        self.assertIsNone(self.records.get(BLOBS + oid))

    def test_a_conversion_run_again_changes_nothing(self):
        oid = self.stored(b"twice")
        self.old_form(oid, {"refs": {"pin-1": 5.0}, "idle_since": None})
        self.assertEqual(convert(self.records), 1)
        before = self.records.get(BLOBS + oid)
        self.assertEqual(convert(self.records), 0)
        self.assertEqual(self.records.get(BLOBS + oid).version, before.version)

    def test_an_upgrade_in_place_over_a_store_before_it_is_told_its_records_change_form(self):
        """What makes the parent of workers upgraded in place stop every old
        worker before its own start (old code would read the new form)."""
        HEADS_FORM.run(self.records)  # keys in this code's form already
        config = Config(port=0, data_dir=os.path.dirname(self.records.path))
        self.assertEqual(deployment_for(config).forms_behind(), ["share-link blob records"])
        BLOBS_FORM.run(self.records)
        self.assertEqual(deployment_for(config).forms_behind(), [])


if __name__ == "__main__":
    unittest.main()
