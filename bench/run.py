"""Benchmarks, run by hand:
``python -m bench.run [--runs N]
[--only disk|percore|memcached|s3|s3api|s3get|putcpu|lfs|kv|dataput|connections|scale|console|costs|s5cmd|
workers|restic|webdav|records|replication] [--against REV]``.

Each figure is measured pair by pair in one run against a reference started
by this script on loopback — nginx with WebDAV for the disk daemon, raw
pymemcache calls for the memcached backend — and printed as a ratio, so the
machine's speed cancels out. The two sides of a pair take turns, run by
run, so that a machine that drifts (CPU frequency, page cache, neighbours)
weighs on both alike. The references and tools (curl, nginx, wrk, memcached,
valgrind) are installed with apt-get when missing and we are root; otherwise
the bench stops with one line saying what it needs.
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from typing import Callable, Dict, List, Optional, Tuple

from .common import (BIG, HUGE, MIB, Daemon, Nginx, PlainFileServer, Report, curl, ensure_tools, make_certificate,
                     median_rate, upload_oid, wrk)


def bench_disk(work: str, runs: int, report: Report) -> None:
    ensure_tools("curl", "nginx", "wrk", "openssl")
    big = os.path.join(work, "big.bin")
    with open(big, "wb") as handle:
        handle.write(os.urandom(BIG))
    small = os.path.join(work, "small.bin")
    with open(small, "wb") as handle:
        handle.write(os.urandom(1024))
    daemon = Daemon(work)
    nginx = Nginx(work)
    try:
        oid = upload_oid(daemon.url, big)

        # Upload: our POST (hash + fsync + atomic publish) vs nginx's WebDAV PUT.
        def ours_up() -> float:
            curl("-X", "DELETE", daemon.url + "/files/" + oid)
            return curl("-T", big, "-X", "POST", "-H", "Expect:", daemon.url + "/files")

        _pair(report, "50 MiB upload MiB/s", runs, ours_up,
              lambda: curl("-T", big, "-H", "Expect:", nginx.url + "/big.bin"), BIG, 1.0)
        # Download, integrity verified on our side.
        curl("-T", small, nginx.url + "/small.bin")
        _pair(report, "50 MiB download MiB/s", runs, lambda: curl(daemon.url + "/files/" + oid),
              lambda: curl(nginx.url + "/big.bin"), BIG, 0.8)
        # The same download against Python's own file server, which checks
        # nothing: what an unverified Python transfer costs on this machine.
        with PlainFileServer(os.path.join(work, "nginx-root")) as plain:
            _pair(report, "50 MiB download vs python -m http.server, MiB/s", runs,
                  lambda: curl(daemon.url + "/files/" + oid), lambda: curl(plain.url + "/big.bin"), BIG, 1.0)
        # A 1 MiB Range out of the middle of the 50 MiB object: verified on our
        # side by the blocks it covers.
        span = "%d-%d" % (20 * MIB + 12345, 21 * MIB + 12344)
        _pair(report, "1 MiB Range of 50 MiB, MiB/s", runs, lambda: curl("-r", span, daemon.url + "/files/" + oid),
              lambda: curl("-r", span, nginx.url + "/big.bin"), MIB, 0.5)
        # 4 concurrent downloads of the 50 MiB object, aggregate MiB/s.
        _pair(report, "4 x 50 MiB downloads at once, MiB/s", runs, lambda: _at_once(4, daemon.url + "/files/" + oid),
              lambda: _at_once(4, nginx.url + "/big.bin"), 4 * BIG, 0.8)
        # A resumable upload (tus, 16 MiB PATCHes, as `filestoraged put` sends
        # them) of the same 50 MiB, against nginx's PUT.
        _pair(report, "50 MiB upload through /uploads (tus) MiB/s", runs, lambda: _tus_upload(daemon.url, big, oid),
              lambda: curl("-T", big, "-H", "Expect:", nginx.url + "/big.bin"), BIG, 0.8)
        # 1 KiB GETs over 64 keep-alive connections: the daemon as shipped
        # (--workers auto, each worker on its own CPU, the access log on), the
        # same with the access log off, with the workers free on every CPU,
        # with each worker's own threads on one CPU, --workers 1, and nginx
        # logging too; in turns, medians kept.
        small_oid = upload_oid(daemon.url, small)
        single = Daemon(os.path.join(work, "single"), "--workers", "1")
        quiet = Daemon(os.path.join(work, "quiet"), "--log-level", "WARNING")
        free = Daemon(os.path.join(work, "free"), "--cpu-affinity", "off")
        one = Daemon(os.path.join(work, "one"), "--cpu-affinity", "one")
        try:
            for other in (single, quiet, free, one):
                upload_oid(other.url, small)
            url = "/files/" + small_oid
            sides = {"shipped": daemon.url + url, "quiet": quiet.url + url, "single": single.url + url,
                     "free": free.url + url, "one": one.url + url, "nginx": nginx.url + "/small.bin"}
            measured: Dict[str, List[Tuple[float, float, int]]] = {side: [] for side in sides}
            order = list(sides)
            for round_ in range(max(1, min(runs, 3))):
                # Each round starts with another side: the place in a round
                # moved a side's rate by up to 5 % (measured).
                for side in order[round_ % len(order):] + order[:round_ % len(order)]:
                    measured[side].append(wrk(sides[side]))
        finally:
            single.stop()
            quiet.stop()
            free.stop()
            one.stop()
        rate, p99, errors = (_median(measured["shipped"], n) for n in range(3))
        quiet_rate, _, quiet_errors = (_median(measured["quiet"], n) for n in range(3))
        one_rate, _, one_errors = (_median(measured["single"], n) for n in range(3))
        free_rate, _, free_errors = (_median(measured["free"], n) for n in range(3))
        kept_rate, kept_p99, kept_errors = (_median(measured["one"], n) for n in range(3))
        ref_rate, ref_p99, ref_errors = (_median(measured["nginx"], n) for n in range(3))
        ratio = rate / ref_rate
        report.add("1 KiB GET req/s, as shipped", "%.0f" % rate, "%.0f" % ref_rate, ratio, ">= 0.30x",
                   ratio >= 0.30 and errors == 0)
        report.add("1 KiB GET p99 ms, as shipped", "%.2f" % p99, "%.2f" % ref_p99, p99 / ref_p99, "<= 4x",
                   p99 <= 4 * ref_p99)
        report.add("1 KiB GET errors, as shipped", "%d" % errors, "%d" % ref_errors, None, "0", errors == 0)
        report.add("1 KiB GET req/s, access log off (--log-level WARNING)", "%.0f" % quiet_rate, "%.0f" % ref_rate,
                   quiet_rate / ref_rate, "(what the log costs)", quiet_errors == 0)
        cost = 1 - rate / quiet_rate
        report.add("access log's cost, share of the 1 KiB GET rate", "%.1f %%" % (100 * cost), "-", None, "<= 10 %",
                   cost <= 0.10)
        report.add("1 KiB GET req/s, --workers 1", "%.0f" % one_rate, "%.0f" % ref_rate, one_rate / ref_rate,
                   "(one process)", one_errors == 0)
        report.add("1 KiB GET req/s, workers free on every CPU (--cpu-affinity off) vs as shipped",
                   "%.0f" % free_rate, "%.0f" % rate, free_rate / rate, "(what keeping a CPU gives)",
                   free_errors == 0)
        report.add("1 KiB GET req/s, each worker's own threads on one CPU (--cpu-affinity one) vs as shipped",
                   "%.0f" % kept_rate, "%.0f" % rate, kept_rate / rate, "(stated: a setting)", kept_errors == 0)
        report.add("1 KiB GET p99 ms, --cpu-affinity one vs as shipped (wrk on the same CPUs)", "%.2f" % kept_p99,
                   "%.2f" % p99, kept_p99 / p99, "(stated: a setting)", True)
        report.add("RSS idle MiB, summed over parent and workers", "%.1f" % (daemon.rss() / MIB), "-", None,
                   "(ps/top)", True)
        report.add("PSS idle MiB, summed over parent and workers", "%.1f" % (daemon.pss() / MIB), "-", None,
                   "(shared pages once)", True)
        # Peak RSS growth during 8 concurrent 50 MiB uploads plus 8 downloads.
        jobs = [["-T", big, "-X", "POST", "-H", "Expect:", daemon.url + "/files"]] * 8
        growth = daemon.peak_growth(jobs + [[daemon.url + "/files/" + oid]] * 8)
        report.add("peak RSS growth MiB", "%.1f" % growth, "-", None, "<= 32 MiB", growth <= 32)
        bench_https(work, runs, report, nginx, big, small)
        bench_huge(work, runs, report, nginx)
    finally:
        daemon.stop()
        nginx.stop()


def bench_huge(work: str, runs: int, report: Report, nginx: Nginx) -> None:
    """A 1 MiB Range of a 2 GiB object on its first read, right after the
    upload, and on later reads (a new object each run: the first read is
    the one that once hashed the whole object). This row changes a setting:
    ``--max-size 3G`` (the default is 50 MiB)."""
    huge = os.path.join(work, "nginx-root", "huge.bin")  # nginx serves it from its root as it is
    with open(huge, "wb") as handle:
        for _ in range(HUGE // MIB):
            handle.write(os.urandom(MIB))
    os.chmod(huge, 0o644)
    daemon = Daemon(os.path.join(work, "huge"), "--max-size", "3G")
    span = "%d-%d" % (HUGE // 2 + 12345, HUGE // 2 + MIB + 12344)
    try:
        firsts, laters, refs = [], [], []
        for run in range(max(1, min(runs, 3))):
            with open(huge, "r+b") as handle:  # another object each run
                handle.write(b"%08d" % run)
            oid = upload_oid(daemon.url, huge)
            firsts.append(curl("-r", span, daemon.url + "/files/" + oid))
            laters.append(statistics.median(curl("-r", span, daemon.url + "/files/" + oid) for _ in range(5)))
            refs.append(statistics.median(curl("-r", span, nginx.url + "/huge.bin") for _ in range(5)))
            curl("-X", "DELETE", daemon.url + "/files/" + oid)
        first, later, ref = (1000 * statistics.median(values) for values in (firsts, laters, refs))
        report.add("1 MiB Range of a 2 GiB object, first read, ms (--max-size 3G)", "%.1f" % first, "%.1f" % ref,
                   ref / first, "<= 20 ms", first <= 20)
        report.add("1 MiB Range of a 2 GiB object, later reads, ms (--max-size 3G)", "%.1f" % later, "%.1f" % ref,
                   ref / later, ">= 0.5x", ref / later >= 0.5)
    finally:
        daemon.stop()
        os.unlink(huge)


def _tus_upload(url: str, path: str, oid: str) -> float:
    """Seconds for a resumable upload of ``path`` in 16 MiB PATCHes (the
    object deleted first, so that every run stores it anew)."""
    curl("-X", "DELETE", url + "/files/" + oid)
    size = os.path.getsize(path)
    started = time.monotonic()
    made = subprocess.run(["curl", "-sS", "--fail", "-o", "/dev/null", "-D", "-", "-X", "POST", "-H",
                           "Tus-Resumable: 1.0.0", "-H", "Upload-Length: %d" % size, url + "/uploads"],
                          check=True, capture_output=True, text=True).stdout
    upload = re.search(r"(?im)^location: (\S+)", made).group(1)
    with open(path, "rb") as handle:
        for offset in range(0, size, 16 * MIB):
            piece = handle.read(16 * MIB)
            subprocess.run(["curl", "-sS", "--fail", "-o", "/dev/null", "-X", "PATCH", "--data-binary", "@-",
                            "-H", "Tus-Resumable: 1.0.0", "-H", "Upload-Offset: %d" % offset, "-H", "Expect:",
                            "-H", "Content-Type: application/offset+octet-stream", upload],
                           input=piece, check=True, capture_output=True)
    return time.monotonic() - started


def bench_https(work: str, runs: int, report: Report, nginx: Nginx, big: str, small: str) -> None:
    """The same transfers over HTTPS, against nginx with the same certificate."""
    cert, key = make_certificate(work)
    daemon = Daemon(os.path.join(work, "https"), "--tls-cert", cert, "--tls-key", key)  # one daemon per data dir
    tls = ("--cacert", cert)
    try:
        oid = upload_oid(daemon.url, big, *tls)

        def ours_up() -> float:
            curl(*tls, "-X", "DELETE", daemon.url + "/files/" + oid)
            return curl(*tls, "-T", big, "-X", "POST", "-H", "Expect:", daemon.url + "/files")

        _pair(report, "HTTPS 50 MiB upload MiB/s", runs, ours_up,
              lambda: curl(*tls, "-T", big, "-H", "Expect:", nginx.tls_url + "/big.bin"), BIG, 1.0)
        _pair(report, "HTTPS 50 MiB download MiB/s", runs, lambda: curl(*tls, daemon.url + "/files/" + oid),
              lambda: curl(*tls, nginx.tls_url + "/big.bin"), BIG, 0.9)
        small_oid = upload_oid(daemon.url, small, *tls)
        rate, p99, errors = wrk(daemon.url + "/files/" + small_oid)
        ref_rate, ref_p99, _ = wrk(nginx.tls_url + "/small.bin")
        report.add("HTTPS 1 KiB GET req/s", "%.0f" % rate, "%.0f" % ref_rate, rate / ref_rate, ">= 0.15x",
                   rate / ref_rate >= 0.15 and errors == 0)
    finally:
        daemon.stop()


def _median(results: List[Tuple[float, float, int]], field: int) -> float:
    """The median of one field of wrk's results (errors: the most seen)."""
    values = [result[field] for result in results]
    return max(values) if field == 2 else statistics.median(values)


def _at_once(count: int, url: str) -> float:
    """Seconds for ``count`` curl downloads of ``url`` run side by side."""
    started = time.monotonic()
    jobs = [subprocess.Popen(["curl", "-sS", "--fail", "-o", "/dev/null", url]) for _ in range(count)]
    if any(job.wait() != 0 for job in jobs):
        raise RuntimeError("a download of %s failed" % url)
    return time.monotonic() - started


def _pair(report: Report, name: str, runs: int, ours: Callable[[], float], theirs: Callable[[], float],
          size: int, goal: float) -> None:
    """Time both sides ``runs`` times, taking turns; report the medians' ratio."""
    times: Tuple[List[float], List[float]] = ([], [])
    for _ in range(runs):
        times[0].append(ours())
        times[1].append(theirs())
    rate, ref = median_rate(times[0], size), median_rate(times[1], size)
    report.add(name, "%.0f" % rate, "%.0f" % ref, rate / ref, ">= %.1fx" % goal, rate / ref >= goal)


def main(argv: Optional[List[str]] = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--runs", type=int, default=7, help="repetitions per measure (median is kept)")
    parser.add_argument("--only", choices=["disk", "percore", "memcached", "s3", "s3api", "putcpu", "lfs", "kv",
                                           "scale", "console", "costs", "s5cmd", "workers", "restic", "webdav",
                                           "records", "s3get", "replication", "dataput", "connections"],
                        help="run one group only (scale, console, restic, replication run only when asked: the first "
                        "two fill a store of --objects)")
    parser.add_argument("--objects", type=int, default=1_000_000, help="scale: the store's size at the end")
    parser.add_argument("--links", type=int, default=100_000, help="scale: share links made at the end")
    parser.add_argument("--against", metavar="REV", help="kv, dataput, connections, costs: the commit measured "
                        "beside this checkout (kv, dataput and connections run only when it is given)")
    args = parser.parse_args(argv)
    work = tempfile.mkdtemp(prefix="fsd-bench-", dir=os.environ.get("BENCH_DIR", "/var/tmp"))
    report = Report()
    try:
        if args.only in (None, "disk"):
            bench_disk(work, args.runs, report)
        if args.only in (None, "disk", "percore"):
            from . import per_core_bench

            per_core_bench.run(work, args.runs, report)
        if args.only == "workers":
            from . import per_core_bench

            per_core_bench.run_workers(work, args.runs, report)
        if args.only in (None, "memcached"):
            from . import memcached_bench  # needs pymemcache: run with .venv/bin/python

            memcached_bench.run(work, args.runs, report)
        if args.only in (None, "s3"):
            from . import s3_bench

            s3_bench.run(work, args.runs, report)
        if args.only in (None, "s3api"):
            from . import s3api_bench  # needs boto3: run with .venv/bin/python

            s3api_bench.run(work, args.runs, report)
        if args.only in (None, "s3get"):
            from . import s3_get_bench

            s3_get_bench.run(work, args.runs, report)
        if args.only in (None, "putcpu"):
            from . import put_cpu_bench  # the S3 side's key pair is made as the s3api group's

            put_cpu_bench.run(work, args.runs, report)
            put_cpu_bench.run_instructions(work, args.runs, report)
            put_cpu_bench.run_load(work, args.runs, report)
        if args.only in (None, "putcpu", "s5cmd"):
            from . import s5cmd_bench

            s5cmd_bench.run(work, args.runs, report)
        if args.only in (None, "lfs"):
            from . import lfs_bench

            lfs_bench.run(work, args.runs, report)
        if args.only == "kv" or (args.only is None and args.against):
            if not args.against:
                parser.error("--only kv needs --against REV: the version it is measured against")
            from . import kv_bench

            kv_bench.run(work, args.runs, report, args.against)
        if args.only == "dataput" or (args.only is None and args.against):
            if not args.against:
                parser.error("--only dataput needs --against REV: the version it is measured against")
            from . import data_put_bench

            data_put_bench.run(work, args.runs, report, args.against)
        if args.only == "connections" or (args.only is None and args.against):
            if not args.against:
                parser.error("--only connections needs --against REV: the version it is measured against")
            from . import connection_bench

            connection_bench.run(work, args.runs, report, args.against)
        if args.only == "costs":
            from . import key_costs

            key_costs.run(work, args.runs, report, args.against)
        if args.only in (None, "webdav"):
            from . import webdav_bench  # installs WsgiDAV into this venv when missing

            webdav_bench.run(work, args.runs, report)
        if args.only == "restic":
            from . import restic_bench

            restic_bench.run(work, args.runs, report)
        if args.only == "scale":
            from . import scale_bench

            scale_bench.run(work, args.runs, report, args.objects, args.links)
        if args.only == "console":
            from . import console_bench

            console_bench.run(work, args.runs, report, args.objects)
        if args.only == "replication":
            from . import replication_bench  # needs boto3: run with .venv/bin/python

            replication_bench.run(work, args.runs, report)
        if args.only == "records":
            from . import records_bench  # a PostgreSQL cluster of its own (Debian's postgresql)

            records_bench.run(work, args.runs, report)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    report.show()
    return 0


if __name__ == "__main__":
    sys.exit(main())
