"""The S3 API over the memcached and S3 backends: its object, removal and
multipart tests (``test_s3api``, on the disk backend there) run again over
each, as the ``/files`` and ``/data`` suites do."""

from __future__ import annotations

import unittest

from . import test_s3api as on_disk
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


if __name__ == "__main__":
    unittest.main()
