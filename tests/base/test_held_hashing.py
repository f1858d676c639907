"""Digests taken holding the GIL (base/held_hashing.py): fed in slices, a
piece hashes to what ``hashlib`` makes of it whole, at every length around
the slices' edges and past the most held; the HMAC is ``hmac.digest``'s."""

from __future__ import annotations

import hashlib
import hmac
import os
import unittest

from filestoraged.base.held_hashing import GIL_THRESHOLD, MOST_HELD, hmac_sha256, update_held

LENGTHS = (0, 1, GIL_THRESHOLD - 2, GIL_THRESHOLD - 1, GIL_THRESHOLD, GIL_THRESHOLD + 1, 2 * GIL_THRESHOLD - 2,
           2 * GIL_THRESHOLD - 1, 4096, 4097, MOST_HELD - 1, MOST_HELD, MOST_HELD + 1, 3 * MOST_HELD + 5)


class UpdateHeldTests(unittest.TestCase):
    def test_every_length_hashes_as_hashlib_hashes_it_whole(self) -> None:
        data = os.urandom(max(LENGTHS))
        for name in ("sha256", "md5"):
            for length in LENGTHS:
                piece = data[:length]
                for given in (piece, memoryview(piece), bytearray(piece)):
                    with self.subTest(digest=name, length=length, kind=type(given).__name__):
                        digest = hashlib.new(name)
                        update_held(digest, given)
                        self.assertEqual(digest.hexdigest(), hashlib.new(name, piece).hexdigest())

    def test_pieces_in_a_row_hash_as_their_concatenation(self) -> None:
        pieces = [os.urandom(length) for length in (4096, 1, GIL_THRESHOLD, 70_000, 2047)]
        digest = hashlib.sha256()
        for piece in pieces:
            update_held(digest, piece)
        self.assertEqual(digest.hexdigest(), hashlib.sha256(b"".join(pieces)).hexdigest())


class HmacTests(unittest.TestCase):
    def test_the_hmac_is_hmac_digests(self) -> None:
        for key, message in ((b"", b""), (b"k" * 32, b"AWS4-HMAC-SHA256\n20261128T000000Z"),
                             (os.urandom(100), os.urandom(5000))):
            self.assertEqual(hmac_sha256(key, message), hmac.digest(key, message, "sha256"))


if __name__ == "__main__":
    unittest.main()
