"""Scopes: the one shape of "who may do what". A token is granted scopes; a
route declares, per method, the ``Need`` a request's token must meet.

A scope is ``FACE[:REPOSITORY]:VERB`` as text (``files:write``,
``data:photos:read``), ``*`` for any face, repository or verb in a grant,
and ``admin`` for everything. ``data:REPO:create`` may add what the
repository does not hold (an object, an S3 key that names nothing yet) but
never replace or remove anything: append-only keys for backups;
``write`` includes it. ``data:REPO/PREFIX:VERB`` grants the verb on the S3
keys of the bucket that begin with ``PREFIX`` only (no ``:`` in it), as an
IAM policy's resource ``arn:aws:s3:::REPO/PREFIX*`` does: with ``create``,
``data:backups/locks/:delete`` lets restic remove its own locks. In a route's need the repository may be a
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
    "data": ("read", "create", "write", "delete"),
    "share": ("create", "delete"),
    "kv": ("read", "write"),
    "metrics": ("read",),
}
_INCLUDES = {"write": "create"}  # a granted verb -> the one it allows too
_REPOSITORY = re.compile(r"[A-Za-z0-9_*-][A-Za-z0-9._-]{0,63}|\*")
_PREFIX = re.compile(r"[^\x00-\x1f\x7f:]{1,256}")  # an S3 key prefix, without ':' (the scope's separator)
_CAPTURE = re.compile(r"\{\w+\}")


@dataclass(frozen=True)
class Scope:
    face: str  # a face of VERBS, or "*" in a grant
    verb: str  # one of the face's verbs, or "*" in a grant
    namespace: Optional[str] = None  # data's repository; None in a grant: any
    prefix: Optional[str] = None  # in a grant: only S3 keys beginning so; in a need: the key asked for

    @classmethod
    def parse(cls, text: str) -> "Scope":
        """The scope ``text`` names; ``BadRequest`` for anything this store
        does not know (see ``VERBS``)."""
        if text == "admin":
            return ADMIN
        parts = text.split(":")
        face = parts[0]
        repo, slash, prefix = parts[1].partition("/") if len(parts) == 3 else ("", "", "")
        if (face == "data" and len(parts) == 3 and _REPOSITORY.fullmatch(repo)
                and (not slash or _PREFIX.fullmatch(prefix))):
            scope = cls(face, parts[2], repo, prefix if slash else None)
        elif len(parts) == 2 and (face in VERBS or face == "*"):
            scope = cls(face, parts[1])
        else:
            raise BadRequest("%r is not a scope: FACE[:REPOSITORY[/KEY-PREFIX]]:VERB or admin, e.g. files:write, "
                             "data:photos:read, data:backups/locks/:delete" % text[:80])
        if scope.verb != "*" and face != "*" and scope.verb not in VERBS[face]:
            raise BadRequest("%r: %s takes %s" % (text[:80], face, ", ".join(VERBS[face])))
        return scope

    def __str__(self) -> str:
        if self == ADMIN:
            return "admin"
        where = self.namespace if self.prefix is None else "%s/%s" % (self.namespace, self.prefix)
        return ":".join(part for part in (self.face, where, self.verb) if part)

    def covers(self, wanted: "Scope") -> bool:
        """True if this scope, granted, allows ``wanted``."""
        if self.prefix is not None and (wanted.prefix is None or not wanted.prefix.startswith(self.prefix)):
            return False
        return (self.face in (wanted.face, "*") and (self.verb in (wanted.verb, "*")
                                                     or _INCLUDES.get(self.verb) == wanted.verb)
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
