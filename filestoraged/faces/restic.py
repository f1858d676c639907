"""``/restic/``: restic's REST backend protocol (its ``doc/REST_backend.rst``,
API versions 1 and 2, chosen by the request's ``Accept``), over the same
buckets and keys as every other face.

A repository is a bucket, or a folder of one: ``/restic/BUCKET/`` or
``/restic/BUCKET/PATH/``. Its files are keys laid out as restic lays out a
repository in S3 (``[PATH/]config``, ``[PATH/]data/ab/abcd…``,
``[PATH/]keys/…``, ``index/``, ``snapshots/``, ``locks/``), so the same
repository is read through S3 as ``s3:ENDPOINT/BUCKET[/PATH]``, and
versioning, object lock, lifecycle rules, quotas and backups hold for it
as for any key: every write and delete goes through the bucket's handle
(``catalog.handle``).

Decisions:
- Every file but ``config`` is named by the SHA-256 of its bytes (restic's
  own rule); an upload whose bytes are not is refused (400) and nothing
  is kept, as rest-server does by default. An upload of a file already
  there with those very bytes is answered 200 and stores nothing (a
  retried upload), so an append-only writer's retry succeeds. Such a
  file's ETag is made of that SHA-256 (``catalog.keys.sha256_etag``),
  not of an MD5 taken in a second pass over its bytes.
- Access is the token's scopes on the keys (``data:BUCKET[/PREFIX]:VERB``):
  ``create`` adds files (append-only), ``write`` replaces them,
  ``delete`` removes them; ``data:BUCKET/PATH/locks/:delete`` lets an
  append-only host remove its locks. A token whose scopes name folders
  reaches only those repositories (rest-server's private repositories).
- ``--restic-append-only`` makes repositories append-only whoever writes,
  through every face (``BucketHandle.appends_only``).
- Deleting a whole repository (``DELETE /restic/BUCKET/``) is not done
  here (501): its keys go through S3 or the console.
"""

from __future__ import annotations

import hashlib
import re
from typing import List, Optional, Tuple

from ..access.scopes import ADMIN, Need, Scope
from ..catalog.handle import BucketHandle, Described
from ..catalog.keys import sha256_etag
from ..catalog.names import bucket_name
from ..errors import BadRequest, NotFound, NotImplementedHere
from ..storage.interface import pieces
from ..storage.names import repository
from ..uploads.sources import raw_upload
from ..web.messages import EmptyResponse, JsonResponse, ObjectResponse, Request, Response
from ..web.router import Router
from ..wire.response_head import reason_phrase
from . import Face

V1 = "application/vnd.x.restic.rest.v1"
V2 = "application/vnd.x.restic.rest.v2"
TYPES = ("data", "keys", "locks", "snapshots", "index")
BINARY = "application/octet-stream"
PAGE = 1000  # keys read at a time for a listing
_NAME = re.compile(r"[0-9a-f]{64}")
_FOLDER = re.compile(r"[A-Za-z0-9._~+-]{1,255}")  # one folder of a repository's path (no "..": below)


def told_to_restic(answer: JsonResponse) -> JsonResponse:
    """A failure as restic shows it: restic prints a failed request's
    status line and never its body, so the daemon's reason rides in the
    reason phrase (``403 Forbidden: this token may not ...``), which every
    version of restic prints; the body stays JSON for anyone else."""
    answer.reason = reason_phrase(answer.status, str(answer.data["message"]))
    return answer


class Place:
    """What a path under ``/restic/BUCKET/`` names: the repository's folder
    in the bucket (``below``: empty, or a key prefix ending in ``/``) and,
    within it, its root (``kind`` None), its ``config``, a listing of a
    type (``name`` None) or one file of a type."""

    def __init__(self, below: str, kind: Optional[str] = None, name: Optional[str] = None) -> None:
        self.below, self.kind, self.name = below, kind, name

    @property
    def key(self) -> str:
        """The key of the file (``config``, or a file of a type)."""
        if self.kind == "config":
            return self.below + "config"
        assert self.kind is not None and self.name is not None
        if self.kind == "data":  # restic's layout: data files in 256 folders by their first byte
            return "%sdata/%s/%s" % (self.below, self.name[:2], self.name)
        return "%s%s/%s" % (self.below, self.kind, self.name)

    @property
    def folder(self) -> str:
        """The key prefix of a type's files."""
        return "%s%s/" % (self.below, self.kind)


def place_of(path: str) -> Place:
    """The place ``path`` (what follows ``/restic/BUCKET/``) names;
    ``NotFound`` for anything the protocol does not name."""
    parts = path.split("/")
    folders, last = parts[:-1], parts[-1]
    if last == "" and folders and folders[-1] in TYPES:  # {path}/{type}/
        return Place(_below(folders[:-1]), folders[-1])
    if last == "config":
        return Place(_below(folders), "config")
    if len(folders) >= 1 and folders[-1] in TYPES and _NAME.fullmatch(last):
        return Place(_below(folders[:-1]), folders[-1], last)
    if last == "":
        return Place(_below(folders))
    raise NotFound("no such restic path: a repository's config, {type}/ or {type}/<64 hex>"
                   " (types: %s)" % ", ".join(TYPES))


def _below(folders: List[str]) -> str:
    for folder in folders:
        if not _FOLDER.fullmatch(folder) or folder in (".", ".."):
            raise NotFound("a repository's path is folders of A-Z a-z 0-9 . _ ~ + -")
    return "".join(folder + "/" for folder in folders)


class ResticFace(Face):
    def register(self, router: Router) -> None:
        # Every access is judged per key once the path is read (a token may
        # reach one folder of a bucket): the routes ask nothing themselves.
        router.add("/restic/", "restic", {"GET": self.repositories}, {"GET": None})
        router.add("/restic/{bucket}/{path...}", "restic",
                   {"GET": self.read, "POST": self.write, "DELETE": self.delete},
                   {"GET": None, "POST": None, "DELETE": None}, query=("create",))
        router.add("/restic/{bucket}/", "restic", {"GET": self.read, "POST": self.write, "DELETE": self.delete},
                   {"GET": None, "POST": None, "DELETE": None}, query=("create",))

    # -- reads --------------------------------------------------------------------

    def repositories(self, request: Request) -> JsonResponse:
        """``GET /restic/``: the repositories the token reaches, as
        ``BUCKET`` (the whole bucket) or ``BUCKET/PATH`` (one folder its
        scopes name); never those of others."""
        request.grant.identify()
        found = []
        for bucket in self.app.buckets.all():
            if request.grant.allows(Scope("data", "read", bucket.name)):
                found.append(bucket.name)
                continue
            found += sorted({"%s/%s" % (bucket.name, scope.prefix.rstrip("/")) for scope in request.grant.scopes
                             if scope.prefix and scope.namespace in (bucket.name, "*")
                             and scope.verb in ("read", "*") and scope.face in ("data", "*")})
        return JsonResponse(200, found)

    def read(self, request: Request, bucket: str, path: str = "") -> Response:
        place = place_of(path)
        if place.kind is None:
            raise NotFound("a repository's root is not read: its config is (%sconfig)" % place.below)
        if place.name is None and place.kind != "config":
            return self._listing(request, bucket, place)
        key = place.key
        request.grant.require(Need(Scope("data", "read", bucket, key), public=True))
        handle = BucketHandle.open(self.app, bucket, request)
        entry = handle.read(key)
        return ObjectResponse(self.backend.open(repository(bucket), entry.oid), content_type=BINARY,
                              immutable=False, etag=entry.etag, modified=entry.modified)

    def _listing(self, request: Request, bucket: str, place: Place) -> JsonResponse:
        """``GET {path}/{type}/``: every file of the type, as names (v1) or
        ``{"name", "size"}`` (v2), in name order."""
        folder = place.folder
        request.grant.require(Need(Scope("data", "read", bucket, folder)))
        handle = BucketHandle.open(self.app, bucket, request)
        files: List[Tuple[str, int]] = []
        after = ""
        while True:
            page = self.app.keys.page(handle.name, folder, after=after, limit=PAGE)
            for key, entry in page.items:
                name = key.rpartition("/")[2]
                if _NAME.fullmatch(name) and key == Place(place.below, place.kind, name).key:
                    files.append((name, entry.size))  # type: ignore[union-attr]
            if not page.truncated:
                break
            after = page.last
        files.sort()
        if _version(request) == 2:
            return JsonResponse(200, [{"name": name, "size": size} for name, size in files],
                                content_type=V2)
        return JsonResponse(200, [name for name, _ in files], content_type=V1)

    # -- writes -------------------------------------------------------------------

    def write(self, request: Request, bucket: str, path: str = "") -> Response:
        place = place_of(path)
        if place.kind is None:
            return self._create(request, bucket, place)
        if place.name is None and place.kind != "config":
            raise NotFound("a listing is read, not written")
        key = place.key
        request.grant.require(Need(Scope("data", "create", bucket, key)))
        handle = BucketHandle.open(self.app, bucket, request)
        upload = raw_upload(request, self.config.max_size)
        expected = place.name

        def checks(oid: str) -> None:  # (it keeps no checksum)
            if expected is not None and oid != expected:
                raise BadRequest("the file's bytes have the SHA-256 %s, not its name %s: nothing was kept"
                                 % (oid, expected))

        found = handle.find(key)
        if expected is not None and getattr(found, "oid", None) == expected:
            checks(_sha256(upload.stream, self.config.max_size))  # these very bytes are there already: a retried upload
            return EmptyResponse(200)
        write = handle.write_to(key, request.grant.allows(Scope("data", "write", bucket, key)))
        write.store(upload.stream, Described(BINARY), checks,
                    None if expected is None else lambda: sha256_etag(expected))
        return EmptyResponse(200)

    def _create(self, request: Request, bucket: str, place: Place) -> Response:
        """``POST {path}?create=true``: the repository ready for ``restic
        init``. Its bucket is made if missing, by a token that may make
        buckets (admin); a folder needs nothing made (keys are)."""
        if request.query.get("create") != "true":
            raise BadRequest("a repository is made with POST ?create=true")
        request.grant.require(Need(Scope("data", "create", bucket, place.below or None)))
        if self.app.buckets.get(bucket) is None:
            if not request.grant.allows(ADMIN):
                raise NotFound("there is no bucket %s: an admin makes it (restic init with an admin token, or "
                               "aws s3 mb)" % bucket[:64])
            self.app.buckets.create(bucket_name(bucket), owner=request.grant.holder())
        return EmptyResponse(200)

    def delete(self, request: Request, bucket: str, path: str = "") -> Response:
        place = place_of(path)
        if place.kind is None:
            raise NotImplementedHere("a whole repository is not deleted through the restic protocol: delete its "
                                     "keys through S3 or the console")
        if place.name is None and place.kind != "config":
            raise NotFound("a listing is read, not deleted")
        key = place.key
        request.grant.require(Need(Scope("data", "delete", bucket, key)))
        handle = BucketHandle.open(self.app, bucket, request)
        if handle.find(key) is None:
            raise NotFound("no file %s in %s" % (key[:200], bucket))
        handle.delete(key)
        return EmptyResponse(200)


def _sha256(stream, max_size: int) -> str:
    """The SHA-256 of what ``stream`` gives, read to its end."""
    digest = hashlib.sha256()
    for piece in pieces(stream, max_size, 1 << 20):
        digest.update(piece)
    return digest.hexdigest()


def _version(request: Request) -> int:
    """The protocol version the client asked for (``Accept``): 2 or 1."""
    return 2 if V2 in request.headers.get("Accept", "") else 1

