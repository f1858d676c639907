"""A bucket's recent changes (``catalog.recent``) from several processes
over one store of records: each process's changes written by its flush,
merged newest first with the others', the last ``KEPT`` kept."""

from __future__ import annotations

import os
import shutil
import tempfile
import unittest

from filestoraged.catalog.recent import KEPT, Change, Recent
from filestoraged.records.local import LocalRecords


class RecentTests(unittest.TestCase):
    def setUp(self) -> None:
        folder = tempfile.mkdtemp(prefix="fsd-test-")
        self.addCleanup(shutil.rmtree, folder, True)
        self.records = [LocalRecords(os.path.join(folder, "meta.db")) for _ in range(2)]
        for records in self.records:
            self.addCleanup(records.close)
        self.recent = [Recent(records) for records in self.records]

    def test_another_processs_changes_show_once_it_flushed_merged_newest_first(self):
        self.recent[0].note("b", Change("write", "k1", None, "one", 10.0))
        self.recent[1].note("b", Change("write", "k2", None, "two", 20.0))
        self.assertEqual([change.key for change in self.recent[1].of("b", 0)], ["k2"])  # its own, flushed by reading
        self.recent[0].flush()
        self.recent[0].note("b", Change("delete", "k1", None, "one", 30.0))
        self.assertEqual([(change.what, change.key) for change in self.recent[1].of("b", 0)],
                         [("write", "k2"), ("write", "k1")])
        self.assertEqual([(change.what, change.key) for change in self.recent[0].of("b", 0)],
                         [("delete", "k1"), ("write", "k2"), ("write", "k1")])
        self.assertEqual([change.key for change in self.recent[0].of("b", 15.0)], ["k1", "k2"])  # since 15

    def test_the_last_kept_only(self):
        for number in range(KEPT + 30):
            self.recent[number % 2].note("b", Change("write", "k%d" % number, None, None, float(number)))
            if number % 7 == 0:
                self.recent[number % 2].flush()
        self.recent[0].flush()
        shown = self.recent[1].of("b", 0)
        self.assertEqual([change.key for change in shown], ["k%d" % number for number in range(KEPT + 29, 29, -1)])


if __name__ == "__main__":
    unittest.main()
