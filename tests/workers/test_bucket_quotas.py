"""A bucket's quota (``filestoraged bucket quota``) under a daemon of two
workers: 32 uploads at once through S3, ``/data``, WebDAV and multipart
never take the bucket past it (sampled while they run), every upload
answered 2xx reads back and every refused one left nothing; a body whose
length passes what is left is refused before it is sent; a delete gives
its room back at once, and older versions count until they go; ``bucket usage`` says what the bucket holds.
The same for the quota of an owner of several buckets, over all of them."""

from __future__ import annotations

import base64
import hashlib
import http.client
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import unittest
from concurrent.futures import ThreadPoolExecutor
from typing import Callable, List, Optional, Tuple

from filestoraged.storage.disk.indexing import index_path
from filestoraged.storage.object_index import ObjectIndex

from ..support import Daemon, daemon_workers, exchange, free_port, kept_and_refused, sampled_while, wait_until

KIB = 1024
QUOTA = 2 * 1024 * KIB
BODY = 200 * KIB  # ten fit, eleven do not
FACES = ["s3", "data", "webdav", "multipart"]


def request(port: int, method: str, path: str, body: bytes = b"", headers=None) -> Tuple[int, bytes]:
    return exchange(port, method, path, body, headers, timeout=60)


class QuotaCase(unittest.TestCase):
    """A daemon of two workers with an S3 port and a bucket ``photos``."""

    def setUp(self) -> None:
        self.data_dir = tempfile.mkdtemp(prefix="fsd-bucket-quota-")
        self.addCleanup(shutil.rmtree, self.data_dir, True)
        self.s3_port = free_port()
        self.daemon = Daemon(self.data_dir, "--workers", "2", "--s3-api", "127.0.0.1:%d" % self.s3_port).start()
        self.addCleanup(self.daemon.stop)
        wait_until(lambda: len(daemon_workers(self.daemon.process.pid)) == 2, "two workers run")
        self.port = self.daemon.port
        self.assertEqual(request(self.s3_port, "PUT", "/photos")[0], 200)
        self.index = ObjectIndex(index_path(self.data_dir))
        self.addCleanup(self.index.close)

    def cli(self, *words: str) -> subprocess.CompletedProcess:
        return subprocess.run([sys.executable, "-m", "filestoraged", "bucket", *words, "--data-dir", self.data_dir],
                              capture_output=True, text=True, timeout=60)

    def upload(self, face: str, number: int, body: bytes, bucket: str = "photos") -> Tuple[str, int]:
        """One upload of ``body`` through ``face`` into ``bucket``; (its key or id, the status)."""
        key = "f%03d" % number
        if face == "s3":
            return key, request(self.s3_port, "PUT", "/%s/%s" % (bucket, key), body)[0]
        if face == "webdav":
            return key, request(self.port, "PUT", "/dav/%s/%s" % (bucket, key), body)[0]
        if face == "data":
            return hashlib.sha256(body).hexdigest(), request(self.port, "PUT", "/data/" + bucket, body)[0]
        status, reply = request(self.s3_port, "POST", "/%s/%s?uploads" % (bucket, key))  # multipart, one part
        if status != 200:
            return key, status
        upload_id = reply.split(b"<UploadId>")[1].split(b"</UploadId>")[0].decode()
        at = "/%s/%s?uploadId=%s" % (bucket, key, upload_id)
        status, reply = request(self.s3_port, "PUT", "/%s/%s?partNumber=1&uploadId=%s" % (bucket, key, upload_id),
                                body)
        if status != 200:
            request(self.s3_port, "DELETE", at)
            return key, status
        etag = http_etag(reply, body)
        done = ("<CompleteMultipartUpload><Part><PartNumber>1</PartNumber><ETag>%s</ETag></Part>"
                "</CompleteMultipartUpload>" % etag).encode()
        status = request(self.s3_port, "POST", at, done)[0]
        if status != 200:
            request(self.s3_port, "DELETE", at)
        return key, status

    def upload_at_once(self, buckets: List[str], total: Callable[[], int]) -> Tuple[List[bytes], List[Tuple[str, int]]]:
        """32 uploads of ``BODY`` at once, through four faces, into
        ``buckets`` in turn, while ``total()`` (what the quota counts) is
        sampled: never above ``QUOTA``. The bodies and the outcomes."""
        bodies = [os.urandom(BODY) for _ in range(32)]

        def uploads() -> List[Tuple[str, int]]:
            with ThreadPoolExecutor(32) as pool:
                return list(pool.map(lambda n: self.upload(FACES[n % 4], n, bodies[n], buckets[n // 4 % len(buckets)]),
                                     range(32)))

        outcomes, samples = sampled_while(total, uploads)
        self.assertTrue(samples)
        self.assertLessEqual(max(samples), QUOTA)
        return bodies, outcomes

    def check_kept(self, bodies: List[bytes], outcomes: List[Tuple[str, int]], buckets: List[str]) -> List[int]:
        """Every upload answered 2xx reads back, every refused one was a 507
        and left nothing; the numbers of those kept."""
        kept, refused = kept_and_refused(self, outcomes)
        # Near the quota some are refused while others hold room: a multipart
        # upload's part of 200 KiB (no multiple of 512 KiB, so not laid out
        # in one file) is completed by a copy that needs room while the part
        # still counts (docs/quotas.md).
        self.assertGreaterEqual(len(kept), 7, outcomes)
        self.assertLessEqual(len(kept), 10)
        for n in kept:
            name, bucket = outcomes[n][0], buckets[n // 4 % len(buckets)]
            path = "/data/%s/%s" % (bucket, name) if FACES[n % 4] == "data" else None
            status, body = request(self.port, "GET", path) if path else \
                request(self.s3_port, "GET", "/%s/%s" % (bucket, name))
            self.assertEqual((status, hashlib.sha256(body).hexdigest()), (200, hashlib.sha256(bodies[n]).hexdigest()))
        for n in refused:
            bucket = buckets[n // 4 % len(buckets)]
            self.assertEqual(request(self.port, "GET", "/data/%s/%s" % (bucket, hashlib.sha256(bodies[n]).hexdigest())
                                     )[0], 404)
        return kept



class BucketQuotaTests(QuotaCase):
    def setUp(self) -> None:
        super().setUp()
        self.assertEqual(self.cli("quota", "photos", "2M").returncode, 0)

    def test_32_uploads_at_once_through_four_faces_never_pass_the_quota(self):
        bodies, outcomes = self.upload_at_once(["photos"], lambda: sum(self.index.bucket_bytes("photos")))
        kept = self.check_kept(bodies, outcomes, ["photos"])
        stored, held = self.index.bucket_bytes("photos")
        self.assertEqual((stored, held), (len(kept) * BODY, 0))
        listed = self.cli("usage", "photos")
        self.assertEqual(listed.stdout.splitlines()[1].split("\t"), ["photos", str(stored), "0", str(QUOTA), "-"])
        metrics = request(self.port, "GET", "/metrics")[1].decode()
        self.assertIn('filestoraged_bucket_bytes_stored{bucket="photos"} %d\n' % stored, metrics)
        self.assertIn('filestoraged_bucket_quota_bytes{bucket="photos"} %d\n' % QUOTA, metrics)

    def test_a_body_longer_than_the_room_left_is_refused_before_it_is_sent(self):
        self.assertEqual(request(self.s3_port, "PUT", "/photos/first", os.urandom(QUOTA - 100 * KIB))[0], 200)
        for port, path in ((self.s3_port, "/photos/big"), (self.port, "/data/photos"), (self.port, "/dav/photos/big")):
            for expect in (b"Expect: 100-continue\r\n", b""):
                with self.subTest(path=path, expect=expect), \
                        socket.create_connection(("127.0.0.1", port), timeout=10) as conn:
                    conn.sendall(b"PUT %s HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: %d\r\n%s\r\n"
                                 % (path.encode(), 200 * KIB, expect))  # and not a byte of the body
                    answer = conn.recv(65536)
                    self.assertTrue(answer.startswith(b"HTTP/1.1 507 "), answer[:300])
                    self.assertIn(b"photos", answer)
        self.assertEqual(self.index.bucket_bytes("photos"), (QUOTA - 100 * KIB, 0))

    def test_a_delete_gives_its_room_back_at_once_and_a_bucket_without_quota_takes_anything(self):
        bodies = [os.urandom(BODY) for _ in range(10)]
        for number, body in enumerate(bodies):
            if number % 2:
                self.assertEqual(request(self.port, "PUT", "/data/photos", body)[0], 201)
            else:
                self.assertEqual(request(self.s3_port, "PUT", "/photos/k%d" % number, body)[0], 200)
        self.assertEqual(request(self.s3_port, "PUT", "/photos/over", os.urandom(BODY))[0], 507)
        self.assertEqual(request(self.s3_port, "DELETE", "/photos/k0")[0], 204)  # a key: its bytes go at once
        self.assertEqual(request(self.s3_port, "PUT", "/photos/over", os.urandom(BODY))[0], 200)
        self.assertEqual(request(self.s3_port, "PUT", "/photos/over2", os.urandom(BODY))[0], 507)
        self.assertEqual(request(self.port, "DELETE", "/data/photos/" + hashlib.sha256(bodies[1]).hexdigest())[0],
                         200)
        self.assertEqual(request(self.s3_port, "PUT", "/photos/over2", os.urandom(BODY))[0], 200)
        self.assertEqual(request(self.s3_port, "PUT", "/photos/k2", os.urandom(BODY))[0], 507)  # a replacement
        self.assertEqual(request(self.s3_port, "PUT", "/photos/k2", os.urandom(BODY // 5))[0], 200)  # room for the new
        self.assertEqual(self.index.bucket_bytes("photos"), (9 * BODY + BODY // 5, 0))  # the old k2 went
        self.assertEqual(request(self.s3_port, "PUT", "/other")[0], 200)
        self.assertEqual(request(self.s3_port, "PUT", "/other/big", os.urandom(3 * QUOTA))[0], 200)
        self.assertEqual(self.cli("quota", "photos", "none").returncode, 0)
        self.assertEqual(request(self.s3_port, "PUT", "/photos/more", os.urandom(BODY))[0], 200)
        refused = self.cli("quota", "nothing", "1M")
        self.assertEqual(refused.returncode, 1)
        self.assertIn("no bucket nothing", refused.stderr)

    def test_in_a_versioned_bucket_older_versions_count_until_they_are_deleted(self):
        self.assertEqual(request(self.s3_port, "PUT", "/photos?versioning",
                                 b'<VersioningConfiguration><Status>Enabled</Status></VersioningConfiguration>')[0],
                         200)
        for _ in range(10):
            self.assertEqual(request(self.s3_port, "PUT", "/photos/same", os.urandom(BODY))[0], 200)
        self.assertEqual(request(self.s3_port, "PUT", "/photos/same", os.urandom(BODY))[0], 507)
        self.assertEqual(request(self.s3_port, "DELETE", "/photos/same")[0], 204)  # a marker: nothing goes
        self.assertEqual(request(self.s3_port, "PUT", "/photos/other", os.urandom(BODY))[0], 507)
        status, listing = request(self.s3_port, "GET", "/photos?versions")
        oldest = listing.split(b"<VersionId>")[-1].split(b"</VersionId>")[0].decode()
        self.assertEqual(request(self.s3_port, "DELETE", "/photos/same?versionId=" + oldest)[0], 204)
        self.assertEqual(request(self.s3_port, "PUT", "/photos/other", os.urandom(BODY))[0], 200)


    def test_an_unfinished_resumable_upload_holds_its_whole_length_until_it_ends(self):
        def create(key: str, length: int) -> Tuple[int, str]:
            metadata = ",".join("%s %s" % (name, base64.b64encode(value.encode()).decode())
                                for name, value in (("target", "s3"), ("bucket", "photos"), ("key", key)))
            conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=30)
            try:
                conn.request("POST", "/uploads", headers={"Tus-Resumable": "1.0.0", "Upload-Length": str(length),
                                                          "Upload-Metadata": metadata})
                response = conn.getresponse()
                response.read()
                return response.status, response.getheader("Location") or ""
            finally:
                conn.close()

        status, _ = create("too-big", QUOTA + 1)
        self.assertEqual(status, 507)  # refused when made: its length is known
        status, location = create("big", 8 * BODY)
        self.assertEqual(status, 201)
        path = location.split("127.0.0.1:%d" % self.port)[-1]
        self.assertEqual(self.index.bucket_bytes("photos"), (0, 8 * BODY))
        self.assertEqual(request(self.s3_port, "PUT", "/photos/a", os.urandom(BODY))[0], 200)
        self.assertEqual(request(self.s3_port, "PUT", "/photos/b", os.urandom(BODY))[0], 200)
        self.assertEqual(request(self.s3_port, "PUT", "/photos/c", os.urandom(BODY))[0], 507)  # the upload holds room
        body = os.urandom(8 * BODY)
        for start in (0, 4 * BODY):  # in two pieces, each in either worker
            self.assertEqual(request(self.port, "PATCH", path, body[start:start + 4 * BODY],
                                     {"Tus-Resumable": "1.0.0", "Upload-Offset": str(start),
                                      "Content-Type": "application/offset+octet-stream"})[0], 204)
        self.assertEqual(request(self.s3_port, "GET", "/photos/big")[1], body)  # stored with no room asked again
        self.assertEqual(self.index.bucket_bytes("photos"), (10 * BODY, 0))
        self.assertEqual(request(self.s3_port, "DELETE", "/photos/big")[0], 204)
        status, location = create("again", 8 * BODY)
        self.assertEqual(status, 201)
        self.assertEqual(request(self.port, "DELETE", location.split("127.0.0.1:%d" % self.port)[-1], b"",
                                 {"Tus-Resumable": "1.0.0"})[0], 204)  # given up: its room back
        self.assertEqual(self.index.bucket_bytes("photos"), (2 * BODY, 0))


class OwnerQuotaTests(QuotaCase):
    """A quota of a bucket's owner (``bucket owner``, ``bucket owner-quota``):
    all the owner's buckets together."""

    def setUp(self) -> None:
        super().setUp()
        for name in ("albums", "other"):
            self.assertEqual(request(self.s3_port, "PUT", "/" + name)[0], 200)
        for words in (("owner", "photos", "ana"), ("owner", "albums", "ana"), ("owner-quota", "ana", "2M")):
            done = self.cli(*words)
            self.assertEqual(done.returncode, 0, done.stderr)

    def test_32_uploads_at_once_into_two_buckets_of_one_owner_never_pass_the_owners_quota(self):
        mine = ["photos", "albums"]
        bodies, outcomes = self.upload_at_once(mine, lambda: sum(self.index.owner_bytes(tuple(mine))))
        kept = self.check_kept(bodies, outcomes, mine)
        self.assertEqual(self.index.owner_bytes(tuple(mine)), (len(kept) * BODY, 0))
        self.assertEqual(sum(self.index.bucket_bytes(name)[0] for name in mine), len(kept) * BODY)
        owners = self.cli("owners").stdout.splitlines()
        self.assertEqual(owners[1].split("\t"), ["ana", str(len(kept) * BODY), "0", str(QUOTA), "albums,photos"])
        metrics = request(self.port, "GET", "/metrics")[1].decode()
        self.assertIn('filestoraged_owner_bytes_stored{owner="ana"} %d\n' % (len(kept) * BODY), metrics)
        self.assertIn('filestoraged_owner_quota_bytes{owner="ana"} %d\n' % QUOTA, metrics)

    def test_a_bucket_given_away_takes_its_bytes_along_and_one_of_nobodys_takes_anything(self):
        for number in range(10):
            self.assertEqual(request(self.s3_port, "PUT", "/photos/k%d" % number, os.urandom(BODY))[0], 200)
        status, said = request(self.s3_port, "PUT", "/albums/k", os.urandom(BODY))
        self.assertEqual(status, 507)  # an empty bucket of hers: her quota is spent
        self.assertIn(b"the quota of ana, the owner of the bucket albums", said)
        self.assertEqual(request(self.s3_port, "PUT", "/other/big", os.urandom(3 * QUOTA))[0], 200)
        self.assertEqual(self.cli("owner", "photos", "bob").returncode, 0)  # photos is bob's now, and bob has no quota
        self.assertEqual(request(self.s3_port, "PUT", "/albums/k", os.urandom(BODY))[0], 200)
        self.assertEqual(request(self.s3_port, "PUT", "/photos/more", os.urandom(BODY))[0], 200)
        self.assertEqual(self.cli("owner-quota", "ana", "none").returncode, 0)
        self.assertEqual(request(self.s3_port, "PUT", "/albums/big", os.urandom(3 * QUOTA))[0], 200)
        refused = self.cli("owner", "photos", "not a name")
        self.assertEqual(refused.returncode, 1)
        self.assertIn("owner's name", refused.stderr)


def http_etag(reply: bytes, body: bytes) -> Optional[str]:
    """The ETag an UploadPart answered (in its headers: taken from the body's MD5, as S3 makes it)."""
    return '"%s"' % hashlib.md5(body).hexdigest()


if __name__ == "__main__":
    unittest.main()
