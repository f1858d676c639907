"""The WebDAV face's locks at work: LOCK and UNLOCK, the check every
change passes (``guard``), and the lock properties a listing shows, over
the locks kept in the records (``locks``)."""

from __future__ import annotations

from typing import Callable, Dict, Iterable, List, Optional

from ...errors import BadRequest, Conflict, Forbidden, Locked, NotFound, PreconditionFailed
from ...records.interface import Records
from ...web.messages import EmptyResponse, Request, Response, TextResponse
from .guard import Guard, ValidatorsOf
from .locks import DavLock, Locks, lockinfo_of, new_token, parse_if, submitted, timeout_of, token_of
from .props import (LOCKDISCOVERY, MAX_BODY, NO_LOCKS, SUPPORTED_LOCK, SUPPORTEDLOCK, XML_TYPE, href, lock_answer,
                    lock_discovery, parse)
from .paths import creatable, folder_of, parent_of
from .tree import Tree


class Locking:
    def __init__(self, records: Records, base: str, validators_of: ValidatorsOf, macos_files: str) -> None:
        self.records, self.base, self.macos_files = records, base, macos_files
        self.locks = Locks(records)
        self.guard = Guard(self.locks, base, validators_of)

    def check(self, request: Request, bucket: str, changed: List[str], members_of: Iterable[str] = (),
              trees: Iterable[str] = (), judge: bool = True, resource: Optional[str] = None) -> None:
        """``Guard.check`` for this request (its conditions, its token)."""
        self.guard.check(request.headers, request.grant.holding(), bucket, changed, members_of, trees,
                         judge, resource)

    def covering(self, bucket: str, prefix: str) -> Callable[[str], List[DavLock]]:
        """The locks that cover ``prefix`` and, where it is a collection, each
        of its members: read once for a listing, not once a member."""
        inherited = [lock for lock in self.locks.above(bucket, prefix) if lock.covers(prefix)]
        rooted: Dict[str, List[DavLock]] = {}
        if prefix.endswith("/") or not prefix:
            for lock in self.locks.below(bucket, prefix):
                rooted.setdefault(lock.root, []).append(lock)
        deep = [lock for lock in inherited if lock.depth == "infinity"]
        return lambda path: (inherited if path == prefix else deep) + rooted.get(path, [])

    def live(self, bucket: str, locks: List[DavLock]) -> Dict[str, str]:
        """``supportedlock`` and ``lockdiscovery`` of a resource ``locks`` cover."""
        if not locks:
            return {SUPPORTEDLOCK: SUPPORTED_LOCK, LOCKDISCOVERY: NO_LOCKS}
        discovery = lock_discovery([(lock, self._root(bucket, lock.root)) for lock in locks], self.records.now())
        return {SUPPORTEDLOCK: SUPPORTED_LOCK, LOCKDISCOVERY: discovery}

    def drop(self, bucket: str, path: str) -> None:
        """The locks rooted at ``path`` (and under it, a collection) gone with what they locked."""
        found = self.locks.at(bucket, path) + (list(self.locks.below(bucket, path)) if path.endswith("/") else [])
        for lock in found:
            self.locks.release(bucket, lock)

    def lock(self, request: Request, bucket: str, key: str, tree: Tree) -> Response:
        """LOCK: a new lock (``lockinfo`` body), or a refresh of one the If
        header names (no body). An unmapped path gets an empty file (201,
        RFC 4918 §7.3)."""
        body = parse(request.body(MAX_BODY).read_all())
        seconds = timeout_of(request.headers.get("Timeout"))
        holder = request.grant.holding()
        root: Optional[str] = key if tree.file(key) is not None else (
            folder_of(key) if tree.collection(folder_of(key)) else None)
        if body is None:
            for token in submitted(parse_if(request.headers.get("If"))):
                found = self.locks.find(bucket, token, root if root is not None else key)
                if found is not None and found.held_by(holder):
                    return self._answer(200, bucket, self.locks.refresh(bucket, found, seconds))
            raise PreconditionFailed(message="a refresh names a lock of this resource in its If header")
        scope, owner = lockinfo_of(body)
        depth = request.headers.get("Depth", "infinity").strip().lower()
        if depth not in ("0", "infinity"):
            raise BadRequest("a lock's Depth is 0 or infinity")
        status = 200
        if root is None:
            if not key or key.endswith("/"):
                raise NotFound("nothing at %s in %s" % (key[:200], bucket))
            if not tree.collection(parent_of(key)):
                raise Conflict("the collection %s does not exist" % parent_of(key)[:200])
            creatable(key, self.macos_files)
            self.check(request, bucket, [key], [parent_of(key)])
            tree.make_empty(key)
            root, status = key, 201
        held = [lock for lock in self.locks.above(bucket, root) if lock.covers(root)]
        if depth == "infinity" and (root.endswith("/") or not root):
            held += list(self.locks.below(bucket, root))
        if any(lock.scope == "exclusive" or scope == "exclusive" for lock in held):
            raise Locked("%s is locked already" % (root or "the bucket"))
        lock = DavLock(new_token(), root, scope, depth, owner, holder.name if holder is not None else None,
                       self.records.now() + seconds, holder.created_at if holder is not None else None)
        self.locks.take(bucket, lock)
        return self._answer(status, bucket, lock)

    def unlock(self, request: Request, bucket: str, key: str, tree: Tree) -> Response:
        token = token_of(request.headers.get("Lock-Token"))
        if not token:
            raise BadRequest("UNLOCK needs a Lock-Token header: <opaquelocktoken:...>")
        where = key if tree.file(key) is not None else folder_of(key)
        found = self.locks.find(bucket, token, where)
        if found is None:
            raise Conflict("no lock of that token covers %s (lock-token-matches-request-uri)" % (key[:200] or "/"))
        if not found.held_by(request.grant.holding()):
            raise Forbidden("the lock was taken by another token")
        self.locks.release(bucket, found)
        return EmptyResponse(204)

    def _answer(self, status: int, bucket: str, lock: DavLock) -> Response:
        discovery = lock_discovery([(lock, self._root(bucket, lock.root))], self.records.now())
        return TextResponse(status, lock_answer(discovery).decode("utf-8"), content_type=XML_TYPE,
                            headers={"Lock-Token": "<%s>" % lock.token})

    def _root(self, bucket: str, root: str) -> str:
        return href(self.base, [bucket] + [part for part in root.split("/") if part], root.endswith("/") or not root)
