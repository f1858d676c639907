"""What the store answers, read: a response whose body the caller reads
(and whose connection goes back to the pool once it is read to its end),
the error code of a refusal, and the numbers and times a listing carries,
each refused as ``S3Error`` (503) when it does not read, never a 500."""

from __future__ import annotations

import email.utils
import http.client
from datetime import datetime
from typing import Callable, Optional

from ...errors import BackendUnavailable


class S3Error(BackendUnavailable):
    """An answer the store gave that the backend did not expect (a 4xx, such
    as ``BadDigest`` for bytes changed on the way): 503, send it again."""

    message = "the object store refused the request"


DRAIN = 64 * 1024  # bytes of an unread body ``release`` reads to keep the connection (more: it is closed)


class Response:
    """A response whose body is read by the caller; ``release()`` returns
    the connection to the pool (``put_back``) once the body was read to the
    end, reading what is left of a short one first."""

    def __init__(self, put_back: Callable[[object], None], conn, raw: http.client.HTTPResponse) -> None:
        self.status = raw.status
        self.headers = raw.headers
        self._put_back, self._conn, self.raw = put_back, conn, raw

    def read(self, count: int = -1) -> bytes:
        return self.raw.read() if count < 0 else self.raw.read(count)

    def readinto(self, buffer) -> int:
        return self.raw.readinto(buffer)

    def store_time(self) -> Optional[float]:
        """The store's clock as its ``Date`` says (whole seconds), or None
        when it sends none or one that does not read."""
        try:
            return email.utils.parsedate_to_datetime(self.headers.get("Date", "")).timestamp()
        except (TypeError, ValueError):
            return None

    def release(self) -> None:
        if self._conn is None:
            return
        # The answers nobody reads (a PUT's, a DELETE's, a HEAD's) are
        # empty or short: read, their connection serves the next request
        # instead of one made anew.
        if not self.raw.isclosed() and self.raw.length is not None and self.raw.length <= DRAIN:
            try:
                self.raw.read()
            except (OSError, http.client.HTTPException):
                pass
        if self.raw.isclosed():  # read to its end: the connection can serve another request
            self._put_back(self._conn)
        else:
            self._conn.close()
        self._conn = None



def error_code(response: Response) -> str:
    """The ``<Code>`` of an S3 error body, read whole (it is small)."""
    text = response.read(64 * 1024).decode("utf-8", "replace")
    start = text.find("<Code>")
    return text[start + 6:text.find("</Code>", start)] if start >= 0 else ""


def instant(text: str) -> float:
    """An ISO 8601 time as the store lists it (``2026-11-23T17:55:23.000Z``)."""
    try:
        return datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp()
    except ValueError:
        raise S3Error("the object store listed a time that is not one: %s" % ascii(text[:40])) from None


def whole_number(text: Optional[str], what: str) -> int:
    """A size the store sent: ASCII digits, else ``S3Error`` (503), never a 500."""
    if text is None or not text.isascii() or not text.isdigit() or len(text) > 18:
        raise S3Error("the object store sent a %s that is not a number: %s" % (what, ascii((text or "")[:40])))
    return int(text)
