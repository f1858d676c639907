"""``filestoraged move-to-s3``: a disk store (objects, records, S3 keys and
their versions, tokens, share links, the key-value store) copied into an
S3 bucket, laid out as ``--backend s3 --records s3`` keeps a store, so
that any number of daemons can serve it from there.

It runs with the daemon stopped (it takes the data directory's lock, as a
daemon does): share-link reservations a stopped run left are given back
first, then every record is written to the bucket, then every object is
put through the S3 backend (one already there, of the same size, is kept:
objects are named by their SHA-256, so a second run copies only what the
first did not), then every object and record written is looked up in the
bucket again. What is left out, as a backup leaves it: uploads not
finished, the failed attempts counted against addresses, the share-link
holds.

Run again (a move cut short, or run twice), it never writes an older
state over a newer one. Daemons may have served the bucket since: a share
link spent, a token revoked, a key deleted. So each record written is
remembered in the data directory (``moved.db``: the bucket, the record's
name, the digest of what was written), and a later run writes only what
no run wrote: a record moved before and unchanged here is the bucket's to
keep, whatever became of it there. One changed here since it was moved,
or found in the bucket already with another value, is written by nobody
and named (``Moved.conflicts``): which of the two is newer, only the
operator knows.
"""

from __future__ import annotations

import hashlib
import json
import os
from contextlib import closing
from dataclasses import dataclass, field, replace
from typing import List, Optional, Tuple

from ..base.sqlite import open_database, transaction
from ..catalog.parts import PARTS
from ..deployment import deployment_for
from ..deployment.local import META_DB
from ..deployment.serving import SERVING
from ..errors import NotFound
from ..records.interface import EARLIER, WRITE_ID, Conflict, Records
from ..records.local import LocalRecords
from ..sharing.sweep import HOLDING, give_back
from ..storage.disk.backend import DiskBackend
from ..storage.interface import ObjectStream
from ..storage.names import Namespace
from ..workers import dirlock
from .make import UNFINISHED

LEFT_OUT = UNFINISHED + ("attempts/", HOLDING, SERVING)
MARKS_FILE = "moved.db"  # in the data directory: what each run wrote, per bucket


@dataclass
class Moved:
    records: int = 0
    objects: int = 0
    bytes: int = 0
    copied: int = 0  # objects put by this run (the others were there already)
    written: int = 0  # records written by this run (the others were moved by an earlier one)
    missing: List[str] = field(default_factory=list)  # what the check found absent from the bucket
    conflicts: List[str] = field(default_factory=list)  # records changed on both sides: written by nobody


def move_to_s3(config) -> Moved:
    """The disk store of ``config.data_dir`` into the bucket ``config``
    names (``--s3-endpoint``, ``--s3-bucket``), as the module says."""
    from ..app import make_backend

    target_config = replace(config, backend="s3", records="s3", cache="")
    lock = dirlock.hold(config.data_dir)
    moved = Moved()
    source = DiskBackend(config.data_dir, config.max_size, alone=False)
    local = LocalRecords(source.root + "/" + META_DB)
    target = make_backend(target_config)
    records, _ = deployment_for(target_config).open_records(getattr(target, "client", None))
    try:
        deployment_for(target_config).probe(records)
        give_back(local)
        names = [name for name in local.keys("") if not name.startswith(LEFT_OUT)]
        written: List[str] = []
        with Marks(config.data_dir, "%s/%s" % (config.s3_endpoint.rstrip("/"), config.s3_bucket)) as marks:
            for name in names:
                found = local.get(name)
                if found is not None:
                    moved.records += 1
                    move_record(records, marks, name, found.value, written, moved.conflicts)
        moved.written = len(written)
        stored = []
        for path in source.index.namespaces():
            if path.startswith(PARTS):
                continue
            namespace = Namespace(path)
            for rows in source.index.pages(path):
                for oid, size in rows:
                    stored.append((namespace, oid, size))
                    moved.objects += 1
                    moved.bytes += size
                    if not _there(target, namespace, oid, size):
                        obj = source.open(namespace, oid)
                        with closing(ObjectStream(obj)) as stream:
                            target.put(namespace, stream, obj.info.content_type, oid)
                        moved.copied += 1
        moved.missing = ["%s/%s" % (namespace.label, oid) for namespace, oid, size in stored
                         if not _there(target, namespace, oid, size)]
        moved.missing += ["record " + name for name in written if records.get(name) is None]
        return moved
    finally:
        records.close()
        target.close()
        local.close()
        source.close()
        dirlock.release(lock)


class Marks:
    """What the runs of the move wrote into one target (``target``: a
    bucket, a database): each record's name and the digest of the value
    written, in SQLite beside the store's records. Kept in memory until
    ``flush`` (by itself every ``flush_every``; None: only when asked, by a
    caller whose writes become lasting together, a transaction's): a mark
    must never be kept for a write that did not last, and a run cut short
    that lost the marks of its last writes finds those records written
    already, with the same value, and marks them then."""

    def __init__(self, data_dir: str, target: str, flush_every: Optional[int] = 1000) -> None:
        self.target = target
        self.flush_every = flush_every
        self._db = open_database(os.path.join(data_dir, MARKS_FILE))
        self._db.execute("CREATE TABLE IF NOT EXISTS marks (target TEXT NOT NULL, name TEXT NOT NULL, "
                         "digest TEXT NOT NULL, PRIMARY KEY (target, name))")
        self._pending: List[Tuple[str, str, str]] = []

    def get(self, name: str) -> Optional[str]:
        row = self._db.execute("SELECT digest FROM marks WHERE target = ? AND name = ?", (self.target, name)).fetchone()
        return None if row is None else row[0]

    def put(self, name: str, digest: str) -> None:
        self._pending.append((self.target, name, digest))
        if self.flush_every is not None and len(self._pending) >= self.flush_every:
            self.flush()

    def flush(self) -> None:
        """The marks put so far kept, in one transaction."""
        if self._pending:
            with transaction(self._db) as db:
                db.executemany("INSERT OR REPLACE INTO marks VALUES (?, ?, ?)", self._pending)
            self._pending.clear()

    def discard(self) -> None:
        """The marks put since the last flush dropped (their writes did not last)."""
        self._pending.clear()

    def __enter__(self) -> "Marks":
        return self

    def __exit__(self, *exc_info) -> None:
        try:
            self.flush()
        finally:
            self._db.close()


def move_record(records: Records, marks: Marks, name: str, value: dict, written: List[str],
                conflicts: List[str]) -> None:
    """One record into the bucket (or any records: ``records_move``), as
    ``Marks`` allows (see the module)."""
    wanted = digest(value)
    moved_before = marks.get(name)
    if moved_before == wanted:
        return  # moved, unchanged here since: what the bucket holds now is newer
    if moved_before is not None:
        conflicts.append(name)  # changed here since it was moved, and maybe there too
        return
    try:
        records.create(name, value)
    except Conflict:
        there = records.get(name)
        if there is None or digest(there.value) != wanted:
            conflicts.append(name)  # in the bucket already, otherwise: another hand's
            return
    marks.put(name, wanted)  # the bucket holds what this store holds (written now, or by a run cut short)
    written.append(name)


def digest(value: dict) -> str:
    """The digest of a record's value, without the write ids a bucket's records carry."""
    bare = {key: field_value for key, field_value in value.items() if key not in (WRITE_ID, EARLIER)}
    return hashlib.sha256(json.dumps(bare, sort_keys=True, separators=(",", ":")).encode()).hexdigest()


def _there(target, namespace: Namespace, oid: str, size: int) -> bool:
    try:
        return target.stat(namespace, oid).size == size
    except NotFound:
        return False
