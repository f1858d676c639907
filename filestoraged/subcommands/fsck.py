"""``fsck``: every stored object checked against its digest (``storage``'s
own fsck does the work), its progress on a terminal, and the report."""

from __future__ import annotations

import os
import sys
import time

from ..client.progress import WIDTH, size_text
from ..workers.startup import fail, no_data_dir


def run_fsck(config) -> int:
    from ..deployment import deployment_for
    from ..storage.disk.backend import DiskBackend
    from ..storage.disk.fsck import fsck

    if config.backend == "s3":
        return run_s3_fsck(config)
    if config.backend != "disk":
        return fail("fsck checks the disk and s3 backends", 2)
    if not os.path.isdir(config.data_dir):
        return no_data_dir(config)
    # Safe beside a serving daemon, --repair too: nothing in .tmp is
    # touched, and every change takes the lock uploads take (storage.disk.fsck).
    backend = DiskBackend(config.data_dir, config.max_size, alone=False)
    try:
        shown = FsckProgress(backend.index.totals()[0])
        deployment = deployment_for(config)
        report = fsck(backend, repair=config.repair, progress=shown, live_uploads=deployment.upload_ids)
        report.refused_values += deployment.check_links(config.repair)
        keys = deployment.check_keys(backend, config.repair)
    finally:
        backend.close()
    fixed = config.repair
    print("%d objects checked, %d corrupt, %d moved to .corrupt/, %d without a block record%s, "
          "%d stored values refused%s"
          % (report.checked, len(report.corrupt), len(report.repaired), len(report.unrecorded),
             " (written)" if fixed else "", len(report.refused_values), " (removed)" if fixed else ""))
    for where in report.corrupt:
        print("corrupt: %s (%s)" % (where, report.why.get(where, "")))
    if report.orphan_records:
        print("%d block records without their object%s" % (len(report.orphan_records), " (removed)" if fixed else ""))
    for where in report.refused_values:
        print("refused value: " + where)
    for found, what in ((report.unindexed, "stored but missing from the object index"),
                        (report.vanished, "named by the object index but gone")):
        if found:
            print("%d objects %s%s: %s" % (len(found), what, " (set right)" if fixed else "",
                                           ", ".join(found[:5]) + (" ..." if len(found) > 5 else "")))
    for found, what in ((report.ended_uploads, "folders of uploads that ended (a stop between their end and their "
                                               "parts'); removed by --repair"),
                        (report.uncounted_parts, "upload files not counted as they are (a stop between a part's "
                                                 "write and its count)")):
        if found:
            print("%d %s%s: %s" % (len(found), what, " (set right)" if fixed else "",
                                   ", ".join(found[:5]) + (" ..." if len(found) > 5 else "")))
    for found, what in ((report.journal_dropped, "parts of the journal that do not hold (a torn tail a crash left: "
                                                 "the next start drops them)"),
                        (report.journal_unrested, "journaled objects not whole at rest (the next start writes them "
                                                  "from the journal)")):
        if found:
            print("%d %s: %s" % (len(found), what, ", ".join(found[:5]) + (" ..." if len(found) > 5 else "")))
    if report.totals:
        print(report.totals + (" (set right)" if fixed else ""))
    if keys_said(keys, fixed):
        return 1
    return 1 if not (report.clean and not (keys and keys.unclaimed)) and not fixed else 0


def keys_said(keys, fixed: bool) -> bool:
    """``fsck``'s lines about the S3 keys and versions (``catalog.keys_check``);
    whether it found what only a person can mend."""
    if keys is not None and keys.checked:
        print("%d S3 keys and versions checked" % keys.checked)
    for found, what, mended in ((keys.gone if keys else [], "name objects that are not stored (restore them from "
                                 "a backup, or delete the key)", ""),
                                (keys.unclaimed if keys else [], "do not hold their bytes", " (held again)"),
                                (keys.bad_locks if keys else [], "carry an object lock that is wrong (left as it is: "
                                 "a person decides)", ""),
                                (keys.lost if keys else [], "are listed by their key but their record is missing "
                                 "(restore it from a backup, or delete the version by its id)", "")):
        if found:
            print("%d S3 keys and versions %s%s: %s" % (len(found), what, mended if fixed else "",
                                                        ", ".join(found[:5]) + (" ..." if len(found) > 5 else "")))
    return keys is not None and bool(keys.gone or keys.bad_locks or keys.lost)


class FsckProgress:
    """fsck's progress on stderr when it is a terminal (objects, bytes,
    rate, what is left against the index's count); nothing otherwise."""

    def __init__(self, expected: int, stream=sys.stderr) -> None:
        self._expected = expected
        self._stream = stream
        self._shown = stream.isatty()
        self._started = self._last = time.monotonic()

    def __call__(self, objects: int, size: int, done: bool) -> None:
        now = time.monotonic()
        if not self._shown or (not done and now - self._last < 0.5):
            return
        self._last = now
        rate = objects / max(now - self._started, 1e-6)
        line = "fsck: %d objects, %s, %d objects/s" % (objects, size_text(size), rate)
        if not done and self._expected > objects and rate > 0:
            line += ", %d%%, about %d s left" % (100 * objects // self._expected, (self._expected - objects) / rate)
        self._stream.write("\r" + line.ljust(WIDTH)[:WIDTH] + ("\n" if done else ""))
        self._stream.flush()


def run_s3_fsck(config) -> int:
    """The bucket's streamed objects: records that do not read, bodies no
    record names (``--repair`` removes those a day old; see storage.s3.fsck);
    the parts of uploads that ended (``--repair`` removes them); with the
    records in a database, the S3 keys and versions against the
    bytes, read through the database's index (never a listing of the
    bucket). Safe beside serving daemons."""
    from ..storage.s3.client import configured
    from ..storage.s3.fsck import GRACE, ended_parts, fsck

    import tempfile
    from dataclasses import replace

    from ..app import make_backend
    from ..config.checks import records_in_database
    from ..deployment import deployment_for

    deployment = deployment_for(config)
    keys = None
    client = configured(config)
    with tempfile.TemporaryDirectory(prefix="fsd-fsck-") as scratch:  # (fsck makes no data directory)
        backend = make_backend(replace(config, data_dir=scratch))
        try:
            report = fsck(client, repair=config.repair)
            ended = ended_parts(client, deployment.upload_ids, backend.delete, config.repair)
            if records_in_database(config.records):  # the keys read through the database's index
                keys = deployment.check_keys(backend, config.repair)
        finally:
            backend.close()
            client.close()
    print("%d records, %d bodies, %d records unreadable, %d bodies no record names (over %d h old)%s"
          % (report.records, report.bodies, len(report.unreadable), len(report.unnamed), GRACE // 3600,
             ", %d removed" % len(report.removed) if config.repair else ""))
    for key in report.unreadable:
        print("unreadable record: " + key)
    for key in report.unnamed:
        print("unnamed body: " + key)
    if ended:
        print("%d folders of uploads that ended (a stop between their end and their parts')%s: %s"
              % (len(ended), " (removed)" if config.repair else "; removed by --repair",
                 ", ".join(ended[:5]) + (" ..." if len(ended) > 5 else "")))
    worse = keys_said(keys, config.repair)
    return 1 if worse or report.unreadable or ((report.unnamed or ended) and not config.repair) or (
        keys is not None and keys.unclaimed and not config.repair) else 0
