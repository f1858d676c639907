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
"""

from __future__ import annotations

import json
import statistics
import time
from typing import Dict, List

from filestoraged.catalog.keys import Entry, Keys
from filestoraged.catalog.names import encode_key
from filestoraged.records.postgres import PostgresRecords
from filestoraged.wire.postgres import Connection

from .common import Report

SIZES = (1_000, 100_000, 1_000_000)
PAGE = 1000
ROWS_A_STATEMENT = 5000


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


def cluster():
    """A PostgreSQL cluster of its own (the tests' server: ``initdb`` in a
    folder of its own, a loopback port), or one line and an exit."""
    import unittest

    from tests.postgres_server import Postgres

    try:
        return Postgres()
    except unittest.SkipTest as missing:
        raise SystemExit("records bench: %s" % missing) from None
