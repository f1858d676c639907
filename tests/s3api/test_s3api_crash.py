"""The S3 API's multipart uploads when the daemon is killed (``kill -9``)
in the middle of a part and in the middle of a completion: nothing is
half visible after the restart (no part that did not end, no key naming a
part of an object), the client goes on where it was, and what the stop
left of uploads' parts is set right by the next start."""

from __future__ import annotations

import fcntl
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import unittest

from filestoraged.records.local import LocalRecords
from filestoraged.storage.disk.layout import FOLDER, stride_file
from filestoraged.storage.object_index import ObjectIndex

from ..s3api_support import REGION, boto3_or_skip
from ..support import MIB, ROOT, Daemon, free_port, payload, sha256, wait_until

PART = 5 * MIB


class KilledMidwayTests(unittest.TestCase):
    def setUp(self) -> None:
        boto3_or_skip(self)
        self.folder = tempfile.mkdtemp(prefix="fsd-s3-crash-")
        self.addCleanup(shutil.rmtree, self.folder, True)
        self.s3_port = free_port()
        self.daemon = Daemon(self.folder, "--s3-api", "127.0.0.1:%d" % self.s3_port, "--auth", "all",
                             "--max-size", "256M", "--workers", "1").start()
        self.addCleanup(self.daemon.stop)
        done = subprocess.run([sys.executable, "-m", "filestoraged", "token", "create", "--scope", "admin", "--s3",
                               "--name", "crash", "--data-dir", self.folder], capture_output=True, text=True,
                              timeout=60, env=dict(os.environ, PYTHONPATH=ROOT))
        said = dict(line.split("=", 1) for line in done.stdout.splitlines() if "=" in line)
        self.key_pair = said["AWS_ACCESS_KEY_ID"], said["AWS_SECRET_ACCESS_KEY"]
        self.client().create_bucket(Bucket="crash")

    def client(self):
        boto3 = boto3_or_skip(self)
        from botocore.config import Config

        return boto3.client("s3", endpoint_url="http://127.0.0.1:%d" % self.s3_port, region_name=REGION,
                            aws_access_key_id=self.key_pair[0], aws_secret_access_key=self.key_pair[1],
                            config=Config(s3={"addressing_style": "path"}, signature_version="s3v4",
                                          retries={"max_attempts": 1}, read_timeout=120))

    def wait_for_writing(self, upload: str, part: int) -> None:
        """Until the daemon writes part ``part`` to its place in the upload's
        file (its claim made) or an object (its file in ``.tmp``)."""
        tmp = os.path.join(self.folder, ".tmp")
        claims = os.path.join(self.folder, "parts", upload, "claims")

        def writing() -> bool:
            laid = os.path.isdir(claims) and any(name.endswith("-%d" % part) for name in os.listdir(claims))
            return laid or any(name.startswith("put-") for name in os.listdir(tmp))

        wait_until(writing, "part %d being written" % part)

    def wait_for_completing(self, upload: str) -> None:
        """Until the daemon reads the parts into their object: the upload's
        file held by the completion (it adopts the file), or an object
        being written (it reads the parts one by one)."""
        tmp = os.path.join(self.folder, ".tmp")
        folder = os.path.join(self.folder, "parts", upload, "00")

        def held() -> bool:
            for name in os.listdir(folder):
                with open(os.path.join(folder, name), "rb") as laid:
                    try:
                        fcntl.flock(laid, fcntl.LOCK_SH | fcntl.LOCK_NB)
                    except BlockingIOError:
                        return True
            return any(name.startswith("put-") for name in os.listdir(tmp))

        wait_until(held, "the completion reading the parts")

    def restart(self) -> None:
        self.daemon.kill()
        self.daemon.start()

    def test_killed_in_the_middle_of_a_part(self):
        s3 = self.client()
        parts = [payload(PART, seed=71), payload(PART, seed=72), b"tail"]
        upload = s3.create_multipart_upload(Bucket="crash", Key="k")["UploadId"]
        first = s3.upload_part(Bucket="crash", Key="k", UploadId=upload, PartNumber=1, Body=parts[0])
        # Part 2 by hand, half sent: the daemon dies while it reads the body.
        url = s3.generate_presigned_url("upload_part", Params={"Bucket": "crash", "Key": "k", "UploadId": upload,
                                                               "PartNumber": 2})
        target = url.split("%d" % self.s3_port, 1)[1]
        with socket.create_connection(("127.0.0.1", self.s3_port), timeout=30) as sock:
            sock.sendall(b"PUT %s HTTP/1.1\r\nHost: 127.0.0.1:%d\r\nContent-Length: %d\r\n\r\n"
                         % (target.encode(), self.s3_port, PART) + parts[1][:PART // 2])
            self.wait_for_writing(upload, 2)  # a body under way, not one never begun
            self.restart()
        listed = s3.list_parts(Bucket="crash", Key="k", UploadId=upload)
        self.assertEqual([part["PartNumber"] for part in listed["Parts"]], [1])  # nothing of the cut part
        second = s3.upload_part(Bucket="crash", Key="k", UploadId=upload, PartNumber=2, Body=parts[1])
        third = s3.upload_part(Bucket="crash", Key="k", UploadId=upload, PartNumber=3, Body=parts[2])
        s3.complete_multipart_upload(Bucket="crash", Key="k", UploadId=upload, MultipartUpload={"Parts": [
            {"PartNumber": n, "ETag": answer["ETag"]} for n, answer in enumerate((first, second, third), start=1)]})
        self.assertEqual(sha256(s3.get_object(Bucket="crash", Key="k")["Body"].read()), sha256(b"".join(parts)))

    def test_killed_in_the_middle_of_a_completion(self):
        s3 = self.client()
        old = b"the object the key named before"
        s3.put_object(Bucket="crash", Key="k", Body=old)
        parts = [payload(16 * MIB, seed=80 + n) for n in range(12)]
        whole = b"".join(parts)
        upload = s3.create_multipart_upload(Bucket="crash", Key="k")["UploadId"]
        done = [{"PartNumber": n, "ETag": s3.upload_part(Bucket="crash", Key="k", UploadId=upload, PartNumber=n,
                                                          Body=data)["ETag"]}
                for n, data in enumerate(parts, start=1)]
        # The completion by hand, so that the daemon can die while it reads 192 MiB of parts.
        url = s3.generate_presigned_url("complete_multipart_upload", Params={"Bucket": "crash", "Key": "k",
                                                                             "UploadId": upload})
        target = url.split("%d" % self.s3_port, 1)[1]
        body = ("<CompleteMultipartUpload>%s</CompleteMultipartUpload>" % "".join(
            "<Part><PartNumber>%d</PartNumber><ETag>%s</ETag></Part>" % (part["PartNumber"], part["ETag"])
            for part in done)).encode()
        with socket.create_connection(("127.0.0.1", self.s3_port), timeout=30) as sock:
            sock.sendall(b"POST %s HTTP/1.1\r\nHost: 127.0.0.1:%d\r\nContent-Length: %d\r\n\r\n"
                         % (target.encode(), self.s3_port, len(body)) + body)
            self.wait_for_completing(upload)  # inside the completion's one pass over the parts
            self.restart()
        got = s3.get_object(Bucket="crash", Key="k")["Body"].read()
        self.assertIn(sha256(got), (sha256(old), sha256(whole)))  # the old object or the new, whole
        if sha256(got) == sha256(old):  # it died before the key moved: the upload is there to finish
            s3.complete_multipart_upload(Bucket="crash", Key="k", UploadId=upload, MultipartUpload={"Parts": done})
            got = s3.get_object(Bucket="crash", Key="k")["Body"].read()
        self.assertEqual(sha256(got), sha256(whole))
        listed = s3.list_objects_v2(Bucket="crash")["Contents"]
        self.assertEqual([entry["Key"] for entry in listed], ["k"])

    def test_what_a_stop_left_of_uploads_parts_is_set_right_by_the_next_start(self):
        s3 = self.client()
        ended = s3.create_multipart_upload(Bucket="crash", Key="ended")["UploadId"]
        for number, data in ((1, payload(PART, seed=90)), (2, b"tail")):
            s3.upload_part(Bucket="crash", Key="ended", UploadId=ended, PartNumber=number, Body=data)
        live = s3.create_multipart_upload(Bucket="crash", Key="live")["UploadId"]
        parts = [payload(PART, seed=91), b"end"]
        done = [{"PartNumber": n, "ETag": s3.upload_part(Bucket="crash", Key="live", UploadId=live, PartNumber=n,
                                                          Body=data)["ETag"]}
                for n, data in enumerate(parts, start=1)]
        self.daemon.kill()
        # Where two kills would land, made by hand: one between an upload's
        # end (its record removed) and its parts' removal, one between a
        # laid-out part's write and its count in the object index.
        records = LocalRecords(os.path.join(self.folder, "meta.db"))
        try:
            self.assertTrue(records.delete("s3/uploads/crash/" + ended))
        finally:
            records.close()
        laid_folder = os.path.join(self.folder, "parts", live, FOLDER)
        [laid] = [name for name in os.listdir(laid_folder) if stride_file(name)]
        index = ObjectIndex(os.path.join(self.folder, "objects.db"))
        try:
            index.remove("parts/" + live, laid)
        finally:
            index.close()
        self.daemon.start()
        wait_until(lambda: not os.path.exists(os.path.join(self.folder, "parts", ended)),
                   "the ended upload's parts removed")

        def passed() -> bool:
            index = ObjectIndex(os.path.join(self.folder, "objects.db"))
            try:
                return not index.wanted()
            finally:
                index.close()

        wait_until(passed, "the start's pass over the store ended")
        checked = subprocess.run([sys.executable, "-m", "filestoraged", "fsck", "--data-dir", self.folder],
                                 capture_output=True, text=True, timeout=120, env=dict(os.environ, PYTHONPATH=ROOT))
        self.assertEqual(checked.returncode, 0, checked.stdout + checked.stderr)  # clean without --repair
        self.assertNotIn("uploads that ended", checked.stdout)
        self.assertNotIn("not counted", checked.stdout)
        s3.complete_multipart_upload(Bucket="crash", Key="live", UploadId=live, MultipartUpload={"Parts": done})
        self.assertEqual(sha256(s3.get_object(Bucket="crash", Key="live")["Body"].read()), sha256(b"".join(parts)))


if __name__ == "__main__":
    unittest.main()
