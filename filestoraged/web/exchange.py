"""What one request gathers as it is answered (``Exchange``: its face,
status, bytes sent, the parsed request, the paced sender) and, once
answered, its access-log line and its metrics; and how a request's target
is written in a log line (``log_target``)."""

from __future__ import annotations

import logging
import time
from typing import Optional

from ..logs import access_line
from .deadlines import PacedSender
from .messages import Request

access_log = logging.getLogger("filestoraged.access")


class Exchange:
    """What one request gathers as it is answered: its face, status, bytes
    sent, CORS fields, the parsed request and the paced sender; at the end
    its access-log line and its metrics (``done``). Decision: a plain class
    whose defaults are the class's own, not a dataclass, whose constructor
    set all ten fields for every request."""

    face = "other"
    status = 0  # 0 until a head is written: nothing to log
    bytes_out = 0
    cors_fields = ""
    parsed: Optional[Request] = None
    sender: Optional[PacedSender] = None
    operation: Optional[str] = None  # its S3 operation, where it was answered before a request was parsed
    request_id: Optional[str] = None  # (the same)
    who: Optional[str] = None  # (the same)

    def __init__(self) -> None:
        self.started = time.monotonic()

    def done(self, client: str, command: str, path: str, metrics) -> None:
        """The access line (at INFO) and the request's metrics, once answered."""
        duration = time.monotonic() - self.started
        opened = self.parsed.body_opened if self.parsed is not None else None
        received = opened.received if opened is not None else 0
        if access_log.isEnabledFor(logging.INFO):
            request_id = self.parsed.request_id if self.parsed is not None else self.request_id
            who = self.parsed.logged_as() if self.parsed is not None else self.who
            access_line('%s "%s %s" %d %d %.1fms%s%s' % (client, command, log_target(path), self.status,
                                                          self.bytes_out, duration * 1000,
                                                          " id=" + request_id if request_id else "",
                                                          " " + who if who else ""))
        metrics.request(self.face, command, self.status, received, self.bytes_out, duration)
        operation = self.parsed.operation if self.parsed is not None else self.operation
        if operation is not None:
            metrics.s3_request(operation, self.status)


_SECRET_PATHS = ("/drop/", "/drops/")


def log_target(path: str) -> str:
    """The path with its query string hidden (it may carry a password) and
    an upload link's secret too, and any byte that is not printable ASCII
    escaped (the head parser refuses them in a target; this keeps a log
    line from ever driving a terminal)."""
    base, sep, _ = path.partition("?")
    if base.startswith(_SECRET_PATHS):  # an upload link's path is its secret (``faces.drop``)
        head, _, rest = base[1:].partition("/")
        base = "/%s/[secret]%s" % (head, "/" + rest.partition("/")[2] if "/" in rest else "")
    if not (base.isascii() and base.isprintable()):
        base = base.encode("latin-1", "replace").decode("ascii", "backslashreplace")
        base = "".join(c if c.isprintable() else "\\x%02x" % ord(c) for c in base)
    return base + ("?[redacted]" if sep else "")
