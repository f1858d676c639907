"""Names the S3 API keeps in records: bucket names by S3's rules, and user
keys (any UTF-8 up to 1,024 bytes) written into record keys so that their
order is kept: listing a bucket is listing its records from a point.

A user key's UTF-8 bytes are written six bits to a character from an
alphabet in ASCII order (``-0-9A-Z_a-z``), the last character padded with
zero bits: shorter keys sort before longer keys they begin, and any two
keys sort as their bytes do. The record key holds no ``/`` or ``.`` of the
user's, so no store under the records can read a path into it.
"""

from __future__ import annotations

import binascii
import re

from ..errors import BadRequest

MAX_KEY = 1024  # bytes of UTF-8, as S3 has it
_ALPHABET = "-0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ_abcdefghijklmnopqrstuvwxyz"
_BASE64 = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"
_TO_ORDERED = str.maketrans(_BASE64, _ALPHABET)
_TO_BASE64 = str.maketrans(_ALPHABET, _BASE64)
_BUCKET = re.compile(r"[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]")
_IP = re.compile(r"\d+\.\d+\.\d+\.\d+")
# Past every key that begins with a given prefix: no UTF-8 byte is 0xFF.
_AFTER_ALL = b"\xff"


def bucket_name(text: str) -> str:
    """``text`` if it is a bucket name by S3's rules (3-63 characters of
    a-z 0-9 . -, beginning and ending with a letter or digit, no ``..``,
    no ``-`` beside a ``.`` (each part between dots a DNS label), not an IP
    address); ``BadRequest`` (InvalidBucketName) otherwise. Every such name
    is also a repository name (``/data/<bucket>``)."""
    if not _BUCKET.fullmatch(text) or ".." in text or "-." in text or ".-" in text or _IP.fullmatch(text) \
            or text.startswith("xn--"):
        raise BadRequest("bucket names are 3-63 characters of a-z 0-9 . -, begin and end with a letter or "
                         "digit, have no '-' beside a '.', and are not an IP address").as_s3("InvalidBucketName")
    return text


def object_key(text: str) -> str:
    """``text`` if it can name an object: 1-1,024 bytes of UTF-8, no NUL
    (``KeyTooLongError``, ``InvalidArgument`` otherwise)."""
    raw = text.encode("utf-8", "surrogatepass")
    if not raw:
        raise BadRequest("a key is at least one character").as_s3("InvalidArgument")
    if len(raw) > MAX_KEY:
        raise BadRequest("keys are at most %d bytes of UTF-8; this one is %d" % (MAX_KEY, len(raw))
                         ).as_s3("KeyTooLongError")
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        raise BadRequest("the key is not UTF-8").as_s3("InvalidArgument") from None
    if "\x00" in text:
        raise BadRequest("a key holds no NUL character").as_s3("InvalidArgument")
    return text


def encode(raw: bytes) -> str:
    """``raw`` in the order-keeping alphabet (see the module docstring): the
    same six bits a character as base64 without its padding, whose alphabet
    (``A-Za-z0-9+/``) is simply not in ASCII order; base64's C code does the
    work, and the characters are exchanged."""
    # binascii's own call, as ``decode``: base64.b64encode is a call of Python around it.
    return binascii.b2a_base64(raw, newline=False).decode("ascii").rstrip("=").translate(_TO_ORDERED)


def decode(text: str) -> bytes:
    """The bytes ``encode`` wrote (the padding bits dropped)."""
    standard = text.translate(_TO_BASE64)
    return binascii.a2b_base64(standard + "=" * (-len(standard) % 4))  # base64.b64decode, without its checks of type


def encode_key(key: str) -> str:
    return encode(key.encode("utf-8"))


def decode_key(text: str) -> str:
    return decode(text).decode("utf-8")


def past(prefix: str) -> str:
    """An encoded point after every key that begins with ``prefix`` (and
    before any other key after it)."""
    return encode(prefix.encode("utf-8") + _AFTER_ALL)


def before(prefix: str) -> str:
    """An encoded point just before every key that begins with ``prefix``
    and after every key that sorts before ``prefix``: a listing seeks there
    whatever bits of the prefix's last character are its own, so a page
    never walks the keys that share those characters but sort lower.

    The prefix's own encoding, its last character padded with zero bits, is
    the least of its keys'; one character lower there, followed by ``~``
    (above the whole alphabet), is above every encoding that begins lower."""
    encoded = encode_key(prefix)
    return encoded[:-1] + chr(ord(encoded[-1]) - 1) + "~"
