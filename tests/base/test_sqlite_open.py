"""Opening one SQLite file from several processes at once (base/sqlite.py):
worker processes open the memcached index and meta.db together at start-up,
and a worker that fails to open one stops the daemon."""

from __future__ import annotations

import multiprocessing
import os
import shutil
import tempfile
import unittest

TRIALS = 20
PROCESSES = 4
SCHEMA = "CREATE TABLE IF NOT EXISTS objects (name TEXT PRIMARY KEY, size INTEGER)"


def open_each(folder: str, barrier, failures) -> None:
    """In a process of its own: open every trial's new file at the same moment as the others."""
    from filestoraged.base.sqlite import DatabaseStore

    for trial in range(TRIALS):
        barrier.wait(30)
        try:
            DatabaseStore(os.path.join(folder, "%d.db" % trial), SCHEMA).close()
        except Exception as error:  # noqa: BLE001 - reported to the test
            failures.put(repr(error))


class ConcurrentOpenTests(unittest.TestCase):
    def test_processes_opening_a_new_file_together_all_succeed(self):
        folder = tempfile.mkdtemp(prefix="fsd-sqlite-")
        self.addCleanup(shutil.rmtree, folder, True)
        context = multiprocessing.get_context("spawn")
        barrier, failures = context.Barrier(PROCESSES), context.Queue()
        processes = [context.Process(target=open_each, args=(folder, barrier, failures)) for _ in range(PROCESSES)]
        for process in processes:
            process.start()
        for process in processes:
            process.join(60)
            self.assertEqual(process.exitcode, 0)
        seen = []
        while not failures.empty():
            seen.append(failures.get(timeout=5))
        self.assertEqual(seen, [])


if __name__ == "__main__":
    unittest.main()
