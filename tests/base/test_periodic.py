"""The upkeep's rounds (``base.periodic``): a part a job needs being away
is said once, without a traceback, and once more when the job runs again;
a fault of ours is logged with its traceback each round."""

from __future__ import annotations

import threading
import unittest

from filestoraged.base.periodic import Periodic
from filestoraged.errors import BackendUnavailable

from ..support import wait_until


class OutageLogTests(unittest.TestCase):
    def run_rounds(self, outcomes) -> list:
        """A job run until ``outcomes`` (an exception to raise, or None) are
        used up, every 10 ms; the log records it made."""
        left = list(outcomes)
        done = threading.Event()

        def job() -> None:
            outcome = left.pop(0) if left else None
            if not left:
                done.set()
            if outcome is not None:
                raise outcome

        with self.assertLogs("filestoraged.base.periodic", "DEBUG") as logs:
            rounds = Periodic("the upkeep", 0.01, job, at_once=True).start()
            try:
                wait_until(done.is_set, "every round run")
            finally:
                rounds.close()
        return logs.records

    def test_a_part_away_for_many_rounds_is_said_once_and_its_return_once(self):
        away = BackendUnavailable("the records' database at 127.0.0.1:5432 does not answer")
        records = self.run_rounds([away] * 20 + [None, None])
        self.assertEqual([(record.levelname, record.exc_info is None) for record in records],
                         [("WARNING", True), ("WARNING", True)])
        self.assertIn("does not answer", records[0].getMessage())
        self.assertIn("runs again", records[1].getMessage())

    def test_a_fault_of_ours_keeps_its_traceback_every_round(self):
        records = self.run_rounds([KeyError("a bug")] * 3 + [None])
        self.assertEqual(len(records), 3)
        self.assertTrue(all(record.exc_info for record in records))


if __name__ == "__main__":
    unittest.main()
