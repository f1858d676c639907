"""The console's forms that change what is stored: delete (one key, or
the keys chosen in a folder, after a page that asks), copy and move,
share links, new folders and uploads. ``Changes`` is a part of
``face.ConsoleFace`` (who asks and what a token may do are there); every
form is taken from the console's own pages only (``_form``)."""

from __future__ import annotations

from contextlib import closing
from typing import Optional
from urllib.parse import parse_qs

from ..access.scopes import Scope
from ..access.tokens import Token
from ..base.header_values import media_type
from ..catalog.handle import BucketHandle, Described
from ..catalog.heads import checked_id
from ..errors import BadRequest, NotFound
from ..storage.interface import ObjectStream
from ..storage.names import repository
from ..uploads.sources import MULTIPART_OVERHEAD
from ..uploads.targets import ShareTarget, terms_of
from ..web.messages import EmptyResponse, JsonResponse, Request, Response
from ..wire.accept import accepts
from ..wire.multipart import MultipartReader, boundary_of
from . import object_view, views


class Changes:
    def confirm(self, request: Request) -> Response:
        """The page that asks before a delete: of one key (or one version of
        it), or of the keys checked in a folder's listing."""
        token, who = self._caller(request)
        bucket = given(request, "bucket")
        keys = parse_qs(request.raw_query).get("key", [])
        version = request.query.get("version")
        if not keys or (version is not None and len(keys) > 1):
            raise BadRequest("choose the keys to delete")
        version = None if version is None else checked_id(version)
        for key in keys:
            self._require(token, Scope("data", "delete", bucket, key))
        found = BucketHandle.open(self.app, bucket)
        marker = False
        if version is not None:
            kept = found.find(keys[0], version)
            if kept is None:
                raise NotFound("no version %s of %s" % (version, keys[0][:200]))
            marker = getattr(kept, "marker", False)
        return object_view.confirm_delete(bucket, keys, version, who, bool(found.bucket.versioning), marker)

    def delete(self, request: Request) -> Response:
        fields = self._form_lists(request)
        token, _ = self._caller(request)
        bucket, keys = (fields.get("bucket") or [""])[0], fields.get("key", [])
        version = (fields.get("version") or [None])[0]
        if not bucket or not keys or (version is not None and len(keys) > 1):
            raise BadRequest("the form names a bucket and the keys to delete")
        for key in keys:  # every one allowed before any goes
            self._require(token, Scope("data", "delete", bucket, key))
        found = BucketHandle.open(self.app, bucket, request)
        for key in keys:
            found.delete(key, None if version is None else checked_id(version))
        folder = keys[0][:keys[0].rfind("/") + 1]
        return see(views.address("/console/bucket", name=bucket, prefix=folder or None))

    def copy(self, request: Request) -> Response:
        """Copy or move (``action``) a key to a new name in its bucket: a
        new key for the same object, no bytes copied; a move then deletes
        the old key as a delete would (in a bucket that keeps versions, its
        versions stay). An older ``version`` copied onto its own key is
        restored: it is the key's newest version again (as S3 restores one)."""
        form = self._form(request)
        token, _ = self._caller(request)
        bucket, key, target = form.get("bucket", ""), form.get("key", ""), form.get("target", "").strip()
        version = form.get("version")
        moving = form.get("action") == "move"
        if not bucket or not key or not target or (target == key and version is None) or (moving and version):
            raise BadRequest("name the key to copy and a new name for it")
        self._require(token, Scope("data", "read", bucket, key))
        self._require(token, Scope("data", "write", bucket, target))
        if moving:
            self._require(token, Scope("data", "delete", bucket, key))
        found = BucketHandle.open(self.app, bucket, request)
        entry = found.read(key, None if version is None else checked_id(version))
        found.write_to(target, may_replace=True).copy(entry, Described.of(entry))  # (write: asked above)
        if moving:
            found.delete(key)
        return see(views.address("/console/object", bucket=bucket, key=target))

    def share(self, request: Request) -> Response:
        """A share link (password, downloads, expiry: the upload page's
        terms and bounds) of a key's object, its bytes copied on the server
        into the links' own store (nothing is sent again; the link outlives
        the key). The link and its delete token are shown once."""
        form = self._form(request)
        token, who = self._caller(request)
        bucket, key = form.get("bucket", ""), form.get("key", "")
        self._require(token, Scope("data", "read", bucket, key))
        self._require(token, Scope("share", "create"))
        terms = terms_of(form, self.config, token.name if token else None)
        entry = self._entry(bucket, key, None)
        name = key.rsplit("/", 1)[-1]
        target = ShareTarget(self.app, name, entry.content_type, lambda: terms)
        with self.backend.open(repository(bucket), entry.oid) as stored, closing(ObjectStream(stored)) as stream:
            result = target.result(target.store(stream), request.base_url)
        return object_view.shared(bucket, key, result, terms.max_downloads, terms.password is not None, who)

    def folder(self, request: Request) -> Response:
        """A new folder in the one being viewed: an empty key ending in
        ``/`` (as S3 consoles make one), so that it shows before anything
        is put in it."""
        form = self._form(request)
        token, _ = self._caller(request)
        name = form.get("name", "").strip().strip("/")
        if not name:
            raise BadRequest("name the new folder")
        bucket, key = form.get("bucket", ""), form.get("prefix", "") + name + "/"
        self._store(token, bucket, key, _Empty())
        return see(views.address("/console/bucket", name=bucket, prefix=key))

    def upload(self, request: Request) -> Response:
        """Files from the folder page's form (``bucket`` and ``prefix`` first,
        then each ``file``), each stored as the key ``prefix`` + its name,
        read as it comes (up to ``--max-size`` in all). A token that may add
        keys but not replace them (``data:BUCKET:create``) adds only new
        ones."""
        self._form_checked(request)
        token, _ = self._caller(request)
        boundary = boundary_of(request.headers.get("Content-Type", ""))
        if boundary is None:
            raise BadRequest("the upload is a multipart/form-data form")
        parts = MultipartReader(request.body(self.config.max_size + MULTIPART_OVERHEAD), boundary).parts()
        fields: dict = {}
        stored = 0
        for part in parts:
            if part.name in ("bucket", "prefix") and not stored:
                fields[part.name] = part.read_text(4096)
                continue
            if part.name != "file":
                raise BadRequest("the upload form has bucket, prefix and file fields, not %r" % (part.name or "")[:40])
            if not part.filename:
                part.drain()  # an empty file field: nothing chosen
                continue
            bucket = fields.get("bucket", "")
            key = fields.get("prefix", "") + part.filename.replace("\\", "/").lstrip("/")
            self._store(token, bucket, key, part)
            stored += 1
        if not stored:
            raise BadRequest("choose a file to upload")
        if accepts(request.headers, "application/json"):  # the page's script, sending one file at a time
            return JsonResponse(200, {"stored": stored})
        return see(views.address("/console/bucket", name=fields["bucket"], prefix=fields.get("prefix") or None))

    def end_link(self, request: Request) -> Response:
        """A share link ended by the token that made it (or one that may
        delete any link, ``share:delete``), as its delete token would."""
        form = self._form(request)
        token, _ = self._caller(request)
        link_id = form.get("id", "")
        if not link_id or len(link_id) > 100:
            raise BadRequest("the form names the link to end")
        made_link = self.app.shares.get(link_id)  # 404 if there is none
        if token is not None and made_link.maker != token.name:
            self._require(token, Scope("share", "delete"))
        self.app.shares.delete(link_id, None, any_link=True)
        return see("/console/links")

    def unlock(self, request: Request) -> Response:
        """A Git LFS lock ended: by its owner, or by a token that may delete
        in the repository (``git lfs unlock --force``)."""
        form = self._form(request)
        token, _ = self._caller(request)
        repo = form.get("name", "")
        repository(repo)  # a bad name: 400
        self._require(token, Scope("data", "write", repo))
        forcing = self._may(token, Scope("data", "delete", repo))
        self.lfs_locks.unlock(repo, form.get("id", ""), token.name if token else "", forcing or token is None)
        return see(views.address("/console/repository", name=repo))

    def _store(self, token: Optional[Token], bucket: str, key: str, part) -> None:
        may_write = self._may(token, Scope("data", "write", bucket, key))
        if not may_write:
            self._require(token, Scope("data", "create", bucket, key))
        found = BucketHandle(self.app, self.app.buckets.require(bucket), token.name if token else None)
        write = found.write_to(key, may_write)
        write.store(part, Described(media_type(getattr(part, "content_type", None), "the file's Content-Type")))


class _Empty:
    """No bytes: a folder's key."""

    def readinto(self, buffer: memoryview) -> int:
        return 0


def see(where: str, headers: Optional[dict] = None) -> Response:
    """The browser sent on to ``where`` (303: a form's answer is a page to GET)."""
    return EmptyResponse(303, dict(headers or {}, Location=where))


def given(request: Request, name: str) -> str:
    value = request.query.get(name, "")
    if not value:
        raise BadRequest("the address names no %s" % name)
    return value
