"""Multipart uploads on the disk backend, whose parts of one size are laid
out in one file at their place in the object, so that completing the upload
adopts that file instead of writing the object again; and every way a part
does not fit that (another size, sent again, a completion naming fewer
parts, a part being written, a changed byte), where the bytes must come out
the same, checked."""

from __future__ import annotations

import fcntl
import io
import os
import threading
import unittest
from unittest import mock

from filestoraged.catalog.parts import Parts
from filestoraged.errors import CorruptObject, NotFound
from filestoraged.storage.names import Namespace, repository

from ..s3api_support import S3ApiCase, boto3_or_skip
from ..storage_contract import SizedStream
from ..support import payload, sha256

MIB = 1024 * 1024


class LaidOutPartsTests(S3ApiCase):
    def setUp(self) -> None:
        boto3_or_skip(self)
        super().setUp()
        import botocore.exceptions

        self.ClientError = botocore.exceptions.ClientError
        self.s3 = self.client()
        self.s3.create_bucket(Bucket="big")

    def upload(self, key: str, *bodies: bytes):
        upload = self.s3.create_multipart_upload(Bucket="big", Key=key)["UploadId"]
        done = [{"PartNumber": n, "ETag": self.s3.upload_part(Bucket="big", Key=key, UploadId=upload, PartNumber=n,
                                                               Body=body)["ETag"]}
                for n, body in enumerate(bodies, start=1)]
        return upload, done

    def complete(self, key: str, upload: str, done) -> None:
        self.s3.complete_multipart_upload(Bucket="big", Key=key, UploadId=upload, MultipartUpload={"Parts": done})

    def laid_out_file(self, upload: str) -> str:
        folder = os.path.join(self.data_dir, "parts", upload, "00")
        names = os.listdir(folder)
        self.assertEqual(len(names), 1, names)
        return os.path.join(folder, names[0])

    def object_path(self, data: bytes) -> str:
        oid = sha256(data)
        return os.path.join(self.data_dir, "repos", "big", oid[:2], oid)

    def stored(self, key: str) -> bytes:
        return self.s3.get_object(Bucket="big", Key=key)["Body"].read()

    def test_parts_of_one_size_become_the_object_itself(self):
        bodies = [payload(8 * MIB, 61), payload(8 * MIB, 62), payload(3 * MIB + 5, 63)]
        whole = b"".join(bodies)
        upload, done = self.upload("k", *bodies)
        laid = os.stat(self.laid_out_file(upload))
        self.assertEqual(laid.st_size, len(whole))
        self.complete("k", upload, done)
        self.assertEqual(sha256(self.stored("k")), sha256(whole))
        self.assertEqual(os.stat(self.object_path(whole)).st_ino, laid.st_ino)  # adopted, not written again
        self.assertFalse(os.path.exists(os.path.join(self.data_dir, "parts", upload)))
        self.assertEqual(self.app.backend.usage(), (1, len(whole)))  # the parts' file is counted no more
        self.assertEqual(self.app.backend.index.totals(), (1, len(whole)))
        ranged = self.s3.get_object(Bucket="big", Key="k", Range="bytes=%d-%d" % (8 * MIB - 3, 8 * MIB + 2))
        self.assertEqual(ranged["Body"].read(), whole[8 * MIB - 3:8 * MIB + 3])  # its block record is right

    def test_the_last_part_sent_first_is_copied_to_its_place(self):
        bodies = [payload(8 * MIB, 64), payload(8 * MIB, 65), payload(MIB + 5, 66)]
        whole = b"".join(bodies)
        upload = self.s3.create_multipart_upload(Bucket="big", Key="k")["UploadId"]
        etags = {}
        for number in (3, 1, 2):  # as boto3's threads may send them
            etags[number] = self.s3.upload_part(Bucket="big", Key="k", UploadId=upload, PartNumber=number,
                                                Body=bodies[number - 1])["ETag"]
        laid = os.stat(self.laid_out_file(upload))
        self.assertEqual(laid.st_size, 16 * MIB)  # a short part fixes no stride: the last is apart
        self.complete("k", upload, [{"PartNumber": n, "ETag": etags[n]} for n in (1, 2, 3)])
        self.assertEqual(sha256(self.stored("k")), sha256(whole))
        self.assertEqual(os.stat(self.object_path(whole)).st_ino, laid.st_ino)
        self.assertEqual(self.app.backend.index.totals(), (1, len(whole)))

    def test_a_changed_byte_in_the_last_part_apart_is_caught(self):
        self.s3.put_object(Bucket="big", Key="k", Body=b"the old object")
        tail = payload(MIB + 5, 68)
        upload = self.s3.create_multipart_upload(Bucket="big", Key="k")["UploadId"]
        last = self.s3.upload_part(Bucket="big", Key="k", UploadId=upload, PartNumber=2, Body=tail)["ETag"]
        first = self.s3.upload_part(Bucket="big", Key="k", UploadId=upload, PartNumber=1,
                                    Body=payload(5 * MIB, 67))["ETag"]
        apart = self.object_path(tail).replace(os.path.join("repos", "big"), os.path.join("parts", upload))
        with open(apart, "r+b") as stored:
            stored.seek(1000)
            byte = stored.read(1)
            stored.seek(1000)
            stored.write(bytes([byte[0] ^ 1]))
        with self.assertRaises(self.ClientError) as raised:
            self.complete("k", upload, [{"PartNumber": 1, "ETag": first}, {"PartNumber": 2, "ETag": last}])
        self.assertEqual(raised.exception.response["Error"]["Code"], "InternalError")
        self.assertEqual(self.stored("k"), b"the old object")
        self.assertEqual(os.path.getsize(self.laid_out_file(upload)), 5 * MIB)  # the copy undone

    def test_parts_that_do_not_fit_come_out_the_same(self):
        first, again = payload(5 * MIB, 71), payload(5 * MIB, 72)
        bigger, tail = payload(6 * MIB, 73), b"the tail"
        upload, done = self.upload("k", first, bigger, tail)
        resent = self.s3.upload_part(Bucket="big", Key="k", UploadId=upload, PartNumber=1, Body=again)
        done[0] = {"PartNumber": 1, "ETag": resent["ETag"]}
        self.complete("k", upload, done)
        self.assertEqual(sha256(self.stored("k")), sha256(again + bigger + tail))  # the part sent last counts

        # A completion that names fewer parts than were sent.
        bodies = [payload(5 * MIB, 74), payload(5 * MIB, 75), payload(MIB, 76)]
        upload, done = self.upload("fewer", *bodies)
        self.complete("fewer", upload, done[:2])
        self.assertEqual(sha256(self.stored("fewer")), sha256(bodies[0] + bodies[1]))
        self.assertEqual(self.app.backend.index.totals(), (2, len(again + bigger + tail) + 10 * MIB))

    def test_a_part_still_being_written_keeps_the_file_from_being_adopted(self):
        bodies = [payload(5 * MIB, 81), payload(2 * MIB, 82)]
        upload, done = self.upload("k", *bodies)
        with open(self.laid_out_file(upload), "rb") as laid:
            fcntl.flock(laid, fcntl.LOCK_SH)  # as a writer of a part holds it
            self.complete("k", upload, done)
        self.assertEqual(sha256(self.stored("k")), sha256(b"".join(bodies)))
        self.assertEqual(self.app.backend.index.totals(), (1, 7 * MIB))

    def test_a_changed_byte_in_the_file_is_caught_and_nothing_is_stored(self):
        self.s3.put_object(Bucket="big", Key="k", Body=b"the old object")
        for named in (2, 1):  # the file adopted whole; the parts read one by one
            upload, done = self.upload("k", payload(5 * MIB, 91), payload(5 * MIB, 92))
            with open(self.laid_out_file(upload), "r+b") as laid:
                laid.seek((named - 1) * 5 * MIB + 1000)  # in the last part named
                byte = laid.read(1)
                laid.seek(-1, io.SEEK_CUR)
                laid.write(bytes([byte[0] ^ 1]))
            with self.assertRaises(self.ClientError) as raised:
                self.complete("k", upload, done[:named])
            self.assertEqual(raised.exception.response["Error"]["Code"], "InternalError")
            self.assertEqual(self.stored("k"), b"the old object")


class LayoutTests(S3ApiCase):
    """The layout beneath, where the order of events can be chosen."""

    def setUp(self) -> None:
        super().setUp()
        self.parts = Parts(self.app.records, self.app.backend)

    def put(self, upload: str, number: int, data: bytes):
        return self.parts.put(upload, number, SizedStream(data), lambda: "etag")

    def test_no_part_is_written_into_a_file_once_it_is_an_object(self):
        backend = self.app.backend
        first, second = payload(512 * 1024, 1), payload(1000, 2)
        parts = [self.put("u1", 1, first), self.put("u1", 2, second)]
        self.assertTrue(all(part.stride == 512 * 1024 for part in parts))
        with self.parts.stream("u1", parts) as whole:
            stored = backend.put(repository("r"), whole)
        self.assertEqual(stored.info.oid, sha256(first + second))
        late = self.put("u1", 3, payload(1000, 3))  # the file is an object now: stored apart
        self.assertEqual(late.stride, 0)
        with backend.open(repository("r"), stored.info.oid) as obj:
            obj.preflight()
            self.assertEqual(obj.read_all(), first + second)
        self.parts.drop("u1")
        self.assertEqual(backend.index.totals(), (1, len(first + second)))

    def test_a_part_written_while_its_upload_is_aborted_leaves_nothing_counted(self):
        backend = self.app.backend
        self.put("u3", 1, payload(512 * 1024, 6))
        halfway, go_on = threading.Event(), threading.Event()

        class Slow(SizedStream):
            def readinto(self, buffer):
                if self.tell() >= 256 * 1024 and not halfway.is_set():
                    halfway.set()
                    go_on.wait(20)
                return super().readinto(buffer[:256 * 1024])

        failures = []

        def second() -> None:
            try:
                self.parts.put("u3", 2, Slow(payload(512 * 1024, 7)), lambda: "etag")
            except BaseException as error:  # asserted below
                failures.append(error)

        writer = threading.Thread(target=second)
        writer.start()
        self.assertTrue(halfway.wait(20))
        self.parts.drop("u3")  # aborted while part 2 is written
        go_on.set()
        writer.join(20)
        self.assertFalse(writer.is_alive())
        self.assertEqual([type(error) for error in failures], [NotFound])
        self.assertEqual(backend.index.totals(), (0, 0))
        self.assertEqual(self.parts.list("u3"), [])

    def test_a_file_changed_under_a_completion_is_refused(self):
        backend = self.app.backend
        parts = [self.put("u2", 1, payload(512 * 1024, 4)), self.put("u2", 2, payload(512 * 1024, 5))]
        path = backend.object_path(Namespace("parts/u2"), "%064x" % (512 * 1024))
        with open(path, "r+b") as laid:
            laid.write(b"X")
        with self.parts.stream("u2", parts) as whole, self.assertRaises(CorruptObject):
            backend.put(repository("r"), whole)
        self.assertEqual(backend.list(repository("r")), [])



class RefusedPartsTests(S3ApiCase):
    """Bytes of parts refused (the quota, a cut body) or stored after their
    upload ended are counted while they stay, and go with the upload."""

    config_overrides = {"s3_api": "127.0.0.1:0", "auth": "all", "max_bytes": 32 * MIB}

    def setUp(self) -> None:
        boto3_or_skip(self)
        super().setUp()
        self.s3 = self.client()
        self.s3.create_bucket(Bucket="big")

    def on_disk(self, folder: str) -> int:
        """Bytes the files under ``folder`` take on the disk."""
        total = 0
        for root, _, names in os.walk(folder):
            for name in names:
                total += os.stat(os.path.join(root, name)).st_blocks * 512
        return total

    def test_parts_refused_for_the_quota_leave_nothing_once_aborted(self):
        import botocore.exceptions

        keys = ["k%d" % n for n in range(6)]
        uploads = [self.s3.create_multipart_upload(Bucket="big", Key=key)["UploadId"] for key in keys]
        refused = 0
        for number in range(1, 8):  # 5 MiB parts: 6 fit, then each would pass the quota part-way
            for upload, key in zip(uploads, keys):
                try:
                    self.s3.upload_part(Bucket="big", Key=key, UploadId=upload, PartNumber=number,
                                        Body=payload(5 * MIB, number))
                except botocore.exceptions.ClientError as error:
                    self.assertEqual(error.response["Error"]["Code"], "InsufficientStorage")
                    refused += 1
        self.assertEqual(refused, 42 - 6)
        parts = os.path.join(self.data_dir, "parts")
        self.assertLessEqual(self.on_disk(parts), 32 * MIB)
        self.assertLessEqual(self.app.backend.usage()[1], 32 * MIB)
        for upload, key in zip(uploads, keys):
            self.s3.abort_multipart_upload(Bucket="big", Key=key, UploadId=upload)
        self.assertEqual(self.on_disk(parts), 0)
        self.assertEqual(self.app.backend.usage(), (0, 0))
        self.assertEqual(self.app.backend.index.totals(), (0, 0))

    def test_cut_parts_are_counted_and_go_with_the_upload(self):
        class Cut(SizedStream):
            def readinto(self, buffer):
                if self.tell() >= MIB:
                    raise ConnectionResetError("the client is gone")
                return super().readinto(buffer)

        upload = self.app.unfinished.create("big", "cut", {})
        for number in range(1, 6):  # every part cut: the upload's file never held a whole part
            with self.assertRaises(ConnectionResetError):
                self.app.unfinished.put_part(upload, number, Cut(payload(2 * MIB, number)), lambda: "e",
                                             lambda oid: None)
        folder = os.path.join(self.data_dir, "parts", upload.id)
        self.assertGreater(self.on_disk(folder), 0)
        self.assertGreaterEqual(self.app.backend.usage()[1], self.on_disk(folder))  # counted while they stay
        self.app.unfinished.remove(upload)  # aborted
        self.assertEqual(self.on_disk(os.path.join(self.data_dir, "parts")), 0)
        self.assertEqual(self.app.backend.usage(), (0, 0))
        self.assertEqual(self.app.backend.index.totals(), (0, 0))

    def test_a_part_stored_after_its_upload_ended_is_not_kept(self):
        upload = self.app.unfinished.create("big", "late", {})
        halfway, go_on = threading.Event(), threading.Event()

        class Slow(SizedStream):
            def readinto(self, buffer):
                if self.tell() >= 1000 and not halfway.is_set():
                    halfway.set()
                    go_on.wait(20)
                return super().readinto(buffer[:1000])

        failures = []

        def part() -> None:
            try:
                self.app.unfinished.put_part(upload, 1, Slow(payload(3000, 8)), lambda: "etag", lambda oid: None)
            except BaseException as error:  # asserted below
                failures.append(error)

        writer = threading.Thread(target=part)
        writer.start()
        self.assertTrue(halfway.wait(20))
        self.app.unfinished.remove(upload)  # completed or aborted while the part is stored
        go_on.set()
        writer.join(20)
        self.assertFalse(writer.is_alive())
        self.assertEqual([type(error) for error in failures], [NotFound])
        self.assertEqual(self.app.backend.list(Namespace("parts/" + upload.id)), [])
        self.assertEqual(self.app.backend.usage(), (0, 0))

    def test_an_upload_that_stops_ending_keeps_its_record_and_its_parts_records_together(self):
        upload = self.s3.create_multipart_upload(Bucket="big", Key="k")["UploadId"]
        for number, body in ((1, payload(5 * MIB, 1)), (2, b"tail")):
            self.s3.upload_part(Bucket="big", Key="k", UploadId=upload, PartNumber=number, Body=body)
        found = self.app.unfinished.get("big", upload)
        with mock.patch.object(Parts, "list", side_effect=RuntimeError("stopped")):  # a stop while ending
            with self.assertRaises(RuntimeError):
                self.app.unfinished.remove(found)
        self.assertEqual([part.number for part in self.app.unfinished.parts(upload)], [1, 2])
        self.s3.abort_multipart_upload(Bucket="big", Key="k", UploadId=upload)  # still there to end
        self.assertEqual(list(self.app.records.keys("parts/" + upload + "/")), [])

    def test_fsck_finds_and_repairs_what_a_stop_left_in_parts(self):
        from filestoraged.catalog.unfinished import upload_ids
        from filestoraged.storage.disk.fsck import fsck

        backend = self.app.backend
        ended = self.app.unfinished.create("big", "ended", {})
        self.app.unfinished.put_part(ended, 1, SizedStream(payload(2 * MIB, 1)), lambda: "e", lambda oid: None)
        self.app.unfinished.put_part(ended, 2, SizedStream(payload(1000, 2)), lambda: "e", lambda oid: None)
        self.app.records.delete("s3/uploads/big/" + ended.id)  # stopped before its parts went
        live = self.app.unfinished.create("big", "live", {})
        self.app.unfinished.put_part(live, 1, SizedStream(payload(2 * MIB, 3)), lambda: "e", lambda oid: None)
        laid = "%064x" % (2 * MIB)
        backend.index.remove("parts/" + live.id, laid)  # stopped before the part was counted
        backend.recount()

        def ids():
            return upload_ids(self.app.records)

        report = fsck(backend, live_uploads=ids)
        self.assertEqual(report.ended_uploads, ["parts/" + ended.id])
        self.assertEqual(report.uncounted_parts, ["parts/%s/%s" % (live.id, laid)])
        self.assertFalse(report.clean)
        repaired = fsck(backend, repair=True, live_uploads=ids)
        self.assertEqual(repaired.ended_uploads, ["parts/" + ended.id])
        self.assertFalse(os.path.exists(os.path.join(self.data_dir, "parts", ended.id)))
        self.assertTrue(fsck(backend, live_uploads=ids).clean)
        backend.recount()
        self.assertEqual(backend.usage(), (1, 2 * MIB))  # the live upload's file, counted again

if __name__ == "__main__":
    unittest.main()


class CompletionsUnderTheQuotaTests(S3ApiCase):
    """Six completions of one upload at once with less room left than the
    object's size: each is answered as the first was (200, its ETag), as S3
    answers a completion sent again; none is 507 for bytes that are
    counted already, its parts'."""

    config_overrides = {"s3_api": "127.0.0.1:0", "auth": "all", "max_bytes": 32 * MIB}

    def test_completions_at_once_are_each_answered_as_the_first(self):
        boto3_or_skip(self)
        s3 = self.client()
        s3.create_bucket(Bucket="big")
        s3.put_object(Bucket="big", Key="filler", Body=payload(24 * MIB, 1))
        data = payload(5 * MIB, 2)
        upload = s3.create_multipart_upload(Bucket="big", Key="k")["UploadId"]
        etag = s3.upload_part(Bucket="big", Key="k", UploadId=upload, PartNumber=1, Body=data)["ETag"]
        self.assertEqual(32 * MIB - self.app.backend.usage()[1], 3 * MIB)  # less room than the object
        body = ("<CompleteMultipartUpload><Part><PartNumber>1</PartNumber><ETag>%s</ETag></Part>"
                "</CompleteMultipartUpload>" % etag).encode()
        replies = self.at_once(6, "POST", "/big/k", body, {"uploadId": upload})
        self.assertEqual([reply.status for reply in replies], [200] * 6, replies)
        self.assertEqual(len({reply.body.split(b"<ETag>")[1] for reply in replies}), 1)
        self.assertEqual(s3.get_object(Bucket="big", Key="k")["Body"].read(), data)
