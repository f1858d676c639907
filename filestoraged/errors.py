"""The one exception hierarchy of filestoraged, and the one table that maps it to HTTP.

Every layer (storage backends, the memcached library, the faces) raises these;
only the HTTP handler turns them into responses, through ``http_status``.
Anything that is not a ``FileStoreError`` becomes a logged ``500 internal``.
"""

from __future__ import annotations

import errno
import logging
from typing import Dict, Optional, Sequence, Tuple, Type


class FileStoreError(Exception):
    """Base of every error filestoraged raises on purpose. ``s3_code``: the
    S3 API's name for it where a face gives one (``NoSuchBucket`` for a
    ``NotFound``), set with ``as_s3``; otherwise the S3 API names it by its
    class (see ``s3api.answers``)."""

    message = "error"
    s3_code: Optional[str] = None
    s3_details: Tuple[Tuple[str, str], ...] = ()
    s3_headers: Dict[str, str] = {}  # headers its S3 answer carries (x-amz-delete-marker); never changed in place

    def __init__(self, message: Optional[str] = None) -> None:
        super().__init__(message or self.message)

    def as_s3(self, code: str, *details: Tuple[str, str], headers: Optional[Dict[str, str]] = None
              ) -> "FileStoreError":
        """This error, named ``code`` in the S3 API's answers, with more
        elements for its ``<Error>`` (``details``: name, text) and headers
        (values this server made, never a client's)."""
        self.s3_code = code
        self.s3_details = details
        self.s3_headers = dict(headers or {})
        return self

    @property
    def text(self) -> str:
        return str(self.args[0])

    def headers(self) -> Dict[str, str]:
        """Headers its answer carries besides the JSON body (Allow, Retry-After, ...)."""
        retry_after = getattr(self, "retry_after", None)
        return {"Retry-After": str(retry_after)} if retry_after is not None else {}


# The client's fault.

class BadRequest(FileStoreError):
    """The request is malformed: bad JSON, bad field, bad name, bad framing."""

    message = "bad request"


class UriTooLong(BadRequest):
    """The request line is longer than the server reads."""

    message = "request line too long"


class VersionNotSupported(BadRequest):
    """Only HTTP/1.0 and HTTP/1.1 are spoken here."""

    message = "HTTP version not supported"


class HeadTooLarge(BadRequest):
    """The request head (line and headers) is over its size bound."""

    message = "request head too large"


class RequestTimeout(FileStoreError):
    """The client stopped sending its request (head or body) in time."""

    message = "the request did not arrive in time"


class Unauthorized(FileStoreError):
    """A password or token is needed and was missing or wrong. ``challenge``
    is the ``WWW-Authenticate`` value that tells the client how to answer."""

    message = "a valid password is required"

    def __init__(self, message: Optional[str] = None, challenge: Optional[str] = None) -> None:
        super().__init__(message)
        self.challenge = challenge

    def headers(self) -> Dict[str, str]:
        return {"WWW-Authenticate": self.challenge} if self.challenge else {}


class Misdirected(FileStoreError):
    """The request came by a name this daemon does not answer to (under
    ``--auth off``: ``access.hosts``)."""

    message = "misdirected request"


class WrongPort(Misdirected):
    """A request for the daemon's other port (``web.wrong_port``): an S3
    client's signed request on the main port, or a request with a token on
    the S3 API's; the message names the right one."""


class Forbidden(FileStoreError):
    """The caller is known but not allowed (e.g. a wrong delete token)."""

    message = "forbidden"


class NotFound(FileStoreError):
    """No such object, link, key or route; also any id that can never exist."""

    message = "not found"


class MethodNotAllowed(FileStoreError):
    """The path exists but not with this method; ``allow`` lists the methods it has."""

    message = "method not allowed"

    def __init__(self, allow: Sequence[str], message: Optional[str] = None) -> None:
        super().__init__(message)
        self.allow = sorted(allow)

    def headers(self) -> Dict[str, str]:
        return {"Allow": ", ".join(self.allow)}


class Gone(FileStoreError):
    """The thing existed but is no more: a share link used up, expired or deleted."""

    message = "gone"


class Conflict(FileStoreError):
    """The request does not fit the resource's state: a resumable upload's
    ``PATCH`` at another offset than the one stored."""

    message = "conflict"


class StillUnderWay(Conflict):
    """What the request would change is still held by another under way
    (an upload of the same bytes, past the wait): try again shortly."""

    retry_after = 1


class AlreadyExists(Conflict):
    """The memcached library was asked to store a key that already holds a file."""

    message = "already exists"


class Unprocessable(FileStoreError):
    """Well-formed but wrong: bytes that do not hash to the id they were
    sent for (a Git LFS upload), a Git LFS request that names no valid object."""

    message = "unprocessable"


class NotAcceptable(FileStoreError):
    """The client does not accept what the route answers (Git LFS asks for
    ``Accept: application/vnd.git-lfs+json``)."""

    message = "not acceptable"


class PreconditionFailed(FileStoreError):
    """A condition of the request does not hold: a protocol version the
    server does not speak (tus's ``Tus-Resumable``; ``versions``: the ones
    it does, for the answer's ``Tus-Version``), or an ``If-Match`` /
    ``If-None-Match`` of a conditional write or read."""

    message = "precondition failed"

    def __init__(self, versions: Optional[str] = None, message: Optional[str] = None) -> None:
        super().__init__(message)
        self.versions = versions

    def headers(self) -> Dict[str, str]:
        return {"Tus-Version": self.versions} if self.versions else {}


class UnsupportedMediaType(FileStoreError):
    """A body of a type the route does not take (a tus ``PATCH`` must be
    ``application/offset+octet-stream``)."""

    message = "unsupported media type"


class Locked(FileStoreError):
    """What the request would change is locked: another request writes the
    same resumable upload right now, or a WebDAV lock holds it and the
    request did not name the lock's token."""

    message = "locked"


class ElsewhereDestination(FileStoreError):
    """A WebDAV COPY or MOVE whose ``Destination`` is not this server's
    (RFC 4918: 502, the server will not act as a gateway)."""

    message = "the destination is on another server"


class NotImplementedHere(FileStoreError):
    """A request this server understands but does not carry out (an S3
    operation it does not offer)."""

    message = "not implemented"


class TooLarge(FileStoreError):
    """The body (or a staged KV change) is over its configured limit."""

    message = "request body too large"


class LengthRequired(FileStoreError):
    """A body that must say its length up front (``Content-Length``) did not."""

    message = "send the body's length (Content-Length)"


class RangeNotSatisfiable(FileStoreError):
    """A ``Range`` header asks for bytes the object does not have."""

    message = "range not satisfiable"

    def __init__(self, size: int, message: Optional[str] = None) -> None:
        super().__init__(message)
        self.size = size

    def headers(self) -> Dict[str, str]:
        return {"Content-Range": "bytes */%d" % self.size}


class TooManyRequests(FileStoreError):
    """Too many wrong passwords for one link in a short time."""

    message = "too many attempts"

    def __init__(self, retry_after: int, message: Optional[str] = None) -> None:
        super().__init__(message)
        self.retry_after = retry_after


# The server's or the backend's fault.

class CorruptObject(FileStoreError):
    """Stored bytes do not match their hash, or part of an object is missing
    (a bit flipped on disk, a chunk evicted from memcached)."""

    message = "stored object is corrupt or incomplete"


class BackendUnavailable(FileStoreError):
    """The storage backend cannot be reached (memcached down, refused, timing out)."""

    message = "storage backend unavailable"
    retry_after = 5


class TooManyConnections(FileStoreError):
    """Every connection slot (``--max-connections``) is taken."""

    message = "too many connections, retry later"
    retry_after = 1


class OutOfFiles(TooManyConnections):
    """The process or the machine has no file descriptor free (``EMFILE``,
    ``ENFILE``): its open-files limit is too low for the load it serves."""

    message = "the server has no file descriptor free (its open-files limit); retry later"


# The errno values of a system call refused for want of a file descriptor.
OUT_OF_FILES = frozenset((errno.EMFILE, errno.ENFILE))


class InsufficientStorage(FileStoreError):
    """The disk is full (``ENOSPC``) or the ``--max-bytes`` quota would be passed."""

    message = "insufficient storage"


class QuotaReached(InsufficientStorage):
    """The ``--max-bytes`` quota would be passed: the operator's own bound,
    answered as a full disk is."""


class BucketQuotaReached(QuotaReached):
    """A bucket's quota would be passed (its message names the bucket and
    the quota)."""


# The one table: exception class -> (HTTP status, error code). Looked up along
# the class's MRO so a subclass inherits its parent's row.
HTTP_STATUS: Dict[Type[FileStoreError], Tuple[int, str]] = {
    BadRequest: (400, "bad_request"),
    UriTooLong: (414, "bad_request"),
    VersionNotSupported: (505, "bad_request"),
    HeadTooLarge: (431, "bad_request"),
    RequestTimeout: (408, "timeout"),
    Unauthorized: (401, "unauthorized"),
    Forbidden: (403, "forbidden"),
    Misdirected: (421, "misdirected"),
    NotFound: (404, "not_found"),
    MethodNotAllowed: (405, "method_not_allowed"),
    Conflict: (409, "conflict"),
    NotAcceptable: (406, "not_acceptable"),
    PreconditionFailed: (412, "precondition_failed"),
    UnsupportedMediaType: (415, "unsupported_media_type"),
    Unprocessable: (422, "unprocessable"),
    Locked: (423, "locked"),
    Gone: (410, "gone"),
    TooLarge: (413, "too_large"),
    LengthRequired: (411, "length_required"),
    RangeNotSatisfiable: (416, "range_not_satisfiable"),
    TooManyRequests: (429, "too_many_requests"),
    CorruptObject: (500, "corrupt"),
    BackendUnavailable: (503, "unavailable"),
    TooManyConnections: (503, "unavailable"),
    InsufficientStorage: (507, "insufficient_storage"),
    NotImplementedHere: (501, "not_implemented"),
    ElsewhereDestination: (502, "bad_gateway"),
}

INTERNAL = (500, "internal")

# How loud an error answered to a request is in the daemon's log, by class
# (along the MRO; a server error not named here is an error): ERROR for
# what the operator must act on (a bug: anything not a ``FileStoreError``;
# corruption; the disk full; the store unreachable or answering nonsense),
# WARNING for what the operator may want to know (the quota they set,
# reached), INFO for answers to what a client asked (a feature not
# offered, no connection free, another HTTP version). A client's other
# faults are the access log's.
LOG_LEVELS: Dict[Type[FileStoreError], int] = {
    CorruptObject: logging.ERROR,
    InsufficientStorage: logging.ERROR,
    QuotaReached: logging.WARNING,
    OutOfFiles: logging.WARNING,
    TooManyConnections: logging.INFO,
    NotImplementedHere: logging.INFO,
    VersionNotSupported: logging.INFO,
    ElsewhereDestination: logging.INFO,
    WrongPort: logging.INFO,
}


def named(error: BaseException) -> BaseException:
    """``error`` as this hierarchy names it where it is one of its own in
    another form (a system call refused for want of file descriptors is
    ``OutOfFiles``, a 503, not a bug's 500); any other as it is."""
    if isinstance(error, OSError) and error.errno in OUT_OF_FILES:
        out = OutOfFiles()
        out.__cause__ = error
        return out
    return error


def http_status(error: BaseException) -> Tuple[int, str]:
    """Return ``(status, code)`` for an exception; unknown ones are ``500 internal``."""
    for cls in type(error).__mro__:
        row = HTTP_STATUS.get(cls)  # type: ignore[call-overload]
        if row is not None:
            return row
    return INTERNAL


def log_level(error: BaseException) -> Optional[int]:
    """The level ``error``, answered to a request, is logged at (see
    ``LOG_LEVELS``); None: not logged beyond the access log."""
    if not isinstance(error, FileStoreError):
        return logging.ERROR
    for cls in type(error).__mro__:
        level = LOG_LEVELS.get(cls)  # type: ignore[call-overload]
        if level is not None:
            return level
    return logging.ERROR if http_status(error)[0] >= 500 else None


def extra_headers(error: BaseException) -> Dict[str, str]:
    """Headers an error answer carries besides its JSON body: the error's own."""
    return error.headers() if isinstance(error, FileStoreError) else {}
