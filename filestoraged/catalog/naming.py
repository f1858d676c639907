"""A key made to name an entry in its bucket, the one way every writer of
keys does it (a PUT, a copy, a completed multipart upload): the bytes
claimed by the key (``claims``), the key's record written under the PUT's
conditions (``keys``), then the bucket seen to still stand (``buckets``):
a bucket deleted, or being deleted, while the key was written takes the
key back, so no key outlives its bucket and comes back with a bucket made
again under its name.
"""

from __future__ import annotations

from typing import Optional

from ..errors import NotFound
from .buckets import Bucket, Buckets
from .claims import Claims
from .keys import Entry, Keys


def name_key(claims: Claims, keys: Keys, buckets: Buckets, bucket: Bucket, key: str, entry: Entry,
             if_match: Optional[str] = None, if_none_match: bool = False) -> Optional[Entry]:
    """Make ``key`` of ``bucket`` (as looked up when the request began)
    name ``entry``, whose bytes the caller holds pinned; the entry it named
    before (None: none), whose claim the caller lets go once unpinned.
    ``PreconditionFailed`` as ``Keys.put``; ``NotFound`` (NoSuchBucket) if
    the bucket went meanwhile, with nothing kept."""
    named = claims.name(bucket.name, entry.oid, key)
    try:
        replaced = keys.put(bucket.name, key, entry, if_match, if_none_match)
    except BaseException:
        if named:
            claims.unname(bucket.name, entry.oid, key)
        raise
    if not buckets.holds(bucket):
        keys.take_back(bucket.name, key, entry, replaced)
        if named:
            claims.unname(bucket.name, entry.oid, key)
        raise NotFound("the bucket %s was deleted while the key was written" % bucket.name).as_s3("NoSuchBucket")
    return replaced
