"""Marks of S3 uploads of new bytes (``catalog.upload_marks``): an upload
that may store bytes no record tracks marks them in its process's file
until they are tracked, and bytes a process that died left that way are
tracked by the next look (``Claims.recover``) and go once idle, unless a
key or the repository's own face holds them."""

from __future__ import annotations

import errno
import io
import multiprocessing
import os
import unittest
from unittest import mock

from filestoraged.base.interprocess import NamedLocks
from filestoraged.catalog.claims import Claims
from filestoraged.catalog.pins import GRACE, blob
from filestoraged.catalog.upload_marks import PREFIX, SLOT, UploadMarks
from filestoraged.storage.disk.backend import DiskBackend
from filestoraged.storage.names import repository

from ..support import clocked_records, sha256
from .test_pin_locks import BUCKET, is_stored, s3_put


def _mark_and_die(folder: str, oid: str) -> None:
    """A process whose upload marked ``oid`` and died before tracking it."""
    UploadMarks(folder).mark(BUCKET, oid)
    os._exit(0)


class UploadMarksTests(unittest.TestCase):
    def setUp(self) -> None:
        self.records, self.clock, folder = clocked_records(self)
        self.run = os.path.join(folder, "run")
        os.makedirs(self.run)
        self.backend = DiskBackend(os.path.join(folder, "data"), 1 << 20)
        self.addCleanup(self.backend.close)
        self.marks = UploadMarks(self.run)
        self.claims = Claims(self.records, self.backend, None, NamedLocks(os.path.join(self.run, "pins")),
                             self.marks)
        self.addCleanup(self.claims.close)

    def died_marking(self, data: bytes, stored: bool = True) -> str:
        """What a process that died between storing ``data`` (unless not
        ``stored``) and its key's commit left: the bytes, and its mark."""
        oid = sha256(data)
        if stored:
            self.assertTrue(self.backend.put(repository(BUCKET), io.BytesIO(data)).created)
        child = multiprocessing.get_context("fork").Process(target=_mark_and_die, args=(self.run, oid))
        child.start()
        child.join(30)
        self.assertEqual(child.exitcode, 0)
        return oid

    def marks_files(self):
        return sorted(name for name in os.listdir(self.run) if name.startswith(PREFIX))

    def swept_after_the_grace(self) -> int:
        self.clock.advance(GRACE + 1)
        return self.claims.sweep(60, wait=True)

    def test_bytes_a_dead_upload_stored_are_tracked_and_go_once_idle(self):
        oid = self.died_marking(b"stored, then the process died before its key's commit")
        self.assertEqual(len(self.marks_files()), 1)
        self.assertEqual(self.claims.recover(), [(BUCKET, oid)])
        self.assertEqual(self.marks_files(), [])  # looked at: gone
        value = self.records.get(blob(BUCKET, oid)).value
        self.assertFalse(value["data"])
        self.assertIsNotNone(value["idle"])
        self.assertEqual(self.claims.recover(), [])  # nothing left to look at
        self.assertEqual(self.swept_after_the_grace(), 1)
        self.assertFalse(is_stored(self.backend, oid))

    def test_bytes_a_key_or_the_repository_holds_are_kept(self):
        """A dead process's marks for bytes a key named (its commit came),
        for bytes a /data upload relied on after the death, and for bytes
        it never stored: none is touched."""
        named = s3_put(self.claims, self.records, self.backend, b"named by a key", "k")
        named = self.died_marking(b"named by a key", stored=False)  # (its mark left, as if not yet cleared)
        relied = self.died_marking(b"found by /data after the death")
        put = self.backend.put(repository(BUCKET), io.BytesIO(b"found by /data after the death"))
        self.assertFalse(put.created)
        self.claims.relied_on(BUCKET, put.info.oid, put.created, in_bucket=True)
        never = self.died_marking(b"never stored", stored=False)
        self.assertEqual(self.claims.recover(), [])
        ours = "%s%d." % (PREFIX, os.getpid())
        self.assertEqual([name for name in self.marks_files() if not name.startswith(ours)], [])  # the dead's
        self.assertEqual(self.swept_after_the_grace(), 0)
        self.assertTrue(is_stored(self.backend, named))
        self.assertTrue(is_stored(self.backend, relied))
        self.assertFalse(is_stored(self.backend, never))
        self.assertIsNone(self.records.get(blob(BUCKET, never)))

    def test_bytes_data_stores_while_a_dead_uploads_mark_stands_stay_the_repositorys(self):
        """The dead upload marked the bytes before they were stored; a /data
        upload stored them (created) after: its record keeps them."""
        data = b"marked by S3, stored by /data"
        oid = self.died_marking(data, stored=False)
        put = self.backend.put(repository(BUCKET), io.BytesIO(data))
        self.assertTrue(put.created)
        self.claims.relied_on(BUCKET, oid, put.created, in_bucket=True)
        self.assertEqual(self.claims.recover(), [])
        self.assertEqual(self.swept_after_the_grace(), 0)
        self.assertTrue(is_stored(self.backend, oid))

    def test_a_live_process_marks_are_left_alone(self):
        data = b"an upload under way in this process"
        oid = sha256(data)

        def meanwhile(oid: str) -> None:
            self.assertEqual(self.claims.recover(), [])  # this process lives: its marks are not looked at
            self.assertEqual(self.read_marks(), ["%s/%s" % (BUCKET, oid)])

        self.assertEqual(s3_put(self.claims, self.records, self.backend, data, "k", between=meanwhile), oid)
        self.assertEqual(self.read_marks(), [])  # tracked by the commit: cleared
        self.assertEqual(len(self.marks_files()), 1)
        self.claims.close()
        self.assertEqual(self.marks_files(), [])  # a stop with no mark left removes the file

    def test_an_upload_marks_only_bytes_not_stored_yet(self):
        """Bytes stored before (through /data) are the repository's: an
        upload that finds them never marks them, so no look after a death
        can take them."""
        data = b"stored through /data first"
        self.backend.put(repository(BUCKET), io.BytesIO(data))
        seen = []
        s3_put(self.claims, self.records, self.backend, data, "k", between=lambda oid: seen.extend(self.read_marks()))
        self.assertEqual(seen, [])

    def test_an_upload_that_stores_bytes_no_key_names_clears_its_mark_once_they_are_tracked(self):
        oid = s3_put(self.claims, self.records, self.backend, b"a write refused at the end", "k", name=False)
        self.assertEqual(self.read_marks(), [])
        self.assertFalse(self.records.get(blob(BUCKET, oid)).value["data"])

    def test_marks_of_bytes_an_upload_holds_again_are_judged_by_a_later_look(self):
        oid = self.died_marking(b"uploaded again while looked at")
        held = self.claims.pins.locks.try_hold(blob(BUCKET, oid), exclusive=False)
        self.assertEqual(self.claims.recover(), [])
        self.assertEqual(len(self.marks_files()), 1)  # kept for the next look
        held.release()
        self.assertEqual(self.claims.recover(), [(BUCKET, oid)])
        self.assertEqual(self.marks_files(), [])

    def test_an_upload_whose_mark_cannot_be_written_goes_on_unmarked(self):
        """A full disk refuses the mark: the upload is stored and named all
        the same (it failed with the disk's error before)."""
        full = OSError(errno.ENOSPC, "No space left on device")
        with mock.patch("filestoraged.catalog.upload_marks.os.pwrite", side_effect=full):
            with self.assertLogs("filestoraged.catalog.upload_marks", "WARNING"):
                oid = s3_put(self.claims, self.records, self.backend, b"marked on a full disk", "k")
        self.assertTrue(self.claims.named(BUCKET, oid, "k"))
        self.assertEqual(self.read_marks(), [])

    def read_marks(self):
        """The marks in this process's file, as written."""
        marks = []
        for name in self.marks_files():
            with open(os.path.join(self.run, name), "rb") as file:
                data = file.read()
            marks += [data[at:at + SLOT].rstrip(b"\0").decode() for at in range(0, len(data), SLOT)
                      if data[at:at + SLOT].strip(b"\0")]
        return marks


if __name__ == "__main__":
    unittest.main()
