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

Where the ids of the live unfinished uploads are known (``ended_parts``),
the parts of uploads that ended are found too: a daemon killed between an
upload's end (its records removed) and the removal of its parts'
objects left them under ``parts/<id>/``; ``--repair`` removes them.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field
from typing import Callable, Collection, Dict, List, Optional, Set, Tuple

from ...errors import CorruptObject, NotFound
from ..names import Namespace, is_object_id
from . import refs, whole
from .client import S3Client

log = logging.getLogger(__name__)

GRACE = 24 * 3600.0
PARTS = "parts/"  # unfinished uploads' parts: parts/<upload id>/<ab>/<oid>
NAMESPACES = ("files/", "repos/", "shares/", PARTS)  # where records live (see key_of)


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


def ended_parts(client: S3Client, live: Callable[[], Optional[Collection[str]]],
                remove: Callable[[Namespace, str], None], repair: bool = False) -> List[str]:
    """The folders (``parts/<id>``) of uploads that ended; with ``repair``
    their objects removed (``remove(namespace, oid)``: a backend's delete,
    bodies and all), then whatever else is left there. The folders are
    listed before the live uploads are read (``live()``; None: not known
    here, nothing judged), and an upload's record is made before its
    first part, so a folder listed and not live belongs to an upload that
    ended."""
    folders: Dict[str, Set[str]] = {}
    for key, _ in client.keys(PARTS):
        upload_id, _, rest = key[len(PARTS):].partition("/")
        name = rest.rsplit("/", 1)[-1]
        for suffix in (refs.SUFFIX, whole.BLOCKS):
            if name.endswith(suffix):
                name = name[:-len(suffix)]
        folders.setdefault(upload_id, set()).update([name] if is_object_id(name) else [])
    known = live()
    if known is None:
        return []
    ended = sorted(set(folders) - set(known))
    for upload_id in ended if repair else ():
        namespace = Namespace(PARTS + upload_id)
        for oid in sorted(folders[upload_id]):
            try:
                remove(namespace, oid)
            except NotFound:
                pass
        for key, _ in client.keys(PARTS + upload_id + "/"):  # what no object of it names (a block record left)
            client.request("DELETE", key, ok=(200, 204)).release()
        log.info("removed the parts of the upload %s, which ended", upload_id)
    return [PARTS + upload_id for upload_id in ended]


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
