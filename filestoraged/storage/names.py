"""Validation of everything a client can put into a storage path: object ids and
repository names, and the ``Namespace`` value that the storage interface takes.

This is the one boundary where untrusted text becomes part of a filesystem path
or a memcached key, so it is checked here, once, against strict patterns —
never by stripping ``..`` or slashes afterwards (path traversal).
"""

from __future__ import annotations

import functools
import re
from dataclasses import dataclass

from ..errors import BadRequest, NotFound

_OID = re.compile(r"[0-9a-f]{64}")
_REPOSITORY = re.compile(r"[A-Za-z0-9_-][A-Za-z0-9._-]{0,63}")


def object_id(text: str) -> str:
    """Return ``text`` if it is a lowercase hex SHA-256, else raise ``NotFound``.

    Anything else in an id position can never name a stored object, so it is
    "not found" rather than "bad request" — the same for GET and DELETE.
    """
    if not _OID.fullmatch(text):
        raise NotFound("no object with id %r" % text[:80])
    return text


def is_object_id(text: str) -> bool:
    return bool(_OID.fullmatch(text))


@dataclass(frozen=True)
class Namespace:
    """Where objects live. ``path`` is relative to the data directory on disk and
    the key prefix in memcached: ``""`` (default), ``repos/<name>`` or ``shares``."""

    path: str

    @property
    def label(self) -> str:
        return self.path or "default"


DEFAULT = Namespace("")
SHARES = Namespace("shares")


@functools.lru_cache(maxsize=4096)
def repository(name: str) -> Namespace:
    """The namespace of repository ``name``; raise ``BadRequest`` for an
    invalid name. Kept for the names last asked (each write asks twice)."""
    if not _REPOSITORY.fullmatch(name):
        raise BadRequest(
            "repository names are 1-64 characters of A-Z a-z 0-9 . _ - "
            "and do not start with a dot"
        )
    return Namespace("repos/" + name)
