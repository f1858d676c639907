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
measures nothing.

``run_workers`` (``--only workers``), for a many-core machine: 1 KiB GETs
from ``--workers`` 1, 4 and 16 (as many as there are CPUs), each with its
workers' CPUs kept (``--cpu-affinity auto``, the default) and free
(``off``), wrk (8 threads) on the same CPUs as the daemon, as on a host
that serves its own clients: requests per second, kept against free, and
each kept row against one worker's."""

from __future__ import annotations

import os
import shutil
from contextlib import contextmanager
from typing import Dict, Iterator, List, Set, Tuple

import http.client
import json

from .common import Daemon, Nginx, ensure_tools, upload_oid, wrk

NAME_EQUAL = "1 KiB GET req/s per core: --workers %d and nginx worker_processes %d on CPUs %s, wrk on CPUs %s"
NAME_KEPT = "1 KiB GET req/s, --workers 1 kept on CPU %d vs free on CPUs %s (wrk on CPUs %s)"
NAME_WORKERS = "1 KiB GET req/s, --workers %d, CPUs kept (--cpu-affinity auto) vs free (off), %d CPUs, wrk on them too"
NAME_SCALING = "1 KiB GET req/s, --workers %d vs --workers 1, CPUs kept, %d CPUs, wrk on them too"
WORKER_COUNTS = (1, 4, 16)


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


def run_workers(work: str, runs: int, report) -> None:
    ensure_tools("wrk")
    cpus = len(os.sched_getaffinity(0))
    counts = [count for count in WORKER_COUNTS if count <= cpus]
    rates: Dict[Tuple[int, str], float] = {}
    for count in counts:
        for affinity in ("auto", "off"):
            daemon = Daemon(os.path.join(work, "workers-%d-%s" % (count, affinity)), "--workers", str(count),
                            "--cpu-affinity", affinity)
            try:
                url = "%s/files/%s" % (daemon.url, _posted(daemon.url, os.urandom(1024)))
                measured = sorted(wrk(url, threads=8) for _ in range(max(1, min(runs, 3))))
                rate, _, errors = measured[len(measured) // 2]
                if errors:
                    raise SystemExit("bench: %d errors from wrk against --workers %d" % (errors, count))
                rates[count, affinity] = rate
            finally:
                daemon.stop()
    for count in counts:
        kept, free = rates[count, "auto"], rates[count, "off"]
        report.add(NAME_WORKERS % (count, cpus), "%.0f" % kept, "%.0f" % free, kept / free, "(what keeping gives)",
                   True)
    for count in counts[1:]:
        ratio = rates[count, "auto"] / rates[1, "auto"]
        report.add(NAME_SCALING % (count, cpus), "%.0f" % rates[count, "auto"], "%.0f" % rates[1, "auto"], ratio,
                   "(ideal: %dx)" % count, True)


def _posted(url: str, data: bytes) -> str:
    """POST ``data`` to the daemon's ``/files``; its content address."""
    connection = http.client.HTTPConnection(url.split("//", 1)[1], timeout=30)
    try:
        connection.request("POST", "/files", data)
        return json.loads(connection.getresponse().read())["hash"]
    finally:
        connection.close()
