"""What one small write costs the key model, counted rather than timed:
``python -m bench.run --only costs [--against REV]``.

The daemon runs with ``--workers 1`` (all of its work in one process) and
``--s3-api``, otherwise as shipped, under ``bench/counted.py`` (counters
around its records, its SQLite statements and its Python-level syncs) and
strace (every fsync and fdatasync of its threads, SQLite's own included,
and the bytes SQLite writes into its write-ahead logs: a page of 4 KiB
and its frame's head for every page a commit changes, so the count shows
how many places of a table a write touches).
Each kind of request is sent ``REQUESTS`` times, one after another on one
connection, 4 KiB bodies; the counts between the first and the last, once
the daemon's work after the answers has settled, divided by ``REQUESTS``.
Counts are the same run after run, up to the background work of a daemon
at rest (a sweep's turn that falls inside a phase): a fraction that
moves from run to run is that. Counted twice: with the records in
``meta.db`` (the default), and with bytes and records in a SeaweedFS
bucket (``--backend s3 --records s3``), where a record operation is a
request to the store, and (this checkout alone) with the records on a
PostgreSQL of its own (``--records postgresql://``, the bytes in the
bucket), where a statement is a round trip. With ``--against REV`` the same is counted for REV
(checked out into a git worktree), side by side."""

from __future__ import annotations

import hashlib
import http.client
import json
import os
import re
import signal
import subprocess
import sys
import time
from contextlib import nullcontext
from typing import Callable, Dict, List, Optional, Sequence, Tuple

from filestoraged.wire import sigv4

from tests.support import daemon_workers

from .common import ROOT, Daemon, checkout, ensure_tools, free_port
from .records_bench import cluster as database_cluster
from .seaweed import KEY, SECRET, Seaweed

REQUESTS = 40
SIZE = 4096
SETTLED = 0.3  # seconds with no count moving: the daemon's work after its answers is done
COLUMNS = ("record operations", "SQL statements", "transactions", "syncs", "KiB into WALs")
KINDS = ("/data PUT", "S3 PutObject, new key", "S3 PutObject over an existing key",
         "S3 PutObject, versioned bucket (a new version of an existing key)", "S3 DeleteObject ?versionId=",
         "S3 GetObject")
_SYNC = re.compile(rb"\b(fsync|fdatasync)\(")
# strace -f -y -s 0: ``PID pwrite64(4</path/meta.db-wal>, ""..., 4096, 56) = 4096``, or, where
# another thread's call came between, ``... <unfinished ...>`` and later
# ``PID <... pwrite64 resumed>) = 4096``
_PWRITE = re.compile(rb"^(\d+) +(?:pwrite64\(\d+<([^>\n]*)>.*?|<\.\.\. pwrite64 resumed>.*?)"
                     rb"(?:\) += (\d+)|<unfinished \.\.\.>)$", re.M)


def run(work: str, runs: int, report, against: Optional[str] = None) -> None:
    ensure_tools("strace", "git")
    sides: List[Tuple[str, Dict[str, str]]] = [("this checkout", {})]
    with checkout(against, os.path.join(work, "costs-against")) if against else nullcontext() as tree:
        if tree:  # (its daemons run as counted.py runs them: PYTHONPATH decides where filestoraged comes from)
            sides.append((against[:10], {"PYTHONPATH": tree}))
        measured = [(name, _measure(os.path.join(work, "costs-%d" % index), env))
                    for index, (name, env) in enumerate(sides)]
        with Seaweed(work, "costs-0") as weed:
            shared = []
            for index, (name, env) in enumerate(sides):
                bucket = "costs-%d" % index
                if index:
                    weed.new_bucket(bucket)
                store = ("--backend", "s3", "--s3-endpoint", weed.endpoint, "--s3-bucket", bucket, "--records", "s3")
                shared.append((name, _measure(os.path.join(work, "costs-s3-%d" % index),
                                              dict(env, AWS_ACCESS_KEY_ID=KEY, AWS_SECRET_ACCESS_KEY=SECRET),
                                              store)))
            weed.new_bucket("costs-db")
            cluster = database_cluster()  # this checkout alone: the records on a database are new in it
            try:
                store = ("--backend", "s3", "--s3-endpoint", weed.endpoint, "--s3-bucket", "costs-db",
                         "--records", cluster.url(cluster.new_database()))
                database = [("this checkout", _measure(os.path.join(work, "costs-db"),
                                                      dict(AWS_ACCESS_KEY_ID=KEY, AWS_SECRET_ACCESS_KEY=SECRET),
                                                      store))]
            finally:
                cluster.stop()
    for where, table, side_by_side in (
            ("--records local (the default)", measured, against),
            ("--backend s3 --records s3 (SeaweedFS): a record operation is a request to the store "
             "(a page of records a LIST and a GET each)", shared, against),
            ("--backend s3 --records postgresql:// (bytes in SeaweedFS): a statement is a round trip to the "
             "database; syncs are the daemon's own (the database's are its server's)", database, None)):
        print()
        print("Per request, %d requests of each kind, 4 KiB bodies (--workers 1, --s3-api), %s%s:"
              % (REQUESTS, where, "; this checkout (%s)" % side_by_side[:10] if side_by_side else ""))
        print("| request | record operations | SQL statements / transactions | syncs | KiB into WALs |")
        print("|---|---|---|---|---|")
        for kind in KINDS:
            def cell(*columns: str, kind: str = kind, table=table) -> str:
                return " (".join(" / ".join("%g" % round(side[kind][column], 1) for column in columns)
                                 for _, side in table) + (")" if len(table) > 1 else "")

            print("| %s | %s | %s | %s | %s |" % (kind, cell(COLUMNS[0]), cell(*COLUMNS[1:3]), cell(COLUMNS[3]),
                                                 cell(COLUMNS[4])))
    print()
    ours = measured[0][1]["S3 DeleteObject ?versionId="]["transactions"]
    # A delete's own transactions are a whole number; a daemon's background
    # work at rest that falls inside the phase adds a fraction (see above).
    report.add("S3 DeleteObject ?versionId=, transactions per request (counted)", "%g" % ours, "-", None,
               "1 (rounded)", round(ours) <= 1)


def _measure(folder: str, env: Dict[str, str], store: Sequence[str] = ()) -> Dict[str, Dict[str, float]]:
    """The counts per request of each of ``KINDS``, for the package ``env``'s
    PYTHONPATH names (this checkout's without one); ``store``: the
    daemon's settings of where it keeps bytes and records (its data
    directory's disk and ``meta.db`` without any)."""
    os.makedirs(folder, exist_ok=True)
    counts_file, traced = os.path.join(folder, "counts.json"), os.path.join(folder, "syncs.strace")
    s3_port = free_port()
    launcher = ["strace", "-f", "-qq", "-y", "-s", "0", "-e", "trace=fsync,fdatasync,pwrite64", "-e", "signal=none",
                "-o", traced,
                sys.executable, os.path.join(ROOT, "bench", "counted.py")]
    daemon = Daemon(folder, "--workers", "1", "--s3-api", "127.0.0.1:%d" % s3_port, *store,
                    env=dict(env, FSD_COUNTS=counts_file), launcher=launcher)
    served = daemon_workers(daemon.process.pid)[0]  # strace's child
    try:
        counter = _Counter(served, counts_file, traced)
        token, key, secret = _key_pair(daemon, store)
        client = _Client(daemon.port, s3_port, token, key, secret)
        client.s3("PUT", "/plain", b"")
        client.s3("PUT", "/kept", b"")
        client.s3("PUT", "/kept?versioning", b'<VersioningConfiguration><Status>Enabled</Status>'
                  b'</VersioningConfiguration>')
        for index in range(REQUESTS):
            client.s3("PUT", "/kept/k%d" % index, os.urandom(SIZE))
        versions: List[str] = []
        steps: Dict[str, Callable[[int], object]] = {
            KINDS[0]: lambda index: client.data_put(),
            KINDS[1]: lambda index: client.s3("PUT", "/plain/k%d" % index, os.urandom(SIZE)),
            KINDS[2]: lambda index: client.s3("PUT", "/plain/k%d" % index, os.urandom(SIZE)),
            KINDS[3]: lambda index: versions.append(client.s3("PUT", "/kept/k%d" % index, os.urandom(SIZE))),
            KINDS[4]: lambda index: client.s3("DELETE", "/kept/k%d?versionId=%s" % (index, versions[index]), b""),
            KINDS[5]: lambda index: client.s3("GET", "/plain/k%d" % index, b""),
        }
        measured = {}
        for kind in KINDS:
            before = counter.settled()
            for index in range(REQUESTS):
                steps[kind](index)
            after = counter.settled()
            measured[kind] = {column: round((after[column] - before[column]) / REQUESTS, 2) for column in COLUMNS}
        return measured
    finally:
        os.kill(served, signal.SIGTERM)  # strace keeps SIGTERM from itself, and ends when its child does
        daemon.stop()


class _Counter:
    """The counts of the daemon's process ``pid`` (``bench/counted.py``'s,
    asked for with SIGUSR1) and of its syncs (strace's lines)."""

    def __init__(self, pid: int, counts_file: str, traced: str) -> None:
        self.pid, self.counts_file, self.traced = pid, counts_file, traced
        self.snapshot = 0

    def now(self) -> Dict[str, float]:
        self.snapshot += 1
        os.kill(self.pid, signal.SIGUSR1)
        deadline = time.monotonic() + 10
        while True:
            try:
                with open(self.counts_file) as written:
                    said = json.load(written)
                if said["snapshot"] >= self.snapshot:
                    break
            except (FileNotFoundError, ValueError):
                pass
            if time.monotonic() > deadline:
                raise SystemExit("bench: the counted daemon wrote no counts within 10 s")
            time.sleep(0.01)
        counts = said["counts"]
        with open(self.traced, "rb") as traced:
            trace = traced.read()
        return {"record operations": sum(value for name, value in counts.items() if name.startswith("records.")),
                "SQL statements": counts.get("statements", 0), "transactions": counts.get("transactions", 0),
                "syncs": len(_SYNC.findall(trace)),
                "KiB into WALs": _wal_bytes(trace) / 1024}

    def settled(self) -> Dict[str, float]:
        """The counts once none has moved for ``SETTLED`` seconds (at most 10 s)."""
        last, deadline = self.now(), time.monotonic() + 10
        while time.monotonic() < deadline:
            time.sleep(SETTLED)
            current = self.now()
            if current == last:
                break
            last = current
        return last


def _wal_bytes(trace: bytes) -> int:
    """The bytes written into files named ``*-wal`` by the ``pwrite64``
    calls strace saw (``_PWRITE``)."""
    written, started = 0, {}
    for pid, path, size in _PWRITE.findall(trace):
        if path:
            started[pid] = path
        if size and started.pop(pid, b"").endswith(b"-wal"):
            written += int(size)
    return written


class _Client:
    def __init__(self, port: int, s3_port: int, token: str, key: str, secret: str) -> None:
        self.data = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
        self.s3_connection = http.client.HTTPConnection("127.0.0.1", s3_port, timeout=60)
        self.host = "127.0.0.1:%d" % s3_port
        self.token = token
        self.signer = sigv4.Signer(key, secret, "us-east-1")

    def data_put(self) -> None:
        self.data.request("PUT", "/data/costs", os.urandom(SIZE), {"Authorization": "Bearer " + self.token})
        _answered(self.data.getresponse(), "/data PUT")

    def s3(self, method: str, target: str, body: bytes) -> str:
        """Send a signed request; the version id it answers with (or "")."""
        path, _, query = target.partition("?")
        headers = self.signer.sign(method, self.host, target, {}, {"Content-Length": str(len(body))},
                                   hashlib.sha256(body).hexdigest())
        self.s3_connection.request(method, target, body, headers)
        answer = self.s3_connection.getresponse()
        _answered(answer, "S3 %s %s" % (method, path))
        return answer.getheader("x-amz-version-id", "")


def _answered(answer: http.client.HTTPResponse, what: str) -> None:
    body = answer.read()
    if answer.status >= 300:
        raise SystemExit("bench: %s answered %d: %s" % (what, answer.status, body[:200]))


def _key_pair(daemon: Daemon, store: Sequence[str]) -> Tuple[str, str, str]:
    """(token, access key id, secret) of a new admin token, made by the
    daemon's own package (its PYTHONPATH) in its store."""
    done = subprocess.run([sys.executable, "-m", "filestoraged", "token", "create", "--scope", "admin", "--s3",
                           "--name", "costs", "--data-dir", daemon.data_dir, *store],
                          capture_output=True, text=True, check=True, env=daemon.env,
                          cwd=daemon.env["PYTHONPATH"])  # (``-m`` imports from its working directory first)
    said = dict(line.split("=", 1) for line in done.stdout.splitlines() if "=" in line)
    return said["FILESTORAGED_TOKEN"], said["AWS_ACCESS_KEY_ID"], said["AWS_SECRET_ACCESS_KEY"]

