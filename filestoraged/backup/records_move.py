"""``filestoraged move-records URL``: a store's records (from ``--records
local`` or ``--records s3``) copied into a PostgreSQL database, so that
daemons serve the store with ``--records URL``; the bytes stay in the S3
store where they are (``--backend s3``; a disk store moves to S3 first,
``move-to-s3``).

It runs with every daemon stopped: over ``--records local`` it takes the
data directory's lock as a daemon does; over ``--records s3``, where no
lock is shared, it refuses while a daemon's serving lease holds
(``deployment.serving``: written before its first request) or a daemon
has taken a sweep's turn in the last ``SERVING_WITHIN`` seconds. Share-link reservations a stopped run left are given
back first. What is left out, as a backup leaves it: uploads not
finished, the failed attempts counted against addresses, the share-link
holds.

Run again, it writes only what no run wrote, as ``move-to-s3`` does (its
``Marks`` in the data directory, per database): a record moved before and
unchanged here is the database's to keep; one changed on both sides is
written by nobody and named. Records go in transactions of ``PAGE``, their
marks kept once each committed. Every record written is read back from the
database at the end.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import List, Optional, Tuple

from ..deployment import deployment_for
from ..deployment.serving import serving
from ..errors import Conflict
from ..records.interface import EARLIER, WRITE_ID, Records
from ..records.postgres import PostgresRecords, address_of, shown
from ..sharing.sweep import SWEEP_TURN as SHARE_TURN, give_back
from ..catalog.claims import SWEEP_TURN as BYTES_TURN
from ..workers import dirlock
from .to_s3 import LEFT_OUT, Marks, move_record

PAGE = 1000  # records read at a time
SERVING_WITHIN = 150.0  # seconds: a sweep's turn taken this recently means a daemon serves


@dataclass
class MovedRecords:
    records: int = 0
    written: int = 0  # records written by this run (the others were moved by an earlier one)
    missing: List[str] = field(default_factory=list)  # written, and not found in the database afterwards
    conflicts: List[str] = field(default_factory=list)  # changed on both sides: written by nobody


def move_records(config, url: str) -> MovedRecords:
    """The records ``config`` names into the database at ``url``, as the module says."""
    lock = dirlock.hold(config.data_dir) if config.records == "local" else None
    source: Optional[Records] = None
    target: Optional[PostgresRecords] = None
    try:
        source, _ = deployment_for(config).open_records()
        if config.records != "local":
            _refuse_if_serving(source)
        target = PostgresRecords(address_of(url))
        give_back(source)
        moved = MovedRecords()
        written: List[str] = []
        with Marks(config.data_dir, shown(url), flush_every=None) as marks:
            chunk: List[Tuple[str, dict]] = []
            for name, record in source.walk("", PAGE):
                if name.startswith(LEFT_OUT):
                    continue
                moved.records += 1
                chunk.append((name, {key: found for key, found in record.value.items()
                                     if key not in (WRITE_ID, EARLIER)}))
                if len(chunk) == PAGE:
                    _write(target, marks, chunk, written, moved.conflicts)
            _write(target, marks, chunk, written, moved.conflicts)
        moved.written = len(written)
        moved.missing = [name for start in range(0, len(written), PAGE)
                         for name in _missing(target, written[start:start + PAGE])]
        return moved
    finally:
        for records in (target, source):
            if records is not None:
                records.close()
        if lock is not None:
            dirlock.release(lock)


def _missing(target: PostgresRecords, names: List[str]) -> List[str]:
    """Those of ``names`` the database holds no record of."""
    present = target.present(names)
    return [name for name in names if name not in present]


def _write(target: PostgresRecords, marks: Marks, chunk: List[Tuple[str, dict]], written: List[str],
           conflicts: List[str]) -> None:
    """A chunk of records written in one transaction, their marks kept once
    it committed (none, if it did not); the chunk emptied."""
    done: List[str] = []
    try:
        with target.batch():
            for name, value in chunk:
                move_record(target, marks, name, value, done, conflicts)
    except BaseException:
        marks.discard()
        raise
    marks.flush()
    written.extend(done)
    chunk.clear()


def _refuse_if_serving(records: Records) -> None:
    """``Conflict`` while a daemon serves the records (its lease holds, or
    it took a sweep's turn lately)."""
    held = serving(records)
    if held:
        raise Conflict("%d daemon%s serve%s these records (%s, renewed %d s ago): stop every daemon and run it "
                       "again" % (len(held), "s" if len(held) > 1 else "", "" if len(held) > 1 else "s",
                                  held[0][0], held[0][1]))
    now = records.now()
    for turn in (SHARE_TURN, BYTES_TURN):
        record = records.get(turn)
        if record is not None and now - float(record.value.get("at", 0)) < SERVING_WITHIN:
            raise Conflict("a daemon serves these records (it took the %s turn %d s ago): stop every daemon, wait "
                           "%d s, and run it again" % (turn, max(0, now - float(record.value["at"])),
                                                       SERVING_WITHIN))
