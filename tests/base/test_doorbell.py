"""The doorbell one process of a machine waits by and any other rings
(``base.doorbell``), and what it is for: an idle daemon's sender of the
outbox sleeps until a commit rings, instead of looking fifty times a
second whether one wrote to it."""

from __future__ import annotations

import errno
import os
import shutil
import stat
import subprocess
import sys
import tempfile
import threading
import time
import unittest
from unittest import mock

from filestoraged.app import App
from filestoraged.base.doorbell import Doorbell
from filestoraged.base.periodic import Periodic
from filestoraged.config import Config

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def ring_from_another_process(path: str) -> None:
    subprocess.run([sys.executable, "-c", "import sys; from filestoraged.base.doorbell import Doorbell; "
                    "bell = Doorbell(sys.argv[1]); bell.ring(); bell.close()", path],
                   cwd=ROOT, check=True, timeout=60)


class DoorbellTests(unittest.TestCase):
    def setUp(self) -> None:
        folder = tempfile.mkdtemp(prefix="fsd-test-")
        self.addCleanup(shutil.rmtree, folder, True)
        self.path = os.path.join(folder, "meta.db.outbox.bell")

    def bell(self) -> Doorbell:
        bell = Doorbell(self.path)
        self.addCleanup(bell.close)
        return bell

    def test_a_ring_from_another_process_wakes_the_waiter(self):
        waiter = self.bell().listen()
        self.assertFalse(waiter.wait(0.01))
        ring_from_another_process(self.path)
        self.assertTrue(waiter.wait(30))

    def test_many_rings_wake_the_waiter_once_and_a_later_one_again(self):
        waiter, ringer = self.bell().listen(), self.bell()
        for _ in range(5):
            ringer.ring()
        self.assertTrue(waiter.wait(30))
        self.assertFalse(waiter.wait(0.01))  # every ring was taken by that wake
        ringer.ring()
        self.assertTrue(waiter.wait(30))

    def test_a_ring_with_nobody_listening_is_dropped_without_a_word(self):
        self.bell().ring()  # no name written
        gone = self.bell().listen()
        gone.close()
        self.assertFalse(os.path.exists(self.path))
        with open(self.path, "wb") as handle:  # a name nobody binds any more
            handle.write(b"filestoraged-bell-0123")
        self.bell().ring()

    def test_a_ringer_that_knew_an_older_waiter_rings_the_new_one(self):
        ringer = self.bell()
        old = Doorbell(self.path).listen()
        ringer.ring()
        self.assertTrue(old.wait(30))
        old.close()
        new = self.bell().listen()
        ringer.ring()  # its name for the waiter is the old one's: refused, read again
        self.assertTrue(new.wait(30))

    def test_the_name_is_readable_by_the_owner_alone_and_left_to_a_newer_waiter(self):
        first = self.bell().listen()
        self.assertEqual(stat.S_IMODE(os.stat(self.path).st_mode), 0o600)
        second = self.bell().listen()
        first.close()  # the name is the second's now: it stays
        self.bell().ring()
        self.assertTrue(second.wait(30))

    def test_a_periodic_job_runs_when_rung_before_its_interval_ends_and_stops_at_once(self):
        ran = threading.Event()
        periodic = Periodic("test", 3600, ran.set, bell=self.bell().listen(), least=0.01).start()
        ring_from_another_process(self.path)
        self.assertTrue(ran.wait(30))
        started = time.monotonic()
        periodic.close()
        self.assertLess(time.monotonic() - started, 30)


def woken(native_id: int) -> int:
    """How many times a thread of this process went to sleep and was woken."""
    with open("/proc/self/task/%d/status" % native_id) as handle:
        for line in handle:
            if line.startswith("voluntary_ctxt_switches:"):
                return int(line.split()[1])
    raise AssertionError("no count of switches for thread %d" % native_id)


class IdleSenderTests(unittest.TestCase):
    def test_at_rest_the_sender_of_the_outbox_sleeps(self):
        folder = tempfile.mkdtemp(prefix="fsd-test-")
        self.addCleanup(shutil.rmtree, folder, True)
        app = App(Config(data_dir=folder))
        self.addCleanup(app.close)
        thread = app.replication._thread
        before = woken(thread.native_id)
        threading.Event().wait(1.0)  # a second at rest (the window counted, not a wait for something)
        # It looks at the outbox once a second; it looked fifty times a second.
        self.assertLessEqual(woken(thread.native_id) - before, 5)

    def test_a_daemon_whose_sender_cannot_listen_starts_and_says_so(self):
        folder = tempfile.mkdtemp(prefix="fsd-test-")
        self.addCleanup(shutil.rmtree, folder, True)
        refused = OSError(errno.EAFNOSUPPORT, "Address family not supported by protocol")
        with mock.patch.object(Doorbell, "listen", side_effect=refused), \
                self.assertLogs("filestoraged.app", "WARNING") as said:
            app = App(Config(data_dir=folder))
        self.addCleanup(app.close)
        self.assertIn("the outbox's sender cannot be rung by commits", said.output[0])
        self.assertIn("it looks every 1 s", said.output[0])


if __name__ == "__main__":
    unittest.main()
