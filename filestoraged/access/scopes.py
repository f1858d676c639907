"""Scopes: the one shape of "who may do what". A token is granted scopes; a
route declares, per method, the ``Need`` a request's token must meet.

A scope is ``FACE[:REPOSITORY]:VERB`` as text (``files:write``,
``data:photos:read``), ``*`` for any face, repository or verb in a grant,
and ``admin`` for everything. In a route's need the repository may be a
capture of its path (``data:{repo}:write``), filled in per request.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, replace
from typing import Mapping, Optional, Sequence

from ..errors import BadRequest

# What each face's scopes may say.
VERBS = {
    "files": ("read", "write", "delete"),
    "data": ("read", "write", "delete"),
    "share": ("create", "delete"),
    "kv": ("read", "write"),
    "metrics": ("read",),
}
_REPOSITORY = re.compile(r"[A-Za-z0-9_*-][A-Za-z0-9._-]{0,63}|\*")
_CAPTURE = re.compile(r"\{\w+\}")


@dataclass(frozen=True)
class Scope:
    face: str  # a face of VERBS, or "*" in a grant
    verb: str  # one of the face's verbs, or "*" in a grant
    namespace: Optional[str] = None  # data's repository; None in a grant: any

    @classmethod
    def parse(cls, text: str) -> "Scope":
        """The scope ``text`` names; ``BadRequest`` for anything this store
        does not know (see ``VERBS``)."""
        if text == "admin":
            return ADMIN
        parts = text.split(":")
        face = parts[0]
        if face == "data" and len(parts) == 3 and _REPOSITORY.fullmatch(parts[1]):
            scope = cls(face, parts[2], parts[1])
        elif len(parts) == 2 and (face in VERBS or face == "*"):
            scope = cls(face, parts[1])
        else:
            raise BadRequest("%r is not a scope: FACE[:REPOSITORY]:VERB or admin, e.g. files:write, "
                             "data:photos:read" % text[:80])
        if scope.verb != "*" and face != "*" and scope.verb not in VERBS[face]:
            raise BadRequest("%r: %s takes %s" % (text[:80], face, ", ".join(VERBS[face])))
        return scope

    def __str__(self) -> str:
        if self == ADMIN:
            return "admin"
        return ":".join(part for part in (self.face, self.namespace, self.verb) if part)

    def covers(self, wanted: "Scope") -> bool:
        """True if this scope, granted, allows ``wanted``."""
        return (self.face in (wanted.face, "*") and self.verb in (wanted.verb, "*")
                and self.namespace in (None, "*", wanted.namespace))

    def filled(self, captures: Mapping[str, str]) -> "Scope":
        """A route's need for one request: a ``{capture}`` repository replaced
        by what the path holds there."""
        if self.namespace is None or not _CAPTURE.fullmatch(self.namespace):
            return self
        return replace(self, namespace=captures.get(self.namespace[1:-1]))


ADMIN = Scope("*", "*", "*")  # "admin": nothing else parses to a namespace of "*" with any face


def grants(granted: Sequence[Scope], wanted: Scope) -> bool:
    """True if any of ``granted`` allows ``wanted``."""
    return any(scope.covers(wanted) for scope in granted)


@dataclass(frozen=True)
class Need:
    """What one method of a route asks of a request's token: its ``scope``.
    ``public``: anyone may do it under ``--auth writes`` (reads of objects
    and keys). ``unless``: a request header that is its own authority (a
    share link's ``X-Delete-Token``). ``form``: an upload whose token may
    come as the upload form's first part (the page without JavaScript).
    A method whose need is None never asks for a token."""

    scope: Scope
    public: bool = False
    unless: Optional[str] = None
    form: bool = False
