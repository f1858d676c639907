"""``filestoraged restore BACKUP``: a store made of a backup, in a data
directory that holds none yet (a new folder, or an empty one made for the
service user: what is restored then belongs to that folder's owner).

The records and the object index are copied (never linked: the daemon
writes into them); the objects are hard-linked from the backup where both
are on one file system (the store never writes into an object, so the
backup stays as it was), else copied. Every object the backup's index
names must be there: one that is not is reported, and ``fsck`` names what
it leaves without bytes."""

from __future__ import annotations

import os
import shutil
from typing import List

from ..base.ownership import give
from ..deployment.local import META_DB
from ..errors import Conflict
from ..storage.disk.indexing import INDEX_FILE
from ..storage.names import Namespace
from .copies import Placed, clear, copy_database, copy_secret, open_store, place, regular
from .make import MANIFEST, SERVER_KEY, Manifest, read_manifest


def restore(backup: str, data_dir: str, max_size: int) -> "tuple[Manifest, Placed, List[str]]":
    """The store in ``data_dir`` made of the backup in ``backup``: its
    manifest, what was placed and how, and the objects the backup lacked.
    A restore refused midway (a file of the backup that is no regular
    file: ``copies.regular``) leaves nothing of itself in ``data_dir``."""
    regular(os.path.join(backup, MANIFEST))
    manifest = read_manifest(backup)
    for name in (META_DB, INDEX_FILE):
        if os.path.exists(os.path.join(data_dir, name)):
            raise Conflict("%s holds a store already: restore into a new or empty folder, then point --data-dir "
                           "at it" % data_dir)
    made = not os.path.exists(data_dir)
    os.makedirs(data_dir, exist_ok=True)
    there = set(os.listdir(data_dir))
    try:
        placed, lacking = _restore(backup, data_dir, max_size)
    except BaseException:
        if made:
            shutil.rmtree(data_dir, ignore_errors=True)
        else:
            for name in set(os.listdir(data_dir)) - there:
                path = os.path.join(data_dir, name)
                if os.path.isdir(path) and not os.path.islink(path):
                    shutil.rmtree(path, ignore_errors=True)
                else:
                    clear(path)
        raise
    _give_to_owner(data_dir)
    os.sync()
    return manifest, placed, lacking


def _restore(backup: str, data_dir: str, max_size: int) -> "tuple[Placed, List[str]]":
    for name in (META_DB, INDEX_FILE):
        copy_database(os.path.join(backup, name), os.path.join(data_dir, name))
    copy_secret(os.path.join(backup, SERVER_KEY), os.path.join(data_dir, SERVER_KEY))
    placed, lacking = Placed(), []
    with open_store(backup, max_size) as source, open_store(data_dir, max_size) as target:
        index = target.index
        # Nothing is being written into a restored store: what the copied
        # store's writes held against bucket quotas goes, its unfinished
        # resumable uploads' holds too (a backup leaves those uploads out).
        index.release_held("")
        for path in index.namespaces():
            namespace = Namespace(path)
            for rows in index.pages(path):
                for oid, size in rows:
                    if not place(source.object_path(namespace, oid), target.object_path(namespace, oid), size,
                                 placed):
                        lacking.append("%s/%s" % (namespace.label, oid))
    return placed, lacking


def _give_to_owner(data_dir: str) -> None:
    """What root restored into a folder someone else owns (the service
    user's, made for it) becomes that owner's, as the daemon must read
    and write it."""
    if os.geteuid() != 0:
        return
    owner = os.stat(data_dir)
    if owner.st_uid != 0:
        give(data_dir, owner.st_uid, owner.st_gid)

