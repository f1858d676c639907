"""The journal's records (``journal``): their form on disk, and reading a
journal back.

A record is ``FSDJ``, its kind, the length of its body and the CRC-32 of
the body; a put's body holds the object's namespace, its SHA-256 (the name
it is stored under), its content type and its bytes; a removal's, the
namespace and the SHA-256.

Reading a journal back (``read``) checks each record (its CRC, and that a
put's bytes have the SHA-256 they are named by) and skips what does not
hold to the next record that does: a torn tail a power cut leaves behind a
batch never answered, or the part of a batch a full disk stopped, is
dropped and said, never given. ``standing`` gives the puts no later removal
took back.
"""

from __future__ import annotations

import hashlib
import os
import struct
import zlib
from dataclasses import dataclass
from typing import Dict, List, Optional, Tuple

MAGIC = b"FSDJ"
PUT, GONE = 1, 2
_HEAD = struct.Struct("<4sBII")  # magic, kind, body length, CRC-32 of the body
_SHORT = struct.Struct("<H")
_MOST_BODY = 16 * 1024 * 1024  # no record is larger: a length past it is a torn or corrupted head
SUFFIX = ".journal"


@dataclass(frozen=True)
class Record:
    kind: int
    namespace: str
    oid: str
    content_type: Optional[str] = None
    data: bytes = b""


def encode(kind: int, namespace: str, oid: str, content_type: Optional[str] = None, data: bytes = b"") -> bytes:
    """The bytes of a record (``Record``'s fields) as a journal holds it."""
    namespace_bytes = namespace.encode()
    body = [_SHORT.pack(len(namespace_bytes)), namespace_bytes, bytes.fromhex(oid)]
    if kind == PUT:
        type_bytes = (content_type or "").encode()
        body += [_SHORT.pack(len(type_bytes)), type_bytes, data]
    joined = b"".join(body)
    return _HEAD.pack(MAGIC, kind, len(joined), zlib.crc32(joined)) + joined


def _decode(kind: int, body: bytes) -> Record:
    """The record of a body whose CRC held; ``ValueError`` where it does not read."""
    (length,) = _SHORT.unpack_from(body, 0)
    at = _SHORT.size + length
    namespace = body[_SHORT.size:at].decode()
    oid = body[at:at + 32].hex()
    if len(oid) != 64:
        raise ValueError("a record cut short in its object id")
    at += 32
    if kind == GONE:
        return Record(GONE, namespace, oid)
    if kind != PUT:
        raise ValueError("a record of no known kind (%d)" % kind)
    (length,) = _SHORT.unpack_from(body, at)
    at += _SHORT.size
    content_type = body[at:at + length].decode() or None
    data = body[at + length:]
    if hashlib.sha256(data).hexdigest() != oid:
        raise ValueError("a put whose bytes are not the SHA-256 %s they are named by" % oid)
    return Record(PUT, namespace, oid, content_type, data)


def read(path: str) -> Tuple[List[Record], List[str]]:
    """The records of the journal at ``path`` that hold, in order, and what
    was dropped (where, and why)."""
    with open(path, "rb") as handle:
        data = handle.read()
    records: List[Record] = []
    dropped: List[str] = []
    at = 0
    while at < len(data):
        record, why, length = _record_at(data, at)
        if record is not None:
            records.append(record)
            at += length
            continue
        following = data.find(MAGIC, at + 1)
        end = len(data) if following < 0 else following
        dropped.append("bytes %d-%d: %s" % (at, end, why))
        at = end
    return records, dropped


def _record_at(data: bytes, at: int) -> Tuple[Optional[Record], str, int]:
    """The record at byte ``at`` and its length, or None and why not."""
    if len(data) - at < _HEAD.size:
        return None, "a record's head cut short", 0
    magic, kind, length, crc = _HEAD.unpack_from(data, at)
    if magic != MAGIC or length > _MOST_BODY:
        return None, "no record's head", 0
    body = data[at + _HEAD.size:at + _HEAD.size + length]
    if len(body) < length:
        return None, "a record cut short (%d of %d bytes)" % (len(body), length), 0
    if zlib.crc32(body) != crc:
        return None, "a record whose CRC-32 does not hold", 0
    try:
        return _decode(kind, body), "", _HEAD.size + length
    except (ValueError, struct.error, UnicodeDecodeError) as error:
        return None, str(error), 0


def read_all(paths: List[str]) -> Tuple[List[Record], List[Tuple[str, str]]]:
    """``read`` of each journal, in the order given: their records that
    hold, one after the other, and what was dropped (``(path, why)``)."""
    records: List[Record] = []
    dropped: List[Tuple[str, str]] = []
    for path in paths:
        found, bad = read(path)
        records += found
        dropped += [(path, why) for why in bad]
    return records, dropped


def standing(records: List[Record]) -> List[Record]:
    """The puts of ``records`` that no later removal of the same object took back, in order."""
    last: Dict[Tuple[str, str], int] = {}
    for index, record in enumerate(records):
        last[(record.namespace, record.oid)] = index
    return [record for index, record in enumerate(records)
            if record.kind == PUT and last[(record.namespace, record.oid)] == index]


def journals(folder: str) -> List[str]:
    """The journal files in ``folder``, oldest epoch first."""
    try:
        names = [name for name in os.listdir(folder) if name.endswith(SUFFIX) and name[:-len(SUFFIX)].isdigit()]
    except FileNotFoundError:
        return []
    return [os.path.join(folder, name) for name in sorted(names, key=lambda name: int(name[:-len(SUFFIX)]))]
