"""The upkeep of share-link records (``sharing.store``): the sweep removes
the blobs no live link needs and forgets links dead for
``TOMBSTONE_SECONDS``; uploads pin their blobs; ``give_back`` returns the
reservations of a worker that died.

A blob's record (``share-blobs/<oid>``) names every link made for it, and
when the sweep first saw it named by none (``idle_since``). The sweep
removes a blob only once a compare-and-swap set ``removing`` on that record
while every link it names was dead or never came for ``ORPHAN_GRACE``;
making a link, and an upload's pin before its backend looks for its bytes,
name it there first (a compare-and-swap too), so one of the two wins and a
link never points at a removed blob.
A sweep that died midway is finished by the next (``removing`` stays set).
The daemons (or workers) take turns: ``share-sweep`` holds when the last
timed one began.
"""

from __future__ import annotations

import secrets
import threading
import time
from typing import Dict, Optional, Tuple

from ..errors import BackendUnavailable, NotFound
from ..records.interface import Conflict, Records
from ..storage.interface import Backend
from ..storage.names import SHARES
from .rules import ORPHAN_GRACE, TOMBSTONE_SECONDS, Link, needs_blob

LINKS = "links/"
BLOBS = "share-blobs/"
SWEEP_TURN = "share-sweep"
RACED = "the file was cleaned up while it was being uploaded; send it again"
PIN_WAIT = 10.0  # seconds an upload waits for a sweep's removal of the same bytes to end


def live_holds(value: dict, now: float) -> Dict[str, float]:
    return {hold: until for hold, until in value.get("holds", {}).items() if until > now}


def link_of(link_id: str, value: dict, now: float) -> Link:
    salt, digest = value.get("salt"), value.get("hash")
    return Link(link_id, value["oid"], value["size"], value.get("filename"), value.get("content_type"),
                bytes.fromhex(salt) if salt else None, bytes.fromhex(digest) if digest else None,
                value["delete"], value["max"], value["downloads"], len(live_holds(value, now)),
                value["created"], value["expires"], int(bool(value.get("deleted"))), 0)


def _died_at(value: dict) -> float:
    """When a link stopped needing its blob (deleted, used up or expired)."""
    return min(value.get("died") or value["expires"], value["expires"])


class LinkSweep:
    def __init__(self, records: Records, backend: Backend, passwords) -> None:
        """``passwords``: whose failed-attempt records are pruned on each sweep."""
        self.records = records
        self.backend = backend
        self.passwords = passwords
        self._lock = threading.Lock()

    def run(self, wait: bool, interval: float) -> int:
        """One sweep; the blobs removed. ``wait=False`` (the timer): none if
        this process is sweeping already, or any daemon began one in the
        last half ``interval``."""
        if not self._lock.acquire(wait):
            return 0
        try:
            if not wait and not self._my_turn(interval):
                return 0
            return self._sweep()
        finally:
            self._lock.release()

    def _my_turn(self, interval: float) -> bool:
        now = self.records.now()

        def turn(value: Optional[dict]) -> Optional[dict]:
            return None if value and now - value["at"] < interval / 2 else {"at": now}

        return self.records.update(SWEEP_TURN, turn) is not None

    def name(self, oid: str, ref: str, stop: threading.Event, wait: float = 0.0) -> str:
        """Name ``ref`` (a link about to be written, or an upload's pin) in
        the blob's record, which keeps the blob (``ORPHAN_GRACE`` until the
        link exists); while a sweep is removing it, wait up to ``wait``
        seconds for the removal to end (an upload's bytes are then stored
        afresh), then ``BackendUnavailable`` (``stop``: wait no more)."""
        deadline = time.monotonic() + wait
        while True:
            now = self.records.now()

            def name_it(value: Optional[dict], now: float = now) -> Optional[dict]:
                value = value or {"refs": {}}
                if value.get("removing"):
                    return None
                return dict(value, refs=dict(value.get("refs", {}), **{ref: now}), idle_since=None)

            if self.records.update(BLOBS + oid, name_it) is not None:
                return ref
            if time.monotonic() >= deadline:
                raise BackendUnavailable(RACED)
            stop.wait(0.05)  # a removal is two requests to the store

    def pin(self, oid: str, stop: threading.Event) -> str:
        """Pin the blob for an upload, before its backend looks for the
        bytes: ``name`` with a pin id, waiting up to ``PIN_WAIT``."""
        return self.name(oid, "pin-" + secrets.token_hex(8), stop, PIN_WAIT)

    def unpin(self, oid: str, pin: str) -> None:
        def drop(value: Optional[dict]) -> Optional[dict]:
            if value is None or pin not in value.get("refs", {}):
                return None
            return dict(value, refs={ref: at for ref, at in value["refs"].items() if ref != pin})

        self.records.update(BLOBS + oid, drop)

    def _sweep(self) -> int:
        """One pass over the links keeps only the blob ids live links need
        (links are kept ``TOMBSTONE_SECONDS`` after they die, so there may be
        far more links than live ones: holding every link's record for the
        pass made each sweep's memory grow with every link ever made); each
        other blob is then judged by the links its own record names."""
        now = self.records.now()
        needed = set()
        for key in self.records.keys(LINKS):
            record = self.records.get(key)
            if record is None:
                continue
            link_id, value = key[len(LINKS):], record.value
            if needs_blob(link_of(link_id, value, now), now):
                needed.add(value["oid"])
            elif max(value["expires"], value["created"]) < now - TOMBSTONE_SECONDS:
                try:  # long dead: 404 from now on
                    self.records.delete(key, record.version)
                except Conflict:
                    pass
        stored = {info.oid for info in self.backend.list(SHARES)}
        named = {key[len(BLOBS):] for key in self.records.keys(BLOBS)}
        removed = 0
        for oid in sorted((stored | named) - needed):
            removed += self._sweep_blob(oid, now)
        self.passwords.wrong.prune(now)
        return removed

    def release(self, oid: str) -> int:
        """Remove one blob now if every link its record names is dead (a link
        to it was just used up or deleted)."""
        with self._lock:
            return self._sweep_blob(oid, self.records.now())

    def _sweep_blob(self, oid: str, now: float) -> int:
        """Remove one blob if every link its record names is dead, or never
        came (a pin or a link not made yet) for ``ORPHAN_GRACE``; 1 if
        removed. Reads only those links."""
        record = self.records.get(BLOBS + oid)
        value = record.value if record is not None else {"refs": {}}
        if not value.get("removing"):  # else a sweep died removing it: finish the work
            ripe_at, idle_since = self._ripe_at(value, now)
            if ripe_at is None or now < ripe_at:
                if idle_since is not None and value.get("idle_since") is None:
                    self._write_blob(oid, record, dict(value, idle_since=idle_since))
                return 0
            if not self._write_blob(oid, record, dict(value, removing=True)):
                return 0  # named by a new link meanwhile
        try:
            self.backend.delete(SHARES, oid)
            removed = 1
        except NotFound:
            removed = 0
        self.records.delete(BLOBS + oid)
        return removed

    def _ripe_at(self, value: dict, now: float) -> Tuple[Optional[float], Optional[float]]:
        """When the blob may go (None: a live link needs it), and when it
        was first seen unnamed (for an orphan). Reads the links the record
        names, up to the first that still needs the blob."""
        refs = value.get("refs", {})
        if not refs:
            idle_since = value.get("idle_since") or now
            return idle_since + ORPHAN_GRACE, idle_since
        ripe_at = 0.0
        for link_id, named_at in refs.items():
            record = self.records.get(LINKS + link_id)
            if record is None:  # not made yet, or never made (its upload failed)
                ripe_at = max(ripe_at, named_at + ORPHAN_GRACE)
            elif needs_blob(link_of(link_id, record.value, now), now):
                return None, None
            else:
                ripe_at = max(ripe_at, _died_at(record.value))
        return ripe_at, None

    def _write_blob(self, oid: str, record, value: dict) -> bool:
        """Swap the blob's record (``record``, None: none yet) for ``value``;
        False if it changed since it was read."""
        try:
            if record is None:
                self.records.create(BLOBS + oid, value)
            else:
                self.records.replace(BLOBS + oid, value, record.version)
            return True
        except Conflict:
            return False


def give_back(records: Records, holder: Optional[str] = None) -> int:
    """Give back the reservations of ``holder`` (a worker that died: its
    transfers will never finish), or of every holder (None: at start, when
    none runs yet); on one machine, where holders are known. How many
    links had holds given back."""
    def drop(value: Optional[dict]) -> Optional[dict]:
        if value is None:
            return None
        holds = value.get("holds", {})
        kept = {hold: until for hold, until in holds.items()
                if holder is not None and not hold.startswith(holder + ".")}
        return None if len(kept) == len(holds) else dict(value, holds=kept)

    given = 0
    for key in list(records.keys(LINKS)):
        record = records.get(key)  # most links hold nothing: only those that do take a write
        if record is not None and drop(record.value) is not None:
            given += records.update(key, drop) is not None
    return given
