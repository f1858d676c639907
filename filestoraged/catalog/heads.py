"""A key's head: the one record that holds the truth of a key, its current
version and the list of all its others, so that every change of a key is
one compare-and-swap of one record, on every kind of records.

``s3/keys/<bucket>/<encoded key>`` holds

- where the key's newest version is an object, that object's entry
  (``keys.Entry``), field for field: a GET, a HEAD and a listing read this
  one record, in a bucket with versions as in one without;
- ``older``: every other version, newest first, as a short item: an
  object ``{"id", "oid", "at"}``, whose entry is the record
  ``s3/versions/<bucket>/<encoded key>,<at>``; a delete marker
  ``{"id", "marker": <when made>}`` (and ``"by"``: the token that made it). Where the newest version is a delete
  marker, the head holds no entry and ``older`` begins with the marker.

A version is there exactly when its head lists it. A version record is
written before the swap that lists it, under a name nobody else can pick
(its sort id and a random tag: ``spill_at``), never changed after (a new
lock or new tags are a new record and a swap of the item), and removed
after the swap that stops listing it; one that a lost race or a stop left
behind is listed by no head and read by nobody. What holds the bytes
(``Head.holds``) follows from the head alone, so a change carries what it
does to the holds: named before its swap, let go after it.

The changes below are pure: they take a head and give the next one,
following ``version_rules``; ``Keyspace`` reads, judges and swaps.
"""

from __future__ import annotations

import secrets
import time
from dataclasses import dataclass, field
from typing import Callable, List, Optional, Set, Tuple

from ..errors import BadRequest
from .keys import Entry
from .version_rules import change

NULL = "null"
_TOP = 2 ** 64 - 1
Holds = Set[Tuple[str, Optional[str]]]  # (oid, None for the current version, else its version id)


def new_version_id() -> str:
    """A version id: 16 hex digits that fall with time (newest sorts first),
    and 8 random ones."""
    return "%016x%s" % (_TOP - time.time_ns(), secrets.token_hex(4))


def label(entry: Entry) -> str:
    """The version id a client sees for ``entry`` (``null`` if it has none)."""
    return entry.version or NULL


def checked_id(text: str) -> str:
    """A version id from a request: ``null`` or one this server made
    (InvalidArgument otherwise)."""
    if text == NULL or (len(text) == 24 and all(char in "0123456789abcdef" for char in text)):
        return text
    raise BadRequest("Invalid version id specified").as_s3("InvalidArgument")


def sort_at(when: float) -> str:
    """The sort id of a ``null`` version made at ``when`` (a version id's
    shape, falling with time as ids do)."""
    return "%016x00000000" % (_TOP - int(when * 1e9))


def sort_of(entry: Entry) -> str:
    return entry.version or sort_at(entry.modified)


def spill_at(entry: Entry) -> str:
    """A fresh name for ``entry``'s version record: its sort id and a tag
    no other writer picks."""
    return "%s-%s" % (sort_of(entry), secrets.token_hex(4))


def item_sort(item: dict) -> str:
    """An older item's sort id (a version's place among its key's)."""
    if "marker" in item:
        return item["id"] if item["id"] != NULL else sort_at(float(item["marker"]))
    return item["at"].partition("-")[0]


def is_marker(item: dict) -> bool:
    return "marker" in item


@dataclass
class Head:
    """A key's versions: ``current`` where the newest is an object (None:
    it is a delete marker, ``older[0]``), and the ``older`` items, newest
    first (see the module)."""

    current: Optional[Entry]
    older: List[dict] = field(default_factory=list)

    @classmethod
    def of(cls, value: Optional[dict]) -> "Head":
        if value is None:
            return cls(None, [])
        return cls(Entry.of(value) if "oid" in value else None, list(value.get("older") or ()))

    def value(self) -> Optional[dict]:
        """The record's value; None where the key has no version left (its
        record goes)."""
        if self.current is None and not self.older:
            return None
        value = self.current.record() if self.current is not None else {}
        if self.older:
            value["older"] = self.older
        return value

    def holds(self) -> Holds:
        """What of the bucket's bytes the key's versions name."""
        held = {(item["oid"], item["id"]) for item in self.older if "oid" in item}
        if self.current is not None:
            held.add((self.current.oid, None))
        return held

    def latest_marker(self) -> Optional[dict]:
        """The delete marker that is the key's newest version, if it is one."""
        if self.current is None and self.older and is_marker(self.older[0]):
            return self.older[0]
        return None

    def find(self, version_id: str) -> Optional[dict]:
        """The older item of ``version_id``."""
        return next((item for item in self.older if item["id"] == version_id), None)


@dataclass
class Next:
    """A change's outcome: the ``head`` to swap in, the entries to write as
    version records first (``spills``: ``(at, entry)``), the version
    records to remove once the swap is in (``drops``: their ``at``), and
    what went (``gone``: the entry or the marker item a delete removed),
    and what the commit must send elsewhere (``sends``: ``(kind, version
    id, fields)`` items of ``catalog.outbox``)."""

    head: Head
    spills: List[Tuple[str, Entry]] = field(default_factory=list)
    drops: List[str] = field(default_factory=list)
    gone: Optional[object] = None
    sends: List[Tuple[str, Optional[str], Optional[dict]]] = field(default_factory=list)


def _kept(old: Head, older: List[dict], spills: List[Tuple[str, Entry]], versioning: str, delete: bool) -> List[dict]:
    """``older`` as a write or a delete leaves it: the current object kept
    where the rules keep it, the older ``null`` version gone where the new
    version takes its place."""
    rule = change(versioning, old.current, delete)
    if rule.drops_null:
        older = [item for item in older if item["id"] != NULL]
    if old.current is not None and rule.keeps:
        at = spill_at(old.current)
        spills.append((at, old.current))
        older.insert(0, {"id": label(old.current), "oid": old.current.oid, "at": at})
    return older


def written(old: Head, entry: Entry, versioning: str) -> Next:
    """A write of ``entry`` (its version id already given) over ``old``, in
    a bucket whose versioning is ``versioning``."""
    spills: List[Tuple[str, Entry]] = []
    older = _kept(old, list(old.older), spills, versioning, delete=False)
    return Next(Head(entry, older), spills, _dropped(old.older, older))


def deleted(old: Head, versioning: str, marker_id: Optional[str], now: float, by: Optional[str] = None) -> Next:
    """A delete without a version id over ``old``: the current object gone
    or kept, and where the bucket keeps versions a delete marker (id
    ``marker_id``, None for ``null``; ``by``: the name of the token that
    deleted, kept with it) made newest."""
    spills: List[Tuple[str, Entry]] = []
    older = _kept(old, list(old.older), spills, versioning, delete=True)
    if change(versioning, old.current, delete=True).marker:
        older.insert(0, {"id": marker_id or NULL, "marker": now, **({"by": by} if by else {})})
    return Next(Head(None, older), spills, _dropped(old.older, older), gone=old.current)


def removed(old: Head, version_id: str, entry_of: Callable[[dict], Entry]) -> Next:
    """A delete of the version ``version_id`` (it must be there): gone for
    good; where it was the newest, the next one is newest again, current
    if it is an object (``entry_of(item)`` reads its record)."""
    older = list(old.older)
    current = old.current
    if current is not None and label(current) == version_id:
        gone: object = current
        current = None
    else:
        found = old.find(version_id)
        older.remove(found)
        gone = found
    if current is None and older and not is_marker(older[0]):
        current = entry_of(older.pop(0))  # newest again: the head holds it as current
    return Next(Head(current, older), [], _dropped(old.older, older), gone)


def amended(old: Head, version_id: str, entry: Entry) -> Next:
    """The version ``version_id`` (current or older, an object) replaced by
    ``entry``, its lock or tags changed: an older one under a new record."""
    if old.current is not None and label(old.current) == version_id:
        return Next(Head(entry, list(old.older)))
    at = spill_at(entry)
    older = [dict(item, at=at) if item["id"] == version_id else item for item in old.older]
    return Next(Head(old.current, older), [(at, entry)], _dropped(old.older, older))


def _dropped(before: List[dict], after: List[dict]) -> List[str]:
    """The version records listed before and not after (removed once the swap is in)."""
    kept = {item["at"] for item in after if "at" in item}
    return [item["at"] for item in before if "at" in item and item["at"] not in kept]
