"""``fsck`` of the S3 keys and versions: every key and every older
version its head lists has its record, names bytes that are stored, holds its claim on them (the
``s3/names/…`` record that keeps them from being swept), and carries an
object lock only where its bucket has object lock on, in a form that can
be read.

A key naming bytes that are gone cannot be mended here (the bytes are
lost: restore them from a backup, or delete the key); a missing claim is
written again with ``repair`` (it only keeps bytes, it never removes
any). A lock found wrong is reported and never changed: only a person may
decide to end one. Names whose key is gone are left alone: a write in flight names its
bytes before its key's record is written, and the sweep lets go of them.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Iterator, List, Optional, Tuple

from ..errors import NotFound
from ..records.interface import Records
from ..storage.interface import Backend
from ..storage.names import repository
from .buckets import Buckets
from .claims import Claims
from .keys import Entry
from .retention import unreadable
from .versions import iterate


@dataclass
class KeysReport:
    checked: int = 0
    gone: List[str] = field(default_factory=list)  # "bucket/key [version]" whose bytes are not stored
    unclaimed: List[str] = field(default_factory=list)  # ... without the record that holds its bytes
    bad_locks: List[str] = field(default_factory=list)  # "... : why" whose object lock is wrong
    lost: List[str] = field(default_factory=list)  # older versions whose head lists a record that is missing


def check_keys(records: Records, backend: Backend, repair: bool) -> KeysReport:
    """Every key and older version of every bucket, as the module says."""
    report = KeysReport()
    claims = Claims(records, backend)
    for bucket in Buckets(records).all():
        for key, entry, version in _named(records, bucket.name):
            report.checked += 1
            where = "%s/%s%s" % (bucket.name, key[:200], " (version %s)" % version if version else "")
            if entry is None:
                report.lost.append(where)
                continue
            try:
                backend.stat(repository(bucket.name), entry.oid)
            except NotFound:
                report.gone.append(where)
            why = unreadable(entry.lock) or (
                "locked in a bucket without object lock" if entry.lock and bucket.lock is None else None)
            if why:
                report.bad_locks.append("%s: %s" % (where, why))
            if not claims.named(bucket.name, entry.oid, key, version):
                report.unclaimed.append(where)
                if repair:
                    claims.name(bucket.name, entry.oid, key, version)
    return report


def _named(records: Records, bucket: str) -> Iterator[Tuple[str, Optional[Entry], Optional[str]]]:
    """``(key, entry, older version or None)`` of everything that names
    bytes in ``bucket``; an older version whose record is missing with no
    entry."""
    for key, current, older in iterate(records, bucket):
        if current is not None:
            yield key, current, None
        else:
            yield key, older.entry, older.id
