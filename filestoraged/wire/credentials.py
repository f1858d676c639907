"""What a request says about who sends it, decoded from its headers: the
token of ``Authorization`` (Bearer, or the password of HTTP Basic), Basic
credentials themselves (share-link passwords, Git LFS's user names), and
header values meant as UTF-8 text."""

from __future__ import annotations

import base64
from typing import Optional, Tuple

from ..errors import BadRequest


def bearer_or_basic(headers) -> Optional[str]:
    """The token in ``Authorization``: Bearer, or the password of Basic.
    (Basic carries a token wherever one is asked; a share-link download,
    where Basic carries the link's password, never asks for one.)"""
    value = headers.get("Authorization") or ""
    scheme, _, rest = value.partition(" ")
    if scheme.lower() == "bearer":
        return rest.strip() or None
    return basic_password(headers) or None


def presented(headers) -> Tuple[Optional[str], Optional[str]]:
    """``(user, secret)`` that ``Authorization`` presents: a Bearer token
    (no user), or HTTP Basic's user name and password (a user's password,
    or a token with any user name); ``(None, None)`` without either."""
    value = headers.get("Authorization") or ""
    scheme, _, rest = value.partition(" ")
    if scheme.lower() == "bearer":
        return None, rest.strip() or None
    found = basic_credentials(headers)
    return (None, None) if found is None else (found[0] or None, found[1] or None)


def basic_password(headers) -> Optional[str]:
    """The password of HTTP Basic credentials in ``Authorization``, None
    without them (see ``basic_credentials``)."""
    found = basic_credentials(headers)
    return None if found is None else found[1]


def basic_credentials(headers) -> Optional[Tuple[str, str]]:
    """``(user, password)`` of HTTP Basic credentials in ``Authorization``
    (``base64(user:password)``, UTF-8 as RFC 7617 recommends), None without
    them; ``BadRequest`` (400) for malformed ones, non-ASCII bytes included.
    The one Basic decoder: tokens, share-link passwords and Git LFS's user
    names all use it."""
    scheme, _, encoded = (headers.get("Authorization") or "").partition(" ")
    if scheme.lower() != "basic":
        return None
    try:
        decoded = base64.b64decode(encoded.strip().encode("ascii"), validate=True).decode("utf-8")
    except (ValueError, UnicodeError):  # binascii.Error is a ValueError
        raise BadRequest("malformed Basic credentials") from None
    user, _, password = decoded.partition(":")
    return user, password


def header_text(headers, name: str) -> Optional[str]:
    """A header's value as UTF-8 text (the head is read as Latin-1, byte for
    byte); ``BadRequest`` if its bytes are not UTF-8."""
    value = headers.get(name)
    if value is None:
        return None
    try:
        return value.encode("latin-1").decode("utf-8")
    except UnicodeError:
        raise BadRequest("%s is not UTF-8" % name) from None
