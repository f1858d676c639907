"""What the S3 API answers: XML documents written out by hand (every value
escaped), requests' XML read with its size bounded, UTF-8 and no DTD, and
failures as S3's ``<Error>`` with the ``Code`` clients act on.

The HTTP status of a failure comes from the one table (``errors``); its
S3 code from the error itself when a face named it (``as_s3``), else from
its class, below.
"""

from __future__ import annotations

import time
from datetime import datetime, timezone
import xml.etree.ElementTree as ElementTree
from typing import Dict, Iterable, List, Optional, Type, Union

from ..errors import (BackendUnavailable, BadRequest, Conflict, CorruptObject, FileStoreError, Forbidden, Gone,
                      InsufficientStorage, Locked, MethodNotAllowed, Misdirected, NotFound, NotImplementedHere,
                      PreconditionFailed, RangeNotSatisfiable, RequestTimeout, TooLarge, TooManyConnections,
                      TooManyRequests, Unauthorized, Unprocessable)
from ..web.messages import TextResponse, error_response
from ..wire import xml_body
from ..wire.xml_text import escaped

NAMESPACE = "http://s3.amazonaws.com/doc/2006-03-01/"
XML_TYPE = "application/xml"
MAX_XML = 2 * 1024 * 1024  # bytes of a request's XML (1,000 keys of 1,024 bytes fit)

# S3's name for an error a face did not name, by its class (looked up along the MRO).
CODES: Dict[Type[FileStoreError], str] = {
    NotFound: "NoSuchKey",
    Unauthorized: "AccessDenied",
    Forbidden: "AccessDenied",
    Misdirected: "AccessDenied",
    BadRequest: "InvalidArgument",
    TooLarge: "EntityTooLarge",
    RangeNotSatisfiable: "InvalidRange",
    MethodNotAllowed: "MethodNotAllowed",
    PreconditionFailed: "PreconditionFailed",
    Conflict: "OperationAborted",
    Locked: "OperationAborted",
    Gone: "NoSuchKey",
    Unprocessable: "BadDigest",
    RequestTimeout: "RequestTimeout",
    NotImplementedHere: "NotImplemented",
    TooManyRequests: "SlowDown",
    TooManyConnections: "SlowDown",
    BackendUnavailable: "SlowDown",
    InsufficientStorage: "InsufficientStorage",
    CorruptObject: "InternalError",
}

Content = Union[str, Iterable["Element"], None]


class Element:
    """``<name attributes>content</name>``: text (escaped), nested
    elements, or empty; an element with no name is its text alone."""

    __slots__ = ("name", "content", "attributes")

    def __init__(self, name: str, content: Content = None, attributes: str = "") -> None:
        self.name = name
        self.content = content
        self.attributes = attributes  # written as given: constants of this module's callers, never a client's

    def write(self, out: List[str]) -> None:
        if not self.name:
            out.append(escaped(self.content if isinstance(self.content, str) else ""))
            return
        if self.content is None:
            out.append("<%s%s/>" % (self.name, self.attributes))
            return
        out.append("<%s%s>" % (self.name, self.attributes))
        if isinstance(self.content, str):
            out.append(escaped(self.content))
        else:
            for child in self.content:
                child.write(out)
        out.append("</%s>" % self.name)


class Markup(Element):
    """XML written by this server with every value in it escaped already
    (a listing's thousand entries, formatted at once): written as it is."""

    __slots__ = ()

    def __init__(self, text: str) -> None:
        super().__init__("", text)

    def write(self, out: List[str]) -> None:
        out.append(self.content)  # type: ignore[arg-type]


def document(root: str, children: Iterable[Element], namespace: bool = True) -> str:
    out = ['<?xml version="1.0" encoding="UTF-8"?>\n<%s%s>' % (root, ' xmlns="%s"' % NAMESPACE if namespace else "")]
    for child in children:
        child.write(out)
    out.append("</%s>" % root)
    return "".join(out)


def xml_answer(status: int, root: str, children: Iterable[Element], headers: Optional[Dict[str, str]] = None,
               namespace: bool = True) -> TextResponse:
    return TextResponse(status, document(root, children, namespace), XML_TYPE, dict(headers or {}))


def code_of(error: BaseException) -> str:
    if isinstance(error, FileStoreError):
        if error.s3_code:
            return error.s3_code
        for cls in type(error).__mro__:
            found = CODES.get(cls)  # type: ignore[call-overload]
            if found:
                return found
    return "InternalError"


def error_answer(error: BaseException, resource: str, request_id: str) -> TextResponse:
    """``<Error>`` with the error's code, message, the resource and the
    request id (the access log shows the same id); the headers the error
    carries (``Retry-After``, ``Allow``) and ``x-amz-request-id``."""
    plain = error_response(error)  # the status and headers of the one table
    children = [Element("Code", code_of(error)), Element("Message", plain.data["message"]),
                Element("Resource", resource), Element("RequestId", request_id)]
    if isinstance(error, FileStoreError):
        children += [Element(name, value) for name, value in error.s3_details]
    headers = dict(plain.headers, **{"x-amz-request-id": request_id})
    if isinstance(error, FileStoreError):
        headers.update(error.s3_headers)
    return TextResponse(plain.status, document("Error", children, namespace=False), XML_TYPE, headers)


def read_xml(raw: bytes, root: str) -> ElementTree.Element:
    """The XML a client sent, its root named ``root`` (any namespace);
    ``BadRequest`` (MalformedXML) for anything else. UTF-8 only, as S3
    reads it; no document type declaration or entity, no deeper than
    ``wire.xml_body`` allows."""
    try:
        element = xml_body.read(raw, utf8_only=True)
    except BadRequest as error:
        raise error.as_s3("MalformedXML") from None
    if local_name(element.tag) != root:
        raise BadRequest("the XML's root is %s, not %s" % (local_name(element.tag)[:60], root)).as_s3("MalformedXML")
    return element


def local_name(tag: str) -> str:
    return tag.rsplit("}", 1)[-1]


def children(element: ElementTree.Element, name: str) -> List[ElementTree.Element]:
    return [child for child in element if local_name(child.tag) == name]


def text_of(element: ElementTree.Element, name: str) -> Optional[str]:
    found = children(element, name)
    return None if not found else (found[0].text or "")


def child(element: ElementTree.Element, name: str) -> Optional[ElementTree.Element]:
    """The first child named ``name`` (any namespace), None if none."""
    found = children(element, name)
    return found[0] if found else None


def read_time(text: str, what: str) -> float:
    """An ISO 8601 time a client sent (``2030-01-01T00:00:00Z``, with or
    without fractions; an offset is taken, none is UTC) as a timestamp;
    ``BadRequest`` (InvalidArgument) naming ``what`` otherwise."""
    try:
        parsed = datetime.fromisoformat(text.strip().replace("Z", "+00:00"))
    except ValueError:
        raise BadRequest("%s is not an ISO 8601 time" % what).as_s3("InvalidArgument") from None
    return (parsed if parsed.tzinfo is not None else parsed.replace(tzinfo=timezone.utc)).timestamp()


def iso_time(stamp: float) -> str:
    """``2026-11-24T18:03:00Z``: a time in XML, in whole seconds, as
    ``Last-Modified`` gives it on a GET or HEAD of the same object.

    Decision: S3 writes ``.000Z``; clients read both forms (RFC 3339), and
    without the fraction boto3 parses a listed key's time 3 us sooner (31
    against 34 us: 30 ms of a 10,000-key walk that takes 0.7 s)."""
    second = int(stamp)
    text = _SECONDS.get(second)
    if text is None:  # keys listed together were mostly written in the same seconds
        if len(_SECONDS) >= 4096:
            _SECONDS.clear()
        text = _SECONDS[second] = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(second))
    return text


_SECONDS: Dict[int, str] = {}  # iso_time's seconds, formatted


def iso_time_ms(stamp: float) -> str:
    """``2030-01-01T00:00:00.250Z``: a time to the millisecond, for what a
    client waits on (an object lock's retain-until date)."""
    seconds, milliseconds = divmod(int(round(stamp * 1000)), 1000)
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(seconds)) + ".%03dZ" % milliseconds


def owner(name: str) -> List[Element]:
    """An ``<Owner>``'s content: one owner, the store's (ids as S3 writes them)."""
    return [Element("ID", name), Element("DisplayName", name)]


