"""WebDAV locks (RFC 4918 class 2) kept in the records, so that a lock
taken through one daemon holds on every daemon over the same records.

``dav-locks/<bucket>/<encoded path>`` holds the locks rooted at one path
(a file, or a collection ending ``/``): ``{token: {"scope", "depth",
"owner", "holder", "until"}}``. A lock covers its root, and with depth
``infinity`` everything under a collection; a collection's lock of any
depth also guards its membership (adding or removing a member). Each
path's locks change by one compare-and-swap of its record, and expire by
the records' clock (``until``); an expired lock is as none, and goes at
the next change of its record.

Decision: a LOCK looks for conflicting locks above and below its root
before it writes its own, two records apart: two LOCKs racing on a
collection and a member of it can both be granted. Two LOCKs of the same
path cannot: the conflict is judged again in the write of that path's
record (``take``). Tokens are ``opaquelocktoken:`` UUIDs (RFC 4918
Appendix C).
"""

from __future__ import annotations

import re
import uuid
import xml.etree.ElementTree as ET
from dataclasses import dataclass, replace
from typing import Iterator, List, Optional, Tuple

from ...catalog.names import decode_key, encode_key
from ...errors import BadRequest, Locked
from ...access.tokens import Token
from ...records.interface import Records

LOCKS = "dav-locks/"
# The name of the bucket root's locks under ``dav-locks/<bucket>/``: not in
# the alphabet of encoded paths, and a name an S3 store keeps as it is (one
# ending in ``/`` is a folder there, a segment ``.`` is refused).
ROOT = "~"
MAX_TIMEOUT = 7 * 86400  # seconds a lock lasts at most (Infinite asked: this)
DEFAULT_TIMEOUT = 3600
MAX_OWNER = 4096  # bytes of an owner's XML kept
_SECOND = re.compile(r"second-(\d{1,10})$", re.IGNORECASE)


@dataclass(frozen=True)
class DavLock:
    token: str
    root: str  # the path it is rooted at ("" the bucket's root, a collection ends "/")
    scope: str  # "exclusive" or "shared"
    depth: str  # "0" or "infinity"
    owner: Optional[str]  # the owner's XML, as the LOCK gave it
    holder: Optional[str]  # the token's name that took it (None: access control off)
    until: float
    since: Optional[float] = None  # when that token was made (None: a lock taken before this was kept)

    def covers(self, path: str) -> bool:
        """Whether the lock applies to ``path`` itself (not only its membership)."""
        return path == self.root or (self.depth == "infinity" and self.root.endswith("/")
                                     and path.startswith(self.root)) or (self.root == "" and self.depth == "infinity")

    def held_by(self, token: Optional[Token]) -> bool:
        """Whether a request carrying ``token`` acts as this lock's holder:
        the token that took it, told by its name and the time it was made
        (a new token given a revoked one's name is another token); anyone
        where access control was off for either."""
        if self.holder is None or token is None:
            return True
        return token.name == self.holder and (self.since is None or self.since == token.created_at)

    def value(self) -> dict:
        return {"scope": self.scope, "depth": self.depth, "owner": self.owner, "holder": self.holder,
                "since": self.since, "until": self.until}


def lockinfo_of(body: ET.Element) -> Tuple[str, Optional[str]]:
    """``(scope, owner's XML or None)`` of a LOCK's ``DAV:lockinfo``."""
    if body.tag != "{DAV:}lockinfo":
        raise BadRequest("a LOCK body is a DAV:lockinfo element")
    scope = body.find("{DAV:}lockscope")
    kind = body.find("{DAV:}locktype")
    if scope is None or kind is None or kind.find("{DAV:}write") is None:
        raise BadRequest("a lock is a write lock, exclusive or shared")
    if scope.find("{DAV:}exclusive") is not None:
        chosen = "exclusive"
    elif scope.find("{DAV:}shared") is not None:
        chosen = "shared"
    else:
        raise BadRequest("a lock's scope is exclusive or shared")
    owner = body.find("{DAV:}owner")
    text = ET.tostring(owner, encoding="unicode") if owner is not None else None
    if text is not None and len(text.encode("utf-8")) > MAX_OWNER:
        raise BadRequest("a lock's owner is at most %d bytes of XML" % MAX_OWNER)
    return chosen, text


def new_token() -> str:
    return "opaquelocktoken:%s" % uuid.uuid4()


def timeout_of(header: Optional[str]) -> int:
    """The seconds a LOCK asks for (``Timeout: Second-N, Infinite``), within ``MAX_TIMEOUT``."""
    for part in (header or "").split(","):
        part = part.strip()
        if part.lower() == "infinite":
            return MAX_TIMEOUT
        found = _SECOND.match(part)
        if found:
            return max(1, min(int(found.group(1)), MAX_TIMEOUT))
    return DEFAULT_TIMEOUT


class Locks:
    """The locks of the WebDAV face, over ``records``."""

    def __init__(self, records: Records) -> None:
        self.records = records

    def _name(self, bucket: str, path: str) -> str:
        return "%s%s/%s" % (LOCKS, bucket, encode_key(path) if path else ROOT)

    def at(self, bucket: str, path: str) -> List[DavLock]:
        """The live locks rooted at ``path``."""
        record = self.records.get(self._name(bucket, path))
        if record is None:
            return []
        now = self.records.now()
        return [_lock(token, path, value) for token, value in record.value.get("locks", {}).items()
                if float(value["until"]) > now]

    def above(self, bucket: str, path: str) -> List[DavLock]:
        """The live locks rooted at ``path`` or at a collection it is in."""
        found = self.at(bucket, path)
        parts = path.rstrip("/").split("/") if path else []
        for cut in range(len(parts)):
            found += self.at(bucket, "".join(part + "/" for part in parts[:cut]))
        return found

    def below(self, bucket: str, prefix: str) -> Iterator[DavLock]:
        """The live locks rooted strictly under the collection ``prefix``."""
        base = "%s%s/" % (LOCKS, bucket)
        shared = encode_key(prefix)[:len(prefix.encode("utf-8")) * 8 // 6] if prefix else ""
        for name in self.records.walk_keys(base + shared, 256):
            path = decode_key(name[len(base):]) if name != base + ROOT else ""
            if path.startswith(prefix) and path != prefix:
                yield from self.at(bucket, path)

    def find(self, bucket: str, token: str, path: str) -> Optional[DavLock]:
        """The live lock ``token`` that covers ``path`` (or guards it as a member)."""
        return next((lock for lock in self.above(bucket, path) if lock.token == token), None)

    def take(self, bucket: str, lock: DavLock) -> None:
        """Record ``lock`` at its root; ``Locked`` where a live lock rooted
        there conflicts with it, judged in the compare-and-swap that writes
        it, so that of LOCKs of one path at once one exclusive lock is
        granted. (The caller looked above and below the root first.)"""
        now = self.records.now()

        def added(value: Optional[dict]) -> dict:
            live = {token: held for token, held in (value or {}).get("locks", {}).items()
                    if float(held["until"]) > now}
            if live and (lock.scope == "exclusive" or any(held["scope"] == "exclusive" for held in live.values())):
                raise Locked("%s is locked already" % (lock.root or "the bucket"))
            live[lock.token] = lock.value()
            return {"locks": live}
        self.records.update(self._name(bucket, lock.root), added)

    def refresh(self, bucket: str, lock: DavLock, seconds: int) -> DavLock:
        until = self.records.now() + seconds

        def refreshed(value: Optional[dict]) -> Optional[dict]:
            locks = dict((value or {}).get("locks", {}))
            if lock.token not in locks:
                return None
            locks[lock.token] = dict(locks[lock.token], until=until)
            return {"locks": locks}
        self.records.update(self._name(bucket, lock.root), refreshed)
        return replace(lock, until=until)

    def release(self, bucket: str, lock: DavLock) -> None:
        name = self._name(bucket, lock.root)
        now = self.records.now()
        emptied: List[bool] = []

        def removed(value: Optional[dict]) -> Optional[dict]:
            locks = {token: held for token, held in (value or {}).get("locks", {}).items()
                     if token != lock.token and float(held["until"]) > now}
            emptied[:] = [not locks]
            return {"locks": locks}
        self.records.update(name, removed)
        if emptied and emptied[0]:
            record = self.records.get(name)
            if record is not None and not record.value.get("locks"):
                self.records.delete(name, record.version)


def _lock(token: str, root: str, value: dict) -> DavLock:
    return DavLock(token, root, value["scope"], value["depth"], value.get("owner"), value.get("holder"),
                   float(value["until"]), value.get("since"))


# -- the If header (RFC 4918 §10.4) -------------------------------------------------

Condition = Tuple[bool, str, str]  # (negated, "token" or "etag", value)
_TOKEN = re.compile(r'\s*(Not\s+)?(?:<([^>]*)>|\[([^\]]*)\])', re.IGNORECASE)


def parse_if(header: Optional[str]) -> List[Tuple[Optional[str], List[Condition]]]:
    """The If header as ``(tag or None, [conditions])`` lists; a header
    that cannot be read is one list that is never true."""
    if not header:
        return []
    lists: List[Tuple[Optional[str], List[Condition]]] = []
    text = header.strip()
    tag: Optional[str] = None
    position = 0
    while position < len(text):
        char = text[position]
        if char.isspace():
            position += 1
        elif char == "<":
            end = text.find(">", position)
            if end < 0:
                return [(None, [(False, "token", "DAV:no-lock")])]
            tag = text[position + 1:end]
            position = end + 1
        elif char == "(":
            end = text.find(")", position)
            if end < 0:
                return [(None, [(False, "token", "DAV:no-lock")])]
            conditions: List[Condition] = []
            inner = text[position + 1:end]
            cursor = 0
            while inner[cursor:].strip():
                found = _TOKEN.match(inner, cursor)
                if not found:
                    return [(None, [(False, "token", "DAV:no-lock")])]
                negated = bool(found.group(1))
                if found.group(2) is not None:
                    conditions.append((negated, "token", found.group(2).strip()))
                else:
                    conditions.append((negated, "etag", found.group(3)))
                cursor = found.end()
            lists.append((tag, conditions))
            position = end + 1
        else:
            return [(None, [(False, "token", "DAV:no-lock")])]
    return lists


def submitted(lists: List[Tuple[Optional[str], List[Condition]]]) -> List[str]:
    """Every lock token the header names (RFC 4918: submitted with the request)."""
    return [value for _, conditions in lists for _, kind, value in conditions if kind == "token"]


def token_of(header: Optional[str]) -> Optional[str]:
    """The lock token a ``Lock-Token`` header names (``<token>``)."""
    value = (header or "").strip()
    if value.startswith("<") and value.endswith(">"):
        return value[1:-1].strip()
    return None
