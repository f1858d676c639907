"""The tests' own port helper: ports drawn one after another are never the
same, bound or not yet (a cluster's daemons and their S3 ports, drawn
together, could get one number twice, and a daemon stop at its start)."""

from __future__ import annotations

import socket
import unittest
from typing import List
from unittest import mock

from . import support


def free_elsewhere(count: int) -> List[int]:
    """``count`` different ports the kernel finds free (from its ephemeral range)."""
    socks = [socket.socket() for _ in range(count)]
    try:
        for sock in socks:
            sock.bind(("127.0.0.1", 0))
        return [sock.getsockname()[1] for sock in socks]
    finally:
        for sock in socks:
            sock.close()


class FreePortTests(unittest.TestCase):
    def test_a_port_given_is_not_given_again_before_it_is_bound(self):
        first, other = free_elsewhere(2)  # (never given by the helper: outside its range)
        with mock.patch.object(support.random, "randint", side_effect=[first, first, other]):
            drawn = [support.free_port(), support.free_port()]
        self.assertEqual(drawn, [first, other])

    def test_free_ports_are_all_different(self):
        ports = support.free_ports(50)
        self.assertEqual(len(set(ports)), 50)
        low, high = support.PORT_RANGE
        self.assertTrue(all(low <= port <= high for port in ports))


if __name__ == "__main__":
    unittest.main()
