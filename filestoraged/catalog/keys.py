"""S3 keys: one record per key of a bucket (``s3/keys/<bucket>/<encoded
key>``, see ``names``), its head (``heads``): the content-addressed object
of the bucket's repository that the key names and what its PUT said of
it, with the list of its other versions where the bucket keeps them.
Listing a bucket reads its heads from a point, a page at a time: a page
costs the page. Every change of a key is ``Keyspace``'s.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from dataclasses import dataclass, field
from typing import Dict, List, Optional, Tuple, Union

from ..records.interface import Records
from .names import before, decode_key, encode, encode_key, past

KEYS = "s3/keys/"
# The headers a PUT may give that an object keeps and a GET gives back.
STORED_HEADERS = ("Cache-Control", "Content-Disposition", "Content-Encoding", "Content-Language", "Expires")


@dataclass  # not frozen: a frozen dataclass's __init__ cost a 1,000-key listing page 1 ms more
class Entry:
    """What a key names: the object (``oid``, ``size``), its ETag (the MD5
    of the bytes; ``<md5 of the parts' MD5s>-<parts>`` for a multipart
    upload; ``sha256_etag`` for a restic file), when the key was written, the media type and headers it was
    stored with, its ``x-amz-meta-*`` (lower-case names, as sent), the
    checksums its upload was checked against (``crc32``, ``sha1``: base64;
    a multipart upload's composite ones end ``-<parts>``), a multipart
    object's parts: their sizes and, made with a checksum, theirs; its
    tags (S3 object tagging), in the order of their keys; and who wrote it
    (the token's name: who did what)."""

    oid: str
    size: int
    etag: str
    modified: float
    content_type: Optional[str] = None
    headers: Dict[str, str] = field(default_factory=dict)
    meta: Dict[str, str] = field(default_factory=dict)
    checksums: Dict[str, str] = field(default_factory=dict)
    parts: Optional[int] = None
    part_sizes: Optional[List[int]] = None  # a multipart object's parts, in order (None: not kept)
    part_checksums: Optional[List[str]] = None  # their checksums, of the algorithm in ``checksums``
    version: Optional[str] = None  # its version id in a versioned bucket (None: the ``null`` version)
    lock: Optional[dict] = None  # its object lock: {"mode", "until", "hold"} (``locks``)
    tags: Optional[Dict[str, str]] = None  # its tags (None: none)
    acl: Optional[str] = None  # its canned ACL where it widens access (``s3api.acls``; None: private)
    props: Optional[Dict[str, str]] = None  # WebDAV dead properties: Clark name to the element's XML (None: none)
    maker: Optional[str] = None  # the name of the token that wrote it (None: none, or written before it was kept)
    replication: Optional[str] = None  # PENDING or COMPLETED where a rule copies it (``catalog.replication``)

    def copied(self) -> "Entry":
        """A shallow copy (its fields' values shared: callers set fields,
        never change a value in place). Decision: by its ``__dict__``, a
        third of ``copy.copy``'s cost, every hot key's GET makes one."""
        twin = Entry.__new__(Entry)
        twin.__dict__.update(self.__dict__)
        return twin

    def record(self) -> dict:
        """The record's value. Part sizes are kept as ``[size, count, last]``
        when every part but the last has one size (what clients send), so a
        10,000-part object does not weigh on every listing page."""
        # Built by hand: asdict() copies deeply, field by field, and cost a
        # fifth of a millisecond of each S3 write.
        value = {"oid": self.oid, "size": self.size, "etag": self.etag, "modified": self.modified,
                 "content_type": self.content_type, "headers": dict(self.headers), "meta": dict(self.meta),
                 "checksums": dict(self.checksums), "parts": self.parts, "part_sizes": None}
        # The fields most entries leave empty are kept only when set (one
        # test each, unrolled: every S3 write makes this value).
        if self.part_checksums is not None:
            value["part_checksums"] = list(self.part_checksums)
        if self.version is not None:
            value["version"] = self.version
        if self.lock is not None:
            value["lock"] = dict(self.lock)
        if self.tags is not None:
            value["tags"] = dict(self.tags)
        if self.acl is not None:
            value["acl"] = self.acl
        if self.props is not None:
            value["props"] = dict(self.props)
        if self.maker is not None:
            value["maker"] = self.maker
        if self.replication is not None:
            value["replication"] = self.replication
        sizes = self.part_sizes
        if sizes is not None:
            value["part_sizes"] = ({"size": sizes[0], "count": len(sizes), "last": sizes[-1]}
                                   if len(sizes) > 1 and len(set(sizes[:-1])) == 1 else list(sizes))
        return value

    def written_as(self, version: Optional[str], lock: Optional[dict]) -> "Entry":
        """A copy with the version id and the lock its commit gives it (the
        other fields shared, as ``dataclasses.replace`` shares them, which
        walks every field by name: a twentieth of a versioned write)."""
        copy = object.__new__(Entry)
        copy.__dict__.update(self.__dict__, version=version, lock=lock)
        return copy

    def span_of(self, number: int) -> Optional[Tuple[int, int]]:
        """``(start, end)`` of part ``number`` (from 1); the whole object as
        its part 1 if it was not uploaded in parts; None past the last part
        or where the parts' sizes were not kept."""
        if not self.parts:
            return (0, self.size) if number == 1 else None
        if self.part_sizes is None or not 1 <= number <= len(self.part_sizes):
            return None
        start = sum(self.part_sizes[:number - 1])
        return start, start + self.part_sizes[number - 1]

    @classmethod
    def of(cls, value: dict) -> "Entry":
        """The entry a record's value (parsed JSON, this entry's own) holds;
        a listing makes 1,000 a page, so nothing is copied or converted that
        JSON already gave as it is."""
        get = value.get
        return cls(value["oid"], value["size"], value["etag"], value["modified"], get("content_type"),
                   get("headers") or {}, get("meta") or {}, get("checksums") or {}, get("parts"),
                   _sizes(get("part_sizes")), get("part_checksums"), get("version"), get("lock"), get("tags"),
                   get("acl"), get("props"), get("maker"), get("replication"))


_VIA = " via upload link "


def link_sender(uploader: Optional[str], link_name: str) -> str:
    """Who a file sent through a link is by, as its key keeps it (its
    ``maker``) and the owner sees it: ``Bob via upload link 'Acme'``."""
    return "%s%s%r" % (uploader or "someone", _VIA, link_name)


def sent_through_link(maker: str) -> bool:
    """Whether a key's ``maker`` is a link's sender (``link_sender``), not a token's name."""
    return _VIA in maker


@dataclass(frozen=True)
class Page:
    """One page of a listing, in key order: entries ``(key, Entry)`` and
    common prefixes (strings) as they come, and where deleted keys were
    asked for, ``(key, None)`` for each; ``last``: the last key or prefix
    given, where the next page starts after; ``truncated``: there is more."""

    items: List[Tuple[str, Union[Entry, str, None]]]
    truncated: bool

    @property
    def last(self) -> str:
        return self.items[-1][0] if self.items else ""


KEPT_ENTRIES = 4096  # keys whose entries a process keeps, read (``Keys.get``)


class Keys:
    def __init__(self, records: Records) -> None:
        self.records = records
        # Decision: a hot key's GET read and decoded its record every time
        # (a third of a small S3 GET's own cost). Where the records tell
        # cheaply whether anything changed since (``Records.generation``:
        # the last commit SQLite's log shows and this process's writes), an entry read
        # is kept under the generation seen before it was read, and given
        # again (a copy: callers set its fields) while that is unchanged.
        self._kept: "OrderedDict[str, Tuple[object, Optional[Entry]]]" = OrderedDict()
        self._lock = threading.Lock()

    def get(self, bucket: str, key: str) -> Optional[Entry]:
        """The key's current object (None: it names nothing, or its newest
        version is a delete marker)."""
        name = head_name(bucket, key)
        generation = self.records.generation()  # before the read: a change after it shows
        if generation is not None:
            found = self._kept.get(name)
            if found is not None and found[0] == generation:
                return found[1].copied() if found[1] is not None else None
        record = self.records.get(name)
        entry = None if record is None or "oid" not in record.value else Entry.of(record.value)
        if generation is not None:
            with self._lock:
                self._kept[name] = (generation, entry)
                self._kept.move_to_end(name)
                if len(self._kept) > KEPT_ENTRIES:
                    self._kept.popitem(last=False)
        return entry.copied() if entry is not None else None

    def any(self, bucket: str) -> bool:
        """Whether any key of the bucket has a version (an object or a marker)."""
        return next(iter(self.records.keys(_bucket(bucket), "", 1)), None) is not None

    def page(self, bucket: str, prefix: str = "", delimiter: str = "", after: str = "", limit: int = 1000,
             after_prefix: bool = False, deleted: bool = False) -> Page:
        """Keys that begin with ``prefix``, after ``after`` (a key; with
        ``after_prefix``, a common prefix given before: everything under it
        is passed), at most ``limit`` items. With a ``delimiter``, the keys
        that hold it after the prefix are given once as their common prefix
        (up to and with the delimiter), as S3 lists them; a common prefix
        that sorts at or before ``after`` is not given again (a v1 marker,
        which S3 sets to the last common prefix of a page). ``deleted``: the
        keys whose newest version is a delete marker are given too, as
        ``(key, None)`` (else they are not listed, as in S3)."""
        base = _bucket(bucket)
        shared = encode_key(prefix)
        shared = shared[:len(prefix.encode("utf-8")) * 8 // 6]  # the characters every key under it shares
        cursor = base + before(prefix) if prefix else ""
        if after:
            cursor = max(cursor, base + (past(after) if after_prefix else encode_key(after)))
        if limit <= 0:
            return Page([], False)
        items: List[Tuple[str, Union[Entry, str]]] = []
        while len(items) <= limit:
            batch = list(self.records.items(base + shared, cursor, limit + 1 - len(items)))
            if not batch:
                return Page(items, False)
            for name, record in batch:
                key = decode_key(name[len(base):])
                if not key.startswith(prefix):
                    if key < prefix:
                        cursor = name
                        continue
                    return Page(items, False)  # past the prefix: sorted, so nothing more
                gone = "oid" not in record.value  # its newest version is a delete marker
                if gone and not deleted:
                    cursor = name
                    continue
                if len(items) == limit:
                    return Page(items, True)
                cut = key.find(delimiter, len(prefix)) if delimiter else -1
                if cut >= 0:
                    common = key[:cut + len(delimiter)]
                    if common > after:  # a prefix at or before the marker was given on an earlier page
                        items.append((common, common))
                    cursor = base + past(common)
                    break  # read again after everything under it
                items.append((key, None if gone else Entry.of(record.value)))
                cursor = name
        return Page(items, True)


def sha256_etag(oid: str) -> str:
    """The ETag of a key whose writer takes no MD5 of its bytes: a file
    restic names by its SHA-256 (``oid``). Decision: an MD5 would be a
    second pass over every byte, a quarter of the daemon's CPU in a
    backup, for an ETag no restic client reads. Shaped as a multipart
    upload's (32 hex digits, ``-1``) so that a client that takes a plain
    32-digit ETag for the bytes' MD5 and compares (rclone, s3cmd) knows it
    is none."""
    return oid[:32] + "-1"


def _sizes(value) -> Optional[List[int]]:
    """Part sizes as ``Entry.record`` kept them."""
    if isinstance(value, dict):
        return [int(value["size"])] * (int(value["count"]) - 1) + [int(value["last"])]
    return value


def _bucket(bucket: str) -> str:
    return "%s%s/" % (KEYS, bucket)


def head_name(bucket: str, key: str) -> str:
    """The record of ``key``'s head (``heads``)."""
    return _bucket(bucket) + encode(key.encode("utf-8"))
