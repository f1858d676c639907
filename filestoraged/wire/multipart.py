"""A streaming ``multipart/form-data`` parser (RFC 7578) that never buffers a part.

Each part is a readable stream (``readinto``) that ends at the next boundary,
so a 50 MiB ``file`` part flows straight into storage. The stdlib ``cgi``
module is gone in 3.13 and ``email`` parses whole messages in memory, hence
this small parser.
"""

from __future__ import annotations

import re
from typing import Callable, Dict, Iterator, Optional
from urllib.parse import unquote

from ..errors import BadRequest
from ..base.streams import read_into

MAX_PART_HEADERS = 16 * 1024  # bytes of headers in one part
MAX_PARTS = 64
READ_BLOCK = 512 * 1024  # bytes read from the body at a time


def boundary_of(content_type: str) -> Optional[str]:
    """The boundary of a ``multipart/form-data`` Content-Type, else None."""
    kind, params = parse_header_value(content_type)
    if kind != "multipart/form-data":
        return None
    boundary = params.get("boundary", "")
    if not 1 <= len(boundary) <= 70:
        raise BadRequest("multipart/form-data needs a boundary of 1-70 characters")
    return boundary


class Part:
    """One form field: its name, filename, content type and a stream of its bytes."""

    def __init__(self, reader: "MultipartReader", headers: Dict[str, str]) -> None:
        self._reader = reader
        self.headers = headers
        disposition, params = parse_header_value(headers.get("content-disposition", ""))
        if disposition != "form-data" or "name" not in params:
            raise BadRequest("a multipart part lacks Content-Disposition: form-data; name=...")
        self.name = params["name"]
        self.filename = params.get("filename")
        self.content_type = headers.get("content-type")
        self.done = False

    def readinto(self, buffer: memoryview) -> int:
        if self.done:
            return 0
        count = self._reader._read_part_data(buffer)
        if not count:
            self.done = True
        return count

    def read_text(self, most: int) -> str:
        """The whole value of a small (non-file) field, at most ``most`` bytes."""
        buffer = bytearray(most + 1)
        view = memoryview(buffer)
        filled = 0
        while filled <= most:
            count = self.readinto(view[filled:])
            if not count:
                break
            filled += count
        if filled > most:
            raise BadRequest("form field %r is longer than %d bytes" % (self.name, most))
        try:
            return bytes(buffer[:filled]).decode("utf-8")
        except UnicodeDecodeError:
            raise BadRequest("form field %r is not UTF-8" % self.name) from None

    def drain(self) -> None:
        _drain(self.readinto)


class MultipartReader:
    """Iterate over the parts of a multipart body read from ``stream``."""

    def __init__(self, stream, boundary: str) -> None:
        self._stream = stream
        # The first boundary may follow the preamble directly, without a CRLF;
        # starting the buffer with one lets a single delimiter pattern match all.
        self._delimiter = b"\r\n--" + boundary.encode("latin-1")
        self._buffer = bytearray(b"\r\n")
        self._eof = False
        self._scanned = 0  # bytes of _buffer known to hold no delimiter start
        self._read_block = memoryview(bytearray(READ_BLOCK))

    def parts(self) -> Iterator[Part]:
        """Yield each part in order; the previous one is drained before the next."""
        self._skip_preamble()
        for _ in range(MAX_PARTS):
            if self._after_delimiter_is_close():
                return
            part = Part(self, self._read_part_headers())
            yield part
            part.drain()
        raise BadRequest("more than %d parts in a multipart body" % MAX_PARTS)


    def _fill(self) -> bool:
        """Read more of the stream into the buffer; False at its end."""
        if self._eof:
            return False
        count = read_into(self._stream, self._read_block)
        if not count:
            self._eof = True
            return False
        self._buffer += self._read_block[:count]
        return True

    def _find_delimiter(self) -> int:
        index = self._buffer.find(self._delimiter, self._scanned)
        if index < 0:
            self._scanned = max(0, len(self._buffer) - len(self._delimiter) + 1)
        return index

    def _read_part_data(self, out: memoryview) -> int:
        while True:
            index = self._find_delimiter()
            if index == 0:
                return 0
            if index > 0:
                available = index
            else:
                available = self._scanned
            if available:
                count = min(available, len(out))
                out[:count] = self._buffer[:count]
                del self._buffer[:count]
                self._scanned = max(0, self._scanned - count)
                return count
            if not self._fill():
                raise BadRequest("the multipart body ended inside a part")

    def _skip_preamble(self) -> None:
        _drain(self._read_part_data)

    def _after_delimiter_is_close(self) -> bool:
        """Consume the delimiter at the buffer's start and what follows it."""
        while len(self._buffer) < len(self._delimiter) + 2:
            if not self._fill():
                raise BadRequest("the multipart body ended inside a boundary")
        del self._buffer[: len(self._delimiter)]
        self._scanned = 0
        if self._buffer[:2] == b"--":
            return True
        return False

    def _read_part_headers(self) -> Dict[str, str]:
        while True:
            end = self._buffer.find(b"\r\n\r\n")
            if end >= 0:
                break
            if len(self._buffer) > MAX_PART_HEADERS:
                raise BadRequest("multipart part headers are too long")
            if not self._fill():
                raise BadRequest("the multipart body ended inside part headers")
        raw = bytes(self._buffer[:end])
        del self._buffer[: end + 4]  # the headers and the blank line after them
        self._scanned = 0
        return _parse_headers(raw)


def _drain(read: Callable[[memoryview], int]) -> None:
    """Read and drop until ``read`` reports the end (0)."""
    scratch = memoryview(bytearray(65536))
    while read(scratch):
        pass


def _parse_headers(raw: bytes) -> Dict[str, str]:
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        text = raw.decode("latin-1")
    lines = text.split("\r\n")
    if lines[0].strip(" \t"):
        raise BadRequest("junk after a multipart boundary")
    headers: Dict[str, str] = {}
    for line in lines[1:]:
        name, sep, value = line.partition(":")
        if not sep:
            raise BadRequest("bad multipart header line %r" % line[:60])
        headers[name.strip().lower()] = value.strip()
    return headers


_PARAM = re.compile(r';\s*([^=\s;]+)\s*=\s*("(?:[^"\\]|\\.)*"|[^;]*)')


def parse_header_value(value: str) -> tuple:
    """Split ``type; a=1; b="x"`` into ``("type", {"a": "1", "b": "x"})``.

    Handles quoted strings with backslash escapes, the ``%22``-style escapes
    browsers and urllib3 use in filenames, and RFC 5987 ``name*=UTF-8''...``.
    """
    main, _, rest = value.partition(";")
    params: Dict[str, str] = {}
    for match in _PARAM.finditer(";" + rest):
        key = match.group(1).lower()
        raw = match.group(2).strip()
        if raw.startswith('"') and raw.endswith('"') and len(raw) >= 2:
            raw = re.sub(r"\\(.)", r"\1", raw[1:-1])
            raw = raw.replace("%22", '"').replace("%0D", "\r").replace("%0A", "\n")
        if key.endswith("*"):
            charset, _, encoded = raw.partition("''")
            try:
                params[key[:-1]] = unquote(encoded, encoding=charset or "utf-8", errors="strict")
            except (LookupError, UnicodeDecodeError):
                continue
        elif key not in params:
            params[key] = raw
    return main.strip().lower(), params
