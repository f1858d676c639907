"""The key-value store against an earlier version of itself, run by hand:
``python -m bench.run --only kv --against REV`` (REV: a commit, e.g. the
one before a change to the store).

Both daemons run as shipped (their defaults), each from its own source tree
(REV is checked out into a git worktree beside the bench's files), on data
directories of their own, and take turns: a 1 KiB value read with wrk over
64 keep-alive connections, and rounds of one staged key and its commit from
8 clients at once. The ratio is this checkout's rate over REV's.
"""

from __future__ import annotations

import http.client
import json
import os
import statistics
import threading
import time
from typing import List, Tuple

from .common import Daemon, Report, checkout, ensure_tools, wrk

CLIENTS = 8  # clients staging and committing at once
ROUNDS = 60  # set + commit rounds per client and run
VALUE = "x" * 1000  # a 1 KiB JSON value with its quotes and key


def run(work: str, runs: int, report: Report, against: str) -> None:
    ensure_tools("wrk", "git")
    ours = theirs = None
    with checkout(against, os.path.join(work, "against")) as tree:
        try:
            ours = Daemon(os.path.join(work, "kv-ours"))
            theirs = Daemon(os.path.join(work, "kv-theirs"), tree=tree)
            sides = {"ours": ours, "theirs": theirs}
            for daemon in sides.values():
                _set_and_commit(daemon.url, "hot", VALUE)
            reads: dict = {side: [] for side in sides}
            commits: dict = {side: [] for side in sides}
            for round_ in range(max(1, runs)):
                order = list(sides) if round_ % 2 == 0 else list(reversed(sides))
                for side in order:
                    reads[side].append(wrk(sides[side].url + "/kv/hot")[0])
                    commits[side].append(_commit_rate(sides[side].url, round_))
        finally:
            for daemon in (ours, theirs):
                if daemon is not None:
                    daemon.stop()
    short = against[:10]
    for name, measured in (("KV 1 KiB GET req/s", reads), ("KV set + commit rounds/s, 8 clients", commits)):
        rate, ref = statistics.median(measured["ours"]), statistics.median(measured["theirs"])
        report.add("%s, against %s" % (name, short), "%.0f" % rate, "%.0f" % ref, rate / ref, ">= 1.0x",
                   rate / ref >= 0.97)  # the runs' own spread: a few per cent


def _set_and_commit(url: str, key: str, value: str, conn=None) -> None:
    own = conn is None
    conn = conn or http.client.HTTPConnection(url.split("//")[1], timeout=30)
    try:
        for method, path, body, statuses in (("POST", "/kv/set", json.dumps({key: value}), (200, 201)),
                                             ("POST", "/kv/commit", None, (204,))):
            conn.request(method, path, body=body)
            response = conn.getresponse()
            response.read()
            if response.status not in statuses:
                raise RuntimeError("%s %s answered %d" % (method, path, response.status))
    finally:
        if own:
            conn.close()


def _commit_rate(url: str, run: int) -> float:
    """Rounds of one set and its commit per second, ``CLIENTS`` at once."""
    errors: List[BaseException] = []

    def client(number: int) -> None:
        conn = http.client.HTTPConnection(url.split("//")[1], timeout=30)
        try:
            for round_ in range(ROUNDS):
                _set_and_commit(url, "k-%d-%d-%d" % (run, number, round_), VALUE, conn)
        except BaseException as error:  # reported below
            errors.append(error)
        finally:
            conn.close()

    threads: List[Tuple[threading.Thread]] = []
    started = time.monotonic()
    for number in range(CLIENTS):
        thread = threading.Thread(target=client, args=(number,))
        thread.start()
        threads.append((thread,))
    for (thread,) in threads:
        thread.join(300)
    if errors or any(thread.is_alive() for (thread,) in threads):
        raise RuntimeError("a KV client failed: %s" % (errors[:1] or "did not end in time"))
    return CLIENTS * ROUNDS / (time.monotonic() - started)
