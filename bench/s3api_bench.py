"""The S3 API against SeaweedFS's S3 gateway (``weed mini``, on loopback)
and against the daemon's own ``/data`` face, in one run, taking turns:
boto3's ``put_object`` and ``get_object`` of 50 MiB, ``upload_file`` of
500 MiB (multipart, boto3's defaults), a ListObjectsV2 walk over 10,000
keys, a ListObjectVersions walk over 10,000 versions (2,000 keys of 5);
4 KiB PUTs into a versioned bucket against an unversioned one (the
daemon alone); the daemon's memory with 8 multipart uploads of 100
and of 200 MiB at once; and the lifecycle sweep's memory over 10,000
versions against 5,000 (in-process, on the stopped daemon's store).

The daemon runs as shipped but for ``--s3-api`` (the S3 API is off by
default), ``--auth all``, so that every request's signature is checked,
as SeaweedFS checks them, and ``--max-size 1G`` for the 500 MiB object. boto3 runs with its defaults (it adds a CRC-32
to uploads and asks for checksums on downloads) against both servers."""

from __future__ import annotations

import hashlib
import os
import subprocess
import statistics
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from typing import Callable, List, Tuple

from .common import MIB, Daemon, curl, ensure_tools, free_port
from .seaweed import KEY, REGION, SECRET, Seaweed

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
BIG = 50 * MIB
MULTIPART = 500 * MIB
LISTED = 10_000
PUTS = 200  # 4 KiB PUTs a run, into a versioned bucket and into an unversioned one
# Decision: the smaller size is 100 MiB, 20 parts an upload, so that both
# sizes keep the same parts in flight (4 per upload, 32 in all) for a
# while: uploads of 20 MiB (4 parts, one round) overlapped by chance, and
# their peak ran from 15 to 31 MiB from one run to the next against a
# steady 41-42 MiB for 200 MiB (about 1.3 MiB a part in flight).
AT_ONCE, SMALL, EACH = 8, 100 * MIB, 200 * MIB
PART, IN_FLIGHT = 5 * MIB, 4
SETTINGS = "--s3-api, --auth all, --max-size 1G"


def _boto3():
    try:
        import boto3
        from botocore.config import Config
    except ImportError:
        sys.exit("bench: the S3 API rows need boto3: run with .venv/bin/python (bin/test installs it)")
    return boto3, Config


def _client(endpoint: str, key: str, secret: str):
    boto3, Config = _boto3()
    return boto3.client("s3", endpoint_url=endpoint, region_name=REGION, aws_access_key_id=key,
                        aws_secret_access_key=secret,
                        config=Config(signature_version="s3v4", s3={"addressing_style": "path"},
                                      max_pool_connections=AT_ONCE * 10))


def _key_pair(daemon: Daemon) -> Tuple[str, str, str]:
    """(token, access key id, secret) of a new admin token with an S3 key pair."""
    done = subprocess.run([sys.executable, "-m", "filestoraged", "token", "create", "--scope", "admin", "--s3",
                           "--name", "bench-%d" % time.time_ns(), "--data-dir", daemon.data_dir],
                          capture_output=True, text=True, check=True, env=dict(os.environ, PYTHONPATH=ROOT))
    said = dict(line.split("=", 1) for line in done.stdout.splitlines() if "=" in line)
    return said["FILESTORAGED_TOKEN"], said["AWS_ACCESS_KEY_ID"], said["AWS_SECRET_ACCESS_KEY"]


def _timed(action: Callable[[], object]) -> float:
    """Seconds ``action`` took, from a page cache with nothing left to
    write. Decision: each run starts after a ``sync`` (not timed), so that
    no run pays for writes the one before it left to the kernel (the daemon
    syncs an upload before it answers; SeaweedFS leaves that to the
    kernel, and the two take turns)."""
    os.sync()
    start = time.perf_counter()
    action()
    return time.perf_counter() - start


def _pair(report, name: str, runs: int, ours: Callable[[], object], theirs: Callable[[], object], size: float,
          goal: float, unit: str = "MiB/s") -> None:
    """Both sides ``runs`` times, taking turns; the medians' ratio (``size``
    per run, in ``unit``'s measure: MiB, or keys)."""
    times: Tuple[List[float], List[float]] = ([], [])
    for _ in range(runs):
        times[0].append(_timed(ours))
        times[1].append(_timed(theirs))
    rate, ref = size / statistics.median(times[0]), size / statistics.median(times[1])
    report.add("%s %s (%s)" % (name, unit, SETTINGS), "%.0f" % rate, "%.0f" % ref, rate / ref,
               ">= %.1fx" % goal, rate / ref >= goal)


def run(work: str, runs: int, report) -> None:
    ensure_tools("curl")
    _boto3()
    big = os.urandom(BIG)
    oid = hashlib.sha256(big).hexdigest()
    big_file = os.path.join(work, "s3api-big.bin")
    with open(big_file, "wb") as handle:
        handle.write(big)
    huge_file = os.path.join(work, "s3api-500.bin")
    with open(huge_file, "wb") as handle:
        for _ in range(MULTIPART // BIG):
            handle.write(os.urandom(BIG))
    with Seaweed(work) as store:
        s3_port = free_port()
        daemon = Daemon(os.path.join(work, "s3api"), "--s3-api", "127.0.0.1:%d" % s3_port, "--auth", "all",
                        "--max-size", "1G")
        try:
            token, key, secret = _key_pair(daemon)
            ours = _client("http://127.0.0.1:%d" % s3_port, key, secret)
            theirs = _client(store.endpoint, KEY, SECRET)
            ours.create_bucket(Bucket="bench")
            for client in (ours, theirs):  # connections open, code paths warm
                client.put_object(Bucket="bench", Key="warm", Body=b"warm")
                client.get_object(Bucket="bench", Key="warm")["Body"].read()

            def put(client) -> Callable[[], object]:
                return lambda: client.put_object(Bucket="bench", Key="big.bin", Body=big)

            def get(client) -> Callable[[], object]:
                return lambda: client.get_object(Bucket="bench", Key="big.bin")["Body"].read()

            _pair(report, "S3 API 50 MiB put_object vs SeaweedFS", runs, put(ours), put(theirs), BIG / MIB, 1.0)
            _pair(report, "S3 API 50 MiB get_object vs SeaweedFS", runs, get(ours), get(theirs), BIG / MIB, 1.0)
            # The S3 face against /data with one client, curl, so that the
            # faces are compared and not two clients (boto3's own CPU).
            bearer = ("-H", "Authorization: Bearer " + token)
            signed = ("--aws-sigv4", "aws:amz:%s:s3" % REGION, "--user", "%s:%s" % (key, secret))
            s3_url, data_url = "http://127.0.0.1:%d/bench/curl.bin" % s3_port, daemon.url + "/data/bench"
            _pair(report, "S3 API 50 MiB PUT (curl --aws-sigv4) vs curl PUT /data", runs,
                  lambda: curl(*signed, "-H", "x-amz-content-sha256: UNSIGNED-PAYLOAD", "-T", big_file, s3_url),
                  lambda: curl(*bearer, "-H", "Expect:", "-T", big_file, data_url), BIG / MIB, 0.9)
            _pair(report, "S3 API 50 MiB GET (curl --aws-sigv4) vs curl GET /data", runs,
                  lambda: curl(*signed, s3_url), lambda: curl(*bearer, data_url + "/" + oid), BIG / MIB, 0.9)

            def upload(client) -> Callable[[], object]:
                return lambda: client.upload_file(huge_file, "bench", "huge.bin")

            _pair(report, "S3 API 500 MiB upload_file (multipart) vs SeaweedFS", runs,
                  upload(ours), upload(theirs), MULTIPART / MIB, 1.0)

            for client in (ours, theirs):
                with ThreadPoolExecutor(16) as pool:
                    list(pool.map(lambda n, to=client: to.put_object(Bucket="bench", Key="many/%06d" % n, Body=b"k"),
                                  range(LISTED)))

            def walk(client) -> Callable[[], object]:
                def listing() -> None:
                    pages = client.get_paginator("list_objects_v2").paginate(Bucket="bench", Prefix="many/")
                    count = sum(page.get("KeyCount", 0) for page in pages)
                    if count != LISTED:
                        raise SystemExit("bench: a listing gave %d keys of %d" % (count, LISTED))
                return listing

            # A walk takes 0.7 s, most of it boto3 reading the XML, and varies
            # by 5% from one to the next: three times the runs.
            _pair(report, "S3 API ListObjectsV2 of 10,000 keys vs SeaweedFS", 3 * runs, walk(ours), walk(theirs),
                  LISTED, 1.0, unit="keys/s")
            _versioning(report, runs, ours, theirs)
            growth = {size: _multipart_growth(daemon, ours, work, size) for size in (SMALL, EACH)}
            report.add("S3 API RSS growth, %d multipart uploads of %d / %d MiB at once, MiB (%s)"
                       % (AT_ONCE, SMALL // MIB, EACH // MIB, SETTINGS),
                       "%.1f / %.1f" % (growth[SMALL], growth[EACH]), "-", None,
                       "flat in size", growth[EACH] <= growth[SMALL] + 16)
        finally:
            daemon.stop()
        _lifecycle_walk(report, daemon.data_dir, runs)


def _versioning(report, runs: int, ours, theirs) -> None:
    """A versioned bucket's costs: 4 KiB PUTs of one key (each a new
    version) against the same into an unversioned bucket, and a
    ListObjectVersions walk over ``LISTED`` versions against SeaweedFS's."""
    small = os.urandom(4096)
    ours.create_bucket(Bucket="plain")
    for client in (ours, theirs):
        client.create_bucket(Bucket="versioned")
        client.put_bucket_versioning(Bucket="versioned", VersioningConfiguration={"Status": "Enabled"})

    def puts(bucket: str) -> Callable[[], object]:
        return lambda: [ours.put_object(Bucket=bucket, Key="same", Body=small) for _ in range(PUTS)]

    _pair(report, "S3 API 4 KiB PUT into a versioned bucket vs an unversioned one", runs, puts("versioned"),
          puts("plain"), PUTS, 0.9, unit="PUTs/s")
    keys = LISTED // 5
    for client in (ours, theirs):
        with ThreadPoolExecutor(16) as pool:
            list(pool.map(lambda n, to=client: to.put_object(Bucket="versioned", Key="v/%05d" % (n % keys), Body=b"v"),
                          range(LISTED)))

    def walk(client) -> Callable[[], object]:
        def listing() -> None:
            pages = client.get_paginator("list_object_versions").paginate(Bucket="versioned", Prefix="v/")
            count = sum(len(page.get("Versions", [])) for page in pages)
            if count != LISTED:
                raise SystemExit("bench: a listing of versions gave %d of %d" % (count, LISTED))
        return listing

    _pair(report, "S3 API ListObjectVersions of 10,000 versions vs SeaweedFS", 3 * runs, walk(ours), walk(theirs),
          LISTED, 1.0, unit="versions/s")


def _lifecycle_walk(report, data_dir: str, runs: int) -> None:
    """The lifecycle sweep's walk over the versioned bucket the rows above
    filled, in-process on the stopped daemon's store, with a rule that finds
    nothing due (so every version is read and none deleted): its peak of
    Python memory (tracemalloc) over ``LISTED`` versions against the same
    walk over half of them (the keys under ``v/00``: several pages too, so
    what is compared is the growth with the versions, not a page's size),
    and its rate."""
    import tracemalloc

    from filestoraged.app import App
    from filestoraged.catalog import lifecycle
    from filestoraged.config import Config

    app = App(Config(port=0, data_dir=data_dir))
    try:
        bucket = app.buckets.get("versioned")
        walks = {}
        for prefix in ("v/00", "v/"):
            rule = lifecycle.Rule(id="walk", enabled=True, prefix=prefix, noncurrent_days=10 ** 6).record()
            app.buckets.set_lifecycle(bucket, [rule])
            peaks, times = [], []
            for _ in range(runs):
                tracemalloc.start()
                start = time.perf_counter()
                if app.lifecycle.sweep(wait=True):
                    raise SystemExit("bench: the lifecycle walk deleted what was not due")
                times.append(time.perf_counter() - start)
                peaks.append(tracemalloc.get_traced_memory()[1])
                tracemalloc.stop()
            walks[prefix] = (statistics.median(peaks), statistics.median(times))
        app.buckets.set_lifecycle(bucket, None)
    finally:
        app.close()
    small, whole = walks["v/00"][0], walks["v/"][0]
    report.add("S3 lifecycle sweep peak memory, %d versions vs %d, KiB (in-process, tracemalloc)"
               % (LISTED, LISTED // 2), "%.0f" % (whole / 1024), "%.0f" % (small / 1024), whole / small,
               "<= 1.2x (flat)", whole <= 1.2 * small)
    report.add("S3 lifecycle sweep walk over %d versions, versions/s (in-process, tracemalloc on)" % LISTED,
               "%.0f" % (LISTED / walks["v/"][1]), "-", None, "-", True)


def _multipart_growth(daemon: Daemon, client, work: str, size: int) -> float:
    """MiB the daemon's peak RSS grows while ``AT_ONCE`` uploads of ``size``
    bytes go in parts at once."""
    from boto3.s3.transfer import TransferConfig

    path = os.path.join(work, "s3api-%d.bin" % size)
    with open(path, "wb") as handle:
        for _ in range(size // (20 * MIB)):
            handle.write(os.urandom(20 * MIB))
    baseline = daemon.rss()
    daemon.reset_peak()
    failures: List[BaseException] = []

    def upload(index: int) -> None:
        try:
            client.upload_file(path, "bench", "at-once/%d" % index, Config=TransferConfig(
                multipart_threshold=PART, multipart_chunksize=PART, max_concurrency=IN_FLIGHT))
        except BaseException as error:  # reported below
            failures.append(error)

    threads = [threading.Thread(target=upload, args=(index,)) for index in range(AT_ONCE)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    os.remove(path)
    if failures:
        raise SystemExit("bench: an upload failed: %r" % failures[0])
    return (daemon.rss("VmHWM") - baseline) / MIB
