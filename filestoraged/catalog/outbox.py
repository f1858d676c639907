"""What must be sent elsewhere, written by the commit of the change that
asks for it: one record per change, ``outbox/<id>``, its id growing with
the store's clock so that the records' order is the order of the
commits (of one key's changes, always).

The commit of a key (``catalog.keyspace``) writes the item with the
version records its new head lists, before the head is swapped. Where
the records make one transaction of it (SQLite, PostgreSQL), the item is
in the change's own commit. Elsewhere (``--records s3``) the item is
written *pending*, and marked committed (``confirm``) once the swap is
in; an item whose change lost its race is removed with it. The sender
sends no pending item: one still pending ``SETTLE`` seconds on was left
by a daemon that stopped before its swap or before its confirmation, and
the key's records as they are say which (``made``). So no change is
committed without its item, and nothing is sent that was not committed.
An item goes only once its target acknowledged it.
"""

from __future__ import annotations

import logging
import secrets
from dataclasses import dataclass, field
from typing import Callable, Dict, List, Optional, Tuple

from ..errors import FileStoreError
from ..records.interface import Conflict, Records
from .heads import NULL
from .notifications import REMOVED

log = logging.getLogger(__name__)

OUTBOX = "outbox/"
SETTLE = 60.0  # seconds after which a pending item is judged by the records as they are
PUT, MARKER = "put", "marker"  # a new version; a delete marker (a delete without a version id): replication's
EVENT = "event"  # an event for a webhook (``catalog.notifications``)


@dataclass(frozen=True)
class Item:
    id: str
    bucket: str
    key: str
    version: Optional[str]  # the version's id (None: the null version)
    kind: str  # PUT, MARKER or EVENT
    at: float  # when it was written (the records' clock)
    tries: int = 0  # sends that failed so far
    error: Optional[str] = None  # why the last one did
    fields: Dict[str, object] = field(default_factory=dict)  # what an EVENT says
    pending: bool = False  # written before its change's commit, which is not known to be in yet


@dataclass(frozen=True)
class Ahead:
    """An item written ahead of its change's commit (``Outbox.ahead``)."""

    id: str
    version: str  # its record's
    value: Dict[str, object]
    pending: bool


class Outbox:
    def __init__(self, records: Records) -> None:
        self.records = records
        # Rung once a commit wrote items, in whichever process of the machine: the sender
        # looks at once instead of at its next round (None where the records are shared beyond it).
        self.bell = records.doorbell("outbox")

    def written(self) -> None:
        """A commit that wrote items is in: said to the sender of this machine."""
        if self.bell is not None:
            self.bell.ring()

    def close(self) -> None:
        if self.bell is not None:
            self.bell.close()

    def add(self, bucket: str, key: str, version: Optional[str], kind: str,
            fields: Optional[Dict[str, object]] = None) -> str:
        """A new item of a change already committed (in the caller's
        transaction, where the records make one); its id."""
        return self._write(bucket, key, version, kind, fields, pending=False).id

    def ahead(self, bucket: str, key: str, sends: List[Tuple[str, Optional[str], Optional[dict]]]) -> List["Ahead"]:
        """The items ``sends`` (kind, version id, fields) of a change of
        ``key``, written ahead of its commit: pending where that commit is
        not one transaction with them, till ``confirm``; ``withdraw`` them
        if it is not made."""
        pending = not self.records.serializes
        return [self._write(bucket, key, version, kind, fields, pending) for kind, version, fields in sends]

    def confirm(self, written: List["Ahead"]) -> None:
        """The change ``written`` was for is committed: they may go."""
        for item in written:
            if item.pending:
                value = {name: got for name, got in item.value.items() if name != "pending"}
                try:
                    self.records.replace(OUTBOX + item.id, value, item.version)
                except FileStoreError as error:  # the change stands: the item is judged ``SETTLE`` on
                    log.warning("outbox item %s left pending: %s", item.id, error)

    def withdraw(self, written: List["Ahead"]) -> None:
        """The change ``written`` was for was not made: they go."""
        for item in written:
            self.drop(item.id)

    def _write(self, bucket: str, key: str, version: Optional[str], kind: str, fields: Optional[Dict[str, object]],
               pending: bool) -> "Ahead":
        now = self.records.now()
        item_id = "%016x%s" % (int(now * 1_000_000), secrets.token_hex(4))
        value: Dict[str, object] = {"bucket": bucket, "key": key, "version": version, "kind": kind, "at": now}
        if fields:
            value["fields"] = fields
        if pending:
            value["pending"] = True
        return Ahead(item_id, self.records.create(OUTBOX + item_id, value), value, pending)

    def add_once(self, item_id: str, key: str, kind: str, fields: Dict[str, object]) -> None:
        """An item of no bucket under an id of the caller's, made once
        however many callers ask for it (the store's own events: one each)."""
        value = {"bucket": "", "key": key, "version": None, "kind": kind, "at": self.records.now(), "fields": fields}
        try:
            self.records.create(OUTBOX + item_id, value)
        except Conflict:
            pass  # asked for already: the one item stands

    def drop(self, item_id: str) -> None:
        """An item gone: sent, or not to be sent (its change lost its race)."""
        self.records.delete(OUTBOX + item_id)

    def first(self, limit: int) -> List[Item]:
        """The oldest items, at most ``limit``, in the order they were written."""
        return self.page("", limit)

    def page(self, after: str, limit: int) -> List[Item]:
        """At most ``limit`` items written after item ``after`` ("": from the first), in order."""
        return [Item(key[len(OUTBOX):], value["bucket"], value["key"], value.get("version"), value["kind"],
                     float(value["at"]), int(value.get("tries") or 0), value.get("error"), value.get("fields") or {},
                     bool(value.get("pending")))
                for key, value in ((key, record.value) for key, record in
                                   self.records.items(OUTBOX, OUTBOX + after if after else "", limit))]

    def failed(self, item: Item, error: str) -> None:
        """A send of ``item`` failed: said in its record, for whoever looks."""
        def failing(value: Optional[dict]) -> Optional[dict]:
            if value is None:
                return None
            return dict(value, tries=int(value.get("tries") or 0) + 1, error=error[:500])

        self.records.update(OUTBOX + item.id, failing)

    def backlog(self, most: int = 100_000) -> int:
        """How many items wait (counted up to ``most``)."""
        return sum(1 for _ in self.records.keys(OUTBOX, "", most))


def made(item: Item, version_of: Callable[[str, str, str], object]) -> bool:
    """Whether the key's records as they are (``version_of(bucket, key,
    version id)``: None where there is none) show the change of a pending
    ``item`` made: a new version or delete marker there; a version deleted
    by its id, or a key removed, not there. Asked only of an item still
    pending ``SETTLE`` on (its daemon stopped between writing it and
    confirming it). Decision: judged on the key as it is now, so a version
    written and deleted again before this look counts as never made, and
    a key removed and written again as not removed: their events are lost,
    in that window alone, rather than an event told of a change never made."""
    there = version_of(item.bucket, item.key, item.version or NULL) is not None
    removal = item.kind == EVENT and item.fields.get("event") == REMOVED
    return there != removal
