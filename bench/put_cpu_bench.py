"""The CPU a small S3 write costs against a small ``/data`` write: 4 KiB
PUTs, one client on one keep-alive connection each, signed as S3 clients
sign (SigV4 over the body's SHA-256) and with a bearer token, the daemon's
CPU time (user + system, ``/proc/PID/stat``) per run of ``PUTS``, the two
taking turns; the medians' ratio.

Settings changed from the daemon as shipped, so that one process's CPU is
all of the daemon's and the client's never mixes in: ``--workers 1``, the
daemon kept on the first CPU the bench may use and the bench (the client)
on the second; ``--s3-api``, ``--auth all`` (every signature checked). A
machine of one CPU cannot keep the two apart: the row says so and is not
measured."""

from __future__ import annotations

import hashlib
import http.client
import os
import statistics
from typing import Callable, List, Tuple

from filestoraged.wire import sigv4

from .common import Daemon, free_port
from .s3api_bench import _key_pair

PUTS = 2000
SIZE = 4096
NAME = "S3 4 KiB PUT CPU vs /data 4 KiB PUT CPU, ticks per %d (--workers 1 on CPU %d, client on CPU %d, " \
       "--s3-api, --auth all)"


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
        report.add(NAME % (PUTS, cpus[0], cpus[1]), "%d" % ours, "%d" % reference, ours / reference, "<= 1.3x",
                   ours / reference <= 1.3)
    finally:
        os.sched_setaffinity(0, set(cpus))
        daemon.stop()


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
    def __init__(self, port: int, key: str, secret: str) -> None:
        self.host = "127.0.0.1:%d" % port
        self.signer = sigv4.Signer(key, secret, "us-east-1")
        self.connection = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
        self.send("PUT", "/cpu", b"")

    def send(self, method: str, path: str, body: bytes) -> None:
        headers = self.signer.sign(method, self.host, path, {}, {"Content-Length": str(len(body))},
                                   hashlib.sha256(body).hexdigest())
        self.connection.request(method, path, body, headers)
        answer = self.connection.getresponse()
        answer.read()
        if answer.status != 200:
            raise SystemExit("bench: an S3 PUT answered %d" % answer.status)

    def run(self, number: int) -> None:
        for index in range(PUTS):
            self.send("PUT", "/cpu/r%d-%06d" % (number, index), os.urandom(SIZE))


class _DataPuts:
    def __init__(self, url: str, token: str) -> None:
        self.connection = http.client.HTTPConnection(url.split("//", 1)[1], timeout=60)
        self.headers = {"Authorization": "Bearer " + token}

    def run(self) -> None:
        for _ in range(PUTS):
            self.connection.request("PUT", "/data/cpu", os.urandom(SIZE), self.headers)
            answer = self.connection.getresponse()
            answer.read()
            if answer.status not in (200, 201):
                raise SystemExit("bench: a /data PUT answered %d" % answer.status)
