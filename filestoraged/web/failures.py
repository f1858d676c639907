"""The one place a failure becomes an answer: logged when it is the
server's (with the traceback for a bug), counted when it is corruption, and
shown as a page to a browser where the application has one."""

from __future__ import annotations

import logging

from ..errors import CorruptObject, TooManyConnections, http_status
from .exchange import log_target
from ..wire.accept import prefers_html
from .messages import JsonResponse, error_response

log = logging.getLogger(__name__)


def answer_failure(error: BaseException, app, command: str, path: str, headers) -> JsonResponse:
    """The answer to ``error`` (``headers``: the request's, None when its
    head itself failed)."""
    if isinstance(error, CorruptObject):
        app.metrics.integrity_failure()
    status, code = http_status(error)
    if code == "internal":
        log.error("unhandled error in %s %s", command, log_target(path), exc_info=error)
    elif isinstance(error, TooManyConnections):  # load shedding or a stop under way: not a fault
        log.info("%s %s: %s", command, log_target(path), error)
    elif status >= 500:
        log.error("%s %s: %s %s", command, log_target(path), code, error)
    answer = error_response(error)
    if app.error_page is not None and headers is not None and prefers_html(headers):  # a browser: as a page
        return app.error_page(answer.status, answer.data["message"], answer.headers)
    return answer
