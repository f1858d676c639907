"""The rules over a key's versions (``catalog.version_rules``) as tables,
row by row as S3's documentation states them: what a write and a delete
do to the version they replace, the id the new one gets, when a marker is
left, who may replace a key, and the retention a new version takes."""

from __future__ import annotations

import unittest

from filestoraged.catalog.keys import Entry
from filestoraged.catalog.version_rules import Change, change, may_replace, retention

NULL_VERSION = Entry("a" * 64, 1, "e", 1.0)  # written before versioning, or while suspended
WITH_ID = Entry("b" * 64, 1, "e", 1.0, version="e7145f9ba222d8c200315878")


class ChangeTests(unittest.TestCase):
    def test_a_write(self):
        # versioning, what it replaces -> keeps, new_id, marker, drops_null
        table = [
            ("", None, Change(False, False, False, False)),
            ("", NULL_VERSION, Change(False, False, False, False)),  # replaced in place
            ("Enabled", None, Change(False, True, False, False)),
            ("Enabled", NULL_VERSION, Change(True, True, False, False)),  # the null version kept
            ("Enabled", WITH_ID, Change(True, True, False, False)),
            ("Suspended", None, Change(False, False, False, True)),
            ("Suspended", NULL_VERSION, Change(False, False, False, True)),  # the null one replaced
            ("Suspended", WITH_ID, Change(True, False, False, True)),  # a version with an id kept
        ]
        for versioning, replaced, expected in table:
            with self.subTest(versioning=versioning, replaced=replaced and replaced.version):
                self.assertEqual(change(versioning, replaced), expected)

    def test_a_delete_without_a_version_id(self):
        table = [
            ("", None, Change(False, False, False, False)),  # nothing to delete, nothing left
            ("", NULL_VERSION, Change(False, False, False, False)),  # gone for good
            ("Enabled", None, Change(False, True, True, False)),  # a marker all the same
            ("Enabled", NULL_VERSION, Change(True, True, True, False)),
            ("Enabled", WITH_ID, Change(True, True, True, False)),
            ("Suspended", None, Change(False, False, True, True)),  # a null marker
            ("Suspended", NULL_VERSION, Change(False, False, True, True)),  # the null version gives way to it
            ("Suspended", WITH_ID, Change(True, False, True, True)),
        ]
        for versioning, replaced, expected in table:
            with self.subTest(versioning=versioning, replaced=replaced and replaced.version):
                self.assertEqual(change(versioning, replaced, delete=True), expected)


class AppendOnlyTests(unittest.TestCase):
    def test_who_may_write_over_a_key_that_names_something(self):
        table = [(True, "", True), (True, "Enabled", True), (True, "Suspended", True),
                 (False, "", False), (False, "Enabled", True), (False, "Suspended", False)]
        for replaces, versioning, expected in table:
            with self.subTest(replaces=replaces, versioning=versioning):
                self.assertEqual(may_replace(replaces, versioning), expected)


class RetentionTests(unittest.TestCase):
    def test_the_lock_a_new_version_takes(self):
        default = {"default": {"mode": "COMPLIANCE", "days": 1}}
        asked = {"mode": "GOVERNANCE", "until": 5000.0}
        table = [
            (None, None, None),  # no object lock
            (None, {}, None),  # object lock, no default
            (None, default, {"mode": "COMPLIANCE", "until": 1000.0 + 86400}),
            ({"hold": True}, default, {"hold": True, "mode": "COMPLIANCE", "until": 1000.0 + 86400}),
            (asked, default, asked),  # a retention asked wins
            ({"hold": True}, {}, {"hold": True}),
        ]
        for lock, bucket_lock, expected in table:
            with self.subTest(lock=lock, bucket_lock=bucket_lock):
                self.assertEqual(retention(lock, bucket_lock, 1000.0), expected)
        self.assertIs(retention(asked, default, 1000.0), asked)  # unchanged: not copied
