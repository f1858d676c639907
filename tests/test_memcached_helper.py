"""The tests' own memcached helper: listing the keys a memcached holds
must not fail while memcached's crawler is busy with a crawl of its own
(seen once in a full run: a cache test failed on its key listing)."""

from __future__ import annotations

import socket
import unittest

from .memcached_server import live_keys
from .support import Threads

DUMP = (b"key=cache/default/ab%2Fcd exp=-1 la=1 cas=2 fetch=no cls=1 size=70\n"
        b"key=plain exp=-1 la=1 cas=3 fetch=no cls=1 size=60\nEND\r\n")


class LiveKeysTests(unittest.TestCase):
    def test_a_busy_crawler_is_asked_again(self):
        """A stand-in memcached that is busy at the first ask and dumps at the second."""
        listener = socket.create_server(("127.0.0.1", 0))
        self.addCleanup(listener.close)
        listener.settimeout(20)
        asked = []

        def serve() -> None:
            for answer in (b"BUSY currently processing crawler request\r\n", DUMP):
                connection, _ = listener.accept()
                with connection:
                    asked.append(connection.recv(100))
                    connection.sendall(answer)
                    connection.recv(100)  # until the client closes

        with Threads(deadline=30) as threads:
            threads.start(serve)
            self.assertEqual(live_keys(listener.getsockname()[1], timeout=20), ["cache/default/ab/cd", "plain"])
        self.assertEqual(asked, [b"lru_crawler metadump all\r\n"] * 2)


if __name__ == "__main__":
    unittest.main()
