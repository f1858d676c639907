"""A budget of bytes that transfers take from and give back, so that the
memory they hold together has a ceiling however many run or how slowly
their clients read."""

from __future__ import annotations

import threading
import time


class ByteBudget:
    def __init__(self, total: int) -> None:
        self.total = total
        self._free = total
        self._changed = threading.Condition()

    def take(self, count: int, wait: float) -> bool:
        """Take ``count`` bytes (at most the whole budget), waiting up to
        ``wait`` seconds for them to be given back; False if they were not."""
        count = min(count, self.total)
        deadline = time.monotonic() + wait
        with self._changed:
            while self._free < count:
                left = deadline - time.monotonic()
                if left <= 0:
                    return False
                self._changed.wait(left)
            self._free -= count
        return True

    def give(self, count: int) -> None:
        with self._changed:
            self._free = min(self.total, self._free + min(count, self.total))
            self._changed.notify_all()

    @property
    def taken(self) -> int:
        with self._changed:
            return self.total - self._free
