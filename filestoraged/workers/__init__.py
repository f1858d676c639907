"""Serving: one process (``process``: alone, or one worker), or a parent (``arbiter``) with worker
processes behind one listening socket, sharing what must agree through the
data directory (``metrics_files``, ``base.interprocess``, SQLite)."""

from __future__ import annotations

import math
import os
from typing import Optional


def worker_count(setting: str, cgroups: str = "/sys/fs/cgroup", own: str = "/proc/self/cgroup") -> int:
    """``auto``: one per CPU this process may use, the fewer of the CPUs it
    may run on and its cgroup's CPU limit (a container limited to 2 CPUs
    on a 32-core host: 2); else the number given."""
    if setting != "auto":
        return int(setting)
    try:
        cpus = len(os.sched_getaffinity(0))
    except AttributeError:  # not Linux
        cpus = os.cpu_count() or 1
    limit = cpu_limit(cgroups, own)
    if limit is not None:
        cpus = min(cpus, math.ceil(limit))
    return max(1, cpus)


def cpu_limit(cgroups: str = "/sys/fs/cgroup", own: str = "/proc/self/cgroup") -> Optional[float]:
    """The CPUs this process's cgroup (or a parent's) may use, as a number
    (``cpu.max`` on cgroup v2, the CFS quota on v1); None if unlimited or
    unknown."""
    try:
        with open(own) as handle:
            lines = handle.read().splitlines()
    except OSError:
        return None
    limits = []
    for line in lines:
        _, controllers, path = line.split(":", 2)
        if controllers == "":  # v2: walk up from our group, every level may limit
            folder = os.path.normpath(cgroups + "/" + path)
            while folder.startswith(os.path.normpath(cgroups)):
                limits.append(_quota(os.path.join(folder, "cpu.max")))
                if folder == os.path.normpath(cgroups):
                    break
                folder = os.path.dirname(folder)
        elif "cpu" in controllers.split(","):  # v1
            for base in (os.path.join(cgroups, "cpu"), os.path.join(cgroups, "cpu,cpuacct")):
                limits.append(_quota(os.path.join(base + path, "cpu.cfs_quota_us"),
                                     os.path.join(base + path, "cpu.cfs_period_us")))
    found = [limit for limit in limits if limit is not None]
    return min(found) if found else None


def _quota(path: str, period_path: Optional[str] = None) -> Optional[float]:
    try:
        with open(path) as handle:
            words = handle.read().split()
        if period_path is not None:
            with open(period_path) as handle:
                words.append(handle.read().strip())
        quota, period = words[0], float(words[1])
    except (OSError, IndexError, ValueError):
        return None
    if quota in ("max", "-1") or period <= 0:
        return None
    try:
        return float(quota) / period
    except ValueError:
        return None
