"""Failed attempts in a sliding window, per key (a share link, a client
address): what turns repeated guessing into ``429`` answers."""

from __future__ import annotations

import threading
from collections import deque
from typing import Deque, Dict, Optional


class Attempts:
    """At most ``limit`` failures per key within ``window`` seconds. Thread-safe;
    a key with no failure left in the window is dropped, so the table never
    holds more than the keys that failed within the last window."""

    def __init__(self, limit: int, window: float) -> None:
        self.limit = limit
        self.window = window
        self._failures: Dict[str, Deque[float]] = {}
        self._lock = threading.Lock()

    def retry_after(self, key: str, now: float) -> Optional[int]:
        """Seconds until ``key`` may try again, or None if it may now."""
        with self._lock:
            failed = self._recent(key, now)
            if len(failed) < self.limit:
                return None
            return int(failed[0] + self.window - now) + 1

    def add(self, key: str, now: float) -> None:
        with self._lock:
            self._failures.setdefault(key, deque()).append(now)

    def forget(self, key: str, when: float) -> None:
        """Take back one failure counted in advance at ``when``."""
        with self._lock:
            failed = self._failures.get(key)
            if failed is not None and when in failed:
                failed.remove(when)

    def prune(self, now: float) -> None:
        with self._lock:
            for key in list(self._failures):
                self._recent(key, now)

    def _recent(self, key: str, now: float) -> Deque[float]:
        failed = self._failures.get(key, deque())
        while failed and failed[0] <= now - self.window:
            failed.popleft()
        if not failed:
            self._failures.pop(key, None)
        return failed
