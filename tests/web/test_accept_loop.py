"""The accept loop: it waits in the listening socket's own ``accept`` (with
its poll interval as the timeout), and ``shutdown`` ends it whenever it is
called."""

from __future__ import annotations

import shutil
import socket
import tempfile
import threading
import time
import unittest

from filestoraged.app import App
from filestoraged.config import Config
from filestoraged.web.server import FileStoreServer

from ..support import ServerCase, Threads, wait_until

DEADLINE = 10.0


class AcceptLoopTests(ServerCase):
    def test_connections_are_served_after_the_wait_ran_out_many_times(self) -> None:
        # (The loop's poll interval is 0.05 s here: ServerCase.) The tick
        # runs after each accept and each wait that ran out.
        ticks = []
        self.server.tick = lambda: ticks.append(time.monotonic())
        self.assertEqual(self.request("GET", "/healthz").status, 200)
        wait_until(lambda: len(ticks) >= 5, "the accept loop's wait running out", DEADLINE)
        silent = socket.create_connection(("127.0.0.1", self.port), timeout=DEADLINE)
        silent.close()  # a client that connects and leaves without a byte
        for _ in range(3):
            self.assertEqual(self.request("GET", "/healthz").status, 200)

    def test_connections_at_once_are_all_served(self) -> None:
        with Threads(DEADLINE) as threads:
            for _ in range(16):
                threads.start(lambda: self.request("GET", "/healthz").status)
        self.assertEqual(threads.results, [200] * 16)


class StopBeforeStartTests(unittest.TestCase):
    def test_a_server_stopped_before_its_loop_began_does_not_wait_for_it(self) -> None:
        data_dir = tempfile.mkdtemp(prefix="fsd-test-")
        self.addCleanup(shutil.rmtree, data_dir, True)
        app = App(Config(port=0, data_dir=data_dir))
        self.addCleanup(app.close)
        server = FileStoreServer(app)
        self.addCleanup(server.server_close)
        stopped = threading.Thread(target=server.shutdown, daemon=True)
        stopped.start()
        stopped.join(DEADLINE)
        self.assertFalse(stopped.is_alive(), "shutdown() waited for a loop that never ran")
        # A loop started after the stop was asked for ends at once.
        loop = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
        began = time.monotonic()
        loop.start()
        loop.join(DEADLINE)
        self.assertFalse(loop.is_alive())
        self.assertLess(time.monotonic() - began, DEADLINE)


if __name__ == "__main__":
    unittest.main()
