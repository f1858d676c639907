"""A mixed soak, run by hand: ``python -m bench.soak [--backend disk|memcached] [--seconds 360]``
(``--seconds 1800`` or more for the memory verdict that docs/operations.md reports).

Loopback only and bounded in time. Worker threads upload (0 B to 50 MiB,
checked by hash), download and check, delete, use repositories, race share
links, drive the KV store against a shadow model, and misbehave (slow and
aborting clients) beside a stream of small GETs. A sampler records the
daemon's RSS, threads and open fds. At the end the daemon is stopped and
started again, everything the shadow model says must exist is checked byte
for byte, and (disk) ``fsck`` must find the store clean. The summary counts
requests, errors by kind and wrong bytes, and judges memory: flat (the
last third of the run grew less than 5% over the middle third's peak) and
under the ceiling docs/operations.md states for the daemon's defaults.
"""

from __future__ import annotations

import argparse
import hashlib
import http.client
import json
import os
import random
import shutil
import socket
import struct
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from typing import Dict, List, Optional, Tuple

from .common import MIB, Daemon, ensure_tools, free_port, wait_port


HELD_PER_WORKER = 2 * 1024 * MIB  # bytes one upload worker keeps stored at most (four of them)


class Soak:
    def __init__(self, url_port: int, deadline: float, evictable: bool = False) -> None:
        self.port = url_port
        self.deadline = deadline
        # memcached evicts when full: a GET of an evicted object answers 404
        # or 500 corrupt (never wrong bytes), an upload into a full one 503.
        # Those are counted as evictions, the object leaves the shadow model.
        self.evictable = evictable
        self.lock = threading.Lock()
        self.counts: Counter = Counter()  # "requests", "errors:<kind>", "wrong_bytes"
        self.files: Dict[str, str] = {}  # oid -> sha256 (objects of /files that must exist)
        self.repos: Dict[Tuple[str, str], str] = {}  # (repo, oid) -> sha256
        self.kv: Dict[str, object] = {}  # the committed KV state
        self.links: List[Tuple[str, int]] = []  # (path, downloads left) of live share links

    # -- one request -------------------------------------------------------------

    def call(self, method: str, path: str, body: Optional[bytes] = None, headers: Optional[dict] = None,
             expect: Tuple[int, ...] = (200,)) -> Tuple[int, bytes]:
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=60)
        try:
            conn.request(method, path, body, headers or {})
            reply = conn.getresponse()
            data = reply.read()
            status = reply.status
        except (OSError, http.client.HTTPException) as error:
            self.count("errors:%s" % type(error).__name__)
            return 0, b""
        finally:
            conn.close()
        self.count("requests")
        if status not in expect:
            if self.evictable and (status, method) in ((404, "GET"), (500, "GET"), (404, "DELETE"), (503, "POST"),
                                                       (503, "PUT"), (404, "HEAD")):
                self.count("evicted_or_full:%d_%s" % (status, method))
            else:
                self.count("errors:status_%d_%s" % (status, method))
        return status, data

    def count(self, what: str, n: int = 1) -> None:
        with self.lock:
            self.counts[what] += n

    # -- the workers ---------------------------------------------------------------

    def files_worker(self, seed: int) -> None:
        rng = random.Random(seed)
        mine: List[str] = []
        sizes: Dict[str, int] = {}
        held = 0  # the sum of sizes
        made = 0
        while time.monotonic() < self.deadline:
            roll = rng.random()
            if held > HELD_PER_WORKER:
                roll = 1.0  # a long run stays within the disk: delete one
            if roll < 0.35 or not mine:
                size = rng.choice([0, 1, 1000, 70000, 300000]) if rng.random() < 0.9 else rng.randint(1, 50 * MIB)
                # Bytes of this worker's own (a prefix), so that no other worker
                # deletes them: the shadow model stays exact.
                made += 1
                data = struct.pack(">II", seed, made) + rng.randbytes(size)
                oid = hashlib.sha256(data).hexdigest()
                status, body = self.call("POST", "/files", data)
                if status == 200:
                    if json.loads(body)["hash"] != oid:
                        self.count("wrong_bytes")
                    with self.lock:
                        self.files[oid] = oid
                    mine.append(oid)
                    sizes[oid] = len(data)
                    held += len(data)
            elif roll < 0.9:
                oid = rng.choice(mine)
                status, body = self.call("GET", "/files/" + oid)
                if status == 200 and hashlib.sha256(body).hexdigest() != oid:
                    self.count("wrong_bytes")
            else:
                oid = mine.pop(rng.randrange(len(mine)))
                held -= sizes.pop(oid, 0)
                with self.lock:
                    self.files.pop(oid, None)
                self.call("DELETE", "/files/" + oid)

    def repo_worker(self, seed: int) -> None:
        rng = random.Random(seed)
        repo = "soak-%d" % seed
        while time.monotonic() < self.deadline:
            data = rng.randbytes(rng.choice([10, 5000, 200000]))
            oid = hashlib.sha256(data).hexdigest()
            if self.call("PUT", "/data/" + repo, data, expect=(201,))[0] == 201:
                with self.lock:
                    self.repos[(repo, oid)] = oid
            status, body = self.call("GET", "/data/%s/%s" % (repo, oid))
            if status == 200 and hashlib.sha256(body).hexdigest() != oid:
                self.count("wrong_bytes")
            self.call("GET", "/data/%s?limit=50" % repo)

    def share_worker(self, seed: int) -> None:
        rng = random.Random(seed)
        while time.monotonic() < self.deadline:
            data = rng.randbytes(rng.choice([100, 100000]))
            allowed = rng.randint(1, 3)
            boundary = "soak%d" % rng.randrange(10 ** 9)
            form = ("--%s\r\nContent-Disposition: form-data; name=\"max_downloads\"\r\n\r\n%d\r\n"
                    "--%s\r\nContent-Disposition: form-data; name=\"file\"; filename=\"s.bin\"\r\n"
                    "Content-Type: application/octet-stream\r\n\r\n" % (boundary, allowed, boundary)).encode()
            body = form + data + ("\r\n--%s--\r\n" % boundary).encode()
            form_type = {"Content-Type": "multipart/form-data; boundary=" + boundary}
            status, answer = self.call("PUT", "/file", body, form_type, expect=(201,))
            if status != 201:
                continue
            path = "/file/" + json.loads(answer)["url"].rsplit("/", 1)[1]
            results: List[Tuple[int, bytes]] = []

            def race(path: str = path, results: List[Tuple[int, bytes]] = results) -> None:
                results.append(self.call("GET", path, expect=(200, 410)))

            racers = [threading.Thread(target=race) for _ in range(allowed + 2)]
            for racer in racers:
                racer.start()
            for racer in racers:
                racer.join()
            wins = [body for status, body in results if status == 200]
            if len(wins) > allowed:
                self.count("errors:share_over_counted")
            if any(body != data for body in wins):
                self.count("wrong_bytes")

    def kv_worker(self, seed: int) -> None:
        rng = random.Random(seed)
        staged: Dict[str, object] = {}
        while time.monotonic() < self.deadline:
            key = "k%d" % rng.randrange(200)
            if rng.random() < 0.8:
                value = {"n": rng.randrange(10 ** 6), "s": "x" * rng.randrange(100)}
                if self.call("POST", "/kv/set", json.dumps({key: value}).encode(), expect=(200, 201))[0]:
                    staged[key] = value
            else:
                if self.call("DELETE", "/kv/set", json.dumps(key).encode())[0] == 200:
                    staged[key] = None
            if rng.random() < 0.2 and self.call("POST", "/kv/commit", expect=(204,))[0] == 204:
                with self.lock:
                    for k, v in staged.items():
                        if v is None:
                            self.kv.pop(k, None)
                        else:
                            self.kv[k] = v
                staged.clear()
            probe = "k%d" % rng.randrange(200)
            status, body = self.call("GET", "/kv/" + probe, expect=(200, 404))
            with self.lock:
                expected = self.kv.get(probe)
            if status == 200 and json.loads(body) != {probe: expected}:
                self.count("errors:kv_mismatch")

    def rude_worker(self, seed: int) -> None:
        """Slow and aborting clients: half bodies, resets, cut heads."""
        rng = random.Random(seed)
        while time.monotonic() < self.deadline:
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=10) as sock:
                    kind = rng.randrange(3)
                    if kind == 0:  # a body cut by a reset
                        sock.sendall(b"POST /files HTTP/1.1\r\nHost: s\r\nContent-Length: 1000000\r\n\r\n"
                                     + b"x" * 5000)
                        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
                    elif kind == 1:  # a head that never ends
                        sock.sendall(b"DELETE /files/" + b"0" * 64 + b" HTTP/1.1\r\nHost: s\r\n")
                    else:  # a slow reader of a download
                        with self.lock:
                            oids = list(self.files)
                        if oids:
                            sock.sendall(b"GET /files/%s HTTP/1.1\r\nHost: s\r\n\r\n" % rng.choice(oids).encode())
                            sock.recv(1000)
                self.count("rude_clients")
            except OSError:
                pass
            time.sleep(rng.random() * 0.5)  # pacing of this misbehaving client, not a wait

    def small_gets(self, oid: str) -> None:
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=30)
        while time.monotonic() < self.deadline:
            try:
                conn.request("GET", "/files/" + oid)
                reply = conn.getresponse()
                body = reply.read()
                self.count("requests")
                self.count("small_gets")
                if reply.status != 200 or hashlib.sha256(body).hexdigest() != oid:
                    self.count("errors:small_get")
            except (OSError, http.client.HTTPException) as error:
                self.count("errors:small_get_%s" % type(error).__name__)
                conn.close()
                conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=30)
        conn.close()


def sample(pid: int, samples: List[Tuple[float, int, int, int]], stop: threading.Event, started: float) -> None:
    """RSS, threads and open descriptors of the daemon, its workers included."""
    while not stop.wait(5):
        rss = threads = fds = 0
        try:
            with open("/proc/%d/task/%d/children" % (pid, pid)) as children:
                pids = [pid] + [int(child) for child in children.read().split()]
            for process in pids:
                status = open("/proc/%d/status" % process).read()
                rss += int(status.split("VmRSS:")[1].split()[0]) // 1024
                threads += int(status.split("Threads:")[1].split()[0])
                fds += len(os.listdir("/proc/%d/fd" % process))
        except (OSError, IndexError):
            return
        samples.append((time.monotonic() - started, rss, threads, fds))


# The memory ceiling of the defaults, as docs/operations.md states it (MiB):
# the parent, and per worker its idle size, its caches when full, and what
# each of its --max-connections may hold while it transfers (measured: a
# disk download whose client stops reading 1.6 MiB, an upload 0.55 MiB).
PARENT_MIB = 30
WORKER_IDLE_MIB = 30
WORKER_CACHES_MIB = 16 + 16 + 8 + 5 + 10  # ready-made answers, hot files, KV values, tokens, SQLite pages
CONNECTION_MIB = 1.6
DEFAULT_WORKERS = 2
DEFAULT_MAX_CONNECTIONS = 256


def ceiling_mib(workers: int = DEFAULT_WORKERS, max_connections: int = DEFAULT_MAX_CONNECTIONS) -> float:
    return PARENT_MIB + workers * (WORKER_IDLE_MIB + WORKER_CACHES_MIB + max_connections * CONNECTION_MIB)


def memory_verdict(samples: List[Tuple[float, int, int, int]]) -> str:
    """One line: RSS at start, the middle third's peak, the last third's
    peak and end, whether it is flat and under the ceiling."""
    if len(samples) < 6:
        return "memory: too few samples for a verdict (run longer)"
    third = len(samples) // 3
    middle = max(rss for _, rss, _, _ in samples[third:2 * third])
    last = max(rss for _, rss, _, _ in samples[2 * third:])
    growth = (last - middle) / middle
    ceiling = ceiling_mib()
    return ("memory: RSS %d MiB at start, middle third's peak %d, last third's peak %d (%+.1f%%), end %d: %s;"
            " ceiling of the defaults %.0f MiB: %s"
            % (samples[0][1], middle, last, 100 * growth, samples[-1][1], "flat" if growth < 0.05 else "GROWING",
               ceiling, "under" if last <= ceiling else "OVER"))


def verify_after_restart(soak: Soak) -> Counter:
    found: Counter = Counter()

    def judge(kind: str, status: int, body: bytes, oid: str) -> str:
        if status == 200:
            return kind + ("_ok" if hashlib.sha256(body).hexdigest() == oid else "_wrong_bytes")
        return kind + ("_evicted" if soak.evictable and status in (404, 500) else "_missing")

    for oid in list(soak.files):
        found[judge("files", *soak.call("GET", "/files/" + oid), oid)] += 1
    for (repo, oid) in list(soak.repos):
        found[judge("repo", *soak.call("GET", "/data/%s/%s" % (repo, oid)), oid)] += 1
    for key, value in list(soak.kv.items()):
        status, body = soak.call("GET", "/kv/" + key)
        found["kv_ok" if status == 200 and json.loads(body) == {key: value} else "kv_wrong"] += 1
    return found


def main(argv: Optional[List[str]] = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--backend", choices=["disk", "memcached"], default="disk")
    parser.add_argument("--seconds", type=float, default=360)
    args = parser.parse_args(argv)
    ensure_tools(*(["memcached"] if args.backend == "memcached" else []))
    work = tempfile.mkdtemp(prefix="fsd-soak-", dir=os.environ.get("BENCH_DIR", "/var/tmp"))
    extra: List[str] = []
    memcached = None
    if args.backend == "memcached":
        port = free_port()
        command = ["memcached", "-l", "127.0.0.1", "-p", str(port), "-m", "8192", "-U", "0"]
        memcached = subprocess.Popen(command + (["-u", "root"] if os.geteuid() == 0 else []))
        wait_port(port)
        extra = ["--backend", "memcached", "--memcached", "127.0.0.1:%d" % port]
    daemon = Daemon(work, *extra)
    started = time.monotonic()
    soak = Soak(daemon.port, started + args.seconds, evictable=args.backend == "memcached")
    hot = os.urandom(1024)
    soak.call("POST", "/files", hot)
    samples: List[Tuple[float, int, int, int]] = []
    stop = threading.Event()
    sampler = threading.Thread(target=sample, args=(daemon.process.pid, samples, stop, started), daemon=True)
    sampler.start()
    workers = [threading.Thread(target=soak.files_worker, args=(i,)) for i in range(4)]
    workers += [threading.Thread(target=soak.repo_worker, args=(10 + i,)) for i in range(2)]
    workers += [threading.Thread(target=soak.share_worker, args=(20,))]
    workers += [threading.Thread(target=soak.kv_worker, args=(30,))]
    workers += [threading.Thread(target=soak.rude_worker, args=(40 + i,)) for i in range(2)]
    workers += [threading.Thread(target=soak.small_gets, args=(hashlib.sha256(hot).hexdigest(),)) for _ in range(4)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join()
    stop.set()
    soak.files[hashlib.sha256(hot).hexdigest()] = hashlib.sha256(hot).hexdigest()
    code = daemon.stop()
    restarted = Daemon(work, *extra, port=daemon.port)
    try:
        verified = verify_after_restart(soak)
    finally:
        restarted.stop()
    fsck = ""
    if args.backend == "disk":
        run = subprocess.run([sys.executable, "-m", "filestoraged", "fsck", "--data-dir", restarted.data_dir],
                             capture_output=True, text=True, env=dict(os.environ, PYTHONPATH=os.getcwd()))
        fsck = "fsck exit %d: %s" % (run.returncode, run.stdout.strip().splitlines()[0] if run.stdout else run.stderr)
    if memcached is not None:
        memcached.kill()
        memcached.wait()
    shutil.rmtree(work, ignore_errors=True)
    print("soak: %s backend, %.0f s, daemon exit %d" % (args.backend, args.seconds, code))
    for name, count in sorted(soak.counts.items()):
        print("  %-40s %d" % (name, count))
    print("  after restart: " + ", ".join("%s %d" % item for item in sorted(verified.items())))
    if fsck:
        print("  " + fsck)
    print("  " + memory_verdict(samples))
    print("  t(s)   RSS MiB  threads  fds   (parent and workers together)")
    for at, rss, threads, fds in samples[:: max(1, len(samples) // 12)] + samples[-1:]:
        print("  %5.0f  %7d  %7d  %4d" % (at, rss, threads, fds))
    return 0


if __name__ == "__main__":
    sys.exit(main())
