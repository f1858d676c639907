"""Run the whole suite and end with one plain line: ``N passed, N failed, N skipped``
(after the ``SLOWEST`` test classes and their seconds, which keep CI's run
under its time, and a line naming each skipped test and why).

``python -m tests.run [names...]`` (packages, modules, classes or tests);
exit status 1 if anything failed.

The test classes are shared among ``JOBS`` processes (``FSD_TEST_JOBS``;
1 runs everything in this process): most of a test's time is spent waiting
on the servers it starts, so several classes at once use the machine. A
process takes the next class when it is done with one; each draws the
ports of the servers it starts from its own range (``support.free_port``),
and starts its own shared servers (SeaweedFS, PostgreSQL).

A class that measures time against a quiet machine (``RUNS_ALONE = True``:
what a worker does within a fraction of a second) runs once the others are
done, by itself.

A test still running after ``TEST_DEADLINE`` seconds (``FSD_TEST_DEADLINE``)
stops its process: every thread's traceback is printed and the run fails,
so a hung test fails CI at once instead of holding it to its time limit.
"""

from __future__ import annotations

import faulthandler
import io
import json
import logging
import os
import selectors
import subprocess
import sys
import time
import unittest
import warnings
from collections import Counter, OrderedDict, deque
from typing import Dict, List, Optional, Tuple

TEST_DEADLINE = float(os.environ.get("FSD_TEST_DEADLINE", "300"))
JOBS = int(os.environ.get("FSD_TEST_JOBS", "4"))
SLOWEST = 10  # test classes named with the seconds they took
PORTS = (20000, 32000)  # where free_port draws, split among the processes
_ORDERS_FD, _REPORT_FD = "FSD_TEST_ORDERS_FD", "FSD_TEST_REPORT_FD"


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

    def failed_ids(self) -> List[str]:
        """Each test that failed once (a test with failing subtests is listed once per subtest)."""
        return list(OrderedDict.fromkeys(getattr(test, "test_case", test).id()
                                         for test, _ in self.failures + self.errors + [
                                             (test, None) for test in self.unexpectedSuccesses]))


class Tally:
    """What every process's results add up to."""

    def __init__(self) -> None:
        self.run = 0
        self.failed: List[str] = []
        self.skipped: List[List[str]] = []
        self.spent: Counter = Counter()

    def add(self, report: dict) -> None:
        self.run += report["run"]
        self.failed += report["failed"]
        self.skipped += report["skipped"]
        self.spent.update(report["spent"])

    def finish(self) -> int:
        passed = self.run - len(self.failed) - len(self.skipped)
        print("the slowest test classes: " + ", ".join("%s %.0f s" % (name, seconds)
                                                      for name, seconds in self.spent.most_common(SLOWEST)))
        for test, reason in self.skipped:
            print("skipped: %s: %s" % (test, reason))
        print("%d passed, %d failed, %d skipped" % (passed, len(self.failed), len(self.skipped)))
        return 1 if self.failed or not self.run else 0


def run_here(suite: unittest.TestSuite, stream) -> dict:
    """``suite`` run in this process, its dots and then its failures written to ``stream``."""
    result = WatchedResult(unittest.runner._WritelnDecorator(stream), True, 1)
    with warnings.catch_warnings():
        warnings.simplefilter("default")  # as unittest's own runner shows them
        suite(result)
    if result.failures or result.errors:
        result.printErrors()
    return {"run": result.testsRun, "failed": result.failed_ids(),
            "skipped": [[test.id(), reason] for test, reason in result.skipped], "spent": dict(result.spent)}


def classes_of(suite) -> "Tuple[OrderedDict[str, List[str]], OrderedDict[str, List[str]], unittest.TestSuite]":
    """The ids of ``suite``'s tests by class, in the order found: those
    that may run beside others, and those that run alone; and the tests
    that stand for a module that failed to load (they fail at once, with
    its import error: run here)."""
    found: "OrderedDict[str, List[str]]" = OrderedDict()
    alone: "OrderedDict[str, List[str]]" = OrderedDict()
    unloaded = unittest.TestSuite()
    pending = [suite]
    while pending:
        item = pending.pop(0)
        if isinstance(item, unittest.TestSuite):
            pending[:0] = list(item)
        elif type(item).__module__.startswith("unittest"):
            unloaded.addTest(item)
        else:
            into = alone if getattr(type(item), "RUNS_ALONE", False) else found
            into.setdefault("%s.%s" % (type(item).__module__, type(item).__name__), []).append(item.id())
    return found, alone, unloaded


class Worker:
    """One process running the classes it is handed, one at a time."""

    def __init__(self, slot: int, jobs: int) -> None:
        orders_read, self._orders = os.pipe()
        self._report, report_write = os.pipe()
        width = (PORTS[1] - PORTS[0]) // jobs
        env = dict(os.environ, **{_ORDERS_FD: str(orders_read), _REPORT_FD: str(report_write),
                                  "FSD_TEST_PORTS": "%d-%d" % (PORTS[0] + slot * width,
                                                                        PORTS[0] + (slot + 1) * width - 1)})
        self.process = subprocess.Popen([sys.executable, "-m", "tests.run"], env=env, stdin=subprocess.DEVNULL,
                                        pass_fds=(orders_read, report_write))
        os.close(orders_read)
        os.close(report_write)
        self.reports = os.fdopen(self._report, "rb")
        self.doing: Optional[str] = None

    def give(self, name: str, ids: List[str]) -> None:
        self.doing = name
        os.write(self._orders, json.dumps(ids).encode() + b"\n")

    def done(self) -> None:
        """No more work: it ends once its class is done."""
        if self._orders >= 0:
            os.close(self._orders)
            self._orders = -1


def run_shared(work: "OrderedDict[str, List[str]]", jobs: int, tally: Tally) -> None:
    """Each class of ``work`` run by one of ``jobs`` processes."""
    queue = deque(work.items())
    selector = selectors.DefaultSelector()
    workers: Dict[int, Worker] = {}
    for slot in range(min(jobs, len(queue))):
        worker = Worker(slot, jobs)
        workers[slot] = worker
        selector.register(worker.reports, selectors.EVENT_READ, slot)
        worker.give(*queue.popleft())
    while workers:
        for key, _ in selector.select():
            slot, worker = key.data, workers[key.data]
            line = worker.reports.readline()
            if line:
                report = json.loads(line)
                sys.stdout.write(report.pop("output"))
                sys.stdout.flush()
                tally.add(report)
                worker.doing = None
                if queue:
                    worker.give(*queue.popleft())
                else:
                    worker.done()
                continue
            # Its reports ended: it finished, or it died (a test past its deadline) mid-class.
            selector.unregister(worker.reports)
            worker.reports.close()
            worker.done()
            code = worker.process.wait()
            del workers[slot]
            if worker.doing is not None:
                print("\nthe process running %s ended (exit status %d) before it was done" % (worker.doing, code))
                tally.add({"run": len(work[worker.doing]), "failed": [worker.doing], "skipped": [], "spent": {}})
                if queue:  # the rest go on in a new process in its place
                    workers[slot] = Worker(slot, jobs)
                    selector.register(workers[slot].reports, selectors.EVENT_READ, slot)
                    workers[slot].give(*queue.popleft())


def serve_orders() -> int:
    """In a process of ``run_shared``: run each list of test ids it is given
    and report on it, until there are no more."""
    loader = unittest.defaultTestLoader
    with os.fdopen(int(os.environ[_ORDERS_FD]), "rb") as orders, \
            os.fdopen(int(os.environ[_REPORT_FD]), "wb", buffering=0) as reports:
        for line in orders:
            stream = io.StringIO()
            report = run_here(loader.loadTestsFromNames(json.loads(line)), stream)
            report["output"] = stream.getvalue()
            reports.write(json.dumps(report).encode() + b"\n")
    return 0


def prepare() -> None:
    # Daemons the tests start must not think they run under systemd (a CI
    # job may): the tests that want journald's prefixes set these themselves.
    for name in ("JOURNAL_STREAM", "INVOCATION_ID", "NOTIFY_SOCKET", "LISTEN_FDS", "LISTEN_PID", "WATCHDOG_USEC"):
        os.environ.pop(name, None)
    # Test output stays readable: the daemon's logs go nowhere unless a test
    # captures them with assertLogs.
    logging.getLogger().handlers[:] = [logging.NullHandler()]
    logging.getLogger().setLevel(logging.WARNING)


def _load(name: str) -> unittest.TestSuite:
    """The tests ``name`` names: a package's, found as the whole suite is; a module's, a class's or a test's."""
    folder = name.replace(".", os.sep)
    if os.path.isfile(os.path.join(folder, "__init__.py")):
        return unittest.defaultTestLoader.discover(folder, top_level_dir=".")
    return unittest.defaultTestLoader.loadTestsFromName(name)


def main(argv) -> int:
    prepare()
    if _ORDERS_FD in os.environ:
        return serve_orders()
    loader = unittest.defaultTestLoader
    suite = unittest.TestSuite(_load(name) for name in argv) if argv else loader.discover("tests", top_level_dir=".")
    work, alone, unloaded = classes_of(suite)
    tally = Tally()
    started = time.monotonic()
    if unloaded.countTestCases():
        tally.add(run_here(unloaded, sys.stdout))
    if JOBS > 1 and len(work) > 1:
        run_shared(work, JOBS, tally)
        work = OrderedDict()
    work.update(alone)
    if work:
        tally.add(run_here(loader.loadTestsFromNames([test for ids in work.values() for test in ids]), sys.stdout))
    print("\nran %d tests in %.0f s (%d processes)" % (tally.run, time.monotonic() - started, JOBS))
    return tally.finish()


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
