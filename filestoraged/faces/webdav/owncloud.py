"""What rclone (its ``owncloud`` vendor mode) and ownCloud's clients ask of
a WebDAV server beyond RFC 4918, so that a sync keeps modification times
and compares by hash:

- ``X-OC-Mtime: <seconds>`` on a PUT: the file's modification time, kept
  as the key's ``mtime`` metadata (as rclone keeps it through S3:
  ``x-amz-meta-mtime``) and shown as its ``getlastmodified``; the answer
  says ``X-OC-Mtime: accepted``;
- ``OC-Checksum: SHA1:<hex>`` (or ``MD5:``) on a PUT: the body is checked
  against it before anything is kept (400 otherwise), and a SHA-1 is kept
  with the key (as S3's ``x-amz-checksum-sha1``);
- ``oc:checksums`` in PROPFIND: ``SHA1:<hex> MD5:<hex>``, what is known
  of the file (its MD5 is its ETag, but for a multipart upload's).
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import re
import xml.etree.ElementTree as ET
from typing import Dict, Optional, Tuple

from ...catalog.keys import Entry
from ...errors import BadRequest

OC = "http://owncloud.org/ns"
CHECKSUMS = "{%s}checksums" % OC
ACCEPTED = {"X-OC-Mtime": "accepted"}
_MTIME = re.compile(r"\d{1,12}(\.\d{1,9})?")
_CHECKSUM = re.compile(r"(SHA1|MD5):([0-9a-fA-F]+)")
_LENGTHS = {"SHA1": 40, "MD5": 32}

ET.register_namespace("oc", OC)


def mtime_of(header: Optional[str]) -> Optional[str]:
    """The modification time an ``X-OC-Mtime`` header gives (seconds since
    1970, as sent); None without one; ``BadRequest`` for anything else."""
    if header is None:
        return None
    value = header.strip()
    if not _MTIME.fullmatch(value):
        raise BadRequest("X-OC-Mtime is seconds since 1970")
    return value


def modified_of(entry: Entry) -> float:
    """When the file was last modified: the ``mtime`` a client gave, else when it was written."""
    mtime = entry.meta.get("mtime")
    if mtime and _MTIME.fullmatch(mtime):
        return float(mtime)
    return entry.modified


def expected_of(header: Optional[str]) -> Optional[Tuple[str, str]]:
    """``(algorithm, hex digest)`` an ``OC-Checksum`` header asks the body
    to have (the first SHA1 or MD5 it names); None without one; one that
    names neither is refused rather than left unchecked."""
    if not header:
        return None
    for found in _CHECKSUM.finditer(header):
        kind, digest = found.group(1), found.group(2).lower()
        if len(digest) != _LENGTHS[kind]:
            raise BadRequest("OC-Checksum: a %s is %d hex digits" % (kind, _LENGTHS[kind]))
        return kind, digest
    raise BadRequest("OC-Checksum names a SHA1 or an MD5 here (SHA1:<hex>)")


def new_hasher(expected: Optional[Tuple[str, str]]):
    """A SHA-1 taken beside the body's MD5 where the client sent one to check."""
    return hashlib.sha1() if expected is not None and expected[0] == "SHA1" else None


def check(expected: Optional[Tuple[str, str]], md5: str, sha1) -> Dict[str, str]:
    """``BadRequest`` unless the body has the checksum asked; the checksums
    kept with the key (a SHA-1, base64, as S3 keeps one)."""
    if expected is None:
        return {}
    kind, digest = expected
    got = sha1.hexdigest() if kind == "SHA1" else md5
    if got != digest:
        raise BadRequest("the body's %s is %s, not the OC-Checksum's %s: nothing was kept" % (kind, got, digest))
    return {"sha1": base64.b64encode(sha1.digest()).decode("ascii")} if kind == "SHA1" else {}


def checksums_of(entry: Entry) -> Optional[str]:
    """``oc:checksums`` of a file as XML: what is known of it (None: nothing)."""
    known = []
    sha1 = entry.checksums.get("sha1")
    if sha1 and "-" not in sha1:  # (a multipart upload's composite one ends "-<parts>")
        try:
            known.append("SHA1:" + base64.b64decode(sha1, validate=True).hex())
        except (binascii.Error, ValueError):
            pass
    if not entry.parts and re.fullmatch(r"[0-9a-f]{32}", entry.etag):
        known.append("MD5:" + entry.etag)
    if not known:
        return None
    return '<oc:checksums xmlns:oc="%s"><oc:checksum>%s</oc:checksum></oc:checksums>' % (OC, " ".join(known))
