"""Reading the header of SQLite's write-ahead log index (base/wal_index.py):
from where this process mapped it, opening no file; a header is given only
as SQLite finished writing it, else None (the caller then asks SQLite)."""

from __future__ import annotations

import mmap
import os
import shutil
import sqlite3
import struct
import sys
import tempfile
import unittest

from filestoraged.base.wal_index import WalIndexHeader


def header(change: int, version: int = 3007000, made: int = 1) -> bytes:
    """One copy as SQLite lays it out (native order): iVersion, unused,
    iChange, isInit, bigEndCksum, szPage, mxFrame, nPage, the frame and
    salt and header checksums."""
    order = "<" if sys.byteorder == "little" else ">"
    return struct.pack(order + "IIIBBHII6I", version, 0, change, made, 0, 4096, change, 2, 1, 2, 3, 4, 5, 6)


def open_files() -> int:
    return len(os.listdir("/proc/self/fd"))


@unittest.skipUnless(os.path.exists("/proc/self/maps"), "the index is found through /proc/self/maps")
class WalIndexHeaderTests(unittest.TestCase):
    def setUp(self) -> None:
        folder = tempfile.mkdtemp(prefix="fsd-wal-index-")
        self.addCleanup(shutil.rmtree, folder, True)
        self.database = os.path.join(folder, "meta.db")

    def mapped(self, *copies: bytes) -> WalIndexHeader:
        """An index of ``copies`` that this process maps (as SQLite would), read by a header reader."""
        with open(self.database + "-shm", "wb+") as handle:
            handle.write(b"".join(copies).ljust(32768, b"\0"))
            handle.flush()
            memory = mmap.mmap(handle.fileno(), 32768)
        self.addCleanup(memory.close)
        index = WalIndexHeader(self.database)
        self.addCleanup(index.close)
        return index

    def test_a_finished_header_is_read_whole(self):
        self.assertEqual(self.mapped(header(7), header(7)).read(), header(7))

    def test_copies_that_differ_are_a_write_under_way_and_read_as_none(self):
        self.assertIsNone(self.mapped(header(8), header(7)).read())

    def test_a_header_of_another_layout_or_not_yet_made_reads_as_none(self):
        self.assertIsNone(self.mapped(header(7, version=3007001), header(7, version=3007001)).read())
        self.assertIsNone(self.mapped(header(7, made=0), header(7, made=0)).read())

    def test_an_index_this_process_does_not_map_reads_as_none(self):
        with open(self.database + "-shm", "wb") as handle:
            handle.write((header(7) * 2).ljust(32768, b"\0"))
        index = WalIndexHeader(self.database)
        self.assertIsNone(index.read())
        index.close()
        self.assertIsNone(WalIndexHeader(os.path.join(self.database, "none.db")).read())

    def test_a_closed_reader_reads_nothing(self):
        index = self.mapped(header(7), header(7))
        index.close()
        self.assertIsNone(index.read())

    def test_sqlites_own_index_is_read_opening_no_file_and_moves_with_each_commit(self):
        """No file of its own: closing any descriptor of the index would let
        go of SQLite's locks on it (POSIX record locks are the process's)."""
        db = sqlite3.connect(self.database, isolation_level=None)
        self.addCleanup(db.close)
        db.execute("PRAGMA journal_mode=WAL")
        db.execute("CREATE TABLE t (x)")
        files = open_files()
        index = WalIndexHeader(self.database)
        before = index.read()
        self.assertEqual(open_files(), files)
        self.assertIsNotNone(before)
        db.execute("INSERT INTO t VALUES (1)")
        self.assertNotIn(index.read(), (None, before))
        index.close()
        self.assertEqual(open_files(), files)


if __name__ == "__main__":
    unittest.main()
