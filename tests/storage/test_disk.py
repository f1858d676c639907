"""The disk backend: the storage contract plus its own on-disk promises."""

from __future__ import annotations

import errno
import io
import os
import shutil
import tempfile
import unittest
from unittest import mock

from filestoraged.storage.disk import backend as disk_backend, journal, writer as disk_writer
from filestoraged.storage.disk.backend import DiskBackend
from filestoraged.storage.disk.files import sweep_unfinished
from filestoraged.errors import InsufficientStorage
from filestoraged.storage.disk.fsck import fsck
from filestoraged.storage.names import DEFAULT, SHARES, repository

from ..storage_contract import StorageContract
from ..support import payload, sha256


def flip_middle_bit(path: str) -> None:
    """Damage a stored file as a bad disk would: one bit in its middle."""
    with open(path, "r+b") as handle:
        handle.seek(os.path.getsize(path) // 2)
        byte = handle.read(1)
        handle.seek(-1, io.SEEK_CUR)
        handle.write(bytes([byte[0] ^ 0x01]))


class _Looking(io.BytesIO):
    """A body that notes what ``folder`` holds each time it is read."""

    def __init__(self, data: bytes, folder: str, seen: list) -> None:
        super().__init__(data)
        self.folder, self.seen = folder, seen

    def readinto(self, buffer):
        self.seen.append(os.listdir(self.folder))
        return super().readinto(buffer)


class DiskTestCase(unittest.TestCase):
    def setUp(self) -> None:
        self.root = tempfile.mkdtemp(prefix="fsd-disk-")
        self.addCleanup(shutil.rmtree, self.root, True)
        super().setUp()

    def make_backend(self, max_size: int, max_bytes=None) -> DiskBackend:
        return DiskBackend(self.root, max_size, max_bytes)

    def corrupt(self, namespace, oid: str) -> None:
        flip_middle_bit(self.backend.object_path(namespace, oid))

    def assert_nothing_left(self) -> None:
        self.assertEqual(os.listdir(self.backend.tmp_dir), [])


class DiskContractTests(StorageContract, DiskTestCase):
    pass


class DiskLayoutTests(DiskTestCase):
    def setUp(self) -> None:
        super().setUp()
        self.backend = self.make_backend(10 * 1024 * 1024)

    def test_classic_layout_per_namespace(self):
        oid = sha256(b"layout")
        for namespace, folder in ((DEFAULT, ""), (repository("docs"), "repos/docs"), (SHARES, "shares")):
            with self.subTest(namespace=namespace, folder=folder):
                self.backend.put(namespace, io.BytesIO(b"layout"))
                path = os.path.join(self.root, folder, oid[:2], oid)
                with open(path, "rb") as handle:
                    self.assertEqual(handle.read(), b"layout")

    def test_unfinished_uploads_are_swept_at_start(self):
        leftover = os.path.join(self.backend.tmp_dir, "put-crashed")
        with open(leftover, "wb") as handle:
            handle.write(b"half an upload")
        DiskBackend(self.root, 1024)
        self.assertEqual(os.listdir(self.backend.tmp_dir), [])

    def test_a_full_disk_is_insufficient_storage_and_leaves_nothing(self):
        """A large object's own file, or a small one's journal (``small_writes``)."""
        def no_space(fd, data):
            raise OSError(errno.ENOSPC, "No space left on device")

        backend = self.make_backend(10 * 1024 * 1024)
        for module, body in ((disk_writer, payload(100 * 1024)), (journal, b"does not fit")):
            with self.subTest(body=len(body)), mock.patch.object(module, "write_all", no_space):
                with self.assertRaises(InsufficientStorage):
                    backend.put(DEFAULT, io.BytesIO(body))
                self.assertEqual(os.listdir(backend.tmp_dir), [])
                self.assertEqual(backend.list(DEFAULT), [])
        self.assertEqual(backend.put(DEFAULT, io.BytesIO(b"fits now")).info.size, 8)

    def test_quota_refuses_and_leaves_nothing(self):
        backend = self.make_backend(10 * 1024 * 1024, max_bytes=3000)
        backend.put(DEFAULT, io.BytesIO(payload(2000)))
        with self.assertRaises(InsufficientStorage):
            backend.put(DEFAULT, io.BytesIO(payload(1500, seed=1)))
        self.assertEqual(len(backend.list(DEFAULT)), 1)
        self.assertEqual(os.listdir(backend.tmp_dir), [])
        self.assertEqual(backend.usage(), (1, 2000))
        backend.put(DEFAULT, io.BytesIO(payload(1000, seed=2)))  # exactly at the quota
        self.assertEqual(backend.usage(), (2, 3000))

    def test_an_upload_being_written_has_no_name_until_it_is_stored(self):
        """Where the file system can (here: ``O_TMPFILE``), an upload being
        written has no name in ``.tmp``: a crash, even of the whole daemon,
        leaves nothing behind; elsewhere a named file, removed at its end."""
        for unnamed in (True, False):
            with self.subTest(unnamed=unnamed), mock.patch.object(disk_backend, "links_unnamed_files",
                                                                 lambda folder, unnamed=unnamed: unnamed):
                backend = self.make_backend(10 * 1024 * 1024)
                seen: list = []
                body = payload(300 * 1024, seed=5 + unnamed)
                result = backend.put(DEFAULT, _Looking(body, backend.tmp_dir, seen))
                self.assertTrue(result.created)
                with backend.open(DEFAULT, result.info.oid) as stored:
                    stored.preflight()
                    self.assertEqual(stored.read_all(), body)
                self.assertGreater(len(seen), 1)
                if unnamed:
                    self.assertEqual([names for names in seen if names], [])
                else:
                    self.assertTrue(any(name.startswith("put-") for name in seen[-1]))
                self.assertEqual(os.listdir(backend.tmp_dir), [])

    def test_a_dead_workers_named_files_are_swept_and_no_one_elses(self):
        """What a worker that died left in ``.tmp`` under its pid (an upload
        where files cannot be unnamed, a block record being written) goes
        as the parent replaces it; the other workers' files stay."""
        for name in ("put-41-abc_1", "record-41-x9", "put-4141-abc_2", "put-42-abc_3"):
            open(os.path.join(self.backend.tmp_dir, name), "w").close()
        sweep_unfinished(self.backend.tmp_dir, 41)
        self.assertEqual(sorted(os.listdir(self.backend.tmp_dir)), ["put-4141-abc_2", "put-42-abc_3"])
        sweep_unfinished(self.backend.tmp_dir)  # at start: all of them
        self.assertEqual(os.listdir(self.backend.tmp_dir), [])

    def test_a_stored_object_counts_once_while_its_upload_ends(self):
        """Once its index row is in, an object counts as stored and no
        longer as bytes in flight: an upload that fits the quota exactly,
        sent while the first one ends (its folder's fsync: an object past
        what the journal takes), is stored."""
        backend = self.make_backend(10 * 1024 * 1024, max_bytes=300 * 1024)
        fsync_dir = disk_backend.fsync_dir
        second = []

        def then_another_upload(folder: str) -> None:
            fsync_dir(folder)
            if not second:
                second.append("sent")
                second.append(backend.put(DEFAULT, io.BytesIO(payload(100 * 1024, seed=1))))

        with mock.patch.object(disk_backend, "fsync_dir", then_another_upload):
            backend.put(DEFAULT, io.BytesIO(payload(200 * 1024)))
        self.assertTrue(second[1].created)
        self.assertEqual(backend.usage(), (2, 300 * 1024))
        with self.assertRaises(InsufficientStorage):  # and the quota still holds
            backend.put(DEFAULT, io.BytesIO(payload(1, seed=2)))

    def test_usage_is_counted_at_start(self):
        self.backend.put(DEFAULT, io.BytesIO(b"12345"))
        self.backend.put(repository("r"), io.BytesIO(b"123"))
        self.assertEqual(DiskBackend(self.root, 1024).usage(), (2, 8))

    def test_fsck_reports_and_repairs(self):
        good = self.backend.put(DEFAULT, io.BytesIO(payload(5000))).info.oid
        bad = self.backend.put(repository("r"), io.BytesIO(payload(400000, seed=4))).info.oid
        self.corrupt(repository("r"), bad)
        report = fsck(self.backend)
        self.assertEqual((report.checked, report.corrupt), (2, ["repos/r/" + bad]))
        report = fsck(self.backend, repair=True)
        self.assertEqual(report.repaired, ["repos/r/" + bad])
        self.assertTrue(os.path.exists(os.path.join(self.root, ".corrupt", "repos/r", bad)))
        self.assertEqual(fsck(self.backend).corrupt, [])
        self.assertEqual(self.backend.list(DEFAULT)[0].oid, good)
