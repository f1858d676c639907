"""What Windows' WebDAV client (the WebClient service behind File
Explorer's mapped drives) sets beyond RFC 4918: after each file it writes,
a PROPPATCH of the file's Win32 times and attributes, in the namespace
``urn:schemas-microsoft-com:``. They are kept as dead properties, as any
other; the last-modified time is also kept as the file's modification
time (its ``mtime`` metadata, as ``X-OC-Mtime`` sets it), since Explorer
shows ``getlastmodified`` and would otherwise show when the copy was made."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from email.utils import parsedate_to_datetime
from typing import Iterable, Optional

from .props import Change

WIN32 = "urn:schemas-microsoft-com:"
LAST_MODIFIED = "{%s}Win32LastModifiedTime" % WIN32


def mtime_of(changes: Iterable[Change]) -> Optional[str]:
    """The modification time (whole seconds since 1970, as text) a
    PROPPATCH sets through ``Win32LastModifiedTime``; None where it sets
    none, or a date that is not an HTTP date (then kept as a property only)."""
    for change in changes:
        if change.name != LAST_MODIFIED or change.value is None:
            continue
        try:
            when = parsedate_to_datetime((ET.fromstring(change.value).text or "").strip())
        except (TypeError, ValueError, ET.ParseError):
            return None
        if when.tzinfo is None:
            return None
        return "%d" % max(0, int(when.timestamp()))
    return None
