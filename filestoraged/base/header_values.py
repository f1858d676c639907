"""What may be stored beside an object's bytes and later sent as a header:
a media type (``Content-Type``) and a share link's file name.

Both are checked once, when they come in, and refused with a ``400`` that
names the field: a stored value is served to everyone who later asks for the
same bytes (uploads are deduplicated), so one bad value would poison every
answer for that object (response splitting with a bare CR or LF, or a value
the response head cannot encode). The header writer refuses such values
again on the way out (``web.head``), for stores written before this check.
"""

from __future__ import annotations

import re
from typing import Optional

from ..errors import BadRequest

MAX_MEDIA_TYPE = 255  # characters; also what the disk backend's xattr keeps
MAX_FILE_NAME = 255  # UTF-8 bytes, the common file-system limit

# RFC 9110 §8.3.1: media-type = type "/" subtype parameters, where
# parameters = *( OWS ";" OWS [ parameter-name "=" ( token / quoted-string ) ] ).
# Decision: ASCII only. The grammar admits obs-text (0x80-0xFF) inside quoted
# strings, but no client needs it and it would reach the wire as Latin-1,
# not as the bytes the client sent.
_TOKEN = r"[!#$%&'*+\-.^_`|~0-9A-Za-z]+"
_QUOTED = r'"(?:[\t !#-\[\]-~]|\\[\t -~])*"'
_MEDIA_TYPE = re.compile(
    rf"{_TOKEN}/{_TOKEN}(?:[ \t]*;[ \t]*(?:{_TOKEN}=(?:{_TOKEN}|{_QUOTED}))?)*"
)
# C0 controls, DEL and C1 controls: never part of a file name a person chose.
_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f]")
# Characters that reorder what a person reads (a right-to-left override makes
# "invoice\u202etxt.exe" show as "invoiceexe.txt") or separate folders: never
# in a file name a download is saved under.
_NOT_IN_NAMES = re.compile("[\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069/\\\\]")


def is_media_type(value: str) -> bool:
    """True if ``value`` is a media type this store accepts (see the grammar above)."""
    return len(value) <= MAX_MEDIA_TYPE and _MEDIA_TYPE.fullmatch(value) is not None


def media_type(value: Optional[str], field: str = "Content-Type") -> Optional[str]:
    """``value`` stripped of surrounding blanks, None for none; ``BadRequest``
    naming ``field`` if it is not a valid media type."""
    if value is None:
        return None
    value = value.strip(" \t")
    if not value:
        return None
    if not is_media_type(value):
        raise BadRequest(
            "%s is not a valid media type (type/subtype; parameters, at most %d ASCII characters): %s"
            % (field, MAX_MEDIA_TYPE, ascii(value[:80]))
        )
    return value


def is_file_name(value: str) -> bool:
    """True if ``value`` is a file name this store accepts (see ``file_name``)."""
    try:
        encoded = value.encode("utf-8")
    except UnicodeEncodeError:  # a lone surrogate
        return False
    return (0 < len(encoded) <= MAX_FILE_NAME and _CONTROL.search(value) is None
            and _NOT_IN_NAMES.search(value) is None and not value.startswith("."))


def file_name(value: Optional[str], field: str = "filename") -> Optional[str]:
    """``value`` if it is a file name of 1-255 UTF-8 bytes without control
    characters, bidirectional controls or folder separators, not starting
    with a dot (``.``, ``..``, ``.htaccess``), None for none; ``BadRequest``
    naming ``field`` otherwise."""
    if value is None or value == "":
        return None
    if not is_file_name(value):
        raise BadRequest(
            "%s must be 1-%d bytes of UTF-8 without control characters, bidirectional controls or slashes, "
            "not starting with a dot: %s"
            % (field, MAX_FILE_NAME, ascii(value[:80]))
        )
    return value



def header_value(value: Optional[str], field: str, most: int = 1024) -> Optional[str]:
    """``value`` stripped of surrounding blanks if it can be sent back as a
    header as it is (printable ASCII, spaces inside, at most ``most``
    characters), None for none; ``BadRequest`` naming ``field`` otherwise."""
    if value is None:
        return None
    value = value.strip(" \t")
    if len(value) > most or not (value.isascii() and value.isprintable()):
        raise BadRequest("%s must be at most %d printable ASCII characters: %s" % (field, most, ascii(value[:80])))
    return value
