"""``filestoraged fsck``: verify every object on disk against its name.

Corrupt objects are reported; with ``--repair`` they are moved to
``<data-dir>/.corrupt/<namespace>/<sha256>`` so they are no longer served
(a client then gets 404 and can upload the file again).
"""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass, field
from typing import List

from .disk import DiskBackend
from .errors import CorruptObject

log = logging.getLogger(__name__)


@dataclass
class Report:
    checked: int = 0
    corrupt: List[str] = field(default_factory=list)
    repaired: List[str] = field(default_factory=list)


def fsck(backend: DiskBackend, repair: bool = False) -> Report:
    report = Report()
    for namespace, oid in backend.all_objects():
        report.checked += 1
        try:
            with backend.open(namespace, oid) as obj:
                for _ in obj.chunks():
                    pass
        except CorruptObject as error:
            where = "%s/%s" % (namespace.label, oid)
            report.corrupt.append(where)
            log.error("corrupt: %s (%s)", where, error)
            if repair:
                target_dir = os.path.join(backend.root, ".corrupt", namespace.label)
                os.makedirs(target_dir, exist_ok=True)
                os.replace(backend.object_path(namespace, oid), os.path.join(target_dir, oid))
                report.repaired.append(where)
    return report
