"""Digests taken beside the reading thread (base/beside.py, an S3 upload's
MD5 and checksum): the same digests as taken inline, whatever the pieces,
the reader's buffer reusable at once, no thread for a small stream, and the
thread ended by close."""

from __future__ import annotations

import hashlib
import os
import threading
import unittest
import zlib

from filestoraged.base.beside import SLOT, SLOTS, DigestsBeside


class _Crc:
    def __init__(self) -> None:
        self.value = 0

    def update(self, data) -> None:
        self.value = zlib.crc32(data, self.value)


def _digest_threads() -> int:
    return sum(1 for thread in threading.enumerate() if thread.name == "digests")


class DigestsBesideTests(unittest.TestCase):
    def test_every_split_of_the_bytes_gives_the_digests_taken_inline(self):
        data = os.urandom(SLOT * SLOTS * 3 + 12345)
        for piece in (1, 1000, SLOT - 1, SLOT, SLOT + 1, 3 * SLOT + 7, len(data)):
            with self.subTest(piece=piece):
                md5, crc = hashlib.md5(), _Crc()
                beside = DigestsBeside([md5, crc])
                self.addCleanup(beside.close)
                reused = bytearray(piece)  # the reader's one buffer, overwritten at once
                step = piece if piece > 1 else 4099  # one byte at a time would be slow: 4 KiB
                for start in range(0, len(data), step):
                    chunk = data[start:start + step]
                    reused[:len(chunk)] = chunk
                    beside.update(memoryview(reused)[:len(chunk)])
                    reused[:len(chunk)] = b"\0" * len(chunk)  # reused before the thread had it
                beside.finish()
                self.assertEqual(md5.hexdigest(), hashlib.md5(data).hexdigest())
                self.assertEqual(crc.value, zlib.crc32(data))

    def test_a_stream_that_fits_one_buffer_starts_no_thread(self):
        before = _digest_threads()
        md5 = hashlib.md5()
        beside = DigestsBeside([md5])
        beside.update(b"x" * (SLOT - 1))
        self.assertEqual(_digest_threads(), before)
        beside.finish()
        beside.close()
        self.assertEqual(md5.hexdigest(), hashlib.md5(b"x" * (SLOT - 1)).hexdigest())
        self.assertEqual(_digest_threads(), before)

    def test_close_ends_the_thread_of_a_stream_never_finished(self):
        before = _digest_threads()
        beside = DigestsBeside([hashlib.md5()])
        beside.update(os.urandom(SLOT * 2))  # an upload cut in the middle
        self.assertEqual(_digest_threads(), before + 1)
        beside.close()
        self.assertEqual(_digest_threads(), before)

    def test_a_failing_digest_is_raised_to_the_reader(self):
        class Broken:
            def update(self, data) -> None:
                raise ValueError("broken digest")

        beside = DigestsBeside([Broken()])
        self.addCleanup(beside.close)
        with self.assertRaisesRegex(ValueError, "broken digest"):
            beside.update(os.urandom(SLOT * (SLOTS + 2)))
            beside.finish()


if __name__ == "__main__":
    unittest.main()
