"""What a small S3 GET costs against a ``/data`` GET of the same object:
1 KiB, written once through the S3 API, read by ``wrk`` (64 keep-alive
connections) through ``GET /BUCKET/KEY`` on the S3 port and through
``GET /data/BUCKET/<sha256>`` on the main port, in turns; each side's
figure is requests answered per CPU-second of the daemon's processes
(user and system, ``/proc``), so that the machine's other load and wrk's
own CPU count for neither.

The daemon runs as shipped but for ``--s3-api`` (off by default): on
loopback its access control is off, so both GETs are unsigned, as wrk
sends them. A second pair runs with ``--auth all`` besides: the S3 GET
signed by a token's key (one signed request, sent again and again: its
signature holds for the 15 minutes S3 allows), the ``/data`` GET with
the token as a bearer; and, in the same turns, the same signed GET of the
same object from SeaweedFS's S3 gateway (``weed mini``), counted by its
process's CPU as the daemon is by its own."""

from __future__ import annotations

import hashlib
import http.client
import os
import re
import subprocess
import statistics
from typing import Dict, List, Optional, Tuple

from filestoraged.wire import sigv4

from .common import Daemon, ensure_tools, free_port, session_cpu
from .s3api_bench import _key_pair
from .seaweed import KEY, REGION, SECRET, Seaweed

SIZE = 1024
SECONDS = 5
SETTINGS = "--s3-api"


def _served(url: str, leader: int, headers: Optional[Dict[str, str]] = None) -> Tuple[float, float]:
    """``(requests per daemon CPU-second, requests per second)`` of wrk's GETs of ``url``."""
    sent = [word for name, value in (headers or {}).items() for word in ("-H", "%s: %s" % (name, value))]
    subprocess.run(["wrk", "-t2", "-c64", "-d2s", *sent, url], check=True, capture_output=True)  # warm-up
    before = session_cpu(leader)
    out = subprocess.run(["wrk", "-t2", "-c64", "-d%ds" % SECONDS, *sent, url], check=True, capture_output=True,
                         text=True).stdout
    spent = session_cpu(leader) - before
    requests = int(re.search(r"(\d+) requests in", out).group(1))
    if re.search(r"Non-2xx or 3xx responses: (\d+)", out):
        raise SystemExit("bench: GET %s answered other than 200" % url)
    return requests / spent, requests / SECONDS


def run(work: str, runs: int, report) -> None:
    ensure_tools("wrk", "curl")
    s3_port = free_port()
    daemon = Daemon(os.path.join(work, "s3-get"), "--s3-api", "127.0.0.1:%d" % s3_port)
    try:
        body = os.urandom(SIZE)
        path = os.path.join(work, "one-kib")
        with open(path, "wb") as handle:
            handle.write(body)
        s3 = "http://127.0.0.1:%d" % s3_port
        for args in (["-X", "PUT", s3 + "/bench"], ["-T", path, s3 + "/bench/k"]):
            subprocess.run(["curl", "-sS", "--fail", "-o", "/dev/null", *args], check=True)
        data = "%s/data/bench/%s" % (daemon.url, hashlib.sha256(body).hexdigest())
        s3_rates: List[float] = []
        data_rates: List[float] = []
        per_second: List[Tuple[float, float]] = []
        for _ in range(runs):  # in turns, so that a slow moment of the machine falls on both
            s3_rate, s3_second = _served(s3 + "/bench/k", daemon.process.pid)
            data_rate, data_second = _served(data, daemon.process.pid)
            s3_rates.append(s3_rate)
            data_rates.append(data_rate)
            per_second.append((s3_second, data_second))
        ours, reference = statistics.median(s3_rates), statistics.median(data_rates)
        report.add("1 KiB S3 GET vs /data GET of the object, requests per daemon CPU-second (%s)" % SETTINGS,
                   "%.0f" % ours, "%.0f" % reference, ours / reference, ">= 0.67x", ours / reference >= 0.67)
        seconds = [pair[0] for pair in per_second], [pair[1] for pair in per_second]
        report.add("  the same, requests per second (wrk on the same CPUs)", "%.0f" % statistics.median(seconds[0]),
                   "%.0f" % statistics.median(seconds[1]), statistics.median(seconds[0]) /
                   statistics.median(seconds[1]), "(seen)", True)
    finally:
        daemon.stop()
    _signed(work, runs, report)


def _signed(work: str, runs: int, report) -> None:
    """The pair under ``--auth all``: a signed S3 GET against a ``/data``
    GET with a bearer token, of the same object."""
    s3_port = free_port()
    daemon = Daemon(os.path.join(work, "s3-get-signed"), "--s3-api", "127.0.0.1:%d" % s3_port, "--auth", "all")
    try:
        token, key, secret = _key_pair(daemon)
        host = "127.0.0.1:%d" % s3_port
        signer = sigv4.Signer(key, secret, "us-east-1")
        body = os.urandom(SIZE)
        for path, sent in (("/bench", b""), ("/bench/k", body)):
            _signed_put(signer, host, path, sent)
        signed = _signed_get(signer, host, "/bench/k")
        data = "%s/data/bench/%s" % (daemon.url, hashlib.sha256(body).hexdigest())
        s3_rates: List[float] = []
        data_rates: List[float] = []
        weed_rates: List[float] = []
        with Seaweed(work) as weed:
            weed_url, weed_signed = _seaweed_object(weed, body)
            for _ in range(runs):  # the three in turns
                s3_rates.append(_served("http://%s/bench/k" % host, daemon.process.pid, signed)[0])
                data_rates.append(_served(data, daemon.process.pid, {"Authorization": "Bearer " + token})[0])
                weed_rates.append(_served(weed_url, weed.process.pid, weed_signed)[0])
        ours, reference = statistics.median(s3_rates), statistics.median(data_rates)
        report.add("1 KiB signed S3 GET vs /data GET with a token, requests per daemon CPU-second (--s3-api, "
                   "--auth all)", "%.0f" % ours, "%.0f" % reference, ours / reference, ">= 0.67x",
                   ours / reference >= 0.67)
        theirs = statistics.median(weed_rates)
        report.add("1 KiB signed S3 GET vs SeaweedFS's S3 GET of the same object, requests per server "
                   "CPU-second (--s3-api, --auth all)", "%.0f" % ours, "%.0f" % theirs, ours / theirs, ">= 1.5x",
                   ours / theirs >= 1.5)
    finally:
        daemon.stop()


def _seaweed_object(weed: Seaweed, body: bytes) -> Tuple[str, Dict[str, str]]:
    """The 1 KiB object put into SeaweedFS's bucket: its URL and the headers
    of one signed GET of it (sent again and again, as ours is)."""
    host = weed.endpoint.split("//", 1)[1]
    signer = sigv4.Signer(KEY, SECRET, REGION)
    path = "/%s/k" % weed.bucket
    _signed_put(signer, host, path, body)
    return weed.endpoint + path, _signed_get(signer, host, path)


def _signed_put(signer: sigv4.Signer, host: str, path: str, body: bytes) -> None:
    """One signed PUT; the bench stops unless it is answered 200."""
    headers = signer.sign("PUT", host, path, {}, {"Content-Length": str(len(body))}, hashlib.sha256(body).hexdigest())
    connection = http.client.HTTPConnection(host, timeout=30)
    try:
        connection.request("PUT", path, body, headers)
        answer = connection.getresponse()
        answer.read()
    finally:
        connection.close()
    if answer.status != 200:
        raise SystemExit("bench: the S3 PUT of %s to %s answered %d" % (path, host, answer.status))


def _signed_get(signer: sigv4.Signer, host: str, path: str) -> Dict[str, str]:
    """The headers of one signed GET of ``path``, but Host (wrk sends its own, the same)."""
    return {name: value for name, value in signer.sign("GET", host, path, {}, {}, hashlib.sha256(b"").hexdigest()
                                                       ).items() if name.lower() != "host"}
