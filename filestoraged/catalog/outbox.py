"""What must be sent elsewhere, written by the commit of the change that
asks for it: one record per change, ``outbox/<id>``, its id growing with
the store's clock so that the records' order is the order of the
commits (of one key's changes, always).

The commit of a key (``catalog.keyspace``) writes the item with the
version records its new head lists, before the head is swapped: where the
records make one transaction of it (SQLite, PostgreSQL), the item is in
the change's own commit; elsewhere (``--records s3``) an item whose
change then lost its race is removed with them, and one left by a daemon
that died before its swap names a version that never was, which the
sender finds absent and drops once ``SETTLE`` passed. So no change is
committed without its item, and the sender sends nothing that was not
committed. An item goes only once its target acknowledged it
(``done``)."""

from __future__ import annotations

import secrets
from dataclasses import dataclass, field
from typing import Dict, List, Optional

from ..records.interface import Conflict, Records

OUTBOX = "outbox/"
SETTLE = 60.0  # seconds after which an item whose version is not there is taken for a change never committed
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


class Outbox:
    def __init__(self, records: Records) -> None:
        self.records = records
        # Replaced once a commit wrote items, in whichever process of the machine: the sender
        # looks at once instead of at its next round (None where the records are shared beyond it).
        self.mark = records.change_mark("outbox")

    def written(self) -> None:
        """A commit that wrote items is in: said to the sender of this machine."""
        if self.mark is not None:
            self.mark.change()

    def add(self, bucket: str, key: str, version: Optional[str], kind: str,
            fields: Optional[Dict[str, object]] = None) -> str:
        """A new item (in the caller's transaction, where the records make one); its id."""
        now = self.records.now()
        item_id = "%016x%s" % (int(now * 1_000_000), secrets.token_hex(4))
        value = {"bucket": bucket, "key": key, "version": version, "kind": kind, "at": now}
        if fields:
            value["fields"] = fields
        self.records.create(OUTBOX + item_id, value)
        return item_id

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
                     float(value["at"]), int(value.get("tries") or 0), value.get("error"), value.get("fields") or {})
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
