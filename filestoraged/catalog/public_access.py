"""Block Public Access: what may make a bucket or its objects public, as
S3 has it, in four settings, asked by every face that could (the S3 API,
the console):

- ``BlockPublicAcls``: a public canned ACL is refused (on a write, or
  PutBucketAcl/PutObjectAcl);
- ``IgnorePublicAcls``: public ACLs kept already open nothing;
- ``BlockPublicPolicy``: a public bucket policy is refused;
- ``RestrictPublicBuckets``: a public policy kept already lets no
  anonymous caller in.

The store's own default is all four on; ``--s3-public-acls`` turns them
off for the store. A bucket's configuration (``s3api.public_access``:
Put/Get/DeletePublicAccessBlock) turns any of them on for that bucket:
the stricter of the two holds, as AWS's account and bucket settings do.
A refusal says which one refused.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Dict, Optional

from .buckets import Bucket

SETTINGS = ("BlockPublicAcls", "IgnorePublicAcls", "BlockPublicPolicy", "RestrictPublicBuckets")


@dataclass(frozen=True)
class PublicAccess:
    """The settings as they hold for one bucket: ``store``, the store
    blocks (``--s3-public-acls`` off), and the bucket's own."""

    store: bool
    bucket: Dict[str, bool] = field(default_factory=dict)

    def blocks(self, setting: str) -> bool:
        return self.store or self.bucket.get(setting, False)

    def why(self, setting: str) -> str:
        """What refused, as a refusal names it."""
        if self.store:
            return "public access is off on this server (--s3-public-acls)"
        return "the bucket's public access block (%s) refuses it" % setting


def public_access(config, bucket: Optional[Bucket]) -> PublicAccess:
    """The settings for ``bucket`` (None: a bucket being made)."""
    return PublicAccess(not config.s3_public_acls, dict(bucket.public_block or {}) if bucket is not None else {})
