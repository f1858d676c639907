"""Block records: every object bigger than one block gets one when it is
uploaded, whatever its size; a record is believed only whole and for its
own object; records of the earlier form (SHA-256/128 per block) still read."""

from __future__ import annotations

import hashlib
import os
import unittest

from filestoraged.storage import blocks
from filestoraged.storage.blocks import BLOCK
from filestoraged.errors import TooLarge
from filestoraged.storage.interface import SMALL_BODY, pieces
from filestoraged.storage.s3 import refs

from ..support import MIB, BytesSource, ServerCase, payload, sha256


def legacy_checks(data: bytes):
    return [hashlib.sha256(data[i:i + BLOCK]).digest()[:16] for i in range(0, len(data), BLOCK)]


class RecordFormTests(unittest.TestCase):
    def setUp(self) -> None:
        self.data = payload(3 * BLOCK + 100, seed=5)
        self.oid = sha256(self.data)
        self.checks = [blocks.block_check(self.data[i:i + BLOCK]) for i in range(0, len(self.data), BLOCK)]

    def test_a_record_reads_back_and_checks_its_blocks(self):
        record = blocks.encode(self.oid, len(self.data), self.checks)
        self.assertEqual(record[:4], b"FSB2")
        decoded = blocks.decode(record, self.oid, len(self.data))
        self.assertEqual(decoded, self.checks)
        for index, check in enumerate(decoded):
            block = bytearray(self.data[index * BLOCK:(index + 1) * BLOCK])
            self.assertTrue(blocks.matches(block, check))
            block[len(block) // 2] ^= 1
            self.assertFalse(blocks.matches(block, check))

    def test_a_torn_foreign_or_resized_record_is_never_believed(self):
        record = blocks.encode(self.oid, len(self.data), self.checks)
        self.assertIsNone(blocks.decode(record[:-1], self.oid, len(self.data)))
        self.assertIsNone(blocks.decode(record, "0" * 64, len(self.data)))
        self.assertIsNone(blocks.decode(record, self.oid, len(self.data) + BLOCK))
        flipped = bytearray(record)
        flipped[-1] ^= 1
        self.assertIsNone(blocks.decode(bytes(flipped), self.oid, len(self.data)))
        self.assertIsNone(blocks.decode(b"XXXX" + record[4:], self.oid, len(self.data)))

    def test_a_record_of_the_earlier_form_still_checks(self):
        old = legacy_checks(self.data)
        record = blocks.encode(self.oid, len(self.data), old)
        self.assertEqual(record[:4], b"FSB1")
        decoded = blocks.decode(record, self.oid, len(self.data))
        self.assertEqual(decoded, old)
        self.assertTrue(blocks.matches(self.data[:BLOCK], decoded[0]))
        self.assertFalse(blocks.matches(b"x" + self.data[1:BLOCK], decoded[0]))

    def test_a_one_block_object_is_checked_by_its_id(self):
        data = payload(BLOCK, seed=6)
        (check,) = blocks.decode(None, sha256(data), len(data))
        self.assertTrue(blocks.matches(data, check))
        self.assertFalse(blocks.matches(data[:-1] + b"x", check))

    def test_s3_records_of_both_forms_read(self):
        for checks, magic in ((self.checks, b"FSR2"), (legacy_checks(self.data), b"FSR1")):
            ref = refs.Ref("bodies/" + "a" * 32, len(self.data), "text/plain", checks)
            raw = refs.encode(self.oid, ref)
            self.assertEqual(raw[:4], magic)
            self.assertEqual(refs.decode(raw, self.oid, "k"), ref)


class Trickle(BytesSource):
    """A body that arrives at most ``step`` bytes a read, as a slow client's does."""

    def __init__(self, data: bytes, step: int) -> None:
        super().__init__(data)
        self.step = step

    def readinto(self, buffer: memoryview) -> int:
        return super().readinto(buffer[:self.step])


class UploadPiecesTests(unittest.TestCase):
    """An upload is read a block at a time (each piece a whole block but the
    last, so that its block checks are the ones a read makes), whether it
    fits the small first buffer or not."""

    def pieces_of(self, data: bytes, step: int, max_size: int = 4 * BLOCK):
        return [bytes(piece) for piece in pieces(Trickle(data, step), max_size, BLOCK)]

    def test_every_size_around_the_buffers_comes_back_whole_in_blocks(self):
        for size in (0, 1, SMALL_BODY - 1, SMALL_BODY, SMALL_BODY + 1, BLOCK - 1, BLOCK, BLOCK + 1,
                     2 * BLOCK + SMALL_BODY):
            data = payload(size, seed=size % 7)
            for step in (size or 1, 1000, 64 * 1024 + 3):
                with self.subTest(size=size, step=step):
                    got = self.pieces_of(data, step)
                    self.assertEqual(b"".join(got), data)
                    self.assertTrue(all(len(piece) == BLOCK for piece in got[:-1]))
                    self.assertTrue(all(got))  # no empty piece, not even for an empty body

    def test_one_byte_past_the_limit_is_refused_at_either_buffer(self):
        for limit in (100, SMALL_BODY, BLOCK + 10):
            with self.subTest(limit=limit):
                self.assertEqual(len(b"".join(self.pieces_of(payload(limit), 4096, limit))), limit)
                with self.assertRaises(TooLarge):
                    self.pieces_of(payload(limit + 1), 4096, limit)


class BigObjectRecordTests(ServerCase):
    """An object past what an extended attribute holds (~115 MiB on ext4)
    has its record from the upload on, so its first Range costs the range."""

    config_overrides = {"max_size": 200 * MIB}

    def test_a_150_mib_object_is_recorded_at_upload_and_its_first_range_reads_only_its_blocks(self):
        size = 150 * MIB + 12345
        data = payload(size, seed=9)
        oid = self.request("POST", "/files", data).json()["hash"]
        path = os.path.join(self.data_dir, oid[:2], oid)
        with open(path + ".blocks", "rb") as record:
            self.assertEqual(len(blocks.decode(record.read(), oid, size)), blocks.block_count(size))
        # A byte changed far from the range: a read that hashed the whole
        # object would cut the transfer; the range's own blocks are intact.
        with open(path, "r+b") as stored:
            stored.seek(size - 10)
            stored.write(b"\x00" if data[size - 10] else b"\x01")
        reply = self.request("GET", "/files/" + oid, headers={"Range": "bytes=%d-%d" % (70 * MIB, 71 * MIB - 1)})
        self.assertEqual((reply.status, reply.body), (206, data[70 * MIB:71 * MIB]))
