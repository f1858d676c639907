"""Reused threads (base/threads.py ``Reused``, a connection's thread): a
call runs at once on a thread of its own, a thread whose call returned takes
the next one, and idle threads end after their time or at close."""

from __future__ import annotations

import os
import signal
import threading
import unittest

from filestoraged.base import threads
from filestoraged.base.threads import Reused, ahead

from ..support import wait_until

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


class AheadTests(unittest.TestCase):
    """``ahead`` on the shared reused threads."""

    def test_results_come_in_order_and_a_failure_where_its_result_would_be(self):
        def double(n: int) -> int:
            if n == 5:
                raise ValueError("five")
            return 2 * n

        got = []
        with self.assertRaises(ValueError):
            for result in ahead(double, range(8), workers=2, depth=3):
                got.append(result)
        self.assertEqual(got, [0, 2, 4, 6, 8])

    def test_closing_cancels_the_calls_not_started_and_waits_for_the_running_one(self):
        running, release, ran = threading.Event(), threading.Event(), []

        def slow(n: int) -> int:
            ran.append(n)
            if n == 1:
                running.set()
                release.wait(DEADLINE)
            return n

        results = ahead(slow, range(10), workers=1, depth=3)
        self.assertEqual(next(results), 0)
        self.assertTrue(running.wait(DEADLINE))
        closed = threading.Event()
        closer = threading.Thread(target=lambda: (results.close(), closed.set()))
        closer.start()
        self.assertFalse(closed.wait(0.2))  # call 1 still runs: close waits for it
        release.set()
        self.assertTrue(closed.wait(DEADLINE))
        self.assertEqual(ran, [0, 1])  # 2 and 3 were queued, never started

    def test_a_forked_child_gets_threads_of_its_own(self):
        self.assertEqual(list(ahead(lambda n: n + 1, range(4), workers=2)), [1, 2, 3, 4])
        wait_until(lambda: threads._AHEAD.idle() >= 2, "the parent's threads wait for calls", DEADLINE)
        pid = os.fork()
        if pid == 0:  # the child: a call handed to a thread of the parent would never run
            signal.alarm(DEADLINE)
            try:
                os._exit(0 if list(ahead(lambda n: n * 3, range(4), workers=2)) == [0, 3, 6, 9] else 1)
            finally:
                os._exit(2)
        status = {}

        def child_ended() -> bool:
            ended, code = os.waitpid(pid, os.WNOHANG)
            status["code"] = code
            return ended == pid

        wait_until(child_ended, "the child ends", DEADLINE + 5)
        self.assertEqual(os.waitstatus_to_exitcode(status["code"]), 0)


if __name__ == "__main__":
    unittest.main()
