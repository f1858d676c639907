"""Reused threads (base/threads.py ``Reused``, a connection's thread): a
call runs at once on a thread of its own, a thread whose call returned takes
the next one, and idle threads end after their time or at close."""

from __future__ import annotations

import threading
import unittest

from filestoraged.base.threads import Reused

from .support import wait_until

DEADLINE = 10


class ReusedTests(unittest.TestCase):
    def setUp(self) -> None:
        self.threads = Reused(idle=DEADLINE, name="test-reused")
        self.addCleanup(self.threads.close)

    def call(self, release: threading.Event) -> dict:
        """Run a call that records its thread and waits for ``release``."""
        seen = {"done": threading.Event()}

        def work() -> None:
            seen["thread"] = threading.current_thread()
            release.wait(DEADLINE)
            seen["done"].set()

        self.threads.run(work)
        return seen

    def test_a_thread_whose_call_returned_takes_the_next_call(self):
        go = threading.Event()
        go.set()
        first = self.call(go)
        self.assertTrue(first["done"].wait(DEADLINE))
        wait_until(lambda: self.threads.idle() == 1, "the thread waits for a call", DEADLINE)
        second = self.call(go)
        self.assertTrue(second["done"].wait(DEADLINE))
        self.assertIs(second["thread"], first["thread"])

    def test_calls_at_once_run_at_once_on_threads_of_their_own(self):
        release = threading.Event()
        calls = [self.call(release) for _ in range(4)]
        wait_until(lambda: all("thread" in seen for seen in calls), "every call runs", DEADLINE)
        self.assertEqual(len({id(seen["thread"]) for seen in calls}), 4)
        release.set()
        for seen in calls:
            self.assertTrue(seen["done"].wait(DEADLINE))

    def test_an_idle_thread_ends_after_its_time_and_at_close(self):
        quick = Reused(idle=0.05, name="test-quick")
        go = threading.Event()
        go.set()
        seen = {}
        quick.run(lambda: seen.setdefault("thread", threading.current_thread()))
        wait_until(lambda: "thread" in seen, "the call runs", DEADLINE)
        seen["thread"].join(DEADLINE)  # no call came within 0.05 s
        self.assertFalse(seen["thread"].is_alive())
        self.assertEqual(quick.idle(), 0)
        first = self.call(go)
        self.assertTrue(first["done"].wait(DEADLINE))
        wait_until(lambda: self.threads.idle() == 1, "the thread waits for a call", DEADLINE)
        self.threads.close()
        first["thread"].join(DEADLINE)
        self.assertFalse(first["thread"].is_alive())


if __name__ == "__main__":
    unittest.main()
