"""A thread that runs a job every few seconds until it is stopped: the
upkeep of a store (sweeps), whose failures are logged and retried the
next time round."""

from __future__ import annotations

import logging
import threading
from typing import Callable, Optional

from ..errors import InsufficientStorage

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
        except InsufficientStorage as error:  # a full disk: said without a traceback each round
            log.warning("%s skipped: %s", self.name, error)
        except Exception:  # the next round retries
            log.exception("%s failed", self.name)

    def close(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join()
