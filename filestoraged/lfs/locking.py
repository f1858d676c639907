"""``/lfs/{repository}/locks``: the Git LFS file-locking API over
``lfs.locks`` (records: ``meta.db``, or the bucket with ``--records s3``,
where a lock taken through one daemon holds through every other).

Every call needs ``data:REPO:write`` (who may push may lock); the owner of
a lock is the name of the token that took it. ``locks/verify`` splits the
locks into the pusher's (``ours``) and everyone else's (``theirs``): with
``lfs.locksverify`` set, git-lfs refuses to push a file in ``theirs``.
Only the owner unlocks, or, with ``force``, a token that may delete in the
repository (``data:REPO:delete``).
"""

from __future__ import annotations

import unicodedata
from typing import Any, Optional

from ..errors import BadRequest, Conflict
from ..faces import Face
from ..storage.names import repository
from ..web.messages import JsonResponse, Request
from ..web.router import Router
from ..wire.fields import whole_number
from .locks import MAX_PATH, LockExists, LockStore, lock_path
from .protocol import allow, answer, error_answer, json_request, lfs_errors, user_of

DEFAULT_LIMIT = 100
MAX_LIMIT = 1000


class LfsLocksFace(Face):
    def __init__(self, app) -> None:
        super().__init__(app)
        self.locks = LockStore(app.records)

    def register(self, router: Router) -> None:
        router.add("/lfs/{repo}/locks", "lfs", {"POST": self.create, "GET": self.listing},
                   {"POST": None, "GET": None}, query=("path", "id", "cursor", "limit", "refspec"))
        router.add("/lfs/{repo}/locks/verify", "lfs", {"POST": self.verify}, {"POST": None})
        router.add("/lfs/{repo}/locks/{lock_id}/unlock", "lfs", {"POST": self.unlock}, {"POST": None})

    @lfs_errors
    def create(self, request: Request, repo: str) -> JsonResponse:
        repository(repo)
        body = json_request(request)
        allow(request, repo, "write")
        path = body.get("path")
        if not isinstance(path, str) or not path or len(path.encode("utf-8", "surrogatepass")) > MAX_PATH \
                or not nameable(path):
            raise BadRequest("path must be a file's path in the repository (1-%d bytes, no control characters)"
                             % MAX_PATH)
        path = lock_path(path)
        try:
            lock = self.locks.create(repo, path, user_of(request))
        except LockExists as held:
            return error_answer(Conflict("%s is locked already, by %s" % (path, held.lock.owner)), request,
                                lock=held.lock.as_json())
        return answer(201, {"lock": lock.as_json()})

    @lfs_errors
    def listing(self, request: Request, repo: str) -> JsonResponse:
        repository(repo)
        json_request(request, body=False)
        allow(request, repo, "write")
        query = request.query
        limit = whole_number(query.get("limit"), "limit", DEFAULT_LIMIT, 1, MAX_LIMIT)
        path = query.get("path")
        locks, cursor = self.locks.listing(repo, lock_path(path) if path else None, query.get("id") or None,
                                           _cursor(query.get("cursor")), limit)
        return answer(200, _page({"locks": [lock.as_json() for lock in locks]}, cursor))

    @lfs_errors
    def verify(self, request: Request, repo: str) -> JsonResponse:
        repository(repo)
        body = json_request(request)
        allow(request, repo, "write")
        limit = _limit(body.get("limit"))
        locks, cursor = self.locks.listing(repo, cursor=_cursor(body.get("cursor")), limit=limit)
        me = user_of(request)
        return answer(200, _page({"ours": [lock.as_json() for lock in locks if lock.owner == me],
                                  "theirs": [lock.as_json() for lock in locks if lock.owner != me]}, cursor))

    @lfs_errors
    def unlock(self, request: Request, repo: str, lock_id: str) -> JsonResponse:
        repository(repo)
        body = json_request(request)
        allow(request, repo, "write")
        force = body.get("force", False) is True
        if force:
            allow(request, repo, "delete")
        lock = self.locks.unlock(repo, lock_id, user_of(request), force)
        return answer(200, {"lock": lock.as_json()})


def nameable(path: str) -> bool:
    """Whether git could name a file so: no control character and no lone
    surrogate. Spaces of every kind and format characters (a no-break space,
    a right-to-left override) are in file names people have, and lock
    answers are JSON, which escapes them (``str.isprintable`` refused them)."""
    return not any(unicodedata.category(char) in ("Cc", "Cs") for char in path)


def _page(data: dict, cursor: Optional[str]) -> dict:
    if cursor:
        data["next_cursor"] = cursor
    return data


def _cursor(value: Any) -> str:
    if value in (None, ""):
        return ""
    if not isinstance(value, str) or len(value) > 100 or not value.isalnum():
        raise BadRequest("cursor must be a next_cursor this server gave")
    return value


def _limit(value: Any) -> int:
    if value is None:
        return DEFAULT_LIMIT
    if not isinstance(value, int) or isinstance(value, bool) or not 1 <= value <= MAX_LIMIT:
        raise BadRequest("limit must be a whole number from 1 to %d" % MAX_LIMIT)
    return value
