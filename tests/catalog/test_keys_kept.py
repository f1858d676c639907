"""A key's entry kept by the process that read it (``catalog.keys``) is
given again only while the records say nothing changed since: a change
by this process, by another connection to the same file (another worker,
the command line), a delete, each read at once."""

from __future__ import annotations

import os
import shutil
import tempfile
import unittest

from filestoraged.catalog.keys import Entry, Keys, head_name
from filestoraged.records.local import LocalRecords


def entry(oid: str) -> dict:
    return Entry(oid=oid * 64, size=1, etag="e" + oid, modified=1.0).record()


class KeptEntryTests(unittest.TestCase):
    def setUp(self) -> None:
        folder = tempfile.mkdtemp(prefix="fsd-keys-")
        self.addCleanup(shutil.rmtree, folder, True)
        path = os.path.join(folder, "meta.db")
        self.here, self.elsewhere = LocalRecords(path), LocalRecords(path)
        self.addCleanup(self.here.close)
        self.addCleanup(self.elsewhere.close)
        self.keys = Keys(self.here)

    def test_every_change_is_read_at_once(self):
        name = head_name("b", "k")
        self.here.create(name, entry("a"))
        self.assertEqual(self.keys.get("b", "k").oid, "a" * 64)
        self.assertEqual(self.keys.get("b", "k").oid, "a" * 64)  # (given again)
        self.here.update(name, lambda value: entry("b"))  # this process
        self.assertEqual(self.keys.get("b", "k").oid, "b" * 64)
        self.elsewhere.update(name, lambda value: entry("c"))  # another connection: a worker, the CLI
        self.assertEqual(self.keys.get("b", "k").oid, "c" * 64)
        self.elsewhere.delete(name)
        self.assertIsNone(self.keys.get("b", "k"))
        self.elsewhere.create(name, entry("d"))
        self.assertEqual(self.keys.get("b", "k").oid, "d" * 64)

    def test_a_caller_setting_a_field_changes_no_one_elses(self):
        self.here.create(head_name("b", "k"), entry("a"))
        for _ in range(2):  # read, then given again
            mine = self.keys.get("b", "k")
            mine.tags = {"mine": "yes"}
            self.assertIsNone(self.keys.get("b", "k").tags)
