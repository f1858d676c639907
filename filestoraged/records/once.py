"""Work done once per store, before it serves, by whichever process takes
the turn, while every other process over the same records waits for the
mark it leaves: how a store made by an earlier version is brought to this
code's form of a family of records (``catalog.old_versions``,
``sharing.old_blobs``).

The work must be safe to run again whole: a process that stopped midway
leaves no mark, and once its turn has run ``turn_for`` seconds another
takes it over.
"""

from __future__ import annotations

import logging
import threading
import time
from dataclasses import dataclass
from typing import Callable

from .interface import Records

log = logging.getLogger(__name__)

WAIT_STEP = 0.5  # seconds between looks for the mark while another process converts
SAY_EVERY = 30.0  # seconds between the log lines that say so


@dataclass(frozen=True)
class Conversion:
    mark: str  # the record that says the store is in the form ``form``
    field: str  # the mark's field that holds the form
    form: int
    turn: str  # the record of whose turn it is
    work: Callable[[Records], None]
    what: str  # what is converted ("S3 keys"), for the log
    turn_for: float = 600.0  # seconds a conversion under way keeps others waiting before one takes it over

    def done(self, records: Records) -> bool:
        record = records.get(self.mark)
        return record is not None and int(record.value.get(self.field, 0)) >= self.form

    def run(self, records: Records) -> None:
        """Do the work if nobody has (see the module); returns once it is done."""
        waited = threading.Event()
        said = time.monotonic() - SAY_EVERY  # the first wait is said at once
        while not self.done(records):
            if records.take_turn(self.turn, self.turn_for):
                self.work(records)
                self._mark(records)
                records.delete(self.turn)  # done: the turn is nobody's
                return
            if time.monotonic() - said > SAY_EVERY:
                log.info("waiting for another daemon to convert this store's %s", self.what)
                said = time.monotonic()
            waited.wait(WAIT_STEP)

    def _mark(self, records: Records) -> None:
        def marked(value):
            value = value or {}
            return None if int(value.get(self.field, 0)) >= self.form else dict(value, **{self.field: self.form})

        records.update(self.mark, marked)
