"""S3's additional checksums: the algorithms computed here, and what a
multipart upload's object is checked against and gives back.

A single upload's checksum is of its bytes (``payloads`` takes it as they
pass). A multipart upload names its algorithm when it is created
(``x-amz-checksum-algorithm``) and its type (``x-amz-checksum-type``):
each part's checksum is then taken as the part arrives and kept with it,
and the object's is made from the parts' at completion, without reading a
byte again:

- ``COMPOSITE`` (any algorithm): the checksum of the parts' checksums (raw
  digests, in order), given as ``<base64>-<parts>``, as S3 makes it;
- ``FULL_OBJECT`` (CRC-32 only, as S3 allows): the CRC-32 of the whole
  object, combined from the parts' CRC-32s and sizes (``crc32_combine``).

The whole object's SHA-256 is its id, so it is known for every object and
given where nothing else was asked for.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import zlib
from dataclasses import dataclass
from typing import Dict, List, Optional, Sequence

from ..errors import BadRequest

ALGORITHMS = ("crc32", "sha1", "sha256")  # computed here (the standard library has them)
REFUSED = ("crc32c", "crc64nvme")  # S3 has them; the standard library does not: refused, never taken unchecked
CHECKSUM = "x-amz-checksum-"
COMPOSITE, FULL_OBJECT = "COMPOSITE", "FULL_OBJECT"


class Crc32:
    """zlib's CRC-32 with hashlib's interface, as S3 gives it (4 bytes, big-endian)."""

    def __init__(self) -> None:
        self.value = 0

    def update(self, data) -> None:
        self.value = zlib.crc32(data, self.value)

    def digest(self) -> bytes:
        return self.value.to_bytes(4, "big")


SUMS = {"crc32": Crc32, "sha1": hashlib.sha1}  # what is computed beside the reader; sha256 is the object's id


def sha256_of(oid: str) -> str:
    """An object's SHA-256 as S3 gives it (base64), from its id."""
    return base64.b64encode(bytes.fromhex(oid)).decode("ascii")


def known(algorithm: str, what: str) -> str:
    """``algorithm`` (lower case) if it is computed here; ``BadRequest``
    (InvalidRequest) naming ``what`` asked for it otherwise."""
    algorithm = algorithm.strip().lower()
    if algorithm not in ALGORITHMS:
        raise BadRequest("%s names the checksum %s, which is not computed here: use crc32, sha1 or sha256"
                         % (what, algorithm[:40])).as_s3("InvalidRequest")
    return algorithm


@dataclass(frozen=True)
class UploadChecksum:
    """What a multipart upload was created to be checked with."""

    algorithm: str
    kind: str  # COMPOSITE or FULL_OBJECT

    def record(self) -> Dict[str, str]:
        return {"algorithm": self.algorithm, "type": self.kind}

    @classmethod
    def of(cls, value) -> Optional["UploadChecksum"]:
        return cls(value["algorithm"], value["type"]) if value else None

    def headers(self) -> Dict[str, str]:
        """What CreateMultipartUpload answers with it."""
        return {"x-amz-checksum-algorithm": self.algorithm.upper(), "x-amz-checksum-type": self.kind}

    def of_parts(self, checksums: Sequence[str], sizes: Sequence[int]) -> str:
        """The object's checksum from its parts' (base64) and sizes."""
        raw = [base64.b64decode(value) for value in checksums]
        if self.kind == FULL_OBJECT:
            crc = 0
            for digest, size in zip(raw, sizes):
                crc = crc32_combine(crc, int.from_bytes(digest, "big"), size)
            return base64.b64encode(crc.to_bytes(4, "big")).decode("ascii")
        whole = SUMS[self.algorithm]() if self.algorithm in SUMS else hashlib.sha256()
        whole.update(b"".join(raw))
        return "%s-%d" % (base64.b64encode(whole.digest()).decode("ascii"), len(raw))


def kind_of(checksums: Dict[str, str]) -> str:
    """The type of an object's checksums: COMPOSITE where they were made of
    its parts' (``-N``), FULL_OBJECT otherwise."""
    return COMPOSITE if any("-" in value for value in checksums.values()) else FULL_OBJECT


def upload_checksum(headers) -> Optional[UploadChecksum]:
    """The checksum CreateMultipartUpload asks its parts and object to be
    checked with (None: none asked); ``BadRequest`` for one not computed
    here or a type S3 does not make of it."""
    algorithm = headers.get("x-amz-checksum-algorithm")
    kind = (headers.get("x-amz-checksum-type") or "").strip().upper()
    if algorithm is None:
        if kind:
            raise BadRequest("x-amz-checksum-type needs x-amz-checksum-algorithm").as_s3("InvalidRequest")
        return None
    algorithm = known(algorithm, "x-amz-checksum-algorithm")
    kind = kind or COMPOSITE
    if kind not in (COMPOSITE, FULL_OBJECT):
        raise BadRequest("x-amz-checksum-type is COMPOSITE or FULL_OBJECT").as_s3("InvalidRequest")
    if kind == FULL_OBJECT and algorithm != "crc32":
        raise BadRequest("a FULL_OBJECT checksum of a multipart upload is a CRC: %s makes COMPOSITE ones only"
                         % algorithm).as_s3("InvalidRequest")
    return UploadChecksum(algorithm, kind)


def decoded(value: str, algorithm: str) -> bytes:
    """A stated checksum's digest; ``BadRequest`` (InvalidRequest) if it is
    not the base64 of one of ``algorithm``'s size."""
    try:
        raw = base64.b64decode(value.strip(), validate=True)
    except (binascii.Error, ValueError):
        raw = b""
    if len(raw) != _SIZES[algorithm]:
        raise BadRequest("x-amz-checksum-%s is not the base64 of %d bytes" % (algorithm, _SIZES[algorithm])
                         ).as_s3("InvalidRequest")
    return raw


_SIZES = {"crc32": 4, "sha1": 20, "sha256": 32}


# -- combining CRC-32s (zlib's crc32_combine, which Python's zlib does not expose) --

_POLY = 0xEDB88320  # CRC-32's polynomial, reflected


def _multiply(a: int, b: int) -> int:
    """``a`` times ``b`` modulo the polynomial (reflected bit order)."""
    mask = 1 << 31
    product = 0
    while True:
        if a & mask:
            product ^= b
            if a & (mask - 1) == 0:
                break
        mask >>= 1
        b = (b >> 1) ^ _POLY if b & 1 else b >> 1
    return product


def _powers() -> List[int]:
    """x^(2^n) modulo the polynomial, n = 0..31."""
    table = [1 << 30]
    for _ in range(31):
        table.append(_multiply(table[-1], table[-1]))
    return table


_X2N = _powers()
_SHIFTS: Dict[int, int] = {}  # length -> x^(8 x length): parts are mostly of one size


def _shift(length: int) -> int:
    power = _SHIFTS.get(length)
    if power is None:
        power, n, k = 1 << 31, length, 3
        while n:
            if n & 1:
                power = _multiply(_X2N[k & 31], power)
            n >>= 1
            k += 1
        if len(_SHIFTS) < 64:
            _SHIFTS[length] = power
    return power


def crc32_combine(first: int, second: int, second_length: int) -> int:
    """The CRC-32 of A then B from the CRC-32 of A, of B, and B's length."""
    return _multiply(_shift(second_length), first) ^ second
