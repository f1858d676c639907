"""``bucket``: a bucket's quota and owner, an owner's quota, set or
removed, and what each bucket and each owner holds, from the command line,
beside a serving daemon. The quotas and owners live in the records, which
every worker reads; the bytes in the disk store's object index
(``storage.object_index``), which every write changes."""

from __future__ import annotations

import os
import sys
from contextlib import closing, nullcontext
from typing import List, Optional

from ..access.teams import named
from ..errors import FileStoreError, NotFound
from .opened import open_records

USAGE = """usage: filestoraged bucket quota NAME SIZE        (SIZE: bytes, or with K, M, G, T: 500M, 20G)
       filestoraged bucket quota NAME none        (no quota)
       filestoraged bucket owner NAME OWNER       (a user's or a token's name; none: nobody)
       filestoraged bucket owner-quota OWNER SIZE (all OWNER's buckets together; none: no quota)
       filestoraged bucket usage [NAME]
       filestoraged bucket owners"""


def run_bucket(config) -> int:
    from ..catalog.buckets import Buckets

    records = open_records(config)
    if isinstance(records, int):
        return records
    try:
        done = _bucket(config, records, Buckets(records), list(config.words))
    except FileStoreError as error:
        print("filestoraged bucket: %s" % error.text, file=sys.stderr)
        return 1
    finally:
        records.close()
    if done is None:
        print(USAGE, file=sys.stderr)
        return 2
    return done


def _bucket(config, records, buckets, words: List[str]) -> Optional[int]:
    action, names = (words[0], words[1:]) if words else ("", [])
    disk = config.backend == "disk"
    if action in ("owner", "owner-quota", "owners") and not disk:
        raise FileStoreError("an owner's quota is kept by the disk backend; this store's is %s" % config.backend)
    if action == "quota" and len(names) == 2:
        bucket = buckets.require(names[0])
        quota = None if names[1].lower() == "none" else _size(names[1])
        buckets.set_quota(bucket, quota)
        said = "no quota" if quota is None else "quota %d bytes" % quota
        if not disk and quota is not None:  # counted in the records: counted afresh now, from a listing
            said += ", %d stored" % _counted_afresh(config, records, bucket.name, quota)
        elif not disk:
            _ledger(records).forget(bucket.name)
        print("bucket %s: %s" % (bucket.name, said))
        return 0
    if action == "owner" and len(names) == 2:
        bucket = buckets.require(names[0])
        owner = None if names[1].lower() == "none" else named("owner", names[1])
        buckets.set_owner(bucket, owner)
        print("bucket %s: %s" % (bucket.name, "no owner" if owner is None else "owned by %s" % owner))
        return 0
    if action == "owner-quota" and len(names) == 2:
        owner = named("owner", names[0])
        quota = None if names[1].lower() == "none" else _size(names[1])
        buckets.set_owner_quota(owner, quota)
        print("owner %s: %s" % (owner, "no quota" if quota is None else "quota %d bytes" % quota))
        return 0
    if action == "usage" and len(names) <= 1:
        listed = [buckets.require(names[0])] if names else buckets.all()
        print("bucket\tstored\tbeing written\tquota\towner")
        with (_index(config) if disk else nullcontext()) as index:
            for bucket in listed:
                if index is not None:
                    stored, held = index.bucket_bytes(bucket.name)
                elif bucket.quota is not None:
                    stored, held = _ledger(records).count(bucket.name)
                else:  # counted in the records only once it has a quota
                    stored = held = None
                print("%s\t%s\t%s\t%s\t%s" % (bucket.name, _or_dash(stored), _or_dash(held), _or_dash(bucket.quota),
                                              _or_dash(bucket.owner)))
        return 0
    if action == "owners" and not names:
        owned, quotas = buckets.owners()
        print("owner\tstored\tbeing written\tquota\tbuckets")
        with _index(config) as index:
            for owner in sorted(set(owned) | set(quotas)):
                mine = owned.get(owner, ())
                stored, held = index.owner_bytes(mine) if mine else (0, 0)
                print("%s\t%d\t%d\t%s\t%s" % (owner, stored, held, _or_dash(quotas.get(owner)),
                                              ",".join(mine) or "-"))
        return 0
    return None


def _ledger(records):
    from ..holds.ledger import Ledger

    return Ledger(records)


def _counted_afresh(config, records, bucket: str, quota: int) -> int:
    """A bucket's bytes counted in the records afresh, from a listing of
    the store (its repository and its unfinished uploads' parts)."""
    from ..app import make_backend
    from ..catalog.unfinished import Unfinished
    from ..holds.ledgered import LedgeredBackend

    ledger = _ledger(records)
    backend = LedgeredBackend(make_backend(config), ledger)
    try:
        backend.quota_changed(bucket, quota, Unfinished(records, backend).namespaces_of(bucket))
        return ledger.count(bucket)[0]
    finally:
        backend.close()


def _or_dash(value) -> str:
    return "-" if value is None else str(value)


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
