"""WebDAV's XML (RFC 4918): the bodies PROPFIND and PROPPATCH send, the
207 Multi-Status answers, and the properties of a resource.

Live properties come from what the store knows (a file's entry, or a
collection); dead properties (any other a client sets with PROPPATCH) are
kept with the object they were set on, each as its element's XML, and
given back as they were set: their namespaces, attributes, children and
text.

Decisions: a body with a document type or an entity is refused (nothing
expanded, nothing fetched), and so is one nested deeper than any property
needs (``wire.xml_body``); a dead property's element is at most
``MAX_PROP`` bytes of XML and an object holds at most ``MAX_PROPS`` of them.
"""

from __future__ import annotations

import time
import xml.etree.ElementTree as ET
from dataclasses import dataclass, field
from typing import Dict, Iterable, Iterator, List, Optional, Tuple, Union
from urllib.parse import quote

from ...errors import BadRequest
from ...wire import xml_body
from ...wire.response_head import date_text
from ...wire.xml_text import quoted, shown
from .locks import DavLock

DAV = "DAV:"
MAX_BODY = 1 << 20  # bytes of a PROPFIND or PROPPATCH body
MAX_PROP = 16 << 10  # bytes of one dead property's XML
MAX_PROPS = 64  # dead properties an object holds
XML_TYPE = 'application/xml; charset="utf-8"'
LIVE = ("creationdate", "displayname", "getcontentlength", "getcontenttype", "getetag", "getlastmodified",
        "resourcetype", "supportedlock", "lockdiscovery")
PROTECTED = {"{DAV:}%s" % name for name in LIVE} | {"{DAV:}getcontentlanguage"}

ET.register_namespace("D", DAV)


def dav(name: str) -> str:
    return "{DAV:}%s" % name


def parse(body: bytes) -> Optional[ET.Element]:
    """The root element of a request body (None: no body); ``BadRequest``
    for anything that is not well-formed XML, declares a DOCTYPE or an
    entity (in any encoding), or nests too deep (``wire.xml_body``)."""
    if not body.strip():
        return None
    return xml_body.read(body)


@dataclass(frozen=True)
class Find:
    """What a PROPFIND asks: every property (``allprop``, the default), the
    names only (``propname``), or those named (``names``, Clark notation)."""

    kind: str  # "allprop", "propname" or "prop"
    names: Tuple[str, ...] = ()


def find_of(root: Optional[ET.Element]) -> Find:
    if root is None:
        return Find("allprop")
    if root.tag != dav("propfind"):
        raise BadRequest("a PROPFIND body is a DAV:propfind element")
    for child in root:
        if child.tag == dav("allprop"):
            return Find("allprop")
        if child.tag == dav("propname"):
            return Find("propname")
        if child.tag == dav("prop"):
            return Find("prop", tuple(prop.tag for prop in child))
    raise BadRequest("a DAV:propfind holds DAV:allprop, DAV:propname or DAV:prop")


@dataclass(frozen=True)
class Change:
    """One instruction of a PROPPATCH, in document order: ``value`` the
    property's element as XML (None: remove it)."""

    name: str
    value: Optional[str]


def changes_of(root: Optional[ET.Element]) -> List[Change]:
    if root is None or root.tag != dav("propertyupdate"):
        raise BadRequest("a PROPPATCH body is a DAV:propertyupdate element")
    found: List[Change] = []
    for instruction in root:
        if instruction.tag not in (dav("set"), dav("remove")):
            continue
        for prop in instruction.findall(dav("prop")):
            for element in prop:
                value = None
                if instruction.tag == dav("set"):
                    value = ET.tostring(element, encoding="unicode")
                    if len(value.encode("utf-8")) > MAX_PROP:
                        raise BadRequest("a property's value is at most %d bytes of XML" % MAX_PROP)
                found.append(Change(element.tag, value))
    return found


@dataclass
class Resource:
    """A resource as a PROPFIND answer shows it: its ``href`` (already
    percent-encoded) and its properties, Clark name to the property's
    element as XML text (live ones in the answer's ``D:`` prefix; dead ones
    as they were set, declaring their own namespaces)."""

    href: str
    live: Dict[str, str] = field(default_factory=dict)
    dead: Dict[str, str] = field(default_factory=dict)

    def element(self, name: str) -> Optional[str]:
        found = self.live.get(name)
        return found if found is not None else self.dead.get(name)

    def names(self) -> List[str]:
        return list(self.live) + list(self.dead)


# Answers are written as text, not built as ElementTree elements: a listing
# writes a response for each of thousands of members, and building and
# serializing elements took most of its time (docs/benchmarks.md).

def _text(name: str, text: str) -> str:
    return "<D:%s>%s</D:%s>" % (name, quoted(text), name)


def empty(name: str) -> str:
    """An empty element of the Clark name ``name``, declaring its own namespace."""
    if not name.startswith("{"):
        return "<%s/>" % name
    uri, _, local = name[1:].partition("}")
    if uri == DAV:
        return "<D:%s/>" % local
    return '<ns0:%s xmlns:ns0="%s"/>' % (local, quoted(uri))


def live_of(collection: bool, size: int = 0, content_type: Optional[str] = None, etag: Optional[str] = None,
            modified: Optional[float] = None, name: str = "") -> Dict[str, str]:
    """A file's or a collection's live properties."""
    return _live(collection, str(size), content_type or "application/octet-stream",
                 '"%s"' % etag if etag else None, _http_date(modified) if modified is not None else None,
                 _iso(modified) if modified is not None else None, name)


def _live(collection: bool, size: str, content_type: str, etag: Optional[str], last_modified: Optional[str],
          created: Optional[str], name: str) -> Dict[str, str]:
    """The live properties of the values as they are written (``FileRows``
    gives it placeholders to make its template)."""
    live = {RESOURCETYPE: "<D:resourcetype><D:collection/></D:resourcetype>" if collection else "<D:resourcetype/>"}
    if name:
        live[DISPLAYNAME] = "<D:displayname>%s</D:displayname>" % shown(name)  # (only shown: the href is exact)
    if last_modified is not None and created is not None:
        live[GETLASTMODIFIED] = _text("getlastmodified", last_modified)
        live[CREATIONDATE] = _text("creationdate", created)
    if not collection:
        live[GETCONTENTLENGTH] = _text("getcontentlength", size)
        live[GETCONTENTTYPE] = _text("getcontenttype", content_type)
        if etag:
            live[GETETAG] = _text("getetag", etag)
    return live


class FileRows:
    """The responses of a listing's plain files (no dead property, no
    lock): one string formatting each, from a template made once an answer
    by the general path itself (``live_of``, ``found``) with placeholders
    for the values, so that the two cannot differ. A listing of thousands
    of files spent most of its time building each response property by
    property."""

    def __init__(self, find: Find, more: Dict[str, str], extra_name: str) -> None:
        """``more``: the live properties every such file has (no lock's);
        ``extra_name``: the one property a file may have or not (its checksums)."""
        self.find, self.more, self.extra_name = find, more, extra_name
        self._templates: Dict[Tuple[bool, bool], str] = {}

    def row(self, href: str, name: str, size: int, content_type: Optional[str], etag: str, modified: float,
            extra: Optional[str]) -> str:
        """A file's response: ``href`` percent-encoded, ``extra`` the XML of its ``extra_name`` property or None."""
        shape = (bool(etag), extra is not None)
        template = self._templates.get(shape)
        if template is None:
            template = self._templates[shape] = self._template(*shape)
        return template % {"href": quoted(href), "name": shown(name), "size": size,
                           "type": quoted(content_type or "application/octet-stream"), "etag": quoted('"%s"' % etag),
                           "last": _http_date(modified), "created": _iso(modified), "extra": extra or ""}

    def _template(self, etag: bool, extra: bool) -> str:
        mark = "\ue000%s\ue000".__mod__  # (a private-use character: escaping leaves it as it is)
        live = _live(False, mark("size"), mark("type"), mark("etag") if etag else None, mark("last"),
                     mark("created"), mark("name"))
        live.update(self.more)
        if extra:
            live[self.extra_name] = mark("extra")
        text = _found(Resource(mark("href"), live), self.find).replace("%", "%%")
        for field_name in ("href", "name", "size", "type", "etag", "last", "created", "extra"):
            text = text.replace(mark(field_name), "%%(%s)s" % field_name)
        return text


RESOURCETYPE, DISPLAYNAME, GETLASTMODIFIED, CREATIONDATE, GETCONTENTLENGTH, GETCONTENTTYPE, GETETAG = (
    dav(name) for name in ("resourcetype", "displayname", "getlastmodified", "creationdate", "getcontentlength",
                           "getcontenttype", "getetag"))
SUPPORTEDLOCK, LOCKDISCOVERY = dav("supportedlock"), dav("lockdiscovery")
# ``DAV:supportedlock``, the same for every resource: exclusive and shared write locks.
SUPPORTED_LOCK = "<D:supportedlock>%s</D:supportedlock>" % "".join(
    "<D:lockentry><D:lockscope><D:%s/></D:lockscope><D:locktype><D:write/></D:locktype></D:lockentry>" % scope
    for scope in ("exclusive", "shared"))
NO_LOCKS = "<D:lockdiscovery/>"  # the lockdiscovery of a resource no lock covers


def lock_discovery(locks: List[Tuple[DavLock, str]], now: float) -> str:
    """``DAV:lockdiscovery`` of ``(lock, its root's href)``."""
    if not locks:
        return NO_LOCKS
    active = "".join(
        "<D:activelock><D:locktype><D:write/></D:locktype><D:lockscope><D:%s/></D:lockscope>"
        "<D:depth>%s</D:depth>%s<D:timeout>Second-%d</D:timeout><D:locktoken><D:href>%s</D:href></D:locktoken>"
        "<D:lockroot><D:href>%s</D:href></D:lockroot></D:activelock>"
        % (quoted(lock.scope), quoted(lock.depth), lock.owner or "", max(0, int(lock.until - now)),
           quoted(lock.token), quoted(root))
        for lock, root in locks)
    return "<D:lockdiscovery>%s</D:lockdiscovery>" % active


def lock_answer(discovery: str) -> bytes:
    """A LOCK's body: ``DAV:prop`` holding the lock's discovery."""
    return _XML_HEAD + ('<D:prop xmlns:D="DAV:">%s</D:prop>' % discovery).encode("utf-8")


def _http_date(when: float) -> str:
    return date_text(int(when))


def _iso(when: float) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(when))


def href(base: str, segments: List[str], collection: bool) -> str:
    """The percent-encoded path of a resource under ``base`` (``/dav/``)."""
    path = base + "/".join(quote(segment, safe="") for segment in segments)
    return path + "/" if collection and not path.endswith("/") else path


class MultiStatus:
    """A 207 answer's body, written response by response."""

    def __init__(self) -> None:
        self.parts: List[str] = []

    def found(self, resource: Resource, find: Find) -> None:
        """A PROPFIND's response for ``resource``: its properties by status."""
        self.parts.append(_found(resource, find))

    def patched(self, path: str, results: List[Tuple[str, int]]) -> None:
        """A PROPPATCH's response: each property with its status."""
        by_status: Dict[int, List[str]] = {}
        for name, status in results:
            by_status.setdefault(status, []).append(empty(name))
        self.parts.append(_response(path, [(elements, status) for status, elements in by_status.items()]))

    def status(self, path: str, status: int) -> None:
        """A response of a whole resource (a failed member of a COPY or DELETE)."""
        self.parts.append("<D:response><D:href>%s</D:href><D:status>%s</D:status></D:response>"
                          % (quoted(path), _status_line(status)))

    def encode(self) -> bytes:
        return b"".join(self.streamed((), Find("allprop")))

    def streamed(self, more: Iterable[Union[Resource, str]], find: Find) -> Iterator[bytes]:
        """This answer followed by a response for each of ``more`` (a
        resource, or a response written already: ``FileRows``), made one at
        a time as they are read, so that a listing of any size is never
        whole in memory."""
        yield _XML_HEAD + b'<D:multistatus xmlns:D="DAV:">'
        for part in self.parts:
            yield part.encode("utf-8")
        for item in more:
            yield (item if isinstance(item, str) else _found(item, find)).encode("utf-8")
        yield b"</D:multistatus>"


def _found(resource: Resource, find: Find) -> str:
    if find.kind == "propname":
        return _response(resource.href, [([empty(name) for name in resource.names()], 200)])
    present, missing = [], []
    for name in resource.names() if find.kind == "allprop" else find.names:
        element = resource.element(name)
        if element is not None:
            present.append(element)
        else:
            missing.append(empty(name))
    groups = [(present, 200)] if present or not missing else []
    if missing:
        groups.append((missing, 404))
    return _response(resource.href, groups)


def _response(path: str, groups: List[Tuple[List[str], int]]) -> str:
    return "<D:response><D:href>%s</D:href>%s</D:response>" % (quoted(path), "".join(
        "<D:propstat><D:prop>%s</D:prop><D:status>%s</D:status></D:propstat>"
        % ("".join(elements), _status_line(status)) for elements, status in groups))


_XML_HEAD = b'<?xml version="1.0" encoding="utf-8"?>\n'


_REASONS = {200: "OK", 403: "Forbidden", 404: "Not Found", 409: "Conflict", 423: "Locked",
            424: "Failed Dependency", 507: "Insufficient Storage"}


def _status_line(status: int) -> str:
    return "HTTP/1.1 %d %s" % (status, _REASONS.get(status, ""))
