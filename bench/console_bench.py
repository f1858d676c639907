"""The console's folder pages against the size of the bucket, run by hand:
``python -m bench.run --only console [--objects N]`` (default 1,000,000
keys).

Two stores are filled in-process before their daemons start: a bucket of
``N`` keys in folders of 1,000 (``f000/…``), and one of a single folder of
1,000 keys, all naming one stored object (a key's record is what a listing
reads; its bytes are never touched). Each daemon then runs as shipped (its
defaults: access control off on loopback, so no sign-in), and one
keep-alive client asks, turn and turn about:

- the first page (200 entries) of a folder of 1,000 keys, in the big bucket
  against the same page in the small one (goal <= 1.2x: a page costs the
  page, not the bucket);
- the bucket's top page: 200 folders of the big bucket (each passed over
  whole) against the small bucket's one folder.
"""

from __future__ import annotations

import http.client
import os
import statistics
import time
from typing import Dict

from .common import Daemon, Report

FOLDER = 1000  # keys per folder
ASKS = 200  # requests per measure and run
BATCH = 10_000  # keys written per transaction while filling


def run(work: str, runs: int, report: Report, objects: int) -> None:
    folders = max(1, objects // FOLDER)
    big, small = os.path.join(work, "console-big"), os.path.join(work, "console-small")
    started = time.perf_counter()
    _fill(os.path.join(big, "daemon-store"), folders)  # where bench.common.Daemon keeps its store
    filled = time.perf_counter() - started
    _fill(os.path.join(small, "daemon-store"), 1)
    middle = _name(folders // 2, folders)
    daemons = {"big": Daemon(big), "small": Daemon(small)}
    try:
        times: Dict[str, list] = {name: [] for name in ("big folder", "small folder", "big top", "small top")}
        for _ in range(runs):
            times["big folder"].append(_page(daemons["big"].port, middle))
            times["small folder"].append(_page(daemons["small"].port, _name(0, 1)))
            times["big top"].append(_page(daemons["big"].port, ""))
            times["small top"].append(_page(daemons["small"].port, ""))
    finally:
        for daemon in daemons.values():
            daemon.stop()
    medians = {name: statistics.median(values) * 1000 for name, values in times.items()}
    ratio = medians["big folder"] / medians["small folder"]
    report.add("console folder page (200 of a folder's 1,000 keys), %d-key bucket vs 1,000-key bucket, ms"
               % (folders * FOLDER), "%.1f" % medians["big folder"], "%.1f" % medians["small folder"], ratio,
               "<= 1.2x", ratio <= 1.2)
    report.add("console top page (200 folders of %d keys each vs 1 folder), ms" % FOLDER,
               "%.1f" % medians["big top"], "%.1f" % medians["small top"], medians["big top"] / medians["small top"],
               "-", True)
    report.add("filling the %d-key bucket in-process, s (not a goal: the bench's own set-up)" % (folders * FOLDER),
               "%.0f" % filled, "-", None, "-", True)


def _name(folder: int, folders: int) -> str:
    return ("f%03d/" if folders <= 1000 else "f%04d/") % folder


def _fill(data_dir: str, folders: int) -> None:
    """A store whose bucket ``photos`` holds ``folders`` x ``FOLDER`` keys."""
    from filestoraged.app import App
    from filestoraged.catalog.keys import Entry
    from filestoraged.config import Config
    from filestoraged.storage.names import repository

    app = App(Config(port=0, data_dir=data_dir))
    try:
        bucket = app.buckets.create("photos")
        put = app.backend.put(repository("photos"), _Bytes(b"the one object"), "image/jpeg")
        entry = Entry(put.info.oid, put.info.size, "0" * 32, time.time(), "image/jpeg")
        names = (_name(folder, folders) + "%06d.jpg" % number for folder in range(folders)
                 for number in range(FOLDER))
        while True:
            with app.records.batch():
                written = 0
                for key in names:
                    app.keyspace.name(bucket, key, entry)
                    written += 1
                    if written == BATCH:
                        break
            if written < BATCH:
                return
    finally:
        app.close()


def _page(port: int, prefix: str) -> float:
    """Median seconds of ``ASKS`` asks for the page of ``prefix``, on one connection."""
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
    path = "/console/bucket?name=photos" + ("&prefix=" + prefix.replace("/", "%2F") if prefix else "")
    took = []
    try:
        for _ in range(ASKS):
            start = time.perf_counter()
            conn.request("GET", path)
            response = conn.getresponse()
            body = response.read()
            took.append(time.perf_counter() - start)
            if response.status != 200 or b"<table>" not in body:
                raise SystemExit("bench: the console answered %d to %s" % (response.status, path))
    finally:
        conn.close()
    return statistics.median(took)


class _Bytes:
    def __init__(self, data: bytes) -> None:
        self.data = memoryview(data)

    def readinto(self, buffer: memoryview) -> int:
        count = min(len(buffer), len(self.data))
        buffer[:count] = self.data[:count]
        self.data = self.data[count:]
        return count
