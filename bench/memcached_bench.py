"""Memcached figures for bench/run.py: the library and the daemon against raw
pymemcache ``set_many``/``get_many`` of the same bytes, chunked and batched the
same way (chunks of the server's item size, 8 MiB windows), pair by pair."""

from __future__ import annotations

import hashlib
import io
import os
import shutil
import subprocess
import time
import pymemcache.client.base
from pymemcache.client.base import Client

from filestoraged.workers.process import MEMCACHED_RECV_SIZE

from filestoraged.storage.memcached.manifest import WINDOW_BYTES
from filestoraged.storage.memcached.file_store import MemcachedFileStore

from .common import BIG, Daemon, curl, ensure_tools, free_port, median_rate, wait_port, wrk


def _timed(action) -> float:
    started = time.perf_counter()
    action()
    return time.perf_counter() - started


def run(work: str, runs: int, report) -> None:
    ensure_tools("curl", "memcached", "wrk")
    # The daemon reads with 64 KiB receives (workers.process.MEMCACHED_RECV_SIZE); the raw
    # reference and the library measured in this process read the same way.
    pymemcache.client.base.RECV_SIZE = MEMCACHED_RECV_SIZE
    binary = shutil.which("memcached")
    port = free_port()
    command = [binary, "-l", "127.0.0.1", "-p", str(port), "-m", "2048", "-U", "0"]
    if os.geteuid() == 0:
        command += ["-u", "root"]
    server = subprocess.Popen(command)
    wait_port(port)
    data = os.urandom(BIG)
    path = os.path.join(work, "mc-big.bin")
    with open(path, "wb") as handle:
        handle.write(data)
    store = MemcachedFileStore(["127.0.0.1:%d" % port])
    raw = Client(("127.0.0.1", port), default_noreply=False, no_delay=True)
    chunk = store.chunk_size
    keys = ["raw:%d" % i for i in range(-(-BIG // chunk))]
    per_window = max(1, WINDOW_BYTES // chunk)
    windows = [keys[i:i + per_window] for i in range(0, len(keys), per_window)]

    def raw_set() -> None:
        for window in windows:
            raw.set_many({k: data[int(k[4:]) * chunk:(int(k[4:]) + 1) * chunk] for k in window}, noreply=False)

    def raw_get() -> None:
        for window in windows:
            got = raw.get_many(window)
            assert len(got) == len(window)

    def lib_store() -> None:
        store.store("bench", io.BytesIO(data))

    def lib_read() -> None:
        for _ in store.retrieve("bench"):
            pass

    daemon = Daemon(work, "--backend", "memcached", "--memcached", "127.0.0.1:%d" % port)
    try:
        samples = {name: [] for name in ("raw_set", "raw_get", "lib_set", "lib_get", "http_set", "http_get")}
        oid = ""
        for _ in range(runs):
            samples["raw_set"].append(_timed(raw_set))
            samples["raw_get"].append(_timed(raw_get))
            samples["lib_set"].append(_timed(lib_store))
            samples["lib_get"].append(_timed(lib_read))
            store.delete("bench")
            if oid:
                curl("-X", "DELETE", daemon.url + "/files/" + oid)
            samples["http_set"].append(curl("-T", path, "-X", "POST", "-H", "Expect:", daemon.url + "/files"))
            oid = _sha(data)
            samples["http_get"].append(curl(daemon.url + "/files/" + oid))
        rate = {name: median_rate(times, BIG) for name, times in samples.items()}
        _row(report, "memcached library store MiB/s", rate["lib_set"], rate["raw_set"], 0.9)
        _row(report, "memcached library retrieve MiB/s", rate["lib_get"], rate["raw_get"], 0.9)
        _row(report, "memcached daemon upload MiB/s", rate["http_set"], rate["raw_set"], 0.8)
        _row(report, "memcached daemon download MiB/s", rate["http_get"], rate["raw_get"], 0.6)
        _small_gets(report, work, daemon)
        _concurrent_uploads(report, work, daemon)
    finally:
        daemon.stop()
        store.close()
        raw.close()
        server.kill()
        server.wait()


def _row(report, name: str, ours: float, reference: float, goal: float) -> None:
    ratio = ours / reference
    report.add(name, "%.0f" % ours, "%.0f raw" % reference, ratio, ">= %.1fx" % goal, ratio >= goal)


def _sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _small_gets(report, work: str, daemon: Daemon) -> None:
    """1 KiB GETs over 64 keep-alive connections, beside the disk face's in
    the same run (a disk daemon of its own, same machine, same minute)."""
    small = os.path.join(work, "mc-small.bin")
    with open(small, "wb") as handle:
        handle.write(os.urandom(1024))
    oid = _sha(open(small, "rb").read())
    curl("-T", small, "-X", "POST", "-H", "Expect:", daemon.url + "/files")
    disk = Daemon(os.path.join(work, "disk-for-small"))
    try:
        curl("-T", small, "-X", "POST", "-H", "Expect:", disk.url + "/files")
        rate, p99, errors = wrk(daemon.url + "/files/" + oid)
        disk_rate, disk_p99, _ = wrk(disk.url + "/files/" + oid)
    finally:
        disk.stop()
    report.add("memcached 1 KiB GET req/s", "%.0f" % rate, "%.0f disk" % disk_rate, rate / disk_rate, ">= 0.6x",
               rate / disk_rate >= 0.6 and errors == 0)
    report.add("memcached 1 KiB GET p99 ms", "%.2f" % p99, "%.2f disk" % disk_p99, p99 / disk_p99, "<= 2x",
               p99 <= 2 * disk_p99)


def _concurrent_uploads(report, work: str, daemon: Daemon) -> None:
    """Peak RSS growth while 8 different 50 MiB files are uploaded at once."""
    paths = []
    for number in range(8):
        path = os.path.join(work, "mc-up-%d.bin" % number)
        with open(path, "wb") as handle:
            handle.write(os.urandom(BIG))
        paths.append(path)
    growth = daemon.peak_growth([["-T", path, "-X", "POST", "-H", "Expect:", daemon.url + "/files"] for path in paths])
    report.add("memcached 8 x 50 MiB uploads, RSS growth MiB", "%.1f" % growth, "-", None, "<= 32 MiB", growth <= 32)
