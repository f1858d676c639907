"""Small ``/data`` writes against an earlier version of the daemon, run by
hand: ``python -m bench.run --only dataput --against REV``.

Both daemons run as shipped (their defaults; on loopback no token is
asked), each from its own source tree (REV checked out into a git
worktree), on data directories of their own, and take turns: 16 clients
at once, each on one keep-alive connection, PUT ``PUTS`` new 4 KiB
objects into ``/data/bench``. The figure is PUTs per second of the
daemon's CPU (every process of it, user and system: ``/proc``), so that
the machine's other load and the clients' own CPU count for neither. The
ratio is this checkout's over REV's.
"""

from __future__ import annotations

import http.client
import os
import statistics
from typing import Callable

from .common import Daemon, Report, checkout, clients_cpu

CLIENTS = 16
PUTS = 250  # per client and run
SIZE = 4096


def run(work: str, runs: int, report: Report, against: str) -> None:
    rates: dict = {"ours": [], "theirs": []}
    with checkout(against, os.path.join(work, "dataput-against")) as tree:
        daemons = {}
        try:
            daemons["ours"] = Daemon(os.path.join(work, "dataput-ours"))
            daemons["theirs"] = Daemon(os.path.join(work, "dataput-theirs"), tree=tree)
            for number in range(max(1, runs)):
                for side in (("ours", "theirs") if number % 2 == 0 else ("theirs", "ours")):
                    rates[side].append(_rate(daemons[side]))
        finally:
            for daemon in daemons.values():
                daemon.stop()
    ours, theirs = statistics.median(rates["ours"]), statistics.median(rates["theirs"])
    report.add("4 KiB /data PUTs from %d keep-alive clients, per daemon CPU-second, against %s"
               % (CLIENTS, against[:10]), "%.0f" % ours, "%.0f" % theirs, ours / theirs, ">= 1.25x",
               ours / theirs >= 1.25)


def _rate(daemon: Daemon) -> float:
    """PUTs per second of the daemon's CPU while ``CLIENTS`` clients put
    ``PUTS`` new objects each at once."""
    host = daemon.url.split("//", 1)[1]

    def prepare() -> Callable[[], None]:
        bodies = [os.urandom(SIZE) for _ in range(PUTS)]

        def put() -> None:
            connection = http.client.HTTPConnection(host, timeout=60)
            for body in bodies:
                connection.request("PUT", "/data/bench", body)
                answer = connection.getresponse()
                answer.read()
                if answer.status not in (200, 201):
                    raise RuntimeError("a /data PUT answered %d" % answer.status)
            connection.close()
        return put

    return CLIENTS * PUTS / clients_cpu(daemon.process.pid, CLIENTS, prepare, "/data PUT")
