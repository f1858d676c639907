"""``filestoraged move-to-s3``: a disk store (objects, records, S3 keys and
their versions, tokens, share links, the key-value store) copied into an
S3 bucket, laid out as ``--backend s3 --records s3`` keeps a store, so
that any number of daemons can serve it from there.

It runs with the daemon stopped (it takes the data directory's lock, as a
daemon does): share-link reservations a stopped run left are given back
first, then every record is written to the bucket (what a write there
would have made: a record the bucket holds already is replaced, so the
move can be run again after a stop), then every object is put through the
S3 backend (one already there, of the same size, is kept: objects are
named by their SHA-256, so a second run copies only what the first did
not), then every object and record is looked up in the bucket again. What
is left out, as a backup leaves it: uploads not finished, the failed
attempts counted against addresses, the share-link holds.
"""

from __future__ import annotations

from contextlib import closing
from dataclasses import dataclass, field, replace
from typing import List

from ..catalog.parts import PARTS
from ..deployment import deployment_for
from ..deployment.local import META_DB
from ..errors import NotFound
from ..records.local import LocalRecords
from ..sharing.sweep import HOLDING, give_back
from ..storage.disk.backend import DiskBackend
from ..storage.interface import ObjectStream
from ..storage.names import Namespace
from ..workers import dirlock
from .make import UNFINISHED

LEFT_OUT = UNFINISHED + ("attempts/", HOLDING)


@dataclass
class Moved:
    records: int = 0
    objects: int = 0
    bytes: int = 0
    copied: int = 0  # objects put by this run (the others were there already)
    missing: List[str] = field(default_factory=list)  # what the check found absent from the bucket


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
        for name in names:
            found = local.get(name)
            if found is not None:
                value = found.value
                records.update(name, lambda old, value=value: value)
                moved.records += 1
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
        moved.missing += ["record " + name for name in names if records.get(name) is None]
        return moved
    finally:
        records.close()
        target.close()
        local.close()
        source.close()
        dirlock.release(lock)


def _there(target, namespace: Namespace, oid: str, size: int) -> bool:
    try:
        return target.stat(namespace, oid).size == size
    except NotFound:
        return False
