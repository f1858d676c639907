"""The disk backend's journal of small writes (``storage.disk.journal``):
what a put returns from is read back whole; a torn or corrupted tail is
dropped and said, never given; a removal takes back an earlier put; writers
at once share a sync; a batch that could not be written is refused to each
of its writers and leaves nothing behind it; a journal whose writer was
killed (``kill -9``) is found and holds every put it answered."""

from __future__ import annotations

import errno
import hashlib
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import unittest
from typing import List
from unittest import mock

from filestoraged.storage.disk import journal
from filestoraged.storage.disk.journal import Journal
from filestoraged.storage.disk.journal_records import GONE, PUT, Record, encode, journals, read, standing

from ..support import ROOT, Threads


def body(n: int) -> bytes:
    return (b"object %d " % n) * (1 + n % 50)


def oid_of(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


class JournalCase(unittest.TestCase):
    def setUp(self) -> None:
        self.folder = tempfile.mkdtemp(prefix="fsd-journal-")
        self.addCleanup(shutil.rmtree, self.folder, True)
        self.journal = Journal(self.folder)
        self.addCleanup(self.journal.close)

    def put(self, n: int, namespace: str = "repos/box") -> str:
        data = body(n)
        with self.journal.recording() as recording:
            recording.put(namespace, oid_of(data), "text/plain", data)
        return oid_of(data)

    def gone(self, oid: str, namespace: str = "repos/box") -> None:
        with self.journal.recording() as recording:
            recording.gone(namespace, oid)

    @property
    def path(self) -> str:
        return journals(self.folder)[-1]


class ReadBackTests(JournalCase):
    def test_what_was_put_and_taken_back_reads_back_in_order(self):
        first, second = self.put(1), self.put(2, "files")
        self.gone(first)
        again = self.put(3)
        records, dropped = read(self.path)
        self.assertEqual(dropped, [])
        self.assertEqual([(r.kind, r.namespace, r.oid) for r in records],
                         [(PUT, "repos/box", first), (PUT, "files", second), (GONE, "repos/box", first),
                          (PUT, "repos/box", again)])
        self.assertEqual(records[0], Record(PUT, "repos/box", first, "text/plain", body(1)))
        self.assertEqual([r.oid for r in standing(records)], [second, again])

    def test_a_put_after_its_removal_stands(self):
        oid = self.put(4)
        self.gone(oid)
        self.put(4)
        self.assertEqual([r.oid for r in standing(read(self.path)[0])], [oid])

    def test_a_torn_tail_is_dropped_and_said(self):
        kept = [self.put(n) for n in range(5)]
        size = os.path.getsize(self.path)
        self.put(5)
        for cut in (size + 3, size + 20, os.path.getsize(self.path) - 1):
            with self.subTest(cut=cut):
                torn = os.path.join(self.folder, "torn")
                shutil.copyfile(self.path, torn)
                os.truncate(torn, cut)
                records, dropped = read(torn)
                self.assertEqual([r.oid for r in records], kept)
                self.assertEqual(len(dropped), 1)
                self.assertTrue(dropped[0].startswith("bytes %d-%d: " % (size, cut)), dropped)

    def test_a_corrupted_record_is_skipped_to_the_next_that_holds(self):
        """As a batch a full disk stopped midway, before another process's."""
        kept = [self.put(n) for n in range(3)]
        at = os.path.getsize(self.path)
        self.put(3)
        kept.append(self.put(4))
        for offset, why in ((at + 30, "CRC-32"), (at, "no record's head")):
            with self.subTest(why=why):
                spoilt = os.path.join(self.folder, "spoilt")
                shutil.copyfile(self.path, spoilt)
                with open(spoilt, "r+b") as handle:
                    handle.seek(offset)
                    byte = handle.read(1)
                    handle.seek(offset)
                    handle.write(bytes([byte[0] ^ 0xFF]))
                records, dropped = read(spoilt)
                self.assertEqual([r.oid for r in records], kept)
                self.assertEqual(len(dropped), 1)
                self.assertIn(why, dropped[0])

    def test_bytes_that_are_not_their_name_are_never_given(self):
        """A record whose CRC holds but whose bytes are not the SHA-256 it
        names (written so by a fault of ours) ends what is read."""
        self.put(0)
        wrong = encode(PUT, "repos/box", oid_of(b"other"), None, b"these bytes")
        with open(self.path, "ab") as handle:
            handle.write(wrong)
        records, dropped = read(self.path)
        self.assertEqual(len(records), 1)
        self.assertIn("not the SHA-256", dropped[0])


class GroupCommitTests(JournalCase):
    WRITERS = 16
    EACH = 25

    def test_writers_at_once_share_syncs_and_each_put_reads_back(self):
        synced: List[int] = []
        barrier = threading.Barrier(self.WRITERS)
        real = os.fdatasync

        def counting(fd: int) -> None:
            synced.append(fd)
            real(fd)

        def writer(first: int) -> None:
            barrier.wait(30)
            for n in range(first, first + self.EACH):
                self.put(n)

        with mock.patch.object(os, "fdatasync", side_effect=counting), Threads(60) as threads:
            for index in range(self.WRITERS):
                threads.start(writer, index * self.EACH)
        puts = self.WRITERS * self.EACH
        records, dropped = read(self.path)
        self.assertEqual(dropped, [])
        self.assertEqual(sorted(r.oid for r in records), sorted(oid_of(body(n)) for n in range(puts)))
        self.assertLess(len(synced), puts * 3 // 4, "%d syncs for %d puts" % (len(synced), puts))

    def test_a_batch_that_could_not_be_written_is_refused_and_leaves_nothing(self):
        answered = [self.put(n) for n in range(3)]
        real = journal.write_all

        def full(fd, data):
            real(fd, data[:len(data) // 2])  # a part went in before the disk filled
            raise OSError(errno.ENOSPC, "No space left on device")

        with mock.patch.object(journal, "write_all", side_effect=full):
            with self.assertRaises(OSError) as raised:
                self.put(100)
        self.assertEqual(raised.exception.errno, errno.ENOSPC)
        answered.append(self.put(4))
        records, dropped = read(self.path)
        self.assertEqual(len(dropped), 2)  # the half batch, and the half removal tried after it: each skipped
        self.assertEqual([r.oid for r in records], answered)


    def test_a_put_whose_sync_failed_is_taken_back(self):
        """Its record may be whole in the file (the bytes went in, the sync
        failed): a replay must not give back what was refused."""
        real = os.fdatasync
        failed: List[int] = []
        writer = threading.current_thread()

        def once(fd: int) -> None:
            if not failed and threading.current_thread() is writer:  # (not another thread's sync)
                failed.append(fd)
                raise OSError(errno.ENOSPC, "No space left on device")
            real(fd)

        with mock.patch.object(os, "fdatasync", side_effect=once), self.assertRaises(OSError):
            self.put(7)
        kept = self.put(8)
        records, _ = read(self.path)
        self.assertIn(oid_of(body(7)), [r.oid for r in records if r.kind == PUT])  # whole in the file
        self.assertEqual([r.oid for r in standing(records)], [kept])


class CheckpointTests(JournalCase):
    def test_a_checkpoint_syncs_and_retires_the_epoch_and_writes_go_on_in_the_next(self):
        first = self.path
        self.assertFalse(self.journal.checkpoint())  # nothing recorded
        self.put(1)
        with mock.patch.object(journal, "syncfs") as synced:
            self.assertTrue(self.journal.checkpoint())
        synced.assert_called_once()
        self.assertFalse(os.path.exists(first))
        after = self.put(2)
        self.assertEqual([r.oid for r in read(self.path)[0]], [after])

    def test_a_checkpoint_waits_for_a_write_recording_in_its_epoch(self):
        """Until the object a record is for rests where it belongs, its
        epoch's file stays (the write holds it); a write begun after the
        checkpoint began goes to the next epoch."""
        data = body(7)
        recording = self.journal.recording().__enter__()
        recording.put("repos/box", oid_of(data), None, data)
        old = self.path
        done = threading.Event()
        with Threads(30) as threads:
            threads.start(lambda: (self.journal.checkpoint(), done.set()))
            self.assertFalse(done.wait(0.3))
            self.assertTrue(os.path.exists(old))
            later = self.put(8)
            self.assertNotEqual(self.path, old)
            recording.__exit__(None, None, None)
        self.assertTrue(done.is_set())
        self.assertEqual(journals(self.folder), [self.path])
        self.assertEqual([r.oid for r in read(self.path)[0]], [later])

    def test_a_process_that_checkpoints_keeps_its_hold_between_writes_and_lets_go_for_a_checkpoint(self):
        """With idle holds (a daemon's process, whose checkpoints run every
        second) writes in a row take the epoch's shared hold once; another
        process's checkpoint (a journal of its own: its own open file)
        waits for that hold until the holder's next checkpoint call lets go
        of it, and the holder's own checkpoint does not wait for itself."""
        holder = Journal(self.folder, idle_holds=True)
        self.addCleanup(holder.close)
        taken = []
        real = journal.fcntl.flock
        writer = threading.current_thread()

        def counted(fd, operation):
            if threading.current_thread() is writer:  # (the patch is the module's: other threads' calls too)
                taken.append(operation)
            return real(fd, operation)

        with mock.patch.object(journal.fcntl, "flock", counted):
            for n in range(5):
                data = body(n)
                with holder.recording() as recording:
                    recording.put("repos/box", oid_of(data), None, data)
        self.assertEqual(taken, [journal.fcntl.LOCK_SH])  # once, for five writes
        old = self.path
        done = threading.Event()
        with Threads(30) as threads:
            threads.start(lambda: (self.journal.checkpoint(), done.set()))
            self.assertFalse(done.wait(0.3))  # the holder's idle hold keeps the old epoch
            self.assertTrue(os.path.exists(old))
            self.assertFalse(holder.checkpoint())  # its turn: another checkpoints now; its hold let go
            self.assertTrue(done.wait(10))
        self.assertFalse(os.path.exists(old))
        self.put(9)  # (the next epoch, by the other journal: a hold of its own)
        data = body(10)
        with holder.recording() as recording:
            recording.put("repos/box", oid_of(data), None, data)
        with Threads(30) as threads:  # the holder's own checkpoint: its idle hold is no wait of its own
            threads.start(holder.checkpoint)
        self.assertEqual(len(journals(self.folder)), 1)
        self.assertEqual(read(self.path)[0], [])

    def test_replay_restores_what_stands_and_retires_every_journal_left(self):
        kept, taken = self.put(1), self.put(2)
        self.gone(taken)
        self.journal.close()
        restored: List[Record] = []
        again = Journal(self.folder)
        self.addCleanup(again.close)
        self.assertEqual(again.replay(restored.append), 1)
        self.assertEqual([r.oid for r in restored], [kept])
        self.assertEqual(len(journals(self.folder)), 1)
        self.assertEqual(read(journals(self.folder)[0]), ([], []))


HOLDER = r"""
import hashlib, sys, threading
sys.path.insert(0, sys.argv[1])
from filestoraged.storage.disk.journal import Journal
journal = Journal(sys.argv[2])
lock = threading.Lock()

def writer(index):
    n = 0
    while True:
        data = b"writer %d put %d " % (index, n) * (1 + n % 40)
        with journal.recording() as recording:
            recording.put("repos/box", hashlib.sha256(data).hexdigest(), None, data)
        with lock:
            sys.stdout.write(hashlib.sha256(data).hexdigest() + "\n")
            sys.stdout.flush()
        n += 1

for index in range(16):
    threading.Thread(target=writer, args=(index,), daemon=True).start()
threading.Event().wait()
"""


class KilledWriterTests(unittest.TestCase):
    ROUNDS = 30

    def test_every_put_answered_before_a_kill_is_read_back(self):
        folder = tempfile.mkdtemp(prefix="fsd-journal-kill-")
        self.addCleanup(shutil.rmtree, folder, True)
        for round_ in range(self.ROUNDS):
            holder = subprocess.Popen([sys.executable, "-c", HOLDER, ROOT, folder], stdout=subprocess.PIPE)
            try:
                answered = [holder.stdout.readline().decode().strip() for _ in range(50 + round_ * 7)]
            finally:
                holder.send_signal(signal.SIGKILL)
                holder.wait(30)
                rest = holder.stdout.read().decode().split()
                holder.stdout.close()
            found = {record.oid for path in journals(folder) for record in read(path)[0]}
            self.assertLessEqual(set(answered + [oid for oid in rest if len(oid) == 64]), found, round_)
            restored: List[Record] = []
            replaying = Journal(folder)
            replaying.replay(restored.append)
            replaying.close()
            self.assertLessEqual(set(answered), {record.oid for record in restored}, round_)


if __name__ == "__main__":
    unittest.main()
