"""Benchmarks, run by hand: ``python bench/run.py [--runs N] [--only disk|memcached]``.

Each figure is measured pair by pair in one run against a reference started
by this script on loopback — nginx with WebDAV for the disk daemon, raw
pymemcache calls for the memcached backend — and printed as a ratio, so the
machine's speed cancels out. Needs curl; nginx, wrk and memcached when
installed (their rows are skipped otherwise).
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from typing import List, Optional, Tuple

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)
MIB = 1024 * 1024
BIG = 50 * MIB

NGINX_CONF = """
worker_processes auto;
pid {work}/nginx.pid;
error_log {work}/nginx-error.log;
events {{ worker_connections 1024; }}
http {{
    access_log off;
    sendfile on;
    tcp_nopush on;
    tcp_nodelay on;
    keepalive_requests 100000;
    client_body_temp_path {work}/nginx-body;
    client_max_body_size 60m;
    server {{
        listen 127.0.0.1:{port};
        root {work}/nginx-root;
        location / {{
            dav_methods PUT DELETE;
            create_full_put_path on;
        }}
    }}
}}
"""


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def wait_port(port: int) -> None:
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            return
        except OSError:
            time.sleep(0.05)
    raise RuntimeError("nothing listens on %d" % port)


def curl(*args: str) -> float:
    """Run curl, return its total time in seconds; fail loudly on HTTP errors."""
    out = subprocess.run(["curl", "-sS", "--fail", "-o", "/dev/null", "-w", "%{time_total}", *args],
                         check=True, capture_output=True, text=True).stdout
    return float(out)


def median_rate(times: List[float], size: int) -> float:
    return size / MIB / statistics.median(times)


class Daemon:
    def __init__(self, work: str, *extra: str) -> None:
        self.port = free_port()
        self.data_dir = os.path.join(work, "daemon-store")
        env = dict(os.environ, PYTHONPATH=ROOT)
        self.process = subprocess.Popen(
            [sys.executable, "-m", "filestoraged", "--port", str(self.port), "--data-dir", self.data_dir,
             "--log-level", "WARNING", *extra], env=env)
        wait_port(self.port)
        self.url = "http://127.0.0.1:%d" % self.port

    def rss(self, field: str = "VmRSS") -> int:
        with open("/proc/%d/status" % self.process.pid) as status:
            for line in status:
                if line.startswith(field + ":"):
                    return int(line.split()[1]) * 1024
        raise RuntimeError(field)

    def reset_peak(self) -> None:
        with open("/proc/%d/clear_refs" % self.process.pid, "w") as refs:
            refs.write("5")  # resets VmHWM to the current RSS

    def stop(self) -> None:
        self.process.send_signal(signal.SIGTERM)
        self.process.wait(30)


class Nginx:
    def __init__(self, work: str) -> None:
        self.port = free_port()
        # nginx's workers run as an unprivileged user: let them in.
        os.chmod(work, 0o755)
        for folder in ("nginx-root", "nginx-body"):
            os.makedirs(os.path.join(work, folder), exist_ok=True)
            os.chmod(os.path.join(work, folder), 0o777)
        conf = os.path.join(work, "nginx.conf")
        with open(conf, "w") as handle:
            handle.write(NGINX_CONF.format(work=work, port=self.port))
        subprocess.run(["nginx", "-c", conf, "-p", work], check=True)
        self.work = work
        wait_port(self.port)
        self.url = "http://127.0.0.1:%d" % self.port

    def stop(self) -> None:
        with open(os.path.join(self.work, "nginx.pid")) as handle:
            os.kill(int(handle.read()), signal.SIGQUIT)


def wrk(url: str, seconds: int = 5) -> Tuple[float, float, int]:
    """Requests/s, p99 latency (ms) and errors for GETs of ``url`` over 64 connections,
    measured after a 2 s warm-up run (connections and their threads set up)."""
    subprocess.run(["wrk", "-t2", "-c64", "-d2s", url], check=True, capture_output=True)
    out = subprocess.run(["wrk", "-t2", "-c64", "-d%ds" % seconds, "--latency", url],
                         check=True, capture_output=True, text=True).stdout
    rate = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))
    p99_text = re.search(r"99%\s+([\d.]+)(us|ms|s)\b", out)
    p99 = float(p99_text.group(1)) * {"us": 0.001, "ms": 1.0, "s": 1000.0}[p99_text.group(2)]
    errors = 0
    socket_errors = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", out)
    if socket_errors:
        errors += sum(int(n) for n in socket_errors.groups())
    non_2xx = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    if non_2xx:
        errors += int(non_2xx.group(1))
    return rate, p99, errors


class Report:
    def __init__(self) -> None:
        self.rows: List[Tuple[str, str, str, str, str]] = []

    def add(self, name: str, ours: str, reference: str, ratio: float, goal: str, ok: bool) -> None:
        self.rows.append((name, ours, reference, "%.2fx" % ratio, "%s %s" % (goal, "ok" if ok else "MISSED")))

    def show(self) -> None:
        header = ("measure", "filestoraged", "reference", "ratio", "goal")
        widths = [max(len(r[i]) for r in self.rows + [header]) for i in range(5)]
        for row in [header] + self.rows:
            print("  ".join(cell.ljust(width) for cell, width in zip(row, widths)))


def bench_disk(work: str, runs: int, report: Report) -> None:
    big = os.path.join(work, "big.bin")
    with open(big, "wb") as handle:
        handle.write(os.urandom(BIG))
    small = os.path.join(work, "small.bin")
    with open(small, "wb") as handle:
        handle.write(os.urandom(1024))
    daemon = Daemon(work)
    nginx = Nginx(work) if shutil.which("nginx") else None
    try:
        oid = _upload_oid(daemon.url, big)
        # Upload: our POST (hash + fsync + atomic publish) vs nginx's WebDAV PUT.
        ours, theirs = [], []
        for _ in range(runs):
            curl("-X", "DELETE", daemon.url + "/files/" + oid)
            ours.append(curl("-T", big, "-X", "POST", "-H", "Expect:", daemon.url + "/files"))
            if nginx:
                theirs.append(curl("-T", big, "-H", "Expect:", nginx.url + "/big.bin"))
        _pair(report, "50 MiB upload MiB/s", ours, theirs, BIG, 1.0)
        # Download, integrity verified on our side.
        if nginx:
            curl("-T", small, nginx.url + "/small.bin")
        ours = [curl(daemon.url + "/files/" + oid) for _ in range(runs)]
        theirs = [curl(nginx.url + "/big.bin") for _ in range(runs)] if nginx else []
        _pair(report, "50 MiB download MiB/s", ours, theirs, BIG, 0.9)
        # A 1 MiB Range out of the middle of the 50 MiB object: verified on our
        # side by the blocks it covers (or, without block digests, the whole file).
        span = "%d-%d" % (20 * MIB + 12345, 21 * MIB + 12344)
        ours = [curl("-r", span, daemon.url + "/files/" + oid) for _ in range(runs)]
        theirs = [curl("-r", span, nginx.url + "/big.bin") for _ in range(runs)] if nginx else []
        _pair(report, "1 MiB Range of 50 MiB, MiB/s", ours, theirs, MIB, 0.5)
        # 1 KiB GETs over 64 keep-alive connections.
        if shutil.which("wrk"):
            small_oid = _upload_oid(daemon.url, small)
            rate, p99, errors = wrk(daemon.url + "/files/" + small_oid)
            if nginx:
                ref_rate, ref_p99, ref_errors = wrk(nginx.url + "/small.bin")
                ratio = rate / ref_rate
                report.add("1 KiB GET req/s", "%.0f" % rate, "%.0f" % ref_rate, ratio, ">= 0.15x",
                           ratio >= 0.15 and errors == 0)
                report.add("1 KiB GET p99 ms", "%.2f" % p99, "%.2f" % ref_p99, p99 / ref_p99, "<= 8x",
                           p99 <= 8 * ref_p99)
                report.add("1 KiB GET errors", str(errors), str(ref_errors), 0.0, "0", errors == 0)
        # Peak RSS growth during 8 concurrent 50 MiB uploads plus 8 downloads.
        baseline = daemon.rss()
        daemon.reset_peak()
        jobs = [["-T", big, "-X", "POST", "-H", "Expect:", daemon.url + "/files"]] * 8
        jobs += [[daemon.url + "/files/" + oid]] * 8
        threads = [threading.Thread(target=curl, args=job) for job in jobs]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        growth = (daemon.rss("VmHWM") - baseline) / MIB
        report.add("peak RSS growth MiB", "%.1f" % growth, "-", 0.0, "<= 32 MiB", growth <= 32)
    finally:
        daemon.stop()
        if nginx:
            nginx.stop()


def _upload_oid(url: str, path: str) -> str:
    out = subprocess.run(["curl", "-sS", "--fail", "-T", path, "-X", "POST", "-H", "Expect:", url + "/files"],
                         check=True, capture_output=True, text=True).stdout
    return re.search(r'"hash":"([0-9a-f]{64})"', out).group(1)


def _pair(report: Report, name: str, ours: List[float], theirs: List[float], size: int, goal: float) -> None:
    rate = median_rate(ours, size)
    if not theirs:
        report.add(name, "%.0f" % rate, "n/a", 0.0, ">= %.1fx" % goal, False)
        return
    ref = median_rate(theirs, size)
    report.add(name, "%.0f" % rate, "%.0f" % ref, rate / ref, ">= %.1fx" % goal, rate / ref >= goal)


def main(argv: Optional[List[str]] = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--runs", type=int, default=7, help="repetitions per measure (median is kept)")
    parser.add_argument("--only", choices=["disk", "memcached"], help="run one group only")
    args = parser.parse_args(argv)
    work = tempfile.mkdtemp(prefix="fsd-bench-", dir=os.environ.get("BENCH_DIR", "/var/tmp"))
    report = Report()
    try:
        if args.only in (None, "disk"):
            bench_disk(work, args.runs, report)
        if args.only in (None, "memcached"):
            from bench import memcached_bench  # needs pymemcache: run with .venv/bin/python

            memcached_bench.run(work, args.runs, report)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    report.show()
    return 0


if __name__ == "__main__":
    sys.exit(main())

