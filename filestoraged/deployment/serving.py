"""Which daemons serve a store's shared records (``--records s3``, a
database), as the records themselves say: each daemon keeps a lease
``serving/<host>-<pid>``, written as it starts (before its first request)
and renewed every ``RENEW_SECONDS``, removed when it stops cleanly. A tool
that must run with every daemon stopped (``move-records``) refuses while
any lease is younger than ``HELD_FOR``: a daemon killed outright is taken
as stopped once that long has passed."""

from __future__ import annotations

import logging
import os
import socket
from typing import List, Optional, Tuple

from ..base.periodic import Periodic
from ..errors import FileStoreError
from ..records.interface import Records

log = logging.getLogger(__name__)

SERVING = "serving/"
RENEW_SECONDS = 20.0
HELD_FOR = 3 * RENEW_SECONDS  # seconds a lease is believed without a renewal


class ServingLease:
    """This daemon's lease over ``records``."""

    def __init__(self, records: Records) -> None:
        self.records = records
        self.host = socket.gethostname()
        self.name = "%s%s-%d" % (SERVING, self.host.replace("/", "_")[:100], os.getpid())
        self._renewals: Optional[Periodic] = None

    def start(self) -> "ServingLease":
        """Written now, then renewed in the background."""
        self.renew()
        self._renewals = Periodic("serving-lease", RENEW_SECONDS, self.renew).start()
        return self

    def renew(self) -> None:
        value = {"at": self.records.now(), "host": self.host, "pid": os.getpid()}
        self.records.update(self.name, lambda _: value)

    def close(self) -> None:
        """No more renewals, and the lease removed (where the records answer:
        else it lapses by itself)."""
        if self._renewals is not None:
            self._renewals.close()
        try:
            self.records.delete(self.name)
        except FileStoreError as error:
            log.warning("the serving lease %s was not removed (it lapses in %d s): %s", self.name, HELD_FOR, error)


def serving(records: Records) -> List[Tuple[str, float]]:
    """``(host-pid, seconds since its renewal)`` of every daemon whose lease holds."""
    now = records.now()
    held = []
    for name, record in records.walk(SERVING, 100):
        age = now - float(record.value.get("at", 0))
        if age < HELD_FOR:
            held.append((name[len(SERVING):], max(0.0, age)))
    return held
