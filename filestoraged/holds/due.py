"""When to look at what: an index of records whose names sort by time, so
that a sweep reads only what is due instead of every record it might
have to act on.

An entry is ``<prefix><when>/<what>`` with ``when`` in whole seconds
(rounded up, zero-padded: the names sort as the times do) and no value.
It is written before the change it is for (a record that may then be
acted on at ``when``), read from the start up to now a page at a time,
and deleted once looked at; an entry for something that changed since is
looked at and finds nothing to do. The index the holds engine's sweeps
read (``holds.blobs``: the S3 API's bytes, ``catalog.claims``; share
links' blobs and links, ``sharing.sweep``).
"""

from __future__ import annotations

import math
from typing import Callable, Iterator, Tuple

from ..records.interface import Conflict, Records

PAGE = 500  # entries read at a time, once a sweep finds them due
FIRST_PAGE = 8  # entries a sweep reads first (most sweeps find none due)


class DueIndex:
    def __init__(self, records: Records, prefix: str) -> None:
        """``prefix``: the index's family (ends with ``/``)."""
        self.records = records
        self.prefix = prefix

    def key(self, when: float, what: str) -> str:
        """The entry of "look at ``what`` at ``when``"."""
        return "%s%012d/%s" % (self.prefix, max(0, math.ceil(when)), what)

    def at(self, when: float, what: str) -> None:
        """Look at ``what`` at ``when`` (an entry there already is kept)."""
        try:
            self.records.create(self.key(when, what), {})
        except Conflict:
            pass

    def due(self, now: float) -> Iterator[Tuple[str, str]]:
        """``(entry, what)`` for the entries up to ``now``, oldest first, in
        pages that grow while all they hold is due."""
        after, size = "", FIRST_PAGE
        while True:
            page = list(self.records.keys(self.prefix, after, size))
            for key in page:
                when, _, what = key[len(self.prefix):].partition("/")
                if int(when) > now:
                    return
                yield key, what
            if len(page) < size:
                return
            after, size = page[-1], min(size * 2, PAGE)

    def sweep(self, now: float, look: Callable[[str], int]) -> int:
        """``look`` at everything due by ``now``, each entry deleted once
        looked at (one whose look failed stays, for the next sweep); the
        sum of what the looks returned (what they removed)."""
        done = 0
        for key, what in self.due(now):
            done += look(what)
            self.records.delete(key)
        return done
