"""Which CPUs each worker keeps. A worker is one Python process: its
threads take turns holding the interpreter, and when the kernel spreads
them over every core, each turn hands the interpreter to another core
(measured on a 16-core machine: one worker free on all cores served 7,383
small GETs a second, the same worker kept on one core 16,534).

So, by default (``--cpu-affinity auto``), where there are at least as many
CPUs as workers, worker ``slot`` keeps its own share of the CPUs the
daemon was given (one CPU each when the counts match), through
``os.sched_setaffinity``. The set given (systemd's ``CPUAffinity=``, a
container's cpuset, ``taskset``) is only ever narrowed, never widened; with
more workers than CPUs nothing is narrowed. ``--cpu-affinity off`` leaves
every worker on the whole set.
"""

from __future__ import annotations

import logging
import os
from typing import List, Optional, Sequence, Set

log = logging.getLogger(__name__)


def given() -> Optional[List[int]]:
    """The CPUs this process may run on, in order (None where the system
    does not say: not Linux)."""
    try:
        return sorted(os.sched_getaffinity(0))
    except AttributeError:
        return None


def share(cpus: Sequence[int], workers: int, slot: int) -> Optional[Set[int]]:
    """The CPUs worker ``slot`` (0 to ``workers`` - 1) keeps of ``cpus``:
    an equal run of them, the last ones taking what does not divide; None
    (keep them all) where there are fewer CPUs than workers, or one worker."""
    if workers <= 1 or len(cpus) < workers:
        return None
    size = len(cpus) // workers
    start = slot * size
    end = len(cpus) if slot == workers - 1 else start + size
    return set(cpus[start:end])


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
    if share(cpus, workers, 0) is None:
        return ", sharing %d CPU%s" % (len(cpus), "" if len(cpus) == 1 else "s")
    return ", each on its own %s" % ("CPU" if len(cpus) // workers == 1 else "%d CPUs" % (len(cpus) // workers))
