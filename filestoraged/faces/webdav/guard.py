"""Who may change a path while it is locked, and what a request's ``If``
header asks (RFC 4918 §7, §10.4), judged before a WebDAV change.

A change of a resource needs a token of every lock that covers it (its
own, or a collection's of depth infinity above it); a change of a
collection's members (a file made, deleted or moved in or out, a
collection made) needs a token of every lock of that collection too, and
a delete or move of a collection a token of every lock below it. A lock
is met by its token among those the ``If`` header names, sent by the
token that took it (``DavLock.held_by``): else ``423 Locked``. The ``If`` header
itself is judged first (a list of conditions all true, for any of its
lists): else ``412``, as mod_dav answers; so are RFC 9110's conditions
(``If-Match``, ``If-None-Match``, ``If-Unmodified-Since``) on the same
resource, as on every face.
"""

from __future__ import annotations

from typing import Callable, Iterable, List, Optional, Tuple
from urllib.parse import unquote, urlsplit

from ...access.tokens import Token
from ...errors import Locked, PreconditionFailed
from ...wire.conditions import Validators, judge_change
from .locks import DavLock, Locks, parse_if, submitted

# A file's validators by (bucket, path); None where no file is there.
ValidatorsOf = Callable[[str, str], Optional[Validators]]


class Guard:
    def __init__(self, locks: Locks, base: str, validators_of: ValidatorsOf) -> None:
        self.locks, self.base, self.validators_of = locks, base, validators_of

    def check(self, headers, holder: Optional[Token], bucket: str, changed: List[str],
              members_of: Iterable[str] = (), trees: Iterable[str] = (), judge: bool = True,
              resource: Optional[str] = None) -> None:
        """``changed``: paths whose resources change; ``members_of``:
        collections whose members change; ``trees``: collections deleted or
        moved whole. ``Locked`` or ``PreconditionFailed`` as the module says;
        ``judge``: False where the If header's conditions are judged on
        another resource (a COPY's destination), which its untagged lists
        name (``resource``: by default the first changed)."""
        lists = parse_if(headers.get("If"))
        tokens = set(submitted(lists))
        where = resource if resource is not None else (changed[0] if changed else "")
        if judge and lists and not any(self._holds(bucket, where, tag, conditions) for tag, conditions in lists):
            raise PreconditionFailed(message="the If header's conditions do not hold")
        if judge:
            judge_change(headers, self.validators_of(bucket, where))
        guarding: List[DavLock] = []
        for path in changed:
            guarding += [lock for lock in self.locks.above(bucket, path) if lock.covers(path)]
        for collection in members_of:
            guarding += [lock for lock in self.locks.above(bucket, collection)
                         if lock.covers(collection) or lock.root == collection]
        for collection in trees:
            guarding += list(self.locks.below(bucket, collection))
        for lock in guarding:
            if lock.token not in tokens or not lock.held_by(holder):
                raise Locked("%s is locked: send its lock token in an If header" % (lock.root or "the bucket"))

    def _holds(self, bucket: str, path: str, tag: Optional[str], conditions: List[Tuple[bool, str, str]]) -> bool:
        if tag is not None:
            where = _tagged(tag, self.base)
            if where is None:
                return False
            bucket, path = where
        for negated, kind, value in conditions:
            if kind == "token":
                met = value != "DAV:no-lock" and self.locks.find(bucket, value, path) is not None
            else:
                found = self.validators_of(bucket, path)
                met = found is not None and '"%s"' % found.etag == value.replace("W/", "", 1)
            if met == negated:
                return False
        return True


def _tagged(url: str, base: str) -> Optional[Tuple[str, str]]:
    """``(bucket, path)`` a tagged list's resource names (None: not one of ours)."""
    path = unquote(urlsplit(url).path)
    if not path.startswith(base):
        return None
    bucket, _, rest = path[len(base):].partition("/")
    return (bucket, rest) if bucket else None
