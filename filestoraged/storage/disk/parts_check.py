"""Unfinished uploads' parts (``parts/<upload id>``, see ``layout``): what
a crash can leave there, found by ``fsck`` and set right by ``--repair``,
and by the first worker's pass after a run that did not stop cleanly or a
worker that died (``indexing.keep``).

- An upload's folder whose upload ended (no record names it: a stop
  between the record's removal and its parts') is reported; set right, it
  is removed, its files with their index rows and counts.
- A live upload's laid-out file whose index row is missing or says another
  size (a stop between a part's write and its count) is reported; set
  right, it is counted as it is, so ``--max-bytes`` sees its bytes.

Beside a serving daemon: the folders are listed before the live uploads
are read, and an upload's record is made before its first part, so a
folder listed and not live belongs to an upload that ended.
"""

from __future__ import annotations

import os
from typing import Callable, Collection, List, Optional, Protocol, Tuple

from ...errors import NotFound
from ..names import Namespace
from ..object_index import ObjectIndex
from . import shards
from .layout import FOLDER, LaidOut, stride_file

PARTS = "parts"


class PartsStore(Protocol):
    """What the check needs of the disk backend."""

    root: str
    index: ObjectIndex

    def namespace_dir(self, namespace: Namespace) -> str: ...

    def object_path(self, namespace: Namespace, oid: str) -> str: ...

    def count_file(self, namespace: Namespace, name: str, size: int) -> None: ...

    def delete(self, namespace: Namespace, oid: str) -> None: ...


def check_parts(backend: PartsStore, live: Callable[[], Optional[Collection[str]]], repair: bool
                ) -> Tuple[List[str], List[str]]:
    """``(ended, uncounted)``: folders of ended uploads, and laid-out files
    of live ones the index does not count as they are (each ``parts/<id>``
    or ``parts/<id>/<file>``); set right with ``repair``. ``live()``: the
    ids of the uploads the records hold (None: unknown, nothing judged)."""
    root = os.path.join(backend.root, PARTS)
    try:
        folders = sorted(name for name in os.listdir(root) if os.path.isdir(os.path.join(root, name)))
    except FileNotFoundError:
        return [], []
    known = live()
    if known is None:
        return [], []
    alive = set(known)
    ended, uncounted = [], []
    for upload_id in folders:
        namespace = Namespace("%s/%s" % (PARTS, upload_id))
        if upload_id not in alive:
            ended.append(namespace.path)
            if repair:
                _remove(backend, namespace)
            continue
        counted = backend.index.shard(namespace.path, FOLDER)  # the laid-out files' folder
        for name in _stride_files(backend, namespace):
            try:
                size = os.stat(backend.object_path(namespace, name)).st_size
            except FileNotFoundError:
                continue  # the upload ended meanwhile
            if counted.get(name) != size:
                uncounted.append("%s/%s" % (namespace.path, name))
                if repair:
                    backend.count_file(namespace, name, size)
    return ended, uncounted


def _stride_files(backend: PartsStore, namespace: Namespace) -> List[str]:
    return [name for name in shards.names_in(backend.namespace_dir(namespace), FOLDER) if stride_file(name)]


def _remove(backend: PartsStore, namespace: Namespace) -> None:
    """Every object of an ended upload's folder (parts stored apart), then
    its laid-out file, claims and folders, as the upload's own end does."""
    base = backend.namespace_dir(namespace)
    for _, name in shards.object_files(base):  # (the upload's own end may remove them meanwhile)
        if not stride_file(name):
            try:
                backend.delete(namespace, name)
            except NotFound:
                pass
    LaidOut(backend, namespace).discard()
    try:
        os.rmdir(base)
    except OSError:
        pass

