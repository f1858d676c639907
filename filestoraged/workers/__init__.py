"""Serving: one process (``serving``), or a parent (``arbiter``) with worker
processes behind one listening socket, sharing what must agree through the
data directory (``metrics_files``, ``storage.shared``, SQLite)."""

from __future__ import annotations

import os


def worker_count(setting: str) -> int:
    """``auto``: one per CPU this process may run on; else the number given."""
    if setting == "auto":
        try:
            return max(1, len(os.sched_getaffinity(0)))
        except AttributeError:  # not Linux
            return max(1, os.cpu_count() or 1)
    return int(setting)
