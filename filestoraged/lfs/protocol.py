"""What every Git LFS route shares: its media type, its JSON bodies, its
errors (``{"message", "request_id"}``, the id the access log shows), and
access as git's credential helpers give it (HTTP Basic, the token as the
password, any user name).

A ``401`` carries ``LFS-Authenticate: Basic``: git-lfs then asks its
credential helper and retries. A ``403`` names the missing scope.
"""

from __future__ import annotations

import functools
import logging
from typing import Any, Callable, Dict, Optional

from ..access.scopes import Need, Scope
from ..errors import BadRequest, FileStoreError, NotAcceptable, Unauthorized, http_status, log_level
from ..web.messages import JsonResponse, Request
from ..wire.accept import accepts
from ..wire.credentials import basic_credentials

log = logging.getLogger(__name__)

LFS_TYPE = "application/vnd.git-lfs+json"
CHALLENGE = 'Basic realm="filestoraged Git LFS", charset="UTF-8"'
MAX_JSON = 1024 * 1024  # bytes of a batch or lock request body


def answer(status: int, data: Any, headers: Optional[Dict[str, str]] = None) -> JsonResponse:
    return JsonResponse(status, data, headers or {}, LFS_TYPE)


def lfs_errors(handler: Callable[..., JsonResponse]) -> Callable[..., JsonResponse]:
    """A handler whose failures answer as Git LFS errors: the status from
    the one table, ``{"message", "request_id"}``, the error's headers (a
    ``401``'s challenge as ``LFS-Authenticate`` and ``WWW-Authenticate``)."""

    @functools.wraps(handler)
    def run(self, request: Request, *args, **kwargs) -> JsonResponse:
        request.identify()
        try:
            return handler(self, request, *args, **kwargs)
        except Unauthorized as error:
            refused = error_answer(error, request)
            refused.headers.update({"LFS-Authenticate": CHALLENGE, "WWW-Authenticate": CHALLENGE})
            return refused
        except FileStoreError as error:
            return error_answer(error, request)

    return run


def error_answer(error: FileStoreError, request: Request, **extra: Any) -> JsonResponse:
    status, code = http_status(error)
    level = log_level(error)
    if level is not None:
        log.log(level, "%s %s: %s %s (request %s)", request.method, request.path, code, error, request.identify())
    return answer(status, dict(extra, message=error.text, request_id=request.identify()), error.headers())


def json_request(request: Request, body: bool = True) -> Any:
    """The request's JSON, after its ``Accept`` was checked (``406`` unless
    it names the Git LFS type)."""
    if not accepts(request.headers, LFS_TYPE):
        raise NotAcceptable("send Accept: %s" % LFS_TYPE)
    if not body:
        return None
    value = request.json_body(MAX_JSON)
    if not isinstance(value, dict):
        raise BadRequest("the body must be a JSON object")
    return value


def allow(request: Request, repo: str, verb: str) -> None:
    """The request may ``verb`` (read, write, delete) in the repository:
    reads are public under ``--auth writes``, as ``/data``'s are."""
    request.grant.require(Need(Scope("data", verb, repo), public=verb == "read"))


def user_of(request: Request) -> str:
    """Who the request is: its token's name; without a token (``--auth
    off``), the user name git sent, or ``anonymous``."""
    name = request.grant.holder()
    if name:
        return name
    credentials = basic_credentials(request.headers)
    user = "".join(c for c in credentials[0] if c.isprintable())[:100] if credentials else ""
    return user or "anonymous"
