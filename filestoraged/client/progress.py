"""A progress bar on stderr (bytes, rate, time left) when stderr is a
terminal; nothing otherwise, so scripts and logs stay clean."""

from __future__ import annotations

import sys
import time
from typing import Optional, TextIO


WIDTH = 79  # a line of an 80-column terminal, less the cursor's place


def size_text(count: float) -> str:
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
            figures = " [%-20s] %3d%% %s/%s %s/s %ds left" % (
                "#" * int(share * 20), share * 100, size_text(self.done), size_text(self.total), size_text(rate), left)
        else:
            figures = " %s %s/s" % (size_text(self.done), size_text(rate))
        # 80 columns: the label gives way, never the figures.
        room = max(WIDTH - len(figures), 8)
        label = self.label if len(self.label) <= room else self.label[:room - 3] + "..."
        self._stream.write("\r" + (label + figures)[:WIDTH].ljust(WIDTH))
        self._stream.flush()
