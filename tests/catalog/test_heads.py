"""The changes of a key's head (``catalog.heads``) as tables: each row a
head before, a change, and the versions after (newest first, the current
one marked), the records written before the swap and those removed after,
and what holds bytes then."""

from __future__ import annotations

import unittest

from filestoraged.catalog.heads import Head, amended, deleted, removed, written
from filestoraged.catalog.keys import Entry

V1, V2, V3 = "0000000000000001aaaaaaaa", "0000000000000002aaaaaaaa", "0000000000000003aaaaaaaa"


def obj(name: str, version=None) -> Entry:
    return Entry("oid-" + name, 1, "etag", 1000.0 + len(name), version=version)


def item(entry: Entry, at: str = None) -> dict:
    return {"id": entry.version or "null", "oid": entry.oid, "at": at or "at-" + entry.oid}


def marker(version=None, when=2000.0) -> dict:
    return {"id": version or "null", "marker": when}


def shape(head: Head) -> list:
    """The versions, newest first: ("current", oid), (id, oid) or (id, "marker")."""
    listed = [("current", head.current.oid)] if head.current is not None else []
    return listed + [(i["id"], "marker" if "marker" in i else i["oid"]) for i in head.older]


class WriteTests(unittest.TestCase):
    def test_a_write_over_each_kind_of_head(self):
        one, two = obj("one", V1), obj("two", V2)
        null_one = obj("null-one")
        new = obj("new", V3)
        new_null = obj("new-null")
        rows = [
            # (versioning, head before, entry written, versions after, kept as a record)
            ("", Head(None), new_null, [("current", "oid-new-null")], []),
            ("", Head(null_one), new_null, [("current", "oid-new-null")], []),
            ("Enabled", Head(None), new, [("current", "oid-new")], []),
            ("Enabled", Head(one), new, [("current", "oid-new"), (V1, "oid-one")], ["oid-one"]),
            ("Enabled", Head(null_one), new, [("current", "oid-new"), ("null", "oid-null-one")], ["oid-null-one"]),
            ("Enabled", Head(None, [marker(V2), item(one)]), new,
             [("current", "oid-new"), (V2, "marker"), (V1, "oid-one")], []),
            ("Suspended", Head(two, [item(null_one)]), new_null,
             [("current", "oid-new-null"), (V2, "oid-two")], ["oid-two"]),
            ("Suspended", Head(null_one, [item(one)]), new_null, [("current", "oid-new-null"), (V1, "oid-one")], []),
            ("Suspended", Head(None, [marker(), item(one)]), new_null, [("current", "oid-new-null"), (V1, "oid-one")],
             []),
        ]
        for versioning, before, entry, after, spilled in rows:
            with self.subTest(versioning=versioning, before=shape(before)):
                done = written(before, entry, versioning)
                self.assertEqual(shape(done.head), after)
                self.assertEqual([kept.oid for _, kept in done.spills], spilled)
                listed = {i["at"] for i in done.head.older if "at" in i}
                self.assertTrue(all(at in listed for at, _ in done.spills))  # each record written is listed
                self.assertEqual(set(done.drops), {i["at"] for i in before.older if "at" in i} - listed)

    def test_an_older_null_version_replaced_under_suspended_has_its_record_removed(self):
        null_one, two = obj("null-one"), obj("two", V2)
        done = written(Head(two, [item(null_one, "its-record")]), obj("new-null"), "Suspended")
        self.assertEqual(done.drops, ["its-record"])
        self.assertEqual(done.head.holds(), {("oid-new-null", None), ("oid-two", V2)})


class DeleteTests(unittest.TestCase):
    def test_a_delete_without_a_version_id(self):
        one, null_one = obj("one", V1), obj("null-one")
        rows = [
            # (versioning, head before, marker id, versions after)
            ("", Head(null_one), None, []),
            ("Enabled", Head(one), V3, [(V3, "marker"), (V1, "oid-one")]),
            ("Enabled", Head(None, [marker(V2), item(one)]), V3, [(V3, "marker"), (V2, "marker"), (V1, "oid-one")]),
            ("Suspended", Head(null_one), None, [("null", "marker")]),
            ("Suspended", Head(one, [item(null_one)]), None, [("null", "marker"), (V1, "oid-one")]),
            ("Suspended", Head(None, [marker(), item(one)]), None, [("null", "marker"), (V1, "oid-one")]),
        ]
        for versioning, before, marker_id, after in rows:
            with self.subTest(versioning=versioning, before=shape(before)):
                done = deleted(before, versioning, marker_id, 3000.0)
                self.assertEqual(shape(done.head), after)
                self.assertEqual(done.head.value() is None, after == [])  # no version left: the record goes

    def test_a_delete_by_version_id(self):
        one, two, three = obj("one", V1), obj("two", V2), obj("three", V3)
        records = {"at-oid-one": one, "at-oid-two": two}
        rows = [
            # (head before, version removed, versions after, records removed)
            (Head(three, [item(two), item(one)]), V3, [("current", "oid-two"), (V1, "oid-one")], ["at-oid-two"]),
            (Head(three, [item(two), item(one)]), V2, [("current", "oid-three"), (V1, "oid-one")], ["at-oid-two"]),
            (Head(three), V3, [], []),
            (Head(None, [marker(V3), item(two)]), V3, [("current", "oid-two")], ["at-oid-two"]),
            (Head(None, [marker(V3), item(two)]), V2, [(V3, "marker")], ["at-oid-two"]),
            (Head(three, [marker(V2), item(one)]), V3, [(V2, "marker"), (V1, "oid-one")], []),
        ]
        for before, version, after, drops in rows:
            with self.subTest(before=shape(before), version=version):
                done = removed(before, version, lambda found: records[found["at"]])
                self.assertEqual(shape(done.head), after)
                self.assertEqual(done.drops, drops)

    def test_a_version_made_current_again_holds_its_bytes_as_the_current_one(self):
        two, three = obj("two", V2), obj("three", V3)
        done = removed(Head(three, [item(two)]), V3, lambda found: two)
        self.assertEqual(done.head.holds(), {("oid-two", None)})
        self.assertEqual(Head(three, [item(two)]).holds() - done.head.holds(),
                         {("oid-three", None), ("oid-two", V2)})  # let go of after the swap


class AmendTests(unittest.TestCase):
    def test_an_older_version_amended_gets_a_new_record_and_its_old_one_goes(self):
        one, two = obj("one", V1), obj("two", V2)
        held = Entry(one.oid, 1, "etag", one.modified, version=V1, lock={"hold": True})
        done = amended(Head(two, [item(one, "old-record")]), V1, held)
        [(at, entry)] = done.spills
        self.assertEqual((entry.lock, done.drops), ({"hold": True}, ["old-record"]))
        self.assertEqual(done.head.older, [{"id": V1, "oid": one.oid, "at": at}])
        self.assertTrue(at.startswith(V1 + "-"))

    def test_the_current_version_amended_in_the_head_itself(self):
        two = obj("two", V2)
        held = Entry(two.oid, 1, "etag", two.modified, version=V2, tags={"a": "b"})
        done = amended(Head(two), V2, held)
        self.assertEqual((done.spills, done.drops, done.head.current.tags), ([], [], {"a": "b"}))


class RecordTests(unittest.TestCase):
    def test_a_head_reads_back_what_it_wrote(self):
        one, two = obj("one", V1), obj("two", V2)
        for head in (Head(two, [marker(V3), item(one)]), Head(None, [marker(V3), item(one)]), Head(two)):
            with self.subTest(head=shape(head)):
                self.assertEqual(shape(Head.of(head.value())), shape(head))
        self.assertNotIn("older", Head(two).value())  # a key without versions: its entry alone, as before
        self.assertNotIn("oid", Head(None, [marker(V3)]).value())  # a delete marker newest: no current object


if __name__ == "__main__":
    unittest.main()
