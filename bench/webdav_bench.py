"""WebDAV (``--only webdav``): a folder's listing and a small file's read
through ``/dav/``, against the same work through the daemon's other faces
and against two WebDAV servers people run, over the same files:

- a PROPFIND of ``Depth: 1`` of a folder of ``FILES`` files against the
  ListObjectsV2 pages of the same keys (their whole listing, two pages),
  one request after another on one keep-alive connection, the median
  time of each; goal: at most 1.2× the time;
- a 1 KiB GET over WebDAV against the same bytes over ``/data`` (wrk, 64
  connections); goal: at least 0.9× the requests per second;
- the same PROPFIND and GET against WsgiDAV (PyPI's ``wsgidav`` on
  ``cheroot``, installed into this venv when missing, anonymous) and
  ``rclone serve webdav`` (Debian's rclone), each over a folder of the
  same files on the disk: stated;
- memory: the daemon's peak RSS (every process's ``VmHWM``, reset before
  each) while it lists a folder of ``MANY`` files three times, against
  while it lists the folder of ``FILES``; goal: at most 1.1× (flat: a
  listing is sent as it is read).

Settings changed from the daemon as shipped: ``--s3-api`` (the listing's
reference). Access control is the default's on loopback (off), as the two
other servers are run."""

from __future__ import annotations

import http.client
import json
import os
import re
import shutil
import statistics
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from typing import Callable, Dict, List, Tuple

from .common import Daemon, Report, ensure_tools, free_port, wait_port, wrk

FILES = 1000
MANY = 10_000
SIZE = 1024
REQUESTS = 20  # listings timed a run, per side
WSGIDAV = ("wsgidav==4.4.0", "cheroot")
NAME_LIST = "PROPFIND Depth 1 of %s files, ms, vs %s"
NAME_GET = "1 KiB GET req/s over WebDAV vs %s"
NAME_MEMORY = "peak RSS listing a folder of %s files vs of %s (MiB)"


def run(work: str, runs: int, report: Report) -> None:
    ensure_tools("wrk", "rclone")
    wsgidav = _wsgidav()
    folder = os.path.join(work, "dav-files")
    os.makedirs(os.path.join(folder, "list"))
    files = {"f%05d" % number: os.urandom(SIZE) for number in range(FILES)}
    for name, data in files.items():
        with open(os.path.join(folder, "list", name), "wb") as out:
            out.write(data)
    s3_port = free_port()
    daemon = Daemon(os.path.join(work, "dav-ours"), "--s3-api", "127.0.0.1:%d" % s3_port)
    others = [_Other("WsgiDAV", [wsgidav, "--host", "127.0.0.1", "--port", "{port}", "--root", folder,
                                 "--auth", "anonymous", "--no-config", "-q"]),
              _Other("rclone serve webdav", ["rclone", "serve", "webdav", folder, "--addr", "127.0.0.1:{port}"])]
    try:
        ours = daemon.url.split("//", 1)[1]
        _ask("127.0.0.1:%d" % s3_port, "PUT", "/bench")  # the bucket, made through S3
        _ask(ours, "MKCOL", "/dav/bench/list")
        _put_all(ours, "/dav/bench/list/", files)
        oid = json.loads(_ask(ours, "PUT", "/data/bench", files["f00000"]))["oid"]
        lists: Dict[str, Callable[[], float]] = {
            "ours": lambda: _timed(ours, "PROPFIND", "/dav/bench/list/", {"Depth": "1"}),
            "s3": lambda: _timed_pages("127.0.0.1:%d" % s3_port, "/bench?list-type=2&prefix=list/"),
        }
        gets = {"ours": "http://%s/dav/bench/list/f00000" % ours, "data": "http://%s/data/bench/%s" % (ours, oid)}
        for other in others:
            other.start()
            lists[other.name] = (lambda where: lambda: _timed(where, "PROPFIND", "/list/", {"Depth": "1"}))(
                other.address)
            gets[other.name] = "http://%s/list/f00000" % other.address
        listed: Dict[str, List[float]] = {side: [] for side in lists}
        got: Dict[str, List[float]] = {side: [] for side in gets}
        for number in range(runs):
            order = list(lists) if number % 2 == 0 else list(reversed(lists))
            for side in order:
                listed[side].append(statistics.median(lists[side]() for _ in range(REQUESTS)))
            for side in (list(gets) if number % 2 == 0 else list(reversed(gets))):
                rate, _, errors = wrk(gets[side], seconds=3)
                if errors:
                    raise SystemExit("bench: %d errors from wrk against %s" % (errors, side))
                got[side].append(rate)
        hwm = _memory(daemon, ours)
    finally:
        daemon.stop()
        for other in others:
            other.stop()
    time_of = {side: statistics.median(times) * 1000 for side, times in listed.items()}
    rate_of = {side: statistics.median(rates) for side, rates in got.items()}
    count = f"{FILES:,}"
    ratio = time_of["ours"] / time_of["s3"]
    report.add(NAME_LIST % (count, "ListObjectsV2 of the same keys (--s3-api)"), "%.1f" % time_of["ours"],
               "%.1f" % time_of["s3"], ratio, "<= 1.2x", ratio <= 1.2)
    report.add(NAME_GET % "/data", "%.0f" % rate_of["ours"], "%.0f" % rate_of["data"],
               rate_of["ours"] / rate_of["data"], ">= 0.9x", rate_of["ours"] >= 0.9 * rate_of["data"])
    for other in others:
        report.add(NAME_LIST % (count, other.name), "%.1f" % time_of["ours"], "%.1f" % time_of[other.name],
                   time_of["ours"] / time_of[other.name], "(time: lower is better)", True)
        report.add(NAME_GET % other.name, "%.0f" % rate_of["ours"], "%.0f" % rate_of[other.name],
                   rate_of["ours"] / rate_of[other.name], "(stated)", True)
    few, many = hwm
    report.add(NAME_MEMORY % (f"{MANY:,}", count), "%.1f" % (many / 2 ** 20), "%.1f" % (few / 2 ** 20), many / few,
               "<= 1.1x", many <= 1.1 * few)


def _memory(daemon: Daemon, ours: str) -> Tuple[int, int]:
    """The daemon's peak RSS listing the small folder three times, then a
    folder of ``MANY`` files three times (each peak reset before)."""
    _ask(ours, "MKCOL", "/dav/bench/many")
    _put_all(ours, "/dav/bench/many/", {"f%05d" % number: b"x" * 16 for number in range(MANY)})
    peaks = []
    for path in ("/dav/bench/list/", "/dav/bench/many/"):
        daemon.reset_peak()
        for _ in range(3):
            _timed(ours, "PROPFIND", path, {"Depth": "1"})
        peaks.append(daemon.rss("VmHWM"))
    return peaks[0], peaks[1]


def _put_all(where: str, folder: str, files: Dict[str, bytes]) -> None:
    """PUT each file under ``folder``, eight connections at once."""
    names = sorted(files)

    def put(share: List[str]) -> None:
        connection = http.client.HTTPConnection(where, timeout=60)
        try:
            for name in share:
                connection.request("PUT", folder + name, files[name])
                answer = connection.getresponse()
                answer.read()
                if answer.status not in (201, 204):
                    raise SystemExit("bench: PUT %s%s answered %d" % (folder, name, answer.status))
        finally:
            connection.close()

    with ThreadPoolExecutor(8) as pool:
        list(pool.map(put, [names[index::8] for index in range(8)]))


def _ask(where: str, method: str, path: str, body: bytes = b"") -> str:
    connection = http.client.HTTPConnection(where, timeout=60)
    try:
        connection.request(method, path, body)
        answer = connection.getresponse()
        text = answer.read().decode("utf-8", "replace")
        if answer.status >= 300:
            raise SystemExit("bench: %s %s answered %d: %s" % (method, path, answer.status, text[:200]))
        return text
    finally:
        connection.close()


_connections: Dict[str, http.client.HTTPConnection] = {}


def _exchange(where: str, method: str, path: str, headers: Dict[str, str]) -> Tuple[float, int, bytes]:
    """``(seconds, status, body)`` of one request on a kept connection to
    ``where``; a connection the server closed since is opened again (the
    try on the closed one not counted)."""
    for attempt in range(2):
        connection = _connections.get(where)
        if connection is None:
            connection = _connections[where] = http.client.HTTPConnection(where, timeout=60)
        start = time.perf_counter()
        try:
            connection.request(method, path, headers=headers)
            answer = connection.getresponse()
            body = answer.read()
        except (http.client.RemoteDisconnected, ConnectionError):
            connection.close()
            del _connections[where]
            if attempt:
                raise
            continue
        return time.perf_counter() - start, answer.status, body
    raise AssertionError("unreachable")


def _timed(where: str, method: str, path: str, headers: Dict[str, str]) -> float:
    """Seconds one request takes, its answer read whole."""
    took, status, _ = _exchange(where, method, path, headers)
    if status not in (200, 207):
        raise SystemExit("bench: %s %s on %s answered %d" % (method, path, where, status))
    return took


def _timed_pages(where: str, path: str) -> float:
    """Seconds the ListObjectsV2 pages of ``path`` take, one after another."""
    took, token = 0.0, ""
    while True:
        spent, status, body = _exchange(where, "GET", path + ("&continuation-token=" + token if token else ""), {})
        took += spent
        text = body.decode("utf-8")
        if status != 200:
            raise SystemExit("bench: ListObjectsV2 answered %d: %s" % (status, text[:200]))
        found = re.search(r"<NextContinuationToken>([^<]+)</NextContinuationToken>", text)
        if found is None:
            return took
        token = found.group(1).replace("+", "%2B").replace("/", "%2F").replace("=", "%3D")


class _Other:
    """Another WebDAV server over the folder of files, in a session of its own."""

    def __init__(self, name: str, command: List[str]) -> None:
        self.name, self.command = name, command
        self.process = None
        self.address = ""

    def start(self) -> None:
        port = free_port()
        self.address = "127.0.0.1:%d" % port
        self.process = subprocess.Popen([part.replace("{port}", str(port)) for part in self.command],
                                        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
        wait_port(port)

    def stop(self) -> None:
        if self.process is not None:
            self.process.terminate()
            self.process.wait(10)


def _wsgidav() -> str:
    wsgidav = os.path.join(os.path.dirname(sys.executable), "wsgidav")
    if not os.access(wsgidav, os.X_OK):
        print("installing %s into this venv" % " ".join(WSGIDAV), file=sys.stderr)
        subprocess.run([sys.executable, "-m", "pip", "install", "--quiet", *WSGIDAV], check=True)
    if not os.access(wsgidav, os.X_OK) or shutil.which(wsgidav) is None:
        sys.exit("bench: needs WsgiDAV (pip install %s)" % " ".join(WSGIDAV))
    return wsgidav
