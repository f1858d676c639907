"""A versioned bucket's versions, read from the keys' heads (``heads``):
one key's (``of``, ``find``), every key's in order (``page``,
ListObjectVersions), and the records that hold an older object's entry
(``s3/versions/<bucket>/<encoded key>,<at>``), written once each.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Iterator, List, Optional, Tuple, Union

from ..errors import BackendUnavailable
from ..records.interface import Records
from .heads import NULL, Head, is_marker, item_sort, label
from .keys import KEYS, Entry, head_name
from .names import before, decode_key, encode_key, past

VERSIONS = "s3/versions/"
_BATCH = 256  # heads read at a time while listing


@dataclass(frozen=True)
class Version:
    """One version of a key: an object (``entry``) or a delete marker
    (``entry`` None), its id, when it was made, and its place (``sort``:
    its sort id among the key's older versions; "" for the current one)."""

    key: str
    id: str
    modified: float
    entry: Optional[Entry]
    sort: str = ""
    marker_by: Optional[str] = None  # a delete marker's: the name of the token that made it

    @property
    def maker(self) -> Optional[str]:
        """The name of the token that made this version (None: not known)."""
        return self.entry.maker if self.entry is not None else self.marker_by

    @property
    def marker(self) -> bool:
        return self.entry is None


@dataclass(frozen=True)
class VersionPage:
    """A page of ListObjectVersions: ``(Version, latest)`` and common
    prefixes (strings), in order."""

    items: List[Union[Tuple[Version, bool], str]]
    truncated: bool


class Versions:
    def __init__(self, records: Records) -> None:
        self.records = records

    def head(self, bucket: str, key: str) -> Head:
        record = self.records.get(head_name(bucket, key))
        return Head.of(None if record is None else record.value)

    def entry_at(self, bucket: str, key: str, at: str, lost_ok: bool = False) -> Optional[Entry]:
        """The entry of the older version whose record is ``at``; where that
        record is missing (a store damaged: ``fsck`` says so), None with
        ``lost_ok``, else ``BackendUnavailable``."""
        record = self.records.get(self._name(bucket, key, at))
        if record is None and lost_ok:
            return None
        if record is None:  # a head lists only records written before it
            raise BackendUnavailable("the record of a version of %s in bucket %s is missing; run fsck"
                                     % (key[:200], bucket))
        return Entry.of(record.value)

    def spill(self, bucket: str, key: str, at: str, entry: Entry) -> None:
        """Write ``entry``'s version record (before a swap lists it)."""
        self.records.create(self._name(bucket, key, at), entry.record())

    def drop(self, bucket: str, key: str, at: str) -> None:
        """Remove a version record no head lists (after the swap that stopped listing it)."""
        self.records.delete(self._name(bucket, key, at))

    def of(self, bucket: str, key: str, limit: Optional[int] = None) -> List[Version]:
        """``key``'s older versions and markers, newest first."""
        head = self.head(bucket, key)
        return [self.version_of(bucket, key, item) for item in head.older[:limit]]

    def find(self, bucket: str, key: str, version_id: str, head: Optional[Head] = None) -> Optional[Version]:
        """The older version or marker ``version_id`` of ``key`` (in
        ``head``, where the caller read it)."""
        item = (head or self.head(bucket, key)).find(version_id)
        return None if item is None else self.version_of(bucket, key, item)

    def page(self, bucket: str, prefix: str, delimiter: str, key_marker: str, version_marker: str,
             limit: int) -> VersionPage:
        """ListObjectVersions: every version of the keys under ``prefix``,
        current first then newest first, after (``key_marker``,
        ``version_marker``), at most ``limit`` items; with a ``delimiter``,
        keys that hold it after the prefix given once as their common
        prefix."""
        base = "%s%s/" % (KEYS, bucket)
        shared = encode_key(prefix)[:len(prefix.encode("utf-8")) * 8 // 6]
        cursor = base + before(prefix) if prefix else ""
        items: List[Union[Tuple[Version, bool], str]] = []
        if limit <= 0:
            return VersionPage(items, False)
        if key_marker:
            cursor = max(cursor, base + encode_key(key_marker))
            if version_marker and key_marker.startswith(prefix) and (
                    not delimiter or key_marker.find(delimiter, len(prefix)) < 0):
                for version in self._versions(bucket, key_marker, self.head(bucket, key_marker), version_marker):
                    if len(items) == limit:
                        return VersionPage(items, True)
                    items.append((version, False))
        while True:
            batch = list(self.records.items(base + shared, cursor, _BATCH))
            jumped = False
            for name, record in batch:
                cursor = name
                key = decode_key(name[len(base):])
                if not key.startswith(prefix):
                    if key < prefix:
                        continue
                    return VersionPage(items, False)  # past the prefix: sorted, so nothing more
                cut = key.find(delimiter, len(prefix)) if delimiter else -1
                if cut >= 0:
                    common = key[:cut + len(delimiter)]
                    if common > key_marker:  # one at or before the marker was given on an earlier page
                        if len(items) == limit:
                            return VersionPage(items, True)
                        items.append(common)
                    cursor = base + past(common)
                    jumped = True
                    break  # read again after everything under it
                latest = True
                for version in self._versions(bucket, key, Head.of(record.value)):
                    if len(items) == limit:
                        return VersionPage(items, True)
                    items.append((version, latest))
                    latest = False
            if not jumped and len(batch) < _BATCH:
                return VersionPage(items, False)

    def _versions(self, bucket: str, key: str, head: Head, after: Optional[str] = None) -> Iterator[Version]:
        """The key's versions, newest first (each older object's record
        read as it is reached); with ``after``, those after that version
        id (where it is gone, those that sort after it)."""
        places = [("", head.current)] if head.current is not None else []
        places += [(item_sort(item), item) for item in head.older]
        if after is not None:
            ids = [label(place) if isinstance(place, Entry) else place["id"] for _, place in places]
            if after in ids:
                places = places[ids.index(after) + 1:]
            elif after != NULL:
                places = [(sort, place) for sort, place in places if sort > after]
        for _, place in places:
            if isinstance(place, Entry):
                yield Version(key, label(place), place.modified, place, "")
            else:
                yield self.version_of(bucket, key, place)

    def version_of(self, bucket: str, key: str, item: dict) -> Version:
        """The version an older item of ``key``'s head lists (its record read)."""
        if is_marker(item):
            return Version(key, item["id"], float(item["marker"]), None, item_sort(item), item.get("by"))
        entry = self.entry_at(bucket, key, item["at"])
        return Version(key, item["id"], entry.modified, entry, item_sort(item))

    def _name(self, bucket: str, key: str, at: str) -> str:
        return "%s%s/%s,%s" % (VERSIONS, bucket, encode_key(key), at)


def iterate(records: Records, bucket: str) -> Iterator[Tuple[str, Optional[Entry], Optional[Version]]]:
    """Every key of the bucket with its versions (for fsck): ``(key,
    current entry or None, None)``, then ``(key, None, older version)``
    for each older object; one whose record is missing as a version with
    no entry and no sort."""
    versions = Versions(records)
    base = "%s%s/" % (KEYS, bucket)
    for name, record in records.items(base):
        key = decode_key(name[len(base):])
        head = Head.of(record.value)
        if head.current is not None:
            yield key, head.current, None
        for item in head.older:
            if is_marker(item):
                continue
            try:
                yield key, None, versions.version_of(bucket, key, item)
            except BackendUnavailable:
                yield key, None, Version(key, item["id"], 0.0, None, "")
