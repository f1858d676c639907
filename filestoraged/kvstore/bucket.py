"""The key-value store of ``/kv`` in records (``--records s3``): a commit
through any daemon is seen by the next read through any other, and two
commits through different daemons are serialized, neither lost.

Records:

- ``kv/head``: ``gen`` (commits so far), ``epoch`` (the staging area now
  open) and ``pending`` (a committed epoch not yet applied, or None).
- ``kv/staging/<epoch>``: the staged changes, ``{key: [value]}`` to set and
  ``{key: []}`` to delete (JSON null is a value), and ``sealed`` once a
  commit took them. A sealed staging area is the commit's log.
- ``kv/data/<sha256 of key>``: a committed key: ``key``, ``value`` (or
  ``deleted``) and ``gen``, the commit that wrote it.

Staging is one area shared by every client and daemon, as the key-value
contract has it (``/set`` stages, ``/commit`` commits all that is staged).

A commit: seal the open staging area (a compare-and-swap: from then on no
change lands in it; a stage that meets a sealed area reads the head again),
then move the head to ``gen + 1``, the next epoch, and ``pending`` = the
sealed epoch. That swap is the commit point: a reader that finds
``pending`` answers from the log for the keys it holds, so the commit is
seen whole at once. Then the changes are applied to the key records (each
only over an older ``gen``) and ``pending`` is cleared. Whoever finds work
left by a daemon that died midway does it: a sealed area the head has not
moved past is rolled forward; a pending epoch is applied by the next commit.
The next area is made before the head names it, and an applied area is
emptied to a sealed tombstone (removed only ``TOMBSTONE_SECONDS`` later), so
a change that finds a sealed area (or none) knows the head has moved and
reads it again: no change can land where no commit will take it, not even
in an area a slow helper made again.

Round trips: a read, two GETs (three while a commit is being applied); a
staged change, four to five (the head, the area's read and write, the key's
committed state for 201/200); a commit, six plus two per key.
"""

from __future__ import annotations

import hashlib
import json
from typing import Any, Optional, Tuple

from ..errors import TooLarge
from ..records.interface import Conflict, Records
from .local import KVLimits, check_sizes

HEAD = "kv/head"
TOMBSTONES_KEPT = 64  # applied areas kept as tombstones: the last 64 epochs ...
TOMBSTONE_SECONDS = 600.0  # ... and any applied in the last 10 minutes, far beyond a request in flight
_EMPTY = {"gen": 0, "epoch": 0, "pending": None}
_OPEN = {"changes": {}, "sealed": False}


def _staging(epoch: int) -> str:
    return "kv/staging/%d" % epoch


def _data(key: str) -> str:
    return "kv/data/" + hashlib.sha256(key.encode("utf-8")).hexdigest()


def _bytes(key: str, text: str) -> int:
    """Bytes a staged change counts for, as the SQLite store counts them."""
    return len(key.encode()) + len(text.encode())


def _size(key: str, change: list) -> int:
    """``_bytes`` of a change already staged."""
    return _bytes(key, json.dumps(change[0], separators=(",", ":"), ensure_ascii=False) if change else "")


class SharedKVStore:
    """``KVStore``'s methods over ``records``."""

    def __init__(self, records: Records, limits: KVLimits) -> None:
        self.records = records
        self.limits = limits

    def _head(self) -> dict:
        record = self.records.get(HEAD)
        return record.value if record is not None else dict(_EMPTY)

    def _open_head(self) -> dict:
        """The head, made (with its open staging area first) if there is none."""
        record = self.records.get(HEAD)
        if record is not None:
            return record.value
        for key, value in ((_staging(0), _OPEN), (HEAD, _EMPTY)):
            try:
                self.records.create(key, value)
            except Conflict:
                pass
        return self._head()

    def lookup(self, key: str) -> Tuple[bool, Any]:
        """``(True, value)`` for a committed key, ``(False, None)`` if absent."""
        head = self._head()
        if head["pending"] is not None:
            log = self.records.get(_staging(head["pending"]))
            if log is not None and key in log.value["changes"]:  # committed, not applied yet
                change = log.value["changes"][key]
                return (True, change[0]) if change else (False, None)
        record = self.records.get(_data(key))
        if record is None or record.value.get("deleted"):
            return False, None
        return True, record.value["value"]

    def stage_set(self, key: str, value: Any) -> bool:
        """Stage ``key = value``; True if the key is new (absent from the
        committed state with the staged changes laid over it)."""
        text = json.dumps(value, separators=(",", ":"), ensure_ascii=False)
        check_sizes(self.limits, key, text)
        before = self._stage(key, [value], _bytes(key, text))
        if before is not None:
            return not before  # staged for deletion: setting it makes it new
        return not self.lookup(key)[0]

    def stage_delete(self, key: str) -> None:
        """Stage the deletion of ``key`` (whether or not it exists)."""
        check_sizes(self.limits, key, "")
        self._stage(key, [], _bytes(key, ""))

    def _stage(self, key: str, change: list, size: int) -> Optional[list]:
        """Put ``change`` (``size`` bytes) in the open staging area; the change it replaced."""
        while True:
            head = self._open_head()
            try:
                return self._stage_in(head["epoch"], key, change, size)
            except _Sealed as sealed:  # a commit took this area: help it along, then stage in the next
                self._roll_forward(head, sealed.value)

    def _stage_in(self, epoch: int, key: str, change: list, size: int) -> Optional[list]:
        replaced: list = []

        def add(value: Optional[dict]) -> dict:
            if value is None or value["sealed"]:  # gone (applied and removed) or taken: the head has moved
                raise _Sealed(value or {})
            changes = dict(value["changes"])
            old = changes.get(key)
            replaced[:] = [old]
            changes[key] = change
            # A running total: the area's bytes are never counted again in full.
            total = value.get("bytes", 0) + size - (0 if old is None else _size(key, old))
            if len(changes) > self.limits.max_staged_keys:
                raise TooLarge("%d changes are staged already; commit first" % self.limits.max_staged_keys)
            if total > self.limits.max_staged_bytes:
                raise TooLarge("the staging area is full (%d bytes); commit first" % self.limits.max_staged_bytes)
            return dict(value, changes=changes, bytes=total)

        self.records.update(_staging(epoch), add)
        return replaced[0]

    def commit(self) -> int:
        """Apply every staged change atomically; return how many there were."""
        while True:
            head = self._open_head()
            if head["pending"] is not None:  # the previous commit is not applied yet: finish it first
                self._apply(head)
                continue
            count = self._commit_from(head)
            if count is not None:
                return count

    def _commit_from(self, head: dict) -> Optional[int]:
        """Seal the open area and move the head past it; how many changes it
        held (None: another commit took it, look again)."""
        found: list = [{}]

        def seal(value: Optional[dict]) -> Optional[dict]:
            found[0] = value or {}
            if value is None or value["sealed"] or not value["changes"]:
                return None
            return dict(value, sealed=True, gen=head["gen"] + 1)

        written = self.records.update(_staging(head["epoch"]), seal)
        if written is None:
            if found[0] and not found[0]["sealed"]:
                return 0  # nothing staged
            self._roll_forward(head, found[0])
            return None
        self._roll_forward(head, written)
        self._apply(self._head())
        return len(written["changes"])

    def _roll_forward(self, head: dict, sealed: dict) -> None:
        """Move the head past a sealed staging area (the commit point), if
        it has not moved already."""
        epoch = head["epoch"]

        def advance(value: Optional[dict]) -> Optional[dict]:
            value = value or _EMPTY
            if value["epoch"] != epoch:
                return None
            return {"gen": sealed["gen"], "epoch": epoch + 1, "pending": epoch}

        if sealed.get("sealed"):
            try:  # the next area exists before the head names it (see _stage)
                self.records.create(_staging(epoch + 1), _OPEN)
            except Conflict:
                pass
            self.records.update(HEAD, advance)

    def _apply(self, head: dict) -> None:
        """Write the pending commit's changes to the key records, then clear ``pending``."""
        epoch, gen = head["pending"], head["gen"]
        if epoch is None:
            return
        log = self.records.get(_staging(epoch))
        for key, change in (log.value["changes"] if log is not None else {}).items():
            def write(value: Optional[dict], key: str = key, change: list = change) -> Optional[dict]:
                if value is not None and value["gen"] >= gen:
                    return None  # applied already, or overwritten by a later commit
                return {"key": key, "gen": gen, **({"value": change[0]} if change else {"deleted": True})}

            self.records.update(_data(key), write)

        def clear(value: Optional[dict]) -> Optional[dict]:
            return dict(value, pending=None) if value and value["pending"] == epoch else None

        self.records.update(HEAD, clear)
        # Emptied, never removed at once: a helper still holding an older head
        # could make an area of this epoch again (an orphan a stale change
        # would land in, lost); this tombstone makes that a conflict.
        now = self.records.now()
        self.records.update(_staging(epoch), lambda value: None if value is None or not value["changes"] else
                            {"changes": {}, "sealed": True, "gen": gen, "applied_at": now})
        if epoch % TOMBSTONES_KEPT == 0:
            self._forget(epoch - TOMBSTONES_KEPT, now)

    def _forget(self, below: int, now: float) -> None:
        """Remove the tombstones of epochs before ``below`` applied over
        ``TOMBSTONE_SECONDS`` ago (every ``TOMBSTONES_KEPT`` commits: one listing)."""
        for key in list(self.records.keys("kv/staging/")):
            if int(key.rsplit("/", 1)[1]) >= below:
                continue
            record = self.records.get(key)
            if record is None or not record.value.get("sealed") or record.value["changes"]:
                continue
            if now - record.value.get("applied_at", now) > TOMBSTONE_SECONDS:
                try:
                    self.records.delete(key, record.version)
                except Conflict:
                    pass

    def close(self) -> None:
        """The records are the caller's to close."""


class _Sealed(Exception):
    """The staging area a change was meant for was taken by a commit."""

    def __init__(self, value: dict) -> None:
        super().__init__("sealed")
        self.value = value
