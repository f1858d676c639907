"""Which CPUs each worker keeps. A worker is one Python process: its
threads take turns holding the interpreter, and when the kernel spreads
them over every core, each turn hands the interpreter to another core
(measured on a 16-core machine: one worker free on all cores served 7,383
small GETs a second, the same worker kept on one core 16,534).

So, by default (``--cpu-affinity auto``), worker ``slot`` keeps its own
small share of the CPUs the daemon was given, through
``os.sched_setaffinity``: an equal run of them, and never fewer than two.
Decision: not one CPU each. A big upload's digests are taken on a thread
beside the reader, outside the interpreter lock, and need a second core:
kept on one CPU each, a 50 MiB S3 PUT on this 2-core machine fell from 193
to 155 MiB/s (measured, median of 5). With as many CPUs as workers, the
pairs overlap (worker N on CPUs N and N+1). The set given (systemd's
``CPUAffinity=``, a container's cpuset, ``taskset``) is only ever narrowed,
never widened; where a share would be the whole set, nothing changes.
``--cpu-affinity off`` leaves every worker on the whole set.
"""

from __future__ import annotations

import logging
import os
from typing import List, Optional, Sequence, Set

log = logging.getLogger(__name__)

MIN_SHARE = 2  # CPUs a worker keeps at the least: its threads, and the digests beside them


def given() -> Optional[List[int]]:
    """The CPUs this process may run on, in order (None where the system
    does not say: not Linux)."""
    try:
        return sorted(os.sched_getaffinity(0))
    except AttributeError:
        return None


def share(cpus: Sequence[int], workers: int, slot: int) -> Optional[Set[int]]:
    """The CPUs worker ``slot`` (0 to ``workers`` - 1) keeps of ``cpus``: a
    run of ``len(cpus) // workers`` of them but at least ``MIN_SHARE``,
    from its place in the set (wrapping round); None (keep them all) where
    that is the whole set, or for one worker."""
    size = max(MIN_SHARE, len(cpus) // max(workers, 1))
    if workers <= 1 or size >= len(cpus):
        return None
    start = slot * len(cpus) // workers
    return {cpus[(start + step) % len(cpus)] for step in range(size)}


def keep(cpus: Optional[Set[int]]) -> None:
    """This process keeps ``cpus`` (None: nothing changes); a refusal is
    logged and the worker runs on, on what it had."""
    if cpus is None:
        return
    try:
        os.sched_setaffinity(0, cpus)
    except OSError as error:
        log.warning("worker %d could not keep CPUs %s: %s", os.getpid(), ",".join(map(str, sorted(cpus))), error)


def described(cpus: Optional[Sequence[int]], workers: int, setting: str) -> str:
    """What the start-up line says of it."""
    if setting == "off" or cpus is None:
        return ""
    mine = share(cpus, workers, 0)
    if mine is None:
        return ", sharing %d CPU%s" % (len(cpus), "" if len(cpus) == 1 else "s")
    return ", each on %d of %d CPUs" % (len(mine), len(cpus))
