"""Parsing a single byte Range."""

from __future__ import annotations

import unittest

from filestoraged.errors import RangeNotSatisfiable
from filestoraged.wire.ranges import parse_range


class RangeTests(unittest.TestCase):
    def test_parse_range(self):
        self.assertEqual(parse_range("bytes=0-99", 1000), (0, 100))
        self.assertEqual(parse_range("bytes=900-", 1000), (900, 1000))
        self.assertEqual(parse_range("bytes=-100", 1000), (900, 1000))
        self.assertEqual(parse_range("bytes=-5000", 1000), (0, 1000))
        self.assertIsNone(parse_range("bytes=5-1", 1000))
        self.assertIsNone(parse_range("items=0-1", 1000))
        with self.assertRaises(RangeNotSatisfiable):
            parse_range("bytes=1000-", 1000)
        with self.assertRaises(RangeNotSatisfiable):
            parse_range("bytes=-0", 1000)
