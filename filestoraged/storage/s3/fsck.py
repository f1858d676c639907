"""``filestoraged fsck`` for the S3 backend: the records that name streamed
bodies, and the bodies no record names.

A body is left unnamed when a daemon dies between a streamed upload's body
and its record, or between a delete's removal of the record and of the
body, or when the loser of a race could not remove its own: never read,
only space. ``--repair`` removes those older than ``GRACE`` by the store's
clock (a body is named within moments of being stored, so a day leaves a
wide margin), after listing the records a second time: a record written
while the first listing ran is seen by the second.

Records that do not read (torn, misplaced, not ours) are reported, never
removed, and while there is one ``--repair`` removes no body: the one it
names may be among them.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field
from typing import List, Optional, Set, Tuple

from ...errors import CorruptObject
from . import refs
from .client import S3Client

log = logging.getLogger(__name__)

GRACE = 24 * 3600.0
NAMESPACES = ("files/", "repos/", "shares/", "parts/")  # where records live (see key_of; parts/: multipart uploads')


@dataclass
class Report:
    records: int = 0
    bodies: int = 0
    unnamed: List[str] = field(default_factory=list)  # older than the grace
    removed: List[str] = field(default_factory=list)
    unreadable: List[str] = field(default_factory=list)

    @property
    def clean(self) -> bool:
        return not self.unnamed and not self.unreadable


def fsck(client: S3Client, repair: bool = False, grace: float = GRACE, now: Optional[float] = None) -> Report:
    report = Report()
    bodies = list(client.listing(refs.BODIES))  # before the records: a body named meanwhile is seen
    report.bodies = len(bodies)
    cutoff = (now if now is not None else _store_now(client)) - grace  # the store's clock, as its times are
    named, report.records, report.unreadable = _named(client)
    report.unnamed = sorted(key for key, _, modified in bodies if modified < cutoff and key not in named)
    # A record that does not read might name any of them: then nothing goes.
    if repair and report.unnamed and not report.unreadable:
        named_again, _, _ = _named(client)
        for key in report.unnamed:
            if key in named_again:
                continue
            client.request("DELETE", key, ok=(200, 204)).release()
            report.removed.append(key)
            log.info("removed %s, a body no record names", key)
    return report


def _named(client: S3Client) -> Tuple[Set[str], int, List[str]]:
    """The bodies every record names, how many records, and those that do not read."""
    named: Set[str] = set()
    unreadable: List[str] = []
    count = 0
    for prefix in NAMESPACES:
        for key, _ in client.keys(prefix):
            if not key.endswith(refs.SUFFIX):
                continue
            count += 1
            try:
                found = refs.read(client, key, key.rsplit("/", 1)[1][:-len(refs.SUFFIX)])
            except CorruptObject as error:
                unreadable.append(key)
                log.error("%s", error)
                continue
            if found is not None:  # else deleted since the listing
                named.add(found[1].body)
    return named, count, unreadable


def _store_now(client: S3Client) -> float:
    """The store's time, from the ``Date`` of a bucket HEAD (this machine's
    if it sends none or one that does not read)."""
    response = client.request("HEAD", "")
    response.release()
    said = response.store_time()
    return time.time() if said is None else said
