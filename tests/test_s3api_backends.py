"""The S3 API over the memcached and S3 backends: its object, listing,
removal and multipart tests (``test_s3api``, on the disk backend there)
run again over each, as the ``/files`` and ``/data`` suites do."""

from __future__ import annotations

import unittest

from . import test_s3api as on_disk
from .test_memcached_http import MemcachedServerCase
from .test_s3 import S3ServerCase

S3_API = {"s3_api": "127.0.0.1:0", "auth": "all"}


class MemcachedObjectTests(on_disk.ObjectTests, MemcachedServerCase):
    config_overrides = dict(S3_API, backend="memcached")


class MemcachedRemovalTests(on_disk.RemovalTests, MemcachedServerCase):
    config_overrides = dict(S3_API, backend="memcached")


class MemcachedMultipartTests(on_disk.MultipartTests, MemcachedServerCase):
    config_overrides = dict(S3_API, backend="memcached")


class S3ObjectTests(on_disk.ObjectTests, S3ServerCase):
    config_overrides = dict(S3_API, backend="s3")


class S3RemovalTests(on_disk.RemovalTests, S3ServerCase):
    config_overrides = dict(S3_API, backend="s3")


class S3MultipartTests(on_disk.MultipartTests, S3ServerCase):
    config_overrides = dict(S3_API, backend="s3")


if __name__ == "__main__":
    unittest.main()
