"""A thread that runs a job every few seconds until it is stopped: the
upkeep of a store (sweeps), whose failures are logged and retried the
next time round; or, given a doorbell (``base.doorbell``), whenever it is
rung too, at most once every ``least`` seconds (the sender of the outbox).

Decision: a part the job needs being away (the records' database, a
memcached, a full disk: ``BackendUnavailable``, ``InsufficientStorage``)
is said once, at WARNING, without a traceback, and once more when the job
runs again; every other failure is a fault of ours, logged with its
traceback each round."""

from __future__ import annotations

import logging
import threading
import time
from typing import Callable, Optional

from .doorbell import Doorbell
from ..errors import BackendUnavailable, InsufficientStorage

log = logging.getLogger(__name__)


class Periodic:
    def __init__(self, name: str, interval: float, job: Callable[[], object], at_once: bool = False,
                 bell: Optional[Doorbell] = None, least: float = 0.0) -> None:
        """``at_once``: the first run as the thread starts, not an interval
        later; ``bell``: a doorbell this process listens at, whose rings run
        the job before its interval ends, but not sooner than ``least``
        seconds after its last run."""
        self.name = name
        self._interval = interval
        self._job = job
        self._at_once = at_once
        self._bell = bell
        self._least = least
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
        while not self._waited():
            self._once()

    def _waited(self) -> bool:
        """The wait before the next run; whether the thread is to stop."""
        if self._bell is None:
            return self._stop.wait(self._interval)
        ran = time.monotonic()
        self._bell.wait(self._interval)
        if self._stop.is_set():
            return True
        early = self._least - (time.monotonic() - ran)
        return early > 0 and self._stop.wait(early)

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
        if self._bell is not None:
            self._bell.wake()
        if self._thread is not None:
            self._thread.join()
