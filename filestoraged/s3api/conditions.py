"""What an S3 request states about the version it acts on, read into the
conditions ``wire.conditions`` and ``catalog`` judge (a write's
``If-Match`` and ``If-None-Match`` are read as on every face:
``wire.conditions.write_conditions``): a delete's ``If-Match``, ``x-amz-if-match-size`` and
``x-amz-if-match-last-modified-time`` (DeleteObject), and the same per
object of a DeleteObjects (``ETag``, ``Size``, ``LastModifiedTime``)."""

from __future__ import annotations

from typing import Callable, Optional

from ..catalog.keys import Entry
from ..errors import BadRequest
from ..wire.conditions import DeleteConditions, Validators, http_date
from ..wire.fields import whole_number
from .answers import read_time, text_of

MODIFIED_CONDITION = "x-amz-if-match-last-modified-time"


def delete_conditions(headers) -> Optional[Callable[[Optional[Entry]], None]]:
    """A DeleteObject's conditions, as ``Keyspace.forget`` takes them (None: none)."""
    size, modified = headers.get("x-amz-if-match-size"), headers.get(MODIFIED_CONDITION)
    return _judged_by(DeleteConditions(headers.get("If-Match"),
                                       None if size is None else _size_of(size, "x-amz-if-match-size"),
                                       None if modified is None else _http_time(modified, MODIFIED_CONDITION)))


def listed_delete_conditions(item) -> Optional[Callable[[Optional[Entry]], None]]:
    """The conditions of one ``<Object>`` of a DeleteObjects."""
    size, modified = text_of(item, "Size"), text_of(item, "LastModifiedTime")
    return _judged_by(DeleteConditions(text_of(item, "ETag"), None if size is None else _size_of(size, "Size"),
                                       None if modified is None else _listed_time(modified)))


def _judged_by(conditions: DeleteConditions):
    """What ``Keyspace.forget`` calls on the version about to go (None: no condition)."""
    if not conditions:
        return None
    return lambda entry: conditions.judge(None if entry is None else Validators(entry.etag, entry.modified),
                                          None if entry is None else entry.size)


def _size_of(text: str, what: str) -> int:
    try:
        return whole_number(text, what, 0, 0, 2 ** 63)
    except BadRequest as error:
        raise error.as_s3("InvalidArgument") from None


def _listed_time(text: str) -> float:
    """DeleteObjects' ``LastModifiedTime``: an HTTP date, as the SDKs write
    it (botocore: RFC 822), or an ISO 8601 time."""
    stamp = http_date(text)
    return stamp if stamp is not None else read_time(text, "LastModifiedTime")


def _http_time(text: str, what: str) -> float:
    stamp = http_date(text)
    if stamp is None:
        raise BadRequest("%s is not an HTTP date" % what).as_s3("InvalidArgument")
    return stamp
