"""A store whose versions were kept in the layout before key heads
(``catalog.old_versions``) brought to heads: each case of the old layout
written record by record as the old code left it, then converted and read
through the keyspace, over SQLite and over a SeaweedFS bucket
(``tests/backup/test_old_store.py`` opens a whole store that commit
13b440b made)."""

from __future__ import annotations

import os
import shutil
import tempfile
import threading
import unittest
from unittest import mock

from filestoraged.catalog.buckets import Buckets
from filestoraged.catalog.claims import Claims, name_record
from filestoraged.catalog.keys import Entry, Keys, head_name
from filestoraged.catalog.keyspace import Keyspace
from filestoraged.catalog.names import encode_key
from filestoraged.catalog.old_versions import FORMAT, HEADS_FORM, convert
from filestoraged.catalog.versions import Versions
from filestoraged.records.bucket import BucketRecords
from filestoraged.records.interface import Records
from filestoraged.records.local import LocalRecords

from ..seaweed_server import SeaweedMixin

V1, V2, V3 = "0000000000000003aaaaaaaa", "0000000000000002aaaaaaaa", "0000000000000001aaaaaaaa"  # oldest first


def entry(name: str, version=None) -> Entry:
    return Entry("oid-" + name, len(name), "etag-" + name, 1000.0, version=version)


class ConvertCase:
    """The cases, over the records ``make_records`` gives."""

    def make_records(self) -> Records:
        raise NotImplementedError

    def setUp(self) -> None:
        super().setUp()
        self.records = self.make_records()
        self.addCleanup(self.records.close)
        self.buckets = Buckets(self.records)
        self.buckets.set_versioning(self.buckets.create("b"), "Enabled")
        self.versions = Versions(self.records)
        self.keyspace = Keyspace(Claims(self.records, mock.Mock()), Keys(self.records), self.versions, self.buckets)

    def old_current(self, key: str, made: Entry) -> None:
        self.records.create(head_name("b", key), made.record())
        self.records.create(name_record("b", made.oid, key), {})

    def old_version(self, key: str, made: Entry) -> None:
        self.records.create("s3/versions/b/%s,%s" % (encode_key(key), made.version), made.record())
        self.records.create(name_record("b", made.oid, key, made.version), {})

    def old_marker(self, key: str, version: str) -> None:
        self.records.create("s3/versions/b/%s,%s" % (encode_key(key), version),
                            {"marker": True, "modified": 2000.0, "version": version})

    def listed(self, key: str) -> list:
        head = self.versions.head("b", key)
        return ([("current", head.current.oid)] if head.current else []) + [
            (version.id, "marker" if version.marker else version.entry.oid) for version in self.versions.of("b", key)]

    def test_each_case_of_the_old_layout(self):
        self.old_current("plain", entry("p2", V2))
        self.old_version("plain", entry("p1", V1))
        self.old_marker("deleted", V3)  # a delete marker newest: the old layout had no key record
        self.old_version("deleted", entry("d2", V2))
        self.old_current("twice", entry("t2", V2))  # a write stopped between keeping and swapping
        self.old_version("twice", entry("t2", V2))
        self.old_version("twice", entry("t1", V1))
        self.old_version("orphan", entry("o1", V1))  # newest versions deleted midway: the next not yet current
        self.old_current("forgot", entry("f3", V3))
        self.old_version("forgot", entry("f1", V1))  # deleted by its id, kept again by a lost race
        self.records.create("s3/forgotten/b/%s,%s" % (encode_key("forgot"), V1), {"at": 1.0})
        self.old_current("unversioned", entry("u"))
        self.assertFalse(HEADS_FORM.done(self.records))
        HEADS_FORM.run(self.records)
        self.assertTrue(HEADS_FORM.done(self.records))
        self.assertEqual(self.listed("plain"), [("current", "oid-p2"), (V1, "oid-p1")])
        self.assertEqual(self.listed("deleted"), [(V3, "marker"), (V2, "oid-d2")])
        self.assertIsNone(self.keyspace.get("b", "deleted"))
        self.assertEqual(self.listed("twice"), [("current", "oid-t2"), (V1, "oid-t1")])
        self.assertEqual(self.listed("orphan"), [("current", "oid-o1")])
        self.assertTrue(self.keyspace.claims.named("b", "oid-o1", "orphan"))  # held as the current one now
        self.assertEqual(self.listed("forgot"), [("current", "oid-f3")])
        self.assertEqual(self.listed("unversioned"), [("current", "oid-u")])
        self.assertEqual(list(self.records.keys("s3/forgotten/")), [])
        self.assertEqual(sorted(name.rpartition(",")[2] for name in self.records.keys("s3/versions/")),
                         sorted([V1, V2, V1]))  # those listed stay; markers', duplicates' and unlisted ones go
        self.assertFalse(self.keyspace.claims.named("b", "oid-f1", "forgot", V1))
        # Served as heads from here: the marker deleted by its id undeletes.
        self.keyspace.forget(self.buckets.get("b"), "deleted", V3)
        self.assertEqual(self.keyspace.get("b", "deleted").oid, "oid-d2")

    def test_a_conversion_run_again_changes_nothing(self):
        self.old_current("k", entry("k2", V2))
        self.old_version("k", entry("k1", V1))
        self.assertEqual(convert(self.records), 1)
        before = self.records.get(head_name("b", "k")).value
        self.assertEqual(convert(self.records), 0)  # a conversion that stopped midway runs again whole
        self.assertEqual(self.records.get(head_name("b", "k")).value, before)

    def test_a_second_daemon_waits_for_the_one_converting(self):
        self.old_current("k", entry("k2", V2))
        self.old_version("k", entry("k1", V1))
        self.assertTrue(self.records.take_turn("s3-format", 600))  # another daemon converts
        waited = threading.Event()
        failures = []

        def second():
            try:
                HEADS_FORM.run(self.records)
                waited.set()
            except BaseException as error:  # reported below
                failures.append(error)

        thread = threading.Thread(target=second)
        thread.start()
        self.assertFalse(waited.wait(1.0))  # still waiting: the mark is not there
        convert(self.records)
        self.records.create(FORMAT, {"keys": 2})
        thread.join(30)
        self.assertFalse(thread.is_alive())
        self.assertEqual(failures, [])
        self.assertTrue(waited.is_set())


class LocalConvertTests(ConvertCase, unittest.TestCase):
    def make_records(self) -> Records:
        folder = tempfile.mkdtemp(prefix="fsd-old-versions-")
        self.addCleanup(shutil.rmtree, folder, True)
        return LocalRecords(os.path.join(folder, "records.db"))


class BucketConvertTests(SeaweedMixin, ConvertCase, unittest.TestCase):
    """The same over ``--records s3`` (a real SeaweedFS bucket): each step alone."""

    def make_records(self) -> Records:
        return BucketRecords(self.s3_client())


if __name__ == "__main__":
    unittest.main()
