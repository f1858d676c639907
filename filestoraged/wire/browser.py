"""What browsers send and are sent beyond plain HTTP: whether a form was
posted from our own pages (``same_origin``), a download's file name
(``attachment``), and cookies (``cookie``, ``set_cookie``)."""

from __future__ import annotations

import re
from typing import Optional
from urllib.parse import quote

_COOKIE_NAME = re.compile(r"[A-Za-z0-9_-]{1,64}")
_COOKIE_VALUE = re.compile(r"[A-Za-z0-9_-]{1,128}")


def same_origin(headers, base_url: str) -> bool:
    """A browser's form submission from our own pages: ``Sec-Fetch-Site:
    same-origin`` (set by the browser, never by a page; our pages'
    ``Referrer-Policy: no-referrer`` makes Chromium send ``Origin: null``),
    or, from a browser too old to send it, an ``Origin`` that is ours."""
    site = headers.get("Sec-Fetch-Site")
    if site is not None:
        return site == "same-origin"
    return headers.get("Origin") == base_url


def attachment(filename: Optional[str]) -> str:
    """``attachment`` with an ASCII fallback and the exact name per RFC 6266/5987."""
    if not filename:
        return "attachment"
    name = filename.replace("\\", "/").rsplit("/", 1)[-1] or "download"
    fallback = "".join(c if 32 <= ord(c) < 127 and c not in '"\\' else "_" for c in name)
    return "attachment; filename=\"%s\"; filename*=UTF-8''%s" % (fallback, quote(name, safe=""))


def cookie(headers, name: str) -> Optional[str]:
    """The value of cookie ``name`` the request carries, if it is one we
    could have set (anything else is no cookie)."""
    # Several Cookie lines reach us joined with ", " (as any repeated header).
    for pair in re.split(r"[;,]", headers.get("Cookie") or ""):
        key, _, value = pair.strip().partition("=")
        if key == name and _COOKIE_VALUE.fullmatch(value):
            return value
    return None


def set_cookie(name: str, value: str, secure: bool, max_age: Optional[int] = None, lax: bool = False) -> str:
    """A ``Set-Cookie`` no script can read and no other site can send:
    ``HttpOnly``, ``SameSite=Strict``, ``Path=/``, ``Secure`` over HTTPS;
    ``max_age`` 0 ends it. ``lax``: ``SameSite=Lax``, sent on another
    site's link to a page here too (an OpenID provider's way back), for a
    cookie that proves nothing alone."""
    assert _COOKIE_NAME.fullmatch(name) and (value == "" or _COOKIE_VALUE.fullmatch(value))
    parts = ["%s=%s" % (name, value), "Path=/", "HttpOnly", "SameSite=Lax" if lax else "SameSite=Strict"]
    if secure:
        parts.append("Secure")
    if max_age is not None:
        parts.append("Max-Age=%d" % max_age)
    return "; ".join(parts)
