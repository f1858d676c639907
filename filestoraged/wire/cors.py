"""Cross-origin requests (``--cors-origin``): which browser apps on other
origins may call the daemon, and the headers that say so. Off by default.

The ``Origin`` a browser sends is compared with the configured list and only
a configured value (or ``*``) is ever echoed, so nothing unchecked reaches a
header. Preflights (``OPTIONS`` with ``Access-Control-Request-Method``) are
answered ``204`` with the methods the path allows.
"""

from __future__ import annotations

from typing import List, Optional

# What scripts on an allowed origin may send and read.
ALLOWED_HEADERS = ("Authorization, Content-Type, Range, If-None-Match, X-Password, X-Delete-Token, "
                   "Tus-Resumable, Upload-Length, Upload-Metadata, Upload-Offset")
EXPOSED_HEADERS = ("ETag, Content-Length, Content-Range, Location, Link, Retry-After, "
                   "Tus-Resumable, Tus-Version, Tus-Extension, Tus-Max-Size, Upload-Offset, Upload-Length, "
                   "Upload-Metadata, Upload-Expires")
MAX_AGE = "600"


class Cors:
    def __init__(self, setting: str) -> None:
        self.origins = frozenset(origin.strip().rstrip("/") for origin in setting.split(",") if origin.strip())

    def allowed(self, origin: Optional[str]) -> Optional[str]:
        """The value for Access-Control-Allow-Origin, or None."""
        if not self.origins or not origin:
            return None
        if "*" in self.origins:
            return "*"
        origin = origin.strip().rstrip("/")
        return origin if origin in self.origins else None

    def fields(self, origin: Optional[str]) -> str:
        """Header lines every answer to this origin carries. With origins
        configured, every answer says ``Vary: Origin`` (also to a request with
        none or another): a cache must not hand one origin's answer, with or
        without the allowing header, to another (``/files`` answers are
        cacheable for a year)."""
        if not self.origins:
            return ""
        allowed = self.allowed(origin)
        if allowed is None:
            return "Vary: Origin\r\n"
        return "Access-Control-Allow-Origin: %s\r\nAccess-Control-Expose-Headers: %s\r\nVary: Origin\r\n" % (
            allowed, EXPOSED_HEADERS)

    @staticmethod
    def preflight(methods: List[str]) -> dict:
        return {"Access-Control-Allow-Methods": ", ".join(methods), "Access-Control-Allow-Headers": ALLOWED_HEADERS,
                "Access-Control-Max-Age": MAX_AGE}
