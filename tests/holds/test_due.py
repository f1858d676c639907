"""The due index (``holds.due``): entries sort by time, a sweep reads up
to now only, each entry deleted once looked at, one whose look failed kept
for the next sweep."""

from __future__ import annotations

import os
import shutil
import tempfile
import unittest

from filestoraged.holds.due import FIRST_PAGE, DueIndex
from filestoraged.records.local import LocalRecords


class DueIndexTests(unittest.TestCase):
    def setUp(self) -> None:
        folder = tempfile.mkdtemp(prefix="fsd-test-")
        self.addCleanup(shutil.rmtree, folder, True)
        self.records = LocalRecords(os.path.join(folder, "meta.db"))
        self.addCleanup(self.records.close)
        self.index = DueIndex(self.records, "due/")

    def test_a_sweep_looks_at_what_is_due_oldest_first_and_nothing_later(self):
        for when, what in ((1000.5, "b"), (99, "a"), (2000, "late"), (1000, "c")):
            self.index.at(when, what)
        self.index.at(99, "a")  # twice: one entry
        looked = []
        self.assertEqual(self.index.sweep(1001, lambda what: looked.append(what) or 1), 3)
        self.assertEqual(looked, ["a", "c", "b"])
        self.assertEqual(list(self.records.keys("due/")), [self.index.key(2000, "late")])

    def test_pages_grow_past_the_first_while_all_they_hold_is_due(self):
        for number in range(FIRST_PAGE * 5):
            self.index.at(number, "x%03d" % number)
        looked = []
        self.index.sweep(FIRST_PAGE * 5, lambda what: looked.append(what) or 0)
        self.assertEqual(len(looked), FIRST_PAGE * 5)

    def test_an_entry_whose_look_failed_stays_for_the_next_sweep(self):
        self.index.at(5, "flaky")

        def fail(what: str) -> int:
            raise OSError("the store did not answer")

        with self.assertRaises(OSError):
            self.index.sweep(10, fail)
        self.assertEqual(self.index.sweep(10, lambda what: 1), 1)
        self.assertEqual(list(self.records.keys("due/")), [])


if __name__ == "__main__":
    unittest.main()
