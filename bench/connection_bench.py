"""What a new connection costs, against an earlier version of the daemon,
run by hand: ``python -m bench.run --only connections --against REV``.

Many clients open a connection for a request or two and close it (s5cmd
closes about one in two: Go keeps two idle connections a host). Both
daemons run as shipped (their defaults; on loopback no token is asked),
each from its own source tree (REV checked out into a git worktree), on
data directories of their own, and take turns: ``CLIENTS`` clients GET
one 1 KiB object through ``/data``, each request on a connection of its
own; then the same on kept connections (stated: what a request costs
without the connection). The figure is GETs per second of the daemon's
CPU (every process of it, user and system: ``/proc``); the ratio is this
checkout's over REV's.
"""

from __future__ import annotations

import http.client
import json
import os
import statistics

from .common import Daemon, Report, checkout, clients_cpu

CLIENTS = 2
GETS = 1000  # per client and run
SIZE = 1024


def run(work: str, runs: int, report: Report, against: str) -> None:
    rates: dict = {(side, new): [] for side in ("ours", "theirs") for new in (True, False)}
    with checkout(against, os.path.join(work, "connections-against")) as tree:
        daemons = {}
        try:
            daemons["ours"] = Daemon(os.path.join(work, "connections-ours"))
            daemons["theirs"] = Daemon(os.path.join(work, "connections-theirs"), tree=tree)
            paths = {side: _stored(daemon) for side, daemon in daemons.items()}
            for number in range(max(1, runs)):
                for side in (("ours", "theirs") if number % 2 == 0 else ("theirs", "ours")):
                    for new in (True, False):
                        rates[(side, new)].append(_rate(daemons[side], paths[side], new))
        finally:
            for daemon in daemons.values():
                daemon.stop()
    for new, what, goal in ((True, "a new connection each", "(stated)"), (False, "kept connections", "(stated)")):
        ours, theirs = statistics.median(rates[("ours", new)]), statistics.median(rates[("theirs", new)])
        report.add("1 KiB /data GETs from %d clients, %s, per daemon CPU-second, against %s"
                   % (CLIENTS, what, against[:10]), "%.0f" % ours, "%.0f" % theirs, ours / theirs, goal, True)


def _stored(daemon: Daemon) -> str:
    """The ``/data`` path of a new 1 KiB object put into ``daemon``."""
    connection = http.client.HTTPConnection(daemon.url.split("//", 1)[1], timeout=60)
    try:
        connection.request("PUT", "/data/bench", os.urandom(SIZE))
        answer = connection.getresponse()
        body = answer.read()
        if answer.status not in (200, 201):
            raise SystemExit("bench: a /data PUT answered %d" % answer.status)
    finally:
        connection.close()
    return "/data/bench/" + json.loads(body)["oid"]


def _rate(daemon: Daemon, path: str, new: bool) -> float:
    """GETs of ``path`` per second of the daemon's CPU while ``CLIENTS``
    clients make ``GETS`` each at once, each on a connection of its own
    (``new``) or all on one kept connection per client."""
    host = daemon.url.split("//", 1)[1]

    def get() -> None:
        connection = None
        try:
            for _ in range(GETS):
                if connection is None:
                    connection = http.client.HTTPConnection(host, timeout=60)
                connection.request("GET", path)
                answer = connection.getresponse()
                answer.read()
                if answer.status != 200:
                    raise RuntimeError("a /data GET answered %d" % answer.status)
                if new:
                    connection.close()
                    connection = None
        finally:
            if connection is not None:
                connection.close()

    return CLIENTS * GETS / clients_cpu(daemon.process.pid, CLIENTS, lambda: get, "connections")
