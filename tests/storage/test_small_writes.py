"""Small objects on the disk backend (``storage.disk.small_writes``): made
durable by the journal, not by syncs of their own; at rest the same
hash-sharded files. What a crash (a power cut) took from their files the
next start writes again from the journal, checked; a removed or refused
object never comes back; a torn journal tail is dropped and said."""

from __future__ import annotations

import hashlib
import io
import os
import threading
import shutil
import tempfile
import unittest
from unittest import mock

from filestoraged.storage.disk import small_writes
from filestoraged.storage.disk.backend import DiskBackend
from filestoraged.storage.disk.fsck import fsck
from filestoraged.storage.disk.journal_records import journals, read
from filestoraged.storage.names import DEFAULT, repository

from ..support import payload

BOX = repository("box")


class SmallWritesTests(unittest.TestCase):
    def setUp(self) -> None:
        self.root = tempfile.mkdtemp(prefix="fsd-small-")
        self.addCleanup(shutil.rmtree, self.root, True)
        # No checkpoint on its own in these tests: what the journal holds stays until a start or a close.
        patcher = mock.patch.object(small_writes, "CHECKPOINT_SECONDS", 3600)
        patcher.start()
        self.addCleanup(patcher.stop)
        self.backend = self.start()

    def start(self) -> DiskBackend:
        """The daemon's start on the store: the journal replayed. The run
        before it is as a killed process leaves it: its journal's files
        closed (and with them its holds of them), nothing checkpointed."""
        if hasattr(self, "backend"):
            self.backend._small.journal.close()
        return DiskBackend(self.root, 10 * 1024 * 1024)

    def journaled(self):
        return [record for path in journals(os.path.join(self.root, small_writes.FOLDER))
                for record in read(path)[0]]

    def test_a_small_put_is_durable_in_the_journal_and_rests_as_its_file_unsynced(self):
        data = payload(4096)
        # (its shard's folder made first: a new folder is synced once, as it is made)
        os.makedirs(os.path.dirname(self.backend.object_path(BOX, hashlib.sha256(data).hexdigest())))
        synced = []
        real, writer = os.fsync, threading.current_thread()
        with mock.patch.object(os, "fsync", side_effect=lambda fd: (  # (the put's own: not other threads')
                synced.append(fd) if threading.current_thread() is writer else None, real(fd))):
            result = self.backend.put(BOX, io.BytesIO(data), "text/plain")
        self.assertTrue(result.created)
        self.assertEqual(synced, [])  # neither its file nor its folder
        self.assertEqual([(r.namespace, r.oid, r.content_type, r.data) for r in self.journaled()],
                         [(BOX.path, hashlib.sha256(data).hexdigest(), "text/plain", data)])
        with self.backend.open(BOX, result.info.oid) as stored:
            self.assertEqual((stored.read_all(), stored.info.content_type), (data, "text/plain"))
        big = payload(small_writes.SMALL + 1, seed=1)
        self.assertTrue(self.backend.put(BOX, io.BytesIO(big)).created)
        self.assertEqual(len(self.journaled()), 1)  # past the journal's size: synced on its own

    def test_what_a_power_cut_took_from_the_files_is_written_again_at_the_next_start(self):
        kept = [self.backend.put(BOX, io.BytesIO(payload(3000, seed=n)), "text/plain").info.oid for n in range(3)]
        os.unlink(self.backend.object_path(BOX, kept[0]))  # never reached the disk
        with open(self.backend.object_path(BOX, kept[1]), "r+b") as torn:  # reached it in part
            torn.truncate(1000)
        report = fsck(self.backend)
        self.assertEqual(sorted(report.journal_unrested), sorted("repos/box/" + oid for oid in kept[:2]))
        with self.assertLogs("filestoraged.storage.disk.small_writes", "WARNING") as said:
            again = self.start()
        self.assertIn("gave back 2 small object(s)", said.output[0])
        for n, oid in enumerate(kept):
            with again.open(BOX, oid) as stored:
                self.assertEqual((stored.read_all(), stored.info.content_type), (payload(3000, seed=n), "text/plain"))
        self.assertEqual(self.journaled(), [])  # replayed, durable, retired
        again.keep_index()  # the start marked the index for a pass: the objects it lacked are counted
        self.assertTrue(fsck(again).clean)

    def test_a_removed_or_refused_object_never_comes_back(self):
        removed = self.backend.put(BOX, io.BytesIO(b"removed")).info.oid
        self.backend.delete(BOX, removed)
        with mock.patch.object(self.backend.index, "changing", side_effect=OSError(5, "Input/output error")):
            with self.assertRaises(OSError):
                self.backend.put(BOX, io.BytesIO(b"refused"))
        refused = hashlib.sha256(b"refused").hexdigest()
        self.assertEqual([(r.kind, r.oid) for r in self.journaled()][-1], (2, refused))
        again = self.start()
        for oid in (removed, refused):
            self.assertFalse(os.path.exists(again.object_path(BOX, oid)), oid)
        self.assertEqual(again.list(BOX), [])

    def test_an_object_whose_file_could_not_be_written_after_its_record_never_comes_back(self):
        with mock.patch("filestoraged.storage.disk.backend.write_all", side_effect=OSError(5, "Input/output error")):
            with self.assertRaises(OSError):
                self.backend.put(BOX, io.BytesIO(b"refused"))
        refused = hashlib.sha256(b"refused").hexdigest()
        self.assertEqual([(r.kind, r.oid) for r in self.journaled()][-1], (2, refused))
        again = self.start()
        self.assertFalse(os.path.exists(again.object_path(BOX, refused)))
        self.assertEqual(again.list(BOX), [])

    def test_a_torn_tail_is_dropped_and_said_and_what_came_before_stands(self):
        oid = self.backend.put(DEFAULT, io.BytesIO(b"before the tear")).info.oid
        os.unlink(self.backend.object_path(DEFAULT, oid))
        path = journals(os.path.join(self.root, small_writes.FOLDER))[-1]
        with open(path, "ab") as journal:
            journal.write(b"FSDJ\x01\xff\x00\x00\x00")  # a head cut short
        self.assertEqual(len(fsck(self.backend).journal_dropped), 1)
        with self.assertLogs("filestoraged.storage.disk.journal", "WARNING") as said:
            again = self.start()
        self.assertIn("a record's head cut short", said.output[0])
        with again.open(DEFAULT, oid) as stored:
            self.assertEqual(stored.read_all(), b"before the tear")

    def test_a_clean_stop_leaves_the_journal_empty(self):
        self.backend.put(BOX, io.BytesIO(b"one"))
        self.backend.close()
        self.assertEqual(self.journaled(), [])


if __name__ == "__main__":
    unittest.main()
