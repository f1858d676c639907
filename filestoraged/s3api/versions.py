"""How an S3 answer says which version of a key it gave or made
(``x-amz-version-id``); which one a read names is ``BucketHandle.read``'s."""

from __future__ import annotations

from typing import Dict

from ..catalog.buckets import Bucket
from ..catalog.keys import Entry
from ..catalog.heads import label


def version_header(bucket: Bucket, entry: Entry) -> Dict[str, str]:
    """``x-amz-version-id`` of what a read gives, where the bucket keeps
    versions (or kept them)."""
    return {"x-amz-version-id": label(entry)} if bucket.versioning or entry.version else {}


def written_header(entry: Entry) -> Dict[str, str]:
    """``x-amz-version-id`` of what a write made: only a version with an id
    of its own (a write into a suspended bucket makes the null version, and
    S3 then says nothing of it)."""
    return {"x-amz-version-id": entry.version} if entry.version else {}
