"""The upkeep of share-link records (``sharing.links``): the sweep removes
the blobs no live link needs and forgets links dead for
``TOMBSTONE_SECONDS``; uploads pin their blobs; ``give_back`` returns the
reservations of a worker that died.

A blob's record (``share-blobs/<oid>``, kept by the holds engine,
``holds.blobs``, as the S3 API's bytes are) pins it for every link made
for it and every upload of its bytes under way, and says when the sweep
first saw it pinned by none (``idle``). The sweep removes a blob only once
a compare-and-swap claimed its removal (``removing``) while every link it
names was dead or never came for ``ORPHAN_GRACE``; making a link, and an
upload's pin before its backend looks for its bytes, pin it there first (a
compare-and-swap too), so one of the two wins and a link never points at a
removed blob. A sweep that died midway is finished by the next
(``removing`` stays set).
The daemons (or workers) take turns: ``share-sweep`` holds when the last
timed one began.

A sweep reads only what is due, never every link: ``share-due/<when>/
<blob|link>/<id>`` (``holds.due``) says when to look at a blob (a link's
expiry, an upload's pin running out of grace) or at a link (its 30 days
as a dead link are over). Written before the link or the pin they are
for; deleted once looked at (a blob not ripe yet gets an entry for when
it will be). ``share-holds/<link id>`` names the links that
may hold reservations, so that giving back a dead worker's reads those
only. A store made before these indexes has them made once, by the first
sweep (``share-due-ready`` then says so); blob bytes that no record names
at all are found by that pass only.
"""

from __future__ import annotations

import secrets
import threading
from typing import Callable, Dict, Optional, Tuple

from ..errors import FileStoreError
from ..holds.blobs import BlobRecords
from ..holds.due import PAGE
from ..records.interface import Conflict, Records
from ..storage.interface import Backend
from ..storage.names import SHARES
from .rules import ORPHAN_GRACE, TOMBSTONE_SECONDS, Link, alive, needs_blob

LINKS = "links/"
BLOBS = "share-blobs/"
SWEEP_TURN = "share-sweep"
DUE = "share-due/"
DUE_READY = "share-due-ready"
HOLDING = "share-holds/"
MADE = "share-made/"  # share-made/<token name>/<created, µs>-<link id>: the links a token made
RACED = "the file was cleaned up while it was being uploaded; send it again"
PIN_WAIT = 10.0  # seconds an upload waits for a sweep's removal of the same bytes to end


def live_holds(value: dict, now: float) -> Dict[str, float]:
    return {hold: until for hold, until in value.get("holds", {}).items() if until > now}


def link_of(link_id: str, value: dict, now: float) -> Link:
    salt, digest = value.get("salt"), value.get("hash")
    return Link(link_id, value["oid"], value["size"], value.get("filename"), value.get("content_type"),
                bytes.fromhex(salt) if salt else None, bytes.fromhex(digest) if digest else None,
                value["delete"], value["max"], value["downloads"], len(live_holds(value, now)),
                value["created"], value["expires"], int(bool(value.get("deleted"))), 0, value.get("maker"))


def made_prefix(maker: str) -> str:
    """Where the entries of the links ``maker`` made are (``made_key``)."""
    return "%s%s/" % (MADE, maker)


def made_key(maker: str, created: float, link_id: str) -> str:
    """The entry that lists link ``link_id`` among those ``maker`` made
    (by when it was made: a token's links page oldest first)."""
    return "%s%017d-%s" % (made_prefix(maker), int(created * 1_000_000), link_id)


def _died_at(value: dict) -> float:
    """When a link stopped needing its blob (deleted, used up or expired)."""
    return min(value.get("died") or value["expires"], value["expires"])


class LinkSweep:
    def __init__(self, records: Records, backend: Backend, passwords) -> None:
        """``passwords``: whose failed-attempt records are pruned on each sweep."""
        self.records = records
        self.backend = backend
        self.passwords = passwords
        self.blobs = BlobRecords(records, BLOBS, DUE, SWEEP_TURN)
        self._lock = threading.Lock()
        if records.get(DUE_READY) is None and next(records.keys(LINKS, limit=1), None) is None:
            self._ready(records.now())  # a new store: its links are all indexed as they are made

    def run(self, wait: bool, interval: float) -> int:
        """One sweep; the blobs removed. ``wait=False`` (the timer): none if
        this process is sweeping already, or any daemon began one in the
        last half ``interval``."""
        if not self._lock.acquire(wait):
            return 0
        try:
            if not self.blobs.turn_taken(interval, wait):
                return 0
            return self._sweep()
        finally:
            self._lock.release()

    def pin_for(self, oid: str, ref: str, stop: threading.Event, wait: float = 0.0,
             also: Optional[Callable[[], None]] = None) -> str:
        """Pin the blob for ``ref`` (a link about to be written, or an
        upload), which keeps it (``ORPHAN_GRACE`` until the link exists);
        while a sweep is removing it, wait up to ``wait`` seconds for the
        removal to end (an upload's bytes are then stored afresh), then
        ``BackendUnavailable`` (``stop``: wait no more). ``also``: written
        with the pin, in one transaction where the records have them (its
        due entries: one fsync, not two)."""
        self.blobs.pin(oid, ref, wait, stop, RACED, also)
        return ref

    def pin(self, oid: str, stop: threading.Event) -> str:
        """Pin the blob for an upload, before its backend looks for the
        bytes: ``pin_for`` a pin id, waiting up to ``PIN_WAIT``; the blob is
        looked at once the pin's grace is over (an upload that failed)."""
        return self.pin_for(oid, "pin-" + secrets.token_hex(8), stop, PIN_WAIT,
                            also=lambda: self.due(self.records.now() + ORPHAN_GRACE, "blob", oid))

    def due(self, when: float, kind: str, name: str) -> None:
        """Look at ``kind`` (blob or link) ``name`` at ``when``."""
        self.blobs.index.at(when, "%s/%s" % (kind, name))

    def schedule_link(self, link_id: str, oid: str, created: float, expires: float) -> None:
        """A new link's blob is looked at when it expires, the link itself
        when its time as a dead link is over."""
        self.due(expires, "blob", oid)
        self.due(max(expires, created) + TOMBSTONE_SECONDS, "link", link_id)

    def holding(self, link_id: str) -> None:
        """Before a reservation on ``link_id``: the link is named among those
        that may hold some (a read; a write the first time)."""
        if self.records.get(HOLDING + link_id) is None:
            try:
                self.records.create(HOLDING + link_id, {})
            except Conflict:
                pass

    def unpin(self, oid: str, pin: str) -> None:
        self.blobs.unpin(oid, pin)

    def _sweep(self) -> int:
        """What is due, a page at a time: blobs whose links expired or whose
        pins ran out of grace, links whose time as dead links is over (see
        the module docstring); then the list of links holding reservations
        is pruned. Reads only those: dead links kept for their 30 days cost
        nothing here."""
        now = self.records.now()
        if self.records.get(DUE_READY) is None:
            self._index_all(now)
        removed = self.blobs.index.sweep(now, lambda what: self._look_at(what, now))
        for key in self.records.walk_keys(HOLDING, PAGE):
            record = self.records.get(LINKS + key[len(HOLDING):])
            if record is None or not live_holds(record.value, now):
                self.records.delete(key)
        self.passwords.wrong.prune(now)
        return removed

    def _look_at(self, what: str, now: float) -> int:
        kind, _, name = what.partition("/")
        if kind == "blob":
            return self._look_at_blob(name, now)
        if kind == "link":
            self._forget_link(name, now)
        return 0

    def _look_at_blob(self, oid: str, now: float) -> int:
        removed, ripe_at = self._sweep_blob(oid, now)
        if not removed and ripe_at is not None:
            self.due(max(ripe_at, now + 1), "blob", oid)
        return removed

    def _forget_link(self, link_id: str, now: float) -> None:
        """A link dead for ``TOMBSTONE_SECONDS`` answers 404 from now on."""
        record = self.records.get(LINKS + link_id)
        if record is None:
            return
        value = record.value
        if max(value["expires"], value["created"]) < now - TOMBSTONE_SECONDS and not live_holds(value, now):
            try:
                self.records.delete(LINKS + link_id, record.version)
            except Conflict:
                self.due(now + 1, "link", link_id)
                return
            if value.get("maker"):
                self.records.delete(made_key(value["maker"], value["created"], link_id))

    def _index_all(self, now: float) -> None:
        """Once, for a store made before the due index: every link and blob
        gets its entries (a page at a time), then ``share-due-ready``."""
        for key, record in self.records.walk(LINKS, PAGE):
            value = record.value
            self.schedule_link(key[len(LINKS):], value["oid"], value["created"], value["expires"])
        for key in self.records.walk_keys(BLOBS, PAGE):
            self.due(now, "blob", key[len(BLOBS):])
        after = ""
        while True:
            stored = self.backend.list(SHARES, after, PAGE)
            for info in stored:
                self.due(now, "blob", info.oid)
            if len(stored) < PAGE:
                break
            after = stored[-1].oid
        self._ready(now)

    def _ready(self, now: float) -> None:
        try:
            self.records.create(DUE_READY, {"at": now})
        except Conflict:
            pass

    def release(self, oid: str) -> int:
        """Remove one blob now if every link its record names is dead (a link
        to it was just used up or deleted)."""
        with self._lock:
            now = self.records.now()
            try:
                return self._sweep_blob(oid, now)[0]
            except FileStoreError:
                try:  # looked at again by a sweep, not only once its links expire
                    self.due(now + 60, "blob", oid)
                except FileStoreError:
                    pass
                raise

    def _sweep_blob(self, oid: str, now: float) -> Tuple[int, Optional[float]]:
        """Remove one blob if every link its record names is dead, or never
        came (a pin or a link not made yet) for ``ORPHAN_GRACE``: 1 if
        removed, and else when it may be (None: a live link needs it, and
        that link's expiry is due already). Reads only those links."""
        record = self.blobs.get(oid)
        value = record.value if record is not None else {}
        if not value.get("removing"):  # else a sweep died removing it: finish the work
            ripe_at, idle = self._ripe_at(value, now)
            if ripe_at is None or now < ripe_at:
                if idle is not None and value.get("idle") is None:
                    self.blobs.swap(oid, record, dict(value, idle=idle))
                return 0, ripe_at
            if not self.blobs.claim(oid, record, value):
                return 0, now  # pinned by a new link meanwhile: look again
        return self.blobs.finish(oid, lambda: self.backend.delete(SHARES, oid)), None

    def _ripe_at(self, value: dict, now: float) -> Tuple[Optional[float], Optional[float]]:
        """When the blob may go (None: a live link needs it), and when it
        was first seen unpinned (for an orphan). Reads the links the record
        names, up to the first that is alive; a dead link whose transfers
        still run makes it ripe when their leases end, at the latest."""
        pins = value.get("pins", {})
        if not pins:
            idle = value.get("idle") or now
            return idle + ORPHAN_GRACE, idle
        ripe_at = 0.0
        for link_id, named_at in pins.items():
            record = self.records.get(LINKS + link_id)
            if record is None:  # not made yet, or never made (its upload failed)
                ripe_at = max(ripe_at, named_at + ORPHAN_GRACE)
                continue
            link = link_of(link_id, record.value, now)
            if alive(link, now):
                return None, None
            if needs_blob(link, now):  # dead, its last transfers still running
                ripe_at = max(ripe_at, max(live_holds(record.value, now).values()))
            else:
                ripe_at = max(ripe_at, _died_at(record.value))
        return ripe_at, None


def give_back(records: Records, holder: Optional[str] = None) -> int:
    """Give back the reservations of ``holder`` (a worker that died: its
    transfers will never finish), or of every holder (None: at start, when
    none runs yet); on one machine, where holders are known. Reads only the
    links named in ``share-holds/`` (a hold taken as one is dropped from
    there lapses with its lease instead). How many links had holds given
    back."""
    def drop(value: Optional[dict]) -> Optional[dict]:
        if value is None:
            return None
        holds = value.get("holds", {})
        kept = {hold: until for hold, until in holds.items()
                if holder is not None and not hold.startswith(holder + ".")}
        return None if len(kept) == len(holds) else dict(value, holds=kept)

    given = 0
    for key in records.walk_keys(HOLDING, PAGE):
        link_key = LINKS + key[len(HOLDING):]
        given += records.update(link_key, drop) is not None
        record = records.get(link_key)
        if record is None or not record.value.get("holds"):
            records.delete(key)
    return given
