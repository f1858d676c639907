"""The tests' own reader of ``meta.db`` at rest (``support.database_bytes``)
leaves the SQLite locks of the process it runs in as they were: a file of
the database opened and closed in the process that serves it lets go of
every POSIX lock SQLite holds on that file there, and the next process to
open the database then takes its log's index for unused and starts it
again under the server's feet (a test process died of SIGBUS so)."""

from __future__ import annotations

import os
import unittest

from .support import clocked_records, database_bytes


def locks_held_on(path: str) -> int:
    """The POSIX locks this process holds on the file at ``path``."""
    inode = os.stat(path).st_ino
    with open("/proc/locks") as locks:
        return sum(1 for line in locks if ":%d " % inode in line and " %d " % os.getpid() in line)


class DatabaseBytesTests(unittest.TestCase):
    def test_reading_the_database_at_rest_keeps_sqlites_locks(self):
        records, _, folder = clocked_records(self)
        records.create("kept", {"value": "at rest"})
        self.assertIsNotNone(records.get("kept"))  # a read: SQLite maps the log's index and locks it
        shm = os.path.join(folder, "meta.db-shm")
        held = locks_held_on(shm)
        self.assertGreater(held, 0)
        self.assertIn(b"at rest", database_bytes(folder))
        self.assertEqual(locks_held_on(shm), held)


if __name__ == "__main__":
    unittest.main()
