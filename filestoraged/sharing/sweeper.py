"""The thread that removes share blobs no link needs any more, for either
share-link store: the blob of a link just used up or deleted at once
(``wake``, a look at that one blob), and every ``interval`` seconds a
sweep of what is due (expired links, leftovers of failed uploads).

Removing a blob the moment its last link is done is safe because uploads
pin theirs (``LinkRules.pinned``): an upload that found its bytes stored
already holds a pin on them from before it looked until its link exists.
"""

from __future__ import annotations

import logging
import threading
import time
from typing import Callable, Optional, Set

from ..errors import InsufficientStorage

log = logging.getLogger(__name__)


class Sweeper:
    def __init__(self, sweep: Callable[[], int], release: Callable[[str], int]) -> None:
        """``sweep``: one sweep of every blob (skipped when another runs);
        ``release``: remove one blob if nothing needs it; each returns how
        many it removed."""
        self._sweep = sweep
        self._release = release
        self._stop = threading.Event()
        self._wake = threading.Event()
        self._lock = threading.Lock()
        self._working = threading.Lock()  # held while named blobs are looked at
        self._released: Set[str] = set()  # blobs to look at now, named by ``wake``
        self._thread: Optional[threading.Thread] = None

    def start(self, interval: float) -> None:
        self._thread = threading.Thread(target=self._run, args=(interval,), name="share-sweeper", daemon=True)
        self._thread.start()

    def wake(self, oid: str) -> None:
        """A link to ``oid`` was used up or deleted: look at its blob now."""
        with self._lock:
            self._released.add(oid)
        self._wake.set()

    def _run(self, interval: float) -> None:
        next_sweep = time.monotonic() + interval
        while not self._stop.is_set():
            # Woken or not, the full sweep keeps its time: links used up all
            # the time must not starve the expired ones of theirs.
            self._wake.wait(max(0.0, next_sweep - time.monotonic()))
            self._wake.clear()
            if self._stop.is_set():
                return
            try:
                self.flush()
                if time.monotonic() >= next_sweep:
                    next_sweep = time.monotonic() + interval
                    self._sweep()
            except InsufficientStorage as error:  # a full disk: the next round retries
                log.warning("share link sweep skipped: %s", error)
            except Exception:  # keep sweeping; the next round retries
                log.exception("share link sweep failed")

    def flush(self) -> None:
        """Look at the blobs ``wake`` named, now, in the caller's thread; a
        look the thread has begun ends first."""
        with self._working:
            with self._lock:
                released, self._released = self._released, set()
            for oid in sorted(released):
                self._release(oid)

    def close(self) -> None:
        self._stop.set()
        self._wake.set()
        if self._thread is not None:
            self._thread.join()
