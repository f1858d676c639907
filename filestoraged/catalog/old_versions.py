"""Stores made before key heads, brought to them on start.

Before heads (``heads``), a key's current object was its record alone and
every older version and delete marker a record of its own under
``s3/versions/<bucket>/<encoded key>,<sort id>``; a delete by version id
where the records take each step alone was remembered under
``s3/forgotten/`` so that a version kept again by a lost race could be
dropped. Brought to heads, each key's head lists its versions newest
first: an older object's record stays where it is (its name is its
``at``), a marker becomes an item of the head and its record goes, a
version deleted by its id (remembered) is not listed, one kept twice by a
stop midway is listed once, and a key left with an object but no current
one has that object current again, as the old code would have made it.

Done once per store, before it serves (``HEADS_FORM``, ``records.once``):
by the daemon, or the parent of its workers, that takes the turn; every
other daemon over the same records waits for the mark ``s3/format`` it
leaves.
Each key is changed by one swap of its head and a key with a head that
lists its versions already is left alone, so a conversion that stopped
midway is run again whole.
"""

from __future__ import annotations

import logging
from itertools import groupby
from typing import Dict, List, Set, Tuple

from ..records.interface import Conflict, Records
from ..records.once import Conversion
from .claims import name_record
from .heads import NULL, Head, is_marker, label
from .keys import Entry, head_name
from .names import decode_key

log = logging.getLogger(__name__)

FORMAT = "s3/format"
HEADS = 2  # the key records' form: 2, heads
OLD_VERSIONS = "s3/versions/"
OLD_FORGOTTEN = "s3/forgotten/"
TURN = "s3-format"
PAGE = 1000


def _converted(records: Records) -> None:
    converted = convert(records)
    if converted:
        log.info("the S3 keys of this store now keep their versions in their heads: %d keys converted", converted)


HEADS_FORM = Conversion(FORMAT, "keys", HEADS, TURN, _converted, "S3 keys")


def convert(records: Records) -> int:
    """Every key with older versions or markers under the old layout made
    a head that lists them; how many keys."""
    forgotten = _forgotten(records)
    done = 0
    old = ((name, record.value) for name, record in records.walk(OLD_VERSIONS, PAGE)
           if "-" not in name.rpartition(",")[2])  # a head's own records have a tag
    for (bucket, encoded), group in groupby(old, key=lambda item: _owner(item[0])):
        if _convert_key(records, bucket, decode_key(encoded), list(group), forgotten):
            done += 1
    for name in list(records.walk_keys(OLD_FORGOTTEN, PAGE)):
        records.delete(name)
    return done


def _owner(name: str) -> Tuple[str, str]:
    bucket, _, rest = name[len(OLD_VERSIONS):].partition("/")
    return bucket, rest.rpartition(",")[0]


def _forgotten(records: Records) -> Set[Tuple[str, str, str]]:
    """``(bucket, encoded key, version id)`` deleted by id and remembered."""
    found = set()
    for name in records.walk_keys(OLD_FORGOTTEN, PAGE):
        bucket, _, rest = name[len(OLD_FORGOTTEN):].partition("/")
        encoded, _, version = rest.rpartition(",")
        found.add((bucket, encoded, version))
    return found


def _convert_key(records: Records, bucket: str, key: str, found: List[Tuple[str, dict]],
                 forgotten: Set[Tuple[str, str, str]]) -> bool:
    """One key: its head made to list ``found`` (its old version records,
    newest first); False where its head lists versions already."""
    encoded = head_name(bucket, key).rpartition("/")[2]
    items: List[dict] = []
    entries: Dict[str, Entry] = {}
    markers: List[str] = []
    unlisted: List[dict] = []  # object versions no head lists: their records and names go
    for name, value in found:
        at = name.rpartition(",")[2]
        if value.get("marker"):
            markers.append(name)
            items.append({"id": value.get("version") or NULL, "marker": float(value["modified"])})
            continue
        entry = Entry.of(value)
        if (bucket, encoded, label(entry)) in forgotten:
            unlisted.append({"id": label(entry), "oid": entry.oid, "at": at})
            continue
        entries[at] = entry
        items.append({"id": label(entry), "oid": entry.oid, "at": at})
    promoted: List[dict] = []
    twice: List[dict] = []

    def listed(value):
        head = Head.of(value)
        promoted[:], twice[:] = [], []
        if value is not None and "older" in value:
            return None
        older = []
        for item in items:  # one kept twice by a stop midway: the current one stands
            (twice if head.current is not None and item["id"] == label(head.current) else older).append(item)
        if head.current is None and older and not is_marker(older[0]):
            promoted[:] = [older.pop(0)]
            head.current = entries[promoted[0]["at"]]
        if not older and not promoted:
            return None
        head.older = older
        return head.value()

    changed = records.update(head_name(bucket, key), listed) is not None
    for item in promoted:  # the name a current version holds its bytes by
        try:
            records.create(name_record(bucket, item["oid"], key, None), {})
        except Conflict:
            pass
    for item in (twice + promoted + unlisted) if changed else unlisted:
        records.delete(_record(bucket, encoded, item["at"]))
        records.delete(name_record(bucket, item["oid"], key, item["id"]))
    for name in markers:
        records.delete(name)
    return changed


def _record(bucket: str, encoded: str, at: str) -> str:
    return "%s%s/%s,%s" % (OLD_VERSIONS, bucket, encoded, at)
