"""The rules over a key's versions, as S3 has them, in one place and with
no records: what a write or a delete does to the version it replaces,
the version id and the retention a new version takes, when a delete
leaves a marker, and who may replace a key. ``Keyspace`` carries them out
at a key's commit, with the bucket's settings as they stand then; each
rule is a table in ``tests/catalog/test_version_rules.py``.

A bucket's versioning is ``""`` (never turned on: every key is one
``null`` version), ``Enabled`` or ``Suspended`` (``catalog.buckets``).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Optional

from .keys import Entry
from .retention import kept_until


@dataclass(frozen=True)
class Change:
    """What a write or a delete without a version id does to a key's
    versions: ``keeps``, the version it replaces is kept as an older one
    (else it is gone); ``new_id``, the new version (or delete marker) gets
    an id of its own (else it is the ``null`` version); ``marker``, a
    delete leaves a delete marker; ``drops_null``, an older ``null``
    version (kept under Enabled) goes, replaced by the new one."""

    keeps: bool
    new_id: bool
    marker: bool
    drops_null: bool


def change(versioning: str, replaced: Optional[Entry], delete: bool = False) -> Change:
    """The ``Change`` of a write (``delete``: of a delete) in a bucket whose
    versioning is ``versioning``, over ``replaced`` (None: the key names
    nothing). Under Enabled every version replaced is kept and the new one
    has an id; under Suspended the new one is the ``null`` version, which
    replaces the ``null`` one (current or older) and keeps any other;
    without versioning a write replaces the current one and a delete
    removes it, leaving nothing."""
    keeps = bool(versioning) and replaced is not None and not (
        versioning == "Suspended" and replaced.version is None)
    return _CHANGES.get((versioning, keeps, delete)) or _made(versioning, keeps, delete)


def _made(versioning: str, keeps: bool, delete: bool) -> Change:
    return Change(keeps=keeps, new_id=versioning == "Enabled", marker=delete and bool(versioning),
                  drops_null=versioning == "Suspended")


# Every change there is, made once: asked on every write (frozen, so shared).
_CHANGES = {(versioning, keeps, delete): _made(versioning, keeps, delete)
            for versioning in ("", "Enabled", "Suspended") for keeps in (False, True) for delete in (False, True)}


def may_replace(replaces: bool, versioning: str) -> bool:
    """Whether a write may go over a key that names something: a caller
    that may replace keys may (``replaces``: ``data:BUCKET:write``); one
    that may only add them (``data:BUCKET:create``, append-only) only where
    versioning is enabled, where a write replaces nothing (it adds a
    version). Under Suspended it would replace the ``null`` version."""
    return replaces or versioning == "Enabled"


def retention(asked: Optional[dict], bucket_lock: Optional[dict], written_at: float) -> Optional[dict]:
    """The lock a new version takes: the one its write asked for, where it
    named a retention (``asked`` with ``until``); else the bucket's
    default retention (``bucket_lock``: its object lock, if on), counted
    from ``written_at``, beside any legal hold asked."""
    default = (bucket_lock or {}).get("default")
    if not default or (asked or {}).get("until") is not None:
        return asked
    return dict(asked or {}, mode=default["mode"], until=kept_until(written_at + float(default["days"]) * 86400))
