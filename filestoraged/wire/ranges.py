"""Download semantics shared by every face that serves stored bytes: the
conditions (``conditions``), a single byte Range, and the headers.

Multiple ranges are answered with the whole object (RFC 9110 allows ignoring
Range), as is the last N bytes of an empty object; an unsatisfiable one is
``416`` with ``Content-Range: bytes */size``.
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass
from typing import Dict, Optional, Protocol, Tuple

from ..errors import RangeNotSatisfiable
from ..base.header_values import is_media_type
from .conditions import Validators, judge, range_applies
from .response_head import date_text

log = logging.getLogger(__name__)

DEFAULT_TYPE = "application/octet-stream"
_RANGE = re.compile(r"bytes=([0-9]*)-([0-9]*)")


class Described(Protocol):
    """What a download is planned from: a stored object's description
    (``storage.interface.ObjectInfo``)."""

    oid: str
    size: int
    content_type: Optional[str]
    modified: Optional[float]


@dataclass
class Plan:
    status: int  # 200, 206 or 304
    start: int
    end: int  # exclusive
    headers: Dict[str, str]


def plan(info: Described, request_headers, content_type: Optional[str] = None, ranges: bool = True,
         immutable: bool = True, etag: Optional[str] = None, span: Optional[Tuple[int, int]] = None,
         modified: Optional[float] = None) -> Plan:
    """Decide status, byte range and headers for serving ``info``. An
    ``immutable`` (content-addressed) object may be cached for ever: its URL
    names its bytes, and when it was stored is its date. ``etag``: the
    entity tag to answer and judge conditions by (the object's id by
    default); ``modified``: the date to judge them by, where not the stored
    object's (an S3 key's write). ``span``: ``(start, end)`` the face chose
    (an S3 part), served as a range is, whatever the request's ``Range``.
    ``PreconditionFailed`` for an ``If-Match`` or ``If-Unmodified-Since``
    that fails."""
    validators = Validators(etag or info.oid, modified if modified is not None else
                            info.modified if immutable else None)
    headers = {
        "ETag": '"%s"' % validators.etag,
        "Accept-Ranges": "bytes" if ranges else "none",
        "Content-Type": served_type(content_type or info.content_type, info.oid),
    }
    if immutable:
        headers["Cache-Control"] = "public, max-age=31536000, immutable"
        if info.modified is not None:
            headers["Last-Modified"] = date_text(int(info.modified))
    if judge(request_headers, validators):
        return Plan(304, 0, 0, headers)
    if span is not None:
        start, end = span
        headers["Content-Range"] = "bytes %d-%d/%d" % (start, end - 1, info.size)
        headers["Content-Length"] = str(end - start)
        return Plan(206, start, end, headers)
    start, end = 0, info.size
    range_header = request_headers.get("Range") if ranges else None
    if range_header and range_applies(request_headers, validators):
        parsed = parse_range(range_header, info.size)
        if parsed is not None:
            start, end = parsed
            headers["Content-Range"] = "bytes %d-%d/%d" % (start, end - 1, info.size)
            headers["Content-Length"] = str(end - start)
            return Plan(206, start, end, headers)
    headers["Content-Length"] = str(info.size)
    return Plan(200, start, end, headers)


def served_type(stored: Optional[str], oid: str) -> str:
    """The stored media type, or the default for none or for one that entry
    checks would refuse today (stores written before they existed)."""
    if stored is None:
        return DEFAULT_TYPE
    if not is_media_type(stored):
        log.warning("object %s: stored content type refused, served as %s: %s", oid, DEFAULT_TYPE, ascii(stored[:120]))
        return DEFAULT_TYPE
    return stored


def parse_range(value: str, size: int):
    """``(start, end)`` for one ``bytes=`` range, None to ignore the header;
    ``RangeNotSatisfiable`` when no byte of it exists."""
    match = _RANGE.fullmatch(value.strip())
    if match is None:
        return None  # several ranges or another unit: serve the whole object
    first, last = match.groups()
    if not first and not last:
        return None
    if not first:  # the last N bytes
        length = _position(last)
        if length == 0:
            raise RangeNotSatisfiable(size)
        if size == 0:
            return None  # all of nothing: satisfiable (RFC 9110), but no Content-Range can say it
        return max(0, size - length), size
    start = _position(first)
    end = size if not last else min(size, _position(last) + 1)
    if last and _position(last) < start:
        return None  # syntactically invalid: ignore
    if start >= size:
        raise RangeNotSatisfiable(size)
    return start, end


def _position(digits: str) -> int:
    """A byte position; more digits than any object could need count as the
    largest (``int()`` of thousands of digits raises, and costs time)."""
    return int(digits) if len(digits) <= 18 else 10 ** 18
