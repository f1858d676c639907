"""Run the whole suite and end with one plain line: ``N passed, N failed, N skipped``
(after the ``SLOWEST`` test classes and their seconds, which keep CI's run
under its time, and a line naming each skipped test and why).

``python -m tests.run [test names...]``; exit status 1 if anything failed.
A test still running after ``TEST_DEADLINE`` seconds (``FILESTORAGED_TEST_DEADLINE``)
stops the run: every thread's traceback is printed and the exit status is 1,
so a hung test fails CI at once instead of holding it to its time limit.
"""

from __future__ import annotations

import faulthandler
import logging
import os
import sys
import time
import unittest
from collections import Counter

TEST_DEADLINE = float(os.environ.get("FILESTORAGED_TEST_DEADLINE", "300"))
SLOWEST = 10  # test classes named with the seconds they took


class WatchedResult(unittest.TextTestResult):
    """A result that arms a watchdog for each test (see the module docstring)
    and counts the seconds each test class takes: from the end of the test
    before to the end of each of its own (its class set-up included)."""

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.spent: Counter = Counter()
        self._last = time.monotonic()

    def startTest(self, test) -> None:
        faulthandler.dump_traceback_later(TEST_DEADLINE, exit=True)
        super().startTest(test)

    def stopTest(self, test) -> None:
        super().stopTest(test)
        faulthandler.cancel_dump_traceback_later()
        now = time.monotonic()
        self.spent["%s.%s" % (type(test).__module__, type(test).__name__)] += now - self._last
        self._last = now


def main(argv) -> int:
    # Daemons the tests start must not think they run under systemd (a CI
    # job may): the tests that want journald's prefixes set these themselves.
    for name in ("JOURNAL_STREAM", "INVOCATION_ID", "NOTIFY_SOCKET", "LISTEN_FDS", "LISTEN_PID", "WATCHDOG_USEC"):
        os.environ.pop(name, None)
    # Test output stays readable: the daemon's logs go nowhere unless a test
    # captures them with assertLogs.
    logging.getLogger().handlers[:] = [logging.NullHandler()]
    logging.getLogger().setLevel(logging.WARNING)
    loader = unittest.defaultTestLoader
    if argv:
        suite = loader.loadTestsFromNames(argv)
    else:
        suite = loader.discover("tests", top_level_dir=".")
    result = unittest.TextTestRunner(verbosity=1, stream=sys.stdout, resultclass=WatchedResult).run(suite)
    # A test with failing subtests is listed once per subtest: count tests.
    failed = len({id(test) if not hasattr(test, "test_case") else id(test.test_case)
                  for test, _ in result.failures + result.errors}) + len(result.unexpectedSuccesses)
    passed = result.testsRun - failed - len(result.skipped)
    print("the slowest test classes: " + ", ".join("%s %.0f s" % (name, seconds)
                                                  for name, seconds in result.spent.most_common(SLOWEST)))
    for test, reason in result.skipped:
        print("skipped: %s: %s" % (test.id(), reason))
    print("%d passed, %d failed, %d skipped" % (passed, failed, len(result.skipped)))
    return 1 if failed or not result.testsRun else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
