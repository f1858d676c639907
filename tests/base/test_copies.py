"""Copies of what every request reads (its token, its address's failed
attempts, its bucket): kept in a process only while no process of the
machine changed them. Two record stores over one ``meta.db`` stand for two
worker processes (or a worker and ``filestoraged token``): a change made
through one is seen by the other's next read, never hidden by its copy."""

from __future__ import annotations

import os
import shutil
import tempfile
import time
import unittest

from filestoraged.access.attempts import Attempts
from filestoraged.access.tokens import TokenStore
from filestoraged.base.copies import Copies
from filestoraged.base.interprocess import ChangeMark
from filestoraged.catalog.buckets import Buckets
from filestoraged.records.local import LocalRecords


class CountedRecords(LocalRecords):
    """LocalRecords that count their reads."""

    def __init__(self, path: str) -> None:
        super().__init__(path)
        self.reads = 0
        self.updates = 0

    def get(self, key: str):
        self.reads += 1
        return super().get(key)

    def update(self, key: str, change):
        self.updates += 1
        return super().update(key, change)


class TwoProcessesCase(unittest.TestCase):
    def setUp(self) -> None:
        folder = tempfile.mkdtemp(prefix="fsd-test-")
        self.addCleanup(shutil.rmtree, folder, True)
        path = os.path.join(folder, "meta.db")
        self.here, self.there = CountedRecords(path), LocalRecords(path)
        self.addCleanup(self.here.close)
        self.addCleanup(self.there.close)


class TokenCopiesTests(TwoProcessesCase):
    def test_a_token_is_read_once_then_copied_until_one_is_revoked_elsewhere(self):
        here, there = TokenStore(self.here), TokenStore(self.there)
        _, secret = there.create(["files:write"], "ci")
        _, other = there.create(["files:read"], "other")
        self.assertEqual(here.find(secret).name, "ci")  # its first use is written (last_used): a change
        self.assertEqual(here.find(secret).name, "ci")
        reads = self.here.reads
        for _ in range(5):
            self.assertEqual(here.find(secret).name, "ci")
            self.assertEqual(here.find_copied(secret).name, "ci")
        self.assertEqual(self.here.reads, reads, "a token read again while nothing changed")
        there.revoke("other")  # any token's change: every copy is read again
        self.assertIsNone(here.find_copied(secret))
        self.assertEqual(here.find(secret).name, "ci")
        there.revoke("ci")
        self.assertIsNone(here.find_copied(secret))
        self.assertIsNone(here.find(secret))
        self.assertIsNone(here.find(other))

    def test_a_key_pair_and_a_token_made_elsewhere_after_a_miss_are_found(self):
        here, there = TokenStore(self.here), TokenStore(self.there)
        self.assertIsNone(here.find_s3("FSD" + "A" * 17))
        token, _ = there.create(["admin"], "laptop", s3=True)
        self.assertEqual(here.find_s3(token.s3_key).name, "laptop")
        old_key = token.s3_key
        rotated, _ = there.rotate("laptop")
        self.assertIsNone(here.find_s3(old_key))
        self.assertEqual(here.find_s3(rotated.s3_key).name, "laptop")

    def test_an_s3_key_is_read_once_then_copied_and_its_first_use_written_once(self):
        self._s3_key_copied(CountedRecords(self.here.path), cache_seconds=0)

    def test_without_a_mark_an_s3_key_is_copied_for_its_seconds_and_its_use_written_once(self):
        self._s3_key_copied(UnmarkedRecords(self.here.path), cache_seconds=60)

    def _s3_key_copied(self, records: "CountedRecords", cache_seconds: float) -> None:
        self.addCleanup(records.close)
        token, _ = TokenStore(self.there).create(["admin"], "laptop", s3=True)
        here = TokenStore(records, cache_seconds=cache_seconds)
        for _ in range(6):
            self.assertEqual(here.find_s3(token.s3_key).name, "laptop")
        self.assertEqual(records.updates, 1, "the key's use written more than once")
        reads = records.reads
        for _ in range(5):
            self.assertEqual(here.find_s3(token.s3_key).name, "laptop")
        self.assertEqual(records.reads, reads, "an S3 key read again while nothing changed")


class UnmarkedRecords(CountedRecords):
    """Records with no mark of changes (as several daemons' are): a copy
    is believed for the seconds its store is given."""

    def change_mark(self, subject: str):
        return None


class AttemptCopiesTests(TwoProcessesCase):
    def test_failures_counted_elsewhere_throttle_here_at_once(self):
        here, there = Attempts(self.here, "token", 3, 60.0), Attempts(self.there, "token", 3, 60.0)
        now = time.time()
        self.assertIsNone(here.retry_after("192.0.2.7", now))
        reads = self.here.reads
        self.assertIsNone(here.retry_after("192.0.2.7", now))
        self.assertEqual(self.here.reads, reads, "an address without failures read again while nothing changed")
        for _ in range(3):
            there.add("192.0.2.7", now)
        self.assertIsNotNone(here.retry_after("192.0.2.7", now))
        self.assertIsNone(here.retry_after("192.0.2.8", now))


    def test_attempts_still_being_checked_lock_nobody_out_until_they_fail(self):
        here, there = Attempts(self.here, "token", 3, 60.0), Attempts(self.there, "token", 3, 60.0)
        now = time.time()
        admitted = [now + n / 1000 for n in range(3)]
        for at in admitted:
            self.assertIsNone(there.admit("192.0.2.9", at))  # counted in advance, pending
        self.assertIsNone(here.retry_after("192.0.2.9", now + 1), "a proven token refused for checks in flight")
        for at in admitted:
            there.settle("192.0.2.9", at)
        self.assertIsNotNone(here.retry_after("192.0.2.9", now + 1))


class BucketCopiesTests(TwoProcessesCase):
    def test_a_bucket_closed_or_deleted_elsewhere_no_longer_holds_here(self):
        here, there = Buckets(self.here), Buckets(self.there)
        there.create("photos")
        bucket = here.require("photos")
        reads = self.here.reads
        self.assertTrue(here.holds(bucket))
        self.assertEqual(here.get("photos"), bucket)
        self.assertEqual(self.here.reads, reads, "a bucket read again while nothing changed")
        there.close(there.require("photos"))
        self.assertFalse(here.holds(bucket), "a key written here would outlive its bucket")
        there.reopen(bucket)
        self.assertTrue(here.holds(bucket))
        there.set_versioning(bucket, "Enabled")
        self.assertEqual(here.require("photos").versioning, "Enabled")
        there.close(bucket)
        there.delete("photos")
        there.create("photos")  # made anew under the name
        self.assertFalse(here.holds(bucket))


class MarkTests(unittest.TestCase):
    def test_a_late_change_never_brings_back_a_mark_seen_before(self):
        folder = tempfile.mkdtemp(prefix="fsd-test-")
        self.addCleanup(shutil.rmtree, folder, True)
        path = os.path.join(folder, "x.mark")
        one, two = ChangeMark(path), ChangeMark(path)
        self.addCleanup(one.close)
        self.addCleanup(two.close)
        seen = set()
        for mark in (one, two) * 50:
            seen.add(mark.seen())
            mark.change()
            self.assertNotIn(one.seen(), seen)
            self.assertEqual(one.seen(), two.seen())

    def test_without_a_mark_copies_last_their_bound_or_are_not_kept(self):
        reads = []
        kept = Copies(None, seconds=60.0)
        for _ in range(3):
            kept.get("a", lambda: reads.append(1) or len(reads))
        self.assertEqual(len(reads), 1)
        kept.changed("a")
        self.assertEqual(kept.get("a", lambda: reads.append(1) or len(reads)), 2)
        none = Copies(None)
        for _ in range(3):
            none.get("a", lambda: reads.append(1) or len(reads))
        self.assertEqual(len(reads), 5)


if __name__ == "__main__":
    unittest.main()
