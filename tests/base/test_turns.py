"""Turns (base/turns.py): the lock whole answers are sent under is handed on
in the order it was asked for, and a caller that fails still hands it on."""

from __future__ import annotations

import threading
import unittest

from filestoraged.base.turns import Turns

from ..support import wait_until

DEADLINE = 10


class TurnsTests(unittest.TestCase):
    def setUp(self) -> None:
        self.turns = Turns()
        self.order = []

    def queue_up(self, name: str, fail: bool = False) -> threading.Thread:
        """A thread that asks for a turn, once the ones before it are waiting."""
        def take() -> None:
            try:
                with self.turns:
                    self.order.append(name)
                    if fail:
                        raise RuntimeError("failed in its turn")
            except RuntimeError:
                pass

        waiting = self.turns.waiting()
        thread = threading.Thread(target=take, daemon=True)
        thread.start()
        wait_until(lambda: self.turns.waiting() == waiting + 1, "%s waits for its turn" % name, DEADLINE)
        return thread

    def test_turns_are_handed_on_in_the_order_they_were_asked_for(self):
        names = ["t%d" % n for n in range(8)]
        with self.turns:
            threads = [self.queue_up(name) for name in names]
            self.assertEqual(self.order, [])  # nobody enters while the turn is held
        for thread in threads:
            thread.join(DEADLINE)
            self.assertFalse(thread.is_alive())
        self.assertEqual(self.order, names)
        self.assertEqual(self.turns.waiting(), 0)

    def test_a_caller_that_fails_in_its_turn_hands_it_on(self):
        with self.turns:
            threads = [self.queue_up("first", fail=True), self.queue_up("second")]
        for thread in threads:
            thread.join(DEADLINE)
            self.assertFalse(thread.is_alive())
        self.assertEqual(self.order, ["first", "second"])
        entered = threading.Event()
        later = threading.Thread(target=lambda: (self.turns.__enter__(), entered.set(), self.turns.__exit__()))
        later.start()  # free again: taken at once, without waiting
        self.assertTrue(entered.wait(DEADLINE))
        later.join(DEADLINE)
        if later.is_alive():
            raise AssertionError("later did not end in time")


if __name__ == "__main__":
    unittest.main()
