"""WebDAV's XML (RFC 4918): the bodies PROPFIND and PROPPATCH send, the
207 Multi-Status answers, and the properties of a resource.

Live properties come from what the store knows (a file's entry, or a
collection); dead properties (any other a client sets with PROPPATCH) are
kept with the object they were set on, each as its element's XML, and
given back as they were set: their namespaces, attributes, children and
text.

Decisions: a body with a ``<!DOCTYPE`` is refused (no entities, nothing
fetched); a dead property's element is at most ``MAX_PROP`` bytes of XML
and an object holds at most ``MAX_PROPS`` of them.
"""

from __future__ import annotations

import time
import xml.etree.ElementTree as ET
from dataclasses import dataclass, field
from email.utils import formatdate
from typing import Dict, Iterable, Iterator, List, Optional, Tuple
from urllib.parse import quote

from ...errors import BadRequest
from .locks import Lock

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
    for anything that is not well-formed XML, or declares a DOCTYPE."""
    if not body.strip():
        return None
    if b"<!DOCTYPE" in body or b"<!ENTITY" in body:
        raise BadRequest("a WebDAV body declares no DOCTYPE or entities")
    try:
        return ET.fromstring(body)
    except ET.ParseError as error:
        raise BadRequest("the body is not well-formed XML: %s" % error) from None


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
    percent-encoded) and its properties (Clark name to element)."""

    href: str
    live: Dict[str, ET.Element] = field(default_factory=dict)
    dead: Dict[str, str] = field(default_factory=dict)

    def element(self, name: str) -> Optional[ET.Element]:
        if name in self.live:
            return self.live[name]
        if name in self.dead:
            return ET.fromstring(self.dead[name])
        return None

    def names(self) -> List[str]:
        return list(self.live) + list(self.dead)


def _text(name: str, text: str) -> ET.Element:
    element = ET.Element(dav(name))
    element.text = text
    return element


def live_of(collection: bool, size: int = 0, content_type: Optional[str] = None, etag: Optional[str] = None,
            modified: Optional[float] = None, name: str = "") -> Dict[str, ET.Element]:
    """A file's or a collection's live properties."""
    live: Dict[str, ET.Element] = {}
    kind = ET.Element(dav("resourcetype"))
    if collection:
        ET.SubElement(kind, dav("collection"))
    live[kind.tag] = kind
    if name:
        live[dav("displayname")] = _text("displayname", name)
    if modified is not None:
        live[dav("getlastmodified")] = _text("getlastmodified", formatdate(modified, usegmt=True))
        live[dav("creationdate")] = _text("creationdate", _iso(modified))
    if not collection:
        live[dav("getcontentlength")] = _text("getcontentlength", str(size))
        live[dav("getcontenttype")] = _text("getcontenttype", content_type or "application/octet-stream")
        if etag:
            live[dav("getetag")] = _text("getetag", '"%s"' % etag)
    return live


def supported_lock() -> ET.Element:
    """``DAV:supportedlock``: exclusive and shared write locks."""
    element = ET.Element(dav("supportedlock"))
    for scope in ("exclusive", "shared"):
        entry = ET.SubElement(element, dav("lockentry"))
        ET.SubElement(ET.SubElement(entry, dav("lockscope")), dav(scope))
        ET.SubElement(ET.SubElement(entry, dav("locktype")), dav("write"))
    return element


def lock_discovery(locks: List[Tuple[Lock, str]], now: float) -> ET.Element:
    """``DAV:lockdiscovery`` of ``(lock, its root's href)``."""
    element = ET.Element(dav("lockdiscovery"))
    for lock, root in locks:
        active = ET.SubElement(element, dav("activelock"))
        ET.SubElement(ET.SubElement(active, dav("locktype")), dav("write"))
        ET.SubElement(ET.SubElement(active, dav("lockscope")), dav(lock.scope))
        ET.SubElement(active, dav("depth")).text = lock.depth
        if lock.owner:
            active.append(ET.fromstring(lock.owner))
        ET.SubElement(active, dav("timeout")).text = "Second-%d" % max(0, int(lock.until - now))
        ET.SubElement(ET.SubElement(active, dav("locktoken")), dav("href")).text = lock.token
        ET.SubElement(ET.SubElement(active, dav("lockroot")), dav("href")).text = root
    return element


def lock_answer(discovery: ET.Element) -> bytes:
    """A LOCK's body: ``DAV:prop`` holding the lock's discovery."""
    prop = ET.Element(dav("prop"))
    prop.append(discovery)
    return b'<?xml version="1.0" encoding="utf-8"?>\n' + ET.tostring(prop, encoding="utf-8", xml_declaration=False)


def _iso(when: float) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(when))


def href(base: str, segments: List[str], collection: bool) -> str:
    """The percent-encoded path of a resource under ``base`` (``/dav/``)."""
    path = base + "/".join(quote(segment, safe="") for segment in segments)
    return path + "/" if collection and not path.endswith("/") else path


class MultiStatus:
    """A 207 answer's body, built response by response."""

    def __init__(self) -> None:
        self.root = ET.Element(dav("multistatus"))

    def found(self, resource: Resource, find: Find) -> None:
        """A PROPFIND's response for ``resource``: its properties by status."""
        response = ET.SubElement(self.root, dav("response"))
        ET.SubElement(response, dav("href")).text = resource.href
        if find.kind == "propname":
            self._propstat(response, [ET.Element(name) for name in resource.names()], 200)
            return
        wanted = resource.names() if find.kind == "allprop" else list(find.names)
        present, missing = [], []
        for name in wanted:
            element = resource.element(name)
            if element is not None:
                present.append(element)
            else:
                missing.append(ET.Element(name))
        if present or not missing:
            self._propstat(response, present, 200)
        if missing:
            self._propstat(response, missing, 404)

    def patched(self, path: str, results: List[Tuple[str, int]]) -> None:
        """A PROPPATCH's response: each property with its status."""
        response = ET.SubElement(self.root, dav("response"))
        ET.SubElement(response, dav("href")).text = path
        by_status: Dict[int, List[ET.Element]] = {}
        for name, status in results:
            by_status.setdefault(status, []).append(ET.Element(name))
        for status, elements in by_status.items():
            self._propstat(response, elements, status)

    def status(self, path: str, status: int) -> None:
        """A response of a whole resource (a failed member of a COPY or DELETE)."""
        response = ET.SubElement(self.root, dav("response"))
        ET.SubElement(response, dav("href")).text = path
        ET.SubElement(response, dav("status")).text = _status_line(status)

    def _propstat(self, response: ET.Element, elements: List[ET.Element], status: int) -> None:
        propstat = ET.SubElement(response, dav("propstat"))
        prop = ET.SubElement(propstat, dav("prop"))
        prop.extend(elements)
        ET.SubElement(propstat, dav("status")).text = _status_line(status)

    def encode(self) -> bytes:
        return _XML_HEAD + ET.tostring(self.root, encoding="utf-8", xml_declaration=False)

    def streamed(self, more: Iterable[Resource], find: Find) -> Iterator[bytes]:
        """This answer followed by a response for each of ``more``, made
        one at a time as they are read, so that a listing of any size is
        never whole in memory (each response declares the namespaces it uses)."""
        yield _XML_HEAD + b'<D:multistatus xmlns:D="DAV:">'
        for response in self.root:
            yield ET.tostring(response, encoding="utf-8", xml_declaration=False)
        for resource in more:
            one = MultiStatus()
            one.found(resource, find)
            yield ET.tostring(one.root[0], encoding="utf-8", xml_declaration=False)
        yield b"</D:multistatus>"


_XML_HEAD = b'<?xml version="1.0" encoding="utf-8"?>\n'


_REASONS = {200: "OK", 403: "Forbidden", 404: "Not Found", 409: "Conflict", 423: "Locked",
            424: "Failed Dependency", 507: "Insufficient Storage"}


def _status_line(status: int) -> str:
    return "HTTP/1.1 %d %s" % (status, _REASONS.get(status, ""))
