"""Shared revalidation reads (base/fresh_reads.py): a caller never gets an
answer from a read sent before it asked, and callers waiting together share
one read."""

from __future__ import annotations

import threading
import time
import unittest

from filestoraged.base.fresh_reads import FreshReads

from ..support import wait_until

DEADLINE = 10


class GatedRead:
    """A read whose calls each wait for a gate the test opens; it answers the
    number of the call (1, 2, ...), or raises when told to."""

    def __init__(self) -> None:
        self.calls = 0
        self.gates = [threading.Event() for _ in range(10)]
        self.fail = set()

    def __call__(self, key: str) -> int:
        self.calls += 1
        number = self.calls
        assert self.gates[number - 1].wait(DEADLINE), "gate %d never opened" % number
        if number in self.fail:
            raise RuntimeError("read %d failed" % number)
        return number


class FreshReadsTests(unittest.TestCase):
    def setUp(self) -> None:
        self.read = GatedRead()
        self.reads = FreshReads(self.read)
        self.answers = {}
        self.threads = []

    def ask(self, name: str) -> None:
        def run() -> None:
            try:
                self.answers[name] = self.reads.get("key")
            except RuntimeError as error:
                self.answers[name] = str(error)
        thread = threading.Thread(target=run)
        thread.start()
        self.threads.append(thread)

    def callers(self) -> int:
        """Callers under way: the one whose read is in flight, and those waiting."""
        return ("key" in self.reads._flights) + self.reads.waiting("key")

    def finish(self) -> None:
        for thread in self.threads:
            thread.join(DEADLINE)
            self.assertFalse(thread.is_alive())
        self.assertEqual(self.reads._flights, {})  # nothing kept once everyone has its answer

    def test_a_caller_arriving_during_a_read_gets_the_next_one(self):
        self.ask("first")
        wait_until(lambda: self.read.calls == 1, "the first read is sent", DEADLINE)
        self.ask("second")
        wait_until(lambda: self.callers() == 2, "the second caller waits", DEADLINE)
        self.read.gates[0].set()
        wait_until(lambda: self.read.calls == 2, "a second read is sent", DEADLINE)
        self.read.gates[1].set()
        self.finish()
        self.assertEqual(self.answers, {"first": 1, "second": 2})

    def test_callers_waiting_together_share_one_read(self):
        self.ask("first")
        wait_until(lambda: self.read.calls == 1, "the first read is sent", DEADLINE)
        for number in range(8):
            self.ask("waiting %d" % number)
        wait_until(lambda: self.callers() == 9, "eight callers wait", DEADLINE)
        self.read.gates[0].set()
        self.read.gates[1].set()
        self.finish()
        self.assertEqual(self.read.calls, 2)
        self.assertEqual(self.answers, {"first": 1, **{"waiting %d" % n: 2 for n in range(8)}})

    def test_a_failed_read_fails_its_sender_and_a_waiter_sends_again(self):
        self.read.fail.add(1)
        self.ask("first")
        wait_until(lambda: self.read.calls == 1, "the first read is sent", DEADLINE)
        self.ask("second")
        wait_until(lambda: self.callers() == 2, "the second caller waits", DEADLINE)
        self.read.gates[0].set()
        self.read.gates[1].set()
        self.finish()
        self.assertEqual(self.answers, {"first": "read 1 failed", "second": 2})

    def test_one_caller_alone_reads_each_time(self):
        self.read.gates[0].set()
        self.read.gates[1].set()
        self.assertEqual((self.reads.get("key"), self.reads.get("key")), (1, 2))
        self.assertEqual(self.reads._flights, {})


class FreshReadsStressTests(unittest.TestCase):
    def test_under_load_every_answer_comes_from_a_read_started_after_the_call(self):
        lock = threading.Lock()
        started = [0]
        failures = []

        def read(key: str) -> int:
            with lock:
                started[0] += 1
                number = started[0]
            time.sleep(0.0002)  # a round trip's latency, so that callers overlap (nothing waits on it)
            if number % 7 == 0:
                raise RuntimeError("a failed read")  # reaches its sender only
            return number

        reads = FreshReads(read)

        def caller() -> None:
            for _ in range(300):
                with lock:
                    before = started[0]
                try:
                    answer = reads.get("key")
                except RuntimeError:
                    continue
                if answer <= before:
                    failures.append((before, answer))

        threads = [threading.Thread(target=caller) for _ in range(8)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(DEADLINE)
            self.assertFalse(thread.is_alive())
        self.assertEqual(failures, [])
        self.assertEqual(reads._flights, {})


if __name__ == "__main__":
    unittest.main()
