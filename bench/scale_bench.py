"""What grows with the store, run by hand: ``python -m bench.run --only scale
[--objects N] [--links N]`` (defaults: 1,000,000 small objects and 100,000
share links, with the same figures at a tenth of each on the way).

A store is filled through the API, as users fill it, by the daemon as
shipped: small objects PUT into one repository by 8 clients, then share
links (every other one downloaded once, so half of them are dead links kept
for their 30 days). At each size the daemon is stopped and started again,
and measured against its own reference from the same run:

- start-up: seconds from the spawn until every worker answers, against an
  empty store's (goal <= 1.2x);
- a 10-object page of ``GET /data/r?limit=10&after=<id>`` (random ids, one
  keep-alive connection), against the same page of a 1,000-object store
  (goal <= 1.2x);
- idle RSS of the daemon (parent and workers) after start, against the
  empty store's (goal <= +8 MiB);
- ``filestoraged fsck`` over the whole store: objects per second (goal >=
  10,000/s; it hashes every byte, so this is a floor, not a ratio);
- the upload rate while the last tenth was stored, against the rate of
  the store's first objects (flat: goal >= 0.8x).
"""

from __future__ import annotations

import hashlib
import http.client
import json
import os
import random
import statistics
import subprocess
import sys
import threading
import time
from typing import Callable, Dict, List, Tuple

from .common import MIB, ROOT, Daemon, Report

CLIENTS = 8
PAGES = 300  # page requests per measure
START_RUNS = 3  # turns of each figure and its reference


def body(number: int) -> bytes:
    return b"scale object %d\n" % number


def oid(number: int) -> str:
    return hashlib.sha256(body(number)).hexdigest()


def run(work: str, runs: int, report: Report, objects: int, links: int) -> None:
    empty_dir, small_dir, big_dir = (os.path.join(work, name) for name in ("scale-empty", "scale-small", "scale-big"))
    Daemon(empty_dir).stop()  # made, and left empty
    small = Daemon(small_dir)
    try:
        _fill(small.url, 0, 1000)
    finally:
        small.stop()
    made = made_links = 0
    first = 0.0
    for size, link_count in ((objects // 10, links // 10), (objects, links)):
        tenth = max(1, size // 10)
        daemon = Daemon(big_dir)
        try:
            if not made:
                first = _fill(daemon.url, 0, tenth)
                made = tenth
            _fill(daemon.url, made, size - tenth)
            last = _fill(daemon.url, size - tenth, size)
            _links(daemon.url, made_links, link_count)
        finally:
            daemon.stop()
        made, made_links = size, link_count
        # Each figure and its reference in turns, so that the machine's drift weighs on both alike.
        starts: Dict[str, List[Tuple[float, int]]] = {"empty": [], "big": []}
        pages: Dict[str, List[float]] = {"small": [], "big": []}
        for turn in range(START_RUNS):
            for side in (("empty", "big") if turn % 2 == 0 else ("big", "empty")):
                starts[side].append(_start(empty_dir if side == "empty" else big_dir))
            for side in (("small", "big") if turn % 2 == 0 else ("big", "small")):
                folder, count = (small_dir, 1000) if side == "small" else (big_dir, size)
                pages[side].append(_page_ms(folder, count))
        start, empty_start = (statistics.median(t for t, _ in starts[side]) for side in ("big", "empty"))
        rss, empty_rss = (statistics.median(r for _, r in starts[side]) for side in ("big", "empty"))
        page, small_page = statistics.median(pages["big"]), statistics.median(pages["small"])
        fsck_rate = _fsck_rate(big_dir, size)
        label = "%s objects, %s links" % (_count(size), _count(link_count))
        report.add("start-up s, %s (empty store)" % label, "%.2f" % start, "%.2f" % empty_start, start / empty_start,
                   "<= 1.2x", start <= 1.2 * empty_start)
        report.add("10-object page ms, %s (1k objects)" % label, "%.2f" % page, "%.2f" % small_page,
                   page / small_page, "<= 1.2x", page <= 1.2 * small_page)
        report.add("idle RSS MiB, %s (empty store)" % label, "%.1f" % (rss / MIB), "%.1f" % (empty_rss / MIB),
                   rss / empty_rss, "<= +8 MiB", rss <= empty_rss + 8 * MIB)
        report.add("fsck objects/s, %s" % label, "%.0f" % fsck_rate, "-", None, ">= 10000", fsck_rate >= 10000)
        report.add("small uploads/s, the last tenth to %s (the first %s)" % (_count(size), _count(objects // 100)),
                   "%.0f" % last, "%.0f" % first, last / first, ">= 0.8x", last >= 0.8 * first)


def _count(number: int) -> str:
    return "%dM" % (number // 1_000_000) if number >= 1_000_000 and number % 1_000_000 == 0 else \
        "%dk" % (number // 1000) if number % 1000 == 0 else str(number)


def _start(folder: str) -> Tuple[float, int]:
    """Seconds a start takes until every worker answers, and the idle RSS after it."""
    started = time.monotonic()
    daemon = Daemon(folder)
    took = time.monotonic() - started
    try:
        time.sleep(1)  # idle: what the start left behind, not the start itself
        return took, daemon.rss()
    finally:
        daemon.stop()


def _fill(url: str, start: int, end: int) -> float:
    """PUT objects ``start..end`` into /data/r; uploads per second."""
    def put(conn: http.client.HTTPConnection, number: int) -> None:
        conn.request("PUT", "/data/r", body=body(number))
        _answered(conn, (200, 201), "PUT /data/r")

    return _each(url, start, end, put)


def _links(url: str, start: int, end: int) -> None:
    """Share links ``start..end`` (one download each, at most); every other
    one downloaded, so that it is a dead link kept for its 30 days."""
    def share(conn: http.client.HTTPConnection, number: int) -> None:
        conn.request("PUT", "/file/link-%d.txt" % number, body=b"shared %d\n" % number,
                     headers={"Max-Downloads": "1", "Accept": "application/json"})
        answer = _answered(conn, (201,), "PUT /file")
        if number % 2:
            conn.request("GET", "/file/" + json.loads(answer)["url"].rsplit("/", 1)[1])
            _answered(conn, (200,), "a share link's download")

    _each(url, start, end, share)


def _answered(conn: http.client.HTTPConnection, statuses: Tuple[int, ...], what: str) -> bytes:
    response = conn.getresponse()
    answer = response.read()
    if response.status not in statuses:
        raise RuntimeError("%s answered %d" % (what, response.status))
    return answer


def _each(url: str, start: int, end: int, send: Callable[[http.client.HTTPConnection, int], None]) -> float:
    """``send`` for each number ``start..end``, from ``CLIENTS`` clients on
    keep-alive connections; how many per second."""
    numbers = iter(range(start, end))
    lock = threading.Lock()
    errors: List[BaseException] = []

    def client() -> None:
        conn = http.client.HTTPConnection(url.split("//")[1], timeout=60)
        try:
            while not errors:
                with lock:
                    number = next(numbers, None)
                if number is None:
                    return
                send(conn, number)
        except BaseException as error:  # reported below
            errors.append(error)
        finally:
            conn.close()

    began = time.monotonic()
    _together(client)
    if errors:
        raise RuntimeError("filling the store failed: %s" % errors[0])
    return (end - start) / (time.monotonic() - began)


def _together(client) -> None:
    threads = [threading.Thread(target=client) for _ in range(CLIENTS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(3600)
    if any(thread.is_alive() for thread in threads):
        raise RuntimeError("a bench client did not end within an hour")


def _page_ms(folder: str, size: int) -> float:
    """The median milliseconds of a 10-object page after a random stored id."""
    daemon = Daemon(folder)
    try:
        conn = http.client.HTTPConnection(daemon.url.split("//")[1], timeout=60)
        chooser = random.Random(7)
        times: List[float] = []
        for turn in range(PAGES + 20):
            started = time.perf_counter()
            conn.request("GET", "/data/r?limit=10&after=" + oid(chooser.randrange(size)))
            response = conn.getresponse()
            json.loads(response.read())
            if turn >= 20:  # the first ones warm the connection and caches up
                times.append(time.perf_counter() - started)
            if response.status != 200:
                raise RuntimeError("a page answered %d" % response.status)
        conn.close()
    finally:
        daemon.stop()
    return 1000 * statistics.median(times)


def _fsck_rate(folder: str, size: int) -> float:
    store = os.path.join(folder, "daemon-store")
    began = time.monotonic()
    out = subprocess.run([sys.executable, "-m", "filestoraged", "fsck", "--data-dir", store],
                         env=dict(os.environ, PYTHONPATH=ROOT), check=True, capture_output=True, text=True).stdout
    took = time.monotonic() - began
    checked = int(out.split()[0])
    if checked < size:
        raise RuntimeError("fsck checked %d objects of %d: %s" % (checked, size, out))
    return checked / took
