"""A listing page against the number of keys, with the records on
PostgreSQL, run by hand: ``python -m bench.run --only records``.

A PostgreSQL cluster of its own (the tests' server, ``initdb`` in a
folder of its own; Debian's ``postgresql``: it stops with one line when
missing) holds a bucket's keys, filled to 1,000, 100,000 and 1,000,000
keys (heads as the keyspace writes them, written in bulk); at each size a
page of 1,000 keys from the middle of the bucket is read through the
catalog (``Keys.page``, as ListObjectsV2 reads one). The goal: at most
1.2x from the smallest to the largest (a page is one range read of the
index, whatever lies beside it). Beside it, the same page with the records
in an S3 bucket (``--records s3`` on SeaweedFS, the size it reaches:
1,000 keys), where a page of keys is a page of GETs.

Then three daemons over one SeaweedFS bucket (``--backend s3 --s3-api``,
otherwise as shipped), their records on PostgreSQL against the same with
``--records s3``, taking turns: ``CLUSTER_OBJECTS`` S3 PutObjects of 4 KiB
by s5cmd (one process a daemon, ``WORKERS_A_DAEMON`` workers each), as
PUTs per CPU-second of the daemons, and of everything serving them (the
daemons, PostgreSQL, SeaweedFS).
"""

from __future__ import annotations

import json
import os
import statistics
import subprocess
import sys
import time
from typing import Dict, List, Tuple

from filestoraged.catalog.keys import Entry, Keys
from filestoraged.catalog.names import encode_key
from filestoraged.records.postgres import PostgresRecords
from filestoraged.wire.postgres import Connection

from .common import ROOT, Daemon, Report, free_port, random_files, session_cpu
from .s5cmd_bench import s5cmd_binary

SIZES = (1_000, 100_000, 1_000_000)
PAGE = 1000
ROWS_A_STATEMENT = 5000
CLUSTER_OBJECTS = 3_000
WORKERS_A_DAEMON = 8


def run(work: str, runs: int, report: Report) -> None:
    server = cluster()
    try:
        timings: Dict[int, float] = {}
        for size in SIZES:
            database = server.new_database()
            records = PostgresRecords(server.address(database))
            try:
                _fill(server, database, size)
                timings[size] = _page_time(records, size, runs)
            finally:
                records.close()
        bucket = _bucket_page_time(work, runs)
        rates = _cluster_rates(work, server, min(runs, 3))
    finally:
        server.stop()
    smallest, largest = SIZES[0], SIZES[-1]
    ratio = timings[largest] / timings[smallest]
    for size in SIZES[1:]:
        report.add("listing page (1,000 keys), records on PostgreSQL, %d keys vs %d, ms" % (size, smallest),
                   "%.1f" % timings[size], "%.1f" % timings[smallest], timings[size] / timings[smallest],
                   "<= 1.2x" if size == largest else "-", ratio <= 1.2 if size == largest else True)
    report.add("listing page (1,000 keys of 1,000), records in an S3 bucket vs PostgreSQL, ms",
               "%.1f" % bucket, "%.1f" % timings[smallest], bucket / timings[smallest], "-", True)
    for whose in ("the daemons", "the daemons, PostgreSQL and SeaweedFS"):
        ours, theirs = rates["postgresql", whose], rates["s3", whose]
        report.add("3 daemons, %s x 4 KiB PutObject by s5cmd, PUTs per CPU-second of %s, records on PostgreSQL "
                   "vs --records s3" % (f"{CLUSTER_OBJECTS:,}", whose), "%.0f" % ours, "%.0f" % theirs,
                   ours / theirs, "-", True)


def _fill(server, database: str, size: int) -> None:
    """``size`` keys of bucket ``b``, each a head naming one object, written in bulk."""
    head = _head_value()
    connection = Connection(server.address(database))
    try:
        for start in range(0, size, ROWS_A_STATEMENT):
            rows = ",".join("('%s', '%s', nextval('filestoraged_versions'))"
                            % ("s3/keys/b/" + encode_key("k%09d" % number), head)
                            for number in range(start, min(size, start + ROWS_A_STATEMENT)))
            connection.run("INSERT INTO filestoraged_records VALUES %s" % rows)
        connection.run("ANALYZE filestoraged_records")
    finally:
        connection.close()


def _head_value() -> str:
    entry = Entry("ab" * 32, 4096, "0" * 32, 1_800_000_000.0)
    return json.dumps(entry.record(), separators=(",", ":")).replace("'", "''")


def _page_time(records, size: int, runs: int) -> float:
    """The median of ``runs`` reads of the page of 1,000 keys from the middle, in ms."""
    keys = Keys(records)
    middle = "k%09d" % (size // 2 - PAGE // 2) if size > PAGE else ""
    times: List[float] = []
    for _ in range(runs * 5):
        started = time.perf_counter()
        page = keys.page("b", "", "", middle, PAGE)
        times.append(time.perf_counter() - started)
        assert len(page.items) == PAGE, len(page.items)
    return statistics.median(times) * 1000


def _bucket_page_time(work: str, runs: int) -> float:
    """The same page with the records in a SeaweedFS bucket (1,000 keys), in ms."""
    from filestoraged.records.bucket import BucketRecords
    from filestoraged.storage.s3.client import S3Client

    from .seaweed import KEY, REGION, SECRET, Seaweed

    with Seaweed(work, "records") as store:
        records = BucketRecords(S3Client(store.endpoint, "records", REGION, KEY, SECRET))
        head = json.loads(_head_value().replace("''", "'"))
        for number in range(PAGE):
            records.create("s3/keys/b/" + encode_key("k%09d" % number), head)
        keys = Keys(records)
        times = []
        for _ in range(runs):
            started = time.perf_counter()
            keys.page("b", "", "", "", PAGE)
            times.append(time.perf_counter() - started)
        records.close()
    return statistics.median(times) * 1000


def _cluster_rates(work: str, server, runs: int) -> Dict[Tuple[str, str], float]:
    """PutObjects per CPU-second across three daemons, for each kind of
    records (the median of ``runs``, the kinds taking turns), counted on the
    daemons alone and on everything that serves them."""
    from .seaweed import Seaweed

    files = os.path.join(work, "cluster-files")
    for daemon in range(3):
        os.makedirs(os.path.join(files, str(daemon)))
    s5cmd = s5cmd_binary()
    rates: Dict[Tuple[str, str], List[float]] = {}
    with Seaweed(work, "records-s3") as store:
        store.new_bucket("records-postgresql")
        database = server.new_database()
        sides = {kind: _Cluster(work, store, kind, "s3" if kind == "s3" else server.url(database))
                 for kind in ("s3", "postgresql")}
        servers = [store.process.pid, server.process.pid]
        try:
            for number in range(runs):
                for kind in (("s3", "postgresql") if number % 2 == 0 else ("postgresql", "s3")):
                    side = sides[kind]
                    for daemon in range(3):  # each daemon's third, bytes none holds
                        random_files(os.path.join(files, str(daemon)), CLUSTER_OBJECTS // 3, 4096)
                    before = side.cpu(), side.cpu() + sum(session_cpu(pid) for pid in servers)
                    side.put(s5cmd, files, number)
                    after = side.cpu(), side.cpu() + sum(session_cpu(pid) for pid in servers)
                    for whose, spent in (("the daemons", after[0] - before[0]),
                                         ("the daemons, PostgreSQL and SeaweedFS", after[1] - before[1])):
                        rates.setdefault((kind, whose), []).append(CLUSTER_OBJECTS / spent)
        finally:
            for side in sides.values():
                side.stop()
    return {measure: statistics.median(values) for measure, values in rates.items()}


class _Cluster:
    """Three daemons over one SeaweedFS bucket with ``records``, each its
    own S3 API port; an admin key pair made through the shared records."""

    def __init__(self, work: str, store, kind: str, records: str) -> None:
        shared = ["--backend", "s3", "--s3-endpoint", store.endpoint, "--s3-bucket", "records-" + kind,
                  "--records", records]
        self.env = dict(store.env)
        self.daemons: List[Daemon] = []
        self.ports: List[int] = []
        try:
            for number in range(3):
                self.ports.append(free_port())
                self.daemons.append(Daemon(os.path.join(work, "cluster-%s-%d" % (kind, number)), *shared,
                                           "--s3-api", "127.0.0.1:%d" % self.ports[-1], env=self.env))
            os.makedirs(os.path.join(work, "cluster-" + kind))  # the command's own folder (the records are shared)
            done = subprocess.run([sys.executable, "-m", "filestoraged", "token", "create", "--scope", "admin",
                                   "--s3", "--name", "bench", "--data-dir", os.path.join(work, "cluster-" + kind),
                                   *shared], capture_output=True, text=True, env=dict(self.env, PYTHONPATH=ROOT))
            if done.returncode:
                raise SystemExit("records bench: no key pair for the cluster: %s" % done.stderr[-500:])
        except BaseException:
            self.stop()
            raise
        said = dict(line.split("=", 1) for line in done.stdout.splitlines() if "=" in line)
        self.client_env = dict(os.environ, AWS_ACCESS_KEY_ID=said["AWS_ACCESS_KEY_ID"],
                               AWS_SECRET_ACCESS_KEY=said["AWS_SECRET_ACCESS_KEY"], AWS_REGION="us-east-1")
        self.made = False

    def cpu(self) -> float:
        return sum(session_cpu(daemon.process.pid) for daemon in self.daemons)

    def put(self, s5cmd: str, files: str, number: int) -> None:
        """Each daemon's third of the files put through it at once, under this run's prefix."""
        if not self.made:
            self._s5cmd(s5cmd, 0, "mb", "s3://bench").wait()
            self.made = True
        running = [self._s5cmd(s5cmd, daemon, "cp", os.path.join(files, str(daemon), "*"),
                               "s3://bench/r%d/d%d/" % (number, daemon)) for daemon in range(3)]
        for daemon, process in enumerate(running):
            _, said = process.communicate()
            if process.returncode:
                raise SystemExit("records bench: s5cmd through daemon %d failed: %s" % (daemon, said[-500:]))

    def _s5cmd(self, s5cmd: str, daemon: int, *args: str) -> subprocess.Popen:
        return subprocess.Popen([s5cmd, "--endpoint-url", "http://127.0.0.1:%d" % self.ports[daemon],
                                 "--numworkers", str(WORKERS_A_DAEMON), *args], env=self.client_env,
                                stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)

    def stop(self) -> None:
        for daemon in self.daemons:
            daemon.stop()


def cluster():
    """A PostgreSQL cluster of its own (the tests' server: ``initdb`` in a
    folder of its own, a loopback port), or one line and an exit."""
    import unittest

    from tests.postgres_server import Postgres

    try:
        return Postgres()
    except unittest.SkipTest as missing:
        raise SystemExit("records bench: %s" % missing) from None
