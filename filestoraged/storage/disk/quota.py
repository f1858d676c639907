"""What the disk holds: objects and bytes stored, plus bytes being written,
against an optional quota (``--max-bytes``)."""

from __future__ import annotations

import threading
from typing import Optional

from ...errors import InsufficientStorage


class Usage:
    """Counts kept under one lock; uploads reserve bytes as they arrive."""

    def __init__(self, max_bytes: Optional[int], objects: int, total: int) -> None:
        self.max_bytes = max_bytes
        self.objects = objects
        self.bytes = total
        self._in_flight = 0
        self._lock = threading.Lock()

    def reservation(self) -> "Reservation":
        return Reservation(self)

    def reserve(self, count: int) -> None:
        with self._lock:
            if self.max_bytes is not None and self.bytes + self._in_flight + count > self.max_bytes:
                raise InsufficientStorage("the %d-byte storage quota is used up" % self.max_bytes)
            self._in_flight += count

    def release(self, count: int) -> None:
        with self._lock:
            self._in_flight -= count

    def recount(self, objects: int, total: int) -> None:
        with self._lock:
            self.objects, self.bytes = objects, total

    def add(self, objects: int, count: int) -> None:
        with self._lock:
            self.objects += objects
            self.bytes += count


class Reservation:
    """Quota bytes held by one upload while it is written; given back at the end."""

    def __init__(self, usage: Usage) -> None:
        self._usage = usage
        self._held = 0

    def take(self, count: int) -> None:
        self._usage.reserve(count)
        self._held += count

    def __enter__(self) -> "Reservation":
        return self

    def __exit__(self, *exc_info) -> None:
        self._usage.release(self._held)
