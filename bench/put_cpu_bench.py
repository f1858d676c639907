"""The CPU a small S3 write costs: against a small ``/data`` write (4 KiB
PUTs, one client on one keep-alive connection each, signed as S3 clients
sign (SigV4 over the body's SHA-256) and with a bearer token, the daemon's
CPU time (user + system, ``/proc/PID/stat``) per run of ``PUTS``, the two
taking turns; the medians' ratio), the same as instructions counted by
callgrind (``run_instructions``: a figure that does not move with the
machine), and against SeaweedFS's S3 gateway under load (16 clients at
once: PUTs per second of server CPU, and the 99th percentile of their
latency).

Settings changed from the daemon as shipped, so that one process's CPU is
all of the daemon's and the client's never mixes in: ``--workers 1``, the
daemon kept on the first CPU the bench may use and the bench (the client)
on the second; ``--s3-api``, ``--auth all`` (every signature checked). A
machine of one CPU cannot keep the two apart: the row says so and is not
measured. The load row runs both servers as shipped (ours with
``--s3-api`` and ``--auth all``, SeaweedFS's ``weed mini`` with one
identity, into a bucket it fsyncs, the reference, and into one it does
not), the clients as threads of the bench on the same CPUs: its
latencies count the clients' own waits for a CPU, the same for both."""

from __future__ import annotations

import glob
import hashlib
import http.client
import os
import re
import statistics
import subprocess
import threading
import time
from typing import Callable, Dict, List, Optional, Tuple

from filestoraged.wire import sigv4

from .common import Daemon, ensure_tools, free_port
from .s3api_bench import _key_pair
from .seaweed import KEY, SECRET, Seaweed

PUTS = 2000
INSTRUCTION_PUTS = 200  # a run under callgrind, which runs the daemon about fifty times slower
SIZE = 4096
CLIENTS = 16  # at once, in the load row
LOAD_PUTS = 150  # by each client, a run
NAME = "S3 4 KiB PUT CPU vs /data 4 KiB PUT CPU, ticks per %d (--workers 1 on CPU %d, client on CPU %d, " \
       "--s3-api, --auth all)"
INSTRUCTIONS_NAME = "S3 4 KiB PUT%s vs /data 4 KiB PUT, instructions per PUT in user space (callgrind, " \
                    "--workers 1, --s3-api, --auth all)"
# The S3 writes the instruction row measures: (what the row says, bucket, each key written once before).
INSTRUCTION_WRITES = (("", "/cpu", False), (" over an existing key", "/cpu", True),
                      (" of a new version of an existing key (versioned bucket)", "/cpuv", True))
# Decision: the CPU and instruction rows are stated, not judged. Their old
# goals (an S3 PUT at most 1.3x a /data PUT) were given up for what users
# see, writes per CPU-second against the peer they would pick (the load
# row here, and ``s5cmd_bench``): docs/benchmarks.md, "Small S3 writes".
STATED = "(stated)"


def run(work: str, runs: int, report) -> None:
    cpus = sorted(os.sched_getaffinity(0))
    if len(cpus) < 2:
        print("bench: the S3 PUT CPU row needs two CPUs (the daemon on one, the client on another); skipped")
        return
    s3_port = free_port()
    daemon = Daemon(os.path.join(work, "put-cpu"), "--workers", "1", "--s3-api", "127.0.0.1:%d" % s3_port,
                    "--auth", "all")
    try:
        pid = daemon.processes()[0]
        os.sched_setaffinity(pid, {cpus[0]})
        os.sched_setaffinity(0, {cpus[1]})
        token, key, secret = _key_pair(daemon)
        s3 = _S3Puts(s3_port, key, secret)
        data = _DataPuts(daemon.url, token)
        ticks: Tuple[List[int], List[int]] = ([], [])
        for number in range(runs):
            ticks[0].append(_ticks(pid, lambda number=number: s3.run(number)))
            ticks[1].append(_ticks(pid, data.run))
        ours, reference = statistics.median(ticks[0]), statistics.median(ticks[1])
        report.add(NAME % (PUTS, cpus[0], cpus[1]), "%d" % ours, "%d" % reference, ours / reference, STATED, True)
    finally:
        os.sched_setaffinity(0, set(cpus))
        daemon.stop()


def run_instructions(work: str, runs: int, report) -> None:
    """The CPU row again as instructions: the daemon (``--workers 1``,
    ``--s3-api``, ``--auth all``) under callgrind, the instructions it ran
    in user space per S3 PUT and per ``/data`` PUT (``INSTRUCTION_PUTS`` of
    each a run, after one run of each unmeasured), taking turns; S3 PUTs of
    new keys, over existing keys, and of new versions of existing keys in
    a versioned bucket (``INSTRUCTION_WRITES``: the keys a run writes over
    are written once before it, unmeasured).
    The same count for the same code and input, whatever else the machine
    does: a change of a per cent shows, where the ticks move by five from
    run to run. The kernel's part (system calls, the copy of the body) is
    not in it."""
    ensure_tools("valgrind")
    folder = os.path.join(work, "put-instructions")
    os.makedirs(folder, exist_ok=True)
    out = os.path.join(folder, "callgrind.%p")
    s3_port = free_port()
    daemon = Daemon(os.path.join(folder, "daemon"), "--workers", "1", "--s3-api", "127.0.0.1:%d" % s3_port,
                    "--auth", "all",
                    launcher=["valgrind", "--tool=callgrind", "--callgrind-out-file=" + out, "--dump-instr=no"])
    try:
        pid = daemon.processes()[0]
        token, key, secret = _key_pair(daemon)
        writes = [_S3Puts(s3_port, key, secret, INSTRUCTION_PUTS, bucket, versioned=bucket == "/cpuv")
                  for _, bucket, _ in INSTRUCTION_WRITES]
        data = _DataPuts(daemon.url, token, INSTRUCTION_PUTS)
        writes[0].run("first")
        data.run()
        s3_counts: List[List[float]] = [[] for _ in INSTRUCTION_WRITES]
        data_counts: List[float] = []
        for number in range(runs):
            for (_, _, over), s3, counts in zip(INSTRUCTION_WRITES, writes, s3_counts):
                name = "%s%d" % ("o" if over else "n", number)
                if over:
                    s3.run(name)
                counts.append(_instructions(pid, folder, lambda s3=s3, name=name: s3.run(name)) / INSTRUCTION_PUTS)
            data_counts.append(_instructions(pid, folder, data.run) / INSTRUCTION_PUTS)
        reference = statistics.median(data_counts)
        for (what, _, _), counts in zip(INSTRUCTION_WRITES, s3_counts):
            ours = statistics.median(counts)
            report.add(INSTRUCTIONS_NAME % what, f"{ours:,.0f}", f"{reference:,.0f}", ours / reference, STATED, True)
    finally:
        daemon.stop()


def _instructions(pid: int, folder: str, action: Callable[[], None]) -> int:
    """The instructions process ``pid`` (under callgrind, its dumps in
    ``folder``) ran while ``action`` ran: counts zeroed, ``action``, then
    a dump, read once it is written."""
    subprocess.run(["callgrind_control", "--zero", str(pid)], check=True, capture_output=True)
    action()
    dumps = set(glob.glob(os.path.join(folder, "callgrind.%d.*" % pid)))
    subprocess.run(["callgrind_control", "--dump", str(pid)], check=True, capture_output=True)
    deadline = time.monotonic() + 60
    while True:
        new = set(glob.glob(os.path.join(folder, "callgrind.%d.*" % pid))) - dumps
        if new:
            with open(new.pop()) as dump:
                found = re.search(r"^(?:summary|totals): (\d+)", dump.read(), re.M)
            if found:  # the dump is whole once its summary is written
                return int(found.group(1))
        if time.monotonic() > deadline:
            raise SystemExit("bench: callgrind wrote no dump of the daemon within 60 s")
        time.sleep(0.05)


def _ticks(pid: int, action: Callable[[], None]) -> int:
    """The clock ticks of CPU (user and system) process ``pid`` spent while ``action`` ran."""
    before = _cpu(pid)
    action()
    return _cpu(pid) - before


def _cpu(pid: int) -> int:
    with open("/proc/%d/stat" % pid) as stat:
        fields = stat.read().rsplit(")", 1)[1].split()
    return int(fields[11]) + int(fields[12])  # utime, stime (fields 14 and 15 of proc(5))


class _S3Puts:
    def __init__(self, port: int, key: str, secret: str, puts: int = PUTS, bucket: str = "/cpu",
                 versioned: bool = False) -> None:
        self.host = "127.0.0.1:%d" % port
        self.signer = sigv4.Signer(key, secret, "us-east-1")
        self.connection = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
        self.puts = puts
        self.bucket = bucket
        self.send("PUT", bucket, b"")
        if versioned:
            self.send("PUT", bucket, b'<VersioningConfiguration xmlns="http://s3.amazonaws.com/doc/2006-03-01/">'
                      b'<Status>Enabled</Status></VersioningConfiguration>', {"versioning": ""})

    def send(self, method: str, path: str, body: bytes, query: Optional[Dict[str, str]] = None) -> None:
        headers = self.signer.sign(method, self.host, path, query or {}, {"Content-Length": str(len(body))},
                                   hashlib.sha256(body).hexdigest())
        self.connection.request(method, path + ("?" + "&".join(query) if query else ""), body, headers)
        answer = self.connection.getresponse()
        answer.read()
        if answer.status != 200:
            raise SystemExit("bench: an S3 PUT answered %d" % answer.status)

    def run(self, number: object) -> None:
        """``puts`` keys named by ``number`` and their index written, on a
        connection of the run's own (the last may have idled past the
        daemon's keep-alive while other runs went)."""
        self.connection.close()
        for index in range(self.puts):
            self.send("PUT", "%s/r%s-%06d" % (self.bucket, number, index), os.urandom(SIZE))


class _DataPuts:
    def __init__(self, url: str, token: str, puts: int = PUTS) -> None:
        self.connection = http.client.HTTPConnection(url.split("//", 1)[1], timeout=60)
        self.headers = {"Authorization": "Bearer " + token}
        self.puts = puts

    def run(self) -> None:
        self.connection.close()  # a connection of the run's own, as ``_S3Puts.run``
        for _ in range(self.puts):
            self.connection.request("PUT", "/data/cpu", os.urandom(SIZE), self.headers)
            answer = self.connection.getresponse()
            answer.read()
            if answer.status not in (200, 201):
                raise SystemExit("bench: a /data PUT answered %d" % answer.status)


LOAD_NAME = "S3 4 KiB PUT at %d clients: PUTs per server CPU-second vs SeaweedFS's gateway%%s (as shipped, " \
            "--s3-api, --auth all)" % CLIENTS
P99_NAME = "S3 4 KiB PUT at %d clients: p99 ms vs SeaweedFS's gateway%%s" % CLIENTS
# SeaweedFS twice, as in ``s5cmd_bench``: into a bucket whose writes it
# fsyncs, as the daemon keeps what it answers (the goal's reference), and
# into one it does not (its default), stated beside it.
SYNCED, UNSYNCED = " fsync on", " fsync off"


def run_load(work: str, runs: int, report) -> None:
    """The load row: ours and SeaweedFS's (its fsync on, then off) taking
    turns, ``runs`` rounds, the medians."""
    s3_port = free_port()
    daemon = Daemon(os.path.join(work, "put-load"), "--s3-api", "127.0.0.1:%d" % s3_port, "--auth", "all")
    try:
        _, key, secret = _key_pair(daemon)
        with Seaweed(work, "load") as seaweed:
            seaweed.configure("fs.configure -locationPrefix=/buckets/synced/ -fsync=true -apply")
            seaweed.new_bucket("synced")
            weed = [seaweed.process.pid]
            theirs_host = seaweed.endpoint.split("//", 1)[1]
            sides = {"ours": (("127.0.0.1:%d" % s3_port, key, secret, "/cpu"), daemon.processes),
                     SYNCED: ((theirs_host, KEY, SECRET, "/synced"), lambda: weed),
                     UNSYNCED: ((theirs_host, KEY, SECRET, "/load"), lambda: weed)}
            _S3Puts(s3_port, key, secret)  # makes the bucket /cpu
            rates: Dict[str, List[float]] = {name: [] for name in sides}
            p99s: Dict[str, List[float]] = {name: [] for name in sides}
            for number in range(runs):
                for name in (list(sides) if number % 2 == 0 else list(reversed(sides))):
                    rate, p99 = _load(*sides[name], number)
                    rates[name].append(rate)
                    p99s[name].append(p99)
            ours, ours_p99 = statistics.median(rates["ours"]), statistics.median(p99s["ours"])
            for reference in (SYNCED, UNSYNCED):
                theirs, theirs_p99 = statistics.median(rates[reference]), statistics.median(p99s[reference])
                judged = reference == SYNCED
                report.add(LOAD_NAME % reference, "%d" % ours, "%d" % theirs, ours / theirs,
                           ">= 1.0x" if judged else "(SeaweedFS not syncing)", ours >= theirs or not judged)
                report.add(P99_NAME % reference, "%.1f" % ours_p99, "%.1f" % theirs_p99, ours_p99 / theirs_p99,
                           "<= 20 ms" if judged else "(stated)", ours_p99 <= 20 or not judged)
    finally:
        daemon.stop()


def _load(endpoint: Tuple[str, str, str, str], pids: Callable[[], List[int]], number: int) -> Tuple[float, float]:
    """``CLIENTS`` clients putting ``LOAD_PUTS`` 4 KiB objects each at once:
    PUTs per second of the server's CPU (its processes' user and system
    time), and the 99th percentile of the PUTs' latency in ms."""
    host, key, secret, bucket = endpoint
    latencies: List[float] = []
    failures: List[BaseException] = []
    start = threading.Barrier(CLIENTS + 1)

    def client(index: int) -> None:
        try:
            signer = sigv4.Signer(key, secret, "us-east-1")
            connection = http.client.HTTPConnection(host, timeout=60)
            bodies = [os.urandom(SIZE) for _ in range(LOAD_PUTS)]
            start.wait(60)
            for count, body in enumerate(bodies):
                path = "%s/l%d-%02d-%04d" % (bucket, number, index, count)
                headers = signer.sign("PUT", host, path, {}, {"Content-Length": str(len(body))},
                                      hashlib.sha256(body).hexdigest())
                began = time.perf_counter()
                connection.request("PUT", path, body, headers)
                answer = connection.getresponse()
                answer.read()
                latencies.append(time.perf_counter() - began)
                if answer.status != 200:
                    raise RuntimeError("an S3 PUT answered %d" % answer.status)
            connection.close()
        except BaseException as error:  # reported by the bench's thread
            failures.append(error)

    threads = [threading.Thread(target=client, args=(index,)) for index in range(CLIENTS)]
    for thread in threads:
        thread.start()
    start.wait(60)
    before = sum(_cpu(pid) for pid in pids())
    for thread in threads:
        thread.join(300)
    spent = sum(_cpu(pid) for pid in pids()) - before
    if failures or any(thread.is_alive() for thread in threads):
        raise SystemExit("bench: the load row failed: %s" % (failures[0] if failures else "a client hung"))
    latencies.sort()
    return len(latencies) / (spent / os.sysconf("SC_CLK_TCK")), latencies[int(len(latencies) * 0.99)] * 1000
