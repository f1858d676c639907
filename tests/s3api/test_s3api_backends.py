"""The S3 API over the memcached and S3 backends: its object, removal and
multipart tests (``test_s3api``, on the disk backend there) run again over
each, as the ``/files`` and ``/data`` suites do."""

from __future__ import annotations

import unittest
from unittest import mock

from filestoraged.catalog.parts import Parts

from . import test_s3api as on_disk
from ..s3api_support import BotoCase
from ..faces.test_memcached_http import MemcachedServerCase
from ..storage.test_s3 import S3ServerCase

S3_API = {"s3_api": "127.0.0.1:0", "auth": "all"}
# Each backend's case comes first in a class's bases: its settings and its
# backend win over the S3 API case's defaults.


class _OnMemcached(MemcachedServerCase):
    config_overrides = dict(S3_API, backend="memcached")


class _OnS3(S3ServerCase):
    config_overrides = dict(S3_API, backend="s3")


class MemcachedObjectTests(_OnMemcached, on_disk.ObjectTests):
    pass


class MemcachedRemovalTests(_OnMemcached, on_disk.RemovalTests):
    pass


class MemcachedMultipartTests(_OnMemcached, on_disk.MultipartTests):
    pass


class S3ObjectTests(_OnS3, on_disk.ObjectTests):
    pass


class S3RemovalTests(_OnS3, on_disk.RemovalTests):
    pass


class S3MultipartTests(_OnS3, on_disk.MultipartTests):
    pass


class S3EndedUploadTests(_OnS3, BotoCase):
    def test_parts_a_stop_kept_after_their_uploads_end_come_off_its_buckets_quota(self):
        """The S3 store keeps no count: the bucket's ledger does, and the
        parts removed at the next start are taken off it there, though no
        process of the new run saw the upload (its mark names the bucket)."""
        self.admin.create_bucket(Bucket="big")
        self.app.quotas.set_bucket_quota(self.app.buckets.get("big"), 64 * 1024 * 1024)
        upload = self.admin.create_multipart_upload(Bucket="big", Key="k")["UploadId"]
        for number, body in ((1, b"a" * 5 * 1024 * 1024), (2, b"tail")):
            self.admin.upload_part(Bucket="big", Key="k", UploadId=upload, PartNumber=number, Body=body)
        self.assertEqual(self.app.backend.buckets.count("big"), (5 * 1024 * 1024 + 4, 0))
        ended = self.app.unfinished.get("big", upload)
        with mock.patch.object(Parts, "discard", side_effect=RuntimeError("stopped")):  # the stop
            with self.assertRaises(RuntimeError):
                self.app.unfinished.remove(ended)  # aborted
        self.restart_server()
        self.assertEqual(self.app.backend.buckets.count("big"), (0, 0))


if __name__ == "__main__":
    unittest.main()
