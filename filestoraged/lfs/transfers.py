"""``/lfs/{repository}``: a Git LFS server whose objects are the
repository's ``/data`` objects (an LFS object is named by its SHA-256 and
has a size: exactly what ``/data/{repository}`` stores).

What a user puts in the repository's ``.lfsconfig``: ``[lfs] url =
https://host/lfs/REPO``. Then:

- ``POST /lfs/REPO/objects/batch``: the batch API, ``basic`` transfer,
  SHA-256. Each object gets its actions or an error of its own (``404`` for
  a download of a missing object, ``422`` for a bad oid or size); an upload
  action only for objects not stored yet, with a ``verify`` action.
- ``PUT /lfs/REPO/objects/OID``: the upload action's target. The body is
  streamed to the backend and must hash to ``OID``: otherwise ``422`` and
  nothing is kept.
- ``POST /lfs/REPO/objects/verify``: ``200`` once the object is stored at
  its size.
- Downloads are ``GET /data/REPO/OID``: the verified download, ``Range``
  included (git-lfs resumes a cut download with one).

Access (``--auth``): downloads need what ``/data`` reads need (nothing
under ``writes``, ``data:REPO:read`` under ``all``); uploads and verify
need ``data:REPO:write``. An action carries the request's own
``Authorization``, so git-lfs sends the same credentials to its href.
"""

from __future__ import annotations

from typing import Any, Dict, Optional

from ..base.threads import ahead

from ..errors import NotFound, TooLarge, Unprocessable
from ..faces import Face
from ..storage.names import is_object_id, object_id, repository
from ..uploads.targets import RepositoryTarget
from ..web.messages import JsonResponse, Request
from ..web.router import Router
from .protocol import allow, answer, json_request, lfs_errors

MAX_OBJECTS = 1000  # objects in one batch request (git-lfs sends 100)
MAX_ANONYMOUS_OBJECTS = 100  # in one batch request with no token (a public download): git-lfs's own batch size
STATS_AT_ONCE = 8  # store lookups of one batch under way at once


class LfsFace(Face):
    def register(self, router: Router) -> None:
        # No scope on the routes: each handler asks, so that its refusals
        # are Git LFS errors (with LFS-Authenticate) and downloads and
        # uploads of one batch route ask for different scopes.
        router.add("/lfs/{repo}/objects/batch", "lfs", {"POST": self.batch}, {"POST": None})
        router.add("/lfs/{repo}/objects/verify", "lfs", {"POST": self.verify}, {"POST": None})
        router.add("/lfs/{repo}/objects/{oid}", "lfs", {"PUT": self.upload}, {"PUT": None})

    @lfs_errors
    def batch(self, request: Request, repo: str) -> JsonResponse:
        namespace = repository(repo)
        body = json_request(request)
        operation = body.get("operation")
        if operation not in ("upload", "download"):
            raise Unprocessable("operation must be upload or download")
        transfers = body.get("transfers") or ["basic"]
        if not isinstance(transfers, list) or "basic" not in transfers:
            raise Unprocessable("this server speaks the basic transfer only")
        if body.get("hash_algo", "sha256") != "sha256":
            raise Unprocessable("this server names objects by sha256 only")
        objects = body.get("objects")
        if not isinstance(objects, list):
            raise Unprocessable("objects must be a list")
        if len(objects) > MAX_OBJECTS:
            raise TooLarge("at most %d objects in one batch" % MAX_OBJECTS)
        allow(request, repo, "read" if operation == "download" else "write")
        if request.grant.anonymous and len(objects) > MAX_ANONYMOUS_OBJECTS:
            raise TooLarge("at most %d objects in one batch without a token (git-lfs sends 100)"
                           % MAX_ANONYMOUS_OBJECTS)
        base = "%s/lfs/%s/objects" % (request.base_url, repo)
        header = {"Authorization": request.headers["Authorization"]} if "Authorization" in request.headers else {}
        entries = [_valid(item, self.config.max_size) for item in objects]
        # Whether each object is stored: a HEAD each on an S3 store, so
        # STATS_AT_ONCE at a time (1,000 one after the other took 1.35 s).
        # Each object looked up once, however often the batch names it.
        oids = list(dict.fromkeys(entry["oid"] for entry in entries if "error" not in entry))
        sizes = dict(zip(oids, ahead(lambda oid: self._stored(namespace, oid), oids, workers=STATS_AT_ONCE,
                                     depth=2 * STATS_AT_ONCE)))
        for entry in entries:
            if "error" not in entry:
                entry.update(self._plan(operation, repo, entry, sizes[entry["oid"]], base, request.base_url, header))
        return answer(200, {"transfer": "basic", "objects": entries, "hash_algo": "sha256"})

    def _stored(self, namespace, oid: str) -> Optional[int]:
        try:
            return self.backend.stat(namespace, oid).size
        except NotFound:
            return None

    def _plan(self, operation: str, repo: str, entry: Dict[str, Any], stored: Optional[int], base: str,
              base_url: str, header: Dict[str, str]) -> Dict[str, Any]:
        """One valid object's actions, or its error (``stored``: its size in
        the store, None if it is not there)."""
        if stored is not None and stored != entry["size"]:
            return {"error": {"code": 422, "message": "stored with %d bytes, not %d" % (stored, entry["size"])}}
        if operation == "download":
            if stored is None:
                return {"error": {"code": 404, "message": "object does not exist"}}
            href = "%s/data/%s/%s" % (base_url, repo, entry["oid"])
            return {"authenticated": True, "actions": {"download": {"href": href, "header": header}}}
        if stored is not None:
            return {}  # stored already: no actions, the client skips it
        return {"authenticated": True, "actions": {
            "upload": {"href": "%s/%s" % (base, entry["oid"]), "header": header},
            "verify": {"href": base + "/verify", "header": header}}}

    @lfs_errors
    def upload(self, request: Request, repo: str, oid: str) -> JsonResponse:
        repository(repo)  # a bad name is refused first
        if not is_object_id(oid):
            raise Unprocessable("an object id is 64 lowercase hex digits (sha256)")
        allow(request, repo, "write")
        target = RepositoryTarget(self.app, repo, None, expected=oid)
        return answer(200, target.result(target.store(request.body(self.config.max_size)), request.base_url))

    @lfs_errors
    def verify(self, request: Request, repo: str) -> JsonResponse:
        namespace = repository(repo)
        body = json_request(request)
        allow(request, repo, "write")
        entry = _valid(body, self.config.max_size)
        if "error" in entry:
            raise Unprocessable(entry["error"]["message"])
        try:
            stored = self.backend.stat(namespace, object_id(entry["oid"])).size
        except NotFound:
            raise NotFound("object %s is not stored" % entry["oid"]) from None
        if stored != entry["size"]:
            raise Unprocessable("object %s is stored with %d bytes, not %d" % (entry["oid"], stored, entry["size"]))
        return answer(200, {"oid": entry["oid"], "size": stored})


def _valid(item: Any, max_size: int) -> Dict[str, Any]:
    """``{"oid", "size"}`` of one requested object, with an ``error`` (422)
    when they are not a SHA-256 and a size this server takes."""
    if not isinstance(item, dict):
        return {"error": {"code": 422, "message": "an object is {\"oid\", \"size\"}"}}
    oid, size = item.get("oid"), item.get("size")
    entry: Dict[str, Any] = {"oid": oid if isinstance(oid, str) else str(oid)[:80], "size": size}
    if not isinstance(oid, str) or not is_object_id(oid):
        entry["error"] = {"code": 422, "message": "oid must be 64 lowercase hex digits (sha256)"}
    elif not isinstance(size, int) or isinstance(size, bool) or size < 0:
        entry["error"] = {"code": 422, "message": "size must be a whole number of bytes"}
    elif size > max_size:
        entry["error"] = {"code": 422, "message": "over this server's %d-byte limit (--max-size)" % max_size}
    return entry

