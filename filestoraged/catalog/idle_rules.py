"""When the sweep may take a repository's idle bytes, as pure code over
their blob record (``claims``), so the rule reads in one place and is
tested as a table (``tests/catalog/test_idle_rules.py``).

The blob record says what holds the bytes besides keys (``data``: the
repository's own face stored them; ``pins``: uploads under way), since
when nothing does (``idle``), and whether a removal is under way
(``removing``, since when). What the sweep does with one, at ``now``:

- no record: nothing (the bytes went with it, or were never tracked);
- a removal under way for less than ``STALE_REMOVAL``: another is removing
  them: look again once it would be stale;
- a removal older than that: it died midway: ``FINISH`` it (the bytes and
  the record go; nothing else may hold them: a removal is only claimed
  while nothing does, and an upload that came since cleared the mark);
- not idle, and pinned (pins are written in the record where several
  daemons share the records: ``catalog.pins``): an upload holds them, or
  held them and died before its end let go: look again once the last pin
  lapses (``GRACE`` after it); once every pin lapsed, idle since the last
  one (an upload that dies leaves its pin, and the entry its pin of new
  bytes wrote brings the sweep here);
- held (``held()``: by ``data``, a live pin, or a key's name) or not idle:
  nothing, until they fall idle again (a new entry in the due index);
- idle for less than ``GRACE``: look again when it ends;
- idle for ``GRACE``: ``CLAIM`` the removal (a compare-and-swap of the
  record, then a last look for names, then the bytes go).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Optional

from .pins import GRACE

STALE_REMOVAL = 60.0  # seconds after which a removal under way is taken for one that died
NOTHING, LATER, FINISH, CLAIM = "nothing", "later", "finish", "claim"


@dataclass(frozen=True)
class Verdict:
    action: str  # NOTHING, LATER, FINISH or CLAIM
    at: Optional[float] = None  # LATER: when to look again


def judged(value: Optional[dict], now: float, held: Callable[[], bool]) -> Verdict:
    """What the sweep does with bytes whose blob record is ``value`` (None:
    none), as the module says; ``held()`` is asked only where it matters
    (it reads the records: the names of keys)."""
    if value is None:
        return Verdict(NOTHING)
    removing = value.get("removing")
    if removing is not None:
        if now - float(removing) < STALE_REMOVAL:
            return Verdict(LATER, float(removing) + STALE_REMOVAL)
        return Verdict(FINISH)
    idle = value.get("idle")
    pins = value.get("pins") or {}
    if idle is None and pins:
        last = max(float(since) for since in pins.values())
        if now - last < GRACE:
            return Verdict(LATER, last + GRACE)
        idle = last  # every pin lapsed: idle since the last, unless a key or the repository holds them
    if idle is None or held():
        return Verdict(NOTHING)
    if now - float(idle) < GRACE:
        return Verdict(LATER, float(idle) + GRACE)
    return Verdict(CLAIM)
