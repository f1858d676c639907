"""The holds engine (``holds.blobs``): of a pin and a removal, one wins;
a pin waits for a removal under way and gives up with a 503; a removal
claimed on a record a pin changed since fails; its end deletes the bytes
and the record."""

from __future__ import annotations

import threading
import unittest

from filestoraged.errors import BackendUnavailable, NotFound
from filestoraged.holds.blobs import BlobRecords

from ..support import clocked_records


class BlobRecordsTests(unittest.TestCase):
    def setUp(self) -> None:
        self.records, self.clock, _ = clocked_records(self)
        self.blobs = BlobRecords(self.records, "test-blobs/", "test-due/", "test-turn")
        self.stop = threading.Event()

    def test_a_pin_names_its_holder_and_ends_the_idle_time(self):
        self.records.create("test-blobs/b", {"idle": 5.0, "data": True})
        self.assertTrue(self.blobs.try_pin("b", "pin-1"))  # the record was there
        self.assertFalse(self.blobs.try_pin("c", "pin-1"))  # made by the pin
        value = self.blobs.get("b").value
        self.assertEqual(value, {"pins": {"pin-1": self.clock.now}, "idle": None, "data": True})
        self.blobs.unpin("b", "pin-1")
        self.assertEqual(self.blobs.get("b").value["pins"], {})

    def test_pins_older_than_their_lapse_are_dropped_by_the_next(self):
        self.blobs.try_pin("b", "old")
        self.clock.advance(601)
        self.blobs.try_pin("b", "new", lapse=600)
        self.assertEqual(list(self.blobs.get("b").value["pins"]), ["new"])

    def test_a_claim_on_a_record_a_pin_changed_since_fails(self):
        record = self.blobs.get("b")  # none yet: judged unheld
        self.blobs.try_pin("b", "upload")
        self.assertFalse(self.blobs.claim("b", record, {}))
        self.assertNotIn("removing", self.blobs.get("b").value)

    def test_no_pin_while_a_removal_is_under_way_and_one_after_it(self):
        record = self.blobs.get("b")
        self.assertTrue(self.blobs.claim("b", record, {}, by="sweep"))
        self.assertEqual(self.blobs.get("b").value, {"removing": self.clock.now, "by": "sweep"})
        self.assertIsNone(self.blobs.try_pin("b", "upload"))
        removed = []
        self.assertEqual(self.blobs.finish("b", lambda: removed.append("b")), 1)
        self.assertEqual(removed, ["b"])
        self.assertIsNone(self.blobs.get("b"))
        self.assertFalse(self.blobs.try_pin("b", "upload"))  # after the removal: a new record

    def test_a_pin_waits_for_the_removal_then_says_503(self):
        self.blobs.claim("b", None, {})
        self.stop.set()  # no waiting between tries here
        with self.assertRaises(BackendUnavailable) as caught:
            self.blobs.pin("b", "upload", 0.0, self.stop, "send it again")
        self.assertIn("send it again", str(caught.exception))

    def test_a_removal_of_bytes_gone_already_counts_none(self):
        self.blobs.claim("b", None, {})

        def gone() -> None:
            raise NotFound("no such object")

        self.assertEqual(self.blobs.finish("b", gone), 0)
        self.assertIsNone(self.blobs.get("b"))

    def test_also_is_written_with_the_pin_and_not_without_it(self):
        self.blobs.try_pin("b", "upload", also=lambda: self.blobs.index.at(self.clock.now + 600, "b"))
        self.assertEqual(len(list(self.records.keys("test-due/"))), 1)
        self.blobs.claim("b", self.blobs.get("b"), {})
        self.assertIsNone(self.blobs.try_pin("b", "other", also=lambda: self.records.create("test-also", {})))
        self.assertIsNone(self.records.get("test-also"))

    def test_timed_sweeps_take_turns_and_one_asked_for_always_runs(self):
        self.assertTrue(self.blobs.turn_taken(60.0, wait=False))
        self.assertFalse(self.blobs.turn_taken(60.0, wait=False))
        self.assertTrue(self.blobs.turn_taken(60.0, wait=True))


if __name__ == "__main__":
    unittest.main()
