"""``bucket``: a bucket's quota set or removed, and what each bucket
holds, from the command line, beside a serving daemon. The quota lives in
the bucket's record, which every worker reads; the bytes in the disk
store's object index (``storage.object_index``), which every write
changes."""

from __future__ import annotations

import os
import sys
from contextlib import closing
from typing import List, Optional

from ..errors import FileStoreError, NotFound
from .opened import open_records

USAGE = """usage: filestoraged bucket quota NAME SIZE      (SIZE: bytes, or with K, M, G, T: 500M, 20G)
       filestoraged bucket quota NAME none      (no quota)
       filestoraged bucket usage [NAME]"""


def run_bucket(config) -> int:
    from ..catalog.buckets import Buckets

    if config.backend != "disk":
        print("filestoraged bucket: bucket quotas are kept by the disk backend; this store's is %s"
              % config.backend, file=sys.stderr)
        return 1
    records = open_records(config)
    if isinstance(records, int):
        return records
    try:
        done = _bucket(config, Buckets(records), list(config.words))
    except FileStoreError as error:
        print("filestoraged bucket: %s" % error.text, file=sys.stderr)
        return 1
    finally:
        records.close()
    if done is None:
        print(USAGE, file=sys.stderr)
        return 2
    return done


def _bucket(config, buckets, words: List[str]) -> Optional[int]:
    action, names = (words[0], words[1:]) if words else ("", [])
    if action == "quota" and len(names) == 2:
        bucket = buckets.require(names[0])
        quota = None if names[1].lower() == "none" else _size(names[1])
        buckets.set_quota(bucket, quota)
        print("bucket %s: %s" % (bucket.name, "no quota" if quota is None else "quota %d bytes" % quota))
        return 0
    if action == "usage" and len(names) <= 1:
        listed = [buckets.require(names[0])] if names else buckets.all()
        print("bucket\tstored\tbeing written\tquota")
        with _index(config) as index:
            for bucket in listed:
                stored, held = index.bucket_bytes(bucket.name)
                print("%s\t%d\t%d\t%s" % (bucket.name, stored, held, "-" if bucket.quota is None else bucket.quota))
        return 0
    return None


def _size(text: str) -> int:
    from ..console.settings import quota_of

    return quota_of(text)


def _index(config):
    from ..storage.disk.indexing import index_path
    from ..storage.object_index import ObjectIndex

    path = index_path(config.data_dir)
    if not os.path.exists(path):
        raise NotFound("no object index at %s: has a daemon served this data directory?" % path)
    return closing(ObjectIndex(path))
