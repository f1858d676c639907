"""Which version of a key an S3 request names, and how an answer says
which one it gave: the current one, or the one ``versionId`` names (a
delete marker's is ``405``; a plain read of a key whose newest version is
a delete marker says so in its ``404``), as S3 answers.
"""

from __future__ import annotations

from email.utils import formatdate
from typing import Dict, Optional

from ..catalog.buckets import Bucket
from ..catalog.keys import Entry
from ..catalog.versions import Version, label
from ..errors import MethodNotAllowed, NotFound


def read_entry(app, bucket: Bucket, key: str, version_id: Optional[str]) -> Entry:
    """The object a read names: the key's current one, or with
    ``version_id`` that version. ``NotFound`` (NoSuchKey, NoSuchVersion);
    a delete marker is ``MethodNotAllowed`` by its id, and makes a plain
    read's 404 say so (``x-amz-delete-marker``), as in S3."""
    found = app.keyspace.get(bucket.name, key, version_id)
    if isinstance(found, Version):
        if found.entry is None:
            raise MethodNotAllowed(["DELETE"], "the version %s is a delete marker" % found.id).as_s3(
                "MethodNotAllowed", headers={"x-amz-delete-marker": "true", "x-amz-version-id": found.id,
                                             "Last-Modified": formatdate(int(found.modified), usegmt=True)})
        return found.entry
    if found is not None:
        return found
    if version_id is not None:
        raise NotFound("no version %s of key %s" % (version_id, key[:200])).as_s3("NoSuchVersion")
    newest = app.versions.of(bucket.name, key, 1) if bucket.versioning else []
    headers = {"x-amz-delete-marker": "true", "x-amz-version-id": newest[0].id} if newest and newest[0].marker else {}
    raise NotFound("no key %s in bucket %s" % (key[:200], bucket.name)).as_s3("NoSuchKey", headers=headers)


def version_header(bucket: Bucket, entry: Entry) -> Dict[str, str]:
    """``x-amz-version-id`` of what a read gives, where the bucket keeps
    versions (or kept them)."""
    return {"x-amz-version-id": label(entry)} if bucket.versioning or entry.version else {}


def written_header(entry: Entry) -> Dict[str, str]:
    """``x-amz-version-id`` of what a write made: only a version with an id
    of its own (a write into a suspended bucket makes the null version, and
    S3 then says nothing of it)."""
    return {"x-amz-version-id": entry.version} if entry.version else {}
