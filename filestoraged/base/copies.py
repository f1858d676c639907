"""Copies of what every request reads from the records (its token, the
failed attempts of its address), kept in the process for as long as they
are known to be true.

A copy is believed while the ``ChangeMark`` of what it copies is the one
seen before it was read: every change, in any process of the machine,
replaces the mark after its commit, so a copy is never older than the last
change committed before the request that uses it began. Where no mark is
shared (records several daemons share), a copy is believed for
``seconds`` at most, the bound the deployment gives; with neither, nothing
is kept and every use reads. A copy is handed to every thread that asks:
what it holds is never changed in place.
"""

from __future__ import annotations

import threading
import time
from typing import Callable, Dict, Generic, Optional, Tuple, TypeVar

from .interprocess import ChangeMark

V = TypeVar("V")
MOST = 10000  # copies kept at most; past it, all are dropped and read again


class Copies(Generic[V]):
    def __init__(self, mark: Optional[ChangeMark], seconds: float = 0.0) -> None:
        self.mark = mark
        self.seconds = seconds
        self.kept = mark is not None or seconds > 0  # whether copies are kept at all
        self._copies: Dict[str, Tuple[int, float, V]] = {}  # name -> (mark seen, read at, value)
        self._lock = threading.Lock()  # for changes of ``_copies``; a look is one ``dict.get``, whole

    def get(self, name: str, read: Callable[[], V]) -> V:
        """The copy of ``name`` if it is still believed, else ``read()``'s
        answer (kept as the copy)."""
        if not self.kept:
            return read()
        found = self.peek(name)
        if found is not None:
            return found[0]
        seen = self.mark.seen() if self.mark is not None else 0  # before the read: a change after it shows
        value = read()
        with self._lock:
            if len(self._copies) >= MOST:
                self._copies.clear()
            self._copies[name] = (seen, time.monotonic(), value)
        return value

    def peek(self, name: str) -> Optional[Tuple[V]]:
        """``(copy,)`` of ``name`` if one is believed now, else None (nothing is read)."""
        entry = self._copies.get(name)
        if entry is None:
            return None
        seen, read_at, value = entry
        if self.mark is not None:
            return (value,) if self.mark.seen() == seen else None
        return (value,) if time.monotonic() - read_at <= self.seconds else None

    def changed(self, name: Optional[str] = None) -> None:
        """A change was committed (to ``name``, or to anything): this
        process's copy goes at once, the others' with the mark."""
        with self._lock:
            if name is None:
                self._copies.clear()
            else:
                self._copies.pop(name, None)
        if self.mark is not None:
            self.mark.change()
