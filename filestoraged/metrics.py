"""Counters for ``/metrics``, rendered in the Prometheus text format 0.0.4.

Kept in plain dicts under one lock: a request adds a handful of increments,
far cheaper than the request itself. Names are prefixed ``filestoraged_``.
"""

from __future__ import annotations

import os
import platform
import threading
import time
from bisect import bisect_left
from collections import defaultdict
from typing import Callable, Dict, List, Optional, Sequence, Tuple

# Upper bounds of the latency histogram, in seconds.
BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)


class Metrics:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._requests: Dict[Tuple[str, str, int], int] = defaultdict(int)
        self._s3: Dict[Tuple[str, int], int] = defaultdict(int)  # (S3 operation, status) -> count
        self._bytes = {"in": 0, "out": 0}
        # (face, method) -> [bucket counts..., sum, count]
        self._durations: Dict[Tuple[str, str], List[float]] = {}
        self._backend_errors = 0
        self._integrity_failures = 0
        self._refused = 0
        self._dropped: Dict[str, int] = defaultdict(int)
        self._open_connections = 0
        self.usage: Optional[Callable[[], Optional[tuple]]] = None
        # Each bucket's stored bytes and quota (None: none), where the backend keeps them.
        self.bucket_usage: Optional[Callable[[], List[Tuple[str, int, Optional[int]]]]] = None
        # Each bucket owner's stored bytes (all their buckets') and quota (None: none), likewise.
        self.owner_usage: Optional[Callable[[], List[Tuple[str, int, Optional[int]]]]] = None
        # How many changes wait in the outbox to be sent (replication), where there is one.
        self.replication_backlog: Optional[Callable[[], int]] = None
        self.events = 0  # changes so far: whether a snapshot is worth writing again

    def request(self, face: str, method: str, status: int, bytes_in: int, bytes_out: int, seconds: float) -> None:
        with self._lock:
            method = method if method in _METHODS else "other"  # the label set stays bounded
            self._requests[(face, method, status)] += 1
            self.events += 1
            self._bytes["in"] += bytes_in
            self._bytes["out"] += bytes_out
            series = self._durations.get((face, method))
            if series is None:
                series = self._durations[(face, method)] = [0.0] * (len(BUCKETS) + 2)
            index = bisect_left(BUCKETS, seconds)
            if index < len(BUCKETS):
                series[index] += 1
            series[-2] += seconds
            series[-1] += 1
            if status in (503,):
                self._backend_errors += 1

    def s3_request(self, operation: str, status: int) -> None:
        """An S3 API request, by the operation it was taken for (a name from
        the S3 API's own table: the label set stays bounded)."""
        with self._lock:
            self._s3[(operation, status)] += 1
            self.events += 1

    def integrity_failure(self) -> None:
        with self._lock:
            self._integrity_failures += 1
            self.events += 1

    def dropped(self, reason: str) -> None:
        """A request dropped without an answer, or answered for the client's
        fault in sending it: ``incomplete_head``, ``slow_head``, ``slow_body``,
        ``client_gone``."""
        with self._lock:
            self._dropped[reason] += 1
            self.events += 1

    def refused_connection(self) -> None:
        with self._lock:
            self._refused += 1
            self.events += 1

    def connections(self, count: int) -> None:
        self._open_connections = count

    def snapshot(self) -> dict:
        """Everything counted so far, as JSON-able data (what a worker writes
        for the others to sum), with this process's own gauges."""
        with self._lock:
            return {
                "pid": os.getpid(),
                "requests": [[face, method, status, count] for (face, method, status), count in self._requests.items()],
                "s3": [[operation, status, count] for (operation, status), count in self._s3.items()],
                "bytes": dict(self._bytes),
                "durations": [[face, method, list(series)] for (face, method), series in self._durations.items()],
                "counters": {"backend_errors": self._backend_errors, "integrity_failures": self._integrity_failures,
                             "refused": self._refused},
                "dropped": dict(self._dropped),
                "gauges": dict(_process_gauges(), connections=self._open_connections),
                "started": _STARTED,
            }

    def render(self, others: Sequence[Tuple[dict, bool]] = ()) -> str:
        """The exposition text: ``# HELP``/``# TYPE`` lines, then samples.
        ``others``: the snapshots of the other workers, each with whether it
        still runs (a dead worker's counters still count; its gauges do not)."""
        total = _combine([(self.snapshot(), True)] + list(others))
        out: List[str] = []
        _family(out, "requests_total", "counter", "HTTP requests by face, method and status.")
        for (face, method, status), count in sorted(total["requests"].items()):
            out.append('filestoraged_requests_total{face="%s",method="%s",status="%d"} %d'
                       % (face, method, status, count))
        if total["s3"]:
            _family(out, "s3_requests_total", "counter", "S3 API requests by operation and status.")
            for (operation, status), count in sorted(total["s3"].items()):
                out.append('filestoraged_s3_requests_total{operation="%s",status="%d"} %d' % (operation, status, count))
        _family(out, "bytes_received_total", "counter", "Request body bytes read.")
        out.append("filestoraged_bytes_received_total %d" % total["bytes"]["in"])
        _family(out, "bytes_sent_total", "counter", "Response body bytes written.")
        out.append("filestoraged_bytes_sent_total %d" % total["bytes"]["out"])
        _family(out, "request_duration_seconds", "histogram",
                "Time from request line to last byte, by face and method.")
        for (face, method), series in sorted(total["durations"].items()):
            labels = 'face="%s",method="%s"' % (face, method)
            cumulative = 0
            for bound, count in zip(BUCKETS, series):
                cumulative += int(count)
                out.append('filestoraged_request_duration_seconds_bucket{%s,le="%s"} %d' % (labels, bound, cumulative))
            out.append('filestoraged_request_duration_seconds_bucket{%s,le="+Inf"} %d' % (labels, series[-1]))
            out.append("filestoraged_request_duration_seconds_sum{%s} %.6f" % (labels, series[-2]))
            out.append("filestoraged_request_duration_seconds_count{%s} %d" % (labels, series[-1]))
        counters, gauges = total["counters"], total["gauges"]
        for name, kind, text, value in (
            ("backend_errors_total", "counter", "Requests answered 503 because the backend failed.",
             counters["backend_errors"]),
            ("integrity_failures_total", "counter", "Objects found corrupt while being served.",
             counters["integrity_failures"]),
            ("connections_refused_total", "counter",
             "Connections refused with 503 on arrival (no slot, the client's cap, no descriptor or thread).",
             counters["refused"]),
            ("connections_open", "gauge", "Client connections being served.", gauges["connections"]),
            ("workers", "gauge", "Worker processes serving.", total["workers"]),
        ):
            _family(out, name, kind, text)
            out.append("filestoraged_%s %d" % (name, value))
        _family(out, "requests_dropped_total", "counter",
                "Requests the client cut off or sent too slowly, by reason.")
        for reason, count in sorted(total["dropped"].items()):
            out.append('filestoraged_requests_dropped_total{reason="%s"} %d' % (reason, count))
        usage = self.usage() if self.usage else None
        if usage is not None:
            for name, text, value in (("objects_stored", "Objects in the store, all namespaces.", usage[0]),
                                      ("bytes_stored", "Bytes of objects in the store, all namespaces.", usage[1])):
                _family(out, name, "gauge", text)
                out.append("filestoraged_%s %d" % (name, value))
        buckets = self.bucket_usage() if self.bucket_usage else None
        if buckets is not None:
            _family(out, "bucket_bytes_stored", "gauge", "Bytes a bucket stores, every version and unfinished "
                    "multipart upload counted (docs/quotas.md).")
            out.extend('filestoraged_bucket_bytes_stored{bucket="%s"} %d' % (name, stored)
                       for name, stored, _ in buckets)
            _family(out, "bucket_quota_bytes", "gauge", "A bucket's quota, where it has one.")
            out.extend('filestoraged_bucket_quota_bytes{bucket="%s"} %d' % (name, quota)
                       for name, _, quota in buckets if quota is not None)
        if self.replication_backlog is not None:
            _family(out, "replication_backlog", "gauge", "Changes committed and not yet sent to their bucket's "
                    "replication target (docs/replication.md).")
            out.append("filestoraged_replication_backlog %d" % self.replication_backlog())
        owners = self.owner_usage() if self.owner_usage else None
        if owners:
            _family(out, "owner_bytes_stored", "gauge", "Bytes the buckets of one owner (a user or a token) store "
                    "together (docs/quotas.md).")
            out.extend('filestoraged_owner_bytes_stored{owner="%s"} %d' % (name, stored) for name, stored, _ in owners)
            _family(out, "owner_quota_bytes", "gauge", "An owner's quota over all their buckets, where they have one.")
            out.extend('filestoraged_owner_quota_bytes{owner="%s"} %d' % (name, quota)
                       for name, _, quota in owners if quota is not None)
        _process(out, gauges, total["started"])
        return "\n".join(out) + "\n"


def _combine(snapshots: Sequence[Tuple[dict, bool]]) -> dict:
    """The sum of several workers' snapshots (gauges only of those running)."""
    requests: Dict[Tuple[str, str, int], int] = defaultdict(int)
    s3: Dict[Tuple[str, int], int] = defaultdict(int)
    durations: Dict[Tuple[str, str], List[float]] = {}
    dropped: Dict[str, int] = defaultdict(int)
    sums: Dict[str, Dict[str, float]] = {"bytes": defaultdict(int), "counters": defaultdict(int),
                                          "gauges": defaultdict(int)}
    workers, started = 0, time.time()
    for snapshot, running in snapshots:
        for face, method, status, count in snapshot["requests"]:
            requests[(face, method, status)] += count
        for operation, status, count in snapshot.get("s3", ()):
            s3[(operation, status)] += count
        for face, method, series in snapshot["durations"]:
            into = durations.setdefault((face, method), [0.0] * len(series))
            for index, value in enumerate(series):
                into[index] += value
        for reason, count in snapshot["dropped"].items():
            dropped[reason] += count
        for part in ("bytes", "counters") + (("gauges",) if running else ()):
            for name, value in snapshot[part].items():
                sums[part][name] += value
        if running:
            workers += 1
            started = min(started, snapshot["started"])
    return dict(sums, requests=requests, s3=s3, durations=durations, dropped=dropped, workers=workers,
                started=started)


def _family(out: List[str], name: str, kind: str, text: str) -> None:
    out.append("# HELP filestoraged_%s %s" % (name, text))
    out.append("# TYPE filestoraged_%s %s" % (name, kind))


_METHODS = frozenset(("GET", "HEAD", "POST", "PUT", "DELETE", "OPTIONS", "PATCH"))
_STARTED = time.time()
_PAGE = os.sysconf("SC_PAGE_SIZE")


def _process_gauges() -> Dict[str, float]:
    """This process's CPU seconds, resident memory, open descriptors (Linux /proc)."""
    times = os.times()
    gauges = {"cpu": times.user + times.system}
    try:
        with open("/proc/self/statm") as statm:
            gauges["resident"] = int(statm.read().split()[1]) * _PAGE
        gauges["fds"] = len(os.listdir("/proc/self/fd"))
    except OSError:
        pass  # not Linux: the rest still renders
    return gauges


def _process(out: List[str], gauges: Dict[str, float], started: float) -> None:
    """Build information and the usual ``process_*`` samples, for all the
    running workers together (CPU, memory and descriptors summed)."""
    from . import __version__

    _family(out, "build_info", "gauge", "Always 1; the labels say what runs.")
    out.append('filestoraged_build_info{version="%s",python="%s"} 1' % (__version__, platform.python_version()))
    lines = [("process_cpu_seconds_total", "counter", "User and system CPU time.", "%.2f" % gauges["cpu"]),
             ("process_start_time_seconds", "gauge", "Start time, seconds since the epoch.", "%.0f" % started)]
    if "resident" in gauges:
        lines.append(("process_resident_memory_bytes", "gauge", "Resident memory.", "%d" % gauges["resident"]))
        lines.append(("process_open_fds", "gauge", "Open file descriptors.", "%d" % gauges["fds"]))
    for name, kind, text, value in lines:
        out.append("# HELP %s %s" % (name, text))
        out.append("# TYPE %s %s" % (name, kind))
        out.append("%s %s" % (name, value))
