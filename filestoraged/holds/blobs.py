"""What holds stored bytes besides their owners' own records, and how
their removal is ordered against it: one engine for the bytes of the S3
API's keys (``catalog.claims``, ``catalog.pins``) and of share links
(``sharing.sweep``), each a family of blob records under its own prefix.

A blob's record (``<prefix><blob>``), one form for both families:

- ``pins``: ``{holder: since}``: uploads under way, and for share links
  the links made for the bytes;
- ``idle``: since when nothing holds them (None: something does, or
  nobody looked yet);
- ``removing``: since when a removal is under way (None: none);
- and what a family keeps beside (the S3 API's ``data`` and ``by``).

Of a pin and a removal, one wins. A pin is added by a compare-and-swap
that fails while ``removing`` is set (``pin`` waits for that removal to
end); a removal is claimed by a compare-and-swap of the record exactly as
its family judged it (``claim``), which fails if a pin came meanwhile.
Only a claimed removal deletes the bytes, and the record with them
(``finish``); one that died midway leaves ``removing`` set for the next
sweep to finish. Which holders count, and when unheld bytes are ripe, is
each family's rule; the engine keeps the records, the wait, the due index
a sweep reads (``holds.due``) and whose turn a timed sweep is.
"""

from __future__ import annotations

import threading
import time
from typing import Callable, Dict, Optional, TypeVar

from ..errors import BackendUnavailable, NotFound
from ..records.interface import Conflict, Record, Records
from .due import DueIndex

T = TypeVar("T")
Change = Callable[[Optional[dict]], Optional[dict]]
STEP = 0.05  # seconds between tries while a pin waits for a removal to end (a removal is two requests to the store)


class BlobRecords:
    def __init__(self, records: Records, prefix: str, due: str, turn: str,
                 written: Optional[Records] = None) -> None:
        """``prefix``: the family's blob records; ``due``: its due index's
        prefix; ``turn``: the record by which timed sweeps take turns;
        ``written``: where pins are written (``records`` by default: the
        S3 API's go to records that commit without an fsync, see
        ``catalog.pins``)."""
        self.records = records
        self.written = written or records
        self.prefix = prefix
        self.index = DueIndex(records, due)
        self.turn = turn

    def get(self, blob: str) -> Optional[Record]:
        return self.records.get(self.prefix + blob)

    # -- pins -------------------------------------------------------------------

    def try_pin(self, blob: str, holder: str, lapse: Optional[float] = None,
                also: Optional[Callable[[], None]] = None) -> Optional[bool]:
        """Add ``holder`` to the blob's pins (and clear ``idle``), unless a
        removal is under way (None); else whether the record was there
        before. ``lapse``: pins older than this many seconds are dropped
        meanwhile; ``also``: written with the pin, in one transaction
        where the records have them."""
        known = [False]
        now = self.records.now()

        def add(value: Optional[dict]) -> Optional[dict]:
            known[0] = value is not None
            value = value or {}
            if value.get("removing"):
                return None
            pins = value.get("pins", {})
            if lapse is not None:
                pins = live(pins, now, lapse)
            return dict(value, pins=dict(pins, **{holder: now}), idle=None)

        if also is None:
            return known[0] if self.written.update(self.prefix + blob, add) is not None else None
        with self.written.batch():
            if self.written.update(self.prefix + blob, add) is None:
                return None
            also()
        return known[0]

    def pin(self, blob: str, holder: str, wait: float, stop: threading.Event, busy: str,
            also: Optional[Callable[[], None]] = None) -> bool:
        """``try_pin``, waiting up to ``wait`` seconds for a removal under
        way to end (then ``BackendUnavailable(busy)``; ``stop``: wait no
        more)."""
        return waiting(lambda: self.try_pin(blob, holder, also=also), wait, stop, lambda: busy)

    def unpin(self, blob: str, holder: str, records: Optional[Records] = None) -> None:
        """Take ``holder`` out of the blob's pins (in ``records``: where
        pins are written, by default)."""
        (records or self.written).update(self.prefix + blob, without(holder))

    # -- removal ----------------------------------------------------------------

    def swap(self, blob: str, record: Optional[Record], value: dict) -> bool:
        """Replace the blob's record as read (``record``; None: there was
        none) with ``value``; False if it changed since."""
        try:
            if record is None:
                self.records.create(self.prefix + blob, value)
            else:
                self.records.replace(self.prefix + blob, value, record.version)
            return True
        except Conflict:
            return False

    def claim(self, blob: str, record: Optional[Record], value: dict, **marks) -> bool:
        """Claim the removal of the bytes whose record was read as
        ``record`` and judged as ``value``: ``removing`` set (and
        ``marks``) if it is unchanged; False if anything, a pin above all,
        changed it since."""
        return self.swap(blob, record, dict(value, removing=self.records.now(), **marks))

    def finish(self, blob: str, delete: Callable[[], None]) -> int:
        """A claimed removal's end: the bytes deleted (``delete``), then
        their record; 1, or 0 if the bytes were gone already."""
        try:
            delete()
            removed = 1
        except NotFound:
            removed = 0
        self.records.delete(self.prefix + blob)
        return removed

    # -- the sweep --------------------------------------------------------------

    def turn_taken(self, interval: float, wait: bool) -> bool:
        """Whether this sweep runs: always where asked for (``wait``); a
        timed one only if no process of any daemon began one in the last
        half ``interval``."""
        return wait or self.records.take_turn(self.turn, interval / 2)


def live(pins: Dict[str, float], now: float, lapse: float) -> Dict[str, float]:
    """The pins younger than ``lapse`` seconds."""
    return {holder: since for holder, since in pins.items() if now - since < lapse}


def without(holder: str) -> Change:
    """The change that takes ``holder`` out of a blob record's pins."""
    def drop(value: Optional[dict]) -> Optional[dict]:
        if value is None or holder not in value.get("pins", {}):
            return None
        return dict(value, pins={pin: at for pin, at in value["pins"].items() if pin != holder})

    return drop


def waiting(attempt: Callable[[], Optional[T]], wait: float, stop: threading.Event,
            busy: Callable[[], str]) -> T:
    """``attempt()`` until it returns something other than None, for up to
    ``wait`` seconds; then ``BackendUnavailable(busy())``."""
    got = attempt()  # the usual case: had at once, no clock read
    if got is not None:
        return got
    deadline = time.monotonic() + wait
    while True:
        if time.monotonic() >= deadline:
            raise BackendUnavailable(busy())
        stop.wait(STEP)
        got = attempt()
        if got is not None:
            return got
