"""A bucket's recent changes, newest first, for people (the console's
bucket page): what changed (a write, a delete, a delete of one version, a
change of tags or lock), which key and version, by which token, when.

Every face changes keys through the keyspace's one commit point, which
tells this after each change it made (``note``). Changes are gathered in
memory and written to one record per bucket (``s3/recent/<bucket>``, the
last ``KEPT``) every ``FLUSH_SECONDS`` by a thread of the process, and at
once before this process reads them: a write costs no record of its own,
only a share of one update per bucket and interval. The decision that
follows: the list is a view, not an audit trail. A process killed before
its next flush loses the changes it had not written yet (the access log,
which names the token of every request, is the record of who did what);
across processes, a change shows within ``FLUSH_SECONDS``.
"""

from __future__ import annotations

import threading
from collections import defaultdict
from dataclasses import dataclass
from operator import itemgetter
from typing import Dict, List, Optional

from ..records.interface import Records

RECENT = "s3/recent/"
KEPT = 100  # changes a bucket's record keeps
FLUSH_SECONDS = 2.0
WHAT = ("write", "delete", "delete version", "change")  # what a change did
_AT = itemgetter("at")


@dataclass(frozen=True)
class Change:
    what: str  # one of WHAT
    key: str
    version: Optional[str]  # the version written, removed or changed (None in a bucket without versions)
    by: Optional[str]  # the name of the token that made it (None: not known, or --auth off)
    at: float


class Recent:
    def __init__(self, records: Records) -> None:
        self.records = records
        self._pending: Dict[str, List[Change]] = defaultdict(list)
        self._lock = threading.Lock()

    def note(self, bucket: str, change: Change) -> None:
        """A change the keyspace committed (written with the next flush)."""
        with self._lock:
            pending = self._pending[bucket]
            pending.append(change)
            del pending[:-KEPT]

    def flush(self) -> None:
        """Every bucket's pending changes written to its record (merged with
        what other processes wrote: newest first, the last ``KEPT``)."""
        with self._lock:
            pending, self._pending = self._pending, defaultdict(list)
        for bucket, changes in pending.items():
            # Made by hand and sorted by a key of C's: ``asdict`` copies
            # deeply, field by field, and a key function is a call an item.
            fresh = [{"what": change.what, "key": change.key, "version": change.version, "by": change.by,
                      "at": change.at} for change in reversed(changes)]

            def merged(value: Optional[dict], fresh: List[dict] = fresh) -> dict:
                kept = (value or {}).get("changes", [])
                return {"changes": sorted(fresh + kept, key=_AT, reverse=True)[:KEPT]}  # stable: as before

            self.records.update(RECENT + bucket, merged)

    def of(self, bucket: str, since: float, limit: int = KEPT) -> List[Change]:
        """``bucket``'s recent changes since ``since`` (when it was made: a
        bucket made again under its name shows none of the one before),
        newest first (this process's own written first)."""
        self.flush()
        record = self.records.get(RECENT + bucket)
        changes = record.value.get("changes", []) if record else []
        return [Change(**change) for change in changes if change["at"] >= since][:limit]

    def forget(self, bucket: str) -> None:
        """The bucket went: its changes too."""
        with self._lock:
            self._pending.pop(bucket, None)
        self.records.delete(RECENT + bucket)

