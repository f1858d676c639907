"""``filestoraged backup DEST``: a consistent copy of a store while it
serves (disk backend, ``--records local``), made into ``DEST``, which is
then a store's data directory of its own (``restore`` makes one of it).

What is copied and how:
- every object with its block record, hard-linked where ``DEST`` is on the
  store's file system, else copied (``placing``); an object already in
  ``DEST`` is kept, so a second backup into the same folder copies only
  what is new, and removes what is gone;
- the records (``meta.db``: tokens, share links, the KV store, S3 keys,
  versions and buckets) and the object index (``objects.db``), each through
  SQLite's backup API: a snapshot of one moment, taken while writes go on;
- the S3 server key (``s3.key``), kept readable by its owner only.

Consistency. The records are taken first, the index second: the store
writes an object before any record names it and lets go of an object only
after its last name went (S3 keys' bytes a sweep later, share links' with
the link), so what the records name is in the index and on disk, unless
it was deleted in the moment between the two snapshots. That is checked
(every S3 key, version and share link must find its bytes in ``DEST``):
where one does not, both snapshots are taken again. Objects are linked
once before the snapshots and once after (what came meanwhile), so the
second pass is short; what the index does not name at its snapshot is
removed from ``DEST``. Uploads not yet finished (S3 multipart, tus) are
left out, with their records: their clients send them again.

``DEST/backup.json`` (the manifest) is written last: a folder without one
is not a finished backup.
"""

from __future__ import annotations

import fcntl
import json
import os
import time
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from typing import Iterator, List

from .. import __version__
from ..base.timestamps import iso_utc
from ..catalog.keys_check import check_keys
from ..catalog.parts import PARTS
from ..catalog.unfinished import UPLOADS as S3_UPLOADS
from ..deployment.local import META_DB
from ..errors import Conflict, NotFound
from ..records.local import LocalRecords
from ..sharing.sweep import LINKS
from ..storage.disk.backend import DiskBackend
from ..storage.disk.files import RECORD_SUFFIX
from ..storage.disk.indexing import INDEX_FILE, SHARDS
from ..storage.names import SHARES, Namespace
from ..storage.object_index import RUNNING
from ..tus.shared import UPLOADS as TUS_UPLOADS
from .copies import Placed, clear, copy_database, copy_secret, open_store, place

MANIFEST = "backup.json"
FORMAT = 1
SERVER_KEY = "s3.key"
ATTEMPTS = 5  # snapshots taken before giving up on a store whose deletes keep outrunning them
UNFINISHED = (S3_UPLOADS, PARTS, TUS_UPLOADS)  # records of uploads not finished: left out
_LOCK = ".backup.lock"


@dataclass
class Manifest:
    format: int
    filestoraged: str  # the version that made it
    source: str
    started: str
    finished: str
    objects: int
    bytes: int
    new: int  # objects this run placed (linked or copied); an earlier backup's are kept
    removed: int  # objects in the folder that the store no longer had
    how: str  # "hard links" (the folder is on the store's file system) or "copies"

    def write(self, dest: str) -> None:
        partial = os.path.join(dest, MANIFEST + ".partial")
        with open(partial, "w") as out:
            json.dump(asdict(self), out, indent=1)
            out.write("\n")
            out.flush()
            os.fsync(out.fileno())
        os.replace(partial, os.path.join(dest, MANIFEST))


def read_manifest(folder: str) -> Manifest:
    """The manifest of the backup in ``folder``; ``NotFound`` when it is not a finished backup."""
    try:
        with open(os.path.join(folder, MANIFEST)) as found:
            value = json.load(found)
    except FileNotFoundError:
        raise NotFound("%s holds no finished backup (no %s)" % (folder, MANIFEST)) from None
    except ValueError:
        raise Conflict("%s: %s cannot be read" % (folder, MANIFEST)) from None
    if not isinstance(value, dict) or value.get("format") != FORMAT:
        raise Conflict("%s: a backup of another format (%r); restore it with the version that made it"
                       % (folder, value.get("format") if isinstance(value, dict) else None))
    return Manifest(**{name: value.get(name) for name in Manifest.__dataclass_fields__})


def make_backup(data_dir: str, dest: str, max_size: int) -> Manifest:
    """A backup of the store in ``data_dir`` into ``dest``, as the module says."""
    started = time.time()
    # A folder a backup was made in (finished or cut short: its lock file
    # says so) is taken up again; one that holds a store is never written into.
    if os.path.exists(os.path.join(dest, META_DB)) and not os.path.exists(os.path.join(dest, _LOCK)):
        raise Conflict("%s holds a store, not a backup: back up into an empty folder or an earlier backup" % dest)
    os.makedirs(dest, exist_ok=True)
    with _alone_in(dest):
        clear(os.path.join(dest, MANIFEST))  # unfinished until written again
        source = DiskBackend(data_dir, max_size, alone=False)
        placed = Placed()
        try:
            with open_store(dest, max_size) as target:
                for namespace in source.namespaces():
                    _place_stored(source, target, namespace, placed)
            for _ in range(ATTEMPTS):
                copy_database(os.path.join(data_dir, META_DB), os.path.join(dest, META_DB))
                copy_database(os.path.join(data_dir, INDEX_FILE), os.path.join(dest, INDEX_FILE))
                _drop_unfinished(os.path.join(dest, META_DB))
                with open_store(dest, max_size) as target:
                    removed = _match_index(source, target, placed)
                    if not _unstored(target):
                        objects, size = target.index.totals()
                        break
            else:
                raise Conflict("objects kept being deleted between the records' snapshot and the index's %d times: "
                               "run the backup again when the store is quieter" % ATTEMPTS)
        finally:
            source.close()
        copy_secret(os.path.join(data_dir, SERVER_KEY), os.path.join(dest, SERVER_KEY))
        os.sync()  # every link, copy and folder on disk before the manifest says the backup is whole
        manifest = Manifest(FORMAT, __version__, os.path.abspath(data_dir), iso_utc(started), iso_utc(time.time()),
                            objects, size, placed.new, removed,
                            "copies" if placed.copied or not _one_file_system(data_dir, dest) else "hard links")
        manifest.write(dest)
        return manifest


def _place_stored(source: DiskBackend, target: DiskBackend, namespace: Namespace, placed: Placed) -> None:
    """Every object found in ``namespace``'s folders now, placed in ``target``."""
    for shard in SHARDS:
        for oid in source.shard_names(namespace, shard):
            path = source.object_path(namespace, oid)
            try:
                size = os.stat(path).st_size
            except FileNotFoundError:
                continue  # deleted meanwhile
            place(path, target.object_path(namespace, oid), size, placed)


def _drop_unfinished(meta_db: str) -> None:
    records = LocalRecords(meta_db)
    try:
        for prefix in UNFINISHED:
            for key in list(records.keys(prefix)):
                records.delete(key)
    finally:
        records.close()


def _match_index(source: DiskBackend, target: DiskBackend, placed: Placed) -> int:
    """``target``'s objects made those its (copied) index names: each placed
    from ``source`` (a row whose object went since the snapshot is dropped:
    its delete had begun), each other one removed; how many were removed.
    Unfinished uploads' parts are left out."""
    index = target.index
    with index.changing() as change:
        change.unset(RUNNING)  # the run the snapshot caught is not this store's
        change.db.execute("DELETE FROM objects WHERE namespace LIKE ?", (PARTS + "%",))
    for path in index.namespaces():
        namespace = Namespace(path)
        for rows in index.pages(path):
            gone = [oid for oid, size in rows
                    if not place(source.object_path(namespace, oid), target.object_path(namespace, oid), size, placed)]
            with index.changing() as change:
                for oid in gone:
                    change.drop(path, oid)
    removed = 0
    for namespace in target.namespaces():
        for shard in SHARDS:
            indexed = index.shard(namespace.path, shard)
            for oid in target.shard_names(namespace, shard):
                if oid not in indexed:
                    path = target.object_path(namespace, oid)
                    clear(path + RECORD_SUFFIX)
                    clear(path)
                    removed += 1
    index.set_totals(index.counted())
    return removed


def _unstored(target: DiskBackend) -> List[str]:
    """What the copied records name that the copied store does not hold:
    S3 keys and versions, share links."""
    records = LocalRecords(os.path.join(target.root, META_DB))
    try:
        missing = check_keys(records, target, repair=False).gone
        for key, record in records.items(LINKS):
            try:
                target.stat(SHARES, record.value["oid"])
            except NotFound:
                missing.append("share link " + key[len(LINKS):])
        return missing
    finally:
        records.close()


def _one_file_system(first: str, second: str) -> bool:
    return os.stat(first).st_dev == os.stat(second).st_dev


@contextmanager
def _alone_in(dest: str) -> Iterator[None]:
    """One backup at a time into ``dest``."""
    with open(os.path.join(dest, _LOCK), "a") as lock:
        try:
            fcntl.flock(lock.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise Conflict("another backup into %s is running" % dest) from None
        yield
