"""What a start, a listing page and fsck cost as the store grows: the
object index (start-up reads its totals, a page reads its rows), how it is
set right after a crash, and fsck's bounded threads."""

from __future__ import annotations

import io
import logging
import os
import shutil
import sqlite3
import tempfile
import threading
import tracemalloc
import unittest
from contextlib import ExitStack, contextmanager
from dataclasses import replace
from unittest import mock

from filestoraged.config import Config
from filestoraged.deployment import deployment_for
from filestoraged.records.local import LocalRecords
from filestoraged.sharing.links import LinkStore
from filestoraged.sharing.sweep import give_back
from filestoraged.storage.disk import backend as disk_backend
from filestoraged.storage.disk.backend import DiskBackend
from filestoraged.storage.disk.fsck import THREADS, fsck
from filestoraged.storage.disk.indexing import index_path
from filestoraged.storage.interface import ObjectInfo
from filestoraged.storage.names import DEFAULT, repository
from filestoraged.storage.object_index import ObjectIndex

from ..support import ServerCase, sha256, wait_until

MANY = 2000


def fill(backend: DiskBackend, namespace, count: int, start: int = 0) -> list:
    """``count`` small objects (fsync skipped: this is about counting); their ids, sorted."""
    with mock.patch("os.fsync"):
        return sorted(backend.put(namespace, io.BytesIO(b"object %d" % number)).info.oid
                      for number in range(start, start + count))


def drop_row(data_dir: str, namespace: str, oid: str) -> None:
    """As a crash between an object's link and its index row's commit would leave it."""
    db = sqlite3.connect(index_path(data_dir))
    with db:
        size = db.execute("SELECT size FROM objects WHERE namespace = ? AND oid = ?", (namespace, oid)).fetchone()[0]
        db.execute("DELETE FROM objects WHERE namespace = ? AND oid = ?", (namespace, oid))
        db.execute("UPDATE totals SET objects = objects - 1, bytes = bytes - ?", (size,))
        db.execute("UPDATE spaces SET objects = objects - 1, bytes = bytes - ? WHERE namespace = ?", (size, namespace))
    db.close()


@contextmanager
def folders_unreadable():
    """Any look into a shard folder fails the test (the store's objects are
    out of reach of a count): what start-up and a listing page must not need."""
    def refuse(*args, **kwargs):
        raise AssertionError("a shard folder was read")

    with ExitStack() as stack:
        stack.enter_context(mock.patch.object(DiskBackend, "_object_files", refuse))
        stack.enter_context(mock.patch.object(DiskBackend, "shard_names", refuse))
        yield


class StartUpTests(ServerCase):
    def test_a_start_reads_no_object_and_its_usage_comes_out_right(self):
        oids = fill(self.app.backend, repository("r"), MANY)
        fill(self.app.backend, DEFAULT, 10, start=MANY)
        expected = sum(len(b"object %d" % n) for n in range(MANY + 10))
        with folders_unreadable():
            self.restart_server()
            metrics = self.request("GET", "/metrics").body.decode()
            listed = self.request("GET", "/data/r?limit=10&after=" + oids[100]).json()
        self.assertIn("filestoraged_objects_stored %d\n" % (MANY + 10), metrics)
        self.assertIn("filestoraged_bytes_stored %d\n" % expected, metrics)
        self.assertEqual([entry["oid"] for entry in listed], oids[101:111])


class IndexTests(unittest.TestCase):
    def setUp(self) -> None:
        self.root = tempfile.mkdtemp(prefix="fsd-index-")
        self.addCleanup(shutil.rmtree, self.root, True)
        self.backend = DiskBackend(self.root, 1 << 20)
        self.addCleanup(self.backend.close)
        self.repo = repository("r")

    def test_a_listing_page_reads_only_its_rows_and_no_folder(self):
        oids = fill(self.backend, self.repo, MANY)
        rows = []
        page = self.backend.index.page

        def counted(*args):
            found = page(*args)
            rows.extend(found)
            return found

        with folders_unreadable(), mock.patch("os.listdir", side_effect=AssertionError("listdir")), \
                mock.patch("os.scandir", side_effect=AssertionError("scandir")), \
                mock.patch.object(self.backend.index, "page", counted):
            listed = self.backend.list(self.repo, after=oids[1000], limit=10)
        self.assertEqual([info.oid for info in listed], oids[1001:1011])
        self.assertEqual(len(rows), 10)

    def test_a_listing_never_names_an_object_that_is_gone(self):
        oids = fill(self.backend, self.repo, 20)
        os.unlink(self.backend.object_path(self.repo, oids[3]))  # by hand, behind the daemon's back
        listed = [info.oid for info in self.backend.list(self.repo, limit=5)]
        self.assertEqual(listed, oids[:3] + oids[4:6])

    def test_fsck_finds_and_repairs_a_row_whose_object_is_gone_and_an_object_without_a_row(self):
        oids = fill(self.backend, self.repo, 20)
        gone = os.path.getsize(self.backend.object_path(self.repo, oids[5]))
        os.unlink(self.backend.object_path(self.repo, oids[5]))
        drop_row(self.root, self.repo.path, oids[7])
        report = fsck(self.backend)
        self.assertEqual((report.vanished, report.unindexed), (["repos/r/" + oids[5]], ["repos/r/" + oids[7]]))
        self.assertFalse(report.clean)
        report = fsck(self.backend, repair=True)
        self.assertEqual((report.vanished, report.unindexed), (["repos/r/" + oids[5]], ["repos/r/" + oids[7]]))
        self.assertTrue(fsck(self.backend).clean)
        self.assertEqual([info.oid for info in self.backend.list(self.repo)], oids[:5] + oids[6:])
        self.assertEqual(self.backend.index.totals(), (19, sum(len(b"object %d" % n) for n in range(20)) - gone))

    def test_each_namespace_has_its_totals_kept_as_rows_change(self):
        other = repository("other")
        oids = fill(self.backend, self.repo, 3)
        fill(self.backend, other, 2, start=10)
        fill(self.backend, other, 1, start=0)  # the same bytes as one in the first: counted in each
        size = len(b"object 0")
        self.assertEqual(self.backend.usage_by_namespace(),
                         {"repos/r": (3, 3 * size), "repos/other": (3, 3 * size + 2)})
        self.backend.delete(self.repo, oids[0])
        self.assertEqual(self.backend.usage_by_namespace()["repos/r"], (2, 2 * size))
        self.assertEqual(self.backend.usage_by_namespace(), self.backend.index.counted_by_namespace())

    def test_an_index_made_before_namespace_totals_counts_them_once(self):
        fill(self.backend, self.repo, 4)
        self.backend.close()
        db = sqlite3.connect(index_path(self.root))
        with db:
            db.execute("DROP TABLE spaces")
            db.execute("DELETE FROM state WHERE name = 'spaces'")
        db.close()
        again = DiskBackend(self.root, 1 << 20)
        self.addCleanup(again.close)
        self.assertEqual(again.usage_by_namespace(), {"repos/r": (4, 4 * len(b"object 0"))})

    def test_fsck_repairs_namespace_totals_that_disagree_with_the_rows(self):
        fill(self.backend, self.repo, 3)
        fill(self.backend, repository("other"), 2, start=10)
        db = sqlite3.connect(index_path(self.root))
        with db:  # the whole store's totals still right: only each namespace's are wrong
            db.execute("UPDATE spaces SET objects = objects + 1 WHERE namespace = 'repos/r'")
            db.execute("UPDATE spaces SET objects = objects - 1 WHERE namespace = 'repos/other'")
        db.close()
        self.assertIn("of each namespace", fsck(self.backend).totals)
        fsck(self.backend, repair=True)
        self.assertIsNone(fsck(self.backend).totals)
        self.assertEqual(self.backend.usage_by_namespace()["repos/r"][0], 3)

    def test_fsck_repairs_totals_that_disagree_with_the_rows(self):
        fill(self.backend, self.repo, 3)
        db = sqlite3.connect(index_path(self.root))
        with db:
            db.execute("UPDATE spaces SET objects = 7")
        db.close()
        self.assertIn("totals say 7 objects", fsck(self.backend).totals)
        fsck(self.backend, repair=True)
        self.assertIsNone(fsck(self.backend).totals)
        self.assertEqual(self.backend.index.totals()[0], 3)

    def test_an_object_stored_again_over_a_row_left_behind_is_counted_once_at_its_size(self):
        oids = fill(self.backend, self.repo, 3)
        size = len(b"object 0")
        # A row whose file went (as a crash between an unlink and its row's
        # commit leaves it), once with its size, once with another.
        for wrong in (size, 1):
            with self.subTest(row_size=wrong):
                os.unlink(self.backend.object_path(self.repo, oids[0]))
                db = sqlite3.connect(index_path(self.root))
                with db:
                    db.execute("UPDATE objects SET size = ? WHERE oid = ?", (wrong, oids[0]))
                    db.execute("UPDATE spaces SET bytes = bytes - ? + ?", (size, wrong))
                db.close()
                fill(self.backend, self.repo, 3)
                self.assertEqual(self.backend.index.totals(), (3, 3 * size))
                self.assertEqual(self.backend.usage_by_namespace(), self.backend.index.counted_by_namespace())
                self.assertIsNone(fsck(self.backend).totals)

    def test_a_run_that_did_not_stop_cleanly_is_set_right_in_the_background(self):
        oids = fill(self.backend, self.repo, 50)
        drop_row(self.root, self.repo.path, oids[0])  # killed between the link and the commit
        # The next start (this one never stopped): the index is dirty; a pass
        # in the background brings the object back and counts it.
        with self.assertLogs("filestoraged.storage.disk.indexing", logging.INFO) as logs:
            again = DiskBackend(self.root, 1 << 20)
            self.addCleanup(again.close)
            wait_until(lambda: not again.index.wanted(), "the pass over the disk ends")
        self.assertEqual(again.list(self.repo, limit=1)[0].oid, oids[0])
        self.assertEqual(again.usage()[0], 50)
        self.assertTrue(any("lacked 1 stored object" in line for line in logs.output), logs.output)

    def test_a_clean_stop_leaves_nothing_to_check(self):
        fill(self.backend, self.repo, 5)
        self.backend.close()
        again = DiskBackend(self.root, 1 << 20)
        self.addCleanup(again.close)
        self.assertFalse(again.index.wanted())

    def test_a_worker_that_died_marks_the_index_for_a_pass(self):
        config = replace(Config(data_dir=self.root))
        # The store's passes end first (the first, run at once in the
        # background, too; stopping waits for it): a pass begun after the
        # mark below would find it and clear it. (Waiting for the index to
        # be wanted no more did not do: a new store is complete before its
        # first pass has looked.)
        self.backend.close()
        index = ObjectIndex(index_path(self.root))
        self.addCleanup(index.close)
        self.assertIsNone(index.dirty_mark())
        deployment_for(config).recover(pid=4242, slot=1)
        self.assertIn("worker 4242", index.dirty_mark())

    def test_a_store_made_before_the_index_is_listed_from_its_folders_until_it_is_built(self):
        oids = fill(self.backend, self.repo, 30)
        self.backend.close()
        for name in os.listdir(self.root):
            if name.startswith("objects.db"):
                os.unlink(os.path.join(self.root, name))
        with mock.patch.object(disk_backend, "KEEP_SECONDS", 3600), \
                mock.patch.object(DiskBackend, "keep_index"):  # no pass yet
            older = DiskBackend(self.root, 1 << 20)
        self.addCleanup(older.close)
        self.assertFalse(older.index.complete())
        self.assertEqual([info.oid for info in older.list(self.repo, limit=4)], oids[:4])
        older.keep_index()
        self.assertTrue(older.index.complete())
        self.assertEqual(older.index.totals()[0], 30)
        self.assertEqual(older.usage()[0], 30)


class FsckThreadsTests(unittest.TestCase):
    def test_fsck_uses_a_few_threads_for_the_whole_run(self):
        root = tempfile.mkdtemp(prefix="fsd-fsck-")
        self.addCleanup(shutil.rmtree, root, True)
        backend = DiskBackend(root, 8 << 20, alone=False)
        self.addCleanup(backend.close)
        with mock.patch("os.fsync"):
            for number in range(40):  # two blocks each: the reader's path would start threads per object
                backend.put(DEFAULT, io.BytesIO(bytes([number]) * (600 * 1024)))
        started = []
        real = threading.Thread.start

        def counting(thread):
            started.append(thread.name)
            real(thread)

        shown = []
        with mock.patch.object(threading.Thread, "start", counting):
            report = fsck(backend, progress=lambda *figures: shown.append(figures))
        self.assertEqual((report.checked, report.corrupt), (40, []))
        self.assertLessEqual(len(started), THREADS + 1, started)
        self.assertEqual(shown[-1], (40, 40 * 600 * 1024, True))


class FakeClock:
    def __init__(self) -> None:
        self.now = 1_800_000_000.0

    def __call__(self) -> float:
        return self.now


class StoredEverywhere:
    """A backend that has every blob (the links' bytes are not what is measured)."""

    def __init__(self) -> None:
        self.deleted = 0

    def stat(self, namespace, oid):
        return ObjectInfo(oid, 1)

    def delete(self, namespace, oid):
        self.deleted += 1

    def list(self, namespace, after="", limit=None):
        return []


class ShareLinksAtScaleTests(unittest.TestCase):
    LINKS = 10_000

    def setUp(self) -> None:
        folder = tempfile.mkdtemp(prefix="fsd-links-")
        self.addCleanup(shutil.rmtree, folder, True)
        self.clock = FakeClock()
        self.records = LocalRecords(os.path.join(folder, "meta.db"), durable=False, clock=self.clock)
        self.addCleanup(self.records.close)
        self.backend = StoredEverywhere()
        self.links = LinkStore(self.records, self.backend, self.records, holder="4242")
        self.addCleanup(self.links.close)
        with self.records.batch():
            self.ids = [self.links.create(sha256(b"%d" % n), 1, None, None, None, 1, 60,
                                          maker="ops" if n % 2 else None).id for n in range(self.LINKS)]

    def reads_during(self, job):
        """``job()``'s result, how many records it read (the first few named),
        and its tracemalloc peak in bytes."""
        reads = [0]
        get, items, keys = self.records.get, self.records.items, self.records.keys

        def read(key):
            reads[0] += 1
            if len(reads) < 10:
                reads.append(key)

        def counted_get(key):
            read(key)
            return get(key)

        def counted_items(*args):
            for found in items(*args):
                read(found[0])
                yield found

        def counted_keys(*args, **kwargs):
            for found in keys(*args, **kwargs):
                read(found)
                yield found

        with mock.patch.object(self.records, "get", counted_get), \
                mock.patch.object(self.records, "items", counted_items), \
                mock.patch.object(self.records, "keys", counted_keys):
            tracemalloc.start()
            try:
                result = job()
                peak = tracemalloc.get_traced_memory()[1]
            finally:
                tracemalloc.stop()
        return result, reads, peak

    def test_the_sweep_reads_what_is_due_in_bounded_memory_and_dead_links_cost_nothing(self):
        self.clock.now += 120  # every link expired: each blob is due once
        removed, reads, peak = self.reads_during(self.links.sweep)
        self.assertEqual(removed, self.LINKS)
        self.assertLess(peak, 2 * 1024 * 1024)
        # A day later the 10k dead links are kept (410 for 30 days) and nothing is due.
        self.clock.now += 24 * 3600
        removed, reads, peak = self.reads_during(self.links.sweep)
        self.assertEqual(removed, 0)
        self.assertLess(reads[0], 10, reads)
        self.assertLess(peak, 256 * 1024)
        self.assertEqual(self.links.get(self.ids[0]).downloads, 0)  # still there: answers 410
        # Once their 30 days are over, they go (a page at a time).
        self.clock.now += 30 * 24 * 3600
        made, _ = self.links.made_by("ops", limit=self.LINKS)
        self.assertEqual(len(made), self.LINKS // 2)  # listed under their maker while they are kept
        self.links.sweep()
        self.assertEqual(list(self.records.keys("links/")), [])
        self.assertEqual(list(self.records.keys("share-made/")), [])  # and gone with them

    def test_giving_back_at_start_reads_only_links_that_hold_reservations(self):
        hold = self.links.reserve(self.ids[7])
        self.assertEqual(self.links.get(self.ids[7]).in_flight, 1)
        given, reads, _ = self.reads_during(lambda: give_back(self.records))
        self.assertEqual(given, 1)
        self.assertLess(reads[0], 10, reads)
        self.assertEqual(self.links.get(self.ids[7]).in_flight, 0)
        self.assertTrue(hold)


if __name__ == "__main__":
    unittest.main()
