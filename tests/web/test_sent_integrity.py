"""The bytes written to the socket are the bytes that were checked.

A byte of a stored 50 MiB object is changed on disk at every moment of a
slow download: before it starts, while it is being sent, and after a
whole-file hash of the object would have finished. No answer may then be a
complete ``200``/``206`` whose bytes differ from the object's id; a changed
byte not yet sent cuts the transfer, which is logged and counted.
"""

from __future__ import annotations

import os
import re
import socket
from typing import Callable, Optional

from filestoraged.storage.blocks import BLOCK

from ..support import MIB, ServerCase, payload, sha256

SIZE = 50 * MIB


class Transfer:
    def __init__(self, status: int, length: int, body: bytes) -> None:
        self.status = status
        self.length = length
        self.body = body

    @property
    def complete(self) -> bool:
        return len(self.body) == self.length


class SentIntegrityTests(ServerCase):
    def setUp(self) -> None:
        super().setUp()
        self.data = payload(SIZE, seed=21)
        self.oid = self.request("POST", "/files", self.data).json()["hash"]
        self.path = os.path.join(self.data_dir, self.oid[:2], self.oid)
        self.record = self.path + ".blocks"
        # The upload wrote the object's block record beside it.
        self.assertTrue(self.record_bytes())

    def record_bytes(self) -> bytes:
        with open(self.record, "rb") as record:
            return record.read()

    # -- helpers ----------------------------------------------------------------

    def flip(self, offset: int) -> None:
        """Change one byte of the stored file in place (calling it twice restores it)."""
        with open(self.path, "r+b") as handle:
            handle.seek(offset)
            byte = handle.read(1)
            handle.seek(offset)
            handle.write(bytes([byte[0] ^ 0x55]))

    def slow_get(self, headers: str = "", at: int = -1, action: Optional[Callable[[], None]] = None) -> Transfer:
        """GET the object with a small receive window; run ``action`` once
        ``at`` body bytes have arrived (0: as soon as the head has)."""
        sock = socket.socket()
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 32 * 1024)
        sock.settimeout(30)
        sock.connect(("127.0.0.1", self.port))
        with sock:
            sock.sendall(("GET /files/%s HTTP/1.1\r\nHost: localhost\r\n%sConnection: close\r\n\r\n"
                          % (self.oid, headers)).encode())
            received = bytearray()
            while b"\r\n\r\n" not in received:
                piece = sock.recv(65536)
                self.assertTrue(piece, "no head")
                received += piece
            head, _, body = bytes(received).partition(b"\r\n\r\n")
            status = int(head.split(b" ", 2)[1])
            length = int(re.search(rb"Content-Length: (\d+)", head).group(1))
            body = bytearray(body)
            while True:
                if action is not None and len(body) >= at:
                    action()
                    action = None
                try:
                    piece = sock.recv(16384)
                except ConnectionResetError:
                    break
                if not piece:
                    break
                body += piece
        return Transfer(status, length, bytes(body))

    def get_with_a_changed_byte(self, offset: int, at: int) -> Transfer:
        """A slow GET during which the byte at ``offset`` is changed: before it
        starts (``at`` < 0) or once ``at`` body bytes arrived; restored after."""
        try:
            if at < 0:
                self.flip(offset)
                return self.slow_get()
            return self.slow_get(at=at, action=lambda: self.flip(offset))
        finally:
            self.flip(offset)

    def integrity_failures(self) -> int:
        text = self.request("GET", "/metrics").body.decode()
        return int(re.search(r"^filestoraged_integrity_failures_total (\d+)$", text, re.M).group(1))

    def assertCut(self, transfer: Transfer, status: int = 200) -> None:
        self.assertEqual(transfer.status, status)
        self.assertFalse(transfer.complete, "a changed byte reached the client in a complete answer")

    def assertNeverWrongAndComplete(self, transfer: Transfer, expected: bytes) -> None:
        if transfer.complete:
            self.assertEqual(sha256(transfer.body), sha256(expected))

    # -- whole downloads ----------------------------------------------------------

    def test_a_clean_object_downloads_whole(self):
        transfer = self.slow_get()
        self.assertEqual((transfer.status, transfer.complete), (200, True))
        self.assertEqual(sha256(transfer.body), self.oid)

    def test_a_byte_changed_at_any_moment_never_completes(self):
        moments = [
            ("middle, before the download", SIZE // 2, -1),
            ("last byte, before the download", SIZE - 1, -1),
            ("middle, while it is sent", SIZE // 2 + 12345, 1 * MIB),
            ("last byte, while it is sent", SIZE - 1, 1 * MIB),
            ("last byte, long after a whole-file hash would be done", SIZE - 1, 30 * MIB),
            ("last block, long after a whole-file hash would be done", SIZE - BLOCK // 2, 35 * MIB),
        ]
        failures = self.integrity_failures()
        for name, offset, at in moments:
            with self.subTest(name), self.assertLogs("filestoraged", "ERROR") as logs:
                transfer = self.get_with_a_changed_byte(offset, at)
                self.assertNeverWrongAndComplete(transfer, self.data)
                self.assertCut(transfer)
                self.assertIn("corrupt", "\n".join(logs.output))
                # Nothing after the changed byte was sent, and all before it is right.
                self.assertLessEqual(len(transfer.body), offset)
                self.assertEqual(transfer.body, self.data[:len(transfer.body)])
                failures += 1
                self.assertEqual(self.integrity_failures(), failures)
        self.assertEqual(sha256(self.slow_get().body), self.oid)

    def test_a_fresh_object_is_checked_whole_and_never_completes_wrong(self):
        # An object whose record is gone (a crash between record and object):
        # the bytes sent are hashed whole and the last piece waits for the hash.
        moments = [("before the download", SIZE // 2, -1), ("while it is sent", SIZE - 1, 1 * MIB),
                   ("near the end", SIZE - 1, 30 * MIB)]
        for name, offset, at in moments:
            os.unlink(self.record)
            with self.subTest(name), self.assertLogs("filestoraged", "ERROR"):
                transfer = self.get_with_a_changed_byte(offset, at)
                self.assertNeverWrongAndComplete(transfer, self.data)
                self.assertCut(transfer)
            # No record was made from bad bytes; the next, clean read makes one.
            self.assertFalse(os.path.exists(self.record))
            self.assertEqual(sha256(self.slow_get().body), self.oid)
            self.assertTrue(os.path.exists(self.record))

    # -- ranges ---------------------------------------------------------------------

    def test_a_range_over_a_changed_byte_is_cut(self):
        offset = 20 * MIB + 777
        self.flip(offset)
        with self.assertLogs("filestoraged", "ERROR"):
            transfer = self.slow_get("Range: bytes=%d-%d\r\n" % (20 * MIB, 21 * MIB - 1))
        self.assertCut(transfer, 206)
        self.assertEqual(transfer.body, self.data[20 * MIB:20 * MIB + len(transfer.body)])

    def test_a_range_is_checked_by_the_blocks_it_covers(self):
        # A range that does not touch the changed block is right, byte for
        # byte: it is served (and checked) from its own blocks only, from the
        # very first read of the object (its record came with the upload).
        self.flip(40 * MIB)
        transfer = self.slow_get("Range: bytes=%d-%d\r\n" % (3 * MIB + 5, 4 * MIB + 5))
        self.assertEqual((transfer.status, transfer.complete), (206, True))
        self.assertEqual(transfer.body, self.data[3 * MIB + 5:4 * MIB + 6])

    # -- objects stored without a block record ------------------------------------------

    def test_an_object_without_a_record_is_checked_whole_and_gets_one(self):
        os.unlink(self.record)
        self.flip(SIZE - 1)
        with self.assertLogs("filestoraged", "ERROR"):
            self.assertCut(self.slow_get("Range: bytes=0-999\r\n"), 206)
        with self.assertLogs("filestoraged", "ERROR"):
            self.assertCut(self.slow_get(at=1 * MIB, action=lambda: None))
        self.assertFalse(os.path.exists(self.record))  # never recorded from bad bytes
        self.flip(SIZE - 1)
        transfer = self.slow_get("Range: bytes=0-999\r\n")
        self.assertEqual((transfer.status, transfer.body), (206, self.data[:1000]))
        self.assertTrue(self.record_bytes())
        # From now on the block path: a later change is caught in its block.
        self.flip(30 * MIB)
        with self.assertLogs("filestoraged", "ERROR") as logs:
            self.assertCut(self.slow_get())
        self.assertIn("block 60", "\n".join(logs.output))

    def test_a_damaged_record_is_never_believed(self):
        record = bytearray(self.record_bytes())
        record[-1] ^= 0x01  # as if torn: the checksum no longer matches
        with open(self.record, "wb") as out:
            out.write(record)
        transfer = self.slow_get()
        self.assertEqual(sha256(transfer.body), self.oid)
        self.assertNotEqual(self.record_bytes(), bytes(record))

    def test_a_record_of_another_object_is_never_believed(self):
        other = payload(SIZE, seed=22)
        other_oid = self.request("POST", "/files", other).json()["hash"]
        with open(os.path.join(self.data_dir, other_oid[:2], other_oid + ".blocks"), "rb") as record:
            foreign = record.read()
        with open(self.record, "wb") as out:
            out.write(foreign)
        transfer = self.slow_get("Range: bytes=100-199\r\n")
        self.assertEqual((transfer.status, transfer.body), (206, self.data[100:200]))
        self.assertNotEqual(self.record_bytes(), foreign)  # written anew from the checked bytes

    def test_a_deleted_object_takes_its_record_with_it(self):
        self.assertEqual(self.request("DELETE", "/files/" + self.oid).status, 200)
        self.assertFalse(os.path.exists(self.record))

    def test_fsck_repair_writes_missing_records(self):
        from filestoraged.storage.disk.backend import DiskBackend
        from filestoraged.storage.disk.fsck import fsck

        os.unlink(self.record)
        stray = os.path.join(self.data_dir, "ab", "ab" + "0" * 62 + ".blocks")
        os.makedirs(os.path.dirname(stray), exist_ok=True)
        with open(stray, "wb") as out:
            out.write(b"FSB2")
        backend = DiskBackend(self.data_dir, 64 * MIB, alone=False)
        report = fsck(backend)
        self.assertEqual(report.unrecorded, ["default/" + self.oid])
        self.assertEqual(report.orphan_records, ["default/" + os.path.basename(stray)])
        fsck(backend, repair=True)
        report = fsck(backend)
        self.assertEqual((report.unrecorded, report.orphan_records), ([], []))
        self.assertFalse(os.path.exists(stray))
        transfer = self.slow_get("Range: bytes=100-199\r\n")
        self.assertEqual(transfer.body, self.data[100:200])
