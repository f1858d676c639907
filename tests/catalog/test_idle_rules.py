"""The rule over a blob record by which the sweep takes idle bytes
(``catalog.idle_rules``), as a table: every state of the record, held or
not, before and after the grace and a removal's staleness."""

from __future__ import annotations

import unittest

from filestoraged.catalog.idle_rules import CLAIM, FINISH, LATER, NOTHING, STALE_REMOVAL, Verdict, judged
from filestoraged.catalog.pins import GRACE

NOW = 1_000_000.0


class IdleRuleTests(unittest.TestCase):
    def test_the_table(self):
        rows = [
            # record, held, verdict
            (None, False, Verdict(NOTHING)),
            ({"data": False}, False, Verdict(NOTHING)),  # tracked, never idle
            ({"idle": NOW - 10}, True, Verdict(NOTHING)),  # named, pinned or the repository's again
            ({"idle": NOW - 10}, False, Verdict(LATER, NOW - 10 + GRACE)),
            ({"idle": NOW - GRACE}, False, Verdict(CLAIM)),
            ({"idle": NOW - GRACE - 5}, True, Verdict(NOTHING)),
            ({"idle": NOW - GRACE, "removing": NOW - 5}, False, Verdict(LATER, NOW - 5 + STALE_REMOVAL)),
            ({"removing": NOW - 5, "by": "delete"}, True, Verdict(LATER, NOW - 5 + STALE_REMOVAL)),
            ({"removing": NOW - STALE_REMOVAL}, False, Verdict(FINISH)),  # died midway: finished
            ({"removing": NOW - STALE_REMOVAL - 1, "idle": None}, True, Verdict(FINISH)),
            # Pins written in the record (records several daemons share):
            ({"pins": {"p": NOW - 10}}, False, Verdict(LATER, NOW - 10 + GRACE)),  # an upload under way
            ({"pins": {"p": NOW - GRACE - 1, "q": NOW - 5}}, True, Verdict(LATER, NOW - 5 + GRACE)),
            ({"pins": {"p": NOW - GRACE}}, False, Verdict(CLAIM)),  # its upload died: nothing holds them
            ({"pins": {"p": NOW - GRACE}}, True, Verdict(NOTHING)),  # named since, or the repository's
            ({"pins": {}}, False, Verdict(NOTHING)),  # let go of by its end: not idle
        ]
        for value, held, expected in rows:
            with self.subTest(value=value, held=held):
                self.assertEqual(judged(value, NOW, lambda held=held: held), expected)

    def test_whether_held_is_asked_only_of_idle_bytes_not_under_removal(self):
        asked = []

        def held() -> bool:
            asked.append(True)
            return False

        for value in (None, {"data": True}, {"removing": NOW}, {"removing": NOW - STALE_REMOVAL}):
            judged(value, NOW, held)
        self.assertEqual(asked, [])
        judged({"idle": NOW}, NOW, held)
        self.assertEqual(asked, [True])


if __name__ == "__main__":
    unittest.main()
