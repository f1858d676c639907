"""Small GETs per core: the daemon and nginx on the same CPUs, ``wrk`` on
others, so that neither server shares a core with the load generator and
each has as many; and one worker kept on one CPU against the same worker
free on every CPU.

The machine's CPUs (those the bench may use) are split in two halves: the
servers' (A) and wrk's (B). Rows:

- 1 KiB GETs, the daemon (``--workers`` = CPUs in A, otherwise as
  shipped) against nginx (``worker_processes`` = CPUs in A), both started
  on A, wrk on B: requests per second on equal cores.
- 1 KiB GETs, ``--workers 1`` kept on the first CPU of A against the same
  daemon free on every CPU (A and B), wrk on B for both: what a worker
  gains by keeping its core (the interpreter's lock handed among threads
  on one core, not across many). No goal: the nearer to 1.0x, the less a
  worker loses where it is not kept.

A machine of one CPU cannot keep the two apart: the group says so and
measures nothing."""

from __future__ import annotations

import os
import shutil
from contextlib import contextmanager
from typing import Dict, Iterator, List, Set, Tuple

from .common import Daemon, Nginx, ensure_tools, upload_oid, wrk

NAME_EQUAL = "1 KiB GET req/s per core: --workers %d and nginx worker_processes %d on CPUs %s, wrk on CPUs %s"
NAME_KEPT = "1 KiB GET req/s, --workers 1 kept on CPU %d vs free on CPUs %s (wrk on CPUs %s)"


@contextmanager
def started_on(cpus: Set[int]) -> Iterator[None]:
    """What the block starts runs on ``cpus`` only (children inherit the
    bench's own CPU set, which is put back after)."""
    before = os.sched_getaffinity(0)
    os.sched_setaffinity(0, cpus)
    try:
        yield
    finally:
        os.sched_setaffinity(0, before)


def halves() -> Tuple[Set[int], Set[int]]:
    """The servers' CPUs and wrk's: the bench's CPUs, split in two."""
    cpus = sorted(os.sched_getaffinity(0))
    half = len(cpus) // 2
    return set(cpus[:half]), set(cpus[half:])


def run(work: str, runs: int, report) -> None:
    ensure_tools("curl", "nginx", "wrk")
    if len(os.sched_getaffinity(0)) < 2:
        print("bench: the per-core rows need two CPUs (the servers on one, wrk on another); skipped")
        return
    servers, load = halves()
    first, everything = min(servers), servers | load
    os.makedirs(work, exist_ok=True)
    small = os.path.join(work, "per-core-small.bin")
    with open(small, "wb") as handle:
        handle.write(os.urandom(1024))
    os.makedirs(os.path.join(work, "per-core-nginx"), exist_ok=True)
    os.chmod(work, 0o755)  # nginx's workers run as an unprivileged user: let them through
    with started_on(servers):
        equal = Daemon(os.path.join(work, "per-core"), "--workers", str(len(servers)))
        nginx = Nginx(os.path.join(work, "per-core-nginx"), workers=str(len(servers)))
    with started_on({first}):
        kept = Daemon(os.path.join(work, "per-core-kept"), "--workers", "1")
    with started_on(everything):
        free = Daemon(os.path.join(work, "per-core-free"), "--workers", "1")
    try:
        shutil.copy(small, os.path.join(nginx.work, "nginx-root", "small.bin"))
        oid = ""
        for daemon in (equal, kept, free):
            oid = upload_oid(daemon.url, small)
        sides = {"equal": equal.url + "/files/" + oid, "nginx": nginx.url + "/small.bin",
                 "kept": kept.url + "/files/" + oid, "free": free.url + "/files/" + oid}
        measured: Dict[str, List[Tuple[float, float, int]]] = {side: [] for side in sides}
        order = list(sides)
        for round_ in range(max(1, min(runs, 3))):
            for side in order[round_ % len(order):] + order[:round_ % len(order)]:
                measured[side].append(wrk(sides[side], cpus=load))
    finally:
        for daemon in (equal, kept, free):
            daemon.stop()
        nginx.stop()
    rate = {side: sorted(result[0] for result in results)[len(results) // 2] for side, results in measured.items()}
    errors = {side: sum(result[2] for result in results) for side, results in measured.items()}
    report.add(NAME_EQUAL % (len(servers), len(servers), _cpus(servers), _cpus(load)), "%.0f" % rate["equal"],
               "%.0f" % rate["nginx"], rate["equal"] / rate["nginx"], "(equal cores)",
               errors["equal"] == 0 and errors["nginx"] == 0)
    ratio = rate["kept"] / rate["free"]
    report.add(NAME_KEPT % (first, _cpus(everything), _cpus(load)), "%.0f" % rate["kept"], "%.0f" % rate["free"],
               ratio, "(what keeping a CPU gives)", errors["kept"] == 0 and errors["free"] == 0)


def _cpus(cpus: Set[int]) -> str:
    ordered = sorted(cpus)
    if ordered == list(range(ordered[0], ordered[-1] + 1)) and len(ordered) > 1:
        return "%d-%d" % (ordered[0], ordered[-1])
    return ",".join(str(cpu) for cpu in ordered)
