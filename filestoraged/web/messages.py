"""What a face receives (``Request``) and what it returns (the ``Response`` kinds).

Faces never touch the socket: they read the request and return a response
object; the handler writes it. That keeps the HTTP sharp edges (one write for
small answers, Content-Length, HEAD, ranges, connection state) in one place.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any, Callable, Dict, Optional
from urllib.parse import parse_qs

from .body import RequestBody
from ..errors import BadRequest, FileStoreError
from ..storage.interface import StoredObject


class Request:
    """One parsed request: method, path, query, headers and a lazily opened body."""

    def __init__(self, handler, method: str, path: str, query: str) -> None:
        self._handler = handler
        self.method = method
        self.path = path
        self._query = query
        self.headers = handler.headers
        self.body_opened: Optional[RequestBody] = None

    @property
    def query(self) -> Dict[str, str]:
        """Query parameters (the first of repeated names), parsed on first use."""
        parsed = self.__dict__.get("_parsed_query")
        if parsed is None:
            parsed = {k: v[0] for k, v in parse_qs(self._query, keep_blank_values=True).items()}
            self.__dict__["_parsed_query"] = parsed
        return parsed

    def body(self, limit: int) -> RequestBody:
        """The body as a stream of at most ``limit`` bytes (``TooLarge`` past it,
        decided from Content-Length before anything is read when possible)."""
        if self.body_opened is None:
            self.body_opened = RequestBody(
                self._handler.rfile, self.headers, limit, self._handler.send_continue
            )
        return self.body_opened

    def json_body(self, limit: int) -> Any:
        """The body parsed as JSON; ``BadRequest`` if it is not valid JSON."""
        raw = self.body(limit).read_all()
        try:
            return json.loads(raw.decode("utf-8"))
        except (UnicodeDecodeError, ValueError):
            raise BadRequest("the body is not valid JSON") from None

    @property
    def base_url(self) -> str:
        """``http://host[:port]`` as the client addressed us (for absolute URLs)."""
        return self._handler.base_url()


@dataclass
class JsonResponse:
    status: int
    data: Any
    headers: Dict[str, str] = field(default_factory=dict)

    def encode(self) -> bytes:
        return json.dumps(self.data, separators=(",", ":"), ensure_ascii=False).encode("utf-8")


@dataclass
class EmptyResponse:
    status: int = 204
    headers: Dict[str, str] = field(default_factory=dict)


@dataclass
class TextResponse:
    status: int
    text: str
    content_type: str = "text/plain; charset=utf-8"


@dataclass
class ObjectResponse:
    """Stream a stored object, honouring If-None-Match and Range.

    ``on_done(complete)`` is called once after the transfer: ``True`` when the
    last byte went out, ``False`` when it was cut (client gone, corruption) —
    share links use it to count or give back a download.
    """

    obj: StoredObject
    headers: Dict[str, str] = field(default_factory=dict)
    on_done: Optional[Callable[[bool], None]] = None
    content_type: Optional[str] = None
    ranges: bool = True  # honour Range/If-Range


def error_body(error: BaseException, code: str) -> Dict[str, str]:
    message = error.text if isinstance(error, FileStoreError) else "internal server error"
    return {"error": code, "message": message}
