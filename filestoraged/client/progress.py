"""A progress bar on stderr (bytes, rate, time left) when stderr is a
terminal; nothing otherwise, so scripts and logs stay clean."""

from __future__ import annotations

import sys
import time
from typing import Optional, TextIO


def _size(count: float) -> str:
    for unit in ("B", "KiB", "MiB", "GiB"):
        if count < 1024 or unit == "GiB":
            return ("%d %s" if unit == "B" else "%.1f %s") % (count, unit)
        count /= 1024
    return "%.1f GiB" % count


class Progress:
    def __init__(self, label: str, total: Optional[int], stream: TextIO = sys.stderr) -> None:
        self.label = label
        self.total = total
        self.done = 0
        self._stream = stream
        self._shown = stream.isatty()
        self._started = time.monotonic()
        self._last = 0.0

    def advance(self, count: int) -> None:
        self.done += count
        now = time.monotonic()
        if self._shown and (now - self._last >= 0.1 or (self.total is not None and self.done >= self.total)):
            self._last = now
            self._draw(now)

    def finish(self) -> None:
        if self._shown:
            self._draw(time.monotonic())
            self._stream.write("\n")
            self._stream.flush()

    def _draw(self, now: float) -> None:
        elapsed = max(now - self._started, 1e-6)
        rate = self.done / elapsed
        if self.total:
            share = min(1.0, self.done / self.total)
            left = (self.total - self.done) / rate if rate else 0.0
            bar = "#" * int(share * 24)
            text = "%s [%-24s] %3d%% %s/%s %s/s %ds left" % (
                self.label, bar, share * 100, _size(self.done), _size(self.total), _size(rate), left)
        else:
            text = "%s %s %s/s" % (self.label, _size(self.done), _size(rate))
        self._stream.write("\r" + text[:120])
        self._stream.flush()
