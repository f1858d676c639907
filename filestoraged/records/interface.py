"""The records interface: get, create, replace-if-unchanged, delete, list,
and the one clock all daemons agree on.

A version is an opaque string the store gives back with each read and
write (SQLite: a counter; S3: the ETag). ``replace`` and ``delete`` with a
version succeed only if the record is still at that version, ``create``
only if there is none: two daemons racing on one record cannot both win,
and ``update`` turns that into a retry loop for read-modify-write changes.
"""

from __future__ import annotations

import abc
import random
import secrets
import time
from dataclasses import dataclass
from contextlib import nullcontext
from typing import Callable, ContextManager, Iterator, Optional, Tuple, TypeVar

from ..base.doorbell import Doorbell
from ..base.interprocess import ChangeMark
from ..base.json_text import compact_encoder, parsed
from ..errors import BackendUnavailable, FileStoreError

WRITE_ID = "_w"  # a random id in every written value: an ambiguous retry can tell its own write
# The write ids of the writes an ``update`` built on, newest first: a write
# that landed under a later one is still known as landed (see ``landed``).
EARLIER = "_e"
EARLIER_KEPT = 16
UPDATE_TRIES = 16  # read-modify-write rounds before the store is taken for too busy
T = TypeVar("T")


# The JSON text of a record's value: compact, ASCII, as every kind of
# records stores it (three writes and two or three reads a small S3 write).
value_text = compact_encoder(ensure_ascii=True)


def value_of(text: str) -> dict:
    """A record's value from its stored text (``value_text``'s)."""
    return parsed(text)


class Conflict(FileStoreError):
    """The record changed (or appeared, or went) since it was read: read it
    again and retry. Never leaves the records layer as an answer."""


@dataclass(frozen=True)
class Record:
    value: dict
    version: str


class Records(abc.ABC):
    """One store of records. Keys are ``/``-separated ASCII paths (e.g.
    ``tokens/<digest>``), never ending in ``/`` nor with a segment ``.``
    or ``..`` (an S3 store takes the one for a folder, refuses the other); values are JSON objects."""

    # True where ``batch`` makes its block one transaction: no other writer
    # sees or acts between its steps.
    atomic = False
    # True where ``serialized`` runs a block as such a transaction (run
    # again from its start where the store could not keep that promise).
    serializes = False

    @abc.abstractmethod
    def get(self, key: str) -> Optional[Record]:
        """The record, or None if there is none."""

    @abc.abstractmethod
    def create(self, key: str, value: dict) -> str:
        """Write ``value`` if ``key`` has no record; its version. ``Conflict`` if it has one."""

    @abc.abstractmethod
    def replace(self, key: str, value: dict, version: str) -> str:
        """Write ``value`` if the record is still at ``version``; the new
        version. ``Conflict`` if it changed or is gone."""

    @abc.abstractmethod
    def delete(self, key: str, version: Optional[str] = None) -> bool:
        """Remove the record (only at ``version``, if given: ``Conflict``
        otherwise); False if there was none."""

    @abc.abstractmethod
    def keys(self, prefix: str, after: str = "", limit: Optional[int] = None) -> Iterator[str]:
        """The keys that start with ``prefix`` and sort after ``after`` (a
        whole key, or empty), in order; at most ``limit`` (None: all)."""

    def items(self, prefix: str, after: str = "", limit: Optional[int] = None) -> Iterator[Tuple[str, Record]]:
        """``(key, record)`` for ``keys(prefix, after, limit)`` (a record
        deleted meanwhile is left out): a page of records, read as cheaply
        as the store allows."""
        for key in self.keys(prefix, after, limit):
            record = self.get(key)
            if record is not None:
                yield key, record

    def walk(self, prefix: str, page: int) -> Iterator[Tuple[str, Record]]:
        """Every ``(key, record)`` under ``prefix``, read ``page`` at a time
        (bounded memory, however many there are); a record the caller
        deletes as it goes does not disturb the walk."""
        return _walked(lambda after: self.items(prefix, after, page), page, lambda item: item[0])

    def walk_keys(self, prefix: str, page: int) -> Iterator[str]:
        """Every key under ``prefix``, read ``page`` at a time (as ``walk``)."""
        return _walked(lambda after: self.keys(prefix, after, page), page, lambda key: key)

    def now(self) -> float:
        """The time every daemon judges expiry by (the store's clock)."""
        return time.time()

    def generation(self) -> Optional[object]:
        """A value that changes whenever any record may have changed, by
        whoever wrote it; None where the store cannot tell that cheaply (a
        reader then reads what it needs)."""
        return None

    def change_mark(self, subject: str) -> Optional[ChangeMark]:
        """The mark (``base.interprocess.ChangeMark``) that whoever changes
        the records of ``subject`` replaces after the change, so that copies
        of them are believed while it stays (``base.copies``); None where
        the records are shared beyond one machine's processes."""
        return None

    def doorbell(self, subject: str) -> Optional[Doorbell]:
        """The doorbell (``base.doorbell``) that whoever changes the records
        of ``subject`` rings after the change, for the one process of the
        machine that acts on such changes; None where the records are shared
        beyond one machine's processes (that process looks every so often)."""
        return None

    def serialized(self, block: Callable[[], T]) -> T:
        """``block`` as one transaction in which no other writer's commit
        lands between its reads, its value; where the store finds it could
        not keep that promise (a serialization failure), the transaction is
        rolled back and ``block`` runs again from its start, so it may do
        nothing but read and write these records. Only where ``serializes``."""
        raise NotImplementedError("these records make no serialized transaction")

    def check(self) -> None:
        """Raise ``BackendUnavailable`` if the records cannot be read now
        (for /healthz): a store reached over the network is asked once."""

    def close(self) -> None:
        """Release connections."""

    def batch(self) -> ContextManager[None]:
        """A block of operations that a store able to make them one
        transaction makes one (SQLite: one write transaction, one fsync,
        nothing of it seen before the end); elsewhere each stands alone, and
        the caller is written so that a stop between any two is safe."""
        return nullcontext()

    def take_turn(self, name: str, within: float) -> bool:
        """Whether this caller takes the turn ``name`` (a sweep's, shared by
        every daemon over these records): True unless someone took it in
        the last ``within`` seconds (by the records' clock), and then it is
        this caller's from now."""
        now = self.now()
        return self.update(name, lambda value: None if value and now - value["at"] < within
                           else {"at": now}) is not None

    def replace_as_read(self, key: str, record: Record, value: dict) -> str:
        """``replace`` of ``record`` (as read) by ``value``, a change made
        from it: the write ids it carries kept as ``update`` keeps them, so
        a write whose answer was lost still finds itself landed. For a
        caller that has just read the record and need not read it again;
        ``Conflict`` if it changed since."""
        return self.replace(key, _built_on(record, value), record.version)

    def update(self, key: str, change: Callable[[Optional[dict]], Optional[dict]]) -> Optional[dict]:
        """Read, ``change`` (the value or None; it returns the new value, or
        None to leave the record as it is), write if unchanged since the read;
        again on ``Conflict``. The value written (None if nothing was)."""
        for attempt in range(UPDATE_TRIES):
            record = self.get(key)
            new = change(None if record is None else dict(record.value))
            if new is None:
                return None
            try:
                if record is None:
                    self.create(key, new)
                else:
                    new = _built_on(record, new)
                    self.replace(key, new, record.version)
                return new
            except Conflict:
                time.sleep(random.uniform(0, 0.002 * 2 ** min(attempt, 6)))  # others are writing: back off
        raise BackendUnavailable("the record %s is changing too often to update; retry" % key)


def _walked(read: Callable[[str], Iterator[T]], page: int, key_of: Callable[[T], str]) -> Iterator[T]:
    """What ``read(after)`` gives, page after page, each from the last key
    of the one before, until a page comes back short."""
    after = ""
    while True:
        found = list(read(after))
        yield from found
        if len(found) < page:
            return
        after = key_of(found[-1])


def _built_on(record: Record, new: dict) -> dict:
    """``new``, a change of ``record``, with the write ids before it (where
    the store stamps them: ``WRITE_ID``) carried as ``EARLIER``."""
    if WRITE_ID not in record.value:
        return new
    earlier = [record.value[WRITE_ID]] + list(record.value.get(EARLIER, []))
    return dict(new, **{EARLIER: earlier[:EARLIER_KEPT]})


def landed(value: dict, write_id: str) -> bool:
    """True if the write with ``write_id`` is in ``value``: it wrote it, or
    a write built on it did (within the last ``EARLIER_KEPT``)."""
    return value.get(WRITE_ID) == write_id or write_id in value.get(EARLIER, ())


def stamped(value: dict) -> dict:
    """``value`` with a fresh write id (see ``WRITE_ID``)."""
    return dict(value, **{WRITE_ID: secrets.token_hex(8)})
