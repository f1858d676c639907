"""A bucket's bytes counted in the records, for a store whose backend keeps
no index of its own to count them in (several daemons over one S3 store;
the disk backend counts in its object index, ``storage.disk.quota``).

One record per bucket with a quota, ``quota-ledger/<bucket>``, and one per
owner of buckets with a quota, ``quota-owners/<owner>`` (all the owner's
buckets together: docs/quotas.md):

- ``stored``: the bytes its objects take (its repository's and its
  unfinished multipart uploads' parts', or all of them of every bucket
  of the owner's), counted as writes publish them and deletes remove them;
- ``held``: ``{holder: [bytes, until]}``: what writes under way hold
  against the quota, each until it is published, given back, or ``until``
  passes (a daemon that died holding it: ``HELD_FOR`` after the write's
  last renewal; None: a resumable upload's, until it ends);
- ``counting``, ``added``: a count from a listing under way (``recount``),
  and what writes stored meanwhile.

Every change is one compare-and-swap of that record, so writes through
any daemons at once never pass the quota between them (a write into a
bucket counted in both takes its hold in each, the owner's first, and
gives back the first if the second refuses). A write's bytes
move from held to stored *before* they are published, and come off again
where they were not (the same bytes were there, or the write failed): a
daemon that dies between the two leaves the count too high, never too
low. Setting a quota (or giving a bucket to another owner) counts afresh
from a listing, which also takes back what such a death left.
"""

from __future__ import annotations

import secrets
from typing import Callable, Dict, Optional, Tuple

from ..errors import BucketQuotaReached
from ..records.interface import Records

LEDGERS = "quota-ledger/"  # a bucket's ledger
OWNER_LEDGERS = "quota-owners/"  # an owner's ledger
HELD_FOR = 300.0  # seconds a write's hold outlives its last renewal (a daemon that died holding it)
RENEW_AFTER = 60.0  # seconds after which a write renews its hold as its bytes arrive


class Ledger:
    """The ledgers under one prefix (``LEDGERS``: buckets'; ``OWNER_LEDGERS``: owners'), each by its name."""

    def __init__(self, records: Records, prefix: str = LEDGERS) -> None:
        self.records = records
        self.prefix = prefix

    def take(self, name: str, quota: int, holder: str, count: int, lasting: bool = False,
             said: Optional[str] = None) -> None:
        """``count`` more bytes held by ``holder`` against ``name``'s
        ``quota``, if what it stores and holds leaves room; else
        ``BucketQuotaReached`` (its message begins with ``said``, what the
        quota is) and nothing held. ``lasting``: held until given back (a
        resumable upload's), never lapsing. A ``count`` below zero gives
        that much of the hold back."""
        now = self.records.now()

        def holding(value: Optional[dict]) -> dict:
            value = _live(value, now)
            held = value["held"]
            stored, holds = value["stored"], _holding(held)
            if count > 0 and stored + holds + count > quota:
                raise BucketQuotaReached("%s of %d bytes has no room for %d more (%d stored, %d being written)" % (
                    said or "the bucket %s's quota" % name, quota, count, stored, holds))
            before = held.get(holder, [0, None])[0]
            if before + count > 0:
                held[holder] = [before + count, None if lasting else now + HELD_FOR]
            else:
                held.pop(holder, None)
            return value

        self.records.update(self.prefix + name, holding)

    def renew(self, name: str, holder: str) -> None:
        """``holder``'s hold kept another ``HELD_FOR`` (its write lives)."""
        now = self.records.now()

        def renewing(value: Optional[dict]) -> Optional[dict]:
            entry = None if value is None else value.get("held", {}).get(holder)
            if entry is None or entry[1] is None:
                return None
            value["held"] = dict(value["held"], **{holder: [entry[0], now + HELD_FOR]})
            return value

        self.records.update(self.prefix + name, renewing)

    def settle(self, name: str, quota: Optional[int], holder: str, size: int) -> None:
        """A write of ``size`` bytes is about to be published: what
        ``holder`` held given back and ``size`` counted stored, at once.
        Where it held less (a lapsed hold), the rest must find room
        (``BucketQuotaReached``)."""
        now = self.records.now()

        def settling(value: Optional[dict]) -> dict:
            value = _live(value, now)
            held = value["held"]
            had = held.pop(holder, [0, None])[0]
            if quota is not None and size > had and \
                    value["stored"] + _holding(held) + size > quota:
                raise BucketQuotaReached("the quota of %s of %d bytes has no room for %d more (%d stored)"
                                         % (name, quota, size, value["stored"]))
            value["stored"] += size
            if "counting" in value:
                value["added"] += size
            return value

        self.records.update(self.prefix + name, settling)

    def unsettle(self, name: str, size: int) -> None:
        """What ``settle`` counted of a write that was not published after
        all (or whose bytes were there already) taken off again."""
        def unsettling(value: Optional[dict]) -> Optional[dict]:
            if value is None:
                return None
            value["stored"] = max(0, value["stored"] - size)
            if "counting" in value:
                value["added"] -= size
            return value

        self.records.update(self.prefix + name, unsettling)

    def release(self, name: str, holder: str) -> None:
        """What ``holder`` holds given back (its write ended without publishing)."""
        def releasing(value: Optional[dict]) -> Optional[dict]:
            if value is None or holder not in value.get("held", {}):
                return None
            value["held"] = {other: entry for other, entry in value["held"].items() if other != holder}
            return value

        self.records.update(self.prefix + name, releasing)

    def removed(self, name: str, size: int) -> None:
        """An object of ``size`` bytes was deleted. While a listing counts
        the bucket, nothing is taken off: the listing may have counted the
        object before it went (too high, then, never too low)."""
        def removing(value: Optional[dict]) -> Optional[dict]:
            if value is None or "counting" in value:
                return None
            value["stored"] = max(0, value["stored"] - size)
            return value

        self.records.update(self.prefix + name, removing)

    def recount(self, name: str, listed: Callable[[], int]) -> int:
        """``name``'s stored bytes counted afresh: ``listed()`` (what a
        listing of its objects finds) plus what writes stored while it
        ran; holds kept. The count set (an earlier count's death, or a
        daemon's between a settle and its publish, taken back)."""
        mark = secrets.token_hex(8)
        now = self.records.now()

        def starting(value: Optional[dict]) -> dict:
            value = _live(value, now)
            value.update(counting=mark, added=0)
            return value

        self.records.update(self.prefix + name, starting)
        found = listed()
        counted = [found]

        def ending(value: Optional[dict]) -> Optional[dict]:
            if value is None or value.get("counting") != mark:
                return None  # another count began meanwhile: its end sets the count
            counted[0] = found + max(0, value.pop("added"))
            del value["counting"]
            value["stored"] = counted[0]
            return value

        self.records.update(self.prefix + name, ending)
        return counted[0]

    def forget(self, name: str) -> None:
        """``name`` has no quota any more: its count goes (counted afresh
        when it has one again)."""
        self.records.delete(self.prefix + name)

    def counts(self) -> Dict[str, Tuple[int, int]]:
        """Every counted bucket's (or owner's) stored and held bytes, by name."""
        now = self.records.now()
        found: Dict[str, Tuple[int, int]] = {}
        for key, record in self.records.items(self.prefix):
            value = _live(dict(record.value), now)
            found[key[len(self.prefix):]] = (value["stored"], _holding(value["held"]))
        return found

    def count(self, name: str) -> Tuple[int, int]:
        """``name``'s stored and held bytes ((0, 0): not counted)."""
        record = self.records.get(self.prefix + name)
        if record is None:
            return 0, 0
        value = _live(dict(record.value), self.records.now())
        return value["stored"], _holding(value["held"])


def _holding(held: Dict[str, list]) -> int:
    """The bytes ``held`` (a ledger's holds) hold together."""
    return sum(entry[0] for entry in held.values())


def _live(value: Optional[dict], now: float) -> dict:
    """A ledger's value (a new one's: nothing) without the holds that lapsed."""
    value = dict(value or {})
    value.setdefault("stored", 0)
    value["held"] = {holder: entry for holder, entry in (value.get("held") or {}).items()
                     if entry[1] is None or entry[1] > now}
    return value
