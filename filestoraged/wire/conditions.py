"""Conditional requests (RFC 9110 §13), judged in one place for every face
that serves or writes stored bytes. Each face says what its validators are:

- ``/files`` and ``/data``: the entity tag is the object's id (its SHA-256,
  a strong validator: one tag is always the same bytes), the date when the
  object was stored;
- a share link: the same tag, and no date (a date condition is not judged);
- an S3 key: its ETag (the MD5 of its bytes; ``<MD5 of the parts' MD5s>-N``
  for a multipart upload) and when the key was written.

Tags are compared as S3 and browsers send them: quoted or not, weak (``W/``)
or not, one of a list, or ``*``. An unreadable date is ignored, as RFC 9110
says. The order is RFC 9110 §13.2.2's: ``If-Match`` (else
``If-Unmodified-Since``) fails with 412; then ``If-None-Match`` (else
``If-Modified-Since``) answers 304 to a GET or HEAD; then ``If-Range``
decides whether a ``Range`` is served.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from email.utils import parsedate_to_datetime
from typing import Optional, Tuple, Union

from ..errors import PreconditionFailed


@dataclass(frozen=True)
class Validators:
    """What a face judges conditions by: the entity tag (unquoted) and the
    time of the last change (None: the face gives no date)."""

    etag: str
    modified: Optional[float] = None


@dataclass(frozen=True)
class Names:
    """The header names a family of conditions comes in."""

    match: str
    none_match: str
    modified_since: str
    unmodified_since: str
    lowered: frozenset = field(init=False, repr=False, compare=False)  # the four, lower-case

    def __post_init__(self) -> None:
        object.__setattr__(self, "lowered", frozenset(name.lower() for name in (
            self.match, self.none_match, self.modified_since, self.unmodified_since)))


PLAIN = Names("If-Match", "If-None-Match", "If-Modified-Since", "If-Unmodified-Since")
# CopyObject's and UploadPartCopy's conditions on their source (S3).
COPY_SOURCE = Names("x-amz-copy-source-if-match", "x-amz-copy-source-if-none-match",
                    "x-amz-copy-source-if-modified-since", "x-amz-copy-source-if-unmodified-since")


def judge(headers, validators: Validators, names: Names = PLAIN) -> bool:
    """The request's conditions against ``validators``:
    ``PreconditionFailed`` (412) when ``If-Match`` (else
    ``If-Unmodified-Since``) fails; True when ``If-None-Match`` matches (else
    ``If-Modified-Since`` finds no change): a GET or HEAD answers 304; False
    to go on."""
    present = getattr(headers, "has_any", None)  # a request's headers: one look for the four names
    if present is not None and not present(names.lowered):
        return False
    if_match = headers.get(names.match)
    if if_match is not None:
        if not etag_matches(if_match, validators.etag):
            raise PreconditionFailed(message="%s does not match the ETag" % names.match)
    elif _not_after(headers.get(names.unmodified_since), validators.modified) is False:
        raise PreconditionFailed(message="modified after %s" % names.unmodified_since)
    if_none_match = headers.get(names.none_match)
    if if_none_match is not None:
        return etag_matches(if_none_match, validators.etag)
    return bool(_not_after(headers.get(names.modified_since), validators.modified))


def judge_change(headers, validators: Optional[Validators]) -> None:
    """The conditions of a request that changes what it names (any method
    but GET and HEAD, RFC 9110 §13.2.2): ``PreconditionFailed`` (412) where
    ``If-Match`` (else ``If-Unmodified-Since``) fails, or ``If-None-Match``
    matches. ``validators`` None: nothing is there (``If-Match`` fails,
    ``If-None-Match: *`` holds); ``If-Modified-Since`` is for reads only."""
    if_match = headers.get("If-Match")
    if if_match is not None:
        if validators is None or not etag_matches(if_match, validators.etag):
            raise PreconditionFailed(message="If-Match does not match the ETag")
    elif validators is not None and _not_after(headers.get("If-Unmodified-Since"), validators.modified) is False:
        raise PreconditionFailed(message="modified after If-Unmodified-Since")
    if_none_match = headers.get("If-None-Match")
    if if_none_match is not None and validators is not None and etag_matches(if_none_match, validators.etag):
        raise PreconditionFailed(message="If-None-Match matches the ETag")


def write_conditions(headers) -> Tuple[Optional[str], Union[bool, str]]:
    """``(If-Match, If-None-Match)`` of a write that makes a key name an
    object (S3's PutObject and CompleteMultipartUpload, WebDAV's PUT), as
    ``Keyspace.name`` judges them at the commit: ``*`` in If-None-Match is
    True (create only), ETags are kept."""
    if_none_match = (headers.get("If-None-Match") or "").strip()
    return headers.get("If-Match"), True if if_none_match == "*" else if_none_match


def judge_source(headers, validators: Validators) -> None:
    """A copy's conditions on its source (``COPY_SOURCE``): any that does
    not hold fails the copy (412), the none-match ones included."""
    if judge(headers, validators, COPY_SOURCE):
        raise PreconditionFailed(message="a copy-source condition does not hold")


def range_applies(headers, validators: Validators) -> bool:
    """Whether a ``Range`` is served: always without ``If-Range``; with it,
    only if it names the current tag (strongly: a weak one never) or the
    time of the last change exactly."""
    if_range = headers.get("If-Range")
    if if_range is None:
        return True
    if_range = if_range.strip()
    if if_range.startswith('"') or if_range.startswith("W/"):
        return if_range == '"%s"' % validators.etag
    if validators.modified is None:
        return False
    stamp = http_date(if_range)
    return stamp is not None and int(validators.modified) == int(stamp)


@dataclass(frozen=True)
class DeleteConditions:
    """S3's conditional delete (DeleteObject's ``If-Match``,
    ``x-amz-if-match-size`` and ``x-amz-if-match-last-modified-time``;
    DeleteObjects' ``ETag``, ``Size`` and ``LastModifiedTime`` per object):
    the version deleted must have that ETag (``*``: any), that size, that
    time of its write (to the second, as times are given)."""

    etag: Optional[str] = None
    size: Optional[int] = None
    modified: Optional[float] = None

    def __bool__(self) -> bool:
        return self.etag is not None or self.size is not None or self.modified is not None

    def judge(self, validators: Optional[Validators], size: Optional[int] = None) -> None:
        """``PreconditionFailed`` unless the version about to go meets every
        condition; ``validators`` None: it is a delete marker, which only
        ``If-Match: *`` meets. (What is not there is deleted with no
        condition judged, as a delete of nothing is no error in S3.)"""
        if self.etag is not None:
            if validators is None and self.etag.strip() != "*" or \
                    validators is not None and not etag_matches(self.etag, validators.etag):
                raise PreconditionFailed(message="the version to delete does not have the ETag If-Match names")
        if self.size is not None and (validators is None or size != self.size):
            raise PreconditionFailed(message="the version to delete is not of the size asked")
        if self.modified is not None and (validators is None or validators.modified is None
                                          or int(validators.modified) != int(self.modified)):
            raise PreconditionFailed(message="the version to delete was not written at the time asked")


def etag_matches(header: str, etag: str) -> bool:
    """``header`` (an ``If-Match``/``If-None-Match`` value) names ``etag``."""
    for candidate in header.split(","):
        candidate = candidate.strip().removeprefix("W/").strip('"')
        if candidate == "*" or candidate == etag:
            return True
    return False


def _not_after(header: Optional[str], modified: Optional[float]) -> Optional[bool]:
    """Whether ``modified`` is not after the HTTP date ``header`` (None: no
    such header, no date to judge, or a date that does not read)."""
    if not header or modified is None:
        return None
    stamp = http_date(header)
    return None if stamp is None else int(modified) <= stamp


def http_date(text: str) -> Optional[float]:
    """An HTTP date as a timestamp; None if it does not read as one."""
    try:
        return parsedate_to_datetime(text).timestamp()
    except (TypeError, ValueError, IndexError, OverflowError):
        return None
