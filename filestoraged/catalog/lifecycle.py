"""A bucket's lifecycle rules, and the sweep that carries them out.

A rule (``Rule``) applies to the keys under a prefix: ``Expiration``
(the current version, ``Days`` after it was written or from a ``Date``: in
a versioned bucket it gets a delete marker, as S3 does; or
``ExpiredObjectDeleteMarker``: a delete marker that is all a key has
left), ``NoncurrentVersionExpiration`` (older versions ``NoncurrentDays``
after they stopped being current, keeping the ``NewerNoncurrentVersions``
newest) and ``AbortIncompleteMultipartUpload``. The rules are part of the
bucket's record.

The sweep runs at most once an ``INTERVAL`` (a day) across every daemon (a
turn record, as the idle-bytes sweep takes), walks each rule's prefix a
page at a time and each key's versions as they come (memory does not grow
with the bucket nor with a key's versions), and deletes through the
keyspace, so a locked version is never deleted (``locks``: the sweep
passes it by, as S3's lifecycle does) and bytes go only once no version
names them. A current version is deleted only if the key still names it
as the delete commits: one written again since the sweep read the key is
judged again on the next sweep.
"""

from __future__ import annotations

import itertools
import logging
from dataclasses import asdict, dataclass
from typing import Callable, Iterator, List, Optional, Tuple

from ..errors import Forbidden, PreconditionFailed
from ..records.interface import Records
from .buckets import Bucket, Buckets
from .keys import Entry
from .keyspace import Keyspace
from .unfinished import Unfinished
from .versions import Version

log = logging.getLogger(__name__)

TURN = "s3-lifecycle"
DAY = 86400.0
# Rules count in days, and S3 too carries them out once a day: a sweep
# reads every version under each rule's prefix, so it runs no more often.
INTERVAL = DAY
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
    bare_prefix: bool = False  # given as the rule's own <Prefix> (S3's older form), not a <Filter>: given back so

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
        if not wait and not self.records.take_turn(TURN, INTERVAL):
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

    def _expire(self, bucket: Bucket, rule: Rule, key: str, versions: Iterator[Version], now: float) -> int:
        """One key's versions, read as they come (a key of a million versions
        costs no more memory than one): the latest (current, or a delete
        marker) first, then the older ones, newest first; each older one
        stopped being current when the one before it was made."""
        latest = next(versions)
        current = None if latest.sort else latest
        if current is not None and current.entry is not None and _due(rule, current.modified, now):
            try:  # (a delete marker where versions are kept)
                self.keyspace.forget(bucket, key, condition=_still(current.entry))
            except PreconditionFailed:
                return 0  # written again since it was read
            return 1  # its older versions are judged on the next sweep, from the marker's time
        done, kept, newer = 0, 0, latest
        older = None
        for older in versions:
            if rule.noncurrent_days is not None and older.entry is not None:  # a marker holds no bytes
                kept += 1
                if kept > rule.newer_noncurrent and newer.modified + rule.noncurrent_days * DAY <= now:
                    done += self._delete(bucket, key, older)
            newer = older
        if rule.expired_markers and current is None and older is None and latest.marker:
            done += self._delete(bucket, key, latest)
        return done

    def _delete(self, bucket: Bucket, key: str, version: Version) -> int:
        try:
            self.keyspace.forget(bucket, key, version.id)
            return 1
        except Forbidden:
            return 0  # locked: never past a lock


def _still(judged: Entry) -> Callable[[Optional[Entry]], None]:
    """A delete's condition, judged on the head it swaps: the key still
    names the object the sweep judged due (``PreconditionFailed`` if a
    write came since, or the key went)."""
    def condition(entry: Optional[Entry]) -> None:
        if entry is None or (entry.oid, entry.modified, entry.version) != (judged.oid, judged.modified,
                                                                           judged.version):
            raise PreconditionFailed(message="written again since the lifecycle sweep read it")
    return condition


def rules_of(bucket: Bucket) -> List[Rule]:
    return [Rule.of(value) for value in bucket.lifecycle or []]


def _due(rule: Rule, modified: float, now: float) -> bool:
    if rule.expire_days is not None:
        return modified + rule.expire_days * DAY <= now
    return rule.expire_date is not None and rule.expire_date <= now


def _keys(versions, bucket: str, prefix: str) -> Iterator[Tuple[str, Iterator[Version]]]:
    """Each key under ``prefix`` with its versions, current first, read a
    page of the listing at a time."""
    return itertools.groupby(_walk(versions, bucket, prefix), key=lambda version: version.key)


def _walk(versions, bucket: str, prefix: str) -> Iterator[Version]:
    key_marker, version_marker = "", ""
    while True:
        page = versions.page(bucket, prefix, "", key_marker, version_marker, PAGE)
        for version, _latest in page.items:
            yield version
        if not page.truncated or not page.items:
            return
        last = page.items[-1][0]
        key_marker, version_marker = last.key, last.id
