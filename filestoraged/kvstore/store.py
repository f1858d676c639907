"""The transactional JSON key-value store behind ``/kv``, in records: one
store over ``meta.db``'s (one machine) or the bucket's (``--records s3``,
where a commit through any daemon is seen by the next read through any
other, and two commits through different daemons are serialized).

Staging is one area shared by every client and daemon, as the key-value
contract has it (``/set`` stages, ``/commit`` commits all that is staged).

Records:

- ``kv/head``: ``gen`` (commits so far), ``epoch`` (the staging area now
  open) and ``pending`` (a committed epoch not yet applied, or None).
- ``kv/staging/<epoch>``: the area's counts (``keys``, ``bytes``: the
  staging limits), ``sealed`` once a commit took it, ``gen`` the commit's
  number, and ``closed``: the key digests the commit holds, written once.
- ``kv/staged/<epoch>/<digest>``: one staged change, ``{key, change}``
  (``[value]`` to set, ``[]`` to delete: JSON null is a value), and
  ``claimed`` once a commit took it: from then on it never changes.
- ``kv/data/<digest>``: a committed key, its ``value`` (or ``deleted``) and
  ``gen``, the commit that wrote it.

A stage reserves its room in the open area (a compare-and-swap that fails
once the area is sealed), writes its change (refused once claimed), then
looks at the area again: still open, the coming commit will find the
change. Sealed meanwhile, it helps that commit close and looks whether the
change is in it; if not, it stages again in the next area.

A commit seals the open area, claims every change it finds there (claimed
changes never change), closes the area with their digests (the first
closer's list is the commit, whoever else was helping), makes the next
area, and moves the head to ``gen + 1``, the next epoch, with ``pending``
= the closed epoch: that swap is the commit point. A reader that finds
``pending`` answers from the closed area's changes for the keys it holds,
so the commit is seen whole at once. Then the changes are applied to the
key records (each only over an older ``gen``), ``pending`` is cleared, and
the changes become small claimed tombstones; areas and tombstones are
removed ``TOMBSTONE_SECONDS`` later. Whoever finds work left by a process
that died midway finishes it: a sealed area the head has not moved past is
rolled forward by the next stage or commit, a pending epoch applied by the
next commit.

Where the records make a block one transaction (``Records.batch``:
SQLite), each stage and commit is one, with one fsync, as a store with
tables of its own would do it; elsewhere each step stands alone and the
protocol above keeps a stop between any two safe. Reads keep the values of
hot keys for as long as the head's ``gen`` stays (any commit moves it).

Round trips in a bucket: a read, one GET for a key read since the last
commit (two otherwise, three or four while a commit is applied); a staged
change, about nine; a commit, thirteen plus six per key.
"""

from __future__ import annotations

import hashlib
import json
import threading
from collections import OrderedDict
from contextlib import nullcontext
from dataclasses import dataclass
from typing import Any, ContextManager, Dict, List, Optional, Tuple

from ..errors import TooLarge
from ..records.interface import Conflict, Records

HEAD = "kv/head"
AREAS = "kv/staging/"
CHANGES = "kv/staged/"
DATA = "kv/data/"
TOMBSTONES_KEPT = 64  # applied areas kept as tombstones: the last 64 epochs ...
TOMBSTONE_SECONDS = 600.0  # ... and any applied in the last 10 minutes, far beyond a request in flight
_EMPTY = {"gen": 0, "epoch": 0, "pending": None}
_OPEN = {"keys": 0, "bytes": 0, "sealed": False}
_CACHE_VALUE_MAX = 64 * 1024  # bigger values are read from the records each time
# The cache holds at most --kv-cache-keys keys and at most this many bytes of
# values (per process): 4,096 values of 64 KiB would be 256 MiB.
CACHE_BYTES = 8 * 1024 * 1024


@dataclass(frozen=True)
class KVLimits:
    max_key: int = 1024  # bytes of UTF-8
    max_value: int = 1024 * 1024  # bytes of JSON text
    max_staged_keys: int = 10000
    max_staged_bytes: int = 64 * 1024 * 1024
    cache_keys: int = 4096


def _area(epoch: int) -> str:
    return "%s%d" % (AREAS, epoch)


def _digest(key: str) -> str:
    return hashlib.sha256(key.encode("utf-8")).hexdigest()


def _change(epoch: int, digest: str) -> str:
    return "%s%d/%s" % (CHANGES, epoch, digest)


def _size(key: str, change: Optional[list]) -> int:
    """Bytes a staged change counts for: its key and its value's JSON text."""
    text = "" if not change else json.dumps(change[0], separators=(",", ":"), ensure_ascii=False)
    return len(key.encode()) + len(text.encode())


def check_sizes(limits: KVLimits, key: str, text: str) -> None:
    """``TooLarge`` for a key or a value's JSON text over the limits."""
    if len(key.encode()) > limits.max_key:
        raise TooLarge("keys are at most %d bytes" % limits.max_key)
    if len(text.encode()) > limits.max_value:
        raise TooLarge("values are at most %d bytes of JSON" % limits.max_value)


class _Sealed(Exception):
    """The area a change was meant for was taken by a commit: roll it
    forward, then read the head again."""


class KVStore:
    def __init__(self, records: Records, limits: KVLimits = KVLimits(), own: bool = False) -> None:
        """``own``: the records were opened for this store alone (a
        connection of its own: a commit's transaction keeps no other
        store's reads waiting); ``close`` closes them."""
        self.records = records
        self.limits = limits
        self._own = own
        self._lock = threading.Lock()
        self._cache: "OrderedDict[str, str]" = OrderedDict()  # key -> its committed JSON text ("" absent)
        self._cached_bytes = 0
        self._cached_gen = -1
        self._head_read: Tuple[object, Optional[dict]] = (None, None)  # (records' generation, head)

    # -- reading ------------------------------------------------------------------

    def lookup(self, key: str) -> Tuple[bool, Any]:
        """``(True, value)`` for a committed key (the value may be JSON null),
        ``(False, None)`` if absent."""
        head = self._current_head()
        if head["pending"] is not None:
            return self._committed(head, key)
        with self._lock:
            if self._cached_gen != head["gen"]:  # a commit since: nothing cached holds
                self._forget_all(head["gen"])
            text = self._cache.get(key)
            if text is not None:
                self._cache.move_to_end(key)
                return (True, json.loads(text)) if text else (False, None)
        found = self._applied(key)
        self._remember(head["gen"], key, json.dumps(found[1], separators=(",", ":")) if found[0] else "")
        return found

    def _committed(self, head: dict, key: str) -> Tuple[bool, Any]:
        """``lookup`` as of ``head``: a pending commit's own changes first,
        then the key's record."""
        if head["pending"] is not None:
            change = self._committed_change(head["pending"], _digest(key))
            if change is not None:
                return (True, change[0]) if change else (False, None)
        return self._applied(key)

    def _applied(self, key: str) -> Tuple[bool, Any]:
        record = self.records.get(DATA + _digest(key))
        if record is None or record.value.get("deleted"):
            return False, None
        return True, record.value["value"]

    def _committed_change(self, epoch: int, digest: str) -> Optional[list]:
        """The change of ``digest`` in the closed area ``epoch``, if the commit holds one."""
        area = self.records.get(_area(epoch))
        if area is None or digest not in (area.value.get("closed") or ()):
            return None
        staged = self.records.get(_change(epoch, digest))
        if staged is None or "change" not in staged.value:  # applied already: the key record has it
            return None
        return staged.value["change"]

    def _remember(self, gen: int, key: str, text: str) -> None:
        if len(text) > _CACHE_VALUE_MAX or self.limits.cache_keys <= 0:
            return
        with self._lock:
            if gen != self._cached_gen:
                return  # read under an older head: a later reader has moved on
            self._cached_bytes += len(text) - len(self._cache.pop(key, ""))
            self._cache[key] = text
            while len(self._cache) > self.limits.cache_keys or self._cached_bytes > CACHE_BYTES:
                self._cached_bytes -= len(self._cache.popitem(last=False)[1])

    def _forget_all(self, gen: int) -> None:
        self._cache.clear()
        self._cached_bytes = 0
        self._cached_gen = gen

    def _head(self) -> dict:
        record = self.records.get(HEAD)
        return record.value if record is not None else dict(_EMPTY)

    def _current_head(self) -> dict:
        """The head, read again only if a record may have changed since it
        was last read (where the records can tell cheaply)."""
        generation = self.records.generation()
        seen, head = self._head_read
        if generation is None or generation != seen or head is None:
            head = self._head()
            self._head_read = (generation, head)
        return head

    def _open_head(self) -> dict:
        """The head, made (with its open staging area first) if there is none."""
        record = self.records.get(HEAD)
        if record is not None:
            return record.value
        for key, value in ((_area(0), _OPEN), (HEAD, _EMPTY)):
            try:
                self.records.create(key, value)
            except Conflict:
                pass
        return self._head()

    # -- staging ------------------------------------------------------------------

    def _together(self) -> ContextManager[None]:
        """A staging's or a commit's steps as one transaction where the
        records make a batch atomic (SQLite: one fsync). Elsewhere each
        step stands alone, as the steps are written to: on PostgreSQL a
        transaction around them would hold each record it changed locked
        to its end, and two commits locking the head and the staging area
        in turn would deadlock."""
        return self.records.batch() if self.records.atomic else nullcontext()

    def stage_set(self, key: str, value: Any) -> bool:
        """Stage ``key = value``; True if the key is new (absent from the
        committed state with the staged changes laid over it)."""
        check_sizes(self.limits, key, json.dumps(value, separators=(",", ":"), ensure_ascii=False))
        with self._together():
            replaced, existed = self._stage(key, [value], ask=True)
            if replaced is not None:
                return not replaced  # staged for deletion: setting it makes it new
            return not existed

    def stage_delete(self, key: str) -> None:
        """Stage the deletion of ``key`` (whether or not it exists)."""
        check_sizes(self.limits, key, "")
        with self._together():
            self._stage(key, [], ask=False)

    def _stage(self, key: str, change: list, ask: bool) -> Tuple[Optional[list], bool]:
        """Put ``change`` in the open staging area: the change it replaced
        there, and (``ask``) whether the key was committed as of the commit
        before that area, the state the change is staged over."""
        digest, size = _digest(key), _size(key, change)
        while True:
            head = self._open_head()
            epoch = head["epoch"]
            # Read before the change goes in: a commit that takes it
            # afterwards must not make the key look committed before it.
            existed = ask and self._committed(head, key)[0]
            try:
                replaced = self._stage_in(epoch, digest, key, change, size)
            except _Sealed:  # a commit took this area: help it along, then stage in the next
                self._roll_forward(head)
                continue
            if self.records.atomic:  # one transaction: nothing sealed the area since the reservation
                return replaced, existed
            area = self.records.get(_area(epoch))
            if area is not None and not area.value["sealed"]:
                return replaced, existed  # the commit to come will find it
            if digest in self._roll_forward(head):  # sealed meanwhile: in that commit, or staged again
                return replaced, existed

    def _stage_in(self, epoch: int, digest: str, key: str, change: list, size: int) -> Optional[list]:
        """Reserve room in area ``epoch``, then write the change there; the
        change it replaced. ``_Sealed`` once a commit took the area."""
        before = self.records.get(_change(epoch, digest))
        if before is not None and "claimed" in before.value:
            raise _Sealed()
        old = before.value["change"] if before is not None else None

        def reserve(value: Optional[dict]) -> dict:
            if value is None or value["sealed"]:  # gone (applied and removed) or taken: the head has moved
                raise _Sealed()
            keys = value["keys"] + (old is None)
            total = value["bytes"] + size - (0 if old is None else _size(key, old))
            if keys > self.limits.max_staged_keys:
                raise TooLarge("%d changes are staged already; commit first" % self.limits.max_staged_keys)
            if total > self.limits.max_staged_bytes:
                raise TooLarge("the staging area is full (%d bytes); commit first" % self.limits.max_staged_bytes)
            return dict(value, keys=keys, bytes=total)

        def write(value: Optional[dict]) -> dict:
            if value is not None and "claimed" in value:
                raise _Sealed()
            return {"key": key, "change": change}

        self.records.update(_area(epoch), reserve)
        self.records.update(_change(epoch, digest), write)
        return old

    # -- committing ---------------------------------------------------------------

    def commit(self) -> int:
        """Apply every staged change atomically; return how many there were."""
        with self._together():
            while True:
                head = self._open_head()
                if head["pending"] is not None:  # the previous commit is not applied yet: finish it first
                    self._apply(head)
                    continue
                count = self._commit_from(head)
                if count is not None:
                    return count

    def _commit_from(self, head: dict) -> Optional[int]:
        """Seal the open area and roll it forward; how many changes it held
        (None: another commit took it, look again)."""
        found: List[Optional[dict]] = [None]

        def seal(value: Optional[dict]) -> Optional[dict]:
            found[0] = value
            if value is None or value["sealed"] or not value["keys"]:
                return None
            return dict(value, sealed=True, gen=head["gen"] + 1)

        sealed = self.records.update(_area(head["epoch"]), seal)
        if sealed is None:
            if found[0] is None:  # the open area is gone (never so, but for a hand-edited store): open it again
                try:
                    self.records.create(_area(head["epoch"]), _OPEN)
                except Conflict:
                    pass
                return 0
            if not found[0]["sealed"]:
                return 0  # nothing staged
            self._roll_forward(head)
            return None
        claimed: Dict[str, dict] = {}
        closed = self._roll_forward(head, sealed, claimed)
        self._apply({"gen": sealed["gen"], "pending": head["epoch"]}, closed, claimed)
        return len(closed)

    def _roll_forward(self, head: dict, sealed: Optional[dict] = None,
                      claimed: Optional[Dict[str, dict]] = None) -> List[str]:
        """Close the sealed area of ``head``'s epoch (``sealed``: its value,
        when the caller just wrote it), claiming its changes if no one has
        yet, and move the head past it, if it has not moved already; the
        digests the commit holds (none if the area is open, or gone long
        since); ``claimed`` is given the changes this call claimed, by digest."""
        epoch = head["epoch"]
        if sealed is None:
            area = self.records.get(_area(epoch))
            if area is None or not area.value["sealed"]:
                return []
            sealed = area.value
        gen = sealed["gen"]
        closed = sealed.get("closed")
        if closed is None:
            closed = self._close(epoch, gen, {} if claimed is None else claimed)
        try:  # the next area exists before the head names it (see _stage)
            self.records.create(_area(epoch + 1), _OPEN)
        except Conflict:
            pass

        def advance(value: Optional[dict]) -> Optional[dict]:
            value = value or _EMPTY
            if value["epoch"] != epoch:
                return None
            return {"gen": gen, "epoch": epoch + 1, "pending": epoch}

        self.records.update(HEAD, advance)
        return closed

    def _close(self, epoch: int, gen: int, claimed: Dict[str, dict]) -> List[str]:
        """Claim every change in the sealed area ``epoch`` (into ``claimed``,
        by digest) and close it with their digests; the first closer's list
        is the commit's."""
        for name in list(self.records.keys("%s%d/" % (CHANGES, epoch))):
            held: List[dict] = []

            def claim(value: Optional[dict], held: List[dict] = held) -> Optional[dict]:
                held[:] = [] if value is None else [value]
                if value is None or value.get("claimed") == gen:
                    return None
                return dict(value, claimed=gen)

            self.records.update(name, claim)
            if held:
                claimed[name.rsplit("/", 1)[1]] = held[0]

        def close(value: Optional[dict]) -> Optional[dict]:
            if value is None or value.get("closed") is not None:
                return None
            return dict(value, closed=sorted(claimed))

        written = self.records.update(_area(epoch), close)
        if written is not None:  # ours is the commit's list
            return written["closed"]
        area = self.records.get(_area(epoch))
        return list(area.value.get("closed") or ()) if area is not None else []

    def _apply(self, head: dict, closed: Optional[List[str]] = None, claimed: Optional[Dict[str, dict]] = None
               ) -> None:
        """Write the pending commit's changes (``closed``: their digests, and
        ``claimed``: their values, when the caller has them) to the key
        records, clear ``pending``, and leave its changes as claimed tombstones."""
        epoch, gen = head["pending"], head["gen"]
        if epoch is None:
            return
        if closed is None:
            area = self.records.get(_area(epoch))
            closed = list(area.value.get("closed") or ()) if area is not None else []
        for digest in closed:
            staged = (claimed or {}).get(digest)
            if staged is None:
                record = self.records.get(_change(epoch, digest))
                staged = None if record is None else record.value
            if staged is None or "change" not in staged:
                continue  # applied by another already
            key, change = staged["key"], staged["change"]

            def write(value: Optional[dict], key: str = key, change: list = change) -> Optional[dict]:
                if value is not None and value["gen"] >= gen:
                    return None  # applied already, or overwritten by a later commit
                return {"key": key, "gen": gen, **({"value": change[0]} if change else {"deleted": True})}

            self.records.update(DATA + digest, write)

        def clear(value: Optional[dict]) -> Optional[dict]:
            return dict(value, pending=None) if value and value["pending"] == epoch else None

        self.records.update(HEAD, clear)
        # Kept small, never removed at once: a stage that still holds an older
        # head must meet a claim (and stage again), not write where no commit
        # will look (see the module docstring).
        for digest in closed:
            self.records.update(_change(epoch, digest), lambda value: None if value is None or "change" not in value
                                else {"claimed": value["claimed"]})
        now = self.records.now()
        self.records.update(_area(epoch), lambda value: None if value is None or "applied_at" in value
                            else dict(value, applied_at=now))
        if epoch % TOMBSTONES_KEPT == 0:
            self._forget(epoch - TOMBSTONES_KEPT, now)

    def _forget(self, below: int, now: float) -> None:
        """Remove the tombstones of epochs before ``below`` applied over
        ``TOMBSTONE_SECONDS`` ago (every ``TOMBSTONES_KEPT`` commits: one
        listing). Where each stage is one transaction no stage is ever under
        way across a commit, and the epochs alone count."""
        grace = 0.0 if self.records.atomic else TOMBSTONE_SECONDS
        for name in list(self.records.keys(AREAS)):
            epoch = int(name.rsplit("/", 1)[1])
            if epoch >= below:
                continue
            record = self.records.get(name)
            if record is None or now - record.value.get("applied_at", now) < grace:
                continue
            for change in list(self.records.keys("%s%d/" % (CHANGES, epoch))):
                self.records.delete(change)
            try:
                self.records.delete(name, record.version)
            except Conflict:
                pass

    def close(self) -> None:
        if self._own:
            self.records.close()
