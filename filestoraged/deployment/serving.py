"""Which daemons serve a store's shared records (``--records s3``, a
database), as the records themselves say: each process that serves (a
daemon alone, or each of its workers, any of which may take the daemon's
first request) keeps a lease ``serving/<host>-<pid>`` that names its
daemon, written as it starts (before it accepts a request) and renewed
every ``RENEW_SECONDS``, removed when it stops cleanly. A tool
that must run with every daemon stopped (``move-records``) refuses while
any lease is younger than ``HELD_FOR``: a daemon killed outright is taken
as stopped once that long has passed."""

from __future__ import annotations

import logging
import os
import socket
from typing import Dict, List, Optional, Tuple

from ..base.periodic import Periodic
from ..errors import FileStoreError
from ..records.interface import Records

log = logging.getLogger(__name__)

SERVING = "serving/"
RENEW_SECONDS = 20.0
HELD_FOR = 3 * RENEW_SECONDS  # seconds a lease is believed without a renewal


class ServingLease:
    """This process's lease over ``records``; ``daemon_pid``: its daemon's
    (the parent's, for a worker process)."""

    def __init__(self, records: Records, daemon_pid: int) -> None:
        self.records = records
        self.host = socket.gethostname()
        self.daemon_pid = daemon_pid
        self.name = "%s%s-%d" % (SERVING, self.host.replace("/", "_")[:100], os.getpid())
        self._renewals: Optional[Periodic] = None

    def start(self) -> "ServingLease":
        """Written now, then renewed in the background."""
        self.renew()
        self._renewals = Periodic("serving-lease", RENEW_SECONDS, self.renew).start()
        return self

    def renew(self) -> None:
        value = {"at": self.records.now(), "host": self.host, "pid": os.getpid(), "daemon": self.daemon_pid}
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
    """``(host-pid, seconds since its latest renewal)`` of every daemon a
    lease of whose holds."""
    now = records.now()
    held: Dict[str, float] = {}
    for name, record in records.walk(SERVING, 100):
        age = max(0.0, now - float(record.value.get("at", 0)))
        if age < HELD_FOR:
            daemon = ("%s-%s" % (record.value["host"], record.value["daemon"]) if "daemon" in record.value
                      else name[len(SERVING):])
            held[daemon] = min(age, held.get(daemon, age))
    return sorted(held.items(), key=lambda item: item[1])
