"""What a face receives (``Request``) and what it returns (the ``Response`` kinds).

Faces never touch the socket: they read the request and return a response
object; the handler writes it. That keeps the HTTP sharp edges (one write for
small answers, Content-Length, HEAD, ranges, connection state) in one place.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from typing import Any, Callable, Dict, Iterator, Optional, Tuple, Union
from urllib.parse import parse_qs

from ..errors import BadRequest, FileStoreError, extra_headers, http_status
from ..access.gate import Grant, logged
from ..base.json_text import compact_encoder, strict
from ..storage.interface import StoredObject
from ..wire.body import RequestBody
from ..wire.request_head import Headers


class Request:
    """One parsed request: method, path, query, headers and a lazily opened body.

    Built from what it needs, not from the connection: ``open_body(limit)``
    makes the body stream (the handler knows the socket and answers
    ``100-continue``), ``base_url`` is ``http://host[:port]`` as the client
    addressed us or as configured (for absolute URLs in answers).
    """

    def __init__(self, method: str, path: str, query: str, headers: Headers,
                 open_body: Callable[[int], RequestBody], base_url: Callable[[], str], client: str,
                 grant: Grant) -> None:
        """``base_url``: makes ``base_url`` when first asked (most answers
        name no URL); ``client``: the client's address (the one a trusted
        proxy forwarded); ``grant``: what its token lets it do (see
        ``access.gate``)."""
        self.method = method
        self.path = path
        self._query = query
        self.headers = headers
        self._open_body = open_body
        self._base_url: "Callable[[], str] | str" = base_url
        self.client = client
        self.grant = grant
        # What a face looked up once for this request and its later steps
        # read again (the S3 API's bucket: ``catalog.handle``).
        self.looked_up: Dict[str, Any] = {}

    # Set as the request goes (their defaults the class's: none is set for most requests).
    body_opened: Optional[RequestBody] = None
    request_id: Optional[str] = None  # see ``identify``
    # The name of the token a face proved otherwise than by its secret
    # in the headers (the S3 API's signature): see ``acted_as``.
    actor: Any = None  # the token or user a face proved (access.gate.Principal), else None
    # What a face took the request for, where it names operations (the
    # S3 API's: PutObject ...): counted by it in /metrics.
    operation: Optional[str] = None

    @property
    def base_url(self) -> str:
        """``http://host[:port]`` as the client addressed us or as configured."""
        url = self._base_url
        if not isinstance(url, str):
            url = self._base_url = url()
        return url

    def identify(self) -> str:
        """An id for this request, made on first use, that its answer may
        name and its access-log line shows (Git LFS errors carry one)."""
        if self.request_id is None:
            self.request_id = new_request_id()
        return self.request_id

    def acted_as(self) -> Optional[str]:
        """The name of the live token or user the request came from (never
        a secret): the one a face proved (``actor``), else the one its
        headers carry; None without one."""
        return self.actor.name if self.actor is not None else self.grant.holder()

    def logged_as(self) -> Optional[str]:
        """Who the request came from as the access line says it: ``token=NAME`` or ``user=NAME``."""
        return logged(self.actor) if self.actor is not None else self.grant.logged()

    @property
    def raw_query(self) -> str:
        """The query string as it came (percent-encoded; a signature signs it so)."""
        return self._query

    @property
    def query(self) -> Dict[str, str]:
        """Query parameters (the first of repeated names), parsed on first use."""
        parsed = self.__dict__.get("_parsed_query")
        if parsed is None:
            parsed = {k: v[0] for k, v in parse_qs(self._query, keep_blank_values=True).items()} if self._query else {}
            self.__dict__["_parsed_query"] = parsed
        return parsed

    def body(self, limit: int) -> RequestBody:
        """The body as a stream of at most ``limit`` bytes (``TooLarge`` past it,
        decided from Content-Length before anything is read when possible)."""
        if self.body_opened is None:
            self.body_opened = self._open_body(limit)
        return self.body_opened

    def json_body(self, limit: int) -> Any:
        """The body parsed as JSON; ``BadRequest`` if it is not valid JSON."""
        return parse_json(self.body(limit).read_all())


def parse_json(raw: bytes) -> Any:
    """Strict JSON (``json_text.strict``: RFC 8259's, at most 100 levels
    deep); anything else is ``BadRequest``."""
    try:
        return strict(raw)
    except ValueError as error:
        raise BadRequest("the body is not valid JSON: %s" % str(error)[:200]) from None


_answer_text = compact_encoder(ensure_ascii=False)


@dataclass
class JsonResponse:
    status: int
    data: Any
    headers: Dict[str, str] = field(default_factory=dict)
    content_type: str = "application/json"  # Git LFS answers application/vnd.git-lfs+json
    reason: Optional[str] = None  # the status line's reason phrase, where not the status's own (``reason_phrase``)

    def encode(self) -> bytes:
        # The newline: a shell prompt after `curl` starts on a line of its own.
        return (_answer_text(self.data) + "\n").encode("utf-8")


@dataclass
class EmptyResponse:
    status: int = 204
    headers: Dict[str, str] = field(default_factory=dict)


@dataclass
class TextResponse:
    status: int
    text: str
    content_type: str = "text/plain; charset=utf-8"
    headers: Dict[str, str] = field(default_factory=dict)


@dataclass
class ObjectResponse:
    """Stream a stored object, honouring its conditions and Range (``wire.ranges``).

    ``on_done(complete)`` is called once after the transfer: ``True`` when the
    last byte went out, ``False`` when it was cut (client gone, corruption).
    ``before_last()``, if given, is called once every byte but the last piece
    went out and that piece is verified, before it is sent: share links
    count a download there, so that a daemon killed between its last byte
    and its count cannot give the download twice (and give it back in
    ``on_done(False)`` when the last piece then fails to leave).
    """

    obj: StoredObject
    headers: Dict[str, str] = field(default_factory=dict)
    on_done: Optional[Callable[[bool], None]] = None
    content_type: Optional[str] = None
    ranges: bool = True  # honour Range/If-Range
    immutable: bool = True  # content-addressed: cacheable for ever, Last-Modified, If-Modified-Since
    before_last: Optional[Callable[[], None]] = None
    etag: Optional[str] = None  # the entity tag, if not the object's id (an S3 key's MD5)
    modified: Optional[float] = None  # the date conditions are judged by, if not the stored object's
    span: Optional[Tuple[int, int]] = None  # (start, end) the face chose to serve (an S3 part), as a range
    documents: bool = False  # a PDF may be shown inline, sandboxed (``transfer.safe_serving``): a preview
    # Called with the header lines, the verified bytes and the proof of a small object served whole
    # to a GET (a face that keeps such answers: ``s3api.answered``).
    keep: Optional[Callable[[str, bytes, Callable[[], bool]], None]] = None


@dataclass
class PreparedResponse:
    """An answer whose header lines were made, and checked, for an earlier
    request (``s3api.answered``): ``fields``, then ``headers`` of this
    request's own (checked as every header is), then ``body`` (not for HEAD)."""

    status: int
    fields: str
    body: bytes
    headers: Dict[str, str] = field(default_factory=dict)


@dataclass
class StreamResponse:
    """An answer whose body is made as it is sent, so that it is never
    whole in memory (a WebDAV listing of any size): ``pieces`` yields its
    bytes. It goes out chunked (on HTTP/1.0, ended by closing the
    connection). A failure before the first piece is answered as any
    failure; after it the connection is cut, so the client sees a body
    that never ended, never a whole-looking wrong one."""

    status: int
    pieces: Iterator[bytes]
    content_type: str
    headers: Dict[str, str] = field(default_factory=dict)


# What a face returns.
Response = Union[JsonResponse, TextResponse, EmptyResponse, ObjectResponse, StreamResponse, PreparedResponse]


def new_request_id() -> str:
    """A request's id: unique, not secret (S3's are neither), from the
    random module's generator: no system call a request."""
    return "%016x" % random.getrandbits(64)


def whole_parts(
    response: Union[JsonResponse, TextResponse, EmptyResponse], method: str
) -> Tuple[Dict[str, str], bytes]:
    """The header fields and body bytes of an answer of known size. 204 and
    304 carry no length; HEAD and both of them carry no body."""
    if isinstance(response, JsonResponse):
        payload, content_type = response.encode(), response.content_type
    elif isinstance(response, TextResponse):
        payload, content_type = response.text.encode("utf-8"), response.content_type
    else:
        payload, content_type = b"", None
    headers = dict(response.headers)
    if content_type and payload:
        headers["Content-Type"] = content_type
    if response.status not in (204, 304):
        headers["Content-Length"] = str(len(payload))
    if method == "HEAD" or response.status in (204, 304):
        payload = b""
    return headers, payload


def error_response(error: BaseException) -> JsonResponse:
    """The answer to a failure: its status from the one table (``errors``), a
    JSON body ``{"error", "message"}`` and the headers the error carries."""
    status, code = http_status(error)
    message = error.text if isinstance(error, FileStoreError) else "internal server error"
    return JsonResponse(status, {"error": code, "message": message}, extra_headers(error))
