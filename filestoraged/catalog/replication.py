"""A bucket's replication rule: where its new versions are copied (an S3
target: its endpoint, bucket and region, and the file its credentials are
read from, which never enter the records), which keys (a prefix, and tags
a version must have), and whether delete markers go too (never with tags
asked for: a marker has none). Deletes of a version by its id never do:
a thief at the source cannot empty the copy.

Kept in the bucket's record (``Buckets.set_replication``) as
``{"endpoint", "bucket", "region", "credentials", "prefix", "markers", "tags"}``.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Dict, Optional, Tuple
from urllib.parse import urlsplit

from ..errors import BadRequest

# A version's replication status, as S3 says it (FAILED: the target refused it for good).
PENDING, COMPLETED, FAILED = "PENDING", "COMPLETED", "FAILED"


@dataclass(frozen=True)
class Rule:
    endpoint: str  # http(s)://host[:port] of the S3 target
    bucket: str  # the target's bucket
    region: str
    credentials: str  # the file that holds AWS_ACCESS_KEY_ID= and AWS_SECRET_ACCESS_KEY= lines
    prefix: str = ""
    markers: bool = False  # delete markers (deletes without a version id) sent too
    tags: Tuple[Tuple[str, str], ...] = ()  # the tags a version must have to be copied (all of them)

    def applies(self, key: str, tags: Optional[Dict[str, str]] = None) -> bool:
        """Whether the rule copies ``key`` (with ``tags``: a version having them; None: any)."""
        if not key.startswith(self.prefix):
            return False
        return tags is None or all(tags.get(name) == value for name, value in self.tags)

    def sends_markers(self, key: str) -> bool:
        return self.markers and not self.tags and key.startswith(self.prefix)

    def record(self) -> dict:
        return {"endpoint": self.endpoint, "bucket": self.bucket, "region": self.region,
                "credentials": self.credentials, "prefix": self.prefix, "markers": self.markers,
                "tags": [list(pair) for pair in self.tags]}

    def key_pair(self) -> Tuple[str, str]:
        """The target's credentials, read from their file now (a changed
        file is taken at the next send)."""
        return read_credentials(self.credentials)


def rule_of(value: Optional[dict]) -> Optional[Rule]:
    """The rule a bucket record keeps (None: none)."""
    if not value:
        return None
    return Rule(str(value["endpoint"]), str(value["bucket"]), str(value.get("region") or "us-east-1"),
                str(value["credentials"]), str(value.get("prefix") or ""), bool(value.get("markers")),
                tuple((str(name), str(tag)) for name, tag in value.get("tags") or ()))


def new_rule(target: str, credentials: str, region: str = "us-east-1", prefix: str = "",
             markers: bool = False, tags: Tuple[Tuple[str, str], ...] = ()) -> Rule:
    """A rule from what an operator gives: ``target`` as
    ``http(s)://host[:port]/bucket``, ``credentials`` a readable file of
    the target's key pair; ``BadRequest`` for what cannot be one."""
    parts = urlsplit(target)
    name = parts.path.strip("/")
    if parts.scheme not in ("http", "https") or not parts.netloc or not name or "/" in name:
        raise BadRequest("the target is http(s)://HOST[:PORT]/BUCKET, not %r" % target[:200])
    if len(prefix.encode("utf-8")) > 1024:
        raise BadRequest("a prefix is at most 1024 bytes")
    if markers and tags:
        raise BadRequest("delete markers are not sent by a rule that asks for tags: a marker has none")
    credentials = os.path.abspath(credentials)
    read_credentials(credentials)
    return Rule("%s://%s" % (parts.scheme, parts.netloc), name, region or "us-east-1", credentials, prefix,
                markers, tuple(tags))


def read_credentials(path: str) -> Tuple[str, str]:
    """``AWS_ACCESS_KEY_ID`` and ``AWS_SECRET_ACCESS_KEY`` from ``path``
    (``NAME=value`` lines, as ``token create --s3`` prints them)."""
    try:
        with open(path, encoding="utf-8") as text:
            lines = text.read().splitlines()
    except OSError as error:
        raise BadRequest("cannot read the target's credentials from %s: %s" % (path, error.strerror)) from None
    found: Dict[str, str] = {}
    for line in lines:
        name, equals, value = line.strip().removeprefix("export ").partition("=")
        if equals:
            found[name.strip()] = value.strip().strip("'\"")
    pair = found.get("AWS_ACCESS_KEY_ID"), found.get("AWS_SECRET_ACCESS_KEY")
    if not all(pair):
        raise BadRequest("%s holds no AWS_ACCESS_KEY_ID= and AWS_SECRET_ACCESS_KEY= lines" % path)
    return pair[0] or "", pair[1] or ""
