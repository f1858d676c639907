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
from typing import Callable, Dict, List, Optional, Tuple

# Upper bounds of the latency histogram, in seconds.
BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)


class Metrics:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._requests: Dict[Tuple[str, str, int], int] = defaultdict(int)
        self._bytes = {"in": 0, "out": 0}
        # (face, method) -> [bucket counts..., sum, count]
        self._durations: Dict[Tuple[str, str], List[float]] = {}
        self._backend_errors = 0
        self._integrity_failures = 0
        self._refused = 0
        self._dropped: Dict[str, int] = defaultdict(int)
        self._open_connections = 0
        self.usage: Optional[Callable[[], Optional[tuple]]] = None

    def request(self, face: str, method: str, status: int, bytes_in: int, bytes_out: int, seconds: float) -> None:
        with self._lock:
            method = method if method in _METHODS else "other"  # the label set stays bounded
            self._requests[(face, method, status)] += 1
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

    def integrity_failure(self) -> None:
        with self._lock:
            self._integrity_failures += 1

    def dropped(self, reason: str) -> None:
        """A request dropped without an answer, or answered for the client's
        fault in sending it: ``incomplete_head``, ``slow_head``, ``slow_body``,
        ``client_gone``."""
        with self._lock:
            self._dropped[reason] += 1

    def refused_connection(self) -> None:
        with self._lock:
            self._refused += 1

    def connections(self, count: int) -> None:
        self._open_connections = count

    def render(self) -> str:
        """The exposition text: ``# HELP``/``# TYPE`` lines, then samples."""
        with self._lock:
            requests = sorted(self._requests.items())
            out: List[str] = []
            _family(out, "requests_total", "counter", "HTTP requests by face, method and status.")
            for (face, method, status), count in requests:
                out.append('filestoraged_requests_total{face="%s",method="%s",status="%d"} %d'
                           % (face, method, status, count))
            _family(out, "bytes_received_total", "counter", "Request body bytes read.")
            out.append("filestoraged_bytes_received_total %d" % self._bytes["in"])
            _family(out, "bytes_sent_total", "counter", "Response body bytes written.")
            out.append("filestoraged_bytes_sent_total %d" % self._bytes["out"])
            _family(out, "request_duration_seconds", "histogram",
                    "Time from request line to last byte, by face and method.")
            for (face, method), series in sorted(self._durations.items()):
                labels = 'face="%s",method="%s"' % (face, method)
                cumulative = 0
                for bound, count in zip(BUCKETS, series):
                    cumulative += int(count)
                    out.append('filestoraged_request_duration_seconds_bucket{%s,le="%s"} %d'
                               % (labels, bound, cumulative))
                out.append('filestoraged_request_duration_seconds_bucket{%s,le="+Inf"} %d' % (labels, series[-1]))
                out.append("filestoraged_request_duration_seconds_sum{%s} %.6f" % (labels, series[-2]))
                out.append("filestoraged_request_duration_seconds_count{%s} %d" % (labels, series[-1]))
            for name, kind, text, value in (
                ("backend_errors_total", "counter", "Requests answered 503 because the backend failed.",
                 self._backend_errors),
                ("integrity_failures_total", "counter", "Objects found corrupt while being served.",
                 self._integrity_failures),
                ("connections_refused_total", "counter", "Connections refused at --max-connections.", self._refused),
                ("connections_open", "gauge", "Client connections being served.", self._open_connections),
            ):
                _family(out, name, kind, text)
                out.append("filestoraged_%s %d" % (name, value))
            _family(out, "requests_dropped_total", "counter",
                    "Requests the client cut off or sent too slowly, by reason.")
            for reason, count in sorted(self._dropped.items()):
                out.append('filestoraged_requests_dropped_total{reason="%s"} %d' % (reason, count))
        usage = self.usage() if self.usage else None
        if usage is not None:
            for name, text, value in (("objects_stored", "Objects in the store, all namespaces.", usage[0]),
                                      ("bytes_stored", "Bytes of objects in the store, all namespaces.", usage[1])):
                _family(out, name, "gauge", text)
                out.append("filestoraged_%s %d" % (name, value))
        _process(out)
        return "\n".join(out) + "\n"


def _family(out: List[str], name: str, kind: str, text: str) -> None:
    out.append("# HELP filestoraged_%s %s" % (name, text))
    out.append("# TYPE filestoraged_%s %s" % (name, kind))


_METHODS = frozenset(("GET", "HEAD", "POST", "PUT", "DELETE", "OPTIONS", "PATCH"))
_STARTED = time.time()
_PAGE = os.sysconf("SC_PAGE_SIZE")


def _process(out: List[str]) -> None:
    """Build information and the usual ``process_*`` gauges (Linux /proc)."""
    from . import __version__

    _family(out, "build_info", "gauge", "Always 1; the labels say what runs.")
    out.append('filestoraged_build_info{version="%s",python="%s"} 1' % (__version__, platform.python_version()))
    times = os.times()
    cpu = "%.2f" % (times.user + times.system)
    lines = [("process_cpu_seconds_total", "counter", "User and system CPU time.", cpu),
             ("process_start_time_seconds", "gauge", "Start time, seconds since the epoch.", "%.0f" % _STARTED)]
    try:
        with open("/proc/self/statm") as statm:
            resident = int(statm.read().split()[1]) * _PAGE
        lines.append(("process_resident_memory_bytes", "gauge", "Resident memory.", str(resident)))
        lines.append(("process_open_fds", "gauge", "Open file descriptors.", str(len(os.listdir("/proc/self/fd")))))
    except OSError:
        pass  # not Linux: the rest still renders
    for name, kind, text, value in lines:
        out.append("# HELP %s %s" % (name, text))
        out.append("# TYPE %s %s" % (name, kind))
        out.append("%s %s" % (name, value))
