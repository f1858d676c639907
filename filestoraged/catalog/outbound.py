"""What a commit sends elsewhere (``catalog.outbox``), by the bucket's
settings at the commit: a new version's copy where its replication rule
covers the key (and its status ``PENDING`` till then), a delete marker's
where the rule sends markers, and the events its notification
configurations ask for (``catalog.notifications``: a file sent through an
upload-request link has one of its own too). Deletes of a version by its
id are never replicated; their events are told."""

from __future__ import annotations

from typing import List, Optional, Tuple

from .buckets import Bucket
from .keys import Entry, sent_through_link
from .notifications import CREATED, DROP_UPLOAD, MARKER_CREATED, REMOVED, event_fields, wanted
from .outbox import EVENT, MARKER, PUT
from .replication import PENDING, rule_of

Send = Tuple[str, Optional[str], Optional[dict]]  # an outbox item: (kind, version id, fields)


def as_written(bucket: Bucket, key: str, entry: Entry) -> Entry:
    """``entry`` with its replication status where the rule copies it (a copy then)."""
    rule = rule_of(bucket.replication)
    if rule is None or not rule.applies(key, entry.tags or {}):
        return entry
    marked = entry.copied()
    marked.replication = PENDING
    return marked


def of_write(bucket: Bucket, key: str, entry: Entry) -> List[Send]:
    """What the write of ``entry`` (as written) sends."""
    sends: List[Send] = [(PUT, entry.version, None)] if entry.replication == PENDING else []
    events = [CREATED, DROP_UPLOAD] if entry.maker is not None and sent_through_link(entry.maker) else [CREATED]
    sends += [(EVENT, entry.version, event_fields(config, event, entry.size, entry.etag, entry.maker))
              for event in events for config in wanted(bucket.notifications, event, key)]
    return sends


def of_delete(bucket: Bucket, key: str, marker: Optional[str], marked: bool, by: Optional[str]) -> List[Send]:
    """What a delete without a version id sends: ``marked``, it made a
    delete marker (id ``marker``; None: ``null``), else the key went."""
    rule = rule_of(bucket.replication)
    sends: List[Send] = [(MARKER, marker, None)] if rule is not None and rule.sends_markers(key) else []
    event = MARKER_CREATED if marked else REMOVED
    sends += [(EVENT, marker, event_fields(config, event, maker=by)) for config in
              wanted(bucket.notifications, event, key)]
    return sends


def of_version_delete(bucket: Bucket, key: str, version: str, by: Optional[str]) -> List[Send]:
    """What the deletion of version ``version`` by its id sends: its events only."""
    return [(EVENT, version, event_fields(config, REMOVED, maker=by))
            for config in wanted(bucket.notifications, REMOVED, key)]
