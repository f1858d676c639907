"""``filestoraged fsck``: verify every object on disk against its name, and
every stored value that would reach a response header.

- Corrupt objects are reported; with ``--repair`` they are moved to
  ``<data-dir>/.corrupt/<namespace>/<sha256>`` so they are no longer served
  (a client then gets 404 and can upload the file again).
- Objects without a valid block record (a crash between record and object,
  a damaged record, or one of an older form) are reported; ``--repair``
  writes the record from the bytes that just matched the object's id.
  Records whose object is gone are reported and removed by ``--repair``.
- Stored content types and share-link file names that today's entry checks
  would refuse (``metadata``) are reported; ``--repair`` removes them (the
  object is then served as ``application/octet-stream``, the link without a
  file name). The daemon never sends them either way.
"""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass, field
from typing import Dict, List

from .. import blocks
from ..interface import ObjectInfo
from ..names import Namespace
from .backend import DiskBackend
from .files import RECORD_SUFFIX, read_record, remove_quietly
from .reader import DiskObject
from ...errors import CorruptObject
from ...base.header_values import is_media_type

log = logging.getLogger(__name__)


@dataclass
class Report:
    checked: int = 0
    corrupt: List[str] = field(default_factory=list)
    why: Dict[str, str] = field(default_factory=dict)  # what is wrong with each corrupt one
    repaired: List[str] = field(default_factory=list)
    unrecorded: List[str] = field(default_factory=list)  # no valid block record
    orphan_records: List[str] = field(default_factory=list)  # a block record with no object
    refused_values: List[str] = field(default_factory=list)  # "<where>: <field> <value>"

    @property
    def clean(self) -> bool:
        return not self.corrupt and not self.refused_values


def fsck(backend: DiskBackend, repair: bool = False) -> Report:
    report = Report()
    for namespace, oid in backend.all_objects():
        report.checked += 1
        where = "%s/%s" % (namespace.label, oid)
        try:
            digests = verify_file(backend, namespace, oid)
        except CorruptObject as error:
            report.corrupt.append(where)
            # Said once, by the report: the error names the object again.
            report.why[where] = str(error).replace("object %s" % oid, "the object")
            if repair:
                target_dir = os.path.join(backend.root, ".corrupt", namespace.label)
                os.makedirs(target_dir, exist_ok=True)
                os.replace(backend.object_path(namespace, oid), os.path.join(target_dir, oid))
                report.repaired.append(where)
            continue
        if not block_record_matches(backend, namespace, oid, digests):
            report.unrecorded.append(where)
            if repair:
                write_block_record(backend, namespace, oid, digests)
        content_type = backend.stat(namespace, oid).content_type
        if content_type is not None and not is_media_type(content_type):
            report.refused_values.append("%s: content type %s" % (where, ascii(content_type[:120])))
            if repair:
                backend.clear_content_type(namespace, oid)
    for namespace, record_path in orphan_records(backend):
        report.orphan_records.append("%s/%s" % (namespace.label, os.path.basename(record_path)))
        if repair:
            remove_quietly(record_path)
    if report.repaired:
        mark_repaired(backend)  # a daemon serving this directory counts its objects afresh
    return report


# What only fsck does with a disk store (kept out of the backend that serves).

def verify_file(backend: DiskBackend, namespace: Namespace, oid: str) -> List[bytes]:
    """Hash the file whole against its id (never from a cache, whatever its
    block record says); its block digests. ``CorruptObject`` if it differs."""
    path = backend.object_path(namespace, oid)
    fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
    info = ObjectInfo(oid, os.fstat(fd).st_size)
    with DiskObject(info, fd, None) as obj:
        return obj.verify_whole()


def block_record_matches(backend: DiskBackend, namespace: Namespace, oid: str, checks: List[bytes]) -> bool:
    """Whether the object has a record that is whole and says what its bytes are."""
    path = backend.object_path(namespace, oid)
    size = os.stat(path).st_size
    if not blocks.needs_record(size):
        return True
    return blocks.decode(read_record(path), oid, size) == checks


def write_block_record(backend: DiskBackend, namespace: Namespace, oid: str, checks: List[bytes]) -> None:
    path = backend.object_path(namespace, oid)
    backend.write_record(path, oid, os.stat(path).st_size, checks)


def orphan_records(backend: DiskBackend):
    """Block records whose object is not there (a delete that stopped between
    the two, or an upload that stopped before its object was linked)."""
    for namespace in backend.namespaces():
        base = backend.namespace_dir(namespace)
        for shard in sorted(os.listdir(base)) if os.path.isdir(base) else ():
            shard_dir = os.path.join(base, shard)
            if len(shard) != 2 or not os.path.isdir(shard_dir):
                continue
            for name in sorted(os.listdir(shard_dir)):
                owner = os.path.join(shard_dir, name[:-len(RECORD_SUFFIX)])
                if name.endswith(RECORD_SUFFIX) and not os.path.exists(owner):
                    yield namespace, os.path.join(shard_dir, name)


def mark_repaired(backend: DiskBackend) -> None:
    """Tell a daemon serving this directory that objects were moved away."""
    with open(backend.repaired_marker, "a"):
        pass
    os.utime(backend.repaired_marker)
