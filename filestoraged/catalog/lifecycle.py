"""A bucket's lifecycle rules, and the sweep that carries them out.

A rule (``Rule``) applies to the keys under a prefix: ``Expiration``
(the current version, ``Days`` after it was written or from a ``Date``: in
a versioned bucket it gets a delete marker, as S3 does; or
``ExpiredObjectDeleteMarker``: a delete marker that is all a key has
left), ``NoncurrentVersionExpiration`` (older versions ``NoncurrentDays``
after they stopped being current, keeping the ``NewerNoncurrentVersions``
newest) and ``AbortIncompleteMultipartUpload``. The rules are part of the
bucket's record.

The sweep runs at most once an ``INTERVAL`` across every daemon (a turn
record, as the idle-bytes sweep takes), walks each rule's prefix a page
at a time (memory does not grow with the bucket), and deletes through the
keyspace, so a locked version is never deleted (``locks``: the sweep
passes it by, as S3's lifecycle does) and bytes go only once no version
names them.
"""

from __future__ import annotations

import logging
from dataclasses import asdict, dataclass
from typing import Iterator, List, Optional, Tuple

from ..errors import Forbidden
from ..records.interface import Records
from .buckets import Bucket, Buckets
from .keyspace import Keyspace
from .unfinished import Unfinished
from .versions import Version

log = logging.getLogger(__name__)

TURN = "s3-lifecycle"
INTERVAL = 3600.0  # seconds between sweeps, across every daemon
DAY = 86400.0
PAGE = 1000
MAX_RULES = 1000  # as S3


@dataclass(frozen=True)
class Rule:
    id: str
    enabled: bool
    prefix: str = ""
    expire_days: Optional[int] = None
    expire_date: Optional[float] = None
    expired_markers: bool = False
    noncurrent_days: Optional[int] = None
    newer_noncurrent: int = 0
    abort_days: Optional[int] = None

    def record(self) -> dict:
        return asdict(self)

    @classmethod
    def of(cls, value: dict) -> "Rule":
        return cls(**value)


class Lifecycle:
    def __init__(self, records: Records, buckets: Buckets, keyspace: Keyspace, unfinished: Unfinished) -> None:
        self.records, self.buckets, self.keyspace, self.unfinished = records, buckets, keyspace, unfinished

    def sweep(self, wait: bool = False) -> int:
        """Carry out every bucket's rules; how many versions, markers and
        uploads went. Without ``wait`` (the timer), only if no daemon swept
        in the last ``INTERVAL``."""
        now = self.records.now()
        if not wait and self.records.update(TURN, lambda value: None if value and now - value["at"] < INTERVAL
                                            else {"at": now}) is None:
            return 0
        done = 0
        for bucket in self.buckets.all():
            for rule in rules_of(bucket):
                if rule.enabled:
                    done += self._apply(bucket, rule, now)
        return done

    def _apply(self, bucket: Bucket, rule: Rule, now: float) -> int:
        done = 0
        if rule.abort_days is not None:
            for upload in self.unfinished.in_bucket(bucket.name, limit=10 ** 9):
                if upload.key.startswith(rule.prefix) and upload.created + rule.abort_days * DAY <= now:
                    self.unfinished.remove(upload)
                    done += 1
        if rule.expire_days is None and rule.expire_date is None and not rule.expired_markers \
                and rule.noncurrent_days is None:
            return done
        for key, versions in _keys(self.keyspace.versions, bucket.name, rule.prefix):
            done += self._expire(bucket, rule, key, versions, now)
        return done

    def _expire(self, bucket: Bucket, rule: Rule, key: str, versions: List[Version], now: float) -> int:
        """One key's versions: the latest (current, or a delete marker)
        first, then the older ones, newest first; each older one stopped
        being current when the one before it in this list was made."""
        done = 0
        current = versions[0] if versions[0].sort == "" else None
        if current is not None and _due(rule, current.modified, now):
            self.keyspace.forget(bucket, key)  # a delete marker where versions are kept
            return 1  # its older versions are judged on the next sweep, from the marker's time
        if rule.noncurrent_days is not None:
            kept = 0
            for newer, version in zip(versions, versions[1:]):
                if version.entry is None:
                    continue  # an older marker: nothing holds bytes there
                kept += 1
                if kept > rule.newer_noncurrent and newer.modified + rule.noncurrent_days * DAY <= now:
                    done += self._delete(bucket, key, version)
        if rule.expired_markers and current is None and len(versions) == 1 and versions[0].marker:
            done += self._delete(bucket, key, versions[0])
        return done

    def _delete(self, bucket: Bucket, key: str, version: Version) -> int:
        try:
            self.keyspace.forget(bucket, key, version.id)
            return 1
        except Forbidden:
            return 0  # locked: never past a lock


def rules_of(bucket: Bucket) -> List[Rule]:
    return [Rule.of(value) for value in bucket.lifecycle or []]


def _due(rule: Rule, modified: float, now: float) -> bool:
    if rule.expire_days is not None:
        return modified + rule.expire_days * DAY <= now
    return rule.expire_date is not None and rule.expire_date <= now


def _keys(versions, bucket: str, prefix: str) -> Iterator[Tuple[str, List[Version]]]:
    """Each key under ``prefix`` with its versions, current first, a page of
    the listing at a time."""
    key_marker, version_marker = "", ""
    key, group = None, []  # type: Tuple[Optional[str], List[Version]]
    while True:
        page = versions.page(bucket, prefix, "", key_marker, version_marker, PAGE)
        for item in page.items:
            version = item[0]
            if version.key != key:
                if key is not None:
                    yield key, group
                key, group = version.key, []
            group.append(version)
        if not page.truncated or not page.items:
            break
        last = page.items[-1][0]
        key_marker, version_marker = last.key, last.id
    if key is not None:
        yield key, group
