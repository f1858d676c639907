"""XML a client sends (S3's configuration bodies; WebDAV's PROPFIND,
PROPPATCH and LOCK), read into an ``ElementTree`` element with nothing in
it that could make the tree larger or deeper than the client's bytes say.

Decisions:
- No document type declaration and no entity, in any encoding: expat
  itself stops at one (a byte search for ``<!DOCTYPE`` misses one spelled
  in UTF-16), so nothing is ever expanded or fetched.
- At most ``MAX_DEPTH`` elements deep: every later step (serialising a
  dead property, copying it) walks the tree recursively, and a client's
  2,000 nested elements would end there in a recursion error, a 500.
- Tags in Clark notation (``{namespace}name``), as ``ElementTree`` gives them.
"""

from __future__ import annotations

import xml.etree.ElementTree as ElementTree
from xml.parsers import expat

from ..errors import BadRequest

MAX_DEPTH = 64  # elements deep; WebDAV and S3 bodies nest a handful


def read(raw: bytes, utf8_only: bool = False) -> ElementTree.Element:
    """The root element of ``raw``; ``BadRequest`` for anything that is not
    well-formed XML, declares a document type or an entity, nests deeper
    than ``MAX_DEPTH``, or (``utf8_only``) is not UTF-8."""
    if utf8_only and (raw[:2] in (b"\xfe\xff", b"\xff\xfe") or b"\x00" in raw):
        raise BadRequest("the XML is read as UTF-8 only")
    builder = _Builder()
    parser = expat.ParserCreate(encoding="UTF-8" if utf8_only else None, namespace_separator="}")
    parser.SetParamEntityParsing(expat.XML_PARAM_ENTITY_PARSING_NEVER)
    parser.StartDoctypeDeclHandler = _refuse_dtd
    parser.EntityDeclHandler = _refuse_dtd
    if utf8_only:
        parser.XmlDeclHandler = _utf8_only
    parser.StartElementHandler = builder.start
    parser.EndElementHandler = builder.end
    parser.CharacterDataHandler = builder.data
    try:
        parser.Parse(raw, True)
        return builder.close()
    except expat.ExpatError as error:
        raise BadRequest("the XML is not well-formed: %s" % error) from None


class _Builder(ElementTree.TreeBuilder):
    """A tree builder that counts depth and writes expat's ``ns}name`` as ``{ns}name``."""

    def __init__(self) -> None:
        super().__init__()
        self.depth = 0

    def start(self, tag, attributes):  # type: ignore[override]
        self.depth += 1
        if self.depth > MAX_DEPTH:
            raise BadRequest("the XML nests deeper than %d elements" % MAX_DEPTH)
        return super().start(_clark(tag), {_clark(name): value for name, value in attributes.items()})

    def end(self, tag):  # type: ignore[override]
        self.depth -= 1
        return super().end(_clark(tag))


def _clark(name: str) -> str:
    return "{" + name if "}" in name else name


def _refuse_dtd(*_) -> None:
    raise BadRequest("no document type declaration or entity in a request's XML")


def _utf8_only(_version, encoding, _standalone) -> None:
    if encoding is not None and encoding.lower().replace("_", "-") not in ("utf-8", "utf8"):
        raise BadRequest("the XML is read as UTF-8 only, not %s" % encoding[:40])
