"""A versioned bucket's older versions and delete markers.

A key's current version stays its record in ``keys`` (so listing keys,
GET and HEAD cost what they cost in a bucket without versions); every
other version, and every delete marker, is a record here:
``s3/versions/<bucket>/<encoded key>,<sort id>``. A sort id is the version
id S3 clients see (hex, falling with time: a key's versions read newest
first), except for the ``null`` version (written while versioning was off
or suspended), which is kept under a sort id made of its time. The ``,``
sorts below every character of the key alphabet (``names``), so a key's
versions come before those of any longer key it begins.

The current version is always the newest: a write makes the current one
a version here, a delete marker takes the key's record away. Listing
versions merges the two in key order, the current first.
"""

from __future__ import annotations

import secrets
import time
from dataclasses import dataclass
from typing import Callable, Iterator, List, Optional, Tuple, Union

from ..errors import BadRequest
from ..records.interface import Conflict, Records
from .keys import KEYS, Entry, amended
from .names import before, decode_key, encode_key, past

VERSIONS = "s3/versions/"
# s3/forgotten/<bucket>/<encoded key>,<version id>: a version deleted by its
# id, where the records take each step alone (``Keyspace.forget``).
FORGOTTEN = "s3/forgotten/"
FORGOTTEN_FOR = 3600.0  # seconds a forgotten version is remembered (a write's steps take far less)
NULL = "null"
_TOP = 2 ** 64 - 1
_BATCH = 256  # records read at a time while merging


def new_version_id() -> str:
    """A version id: 16 hex digits that fall with time (newest sorts first),
    and 8 random ones."""
    return "%016x%s" % (_TOP - time.time_ns(), secrets.token_hex(4))


def label(entry: Entry) -> str:
    """The version id a client sees for ``entry`` (``null`` if it has none)."""
    return entry.version or NULL


def checked_id(text: str) -> str:
    """A version id from a request: ``null`` or one this server made
    (InvalidArgument otherwise)."""
    if text == NULL or (len(text) == 24 and all(char in "0123456789abcdef" for char in text)):
        return text
    raise BadRequest("Invalid version id specified").as_s3("InvalidArgument")


@dataclass(frozen=True)
class Version:
    """One version of a key: an object (``entry``) or a delete marker
    (``entry`` None), its id, when it was made, and where it is kept
    (``sort``: its sort id here; "" for the current one, in ``keys``)."""

    key: str
    id: str
    modified: float
    entry: Optional[Entry]
    sort: str = ""

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

    def keep(self, bucket: str, key: str, entry: Entry) -> None:
        """Keep ``entry`` (the current version, being replaced) as an older
        version: written before the key's record changes, so a stop between
        leaves it twice (``page`` shows it once), never lost."""
        value = entry.record()
        try:
            self.records.create(self._name(bucket, key, _sort_of(entry)), value)
        except Conflict:
            pass  # kept already (a write that lost its race and tried again)

    def mark(self, bucket: str, key: str, version: Optional[str]) -> Version:
        """A new delete marker of ``key`` (``version`` None: the ``null`` one)."""
        now = self.records.now()
        sort = version or _sort_at(now)
        self.records.create(self._name(bucket, key, sort), {"marker": True, "modified": now,
                                                             **({"version": version} if version else {})})
        return Version(key, version or NULL, now, None, sort)

    def of(self, bucket: str, key: str, limit: Optional[int] = None) -> List[Version]:
        """``key``'s older versions and markers, newest first."""
        base = self._name(bucket, key, "")
        return [_version(key, name[len(base):], record.value)
                for name, record in self.records.items(base, "", limit)]

    def find(self, bucket: str, key: str, version_id: str) -> Optional[Version]:
        """The older version or marker ``version_id`` of ``key``."""
        if version_id != NULL:
            record = self.records.get(self._name(bucket, key, version_id))
            return None if record is None else _version(key, version_id, record.value)
        return next((version for version in self.of(bucket, key) if version.id == NULL), None)

    def note_forgotten(self, bucket: str, key: str, version_id: str) -> None:
        """Remember that ``version_id`` of ``key`` is being deleted by its
        id, before it goes: a write that kept it in a try that lost its race
        (its step and ours not one transaction) finds it so and drops it
        (``was_forgotten``)."""
        try:
            self.records.create(self._forgotten(bucket, key, version_id), {"at": self.records.now()})
        except Conflict:
            pass  # deleted by its id once already, and lately: remembered

    def was_forgotten(self, bucket: str, key: str, version_id: str) -> bool:
        return self.records.get(self._forgotten(bucket, key, version_id)) is not None

    def sweep_forgotten(self, now: float) -> int:
        """Forget the deletions older than ``FORGOTTEN_FOR``, a page at a time; how many."""
        done = 0
        for name, record in self.records.walk(FORGOTTEN, _BATCH):
            if now - float(record.value.get("at", 0)) > FORGOTTEN_FOR and self.records.delete(name):
                done += 1
        return done

    def _forgotten(self, bucket: str, key: str, version_id: str) -> str:
        return "%s%s/%s,%s" % (FORGOTTEN, bucket, encode_key(key), version_id)

    def drop(self, bucket: str, version: Version) -> bool:
        """Forget an older version or marker; False if it was gone already
        (another request deleted it, or made it current)."""
        return self.records.delete(self._name(bucket, version.key, version.sort))

    def amend(self, bucket: str, version: Version, change: Callable[[Entry], None]) -> Optional[Entry]:
        """An older version amended by ``change`` (its lock, its tags); the
        entry as written (None: the version is gone, or is a marker)."""
        written: List[Optional[Entry]] = [None]

        def write(value: Optional[dict]) -> Optional[dict]:
            if value is None or value.get("marker"):
                return None
            return amended(value, change, written)

        self.records.update(self._name(bucket, version.key, version.sort), write)
        return written[0]

    def any(self, bucket: str) -> bool:
        return next(iter(self.records.keys("%s%s/" % (VERSIONS, bucket), "", 1)), None) is not None

    def page(self, bucket: str, prefix: str, delimiter: str, key_marker: str, version_marker: str,
             limit: int) -> VersionPage:
        """ListObjectVersions: every version of the keys under ``prefix``,
        current first then newest first, after (``key_marker``,
        ``version_marker``), at most ``limit`` items; with a ``delimiter``,
        keys that hold it after the prefix given once as their common
        prefix."""
        keys = _Stream(self.records, "%s%s/" % (KEYS, bucket), prefix, current=True)
        older = _Stream(self.records, "%s%s/" % (VERSIONS, bucket), prefix, current=False)
        seen = ""  # the key whose versions were given last (its first was the latest)
        if key_marker:
            seen = key_marker
            keys.seek(encode_key(key_marker), inclusive=False)
            sort = self._sort_after(bucket, key_marker, version_marker) if version_marker else "~"
            older.seek(encode_key(key_marker) + "," + sort, inclusive=False)
        items: List[Union[Tuple[Version, bool], str]] = []
        if limit <= 0:
            return VersionPage(items, False)
        current = ("", "")  # (key, id) of the last current version read
        while True:
            item = min((found for found in (keys.peek(), older.peek()) if found is not None),
                       key=lambda found: (found.key.encode("utf-8"), found.sort), default=None)
            if item is None:
                return VersionPage(items, False)
            cut = item.key.find(delimiter, len(prefix)) if delimiter else -1
            if cut >= 0:
                common = item.key[:cut + len(delimiter)]
                if common > key_marker:
                    if len(items) == limit:
                        return VersionPage(items, True)
                    items.append(common)
                keys.seek(past(common), inclusive=True)
                older.seek(past(common), inclusive=True)
                continue
            if item.sort and (item.key, item.id) == current:
                older.pop()
                continue  # kept twice by a write stopped midway: the current one stands
            if len(items) == limit:
                return VersionPage(items, True)
            (keys if item.sort == "" else older).pop()
            if item.sort == "":
                current = (item.key, item.id)
            items.append((item, item.key != seen))
            seen = item.key

    def _sort_after(self, bucket: str, key: str, version_id: str) -> str:
        """Where a listing after version ``version_id`` of ``key`` goes on
        among the older versions: all of them after the current one."""
        if version_id != NULL:
            current = self.records.get("%s%s/%s" % (KEYS, bucket, encode_key(key)))
            if current is not None and current.value.get("version") == version_id:
                return ""
            return version_id
        found = self.find(bucket, key, NULL)
        return found.sort if found is not None else ""

    def _name(self, bucket: str, key: str, sort: str) -> str:
        return "%s%s/%s,%s" % (VERSIONS, bucket, encode_key(key), sort)


def _sort_of(entry: Entry) -> str:
    return entry.version or _sort_at(entry.modified)


def _sort_at(when: float) -> str:
    """The sort id of a ``null`` version made at ``when``."""
    return "%016x00000000" % (_TOP - int(when * 1e9))


def _version(key: str, sort: str, value: dict) -> Version:
    if value.get("marker"):
        return Version(key, value.get("version") or NULL, float(value["modified"]), None, sort)
    entry = Entry.of(value)
    return Version(key, label(entry), entry.modified, entry, sort)


class _Stream:
    """One sorted run of records (a bucket's keys, or its older versions)
    read a batch at a time from a point, as ``Version``s."""

    def __init__(self, records: Records, base: str, prefix: str, current: bool) -> None:
        self.records, self.base, self.prefix, self.current = records, base, prefix, current
        self.cursor = base + before(prefix) if prefix else ""
        self.buffer: List[Version] = []
        self.done = False

    def seek(self, point: str, inclusive: bool) -> None:
        """Go on from ``point`` (an encoded name under the base), never back."""
        cursor = self.base + point
        if inclusive:
            cursor = cursor[:-1] + chr(ord(cursor[-1]) - 1) + "~" if cursor else cursor
        self.buffer = [found for found in self.buffer if self._name(found) > cursor]
        if cursor > self.cursor:  # past all that was read: read on from there
            self.cursor = cursor
            self.done = False

    def peek(self) -> Optional[Version]:
        while not self.buffer and not self.done:
            batch = list(self.records.items(self.base, self.cursor, _BATCH))
            self.done = len(batch) < _BATCH
            for name, record in batch:
                self.cursor = name
                found = self._read(name, record.value)
                if found.key.startswith(self.prefix):
                    self.buffer.append(found)
                elif found.key > self.prefix:
                    self.done = True  # past the prefix: sorted, so nothing more
                    break
        return self.buffer[0] if self.buffer else None

    def pop(self) -> None:
        self.buffer.pop(0)

    def _read(self, name: str, value: dict) -> Version:
        encoded, _, sort = name[len(self.base):].partition(",")
        key = decode_key(encoded)
        if self.current:
            entry = Entry.of(value)
            return Version(key, label(entry), entry.modified, entry, "")
        return _version(key, sort, value)

    def _name(self, found: Version) -> str:
        return self.base + encode_key(found.key) + ("," + found.sort if not self.current else "")


def iterate(records: Records, bucket: str) -> Iterator[Tuple[str, Version]]:
    """Every older version and marker of the bucket (for fsck)."""
    base = "%s%s/" % (VERSIONS, bucket)
    for name, record in records.items(base):
        encoded, _, sort = name[len(base):].partition(",")
        yield name, _version(decode_key(encoded), sort, record.value)
