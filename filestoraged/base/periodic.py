"""A thread that runs a job every few seconds until it is stopped: the
upkeep of a store (sweeps), whose failures are logged and retried the
next time round.

Decision: a part the job needs being away (the records' database, a
memcached, a full disk: ``BackendUnavailable``, ``InsufficientStorage``)
is said once, at WARNING, without a traceback, and once more when the job
runs again; every other failure is a fault of ours, logged with its
traceback each round."""

from __future__ import annotations

import logging
import threading
from typing import Callable, Optional

from ..errors import BackendUnavailable, InsufficientStorage

log = logging.getLogger(__name__)


class Periodic:
    def __init__(self, name: str, interval: float, job: Callable[[], object], at_once: bool = False) -> None:
        """``at_once``: the first run as the thread starts, not an interval later."""
        self.name = name
        self._interval = interval
        self._job = job
        self._at_once = at_once
        self._stop = threading.Event()
        self._thread: Optional[threading.Thread] = None
        self._away: Optional[str] = None  # what stopped the job while a part it needs is away

    def start(self) -> "Periodic":
        self._thread = threading.Thread(target=self._run, name=self.name, daemon=True)
        self._thread.start()
        return self

    def _run(self) -> None:
        if self._at_once:
            self._once()
        while not self._stop.wait(self._interval):
            self._once()

    def _once(self) -> None:
        try:
            self._job()
        except (BackendUnavailable, InsufficientStorage) as error:
            if self._away is None:
                log.warning("%s skipped: %s (tried again every %g s; said again once it runs)", self.name, error,
                            self._interval)
            self._away = str(error)
            return
        except Exception:  # the next round retries
            log.exception("%s failed", self.name)
            return
        if self._away is not None:
            log.warning("%s runs again (it was stopped by: %s)", self.name, self._away)
            self._away = None

    def close(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join()
