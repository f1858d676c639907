"""What the unfinished uploads have promised, as two figures a create
reads instead of every upload's record: the bytes still to come in all of
them (the quota counts them) and how many each client address holds
(``MAX_PER_CLIENT``). ``Tally`` is the figures; ``Ledger`` keeps them for
the uploads on this disk (``tus.shared`` keeps its own in the records).

Kept in ``<data-dir>/run/tus-ledger.json`` and changed only under the
admission lock (an ``flock`` every worker takes), together with the change
it counts: a create adds its upload, and the step that ends an unfinished
upload (its bytes file unlinked: finished, removed or swept) takes it out,
once, since only one caller's unlink succeeds. A crash between the two
leaves it off by that upload until the next sweep, which counts it afresh
from the records (each worker sweeps at its first create and every minute).
"""

from __future__ import annotations

import fcntl
import json
import logging
import os
import tempfile
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Callable, Dict, Iterable, Iterator, Tuple

from ..errors import TooManyRequests
from ..storage.disk.files import remove_quietly

log = logging.getLogger(__name__)

LEDGER = "tus-ledger.json"  # in run/, beside the admission lock


@dataclass
class Tally:
    pending: int = 0  # bytes promised by unfinished uploads
    owners: Dict[str, int] = field(default_factory=dict)  # unfinished uploads per client address

    @classmethod
    def of(cls, value: dict) -> "Tally":
        return cls(int(value["pending"]), {str(k): int(v) for k, v in value["owners"].items()})

    def value(self) -> dict:
        return {"pending": self.pending, "owners": dict(self.owners)}

    def admit(self, length: int, owner: str, room: Callable[[int], None], most: int) -> None:
        """Add an upload, if the quota (``room``: told what all would then
        have promised; it may refuse) and the per-address limit let it in."""
        room(self.pending + length)
        held = self.owners.get(owner, 0)
        if held >= most:
            raise TooManyRequests(60, "%d unfinished uploads from %s already: finish or delete one first"
                                  % (held, owner))
        self.add(length, owner)

    def add(self, length: int, owner: str) -> None:
        self.pending += length
        self.owners[owner] = self.owners.get(owner, 0) + 1

    def take_out(self, length: int, owner: str) -> None:
        self.pending = max(0, self.pending - length)
        left = self.owners.get(owner, 0) - 1
        if left > 0:
            self.owners[owner] = left
        else:
            self.owners.pop(owner, None)


class Ledger:
    def __init__(self, folder: str, lock_path: str) -> None:
        self._path = os.path.join(folder, LEDGER)
        self._folder = folder
        self._lock_path = lock_path

    @contextmanager
    def held(self) -> Iterator[Tally]:
        """The tally under the admission lock; written back as the block left it."""
        with open(self._lock_path, "a") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            tally = self._read()
            yield tally
            self._write(tally)

    def recount(self, unfinished: Callable[[], Iterable[Tuple[int, str]]]) -> None:
        """Count afresh from ``unfinished()`` (``(length, owner)`` of each), under the lock."""
        with self.held() as tally:
            tally.pending, tally.owners = 0, {}
            for length, owner in unfinished():
                tally.add(length, owner)

    def _read(self) -> Tally:
        try:
            with open(self._path) as source:
                return Tally.of(json.load(source))
        except FileNotFoundError:
            return Tally()
        except (ValueError, KeyError, TypeError, AttributeError) as error:
            log.warning("the resumable uploads' ledger does not read (%s): counting from zero until the next "
                        "sweep", error)
            return Tally()

    def _write(self, tally: Tally) -> None:
        # Not fsynced: a ledger a crash lost is counted afresh by the next sweep.
        fd, tmp = tempfile.mkstemp(dir=self._folder, prefix=LEDGER + "-")
        try:
            with os.fdopen(fd, "w") as out:
                json.dump(tally.value(), out)
            os.rename(tmp, self._path)
        except BaseException:
            remove_quietly(tmp)
            raise
