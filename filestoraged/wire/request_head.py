"""A fast parser for the request line and headers.

``BaseHTTPRequestHandler.parse_request`` builds an ``email.message.Message``
through the feed parser: a third of the time of a 1 KiB GET, measured with
cProfile. Request heads are simple enough to split by hand, with the same
limits (100 header lines, 64 KiB a line) and stricter framing rules.
"""

from __future__ import annotations

import re
from typing import Dict, List, Optional, Tuple

from ..errors import BadRequest, HeadTooLarge, UriTooLong, VersionNotSupported

MAX_LINE = 65536
MAX_HEADERS = 100
MAX_HEAD = 65536  # bytes of header lines in all: a connection holds at most this much of a head
# RFC 9112 §3.2 Host = uri-host [ ":" port ]; a name or an IP literal. It is
# echoed into answer URLs and Location/Link headers, so it is checked here.
_HOST = re.compile(r"(?:[A-Za-z0-9._~-]+|\[[0-9A-Fa-f:.]+\])(?::[0-9]{1,5})?")
# RFC 9110/9112 as h11's _abnf.py names the rules. A method: a token, and
# here upper-case ASCII letters only (every method anyone sends; G\xc9T is not).
_METHOD = re.compile(r"[A-Z]+")
# token = 1*tchar (a header name).
_TOKEN = re.compile(r"[-!#$%&'*+.^_`|~0-9A-Za-z]+")
# request-target: visible ASCII only (VCHAR), no controls, spaces or bytes
# over 0x7E (they would reach the access log, and a terminal, raw).
_TARGET = re.compile(r"[\x21-\x7e]+")
# field-value = *field-content: VCHAR, obs-text, SP and HTAB inside; any
# other control (CR, LF, NUL, VT, 0x1C-0x1F, DEL, ...) is refused.
_NOT_FIELD_VALUE = re.compile(r"[\x00-\x08\x0a-\x1f\x7f]")
# A head taken whole (``_whole_head``): each byte mapped to 0 where no
# field line may hold it (a control but HTAB, and DEL: what
# ``_NOT_FIELD_VALUE`` finds), CR and LF included (a head passes where its
# only zeros are the CRLFs that end its lines), 1 elsewhere.
_FIELD_BYTES = bytes(0 if byte < 0x20 and byte != 0x09 or byte == 0x7f else 1 for byte in range(256))
# Header names found to be tokens, kept so that the usual ones are not
# matched again in every request; bounded (clients choose names).
_TOKENS_SEEN: set = set()
_TOKENS_KEPT = 1024


class Headers:
    """Request headers with case-insensitive lookup; repeated names are joined
    with ", " (RFC 9110 §5.3)."""

    __slots__ = ("_values", "_names")

    def __init__(self) -> None:
        self._values: Dict[str, Tuple[str, str]] = {}  # lower name -> (name, value)
        self._names: Optional[str] = None  # "\n" before each lower name, made by the first ``starting``

    def add(self, name: str, value: str) -> None:
        self._names = None
        key = name.lower()
        if key in self._values:
            value = self._values[key][1] + ", " + value
        self._values[key] = (name, value)

    def replace(self, name: str, value: str) -> None:
        """``name`` to hold ``value`` alone, whatever it held."""
        self._names = None
        self._values[name.lower()] = (name, value)

    def get(self, name: str, default: Optional[str] = None) -> Optional[str]:
        found = self._values.get(name.lower())
        return default if found is None else found[1]

    def __getitem__(self, name: str) -> str:
        return self._values[name.lower()][1]

    def items(self):
        """``(name, value)`` of each header, the name as first sent."""
        return iter(self._values.values())

    def names(self):
        """The lower-case name of each header (a view: not to be kept
        while headers are added), for scans by name."""
        return self._values.keys()

    def starting(self, prefix: str) -> List[str]:
        """The lower-case names that begin with ``prefix`` (lower-case), as
        first sent. Decision: the usual answer, none, is found by one
        search of a string of the names instead of a look at each, which
        every S3 write asks of four prefixes."""
        if self._names is None:
            self._names = "\n" + "\n".join(self._values)
        if "\n" + prefix not in self._names:
            return []
        return [name for name in self._values if name.startswith(prefix)]

    def has_any(self, lowered_names: frozenset) -> bool:
        """True if any of these (lowercase) header names is present."""
        return not lowered_names.isdisjoint(self._values)

    def __contains__(self, name: object) -> bool:
        return isinstance(name, str) and name.lower() in self._values


def is_field_name(name: str) -> bool:
    """Whether ``name`` may be a header's name (a token): what a form's
    field must be to be kept as one."""
    return _TOKEN.fullmatch(name) is not None


class IncompleteHead(ConnectionError):
    """The client closed the connection before its head ended: the request
    is dropped, never executed."""


def parse_request_line(line: bytes) -> Tuple[str, str, str]:
    """``(method, target, version)`` from ``GET /x HTTP/1.1\\r\\n`` (as read,
    at most ``MAX_LINE + 1`` bytes: longer is ``UriTooLong``)."""
    if len(line) > MAX_LINE:
        raise UriTooLong()
    if not line.endswith(b"\n"):
        raise IncompleteHead("the connection closed inside the request line")
    text = line.decode("latin-1").rstrip("\r\n")
    parts = text.split(" ")
    if len(parts) != 3 or not parts[0] or not parts[1]:
        raise BadRequest("bad request line %r" % text[:100])
    method, target, version = parts
    if version not in ("HTTP/1.1", "HTTP/1.0"):
        if version.startswith("HTTP/"):
            raise VersionNotSupported("unsupported HTTP version %r" % version[:20])
        raise BadRequest("bad request line %r" % text[:100])
    if not _METHOD.fullmatch(method):
        raise BadRequest("bad method %s" % ascii(method[:20]))
    if not _TARGET.fullmatch(target):
        raise BadRequest("the request target has a control, a space or a non-ASCII byte")
    return method, target, version


def origin_form(target: str, headers: Headers) -> str:
    """The target as a path and query: one in absolute form
    (``http://host[:port]/path?query``, which RFC 9112 §3.2.2 has a server
    take) gives its path and query, and its authority is the request's
    Host from then on (the received Host is ignored, as the RFC says), so
    that the names the daemon answers to are judged by it."""
    if target[0] == "/" or not target[:8].lower().startswith(("http://", "https://")):
        return target
    rest = target.partition("://")[2]
    cut = min((at for at in (rest.find("/"), rest.find("?")) if at >= 0), default=len(rest))
    authority, path = rest[:cut], rest[cut:]
    if not is_host(authority):
        raise BadRequest("the request target's authority is not host[:port]: %s" % ascii(authority[:100]))
    headers.replace("Host", authority)
    return path if path.startswith("/") else "/" + path


def read_headers(rfile, budget: int = MAX_HEAD) -> Headers:
    """Read header lines up to the blank line, at most ``budget`` bytes in all
    (``HeadTooLarge`` past it); reject what could smuggle a request.
    Decision: a head that ``rfile`` holds whole already (as a client's head
    usually arrives, in one packet with its request line) is checked and
    split at once (``_whole_head``), not line by line (some 60 lines of
    Python a request); anything else, a head still arriving or
    one that does not pass, is read line by line, which takes the same
    heads and says what is wrong with the others."""
    headers = _whole_head(rfile, budget)
    if headers is not None:
        _check_framing(headers)
        return headers
    headers = Headers()
    for _ in range(MAX_HEADERS + 1):
        line = rfile.readline(min(MAX_LINE, budget) + 1)
        budget -= len(line)
        if budget < 0:
            raise HeadTooLarge("the request head is over %d bytes" % MAX_HEAD)
        if len(line) > MAX_LINE:
            raise BadRequest("header line too long")
        if line in (b"\r\n", b"\n"):
            break
        if not line.endswith(b"\n"):
            raise IncompleteHead("the connection closed inside the request head")
        text = line.decode("latin-1")
        name, sep, value = text[:-2 if text.endswith("\r\n") else -1].partition(":")
        if not sep or not _TOKEN.fullmatch(name):
            raise BadRequest("bad header line %s" % ascii(line[:60]))
        value = value.strip(" \t")  # OWS, and nothing else (\x85 and \x0b are not white space here)
        if _NOT_FIELD_VALUE.search(value):
            # RFC 9112 §2.2: a bare CR is refused, not read as a line end, so no
            # front end that ends lines at CR can see other headers than we do;
            # nor any other control a front end might read otherwise.
            raise BadRequest("a bare CR, NUL or other control character in header %r" % name[:60])
        headers.add(name, value)
    else:
        raise BadRequest("more than %d header lines" % MAX_HEADERS)
    _check_framing(headers)
    return headers


def _whole_head(rfile, budget: int) -> Optional[Headers]:
    """The headers of a head ``rfile`` holds whole and well made, read;
    None, nothing read, where it does not.
    Decision: checked by C loops over its bytes (a table lookup each, then
    a count of the zeros) and split by ``str`` methods, not by regular
    expressions (one to check it all, one to find each line: 101k
    instructions for a signed S3 request's head of 600 bytes, against 71k)."""
    ahead = rfile.peek(1)
    if ahead.startswith(b"\r\n") and budget >= 2:
        rfile.read(2)
        return Headers()
    end = ahead.find(b"\r\n\r\n") + 4
    if end < 4 or end > budget:
        return None
    raw = ahead[:end - 4]
    lines = raw.decode("latin-1").split("\r\n")
    if len(lines) > MAX_HEADERS or raw.translate(_FIELD_BYTES).count(0) != 2 * len(lines) - 2:
        return None
    fields = [line.partition(":") for line in lines]
    names = [name for name, _, _ in fields]
    if not _TOKENS_SEEN.issuperset(names):
        if not all([_TOKEN.fullmatch(name) for name in names]):
            return None
        if len(_TOKENS_SEEN) < _TOKENS_KEPT:
            _TOKENS_SEEN.update(names)
    if not all([colon for _, colon, _ in fields]):
        return None
    headers = Headers()
    # OWS stripped, and nothing else (as line by line); a name sent twice
    # (the table comes out shorter) has its values joined by ``add``.
    headers._values = {name.lower(): (name, value.strip(" \t")) for name, _, value in fields}
    if len(headers._values) < len(fields):
        headers = Headers()
        for name, _, value in fields:
            headers.add(name, value.strip(" \t"))
    rfile.read(end)
    return headers


def is_host(value: str) -> bool:
    """True for a ``host[:port]`` as RFC 9112 §3.2 has it (a name or an IP literal)."""
    return _HOST.fullmatch(value) is not None


def _check_framing(headers: Headers) -> None:
    """RFC 9112 §6: one way to find the body's end, or the request is refused
    (and the connection closed): a body whose end we do not know would be
    read as the next request."""
    if "Transfer-Encoding" in headers:
        if "Content-Length" in headers:
            raise BadRequest("both Transfer-Encoding and Content-Length")
        if headers["Transfer-Encoding"].lower() != "chunked":  # exactly: no other coding, nothing around it
            raise BadRequest("Transfer-Encoding other than chunked: %r" % headers["Transfer-Encoding"][:60])
    host = headers.get("Host")
    if host and not is_host(host):
        raise BadRequest("the Host header is not a valid host[:port]: %s" % ascii(host[:100]))


def keeps_alive(version: str, headers: Headers) -> bool:
    """HTTP/1.1 keeps the connection unless told to close; 1.0 only if asked."""
    tokens = {t.strip().lower() for t in (headers.get("Connection") or "").split(",")}
    if version == "HTTP/1.1":
        return "close" not in tokens
    return "keep-alive" in tokens
