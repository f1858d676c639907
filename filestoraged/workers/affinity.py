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

``--cpu-affinity one`` goes further: a worker's own threads (its accept
loops, its connections) keep one CPU, the first of its share (its
*home*), and only its helpers (``base/threads``: the digests and checks
they take outside the interpreter lock) run on the whole share. Spread
over two cores, every hand-over of the interpreter between a worker's
threads wakes the other core; on one it is a switch in place. Measured on
a 2-core machine, in turns with ``auto`` (which narrows nothing there): a
small S3 PUT under s5cmd cost the daemon a quarter less CPU, a 1 KiB
``/data`` GET a tenth to a sixth less, and 50 MiB transfers ran about as
fast. Decision: not the default. A worker kept on one CPU cannot leave it
when something else needs it: with ``wrk`` on the same two cores, the
1 KiB GET's 99th percentile was 41-71 ms in four runs of nine (one of
``wrk``'s threads waiting tens of ms for the worker's CPU), against 4-6 ms
as shipped.
A daemon of one process (``--workers 1``, ``process.Alone``) takes the
same placement, its home the first CPU it was given.
"""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass
from typing import List, Optional, Sequence, Set

from ..base import threads

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


def home(cpus: Sequence[int], workers: int, slot: int) -> Set[int]:
    """The one CPU of ``cpus`` worker ``slot``'s own threads keep with
    ``--cpu-affinity one``: the first of its run (wrapping round, as a
    replacement's slot may be past the last)."""
    return {cpus[slot * len(cpus) // max(workers, 1) % len(cpus)]}


@dataclass(frozen=True)
class Placement:
    """Where one worker's threads run: ``share`` (None: every CPU the daemon
    was given) for its helpers, and for its own threads too unless it has a
    ``home`` within it."""

    share: Optional[Set[int]]
    home: Optional[Set[int]]

    @classmethod
    def of(cls, cpus: Sequence[int], workers: int, slot: int, one: bool = False) -> "Placement":
        """Worker ``slot``'s; ``one``: with a home (``--cpu-affinity one``)."""
        return cls(share(cpus, workers, slot), home(cpus, workers, slot) if one else None)

    def take(self) -> None:
        """In the worker, before it starts any thread (they inherit its CPUs)."""
        keep(self.share)
        if self.home is not None:
            threads.helpers_run_on(self.share if self.share is not None else given())
            keep(self.home)


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
    if setting == "one" and len(cpus) > 1:
        return ", %s on 1 of %d CPUs, its helpers on %d" % ("each" if workers > 1 else "its threads", len(cpus),
                                                             len(mine or cpus))
    if mine is None:
        return ", sharing %d CPU%s" % (len(cpus), "" if len(cpus) == 1 else "s")
    return ", each on %d of %d CPUs" % (len(mine), len(cpus))
