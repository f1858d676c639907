"""Replication (docs/replication.md) between two daemons as shipped, each
with its S3 API on: 2,000 versions written at the source while the
target is down, then the backlog drained once it is back, against the
same number of PUTs sent straight to the target by one client, one after
another, in the same run (the sender sends one at a time too); then the
lag of versions written while the target is up: the time from a PUT's
answer at the source to its version's ``COMPLETED`` status. At the end,
every version is at the target once."""

from __future__ import annotations

import os
import statistics
import subprocess
import sys
import time
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from typing import List, Tuple

from tests.s3api_support import REGION

from .common import ROOT, Daemon, free_port

VERSIONS = 2000
LAGGED = 100  # versions whose lag is measured, written one after another while the target is up


def _client(port: int, pair: Tuple[str, str]):
    import boto3
    from botocore.config import Config

    return boto3.client("s3", endpoint_url="http://127.0.0.1:%d" % port, region_name=REGION,
                        aws_access_key_id=pair[0], aws_secret_access_key=pair[1],
                        config=Config(s3={"addressing_style": "path"}, signature_version="s3v4",
                                      max_pool_connections=16, retries={"max_attempts": 1}))


def _token(data_dir: str) -> Tuple[str, str]:
    done = subprocess.run([sys.executable, "-m", "filestoraged", "token", "create", "--scope", "admin", "--name",
                           "replica", "--s3", "--data-dir", data_dir], capture_output=True, text=True, check=True,
                          env=dict(os.environ, PYTHONPATH=ROOT))
    pairs = dict(line.split("=", 1) for line in done.stdout.splitlines() if "=" in line)
    return pairs["AWS_ACCESS_KEY_ID"], pairs["AWS_SECRET_ACCESS_KEY"]


def _backlog(daemon: Daemon) -> int:
    with urllib.request.urlopen(daemon.url + "/metrics", timeout=10) as answer:
        for line in answer.read().decode().splitlines():
            if line.startswith("filestoraged_replication_backlog "):
                return int(line.split()[1])
    raise RuntimeError("no filestoraged_replication_backlog in /metrics")


def run(work: str, runs: int, report) -> None:
    target_s3, source_s3 = free_port(), free_port()
    target_port = free_port()
    target = Daemon(os.path.join(work, "replication-target"), "--s3-api", "127.0.0.1:%d" % target_s3,
                    port=target_port)
    source = Daemon(os.path.join(work, "replication-source"), "--s3-api", "127.0.0.1:%d" % source_s3)
    try:
        pair = _token(target.data_dir)
        credentials = os.path.join(work, "replica.env")
        with open(credentials, "w") as file:
            file.write("AWS_ACCESS_KEY_ID=%s\nAWS_SECRET_ACCESS_KEY=%s\n" % pair)
        copies, ours = _client(target_s3, pair), _client(source_s3, ("anyone", "anything"))
        for client, name in ((copies, "copy"), (copies, "direct"), (ours, "photos")):
            client.create_bucket(Bucket=name)
            client.put_bucket_versioning(Bucket=name, VersioningConfiguration={"Status": "Enabled"})
        subprocess.run([sys.executable, "-m", "filestoraged", "bucket", "replicate", "photos",
                        "http://127.0.0.1:%d/copy" % target_s3, credentials, "--data-dir", source.data_dir],
                       check=True, capture_output=True, env=dict(os.environ, PYTHONPATH=ROOT))
        bodies = [os.urandom(4096) for _ in range(64)]
        started = time.monotonic()  # the reference: the same PUTs straight to the target, one after another
        for number in range(VERSIONS):
            copies.put_object(Bucket="direct", Key="k%d" % (number % 50), Body=bodies[number % 64])
        direct = VERSIONS / (time.monotonic() - started)
        target.stop()
        with ThreadPoolExecutor(8) as pool:  # written while the target is away: they wait in the outbox
            list(pool.map(lambda number: ours.put_object(Bucket="photos", Key="k%d" % (number % 50),
                                                         Body=bodies[number % 64]), range(VERSIONS)))
        waiting = _backlog(source)
        target.start()
        started = time.monotonic()
        while _backlog(source) > 0:
            if time.monotonic() - started > 600:
                raise RuntimeError("the backlog did not drain in 10 minutes")
            time.sleep(0.05)
        drained = waiting / (time.monotonic() - started)
        ratio = drained / direct
        report.add("replication backlog drained, 4 KiB versions/s", "%.0f" % drained, "%.0f direct PUTs" % direct,
                   ratio, ">= 0.5x", ratio >= 0.5)
        lags: List[float] = []
        for number in range(LAGGED):
            version = ours.put_object(Bucket="photos", Key="lag%d" % number, Body=bodies[number % 64])["VersionId"]
            written = time.monotonic()
            while ours.head_object(Bucket="photos", Key="lag%d" % number,
                                   VersionId=version).get("ReplicationStatus") != "COMPLETED":
                time.sleep(0.01)
            lags.append(time.monotonic() - written)
        lags.sort()
        report.add("replication lag, median / p99 s", "%.2f / %.2f" % (statistics.median(lags),
                                                                     lags[int(len(lags) * 0.99) - 1]),
                   "-", None, "<= 2 s median", statistics.median(lags) <= 2.0)
        kept = 0
        for page in copies.get_paginator("list_object_versions").paginate(Bucket="copy"):
            kept += len(page.get("Versions", []))
        report.add("replication: versions at the target / written", "%d / %d" % (kept, VERSIONS + LAGGED), "-",
                   None, "each once", kept == VERSIONS + LAGGED)
    finally:
        source.stop()
        target.stop()

