"""What one listening server serves: its routes, how a request is let in,
and how a failure is answered. The main port serves the application's
faces (JSON, or pages to a browser); the S3 API's port its own routes,
with S3's XML errors."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Mapping, Optional, Tuple

from ..access.gate import Grant
from ..access.scopes import Need
from .messages import Request, Response
from .router import Router


@dataclass(frozen=True)
class Settled:
    """A site's own answer kept ready (``Site.settled``): its header lines
    after Date (its request id's among them), its body, and what the
    access log and the metrics say of it."""

    face: str
    fields: str
    body: bytes
    operation: str
    request_id: str
    who: Optional[str] = None  # who it came from, as the access line says it (``token=NAME``)


@dataclass
class Site:
    name: str  # for logs: "main", "s3"
    router: Router
    # Let a routed request in (``access.gate.Access.grant``'s signature):
    # its route's need, the path's captures, its headers, its client's address.
    grant: Callable[[Optional[Need], Mapping[str, str], object, Callable[[], str]], Grant]
    # The answer to a failure: the error, the request's headers (None when
    # its head itself failed), its target, and the request once it was
    # routed (None before).
    answer_failure: Callable[[BaseException, Optional[object], str, Optional[Request]], Response]
    # Settle the access mode for the address the server listens on: ``(mode, why)``.
    resolve: Callable[[str], Tuple[str, str]]
    # Refuse a request meant for the daemon's other port (``wrong_port``): its headers, its query.
    check_port: Callable[[object, str], None] = lambda headers, query: None
    # Plain GETs of hot small objects may be answered ready-made (see response_cache).
    ready_made: bool = True
    # A site's own answers kept ready, looked up before routing (the S3 API's settled ones: ``s3api.answered``):
    # from a GET or HEAD's method, target, headers and client address (asked when needed), a ``Settled``,
    # or None for the full path.
    settled: Optional[Callable[[str, str, object, Callable[[], str]], Optional[Settled]]] = None
