"""What a trusted reverse proxy tells us about the client (``--trusted-proxy``).

Only from those peers are ``X-Forwarded-For`` (the client's address, for the
access log and the failure rate limit), ``X-Forwarded-Proto`` and
``X-Forwarded-Host`` (the scheme and host of answer URLs) believed; from any
other peer they are ignored. Values are checked like the headers they stand
for: an address must be an IP address, a host a valid ``host[:port]``.
"""

from __future__ import annotations

import ipaddress
from typing import Optional, Tuple

from .request_head import is_host


def forwarded_for(headers, trusted: bool) -> Optional[str]:
    """The client address the proxy appended last, if trusted and valid."""
    if not trusted:
        return None
    value = headers.get("X-Forwarded-For") or ""
    last = value.rsplit(",", 1)[-1].strip()
    try:
        return str(ipaddress.ip_address(last)) if last else None
    except ValueError:
        return None


def forwarded_origin(headers, trusted: bool) -> Tuple[Optional[str], Optional[str]]:
    """``(scheme, host)`` the proxy says the client used, each None if not said."""
    if not trusted:
        return None, None
    scheme = (headers.get("X-Forwarded-Proto") or "").strip().lower()
    host = (headers.get("X-Forwarded-Host") or "").strip()
    return (scheme if scheme in ("http", "https") else None), (host if host and is_host(host) else None)


def base_url(configured: str, headers, trusted: bool, scheme: str, address) -> str:
    """``scheme://host[:port]`` for absolute URLs: ``configured`` (``--public-url``),
    else as the client addressed us (as a trusted proxy says it did), else
    the address we listen on."""
    if configured:
        return configured.rstrip("/")
    said_scheme, host = forwarded_origin(headers, trusted)
    host = host or headers.get("Host") or "%s:%d" % tuple(address[:2])
    return "%s://%s" % (said_scheme or scheme, host)
